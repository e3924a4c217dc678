/* connection-write.c - a connection's output: a queue of frames held by
 * reference (their bytes, descriptors and out-of-line bodies charged to the
 * receiving peer), written with one sendmsg() over many frames, a frame
 * with descriptors in one of its own. See connection.h. */
#include "config.h"

#include "connection-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* Frames written per sendmsg(): each takes one or two iovecs. */
#define WRITE_FRAMES 64

int connection_reserve(struct connection *c)
{
	if (c->ring_len < c->ring_cap)
		return 0;
	uint32_t cap = c->ring_cap ? c->ring_cap * 2 : 8;
	struct frame **r = malloc(cap * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->ring_len; i++)
		r[i] = c->ring[(c->ring_head + i) & (c->ring_cap - 1)];
	free(c->ring);
	c->ring = r;
	c->ring_cap = cap;
	c->ring_head = 0;
	return 0;
}

int connection_queue(struct connection *c, struct frame *f)
{
	if (c->state != CONN_OPEN && c->state != CONN_CLOSING)
		return -EPIPE;
	if (connection_reserve(c) < 0)
		return -ENOMEM;
	c->ring[(c->ring_head + c->ring_len) & (c->ring_cap - 1)] = frame_ref(f);
	c->ring_len++;
	c->out_bytes += frame_size(f);
	charge_grow(&c->out_charge, frame_cost(f));
	const int *fds;
	charge_grow(&c->out_fd_charge, connection_fds_of(c, f, &fds));
	charge_grow(&c->out_memfd_charge, connection_memfd_of(c, f));
	connection_mark_dirty(c);
	return 0;
}

void connection_refuse_fds(struct connection *c, int bodies)
{
	charge_shrink(&c->out_fd_charge, c->out_fd_charge.amount);
	charge_shrink(&c->out_memfd_charge, c->out_memfd_charge.amount);
	c->no_fds = 1;
	c->mon_bodies = bodies;
	for (uint32_t i = 0; i < c->ring_len; i++) {
		const struct frame *f = c->ring[(c->ring_head + i) & (c->ring_cap - 1)];
		const int *fds;
		charge_grow(&c->out_fd_charge, connection_fds_of(c, f, &fds));
		charge_grow(&c->out_memfd_charge, connection_memfd_of(c, f));
	}
}

/* bytes were written: drop the frames they finished (and their charges). */
static void advance(struct connection *c, size_t bytes)
{
	size_t done = 0;

	c->out_bytes -= bytes;
	bytes += c->out_off;
	while (c->ring_len) {
		struct frame *f = c->ring[c->ring_head];
		size_t sz = frame_size(f);
		if (bytes - done < sz)
			break;
		done += sz;
		charge_shrink(&c->out_charge, frame_cost(f));
		connection_uncharge(c, f);
		frame_unref(f);
		c->ring_head = (c->ring_head + 1) & (c->ring_cap - 1);
		c->ring_len--;
	}
	c->out_off = bytes - done;
}

void connection_flush(struct connection *c)
{
	int wrote = 0;

	while (c->ring_len && c->fd >= 0) {
		struct iovec iov[2 * WRITE_FRAMES];
		size_t want = 0, skip = c->out_off;
		int n = 0;
		const int *send_fds = NULL;
		unsigned n_send = 0;

		for (uint32_t i = 0; i < c->ring_len && i < WRITE_FRAMES && !n_send; i++) {
			const struct frame *f = c->ring[(c->ring_head + i) & (c->ring_cap - 1)];
			/* A frame's descriptors go with its first byte, in a
			 * sendmsg() of its bytes alone (docs/protocol.md). */
			const int *fds;
			unsigned nf = connection_fds_of(c, f, &fds);
			if (nf && !(i == 0 && c->out_off)) {
				if (i > 0)
					break;
				send_fds = fds;
				n_send = nf;
			}
			const uint8_t *ptr[2] = { f->head, f->body };
			size_t len[2] = { f->head_len, f->body_len };
			int parts = 2;
			if (f->head + f->head_len == f->body) { /* stamped in place: one piece */
				len[0] += len[1];
				parts = 1;
			}
			for (int j = 0; j < parts; j++) {
				if (skip >= len[j]) {
					skip -= len[j];
					continue;
				}
				iov[n].iov_base = (void *)(ptr[j] + skip);
				iov[n].iov_len = len[j] - skip;
				want += iov[n].iov_len;
				skip = 0;
				n++;
			}
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		union {
			struct cmsghdr align;
			uint8_t buf[CMSG_SPACE(WIRE_MAX_FDS * sizeof(int))];
		} ctl;
		if (n_send) {
			size_t len = n_send * sizeof(int);
			msg.msg_control = ctl.buf;
			msg.msg_controllen = CMSG_SPACE(len);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(len);
			memcpy(CMSG_DATA(cm), send_fds, len);
		}
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (c->state == CONN_CLOSING) {
				connection_finish_close(c);
				return;
			}
			connection_ended(c, CONN_END_ERROR, errno);
			return;
		}
		advance(c, (size_t)w);
		wrote = 1;
		if ((size_t)w < want)
			break; /* the socket is full */
	}
	if (c->state == CONN_DEAD)
		return;
	if (c->ring_len)
		dispatch_source_add(&c->wr, NULL);
	else
		dispatch_source_del(&c->wr);
	if (wrote && c->state == CONN_OPEN)
		c->t->ops->written(c);
	if (c->state == CONN_CLOSING && !c->ring_len)
		connection_finish_close(c);
}

void connection_on_write(struct dispatch_source *s, short what)
{
	(void)what;
	connection_flush(container_of(s, struct connection, wr));
}
