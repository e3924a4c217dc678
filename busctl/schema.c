/* schema.c - busctl's view of the schemas on the bus: what a name serves
 * (Introspect) and the FileDescriptorSets behind it (GetSchema), loaded
 * into one bus_schema_t that the JSON codec of libbus-json works from. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busctl.h"
#include "bus.pb-c.h"

/* A bus.Bus call with a packed request; the unpacked reply or NULL. */
static ProtobufCMessage *control(bus_t *bus, struct busctl *ctl, const char *method,
				 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
				 bus_error_t *err)
{
	size_t len = protobuf_c_message_get_packed_size(req), rlen = 0;
	uint8_t *body = malloc(len ? len : 1);
	void *rep = NULL;

	if (!body) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return NULL;
	}
	protobuf_c_message_pack(req, body);
	int r = bus_call(bus, BUS_NAME, "bus.Bus", method, req->descriptor->name, body, len,
			 ctl->timeout_usec, err, &rep, &rlen);
	free(body);
	if (r < 0)
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(rd, NULL, rlen, rep);
	free(rep);
	if (!m)
		bus_error_set(err, BUS_ERROR_FAILED, "busd's %s reply does not parse", method);
	return m;
}

/* Add every schema id to s (ids already loaded are cheap: bus_schema_add
 * skips files it has). */
static int load_ids(bus_t *bus, struct busctl *ctl, bus_schema_t *s, char **ids, size_t n,
		    bus_error_t *err)
{
	for (size_t i = 0; i < n; i++) {
		Bus__GetSchemaRequest req = BUS__GET_SCHEMA_REQUEST__INIT;
		req.id = ids[i];
		Bus__GetSchemaReply *rep = (Bus__GetSchemaReply *)control(
			bus, ctl, "GetSchema", &req.base, &bus__get_schema_reply__descriptor, err);
		if (!rep)
			return -EREMOTE;
		int r = bus_schema_add(s, rep->file_descriptor_set.data, rep->file_descriptor_set.len,
				       err);
		bus__get_schema_reply__free_unpacked(rep, NULL);
		if (r < 0)
			return r;
	}
	return 0;
}

int schema_introspect(bus_t *bus, struct busctl *ctl, const char *name, bus_schema_t *s,
		      struct introspection *out, bus_error_t *err)
{
	Bus__IntrospectRequest req = BUS__INTROSPECT_REQUEST__INIT;

	memset(out, 0, sizeof(*out));
	req.name = (char *)name;
	Bus__IntrospectReply *rep = (Bus__IntrospectReply *)control(
		bus, ctl, "Introspect", &req.base, &bus__introspect_reply__descriptor, err);
	if (!rep)
		return -EREMOTE;
	int r = load_ids(bus, ctl, s, rep->schema_ids, rep->n_schema_ids, err);
	if (r == 0) {
		snprintf(out->owner, sizeof(out->owner), "%s", rep->unique_name);
		out->n_services = rep->n_services < INTROSPECT_MAX ? rep->n_services : INTROSPECT_MAX;
		for (size_t i = 0; i < out->n_services; i++)
			snprintf(out->services[i], sizeof(out->services[i]), "%s", rep->services[i]);
		out->n_schemas = rep->n_schema_ids;
	}
	bus__introspect_reply__free_unpacked(rep, NULL);
	return r;
}

extern const unsigned char bus_schema_bus[];
extern const size_t bus_schema_bus_len;

void schema_add_own(bus_schema_t *s)
{
	bus_schema_add(s, bus_schema_bus, bus_schema_bus_len, NULL);
}

int schema_load_all(bus_t *bus, struct busctl *ctl, bus_schema_t *s, bus_error_t *err)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	Bus__ListNamesReply *names = (Bus__ListNamesReply *)control(
		bus, ctl, "ListNames", &req.base, &bus__list_names_reply__descriptor, err);
	int r = 0;

	if (!names)
		return -EREMOTE;
	for (size_t i = 0; i < names->n_peers && r == 0; i++) {
		struct introspection in;
		bus_error_t e;
		/* A peer may leave between the two calls: skip it, not fail. */
		if (schema_introspect(bus, ctl, names->peers[i]->unique_name, s, &in, &e) < 0 &&
		    !bus_error_has_name(&e, BUS_ERROR_NAME_HAS_NO_OWNER) &&
		    !bus_error_has_name(&e, BUS_ERROR_UNKNOWN_SCHEMA)) {
			if (err)
				*err = e;
			r = -EREMOTE;
		}
	}
	bus__list_names_reply__free_unpacked(names, NULL);
	return r;
}
