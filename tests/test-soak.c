/* test-soak.c - 1,000 concurrent peers for about 30 s: 20 worker processes
 * of 50 connections each make calls to services/echo (Echo, and Delay so
 * that answers are in flight when their caller goes), emit events and
 * receive them, and drop and reopen connections at random, while another
 * process throws frames of random bytes at busd. Every call must get exactly
 * one answer, every reply must be the answer to its own call (the text
 * names worker, connection and call), every event must reach only the
 * subscribers of its topic with its own body, and busd's RSS must come back
 * near where it started once everyone has gone. Under $BUSD_WRAPPER
 * (valgrind) it runs 100 peers for 10 s; under ASan or a wrapper the RSS
 * check is skipped (their allocators keep freed memory for themselves). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "echo.pb-c.h"
#include "harness.h"
#include "raw.h"

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif

#define MAX_CONNS 50
#define WINDOW 4

static int n_workers = 20, n_conns = MAX_CONNS, seconds = 30;

struct conn;

struct call {
	struct conn *c;
	int gen;          /* the connection's generation when the call was made */
	char text[64];
	int answered;
};

struct conn {
	int w, i, gen;
	bus_t *bus;
	int inflight;
	int seq, ev_seq;
};

/* A worker's tally, sent to the parent as one line. */
static struct {
	long calls, replies, errors, wrong, twice;
	long emitted, received, bad_events;
	long reconnects;
} t;

static void on_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct call *k = ud;

	(void)bus;
	if (k->answered++) {
		t.twice++;
		return;
	}
	k->c->inflight--;
	if (reply) {
		Busd__Examples__EchoReply *rep = (Busd__Examples__EchoReply *)bus_msg_unpack(
			reply, &busd__examples__echo_reply__descriptor);
		if (rep && strcmp(rep->text, k->text) == 0) {
			t.replies++;
		} else {
			t.wrong++;
			fprintf(stderr, "soak: call '%s' answered with '%s'\n", k->text,
				rep ? rep->text : "(unparsable)");
		}
		if (rep)
			protobuf_c_message_free_unpacked(&rep->base, NULL);
	} else {
		/* Disconnected (we closed it) or NoReply; never anything else. */
		if (!bus_error_has_name(err, BUS_ERROR_DISCONNECTED) &&
		    !bus_error_has_name(err, BUS_ERROR_NO_REPLY)) {
			t.wrong++;
			fprintf(stderr, "soak: call '%s' failed: %s: %s\n", k->text, err->name,
				err->message);
		}
		t.errors++;
	}
	free(k);
}

/* Events carry their own topic as the body: soak.w<W>.c<C>.e<N>. */
static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct conn *c = ud;
	char prefix[32];

	(void)bus;
	t.received++;
	snprintf(prefix, sizeof(prefix), "soak.w%d.", c->w);
	if (strncmp(ev->member, prefix, strlen(prefix)) != 0 || ev->body_len != strlen(ev->member) ||
	    memcmp(ev->body, ev->member, ev->body_len) != 0) {
		t.bad_events++;
		fprintf(stderr, "soak: worker %d got event %s with %zu bytes\n", c->w, ev->member,
			(size_t)ev->body_len);
	}
}

static int conn_open(struct conn *c)
{
	bus_error_t err;
	char pattern[32];

	c->gen++;
	c->inflight = 0;
	if (bus_connect(&c->bus, harness_socket(), &err) < 0) {
		fprintf(stderr, "soak: worker %d: connect: %s\n", c->w, err.message);
		c->bus = NULL;
		return -1;
	}
	snprintf(pattern, sizeof(pattern), "soak.w%d.*", c->w);
	if (c->i % 2 == 0 && bus_subscribe(c->bus, NULL, pattern, on_event, c, &err) < 0)
		fprintf(stderr, "soak: worker %d: subscribe: %s\n", c->w, err.message);
	return 0;
}

static void send_call(struct conn *c)
{
	struct call *k = calloc(1, sizeof(*k));
	size_t len;
	void *body;
	const char *method, *type;

	if (!k)
		return;
	k->c = c;
	k->gen = c->gen;
	snprintf(k->text, sizeof(k->text), "w%d c%d g%d s%d", c->w, c->i, c->gen, ++c->seq);
	if (c->seq % 4 == 0) { /* a quarter wait 20 ms in echo: in flight when we go */
		Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
		req.ms = 20;
		req.text = k->text;
		body = harness_pack(&req.base, &len);
		method = "Delay";
		type = "busd.examples.DelayRequest";
	} else {
		Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
		req.text = k->text;
		body = harness_pack(&req.base, &len);
		method = "Echo";
		type = "busd.examples.EchoRequest";
	}
	int r = bus_call_async(c->bus, NULL, "org.busd.Echo", NULL, method, type, body, len, 30000000u,
			       on_reply, k);
	free(body);
	if (r < 0) {
		/* refused before it went out: no callback will come */
		fprintf(stderr, "soak: worker %d: call: %s\n", c->w, strerror(-r));
		t.wrong++;
		free(k);
		return;
	}
	t.calls++;
	c->inflight++;
}

static void emit_event(struct conn *c)
{
	char topic[64];
	snprintf(topic, sizeof(topic), "soak.w%d.c%d.e%d", c->w, c->i, ++c->ev_seq);
	if (bus_emit_raw(c->bus, topic, "", topic, strlen(topic)) == 0)
		t.emitted++;
}

static int worker(int ctl, void *arg)
{
	static struct conn conns[MAX_CONNS];
	struct pollfd pfd[MAX_CONNS];
	int w = (int)(intptr_t)arg;
	unsigned seed = (unsigned)w * 7919u + 1;

	for (int i = 0; i < n_conns; i++) {
		conns[i] = (struct conn){ .w = w, .i = i };
		if (conn_open(&conns[i]) < 0)
			return 10;
	}
	harness_send(ctl, "up");
	char line[32];
	/* A first crowd leaves, then the real one comes (see main). */
	if (harness_recv(ctl, line, sizeof(line), 60000) < 0)
		return 11;
	for (int i = 0; i < n_conns; i++)
		bus_close(conns[i].bus);
	harness_send(ctl, "closed");
	if (harness_recv(ctl, line, sizeof(line), 60000) < 0)
		return 11;
	for (int i = 0; i < n_conns; i++)
		if (conn_open(&conns[i]) < 0)
			return 10;
	uint64_t end = harness_now_ms() + (uint64_t)seconds * 1000u;
	while (harness_now_ms() < end) {
		for (int i = 0; i < n_conns; i++) {
			struct conn *c = &conns[i];
			int dice = rand_r(&seed) % 1000;
			if (dice < 3) { /* 0.3%: leave, with whatever is in flight */
				bus_close(c->bus);
				t.reconnects++;
				if (conn_open(c) < 0)
					return 12;
				continue;
			}
			while (c->inflight < WINDOW)
				send_call(c);
			if (dice < 50)
				emit_event(c);
		}
		for (int i = 0; i < n_conns; i++) {
			pfd[i].fd = bus_get_fd(conns[i].bus);
			pfd[i].events = (short)bus_get_events(conns[i].bus);
		}
		poll(pfd, (nfds_t)n_conns, 10);
		for (int i = 0; i < n_conns; i++)
			bus_process(conns[i].bus);
	}
	/* Drain: every call made must be answered. */
	uint64_t until = harness_now_ms() + 15000;
	int left;
	do {
		left = 0;
		for (int i = 0; i < n_conns; i++) {
			bus_process(conns[i].bus);
			left += conns[i].inflight;
		}
		if (left)
			harness_sleep_ms(5);
	} while (left && harness_now_ms() < until);
	for (int i = 0; i < n_conns; i++)
		bus_close(conns[i].bus);
	harness_send(ctl, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %d", t.calls, t.replies, t.errors,
		     t.wrong, t.twice, t.emitted, t.received, t.bad_events, t.reconnects, left);
	return 0;
}

/* Frames with a valid preamble and random header and body bytes. */
static int thrower(int ctl, void *arg)
{
	unsigned seed = 4242;
	uint8_t frame[WIRE_PREAMBLE_SIZE + 512 + 512];
	long sent = 0, answered = 0;
	char line[32];

	(void)arg;
	harness_send(ctl, "up");
	if (harness_recv(ctl, line, sizeof(line), 60000) < 0)
		return 11;
	uint64_t end = harness_now_ms() + (uint64_t)seconds * 1000u;
	while (harness_now_ms() < end) {
		raw_conn c;
		raw_frame f;
		if (raw_open(&c, harness_socket()) < 0)
			return 12;
		int hello = rand_r(&seed) % 2;
		if (hello && raw_hello(&c, 1, &f, 5000) < 0) {
			raw_close(&c);
			return 13;
		}
		uint32_t hl = 1 + (uint32_t)(rand_r(&seed) % 512), bl = (uint32_t)(rand_r(&seed) % 512);
		wire_preamble_encode(frame, hl, bl);
		for (uint32_t i = 0; i < hl + bl; i++)
			frame[WIRE_PREAMBLE_SIZE + i] = (uint8_t)rand_r(&seed);
		raw_write(&c, frame, WIRE_PREAMBLE_SIZE + hl + bl);
		sent++;
		/* busd answers it or drops the connection (however busy it is) */
		int r = raw_recv(&c, &f, 30000);
		answered += r == 1 || r == 0;
		raw_close(&c);
		harness_sleep_ms(20);
	}
	harness_send(ctl, "%ld %ld", sent, answered);
	return 0;
}

/* busd's anonymous resident memory (heap, stacks): what it allocated, not
 * the library pages a busy run has touched (those count in VmRSS too). */
/* busd's heap in use (Stats.heap_bytes) less its spare frame buffers, in
 * KiB; -1 when it cannot be asked. */
static long long busd_heap_kib(void)
{
	bus_t *bus = harness_connect();
	Bus__StatsReply *s = harness_stats(bus);
	long long kib = s ? (long long)(s->heap_bytes - s->frame_cache_bytes) / 1024 : -1;
	if (s)
		bus__stats_reply__free_unpacked(s, NULL);
	bus_close(bus);
	return kib;
}

static long busd_rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)harness_busd_pid());
	FILE *f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "RssAnon: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* busd gives freed memory back a second after a crowd has left, from a timer
 * it arms as the peers go. Once Stats counts only the peers left, every such
 * timer is due within a second; a round trip begun after that second is read
 * in a loop iteration that runs the timer, and a second one, after it, finds
 * the memory given back. */
static void wait_memory_given_back(uint32_t peers_left)
{
	bus_t *obs = harness_connect();
	uint64_t until = harness_now_ms() + 60000;
	Bus__StatsReply *st;
	uint32_t peers;

	do {
		st = harness_stats(obs);
		peers = st ? st->peers : UINT32_MAX;
		if (st)
			bus__stats_reply__free_unpacked(st, NULL);
		if (peers > peers_left + 1)
			harness_sleep_ms(20);
	} while (peers > peers_left + 1 && harness_now_ms() < until);
	if (peers > peers_left + 1)
		harness_bail("busd still counts %u peers, not %u", peers, peers_left + 1);
	harness_sleep_ms(1000);
	for (int i = 0; i < 2; i++) {
		st = harness_stats(obs);
		if (st)
			bus__stats_reply__free_unpacked(st, NULL);
	}
	bus_close(obs);
}

int main(void)
{
	const char *wrapper = getenv("BUSD_WRAPPER");
	if (wrapper && *wrapper) {
		n_workers = 10;
		n_conns = 10;
		seconds = 10;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max; /* busd inherits it */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	char conf[512];
	snprintf(conf, sizeof(conf), "%s/busd-soak.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	FILE *cf = fopen(conf, "w");
	if (!cf) {
		printf("Bail out! cannot write %s\n", conf);
		return 1;
	}
	fprintf(cf, "[limits]\nmax_connections_per_uid = 4096\n");
	fclose(cf);
	const char *args[] = { "-c", conf, NULL };
	plan(15);
	harness_start(args);

	harness_child echo, thr;
	harness_child *wk = calloc((size_t)n_workers, sizeof(*wk));
	char line[256];
	if (!wk || harness_spawn_echo(&echo) < 0) {
		printf("Bail out! services/echo did not start\n");
		return 1;
	}
	long rss0 = busd_rss_kib();
	int up = 0;
	for (int w = 0; w < n_workers; w++) {
		harness_fork(&wk[w], worker, (void *)(intptr_t)w);
		up += harness_recv(wk[w].ctl, line, sizeof(line), 60000) > 0 && strcmp(line, "up") == 0;
	}
	harness_fork(&thr, thrower, NULL);
	harness_recv(thr.ctl, line, sizeof(line), 10000);
	is_int(up, n_workers, "%d workers have %d connections each up: %d peers", n_workers,
	       n_conns, n_workers * n_conns);
	Bus__ListNamesReply *l = NULL;
	bus_t *obs = harness_connect();
	harness_list_names(obs, &l);
	ok(l && l->n_peers >= (size_t)(n_workers * n_conns), "busd lists them all (%zu peers)",
	   l ? l->n_peers : 0);
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
	bus_close(obs);

	/* busd's baseline is taken after a first crowd has come and gone:
	 * libevent keeps a small record per descriptor number ever used, and
	 * those sit among the freed peers' memory for good. What must not
	 * happen is growth beyond that. */
	for (int w = 0; w < n_workers; w++) {
		harness_send(wk[w].ctl, "close");
		harness_recv(wk[w].ctl, line, sizeof(line), 60000);
	}
	wait_memory_given_back(1); /* echo is left */
	long rss_base = busd_rss_kib();
	long long heap_base = busd_heap_kib();
	for (int w = 0; w < n_workers; w++)
		harness_send(wk[w].ctl, "go");
	harness_send(thr.ctl, "go");
	long peak = rss0;
	uint64_t end = harness_now_ms() + (uint64_t)seconds * 1000u;
	while (harness_now_ms() < end) {
		long r = busd_rss_kib();
		if (r > peak)
			peak = r;
		harness_sleep_ms(500);
	}

	long calls = 0, replies = 0, errors = 0, wrong = 0, twice = 0, emitted = 0, received = 0;
	long bad = 0, reconnects = 0, unanswered = 0, reported = 0;
	for (int w = 0; w < n_workers; w++) {
		long v[9];
		int left;
		if (harness_recv(wk[w].ctl, line, sizeof(line), 60000) > 0 &&
		    sscanf(line, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %d", &v[0], &v[1], &v[2], &v[3],
			   &v[4], &v[5], &v[6], &v[7], &v[8], &left) == 10) {
			reported++;
			calls += v[0];
			replies += v[1];
			errors += v[2];
			wrong += v[3];
			twice += v[4];
			emitted += v[5];
			received += v[6];
			bad += v[7];
			reconnects += v[8];
			unanswered += left;
		}
		harness_wait(&wk[w], 20000);
	}
	long sent = 0, answered = 0;
	if (harness_recv(thr.ctl, line, sizeof(line), 60000) > 0)
		sscanf(line, "%ld %ld", &sent, &answered);
	harness_wait(&thr, 10000);

	is_int((int)reported, n_workers, "every worker reports");
	ok(calls > 0 && replies + errors == calls, "every one of %ld calls got one answer "
	   "(%ld replies, %ld Disconnected/NoReply errors)", calls, replies, errors);
	is_int((int)unanswered, 0, "  none left unanswered");
	is_int((int)twice, 0, "  none answered twice");
	is_int((int)wrong, 0, "  no reply was another call's, no other error");
	ok(replies > calls / 2, "  most were replies (%ld of %ld)", replies, calls);
	ok(reconnects > 0, "connections were dropped and reopened at random (%ld)", reconnects);
	ok(emitted > 0 && received > 0, "events flowed (%ld emitted, %ld deliveries)", emitted,
	   received);
	is_int((int)bad, 0, "  each reached only its topic's subscribers, with its own body");
	ok(sent > 0 && answered == sent, "%ld frames of random bytes: each answered or dropped, none "
	   "left hanging (%ld)", sent, answered);

	wait_memory_given_back(1);
	long rss1 = busd_rss_kib();
	long long heap1 = busd_heap_kib();
	/* What busd's allocator holds for live objects, in every build (the
	 * sanitizer's own count under ASan): back where the crowd left it. */
	ok(heap_base >= 0 && heap1 >= 0 && heap1 <= heap_base + 256, "busd's heap in use comes back "
	   "to where a crowd leaves it: %lld KiB after the first crowd, %lld after the soak "
	   "(spare frame buffers not counted)", heap_base, heap1);
	int asan = 0;
#ifdef ASAN
	asan = 1;
#endif
	if (asan || (wrapper && *wrapper))
		skip(asan ? "under ASan, whose allocator keeps freed memory" :
			    "under $BUSD_WRAPPER, whose allocator keeps freed memory",
		     "busd's anonymous RSS (CI measures it in the normal build; idle %ld KiB, after a "
		     "crowd %ld, peak %ld, after %ld)", rss0, rss_base, peak, rss1);
	else
		ok(rss1 > 0 && rss1 <= rss_base + 256, "busd's anonymous RSS comes back to where a "
		   "crowd leaves it: %ld KiB after the first crowd, %ld at the peak of the soak, %ld "
		   "after (%ld before any peer)", rss_base, peak, rss1, rss0);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
	free(wk);
	int r = harness_done();
	unlink(conf);
	return r;
}
