/* test-reincarnate.c - declared services seen from their callers: the first
 * call starts a demand service and succeeds; calls made while a service is
 * starting are held, bounded by limits.max_held_calls_per_name, and dropped
 * with a caller that goes away; a call to a method marked safe to repeat
 * that is in flight when the service dies is re-sent to the next instance,
 * at most limits.max_call_resends times, while an unmarked one (or any
 * method of a service that added no schema of its own) fails with
 * bus.Error.NoReply exactly once; ten callers see no failed call while
 * echo is killed every 200 ms for 10 s; a service that exits at once
 * fails, and calls to it get ServiceStartFailed with the reason; a running
 * instance without its name and busd stopping end the holds. Real busd,
 * real services (services/echo, tests/sink, tests/name-peer), real
 * processes. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus/errors.h>

#include "echo.pb-c.h"
#include "harness.h"

#define MAX_HELD 64         /* limits.max_held_calls_per_name: above CLIENTS * IN_FLIGHT */
#define CLIENTS 10
#define IN_FLIGHT 4         /* calls each client keeps going */
#define KILL_EVERY_MS 200
#define KILL_FOR_MS 10000
#define ECHO_IFACE "busd.examples.Echo"

static char svc_dir[PATH_MAX];
static char gate[PATH_MAX + 16], gate2[PATH_MAX + 16], cmds[PATH_MAX + 16];
static char name_peer[PATH_MAX + 32], sink_bin[PATH_MAX + 32];
static char echo_bin[PATH_MAX + 32];

/* ---------------------------------------------------------------- calls */

/* One async Echo or Delay call and what came back. */
struct call {
	char text[32];
	int n;                  /* answers: must end at 1 */
	int ok;                 /* a reply with the same text */
	char err[128], msg[512];
	uint64_t sent_us, done_us;
};

static void on_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct call *c = ud;

	(void)bus;
	c->n++;
	c->done_us = harness_now_us();
	if (err) {
		snprintf(c->err, sizeof(c->err), "%s", err->name);
		snprintf(c->msg, sizeof(c->msg), "%s", err->message);
		return;
	}
	Busd__Examples__EchoReply *r = (Busd__Examples__EchoReply *)
		bus_msg_unpack(reply, &busd__examples__echo_reply__descriptor);
	c->ok = r && r->text && strcmp(r->text, c->text) == 0;
	if (r)
		protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int call_echo_in(bus_t *bus, const char *dest, const char *iface, struct call *c,
			const char *text)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;

	memset(c, 0, sizeof(*c));
	snprintf(c->text, sizeof(c->text), "%s", text);
	req.text = c->text;
	void *body = harness_pack(&req.base, &len);
	c->sent_us = harness_now_us();
	int r = bus_call_async(bus, NULL, dest, iface, "Echo", "busd.examples.EchoRequest",
			       body, len, 120 * 1000000ull, on_answer, c);
	free(body);
	return r;
}

static int call_echo(bus_t *bus, const char *dest, struct call *c, const char *text)
{
	return call_echo_in(bus, dest, ECHO_IFACE, c, text);
}

static int call_delay(bus_t *bus, struct call *c, unsigned ms)
{
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len;

	memset(c, 0, sizeof(*c));
	snprintf(c->text, sizeof(c->text), "delayed");
	req.ms = ms;
	req.text = c->text;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call_async(bus, NULL, HARNESS_ECHO_NAME, ECHO_IFACE, "Delay",
			       "busd.examples.DelayRequest", body, len, 120 * 1000000ull,
			       on_answer, c);
	free(body);
	return r;
}

/* Process bus until n calls of v have their answer, or timeout_ms. */
static int wait_answers(bus_t *bus, struct call *v, size_t n, size_t want, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		size_t got = 0;
		for (size_t i = 0; i < n; i++)
			got += v[i].n > 0;
		if (got >= want)
			return 1;
		if (harness_now_ms() >= deadline)
			return 0;
		bus_wait(bus, 50000);
		bus_process(bus);
	}
}

/* busd's counter, read by fn from a fresh Stats, until it equals want or
 * timeout_ms passes; returns the last value read. */
static uint64_t wait_stat(bus_t *bus, uint64_t (*fn)(const Bus__StatsReply *), uint64_t want,
			  int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms, v = UINT64_MAX;

	for (;;) {
		Bus__StatsReply *s = harness_stats(bus);
		if (s) {
			v = fn(s);
			protobuf_c_message_free_unpacked(&s->base, NULL);
		}
		if (v == want || harness_now_ms() >= deadline)
			return v;
		harness_loop_for(bus, 10);
	}
}

static uint64_t st_held(const Bus__StatsReply *s) { return s->held_calls; }
static uint64_t st_pending(const Bus__StatsReply *s) { return s->pending_calls; }
static uint64_t st_resent(const Bus__StatsReply *s) { return s->calls_resent; }

static pid_t owner_pid(bus_t *bus, const char *name)
{
	Bus__PeerInfo *info = NULL;
	bus_error_t err;
	pid_t pid = 0;

	if (harness_get_name_owner(bus, name, &info, &err) == 0 && info) {
		pid = (pid_t)info->pid;
		protobuf_c_message_free_unpacked(&info->base, NULL);
	}
	return pid;
}

/* The pid owning name, waiting for one; bails when none comes (a pid of
 * 0 would signal the test's own process group). */
static pid_t instance_pid(bus_t *bus, const char *name)
{
	pid_t pid = 0;

	if (harness_wait_name(bus, name, 30000) == 0)
		pid = owner_pid(bus, name);
	if (pid <= 0)
		harness_bail("no process owns %s", name);
	return pid;
}

/* ---------------------------------------------------------------- services */

static void write_service(const char *id, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void write_service(const char *id, const char *fmt, ...)
{
	char path[PATH_MAX + 64];
	va_list ap;

	snprintf(path, sizeof(path), "%s/%s.conf", svc_dir, id);
	FILE *f = fopen(path, "w");
	if (!f)
		harness_bail("cannot write %s: %s", path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
}

static void setup_services(void)
{
	const char *top = getenv("top_builddir");
	char topabs[PATH_MAX];
	const char *tmp = getenv("TMPDIR");

	if (!realpath(top && *top ? top : ".", topabs))
		harness_bail("top_builddir: %s", strerror(errno));
	snprintf(echo_bin, sizeof(echo_bin), "%s/services/echo", topabs);
	snprintf(name_peer, sizeof(name_peer), "%s/tests/name-peer", topabs);
	snprintf(sink_bin, sizeof(sink_bin), "%s/tests/sink", topabs);
	snprintf(svc_dir, sizeof(svc_dir), "%s/busd-reincarnate.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(svc_dir))
		harness_bail("mkdtemp: %s", strerror(errno));
	snprintf(gate, sizeof(gate), "%s/gate", svc_dir);
	snprintf(gate2, sizeof(gate2), "%s/gate2", svc_dir);
	snprintf(cmds, sizeof(cmds), "%s/cmds", svc_dir);
	if (mkfifo(gate, 0600) < 0 || mkfifo(gate2, 0600) < 0 || mkfifo(cmds, 0600) < 0)
		harness_bail("mkfifo: %s", strerror(errno));
	/* Restarted at once however often it dies. */
	write_service("echo", "[service]\nexec = %s --name " HARNESS_ECHO_NAME "\n"
		      "names = " HARNESS_ECHO_NAME "\nrestart = always\n"
		      "restart_intensity = 1000 in 10\nbackoff = 0.01\nbackoff_max = 0.01\n",
		      echo_bin);
	write_service("demand", "[service]\nexec = %s --name org.test.Demand\n"
		      "names = org.test.Demand\nactivation = demand\n", echo_bin);
	/* Owns its name only once the test writes a line into the gate. */
	write_service("gate", "[service]\nexec = /bin/sh -c \"read x < %s; exec %s --name "
		      "org.test.Gate\"\nnames = org.test.Gate\nactivation = demand\n"
		      "start_timeout = 600\n", gate, echo_bin);
	/* Never let go on: busd stops while a call waits for it. */
	write_service("gate2", "[service]\nexec = /bin/sh -c \"read x < %s; exec %s --name "
		      "org.test.Gate2\"\nnames = org.test.Gate2\nactivation = demand\n"
		      "start_timeout = 600\n", gate2, echo_bin);
	/* Gives its name up when told (tests/name-peer.c) and runs on. */
	write_service("release", "[service]\nexec = /bin/sh -c \"exec %s org.test.Release < %s\"\n"
		      "names = org.test.Release\nrestart = no\nstart_timeout = 600\n", name_peer, cmds);
	/* Takes calls and never answers (tests/sink.c). */
	write_service("sink", "[service]\nexec = %s org.test.Sink\nnames = org.test.Sink\n"
		      "restart = always\nrestart_intensity = 1000 in 10\nbackoff = 0.01\n"
		      "backoff_max = 0.01\n", sink_bin);
	write_service("synth", "[service]\nexec = %s --no-schema org.test.Synth\n"
		      "names = org.test.Synth\nrestart = always\nbackoff = 0.01\n", sink_bin);
	write_service("crash", "[service]\nexec = /bin/false\nnames = org.test.Crash\n"
		      "activation = demand\nrestart = on-failure\nrestart_intensity = 3 in 600\n"
		      "backoff = 0.01\nbackoff_max = 0.01\n");
}

static void cleanup_services(void)
{
	const char *ids[] = { "echo", "demand", "gate", "gate2", "release", "sink", "synth", "crash" };
	char path[PATH_MAX + 64];

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.conf", svc_dir, ids[i]);
		unlink(path);
	}
	unlink(gate);
	unlink(gate2);
	unlink(cmds);
	rmdir(svc_dir);
}

/* The writing end of fifo, once a service's shell has it open for
 * reading (it may be starting still); -1 after 30 s. */
static int open_fifo(bus_t *bus, const char *fifo)
{
	uint64_t deadline = harness_now_ms() + 30000;
	int fd;

	while ((fd = open(fifo, O_WRONLY | O_NONBLOCK)) < 0) {
		if (errno != ENXIO || harness_now_ms() >= deadline)
			return -1;
		harness_loop_for(bus, 10); /* no reader yet */
	}
	return fd;
}

/* Let the gate service go on. */
static int open_gate(bus_t *bus)
{
	int fd = open_fifo(bus, gate);
	if (fd < 0)
		return -1;
	int r = write(fd, "go\n", 3) == 3 ? 0 : -1;
	close(fd);
	return r;
}

/* ---------------------------------------------------------------- the scenarios */

static void test_first_call(bus_t *bus)
{
	struct call c;

	call_echo(bus, "org.test.Demand", &c, "first");
	wait_answers(bus, &c, 1, 1, 60000);
	ok(c.n == 1 && !c.err[0], "the first call to a demand service starts it and succeeds (%s %s)",
	   c.err, c.msg);
	ok(c.ok, "  with the answer to that call");
	printf("# activation latency (call to answer, process start included): %.1f ms\n",
	       (double)(c.done_us - c.sent_us) / 1000.0);
}

static int gone_caller(int ctl, void *arg)
{
	struct call c[3];
	char line[16];
	bus_t *bus;
	bus_error_t err;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0)
		return 1;
	for (int i = 0; i < 3; i++)
		call_echo(bus, "org.test.Gate", &c[i], "gone");
	/* One that wants no answer is held all the same. */
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;
	req.text = (char *)"no answer";
	void *body = harness_pack(&req.base, &len);
	bus_call_async(bus, NULL, "org.test.Gate", ECHO_IFACE, "Echo", "busd.examples.EchoRequest",
		       body, len, 0, NULL, NULL);
	free(body);
	bus_flush(bus);
	harness_send(ctl, "sent");
	harness_recv(ctl, line, sizeof(line), 60000);
	_exit(0); /* no goodbye: the connection just ends */
}

static void test_caller_gone(bus_t *bus)
{
	harness_child kid;
	char line[16];

	harness_fork(&kid, gone_caller, NULL);
	harness_recv(kid.ctl, line, sizeof(line), 30000);
	uint64_t held = wait_stat(bus, st_held, 4, 30000);
	ok(held == 4, "calls to a service that is starting are held, NO_REPLY_EXPECTED too "
	   "(busd holds %llu of 4)", (unsigned long long)held);
	harness_send(kid.ctl, "quit");
	harness_wait(&kid, 30000);
	held = wait_stat(bus, st_held, 0, 30000);
	Bus__StatsReply *s = harness_stats(bus);
	ok(held == 0 && s && s->held_bytes == 0,
	   "a caller that goes away: its held calls are dropped (held %llu, %llu bytes)",
	   (unsigned long long)held, s ? (unsigned long long)s->held_bytes : 0ull);
	uint32_t charged = 0;
	for (size_t i = 0; s && i < s->n_users; i++)
		charged += s->users[i]->pending_calls;
	ok(s && s->pending_calls == 0 && charged == 0,
	   "  and nothing is left charged (pending %llu, charged to uids %u)",
	   s ? (unsigned long long)s->pending_calls : 0ull, charged);
	if (s)
		protobuf_c_message_free_unpacked(&s->base, NULL);
}

static void test_held_limit(bus_t *bus)
{
	enum { N = MAX_HELD + 4 };
	struct call c[N];
	char text[32];

	for (int i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "held-%d", i);
		call_echo(bus, "org.test.Gate", &c[i], text);
	}
	wait_answers(bus, c, N, N - MAX_HELD, 30000);
	int refused = 0, named = 0;
	for (int i = 0; i < N; i++)
		if (c[i].n && strcmp(c[i].err, BUS_ERROR_LIMITS_EXCEEDED) == 0) {
			refused++;
			named += strstr(c[i].msg, "limits.max_held_calls_per_name") != NULL;
		}
	ok(refused == N - MAX_HELD && refused == named,
	   "%d calls to a starting service, %d held at most: %d refused with LimitsExceeded "
	   "naming limits.max_held_calls_per_name", N, MAX_HELD, refused);
	uint64_t held = wait_stat(bus, st_held, MAX_HELD, 10000);
	ok(held == MAX_HELD, "  busd holds %llu", (unsigned long long)held);
	ok(open_gate(bus) == 0, "the service is let go on");
	wait_answers(bus, c, N, N, 60000);
	int answered = 0, in_order = 1;
	uint64_t last = 0;
	for (int i = 0; i < N; i++) {
		if (strcmp(c[i].err, BUS_ERROR_LIMITS_EXCEEDED) == 0)
			continue;
		answered += c[i].n == 1 && c[i].ok;
		if (c[i].done_us < last)
			in_order = 0;
		last = c[i].done_us;
	}
	ok(answered == MAX_HELD && in_order,
	   "  once it owns its name, the %d held calls are answered, once each, in order (%d)",
	   MAX_HELD, answered);
}

static void test_in_flight(bus_t *bus)
{
	struct call e, d;

	pid_t pid = instance_pid(bus, HARNESS_ECHO_NAME);
	/* Stopped, echo reads nothing: both calls are surely in flight (busd
	 * routed them: harness_sync) when it is killed. */
	kill(pid, SIGSTOP);
	call_echo(bus, HARNESS_ECHO_NAME, &e, "again");
	call_delay(bus, &d, 1);
	harness_sync(bus);
	kill(pid, SIGKILL);
	wait_answers(bus, &e, 1, 1, 60000);
	wait_answers(bus, &d, 1, 1, 60000);
	ok(e.n == 1 && !e.err[0] && e.ok,
	   "Echo (NO_SIDE_EFFECTS) in flight when echo is killed: re-sent, answered (%s %s)",
	   e.err, e.msg);
	ok(d.n == 1 && strcmp(d.err, BUS_ERROR_NO_REPLY) == 0,
	   "Delay (not marked) in flight: bus.Error.NoReply (%s: %s)", d.err, d.msg);
	harness_wait_name(bus, HARNESS_ECHO_NAME, 30000);
	harness_sync(bus);
	ok(e.n == 1 && d.n == 1, "  exactly one answer each (%d, %d)", e.n, d.n);
	uint64_t resent = wait_stat(bus, st_resent, 1, 1);
	ok(resent >= 1, "  busd counts the re-sent call (calls_resent %llu)",
	   (unsigned long long)resent);
}

/* A call to a method marked safe to repeat follows the service from
 * instance to instance, limits.max_call_resends (3) times, then fails. */
static void test_resend_bound(bus_t *bus)
{
	struct call named, bare;
	int followed = 1;

	harness_wait_name(bus, "org.test.Sink", 30000);
	uint64_t resent0 = wait_stat(bus, st_resent, UINT64_MAX, 1);
	call_echo(bus, "org.test.Sink", &named, "named");
	/* No interface: Echo is the method of the one service exported. */
	call_echo_in(bus, "org.test.Sink", NULL, &bare, "bare");
	harness_sync(bus);
	for (int kill_no = 1; kill_no <= 4; kill_no++) {
		pid_t pid = instance_pid(bus, "org.test.Sink");
		kill(pid, SIGKILL);
		if (kill_no == 4)
			break;
		uint64_t deadline = harness_now_ms() + 30000;
		pid_t now;
		while (((now = owner_pid(bus, "org.test.Sink")) <= 0 || now == pid) &&
		       harness_now_ms() < deadline)
			harness_loop_for(bus, 5);
		harness_sync(bus); /* held calls go out with the new owner's RequestName */
		followed &= named.n == 0 && bare.n == 0 && now != pid;
	}
	wait_answers(bus, &named, 1, 1, 60000);
	wait_answers(bus, &bare, 1, 1, 60000);
	uint64_t resent = wait_stat(bus, st_resent, resent0 + 6, 10000) - resent0;
	ok(followed && resent == 6,
	   "calls to Echo (with and without interface) in flight at 3 kills: re-sent each time "
	   "(%llu re-sends)", (unsigned long long)resent);
	ok(named.n == 1 && strcmp(named.err, BUS_ERROR_NO_REPLY) == 0,
	   "  at the 4th, past limits.max_call_resends: bus.Error.NoReply (%s: %s)", named.err,
	   named.msg);
	ok(bare.n == 1 && strcmp(bare.err, BUS_ERROR_NO_REPLY) == 0, "  the same without interface (%s)",
	   bare.err);
}

/* Without the service's real schema, nothing is marked: no re-send. */
static void test_synth_not_safe(bus_t *bus)
{
	struct call c;

	harness_wait_name(bus, "org.test.Synth", 30000);
	call_echo(bus, "org.test.Synth", &c, "synth");
	harness_sync(bus);
	kill(instance_pid(bus, "org.test.Synth"), SIGKILL);
	wait_answers(bus, &c, 1, 1, 60000);
	ok(c.n == 1 && strcmp(c.err, BUS_ERROR_NO_REPLY) == 0,
	   "a service that added no schema of its own (libbus's carries no options): its Echo is "
	   "not re-sent (%s)", c.err);
}

/* ---- the kill loop ---- */

struct client_state {
	struct call *v;
	size_t n, cap;
	int outstanding;
	bus_t *bus;
	int id;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Per call a slot of its own as userdata: the callback knows its call. */
struct slot {
	struct client_state *cs;
	size_t i;
};

static void slot_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct slot *s = ud;
	struct client_state *cs = s->cs;

	on_answer(bus, reply, err, &cs->v[s->i]);
	cs->outstanding--;
}

static int client_call(struct client_state *cs, struct slot *slots)
{
	if (cs->n == cs->cap)
		return -1;
	struct call *c = &cs->v[cs->n];
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;

	memset(c, 0, sizeof(*c));
	snprintf(c->text, sizeof(c->text), "c%d-%zu", cs->id, cs->n);
	req.text = c->text;
	slots[cs->n] = (struct slot){ cs, cs->n };
	void *body = harness_pack(&req.base, &len);
	c->sent_us = harness_now_us();
	int r = bus_call_async(cs->bus, NULL, HARNESS_ECHO_NAME, ECHO_IFACE, "Echo",
			       "busd.examples.EchoRequest", body, len, 120 * 1000000ull,
			       slot_answer, &slots[cs->n]);
	free(body);
	if (r < 0)
		return r;
	cs->n++;
	cs->outstanding++;
	return 0;
}

static int client(int ctl, void *arg)
{
	struct client_state cs = { 0 };
	bus_error_t err;
	char line[32];
	int stop = 0;

	cs.id = (int)(intptr_t)arg;
	cs.cap = 200000;
	cs.v = calloc(cs.cap, sizeof(*cs.v));
	struct slot *slots = calloc(cs.cap, sizeof(*slots));
	if (!cs.v || !slots || bus_connect(&cs.bus, NULL, &err) < 0)
		return 1;
	harness_send(ctl, "ready");
	if (harness_recv(ctl, line, sizeof(line), 60000) < 0)
		return 1;
	uint64_t deadline = 0;
	for (;;) {
		while (!stop && cs.outstanding < IN_FLIGHT && client_call(&cs, slots) == 0)
			;
		if (stop && cs.outstanding == 0)
			break;
		if (stop && harness_now_ms() > deadline)
			break;
		struct pollfd pfd[2] = { { bus_get_fd(cs.bus), (short)bus_get_events(cs.bus), 0 },
					 { ctl, POLLIN, 0 } };
		poll(pfd, stop ? 1 : 2, 50);
		if (!stop && (pfd[1].revents & POLLIN)) {
			harness_recv(ctl, line, sizeof(line), 1000);
			stop = 1;
			deadline = harness_now_ms() + 120000;
		}
		if (bus_process(cs.bus) < 0)
			break;
	}
	/* ok: one answer, the right text; failed: an error; dup: more than one. */
	size_t good = 0, failed = 0, dup = 0, missing = 0, wrong = 0, k = 0;
	uint64_t *lat = calloc(cs.n + 1, sizeof(*lat));
	char first_err[160] = "";
	for (size_t i = 0; i < cs.n; i++) {
		struct call *c = &cs.v[i];
		if (c->n == 0)
			missing++;
		else if (c->n > 1)
			dup++;
		if (c->err[0]) {
			failed++;
			if (!first_err[0])
				snprintf(first_err, sizeof(first_err), "%s", c->err);
		} else if (c->n && !c->ok) {
			wrong++;
		} else if (c->n == 1) {
			good++;
			if (lat)
				lat[k++] = c->done_us - c->sent_us;
		}
	}
	uint64_t p50 = 0, p99 = 0;
	if (lat && k) {
		qsort(lat, k, sizeof(*lat), cmp_u64);
		p50 = lat[k / 2];
		p99 = lat[k * 99 / 100];
	}
	harness_send(ctl, "%zu %zu %zu %zu %zu %zu %llu %llu %s", cs.n, good, failed, dup, missing,
		     wrong, (unsigned long long)p50, (unsigned long long)p99,
		     first_err[0] ? first_err : "-");
	free(lat);
	bus_close(cs.bus);
	free(cs.v);
	free(slots);
	return 0;
}

static int killer(int ctl, void *arg)
{
	bus_t *bus;
	bus_error_t err;
	unsigned kills = 0;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0)
		return 1;
	uint64_t end = harness_now_ms() + KILL_FOR_MS;
	while (harness_now_ms() < end) {
		/* The scenario's pace, not a wait for a condition. */
		struct pollfd pfd = { ctl, POLLIN, 0 };
		poll(&pfd, 1, KILL_EVERY_MS);
		pid_t pid = owner_pid(bus, HARNESS_ECHO_NAME);
		if (pid > 0 && kill(pid, SIGKILL) == 0)
			kills++;
	}
	harness_send(ctl, "%u", kills);
	bus_close(bus);
	return 0;
}

static void test_kill_loop(bus_t *bus)
{
	harness_child kids[CLIENTS], k;
	char line[256];
	size_t calls = 0, good = 0, failed = 0, dup = 0, missing = 0, wrong = 0;
	uint64_t p50_max = 0, p99_max = 0;
	unsigned kills = 0;
	char first_err[160] = "-";

	harness_wait_name(bus, HARNESS_ECHO_NAME, 30000);
	uint64_t resent0 = wait_stat(bus, st_resent, 0, 1);
	for (int i = 0; i < CLIENTS; i++) {
		harness_fork(&kids[i], client, (void *)(intptr_t)i);
		harness_recv(kids[i].ctl, line, sizeof(line), 30000);
	}
	for (int i = 0; i < CLIENTS; i++)
		harness_send(kids[i].ctl, "go");
	harness_fork(&k, killer, NULL);
	if (harness_recv(k.ctl, line, sizeof(line), KILL_FOR_MS + 60000) > 0)
		kills = (unsigned)strtoul(line, NULL, 10);
	harness_wait(&k, 10000);
	for (int i = 0; i < CLIENTS; i++)
		harness_send(kids[i].ctl, "stop");
	for (int i = 0; i < CLIENTS; i++) {
		size_t n, g, f, d, m, w;
		unsigned long long p50, p99;
		char e[160];
		if (harness_recv(kids[i].ctl, line, sizeof(line), 180000) < 0 ||
		    sscanf(line, "%zu %zu %zu %zu %zu %zu %llu %llu %159s", &n, &g, &f, &d, &m, &w,
			   &p50, &p99, e) != 9) {
			missing++;
			continue;
		}
		printf("# client %d: %zu calls, %zu answered, p50 %.2f ms, p99 %.2f ms\n", i, n, g,
		       p50 / 1000.0, p99 / 1000.0);
		calls += n;
		good += g;
		failed += f;
		dup += d;
		missing += m;
		wrong += w;
		if (f && strcmp(first_err, "-") == 0)
			snprintf(first_err, sizeof(first_err), "%s", e);
		p50_max = p50 > p50_max ? p50 : p50_max;
		p99_max = p99 > p99_max ? p99 : p99_max;
		harness_wait(&kids[i], 30000);
	}
	uint64_t resent = wait_stat(bus, st_resent, UINT64_MAX, 1) - resent0;
	printf("# kill loop: %u kills of echo in %d s, %zu calls from %d clients, %llu re-sent; "
	       "latency p50 %.2f ms, p99 %.2f ms (the worst client's)\n", kills,
	       KILL_FOR_MS / 1000, calls, CLIENTS, (unsigned long long)resent, p50_max / 1000.0,
	       p99_max / 1000.0);
	ok(kills > 0 && calls > 0, "echo was killed %u times while %d clients made %zu calls",
	   kills, CLIENTS, calls);
	ok(failed == 0, "  no call failed (%zu; first: %s)", failed, first_err);
	ok(dup == 0 && missing == 0, "  every call got exactly one answer (%zu twice, %zu none)",
	   dup, missing);
	ok(wrong == 0 && good == calls, "  each the answer to that call (%zu of %zu)", good, calls);
}

static void test_crash_loop(bus_t *bus)
{
	struct call held, later;
	int failed = 0;

	call_echo(bus, "org.test.Crash", &held, "crash");
	wait_answers(bus, &held, 1, 1, 60000);
	ok(held.n == 1 && strcmp(held.err, BUS_ERROR_SERVICE_START_FAILED) == 0 &&
	   strstr(held.msg, "status 1"),
	   "a call held for a service that exits at once: ServiceStartFailed naming why (%s: %s)",
	   held.err, held.msg);
	/* Calls go on starting it until its intensity is used up. */
	for (int i = 0; i < 20 && !failed; i++) {
		call_echo(bus, "org.test.Crash", &later, "crash");
		wait_answers(bus, &later, 1, 1, 60000);
		failed = strstr(later.msg, "failed") != NULL;
	}
	ok(failed && strcmp(later.err, BUS_ERROR_SERVICE_START_FAILED) == 0,
	   "  once it is FAILED, a new call gets ServiceStartFailed at once (%s: %s)", later.err,
	   later.msg);
	ok(strstr(later.msg, "crash") && strstr(later.msg, "status 1"),
	   "  the message names the service and the reason");
}

/* A running instance that gave its name up is not waited for forever. */
static void test_released(bus_t *bus)
{
	struct call c;
	char owner[32];

	int fd = open_fifo(bus, cmds);
	harness_wait_name(bus, "org.test.Release", 30000);
	if (fd < 0 || write(fd, "release\n", 8) != 8)
		harness_bail("cannot drive the release service");
	uint64_t deadline = harness_now_ms() + 30000;
	while (strcmp(harness_owner_of(bus, "org.test.Release", owner, sizeof(owner)), "-") != 0 &&
	       harness_now_ms() < deadline)
		harness_loop_for(bus, 10);
	call_echo(bus, "org.test.Release", &c, "anyone");
	uint64_t held = wait_stat(bus, st_held, 1, 30000);
	wait_answers(bus, &c, 1, 1, 60000);
	ok(held == 1 && c.n == 1 && strcmp(c.err, BUS_ERROR_NAME_HAS_NO_OWNER) == 0,
	   "a call to a service whose instance runs without its name: held, then NameHasNoOwner "
	   "(%s: %s)", c.err, c.msg);
	ok(strstr(c.msg, "runs without it") != NULL, "  saying so");
	if (write(fd, "quit\n", 5) != 5)
		harness_bail("cannot stop the release service");
	close(fd);
}

int main(void)
{
	plan(29);
	setup_services();
	harness_start_conf("[limits]\nmax_held_calls_per_name = %d\n[services]\ndir = %s\n",
			   MAX_HELD, svc_dir);
	bus_t *bus = harness_connect();

	test_first_call(bus);
	test_caller_gone(bus);
	test_held_limit(bus);
	test_in_flight(bus);
	test_resend_bound(bus);
	test_synth_not_safe(bus);
	test_kill_loop(bus);
	test_crash_loop(bus);
	test_released(bus);

	uint64_t held = wait_stat(bus, st_held, 0, 10000);
	uint64_t pending = wait_stat(bus, st_pending, 0, 10000);
	ok(held == 0 && pending == 0, "at the end busd holds nothing (held %llu, pending %llu)",
	   (unsigned long long)held, (unsigned long long)pending);

	/* busd stops while a call is held: it is answered, not left waiting. */
	struct call late;
	call_echo(bus, "org.test.Gate2", &late, "late");
	held = wait_stat(bus, st_held, 1, 30000);
	int st = harness_stop();
	wait_answers(bus, &late, 1, 1, 30000);
	ok(held == 1 && late.n == 1 && (strcmp(late.err, BUS_ERROR_SERVICE_START_FAILED) == 0 ||
					strcmp(late.err, BUS_ERROR_NO_REPLY) == 0),
	   "busd stopping answers a held call (%s: %s)", late.err, late.msg);
	if (!is_int(st, 0, "busd exits with status 0 on SIGTERM"))
		harness_dump_log();
	bus_close(bus);
	int r = harness_done();
	cleanup_services();
	return r;
}
