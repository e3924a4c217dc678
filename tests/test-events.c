/* test-events.c - event delivery through a real busd: exact topics,
 * "prefix.*" and "*" patterns, one delivery per peer however many of its
 * patterns match, unsubscribe, the sender stamp, opaque bodies, the libbus
 * subscription API (slots, the async form, a callback ending its own
 * subscription), bus_msg_unpack()'s type check and the events of
 * services/sensor.
 *
 * Broker semantics are checked with raw connections (tests/raw.h), so that
 * libbus's own filtering cannot hide a wrong delivery. Each receiver also
 * subscribes to "zz.sync", emitted last: busd routes one emitter's frames in
 * order, so when zz.sync arrives every earlier event has been delivered. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "raw.h"
#include "sensor.pb-c.h"

#define SYNC "zz.sync"

static const char *const topics[] = {
	"test.ev.a", "test.ev.a.b", "test.ev.b.c.d", "test.ev", "test.evx.a",
	"test.other", "unrelated", SYNC, NULL,
};

/* ---------------------------------------------------------------- helpers */

static int raw_up(raw_conn *c)
{
	raw_frame f;
	return raw_open(c, harness_socket()) == 0 && raw_hello(c, 1, &f, 5000) == 0;
}

static int sub(raw_conn *c, const char *pattern)
{
	raw_frame f;
	return raw_subscribe(c, pattern, &f);
}

/* Emit an EVENT whose sender field lies (busd must stamp the real one) and
 * whose body is not protobuf (busd must not look inside). */
static void emit(raw_conn *e, const char *topic)
{
	char body[128];
	int n = snprintf(body, sizeof(body), "\xff\xfe payload of %s", topic);
	wire_header h = {
		.kind = WIRE_KIND_EVENT, .serial = ++e->serial,
		.member = wire_str_c(topic), .sender = wire_str_c("bus"),
		.body_type = wire_str_c("test.Opaque"),
	};
	raw_send(e, &h, body, (size_t)n);
}

/* What one receiver saw up to zz.sync: topics joined by spaces, and how many
 * events broke the stamp/body rules. */
struct seen {
	char topics[1024];
	int bad_sender, bad_body, bad_kind, timeout;
};

static void collect(raw_conn *c, const char *emitter, struct seen *s)
{
	raw_frame f;
	memset(s, 0, sizeof(*s));
	for (;;) {
		int r = raw_recv(c, &f, 10000);
		if (r <= 0) {
			s->timeout = 1;
			return;
		}
		char topic[256], sender[128], body_type[128], want[128];
		raw_str(f.h.member, topic, sizeof(topic));
		raw_str(f.h.sender, sender, sizeof(sender));
		raw_str(f.h.body_type, body_type, sizeof(body_type));
		int n = snprintf(want, sizeof(want), "\xff\xfe payload of %s", topic);
		s->bad_kind += f.h.kind != WIRE_KIND_EVENT || f.h.destination.len != 0;
		s->bad_sender += strcmp(sender, emitter) != 0;
		s->bad_body += strcmp(body_type, "test.Opaque") != 0 || f.body_len != (size_t)n ||
			       memcmp(f.body, want, (size_t)n) != 0;
		if (s->topics[0])
			strncat(s->topics, " ", sizeof(s->topics) - strlen(s->topics) - 1);
		strncat(s->topics, topic, sizeof(s->topics) - strlen(s->topics) - 1);
		if (strcmp(topic, SYNC) == 0)
			return;
	}
}

/* How many frames reach e before the reply to a control call it makes now:
 * busd answers in order, so 0 means nothing was queued for e. */
static int frames_before_reply(raw_conn *e)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	raw_frame f;
	uint8_t body[8];
	size_t len = bus__list_names_request__pack(&req, body);
	raw_call(e, "bus", "ListNames", "bus.ListNamesRequest", body, len);
	uint64_t serial = e->serial;
	int other = 0;
	for (;;) {
		int r = raw_recv(e, &f, 10000);
		if (r <= 0)
			return -1;
		if (f.h.reply_serial == serial && f.h.kind == WIRE_KIND_REPLY)
			return other;
		other++;
	}
}

/* ---------------------------------------------------------------- broker */

static void test_patterns(void)
{
	enum { EXACT, PREFIX, ALL, MULTI, NONE, UNSUB, DUP, N };
	static const char *const what[N] = {
		"exact \"test.ev.a\"", "\"test.ev.*\"", "\"*\"", "four matching patterns",
		"no pattern", "unsubscribed \"test.ev.a\"", "\"test.ev.a\" subscribed twice",
	};
	static const char *const want[N] = {
		"test.ev.a " SYNC,
		"test.ev.a test.ev.a.b test.ev.b.c.d " SYNC,
		"test.ev.a test.ev.a.b test.ev.b.c.d test.ev test.evx.a test.other unrelated " SYNC,
		"test.ev.a test.ev.a.b test.ev.b.c.d test.ev test.evx.a test.other unrelated " SYNC,
		SYNC,
		SYNC,
		"test.ev.a " SYNC,
	};
	raw_conn r[N], e;
	int up = raw_up(&e);
	for (int i = 0; i < N; i++)
		up &= raw_up(&r[i]);
	require(up, "eight raw connections said Hello");

	int subs = 0;
	subs += sub(&r[EXACT], "test.ev.a") == 0;
	subs += sub(&r[PREFIX], "test.ev.*") == 0;
	subs += sub(&r[ALL], "*") == 0;
	subs += sub(&r[MULTI], "test.ev.a") == 0;
	subs += sub(&r[MULTI], "test.ev.*") == 0;
	subs += sub(&r[MULTI], "*") == 0;
	subs += sub(&r[MULTI], "test.*") == 0;
	subs += sub(&r[UNSUB], "test.ev.a") == 0;
	subs += sub(&r[DUP], "test.ev.a") == 0;
	subs += sub(&r[DUP], "test.ev.a") == 0;
	for (int i = 0; i < N; i++)
		if (i != ALL && i != MULTI)
			subs += sub(&r[i], SYNC) == 0;
	is_int(subs, 15, "every Subscribe answered with a REPLY");
	raw_frame f;
	is_int(raw_unsubscribe(&r[UNSUB], "test.ev.a", &f), 0, "Unsubscribe answered with a REPLY");

	for (const char *const *t = topics; *t; t++)
		emit(&e, *t);
	for (int i = 0; i < N; i++) {
		struct seen s;
		collect(&r[i], e.unique, &s);
		is_str(s.topics, want[i], "%s receives exactly its topics, once each", what[i]);
		ok(!s.timeout && !s.bad_sender && !s.bad_body && !s.bad_kind,
		   "%s: EVENT frames stamped with the emitter, body and type untouched "
		   "(sender %d, body %d, kind %d)", what[i], s.bad_sender, s.bad_body, s.bad_kind);
	}
	is_int(frames_before_reply(&e), 0, "the emitter, not subscribed, receives none of its events");

	/* Same pattern twice counts once: one Unsubscribe ends it. */
	is_int(raw_unsubscribe(&r[DUP], "test.ev.a", &f), 0, "Unsubscribe of the twice-subscribed pattern");
	int r2 = raw_unsubscribe(&r[DUP], "test.ev.a", &f);
	char name[128] = "";
	raw_str(f.h.error_name, name, sizeof(name));
	ok(r2 == -EREMOTE && strcmp(name, BUS_ERROR_INVALID_ARGS) == 0,
	   "a second Unsubscribe: bus.Error.InvalidArgs (%d %s)", r2, name);
	emit(&e, "test.ev.a");
	emit(&e, SYNC);
	struct seen s;
	collect(&r[DUP], e.unique, &s);
	is_str(s.topics, SYNC, "after one Unsubscribe the pattern delivers nothing");
	collect(&r[EXACT], e.unique, &s);
	is_str(s.topics, "test.ev.a " SYNC, "other subscribers of it still receive");

	static const char *const bad[] = { "a.*.b", "", "a..b", "*.a", "a*", "a.**", NULL };
	for (const char *const *b = bad; *b; b++) {
		int rr = raw_subscribe(&r[NONE], *b, &f);
		raw_str(f.h.error_name, name, sizeof(name));
		ok(rr == -EREMOTE && strcmp(name, BUS_ERROR_INVALID_ARGS) == 0,
		   "Subscribe \"%s\": bus.Error.InvalidArgs (%d %s)", *b, rr, name);
	}
	int rr = raw_unsubscribe(&r[NONE], "never.subscribed", &f);
	raw_str(f.h.error_name, name, sizeof(name));
	ok(rr == -EREMOTE && strcmp(name, BUS_ERROR_INVALID_ARGS) == 0,
	   "Unsubscribe of a pattern never subscribed: bus.Error.InvalidArgs");

	raw_close(&e);
	for (int i = 0; i < N; i++)
		raw_close(&r[i]);
}

static void test_fanout(void)
{
	enum { SUBS = 20, EVENTS = 10 };
	raw_conn r[SUBS], e;
	int up = raw_up(&e), subs = 0;
	for (int i = 0; i < SUBS; i++) {
		up &= raw_up(&r[i]);
		subs += up && sub(&r[i], "fan.*") == 0 && sub(&r[i], SYNC) == 0;
	}
	require(up && subs == SUBS, "%d subscribers of \"fan.*\"", SUBS);
	char want[1024] = "";
	for (int i = 0; i < EVENTS; i++) {
		char t[32];
		snprintf(t, sizeof(t), "fan.e%d", i);
		emit(&e, t);
		strcat(want, t);
		strcat(want, " ");
	}
	strcat(want, SYNC);
	emit(&e, SYNC);
	int right = 0;
	for (int i = 0; i < SUBS; i++) {
		struct seen s;
		collect(&r[i], e.unique, &s);
		right += strcmp(s.topics, want) == 0 && !s.bad_body && !s.bad_sender;
		if (strcmp(s.topics, want) != 0)
			diag("subscriber %d saw: %s", i, s.topics);
	}
	is_int(right, SUBS, "every subscriber gets all %d events once, in emission order", EVENTS);
	raw_close(&e);
	for (int i = 0; i < SUBS; i++)
		raw_close(&r[i]);
}

/* A monitor sees a copy of every routed frame: events, calls and replies,
 * stamped as delivered. */
static void test_monitor(void)
{
	raw_conn m, e, caller, callee;
	raw_frame f;
	require(raw_up(&m) && raw_up(&e) && raw_up(&caller) && raw_up(&callee),
		"four raw connections for the monitor test");
	Bus__MonitorRequest mreq = BUS__MONITOR_REQUEST__INIT;
	is_int(raw_control(&m, "Monitor", &mreq.base, &f, 5000), 0, "Monitor is answered with a REPLY");
	Bus__NameRequest nreq = BUS__NAME_REQUEST__INIT;
	nreq.name = (char *)"org.test.MonCallee";
	is_int(raw_control(&callee, "RequestName", &nreq.base, &f, 5000), 0, "callee owns its name");

	emit(&e, "mon.nobody.listens");
	raw_call(&caller, "org.test.MonCallee", "Ping", "test.Opaque", "ping", 4);
	uint64_t call_serial = caller.serial;
	int r = raw_recv(&callee, &f, 5000);
	ok(r == 1 && f.h.kind == WIRE_KIND_CALL && f.h.serial == call_serial,
	   "the callee receives the CALL");
	wire_header rep = {
		.kind = WIRE_KIND_REPLY, .serial = ++callee.serial, .reply_serial = call_serial,
		.destination = wire_str_c(caller.unique), .body_type = wire_str_c("test.Opaque"),
	};
	raw_send(&callee, &rep, "pong", 4);
	r = raw_recv_reply(&caller, call_serial, &f, 5000);
	ok(r == 1 && f.h.kind == WIRE_KIND_REPLY && f.body_len == 4 && memcmp(f.body, "pong", 4) == 0,
	   "the caller receives the REPLY");

	int saw_event = 0, saw_call = 0, saw_reply = 0;
	char sender[64];
	while (!saw_reply && raw_recv(&m, &f, 5000) == 1) {
		raw_str(f.h.sender, sender, sizeof(sender));
		if (f.h.kind == WIRE_KIND_EVENT && wire_str_eq(f.h.member, "mon.nobody.listens"))
			saw_event = strcmp(sender, e.unique) == 0 ? 1 : -1;
		/* Busd's own answers are copied too: match destinations exactly. */
		if (f.h.kind == WIRE_KIND_CALL && wire_str_eq(f.h.destination, "org.test.MonCallee") &&
		    f.h.serial == call_serial && wire_str_eq(f.h.member, "Ping"))
			saw_call = strcmp(sender, caller.unique) == 0 && f.body_len == 4 ? 1 : -1;
		if (f.h.kind == WIRE_KIND_REPLY && wire_str_eq(f.h.destination, caller.unique) &&
		    f.h.reply_serial == call_serial)
			saw_reply = strcmp(sender, callee.unique) == 0 && f.body_len == 4 ? 1 : -1;
	}
	is_int(saw_event, 1, "the monitor sees the EVENT nobody subscribed to, sender stamped");
	is_int(saw_call, 1, "the monitor sees the CALL, sender stamped, body intact");
	is_int(saw_reply, 1, "the monitor sees the REPLY, sender stamped, body intact");

	/* A monitor may send nothing more: busd refuses and closes it. */
	raw_call(&m, "org.test.MonCallee", "Ping", "test.Opaque", "ping", 4);
	uint64_t bad = m.serial;
	int refused = 0;
	while (!refused && raw_recv(&m, &f, 5000) == 1)
		refused = f.h.kind == WIRE_KIND_ERROR && f.h.reply_serial == bad &&
			  wire_str_eq(f.h.error_name, BUS_ERROR_INVALID_FRAME);
	ok(refused, "a CALL from a monitor is refused with bus.Error.InvalidFrame");
	is_int(raw_wait_eof(&m, 5000), 1, "and the monitor connection is closed");
	/* busd refused the CALL before the monitor saw its answer, so a
	 * forwarded copy would be queued before the callee's next reply. */
	is_int(frames_before_reply(&callee), 0, "the callee never sees the monitor's CALL");
	raw_close(&m);
	raw_close(&e);
	raw_close(&caller);
	raw_close(&callee);
}

/* ---------------------------------------------------------------- libbus */

struct lib_seen {
	int n;
	char topics[512];
	int bad;
	const char *emitter;
};

static void on_lib_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct lib_seen *s = ud;
	s->n++;
	if (s->topics[0])
		strncat(s->topics, " ", sizeof(s->topics) - strlen(s->topics) - 1);
	strncat(s->topics, ev->member, sizeof(s->topics) - strlen(s->topics) - 1);
	if (ev->kind != BUS_KIND_EVENT || strcmp(ev->sender, s->emitter) != 0)
		s->bad++;
	if (strcmp(ev->body_type, "busd.examples.Reading") == 0) {
		Busd__Examples__Reading *m = (Busd__Examples__Reading *)bus_msg_unpack(
			ev, &busd__examples__reading__descriptor);
		if (!m || strcmp(m->sensor, ev->member) != 0 || m->value != 21.5 || m->seq != 7)
			s->bad++;
		if (m)
			protobuf_c_message_free_unpacked(&m->base, NULL);
	} else if (ev->body_len != 3 || memcmp(ev->body, "raw", 3) != 0) {
		s->bad++;
	}
}

static void test_libbus_api(void)
{
	bus_t *em = harness_connect(), *rx = harness_connect();
	bus_error_t err;
	struct lib_seen prefix = { .emitter = bus_unique_name(em) };
	struct lib_seen exact = { .emitter = bus_unique_name(em) };
	struct lib_seen sync = { .emitter = bus_unique_name(em) };

	bus_slot_t *s1 = NULL, *s2 = NULL;
	ok(bus_subscribe(rx, &s1, "test.lib.*", on_lib_event, &prefix, &err) == 0 &&
	   bus_subscribe(rx, &s2, "test.lib.x", on_lib_event, &exact, &err) == 0 &&
	   bus_subscribe(rx, NULL, SYNC, on_lib_event, &sync, &err) == 0,
	   "bus_subscribe: two with slots, one floating");
	ok(s1 && s2 && s1 != s2, "  each slot is its own");
	ok(bus_slot_get_bus(s1) == rx && bus_slot_get_userdata(s1) == &prefix,
	   "  a slot knows its connection and userdata");
	bus_slot_t *bad = (bus_slot_t *)&err;
	ok(bus_subscribe(rx, &bad, "a.*.b", on_lib_event, &sync, &err) == -EINVAL && !bad,
	   "bus_subscribe of a bad pattern: -EINVAL, no slot");

	static const char *const emitted[] = { "test.lib.x", "test.lib.y.z", "test.lib", "test.other", NULL };
	for (const char *const *t = emitted; *t; t++) {
		Busd__Examples__Reading m = BUSD__EXAMPLES__READING__INIT;
		m.sensor = (char *)*t;
		m.value = 21.5;
		m.seq = 7;
		bus_emit(em, *t, &m.base);
	}
	bus_emit_raw(em, SYNC, "test.Raw", "raw", 3);
	bus_flush(em);
	harness_loop_until(rx, &sync.n, 10000);
	is_str(prefix.topics, "test.lib.x test.lib.y.z", "\"test.lib.*\" callback: below the prefix only");
	is_str(exact.topics, "test.lib.x", "\"test.lib.x\" callback: its topic");
	is_int(sync.n, 1, "bus_emit_raw delivers its body");
	is_int(prefix.bad + exact.bad + sync.bad, 0, "events carry the emitter's id and unpack to what was sent");

	ok(bus_slot_unref(s1) == NULL, "dropping a subscription's slot unsubscribes");
	prefix.topics[0] = 0;
	exact.topics[0] = 0;
	sync.n = 0;
	Busd__Examples__Reading m = BUSD__EXAMPLES__READING__INIT;
	m.sensor = (char *)"test.lib.x";
	m.value = 21.5;
	m.seq = 7;
	bus_emit(em, "test.lib.x", &m.base);
	bus_emit_raw(em, SYNC, "test.Raw", "raw", 3);
	bus_flush(em);
	harness_loop_until(rx, &sync.n, 10000);
	is_str(prefix.topics, "", "an unsubscribed callback no longer runs");
	is_str(exact.topics, "test.lib.x", "the other subscription still delivers");
	bus_close(rx);
	is_int(bus_slot_get_bus(s2) == NULL, 1, "bus_close() detaches the slots the program holds");
	bus_slot_unref(s2);
	bus_close(em);
}

/* An async subscription: its events and busd's answer. A callback may end
 * its own subscription (drop its slot): it never runs again. */
struct async_sub {
	struct harness_outcome done; /* first: harness_on_done records it */
	bus_slot_t *slot;
	int events;
};

static void on_async_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct async_sub *a = ud;
	(void)bus;
	(void)ev;
	a->events++;
	a->slot = bus_slot_unref(a->slot);
}

static void test_subscribe_async(void)
{
	bus_t *em = harness_connect(), *rx = harness_connect();
	struct lib_seen sync = { .emitter = bus_unique_name(em) };
	struct async_sub once = { 0 }, dropped = { 0 };

	is_int(bus_subscribe_async(rx, &once.slot, "test.async", on_async_event, harness_on_done,
				   &once), 0, "bus_subscribe_async returns at once");
	is_int(once.done.n, 0, "  busd's answer is not reported from inside the call");
	harness_loop_until(rx, &once.done.n, 5000);
	ok(once.done.n == 1 && once.done.err[0] == 0, "  but from bus_process(): accepted (%s)",
	   once.done.err);
	ok(bus_slot_get_bus(once.slot) == rx, "  the subscription lasts: its slot is live");
	is_int(bus_subscribe_async(rx, NULL, SYNC, on_lib_event, NULL, &sync), 0,
	       "a floating one with no done callback");

	is_int(bus_subscribe_async(rx, &dropped.slot, "test.dropped", on_async_event, harness_on_done,
				   &dropped), 0, "another, whose slot is dropped before busd answers");
	dropped.slot = bus_slot_unref(dropped.slot);
	/* busd answers a connection's calls in order: after this one, the
	 * dropped subscription's answer is in and dispatched. */
	Bus__StatsReply *st = harness_stats(rx);
	if (st)
		protobuf_c_message_free_unpacked(&st->base, NULL);
	bus_process(rx);

	for (int i = 0; i < 2; i++) {
		bus_emit_raw(em, "test.async", "test.Raw", "raw", 3);
		bus_emit_raw(em, "test.dropped", "test.Raw", "raw", 3);
	}
	bus_emit_raw(em, SYNC, "test.Raw", "raw", 3);
	bus_flush(em);
	harness_loop_until(rx, &sync.n, 10000);
	is_int(sync.n, 1, "the floating subscription delivers");
	is_int(once.events, 1, "a callback that drops its own slot runs once, however many events come");
	ok(once.slot == NULL, "  (bus_slot_unref() returns NULL for the pointer)");
	ok(dropped.done.n == 0 && dropped.events == 0,
	   "a dropped slot's subscription: no answer reported, no event (%d, %d)", dropped.done.n,
	   dropped.events);
	bus_close(em);
	bus_close(rx);
}

/* bus_msg_unpack() takes a typed body for its own type only; an untyped
 * one as the type asked for. */
struct typed {
	int n, right, refused, untyped;
	int err;
};

static void on_typed(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct typed *t = ud;
	(void)bus;
	t->n++;
	errno = 0;
	Busd__Examples__Reading *m = (Busd__Examples__Reading *)bus_msg_unpack(
		ev, &busd__examples__reading__descriptor);
	if (m && strcmp(m->sensor, "typed") == 0) {
		t->right++;
		t->untyped += ev->body_type[0] == 0;
	} else if (!m && errno == ENOMSG)
		t->refused++;
	else
		t->err = errno;
	if (m)
		protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_event_typing(void)
{
	bus_t *em = harness_connect(), *rx = harness_connect();
	struct typed t = { 0 };
	bus_error_t err;
	uint8_t buf[64];

	bus_subscribe(rx, NULL, "test.typed", on_typed, &t, &err);
	Busd__Examples__Reading r = BUSD__EXAMPLES__READING__INIT;
	r.sensor = (char *)"typed";
	size_t len = busd__examples__reading__pack(&r, buf);
	bus_emit(em, "test.typed", &r.base);
	/* The same bytes under another type's name: they would parse. */
	bus_emit_raw(em, "test.typed", "busd.examples.EchoRequest", buf, len);
	bus_emit_raw(em, "test.typed", NULL, buf, len);
	bus_flush(em);
	uint64_t until = harness_now_ms() + 10000;
	while (t.n < 3 && harness_now_ms() < until)
		harness_loop_for(rx, 10);
	is_int(t.n, 3, "three events arrive");
	is_int(t.right, 2, "bus_msg_unpack() unpacks the one of its type and the untyped one");
	is_int(t.untyped, 1, "  (an absent body_type is taken as the type asked for)");
	is_int(t.refused, 1, "  and refuses the other type's body: NULL, errno ENOMSG");
	is_int(t.err, 0, "  no other failure");
	bus_close(em);
	bus_close(rx);
}

/* ---------------------------------------------------------------- sensor */

struct readings {
	int n;
	uint64_t seq[3];
	int bad;
	char sender[64];
	char topic[128];
};

static void on_reading(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct readings *r = ud;
	Busd__Examples__Reading *m = (Busd__Examples__Reading *)bus_msg_unpack(
		ev, &busd__examples__reading__descriptor);
	if (!m || strcmp(ev->body_type, "busd.examples.Reading") != 0) {
		r->bad++;
	} else if (r->n < 3) {
		r->seq[r->n++] = m->seq;
		snprintf(r->sender, sizeof(r->sender), "%s", ev->sender);
		snprintf(r->topic, sizeof(r->topic), "%s", ev->member);
	}
	if (m)
		protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void test_sensor(void)
{
	harness_child sensor;
	bus_t *bus = harness_connect();
	struct readings rd = { 0 };
	bus_error_t err;

	is_int(bus_subscribe(bus, NULL, "sensor.*", on_reading, &rd, &err), 0,
	       "subscribe to \"sensor.*\"");
	require(harness_spawn(&sensor, "services/sensor", NULL) == 0, "services/sensor starts");
	uint64_t deadline = harness_now_ms() + 20000;
	while (rd.n < 3 && harness_now_ms() < deadline)
		harness_loop_for(bus, 50);
	is_int(rd.n, 3, "three readings from services/sensor arrive");
	ok(rd.n == 3 && rd.seq[1] == rd.seq[0] + 1 && rd.seq[2] == rd.seq[1] + 1,
	   "their seq increases by one (%llu %llu %llu)", (unsigned long long)rd.seq[0],
	   (unsigned long long)rd.seq[1], (unsigned long long)rd.seq[2]);
	is_int(rd.bad, 0, "each is a busd.examples.Reading");
	ok(strncmp(rd.topic, "sensor.", 7) == 0, "on a topic below \"sensor.\" (%s)", rd.topic);

	Bus__PeerInfo *info = NULL, none = BUS__PEER_INFO__INIT;
	int r = harness_get_name_owner(bus, "org.busd.Sensor", &info, NULL);
	is_int(r, 0, "services/sensor owns org.busd.Sensor");
	const Bus__PeerInfo *pi = r == 0 ? info : &none;
	is_str(rd.sender, pi->unique_name, "stamped with the sensor's unique name");
	is_int(pi->pid, sensor.pid, "which belongs to the services/sensor process");
	if (r == 0)
		protobuf_c_message_free_unpacked(&info->base, NULL);
	harness_signal(&sensor, SIGTERM);
	harness_wait(&sensor, 5000);
	bus_close(bus);
}

int main(void)
{
	plan(79);
	harness_start(NULL);
	test_patterns();
	test_fanout();
	test_monitor();
	test_libbus_api();
	test_subscribe_async();
	test_event_typing();
	test_sensor();
	return harness_done();
}
