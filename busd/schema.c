/* schema.c - schemas by content (one copy per distinct FileDescriptorSet,
 * freed with the last peer that added it) and the per-peer list of exported
 * (name, service) pairs. */
#include "config.h"

#include "schema.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "peer.h"

struct schema {
	char id[SCHEMA_ID_LEN + 1];
	uint8_t *data;
	size_t len;
	unsigned refs;
};

/* One schema a peer added. */
struct peer_schema {
	struct peer_schema *next;
	struct schema *schema;
};

struct peer_export {
	struct peer_export *next;
	char *name;
	char *service;
};

struct schema_store {
	hash *by_id; /* id -> struct schema */
};

struct schema_store *schema_store_new(void)
{
	struct schema_store *s = calloc(1, sizeof(*s));
	if (s && !(s->by_id = hash_new())) {
		free(s);
		return NULL;
	}
	return s;
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
	       uint64_t max_bytes, char id[SCHEMA_ID_LEN + 1], int *known)
{
	snprintf(id, SCHEMA_ID_LEN + 1, "%016llx", (unsigned long long)hash_bytes(data, len));
	struct schema *sc = hash_get(s->by_id, id, SCHEMA_ID_LEN);
	/* A 64-bit hash can collide: the bytes decide. */
	if (sc && (sc->len != len || memcmp(sc->data, data, len) != 0))
		return -EEXIST;
	*known = sc != NULL;
	if (sc)
		for (struct peer_schema *ps = p->schemas; ps; ps = ps->next)
			if (ps->schema == sc)
				return 0; /* this peer has it already */
	if (p->schema_bytes + len > max_bytes)
		return -EDQUOT;
	struct peer_schema *ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	if (!sc) {
		sc = calloc(1, sizeof(*sc));
		if (!sc || !(sc->data = malloc(len ? len : 1)) ||
		    hash_put(s->by_id, id, SCHEMA_ID_LEN, sc) < 0) {
			if (sc)
				free(sc->data);
			free(sc);
			free(ps);
			return -ENOMEM;
		}
		memcpy(sc->data, data, len);
		sc->len = len;
		memcpy(sc->id, id, SCHEMA_ID_LEN + 1);
	}
	sc->refs++;
	ps->schema = sc;
	ps->next = p->schemas;
	p->schemas = ps;
	p->schema_bytes += len;
	return 0;
}

const uint8_t *schema_get(const struct schema_store *s, const char *id, size_t *len)
{
	if (strlen(id) != SCHEMA_ID_LEN)
		return NULL;
	struct schema *sc = hash_get(s->by_id, id, SCHEMA_ID_LEN);
	if (!sc)
		return NULL;
	*len = sc->len;
	return sc->data;
}

int schema_export(struct peer *p, const char *name, const char *service, int remove)
{
	struct peer_export **pe;
	unsigned n = 0;

	for (pe = &p->exports; *pe; pe = &(*pe)->next, n++)
		if (strcmp((*pe)->name, name) == 0 && strcmp((*pe)->service, service) == 0)
			break;
	if (remove) {
		struct peer_export *e = *pe;
		if (!e)
			return -ENOENT;
		*pe = e->next;
		free(e->name);
		free(e->service);
		free(e);
		return 0;
	}
	if (*pe)
		return 0;
	if (n >= SCHEMA_MAX_EXPORTS)
		return -ENOSPC;
	struct peer_export *e = calloc(1, sizeof(*e));
	if (!e || !(e->name = strdup(name)) || !(e->service = strdup(service))) {
		if (e)
			free(e->name);
		free(e);
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
			hash_remove(s->by_id, ps->schema->id, SCHEMA_ID_LEN);
			schema_free(ps->schema);
		}
		free(ps);
	}
	p->schema_bytes = 0;
	while (p->exports) {
		struct peer_export *e = p->exports;
		p->exports = e->next;
		free(e->name);
		free(e->service);
		free(e);
	}
}
