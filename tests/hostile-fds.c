/* hostile-fds.c - hostile FileDescriptorSets built with a few protobuf
 * wire primitives, no descriptor code: the point is to write what protoc
 * never would. Field numbers are descriptor.proto's. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostile-fds.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
	int nomem;
};

static void put(struct buf *b, const void *data, size_t n)
{
	if (b->nomem)
		return;
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->nomem = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v > 0x7f) {
		v >>= 7;
		n++;
	}
	return n;
}

static void varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, tmp, n);
}

/* A length-delimited field's key and length; its len bytes follow. */
static void open_field(struct buf *b, unsigned field, size_t len)
{
	varint(b, (uint64_t)field << 3 | 2);
	varint(b, len);
}

static void field_str(struct buf *b, unsigned field, const char *s)
{
	open_field(b, field, strlen(s));
	put(b, s, strlen(s));
}

static void field_int(struct buf *b, unsigned field, uint64_t v)
{
	varint(b, (uint64_t)field << 3);
	varint(b, v);
}

static void field_sub(struct buf *b, unsigned field, const struct buf *sub)
{
	open_field(b, field, sub->len);
	put(b, sub->p, sub->len);
	b->nomem |= sub->nomem;
}

/* FileDescriptorSet { file { <file> } }, freeing file. */
static uint8_t *finish(struct buf *file, size_t *len)
{
	struct buf set = { 0 };

	field_sub(&set, 1, file);
	free(file->p);
	if (set.nomem) {
		free(set.p);
		return NULL;
	}
	*len = set.len;
	return set.p;
}

/* service <name> { rpc Get(<type>) returns (<type>); } into file. */
static void service(struct buf *file, const char *name, const char *type)
{
	struct buf m = { 0 }, s = { 0 };

	field_str(&m, 1, "Get");
	field_str(&m, 2, type);
	field_str(&m, 3, type);
	field_str(&s, 1, name);
	field_sub(&s, 2, &m);
	field_sub(file, 6, &s);
	free(m.p);
	free(s.p);
}

uint8_t *hostile_deep(size_t depth, size_t *len)
{
	/* Level k is { name: "D" nested_type { level k+1 } }: the headers of
	 * all levels come first, the innermost { name: "D" } last. */
	static const uint8_t name[] = { 0x0a, 0x01, 'D' };
	size_t *inner = malloc((depth + 1) * sizeof(*inner));
	struct buf file = { 0 };

	if (!inner)
		return NULL;
	inner[depth] = sizeof(name);
	for (size_t k = depth; k-- > 0;)
		inner[k] = sizeof(name) + 1 + varint_len(inner[k + 1]) + inner[k + 1];
	field_str(&file, 1, "deep.proto");
	field_str(&file, 2, "d");
	field_str(&file, 12, "proto3");
	open_field(&file, 4, inner[0]);
	for (size_t k = 0; k < depth; k++) {
		put(&file, name, sizeof(name));
		open_field(&file, 3, inner[k + 1]);
	}
	put(&file, name, sizeof(name));
	free(inner);
	return finish(&file, len);
}

uint8_t *hostile_chain(size_t n, size_t *len)
{
	struct buf file = { 0 }, msg = { 0 }, field = { 0 };
	char name[32], next[40];

	field_str(&file, 1, "chain.proto");
	field_str(&file, 2, "c");
	field_str(&file, 12, "proto3");
	for (size_t i = 0; i < n; i++) {
		msg.len = field.len = 0;
		snprintf(name, sizeof(name), "M%zu", i);
		snprintf(next, sizeof(next), ".c.M%zu", i + 1);
		field_str(&field, 1, i + 1 < n ? "next" : "value");
		field_int(&field, 3, 1);
		field_int(&field, 4, 1);             /* LABEL_OPTIONAL */
		field_int(&field, 5, i + 1 < n ? 11 : 5); /* TYPE_MESSAGE, TYPE_INT32 */
		if (i + 1 < n)
			field_str(&field, 6, next);
		field_str(&msg, 1, name);
		field_sub(&msg, 2, &field);
		field_sub(&file, 4, &msg);
	}
	free(msg.p);
	free(field.p);
	service(&file, "Chain", ".c.M0");
	return finish(&file, len);
}

uint8_t *hostile_nameless(size_t *len)
{
	struct buf file = { 0 }, msg = { 0 }, field = { 0 };

	field_str(&file, 1, "nameless.proto");
	field_str(&file, 2, "h");
	field_str(&file, 12, "proto3");
	field_int(&field, 3, 1);
	field_int(&field, 4, 1);
	field_int(&field, 5, 5);
	field_str(&msg, 1, "M");
	field_sub(&msg, 2, &field);
	field_sub(&file, 4, &msg);
	free(msg.p);
	free(field.p);
	service(&file, "Nameless", ".h.M");
	return finish(&file, len);
}

uint8_t *hostile_wide(size_t n, size_t *len)
{
	struct buf file = { 0 }, msg = { 0 }, field = { 0 };
	char name[32];

	field_str(&file, 1, "wide.proto");
	field_str(&file, 2, "w");
	field_str(&file, 12, "proto3");
	field_str(&msg, 1, "W");
	for (size_t i = 1; i <= n + 1; i++) {
		field.len = 0;
		snprintf(name, sizeof(name), "f%zu", i);
		field_str(&field, 1, i <= n ? name : "self");
		field_int(&field, 3, i);
		field_int(&field, 4, i <= n ? 1 : 3);  /* LABEL_OPTIONAL, LABEL_REPEATED */
		field_int(&field, 5, i <= n ? 5 : 11); /* TYPE_INT32, TYPE_MESSAGE */
		if (i > n)
			field_str(&field, 6, ".w.W");
		field_sub(&msg, 2, &field);
	}
	field_sub(&file, 4, &msg);
	free(msg.p);
	free(field.p);
	return finish(&file, len);
}

uint8_t *hostile_bloat(size_t n, size_t *len)
{
	struct buf file = { 0 }, msg = { 0 };
	static const uint8_t empty_field[] = { 0x12, 0x00 };

	field_str(&file, 1, "bloat.proto");
	field_str(&file, 2, "b");
	field_str(&msg, 1, "B");
	for (size_t i = 0; i < n; i++)
		put(&msg, empty_field, sizeof(empty_field));
	field_sub(&file, 4, &msg);
	free(msg.p);
	return finish(&file, len);
}
