/* revive.h - busbench's supervision figures (revive.c): the bare start of
 * a service, activation latency and the reincarnation gap. */
#ifndef BENCH_REVIVE_H
#define BENCH_REVIVE_H

#define REVIVE_RUNS 20
#define REVIVE_RUNS_STR "20"

struct revive {
	int runs;
	double bare_us;       /* fork + exec + connect + name owned */
	double activation_us; /* first call to a demand service, to its reply */
	double gap_owned_us;  /* kill -9 to the name owned by the new instance */
	double gap_reply_us;  /* kill -9 to the reply of a call made right after it */
};

/* busd and echo: the binaries to run. */
void revive_run(struct revive *rv, const char *busd, const char *echo);
void revive_print_table(const struct revive *rv);
void revive_print_json(const struct revive *rv);

#endif
