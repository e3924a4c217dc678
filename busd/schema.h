/* schema.h - the schemas peers upload (FileDescriptorSets, kept as opaque
 * bytes, one copy per distinct content, reference-counted by the peers that
 * added them), busd's own (bus.proto, built in: the schema of the control
 * service on the name "bus", owned by no peer), and which service each
 * peer exports under which name, for the control service's AddSchema,
 * GetSchema, Export and Introspect. busd reads one thing from a schema,
 * once when it is added: which methods declare themselves safe to repeat
 * (MethodOptions.idempotency_level), for re-sending calls to a supervised
 * service that crashed (hold.h). Everything else is for busctl and other
 * clients. */
#ifndef BUSD_SCHEMA_H
#define BUSD_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

struct peer;
struct schema_store;

/* A schema's id is the SHA-256 of its bytes in hex: nobody can make other
 * bytes that take a schema's id before it is added. */
#define SCHEMA_ID_LEN 64

/* Documented outcomes (positive); negative values are -errno. */
enum {
	SCHEMA_E_PEER_LIMIT = 1, /* the peer's own limit (limits.max_schema_bytes,
	                            limits.max_exports_per_peer) would be passed */
	SCHEMA_E_USER_LIMIT,     /* its uid's (the _per_uid limits) */
	SCHEMA_E_COLLISION,      /* other bytes have the same SHA-256 (never seen;
	                            the bytes are compared all the same) */
	SCHEMA_E_NOT_EXPORTED,   /* removing an export that is not there */
};

struct schema_store *schema_store_new(void);
void schema_store_free(struct schema_store *s);

/* Add a schema for p, charged to p and its uid (CHARGE_SCHEMA: its bytes
 * and 20 bytes per method it declares, the index of their idempotency) even
 * when another peer already added the same bytes. id receives its
 * NUL-terminated id, *known whether busd already had it. Adding the same
 * schema twice is a no-op. Returns 0, SCHEMA_E_PEER_LIMIT,
 * SCHEMA_E_USER_LIMIT, SCHEMA_E_COLLISION or -ENOMEM. */
int schema_add(struct schema_store *s, struct peer *p, const uint8_t *data, size_t len,
	       char id[SCHEMA_ID_LEN + 1], int *known);

/* MethodOptions.idempotency_level. */
enum { SCHEMA_UNMARKED = 0, SCHEMA_NO_SIDE_EFFECTS = 1, SCHEMA_IDEMPOTENT = 2 };

/* Whether a call p receives under name (name_len bytes) to member of
 * interface (the full service name, package.Service; iface_len 0 when the
 * caller gave none) is safe to deliver twice: every definition of the
 * method in p's schemas is marked NO_SIDE_EFFECTS or IDEMPOTENT. Without an
 * interface, exactly one of the services p exports under name may have a
 * method of that name. Schemas libbus makes from a service's descriptors
 * carry no options: a service marks its methods by adding its real set.
 * Uses the index made when each schema was added: no parsing. */
int schema_call_repeatable(const struct peer *p, const char *name, size_t name_len,
			   const char *interface, size_t iface_len, const char *member,
			   size_t mlen);

/* The id of busd's own schema (bus.proto's FileDescriptorSet, linked in).
 * GetSchema serves it like any other; it is charged to nobody and no peer
 * can remove or replace it (a peer may add the same bytes: that copy is
 * its own, charged to it, and changes nothing here). */
const char *schema_own_id(const struct schema_store *s);

/* The bytes of schema id (SCHEMA_ID_LEN hex digits, either case), busd's
 * own among them, or NULL. */
const uint8_t *schema_get(const struct schema_store *s, const char *id, size_t *len);

/* Record (or with remove, forget) that p serves service under name ("" for
 * every name it owns), charged as one CHARGE_EXPORTS. Returns 0,
 * SCHEMA_E_PEER_LIMIT, SCHEMA_E_USER_LIMIT, SCHEMA_E_NOT_EXPORTED (removing
 * what is not there) or -ENOMEM. */
int schema_export(struct peer *p, const char *name, const char *service, int remove);

/* The services p exports under name (name's exports and the "" ones; all
 * of them when name is p's unique id), and p's schema ids: each callback
 * is called once per item. */
void schema_each_service(const struct peer *p, const char *name,
			 void (*fn)(const char *service, void *ud), void *ud);
void schema_each_id(const struct peer *p, void (*fn)(const char *id, void *ud), void *ud);

/* p is going away: drop its references and exports. */
void schema_peer_gone(struct schema_store *s, struct peer *p);

#endif
