/* json-internal.h - what the two halves of libbus-json's codec share
 * (json-decode.c: wire bytes to JSON, json-encode.c: JSON to wire bytes):
 * the error context with its JSON path, the wire-format primitives and the
 * field helpers over schema-internal.h's index. Small functions,
 * static inline: no symbols leave the library. */
#ifndef BUS_JSON_INTERNAL_H
#define BUS_JSON_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"

#define MAX_DEPTH 64
#define UNKNOWN_KEY "@unknown"

/* The JSON path being worked on, for error messages; what the decoder may
 * still produce (values it creates, see bus_json_decode()). */
struct ctx {
	const bus_schema_t *s;
	unsigned flags;
	bus_error_t *err;
	char path[512];
	int depth;
	size_t budget;
};

static inline __attribute__((format(printf, 2, 3))) int fail(struct ctx *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bus_error_set(c->err, BUS_ERROR_INVALID_ARGS, "at %s: %s", c->path[0] ? c->path : ".", msg);
	return -EINVAL;
}

/* Append ".name" or "[i]" to the path; returns the old length to restore. */
static inline size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t was = strlen(c->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->path + was, sizeof(c->path) - was, fmt, ap);
	va_end(ap);
	return was;
}

static inline void path_pop(struct ctx *c, size_t was)
{
	c->path[was] = '\0';
}

/* Timestamp or Duration (by name), when shaped as protobuf's: seconds = 1
 * (int64), nanos = 2 (int32). Any schema may declare these names. */
/* bus.Fd { uint32 fd = 1; }: the index of a descriptor passed with the
 * frame, shown as {"fd": N} even for the first (0, the default). */
static inline int is_bus_fd(const struct schema_msg *m)
{
	return strcmp(m->name, "bus.Fd") == 0 && m->n_fields == 1 &&
	       strcmp(m->fields[0].name, "fd") == 0 && m->fields[0].number == 1 &&
	       m->fields[0].type == FIELD(UINT32) && !m->fields[0].repeated;
}

static inline int is_wkt(const struct schema_msg *m, const char *name)
{
	return strcmp(m->name, name) == 0 && m->n_fields == 2 &&
	       strcmp(m->fields[0].name, "seconds") == 0 && m->fields[0].number == 1 &&
	       m->fields[0].type == FIELD(INT64) && !m->fields[0].repeated &&
	       strcmp(m->fields[1].name, "nanos") == 0 && m->fields[1].number == 2 &&
	       m->fields[1].type == FIELD(INT32) && !m->fields[1].repeated;
}


/* ---- the output buffer of the encoder */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static inline int buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static inline int put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];

	return buf_put(b, tmp, (size_t)(wire_varint_put(tmp, v) - tmp));
}

static inline int put_tag(struct buf *b, int number, int wt)
{
	return put_varint(b, (uint64_t)number << 3 | (unsigned)wt);
}

static inline int put_fixed(struct buf *b, uint64_t v, int bytes)
{
	uint8_t tmp[8];
	for (int i = 0; i < bytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	return buf_put(b, tmp, (size_t)bytes);
}

/* ---- reading wire bytes */

/* Skip one field's value; -1 when truncated or of an unusable wire type. */
static inline int skip_value(const uint8_t **p, const uint8_t *end, int wt)
{
	uint64_t v;
	switch (wt) {
	case WIRE_WT_VARINT: return get_varint(p, end, &v);
	case WIRE_WT_I64: if (end - *p < 8) return -1; *p += 8; return 0;
	case WIRE_WT_I32: if (end - *p < 4) return -1; *p += 4; return 0;
	case WIRE_WT_LEN:
		if (get_varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
			return -1;
		*p += v;
		return 0;
	default: return -1;
	}
}

static inline int is_packable(const struct schema_field *f)
{
	return f->type != FIELD(STRING) && f->type != FIELD(BYTES) && f->type != FIELD(MESSAGE) &&
	       f->type != FIELD(GROUP);
}

/* The wire type of f's values; -1 for a group, which the codec does not
 * read or write (its start and end tags match no wire type here). */
static inline int wire_type_of(const struct schema_field *f)
{
	switch (f->type) {
	case FIELD(DOUBLE): case FIELD(FIXED64): case FIELD(SFIXED64): return WIRE_WT_I64;
	case FIELD(FLOAT): case FIELD(FIXED32): case FIELD(SFIXED32): return WIRE_WT_I32;
	case FIELD(STRING): case FIELD(BYTES): case FIELD(MESSAGE): return WIRE_WT_LEN;
	case FIELD(GROUP): return -1;
	default: return WIRE_WT_VARINT;
	}
}

/* Read one scalar in wire type wt. */
static inline int read_scalar(const uint8_t **p, const uint8_t *end, int wt, uint64_t *raw)
{
	if (wt == WIRE_WT_VARINT)
		return get_varint(p, end, raw);
	int n = wt == WIRE_WT_I64 ? 8 : 4;
	if (end - *p < n)
		return -1;
	*raw = 0;
	for (int i = 0; i < n; i++)
		*raw |= (uint64_t)(*p)[i] << (8 * i);
	*p += n;
	return 0;
}

/* A proto3 field without presence (not optional, not in a oneof, not a
 * message) is not written at its default value, as protobuf does. */
static inline int implicit_presence(const struct schema_msg *m, const struct schema_field *f)
{
	return m->proto3 && !f->repeated && f->type != FIELD(MESSAGE) && f->oneof < 0 &&
	       !f->optional;
}

/* The JSON name of f as the flags want it. */
static inline const char *json_key(const struct ctx *c, const struct schema_field *f)
{
	return (c->flags & BUS_JSON_ORIGINAL_NAMES) ? f->name : f->json;
}

/* Per oneof of a message, the member seen last (a small array on the
 * stack, else one malloc'd); NULL without memory. */
struct oneofs {
	const struct schema_field *small[16], **set;
};

static inline const struct schema_field **oneofs_init(struct oneofs *o, const struct schema_msg *m)
{
	memset(o->small, 0, sizeof(o->small));
	o->set = m->n_oneofs <= 16 ? o->small : calloc(m->n_oneofs, sizeof(*o->set));
	return o->set;
}

static inline void oneofs_done(struct oneofs *o)
{
	if (o->set != o->small)
		free(o->set);
}

#endif
