/* test-flood.c - the subscription flood of a hash-flooding attack, against
 * a real busd: one peer subscribes 16,384 topics chosen so that their
 * unkeyed FNV-1a hashes share the bucket of "*" (tests/collide.c). busd
 * accepts every one, and events still reach a "*" subscriber, every one,
 * once and in order, and a flooded topic's own subscriber. That the cost
 * per event stays flat is shown by chain lengths in tests/test-hash.c, not
 * by timing here. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collide.h"
#include "harness.h"

#define N_FLOOD 16384
#define N_EVENTS 1000
#define WINDOW 256

static char keys[N_FLOOD][COLLIDE_KEY_MAX];

struct flood {
	int sent, answered, accepted;
	char first_error[700];
};

static void on_subscribed(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct flood *f = ud;
	(void)bus;
	f->answered++;
	if (reply)
		f->accepted++;
	else if (!f->first_error[0])
		snprintf(f->first_error, sizeof(f->first_error), "%s: %s", err->name, err->message);
}

/* Subscribe every key with pipelined control calls (WINDOW in flight):
 * libbus's own bus_subscribe() waits for each answer in turn. */
static void flood(bus_t *bus, struct flood *f)
{
	uint64_t deadline = harness_now_ms() + 120000;

	while (f->answered < N_FLOOD && harness_now_ms() < deadline) {
		while (f->sent < N_FLOOD && f->sent - f->answered < WINDOW) {
			Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
			size_t len;
			req.pattern = keys[f->sent];
			void *body = harness_pack(&req.base, &len);
			int r = bus_call_async(bus, NULL, BUS_NAME, "bus.Bus", "Subscribe",
					       req.base.descriptor->name, body, len, 60000000u,
					       on_subscribed, f);
			free(body);
			if (r < 0) {
				snprintf(f->first_error, sizeof(f->first_error), "send: %s",
					 strerror(-r));
				return;
			}
			f->sent++;
		}
		if (bus_process(bus) == 0)
			bus_wait(bus, 100000);
	}
}

struct seen {
	int n, in_order, last;
	int flooded; /* events on the flooded topic */
};

static void on_star(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct seen *s = ud;
	int seq;
	(void)bus;
	if (strcmp(ev->member, keys[123]) == 0) {
		s->flooded++;
		return;
	}
	if (ev->body_len != sizeof(seq))
		return;
	memcpy(&seq, ev->body, sizeof(seq));
	if (seq != s->last + 1)
		s->in_order = 0;
	s->last = seq;
	s->n++;
}

static void on_flooded_topic(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	++*(int *)ud;
}

int main(void)
{
	plan(10);
	/* One peer takes the whole per-uid default; the other peers of this
	 * test run as the same uid. */
	harness_start_conf("[limits]\nmax_subscriptions_per_peer = %d\n"
			   "max_subscriptions_per_uid = %d\n", N_FLOOD, 2 * N_FLOOD);
	collide_topics(keys, N_FLOOD);

	bus_t *attacker = harness_connect(), *listener = harness_connect();
	bus_t *emitter = harness_connect();
	struct seen seen = { 0, 1, 0, 0 };
	struct flood fl = { 0 };
	bus_error_t err;

	ok(bus_subscribe(listener, NULL, "*", on_star, &seen, &err) == 0, "a listener subscribes to \"*\"");
	flood(attacker, &fl);
	is_int(fl.accepted, N_FLOOD, "busd accepts all %d subscriptions to topics that collide with "
	       "\"*\" under FNV-1a (%s)", N_FLOOD, fl.first_error[0] ? fl.first_error : "no error");
	Bus__StatsReply *st = harness_stats(emitter);
	is_int(st ? (long long)st->subscriptions : -1, N_FLOOD + 1, "busd counts them all");
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);

	for (int i = 1; i <= N_EVENTS; i++)
		if (bus_emit_raw(emitter, "sensor.flood.reading", "", &i, sizeof(i)) < 0)
			break;
	bus_flush(emitter);
	uint64_t deadline = harness_now_ms() + 60000;
	while (seen.n < N_EVENTS && harness_now_ms() < deadline)
		harness_loop_for(listener, 50);
	is_int(seen.n, N_EVENTS, "the \"*\" listener receives all %d events emitted then",
	       N_EVENTS);
	ok(seen.in_order, "  once each, in order");

	int got = 0;
	ok(bus_subscribe(attacker, NULL, keys[123], on_flooded_topic, &got, &err) == 0,
	   "a flooded topic subscribed again through libbus is accepted (already there)");
	int one = 1;
	ok(bus_emit_raw(emitter, keys[123], "", &one, sizeof(one)) == 0, "an event on %s",
	   keys[123]);
	bus_flush(emitter);
	harness_loop_until(attacker, &got, 30000);
	is_int(got, 1, "  reaches its subscriber once");
	harness_loop_until(listener, &seen.flooded, 30000);
	is_int(seen.flooded, 1, "  and the \"*\" listener once");

	bus_close(attacker);
	bus_close(listener);
	bus_close(emitter);
	return harness_done();
}
