/* hash.h - a chained hash table keyed by byte strings, values are pointers.
 * Keys are copied on insert; lookups never allocate. Used for names, peers
 * by unique id, subscription patterns, uids and schemas. */
#ifndef BUSD_HASH_H
#define BUSD_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct hash hash;

/* A new table, or NULL (out of memory, or no random key could be drawn).
 * The first call draws the process's hash key (see hash_bytes). */
hash *hash_new(void);
/* Free the table; free_value (may be NULL) is called for every value. */
void hash_free(hash *h, void (*free_value)(void *value));

void *hash_get(const hash *h, const void *key, size_t len);
/* Insert or replace. Returns 0 or -ENOMEM; replacing never allocates. */
int hash_put(hash *h, const void *key, size_t len, void *value);
/* Remove key; returns its value or NULL if absent. */
void *hash_remove(hash *h, const void *key, size_t len);
size_t hash_count(const hash *h);

/* Visit every entry. fn must not insert or remove entries. */
typedef void (*hash_fn)(const void *key, size_t len, void *value, void *userdata);
void hash_foreach(const hash *h, hash_fn fn, void *userdata);

/* SipHash-2-4 of key under a random key drawn once per process, by the
 * first hash_new(): peers choose names, topics and serials, and must not be
 * able to choose them so that they all land in one bucket. Valid once a
 * table exists (busd makes its tables at start). */
uint64_t hash_bytes(const void *key, size_t len);

/* The shape of a table, for tests and diagnostics: entries, buckets, and
 * the longest chain a lookup may walk. */
struct hash_stats {
	size_t count, buckets, longest;
};
void hash_stats(const hash *h, struct hash_stats *st);

#endif
