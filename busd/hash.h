/* hash.h - a chained hash table keyed by byte strings, values are pointers.
 * Keys are copied on insert; lookups never allocate. Used for names, peers
 * by unique id and subscription patterns. */
#ifndef BUSD_HASH_H
#define BUSD_HASH_H

#include <stddef.h>
#include <stdint.h>

typedef struct hash hash;

hash *hash_new(void);
/* Free the table; free_value (may be NULL) is called for every value. */
void hash_free(hash *h, void (*free_value)(void *value));

void *hash_get(const hash *h, const void *key, size_t len);
/* Insert or replace. Returns 0 or -ENOMEM. */
int hash_put(hash *h, const void *key, size_t len, void *value);
/* Remove key; returns its value or NULL if absent. */
void *hash_remove(hash *h, const void *key, size_t len);
size_t hash_count(const hash *h);

/* Visit every entry. fn must not insert or remove entries. */
typedef void (*hash_fn)(const void *key, size_t len, void *value, void *userdata);
void hash_foreach(const hash *h, hash_fn fn, void *userdata);

uint64_t hash_bytes(const void *key, size_t len);

#endif
