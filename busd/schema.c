/* schema.c - schemas by content (one copy per distinct FileDescriptorSet,
 * found by its SHA-256, freed with the last peer that added it), busd's own
 * schema (bus.proto, linked in), and the per-peer list of exported (name,
 * service) pairs. */
#include "config.h"

#include "schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "peer.h"
#include "sha256.h"

_Static_assert(SCHEMA_ID_LEN == SHA256_HEX_LEN, "a schema id is a SHA-256 in hex");

struct schema {
	unsigned char digest[SHA256_LEN];
	char id[SCHEMA_ID_LEN + 1];
	uint8_t *data;
	size_t len;
	unsigned refs;
};

/* One schema a peer added: its share, charged to it. */
struct peer_schema {
	struct peer_schema *next;
	struct schema *schema;
	struct charge charge;
};

struct peer_export {
	struct peer_export *next;
	char *name;
	char *service;
	struct charge charge;
};

/* bus.proto's FileDescriptorSet, made by the build (proto/bus.fds.c). */
extern const unsigned char proto_bus_fds[];
extern const size_t proto_bus_fds_len;

struct schema_store {
	hash *by_id; /* SHA-256 digest -> struct schema */
	/* busd's own: outside the table, so no peer's coming or going, adding
	 * or charge touches it. */
	unsigned char own_digest[SHA256_LEN];
	char own_id[SCHEMA_ID_LEN + 1];
};

struct schema_store *schema_store_new(void)
{
	struct schema_store *s = calloc(1, sizeof(*s));
	if (s && !(s->by_id = hash_new())) {
		free(s);
		return NULL;
	}
	if (s) {
		sha256(s->own_digest, proto_bus_fds, proto_bus_fds_len);
		sha256_hex(s->own_id, s->own_digest);
	}
	return s;
}

const char *schema_own_id(const struct schema_store *s)
{
	return s->own_id;
}

static void schema_free(void *v)
{
	struct schema *sc = v;
	free(sc->data);
	free(sc);
}

void schema_store_free(struct schema_store *s)
{
	if (!s)
		return;
	hash_free(s->by_id, schema_free);
	free(s);
}

int schema_add(struct schema_store *s, struct peer *p, const uint8_t *data, size_t len,
	       char id[SCHEMA_ID_LEN + 1], int *known)
{
	unsigned char digest[SHA256_LEN];

	sha256(digest, data, len);
	sha256_hex(id, digest);
	struct schema *sc = hash_get(s->by_id, digest, sizeof(digest));
	/* The bytes decide, not the digest alone. */
	if (sc && (sc->len != len || memcmp(sc->data, data, len) != 0))
		return SCHEMA_E_COLLISION;
	*known = sc != NULL || memcmp(digest, s->own_digest, sizeof(digest)) == 0;
	if (sc)
		for (struct peer_schema *ps = p->schemas; ps; ps = ps->next)
			if (ps->schema == sc)
				return 0; /* this peer has it already */
	struct charge charge = { 0 };
	int r = charge_take(&charge, &p->acct, p->user, CHARGE_SCHEMA, len);
	if (r)
		return r == CHARGE_E_PEER ? SCHEMA_E_PEER_LIMIT : SCHEMA_E_USER_LIMIT;
	struct peer_schema *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		charge_release(&charge);
		return -ENOMEM;
	}
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc || !(sc->data = malloc(len ? len : 1)) ||
		    hash_put(s->by_id, digest, sizeof(digest), sc) < 0) {
			if (sc)
				free(sc->data);
			free(sc);
			free(ps);
			charge_release(&charge);
			return -ENOMEM;
		}
		memcpy(sc->data, data, len);
		sc->len = len;
		memcpy(sc->digest, digest, sizeof(digest));
		memcpy(sc->id, id, SCHEMA_ID_LEN + 1);
	}
	sc->refs++;
	ps->schema = sc;
	ps->charge = charge;
	ps->next = p->schemas;
	p->schemas = ps;
	return 0;
}

const uint8_t *schema_get(const struct schema_store *s, const char *id, size_t *len)
{
	unsigned char digest[SHA256_LEN];

	if (sha256_unhex(digest, id) < 0)
		return NULL;
	if (memcmp(digest, s->own_digest, sizeof(digest)) == 0) {
		*len = proto_bus_fds_len;
		return proto_bus_fds;
	}
	struct schema *sc = hash_get(s->by_id, digest, sizeof(digest));
	if (!sc)
		return NULL;
	*len = sc->len;
	return sc->data;
}

static void export_free(struct peer_export *e)
{
	charge_release(&e->charge);
	free(e->name);
	free(e->service);
	free(e);
}

int schema_export(struct peer *p, const char *name, const char *service, int remove)
{
	struct peer_export **pe;

	for (pe = &p->exports; *pe; pe = &(*pe)->next)
		if (strcmp((*pe)->name, name) == 0 && strcmp((*pe)->service, service) == 0)
			break;
	if (remove) {
		struct peer_export *e = *pe;
		if (!e)
			return SCHEMA_E_NOT_EXPORTED;
		*pe = e->next;
		export_free(e);
		return 0;
	}
	if (*pe)
		return 0;
	struct peer_export *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int r = charge_take(&e->charge, &p->acct, p->user, CHARGE_EXPORTS, 1);
	if (r) {
		free(e);
		return r == CHARGE_E_PEER ? SCHEMA_E_PEER_LIMIT : SCHEMA_E_USER_LIMIT;
	}
	if (!(e->name = strdup(name)) || !(e->service = strdup(service))) {
		export_free(e);
		return -ENOMEM;
	}
	*pe = e; /* at the end: Introspect lists services in export order */
	return 0;
}

void schema_each_service(const struct peer *p, const char *name,
			 void (*fn)(const char *service, void *ud), void *ud)
{
	int all = strcmp(name, p->unique) == 0;

	for (const struct peer_export *e = p->exports; e; e = e->next)
		if (all || !e->name[0] || strcmp(e->name, name) == 0)
			fn(e->service, ud);
}

void schema_each_id(const struct peer *p, void (*fn)(const char *id, void *ud), void *ud)
{
	for (const struct peer_schema *ps = p->schemas; ps; ps = ps->next)
		fn(ps->schema->id, ud);
}

void schema_peer_gone(struct schema_store *s, struct peer *p)
{
	while (p->schemas) {
		struct peer_schema *ps = p->schemas;
		p->schemas = ps->next;
		if (--ps->schema->refs == 0) {
			hash_remove(s->by_id, ps->schema->digest, sizeof(ps->schema->digest));
			schema_free(ps->schema);
		}
		charge_release(&ps->charge);
		free(ps);
	}
	while (p->exports) {
		struct peer_export *e = p->exports;
		p->exports = e->next;
		export_free(e);
	}
}
