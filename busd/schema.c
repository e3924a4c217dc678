/* schema.c - schemas by content (one copy per distinct FileDescriptorSet,
 * found by its SHA-256, freed with the last peer that added it), busd's own
 * schema (bus.proto, linked in), the per-peer list of exported (name,
 * service) pairs, and an index of each set's methods with their
 * idempotency level, read once when the set is added. */
#include "config.h"

#include "schema.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "peer.h"
#include "sha256.h"

_Static_assert(SCHEMA_ID_LEN == SHA256_HEX_LEN, "a schema id is a SHA-256 in hex");

/* One method of a set: its names are views into the set's bytes. */
struct schema_method {
	uint32_t pkg_off, svc_off, m_off;
	uint16_t pkg_len, svc_len, m_len;
	uint8_t level;               /* SCHEMA_* idempotency level */
};

struct schema {
	unsigned char digest[SHA256_LEN];
	char id[SCHEMA_ID_LEN + 1];
	uint8_t *data;
	size_t len;
	unsigned refs;
	struct schema_method *methods; /* sorted by method name */
	size_t n_methods;
};

/* What a peer's share of sc is charged: its bytes and its method index. */
static uint64_t schema_cost(const struct schema *sc)
{
	return sc->len + sc->n_methods * sizeof(struct schema_method);
}

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
	free(sc->methods);
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

/* ---- the method index: a walk over the protobuf encoding of the set ---- */

/* The fields of descriptor.proto that say which method is safe to repeat. */
enum {
	FDSET_FILE = 1,        /* FileDescriptorSet.file */
	FILE_PACKAGE = 2,      /* FileDescriptorProto.package */
	FILE_SERVICE = 6,      /* FileDescriptorProto.service */
	SERVICE_NAME = 1,      /* ServiceDescriptorProto.name */
	SERVICE_METHOD = 2,    /* ServiceDescriptorProto.method */
	METHOD_NAME = 1,       /* MethodDescriptorProto.name */
	METHOD_OPTIONS = 4,    /* MethodDescriptorProto.options */
	OPTIONS_IDEMPOTENCY = 34, /* MethodOptions.idempotency_level */
};

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* A message being read: the bytes not read yet. */
struct pb {
	const uint8_t *p, *end;
};

static int pb_varint(struct pb *m, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (m->p == m->end)
			return -1;
		uint8_t byte = *m->p++;
		*v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return 0;
	}
	return -1;
}

/* The next field of m: its number and wire type, its value (PB_VARINT) or
 * its bytes (PB_LEN). Returns 1, 0 at the end, -1 when malformed (a length
 * past the end, a group, an unknown wire type, a varint over 10 bytes). */
static int pb_next(struct pb *m, uint32_t *field, int *type, uint64_t *v, struct pb *sub)
{
	uint64_t key, n;

	if (m->p == m->end)
		return 0;
	if (pb_varint(m, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
		return -1;
	*field = (uint32_t)(key >> 3);
	*type = (int)(key & 7);
	switch (*type) {
	case PB_VARINT:
		return pb_varint(m, v) < 0 ? -1 : 1;
	case PB_I64:
		n = 8;
		break;
	case PB_I32:
		n = 4;
		break;
	case PB_LEN:
		if (pb_varint(m, &n) < 0)
			return -1;
		break;
	default:
		return -1;
	}
	if (n > (uint64_t)(m->end - m->p))
		return -1;
	if (sub)
		*sub = (struct pb){ m->p, m->p + n };
	m->p += n;
	return 1;
}

/* The bytes of the last field number want (PB_LEN) in m: protobuf lets a
 * field come in any order and the last one win. 0, or -1 when malformed. */
static int pb_last_bytes(struct pb m, uint32_t want, struct pb *out)
{
	struct pb sub;
	uint32_t f;
	int t, r;
	uint64_t v;

	*out = (struct pb){ NULL, NULL };
	while ((r = pb_next(&m, &f, &t, &v, &sub)) > 0)
		if (f == want && t == PB_LEN)
			*out = sub;
	return r;
}

struct indexer {
	const uint8_t *base;
	struct schema_method *v;
	size_t n, cap;
};

static int index_method(struct indexer *ix, struct pb pkg, struct pb svc, struct pb method)
{
	struct pb name, opts, sub;
	uint32_t f;
	int t, r;
	uint64_t v, level = 0;

	if (pb_last_bytes(method, METHOD_NAME, &name) < 0 || pb_last_bytes(method, METHOD_OPTIONS,
									    &opts) < 0)
		return -1;
	while (opts.p && (r = pb_next(&opts, &f, &t, &v, &sub)) != 0) {
		if (r < 0)
			return -1;
		if (f == OPTIONS_IDEMPOTENCY && t == PB_VARINT)
			level = v;
	}
	/* A method without a name cannot be called; one whose names are
	 * longer than any busd compares is left out, hence never safe. */
	size_t pl = (size_t)(pkg.end - pkg.p), sl = (size_t)(svc.end - svc.p),
	       ml = (size_t)(name.end - name.p);
	if (!name.p || !ml || !svc.p || pl > UINT16_MAX || sl > UINT16_MAX || ml > UINT16_MAX)
		return 0;
	if (ix->n == ix->cap) {
		size_t cap = ix->cap ? ix->cap * 2 : 8;
		struct schema_method *nv = realloc(ix->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		ix->v = nv;
		ix->cap = cap;
	}
	ix->v[ix->n++] = (struct schema_method){
		.pkg_off = pkg.p ? (uint32_t)(pkg.p - ix->base) : 0,
		.svc_off = (uint32_t)(svc.p - ix->base),
		.m_off = (uint32_t)(name.p - ix->base),
		.pkg_len = (uint16_t)pl, .svc_len = (uint16_t)sl, .m_len = (uint16_t)ml,
		.level = level == SCHEMA_NO_SIDE_EFFECTS || level == SCHEMA_IDEMPOTENT
				 ? (uint8_t)level : SCHEMA_UNMARKED,
	};
	return 0;
}

static int index_file(struct indexer *ix, struct pb file)
{
	struct pb pkg, svc, svc_name, method, walk = file;
	uint32_t f;
	int t, r;
	uint64_t v;

	if (pb_last_bytes(file, FILE_PACKAGE, &pkg) < 0)
		return -1;
	while ((r = pb_next(&walk, &f, &t, &v, &svc)) > 0) {
		if (f != FILE_SERVICE || t != PB_LEN)
			continue;
		if (pb_last_bytes(svc, SERVICE_NAME, &svc_name) < 0)
			return -1;
		while ((r = pb_next(&svc, &f, &t, &v, &method)) > 0)
			if (f == SERVICE_METHOD && t == PB_LEN &&
			    (r = index_method(ix, pkg, svc_name, method)) < 0)
				return r;
		if (r < 0)
			return -1;
	}
	return r;
}

static const struct schema *sort_schema; /* qsort has no user data */

static int method_cmp(const void *a, const void *b)
{
	const struct schema_method *x = a, *y = b;
	size_t n = x->m_len < y->m_len ? x->m_len : y->m_len;
	int c = memcmp(sort_schema->data + x->m_off, sort_schema->data + y->m_off, n);
	return c ? c : (int)x->m_len - (int)y->m_len;
}

/* Index sc's methods, sorted by name. A set that is not a well-formed
 * FileDescriptorSet gets no index: none of its methods is safe to repeat.
 * Returns 0 or -ENOMEM. */
static int schema_index(struct schema *sc)
{
	struct indexer ix = { sc->data, NULL, 0, 0 };
	struct pb set = { sc->data, sc->data + sc->len }, file;
	uint32_t f;
	int t, r;
	uint64_t v;

	while ((r = pb_next(&set, &f, &t, &v, &file)) > 0)
		if (f == FDSET_FILE && t == PB_LEN && (r = index_file(&ix, file)) < 0)
			break;
	if (r == -ENOMEM) {
		free(ix.v);
		return -ENOMEM;
	}
	if (r < 0) {
		free(ix.v);
		return 0;
	}
	sort_schema = sc;
	if (ix.n > 1)
		qsort(ix.v, ix.n, sizeof(*ix.v), method_cmp);
	sc->methods = ix.v;
	sc->n_methods = ix.n;
	return 0;
}

int schema_add(struct schema_store *s, struct peer *p, const uint8_t *data, size_t len,
	       char id[SCHEMA_ID_LEN + 1], int *known)
{
	unsigned char digest[SHA256_LEN];
	struct schema *fresh = NULL;

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
	if (!sc) {
		/* Indexed before it is charged: the index is part of its cost. */
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh || !(fresh->data = malloc(len ? len : 1))) {
			free(fresh);
			return -ENOMEM;
		}
		memcpy(fresh->data, data, len);
		fresh->len = len;
		memcpy(fresh->digest, digest, sizeof(digest));
		memcpy(fresh->id, id, SCHEMA_ID_LEN + 1);
		if (schema_index(fresh) < 0) {
			schema_free(fresh);
			return -ENOMEM;
		}
		sc = fresh;
	}
	struct charge charge = { 0 };
	int r = charge_take(&charge, &p->acct, p->user, CHARGE_SCHEMA, schema_cost(sc));
	if (r) {
		if (fresh)
			schema_free(fresh);
		return r == CHARGE_E_PEER ? SCHEMA_E_PEER_LIMIT : SCHEMA_E_USER_LIMIT;
	}
	struct peer_schema *ps = calloc(1, sizeof(*ps));
	if (!ps || (fresh && hash_put(s->by_id, digest, sizeof(digest), fresh) < 0)) {
		free(ps);
		if (fresh)
			schema_free(fresh);
		charge_release(&charge);
		return -ENOMEM;
	}
	sc->refs++;
	ps->schema = sc;
	ps->charge = charge;
	ps->next = p->schemas;
	p->schemas = ps;
	return 0;
}

/* Whether method m of sc belongs to the service of full name (package.Service). */
static int service_is(const struct schema *sc, const struct schema_method *m, const char *name,
		      size_t len)
{
	const char *pkg = (const char *)sc->data + m->pkg_off;
	const char *svc = (const char *)sc->data + m->svc_off;

	if (!m->pkg_len)
		return len == m->svc_len && memcmp(name, svc, len) == 0;
	return len == (size_t)m->pkg_len + 1 + m->svc_len && memcmp(name, pkg, m->pkg_len) == 0 &&
	       name[m->pkg_len] == '.' && memcmp(name + m->pkg_len + 1, svc, m->svc_len) == 0;
}

/* The first of sc's methods named member (len bytes), or n_methods. */
static size_t first_named(const struct schema *sc, const char *member, size_t len)
{
	size_t lo = 0, hi = sc->n_methods;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct schema_method *m = &sc->methods[mid];
		size_t n = m->m_len < len ? m->m_len : len;
		int c = memcmp(sc->data + m->m_off, member, n);
		if (c < 0 || (c == 0 && m->m_len < len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Every definition of service.member in p's schemas: how many, and
 * whether each is marked. */
static void definitions(const struct peer *p, const char *service, size_t slen, const char *member,
			size_t mlen, unsigned *found, int *unmarked)
{
	for (const struct peer_schema *ps = p->schemas; ps; ps = ps->next) {
		const struct schema *sc = ps->schema;
		for (size_t i = first_named(sc, member, mlen); i < sc->n_methods; i++) {
			const struct schema_method *m = &sc->methods[i];
			if (m->m_len != mlen || memcmp(sc->data + m->m_off, member, mlen) != 0)
				break;
			if (!service_is(sc, m, service, slen))
				continue;
			(*found)++;
			if (m->level == SCHEMA_UNMARKED)
				*unmarked = 1;
		}
	}
}

int schema_call_repeatable(const struct peer *p, const char *name, size_t name_len,
			   const char *interface, size_t iface_len, const char *member, size_t mlen)
{
	unsigned found = 0;
	int unmarked = 0;

	if (!mlen)
		return 0;
	if (iface_len) {
		definitions(p, interface, iface_len, member, mlen, &found, &unmarked);
		return found && !unmarked;
	}
	/* No interface: the one exported service that has the method decides. */
	const char *which = NULL;
	for (const struct peer_export *e = p->exports; e; e = e->next) {
		if (e->name[0] && (strlen(e->name) != name_len || memcmp(e->name, name, name_len)))
			continue;
		unsigned here = 0;
		definitions(p, e->service, strlen(e->service), member, mlen, &here, &unmarked);
		if (!here)
			continue;
		if (which && strcmp(which, e->service) != 0)
			return 0; /* two services have it: which one runs is not known */
		which = e->service;
		found += here;
	}
	return found && !unmarked;
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
