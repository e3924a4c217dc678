/* control.c - calls to busd's control service "bus": waiting, asynchronous
 * and one-way forms, the async operations of the API (a callback, a slot,
 * the bookkeeping of busd's answer), and the name and schema requests, whose
 * accepted state a reconnect gives the new connection again. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"
#include "schema-synth.h"

static void control_header(wire_header *h, const char *method, const ProtobufCMessage *req)
{
	memset(h, 0, sizeof(*h));
	h->kind = WIRE_KIND_CALL;
	h->destination = wire_str_c(BUS_NAME);
	h->interface = wire_str_c(bus__bus__descriptor.name);
	h->member = wire_str_c(method);
	h->body_type = wire_str_c(req->descriptor->name);
}

int control_send(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 uint64_t timeout_usec, bus_reply_fn cb, void *userdata, struct pending **out)
{
	wire_header h;

	control_header(&h, method, req);
	int r = call_start(bus, &h, NULL, 0, req, timeout_usec, out);
	if (r < 0)
		return r;
	(*out)->cb = cb;
	(*out)->userdata = userdata;
	return 0;
}

struct control_out {
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage **reply;
};

static int control_unpack(bus_t *bus, const bus_msg_t *m, void *ud, bus_error_t *err)
{
	struct control_out *o = ud;

	if (!o->reply)
		return 0;
	*o->reply = bus_msg_unpack(m, o->desc);
	if (!*o->reply) {
		bus_error_set(err, BUS_ERROR_FAILED, "busd's reply does not parse as %s", o->desc->name);
		return -EBADMSG;
	}
	return 0;
}

int control_sync(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
		 bus_error_t *err)
{
	struct control_out o = { reply_desc, reply_desc ? reply : NULL };
	wire_header h;

	if (reply)
		*reply = NULL;
	control_header(&h, method, req);
	return call_sync(bus, &h, NULL, 0, req, BUS_CONTROL_TIMEOUT_USEC, err, control_unpack, &o);
}

int control_oneway(bus_t *bus, const char *method, const ProtobufCMessage *req)
{
	wire_header h;

	if (!conn_named(bus))
		return 0;
	control_header(&h, method, req);
	h.flags = WIRE_FLAG_NO_REPLY_EXPECTED;
	h.serial = conn_next_serial(bus);
	return conn_queue(bus, &h, NULL, 0, req, NULL);
}

/* ---------------------------------------------------------------- async ops */

static void op_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct control_op *op = ud;

	op->finish(bus, op, reply, err);
}

static void op_free(void *ud)
{
	struct control_op *op = ud;

	slot_detach(op->slot);
	free(op->k);
	free(op);
}

int control_start(bus_t *bus, bus_slot_t **slotp, struct control_op *op, const char *method,
		  const ProtobufCMessage *req, const bus_error_t *err)
{
	struct pending *p = NULL;
	bus_slot_t *s = NULL;
	int r;

	if (req && !conn_usable(bus))
		r = -ECONNRESET;
	else if (req && bus->monitor)
		r = -EPERM;
	else
		r = slot_prepare(bus, slotp, SLOT_CONTROL, op->userdata, &s);
	if (r == 0 && req)
		r = control_send(bus, method, req, BUS_CONTROL_TIMEOUT_USEC, op_answer, op, &p);
	else if (r == 0 && !(p = call_add_settled(bus, err)))
		r = -ENOMEM;
	if (r < 0)
		bus_slot_unref(s);
	if (r < 0) {
		op_free(op);
		return r;
	}
	p->cb = op_answer;
	p->userdata = op;
	p->userdata_free = op_free;
	op->slot = s;
	slot_bind(s, slotp, op);
	return 0;
}

void control_mute(struct control_op *op)
{
	op->slot = NULL;
	op->done = NULL;
	op->creds = NULL;
}

void control_done(bus_t *bus, struct control_op *op, const bus_creds_t *creds,
		  const bus_error_t *err)
{
	bus_done_fn done = op->done;
	bus_creds_fn cb = op->creds;

	/* Over before the callback, which may drop the slot. */
	slot_detach(op->slot);
	control_mute(op);
	if (cb)
		cb(bus, creds, err, op->userdata);
	else if (done)
		done(bus, err, op->userdata);
}

static struct control_op *op_new(bus_done_fn done, void *userdata, const void *data, size_t len,
				 void (*finish)(bus_t *, struct control_op *, const bus_msg_t *,
						const bus_error_t *))
{
	struct control_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	if (data && !(op->k = lifetime_kept_new(data, len))) {
		free(op);
		return NULL;
	}
	op->finish = finish;
	op->done = done;
	op->userdata = userdata;
	return op;
}

/* ---------------------------------------------------------------- names */

static int name_call(bus_t *bus, const char *method, const char *name, bus_error_t *err)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	/* busd is the one judge of what may be owned: the name goes as is. */
	req.name = (char *)name;
	return control_sync(bus, method, &req.base, NULL, NULL, err);
}

int bus_request_name(bus_t *bus, const char *name, bus_error_t *err)
{
	bus_error_clear(err);
	if (!bus || !name) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no name given");
		return -EINVAL;
	}
	/* Allocated first: a name owned must be one a reconnect asks for. */
	struct kept *k = lifetime_kept_new(name, strlen(name) + 1);
	if (!k) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	int r = name_call(bus, "RequestName", name, err);
	if (r < 0) {
		free(k);
		return r;
	}
	k->gen = bus->generation;
	lifetime_kept_add(&bus->names, k);
	return r;
}

static void request_finish(bus_t *bus, struct control_op *op, const bus_msg_t *reply,
			   const bus_error_t *err)
{
	if (!err) {
		op->k->gen = bus->generation;
		lifetime_kept_add(&bus->names, op->k);
		op->k = NULL;
	}
	control_done(bus, op, NULL, err);
}

int bus_request_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_done_fn cb,
			   void *userdata)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	if (slot)
		*slot = NULL;
	if (!bus || !name)
		return -EINVAL;
	struct control_op *op = op_new(cb, userdata, name, strlen(name) + 1, request_finish);
	if (!op)
		return -ENOMEM;
	req.name = (char *)name;
	return control_start(bus, slot, op, "RequestName", &req.base, NULL);
}

/* Reconnecting there is no broker to tell: the name is nobody's there, and
 * giving it up means not asking for it again. Unless the try under way
 * asked for it already: then busd is told after that request. */
static int release_kept(bus_t *bus, const char *name, bus_error_t *err)
{
	struct kept *k = lifetime_kept_find(bus->names, name, strlen(name) + 1);

	if (!k) {
		bus_error_set(err, BUS_ERROR_NOT_OWNER, "this connection does not own the name '%s'",
			      name);
		return -EREMOTE;
	}
	if (k->gen == bus->generation) {
		Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
		req.name = (char *)name;
		control_oneway(bus, "ReleaseName", &req.base);
	}
	lifetime_kept_remove(&bus->names, name, strlen(name) + 1);
	return 0;
}

int bus_release_name(bus_t *bus, const char *name, bus_error_t *err)
{
	bus_error_clear(err);
	if (!bus || !name) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no name given");
		return -EINVAL;
	}
	if (conn_reconnecting(bus))
		return release_kept(bus, name, err);
	int r = name_call(bus, "ReleaseName", name, err);
	if (r == 0 || (r == -EREMOTE && bus_error_has_name(err, BUS_ERROR_NOT_OWNER)))
		lifetime_kept_remove(&bus->names, name, strlen(name) + 1);
	return r;
}

static void release_finish(bus_t *bus, struct control_op *op, const bus_msg_t *reply,
			   const bus_error_t *err)
{
	if (!err || bus_error_has_name(err, BUS_ERROR_NOT_OWNER))
		lifetime_kept_remove(&bus->names, op->k->data, op->k->len);
	control_done(bus, op, NULL, err);
}

int bus_release_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_done_fn cb,
			   void *userdata)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	bus_error_t e;

	if (slot)
		*slot = NULL;
	if (!bus || !name)
		return -EINVAL;
	struct control_op *op = op_new(cb, userdata, name, strlen(name) + 1, release_finish);
	if (!op)
		return -ENOMEM;
	if (conn_reconnecting(bus)) {
		int r = release_kept(bus, name, &e);
		return control_start(bus, slot, op, NULL, NULL, r < 0 ? &e : NULL);
	}
	req.name = (char *)name;
	return control_start(bus, slot, op, "ReleaseName", &req.base, NULL);
}

/* ---------------------------------------------------------------- schemas */

static void schema_request(Bus__AddSchemaRequest *req, const struct kept *k)
{
	req->file_descriptor_set.data = (uint8_t *)k->data;
	req->file_descriptor_set.len = k->len;
}

int bus_add_schema(bus_t *bus, const void *fds, size_t len, bus_error_t *err)
{
	Bus__AddSchemaRequest req = BUS__ADD_SCHEMA_REQUEST__INIT;
	int r = 0;

	bus_error_clear(err);
	if (!bus || !fds || len == 0) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "no schema given");
		return -EINVAL;
	}
	struct kept *k = lifetime_kept_new(fds, len);
	if (!k) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory for a copy of the schema");
		return -ENOMEM;
	}
	/* Reconnecting (also when the loss cuts the call off), the new
	 * connection uploads it with the others. */
	if (!conn_reconnecting(bus)) {
		schema_request(&req, k);
		r = control_sync(bus, "AddSchema", &req.base, NULL, NULL, err);
		if (r == 0)
			k->gen = bus->generation;
		else if (r == -ECONNRESET && conn_reconnecting(bus))
			r = 0;
	}
	if (r < 0) {
		free(k);
		return r;
	}
	bus_error_clear(err);
	lifetime_kept_add(&bus->schemas, k);
	return 0;
}

static void schema_finish(bus_t *bus, struct control_op *op, const bus_msg_t *reply,
			  const bus_error_t *err)
{
	if (err && bus_error_has_name(err, BUS_ERROR_DISCONNECTED) && conn_reconnecting(bus))
		err = NULL;
	if (!err) {
		op->k->gen = reply ? bus->generation : 0;
		lifetime_kept_add(&bus->schemas, op->k);
		op->k = NULL;
	}
	control_done(bus, op, NULL, err);
}

int bus_add_schema_async(bus_t *bus, bus_slot_t **slot, const void *fds, size_t len,
			 bus_done_fn cb, void *userdata)
{
	Bus__AddSchemaRequest req = BUS__ADD_SCHEMA_REQUEST__INIT;

	if (slot)
		*slot = NULL;
	if (!bus || !fds || len == 0)
		return -EINVAL;
	struct control_op *op = op_new(cb, userdata, fds, len, schema_finish);
	if (!op)
		return -ENOMEM;
	if (conn_reconnecting(bus))
		return control_start(bus, slot, op, NULL, NULL, NULL);
	schema_request(&req, op->k);
	return control_start(bus, slot, op, "AddSchema", &req.base, NULL);
}

int control_schema_declares(const bus_t *bus, const char *service)
{
	for (const struct kept *k = bus->schemas; k; k = k->next)
		if (synth_set_declares(k->data, k->len, service))
			return 1;
	/* Control calls have deadlines: every one waiting is on this list. */
	for (const struct pending *p = bus->due_first; p; p = p->due_next) {
		const struct control_op *op = p->cb == op_answer ? p->userdata : NULL;
		if (op && op->finish == schema_finish && op->k &&
		    synth_set_declares(op->k->data, op->k->len, service))
			return 1;
	}
	return 0;
}
