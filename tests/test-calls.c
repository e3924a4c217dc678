/* test-calls.c - method calls through a real busd: generated proxy stubs
 * (sync and async), untyped calls, calls by unique id, timeouts with late
 * replies ignored, remote errors, slots, sync calls on a socket the program
 * made non-blocking, the sender stamp busd puts on every call (even one that
 * tried to spoof it) and the caller's credentials a service can learn.
 * Callees: services/echo, the tests' exporter (tests/exporter.h) and a
 * credentials service forked here. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <event2/event.h>

#include "harness.h"
#include "exporter.h"
#include "raw.h"
#include "echo.pb-c.h"

#define SEC 1000000ull
#define EXP_NAME "org.test.Calls"

static char exp_unique[64];

/* ---------------------------------------------------------------- helpers */

/* One finished stub call, copied out of the closure. */
struct result {
	int called;
	int got_reply;
	char text[256];
	char data[256];
	size_t data_len;
	bus_error_t err;       /* bus_proxy_call_error() in the closure */
	bus_error_t proxy_err; /* bus_proxy_error() of the proxy */
	ProtobufCService *proxy;
	const uint8_t *expect; /* if set, the reply data must equal it */
	size_t expect_len;
	int same;
};

static void on_echo_reply(const Busd__Examples__EchoReply *reply, void *ud)
{
	struct result *res = ud;
	res->called++;
	res->got_reply = reply != NULL;
	if (reply) {
		snprintf(res->text, sizeof(res->text), "%s", reply->text);
		res->data_len = reply->data.len < sizeof(res->data) ? reply->data.len : sizeof(res->data) - 1;
		if (res->data_len)
			memcpy(res->data, reply->data.data, res->data_len);
		res->data[res->data_len] = 0;
		res->same = res->expect && reply->data.len == res->expect_len &&
			    memcmp(reply->data.data, res->expect, res->expect_len) == 0;
	}
	res->err = *bus_proxy_call_error(ud);
	res->proxy_err = *bus_proxy_error(res->proxy);
}

/* Untyped Echo call; the reply text and data (as a string) are copied out. */
static int echo_call(bus_t *bus, const char *dest, const char *iface, const char *method,
		     const char *text, uint64_t timeout, bus_error_t *err,
		     char *rtext, char *rdata)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	req.text = (char *)text;
	void *body = harness_pack(&req.base, &len);
	bus_error_clear(err);
	int r = bus_call(bus, dest, iface, method, "busd.examples.EchoRequest", body, len, timeout,
			 err, &reply, &rlen);
	free(body);
	if (r == 0) {
		Busd__Examples__EchoReply *rep = busd__examples__echo_reply__unpack(NULL, rlen, reply);
		if (!rep) {
			r = -EBADMSG;
		} else {
			if (rtext)
				snprintf(rtext, 256, "%s", rep->text);
			if (rdata)
				snprintf(rdata, 256, "%.*s", (int)rep->data.len, (const char *)rep->data.data);
			busd__examples__echo_reply__free_unpacked(rep, NULL);
		}
	}
	free(reply);
	return r;
}

static int delay_call(bus_t *bus, const char *dest, uint32_t ms, const char *text,
		      uint64_t timeout, bus_error_t *err)
{
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	req.ms = ms;
	req.text = (char *)text;
	void *body = harness_pack(&req.base, &len);
	bus_error_clear(err);
	int r = bus_call(bus, dest, "busd.examples.Echo", "Delay", "busd.examples.DelayRequest",
			 body, len, timeout, err, &reply, &rlen);
	free(body);
	free(reply);
	return r;
}

/* Wait until services/echo has answered every call sent before, Delay
 * calls of up to ms included: echo answers in the order its timers fall
 * due, so the answer to a longer Delay comes after theirs; one
 * bus_process() then dispatches what the wait left queued. */
static void echo_after(bus_t *bus, uint32_t ms)
{
	bus_error_t err;

	if (delay_call(bus, HARNESS_ECHO_NAME, ms + 100, "barrier", 30 * SEC, &err) < 0)
		harness_bail("echo did not answer a Delay call: %s", err.name);
	bus_process(bus);
}

struct async_result {
	int calls;
	int replies;
	char text[256];
	bus_error_t err;
};

static void on_async(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct async_result *a = ud;
	a->calls++;
	if (reply) {
		a->replies++;
		Busd__Examples__EchoReply *rep = (Busd__Examples__EchoReply *)bus_msg_unpack(
			reply, &busd__examples__echo_reply__descriptor);
		snprintf(a->text, sizeof(a->text), "%s", rep ? rep->text : "(unparsable)");
		if (rep)
			protobuf_c_message_free_unpacked(&rep->base, NULL);
	}
	if (err)
		a->err = *err;
}

/* ---------------------------------------------------------------- tests */

static void test_proxy_sync(bus_t *bus)
{
	struct result res = { 0 };
	ProtobufCService *p = bus_proxy_new(bus, HARNESS_ECHO_NAME, &busd__examples__echo__descriptor,
					    5 * SEC, BUS_PROXY_SYNC);
	require(p != NULL, "sync proxy for %s", HARNESS_ECHO_NAME);
	res.proxy = p;
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	req.text = (char *)"hello through the stub";
	req.data.data = (uint8_t *)"\x00\x01\x02binary";
	req.data.len = 9;
	busd__examples__echo__echo(p, &req, on_echo_reply, &res);
	is_int(res.called, 1, "sync stub ran its closure once before returning");
	ok(res.got_reply, "with a reply (error: %s)", res.err.name);
	is_str(res.text, "hello through the stub", "echo returns the text");
	ok(res.data_len == 9 && memcmp(res.data, "\x00\x01\x02binary", 9) == 0,
	   "echo returns the bytes, NULs included");
	ok(!bus_error_is_set(&res.err), "bus_proxy_call_error(closure_data) is empty after success");

	/* An empty request is a 0-byte body. */
	Busd__Examples__EchoRequest empty = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	memset(&res.text, 'x', 8);
	res.called = 0;
	busd__examples__echo__echo(p, &empty, on_echo_reply, &res);
	ok(res.called == 1 && res.got_reply && res.text[0] == 0 && res.data_len == 0,
	   "empty request gets an empty reply");

	/* Echo's Fail: the service's error name and message reach the caller. */
	Busd__Examples__FailRequest fail = BUSD__EXAMPLES__FAIL_REQUEST__INIT;
	fail.message = (char *)"boom-1234";
	res.called = 0;
	busd__examples__echo__fail(p, &fail, on_echo_reply, &res);
	ok(res.called == 1 && !res.got_reply, "Fail: closure runs once with NULL");
	is_str(res.err.name, "org.busd.Echo.Error.Failed",
	       "Fail: the closure finds the service's error name from its own closure_data");
	is_str(res.proxy_err.name, "org.busd.Echo.Error.Failed", "  bus_proxy_error(proxy) has it too");
	ok(strstr(res.err.message, "boom-1234") != NULL, "Fail: the message carries the request text (\"%s\")",
	   res.err.message);

	/* A large body: 1 MiB each way. */
	size_t big = 1 << 20;
	uint8_t *data = malloc(big);
	for (size_t i = 0; i < big; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 11));
	req.data.data = data;
	req.data.len = big;
	res.called = 0;
	res.expect = data;
	res.expect_len = big;
	busd__examples__echo__echo(p, &req, on_echo_reply, &res);
	ok(res.called == 1 && res.got_reply, "1 MiB echo answered (error: %s)", res.err.name);
	ok(res.same, "the 1 MiB reply is byte-identical");
	res.expect = NULL;
	free(data);
	bus_proxy_free(p);

	/* Proxy to a name nobody owns. */
	p = bus_proxy_new(bus, "org.test.Nobody", &busd__examples__echo__descriptor, 5 * SEC,
			  BUS_PROXY_SYNC);
	res.proxy = p;
	res.called = 0;
	busd__examples__echo__echo(p, &empty, on_echo_reply, &res);
	ok(res.called == 1 && !res.got_reply, "stub call to an unowned name: closure with NULL");
	is_str(res.err.name, BUS_ERROR_NAME_HAS_NO_OWNER, "bus.Error.NameHasNoOwner");
	bus_proxy_free(p);
}

static void test_proxy_async(bus_t *bus)
{
	enum { N = 16 };
	struct result res[N];
	memset(res, 0, sizeof(res));
	ProtobufCService *p = bus_proxy_new(bus, HARNESS_ECHO_NAME, &busd__examples__echo__descriptor,
					    10 * SEC, BUS_PROXY_ASYNC);
	require(p != NULL, "async proxy");
	for (int i = 0; i < N; i++) {
		char text[32];
		Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
		snprintf(text, sizeof(text), "async-%d", i);
		req.text = text;
		res[i].proxy = p;
		busd__examples__echo__echo(p, &req, on_echo_reply, &res[i]);
	}
	int early = 0;
	for (int i = 0; i < N; i++)
		early += res[i].called;
	is_int(early, 0, "async stubs return before their closures run");

	uint64_t deadline = harness_now_ms() + 10000;
	int done = 0;
	while (done < N && harness_now_ms() < deadline) {
		harness_loop_for(bus, 10);
		done = 0;
		for (int i = 0; i < N; i++)
			done += res[i].called;
	}
	is_int(done, N, "%d async calls in flight all complete", N);
	int right = 0;
	for (int i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof(want), "async-%d", i);
		right += res[i].called == 1 && res[i].got_reply && strcmp(res[i].text, want) == 0;
	}
	is_int(right, N, "each closure got its own call's reply, once");
	ok(bus_proxy_call_error(&res[0]) == NULL, "outside a closure, bus_proxy_call_error is NULL");

	/* Freeing the proxy answers its pending calls with Disconnected. */
	struct result slow = { 0 };
	slow.proxy = p;
	Busd__Examples__DelayRequest dreq = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	dreq.ms = 300;
	dreq.text = (char *)"slow";
	busd__examples__echo__delay(p, &dreq, on_echo_reply, &slow);
	bus_proxy_free(p);
	ok(slow.called == 1 && !slow.got_reply, "bus_proxy_free runs a pending closure once, with NULL");
	is_str(slow.err.name, BUS_ERROR_DISCONNECTED, "and bus.Error.Disconnected");
	echo_after(bus, 300);
	is_int(slow.called, 1, "its late reply is ignored");
}

static void test_untyped(bus_t *bus)
{
	bus_error_t err;
	char text[256], data[256];
	int r = echo_call(bus, HARNESS_ECHO_NAME, "busd.examples.Echo", "Echo", "untyped", 5 * SEC,
			  &err, text, NULL);
	ok(r == 0 && strcmp(text, "untyped") == 0, "bus_call with interface (r=%d %s)", r, err.name);
	r = echo_call(bus, HARNESS_ECHO_NAME, NULL, "Echo", "no interface", 5 * SEC, &err, text, NULL);
	ok(r == 0 && strcmp(text, "no interface") == 0, "bus_call without interface (r=%d %s)", r, err.name);

	r = echo_call(bus, exp_unique, NULL, "Echo", "by unique id", 5 * SEC, &err, text, data);
	ok(r == 0 && strcmp(text, "by unique id") == 0, "call addressed to a unique id (r=%d %s)", r, err.name);
	is_str(data, bus_unique_name(bus), "the callee sees the caller's unique name as sender");
	r = echo_call(bus, EXP_NAME, NULL, "Echo", "by name", 5 * SEC, &err, text, data);
	ok(r == 0 && strcmp(text, "by name") == 0, "call addressed to the well-known name");
	is_str(data, bus_unique_name(bus), "sender stamped there too");

	r = echo_call(bus, HARNESS_ECHO_NAME, NULL, "NoSuchMethod", "x", 5 * SEC, &err, NULL, NULL);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_METHOD),
	   "unknown method: bus.Error.UnknownMethod (r=%d %s)", r, err.name);
	r = echo_call(bus, HARNESS_ECHO_NAME, "org.test.NoSuchIface", "Echo", "x", 5 * SEC, &err,
		      NULL, NULL);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_INTERFACE),
	   "unknown interface: bus.Error.UnknownInterface (r=%d %s)", r, err.name);
	r = echo_call(bus, BUS_NAME, "bus.Bus", "NoSuchMethod", "x", 5 * SEC, &err, NULL, NULL);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_METHOD),
	   "unknown method of bus: bus.Error.UnknownMethod (r=%d %s)", r, err.name);
	r = echo_call(bus, "org.test.Nobody", NULL, "Echo", "x", 5 * SEC, &err, NULL, NULL);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "unowned name: bus.Error.NameHasNoOwner from busd, no timeout (r=%d %s)", r, err.name);
	r = echo_call(bus, ":999999", NULL, "Echo", "x", 5 * SEC, &err, NULL, NULL);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "unknown unique id: bus.Error.NameHasNoOwner (r=%d %s)", r, err.name);
	r = echo_call(bus, "bad..name", NULL, "Echo", "x", 5 * SEC, &err, NULL, NULL);
	ok(r < 0, "invalid destination name fails (r=%d)", r);
	r = echo_call(bus, HARNESS_ECHO_NAME, NULL, "Echo", "still fine", 5 * SEC, &err, text, NULL);
	ok(r == 0 && strcmp(text, "still fine") == 0, "the connection works after all those errors");
}

static void test_errors(bus_t *bus)
{
	Busd__Examples__FailRequest req = BUSD__EXAMPLES__FAIL_REQUEST__INIT;
	bus_error_t err;
	size_t len, rlen;
	void *reply = NULL;

	req.message = (char *)"custom text";
	void *body = harness_pack(&req.base, &len);
	bus_error_clear(&err);
	int r = bus_call(bus, EXP_NAME, NULL, "Fail", "busd.examples.FailRequest", body, len, 5 * SEC,
			 &err, &reply, &rlen);
	free(body);
	is_int(r, -EREMOTE, "bus_call_fail in the callee: bus_call returns -EREMOTE");
	is_str(err.name, EXPORTER_ERROR, "error name as the callee gave it");
	is_str(err.message, "failed: custom text", "error message as the callee formatted it");

	req.message = (char *)"noreply";
	body = harness_pack(&req.base, &len);
	r = bus_call(bus, EXP_NAME, NULL, "Fail", "busd.examples.FailRequest", body, len, 5 * SEC,
		     &err, &reply, &rlen);
	free(body);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_SERVICE_FAILED),
	   "handler answering NULL: bus.Error.ServiceFailed (r=%d %s)", r, err.name);

	/* Async call to an unowned name: the callback runs once, with the error. */
	struct async_result a = { 0 };
	r = bus_call_async(bus, NULL, "org.test.Nobody", NULL, "Echo", "", NULL, 0, 5 * SEC, on_async, &a);
	is_int(r, 0, "async call to an unowned name is sent");
	harness_loop_until(bus, &a.calls, 5000);
	harness_sync(bus);
	ok(a.calls == 1 && a.replies == 0 && bus_error_has_name(&a.err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "its callback runs once with bus.Error.NameHasNoOwner (%d, %s)", a.calls, a.err.name);
}

static void test_timeouts(bus_t *bus)
{
	bus_error_t err;
	char text[256];

	int r = delay_call(bus, HARNESS_ECHO_NAME, 1000, "late", 100000, &err);
	is_int(r, -ETIMEDOUT, "sync call past its timeout returns -ETIMEDOUT");
	is_str(err.name, BUS_ERROR_TIMEOUT, "with bus.Error.Timeout");
	is_str(err.message, "no reply within the call's timeout of 100 ms", "  saying the timeout");
	echo_after(bus, 1000);
	r = echo_call(bus, HARNESS_ECHO_NAME, NULL, "Echo", "after the late reply", 5 * SEC, &err, text, NULL);
	ok(r == 0 && strcmp(text, "after the late reply") == 0,
	   "the late reply is ignored: the next call gets its own answer");

	/* Through a sync proxy. */
	struct result res = { 0 };
	res.proxy = bus_proxy_new(bus, HARNESS_ECHO_NAME, &busd__examples__echo__descriptor, 100000,
				  BUS_PROXY_SYNC);
	Busd__Examples__DelayRequest dreq = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	dreq.ms = 1000;
	dreq.text = (char *)"late stub";
	busd__examples__echo__delay(res.proxy, &dreq, on_echo_reply, &res);
	ok(res.called == 1 && !res.got_reply, "sync stub past its timeout: closure with NULL");
	is_str(res.err.name, BUS_ERROR_TIMEOUT, "bus_proxy_call_error says bus.Error.Timeout");
	bus_proxy_free(res.proxy);

	/* Async: exactly one callback, the timeout; the late reply is dropped. */
	struct async_result a = { 0 };
	Busd__Examples__DelayRequest areq = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	areq.ms = 800;
	areq.text = (char *)"late async";
	size_t len;
	void *body = harness_pack(&areq.base, &len);
	r = bus_call_async(bus, NULL, HARNESS_ECHO_NAME, NULL, "Delay", "busd.examples.DelayRequest", body,
			   len, 100000, on_async, &a);
	free(body);
	is_int(r, 0, "async call with a short timeout sent");
	uint64_t due = 0;
	ok(bus_get_timeout(bus, &due) == 0 && due != UINT64_MAX,
	   "bus_get_timeout reports the pending call's deadline");
	harness_loop_until(bus, &a.calls, 5000);
	echo_after(bus, 800);
	ok(a.calls == 1 && a.replies == 0, "async timeout: callback ran once, without reply (%d/%d)",
	   a.calls, a.replies);
	is_str(a.err.name, BUS_ERROR_TIMEOUT, "with bus.Error.Timeout");
	is_str(a.err.message, "no reply within the call's timeout of 100 ms", "  saying the timeout");

	/* A cancelled call never calls back. */
	struct async_result c = { 0 };
	bus_slot_t *slot = NULL;
	r = bus_call_async(bus, &slot, HARNESS_ECHO_NAME, NULL, "Echo", "", NULL, 0, 5 * SEC,
			   on_async, &c);
	ok(r == 0 && bus_slot_get_bus(slot) == bus, "an async call gives a live slot");
	ok(bus_slot_unref(slot) == NULL, "dropping it cancels the call");
	echo_after(bus, 0);
	is_int(c.calls, 0, "the cancelled call's callback never runs");
}

/* A slot held through the call: over once the call is answered, and the
 * callback may drop it; bus_slot_ref() keeps it for longer. */
struct slot_call {
	bus_slot_t *slot;
	int calls, live_in_callback;
};

static void on_slot_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct slot_call *s = ud;
	(void)reply;
	(void)err;
	s->calls++;
	s->live_in_callback = bus_slot_get_bus(s->slot) == bus;
	s->slot = bus_slot_unref(s->slot);
}

static void test_call_slots(bus_t *bus)
{
	struct slot_call a = { 0 }, b = { 0 };
	bus_slot_t *extra;

	is_int(bus_call_async(bus, &a.slot, HARNESS_ECHO_NAME, NULL, "Echo", "", NULL, 0, 5 * SEC,
			      on_slot_reply, &a), 0, "an async call with a slot");
	is_int(bus_call_async(bus, &b.slot, HARNESS_ECHO_NAME, NULL, "Echo", "", NULL, 0, 5 * SEC,
			      on_slot_reply, &b), 0, "another, whose slot gets a second reference");
	extra = bus_slot_ref(b.slot);
	ok(extra == b.slot && bus_slot_get_userdata(extra) == &b, "  bus_slot_ref returns the slot");
	harness_loop_until(bus, &b.calls, 5000);
	harness_loop_until(bus, &a.calls, 5000);
	ok(a.calls == 1 && b.calls == 1, "both callbacks run once");
	is_int(a.live_in_callback, 0, "in its callback the call's slot is already over");
	ok(bus_slot_get_bus(extra) == NULL, "  the reference kept says so: no connection");
	bus_slot_unref(extra);
	is_int(bus_call_async(bus, &extra, HARNESS_ECHO_NAME, NULL, "Echo", "", NULL, 0, 5 * SEC,
			      NULL, NULL), 0, "a call without a callback (no answer wanted)");
	ok(extra == NULL, "  has no slot");
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* A loop that polls bus_get_fd() may make it non-blocking (libuv does): a
 * sync call must then wait in poll(), not spin on EAGAIN. */
static void test_nonblocking_fd(void)
{
	bus_t *bus = harness_connect();
	bus_error_t err;
	int fd = bus_get_fd(bus), fl = fcntl(fd, F_GETFL);

	ok(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0,
	   "the program makes bus_get_fd() non-blocking");
	double cpu = cpu_seconds();
	uint64_t t0 = harness_now_ms();
	int r = delay_call(bus, HARNESS_ECHO_NAME, 1000, "slow", 10 * SEC, &err);
	uint64_t waited = harness_now_ms() - t0;
	cpu = cpu_seconds() - cpu;
	is_int(r, 0, "a sync call answered after 1 s (Delay) succeeds on it (%s)", err.name);
	ok(waited >= 1000, "  it did wait for the answer (%llu ms)", (unsigned long long)waited);
	ok(cpu < 0.2, "  using almost no CPU meanwhile: %.3f s user+sys, not a busy loop", cpu);
	ok(fcntl(fd, F_GETFL) & O_NONBLOCK, "  and the socket stays as the program set it");
	bus_close(bus);
}

/* ---------------------------------------------------------------- credentials */

#define CREDS_NAME "org.test.Creds"

/* "pid uid gid n g1 g2 ..." */
static void creds_text(char *buf, size_t len, pid_t pid, uid_t uid, gid_t gid, size_t n,
		       const gid_t *groups)
{
	int at = snprintf(buf, len, "%ld %ld %ld %zu", (long)pid, (long)uid, (long)gid, n);
	for (size_t i = 0; i < n && at > 0 && (size_t)at < len; i++)
		at += snprintf(buf + at, len - (size_t)at, " %ld", (long)groups[i]);
}

static void creds_reply(void *call, Busd__Examples__EchoReply_Closure closure,
			const bus_creds_t *c, const bus_error_t *err)
{
	Busd__Examples__EchoReply reply = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	char text[1024];

	if (!c) {
		bus_call_fail(call, err->name, "%s", err->message);
		return;
	}
	creds_text(text, sizeof(text), c->pid, c->uid, c->gid, c->n_groups, c->groups);
	reply.text = text;
	closure(&reply, call);
}

/* Echo: the caller's credentials, asked for from the handler (sync). */
static void cs_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *req,
		    Busd__Examples__EchoReply_Closure closure, void *call)
{
	bus_creds_t *c = NULL;
	bus_error_t err;

	bus_query_sender_creds(call, &c, &err);
	creds_reply(call, closure, c, &err);
	bus_creds_free(c);
}

/* Delay: the same, answered later from the async form's callback. */
struct creds_call {
	Busd__Examples__EchoReply_Closure closure;
	void *call;
};

static void cs_answer(bus_t *bus, const bus_creds_t *c, const bus_error_t *err, void *ud)
{
	struct creds_call *cc = ud;

	(void)bus;
	creds_reply(cc->call, cc->closure, c, err);
	free(cc);
}

static void cs_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *call)
{
	struct creds_call *cc = malloc(sizeof(*cc));

	cc->closure = closure;
	cc->call = call;
	if (bus_query_sender_creds_async(call, NULL, cs_answer, cc) < 0) {
		bus_call_fail(call, BUS_ERROR_FAILED, "bus_query_sender_creds_async failed");
		free(cc);
	}
}

static void cs_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *req,
		    Busd__Examples__EchoReply_Closure closure, void *call)
{
	bus_call_fail(call, EXPORTER_ERROR, "no");
}

static Busd__Examples__Echo_Service creds_service = BUSD__EXAMPLES__ECHO__INIT(cs_);

static int creds_main(int ctl, void *arg)
{
	bus_error_t err;
	bus_t *bus = NULL;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, CREDS_NAME, &err) < 0 ||
	    bus_export(bus, NULL, CREDS_NAME, &creds_service.base, &err) < 0) {
		harness_send(ctl, "error %s", err.name);
		return 1;
	}
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	int r = exporter_serve(bus, ctl, NULL, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

struct creds_seen {
	int n;
	char text[1024];
	char err[128];
};

static void on_creds(bus_t *bus, const bus_creds_t *c, const bus_error_t *err, void *ud)
{
	struct creds_seen *s = ud;

	(void)bus;
	s->n++;
	if (c)
		creds_text(s->text, sizeof(s->text), c->pid, c->uid, c->gid, c->n_groups, c->groups);
	snprintf(s->err, sizeof(s->err), "%s", err ? err->name : "");
}

static void test_creds(bus_t *bus)
{
	harness_child svc;
	gid_t groups[256];
	char me[1024], got[256], line[128];
	bus_error_t err;

	int n = getgroups(256, groups);
	creds_text(me, sizeof(me), getpid(), getuid(), getgid(), n > 0 ? (size_t)n : 0, groups);
	if (harness_fork(&svc, creds_main, NULL) < 0 ||
	    harness_recv(svc.ctl, line, sizeof(line), 15000) < 0 || strncmp(line, "ready ", 6) != 0) {
		ok(0, "the credentials service starts");
		return;
	}
	int r = echo_call(bus, CREDS_NAME, NULL, "Echo", "", 5 * SEC, &err, got, NULL);
	ok(r == 0, "a service asks busd for its caller's credentials in the handler (%s)", err.name);
	is_str(got, me, "  they are this process's pid, uid, gid and groups");
	Busd__Examples__DelayRequest dreq = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len, rlen = 0;
	void *body = harness_pack(&dreq.base, &len), *reply = NULL;
	r = bus_call(bus, CREDS_NAME, NULL, "Delay", "busd.examples.DelayRequest", body, len, 5 * SEC,
		     &err, &reply, &rlen);
	Busd__Examples__EchoReply *rep =
		r == 0 ? busd__examples__echo_reply__unpack(NULL, rlen, reply) : NULL;
	is_str(rep ? rep->text : err.name, me, "  and the same with the async form, answering later");
	if (rep)
		busd__examples__echo_reply__free_unpacked(rep, NULL);
	free(body);
	free(reply);

	bus_creds_t *c = NULL;
	r = bus_get_name_creds(bus, CREDS_NAME, &c, &err);
	ok(r == 0 && c && c->pid == svc.pid, "bus_get_name_creds of a well-known name: its owner's pid (%ld)",
	   c ? (long)c->pid : -1L);
	ok(c && strcmp(c->unique_name, line + 6) == 0, "  and unique name");
	bus_creds_free(c);
	ok(bus_get_name_creds(bus, "org.test.Nobody", &c, &err) == -EREMOTE && !c &&
	   bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "  of a name nobody owns: bus.Error.NameHasNoOwner");
	struct creds_seen seen = { 0 };
	is_int(bus_get_name_creds_async(bus, NULL, bus_unique_name(bus), on_creds, &seen), 0,
	       "bus_get_name_creds_async of its own unique id");
	harness_loop_until(bus, &seen.n, 5000);
	is_str(seen.text, me, "  reports this process's credentials");
	harness_send(svc.ctl, "quit");
	is_int(harness_wait(&svc, 5000), 0, "the credentials service exits 0");
}

/* A CALL whose sender field claims someone else: the callee must see the
 * real caller, and the reply must come back stamped with the callee. */
static void test_spoofed_sender(void)
{
	raw_conn c;
	raw_frame f;
	require(raw_open(&c, harness_socket()) == 0 && raw_hello(&c, 1, &f, 5000) == 0,
		"raw connection says Hello");
	static const char *const fakes[] = { ":1", "bus", NULL };
	for (int i = 0; i < 3; i++) {
		const char *fake = i < 2 ? fakes[i] : exp_unique;
		Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
		uint8_t body[64];
		req.text = (char *)"spoof";
		size_t len = busd__examples__echo_request__pack(&req, body);
		wire_header h = {
			.kind = WIRE_KIND_CALL, .serial = 100 + (uint64_t)i,
			.destination = wire_str_c(EXP_NAME), .member = wire_str_c("Echo"),
			.sender = wire_str_c(fake), .body_type = wire_str_c("busd.examples.EchoRequest"),
		};
		raw_send(&c, &h, body, len);
		int r = raw_recv_reply(&c, h.serial, &f, 5000);
		char sender[128] = "", seen[128] = "";
		if (r == 1 && f.h.kind == WIRE_KIND_REPLY) {
			raw_str(f.h.sender, sender, sizeof(sender));
			Busd__Examples__EchoReply *rep =
				busd__examples__echo_reply__unpack(NULL, f.body_len, f.body);
			if (rep) {
				snprintf(seen, sizeof(seen), "%.*s", (int)rep->data.len,
					 (const char *)rep->data.data);
				busd__examples__echo_reply__free_unpacked(rep, NULL);
			}
		}
		ok(r == 1 && f.h.kind == WIRE_KIND_REPLY, "raw CALL with sender \"%s\" is answered", fake);
		is_str(seen, c.unique, "the callee saw the real caller, not \"%s\"", fake);
		is_str(sender, exp_unique, "the reply is stamped with the callee's unique name");
		char dest[128];
		is_str(raw_str(f.h.destination, dest, sizeof(dest)), c.unique,
		       "the reply is addressed to the caller");
	}
	raw_close(&c);
}

/* Driving libbus from a libevent loop. */
struct ev_ctx {
	struct event_base *base;
	struct async_result a;
};

static void on_async_ev(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct ev_ctx *x = ud;
	on_async(bus, reply, err, &x->a);
	event_base_loopbreak(x->base);
}

static void test_libevent(void)
{
	bus_t *bus = harness_connect();
	struct ev_ctx x = { .base = event_base_new() };
	is_int(bus_attach_event(bus, x.base), 0, "bus_attach_event");
	int r = bus_call_async(bus, NULL, HARNESS_ECHO_NAME, NULL, "Echo", "", NULL, 0, 5 * SEC,
			       on_async_ev, &x);
	struct timeval tv = { 10, 0 };
	event_base_loopexit(x.base, &tv);
	event_base_dispatch(x.base);
	ok(r == 0 && x.a.calls == 1 && x.a.replies == 1, "an async call completes from the libevent loop");
	is_int(bus_detach_event(bus), 0, "bus_detach_event");
	bus_close(bus);
	event_base_free(x.base);
}

int main(void)
{
	harness_child echo, exp;

	plan(98);
	harness_start(NULL);
	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	require(exporter_start(&exp, EXP_NAME, exp_unique) == 0, "exporter is up");
	bus_t *bus = harness_connect();

	test_proxy_sync(bus);
	test_proxy_async(bus);
	test_untyped(bus);
	test_errors(bus);
	test_timeouts(bus);
	test_call_slots(bus);
	test_nonblocking_fd();
	test_creds(bus);
	test_spoofed_sender();
	test_libevent();

	bus_close(bus);
	harness_send(exp.ctl, "quit");
	is_int(harness_wait(&exp, 5000), 0, "the exporter served everything and exits 0");
	return harness_done();
}
