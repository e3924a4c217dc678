/* test-schema.c - schemas on the bus: AddSchema keeps one copy per distinct
 * FileDescriptorSet (by content) charged to every peer that adds it,
 * GetSchema returns the exact bytes, Export/Introspect tell which service a
 * name serves, and all of it goes away with the peers. Ids are SHA-256
 * digests, so that no peer can take the id of another's schema. Also the
 * limits.max_schema_bytes limit, libbus's schema and export calls (waiting
 * and async) and services/echo's own registration. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bus/bus.h>
#include "bus.pb-c.h"
#include "echo.pb-c.h"
#include "harness.h"
#include "tap.h"

#define SCHEMA_LIMIT (64 * 1024)

static Bus__IntrospectReply *introspect(bus_t *bus, const char *name, bus_error_t *err)
{
	Bus__IntrospectRequest req = BUS__INTROSPECT_REQUEST__INIT;
	req.name = (char *)name;
	return (Bus__IntrospectReply *)harness_control(bus, "Introspect", &req.base,
					       &bus__introspect_reply__descriptor, err);
}

/* A round trip on bus: busd has read everything bus sent before it. */
static void sync_point(bus_t *bus)
{
	bus_error_t err;
	Bus__IntrospectReply *in = introspect(bus, bus_unique_name(bus), &err);
	if (!in)
		diag("sync point: %s: %s", err.name, err.message);
	else
		bus__introspect_reply__free_unpacked(in, NULL);
}

static int get_schema(bus_t *bus, const char *id, ProtobufCBinaryData *out, bus_error_t *err)
{
	Bus__GetSchemaRequest req = BUS__GET_SCHEMA_REQUEST__INIT;
	req.id = (char *)id;
	Bus__GetSchemaReply *rep = (Bus__GetSchemaReply *)harness_control(
		bus, "GetSchema", &req.base, &bus__get_schema_reply__descriptor, err);
	if (!rep)
		return -1;
	out->len = rep->file_descriptor_set.len;
	out->data = malloc(out->len ? out->len : 1);
	memcpy(out->data, rep->file_descriptor_set.data, out->len);
	bus__get_schema_reply__free_unpacked(rep, NULL);
	return 0;
}

static char *add_schema(bus_t *bus, const void *data, size_t len, int *known, bus_error_t *err)
{
	Bus__AddSchemaRequest req = BUS__ADD_SCHEMA_REQUEST__INIT;
	req.file_descriptor_set.data = (uint8_t *)data;
	req.file_descriptor_set.len = len;
	Bus__AddSchemaReply *rep = (Bus__AddSchemaReply *)harness_control(
		bus, "AddSchema", &req.base, &bus__add_schema_reply__descriptor, err);
	if (!rep)
		return NULL;
	char *id = strdup(rep->id);
	*known = rep->known;
	bus__add_schema_reply__free_unpacked(rep, NULL);
	return id;
}

extern const unsigned char proto_echo_fds[];
extern const size_t proto_echo_fds_len;

/* Any exported service will do for the export bookkeeping. */
static void noop_method(ProtobufCService *s, unsigned i, const ProtobufCMessage *in,
			ProtobufCClosure c, void *d)
{
	(void)s, (void)i, (void)in;
	c(NULL, d);
}

static void test_store(void)
{
	bus_t *a = harness_connect(), *b = harness_connect(), *c = harness_connect();
	static const uint8_t blob[] = "\x0a\x0a\x0a\x08test.proto"; /* bytes, as busd sees them */
	ProtobufCBinaryData got = { 0 };
	bus_error_t err;
	int known = -1;

	char *id = add_schema(a, blob, sizeof(blob) - 1, &known, &err);
	ok(id && strlen(id) == 64, "AddSchema answers a 64-hex-digit id (%s)", id ? id : err.name);
	is_int(known, 0, "  new to busd");
	int known2 = -1;
	char *id2 = add_schema(b, blob, sizeof(blob) - 1, &known2, &err);
	ok(id && id2 && strcmp(id, id2) == 0, "the same bytes from another peer: the same id");
	is_int(known2, 1, "  busd already had them");
	ok(get_schema(c, id, &got, &err) == 0 && got.len == sizeof(blob) - 1 &&
	   memcmp(got.data, blob, got.len) == 0, "GetSchema returns the exact bytes to a third peer");
	free(got.data);

	ok(bus_request_name(a, "org.test.Schema", &err) == 0, "a owns org.test.Schema");
	static const ProtobufCServiceDescriptor desc = {
		PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC, "test.Svc", "Svc", "Svc", "test", 0, NULL, NULL,
	};
	ProtobufCService svc = { &desc, noop_method, NULL };
	bus_slot_t *exported = NULL;
	ok(bus_export(a, &exported, "org.test.Schema", &svc, &err) == 0,
	   "a exports test.Svc under it (busd's answer awaited)");
	Bus__IntrospectReply *in = introspect(c, "org.test.Schema", &err);
	ok(in != NULL, "Introspect answers (%s)", in ? "" : err.message);
	Bus__IntrospectReply none = BUS__INTROSPECT_REPLY__INIT;
	const Bus__IntrospectReply *ir = in ? in : &none;
	is_str(ir->unique_name, bus_unique_name(a), "  with the owner's unique id");
	ok(ir->n_services == 1 && strcmp(ir->services[0], "test.Svc") == 0, "  the exported service");
	/* Newest first: the schema libbus made for test.Svc (a's blob does not
	 * declare it), then a's. */
	ok(ir->n_schema_ids == 2 && id && strcmp(ir->schema_ids[1], id) == 0,
	   "  and a's schema id, after another one");
	ok(ir->n_schema_ids == 2 && get_schema(c, ir->schema_ids[0], &got, &err) == 0 &&
	   memmem(got.data, got.len, "busd-synth/test.proto", 21) &&
	   memmem(got.data, got.len, "\x32\x05\x0a\x03Svc", 7),
	   "  the schema libbus made for test.Svc: file busd-synth/test.proto, service Svc");
	free(got.data);
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	in = introspect(c, bus_unique_name(a), &err);
	ok(in && in->n_services == 1, "Introspect by unique id lists every export");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	ok(bus_slot_unref(exported) == NULL, "a unexports it: drops the export's slot");
	/* Withdrawn without an answer; a round trip on a orders it before c's
	 * question (busd may read c's socket first in the same wake-up). */
	sync_point(a);
	in = introspect(c, "org.test.Schema", &err);
	ok(in && in->n_services == 0, "Introspect then lists no service");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);

	in = introspect(c, "org.test.Nobody", &err);
	ok(!in && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "Introspect of a name nobody owns: bus.Error.NameHasNoOwner");

	bus_close(a);
	ok(get_schema(c, id, &got, &err) == 0, "the schema stays while b still holds it");
	free(got.data);
	bus_close(b);
	/* busd drops b's share when it has seen b leave: ask until then. */
	uint64_t deadline = harness_now_ms() + 10000;
	bus_error_clear(&err);
	while (get_schema(c, id, &got, &err) == 0 && harness_now_ms() < deadline) {
		free(got.data);
		harness_sleep_ms(10);
	}
	ok(bus_error_has_name(&err, BUS_ERROR_UNKNOWN_SCHEMA),
	   "and goes with the last peer that added it: bus.Error.UnknownSchema");
	ok(get_schema(c, "zz", &got, &err) < 0 && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_SCHEMA),
	   "a malformed id: bus.Error.UnknownSchema");
	free(id);
	free(id2);
	bus_close(c);
}

static void test_limit(void)
{
	bus_t *a = harness_connect();
	bus_error_t err;
	uint8_t *big = calloc(1, SCHEMA_LIMIT / 2 + 1);
	int known;

	big[0] = 1;
	char *id = add_schema(a, big, SCHEMA_LIMIT / 2 + 1, &known, &err);
	ok(id != NULL, "half the limit is accepted");
	big[0] = 2;
	char *id2 = add_schema(a, big, SCHEMA_LIMIT / 2 + 1, &known, &err);
	ok(!id2 && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED),
	   "a second, different half over limits.max_schema_bytes: bus.Error.LimitsExceeded");
	ok(strstr(err.message, "limits.max_schema_bytes") != NULL, "  naming the limit (%s)",
	   err.message);
	big[0] = 1;
	char *id3 = add_schema(a, big, SCHEMA_LIMIT / 2 + 1, &known, &err);
	ok(id3 && id && strcmp(id, id3) == 0, "adding the first one again costs nothing");
	/* Another peer adding the same bytes: one copy, charged to both. */
	bus_t *b = harness_connect();
	big[0] = 1;
	char *shared = add_schema(b, big, SCHEMA_LIMIT / 2 + 1, &known, &err);
	ok(shared && id && strcmp(shared, id) == 0 && known == 1,
	   "a second peer adding the same bytes gets the same id, already known");
	big[0] = 3;
	char *more = add_schema(b, big, SCHEMA_LIMIT / 2 + 1, &known, &err);
	ok(!more && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED),
	   "  and is charged for them: another half is over its limit too");
	free(shared);
	free(more);
	bus_close(b);
	char *empty = add_schema(a, big, 0, &known, &err);
	ok(!empty && bus_error_has_name(&err, BUS_ERROR_INVALID_ARGS), "an empty schema: InvalidArgs");
	free(id);
	free(id2);
	free(id3);
	free(big);
	bus_close(a);
}

static void test_libbus_calls(void)
{
	static const ProtobufCServiceDescriptor desc = {
		PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC, "test.Async", "Async", "Async", "test", 0, NULL, NULL,
	};
	ProtobufCService svc = { &desc, noop_method, NULL };
	bus_t *a = harness_connect(), *c = harness_connect();
	struct harness_outcome small = { 0 }, over = { 0 }, exported = { 0 };
	uint8_t *big = calloc(1, SCHEMA_LIMIT + 1);
	bus_error_t err;

	ok(bus_add_schema(a, big, SCHEMA_LIMIT + 1, &err) == -EREMOTE &&
	   bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED),
	   "bus_add_schema over the limit: -EREMOTE, bus.Error.LimitsExceeded");
	ok(bus_add_schema_async(a, NULL, big, SCHEMA_LIMIT + 1, harness_on_done, &over) == 0 &&
	   bus_add_schema_async(a, NULL, "\x0a\x00", 2, harness_on_done, &small) == 0,
	   "bus_add_schema_async: one over the limit, one small");
	harness_loop_until(a, &small.n, 5000);
	is_str(over.err, BUS_ERROR_LIMITS_EXCEEDED, "  the first is refused: bus.Error.LimitsExceeded");
	ok(small.n == 1 && !small.err[0], "  the second accepted (%s)", small.err);
	is_int(bus_export_async(a, NULL, NULL, &svc, harness_on_done, &exported), 0,
	       "bus_export_async returns at once");
	harness_loop_until(a, &exported.n, 5000);
	ok(exported.n == 1 && !exported.err[0], "  busd accepts the export (%s)", exported.err);
	Bus__IntrospectReply *in = introspect(c, bus_unique_name(a), &err);
	ok(in && in->n_services == 1 && strcmp(in->services[0], "test.Async") == 0 &&
	   in->n_schema_ids == 2, "  Introspect lists it, the one schema accepted and the one "
	   "libbus made for test.Async");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	is_int(bus_export(a, NULL, NULL, &svc, &err), -EEXIST, "exporting it again: -EEXIST");
	free(big);
	bus_close(a);
	bus_close(c);
}

/* Two 8-byte sets with the same 64-bit FNV-1a hash (8153c251a3829557,
 * found by a cycle search), the kind of id busd gave before: the first one
 * kept the second out ("another schema has the same hash"), as computed
 * garbage once kept out a service's own schema. */
static const uint8_t fnv_twin_a[8] = { 0xc1, 0xdb, 0x7e, 0x98, 0xcf, 0x0f, 0xd5, 0xc9 };
static const uint8_t fnv_twin_b[8] = { 0x28, 0x7b, 0x80, 0xc0, 0xea, 0xf0, 0x49, 0x68 };

static void test_ids(void)
{
	bus_t *a = harness_connect(), *b = harness_connect();
	ProtobufCBinaryData got = { 0 };
	bus_error_t err;
	int known = -1;

	char *id = add_schema(a, "abc", 3, &known, &err);
	is_str(id, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "the id is the SHA-256 of the bytes, in hex");
	char upper[65];
	for (size_t i = 0; id && i < 65; i++)
		upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 'a' + 'A' : id[i]);
	ok(id && get_schema(b, upper, &got, &err) == 0 && got.len == 3,
	   "GetSchema takes it in upper case too");
	free(got.data);
	free(id);
	ok(get_schema(b, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015", &got,
		      &err) < 0 && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_SCHEMA),
	   "a prefix of an id is no id: bus.Error.UnknownSchema");
	ok(get_schema(b, "za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", &got,
		      &err) < 0 && bus_error_has_name(&err, BUS_ERROR_UNKNOWN_SCHEMA),
	   "nor 64 characters that are not hex");

	char *ida = add_schema(a, fnv_twin_a, sizeof(fnv_twin_a), &known, &err);
	int known_b = -1;
	char *idb = add_schema(b, fnv_twin_b, sizeof(fnv_twin_b), &known_b, &err);
	ok(ida && idb, "two sets with the same 64-bit FNV-1a hash are both accepted (%s)",
	   idb ? "" : err.message);
	ok(ida && idb && strcmp(ida, idb) != 0 && known_b == 0, "  under different ids, as new");
	ok(idb && get_schema(a, idb, &got, &err) == 0 && got.len == sizeof(fnv_twin_b) &&
	   memcmp(got.data, fnv_twin_b, got.len) == 0, "  and each id gives its own bytes back");
	free(got.data);
	free(ida);
	free(idb);

	/* Many different sets: as many ids. */
	enum { N = 500 };
	static char *ids[N];
	int distinct = 1, added = 0;
	for (int i = 0; i < N; i++) {
		uint32_t blob[2] = { 0x5eed, (uint32_t)i };
		ids[i] = add_schema(b, blob, sizeof(blob), &known, &err);
		added += ids[i] != NULL;
	}
	for (int i = 0; i < N && distinct; i++)
		for (int j = i + 1; j < N && distinct; j++)
			distinct = ids[i] && ids[j] && strcmp(ids[i], ids[j]) != 0;
	is_int(added, N, "%d different sets are added", N);
	ok(distinct, "  under %d different ids", N);
	for (int i = 0; i < N; i++)
		free(ids[i]);
	bus_close(a);
	bus_close(b);
}

static void test_echo(void)
{
	harness_child echo;
	bus_t *bus = harness_connect();
	bus_error_t err;
	ProtobufCBinaryData got = { 0 };

	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	Bus__IntrospectReply *in = introspect(bus, "org.busd.Echo", &err);
	ok(in && in->n_services == 1 && strcmp(in->services[0], "busd.examples.Echo") == 0,
	   "services/echo exports busd.examples.Echo under org.busd.Echo");
	ok(in && in->n_schema_ids == 1 && get_schema(bus, in->schema_ids[0], &got, &err) == 0,
	   "  and uploaded its schema");
	ok(got.len > 0 && memmem(got.data, got.len, "echo.proto", 10) != NULL,
	   "  which describes echo.proto (%zu bytes)", got.len);
	free(got.data);
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
	bus_close(bus);
}

static size_t schema_ids(bus_t *c, bus_t *of)
{
	bus_error_t err;
	Bus__IntrospectReply *in = introspect(c, bus_unique_name(of), &err);
	size_t n = in ? in->n_schema_ids : (size_t)-1;

	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	return n;
}

/* The schema bus_export() makes: not when a set the connection uploaded
 * (or is uploading) declares the service; an export whose schema busd
 * refuses fails, in either form. */
static void test_made_schema(void)
{
	bus_t *a = harness_connect(), *b = harness_connect(), *d = harness_connect();
	bus_t *c = harness_connect();
	ProtobufCService echo = { &busd__examples__echo__descriptor, noop_method, NULL };
	struct harness_outcome up = { 0 }, ex = { 0 };
	bus_error_t err;

	ok(bus_add_schema_async(a, NULL, proto_echo_fds, proto_echo_fds_len, harness_on_done,
				&up) == 0 &&
	   bus_export_async(a, NULL, NULL, &echo, harness_on_done, &ex) == 0,
	   "protoc's set for busd.examples.Echo, then the export, both async");
	harness_loop_until(a, &ex.n, 5000);
	ok(up.n == 1 && !up.err[0] && ex.n == 1 && !ex.err[0], "  both accepted (%s%s)", up.err,
	   ex.err);
	is_int((long long)schema_ids(c, a), 1, "  no schema made: the one on its way declares it");
	ok(bus_export(b, NULL, NULL, &echo, &err) == 0 &&
	   bus_add_schema(b, proto_echo_fds, proto_echo_fds_len, &err) == 0,
	   "the export first, protoc's set after");
	is_int((long long)schema_ids(c, b), 2, "  both stay: the one made and protoc's");

	/* d's quota nearly full: the schema made for Echo does not fit. */
	uint8_t *big = calloc(1, SCHEMA_LIMIT - 64);
	ok(big && bus_add_schema(d, big, SCHEMA_LIMIT - 64, &err) == 0,
	   "a peer fills its schema quota but 64 bytes");
	ok(bus_export(d, NULL, NULL, &echo, &err) == -EREMOTE &&
	   bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED) &&
	   strstr(err.message, "the schema made for busd.examples.Echo"),
	   "  bus_export: -EREMOTE, the made schema's bus.Error.LimitsExceeded (%s)", err.message);
	memset(&ex, 0, sizeof(ex));
	ok(bus_export_async(d, NULL, NULL, &echo, harness_on_done, &ex) == 0,
	   "  bus_export_async returns at once");
	harness_loop_until(d, &ex.n, 5000);
	is_str(ex.err, BUS_ERROR_LIMITS_EXCEEDED, "  and reports the refusal");
	Bus__IntrospectReply *in = introspect(c, bus_unique_name(d), &err);
	ok(in && in->n_services == 0, "  the export withdrawn");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	free(big);
	bus_close(a);
	bus_close(b);
	bus_close(c);
	bus_close(d);
}

int main(void)
{
	plan(58);
	harness_start_conf("[limits]\nmax_schema_bytes = %d\n", SCHEMA_LIMIT);
	test_store();
	test_limit();
	test_libbus_calls();
	test_made_schema();
	test_ids();
	test_echo();
	return harness_done();
}
