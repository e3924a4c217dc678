/* test-frame-limit.c - libbus keeps to the frame size busd announces in
 * HelloReply: a call, reply, event or error too big for busd is refused (or
 * replaced) before it is sent, with bus.Error.LimitsExceeded giving both
 * sizes, and the connection stays up. busd runs with the smallest maximum
 * it allows (1024 bytes: a peer may send 512), so every frame is small;
 * last, a reconnect from a busd with larger frames to one with 1024. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "tap.h"

#define MAX_FRAME 1024
#define PEER_MAX (MAX_FRAME - 512)
#define CALLEE "org.test.Big"
#define LONG_ERROR "org.test.Error.Long"
#define SEC 1000000ull

/* The callee: Echo answers with data of as many bytes as text says (so the
 * reply can be far bigger than the call); Fail answers an error whose
 * message is the request's message three times. */
static void big_echo(Busd__Examples__Echo_Service *service, const Busd__Examples__EchoRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply reply = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	size_t n = strtoul(req->text, NULL, 10);
	uint8_t *data = calloc(1, n ? n : 1);

	(void)service;
	reply.text = (char *)"sized";
	reply.data.data = data;
	reply.data.len = data ? n : 0;
	closure(&reply, closure_data);
	free(data);
}

static void big_delay(Busd__Examples__Echo_Service *service,
		      const Busd__Examples__DelayRequest *req,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)service, (void)req;
	closure(NULL, closure_data);
}

static void big_fail(Busd__Examples__Echo_Service *service, const Busd__Examples__FailRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)service, (void)closure;
	bus_call_fail(closure_data, LONG_ERROR, "%s%s%s", req->message, req->message, req->message);
}

static Busd__Examples__Echo_Service big_service = BUSD__EXAMPLES__ECHO__INIT(big_);

static int callee_main(int ctl, void *arg)
{
	bus_error_t err;
	bus_t *bus = NULL;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, CALLEE, &err) < 0 ||
	    bus_export(bus, NULL, CALLEE, &big_service.base, &err) < 0) {
		harness_send(ctl, "error %s: %s", err.name, err.message);
		bus_close(bus);
		return 1;
	}
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	int r = exporter_serve(bus, ctl, NULL, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

static void *echo_body(const char *text, size_t data_len, size_t *len)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	uint8_t *data = calloc(1, data_len ? data_len : 1);
	req.text = (char *)text;
	req.data.data = data;
	req.data.len = data_len;
	void *body = harness_pack(&req.base, len);
	free(data);
	return body;
}

/* The frame size the error message gives ("the frame of N bytes"), or 0. */
static size_t said_size(const bus_error_t *err)
{
	const char *p = strstr(err->message, "frame of ");
	return p ? strtoul(p + 9, NULL, 10) : 0;
}

static int said_limit(const bus_error_t *err)
{
	char limit[64];
	snprintf(limit, sizeof(limit), "the %d bytes busd accepts", PEER_MAX);
	return strstr(err->message, limit) != NULL;
}

/* A small call to the callee: the connection (and the callee's) work. */
static int small_call_works(bus_t *bus)
{
	size_t len, rlen = 0;
	void *reply = NULL;
	bus_error_t err;
	void *body = echo_body("7", 0, &len);
	int r = bus_call(bus, CALLEE, NULL, "Echo", "busd.examples.EchoRequest", body, len, 5 * SEC,
			 &err, &reply, &rlen);
	free(body);
	Busd__Examples__EchoReply *rep = NULL;
	if (r == 0)
		rep = busd__examples__echo_reply__unpack(NULL, rlen, reply);
	int good = rep && rep->data.len == 7;
	if (r < 0)
		diag("small call: %d %s: %s", r, err.name, err.message);
	if (rep)
		busd__examples__echo_reply__free_unpacked(rep, NULL);
	free(reply);
	return good;
}

struct answer {
	int n;
	int had_reply;
	bus_error_t err;
};

static void on_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct answer *a = ud;

	(void)bus;
	a->n++;
	a->had_reply = reply != NULL;
	if (err)
		a->err = *err;
}

struct stub_answer {
	int n;
	int had_output;
	bus_error_t err;
};

static void on_stub(const Busd__Examples__EchoReply *out, void *closure_data)
{
	struct stub_answer *sa = closure_data;
	const bus_error_t *e = bus_proxy_call_error(closure_data);

	sa->n++;
	sa->had_output = out != NULL;
	if (e)
		sa->err = *e;
}

static void test_calls(bus_t *bus)
{
	Bus__StatsReply *before = harness_stats(bus);
	size_t len, rlen = 0;
	void *reply = NULL;
	bus_error_t err;

	is_int((long long)bus_get_max_frame_size(bus), PEER_MAX,
	       "HelloReply's max_peer_frame_size: limits.max_frame_size less 512");

	/* A sync call over the limit. */
	void *body = echo_body("1", 600, &len);
	uint64_t t0 = harness_now_ms();
	int r = bus_call(bus, CALLEE, NULL, "Echo", "busd.examples.EchoRequest", body, len, 5 * SEC,
			 &err, &reply, &rlen);
	is_int(r, -EMSGSIZE, "a %zu-byte call over the %d-byte limit: -EMSGSIZE", len, PEER_MAX);
	ok(harness_now_ms() - t0 < 1000, "  at once, without waiting for busd");
	is_str(err.name, BUS_ERROR_LIMITS_EXCEEDED, "  bus.Error.LimitsExceeded");
	ok(said_limit(&err) && said_size(&err) >= len + 12,
	   "  naming the limit and the frame's size (%s)", err.message);
	ok(bus_is_connected(bus), "  the connection stays up");
	ok(small_call_works(bus), "  and the next call works");

	/* The same, async: the callback hears it from bus_process(). */
	struct answer a = { 0 };
	r = bus_call_async(bus, NULL, CALLEE, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			   5 * SEC, on_answer, &a);
	is_int(r, 0, "an async call over the limit is accepted for its callback");
	is_int(a.n, 0, "  which does not run from bus_call_async()");
	harness_loop_until(bus, &a.n, 5000);
	ok(a.n == 1 && !a.had_reply && bus_error_has_name(&a.err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   said_limit(&a.err), "  it gets bus.Error.LimitsExceeded with the limit (%s)",
	   a.err.message);
	harness_loop_for(bus, 50);
	is_int(a.n, 1, "  exactly once");

	/* Without a callback nothing can be told: the function says it. */
	r = bus_call_async(bus, NULL, CALLEE, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			   5 * SEC, NULL, NULL);
	is_int(r, -EMSGSIZE, "one with no callback (no reply wanted) returns -EMSGSIZE");

	/* Generated stubs through a proxy. */
	ProtobufCService *px = bus_proxy_new(bus, CALLEE, &busd__examples__echo__descriptor, 5 * SEC,
					     BUS_PROXY_SYNC);
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	uint8_t data[600] = { 0 };
	req.text = (char *)"1";
	req.data.data = data;
	req.data.len = sizeof(data);
	busd__examples__echo__echo(px, &req, NULL, NULL);
	ok(bus_error_has_name(bus_proxy_error(px), BUS_ERROR_LIMITS_EXCEEDED) &&
	   said_limit(bus_proxy_error(px)), "a sync stub over the limit: LimitsExceeded (%s)",
	   bus_proxy_error(px)->message);
	bus_proxy_free(px);

	px = bus_proxy_new(bus, CALLEE, &busd__examples__echo__descriptor, 5 * SEC, BUS_PROXY_ASYNC);
	struct stub_answer sa = { 0 };
	busd__examples__echo__echo(px, &req, on_stub, &sa);
	is_int(sa.n, 0, "an async stub over the limit: its closure does not run at once");
	harness_loop_until(bus, &sa.n, 5000);
	ok(sa.n == 1 && !sa.had_output && strcmp(sa.err.name, BUS_ERROR_LIMITS_EXCEEDED) == 0 &&
	   said_limit(&sa.err), "  it runs from bus_process() with NULL and LimitsExceeded (%s)",
	   sa.err.message);
	bus_proxy_free(px);
	free(body);

	Bus__StatsReply *after = harness_stats(bus);
	ok(before && after && after->protocol_errors == before->protocol_errors,
	   "busd saw no frame too large (protocol_errors unchanged)");
	if (before)
		protobuf_c_message_free_unpacked(&before->base, NULL);
	if (after)
		protobuf_c_message_free_unpacked(&after->base, NULL);
}

static void test_reply(bus_t *bus)
{
	size_t len, rlen = 0;
	void *reply = NULL;
	bus_error_t err;

	/* A small call whose reply would be 2000 bytes. */
	void *body = echo_body("2000", 0, &len);
	uint64_t t0 = harness_now_ms();
	int r = bus_call(bus, CALLEE, NULL, "Echo", "busd.examples.EchoRequest", body, len, 20 * SEC,
			 &err, &reply, &rlen);
	uint64_t took = harness_now_ms() - t0;
	free(body);
	free(reply);
	is_int(r, -EREMOTE, "a reply too big for busd: the caller gets an error reply");
	is_str(err.name, BUS_ERROR_LIMITS_EXCEEDED, "  bus.Error.LimitsExceeded, not NoReply");
	ok(strstr(err.message, "the reply to Echo") && said_size(&err) > 2000 &&
	   strstr(err.message, "512 bytes busd accepts from the service"),
	   "  naming the method, the reply's size and the limit (%s)", err.message);
	ok(took < 5000, "  at once, not at the call's 20 s timeout (%llu ms)", (unsigned long long)took);
	ok(small_call_works(bus), "the callee is still connected and answers");

	/* An error whose message is too long for the callee's frames (three
	 * times the 200 bytes asked) is cut to fit. */
	Busd__Examples__FailRequest fr = BUSD__EXAMPLES__FAIL_REQUEST__INIT;
	char msg[201];
	memset(msg, 'x', 200);
	msg[200] = '\0';
	fr.message = msg;
	body = harness_pack(&fr.base, &len);
	r = bus_call(bus, CALLEE, NULL, "Fail", "busd.examples.FailRequest", body, len, 20 * SEC, &err,
		     NULL, NULL);
	free(body);
	is_int(r, -EREMOTE, "a 600-byte error message: the call is answered");
	is_str(err.name, LONG_ERROR, "  with the service's error name");
	size_t n = strlen(err.message);
	ok(n > 400 && n < 600 && strspn(err.message, "x") == n,
	   "  and as much of the message as fits (%zu bytes)", n);
}

static void test_emit(bus_t *bus)
{
	uint8_t body[600] = { 0 };

	int r = bus_emit_raw(bus, "big.event", "busd.examples.EchoRequest", body, sizeof(body));
	is_int(r, -EMSGSIZE, "an event over the limit: bus_emit_raw returns -EMSGSIZE");
	ok(bus_is_connected(bus), "  the connection stays up");
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	req.data.data = body;
	req.data.len = sizeof(body);
	is_int(bus_emit(bus, "big.event", &req.base), -EMSGSIZE, "  bus_emit too");

	/* The largest event libbus sends is one busd takes. */
	size_t n = PEER_MAX;
	while (n > 0 && bus_emit_raw(bus, "big.event", NULL, body, n) == -EMSGSIZE)
		n--;
	ok(n > PEER_MAX - 64, "the largest event body libbus sends: %zu bytes", n);
	ok(small_call_works(bus) && bus_is_connected(bus),
	   "  busd took that frame: the connection is up, a call works");
	is_int(bus_emit_raw(bus, "big.event", NULL, body, n + 1), -EMSGSIZE,
	       "  one byte more is refused");
}

struct restore_seen {
	int restored, schema_failed;
	bus_error_t err;
};

static void on_connection(bus_t *bus, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *ud)
{
	struct restore_seen *s = ud;

	(void)bus, (void)subject;
	if (event == BUS_CONN_RESTORED)
		s->restored++;
	if (event == BUS_CONN_SCHEMA_FAILED) {
		s->schema_failed++;
		if (err)
			s->err = *err;
	}
}

/* A schema kept for a reconnect that the new busd's frames cannot carry is
 * reported, and the rest restored. */
static void test_reconnect(const char *const *small_args)
{
	static uint8_t big[700], small[100];
	struct restore_seen seen = { 0 };
	bus_error_t err;

	harness_stop();
	harness_start(NULL); /* 16 MiB frames */
	bus_t *bus = harness_connect();
	memset(big, 'b', sizeof(big));
	memset(small, 's', sizeof(small));
	bus_set_reconnect(bus, 1);
	bus_set_connection_handler(bus, on_connection, &seen);
	require(bus_add_schema(bus, big, sizeof(big), &err) == 0 &&
		bus_add_schema(bus, small, sizeof(small), &err) == 0,
		"schemas of 700 and 100 bytes added under a 16 MiB limit");
	harness_kill();
	harness_start(small_args);
	harness_loop_until(bus, &seen.restored, 15000);
	is_int(seen.restored, 1, "reconnected to busd with 1024-byte frames, restored");
	ok(seen.schema_failed == 1 && bus_error_has_name(&seen.err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   said_limit(&seen.err), "  the 700-byte schema reported: LimitsExceeded (%s)",
	   seen.err.message);
	is_int((long long)bus_get_max_frame_size(bus), PEER_MAX, "  the new busd's limit in force");
	Bus__StatsReply *st = harness_stats(bus);
	ok(st && st->schema_bytes == sizeof(small), "  the 100-byte one restored (busd holds %llu)",
	   st ? (unsigned long long)st->schema_bytes : 0ull);
	if (st)
		protobuf_c_message_free_unpacked(&st->base, NULL);
	bus_close(bus);
}

int main(void)
{
	static const char *const args[] = { "--max-frame-size", "1024", NULL };
	harness_child callee;
	char line[256];

	plan(38);
	harness_start(args);
	bus_t *bus = harness_connect();
	require(harness_fork(&callee, callee_main, NULL) == 0 &&
		harness_recv(callee.ctl, line, sizeof(line), 15000) > 0 &&
		strncmp(line, "ready ", 6) == 0, "the callee is up (%s)", line);

	test_calls(bus);
	test_reply(bus);
	test_emit(bus);

	harness_send(callee.ctl, "quit");
	is_int(harness_wait(&callee, 10000), 0, "the callee exits cleanly");
	bus_close(bus);
	test_reconnect(args);
	return harness_done();
}
