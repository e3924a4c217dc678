/* quota.c - back-pressure: congested peers, the senders held on them, the
 * ceiling of a queue, and a once-a-second watchdog (armed only while some
 * peer is congested) that finds stalled peers and peers kept at their
 * ceiling. See quota.h. */
#include "config.h"

#include "quota.h"

#include <stddef.h>
#include <stdio.h>

#include "bus/errors.h"
#include "broker.h"
#include "log.h"
#include "peer.h"
#include "router.h"

static uint64_t queued(const struct peer *p)
{
	return connection_queued(&p->conn);
}

static uint64_t uid_queued(const struct peer *p)
{
	return p->user->acct.used[CHARGE_QUEUED];
}

/* A congested peer may be let go: its own queue is below half the
 * threshold, and its uid's total below half of its own. */
static int may_uncongest(const struct peer *p)
{
	return queued(p) < p->broker->queue_hold / 2 && uid_queued(p) <= p->broker->max_queued_uid / 2;
}

int quota_drops(const struct peer *p)
{
	return p->congested || uid_queued(p) > p->broker->max_queued_uid;
}

int quota_over_ceiling(const struct peer *p)
{
	return queued(p) >= p->broker->max_queued || uid_queued(p) >= p->broker->max_queued_uid;
}

void quota_ceiling_describe(const struct peer *p, char *buf, size_t len)
{
	const struct broker *b = p->broker;

	if (queued(p) >= b->max_queued)
		snprintf(buf, len, "%llu bytes are queued toward %s, the most limits.max_queued_bytes "
			 "(%llu) allows", (unsigned long long)queued(p), p->unique,
			 (unsigned long long)b->max_queued);
	else
		snprintf(buf, len, "%llu bytes are queued toward uid %d, the most "
			 "limits.max_queued_bytes_per_uid (%llu) allows",
			 (unsigned long long)uid_queued(p), (int)p->conn.uid,
			 (unsigned long long)b->max_queued_uid);
}

static void congested_unlink(struct broker *b, struct peer *p)
{
	if (p->cong_prev)
		p->cong_prev->cong_next = p->cong_next;
	else
		b->congested = p->cong_next;
	if (p->cong_next)
		p->cong_next->cong_prev = p->cong_prev;
	p->cong_next = p->cong_prev = NULL;
	p->congested = 0;
	p->stalled = 0;
	p->over_usec = 0;
	if (!b->congested)
		dispatch_source_del(&b->quota_timer);
}

/* Let every peer held on p read again; frames busd had read from them
 * before the hold come first. */
static void release_held(struct peer *p)
{
	struct broker *b = p->broker;

	while (p->held_list) {
		struct peer *h = p->held_list;
		p->held_list = h->held_next;
		h->held_next = NULL;
		h->held_on = NULL;
		b->n_held--;
		if (h->state <= PEER_MONITOR && !b->shutting_down)
			connection_resume(&h->conn);
	}
}

void quota_queued(struct peer *p)
{
	struct broker *b = p->broker;

	if (!p->congested) {
		if (queued(p) <= b->queue_hold && uid_queued(p) <= b->max_queued_uid)
			return;
		p->congested = 1;
		p->congested_usec = broker_now_usec();
		p->cong_prev = NULL;
		p->cong_next = b->congested;
		if (b->congested)
			b->congested->cong_prev = p;
		b->congested = p;
		log_debug(PEER_FMT ": congested: %llu bytes queued toward it (limits.queue_hold_bytes), "
			  "%llu toward uid %d (limits.max_queued_bytes_per_uid)", PEER_ARGS(p),
			  (unsigned long long)queued(p), (unsigned long long)uid_queued(p),
			  (int)p->conn.uid);
		if (!dispatch_source_pending(&b->quota_timer))
			dispatch_source_add_usec(&b->quota_timer, 1000000u);
	}
	if (!p->over_usec && queued(p) >= b->max_queued) {
		p->over_usec = broker_now_usec();
		if (b->queue_grace_usec == 0) {
			peer_log(p, LOG_WARNING, "disconnected: it does not read its input, and %llu "
				 "bytes are queued toward it (limits.max_queued_bytes %llu, no grace "
				 "period)", (unsigned long long)queued(p),
				 (unsigned long long)b->max_queued);
			b->stats.quota_disconnects++;
			broker_doom(b, p, "output queue over the limit");
		}
	}
}

void quota_drained(struct peer *p)
{
	struct broker *b = p->broker;

	if (queued(p) < b->max_queued)
		p->over_usec = 0;
	if (may_uncongest(p)) {
		if (p->stalled)
			peer_log(p, LOG_INFO, "drained its queue: calls to it are taken again");
		congested_unlink(b, p);
		release_held(p);
	}
}

void quota_hold(struct peer *p, struct peer *on)
{
	struct broker *b = p->broker;

	if (p->held_on || p->state > PEER_MONITOR)
		return;
	p->held_on = on;
	p->held_next = on->held_list;
	on->held_list = p;
	b->n_held++;
	b->stats.holds++;
	connection_pause(&p->conn);
	if (p == on)
		log_debug(PEER_FMT ": held: it does not read its own input", PEER_ARGS(p));
	else
		log_debug(PEER_FMT ": held until %s reads its input", PEER_ARGS(p), on->unique);
}

int quota_refuse_call(struct peer *caller, struct peer *dst, uint64_t serial, int want_reply)
{
	struct broker *b = caller->broker;

	if (!dst->stalled && !quota_over_ceiling(dst))
		return 0;
	b->stats.calls_refused++;
	if (!want_reply)
		return 1;
	if (dst->stalled) {
		router_send_error(caller, serial, BUS_ERROR_LIMITS_EXCEEDED,
				  "%s has not drained its queue for %u s and %llu bytes are queued "
				  "toward it (limits.queue_grace_seconds)", dst->unique,
				  (unsigned)(b->queue_grace_usec / 1000000u),
				  (unsigned long long)queued(dst));
	} else {
		char why[160];
		quota_ceiling_describe(dst, why, sizeof(why));
		router_send_error(caller, serial, BUS_ERROR_LIMITS_EXCEEDED, "%s", why);
	}
	return 1;
}

void quota_peer_gone(struct peer *p)
{
	struct broker *b = p->broker;

	if (p->held_on) {
		struct peer **pp = &p->held_on->held_list;
		while (*pp && *pp != p)
			pp = &(*pp)->held_next;
		if (*pp)
			*pp = p->held_next;
		p->held_on = NULL;
		p->held_next = NULL;
		b->n_held--;
	}
	release_held(p);
	if (p->congested)
		congested_unlink(b, p);
}

void quota_limits_changed(struct broker *b)
{
	struct peer *p = b->congested, *next;

	for (; p; p = next) {
		next = p->cong_next;
		if (may_uncongest(p)) {
			congested_unlink(b, p);
			release_held(p);
		} else if (queued(p) < b->max_queued) {
			p->over_usec = 0;
		} else if (!p->over_usec) {
			p->over_usec = broker_now_usec();
		}
	}
}

void quota_on_tick(struct dispatch_source *s, short what)
{
	struct broker *b = (struct broker *)(void *)((char *)s - offsetof(struct broker, quota_timer));
	uint64_t now = broker_now_usec();
	struct peer *p, *next;

	(void)what;
	for (p = b->congested; p; p = next) {
		next = p->cong_next;
		if (p->state > PEER_MONITOR)
			continue;
		if (may_uncongest(p)) {
			/* congested by its uid's total, which has gone down */
			congested_unlink(b, p);
			release_held(p);
			continue;
		}
		if (p->over_usec && now - p->over_usec >= b->queue_grace_usec) {
			peer_log(p, LOG_WARNING, "disconnected: its queue stayed at its ceiling of %llu "
				 "bytes for %u s (%llu bytes now; limits.max_queued_bytes, "
				 "limits.queue_grace_seconds)", (unsigned long long)b->max_queued,
				 (unsigned)(b->queue_grace_usec / 1000000u),
				 (unsigned long long)queued(p));
			b->stats.quota_disconnects++;
			peer_disconnect(p, "output queue over the limit");
			continue;
		}
		/* Stalled: congested the whole grace period. Reading a little now
		 * and then is not draining: only getting below half the threshold
		 * ends congestion. (A peer congested only by its uid's total has
		 * little of its own waiting and is not stalled for it.) */
		if (!p->stalled && queued(p) >= b->queue_hold / 2 &&
		    now - p->congested_usec >= b->queue_grace_usec) {
			p->stalled = 1;
			peer_log(p, LOG_WARNING, "has not drained its queue for %u s (%llu bytes queued "
				 "toward it); calls to it are refused until it does "
				 "(limits.queue_grace_seconds)", (unsigned)(b->queue_grace_usec / 1000000u),
				 (unsigned long long)queued(p));
			release_held(p);
		}
	}
}
