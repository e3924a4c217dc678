/* router-internal.h - what the files of the router share: router.c (the
 * routing of calls, answers and events), pending.c (the table of calls in
 * flight) and router-send.c (the frames busd originates). Not for the rest
 * of busd, which goes through router.h. */
#ifndef BUSD_ROUTER_INTERNAL_H
#define BUSD_ROUTER_INTERNAL_H

#include <stdint.h>

#include "router.h"

/* Record that callee owes caller an answer to serial (resend: the call,
 * kept for a re-send when set; resends: times it was re-sent already).
 * Returns 0, CHARGE_E_PEER, CHARGE_E_USER or -ENOMEM. */
int pending_add(struct broker *b, struct peer *caller, struct peer *callee, uint64_t serial,
		struct frame *resend, unsigned resends);
/* The call caller's serial that is waiting for an answer, or NULL. */
struct pending *pending_find(const struct pending_table *t, uint64_t caller, uint64_t serial);
/* Forget the call e: its record, its charges and its kept frame. */
void pending_remove(struct broker *b, struct pending *e);

/* A copy of f for every monitor that can take it. */
void router_copy_to_monitors(struct broker *b, struct frame *f);
/* An answer p is owed could not be queued: it is disconnected. */
void router_owed_lost(struct peer *p);

/* The event f to every subscriber of its topic, and to the monitors. */
void router_fanout(struct broker *b, struct frame *f);

#endif
