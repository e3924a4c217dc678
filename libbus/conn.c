/* conn.c - the transport under a bus_t: the socket, the growable input and
 * output buffers, queueing frames (encoded once, straight into the output
 * buffer) and finding complete frames in the input with the shared codec.
 * Nothing here runs a user callback. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "bus-internal.h"

/* Buffers above these sizes are kept while large frames keep coming and
 * given back CONN_TRIM_USEC after they last ran empty (conn_trim), so that
 * steady traffic of any size touches no fresh memory and one big frame
 * does not pin megabytes for the connection's lifetime. */
#define OUT_KEEP (256u * 1024u)
#define IN_KEEP (4u * CONN_READ_CHUNK)

void conn_keep(bus_t *bus)
{
	bus->trim_at = conn_now() + CONN_TRIM_USEC;
}

static void buf_release(struct conn_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->cap = 0;
	b->start = b->end = 0;
}

void conn_trim(bus_t *bus, uint64_t now)
{
	if (!bus->trim_at || now < bus->trim_at)
		return;
	bus->trim_at = 0;
	if (bus->out.cap > OUT_KEEP && bus->out.start == bus->out.end)
		buf_release(&bus->out);
	if (bus->in.cap > IN_KEEP && bus->in.start == bus->in.end && !bus->in_pins)
		buf_release(&bus->in);
	unpack_trim(bus);
}

uint64_t conn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t conn_next_serial(bus_t *bus)
{
	if (++bus->serial == 0)
		bus->serial = 1;
	return bus->serial;
}

/* Wait in poll() for events until deadline (UINT64_MAX: none): the events
 * that are ready (> 0), 0 on the deadline or a signal, -errno. */
static int conn_poll(bus_t *bus, short events, uint64_t deadline)
{
	int ms = -1;

	if (deadline != UINT64_MAX) {
		uint64_t now = conn_now();
		if (now >= deadline)
			return 0;
		uint64_t left = (deadline - now + 999) / 1000; /* never wake early */
		ms = left > INT_MAX ? INT_MAX : (int)left;
	}
	struct pollfd pfd = { .fd = bus->fd, .events = events };
	int r = poll(&pfd, 1, ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	return r > 0 ? pfd.revents : 0;
}

/* ---------------------------------------------------------------- output */

static uint8_t *out_reserve(bus_t *bus, size_t need)
{
	struct conn_buf *b = &bus->out;
	size_t live = b->end - b->start;

	if (b->cap - b->end >= need)
		return b->data + b->end;
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, live);
		b->start = 0;
		b->end = live;
		if (b->cap - b->end >= need)
			return b->data + b->end;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - live < need)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (!d)
		return NULL;
	b->data = d;
	b->cap = cap;
	return b->data + b->end;
}

int conn_send(bus_t *bus, wire_header *h, const void *body, size_t len,
	      const ProtobufCMessage *msg, const char **why)
{
	if (!conn_usable(bus))
		return -ECONNRESET;
	return conn_queue(bus, h, body, len, msg, why);
}

/* Wait until the socket takes more output or until (CLOCK_MONOTONIC usec)
 * passes, reading what busd sends meanwhile: 1 when writable, 0 on the
 * deadline, -ECONNRESET. */
static int wait_writable(bus_t *bus, uint64_t until)
{
	for (;;) {
		int ev = conn_poll(bus, POLLIN | POLLOUT, until);
		if (ev <= 0) {
			if (ev == 0 && conn_now() < until)
				continue; /* a signal */
			return 0;
		}
		if ((ev & (POLLIN | POLLHUP | POLLERR)) && conn_read(bus) < 0 && bus->fd < 0)
			return -ECONNRESET;
		if (ev & (POLLOUT | POLLERR))
			return 1;
	}
}

/* The output buffer holds only a frame's head: send it and the body from
 * the caller's memory, without copying the body. Until a deadline (hold,
 * 0: none) the caller's body stays valid and the frame is sent whole,
 * waiting for the socket; what is left unsent then (or at once, with no
 * deadline) is copied into the output buffer. Returns 0 (a lost
 * connection is reported as usual), or -ENOMEM. */
static int send_direct(bus_t *bus, const uint8_t *body, size_t len, uint64_t hold)
{
	struct conn_buf *b = &bus->out;
	size_t done = 0;

	while (bus->fd >= 0 && (b->start < b->end || done < len)) {
		struct iovec iov[2];
		int n = 0;
		if (b->start < b->end)
			iov[n++] = (struct iovec){ b->data + b->start, b->end - b->start };
		if (done < len)
			iov[n++] = (struct iovec){ (void *)(uintptr_t)(body + done), len - done };
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(bus->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				conn_lose(bus, 1, "write to busd failed: %s", strerror(errno));
				return 0;
			}
			if (!hold || wait_writable(bus, hold) <= 0)
				break;
			continue;
		}
		size_t head = b->end - b->start, wn = (size_t)w;
		size_t from_head = wn < head ? wn : head;
		b->start += from_head;
		bus->out_base += from_head;
		done += wn - from_head;
	}
	if (b->start == b->end)
		b->start = b->end = 0;
	if (bus->fd < 0 || done == len)
		return 0;
	/* Half a frame is on the wire: the rest must follow it, or the stream
	 * is broken. */
	uint8_t *p = out_reserve(bus, len - done);
	if (!p) {
		conn_lose(bus, 0, "out of memory for %zu bytes of output", len - done);
		return -ENOMEM;
	}
	memcpy(p, body + done, len - done);
	b->end += len - done;
	if (b->end > OUT_KEEP)
		conn_keep(bus);
	loop_changed(bus);
	return 0;
}

/* Bodies this large are sent from the caller's memory when nothing else is
 * queued before them (send_direct). */
#define DIRECT_MIN (16u * 1024u)

static int queue_frame(bus_t *bus, wire_header *h, const void *body, size_t len,
		       const ProtobufCMessage *msg, const char **why, uint64_t hold)
{
	struct conn_buf *b = &bus->out;
	const char *reason = NULL;
	const int *fds = bus->next_fds;
	unsigned n_fds = bus->next_n_fds;

	bus->next_fds = NULL; /* they go with this frame or with none */
	bus->next_n_fds = 0;
	h->fd_count = n_fds;
	h->memfd_body_size = 0;
	if (!conn_open(bus) || bus->fd < 0)
		return -ECONNRESET;
	if (n_fds > bus->max_fds)
		return -E2BIG;
	if (wire_header_validate(h, &reason) != WIRE_OK) {
		if (why)
			*why = reason;
		return -EINVAL;
	}
	if (msg)
		len = protobuf_c_message_get_packed_size(msg);
	/* A large body goes out of line, in a sealed memfd (body.c); when no
	 * memfd can be made (out of descriptors or memory), inline if it fits
	 * a frame. */
	int body_fd = -1;
	if (body_wanted(bus, h, len, n_fds)) {
		body_fd = body_make(body, len, msg);
		if (body_fd < 0 && len > bus->max_frame)
			return body_fd;
	}
	if (body_fd >= 0) {
		h->memfd_body_size = len;
		h->fd_count = n_fds + 1;
		body = NULL;
		msg = NULL;
		len = 0;
	}
	size_t hlen = wire_header_size(h);
	/* busd refuses a peer's header above WIRE_MAX_PEER_HEADER: the rest of
	 * WIRE_MAX_HEADER is the room for the sender it stamps. */
	if (hlen > WIRE_MAX_PEER_HEADER) {
		if (why)
			*why = "header too large (above 65024 bytes)";
		if (body_fd >= 0)
			close(body_fd);
		return -EINVAL;
	}
	/* busd would close the connection for a bigger frame: refuse it here,
	 * and the connection goes on. */
	if (len > bus->max_frame || WIRE_PREAMBLE_SIZE + hlen + len > bus->max_frame) {
		bus->refused_frame = len > SIZE_MAX - WIRE_PREAMBLE_SIZE - hlen
				     ? SIZE_MAX : WIRE_PREAMBLE_SIZE + hlen + len;
		if (body_fd >= 0)
			close(body_fd);
		return -EMSGSIZE;
	}

	int was_empty = b->start == b->end;
	int direct = !msg && len >= DIRECT_MIN && was_empty && !bus->corked && !n_fds;
	size_t total = WIRE_PREAMBLE_SIZE + hlen + (direct ? 0 : len);
	uint8_t *p = out_reserve(bus, total);
	if (!p) {
		if (body_fd >= 0)
			close(body_fd);
		return -ENOMEM;
	}
	if (h->fd_count) {
		int r = fdpass_queue(bus, total, fds, n_fds, body_fd);
		if (r < 0)
			return r;
	}
	wire_preamble_encode(p, (uint32_t)hlen, (uint32_t)len);
	wire_header_encode(h, p + WIRE_PREAMBLE_SIZE);
	b->end += WIRE_PREAMBLE_SIZE + hlen;
	if (direct)
		return send_direct(bus, body, len, hold);
	if (msg)
		protobuf_c_message_pack(msg, p + WIRE_PREAMBLE_SIZE + hlen);
	else if (len)
		memcpy(p + WIRE_PREAMBLE_SIZE + hlen, body, len);
	b->end += len;

	/* Latency first: a frame queued behind nothing goes out now, so that a
	 * loop that only polls for input never strands it. A write that would
	 * block leaves it queued and asks the loop for POLLOUT. While a batch of
	 * input is dispatched (corked), the answers it produces queue up and
	 * leave in one write when the batch is done (loop_process). */
	if (was_empty && !bus->corked)
		conn_write(bus);
	/* Corked, loop_process writes and re-arms the loop once at the end. */
	if (b->start != b->end && !bus->corked)
		loop_changed(bus);
	return 0;
}

int conn_queue(bus_t *bus, wire_header *h, const void *body, size_t len,
	       const ProtobufCMessage *msg, const char **why)
{
	return queue_frame(bus, h, body, len, msg, why, 0);
}

int conn_send_until(bus_t *bus, wire_header *h, const void *body, size_t len,
		    const ProtobufCMessage *msg, uint64_t deadline, const char **why)
{
	if (!conn_usable(bus))
		return -ECONNRESET;
	return queue_frame(bus, h, body, len, msg, why, deadline ? deadline : UINT64_MAX);
}

int conn_write(bus_t *bus)
{
	struct conn_buf *b = &bus->out;
	size_t total = 0;

	while (bus->fd >= 0 && b->start < b->end) {
		struct fdpass_ctl ctl;
		struct iovec iov = { b->data + b->start, 0 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		/* A frame's descriptors go with its first byte, in a write of
		 * its bytes alone. */
		iov.iov_len = fdpass_out_limit(bus, b->end - b->start, &mh, &ctl);
		ssize_t n = sendmsg(bus->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_lose(bus, 1, "write to busd failed: %s", strerror(errno));
			return -ECONNRESET;
		}
		b->start += (size_t)n;
		total += (size_t)n;
		fdpass_out_sent(bus, (size_t)n, &mh);
	}
	if (b->end > OUT_KEEP)
		conn_keep(bus); /* in use above what it keeps */
	if (b->start == b->end)
		b->start = b->end = 0;
	return total > 0x7fffffff ? 0x7fffffff : (int)total;
}

/* ---------------------------------------------------------------- input */

/* Make room for need more bytes after in.end. While frames are dispatched
 * from the buffer (pinned), its bytes must not move: a new buffer takes the
 * live bytes and the old one is retired until the last unpin. */
static int in_reserve(bus_t *bus, size_t need)
{
	struct conn_buf *b = &bus->in;
	size_t live = b->end - b->start;

	if (b->end > IN_KEEP)
		conn_keep(bus); /* in use above what it keeps */
	if (!bus->in_pins && live == 0)
		b->start = b->end = 0;
	if (b->cap - b->end >= need)
		return 0;
	if (!bus->in_pins && b->start > 0 && b->cap - live >= need) {
		memmove(b->data, b->data + b->start, live);
		b->start = 0;
		b->end = live;
		return 0;
	}
	size_t cap = b->cap ? b->cap : CONN_READ_CHUNK;
	while (cap - live < need)
		cap *= 2;
	if (!bus->in_pins) {
		if (b->start > 0) {
			memmove(b->data, b->data + b->start, live);
			b->start = 0;
			b->end = live;
		}
		uint8_t *d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
		return 0;
	}
	if (bus->n_retired == bus->cap_retired) {
		size_t n = bus->cap_retired ? bus->cap_retired * 2 : 4;
		uint8_t **r = realloc(bus->retired, n * sizeof(*r));
		if (!r)
			return -ENOMEM;
		bus->retired = r;
		bus->cap_retired = n;
	}
	uint8_t *d = malloc(cap);
	if (!d)
		return -ENOMEM;
	memcpy(d, b->data + b->start, live);
	bus->retired[bus->n_retired++] = b->data;
	b->data = d;
	b->cap = cap;
	b->start = 0;
	b->end = live;
	return 0;
}

int conn_read(bus_t *bus)
{
	struct conn_buf *b = &bus->in;
	size_t need = CONN_READ_CHUNK;
	wire_preamble p;

	if (bus->fd < 0)
		return bus->state == CONN_UP ? 0 : -ECONNRESET;
	/* A frame already started at the head: make room for all of it, so
	 * that a large body arrives in as few reads as the socket allows. */
	if (b->end > b->start &&
	    wire_preamble_decode(b->data + b->start, b->end - b->start, CONN_MAX_FRAME, &p) == WIRE_OK) {
		size_t flen = WIRE_PREAMBLE_SIZE + (size_t)p.header_len + p.body_len;
		size_t have = b->end - b->start;
		if (flen > have && flen - have > need)
			need = flen - have;
	}
	if (in_reserve(bus, need) < 0)
		return -ENOMEM;
	for (;;) {
		struct fdpass_ctl ctl;
		struct iovec iov = { b->data + b->end, b->cap - b->end };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		fdpass_recv_prepare(&mh, &ctl);
		ssize_t n = recvmsg(bus->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n > 0) {
			size_t from = b->end;
			b->end += (size_t)n;
			if (fdpass_received(bus, &mh, from) < 0)
				return -ECONNRESET;
			return n > 0x7fffffff ? 0x7fffffff : (int)n;
		}
		if (n == 0) {
			conn_lose(bus, 0, "busd closed the connection");
			return -ECONNRESET;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_lose(bus, 0, "read from busd failed: %s", strerror(errno));
		return -ECONNRESET;
	}
}

/* SO_RCVTIMEO for a wait of left usec (0: forever). The value set for the
 * previous call is kept when it ends at most 1/64 of the wait (at least
 * 1 ms) after the deadline and not before half of it, so a program that
 * makes calls with one timeout sets it once. */
static int rcvtimeo_set(bus_t *bus, uint64_t left)
{
	uint64_t slack = left / 64 > 1000 ? left / 64 : 1000;

	if (left == 0 ? bus->rcvtimeo == 0
		      : bus->rcvtimeo && bus->rcvtimeo <= left + slack && bus->rcvtimeo >= left / 2)
		return 0;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000000u),
			      .tv_usec = (suseconds_t)(left % 1000000u) };
	if (setsockopt(bus->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	bus->rcvtimeo = left;
	return 0;
}

int conn_read_wait(bus_t *bus, uint64_t deadline)
{
	struct conn_buf *b = &bus->in;

	if (bus->fd < 0)
		return -ECONNRESET;
	uint64_t left = 0;
	if (deadline != UINT64_MAX) {
		uint64_t now = conn_now();
		if (now >= deadline)
			return 0;
		left = deadline - now;
	}
	int r = rcvtimeo_set(bus, left);
	if (r < 0)
		return r;
	if (in_reserve(bus, CONN_READ_CHUNK) < 0)
		return -ENOMEM;
	for (;;) {
		struct fdpass_ctl ctl;
		struct iovec iov = { b->data + b->end, b->cap - b->end };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		fdpass_recv_prepare(&mh, &ctl);
		ssize_t n = recvmsg(bus->fd, &mh, MSG_CMSG_CLOEXEC);
		if (n > 0) {
			size_t from = b->end;
			b->end += (size_t)n;
			if (fdpass_received(bus, &mh, from) < 0)
				return -ECONNRESET;
			return 1;
		}
		if (n == 0) {
			conn_lose(bus, 0, "busd closed the connection");
			return -ECONNRESET;
		}
		if (errno == EINTR)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_lose(bus, 0, "read from busd failed: %s", strerror(errno));
			return -ECONNRESET;
		}
		/* The program's loop may have made the socket non-blocking, or
		 * SO_RCVTIMEO (kept from an earlier wait) ended before the
		 * deadline: wait for input in poll(), never spin. */
		r = conn_poll(bus, POLLIN, deadline);
		if (r <= 0)
			return r;
	}
}

int conn_frame_at(bus_t *bus, size_t off, struct conn_frame *f)
{
	struct conn_buf *b = &bus->in;
	size_t avail = b->end - off;
	wire_preamble p;

	int r = wire_preamble_decode(b->data + off, avail, CONN_MAX_FRAME, &p);
	if (r == WIRE_E_SHORT)
		return 0;
	if (r != WIRE_OK) {
		conn_lose(bus, 0, "protocol error from busd: %s", wire_strerror(r));
		return -EPROTO;
	}
	size_t flen = WIRE_PREAMBLE_SIZE + (size_t)p.header_len + p.body_len;
	if (avail < flen)
		return 0;
	const uint8_t *hdr = b->data + off + WIRE_PREAMBLE_SIZE;
	if (wire_header_decode(hdr, p.header_len, &f->h) != WIRE_OK) {
		conn_lose(bus, 0, "protocol error from busd: %s", wire_strerror(WIRE_E_MALFORMED));
		return -EPROTO;
	}
	f->off = off;
	f->len = flen;
	f->body = hdr + p.header_len;
	f->body_len = p.body_len;
	return 1;
}

int conn_head_at(bus_t *bus, size_t off, struct conn_frame *f)
{
	struct conn_buf *b = &bus->in;
	size_t avail = b->end - off;
	wire_preamble p;

	if (wire_preamble_decode(b->data + off, avail, CONN_MAX_FRAME, &p) != WIRE_OK ||
	    avail < WIRE_PREAMBLE_SIZE + (size_t)p.header_len)
		return 0;
	const uint8_t *hdr = b->data + off + WIRE_PREAMBLE_SIZE;
	if (wire_header_decode(hdr, p.header_len, &f->h) != WIRE_OK)
		return 0; /* conn_frame_at() reports it once the frame is in */
	f->off = off;
	f->len = WIRE_PREAMBLE_SIZE + (size_t)p.header_len;
	f->body = NULL;
	f->body_len = p.body_len;
	return 1;
}

int conn_read_body(bus_t *bus, size_t off, const struct conn_frame *f, uint64_t deadline,
		   uint8_t **out)
{
	struct conn_buf *b = &bus->in;
	size_t head_end = off + f->len, have = b->end - head_end, len = f->body_len;
	uint8_t *body = malloc(len);

	if (!body)
		return -ENOMEM;
	memcpy(body, b->data + head_end, have);
	b->end = head_end; /* the head stays, the body is read beside it */
	while (have < len) {
		struct fdpass_ctl ctl;
		struct iovec iov = { body + have, len - have };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		fdpass_recv_prepare(&mh, &ctl);
		ssize_t n = recvmsg(bus->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n > 0) {
			have += (size_t)n;
			if (fdpass_stray(bus, &mh) < 0)
				n = 0; /* lost: what came goes back behind its head */
			else
				continue;
		}
		if (n == 0) {
			conn_lose(bus, 0, "busd closed the connection");
		} else if (errno == EINTR) {
			continue;
		} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
			conn_lose(bus, 0, "read from busd failed: %s", strerror(errno));
		} else {
			/* Wait for more, writing what is queued meanwhile. */
			short want = POLLIN | (bus->out.end > bus->out.start ? POLLOUT : 0);
			int ev = conn_poll(bus, want, deadline);
			if (ev == 0 && conn_now() < deadline)
				continue; /* a signal */
			if (ev > 0) {
				if (ev & POLLOUT)
					conn_write(bus);
				if (bus->fd >= 0)
					continue;
			}
		}
		/* Lost, or the deadline: what came of the body goes back behind
		 * its head, as if read into the buffer. */
		if (in_reserve(bus, have) < 0) {
			free(body);
			conn_lose(bus, 0, "out of memory for input");
			return -ENOMEM;
		}
		memcpy(b->data + b->end, body, have);
		b->end += have;
		free(body);
		return bus->fd >= 0 ? 0 : -ECONNRESET;
	}
	*out = body;
	return 1;
}

int conn_frame_ready(bus_t *bus, size_t off)
{
	struct conn_buf *b = &bus->in;
	wire_preamble p;

	if (off >= b->end)
		return 0;
	int r = wire_preamble_decode(b->data + off, b->end - off, CONN_MAX_FRAME, &p);
	if (r == WIRE_E_SHORT)
		return 0;
	if (r != WIRE_OK)
		return 1; /* bus_process() will find the broken stream */
	return b->end - off >= WIRE_PREAMBLE_SIZE + (size_t)p.header_len + p.body_len;
}

int conn_has_work(bus_t *bus)
{
	if (bus->closing || bus->state == CONN_DOWN || bus->state == CONN_RETRY)
		return 0;
	if (bus->state == CONN_LOST)
		return 1;
	if (bus->state == CONN_RESTORE)
		return restore_has_work(bus);
	return conn_frame_ready(bus, bus->in.start);
}

void conn_remove(bus_t *bus, size_t off, size_t len)
{
	struct conn_buf *b = &bus->in;

	if (off == b->start) {
		b->start += len;
		fdpass_consumed(bus, len);
		return;
	}
	fdpass_removed(bus, off, len);
	memmove(b->data + off, b->data + off + len, b->end - off - len);
	b->end -= len;
}

void conn_pin(bus_t *bus)
{
	bus->in_pins++;
}

void conn_unpin(bus_t *bus)
{
	if (--bus->in_pins > 0)
		return;
	for (size_t i = 0; i < bus->n_retired; i++)
		free(bus->retired[i]);
	bus->n_retired = 0;
}

/* ---------------------------------------------------------------- loss */

void conn_lose(bus_t *bus, int drain, const char *fmt, ...)
{
	va_list ap;

	if (bus->state != CONN_UP && bus->state != CONN_RESTORE)
		return;
	va_start(ap, fmt);
	vsnprintf(bus->lost_reason, sizeof(bus->lost_reason), fmt, ap);
	va_end(ap);
	bus->state = CONN_LOST;
	if (bus->fd < 0)
		return;
	/* After a failed write the broker may still have told us why it closed
	 * (an ERROR frame): keep what is readable for bus_process(), bounded. */
	while (drain && bus->in.end - bus->in.start < CONN_MAX_FRAME) {
		if (in_reserve(bus, CONN_READ_CHUNK) < 0)
			break;
		struct fdpass_ctl ctl;
		struct iovec iov = { bus->in.data + bus->in.end, bus->in.cap - bus->in.end };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		fdpass_recv_prepare(&mh, &ctl);
		ssize_t n = recvmsg(bus->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n <= 0)
			break;
		size_t from = bus->in.end;
		bus->in.end += (size_t)n;
		fdpass_received(bus, &mh, from);
	}
	attach_update(bus); /* drop the socket's events before the fd goes */
	close(bus->fd);
	bus->fd = -1;
	bus->out.start = bus->out.end = 0;
	fdpass_drop(bus, 0);
}

void conn_note(bus_t *bus, const bus_msg_t *m)
{
	if (m->kind == BUS_KIND_ERROR && strcmp(m->sender, BUS_NAME) == 0)
		error_from_msg(&bus->notice, m);
}

void conn_note_frame(bus_t *bus, const struct conn_frame *f)
{
	struct conn_msg_strings s;
	bus_msg_t m;

	if (f->h.kind != WIRE_KIND_ERROR || f->h.reply_serial != 0 || conn_msg_make(f, &m, &s) < 0)
		return;
	conn_note(bus, &m);
	conn_msg_done(&s);
}

void conn_disconnected(const bus_t *bus, bus_error_t *err)
{
	if (bus->closing && bus->state == CONN_UP)
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "the connection was closed");
	else if (bus_error_is_set(&bus->notice))
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "connection to busd lost: %s: %s",
			      bus->notice.name, bus->notice.message);
	else
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "connection to busd lost: %s",
			      bus->lost_reason[0] ? bus->lost_reason : "not connected");
}

/* ---------------------------------------------------------------- messages */

static const char *put_str(char **p, wire_str s)
{
	char *r = *p;

	if (s.len)
		memcpy(r, s.ptr, s.len);
	r[s.len] = 0;
	*p += (size_t)s.len + 1;
	return r;
}

int conn_msg_make(const struct conn_frame *f, bus_msg_t *m, struct conn_msg_strings *s)
{
	const wire_header *h = &f->h;
	size_t need = (size_t)h->sender.len + h->destination.len + h->interface.len + h->member.len +
		      h->body_type.len + h->error_name.len + h->error_message.len + 7;
	char *p = s->buf;

	s->heap = NULL;
	s->fds = NULL;
	s->body_map = NULL;
	s->body_map_len = 0;
	if (need > sizeof(s->buf)) {
		s->heap = malloc(need);
		if (!s->heap)
			return -ENOMEM;
		p = s->heap;
	}
	m->kind = (enum bus_kind)h->kind;
	m->flags = h->flags;
	m->serial = h->serial;
	m->reply_serial = h->reply_serial;
	m->sender = put_str(&p, h->sender);
	m->destination = put_str(&p, h->destination);
	m->interface = put_str(&p, h->interface);
	m->member = put_str(&p, h->member);
	m->body_type = put_str(&p, h->body_type);
	m->error_name = put_str(&p, h->error_name);
	m->error_message = put_str(&p, h->error_message);
	m->body = f->body;
	m->body_len = f->body_len;
	m->fd_count = h->fd_count;
	m->n_fds = 0;
	m->fds = NULL;
	m->memfd_body_size = h->memfd_body_size;
	return 0;
}

void conn_msg_done(struct conn_msg_strings *s)
{
	free(s->heap);
	s->heap = NULL;
	fdpass_msg_done(s);
}

void conn_free_buffers(bus_t *bus)
{
	free(bus->in.data);
	free(bus->out.data);
	for (size_t i = 0; i < bus->n_retired; i++)
		free(bus->retired[i]);
	free(bus->retired);
	memset(&bus->in, 0, sizeof(bus->in));
	memset(&bus->out, 0, sizeof(bus->out));
	fdpass_drop(bus, 1);
	unpack_trim(bus);
	bus->trim_at = 0;
	bus->retired = NULL;
	bus->n_retired = bus->cap_retired = 0;
}
