/* sweep.h - busbench's payload sweep (sweep.c): the sizes, what one sweep
 * measured, and its text and JSON reports. */
#ifndef SWEEP_H
#define SWEEP_H

#include <stddef.h>

#include "bench.h"

#define SWEEP_SIZES 5

struct sweep_size {
	const char *key;   /* in --sizes and in JSON keys: 64b, 4k, 64k, 1m, 16m */
	const char *label; /* in the table */
	size_t body;
};
extern const struct sweep_size sweep_sizes[SWEEP_SIZES];

/* Medians over the runs; [size][relay, busd]. */
struct sweep {
	unsigned mask; /* bit s: sweep_sizes[s] is measured */
	unsigned trips[SWEEP_SIZES], window[SWEEP_SIZES];
	struct result rtt[SWEEP_SIZES][2], pipe[SWEEP_SIZES][2], oneway[SWEEP_SIZES][2];
};

/* The pipelined and one-way window for a body: 8 MiB in flight, 2 to 128. */
unsigned sweep_window(size_t body);
/* Measured round trips for a body (32 MiB each way, 10 to 5,000; --quick:
 * 1 MiB, 3 to 500). */
unsigned sweep_trips(size_t body, int quick);
/* Parse --sizes' comma-separated list into a mask; -1 (said on stderr) on
 * an unknown size. */
int sweep_parse_sizes(const char *arg, unsigned *mask);
/* Measure every size in sw->mask, each figure the median of runs. */
void sweep_run(struct sweep *sw, int runs, int quick);
void sweep_print_table(const struct sweep *sw);
/* The "sweep" member of busbench's JSON object (no trailing comma). */
void sweep_print_json(const struct sweep *sw);

#endif
