/* wait.c - busctl wait: return as soon as every NAME has an owner, as
 * ubus wait_for does, for scripts that start services in order. Each name
 * is watched (bus_watch_name: busd's NameOwnerChanged events), never
 * asked for again and again. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "busctl.h"

struct waited {
	const char *name;
	int owned;
	bus_slot_t *slot;
};

static void on_name(bus_t *bus, const char *name, const char *owner, void *ud)
{
	(void)bus;
	(void)name;
	((struct waited *)ud)->owned = owner != NULL;
}

/* The first name without an owner, or NULL: all have one. */
static struct waited *unowned(struct waited *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!w[i].owned)
			return &w[i];
	return NULL;
}

static int timed_out(struct busctl *ctl, struct waited *w, size_t n)
{
	char names[1024];
	size_t o = 0;

	names[0] = '\0';
	for (size_t i = 0; i < n && o + 4 < sizeof(names); i++)
		if (!w[i].owned)
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", o ? ", " : "",
					      w[i].name);
	return fail("wait: timed out after %g s: no owner for %s (--timeout SEC waits longer, "
		    "0 forever)", (double)ctl->timeout_usec / 1e6, names);
}

static int wait_run(struct busctl *ctl, int argc, char **argv)
{
	int first, r = command_options(&cmd_wait, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (r)
		return r < 0 ? 0 : r;
	size_t n = (size_t)(argc - first);
	if (n == 0)
		return command_usage_error(&cmd_wait, "expected at least one NAME");
	struct waited *w = calloc(n, sizeof(*w));
	if (!w)
		return fail("out of memory");
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		free(w);
		return 1;
	}
	uint64_t deadline = ctl->timeout_usec ? mono_usec() + ctl->timeout_usec : 0;
	bus_error_t err;
	bus_error_clear(&err);
	for (size_t i = 0; i < n && r == 0; i++) {
		w[i].name = argv[first + (int)i];
		r = bus_watch_name(bus, &w[i].slot, w[i].name, on_name, &w[i], &err);
		if (r == -EINVAL)
			r = command_usage_error(&cmd_wait, "\"%s\" is not a well-known name "
						"(org.example.Name)", w[i].name);
		else if (r < 0)
			r = fail_bus("wait", &err);
	}
	/* Wait for the first name still without an owner: the watches of the
	 * others follow meanwhile, so one that lost its owner is waited for
	 * again, and busctl returns when all have one at once. */
	for (struct waited *x; r == 0 && (x = unowned(w, n));) {
		uint64_t left = 0;
		if (deadline) {
			uint64_t now = mono_usec();
			if (now >= deadline) {
				r = timed_out(ctl, w, n);
				break;
			}
			left = deadline - now;
		}
		int e = bus_wait_name(bus, x->name, left, &err);
		if (e == 0)
			x->owned = 1; /* its watch may hear of it later */
		else if (e == -ETIMEDOUT)
			r = timed_out(ctl, w, n);
		else if (e < 0)
			r = fail_bus("wait", &err);
	}
	for (size_t i = 0; i < n; i++)
		bus_slot_unref(w[i].slot);
	free(w);
	bus_close(bus);
	return r;
}

const struct command cmd_wait = {
	"wait", "NAME...",
	"Wait until every NAME has an owner",
	"\nReturns (exit 0, printing nothing) as soon as each well-known NAME has an\n"
	"owner, at once if they have one already: for scripts that start services\n"
	"in order, like ubus wait_for. busctl watches the names (busd tells it when\n"
	"an owner comes or goes) instead of asking again and again; a name that\n"
	"loses its owner meanwhile is waited for again. After --timeout SEC (the\n"
	"global option, default 25; 0 waits forever) it exits 1 with one line\n"
	"naming the names still without an owner; when busd goes away, exit 1 too.\n\n"
	"Examples:\n"
	"  busctl wait org.busd.Echo && busctl call org.busd.Echo Echo\n"
	"  busctl wait --timeout 60 org.busd.Echo org.busd.Sensor\n",
	wait_run,
};
