/* connection-read.c - a connection's input: batched reads (recvmsg(),
 * with the descriptors passed) cut into whole frames, each given to the
 * layer above; unfinished input charged to the peer and its user, reading
 * paused while its user's input budget is spent or the layer above asks.
 * See connection.h. */
#include "config.h"

#include "connection-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

/* A whole frame goes up (never while paused: parse() keeps the bytes
 * instead). charged: its buffer is charged as input (it was received as a
 * partial frame); the charge goes as the frame leaves the connection. */
static void deliver(struct connection *c, struct frame *f, int charged)
{
	if (charged)
		charge_shrink(&c->in_charge, frame_cost(f));
	charge_shrink(&c->in_fd_charge, f->n_fds);
	if (c->state != CONN_OPEN) {
		frame_unref(f);
		return;
	}
	c->t->ops->frame(c, f);
}

/* Reading was paused in the middle of what a read brought: keep the bytes
 * not yet cut into frames (charged as input, at most one read's worth)
 * until the connection is resumed. */
static int keep_rest(struct connection *c, const uint8_t *p, size_t len, uint64_t at)
{
	uint8_t *r = malloc(len);

	if (!r) {
		connection_ended(c, CONN_END_NOMEM, ENOMEM);
		return -ENOMEM;
	}
	memcpy(r, p, len);
	c->rest = r;
	c->rest_len = len;
	c->rest_at = at;
	charge_grow(&c->in_charge, len);
	return 0;
}

/* The preamble at p (avail bytes): WIRE_OK with pre filled, WIRE_E_SHORT,
 * or the rule it breaks. A peer leaves busd room to stamp its frames. */
static int check_preamble(const struct connection *c, const uint8_t *p, size_t avail,
			  wire_preamble *pre)
{
	uint32_t max = c->max_frame;
	int r = wire_preamble_decode(p, avail, max, pre);

	if (r == WIRE_OK && pre->header_len > WIRE_MAX_PEER_HEADER)
		r = WIRE_E_HEADER_SIZE;
	return r;
}

/* Descriptors broke the rules: the layer above answers and closes. */
static int fds_broken(struct connection *c, const char *why)
{
	c->why = why;
	c->t->ops->broken(c, CONN_E_FDS, NULL);
	return -1;
}

/* A frame of total bytes begins at stream offset at: give it the waiting
 * descriptors that are its own (it is the last frame to begin in the read
 * that brought them). Returns 0, or -1 when they belong to no frame. */
static int take_fds(struct connection *c, struct frame *f, uint64_t at, size_t total)
{
	struct fd_batch *b = &c->in_fds[0];

	if (!c->n_in_fds)
		return 0;
	if (at >= b->to)
		return fds_broken(c, "file descriptors came with bytes in which no frame begins");
	if (at < b->from || at + total < b->to)
		return 0; /* a frame after this one in that read owns them */
	f->fds = b->fds;
	f->n_fds = b->n;
	c->in_fds[0] = c->in_fds[1];
	c->n_in_fds--;
	return 0;
}

/* Start receiving a frame of total bytes whose first have bytes are at p,
 * stream offset at. Returns 0, or a negative errno (the connection was
 * ended or broke a rule). */
static int start_frame(struct connection *c, const wire_preamble *pre, const uint8_t *p,
		       size_t have, uint64_t at)
{
	size_t total = WIRE_PREAMBLE_SIZE + (size_t)pre->header_len + pre->body_len;
	struct frame *f = frame_new_received(total);

	if (!f) {
		connection_ended(c, CONN_END_NOMEM, ENOMEM);
		return -ENOMEM;
	}
	if (take_fds(c, f, at, total) < 0) {
		frame_unref(f);
		return -EPROTO;
	}
	f->pre = *pre;
	memcpy(frame_received_at(f), p, have);
	if (have == total) {
		deliver(c, f, 0);
		return 0;
	}
	/* Charged for its whole buffer now: what it may still make busd hold. */
	charge_grow(&c->in_charge, frame_cost(f));
	c->partial = f;
	c->partial_len = total;
	c->partial_have = have;
	if (c->t->frame_timeout_usec)
		dispatch_source_add_usec(&c->timer, c->t->frame_timeout_usec);
	return 0;
}

/* A frame at least this large is read past the read buffer (read_once). */
#define LARGE_FRAME (16u * 1024u)

/* A frame this small is always taken, whatever its user's input budget
 * says: it costs little, and Hello and control calls must get through even
 * while a user's large frames hold its budget. */
#define SMALL_FRAME 4096u

/* Room the user's input budget (limits.max_input_bytes_per_uid) has left. */
static uint64_t input_room(const struct connection *c)
{
	const struct charge_user *u = c->in_charge.user;
	uint64_t limit = charge_limits_of(u)->user[CHARGE_INPUT];

	if (!limit)
		return UINT64_MAX;
	return u->acct.used[CHARGE_INPUT] >= limit ? 0 : limit - u->acct.used[CHARGE_INPUT];
}

/* Stop reading until the user's input charges go down. */
static void wait_input(struct connection *c)
{
	charge_wait_input(c->in_charge.user, &c->waiter);
	dispatch_source_del(&c->rd);
}

/* Cut the bytes at p (stream offset at) into frames. Returns 0, or -1 when
 * reading must stop (the connection ended or broke a rule). */
static int parse(struct connection *c, const uint8_t *p, size_t len, uint64_t at)
{
	size_t pos = 0;

	while (pos < len && c->state == CONN_OPEN) {
		wire_preamble pre;
		size_t avail = len - pos;
		if (c->paused) {
			keep_rest(c, p + pos, avail, at + pos);
			return -1;
		}
		int r = check_preamble(c, p + pos, avail, &pre);
		if (r == WIRE_E_SHORT) {
			memcpy(c->stash, p + pos, avail);
			c->stash_len = avail;
			return 0;
		}
		if (r != WIRE_OK) {
			c->t->ops->broken(c, r, &pre);
			return -1;
		}
		size_t total = WIRE_PREAMBLE_SIZE + (size_t)pre.header_len + pre.body_len;
		size_t have = avail < total ? avail : total;
		c->large_next = total >= LARGE_FRAME;
		/* Short of input budget only a preamble was read (read_once): it
		 * waits in the stash until the user's budget takes the frame. */
		if (have < total && avail <= sizeof(c->stash) && total > SMALL_FRAME &&
		    input_room(c) < frame_received_cost(total)) {
			memcpy(c->stash, p + pos, avail);
			c->stash_len = avail;
			wait_input(c);
			return -1;
		}
		if (start_frame(c, &pre, p + pos, have, at + pos) < 0)
			return -1;
		pos += have;
	}
	return c->state == CONN_OPEN ? 0 : -1;
}

/* Make room for a frame whose preamble is in the stash: charge it or wait
 * for the user's budget. Returns 1 to go on reading, 0 to wait. */
static int admit_stashed(struct connection *c)
{
	wire_preamble pre;

	if (c->stash_len < WIRE_PREAMBLE_SIZE)
		return 1;
	if (check_preamble(c, c->stash, c->stash_len, &pre) != WIRE_OK)
		return 1; /* parse() reports it */
	size_t total = WIRE_PREAMBLE_SIZE + (size_t)pre.header_len + pre.body_len;
	if (total <= SMALL_FRAME || input_room(c) >= frame_received_cost(total))
		return 1;
	wait_input(c);
	return 0;
}

void connection_on_input_budget(struct charge_waiter *w)
{
	struct connection *c = container_of(w, struct connection, waiter);

	if (c->state != CONN_OPEN || c->paused)
		return;
	dispatch_source_add(&c->rd, NULL);
	dispatch_source_activate(&c->rd, EV_READ);
}

/* The descriptors a read of the stream bytes [from, to) brought (control
 * message in msg): kept for the frame they belong to, charged to the
 * sender. Returns 0, or -1 when they break the rules (all closed). */
static int got_fds(struct connection *c, struct msghdr *msg, uint64_t from, uint64_t to)
{
	unsigned n = 0, max = c->t->max_fds;
	int *fds = NULL;
	const char *why = NULL;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *in = (int *)(void *)CMSG_DATA(cm);
		int *more = realloc(fds, (n + k) * sizeof(int));
		if (!more) {
			for (unsigned i = 0; i < k; i++)
				close(in[i]);
			why = "busd ran out of memory for the file descriptors";
			continue;
		}
		fds = more;
		memcpy(fds + n, in, k * sizeof(int));
		n += k;
	}
	if (!n && !why && !(msg->msg_flags & MSG_CTRUNC))
		return 0;
	/* (why already set: out of memory, and those that came are closed) */
	if (!why && (msg->msg_flags & MSG_CTRUNC || n > max))
		why = max ? "more file descriptors with one frame than limits.max_fds_per_frame allows"
			    " (or busd had no descriptors left)"
			  : "file descriptors are not accepted (limits.max_fds_per_frame is 0)";
	else if (!why && c->n_in_fds == 2)
		why = "file descriptors came with bytes in which no frame begins";
	if (why) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		free(fds);
		return fds_broken(c, why);
	}
	c->in_fds[c->n_in_fds++] = (struct fd_batch){ fds, n, from, to };
	charge_grow(&c->in_fd_charge, n);
	return 0;
}

/* One read. Returns bytes read, 0 when the socket is empty, -1 when the
 * connection ended or must wait; *more says whether the socket may have
 * more (the read took all it asked for), so that a drained socket costs no
 * read that only finds it empty. */
static ssize_t read_once(struct connection *c, size_t budget, int *more)
{
	struct transport *t = c->t;
	struct iovec iov[2];
	int niov = 0;
	size_t k = 0, into_partial = 0;

	/* Short of budget for a frame and a chunk: one preamble at a time, so
	 * that busd never reads bytes it cannot charge. */
	int careful = input_room(c) < frame_received_cost(c->max_frame) + READ_CHUNK;
	if (c->partial) {
		size_t want = c->partial_len - c->partial_have;
		into_partial = want < budget ? want : budget;
		iov[niov++] = (struct iovec){ frame_received_at(c->partial) + c->partial_have,
					      into_partial };
		if (into_partial < want || careful)
			goto read; /* the rest of this frame first */
	} else {
		if (!admit_stashed(c))
			return -1;
		k = c->stash_len;
		memcpy(t->scratch, c->stash, k);
		c->stash_len = 0;
	}
	size_t room = READ_CHUNK - k;
	/* After a large frame, the next is likely large too: its preamble
	 * alone first, so that the rest is read straight into its frame
	 * instead of through the read buffer and a copy. */
	if (careful || c->large_next)
		room = k < WIRE_PREAMBLE_SIZE ? WIRE_PREAMBLE_SIZE - k : 0;
	if (room)
		iov[niov++] = (struct iovec){ t->scratch + k, room };
read:;
	size_t asked = 0;
	for (int i = 0; i < niov; i++)
		asked += iov[i].iov_len;
	/* recvmsg() with room for the descriptors, and more: so that a peer
	 * sending too many is told rather than seeing some go missing. */
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE((WIRE_MAX_FDS + 1) * sizeof(int))];
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)niov,
			      .msg_control = ctl.buf,
			      .msg_controllen = CMSG_SPACE((t->max_fds + 1) * sizeof(int)) };
	ssize_t n = niov ? recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC) : 0;
	*more = (size_t)n == asked;
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			if (k) { /* keep the stashed preamble bytes */
				memcpy(c->stash, t->scratch, k);
				c->stash_len = k;
			}
			return 0;
		}
		connection_ended(c, CONN_END_ERROR, errno);
		return -1;
	}
	if (n == 0 && niov) {
		connection_ended(c, CONN_END_EOF, 0);
		return -1;
	}
	size_t got = (size_t)n, part = got < into_partial ? got : into_partial;
	uint64_t from = c->in_pos;
	c->in_pos += got;
	if (niov && got_fds(c, &msg, from, c->in_pos) < 0)
		return -1;
	if (c->partial) {
		c->partial_have += part;
		if (c->partial_have == c->partial_len) {
			struct frame *f = c->partial;
			c->partial = NULL;
			dispatch_source_del(&c->timer);
			deliver(c, f, 1);
		}
	}
	if (parse(c, t->scratch, k + got - part, c->in_pos - (k + got - part)) < 0)
		return -1;
	return niov ? n : 1; /* a stashed preamble alone made progress */
}

void connection_on_read(struct dispatch_source *s, short what)
{
	struct connection *c = container_of(s, struct connection, rd);
	size_t budget = READ_BUDGET;

	(void)what;
	if (c->rest && !c->paused) {
		/* What was read before a pause comes first: parse it as if just
		 * read (a new pause keeps what is left of it again). */
		uint8_t *r = c->rest;
		size_t n = c->rest_len;
		c->rest = NULL;
		c->rest_len = 0;
		charge_shrink(&c->in_charge, n);
		parse(c, r, n, c->rest_at);
		free(r);
	}
	while (c->state == CONN_OPEN && !c->paused && budget > 0) {
		int more = 0;
		ssize_t n = read_once(c, budget, &more);
		if (n <= 0 || !more)
			break;
		budget -= (size_t)n < budget ? (size_t)n : budget;
	}
}

void connection_pause(struct connection *c)
{
	if (c->paused || c->state != CONN_OPEN)
		return;
	c->paused = 1;
	dispatch_source_del(&c->rd);
}

void connection_resume(struct connection *c)
{
	if (!c->paused || c->state != CONN_OPEN)
		return;
	c->paused = 0;
	dispatch_source_add(&c->rd, NULL);
	/* Bytes kept while paused come first, from the read callback. */
	if (c->rest)
		dispatch_source_activate(&c->rd, EV_READ);
}

void connection_set_max_frame(struct connection *c, uint32_t max_frame)
{
	c->max_frame = max_frame;
}
