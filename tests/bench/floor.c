/* floor.c - the least any broker must pay, measured on the same machine in
 * the same run: a direct socketpair ping-pong, and a minimal epoll relay
 * (client -> relay -> server -> relay -> client) that forwards bytes
 * without looking at them beyond their length. Messages are raw: a 4-byte
 * length and the body. The clients send one message per write(), as a
 * program sending each request as it is issued does. The relay does what a
 * broker must and no more: it reads whole messages (as many as the socket
 * has, a buffer grown to hold the largest), writes them on with
 * non-blocking sockets, and stops reading a side while its output to the
 * other side is still pending (back-pressure), so bodies larger than the
 * socket buffers flow without blocking it. The echo server reads whole
 * messages and writes them back. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK (256 * 1024)

static size_t msg_size(const struct workload *w)
{
	return 4 + w->body;
}

static uint8_t *msg_new(const struct workload *w)
{
	size_t m = msg_size(w);
	uint8_t *p = malloc(m);
	if (!p)
		die("out of memory");
	uint32_t len = (uint32_t)w->body;
	memcpy(p, &len, 4);
	memset(p + 4, 0xa5, w->body);
	return p;
}

static void pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
}

static void nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

/* Read exactly len bytes. */
static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("floor: read: %s", n ? strerror(errno) : "end of stream");
		p += n;
		len -= (size_t)n;
	}
}

/* ---------------------------------------------------------------- messages */

/* Messages read from one socket and not yet passed on: buf holds `have`
 * bytes, of which the first `out` are whole messages (`sent` of them
 * already written), the rest the start of the next one. */
struct lane {
	int from, to;
	uint8_t *buf;
	size_t cap, have, out, sent;
	int eof;
};

static void lane_init(struct lane *l, int from, int to)
{
	*l = (struct lane){ .from = from, .to = to, .cap = CHUNK };
	if (!(l->buf = malloc(l->cap)))
		_exit(1);
}

/* Bytes of whole messages at the start of p. */
static size_t whole(const uint8_t *p, size_t have)
{
	size_t off = 0;
	uint32_t len;

	while (have - off >= 4) {
		memcpy(&len, p + off, 4);
		if (have - off - 4 < len)
			break;
		off += 4 + (size_t)len;
	}
	return off;
}

/* One read() of what the socket has, into room for at least the whole of
 * the message begun. Returns read()'s result. */
static ssize_t lane_read(struct lane *l)
{
	if (l->have >= 4) {
		uint32_t len;
		memcpy(&len, l->buf, 4);
		if (4 + (size_t)len > l->cap) {
			uint8_t *p = realloc(l->buf, 4 + (size_t)len);
			if (!p)
				_exit(1);
			l->buf = p;
			l->cap = 4 + (size_t)len;
		}
	}
	ssize_t n = read(l->from, l->buf + l->have, l->cap - l->have);
	if (n > 0) {
		l->have += (size_t)n;
		l->out = whole(l->buf, l->have);
		l->sent = 0;
	}
	return n;
}

/* Write what is pending; once all is out, keep the partial message at the
 * start of the buffer. Returns 1 when nothing is pending any more. */
static int lane_write(struct lane *l)
{
	while (l->sent < l->out) {
		ssize_t n = write(l->to, l->buf + l->sent, l->out - l->sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			_exit(1);
		l->sent += (size_t)n;
	}
	memmove(l->buf, l->buf + l->out, l->have - l->out);
	l->have -= l->out;
	l->out = l->sent = 0;
	return 1;
}

/* ---------------------------------------------------------------- processes */

/* Echo every whole message back, until end of stream. */
static void echo_server(int fd)
{
	struct lane l;
	ssize_t n;

	lane_init(&l, fd, fd);
	while ((n = lane_read(&l)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		write_all(fd, l.buf, l.out);
		l.sent = l.out;
		lane_write(&l);
	}
	_exit(0);
}

/* What epoll watches on fd: input while the lane reading it has nothing
 * pending, output while the lane writing to it has. *now is what it
 * watches: epoll is told only of changes, so that small messages, always
 * written at once, cost no epoll_ctl(). */
static void relay_watch(int ep, int fd, const struct lane *in, const struct lane *out,
			uint32_t *now)
{
	struct epoll_event e = { .data.fd = fd };

	if (!in->eof && in->out == 0)
		e.events |= EPOLLIN;
	if (out->sent < out->out)
		e.events |= EPOLLOUT;
	if (e.events != *now && epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e) == 0)
		*now = e.events;
}

/* Forward whole messages between a and b until both ends have closed. */
static void relay(int a, int b)
{
	struct epoll_event ev[2], e = { .events = EPOLLIN };
	struct lane lanes[2]; /* [0]: a -> b, [1]: b -> a */
	uint32_t watched[2] = { EPOLLIN, EPOLLIN };
	int ep = epoll_create1(EPOLL_CLOEXEC), open = 2;

	if (ep < 0)
		_exit(1);
	nonblocking(a);
	nonblocking(b);
	lane_init(&lanes[0], a, b);
	lane_init(&lanes[1], b, a);
	e.data.fd = a;
	epoll_ctl(ep, EPOLL_CTL_ADD, a, &e);
	e.data.fd = b;
	epoll_ctl(ep, EPOLL_CTL_ADD, b, &e);
	/* Until both ends have closed and what they sent is passed on. */
	while (open || lanes[0].out || lanes[1].out) {
		int n = epoll_wait(ep, ev, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			struct lane *in = &lanes[fd == a ? 0 : 1], *out = &lanes[fd == a ? 1 : 0];
			if ((ev[i].events & EPOLLOUT) && lane_write(out) && out->eof)
				shutdown(out->to, SHUT_WR);
			if ((ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !in->eof &&
			    in->out == 0) {
				ssize_t r = lane_read(in);
				if (r > 0) {
					lane_write(in);
				} else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
					in->eof = 1;
					open--;
					if (in->out == 0)
						shutdown(in->to, SHUT_WR);
				}
			}
			relay_watch(ep, a, &lanes[0], &lanes[1], &watched[0]);
			relay_watch(ep, b, &lanes[1], &lanes[0], &watched[1]);
		}
	}
	_exit(0);
}

/* Count fixed-size messages as they arrive; report through slot 0. */
static void counting_subscriber(int fd, struct shared *sh, size_t m)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t bytes = 0;
	ssize_t n;

	if (!buf)
		_exit(1);
	atomic_fetch_add(&sh->ready, 1);
	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		bytes += (uint64_t)n;
		atomic_store_explicit(&sh->t_last_ns[0], now_ns(), memory_order_relaxed);
		atomic_store_explicit(&sh->received[0], bytes / m, memory_order_release);
	}
	_exit(0);
}

/* Fork a relay between a and b; the parent keeps neither. */
static pid_t relay_start(int a, int b, int keep1, int keep2)
{
	pid_t pid = fork_child();
	if (pid == 0) {
		pin_broker();
		close(keep1);
		close(keep2);
		relay(a, b);
	}
	close(a);
	close(b);
	return pid;
}

/* ---------------------------------------------------------------- RTT */

struct floor_rtt {
	int fd;
	pid_t relay, server;
	size_t m;
	uint8_t *out, *in;
};

/* client c[0] <-> c[1] relay s[0] <-> s[1] server */
static void relay_setup(int c[2], int s[2], pid_t *relay_pid, pid_t *server_pid)
{
	pair(c);
	pair(s);
	*server_pid = fork_child();
	if (*server_pid == 0) {
		close(c[0]);
		close(c[1]);
		close(s[0]);
		echo_server(s[1]);
	}
	close(s[1]);
	*relay_pid = relay_start(c[1], s[0], c[0], -1);
}

struct floor_rtt *floor_rtt_open(const struct workload *w, int relayed)
{
	struct floor_rtt *f = calloc(1, sizeof(*f));

	if (!f)
		die("out of memory");
	f->m = msg_size(w);
	f->out = msg_new(w);
	if (!(f->in = malloc(f->m)))
		die("out of memory");
	f->relay = -1;
	if (relayed) {
		int c[2], s[2];
		relay_setup(c, s, &f->relay, &f->server);
		f->fd = c[0];
	} else {
		int sv[2];
		pair(sv);
		f->server = fork_child();
		if (f->server == 0) {
			close(sv[0]);
			echo_server(sv[1]);
		}
		close(sv[1]);
		f->fd = sv[0];
	}
	return f;
}

void floor_rtt_trip(void *ctx)
{
	struct floor_rtt *f = ctx;

	write_all(f->fd, f->out, f->m);
	read_all(f->fd, f->in, f->m);
}

void floor_rtt_pids(const struct floor_rtt *f, pid_t *broker, pid_t *server)
{
	*broker = f->relay;
	*server = f->server;
}

void floor_rtt_close(struct floor_rtt *f)
{
	close(f->fd);
	if (f->relay > 0)
		child_stop(f->relay);
	child_stop(f->server);
	free(f->in);
	free(f->out);
	free(f);
}

/* ---------------------------------------------------------------- pipelined */

/* Keep window calls outstanding until limit calls are sent or the clock
 * passes end, then wait for the last answers; returns the calls answered.
 * The socket is non-blocking and polled for both directions: with bodies
 * larger than the socket buffers, a client blocked in write() while answers
 * wait to be read would stall the relay's back-pressure chain. */
static uint64_t pump(int fd, const uint8_t *out, size_t m, uint8_t *in, unsigned window,
		     uint64_t limit, uint64_t end)
{
	uint64_t sent = 0, answered = 0, bytes = 0;
	size_t off = 0;
	int sending = 1;

	while (answered < sent || sending) {
		/* Write the message begun, then more while the window allows. */
		while (off || (sending && sent < limit && sent - answered < window)) {
			ssize_t n = write(fd, out + off, m - off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n < 0)
				die("floor pipelined: write: %s", strerror(errno));
			if (!off)
				sent++;
			off = (off + (size_t)n) % m;
		}
		if (sending && sent >= limit)
			sending = 0;
		if (!(answered < sent))
			continue;
		ssize_t n = read(fd, in, CHUNK);
		if (n < 0 && errno == EAGAIN) {
			/* Nothing to read: sleep until there is, or until the
			 * message begun can go on. */
			struct pollfd p = { .fd = fd, .events = POLLIN | (off ? POLLOUT : 0) };
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				die("floor pipelined: poll: %s", strerror(errno));
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("floor pipelined: read: %s", n ? strerror(errno) : "end of stream");
		bytes += (uint64_t)n;
		answered = bytes / m;
		if (sending && now_ns() >= end)
			sending = 0;
	}
	return answered;
}

/* A warm-up of WARM_WINDOWS windows of calls, then w->window calls
 * outstanding for w->seconds. */
void floor_pipelined_relay(const struct workload *w, struct result *r)
{
	int c[2], s[2];
	pid_t rl, sv;
	size_t m = msg_size(w);
	uint8_t *out = msg_new(w), *in = malloc(CHUNK);
	struct faults fl;

	if (!in)
		die("out of memory");
	relay_setup(c, s, &rl, &sv);
	int fd = c[0];
	nonblocking(fd);
	pump(fd, out, m, in, w->window, (uint64_t)WARM_WINDOWS * w->window, UINT64_MAX);
	faults_start(&fl, rl, sv);
	uint64_t t0 = now_ns();
	uint64_t answered = pump(fd, out, m, in, w->window, UINT64_MAX,
				 t0 + (uint64_t)(w->seconds * 1e9));
	double secs = (double)(now_ns() - t0) / 1e9;
	faults_stop(&fl, (double)answered, r);
	r->rate = answered / secs;
	r->mbps = r->rate * (double)w->body / 1e6;
	close(fd);
	child_stop(rl);
	child_stop(sv);
	free(in);
	free(out);
}

/* ---------------------------------------------------------------- one-way */

void floor_oneway_relay(const struct workload *w, struct result *r)
{
	struct shared *sh = shared_new();
	size_t m = msg_size(w);
	uint8_t *out = msg_new(w);
	int c[2], s[2];

	pair(c);
	pair(s);
	pid_t sub = fork_child();
	if (sub == 0) {
		close(c[0]);
		close(c[1]);
		close(s[0]);
		counting_subscriber(s[1], sh, m);
	}
	close(s[1]);
	pid_t rl = relay_start(c[1], s[0], c[0], -1);
	shared_wait_ready(sh, 1);

	struct workload one = *w;
	one.subscribers = 1;
	uint64_t sent = 0;
	struct faults fl;
	/* The warm-up is the measured loop itself, for WARM_WINDOWS windows. */
	for (; sent < (uint64_t)WARM_WINDOWS * w->window; sent++) {
		window_wait(sh, 1, sent, w->window);
		write_all(c[0], out, m);
	}
	sh->warm = sent;
	oneway_warmed(sh, 1);
	faults_start(&fl, rl, sub);
	sh->t_start_ns = now_ns();
	uint64_t end = sh->t_start_ns + (uint64_t)(w->seconds * 1e9);
	for (;;) {
		if (time_to_look(w, sent) && now_ns() >= end)
			break;
		window_wait(sh, 1, sent, w->window);
		write_all(c[0], out, m);
		sent++;
	}
	atomic_store(&sh->sent, sent);
	oneway_collect(sh, &one, r);
	faults_stop(&fl, (double)sent, r);
	close(c[0]);
	child_stop(rl);
	child_stop(sub);
	shared_free(sh);
	free(out);
}
