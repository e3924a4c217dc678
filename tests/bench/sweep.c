/* sweep.c - busbench's payload sweep: round trips, pipelined calls and
 * one-way events at bodies of 64 B to 16 MiB, busd beside the relay floor,
 * with the minor page faults per message of every process involved. Trip
 * counts shrink and windows narrow as bodies grow, so that the sweep stays
 * within a minute or two and the bytes in flight stay bounded. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bench.h"
#include "sweep.h"

const struct sweep_size sweep_sizes[SWEEP_SIZES] = {
	{ "64b", "64 B", 64 },
	{ "4k", "4 KiB", 4096 },
	{ "64k", "64 KiB", 64 * 1024 },
	{ "1m", "1 MiB", 1024 * 1024 },
	{ "16m", "16 MiB", 16 * 1024 * 1024 },
};

/* Bytes the pipelined and one-way windows keep in flight at most (a window
 * is never below 2 nor above 128 messages). */
#define SWEEP_IN_FLIGHT (8u * 1024 * 1024)
/* Bytes of bodies one RTT run sends each way, within the bounds below. */
#define SWEEP_RTT_BYTES (32u * 1024 * 1024)
#define SWEEP_QUICK_RTT_BYTES (1u * 1024 * 1024)

static unsigned clampu(size_t v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : (unsigned)v;
}

unsigned sweep_window(size_t body)
{
	return clampu(SWEEP_IN_FLIGHT / body, 2, 128);
}

unsigned sweep_trips(size_t body, int quick)
{
	if (quick)
		return clampu(SWEEP_QUICK_RTT_BYTES / body, 3, 500);
	return clampu(SWEEP_RTT_BYTES / body, 10, 5000);
}

int sweep_parse_sizes(const char *arg, unsigned *mask)
{
	char buf[256], *save = NULL;

	if (strlen(arg) >= sizeof(buf)) {
		fprintf(stderr, "busbench: --sizes: list too long\n");
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", arg);
	*mask = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		int found = -1;
		for (int i = 0; i < SWEEP_SIZES; i++) {
			const char *k = sweep_sizes[i].key;
			/* "64b" is also "64"; case does not matter. */
			if (strcasecmp(t, k) == 0 || (i == 0 && strcmp(t, "64") == 0))
				found = i;
		}
		if (found < 0) {
			fprintf(stderr,
				"busbench: --sizes: unknown size '%s' (one of 64b, 4k, 64k, 1m, 16m)\n",
				t);
			return -1;
		}
		*mask |= 1u << found;
	}
	if (!*mask) {
		fprintf(stderr, "busbench: --sizes: no size given (one of 64b, 4k, 64k, 1m, 16m)\n");
		return -1;
	}
	return 0;
}

void sweep_run(struct sweep *sw, int runs, int quick)
{
	for (int s = 0; s < SWEEP_SIZES; s++) {
		if (!(sw->mask & (1u << s)))
			continue;
		size_t body = sweep_sizes[s].body;
		unsigned trips = sweep_trips(body, quick);
		struct workload w = {
			.body = body, .trips = trips, .warmup = trips / 10 > 2 ? trips / 10 : 2,
			.window = sweep_window(body), .seconds = quick ? 0.1 : 0.5,
			.subscribers = 1, .large = 1,
		};
		sw->trips[s] = trips;
		sw->window[s] = w.window;

		struct result r[2][MAX_RUNS];
		for (int i = 0; i < runs; i++) {
			struct result one[4];
			memset(one, 0, sizeof(one));
			rtt_run(&w, one, 0);
			r[0][i] = one[1];
			r[1][i] = one[2];
		}
		for (int k = 0; k < 2; k++)
			median_results(r[k], runs, &sw->rtt[s][k]);

		measure_fn pipe[2] = { floor_pipelined_relay, bus_pipelined };
		measure(runs, &w, pipe, sw->pipe[s], 2);
		measure_fn one[2] = { floor_oneway_relay, bus_fanout };
		measure(runs, &w, one, sw->oneway[s], 2);
	}
}

/* ---------------------------------------------------------------- text */

static const char *const who[2] = { "relay", "busd" };

static void faults_line(const char *what, const struct result r[2], const char *peer)
{
	printf("  faults/msg %-10s relay %8.2f  %s %8.2f  client %8.2f | busd %8.2f  %s %8.2f"
	       "  client %8.2f\n",
	       what, r[0].faults[FLT_BROKER], peer, r[0].faults[FLT_PEER], r[0].faults[FLT_CLIENT],
	       r[1].faults[FLT_BROKER], peer, r[1].faults[FLT_PEER], r[1].faults[FLT_CLIENT]);
}

void sweep_print_table(const struct sweep *sw)
{
	printf("\npayload sweep: relay = client -> epoll relay -> server (whole messages, "
	       "non-blocking, back-pressure)\n");
	printf("%-8s %-22s %12s %12s %8s\n", "body", "figure", "relay", "busd", "ratio");
	for (int s = 0; s < SWEEP_SIZES; s++) {
		if (!(sw->mask & (1u << s)))
			continue;
		const struct result *rt = sw->rtt[s], *p = sw->pipe[s], *o = sw->oneway[s];
		const char *l = sweep_sizes[s].label;
		char fig[64];
		snprintf(fig, sizeof(fig), "RTT p50 us (%u trips)", sw->trips[s]);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", l, fig, rt[0].p50_us, rt[1].p50_us,
		       rt[1].p50_us / rt[0].p50_us);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "RTT p99 us", rt[0].p99_us,
		       rt[1].p99_us, rt[1].p99_us / rt[0].p99_us);
		snprintf(fig, sizeof(fig), "pipelined/s (win %u)", sw->window[s]);
		printf("%-8s %-22s %12.0f %12.0f %8.2f\n", "", fig, p[0].rate, p[1].rate,
		       p[1].rate / p[0].rate);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "pipelined MB/s", p[0].mbps, p[1].mbps,
		       p[1].mbps / p[0].mbps);
		printf("%-8s %-22s %12.0f %12.0f %8.2f\n", "", "one-way events/s", o[0].rate, o[1].rate,
		       o[1].rate / o[0].rate);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "one-way MB/s", o[0].mbps, o[1].mbps,
		       o[1].mbps / o[0].mbps);
		faults_line("rtt", rt, "server");
		faults_line("pipelined", p, "server");
		faults_line("one-way", o, "subscr");
	}
	printf("  (faults/msg: minor page faults per call, request and reply, or per event;\n"
	       "   relay/busd, its server or subscriber, and busbench as the client)\n");
}

/* ---------------------------------------------------------------- JSON */

static void jnum(const char *key, double v)
{
	printf(",\n    \"%s\": %.3f", key, v);
}

static void json_faults(const char *sz, const char *what, const struct result r[2],
			const char *peer)
{
	char key[128];

	for (int k = 0; k < 2; k++) {
		snprintf(key, sizeof(key), "faults_%s_%s_%s_per_msg", sz, what, who[k]);
		jnum(key, r[k].faults[FLT_BROKER]);
		snprintf(key, sizeof(key), "faults_%s_%s_%s_%s_per_msg", sz, what, who[k], peer);
		jnum(key, r[k].faults[FLT_PEER]);
		snprintf(key, sizeof(key), "faults_%s_%s_%s_client_per_msg", sz, what, who[k]);
		jnum(key, r[k].faults[FLT_CLIENT]);
	}
}

void sweep_print_json(const struct sweep *sw)
{
	char key[128];
	int first = 1;

	printf("  \"sweep\": {");
	for (int s = 0; s < SWEEP_SIZES; s++) {
		if (!(sw->mask & (1u << s)))
			continue;
		const char *sz = sweep_sizes[s].key;
		const struct result *rt = sw->rtt[s], *p = sw->pipe[s], *o = sw->oneway[s];
		printf("%s\n    \"%s_body_bytes\": %zu", first ? "" : ",", sz, sweep_sizes[s].body);
		first = 0;
		snprintf(key, sizeof(key), "rtt_%s_trips", sz);
		jnum(key, sw->trips[s]);
		snprintf(key, sizeof(key), "window_%s", sz);
		jnum(key, sw->window[s]);
		for (int k = 0; k < 2; k++) {
			snprintf(key, sizeof(key), "rtt_%s_%s_p50_us", sz, who[k]);
			jnum(key, rt[k].p50_us);
			snprintf(key, sizeof(key), "rtt_%s_%s_p99_us", sz, who[k]);
			jnum(key, rt[k].p99_us);
			snprintf(key, sizeof(key), "pipelined_%s_%s_calls_per_s", sz, who[k]);
			jnum(key, p[k].rate);
			snprintf(key, sizeof(key), "pipelined_%s_%s_mb_per_s", sz, who[k]);
			jnum(key, p[k].mbps);
			snprintf(key, sizeof(key), "oneway_%s_%s_events_per_s", sz, who[k]);
			jnum(key, o[k].rate);
			snprintf(key, sizeof(key), "oneway_%s_%s_mb_per_s", sz, who[k]);
			jnum(key, o[k].mbps);
		}
		snprintf(key, sizeof(key), "rtt_%s_busd_over_relay", sz);
		jnum(key, rt[1].p50_us / rt[0].p50_us);
		snprintf(key, sizeof(key), "pipelined_%s_busd_over_relay", sz);
		jnum(key, p[1].rate / p[0].rate);
		snprintf(key, sizeof(key), "oneway_%s_busd_over_relay", sz);
		jnum(key, o[1].rate / o[0].rate);
		json_faults(sz, "rtt", rt, "server");
		json_faults(sz, "pipelined", p, "server");
		json_faults(sz, "oneway", o, "subscriber");
	}
	printf("\n  }");
}
