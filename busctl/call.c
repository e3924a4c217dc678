/* call.c - busctl call and emit: a body from stdin goes out as one CALL or
 * EVENT frame; a reply body comes back on stdout, as bytes for a pipe and as
 * a hex dump for a terminal (unless --raw). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "busctl.h"
#include "bus.pb-c.h"

struct send_opts {
	const char *interface;
	const char *type;
	int raw;
	int no_reply; /* --no-reply, --expect-reply=no */
	int fds[64];  /* --fd FILE, --fd-write FILE: index 0, 1, ... in order */
	unsigned n_fds;
};

enum { OPT_NO_REPLY = 0x200, OPT_EXPECT_REPLY, OPT_FD, OPT_FD_WRITE };

/* --fd FILE (read-only), --fd-write FILE (write-only, appending): open it
 * now, to be passed with the call. */
static int open_fd(struct send_opts *o, const char *path, int write)
{
	if (o->n_fds == sizeof(o->fds) / sizeof(o->fds[0]))
		return command_usage_error(&cmd_call, "at most %zu --fd options",
					   sizeof(o->fds) / sizeof(o->fds[0]));
	int fd = open(path, (write ? O_WRONLY | O_APPEND : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	o->fds[o->n_fds++] = fd;
	return 0;
}

static void close_fds(struct send_opts *o)
{
	while (o->n_fds)
		close(o->fds[--o->n_fds]);
}

static int send_opt(int opt, const char *arg, void *ud)
{
	struct send_opts *o = ud;

	switch (opt) {
	case 'i': o->interface = arg; return 0;
	case 'T': o->type = arg; return 0;
	case 'r': o->raw = 1; return 0;
	case OPT_NO_REPLY: o->no_reply = 1; return 0;
	case OPT_FD: return open_fd(o, arg, 0);
	case OPT_FD_WRITE: return open_fd(o, arg, 1);
	case OPT_EXPECT_REPLY:
		if (strcmp(arg, "yes") == 0 || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0)
			o->no_reply = 0;
		else if (strcmp(arg, "no") == 0 || strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0)
			o->no_reply = 1;
		else
			return command_usage_error(&cmd_call, "--expect-reply takes yes or no, not "
						   "\"%s\"", arg);
		return 0;
	default: return EXIT_USAGE;
	}
}

/* call's; emit takes them from the second on. */
static const struct option send_options[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "type", required_argument, NULL, 'T' },
	{ "raw", no_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

static const struct option call_options[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "type", required_argument, NULL, 'T' },
	{ "raw", no_argument, NULL, 'r' },
	{ "no-reply", no_argument, NULL, OPT_NO_REPLY },
	{ "expect-reply", required_argument, NULL, OPT_EXPECT_REPLY },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "fd-write", required_argument, NULL, OPT_FD_WRITE },
	{ NULL, 0, NULL, 0 },
};

/* One round trip to busd (a Stats call), which reads a connection's frames
 * in order: when it returns, busd has handled everything sent before it.
 * 0, or a negative errno with err set. */
static int busd_sync(bus_t *bus, uint64_t timeout_usec, bus_error_t *err)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	uint8_t buf[16];
	size_t len = bus__stats_request__pack(&req, buf), rlen = 0;
	void *rep = NULL;

	int r = bus_call(bus, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", buf, len,
			 timeout_usec, err, &rep, &rlen);
	free(rep);
	return r;
}

/* --no-reply: the CALL goes out flagged NO_REPLY_EXPECTED, so neither the
 * service nor busd answers it, not even with an error. busctl therefore
 * asks busd first whether NAME has an owner (a JSON call already did, to
 * find its schema), and after sending makes one round trip to busd, so
 * that busd has routed the call when busctl exits 0. What it cannot see:
 * a call busd's policy refuses, an unknown method, a failing service. */
static int send_no_reply(struct busctl *ctl, bus_t *bus, const char *dest, const char *iface,
			 const char *method, const char *type, const void *body, size_t len,
			 const struct send_opts *o, const char *what)
{
	bus_creds_t *creds = NULL;
	bus_error_t err;

	bus_error_clear(&err);
	int r = bus_get_name_creds(bus, dest, &creds, &err);
	bus_creds_free(creds);
	if (r == -EINVAL && !bus_error_is_set(&err))
		return fail("%s: not a valid destination name", what);
	if (r < 0)
		return fail_bus(what, &err);
	r = bus_call_async_fds(bus, NULL, dest, iface, method, type, body, len, o->fds, o->n_fds, 0,
			       NULL, NULL);
	if (r == -EINVAL)
		return fail("%s: not a valid destination, interface, method or type name", what);
	if (r == -EMSGSIZE)
		return fail("%s: the body is larger than the frame limit", what);
	if (r == -E2BIG)
		return fail("%s: %u file descriptors, more than the %u busd takes with one frame "
			    "(limits.max_fds_per_frame)", what, o->n_fds, bus_get_max_fds(bus));
	if (r == 0)
		r = bus_flush(bus);
	if (r < 0)
		return fail("%s: %s", what, strerror(-r));
	if (busd_sync(bus, ctl->timeout_usec, &err) < 0)
		return fail_bus(what, &err);
	return 0;
}

/* 16 bytes per line: offset, hex, printable characters. */
static void hexdump(const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n; off += 16) {
		printf("%08zx ", off);
		for (size_t i = off; i < off + 16; i++) {
			if (i < n)
				printf(" %02x", p[i]);
			else
				fputs("   ", stdout);
		}
		fputs("  |", stdout);
		for (size_t i = off; i < off + 16 && i < n; i++)
			putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
		puts("|");
	}
}

static int body_out(const void *body, size_t len, int raw)
{
	if (raw || !isatty(STDOUT_FILENO)) {
		int r = write_stdout(body, len);
		return r < 0 ? fail("writing the reply: %s", strerror(-r)) : 0;
	}
	if (len == 0)
		puts("(empty body)");
	else
		hexdump(body, len);
	return fflush(stdout) == 0 ? 0 : fail("writing the reply: %s", strerror(errno));
}

/* ---------------------------------------------------------------- call */

/* The JSON text of a request or event: the argument, else stdin (unless it
 * is a terminal), else "{}". Caller frees. */
static char *json_input(int argc, char **argv, int at)
{
	void *buf;
	size_t len;

	if (at < argc)
		return strdup(argv[at]);
	if (read_stdin(&buf, &len) < 0)
		return NULL;
	if (!buf || len == 0) {
		free(buf);
		return strdup("{}");
	}
	char *text = realloc(buf, len + 1);
	if (!text) {
		free(buf);
		return NULL;
	}
	text[len] = '\0';
	return text;
}

int json_out(const struct busctl *ctl, const bus_schema_t *s, const char *type,
	     const void *body, size_t len, const char *what)
{
	bus_error_t err;
	char *json = NULL;
	int pretty = ctl->json == BUSCTL_JSON_PRETTY ||
		     (ctl->json == BUSCTL_JSON_OFF && isatty(STDOUT_FILENO));
	unsigned flags = pretty ? BUS_JSON_PRETTY : 0;

	if (bus_json_decode(s, type, body, len, flags, &json, &err) < 0)
		return fail("%s: the reply does not decode as %s: %s", what, type, err.message);
	int r = json_print(json);
	free(json);
	if (r < 0)
		return fail("out of memory");
	return fflush(stdout) == 0 ? 0 : fail("writing the reply: %s", strerror(errno));
}

static int call_raw(struct busctl *ctl, const struct send_opts *o, const char *dest,
		    const char *method, const char *what)
{
	void *body, *reply = NULL;
	size_t len, reply_len = 0;
	bus_error_t err;

	int r = read_stdin(&body, &len);
	if (r < 0)
		return fail("reading the request body from stdin: %s", strerror(-r));
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		free(body);
		return 1;
	}
	if (o->no_reply) {
		r = send_no_reply(ctl, bus, dest, o->interface, method, o->type, body, len, o, what);
		free(body);
		bus_close(bus);
		return r;
	}
	r = bus_call_fds(bus, dest, o->interface, method, o->type, body, len, o->fds, o->n_fds,
			 ctl->timeout_usec, &err, &reply, &reply_len, NULL, NULL);
	free(body);
	bus_close(bus);
	if (r == -EINVAL && !bus_error_is_set(&err))
		return fail("%s: not a valid destination, interface, method or type name", what);
	if (r < 0)
		return fail_bus(what, &err);
	r = body_out(reply, reply_len, 0);
	free(reply);
	return r;
}

static int call_json(struct busctl *ctl, const struct send_opts *o, const char *dest,
		     const char *method, const char *json, const char *what)
{
	struct introspection in;
	bus_error_t err;
	const char *svc, *in_type, *out_type;
	void *body = NULL, *reply = NULL;
	size_t len = 0, reply_len = 0;
	int r;

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	struct schemas *sc = schemas_new(ctl, bus);
	if (!sc) {
		bus_close(bus);
		return fail("out of memory");
	}
	const bus_schema_t *s = schemas_get(sc);
	if (schemas_introspect(sc, dest, &in, &err) < 0) {
		r = fail_bus(what, &err);
		goto out;
	}
	r = bus_schema_method(s, o->interface, method, &svc, &in_type, &out_type);
	if (r == -EEXIST) {
		r = fail("%s: several services of %s have %s; choose one with --interface", what, dest,
			 method);
		goto out;
	}
	if (r < 0) {
		r = in.n_schemas ? fail("%s: the schemas of %s describe no method %s%s%s (see busctl "
				       "introspect %s)", what, dest, o->interface ? o->interface : "",
				       o->interface ? "." : "", method, dest)
				 : fail("%s: %s uploaded no schema; send an encoded body with --raw",
					what, dest);
		goto out;
	}
	if (bus_json_encode(s, in_type, json, &body, &len, &err) < 0) {
		r = fail("%s: the request is not a valid %s: %s", what, in_type, err.message);
		goto out;
	}
	if (o->no_reply) {
		r = send_no_reply(ctl, bus, dest, svc, method, in_type, body, len, o, what);
		goto out;
	}
	r = bus_call_fds(bus, dest, svc, method, in_type, body, len, o->fds, o->n_fds,
			 ctl->timeout_usec, &err, &reply, &reply_len, NULL, NULL);
	if (r < 0) {
		r = fail_bus(what, &err);
		goto out;
	}
	r = json_out(ctl, s, out_type, reply, reply_len, what);
out:
	free(body);
	free(reply);
	schemas_free(sc);
	bus_close(bus);
	return r;
}

static int call_send(struct busctl *ctl, const struct send_opts *opts, int argc, char **argv,
		     int first);

static int call_run(struct busctl *ctl, int argc, char **argv)
{
	struct send_opts o = { 0 };
	int first, r = command_options(&cmd_call, argc, argv, "i:T:r", call_options, send_opt, &o,
				       &first);
	if (r) {
		close_fds(&o);
		return r < 0 ? 0 : r;
	}
	r = call_send(ctl, &o, argc, argv, first);
	close_fds(&o);
	return r;
}

static int call_send(struct busctl *ctl, const struct send_opts *opts, int argc, char **argv,
		     int first)
{
	struct send_opts o = *opts;
	int r;

	if (argc - first < 2 || argc - first > 3 || (o.raw && argc - first != 2))
		return command_usage_error(&cmd_call, o.raw ? "expected NAME and METHOD"
						     : "expected NAME, METHOD and at most one JSON");
	if (o.type && !o.raw)
		return command_usage_error(&cmd_call, "--type goes with --raw (with JSON the "
					   "schema gives the type)");
	const char *dest = argv[first], *method = argv[first + 1];
	char what[300];
	snprintf(what, sizeof(what), "%s %s", dest, method);
	if (o.raw)
		return call_raw(ctl, &o, dest, method, what);
	char *json = json_input(argc, argv, first + 2);
	if (!json)
		return fail("reading the request from stdin: %s", strerror(errno));
	r = call_json(ctl, &o, dest, method, json, what);
	free(json);
	return r;
}

const struct command cmd_call = {
	"call", "[--interface IFACE] [--no-reply] [--fd FILE]... NAME METHOD [JSON] | --raw [--type TYPE] NAME METHOD",
	"Call METHOD of NAME, with JSON or an encoded body",
	"\nNAME is a well-known name (org.busd.Echo), a unique id (:3) or bus, busd\n"
	"itself (busctl call bus ListNames '{}'). busctl fetches the schema NAME's\n"
	"owner uploaded (for bus, busd's own), encodes the JSON request (the\n"
	"argument, else stdin, else {}) as the method's request type, and prints\n"
	"the reply as JSON (proto3 JSON mapping: lowerCamelCase names, 64-bit\n"
	"integers as strings, bytes as base64, enums by name), indented on a\n"
	"terminal and on one line otherwise. With --raw the request is the encoded\n"
	"protobuf message on stdin and the encoded reply goes to stdout (a hex dump\n"
	"on a terminal), for services without a schema and for protoc\n"
	"--encode/--decode. An error reply, a timeout or a lost connection prints\n"
	"one line \"busctl: NAME METHOD: ERROR.NAME: message\" and exits 1; so does\n"
	"a request that does not fit the schema, and one larger than busd accepts\n"
	"in a frame (bus.Error.LimitsExceeded, not sent). --json=pretty indents\n"
	"the reply, --json or --json=short keeps it on one line.\n"
	"\n"
	"With --no-reply the call is sent flagged NO_REPLY_EXPECTED and busctl\n"
	"prints nothing: neither the service nor busd answers such a call, not even\n"
	"with an error. busctl checks first that NAME has an owner (exit 1 if not)\n"
	"and waits until busd has routed the call; a call the policy refuses, an\n"
	"unknown method or a failing service go unseen (exit 0).\n"
	"\n"
	"--fd FILE (read-only) and --fd-write FILE (write-only, appending; FILE is\n"
	"not created) open FILE and pass the descriptor with the call, index 0,\n"
	"1, ... in the order given (a bus.Fd in the JSON request names one by its\n"
	"index: {\"fd\": 0} is the first); at most limits.max_fds_per_frame of them. Descriptors a reply\n"
	"carries are closed.\n\n"
	"Options:\n"
	"  -i, --interface IFACE    the protobuf service (busd.examples.Echo)\n"
	"                           when NAME serves several that share a\n"
	"                           method name\n"
	"  -r, --raw                encoded bodies on stdin and stdout\n"
	"  -T, --type TYPE          with --raw: the request's message type,\n"
	"                           checked by the service before it decodes\n"
	"                           the body\n"
	"      --no-reply           send the call and want no answer\n"
	"      --expect-reply BOOL  yes (the default) or no (as --no-reply)\n"
	"      --fd FILE            pass FILE, opened for reading, with the call\n"
	"      --fd-write FILE      pass FILE, opened for writing (appending)\n\n"
	"Examples:\n"
	"  busctl call org.busd.Echo Echo '{\"text\":\"hi\"}'\n"
	"  busctl call org.busd.Echo Echo --json=pretty --timeout 3 '{\"text\":\"hi\"}'\n"
	"  echo 'text: \"hi\"' | protoc --encode=busd.examples.EchoRequest echo.proto |\n"
	"    busctl call --raw org.busd.Echo Echo |\n"
	"    protoc --decode=busd.examples.EchoReply echo.proto\n",
	call_run,
};

/* ---------------------------------------------------------------- emit */

/* busd answers an event it refuses (the policy) with an ERROR. */
static void on_refused(bus_t *bus, enum bus_conn_event event, const char *subject,
		       const bus_error_t *err, void *userdata)
{
	(void)bus;
	(void)subject;
	if (event == BUS_CONN_REFUSED && err)
		*(bus_error_t *)userdata = *err;
}

/* After the event: one round trip to busd, so that a refusal has
 * arrived; then dispatch it. */
static int emit_refused(bus_t *bus, bus_error_t *refusal)
{
	bus_error_t err;

	busd_sync(bus, 5000000u, &err);
	while (bus_process(bus) > 0)
		;
	return bus_error_is_set(refusal);
}

static int emit_run(struct busctl *ctl, int argc, char **argv)
{
	struct send_opts o = { 0 };
	struct schemas *sc = NULL;
	bus_error_t err;
	void *body = NULL;
	size_t len = 0;
	int first, r = command_options(&cmd_emit, argc, argv, "T:r", send_options + 1, send_opt, &o,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	int n = argc - first;
	if (o.raw ? n != 1 : (n < 2 || n > 3))
		return command_usage_error(&cmd_emit, o.raw ? "expected one TOPIC"
						     : "expected TOPIC, TYPE and at most one JSON");
	if (o.type && !o.raw)
		return command_usage_error(&cmd_emit, "--type goes with --raw");
	const char *topic = argv[first], *type = o.raw ? o.type : argv[first + 1];

	if (o.raw) {
		r = read_stdin(&body, &len);
		if (r < 0)
			return fail("reading the event body from stdin: %s", strerror(-r));
	}
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		free(body);
		return 1;
	}
	if (!o.raw) {
		char *json = json_input(argc, argv, first + 2);
		if (!json || !(sc = schemas_new(ctl, bus))) {
			free(json);
			bus_close(bus);
			return fail("out of memory");
		}
		r = schemas_load_all(sc, &err);
		if (r == 0 && !bus_schema_has_type(schemas_get(sc), type)) {
			r = fail("emit %s: no schema on the bus describes %s; use --raw", topic, type);
		} else if (r < 0) {
			r = fail_bus("emit: loading the schemas on the bus", &err);
		} else if (bus_json_encode(schemas_get(sc), type, json, &body, &len, &err) < 0) {
			r = fail("emit %s: not a valid %s: %s", topic, type, err.message);
		}
		free(json);
		schemas_free(sc);
		if (r) {
			free(body);
			bus_close(bus);
			return r;
		}
	}
	bus_error_t refusal;
	bus_error_clear(&refusal);
	bus_set_connection_handler(bus, on_refused, &refusal);
	r = bus_emit_raw(bus, topic, type, body, len);
	size_t max = bus_get_max_frame_size(bus);
	free(body);
	if (r == 0)
		r = bus_flush(bus);
	if (r == 0 && emit_refused(bus, &refusal)) {
		bus_close(bus);
		return fail("emit %s: %s: %s", topic, refusal.name, refusal.message);
	}
	bus_close(bus);
	if (r == -EINVAL)
		return fail("emit %s: not a valid topic or type name", topic);
	if (r == -EMSGSIZE)
		return fail("emit %s: bus.Error.LimitsExceeded: a %zu-byte body makes the event larger "
			    "than the %zu bytes busd accepts in a frame (limits.max_frame_size less "
			    "512)", topic, len, max);
	if (r < 0)
		return fail("emit %s: %s", topic, strerror(-r));
	return 0;
}

const struct command cmd_emit = {
	"emit", "TOPIC TYPE [JSON] | --raw [--type TYPE] TOPIC",
	"Emit an event on TOPIC, from JSON or an encoded body",
	"\nTOPIC is a dotted name (sensor.temp0.reading). TYPE is the fully-qualified\n"
	"message type of the body (busd.examples.Reading), found in the schemas the\n"
	"peers on the bus uploaded; the JSON (the argument, else stdin, else {}) is\n"
	"encoded as TYPE. With --raw the body is the encoded message on stdin.\n"
	"Every peer subscribed to a matching pattern receives the event. busctl\n"
	"then makes one round trip to busd, so that it exits 1 when busd refused\n"
	"the event (bus.Error.AccessDenied: busd's [policy]), else 0.\n\n"
	"Options:\n"
	"  -r, --raw         the encoded body on stdin\n"
	"  -T, --type TYPE   with --raw: the body's type, carried in the header\n",
	emit_run,
};
