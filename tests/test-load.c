/* test-load.c - many concurrent clients against one callee: 100 client
 * processes each make 1,000 calls (the first ones synchronous, the rest
 * pipelined through a window of async calls) with a payload unique to the
 * client and call, and check that every reply is their own call's answer
 * and names them as the caller. The parent checks every call was answered.
 * Under $BUSD_WRAPPER (valgrind) each client makes 100 calls instead. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "exporter.h"
#include "echo.pb-c.h"

#define CLIENTS 100
#define WINDOW 32
#define NAME "org.test.Load"

static int calls_per_client = 1000;
static int sync_calls = 100;

struct call_ctx {
	int seq;
	int done;
	int right;
};

struct client {
	int idx;
	const char *unique;
	int completed;
	int right;
	int inflight;
};

static struct client me;

static void payload(char *buf, size_t len, int idx, int seq)
{
	snprintf(buf, len, "client %d call %d", idx, seq);
}

/* The reply is ours if it echoes this call's text and names us as caller. */
static int reply_right(const Busd__Examples__EchoReply *rep, int seq)
{
	char want[64];
	payload(want, sizeof(want), me.idx, seq);
	return rep && strcmp(rep->text, want) == 0 && rep->data.len == strlen(me.unique) &&
	       memcmp(rep->data.data, me.unique, rep->data.len) == 0;
}

static void on_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct call_ctx *c = ud;
	Busd__Examples__EchoReply *rep = NULL;
	if (reply)
		rep = (Busd__Examples__EchoReply *)bus_msg_unpack(reply, &busd__examples__echo_reply__descriptor);
	c->done++;
	c->right = reply_right(rep, c->seq);
	if (!c->right)
		fprintf(stderr, "load client %d: call %d answered wrongly (%s)\n", me.idx, c->seq,
			err ? err->name : rep ? rep->text : "unparsable");
	if (rep)
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	me.completed++;
	me.right += c->right;
	me.inflight--;
}

static int send_call(bus_t *bus, int seq, int async, struct call_ctx *ctx)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	char text[64];
	uint8_t body[128];
	payload(text, sizeof(text), me.idx, seq);
	req.text = text;
	size_t len = busd__examples__echo_request__pack(&req, body);
	if (async) {
		me.inflight++;
		return bus_call_async(bus, NULL, NAME, "busd.examples.Echo", "Echo", "busd.examples.EchoRequest",
				      body, len, 60000000, on_reply, ctx);
	}
	void *reply = NULL;
	size_t rlen = 0;
	bus_error_t err;
	int r = bus_call(bus, NAME, "busd.examples.Echo", "Echo", "busd.examples.EchoRequest", body,
			 len, 60000000, &err, &reply, &rlen);
	Busd__Examples__EchoReply *rep = r == 0 ? busd__examples__echo_reply__unpack(NULL, rlen, reply) : NULL;
	int right = reply_right(rep, seq);
	if (!right)
		fprintf(stderr, "load client %d: sync call %d: r=%d %s\n", me.idx, seq, r, err.name);
	if (rep)
		busd__examples__echo_reply__free_unpacked(rep, NULL);
	free(reply);
	me.completed++;
	me.right += right;
	return 0;
}

static int load_client(int ctl, void *arg)
{
	bus_t *bus = NULL;
	bus_error_t err;
	char line[64];

	me.idx = (int)(intptr_t)arg;
	if (bus_connect(&bus, NULL, &err) < 0) {
		harness_send(ctl, "error connect %s", err.name);
		return 1;
	}
	me.unique = bus_unique_name(bus);
	harness_send(ctl, "ready");
	if (harness_recv(ctl, line, sizeof(line), 60000) < 0 || strcmp(line, "go") != 0) {
		bus_close(bus);
		return 1;
	}

	struct call_ctx *ctx = calloc((size_t)calls_per_client, sizeof(*ctx));
	int seq = 0, failed = 0;
	for (; seq < sync_calls && seq < calls_per_client; seq++)
		send_call(bus, seq, 0, NULL);
	uint64_t deadline = harness_now_ms() + 90000;
	while (me.completed < calls_per_client && harness_now_ms() < deadline) {
		while (me.inflight < WINDOW && seq < calls_per_client) {
			ctx[seq].seq = seq;
			if (send_call(bus, seq, 1, &ctx[seq]) < 0) {
				me.inflight--;
				failed++;
			}
			seq++;
		}
		if (bus_process(bus) == 0)
			bus_wait(bus, 1000000);
		if (failed)
			break;
	}
	int dup = 0;
	for (int i = sync_calls; i < calls_per_client; i++)
		dup += ctx[i].done > 1;
	harness_send(ctl, "done %d %d %d", me.completed, me.right, dup);
	free(ctx);
	bus_close(bus);
	return me.right == calls_per_client && dup == 0 ? 0 : 1;
}

int main(void)
{
	harness_child exp, kids[CLIENTS];
	char u[64], line[128];
	const char *w = getenv("BUSD_WRAPPER");

	if (w && *w) {
		calls_per_client = 100;
		sync_calls = 10;
	}
	plan(10);
	harness_start(NULL);
	require(exporter_start(&exp, NAME, u) == 0, "the callee is up");

	int started = 0, ready = 0;
	for (int i = 0; i < CLIENTS; i++)
		started += harness_fork(&kids[i], load_client, (void *)(intptr_t)i) == 0;
	for (int i = 0; i < started; i++)
		ready += harness_recv(kids[i].ctl, line, sizeof(line), 30000) >= 0 && strcmp(line, "ready") == 0;
	is_int(ready, CLIENTS, "%d client processes connected", CLIENTS);
	for (int i = 0; i < started; i++)
		harness_send(kids[i].ctl, "go");

	long completed = 0, right = 0, dups = 0;
	int clean = 0;
	for (int i = 0; i < started; i++) {
		int c = 0, r = 0, d = 0;
		if (harness_recv(kids[i].ctl, line, sizeof(line), 120000) >= 0 &&
		    sscanf(line, "done %d %d %d", &c, &r, &d) == 3) {
			completed += c;
			right += r;
			dups += d;
		} else {
			diag("client %d: no result", i);
		}
		clean += harness_wait(&kids[i], 30000) == 0;
	}
	long total = (long)CLIENTS * calls_per_client;
	is_int(completed, total, "every one of the %ld calls was answered", total);
	is_int(right, total, "every reply echoed its own call's payload and named its caller");
	is_int(dups, 0, "no call was answered twice");
	is_int(clean, CLIENTS, "every client process exits 0");

	/* busd counted them too. */
	bus_t *bus = harness_connect();
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	void *body = harness_pack(&sreq.base, &len);
	int r = bus_call(bus, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", body, len, 10000000,
			 NULL, &reply, &rlen);
	free(body);
	Bus__StatsReply *st = r == 0 ? bus__stats_reply__unpack(NULL, rlen, reply) : NULL;
	free(reply);
	ok(st && st->calls >= (uint64_t)total && st->replies >= (uint64_t)total,
	   "busd's Stats count at least %ld calls and replies (%llu, %llu)", total,
	   st ? (unsigned long long)st->calls : 0ull, st ? (unsigned long long)st->replies : 0ull);
	ok(st && st->pending_calls == 0, "and no call left pending (%llu)",
	   st ? (unsigned long long)st->pending_calls : 0ull);
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	bus_close(bus);

	harness_send(exp.ctl, "quit");
	is_int(harness_wait(&exp, 10000), 0, "the callee exits 0");
	return harness_done();
}
