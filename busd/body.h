/* body.h - out-of-line bodies: the checks busd makes on the sealed memfd
 * that holds a frame's body (docs/protocol.md, "Out-of-line bodies")
 * before it forwards the frame, and whether a receiver may be given one.
 * busd looks at the descriptor (F_GET_SEALS, fstat), never at the bytes:
 * it neither maps nor reads a body. */
#ifndef BUSD_BODY_H
#define BUSD_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct connection;

/* Documented outcomes of body_check() and body_refused(). */
enum {
	BODY_E_UNSEALED = 1, /* not a memfd with the four seals and its declared size */
	BODY_E_LIMIT,        /* above limits.max_memfd_body_size, or a receiver's queue limit */
	BODY_E_UNSUPPORTED,  /* the receiver did not ask for out-of-line bodies */
};

/* The out-of-line body of f (f->h.memfd_body_size non-zero; its last
 * descriptor): 0 when it is a memfd sealed against every change
 * (F_SEAL_SEAL, SHRINK, GROW, WRITE) whose size is the declared one and at
 * most limit, else BODY_E_UNSEALED or BODY_E_LIMIT with why (len bytes)
 * saying what is wrong. */
int body_check(const struct frame *f, uint64_t limit, char *why, size_t len);

/* Whether f's out-of-line body may be queued to c now (0), or
 * BODY_E_UNSUPPORTED, BODY_E_LIMIT (its limits.max_queued_memfd_bytes or
 * the _per_uid one), with why naming the receiver as who. */
int body_refused(const struct connection *c, const struct frame *f, const char *who, char *why,
		 size_t len);

/* The error name for an outcome. */
const char *body_error_name(int r);

#endif
