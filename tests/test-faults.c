/* test-faults.c - busd under misbehaving peers: callees that die or leave
 * with calls pending, garbage and broken frames, oversized frames, wrong
 * versions, a missing Hello, and replies nobody asked for. Each violator gets
 * one ERROR frame and is closed; every other client keeps working, which a
 * libbus client checks before and after each fault.
 * busd runs with --max-frame-size 65536. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "exporter.h"
#include "raw.h"
#include "echo.pb-c.h"

#define SEC 1000000ull
#define MAX_FRAME 65536
#define GOOD_NAME "org.test.Faults"
#define ANY_SERIAL UINT64_MAX

static harness_child good_exp; /* the callee of its calls */
static bus_t *good;     /* the well-behaved client */
static int good_calls;  /* its successful calls so far */

/* ---------------------------------------------------------------- helpers */

/* The well-behaved client calls the exporter and checks its answer. */
static void still_works(const char *when)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	char text[64];
	size_t len, rlen = 0;
	void *reply = NULL;
	bus_error_t err;
	snprintf(text, sizeof(text), "good call %d", good_calls);
	req.text = text;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(good, GOOD_NAME, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			 10 * SEC, &err, &reply, &rlen);
	free(body);
	Busd__Examples__EchoReply *rep = r == 0 ? busd__examples__echo_reply__unpack(NULL, rlen, reply) : NULL;
	free(reply);
	ok(rep && strcmp(rep->text, text) == 0, "another client's call works %s (r=%d %s)", when, r,
	   r ? err.name : "");
	if (rep)
		busd__examples__echo_reply__free_unpacked(rep, NULL);
	good_calls++;
}

/* A new raw connection, after Hello if hello is set; the test bails out
 * without one. */
static raw_conn *fresh(raw_conn *c, int hello)
{
	raw_frame f;

	if (raw_open(c, harness_socket()) < 0)
		harness_bail("cannot connect to busd");
	if (hello && raw_hello(c, 1, &f, 5000) < 0)
		harness_bail("busd did not answer Hello");
	return c;
}

/* The violator gets one ERROR from "bus" named name (answering serial,
 * unless ANY_SERIAL), then end of file. */
static void expect_error_close(raw_conn *c, const char *name, uint64_t serial, const char *what)
{
	raw_frame f;
	char got[128] = "", sender[64] = "", msg[256] = "";
	int r = raw_recv(c, &f, 10000);
	if (r == 1) {
		raw_str(f.h.error_name, got, sizeof(got));
		raw_str(f.h.sender, sender, sizeof(sender));
		raw_str(f.h.error_message, msg, sizeof(msg));
	}
	ok(r == 1 && f.h.kind == WIRE_KIND_ERROR, "%s: an ERROR frame (r=%d kind=%u)", what, r,
	   r == 1 ? f.h.kind : 0);
	is_str(got, name, "%s: named %s", what, name);
	is_str(sender, "bus", "%s: sent by bus", what);
	ok(msg[0] != 0, "%s: with a message (\"%s\")", what, msg);
	if (serial != ANY_SERIAL)
		is_int((long long)(r == 1 ? f.h.reply_serial : ~0ull), (long long)serial,
		       "%s: answering serial %llu", what, (unsigned long long)serial);
	is_int(raw_wait_eof(c, 10000), 1, "%s: then the connection is closed", what);
	raw_close(c);
}

/* A Hello frame, encoded; returns its length. */
static size_t hello_frame(uint8_t *buf, uint32_t version, uint64_t serial)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	uint8_t body[32];
	req.protocol_version = version;
	size_t blen = bus__hello_request__pack(&req, body);
	wire_header h = {
		.kind = WIRE_KIND_CALL, .serial = serial, .destination = wire_str_c("bus"),
		.member = wire_str_c("Hello"), .body_type = wire_str_c("bus.HelloRequest"),
	};
	size_t hl = wire_header_encode(&h, buf + WIRE_PREAMBLE_SIZE);
	wire_preamble_encode(buf, (uint32_t)hl, (uint32_t)blen);
	memcpy(buf + WIRE_PREAMBLE_SIZE + hl, body, blen);
	return WIRE_PREAMBLE_SIZE + hl + blen;
}

/* Frames c receives before the reply to a fresh ListNames call: a barrier
 * that proves busd handled everything c (and others, before) sent. Frames
 * answering serial are counted in *answers; their senders in senders. */
static int drain_until_barrier(raw_conn *c, uint64_t serial, int *answers, char *senders, size_t len)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	uint8_t body[8];
	raw_frame f;
	size_t blen = bus__list_names_request__pack(&req, body);
	raw_call(c, "bus", "ListNames", "bus.ListNamesRequest", body, blen);
	uint64_t barrier = c->serial;
	int other = 0;
	for (;;) {
		if (raw_recv(c, &f, 10000) != 1)
			return -1;
		if (f.h.reply_serial == barrier && f.h.kind == WIRE_KIND_REPLY)
			return other;
		if (f.h.reply_serial == serial && (f.h.kind == WIRE_KIND_REPLY || f.h.kind == WIRE_KIND_ERROR)) {
			(*answers)++;
			if (senders) {
				char s[64];
				if (senders[0])
					strncat(senders, " ", len - strlen(senders) - 1);
				strncat(senders, raw_str(f.h.sender, s, sizeof(s)), len - strlen(senders) - 1);
			}
		} else {
			other++;
		}
	}
}

static int send_delay(raw_conn *c, const char *dest, uint32_t ms, const char *text)
{
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	uint8_t body[128];
	req.ms = ms;
	req.text = (char *)text;
	size_t len = busd__examples__delay_request__pack(&req, body);
	return raw_call(c, dest, "Delay", "busd.examples.DelayRequest", body, len);
}

/* Wait for n "delay ..." lines from an exporter (the calls have arrived). */
static int wait_delays(harness_child *x, int n)
{
	char line[256];
	int got = 0;
	while (got < n && harness_recv(x->ctl, line, sizeof(line), 10000) >= 0)
		got += strncmp(line, "delay ", 6) == 0;
	return got;
}

/* ---------------------------------------------------------------- callees */

struct async_result {
	int calls;
	bus_error_t err;
};

static void on_async(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct async_result *a = ud;
	a->calls++;
	if (err)
		a->err = *err;
}

static void test_callee_killed(void)
{
	harness_child victim;
	char u[64];
	require(exporter_start(&victim, "org.test.Victim", u) == 0, "a victim exporter starts");
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	req.ms = 60000;
	req.text = (char *)"victim";
	size_t len;
	void *body = harness_pack(&req.base, &len);
	struct async_result a = { 0 };
	int r = bus_call_async(good, NULL, "org.test.Victim", NULL, "Delay", "busd.examples.DelayRequest",
			       body, len, 30 * SEC, on_async, &a);
	free(body);
	bus_flush(good);
	ok(r == 0 && wait_delays(&victim, 1) == 1, "the call reached the callee");
	harness_signal(&victim, SIGKILL);
	harness_wait(&victim, 5000);
	harness_loop_until(good, &a.calls, 20000);
	is_int(a.calls, 1, "callee killed mid-call: the caller is answered once");
	is_str(a.err.name, BUS_ERROR_NO_REPLY, "with bus.Error.NoReply from busd (not a timeout)");
	still_works("after a callee was killed");
}

static void test_callee_leaves(void)
{
	enum { CALLERS = 3, CALLS = 3 };
	harness_child closer;
	char u[64];
	raw_conn c[CALLERS];
	uint64_t serials[CALLERS][CALLS];

	require(exporter_start(&closer, "org.test.Closer", u) == 0, "a closing exporter starts");
	for (int i = 0; i < CALLERS; i++) {
		fresh(&c[i], 1);
		for (int k = 0; k < CALLS; k++) {
			send_delay(&c[i], "org.test.Closer", 60000, "pending");
			serials[i][k] = c[i].serial;
		}
	}
	struct async_result a[2] = { { 0 }, { 0 } };
	for (int k = 0; k < 2; k++)
		bus_call_async(good, NULL, "org.test.Closer", NULL, "Echo", "", NULL, 0, 30 * SEC, on_async,
			       &a[k]);
	/* The libbus calls are answered at once; hold them with Delay instead. */
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	req.ms = 60000;
	req.text = (char *)"pending";
	size_t len;
	void *body = harness_pack(&req.base, &len);
	struct async_result d[2] = { { 0 }, { 0 } };
	for (int k = 0; k < 2; k++)
		bus_call_async(good, NULL, "org.test.Closer", NULL, "Delay", "busd.examples.DelayRequest",
			       body, len, 30 * SEC, on_async, &d[k]);
	free(body);
	bus_flush(good);
	ok(wait_delays(&closer, CALLERS * CALLS + 2) == CALLERS * CALLS + 2,
	   "%d calls from %d callers are pending on the callee", CALLERS * CALLS + 2, CALLERS + 1);
	harness_send(closer.ctl, "quit");
	is_int(harness_wait(&closer, 5000), 0, "the callee closes its connection and exits");

	for (int i = 0; i < CALLERS; i++) {
		int right = 0, total = 0;
		raw_frame f;
		int answered[CALLS] = { 0 };
		while (total < CALLS && raw_recv(&c[i], &f, 10000) == 1) {
			for (int k = 0; k < CALLS; k++) {
				if (f.h.reply_serial != serials[i][k])
					continue;
				total++;
				answered[k]++;
				right += f.h.kind == WIRE_KIND_ERROR &&
					 wire_str_eq(f.h.error_name, BUS_ERROR_NO_REPLY) &&
					 wire_str_eq(f.h.sender, "bus");
			}
		}
		int extra = 0;
		int more = drain_until_barrier(&c[i], serials[i][0], &extra, NULL, 0);
		for (int k = 1; k < CALLS; k++)
			drain_until_barrier(&c[i], serials[i][k], &extra, NULL, 0);
		ok(right == CALLS && answered[0] == 1 && answered[1] == 1 && answered[2] == 1,
		   "raw caller %d: each of its %d calls answered by bus with bus.Error.NoReply", i, CALLS);
		ok(extra == 0 && more == 0, "raw caller %d: and nothing more (extra %d, other %d)", i, extra, more);
		raw_close(&c[i]);
	}
	int both = 0;
	uint64_t deadline = harness_now_ms() + 10000;
	while (both < 2 && harness_now_ms() < deadline) {
		harness_loop_for(good, 20);
		both = (d[0].calls > 0) + (d[1].calls > 0);
	}
	ok(d[0].calls == 1 && d[1].calls == 1 && bus_error_has_name(&d[0].err, BUS_ERROR_NO_REPLY) &&
	   bus_error_has_name(&d[1].err, BUS_ERROR_NO_REPLY),
	   "libbus caller: both pending calls fail once with bus.Error.NoReply");
	ok(a[0].calls == 1 && a[1].calls == 1, "its earlier calls were answered once each");
	still_works("after a callee left with calls pending");
}

/* ---------------------------------------------------------------- frames */

/* A header that decodes but breaks a rule: the ERROR answers its serial. */
static void bad_header(wire_header h, const char *what)
{
	raw_conn c;

	raw_send(fresh(&c, 1), &h, NULL, 0);
	expect_error_close(&c, BUS_ERROR_INVALID_FRAME, h.serial, what);
}

static void test_garbage(void)
{
	raw_conn c;
	uint8_t f[WIRE_PREAMBLE_SIZE + 2];

	still_works("before garbage");
	raw_write(fresh(&c, 1), "GARBAGE!GARBAGE!GARBAGE!", 24);
	expect_error_close(&c, BUS_ERROR_INVALID_FRAME, 0, "garbage after Hello");
	raw_write(fresh(&c, 0), "GET / HTTP/1.0\r\n\r\n", 18);
	expect_error_close(&c, BUS_ERROR_INVALID_FRAME, 0, "garbage instead of Hello");
	still_works("after garbage");

	/* Valid preamble, header bytes that are not a bus.Header (a group). */
	wire_preamble_encode(f, 2, 0);
	f[12] = 0x0b;
	f[13] = 0x00;
	raw_write(fresh(&c, 1), f, sizeof(f));
	expect_error_close(&c, BUS_ERROR_INVALID_FRAME, 0, "malformed header");

	bad_header((wire_header){ .kind = WIRE_KIND_CALL, .serial = 77,
				  .destination = wire_str_c("org.x.Y") },
		   "CALL without a method");
	bad_header((wire_header){ .kind = WIRE_KIND_CALL, .serial = 78,
				  .destination = wire_str_c(GOOD_NAME), .member = wire_str_c("Echo"),
				  .fd_count = 1 },
		   "fd_count 1");
	bad_header((wire_header){ .kind = 9, .serial = 79, .destination = wire_str_c(GOOD_NAME),
				  .member = wire_str_c("Echo") },
		   "unknown kind 9");
	bad_header((wire_header){ .kind = WIRE_KIND_EVENT, .serial = 80, .member = wire_str_c("a.b"),
				  .destination = wire_str_c(GOOD_NAME) },
		   "EVENT with a destination");

	wire_preamble_encode(f, 10, 0);
	f[3] = 0x01;
	raw_write(fresh(&c, 1), f, WIRE_PREAMBLE_SIZE);
	expect_error_close(&c, BUS_ERROR_INVALID_FRAME, 0, "unknown preamble flag");
	still_works("after malformed frames");
}

/* A preamble announcing a frame above the limit, the body never sent. */
static void big_preamble(uint32_t body_len, const char *what)
{
	raw_conn c;
	uint8_t f[WIRE_PREAMBLE_SIZE];

	wire_preamble_encode(f, 20, body_len);
	raw_write(fresh(&c, 1), f, sizeof(f));
	expect_error_close(&c, BUS_ERROR_FRAME_TOO_LARGE, 0, what);
}

static void test_oversized(void)
{
	raw_conn c;
	/* Just under the limit is fine, both ways. */
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t big = MAX_FRAME - 1024;
	uint8_t *data = calloc(1, big);
	req.text = (char *)"near the limit";
	req.data.data = data;
	req.data.len = big;
	size_t len, rlen = 0;
	void *reply = NULL;
	void *body = harness_pack(&req.base, &len);
	bus_error_t err;
	int r = bus_call(good, GOOD_NAME, NULL, "Echo", "busd.examples.EchoRequest", body, len, 10 * SEC,
			 &err, &reply, &rlen);
	ok(r == 0, "a %zu-byte call under the %d-byte limit goes through (r=%d %s)", len, MAX_FRAME, r,
	   r ? err.name : "");
	free(reply);
	free(body);
	free(data);

	big_preamble(MAX_FRAME, "preamble announcing 65568 bytes");
	big_preamble(UINT32_MAX - 20, "body_len near UINT32_MAX");

	/* A whole oversized frame, written while busd may already close. */
	size_t n = MAX_FRAME + 4096;
	uint8_t *f = calloc(1, n);
	wire_header h = { .kind = WIRE_KIND_EVENT, .serial = 5, .member = wire_str_c("big") };
	size_t hl = wire_header_encode(&h, f + WIRE_PREAMBLE_SIZE);
	wire_preamble_encode(f, (uint32_t)hl, (uint32_t)(n - WIRE_PREAMBLE_SIZE - hl));
	raw_write(fresh(&c, 1), f, n);
	free(f);
	expect_error_close(&c, BUS_ERROR_FRAME_TOO_LARGE, 0, "a whole oversized EVENT");
	still_works("after oversized frames");
}

static void test_versions(void)
{
	raw_conn c;
	uint8_t f[256];
	raw_frame fr;
	char name[128] = "";
	size_t n;
	int r;

	n = hello_frame(f, 1, 1);
	f[2] = 2;
	raw_write(fresh(&c, 0), f, n);
	expect_error_close(&c, BUS_ERROR_VERSION_MISMATCH, ANY_SERIAL, "preamble version 2");

	r = raw_hello(fresh(&c, 0), 2, &fr, 10000);
	if (r == -EREMOTE)
		raw_str(fr.h.error_name, name, sizeof(name));
	ok(r == -EREMOTE && strcmp(name, BUS_ERROR_VERSION_MISMATCH) == 0,
	   "Hello protocol_version 2: bus.Error.VersionMismatch (r=%d %s)", r, name);
	is_int(raw_wait_eof(&c, 10000), 1, "Hello protocol_version 2: then closed");
	raw_close(&c);

	n = hello_frame(f, 1, 9);
	f[2] = 0;
	raw_write(fresh(&c, 1), f, n);
	expect_error_close(&c, BUS_ERROR_VERSION_MISMATCH, ANY_SERIAL, "preamble version 0 after Hello");

	bus_t *bus = NULL;
	bus_error_t err;
	r = bus_connect(&bus, harness_socket(), &err);
	ok(r == 0 && bus, "libbus still connects with the right version");
	bus_close(bus);

	/* First frame not Hello. */
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	uint8_t body[8];
	size_t blen = bus__list_names_request__pack(&req, body);
	raw_call(fresh(&c, 0), "bus", "ListNames", "bus.ListNamesRequest", body, blen);
	expect_error_close(&c, BUS_ERROR_HELLO_REQUIRED, 1, "ListNames before Hello");
	raw_call(fresh(&c, 0), GOOD_NAME, "Echo", "busd.examples.EchoRequest", NULL, 0);
	expect_error_close(&c, BUS_ERROR_HELLO_REQUIRED, 1, "a call to a service before Hello");
	wire_header h = { .kind = WIRE_KIND_EVENT, .serial = 3, .member = wire_str_c("a.b") };
	raw_send(fresh(&c, 0), &h, "x", 1);
	expect_error_close(&c, BUS_ERROR_HELLO_REQUIRED, 3, "an EVENT before Hello");

	/* A second Hello is an ordinary error. */
	r = raw_hello(fresh(&c, 1), 1, &fr, 10000);
	ok(r == -EREMOTE, "a second Hello is answered with an ERROR (r=%d)", r);
	int answers = 0;
	ok(drain_until_barrier(&c, 0, &answers, NULL, 0) == 0, "and the connection stays up");
	raw_close(&c);
	still_works("after version and Hello errors");
}

/* ---------------------------------------------------------------- replies */

static void test_unsolicited_replies(void)
{
	raw_conn a, b, callee;
	raw_frame f;
	fresh(&a, 1);
	fresh(&b, 1);
	fresh(&callee, 1);
	Bus__NameRequest nreq = BUS__NAME_REQUEST__INIT;
	nreq.name = (char *)"org.test.RawCallee";
	is_int(raw_control(&callee, "RequestName", &nreq.base, &f, 5000), 0, "a raw callee owns its name");

	/* A REPLY and an ERROR to calls b never made. */
	wire_header fake = {
		.kind = WIRE_KIND_REPLY, .serial = 50, .reply_serial = 99,
		.destination = wire_str_c(b.unique),
	};
	raw_send(&a, &fake, "fake", 4);
	fake.kind = WIRE_KIND_ERROR;
	fake.serial = 51;
	fake.error_name = wire_str_c("org.test.Fake");
	raw_send(&a, &fake, NULL, 0);
	int answers = 0;
	ok(drain_until_barrier(&a, 0, &answers, NULL, 0) == 0, "the sender of unsolicited replies is not disconnected");
	int other = drain_until_barrier(&b, 99, &answers, NULL, 0);
	ok(other == 0 && answers == 0, "REPLY/ERROR to a call never made are dropped (%d, %d)", answers, other);

	/* b calls the raw callee; a tries to answer in its place. */
	raw_call(&b, "org.test.RawCallee", "Ping", "test.Opaque", "ping", 4);
	uint64_t s = b.serial;
	int r = raw_recv(&callee, &f, 5000);
	char sender[64] = "";
	if (r == 1)
		raw_str(f.h.sender, sender, sizeof(sender));
	ok(r == 1 && f.h.kind == WIRE_KIND_CALL && f.h.serial == s, "the callee receives the CALL");
	is_str(sender, b.unique, "stamped with the caller's unique name");
	fake.kind = WIRE_KIND_REPLY;
	fake.serial = 52;
	fake.reply_serial = s;
	fake.error_name.len = 0;
	raw_send(&a, &fake, "fake", 4);
	drain_until_barrier(&a, 0, &answers, NULL, 0);

	/* The real answer, then a second one for the same call. */
	wire_header rep = {
		.kind = WIRE_KIND_REPLY, .serial = 60, .reply_serial = s,
		.destination = wire_str_c(b.unique), .body_type = wire_str_c("test.Opaque"),
	};
	raw_send(&callee, &rep, "real", 4);
	rep.serial = 61;
	raw_send(&callee, &rep, "again", 5);
	drain_until_barrier(&callee, 0, &answers, NULL, 0);
	answers = 0;
	char senders[256] = "";
	other = drain_until_barrier(&b, s, &answers, senders, sizeof(senders));
	is_int(answers, 1, "the caller gets exactly one answer: spoofed and repeated replies are dropped");
	is_str(senders, callee.unique, "the answer it gets is the callee's");

	/* NO_REPLY_EXPECTED: nothing pending, so the callee's answer is dropped
	 * and its departure answers nothing. */
	wire_header call = {
		.kind = WIRE_KIND_CALL, .flags = WIRE_FLAG_NO_REPLY_EXPECTED, .serial = 70,
		.destination = wire_str_c("org.test.RawCallee"), .member = wire_str_c("Ping"),
	};
	raw_send(&b, &call, NULL, 0);
	r = raw_recv(&callee, &f, 5000);
	ok(r == 1 && f.h.serial == 70 && (f.h.flags & WIRE_FLAG_NO_REPLY_EXPECTED),
	   "a NO_REPLY_EXPECTED call is delivered with its flag");
	rep.serial = 62;
	rep.reply_serial = 70;
	raw_send(&callee, &rep, "unwanted", 8);
	call.flags = 0;
	call.serial = 71;
	raw_send(&b, &call, NULL, 0);
	r = raw_recv(&callee, &f, 5000);
	ok(r == 1 && f.h.serial == 71, "a normal call is pending on the callee");
	raw_close(&callee);
	int a70 = 0, got71 = 0;
	char ename[128] = "";
	raw_frame g;
	while (!got71 && raw_recv(&b, &g, 10000) == 1) {
		if (g.h.reply_serial == 70)
			a70++;
		if (g.h.reply_serial == 71) {
			got71 = 1;
			raw_str(g.h.error_name, ename, sizeof(ename));
		}
	}
	ok(got71 && strcmp(ename, BUS_ERROR_NO_REPLY) == 0,
	   "the callee leaving answers the pending call with NoReply (%s)", ename);
	drain_until_barrier(&b, 70, &a70, NULL, 0);
	is_int(a70, 0, "but nothing for the NO_REPLY_EXPECTED call, neither its reply nor NoReply");
	raw_close(&a);
	raw_close(&b);
	still_works("after unsolicited replies");
}

static void test_truncated_and_gone(void)
{
	raw_conn c;
	uint8_t f[WIRE_PREAMBLE_SIZE + 30];
	bus_error_t err;

	/* Half a frame, then close. */
	memset(f, 0x08, sizeof(f));
	wire_preamble_encode(f, 50, 100);
	raw_write(fresh(&c, 1), f, sizeof(f));
	raw_close(&c);
	/* Half a preamble, then close; and connect-close without a byte. */
	raw_write(fresh(&c, 0), "BD\x01", 3);
	raw_close(&c);
	raw_close(fresh(&c, 0));

	/* A caller that leaves before its answer comes. Once a longer Delay
	 * sent after it is answered, the callee has answered the orphan too
	 * (its calls are answered in the order they fall due), and busd has
	 * routed that answer to nobody. */
	send_delay(fresh(&c, 1), GOOD_NAME, 100, "orphan");
	raw_close(&c);
	is_int(wait_delays(&good_exp, 1), 1, "a caller's call reaches the callee, then the caller leaves");
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	req.ms = 200;
	req.text = (char *)"after the orphan";
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(good, GOOD_NAME, NULL, "Delay", "busd.examples.DelayRequest", body, len,
			 10 * SEC, &err, &reply, &rlen);
	free(body);
	free(reply);
	is_int(r, 0, "a later, longer call to the callee is answered after the orphan's answer");
	still_works("after truncated frames and callers that left");

	Bus__ListNamesReply *l = NULL;
	r = harness_list_names(good, &l);
	ok(r == 0 && l->n_peers >= 2, "ListNames still answers (%zu peers)", l ? l->n_peers : 0);
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
}

int main(void)
{
	static const char *const args[] = { "--max-frame-size", "65536", NULL };
	char u[64];

	plan(141);
	harness_start(args);
	require(exporter_start(&good_exp, GOOD_NAME, u) == 0, "exporter is up");
	good = harness_connect();

	test_callee_killed();
	test_callee_leaves();
	test_garbage();
	test_oversized();
	test_versions();
	test_unsolicited_replies();
	test_truncated_and_gone();

	bus_close(good);
	harness_send(good_exp.ctl, "quit");
	is_int(harness_wait(&good_exp, 5000), 0,
	       "the exporter exits 0: its connection survived every fault");
	return harness_done();
}
