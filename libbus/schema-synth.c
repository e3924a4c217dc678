/* schema-synth.c - a google.protobuf.FileDescriptorSet rebuilt from the
 * descriptors protoc-c compiles into a program, so that a service exported
 * without bus_add_schema() is still described to busctl; and a reader that
 * finds the services a set declares. Both speak the wire format by hand. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema-synth.h"
#include "wire.h"

#define NONE ((size_t)-1)

/* descriptor.proto's field numbers and enum values used here. */
enum {
	SET_FILE = 1,
	FILE_NAME = 1, FILE_PACKAGE = 2, FILE_DEPENDENCY = 3, FILE_MESSAGE = 4, FILE_ENUM = 5,
	FILE_SERVICE = 6, FILE_SYNTAX = 12,
	MSG_NAME = 1, MSG_FIELD = 2, MSG_NESTED = 3, MSG_ENUM = 4, MSG_OPTIONS = 7, MSG_ONEOF = 8,
	MSGOPT_MAP_ENTRY = 7,
	FIELD_NAME = 1, FIELD_NUMBER = 3, FIELD_LABEL = 4, FIELD_TYPE = 5, FIELD_TYPE_NAME = 6,
	FIELD_DEFAULT = 7, FIELD_OPTIONS = 8, FIELD_ONEOF = 9, FIELD_PROTO3_OPTIONAL = 17,
	FIELDOPT_PACKED = 2, FIELDOPT_DEPRECATED = 3,
	ONEOF_NAME = 1,
	ENUM_NAME = 1, ENUM_VALUE = 2, ENUM_OPTIONS = 3, ENUMOPT_ALLOW_ALIAS = 2,
	VALUE_NAME = 1, VALUE_NUMBER = 2,
	SERVICE_NAME = 1, SERVICE_METHOD = 2,
	METHOD_NAME = 1, METHOD_INPUT = 2, METHOD_OUTPUT = 3,
	LABEL_OPTIONAL = 1, LABEL_REQUIRED = 2, LABEL_REPEATED = 3,
	TYPE_MESSAGE = 11, TYPE_ENUM = 14,
};

/* ProtobufCType -> FieldDescriptorProto.Type */
static const uint8_t type_number[] = {
	[PROTOBUF_C_TYPE_INT32] = 5, [PROTOBUF_C_TYPE_SINT32] = 17, [PROTOBUF_C_TYPE_SFIXED32] = 15,
	[PROTOBUF_C_TYPE_INT64] = 3, [PROTOBUF_C_TYPE_SINT64] = 18, [PROTOBUF_C_TYPE_SFIXED64] = 16,
	[PROTOBUF_C_TYPE_UINT32] = 13, [PROTOBUF_C_TYPE_FIXED32] = 7, [PROTOBUF_C_TYPE_UINT64] = 4,
	[PROTOBUF_C_TYPE_FIXED64] = 6, [PROTOBUF_C_TYPE_FLOAT] = 2, [PROTOBUF_C_TYPE_DOUBLE] = 1,
	[PROTOBUF_C_TYPE_BOOL] = 8, [PROTOBUF_C_TYPE_ENUM] = TYPE_ENUM,
	[PROTOBUF_C_TYPE_STRING] = 9, [PROTOBUF_C_TYPE_BYTES] = 12,
	[PROTOBUF_C_TYPE_MESSAGE] = TYPE_MESSAGE,
};

/* ---------------------------------------------------------------- encoding */

struct buf {
	uint8_t *p;
	size_t n, cap;
	int oom;
};

static void put_raw(struct buf *b, const void *data, size_t len)
{
	if (b->oom)
		return;
	if (b->cap - b->n < len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n < len)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];

	put_raw(b, tmp, (size_t)(wire_varint_put(tmp, v) - tmp));
}

static void put_uint(struct buf *b, unsigned field, uint64_t v)
{
	put_varint(b, (uint64_t)field << 3 | WIRE_WT_VARINT);
	put_varint(b, v);
}

/* int32 on the wire: negative numbers take ten bytes, sign-extended. */
static void put_int(struct buf *b, unsigned field, int32_t v)
{
	put_uint(b, field, (uint64_t)(int64_t)v);
}

static void put_bytes(struct buf *b, unsigned field, const void *data, size_t len)
{
	put_varint(b, (uint64_t)field << 3 | WIRE_WT_LEN);
	put_varint(b, len);
	put_raw(b, data, len);
}

static void put_str(struct buf *b, unsigned field, const char *s)
{
	put_bytes(b, field, s, strlen(s));
}

/* sub as a length-delimited field of b; sub is emptied. */
static void put_sub(struct buf *b, unsigned field, struct buf *sub)
{
	if (sub->oom)
		b->oom = 1;
	else
		put_bytes(b, field, sub->p, sub->n);
	free(sub->p);
	*sub = (struct buf){ 0 };
}

/* ---------------------------------------------------------------- closure */

/* A message or enum the service uses, or a container: a message that
 * only holds nested types the service uses. */
struct node {
	char *name;        /* fully qualified (owned) */
	const char *package;
	const char *short_name;
	const ProtobufCMessageDescriptor *msg; /* NULL for an enum or a container */
	const ProtobufCEnumDescriptor *en;
	size_t parent;     /* node index, NONE at the top of its file */
	size_t file;
};

struct file {
	char *name;
	const char *package;
	int proto3;
	size_t *deps;      /* file indexes */
	size_t n_deps;
	int mark;          /* emit order: 1 visiting, 2 done */
};

struct synth {
	struct node *nodes;
	size_t n, cap;
	struct file *files;
	size_t n_files;
	int oom;
};

static size_t node_find(const struct synth *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->nodes[i].name, name) == 0)
			return i;
	return NONE;
}

static size_t node_add(struct synth *s, const char *name, const char *package,
		       const ProtobufCMessageDescriptor *msg, const ProtobufCEnumDescriptor *en)
{
	size_t i = node_find(s, name);

	if (i != NONE || s->oom)
		return i;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		struct node *n = realloc(s->nodes, cap * sizeof(*n));
		if (!n) {
			s->oom = 1;
			return NONE;
		}
		s->nodes = n;
		s->cap = cap;
	}
	char *copy = strdup(name);
	if (!copy) {
		s->oom = 1;
		return NONE;
	}
	const char *dot = strrchr(copy, '.');
	/* protoc-c gives the package apart; a name outside it is taken as
	 * it stands, in no package. */
	size_t pl = package ? strlen(package) : 0;
	if (!pl || strncmp(copy, package, pl) != 0 || copy[pl] != '.')
		package = "";
	s->nodes[s->n] = (struct node){ copy, package, dot ? dot + 1 : copy, msg, en, NONE, NONE };
	return s->n++;
}

/* Every type reachable from the service's methods (the node array is the
 * work queue), then the parent of every nested one. */
static void closure(struct synth *s, const ProtobufCServiceDescriptor *svc)
{
	for (unsigned k = 0; k < svc->n_methods; k++) {
		node_add(s, svc->methods[k].input->name, svc->methods[k].input->package_name,
			 svc->methods[k].input, NULL);
		node_add(s, svc->methods[k].output->name, svc->methods[k].output->package_name,
			 svc->methods[k].output, NULL);
	}
	for (size_t i = 0; i < s->n && !s->oom; i++) {
		const ProtobufCMessageDescriptor *d = s->nodes[i].msg;
		for (unsigned f = 0; d && f < d->n_fields; f++) {
			const ProtobufCFieldDescriptor *fd = &d->fields[f];
			if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
				const ProtobufCMessageDescriptor *t = fd->descriptor;
				node_add(s, t->name, t->package_name, t, NULL);
			} else if (fd->type == PROTOBUF_C_TYPE_ENUM) {
				const ProtobufCEnumDescriptor *t = fd->descriptor;
				node_add(s, t->name, t->package_name, NULL, t);
			}
		}
	}
	for (size_t i = 0; i < s->n && !s->oom; i++) {
		struct node *n = &s->nodes[i];
		size_t pl = strlen(n->package);
		const char *rel = n->name + (pl ? pl + 1 : 0);
		const char *dot = strrchr(rel, '.');
		if (!dot)
			continue;
		char *parent = strndup(n->name, (size_t)(dot - n->name));
		if (!parent) {
			s->oom = 1;
			break;
		}
		const char *pkg = n->package;
		size_t p = node_add(s, parent, pkg, NULL, NULL); /* may move s->nodes */
		free(parent);
		s->nodes[i].parent = p;
	}
}

/* ---------------------------------------------------------------- files */

static size_t top_of(const struct synth *s, size_t i)
{
	while (s->nodes[i].parent != NONE)
		i = s->nodes[i].parent;
	return i;
}

/* What a message's fields say of its file's syntax: 3 (a field without a
 * label exists only in proto3), 2 (required or optional fields: proto2,
 * unless a field of the first kind is there too) or 0 (nothing). */
static int syntax_of(const ProtobufCMessageDescriptor *d)
{
	int two = 0;

	for (unsigned f = 0; d && f < d->n_fields; f++) {
		if (d->fields[f].label == PROTOBUF_C_LABEL_NONE)
			return 3;
		if (d->fields[f].label != PROTOBUF_C_LABEL_REPEATED)
			two = 1;
	}
	return two ? 2 : 0;
}

static size_t file_get(struct synth *s, const char *package, int proto3)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (strcmp(s->files[i].package, package) == 0 && s->files[i].proto3 == proto3)
			return i;
	struct file *f = realloc(s->files, (s->n_files + 1) * sizeof(*f));
	if (!f) {
		s->oom = 1;
		return NONE;
	}
	s->files = f;
	size_t len = strlen(SYNTH_PREFIX) + strlen(package) + 32;
	char *name = malloc(len);
	if (!name) {
		s->oom = 1;
		return NONE;
	}
	snprintf(name, len, "%s%s%s.proto", SYNTH_PREFIX, *package ? package : "(root)",
		 proto3 ? "" : "-proto2");
	s->files[s->n_files] = (struct file){ name, package, proto3, NULL, 0, 0 };
	return s->n_files++;
}

/* The syntax of each top-level tree decides its file: what its messages
 * say, else what the package's other trees say, else proto3. */
static void assign_files(struct synth *s)
{
	int *says = calloc(s->n ? s->n : 1, sizeof(*says));

	if (!says) {
		s->oom = 1;
		return;
	}
	for (size_t i = 0; i < s->n; i++) {
		size_t t = top_of(s, i);
		int v = syntax_of(s->nodes[i].msg);
		if (v == 3 || (v == 2 && says[t] == 0))
			says[t] = v;
	}
	for (size_t i = 0; i < s->n && !s->oom; i++) {
		if (s->nodes[i].parent != NONE)
			continue;
		int v = says[i];
		for (size_t k = 0; k < s->n && !v; k++)
			if (s->nodes[k].parent == NONE && says[k] &&
			    strcmp(s->nodes[k].package, s->nodes[i].package) == 0)
				v = says[k];
		s->nodes[i].file = file_get(s, s->nodes[i].package, v != 2);
	}
	for (size_t i = 0; i < s->n; i++)
		s->nodes[i].file = s->nodes[top_of(s, i)].file;
	free(says);
}

static void depend(struct synth *s, size_t from, size_t to)
{
	struct file *f = &s->files[from];

	if (from == to || from == NONE || to == NONE)
		return;
	for (size_t i = 0; i < f->n_deps; i++)
		if (f->deps[i] == to)
			return;
	size_t *d = realloc(f->deps, (f->n_deps + 1) * sizeof(*d));
	if (!d) {
		s->oom = 1;
		return;
	}
	f->deps = d;
	f->deps[f->n_deps++] = to;
}

static size_t file_of_type(const struct synth *s, const char *name)
{
	size_t i = node_find(s, name);
	return i == NONE ? NONE : s->nodes[i].file;
}

static void find_deps(struct synth *s, size_t svc_file, const ProtobufCServiceDescriptor *svc)
{
	for (size_t i = 0; i < s->n; i++) {
		const ProtobufCMessageDescriptor *d = s->nodes[i].msg;
		for (unsigned f = 0; d && f < d->n_fields; f++) {
			const ProtobufCFieldDescriptor *fd = &d->fields[f];
			if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
				depend(s, s->nodes[i].file, file_of_type(s,
					((const ProtobufCMessageDescriptor *)fd->descriptor)->name));
			else if (fd->type == PROTOBUF_C_TYPE_ENUM)
				depend(s, s->nodes[i].file, file_of_type(s,
					((const ProtobufCEnumDescriptor *)fd->descriptor)->name));
		}
	}
	for (unsigned k = 0; k < svc->n_methods; k++) {
		depend(s, svc_file, file_of_type(s, svc->methods[k].input->name));
		depend(s, svc_file, file_of_type(s, svc->methods[k].output->name));
	}
}

/* ---------------------------------------------------------------- messages */

static void put_type_name(struct buf *b, unsigned field, const char *name)
{
	put_varint(b, (uint64_t)field << 3 | WIRE_WT_LEN);
	put_varint(b, strlen(name) + 1);
	put_raw(b, ".", 1);
	put_raw(b, name, strlen(name));
}

/* protoc's default_value text: C-escaped bytes. */
static void put_escaped(struct buf *b, unsigned field, const uint8_t *p, size_t len)
{
	struct buf t = { 0 };

	for (size_t i = 0; i < len; i++) {
		char e[5];
		uint8_t c = p[i];
		if (c == '\\' || c == '"' || c == '\'')
			snprintf(e, sizeof(e), "\\%c", c);
		else if (c >= 0x20 && c < 0x7f)
			snprintf(e, sizeof(e), "%c", c);
		else
			snprintf(e, sizeof(e), "\\%03o", c);
		put_raw(&t, e, strlen(e));
	}
	put_sub(b, field, &t);
}

static void put_double_text(struct buf *b, unsigned field, double v, int digits)
{
	char text[40];

	if (isinf(v))
		snprintf(text, sizeof(text), "%s", v < 0 ? "-inf" : "inf");
	else if (isnan(v))
		snprintf(text, sizeof(text), "nan");
	else
		snprintf(text, sizeof(text), "%.*g", digits, v);
	put_str(b, field, text);
}

/* A proto2 field's explicit default, as protoc writes it. */
static void put_default(struct buf *b, const ProtobufCFieldDescriptor *fd)
{
	const void *v = fd->default_value;
	char text[32];

	if (!v)
		return;
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
		snprintf(text, sizeof(text), "%d", *(const int32_t *)v); break;
	case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32:
		snprintf(text, sizeof(text), "%u", *(const uint32_t *)v); break;
	case PROTOBUF_C_TYPE_INT64: case PROTOBUF_C_TYPE_SINT64: case PROTOBUF_C_TYPE_SFIXED64:
		snprintf(text, sizeof(text), "%lld", (long long)*(const int64_t *)v); break;
	case PROTOBUF_C_TYPE_UINT64: case PROTOBUF_C_TYPE_FIXED64:
		snprintf(text, sizeof(text), "%llu", (unsigned long long)*(const uint64_t *)v); break;
	case PROTOBUF_C_TYPE_BOOL:
		snprintf(text, sizeof(text), "%s", *(const protobuf_c_boolean *)v ? "true" : "false");
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		put_double_text(b, FIELD_DEFAULT, *(const float *)v, 9);
		return;
	case PROTOBUF_C_TYPE_DOUBLE:
		put_double_text(b, FIELD_DEFAULT, *(const double *)v, 17);
		return;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(fd->descriptor,
										    *(const int *)v);
		if (ev)
			put_str(b, FIELD_DEFAULT, ev->name);
		return;
	}
	case PROTOBUF_C_TYPE_STRING:
		if (*(const char *)v)
			put_str(b, FIELD_DEFAULT, v); /* protoc keeps strings as they are */
		return;
	case PROTOBUF_C_TYPE_BYTES: {
		const ProtobufCBinaryData *bd = v;
		if (bd->len)
			put_escaped(b, FIELD_DEFAULT, bd->data, bd->len);
		return;
	}
	default:
		return;
	}
	put_str(b, FIELD_DEFAULT, text);
}

static int scalar(ProtobufCType t)
{
	return t != PROTOBUF_C_TYPE_STRING && t != PROTOBUF_C_TYPE_BYTES &&
	       t != PROTOBUF_C_TYPE_MESSAGE;
}

/* Oneofs: the members of one share their case member (quantifier_offset);
 * numbered in the order of their first member. oneof[i] gets field i's
 * (-1: none); returns how many there are. */
static unsigned oneofs_of(const ProtobufCMessageDescriptor *d, int *oneof)
{
	unsigned count = 0;

	for (unsigned i = 0; i < d->n_fields; i++) {
		oneof[i] = -1;
		if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		for (unsigned k = 0; k < i && oneof[i] < 0; k++)
			if (oneof[k] >= 0 && d->fields[k].quantifier_offset == d->fields[i].quantifier_offset)
				oneof[i] = oneof[k];
		if (oneof[i] < 0)
			oneof[i] = (int)count++;
	}
	return count;
}

/* protoc's name for the entry message of map field name: FooBarEntry. */
static int map_entry_of(const char *field, const char *entry)
{
	char want[512];
	size_t o = 0;
	int up = 1;

	for (const char *p = field; *p && o < sizeof(want) - 7; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		want[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = 0;
	}
	memcpy(want + o, "Entry", 6);
	return strcmp(want, entry) == 0;
}

/* A map field's entry: nested in the message of a repeated field of that
 * name, with key = 1 and value = 2 and nothing else (protoc refuses a
 * message of its own by the entry's name). */
static int is_map_entry(const struct synth *s, const struct node *n)
{
	const ProtobufCMessageDescriptor *d = n->msg;
	const ProtobufCMessageDescriptor *p = n->parent != NONE ? s->nodes[n->parent].msg : NULL;

	if (!p || d->n_fields != 2 || d->fields[0].id != 1 || d->fields[1].id != 2 ||
	    strcmp(d->fields[0].name, "key") != 0 || strcmp(d->fields[1].name, "value") != 0 ||
	    d->fields[0].label == PROTOBUF_C_LABEL_REPEATED ||
	    d->fields[1].label == PROTOBUF_C_LABEL_REPEATED)
		return 0;
	for (unsigned i = 0; i < p->n_fields; i++)
		if (p->fields[i].label == PROTOBUF_C_LABEL_REPEATED &&
		    p->fields[i].type == PROTOBUF_C_TYPE_MESSAGE && p->fields[i].descriptor == d &&
		    map_entry_of(p->fields[i].name, d->short_name))
			return 1;
	return 0;
}

static void put_field(struct buf *b, const ProtobufCMessageDescriptor *d, unsigned i,
		      int proto3, int oneof, unsigned *next_synthetic, int entry)
{
	const ProtobufCFieldDescriptor *fd = &d->fields[i];
	struct buf f = { 0 }, o = { 0 };
	int optional3 = proto3 && !entry && fd->label == PROTOBUF_C_LABEL_OPTIONAL &&
			!(fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF);

	put_str(&f, FIELD_NAME, fd->name);
	put_uint(&f, FIELD_NUMBER, fd->id);
	put_uint(&f, FIELD_LABEL, fd->label == PROTOBUF_C_LABEL_REQUIRED ? LABEL_REQUIRED
				  : fd->label == PROTOBUF_C_LABEL_REPEATED ? LABEL_REPEATED
				  : LABEL_OPTIONAL);
	put_uint(&f, FIELD_TYPE, fd->type < sizeof(type_number) ? type_number[fd->type] : 0);
	if (fd->type == PROTOBUF_C_TYPE_MESSAGE)
		put_type_name(&f, FIELD_TYPE_NAME,
			      ((const ProtobufCMessageDescriptor *)fd->descriptor)->name);
	else if (fd->type == PROTOBUF_C_TYPE_ENUM)
		put_type_name(&f, FIELD_TYPE_NAME,
			      ((const ProtobufCEnumDescriptor *)fd->descriptor)->name);
	if (!proto3)
		put_default(&f, fd);
	/* Packing said outright: the same whatever the file's syntax. */
	if (fd->label == PROTOBUF_C_LABEL_REPEATED && scalar(fd->type) &&
	    (proto3 || (fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED)))
		put_uint(&o, FIELDOPT_PACKED, !!(fd->flags & PROTOBUF_C_FIELD_FLAG_PACKED));
	if (fd->flags & PROTOBUF_C_FIELD_FLAG_DEPRECATED)
		put_uint(&o, FIELDOPT_DEPRECATED, 1);
	if (o.n || o.oom)
		put_sub(&f, FIELD_OPTIONS, &o);
	free(o.p);
	if (oneof >= 0)
		put_uint(&f, FIELD_ONEOF, (uint64_t)oneof);
	if (optional3) {
		/* proto3 optional (protoc-c 1.5): a synthetic oneof of its own */
		put_uint(&f, FIELD_ONEOF, (*next_synthetic)++);
		put_uint(&f, FIELD_PROTO3_OPTIONAL, 1);
	}
	put_sub(b, MSG_FIELD, &f);
}

static void put_enum(struct buf *b, unsigned field, const struct node *n)
{
	const ProtobufCEnumDescriptor *d = n->en;
	struct buf e = { 0 };
	int aliases = 0;

	put_str(&e, ENUM_NAME, n->short_name);
	/* values[] is by number, one per number: zero first (proto3 wants
	 * it first), each followed by the other names it has. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned i = 0; i < d->n_values; i++) {
			if ((d->values[i].value == 0) != (pass == 0))
				continue;
			for (unsigned k = 0; k <= d->n_value_names; k++) {
				const char *name = k == 0 ? d->values[i].name
					: d->values_by_name[k - 1].index == i &&
					  strcmp(d->values_by_name[k - 1].name, d->values[i].name) != 0
					? d->values_by_name[k - 1].name : NULL;
				if (!name)
					continue;
				struct buf v = { 0 };
				aliases += k > 0;
				put_str(&v, VALUE_NAME, name);
				put_int(&v, VALUE_NUMBER, d->values[i].value);
				put_sub(&e, ENUM_VALUE, &v);
			}
		}
	}
	if (aliases) {
		struct buf o = { 0 };
		put_uint(&o, ENUMOPT_ALLOW_ALIAS, 1);
		put_sub(&e, ENUM_OPTIONS, &o);
	}
	put_sub(b, field, &e);
}

static void put_message(struct buf *b, unsigned field, const struct synth *s, size_t at)
{
	const struct node *n = &s->nodes[at];
	const ProtobufCMessageDescriptor *d = n->msg;
	int proto3 = s->files[n->file].proto3;
	int entry = d && is_map_entry(s, n);
	struct buf m = { 0 };
	unsigned n_oneofs = 0, next_synthetic;
	int *oneof = d && d->n_fields ? malloc(d->n_fields * sizeof(*oneof)) : NULL;

	if (d && d->n_fields && !oneof) {
		b->oom = 1;
		return;
	}
	put_str(&m, MSG_NAME, n->short_name);
	if (oneof)
		n_oneofs = oneofs_of(d, oneof);
	next_synthetic = n_oneofs;
	for (unsigned i = 0; d && i < d->n_fields; i++)
		put_field(&m, d, i, proto3, oneof[i], &next_synthetic, entry);
	free(oneof);
	for (size_t i = 0; i < s->n; i++)
		if (s->nodes[i].parent == at && !s->nodes[i].en)
			put_message(&m, MSG_NESTED, s, i);
	for (size_t i = 0; i < s->n; i++)
		if (s->nodes[i].parent == at && s->nodes[i].en)
			put_enum(&m, MSG_ENUM, &s->nodes[i]);
	if (entry) {
		struct buf o = { 0 };
		put_uint(&o, MSGOPT_MAP_ENTRY, 1);
		put_sub(&m, MSG_OPTIONS, &o);
	}
	for (unsigned k = 0; k < n_oneofs; k++) {
		struct buf o = { 0 };
		char name[24];
		snprintf(name, sizeof(name), "oneof%u", k);
		put_str(&o, ONEOF_NAME, name);
		put_sub(&m, MSG_ONEOF, &o);
	}
	/* the synthetic oneofs, after the real ones as protoc puts them */
	for (unsigned i = 0; proto3 && !entry && d && i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *fd = &d->fields[i];
		if (fd->label != PROTOBUF_C_LABEL_OPTIONAL || (fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
			continue;
		struct buf o = { 0 };
		put_varint(&o, (uint64_t)ONEOF_NAME << 3 | WIRE_WT_LEN);
		put_varint(&o, strlen(fd->name) + 1);
		put_raw(&o, "_", 1);
		put_raw(&o, fd->name, strlen(fd->name));
		put_sub(&m, MSG_ONEOF, &o);
	}
	put_sub(b, field, &m);
}

static void put_service(struct buf *b, const ProtobufCServiceDescriptor *svc, const char *pkg)
{
	struct buf v = { 0 };

	put_str(&v, SERVICE_NAME, svc->name + (*pkg ? strlen(pkg) + 1 : 0));
	for (unsigned k = 0; k < svc->n_methods; k++) {
		struct buf m = { 0 };
		put_str(&m, METHOD_NAME, svc->methods[k].name);
		put_type_name(&m, METHOD_INPUT, svc->methods[k].input->name);
		put_type_name(&m, METHOD_OUTPUT, svc->methods[k].output->name);
		put_sub(&v, SERVICE_METHOD, &m);
	}
	put_sub(b, FILE_SERVICE, &v);
}

/* Files in an order where each comes after those it depends on (protoc's
 * --include_imports order); a cycle between packages is cut anywhere. */
static void put_file(struct buf *b, struct synth *s, size_t fi, size_t svc_file,
		     const ProtobufCServiceDescriptor *svc, const char *svc_pkg)
{
	struct file *f = &s->files[fi];
	struct buf fb = { 0 };

	if (f->mark)
		return;
	f->mark = 1;
	for (size_t i = 0; i < f->n_deps; i++)
		put_file(b, s, f->deps[i], svc_file, svc, svc_pkg);
	f->mark = 2;
	put_str(&fb, FILE_NAME, f->name);
	if (*f->package)
		put_str(&fb, FILE_PACKAGE, f->package);
	for (size_t i = 0; i < f->n_deps; i++)
		put_str(&fb, FILE_DEPENDENCY, s->files[f->deps[i]].name);
	for (size_t i = 0; i < s->n; i++)
		if (s->nodes[i].file == fi && s->nodes[i].parent == NONE && !s->nodes[i].en)
			put_message(&fb, FILE_MESSAGE, s, i);
	for (size_t i = 0; i < s->n; i++)
		if (s->nodes[i].file == fi && s->nodes[i].parent == NONE && s->nodes[i].en)
			put_enum(&fb, FILE_ENUM, &s->nodes[i]);
	if (fi == svc_file)
		put_service(&fb, svc, svc_pkg);
	put_str(&fb, FILE_SYNTAX, f->proto3 ? "proto3" : "proto2");
	put_sub(b, SET_FILE, &fb);
}

int synth_schema(const ProtobufCServiceDescriptor *svc, uint8_t **out, size_t *len)
{
	struct synth s = { 0 };
	struct buf b = { 0 };
	size_t svc_file = NONE;
	const char *dot = strrchr(svc->name, '.');
	size_t pl = svc->package ? strlen(svc->package) : 0;
	/* The package is what precedes the service's own name: protoc-c's
	 * package when the full name says so, else the name up to its last
	 * dot (a hand-made descriptor). */
	char *pkg = pl && strncmp(svc->name, svc->package, pl) == 0 && svc->name + pl == dot
		    ? strdup(svc->package) : strndup(svc->name, dot ? (size_t)(dot - svc->name) : 0);

	*out = NULL;
	*len = 0;
	if (!pkg)
		return -ENOMEM;
	closure(&s, svc);
	if (!s.oom)
		assign_files(&s);
	for (size_t i = 0; !s.oom && i < s.n_files && svc_file == NONE; i++)
		if (strcmp(s.files[i].package, pkg) == 0)
			svc_file = i;
	if (!s.oom && svc_file == NONE)
		svc_file = file_get(&s, pkg, 1);
	if (!s.oom)
		find_deps(&s, svc_file, svc);
	for (size_t i = 0; !s.oom && i < s.n_files; i++)
		put_file(&b, &s, i, svc_file, svc, pkg);
	for (size_t i = 0; i < s.n; i++)
		free(s.nodes[i].name);
	for (size_t i = 0; i < s.n_files; i++) {
		free(s.files[i].name);
		free(s.files[i].deps);
	}
	free(s.nodes);
	free(s.files);
	free(pkg);
	if (s.oom || b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	*len = b.n;
	return 0;
}

/* ---------------------------------------------------------------- reading */

/* The next field of [*p, end): its number, wire type and, for LEN, its
 * bytes. 1 with a field, 0 at the end, -1 when the encoding is broken. */
static int next_field(const uint8_t **p, const uint8_t *end, unsigned *num,
		      const uint8_t **data, size_t *len)
{
	uint64_t key, v;
	size_t n;

	if (*p == end)
		return 0;
	if (!(n = wire_varint_get(*p, (size_t)(end - *p), &key)))
		return -1;
	*p += n;
	*num = (unsigned)(key >> 3);
	*data = NULL;
	*len = 0;
	switch (key & 7) {
	case WIRE_WT_VARINT:
		if (!(n = wire_varint_get(*p, (size_t)(end - *p), &v)))
			return -1;
		*p += n;
		return 1;
	case WIRE_WT_I64: n = 8; break;
	case WIRE_WT_I32: n = 4; break;
	case WIRE_WT_LEN:
		if (!(n = wire_varint_get(*p, (size_t)(end - *p), &v)) || v > (uint64_t)(end - *p - n))
			return -1;
		*p += n;
		*data = *p;
		*len = (size_t)v;
		n = (size_t)v;
		break;
	default:
		return -1;
	}
	if (n > (size_t)(end - *p))
		return -1;
	*p += n;
	return 1;
}

/* Does file (a FileDescriptorProto) declare service? */
static int file_declares(const uint8_t *file, size_t flen, const char *service)
{
	const uint8_t *p = file, *end = file + flen, *data;
	const uint8_t *pkg = NULL;
	size_t pkg_len = 0, len;
	unsigned num;
	int r;

	while ((r = next_field(&p, end, &num, &data, &len)) > 0)
		if (num == FILE_PACKAGE && data) {
			pkg = data;
			pkg_len = len;
		}
	if (r < 0)
		return 0;
	size_t sl = strlen(service);
	if (pkg_len && (sl <= pkg_len || memcmp(service, pkg, pkg_len) != 0 ||
			service[pkg_len] != '.'))
		return 0;
	const char *bare = service + (pkg_len ? pkg_len + 1 : 0);
	for (p = file; next_field(&p, end, &num, &data, &len) > 0;) {
		if (num != FILE_SERVICE || !data)
			continue;
		const uint8_t *q = data, *qend = data + len, *name;
		size_t name_len;
		unsigned qn;
		while (next_field(&q, qend, &qn, &name, &name_len) > 0)
			if (qn == SERVICE_NAME && name && name_len == strlen(bare) &&
			    memcmp(name, bare, name_len) == 0)
				return 1;
	}
	return 0;
}

int synth_set_declares(const uint8_t *fds, size_t len, const char *service)
{
	const uint8_t *p = fds, *end = fds + len, *data;
	size_t flen;
	unsigned num;

	while (next_field(&p, end, &num, &data, &flen) > 0)
		if (num == SET_FILE && data && file_declares(data, flen, service))
			return 1;
	return 0;
}
