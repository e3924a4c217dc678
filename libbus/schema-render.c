/* schema-render.c - bus_schema_render(): a .proto-like text of a service,
 * message or enum and of every type it uses, each type once, in the order
 * they are found. A worklist rather than recursion, and marks by type id
 * rather than a list of names: a schema may chain thousands of types. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"

struct render {
	char *buf;
	size_t len, cap;
	int nomem;
	unsigned char *seen;         /* by type id */
	struct schema_entry *queue;
	size_t head, n;
};

static __attribute__((format(printf, 2, 3))) void put(struct render *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || r->nomem)
		return;
	if (r->len + (size_t)n + 1 > r->cap) {
		size_t cap = (r->len + (size_t)n + 1) * 2;
		char *b = realloc(r->buf, cap);
		if (!b) {
			r->nomem = 1;
			return;
		}
		r->buf = b;
		r->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(r->buf + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	r->len += (size_t)n;
}

/* Queue a message or enum for rendering unless it was queued before. The
 * queue has room for every type of the schema: each comes once. */
static void want_msg(struct render *r, const struct schema_msg *m)
{
	if (m && !r->seen[m->id]) {
		r->seen[m->id] = 1;
		r->queue[r->n++] = (struct schema_entry){ m->name, SCHEMA_MSG, m, 0 };
	}
}

static void want_enum(struct render *r, const struct schema_enum *e)
{
	if (e && !r->seen[e->id]) {
		r->seen[e->id] = 1;
		r->queue[r->n++] = (struct schema_entry){ e->name, SCHEMA_ENUM, e, 0 };
	}
}

static void want_types_of(struct render *r, const struct schema_field *f)
{
	if (f->msg && f->msg->map_entry) {
		want_msg(r, f->msg->fields[1].msg);
		want_enum(r, f->msg->fields[1].en);
		return;
	}
	want_msg(r, f->msg);
	want_enum(r, f->en);
}

static const char *type_word(const struct schema_field *f)
{
	static const char *const names[] = {
		[FIELD(DOUBLE)] = "double", [FIELD(FLOAT)] = "float", [FIELD(INT64)] = "int64",
		[FIELD(UINT64)] = "uint64", [FIELD(INT32)] = "int32", [FIELD(FIXED64)] = "fixed64",
		[FIELD(FIXED32)] = "fixed32", [FIELD(BOOL)] = "bool", [FIELD(STRING)] = "string",
		[FIELD(BYTES)] = "bytes", [FIELD(UINT32)] = "uint32", [FIELD(SFIXED32)] = "sfixed32",
		[FIELD(SFIXED64)] = "sfixed64", [FIELD(SINT32)] = "sint32", [FIELD(SINT64)] = "sint64",
	};
	if (f->msg)
		return f->msg->name;
	if (f->en)
		return f->en->name;
	return names[f->type]; /* every other type is a scalar: checked on loading */
}

static void render_field(struct render *r, const struct schema_field *f, int indent)
{
	if (f->msg && f->msg->map_entry) {
		put(r, "%*smap<%s, %s> %s = %d;\n", indent, "", type_word(&f->msg->fields[0]),
		    type_word(&f->msg->fields[1]), f->name, f->number);
		return;
	}
	put(r, "%*s%s%s %s = %d;\n", indent, "", f->repeated ? "repeated " : f->optional ? "optional " : "",
	    type_word(f), f->name, f->number);
}

/* Fields outside oneofs in order; each oneof at its first member, with all
 * its members (grouped once, so many oneofs cost no more than few). */
static void render_message(struct render *r, const struct schema_msg *m)
{
	size_t *start = calloc(m->n_oneofs + 1, sizeof(*start));
	const struct schema_field **members = malloc((m->n_fields + 1) * sizeof(*members));

	if (!start || !members) {
		r->nomem = 1;
		goto out;
	}
	for (size_t i = 0; i < m->n_fields; i++)
		if (m->fields[i].oneof >= 0)
			start[m->fields[i].oneof + 1]++;
	for (size_t o = 0; o < m->n_oneofs; o++)
		start[o + 1] += start[o];
	for (size_t i = 0; i < m->n_fields; i++)
		if (m->fields[i].oneof >= 0)
			members[start[m->fields[i].oneof]++] = &m->fields[i];
	/* start[o] now ends oneof o's members; start[o - 1] (or 0) begins them */
	put(r, "message %s {\n", m->name);
	for (size_t i = 0; i < m->n_fields; i++) {
		const struct schema_field *f = &m->fields[i];
		if (f->oneof < 0) {
			render_field(r, f, 2);
			continue;
		}
		size_t from = f->oneof ? start[f->oneof - 1] : 0;
		if (members[from] != f)
			continue;
		put(r, "  oneof %s {\n", m->oneofs[f->oneof]);
		for (size_t k = from; k < start[f->oneof]; k++)
			render_field(r, members[k], 4);
		put(r, "  }\n");
	}
	put(r, "}\n");
	for (size_t i = 0; i < m->n_fields; i++)
		want_types_of(r, &m->fields[i]);
out:
	free(start);
	free(members);
}

static void render_enum(struct render *r, const struct schema_enum *e)
{
	put(r, "enum %s {\n", e->name);
	for (size_t i = 0; i < e->n_values; i++)
		put(r, "  %s = %d;\n", e->values[i].name, e->values[i].number);
	put(r, "}\n");
}

int bus_schema_render(const bus_schema_t *s, const char *name, char **text)
{
	const struct schema_entry *e = s && name ? schema_find(s, name) : NULL;
	struct render r = { 0 };

	*text = NULL;
	if (!e)
		return -ENOENT;
	r.seen = calloc(s->n_ids + 1, 1);
	r.queue = malloc((s->n_ids + 1) * sizeof(*r.queue));
	if (!r.seen || !r.queue) {
		free(r.seen);
		free(r.queue);
		return -ENOMEM;
	}
	if (e->kind == SCHEMA_SERVICE) {
		const struct schema_service *v = e->ptr;
		put(&r, "service %s {\n", v->name);
		for (size_t k = 0; k < v->n_methods; k++)
			put(&r, "  rpc %s(%s) returns (%s);\n", v->methods[k], v->inputs[k]->name,
			    v->outputs[k]->name);
		put(&r, "}\n");
		for (size_t k = 0; k < v->n_methods; k++) {
			want_msg(&r, v->inputs[k]);
			want_msg(&r, v->outputs[k]);
		}
	} else if (e->kind == SCHEMA_MSG) {
		want_msg(&r, e->ptr);
	} else {
		want_enum(&r, e->ptr);
	}
	for (; r.head < r.n && !r.nomem; r.head++) {
		const struct schema_entry *t = &r.queue[r.head];
		if (r.len)
			put(&r, "\n");
		if (t->kind == SCHEMA_MSG)
			render_message(&r, t->ptr);
		else
			render_enum(&r, t->ptr);
	}
	free(r.seen);
	free(r.queue);
	if (r.nomem) {
		free(r.buf);
		return -ENOMEM;
	}
	*text = r.buf;
	return 0;
}
