/* test-quota.c - back-pressure with real slow peers (busd.conf [limits]
 * queue_hold_bytes, max_queued_bytes, queue_grace_seconds):
 *  - a caller of a service that stops reading is held, not dropped; other
 *    peers keep being served; when the service reads again every call gets
 *    exactly one answer;
 *  - a service that does not drain its queue for the grace period (reading
 *    nothing, or a trickle) is stalled: its callers are let go and get
 *    bus.Error.LimitsExceeded, still one answer per call;
 *  - a peer that does not read the answers to its own calls is held on
 *    itself, and disconnected once its queue stays above the ceiling for the
 *    grace period, with a log line naming it; nobody else notices;
 *  - max_subscriptions_per_peer, with the sync and the async form. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define HOLD (64 * 1024)
#define CEILING (512 * 1024)
#define BODY (32 * 1024)
#define N_CALLS 40
#define TRICKLE_CALLERS 30

struct tally {
	int replies, limited, no_reply, other;
	int seen[2 * TRICKLE_CALLERS];
	int twice;
	char last_error[1024];
};

struct call_ctx {
	struct tally *t;
	int i;
};

static void on_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct call_ctx *c = ud;
	struct tally *t = c->t;

	(void)bus;
	if (t->seen[c->i]++)
		t->twice++;
	if (reply)
		t->replies++;
	else if (bus_error_has_name(err, BUS_ERROR_LIMITS_EXCEEDED))
		t->limited++;
	else if (bus_error_has_name(err, BUS_ERROR_NO_REPLY))
		t->no_reply++;
	else
		t->other++;
	if (err)
		snprintf(t->last_error, sizeof(t->last_error), "%s: %s", err->name, err->message);
}

static int answered(const struct tally *t)
{
	return t->replies + t->limited + t->no_reply + t->other;
}

/* A service on a raw connection, so that it can stop reading at will. */
static void raw_service(raw_conn *svc, const char *name)
{
	raw_frame f;
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	if (raw_open(svc, harness_socket()) < 0 || raw_hello(svc, 1, &f, 5000) < 0)
		harness_bail("a raw service cannot connect");
	req.name = (char *)name;
	ok(raw_control(svc, "RequestName", &req.base, &f, 5000) == 0, "a raw service owns %s", name);
}

static Bus__PeerInfo *peer_of(Bus__ListNamesReply *l, const char *unique)
{
	return l ? harness_find_peer(l, unique) : NULL;
}

static void send_calls(bus_t *caller, const char *dest, struct call_ctx *ctx, struct tally *t)
{
	static uint8_t body[BODY];
	for (int i = 0; i < N_CALLS; i++) {
		ctx[i] = (struct call_ctx){ t, i };
		bus_call_async(caller, NULL, dest, NULL, "Take", "", body, sizeof(body), 30000000u,
			       on_answer, &ctx[i]);
	}
}

/* Answer every CALL that arrives on svc until want calls were answered. */
static int serve_raw(raw_conn *svc, bus_t *caller, int want, int timeout_ms)
{
	uint64_t until = harness_now_ms() + (uint64_t)timeout_ms;
	int served = 0;
	raw_frame f;

	while (served < want && harness_now_ms() < until) {
		int r = raw_recv(svc, &f, 20);
		if (r == 1 && f.h.kind == WIRE_KIND_CALL) {
			char sender[64];
			wire_header h = { .kind = WIRE_KIND_REPLY, .serial = ++svc->serial,
					  .reply_serial = f.h.serial };
			raw_str(f.h.sender, sender, sizeof(sender));
			h.destination = wire_str_c(sender);
			raw_send(svc, &h, NULL, 0);
			served++;
		} else if (r == 0 || r == -EPROTO) {
			break;
		}
		harness_loop_for(caller, 1);
	}
	return served;
}

static void test_held_then_served(void)
{
	raw_conn svc;
	bus_t *caller = harness_connect(), *other = harness_connect();
	struct tally t = { 0 };
	struct call_ctx ctx[N_CALLS];
	Bus__ListNamesReply *l = NULL;

	raw_service(&svc, "org.test.Slow");
	send_calls(caller, "org.test.Slow", ctx, &t);
	/* busd queues toward the service up to queue_hold_bytes, then stops
	 * reading the caller: until the listing says so (the caller writes what
	 * its socket takes meanwhile). */
	Bus__PeerInfo *pc = NULL, *ps = NULL;
	uint64_t until = harness_now_ms() + 10000;
	int listed;
	do {
		harness_loop_for(caller, 20);
		if (l)
			protobuf_c_message_free_unpacked(&l->base, NULL);
		l = NULL;
		listed = harness_list_names(other, &l) == 0;
		pc = peer_of(l, bus_unique_name(caller));
		ps = peer_of(l, svc.unique);
	} while (!(pc && pc->held) && harness_now_ms() < until);
	ok(listed, "ListNames answers while a caller is held");
	ok(pc && pc->held, "the caller of a service that does not read is held");
	ok(ps && ps->congested, "  the service is flagged congested");
	ok(ps && ps->queued_bytes <= HOLD + BODY + 1024,
	   "  busd's queue toward it stays near queue_hold_bytes (%llu bytes)",
	   ps ? (unsigned long long)ps->queued_bytes : 0ull);
	is_int(answered(&t), 0, "  no call was dropped or refused");
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);

	/* Someone else is not held: a round trip through busd works. */
	Bus__StatsReply *st = harness_stats(other);
	ok(st != NULL, "another peer's calls are served meanwhile");
	ok(st && st->holds >= 1 && st->peers_held >= 1, "  status counts the hold (holds %llu, held %u)",
	   st ? (unsigned long long)st->holds : 0ull, st ? st->peers_held : 0);
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);

	int served = serve_raw(&svc, caller, N_CALLS, 20000);
	is_int(served, N_CALLS, "the service reads again: all %d calls reach it", N_CALLS);
	until = harness_now_ms() + 10000;
	while (answered(&t) < N_CALLS && harness_now_ms() < until)
		harness_loop_for(caller, 20);
	is_int(t.replies, N_CALLS, "  and each caller gets its reply (%s)", t.last_error);
	is_int(t.twice, 0, "  exactly once");
	raw_close(&svc);
	bus_close(other);
	bus_close(caller);
}

static void test_stalled(void)
{
	raw_conn svc;
	bus_t *caller = harness_connect(), *other = harness_connect();
	struct tally t = { 0 };
	struct call_ctx ctx[N_CALLS];

	raw_service(&svc, "org.test.Stuck");
	send_calls(caller, "org.test.Stuck", ctx, &t);
	/* grace is 1 s; the watchdog looks once a second */
	uint64_t until = harness_now_ms() + 5000;
	while (t.limited == 0 && harness_now_ms() < until)
		harness_loop_for(caller, 20);
	ok(t.limited > 0, "a service that reads nothing for the grace period: its callers are let "
	   "go with bus.Error.LimitsExceeded (%d calls)", t.limited);
	ok(strstr(t.last_error, "has not drained its queue for 1 s") != NULL, "  saying why (%s)",
	   t.last_error);
	Bus__ListNamesReply *l = NULL;
	harness_list_names(other, &l);
	ok(peer_of(l, svc.unique) != NULL, "  the stalled service is not disconnected");
	Bus__PeerInfo *pc = peer_of(l, bus_unique_name(caller));
	ok(pc && !pc->held, "  the caller is no longer held");
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
	/* Its calls not sent yet (in its own buffer or socket while it was
	 * held) reach busd before the service leaves, or they would find no
	 * owner: a round trip from the caller orders them before the close. */
	harness_sync(caller);
	raw_close(&svc); /* the calls it had: bus.Error.NoReply */
	until = harness_now_ms() + 10000;
	while (answered(&t) < N_CALLS && harness_now_ms() < until)
		harness_loop_for(caller, 20);
	is_int(answered(&t), N_CALLS, "every call gets one answer (%d refused, %d no reply, %d other)",
	       t.limited, t.no_reply, t.other);
	is_int(t.twice, 0, "  exactly once");
	is_int(t.other + t.replies, 0, "  and only those two kinds");
	bus_close(other);
	bus_close(caller);
}

/* A service that reads now and then but never drains: each read used to
 * count as progress, so its callers stayed held for as long as it kept
 * trickling. Stalled now means congested for the whole grace period, reads
 * or not. 30 callers each send two calls: the first is queued toward the
 * service (busd's queue then holds about 1.2 MiB, more than the service
 * takes in 2 s at this pace) and holds the caller, the second waits in busd
 * until the caller is let go. On a busd of its own, whose ceiling (4M) is
 * above that queue. */
static void test_trickle(void)
{
	enum { CALLERS = TRICKLE_CALLERS };
	raw_conn svc;
	bus_t *callers[CALLERS];
	struct tally t = { 0 };
	struct call_ctx ctx[2 * CALLERS];
	static uint8_t body[BODY], sink[256 * 1024];
	int reads = 0;

	raw_service(&svc, "org.test.Trickle");
	for (int i = 0; i < CALLERS; i++) {
		callers[i] = harness_connect();
		for (int j = 0; j < 2; j++) {
			ctx[2 * i + j] = (struct call_ctx){ &t, 2 * i + j };
			bus_call_async(callers[i], NULL, "org.test.Trickle", NULL, "Take", "", body,
				       sizeof(body), 30000000u, on_answer, &ctx[2 * i + j]);
		}
	}
	uint64_t until = harness_now_ms() + 20000, next_read = 0;
	while (t.limited == 0 && harness_now_ms() < until) {
		/* Empty the socket (so that busd writes to it again), but only
		 * every 600 ms: slower than the callers fill busd's queue. */
		if (harness_now_ms() >= next_read) {
			ssize_t n, got = 0;
			while (got < (ssize_t)sizeof(sink) &&
			       (n = recv(svc.fd, sink, sizeof(sink) - (size_t)got, MSG_DONTWAIT)) > 0)
				got += n;
			reads += got > 0;
			next_read = harness_now_ms() + 600;
		}
		for (int i = 0; i < CALLERS; i++)
			harness_loop_for(callers[i], 1);
	}
	ok(t.limited > 0 && reads > 0, "a service that reads its socket empty every 600 ms but "
	   "does not drain busd's queue is stalled all the same: its callers get "
	   "bus.Error.LimitsExceeded (%d calls, after %d reads)", t.limited, reads);
	ok(strstr(t.last_error, "has not drained its queue for 1 s") != NULL, "  saying why (%s)",
	   t.last_error);
	raw_close(&svc);
	until = harness_now_ms() + 10000;
	while (answered(&t) < 2 * CALLERS && harness_now_ms() < until)
		for (int i = 0; i < CALLERS; i++)
			harness_loop_for(callers[i], 5);
	is_int(answered(&t), 2 * CALLERS, "  every call gets one answer");
	is_int(t.twice, 0, "  exactly once");
	for (int i = 0; i < CALLERS; i++)
		bus_close(callers[i]);
}

/* The runaway: many calls whose answers it never reads. */
static int runaway(int ctl, void *arg)
{
	raw_conn c;
	raw_frame f;
	char line[64];
	static char text[48 * 1024];
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len;

	(void)arg;
	if (raw_open(&c, harness_socket()) < 0 || raw_hello(&c, 1, &f, 5000) < 0) {
		raw_close(&c);
		return 10;
	}
	harness_send(ctl, "%s", c.unique);
	memset(text, 'x', sizeof(text) - 1);
	req.ms = 300; /* every call reaches echo before the first answer comes back */
	req.text = text;
	void *body = harness_pack(&req.base, &len);
	for (int i = 0; i < 30; i++)
		if (raw_call(&c, "org.busd.Echo", "Delay", "busd.examples.DelayRequest", body, len) < 0) {
			free(body);
			raw_close(&c);
			return 11;
		}
	free(body);
	harness_send(ctl, "sent");
	if (harness_recv(ctl, line, sizeof(line), 30000) < 0) {
		raw_close(&c);
		return 12;
	}
	/* Now read: whatever was queued, then the end of the connection. */
	int r = raw_wait_eof(&c, 10000) == 1 ? 0 : 13;
	raw_close(&c);
	return r;
}

static void test_ceiling(void)
{
	harness_child echo, rc;
	bus_t *other = harness_connect();
	char unique[64], line[64];

	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	harness_fork(&rc, runaway, NULL);
	ok(harness_recv(rc.ctl, unique, sizeof(unique), 5000) > 0, "a runaway client connects (%s)",
	   unique);
	ok(harness_recv(rc.ctl, line, sizeof(line), 10000) > 0, "  sends 30 calls of 48 KiB");
	/* One line names the peer, its uid, and both limits. */
	char needle[256];
	snprintf(needle, sizeof(needle), "peer %s (pid %d, test-quota) uid %d: disconnected: its "
		 "queue stayed at its ceiling of 524288 bytes for 1 s", unique, (int)rc.pid,
		 (int)getuid());
	uint64_t until = harness_now_ms() + 8000;
	while (!harness_log_has(needle) && harness_now_ms() < until)
		harness_sleep_ms(50);
	ok(harness_log_has(needle),
	   "it never reads its answers: above the ceiling for the grace period, it is "
	   "disconnected, and the log names it and the limits");
	/* The line says what busd held toward it at the end: its ceiling and
	 * one answer of 48 KiB (at most a quarter more and 512 bytes for the
	 * frame's buffer), the rest of its answers replaced by small errors. */
	unsigned long long held = 0;
	char path[600], ln[2048];
	snprintf(path, sizeof(path), "%s/busd.log", harness_dir());
	FILE *lf = fopen(path, "r");
	while (lf && fgets(ln, sizeof(ln), lf)) {
		const char *m = strstr(ln, needle);
		if (m && (m = strstr(m, " s (")))
			sscanf(m, " s (%llu bytes now", &held);
	}
	if (lf)
		fclose(lf);
	ok(held >= CEILING && held <= CEILING + 48 * 1024 + 12 * 1024 + 512 + 30 * 1024,
	   "  busd held %llu bytes toward it: its ceiling of %d and one answer", held, CEILING);
	harness_send(rc.ctl, "read");
	is_int(harness_wait(&rc, 15000), 0, "  it gets what was queued, then end of file");

	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;
	req.text = "still here";
	void *body = harness_pack(&req.base, &len), *rep = NULL;
	bus_error_t err;
	size_t rlen = 0;
	ok(bus_call(other, "org.busd.Echo", NULL, "Echo", "busd.examples.EchoRequest", body, len,
		    5000000u, &err, &rep, &rlen) == 0, "everyone else is served as before");
	free(body);
	free(rep);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
	bus_close(other);
}

static void ignore_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	(void)ud;
}

static void test_subscriptions(void)
{
	bus_t *bus = harness_connect();
	bus_error_t err;
	char topic[64];
	int r = 0;

	for (int i = 0; i < 4 && r >= 0; i++) {
		snprintf(topic, sizeof(topic), "quota.t%d", i);
		r = bus_subscribe(bus, NULL, topic, ignore_event, NULL, &err);
	}
	ok(r >= 0, "4 subscriptions, the limit, are taken");
	r = bus_subscribe(bus, NULL, "quota.t4", ignore_event, NULL, &err);
	ok(r < 0 && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(err.message, "limits.max_subscriptions_per_peer"),
	   "a fifth: bus.Error.LimitsExceeded (%s)", err.message);
	struct harness_outcome no = { 0 };
	bus_slot_t *slot = NULL;
	is_int(bus_subscribe_async(bus, &slot, "quota.t5", ignore_event, harness_on_done, &no), 0,
	       "a fifth with the async form is sent");
	harness_loop_until(bus, &no.n, 5000);
	ok(no.n == 1 && strcmp(no.err, BUS_ERROR_LIMITS_EXCEEDED) == 0,
	   "  its done callback hears bus.Error.LimitsExceeded (%s)", no.err);
	ok(bus_slot_get_bus(slot) == NULL, "  and the refused subscription is over: its slot detached");
	bus_slot_unref(slot);
	bus_close(bus);
}

/* ---------------------------------------------------------------- per uid */

struct sub_agent {
	raw_conn c;
	char unique[64];
};

/* Until busd no longer lists the peer unique (at most 5 s). */
static void wait_gone(bus_t *bus, const char *unique)
{
	uint64_t until = harness_now_ms() + 5000;
	for (;;) {
		Bus__ListNamesReply *l = NULL;
		harness_list_names(bus, &l);
		int there = l && harness_find_peer(l, unique);
		if (l)
			protobuf_c_message_free_unpacked(&l->base, NULL);
		if (!there || harness_now_ms() > until)
			return;
		harness_sleep_ms(10);
	}
}

static void test_per_uid(const char *path)
{
	bus_t *a = harness_connect(), *b = harness_connect();
	bus_error_t err;
	char name[64];
	int r = 0;

	/* names: 3 per peer, 4 per uid (this test's connections share a uid) */
	for (int i = 0; i < 3 && r >= 0; i++) {
		snprintf(name, sizeof(name), "org.test.Uid%d", i);
		r = bus_request_name(a, name, &err);
	}
	ok(r >= 0 && bus_request_name(b, "org.test.Uid3", &err) == 0,
	   "names: 3 on one connection and a 4th on another of the same uid");
	r = bus_request_name(b, "org.test.Uid4", &err);
	ok(r < 0 && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(err.message, "limits.max_names_per_uid"),
	   "  a 5th: bus.Error.LimitsExceeded for the uid (%s)", err.message);
	bus_release_name(a, "org.test.Uid0", &err);
	is_int(bus_request_name(b, "org.test.Uid4", &err), 0, "  one released: the uid may take it");

	/* subscriptions: 4 per peer, 6 per uid */
	r = 0;
	for (int i = 0; i < 4 && r >= 0; i++) {
		snprintf(name, sizeof(name), "uid.a%d", i);
		r = bus_subscribe(a, NULL, name, ignore_event, NULL, &err);
	}
	for (int i = 0; i < 2 && r >= 0; i++) {
		snprintf(name, sizeof(name), "uid.b%d", i);
		r = bus_subscribe(b, NULL, name, ignore_event, NULL, &err);
	}
	ok(r >= 0, "subscriptions: 4 + 2 on two connections of one uid");
	r = bus_subscribe(b, NULL, "uid.b2", ignore_event, NULL, &err);
	ok(r < 0 && strstr(err.message, "limits.max_subscriptions_per_uid"),
	   "  a 7th: bus.Error.LimitsExceeded for the uid (%s)", err.message);
	/* a closes: its subscriptions and names no longer count, once busd has
	 * seen it go (its socket may be read after b's next request) */
	char gone[64];
	snprintf(gone, sizeof(gone), "%s", bus_unique_name(a));
	bus_close(a);
	wait_gone(b, gone);
	ok(bus_subscribe(b, NULL, "uid.b2", ignore_event, NULL, &err) == 0,
	   "  a connection closes: its share is free again");

	/* pending calls: 4 per peer, 6 per uid; echo's Delay keeps them open
	 * until echo stops, which answers them */
	harness_child echo;
	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	bus_t *c1 = harness_connect(), *c2 = harness_connect();
	struct tally t = { 0 };
	struct call_ctx ctx[8];
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len;
	req.ms = 600000;
	req.text = "wait";
	void *body = harness_pack(&req.base, &len);
	for (int i = 0; i < 7; i++) {
		ctx[i] = (struct call_ctx){ &t, i };
		bus_call_async(i < 4 ? c1 : c2, NULL, "org.busd.Echo", NULL, "Delay",
			       "busd.examples.DelayRequest", body, len, 30000000u, on_answer, &ctx[i]);
	}
	free(body);
	uint64_t until = harness_now_ms() + 10000;
	while (answered(&t) < 1 && harness_now_ms() < until) {
		harness_loop_for(c1, 10);
		harness_loop_for(c2, 10);
	}
	is_int(t.limited, 1, "pending calls: 4 + 3 from one uid, the 7th is refused");
	ok(strstr(t.last_error, "limits.max_pending_calls_per_uid") != NULL, "  naming the limit (%s)",
	   t.last_error);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
	until = harness_now_ms() + 10000;
	while (answered(&t) < 7 && harness_now_ms() < until) {
		harness_loop_for(c1, 10);
		harness_loop_for(c2, 10);
	}
	is_int(answered(&t) - t.limited, 6, "  the 6 within it are taken, and answered when echo stops");
	bus_close(c1);
	bus_close(c2);

	/* queued bytes: 3 subscribers that stop reading, 8 KiB events. Alone
	 * each would hold up to queue_hold_bytes (64K); together the uid's
	 * 128K stops them all: it is the uid's ceiling. */
	struct sub_agent s[3];
	raw_frame f;
	int subscribed = 0;
	for (int i = 0; i < 3; i++) {
		raw_open(&s[i].c, harness_socket());
		raw_hello(&s[i].c, 1, &f, 5000);
		subscribed += raw_subscribe(&s[i].c, "flood.*", &f) == 0;
	}
	static uint8_t blob[8192];
	/* busd reads a connection in order: the emitter's Stats is handled
	 * after the events before it. What the subscribers' sockets take in
	 * is not queued in busd, and how much that is depends on when busd
	 * got to write: so the emitter goes on until the uid is at its
	 * ceiling (the sockets are full by then, and nobody reads), and then
	 * even busd's answer to it is refused, naming what busd holds toward
	 * the uid. */
	int emitted = 0;
	r = 0;
	while (r == 0 && emitted < 4000) {
		for (int i = 0; i < 25; i++, emitted++)
			bus_emit_raw(b, "flood.x", "", blob, sizeof(blob));
		void *rep = NULL;
		size_t rl = 0;
		r = bus_call(b, "bus", NULL, "Stats", "bus.StatsRequest", NULL, 0, 10000000u, &err,
			     &rep, &rl);
		free(rep);
	}
	unsigned long long total = 0;
	const char *m = r == -EREMOTE ? strstr(err.message, "dropped: ") : NULL;
	if (m)
		sscanf(m, "dropped: %llu bytes are queued toward uid", &total);
	ok(subscribed == 3 && r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(err.message, "limits.max_queued_bytes_per_uid"),
	   "queued bytes: 3 subscribers of one uid stop reading; at the uid's ceiling even "
	   "busd's answers to it are refused (%s; after %d events)", err.message, emitted);
	ok(total >= 128 * 1024 && total <= 128 * 1024 + 8192 + 8192 / 4 + 512,
	   "  busd holds %llu bytes toward the uid in all: its 128 KiB, not 3 x 64 KiB", total);
	/* They read again: the uid is below its ceiling, and every one of them
	 * lost events. */
	Bus__ListNamesReply *l = NULL;
	until = harness_now_ms() + 20000;
	while (!l && harness_now_ms() < until) {
		for (int i = 0; i < 3; i++)
			while (raw_recv(&s[i].c, &f, 50) == 1)
				;
		harness_list_names(b, &l);
	}
	int each_dropped = l != NULL;
	for (int i = 0; i < 3; i++) {
		Bus__PeerInfo *pi = l ? harness_find_peer(l, s[i].c.unique) : NULL;
		each_dropped &= pi && pi->dropped > 0;
	}
	ok(each_dropped, "  once they read, busd answers again; each of them lost events");
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
	for (int i = 0; i < 3; i++)
		raw_close(&s[i].c);
	bus_close(b);
	(void)path;
}

int main(void)
{
	char path[512], opt[] = "-c";
	snprintf(path, sizeof(path), "%s/busd-quota.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	fprintf(f, "[limits]\nmax_frame_size = 64K\nqueue_hold_bytes = %d\nmax_queued_bytes = %d\n"
		   "queue_grace_seconds = 1\nmax_subscriptions_per_peer = 4\n", HOLD, CEILING);
	fclose(f);
	const char *args[] = { opt, path, NULL };
	plan(52);
	harness_start(args);
	test_held_then_served();
	test_stalled();
	test_ceiling();
	test_subscriptions();

	/* per-uid limits: busd again, on a configuration of its own */
	is_int(harness_stop(), 0, "busd exits 0 (first configuration)");
	f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	fprintf(f, "[limits]\nmax_frame_size = 64K\nqueue_hold_bytes = 64K\nmax_queued_bytes = 128K\n"
		   "max_queued_bytes_per_uid = 128K\nmax_names_per_peer = 3\nmax_names_per_uid = 4\n"
		   "max_subscriptions_per_peer = 4\nmax_subscriptions_per_uid = 6\n"
		   "max_pending_calls = 4\nmax_pending_calls_per_uid = 6\n");
	fclose(f);
	harness_start(args);
	test_per_uid(path);

	/* a trickling service: busd again, with a ceiling above its queue */
	is_int(harness_stop(), 0, "busd exits 0 (second configuration)");
	f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	fprintf(f, "[limits]\nmax_frame_size = 64K\nqueue_hold_bytes = %d\nmax_queued_bytes = 4M\n"
		   "queue_grace_seconds = 1\n", HOLD);
	fclose(f);
	harness_start(args);
	test_trickle();
	int r = harness_done();
	unlink(path);
	return r;
}
