/* hold.h - calls held for the well-known names of declared services
 * (supervise.h) while the service is down or starting: a call to such a
 * name that nobody owns starts the service when it is stopped (activation)
 * and waits, in a FIFO per name, until the service owns the name; then the
 * held calls go through the normal routing path (policy, quota, pending
 * record) in arrival order, once each. When no instance will come (the
 * service failed, was stopped, or its start failed) they are answered with
 * bus.Error.ServiceStartFailed and the reason.
 *
 * A call in flight to a service's instance that dies goes back to the FIFO
 * of the name it was addressed to, when the method is marked safe to repeat
 * (schema.h) and another instance is coming, at most limits.max_call_resends
 * times: at-least-once delivery for those methods, at-most-once for others.
 *
 * What a held call makes busd hold is bounded and charged: its frame counts
 * against limits.max_held_calls_per_name and max_held_bytes_per_name of the
 * name, and the call is one of its caller's calls waiting for an answer
 * (CHARGE_CALLS, limits.max_pending_calls and its _per_uid form): it turns
 * into the pending record when delivered, so it is never counted twice.
 *
 * Every hold ends: with the name owned, with the service's start failed or
 * the service failed or stopped (ServiceStartFailed), with its caller
 * gone, with busd stopping (NoReply), or, for a service whose instance
 * runs without the name (it let it go), after 10 s (NameHasNoOwner). */
#ifndef BUSD_HOLD_H
#define BUSD_HOLD_H

#include <stddef.h>
#include <stdint.h>

struct broker;
struct frame;
struct peer;
struct service;
struct hold_table;

struct hold_table *hold_table_new(struct broker *b);
/* Free the table; every caller's held calls must be dropped already
 * (hold_caller_gone()). */
void hold_table_free(struct hold_table *t);

/* route_call found no owner for the well-known name f is addressed to,
 * from caller p: when a declared service has the name, start it if needed
 * and hold the call, or answer it (ServiceStartFailed, LimitsExceeded,
 * AccessDenied), and return 1. 0: no service declares the name (the caller
 * answers as for any name without an owner). */
int hold_call(struct peer *p, struct frame *f);

/* A call that was in flight to an instance that died, already re-sent
 * resends times (counting this one), back to its name's FIFO; its frame
 * was stamped already. Returns 0 when held (a reference to f is taken), or
 * a negative errno / a limit's refusal: the caller then answers NoReply. */
int hold_resend(struct peer *caller, struct frame *f, unsigned resends);

/* owner now owns name: deliver the calls held for it, in arrival order. */
void hold_name_owned(struct broker *b, const char *name, struct peer *owner);
/* svc changed state: when no instance is coming any more (failed,
 * stopped, being stopped for good) or a start attempt failed (STARTING ->
 * BACKOFF: it died or did not own its names within start_timeout), answer
 * the calls held for its names with bus.Error.ServiceStartFailed and the
 * reason. */
void hold_service_changed(struct broker *b, struct service *svc);
/* p is going away: forget the calls it has held (no answer, charges and
 * frame references released). */
void hold_caller_gone(struct peer *p);
/* Answer every held call with bus.Error.NoReply and why (busd shuts down). */
void hold_fail_all(struct broker *b, const char *why);

/* For Stats: calls held and the bytes of their frames. */
size_t hold_count(const struct hold_table *t);
uint64_t hold_bytes(const struct hold_table *t);

#endif
