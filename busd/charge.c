/* charge.c - accounts per peer and per user, the ledger of users, and the
 * charges that tie what a peer holds to both. See charge.h. */
#include "config.h"

#include "charge.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const limit_names[CHARGE_N_KINDS][2] = {
	[CHARGE_CONNECTIONS] = { "max_connections_per_uid", "max_connections_per_uid" },
	[CHARGE_QUEUED] = { "max_queued_bytes", "max_queued_bytes_per_uid" },
	[CHARGE_INPUT] = { "max_frame_size", "max_input_bytes_per_uid" },
	[CHARGE_CALLS] = { "max_pending_calls", "max_pending_calls_per_uid" },
	[CHARGE_NAMES] = { "max_names_per_peer", "max_names_per_uid" },
	[CHARGE_SUBSCRIPTIONS] = { "max_subscriptions_per_peer", "max_subscriptions_per_uid" },
	[CHARGE_SCHEMA] = { "max_schema_bytes", "max_schema_bytes_per_uid" },
	[CHARGE_EXPORTS] = { "max_exports_per_peer", "max_exports_per_uid" },
	[CHARGE_FDS] = { "max_queued_fds", "max_queued_fds_per_uid" },
	[CHARGE_MEMFD] = { "max_queued_memfd_bytes", "max_queued_memfd_bytes_per_uid" },
};

const char *charge_limit_name(enum charge_kind kind, int user)
{
	return kind < CHARGE_N_KINDS ? limit_names[kind][user != 0] : "?";
}

int charge_ledger_init(struct charge_ledger *l)
{
	memset(l, 0, sizeof(*l));
	l->users = hash_new();
	return l->users ? 0 : -ENOMEM;
}

void charge_ledger_fini(struct charge_ledger *l)
{
	hash_free(l->users, free);
	l->users = NULL;
}

struct charge_user *charge_user_get(struct charge_ledger *l, uid_t uid)
{
	struct charge_user *u = hash_get(l->users, &uid, sizeof(uid));

	if (!u) {
		if (!(u = calloc(1, sizeof(*u))))
			return NULL;
		u->uid = uid;
		u->ledger = l;
		snprintf(u->log.subject, sizeof(u->log.subject), "uid %d", (int)uid);
		if (hash_put(l->users, &u->uid, sizeof(u->uid), u) < 0) {
			free(u);
			return NULL;
		}
	}
	u->refs++;
	return u;
}

void charge_user_put(struct charge_user *u)
{
	if (!u || --u->refs > 0)
		return;
	hash_remove(u->ledger->users, &u->uid, sizeof(u->uid));
	free(u);
}

const struct charge_limits *charge_limits_of(const struct charge_user *u)
{
	return &u->ledger->limits;
}

static int over(uint64_t used, uint64_t amount, uint64_t limit)
{
	return limit && (amount > limit || used > limit - amount);
}

int charge_take(struct charge *c, struct account *peer, struct charge_user *u,
		enum charge_kind kind, uint64_t amount)
{
	const struct charge_limits *l = &u->ledger->limits;

	if (over(peer->used[kind], amount, l->peer[kind]))
		return CHARGE_E_PEER;
	if (over(u->acct.used[kind], amount, l->user[kind]))
		return CHARGE_E_USER;
	charge_force(c, peer, u, kind, amount);
	return 0;
}

void charge_force(struct charge *c, struct account *peer, struct charge_user *u,
		  enum charge_kind kind, uint64_t amount)
{
	c->peer = peer;
	c->user = u;
	c->kind = kind;
	c->amount = 0;
	charge_grow(c, amount);
}

void charge_grow(struct charge *c, uint64_t more)
{
	c->amount += more;
	c->peer->used[c->kind] += more;
	c->user->acct.used[c->kind] += more;
	c->user->ledger->total.used[c->kind] += more;
}

static void wake_input(struct charge_user *u)
{
	while (u->input_waiters) {
		struct charge_waiter *w = u->input_waiters;
		charge_wait_cancel(u, w);
		w->wake(w);
	}
}

void charge_shrink(struct charge *c, uint64_t less)
{
	if (!c->peer || !less)
		return;
	c->amount -= less;
	c->peer->used[c->kind] -= less;
	c->user->acct.used[c->kind] -= less;
	c->user->ledger->total.used[c->kind] -= less;
	if (c->kind == CHARGE_INPUT && c->user->input_waiters)
		wake_input(c->user);
}

void charge_release(struct charge *c)
{
	if (!c->peer)
		return;
	charge_shrink(c, c->amount);
	c->peer = NULL;
	c->user = NULL;
}

int charge_would_pass(const struct charge *c, uint64_t more)
{
	const struct charge_limits *l = &c->user->ledger->limits;

	if (over(c->peer->used[c->kind], more, l->peer[c->kind]))
		return CHARGE_E_PEER;
	if (over(c->user->acct.used[c->kind], more, l->user[c->kind]))
		return CHARGE_E_USER;
	return 0;
}

int charge_full(const struct account *peer, const struct charge_user *u, enum charge_kind kind)
{
	const struct charge_limits *l = &u->ledger->limits;

	return (l->peer[kind] && peer->used[kind] >= l->peer[kind]) ||
	       (l->user[kind] && u->acct.used[kind] >= l->user[kind]);
}

void charge_wait_input(struct charge_user *u, struct charge_waiter *w)
{
	if (w->waiting)
		return;
	w->waiting = 1;
	w->prev = NULL;
	w->next = u->input_waiters;
	if (w->next)
		w->next->prev = w;
	u->input_waiters = w;
}

void charge_wait_cancel(struct charge_user *u, struct charge_waiter *w)
{
	if (!w->waiting)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		u->input_waiters = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
	w->waiting = 0;
}
