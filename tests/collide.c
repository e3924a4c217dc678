/* collide.c - attack inputs for the hash tests (collide.h). FNV-1a works
 * byte by byte and the low k bits of its state depend only on the low k
 * bits before, so three trailing bytes can steer a prefix's hash into any
 * bucket: try the first two, and the third is then forced by inverting
 * the last multiplication. */
#include "collide.h"

#include <stdio.h>
#include <string.h>

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define MASK ((1u << COLLIDE_BITS) - 1)

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

uint64_t collide_fnv1a(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = FNV_OFFSET;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* The inverse of an odd number modulo 2^64 (Newton's iteration). */
static uint64_t inverse(uint64_t a)
{
	uint64_t x = a;
	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static int in_alphabet(unsigned c)
{
	return c && memchr(alphabet, (int)c, sizeof(alphabet) - 1) != NULL;
}

void collide_topics(char (*keys)[COLLIDE_KEY_MAX], size_t n)
{
	const uint64_t target = collide_fnv1a("*", 1) & MASK;
	/* The state before the last byte must be (target / prime) ^ byte. */
	const uint64_t before = (target * inverse(FNV_PRIME)) & MASK;
	size_t got = 0;

	for (unsigned k = 0; got < n; k++) {
		char prefix[COLLIDE_KEY_MAX - 3];
		int pl = snprintf(prefix, sizeof(prefix), "flood.k%05u", k);
		uint64_t s0 = collide_fnv1a(prefix, (size_t)pl);
		for (size_t a = 0; a < sizeof(alphabet) - 1 && got < n; a++) {
			uint64_t s1 = (s0 ^ (unsigned char)alphabet[a]) * FNV_PRIME;
			for (size_t b = 0; b < sizeof(alphabet) - 1 && got < n; b++) {
				uint64_t s2 = ((s1 ^ (unsigned char)alphabet[b]) * FNV_PRIME) & MASK;
				unsigned c = (unsigned)(s2 ^ before);
				if (c > 0xff || !in_alphabet(c))
					continue;
				snprintf(keys[got++], COLLIDE_KEY_MAX, "%s%c%c%c", prefix, alphabet[a],
					 alphabet[b], (char)c);
			}
		}
	}
}

#define C1 0x9e3779b97f4a7c15ull
#define C2 0xc2b2ae3d27d4eb4full

size_t collide_old_pending_slot(uint64_t caller, uint64_t serial, size_t n_buckets)
{
	uint64_t h = (caller * C1) ^ (serial * C2);
	return (size_t)(h ^ (h >> 29)) & (n_buckets - 1);
}

void collide_serials(uint64_t caller, uint64_t *serials, size_t n)
{
	/* h = caller * c1 ^ serial * c2 folded as h ^ (h >> 29): bits 43 and
	 * up of h never reach the low 14 bits of the slot, so vary only those. */
	for (size_t i = 0; i < n; i++) {
		uint64_t h = 0x1234u | ((uint64_t)(i + 1) << 43);
		serials[i] = ((caller * C1) ^ h) * inverse(C2);
	}
}
