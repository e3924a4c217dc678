/* quota.h - back-pressure on the queues busd holds toward its peers.
 *
 * What a peer may make busd hold is charged (charge.h); this module decides
 * what may be queued toward a peer, and who waits for it.
 *
 * A peer whose queue passes limits.queue_hold_bytes (or whose uid's queues
 * together pass limits.max_queued_bytes_per_uid) is congested:
 *  - whoever sends it a CALL is held: busd stops reading the sender (its
 *    frames wait in its socket) until the queue drains below half the
 *    threshold. A congested peer is held on itself too: it is not reading
 *    the answers to what it asked, so busd stops taking new requests from it.
 *  - EVENTs (and monitor copies) toward it are dropped for it alone and
 *    counted; the emitter is never held.
 * At its ceiling (limits.max_queued_bytes, or its uid's total at
 * limits.max_queued_bytes_per_uid) nothing more is queued toward it: CALLs
 * are answered bus.Error.LimitsExceeded, and an answer to one of its own
 * calls is dropped and replaced by bus.Error.LimitsExceeded (small, and at
 * most one per call it may have waiting). The callee is never held for it.
 * A peer congested for limits.queue_grace_seconds in a row, without
 * draining below half the threshold, is stalled: the peers held on it are
 * let go, and CALLs to it are refused until it drains. A queue kept at its
 * ceiling for the grace period (at once when it is 0) gets the peer
 * disconnected, with a log line naming it and the limit. */
#ifndef BUSD_QUOTA_H
#define BUSD_QUOTA_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct peer;
struct dispatch_source;

/* After a frame was queued toward p: mark it congested when it passed a
 * threshold, note when it reached its ceiling. */
void quota_queued(struct peer *p);
/* After a write toward congested p: un-congest it (and let its held peers
 * go) once its queue is below half the threshold. */
void quota_drained(struct peer *p);
/* Whether best-effort frames (events, monitor copies) toward p are dropped:
 * it is congested, or its uid's queues together are above their limit. */
int quota_drops(const struct peer *p);
/* Whether nothing more may be queued toward p (see above), and why, for
 * messages. */
int quota_over_ceiling(const struct peer *p);
void quota_ceiling_describe(const struct peer *p, char *buf, size_t len);
/* Stop reading p until on drains (on may be p itself). */
void quota_hold(struct peer *p, struct peer *on);
/* A CALL from caller to dst that dst cannot take now (stalled, or at its
 * ceiling): answer it with bus.Error.LimitsExceeded (unless no reply is
 * expected) and return 1; else 0. */
int quota_refuse_call(struct peer *caller, struct peer *dst, uint64_t serial, int want_reply);
/* p goes away: take it off every list, let the peers held on it go. */
void quota_peer_gone(struct peer *p);
/* The thresholds changed (SIGHUP): re-evaluate every congested peer. */
void quota_limits_changed(struct broker *b);
/* The once-a-second watchdog, armed while some peer is congested. */
void quota_on_tick(struct dispatch_source *s, short what);

#endif
