/* test-synth.c - the schema libbus makes for a service exported without
 * bus_add_schema() (libbus/schema-synth.c), against the FileDescriptorSet
 * protoc makes from the same .proto: libbus-json must turn the same bytes
 * into the same JSON and the same JSON into the same bytes through either,
 * for tests/synth-test.proto (nested types, enums, repeated and packed
 * fields, oneofs, maps, 64-bit integers, bytes, a Timestamp, proto2 types
 * of another package) and the project's own .proto files; the set itself
 * has the files, nesting, names and defaults libbus documents; and
 * libbus-json merges synthesized sets with each other and with real ones. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/schema.h>
#include "google/protobuf/descriptor.pb-c.h"
#include "schema-synth.h"
#include "tap.h"

#include "bench.pb-c.h"
#include "bus.pb-c.h"
#include "echo.pb-c.h"
#include "sensor.pb-c.h"
#include "synth-test.pb-c.h"

extern const unsigned char synth_test_fds[], proto_bus_fds[], proto_echo_fds[],
	proto_sensor_fds[], proto_bench_fds[];
extern const size_t synth_test_fds_len, proto_bus_fds_len, proto_echo_fds_len,
	proto_sensor_fds_len, proto_bench_fds_len;

typedef Google__Protobuf__FileDescriptorProto file_desc;
typedef Google__Protobuf__DescriptorProto msg_desc;
typedef Google__Protobuf__FieldDescriptorProto field_desc;

static bus_schema_t *load(const void *set, size_t len, const char *what)
{
	bus_schema_t *s = NULL;
	bus_error_t err = { 0 };

	bus_schema_new(&s);
	int r = bus_schema_add(s, set, len, &err);
	if (!ok(r == 0, "%s loads into libbus-json", what))
		diag("%s: %s", err.name, err.message);
	return s;
}

static bus_schema_t *load_synth(const ProtobufCServiceDescriptor *d, uint8_t **set, size_t *len)
{
	char what[256];

	if (synth_schema(d, set, len) < 0)
		return NULL;
	snprintf(what, sizeof(what), "the set made for %s (%zu bytes)", d->name, *len);
	return load(*set, *len, what);
}

/* The JSON of wire bytes through s (NULL on error). */
static char *decode(const bus_schema_t *s, const char *type, const void *buf, size_t len,
		    unsigned flags)
{
	char *json = NULL;
	bus_error_t err = { 0 };

	if (bus_json_decode(s, type, buf, len, flags, &json, &err) < 0) {
		diag("decode %s: %s", type, err.message);
		return NULL;
	}
	return json;
}

/* json is encoded through the real schema and through the synthesized one
 * (same bytes), the bytes decoded through both (same JSON, in every
 * flavour), and parsed by the protoc-c code as its type. */
static void same(const bus_schema_t *real, const bus_schema_t *syn, const char *type,
		 const ProtobufCMessageDescriptor *c_type, const char *json)
{
	static const unsigned flavours[] = { 0, BUS_JSON_DEFAULTS | BUS_JSON_ORIGINAL_NAMES };
	void *a = NULL, *b = NULL;
	size_t alen = 0, blen = 0;
	bus_error_t ea = { 0 }, eb = { 0 };
	int ra = bus_json_encode(real, type, json, &a, &alen, &ea);
	int rb = bus_json_encode(syn, type, json, &b, &blen, &eb);

	if (!ok(ra == 0 && rb == 0 && alen == blen && (alen == 0 || memcmp(a, b, alen) == 0),
		"%s: JSON encodes to the same %zu bytes through both", type, alen))
		diag("real: %d %s; synthesized: %d %s (%zu bytes)", ra, ea.message, rb, eb.message,
		     blen);
	for (size_t i = 0; i < sizeof(flavours) / sizeof(*flavours); i++) {
		char *ja = decode(real, type, a, alen, flavours[i]);
		char *jb = decode(syn, type, a, alen, flavours[i]);
		is_str(jb, ja, "  and decodes to the same JSON (flags %#x)", flavours[i]);
		if (i == 0)
			diag("%s", ja ? ja : "(null)");
		free(ja);
		free(jb);
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(c_type, NULL, alen, a);
	ok(m != NULL, "  which protoc-c's %s unpacks", c_type->name);
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	free(a);
	free(b);
}

/* Both schemas list the same methods with the same types. */
static void same_methods(const bus_schema_t *real, const bus_schema_t *syn, const char *svc)
{
	const char *const *mr, *const *ms;
	size_t nr = bus_schema_methods(real, svc, &mr), ns = bus_schema_methods(syn, svc, &ms);
	int same_all = nr == ns && nr > 0;

	for (size_t i = 0; same_all && i < nr; i++) {
		const char *s1, *i1, *o1, *s2, *i2, *o2;
		same_all = strcmp(mr[i], ms[i]) == 0 &&
			   bus_schema_method(real, svc, mr[i], &s1, &i1, &o1) == 0 &&
			   bus_schema_method(syn, svc, ms[i], &s2, &i2, &o2) == 0 &&
			   strcmp(i1, i2) == 0 && strcmp(o1, o2) == 0;
	}
	ok(same_all, "%s: the same %zu methods and types through both", svc, nr);
}

static const char EVERYTHING[] =
	"{\"i64\":\"-9007199254740993\",\"u64\":\"18446744073709551615\",\"s32\":-7,"
	"\"f64\":\"1234567890123\",\"sf32\":-5,\"dbl\":2.5,\"flt\":-0.5,\"yes\":true,"
	"\"text\":\"h\\u00e9\\n\",\"blob\":\"AAH/gA==\",\"mood\":\"GRUMPY\","
	"\"outer\":{\"kind\":\"LARGE\",\"leaf\":{\"label\":\"l\",\"marks\":[\"-1\",\"5\"]},"
	"\"leaves\":[{\"label\":\"a\"},{\"marks\":[\"9223372036854775807\"]}]},"
	"\"packedInts\":[1,-2,300],\"unpackedInts\":[4,5],\"words\":[\"x\",\"\"],"
	"\"moods\":[\"HAPPY\",\"GRUMPY\",\"MOOD_UNSPECIFIED\"],"
	"\"counts\":{\"a\":\"1\",\"b\":\"-2\"},\"leafById\":{\"7\":{\"label\":\"seven\"}},"
	"\"flagsMap\":{\"true\":\"AQ==\"},\"pickLeaf\":{\"label\":\"p\"},\"otherMood\":\"HAPPY\","
	"\"at\":\"2024-02-29T12:00:00.500Z\","
	"\"legacy\":{\"id\":3,\"big\":\"5\",\"level\":\"TOP\",\"raw\":\"AA==\",\"ratio\":0.125,"
	"\"on\":false,\"detail\":{\"note\":\"n\",\"packedVals\":[1,2],\"plainVals\":[3]},"
	"\"weights\":{\"w\":4},\"code\":12},"
	"\"detail\":{\"packedVals\":[-1]},\"camelCaseName\":28}";

/* ---------------------------------------------------------------- shape */

static const file_desc *file_named(const Google__Protobuf__FileDescriptorSet *set, const char *n)
{
	for (size_t i = 0; i < set->n_file; i++)
		if (strcmp(set->file[i]->name, n) == 0)
			return set->file[i];
	return NULL;
}

static const msg_desc *msg_named(msg_desc *const *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->name, name) == 0)
			return v[i];
	return NULL;
}

static const field_desc *field_named(const msg_desc *m, const char *name)
{
	for (size_t i = 0; m && i < m->n_field; i++)
		if (strcmp(m->field[i]->name, name) == 0)
			return m->field[i];
	return NULL;
}

static const char *default_of(const msg_desc *m, const char *field)
{
	const field_desc *f = field_named(m, field);
	return f && f->default_value ? f->default_value : "(none)";
}

static void shape(const uint8_t *set_bytes, size_t len)
{
	Google__Protobuf__FileDescriptorSet *set =
		google__protobuf__file_descriptor_set__unpack(NULL, len, set_bytes);

	if (!ok(set != NULL, "the set for st.Probe is a FileDescriptorSet")) {
		for (int i = 0; i < 20; i++)
			ok(0, "(no set)");
		return;
	}
	const file_desc *st = file_named(set, "busd-synth/st.proto");
	const file_desc *other = file_named(set, "busd-synth/st.other-proto2.proto");
	const file_desc *wkt = file_named(set, "busd-synth/google.protobuf.proto");
	is_int((long long)set->n_file, 3, "  three files: one per package");
	ok(st && other && wkt, "  named busd-synth/ + package (+ -proto2) + .proto");
	if (!st || !other || !wkt) {
		for (int i = 0; i < 18; i++)
			ok(0, "(files missing)");
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
		return;
	}
	ok(strcmp(set->file[2]->name, st->name) == 0 && st->n_dependency == 2,
	   "  st's file comes last and depends on the other two");
	ok(strcmp(st->syntax, "proto3") == 0 && strcmp(other->syntax, "proto2") == 0,
	   "  syntax: proto3 for st, proto2 for st.other (from the labels)");
	ok(st->n_service == 1 && strcmp(st->service[0]->name, "Probe") == 0 &&
	   st->service[0]->n_method == 2, "  the service, with its two methods");

	const msg_desc *ev = msg_named(st->message_type, st->n_message_type, "Everything");
	const msg_desc *holder = msg_named(st->message_type, st->n_message_type, "Holder");
	ok(ev && ev->n_oneof_decl == 2 && strcmp(ev->oneof_decl[0]->name, "oneof0") == 0 &&
	   strcmp(ev->oneof_decl[1]->name, "oneof1") == 0,
	   "  oneofs named oneof0, oneof1 in the order of their first member");
	const field_desc *pl = field_named(ev, "pick_leaf"), *om = field_named(ev, "other_mood");
	ok(pl && pl->has_oneof_index && pl->oneof_index == 0 && om && om->oneof_index == 1,
	   "  members in their oneof");
	const msg_desc *ce = ev ? msg_named(ev->nested_type, ev->n_nested_type, "CountsEntry") : NULL;
	ok(ce && ce->options && ce->options->map_entry && ev->n_nested_type == 3,
	   "  the three map entries nested and marked map_entry");
	const field_desc *pk = field_named(ev, "packed_ints"), *up = field_named(ev, "unpacked_ints");
	ok(pk && pk->options && pk->options->packed && up && up->options && up->options->has_packed &&
	   !up->options->packed, "  packing said outright: packed_ints yes, unpacked_ints no");
	ok(holder && holder->n_field == 0 && holder->n_nested_type == 1 &&
	   strcmp(holder->nested_type[0]->name, "Part") == 0,
	   "  Holder, not used itself, is an empty container of Part");
	const Google__Protobuf__EnumDescriptorProto *mood = NULL;
	for (size_t i = 0; i < st->n_enum_type; i++)
		if (strcmp(st->enum_type[i]->name, "Mood") == 0)
			mood = st->enum_type[i];
	ok(mood && mood->n_value == 3 && mood->value[0]->number == 0 &&
	   mood->value[1]->number == -2 && strcmp(mood->value[1]->name, "GRUMPY") == 0,
	   "  Mood: zero first, then by number, -2 kept");
	const msg_desc *outer = msg_named(st->message_type, st->n_message_type, "Outer");
	ok(outer && outer->n_enum_type == 1 && outer->n_nested_type == 1,
	   "  Outer keeps its nested enum and message");

	const msg_desc *legacy = msg_named(other->message_type, other->n_message_type, "Legacy");
	const field_desc *id = field_named(legacy, "id");
	ok(id && id->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REQUIRED,
	   "  proto2: required kept");
	is_str(default_of(legacy, "big"), "-9000000000", "  proto2 default: int64");
	is_str(default_of(legacy, "level"), "HIGH", "  proto2 default: enum by name");
	is_str(default_of(legacy, "raw"), "a\\001\\\"b", "  proto2 default: bytes C-escaped");
	is_str(default_of(legacy, "ratio"), "0.25", "  proto2 default: double");
	is_str(default_of(legacy, "on"), "true", "  proto2 default: bool");
	const msg_desc *det = legacy ? msg_named(legacy->nested_type, legacy->n_nested_type,
						 "Detail") : NULL;
	is_str(default_of(det, "note"), "n/a", "  proto2 default: string");
	const Google__Protobuf__EnumDescriptorProto *level =
		other->n_enum_type ? other->enum_type[0] : NULL;
	ok(level && level->n_value == 3 && level->options && level->options->allow_alias,
	   "  an enum alias kept, with allow_alias");
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

/* ---------------------------------------------------------------- main */

int main(void)
{
	uint8_t *set = NULL, *set2 = NULL;
	size_t len = 0, len2 = 0;

	plan(86);

	/* synth-test.proto */
	bus_schema_t *real = load(synth_test_fds, synth_test_fds_len, "protoc's set of synth-test");
	bus_schema_t *syn = load_synth(&st__probe__descriptor, &set, &len);
	same_methods(real, syn, "st.Probe");
	same(real, syn, "st.Everything", &st__everything__descriptor, EVERYTHING);
	same(real, syn, "st.Everything", &st__everything__descriptor,
	     "{\"pickText\":\"t\",\"otherI64\":\"-1\",\"mood\":\"MOOD_UNSPECIFIED\"}");
	same(real, syn, "st.Everything", &st__everything__descriptor,
	     "{\"pickNum\":0,\"legacy\":{\"id\":0,\"name\":\"\"}}");
	same(real, syn, "st.Everything", &st__everything__descriptor, "{}");
	same(real, syn, "st.Outer", &st__outer__descriptor,
	     "{\"kind\":\"SMALL\",\"leaves\":[{\"marks\":[\"0\",\"-9223372036854775808\"]}]}");
	same(real, syn, "st.Holder.Part", &st__holder__part__descriptor, "{\"n\":-1}");
	shape(set, len);

	ok(synth_set_declares(synth_test_fds, synth_test_fds_len, "st.Probe") &&
	   synth_set_declares(synth_test_fds, synth_test_fds_len, "st.Empty") &&
	   synth_set_declares(set, len, "st.Probe"),
	   "synth_set_declares finds a service in protoc's set and in a synthesized one");
	ok(!synth_set_declares(synth_test_fds, synth_test_fds_len, "st.Nope") &&
	   !synth_set_declares(synth_test_fds, synth_test_fds_len, "Probe") &&
	   !synth_set_declares(set, len, "st.other.Probe") &&
	   !synth_set_declares((const uint8_t *)"\x0a\x05zz", 4, "st.Probe"),
	   "  and not a service it lacks, a bare name, another package, or in garbage");

	/* Merging: a service of the same package synthesized on its own, then
	 * protoc's set after a synthesized one would be refused, so real first. */
	bus_error_t err = { 0 };
	ok(synth_schema(&st__empty__descriptor, &set2, &len2) == 0 &&
	   bus_schema_add(syn, set2, len2, &err) == 0,
	   "a second synthesized file of package st merges into the schema (%s)", err.message);
	const char *const *names;
	ok(bus_schema_methods(syn, "st.Empty", &names) == 0 &&
	   bus_schema_methods(syn, "st.Probe", &names) == 2, "  both services are there");
	bus_schema_t *mixed = load(synth_test_fds, synth_test_fds_len, "protoc's set");
	ok(bus_schema_add(mixed, set, len, &err) == 0,
	   "a synthesized set after protoc's for the same types: accepted (%s)", err.message);
	size_t n_services;
	bus_schema_services(mixed, &n_services);
	is_int((long long)n_services, 2, "  protoc's declarations stay, no service twice");
	bus_schema_free(mixed);
	free(set2);
	mixed = load_synth(&st__probe__descriptor, &set2, &len2);
	free(set2);
	set2 = NULL;
	ok(bus_schema_add(mixed, synth_test_fds, synth_test_fds_len, &err) == 0,
	   "protoc's set after a synthesized one for the same types: accepted (%s)", err.message);
	bus_schema_services(mixed, &n_services);
	ok(n_services == 2 && bus_schema_methods(mixed, "st.Empty", &names) == 0 &&
	   bus_schema_has_type(mixed, "st.other.Legacy"), "  what it adds is there, nothing twice");
	free(set2);
	bus_schema_free(mixed);
	bus_schema_free(real);
	bus_schema_free(syn);
	free(set);

	/* The project's own services. */
	struct {
		const ProtobufCServiceDescriptor *svc;
		const unsigned char *fds;
		const size_t *len;
		const char *type, *json;
		const ProtobufCMessageDescriptor *c_type;
	} own[] = {
		{ &busd__examples__echo__descriptor, proto_echo_fds, &proto_echo_fds_len,
		  "busd.examples.EchoRequest", "{\"text\":\"hi\",\"data\":\"3q2+7w==\"}",
		  &busd__examples__echo_request__descriptor },
		{ &busd__examples__sensor__descriptor, proto_sensor_fds, &proto_sensor_fds_len,
		  "busd.examples.Reading", "{\"sensor\":\"t0\",\"value\":21.5,\"unit\":\"C\","
		  "\"seq\":\"18446744073709551615\",\"timeUsec\":\"1\"}",
		  &busd__examples__reading__descriptor },
		{ &busd__bench__bench__descriptor, proto_bench_fds, &proto_bench_fds_len,
		  "busd.bench.Blob", "{\"data\":\"AAECAw==\"}", &busd__bench__blob__descriptor },
		{ &bus__bus__descriptor, proto_bus_fds, &proto_bus_fds_len, "bus.ListNamesReply",
		  "{\"peers\":[{\"uniqueName\":\":1\",\"names\":[\"a.b\"],\"pid\":7,\"uid\":0,"
		  "\"groups\":[1,2]},{}]}", &bus__list_names_reply__descriptor },
	};
	for (size_t i = 0; i < sizeof(own) / sizeof(*own); i++) {
		real = load(own[i].fds, *own[i].len, own[i].svc->name);
		syn = load_synth(own[i].svc, &set, &len);
		same_methods(real, syn, own[i].svc->name);
		same(real, syn, own[i].type, own[i].c_type, own[i].json);
		bus_schema_free(real);
		bus_schema_free(syn);
		free(set);
	}
	return tap_done();
}
