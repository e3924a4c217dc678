/* bridgebench.c - the cost of busbridge, measured beside its floor in the
 * same run (docs/performance.md, "Bridge"): tests/bench/bridge.sh starts the
 * topology (a NATS cluster, busd A and B, a bridge on each, services/echo
 * on B) and runs this with both sockets and a NATS URL.
 *
 *   bridgebench --bus-a PATH --bus-b PATH --nats URL [--rounds N] [--events N]
 *
 * RTT (64-byte bodies, sequential, after a warm-up of a tenth): bare NATS
 * request/reply between two cnats connections; a call to echo on the local
 * bus B; the same call from A through both bridges. One-way: 64-byte
 * events emitted on A and received on B through the bridges, beside bare
 * NATS publish to a subscriber. Each figure is the median of 3 runs; p50
 * and p99 in microseconds. */
#include "config.h"

#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>
#include <bus/bus.h>

#define BODY 64
#define RUNS 3

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct rtt {
	double p50_us, p99_us, per_s;
};

/* p50, p99 and calls/s of n samples (sorted in place). */
static struct rtt summarise(uint64_t *ns, size_t n, uint64_t total_ns)
{
	struct rtt r;

	qsort(ns, n, sizeof(*ns), cmp_u64);
	r.p50_us = ns[n / 2] / 1000.0;
	r.p99_us = ns[n * 99 / 100] / 1000.0;
	r.per_s = n / (total_ns / 1e9);
	return r;
}

static struct rtt median3(struct rtt *v)
{
	struct rtt m;
	double a[RUNS];

#define MED(f)                                                    \
	for (int i = 0; i < RUNS; i++)                            \
		a[i] = v[i].f;                                    \
	qsort(a, RUNS, sizeof(double), cmp_double);               \
	m.f = a[RUNS / 2];
	MED(p50_us)
	MED(p99_us)
	MED(per_s)
#undef MED
	return m;
}

/* ---------------------------------------------------------------- bus */

static int bus_rtt(bus_t *bus, const char *name, size_t rounds, struct rtt *out)
{
	uint8_t body[BODY + 8];
	size_t warm = rounds / 10;
	uint64_t *ns = malloc(rounds * sizeof(*ns));

	/* an EchoRequest with a 62-byte text: field 1, length 62 */
	body[0] = 0x0a;
	body[1] = BODY - 2;
	memset(body + 2, 'x', BODY - 2);
	if (!ns)
		return -1;
	uint64_t t0 = 0;
	for (size_t i = 0; i < warm + rounds; i++) {
		bus_error_t err;
		void *reply = NULL;
		size_t rlen;
		if (i == warm)
			t0 = now_ns();
		uint64_t s = now_ns();
		if (bus_call(bus, name, NULL, "Echo", "busd.examples.EchoRequest", body, BODY,
			     10ull * 1000000ull, &err, &reply, &rlen) < 0) {
			fprintf(stderr, "bridgebench: call %zu to %s: %s: %s\n", i, name, err.name,
				err.message);
			free(ns);
			return -1;
		}
		free(reply);
		if (i >= warm)
			ns[i - warm] = now_ns() - s;
	}
	*out = summarise(ns, rounds, now_ns() - t0);
	free(ns);
	return 0;
}

struct evcount {
	unsigned long n;
};

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	((struct evcount *)ud)->n++;
}

/* Events emitted on a, counted on b: delivered per second, from the first
 * emit to the last arrival; *got says how many of n arrived. */
static int bus_events(bus_t *a, bus_t *b, size_t n, double *per_s, unsigned long *got)
{
	struct evcount c = { 0 };
	bus_slot_t *slot;
	bus_error_t err;
	uint8_t body[BODY];

	memset(body, 'e', sizeof(body));
	if (bus_subscribe(b, &slot, "bench.bridge.*", on_event, &c, &err) < 0) {
		fprintf(stderr, "bridgebench: subscribe: %s\n", err.message);
		return -1;
	}
	/* the subscription is on the bridge's side once a first event crosses */
	uint64_t until = now_ns() + 10ull * 1000000000u;
	while (c.n == 0 && now_ns() < until) {
		bus_emit_raw(a, "bench.bridge.warm", NULL, body, sizeof(body));
		bus_flush(a);
		bus_wait(b, 100000);
		bus_process(b);
	}
	bus_wait(b, 200000);
	while (bus_process(b) > 0)
		;
	c.n = 0;
	uint64_t t0 = now_ns(), last = t0;
	for (size_t i = 0; i < n; i++) {
		bus_emit_raw(a, "bench.bridge.ev", NULL, body, sizeof(body));
		if (i % 64 == 63) {
			bus_process(a);
			while (bus_process(b) > 0)
				last = now_ns();
		}
	}
	bus_flush(a);
	uint64_t idle_until = now_ns() + 2000000000u;
	while (c.n < n && now_ns() < idle_until) {
		unsigned long before = c.n;
		bus_wait(b, 100000);
		while (bus_process(b) > 0)
			;
		if (c.n != before) {
			last = now_ns();
			idle_until = last + 2000000000u;
		}
	}
	*per_s = c.n / ((last - t0) / 1e9);
	*got = c.n;
	bus_slot_unref(slot);
	return 0;
}

/* ---------------------------------------------------------------- NATS */

static void on_nats_echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
	(void)sub;
	(void)ud;
	natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
	natsMsg_Destroy(m);
}

static atomic_ulong nats_received;

static void on_nats_count(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *ud)
{
	(void)nc;
	(void)sub;
	(void)ud;
	atomic_fetch_add(&nats_received, 1);
	natsMsg_Destroy(m);
}

static int nats_rtt(natsConnection *req, size_t rounds, struct rtt *out)
{
	char body[BODY];
	size_t warm = rounds / 10;
	uint64_t *ns = malloc(rounds * sizeof(*ns)), t0 = 0;

	memset(body, 'x', sizeof(body));
	if (!ns)
		return -1;
	for (size_t i = 0; i < warm + rounds; i++) {
		natsMsg *reply = NULL;
		if (i == warm)
			t0 = now_ns();
		uint64_t s = now_ns();
		if (natsConnection_Request(&reply, req, "bench.nats.echo", body, BODY, 10000) != NATS_OK) {
			fprintf(stderr, "bridgebench: NATS request %zu: %s\n", i, nats_GetLastError(NULL));
			free(ns);
			return -1;
		}
		natsMsg_Destroy(reply);
		if (i >= warm)
			ns[i - warm] = now_ns() - s;
	}
	*out = summarise(ns, rounds, now_ns() - t0);
	free(ns);
	return 0;
}

static double nats_publish(natsConnection *pub, size_t n)
{
	char body[BODY];

	memset(body, 'e', sizeof(body));
	atomic_store(&nats_received, 0);
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		natsConnection_Publish(pub, "bench.nats.ev", body, BODY);
	natsConnection_Flush(pub);
	uint64_t until = now_ns() + 10ull * 1000000000u;
	while (atomic_load(&nats_received) < n && now_ns() < until)
		nats_Sleep(1);
	return atomic_load(&nats_received) / ((now_ns() - t0) / 1e9);
}

/* ---------------------------------------------------------------- main */

static void print_rtt(const char *what, struct rtt r)
{
	printf("%-34s p50 %8.1f us  p99 %8.1f us  %9.0f calls/s\n", what, r.p50_us, r.p99_us, r.per_s);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bus-a", required_argument, NULL, 'a' },
		{ "bus-b", required_argument, NULL, 'b' },
		{ "nats", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "events", required_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pa = NULL, *pb = NULL, *url = NULL;
	size_t rounds = 20000, events = 100000;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': pa = optarg; break;
		case 'b': pb = optarg; break;
		case 'n': url = optarg; break;
		case 'r': rounds = strtoul(optarg, NULL, 10); break;
		case 'e': events = strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (!pa || !pb || !url || rounds < 100 || events < 100) {
		fprintf(stderr, "usage: bridgebench --bus-a PATH --bus-b PATH --nats URL "
				"[--rounds N>=100] [--events N>=100]\n");
		return 2;
	}
	bus_t *a, *b;
	bus_error_t err;
	natsConnection *n1 = NULL, *n2 = NULL;
	natsSubscription *s1 = NULL, *s2 = NULL;
	if (bus_connect(&a, pa, &err) < 0 || bus_connect(&b, pb, &err) < 0) {
		fprintf(stderr, "bridgebench: %s: %s\n", err.name, err.message);
		return 1;
	}
	natsOptions *o = NULL;
	/* as busbridge does: each message sent at once, not by cnats's flusher */
	if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, url) != NATS_OK ||
	    natsOptions_SetSendAsap(o, true) != NATS_OK ||
	    natsConnection_Connect(&n1, o) != NATS_OK || natsConnection_Connect(&n2, o) != NATS_OK ||
	    natsConnection_Subscribe(&s1, n1, "bench.nats.echo", on_nats_echo, NULL) != NATS_OK ||
	    natsConnection_Subscribe(&s2, n1, "bench.nats.ev", on_nats_count, NULL) != NATS_OK ||
	    natsSubscription_SetPendingLimits(s2, -1, -1) != NATS_OK ||
	    natsConnection_Flush(n1) != NATS_OK) {
		fprintf(stderr, "bridgebench: NATS at %s: %s\n", url, nats_GetLastError(NULL));
		return 1;
	}
	natsOptions_Destroy(o);
	struct rtt vn[RUNS], vl[RUNS], vb[RUNS];
	double en[RUNS], eb[RUNS];
	unsigned long got = 0;
	for (int i = 0; i < RUNS; i++) {
		if (nats_rtt(n2, rounds, &vn[i]) < 0 || bus_rtt(b, "org.busd.Echo", rounds, &vl[i]) < 0 ||
		    bus_rtt(a, "org.busd.Echo", rounds, &vb[i]) < 0)
			return 1;
		en[i] = nats_publish(n2, events);
		if (bus_events(a, b, events, &eb[i], &got) < 0)
			return 1;
	}
	struct rtt mn = median3(vn), ml = median3(vl), mb = median3(vb);
	qsort(en, RUNS, sizeof(double), cmp_double);
	qsort(eb, RUNS, sizeof(double), cmp_double);
	printf("bridgebench: %zu round trips (after %zu warm-up) and %zu events per run, "
	       "%d-byte bodies, median of %d runs\n", rounds, rounds / 10, events, BODY, RUNS);
	print_rtt("rtt bare NATS request/reply", mn);
	print_rtt("rtt local busd call (B to echo)", ml);
	print_rtt("rtt bridged call (A to echo on B)", mb);
	double floor = mn.p50_us + 2 * ml.p50_us;
	printf("%-34s %.1f us (bare NATS + 2 local busd round trips, p50)\n", "floor", floor);
	printf("%-34s %.2f x floor (target <= 1.30)\n", "bridged call p50", mb.p50_us / floor);
	printf("%-34s %9.0f msgs/s\n", "one-way bare NATS publish", en[RUNS / 2]);
	printf("%-34s %9.0f events/s (%.2f x bare NATS; last run %lu of %zu arrived)\n",
	       "one-way bridged events A -> B", eb[RUNS / 2], eb[RUNS / 2] / en[RUNS / 2], got, events);
	natsSubscription_Destroy(s1);
	natsSubscription_Destroy(s2);
	natsConnection_Destroy(n1);
	natsConnection_Destroy(n2);
	nats_CloseAndWait(2000);
	bus_close(a);
	bus_close(b);
	return 0;
}
