/* test-memfd.c - out-of-line bodies in sealed memfds through a real busd,
 * docs/protocol.md "Out-of-line bodies":
 *  - busd refuses a body memfd that is not sealed, is writable (no
 *    F_SEAL_WRITE), holds another size than declared, is not a memfd at all
 *    (bus.Error.UnsealedBody), or is above limits.max_memfd_body_size
 *    (bus.Error.LimitsExceeded): each call gets that one answer, the
 *    connection stays up, and busd keeps no descriptor of them; body bytes
 *    beside an out-of-line body are a protocol violation;
 *  - a receiver that did not ask for out-of-line bodies at Hello is not
 *    given one (bus.Error.OutOfLineNotSupported);
 *  - libbus sends bodies from the threshold on out of line, transparently:
 *    bus_call, bus_call_async, a generated stub and busctl call (JSON with
 *    a large string) round-trip through services/echo; below the threshold
 *    and with the threshold 0 bodies stay inline;
 *  - a 256 MiB body, above the maximum frame size, round-trips with its
 *    checksum;
 *  - while busd holds a body its size is charged (Stats and PeerInfo
 *    memfd_bytes), and released when the receiver has read it; busd never
 *    maps one (/proc/PID/maps);
 *  - events: one body memfd fans out to several subscribers, each reads
 *    the body; a subscriber that does not take them loses the event
 *    (counted), one that goes away before reading leaves nothing open;
 *  - a monitor sees memfd_body_size and gets the body memfd only when it
 *    asked for bodies; busctl capture --bodies records the bytes and
 *    busctl decode says the body was out of line;
 *  - beside a descriptor of the program's, the body's memfd goes last:
 *    index 0 stays the program's, n_fds does not count the body;
 *  - (libbus's own checks, without busd: test-memfd-receiver.c.)
 * The descriptors counted are those in /proc/<busd pid>/fd. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/bus.h>
#include <bus/errors.h>
#include "bus.pb-c.h"
#include "echo.pb-c.h"
#include "harness.h"
#include "raw.h"
#include "tap.h"

#define ECHO HARNESS_ECHO_NAME
#define ECHO_IF "busd.examples.Echo"
#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)
#define MIB (1024u * 1024u)
#define LIMIT "300M" /* limits.max_memfd_body_size */
#define BIG (256u * MIB)


/* Lines of busd's /proc/PID/maps that map a memfd. */
static int busd_memfd_maps(void)
{
	char path[64], line[512];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)harness_busd_pid());
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, "/memfd:") != NULL;
	fclose(f);
	return n;
}

static uint64_t fnv1a(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* Hello that asks for out-of-line bodies (memfd_bodies) or not. */
static raw_conn *fresh(raw_conn *c, int bodies)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	uint8_t body[64];
	raw_frame f;

	req.protocol_version = 1;
	req.client = (char *)"test-memfd (raw)";
	req.memfd_bodies = bodies;
	size_t len = bus__hello_request__pack(&req, body);
	if (raw_open(c, harness_socket()) < 0 ||
	    raw_call(c, "bus", "Hello", "bus.HelloRequest", body, len) < 0 ||
	    raw_recv_reply(c, c->serial, &f, 10000) != 1 || f.h.kind != WIRE_KIND_REPLY)
		harness_bail("cannot connect to busd");
	Bus__HelloReply *rep = bus__hello_reply__unpack(NULL, f.body_len, f.body);
	if (!rep)
		harness_bail("HelloReply does not parse");
	snprintf(c->unique, sizeof(c->unique), "%s", rep->unique_name);
	bus__hello_reply__free_unpacked(rep, NULL);
	return c;
}

/* Send a CALL of EchoRequest to dest whose body is declared bytes in fd. */
static int send_oob(raw_conn *c, const char *dest, uint64_t serial, int fd, uint64_t declared)
{
	wire_header h = { .kind = WIRE_KIND_CALL, .serial = serial,
			  .destination = wire_str_c(dest), .interface = wire_str_c(ECHO_IF),
			  .member = wire_str_c("Echo"),
			  .body_type = wire_str_c("busd.examples.EchoRequest"),
			  .fd_count = 1, .memfd_body_size = declared };
	return raw_send_fds(c, &h, NULL, 0, &fd, 1);
}

/* The answer to serial on c: its error name into name ("" for a REPLY). */
static int answer(raw_conn *c, uint64_t serial, char *name, size_t len, char *msg, size_t mlen)
{
	raw_frame f;
	int r = raw_recv_reply(c, serial, &f, 10000);

	name[0] = msg[0] = 0;
	if (r != 1)
		return -1;
	raw_str(f.h.error_name, name, len);
	raw_str(f.h.error_message, msg, mlen);
	return (int)f.h.kind;
}

static Bus__StatsReply *stats_raw(raw_conn *c)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	raw_frame f;

	if (raw_control(c, "Stats", &req.base, &f, 10000) < 0)
		return NULL;
	return bus__stats_reply__unpack(NULL, f.body_len, f.body);
}

/* busd's open descriptors once it has only the connections it had at the
 * start (peers), measured over a fresh one. */
static int settled_fds(unsigned peers)
{
	raw_conn c;
	uint64_t until = harness_now_ms() + 10000;
	unsigned now = 0;

	fresh(&c, 0);
	do {
		Bus__StatsReply *r = stats_raw(&c);
		now = r ? r->peers : 0;
		bus__stats_reply__free_unpacked(r, NULL);
	} while (now != peers + 1 && harness_now_ms() < until);
	int n = harness_busd_fds();
	raw_close(&c);
	return n;
}

/* ---------------------------------------------------------------- refusals */

static void test_refused(unsigned peers)
{
	raw_conn c;
	char name[128], msg[512];
	uint8_t data[4096];
	int base = settled_fds(peers);

	harness_fill(data, sizeof(data), 1);
	fresh(&c, 1);
	struct {
		const char *what;
		int fd;
		uint64_t declared;
		const char *error;
	} cases[] = {
		{ "an unsealed memfd", harness_memfd_with(data, sizeof(data), 0), sizeof(data),
		  BUS_ERROR_UNSEALED_BODY },
		{ "a writable memfd (no F_SEAL_WRITE)",
		  harness_memfd_with(data, sizeof(data), F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW),
		  sizeof(data), BUS_ERROR_UNSEALED_BODY },
		{ "a sealed memfd of 4096 bytes declared as 8192",
		  harness_memfd_with(data, sizeof(data), SEALS), 2 * sizeof(data), BUS_ERROR_UNSEALED_BODY },
		{ "a descriptor that is not a memfd (/dev/null)", open("/dev/null", O_RDONLY | O_CLOEXEC),
		  sizeof(data), BUS_ERROR_UNSEALED_BODY },
		{ "a body declared above limits.max_memfd_body_size",
		  harness_memfd_with(data, sizeof(data), SEALS), 400ull * MIB, BUS_ERROR_LIMITS_EXCEEDED },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t serial = 100 + i;
		send_oob(&c, ECHO, serial, cases[i].fd, cases[i].declared);
		close(cases[i].fd);
		int k = answer(&c, serial, name, sizeof(name), msg, sizeof(msg));
		ok(k == WIRE_KIND_ERROR && strcmp(name, cases[i].error) == 0, "%s: %s (%s)",
		   cases[i].what, cases[i].error, msg);
	}
	Bus__StatsReply *st = stats_raw(&c);
	ok(st != NULL, "the connection is still up: Stats answers");
	is_int(st ? (long long)st->memfd_refused : -1, 4, "  and counts 4 bodies refused as unsealed");
	bus__stats_reply__free_unpacked(st, NULL);
	is_int(c.n_fds, 0, "no descriptor came back with the errors");

	/* Body bytes beside an out-of-line body break the frame's rules. */
	int fd = harness_memfd_with(data, sizeof(data), SEALS);
	wire_header h = { .kind = WIRE_KIND_CALL, .serial = 200, .destination = wire_str_c(ECHO),
			  .member = wire_str_c("Echo"), .fd_count = 1,
			  .memfd_body_size = sizeof(data) };
	raw_send_fds(&c, &h, "x", 1, &fd, 1);
	close(fd);
	int k = answer(&c, 200, name, sizeof(name), msg, sizeof(msg));
	ok(k == WIRE_KIND_ERROR && strcmp(name, BUS_ERROR_INVALID_FRAME) == 0,
	   "an out-of-line body with body bytes too: %s (%s)", BUS_ERROR_INVALID_FRAME, msg);
	is_int(raw_wait_eof(&c, 10000), 1, "  then the connection is closed");
	raw_close(&c);
	is_int(settled_fds(peers), base, "busd holds as many descriptors as before (%d)", base);
}

/* A receiver that did not ask for out-of-line bodies gets none. */
static void test_unsupported(unsigned peers)
{
	raw_conn caller, callee;
	raw_frame f;
	char name[128], msg[512];
	uint8_t data[1024];
	int base = settled_fds(peers);

	harness_fill(data, sizeof(data), 2);
	fresh(&caller, 1);
	fresh(&callee, 0);
	int fd = harness_memfd_with(data, sizeof(data), SEALS);
	send_oob(&caller, callee.unique, 1, fd, sizeof(data));
	close(fd);
	int k = answer(&caller, 1, name, sizeof(name), msg, sizeof(msg));
	ok(k == WIRE_KIND_ERROR && strcmp(name, BUS_ERROR_OUT_OF_LINE_NOT_SUPPORTED) == 0,
	   "a call with an out-of-line body to a peer whose Hello did not ask for them: %s (%s)",
	   BUS_ERROR_OUT_OF_LINE_NOT_SUPPORTED, msg);
	/* The callee got nothing: its next frame is the answer to its Stats. */
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	ok(raw_control(&callee, "Stats", &req.base, &f, 10000) == 0 && callee.n_fds == 0,
	   "  and the callee was given nothing");
	raw_close(&caller);
	raw_close(&callee);
	is_int(settled_fds(peers), base, "  busd holds as many descriptors as before");
}

/* ---------------------------------------------------------------- libbus */

/* Echo data through org.busd.Echo with bus_call: 1 if it came back whole. */
static int echo_call(bus_t *bus, const uint8_t *data, size_t len)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	bus_error_t err;
	void *reply = NULL;
	size_t rlen = 0, blen;

	req.data.data = (uint8_t *)data;
	req.data.len = len;
	void *body = harness_pack(&req.base, &blen);
	int r = bus_call(bus, ECHO, ECHO_IF, "Echo", "busd.examples.EchoRequest", body, blen,
			 60000000, &err, &reply, &rlen);
	free(body);
	if (r < 0) {
		diag("bus_call: %s: %s", err.name, err.message);
		return 0;
	}
	Busd__Examples__EchoReply *rep = busd__examples__echo_reply__unpack(NULL, rlen, reply);
	free(reply);
	int same = rep && rep->data.len == len && fnv1a(rep->data.data, len) == fnv1a(data, len);
	busd__examples__echo_reply__free_unpacked(rep, NULL);
	return same;
}

/* Frames a raw monitor saw since the last look: with an out-of-line body
 * (of at least min bytes), and descriptors that came. */
struct seen {
	int oob, inline_big;
	unsigned fds;
};

static struct seen monitor_drain(raw_conn *mon, bus_t *bus, size_t min)
{
	struct seen s = { 0, 0, 0 };
	raw_frame f;

	harness_sync(bus); /* everything before is routed, copies queued */
	while (raw_recv(mon, &f, 200) == 1) {
		if (f.h.memfd_body_size >= min)
			s.oob++;
		else if (f.body_len >= min)
			s.inline_big++;
	}
	s.fds = mon->n_fds;
	while (mon->n_fds) {
		int fd = raw_take_fd(mon);
		if (fd >= 0)
			close(fd);
	}
	return s;
}

static volatile int async_done;
static int async_same;
static const uint8_t *async_data;
static size_t async_len;

static void on_async(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)ud;
	async_done = 1;
	if (err || !reply)
		return;
	Busd__Examples__EchoReply *rep = (Busd__Examples__EchoReply *)bus_msg_unpack(
		reply, &busd__examples__echo_reply__descriptor);
	async_same = rep && rep->data.len == async_len &&
		     memcmp(rep->data.data, async_data, async_len) == 0 && reply->n_fds == 0;
	busd__examples__echo_reply__free_unpacked(rep, NULL);
}

static volatile int stub_done;
static int stub_same;

static void stub_closure(const Busd__Examples__EchoReply *rep, void *closure_data)
{
	(void)closure_data;
	stub_done = 1;
	stub_same = rep && rep->data.len == async_len &&
		    memcmp(rep->data.data, async_data, async_len) == 0;
}

static void test_libbus(bus_t *bus)
{
	raw_conn mon;
	raw_frame f;
	size_t len = MIB;
	uint8_t *data = malloc(len);

	harness_fill(data, len, 3);
	is_int((long long)bus_get_memfd_threshold(bus), BUS_MEMFD_THRESHOLD_DEFAULT,
	       "the default threshold is 256 KiB");
	is_int((long long)bus_get_max_memfd_body_size(bus), 300ll * MIB,
	       "busd's limit for out-of-line bodies came with HelloReply");
	Bus__MonitorRequest mreq = BUS__MONITOR_REQUEST__INIT;
	raw_control(fresh(&mon, 0), "Monitor", &mreq.base, &f, 10000);

	ok(echo_call(bus, data, len), "bus_call: 1 MiB round-trips through echo");
	struct seen s = monitor_drain(&mon, bus, len);
	ok(s.oob == 2 && s.inline_big == 0, "  out of line both ways (monitor: %d out of line, "
	   "%d inline)", s.oob, s.inline_big);
	is_int(s.fds, 0, "  a monitor that did not ask for bodies gets no descriptor");

	ok(echo_call(bus, data, 100 * 1024), "bus_call: 100 KiB round-trips");
	s = monitor_drain(&mon, bus, 100 * 1024);
	ok(s.oob == 0 && s.inline_big == 2, "  inline both ways, below the threshold (%d, %d)",
	   s.oob, s.inline_big);

	bus_set_memfd_threshold(bus, 0);
	ok(echo_call(bus, data, len), "threshold 0: 1 MiB round-trips");
	s = monitor_drain(&mon, bus, len);
	ok(s.oob == 1 && s.inline_big == 1, "  the call inline, echo's reply out of line (%d, %d)",
	   s.oob, s.inline_big);
	bus_set_memfd_threshold(bus, BUS_MEMFD_THRESHOLD_DEFAULT);

	/* bus_call_async */
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t blen;
	req.data.data = data;
	req.data.len = len;
	void *body = harness_pack(&req.base, &blen);
	async_data = data;
	async_len = len;
	bus_call_async(bus, NULL, ECHO, ECHO_IF, "Echo", "busd.examples.EchoRequest", body, blen,
		       30000000, on_async, NULL);
	free(body);
	harness_loop_until(bus, &async_done, 30000);
	ok(async_done && async_same, "bus_call_async: 1 MiB round-trips, n_fds 0 in the reply");

	/* A generated stub, both modes. */
	ProtobufCService *sync = bus_proxy_new(bus, ECHO, &busd__examples__echo__descriptor,
					       30000000, BUS_PROXY_SYNC);
	stub_done = stub_same = 0;
	busd__examples__echo__echo(sync, &req, stub_closure, NULL);
	ok(stub_done && stub_same, "a sync generated stub: 1 MiB round-trips");
	bus_proxy_free(sync);
	ProtobufCService *as = bus_proxy_new(bus, ECHO, &busd__examples__echo__descriptor,
					     30000000, BUS_PROXY_ASYNC);
	stub_done = stub_same = 0;
	busd__examples__echo__echo(as, &req, stub_closure, NULL);
	harness_loop_until(bus, &stub_done, 30000);
	ok(stub_done && stub_same, "an async generated stub: 1 MiB round-trips");
	bus_proxy_free(as);
	s = monitor_drain(&mon, bus, len);
	is_int(s.oob, 6, "  all three calls and answers went out of line");

	/* A monitor that asks for bodies gets each one's memfd, sealed. */
	raw_conn mb;
	mreq.memfd_bodies = 1;
	raw_control(fresh(&mb, 0), "Monitor", &mreq.base, &f, 10000);
	ok(echo_call(bus, data, len), "bus_call with a monitor that asked for bodies");
	harness_sync(bus);
	int got = 0, sealed = 0;
	while (got < 2 && raw_recv(&mb, &f, 10000) == 1) {
		if (!f.h.memfd_body_size)
			continue;
		got++;
		int fd = raw_take_fd(&mb);
		struct stat stt;
		sealed += fd >= 0 && fcntl(fd, F_GET_SEALS) == SEALS && fstat(fd, &stt) == 0 &&
			  (uint64_t)stt.st_size == f.h.memfd_body_size;
		if (fd >= 0)
			close(fd);
	}
	ok(got == 2 && sealed == 2, "  it gets the call's and the reply's body memfd, sealed, "
	   "of their size (%d, %d)", got, sealed);
	raw_close(&mb);
	raw_close(&mon);
	free(data);
}

/* busctl call with JSON holding a 320,000-byte string: out of line both
 * ways, as a monitor sees. */
static void test_busctl(bus_t *bus)
{
	char busctl[4096], in[4096], out[4096];
	const char *top = getenv("top_builddir");
	raw_conn mon;
	raw_frame f;

	snprintf(busctl, sizeof(busctl), "%s/busctl/busctl", top && *top ? top : ".");
	if (access(busctl, X_OK) < 0) {
		skip("busctl is not built", "busctl call: JSON with a 320,000-byte string");
		skip("busctl is not built", "  out of line both ways");
		return;
	}
	Bus__MonitorRequest mreq = BUS__MONITOR_REQUEST__INIT;
	raw_control(fresh(&mon, 0), "Monitor", &mreq.base, &f, 10000);
	size_t n = 320000;
	char *text = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		text[i] = (char)('a' + i % 26);
	text[n] = 0;
	snprintf(in, sizeof(in), "%s/big.json", harness_dir());
	snprintf(out, sizeof(out), "%s/big.out", harness_dir());
	FILE *fi = fopen(in, "we");
	fprintf(fi, "{\"text\":\"%s\"}\n", text);
	fclose(fi);
	pid_t pid = fork();
	if (pid == 0) {
		int i = open(in, O_RDONLY), o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(i, STDIN_FILENO);
		dup2(o, STDOUT_FILENO);
		execl(busctl, "busctl", "call", ECHO, "Echo", (char *)NULL);
		_exit(127);
	}
	int st = -1;
	waitpid(pid, &st, 0);
	FILE *fo = fopen(out, "re");
	char *got = malloc(2 * n);
	size_t glen = fo ? fread(got, 1, 2 * n - 1, fo) : 0;
	if (fo)
		fclose(fo);
	got[glen] = 0;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && strstr(got, text) != NULL,
	   "busctl call: JSON with a 320,000-byte string round-trips (exit %d, %zu bytes out)",
	   WIFEXITED(st) ? WEXITSTATUS(st) : -1, glen);
	struct seen sn = monitor_drain(&mon, bus, n);
	ok(sn.oob == 2 && sn.inline_big == 0, "  out of line both ways (monitor: %d, %d inline)",
	   sn.oob, sn.inline_big);
	raw_close(&mon);
	free(got);
	free(text);
}

/* Run busctl with args, stdout into out (NULL: /dev/null); its exit status. */
static int run_busctl(const char *busctl, const char *const *args, const char *out, int wait)
{
	pid_t pid = fork();
	if (pid == 0) {
		int o = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
		dup2(o, STDOUT_FILENO);
		execv(busctl, (char *const *)(uintptr_t)args);
		_exit(127);
	}
	if (!wait)
		return pid;
	int st = -1;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* busctl capture --bodies keeps an out-of-line body's bytes; decode and
 * monitor's printer say the body was out of line, and its size. */
static void test_capture(bus_t *bus)
{
	char busctl[4096], pcap[4096], out[4096];
	const char *top = getenv("top_builddir");

	snprintf(busctl, sizeof(busctl), "%s/busctl/busctl", top && *top ? top : ".");
	if (access(busctl, X_OK) < 0) {
		skip("busctl is not built", "busctl capture --bodies");
		skip("busctl is not built", "busctl decode");
		return;
	}
	snprintf(pcap, sizeof(pcap), "%s/memfd.pcap", harness_dir());
	snprintf(out, sizeof(out), "%s/decode.out", harness_dir());
	const char *cap[] = { "busctl", "capture", "--bodies", "--count", "1", "--snaplen", "4194304",
			      "-o", pcap, "--match", "member=Echo", NULL };
	pid_t pid = run_busctl(busctl, cap, NULL, 0);
	/* It is capturing once busd counts it as a monitor. */
	unsigned mons = 0;
	for (uint64_t until = harness_now_ms() + 10000; mons != 1 && harness_now_ms() < until;) {
		Bus__StatsReply *st = harness_stats(bus);
		mons = st ? st->monitors : 0;
		protobuf_c_message_free_unpacked(&st->base, NULL);
	}
	uint8_t *data = malloc(MIB);
	harness_fill(data, MIB, 7);
	echo_call(bus, data, MIB);
	int st = -1;
	waitpid(pid, &st, 0);
	struct stat sb = { 0 };
	int have = stat(pcap, &sb) == 0;
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0 && have && sb.st_size > MIB,
	   "busctl capture --bodies: the call with its out-of-line body's bytes (%lld bytes)",
	   (long long)sb.st_size);
	const char *dec[] = { "busctl", "decode", "--raw", pcap, NULL };
	int r = run_busctl(busctl, dec, out, 1);
	FILE *f = fopen(out, "re");
	char line[4096];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += strstr(line, "size=1048580") && strstr(line, " memfd") &&
		     !strstr(line, "bytes not seen");
	if (f)
		fclose(f);
	ok(r == 0 && n == 1, "busctl decode shows it out of line, with its size (size=1048580 "
	   "memfd): %d", n);
	free(data);
}

/* 256 MiB, above the maximum frame size, there and back. */
static void test_big(bus_t *bus)
{
	uint8_t *data = malloc(BIG);

	harness_fill(data, BIG, 4);
	ok(echo_call(bus, data, BIG), "a 256 MiB body (frames are at most 4 MiB here) round-trips, "
	   "checksum equal");
	is_int(busd_memfd_maps(), 0, "busd never mapped a body (/proc/PID/maps)");
	free(data);
}

/* ---------------------------------------------------------------- charges */

static void test_charges(bus_t *bus, unsigned peers)
{
	raw_conn callee;
	raw_frame f;
	size_t len = 2 * MIB;
	uint8_t *data = malloc(len);
	int base = settled_fds(peers);

	harness_fill(data, len, 5);
	fresh(&callee, 1);
	/* An event to a subscriber that does not read yet: busd holds it
	 * behind inline events that filled the subscriber's socket. */
	raw_subscribe(&callee, "test.held", &f);
	bus_set_memfd_threshold(bus, 0);
	for (int i = 0; i < 4; i++)
		bus_emit_raw(bus, "test.held", NULL, data, MIB);
	bus_set_memfd_threshold(bus, BUS_MEMFD_THRESHOLD_DEFAULT);
	is_int(bus_emit_raw(bus, "test.held", NULL, data, len), 0,
	       "a 2 MiB event is emitted behind 4 MiB of inline ones");
	harness_sync(bus);
	Bus__StatsReply *st = harness_stats(bus);
	is_int(st ? (long long)st->memfd_bytes : -1, (long long)len,
	       "while it waits for its subscriber busd charges its 2 MiB (Stats memfd_bytes)");
	protobuf_c_message_free_unpacked(&st->base, NULL);
	Bus__ListNamesReply *l = NULL;
	harness_list_names(bus, &l);
	Bus__PeerInfo *pi = l ? harness_find_peer(l, callee.unique) : NULL;
	is_int(pi ? (long long)pi->memfd_bytes : -1, (long long)len,
	       "  to the subscriber (PeerInfo memfd_bytes)");
	protobuf_c_message_free_unpacked(&l->base, NULL);
	is_int(busd_memfd_maps(), 0, "  busd holds the memfd without mapping it");
	int r;
	while ((r = raw_recv(&callee, &f, 10000)) == 1 && !f.h.memfd_body_size)
		;
	int fd = raw_take_fd(&callee);
	void *p = fd >= 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	ok(r == 1 && f.h.kind == WIRE_KIND_EVENT && f.h.memfd_body_size == len && f.body_len == 0 &&
	   p != MAP_FAILED && memcmp(p, data, len) == 0,
	   "the subscriber reads the event: its body is the memfd, byte for byte");
	if (p != MAP_FAILED)
		munmap(p, len);
	if (fd >= 0)
		close(fd);
	harness_sync(bus);
	st = harness_stats(bus);
	is_int(st ? (long long)st->memfd_bytes : -1, 0, "  then the charge is released");
	protobuf_c_message_free_unpacked(&st->base, NULL);
	raw_close(&callee);
	is_int(settled_fds(peers), base, "busd holds as many descriptors as before");
	free(data);
}

/* ---------------------------------------------------------------- with descriptors */

/* A body out of line beside a descriptor of the program's: the body's
 * memfd goes last, bus.Fd index 0 is still the program's, and n_fds does
 * not count the body, both ways (a raw callee in between). */
static volatile int mixed_done;
static int mixed_ok;

static void on_mixed(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	const uint8_t *data = ud;

	(void)bus;
	mixed_done = 1;
	if (err || !reply || reply->n_fds != 1 || reply->fd_count != 2 ||
	    reply->memfd_body_size != MIB || reply->body_len != MIB ||
	    memcmp(reply->body, data, MIB) != 0)
		return;
	int fd = bus_msg_take_fd(reply, 0);
	mixed_ok = fd >= 0 && write(fd, "back", 4) == 4;
	if (fd >= 0)
		close(fd);
}

static void test_with_fds(bus_t *bus)
{
	raw_conn callee;
	raw_frame f;
	int p[2], q[2];
	char buf[16];
	uint8_t *data = malloc(MIB);

	harness_fill(data, MIB, 9);
	fresh(&callee, 1);
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(q, O_CLOEXEC) < 0)
		harness_bail("pipe");
	mixed_done = mixed_ok = 0;
	bus_call_async_fds(bus, NULL, callee.unique, NULL, "Take", NULL, data, MIB, &p[1], 1,
			   10000000, on_mixed, data);
	close(p[1]);
	harness_sync(bus);
	int r = raw_recv(&callee, &f, 10000);
	int user = raw_take_fd(&callee), body = raw_take_fd(&callee);
	struct stat st = { 0 };
	void *m = body >= 0 && fstat(body, &st) == 0 && st.st_size == MIB ?
		  mmap(NULL, MIB, PROT_READ, MAP_SHARED, body, 0) : MAP_FAILED;
	ok(r == 1 && f.h.fd_count == 2 && f.h.memfd_body_size == MIB && f.body_len == 0 &&
	   m != MAP_FAILED && memcmp(m, data, MIB) == 0 && fcntl(body, F_GET_SEALS) == SEALS,
	   "a 1 MiB call with a descriptor: fd_count 2, the sealed body memfd last");
	if (m != MAP_FAILED)
		munmap(m, MIB);
	ok(user >= 0 && write(user, "there", 5) == 5 && read(p[0], buf, sizeof(buf)) == 5,
	   "  and the program's descriptor first, working");
	if (user >= 0)
		close(user);
	uint64_t serial = r == 1 ? f.h.serial : 0;
	char sender[64];
	raw_str(r == 1 ? f.h.sender : (wire_str){ 0 }, sender, sizeof(sender));
	int fds[2] = { q[1], body };
	wire_header rep = { .kind = WIRE_KIND_REPLY, .serial = 5, .reply_serial = serial,
			    .destination = wire_str_c(sender), .fd_count = 2,
			    .memfd_body_size = MIB };
	raw_send_fds(&callee, &rep, NULL, 0, fds, 2); /* the same body back */
	close(q[1]);
	if (body >= 0)
		close(body);
	harness_loop_until(bus, &mixed_done, 10000);
	ok(mixed_done && mixed_ok && read(q[0], buf, sizeof(buf)) == 4,
	   "the reply's: n_fds 1 (its descriptor at index 0, working), the body mapped");
	close(p[0]);
	close(q[0]);
	raw_close(&callee);
	free(data);
}

/* ---------------------------------------------------------------- events */

static volatile int ev_n;
static uint64_t ev_sum;
static size_t ev_len;
static unsigned ev_fds;

static void on_event(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	(void)ud;
	ev_sum = fnv1a(m->body, m->body_len);
	ev_len = m->body_len;
	ev_fds = m->n_fds;
	ev_n++;
}

static int fan_child(int ctl, void *arg)
{
	bus_t *bus = harness_connect();
	bus_error_t err;
	(void)arg;

	if (bus_subscribe(bus, NULL, "test.fan", on_event, NULL, &err) < 0)
		return 1;
	harness_send(ctl, "ready");
	harness_loop_until(bus, &ev_n, 30000);
	harness_send(ctl, "%d %zu %016llx %u", ev_n, ev_len, (unsigned long long)ev_sum, ev_fds);
	bus_close(bus);
	return 0;
}

static void test_events(bus_t *bus, unsigned peers)
{
	harness_child kids[3];
	raw_conn plain, gone;
	raw_frame f;
	char line[128], want[128];
	size_t len = MIB;
	uint8_t *data = malloc(len);
	int base = settled_fds(peers);

	harness_fill(data, len, 6);
	for (int i = 0; i < 3; i++) {
		harness_fork(&kids[i], fan_child, NULL);
		harness_recv(kids[i].ctl, line, sizeof(line), 10000);
	}
	fresh(&plain, 0); /* does not take out-of-line bodies */
	raw_subscribe(&plain, "test.fan", &f);
	fresh(&gone, 1);  /* takes them, never reads, goes away */
	raw_subscribe(&gone, "test.fan", &f);
	Bus__StatsReply *st0 = harness_stats(bus);
	is_int(bus_emit_raw(bus, "test.fan", NULL, data, len), 0, "a 1 MiB event is emitted");
	snprintf(want, sizeof(want), "1 %zu %016llx 0", len, (unsigned long long)fnv1a(data, len));
	int same = 0;
	for (int i = 0; i < 3; i++) {
		int r = harness_recv(kids[i].ctl, line, sizeof(line), 30000);
		same += r > 0 && strcmp(line, want) == 0;
		harness_wait(&kids[i], 10000);
	}
	is_int(same, 3, "3 libbus subscribers each get the body whole (checksum), n_fds 0");
	harness_sync(bus);
	Bus__StatsReply *st1 = harness_stats(bus);
	ok(st0 && st1 && st1->event_deliveries - st0->event_deliveries == 4 &&
	   st1->events_dropped - st0->events_dropped == 1,
	   "busd delivered it 4 times and dropped it once: for the subscriber that does not take "
	   "out-of-line bodies");
	protobuf_c_message_free_unpacked(&st0->base, NULL);
	protobuf_c_message_free_unpacked(&st1->base, NULL);
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	ok(raw_control(&plain, "Stats", &req.base, &f, 10000) == 0 && plain.n_fds == 0,
	   "  which was given nothing");
	raw_close(&plain);
	raw_close(&gone);
	harness_sync(bus);
	Bus__StatsReply *st = harness_stats(bus);
	is_int(st ? (long long)st->memfd_bytes : -1, 0,
	       "a subscriber gone before reading: nothing charged any more");
	protobuf_c_message_free_unpacked(&st->base, NULL);
	is_int(settled_fds(peers), base, "  and busd holds as many descriptors as before");
	free(data);
}

int main(void)
{
	plan(54);
	harness_start_conf("[limits]\nmax_frame_size = 4M\nmax_memfd_body_size = " LIMIT "\n"
			   "max_queued_memfd_bytes = 1G\n");
	bus_t *bus = harness_connect();
	harness_child echo;
	require(harness_spawn_echo(&echo) == 0, "services/echo runs");
	unsigned peers = 2; /* this process and echo */

	test_refused(peers);
	test_unsupported(peers);
	test_libbus(bus);
	test_busctl(bus);
	test_capture(bus);
	test_big(bus);
	test_charges(bus, peers);
	test_events(bus, peers);
	test_with_fds(bus);
	Bus__StatsReply *st = harness_stats(bus);
	is_int(st ? (long long)st->memfd_bytes : -1, 0, "at the end busd holds no body");
	protobuf_c_message_free_unpacked(&st->base, NULL);
	bus_close(bus);
	return harness_done();
}
