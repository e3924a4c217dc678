/* floor.c - the least any broker must pay, measured on the same machine in
 * the same run: a direct socketpair ping-pong, and a minimal epoll relay
 * (client -> relay -> server -> relay -> client) that forwards bytes without
 * looking at them. Messages are raw, of a fixed size (a 4-byte length and
 * the body), so a reader counts them by bytes. The clients send one message
 * per write(), as a program sending each request as it is issued does; the
 * relay and the echo server read whatever is there and pass it on in one
 * write(). */
#include "config.h"

#include <errno.h>
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

/* ---------------------------------------------------------------- processes */

/* Echo every byte back, in the batches it arrives in, until end of stream. */
static void echo_server(int fd)
{
	uint8_t *buf = malloc(CHUNK);
	ssize_t n;

	if (!buf)
		_exit(1);
	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		write_all(fd, buf, (size_t)n);
	}
	_exit(0);
}

/* Forward bytes between a and b until both ends have closed. */
static void relay(int a, int b)
{
	struct epoll_event ev[2], e = { .events = EPOLLIN };
	uint8_t *buf = malloc(CHUNK);
	int ep = epoll_create1(EPOLL_CLOEXEC), open = 2;

	if (!buf || ep < 0)
		_exit(1);
	e.data.fd = a;
	epoll_ctl(ep, EPOLL_CTL_ADD, a, &e);
	e.data.fd = b;
	epoll_ctl(ep, EPOLL_CTL_ADD, b, &e);
	while (open) {
		int n = epoll_wait(ep, ev, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			_exit(1);
		for (int i = 0; i < n; i++) {
			int from = ev[i].data.fd, to = from == a ? b : a;
			ssize_t r = read(from, buf, CHUNK);
			if (r > 0) {
				write_all(to, buf, (size_t)r);
			} else if (r == 0 || errno != EINTR) {
				epoll_ctl(ep, EPOLL_CTL_DEL, from, NULL);
				shutdown(to, SHUT_WR);
				open--;
			}
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

void floor_pipelined_relay(const struct workload *w, struct result *r)
{
	int c[2], s[2];
	pid_t rl, sv;
	size_t m = msg_size(w);
	uint8_t *out = msg_new(w), *in = malloc(CHUNK);
	uint64_t sent = 0, answered = 0, bytes = 0;

	if (!in)
		die("out of memory");
	relay_setup(c, s, &rl, &sv);
	int fd = c[0];
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(w->seconds * 1e9);
	for (; sent < w->window; sent++)
		write_all(fd, out, m);
	int sending = 1;
	while (answered < sent) {
		ssize_t n = read(fd, in, CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("floor pipelined: read: %s", n ? strerror(errno) : "end of stream");
		bytes += (uint64_t)n;
		uint64_t now_answered = bytes / m;
		if (sending && now_ns() >= end)
			sending = 0;
		for (; sending && answered < now_answered; answered++, sent++)
			write_all(fd, out, m);
		answered = now_answered;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
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
	sh->t_start_ns = now_ns();
	uint64_t end = sh->t_start_ns + (uint64_t)(w->seconds * 1e9);
	for (;;) {
		if ((sent & 255) == 0 && now_ns() >= end)
			break;
		window_wait(sh, 1, sent, w->window);
		write_all(c[0], out, m);
		sent++;
	}
	atomic_store(&sh->sent, sent);
	oneway_collect(sh, &one, r);
	close(c[0]);
	child_stop(rl);
	child_stop(sub);
	shared_free(sh);
	free(out);
}
