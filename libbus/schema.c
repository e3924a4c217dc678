/* schema.c - FileDescriptorSets loaded into an index of messages, enums
 * and services by full name (checked: every type a field or method uses
 * must be described), method lookup, and the .proto-like rendering that
 * busctl introspect prints. The JSON codec lives in json.c. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"

#define FIELD(t) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##t
#define REPEATED GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED

static const char *undot(const char *name)
{
	return name && name[0] == '.' ? name + 1 : name;
}

static char *join(const char *prefix, const char *name)
{
	size_t a = prefix && *prefix ? strlen(prefix) : 0, b = strlen(name);
	char *s = malloc(a + b + 2);

	if (!s)
		return NULL;
	if (a) {
		memcpy(s, prefix, a);
		s[a++] = '.';
	}
	memcpy(s + a, name, b + 1);
	return s;
}

int bus_schema_new(bus_schema_t **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

static void services_free(bus_schema_t *s)
{
	for (size_t i = 0; i < s->n_services; i++) {
		struct schema_service *v = &s->services[i];
		for (size_t k = 0; k < v->d->n_method; k++) {
			free(v->inputs[k]);
			free(v->outputs[k]);
		}
		free(v->name);
		free(v->methods);
		free(v->inputs);
		free(v->outputs);
	}
}

void bus_schema_free(bus_schema_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_msgs; i++)
		free(s->msgs[i].name);
	for (size_t i = 0; i < s->n_enums; i++)
		free(s->enums[i].name);
	services_free(s);
	for (size_t i = 0; i < s->n_sets; i++)
		google__protobuf__file_descriptor_set__free_unpacked(s->sets[i], NULL);
	free(s->msgs);
	free(s->enums);
	free(s->services);
	free(s->service_names);
	free(s->files);
	free(s->sets);
	free(s);
}

/* ---------------------------------------------------------------- lookup */

const struct schema_msg *schema_find_msg(const bus_schema_t *s, const char *name)
{
	name = undot(name);
	for (size_t i = 0; name && i < s->n_msgs; i++)
		if (strcmp(s->msgs[i].name, name) == 0)
			return &s->msgs[i];
	return NULL;
}

const struct schema_enum *schema_find_enum(const bus_schema_t *s, const char *name)
{
	name = undot(name);
	for (size_t i = 0; name && i < s->n_enums; i++)
		if (strcmp(s->enums[i].name, name) == 0)
			return &s->enums[i];
	return NULL;
}

static const struct schema_service *find_service(const bus_schema_t *s, const char *name)
{
	name = undot(name);
	for (size_t i = 0; name && i < s->n_services; i++)
		if (strcmp(s->services[i].name, name) == 0)
			return &s->services[i];
	return NULL;
}

const char *schema_json_name(const field_desc *f, char *buf, size_t len)
{
	if (f->json_name && *f->json_name)
		return f->json_name;
	size_t o = 0;
	int up = 0;
	for (const char *p = f->name; *p && o + 1 < len; p++) {
		if (*p == '_') {
			up = 1;
			continue;
		}
		buf[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
		up = 0;
	}
	buf[o] = '\0';
	return buf;
}

int bus_schema_has_type(const bus_schema_t *s, const char *type)
{
	return s && type && schema_find_msg(s, type) != NULL;
}

const char *const *bus_schema_services(const bus_schema_t *s, size_t *n)
{
	*n = s ? s->n_services : 0;
	return s ? s->service_names : NULL;
}

size_t bus_schema_methods(const bus_schema_t *s, const char *service, const char *const **names)
{
	const struct schema_service *v = s ? find_service(s, service) : NULL;

	*names = v ? v->methods : NULL;
	return v ? v->d->n_method : 0;
}

int bus_schema_method(const bus_schema_t *s, const char *service, const char *method,
		      const char **service_out, const char **input_type, const char **output_type)
{
	int found = 0;

	for (size_t i = 0; s && i < s->n_services; i++) {
		const struct schema_service *v = &s->services[i];
		if (service && strcmp(v->name, undot(service)) != 0)
			continue;
		for (size_t k = 0; k < v->d->n_method; k++) {
			if (strcmp(v->methods[k], method) != 0)
				continue;
			if (found++)
				return -EEXIST;
			*service_out = v->name;
			*input_type = v->inputs[k];
			*output_type = v->outputs[k];
		}
	}
	return found ? 0 : -ENOENT;
}

/* ---------------------------------------------------------------- loading */

#define GROW(arr, n, extra)                                                          \
	do {                                                                         \
		void *g_ = realloc((arr), ((n) + (extra)) * sizeof(*(arr)));         \
		if (!g_)                                                             \
			return -ENOMEM;                                              \
		(arr) = g_;                                                          \
	} while (0)

/* An enum declared in scope (a package or message name), by its full name. */
static int index_enum(bus_schema_t *s, const char *scope,
		      const enum_desc *e)
{
	char *name = join(scope, e->name ? e->name : "");
	struct schema_enum *grown = name ? realloc(s->enums, (s->n_enums + 1) * sizeof(*grown)) : NULL;

	if (!grown) {
		free(name);
		return -ENOMEM;
	}
	s->enums = grown;
	s->enums[s->n_enums++] = (struct schema_enum){ name, e };
	return 0;
}

static int index_message(bus_schema_t *s, const char *prefix, const msg_desc *d, int proto3)
{
	char *name = join(prefix, d->name ? d->name : "");
	if (!name)
		return -ENOMEM;
	GROW(s->msgs, s->n_msgs, 1);
	s->msgs[s->n_msgs++] = (struct schema_msg){
		name, d, proto3, d->options && d->options->has_map_entry && d->options->map_entry,
	};
	for (size_t i = 0; i < d->n_enum_type; i++)
		if (index_enum(s, name, d->enum_type[i]) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < d->n_nested_type; i++) {
		int r = index_message(s, name, d->nested_type[i], proto3);
		if (r < 0)
			return r;
	}
	return 0;
}

static int index_file(bus_schema_t *s, const Google__Protobuf__FileDescriptorProto *f)
{
	int proto3 = f->syntax && strcmp(f->syntax, "proto3") == 0;
	const char *pkg = f->package ? f->package : "";

	for (size_t i = 0; i < f->n_message_type; i++) {
		int r = index_message(s, pkg, f->message_type[i], proto3);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < f->n_enum_type; i++)
		if (index_enum(s, pkg, f->enum_type[i]) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < f->n_service; i++) {
		const Google__Protobuf__ServiceDescriptorProto *d = f->service[i];
		size_t n = d->n_method;
		struct schema_service v = { join(pkg, d->name ? d->name : ""), d,
					    calloc(n + 1, sizeof(char *)), calloc(n + 1, sizeof(char *)),
					    calloc(n + 1, sizeof(char *)) };
		GROW(s->services, s->n_services, 1);
		s->services[s->n_services++] = v;
		if (!v.name || !v.methods || !v.inputs || !v.outputs)
			return -ENOMEM;
		for (size_t k = 0; k < n; k++) {
			v.methods[k] = d->method[k]->name ? d->method[k]->name : "";
			v.inputs[k] = strdup(undot(d->method[k]->input_type ? d->method[k]->input_type : ""));
			v.outputs[k] = strdup(undot(d->method[k]->output_type ? d->method[k]->output_type : ""));
			if (!v.inputs[k] || !v.outputs[k])
				return -ENOMEM;
		}
	}
	return 0;
}

/* Every type a field or method names must be in the index. */
static const char *check_refs(const bus_schema_t *s, const char **user)
{
	for (size_t i = 0; i < s->n_msgs; i++) {
		const msg_desc *d = s->msgs[i].d;
		for (size_t k = 0; k < d->n_field; k++) {
			const field_desc *f = d->field[k];
			*user = s->msgs[i].name;
			if (f->type == FIELD(MESSAGE) || f->type == FIELD(GROUP)) {
				if (!schema_find_msg(s, f->type_name))
					return f->type_name ? f->type_name : "(none)";
			} else if (f->type == FIELD(ENUM) && !schema_find_enum(s, f->type_name)) {
				return f->type_name ? f->type_name : "(none)";
			}
		}
	}
	for (size_t i = 0; i < s->n_services; i++)
		for (size_t k = 0; k < s->services[i].d->n_method; k++) {
			*user = s->services[i].name;
			if (!schema_find_msg(s, s->services[i].inputs[k]))
				return s->services[i].inputs[k];
			if (!schema_find_msg(s, s->services[i].outputs[k]))
				return s->services[i].outputs[k];
		}
	return NULL;
}

static int has_file(const bus_schema_t *s, const char *name)
{
	for (size_t i = 0; i < s->n_files; i++)
		if (strcmp(s->files[i], name) == 0)
			return 1;
	return 0;
}

int bus_schema_add(bus_schema_t *s, const void *fds, size_t len, bus_error_t *err)
{
	Google__Protobuf__FileDescriptorSet *set =
		google__protobuf__file_descriptor_set__unpack(NULL, len, fds);
	size_t m0 = s->n_msgs, e0 = s->n_enums, v0 = s->n_services, f0 = s->n_files;
	int r = 0;

	if (!set) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "the schema is not a FileDescriptorSet");
		return -EINVAL;
	}
	for (size_t i = 0; i < set->n_file && r == 0; i++) {
		const Google__Protobuf__FileDescriptorProto *f = set->file[i];
		const char *fname = f->name ? f->name : "";
		if (has_file(s, fname))
			continue;
		GROW(s->files, s->n_files, 1);
		s->files[s->n_files++] = (char *)fname;
		r = index_file(s, f);
	}
	const char *user = "", *missing = r == 0 ? check_refs(s, &user) : NULL;
	if (r == 0 && !missing) {
		GROW(s->sets, s->n_sets, 1);
		s->sets[s->n_sets++] = set;
		free(s->service_names);
		s->service_names = calloc(s->n_services + 1, sizeof(char *));
		if (!s->service_names)
			return -ENOMEM;
		for (size_t i = 0; i < s->n_services; i++)
			s->service_names[i] = s->services[i].name;
		return 0;
	}
	if (missing)
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "%s uses %s, which the schema does not "
			      "describe", user, undot(missing));
	else
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
	/* Undo: the index must not point into a set that is freed. */
	for (size_t i = m0; i < s->n_msgs; i++)
		free(s->msgs[i].name);
	for (size_t i = e0; i < s->n_enums; i++)
		free(s->enums[i].name);
	size_t nv = s->n_services;
	s->n_services = v0;
	for (size_t i = v0; i < nv; i++) {
		struct schema_service *v = &s->services[i];
		for (size_t k = 0; v->methods && v->inputs && v->outputs && k < v->d->n_method; k++) {
			free(v->inputs[k]);
			free(v->outputs[k]);
		}
		free(v->name);
		free(v->methods);
		free(v->inputs);
		free(v->outputs);
	}
	s->n_msgs = m0;
	s->n_enums = e0;
	s->n_files = f0;
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	return missing ? -EINVAL : -ENOMEM;
}

/* ---------------------------------------------------------------- rendering */

struct text {
	char *buf;
	size_t len, cap;
	int nomem;
	const char **done; /* types already rendered */
	size_t n_done;
};

static __attribute__((format(printf, 2, 3))) void put(struct text *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || t->nomem)
		return;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->len + (size_t)n + 1) * 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->nomem = 1;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static int seen(struct text *t, const char *name)
{
	for (size_t i = 0; i < t->n_done; i++)
		if (strcmp(t->done[i], name) == 0)
			return 1;
	const char **d = realloc(t->done, (t->n_done + 1) * sizeof(*d));
	if (!d) {
		t->nomem = 1;
		return 1;
	}
	t->done = d;
	t->done[t->n_done++] = name;
	return 0;
}

static const char *type_word(const field_desc *f)
{
	static const char *const names[] = {
		[FIELD(DOUBLE)] = "double", [FIELD(FLOAT)] = "float", [FIELD(INT64)] = "int64",
		[FIELD(UINT64)] = "uint64", [FIELD(INT32)] = "int32", [FIELD(FIXED64)] = "fixed64",
		[FIELD(FIXED32)] = "fixed32", [FIELD(BOOL)] = "bool", [FIELD(STRING)] = "string",
		[FIELD(BYTES)] = "bytes", [FIELD(UINT32)] = "uint32", [FIELD(SFIXED32)] = "sfixed32",
		[FIELD(SFIXED64)] = "sfixed64", [FIELD(SINT32)] = "sint32", [FIELD(SINT64)] = "sint64",
	};
	if (f->type == FIELD(MESSAGE) || f->type == FIELD(GROUP) || f->type == FIELD(ENUM))
		return undot(f->type_name);
	return (unsigned)f->type < sizeof(names) / sizeof(names[0]) && names[f->type]
		       ? names[f->type] : "?";
}

static void render_type(const bus_schema_t *s, struct text *t, const char *name);

static void render_field(const bus_schema_t *s, struct text *t, const field_desc *f, int indent)
{
	const struct schema_msg *m = (f->type == FIELD(MESSAGE)) ? schema_find_msg(s, f->type_name)
								 : NULL;
	if (m && m->map_entry && m->d->n_field == 2) {
		const field_desc *k = m->d->field[0]->number == 1 ? m->d->field[0] : m->d->field[1];
		const field_desc *v = k == m->d->field[0] ? m->d->field[1] : m->d->field[0];
		put(t, "%*smap<%s, %s> %s = %d;\n", indent, "", type_word(k), type_word(v), f->name,
		    f->number);
		return;
	}
	const char *label = f->label == REPEATED ? "repeated "
			    : (f->has_proto3_optional && f->proto3_optional) ? "optional " : "";
	put(t, "%*s%s%s %s = %d;\n", indent, "", label, type_word(f), f->name, f->number);
}

static void render_message(const bus_schema_t *s, struct text *t, const struct schema_msg *m)
{
	const msg_desc *d = m->d;

	put(t, "message %s {\n", m->name);
	for (size_t i = 0; i < d->n_field; i++) {
		const field_desc *f = d->field[i];
		int real_oneof = f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional);
		if (!real_oneof) {
			render_field(s, t, f, 2);
			continue;
		}
		/* A oneof is printed once, at its first member, with all members. */
		int first = 1;
		for (size_t k = 0; k < i; k++)
			if (d->field[k]->has_oneof_index && d->field[k]->oneof_index == f->oneof_index)
				first = 0;
		if (!first)
			continue;
		put(t, "  oneof %s {\n", (size_t)f->oneof_index < d->n_oneof_decl
					     ? d->oneof_decl[f->oneof_index]->name : "?");
		for (size_t k = i; k < d->n_field; k++)
			if (d->field[k]->has_oneof_index && d->field[k]->oneof_index == f->oneof_index)
				render_field(s, t, d->field[k], 4);
		put(t, "  }\n");
	}
	put(t, "}\n");
	for (size_t i = 0; i < d->n_field; i++) {
		const field_desc *f = d->field[i];
		if (f->type == FIELD(MESSAGE) || f->type == FIELD(ENUM) || f->type == FIELD(GROUP)) {
			const struct schema_msg *sub = schema_find_msg(s, f->type_name);
			if (sub && sub->map_entry) {
				for (size_t k = 0; k < sub->d->n_field; k++)
					if (sub->d->field[k]->type_name)
						render_type(s, t, undot(sub->d->field[k]->type_name));
			} else {
				render_type(s, t, undot(f->type_name));
			}
		}
	}
}

static void render_type(const bus_schema_t *s, struct text *t, const char *name)
{
	const struct schema_msg *m = schema_find_msg(s, name);
	const struct schema_enum *e = m ? NULL : schema_find_enum(s, name);

	if ((!m && !e) || seen(t, name))
		return;
	put(t, "\n");
	if (m) {
		render_message(s, t, m);
		return;
	}
	put(t, "enum %s {\n", e->name);
	for (size_t i = 0; i < e->d->n_value; i++)
		put(t, "  %s = %d;\n", e->d->value[i]->name, e->d->value[i]->number);
	put(t, "}\n");
}

int bus_schema_render(const bus_schema_t *s, const char *name, char **text)
{
	struct text t = { 0 };
	const struct schema_service *v = find_service(s, name);

	*text = NULL;
	if (v) {
		put(&t, "service %s {\n", v->name);
		for (size_t k = 0; k < v->d->n_method; k++)
			put(&t, "  rpc %s(%s) returns (%s);\n", v->methods[k], v->inputs[k],
			    v->outputs[k]);
		put(&t, "}\n");
		for (size_t k = 0; k < v->d->n_method; k++) {
			render_type(s, &t, v->inputs[k]);
			render_type(s, &t, v->outputs[k]);
		}
	} else if (schema_find_msg(s, name) || schema_find_enum(s, name)) {
		render_type(s, &t, undot(name));
		if (t.len && t.buf[0] == '\n')
			memmove(t.buf, t.buf + 1, t.len--);
	} else {
		return -ENOENT;
	}
	free(t.done);
	if (t.nomem) {
		free(t.buf);
		return -ENOMEM;
	}
	*text = t.buf;
	return 0;
}
