/* collide.h - inputs an attacker would pick against an unkeyed hash: topics
 * whose FNV-1a hashes share their low bits with that of "*", and call
 * serials that share one bucket of busd's former multiply-xor pending-call
 * table. The tests show that busd's keyed tables spread them out. */
#ifndef BUSD_TEST_COLLIDE_H
#define BUSD_TEST_COLLIDE_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a, 64 bits: the hash busd's tables used to use. */
uint64_t collide_fnv1a(const void *key, size_t len);

/* Fill keys[0..n) with distinct NUL-terminated topics "flood.kNNNNNxyz"
 * (valid topics and patterns: x, y, z from [A-Za-z0-9_-]) whose FNV-1a
 * hashes agree with FNV-1a("*") in their low COLLIDE_BITS bits, so that
 * they land in "*"'s bucket of any unkeyed table of up to 2^COLLIDE_BITS
 * buckets. Each key has room for COLLIDE_KEY_MAX bytes. */
#define COLLIDE_BITS 16
#define COLLIDE_KEY_MAX 24
void collide_topics(char (*keys)[COLLIDE_KEY_MAX], size_t n);

/* n serials that all fall into one bucket of the former pending-call table
 * (caller * C1 ^ serial * C2, folded, masked to up to 2^14 buckets) for
 * the given caller id. */
void collide_serials(uint64_t caller, uint64_t *serials, size_t n);
/* That former bucket, of a table of n_buckets (a power of two). */
size_t collide_old_pending_slot(uint64_t caller, uint64_t serial, size_t n_buckets);

#endif
