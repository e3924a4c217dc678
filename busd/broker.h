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

struct broker_stats {
	uint64_t frames_in, frames_out, bytes_in, bytes_out;
	uint64_t calls, replies, errors, events, event_deliveries;
	uint64_t protocol_errors, connections_total;
};

struct broker {
	struct event_base *base;
	char *path;                /* socket file, unlinked at exit */
	int listen_fd;
	struct event *ev_accept;
	uint32_t max_frame;

	uint64_t next_id;          /* last unique id given out */
	uint64_t serial;           /* serials of frames busd originates */
	uint64_t start_usec;
	hash *peers;               /* ":N" -> struct peer */
	struct peer *all;          /* live peers (HELLO, ACTIVE, MONITOR) */
	unsigned n_peers, n_monitors;
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

/* Create the broker and bind the socket at path (refusing when another
 * broker listens there, replacing a stale socket file). Returns NULL after
 * logging why. */
struct broker *broker_new(struct event_base *base, const char *path, uint32_t max_frame);
void broker_free(struct broker *b);
/* Called at the end of every event callback: write queued output of every
 * dirty peer (one writev each), then free dead peers. */
void broker_after(struct broker *b);
void broker_mark_dirty(struct broker *b, struct peer *p);
/* Stop accepting and reading, flush (at most 2 s), then leave the loop. */
void broker_shutdown(struct broker *b);
uint64_t broker_now_usec(void);

#endif
