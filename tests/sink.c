/* sink.c - a callee that takes calls and never answers them, for
 * test-reincarnate.c: it serves busd.examples.Echo with echo.proto's real
 * schema (Echo marked safe to repeat), so a call to it stays in flight
 * until the test kills it, as many times as the test likes.
 *
 *   sink [--no-schema] NAME
 *
 * The schema and the export come before the name, as services/echo does:
 * busd knows what the method is once calls reach it. With --no-schema the
 * real schema is not added: libbus makes one from the descriptors, which
 * marks no method. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <bus/bus.h>

#include "echo.pb-c.h"

extern const unsigned char proto_echo_fds[];
extern const size_t proto_echo_fds_len;

static void sink_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *in,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc, (void)in, (void)closure, (void)closure_data; /* never answered */
}

static void sink_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *in,
		       Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc, (void)in, (void)closure, (void)closure_data;
}

static void sink_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *in,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc, (void)in, (void)closure, (void)closure_data;
}

int main(int argc, char **argv)
{
	Busd__Examples__Echo_Service service = BUSD__EXAMPLES__ECHO__INIT(sink_);
	bus_error_t err;
	bus_t *bus = NULL;
	int schema = argc == 2;

	if (argc != 2 && (argc != 3 || strcmp(argv[1], "--no-schema") != 0)) {
		fprintf(stderr, "usage: sink [--no-schema] NAME\n");
		return 2;
	}
	const char *name = argv[argc - 1];
	if (bus_connect(&bus, NULL, &err) < 0 ||
	    (schema && bus_add_schema(bus, proto_echo_fds, proto_echo_fds_len, &err) < 0) ||
	    bus_export(bus, NULL, name, &service.base, &err) < 0 ||
	    bus_request_name(bus, name, &err) < 0) {
		fprintf(stderr, "sink: %s: %s\n", err.name, err.message);
		bus_close(bus);
		return 1;
	}
	int r = bus_run(bus);
	bus_close(bus);
	return r < 0;
}
