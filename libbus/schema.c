/* schema.c - libbus-json's schema index: lookups by full name, by field
 * number or name and by enum value (binary searches over the sorted arrays
 * schema-load.c builds), the queries of <bus/schema.h>, and freeing.
 * Loading is in schema-load.c, the .proto-like rendering in
 * schema-render.c. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"

static const char *undot(const char *name)
{
	return name && name[0] == '.' ? name + 1 : name;
}

int bus_schema_new(bus_schema_t **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void bus_schema_free(bus_schema_t *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_sets; i++) {
		schema_blocks_free(s->sets[i].blocks);
		google__protobuf__file_descriptor_set__free_unpacked(s->sets[i].fds, NULL);
	}
	free(s->sets);
	free(s->types);
	free(s->files);
	free(s->services);
	free(s);
}

/* ---------------------------------------------------------------- lookup */

/* bsearch() keys: a name against anything whose first member is a name
 * (schema_entry, schema_key, schema_value), a number against a field. */
static int name_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

static int number_cmp(const void *key, const void *elem)
{
	uint64_t n = *(const uint64_t *)key;
	int32_t m = (*(const struct schema_field *const *)elem)->number;
	return (n > (uint64_t)m) - (n < (uint64_t)m);
}

const struct schema_entry *schema_find(const bus_schema_t *s, const char *name)
{
	name = undot(name);
	return name && s->n_types ? bsearch(name, s->types, s->n_types, sizeof(*s->types), name_cmp)
				  : NULL;
}

const struct schema_msg *schema_find_msg(const bus_schema_t *s, const char *name)
{
	const struct schema_entry *e = schema_find(s, name);
	return e && e->kind == SCHEMA_MSG ? e->ptr : NULL;
}

static const struct schema_service *find_service(const bus_schema_t *s, const char *name)
{
	const struct schema_entry *e = schema_find(s, name);
	return e && e->kind == SCHEMA_SERVICE ? e->ptr : NULL;
}

const struct schema_field *schema_field_by_number(const struct schema_msg *m, uint64_t number)
{
	const struct schema_field *const *f =
		m->n_fields ? bsearch(&number, m->by_number, m->n_fields, sizeof(*m->by_number),
				      number_cmp) : NULL;
	return f ? *f : NULL;
}

const struct schema_field *schema_field_by_key(const struct schema_msg *m, const char *key)
{
	const struct schema_key *k =
		m->n_keys ? bsearch(key, m->by_key, m->n_keys, sizeof(*m->by_key), name_cmp) : NULL;
	return k ? k->f : NULL;
}

/* The first value declared with number (aliases share numbers). */
const struct schema_value *schema_value_by_number(const struct schema_enum *e, int32_t number)
{
	size_t lo = 0, hi = e->n_values;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->by_number[mid].number < number)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->n_values && e->by_number[lo].number == number ? &e->by_number[lo] : NULL;
}

const struct schema_value *schema_value_by_name(const struct schema_enum *e, const char *name)
{
	return bsearch(name, e->by_name, e->n_values, sizeof(*e->by_name), name_cmp);
}

/* ---------------------------------------------------------------- queries */

int bus_schema_has_type(const bus_schema_t *s, const char *type)
{
	return s && type && schema_find_msg(s, type) != NULL;
}

const char *const *bus_schema_services(const bus_schema_t *s, size_t *n)
{
	*n = s ? s->n_services : 0;
	return s ? s->services : NULL;
}

size_t bus_schema_methods(const bus_schema_t *s, const char *service, const char *const **names)
{
	const struct schema_service *v = s && service ? find_service(s, service) : NULL;

	*names = v ? v->methods : NULL;
	return v ? v->n_methods : 0;
}

int bus_schema_method(const bus_schema_t *s, const char *service, const char *method,
		      const char **service_out, const char **input_type, const char **output_type)
{
	int found = 0;

	for (size_t i = 0; s && method && i < s->n_services; i++) {
		const struct schema_service *v = find_service(s, s->services[i]);
		if (service && strcmp(v->name, undot(service)) != 0)
			continue;
		for (size_t k = 0; k < v->n_methods; k++) {
			if (strcmp(v->methods[k], method) != 0)
				continue;
			if (found++)
				return -EEXIST;
			*service_out = v->name;
			*input_type = v->inputs[k]->name;
			*output_type = v->outputs[k]->name;
		}
	}
	return found ? 0 : -ENOENT;
}
