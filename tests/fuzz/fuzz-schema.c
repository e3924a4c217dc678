/* fuzz-schema.c - libFuzzer target for what a peer's FileDescriptorSet
 * reaches in busctl. The input is a set (its length in the first two
 * bytes, little-endian) followed by a body. The set is loaded; every
 * service and message (the first 16 of each) is rendered as introspect
 * does; the body is decoded as wire bytes and encoded as JSON against each
 * message. Whatever decodes must encode back to bytes that decode to the
 * same JSON. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TYPES 16

static void try_type(const bus_schema_t *s, const char *type, const uint8_t *body, size_t len,
		     const char *text)
{
	bus_error_t err;
	char *json = NULL, *json2 = NULL;
	void *wire = NULL;
	size_t wire_len;

	if (bus_json_decode(s, type, body, len, 0, &json, &err) == 0) {
		if (bus_json_encode(s, type, json, &wire, &wire_len, &err) < 0 ||
		    bus_json_decode(s, type, wire, wire_len, 0, &json2, &err) < 0 ||
		    strcmp(json, json2) != 0)
			abort(); /* wire -> JSON -> wire -> JSON must be stable */
	}
	free(json);
	free(json2);
	free(wire);
	json = NULL;
	if (bus_json_decode(s, type, body, len, BUS_JSON_DEFAULTS | BUS_JSON_ORIGINAL_NAMES, &json,
			    &err) == 0)
		free(json);
	wire = NULL;
	if (bus_json_encode(s, type, text, &wire, &wire_len, &err) == 0)
		free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	size_t set_len = (size_t)data[0] | (size_t)data[1] << 8;
	if (set_len > size - 2)
		set_len = size - 2;
	const uint8_t *set = data + 2, *body = set + set_len;
	size_t body_len = size - 2 - set_len;
	bus_schema_t *s;
	bus_error_t err;

	if (bus_schema_new(&s) < 0)
		return 0;
	char *text = malloc(body_len + 1);
	if (text && bus_schema_add(s, set, set_len, &err) == 0) {
		memcpy(text, body, body_len);
		text[body_len] = '\0';
		size_t seen[3] = { 0 }; /* by kind */
		for (size_t i = 0; i < s->n_types; i++) {
			const struct schema_entry *e = &s->types[i];
			if (seen[e->kind]++ >= MAX_TYPES)
				continue;
			char *rendering = NULL;
			if (bus_schema_render(s, e->name, &rendering) < 0 || !rendering)
				abort(); /* everything loaded renders */
			free(rendering);
			if (e->kind == SCHEMA_SERVICE) {
				const char *const *methods;
				const char *svc, *in, *out;
				size_t n = bus_schema_methods(s, e->name, &methods);
				for (size_t k = 0; k < n; k++)
					if (bus_schema_method(s, e->name, methods[k], &svc, &in, &out) < 0)
						abort(); /* a listed method is found */
			} else if (e->kind == SCHEMA_MSG) {
				try_type(s, e->name, body, body_len, text);
			}
		}
	}
	free(text);
	bus_schema_free(s);
	return 0;
}
