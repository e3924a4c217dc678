/* hash.c - chained hash table with keyed SipHash-2-4 (siphash.c); the bucket array doubles when the load passes 1, so
 * lookups stay O(1) whatever keys a peer picks. */
#include "hash.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "siphash.h"

struct entry {
	struct entry *next;
	uint64_t hv;
	void *value;
	size_t len;
	unsigned char key[];
};

struct hash {
	struct entry **buckets;
	size_t n_buckets; /* power of two */
	size_t count;
};

static unsigned char hash_key[SIPHASH_KEY_LEN];
static int hash_keyed;

/* Draw the process's key from the kernel's random source. */
static int key_draw(void)
{
	if (hash_keyed)
		return 0;
	int r = siphash_random_key(hash_key, sizeof(hash_key));
	if (r < 0)
		return r;
	hash_keyed = 1;
	return 0;
}

uint64_t hash_bytes(const void *key, size_t len)
{
	return siphash24(hash_key, key, len);
}

hash *hash_new(void)
{
	if (key_draw() < 0)
		return NULL;
	hash *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->n_buckets = 16;
	h->buckets = calloc(h->n_buckets, sizeof(*h->buckets));
	if (!h->buckets) {
		free(h);
		return NULL;
	}
	return h;
}

void hash_free(hash *h, void (*free_value)(void *value))
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n_buckets; i++) {
		struct entry *e = h->buckets[i];
		while (e) {
			struct entry *next = e->next;
			if (free_value)
				free_value(e->value);
			free(e);
			e = next;
		}
	}
	free(h->buckets);
	free(h);
}

static struct entry **find(const hash *h, const void *key, size_t len, uint64_t hv)
{
	struct entry **pp = &h->buckets[hv & (h->n_buckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hv == hv && (*pp)->len == len && memcmp((*pp)->key, key, len) == 0)
			break;
	return pp;
}

void *hash_get(const hash *h, const void *key, size_t len)
{
	struct entry *e = *find(h, key, len, hash_bytes(key, len));
	return e ? e->value : NULL;
}

static void grow(hash *h)
{
	size_t n = h->n_buckets * 2;
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* stay correct, only slower */
	for (size_t i = 0; i < h->n_buckets; i++) {
		struct entry *e = h->buckets[i];
		while (e) {
			struct entry *next = e->next;
			e->next = b[e->hv & (n - 1)];
			b[e->hv & (n - 1)] = e;
			e = next;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->n_buckets = n;
}

int hash_put(hash *h, const void *key, size_t len, void *value)
{
	uint64_t hv = hash_bytes(key, len);
	struct entry **pp = find(h, key, len, hv);
	if (*pp) {
		(*pp)->value = value;
		return 0;
	}
	struct entry *e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->next = NULL;
	e->hv = hv;
	e->value = value;
	e->len = len;
	memcpy(e->key, key, len);
	*pp = e;
	if (++h->count > h->n_buckets)
		grow(h);
	return 0;
}

void *hash_remove(hash *h, const void *key, size_t len)
{
	struct entry **pp = find(h, key, len, hash_bytes(key, len));
	struct entry *e = *pp;
	if (!e)
		return NULL;
	void *value = e->value;
	*pp = e->next;
	free(e);
	h->count--;
	return value;
}

size_t hash_count(const hash *h)
{
	return h->count;
}

void hash_foreach(const hash *h, hash_fn fn, void *userdata)
{
	for (size_t i = 0; i < h->n_buckets; i++)
		for (struct entry *e = h->buckets[i]; e; e = e->next)
			fn(e->key, e->len, e->value, userdata);
}

void hash_stats(const hash *h, struct hash_stats *st)
{
	st->count = h->count;
	st->buckets = h->n_buckets;
	st->longest = 0;
	for (size_t i = 0; i < h->n_buckets; i++) {
		size_t n = 0;
		for (const struct entry *e = h->buckets[i]; e; e = e->next)
			n++;
		if (n > st->longest)
			st->longest = n;
	}
}
