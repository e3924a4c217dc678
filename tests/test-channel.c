/* test-channel.c - shared-memory channels (<bus/channel.h>) between real
 * processes, asked for through a real busd, docs/data-plane.md
 * "Shared-memory channels":
 *  - 1 GiB from the client to the service and 256 MiB back, each with its
 *    checksum, the service reading without a copy (bus_channel_peek());
 *    then end of file when the service closes;
 *  - back-pressure: a NONBLOCK writer gets -EAGAIN once the ring is full,
 *    the loop descriptor is not readable then, turns readable once the
 *    reader took the messages, and the writer goes on;
 *  - the loop descriptor with poll() for receiving; a message larger than
 *    the ring is refused (-EMSGSIZE), the largest allowed one passes;
 *  - the writer killed with SIGKILL mid-transfer, while the reader sleeps,
 *    and while it waits in poll(): the reader gets every message sent,
 *    then end of file; the
 *    reader killed while the writer sleeps on a full ring: -EPIPE;
 *  - a hostile shared area (indices and lengths the test writes into the
 *    ring) fails the channel with -EPROTO; a memfd that is not sealed, or
 *    not of the size its header says, is refused before it is mapped;
 *  - the request goes through busd's policy: a denied call gets no channel
 *    and the service never hears of it.
 * A kill is waited for by the other side's own result (a child process
 * with a deadline), never by time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bus/bus.h>
#include <bus/channel.h>
#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "tap.h"

#define SVC "org.test.Chan"
#define DENIED "org.test.ChanDenied"
#define CHUNK (64 * 1024)
#define MIB (1024ull * 1024ull)

/* ---------------------------------------------------------------- data */

/* A stream of pseudo-random words, and a checksum over words. */
static void fill(void *buf, size_t len, uint64_t *state)
{
	uint8_t *p = buf;
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t x = *state;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		*state = x;
		memcpy(p + i, &x, 8);
	}
}

static uint64_t sum(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
	}
	return h;
}

#define SUM_SEED 0xcbf29ce484222325ull

/* ---------------------------------------------------------------- service */

/* The service: the Echo method answers "MODE RING [N]" with a channel of
 * RING bytes, served by a thread of its own in MODE:
 *   echo    every message sent back;
 *   sink    read (without a copy) and checksum until an 8-byte message,
 *           then answer 16 bytes: byte count and checksum;
 *   source  send N bytes in 64 KiB messages, a 16-byte trailer (count,
 *           checksum), then close;
 *   gate    nothing until the test says "gate" on ctl, then read until
 *           end of file (the test learns the count as "gated N");
 *   flood   send sequence numbers (8 bytes) until it fails;
 *   stall   send 100 sequence numbers, then wait for a gate. */
struct worker {
	bus_channel_t *ch;
	char mode[16];
	uint64_t n;
};

#define MAX_WORKERS 32
static struct worker workers[MAX_WORKERS];
static atomic_int opened;
static int gate_pipe[2] = { -1, -1 };
static int service_ctl = -1;

static void gate_wait(void)
{
	char c;
	while (read(gate_pipe[0], &c, 1) < 0 && errno == EINTR)
		;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	bus_channel_t *ch = w->ch;
	char *buf = malloc(CHUNK);

	if (!buf) {
		bus_channel_close(ch);
		w->ch = NULL;
		return NULL;
	}

	if (strcmp(w->mode, "echo") == 0) {
		char *msg = malloc(bus_channel_max_message(ch));
		ssize_t n;
		while (msg && (n = bus_channel_recv(ch, msg, bus_channel_max_message(ch), 0)) >= 0) {
			const void *d;
			size_t l;
			if (n == 0 && bus_channel_peek(ch, &d, &l, BUS_CHANNEL_NONBLOCK) == 0)
				break;
			if (bus_channel_send(ch, msg, (size_t)n, 0) < 0)
				break;
		}
		free(msg);
	} else if (strcmp(w->mode, "sink") == 0) {
		uint64_t h = SUM_SEED, bytes = 0;
		const void *d;
		size_t l;
		while (bus_channel_peek(ch, &d, &l, 0) == 1) {
			if (l == 8) {
				bus_channel_consume(ch);
				uint64_t out[2] = { bytes, h };
				bus_channel_send(ch, out, sizeof(out), 0);
				break;
			}
			h = sum(h, d, l);
			bytes += l;
			bus_channel_consume(ch);
		}
	} else if (strcmp(w->mode, "source") == 0) {
		uint64_t state = 0x9e3779b97f4a7c15ull, h = SUM_SEED, bytes = 0;
		while (bytes < w->n) {
			fill(buf, CHUNK, &state);
			if (bus_channel_send(ch, buf, CHUNK, 0) != CHUNK)
				break;
			h = sum(h, buf, CHUNK);
			bytes += CHUNK;
		}
		uint64_t out[2] = { bytes, h };
		bus_channel_send(ch, out, sizeof(out), 0);
	} else if (strcmp(w->mode, "gate") == 0) {
		gate_wait();
		uint64_t n = 0;
		while (bus_channel_recv(ch, buf, CHUNK, 0) > 0)
			n++;
		harness_send(service_ctl, "gated %llu", (unsigned long long)n);
	} else if (strcmp(w->mode, "flood") == 0 || strcmp(w->mode, "stall") == 0) {
		int stall = w->mode[0] == 's';
		for (uint64_t i = 0;; i++) {
			if (stall && i == 100)
				gate_wait();
			if (bus_channel_send(ch, &i, 8, 0) != 8)
				break;
		}
	}
	free(buf);
	bus_channel_close(ch);
	w->ch = NULL;
	return NULL;
}

static void chan_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *req,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply rep = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	unsigned long long ring = 0, n = 0;
	char mode[16];
	int k = atomic_fetch_add(&opened, 1);

	(void)svc;
	(void)closure;
	if (k >= MAX_WORKERS || sscanf(req->text, "%15s %llu %llu", mode, &ring, &n) < 2) {
		bus_call_fail(closure_data, "org.test.Error.Invalid", "bad request '%s'", req->text);
		return;
	}
	struct worker *w = &workers[k];
	snprintf(w->mode, sizeof(w->mode), "%s", mode);
	w->n = n;
	int r = bus_channel_new(&w->ch, ring);
	if (r < 0) {
		bus_call_fail(closure_data, "org.test.Error.Invalid", "bus_channel_new: %s",
			      strerror(-r));
		return;
	}
	rep.text = mode;
	bus_channel_reply(closure_data, &rep.base, w->ch);
	pthread_t t;
	if (pthread_create(&t, NULL, work, w) == 0)
		pthread_detach(t);
}

static void chan_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *req,
		       Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)req;
	(void)closure;
	bus_call_fail(closure_data, "org.test.Error.Unused", "not used here");
}

static void chan_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *req,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)req;
	(void)closure;
	bus_call_fail(closure_data, "org.test.Error.Unused", "not used here");
}

static Busd__Examples__Echo_Service chan_service = BUSD__EXAMPLES__ECHO__INIT(chan_);

/* "gate": let one gated worker go; "count": how many channels were asked for. */
static void on_line(bus_t *bus, const char *line, void *ud)
{
	(void)bus;
	(void)ud;
	if (strcmp(line, "gate") == 0)
		(void)!write(gate_pipe[1], "g", 1);
	else if (strcmp(line, "count") == 0)
		harness_send(service_ctl, "count %d", atomic_load(&opened));
}

/* harness_fn: serve under the name arg. */
static int service_main(int ctl, void *arg)
{
	const char *name = arg;
	bus_error_t err;
	bus_t *bus = NULL;

	service_ctl = ctl;
	if (pipe2(gate_pipe, O_CLOEXEC) < 0 || bus_connect(&bus, NULL, &err) < 0 ||
	    bus_request_name(bus, name, &err) < 0 ||
	    bus_export(bus, NULL, NULL, &chan_service.base, &err) < 0) {
		harness_send(ctl, "error %s", err.name);
		return 1;
	}
	harness_send(ctl, "ready");
	int r = exporter_serve(bus, ctl, on_line, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

static void start_service(harness_child *c, const char *name)
{
	char line[128];

	if (harness_fork(c, service_main, (void *)name) < 0 ||
	    harness_recv(c->ctl, line, sizeof(line), 10000) < 0 || strcmp(line, "ready") != 0)
		harness_bail("the channel service %s did not start", name);
}

/* ---------------------------------------------------------------- client */

static int open_chan(bus_t *bus, const char *dest, const char *req_text, bus_channel_t **ch,
		     bus_error_t *err)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;

	req.text = (char *)req_text;
	void *body = harness_pack(&req.base, &len);
	int r = bus_channel_open(bus, dest, NULL, "Echo", "busd.examples.EchoRequest", body, len,
				 10000000, err, ch, NULL, NULL);
	free(body);
	return r;
}

static bus_channel_t *open_or_bail(bus_t *bus, const char *dest, const char *text)
{
	bus_channel_t *ch = NULL;
	bus_error_t err;

	if (open_chan(bus, dest, text, &ch, &err) < 0)
		harness_bail("no channel from %s for '%s': %s %s", dest, text, err.name, err.message);
	return ch;
}

static int readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void test_gigabyte(bus_t *bus)
{
	static uint8_t buf[CHUNK];
	bus_channel_t *ch = open_or_bail(bus, SVC, "sink 1048576");
	uint64_t state = 0x2545f4914f6cdd1dull, h = SUM_SEED, bytes = 0;
	int bad = 0;

	while (bytes < 1024 * MIB) {
		fill(buf, CHUNK, &state);
		h = sum(h, buf, CHUNK);
		if (bus_channel_send(ch, buf, CHUNK, 0) != CHUNK) {
			bad = 1;
			break;
		}
		bytes += CHUNK;
	}
	uint64_t end = 0, got[2] = { 0, 0 };
	ok(!bad && bus_channel_send(ch, &end, 8, 0) == 8, "1 GiB sent through a 1 MiB channel in 64 KiB messages");
	is_int(bus_channel_recv(ch, got, sizeof(got), 0), 16, "the service answers on the channel");
	ok(got[0] == bytes && got[1] == h,
	   "the service read 1 GiB without a copy, checksum equal (%llu bytes, %016llx)",
	   (unsigned long long)got[0], (unsigned long long)got[1]);
	bus_channel_close(ch);

	ch = open_or_bail(bus, SVC, "source 1048576 268435456");
	state = 0x9e3779b97f4a7c15ull;
	uint64_t want = SUM_SEED;
	h = SUM_SEED;
	bytes = 0;
	bad = 0;
	static uint8_t expect[CHUNK];
	ssize_t n;
	while ((n = bus_channel_recv(ch, buf, sizeof(buf), 0)) == CHUNK) {
		fill(expect, CHUNK, &state);
		want = sum(want, expect, CHUNK);
		h = sum(h, buf, CHUNK);
		bad |= memcmp(buf, expect, CHUNK) != 0;
		bytes += CHUNK;
	}
	memcpy(got, buf, sizeof(got));
	ok(n == 16 && !bad && bytes == 256 * MIB && got[0] == bytes && got[1] == h && h == want,
	   "256 MiB the other way, every message as sent, checksum equal (%llu bytes)",
	   (unsigned long long)bytes);
	is_int(bus_channel_recv(ch, buf, sizeof(buf), 0), 0,
	       "then end of file once the service closed its side");
	is_int(bus_channel_send(ch, buf, 8, 0), -EPIPE, "and sending gets -EPIPE");
	bus_channel_close(ch);
}

static void test_backpressure(bus_t *bus, harness_child *svc)
{
	char msg[1000], line[64];
	bus_channel_t *ch = open_or_bail(bus, SVC, "gate 4096");
	unsigned sent = 0;
	ssize_t r;

	memset(msg, 'b', sizeof(msg));
	while ((r = bus_channel_send(ch, msg, sizeof(msg), BUS_CHANNEL_NONBLOCK)) == (ssize_t)sizeof(msg))
		sent++;
	is_int(r, -EAGAIN, "a NONBLOCK writer gets -EAGAIN when the ring is full");
	is_int(sent, 4096 / 1008, "  after as many messages as the 4 KiB ring holds (%u)", sent);
	int fd = bus_channel_get_fd(ch);
	ok(fd >= 0 && !readable(fd, 0), "  the loop descriptor is not readable while it is full");
	harness_send(svc->ctl, "gate");
	ok(readable(fd, 10000), "it turns readable once the reader takes the messages");
	unsigned more = 0;
	for (int i = 0; i < 100; i++) {
		r = bus_channel_send(ch, msg, sizeof(msg), BUS_CHANNEL_NONBLOCK);
		if (r == -EAGAIN) {
			if (!readable(fd, 10000))
				break;
			i--;
			continue;
		}
		if (r != (ssize_t)sizeof(msg))
			break;
		more++;
	}
	is_int(more, 100, "the writer goes on: 100 more messages, waiting in poll() when full");
	bus_channel_close(ch);
	int n = harness_recv(svc->ctl, line, sizeof(line), 10000);
	char want[32];
	snprintf(want, sizeof(want), "gated %u", sent + more);
	ok(n > 0 && strcmp(line, want) == 0, "the reader got all %u, then end of file (%s)",
	   sent + more, n > 0 ? line : "nothing");
}

static void test_loop_and_sizes(bus_t *bus)
{
	bus_channel_t *ch = open_or_bail(bus, SVC, "echo 8192");
	char buf[8192];
	int fd = bus_channel_get_fd(ch);

	is_int(bus_channel_recv(ch, buf, sizeof(buf), BUS_CHANNEL_NONBLOCK), -EAGAIN,
	       "NONBLOCK receive on an empty channel: -EAGAIN");
	ok(!readable(fd, 0), "  the loop descriptor is not readable");
	is_int(bus_channel_send(ch, "ping", 4, 0), 4, "a message goes to the echo service");
	ok(readable(fd, 10000), "the loop descriptor turns readable with its echo");
	ssize_t n = bus_channel_recv(ch, buf, sizeof(buf), BUS_CHANNEL_NONBLOCK);
	ok(n == 4 && memcmp(buf, "ping", 4) == 0, "and a NONBLOCK receive gets it");

	size_t max = bus_channel_max_message(ch);
	is_int((long long)max, 8192 - 8, "the largest message is the ring less 8 bytes");
	is_int(bus_channel_send(ch, buf, max + 1, 0), -EMSGSIZE, "one byte more: -EMSGSIZE");
	memset(buf, 'm', max);
	is_int(bus_channel_send(ch, buf, max, 0), (long long)max, "the largest passes");
	char small[16];
	is_int(bus_channel_recv(ch, small, sizeof(small), 0), -EMSGSIZE,
	       "its echo into a smaller buffer: -EMSGSIZE, and it stays");
	const void *d;
	size_t l;
	int r = bus_channel_peek(ch, &d, &l, 0);
	ok(r == 1 && l == max && ((const char *)d)[max - 1] == 'm',
	   "bus_channel_peek() gives it in place (%zu bytes)", l);
	is_int(bus_channel_consume(ch), 0, "bus_channel_consume() lets it go");
	is_int(bus_channel_consume(ch), -EINVAL, "a second consume: -EINVAL");
	bus_channel_close(ch);
}

/* A child that opens a channel to arg ("NAME MODE [loop]") and reads: it
 * reports "got 1000" after 1,000 messages (flood) or "drained" when none
 * is left (stall), and exits 0 if it read 8-byte sequence numbers in order
 * until end of file. It waits in a blocking receive, or with "loop" in
 * poll() on the channel's descriptor. */
static int reader_main(int ctl, void *arg)
{
	char name[64], mode[32], how[8] = "";
	bus_t *bus = NULL;
	bus_error_t err;

	sscanf(arg, "%63s %31s %7s", name, mode, how);
	if (bus_connect(&bus, NULL, &err) < 0)
		return 10;
	bus_channel_t *ch = NULL;
	char text[64];
	snprintf(text, sizeof(text), "%s 4096", mode);
	if (open_chan(bus, name, text, &ch, &err) < 0)
		return 11;
	uint64_t want = 0, got;
	int stall = strcmp(mode, "stall") == 0, told = 0;
	ssize_t n;
	for (;;) {
		n = bus_channel_recv(ch, &got, 8, BUS_CHANNEL_NONBLOCK);
		if (n == -EAGAIN) {
			if (stall && want == 100 && !told++)
				harness_send(ctl, "drained");
			if (strcmp(how, "loop") != 0)
				n = bus_channel_recv(ch, &got, 8, 0); /* sleeps */
			else if (readable(bus_channel_get_fd(ch), 60000))
				continue;
		}
		if (n != 8 || got != want)
			break;
		if (++want == 1000 && !stall)
			harness_send(ctl, "got 1000");
	}
	bus_channel_close(ch);
	bus_close(bus);
	return n == 0 && want >= 100 ? 0 : 12;
}

/* A child that opens a gated channel to arg, fills it, says "full" and
 * sends once more (sleeping): exits 0 if that gives -EPIPE. */
static int writer_main(int ctl, void *arg)
{
	bus_t *bus = NULL;
	bus_error_t err;
	char msg[512] = { 0 };

	if (bus_connect(&bus, NULL, &err) < 0)
		return 10;
	bus_channel_t *ch = NULL;
	if (open_chan(bus, arg, "gate 4096", &ch, &err) < 0)
		return 11;
	while (bus_channel_send(ch, msg, sizeof(msg), BUS_CHANNEL_NONBLOCK) == (ssize_t)sizeof(msg))
		;
	harness_send(ctl, "full");
	ssize_t r = bus_channel_send(ch, msg, sizeof(msg), 0);
	bus_channel_close(ch);
	bus_close(bus);
	return r == -EPIPE ? 0 : 12;
}

static void test_kills(void)
{
	harness_child victim, peer;
	char line[64];
	int n;

	start_service(&victim, "org.test.Victim1");
	harness_fork(&peer, reader_main, "org.test.Victim1 flood");
	n = harness_recv(peer.ctl, line, sizeof(line), 20000);
	ok(n > 0 && strcmp(line, "got 1000") == 0, "a reader gets a flood of messages (%s)",
	   n > 0 ? line : "nothing");
	harness_signal(&victim, SIGKILL);
	is_int(harness_wait(&peer, 30000), 0,
	       "the writer killed mid-transfer: the reader gets every message in order, then end of file");
	harness_wait(&victim, 10000);

	start_service(&victim, "org.test.Victim2");
	harness_fork(&peer, reader_main, "org.test.Victim2 stall");
	n = harness_recv(peer.ctl, line, sizeof(line), 20000);
	ok(n > 0 && strcmp(line, "drained") == 0, "a reader has read all there is (%s)",
	   n > 0 ? line : "nothing");
	harness_signal(&victim, SIGKILL);
	is_int(harness_wait(&peer, 30000), 0,
	       "the writer killed while the reader sleeps: end of file, no hang");
	harness_wait(&victim, 10000);

	start_service(&victim, "org.test.Victim4");
	harness_fork(&peer, reader_main, "org.test.Victim4 stall loop");
	n = harness_recv(peer.ctl, line, sizeof(line), 20000);
	ok(n > 0 && strcmp(line, "drained") == 0, "a reader waiting in poll() has read all (%s)",
	   n > 0 ? line : "nothing");
	harness_signal(&victim, SIGKILL);
	is_int(harness_wait(&peer, 30000), 0,
	       "the writer killed: the loop descriptor turns readable, then end of file");
	harness_wait(&victim, 10000);

	start_service(&victim, "org.test.Victim3");
	harness_fork(&peer, writer_main, "org.test.Victim3");
	n = harness_recv(peer.ctl, line, sizeof(line), 20000);
	ok(n > 0 && strcmp(line, "full") == 0, "a writer has filled the ring (%s)",
	   n > 0 ? line : "nothing");
	harness_signal(&victim, SIGKILL);
	is_int(harness_wait(&peer, 30000), 0,
	       "the reader killed while the writer sleeps on a full ring: -EPIPE, no hang");
	harness_wait(&victim, 10000);
}

/* ---------------------------------------------------------------- hostile */

/* The raw descriptors of a gated channel, the memfd also mapped here. */
struct raw_chan {
	bus_channel_t *ch;
	uint8_t *area;
	size_t len;
};

static void raw_open(bus_t *bus, struct raw_chan *rc)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	int fds[2] = { -1, -1 };
	unsigned nfds = 2;
	size_t len;
	bus_error_t err;

	req.text = "gate 4096";
	void *body = harness_pack(&req.base, &len);
	int r = bus_call_fds(bus, SVC, NULL, "Echo", "busd.examples.EchoRequest", body, len, NULL,
			     0, 10000000, &err, NULL, NULL, fds, &nfds);
	free(body);
	if (r < 0 || nfds != 2)
		harness_bail("no channel descriptors: %s", err.message);
	rc->len = 4096 + 2 * 4096;
	rc->area = mmap(NULL, rc->len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], 0);
	if (rc->area == MAP_FAILED || bus_channel_from_fds(&rc->ch, fds[0], fds[1]) < 0)
		harness_bail("cannot map the channel");
}

static void raw_close(struct raw_chan *rc)
{
	bus_channel_close(rc->ch);
	munmap(rc->area, rc->len);
}

/* Ring i's control words: head at +0, tail at +64 (chan-ring.h's layout:
 * the header's first 64 bytes, the closed flags' line, then the rings,
 * four lines each). */
static uint64_t *ring_word(struct raw_chan *rc, int ring, int tail)
{
	return (uint64_t *)(rc->area + 128 + ring * 256 + tail * 64);
}

static void test_hostile(bus_t *bus)
{
	struct raw_chan rc;
	char buf[64];

	raw_open(bus, &rc);
	*ring_word(&rc, 0, 0) = 4096 + 8; /* head further than a ring ahead */
	is_int(bus_channel_recv(rc.ch, buf, sizeof(buf), 0), -EPROTO,
	       "a head beyond the ring's size: -EPROTO");
	is_int(bus_channel_recv(rc.ch, buf, sizeof(buf), 0), -EPROTO, "  and the channel stays failed");
	raw_close(&rc);

	raw_open(bus, &rc);
	uint32_t huge[2] = { 0xfffffff0u, 0 };
	memcpy(rc.area + 4096, huge, 8);
	*ring_word(&rc, 0, 0) = 64;
	is_int(bus_channel_recv(rc.ch, buf, sizeof(buf), 0), -EPROTO,
	       "a record longer than what was published: -EPROTO");
	raw_close(&rc);

	raw_open(bus, &rc);
	*ring_word(&rc, 0, 0) = 4;
	is_int(bus_channel_recv(rc.ch, buf, sizeof(buf), 0), -EPROTO,
	       "less than a record's header published: -EPROTO");
	raw_close(&rc);

	raw_open(bus, &rc);
	*ring_word(&rc, 0, 0) = (uint64_t)-8; /* behind the reader */
	is_int(bus_channel_recv(rc.ch, buf, sizeof(buf), BUS_CHANNEL_NONBLOCK), -EPROTO,
	       "a head behind the reader: -EPROTO");
	raw_close(&rc);

	raw_open(bus, &rc);
	*ring_word(&rc, 1, 1) = 1ull << 40; /* the reader's tail ahead of our head */
	ssize_t r;
	int sent = 0;
	while ((r = bus_channel_send(rc.ch, buf, sizeof(buf), BUS_CHANNEL_NONBLOCK)) == (ssize_t)sizeof(buf))
		sent++;
	is_int(r, -EPROTO, "a tail ahead of the writer: -EPROTO once it is read (after %d)", sent);
	raw_close(&rc);

	/* The memfd is checked before it is mapped. */
	int sv[2], fd = memfd_create("fake", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint64_t hdr[2] = { 0x314e414843535542ull, 1ull | (4096ull << 32) };
	if (fd < 0 || ftruncate(fd, 4096 * 3) < 0 || pwrite(fd, hdr, 16, 0) != 16 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		harness_bail("memfd");
	bus_channel_t *ch = NULL;
	is_int(bus_channel_from_fds(&ch, dup(fd), sv[0]), -EPROTO,
	       "a memfd not sealed against shrinking is refused");
	close(sv[1]);
	if (ftruncate(fd, 4096 * 2) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		harness_bail("seal");
	is_int(bus_channel_from_fds(&ch, fd, sv[0]), -EPROTO,
	       "a sealed memfd smaller than its header says is refused");
	close(sv[1]);
}

static void test_policy(bus_t *bus)
{
	harness_child denied, *svc = &denied;

	bus_channel_t *ch = NULL;
	bus_error_t err;
	char line[64];

	start_service(&denied, DENIED);
	harness_send(svc->ctl, "count");
	harness_recv(svc->ctl, line, sizeof(line), 10000);
	int before = atoi(line + 6);
	int r = open_chan(bus, DENIED, "echo 4096", &ch, &err);
	ok(r == -EREMOTE && strcmp(err.name, BUS_ERROR_ACCESS_DENIED) == 0 && ch == NULL,
	   "a call the policy denies gets no channel (%s)", err.name);
	harness_send(svc->ctl, "count");
	int n = harness_recv(svc->ctl, line, sizeof(line), 10000);
	ok(n > 0 && atoi(line + 6) == before, "  and the service never saw it (%s)", line);
	ch = open_or_bail(bus, SVC, "echo 4096");
	ok(ch != NULL, "the same request to a service the policy allows gets one");
	bus_channel_close(ch);
}

int main(void)
{
	harness_child svc;

	plan(44);
	signal(SIGPIPE, SIG_IGN);
	harness_start_conf("[policy]\ndeny = call %s user=%d\n", DENIED, (int)getuid());
	start_service(&svc, SVC);
	bus_t *bus = harness_connect();
	test_policy(bus);
	test_loop_and_sizes(bus);
	test_backpressure(bus, &svc);
	test_hostile(bus);
	test_kills();
	test_gigabyte(bus);
	bus_close(bus);
	return harness_done();
}
