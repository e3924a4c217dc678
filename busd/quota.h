/* quota.h - back-pressure on the queues busd holds toward its peers.
 *
 * A peer whose output queue passes limits.queue_hold_bytes is congested:
 *  - whoever sends it a CALL is held: busd stops reading the sender (its
 *    frames wait in its socket) until the queue drains below half the
 *    threshold. A congested peer is held on itself too: it is not reading
 *    the answers to what it asked, so busd stops taking new requests from it.
 *  - EVENTs (and monitor copies) toward it are dropped for it alone and
 *    counted; the emitter is never held.
 *  - answers (REPLY/ERROR) are always queued: there is at most one per call
 *    it made, and limits.max_pending_calls bounds those.
 * A congested peer that takes nothing from its queue for
 * limits.queue_grace_seconds is stalled: the peers held on it are let go,
 * and CALLs to it are answered bus.Error.LimitsExceeded until it reads
 * again. A queue above limits.max_queued_bytes refuses CALLs the same way,
 * and if it stays above for the grace period (at once when it is 0) the
 * peer is disconnected with a log line naming it and the limit. */
#ifndef BUSD_QUOTA_H
#define BUSD_QUOTA_H

#include <stdint.h>
#include <sys/types.h>

struct broker;
struct peer;

/* What all the peers of one uid hold together (limits.*_per_uid). Every
 * peer points at its uid's record from accept to free. */
struct uid_usage {
	uid_t uid;
	unsigned refs;            /* peers pointing here */
	unsigned conns;           /* live connections */
	unsigned names, pending, subs;
	uint64_t queued;          /* bytes queued toward its peers */
};

/* The record of uid, created on first use (NULL: out of memory). */
struct uid_usage *quota_uid_get(struct broker *b, uid_t uid);
void quota_uid_put(struct broker *b, struct uid_usage *u);
/* Whether p's uid holds more queued bytes than limits.max_queued_bytes_per_uid. */
int quota_uid_over(const struct peer *p);

/* After bytes were queued toward p and its queue is above the hold
 * threshold (or its uid's above the per-uid one): mark it congested, note
 * when it passed the ceiling. */
void quota_queued(struct peer *p);
/* After a write toward congested p: progress; un-congest it (and let its
 * held peers go) once its queue is below half the threshold. */
void quota_drained(struct peer *p);
/* Stop reading p until on drains (on may be p itself). */
void quota_hold(struct peer *p, struct peer *on);
/* A CALL from caller to dst that dst cannot take now (stalled, or above the
 * ceiling): answer it with bus.Error.LimitsExceeded (unless no reply is
 * expected) and return 1; else 0. */
int quota_refuse_call(struct peer *caller, struct peer *dst, uint64_t serial, int want_reply);
/* p goes away: take it off every list, let the peers held on it go. */
void quota_peer_gone(struct peer *p);
/* The thresholds changed (SIGHUP): re-evaluate every congested peer. */
void quota_limits_changed(struct broker *b);

#endif
