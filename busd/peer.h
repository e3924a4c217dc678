/* peer.h - one connected client: its socket, credentials, buffers and the
 * state machine HELLO -> ACTIVE (or MONITOR) -> CLOSING -> DEAD.
 * Peers are freed only by broker_reap(), after the event callback that
 * killed them returns, so pointers held during dispatch stay valid. */
#ifndef BUSD_PEER_H
#define BUSD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;
struct pending;
struct peer_schema;
struct peer_export;
struct evbuffer;
struct event;

enum peer_state {
	PEER_HELLO,   /* connected, Hello not yet seen */
	PEER_ACTIVE,  /* may call, serve, emit, subscribe */
	PEER_MONITOR, /* receives copies of every frame, sends nothing */
	PEER_CLOSING, /* cleaned up; flushing its last output before close */
	PEER_DEAD,    /* socket closed, waiting for broker_reap() */
};

struct peer {
	struct broker *broker;
	int fd;
	enum peer_state state;
	uint64_t id;
	char unique[24];          /* ":N" */
	size_t unique_len;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char comm[17];            /* /proc/PID/comm, "?" if unknown */
	gid_t *groups;            /* supplementary groups (SO_PEERGROUPS), for the policy */
	unsigned n_groups;

	struct evbuffer *in, *out;
	struct event *ev_read, *ev_write, *ev_linger;

	struct peer *prev, *next; /* broker's list of live peers */
	struct peer *dirty_next;  /* broker's list of peers with output to flush */
	int dirty;
	struct peer *mon_next;    /* broker's list of monitors */
	struct peer *dead_next;   /* broker's lingering list, then its graveyard */
	int lingering;            /* CLOSING with output left, on b->lingering */

	struct pending *calls_in;  /* calls waiting for this peer to answer */
	struct pending *calls_out; /* calls this peer is waiting on */
	unsigned n_calls_in, n_calls_out;
	int uid_counted;           /* counted in uu->conns */
	struct uid_usage *uu;      /* what its uid holds in all (quota.h) */
	struct peer_schema *schemas; /* schema.c: schemas it added, charged to it */
	struct peer_export *exports; /* schema.c: (name, service) it serves */
	uint64_t schema_bytes;
	int overflowed;            /* on broker->overflowed */
	struct peer *overflow_next;
	uint64_t event_mark;       /* fan-out de-duplication, see router.c */

	/* quota.c: back-pressure */
	struct peer *held_on;      /* not read until held_on's queue drains */
	struct peer *held_next;    /* on held_on->held_list */
	struct peer *held_list;    /* peers held until this one drains */
	int resumed;               /* let go: process its buffered frames first */
	int congested;             /* queue above limits.queue_hold_bytes */
	int stalled;               /* congested, and took nothing for the grace period */
	struct peer *cong_next, *cong_prev; /* broker->congested */
	uint64_t progress_usec;    /* last write toward it while congested */
	uint64_t over_usec;        /* since when above limits.max_queued_bytes; 0: not */
	uint64_t dropped;          /* events and monitor copies dropped for it */
	unsigned n_subs;           /* subscriptions (limits.max_subscriptions_per_peer) */
	uint64_t deny_window_usec; /* router_permit(): access-denied log lines this second */
	unsigned deny_logged, deny_suppressed;
};

/* Take over an accepted socket: credentials, buffers, read event. */
struct peer *peer_new(struct broker *b, int fd);
/* Queue head (preamble + header) and body for sending; flushed by
 * broker_flush() at the end of the current event callback. */
int peer_queue(struct peer *p, const void *head, size_t head_len, const void *body, size_t body_len);
/* Write what is queued. Returns 0, or -errno when the socket is broken. */
int peer_flush(struct peer *p);
/* Drop the peer: release names and subscriptions, answer calls waiting on
 * it with bus.Error.NoReply, forget its own calls. Output already queued is
 * still flushed (bounded in time) before the socket closes. */
void peer_disconnect(struct peer *p, const char *why);
/* Close at once and hand to the graveyard (after peer_disconnect). */
void peer_destroy(struct peer *p);
void peer_free(struct peer *p);
/* "peer :3 (pid 1234, echo)" for log lines. */
const char *peer_describe(const struct peer *p);

#endif
