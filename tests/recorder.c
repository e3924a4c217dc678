/* recorder.c - a callee for the busctl tests that writes down what it gets:
 * it serves busd.examples.Echo (proto/echo.proto, schema uploaded) under
 * NAME and, for every call, appends one line to FILE before answering:
 *
 *   METHOD TEXT reply=yes|no
 *
 * (reply=no: the call came flagged NO_REPLY_EXPECTED). Echo answers its
 * request, Delay answers at once, Fail fails.
 *
 *   recorder FILE NAME
 *
 * "ready" on stdout once the name is owned; serves until killed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <bus/bus.h>
#include "echo.pb-c.h"

extern const unsigned char proto_echo_fds[];
extern const size_t proto_echo_fds_len;

static FILE *record;

static void note(const char *method, const char *text, void *closure_data)
{
	const bus_msg_t *m = bus_call_msg(closure_data);

	fprintf(record, "%s %s reply=%s\n", method, text,
		m && (m->flags & BUS_FLAG_NO_REPLY_EXPECTED) ? "no" : "yes");
	fflush(record);
}

static void rec_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *in,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply out = BUSD__EXAMPLES__ECHO_REPLY__INIT;

	(void)svc;
	note("Echo", in->text, closure_data);
	out.text = in->text;
	out.data = in->data;
	closure(&out, closure_data);
}

static void rec_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *in,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply out = BUSD__EXAMPLES__ECHO_REPLY__INIT;

	(void)svc;
	note("Delay", in->text, closure_data);
	out.text = in->text;
	closure(&out, closure_data);
}

static void rec_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *in,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)closure;
	note("Fail", in->message, closure_data);
	bus_call_fail(closure_data, "org.test.Recorder.Error.Failed", "%s", in->message);
}

int main(int argc, char **argv)
{
	Busd__Examples__Echo_Service service = BUSD__EXAMPLES__ECHO__INIT(rec_);
	bus_error_t err;
	bus_t *bus = NULL;

	if (argc != 3) {
		fprintf(stderr, "usage: recorder FILE NAME\n");
		return 2;
	}
	if (!(record = fopen(argv[1], "a"))) {
		perror(argv[1]);
		return 1;
	}
	int r = bus_connect(&bus, NULL, &err);
	if (r >= 0)
		r = bus_add_schema(bus, proto_echo_fds, proto_echo_fds_len, &err);
	if (r >= 0)
		r = bus_export(bus, NULL, argv[2], &service.base, &err);
	if (r >= 0)
		r = bus_request_name(bus, argv[2], &err);
	if (r < 0) {
		fprintf(stderr, "recorder: %s: %s\n", err.name, err.message);
		bus_close(bus);
		fclose(record);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	r = bus_run(bus);
	bus_close(bus);
	fclose(record);
	return r < 0;
}
