/* test-ping.c - libbus answers bus.Peer.Ping by itself, so busd's watchdog
 * can ask any program whether its loop still turns: a program that only
 * makes sync calls (while it waits in one), one driven by a libevent loop
 * that exports nothing, one with its own poll() loop that exports a
 * service, and services/echo (bus_run). Any other member of bus.Peer is
 * bus.Error.UnknownMethod, a Ping with a body of another type
 * bus.Error.InvalidArgs, and a Ping flagged NO_REPLY_EXPECTED is not
 * answered at all. busd answers it at bus too. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "raw.h"

#define SEC 1000000ull
#define EXP_NAME "org.test.PingExporter"
#define SYNC_NAME "org.test.PingSync"
#define EV_NAME "org.test.PingEvent"

/* Ping dest; returns 0 or the error's name in err. */
static int ping(bus_t *bus, const char *dest, const char *member, const char *type,
		bus_error_t *err)
{
	void *reply = NULL;
	size_t len = 0;
	int r = bus_call(bus, dest, "bus.Peer", member, type, NULL, 0, 10 * SEC, err, &reply, &len);
	free(reply);
	return r;
}

/* ---------------------------------------------------------------- sync-only */

/* Owns SYNC_NAME, says "ready UNIQUE", then waits in one sync call (the
 * exporter's Delay, held until the exporter quits) and reports how it
 * ended: "ended ERROR_NAME". */
static int sync_main(int ctl, void *arg)
{
	bus_t *bus = NULL;
	bus_error_t err;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, SYNC_NAME, &err) < 0) {
		harness_send(ctl, "error %s", err.name);
		return 1;
	}
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	req.ms = 600000;
	req.text = "sync";
	size_t len;
	void *body = harness_pack(&req.base, &len), *reply = NULL;
	int r = bus_call(bus, EXP_NAME, NULL, "Delay", "busd.examples.DelayRequest", body, len, 0,
			 &err, &reply, &len);
	free(body);
	free(reply);
	harness_send(ctl, "ended %s", r == 0 ? "ok" : err.name);
	bus_close(bus);
	return 0;
}

/* ---------------------------------------------------------------- libevent */

static void on_ctl(evutil_socket_t fd, short what, void *ud)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(ud);
}

/* Owns EV_NAME, exports nothing, runs a libevent loop until ctl says
 * anything (or closes). */
static int event_main(int ctl, void *arg)
{
	bus_t *bus = NULL;
	bus_error_t err;
	struct event_base *base = event_base_new();

	(void)arg;
	if (!base || bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, EV_NAME, &err) < 0 ||
	    bus_attach_event(bus, base) < 0) {
		harness_send(ctl, "error %s", base && bus ? err.name : "setup");
		return 1;
	}
	struct event *ev = event_new(base, ctl, EV_READ, on_ctl, base);
	event_add(ev, NULL);
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	event_base_dispatch(base);
	event_free(ev);
	bus_detach_event(bus);
	bus_close(bus);
	event_base_free(base);
	return 0;
}

/* ---------------------------------------------------------------- checks */

static void check_answers(bus_t *bus, const char *what, const char *name, const char *unique)
{
	bus_error_t err;

	int r = ping(bus, name, "Ping", "bus.Empty", &err);
	ok(r == 0, "%s answers bus.Peer.Ping at its name %s (%s)", what, name, r ? err.name : "ok");
	r = ping(bus, unique, "Ping", "", &err);
	ok(r == 0, "  and at its unique id, untyped (%s)", r ? err.name : "ok");
	r = ping(bus, name, "Reboot", "", &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_METHOD),
	   "  another member of bus.Peer: bus.Error.UnknownMethod (%s: %s)", err.name, err.message);
	r = ping(bus, name, "Ping", "busd.examples.EchoRequest", &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_INVALID_ARGS),
	   "  a Ping with a body of another type: bus.Error.InvalidArgs (%s)", err.name);
}

/* A Ping flagged NO_REPLY_EXPECTED gets no answer: a raw connection sends
 * one and then a Ping that wants one; the first frame back answers the
 * second. */
static void check_no_reply(const char *name)
{
	raw_conn c;
	raw_frame f;

	int up = raw_open(&c, harness_socket()) == 0 && raw_hello(&c, 1, &f, 5000) == 0;
	wire_header h = {
		.kind = WIRE_KIND_CALL, .flags = WIRE_FLAG_NO_REPLY_EXPECTED, .serial = ++c.serial,
		.destination = wire_str_c(name), .interface = wire_str_c("bus.Peer"),
		.member = wire_str_c("Ping"),
	};
	if (up)
		raw_send(&c, &h, NULL, 0);
	h.flags = 0;
	h.serial = ++c.serial;
	if (up)
		raw_send(&c, &h, NULL, 0);
	int r = up ? raw_recv(&c, &f, 10000) : -1;
	ok(r > 0 && f.h.kind == WIRE_KIND_REPLY && f.h.reply_serial == h.serial,
	   "a Ping flagged NO_REPLY_EXPECTED is not answered, the next one is (reply to %llu)",
	   r > 0 ? (unsigned long long)f.h.reply_serial : 0ull);
	raw_close(&c);
}

int main(void)
{
	harness_child echo, exp, sync, ev;
	char exp_unique[64], line[256], sync_unique[64], ev_unique[64];
	bus_error_t err;

	plan(30);
	harness_start(NULL);
	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	require(exporter_start(&exp, EXP_NAME, exp_unique) == 0, "the exporter is up");
	require(harness_fork(&sync, sync_main, NULL) == 0 &&
		harness_recv(sync.ctl, line, sizeof(line), 15000) > 0 &&
		sscanf(line, "ready %63s", sync_unique) == 1, "the sync-only program is up");
	require(harness_recv(exp.ctl, line, sizeof(line), 15000) > 0 &&
		strcmp(line, "delay sync") == 0, "  and waits in its sync call");
	require(harness_fork(&ev, event_main, NULL) == 0 &&
		harness_recv(ev.ctl, line, sizeof(line), 15000) > 0 &&
		sscanf(line, "ready %63s", ev_unique) == 1, "the libevent program is up");
	bus_t *bus = harness_connect();

	check_answers(bus, "a program waiting in a sync call", SYNC_NAME, sync_unique);
	check_answers(bus, "a libevent program that exports nothing", EV_NAME, ev_unique);
	check_answers(bus, "a program that exports a service", EXP_NAME, exp_unique);
	char echo_unique[64];
	harness_owner_of(bus, HARNESS_ECHO_NAME, echo_unique, sizeof(echo_unique));
	check_answers(bus, "services/echo (bus_run)", HARNESS_ECHO_NAME, echo_unique);
	ok(ping(bus, bus_unique_name(bus), "Ping", "", &err) == 0,
	   "a connection pinging itself answers from the wait of its own call (%s)", err.name);
	check_no_reply(EV_NAME);
	ok(ping(bus, BUS_NAME, "Ping", "bus.Empty", &err) == 0, "busd answers bus.Peer.Ping at bus (%s)",
	   err.name);
	ok(ping(bus, BUS_NAME, "Reboot", "", &err) == -EREMOTE &&
	   bus_error_has_name(&err, BUS_ERROR_UNKNOWN_METHOD),
	   "  and another member of bus.Peer there with bus.Error.UnknownMethod (%s)", err.name);

	/* The sync call went on meanwhile: it ends when its callee goes. */
	harness_send(exp.ctl, "quit");
	is_int(harness_wait(&exp, 10000), 0, "the exporter exits");
	ok(harness_recv(sync.ctl, line, sizeof(line), 15000) > 0 &&
	   strcmp(line, "ended " BUS_ERROR_NO_REPLY) == 0,
	   "the sync call the pings came into ends only when its callee goes (%s)", line);
	is_int(harness_wait(&sync, 10000), 0, "the sync-only program exits");
	harness_send(ev.ctl, "quit");
	is_int(harness_wait(&ev, 10000), 0, "the libevent program exits");
	bus_close(bus);
	return harness_done();
}
