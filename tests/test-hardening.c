/* test-hardening.c - what one local user can make busd hold or spend, each
 * attack of the security review as a regression test against a busd with
 * small limits, then busd's memory against the formula of those limits
 * (docs/security.md):
 *  - frames before Hello are small, and a connection that never says Hello
 *    is closed;
 *  - a control request too large to be a real one is refused unread;
 *  - frames a peer does not finish are charged to its uid and bounded by
 *    limits.max_input_bytes_per_uid, and closed after
 *    limits.frame_timeout_seconds;
 *  - a caller that never reads the answers to its calls gets at most its
 *    ceiling of them: the rest are replaced by bus.Error.LimitsExceeded,
 *    one answer per call still;
 *  - schema bytes are limited per uid, not only per peer;
 *  - protocol errors from many connections do not flood the log. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bus/bus.h>
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define KiB 1024u
#define MAX_FRAME (256u * KiB)
#define CEILING (512u * KiB)         /* max_queued_bytes */
#define HOLD (128u * KiB)
#define UID_QUEUED (1024u * KiB)     /* max_queued_bytes_per_uid */
#define UID_INPUT (512u * KiB)       /* max_input_bytes_per_uid */
#define PENDING 64                   /* max_pending_calls */
#define SCHEMA (64u * KiB)           /* max_schema_bytes */
#define UID_SCHEMA (256u * KiB)      /* max_schema_bytes_per_uid */
#define HELLO_TIMEOUT_S 2
#define FRAME_TIMEOUT_S 5
#define ANSWER (32u * KiB)           /* the body of each answer in the runaway test */
#define UID_PENDING 128              /* and the other per-uid limits, small for the formula */
#define UID_NAMES 16
#define UID_SUBS 16
#define UID_EXPORTS 16
#define MAX_CONNS 16                 /* connections of the test's uid at once, at most */
#define LOG_BURST 10                 /* busd logs at most this many lines a second per uid */

/* The most busd's allocator held at any Stats call of the test (what the
 * sanitizer counts, under ASan), spare frame buffers included. */
static uint64_t heap_peak;

static Bus__StatsReply *stats(bus_t *bus)
{
	Bus__StatsReply *s = harness_stats(bus);
	if (!s)
		printf("Bail out! Stats failed\n");
	else if (s->heap_bytes > heap_peak)
		heap_peak = s->heap_bytes;
	return s;
}

static Bus__UserUsage *my_usage(Bus__StatsReply *s)
{
	for (size_t i = 0; s && i < s->n_users; i++)
		if (s->users[i]->uid == (uint32_t)getuid())
			return s->users[i];
	return NULL;
}

/* An ERROR frame busd sent on c, as "name: message" in buf. */
static int recv_error(raw_conn *c, char *buf, size_t len, int timeout_ms)
{
	raw_frame f;
	char name[128], msg[600];

	buf[0] = 0;
	int r = raw_recv(c, &f, timeout_ms);
	if (r != 1 || f.h.kind != WIRE_KIND_ERROR)
		return -1;
	snprintf(buf, len, "%s: %s", raw_str(f.h.error_name, name, sizeof(name)),
		 raw_str(f.h.error_message, msg, sizeof(msg)));
	return 0;
}

/* A preamble announcing a frame of header_len + body_len bytes. */
static int send_preamble(raw_conn *c, uint32_t header_len, uint32_t body_len)
{
	uint8_t pre[WIRE_PREAMBLE_SIZE];
	wire_preamble_encode(pre, header_len, body_len);
	return raw_write(c, pre, sizeof(pre));
}

static void test_before_hello(bus_t *bus)
{
	raw_conn c;
	char err[800];

	/* A 16 MiB Hello (of unknown fields) is refused on its preamble. */
	raw_open(&c, harness_socket());
	send_preamble(&c, 64, 16u << 20);
	ok(recv_error(&c, err, sizeof(err), 10000) == 0 &&
	   strstr(err, BUS_ERROR_FRAME_TOO_LARGE) && strstr(err, "before Hello"),
	   "a 16 MiB frame before Hello is refused on its preamble (%s)", err);
	ok(raw_wait_eof(&c, 10000) == 1, "  and the connection closed");
	raw_close(&c);
	Bus__StatsReply *s = stats(bus);
	ok(s && s->input_bytes == 0, "  busd holds none of it (input_bytes %llu)",
	   s ? (unsigned long long)s->input_bytes : 0ull);
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);

	/* A connection that never says Hello is closed. */
	raw_open(&c, harness_socket());
	ok(raw_wait_eof(&c, 30000) == 1, "a connection that never says Hello is closed");
	raw_close(&c);
	ok(harness_log_has("closed: no Hello within 2 s (limits.hello_timeout_seconds)"),
	   "  with a log line naming the limit");
}

static void test_control_body(void)
{
	raw_conn c;
	raw_frame f;
	char err[800];

	raw_open(&c, harness_socket());
	raw_hello(&c, 1, &f, 5000);
	/* 64 KiB of an unknown length-delimited field (number 100). */
	size_t n = 64u * KiB;
	uint8_t *body = malloc(n);
	uint8_t *p = wire_varint_put(body, 100u << 3 | WIRE_WT_LEN);
	size_t payload = n - 5; /* a 2-byte key and a 3-byte length */
	p = wire_varint_put(p, payload);
	memset(p, 'x', payload);
	raw_call(&c, WIRE_BUS_NAME, "ListNames", "bus.ListNamesRequest", body, n);
	free(body);
	ok(recv_error(&c, err, sizeof(err), 10000) == 0 && strstr(err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(err, "larger than the 4096 bytes busd unpacks"),
	   "a 64 KiB control request is refused unread (%s)", err);
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	ok(raw_control(&c, "Stats", &sreq.base, &f, 10000) == 0,
	   "  the connection goes on: its next request is served");
	raw_close(&c);
}

static void test_unfinished_frames(bus_t *bus)
{
	enum { N = 8 };
	raw_conn c[N];
	raw_frame f;
	uint32_t body = MAX_FRAME - WIRE_STAMP_ROOM - 64 - WIRE_PREAMBLE_SIZE;
	static uint8_t junk[MAX_FRAME];
	wire_header h = { .kind = WIRE_KIND_EVENT, .serial = 1 };

	h.member = wire_str_c("attack.unfinished");
	uint32_t hl = (uint32_t)wire_header_size(&h);
	uint8_t head[WIRE_PREAMBLE_SIZE + 64];
	wire_preamble_encode(head, hl, body);
	wire_header_encode(&h, head + WIRE_PREAMBLE_SIZE);
	int started = 0;
	for (int i = 0; i < N; i++) {
		raw_open(&c[i], harness_socket());
		raw_hello(&c[i], 1, &f, 5000);
		/* All but the last byte. Non-blocking: busd stops reading those
		 * its uid's budget cannot take. */
		int fl = MSG_DONTWAIT | MSG_NOSIGNAL;
		if (send(c[i].fd, head, WIRE_PREAMBLE_SIZE + hl, fl) == (ssize_t)(WIRE_PREAMBLE_SIZE + hl))
			started++;
		size_t left = body - 1;
		while (left) {
			ssize_t w = send(c[i].fd, junk, left, fl);
			if (w <= 0)
				break;
			left -= (size_t)w;
		}
	}
	is_int(started, N, "%d connections each say Hello (a small frame gets through whatever the "
	       "budget holds) and start a frame of %u bytes, stopping one byte short",
	       N, body + hl + WIRE_PREAMBLE_SIZE);
	/* busd charges each frame it takes in whole; the uid's budget takes two. */
	uint64_t until = harness_now_ms() + 20000, seen = 0, most = 0;
	while (harness_now_ms() < until) {
		Bus__StatsReply *s = stats(bus);
		Bus__UserUsage *u = my_usage(s);
		if (u && u->input_bytes > most)
			most = u->input_bytes;
		if (s && s->input_bytes > seen)
			seen = s->input_bytes;
		if (s)
			bus__stats_reply__free_unpacked(s, NULL);
		if (most >= 2ull * (body + hl + WIRE_PREAMBLE_SIZE))
			break;
		harness_sleep_ms(20);
	}
	ok(most > 0 && most <= UID_INPUT, "busd holds at most limits.max_input_bytes_per_uid of "
	   "them (%llu of %u bytes), and charges them to the uid", (unsigned long long)most,
	   UID_INPUT);
	ok(seen <= UID_INPUT, "  the broker-wide input total agrees (%llu)",
	   (unsigned long long)seen);
	/* Each frame in busd is closed after the frame timeout; the ones that
	 * waited for budget then get theirs. */
	int closed = 0;
	for (int i = 0; i < N; i++)
		closed += raw_wait_eof(&c[i], 60000) == 1;
	is_int(closed, N, "every connection that stops mid-frame is closed after "
	       "limits.frame_timeout_seconds");
	ok(harness_log_has("did not finish within 5 s (limits.frame_timeout_seconds)"),
	   "  with a log line naming the limit");
	for (int i = 0; i < N; i++)
		raw_close(&c[i]);
	until = harness_now_ms() + 10000;
	Bus__StatsReply *s = NULL;
	while (harness_now_ms() < until) {
		s = stats(bus);
		if (s && s->input_bytes == 0)
			break;
		if (s)
			bus__stats_reply__free_unpacked(s, NULL);
		s = NULL;
		harness_sleep_ms(20);
	}
	ok(s != NULL, "  and busd holds no input bytes afterwards");
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
}

/* The service of the runaway test: answers every call with ANSWER bytes,
 * once the test says so. */
static int big_answers(int ctl, void *arg)
{
	raw_conn svc;
	raw_frame f;
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	static uint8_t answer[ANSWER];
	struct { uint64_t serial; char sender[32]; } calls[PENDING];
	int n = 0;
	char line[32];

	(void)arg;
	if (raw_open(&svc, harness_socket()) < 0 || raw_hello(&svc, 1, &f, 5000) < 0)
		return 10;
	req.name = "org.test.Big";
	if (raw_control(&svc, "RequestName", &req.base, &f, 5000) < 0)
		return 11;
	harness_send(ctl, "ready");
	while (n < PENDING && raw_recv(&svc, &f, 30000) == 1)
		if (f.h.kind == WIRE_KIND_CALL) {
			calls[n].serial = f.h.serial;
			raw_str(f.h.sender, calls[n].sender, sizeof(calls[n].sender));
			n++;
		}
	harness_send(ctl, "%d", n);
	if (n < PENDING || harness_recv(ctl, line, sizeof(line), 30000) < 0)
		return 12;
	for (int i = 0; i < n; i++) {
		wire_header h = { .kind = WIRE_KIND_REPLY, .serial = ++svc.serial,
				  .reply_serial = calls[i].serial };
		h.destination = wire_str_c(calls[i].sender);
		if (raw_send(&svc, &h, answer, sizeof(answer)) < 0)
			return 13;
	}
	harness_send(ctl, "answered");
	harness_recv(ctl, line, sizeof(line), 60000);
	raw_close(&svc);
	return 0;
}

static void test_runaway_caller(bus_t *bus)
{
	harness_child svc;
	raw_conn att;
	raw_frame f;
	char line[64];

	harness_fork(&svc, big_answers, NULL);
	ok(harness_recv(svc.ctl, line, sizeof(line), 10000) > 0, "a service answers every call "
	   "with %u KiB", ANSWER / KiB);
	raw_open(&att, harness_socket());
	raw_hello(&att, 1, &f, 5000);
	for (int i = 0; i < PENDING; i++)
		raw_call(&att, "org.test.Big", "Give", "", NULL, 0);
	int got = harness_recv(svc.ctl, line, sizeof(line), 20000) > 0 ? atoi(line) : -1;
	is_int(got, PENDING, "  a caller sends it %d calls and reads nothing", PENDING);
	harness_send(svc.ctl, "answer");
	ok(harness_recv(svc.ctl, line, sizeof(line), 30000) > 0, "  the service answers all of them");
	/* Wait until busd has routed every answer (no call of the caller left). */
	uint64_t until = harness_now_ms() + 20000;
	Bus__PeerInfo *me = NULL;
	Bus__ListNamesReply *l = NULL;
	while (harness_now_ms() < until) {
		if (l)
			protobuf_c_message_free_unpacked(&l->base, NULL);
		l = NULL;
		harness_list_names(bus, &l);
		me = l ? harness_find_peer(l, att.unique) : NULL;
		if (me && me->pending_calls == 0)
			break;
		harness_sleep_ms(20);
	}
	uint64_t queued = me ? me->queued_bytes : 0;
	/* The ceiling, one answer that crossed it (busd charges a frame's whole
	 * buffer: its size and at most a quarter more, and 512 bytes), and a
	 * small error per call. */
	uint64_t bound = CEILING + ANSWER + ANSWER / 4 + 512 + PENDING * 1024ull;
	ok(me && me->pending_calls == 0 && queued >= CEILING && queued <= bound,
	   "busd queues %llu bytes toward it: its ceiling (%u) and an answer, not %u KiB",
	   (unsigned long long)queued, CEILING, PENDING * ANSWER / KiB);
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
	Bus__StatsReply *s = stats(bus);
	uint64_t dropped = s ? s->answers_dropped : 0;
	ok(dropped > 0 && dropped < PENDING, "  the other %llu answers were dropped (answers_dropped)",
	   (unsigned long long)dropped);
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	/* Now it reads: one answer per call, each a reply or LimitsExceeded. */
	int replies = 0, limited = 0, other = 0, seen[PENDING + 1] = { 0 }, twice = 0;
	while (replies + limited + other < PENDING && raw_recv(&att, &f, 20000) == 1) {
		if (f.h.reply_serial >= 1 && f.h.reply_serial <= PENDING && seen[f.h.reply_serial]++)
			twice++;
		if (f.h.kind == WIRE_KIND_REPLY && f.body_len == ANSWER)
			replies++;
		else if (f.h.kind == WIRE_KIND_ERROR && wire_str_eq(f.h.error_name, BUS_ERROR_LIMITS_EXCEEDED))
			limited++;
		else
			other++;
	}
	is_int(replies + limited, PENDING, "  when it reads, every call has one answer (%d replies, "
	       "%d LimitsExceeded, %d other)", replies, limited, other);
	is_int(twice, 0, "  exactly one");
	is_int(limited, (long long)dropped, "  one LimitsExceeded per dropped answer");
	harness_send(svc.ctl, "bye");
	harness_wait(&svc, 10000);
	raw_close(&att);
}

static void test_schema_per_uid(bus_t *bus)
{
	enum { N = 8 };
	bus_t *c[N];
	bus_error_t err;
	static uint8_t set[48 * KiB];
	int accepted = 0, refused = 0;
	char last[700] = "";

	for (int i = 0; i < N; i++) {
		c[i] = harness_connect();
		memset(set, 'a' + i, sizeof(set)); /* busd keeps schemas unparsed */
		if (bus_add_schema(c[i], set, sizeof(set), &err) == 0)
			accepted++;
		else if (bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED)) {
			refused++;
			snprintf(last, sizeof(last), "%s", err.message);
		}
	}
	is_int(accepted, UID_SCHEMA / sizeof(set), "%d connections of one uid each upload a "
	       "distinct 48 KiB schema: %d fit in limits.max_schema_bytes_per_uid", N,
	       (int)(UID_SCHEMA / sizeof(set)));
	ok(refused == N - accepted && strstr(last, "limits.max_schema_bytes_per_uid"),
	   "  the others are refused naming the limit (%s)", last);
	Bus__StatsReply *s = stats(bus);
	Bus__UserUsage *u = my_usage(s);
	ok(u && u->schema_bytes <= UID_SCHEMA && s->schema_bytes == u->schema_bytes,
	   "  busd holds %llu schema bytes for the uid",
	   u ? (unsigned long long)u->schema_bytes : 0ull);
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	for (int i = 0; i < N; i++)
		bus_close(c[i]);
}

static void test_log_flood(void)
{
	enum { N = 300 };
	char path[600], line[2048];
	uint64_t start = harness_now_ms();

	for (int i = 0; i < N; i++) {
		raw_conn c;
		if (raw_open(&c, harness_socket()) < 0)
			continue;
		raw_write(&c, "garbage!garbage!", 16);
		raw_wait_eof(&c, 10000);
		raw_close(&c);
	}
	uint64_t secs = (harness_now_ms() - start) / 1000 + 1;
	/* What was left out is told with the next line let through, in a later
	 * second: wait for one to pass, then make one more. */
	harness_sleep_ms(1100);
	raw_conn c;
	if (raw_open(&c, harness_socket()) == 0) {
		raw_write(&c, "garbage!garbage!", 16);
		raw_wait_eof(&c, 10000);
		raw_close(&c);
	}
	long errors = 0, summaries = 0, untold = 0;
	snprintf(path, sizeof(path), "%s/busd.log", harness_dir());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f)) {
		const char *m;
		if (strstr(line, "protocol error, disconnecting: bus.Error.InvalidFrame: bad frame magic"))
			errors++;
		else if (strstr(line, "more log lines were left out") && (m = strstr(line, "uid "))) {
			long k = 0;
			summaries++;
			if (sscanf(m, "uid %*d: %ld", &k) == 1)
				untold += k;
		}
	}
	if (f)
		fclose(f);
	ok(errors <= (long)(secs + 2) * LOG_BURST,
	   "%d connections that send garbage in %llu s: %ld log lines, at most %d a second",
	   N, (unsigned long long)secs, errors, LOG_BURST);
	ok(summaries > 0 && errors + untold >= N, "  the rest are summed up (%ld lines left out)",
	   untold);
}

/* busd's peak resident memory against docs/security.md's formula for the
 * limits of this test: one uid (the test's) did everything. */
static void test_memory_formula(unsigned long idle_kib)
{
	char path[64], line[256];
	unsigned long hwm = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)harness_busd_pid());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmHWM: %lu kB", &hwm);
	if (f)
		fclose(f);
	double q = UID_QUEUED + 1.25 * MAX_FRAME + 512;
	double m_u = MAX_CONNS * 7.0 * KiB + 1.03 * q + UID_INPUT + (UID_PENDING + MAX_CONNS) * 1.0 * KiB +
		     UID_PENDING * 128.0 + UID_NAMES * 700.0 + UID_SUBS * 700.0 + UID_EXPORTS * 600.0 +
		     UID_SCHEMA;
	double pool = 4.0 * 1024 * KiB + 2.5 * (MAX_FRAME < 32.0 * 1024 * KiB ? MAX_FRAME : 32.0 * 1024 * KiB);
	double m = pool + 1.25 * MAX_FRAME + 64.0 * KiB + m_u;
	unsigned long bound_kib = idle_kib + (unsigned long)(m / 1024);
	ok(heap_peak > 0 && heap_peak <= (uint64_t)m, "busd's heap in use, sampled through the "
	   "attacks: at most %llu KiB, within the formula's %llu KiB for what peers make it hold",
	   (unsigned long long)heap_peak / 1024, (unsigned long long)(m / 1024));
#ifdef __SANITIZE_ADDRESS__
	skip("under ASan: shadow memory and the allocator's quarantine; the normal build checks it",
	     "busd's peak RSS through every attack: %lu KiB, against idle + the formula, %lu KiB",
	     hwm, bound_kib);
#else
	ok(hwm > 0 && hwm <= bound_kib, "busd's peak RSS through every attack: %lu KiB, within "
	   "idle + the formula, %lu KiB (idle %lu KiB)", hwm, bound_kib, idle_kib);
#endif
}

static unsigned long rss_kib(void)
{
	char path[64], line[256];
	unsigned long rss = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)harness_busd_pid());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %lu kB", &rss);
	if (f)
		fclose(f);
	return rss;
}

int main(void)
{
	char path[512], opt[] = "-c";

	plan(29);
	snprintf(path, sizeof(path), "%s/busd-hardening.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	fprintf(f, "[limits]\nmax_frame_size = %u\nmax_queued_bytes = %u\nqueue_hold_bytes = %u\n"
		   "queue_grace_seconds = 3600\nmax_queued_bytes_per_uid = %u\n"
		   "max_input_bytes_per_uid = %u\nmax_pending_calls = %d\n"
		   "max_schema_bytes = %u\nmax_schema_bytes_per_uid = %u\n"
		   "hello_timeout_seconds = %d\nframe_timeout_seconds = %d\n"
		   "max_pending_calls_per_uid = %d\nmax_names_per_uid = %d\n"
		   "max_subscriptions_per_uid = %d\nmax_exports_per_uid = %d\n"
		   "max_connections_per_uid = %d\n",
		MAX_FRAME, CEILING, HOLD, UID_QUEUED, UID_INPUT, PENDING, SCHEMA, UID_SCHEMA,
		HELLO_TIMEOUT_S, FRAME_TIMEOUT_S, UID_PENDING, UID_NAMES, UID_SUBS, UID_EXPORTS,
		MAX_CONNS);
	fclose(f);
	const char *args[] = { opt, path, NULL };
	harness_start(args);
	unsigned long idle = rss_kib();
	bus_t *bus = harness_connect();

	test_before_hello(bus);
	test_control_body();
	test_unfinished_frames(bus);
	test_runaway_caller(bus);
	test_schema_per_uid(bus);
	test_log_flood();
	test_memory_formula(idle);

	bus_close(bus);
	int r = harness_done();
	unlink(path);
	return r;
}
