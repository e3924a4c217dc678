/* connection.h - one client socket below the bus: the peer's credentials,
 * reading whole frames (the bytes of an unfinished one are charged to the
 * peer and its user), a queue of frames to write (held by reference, their
 * bytes charged to the receiving peer), and an orderly close. It knows
 * nothing of names, calls or routing: the layer above gets every complete
 * frame, and learns of the end, through its connection_ops.
 *
 * All connections share one transport: the read buffer (busd reads one
 * socket at a time), the list of connections with output to write, the
 * operations of the layer above and the transport's limits.
 *
 * Descriptors passed with a frame (SCM_RIGHTS) come with the first byte of
 * its preamble, in a sendmsg() that carries no other frame (docs/protocol.md):
 * those a read returns belong to the last frame whose preamble begins in the
 * bytes of that read. They are charged (CHARGE_FDS) to the sender until its
 * frame goes up, and to each receiver while the frame waits in its queue. */
#ifndef BUSD_CONNECTION_H
#define BUSD_CONNECTION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "charge.h"
#include "dispatch.h"
#include "frame.h"

struct connection;

/* Why a connection ends from below. */
enum connection_end {
	CONN_END_EOF = 1,   /* the peer closed it */
	CONN_END_ERROR,     /* read or write failed (errno in err) */
	CONN_END_NOMEM,     /* no memory for a frame it sent */
	CONN_END_TIMEOUT,   /* a frame started but did not finish in time */
};

/* connection_ops.broken's result for descriptors that break the rules
 * (beside the wire_result values); the connection's why says which. */
#define CONN_E_FDS 100

struct connection_ops {
	/* A complete frame arrived; the callee owns the reference passed. Its
	 * preamble passed connection_check's rules, its header is not parsed. */
	void (*frame)(struct connection *c, struct frame *f);
	/* A preamble broke the rules (result: a wire_result; pre as decoded):
	 * nothing more is read; the callee answers and closes. */
	void (*broken)(struct connection *c, int result, const wire_preamble *pre);
	/* The peer is gone or unusable (why); the callee closes. */
	void (*ended)(struct connection *c, enum connection_end why, int err);
	/* Queued output was written (the queue shrank). */
	void (*written)(struct connection *c);
	/* Closed and flushed (or given up): the owner frees it after the
	 * current callback. */
	void (*gone)(struct connection *c);
};

struct transport {
	struct dispatch *d;
	const struct connection_ops *ops;
	uint8_t *scratch;             /* the shared read buffer */
	struct connection *dirty;     /* connections with output to write */
	uint64_t frame_timeout_usec;  /* a started frame must finish within it */
	uint64_t linger_usec;         /* a closing connection's last output */
	unsigned max_fds;             /* descriptors per frame (limits.max_fds_per_frame) */
};

/* Descriptors one read brought, waiting for the frame they belong to: the
 * last frame whose preamble begins at a stream offset in [from, to). */
struct fd_batch {
	int *fds;
	unsigned n;
	uint64_t from, to;
};

enum connection_state { CONN_OPEN, CONN_CLOSING, CONN_DEAD };

struct connection {
	struct transport *t;
	int fd;
	enum connection_state state;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;                /* supplementary groups (SO_PEERGROUPS) */
	unsigned n_groups;
	char comm[17];                /* /proc/PID/comm, "?" if unknown */

	struct dispatch_source rd, wr, timer;
	uint32_t max_frame;           /* largest frame it may send */
	int paused;                   /* the layer above stopped its reading */
	int large_next;               /* the last frame cut was large: read the */
	                              /* next preamble alone (connection-read.c) */
	struct charge_waiter waiter;  /* waiting for its user's input budget */

	/* input: a preamble cut short, or a frame being received (its buffer
	 * charged as CHARGE_INPUT), and the bytes a read brought that were not
	 * cut into frames yet when reading was paused (charged too) */
	uint8_t stash[WIRE_PREAMBLE_SIZE];
	size_t stash_len;
	struct frame *partial;
	size_t partial_len, partial_have;
	uint8_t *rest;
	size_t rest_len;
	uint64_t rest_at;             /* stream offset of rest[0] */
	struct charge in_charge;
	uint64_t in_pos;              /* bytes received: the stream offset of the next */
	struct fd_batch in_fds[2];    /* at most two reads' descriptors wait at once */
	unsigned n_in_fds;
	struct charge in_fd_charge;   /* CHARGE_FDS: in_fds and the partial frame's */
	const char *why;              /* CONN_E_FDS: the rule broken */

	/* output: frames by reference, their buffers charged as CHARGE_QUEUED */
	struct frame **ring;
	uint32_t ring_cap, ring_head, ring_len;
	size_t out_off;               /* bytes of the first frame written */
	size_t out_bytes;
	struct charge out_charge;
	struct charge out_fd_charge;  /* CHARGE_FDS: descriptors of queued frames */
	int no_fds;                   /* frames go to it without their descriptors */
	int memfd_ok;                 /* it takes out-of-line bodies (said at Hello) */
	int mon_bodies;               /* a monitor given each body memfd (alone) */
	struct charge out_memfd_charge; /* CHARGE_MEMFD: bodies of queued frames */
	struct connection *dirty_next;
	int dirty;
};

int transport_init(struct transport *t, struct dispatch *d, const struct connection_ops *ops);
void transport_fini(struct transport *t);
/* Write the output of every connection that has some (end of callback).
 * Failures reach ops->ended. */
void transport_flush(struct transport *t);

/* Take over accepted socket fd and read its credentials. Returns 0 or
 * -ENOMEM (fd is then not closed). */
int connection_init(struct connection *c, struct transport *t, int fd, uint32_t max_frame);
/* Start reading, charging what it holds to peer and user (the layer above
 * picks the accounts from the credentials). */
int connection_start(struct connection *c, struct account *peer, struct charge_user *user);
/* Free what the connection holds; it must be closed (CONN_DEAD) or never
 * started reading. */
void connection_fini(struct connection *c);

/* Queue f (a reference is taken) for writing at the end of the callback.
 * Returns 0 or -ENOMEM (nothing queued). connection_reserve() makes sure
 * the next connection_queue() cannot fail. */
int connection_reserve(struct connection *c);
int connection_queue(struct connection *c, struct frame *f);
/* From now on frames go to c without their descriptors (a monitor), also
 * those already queued; with bodies set, each frame's out-of-line body goes
 * with it, alone. What is charged to c is what it is now sent. */
void connection_refuse_fds(struct connection *c, int bodies);
/* Whether queueing n more passed descriptors to c would pass its or its
 * user's limit: 0, CHARGE_E_PEER or CHARGE_E_USER. */
static inline int connection_fds_refused(const struct connection *c, unsigned n)
{
	return n && !c->no_fds ? charge_would_pass(&c->out_fd_charge, n) : 0;
}
/* The descriptors of f that go to c: all of them, none (a monitor), or the
 * out-of-line body alone (a monitor that asked for bodies). */
static inline unsigned connection_fds_of(const struct connection *c, const struct frame *f,
					 const int **fds)
{
	*fds = f->fds;
	if (!c->no_fds)
		return f->n_fds;
	if (c->mon_bodies && f->h.memfd_body_size && f->n_fds) {
		*fds = f->fds + f->n_fds - 1;
		return 1;
	}
	return 0;
}
/* The same for the bytes of its out-of-line body: charged while queued. */
static inline uint64_t connection_memfd_of(const struct connection *c, const struct frame *f)
{
	return !c->no_fds || c->mon_bodies ? f->h.memfd_body_size : 0;
}
/* What busd holds toward c: the buffers of the frames queued (charged). */
static inline size_t connection_queued(const struct connection *c)
{
	return c->out_charge.amount;
}
/* Write what is queued now (without blocking). */
void connection_flush(struct connection *c);

/* Stop reading (frames already read are kept, charged), and go on. */
void connection_pause(struct connection *c);
void connection_resume(struct connection *c);
/* Largest frame accepted from now on. */
void connection_set_max_frame(struct connection *c, uint32_t max_frame);

/* Stop reading, drop input, write what is queued for at most the
 * transport's linger time, then close the socket and report ops->gone. */
void connection_close(struct connection *c);

#endif
