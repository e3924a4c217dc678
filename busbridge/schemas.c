/* schemas.c - schemas travel with exported names. The node that exports a
 * name answers PREFIX.schema.NAME with the FileDescriptorSet its local
 * owner uploaded to busd (the files of every set it added, each once) and
 * the services busd lists under the name; a node that imports the name
 * uploads that set to its own busd and lists the same services, so that
 * busctl introspect and JSON calls work on the remote service as on a
 * local one. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "bus.pb-c.h"
#include "wire.h"

#define SCHEMA_MAX_BYTES (8u * 1024u * 1024u)
#define CONTROL_TIMEOUT_USEC (5ull * 1000000ull)

struct set_buf {
	uint8_t *p;
	size_t len, cap;
	int bad;
};

static void buf_put(struct set_buf *s, const uint8_t *p, size_t n)
{
	if (s->bad || n > SCHEMA_MAX_BYTES - s->len) {
		s->bad = 1;
		return;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n)
			cap *= 2;
		uint8_t *q = realloc(s->p, cap);
		if (!q) {
			s->bad = 1;
			return;
		}
		s->p = q;
		s->cap = cap;
	}
	memcpy(s->p + s->len, p, n);
	s->len += n;
}

/* 1 if the encoded field f (n bytes) is in s already. */
static int buf_has(const struct set_buf *s, const uint8_t *f, size_t n)
{
	size_t off = 0;

	while (off < s->len) {
		uint64_t len;
		size_t k = wire_varint_get(s->p + off + 1, s->len - off - 1, &len);
		size_t whole = 1 + k + (size_t)len;
		if (whole == n && memcmp(s->p + off, f, n) == 0)
			return 1;
		off += whole;
	}
	return 0;
}

/* Append the files of one FileDescriptorSet (field 1, repeated) not in s
 * yet. busd checked the set when it was added; a set that does not walk
 * as such is refused all the same. */
static int set_merge(struct set_buf *s, const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		uint64_t flen;
		if (p[off] != 0x0a)
			return -EBADMSG;
		size_t k = wire_varint_get(p + off + 1, len - off - 1, &flen);
		if (!k || flen > len - off - 1 - k)
			return -EBADMSG;
		size_t whole = 1 + k + (size_t)flen;
		if (!buf_has(s, p + off, whole))
			buf_put(s, p + off, whole);
		off += whole;
	}
	return s->bad ? -ENOMEM : 0;
}

ProtobufCMessage *bridge_control(struct bridge *b, const char *method, const ProtobufCMessage *req,
				 const ProtobufCMessageDescriptor *rd, bus_error_t *err)
{
	size_t len = protobuf_c_message_get_packed_size(req), rlen = 0;
	uint8_t *body = malloc(len ? len : 1);
	void *reply = NULL;

	if (!body) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return NULL;
	}
	protobuf_c_message_pack(req, body);
	int r = bus_call(b->bus, BUS_NAME, "bus.Bus", method, req->descriptor->name, body, len,
			 CONTROL_TIMEOUT_USEC, err, &reply, &rlen);
	free(body);
	if (r < 0)
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(rd, NULL, rlen, reply);
	free(reply);
	if (!m)
		bus_error_set(err, BUS_ERROR_FAILED, "busd's answer to %s does not parse", method);
	return m;
}

static void answer(struct bridge *b, const char *subject, const struct set_buf *s,
		   const char *services, const bus_error_t *err)
{
	natsMsg *m;

	if (natsMsg_Create(&m, subject, NULL, s ? (const char *)s->p : NULL,
			   s ? (int)s->len : 0) != NATS_OK)
		return;
	if (err) {
		natsMsgHeader_Set(m, HDR_ERROR, err->name);
		natsMsgHeader_Set(m, HDR_ERROR_MESSAGE, err->message);
	} else {
		natsMsgHeader_Set(m, HDR_SERVICES, services);
	}
	natsMsgHeader_Set(m, HDR_NODE, b->conf->node);
	natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
}

void schema_serve(struct bridge *b, const char *name, natsMsg *req)
{
	const char *reply = natsMsg_GetReply(req);
	Bus__IntrospectRequest in = BUS__INTROSPECT_REQUEST__INIT;
	struct set_buf s = { 0 };
	char services[2048] = "";
	bus_error_t err;

	if (!reply || !reply[0])
		return;
	in.name = (char *)name;
	Bus__IntrospectReply *rep = (Bus__IntrospectReply *)bridge_control(
		b, "Introspect", &in.base, &bus__introspect_reply__descriptor, &err);
	if (!rep) {
		answer(b, reply, NULL, NULL, &err);
		return;
	}
	for (size_t i = 0; i < rep->n_services; i++) {
		size_t n = strlen(services);
		snprintf(services + n, sizeof(services) - n, "%s%s", n ? "," : "", rep->services[i]);
	}
	int r = 0;
	for (size_t i = 0; r == 0 && i < rep->n_schema_ids; i++) {
		Bus__GetSchemaRequest g = BUS__GET_SCHEMA_REQUEST__INIT;
		g.id = rep->schema_ids[i];
		Bus__GetSchemaReply *set = (Bus__GetSchemaReply *)bridge_control(
			b, "GetSchema", &g.base, &bus__get_schema_reply__descriptor, &err);
		if (!set) {
			r = -EREMOTE;
			break;
		}
		r = set_merge(&s, set->file_descriptor_set.data, set->file_descriptor_set.len);
		bus__get_schema_reply__free_unpacked(set, NULL);
		if (r < 0)
			bus_error_set(&err, BUS_ERROR_FAILED, "the schemas of %s %s", name,
				      r == -ENOMEM ? "are too large to send" : "do not parse");
	}
	bus__introspect_reply__free_unpacked(rep, NULL);
	if (r == 0 && s.len == 0) {
		bus_error_set(&err, BUS_ERROR_UNKNOWN_SCHEMA, "the owner of %s uploaded no schema", name);
		r = -ENOENT;
	}
	answer(b, reply, r == 0 ? &s : NULL, services, r == 0 ? NULL : &err);
	free(s.p);
}

int schema_apply(struct bridge *b, const char *name, natsMsg *reply)
{
	const char *e = link_header(reply, HDR_ERROR);
	int len = natsMsg_GetDataLength(reply);
	bus_error_t err;

	if (e[0]) {
		log_msg("no schema for %s yet from node %s: %s: %s", name, link_header(reply, HDR_NODE),
			e, link_header(reply, HDR_ERROR_MESSAGE));
		return -1;
	}
	if (len <= 0)
		return -1;
	if (bus_add_schema(b->bus, natsMsg_GetData(reply), (size_t)len, &err) < 0) {
		log_msg("the schema of %s from node %s: %s: %s", name, link_header(reply, HDR_NODE),
			err.name, err.message);
		return -1;
	}
	char *services = strdup(link_header(reply, HDR_SERVICES)), *save = NULL;
	if (!services)
		return -1;
	for (char *t = strtok_r(services, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (wire_member_valid(t, strlen(t)))
			calls_announce(b, name, t);
	free(services);
	log_msg("schema of %s from node %s uploaded", name, link_header(reply, HDR_NODE));
	return 0;
}
