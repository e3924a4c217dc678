/* serve.c - exported services: exporting (and telling busd, again after a
 * reconnect), routing an incoming CALL to a protoc-c service method or to a
 * raw handler (bus_export_raw()), and the call object (closure_data) that
 * carries the answer back as a REPLY or ERROR, now or later. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"
#include "schema-synth.h"

/* gen: the connection busd was told on (0: not yet). */
struct export {
	struct export *next;
	bus_slot_t *slot;
	unsigned gen;
	struct pending *query;  /* the async form's Export, in flight */
	bus_slot_t *schema;     /* the async form's synthesized schema, in flight */
	bus_error_t *schema_err; /* busd refused it: the export is withdrawn */
	bus_done_fn done;
	void *userdata;
	char *name; /* NULL: every name the connection has, and its unique id */
	ProtobufCService *service; /* NULL for a raw export */
	char *iface;               /* a raw export's announced service, or NULL */
	bus_call_fn raw;
	void *raw_userdata;
};

/* The service busd is told of: NULL for a raw export that announces none. */
static const char *export_iface(const struct export *e)
{
	return e->service ? e->service->descriptor->name : e->iface;
}

/* A call being served. The header strings live in the same allocation, so
 * bus_call_msg() stays valid until the answer; the body only during the
 * handler (it points into the input buffer). */
struct incall {
	struct incall *prev, *next;
	bus_t *bus;
	bus_msg_t msg;
	unsigned generation; /* the connection it came on (bus->generation) */
	int in_handler; /* the handler has not returned yet */
	int answered;
	char strings[];
};

/* ---------------------------------------------------------------- answers */

static void incall_free(bus_t *bus, struct incall *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		bus->incalls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
}

/* A reply body given as bytes (bus_reply_raw()). */
struct raw_body {
	const char *type;
	const void *body;
	size_t len;
};

/* Send the REPLY (reply or raw set) or ERROR frame answering the CALL m. The
 * caller gets one answer whatever the size: a reply too big for busd is
 * replaced by bus.Error.LimitsExceeded (and -EMSGSIZE returned), an error
 * message too long for the frame is cut. */
static int answer_send(bus_t *bus, const bus_msg_t *m, const ProtobufCMessage *reply,
		       const struct raw_body *raw, const char *ename, const char *emsg)
{
	wire_header h = { .serial = conn_next_serial(bus), .reply_serial = m->serial };
	char text[sizeof(((bus_error_t *)0)->message)];
	int r, too_big = 0;

	if (m->flags & BUS_FLAG_NO_REPLY_EXPECTED)
		return 0;
	h.destination = wire_str_c(m->sender);
	if (reply || raw) {
		h.kind = WIRE_KIND_REPLY;
		if (raw) {
			h.body_type = wire_str_c(raw->type);
			r = conn_send(bus, &h, raw->body, raw->len, NULL, NULL);
		} else {
			h.body_type = wire_str_c(reply->descriptor->name);
			r = conn_send(bus, &h, NULL, 0, reply, NULL);
		}
		if (r != -EMSGSIZE)
			return r;
		if (bus->max_frame < CONN_MAX_FRAME)
			snprintf(text, sizeof(text), "the reply to %s is a frame of %zu bytes, more than "
				 "the %u bytes busd accepts from the service (limits.max_frame_size "
				 "less 512)", m->member, bus->refused_frame, bus->max_frame);
		else
			snprintf(text, sizeof(text), "the reply to %s is a frame of %zu bytes, more than "
				 "libbus's limit of %u bytes", m->member, bus->refused_frame,
				 CONN_MAX_FRAME);
		ename = BUS_ERROR_LIMITS_EXCEEDED;
		emsg = text;
		too_big = 1;
	}
	h.kind = WIRE_KIND_ERROR;
	h.body_type = wire_str_c(NULL);
	h.error_name = wire_str_c(ename);
	h.error_message = wire_str_c(emsg);
	r = conn_send(bus, &h, NULL, 0, NULL, NULL);
	if (r == -EMSGSIZE && bus->refused_frame - bus->max_frame < h.error_message.len) {
		/* Shorter by the excess (the field's length prefix can only
		 * shrink), at a UTF-8 character boundary. */
		size_t cut = h.error_message.len - (bus->refused_frame - bus->max_frame);
		while (cut > 0 && ((unsigned char)emsg[cut] & 0xc0) == 0x80)
			cut--;
		h.error_message.len = (uint32_t)cut;
		r = conn_send(bus, &h, NULL, 0, NULL, NULL);
	}
	return r == 0 && too_big ? -EMSGSIZE : r;
}

static __attribute__((format(printf, 4, 5)))
int answer_error(bus_t *bus, const bus_msg_t *m, const char *name, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return answer_send(bus, m, NULL, NULL, name, text);
}

void serve_refuse(bus_t *bus, const bus_msg_t *m, const char *name, const char *why)
{
	answer_error(bus, m, name, "%s", why);
}

/* Answer once; a second answer from inside the handler is ignored. After
 * bus_close() the call object is gone, which bus.h's closure rule covers.
 * A call that came on an earlier connection is not answered on a later
 * one: its sender and serial meant something to the old broker only, and
 * busd answered the caller when the connection went. */
static int incall_answer_raw(struct incall *c, const ProtobufCMessage *reply,
			     const struct raw_body *raw, const char *ename, const char *emsg)
{
	bus_t *bus = c->bus;
	int r = -ECONNRESET;

	if (c->answered)
		return -EALREADY;
	c->answered = 1;
	if (conn_usable(bus) && c->generation == bus->generation)
		r = answer_send(bus, &c->msg, reply, raw, ename, emsg);
	if (!c->in_handler)
		incall_free(bus, c);
	return r;
}

static int incall_answer(struct incall *c, const ProtobufCMessage *reply, const char *ename,
			 const char *emsg)
{
	return incall_answer_raw(c, reply, NULL, ename, emsg);
}

int bus_reply_raw(void *closure_data, const char *body_type, const void *body, size_t len)
{
	struct incall *c = closure_data;
	struct raw_body raw = { .type = body_type, .body = body, .len = len };

	if (!c || (len && !body) ||
	    (body_type && body_type[0] && !wire_member_valid(body_type, strlen(body_type))))
		return -EINVAL;
	return incall_answer_raw(c, NULL, &raw, NULL, NULL);
}

static void serve_closure(const ProtobufCMessage *reply, void *closure_data)
{
	struct incall *c = closure_data;
	char text[512];

	if (reply) {
		incall_answer(c, reply, NULL, NULL);
		return;
	}
	snprintf(text, sizeof(text), "the handler of %s gave no reply", c->msg.member);
	incall_answer(c, NULL, BUS_ERROR_SERVICE_FAILED, text);
}

int bus_reply_fds(void *closure_data, const ProtobufCMessage *reply, const int *fds,
		  unsigned n_fds)
{
	struct incall *c = closure_data;
	char text[256];

	if (!c || !reply || (n_fds && !fds))
		return -EINVAL;
	bus_t *bus = c->bus;
	if (n_fds > bus->max_fds) {
		snprintf(text, sizeof(text), "the reply to %s has %u file descriptors, more than "
			 "the %u busd takes with one frame (limits.max_fds_per_frame)",
			 c->msg.member, n_fds, bus->max_fds);
		int r = incall_answer(c, NULL, BUS_ERROR_LIMITS_EXCEEDED, text);
		return r == -EALREADY ? r : -E2BIG;
	}
	bus->next_fds = n_fds ? fds : NULL;
	bus->next_n_fds = n_fds;
	int r = incall_answer(c, reply, NULL, NULL);
	bus->next_fds = NULL;
	bus->next_n_fds = 0;
	return r;
}

const bus_msg_t *bus_call_msg(void *closure_data)
{
	return closure_data ? &((struct incall *)closure_data)->msg : NULL;
}

int serve_call_sender(void *call, bus_t **bus, const char **sender)
{
	struct incall *c = call;

	if (!c)
		return -EINVAL;
	*bus = c->bus;
	*sender = c->msg.sender;
	/* A unique id from an earlier connection may name another peer now. */
	return conn_usable(c->bus) && c->generation == c->bus->generation ? 0 : -ECONNRESET;
}

int bus_call_fail(void *closure_data, const char *name, const char *fmt, ...)
{
	struct incall *c = closure_data;
	char text[1024] = "";
	va_list ap;
	int bad = 0;

	if (!c)
		return -EINVAL;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(text, sizeof(text), fmt, ap);
		va_end(ap);
	}
	/* The caller is answered whatever happens: a bad name becomes the
	 * generic one rather than leaving the call hanging. */
	if (!name || !wire_member_valid(name, strlen(name))) {
		name = BUS_ERROR_FAILED;
		bad = 1;
	}
	int r = incall_answer(c, NULL, name, text);
	return bad ? -EINVAL : r;
}

/* ---------------------------------------------------------------- dispatch */

static size_t str_size(const char *s)
{
	return strlen(s) + 1;
}

static const char *str_put(char **p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *r = memcpy(*p, s, n);
	*p += n;
	return r;
}

static struct incall *incall_new(bus_t *bus, const bus_msg_t *m)
{
	size_t n = str_size(m->sender) + str_size(m->destination) + str_size(m->interface) +
		   str_size(m->member) + str_size(m->body_type) + str_size(m->error_name) +
		   str_size(m->error_message);
	struct incall *c = malloc(sizeof(*c) + n);
	if (!c)
		return NULL;
	char *p = c->strings;
	c->bus = bus;
	c->msg = *m;
	c->msg.sender = str_put(&p, m->sender);
	c->msg.destination = str_put(&p, m->destination);
	c->msg.interface = str_put(&p, m->interface);
	c->msg.member = str_put(&p, m->member);
	c->msg.body_type = str_put(&p, m->body_type);
	c->msg.error_name = str_put(&p, m->error_name);
	c->msg.error_message = str_put(&p, m->error_message);
	c->generation = bus->generation;
	c->in_handler = 1;
	c->answered = 0;
	c->prev = NULL;
	c->next = bus->incalls;
	if (c->next)
		c->next->prev = c;
	bus->incalls = c;
	return c;
}

/* busd routes to this connection only calls for names it owns or its unique
 * id, so an export under NULL takes any destination it is given. */
static const ProtobufCMethodDescriptor *method_find(bus_t *bus, const bus_msg_t *m,
						    ProtobufCService **svc, struct export **raw,
						    int *iface_seen)
{
	/* The unique id names the whole connection: it reaches every export. */
	int to_me = strcmp(m->destination, bus_unique_name(bus)) == 0;

	*iface_seen = 0;
	*raw = NULL;
	for (struct export *e = bus->exports; e; e = e->next) {
		if (e->name && !to_me && strcmp(e->name, m->destination) != 0)
			continue;
		if (e->raw) {
			/* a raw export takes every method of its service (of any
			 * service when it announced none) */
			if (!e->iface || !m->interface[0] || strcmp(e->iface, m->interface) == 0) {
				*raw = e;
				return NULL;
			}
			continue;
		}
		const ProtobufCServiceDescriptor *d = e->service->descriptor;
		if (m->interface[0]) {
			if (strcmp(d->name, m->interface) != 0)
				continue;
			*iface_seen = 1;
		}
		const ProtobufCMethodDescriptor *md =
			protobuf_c_service_descriptor_get_method_by_name(d, m->member);
		if (md) {
			*svc = e->service;
			return md;
		}
	}
	return NULL;
}

/* A service built by the generated *__INIT macro keeps its method pointers
 * right after the ProtobufCService base; protobuf-c calls them without a
 * NULL check, so a method left NULL is answered here instead of crashing. */
static int handler_present(ProtobufCService *svc, unsigned index)
{
	typedef void (*handler_fn)(void);

	if (svc->invoke != protobuf_c_service_invoke_internal)
		return 1; /* a hand-made service dispatches by itself */
	return ((handler_fn *)(svc + 1))[index] != NULL;
}

/* After the handler: a call answered is freed, one kept for later loses
 * what was valid only during the handler. */
static void incall_handled(bus_t *bus, struct incall *c)
{
	c->in_handler = 0;
	if (c->answered) {
		incall_free(bus, c);
	} else {
		c->msg.body = NULL;
		c->msg.body_len = 0;
		c->msg.n_fds = 0; /* those not taken are closed now */
		c->msg.fds = NULL;
	}
}

static void serve_raw(bus_t *bus, struct export *e, const bus_msg_t *m)
{
	struct incall *c = incall_new(bus, m);

	if (!c) {
		answer_error(bus, m, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	e->raw(bus, &c->msg, c, e->raw_userdata);
	incall_handled(bus, c);
}

void serve_dispatch(bus_t *bus, const bus_msg_t *m)
{
	ProtobufCService *svc = NULL;
	struct export *raw;
	int iface_seen;
	const ProtobufCMethodDescriptor *md = method_find(bus, m, &svc, &raw, &iface_seen);

	if (raw) {
		serve_raw(bus, raw, m);
		return;
	}
	if (!md) {
		if (m->interface[0] && !iface_seen)
			answer_error(bus, m, BUS_ERROR_UNKNOWN_INTERFACE, "%s does not serve %s",
				     m->destination, m->interface);
		else
			answer_error(bus, m, BUS_ERROR_UNKNOWN_METHOD, "%s has no method %s%s%s",
				     m->destination, m->interface, m->interface[0] ? "." : "",
				     m->member);
		return;
	}
	if (!handler_present(svc, (unsigned)(md - svc->descriptor->methods))) {
		answer_error(bus, m, BUS_ERROR_UNKNOWN_METHOD, "%s does not implement %s",
			     m->destination, md->name);
		return;
	}
	if (m->body_type[0] && strcmp(m->body_type, md->input->name) != 0) {
		answer_error(bus, m, BUS_ERROR_INVALID_ARGS, "%s takes %s, not %s", md->name,
			     md->input->name, m->body_type);
		return;
	}
	ProtobufCMessage *req = unpack_msg(bus, md->input, m->body_len, m->body);
	if (!req) {
		answer_error(bus, m, BUS_ERROR_INVALID_ARGS, "the request does not parse as %s",
			     md->input->name);
		return;
	}
	struct incall *c = incall_new(bus, m);
	if (!c) {
		unpack_free(bus, req);
		answer_error(bus, m, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	svc->invoke(svc, (unsigned)(md - svc->descriptor->methods), req, serve_closure, c);
	unpack_free(bus, req);
	incall_handled(bus, c);
}

/* ---------------------------------------------------------------- bus.Peer */

/* busd's watchdog pings a supervised service to learn that its loop still
 * turns. Every connection answers, whatever it exports (or nothing), from
 * bus_process() and from the wait of a sync call: no handler runs, so the
 * answer never re-enters the program, and a program that only makes sync
 * calls answers whenever it reads. An export cannot take bus.Peer over. */
#define PEER_INTERFACE "bus.Peer"
#define PEER_EMPTY "bus.Empty"

int serve_peer(bus_t *bus, const wire_header *h)
{
	wire_header a = { .serial = 0 };
	char text[256];

	if (h->kind != WIRE_KIND_CALL || !wire_str_eq(h->interface, PEER_INTERFACE))
		return 0;
	if (h->flags & WIRE_FLAG_NO_REPLY_EXPECTED)
		return 1;
	a.serial = conn_next_serial(bus);
	a.reply_serial = h->serial;
	a.destination = h->sender;
	if (!wire_str_eq(h->member, "Ping")) {
		snprintf(text, sizeof(text), "bus.Peer has no method %.*s", (int)h->member.len,
			 h->member.ptr);
		a.kind = WIRE_KIND_ERROR;
		a.error_name = wire_str_c(BUS_ERROR_UNKNOWN_METHOD);
		a.error_message = wire_str_c(text);
	} else if (h->body_type.len && !wire_str_eq(h->body_type, PEER_EMPTY)) {
		snprintf(text, sizeof(text), "Ping takes %s, not %.*s", PEER_EMPTY,
			 (int)h->body_type.len, h->body_type.ptr);
		a.kind = WIRE_KIND_ERROR;
		a.error_name = wire_str_c(BUS_ERROR_INVALID_ARGS);
		a.error_message = wire_str_c(text);
	} else {
		a.kind = WIRE_KIND_REPLY;
		a.body_type = wire_str_c(PEER_EMPTY);
	}
	conn_send(bus, &a, NULL, 0, NULL, NULL);
	return 1;
}

/* ---------------------------------------------------------------- exports */

static int same_name(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void export_request(Bus__ExportRequest *req, const struct export *e, int remove)
{
	req->name = (char *)(e->name ? e->name : "");
	req->service = (char *)export_iface(e);
	req->remove = remove;
}

static void export_free(struct export *e)
{
	slot_detach(e->slot);
	bus_slot_unref(e->schema);
	free(e->schema_err);
	free(e->name);
	free(e->iface);
	free(e);
}

/* Take e out of the list (and so out of dispatch); busd is told when it
 * was told of it on this connection. */
static void export_remove(bus_t *bus, struct export *e, int tell)
{
	for (struct export **pe = &bus->exports; *pe; pe = &(*pe)->next) {
		if (*pe == e) {
			*pe = e->next;
			break;
		}
	}
	if (e->query)
		call_cancel(bus, e->query);
	if (tell && e->gen == bus->generation && export_iface(e)) {
		Bus__ExportRequest req = BUS__EXPORT_REQUEST__INIT;
		export_request(&req, e, 1);
		control_oneway(bus, "Export", &req.base);
	}
	export_free(e);
}

void serve_unexport(bus_t *bus, struct export *e)
{
	e->slot = NULL; /* the slot is being freed */
	export_remove(bus, e, 1);
}

/* busd's answer to the async form (or the settled outcome when there was
 * nobody to ask). A loss while reconnecting keeps it for the next
 * connection; a refusal withdraws it. */
static void export_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct export *e = ud;
	bus_done_fn done = e->done;
	void *userdata = e->userdata;

	bus_error_t schema_err;

	e->query = NULL;
	e->done = NULL;
	if (err && bus_error_has_name(err, BUS_ERROR_DISCONNECTED) && conn_reconnecting(bus))
		err = NULL;
	if (err) {
		export_remove(bus, e, 0);
	} else if (e->schema_err) {
		/* busd took the export but not its schema: withdrawn, as the
		 * waiting form would not have made it */
		schema_err = *e->schema_err;
		err = &schema_err;
		export_remove(bus, e, 1);
	}
	if (done)
		done(bus, err, userdata);
}

/* ---------------------------------------------------------------- schemas */

/* A service exported without a schema that declares it (uploaded before,
 * or on its way) gets one made from its protoc-c descriptors, uploaded
 * (and kept for a reconnect) as bus_add_schema() does, before the export
 * itself: busd reads a connection's frames in order. */
static int schema_needed(bus_t *bus, const ProtobufCService *service)
{
	return !control_schema_declares(bus, service->descriptor->name);
}

static void schema_message(bus_error_t *err, const char *service)
{
	bus_error_t e = *err;

	bus_error_set(err, e.name, "the schema made for %s: %s", service, e.message);
}

static int schema_upload(bus_t *bus, const ProtobufCService *service, bus_error_t *err)
{
	uint8_t *set;
	size_t len;

	if (synth_schema(service->descriptor, &set, &len) < 0) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory for the schema of %s",
			      service->descriptor->name);
		return -ENOMEM;
	}
	int r = bus_add_schema(bus, set, len, err);
	free(set);
	if (r < 0)
		schema_message(err, service->descriptor->name);
	return r;
}

static void schema_answer(bus_t *bus, const bus_error_t *err, void *userdata)
{
	struct export *e = userdata;

	if (err && !e->schema_err && (e->schema_err = malloc(sizeof(*e->schema_err)))) {
		*e->schema_err = *err;
		schema_message(e->schema_err, export_iface(e));
	}
}

static int schema_upload_async(bus_t *bus, struct export *e)
{
	uint8_t *set;
	size_t len;

	if (synth_schema(e->service->descriptor, &set, &len) < 0)
		return -ENOMEM;
	int r = bus_add_schema_async(bus, &e->schema, set, len, schema_answer, e);
	free(set);
	return r;
}

/* A protoc-c service (service set), or a raw handler (raw set) announced as
 * iface (NULL: none). */
static int export(bus_t *bus, bus_slot_t **slot, const char *name, ProtobufCService *service,
		  const char *iface, bus_call_fn raw, void *raw_userdata,
		  bus_done_fn done, void *userdata, int async, bus_error_t *err)
{
	Bus__ExportRequest req = BUS__EXPORT_REQUEST__INIT;
	struct export **tail;
	bus_slot_t *sl = NULL;
	int r = 0;

	if (slot)
		*slot = NULL;
	bus_error_clear(err);
	if (!bus || (raw ? service != NULL : !service || !service->descriptor || !service->invoke) ||
	    (iface && !wire_member_valid(iface, strlen(iface))) ||
	    (name && !wire_name_valid(name, strlen(name)))) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no service, or not a well-known name");
		return -EINVAL;
	}
	if (bus->monitor) {
		bus_error_set(err, BUS_ERROR_FAILED, "a monitor connection cannot serve");
		return -EPERM;
	}
	if (!conn_usable(bus) && !conn_reconnecting(bus))
		return call_send_error(bus, -ECONNRESET, NULL, err);
	for (tail = &bus->exports; *tail; tail = &(*tail)->next) {
		const struct export *o = *tail;
		if (same_name(o->name, name) &&
		    (raw ? o->raw && same_name(o->iface, iface) : o->service == service)) {
			bus_error_set(err, BUS_ERROR_INVALID_ARGS, "%s is exported already",
				      raw ? (iface ? iface : "a raw handler") : service->descriptor->name);
			return -EEXIST;
		}
	}
	struct export *e = calloc(1, sizeof(*e));
	if (!e || (name && !(e->name = strdup(name))) || (iface && !(e->iface = strdup(iface))) ||
	    slot_prepare(bus, slot, SLOT_EXPORT, raw ? raw_userdata : userdata, &sl) < 0) {
		if (e) {
			free(e->name);
			free(e->iface);
		}
		free(e);
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	e->service = service;
	e->raw = raw;
	e->raw_userdata = raw_userdata;
	e->done = done;
	e->userdata = userdata;
	/* a raw export's schema is the program's to upload (bus_add_schema()) */
	if (service && schema_needed(bus, service))
		r = async ? schema_upload_async(bus, e) : schema_upload(bus, service, err);
	/* Reconnecting (also when the loss cuts the call off), the new
	 * connection announces it with the others. */
	if (r == 0 && !export_iface(e))
		e->gen = bus->generation; /* nothing to announce */
	else if (r == 0 && !conn_reconnecting(bus)) {
		export_request(&req, e, 0);
		e->gen = bus->generation;
		if (async) {
			r = control_send(bus, "Export", &req.base, BUS_CONTROL_TIMEOUT_USEC, export_answer,
					 e, &e->query);
		} else {
			r = control_sync(bus, "Export", &req.base, NULL, NULL, err);
			if (r == -ECONNRESET && conn_reconnecting(bus)) {
				e->gen = 0;
				r = 0;
				bus_error_clear(err);
			}
		}
	}
	if (r == 0 && async && !e->query) {
		if ((e->query = call_add_settled(bus, NULL))) {
			e->query->cb = export_answer;
			e->query->userdata = e;
		} else {
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		bus_slot_unref(sl);
		export_free(e);
		return r;
	}
	/* Appended after the wait: export order decides which service gets a
	 * method first. */
	for (tail = &bus->exports; *tail; tail = &(*tail)->next)
		;
	*tail = e;
	e->slot = sl;
	slot_bind(sl, slot, e);
	return 0;
}

int bus_export(bus_t *bus, bus_slot_t **slot, const char *name, ProtobufCService *service,
	       bus_error_t *err)
{
	return export(bus, slot, name, service, NULL, NULL, NULL, NULL, NULL, 0, err);
}

int bus_export_raw(bus_t *bus, bus_slot_t **slot, const char *name, const char *interface,
		   bus_call_fn fn, void *userdata, bus_error_t *err)
{
	if (!fn) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no handler");
		return -EINVAL;
	}
	return export(bus, slot, name, NULL, interface, fn, userdata, NULL, NULL, 0, err);
}

int bus_export_async(bus_t *bus, bus_slot_t **slot, const char *name, ProtobufCService *service,
		     bus_done_fn done, void *userdata)
{
	return export(bus, slot, name, service, NULL, NULL, NULL, done, userdata, 1, NULL);
}

int serve_restore(bus_t *bus)
{
	int sent = 0;

	for (struct export *e = bus->exports; e; e = e->next) {
		Bus__ExportRequest req = BUS__EXPORT_REQUEST__INIT;
		if (e->gen == bus->generation)
			continue;
		e->gen = bus->generation;
		if (!export_iface(e))
			continue;
		export_request(&req, e, 0);
		int r = restore_call(bus, "Export", &req.base, BUS_CONN_EXPORT_FAILED,
				     export_iface(e));
		if (r < 0)
			return r;
		sent++;
	}
	return sent;
}

void serve_free_all(bus_t *bus)
{
	struct export *e, *next;

	for (e = bus->exports; e; e = next) {
		next = e->next;
		export_free(e);
	}
	bus->exports = NULL;
	while (bus->incalls)
		incall_free(bus, bus->incalls);
}
