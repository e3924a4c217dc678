/* sha256.h - SHA-256 (FIPS 180-4), which names a schema by its content. */
#ifndef BUSD_SHA256_H
#define BUSD_SHA256_H

#include <stddef.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

/* The digest of len bytes at data, in one call (busd hashes whole buffers). */
void sha256(unsigned char out[SHA256_LEN], const void *data, size_t len);

/* The digest as 64 lower-case hex digits and a NUL. */
void sha256_hex(char out[SHA256_HEX_LEN + 1], const unsigned char digest[SHA256_LEN]);
/* Parse exactly 64 hex digits (either case) and a NUL; 0, or -1 if s is
 * anything else. */
int sha256_unhex(unsigned char digest[SHA256_LEN], const char *s);

#endif
