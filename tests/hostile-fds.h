/* hostile-fds.h - FileDescriptorSets written byte by byte, the way a
 * hostile peer can upload them (busd stores schemas without reading them):
 * messages nested deeper than any parser's stack, long chains of types,
 * fields without names. Used by test-json.c and schema-peer.c. */
#ifndef BUSD_HOSTILE_FDS_H
#define BUSD_HOSTILE_FDS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns a malloc'd set (free() it) of *len bytes, or NULL without
 * memory. */

/* deep.proto: message d.D, with a nested type D in it, depth times over. */
uint8_t *hostile_deep(size_t depth, size_t *len);
/* chain.proto: c.M0 has a field of type c.M1, which has one of c.M2, ...
 * up to c.M<n-1>; service c.Chain { rpc Get(M0) returns (M0); }. */
uint8_t *hostile_chain(size_t n, size_t *len);
/* nameless.proto: h.M's field 1 (an int32) has no name; service
 * h.Nameless { rpc Get(M) returns (M); }. */
uint8_t *hostile_nameless(size_t *len);
/* wide.proto: w.W with int32 fields f1 to fn (numbers 1 to n) and a
 * repeated W self = n + 1: an empty W in a body stands for n defaults. */
uint8_t *hostile_wide(size_t n, size_t *len);
/* bloat.proto: message b.B with n empty fields, two bytes each, each of
 * which protoc-c's unpacking would allocate a whole field descriptor for. */
uint8_t *hostile_bloat(size_t n, size_t *len);

#endif
