/* router.c - route one frame. The header was decoded in place by the codec
 * (frame.c, libbus/wire.c); the sender is stamped into the frame once, and
 * the frame is queued by reference to each destination and monitor. The
 * table of calls in flight is pending.c's; the frames busd originates
 * itself, router-send.c's. */
#include "config.h"

#include "router-internal.h"

#include <stdio.h>
#include <string.h>

#include "bus/errors.h"
#include "body.h"
#include "broker.h"
#include "control.h"
#include "frame.h"
#include "hold.h"
#include "log.h"
#include "policy.h"
#include "quota.h"
#include "schema.h"
#include "supervise.h"
#include "watchdog.h"

/* ---------------------------------------------------------------- policy */

static struct policy_subject subject_of(const struct peer *p)
{
	return (struct policy_subject){ p->conn.uid, p->conn.gid, p->conn.groups, p->conn.n_groups };
}

int router_permit(struct peer *p, int verb, const char *object, size_t len, const char *method,
		  size_t mlen, uint64_t serial, int answer)
{
	struct broker *b = p->broker;
	struct policy_subject who = subject_of(p);
	const struct policy_rule *rule;
	char what[320], because[448];

	if (policy_check(b->policy, (enum policy_verb)verb, &who, object, len, method, mlen, &rule))
		return 1;
	b->stats.access_denied++;
	if (verb == POL_MONITOR)
		snprintf(what, sizeof(what), "monitor");
	else
		snprintf(what, sizeof(what), "%s %.*s%s%.*s", policy_verb_name((enum policy_verb)verb),
			 (int)len, object, method ? " method " : "", method ? (int)mlen : 0,
			 method ? method : "");
	if (rule)
		snprintf(because, sizeof(because), "%s: %s", rule->origin, rule->text);
	else
		snprintf(because, sizeof(because), "no [policy] rule allows it; without one only "
			 "root and busd's own user may %s", verb == POL_OWN ? "own names" : "monitor");
	peer_log(p, LOG_NOTICE, "access denied: %s (%s)", what, because);
	if (answer)
		router_send_error(p, serial, BUS_ERROR_ACCESS_DENIED, "%s is not allowed (%s)", what,
				  because);
	return 0;
}

struct call_check {
	struct peer *caller;
	const wire_header *h;
	int denied;
};

static void check_owned_name(const char *name, void *owner, void *userdata)
{
	struct call_check *cc = userdata;
	(void)owner;
	if (!cc->denied)
		cc->denied = !router_permit(cc->caller, POL_CALL, name, strlen(name),
					    cc->h->member.ptr, cc->h->member.len, cc->h->serial,
					    !(cc->h->flags & WIRE_FLAG_NO_REPLY_EXPECTED));
}

/* A call is checked against the name it was addressed to and against every
 * name its destination owns, however it was addressed: the rules follow
 * the peer, so neither its unique id nor another of its names is a way
 * around a rule on one of them. */
static int permit_call(struct peer *p, struct peer *dst, const wire_header *h)
{
	struct call_check cc = { p, h, 0 };

	if (!router_permit(p, POL_CALL, h->destination.ptr, h->destination.len, h->member.ptr,
			   h->member.len, h->serial, !(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)))
		return 0;
	name_foreach_owned(p->broker->names, dst, check_owned_name, &cc);
	return !cc.denied;
}

/* ---------------------------------------------------------------- event fan-out */

static int fds_refused(struct broker *b, struct peer *dst, const struct frame *f, char *why,
		       size_t len);

struct fanout {
	struct broker *b;
	wire_str topic;
	int filter;             /* subscribe rules may deny: check each subscriber */
	uint64_t mark;
	struct frame *f;
};

static void fanout_one(void *owner, void *userdata)
{
	struct peer *p = owner;
	struct fanout *fo = userdata;
	if (p->event_mark == fo->mark || p->state != PEER_ACTIVE)
		return; /* several of its patterns matched: deliver once */
	p->event_mark = fo->mark;
	if (fo->filter) {
		/* a pattern like "*" was allowed; a topic under it may not be */
		struct policy_subject who = subject_of(p);
		const struct policy_rule *rule;
		if (!policy_check(fo->b->policy, POL_SUBSCRIBE, &who, fo->topic.ptr, fo->topic.len,
				  NULL, 0, &rule))
			return;
	}
	/* An out-of-line body goes to those who take one, within their limits
	 * (and busd's descriptors); the others lose the event, counted. */
	char why[192];
	if (fo->f->n_fds && (body_refused(&p->conn, fo->f, p->unique, why, sizeof(why)) ||
			     fds_refused(fo->b, p, fo->f, why, sizeof(why)))) {
		p->dropped++;
		fo->b->stats.events_dropped++;
		return;
	}
	/* It cannot keep up (or busd has no memory for it): its loss alone, counted. */
	if (quota_drops(p) || peer_send(p, fo->f) < 0) {
		p->dropped++;
		fo->b->stats.events_dropped++;
		return;
	}
	fo->b->stats.event_deliveries++;
}

void router_fanout(struct broker *b, struct frame *f)
{
	struct fanout fo = { b, f->h.member, policy_may_deny(b->policy, POL_SUBSCRIBE),
			     ++b->fanout_mark, f };
	b->stats.events++;
	match_topic(b->match, f->h.member.ptr, f->h.member.len, fanout_one, &fo);
	router_copy_to_monitors(b, f);
}

/* ---------------------------------------------------------------- routing */

struct peer *router_resolve(struct broker *b, const char *name, size_t len)
{
	if (len && name[0] == ':')
		return hash_get(b->peers, name, len);
	return name_lookup(b->names, name, len);
}

void router_fail_all(struct broker *b, const char *why)
{
	for (struct peer *p = b->all; p; p = p->next)
		while (p->calls_in) {
			struct pending *e = p->calls_in;
			struct peer *caller = e->caller;
			uint64_t serial = e->serial;
			pending_remove(b, e);
			router_send_error(caller, serial, BUS_ERROR_NO_REPLY, "%s", why);
		}
	hold_fail_all(b, why);
}

/* A call to a supervised service's instance that it did not answer
 * before going away: back to the FIFO of its name when it is safe to repeat
 * (its frame f was kept for that), another instance is coming and it was
 * not re-sent too often already. Returns 1 when it was held again. */
static int resend(struct broker *b, struct peer *caller, struct frame *f, unsigned resends)
{
	if (resends >= b->max_resends || !b->supervisor)
		return 0;
	struct service *svc = supervisor_lookup(b->supervisor, f->h.destination.ptr,
						f->h.destination.len);
	if (!svc || !service_will_return(svc) || hold_resend(caller, f, resends + 1) < 0)
		return 0;
	b->stats.calls_resent++;
	return 1;
}

void router_drop_calls(struct peer *p)
{
	struct broker *b = p->broker;
	while (p->calls_in) {
		struct pending *e = p->calls_in;
		struct peer *caller = e->caller;
		uint64_t serial = e->serial;
		unsigned resends = e->resends;
		struct frame *f = e->frame ? frame_ref(e->frame) : NULL;
		/* The record goes first: the held call takes its place in the
		 * caller's count of calls waiting (CHARGE_CALLS). */
		pending_remove(b, e);
		int again = f && resend(b, caller, f, resends);
		if (f)
			frame_unref(f);
		if (!again)
			router_send_error(caller, serial, BUS_ERROR_NO_REPLY,
					  "%s disconnected before answering", p->unique);
	}
	while (p->calls_out)
		pending_remove(b, p->calls_out);
	hold_caller_gone(p);
}

void router_drop_calls_quietly(struct broker *b, struct peer *p)
{
	while (p->calls_in)
		pending_remove(b, p->calls_in);
	while (p->calls_out)
		pending_remove(b, p->calls_out);
	hold_caller_gone(p);
}

/* Give the frame its stamped head. Out of memory, the sender is told
 * (when it wants an answer) and 0 returned. */
static int stamp(struct peer *p, struct frame *f, wire_str dest)
{
	if (frame_stamp(f, (wire_str){ p->unique, (uint32_t)p->unique_len }, dest) == 0)
		return 1;
	if (f->h.kind == WIRE_KIND_CALL && !(f->h.flags & WIRE_FLAG_NO_REPLY_EXPECTED))
		router_send_error(p, f->h.serial, BUS_ERROR_FAILED, "out of memory");
	return 0;
}

/* Whether a call to dst is kept (a frame reference in its pending record)
 * for a re-send should dst die: dst is a supervised service's instance
 * (a flag set when it owned a declared name, so other callees cost nothing
 * here), the call was addressed to a name of that service, never to dst's
 * unique id, and its method is marked safe to repeat. The frames kept for
 * one callee are bounded like the calls held for one name
 * (limits.max_held_bytes_per_name): past that, a call is not kept, and
 * fails with NoReply should its callee die. */
static int keep_for_resend(struct broker *b, struct peer *dst, const struct frame *f)
{
	const wire_header *h = &f->h;
	size_t cost = frame_cost(f);

	if (!dst->instance || !b->supervisor || !b->max_resends || !h->destination.len ||
	    h->destination.ptr[0] == ':' || cost > b->max_held_bytes ||
	    dst->kept_bytes > b->max_held_bytes - cost)
		return 0;
	/* The service of the name, and whether dst is its instance: two
	 * lookups in O(1), not a walk over the services. */
	struct service *svc = supervisor_lookup(b->supervisor, h->destination.ptr,
						h->destination.len);
	struct service_status st;
	if (!svc)
		return 0;
	service_status(svc, &st);
	if (st.peer != dst && (!st.pid || dst->conn.pid != st.pid))
		return 0;
	return schema_call_repeatable(dst, h->destination.ptr, h->destination.len,
				      h->interface.ptr, h->interface.len, h->member.ptr,
				      h->member.len);
}

/* Whether dst may not be given f's descriptors now: its limits, or busd's
 * descriptors (each connection holds one; what is left of the budget
 * less a frame's worth is for passed ones). Says why in buf. */
static int fds_refused(struct broker *b, struct peer *dst, const struct frame *f, char *why,
		       size_t len)
{
	int r = connection_fds_refused(&dst->conn, f->n_fds);

	if (r)
		snprintf(why, len, "%s has too many file descriptors waiting to be read "
			 "(limits.%s)", dst->unique, charge_limit_name(CHARGE_FDS, r == CHARGE_E_USER));
	else if ((uint64_t)b->n_conns + b->ledger.total.used[CHARGE_FDS] +
		 2u * b->transport.max_fds >
		 b->fd_budget)
		snprintf(why, len, "busd has no file descriptors left to pass");
	else
		return 0;
	return 1;
}

/* Route the call f from p; resends: times it was re-sent after a crash. */
static void route_call_to(struct peer *p, struct frame *f, unsigned resends)
{
	struct broker *b = p->broker;
	const wire_header *h = &f->h;
	int want_reply = !(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED);

	struct peer *dst = router_resolve(b, h->destination.ptr, h->destination.len);
	if (!dst || dst->state != PEER_ACTIVE) {
		/* A declared service's name: held until the service owns it. */
		if (h->destination.len && h->destination.ptr[0] != ':' && hold_call(p, f))
			return;
		if (want_reply)
			router_send_error(p, h->serial, BUS_ERROR_NAME_HAS_NO_OWNER,
					  "no peer owns the name '%.*s'", (int)h->destination.len,
					  h->destination.ptr);
		return;
	}
	if (policy_may_deny(b->policy, POL_CALL) && !permit_call(p, dst, h))
		return;
	if (quota_refuse_call(p, dst, h->serial, want_reply))
		return;
	char why[192];
	if (f->n_fds && fds_refused(b, dst, f, why, sizeof(why))) {
		b->stats.calls_refused++;
		if (want_reply)
			router_send_error(p, h->serial, BUS_ERROR_LIMITS_EXCEEDED, "%s", why);
		return;
	}
	int br = h->memfd_body_size ? body_refused(&dst->conn, f, dst->unique, why, sizeof(why)) : 0;
	if (br) {
		b->stats.calls_refused++;
		if (want_reply)
			router_send_error(p, h->serial, body_error_name(br), "%s", why);
		return;
	}
	if (!stamp(p, f, (wire_str){ NULL, 0 }))
		return;
	/* Room in dst's queue first, then the record: once the call is
	 * recorded, queueing it cannot fail, so no caller waits for a call
	 * that never left. */
	if (connection_reserve(&dst->conn) < 0) {
		if (want_reply)
			router_send_error(p, h->serial, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	if (want_reply) {
		if (pending_find(&b->pending, p->id, h->serial)) {
			router_send_error(p, h->serial, BUS_ERROR_INVALID_ARGS,
					  "serial %llu is already waiting for an answer",
					  (unsigned long long)h->serial);
			return;
		}
		struct frame *keep = dst->instance && keep_for_resend(b, dst, f) ? f : NULL;
		int r = pending_add(b, p, dst, h->serial, keep, resends);
		if (r == CHARGE_E_PEER || r == CHARGE_E_USER) {
			router_calls_refused(p, h->serial, r);
			return;
		}
		if (r < 0) {
			router_send_error(p, h->serial, BUS_ERROR_FAILED, "out of memory");
			return;
		}
	}
	peer_send(dst, f);
	router_copy_to_monitors(b, f);
	/* Back-pressure: the caller waits until dst has taken some of its queue. */
	if (dst->congested && dst != p)
		quota_hold(p, dst);
}

static void route_call(struct peer *p, struct frame *f)
{
	struct broker *b = p->broker;
	const wire_header *h = &f->h;

	b->stats.calls++;
	if (wire_str_eq(h->destination, WIRE_BUS_NAME)) {
		if (f->n_fds) { /* closed with the frame */
			if (!(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED))
				router_send_error(p, h->serial, BUS_ERROR_INVALID_ARGS,
						  "busd's own methods take no file descriptors");
			return;
		}
		if (b->monitors && stamp(p, f, (wire_str){ NULL, 0 }))
			router_copy_to_monitors(b, f);
		control_call(p, f);
		return;
	}
	route_call_to(p, f, 0);
}

void router_deliver(struct peer *caller, struct frame *f, unsigned resends)
{
	if (caller->state == PEER_ACTIVE)
		route_call_to(caller, f, resends);
}

static void route_answer(struct peer *p, struct frame *f)
{
	struct broker *b = p->broker;
	const wire_header *h = &f->h;

	/* An answer to a call busd made: its caller checks that it is one. */
	if (wire_str_eq(h->destination, WIRE_BUS_NAME)) {
		if (!watchdog_answer(p, h->reply_serial, h->kind == WIRE_KIND_REPLY))
			return;
		if (h->kind == WIRE_KIND_REPLY)
			b->stats.replies++;
		else
			b->stats.errors++;
		if (b->monitors && stamp(p, f, (wire_str){ NULL, 0 }))
			router_copy_to_monitors(b, f);
		return;
	}
	struct peer *dst = router_resolve(b, h->destination.ptr, h->destination.len);
	struct pending *e = dst ? pending_find(&b->pending, dst->id, h->reply_serial) : NULL;

	if (!e || e->callee != p) {
		log_debug(PEER_FMT ": dropped an answer to %.*s serial %llu that no call is waiting for",
			  PEER_ARGS(p), (int)h->destination.len, h->destination.ptr,
			  (unsigned long long)h->reply_serial);
		return;
	}
	uint64_t serial = h->reply_serial;
	pending_remove(b, e);
	/* A caller that does not read its answers gets no more of them than its
	 * ceiling: the rest are replaced by a small error, bounded by the calls
	 * it may have waiting. The callee is never held for it. */
	if (quota_over_ceiling(dst)) {
		char why[160];
		b->stats.answers_dropped++;
		quota_ceiling_describe(dst, why, sizeof(why));
		router_send_error(dst, serial, BUS_ERROR_LIMITS_EXCEEDED,
				  "the answer from %s was dropped: %s", p->unique, why);
		return;
	}
	char why[192];
	if (f->n_fds && fds_refused(b, dst, f, why, sizeof(why))) {
		b->stats.answers_dropped++;
		router_send_error(dst, serial, BUS_ERROR_LIMITS_EXCEEDED,
				  "the answer from %s was dropped: %s", p->unique, why);
		return;
	}
	int br = h->memfd_body_size ? body_refused(&dst->conn, f, dst->unique, why, sizeof(why)) : 0;
	if (!br && h->memfd_body_size)
		br = body_check(f, b->max_memfd_body, why, sizeof(why));
	if (br) {
		if (br == BODY_E_UNSEALED)
			b->stats.memfd_refused++;
		b->stats.answers_dropped++;
		router_send_error(dst, serial, body_error_name(br),
				  "the answer from %s was refused: %s", p->unique, why);
		return;
	}
	/* Always address the caller by its unique id. */
	int kept = h->destination.len == dst->unique_len &&
		   memcmp(h->destination.ptr, dst->unique, dst->unique_len) == 0;
	wire_str dest = kept ? (wire_str){ NULL, 0 }
			     : (wire_str){ dst->unique, (uint32_t)dst->unique_len };
	if (frame_stamp(f, (wire_str){ p->unique, (uint32_t)p->unique_len }, dest) < 0) {
		router_send_error(dst, serial, BUS_ERROR_FAILED, "out of memory for the answer");
		return;
	}
	if (peer_send(dst, f) < 0) {
		router_owed_lost(dst);
		return;
	}
	if (f->h.kind == WIRE_KIND_REPLY)
		b->stats.replies++;
	else
		b->stats.errors++;
	router_copy_to_monitors(b, f);
}

/* busd's own events (bus.NameOwnerChanged, ...) live under the topic bus;
 * a peer emitting there would be believed by anyone who checks only the
 * topic, so no policy can allow it. */
static int topic_reserved(wire_str topic)
{
	return wire_str_eq(topic, "bus") ||
	       (topic.len > 4 && memcmp(topic.ptr, "bus.", 4) == 0);
}

/* A CALL's or EVENT's out-of-line body is sound (1), or its sender was told
 * why not (unless it wants no answer) and the frame goes no further. */
static int body_ok(struct peer *p, struct frame *f)
{
	struct broker *b = p->broker;
	char why[192];
	int r = body_check(f, b->max_memfd_body, why, sizeof(why));

	if (!r)
		return 1;
	if (r == BODY_E_UNSEALED)
		b->stats.memfd_refused++;
	if (f->h.kind == WIRE_KIND_CALL)
		b->stats.calls_refused++;
	peer_log(p, LOG_NOTICE, "refused a frame's out-of-line body: %s", why);
	if (!(f->h.kind == WIRE_KIND_CALL && (f->h.flags & WIRE_FLAG_NO_REPLY_EXPECTED)))
		router_send_error(p, f->h.serial, body_error_name(r), "%s", why);
	return 0;
}

static void route(struct peer *p, struct frame *f)
{
	const char *why;
	int r = frame_parse(f, &why);

	if (r == WIRE_E_MALFORMED) {
		router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "malformed frame header");
		return;
	}
	if (r != WIRE_OK) {
		router_reject(p, f->h.serial, BUS_ERROR_INVALID_FRAME, "%s", why);
		return;
	}
	if (f->h.fd_count != f->n_fds) {
		router_reject(p, f->h.serial, BUS_ERROR_INVALID_FRAME,
			      "fd_count is %u but %u file descriptors came with the frame",
			      f->h.fd_count, f->n_fds);
		return;
	}
	if (p->state == PEER_MONITOR) {
		router_reject(p, f->h.serial, BUS_ERROR_INVALID_FRAME,
			      "a monitor connection may not send frames");
		return;
	}
	if (p->state == PEER_HELLO &&
	    !(f->h.kind == WIRE_KIND_CALL && wire_str_eq(f->h.destination, WIRE_BUS_NAME) &&
	      wire_str_eq(f->h.member, "Hello"))) {
		router_reject(p, f->h.serial, BUS_ERROR_HELLO_REQUIRED,
			      "the first frame must be a call to bus.Hello");
		return;
	}
	if (f->h.memfd_body_size && f->pre.body_len) {
		router_reject(p, f->h.serial, BUS_ERROR_INVALID_FRAME,
			      "a frame with an out-of-line body (memfd_body_size) has body bytes too");
		return;
	}
	/* An answer's body is checked once its call is found (route_answer):
	 * its caller gets the refusal in its place. */
	if (f->h.memfd_body_size && f->h.kind != WIRE_KIND_REPLY && !body_ok(p, f))
		return;
	switch (f->h.kind) {
	case WIRE_KIND_CALL:
		route_call(p, f);
		break;
	case WIRE_KIND_REPLY:
	case WIRE_KIND_ERROR:
		route_answer(p, f);
		break;
	case WIRE_KIND_EVENT:
		if (topic_reserved(f->h.member)) {
			p->broker->stats.access_denied++;
			router_send_error(p, f->h.serial, BUS_ERROR_ACCESS_DENIED,
					  "the topic %.*s is busd's own: only busd emits on bus and bus.*",
					  (int)f->h.member.len, f->h.member.ptr);
			break;
		}
		if (policy_may_deny(p->broker->policy, POL_EMIT) &&
		    !router_permit(p, POL_EMIT, f->h.member.ptr, f->h.member.len, NULL, 0,
				   f->h.serial, 1))
			break;
		if (stamp(p, f, (wire_str){ NULL, 0 }))
			router_fanout(p->broker, f);
		break;
	}
}

void router_frame(struct peer *p, struct frame *f)
{
	route(p, f);
	frame_unref(f);
}

/* ---------------------------------------------------------------- reload */

static int subscription_allowed(void *owner, const char *pattern, size_t len, void *userdata)
{
	struct peer *p = owner;
	struct broker *b = userdata;
	struct policy_subject who = subject_of(p);
	const struct policy_rule *rule;

	if (policy_check(b->policy, POL_SUBSCRIBE, &who, pattern, len, NULL, 0, &rule))
		return 1;
	peer_log(p, LOG_NOTICE, "subscription to %.*s dropped: the policy no longer allows it (%s)",
		 (int)len, pattern, rule ? rule->origin : "default");
	return 0;
}

void router_policy_changed(struct broker *b)
{
	for (struct peer *m = b->monitors; m; m = m->mon_next) {
		if (router_permit(m, POL_MONITOR, "*", 1, NULL, 0, 0, 0))
			continue;
		router_send_error(m, 0, BUS_ERROR_ACCESS_DENIED,
				  "the policy no longer allows this connection to monitor the bus");
		broker_doom(b, m, "monitor no longer allowed");
	}
	if (policy_may_deny(b->policy, POL_SUBSCRIBE))
		match_filter(b->match, subscription_allowed, b);
}
