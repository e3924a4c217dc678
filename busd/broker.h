/* broker.h - the broker object: the listening socket, the set of peers and
 * the tables routing uses, the per-callback flush of queued output, and
 * graceful shutdown. */
#ifndef BUSD_BROKER_H
#define BUSD_BROKER_H

#include <stdint.h>

#include "hash.h"
#include "match.h"
#include "name.h"
#include "peer.h"
#include "router.h"

struct event_base;
struct event;
struct policy;

struct broker_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t calls, replies, errors, events, event_deliveries;
	uint64_t protocol_errors, connections_total;
	uint64_t events_dropped, monitor_dropped; /* toward congested peers */
	uint64_t holds, calls_refused, quota_disconnects, access_denied;
};

struct broker {
	struct event_base *base;
	char *path;                /* socket file, unlinked at exit */
	int listen_fd;
	struct event *ev_accept;
	uint32_t max_frame;
	uint64_t max_queued;       /* limits.* (settings.h), changed on SIGHUP */
	uint32_t max_pending, max_conn_uid, max_names;
	uint64_t max_schema_bytes;
	uint64_t queue_hold;       /* limits.queue_hold_bytes */
	uint64_t queue_grace_usec; /* limits.queue_grace_seconds */
	uint32_t max_subs;
	uint64_t max_queued_uid;   /* limits.*_per_uid */
	uint32_t max_pending_uid, max_names_uid, max_subs_uid;
	const struct policy *policy; /* [policy] rules, owned by the configuration */
	struct peer *congested;    /* quota.c: peers above queue_hold */
	unsigned n_held;           /* peers busd does not read for now */
	struct event *ev_quota;    /* quota.c's watchdog, armed while congested */
	struct schema_store *schemas;
	hash *uids;                /* uid -> struct uid_usage (quota.h) */
	struct peer *overflowed;   /* peers past max_queued, dropped in broker_after */

	uint64_t next_id;          /* last unique id given out */
	uint64_t serial;           /* serials of frames busd originates */
	uint64_t start_usec;
	hash *peers;               /* ":N" -> struct peer */
	struct peer *all;          /* live peers (HELLO, ACTIVE, MONITOR) */
	unsigned n_peers, n_monitors;
	unsigned peers_peak;       /* most peers since memory was last given back */
	struct event *ev_trim;     /* gives memory back after a crowd left */
	struct peer *monitors;
	struct peer *dirty;        /* peers with output to flush */
	struct peer *lingering;    /* CLOSING peers flushing their last output */
	struct peer *graveyard;    /* dead peers to free */
	name_registry *names;
	struct match *match;
	struct pending_table pending;
	struct broker_stats stats;

	int shutting_down;
	struct event *ev_shutdown_timer;
};

struct config;
/* Create the broker listening on passed_fd (a socket systemd passed; busd
 * will not unlink it) or, when that is -1, on c->socket, bound with c's mode
 * and group (refusing when another broker listens there, replacing a stale
 * socket file). Returns NULL after logging why. */
struct broker *broker_new(struct event_base *base, const struct config *c, int passed_fd);
/* Take the limits of c (at start and on SIGHUP). */
void broker_set_limits(struct broker *b, const struct config *c);
/* A peer's output queue passed max_queued with no grace period: disconnect
 * it after this callback (not during routing, which may be walking the peer
 * lists). */
void broker_overflow(struct broker *b, struct peer *p);
void broker_free(struct broker *b);
/* Called at the end of every event callback: write queued output of every
 * dirty peer (one writev each), then free dead peers. */
void broker_after(struct broker *b);
void broker_mark_dirty(struct broker *b, struct peer *p);
/* Stop accepting and reading, answer every pending call with
 * bus.Error.NoReply, flush (at most 2 s), then leave the loop. */
void broker_shutdown(struct broker *b);
uint64_t broker_now_usec(void);

#endif
