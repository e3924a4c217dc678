/* test-bigbody.c - large bodies: steady traffic of any size costs no page
 * faults, in busd, in the caller and in the service (buffers are kept and
 * reused, not freed and faulted in again per message), and the memory comes
 * back once the traffic stops.
 *
 * Calls of 64 KiB, 1 MiB and 4 MiB go to services/echo (which returns its
 * request) and events of 1 MiB to a subscriber that acknowledges each; after
 * a warm-up, the minor page faults of busd, the service or subscriber, and
 * this process are read from /proc over the measured messages. Then every
 * party must give the large buffers back: libbus one CONN_TRIM_USEC (1 s)
 * after its last large message, which bus_get_timeout() announces (checked
 * in this process, whose heap is measured with mallinfo2: RSS says more
 * about glibc than about libbus); busd a second after its last large frame
 * (bus.Stats heap_bytes).
 *
 * These are inline bodies, through the sockets and busd's buffers: every
 * party runs with BUS_MEMFD_THRESHOLD=0, so that none goes out of line
 * (test-memfd covers those).
 *
 * Under AddressSanitizer the page-fault and memory checks are skipped: its
 * allocator keeps freed memory in quarantine and maps its own, so neither
 * figure says anything about busd's or libbus's buffers there. */
#include "config.h"

#include <errno.h>
#ifdef HAVE_MALLINFO2
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"
#include "echo.pb-c.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define TOPIC "test.bigbody"
#define MIB (1024u * 1024u)
#define FAULTS_MAX 0.1 /* per message, per process */

static long proc_minflt(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* After "(comm) ": state ppid pgrp session tty tpgid flags minflt */
	char *p = strrchr(buf, ')');
	long v = -1;
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %ld", &v) != 1)
		v = -1;
	return v;
}

static long self_minflt(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* A packed EchoRequest whose data is len bytes of a pattern from seed. */
static uint8_t *echo_request(size_t len, unsigned seed, size_t *packed)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	uint8_t *data = malloc(len);
	if (!data)
		harness_bail("out of memory");
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 31u + seed);
	req.data.data = data;
	req.data.len = len;
	void *p = harness_pack(&req.base, packed);
	free(data);
	return p;
}

/* n calls of a body of size bytes; returns how many came back equal. */
static int calls(bus_t *bus, const uint8_t *body, size_t len, int n)
{
	int same = 0;
	for (int i = 0; i < n; i++) {
		bus_error_t err;
		void *reply = NULL;
		size_t rlen = 0;
		if (bus_call(bus, HARNESS_ECHO_NAME, NULL, "Echo", "busd.examples.EchoRequest", body,
			     len, 30000000u, &err, &reply, &rlen) == 0 &&
		    rlen == len && memcmp(reply, body, len) == 0)
			same++;
		else if (i == 0)
			diag("Echo: %s: %s (%zu bytes back)", err.name, err.message, rlen);
		free(reply);
	}
	return same;
}

static void faults_check(const char *what, long before, long after, int n)
{
	double per = (double)(after - before) / n;
	if (UNDER_ASAN || before < 0 || after < 0)
		skip(UNDER_ASAN ? "under ASan, whose allocator maps and quarantines memory"
				: "no /proc figures", "%s", what);
	else
		ok(per < FAULTS_MAX, "%s: %.3f page faults per message (below %.1f)", what, per,
		   FAULTS_MAX);
}

/* ---------------------------------------------------------------- subscriber */

static volatile int sub_bad;
static int sub_ctl;

static void on_event(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	(void)ud;
	int good = m->body_len == MIB;
	for (size_t i = 0; good && i < m->body_len; i += 4093)
		good = ((const uint8_t *)m->body)[i] == (uint8_t)(i * 7u + 3u);
	if (!good)
		sub_bad++;
	harness_send(sub_ctl, "%d", good);
}

static int subscriber(int ctl, void *arg)
{
	bus_error_t err;
	bus_t *bus;
	(void)arg;
	sub_ctl = ctl;
	if (bus_connect(&bus, harness_socket(), &err) < 0 ||
	    bus_subscribe(bus, NULL, TOPIC, on_event, NULL, &err) < 0) {
		harness_send(ctl, "error %s", err.message);
		return 1;
	}
	harness_send(ctl, "ready");
	bus_run(bus);
	bus_close(bus);
	return sub_bad ? 1 : 0;
}

/* ---------------------------------------------------------------- memory */

/* Bytes this process has allocated (heap and mapped blocks), 0 unknown. */
static size_t heap_in_use(void)
{
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

static void on_reply(bus_t *bus, const bus_msg_t *m, const bus_error_t *err, void *ud)
{
	(void)bus;
	if (!err && m->body_len > 4u * MIB)
		*(int *)ud = 1;
	else
		diag("the async Echo: %s", err ? err->message : "a short reply");
}

static long long busd_heap_kib(bus_t *bus)
{
	Bus__StatsReply *s = harness_stats(bus);
	long long kib = s ? (long long)(s->heap_bytes - s->frame_cache_bytes) / 1024 : -1;
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	return kib;
}

int main(void)
{
	plan(24);
	setenv("BUS_MEMFD_THRESHOLD", "0", 1); /* inline bodies only, also in echo */
	harness_start_conf("[limits]\nmax_frame_size = 8M\nmax_queued_bytes = 64M\n");
	bus_t *bus = harness_connect();
	long long heap0 = busd_heap_kib(bus);
	harness_child echo;
	require(harness_spawn_echo(&echo) == 0, "services/echo runs");
	pid_t busd = harness_busd_pid();

	/* ---- calls */
	static const size_t sizes[] = { 64u * 1024u, MIB, 4u * MIB };
	static const int counts[] = { 400, 100, 40 };
	for (int s = 0; s < 3; s++) {
		size_t len;
		uint8_t *body = echo_request(sizes[s], (unsigned)s, &len);
		int warm = calls(bus, body, len, 20);
		long fb = proc_minflt(busd), fe = proc_minflt(echo.pid), fc = self_minflt();
		int same = calls(bus, body, len, counts[s]);
		long ab = proc_minflt(busd), ae = proc_minflt(echo.pid), ac = self_minflt();
		char what[64];
		snprintf(what, sizeof(what), "%zu KiB calls", sizes[s] / 1024);
		is_int(warm + same, 20 + counts[s], "%s: every reply is the request, byte for byte",
		       what);
		char label[96];
		snprintf(label, sizeof(label), "%s, busd", what);
		faults_check(label, fb, ab, counts[s]);
		snprintf(label, sizeof(label), "%s, the service", what);
		faults_check(label, fe, ae, counts[s]);
		snprintf(label, sizeof(label), "%s, the caller", what);
		faults_check(label, fc, ac, counts[s]);
		free(body);
	}

	/* ---- events: one in flight at a time, acknowledged by the subscriber */
	harness_child sub;
	char line[64];
	require(harness_fork(&sub, subscriber, NULL) == 0 &&
		harness_recv(sub.ctl, line, sizeof(line), 30000) > 0 && strcmp(line, "ready") == 0,
		"the subscriber is ready");
	uint8_t *ev = malloc(MIB);
	if (!ev)
		harness_bail("out of memory");
	for (size_t i = 0; i < MIB; i++)
		ev[i] = (uint8_t)(i * 7u + 3u);
	int acked = 0, n_events = 100, warm_events = 20;
	long fb = 0, fs = 0, fc = 0;
	for (int i = 0; i < warm_events + n_events; i++) {
		if (i == warm_events) {
			fb = proc_minflt(busd);
			fs = proc_minflt(sub.pid);
			fc = self_minflt();
		}
		if (bus_emit_raw(bus, TOPIC, NULL, ev, MIB) < 0 || bus_flush(bus) < 0)
			break;
		if (harness_recv(sub.ctl, line, sizeof(line), 30000) > 0 && strcmp(line, "1") == 0)
			acked++;
	}
	long ab = proc_minflt(busd), as = proc_minflt(sub.pid), ac = self_minflt();
	free(ev);
	is_int(acked, warm_events + n_events, "every 1 MiB event arrived intact, once");
	faults_check("1024 KiB events, busd", fb, ab, n_events);
	faults_check("1024 KiB events, the subscriber", fs, as, n_events);
	faults_check("1024 KiB events, the emitter", fc, ac, n_events);

	/* ---- the memory comes back */
	/* An async call leaves its 4 MiB body (all the socket did not take at
	 * once) in the output buffer and its reply in the input buffer. */
	size_t len4;
	uint8_t *body4 = echo_request(4u * MIB, 9u, &len4);
	int answered = 0;
	bus_call_async(bus, NULL, HARNESS_ECHO_NAME, NULL, "Echo", "busd.examples.EchoRequest",
		       body4, len4, 30000000u, on_reply, &answered);
	harness_loop_until(bus, &answered, 30000);
	size_t held = heap_in_use();
	uint64_t t = 0, now = harness_now_us();
	bus_get_timeout(bus, &t);
	ok(answered == 1 && t != UINT64_MAX && t <= now + 1000000u,
	   "after large traffic libbus's loop has a deadline to give buffers back (in %lld us)",
	   t == UINT64_MAX ? -1LL : (long long)(t - now));
	uint64_t until = harness_now_ms() + 20000;
	while (harness_now_ms() < until && bus_get_timeout(bus, &t) == 0 && t != UINT64_MAX) {
		now = harness_now_us();
		bus_wait(bus, t > now ? t - now : 0);
		bus_process(bus);
	}
	is_int((long long)(t == UINT64_MAX), 1, "then none: the buffers were given back");
	size_t after = heap_in_use();
	if (UNDER_ASAN || !held)
		skip(UNDER_ASAN ? "under ASan, whose allocator keeps freed memory" : "no mallinfo2",
		     "the caller's memory");
	else
		ok(held >= after + 4 * MIB, "the caller's heap in use went down by %zu KiB (%zu -> %zu)",
		   held > after ? (held - after) / 1024 : 0, held / 1024, after / 1024);
	is_int(calls(bus, body4, len4, 2), 2,
	       "after that, 4 MiB calls still come back byte for byte (the buffers grow again)");
	free(body4);
	/* busd: a second after its last large frame. */
	long long heap = -1;
	until = harness_now_ms() + 30000;
	while (harness_now_ms() < until && (heap = busd_heap_kib(bus)) > heap0 + 1024)
		harness_sleep_ms(100);
	if (UNDER_ASAN)
		skip("under ASan, whose allocator keeps freed memory", "busd's heap");
	else
		ok(heap >= 0 && heap <= heap0 + 1024,
		   "busd's heap is back within 1 MiB of where it started (%lld -> %lld KiB)", heap0,
		   heap);

	bus_close(bus);
	return harness_done();
}
