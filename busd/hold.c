/* hold.c - the FIFO of held calls per name of a declared service, what
 * starts a service on demand, and what ends a hold: the name owned
 * (delivery through router.c), no instance coming (ServiceStartFailed), the
 * caller gone, busd stopping. See hold.h. */
#include "config.h"

#include "hold.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/errors.h"
#include "broker.h"
#include "dispatch.h"
#include "frame.h"
#include "hash.h"
#include "log.h"
#include "policy.h"
#include "router.h"
#include "supervise.h"

/* How long calls are held for the name of a service that is running
 * without it (see mark_unowned()). */
#define HOLD_UNOWNED_USEC (10u * 1000000u)

struct held_queue;

/* One held call: a reference to its frame, charged to its caller. */
struct held {
	struct held *q_prev, *q_next;   /* its name's FIFO */
	struct held *c_prev, *c_next;   /* caller->calls_held */
	struct held_queue *q;
	struct peer *caller;
	struct frame *f;
	uint64_t serial;
	unsigned resends;               /* times re-sent after a crash, this one included */
	size_t cost;                    /* frame_cost() when held */
	struct charge charge;           /* CHARGE_CALLS, 1 */
	struct charge fd_charge;        /* CHARGE_FDS: the frame's descriptors */
	struct charge memfd_charge;     /* CHARGE_MEMFD: its out-of-line body */
};

/* The calls held for one name, oldest first. */
struct held_queue {
	struct held_queue *prev, *next; /* table->all */
	struct held *head, *tail;
	size_t n;
	uint64_t bytes;
	/* When a call was held while the service was running without the
	 * name (its instance dying, or one that let the name go); 0: not so. */
	uint64_t unowned_usec;
	size_t len;
	char name[];
};

struct hold_table {
	struct broker *b;
	hash *by_name;                  /* name -> struct held_queue */
	struct held_queue *all;
	size_t n;                       /* calls held, over every name */
	uint64_t bytes;
	struct dispatch_source timer;   /* armed while a queue has unowned_usec */
};

static void on_unowned(struct dispatch_source *src, short what);

struct hold_table *hold_table_new(struct broker *b)
{
	struct hold_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->b = b;
	if (!(t->by_name = hash_new()) ||
	    dispatch_source_init(&t->timer, &b->dispatch, -1, 0, on_unowned) < 0) {
		hash_free(t->by_name, NULL);
		free(t);
		return NULL;
	}
	return t;
}

void hold_table_free(struct hold_table *t)
{
	if (!t)
		return;
	dispatch_source_free(&t->timer);
	while (t->all) {
		struct held_queue *q = t->all;
		t->all = q->next;
		free(q); /* empty: every caller's calls were dropped */
	}
	hash_free(t->by_name, NULL);
	free(t);
}

size_t hold_count(const struct hold_table *t)
{
	return t ? t->n : 0;
}

uint64_t hold_bytes(const struct hold_table *t)
{
	return t ? t->bytes : 0;
}

static struct held_queue *queue_get(struct hold_table *t, const char *name, size_t len)
{
	struct held_queue *q = hash_get(t->by_name, name, len);
	if (q)
		return q;
	if (!(q = calloc(1, sizeof(*q) + len + 1)))
		return NULL;
	memcpy(q->name, name, len);
	q->len = len;
	if (hash_put(t->by_name, q->name, len, q) < 0) {
		free(q);
		return NULL;
	}
	q->next = t->all;
	if (q->next)
		q->next->prev = q;
	t->all = q;
	return q;
}

static void queue_free_if_empty(struct hold_table *t, struct held_queue *q)
{
	if (q->head)
		return;
	hash_remove(t->by_name, q->name, q->len);
	if (q->prev)
		q->prev->next = q->next;
	else
		t->all = q->next;
	if (q->next)
		q->next->prev = q->prev;
	free(q);
}

/* Take h off its queue and its caller's list, release what it holds. The
 * frame is handed to the caller of this (returned), not released. */
static struct frame *held_unlink(struct hold_table *t, struct held *h)
{
	struct held_queue *q = h->q;

	if (h->q_prev)
		h->q_prev->q_next = h->q_next;
	else
		q->head = h->q_next;
	if (h->q_next)
		h->q_next->q_prev = h->q_prev;
	else
		q->tail = h->q_prev;
	q->n--;
	q->bytes -= h->cost;
	t->n--;
	t->bytes -= h->cost;
	if (h->c_prev)
		h->c_prev->c_next = h->c_next;
	else
		h->caller->calls_held = h->c_next;
	if (h->c_next)
		h->c_next->c_prev = h->c_prev;
	charge_release(&h->charge);
	charge_release(&h->fd_charge);
	charge_release(&h->memfd_charge);
	struct frame *f = h->f;
	free(h);
	return f;
}

/* Hold f from caller p in q. Returns 0, or answers p itself and returns 1. */
static int held_add(struct broker *b, struct held_queue *q, struct peer *p, struct frame *f,
		    unsigned resends, int answer)
{
	struct hold_table *t = b->holds;
	uint64_t serial = f->h.serial;
	size_t cost = frame_cost(f);

	if (q->n >= b->max_held_calls) {
		if (answer)
			router_send_error(p, serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "%zu calls are already held for '%s' until its service "
					  "starts, the most limits.max_held_calls_per_name allows",
					  q->n, q->name);
		return 1;
	}
	if (cost > b->max_held_bytes || q->bytes > b->max_held_bytes - cost) {
		if (answer)
			router_send_error(p, serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "the calls held for '%s' until its service starts take "
					  "%llu bytes; this one (%zu) would pass "
					  "limits.max_held_bytes_per_name (%llu)",
					  q->name, (unsigned long long)q->bytes, cost,
					  (unsigned long long)b->max_held_bytes);
		return 1;
	}
	struct held *h = calloc(1, sizeof(*h));
	if (!h) {
		if (answer)
			router_send_error(p, serial, BUS_ERROR_FAILED, "out of memory");
		return 1;
	}
	int r = charge_take(&h->charge, &p->acct, p->user, CHARGE_CALLS, 1);
	if (r) {
		free(h);
		if (answer)
			router_calls_refused(p, serial, r);
		return 1;
	}
	/* Its descriptors stay open in busd while it is held: the caller's. */
	/* Its descriptors and out-of-line body stay in busd while it is
	 * held: the caller's. */
	enum charge_kind kind = CHARGE_FDS;
	r = f->n_fds ? charge_take(&h->fd_charge, &p->acct, p->user, CHARGE_FDS, f->n_fds) : 0;
	if (!r && f->h.memfd_body_size) {
		kind = CHARGE_MEMFD;
		r = charge_take(&h->memfd_charge, &p->acct, p->user, CHARGE_MEMFD,
				f->h.memfd_body_size);
	}
	if (r) {
		charge_release(&h->charge);
		charge_release(&h->fd_charge);
		free(h);
		if (answer)
			router_send_error(p, serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "the call would pass limits.%s while it is held for '%s'",
					  charge_limit_name(kind, r == CHARGE_E_USER), q->name);
		return 1;
	}
	h->q = q;
	h->caller = p;
	h->f = frame_ref(f);
	h->serial = serial;
	h->resends = resends;
	h->cost = cost;
	h->q_prev = q->tail;
	if (q->tail)
		q->tail->q_next = h;
	else
		q->head = h;
	q->tail = h;
	q->n++;
	q->bytes += cost;
	t->n++;
	t->bytes += cost;
	h->c_next = p->calls_held;
	if (h->c_next)
		h->c_next->c_prev = h;
	p->calls_held = h;
	return 0;
}

/* A call was held in q while q's service is running without the name:
 * its instance is dying (busd has not seen its process end yet) or let
 * the name go. The first is over within moments (the service changes
 * state); the second is not waited for longer than HOLD_UNOWNED_USEC. */
static void mark_unowned(struct hold_table *t, struct held_queue *q, enum service_state state)
{
	if (state != SERVICE_RUNNING || q->unowned_usec)
		return;
	q->unowned_usec = dispatch_now_usec();
	if (!dispatch_source_pending(&t->timer))
		dispatch_source_add_usec(&t->timer, HOLD_UNOWNED_USEC);
}

/* How svc's last instance ended, for a message: "; its last instance
 * exited with status 1", or "". */
static const char *last_end(const struct service_status *st, char *buf, size_t len)
{
	if (st->last_signal)
		snprintf(buf, len, "; its last instance was killed by signal %d", st->last_signal);
	else if (st->last_status >= 0 && st->pid == 0)
		snprintf(buf, len, "; its last instance exited with status %d", st->last_status);
	else
		buf[0] = '\0';
	return buf;
}

int hold_call(struct peer *p, struct frame *f)
{
	struct broker *b = p->broker;
	const wire_header *hd = &f->h;
	int answer = !(hd->flags & WIRE_FLAG_NO_REPLY_EXPECTED);
	char why[256], end[80];

	if (!b->supervisor || !b->holds)
		return 0;
	struct service *svc = supervisor_lookup(b->supervisor, hd->destination.ptr,
						hd->destination.len);
	if (!svc)
		return 0;
	struct service_status st;
	/* Nobody may make busd start a service, or hold a call, for a name it
	 * may not call; the rules on the owner's other names are checked when
	 * the call is delivered. */
	if (policy_may_deny(b->policy, POL_CALL) &&
	    !router_permit(p, POL_CALL, hd->destination.ptr, hd->destination.len, hd->member.ptr,
			   hd->member.len, hd->serial, answer))
		return 1;
	if (service_demand(svc, why, sizeof(why)) < 0) {
		service_status(svc, &st);
		if (answer)
			router_send_error(p, hd->serial, BUS_ERROR_SERVICE_START_FAILED,
					  "the service %s, which provides '%.*s', cannot be started: "
					  "%s%s", st.id, (int)hd->destination.len, hd->destination.ptr,
					  why, last_end(&st, end, sizeof(end)));
		return 1;
	}
	struct held_queue *q = queue_get(b->holds, hd->destination.ptr, hd->destination.len);
	if (!q) {
		if (answer)
			router_send_error(p, hd->serial, BUS_ERROR_FAILED, "out of memory");
		return 1;
	}
	if (held_add(b, q, p, f, 0, answer)) {
		queue_free_if_empty(b->holds, q);
		return 1;
	}
	service_status(svc, &st); /* as the demand left it */
	mark_unowned(b->holds, q, st.state);
	return 1;
}

int hold_resend(struct peer *caller, struct frame *f, unsigned resends)
{
	struct broker *b = caller->broker;
	const wire_header *hd = &f->h;

	if (!b->holds || caller->state != PEER_ACTIVE)
		return -ENOENT;
	struct service *svc = b->supervisor ? supervisor_lookup(b->supervisor, hd->destination.ptr,
								hd->destination.len)
					    : NULL;
	if (!svc)
		return -ENOENT;
	struct held_queue *q = queue_get(b->holds, hd->destination.ptr, hd->destination.len);
	if (!q)
		return -ENOMEM;
	if (held_add(b, q, caller, f, resends, 0)) {
		queue_free_if_empty(b->holds, q);
		return -ENOSPC;
	}
	struct service_status st;
	service_status(svc, &st);
	mark_unowned(b->holds, q, st.state);
	return 0;
}

void hold_name_owned(struct broker *b, const char *name, struct peer *owner)
{
	struct hold_table *t = b->holds;
	size_t len = strlen(name);

	/* Calls to a peer that owns a service's name may be kept for a re-send
	 * (router.c): only such peers are looked up when called. */
	if (b->supervisor && supervisor_lookup(b->supervisor, name, len))
		owner->instance = 1;
	struct held_queue *q = t ? hash_get(t->by_name, name, len) : NULL;
	if (!q)
		return;
	/* Delivery never holds a call again (the name has its owner now) and
	 * nobody is disconnected before routing ends (broker_doom()), so the
	 * queue only shrinks while it is walked. */
	log_debug("name %s: delivering %zu held calls to " PEER_FMT, name, q->n, PEER_ARGS(owner));
	while (q->head) {
		struct held *h = q->head;
		struct peer *caller = h->caller;
		unsigned resends = h->resends;
		struct frame *f = held_unlink(t, h);
		router_deliver(caller, f, resends);
		frame_unref(f);
	}
	queue_free_if_empty(t, q);
}

/* Answer (when it wants one) and forget every call held in q. */
static void queue_fail(struct hold_table *t, struct held_queue *q, const char *error,
		       const char *msg)
{
	while (q->head) {
		struct held *h = q->head;
		struct peer *caller = h->caller;
		uint64_t serial = h->serial;
		int answer = !(h->f->h.flags & WIRE_FLAG_NO_REPLY_EXPECTED);
		frame_unref(held_unlink(t, h));
		if (answer)
			router_send_error(caller, serial, error, "%s", msg);
	}
	queue_free_if_empty(t, q);
}

void hold_service_changed(struct broker *b, struct service *svc)
{
	struct hold_table *t = b->holds;
	struct service_status st;
	char msg[384], end[80];

	if (!t || !t->n)
		return;
	service_status(svc, &st);
	const char *reason = st.last_reason && *st.last_reason ? st.last_reason : "";
	if (strncmp(reason, "failed: ", 8) == 0)
		reason += 8; /* "has failed: failed: ..." */
	for (size_t i = 0; i < st.n_names; i++) {
		struct held_queue *q = hash_get(t->by_name, st.names[i], strlen(st.names[i]));
		if (!q)
			continue;
		if (st.state != SERVICE_RUNNING)
			q->unowned_usec = 0; /* the instance's end was seen */
		if (st.state == SERVICE_FAILED)
			snprintf(msg, sizeof(msg), "the service %s, which provides '%s', has "
				 "failed%s%s%s", st.id, q->name, *reason ? ": " : "", reason,
				 last_end(&st, end, sizeof(end)));
		else if (st.state == SERVICE_STOPPED ||
			 (st.state == SERVICE_STOPPING && !service_will_return(svc)))
			snprintf(msg, sizeof(msg), "the service %s, which provides '%s', %s%s%s",
				 st.id, q->name, st.state == SERVICE_STOPPED ? "was stopped"
									     : "is being stopped",
				 *reason ? ": " : "", reason);
		else if (st.old_state == SERVICE_STARTING && st.state == SERVICE_BACKOFF)
			snprintf(msg, sizeof(msg), "the service %s, which provides '%s', did not "
				 "start%s%s", st.id, q->name, *reason ? ": " : "", reason);
		else
			continue;
		queue_fail(t, q, BUS_ERROR_SERVICE_START_FAILED, msg);
	}
}

static void on_unowned(struct dispatch_source *src, short what)
{
	struct hold_table *t = (struct hold_table *)(void *)((char *)src -
							      offsetof(struct hold_table, timer));
	struct broker *b = t->b;
	uint64_t now = dispatch_now_usec(), next = 0;
	char msg[384];

	(void)what;
	for (struct held_queue *q = t->all, *nq; q; q = nq) {
		nq = q->next;
		if (!q->unowned_usec)
			continue;
		if (now - q->unowned_usec < HOLD_UNOWNED_USEC) {
			uint64_t left = HOLD_UNOWNED_USEC - (now - q->unowned_usec);
			next = next && next < left ? next : left;
			continue;
		}
		struct service *svc = b->supervisor ? supervisor_lookup(b->supervisor, q->name,
									 q->len)
						    : NULL;
		struct service_status st;
		if (svc)
			service_status(svc, &st);
		if (svc && st.state != SERVICE_RUNNING) {
			q->unowned_usec = 0;
			continue;
		}
		snprintf(msg, sizeof(msg), "no peer owns the name '%s': %s%s%s", q->name,
			 svc ? "the instance of the service " : "no service declares it any more",
			 svc ? st.id : "", svc ? " runs without it" : "");
		queue_fail(t, q, BUS_ERROR_NAME_HAS_NO_OWNER, msg);
	}
	if (next)
		dispatch_source_add_usec(&t->timer, next);
}

void hold_caller_gone(struct peer *p)
{
	struct hold_table *t = p->broker->holds;

	while (p->calls_held) {
		struct held_queue *q = p->calls_held->q;
		frame_unref(held_unlink(t, p->calls_held));
		queue_free_if_empty(t, q);
	}
}

void hold_fail_all(struct broker *b, const char *why)
{
	struct hold_table *t = b->holds;

	while (t && t->all)
		queue_fail(t, t->all, BUS_ERROR_NO_REPLY, why);
}
