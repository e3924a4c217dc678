/* broker.h - the broker object: the listening socket and its file
 * descriptor budget, the set of peers and the tables routing uses, the
 * accounts (charge.h), the end-of-callback work every dispatch runs, and
 * graceful shutdown. */
#ifndef BUSD_BROKER_H
#define BUSD_BROKER_H

#include <stdint.h>
#include <sys/types.h>

#include "charge.h"
#include "connection.h"
#include "dispatch.h"
#include "hash.h"
#include "match.h"
#include "name.h"
#include "peer.h"
#include "router.h"

struct event_base;
struct policy;

struct broker_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t calls, replies, errors, events, event_deliveries;
	uint64_t protocol_errors, connections_total, connections_refused;
	uint64_t events_dropped, monitor_dropped; /* toward congested peers */
	uint64_t holds, calls_refused, quota_disconnects, access_denied;
	uint64_t answers_dropped; /* answers replaced by LimitsExceeded */
	uint64_t calls_resent;    /* held again after their callee died (hold.h) */
	uint64_t memfd_refused;   /* out-of-line bodies refused (body.c) */
};

struct broker {
	struct event_base *base;
	struct dispatch dispatch;  /* every callback; broker_after() after each */
	struct transport transport;
	struct charge_ledger ledger; /* per uid accounts and the limits */

	char *path;                /* socket file, unlinked at exit if still ours */
	dev_t sock_dev;
	ino_t sock_ino;
	int listen_fd;
	struct dispatch_source accept_src, accept_pause;
	int reserve_fd;            /* spent to refuse a connection when out of fds */
	unsigned fd_budget;        /* connections the fd limit allows */
	unsigned root_reserve;     /* of them, kept for root */
	struct log_limit accept_log;

	uint32_t max_frame;        /* limits.* (settings.h), changed on SIGHUP */
	uint64_t max_queued;
	uint64_t queue_hold;       /* limits.queue_hold_bytes */
	uint64_t queue_grace_usec; /* limits.queue_grace_seconds */
	uint64_t max_queued_uid;
	uint64_t hello_timeout_usec;
	uint32_t max_conn_uid_config; /* before the fd budget is applied */
	const struct policy *policy; /* [policy] rules, owned by the configuration */

	struct peer *congested;    /* quota.c: peers above queue_hold */
	unsigned n_held;           /* peers busd does not read for now */
	struct dispatch_source quota_timer; /* quota.c's watchdog, armed while congested */
	struct schema_store *schemas;
	struct supervisor *supervisor; /* declared services (supervise.h); NULL: none */
	struct hold_table *holds;  /* hold.c: calls held for services' names */
	uint32_t max_held_calls;   /* limits.max_held_calls_per_name */
	uint64_t max_held_bytes;   /* limits.max_held_bytes_per_name */
	uint64_t max_memfd_body;   /* limits.max_memfd_body_size (0: none taken) */
	uint32_t max_resends;      /* limits.max_call_resends */

	uint64_t next_id;          /* last unique id given out */
	uint64_t serial;           /* serials of frames busd originates */
	struct watchdog *watchdogs; /* watchdog.c: the services busd pings */
	uint64_t fanout_mark;      /* one per event delivered, see router.c */
	uint64_t start_usec;
	hash *peers;               /* ":N" -> struct peer */
	struct peer *all;          /* live peers (HELLO, ACTIVE, MONITOR) */
	unsigned n_peers, n_monitors;
	unsigned n_conns;          /* peers allocated: each holds a descriptor */
	unsigned peers_peak;       /* most peers since memory was last given back */
	struct dispatch_source trim_timer; /* gives memory back after a crowd left, */
	uint64_t released_mark;    /* or large frames: frame_released() at the */
	                           /* last look */
	int trim_crowd;            /* the next look is after a crowd left */
	struct peer *monitors;
	struct peer *doomed;       /* to disconnect after routing (broker_doom) */
	struct peer *closing;      /* CLOSING peers writing their last output */
	struct peer *graveyard;    /* dead peers to free */
	name_registry *names;
	struct match *match;
	struct pending_table pending;
	struct broker_stats stats;

	int shutting_down;
	struct dispatch_source shutdown_timer;
};

struct config;
/* Create the broker listening on passed_fd (a socket systemd passed; busd
 * will not unlink it) or, when that is -1, on c->socket, bound with c's mode
 * and group (refusing when another broker listens there, replacing a stale
 * socket file). Returns NULL after logging why. */
struct broker *broker_new(struct event_base *base, const struct config *c, int passed_fd);
/* Take the limits and policy of c (at start and on SIGHUP). */
void broker_set_limits(struct broker *b, const struct config *c);
/* SIGHUP applied a new policy: monitors and subscriptions it no longer
 * allows are dropped. */
void broker_policy_changed(struct broker *b);
/* Disconnect p after routing is done (routing may be walking the lists p
 * is on), with why for the log. */
void broker_doom(struct broker *b, struct peer *p, const char *why);
void broker_free(struct broker *b);
/* Stop accepting and reading, answer every pending call with
 * bus.Error.NoReply, flush (at most 2 s), then leave the loop. */
void broker_shutdown(struct broker *b);
uint64_t broker_now_usec(void);
/* Bytes busd's allocator has handed out and not got back (the sanitizer's
 * count in a sanitizer build). */
uint64_t broker_heap_bytes(void);

#endif
