/* busside.c - busbench's workloads through a real busd and libbus, as a user
 * gets them: a fresh busd per measurement, the server a protoc-c service
 * (busd.bench.Bench.Ping) exported with libbus, clients using bus_call,
 * bus_call_async and bus_emit_raw, subscribers bus_subscribe. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/bus.h>
#include "bench.h"
#include "bench.pb-c.h"
#include "bus.pb-c.h"
#include "wire.h"

static const char *busd_binary = "busd/busd";

struct busd {
	pid_t pid;
	char dir[64];
	char sock[128];
	char conf[128];
};

void busd_set_binary(const char *path)
{
	busd_binary = path;
}

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* The sweep's busd takes frames of a 16 MiB body and queues that let a
 * window of them flow: events are dropped for a subscriber whose queue is
 * above queue_hold_bytes, and a frame larger than the hold would make every
 * event after it a drop. The other measurements keep busd's defaults (the
 * slow consumer's flood is sized by the default hold). */
static const char large_limits[] = "max_frame_size = 32M\n"
				   "queue_hold_bytes = 128M\n"
				   "max_queued_bytes = 256M\n"
				   "max_queued_bytes_per_uid = 1G\n"
				   "max_input_bytes_per_uid = 256M\n";

static void busd_start(struct busd *b, int large)
{
	snprintf(b->dir, sizeof(b->dir), "/tmp/busbench.XXXXXX");
	if (!mkdtemp(b->dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(b->sock, sizeof(b->sock), "%s/bus.sock", b->dir);
	/* busbench's idle peers all have one uid: lift the per-uid limit. */
	snprintf(b->conf, sizeof(b->conf), "%s/busd.conf", b->dir);
	FILE *f = fopen(b->conf, "w");
	if (!f || fprintf(f, "[limits]\nmax_connections_per_uid = 1000000\n%s",
			   large ? large_limits : "") < 0 || fclose(f) != 0)
		die("%s: %s", b->conf, strerror(errno));
	b->pid = fork_child();
	if (b->pid == 0) {
		pin_broker();
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execl(busd_binary, busd_binary, "-c", b->conf, "--socket", b->sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 2000; i++) {
		int fd = sock_connect(b->sock);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (waitpid(b->pid, NULL, WNOHANG) == b->pid)
			die("busd (%s) exited at start", busd_binary);
		usleep(5000);
	}
	die("busd did not listen on %s within 10 s", b->sock);
}

static void busd_stop(struct busd *b)
{
	int st;

	kill(b->pid, SIGTERM);
	if (waitpid(b->pid, &st, 0) == b->pid && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		die("busd did not exit cleanly on SIGTERM (status 0x%x)", st);
	unlink(b->conf);
	rmdir(b->dir);
}

static bus_t *connect_or_die(const struct busd *b)
{
	bus_error_t err;
	bus_t *bus;

	if (bus_connect(&bus, b->sock, &err) < 0)
		die("bus_connect: %s: %s", err.name, err.message);
	return bus;
}

/* ---------------------------------------------------------------- server */

static void bench_ping(Busd__Bench__Bench_Service *svc, const Busd__Bench__Blob *in,
		       Busd__Bench__Blob_Closure closure, void *closure_data)
{
	Busd__Bench__Blob out = BUSD__BENCH__BLOB__INIT;

	(void)svc;
	out.data = in->data;
	closure(&out, closure_data);
}

static pid_t server_start(const struct busd *b, struct shared *sh)
{
	pid_t pid = fork_child();
	if (pid == 0) {
		static Busd__Bench__Bench_Service svc = BUSD__BENCH__BENCH__INIT(bench_);
		bus_error_t err;
		bus_t *bus = connect_or_die(b);
		if (bus_request_name(bus, BENCH_NAME, &err) < 0)
			die("server: %s: %s", err.name, err.message);
		bus_export(bus, NULL, BENCH_NAME, &svc.base, NULL);
		atomic_fetch_add(&sh->ready, 1);
		bus_run(bus);
		bus_close(bus);
		_exit(0);
	}
	shared_wait_ready(sh, 1);
	return pid;
}

/* The request body: a Blob of w->body bytes, packed once. */
static uint8_t *blob_new(const struct workload *w, size_t *len)
{
	Busd__Bench__Blob blob = BUSD__BENCH__BLOB__INIT;
	uint8_t *data = malloc(w->body ? w->body : 1);

	if (!data)
		die("out of memory");
	memset(data, 0xa5, w->body);
	blob.data.data = data;
	blob.data.len = w->body;
	*len = busd__bench__blob__get_packed_size(&blob);
	uint8_t *out = malloc(*len ? *len : 1);
	if (!out)
		die("out of memory");
	busd__bench__blob__pack(&blob, out);
	free(data);
	return out;
}

/* ---------------------------------------------------------------- RTT */

/* A Ping's timeout, in microseconds: 10 s, and 4 s more per MiB of body, so
 * that a 16 MiB round trip on a loaded machine under the sanitizers (about
 * 2 s there when the machine is idle) is not taken for a lost one. */
static uint64_t ping_timeout(size_t len)
{
	return 10000000u + (uint64_t)len * 4 / 1024 / 1024 * 1000000u;
}

static void ping(bus_t *bus, const uint8_t *body, size_t len)
{
	bus_error_t err;
	void *reply = NULL;
	size_t reply_len = 0;

	if (bus_call(bus, BENCH_NAME, NULL, "Ping", "busd.bench.Blob", body, len, ping_timeout(len),
		     &err, &reply, &reply_len) < 0)
		die("Ping: %s: %s", err.name, err.message);
	if (reply_len != len)
		die("Ping: the reply has %zu bytes, the request %zu", reply_len, len);
	free(reply);
}

struct bus_rtt {
	struct shared *sh;
	struct busd b;
	pid_t server;
	bus_t *bus;
	uint8_t *body;
	size_t len;
	pid_t sleeper, flooder; /* bus_rtt_open_flooded() */
};

struct bus_rtt *bus_rtt_open(const struct workload *w)
{
	struct bus_rtt *t = calloc(1, sizeof(*t));

	if (!t)
		die("out of memory");
	t->sh = shared_new();
	busd_start(&t->b, w->large);
	t->server = server_start(&t->b, t->sh);
	t->bus = connect_or_die(&t->b);
	t->body = blob_new(w, &t->len);
	return t;
}

void bus_rtt_pids(const struct bus_rtt *t, pid_t *broker, pid_t *server)
{
	*broker = t->b.pid;
	*server = t->server;
}

void bus_rtt_trip(void *ctx)
{
	struct bus_rtt *t = ctx;

	ping(t->bus, t->body, t->len);
}

#define FLOOD_TOPIC "bench.flood"
#define FLOOD_BODY 4096

static void ignore_event(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	(void)m;
	(void)ud;
}

/* The same, beside a slow consumer: a subscriber that never reads, and an
 * emitter that first fills busd's queue toward it (16 MiB, twice the
 * default queue_hold_bytes) and then goes on at 1,000 events of 4 KiB a
 * second, all dropped for it. The round trips must not notice. */
struct bus_rtt *bus_rtt_open_flooded(const struct workload *w)
{
	struct bus_rtt *t = bus_rtt_open(w);

	t->sleeper = fork_child();
	if (t->sleeper == 0) {
		bus_error_t err;
		bus_t *bus = connect_or_die(&t->b);
		if (bus_subscribe(bus, NULL, FLOOD_TOPIC, ignore_event, NULL, &err) < 0)
			die("sleeper: %s: %s", err.name, err.message);
		atomic_fetch_add(&t->sh->ready, 1);
		for (;;)
			pause(); /* never reads */
	}
	shared_wait_ready(t->sh, 2);
	t->flooder = fork_child();
	if (t->flooder == 0) {
		static uint8_t body[FLOOD_BODY];
		bus_t *bus = connect_or_die(&t->b);
		for (int i = 0; i < 4096; i++) {
			if (bus_emit_raw(bus, FLOOD_TOPIC, "", body, sizeof(body)) < 0)
				die("flooder: lost busd");
			if (i % 64 == 63)
				bus_flush(bus);
		}
		bus_flush(bus);
		atomic_fetch_add(&t->sh->ready, 1);
		for (;;) {
			if (bus_emit_raw(bus, FLOOD_TOPIC, "", body, sizeof(body)) < 0)
				die("flooder: lost busd");
			bus_flush(bus);
			usleep(1000);
		}
	}
	shared_wait_ready(t->sh, 3);
	usleep(200000);
	return t;
}

/* busd's count of events dropped for subscribers that did not keep up. */
uint64_t bus_rtt_dropped(struct bus_rtt *t)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	uint8_t buf[16];
	size_t len = bus__stats_request__pack(&req, buf), rlen = 0;
	void *rep = NULL;
	bus_error_t err;

	if (bus_call(t->bus, "bus", "bus.Bus", "Stats", "bus.StatsRequest", buf, len, 10000000u,
		     &err, &rep, &rlen) < 0)
		die("Stats: %s: %s", err.name, err.message);
	Bus__StatsReply *s = bus__stats_reply__unpack(NULL, rlen, rep);
	free(rep);
	if (!s)
		die("Stats: the reply does not parse");
	uint64_t n = s->events_dropped;
	bus__stats_reply__free_unpacked(s, NULL);
	return n;
}

void bus_rtt_close(struct bus_rtt *t)
{
	if (t->flooder)
		child_stop(t->flooder);
	if (t->sleeper)
		child_stop(t->sleeper);
	free(t->body);
	bus_close(t->bus);
	child_stop(t->server);
	busd_stop(&t->b);
	shared_free(t->sh);
	free(t);
}

/* ---------------------------------------------------------------- pipelined */

struct pipeline {
	const uint8_t *body;
	size_t len;
	unsigned window;
	uint64_t sent, answered, limit, end;
	int sending;
};

static void pipeline_send(bus_t *bus, struct pipeline *p);

static void pipeline_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct pipeline *p = ud;

	if (!reply)
		die("pipelined Ping: %s: %s", err->name, err->message);
	p->answered++;
	if (p->sending && p->sent >= p->limit)
		p->sending = 0;
	if (p->sending && ((p->answered & 63) == 0 || p->len > 4096) && now_ns() >= p->end)
		p->sending = 0;
	if (p->sending)
		pipeline_send(bus, p);
	else if (p->answered == p->sent)
		bus_exit(bus, 0);
}

static void pipeline_send(bus_t *bus, struct pipeline *p)
{
	if (bus_call_async(bus, NULL, BENCH_NAME, NULL, "Ping", "busd.bench.Blob", p->body, p->len,
			   ping_timeout(p->len), pipeline_reply, p) < 0)
		die("bus_call_async failed");
	p->sent++;
}

/* Keep p->window calls outstanding until p->limit are sent or the clock
 * passes p->end; then wait for the last answers. */
static void pipeline_run(bus_t *bus, struct pipeline *p, uint64_t limit, uint64_t end)
{
	p->sent = p->answered = 0;
	p->limit = limit;
	p->end = end;
	p->sending = 1;
	for (unsigned i = 0; i < p->window && p->sent < limit; i++)
		pipeline_send(bus, p);
	if (bus_run(bus) < 0)
		die("pipelined: lost the connection to busd");
}

/* A warm-up of WARM_WINDOWS windows of calls, then w->window calls
 * outstanding for w->seconds. */
void bus_pipelined(const struct workload *w, struct result *r)
{
	struct shared *sh = shared_new();
	struct pipeline p = { .window = w->window };
	struct busd b;

	busd_start(&b, w->large);
	pid_t server = server_start(&b, sh);
	bus_t *bus = connect_or_die(&b);
	uint8_t *body = blob_new(w, &p.len);
	struct faults fl;
	p.body = body;

	pipeline_run(bus, &p, (uint64_t)WARM_WINDOWS * w->window, UINT64_MAX);
	faults_start(&fl, b.pid, server);
	uint64_t t0 = now_ns();
	pipeline_run(bus, &p, UINT64_MAX, t0 + (uint64_t)(w->seconds * 1e9));
	double secs = (double)(now_ns() - t0) / 1e9;
	faults_stop(&fl, (double)p.answered, r);
	r->rate = p.answered / secs;
	r->mbps = r->rate * (double)w->body / 1e6;

	free(body);
	bus_close(bus);
	child_stop(server);
	busd_stop(&b);
	shared_free(sh);
}

/* ---------------------------------------------------------------- fan-out */

struct sub {
	struct shared *sh;
	int slot;
	uint64_t n;
};

static void sub_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct sub *s = ud;

	(void)bus;
	(void)ev;
	s->n++;
	atomic_store_explicit(&s->sh->t_last_ns[s->slot], now_ns(), memory_order_relaxed);
	atomic_store_explicit(&s->sh->received[s->slot], s->n, memory_order_release);
}

void bus_fanout(const struct workload *w, struct result *r)
{
	struct shared *sh = shared_new();
	pid_t subs[BENCH_MAX_SUBS];
	struct busd b;
	size_t len;

	if (w->subscribers < 1 || w->subscribers > BENCH_MAX_SUBS)
		die("fan-out to %u subscribers: 1 to %d", w->subscribers, BENCH_MAX_SUBS);
	busd_start(&b, w->large);
	for (unsigned i = 0; i < w->subscribers; i++) {
		subs[i] = fork_child();
		if (subs[i] == 0) {
			struct sub s = { sh, (int)i, 0 };
			bus_error_t err;
			bus_t *bus = connect_or_die(&b);
			if (bus_subscribe(bus, NULL, BENCH_TOPIC, sub_event, &s, &err) < 0)
				die("subscribe: %s: %s", err.name, err.message);
			atomic_fetch_add(&sh->ready, 1);
			bus_run(bus);
			bus_close(bus);
			_exit(0);
		}
	}
	shared_wait_ready(sh, (int)w->subscribers);
	bus_t *bus = connect_or_die(&b);
	uint8_t *body = blob_new(w, &len);

	uint64_t sent = 0;
	struct faults fl;
	/* The warm-up is the measured loop itself, for WARM_WINDOWS windows. */
	for (; sent < (uint64_t)WARM_WINDOWS * w->window; sent++) {
		if (sent >= w->window && (bus_get_events(bus) & POLLOUT) && bus_flush(bus) < 0)
			die("emit: lost the connection to busd");
		window_wait(sh, w->subscribers, sent, w->window);
		if (bus_emit_raw(bus, BENCH_TOPIC, "busd.bench.Blob", body, len) < 0)
			die("bus_emit_raw failed");
	}
	if (bus_flush(bus) < 0)
		die("emit: lost the connection to busd");
	sh->warm = sent;
	oneway_warmed(sh, w->subscribers);
	faults_start(&fl, b.pid, subs[0]);
	sh->t_start_ns = now_ns();
	uint64_t end = sh->t_start_ns + (uint64_t)(w->seconds * 1e9);
	for (;;) {
		if (time_to_look(w, sent) && now_ns() >= end)
			break;
		if (sent >= w->window && (bus_get_events(bus) & POLLOUT) && bus_flush(bus) < 0)
			die("emit: lost the connection to busd");
		window_wait(sh, w->subscribers, sent, w->window);
		if (bus_emit_raw(bus, BENCH_TOPIC, "busd.bench.Blob", body, len) < 0)
			die("bus_emit_raw failed");
		sent++;
	}
	if (bus_flush(bus) < 0)
		die("emit: lost the connection to busd");
	atomic_store(&sh->sent, sent);
	oneway_collect(sh, w, r);
	faults_stop(&fl, (double)sent, r);

	free(body);
	bus_close(bus);
	for (unsigned i = 0; i < w->subscribers; i++)
		child_stop(subs[i]);
	busd_stop(&b);
	shared_free(sh);
}

/* ---------------------------------------------------------------- scale */

static uint64_t rss_of(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kb = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb * 1024u;
}

/* A peer that says Hello and then stays idle: raw bytes, so that 10,000 of
 * them cost busbench little. */
static int idle_peer(const struct busd *b)
{
	static uint8_t frame[256];
	static size_t frame_len;

	if (!frame_len) {
		Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
		req.protocol_version = WIRE_VERSION;
		req.client = (char *)"busbench idle peer";
		wire_header h = {
			.kind = WIRE_KIND_CALL, .serial = 1,
			.destination = wire_str_c(BUS_NAME), .interface = wire_str_c("bus.Bus"),
			.member = wire_str_c("Hello"), .body_type = wire_str_c("bus.HelloRequest"),
		};
		size_t hlen = wire_header_size(&h), blen = bus__hello_request__get_packed_size(&req);
		wire_preamble_encode(frame, (uint32_t)hlen, (uint32_t)blen);
		wire_header_encode(&h, frame + WIRE_PREAMBLE_SIZE);
		bus__hello_request__pack(&req, frame + WIRE_PREAMBLE_SIZE + hlen);
		frame_len = WIRE_PREAMBLE_SIZE + hlen + blen;
	}
	int fd = sock_connect(b->sock);
	if (fd < 0)
		die("idle peer: connect: %s", strerror(-fd));
	write_all(fd, frame, frame_len);
	return fd;
}

/* Every peer's Hello answered: busd has set each of them up. */
static void idle_wait_replies(const int *fds, size_t from, size_t to)
{
	uint8_t buf[512];

	for (size_t i = from; i < to; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		if (poll(&p, 1, 10000) != 1 || read(fds[i], buf, sizeof(buf)) <= 0)
			die("idle peer %zu: no answer to Hello", i);
	}
}

/* busd's own count of connected peers (bus.Bus.Stats), this one included. */
static unsigned busd_peers(const struct busd *b)
{
	bus_t *bus = connect_or_die(b);
	bus_error_t err;
	void *reply = NULL;
	size_t len = 0;

	if (bus_call(bus, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", NULL, 0, 10000000u,
		     &err, &reply, &len) < 0)
		die("Stats: %s: %s", err.name, err.message);
	Bus__StatsReply *s = bus__stats_reply__unpack(NULL, len, reply);
	free(reply);
	if (!s)
		die("Stats: the reply does not parse");
	unsigned n = s->peers;
	bus__stats_reply__free_unpacked(s, NULL);
	bus_close(bus);
	return n;
}

void bus_scale(const unsigned *peers, size_t n, uint64_t *rss_idle, uint64_t *rss)
{
	struct busd b;
	unsigned max = peers[n - 1];
	int *fds = calloc(max, sizeof(*fds));
	size_t open = 0;

	if (!fds)
		die("out of memory");
	busd_start(&b, 0);
	usleep(200000);
	*rss_idle = rss_of(b.pid);
	for (size_t k = 0; k < n; k++) {
		size_t from = open;
		for (; open < peers[k]; open++)
			fds[open] = idle_peer(&b);
		idle_wait_replies(fds, from, open);
		usleep(200000);
		rss[k] = rss_of(b.pid);
		unsigned have = busd_peers(&b);
		if (have != open + 1)
			die("busd has %u peers, not the %zu idle ones and the one asking", have, open + 1);
	}
	for (size_t i = 0; i < open; i++)
		close(fds[i]);
	free(fds);
	busd_stop(&b);
}
