/* router.c - route one frame. The header is decoded in place (no
 * allocation), re-encoded once with the sender stamped into a static buffer,
 * and queued to each destination together with the body bytes. */
#include "config.h"

#include "router.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "bus/errors.h"
#include "broker.h"
#include "control.h"
#include "log.h"
#include "policy.h"
#include "quota.h"

/* The stamped preamble + header of the frame being routed. busd is single
 * threaded and routes one frame at a time. */
static uint8_t head_buf[WIRE_PREAMBLE_SIZE + WIRE_MAX_HEADER];

/* ---- pending calls ---- */

static size_t pending_slot(const struct pending_table *t, uint64_t caller, uint64_t serial)
{
	uint64_t h = (caller * 0x9e3779b97f4a7c15ull) ^ (serial * 0xc2b2ae3d27d4eb4full);
	return (size_t)(h ^ (h >> 29)) & (t->n_buckets - 1);
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

static struct pending *pending_add(struct broker *b, struct peer *caller, struct peer *callee,
				   uint64_t serial)
{
	struct pending_table *t = &b->pending;
	if (t->count >= t->n_buckets && pending_grow(t) < 0 && t->n_buckets == 0)
		return NULL;
	struct pending *e = t->spare;
	if (e)
		t->spare = e->hnext;
	else if (!(e = malloc(sizeof(*e))))
		return NULL;
	memset(e, 0, sizeof(*e));
	e->caller_id = caller->id;
	e->serial = serial;
	e->caller = caller;
	e->callee = callee;
	size_t s = pending_slot(t, caller->id, serial);
	e->hnext = t->buckets[s];
	t->buckets[s] = e;
	t->count++;
	e->in_next = callee->calls_in;
	if (e->in_next)
		e->in_next->in_prev = e;
	callee->calls_in = e;
	callee->n_calls_in++;
	e->out_next = caller->calls_out;
	if (e->out_next)
		e->out_next->out_prev = e;
	caller->calls_out = e;
	caller->n_calls_out++;
	caller->uu->pending++;
	return e;
}

static struct pending *pending_find(const struct pending_table *t, uint64_t caller, uint64_t serial)
{
	if (!t->n_buckets)
		return NULL;
	for (struct pending *e = t->buckets[pending_slot(t, caller, serial)]; e; e = e->hnext)
		if (e->caller_id == caller && e->serial == serial)
			return e;
	return NULL;
}

static void pending_remove(struct broker *b, struct pending *e)
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
	e->callee->n_calls_in--;
	if (e->out_prev)
		e->out_prev->out_next = e->out_next;
	else
		e->caller->calls_out = e->out_next;
	if (e->out_next)
		e->out_next->out_prev = e->out_prev;
	e->caller->n_calls_out--;
	e->caller->uu->pending--;
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

/* ---- output ---- */

/* Encode preamble + header for a body of body_len bytes into head_buf.
 * Returns the head length, or 0 if the header would exceed the limit. */
static size_t head_encode(const wire_header *h, size_t body_len)
{
	size_t hl = wire_header_size(h);
	if (hl == 0 || hl > WIRE_MAX_HEADER || body_len > UINT32_MAX)
		return 0;
	wire_preamble_encode(head_buf, (uint32_t)hl, (uint32_t)body_len);
	wire_header_encode(h, head_buf + WIRE_PREAMBLE_SIZE);
	return WIRE_PREAMBLE_SIZE + hl;
}

/* The frame being routed, as its sender wrote it (router_frame). */
static struct {
	const uint8_t *header;
	size_t header_len;
	int had_sender; /* it carried a sender field of its own */
} cur;

/* The head of a routed frame, sender stamped. The common case keeps the
 * client's header bytes as they are and appends the sender field (protobuf
 * takes fields in any order): no re-encoding. A header that carried a
 * sender of its own, or whose destination busd rewrote, is encoded afresh
 * so that exactly one sender and the right destination go out. */
static size_t head_stamp(const wire_header *h, size_t body_len, int destination_kept)
{
	if (cur.had_sender || !destination_kept)
		return head_encode(h, body_len);
	size_t sl = h->sender.len, field = 1 + (sl < 0x80 ? 1 : 2) + sl;
	size_t hl = cur.header_len + field;
	if (sl >= 0x4000 || hl > WIRE_MAX_HEADER || body_len > UINT32_MAX)
		return 0;
	wire_preamble_encode(head_buf, (uint32_t)hl, (uint32_t)body_len);
	uint8_t *o = head_buf + WIRE_PREAMBLE_SIZE;
	memcpy(o, cur.header, cur.header_len);
	o += cur.header_len;
	*o++ = (8u << 3) | 2u; /* bus.Header.sender, length-delimited */
	if (sl < 0x80) {
		*o++ = (uint8_t)sl;
	} else {
		*o++ = (uint8_t)(sl | 0x80);
		*o++ = (uint8_t)(sl >> 7);
	}
	memcpy(o, h->sender.ptr, sl);
	return WIRE_PREAMBLE_SIZE + hl;
}

/* A monitor that cannot keep up loses copies (counted), never the bus. */
static void copy_to_monitors(struct broker *b, size_t head_len, const void *body, size_t len)
{
	for (struct peer *m = b->monitors; m; m = m->mon_next) {
		if (m->congested) {
			m->dropped++;
			b->stats.monitor_dropped++;
			continue;
		}
		peer_queue(m, head_buf, head_len, body, len);
	}
}

/* Send a frame originated by busd (sender "bus") to p and the monitors. */
static void send_from_bus(struct peer *p, wire_header *h, const void *body, size_t len)
{
	struct broker *b = p->broker;
	h->serial = ++b->serial;
	h->sender = wire_str_c("bus");
	size_t hl = head_encode(h, len);
	if (!hl)
		return;
	if (h->kind == WIRE_KIND_ERROR)
		b->stats.errors++;
	else if (h->kind == WIRE_KIND_REPLY)
		b->stats.replies++;
	peer_queue(p, head_buf, hl, body, len);
	if (p->state != PEER_MONITOR)
		copy_to_monitors(b, hl, body, len);
}

static void send_errorv(struct peer *p, uint64_t reply_serial, const char *name,
			const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	wire_header h = { .kind = WIRE_KIND_ERROR, .reply_serial = reply_serial };
	h.destination = (wire_str){ p->unique, (uint32_t)p->unique_len };
	h.error_name = wire_str_c(name);
	h.error_message = wire_str_c(msg);
	send_from_bus(p, &h, NULL, 0);
}

void router_send_error(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_errorv(p, reply_serial, name, fmt, ap);
	va_end(ap);
}

void router_reject(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->broker->stats.protocol_errors++;
	log_notice("%s: protocol error, disconnecting: %s: %s", peer_describe(p), name, msg);
	router_send_error(p, reply_serial, name, "%s", msg);
	peer_disconnect(p, "protocol error");
}

/* ---- policy ---- */

static struct policy_subject subject_of(const struct peer *p)
{
	return (struct policy_subject){ p->uid, p->gid, p->groups, p->n_groups };
}

#define DENY_LOG_BURST 10

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
	/* A peer that keeps asking must not flood the log: the first
	 * DENY_LOG_BURST denials of each second are logged, the rest counted
	 * and summed up in the next second's first line. */
	uint64_t now = broker_now_usec();
	if (now - p->deny_window_usec >= 1000000u) {
		if (p->deny_suppressed)
			log_notice("%s uid %d: %u more access denials were not logged",
				   peer_describe(p), (int)p->uid, p->deny_suppressed);
		p->deny_window_usec = now;
		p->deny_logged = 0;
		p->deny_suppressed = 0;
	}
	if (p->deny_logged < DENY_LOG_BURST) {
		p->deny_logged++;
		log_notice("%s uid %d: access denied: %s (%s)", peer_describe(p), (int)p->uid, what,
			   because);
	} else {
		p->deny_suppressed++;
	}
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

/* A call is checked against the name it was addressed to; one addressed to
 * a unique id is checked against every name its owner has as well, so that
 * the id is no way around a rule on a name. */
static int permit_call(struct peer *p, struct peer *dst, const wire_header *h)
{
	struct call_check cc = { p, h, 0 };

	if (!router_permit(p, POL_CALL, h->destination.ptr, h->destination.len, h->member.ptr,
			   h->member.len, h->serial, !(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)))
		return 0;
	if (h->destination.len && h->destination.ptr[0] == ':')
		name_foreach_owned(p->broker->names, dst, check_owned_name, &cc);
	return !cc.denied;
}

/* Pack msg into a buffer: on the stack when small, else on the heap. */
struct packed {
	uint8_t stack[4096];
	uint8_t *data;
	size_t len;
};

static int pack(const ProtobufCMessage *msg, struct packed *pk)
{
	pk->len = protobuf_c_message_get_packed_size(msg);
	pk->data = pk->len <= sizeof(pk->stack) ? pk->stack : malloc(pk->len);
	if (!pk->data)
		return -ENOMEM;
	protobuf_c_message_pack(msg, pk->data);
	return 0;
}

static void packed_done(struct packed *pk)
{
	if (pk->data != pk->stack)
		free(pk->data);
}

void router_send_reply(struct peer *p, uint64_t reply_serial, const ProtobufCMessage *msg)
{
	struct packed pk;
	if (pack(msg, &pk) < 0) {
		router_send_error(p, reply_serial, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	wire_header h = { .kind = WIRE_KIND_REPLY, .reply_serial = reply_serial };
	h.destination = (wire_str){ p->unique, (uint32_t)p->unique_len };
	h.body_type = wire_str_c(msg->descriptor->name);
	send_from_bus(p, &h, pk.data, pk.len);
	packed_done(&pk);
}

/* ---- event fan-out ---- */

struct fanout {
	struct broker *b;
	wire_str topic;
	int filter;             /* subscribe rules may deny: check each subscriber */
	uint64_t mark;
	size_t head_len;
	const void *body;
	size_t body_len;
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
	if (p->congested) { /* it cannot keep up: its loss alone, and counted */
		p->dropped++;
		fo->b->stats.events_dropped++;
		return;
	}
	if (peer_queue(p, head_buf, fo->head_len, fo->body, fo->body_len) == 0)
		fo->b->stats.event_deliveries++;
}

/* Deliver the event whose head is in head_buf. */
static void fanout(struct broker *b, wire_str topic, size_t head_len, const void *body, size_t len)
{
	static uint64_t mark;
	struct fanout fo = { b, topic, policy_may_deny(b->policy, POL_SUBSCRIBE), ++mark, head_len,
			     body, len };
	b->stats.events++;
	match_topic(b->match, topic.ptr, topic.len, fanout_one, &fo);
	copy_to_monitors(b, head_len, body, len);
}

void router_emit(struct broker *b, const char *topic, const ProtobufCMessage *msg)
{
	struct packed pk;
	if (pack(msg, &pk) < 0)
		return;
	wire_header h = { .kind = WIRE_KIND_EVENT, .serial = ++b->serial };
	h.sender = wire_str_c("bus");
	h.member = wire_str_c(topic);
	h.body_type = wire_str_c(msg->descriptor->name);
	size_t hl = head_encode(&h, pk.len);
	if (hl)
		fanout(b, h.member, hl, pk.data, pk.len);
	packed_done(&pk);
}

/* ---- routing ---- */

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
}

void router_drop_calls(struct peer *p)
{
	struct broker *b = p->broker;
	while (p->calls_in) {
		struct pending *e = p->calls_in;
		struct peer *caller = e->caller;
		uint64_t serial = e->serial;
		pending_remove(b, e);
		router_send_error(caller, serial, BUS_ERROR_NO_REPLY,
				  "%s disconnected before answering", p->unique);
	}
	while (p->calls_out)
		pending_remove(b, p->calls_out);
}

static void route_call(struct peer *p, wire_header *h, const uint8_t *body, size_t len)
{
	struct broker *b = p->broker;
	b->stats.calls++;
	if (wire_str_eq(h->destination, "bus")) {
		if (h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)
			log_debug("%s: NO_REPLY_EXPECTED call to bus is answered anyway",
				  peer_describe(p));
		size_t hl = b->monitors ? head_stamp(h, len, 1) : 0;
		if (hl)
			copy_to_monitors(b, hl, body, len);
		control_call(p, h, body, len);
		return;
	}
	struct peer *dst = router_resolve(b, h->destination.ptr, h->destination.len);
	if (!dst || dst->state != PEER_ACTIVE) {
		if (!(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED))
			router_send_error(p, h->serial, BUS_ERROR_NAME_HAS_NO_OWNER,
					  "no peer owns the name '%.*s'", (int)h->destination.len,
					  h->destination.ptr);
		return;
	}
	size_t hl = head_stamp(h, len, 1);
	if (!hl) {
		router_send_error(p, h->serial, BUS_ERROR_INVALID_ARGS, "header too large");
		return;
	}
	if (policy_may_deny(b->policy, POL_CALL) && !permit_call(p, dst, h))
		return;
	if (dst->congested &&
	    quota_refuse_call(p, dst, h->serial, !(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)))
		return;
	if (!(h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)) {
		if (pending_find(&b->pending, p->id, h->serial)) {
			router_send_error(p, h->serial, BUS_ERROR_INVALID_ARGS,
					  "serial %llu is already waiting for an answer",
					  (unsigned long long)h->serial);
			return;
		}
		if (p->n_calls_out >= b->max_pending) {
			router_send_error(p, h->serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "%u calls are already waiting for an answer, the most "
					  "limits.max_pending_calls allows", p->n_calls_out);
			return;
		}
		if (p->uu->pending >= b->max_pending_uid) {
			router_send_error(p, h->serial, BUS_ERROR_LIMITS_EXCEEDED,
					  "uid %d has %u calls waiting for an answer, the most "
					  "limits.max_pending_calls_per_uid allows", (int)p->uid,
					  p->uu->pending);
			return;
		}
		if (!pending_add(b, p, dst, h->serial)) {
			router_send_error(p, h->serial, BUS_ERROR_FAILED, "out of memory");
			return;
		}
	}
	peer_queue(dst, head_buf, hl, body, len);
	copy_to_monitors(b, hl, body, len);
	/* Back-pressure: the caller waits until dst has taken some of its queue. */
	if (dst->congested && dst != p)
		quota_hold(p, dst);
}

static void route_answer(struct peer *p, wire_header *h, const uint8_t *body, size_t len)
{
	struct broker *b = p->broker;
	struct peer *dst = router_resolve(b, h->destination.ptr, h->destination.len);
	struct pending *e = dst ? pending_find(&b->pending, dst->id, h->reply_serial) : NULL;

	if (!e || e->callee != p) {
		log_debug("%s: dropped an answer to %.*s serial %llu that no call is waiting for",
			  peer_describe(p), (int)h->destination.len, h->destination.ptr,
			  (unsigned long long)h->reply_serial);
		return;
	}
	pending_remove(b, e);
	/* Always address the caller by its unique id. */
	int kept = h->destination.len == dst->unique_len &&
		   memcmp(h->destination.ptr, dst->unique, dst->unique_len) == 0;
	h->destination = (wire_str){ dst->unique, (uint32_t)dst->unique_len };
	size_t hl = head_stamp(h, len, kept);
	if (!hl) {
		router_send_error(dst, h->reply_serial, BUS_ERROR_NO_REPLY,
				  "the answer's header was too large");
		return;
	}
	if (h->kind == WIRE_KIND_REPLY)
		b->stats.replies++;
	else
		b->stats.errors++;
	peer_queue(dst, head_buf, hl, body, len);
	copy_to_monitors(b, hl, body, len);
}

void router_frame(struct peer *p, const wire_preamble *pre, const uint8_t *f)
{
	const uint8_t *hb = f + WIRE_PREAMBLE_SIZE;
	const uint8_t *body = hb + pre->header_len;
	wire_header h;
	const char *why;

	if (wire_header_decode(hb, pre->header_len, &h) != WIRE_OK) {
		router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "malformed frame header");
		return;
	}
	if (wire_header_validate(&h, &why) != WIRE_OK) {
		router_reject(p, h.serial, BUS_ERROR_INVALID_FRAME, "%s", why);
		return;
	}
	if (p->state == PEER_MONITOR) {
		router_reject(p, h.serial, BUS_ERROR_INVALID_FRAME,
			      "a monitor connection may not send frames");
		return;
	}
	if (p->state == PEER_HELLO &&
	    !(h.kind == WIRE_KIND_CALL && wire_str_eq(h.destination, "bus") &&
	      wire_str_eq(h.member, "Hello"))) {
		router_reject(p, h.serial, BUS_ERROR_HELLO_REQUIRED,
			      "the first frame must be a call to bus.Hello");
		return;
	}
	/* The broker stamps the sender: whatever the client wrote is replaced. */
	cur.header = hb;
	cur.header_len = pre->header_len;
	cur.had_sender = h.sender.ptr != NULL;
	h.sender = (wire_str){ p->unique, (uint32_t)p->unique_len };

	switch (h.kind) {
	case WIRE_KIND_CALL:
		route_call(p, &h, body, pre->body_len);
		break;
	case WIRE_KIND_REPLY:
	case WIRE_KIND_ERROR:
		route_answer(p, &h, body, pre->body_len);
		break;
	case WIRE_KIND_EVENT: {
		if (policy_may_deny(p->broker->policy, POL_EMIT) &&
		    !router_permit(p, POL_EMIT, h.member.ptr, h.member.len, NULL, 0, h.serial, 1))
			break;
		size_t hl = head_stamp(&h, pre->body_len, 1);
		if (hl)
			fanout(p->broker, h.member, hl, body, pre->body_len);
		break;
	}
	}
}
