/* test-json.c - libbus's schema index and JSON codec (bus/schema.h) against
 * tests/json-test.proto: exact wire bytes for known encodings, round trips
 * for every scalar type and their extremes, nested, repeated, packed and
 * unpacked, maps, oneofs, enums, optional, unknown fields, Timestamp,
 * Duration, Empty, and errors that name the JSON path. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <bus/schema.h>
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
	is_int(bus_schema_method(S, NULL, "X", &svc, &in, &out), -2, "no services: -ENOENT");
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

int main(void)
{
	bus_error_t err;

	if (bus_schema_new(&S) < 0 || bus_schema_add(S, json_test_fds, json_test_fds_len, &err) < 0) {
		printf("Bail out! cannot load tests/json-test.proto's schema\n");
		return 1;
	}
	test_schema();
	test_wire_bytes();
	test_round_trips();
	test_wire_decode();
	test_errors();
	bus_schema_free(S);
	return tap_done();
}
