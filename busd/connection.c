/* connection.c - a client socket: credentials at accept, batched reads cut
 * into whole frames, a queue of frames written with one sendmsg() each
 * time, and the close that lets the last output out. See connection.h. */
#include "config.h"

#include "connection.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Each read asks for up to READ_CHUNK bytes (more when a large frame is
 * being received straight into its buffer); one peer gets at most
 * READ_BUDGET bytes per wake-up before the others run. */
#define READ_CHUNK (64u * 1024u)
#define READ_BUDGET (1024u * 1024u)
/* Frames written per sendmsg(): each takes one or two iovecs. */
#define WRITE_FRAMES 64

static void on_read(struct dispatch_source *s, short what);
static void on_write(struct dispatch_source *s, short what);
static void on_timer(struct dispatch_source *s, short what);
static void on_input_budget(struct charge_waiter *w);

/* ---------------------------------------------------------------- transport */

int transport_init(struct transport *t, struct dispatch *d, const struct connection_ops *ops)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	t->ops = ops;
	t->scratch = malloc(READ_CHUNK);
	t->frame_timeout_usec = 30u * 1000000u;
	t->linger_usec = 2u * 1000000u;
	return t->scratch ? 0 : -ENOMEM;
}

void transport_fini(struct transport *t)
{
	free(t->scratch);
	t->scratch = NULL;
}

static void mark_dirty(struct connection *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->dirty_next = c->t->dirty;
	c->t->dirty = c;
}

void transport_flush(struct transport *t)
{
	/* Flushing can end connections, which queues frames toward others
	 * (the layer above answers their callers): loop until none is left. */
	while (t->dirty) {
		struct connection *c = t->dirty;
		t->dirty = c->dirty_next;
		c->dirty = 0;
		if (c->state != CONN_DEAD)
			connection_flush(c);
	}
}

/* ---------------------------------------------------------------- setup */

static void read_comm(struct connection *c)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	strcpy(c->comm, "?");
	FILE *f = c->pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return;
	if (fgets(c->comm, sizeof(c->comm), f))
		c->comm[strcspn(c->comm, "\n")] = '\0';
	else
		strcpy(c->comm, "?");
	fclose(f);
}

/* The supplementary groups, as the kernel recorded them at connect(). */
static void read_groups(struct connection *c)
{
	socklen_t len = 16 * sizeof(gid_t);

	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = malloc(len);
		if (!g)
			return;
		socklen_t got = len;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			c->groups = g;
			c->n_groups = got / sizeof(gid_t);
			return;
		}
		free(g);
		if (errno != ERANGE || got <= len)
			return; /* no groups known: only uid and gid count */
		len = got;
	}
}

int connection_init(struct connection *c, struct transport *t, int fd, uint32_t max_frame)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	memset(c, 0, sizeof(*c));
	c->t = t;
	c->fd = fd;
	c->state = CONN_OPEN;
	c->max_frame = max_frame;
	c->waiter.wake = on_input_budget;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
	} else {
		c->uid = c->gid = (uid_t)-1;
	}
	read_comm(c);
	read_groups(c);
	if (dispatch_source_init(&c->rd, t->d, fd, EV_READ | EV_PERSIST, on_read) < 0 ||
	    dispatch_source_init(&c->wr, t->d, fd, EV_WRITE | EV_PERSIST, on_write) < 0 ||
	    dispatch_source_init(&c->timer, t->d, -1, 0, on_timer) < 0) {
		c->fd = -1; /* the caller closes it */
		c->state = CONN_DEAD;
		connection_fini(c);
		return -ENOMEM;
	}
	return 0;
}

int connection_start(struct connection *c, struct account *peer, struct charge_user *user)
{
	charge_force(&c->in_charge, peer, user, CHARGE_INPUT, 0);
	charge_force(&c->out_charge, peer, user, CHARGE_QUEUED, 0);
	charge_force(&c->in_fd_charge, peer, user, CHARGE_FDS, 0);
	charge_force(&c->out_fd_charge, peer, user, CHARGE_FDS, 0);
	charge_force(&c->out_memfd_charge, peer, user, CHARGE_MEMFD, 0);
	return dispatch_source_add(&c->rd, NULL);
}

static void drop_input(struct connection *c)
{
	if (c->partial) {
		frame_unref(c->partial);
		c->partial = NULL;
	}
	free(c->rest);
	c->rest = NULL;
	c->rest_len = 0;
	c->stash_len = 0;
	for (unsigned i = 0; i < c->n_in_fds; i++) {
		for (unsigned j = 0; j < c->in_fds[i].n; j++)
			close(c->in_fds[i].fds[j]);
		free(c->in_fds[i].fds);
	}
	c->n_in_fds = 0;
	charge_shrink(&c->in_fd_charge, c->in_fd_charge.amount);
	if (c->in_charge.user)
		charge_wait_cancel(c->in_charge.user, &c->waiter);
	charge_shrink(&c->in_charge, c->in_charge.amount);
}

/* A queued frame leaves: its descriptors and body are no longer c's. */
static void uncharge(struct connection *c, const struct frame *f)
{
	const int *fds;

	charge_shrink(&c->out_fd_charge, connection_fds_of(c, f, &fds));
	charge_shrink(&c->out_memfd_charge, connection_memfd_of(c, f));
}

static void drop_output(struct connection *c)
{
	while (c->ring_len) {
		uncharge(c, c->ring[c->ring_head]);
		frame_unref(c->ring[c->ring_head]);
		c->ring_head = (c->ring_head + 1) & (c->ring_cap - 1);
		c->ring_len--;
	}
	c->out_off = 0;
	c->out_bytes = 0;
	charge_shrink(&c->out_charge, c->out_charge.amount);
	charge_shrink(&c->out_fd_charge, c->out_fd_charge.amount);
	charge_shrink(&c->out_memfd_charge, c->out_memfd_charge.amount);
}

void connection_fini(struct connection *c)
{
	drop_input(c);
	drop_output(c);
	charge_release(&c->in_charge);
	charge_release(&c->out_charge);
	charge_release(&c->in_fd_charge);
	charge_release(&c->out_fd_charge);
	charge_release(&c->out_memfd_charge);
	dispatch_source_free(&c->rd);
	dispatch_source_free(&c->wr);
	dispatch_source_free(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->ring);
	free(c->groups);
	c->ring = NULL;
	c->groups = NULL;
}

/* ---------------------------------------------------------------- input */

static void end(struct connection *c, enum connection_end why, int err)
{
	if (c->state == CONN_OPEN)
		c->t->ops->ended(c, why, err);
}

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
		end(c, CONN_END_NOMEM, ENOMEM);
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
		end(c, CONN_END_NOMEM, ENOMEM);
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

static void on_input_budget(struct charge_waiter *w)
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
		end(c, CONN_END_ERROR, errno);
		return -1;
	}
	if (n == 0 && niov) {
		end(c, CONN_END_EOF, 0);
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

static void on_read(struct dispatch_source *s, short what)
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

/* ---------------------------------------------------------------- output */

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
	mark_dirty(c);
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
		uncharge(c, f);
		frame_unref(f);
		c->ring_head = (c->ring_head + 1) & (c->ring_cap - 1);
		c->ring_len--;
	}
	c->out_off = bytes - done;
}

static void finish_close(struct connection *c)
{
	c->state = CONN_DEAD;
	dispatch_source_del(&c->rd);
	dispatch_source_del(&c->wr);
	dispatch_source_del(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	drop_output(c);
	c->t->ops->gone(c);
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
				finish_close(c);
				return;
			}
			end(c, CONN_END_ERROR, errno);
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
		finish_close(c);
}

static void on_write(struct dispatch_source *s, short what)
{
	(void)what;
	connection_flush(container_of(s, struct connection, wr));
}

/* ---------------------------------------------------------------- close */

void connection_close(struct connection *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	dispatch_source_del(&c->rd);
	dispatch_source_del(&c->timer);
	drop_input(c);
	if (!c->ring_len || c->fd < 0) {
		finish_close(c);
		return;
	}
	/* Let the last frames (e.g. the error that explains the close) out. */
	dispatch_source_add_usec(&c->timer, c->t->linger_usec);
	mark_dirty(c);
}

static void on_timer(struct dispatch_source *s, short what)
{
	struct connection *c = container_of(s, struct connection, timer);

	(void)what;
	if (c->state == CONN_CLOSING)
		finish_close(c); /* could not flush its last output in time */
	else if (c->state == CONN_OPEN && c->partial)
		end(c, CONN_END_TIMEOUT, ETIMEDOUT);
}
