/* test-reconnect.c - libbus across broker restarts: with bus_set_reconnect()
 * a connection survives kill -9 of busd by itself (names, schemas, exports,
 * subscriptions, watches and monitors come back on the new connection),
 * pending calls fail exactly once with bus.Error.Disconnected, calls made
 * while it is down fail at once, what is registered while it is down (also
 * with the async forms) is kept, the handler hears lost then restored, the
 * tries back off as documented, a try never blocks bus_process() (busd
 * stopped with SIGSTOP), and bus_close() during the backoff frees everything
 * (the sanitizer build checks for leaks). Also the watch-name API: a name
 * appearing and disappearing, ending a watch with its slot, bus_wait_name(). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include <bus/bus.h>
#include "bus.pb-c.h"
#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "tap.h"

#define SVC_NAME "org.test.Comeback"
#define SECOND 1000000ull
/* How long a try may wait for busd's answers (RESTORE_TIMEOUT in libbus). */
#define RESTORE_WAIT (5 * SECOND)

/* Any bytes do for a schema: busd stores them as they are. */
static const uint8_t schema_blob[] = "\x0a\x0a\x0a\x08" "back.proto";
static const uint8_t schema_blob2[] = "\x0a\x0a\x0a\x08" "late.proto";

static uint64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---------------------------------------------------------------- recorders */

/* What a connection handler heard, one line per report. */
struct conn_log {
	char ev[16][160];
	int n;
	int lost, restored;
};

static void log_conn(bus_t *bus, enum bus_conn_event event, const char *subject,
		     const bus_error_t *err, void *ud)
{
	struct conn_log *l = ud;
	char line[160];

	(void)bus;
	switch (event) {
	case BUS_CONN_LOST:
		snprintf(line, sizeof(line), "lost %s", err ? err->name : "?");
		l->lost++;
		break;
	case BUS_CONN_RESTORED:
		snprintf(line, sizeof(line), "restored %s", subject ? subject : "?");
		l->restored++;
		break;
	case BUS_CONN_NAME_LOST:
		snprintf(line, sizeof(line), "namelost %s %s", subject ? subject : "?", err ? err->name : "?");
		break;
	case BUS_CONN_SUBSCRIBE_FAILED:
		snprintf(line, sizeof(line), "subfail %s", subject ? subject : "?");
		break;
	case BUS_CONN_SCHEMA_FAILED:
		snprintf(line, sizeof(line), "schemafail");
		break;
	default:
		snprintf(line, sizeof(line), "unknown %d", event);
		break;
	}
	if (l->n < 16)
		snprintf(l->ev[l->n++], sizeof(l->ev[0]), "%s", line);
}

/* What a name watch reported: the owner, or "-" for none; and the async
 * form's outcome (first: harness_on_done records it). */
struct watch_log {
	struct harness_outcome done;
	char owner[32][32];
	int n;
};

static void log_watch(bus_t *bus, const char *name, const char *owner, void *ud)
{
	struct watch_log *l = ud;

	(void)bus;
	(void)name;
	if (l->n < 32)
		snprintf(l->owner[l->n++], sizeof(l->owner[0]), "%s", owner ? owner : "-");
}

static const char *watch_last(const struct watch_log *l)
{
	return l->n ? l->owner[l->n - 1] : "(nothing)";
}

/* Loop until the watch's last report is want. */
static int watch_until(bus_t *bus, struct watch_log *l, const char *want, int ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)ms;
	while (harness_now_ms() < deadline) {
		if (l->n && strcmp(watch_last(l), want) == 0)
			return 1;
		harness_loop_for(bus, 10);
	}
	return l->n && strcmp(watch_last(l), want) == 0;
}

/* An async call's completions. */
struct call_rec {
	int n;
	char err[128];
};

static void rec_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct call_rec *c = ud;

	(void)bus;
	(void)reply;
	c->n++;
	snprintf(c->err, sizeof(c->err), "%s", err ? err->name : "");
}

static void count_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	(*(int *)ud)++;
}

/* A subscription's events and the async form's outcome (first:
 * harness_on_done records it). */
struct sub_rec {
	struct harness_outcome done;
	int events;
};

static void sub_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	((struct sub_rec *)ud)->events++;
}

/* ---------------------------------------------------------------- calls */

static int echo_call(bus_t *bus, const char *text, char *out, size_t outlen, bus_error_t *err)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len, rlen = 0;
	void *rep = NULL;

	req.text = (char *)text;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(bus, SVC_NAME, "busd.examples.Echo", "Echo", "busd.examples.EchoRequest",
			 body, len, 5 * SECOND, err, &rep, &rlen);
	free(body);
	if (r < 0)
		return r;
	Busd__Examples__EchoReply *er = busd__examples__echo_reply__unpack(NULL, rlen, rep);
	free(rep);
	if (!er)
		return -EBADMSG;
	snprintf(out, outlen, "%s", er->text);
	busd__examples__echo_reply__free_unpacked(er, NULL);
	return 0;
}

static int echo_async(bus_t *bus, const char *method, const ProtobufCMessage *req,
		      struct call_rec *rec)
{
	size_t len;
	void *body = harness_pack(req, &len);
	int r = bus_call_async(bus, NULL, SVC_NAME, "busd.examples.Echo", method, req->descriptor->name,
			       body, len, 30 * SECOND, rec_reply, rec);
	free(body);
	return r;
}

static Bus__IntrospectReply *introspect(bus_t *bus, const char *name)
{
	Bus__IntrospectRequest req = BUS__INTROSPECT_REQUEST__INIT;
	bus_error_t err;

	req.name = (char *)name;
	return (Bus__IntrospectReply *)harness_control(bus, "Introspect", &req.base,
						       &bus__introspect_reply__descriptor, &err);
}

/* Wait for a line starting with prefix from a child; the rest goes to rest. */
static int recv_line(harness_child *c, const char *prefix, char *rest, size_t len, int ms)
{
	char line[256];
	uint64_t deadline = harness_now_ms() + (uint64_t)ms;
	while (harness_now_ms() < deadline) {
		int n = harness_recv(c->ctl, line, sizeof(line), (int)(deadline - harness_now_ms()) + 1);
		if (n < 0)
			return n;
		if (strncmp(line, prefix, strlen(prefix)) == 0) {
			snprintf(rest, len, "%s", line + strlen(prefix));
			return 0;
		}
		diag("child said: %s", line);
	}
	return -ETIMEDOUT;
}

/* Process bus until it has made n tries to reconnect: each failed try
 * schedules the next, which bus_get_timeout() shows. 1 when it has. */
static int wait_tries(bus_t *bus, int n, int ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)ms, due = 0, at;
	int tries = -1;

	while (tries < n && harness_now_ms() < deadline) {
		if (bus_get_timeout(bus, &at) == 0 && at != due) {
			due = at;
			tries++;
		}
		harness_loop_for(bus, 10);
	}
	return tries >= n;
}

static void restart_busd(void)
{
	harness_start(NULL); /* the same socket path as before */
}

/* ---------------------------------------------------------------- the service */

/* A service process that only calls bus_set_reconnect(): it owns SVC_NAME,
 * has a schema, exports Echo, answers test.ping with test.pong, and holds
 * one Delay call until told "answer". Reports on ctl: "ready UNIQUE",
 * "held TEXT", "conn lost", "conn restored UNIQUE", "answered R". */
static int svc_ctl = -1;
static Busd__Examples__EchoReply_Closure held_closure;
static void *held_data;

static void svc_echo(Busd__Examples__Echo_Service *s, const Busd__Examples__EchoRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply reply = BUSD__EXAMPLES__ECHO_REPLY__INIT;

	(void)s;
	reply.text = req->text;
	closure(&reply, closure_data);
}

static void svc_delay(Busd__Examples__Echo_Service *s, const Busd__Examples__DelayRequest *req,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)s;
	if (held_data) {
		bus_call_fail(closure_data, EXPORTER_ERROR, "already holding a call");
		return;
	}
	held_closure = closure;
	held_data = closure_data;
	harness_send(svc_ctl, "held %s", req->text);
}

static void svc_fail(Busd__Examples__Echo_Service *s, const Busd__Examples__FailRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)s;
	(void)closure;
	bus_call_fail(closure_data, EXPORTER_ERROR, "%s", req->message);
}

static Busd__Examples__Echo_Service svc_service = BUSD__EXAMPLES__ECHO__INIT(svc_);

static void svc_ping(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)ud;
	bus_emit_raw(bus, "test.pong", ev->body_type, ev->body, ev->body_len);
}

static void svc_conn(bus_t *bus, enum bus_conn_event event, const char *subject,
		     const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)ud;
	if (event == BUS_CONN_LOST)
		harness_send(svc_ctl, "conn lost");
	else if (event == BUS_CONN_RESTORED)
		harness_send(svc_ctl, "conn restored %s", subject);
	else
		harness_send(svc_ctl, "conn failed %d %s %s", event, subject ? subject : "-",
			     err ? err->name : "-");
}

static void svc_line(bus_t *bus, const char *line, void *ud)
{
	(void)bus;
	(void)ud;
	if (strcmp(line, "answer") == 0 && held_data) {
		/* Held since before the restart: nothing may go out. */
		int r = bus_call_fail(held_data, EXPORTER_ERROR, "late");
		held_data = NULL;
		harness_send(svc_ctl, "answered %d", r);
	}
}

static int svc_main(int ctl, void *arg)
{
	bus_error_t err = { .name = "" };
	bus_t *bus = NULL;

	(void)arg;
	svc_ctl = ctl;
	if (bus_connect(&bus, NULL, &err) < 0 || bus_set_reconnect(bus, 1) < 0) {
		harness_send(ctl, "error connect %s", err.name);
		return 1;
	}
	bus_set_connection_handler(bus, svc_conn, NULL);
	if (bus_request_name(bus, SVC_NAME, &err) < 0 ||
	    bus_add_schema(bus, schema_blob, sizeof(schema_blob) - 1, &err) < 0 ||
	    bus_export(bus, NULL, SVC_NAME, &svc_service.base, &err) < 0 ||
	    bus_subscribe(bus, NULL, "test.ping", svc_ping, NULL, &err) < 0) {
		harness_send(ctl, "error setup %s %s", err.name, err.message);
		return 1;
	}
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	int r = exporter_serve(bus, ctl, svc_line, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

/* ---------------------------------------------------------------- tests */

static void test_service_comes_back(void)
{
	harness_child svc;
	char svc1[64], svc2[64], text[64], buf[64];
	struct conn_log clog = { .n = 0 };
	struct watch_log wlog = { .n = 0 };
	struct call_rec delayed = { 0 }, echoes[20];
	bus_error_t err;
	int pongs = 0;

	memset(echoes, 0, sizeof(echoes));
	require(harness_fork(&svc, svc_main, NULL) == 0 &&
		recv_line(&svc, "ready ", svc1, sizeof(svc1), 5000) == 0,
		"the reconnecting service starts");
	bus_t *cl = harness_connect();
	is_int(bus_set_reconnect(cl, 1), 0, "bus_set_reconnect(bus, 1)");
	bus_set_connection_handler(cl, log_conn, &clog);
	is_int(bus_subscribe(cl, NULL, "test.pong", count_event, &pongs, &err), 0,
	       "the client subscribes to test.pong");
	is_int(bus_watch_name(cl, NULL, SVC_NAME, log_watch, &wlog, &err), 0, "the client watches %s",
	       SVC_NAME);
	watch_until(cl, &wlog, svc1, 5000);
	ok(wlog.n == 1 && strcmp(wlog.owner[0], svc1) == 0,
	   "  first report: the current owner, the service (%s)", watch_last(&wlog));
	ok(echo_call(cl, "one", text, sizeof(text), &err) == 0 && strcmp(text, "one") == 0,
	   "before the restart a call works");
	bus_emit_raw(cl, "test.ping", "", NULL, 0);
	harness_loop_until(cl, &pongs, 5000);
	is_int(pongs, 1, "  and an event goes round (ping, pong)");

	/* Mid-traffic: a call the service holds, and echoes in flight. */
	Busd__Examples__DelayRequest dreq = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	dreq.ms = 60000;
	dreq.text = (char *)"held";
	is_int(echo_async(cl, "Delay", &dreq.base, &delayed), 0, "a Delay call is sent");
	ok(recv_line(&svc, "held ", buf, sizeof(buf), 5000) == 0, "  and held by the service");
	Busd__Examples__EchoRequest ereq = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	ereq.text = (char *)"burst";
	int sent = 0;
	for (int i = 0; i < 20; i++)
		sent += echo_async(cl, "Echo", &ereq.base, &echoes[i]) == 0;
	is_int(sent, 20, "20 more calls are sent");

	harness_kill();
	harness_loop_until(cl, &clog.lost, 5000);
	is_int(clog.lost, 1, "kill -9 busd: the handler hears of the loss");
	ok(clog.n == 1 && strcmp(clog.ev[0], "lost " BUS_ERROR_DISCONNECTED) == 0,
	   "  BUS_CONN_LOST with bus.Error.Disconnected (%s)", clog.n ? clog.ev[0] : "");
	is_int(delayed.n, 1, "the call pending at the kill completes once");
	is_str(delayed.err, BUS_ERROR_DISCONNECTED, "  with bus.Error.Disconnected");
	int once = 1, total = 0;
	for (int i = 0; i < 20; i++) {
		once &= echoes[i].n == 1;
		total += echoes[i].n;
	}
	ok(once && total == 20, "each call in flight completed exactly once (%d completions)", total);
	is_str(watch_last(&wlog), "-", "the watch reports the name gone");
	is_int(bus_is_connected(cl), 0, "bus_is_connected() is 0");
	is_int(bus_get_fd(cl), -1, "bus_get_fd() is -1 while there is no socket");
	is_int(bus_get_events(cl), 0, "bus_get_events() is 0");
	is_int(bus_process(cl), 0, "bus_process() returns 0, not -ECONNRESET, while reconnecting");

	uint64_t t0 = now_usec();
	int r = echo_call(cl, "down", text, sizeof(text), &err);
	uint64_t took = now_usec() - t0;
	is_int(r, -ECONNRESET, "a sync call while disconnected: -ECONNRESET");
	is_str(err.name, BUS_ERROR_DISCONNECTED, "  bus.Error.Disconnected");
	ok(took < 5 * SECOND / 2, "  at once, not after its 5 s timeout (%llu us)",
	   (unsigned long long)took);
	is_int(echo_async(cl, "Echo", &ereq.base, &echoes[0]), -ECONNRESET,
	       "an async call while disconnected: -ECONNRESET");
	is_int(bus_emit_raw(cl, "test.ping", "", NULL, 0), -ECONNRESET, "an emit: -ECONNRESET");
	r = bus_request_name(cl, "org.test.Never", &err);
	ok(r == -ECONNRESET && bus_error_has_name(&err, BUS_ERROR_DISCONNECTED),
	   "bus_request_name: -ECONNRESET, bus.Error.Disconnected");
	ok(recv_line(&svc, "conn lost", buf, sizeof(buf), 5000) == 0, "the service hears of the loss");

	ok(wait_tries(cl, 3, 10000), "three tries fail against a dead socket");
	is_int(clog.n, 1, "  failed tries are not reported");
	restart_busd();
	harness_loop_until(cl, &clog.restored, 10000);
	ok(clog.n == 2 && strncmp(clog.ev[1], "restored :", 10) == 0,
	   "busd back: the handler hears BUS_CONN_RESTORED with the new unique id (%s)",
	   clog.n > 1 ? clog.ev[clog.n - 1] : "");
	ok(clog.n == 2 && strcmp(clog.ev[1] + 9, bus_unique_name(cl)) == 0,
	   "  which bus_unique_name() returns");
	is_int(bus_is_connected(cl), 1, "  bus_is_connected() is 1");
	ok(recv_line(&svc, "conn restored ", svc2, sizeof(svc2), 10000) == 0,
	   "the service reconnects by itself (%s)", svc2);
	ok(watch_until(cl, &wlog, svc2, 5000), "the watch reports the service back under its new id");
	is_int(bus_wait_name(cl, SVC_NAME, 5 * SECOND, &err), 0, "bus_wait_name() returns 0: it has an owner");
	ok(echo_call(cl, "two", text, sizeof(text), &err) == 0 && strcmp(text, "two") == 0,
	   "calls to the service's name work again (%s)", err.name);
	Bus__IntrospectReply *in = introspect(cl, SVC_NAME);
	ok(in && strcmp(in->unique_name, svc2) == 0 && in->n_services == 1 &&
	   strcmp(in->services[0], "busd.examples.Echo") == 0,
	   "the service's export was announced again");
	ok(in && in->n_schema_ids == 2,
	   "  and its schema uploaded again, with the one libbus made for busd.examples.Echo");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	bus_emit_raw(cl, "test.ping", "", NULL, 0);
	uint64_t until = harness_now_ms() + 5000;
	while (pongs < 2 && harness_now_ms() < until)
		harness_loop_for(cl, 10);
	is_int(pongs, 2, "both subscriptions came back: ping reaches the service, pong the client");

	harness_send(svc.ctl, "answer");
	ok(recv_line(&svc, "answered ", buf, sizeof(buf), 5000) == 0 && atoi(buf) == -ECONNRESET,
	   "answering a call from before the restart sends nothing: -ECONNRESET (%s)", buf);
	ok(echo_call(cl, "three", text, sizeof(text), &err) == 0, "  and the service keeps serving");
	/* Had the service sent an answer, it would have come before that reply. */
	bus_process(cl);
	is_int(delayed.n, 1, "  the held call's caller was answered once only");
	is_int(clog.n, 2, "the handler heard exactly lost, restored");

	bus_close(cl);
	harness_send(svc.ctl, "quit");
	is_int(harness_wait(&svc, 5000), 0, "the service exits 0");
}

/* Deterministic: the connection only tries when this process calls
 * bus_process(), so another peer can take a name in between. */
static void test_restore_details(void)
{
	struct conn_log clog = { .n = 0 };
	bus_error_t err;
	char buf[64];
	int late = 0;

	bus_t *a = harness_connect();
	bus_set_reconnect(a, 1);
	bus_set_connection_handler(a, log_conn, &clog);
	ok(bus_request_name(a, "org.test.Contested", &err) == 0 &&
	   bus_request_name(a, "org.test.Kept", &err) == 0 &&
	   bus_request_name(a, "org.test.Dropped", &err) == 0, "a owns three names");
	harness_kill();
	harness_loop_until(a, &clog.lost, 5000);
	is_int(clog.lost, 1, "busd killed: a hears of it");

	/* While down: what is kept, what is refused. */
	ok(bus_subscribe(a, NULL, "test.late", count_event, &late, &err) == 0,
	   "subscribing while reconnecting succeeds (kept for the new connection)");
	is_int(bus_add_schema(a, schema_blob2, sizeof(schema_blob2) - 1, &err), 0,
	       "bus_add_schema while reconnecting succeeds (kept)");
	is_int(bus_release_name(a, "org.test.Dropped", &err), 0,
	       "bus_release_name while reconnecting: 0, not asked for again");
	ok(bus_release_name(a, "org.test.Nothing", &err) == -EREMOTE &&
	   bus_error_has_name(&err, BUS_ERROR_NOT_OWNER), "  a name it never had: bus.Error.NotOwner");
	struct sub_rec async_sub = { 0 }, async_export = { 0 }, async_schema = { 0 };
	ok(bus_subscribe_async(a, NULL, "test.async", sub_event, harness_on_done, &async_sub) == 0 &&
	   bus_export_async(a, NULL, "org.test.Kept", &svc_service.base, harness_on_done,
			    &async_export) == 0 &&
	   bus_add_schema_async(a, NULL, schema_blob, sizeof(schema_blob) - 1, harness_on_done,
				&async_schema) == 0,
	   "the async forms of subscribe, export and add_schema while reconnecting");
	ok(async_sub.done.n + async_export.done.n + async_schema.done.n == 0, "  report nothing at once");
	bus_process(a);
	ok(async_sub.done.n == 1 && async_export.done.n == 1 && async_schema.done.n == 1 &&
	   !async_sub.done.err[0] && !async_export.done.err[0] && !async_schema.done.err[0],
	   "  but from bus_process(): kept for the new connection");
	is_int(bus_request_name_async(a, NULL, "org.test.Never", harness_on_done, &async_sub), -ECONNRESET,
	       "bus_request_name_async while reconnecting: -ECONNRESET");

	restart_busd();
	bus_t *b = harness_connect();
	is_int(bus_request_name(b, "org.test.Contested", &err), 0,
	       "busd restarted, b takes org.test.Contested first");
	harness_loop_until(a, &clog.restored, 10000);
	ok(clog.n == 3 && strcmp(clog.ev[1], "namelost org.test.Contested " BUS_ERROR_NAME_TAKEN) == 0,
	   "a reconnects: BUS_CONN_NAME_LOST org.test.Contested, bus.Error.NameTaken (%s)",
	   clog.n > 1 ? clog.ev[1] : "");
	ok(clog.n == 3 && strncmp(clog.ev[2], "restored ", 9) == 0, "  then BUS_CONN_RESTORED");
	is_str(harness_owner_of(b, "org.test.Kept", buf, sizeof(buf)), bus_unique_name(a),
	       "a owns org.test.Kept again");
	is_str(harness_owner_of(b, "org.test.Contested", buf, sizeof(buf)), bus_unique_name(b),
	       "org.test.Contested stays b's");
	is_str(harness_owner_of(b, "org.test.Dropped", buf, sizeof(buf)), "-",
	       "the name released while down was not requested");
	is_int(bus_release_name(a, "org.test.Contested", &err), -EREMOTE,
	       "a no longer counts org.test.Contested as its own");
	bus_emit_raw(b, "test.late", "", NULL, 0);
	harness_loop_until(a, &late, 5000);
	is_int(late, 1, "the subscription made while down receives events");
	bus_emit_raw(b, "test.async", "", NULL, 0);
	harness_loop_until(a, &async_sub.events, 5000);
	is_int(async_sub.events, 1, "  and so does the async one");
	Bus__IntrospectReply *in = introspect(b, bus_unique_name(a));
	ok(in && in->n_schema_ids == 3, "both schemas given while down were uploaded, and the one "
	   "libbus made for the export");
	ok(in && in->n_services == 1, "  and the export announced");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);

	/* Turned off while down: the connection is then finished. */
	bus_set_reconnect(a, 0);
	bus_set_reconnect(b, 0);
	clog.lost = 0;
	harness_kill();
	harness_loop_until(a, &clog.lost, 5000);
	is_int(bus_process(a), -ECONNRESET, "with reconnecting off a loss is final: -ECONNRESET");
	restart_busd();
	uint64_t at = 0;
	ok(bus_process(a) == -ECONNRESET && bus_get_timeout(a, &at) == -ENOTCONN && at == UINT64_MAX &&
	   !bus_is_connected(a), "  busd back, it stays disconnected: no try is scheduled");
	is_int(bus_set_reconnect(a, 1), 0, "turned on after the loss");
	uint64_t until = harness_now_ms() + 5000;
	while (!bus_is_connected(a) && harness_now_ms() < until)
		harness_loop_for(a, 10);
	is_int(bus_is_connected(a), 1, "  it reconnects");
	is_str(harness_owner_of(a, "org.test.Kept", buf, sizeof(buf)), bus_unique_name(a),
	       "  with its name");
	bus_close(a);
	bus_close(b);
}

static void proxy_closure(const Busd__Examples__EchoReply *reply, void *data)
{
	if (!reply)
		(*(int *)data)++;
}

/* The delay before try n is drawn from [d/2, d], d = 50 ms * 2^n, at most
 * 2 s; bus_get_timeout() shows each. Then bus_close() in the middle of it. */
static void test_backoff_and_close(void)
{
	struct conn_log clog = { .n = 0 };
	struct watch_log wlog = { .n = 0 };
	bus_error_t err;
	int events = 0, closures = 0;
	bus_slot_t *sub = NULL;

	bus_t *c = harness_connect();
	bus_set_reconnect(c, 1);
	bus_set_connection_handler(c, log_conn, &clog);
	bus_request_name(c, "org.test.Backoff", &err);
	bus_add_schema(c, schema_blob, sizeof(schema_blob) - 1, &err);
	bus_export(c, NULL, "org.test.Backoff", &svc_service.base, &err);
	bus_subscribe(c, &sub, "test.*", count_event, &events, &err);
	bus_watch_name(c, NULL, "org.test.Backoff", log_watch, &wlog, &err);
	harness_sync(c);

	/* Each try is scheduled between before and after (the loss, then each
	 * try, is processed in between), so its delay is within [d/2, d] when
	 * at - before >= d/2 and at - after <= d, however long that took. */
	uint64_t before = now_usec();
	harness_kill();
	harness_loop_until(c, &clog.lost, 5000);
	uint64_t after = now_usec();
	int good = 1;
	uint64_t d = 50000;
	for (int i = 0; i < 7; i++) {
		uint64_t at;
		if (bus_get_timeout(c, &at) < 0 || at == UINT64_MAX) {
			good = 0;
			break;
		}
		if (at < before + d / 2 || at > after + d) {
			diag("try %d: due %lld us after it was scheduled..%lld before, expected %llu..%llu",
			     i, (long long)(at - after), (long long)(at - before),
			     (unsigned long long)d / 2, (unsigned long long)d);
			good = 0;
		}
		uint64_t now = now_usec();
		harness_sleep_ms(at > now ? (int)((at - now) / 1000) + 1 : 0);
		before = now_usec();
		bus_process(c); /* the try: refused, the next is scheduled */
		after = now_usec();
		d = d * 2 > 2000000 ? 2000000 : d * 2;
	}
	ok(good, "tries back off: 50 ms doubling up to 2 s, each from [d/2, d]");
	is_int(clog.n, 1, "  and only the loss was reported");

	/* A call through a generated client stub (a proxy) made now fails at once. */
	ProtobufCService *px = bus_proxy_new(c, SVC_NAME, &busd__examples__echo__descriptor, 0,
					     BUS_PROXY_ASYNC);
	Busd__Examples__EchoRequest ereq = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	ereq.text = (char *)"x";
	busd__examples__echo__echo(px, &ereq, proxy_closure, &closures);
	is_int(closures, 1,
	       "an async call through a generated stub while down: its closure runs at once, with NULL");
	ok(bus_error_has_name(bus_proxy_error(px), BUS_ERROR_DISCONNECTED),
	   "  bus.Error.Disconnected");
	bus_proxy_free(px);
	/* Everything kept for the next connection goes with bus_close(); the
	 * sanitizer build's leak check holds it to that. */
	ok(bus_slot_get_bus(sub) == c, "a subscription's slot is live during the backoff");
	bus_close(c);
	ok(bus_slot_get_bus(sub) == NULL, "bus_close() during the backoff frees it: the slot is detached");
	bus_slot_unref(sub);
	is_int(clog.n, 1, "bus_close() during the backoff returns, reporting nothing to the handler");
	restart_busd();
}

/* A try connects and sends Hello; busd's answers come through the loop.
 * With busd stopped, bus_process() returns at once and again, and the
 * connection waits, usable by nothing, until busd answers. */
static void test_try_never_blocks(void)
{
	struct conn_log clog = { .n = 0 };
	struct sub_rec kept = { 0 }, meanwhile = { 0 };
	bus_error_t err;
	char buf[64];

	bus_t *c = harness_connect();
	bus_set_reconnect(c, 1);
	bus_set_connection_handler(c, log_conn, &clog);
	ok(bus_request_name(c, "org.test.Patient", &err) == 0 &&
	   bus_subscribe(c, NULL, "test.patient", sub_event, &kept, &err) == 0,
	   "a reconnecting connection owns a name and subscribes");
	harness_kill();
	harness_loop_until(c, &clog.lost, 5000);
	restart_busd();
	pid_t busd = harness_busd_pid();
	kill(busd, SIGSTOP);
	uint64_t due;
	while (bus_get_timeout(c, &due) == 0 && due != UINT64_MAX && due > now_usec())
		bus_wait(c, due - now_usec());

	uint64_t t0 = now_usec();
	int r = bus_process(c);
	uint64_t took = now_usec() - t0;
	ok(r >= 0 && took < RESTORE_WAIT / 2,
	   "busd stopped: bus_process() makes the try and returns at once (%llu us)",
	   (unsigned long long)took);
	ok(bus_get_fd(c) >= 0 && !bus_is_connected(c),
	   "  a new socket waits for Hello's answer: not connected yet");
	ok(bus_get_events(c) & POLLIN, "  the loop is asked to poll it for input");
	ok(bus_get_timeout(c, &due) == 0 && due != UINT64_MAX && due > now_usec(),
	   "  and to come back by the try's deadline, not at once");
	t0 = now_usec();
	r = bus_process(c);
	took = now_usec() - t0;
	ok(r >= 0 && took < RESTORE_WAIT / 2, "  bus_process() again returns at once (%llu us)",
	   (unsigned long long)took);
	is_int(bus_subscribe_async(c, NULL, "test.meanwhile", sub_event, harness_on_done, &meanwhile), 0,
	       "  a subscription made meanwhile is kept");
	is_int(clog.n, 1, "  nothing is reported meanwhile");

	kill(busd, SIGCONT);
	harness_loop_until(c, &clog.restored, 10000);
	ok(clog.restored == 1 && clog.n == 2,
	   "busd goes on: the try completes through the loop, BUS_CONN_RESTORED (%d reports)", clog.n);
	is_str(harness_owner_of(c, "org.test.Patient", buf, sizeof(buf)), bus_unique_name(c),
	       "  the name is owned again");
	ok(meanwhile.done.n == 1 && !meanwhile.done.err[0],
	   "  the meanwhile subscription is reported done");
	bus_t *o = harness_connect();
	bus_emit_raw(o, "test.patient", "", NULL, 0);
	bus_emit_raw(o, "test.meanwhile", "", NULL, 0);
	bus_flush(o);
	uint64_t until = harness_now_ms() + 5000;
	while ((kept.events < 1 || meanwhile.events < 1) && harness_now_ms() < until)
		harness_loop_for(c, 10);
	ok(kept.events == 1 && meanwhile.events == 1,
	   "  both subscriptions receive events (%d, %d)", kept.events, meanwhile.events);
	bus_close(o);
	bus_close(c);
}

/* The libevent glue follows the connection to its new socket. */
struct ev_state {
	struct conn_log clog;
	int events;
	struct call_rec stats;
};

static void run_base(struct event_base *base, const volatile int *flag, int ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)ms;
	struct timeval tv = { 0, 10000 };
	while (!*flag && harness_now_ms() < deadline) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void test_libevent(void)
{
	struct ev_state st;
	bus_error_t err;

	memset(&st, 0, sizeof(st));
	struct event_base *base = event_base_new();
	bus_t *e = harness_connect();
	bus_set_reconnect(e, 1);
	bus_set_connection_handler(e, log_conn, &st.clog);
	bus_subscribe(e, NULL, "test.ev", count_event, &st.events, &err);
	is_int(bus_attach_event(e, base), 0, "a connection attached to libevent");
	int old_fd = bus_get_fd(e);
	harness_kill();
	run_base(base, &st.clog.lost, 5000);
	is_int(st.clog.lost, 1, "  hears of the loss from the event loop");
	/* Taking the old number makes the new socket another one, which the
	 * events must move to. */
	int blocker = open("/dev/null", O_RDONLY | O_CLOEXEC);
	restart_busd();
	run_base(base, &st.clog.restored, 10000);
	is_int(st.clog.restored, 1, "  and reconnects from the event loop (timer-driven tries)");
	ok(bus_get_fd(e) >= 0 && bus_get_fd(e) != old_fd, "  on a new socket (%d, was %d)",
	   bus_get_fd(e), old_fd);
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	size_t len;
	void *body = harness_pack(&sreq.base, &len);
	is_int(bus_call_async(e, NULL, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", body, len,
			      5 * SECOND, rec_reply, &st.stats), 0, "an async call");
	free(body);
	run_base(base, &st.stats.n, 5000);
	ok(st.stats.n == 1 && st.stats.err[0] == 0, "  is answered through the new socket's events");
	bus_t *o = harness_connect();
	bus_emit_raw(o, "test.ev", "", NULL, 0);
	bus_flush(o);
	run_base(base, &st.events, 5000);
	is_int(st.events, 1, "  and an event arrives");
	bus_close(o);
	close(blocker);
	bus_detach_event(e);
	bus_close(e);
	event_base_free(base);
}

static void count_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	if (m->kind == BUS_KIND_EVENT && strcmp(m->member, "test.mon") == 0)
		(*(int *)ud)++;
}

static void test_monitor(void)
{
	struct conn_log clog = { .n = 0 };
	bus_error_t err;
	int seen = 0;

	bus_t *m = harness_connect();
	bus_set_reconnect(m, 1);
	bus_set_connection_handler(m, log_conn, &clog);
	is_int(bus_become_monitor(m, count_frame, &seen, &err), 0, "a reconnecting monitor");
	harness_kill();
	harness_loop_until(m, &clog.lost, 5000);
	restart_busd();
	harness_loop_until(m, &clog.restored, 10000);
	is_int(clog.restored, 1, "  reconnects");
	bus_t *o = harness_connect();
	bus_emit_raw(o, "test.mon", "", NULL, 0);
	bus_flush(o);
	harness_loop_until(m, &seen, 5000);
	is_int(seen, 1, "  and is a monitor again: it sees others' frames");
	bus_close(o);
	bus_close(m);
}

/* A helper that takes org.test.Late once busd counts more subscriptions
 * than *arg (the waiting peer's name watch is one) and keeps it until
 * "quit". */
static int late_owner(int ctl, void *arg)
{
	bus_error_t err;
	bus_t *bus = NULL;
	char line[64];
	uint32_t subs = 0, before = *(const uint32_t *)arg;
	uint64_t deadline = harness_now_ms() + 10000;

	if (bus_connect(&bus, NULL, &err) < 0)
		return 1;
	while (subs <= before && harness_now_ms() < deadline) {
		Bus__StatsReply *st = harness_stats(bus);
		subs = st ? st->subscriptions : 0;
		if (st)
			bus__stats_reply__free_unpacked(st, NULL);
		if (subs <= before)
			harness_sleep_ms(5);
	}
	if (subs <= before || bus_request_name(bus, "org.test.Late", &err) < 0)
		return 1;
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	harness_recv(ctl, line, sizeof(line), 10000);
	bus_close(bus);
	return 0;
}

static void test_watch(void)
{
	struct watch_log wlog = { .n = 0 }, other = { .n = 0 };
	harness_child t;
	char uniq[64];
	bus_error_t err;

	bus_t *w = harness_connect();
	bus_slot_t *id = NULL, *id2 = NULL;
	is_int(bus_watch_name(w, &id, "not a name", log_watch, &wlog, &err), -EINVAL,
	       "watching something that is not a well-known name: -EINVAL");
	is_int(bus_watch_name(w, &id, "org.test.Transient", log_watch, &wlog, &err), 0,
	       "watch org.test.Transient");
	ok(bus_watch_name_async(w, &id2, "org.test.Transient", log_watch, harness_on_done, &other) == 0 &&
	   id2 != id, "  again with the async form, its own slot");
	is_int(other.done.n, 0, "  whose subscription is not reported from inside the call");
	watch_until(w, &wlog, "-", 5000);
	ok(wlog.n == 1 && strcmp(wlog.owner[0], "-") == 0, "first report: no owner");
	watch_until(w, &other, "-", 5000);
	ok(other.done.n == 1 && !other.done.err[0] && other.n == 1,
	   "  the async watch: subscribed (%s), then the same first report", other.done.err);
	require(exporter_start(&t, "org.test.Transient", uniq) == 0, "a service starts");
	ok(watch_until(w, &wlog, uniq, 5000) && wlog.n == 2, "the service starts: it appears (%s)", uniq);
	is_str(watch_last(&other), uniq, "  both watches hear it");
	harness_send(t.ctl, "quit");
	harness_wait(&t, 5000);
	ok(watch_until(w, &wlog, "-", 5000) && wlog.n == 3, "the service exits: it disappears");
	ok(bus_slot_unref(id) == NULL, "dropping a watch's slot ends the watch");
	require(exporter_start(&t, "org.test.Transient", uniq) == 0, "the service starts again");
	watch_until(w, &other, uniq, 5000);
	is_int(wlog.n, 3, "an unwatched watch hears nothing more");
	is_str(watch_last(&other), uniq, "  the other one still does");
	is_int(bus_wait_name(w, "org.test.Transient", SECOND, &err), 0,
	       "bus_wait_name() on an owned name: 0");
	harness_send(t.ctl, "quit");
	harness_wait(&t, 5000);
	bus_slot_unref(id2);

	uint64_t t0 = harness_now_ms();
	int r = bus_wait_name(w, "org.test.Nobody", 200000, &err);
	ok(r == -ETIMEDOUT && bus_error_has_name(&err, BUS_ERROR_TIMEOUT),
	   "bus_wait_name() on a name nobody takes: -ETIMEDOUT, bus.Error.Timeout");
	ok(harness_now_ms() - t0 >= 190, "  after the timeout (%llu ms)",
	   (unsigned long long)(harness_now_ms() - t0));
	/* The helper takes the name only once the wait watches it, so the wait
	 * has to see it come. */
	Bus__StatsReply *st = harness_stats(w);
	uint32_t subs = st ? st->subscriptions : 0;
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	require(harness_fork(&t, late_owner, &subs) == 0, "a helper will take org.test.Late");
	r = bus_wait_name(w, "org.test.Late", 10 * SECOND, &err);
	ok(r == 0 && recv_line(&t, "ready ", uniq, sizeof(uniq), 5000) == 0,
	   "bus_wait_name() returns when the name is taken, after it began (%d %s)", r, err.name);
	harness_send(t.ctl, "quit");
	harness_wait(&t, 5000);
	bus_close(w);
}

int main(void)
{
	plan(119);
	harness_start(NULL);
	test_watch();
	test_service_comes_back();
	test_restore_details();
	test_backoff_and_close();
	test_try_never_blocks();
	test_libevent();
	test_monitor();
	return harness_done();
}
