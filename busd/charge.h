/* charge.h - what each peer makes busd hold, and the limits on it.
 *
 * Every resource a peer can make busd hold carries one charge, taken when
 * the resource is created and released with it: the connection itself, the
 * bytes queued toward it, the bytes of frames it has not finished sending,
 * each call of its waiting for an answer, each name, subscription, schema
 * share and export. A charge counts against two accounts at once, the
 * peer's own and its user's (every connection of one uid), and each account
 * has a limit per kind (limits.* in busd.conf; 0 means no limit). The
 * ledger also keeps the totals over all users, for Stats.
 *
 * charge_take() refuses what would pass a limit; charge_force() is for what
 * busd must hold whatever the limits, once the caller has decided by its own
 * rules (quota.c's back-pressure decides what may be queued). A charge is a
 * small value embedded in its resource: moving the resource moves the
 * charge (plain assignment), freeing it releases the charge. */
#ifndef BUSD_CHARGE_H
#define BUSD_CHARGE_H

#include <stdint.h>
#include <sys/types.h>

#include "hash.h"
#include "log.h"

enum charge_kind {
	CHARGE_CONNECTIONS,   /* open connections (a user's count) */
	CHARGE_QUEUED,        /* bytes waiting in busd toward the peer */
	CHARGE_INPUT,         /* bytes of frames the peer has not finished */
	CHARGE_CALLS,         /* its calls waiting for an answer */
	CHARGE_NAMES,         /* well-known names it owns */
	CHARGE_SUBSCRIPTIONS, /* topic patterns it subscribed to */
	CHARGE_SCHEMA,        /* schema bytes it uploaded */
	CHARGE_EXPORTS,       /* (name, service) pairs it announced */
	CHARGE_FDS,           /* passed descriptors held in busd: in its input */
	                      /* (sender), in frames queued toward it, in its */
	                      /* calls held or kept to re-send (caller) */
	CHARGE_MEMFD,         /* bytes of out-of-line bodies (sealed memfds) */
	                      /* in frames queued toward it */
	CHARGE_N_KINDS
};

/* Documented outcomes of charge_take(). */
enum {
	CHARGE_E_PEER = 1, /* the peer's own limit would be passed */
	CHARGE_E_USER,     /* its user's limit would be passed */
};

struct account {
	uint64_t used[CHARGE_N_KINDS];
};

struct charge_limits {
	uint64_t peer[CHARGE_N_KINDS]; /* 0: no limit */
	uint64_t user[CHARGE_N_KINDS];
};

/* Something waiting for a user's charges of one kind to go down. */
struct charge_waiter {
	struct charge_waiter *prev, *next;
	void (*wake)(struct charge_waiter *w);
	int waiting;
};

struct charge_ledger;

/* All connections of one uid. */
struct charge_user {
	uid_t uid;
	unsigned refs;                 /* peers pointing here */
	struct account acct;
	struct charge_ledger *ledger;
	struct charge_waiter *input_waiters; /* woken when CHARGE_INPUT goes down */
	struct log_limit log;          /* log lines about its peers */
};

struct charge_ledger {
	hash *users;                   /* uid -> struct charge_user */
	struct account total;          /* over every user */
	struct charge_limits limits;
};

struct charge {
	struct account *peer;          /* NULL: nothing charged */
	struct charge_user *user;
	enum charge_kind kind;
	uint64_t amount;
};

int charge_ledger_init(struct charge_ledger *l);
/* Every user must be gone (each peer put its user back). */
void charge_ledger_fini(struct charge_ledger *l);

/* The user record of uid, created on first use (NULL: out of memory), and
 * giving it back (freed with its last peer; its accounts are then zero). */
struct charge_user *charge_user_get(struct charge_ledger *l, uid_t uid);
void charge_user_put(struct charge_user *u);

/* Charge amount of kind to (peer, user) if neither limit would be passed;
 * c must be empty (zeroed or released). Returns 0, CHARGE_E_PEER or
 * CHARGE_E_USER (nothing charged). */
int charge_take(struct charge *c, struct account *peer, struct charge_user *u,
		enum charge_kind kind, uint64_t amount);
/* The same whatever the limits. */
void charge_force(struct charge *c, struct account *peer, struct charge_user *u,
		  enum charge_kind kind, uint64_t amount);
/* Grow or shrink an existing charge (grow: whatever the limits). */
void charge_grow(struct charge *c, uint64_t more);
void charge_shrink(struct charge *c, uint64_t less);
/* Give everything back; c is empty afterwards. Harmless on an empty one. */
void charge_release(struct charge *c);

/* Whether the peer's or its user's account of kind is at or above its
 * limit (what may be taken next without passing it is nothing). */
int charge_full(const struct account *peer, const struct charge_user *u, enum charge_kind kind);
/* Whether growing c by more would pass the peer's or its user's limit:
 * 0, CHARGE_E_PEER or CHARGE_E_USER (nothing is charged). */
int charge_would_pass(const struct charge *c, uint64_t more);
/* The limits that apply, and the name of a kind's options for messages
 * ("max_queued_bytes", ...; user: the _per_uid one). */
const struct charge_limits *charge_limits_of(const struct charge_user *u);
const char *charge_limit_name(enum charge_kind kind, int user);

/* Wait for u's CHARGE_INPUT to go down: w->wake runs once (from whatever
 * shrinks it) and w is then off the list. */
void charge_wait_input(struct charge_user *u, struct charge_waiter *w);
void charge_wait_cancel(struct charge_user *u, struct charge_waiter *w);

#endif
