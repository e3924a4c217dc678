/* test-fds.c - busd's file descriptor budget, against a busd started with a
 * small RLIMIT_NOFILE (128):
 *  - one user gets at most half of what the descriptors allow users other
 *    than root, whatever limits.max_connections_per_uid says, and is told
 *    so (bus.Error.LimitsExceeded naming the limit);
 *  - once users other than root have their share, a third is refused
 *    cleanly; root still gets in;
 *  - past even root's share, accept() runs out of descriptors: busd refuses
 *    the waiting connections one at a time (they see the end of the
 *    connection, not a hang), backs off instead of spinning, keeps its log
 *    quiet and goes on serving once descriptors are free again.
 * The parts that need other users run only as root. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus/bus.h>
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define NOFILE 128
#define BUDGET (NOFILE - 32)            /* busd keeps 32 for itself */
#define ROOT_RESERVE 16                 /* at least 16 (or a sixteenth) for root */
#define PER_UID ((BUDGET - ROOT_RESERVE) / 2)
#define USER_A 4343
#define USER_B 4344
#define USER_C 4345

/* Say Hello on c: 0 when busd answers it, 1 when busd refused the
 * connection (its ERROR in err), -1 when the connection just ended. */
static int hello_or_refusal(raw_conn *c, char *err, size_t len)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	uint8_t body[64];
	raw_frame f;

	req.protocol_version = 1;
	/* A refused connection may be closed before the Hello gets there: the
	 * refusal is read all the same. */
	raw_call(c, WIRE_BUS_NAME, "Hello", "bus.HelloRequest", body,
		 bus__hello_request__pack(&req, body));
	while (raw_recv(c, &f, 10000) == 1) {
		if (f.h.kind == WIRE_KIND_REPLY && f.h.reply_serial == c->serial)
			return 0;
		if (f.h.kind == WIRE_KIND_ERROR) {
			char name[128], msg[600];
			snprintf(err, len, "%s: %s", raw_str(f.h.error_name, name, sizeof(name)),
				 raw_str(f.h.error_message, msg, sizeof(msg)));
			return 1;
		}
	}
	return -1;
}

/* Open Hello'd connections as uid (when not -1) until busd refuses one or
 * max are open; report "N ERROR" on ctl, then hold them until told. */
struct opener {
	int uid;
	int max;
};

static int open_until_refused(int ctl, void *arg)
{
	const struct opener *o = arg;
	static raw_conn c[NOFILE];
	char err[700] = "none", line[32];
	int n = 0;

	if (o->uid >= 0 && (setgroups(0, NULL) < 0 || setgid((gid_t)o->uid) < 0 ||
			    setuid((uid_t)o->uid) < 0))
		return 10;
	while (n < o->max) {
		if (raw_open(&c[n], harness_socket()) < 0)
			break;
		if (hello_or_refusal(&c[n], err, sizeof(err)) != 0) {
			raw_close(&c[n]);
			break;
		}
		n++;
	}
	harness_send(ctl, "%d %s", n, err);
	harness_recv(ctl, line, sizeof(line), 120000);
	for (int i = 0; i < n; i++)
		raw_close(&c[i]);
	return 0;
}

static int start_opener(harness_child *c, int uid, int max, char *line, size_t len)
{
	static struct opener o[4];
	static int next;
	struct opener *op = &o[next++ % 4];

	op->uid = uid;
	op->max = max;
	harness_fork(c, open_until_refused, op);
	if (harness_recv(c->ctl, line, len, 60000) <= 0)
		return -1;
	return atoi(line);
}

/* busd's CPU time so far, in clock ticks. */
static long busd_cpu(void)
{
	char path[64], buf[1024];
	long ut = 0, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)harness_busd_pid());
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		const char *p = strrchr(buf, ')');
		if (p)
			sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st);
	}
	fclose(f);
	return ut + st;
}

static int count_log(const char *needle)
{
	char path[600], line[2048];
	int n = 0;

	snprintf(path, sizeof(path), "%s/busd.log", harness_dir());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

static void skip_checks(int n, const char *why)
{
	for (int i = 0; i < n; i++)
		skip(why, "other users' check %d of %d", i + 1, n);
}

int main(void)
{
	struct rlimit small = { NOFILE, NOFILE }, saved;
	char line[800];
	int root = geteuid() == 0;

	plan(11);
	getrlimit(RLIMIT_NOFILE, &saved);
	/* busd inherits the limit; as root, the test takes its own back. */
	if (setrlimit(RLIMIT_NOFILE, &small) < 0) {
		printf("Bail out! setrlimit: %s\n", strerror(errno));
		return 1;
	}
	harness_start(NULL);
	if (root)
		setrlimit(RLIMIT_NOFILE, &saved);
	chmod(harness_dir(), 0755); /* the other users connect to the socket in it */
	ok(harness_log_has("the file descriptor limit lets one uid have 40 connections"),
	   "busd says at start that its descriptors allow %d connections per uid", PER_UID);

	harness_child a, b, c;
	int na = start_opener(&a, root ? USER_A : -1, NOFILE, line, sizeof(line));
	is_int(na, PER_UID, "one user opens connections: %d are taken", PER_UID);
	ok(strstr(line, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(line, "limits.max_connections_per_uid allows within busd's file descriptor limit"),
	   "  the next is refused, naming the limit (%s)", line);

	if (!root) {
		skip_checks(7, "needs root to connect as other users");
		harness_send(a.ctl, "done");
		harness_wait(&a, 10000);
		return harness_done();
	}
	int nb = start_opener(&b, USER_B, PER_UID, line, sizeof(line));
	is_int(nb, PER_UID, "a second user takes its %d too", PER_UID);
	int nc = start_opener(&c, USER_C, 1, line, sizeof(line));
	ok(nc == 0 && strstr(line, "no file descriptors left for users other than root"),
	   "a third user is refused: the rest is root's (%s)", line);
	harness_send(c.ctl, "done");
	harness_wait(&c, 10000);

	/* Root gets in. Then root alone runs busd out of descriptors. */
	bus_t *bus = harness_connect();
	Bus__StatsReply *s = harness_stats(bus);
	ok(s != NULL, "root still connects and is served");
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	static raw_conn extra[NOFILE];
	int n = 0, refused = 0;
	while (n < NOFILE) {
		if (raw_open(&extra[n], harness_socket()) < 0)
			break;
		int r = hello_or_refusal(&extra[n], line, sizeof(line));
		n++;
		if (r < 0) {
			refused = 1; /* closed without a word: busd had no descriptor for it */
			break;
		}
	}
	ok(refused, "past root's share too, accept() runs out: the connection is closed at once "
	   "(after %d more)", n);
	/* More wait in the backlog meanwhile: busd must not spin on them. */
	raw_conn waiting[16];
	for (int i = 0; i < 16; i++)
		raw_open(&waiting[i], harness_socket());
	long before = busd_cpu();
	harness_sleep_ms(2000);
	long used = busd_cpu() - before;
	ok(used >= 0 && used < sysconf(_SC_CLK_TCK) / 2,
	   "  with connections waiting, busd backs off: %ld ticks of CPU in 2 s", used);
	int lines = count_log("accept: Too many open files");
	ok(lines >= 1 && lines <= 3 * 10, "  and logs it at most 10 times a second (%d lines)", lines);
	for (int i = 0; i < 16; i++)
		raw_close(&waiting[i]);
	for (int i = 0; i < n; i++)
		raw_close(&extra[i]);
	harness_send(a.ctl, "done");
	harness_send(b.ctl, "done");
	harness_wait(&a, 10000);
	harness_wait(&b, 10000);
	/* Descriptors are free again: a new connection is served. */
	bus_t *again = NULL;
	uint64_t until = harness_now_ms() + 10000;
	bus_error_t err;
	while (!again && harness_now_ms() < until)
		if (bus_connect(&again, harness_socket(), &err) < 0)
			harness_sleep_ms(50);
	s = again ? harness_stats(again) : NULL;
	ok(s && s->connections_refused > 0, "busd serves new connections again (%llu were refused)",
	   s ? (unsigned long long)s->connections_refused : 0ull);
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	bus_close(again);
	bus_close(bus);
	return harness_done();
}
