/* schema-synth.h - the schema libbus uploads for a service exported without
 * one: a FileDescriptorSet made from protoc-c's runtime descriptors, and
 * whether a set already declares a service. No descriptor.proto code: the
 * protobuf encoding is written and read by hand. */
#ifndef LIBBUS_SCHEMA_SYNTH_H
#define LIBBUS_SCHEMA_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Synthesized files are named SYNTH_PREFIX + the package (or "(root)")
 * + "-proto2" for a package's proto2 types + ".proto": no file protoc
 * makes has that name, and libbus-json knows them by it. */
#define SYNTH_PREFIX "busd-synth/"

/* The FileDescriptorSet of service svc and of every message and enum its
 * methods use, transitively: one file per package (and syntax), with its
 * dependencies, nested types nested (a parent the service does not use
 * becomes an empty container), oneofs named oneof0, oneof1... in the order
 * of their first member, map entries marked, proto2 defaults kept. *out is
 * malloc'd. Returns 0 or -ENOMEM. */
int synth_schema(const ProtobufCServiceDescriptor *svc, uint8_t **out, size_t *len);

/* 1 if the FileDescriptorSet fds declares service (fully qualified, no
 * leading dot), else 0 (also when fds is not a FileDescriptorSet). */
int synth_set_declares(const uint8_t *fds, size_t len, const char *service);

#endif
