/* match.h - event subscriptions: patterns ("a.b.c", "a.b.*", "*") mapped to
 * subscribers (opaque owners). Delivery looks up the exact topic, each of its
 * dotted prefixes followed by ".*", and "*": O(depth) hash lookups, never a
 * scan of all subscriptions. */
#ifndef BUSD_MATCH_H
#define BUSD_MATCH_H

#include <stddef.h>

#include "charge.h"

struct match;

enum {
	MATCH_E_INVALID = 1,   /* not a valid pattern */
	MATCH_E_NOT_FOUND,     /* unsubscribe of a pattern the owner lacks */
	MATCH_E_EXISTS,        /* subscribe of a pattern the owner has */
};

struct match *match_new(void);
void match_free(struct match *m);
/* charge (may be NULL) is what the subscription costs its owner: on
 * success it moves into the subscription (and *charge is left empty),
 * released with it. Returns 0, MATCH_E_EXISTS, MATCH_E_INVALID or -ENOMEM. */
int match_subscribe(struct match *m, void *owner, const char *pattern, size_t len,
		    struct charge *charge);
/* Returns 0, MATCH_E_NOT_FOUND or MATCH_E_INVALID. */
int match_unsubscribe(struct match *m, void *owner, const char *pattern, size_t len);
/* 1 if owner is subscribed to exactly this pattern. */
int match_has(const struct match *m, void *owner, const char *pattern, size_t len);
/* Drop every subscription of owner. */
void match_remove_owner(struct match *m, void *owner);
/* Call fn for each subscription matching topic; an owner with several
 * matching patterns is passed once per pattern (the caller de-duplicates). */
typedef void (*match_fn)(void *owner, void *userdata);
void match_topic(const struct match *m, const char *topic, size_t len, match_fn fn, void *userdata);
size_t match_count(const struct match *m);
/* Drop every subscription for which keep(owner, pattern, len, userdata)
 * returns 0 (after a policy change). */
typedef int (*match_keep_fn)(void *owner, const char *pattern, size_t len, void *userdata);
void match_filter(struct match *m, match_keep_fn keep, void *userdata);

#endif
