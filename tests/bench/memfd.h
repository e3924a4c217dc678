/* memfd.h - busbench --only memfd (memfd.c): calls with bodies of 64 KiB,
 * 1 MiB and 16 MiB inline and out of line (sealed memfds) through busd, in
 * the same run, and their report. */
#ifndef MEMFD_BENCH_H
#define MEMFD_BENCH_H

#include "bench.h"

#define MEMFD_SIZES 3

/* Medians over the runs; [size][inline, memfd]. */
struct memfd_bench {
	unsigned trips[MEMFD_SIZES], window[MEMFD_SIZES];
	struct result rtt[MEMFD_SIZES][2], pipe[MEMFD_SIZES][2];
};

void memfd_run(struct memfd_bench *mb, int runs, int quick);
void memfd_print_table(const struct memfd_bench *mb);
/* The "memfd" member of busbench's JSON object (no trailing comma). */
void memfd_print_json(const struct memfd_bench *mb);

#endif
