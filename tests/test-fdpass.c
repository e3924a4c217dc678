/* test-fdpass.c - file descriptors passed with frames (SCM_RIGHTS) through
 * a real busd, docs/protocol.md "File descriptors":
 *  - a pipe's write end passed in a call arrives, works (the callee writes
 *    into it, the caller reads the bytes) and busd keeps no copy of it (the
 *    caller sees end of file once the callee closes its copy);
 *  - a reply carries one back;
 *  - a monitor sees fd_count but gets no descriptor;
 *  - the broken cases are protocol errors (bus.Error.InvalidFrame, then the
 *    end of the connection) and leave nothing open in busd: more than
 *    limits.max_fds_per_frame, fd_count 2 with 1 descriptor, descriptors
 *    sent with bytes in which no frame begins, an EVENT with descriptors;
 *    a call to busd's own methods with one is refused (InvalidArgs);
 *  - busd's count of open descriptors is unchanged after 10,000 frames with
 *    descriptors, and after 1,000 whose receiver died before reading them;
 *  - libbus: bus_call_fds() passes descriptors, a handler takes them from
 *    its bus_msg_t with bus_msg_take_fd(), answers with bus_reply_fds(),
 *    and those not taken are closed after the callback.
 * The descriptors counted are those in /proc/<busd pid>/fd. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/bus.h>
#include "bus.pb-c.h"
#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define NAME "org.test.Fd"
#define LIMIT 4 /* limits.max_fds_per_frame */


static raw_conn *fresh(raw_conn *c)
{
	raw_frame f;

	if (raw_open(c, harness_socket()) < 0 || raw_hello(c, 1, &f, 10000) < 0)
		harness_bail("cannot connect to busd");
	return c;
}

static void own(raw_conn *c, const char *name)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	raw_frame f;

	req.name = (char *)name;
	if (raw_control(c, "RequestName", &req.base, &f, 10000) < 0)
		harness_bail("cannot own %s", name);
}

static wire_header call_to(const char *dest, uint64_t serial, uint32_t fd_count, uint32_t flags)
{
	return (wire_header){ .kind = WIRE_KIND_CALL, .serial = serial, .flags = flags,
			      .destination = wire_str_c(dest), .member = wire_str_c("Take"),
			      .fd_count = fd_count };
}

/* Wait up to 10 s for fd to be readable; read what it has (0: end of file). */
static ssize_t read_within(int fd, char *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 10000) != 1)
		return -ETIMEDOUT;
	return read(fd, buf, len);
}

/* The violator gets an ERROR named name from bus, then the end. */
static void expect_error_close(raw_conn *c, const char *name, const char *what)
{
	raw_frame f;
	char got[128] = "", msg[256] = "";
	int r = raw_recv(c, &f, 10000);

	if (r == 1) {
		raw_str(f.h.error_name, got, sizeof(got));
		raw_str(f.h.error_message, msg, sizeof(msg));
	}
	ok(r == 1 && f.h.kind == WIRE_KIND_ERROR && strcmp(got, name) == 0, "%s: %s (%s)", what,
	   name, msg);
	is_int(raw_wait_eof(c, 10000), 1, "%s: then the connection is closed", what);
	raw_close(c);
}

/* A round trip to busd from c: everything sent before it was routed. */
static void sync_with(raw_conn *c)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	raw_frame f;

	raw_control(c, "Stats", &req.base, &f, 10000);
}

/* busd's open descriptors once it has only one connection, a fresh one
 * (round trips until Stats says so: the others' ends are processed). */
static int settled_fds(void)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	raw_conn c;
	raw_frame f;
	uint64_t until = harness_now_ms() + 10000;
	unsigned peers = 0;

	fresh(&c);
	do {
		if (raw_control(&c, "Stats", &req.base, &f, 10000) < 0)
			break;
		Bus__StatsReply *r = bus__stats_reply__unpack(NULL, f.body_len, f.body);
		peers = r ? r->peers : 0;
		bus__stats_reply__free_unpacked(r, NULL);
	} while (peers != 1 && harness_now_ms() < until);
	int n = harness_busd_fds();
	raw_close(&c);
	return n;
}

static void test_call_and_reply(void)
{
	raw_conn caller, callee, mon;
	raw_frame f;
	int p[2], q[2];
	char buf[64];
	int base = settled_fds();

	fresh(&caller);
	own(fresh(&callee), NAME);
	Bus__MonitorRequest mreq = BUS__MONITOR_REQUEST__INIT;
	raw_control(fresh(&mon), "Monitor", &mreq.base, &f, 10000);

	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
		harness_bail("pipe");
	wire_header h = call_to(NAME, 1, 1, 0);
	is_int(raw_send_fds(&caller, &h, "x", 1, &p[1], 1), 0, "a call with a pipe's write end is sent");
	close(p[1]);
	int r = raw_recv(&callee, &f, 10000);
	ok(r == 1 && f.h.kind == WIRE_KIND_CALL && f.h.fd_count == 1, "the callee gets the call, fd_count 1");
	int fd = raw_take_fd(&callee);
	ok(fd >= 0 && callee.n_fds == 0, "with exactly one descriptor");
	uint64_t serial = r == 1 ? f.h.serial : 0;
	char sender[64];
	raw_str(r == 1 ? f.h.sender : (wire_str){ 0 }, sender, sizeof(sender));
	is_int(write(fd, "through busd", 12), 12, "the callee writes into it");
	close(fd);
	ssize_t n = read_within(p[0], buf, sizeof(buf));
	ok(n == 12 && memcmp(buf, "through busd", 12) == 0, "the caller reads the bytes from its pipe");
	is_int(read_within(p[0], buf, sizeof(buf)), 0,
	       "and then end of file: no copy of the write end is left open (busd's neither)");
	close(p[0]);

	/* A reply carrying a descriptor. */
	wire_header rep = { .kind = WIRE_KIND_REPLY, .serial = 7, .reply_serial = serial,
			    .destination = wire_str_c(sender), .fd_count = 1 };
	is_int(raw_send_fds(&callee, &rep, NULL, 0, &q[1], 1), 0, "the callee replies with a descriptor");
	close(q[1]);
	r = raw_recv_reply(&caller, 1, &f, 10000);
	ok(r == 1 && f.h.kind == WIRE_KIND_REPLY && f.h.fd_count == 1, "the caller gets the reply, fd_count 1");
	fd = raw_take_fd(&caller);
	ok(fd >= 0 && caller.n_fds == 0, "with its descriptor");
	is_int(write(fd, "back", 4), 4, "which works");
	close(fd);
	ok(read_within(q[0], buf, sizeof(buf)) == 4 && read_within(q[0], buf, sizeof(buf)) == 0,
	   "the callee reads the bytes, then end of file");
	close(q[0]);

	/* The monitor saw both with fd_count, without descriptors. */
	int seen = 0;
	while (seen < 2 && raw_recv(&mon, &f, 10000) == 1)
		seen += f.h.fd_count == 1 && (f.h.kind == WIRE_KIND_CALL || f.h.kind == WIRE_KIND_REPLY);
	is_int(seen, 2, "a monitor sees the call and the reply with fd_count 1");
	is_int(mon.n_fds, 0, "  but gets no descriptor");

	/* busd's own methods take none. */
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	size_t len;
	void *body = harness_pack(&sreq.base, &len);
	wire_header hb = { .kind = WIRE_KIND_CALL, .serial = 2, .destination = wire_str_c("bus"),
			   .member = wire_str_c("Stats"), .fd_count = 1 };
	raw_send_fds(&caller, &hb, body, len, &nul, 1);
	free(body);
	close(nul);
	r = raw_recv_reply(&caller, 2, &f, 10000);
	raw_str(r == 1 ? f.h.error_name : (wire_str){ 0 }, buf, sizeof(buf));
	ok(r == 1 && strcmp(buf, "bus.Error.InvalidArgs") == 0,
	   "a call to busd's own methods with a descriptor: bus.Error.InvalidArgs");
	raw_close(&caller);
	raw_close(&callee);
	raw_close(&mon);
	is_int(settled_fds(), base, "busd holds as many descriptors as before (%d)", base);
}

static void test_broken(void)
{
	raw_conn c, callee;
	int fds[LIMIT + 1];
	int base = settled_fds();

	own(fresh(&callee), NAME);
	for (int i = 0; i <= LIMIT; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);

	wire_header h = call_to(NAME, 1, LIMIT + 1, 0);
	raw_send_fds(fresh(&c), &h, NULL, 0, fds, LIMIT + 1);
	expect_error_close(&c, "bus.Error.InvalidFrame", "5 descriptors, limits.max_fds_per_frame 4");

	h = call_to(NAME, 1, LIMIT, 0);
	raw_send_fds(fresh(&c), &h, NULL, 0, fds, LIMIT);
	raw_frame f;
	ok(raw_recv(&callee, &f, 10000) == 1 && f.h.fd_count == LIMIT && callee.n_fds == LIMIT,
	   "4 descriptors (the limit) go through");
	while (callee.n_fds)
		close(raw_take_fd(&callee));
	raw_close(&c);

	h = call_to(NAME, 1, 2, 0);
	raw_send_fds(fresh(&c), &h, NULL, 0, fds, 1);
	expect_error_close(&c, "bus.Error.InvalidFrame", "fd_count 2 with 1 descriptor");

	h = call_to(NAME, 1, 0, 0);
	raw_send_fds(fresh(&c), &h, NULL, 0, fds, 1);
	expect_error_close(&c, "bus.Error.InvalidFrame", "fd_count 0 with 1 descriptor");

	h = call_to(NAME, 1, 1, 0);
	raw_send(fresh(&c), &h, NULL, 0);
	expect_error_close(&c, "bus.Error.InvalidFrame", "fd_count 1 without a descriptor");

	/* The descriptor sent with the middle of a frame, where none begins. */
	uint8_t frame[256];
	h = call_to(NAME, 1, 1, 0);
	size_t hl = wire_header_size(&h);
	wire_preamble_encode(frame, (uint32_t)hl, 100);
	wire_header_encode(&h, frame + WIRE_PREAMBLE_SIZE);
	memset(frame + WIRE_PREAMBLE_SIZE + hl, 'b', 100);
	size_t total = WIRE_PREAMBLE_SIZE + hl + 100;
	raw_write(fresh(&c), frame, 20);
	sync_with(&c);
	raw_write_fds(&c, frame + 20, total - 20, fds, 1);
	expect_error_close(&c, "bus.Error.InvalidFrame", "a descriptor sent with the middle of a frame");

	wire_header ev = { .kind = WIRE_KIND_EVENT, .serial = 1, .member = wire_str_c("test.fd"),
			   .fd_count = 1 };
	raw_send_fds(fresh(&c), &ev, NULL, 0, fds, 1);
	expect_error_close(&c, "bus.Error.InvalidFrame", "an EVENT with a descriptor");

	for (int i = 0; i <= LIMIT; i++)
		close(fds[i]);
	raw_close(&callee);
	is_int(settled_fds(), base, "after all of them busd holds as many descriptors as before (%d)", base);
}

#define MANY 10000
#define BATCH 100

static void test_many(void)
{
	raw_conn caller, callee;
	raw_frame f;
	int base = settled_fds(), got = 0, bad = 0;
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	fresh(&caller);
	own(fresh(&callee), NAME);
	for (int i = 0; i < MANY; i += BATCH) {
		for (int j = 0; j < BATCH; j++) {
			wire_header h = call_to(NAME, (uint64_t)(i + j + 1), 1, WIRE_FLAG_NO_REPLY_EXPECTED);
			raw_send_fds(&caller, &h, "m", 1, &nul, 1);
		}
		for (int j = 0; j < BATCH; j++) {
			if (raw_recv(&callee, &f, 10000) != 1)
				break;
			got++;
			int fd = raw_take_fd(&callee);
			bad += fd < 0 || f.h.fd_count != 1;
			if (fd >= 0)
				close(fd);
		}
	}
	close(nul);
	is_int(got, MANY, "10,000 calls with a descriptor each arrive");
	is_int(bad, 0, "  each with its descriptor");
	is_int(callee.n_fds, 0, "  and no more");
	raw_close(&caller);
	raw_close(&callee);
	is_int(settled_fds(), base, "busd holds as many descriptors as before (%d)", base);
}

/* Frames with and without descriptors, small and large (read straight
 * into their own buffer by busd), sent back to back: each descriptor
 * reaches the callee with its own frame (the callee writes the frame's
 * number into it, each pipe must hold its own). */
#define MIXED 120

static void test_mixed(void)
{
	raw_conn caller, callee;
	raw_frame f;
	int pipes[MIXED][2], base = settled_fds(), right = 0, got = 0;
	static uint8_t body[100 * 1024];

	fresh(&caller);
	own(fresh(&callee), NAME);
	for (int i = 0; i < MIXED; i++) {
		pipes[i][0] = pipes[i][1] = -1;
		int with = i % 3 != 1, large = i % 10 == 0;
		size_t len = large ? sizeof(body) : 16;
		snprintf((char *)body, 16, "%d", i);
		wire_header h = call_to(NAME, (uint64_t)i + 1, with ? 1 : 0, WIRE_FLAG_NO_REPLY_EXPECTED);
		if (with) {
			if (pipe2(pipes[i], O_CLOEXEC) < 0)
				harness_bail("pipe");
			raw_send_fds(&caller, &h, body, len, &pipes[i][1], 1);
			close(pipes[i][1]);
		} else {
			raw_send(&caller, &h, body, len);
		}
		/* The callee keeps up, so that no queue fills. */
		while (raw_recv(&callee, &f, i % 10 == 9 ? 10000 : 0) == 1) {
			char num[16];
			snprintf(num, sizeof(num), "%.*s", (int)strnlen((const char *)f.body, 15),
				 (const char *)f.body);
			got++;
			if (f.h.fd_count == 1) {
				int fd = raw_take_fd(&callee);
				if (fd >= 0) {
					(void)!write(fd, num, strlen(num));
					close(fd);
				}
			}
			if (i % 10 == 9 && got == i + 1)
				break;
		}
	}
	while (got < MIXED && raw_recv(&callee, &f, 10000) == 1) {
		char num[16];
		snprintf(num, sizeof(num), "%.*s", (int)strnlen((const char *)f.body, 15),
			 (const char *)f.body);
		got++;
		int fd = f.h.fd_count == 1 ? raw_take_fd(&callee) : -1;
		if (fd >= 0) {
			(void)!write(fd, num, strlen(num));
			close(fd);
		}
	}
	is_int(got, MIXED, "120 frames, two in three with a descriptor, one in ten of 100 KiB, all arrive");
	for (int i = 0; i < MIXED; i++) {
		char buf[16], want[16];
		if (pipes[i][0] < 0)
			continue;
		snprintf(want, sizeof(want), "%d", i);
		ssize_t n = read_within(pipes[i][0], buf, sizeof(buf) - 1);
		right += n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
		close(pipes[i][0]);
	}
	is_int(right, MIXED - MIXED / 3, "  each descriptor came with its own frame");
	raw_close(&caller);
	raw_close(&callee);
	is_int(settled_fds(), base, "busd holds as many descriptors as before (%d)", base);
}

#define DEAD 1000

static int dead_receiver(int ctl, void *arg)
{
	raw_conn c;

	(void)arg;
	own(fresh(&c), "org.test.Dead");
	harness_send(ctl, "ready");
	pause(); /* killed before it reads anything */
	return 0;
}

static void test_dead_receiver(void)
{
	raw_conn caller, probe;
	harness_child child;
	char buf[64];
	int base = settled_fds();
	int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

	harness_fork(&child, dead_receiver, NULL);
	ok(harness_recv(child.ctl, buf, sizeof(buf), 10000) > 0, "a receiver owns org.test.Dead");
	fresh(&caller);
	for (int i = 0; i < DEAD; i++) {
		wire_header h = call_to("org.test.Dead", (uint64_t)i + 1, 1, WIRE_FLAG_NO_REPLY_EXPECTED);
		raw_send_fds(&caller, &h, "d", 1, &nul, 1);
	}
	close(nul);
	sync_with(&caller);
	int during = harness_busd_fds();
	ok(during > base, "while they wait, busd holds their descriptors (%d, %d before)", during, base);
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	raw_frame sf;
	uint64_t charged = 0;
	if (raw_control(&caller, "Stats", &sreq.base, &sf, 10000) == 0) {
		Bus__StatsReply *st = bus__stats_reply__unpack(NULL, sf.body_len, sf.body);
		charged = st ? st->passed_fds : 0;
		bus__stats_reply__free_unpacked(st, NULL);
	}
	ok(charged > 0 && charged <= DEAD, "  charged to the receiver: Stats.passed_fds %llu",
	   (unsigned long long)charged);
	harness_signal(&child, SIGKILL);
	harness_wait(&child, 10000);
	/* Until busd has seen the receiver go: its name has no owner. */
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	raw_frame f;
	req.name = "org.test.Dead";
	fresh(&probe);
	uint64_t until = harness_now_ms() + 10000;
	while (raw_control(&probe, "GetNameOwner", &req.base, &f, 10000) == 0 &&
	       harness_now_ms() < until)
		;
	raw_close(&probe);
	raw_close(&caller);
	is_int(settled_fds(), base, "once it died, busd holds as many descriptors as before (%d)", base);
}

/* ---------------------------------------------------------------- libbus */

#define SVC "org.test.FdEcho"

/* Echo through libbus: the text is written into every descriptor taken
 * ("ignore": none is taken, they are closed after the handler); "back"
 * answers with the read end of a pipe holding "reply-fd". */
static void fd_echo(Busd__Examples__Echo_Service *svc, const Busd__Examples__EchoRequest *req,
		    Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply rep = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	const bus_msg_t *m = bus_call_msg(closure_data);
	char text[64];

	(void)svc;
	if (strcmp(req->text, "back") == 0) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) == 0) {
			(void)!write(p[1], "reply-fd", 8);
			close(p[1]);
			rep.text = "back";
			bus_reply_fds(closure_data, &rep.base, &p[0], 1);
			close(p[0]);
			return;
		}
	}
	snprintf(text, sizeof(text), "%u/%u", m->fd_count, m->n_fds);
	if (strcmp(req->text, "ignore") != 0) {
		for (unsigned i = 0; i < m->n_fds; i++) {
			int fd = bus_msg_take_fd(m, i);
			if (fd >= 0) {
				(void)!write(fd, req->text, strlen(req->text));
				close(fd);
			}
		}
	}
	rep.text = text;
	closure(&rep, closure_data);
}

static void fd_delay(Busd__Examples__Echo_Service *svc, const Busd__Examples__DelayRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)req;
	(void)closure;
	bus_call_fail(closure_data, "org.test.Error.Unused", "not used here");
}

static void fd_fail(Busd__Examples__Echo_Service *svc, const Busd__Examples__FailRequest *req,
		    Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	(void)svc;
	(void)req;
	(void)closure;
	bus_call_fail(closure_data, "org.test.Error.Unused", "not used here");
}

static Busd__Examples__Echo_Service fd_service = BUSD__EXAMPLES__ECHO__INIT(fd_);

static int fd_server(int ctl, void *arg)
{
	bus_error_t err;
	bus_t *bus = NULL;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, SVC, &err) < 0 ||
	    bus_export(bus, NULL, SVC, &fd_service.base, &err) < 0) {
		harness_send(ctl, "error %s", err.name);
		return 1;
	}
	harness_send(ctl, "ready");
	int r = exporter_serve(bus, ctl, NULL, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

static char async_text[64];
static int async_fd = -2;
static volatile int async_done;

static void on_async(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)ud;
	if (reply && !err) {
		Busd__Examples__EchoReply *r = (Busd__Examples__EchoReply *)bus_msg_unpack(
			reply, &busd__examples__echo_reply__descriptor);
		snprintf(async_text, sizeof(async_text), "%s", r ? r->text : "?");
		if (r)
			protobuf_c_message_free_unpacked(&r->base, NULL);
		async_fd = bus_msg_take_fd(reply, 0);
	}
	async_done = 1;
}

/* Replies with descriptors arriving back to back, read together. */
static int burst_ok, burst_done;

static void on_burst(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	char buf[16];

	(void)bus;
	(void)ud;
	burst_done++;
	int fd = reply && !err ? bus_msg_take_fd(reply, 0) : -1;
	if (fd >= 0) {
		burst_ok += read_within(fd, buf, sizeof(buf)) == 8 && memcmp(buf, "reply-fd", 8) == 0 &&
			    bus_msg_take_fd(reply, 0) == -EALREADY && reply->n_fds == 1;
		close(fd);
	}
}

static int echo_fds(bus_t *bus, const char *text, const int *fds, unsigned n, char *out,
		    size_t outlen, int *reply_fds, unsigned *n_reply, bus_error_t *err)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len, rlen = 0;
	void *rbody = NULL;

	req.text = (char *)text;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call_fds(bus, SVC, NULL, "Echo", "busd.examples.EchoRequest", body, len, fds, n,
			     10000000, err, &rbody, &rlen, reply_fds, n_reply);
	free(body);
	out[0] = 0;
	if (r == 0) {
		Busd__Examples__EchoReply *rep = busd__examples__echo_reply__unpack(NULL, rlen, rbody);
		snprintf(out, outlen, "%s", rep ? rep->text : "?");
		busd__examples__echo_reply__free_unpacked(rep, NULL);
	}
	free(rbody);
	return r;
}

/* Stub calls through a proxy: what the closure saw. */
struct stub_out {
	char text[64];
	int fd;        /* the reply's descriptor 0, taken */
	int again;     /* a second take of it */
	int done;
};

static void stub_closure(const Busd__Examples__EchoReply *rep, void *closure_data)
{
	struct stub_out *o = closure_data;

	snprintf(o->text, sizeof(o->text), "%s", rep ? rep->text : "(none)");
	o->fd = bus_proxy_take_fd(closure_data, 0);
	o->again = bus_proxy_take_fd(closure_data, 0);
	o->done = 1;
}

static void test_stubs(bus_t *bus)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	struct stub_out o = { .fd = -1 };
	char buf[64];
	int p[2];

	ProtobufCService *sync = bus_proxy_new(bus, SVC, &busd__examples__echo__descriptor, 10000000,
					       BUS_PROXY_SYNC);
	pipe2(p, O_CLOEXEC);
	req.text = "stub";
	bus_proxy_set_fds(sync, &p[1], 1);
	busd__examples__echo__echo(sync, &req, stub_closure, &o);
	close(p[1]);
	ok(o.done && strcmp(o.text, "1/1") == 0 && o.fd == -ENOENT,
	   "a sync stub call after bus_proxy_set_fds() passes the descriptor (%s)", o.text);
	ok(read_within(p[0], buf, sizeof(buf)) == 4 && read_within(p[0], buf, sizeof(buf)) == 0,
	   "  the service wrote into it, and no copy is left");
	close(p[0]);
	memset(&o, 0, sizeof(o));
	busd__examples__echo__echo(sync, &req, stub_closure, &o);
	ok(strcmp(o.text, "0/0") == 0, "  the next stub call passes none (%s)", o.text);

	memset(&o, 0, sizeof(o));
	req.text = "back";
	busd__examples__echo__echo(sync, &req, stub_closure, &o);
	ok(o.fd >= 0 && o.again == -EALREADY && read_within(o.fd, buf, sizeof(buf)) == 8,
	   "the closure of a sync stub takes the reply's descriptor with bus_proxy_take_fd()");
	if (o.fd >= 0)
		close(o.fd);
	bus_proxy_free(sync);

	ProtobufCService *async = bus_proxy_new(bus, SVC, &busd__examples__echo__descriptor,
						10000000, BUS_PROXY_ASYNC);
	memset(&o, 0, sizeof(o));
	busd__examples__echo__echo(async, &req, stub_closure, &o);
	harness_loop_until(bus, &o.done, 10000);
	ok(o.fd >= 0 && read_within(o.fd, buf, sizeof(buf)) == 8,
	   "  and so does the closure of an async stub");
	if (o.fd >= 0)
		close(o.fd);
	bus_proxy_free(async);
}

/* busctl call --raw --fd-write FILE: the service writes into FILE. */
static void test_busctl(void)
{
	char busctl[4096], file[4096], buf[64];
	const char *top = getenv("top_builddir");

	snprintf(busctl, sizeof(busctl), "%s/busctl/busctl", top && *top ? top : ".");
	if (access(busctl, X_OK) < 0) {
		skip("busctl is not built", "busctl call --fd-write passes FILE");
		skip("busctl is not built", "  busctl call --fd with more than the limit");
		return;
	}
	snprintf(file, sizeof(file), "%s/fd-target", harness_dir());
	int out = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	close(out);
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;
	req.text = "via busctl";
	void *body = harness_pack(&req.base, &len);
	int in[2];
	if (pipe(in) < 0)
		harness_bail("pipe");
	(void)!write(in[1], body, len);
	close(in[1]);
	free(body);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		execl(busctl, "busctl", "call", "--raw", "--fd-write", file, SVC, "Echo", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	int st = -1;
	waitpid(pid, &st, 0);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && n == 10 && memcmp(buf, "via busctl", 10) == 0,
	   "busctl call --fd-write FILE: the service wrote into FILE (exit %d)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execl(busctl, "busctl", "call", "--raw", "--fd", "/dev/null", "--fd", "/dev/null",
		      "--fd", "/dev/null", "--fd", "/dev/null", "--fd", "/dev/null", SVC, "Echo",
		      (char *)NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 1, "  busctl call with 5 --fd, the limit 4: exit 1");
}

static void test_libbus(void)
{
	harness_child svc;
	char line[128], out[64], buf[64];
	bus_error_t err;
	int p[2], got[4];
	unsigned n;

	harness_fork(&svc, fd_server, NULL);
	ok(harness_recv(svc.ctl, line, sizeof(line), 10000) > 0 && strcmp(line, "ready") == 0,
	   "a libbus service exports %s (%s)", SVC, line);
	bus_t *bus = harness_connect();
	is_int((long long)bus_get_max_fds(bus), LIMIT, "bus_get_max_fds() is busd's limit (%d)", LIMIT);
	int mine = harness_open_fds(0);

	pipe2(p, O_CLOEXEC);
	n = 4;
	int r = echo_fds(bus, "hello", &p[1], 1, out, sizeof(out), got, &n, &err);
	close(p[1]);
	ok(r == 0 && strcmp(out, "1/1") == 0 && n == 0,
	   "bus_call_fds() with a pipe's write end: the handler saw fd_count 1, 1 descriptor (%s)", out);
	ok(read_within(p[0], buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0,
	   "  it took it with bus_msg_take_fd() and wrote into it");
	is_int(read_within(p[0], buf, sizeof(buf)), 0, "  then end of file: libbus, busd and the service closed their copies");
	close(p[0]);

	n = 4;
	r = echo_fds(bus, "back", NULL, 0, out, sizeof(out), got, &n, &err);
	ok(r == 0 && n == 1 && got[0] >= 0, "a reply from bus_reply_fds() hands its descriptor over (%u)", n);
	ok(n == 1 && read_within(got[0], buf, sizeof(buf)) == 8 && memcmp(buf, "reply-fd", 8) == 0,
	   "  and it is the pipe the service filled");
	if (n == 1)
		close(got[0]);

	pipe2(p, O_CLOEXEC);
	r = echo_fds(bus, "ignore", &p[1], 1, out, sizeof(out), NULL, NULL, &err);
	close(p[1]);
	ok(r == 0 && strcmp(out, "1/1") == 0, "a handler that takes no descriptor is answered (%s)", out);
	is_int(read_within(p[0], buf, sizeof(buf)), 0, "  and the descriptor was closed after it returned");
	close(p[0]);

	int many[LIMIT + 1];
	for (int i = 0; i <= LIMIT; i++)
		many[i] = STDERR_FILENO;
	r = echo_fds(bus, "many", many, LIMIT + 1, out, sizeof(out), NULL, NULL, &err);
	ok(r == -E2BIG && strcmp(err.name, "bus.Error.LimitsExceeded") == 0,
	   "5 descriptors with one call: -E2BIG, bus.Error.LimitsExceeded (%s: %s)", err.name, err.message);
	r = echo_fds(bus, "plain", NULL, 0, out, sizeof(out), NULL, NULL, &err);
	ok(r == 0 && strcmp(out, "0/0") == 0, "  nothing was sent, and the connection goes on");

	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;
	req.text = "back";
	void *body = harness_pack(&req.base, &len);
	pipe2(p, O_CLOEXEC);
	r = bus_call_async_fds(bus, NULL, SVC, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			       &p[1], 1, 10000000, on_async, NULL);
	free(body);
	close(p[1]);
	close(p[0]);
	ok(r == 0 && harness_loop_until(bus, &async_done, 10000) == 1 && async_fd >= 0 &&
	   read_within(async_fd, buf, sizeof(buf)) == 8,
	   "bus_call_async_fds(): the callback takes the reply's descriptor (%s)", async_text);
	if (async_fd >= 0)
		close(async_fd);

	req.text = "back";
	body = harness_pack(&req.base, &len);
	for (int i = 0; i < 50; i++)
		bus_call_async(bus, NULL, SVC, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			       10000000, on_burst, NULL);
	free(body);
	static int all;
	uint64_t until = harness_now_ms() + 20000;
	while (burst_done < 50 && harness_now_ms() < until)
		harness_loop_until(bus, &all, 100);
	is_int(burst_ok, 50, "50 replies with a descriptor each, in flight together: each taken once");
	test_stubs(bus);
	is_int(harness_open_fds(0), mine, "the caller holds as many descriptors as before (%d)", mine);
	test_busctl();

	bus_close(bus);
	harness_send(svc.ctl, "quit");
	is_int(harness_wait(&svc, 10000), 0, "the service exits 0");
}

/* A call with a descriptor to a declared service nobody runs yet: busd
 * holds it (the descriptor with it), starts services/echo, delivers it;
 * echo takes no descriptor, so once answered no copy is left anywhere.
 * STALL's program never takes its name: a call held for it keeps its
 * descriptor, charged to the caller, until the start times out. */
#define DEMAND "org.test.FdDemand"
#define STALL "org.test.FdStall"
static char svc_dir[PATH_MAX];

static void setup_service(void)
{
	const char *top = getenv("top_builddir"), *tmp = getenv("TMPDIR");
	char topabs[PATH_MAX], conf[PATH_MAX + 32];

	if (!realpath(top && *top ? top : ".", topabs))
		harness_bail("top_builddir: %s", strerror(errno));
	snprintf(svc_dir, sizeof(svc_dir), "%s/busd-fdpass.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(svc_dir))
		harness_bail("mkdtemp: %s", strerror(errno));
	snprintf(conf, sizeof(conf), "%s/demand.conf", svc_dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		harness_bail("%s: %s", conf, strerror(errno));
	fprintf(f, "[service]\nexec = %s/services/echo --name " DEMAND "\nnames = " DEMAND
		"\nactivation = demand\n", topabs);
	fclose(f);
	snprintf(conf, sizeof(conf), "%s/stall.conf", svc_dir);
	if (!(f = fopen(conf, "w")))
		harness_bail("%s: %s", conf, strerror(errno));
	fprintf(f, "[service]\nexec = /bin/sh -c \"exec sleep 600\"\nnames = " STALL
		"\nactivation = demand\nrestart = no\nstart_timeout = 0.5\n");
	fclose(f);
}

static void cleanup_service(void)
{
	char conf[PATH_MAX + 32];

	snprintf(conf, sizeof(conf), "%s/demand.conf", svc_dir);
	unlink(conf);
	snprintf(conf, sizeof(conf), "%s/stall.conf", svc_dir);
	unlink(conf);
	rmdir(svc_dir);
}

static void test_held_charged(bus_t *bus);

static void test_held(void)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	bus_t *bus = harness_connect();
	bus_error_t err;
	size_t len, rlen = 0;
	void *rbody = NULL;
	char buf[16];
	int p[2];

	pipe2(p, O_CLOEXEC);
	req.text = "held";
	void *body = harness_pack(&req.base, &len);
	int r = bus_call_fds(bus, DEMAND, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			     &p[1], 1, 20000000, &err, &rbody, &rlen, NULL, NULL);
	free(body);
	free(rbody);
	close(p[1]);
	ok(r == 0, "a call with a descriptor to a declared service is held until it starts, "
	   "and answered (%s)", r ? err.message : "ok");
	is_int(read_within(p[0], buf, sizeof(buf)), 0,
	   "  no copy of the descriptor is left, in busd or the service that did not take it");
	close(p[0]);
	test_held_charged(bus);
	bus_close(bus);
}

static int stall_done;
static char stall_error[128];

static void on_stall(bus_t *bus, const bus_msg_t *m, const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)ud;
	snprintf(stall_error, sizeof(stall_error), "%s", err ? err->name : m ? "a reply" : "?");
	stall_done = 1;
}

static uint64_t memfd_bytes(bus_t *bus)
{
	Bus__StatsReply *st = harness_stats(bus);
	uint64_t n = st ? st->memfd_bytes : UINT64_MAX;
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	return n;
}

static uint64_t passed_fds(bus_t *bus)
{
	Bus__StatsReply *st = harness_stats(bus);
	uint64_t n = st ? st->passed_fds : UINT64_MAX;
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	return n;
}

/* Held, its descriptors are charged (Stats.passed_fds), and released with
 * the call when its service fails to start. */
static void test_held_charged(bus_t *bus)
{
	int p[2];
	char buf[16];

	pipe2(p, O_CLOEXEC);
	uint64_t before = passed_fds(bus);
	int r = bus_call_async_fds(bus, NULL, STALL, NULL, "Echo", NULL, "", 0, &p[1], 1,
				   60000000, on_stall, NULL);
	close(p[1]);
	/* busd reads one connection's frames in order: the call is held by
	 * the time it answers Stats. */
	uint64_t held = passed_fds(bus);
	ok(r == 0 && held == before + 1,
	   "a call held with a descriptor: charged to its caller (Stats.passed_fds %llu, %llu before)",
	   (unsigned long long)held, (unsigned long long)before);
	harness_loop_until(bus, &stall_done, 60000);
	is_str(stall_error, BUS_ERROR_SERVICE_START_FAILED,
	       "  answered once its service failed to start");
	is_int((int)passed_fds(bus), (int)before, "  and the charge went with the call");
	is_int(read_within(p[0], buf, sizeof(buf)), 0, "  no copy of the descriptor is left in busd");
	close(p[0]);

	/* A body out of line (above libbus's threshold): its bytes too. */
	size_t big = 512u << 10;
	char *body = calloc(1, big);
	uint64_t mem0 = memfd_bytes(bus), fds0 = passed_fds(bus);
	stall_done = 0;
	r = bus_call_async(bus, NULL, STALL, NULL, "Echo", NULL, body, big, 60000000, on_stall,
			   NULL);
	free(body);
	uint64_t mem1 = memfd_bytes(bus), fds1 = passed_fds(bus);
	ok(r == 0 && mem1 == mem0 + big && fds1 == fds0 + 1,
	   "a held call with a %zu-byte body out of line: its bytes and its memfd charged "
	   "(Stats.memfd_bytes %llu -> %llu, passed_fds %llu -> %llu)", big,
	   (unsigned long long)mem0, (unsigned long long)mem1, (unsigned long long)fds0,
	   (unsigned long long)fds1);
	harness_loop_until(bus, &stall_done, 60000);
	ok(memfd_bytes(bus) == mem0 && passed_fds(bus) == fds0,
	   "  released when it fails (%s)", stall_error);
}

int main(void)
{
	plan(71);
	setup_service();
	harness_start_conf("[limits]\nmax_fds_per_frame = %d\nmax_queued_fds = 2000\n"
			   "max_queued_fds_per_uid = 4000\n[services]\ndir = %s\n", LIMIT, svc_dir);
	test_call_and_reply();
	test_broken();
	test_many();
	test_mixed();
	test_dead_receiver();
	test_libbus();
	test_held();
	is_int(harness_stop(), 0, "busd exits with status 0 on SIGTERM");
	cleanup_service();
	return harness_done();
}
