/* watch.c - busctl's streams: listen (events matching patterns) and monitor
 * (every frame busd routes). One line per frame, flushed as it is written,
 * until --count frames, the connection ends, or a signal. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busctl.h"

#define PREVIEW_BYTES 24

struct watch {
	unsigned long count; /* 0: no limit */
	unsigned long seen;
};

static int watch_opt(int opt, const char *arg, void *ud)
{
	struct watch *w = ud;

	if (opt != 'n')
		return EXIT_USAGE;
	if (!parse_count(arg, &w->count)) {
		fprintf(stderr, "busctl: --count takes a positive number, not \"%s\"\n", arg);
		return EXIT_USAGE;
	}
	return 0;
}

static const struct option watch_options[] = {
	{ "count", required_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 },
};

/* The first bytes of a body in hex, so a stream line shows what it carries. */
static void preview(const bus_msg_t *m)
{
	const unsigned char *p = m->body;
	size_t n = m->body_len < PREVIEW_BYTES ? m->body_len : PREVIEW_BYTES;

	if (!m->body_len)
		return;
	fputs(" body=", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	if (n < m->body_len)
		fputs("...", stdout);
}

/* Frames of one read arrive in one go: past --count, the rest are dropped. */
static int watch_done(const struct watch *w)
{
	return w->count && w->seen >= w->count;
}

static void watch_seen(bus_t *bus, struct watch *w)
{
	fflush(stdout);
	if (w->count && ++w->seen >= w->count)
		bus_exit(bus, 0);
}

/* bus_run() until --count or the end; the exit status. */
static int watch_run(bus_t *bus)
{
	int r = bus_run(bus);

	bus_close(bus);
	if (r == -ECONNRESET)
		return fail("busd closed the connection");
	if (r < 0)
		return fail("connection to busd: %s", strerror(-r));
	return fflush(stdout) == 0 ? 0 : fail("writing: %s", strerror(errno));
}

/* ---------------------------------------------------------------- listen */

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	char now[32];

	if (watch_done(ud))
		return;
	time_now(now, sizeof(now));
	printf("%s %-6s %s type=%s size=%zu", now, ev->sender, ev->member,
	       ev->body_type[0] ? ev->body_type : "-", ev->body_len);
	preview(ev);
	putchar('\n');
	watch_seen(bus, ud);
}

static int listen_run(struct busctl *ctl, int argc, char **argv)
{
	static char *all[] = { "*" };
	struct watch w = { 0 };
	int first, r = command_options(&cmd_listen, argc, argv, "n:", watch_options, watch_opt, &w,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	char **patterns = first < argc ? argv + first : all;
	int n = first < argc ? argc - first : 1;

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	for (int i = 0; i < n; i++) {
		bus_error_t err;
		if (bus_subscribe(bus, patterns[i], on_event, &w, &err) < 0) {
			char what[300];
			snprintf(what, sizeof(what), "subscribe \"%s\"", patterns[i]);
			bus_close(bus);
			return fail_bus(what, &err);
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return watch_run(bus);
}

const struct command cmd_listen = {
	"listen", "[--count N] [PATTERN...]",
	"Print the events whose topic matches a PATTERN, as they arrive",
	"\nA PATTERN is an exact topic (sensor.temp0.reading), a prefix pattern\n"
	"(sensor.* matches every topic below sensor, at any depth) or * (all, the\n"
	"default). One line per event: local time, sender, topic, body type, body\n"
	"size and the first bytes of the body in hex.\n\n"
	"Options:\n"
	"  -n, --count N   exit after N events\n",
	listen_run,
};

/* ---------------------------------------------------------------- monitor */

static const char *kind_name(int kind)
{
	switch (kind) {
	case BUS_KIND_CALL: return "CALL";
	case BUS_KIND_REPLY: return "REPLY";
	case BUS_KIND_ERROR: return "ERROR";
	case BUS_KIND_EVENT: return "EVENT";
	default: return "?";
	}
}

static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	char now[32];

	if (watch_done(ud))
		return;
	time_now(now, sizeof(now));
	printf("%s %-5s %-6s -> %-14s", now, kind_name(m->kind), m->sender,
	       m->destination[0] ? m->destination : "*");
	if (m->kind == BUS_KIND_CALL)
		printf(" %s%s%s", m->interface, m->interface[0] ? "." : "", m->member);
	else if (m->kind == BUS_KIND_EVENT)
		printf(" %s", m->member);
	printf(" serial=%llu", (unsigned long long)m->serial);
	if (m->reply_serial)
		printf(" reply_serial=%llu", (unsigned long long)m->reply_serial);
	if (m->body_type[0])
		printf(" type=%s", m->body_type);
	printf(" size=%zu", m->body_len);
	if (m->kind == BUS_KIND_ERROR)
		printf(" error=%s: %s", m->error_name, m->error_message);
	putchar('\n');
	watch_seen(bus, ud);
}

static int monitor_run(struct busctl *ctl, int argc, char **argv)
{
	struct watch w = { 0 };
	bus_error_t err;
	int first, r = command_options(&cmd_monitor, argc, argv, "n:", watch_options, watch_opt, &w,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc)
		return command_usage_error(&cmd_monitor, "unexpected argument \"%s\"", argv[first]);

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	if (bus_become_monitor(bus, on_frame, &w, &err) < 0) {
		bus_close(bus);
		return fail_bus("monitor", &err);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return watch_run(bus);
}

const struct command cmd_monitor = {
	"monitor", "[--count N]",
	"Print every frame busd routes, as it routes it",
	"\nOne line per frame: local time, kind (CALL, REPLY, ERROR, EVENT), sender\n"
	"(stamped by busd), destination (* for an event), interface.method or topic,\n"
	"serial, reply_serial for answers, body type, body size and, for an error,\n"
	"its name and message. A monitor only watches: it cannot call or serve.\n\n"
	"Options:\n"
	"  -n, --count N   exit after N frames\n",
	monitor_run,
};
