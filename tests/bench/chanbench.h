/* chanbench.h - busbench's shared-memory channel figures (chanbench.c): a
 * libbus channel beside the shared-memory floor (a bare ring and a futex in
 * a memfd, between two processes) in the same run, and busd's own 64 B
 * call rate for contrast. */
#ifndef CHANBENCH_H
#define CHANBENCH_H

#include "bench.h"

#define CHANBENCH_RING (1024 * 1024) /* each ring, floor and channel */

/* Medians over the runs; [0] 64 B messages, [1] 64 KiB messages. */
struct chanbench {
	double seconds;
	struct result floor[2], tuned[2], chan[2]; /* tuned: see chanbench.c */
	struct result call; /* busd, pipelined 64 B calls (window 128) */
};

void chanbench_run(struct chanbench *cb, int runs, int quick);
void chanbench_print_table(const struct chanbench *cb);
/* The "channels" member of busbench's JSON object (no trailing comma). */
void chanbench_print_json(const struct chanbench *cb);

#endif
