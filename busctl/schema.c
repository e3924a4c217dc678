/* schema.c - busctl's view of the schemas on the bus: what a name serves
 * (Introspect) and the FileDescriptorSets behind it (GetSchema), loaded
 * into one bus_schema_t for libbus-json's codec, which checks each set.
 * Peers decide what there is to fetch, so busctl bounds it: each schema
 * (busd names them by a hash of their content) is fetched once, and at
 * most --max-schema-bytes and SCHEMAS_MAX of them in all; listen and
 * monitor look again for a type nobody described at most once a second,
 * and for the same type not again before 30 s or a change of name owner. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "busctl.h"
#include "bus.pb-c.h"

#define SCHEMAS_MAX 4096          /* schemas fetched in one run */
#define RELOAD_USEC 1000000u      /* between two looks at the whole bus */
#define MISS_USEC 30000000u       /* before a type missed is looked for again */
#define MISSES 256                /* types missed, remembered */

#define ID_MAX 72                 /* busd's ids have 64 hex digits (SHA-256) */

struct fetched {
	char id[ID_MAX];
	int refused;
};

struct miss {
	char *type;
	uint64_t at;
};

struct schemas {
	struct busctl *ctl;
	bus_t *query;
	bus_schema_t *s;
	struct fetched *ids;  /* sorted by id */
	size_t n_ids;
	uint64_t bytes;       /* of schemas fetched */
	int full;             /* the limits are reached (said once) */
	uint64_t loaded_at;   /* the last look at the whole bus */
	struct miss misses[MISSES];
	unsigned n_misses;
};

ProtobufCMessage *busctl_control(bus_t *bus, struct busctl *ctl, const char *method,
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
	int r = bus_call(bus, BUS_NAME, bus__bus__descriptor.name, method, req->descriptor->name,
			 body, len, ctl->timeout_usec, err, &rep, &rlen);
	free(body);
	if (r < 0)
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(rd, NULL, rlen, rep);
	free(rep);
	if (!m)
		bus_error_set(err, BUS_ERROR_FAILED, "busd's %s reply does not parse", method);
	return m;
}

extern const unsigned char proto_bus_fds[];
extern const size_t proto_bus_fds_len;

struct schemas *schemas_new(struct busctl *ctl, bus_t *query)
{
	struct schemas *sc = calloc(1, sizeof(*sc));

	if (!sc || bus_schema_new(&sc->s) < 0) {
		free(sc);
		return NULL;
	}
	sc->ctl = ctl;
	sc->query = query;
	/* busd's own bus.proto, linked in: bus.* control traffic decodes too */
	bus_schema_add(sc->s, proto_bus_fds, proto_bus_fds_len, NULL);
	return sc;
}

void schemas_free(struct schemas *sc)
{
	if (!sc)
		return;
	bus_schema_free(sc->s);
	free(sc->ids);
	for (unsigned i = 0; i < MISSES; i++)
		free(sc->misses[i].type);
	free(sc);
}

const bus_schema_t *schemas_get(const struct schemas *sc)
{
	return sc->s;
}

/* ---------------------------------------------------------------- fetching */

static struct fetched *find_id(struct schemas *sc, const char *id, size_t *at)
{
	size_t lo = 0, hi = sc->n_ids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, sc->ids[mid].id);
		if (c == 0)
			return &sc->ids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*at = lo;
	return NULL;
}

/* Fetch and load schema id of peer who, unless it was fetched before.
 * strict (introspect, call): a refused schema or the limits are an error
 * (-EINVAL, -E2BIG with err). Otherwise (listen, monitor, emit, decode)
 * they are said once on stderr and busctl goes on without the schema. */
static int fetch(struct schemas *sc, const char *id, const char *who, int strict, bus_error_t *err)
{
	size_t at = 0;

	if (strlen(id) >= ID_MAX)
		return 0; /* not one of busd's */
	struct fetched *known = find_id(sc, id, &at);
	if (known && known->refused && strict) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "schema %s of %s was refused", id, who);
		return -EINVAL;
	}
	if (known)
		return 0;
	if (sc->n_ids >= SCHEMAS_MAX || sc->bytes >= sc->ctl->max_schema_bytes) {
		if (strict) {
			bus_error_set(err, BUS_ERROR_LIMITS_EXCEEDED, "the schemas of %s pass busctl's "
				      "limits (--max-schema-bytes %llu, %d schemas)", who,
				      (unsigned long long)sc->ctl->max_schema_bytes, SCHEMAS_MAX);
			return -E2BIG;
		}
		if (!sc->full)
			warn("fetched %llu bytes in %zu schemas, busctl's limits (--max-schema-bytes "
			     "%llu, %d schemas): fetching no more", (unsigned long long)sc->bytes,
			     sc->n_ids, (unsigned long long)sc->ctl->max_schema_bytes, SCHEMAS_MAX);
		sc->full = 1;
		return 0;
	}
	if (!(sc->n_ids % 64)) {
		struct fetched *ids = realloc(sc->ids, (sc->n_ids + 64) * sizeof(*ids));
		if (!ids) {
			bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
			return -ENOMEM;
		}
		sc->ids = ids;
	}
	Bus__GetSchemaRequest req = BUS__GET_SCHEMA_REQUEST__INIT;
	req.id = (char *)id;
	Bus__GetSchemaReply *rep = (Bus__GetSchemaReply *)busctl_control(
		sc->query, sc->ctl, "GetSchema", &req.base, &bus__get_schema_reply__descriptor, err);
	if (!rep)
		return bus_error_has_name(err, BUS_ERROR_UNKNOWN_SCHEMA) && !strict ? 0 : -EREMOTE;
	memmove(&sc->ids[at + 1], &sc->ids[at], (sc->n_ids - at) * sizeof(*sc->ids));
	struct fetched *f = &sc->ids[at];
	sc->n_ids++;
	snprintf(f->id, sizeof(f->id), "%s", id);
	sc->bytes += rep->file_descriptor_set.len;
	bus_error_t why;
	f->refused = bus_schema_add(sc->s, rep->file_descriptor_set.data,
				    rep->file_descriptor_set.len, &why) < 0;
	bus__get_schema_reply__free_unpacked(rep, NULL);
	if (f->refused && strict) {
		bus_error_set(err, why.name, "schema %s of %s refused: %s", id, who, why.message);
		return -EINVAL;
	}
	if (f->refused)
		warn("ignoring schema %s of %s: %s", id, who, why.message);
	return 0;
}

static Bus__IntrospectReply *introspect(struct schemas *sc, const char *name, bus_error_t *err)
{
	Bus__IntrospectRequest req = BUS__INTROSPECT_REQUEST__INIT;

	req.name = (char *)name;
	return (Bus__IntrospectReply *)busctl_control(sc->query, sc->ctl, "Introspect", &req.base,
						      &bus__introspect_reply__descriptor, err);
}

/* A well-known name without an owner may be declared by a service busd
 * starts on demand: a bus.Peer.Ping to the name (which every libbus
 * program answers) is held by busd until the service owns it, or answered
 * with why it cannot start. Returns 1 when the name has an owner now; 0
 * (err as it was: nobody declares the name) or -1 (err says why the
 * service did not come, or busd or libbus refused the ping) otherwise. */
static int activate(struct schemas *sc, const char *name, bus_error_t *err)
{
	/* bus.Empty: no bytes */
	static const uint8_t none[1];
	bus_error_t e;
	void *rep = NULL;
	size_t len = 0;

	if (name[0] == ':' || !bus_error_has_name(err, BUS_ERROR_NAME_HAS_NO_OWNER))
		return 0;
	if (bus_call(sc->query, name, "bus.Peer", "Ping", "bus.Empty", none, 0,
		     sc->ctl->timeout_usec, &e, &rep, &len) == 0) {
		free(rep);
		return 1;
	}
	if (bus_error_has_name(&e, BUS_ERROR_NAME_HAS_NO_OWNER))
		return 0;
	/* An error from the program itself (one without libbus that knows no
	 * bus.Peer) still means the name has an owner now. */
	if (strncmp(e.name, "bus.Error.", 10) == 0 &&
	    !bus_error_has_name(&e, BUS_ERROR_UNKNOWN_INTERFACE) &&
	    !bus_error_has_name(&e, BUS_ERROR_UNKNOWN_METHOD)) {
		*err = e;
		return -1;
	}
	return 1;
}

int schemas_introspect(struct schemas *sc, const char *name, struct introspection *out,
		       bus_error_t *err)
{
	memset(out, 0, sizeof(*out));
	Bus__IntrospectReply *rep = introspect(sc, name, err);
	if (!rep && activate(sc, name, err) == 1)
		rep = introspect(sc, name, err);
	if (!rep)
		return -EREMOTE;
	int r = 0;
	for (size_t i = 0; r == 0 && i < rep->n_schema_ids; i++)
		r = fetch(sc, rep->schema_ids[i], rep->unique_name, 1, err);
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

int schemas_load_all(struct schemas *sc, bus_error_t *err)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	Bus__ListNamesReply *names = (Bus__ListNamesReply *)busctl_control(
		sc->query, sc->ctl, "ListNames", &req.base, &bus__list_names_reply__descriptor, err);
	int r = 0;

	sc->loaded_at = mono_usec();
	if (!names)
		return -EREMOTE;
	for (size_t i = 0; i < names->n_peers && r == 0; i++) {
		const Bus__PeerInfo *p = names->peers[i];
		bus_error_t e;
		Bus__IntrospectReply *in = introspect(sc, p->unique_name, &e);
		if (!in) {
			/* A peer may leave between the two calls: skip it, not fail. */
			if (!bus_error_has_name(&e, BUS_ERROR_NAME_HAS_NO_OWNER)) {
				if (err)
					*err = e;
				r = -EREMOTE;
			}
			continue;
		}
		char who[96];
		snprintf(who, sizeof(who), "%s (pid %u, %s)", p->unique_name, p->pid,
			 p->comm[0] ? p->comm : "-");
		for (size_t k = 0; k < in->n_schema_ids && r == 0; k++)
			r = fetch(sc, in->schema_ids[k], who, 0, err);
		bus__introspect_reply__free_unpacked(in, NULL);
	}
	bus__list_names_reply__free_unpacked(names, NULL);
	return r;
}

/* ---------------------------------------------------------------- streams */

static struct miss *missed(struct schemas *sc, const char *type)
{
	for (unsigned i = 0; i < MISSES; i++)
		if (sc->misses[i].type && strcmp(sc->misses[i].type, type) == 0)
			return &sc->misses[i];
	return NULL;
}

int schemas_has_type(struct schemas *sc, const char *type)
{
	if (bus_schema_has_type(sc->s, type))
		return 1;
	if (!sc->query)
		return 0;
	uint64_t now = mono_usec();
	struct miss *m = missed(sc, type);
	if ((m && now - m->at < MISS_USEC) || now - sc->loaded_at < RELOAD_USEC)
		return 0;
	bus_error_t err;
	schemas_load_all(sc, &err); /* best effort: what it could load helps */
	if (bus_schema_has_type(sc->s, type))
		return 1;
	if (!m) {
		m = &sc->misses[sc->n_misses++ % MISSES];
		free(m->type);
		m->type = strdup(type);
	}
	m->at = now;
	return 0;
}

void schemas_bus_changed(struct schemas *sc)
{
	for (unsigned i = 0; i < MISSES; i++) {
		free(sc->misses[i].type);
		sc->misses[i].type = NULL;
	}
}
