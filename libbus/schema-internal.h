/* schema-internal.h - what the JSON codec (json.c) needs from the schema
 * index (schema.c): messages, enums and services by full name, over the
 * protoc-c generated descriptor.proto structures. */
#ifndef LIBBUS_SCHEMA_INTERNAL_H
#define LIBBUS_SCHEMA_INTERNAL_H

#include <bus/schema.h>

#include "google/protobuf/descriptor.pb-c.h"

typedef Google__Protobuf__DescriptorProto msg_desc;
typedef Google__Protobuf__FieldDescriptorProto field_desc;
typedef Google__Protobuf__EnumDescriptorProto enum_desc;

struct schema_msg {
	char *name;        /* fully qualified, no leading dot */
	const msg_desc *d;
	int proto3;
	int map_entry;
};

struct schema_enum {
	char *name;
	const enum_desc *d;
};

struct schema_service {
	char *name;
	const Google__Protobuf__ServiceDescriptorProto *d;
	const char **methods;  /* names, for bus_schema_methods */
	char **inputs, **outputs; /* types without the leading dot */
};

struct bus_schema {
	Google__Protobuf__FileDescriptorSet **sets;
	size_t n_sets;
	char **files;          /* names of the files loaded */
	size_t n_files;
	struct schema_msg *msgs;
	size_t n_msgs;
	struct schema_enum *enums;
	size_t n_enums;
	struct schema_service *services;
	size_t n_services;
	const char **service_names;
};

const struct schema_msg *schema_find_msg(const bus_schema_t *s, const char *name);
const struct schema_enum *schema_find_enum(const bus_schema_t *s, const char *name);
/* The JSON name of a field: json_name when the descriptor has one, else
 * the lowerCamelCase of its name (written into buf). */
const char *schema_json_name(const field_desc *f, char *buf, size_t len);

#endif
