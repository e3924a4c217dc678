/* schema-load.c - bus_schema_add(): a FileDescriptorSet, which may come
 * from any peer, is measured before protoc-c unpacks it (size, nesting,
 * memory), then every file, name, type, field, oneof, enum value and
 * method in it is checked and indexed. The set joins the schema whole or
 * not at all; what it joins can be trusted by the codec and the renderer. */
#include "config.h"

#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"
#include "schema-synth.h"
#include "text.h"

#define LABEL(l) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_##l
#define MAX_FIELD_NUMBER 0x1fffffff
#define ALLOC_COST 32 /* what one malloc() costs beyond its bytes, roughly */

typedef Google__Protobuf__FileDescriptorProto file_desc;
typedef Google__Protobuf__DescriptorProto msg_desc;
typedef Google__Protobuf__FieldDescriptorProto field_desc;
typedef Google__Protobuf__EnumDescriptorProto enum_desc;
typedef Google__Protobuf__ServiceDescriptorProto service_desc;

/* ---------------------------------------------------------------- blocks */

/* The index of one set is allocated from blocks freed together. */
struct schema_block {
	struct schema_block *next;
	size_t used, size;
	alignas(max_align_t) unsigned char data[];
};

void schema_blocks_free(struct schema_block *b)
{
	while (b) {
		struct schema_block *next = b->next;
		free(b);
		b = next;
	}
}

static void *block_alloc(struct schema_block **head, size_t n)
{
	struct schema_block *b = *head;

	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (!b || b->size - b->used < n) {
		size_t size = n > 65536 ? n : 65536;
		b = malloc(sizeof(*b) + size);
		if (!b)
			return NULL;
		*b = (struct schema_block){ *head, 0, size };
		*head = b;
	}
	void *p = b->data + b->used;
	b->used += n;
	return p;
}

/* ---------------------------------------------------------------- measure */

/* What measure() found wrong with a set, if anything. */
enum measure { MEASURE_OK, MEASURE_BROKEN, MEASURE_DEEP, MEASURE_COSTLY };

/* What protoc-c's unpacking of the message at p would allocate, added to
 * *cost: a struct per message, an array slot per repeated element, a copy
 * of every string, bytes and unknown field. Stops at a broken encoding, at
 * nesting deeper than SCHEMA_MAX_DEPTH (this recursion is as deep as the
 * nesting, so it stops where unpacking would have overflowed the stack),
 * and once the cost passes SCHEMA_MAX_UNPACKED. */
static enum measure measure(const uint8_t *p, size_t len, const ProtobufCMessageDescriptor *d,
			    int depth, size_t *cost)
{
	const uint8_t *end = p + len;

	if (depth > SCHEMA_MAX_DEPTH)
		return MEASURE_DEEP;
	*cost += d->sizeof_message + ALLOC_COST;
	while (p < end) {
		uint64_t key, n = 0;
		if (get_varint(&p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > MAX_FIELD_NUMBER)
			return MEASURE_BROKEN;
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
		int wt = (int)(key & 7);
		switch (wt) {
		case WIRE_WT_VARINT: if (get_varint(&p, end, &n) < 0) return MEASURE_BROKEN; n = 0; break;
		case WIRE_WT_I64: n = 8; break;
		case WIRE_WT_I32: n = 4; break;
		case WIRE_WT_LEN: if (get_varint(&p, end, &n) < 0) return MEASURE_BROKEN; break;
		default: return MEASURE_BROKEN; /* groups: protoc-c refuses them too */
		}
		if (n > (uint64_t)(end - p))
			return MEASURE_BROKEN;
		if (f && f->label == PROTOBUF_C_LABEL_REPEATED)
			*cost += sizeof(void *);
		if (!f) {
			*cost += sizeof(ProtobufCMessageUnknownField) + n + ALLOC_COST;
		} else if (wt == WIRE_WT_LEN && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			enum measure m = measure(p, n, f->descriptor, depth + 1, cost);
			if (m != MEASURE_OK)
				return m;
		} else if (wt == WIRE_WT_LEN) {
			*cost += f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_BYTES
					 ? n + 1 + ALLOC_COST : n * sizeof(uint64_t); /* packed */
		}
		if (*cost > SCHEMA_MAX_UNPACKED)
			return MEASURE_COSTLY;
		p += n;
	}
	return MEASURE_OK;
}

/* ---------------------------------------------------------------- checks */

/* A type or service staged for the index, with its descriptor and the
 * file that declares it. */
struct staged {
	struct schema_entry e;
	const void *d;
	const char *file;
};

struct load {
	bus_schema_t *s;
	bus_error_t *err;
	struct schema_block *blocks;
	const char *file; /* being checked, for messages */
	int synth;        /* it is one libbus made (SYNTH_PREFIX): merged */
	struct staged *types;
	size_t n_types, cap_types;
	const char **files;
	size_t n_files, cap_files;
	const char **services;
	size_t n_services, cap_services;
	int failed;
};

static __attribute__((format(printf, 2, 3))) int refuse(struct load *l, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!l->failed)
		bus_error_set(l->err, BUS_ERROR_INVALID_ARGS, "%s%s%s", l->file ? l->file : "",
			      l->file ? ": " : "", msg);
	l->failed = -EINVAL;
	return -EINVAL;
}

static int nomem(struct load *l)
{
	if (!l->failed)
		bus_error_set(l->err, BUS_ERROR_FAILED, "out of memory");
	l->failed = -ENOMEM;
	return -ENOMEM;
}

static void *alloc(struct load *l, size_t n)
{
	void *p = block_alloc(&l->blocks, n ? n : 1);
	if (!p)
		nomem(l);
	else
		memset(p, 0, n);
	return p;
}

#define GROW(l, arr, n, cap)                                                         \
	((n) < (cap) || grow((l), (void **)&(arr), &(cap), sizeof(*(arr))) == 0)

static int grow(struct load *l, void **arr, size_t *cap, size_t size)
{
	size_t c = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, c * size);
	if (!p)
		return nomem(l);
	*arr = p;
	*cap = c;
	return 0;
}

/* [A-Za-z_][A-Za-z0-9_]*, as protoc wants. */
static int ident_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SCHEMA_MAX_IDENT || (s[0] >= '0' && s[0] <= '9'))
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* Identifiers joined by dots (a package, or a type name after its dot). */
static int dotted_ok(const char *s)
{
	char part[SCHEMA_MAX_IDENT + 1];
	size_t n = strlen(s);

	if (n > SCHEMA_MAX_NAME)
		return 0;
	for (const char *p = s;; p++) {
		size_t k = strcspn(p, ".");
		if (k > SCHEMA_MAX_IDENT)
			return 0;
		memcpy(part, p, k);
		part[k] = '\0';
		if (!ident_ok(part))
			return 0;
		p += k;
		if (!*p)
			return 1;
	}
}

static char *join(struct load *l, const char *scope, const char *name)
{
	size_t a = strlen(scope), b = strlen(name);
	char *s = alloc(l, a + b + 2);

	if (s)
		snprintf(s, a + b + 2, "%s%s%s", scope, a ? "." : "", name);
	return s;
}

static int stage(struct load *l, const char *name, enum schema_kind kind, const void *ptr,
		 const void *d)
{
	if (strlen(name) > SCHEMA_MAX_NAME)
		return refuse(l, "the name %.60s... is longer than %d bytes", name, SCHEMA_MAX_NAME);
	if (!GROW(l, l->types, l->n_types, l->cap_types))
		return -ENOMEM;
	l->types[l->n_types++] = (struct staged){ { name, kind, ptr, l->synth }, d, l->file };
	return 0;
}

/* ---------------------------------------------------------------- declare */

/* A type the schema has already, where the new file or the one that
 * declared it is a synthesized one: the declaration there stays (both
 * describe the same type, from the same generated code or not; two
 * services' synthesized sets share their types). Between real files a
 * second declaration is still refused. */
static int merged(const struct load *l, const char *name)
{
	const struct schema_entry *e = schema_find(l->s, name);

	return e && (l->synth || e->synth);
}

/* The names of every type and service of the set, before any field may
 * refer to one. */
static int declare_enum(struct load *l, const char *scope, const enum_desc *d)
{
	if (!ident_ok(d->name))
		return refuse(l, "an enum in %s has %s name", *scope ? scope : "the file",
			      d->name ? "an invalid" : "no");
	struct schema_enum *e = alloc(l, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->name = join(l, scope, d->name);
	e->id = l->s->n_ids + l->n_types;
	if (e->name && merged(l, e->name))
		return 0;
	return e->name ? stage(l, e->name, SCHEMA_ENUM, e, d) : -ENOMEM;
}

static int declare_message(struct load *l, const char *scope, const msg_desc *d, int proto3)
{
	if (!ident_ok(d->name))
		return refuse(l, "a message in %s has %s name", *scope ? scope : "the file",
			      d->name ? "an invalid" : "no");
	struct schema_msg *m = alloc(l, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->name = join(l, scope, d->name);
	m->id = l->s->n_ids + l->n_types;
	m->proto3 = proto3;
	m->map_entry = d->options && d->options->has_map_entry && d->options->map_entry;
	int r = !m->name ? -ENOMEM : merged(l, m->name) ? 0 : stage(l, m->name, SCHEMA_MSG, m, d);
	for (size_t i = 0; r == 0 && i < d->n_enum_type; i++)
		r = declare_enum(l, m->name, d->enum_type[i]);
	/* As deep as the set's encoding nests, which measure() bounded. */
	for (size_t i = 0; r == 0 && i < d->n_nested_type; i++)
		r = declare_message(l, m->name, d->nested_type[i], proto3);
	return r;
}

static int declare_service(struct load *l, const char *scope, const service_desc *d)
{
	if (!ident_ok(d->name))
		return refuse(l, "a service has %s name", d->name ? "an invalid" : "no");
	struct schema_service *v = alloc(l, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->name = join(l, scope, d->name);
	if (v->name && merged(l, v->name))
		return 0;
	int r = v->name ? stage(l, v->name, SCHEMA_SERVICE, v, d) : -ENOMEM;
	if (r < 0)
		return r;
	if (!GROW(l, l->services, l->n_services, l->cap_services))
		return -ENOMEM;
	l->services[l->n_services++] = v->name;
	return 0;
}

static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static int file_known(const bus_schema_t *s, const char *name)
{
	return s->n_files && bsearch(name, s->files, s->n_files, sizeof(*s->files), name_cmp);
}

static int declare_file(struct load *l, const file_desc *f, size_t index)
{
	const char *pkg = f->package ? f->package : "";
	int r = 0;

	l->file = NULL;
	if (!f->name || !*f->name || strlen(f->name) > SCHEMA_MAX_NAME ||
	    !text_printable((const uint8_t *)f->name, strlen(f->name)))
		return refuse(l, "file %zu of the set has %s name", index + 1,
			      f->name && *f->name ? "an invalid" : "no");
	l->synth = strncmp(f->name, SYNTH_PREFIX, strlen(SYNTH_PREFIX)) == 0;
	int known = file_known(l->s, f->name);
	if (known && !l->synth)
		return 0; /* added before: its types are there */
	l->file = f->name;
	if (*pkg && !dotted_ok(pkg))
		return refuse(l, "the package name is not valid");
	int proto3 = f->syntax && strcmp(f->syntax, "proto3") == 0;
	if (f->syntax && *f->syntax && !proto3 && strcmp(f->syntax, "proto2") != 0)
		return refuse(l, "syntax %s is neither proto2 nor proto3",
			      text_printable((const uint8_t *)f->syntax, strlen(f->syntax)) &&
			      strlen(f->syntax) < 40 ? f->syntax : "(unprintable)");
	if (!known && !GROW(l, l->files, l->n_files, l->cap_files))
		return -ENOMEM;
	if (!known)
		l->files[l->n_files++] = f->name;
	for (size_t i = 0; r == 0 && i < f->n_message_type; i++)
		r = declare_message(l, pkg, f->message_type[i], proto3);
	for (size_t i = 0; r == 0 && i < f->n_enum_type; i++)
		r = declare_enum(l, pkg, f->enum_type[i]);
	for (size_t i = 0; r == 0 && i < f->n_service; i++)
		r = declare_service(l, pkg, f->service[i]);
	return r;
}

static int staged_cmp(const void *a, const void *b)
{
	return strcmp(((const struct staged *)a)->e.name, ((const struct staged *)b)->e.name);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---------------------------------------------------------------- define */

static const struct staged *find_staged(const struct load *l, const char *name)
{
	return l->n_types ? bsearch(name, l->types, l->n_types, sizeof(*l->types), name_cmp) : NULL;
}

/* The type a field or method names (".pkg.Type"), in this set or the
 * schema; NULL after refusing. */
static const struct schema_entry *resolve(struct load *l, const char *user, const char *name)
{
	if (!name || !*name) {
		refuse(l, "%s names no type", user);
		return NULL;
	}
	const char *bare = name[0] == '.' ? name + 1 : name;
	if (!dotted_ok(bare)) {
		refuse(l, "%s names an invalid type", user);
		return NULL;
	}
	const struct staged *st = find_staged(l, bare);
	const struct schema_entry *e = st ? &st->e : schema_find(l->s, bare);
	if (!e)
		refuse(l, "%s uses %s, which the schema does not describe", user, bare);
	return e;
}

static int packable(int type)
{
	return type != FIELD(STRING) && type != FIELD(BYTES) && type != FIELD(MESSAGE) &&
	       type != FIELD(GROUP);
}

/* The lowerCamelCase JSON name protoc gives a field without json_name. */
static const char *camel(struct load *l, const char *name)
{
	char *out = alloc(l, strlen(name) + 1), *o = out;
	int up = 0;

	for (const char *p = name; out && *p; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		*o++ = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = 0;
	}
	if (out)
		*o = '\0';
	return out;
}

static int define_field(struct load *l, const struct schema_msg *m, const field_desc *d,
			size_t index, struct schema_field *f)
{
	char user[SCHEMA_MAX_NAME + SCHEMA_MAX_IDENT + 32];

	if (!ident_ok(d->name))
		return refuse(l, "field %zu of %s has %s name", index + 1, m->name,
			      d->name ? "an invalid" : "no");
	snprintf(user, sizeof(user), "field %s of %s", d->name, m->name);
	f->name = d->name;
	if (!d->has_number || d->number < 1 || d->number > MAX_FIELD_NUMBER)
		return refuse(l, "%s has no valid number (1 to %d)", user, MAX_FIELD_NUMBER);
	f->number = d->number;
	if (d->has_label && (d->label < LABEL(OPTIONAL) || d->label > LABEL(REPEATED)))
		return refuse(l, "%s has an invalid label", user);
	f->repeated = d->has_label && d->label == LABEL(REPEATED);
	const struct schema_entry *t = NULL;
	if (d->has_type && (d->type < FIELD(DOUBLE) || d->type > FIELD(SINT64)))
		return refuse(l, "%s has an invalid type", user);
	if (!d->has_type || d->type == FIELD(MESSAGE) || d->type == FIELD(GROUP) ||
	    d->type == FIELD(ENUM)) {
		if (!(t = resolve(l, user, d->type_name)))
			return -EINVAL;
		int want = !d->has_type ? (int)t->kind : d->type == FIELD(ENUM) ? SCHEMA_ENUM
										 : SCHEMA_MSG;
		if ((int)t->kind != want || t->kind == SCHEMA_SERVICE)
			return refuse(l, "%s: %s is not %s", user, t->name,
				      want == SCHEMA_ENUM ? "an enum" : "a message");
	}
	f->type = d->has_type ? (int)d->type : t->kind == SCHEMA_ENUM ? FIELD(ENUM) : FIELD(MESSAGE);
	f->msg = t && t->kind == SCHEMA_MSG ? t->ptr : NULL;
	f->en = t && t->kind == SCHEMA_ENUM ? t->ptr : NULL;
	if (f->msg && f->msg->map_entry && !f->repeated)
		return refuse(l, "%s is of map entry type %s but not repeated", user, f->msg->name);

	f->oneof = -1;
	f->optional = d->has_proto3_optional && d->proto3_optional;
	if (d->has_oneof_index && (d->oneof_index < 0 || (size_t)d->oneof_index >= m->n_oneofs))
		return refuse(l, "%s is in oneof %d, which %s does not have", user, d->oneof_index,
			      m->name);
	if (f->optional && !d->has_oneof_index)
		return refuse(l, "%s is optional but in no oneof", user);
	if (d->has_oneof_index && !f->optional) {
		if (f->repeated)
			return refuse(l, "%s is repeated in a oneof", user);
		f->oneof = d->oneof_index;
	}

	if (d->json_name && *d->json_name) {
		/* '@' starts the codec's own members (@unknown) */
		size_t n = strlen(d->json_name);
		if (n > SCHEMA_MAX_IDENT || d->json_name[0] == '@' ||
		    !text_printable((const uint8_t *)d->json_name, n))
			return refuse(l, "%s has an invalid JSON name", user);
		f->json = d->json_name;
	} else if (!(f->json = camel(l, d->name))) {
		return -ENOMEM;
	}
	f->packed = f->repeated && packable(f->type) &&
		    (m->proto3 ? !(d->options && d->options->has_packed && !d->options->packed)
			       : (d->options && d->options->has_packed && d->options->packed));
	return 0;
}

static int number_cmp(const void *a, const void *b)
{
	int32_t x = (*(const struct schema_field *const *)a)->number;
	int32_t y = (*(const struct schema_field *const *)b)->number;
	return (x > y) - (x < y);
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(((const struct schema_key *)a)->key, ((const struct schema_key *)b)->key);
}

/* A map entry as protoc writes one: key = 1 of an integral, bool or
 * string type, value = 2 of any type but a group, neither repeated. */
static int check_map_entry(struct load *l, const struct schema_msg *m)
{
	const struct schema_field *k = m->n_fields == 2 ? &m->fields[0] : NULL;
	const struct schema_field *v = k ? &m->fields[1] : NULL;

	if (!k || strcmp(k->name, "key") != 0 || k->number != 1 || k->repeated ||
	    strcmp(v->name, "value") != 0 || v->number != 2 || v->repeated ||
	    v->type == FIELD(GROUP) || k->type == FIELD(DOUBLE) || k->type == FIELD(FLOAT) ||
	    k->type == FIELD(BYTES) || k->type == FIELD(MESSAGE) || k->type == FIELD(GROUP) ||
	    k->type == FIELD(ENUM) || m->n_oneofs)
		return refuse(l, "map entry %s is not a key field 1 and a value field 2", m->name);
	return 0;
}

static int define_message(struct load *l, struct schema_msg *m, const msg_desc *d)
{
	m->n_oneofs = d->n_oneof_decl;
	m->oneofs = alloc(l, m->n_oneofs * sizeof(*m->oneofs));
	m->n_fields = d->n_field;
	m->fields = alloc(l, m->n_fields * sizeof(*m->fields));
	m->by_number = alloc(l, m->n_fields * sizeof(*m->by_number));
	m->by_key = alloc(l, 2 * m->n_fields * sizeof(*m->by_key));
	if (!m->oneofs || !m->fields || !m->by_number || !m->by_key)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_oneofs; i++) {
		if (!ident_ok(d->oneof_decl[i]->name))
			return refuse(l, "oneof %zu of %s has %s name", i + 1, m->name,
				      d->oneof_decl[i]->name ? "an invalid" : "no");
		m->oneofs[i] = d->oneof_decl[i]->name;
	}
	for (size_t i = 0; i < m->n_fields; i++) {
		struct schema_field *f = &m->fields[i];
		int r = define_field(l, m, d->field[i], i, f);
		if (r < 0)
			return r;
		m->by_number[i] = f;
		m->by_key[m->n_keys++] = (struct schema_key){ f->name, f };
		if (strcmp(f->json, f->name) != 0)
			m->by_key[m->n_keys++] = (struct schema_key){ f->json, f };
	}
	qsort(m->by_number, m->n_fields, sizeof(*m->by_number), number_cmp);
	for (size_t i = 1; i < m->n_fields; i++)
		if (m->by_number[i]->number == m->by_number[i - 1]->number)
			return refuse(l, "fields %s and %s of %s have the same number %d",
				      m->by_number[i - 1]->name, m->by_number[i]->name, m->name,
				      m->by_number[i]->number);
	qsort(m->by_key, m->n_keys, sizeof(*m->by_key), key_cmp);
	for (size_t i = 1; i < m->n_keys; i++)
		if (strcmp(m->by_key[i].key, m->by_key[i - 1].key) == 0)
			return refuse(l, "fields %s and %s of %s are both called %s in JSON",
				      m->by_key[i - 1].f->name, m->by_key[i].f->name, m->name,
				      m->by_key[i].key);
	return m->map_entry ? check_map_entry(l, m) : 0;
}

struct ordered {
	struct schema_value v;
	size_t at;
};

static int value_number_cmp(const void *a, const void *b)
{
	const struct ordered *x = a, *y = b;
	if (x->v.number != y->v.number)
		return (x->v.number > y->v.number) - (x->v.number < y->v.number);
	return (x->at > y->at) - (x->at < y->at); /* aliases: the first declared first */
}

static int value_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct schema_value *)a)->name, ((const struct schema_value *)b)->name);
}

static int define_enum(struct load *l, struct schema_enum *e, const enum_desc *d)
{
	size_t n = d->n_value;
	struct schema_value *values = alloc(l, n * sizeof(*values));
	struct schema_value *by_number = alloc(l, n * sizeof(*by_number));
	struct schema_value *by_name = alloc(l, n * sizeof(*by_name));
	struct ordered *tmp = malloc((n ? n : 1) * sizeof(*tmp));

	if (!values || !by_number || !by_name || !tmp) {
		free(tmp);
		return nomem(l);
	}
	if (n == 0) {
		free(tmp);
		return refuse(l, "enum %s has no values", e->name);
	}
	for (size_t i = 0; i < n; i++) {
		if (!ident_ok(d->value[i]->name)) {
			free(tmp);
			return refuse(l, "value %zu of enum %s has %s name", i + 1, e->name,
				      d->value[i]->name ? "an invalid" : "no");
		}
		values[i] = (struct schema_value){ d->value[i]->name, d->value[i]->number };
		tmp[i] = (struct ordered){ values[i], i };
		by_name[i] = values[i];
	}
	qsort(tmp, n, sizeof(*tmp), value_number_cmp);
	for (size_t i = 0; i < n; i++)
		by_number[i] = tmp[i].v;
	free(tmp);
	qsort(by_name, n, sizeof(*by_name), value_name_cmp);
	for (size_t i = 1; i < n; i++)
		if (strcmp(by_name[i].name, by_name[i - 1].name) == 0)
			return refuse(l, "enum %s has two values called %s", e->name, by_name[i].name);
	e->values = values;
	e->by_number = by_number;
	e->by_name = by_name;
	e->n_values = n;
	return 0;
}

static int define_service(struct load *l, struct schema_service *v, const service_desc *d)
{
	char user[SCHEMA_MAX_NAME + SCHEMA_MAX_IDENT + 32];
	size_t n = d->n_method;

	v->methods = alloc(l, (n + 1) * sizeof(*v->methods));
	v->inputs = alloc(l, (n ? n : 1) * sizeof(*v->inputs));
	v->outputs = alloc(l, (n ? n : 1) * sizeof(*v->outputs));
	if (!v->methods || !v->inputs || !v->outputs)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++) {
		const Google__Protobuf__MethodDescriptorProto *md = d->method[k];
		if (!ident_ok(md->name))
			return refuse(l, "method %zu of %s has %s name", k + 1, v->name,
				      md->name ? "an invalid" : "no");
		snprintf(user, sizeof(user), "method %s of %s", md->name, v->name);
		const struct schema_entry *in = resolve(l, user, md->input_type);
		const struct schema_entry *out = in ? resolve(l, user, md->output_type) : NULL;
		if (!out)
			return -EINVAL;
		if (in->kind != SCHEMA_MSG || out->kind != SCHEMA_MSG)
			return refuse(l, "%s takes or returns %s, which is not a message", user,
				      (in->kind != SCHEMA_MSG ? in : out)->name);
		v->methods[k] = md->name;
		v->inputs[k] = in->ptr;
		v->outputs[k] = out->ptr;
	}
	v->n_methods = n;
	const char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
	if (!sorted)
		return nomem(l);
	memcpy(sorted, v->methods, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), str_cmp);
	for (size_t k = 1; k < n; k++)
		if (strcmp(sorted[k], sorted[k - 1]) == 0) {
			refuse(l, "service %s has two methods called %s", v->name, sorted[k]);
			break;
		}
	free(sorted);
	return l->failed;
}

/* ---------------------------------------------------------------- commit */

/* The staged names joined with the schema's: both sorted, one merge. */
static int commit(struct load *l, Google__Protobuf__FileDescriptorSet *set)
{
	bus_schema_t *s = l->s;
	struct schema_entry *types = malloc((s->n_types + l->n_types) * sizeof(*types));
	const char **files = malloc((s->n_files + l->n_files) * sizeof(*files));
	const char **services = realloc(s->services, (s->n_services + l->n_services + 1) *
							     sizeof(*services));
	struct schema_set *sets = realloc(s->sets, (s->n_sets + 1) * sizeof(*sets));

	if (services)
		s->services = services;
	if (sets)
		s->sets = sets;
	if (!types || !files || !services || !sets) {
		free(types);
		free(files);
		return nomem(l);
	}
	size_t a = 0, b = 0, o = 0;
	while (a < s->n_types || b < l->n_types)
		types[o++] = b == l->n_types || (a < s->n_types &&
						 strcmp(s->types[a].name, l->types[b].e.name) < 0)
				     ? s->types[a++] : l->types[b++].e;
	for (a = b = o = 0; a < s->n_files || b < l->n_files;)
		files[o++] = b == l->n_files || (a < s->n_files &&
						 strcmp(s->files[a], l->files[b]) < 0)
				     ? s->files[a++] : l->files[b++];
	if (l->n_services)
		memcpy(services + s->n_services, l->services, l->n_services * sizeof(*services));
	s->n_services += l->n_services;
	services[s->n_services] = NULL;
	free(s->types);
	free(s->files);
	s->types = types;
	s->files = files;
	s->n_types += l->n_types;
	s->n_files += l->n_files;
	s->n_ids += l->n_types;
	s->sets[s->n_sets++] = (struct schema_set){ set, l->blocks };
	l->blocks = NULL;
	return 0;
}

static int load_set(struct load *l, Google__Protobuf__FileDescriptorSet *set)
{
	int r = 0;

	for (size_t i = 0; r == 0 && i < set->n_file; i++)
		r = declare_file(l, set->file[i], i);
	l->file = NULL;
	if (r < 0)
		return r;
	if (l->n_files == 0 && l->n_types == 0)
		return 0; /* every file and type was there before */
	if (l->n_files) /* none when every file was merged into known ones */
		qsort(l->files, l->n_files, sizeof(*l->files), str_cmp);
	for (size_t i = 1; i < l->n_files; i++)
		if (strcmp(l->files[i], l->files[i - 1]) == 0)
			return refuse(l, "the set has file %s twice", l->files[i]);
	if (l->n_types)
		qsort(l->types, l->n_types, sizeof(*l->types), staged_cmp);
	for (size_t i = 0; i < l->n_types; i++)
		if ((i && strcmp(l->types[i].e.name, l->types[i - 1].e.name) == 0) ||
		    schema_find(l->s, l->types[i].e.name))
			return refuse(l, "%s is declared twice", l->types[i].e.name);
	for (size_t i = 0; r == 0 && i < l->n_types; i++) {
		const struct staged *t = &l->types[i];
		l->file = t->file;
		switch (t->e.kind) {
		case SCHEMA_MSG: r = define_message(l, (struct schema_msg *)t->e.ptr, t->d); break;
		case SCHEMA_ENUM: r = define_enum(l, (struct schema_enum *)t->e.ptr, t->d); break;
		case SCHEMA_SERVICE: r = define_service(l, (struct schema_service *)t->e.ptr, t->d); break;
		}
	}
	return r;
}

int bus_schema_add(bus_schema_t *s, const void *fds, size_t len, bus_error_t *err)
{
	struct load l = { .s = s, .err = err };
	size_t cost = 0;

	if (len > SCHEMA_MAX_BYTES) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "the set has %zu bytes, more than %u",
			      len, SCHEMA_MAX_BYTES);
		return -EINVAL;
	}
	switch (measure(fds, len, &google__protobuf__file_descriptor_set__descriptor, 1, &cost)) {
	case MEASURE_OK:
		break;
	case MEASURE_BROKEN:
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "not a FileDescriptorSet");
		return -EINVAL;
	case MEASURE_DEEP:
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "the set nests messages more than %d deep",
			      SCHEMA_MAX_DEPTH);
		return -EINVAL;
	case MEASURE_COSTLY:
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "unpacking the set would take more than "
			      "%u MiB", SCHEMA_MAX_UNPACKED >> 20);
		return -EINVAL;
	}
	Google__Protobuf__FileDescriptorSet *set =
		google__protobuf__file_descriptor_set__unpack(NULL, len, fds);
	if (!set) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "not a FileDescriptorSet");
		return -EINVAL;
	}
	int r = load_set(&l, set);
	if (r == 0 && (l.n_files || l.n_types))
		r = commit(&l, set);
	else if (r == 0)
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL); /* nothing new */
	if (r < 0)
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	schema_blocks_free(l.blocks);
	free(l.types);
	free(l.files);
	free(l.services);
	return r;
}
