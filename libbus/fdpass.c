/* fdpass.c - file descriptors passed with frames (SCM_RIGHTS): those to
 * send, each with the frame it goes with, and those received, each waiting
 * for its frame to be dispatched. The rules are docs/protocol.md's: a
 * frame's descriptors travel with its first byte, in a sendmsg() of that
 * frame's bytes alone, so those a read returns belong to the last frame
 * whose preamble begins in the bytes of that read.
 *
 * Frames are found by their position in a stream: output positions count
 * the bytes ever put into the output buffer (out_base is that of
 * out.data[out.start]), input positions those ever put into the input
 * buffer (in_base, of in.data[in.start]). Buffers move and are compacted,
 * positions do not; only a frame taken out of the middle of the input (a
 * sync call's answer) moves the positions of the frames before it. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus-internal.h"

struct fd_att {
	struct fd_att *next;
	uint64_t at;            /* stream position of the frame's first byte */
	size_t len;             /* output: the frame's length */
	unsigned n;
	int fds[];
};

static void att_free(struct fd_att *a)
{
	for (unsigned i = 0; i < a->n; i++)
		if (a->fds[i] >= 0)
			close(a->fds[i]);
	free(a);
}

static void list_free(struct fd_att **l)
{
	while (*l) {
		struct fd_att *a = *l;
		*l = a->next;
		att_free(a);
	}
}

void fdpass_drop(bus_t *bus, int input)
{
	if (input)
		list_free(&bus->fds_in);
	list_free(&bus->fds_out);
}

/* ---------------------------------------------------------------- output */

int fdpass_queue(bus_t *bus, size_t frame_len, const int *fds, unsigned n, int own)
{
	struct fd_att *a = malloc(sizeof(*a) + (n + 1) * sizeof(int));
	struct fd_att **tail = &bus->fds_out;

	if (!a) {
		if (own >= 0)
			close(own);
		return -ENOMEM;
	}
	a->next = NULL;
	a->at = bus->out_base + (bus->out.end - bus->out.start);
	a->len = frame_len;
	a->n = 0;
	/* The program keeps its descriptors: ours are copies until sent. */
	for (; a->n < n; a->n++) {
		a->fds[a->n] = fcntl(fds[a->n], F_DUPFD_CLOEXEC, 3);
		if (a->fds[a->n] < 0) {
			int e = errno;
			att_free(a);
			if (own >= 0)
				close(own);
			return -e;
		}
	}
	if (own >= 0)
		a->fds[a->n++] = own; /* an out-of-line body goes last */
	while (*tail)
		tail = &(*tail)->next;
	*tail = a;
	return 0;
}

size_t fdpass_out_limit(bus_t *bus, size_t len, struct msghdr *msg, struct fdpass_ctl *ctl)
{
	struct fd_att *a = bus->fds_out;

	if (!a)
		return len;
	uint64_t at = a->at - bus->out_base;
	if (at > 0)
		return at < len ? (size_t)at : len; /* up to that frame */
	msg->msg_control = ctl->buf;
	msg->msg_controllen = CMSG_SPACE(a->n * sizeof(int));
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(a->n * sizeof(int));
	memcpy(CMSG_DATA(cm), a->fds, a->n * sizeof(int));
	return a->len < len ? a->len : len;
}

void fdpass_out_sent(bus_t *bus, size_t n, const struct msghdr *msg)
{
	if (msg->msg_controllen && bus->fds_out) {
		struct fd_att *a = bus->fds_out;
		bus->fds_out = a->next;
		att_free(a);
	}
	bus->out_base += n;
}

/* ---------------------------------------------------------------- input */

void fdpass_recv_prepare(struct msghdr *msg, struct fdpass_ctl *ctl)
{
	msg->msg_control = ctl->buf;
	msg->msg_controllen = sizeof(ctl->buf);
	msg->msg_flags = 0;
}

/* The descriptors in msg's control data: count and copy into fds (room for
 * WIRE_MAX_FDS + 1). */
static unsigned cmsg_fds(struct msghdr *msg, int *fds)
{
	unsigned n = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (k > WIRE_MAX_FDS + 1 - n)
			k = WIRE_MAX_FDS + 1 - n;
		memcpy(fds + n, CMSG_DATA(cm), k * sizeof(int));
		n += k;
	}
	return n;
}

int fdpass_received(bus_t *bus, struct msghdr *msg, size_t from)
{
	struct conn_buf *b = &bus->in;
	int fds[WIRE_MAX_FDS + 1];
	unsigned n = cmsg_fds(msg, fds);
	const char *why = NULL;

	if (!n && !(msg->msg_flags & MSG_CTRUNC))
		return 0;
	/* The last frame beginning in [from, end): walk the frames from the
	 * head of the input, which are contiguous. */
	size_t o = b->start, last = SIZE_MAX;
	while (o < b->end) {
		wire_preamble p;
		if (o >= from)
			last = o;
		if (wire_preamble_decode(b->data + o, b->end - o, CONN_MAX_FRAME, &p) != WIRE_OK)
			break; /* cut short (the last), or broken: reported when parsed */
		o += WIRE_PREAMBLE_SIZE + (size_t)p.header_len + p.body_len;
	}
	struct fd_att *a = NULL;
	if (msg->msg_flags & MSG_CTRUNC)
		why = "more file descriptors than a frame may carry (or none left to this process)";
	else if (last == SIZE_MAX)
		why = "file descriptors came with bytes in which no frame begins";
	else if (!(a = malloc(sizeof(*a) + n * sizeof(int))))
		why = "out of memory for file descriptors";
	if (why) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		conn_lose(bus, 0, "protocol error from busd: %s", why);
		return -EPROTO;
	}
	a->at = bus->in_base + (last - b->start);
	a->len = 0;
	a->n = n;
	memcpy(a->fds, fds, n * sizeof(int));
	struct fd_att **tail = &bus->fds_in;
	while (*tail)
		tail = &(*tail)->next;
	a->next = NULL;
	*tail = a;
	return 0;
}

int fdpass_stray(bus_t *bus, struct msghdr *msg)
{
	int fds[WIRE_MAX_FDS + 1];
	unsigned n = cmsg_fds(msg, fds);

	if (!n && !(msg->msg_flags & MSG_CTRUNC))
		return 0;
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	conn_lose(bus, 0, "protocol error from busd: file descriptors came with a frame's body");
	return -EPROTO;
}

void fdpass_consumed(bus_t *bus, size_t len)
{
	bus->in_base += len;
}

void fdpass_removed(bus_t *bus, size_t off, size_t len)
{
	uint64_t at = bus->in_base + (off - bus->in.start);

	/* The frames before it now end where it began: their positions, as
	 * the buffer reckons them, move up by its length. */
	for (struct fd_att *a = bus->fds_in; a; a = a->next)
		if (a->at < at)
			a->at += len;
	bus->in_base += len;
}

/* The frame's out-of-line body: its last descriptor, checked and mapped as
 * m's body, and closed (the mapping keeps the bytes). A monitor that did
 * not ask for bodies gets the frame without it: an empty body. */
static int msg_body(bus_t *bus, const struct conn_frame *f, bus_msg_t *m,
		    struct conn_msg_strings *s)
{
	struct fd_att *a = s->fds;
	const char *why = NULL;

	m->body = NULL;
	m->body_len = 0;
	if (!a || !a->n) {
		if (bus->monitor)
			return 0;
		why = "no descriptor came with it";
	} else if (f->body_len) {
		why = "the frame carries body bytes too";
	}
	if (why) {
		snprintf(s->body_why, sizeof(s->body_why), "the frame's out-of-line body is "
			 "missing: %s", why);
		return -EBADMSG;
	}
	int fd = a->fds[--a->n];
	m->n_fds = a->n;
	int r = body_map(fd, f->h.memfd_body_size, &m->body, s->body_why, sizeof(s->body_why));
	close(fd);
	if (r < 0) {
		m->body = NULL;
		return r;
	}
	m->body_len = (size_t)f->h.memfd_body_size;
	s->body_map = m->body;
	s->body_map_len = m->body_len;
	return 0;
}

int fdpass_msg(bus_t *bus, const struct conn_frame *f, bus_msg_t *m, struct conn_msg_strings *s)
{
	m->fd_count = f->h.fd_count;
	m->n_fds = 0;
	m->fds = NULL;
	s->fds = NULL;
	s->body_map = NULL;
	s->body_map_len = 0;
	if (!f->h.fd_count || f->off == SIZE_MAX)
		return f->h.memfd_body_size ? msg_body(bus, f, m, s) : 0;
	uint64_t at = bus->in_base + (f->off - bus->in.start);
	for (struct fd_att **l = &bus->fds_in; *l; l = &(*l)->next) {
		if ((*l)->at != at)
			continue;
		struct fd_att *a = *l;
		*l = a->next;
		s->fds = a;
		m->fds = a->fds;
		m->n_fds = a->n;
		break;
	}
	return f->h.memfd_body_size ? msg_body(bus, f, m, s) : 0;
}

void fdpass_msg_done(struct conn_msg_strings *s)
{
	if (s->fds)
		att_free(s->fds);
	s->fds = NULL;
	body_unmap(s->body_map, s->body_map_len);
	s->body_map = NULL;
	s->body_map_len = 0;
}

int bus_msg_take_fd(const bus_msg_t *msg, unsigned index)
{
	if (!msg)
		return -EINVAL;
	if (index >= msg->n_fds)
		return -ENOENT;
	int fd = msg->fds[index];
	if (fd < 0)
		return -EALREADY;
	msg->fds[index] = -1;
	return fd;
}
