/* memfd.c - busbench --only memfd: the same calls with bodies of 64 KiB,
 * 1 MiB and 16 MiB carried inline (through the sockets and busd's buffers)
 * and out of line (a sealed memfd passed with the frame), in the same run,
 * turn by turn: round trips (p50, p99) and pipelined calls (calls/s, MB/s),
 * each figure the median of the runs, with the ratio memfd / inline.
 * Both the caller and the server take their threshold from
 * $BUS_MEMFD_THRESHOLD when they connect: 0 for inline, 1 for out of line
 * (every body, so that 64 KiB is measured both ways too). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memfd.h"
#include "sweep.h"

static const struct {
	const char *key, *label;
	size_t body;
} sizes[MEMFD_SIZES] = {
	{ "64k", "64 KiB", 64 * 1024 },
	{ "1m", "1 MiB", 1024 * 1024 },
	{ "16m", "16 MiB", 16 * 1024 * 1024 },
};
static const char *const mode_env[2] = { "0", "1" };
static const char *const mode_name[2] = { "inline", "memfd" };

/* Round trips of one mode: warm-up, then w->trips timed one by one. */
static void rtt_mode(const struct workload *w, struct result *r)
{
	struct bus_rtt *t = bus_rtt_open(w);
	double *lat = malloc(w->trips * sizeof(double));
	struct faults fl;
	pid_t broker, server;

	if (!lat)
		die("out of memory");
	for (unsigned i = 0; i < w->warmup; i++)
		bus_rtt_trip(t);
	bus_rtt_pids(t, &broker, &server);
	faults_start(&fl, broker, server);
	uint64_t t0 = now_ns(), a = t0;
	for (unsigned i = 0; i < w->trips; i++) {
		bus_rtt_trip(t);
		uint64_t b = now_ns();
		lat[i] = (double)(b - a) / 1e3;
		a = b;
	}
	faults_stop(&fl, w->trips, r);
	r->rate = w->trips / ((double)(a - t0) / 1e9);
	r->mbps = r->rate * (double)w->body / 1e6;
	percentiles(lat, w->trips, &r->p50_us, &r->p99_us);
	free(lat);
	bus_rtt_close(t);
}

void memfd_run(struct memfd_bench *mb, int runs, int quick)
{
	for (int s = 0; s < MEMFD_SIZES; s++) {
		size_t body = sizes[s].body;
		unsigned trips = sweep_trips(body, quick);
		struct workload w = {
			.body = body, .trips = trips, .warmup = trips / 10 > 2 ? trips / 10 : 2,
			.window = sweep_window(body), .seconds = quick ? 0.1 : 0.5,
			.subscribers = 1, .large = 1,
		};
		struct result rt[2][MAX_RUNS], pp[2][MAX_RUNS];
		mb->trips[s] = trips;
		mb->window[s] = w.window;
		/* The modes alternate run by run: a drift of the machine
		 * touches both alike. */
		for (int i = 0; i < runs; i++)
			for (int m = 0; m < 2; m++) {
				setenv("BUS_MEMFD_THRESHOLD", mode_env[m], 1);
				memset(&rt[m][i], 0, sizeof(rt[m][i]));
				memset(&pp[m][i], 0, sizeof(pp[m][i]));
				rtt_mode(&w, &rt[m][i]);
				bus_pipelined(&w, &pp[m][i]);
			}
		for (int m = 0; m < 2; m++) {
			median_results(rt[m], runs, &mb->rtt[s][m]);
			median_results(pp[m], runs, &mb->pipe[s][m]);
		}
	}
	unsetenv("BUS_MEMFD_THRESHOLD");
}

void memfd_print_table(const struct memfd_bench *mb)
{
	printf("\nlarge bodies: inline (sockets, busd's buffers) vs out of line (sealed memfd)\n");
	printf("%-8s %-22s %12s %12s %8s\n", "body", "figure", "inline", "memfd", "ratio");
	for (int s = 0; s < MEMFD_SIZES; s++) {
		const struct result *rt = mb->rtt[s], *p = mb->pipe[s];
		char fig[64];
		snprintf(fig, sizeof(fig), "RTT p50 us (%u trips)", mb->trips[s]);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", sizes[s].label, fig, rt[0].p50_us,
		       rt[1].p50_us, rt[1].p50_us / rt[0].p50_us);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "RTT p99 us", rt[0].p99_us,
		       rt[1].p99_us, rt[1].p99_us / rt[0].p99_us);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "RTT MB/s", rt[0].mbps, rt[1].mbps,
		       rt[1].mbps / rt[0].mbps);
		snprintf(fig, sizeof(fig), "pipelined/s (win %u)", mb->window[s]);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", fig, p[0].rate, p[1].rate,
		       p[1].rate / p[0].rate);
		printf("%-8s %-22s %12.1f %12.1f %8.2f\n", "", "pipelined MB/s", p[0].mbps, p[1].mbps,
		       p[1].mbps / p[0].mbps);
		printf("%-8s %-22s %12.1f %12.1f\n", "", "busd CPU us/call", p[0].broker_cpu_us,
		       p[1].broker_cpu_us);
	}
	printf("  (ratio: memfd / inline; RTT MB/s and pipelined MB/s count the request body,\n"
	       "   which the reply carries back as well; busd CPU: its user and system time\n"
	       "   over the pipelined calls, in clock ticks, per call)\n");
}

static void jnum(const char *key, double v)
{
	printf(",\n    \"%s\": %.3f", key, v);
}

void memfd_print_json(const struct memfd_bench *mb)
{
	char key[128];

	/* memfd: every body out of line (threshold 1); inline: threshold 0 */
	printf("  \"memfd\": {\n    \"memfd_threshold_bytes\": 1");
	for (int s = 0; s < MEMFD_SIZES; s++) {
		const char *sz = sizes[s].key;
		for (int m = 0; m < 2; m++) {
			snprintf(key, sizeof(key), "rtt_%s_%s_p50_us", sz, mode_name[m]);
			jnum(key, mb->rtt[s][m].p50_us);
			snprintf(key, sizeof(key), "rtt_%s_%s_p99_us", sz, mode_name[m]);
			jnum(key, mb->rtt[s][m].p99_us);
			snprintf(key, sizeof(key), "pipelined_%s_%s_calls_per_s", sz, mode_name[m]);
			jnum(key, mb->pipe[s][m].rate);
			snprintf(key, sizeof(key), "pipelined_%s_%s_mb_per_s", sz, mode_name[m]);
			jnum(key, mb->pipe[s][m].mbps);
			snprintf(key, sizeof(key), "pipelined_%s_%s_busd_cpu_us_per_call", sz,
				 mode_name[m]);
			jnum(key, mb->pipe[s][m].broker_cpu_us);
		}
		snprintf(key, sizeof(key), "rtt_%s_memfd_over_inline", sz);
		jnum(key, mb->rtt[s][1].p50_us / mb->rtt[s][0].p50_us);
		snprintf(key, sizeof(key), "pipelined_%s_memfd_over_inline", sz);
		jnum(key, mb->pipe[s][1].rate / mb->pipe[s][0].rate);
	}
	printf("\n  }");
}
