/* watch.c - busctl's streams: listen (events matching patterns) and monitor
 * (every frame busd routes), one line per frame, bodies decoded to JSON
 * through the schemas on the bus, replies with the latency since their
 * call; also the frame printer that decode (capture.c) shares. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "busctl.h"
#include "chatter.h"
#include "match.h"
#include "watch.h"
#include "text.h"

#define PREVIEW_BYTES 24
#define CALLS_TRACKED 8192 /* calls remembered for reply latency */
/* Columns of monitor's lines: longer names are cut in the middle. */
#define SENDER_WIDTH 8
#define DEST_WIDTH 24

/* ---------------------------------------------------------------- options */

struct watch_opts {
	unsigned long count;
	int raw;
	struct matcher *match;
	int n_match;
	int reconnect;
	int all;          /* monitor --all: busctl's own queries too */
	size_t max_body;  /* decode bodies up to this size (0: any) */
	char why[512];    /* why a --match was refused */
};

static int watch_opt(int opt, const char *arg, void *ud)
{
	struct watch_opts *w = ud;

	switch (opt) {
	case 'n':
		if (!parse_count(arg, &w->count)) {
			fprintf(stderr, "busctl: --count takes a positive number, not \"%s\"\n", arg);
			return EXIT_USAGE;
		}
		return 0;
	case 'r':
		w->raw = 1;
		return 0;
	case 'R':
		w->reconnect = 1;
		return 0;
	case 'm': {
		int r = matcher_add(w->match, arg, w->why, sizeof(w->why));
		if (r == -ENOMEM)
			return fail("out of memory");
		if (r < 0)
			return EXIT_USAGE; /* watch_setup() says why */
		w->n_match++;
		return 0;
	}
	case 'a':
		w->all = 1;
		return 0;
	case 'B': {
		uint64_t max_body;
		if (!parse_size(arg, &max_body) || max_body > SIZE_MAX) {
			fprintf(stderr, "busctl: --max-body takes a size (65536, 64K, 1M; 0: no "
					"limit), not \"%s\"\n", arg);
			return EXIT_USAGE;
		}
		w->max_body = (size_t)max_body;
		return 0;
	}
	default:
		return EXIT_USAGE;
	}
}

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

/* ---------------------------------------------------------------- printer */

struct tracked {
	char caller[32];
	uint64_t serial;
	uint64_t usec;
};

struct printer {
	struct busctl *ctl;
	struct schemas *sc;   /* the bus's schemas, or NULL (raw) */
	int events;           /* listen's shorter lines */
	size_t max_body;      /* larger bodies are not decoded (0: no limit) */
	struct tracked calls[CALLS_TRACKED];
};

static size_t call_slot(const char *caller, uint64_t serial)
{
	uint64_t h = serial * 0x9e3779b97f4a7c15ull;
	for (const char *p = caller; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	return (size_t)(h % CALLS_TRACKED);
}

/* A reply's latency since its call, if the call was seen; -1 otherwise. */
static int64_t latency(struct printer *pr, const bus_msg_t *m, uint64_t usec)
{
	if (m->kind == BUS_KIND_CALL) {
		struct tracked *t = &pr->calls[call_slot(m->sender, m->serial)];
		snprintf(t->caller, sizeof(t->caller), "%s", m->sender);
		t->serial = m->serial;
		t->usec = usec;
		return -1;
	}
	if (m->kind != BUS_KIND_REPLY && m->kind != BUS_KIND_ERROR)
		return -1;
	struct tracked *t = &pr->calls[call_slot(m->destination, m->reply_serial)];
	if (t->serial != m->reply_serial || strcmp(t->caller, m->destination) != 0 || usec < t->usec)
		return -1;
	t->serial = 0;
	return (int64_t)(usec - t->usec);
}

static int over_limit(const struct printer *pr, const bus_msg_t *m)
{
	return pr->max_body && m->body_len > pr->max_body;
}

/* The body as JSON text (malloc'd), or NULL when no schema describes it
 * (an unknown type may make busctl look at the bus again: schema.c says
 * how often). */
static char *body_json(struct printer *pr, const bus_msg_t *m)
{
	char *json = NULL;
	bus_error_t err;

	if (!pr->sc || !m->body_type[0] || over_limit(pr, m) ||
	    !schemas_has_type(pr->sc, m->body_type))
		return NULL;
	if (bus_json_decode(schemas_get(pr->sc), m->body_type, m->body, m->body_len, 0, &json,
			    &err) < 0)
		return NULL;
	return json;
}

static void time_of(uint64_t usec, char *buf, size_t len, int iso)
{
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;

	if (iso) {
		gmtime_r(&t, &tm);
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (unsigned)(usec % 1000000u));
	} else {
		localtime_r(&t, &tm);
		snprintf(buf, len, "%02d:%02d:%02d.%06u", tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (unsigned)(usec % 1000000u));
	}
}


static void print_hex(const bus_msg_t *m, size_t max)
{
	const unsigned char *p = m->body;
	size_t n = m->body_len < max ? m->body_len : max;

	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	if (n < m->body_len)
		fputs("...", stdout);
}

static void print_json_line(struct printer *pr, const bus_msg_t *m, uint64_t usec, int64_t lat,
			    const char *json)
{
	json_object *o = json_object_new_object();
	char t[64];

	time_of(usec, t, sizeof(t), 1);
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "kind", json_object_new_string(kind_name(m->kind)));
	json_object_object_add(o, "sender", json_object_new_string(m->sender));
	if (m->destination[0])
		json_object_object_add(o, "destination", json_object_new_string(m->destination));
	if (m->interface[0])
		json_object_object_add(o, "interface", json_object_new_string(m->interface));
	if (m->member[0])
		json_object_object_add(o, m->kind == BUS_KIND_EVENT ? "topic" : "method",
				       json_object_new_string(m->member));
	json_object_object_add(o, "serial", json_object_new_uint64(m->serial));
	if (m->reply_serial)
		json_object_object_add(o, "reply_serial", json_object_new_uint64(m->reply_serial));
	if (m->body_type[0])
		json_object_object_add(o, "type", json_object_new_string(m->body_type));
	json_object_object_add(o, "size", json_object_new_uint64(m->memfd_body_size ?
								m->memfd_body_size : m->body_len));
	if (m->memfd_body_size) /* out of line, in a sealed memfd (counted in fd_count) */
		json_object_object_add(o, "memfd_body", json_object_new_boolean(1));
	if (m->fd_count)
		json_object_object_add(o, "fd_count", json_object_new_uint64(m->fd_count));
	if (lat >= 0)
		json_object_object_add(o, "latency_us", json_object_new_int64(lat));
	if (m->kind == BUS_KIND_ERROR) {
		json_object_object_add(o, "error", json_object_new_string(m->error_name));
		json_object_object_add(o, "message", json_object_new_string(m->error_message));
	}
	json_object *body = json ? json_tokener_parse(json) : NULL;
	if (body)
		json_object_object_add(o, "body", body);
	else if (m->body_len) {
		/* over the limit: its first max_body bytes */
		int cut = over_limit(pr, m);
		char *enc = text_base64(m->body, cut ? pr->max_body : m->body_len);
		if (enc)
			json_object_object_add(o, "body_base64", json_object_new_string(enc));
		free(enc);
		if (cut)
			json_object_object_add(o, "body_truncated", json_object_new_boolean(1));
	}
	json_print(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

void printer_set_max_body(struct printer *pr, size_t max)
{
	pr->max_body = max;
}

/* s in width columns: padded, or cut in the middle with an ellipsis (the
 * end of a name tells most). Peers' names are ASCII (busd checks them);
 * escaped text is too. */
static void put_column(const char *s, size_t width)
{
	size_t n = strlen(s);

	if (n <= width) {
		printf("%s%*s", s, (int)(width - n), "");
		return;
	}
	size_t head = (width - 1) / 3, tail = width - 1 - head;
	printf("%.*s\u2026%s", (int)head, s, s + n - tail);
}

void printer_events_only(struct printer *pr)
{
	pr->events = 1;
}

void printer_note(struct printer *pr, const bus_msg_t *m, uint64_t usec)
{
	latency(pr, m, usec);
}

void printer_bus_changed(struct printer *pr)
{
	if (pr->sc)
		schemas_bus_changed(pr->sc);
}

void printer_frame(struct printer *pr, const bus_msg_t *m, uint64_t usec)
{
	int64_t lat = latency(pr, m, usec);
	if (m->kind == BUS_KIND_EVENT && strcmp(m->sender, BUS_NAME) == 0 &&
	    strcmp(m->member, "bus.NameOwnerChanged") == 0)
		printer_bus_changed(pr);
	char *json = body_json(pr, m);

	if (pr->ctl->json) {
		print_json_line(pr, m, usec, lat, json);
		free(json);
		return;
	}
	/* the header's text, escaped: peers (and capture files) chose it */
	enum { SENDER, DEST, IFACE, MEMBER, TYPE, ERR_NAME, ERR_MSG, N_TEXT };
	const char *raw[N_TEXT] = { m->sender, m->destination, m->interface, m->member,
				    m->body_type, m->error_name, m->error_message };
	char *f[N_TEXT], *safe = json ? json_safe(json) : NULL, t[64];
	for (int i = 0; i < N_TEXT; i++)
		f[i] = esc_dup(raw[i], 0);
	for (int i = 0; i < N_TEXT; i++)
		if (!f[i] || (json && !safe)) {
			fail("out of memory");
			goto out;
		}
	time_of(usec, t, sizeof(t), 0);
	if (pr->events) {
		printf("%s %-6s %s type=%s size=%zu", t, f[SENDER], f[MEMBER],
		       f[TYPE][0] ? f[TYPE] : "-", m->body_len);
		goto body;
	}
	printf("%s %-5s ", t, kind_name(m->kind));
	put_column(f[SENDER], SENDER_WIDTH);
	fputs(" -> ", stdout);
	put_column(f[DEST][0] ? f[DEST] : "*", DEST_WIDTH);
	if (m->kind == BUS_KIND_CALL)
		printf(" %s%s%s", f[IFACE], f[IFACE][0] ? "." : "", f[MEMBER]);
	else if (m->kind == BUS_KIND_EVENT)
		printf(" %s", f[MEMBER]);
	printf(" serial=%llu", (unsigned long long)m->serial);
	if (m->reply_serial)
		printf(" reply_serial=%llu", (unsigned long long)m->reply_serial);
	if (lat >= 0)
		printf(" latency=%lldus", (long long)lat);
	if (f[TYPE][0])
		printf(" type=%s", f[TYPE]);
	/* An out-of-line body: its size, and whether its bytes are here (a
	 * monitor that asked for bodies, a capture made with --bodies). */
	if (m->memfd_body_size)
		printf(" size=%llu memfd%s", (unsigned long long)m->memfd_body_size,
		       m->body_len ? "" : " (bytes not seen)");
	else
		printf(" size=%zu", m->body_len);
	/* a monitor sees how many, never the descriptors; a body's is not one */
	unsigned fds = m->fd_count - (m->memfd_body_size && m->fd_count ? 1 : 0);
	if (fds)
		printf(" fds=%u", fds);
	if (m->kind == BUS_KIND_ERROR)
		printf(" error=%s: %s", f[ERR_NAME], f[ERR_MSG]);
body:
	if (safe) {
		printf(" %s", safe);
	} else if (m->body_len) {
		fputs(" body=", stdout);
		print_hex(m, PREVIEW_BYTES);
		if (over_limit(pr, m))
			printf(" [not decoded: %zu bytes > max-body %zu]", m->body_len, pr->max_body);
	}
	putchar('\n');
out:
	for (int i = 0; i < N_TEXT; i++)
		free(f[i]);
	free(safe);
	free(json);
}

struct printer *printer_new(struct busctl *ctl, bus_t *query, int raw)
{
	struct printer *pr = calloc(1, sizeof(*pr));
	bus_error_t err;

	if (!pr)
		return NULL;
	pr->ctl = ctl;
	pr->max_body = PRINTER_MAX_BODY;
	if (!raw && !(pr->sc = schemas_new(ctl, query))) {
		free(pr);
		return NULL;
	}
	if (pr->sc && query)
		schemas_load_all(pr->sc, &err); /* best effort */
	return pr;
}

void printer_free(struct printer *pr)
{
	if (!pr)
		return;
	schemas_free(pr->sc);
	free(pr);
}

/* capture's filter: the specs are parsed once for the run (capture passes
 * the same array every time). */
int watch_matches(const char *const *match, int n, const bus_msg_t *m)
{
	static struct matcher *mt;
	static const char *const *parsed_for;
	static int parsed_n, usable;
	char why[512];

	if (n <= 0)
		return 1;
	if (!mt || parsed_for != match || parsed_n != n) {
		matcher_free(mt);
		if (!(mt = matcher_new()))
			return 0;
		parsed_for = match;
		parsed_n = n;
		usable = 0;
		for (int i = 0; i < n; i++)
			usable += matcher_add(mt, match[i], why, sizeof(why)) == 0;
	}
	return usable && matcher_test(mt, m);
}

/* ---------------------------------------------------------------- streams */

struct watch {
	struct watch_opts o;
	struct printer *pr;
	struct chatter *chatter; /* monitor without --all */
	struct busctl *ctl;
	bus_t *query;
	unsigned long seen;
};

static const struct option listen_options[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "raw", no_argument, NULL, 'r' },
	{ "reconnect", no_argument, NULL, 'R' },
	{ "max-body", required_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};

static const struct option monitor_options[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "raw", no_argument, NULL, 'r' },
	{ "match", required_argument, NULL, 'm' },
	{ "reconnect", no_argument, NULL, 'R' },
	{ "all", no_argument, NULL, 'a' },
	{ "max-body", required_argument, NULL, 'B' },
	{ NULL, 0, NULL, 0 },
};

/* SIGINT, SIGTERM: monitor stops where it is and says what it left out.
 * bus_exit() only sets two fields; shutting the socket's reading side
 * wakes a wait in recv() that the signal may have missed. */
static bus_t *volatile stop_bus;
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (stop_bus) {
		bus_exit(stop_bus, 0);
		if (bus_get_fd(stop_bus) >= 0)
			shutdown(bus_get_fd(stop_bus), SHUT_RD);
	}
}

static void catch_stop_signals(bus_t *bus)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	stop_bus = bus;
	/* a signal the shell had ignored (a background job's SIGINT) stays so */
	for (int i = 0; i < 2; i++) {
		int sig = i ? SIGTERM : SIGINT;
		struct sigaction old;
		if (sigaction(sig, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(sig, &sa, NULL);
	}
}

/* --reconnect: say on stderr when busd goes and comes back. A new busd
 * hands out ids from :1 again: what was known about ids goes. */
static void on_connection(bus_t *bus, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *userdata)
{
	struct watch *w = userdata;

	(void)bus;
	if (event == BUS_CONN_LOST) {
		warn("%s; reconnecting", err ? err->message : "lost the connection to busd");
		matcher_forget(w->o.match);
		if (w->chatter)
			chatter_forget(w->chatter);
	} else if (event == BUS_CONN_RESTORED) {
		warn("reconnected to busd as %s", subject);
		bus_error_t e;
		if (w->query && matcher_n_names(w->o.match) &&
		    matcher_resolve(w->o.match, w->query, w->ctl, &e) < 0)
			warn("after reconnecting, finding the owners of the --match names: %s: %s "
			     "(they follow bus.NameOwnerChanged from now on)", e.name, e.message);
	} else if (err) {
		warn("after reconnecting: %s: %s", err->name, err->message);
	}
}

static uint64_t now_usec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct watch *w = ud;

	/* Frames of one read arrive in one go: past --count, the rest are dropped. */
	if (w->o.count && w->seen >= w->o.count)
		return;
	matcher_note(w->o.match, m); /* owners change in the stream's order */
	if ((w->chatter && chatter_hide(w->chatter, m)) || !matcher_test(w->o.match, m)) {
		printer_note(w->pr, m, now_usec()); /* a matching reply's call */
		return;
	}
	printer_frame(w->pr, m, now_usec());
	fflush(stdout);
	if (w->o.count && ++w->seen >= w->o.count)
		bus_exit(bus, 0);
}

static void watch_free(bus_t *bus, struct watch *w)
{
	stop_bus = NULL;
	bus_close(bus);
	bus_close(w->query);
	printer_free(w->pr);
	matcher_free(w->o.match);
	chatter_free(w->chatter);
}

static int watch_run(bus_t *bus, struct watch *w)
{
	int r = bus_run(bus);
	unsigned long hidden = w->chatter ? chatter_hidden(w->chatter) : 0;

	watch_free(bus, w);
	if (stop_requested)
		r = 0;
	if (hidden)
		fprintf(stderr, "busctl: left out %lu frames: the broker queries of other busctl "
				"processes (--all shows them)\n", hidden);
	if (r == -ECONNRESET)
		return fail("busd closed the connection");
	if (r < 0)
		return fail("connection to busd: %s", strerror(-r));
	return fflush(stdout) == 0 ? 0 : fail("writing: %s", strerror(errno));
}

static int watch_setup(const struct command *cmd, struct busctl *ctl, int argc, char **argv,
		       struct watch *w, int *first, bus_t **bus)
{
	int monitor = cmd == &cmd_monitor;

	w->ctl = ctl;
	w->o.max_body = PRINTER_MAX_BODY;
	if (!(w->o.match = matcher_new()))
		return fail("out of memory");
	int r = command_options(cmd, argc, argv, monitor ? "n:rm:RaB:" : "n:rRB:",
				monitor ? monitor_options : listen_options, watch_opt, &w->o, first);
	if (r == EXIT_USAGE && w->o.why[0])
		r = command_usage_error(cmd, "bad --match: %s", w->o.why);
	if (r) {
		matcher_free(w->o.match);
		return r < 0 ? -1 : r;
	}
	if (monitor && !w->o.all && !(w->chatter = chatter_new(program_invocation_short_name))) {
		matcher_free(w->o.match);
		return fail("out of memory");
	}
	if (!(*bus = busctl_connect(ctl))) {
		watch_free(NULL, w);
		return 1;
	}
	/* A second connection answers questions (schemas, owners of names): a
	 * monitor may not call. */
	if (!w->o.raw || matcher_n_names(w->o.match)) {
		if (!(w->query = busctl_connect(ctl))) {
			watch_free(*bus, w);
			return 1;
		}
		if (w->chatter)
			chatter_add_tool(w->chatter, bus_unique_name(w->query));
	}
	if (w->o.reconnect) {
		/* libbus subscribes (or becomes a monitor) again by itself */
		bus_set_connection_handler(*bus, on_connection, w);
		bus_set_reconnect(*bus, 1);
		if (w->query)
			bus_set_reconnect(w->query, 1);
	}
	w->pr = printer_new(ctl, w->o.raw ? NULL : w->query, w->o.raw);
	if (!w->pr) {
		watch_free(*bus, w);
		return fail("out of memory");
	}
	printer_set_max_body(w->pr, w->o.max_body);
	if (!monitor)
		printer_events_only(w->pr);
	setvbuf(stdout, NULL, _IOLBF, 0);
	return 0;
}

/* busctl's own subscription: a name that changes owner may come with a
 * schema describing types missed so far. */
static void on_owner_changed(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct watch *w = ud;

	(void)bus;
	if (strcmp(m->sender, BUS_NAME) == 0)
		printer_bus_changed(w->pr);
}

static int listen_run(struct busctl *ctl, int argc, char **argv)
{
	static char *all[] = { "*" };
	struct watch w = { 0 };
	bus_t *bus;
	int first, r = watch_setup(&cmd_listen, ctl, argc, argv, &w, &first, &bus);
	if (r)
		return r < 0 ? 0 : r;
	char **patterns = first < argc ? argv + first : all;
	int n = first < argc ? argc - first : 1;

	for (int i = 0; i < n; i++) {
		bus_error_t err;
		if (bus_subscribe(bus, NULL, patterns[i], on_frame, &w, &err) < 0) {
			char what[300];
			snprintf(what, sizeof(what), "subscribe \"%s\"", patterns[i]);
			watch_free(bus, &w);
			return fail_bus(what, &err);
		}
	}
	bus_error_t err;
	if (w.query &&
	    bus_subscribe(bus, NULL, "bus.NameOwnerChanged", on_owner_changed, &w, &err) < 0) {
		watch_free(bus, &w);
		return fail_bus("subscribe \"bus.NameOwnerChanged\"", &err);
	}
	return watch_run(bus, &w);
}

const struct command cmd_listen = {
	"listen", "[--count N] [--raw] [--reconnect] [--max-body SIZE] [PATTERN...]",
	"Print the events whose topic matches a PATTERN, as they arrive",
	"\nA PATTERN is an exact topic (sensor.temp0.reading), a prefix pattern\n"
	"(sensor.* matches every topic below sensor, at any depth) or * (all, the\n"
	"default). One line per event: local time, sender, topic, body type, body\n"
	"size and the body as JSON, decoded with the schemas the peers on the bus\n"
	"uploaded (the first bytes in hex when none describes it). With --json, one\n"
	"JSON object per event.\n\n"
	"Options:\n"
	"  -n, --count N       exit after N events\n"
	"  -r, --raw           do not decode bodies: show their first bytes in hex\n"
	"  -B, --max-body SIZE decode bodies of at most SIZE bytes (65536, 64K, 1M;\n"
	"                      0: any); larger ones show size, type and first bytes.\n"
	"                      Default 64K\n"
	"  -R, --reconnect     when busd goes away, wait for it and go on listening\n"
	"                      (saying so on stderr); without it busctl exits 1\n",
	listen_run,
};

static int monitor_run(struct busctl *ctl, int argc, char **argv)
{
	struct watch w = { 0 };
	bus_t *bus;
	bus_error_t err;
	int first, r = watch_setup(&cmd_monitor, ctl, argc, argv, &w, &first, &bus);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc) {
		watch_free(bus, &w);
		return command_usage_error(&cmd_monitor, "unexpected argument \"%s\"", argv[first]);
	}
	if (bus_become_monitor(bus, on_frame, &w, &err) < 0) {
		watch_free(bus, &w);
		return fail_bus("monitor", &err);
	}
	/* Owners asked for once the monitor is in place: a change after the
	 * answer comes as a bus.NameOwnerChanged in the stream. */
	if (matcher_n_names(w.o.match) && matcher_resolve(w.o.match, w.query, ctl, &err) < 0) {
		watch_free(bus, &w);
		return fail_bus("finding the owners of the --match names", &err);
	}
	catch_stop_signals(bus);
	return watch_run(bus, &w);
}

const struct command cmd_monitor = {
	"monitor",
	"[--count N] [--raw] [--all] [--max-body SIZE] [--reconnect] [--match KEY=VALUE,...]...",
	"Print every frame busd routes, as it routes it",
	"\nOne line per frame: local time, kind (CALL, REPLY, ERROR, EVENT), sender\n"
	"(stamped by busd), destination (* for an event), interface.method or topic,\n"
	"serial, reply_serial and latency since the call for answers, body type,\n"
	"body size, for an error its name and message, and the body as JSON\n"
	"(decoded with the schemas on the bus; hex when none describes it). Sender\n"
	"and destination have columns of 8 and 24: a longer name is cut in the\n"
	"middle (\u2026); --json has them whole. With --json, one JSON object per frame.\n"
	"A monitor only watches.\n\n"
	"Other busctl processes' queries to busd (Hello, ListNames, GetNameOwner,\n"
	"Stats, GetSchema, Introspect, and busd's answers) are left out, counted on\n"
	"stderr at exit; everything else they send is shown, as is everything of\n"
	"every other connection. --all shows them too.\n\n"
	"Options:\n"
	"  -n, --count N       exit after N frames (that are shown)\n"
	"  -r, --raw           do not decode bodies\n"
	"  -m, --match SPEC    only frames where every KEY=VALUE of SPEC holds;\n"
	"                      repeated, a frame matching any SPEC is shown. Keys:\n"
	"                      kind (call, reply, error, event; type= and systemd's\n"
	"                      method_call, method_return, signal too),\n"
	"                      sender, destination (a unique id, bus, or a\n"
	"                      well-known name: whoever owns it at the time),\n"
	"                      interface, method (Method or interface.Method;\n"
	"                      member= too), topic (a pattern: sensor.*)\n"
	"  -a, --all           also show other busctl processes' queries to busd\n"
	"  -B, --max-body SIZE decode bodies of at most SIZE bytes (65536, 64K, 1M;\n"
	"                      0: any); larger ones show size, type and first bytes.\n"
	"                      Default 64K\n"
	"  -R, --reconnect     when busd goes away, wait for it and go on watching\n"
	"                      (saying so on stderr); without it busctl exits 1\n",
	monitor_run,
};
