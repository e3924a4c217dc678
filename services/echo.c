/* echo.c - the example service org.busd.Echo: how to write a busd process
 * around libevent. Echo answers at once, Delay answers later from a timer
 * (the call stays open while the loop serves others), Fail answers an error.
 *
 *   services/echo [--socket PATH] [--name NAME]
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include <bus/bus.h>
#include "echo.pb-c.h"

/* echo.proto's FileDescriptorSet, linked in by the build (proto/echo.fds.c). */
extern const unsigned char proto_echo_fds[];
extern const size_t proto_echo_fds_len;

#define ECHO_ERROR_FAILED "org.busd.Echo.Error.Failed"
#define DELAY_MAX_MS (10u * 60u * 1000u)

#define PROG "echo"

static struct event_base *base;

/* A Delay call waiting for its timer; kept in a list so that a shutdown
 * answers (and frees) every one of them. */
struct delayed {
	struct delayed *prev, *next;
	struct event *timer;
	char *text;
	Busd__Examples__EchoReply_Closure closure;
	void *closure_data;
};
static struct delayed *delayed_calls;

static void delayed_finish(struct delayed *d, int reply)
{
	if (reply) {
		Busd__Examples__EchoReply out = BUSD__EXAMPLES__ECHO_REPLY__INIT;
		out.text = d->text;
		d->closure(&out, d->closure_data);
	} else {
		bus_call_fail(d->closure_data, ECHO_ERROR_FAILED, "the echo service is stopping");
	}
	if (d->prev)
		d->prev->next = d->next;
	else
		delayed_calls = d->next;
	if (d->next)
		d->next->prev = d->prev;
	event_free(d->timer);
	free(d->text);
	free(d);
}

static void delayed_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	delayed_finish(arg, 1);
}

/* ---------------------------------------------------------------- methods */

static void echo_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *in,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply out = BUSD__EXAMPLES__ECHO_REPLY__INIT;

	(void)svc;
	out.text = in->text;
	out.data = in->data;
	closure(&out, closure_data);
}

static void echo_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *in,
		       Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	struct delayed *d;

	(void)svc;
	if (in->ms > DELAY_MAX_MS) {
		bus_call_fail(closure_data, BUS_ERROR_INVALID_ARGS,
			      "ms must be at most %u, not %u", DELAY_MAX_MS, in->ms);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->text = strdup(in->text)) ||
	    !(d->timer = evtimer_new(base, delayed_fire, d))) {
		if (d)
			free(d->text);
		free(d);
		bus_call_fail(closure_data, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	d->closure = closure;
	d->closure_data = closure_data;
	d->next = delayed_calls;
	if (d->next)
		d->next->prev = d;
	delayed_calls = d;
	struct timeval tv = { .tv_sec = in->ms / 1000, .tv_usec = (in->ms % 1000) * 1000 };
	evtimer_add(d->timer, &tv);
}

static void echo_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *in,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)closure;
	bus_call_fail(closure_data, ECHO_ERROR_FAILED, "%s",
		      in->message[0] ? in->message : "failed as asked");
}

/* ---------------------------------------------------------------- main */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static void on_disconnect(bus_t *bus, void *userdata)
{
	(void)bus;
	*(int *)userdata = 1;
	event_base_loopbreak(base);
}

/* --reconnect: busd went away and came back, or is being waited for. */
static void on_connection(bus_t *b, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *userdata)
{
	(void)b;
	if (event == BUS_CONN_LOST) {
		fprintf(stderr, "%s: %s; reconnecting\n", PROG,
			err ? err->message : "lost the connection to busd");
	} else if (event == BUS_CONN_RESTORED) {
		fprintf(stderr, "%s: reconnected to busd as %s\n", PROG, subject);
	} else if (event == BUS_CONN_NAME_LOST) {
		/* someone else took the name meanwhile: nothing left to serve */
		fprintf(stderr, "%s: %s was taken while busd was away: %s\n", PROG, subject,
			err ? err->message : "");
		*(int *)userdata = 1;
		event_base_loopbreak(base);
	} else if (err) {
		fprintf(stderr, "%s: after reconnecting: %s: %s\n", PROG, err->name, err->message);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: echo [--socket PATH] [--name NAME] [--reconnect]\n"
		   "Serve busd.examples.Echo (Echo, Delay, Fail) under NAME (default org.busd.Echo).\n"
		   "The socket defaults to $BUS_ADDRESS, then /run/busd/bus.sock as root and\n"
		   "$XDG_RUNTIME_DIR/busd.sock for other users.\n"
		   "  -r, --reconnect  when busd goes away, keep running: reconnect (with\n"
		   "                   backoff), own NAME again and go on serving; without it\n"
		   "                   the program exits 1 when busd goes away.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "reconnect", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Busd__Examples__Echo_Service service = BUSD__EXAMPLES__ECHO__INIT(echo_);
	const char *socket = NULL, *name = "org.busd.Echo";
	bus_error_t err;
	bus_t *bus;
	int c, lost = 0, reconnect = 0;

	while ((c = getopt_long(argc, argv, "s:n:rh", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'n': name = optarg; break;
		case 'r': reconnect = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (bus_connect(&bus, socket, &err) < 0) {
		fprintf(stderr, "echo: %s: %s\n", err.name, err.message);
		return 1;
	}
	/* The schema, then the export, then the name: busd reads a connection's
	 * frames in order, so once the name shows in busctl list, busctl
	 * introspect can describe what is served under it. */
	if (bus_add_schema(bus, proto_echo_fds, proto_echo_fds_len, &err) < 0)
		fprintf(stderr, "echo: schema not registered (introspection will not work): %s: %s\n",
			err.name, err.message);
	if (bus_export(bus, NULL, name, &service.base, &err) < 0 ||
	    bus_request_name(bus, name, &err) < 0) {
		fprintf(stderr, "echo: cannot serve %s: %s: %s\n", name, err.name, err.message);
		bus_close(bus);
		return 1;
	}

	base = event_base_new();
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	if (!base || !sigterm || !sigint || event_add(sigterm, NULL) < 0 ||
	    event_add(sigint, NULL) < 0 || bus_attach_event(bus, base) < 0) {
		fprintf(stderr, "echo: cannot set up the event loop\n");
		return 1;
	}
	if (reconnect) {
		bus_set_connection_handler(bus, on_connection, &lost);
		bus_set_reconnect(bus, 1);
	} else {
		bus_set_disconnect_handler(bus, on_disconnect, &lost);
	}
	event_base_dispatch(base);

	while (delayed_calls)
		delayed_finish(delayed_calls, 0);
	bus_flush(bus); /* the answers above */
	bus_close(bus);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	if (lost) {
		fprintf(stderr, "echo: lost the connection to busd\n");
		return 1;
	}
	return 0;
}
