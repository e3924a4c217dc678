/* schema-internal.h - the schema index that schema-load.c builds from a
 * FileDescriptorSet and that the rest of libbus-json trusts: every name,
 * number, type and reference in it was checked once, when its set was
 * added, and every lookup is a binary search, never a scan. */
#ifndef LIBBUS_SCHEMA_INTERNAL_H
#define LIBBUS_SCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <bus/schema.h>
#include "wire.h"

#include "google/protobuf/descriptor.pb-c.h"

#define FIELD(t) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##t

/* What a peer's FileDescriptorSet may cost (docs/busctl.md): its size, how
 * deep its encoding nests messages (protoc-c's unpacking recurses once per
 * level), and the memory unpacking it takes, estimated from the encoding
 * before anything is allocated. Names: identifiers up to SCHEMA_MAX_IDENT
 * bytes, full names and file names up to SCHEMA_MAX_NAME. */
#define SCHEMA_MAX_BYTES (16u << 20)
#define SCHEMA_MAX_DEPTH 32
#define SCHEMA_MAX_UNPACKED (64u << 20)
#define SCHEMA_MAX_IDENT 255
#define SCHEMA_MAX_NAME 1024

struct schema_msg;
struct schema_enum;

struct schema_field {
	const char *name;   /* as in the .proto */
	const char *json;   /* json_name, else the lowerCamelCase of name */
	int32_t number;     /* 1 to 2^29-1, unique in its message */
	int type;           /* FIELD(...) */
	int repeated;
	int oneof;          /* the real oneof it is a member of, or -1 */
	int optional;       /* proto3 optional: explicit presence */
	int packed;         /* a repeated scalar the encoder packs */
	const struct schema_msg *msg;  /* MESSAGE and GROUP: the type */
	const struct schema_enum *en;  /* ENUM: the type */
};

/* The records looked up by name (schema_key, schema_value, schema_entry)
 * have the name first: one bsearch() comparison serves them all. */

/* A field by one of its names (the .proto name or the JSON name). */
struct schema_key {
	const char *key;
	const struct schema_field *f;
};

struct schema_msg {
	const char *name;   /* fully qualified, no leading dot */
	size_t id;          /* 0..n_ids-1 in its schema, for renderers' marks */
	int proto3;
	int map_entry;      /* then fields[0] is the key (1), fields[1] the value (2) */
	struct schema_field *fields; /* in declaration order */
	size_t n_fields;
	const struct schema_field **by_number;
	struct schema_key *by_key;
	size_t n_keys;
	const char **oneofs; /* names, by oneof index (synthetic ones included) */
	size_t n_oneofs;
};

struct schema_value {
	const char *name;
	int32_t number;
};

struct schema_enum {
	const char *name;
	size_t id;
	const struct schema_value *values; /* in declaration order */
	const struct schema_value *by_number, *by_name;
	size_t n_values;
};

struct schema_service {
	const char *name;
	const char **methods;                  /* n_methods, then NULL */
	const struct schema_msg **inputs, **outputs;
	size_t n_methods;
};

enum schema_kind { SCHEMA_MSG, SCHEMA_ENUM, SCHEMA_SERVICE };

struct schema_entry {
	const char *name;
	enum schema_kind kind;
	const void *ptr;
	int synth;          /* declared by a file libbus made (SYNTH_PREFIX) */
};

/* One FileDescriptorSet that added files: the unpacked set (names point
 * into it) and the blocks its part of the index was allocated from. */
struct schema_set {
	Google__Protobuf__FileDescriptorSet *fds;
	struct schema_block *blocks;
};

struct bus_schema {
	struct schema_set *sets;
	size_t n_sets;
	struct schema_entry *types; /* messages, enums, services; sorted by name */
	size_t n_types;
	const char **files;         /* names of the files loaded; sorted */
	size_t n_files;
	const char **services;      /* service names, in the order loaded, NULL-terminated */
	size_t n_services;
	size_t n_ids;               /* messages and enums numbered so far */
};

/* The varint reader the loader and the codec share, over the frame
 * codec's (wire.h: WIRE_WT_* are the wire types): advances *p; -1 when the
 * bytes end first or the varint is longer than 64 bits. */
static inline int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	size_t n = wire_varint_get(*p, (size_t)(end - *p), v);

	if (!n)
		return -1;
	*p += n;
	return 0;
}

/* Lookups; name may have a leading dot. NULL when absent. */
const struct schema_entry *schema_find(const bus_schema_t *s, const char *name);
const struct schema_msg *schema_find_msg(const bus_schema_t *s, const char *name);
const struct schema_field *schema_field_by_number(const struct schema_msg *m, uint64_t number);
const struct schema_field *schema_field_by_key(const struct schema_msg *m, const char *key);
const struct schema_value *schema_value_by_number(const struct schema_enum *e, int32_t number);
const struct schema_value *schema_value_by_name(const struct schema_enum *e, const char *name);

/* schema-load.c hands over a set's blocks; schema.c frees them. */
void schema_blocks_free(struct schema_block *b);

#endif
