/* watch.c - busctl's streams: listen (events matching patterns) and monitor
 * (every frame busd routes), one line per frame, bodies decoded to JSON
 * through the schemas on the bus, replies with the latency since their
 * call; also the frame printer that decode (capture.c) shares. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include <json-c/json.h>

#include "busctl.h"
#include "watch.h"
#include "text.h"

#define PREVIEW_BYTES 24
#define CALLS_TRACKED 8192 /* calls remembered for reply latency */
#define MAX_MATCH 8

/* ---------------------------------------------------------------- options */

struct watch_opts {
	unsigned long count;
	int raw;
	const char *match[MAX_MATCH];
	int n_match;
	int reconnect;
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
	case 'm':
		if (w->n_match == MAX_MATCH) {
			fprintf(stderr, "busctl: at most %d --match options\n", MAX_MATCH);
			return EXIT_USAGE;
		}
		w->match[w->n_match++] = arg;
		return 0;
	default:
		return EXIT_USAGE;
	}
}

static const struct option watch_options[] = {
	{ "count", required_argument, NULL, 'n' },
	{ "raw", no_argument, NULL, 'r' },
	{ "match", required_argument, NULL, 'm' },
	{ "reconnect", no_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 },
};

/* --reconnect: say on stderr when busd goes and comes back. */
static void on_connection(bus_t *bus, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *userdata)
{
	(void)bus;
	(void)userdata;
	if (event == BUS_CONN_LOST)
		warn("%s; reconnecting", err ? err->message : "lost the connection to busd");
	else if (event == BUS_CONN_RESTORED)
		warn("reconnected to busd as %s", subject);
	else if (err)
		warn("after reconnecting: %s: %s", err->name, err->message);
}

/* ---------------------------------------------------------------- matching */

/* "prefix.*", "*" or an exact topic, as busd matches subscriptions. */
static int pattern_match(const char *pat, const char *s)
{
	size_t n = strlen(pat);

	if (strcmp(pat, "*") == 0)
		return 1;
	if (n >= 2 && strcmp(pat + n - 2, ".*") == 0)
		return strncmp(s, pat, n - 1) == 0 && s[n - 1];
	return strcmp(pat, s) == 0;
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

/* One --match: comma-separated key=value, all of which must hold. */
static int match_one(const char *spec, const bus_msg_t *m, int check_only)
{
	char buf[512], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		if (!v)
			return -1;
		*v++ = '\0';
		int ok;
		if (strcmp(kv, "kind") == 0)
			ok = check_only || strcasecmp(v, kind_name(m->kind)) == 0;
		else if (strcmp(kv, "sender") == 0)
			ok = check_only || strcmp(v, m->sender) == 0;
		else if (strcmp(kv, "destination") == 0)
			ok = check_only || strcmp(v, m->destination) == 0;
		else if (strcmp(kv, "method") == 0)
			ok = check_only || (m->kind == BUS_KIND_CALL && strcmp(v, m->member) == 0);
		else if (strcmp(kv, "topic") == 0)
			ok = check_only || (m->kind == BUS_KIND_EVENT && pattern_match(v, m->member));
		else
			return -1;
		if (!ok)
			return 0;
	}
	return 1;
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

/* The body as JSON text (malloc'd), or NULL when no schema describes it
 * (an unknown type may make busctl look at the bus again: schema.c says
 * how often). */
static char *body_json(struct printer *pr, const bus_msg_t *m)
{
	char *json = NULL;
	bus_error_t err;

	if (!pr->sc || !m->body_type[0] || !schemas_has_type(pr->sc, m->body_type))
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
	json_object_object_add(o, "size", json_object_new_uint64(m->body_len));
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
		char *enc = text_base64(m->body, m->body_len);
		if (enc)
			json_object_object_add(o, "body_base64", json_object_new_string(enc));
		free(enc);
	}
	json_print(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
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
	printf("%s %-5s %-6s -> %-14s", t, kind_name(m->kind), f[SENDER],
	       f[DEST][0] ? f[DEST] : "*");
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
	printf(" size=%zu", m->body_len);
	if (m->kind == BUS_KIND_ERROR)
		printf(" error=%s: %s", f[ERR_NAME], f[ERR_MSG]);
body:
	if (safe) {
		printf(" %s", safe);
	} else if (m->body_len) {
		fputs(" body=", stdout);
		print_hex(m, PREVIEW_BYTES);
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

int watch_matches(const char *const *match, int n, const bus_msg_t *m)
{
	for (int i = 0; i < n; i++)
		if (match_one(match[i], m, 0) != 1)
			return 0;
	return 1;
}

/* ---------------------------------------------------------------- streams */

struct watch {
	struct watch_opts o;
	struct printer *pr;
	unsigned long seen;
};

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
	if (!watch_matches(w->o.match, w->o.n_match, m)) {
		printer_note(w->pr, m, now_usec()); /* a matching reply's call */
		return;
	}
	printer_frame(w->pr, m, now_usec());
	fflush(stdout);
	if (w->o.count && ++w->seen >= w->o.count)
		bus_exit(bus, 0);
}

static int watch_run(bus_t *bus, bus_t *query, struct watch *w)
{
	int r = bus_run(bus);

	bus_close(bus);
	bus_close(query);
	printer_free(w->pr);
	if (r == -ECONNRESET)
		return fail("busd closed the connection");
	if (r < 0)
		return fail("connection to busd: %s", strerror(-r));
	return fflush(stdout) == 0 ? 0 : fail("writing: %s", strerror(errno));
}

static int watch_setup(const struct command *cmd, struct busctl *ctl, int argc, char **argv,
		       struct watch *w, int *first, bus_t **bus, bus_t **query)
{
	int r = command_options(cmd, argc, argv, "n:rm:R", watch_options, watch_opt, &w->o, first);
	if (r)
		return r < 0 ? -1 : r;
	for (int i = 0; i < w->o.n_match; i++)
		if (match_one(w->o.match[i], NULL, 1) != 1)
			return command_usage_error(cmd, "bad --match \"%s\" (key=value,... with keys "
						   "kind, sender, destination, method, topic)",
						   w->o.match[i]);
	if (!(*bus = busctl_connect(ctl)))
		return 1;
	/* A second connection answers schema questions: a monitor may not call. */
	*query = w->o.raw ? NULL : busctl_connect(ctl);
	if (w->o.reconnect) {
		/* libbus subscribes (or becomes a monitor) again by itself */
		bus_set_connection_handler(*bus, on_connection, NULL);
		bus_set_reconnect(*bus, 1);
		if (*query)
			bus_set_reconnect(*query, 1);
	}
	w->pr = printer_new(ctl, *query, w->o.raw);
	if (w->pr && cmd == &cmd_listen)
		printer_events_only(w->pr);
	if (!w->pr) {
		bus_close(*bus);
		bus_close(*query);
		return fail("out of memory");
	}
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
	bus_t *bus, *query;
	int first, r = watch_setup(&cmd_listen, ctl, argc, argv, &w, &first, &bus, &query);
	if (r)
		return r < 0 ? 0 : r;
	char **patterns = first < argc ? argv + first : all;
	int n = first < argc ? argc - first : 1;

	for (int i = 0; i < n; i++) {
		bus_error_t err;
		if (bus_subscribe(bus, NULL, patterns[i], on_frame, &w, &err) < 0) {
			char what[300];
			snprintf(what, sizeof(what), "subscribe \"%s\"", patterns[i]);
			bus_close(bus);
			bus_close(query);
			printer_free(w.pr);
			return fail_bus(what, &err);
		}
	}
	bus_error_t err;
	if (query && bus_subscribe(bus, NULL, "bus.NameOwnerChanged", on_owner_changed, &w, &err) < 0) {
		bus_close(bus);
		bus_close(query);
		printer_free(w.pr);
		return fail_bus("subscribe \"bus.NameOwnerChanged\"", &err);
	}
	return watch_run(bus, query, &w);
}

const struct command cmd_listen = {
	"listen", "[--count N] [--raw] [--reconnect] [PATTERN...]",
	"Print the events whose topic matches a PATTERN, as they arrive",
	"\nA PATTERN is an exact topic (sensor.temp0.reading), a prefix pattern\n"
	"(sensor.* matches every topic below sensor, at any depth) or * (all, the\n"
	"default). One line per event: local time, sender, topic, body type, body\n"
	"size and the body as JSON, decoded with the schemas the peers on the bus\n"
	"uploaded (the first bytes in hex when none describes it). With --json, one\n"
	"JSON object per event.\n\n"
	"Options:\n"
	"  -n, --count N   exit after N events\n"
	"  -r, --raw       do not decode bodies: show their first bytes in hex\n"
	"  -R, --reconnect when busd goes away, wait for it and go on listening\n"
	"                  (saying so on stderr); without it busctl exits 1\n",
	listen_run,
};

static int monitor_run(struct busctl *ctl, int argc, char **argv)
{
	struct watch w = { 0 };
	bus_t *bus, *query;
	bus_error_t err;
	int first, r = watch_setup(&cmd_monitor, ctl, argc, argv, &w, &first, &bus, &query);
	if (r)
		return r < 0 ? 0 : r;
	if (first != argc) {
		bus_close(bus);
		bus_close(query);
		printer_free(w.pr);
		return command_usage_error(&cmd_monitor, "unexpected argument \"%s\"", argv[first]);
	}
	if (bus_become_monitor(bus, on_frame, &w, &err) < 0) {
		bus_close(bus);
		bus_close(query);
		printer_free(w.pr);
		return fail_bus("monitor", &err);
	}
	return watch_run(bus, query, &w);
}

const struct command cmd_monitor = {
	"monitor", "[--count N] [--raw] [--reconnect] [--match KEY=VALUE,...]...",
	"Print every frame busd routes, as it routes it",
	"\nOne line per frame: local time, kind (CALL, REPLY, ERROR, EVENT), sender\n"
	"(stamped by busd), destination (* for an event), interface.method or topic,\n"
	"serial, reply_serial and latency since the call for answers, body type,\n"
	"body size, for an error its name and message, and the body as JSON\n"
	"(decoded with the schemas on the bus; hex when none describes it). With\n"
	"--json, one JSON object per frame. A monitor only watches.\n\n"
	"Options:\n"
	"  -n, --count N       exit after N frames (that match)\n"
	"  -r, --raw           do not decode bodies\n"
	"  -m, --match SPEC    only frames where every KEY=VALUE of SPEC holds; keys:\n"
	"                      kind (call, reply, error, event), sender, destination,\n"
	"                      method, topic (a pattern: sensor.*); repeat for more\n"
	"  -R, --reconnect     when busd goes away, wait for it and go on watching\n"
	"                      (saying so on stderr); without it busctl exits 1\n",
	monitor_run,
};
