/* quota.c - back-pressure: congested peers, the senders held on them, and a
 * once-a-second watchdog (armed only while some peer is congested) that
 * finds stalled peers and peers kept above the ceiling. See quota.h. */
#include "config.h"

#include "quota.h"

#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bus/errors.h"
#include "broker.h"
#include "log.h"
#include "peer.h"
#include "router.h"

static void quota_on_tick(evutil_socket_t fd, short what, void *arg);

/* ---------------------------------------------------------------- per uid */

struct uid_usage *quota_uid_get(struct broker *b, uid_t uid)
{
	struct uid_usage *u = hash_get(b->uids, &uid, sizeof(uid));

	if (!u) {
		if (!(u = calloc(1, sizeof(*u))))
			return NULL;
		u->uid = uid;
		if (hash_put(b->uids, &u->uid, sizeof(u->uid), u) < 0) {
			free(u);
			return NULL;
		}
	}
	u->refs++;
	return u;
}

void quota_uid_put(struct broker *b, struct uid_usage *u)
{
	if (!u || --u->refs > 0)
		return;
	hash_remove(b->uids, &u->uid, sizeof(u->uid));
	free(u);
}

int quota_uid_over(const struct peer *p)
{
	return p->uu->queued > p->broker->max_queued_uid;
}

/* A congested peer may be let go: its own queue is below half the
 * threshold, and its uid's total below half of its own. */
static int may_uncongest(const struct peer *p, size_t len)
{
	return len < p->broker->queue_hold / 2 && p->uu->queued <= p->broker->max_queued_uid / 2;
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
	if (!b->congested && b->ev_quota)
		evtimer_del(b->ev_quota);
}

/* Let every peer held on p read again. Frames already in their input
 * buffers are processed from the read callback, made active here. */
static void release_held(struct peer *p)
{
	struct broker *b = p->broker;

	while (p->held_list) {
		struct peer *h = p->held_list;
		p->held_list = h->held_next;
		h->held_next = NULL;
		h->held_on = NULL;
		b->n_held--;
		if (h->state <= PEER_MONITOR && !b->shutting_down) {
			h->resumed = 1;
			event_add(h->ev_read, NULL);
			event_active(h->ev_read, EV_READ, 0);
		}
	}
}

void quota_queued(struct peer *p)
{
	struct broker *b = p->broker;
	size_t len = evbuffer_get_length(p->out);

	if (!p->congested) {
		uint64_t now = broker_now_usec();
		p->congested = 1;
		p->progress_usec = now;
		p->cong_prev = NULL;
		p->cong_next = b->congested;
		if (b->congested)
			b->congested->cong_prev = p;
		b->congested = p;
		log_debug("%s: congested: %zu bytes queued toward it (limits.queue_hold_bytes), "
			  "%llu toward uid %d (limits.max_queued_bytes_per_uid)", peer_describe(p),
			  len, (unsigned long long)p->uu->queued, (int)p->uid);
		if (!b->ev_quota)
			b->ev_quota = event_new(b->base, -1, EV_PERSIST, quota_on_tick, b);
		if (b->ev_quota && !evtimer_pending(b->ev_quota, NULL)) {
			struct timeval tv = { 1, 0 };
			evtimer_add(b->ev_quota, &tv);
		}
	}
	if (len > b->max_queued && !p->over_usec) {
		p->over_usec = broker_now_usec();
		if (b->queue_grace_usec == 0)
			broker_overflow(b, p);
	}
}

void quota_drained(struct peer *p)
{
	struct broker *b = p->broker;
	size_t len = evbuffer_get_length(p->out);

	p->progress_usec = broker_now_usec();
	if (p->stalled) {
		log_info("%s: reads its input again", peer_describe(p));
		p->stalled = 0;
	}
	if (len <= b->max_queued)
		p->over_usec = 0;
	if (may_uncongest(p, len)) {
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
	event_del(p->ev_read);
	if (p == on)
		log_debug("%s: held: it does not read its own input", peer_describe(p));
	else
		log_debug("%s: held until %s reads its input", peer_describe(p), on->unique);
}

int quota_refuse_call(struct peer *caller, struct peer *dst, uint64_t serial, int want_reply)
{
	struct broker *b = caller->broker;

	if (!dst->congested || (!dst->stalled && !dst->over_usec))
		return 0;
	b->stats.calls_refused++;
	if (want_reply) {
		size_t len = evbuffer_get_length(dst->out);
		if (dst->stalled)
			router_send_error(caller, serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "%s has read nothing for %u s and %zu bytes are queued "
					  "toward it (limits.queue_grace_seconds)", dst->unique,
					  (unsigned)(b->queue_grace_usec / 1000000u), len);
		else
			router_send_error(caller, serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "%zu bytes are queued toward %s, more than "
					  "limits.max_queued_bytes (%llu)", len, dst->unique,
					  (unsigned long long)b->max_queued);
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
		size_t len = evbuffer_get_length(p->out);
		if (may_uncongest(p, len)) {
			congested_unlink(b, p);
			release_held(p);
		} else if (len <= b->max_queued) {
			p->over_usec = 0;
		} else if (!p->over_usec) {
			p->over_usec = broker_now_usec();
		}
	}
}

static void quota_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	uint64_t now = broker_now_usec();
	struct peer *p, *next;

	(void)fd;
	(void)what;
	for (p = b->congested; p; p = next) {
		next = p->cong_next;
		if (p->state > PEER_MONITOR)
			continue;
		size_t len = evbuffer_get_length(p->out);
		if (may_uncongest(p, len)) {
			/* congested by its uid's total, which has gone down */
			congested_unlink(b, p);
			release_held(p);
			continue;
		}
		if (p->over_usec && now - p->over_usec >= b->queue_grace_usec) {
			log_warning("%s: disconnected: more than %llu bytes were queued toward it for "
				    "%u s (%zu now; limits.max_queued_bytes, limits.queue_grace_seconds)",
				    peer_describe(p), (unsigned long long)b->max_queued,
				    (unsigned)(b->queue_grace_usec / 1000000u), len);
			b->stats.quota_disconnects++;
			peer_disconnect(p, "output queue over the limit");
			continue;
		}
		/* Stalled: it has something to read and has taken nothing. (A peer
		 * congested only by its uid's total has nothing waiting.) */
		if (!p->stalled && len >= b->queue_hold / 2 &&
		    now - p->progress_usec >= b->queue_grace_usec) {
			p->stalled = 1;
			log_warning("%s: has read nothing for %u s with %zu bytes queued toward it; "
				    "calls to it are refused until it reads (limits.queue_grace_seconds)",
				    peer_describe(p), (unsigned)(b->queue_grace_usec / 1000000u), len);
			release_held(p);
		}
	}
	broker_after(b);
}
