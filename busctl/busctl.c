/* busctl.c - the busd command-line tool: the helpers every command shares
 * and the two broker queries (list, status). The command line (options,
 * the command table, help, main) is options.c; calls and streams live in
 * call.c and watch.c. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "busctl.h"
#include "bus.pb-c.h"

/* ---------------------------------------------------------------- helpers */

/* Messages quote peers (error messages, names, schemas' reasons): one line,
 * escaped, whatever they hold. */
static void vsay(const char *fmt, va_list ap)
{
	char *text = NULL, *safe = NULL;

	fflush(stdout);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	safe = text ? esc_dup(text, 0) : NULL;
	fprintf(stderr, "%s: %s\n", busctl_name, safe ? safe : "out of memory");
	free(text);
	free(safe);
}

int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	return 1;
}

void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

int fail_bus(const char *what, const bus_error_t *err)
{
	return fail("%s: %s: %s", what, err->name[0] ? err->name : BUS_ERROR_FAILED,
		    err->message[0] ? err->message : "failed");
}

/* The outcome of a try: the connection, or NULL with why (one line that
 * says where) in ctl->why. */
static bus_t *connected(struct busctl *ctl, int r, bus_t *bus, const char *where,
			const bus_error_t *err)
{
	if (r == -EREMOTE)
		snprintf(ctl->why, sizeof(ctl->why), "%s: %s: %s", where,
			 err->name[0] ? err->name : BUS_ERROR_FAILED,
			 err->message[0] ? err->message : "failed");
	else if (r < 0)
		snprintf(ctl->why, sizeof(ctl->why), "%s",
			 err->message[0] ? err->message : strerror(-r));
	return r < 0 ? NULL : bus;
}

/* Without --socket, --system or --user: $BUS_ADDRESS says where, else the
 * system bus, as for the administrator busctl is mostly for, else the
 * user's own bus. Only a system bus socket that does not exist (ENOENT)
 * moves on to the user's: one that refuses or is out of reach is reported,
 * never silently replaced by another bus. */
bus_t *busctl_connect_quiet(struct busctl *ctl)
{
	const char *env = getenv("BUS_ADDRESS");
	bus_error_t err, sys_err;
	bus_t *bus = NULL;
	char where[4096];
	int r;

	if (ctl->socket) {
		r = bus_connect(&bus, ctl->socket, &err);
		if (r < 0 && r != -EREMOTE) {
			snprintf(ctl->why, sizeof(ctl->why), "cannot connect to busd at %s: %s",
				 ctl->socket, strerror(-r));
			return NULL;
		}
		return connected(ctl, r, bus, ctl->socket, &err);
	}
	if (ctl->bus == BUSCTL_BUS_USER || (ctl->bus == BUSCTL_BUS_DEFAULT && env && *env)) {
		if (bus_user_address(where, sizeof(where)) < 0)
			snprintf(where, sizeof(where), "the user bus");
		r = bus_connect_user(&bus, &err);
		return connected(ctl, r, bus, where, &err);
	}
	if (bus_system_address(where, sizeof(where)) < 0)
		snprintf(where, sizeof(where), "the system bus");
	r = bus_connect_system(&bus, &sys_err);
	if (r != -ENOENT || ctl->bus == BUSCTL_BUS_SYSTEM)
		return connected(ctl, r, bus, where, &sys_err);
	if (bus_user_address(where, sizeof(where)) < 0)
		snprintf(where, sizeof(where), "the user bus");
	r = bus_connect_user(&bus, &err);
	if (r == -ENOENT) {
		snprintf(ctl->why, sizeof(ctl->why),
			 "no bus found: %s; %s (use --socket PATH, or start busd)", sys_err.message,
			 err.message);
		return NULL;
	}
	return connected(ctl, r, bus, where, &err);
}

bus_t *busctl_connect(struct busctl *ctl)
{
	bus_t *bus = busctl_connect_quiet(ctl);

	if (!bus)
		fail("%s", ctl->why);
	return bus;
}

int read_stdin(void **buf, size_t *len)
{
	size_t cap = 0, n = 0;
	char *b = NULL;

	*buf = NULL;
	*len = 0;
	if (isatty(STDIN_FILENO))
		return 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(b, cap);
			if (!nb) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
		}
		ssize_t r = read(STDIN_FILENO, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = b;
	*len = n;
	return 0;
}

int write_stdout(const void *buf, size_t len)
{
	const char *p = buf;

	fflush(stdout);
	while (len) {
		ssize_t r = write(STDOUT_FILENO, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10, end++;
	else if (*end == 'M' || *end == 'm')
		shift = 20, end++;
	else if (*end == 'G' || *end == 'g')
		shift = 30, end++;
	if (errno || *end || v > (UINT64_MAX >> shift))
		return 0;
	*out = (uint64_t)v << shift;
	return 1;
}

void time_now(char *buf, size_t len)
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	snprintf(buf, len, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)tv.tv_usec);
}

int json_doc_out(const struct busctl *ctl, json_object *obj)
{
	int flags = ctl->json == BUSCTL_JSON_PRETTY
			    ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
			    : JSON_C_TO_STRING_PLAIN;
	int r = obj ? json_print(json_object_to_json_string_ext(obj, flags)) : -1;

	json_object_put(obj);
	if (r < 0)
		return fail("out of memory");
	return fflush(stdout) == 0 ? 0 : fail("writing: %s", strerror(errno));
}

int parse_count(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && !errno && *out > 0;
}

/* ---------------------------------------------------------------- list */

/* Ask the broker's control service; *reply is unpacked as desc. */
static int control(bus_t *bus, struct busctl *ctl, const char *method,
		   const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc,
		   ProtobufCMessage **reply)
{
	bus_error_t err;

	*reply = busctl_control(bus, ctl, method, req, desc, &err);
	return *reply ? 0 : fail_bus(method, &err);
}

struct row {
	const char *name;
	const Bus__PeerInfo *peer;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	int ux = x->name[0] == ':', uy = y->name[0] == ':';

	if (ux != uy)
		return ux - uy; /* well-known names first */
	if (ux) /* unique ids in numeric order */
		return strtoull(x->name + 1, NULL, 10) < strtoull(y->name + 1, NULL, 10) ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int list_opt(int opt, const char *arg, void *ud)
{
	(void)arg;
	if (opt == 'l')
		*(int *)ud = 1;
	return 0;
}

/* "12 34" for a peer's groups, "-" for none. */
static const char *groups_text(const Bus__PeerInfo *p, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < p->n_groups && o + 12 < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", i ? "," : "", p->groups[i]);
	return buf[0] ? buf : "-";
}

static int list_run(struct busctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "long", no_argument, NULL, 'l' }, { 0 } };
	int longfmt = 0;
	int first, r = command_options(&cmd_list, argc, argv, "l", opts, list_opt, &longfmt, &first);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc)
		return command_usage_error(&cmd_list, "unexpected argument \"%s\"", argv[first]);

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	Bus__ListNamesReply *rep = NULL;
	r = control(bus, ctl, "ListNames", &req.base, &bus__list_names_reply__descriptor,
		    (ProtobufCMessage **)&rep);
	bus_close(bus);
	if (r)
		return r;

	size_t n = 0, k = 0;
	for (size_t i = 0; i < rep->n_peers; i++)
		n += 1 + rep->peers[i]->n_names;
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	if (!rows) {
		protobuf_c_message_free_unpacked(&rep->base, NULL);
		return fail("out of memory");
	}
	int w = 4;
	for (size_t i = 0; i < rep->n_peers; i++) {
		const Bus__PeerInfo *p = rep->peers[i];
		rows[k++] = (struct row){ p->unique_name, p };
		for (size_t j = 0; j < p->n_names; j++)
			rows[k++] = (struct row){ p->names[j], p };
	}
	qsort(rows, n, sizeof(*rows), row_cmp);
	char name[1024], unique[128], comm[80];
	/* --json=short or pretty: one array; --json: a line per object */
	json_object *all = ctl->json > BUSCTL_JSON_LINES ? json_object_new_array() : NULL;
	for (size_t i = 0; i < n; i++)
		if ((int)strlen(esc(rows[i].name, name, sizeof(name))) > w)
			w = (int)strlen(name);
	if (!ctl->json && longfmt)
		printf("%-*s %-8s %7s %6s %6s %-16s %-12s %9s %8s %7s %5s %s\n", w, "NAME", "UNIQUE",
		       "PID", "UID", "GID", "COMM", "GROUPS", "QUEUED", "DROPPED", "PENDING", "SUBS",
		       "FLOW");
	else if (!ctl->json)
		printf("%-*s %-8s %7s %6s %6s %-16s %s\n", w, "NAME", "UNIQUE", "PID", "UID", "GID",
		       "COMM", "GROUPS");
	for (size_t i = 0; i < n; i++) {
		const Bus__PeerInfo *p = rows[i].peer;
		char groups[256];
		if (ctl->json) {
			json_object *o = json_object_new_object();
			json_object_object_add(o, "name", json_object_new_string(rows[i].name));
			json_object_object_add(o, "unique", json_object_new_string(p->unique_name));
			json_object_object_add(o, "pid", json_object_new_int64(p->pid));
			json_object_object_add(o, "uid", json_object_new_int64(p->uid));
			json_object_object_add(o, "gid", json_object_new_int64(p->gid));
			json_object_object_add(o, "comm", json_object_new_string(p->comm));
			json_object *g = json_object_new_array();
			for (size_t j = 0; j < p->n_groups; j++)
				json_object_array_add(g, json_object_new_int64(p->groups[j]));
			json_object_object_add(o, "groups", g);
			json_object_object_add(o, "queued_bytes", json_object_new_uint64(p->queued_bytes));
			json_object_object_add(o, "dropped", json_object_new_uint64(p->dropped));
			json_object_object_add(o, "pending_calls", json_object_new_int64(p->pending_calls));
			json_object_object_add(o, "subscriptions", json_object_new_int64(p->subscriptions));
			json_object_object_add(o, "congested", json_object_new_boolean(p->congested));
			json_object_object_add(o, "held", json_object_new_boolean(p->held));
			if (all) {
				json_object_array_add(all, o);
				continue;
			}
			json_print(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			json_object_put(o);
			continue;
		}
		esc(rows[i].name, name, sizeof(name));
		esc(p->unique_name, unique, sizeof(unique));
		esc(p->comm[0] ? p->comm : "-", comm, sizeof(comm));
		if (longfmt)
			printf("%-*s %-8s %7u %6u %6u %-16s %-12s %9llu %8llu %7u %5u %s\n", w,
			       name, unique, p->pid, p->uid, p->gid,
			       comm, groups_text(p, groups, sizeof(groups)),
			       (unsigned long long)p->queued_bytes, (unsigned long long)p->dropped,
			       p->pending_calls, p->subscriptions,
			       p->held ? (p->congested ? "congested,held" : "held")
				       : p->congested ? "congested" : "-");
		else
			printf("%-*s %-8s %7u %6u %6u %-16s %s\n", w, name, unique,
			       p->pid, p->uid, p->gid, comm, groups_text(p, groups, sizeof(groups)));
	}
	free(rows);
	protobuf_c_message_free_unpacked(&rep->base, NULL);
	if (ctl->json > BUSCTL_JSON_LINES)
		return json_doc_out(ctl, all);
	return fflush(stdout) == 0 ? 0 : fail("writing the list: %s", strerror(errno));
}

const struct command cmd_list = {
	"list", "[--long]", "List the names on the bus and the peers that own them",
	"\nOne row per well-known name, then one per connection (its unique id):\n"
	"the owner's unique id, pid, uid, gid, command name and supplementary\n"
	"groups (- for none), as busd read them from the socket (SO_PEERCRED,\n"
	"SO_PEERGROUPS) when the peer connected.\n"
	"\n  -l, --long  also: bytes queued toward it in busd, events dropped for\n"
	"              it (it did not keep up), its calls waiting for an answer,\n"
	"              its subscriptions, and\n"
	"              FLOW: congested (its queue is above limits.queue_hold_bytes)\n"
	"              and/or held (busd is not reading it for now), or -.\n"
	"\nWith --json every field is there, groups as an array: one object per\n"
	"line; with --json=short or --json=pretty one array of them.\n",
	list_run,
};

/* ---------------------------------------------------------------- status */

/* Every numeric field of a counters message (StatsReply, UserUsage) by its
 * proto name, from protobuf-c's own field table. */
static json_object *counters_json(const ProtobufCMessage *msg)
{
	json_object *o = json_object_new_object();
	const ProtobufCMessageDescriptor *d = msg->descriptor;

	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *m = (const char *)msg + f->offset;
		if (f->label == PROTOBUF_C_LABEL_REPEATED)
			continue;
		if (f->type == PROTOBUF_C_TYPE_UINT64)
			json_object_object_add(o, f->name, json_object_new_uint64(*(const uint64_t *)m));
		else if (f->type == PROTOBUF_C_TYPE_UINT32)
			json_object_object_add(o, f->name, json_object_new_uint64(*(const uint32_t *)m));
	}
	return o;
}

static int status_run(struct busctl *ctl, int argc, char **argv)
{
	int first, r = command_options(&cmd_status, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc)
		return command_usage_error(&cmd_status, "unexpected argument \"%s\"", argv[first]);

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	Bus__StatsReply *s = NULL;
	r = control(bus, ctl, "Stats", &req.base, &bus__stats_reply__descriptor,
		    (ProtobufCMessage **)&s);
	bus_close(bus);
	if (r)
		return r;
	if (ctl->json) {
		json_object *o = counters_json(&s->base);
		json_object *users = json_object_new_array();
		for (size_t i = 0; i < s->n_users; i++)
			json_object_array_add(users, counters_json(&s->users[i]->base));
		json_object_object_add(o, "users", users);
		protobuf_c_message_free_unpacked(&s->base, NULL);
		return json_doc_out(ctl, o);
	}
	printf("uptime            %.3f s\n", (double)s->uptime_usec / 1e6);
	printf("peers             %u\n", s->peers);
	printf("names             %u\n", s->names);
	printf("subscriptions     %u\n", s->subscriptions);
	printf("monitors          %u\n", s->monitors);
	printf("pending_calls     %llu\n", (unsigned long long)s->pending_calls);
	printf("connections_total %llu\n", (unsigned long long)s->connections_total);
	printf("frames_in         %llu\n", (unsigned long long)s->frames_in);
	printf("frames_out        %llu\n", (unsigned long long)s->frames_out);
	printf("bytes_in          %llu\n", (unsigned long long)s->bytes_in);
	printf("bytes_out         %llu\n", (unsigned long long)s->bytes_out);
	printf("calls             %llu\n", (unsigned long long)s->calls);
	printf("replies           %llu\n", (unsigned long long)s->replies);
	printf("errors            %llu\n", (unsigned long long)s->errors);
	printf("events            %llu\n", (unsigned long long)s->events);
	printf("event_deliveries  %llu\n", (unsigned long long)s->event_deliveries);
	printf("protocol_errors   %llu\n", (unsigned long long)s->protocol_errors);
	printf("events_dropped    %llu\n", (unsigned long long)s->events_dropped);
	printf("monitor_dropped   %llu\n", (unsigned long long)s->monitor_dropped);
	printf("holds             %llu\n", (unsigned long long)s->holds);
	printf("peers_held        %u\n", s->peers_held);
	printf("calls_refused     %llu\n", (unsigned long long)s->calls_refused);
	printf("quota_disconnects %llu\n", (unsigned long long)s->quota_disconnects);
	printf("access_denied     %llu\n", (unsigned long long)s->access_denied);
	printf("answers_dropped   %llu\n", (unsigned long long)s->answers_dropped);
	printf("calls_resent      %llu\n", (unsigned long long)s->calls_resent);
	printf("connections_refused %llu\n", (unsigned long long)s->connections_refused);
	printf("max_frame_size    %u\n", s->max_frame_size);
	/* What busd holds for its peers, charged to them, and per uid. */
	printf("connections       %u\n", s->connections);
	printf("queued_bytes      %llu\n", (unsigned long long)s->queued_bytes);
	printf("input_bytes       %llu\n", (unsigned long long)s->input_bytes);
	printf("schema_bytes      %llu\n", (unsigned long long)s->schema_bytes);
	printf("exports           %u\n", s->exports);
	printf("passed_fds        %llu\n", (unsigned long long)s->passed_fds);
	printf("memfd_bytes       %llu\n", (unsigned long long)s->memfd_bytes);
	printf("memfd_refused     %llu\n", (unsigned long long)s->memfd_refused);
	printf("held_calls        %u\n", s->held_calls);
	printf("held_bytes        %llu\n", (unsigned long long)s->held_bytes);
	printf("frame_cache_bytes %llu\n", (unsigned long long)s->frame_cache_bytes);
	printf("heap_bytes        %llu\n", (unsigned long long)s->heap_bytes);
	printf("\n%-10s %6s %12s %12s %7s %6s %6s %10s %7s\n", "UID", "CONNS", "QUEUED", "INPUT",
	       "CALLS", "NAMES", "SUBS", "SCHEMA", "EXPORTS");
	for (size_t i = 0; i < s->n_users; i++) {
		const Bus__UserUsage *u = s->users[i];
		printf("%-10u %6u %12llu %12llu %7u %6u %6u %10llu %7u\n", u->uid, u->connections,
		       (unsigned long long)u->queued_bytes, (unsigned long long)u->input_bytes,
		       u->pending_calls, u->names, u->subscriptions,
		       (unsigned long long)u->schema_bytes, u->exports);
	}
	protobuf_c_message_free_unpacked(&s->base, NULL);
	return fflush(stdout) == 0 ? 0 : fail("writing the status: %s", strerror(errno));
}

const struct command cmd_status = {
	"status", "", "Show busd's counters",
	"\nPeers, names, subscriptions and monitors now; frames, bytes, calls,\n"
	"replies, errors, events and protocol errors since busd started; what\n"
	"busd holds for its peers (connections, queued and input bytes, schema\n"
	"bytes, exports), then the same per uid, one line each. With --json, one\n"
	"object (the per-uid lines as \"users\"), indented with --json=pretty.\n"
	"Exit status 0 only when busd answered, so it also tells whether busd runs.\n",
	status_run,
};
