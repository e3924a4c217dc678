/* router.h - what happens to one complete frame: validation, Hello, CALL
 * routing with pending-call tracking, REPLY/ERROR matching, EVENT fan-out,
 * monitor copies; and the frames busd itself originates (errors, replies of
 * the control service, bus.NameOwnerChanged, the watchdog's pings).
 *
 * A frame is queued by reference to every destination. What busd owes a
 * peer (the answer to a call it made) is never lost silently: when busd
 * cannot queue it (out of memory), the peer is disconnected, which libbus
 * reports as the end of every call it had waiting. */
#ifndef BUSD_ROUTER_H
#define BUSD_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "charge.h"
#include "wire.h"

struct broker;
struct peer;
struct frame;
struct ProtobufCMessage;

/* A call in flight: the callee owes the caller an answer. Records are
 * recycled through a free list, so routing a call allocates nothing in
 * steady state. Each is charged to its caller (CHARGE_CALLS). */
struct pending {
	uint64_t caller_id, serial;
	struct peer *caller, *callee;
	struct frame *frame;   /* the call, kept to re-send it (hold.h), or NULL */
	size_t kept;           /* its cost, counted in callee->kept_bytes */
	unsigned resends;      /* times it was re-sent after a crash */
	struct pending *hnext;
	struct pending *in_prev, *in_next;   /* callee->calls_in */
	struct pending *out_prev, *out_next; /* caller->calls_out */
	struct charge charge;
	struct charge fd_charge; /* CHARGE_FDS to the caller: the kept frame's descriptors */
	struct charge memfd_charge; /* CHARGE_MEMFD to the caller: its out-of-line body */
};

struct pending_table {
	struct pending **buckets;
	size_t n_buckets, count;
	struct pending *spare;
};

void pending_table_free(struct pending_table *t);

/* The peer a unique id (":N") or a well-known name stands for, or NULL. */
struct peer *router_resolve(struct broker *b, const char *name, size_t len);
/* Handle the complete frame f from p; takes over f's reference. */
void router_frame(struct peer *p, struct frame *f);
/* Route the call f from caller again, as if it had just arrived (it was
 * held, hold.h): policy, quota, pending record; resends: times it was
 * re-sent after a crash. f's reference stays the caller's of this. */
void router_deliver(struct peer *caller, struct frame *f, unsigned resends);
/* Protocol violation by p: send it error name/message (reply_serial when
 * known), then disconnect it. */
void router_reject(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Frames from "bus" to p: an ERROR answering serial, a REPLY carrying msg. */
void router_send_error(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void router_send_reply(struct peer *p, uint64_t reply_serial, const struct ProtobufCMessage *msg);
/* A CALL from "bus" to p, addressed to dest (a name p owns; NULL: its
 * unique id), of interface.member with msg as its body (busd's watchdog
 * pings). Returns its serial, or 0 when it could not be queued. Its answer,
 * a REPLY or ERROR whose destination is "bus", goes to watchdog_answer(). */
uint64_t router_call_from_bus(struct peer *p, const char *dest, const char *interface,
			      const char *member, const struct ProtobufCMessage *msg);
/* Whether the policy lets p do verb (policy.h) on object (method for
 * calls). When not: count it, log it naming p and the rule, and when answer
 * is set send p bus.Error.AccessDenied answering serial; returns 0. */
int router_permit(struct peer *p, int verb, const char *object, size_t len, const char *method,
		  size_t mlen, uint64_t serial, int answer);
/* p's call serial was refused because of its calls waiting for an answer
 * (r: CHARGE_E_PEER or CHARGE_E_USER): bus.Error.LimitsExceeded naming
 * the limit. */
void router_calls_refused(struct peer *p, uint64_t serial, int r);
/* An EVENT from "bus" to every subscriber of topic. */
void router_emit(struct broker *b, const char *topic, const struct ProtobufCMessage *msg);
/* p is going away: answer calls waiting on it with bus.Error.NoReply (or
 * hold them again for the next instance of its service, when safe to
 * repeat: hold.h) and forget the calls it made, held ones included. The
 * quiet form sends nothing (busd exits). */
void router_drop_calls(struct peer *p);
void router_drop_calls_quietly(struct broker *b, struct peer *p);
/* Free the recycled pending-call records (after a crowd has left). */
void router_trim(struct broker *b);
/* Answer every pending and held call with bus.Error.NoReply and the
 * message why. */
void router_fail_all(struct broker *b, const char *why);
/* The policy changed: monitors it no longer allows are disconnected, and
 * subscriptions it no longer allows are dropped. */
void router_policy_changed(struct broker *b);

#endif
