/* peer.h - one client of the bus, above its connection: its unique id, the
 * state machine HELLO -> ACTIVE (or MONITOR) -> CLOSING -> DEAD, its
 * accounts (what it holds, charge.h) and what it takes part in (calls,
 * schemas, back-pressure). Peers are freed only after the callback that
 * killed them returns, so pointers held during routing stay valid. */
#ifndef BUSD_PEER_H
#define BUSD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "charge.h"
#include "connection.h"
#include "log.h"

struct broker;
struct held;
struct pending;
struct peer_schema;
struct peer_export;

enum peer_state {
	PEER_HELLO,   /* connected, Hello not yet seen */
	PEER_ACTIVE,  /* may call, serve, emit, subscribe */
	PEER_MONITOR, /* receives copies of every frame, sends nothing */
	PEER_CLOSING, /* cleaned up; its connection flushes its last output */
	PEER_DEAD,    /* connection closed, freed after the current callback */
};

struct peer {
	struct connection conn;   /* the socket below; first, for container_of */
	struct broker *broker;
	enum peer_state state;
	uint64_t id;
	char unique[24];          /* ":N" */
	size_t unique_len;
	struct charge_user *user; /* its uid's account (charge.h) */
	struct account acct;      /* its own */
	struct charge conn_charge; /* the connection, against the uid's count */
	struct dispatch_source hello_timer; /* until Hello */
	int counted;              /* in broker->n_conns: it holds a descriptor */

	struct peer *prev, *next; /* broker's list of live peers, then of closing ones */
	struct peer *mon_next;    /* broker's list of monitors */
	struct peer *dead_next;   /* broker's graveyard */
	struct peer *doomed_next; /* broker's list of peers to disconnect */
	const char *doomed_why;

	struct pending *calls_in;  /* calls waiting for this peer to answer */
	struct pending *calls_out; /* calls this peer is waiting on */
	struct held *calls_held;   /* hold.c: its calls held for a service's name */
	int instance;              /* it owned a declared service's name (hold.h) */
	uint64_t kept_bytes;       /* frames of calls to it kept for a re-send */
	struct peer_schema *schemas; /* schema.c: schemas it added */
	struct peer_export *exports; /* schema.c: (name, service) it serves */
	uint64_t event_mark;       /* fan-out de-duplication, see router.c */

	/* quota.c: back-pressure */
	struct peer *held_on;      /* not read until held_on's queue drains */
	struct peer *held_next;    /* on held_on->held_list */
	struct peer *held_list;    /* peers held until this one drains */
	int congested;             /* queue above limits.queue_hold_bytes */
	int stalled;               /* congested for the whole grace period */
	struct peer *cong_next, *cong_prev; /* broker->congested */
	uint64_t congested_usec;   /* since when congested */
	uint64_t over_usec;        /* since when above limits.max_queued_bytes; 0: not */
	uint64_t dropped;          /* events and monitor copies dropped for it */
};

/* Log lines about a peer: PEER_FMT with PEER_ARGS(p) names it as
 * "peer :3 (pid 1234, echo)". */
#define PEER_FMT "peer %s (pid %d, %s)"
#define PEER_ARGS(p) (p)->unique, (int)(p)->conn.pid, (p)->conn.comm

/* A log line about p, within its user's budget of log lines (log.h), so
 * that no user can flood the log through its peers. */
#define peer_log(p, level, fmt, ...)                                                   \
	log_limited(&(p)->user->log, level, PEER_FMT " uid %d: " fmt, PEER_ARGS(p),     \
		    (int)(p)->conn.uid, ##__VA_ARGS__)

static inline struct peer *peer_of(struct connection *c)
{
	return (struct peer *)(void *)c; /* conn is the first member */
}

/* A new peer on accepted socket fd, charged to its uid. Returns NULL when
 * out of memory (fd is then not closed). */
struct peer *peer_new(struct broker *b, int fd);
/* Hello was accepted: the peer may now send frames of any allowed size. */
void peer_activate(struct peer *p);
/* Queue f toward p (a reference is taken); 0 or -ENOMEM (nothing queued). */
int peer_send(struct peer *p, struct frame *f);
/* Drop the peer: release names and subscriptions, answer calls waiting on
 * it with bus.Error.NoReply, forget its own calls. Output already queued is
 * still written (for a bounded time) before the socket closes. */
void peer_disconnect(struct peer *p, const char *why);
void peer_free(struct peer *p);

/* What the connections report, for the broker's transport. */
extern const struct connection_ops peer_connection_ops;

#endif
