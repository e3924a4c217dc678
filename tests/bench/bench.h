/* bench.h - busbench's shared pieces: the measured workloads, the shared
 * memory the processes of one measurement report through, and the helpers.
 * busbench.c runs the method of docs/performance.md, floor.c the floor
 * (socketpair and a minimal epoll relay), busside.c the same workloads
 * through a real busd and libbus. */
#ifndef BENCH_H
#define BENCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_SUBS 100
#define MAX_RUNS 9 /* --runs */
#define BENCH_TOPIC "bench.oneway"
#define BENCH_NAME "bench.Server"

/* What one workload is asked to do. */
struct workload {
	size_t body;          /* body bytes */
	unsigned warmup;      /* RTT: round trips before measuring */
	unsigned trips;       /* RTT: measured round trips */
	unsigned window;      /* pipelined: outstanding calls; one-way: events ahead */
	double seconds;       /* pipelined, one-way, fan-out: how long to send */
	unsigned subscribers; /* one-way and fan-out */
	int large;            /* busd configured for bodies up to 16 MiB (the sweep) */
};

/* The processes of a measurement whose minor page faults are counted. */
enum { FLT_BROKER, /* busd or the relay */
       FLT_PEER,   /* the server, or the (first) subscriber */
       FLT_CLIENT, /* the caller or emitter: busbench itself */
       FLT_N };

/* What it measured. */
struct result {
	double p50_us, p99_us; /* RTT */
	double rate;           /* calls/s, replies/s, events/s or deliveries/s */
	double mbps;           /* body megabytes (1e6) per second */
	double dropped;        /* RTT beside a flooded slow consumer: events busd dropped for it */
	double faults[FLT_N];  /* minor page faults per call (RTT, pipelined) or event */
	double broker_cpu_us;  /* CPU time of busd or the relay per message */
};

/* Minor fault counts of a measurement's processes when it started. */
struct faults {
	pid_t pid[FLT_N];
	uint64_t at[FLT_N];
	uint64_t broker_cpu;  /* its user and system time then, clock ticks */
};

/* Shared (MAP_SHARED) between the processes of one measurement. */
struct shared {
	atomic_int ready;              /* servers/subscribers set up */
	atomic_uint_fast64_t sent;     /* events emitted so far */
	uint64_t warm;                 /* of which warm-up, not measured */
	atomic_int done_sending;
	uint64_t t_start_ns;           /* before the first event */
	atomic_uint_fast64_t received[BENCH_MAX_SUBS];
	atomic_uint_fast64_t t_last_ns[BENCH_MAX_SUBS];
};

typedef void (*measure_fn)(const struct workload *, struct result *);

/* ---- busbench.c */
double median(double *v, int n);
/* Each field of out the median of that field over the runs. */
void median_results(const struct result *r, int runs, struct result *out);
/* The measurements of several functions alternate run by run, so that a
 * drift of the machine touches all of them alike; out[f] the medians. */
void measure(int runs, const struct workload *w, measure_fn *fns, struct result *out, int nfns);
/* RTT of the relay (out[1]) and busd (out[2]) in turns, with the socketpair
 * (out[0]) and busd beside a flooded slow consumer (out[3]) when asked. */
#define RTT_PAIR 1
#define RTT_FLOOD 2
void rtt_run(const struct workload *w, struct result out[4], int flags);
uint64_t now_ns(void);
/* Die with a message: a benchmark that cannot run must not print figures. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
struct shared *shared_new(void);
void shared_free(struct shared *sh);
/* Wait until sh->ready reaches n (dies after 30 s). */
void shared_wait_ready(struct shared *sh, int n);
/* p50/p99 of n samples (sorted in place). */
void percentiles(double *v, size_t n, double *p50, double *p99);
/* The emitter's flow control: wait while it is window events ahead of the
 * slowest of n subscribers. */
void window_wait(struct shared *sh, unsigned n, uint64_t sent, unsigned window);
/* Pipelined and one-way workloads warm up with this many windows of
 * messages, sent as the measurement sends them, so that every
 * buffer has grown to what the workload needs before anything is counted:
 * the faults per message measured after it are those of steady traffic. */
#define WARM_WINDOWS 4
/* After a warm-up of sh->warm events: wait until every subscriber has them. */
void oneway_warmed(struct shared *sh, unsigned n);
/* After sending: wait for every subscriber, then fill r (events or deliveries). */
void oneway_collect(struct shared *sh, const struct workload *w, struct result *r);
/* Whether a sender should look at the clock before message number sent:
 * every 256 small messages, every large one. */
int time_to_look(const struct workload *w, uint64_t sent);
/* Minor page faults of pid so far (/proc/PID/stat field 10); 0 for pid <= 0,
 * getrusage() for busbench itself. */
uint64_t minflt_of(pid_t pid);
/* Count from now the faults of broker and peer (<= 0: none) and busbench. */
void faults_start(struct faults *f, pid_t broker, pid_t peer);
/* Store the faults since faults_start() per message into r->faults. */
void faults_stop(const struct faults *f, double messages, struct result *r);
pid_t fork_child(void);
/* In a relay or busd child: move to the broker's CPU (see pin_setup). */
void pin_broker(void);
void child_stop(pid_t pid);
/* Write all of buf (blocking). */
void write_all(int fd, const void *buf, size_t len);

/* ---- floor.c: direct and relayed, raw bytes, fixed-size messages */
/* RTT: a ready connection (relayed or direct) and one round trip on it. */
struct floor_rtt *floor_rtt_open(const struct workload *w, int relayed);
void floor_rtt_trip(void *ctx);
/* The relay (-1 when direct) and the echo server. */
void floor_rtt_pids(const struct floor_rtt *f, pid_t *broker, pid_t *server);
void floor_rtt_close(struct floor_rtt *f);
void floor_pipelined_relay(const struct workload *w, struct result *r);
void floor_oneway_relay(const struct workload *w, struct result *r);

/* ---- busside.c: through busd and libbus */
void busd_set_binary(const char *path);
struct bus_rtt *bus_rtt_open(const struct workload *w);
/* The same with a slow consumer flooded beside it (see busside.c). */
struct bus_rtt *bus_rtt_open_flooded(const struct workload *w);
uint64_t bus_rtt_dropped(struct bus_rtt *t);
void bus_rtt_trip(void *ctx);
/* busd and the server. */
void bus_rtt_pids(const struct bus_rtt *t, pid_t *broker, pid_t *server);
void bus_rtt_close(struct bus_rtt *t);
void bus_pipelined(const struct workload *w, struct result *r);
/* One-way to w->subscribers subscribers; r->rate counts deliveries. */
void bus_fanout(const struct workload *w, struct result *r);
/* busd's RSS idle and with each count of idle peers (ascending), in bytes. */
void bus_scale(const unsigned *peers, size_t n, uint64_t *rss_idle, uint64_t *rss);

#endif
