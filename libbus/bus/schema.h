/* schema.h - libbus-json, the schema and JSON codec beside libbus (link
 * with pkg-config libbus-json): load the FileDescriptorSets that services
 * upload (or that a program links in), then turn the protobuf wire format
 * of any message they describe into JSON and back, following the proto3
 * JSON mapping. Used by busctl; usable by any program.
 *
 * Conventions as in bus.h: int returns, negative errno, a bus_error_t for
 * the human reason. Codec errors are bus.Error.InvalidArgs with a message
 * that starts with the JSON path of the problem ("at .items[2].id: ...").
 * A bus_schema_t is not thread-safe; strings it returns belong to it and
 * live as long as it does.
 */
#ifndef BUS_SCHEMA_H
#define BUS_SCHEMA_H

#include <stddef.h>

#include <bus/bus.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_schema bus_schema_t;

/* An empty schema; free it with bus_schema_free() (NULL is allowed). */
int bus_schema_new(bus_schema_t **out);
void bus_schema_free(bus_schema_t *s);

/* Add the files of a FileDescriptorSet (the bytes of protoc
 * --include_imports --descriptor_set_out). A file already present (same
 * name) is skipped; a file libbus made from a program's generated code
 * (named "busd-synth/...", see libbus(3)) is merged: its types the
 * schema has already are skipped, the others added; so are the types of
 * any file that such a file declared first. The set may come from anyone: before it is unpacked it
 * must have at most 16 MiB, nest messages at most 32 deep in its encoding
 * and unpack into at most 64 MiB; then every name must be a valid
 * identifier, every field have a name, a number unique in its message, a
 * valid label and type and an existing oneof, every type a field or method
 * uses must be described (in the set or the schema) and be of the right
 * kind, map entries must look like protoc's, and no name may be declared
 * twice. Otherwise -EINVAL with err saying what is wrong (naming the file,
 * type and field), and nothing is added. The bytes are copied. */
int bus_schema_add(bus_schema_t *s, const void *fds, size_t len, bus_error_t *err);

/* 1 if the schema describes the message type (fully qualified, with or
 * without a leading dot), else 0. */
int bus_schema_has_type(const bus_schema_t *s, const char *type);

/* Fully-qualified names of every service, *n of them. */
const char *const *bus_schema_services(const bus_schema_t *s, size_t *n);

/* The method names of service, in declaration order; 0 (and NULL) when the
 * schema has no such service. */
size_t bus_schema_methods(const bus_schema_t *s, const char *service, const char *const **names);

/* Find method in service (NULL: in any service). On success the service's
 * full name and the request and reply types (without leading dots) are
 * returned. -ENOENT when there is none, -EEXIST when service is NULL and
 * several services have the method. */
int bus_schema_method(const bus_schema_t *s, const char *service, const char *method,
		      const char **service_out, const char **input_type, const char **output_type);

/* JSON text -> wire bytes of type. *out is malloc'd (free() it; may be
 * NULL when *out_len is 0). Field names may be lowerCamelCase or the
 * original names; 64-bit integers may be strings or numbers; a member
 * "@unknown" (base64) is appended to the message as raw fields. */
int bus_json_encode(const bus_schema_t *s, const char *type, const char *json, void **out,
		    size_t *out_len, bus_error_t *err);

#define BUS_JSON_PRETTY 0x1u         /* indent */
#define BUS_JSON_ORIGINAL_NAMES 0x2u /* proto field names, not lowerCamelCase */
#define BUS_JSON_DEFAULTS 0x4u       /* also fields at their default values */

/* Wire bytes of type -> JSON text (malloc'd, NUL-terminated). Fields the
 * schema does not know are kept as "@unknown": base64 of their raw bytes,
 * so that bus_json_encode() restores them. The JSON may hold at most 4
 * values per byte of the body plus 65,536: only BUS_JSON_DEFAULTS can
 * reach that (an empty message of many fields has many defaults), and
 * then the body is refused rather than blown up. */
int bus_json_decode(const bus_schema_t *s, const char *type, const void *buf, size_t len,
		    unsigned flags, char **json, bus_error_t *err);

/* A .proto-like rendering of a service, message or enum and of every type
 * it uses, recursively (malloc'd). -ENOENT if the schema has no such name. */
int bus_schema_render(const bus_schema_t *s, const char *name, char **text);

#ifdef __cplusplus
}
#endif
#endif
