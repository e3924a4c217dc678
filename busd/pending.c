/* pending.c - the table of calls in flight (struct pending, router.h): keyed
 * by caller and serial, each record also linked on its callee's calls_in and
 * its caller's calls_out, and charged to its caller. Used by router.c as it
 * routes calls and answers and as peers go. */
#include "config.h"

#include "router-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "frame.h"
#include "hash.h"

/* Keyed (hash.h): the caller picks its serials. */
static size_t pending_slot(const struct pending_table *t, uint64_t caller, uint64_t serial)
{
	const uint64_t key[2] = { caller, serial };
	return (size_t)hash_bytes(key, sizeof(key)) & (t->n_buckets - 1);
}

static int pending_grow(struct pending_table *t)
{
	size_t n = t->n_buckets ? t->n_buckets * 2 : 64;
	struct pending **nb = calloc(n, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	struct pending_table nt = { nb, n, t->count, t->spare };
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct pending *e = t->buckets[i];
		while (e) {
			struct pending *next = e->hnext;
			size_t s = pending_slot(&nt, e->caller_id, e->serial);
			e->hnext = nb[s];
			nb[s] = e;
			e = next;
		}
	}
	free(t->buckets);
	*t = nt;
	return 0;
}

/* Record that callee owes caller an answer to serial, charged to the
 * caller. Returns 0, a charge outcome (CHARGE_E_PEER, CHARGE_E_USER) or
 * -ENOMEM; nothing is recorded unless 0. */
int pending_add(struct broker *b, struct peer *caller, struct peer *callee, uint64_t serial,
		struct frame *resend, unsigned resends)
{
	struct pending_table *t = &b->pending;
	struct charge charge = { 0 };
	int r = charge_take(&charge, &caller->acct, caller->user, CHARGE_CALLS, 1);

	if (r)
		return r;
	if (t->count >= t->n_buckets && pending_grow(t) < 0 && t->n_buckets == 0) {
		charge_release(&charge);
		return -ENOMEM;
	}
	struct pending *e = t->spare;
	if (e)
		t->spare = e->hnext;
	else if (!(e = malloc(sizeof(*e)))) {
		charge_release(&charge);
		return -ENOMEM;
	}
	memset(e, 0, sizeof(*e));
	e->caller_id = caller->id;
	e->serial = serial;
	e->caller = caller;
	e->callee = callee;
	e->charge = charge;
	e->frame = NULL;
	e->resends = resends;
	/* A kept frame keeps its descriptors open in busd: charged to the
	 * caller like the ones it has in flight, or the call is not kept (it
	 * fails with NoReply should its callee die). */
	if (resend && resend->n_fds &&
	    charge_take(&e->fd_charge, &caller->acct, caller->user, CHARGE_FDS, resend->n_fds))
		resend = NULL;
	if (resend && resend->h.memfd_body_size &&
	    charge_take(&e->memfd_charge, &caller->acct, caller->user, CHARGE_MEMFD,
			resend->h.memfd_body_size)) {
		charge_release(&e->fd_charge);
		resend = NULL;
	}
	if (resend) {
		e->frame = frame_ref(resend);
		e->kept = frame_cost(resend);
		callee->kept_bytes += e->kept;
	}
	size_t s = pending_slot(t, caller->id, serial);
	e->hnext = t->buckets[s];
	t->buckets[s] = e;
	t->count++;
	e->in_next = callee->calls_in;
	if (e->in_next)
		e->in_next->in_prev = e;
	callee->calls_in = e;
	e->out_next = caller->calls_out;
	if (e->out_next)
		e->out_next->out_prev = e;
	caller->calls_out = e;
	return 0;
}

struct pending *pending_find(const struct pending_table *t, uint64_t caller, uint64_t serial)
{
	if (!t->n_buckets)
		return NULL;
	for (struct pending *e = t->buckets[pending_slot(t, caller, serial)]; e; e = e->hnext)
		if (e->caller_id == caller && e->serial == serial)
			return e;
	return NULL;
}

void pending_remove(struct broker *b, struct pending *e)
{
	struct pending_table *t = &b->pending;
	struct pending **pp = &t->buckets[pending_slot(t, e->caller_id, e->serial)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	t->count--;
	if (e->in_prev)
		e->in_prev->in_next = e->in_next;
	else
		e->callee->calls_in = e->in_next;
	if (e->in_next)
		e->in_next->in_prev = e->in_prev;
	if (e->out_prev)
		e->out_prev->out_next = e->out_next;
	else
		e->caller->calls_out = e->out_next;
	if (e->out_next)
		e->out_next->out_prev = e->out_prev;
	charge_release(&e->charge);
	charge_release(&e->fd_charge);
	charge_release(&e->memfd_charge);
	if (e->frame) {
		e->callee->kept_bytes -= e->kept;
		frame_unref(e->frame);
	}
	e->hnext = t->spare;
	t->spare = e;
}

void router_trim(struct broker *b)
{
	struct pending_table *t = &b->pending;
	while (t->spare) {
		struct pending *next = t->spare->hnext;
		free(t->spare);
		t->spare = next;
	}
}

void pending_table_free(struct pending_table *t)
{
	for (size_t i = 0; i < t->n_buckets; i++) {
		struct pending *e = t->buckets[i];
		while (e) {
			struct pending *next = e->hnext;
			free(e);
			e = next;
		}
	}
	while (t->spare) {
		struct pending *next = t->spare->hnext;
		free(t->spare);
		t->spare = next;
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}
