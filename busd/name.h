/* name.h - the registry of well-known names.
 *
 * Each name is owned exclusively by one owner (an opaque pointer, a peer in
 * busd). The registry copies name strings; lookups are O(1) hash lookups.
 * It knows nothing about peers or the wire, so it is unit-tested alone
 * (tests/test-name.c). */
#ifndef BUSD_NAME_H
#define BUSD_NAME_H

#include <stddef.h>

#include "charge.h"

typedef struct name_registry name_registry;

/* Documented outcomes (positive); negative values are -errno. */
enum {
	NAME_E_TAKEN = 1,     /* another owner holds the name */
	NAME_E_NOT_OWNER,     /* release of a name the caller does not own */
	NAME_E_INVALID,       /* not a valid well-known name (see wire_name_valid),
	                         a unique id (":N") or the reserved name "bus" */
	NAME_E_ALREADY_OWNER, /* request of a name the caller owns already */
};

name_registry *name_registry_new(void);
void name_registry_free(name_registry *r);

/* Give name (len bytes, need not be NUL-terminated) to owner. charge (may
 * be NULL) is what owning it costs the owner: on success it moves into the
 * name (and *charge is left empty), released when the name is. Returns 0,
 * NAME_E_TAKEN, NAME_E_ALREADY_OWNER, NAME_E_INVALID or -ENOMEM. */
int name_request(name_registry *r, const char *name, size_t len, void *owner,
		 struct charge *charge);

/* Take name from owner. Returns 0, NAME_E_NOT_OWNER or NAME_E_INVALID. */
int name_release(name_registry *r, const char *name, size_t len, void *owner);

/* The owner of name, or NULL if nobody owns it. */
void *name_lookup(const name_registry *r, const char *name, size_t len);

/* Release every name of owner, calling cb (may be NULL) for each one before
 * it is freed. Returns how many were released. */
typedef void (*name_fn)(const char *name, void *owner, void *userdata);
size_t name_release_all(name_registry *r, void *owner, name_fn cb, void *userdata);

/* Call cb for every name owned by owner (in no particular order). */
void name_foreach_owned(const name_registry *r, void *owner, name_fn cb, void *userdata);

/* Number of names owned in total, and by one owner. */
size_t name_count(const name_registry *r);
size_t name_count_owned(const name_registry *r, void *owner);

#endif
