/* test-churn.c - every resource a peer holds is released with it: rounds
 * of a hundred peers that each own a name, subscribe, upload a schema,
 * export a service, wait for a call, have events queued toward them (they
 * never read) or leave a frame unfinished, all disconnecting; afterwards
 * every counter of busctl status (Stats) and of the per-uid table is back
 * to what the test's own connection holds. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define ROUNDS 3
#define PEERS 100
#define PARTIAL 20 /* raw connections per round that leave a frame unfinished */
#define EVENTS 128 /* of 4 KiB, toward peers that never read */
#define QUEUED_EACH (64u * 1024u) /* at least what busd keeps toward each of them */

/* The service each peer exports: what matters here is that busd records the
 * export; a call that did reach one is answered with its request. */
static void churn_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *req,
		       Busd__Examples__EchoReply_Closure done, void *call)
{
	Busd__Examples__EchoReply rep = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	(void)svc;
	rep.text = req->text;
	done(&rep, call);
}

static void churn_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *req,
			Busd__Examples__EchoReply_Closure done, void *call)
{
	Busd__Examples__EchoReply rep = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	(void)svc;
	rep.text = req->text;
	done(&rep, call);
}

static void churn_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *req,
		       Busd__Examples__EchoReply_Closure done, void *call)
{
	(void)svc;
	(void)done;
	bus_call_fail(call, "org.churn.Error.Failed", "%s", req->message);
}

static Busd__Examples__Echo_Service echo_service = BUSD__EXAMPLES__ECHO__INIT(churn_);

/* Every charge counter of a Stats reply and of one uid's row. */
struct counters {
	uint64_t connections, queued, input, calls, names, subs, schema, exports;
};

static int stats_of(bus_t *bus, struct counters *all, struct counters *mine, uint32_t *peers)
{
	Bus__StatsReply *s = harness_stats(bus);
	if (!s)
		return -1;
	*all = (struct counters){ s->connections, s->queued_bytes, s->input_bytes,
				  s->pending_calls, s->names, s->subscriptions, s->schema_bytes,
				  s->exports };
	memset(mine, 0, sizeof(*mine));
	for (size_t i = 0; i < s->n_users; i++) {
		Bus__UserUsage *u = s->users[i];
		if (u->uid != (uint32_t)getuid())
			continue;
		*mine = (struct counters){ u->connections, u->queued_bytes, u->input_bytes,
					   u->pending_calls, u->names, u->subscriptions,
					   u->schema_bytes, u->exports };
	}
	*peers = s->peers;
	bus__stats_reply__free_unpacked(s, NULL);
	return 0;
}

static void on_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)reply;
	(void)err;
	(void)ud;
}

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	(void)ud;
}

/* A service that takes calls and never answers: its callers' calls stay
 * pending in busd until they go. */
static void sink_start(raw_conn *sink)
{
	raw_frame f;
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	if (raw_open(sink, harness_socket()) < 0 || raw_hello(sink, 1, &f, 5000) < 0)
		printf("Bail out! the sink cannot connect\n");
	req.name = "org.churn.Sink";
	if (raw_control(sink, "RequestName", &req.base, &f, 5000) < 0)
		printf("Bail out! the sink cannot own its name\n");
}

/* Read (and drop) what busd sent the sink, so that it never congests. */
static void sink_drain(raw_conn *sink)
{
	raw_frame f;
	while (raw_recv(sink, &f, 1) == 1)
		;
}

static int round_trip(bus_t *ctl, raw_conn *sink, int round, struct counters *held)
{
	bus_t *p[PEERS];
	raw_conn part[PARTIAL];
	bus_error_t err;
	char name[64], schema[64];
	int failures = 0;

	for (int i = 0; i < PEERS; i++) {
		p[i] = harness_connect();
		snprintf(name, sizeof(name), "org.churn.r%d.p%d", round, i);
		int n = snprintf(schema, sizeof(schema), "schema of %s", name);
		failures += bus_request_name(p[i], name, &err) < 0;
		failures += bus_subscribe(p[i], NULL, "churn.*", on_event, NULL, &err) < 0;
		failures += bus_subscribe(p[i], NULL, "churn.tick", on_event, NULL, &err) < 0;
		failures += bus_add_schema(p[i], schema, (size_t)n, &err) < 0;
		failures += bus_add_schema(p[i], "the shared schema", 17, &err) < 0;
		failures += bus_export(p[i], NULL, name, &echo_service.base, &err) < 0;
		failures += bus_call_async(p[i], NULL, "org.churn.Sink", NULL, "Wait", "", NULL, 0, 0,
					   on_reply, NULL) < 0;
	}
	/* Frames left one byte short, from connections of the same uid. */
	for (int i = 0; i < PARTIAL; i++) {
		raw_frame f;
		uint8_t head[WIRE_PREAMBLE_SIZE];
		failures += raw_open(&part[i], harness_socket()) < 0;
		failures += raw_hello(&part[i], 1, &f, 5000) < 0;
		wire_preamble_encode(head, 10, 1000);
		failures += raw_write(&part[i], head, sizeof(head)) < 0;
	}
	/* Events toward peers that never read: more than their sockets take,
	 * so that busd queues the rest (one copy, by reference to each). */
	static uint8_t body[4096];
	for (int i = 0; i < EVENTS; i++)
		failures += bus_emit_raw(ctl, "churn.tick", "", body, sizeof(body)) < 0;
	sink_drain(sink);

	/* Wait until busd has every call (the sink got them all). */
	struct counters all, mine;
	uint32_t peers = 0;
	uint64_t until = harness_now_ms() + 20000;
	while (harness_now_ms() < until) {
		sink_drain(sink);
		if (stats_of(ctl, &all, &mine, &peers) == 0 && all.calls >= PEERS &&
		    all.input >= PARTIAL && all.queued >= (uint64_t)PEERS * QUEUED_EACH)
			break;
		harness_sleep_ms(10);
	}
	*held = mine;
	for (int i = 0; i < PEERS; i++)
		bus_close(p[i]);
	for (int i = 0; i < PARTIAL; i++)
		raw_close(&part[i]);
	return failures;
}

int main(void)
{
	char path[512], opt[] = "-c";

	plan(18);
	snprintf(path, sizeof(path), "%s/busd-churn.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	/* Owning names needs a rule for users other than root. */
	fprintf(f, "[policy]\nallow = own org.churn.*\n");
	fclose(f);
	const char *args[] = { opt, path, NULL };
	harness_start(args);
	bus_t *ctl = harness_connect();
	raw_conn sink;
	sink_start(&sink);

	struct counters base_all = { 0 }, base_mine = { 0 }, all = { 0 }, mine = { 0 }, held = { 0 };
	uint32_t base_peers = 0, peers = 0;
	ok(stats_of(ctl, &base_all, &base_mine, &base_peers) == 0,
	   "before: the test holds %llu connections, %llu names", 
	   (unsigned long long)base_mine.connections, (unsigned long long)base_mine.names);
	for (int r = 0; r < ROUNDS; r++) {
		int failures = round_trip(ctl, &sink, r, &held);
		is_int(failures, 0, "round %d: %d peers each own a name, subscribe twice, add two "
		       "schemas, export, wait for a call; %d leave a frame unfinished; events queue "
		       "toward all of them", r + 1, PEERS, PARTIAL);
		ok(held.connections >= base_mine.connections + PEERS + PARTIAL &&
		   held.names >= base_mine.names + PEERS &&
		   held.subs >= base_mine.subs + 2 * PEERS && held.calls >= PEERS &&
		   held.schema > base_mine.schema && held.exports >= PEERS &&
		   held.queued >= (uint64_t)PEERS * QUEUED_EACH && held.input >= PARTIAL,
		   "  busd charged all of it to the uid (%llu connections, %llu names, %llu "
		   "subscriptions, %llu calls, %llu schema bytes, %llu exports, %llu queued, "
		   "%llu input bytes)", (unsigned long long)held.connections,
		   (unsigned long long)held.names, (unsigned long long)held.subs,
		   (unsigned long long)held.calls, (unsigned long long)held.schema,
		   (unsigned long long)held.exports, (unsigned long long)held.queued,
		   (unsigned long long)held.input);
	}
	/* Every peer of the rounds is gone once busd counts the test's own again. */
	uint64_t until = harness_now_ms() + 30000;
	while (harness_now_ms() < until) {
		sink_drain(&sink);
		if (stats_of(ctl, &all, &mine, &peers) == 0 && peers == base_peers &&
		    all.calls == 0 && all.queued <= base_all.queued)
			break;
		harness_sleep_ms(20);
	}
	is_int(peers, base_peers, "after: busd has as many peers as before");
	is_int(all.connections, base_all.connections, "  connections back to where they were");
	is_int(all.calls, 0, "  no pending call left");
	is_int(all.names, base_all.names, "  names back");
	is_int(all.subs, base_all.subs, "  subscriptions back");
	is_int(all.schema, base_all.schema, "  schema bytes back");
	is_int(all.exports, base_all.exports, "  exports back");
	is_int(all.input, 0, "  no input bytes held");
	ok(all.queued <= base_all.queued, "  no queued bytes held but the test's own (%llu)",
	   (unsigned long long)all.queued);
	ok(memcmp(&mine, &(struct counters){ all.connections, all.queued, all.input, all.calls,
					     all.names, all.subs, all.schema, all.exports },
		  sizeof(mine)) == 0, "  and the uid's row says the same (it is the only user)");
	raw_close(&sink);
	bus_close(ctl);
	int r = harness_done();
	unlink(path);
	return r;
}
