/* busbench.c - measures busd as docs/performance.md says: RTT p50/p99
 * (64 B, 4 KiB), pipelined calls (window 128), one-way events, fan-out to
 * 1/10/100 subscribers and busd's RSS with idle peers, then the payload
 * sweep (sweep.c: 64 B to 16 MiB bodies, with page faults per message),
 * each the median of 3 runs, beside the floor measured in the same run
 * (socketpair ping-pong and a minimal epoll relay), with busd's figures as
 * ratios to that floor; then the supervision figures (revive.c: start,
 * activation and the reincarnation gap of the echo service, beside a bare
 * fork and exec of it); then large bodies inline against out of line
 * (memfd.c: 64 KiB, 1 MiB and 16 MiB calls, sealed memfds); then
 * shared-memory channels (chanbench.c) beside their own floor.
 *
 *   busbench [--quick] [--json] [--runs N] [--busd PATH] [--no-pin]
 *            [--only base|sweep|revive|memfd|chan] [--sizes LIST]
 */
#include "config.h"

#define _GNU_SOURCE 1
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "chanbench.h"
#include "revive.h"
#include "sweep.h"
#include "memfd.h"

/* ---------------------------------------------------------------- helpers */

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "busbench[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

struct shared *shared_new(void)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	return sh; /* zero-filled */
}

void shared_free(struct shared *sh)
{
	munmap(sh, sizeof(*sh));
}

void shared_wait_ready(struct shared *sh, int n)
{
	uint64_t until = now_ns() + 30000000000u;

	while (atomic_load(&sh->ready) < n) {
		if (now_ns() > until)
			die("only %d of %d helper processes got ready in 30 s",
			    atomic_load(&sh->ready), n);
		usleep(1000);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

void percentiles(double *v, size_t n, double *p50, double *p99)
{
	qsort(v, n, sizeof(*v), cmp_double);
	*p50 = v[n / 2];
	*p99 = v[(size_t)((double)n * 0.99)];
}

static uint64_t slowest(struct shared *sh, unsigned n)
{
	uint64_t min = UINT64_MAX;

	for (unsigned i = 0; i < n; i++) {
		uint64_t v = atomic_load_explicit(&sh->received[i], memory_order_acquire);
		if (v < min)
			min = v;
	}
	return min;
}

void window_wait(struct shared *sh, unsigned n, uint64_t sent, unsigned window)
{
	/* Small windows are kept exactly; large ones are looked at every 16
	 * messages, which keeps the shared counters off the hot path. */
	if (sent < window || (window >= 64 && (sent & 15) != 0))
		return;
	while (sent - slowest(sh, n) >= window)
		sched_yield();
}

void oneway_warmed(struct shared *sh, unsigned n)
{
	uint64_t until = now_ns() + 60000000000u;

	while (slowest(sh, n) < sh->warm) {
		if (now_ns() > until)
			die("subscribers got %llu of %llu warm-up events in 60 s",
			    (unsigned long long)slowest(sh, n), (unsigned long long)sh->warm);
		sched_yield();
	}
}

void oneway_collect(struct shared *sh, const struct workload *w, struct result *r)
{
	uint64_t sent = atomic_load(&sh->sent), until = now_ns() + 60000000000u, last = 0;

	while (slowest(sh, w->subscribers) < sent) {
		if (now_ns() > until)
			die("subscribers got %llu of %llu events in 60 s",
			    (unsigned long long)slowest(sh, w->subscribers), (unsigned long long)sent);
		usleep(1000);
	}
	for (unsigned i = 0; i < w->subscribers; i++) {
		uint64_t t = atomic_load(&sh->t_last_ns[i]);
		if (t > last)
			last = t;
	}
	double secs = (double)(last - sh->t_start_ns) / 1e9;
	r->rate = (double)(sent - sh->warm) * w->subscribers / secs;
	r->mbps = r->rate * (double)w->body / 1e6;
}

/* With two CPUs or more, the clients, servers and subscribers run on CPU 0
 * and the relay or busd on CPU 1, for the floor and busd alike: on these
 * small VMs the scheduler's placement of three busy processes on two CPUs
 * otherwise changes a round trip by tens of percent from one run to the
 * next. --no-pin leaves placement to the scheduler. */
static int pinned;

static void pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		die("sched_setaffinity(CPU %d): %s", cpu, strerror(errno));
}

static void pin_setup(int want)
{
	cpu_set_t set;

	if (!want || sched_getaffinity(0, sizeof(set), &set) < 0 || !CPU_ISSET(0, &set) ||
	    !CPU_ISSET(1, &set))
		return;
	pin_to(0);
	pinned = 1;
}

void pin_broker(void)
{
	if (pinned)
		pin_to(1);
}

int time_to_look(const struct workload *w, uint64_t sent)
{
	return (sent & 255) == 0 || w->body > 4096;
}

/* The fields of /proc/PID/stat after "pid (comm)" (comm may hold spaces
 * and parentheses), read into buf: state, ppid, pgrp, session, tty_nr,
 * tpgid, flags, minflt (field 10), ... utime and stime (14, 15). */
static const char *stat_fields(pid_t pid, char *buf, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')');
	if (!p)
		die("%s: no command name", path);
	return p + 1;
}

uint64_t minflt_of(pid_t pid)
{
	char buf[1024];
	unsigned long long v = 0;

	if (pid == 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		return (uint64_t)ru.ru_minflt;
	}
	if (pid < 0)
		return 0;
	if (sscanf(stat_fields(pid, buf, sizeof(buf)), " %*c %*d %*d %*d %*d %*d %*u %llu", &v) != 1)
		die("/proc/%d/stat: no minflt field", (int)pid);
	return (uint64_t)v;
}

/* The user and system time of pid (> 0) so far, in clock ticks
 * (/proc/PID/stat fields 14 and 15); 0 for pid <= 0. */
static uint64_t cpu_of(pid_t pid)
{
	char buf[1024];
	unsigned long long u = 0, s = 0;

	if (pid <= 0)
		return 0;
	if (sscanf(stat_fields(pid, buf, sizeof(buf)),
		   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &u, &s) != 2)
		die("/proc/%d/stat: cannot read utime and stime", (int)pid);
	return (uint64_t)(u + s);
}

void faults_start(struct faults *f, pid_t broker, pid_t peer)
{
	f->pid[FLT_BROKER] = broker > 0 ? broker : -1;
	f->pid[FLT_PEER] = peer > 0 ? peer : -1;
	f->pid[FLT_CLIENT] = 0;
	for (int k = 0; k < FLT_N; k++)
		f->at[k] = minflt_of(f->pid[k]);
	f->broker_cpu = cpu_of(f->pid[FLT_BROKER]);
}

void faults_stop(const struct faults *f, double messages, struct result *r)
{
	for (int k = 0; k < FLT_N; k++)
		r->faults[k] = messages > 0 ? (double)(minflt_of(f->pid[k]) - f->at[k]) / messages : 0;
	double ticks = (double)(cpu_of(f->pid[FLT_BROKER]) - f->broker_cpu);
	r->broker_cpu_us = messages > 0 ? ticks * 1e6 / (double)sysconf(_SC_CLK_TCK) / messages : 0;
}

pid_t fork_child(void)
{
	pid_t parent = getpid();
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		/* busbench may die() anywhere: its busd, servers and subscribers
		 * go with it instead of staying behind. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
	}
	return pid;
}

void child_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* ---------------------------------------------------------------- runs */

double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Each field of out the median of that field over the runs. */
void median_results(const struct result *r, int runs, struct result *out)
{
	double p50[MAX_RUNS], p99[MAX_RUNS], rate[MAX_RUNS], mbps[MAX_RUNS], dropped[MAX_RUNS];
	double flt[FLT_N][MAX_RUNS], cpu[MAX_RUNS];

	for (int i = 0; i < runs; i++) {
		p50[i] = r[i].p50_us;
		p99[i] = r[i].p99_us;
		rate[i] = r[i].rate;
		mbps[i] = r[i].mbps;
		dropped[i] = r[i].dropped;
		cpu[i] = r[i].broker_cpu_us;
		for (int k = 0; k < FLT_N; k++)
			flt[k][i] = r[i].faults[k];
	}
	*out = (struct result){ median(p50, runs), median(p99, runs), median(rate, runs),
				median(mbps, runs), median(dropped, runs), { 0 },
				median(cpu, runs) };
	for (int k = 0; k < FLT_N; k++)
		out->faults[k] = median(flt[k], runs);
}

/* The measurements of several functions alternate run by run, so that a
 * drift of the machine touches all of them alike. */
void measure(int runs, const struct workload *w, measure_fn *fns, struct result *out,
		    int nfns)
{
	struct result r[4][MAX_RUNS];

	for (int i = 0; i < runs; i++)
		for (int f = 0; f < nfns; f++) {
			memset(&r[f][i], 0, sizeof(r[f][i]));
			fns[f](w, &r[f][i]);
		}
	for (int f = 0; f < nfns; f++)
		median_results(r[f], runs, &out[f]);
}

/* One RTT run: the socketpair (RTT_PAIR), the relay and busd are all set
 * up at once and take turns in blocks of round trips (RTT_BLOCK, or a
 * twentieth of the trips when that is fewer, so that few large trips still
 * alternate), so that the floor and busd are measured under the same
 * conditions (these machines drift by tens of percent within a minute;
 * sequential runs would compare drifts). With RTT_FLOOD, a fourth busd
 * takes its turns too: one with a slow consumer flooded beside the round
 * trips (bus_rtt_open_flooded). The faults of the relay, busd and their
 * servers are counted over the whole run (they idle during the others'
 * turns), busbench's own over its turns with each. */
#define RTT_BLOCK 500
void rtt_run(const struct workload *w, struct result out[4], int flags)
{
	struct floor_rtt *pair = flags & RTT_PAIR ? floor_rtt_open(w, 0) : NULL;
	struct floor_rtt *relay = floor_rtt_open(w, 1);
	struct bus_rtt *bus = bus_rtt_open(w);
	struct bus_rtt *flooded = flags & RTT_FLOOD ? bus_rtt_open_flooded(w) : NULL;
	void (*trip[4])(void *) = { floor_rtt_trip, floor_rtt_trip, bus_rtt_trip, bus_rtt_trip };
	void *ctx[4] = { pair, relay, bus, flooded };
	double *lat[4] = { NULL, NULL, NULL, NULL };
	uint64_t spent[4] = { 0, 0, 0, 0 }, own[4] = { 0, 0, 0, 0 };
	struct faults fl[4];
	unsigned n = 0, block = w->trips / 20;

	block = block < 1 ? 1 : block > RTT_BLOCK ? RTT_BLOCK : block;
	for (unsigned k = 0; k < 4; k++) {
		if (!ctx[k])
			continue;
		if (!(lat[k] = malloc(w->trips * sizeof(double))))
			die("out of memory");
		for (unsigned i = 0; i < w->warmup; i++)
			trip[k](ctx[k]);
	}
	for (unsigned k = 0; k < 4; k++) {
		pid_t broker = -1, server = -1;
		if (k < 2 && ctx[k])
			floor_rtt_pids(ctx[k], &broker, &server);
		else if (ctx[k])
			bus_rtt_pids(ctx[k], &broker, &server);
		faults_start(&fl[k], broker, server);
	}
	while (n < w->trips) {
		unsigned b = w->trips - n < block ? w->trips - n : block;
		for (unsigned k = 0; k < 4; k++) {
			if (!ctx[k])
				continue;
			uint64_t f0 = minflt_of(0), t0 = now_ns(), a = t0;
			for (unsigned i = 0; i < b; i++) {
				trip[k](ctx[k]);
				uint64_t t = now_ns();
				lat[k][n + i] = (double)(t - a) / 1e3;
				a = t;
			}
			spent[k] += a - t0;
			own[k] += minflt_of(0) - f0;
		}
		n += b;
	}
	for (unsigned k = 0; k < 4; k++) {
		if (!ctx[k])
			continue;
		faults_stop(&fl[k], w->trips, &out[k]);
		out[k].faults[FLT_CLIENT] = (double)own[k] / w->trips;
		out[k].rate = w->trips / ((double)spent[k] / 1e9);
		out[k].mbps = out[k].rate * (double)w->body / 1e6;
		percentiles(lat[k], w->trips, &out[k].p50_us, &out[k].p99_us);
		free(lat[k]);
	}
	if (pair)
		floor_rtt_close(pair);
	floor_rtt_close(relay);
	bus_rtt_close(bus);
	if (flooded) {
		out[3].dropped = (double)bus_rtt_dropped(flooded);
		bus_rtt_close(flooded);
	}
}

/* ---------------------------------------------------------------- report */

struct figures {
	struct result rtt[2][3]; /* [64 B, 4 KiB][pair, relay, busd] */
	struct result flooded;   /* 64 B, busd beside a flooded slow consumer */
	struct result pipe[2];   /* relay, busd */
	struct result oneway[2]; /* relay, busd */
	struct result fan[3];    /* 1, 10, 100 */
	uint64_t rss_idle, rss[2];
	unsigned peers[2];
	size_t npeers;
};

static const unsigned fan_subs[3] = { 1, 10, 100 };

static double per_peer(const struct figures *f, size_t k)
{
	return ((double)f->rss[k] - (double)f->rss_idle) / f->peers[k];
}

static void machine(char *buf, size_t len)
{
	char line[256], model[128] = "unknown CPU";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');
		if (strncmp(line, "model name", 10) == 0 && p) {
			snprintf(model, sizeof(model), "%s", p + 2);
			model[strcspn(model, "\n")] = 0;
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, len, "%s, %ld CPUs, Linux %s", model, sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

static const char *verdict(int ok)
{
	return ok ? "ok" : "MISS";
}

static void print_head(int runs, int quick)
{
	char m[256];

	machine(m, sizeof(m));
	printf("busbench %s%s: median of %d run%s; %s\n", PACKAGE_VERSION, quick ? " --quick" : "",
	       runs, runs == 1 ? "" : "s", m);
	printf("floor: socketpair = direct ping-pong; relay = client -> epoll relay -> server and back\n");
	printf("placement: %s\n", pinned ? "clients and servers on CPU 0, relay and busd on CPU 1"
					  : "left to the scheduler");
}

static void print_table(const struct figures *f)
{
	const char *sz[2] = { "64 B", "4 KiB" };

	printf("\n");
	printf("%-34s %12s %12s %12s %8s %8s %5s\n", "figure", "socketpair", "relay", "busd",
	       "ratio", "target", "");
	for (int s = 0; s < 2; s++) {
		const struct result *r = f->rtt[s];
		double q50 = r[2].p50_us / r[1].p50_us, q99 = r[2].p99_us / r[1].p99_us;
		printf("RTT p50 %-26s %12.2f %12.2f %12.2f %8.2f %8s %5s\n", sz[s], r[0].p50_us,
		       r[1].p50_us, r[2].p50_us, q50, s ? "" : "<=1.10", s ? "" : verdict(q50 <= 1.10));
		printf("RTT p99 %-26s %12.2f %12.2f %12.2f %8.2f %8s %5s\n", sz[s], r[0].p99_us,
		       r[1].p99_us, r[2].p99_us, q99, s ? "" : "<=1.5", s ? "" : verdict(q99 <= 1.5));
		printf("calls/s sequential %-15s %12.0f %12.0f %12.0f %8.2f\n", sz[s], r[0].rate,
		       r[1].rate, r[2].rate, r[2].rate / r[1].rate);
	}
	double qf = f->flooded.p50_us / f->rtt[0][2].p50_us;
	printf("%-34s %12s %12s %12.2f %8.2f %8s %5s\n", "RTT p50 64 B, slow consumer flooded", "",
	       "", f->flooded.p50_us, qf, "<=1.10", verdict(qf <= 1.10));
	printf("%-34s %12s %12s %12.2f %8.2f\n", "RTT p99 64 B, slow consumer flooded", "", "",
	       f->flooded.p99_us, f->flooded.p99_us / f->rtt[0][2].p99_us);
	printf("  (ratio: over busd's own RTT without it; %.0f events dropped for the slow consumer)\n",
	       f->flooded.dropped);
	double qp = f->pipe[1].rate / f->pipe[0].rate, qo = f->oneway[1].rate / f->oneway[0].rate;
	printf("%-34s %12s %12.0f %12.0f %8.2f %8s %5s\n", "pipelined calls/s (window 128)", "",
	       f->pipe[0].rate, f->pipe[1].rate, qp, ">=0.8", verdict(qp >= 0.8));
	printf("%-34s %12s %12.0f %12.0f %8.2f %8s %5s\n", "one-way events/s 64 B", "",
	       f->oneway[0].rate, f->oneway[1].rate, qo, ">=0.8", verdict(qo >= 0.8));
	printf("%-34s %12s %12.1f %12.1f %8.2f\n", "one-way MB/s (bodies)", "", f->oneway[0].mbps,
	       f->oneway[1].mbps, f->oneway[1].mbps / f->oneway[0].mbps);
	for (int i = 0; i < 3; i++) {
		char label[64];
		double q = f->fan[i].rate / f->oneway[1].rate;
		snprintf(label, sizeof(label), "fan-out %u, deliveries/s", fan_subs[i]);
		printf("%-34s %12s %12s %12.0f %8.2f %8s %5s\n", label, "", "", f->fan[i].rate, q,
		       i == 2 ? ">=0.5" : "", i == 2 ? verdict(q >= 0.5) : "");
	}
	printf("  (fan-out ratio: deliveries/s over busd's one-way events/s)\n");
	printf("%-34s %12s %12s %12.0f %8s %8s %5s\n", "busd RSS idle, KiB", "", "",
	       (double)f->rss_idle / 1024, "", "<=2048", verdict(f->rss_idle <= 2u << 20));
	for (size_t k = 0; k < f->npeers; k++) {
		char label[64];
		snprintf(label, sizeof(label), "busd RSS %u idle peers, KiB", f->peers[k]);
		printf("%-34s %12s %12s %12.0f\n", label, "", "", (double)f->rss[k] / 1024);
		snprintf(label, sizeof(label), "  bytes per peer (%u)", f->peers[k]);
		int last = k + 1 == f->npeers;
		printf("%-34s %12s %12s %12.0f %8s %8s %5s\n", label, "", "", per_peer(f, k), "",
		       last ? "<=2048" : "", last ? verdict(per_peer(f, k) <= 2048) : "");
	}
}

static void json_result(const char *key, const struct result *r, int last)
{
	printf("    \"%s\": {\"p50_us\": %.3f, \"p99_us\": %.3f, \"rate\": %.1f, \"mbps\": %.3f}%s\n",
	       key, r->p50_us, r->p99_us, r->rate, r->mbps, last ? "" : ",");
}

static void print_json_head(int runs, int quick)
{
	char m[256];

	machine(m, sizeof(m));
	printf("{\n  \"version\": \"%s\",\n  \"quick\": %s,\n  \"runs\": %d,\n  \"pinned\": %s,\n"
	       "  \"machine\": \"%s\"",
	       PACKAGE_VERSION, quick ? "true" : "false", runs, pinned ? "true" : "false", m);
}

static void print_json(const struct figures *f)
{
	char key[64];
	const char *sz[2] = { "64", "4096" }, *who[3] = { "socketpair", "relay", "busd" };

	printf(",\n  \"figures\": {\n");
	for (int s = 0; s < 2; s++)
		for (int k = 0; k < 3; k++) {
			snprintf(key, sizeof(key), "rtt_%s_%s", sz[s], who[k]);
			json_result(key, &f->rtt[s][k], 0);
		}
	json_result("rtt_64_busd_slow_consumer_flooded", &f->flooded, 0);
	printf("    \"slow_consumer_events_dropped\": %.0f,\n", f->flooded.dropped);
	json_result("pipelined_relay", &f->pipe[0], 0);
	json_result("pipelined_busd", &f->pipe[1], 0);
	json_result("oneway_relay", &f->oneway[0], 0);
	json_result("oneway_busd", &f->oneway[1], 0);
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "fanout_%u_busd", fan_subs[i]);
		json_result(key, &f->fan[i], i == 2);
	}
	printf("  },\n  \"rss\": {\"idle_bytes\": %llu, \"peers\": [", (unsigned long long)f->rss_idle);
	for (size_t k = 0; k < f->npeers; k++)
		printf("%s{\"peers\": %u, \"bytes\": %llu, \"bytes_per_peer\": %.1f}", k ? ", " : "",
		       f->peers[k], (unsigned long long)f->rss[k], per_peer(f, k));
	printf("]},\n  \"ratios\": {\n");
	printf("    \"rtt_p50_64_busd_over_relay\": %.3f,\n", f->rtt[0][2].p50_us / f->rtt[0][1].p50_us);
	printf("    \"rtt_p99_64_busd_over_relay\": %.3f,\n", f->rtt[0][2].p99_us / f->rtt[0][1].p99_us);
	printf("    \"rtt_p50_4096_busd_over_relay\": %.3f,\n", f->rtt[1][2].p50_us / f->rtt[1][1].p50_us);
	printf("    \"rtt_p50_64_flooded_over_busd\": %.3f,\n", f->flooded.p50_us / f->rtt[0][2].p50_us);
	printf("    \"pipelined_busd_over_relay\": %.3f,\n", f->pipe[1].rate / f->pipe[0].rate);
	printf("    \"oneway_busd_over_relay\": %.3f,\n", f->oneway[1].rate / f->oneway[0].rate);
	printf("    \"fanout_100_over_oneway\": %.3f\n", f->fan[2].rate / f->oneway[1].rate);
	printf("  }");
}

/* ---------------------------------------------------------------- main */

/* 10,000 peers need that many descriptors in busbench, and busd lets one
 * uid hold at most half of its descriptor budget (docs/security.md): so
 * busbench asks for 2.5 times as many, which busd inherits. */
static unsigned raise_nofile(unsigned want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	return rl.rlim_cur > want ? want : (unsigned)rl.rlim_cur;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: busbench [--quick] [--json] [--runs N] [--busd PATH] [--no-pin]\n"
		   "                [--only base|sweep|revive|memfd|chan] [--sizes LIST]\n\n"
		   "Measure busd against the floor of a direct socketpair and a minimal epoll\n"
		   "relay (method: docs/performance.md). Every figure is the median of N runs\n"
		   "(default 3). --quick: a short smoke run (1 run, short workloads, 1,000 idle\n"
		   "peers, few trips per body size). --json: every figure as one JSON object.\n"
		   "--busd: the busd binary (default: busd/busd beside this build's\n"
		   "tests/bench/). With two CPUs or more, clients and servers run on CPU 0 and\n"
		   "the relay or busd on CPU 1; --no-pin leaves placement to the scheduler.\n"
		   "--only base: the method's figures alone (RTT, pipelined, one-way, fan-out,\n"
		   "RSS); --only sweep: the payload sweep alone (RTT, pipelined and one-way at\n"
		   "each body size, with page faults per message). --sizes: the sweep's body\n"
		   "sizes, comma-separated, of 64b (or 64), 4k, 64k, 1m, 16m (default: all).\n"
		   "--only revive: the supervision figures alone (medians of 20 starts, first\n"
		   "calls and kill -9 restarts of services/echo, found beside busd/busd).\n"
		   "--only memfd: calls of 64 KiB, 1 MiB and 16 MiB with bodies inline and out\n"
		   "of line (sealed memfds), turn by turn (RTT, pipelined).\n"
		   "--only chan: shared-memory channels alone (64 B messages/s and 64 KiB MB/s\n"
		   "through a libbus channel beside a bare ring and futex in a memfd, and\n"
		   "busd's pipelined 64 B calls/s for contrast).\n");
}

/* The method's figures: RTT, pipelined, one-way, fan-out, RSS. */
static void base_run(struct figures *f, int runs, int quick)
{
	f->npeers = quick ? 1 : 2;
	f->peers[0] = 1000;
	f->peers[1] = 10000;
	unsigned fds = raise_nofile(f->peers[f->npeers - 1] * 5 / 2 + 256);
	/* busd's share for one uid of what the limit allows (its budget less
	 * 32 for itself and a sixteenth kept for root, halved), less room for
	 * busbench's other connections; where the hard limit cannot be raised
	 * that far, the last crowd is as large as busd admits, in thousands. */
	unsigned budget = fds > 64 ? fds - 32 : 32, reserve = budget / 16 > 16 ? budget / 16 : 16;
	unsigned share = (budget - reserve) / 2 > 64 ? (budget - reserve) / 2 - 64 : 0;
	if (f->peers[f->npeers - 1] > share)
		f->peers[f->npeers - 1] = share / 1000 * 1000;
	if (f->peers[f->npeers - 1] < f->peers[0])
		die("RLIMIT_NOFILE allows %u descriptors, too few for %u idle peers", fds,
		    f->peers[0]);

	struct workload w = {
		.warmup = quick ? 200 : 5000, .trips = quick ? 2000 : 100000,
		.window = 128, .seconds = quick ? 0.3 : 2.0, .subscribers = 1,
	};
	const size_t sizes[2] = { 64, 4096 };
	for (int s = 0; s < 2; s++) {
		struct result r[4][MAX_RUNS];
		w.body = sizes[s];
		for (int i = 0; i < runs; i++) {
			struct result one[4] = { { 0 } };
			rtt_run(&w, one, RTT_PAIR | (s == 0 ? RTT_FLOOD : 0));
			for (int k = 0; k < 4; k++)
				r[k][i] = one[k];
		}
		for (int k = 0; k < 3; k++)
			median_results(r[k], runs, &f->rtt[s][k]);
		if (s == 0)
			median_results(r[3], runs, &f->flooded);
	}
	w.body = 64;
	measure_fn pipe[2] = { floor_pipelined_relay, bus_pipelined };
	measure(runs, &w, pipe, f->pipe, 2);

	w.window = 1024;
	measure_fn one[2] = { floor_oneway_relay, bus_fanout };
	measure(runs, &w, one, f->oneway, 2);
	w.seconds = quick ? 0.3 : 1.0;
	for (int i = 0; i < 3; i++) {
		measure_fn fan[1] = { bus_fanout };
		w.subscribers = fan_subs[i];
		measure(runs, &w, fan, &f->fan[i], 1);
	}

	uint64_t idle[MAX_RUNS], rss[2][MAX_RUNS];
	for (int i = 0; i < runs; i++) {
		uint64_t r[2] = { 0, 0 };
		bus_scale(f->peers, f->npeers, &idle[i], r);
		rss[0][i] = r[0];
		rss[1][i] = r[1];
	}
	double d[MAX_RUNS];
	for (int i = 0; i < runs; i++)
		d[i] = (double)idle[i];
	f->rss_idle = (uint64_t)median(d, runs);
	for (size_t k = 0; k < f->npeers; k++) {
		for (int i = 0; i < runs; i++)
			d[i] = (double)rss[k][i];
		f->rss[k] = (uint64_t)median(d, runs);
	}

}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "runs", required_argument, NULL, 'r' },
		{ "busd", required_argument, NULL, 'b' },
		{ "no-pin", no_argument, NULL, 'P' },
		{ "only", required_argument, NULL, 'o' },
		{ "sizes", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int quick = 0, json = 0, runs = 3, pin = 1, base = 1, sweep = 1, revive = 1, memfd = 1, c;
	int chan = 1;
	struct sweep sw = { .mask = (1u << SWEEP_SIZES) - 1 };
	char busd[4096];

	snprintf(busd, sizeof(busd), "%s", argv[0]);
	char *slash = strrchr(busd, '/');
	snprintf(slash ? slash + 1 : busd, sizeof(busd) - (size_t)(slash ? slash + 1 - busd : 0),
		 "../../busd/busd");
	while ((c = getopt_long(argc, argv, "qjr:b:h", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quick = 1; break;
		case 'j': json = 1; break;
		case 'r':
			runs = atoi(optarg);
			if (runs < 1 || runs > MAX_RUNS) {
				fprintf(stderr, "busbench: --runs takes 1 to %d\n", MAX_RUNS);
				return 2;
			}
			break;
		case 'b': snprintf(busd, sizeof(busd), "%s", optarg); break;
		case 'P': pin = 0; break;
		case 'o':
			base = strcmp(optarg, "base") == 0;
			sweep = strcmp(optarg, "sweep") == 0;
			revive = strcmp(optarg, "revive") == 0;
			memfd = strcmp(optarg, "memfd") == 0;
			chan = strcmp(optarg, "chan") == 0;
			if (!base && !sweep && !revive && !memfd && !chan) {
				fprintf(stderr, "busbench: --only takes base, sweep, revive, memfd or "
					"chan, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 's':
			if (sweep_parse_sizes(optarg, &sw.mask) < 0)
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (access(busd, X_OK) < 0)
		die("no busd binary at %s (use --busd PATH)", busd);
	busd_set_binary(busd);
	signal(SIGPIPE, SIG_IGN);
	if (quick)
		runs = 1;
	pin_setup(pin);

	struct figures f;
	struct revive rv = { 0 };
	struct memfd_bench mb;
	struct chanbench cb;
	memset(&cb, 0, sizeof(cb));
	memset(&f, 0, sizeof(f));
	if (base)
		base_run(&f, runs, quick);
	if (sweep)
		sweep_run(&sw, runs, quick);
	if (memfd)
		memfd_run(&mb, runs, quick);
	if (revive) {
		/* the build's services/echo, beside busd/busd */
		char echo[4200];
		const char *cut = strrchr(busd, '/');
		int keep = 0;
		if (cut)
			for (const char *q = cut - 1; q >= busd; q--)
				if (*q == '/') {
					keep = (int)(q - busd) + 1;
					break;
				}
		snprintf(echo, sizeof(echo), "%.*sservices/echo", keep, busd);
		/* a service file takes an absolute program */
		char *abs = realpath(echo, NULL);
		if (!abs || access(abs, X_OK) < 0)
			die("no echo service at %s (it is looked for beside busd/busd)", echo);
		revive_run(&rv, busd, abs);
		free(abs);
	}
	if (chan)
		chanbench_run(&cb, runs, quick);

	if (json) {
		print_json_head(runs, quick);
		if (base)
			print_json(&f);
		if (sweep) {
			printf(",\n");
			sweep_print_json(&sw);
		}
		if (revive) {
			printf(",\n");
			revive_print_json(&rv);
		}
		if (memfd) {
			printf(",\n");
			memfd_print_json(&mb);
		}
		if (chan) {
			printf(",\n");
			chanbench_print_json(&cb);
		}
		printf("\n}\n");
	} else {
		print_head(runs, quick);
		if (base)
			print_table(&f);
		if (sweep)
			sweep_print_table(&sw);
		if (revive)
			revive_print_table(&rv);
		if (memfd)
			memfd_print_table(&mb);
		if (chan)
			chanbench_print_table(&cb);
	}
	return 0;
}
