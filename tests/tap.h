/* tap.h - minimal TAP output for the C tests (run by automake's tap-driver).
 * A test declares its plan first (plan(N) prints "1..N"), so one that stops
 * early fails; each check prints "ok N - name" or "not ok N - name" with the
 * values that differed; tap_done() checks the count and returns the exit
 * status. */
#ifndef BUSD_TAP_H
#define BUSD_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed, tap_planned = -1;

/* Before the first check: how many the test runs, whatever happens. */
static inline void plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

static inline int tap_result(int pass, const char *fmt, va_list ap)
{
	tap_n++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_n);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	return pass;
}

static inline __attribute__((format(printf, 2, 3))) int ok(int pass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_result(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static inline __attribute__((format(printf, 3, 4))) int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int pass = tap_result(got == want, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:  %lld\n#   want: %lld\n", got, want);
	return pass;
}

static inline __attribute__((format(printf, 3, 4))) int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int pass = tap_result(got && want && strcmp(got, want) == 0, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got:  \"%s\"\n#   want: \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
	return pass;
}

/* A check that cannot run here (e.g. it needs root): "ok N - name # SKIP
 * reason", so that the plan still holds. */
static inline __attribute__((format(printf, 2, 3))) void
skip(const char *reason, const char *fmt, ...)
{
	va_list ap;
	tap_n++;
	printf("ok %d - ", tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP %s\n", reason);
	fflush(stdout);
}

/* A check the rest of the test stands on (a connection, a helper process):
 * when it fails the test stops with "Bail out!", which fails it. */
static inline __attribute__((format(printf, 2, 3))) void
require(int pass, const char *fmt, ...)
{
	va_list ap, again;
	va_start(ap, fmt);
	va_copy(again, ap);
	tap_result(pass, fmt, ap);
	if (!pass) {
		printf("Bail out! ");
		vprintf(fmt, again);
		printf("\n");
		fflush(stdout);
	}
	va_end(again);
	va_end(ap);
	if (!pass)
		exit(1);
}

static inline __attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

static inline int tap_done(void)
{
	if (tap_planned < 0) {
		printf("# no plan: call plan(N) before the first check\n");
		return 1;
	}
	if (tap_n != tap_planned) {
		printf("# planned %d checks, ran %d\n", tap_planned, tap_n);
		return 1;
	}
	return tap_failed ? 1 : 0;
}

#endif
