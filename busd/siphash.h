/* siphash.h - SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash of
 * busd's tables, and the random key it needs. */
#ifndef BUSD_SIPHASH_H
#define BUSD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* SipHash-2-4 of data under key (16 bytes, read as two little-endian
 * 64-bit words, as the reference implementation does). */
uint64_t siphash24(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len);

/* Fill buf with len bytes from the kernel's random source (getrandom(2),
 * which blocks only until the pool is first seeded). 0 or negative errno. */
int siphash_random_key(unsigned char *buf, size_t len);

#endif
