/* test-json.c - libbus-json's schema index and JSON codec (bus/schema.h)
 * against tests/json-test.proto: exact wire bytes for known encodings,
 * round trips for every scalar type and their extremes, nested, repeated,
 * packed and unpacked, maps, oneofs, enums, optional, unknown fields,
 * Timestamp, Duration, Empty, and errors that name the JSON path. Then the
 * sets a hostile peer can upload: each broken rule of a FileDescriptorSet
 * is refused with a message saying which, and the limits hold. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <bus/schema.h>
#include "google/protobuf/descriptor.pb-c.h"
#include "hostile-fds.h"
#include "tap.h"

extern const unsigned char json_test_fds[];
extern const size_t json_test_fds_len;

static bus_schema_t *S;

/* JSON -> wire, as hex ("" on error, err filled). */
static char *enc_hex(const char *json, bus_error_t *err)
{
	static char hex[4096];
	void *out;
	size_t len;

	hex[0] = '\0';
	if (bus_json_encode(S, "jt.All", json, &out, &len, err) < 0)
		return hex;
	for (size_t i = 0; i < len && 2 * i + 2 < sizeof(hex); i++)
		sprintf(hex + 2 * i, "%02x", ((unsigned char *)out)[i]);
	free(out);
	return hex;
}

/* JSON -> wire -> JSON, normalised by json-c (sorted keys are not needed:
 * both sides come out of the same decoder order). */
static char *round_trip(const char *json, unsigned flags, bus_error_t *err)
{
	static char text[4096];
	void *out = NULL;
	size_t len;
	char *back = NULL;

	text[0] = '\0';
	if (bus_json_encode(S, "jt.All", json, &out, &len, err) == 0 &&
	    bus_json_decode(S, "jt.All", out, len, flags, &back, err) == 0)
		snprintf(text, sizeof(text), "%s", back);
	free(out);
	free(back);
	return text;
}

/* Same JSON meaning: parse both and compare json-c's canonical output. */
static int same_json(const char *a, const char *b)
{
	json_object *x = json_tokener_parse(a), *y = json_tokener_parse(b);
	int r = x && y && json_object_equal(x, y);
	json_object_put(x);
	json_object_put(y);
	return r;
}

static void check_rt(const char *json, const char *want, const char *what)
{
	bus_error_t err = { "", "" };
	char *got = round_trip(json, 0, &err);
	ok(same_json(got, want), "%s: %s -> %s%s%s", what, json, got, err.name[0] ? " " : "",
	   err.message);
}

static void check_hex(const char *json, const char *want, const char *what)
{
	bus_error_t err = { "", "" };
	is_str(enc_hex(json, &err), want, "%s (%s)%s", what, json, err.message);
}

static void check_err(const char *json, const char *needle, const char *what)
{
	bus_error_t err = { "", "" };
	void *out = NULL;
	size_t len;
	int r = bus_json_encode(S, "jt.All", json, &out, &len, &err);
	free(out);
	ok(r < 0 && strcmp(err.name, BUS_ERROR_INVALID_ARGS) == 0 && strstr(err.message, needle),
	   "%s: refused with \"%s\" (%s)", what, needle, err.message);
}

static void test_schema(void)
{
	bus_error_t err;
	const char *svc, *in, *out;

	ok(bus_schema_has_type(S, "jt.All") && bus_schema_has_type(S, ".jt.Inner"),
	   "the schema has jt.All and .jt.Inner (leading dot allowed)");
	ok(bus_schema_has_type(S, "google.protobuf.Timestamp"), "and the imported Timestamp");
	ok(!bus_schema_has_type(S, "jt.Nope"), "but not jt.Nope");
	ok(bus_schema_method(S, NULL, "Get", &svc, &in, &out) == 0 && strcmp(svc, "jt.Svc") == 0 &&
	   strcmp(in, "jt.Inner") == 0 && strcmp(out, "jt.All") == 0,
	   "method Get is found in jt.Svc, with its request and reply types");
	is_int(bus_schema_method(S, "jt.Svc", "X", &svc, &in, &out), -2, "an unknown method: -ENOENT");
	const char *const *methods;
	ok(bus_schema_methods(S, ".jt.Svc", &methods) == 2 && strcmp(methods[0], "Get") == 0 &&
	   strcmp(methods[1], "Put") == 0 && !methods[2], "jt.Svc's methods in declaration order");
	is_int(bus_schema_add(S, "garbage!", 8, &err), -22, "garbage is not a FileDescriptorSet");
	/* A set whose field uses a type described nowhere. */
	/* FileDescriptorSet { file { name: "o.proto" message_type { name: "M"
	 * field { name: "x" number: 1 label: OPTIONAL type: MESSAGE
	 * type_name: ".nowhere.TypeXY" } } } } */
	static const unsigned char orphan[] = {
		0x0a, 0x2a, 0x0a, 0x07, 'o', '.', 'p', 'r', 'o', 't', 'o', 0x22, 0x1f, 0x0a, 0x01, 'M',
		0x12, 0x1a, 0x0a, 0x01, 'x', 0x18, 0x01, 0x20, 0x01, 0x28, 0x0b, 0x32, 0x0f, '.',
		'n', 'o', 'w', 'h', 'e', 'r', 'e', '.', 'T', 'y', 'p', 'e', 'X', 'Y',
	};
	int r = bus_schema_add(S, orphan, sizeof(orphan), &err);
	ok(r == -22 && strstr(err.message, "nowhere.TypeXY"),
	   "a set using an undescribed type is refused, naming it (%s)", err.message);
	ok(!bus_schema_has_type(S, "M"), "  and adds nothing");
	is_int(bus_schema_add(S, json_test_fds, json_test_fds_len, &err), 0,
	       "adding the same set again is harmless");
	char *text = NULL;
	ok(bus_schema_render(S, "jt.All", &text) == 0 && text, "render jt.All");
	ok(text && strstr(text, "message jt.All {"), "  as a message");
	ok(text && strstr(text, "map<string, int32> m_str = 21;"), "  with its maps");
	ok(text && strstr(text, "oneof choice {"), "  its oneof");
	ok(text && strstr(text, "optional int32 o_int = 25;"), "  optional fields");
	ok(text && strstr(text, "repeated jt.Inner r_inner = 20;"), "  repeated messages");
	ok(text && strstr(text, "enum jt.Color {") && strstr(text, "GREEN = 2;"), "  and the enum it uses");
	ok(text && strstr(text, "message google.protobuf.Timestamp {"), "  and the imported types");
	free(text);
	is_int(bus_schema_render(S, "jt.Missing", &text), -2, "render of an unknown name: -ENOENT");
}

static void test_wire_bytes(void)
{
	check_hex("{\"fInt32\": 150}", "289601", "int32 150 is field 5 varint 96 01");
	check_hex("{\"f_int32\": 150}", "289601", "the original field name is accepted too");
	check_hex("{\"fString\": \"hi\"}", "4a026869", "string");
	check_hex("{\"fSint32\": -1}", "7001", "sint32 -1 zigzags to 1");
	check_hex("{\"fSint64\": \"-2\"}", "7803", "sint64 -2 zigzags to 3");
	check_hex("{\"fInt32\": -1}", "28ffffffffffffffffff01", "negative int32: ten-byte varint");
	check_hex("{\"fFixed32\": 1}", "3d01000000", "fixed32 little-endian");
	check_hex("{\"fSfixed64\": \"-1\"}", "69ffffffffffffffff", "sfixed64 -1");
	check_hex("{\"fBool\": true}", "4001", "bool");
	check_hex("{\"rInt32\": [1, 2, 3]}", "920103010203", "repeated int32 is packed in proto3");
	check_hex("{\"rString\": [\"a\", \"b\"]}", "9a0101619a010162", "repeated string, one field each");
	check_hex("{\"color\": \"GREEN\"}", "800102", "enum by name");
	check_hex("{\"color\": 2}", "800102", "enum by number");
	check_hex("{\"fBytes\": \"\"}", "", "empty bytes: the default, not written");
	check_hex("{\"fInt32\": 0, \"fString\": \"\", \"color\": \"COLOR_UNSPECIFIED\"}", "",
		  "proto3 defaults are not written");
	check_hex("{\"oInt\": 0}", "c80100", "but an optional field at zero is (presence)");
	check_hex("{\"cNum\": 0}", "c00100", "and so is a oneof member");
	check_hex("{\"inner\": {\"name\": \"x\"}}", "8a01030a0178", "nested message");
	check_hex("{\"mStr\": {\"a\": 1}}", "aa01050a01611001", "map<string,int32> entry");
	check_hex("{}", "", "{} is the empty message");
	check_hex("{\"fInt32\": null}", "", "null is the default: nothing on the wire");
}

static void test_round_trips(void)
{
	check_rt("{\"fInt64\":\"-9223372036854775808\"}", "{\"fInt64\":\"-9223372036854775808\"}",
		 "int64 min, as a string");
	check_rt("{\"fInt64\":9223372036854775807}", "{\"fInt64\":\"9223372036854775807\"}",
		 "int64 max from a number comes back as a string");
	check_rt("{\"fUint64\":\"18446744073709551615\"}", "{\"fUint64\":\"18446744073709551615\"}",
		 "uint64 max");
	check_rt("{\"fFixed64\":\"18446744073709551615\"}", "{\"fFixed64\":\"18446744073709551615\"}",
		 "fixed64 max");
	check_rt("{\"fSfixed64\":\"-9223372036854775808\"}",
		 "{\"fSfixed64\":\"-9223372036854775808\"}", "sfixed64 min");
	check_rt("{\"fSint64\":\"-9223372036854775808\"}", "{\"fSint64\":\"-9223372036854775808\"}",
		 "sint64 min");
	check_rt("{\"fInt32\":-2147483648}", "{\"fInt32\":-2147483648}", "int32 min");
	check_rt("{\"fInt32\":\"2147483647\"}", "{\"fInt32\":2147483647}", "int32 from a string");
	check_rt("{\"fUint32\":4294967295}", "{\"fUint32\":4294967295}", "uint32 max");
	check_rt("{\"fSint32\":-2147483648}", "{\"fSint32\":-2147483648}", "sint32 min");
	check_rt("{\"fSfixed32\":-5}", "{\"fSfixed32\":-5}", "sfixed32");
	check_rt("{\"fFixed32\":4294967295}", "{\"fFixed32\":4294967295}", "fixed32 max");
	check_rt("{\"fDouble\":\"NaN\"}", "{\"fDouble\":\"NaN\"}", "double NaN");
	check_rt("{\"fDouble\":\"Infinity\"}", "{\"fDouble\":\"Infinity\"}", "double Infinity");
	check_rt("{\"fDouble\":\"-Infinity\"}", "{\"fDouble\":\"-Infinity\"}", "double -Infinity");
	check_rt("{\"fDouble\":35.104}", "{\"fDouble\":35.104}", "double in its shortest form");
	check_rt("{\"fDouble\":\"1e300\"}", "{\"fDouble\":1e+300}", "double from a string");
	check_rt("{\"fFloat\":0.1}", "{\"fFloat\":0.1}", "float 0.1 prints as 0.1, not 0.100000001");
	check_rt("{\"fFloat\":\"-Infinity\"}", "{\"fFloat\":\"-Infinity\"}", "float -Infinity");
	check_rt("{\"fBool\":false}", "{}", "false is the default: omitted");
	check_rt("{\"fString\":\"h\\u00e9llo \\u2603\"}", "{\"fString\":\"h\\u00e9llo \\u2603\"}",
		 "non-ASCII strings");
	check_rt("{\"fBytes\":\"AAEC/w==\"}", "{\"fBytes\":\"AAEC/w==\"}", "bytes");
	check_rt("{\"fBytes\":\"AAEC_w\"}", "{\"fBytes\":\"AAEC/w==\"}",
		 "URL-safe unpadded base64 is accepted");
	check_rt("{\"color\":\"RED\",\"rColor\":[\"GREEN\",1,7]}",
		 "{\"color\":\"RED\",\"rColor\":[\"GREEN\",\"RED\",7]}",
		 "enums by name, by number, and an unnamed number");
	check_rt("{\"inner\":{\"name\":\"a\",\"n\":3}}", "{\"inner\":{\"name\":\"a\",\"n\":3}}", "nested");
	check_rt("{\"rInner\":[{\"n\":1},{},{\"name\":\"z\"}]}",
		 "{\"rInner\":[{\"n\":1},{},{\"name\":\"z\"}]}", "repeated messages, an empty one kept");
	check_rt("{\"rInt32\":[1,-1,300]}", "{\"rInt32\":[1,-1,300]}", "packed repeated");
	check_rt("{\"mStr\":{\"a\":1,\"b\":2}}", "{\"mStr\":{\"a\":1,\"b\":2}}", "map<string,int32>");
	check_rt("{\"mInt\":{\"-5\":{\"name\":\"neg\"},\"7\":{}}}",
		 "{\"mInt\":{\"-5\":{\"name\":\"neg\"},\"7\":{}}}", "map<int32,Inner>, keys as strings");
	check_rt("{\"mBool\":{\"true\":\"yes\"}}", "{\"mBool\":{\"true\":\"yes\"}}", "map<bool,string>");
	check_rt("{\"cText\":\"t\"}", "{\"cText\":\"t\"}", "a oneof member");
	check_rt("{\"cNum\":0}", "{\"cNum\":0}", "a oneof member at its default is still set");
	check_rt("{\"oInt\":0}", "{\"oInt\":0}", "proto3 optional at zero keeps its presence");
	check_rt("{\"ts\":\"1972-01-01T10:00:20.021Z\"}", "{\"ts\":\"1972-01-01T10:00:20.021Z\"}",
		 "Timestamp");
	check_rt("{\"ts\":\"2026-11-25T07:00:00Z\"}", "{\"ts\":\"2026-11-25T07:00:00Z\"}",
		 "Timestamp without fraction");
	check_rt("{\"dur\":\"1.000340012s\"}", "{\"dur\":\"1.000340012s\"}", "Duration");
	check_rt("{\"dur\":\"-1.5s\"}", "{\"dur\":\"-1.500s\"}", "negative Duration");
	check_rt("{\"empty\":{}}", "{\"empty\":{}}", "Empty");
	check_rt("{\"file\":{\"fd\":1},\"files\":[{\"fd\":0},{}]}",
		 "{\"file\":{\"fd\":1},\"files\":[{\"fd\":0},{\"fd\":0}]}",
		 "bus.Fd: {\"fd\": N}, the index of a descriptor passed with the frame, 0 shown");

	bus_error_t err;
	char *def = round_trip("{}", BUS_JSON_DEFAULTS, &err);
	ok(strstr(def, "\"fInt64\":\"0\"") && strstr(def, "\"fString\":\"\"") &&
	   strstr(def, "\"rInt32\":[]") && strstr(def, "\"mStr\":{}") &&
	   strstr(def, "\"color\":\"COLOR_UNSPECIFIED\""),
	   "BUS_JSON_DEFAULTS shows fields at their defaults (%.120s...)", def);
	char *orig = round_trip("{\"fInt32\":1}", BUS_JSON_ORIGINAL_NAMES, &err);
	ok(same_json(orig, "{\"f_int32\":1}"), "BUS_JSON_ORIGINAL_NAMES (%s)", orig);
	char *pretty = round_trip("{\"fInt32\":1,\"fString\":\"s\"}", BUS_JSON_PRETTY, &err);
	ok(strchr(pretty, '\n') != NULL, "BUS_JSON_PRETTY indents");
	is_str(round_trip("{}", BUS_JSON_PRETTY, &err), "{}", "  an empty message is {}, on one line");
	pretty = round_trip("{\"empty\":{},\"rString\":[\"{\\n}\"]}", BUS_JSON_PRETTY, &err);
	ok(strstr(pretty, "\"empty\": {}") && strstr(pretty, "\"{\\n}\""),
	   "  an empty member too, and a string's own text is left alone (%s)", pretty);
}

static void test_wire_decode(void)
{
	bus_error_t err;
	char *json = NULL;

	/* Unpacked repeated int32 (field 18 as separate varints) decodes too. */
	static const unsigned char unpacked[] = { 0x90, 0x01, 0x05, 0x90, 0x01, 0x06 };
	ok(bus_json_decode(S, "jt.All", unpacked, sizeof(unpacked), 0, &json, &err) == 0 &&
	   same_json(json, "{\"rInt32\":[5,6]}"), "unpacked repeated input decodes (%s)", json ? json : "-");
	free(json);

	/* Field 99 (varint 7) and field 100 (string "u") are unknown to jt.All. */
	static const unsigned char unknown[] = { 0x28, 0x01, 0x98, 0x06, 0x07, 0xa2, 0x06, 0x01, 'u' };
	json = NULL;
	ok(bus_json_decode(S, "jt.All", unknown, sizeof(unknown), 0, &json, &err) == 0 && json &&
	   strstr(json, "\"@unknown\":\"mAYHogYBdQ==\""), "unknown fields are kept as @unknown (%s)",
	   json ? json : "-");
	void *back = NULL;
	size_t len = 0;
	ok(json && bus_json_encode(S, "jt.All", json, &back, &len, &err) == 0 &&
	   len == sizeof(unknown) && memcmp(back, unknown, len) == 0,
	   "  and encoded back, byte for byte");
	free(back);
	free(json);

	static const unsigned char truncated[] = { 0x4a, 0x05, 'h', 'i' };
	json = NULL;
	ok(bus_json_decode(S, "jt.All", truncated, sizeof(truncated), 0, &json, &err) < 0 &&
	   strstr(err.message, "at .fString") && !json, "a truncated string is refused at its path (%s)",
	   err.message);
	static const unsigned char badkey[] = { 0x00, 0x01 };
	ok(bus_json_decode(S, "jt.All", badkey, sizeof(badkey), 0, &json, &err) < 0,
	   "field number 0 is refused");
	static const unsigned char wrongwt[] = { 0x2d, 0x01, 0x00, 0x00, 0x00 };
	ok(bus_json_decode(S, "jt.All", wrongwt, sizeof(wrongwt), 0, &json, &err) < 0 &&
	   strstr(err.message, "wrong wire type"), "an int32 sent as fixed32 is refused (%s)",
	   err.message);
	static const unsigned char badutf8[] = { 0x4a, 0x02, 0xc3, 0x28 };
	ok(bus_json_decode(S, "jt.All", badutf8, sizeof(badutf8), 0, &json, &err) < 0 &&
	   strstr(err.message, "UTF-8"), "a string that is not UTF-8 is refused");

	/* Found by fuzz-json: values that must survive wire -> JSON -> wire. */
	static const struct { unsigned char wire[8]; size_t len; const char *json, *what; } stable[] = {
		{ { 0x15, 0x00, 0x00, 0x00, 0x80 }, 5, "{\"fFloat\":-0.0}", "float -0.0 keeps its sign" },
		{ { 0x15, 0xff, 0xff, 0x7f, 0x7f }, 5, "{\"fFloat\":3.4028235e+38}", "FLT_MAX" },
		{ { 0x28, 0x00 }, 2, "{}", "an int32 0 sent on the wire is the default" },
		{ { 0xc0, 0x01, 0x00, 0xba, 0x01, 0x00 }, 6, "{\"cText\":\"\"}",
		  "two members of a oneof: the last wins" },
	};
	for (size_t i = 0; i < sizeof(stable) / sizeof(stable[0]); i++) {
		char *again = NULL;
		json = NULL;
		back = NULL;
		len = 0;
		int r = bus_json_decode(S, "jt.All", stable[i].wire, stable[i].len, 0, &json, &err);
		ok(r == 0 && same_json(json, stable[i].json) &&
		   bus_json_encode(S, "jt.All", json, &back, &len, &err) == 0 &&
		   bus_json_decode(S, "jt.All", back, len, 0, &again, &err) == 0 &&
		   strcmp(json, again) == 0, "%s: %s, stable through a round trip (%s)", stable[i].what,
		   json ? json : err.message, again ? again : "-");
		free(json);
		free(back);
		free(again);
	}
	ok(bus_json_decode(S, "jt.Nope", "", 0, 0, &json, &err) < 0 &&
	   strstr(err.message, "no message type jt.Nope"), "an unknown type is refused");
}

static void test_errors(void)
{
	check_err("{\"fInt32\": ", "malformed JSON", "truncated JSON");
	check_err("{\"fInt32\": 1} x", "text after the value", "trailing garbage");
	check_err("[1]", "expected an object", "an array where the message goes");
	check_err("{\"nope\": 1}", "at .nope: unknown field \"nope\" in jt.All", "an unknown field");
	check_err("{\"inner\": {\"nmae\": \"x\"}}", "at .inner.nmae: unknown field", "a nested unknown field");
	check_err("{\"fInt32\": \"abc\"}", "at .fInt32: expected an integer, got \"abc\"", "text for an integer");
	check_err("{\"fInt32\": 1.5}", "at .fInt32: expected an integer", "a fraction for an integer");
	check_err("{\"fInt32\": 2147483648}", "at .fInt32: 2147483648 is out of range", "int32 overflow");
	check_err("{\"fUint32\": 4294967296}", "at .fUint32: 4294967296 is out of range", "uint32 overflow");
	check_err("{\"fUint32\": -1}", "at .fUint32: -1 is out of range", "a negative unsigned");
	check_err("{\"fUint64\": \"18446744073709551616\"}", "is out of range", "uint64 overflow");
	check_err("{\"fInt64\": \"-9223372036854775809\"}", "is out of range", "int64 underflow");
	check_err("{\"fBool\": 1}", "at .fBool: expected true or false", "a number for a bool");
	check_err("{\"fString\": 5}", "at .fString: expected a string", "a number for a string");
	check_err("{\"fBytes\": \"***\"}", "at .fBytes: \"***\" is not base64", "bad base64");
	check_err("{\"fDouble\": \"lots\"}", "at .fDouble: expected a number", "text for a double");
	check_err("{\"fFloat\": 1e39}", "out of range for float", "float overflow");
	check_err("{\"dur\": \"-9999999999999999999999.5s\"}", "at .dur: \"-9999999999999999999999.5s\" is not a Duration",
		  "a Duration past int64 (found by fuzz-json)");
	check_err("{\"dur\": \"315576000001s\"}", "is not a Duration", "a Duration past 10,000 years");
	check_err("{\"ts\": \"10000-01-01T00:00:00Z\"}", "is not a Timestamp", "a Timestamp past 9999");
	check_err("{\"color\": \"BLUE\"}", "at .color: \"BLUE\" is not a value of jt.Color", "an unknown enum name");
	check_err("{\"rInt32\": 5}", "at .rInt32: expected an array", "a scalar for a repeated field");
	check_err("{\"rInt32\": [1, \"x\"]}", "at .rInt32[1]: expected an integer", "a bad array element");
	check_err("{\"rInner\": [{}, {\"n\": true}]}", "at .rInner[1].n: expected an integer", "a path through an array");
	check_err("{\"mStr\": []}", "at .mStr: expected an object", "an array for a map");
	check_err("{\"mStr\": {\"k\": \"v\"}}", "at .mStr[\"k\"]: expected an integer", "a bad map value");
	check_err("{\"mInt\": {\"x\": {}}}", "at .mInt[\"x\"]: expected an integer", "a bad map key");
	check_err("{\"cText\": \"a\", \"cNum\": 1}", "are members of the same oneof", "two oneof members");
	check_err("{\"ts\": \"yesterday\"}", "at .ts: \"yesterday\" is not a Timestamp", "a bad Timestamp");
	check_err("{\"dur\": \"5 minutes\"}", "at .dur: \"5 minutes\" is not a Duration", "a bad Duration");
	check_err("{\"@unknown\": null}", "expected base64 of raw protobuf fields",
		  "@unknown must be a string (null crashed the encoder)");
	bus_error_t err;
	void *out;
	size_t len;
	ok(bus_json_encode(S, "jt.Nope", "{}", &out, &len, &err) < 0 &&
	   strstr(err.message, "no message type jt.Nope"), "encoding an unknown type is refused");
	/* Deep nesting is bounded, not a stack overflow. */
	char deep[2048] = "";
	for (int i = 0; i < 300; i++)
		strcat(deep, "[");
	check_err(deep, "malformed JSON", "300 nested arrays stop at the depth limit");
}

/* ---------------------------------------------------------------- hostile sets */

typedef Google__Protobuf__FileDescriptorSet fds_t;
typedef Google__Protobuf__DescriptorProto msg_t;
typedef Google__Protobuf__FieldDescriptorProto field_t;

/* A string member of an unpacked descriptor, replaced (NULL: unset). */
static void set_str(char **member, const char *value)
{
	free(*member);
	*member = value ? strdup(value) : NULL;
}

static Google__Protobuf__FileDescriptorProto *jt_file(fds_t *set)
{
	for (size_t i = 0; i < set->n_file; i++)
		if (strcmp(set->file[i]->name, "json-test.proto") == 0)
			return set->file[i];
	return NULL;
}

static msg_t *jt_msg(fds_t *set, const char *name)
{
	Google__Protobuf__FileDescriptorProto *f = jt_file(set);
	for (size_t i = 0; i < f->n_message_type; i++)
		if (strcmp(f->message_type[i]->name, name) == 0)
			return f->message_type[i];
	return NULL;
}

/* jt.All's field with number n (they are declared in order). */
static field_t *jt_field(fds_t *set, int n)
{
	return jt_msg(set, "All")->field[n - 1];
}

enum breakage {
	NO_FIELD_NAME, BAD_FIELD_NAME, FIELD_NUMBER_0, SAME_NUMBER, BAD_LABEL, BAD_TYPE,
	MESSAGE_IS_ENUM, ENUM_IS_MESSAGE, NO_SUCH_ONEOF, OPTIONAL_WITHOUT_ONEOF, BAD_JSON_NAME,
	SAME_JSON_NAME, AT_JSON_NAME, BAD_MAP_ENTRY, SINGLE_MAP, REPEATED_IN_ONEOF, EMPTY_ENUM, SAME_VALUE_NAME,
	TYPE_TWICE, NO_MESSAGE_NAME, EDITIONS, BAD_PACKAGE, NO_FILE_NAME, UNKNOWN_TYPE,
	BAD_TYPE_NAME, METHOD_OF_ENUM, SAME_METHOD, BAD_ONEOF_NAME, BAD_VALUE_NAME,
};

static const struct {
	enum breakage b;
	const char *what, *needle;
} breakages[] = {
	{ NO_FIELD_NAME, "a field without a name (crashed the encoder)", "json-test.proto: field 1 of jt.All has no name" },
	{ BAD_FIELD_NAME, "a field name that is no identifier", "field 1 of jt.All has an invalid name" },
	{ FIELD_NUMBER_0, "field number 0", "field f_double of jt.All has no valid number" },
	{ SAME_NUMBER, "two fields with one number", "fields f_double and f_float of jt.All have the same number 1" },
	{ BAD_LABEL, "label 7", "field f_double of jt.All has an invalid label" },
	{ BAD_TYPE, "type 99", "field f_double of jt.All has an invalid type" },
	{ MESSAGE_IS_ENUM, "a message field naming an enum", "field inner of jt.All: jt.Color is not a message" },
	{ ENUM_IS_MESSAGE, "an enum field naming a message", "field color of jt.All: jt.Inner is not an enum" },
	{ NO_SUCH_ONEOF, "oneof index 9 of 2", "field f_double of jt.All is in oneof 9, which jt.All does not have" },
	{ OPTIONAL_WITHOUT_ONEOF, "proto3 optional without its oneof", "field f_double of jt.All is optional but in no oneof" },
	{ BAD_JSON_NAME, "a JSON name with a terminal escape", "field f_double of jt.All has an invalid JSON name" },
	{ SAME_JSON_NAME, "two fields with one JSON name", "fields f_double and f_float of jt.All are both called fDouble in JSON" },
	{ AT_JSON_NAME, "a JSON name the codec keeps for itself", "field f_double of jt.All has an invalid JSON name" },
	{ BAD_MAP_ENTRY, "a map entry keyed by double", "map entry jt.All.MStrEntry is not a key field 1 and a value field 2" },
	{ SINGLE_MAP, "a map entry type for a single field", "field m_str of jt.All is of map entry type jt.All.MStrEntry but not repeated" },
	{ REPEATED_IN_ONEOF, "a repeated oneof member", "field c_text of jt.All is repeated in a oneof" },
	{ EMPTY_ENUM, "an enum without values", "enum jt.Color has no values" },
	{ SAME_VALUE_NAME, "two enum values with one name", "enum jt.Color has two values called RED" },
	{ TYPE_TWICE, "two messages with one name", "jt.All is declared twice" },
	{ NO_MESSAGE_NAME, "a message without a name", "a message in jt has no name" },
	{ EDITIONS, "syntax editions", "syntax editions is neither proto2 nor proto3" },
	{ BAD_PACKAGE, "package jt..x", "the package name is not valid" },
	{ NO_FILE_NAME, "a file without a name", "file 5 of the set has no name" },
	{ UNKNOWN_TYPE, "a type described nowhere", "field inner of jt.All uses jt.Nope, which the schema does not describe" },
	{ BAD_TYPE_NAME, "a type name that is no name", "field inner of jt.All names an invalid type" },
	{ METHOD_OF_ENUM, "a method taking an enum", "method Get of jt.Svc takes or returns jt.Color, which is not a message" },
	{ SAME_METHOD, "two methods with one name", "service jt.Svc has two methods called Get" },
	{ BAD_ONEOF_NAME, "a oneof name that is no identifier", "oneof 1 of jt.All has an invalid name" },
	{ BAD_VALUE_NAME, "an enum value name that is no identifier", "value 2 of enum jt.Color has an invalid name" },
};

static void breakit(fds_t *set, enum breakage b)
{
	Google__Protobuf__FileDescriptorProto *file = jt_file(set);
	Google__Protobuf__EnumDescriptorProto *color = file->enum_type[0];
	Google__Protobuf__ServiceDescriptorProto *svc = file->service[0];
	msg_t *all = jt_msg(set, "All");
	field_t *f1 = jt_field(set, 1);

	switch (b) {
	case NO_FIELD_NAME: set_str(&f1->name, NULL); break;
	case BAD_FIELD_NAME: set_str(&f1->name, "f double"); break;
	case FIELD_NUMBER_0: f1->number = 0; break;
	case SAME_NUMBER: jt_field(set, 2)->number = 1; break;
	case BAD_LABEL: f1->label = 7; break;
	case BAD_TYPE: f1->type = 99; break;
	case MESSAGE_IS_ENUM: set_str(&jt_field(set, 17)->type_name, ".jt.Color"); break;
	case ENUM_IS_MESSAGE: set_str(&jt_field(set, 16)->type_name, ".jt.Inner"); break;
	case NO_SUCH_ONEOF: f1->has_oneof_index = 1; f1->oneof_index = 9; break;
	case OPTIONAL_WITHOUT_ONEOF: f1->has_proto3_optional = f1->proto3_optional = 1; break;
	case BAD_JSON_NAME: set_str(&f1->json_name, "\x1b[31mred"); break;
	case SAME_JSON_NAME: set_str(&jt_field(set, 2)->json_name, "fDouble"); break;
	case AT_JSON_NAME: set_str(&f1->json_name, "@unknown"); break;
	case BAD_MAP_ENTRY: all->nested_type[0]->field[0]->type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE; break;
	case SINGLE_MAP: jt_field(set, 21)->label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_OPTIONAL; break;
	case REPEATED_IN_ONEOF: jt_field(set, 23)->label = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED; break;
	case EMPTY_ENUM:
		for (size_t i = 0; i < color->n_value; i++)
			google__protobuf__enum_value_descriptor_proto__free_unpacked(color->value[i], NULL);
		color->n_value = 0;
		break;
	case SAME_VALUE_NAME: set_str(&color->value[2]->name, "RED"); break;
	case TYPE_TWICE: set_str(&jt_msg(set, "Inner")->name, "All"); break;
	case NO_MESSAGE_NAME: set_str(&jt_msg(set, "Inner")->name, NULL); break;
	case EDITIONS: set_str(&file->syntax, "editions"); break;
	case BAD_PACKAGE: set_str(&file->package, "jt..x"); break;
	case NO_FILE_NAME: set_str(&file->name, NULL); break;
	case UNKNOWN_TYPE: set_str(&jt_field(set, 17)->type_name, ".jt.Nope"); break;
	case BAD_TYPE_NAME: set_str(&jt_field(set, 17)->type_name, ".jt Inner!"); break;
	case METHOD_OF_ENUM: set_str(&svc->method[0]->input_type, ".jt.Color"); break;
	case SAME_METHOD: set_str(&svc->method[1]->name, "Get"); break;
	case BAD_ONEOF_NAME: set_str(&all->oneof_decl[0]->name, "1choice"); break;
	case BAD_VALUE_NAME: set_str(&color->value[1]->name, "R-E-D"); break;
	}
}

/* json-test.proto's set with one rule broken, added to an empty schema. */
static int add_broken(enum breakage b, bus_error_t *err)
{
	fds_t *set = google__protobuf__file_descriptor_set__unpack(NULL, json_test_fds_len, json_test_fds);
	bus_schema_t *s = NULL;
	int r = -1;

	bus_error_clear(err);
	if (!set || bus_schema_new(&s) < 0)
		goto out;
	breakit(set, b);
	size_t len = google__protobuf__file_descriptor_set__get_packed_size(set);
	uint8_t *bytes = malloc(len);
	if (bytes) {
		google__protobuf__file_descriptor_set__pack(set, bytes);
		r = bus_schema_add(s, bytes, len, err);
		if (r == 0 && bus_schema_has_type(s, "jt.All"))
			diag("accepted: jt.All is in the schema");
	}
	free(bytes);
out:
	bus_schema_free(s);
	if (set)
		google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
	return r;
}

/* jt.All's inner (17) as a proto2 group: such a schema loads, but the
 * codec neither reads nor writes groups, and says so. */
static void test_group(void)
{
	fds_t *set = google__protobuf__file_descriptor_set__unpack(NULL, json_test_fds_len, json_test_fds);
	bus_schema_t *s = NULL;
	bus_error_t err;
	char *json = NULL;
	void *out = NULL;
	size_t len;

	jt_field(set, 17)->type = GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP;
	len = google__protobuf__file_descriptor_set__get_packed_size(set);
	uint8_t *bytes = malloc(len);
	google__protobuf__file_descriptor_set__pack(set, bytes);
	ok(bus_schema_new(&s) == 0 && bus_schema_add(s, bytes, len, &err) == 0,
	   "a schema with a group field loads");
	static const uint8_t as_varint[] = { 0x88, 0x01, 0x01 }, as_bytes[] = { 0x8a, 0x01, 0x00 };
	ok(bus_json_decode(s, "jt.All", as_varint, sizeof(as_varint), 0, &json, &err) < 0 &&
	   bus_json_decode(s, "jt.All", as_bytes, sizeof(as_bytes), 0, &json, &err) < 0 && !json &&
	   strstr(err.message, "at .inner: field 17: truncated or of the wrong wire type"),
	   "  a value of it is refused, not dropped (%s)", err.message);
	ok(bus_json_decode(s, "jt.All", "", 0, BUS_JSON_DEFAULTS, &json, &err) == 0 && json &&
	   !strstr(json, "inner"), "  and it has no default to show");
	ok(bus_json_encode(s, "jt.All", "{\"inner\": {}}", &out, &len, &err) < 0 && !out &&
	   strstr(err.message, "field inner is a group, which the codec does not encode"),
	   "  nor is it encoded (%s)", err.message);
	free(json);
	free(bytes);
	bus_schema_free(s);
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}

static void test_broken_sets(void)
{
	bus_error_t err;

	for (size_t i = 0; i < sizeof(breakages) / sizeof(breakages[0]); i++) {
		int r = add_broken(breakages[i].b, &err);
		ok(r == -22 && strcmp(err.name, BUS_ERROR_INVALID_ARGS) == 0 &&
		   strstr(err.message, breakages[i].needle),
		   "refused: %s (%s)", breakages[i].what, err.message);
	}
}

/* A hostile set (made by hostile-fds.c, freed here) added to a schema of
 * its own; err says why it was refused. */
static bus_schema_t *hostile(uint8_t *set, const size_t *len, int *r, bus_error_t *err)
{
	bus_schema_t *s = NULL;

	bus_error_clear(err);
	*r = set && bus_schema_new(&s) == 0 ? bus_schema_add(s, set, *len, err) : -12;
	free(set);
	return s;
}

static void test_hostile_sets(void)
{
	bus_error_t err;
	size_t len;
	int r;

	bus_schema_t *s = hostile(hostile_deep(100000, &len), &len, &r, &err);
	ok(r == -22 && strstr(err.message, "the set nests messages more than 32 deep"),
	   "types nested 100,000 deep are refused before unpacking (overflowed the stack): %s",
	   err.message);
	bus_schema_free(s);
	s = hostile(hostile_deep(29, &len), &len, &r, &err);
	ok(r == 0 && bus_schema_has_type(s, "d.D.D.D.D.D"), "types nested 29 deep (32 levels of "
	   "encoding) are fine %s", err.message);
	bus_schema_free(s);
	s = hostile(hostile_deep(30, &len), &len, &r, &err);
	ok(r == -22, "  one more level is refused");
	bus_schema_free(s);

	s = hostile(hostile_bloat(3000000, &len), &len, &r, &err);
	ok(r == -22 && strstr(err.message, "unpacking the set would take more than 64 MiB"),
	   "3,000,000 empty fields (6 MB that unpack to gigabytes) are refused: %s", err.message);
	bus_schema_free(s);

	len = (16u << 20) + 1;
	s = hostile(calloc(1, len), &len, &r, &err);
	ok(r == -22 && strstr(err.message, "the set has 16777217 bytes, more than 16777216"),
	   "a set above 16 MiB is refused: %s", err.message);
	bus_schema_free(s);

	s = hostile(hostile_nameless(&len), &len, &r, &err);
	ok(r == -22 && strstr(err.message, "field 1 of h.M has no name"),
	   "a field without a name is refused (crashed the encoder): %s", err.message);
	void *out = NULL;
	ok(bus_json_encode(s, "h.M", "{\"x\": 1}", &out, &len, &err) < 0 && !out,
	   "  so nothing encodes against it");
	bus_schema_free(s);

	s = hostile(hostile_chain(60000, &len), &len, &r, &err);
	ok(r == 0, "a chain of 60,000 types loads %s", err.message);
	const char *svc, *in, *outt;
	ok(bus_schema_method(s, NULL, "Get", &svc, &in, &outt) == 0 && strcmp(in, "c.M0") == 0,
	   "  its method is found");
	char *text = NULL;
	ok(bus_schema_render(s, "c.Chain", &text) == 0 && text &&
	   strstr(text, "rpc Get(c.M0) returns (c.M0);") &&
	   strstr(text, "message c.M59998 {\n  c.M59999 next = 1;\n}") &&
	   strstr(text, "message c.M59999 {\n  int32 value = 1;\n}"),
	   "  and renders with all its types, the last one last (took a minute, now linear)");
	free(text);
	/* 100 levels of next = 1 in a body, each length a two-byte varint */
	uint8_t chain_body[300];
	for (int i = 0; i < 100; i++) {
		unsigned rest = 3 * (99 - (unsigned)i);
		chain_body[3 * i] = 0x0a;
		chain_body[3 * i + 1] = (uint8_t)(0x80 | (rest & 0x7f));
		chain_body[3 * i + 2] = (uint8_t)(rest >> 7);
	}
	char *json = NULL;
	ok(bus_json_decode(s, "c.M0", chain_body, sizeof(chain_body), 0, &json, &err) < 0 && !json &&
	   strstr(err.message, "messages nested deeper than 64"),
	   "  a body 100 deep along it stops at the codec's depth: %s", err.message);
	bus_schema_free(s);

	/* w.W: 1,000 int32 fields and a repeated W; 1,000 empty Ws in a body. */
	s = hostile(hostile_wide(1000, &len), &len, &r, &err);
	uint8_t body[3000];
	for (size_t i = 0; i < 1000; i++) {
		body[3 * i] = (uint8_t)((1001 << 3 | 2) & 0x7f) | 0x80;
		body[3 * i + 1] = (uint8_t)((1001 << 3 | 2) >> 7);
		body[3 * i + 2] = 0;
	}
	json = NULL;
	ok(r == 0 && bus_json_decode(s, "w.W", body, sizeof(body), 0, &json, &err) == 0,
	   "1,000 empty messages of 1,000 fields decode");
	free(json);
	json = NULL;
	ok(bus_json_decode(s, "w.W", body, sizeof(body), BUS_JSON_DEFAULTS, &json, &err) < 0 && !json &&
	   strstr(err.message, "too many values"),
	   "  but not with every default shown: a million values from 3 kB (%s)", err.message);
	bus_schema_free(s);
}

int main(void)
{
	bus_error_t err;

	plan(175);
	if (bus_schema_new(&S) < 0 || bus_schema_add(S, json_test_fds, json_test_fds_len, &err) < 0) {
		printf("Bail out! cannot load tests/json-test.proto's schema\n");
		return 1;
	}
	test_schema();
	test_wire_bytes();
	test_round_trips();
	test_wire_decode();
	test_errors();
	test_broken_sets();
	test_group();
	test_hostile_sets();
	bus_schema_free(S);
	return tap_done();
}
