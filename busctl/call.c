/* call.c - busctl call and emit: a body from stdin goes out as one CALL or
 * EVENT frame; a reply body comes back on stdout, as bytes for a pipe and as
 * a hex dump for a terminal (unless --raw). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "busctl.h"

struct send_opts {
	const char *interface;
	const char *type;
	int raw;
};

static int send_opt(int opt, const char *arg, void *ud)
{
	struct send_opts *o = ud;

	switch (opt) {
	case 'i': o->interface = arg; return 0;
	case 'T': o->type = arg; return 0;
	case 'r': o->raw = 1; return 0;
	default: return EXIT_USAGE;
	}
}

static const struct option send_options[] = {
	{ "interface", required_argument, NULL, 'i' },
	{ "type", required_argument, NULL, 'T' },
	{ "raw", no_argument, NULL, 'r' },
	{ NULL, 0, NULL, 0 },
};

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

static int call_run(struct busctl *ctl, int argc, char **argv)
{
	struct send_opts o = { 0 };
	int first, r = command_options(&cmd_call, argc, argv, "i:T:r", send_options, send_opt, &o,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	if (argc - first != 2)
		return command_usage_error(&cmd_call, "expected NAME and METHOD");
	const char *dest = argv[first], *method = argv[first + 1];

	void *body, *reply = NULL;
	size_t len, reply_len = 0;
	r = read_stdin(&body, &len);
	if (r < 0)
		return fail("reading the request body from stdin: %s", strerror(-r));
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		free(body);
		return 1;
	}
	bus_error_t err;
	char what[300];
	snprintf(what, sizeof(what), "%s %s", dest, method);
	r = bus_call(bus, dest, o.interface, method, o.type, body, len, ctl->timeout_usec, &err,
		     &reply, &reply_len);
	free(body);
	bus_close(bus);
	if (r == -EINVAL && !bus_error_is_set(&err))
		return fail("%s: not a valid destination, interface, method or type name", what);
	if (r < 0)
		return fail_bus(what, &err);
	r = body_out(reply, reply_len, o.raw);
	free(reply);
	return r;
}

const struct command cmd_call = {
	"call", "[--interface IFACE] [--type TYPE] [--raw] NAME METHOD",
	"Call METHOD of NAME with the request body read from stdin",
	"\nNAME is a well-known name (org.busd.Echo) or a unique id (:3). The request\n"
	"is the encoded protobuf message on stdin (empty when stdin is a terminal);\n"
	"the reply's encoded body goes to stdout. On a terminal it is shown as a hex\n"
	"dump instead, unless --raw. An error reply, a timeout (--timeout) or a lost\n"
	"connection prints one line \"busctl: NAME METHOD: ERROR.NAME: message\" and\n"
	"exits 1.\n\n"
	"Options:\n"
	"  -i, --interface IFACE  the protobuf service (busd.examples.Echo) when NAME\n"
	"                         serves several that share a method name\n"
	"  -T, --type TYPE        the request's message type (busd.examples.EchoRequest),\n"
	"                         checked by the service before it decodes the body\n"
	"  -r, --raw              write the reply's bytes even to a terminal\n\n"
	"Example, with protoc doing the encoding:\n"
	"  echo 'text: \"hi\"' | protoc --encode=busd.examples.EchoRequest echo.proto |\n"
	"    busctl call org.busd.Echo Echo |\n"
	"    protoc --decode=busd.examples.EchoReply echo.proto\n",
	call_run,
};

/* ---------------------------------------------------------------- emit */

static int emit_run(struct busctl *ctl, int argc, char **argv)
{
	struct send_opts o = { 0 };
	int first, r = command_options(&cmd_emit, argc, argv, "T:", send_options + 1, send_opt, &o,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	if (o.raw)
		return command_usage_error(&cmd_emit, "--raw applies to call only");
	if (argc - first != 1)
		return command_usage_error(&cmd_emit, "expected one TOPIC");
	const char *topic = argv[first];

	void *body;
	size_t len;
	r = read_stdin(&body, &len);
	if (r < 0)
		return fail("reading the event body from stdin: %s", strerror(-r));
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		free(body);
		return 1;
	}
	r = bus_emit_raw(bus, topic, o.type, body, len);
	free(body);
	if (r == 0)
		r = bus_flush(bus);
	bus_close(bus);
	if (r == -EINVAL)
		return fail("emit %s: not a valid topic or type name", topic);
	if (r == -EMSGSIZE)
		return fail("emit %s: the body is larger than the frame limit", topic);
	if (r < 0)
		return fail("emit %s: %s", topic, strerror(-r));
	return 0;
}

const struct command cmd_emit = {
	"emit", "[--type TYPE] TOPIC",
	"Emit an event on TOPIC with the body read from stdin",
	"\nTOPIC is a dotted name (sensor.temp0.reading). The body is the encoded\n"
	"protobuf message on stdin (empty when stdin is a terminal); every peer\n"
	"subscribed to a matching pattern receives it. Exits once the event is\n"
	"written to busd's socket.\n\n"
	"Options:\n"
	"  -T, --type TYPE   the body's message type, carried in the header\n",
	emit_run,
};
