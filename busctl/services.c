/* services.c - busctl services, start, stop, restart: the services busd
 * supervises (ListServices, anyone) and the operator's actions on them
 * (StartService, StopService, RestartService, behind the policy's verb
 * manage). An action waits, watching bus.ServiceStateChanged, until the
 * service has settled (running or stopped, or failed, or in backoff after
 * a failed start), as systemctl does; --no-block prints the state busd
 * answered with at once. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "bus.pb-c.h"
#include "busctl.h"

/* ---------------------------------------------------------------- text */

static const char *state_name(Bus__ServiceState s)
{
	switch (s) {
	case BUS__SERVICE_STATE__STOPPED: return "stopped";
	case BUS__SERVICE_STATE__STARTING: return "starting";
	case BUS__SERVICE_STATE__RUNNING: return "running";
	case BUS__SERVICE_STATE__BACKOFF: return "backoff";
	case BUS__SERVICE_STATE__STOPPING: return "stopping";
	case BUS__SERVICE_STATE__FAILED: return "failed";
	default: return "unknown";
	}
}

static const char *signal_name(int sig, char *buf, size_t len)
{
	static const struct { int sig; const char *name; } names[] = {
		{ SIGHUP, "HUP" }, { SIGINT, "INT" }, { SIGQUIT, "QUIT" }, { SIGILL, "ILL" },
		{ SIGTRAP, "TRAP" }, { SIGABRT, "ABRT" }, { SIGBUS, "BUS" }, { SIGFPE, "FPE" },
		{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGSEGV, "SEGV" }, { SIGUSR2, "USR2" },
		{ SIGPIPE, "PIPE" }, { SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGXCPU, "XCPU" },
		{ SIGXFSZ, "XFSZ" }, { SIGSYS, "SYS" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].sig == sig)
			return names[i].name;
	snprintf(buf, len, "%d", sig);
	return buf;
}

/* "status 1", "signal KILL", or "-" when no instance has ended. */
static const char *last_exit(const Bus__ServiceInfo *s, char *buf, size_t len)
{
	char num[16];

	if (s->last_exit_signal > 0)
		snprintf(buf, len, "signal %s", signal_name(s->last_exit_signal, num, sizeof(num)));
	else if (s->last_exit_status >= 0)
		snprintf(buf, len, "status %d", s->last_exit_status);
	else
		snprintf(buf, len, "-");
	return buf;
}

/* "45s", "12m05s", "3h07m", "2d04h"; "-" when not running. */
static const char *uptime_text(uint64_t usec, uint32_t pid, char *buf, size_t len)
{
	uint64_t s = usec / 1000000u;

	if (!pid)
		snprintf(buf, len, "-");
	else if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
	else
		snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s / 3600 % 24));
	return buf;
}

/* The declared names joined by commas, escaped (cut to fit buf). */
static const char *names_text(const Bus__ServiceInfo *s, char *buf, size_t len)
{
	char one[300];
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_names && o + 1 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
				      esc(s->names[i], one, sizeof(one)));
	return buf[0] ? buf : "-";
}

/* The fields of ServiceInfo by their proto names, state as its word. */
static json_object *service_json(const Bus__ServiceInfo *s)
{
	json_object *o = json_object_new_object();
	json_object *names = json_object_new_array();

	json_object_object_add(o, "service", json_object_new_string(s->service));
	json_object_object_add(o, "state", json_object_new_string(state_name(s->state)));
	json_object_object_add(o, "pid", json_object_new_int64(s->pid));
	json_object_object_add(o, "uptime_usec", json_object_new_uint64(s->uptime_usec));
	json_object_object_add(o, "restarts", json_object_new_int64(s->restarts));
	json_object_object_add(o, "last_exit_status", json_object_new_int64(s->last_exit_status));
	json_object_object_add(o, "last_exit_signal", json_object_new_int64(s->last_exit_signal));
	json_object_object_add(o, "last_reason", json_object_new_string(s->last_reason));
	for (size_t i = 0; i < s->n_names; i++)
		json_object_array_add(names, json_object_new_string(s->names[i]));
	json_object_object_add(o, "names", names);
	json_object_object_add(o, "on_demand", json_object_new_boolean(s->on_demand));
	json_object_object_add(o, "unique_name", json_object_new_string(s->unique_name));
	return o;
}

/* ---------------------------------------------------------------- services */

static int services_opt(int opt, const char *arg, void *ud)
{
	(void)arg;
	if (opt == 'l')
		*(int *)ud = 1;
	return 0;
}

static int services_run(struct busctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "long", no_argument, NULL, 'l' }, { 0 } };
	int longfmt = 0;
	int first, r = command_options(&cmd_services, argc, argv, "l", opts, services_opt, &longfmt,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc)
		return command_usage_error(&cmd_services, "unexpected argument \"%s\"", argv[first]);

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	Bus__ListServicesRequest req = BUS__LIST_SERVICES_REQUEST__INIT;
	bus_error_t err;
	Bus__ListServicesReply *rep = (Bus__ListServicesReply *)busctl_control(
		bus, ctl, "ListServices", &req.base, &bus__list_services_reply__descriptor, &err);
	bus_close(bus);
	if (!rep)
		return fail_bus("ListServices", &err);

	json_object *all = ctl->json > BUSCTL_JSON_LINES ? json_object_new_array() : NULL;
	char id[300], names[1024], up[32], last[48], reason[512], unique[64];
	int w = 7;
	for (size_t i = 0; i < rep->n_services; i++)
		if ((int)strlen(esc(rep->services[i]->service, id, sizeof(id))) > w)
			w = (int)strlen(id);
	if (!ctl->json)
		printf("%-*s %-8s %7s %8s %8s %-12s %s%s\n", w, "SERVICE", "STATE", "PID", "UPTIME",
		       "RESTARTS", "LAST EXIT", longfmt ? "UNIQUE   " : "",
		       longfmt ? "NAMES / LAST REASON" : "NAMES");
	for (size_t i = 0; i < rep->n_services; i++) {
		const Bus__ServiceInfo *s = rep->services[i];
		if (ctl->json) {
			json_object *o = service_json(s);
			if (all) {
				json_object_array_add(all, o);
				continue;
			}
			json_print(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
			continue;
		}
		printf("%-*s %-8s %7u %8s %8u %-12s ", w, esc(s->service, id, sizeof(id)),
		       state_name(s->state), s->pid, uptime_text(s->uptime_usec, s->pid, up, sizeof(up)),
		       s->restarts, last_exit(s, last, sizeof(last)));
		if (longfmt)
			printf("%-8s %s%s%s\n", esc(s->unique_name[0] ? s->unique_name : "-", unique,
						    sizeof(unique)),
			       names_text(s, names, sizeof(names)), s->last_reason[0] ? " / " : "",
			       esc(s->last_reason, reason, sizeof(reason)));
		else
			printf("%s\n", names_text(s, names, sizeof(names)));
	}
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	if (all)
		return json_doc_out(ctl, all);
	return fflush(stdout) == 0 ? 0 : fail("writing the list: %s", strerror(errno));
}

const struct command cmd_services = {
	"services", "[--long]", "List the services busd supervises",
	"\nOne row per service declared in busd's services.d (busd.conf(5)): its\n"
	"id, STATE (stopped, starting, running, backoff, stopping, failed), the\n"
	"PID of its instance and its UPTIME (- when none), how often busd\n"
	"RESTARTED it by itself, how the LAST instance EXITED (status N, signal\n"
	"NAME, or -) and the well-known NAMES it declares. Anyone may list them.\n"
	"\n  -l, --long  also: the instance's unique id and why the last instance\n"
	"              ended or failed to start.\n"
	"\nWith --json every field of bus.ServiceInfo by its proto name (state as\n"
	"its word): one object per line; with --json=short or --json=pretty one\n"
	"array of them.\n",
	services_run,
};

/* ---------------------------------------------------------------- start, stop, restart */

struct action {
	const struct command *cmd;
	const char *method;
	int no_block;
	/* what the wait is for, filled from bus.ServiceStateChanged */
	const char *service;
	int settled;
	Bus__ServiceState state;
	char reason[512];
};

/* The states an action ends in: start and restart wait for the instance to
 * come up or for the start to have failed (backoff, failed, or stopped
 * when it exited with restart = no: a restart goes from stopping straight
 * to starting), stop for it to be gone. */
static int settles(const struct action *a, Bus__ServiceState s)
{
	if (a->cmd == &cmd_stop)
		return s == BUS__SERVICE_STATE__STOPPED || s == BUS__SERVICE_STATE__FAILED;
	return s == BUS__SERVICE_STATE__RUNNING || s == BUS__SERVICE_STATE__FAILED ||
	       s == BUS__SERVICE_STATE__BACKOFF || s == BUS__SERVICE_STATE__STOPPED;
}

static void on_changed(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct action *a = ud;
	Bus__ServiceStateChanged *ev =
		(Bus__ServiceStateChanged *)bus_msg_unpack(m, &bus__service_state_changed__descriptor);

	(void)bus;
	if (!ev)
		return;
	if (strcmp(m->sender, BUS_NAME) == 0 && strcmp(ev->service, a->service) == 0 &&
	    settles(a, ev->new_state)) {
		a->settled = 1;
		a->state = ev->new_state;
		snprintf(a->reason, sizeof(a->reason), "%s", ev->reason);
	}
	protobuf_c_message_free_unpacked(&ev->base, NULL);
}

static int action_opt(int opt, const char *arg, void *ud)
{
	(void)arg;
	if (opt == 'n')
		((struct action *)ud)->no_block = 1;
	return 0;
}

/* "echo: running (pid 1234)", "echo: failed (exited with status 1)"; a
 * stop says no more than "echo: stopped". */
static void print_state(const struct action *a, const Bus__ServiceInfo *s)
{
	char id[300], reason[512];

	printf("%s: %s", esc(s->service, id, sizeof(id)), state_name(s->state));
	if (s->pid)
		printf(" (pid %u)", s->pid);
	else if (a->cmd != &cmd_stop && s->last_reason[0])
		printf(" (%s)", esc(s->last_reason, reason, sizeof(reason)));
	printf("\n");
}

/* The service's info now, from ListServices (the settled state's pid). */
static Bus__ServiceInfo *info_now(bus_t *bus, struct busctl *ctl, const char *service,
				  Bus__ListServicesReply **list, bus_error_t *err)
{
	Bus__ListServicesRequest req = BUS__LIST_SERVICES_REQUEST__INIT;

	*list = (Bus__ListServicesReply *)busctl_control(bus, ctl, "ListServices", &req.base,
							 &bus__list_services_reply__descriptor, err);
	for (size_t i = 0; *list && i < (*list)->n_services; i++)
		if (strcmp((*list)->services[i]->service, service) == 0)
			return (*list)->services[i];
	return NULL;
}

/* Wait until a bus.ServiceStateChanged says the service settled, or the
 * deadline (0: none). Returns 0, -ETIMEDOUT or -ECONNRESET. */
static int settle(bus_t *bus, struct action *a, uint64_t deadline)
{
	while (!a->settled) {
		uint64_t now = mono_usec();
		if (deadline && now >= deadline)
			return -ETIMEDOUT;
		int r = bus_process(bus);
		if (r < 0)
			return -ECONNRESET;
		if (r > 0)
			continue;
		r = bus_wait(bus, deadline ? deadline - now : UINT64_MAX);
		if (r < 0 && r != -EINTR)
			return -ECONNRESET;
	}
	return 0;
}

static int action_run(struct action *a, struct busctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "no-block", no_argument, NULL, 'n' }, { 0 } };
	int first, r = command_options(a->cmd, argc, argv, "", opts, action_opt, a, &first);
	if (r)
		return r < 0 ? 0 : r;
	if (argc - first != 1)
		return command_usage_error(a->cmd, "expected one SERVICE (its id or a name it "
					   "declares)");
	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	uint64_t deadline = ctl->timeout_usec ? mono_usec() + ctl->timeout_usec : 0;
	bus_slot_t *sub = NULL;
	bus_error_t err;
	/* Subscribed first: no change after the action can be missed. */
	if (!a->no_block && bus_subscribe(bus, &sub, "bus.ServiceStateChanged", on_changed, a,
					  &err) < 0) {
		bus_close(bus);
		return fail_bus(a->method, &err);
	}
	Bus__ServiceRequest req = BUS__SERVICE_REQUEST__INIT;
	req.service = argv[first];
	Bus__ServiceInfo *info = (Bus__ServiceInfo *)busctl_control(
		bus, ctl, a->method, &req.base, &bus__service_info__descriptor, &err);
	char what[320];
	snprintf(what, sizeof(what), "%s %s", a->cmd->name, argv[first]);
	if (!info) {
		bus_slot_unref(sub);
		bus_close(bus);
		return fail_bus(what, &err);
	}
	Bus__ListServicesReply *list = NULL;
	const Bus__ServiceInfo *shown = info;
	if (!a->no_block && !settles(a, info->state)) {
		a->service = info->service;
		r = settle(bus, a, deadline);
		if (r == -ETIMEDOUT) {
			bus_slot_unref(sub);
			bus_close(bus);
			protobuf_c_message_free_unpacked(&info->base, NULL);
			return fail("%s: not settled after %g s (--timeout SEC waits longer, 0 "
				    "forever; busctl services shows it)", what,
				    (double)ctl->timeout_usec / 1e6);
		}
		if (r < 0) {
			bus_slot_unref(sub);
			bus_close(bus);
			protobuf_c_message_free_unpacked(&info->base, NULL);
			return fail("%s: busd went away", what);
		}
		const Bus__ServiceInfo *now = info_now(bus, ctl, info->service, &list, &err);
		if (now)
			shown = now;
	}
	bus_slot_unref(sub);
	bus_close(bus);
	r = 0;
	if (ctl->json)
		r = json_doc_out(ctl, service_json(shown));
	else
		print_state(a, shown);
	/* An action that did not get the service where it was asked to is a
	 * failure of the command, with the state said. */
	if (r == 0 && !a->no_block &&
	    (a->cmd == &cmd_stop ? shown->state != BUS__SERVICE_STATE__STOPPED
				 : shown->state != BUS__SERVICE_STATE__RUNNING))
		r = 1;
	if (list)
		protobuf_c_message_free_unpacked(&list->base, NULL);
	protobuf_c_message_free_unpacked(&info->base, NULL);
	if (r == 0 && fflush(stdout) != 0)
		return fail("writing: %s", strerror(errno));
	return r;
}

static int start_run(struct busctl *ctl, int argc, char **argv)
{
	struct action a = { .cmd = &cmd_start, .method = "StartService" };
	return action_run(&a, ctl, argc, argv);
}

static int stop_run(struct busctl *ctl, int argc, char **argv)
{
	struct action a = { .cmd = &cmd_stop, .method = "StopService" };
	return action_run(&a, ctl, argc, argv);
}

static int restart_run(struct busctl *ctl, int argc, char **argv)
{
	struct action a = { .cmd = &cmd_restart, .method = "RestartService" };
	return action_run(&a, ctl, argc, argv);
}

#define ACTION_HELP                                                                         \
	"\nSERVICE is a service's id (its file's name without .conf) or a name it\n"          \
	"declares. busctl waits until the service has settled (watching\n"                  \
	"bus.ServiceStateChanged) for at most --timeout SEC (default 25, 0: forever),\n"    \
	"then prints one line, \"echo: running (pid 1234)\" (with --json the\n"            \
	"service's bus.ServiceInfo). Exit 0 when the service is where it was asked\n"       \
	"to be, 1 otherwise (a failed start prints its reason). Needs the policy's\n"      \
	"verb manage (busd.conf(5)): without an allow rule only root and busd's user\n"     \
	"may; a refusal is bus.Error.AccessDenied naming the rule.\n"                       \
	"\n  --no-block  print the state busd answered with at once, without waiting.\n"

const struct command cmd_start = {
	"start", "[--no-block] SERVICE", "Start a supervised service",
	"\nStart SERVICE's instance if none runs (a running service is left as it\n"
	"is; a failed one is started afresh, its restart count reset).\n" ACTION_HELP,
	start_run,
};

const struct command cmd_stop = {
	"stop", "[--no-block] SERVICE", "Stop a supervised service",
	"\nStop SERVICE: SIGTERM to its instance, SIGKILL after its stop_timeout.\n"
	"busd does not start it again, by its restart policy or for a call to one\n"
	"of its names, until an operator starts (or restarts) it.\n" ACTION_HELP,
	stop_run,
};

const struct command cmd_restart = {
	"restart", "[--no-block] SERVICE", "Restart a supervised service",
	"\nStop SERVICE's instance (as stop does) and start a new one.\n" ACTION_HELP,
	restart_run,
};
