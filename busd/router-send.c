/* router-send.c - the frames busd itself originates, with "bus" as their
 * sender: errors (and the rejection of a protocol violation), the replies
 * of the control service, calls (the watchdog's pings) and events
 * (bus.NameOwnerChanged); and the copy of a frame to every monitor. */
#include "config.h"

#include "router-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <protobuf-c/protobuf-c.h>

#include "bus/errors.h"
#include "broker.h"
#include "frame.h"
#include "log.h"
#include "quota.h"

/* A copy for every monitor; one that cannot keep up (or that busd has no
 * memory to queue for) loses copies, counted, never the bus. */
void router_copy_to_monitors(struct broker *b, struct frame *f)
{
	for (struct peer *m = b->monitors; m; m = m->mon_next) {
		uint64_t body = connection_memfd_of(&m->conn, f);
		if (quota_drops(m) || (body && charge_would_pass(&m->conn.out_memfd_charge, body)) ||
		    peer_send(m, f) < 0) {
			m->dropped++;
			b->stats.monitor_dropped++;
		}
	}
}

/* An answer p is owed could not be queued: p learns of it by losing its
 * connection, which fails every call it has waiting. */
void router_owed_lost(struct peer *p)
{
	peer_log(p, LOG_WARNING, "disconnected: out of memory for an answer it is owed");
	broker_doom(p->broker, p, "out of memory for an answer");
}

/* Send a frame originated by busd (sender "bus") to p and the monitors.
 * Returns 0, or -ENOMEM when it could not be queued. */
static int send_from_bus(struct peer *p, wire_header *h, const void *body, size_t len)
{
	struct broker *b = p->broker;

	h->serial = ++b->serial;
	h->sender = wire_str_c(WIRE_BUS_NAME);
	struct frame *f = frame_new_local(h, body, len);
	if (!f || peer_send(p, f) < 0) {
		if (h->reply_serial)
			router_owed_lost(p);
		frame_unref(f);
		return -ENOMEM;
	}
	if (h->kind == WIRE_KIND_ERROR)
		b->stats.errors++;
	else if (h->kind == WIRE_KIND_REPLY)
		b->stats.replies++;
	else if (h->kind == WIRE_KIND_CALL)
		b->stats.calls++;
	if (p->state != PEER_MONITOR)
		router_copy_to_monitors(b, f);
	frame_unref(f);
	return 0;
}

static __attribute__((format(printf, 4, 0))) void
send_errorv(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, va_list ap)
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

void router_calls_refused(struct peer *p, uint64_t serial, int r)
{
	const struct charge_limits *l = charge_limits_of(p->user);
	int user = r == CHARGE_E_USER;

	router_send_error(p, serial, BUS_ERROR_LIMITS_EXCEEDED,
			  "%s %d has %llu calls waiting for an answer, the most limits.%s allows",
			  user ? "uid" : "peer", user ? (int)p->conn.uid : (int)p->id,
			  (unsigned long long)(user ? l->user[CHARGE_CALLS] : l->peer[CHARGE_CALLS]),
			  charge_limit_name(CHARGE_CALLS, user));
}

void router_reject(struct peer *p, uint64_t reply_serial, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->broker->stats.protocol_errors++;
	peer_log(p, LOG_NOTICE, "protocol error, disconnecting: %s: %s", name, msg);
	router_send_error(p, reply_serial, name, "%s", msg);
	peer_disconnect(p, "protocol error");
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

	/* busd's own replies (a schema, the list of peers) count against the
	 * ceiling like any other answer. */
	if (quota_over_ceiling(p)) {
		char why[160];
		p->broker->stats.answers_dropped++;
		quota_ceiling_describe(p, why, sizeof(why));
		router_send_error(p, reply_serial, BUS_ERROR_LIMITS_EXCEEDED, "busd's answer was "
				  "dropped: %s", why);
		return;
	}
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

uint64_t router_call_from_bus(struct peer *p, const char *dest, const char *interface,
			      const char *member, const ProtobufCMessage *msg)
{
	struct packed pk;

	if (pack(msg, &pk) < 0)
		return 0;
	wire_header h = { .kind = WIRE_KIND_CALL };
	h.destination = dest ? wire_str_c(dest) : (wire_str){ p->unique, (uint32_t)p->unique_len };
	h.interface = wire_str_c(interface);
	h.member = wire_str_c(member);
	h.body_type = wire_str_c(msg->descriptor->name);
	int r = send_from_bus(p, &h, pk.data, pk.len);
	packed_done(&pk);
	return r < 0 ? 0 : h.serial;
}

void router_emit(struct broker *b, const char *topic, const ProtobufCMessage *msg)
{
	struct packed pk;
	if (pack(msg, &pk) < 0)
		return;
	wire_header h = { .kind = WIRE_KIND_EVENT, .serial = ++b->serial };
	h.sender = wire_str_c(WIRE_BUS_NAME);
	h.member = wire_str_c(topic);
	h.body_type = wire_str_c(msg->descriptor->name);
	struct frame *f = frame_new_local(&h, pk.data, pk.len);
	if (f)
		router_fanout(b, f);
	frame_unref(f);
	packed_done(&pk);
}
