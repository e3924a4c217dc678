/* json-encode.c - JSON text to the protobuf wire bytes of any message a
 * schema describes, following the proto3 JSON mapping (json-c parses the
 * JSON). Errors name the JSON path of the problem. */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "json-internal.h"
#include "text.h"

/* Raw bytes that are whole unknown fields of m: keys with a field number m
 * does not have and a usable wire type, each followed by a complete value. */
static int fields_valid(const struct schema_msg *m, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t key;

	while (p < end)
		if (get_varint(&p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff ||
		    schema_field_by_number(m, key >> 3) || skip_value(&p, end, (int)(key & 7)) < 0)
			return 0;
	return 1;
}

static int encode_message(struct ctx *c, const struct schema_msg *m, json_object *o,
			  struct buf *out);

/* Integers: JSON numbers (integral) or decimal strings, range-checked. */
static int json_int(struct ctx *c, json_object *v, int is_signed, int64_t min, uint64_t max,
		    uint64_t *raw)
{
	const char *text;
	char tmp[64];

	if (json_object_is_type(v, json_type_string)) {
		text = json_object_get_string(v);
	} else if (json_object_is_type(v, json_type_int)) {
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
	} else if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (d != floor(d) || fabs(d) > 9.007199254740992e15)
			return fail(c, "expected an integer, got %s",
				    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		snprintf(tmp, sizeof(tmp), "%.0f", d);
		text = tmp;
	} else {
		return fail(c, "expected an integer, got %s",
			    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
	char *end;
	const char *digits = text + (*text == '-' || *text == '+');
	if (*digits < '0' || *digits > '9' || strspn(digits, "0123456789") != strlen(digits))
		return fail(c, "expected an integer, got \"%s\"", text);
	errno = 0;
	if (is_signed) {
		long long x = strtoll(text, &end, 10);
		if (errno || x < min || (x > 0 && (uint64_t)x > max))
			goto range;
		*raw = (uint64_t)x;
	} else {
		if (*text == '-' && strspn(digits, "0") != strlen(digits))
			goto range;
		unsigned long long x = strtoull(digits, &end, 10);
		if (errno || x > max)
			goto range;
		*raw = x;
	}
	return 0;
range:
	return fail(c, "%s is out of range (%" PRId64 " to %" PRIu64 ")", text, is_signed ? min : 0,
		    max);
}

static int json_floatval(struct ctx *c, json_object *v, double *d)
{
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end;
		if (strcmp(s, "NaN") == 0) {
			*d = NAN;
		} else if (strcmp(s, "Infinity") == 0) {
			*d = INFINITY;
		} else if (strcmp(s, "-Infinity") == 0) {
			*d = -INFINITY;
		} else {
			*d = strtod(s, &end);
			if (end == s || *end)
				return fail(c, "expected a number, got \"%s\"", s);
		}
		return 0;
	}
	if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
		return fail(c, "expected a number, got %s",
			    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	*d = json_object_get_double(v);
	return 0;
}

static int enum_value(struct ctx *c, const struct schema_field *f, json_object *v, uint64_t *raw)
{
	if (json_object_is_type(v, json_type_string)) {
		const char *name = json_object_get_string(v);
		const struct schema_value *value = schema_value_by_name(f->en, name);
		if (!value)
			return fail(c, "\"%s\" is not a value of %s", name, f->en->name);
		*raw = (uint64_t)(int64_t)value->number;
		return 0;
	}
	return json_int(c, v, 1, INT32_MIN, INT32_MAX, raw);
}


/* One non-repeated value of f into out (tag included unless packed); with
 * skip_default, nothing at all when the value is the default. */
static int encode_value(struct ctx *c, const struct schema_field *f, json_object *v,
			struct buf *out, int tagged, int skip_default)
{
	uint64_t raw = 0;
	double d;
	int r = 0, wt = wire_type_of(f);

	switch (f->type) {
	case FIELD(INT32): case FIELD(SFIXED32): case FIELD(SINT32):
		r = json_int(c, v, 1, INT32_MIN, INT32_MAX, &raw);
		if (f->type == FIELD(SINT32)) /* zigzag, on unsigned: no signed shift */
			raw = (uint32_t)((uint32_t)raw << 1) ^ (uint32_t)-(int32_t)((uint32_t)raw >> 31);
		else if (f->type == FIELD(SFIXED32))
			raw = (uint32_t)raw;
		break;
	case FIELD(INT64): case FIELD(SFIXED64): case FIELD(SINT64):
		r = json_int(c, v, 1, INT64_MIN, INT64_MAX, &raw);
		if (f->type == FIELD(SINT64))
			raw = ((uint64_t)raw << 1) ^ (uint64_t)((int64_t)raw >> 63);
		break;
	case FIELD(UINT32): case FIELD(FIXED32):
		r = json_int(c, v, 0, 0, UINT32_MAX, &raw);
		break;
	case FIELD(UINT64): case FIELD(FIXED64):
		r = json_int(c, v, 0, 0, UINT64_MAX, &raw);
		break;
	case FIELD(BOOL):
		if (!json_object_is_type(v, json_type_boolean))
			return fail(c, "expected true or false, got %s",
				    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		raw = json_object_get_boolean(v) ? 1 : 0;
		break;
	case FIELD(ENUM):
		r = enum_value(c, f, v, &raw);
		break;
	case FIELD(DOUBLE): {
		r = json_floatval(c, v, &d);
		union { double d; uint64_t u; } x = { d };
		raw = x.u;
		break;
	}
	case FIELD(FLOAT): {
		r = json_floatval(c, v, &d);
		/* Up to half a step above FLT_MAX rounds to FLT_MAX (its shortest
		 * text, 3.4028235e+38, is such a value); beyond that, out of range. */
		if (r == 0 && isfinite(d) && fabs(d) >= 3.4028235677973366e38)
			return fail(c, "%g is out of range for float", d);
		if (r == 0 && isfinite(d) && fabs(d) > FLT_MAX)
			d = d > 0 ? FLT_MAX : -FLT_MAX;
		union { float f; uint32_t u; } x = { (float)d };
		raw = x.u;
		break;
	}
	case FIELD(STRING): case FIELD(BYTES): case FIELD(MESSAGE): {
		struct buf sub = { 0 };
		if (f->type == FIELD(STRING)) {
			if (!json_object_is_type(v, json_type_string))
				return fail(c, "expected a string, got %s",
					    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			const char *s = json_object_get_string(v);
			size_t n = (size_t)json_object_get_string_len(v);
			if (!text_utf8_valid((const uint8_t *)s, n))
				return fail(c, "the string is not valid UTF-8");
			r = buf_put(&sub, s, n);
		} else if (f->type == FIELD(BYTES)) {
			if (!json_object_is_type(v, json_type_string))
				return fail(c, "expected base64 bytes, got %s",
					    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			const char *s = json_object_get_string(v);
			uint8_t *bytes = malloc(strlen(s) * 3 / 4 + 3);
			long n = bytes ? text_unbase64(s, bytes) : -1;
			if (n < 0) {
				free(bytes);
				return fail(c, "\"%.40s\" is not base64", s);
			}
			r = buf_put(&sub, bytes, (size_t)n);
			free(bytes);
		} else {
			r = encode_message(c, f->msg, v, &sub);
		}
		if (r == 0 && !(skip_default && sub.len == 0 && f->type != FIELD(MESSAGE)))
			r = put_tag(out, f->number, WIRE_WT_LEN) || put_varint(out, sub.len) ||
			    buf_put(out, sub.p, sub.len) ? -ENOMEM : 0;
		free(sub.p);
		return r;
	}
	default:
		return fail(c, "field %s is a group, which the codec does not encode", f->name);
	}
	if (r < 0)
		return r;
	if (skip_default && raw == 0)
		return 0;
	if (tagged && put_tag(out, f->number, wt) < 0)
		return -ENOMEM;
	if (wt == WIRE_WT_VARINT)
		return put_varint(out, raw);
	return put_fixed(out, raw, wt == WIRE_WT_I64 ? 8 : 4);
}

/* A map's JSON object: one entry message per member. */
static int encode_map(struct ctx *c, const struct schema_field *f, const struct schema_msg *entry,
		      json_object *v, struct buf *out)
{
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "expected an object (a map)");
	/* A map entry (checked on loading): key field 1, value field 2. */
	const struct schema_field *kf = &entry->fields[0], *vf = &entry->fields[1];
	json_object_object_foreach(v, key, val)
	{
		struct buf e = { 0 };
		size_t was = path_push(c, "[\"%s\"]", key);
		json_object *k;
		if (kf->type == FIELD(STRING))
			k = json_object_new_string(key);
		else if (kf->type == FIELD(BOOL) && (strcmp(key, "true") == 0 || strcmp(key, "false") == 0))
			k = json_object_new_boolean(key[0] == 't');
		else
			k = json_object_new_string(key); /* integers: json_int reads strings */
		int r = encode_value(c, kf, k, &e, 1, 0);
		json_object_put(k);
		if (r == 0 && !json_object_is_type(val, json_type_null))
			r = encode_value(c, vf, val, &e, 1, 0);
		if (r == 0)
			r = put_tag(out, f->number, WIRE_WT_LEN) || put_varint(out, e.len) ||
			    buf_put(out, e.p, e.len) ? -ENOMEM : 0;
		free(e.p);
		if (r < 0)
			return r;
		path_pop(c, was);
	}
	return 0;
}

static int encode_field(struct ctx *c, const struct schema_msg *m, const struct schema_field *f,
			json_object *v, struct buf *out)
{
	if (!f->repeated)
		return encode_value(c, f, v, out, 1, implicit_presence(m, f));
	if (f->msg && f->msg->map_entry)
		return encode_map(c, f, f->msg, v, out);
	if (!json_object_is_type(v, json_type_array))
		return fail(c, "expected an array");
	size_t n = json_object_array_length(v);
	int packed = f->packed;
	struct buf pk = { 0 };
	for (size_t i = 0; i < n; i++) {
		size_t was = path_push(c, "[%zu]", i);
		int r = encode_value(c, f, json_object_array_get_idx(v, i), packed ? &pk : out, !packed,
				     0);
		if (r < 0) {
			free(pk.p);
			return r;
		}
		path_pop(c, was);
	}
	int r = 0;
	if (packed && n)
		r = put_tag(out, f->number, WIRE_WT_LEN) || put_varint(out, pk.len) ||
		    buf_put(out, pk.p, pk.len) ? -ENOMEM : 0;
	free(pk.p);
	return r;
}

/* Timestamp and Duration from their strings, as {"seconds","nanos"}. */
static json_object *wkt_parse(struct ctx *c, const struct schema_msg *m, json_object *v, int *r)
{
	int ts = is_wkt(m, "google.protobuf.Timestamp"), du = is_wkt(m, "google.protobuf.Duration");
	if ((!ts && !du) || !json_object_is_type(v, json_type_string))
		return NULL;
	const char *s = json_object_get_string(v), *p;
	int64_t secs = 0;
	int32_t nanos = 0;
	char *end;
	if (ts) {
		struct tm tm = { 0 };
		p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!p)
			goto bad;
		secs = (int64_t)timegm(&tm);
	} else {
		int neg = *s == '-';
		if (s[neg] < '0' || s[neg] > '9')
			goto bad;
		errno = 0;
		secs = strtoll(s + neg, &end, 10);
		if (errno || secs > 315576000000LL) /* the JSON mapping's +-10,000 years */
			goto bad;
		p = end;
		if (neg)
			secs = -secs;
	}
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				nanos = nanos * 10 + (*p - '0');
		if (!digits || digits > 9)
			goto bad;
		while (digits++ < 9)
			nanos *= 10;
		if (du && *s == '-')
			nanos = -nanos;
	}
	if (ts ? strcmp(p, "Z") != 0 : strcmp(p, "s") != 0)
		goto bad;
	if (ts && (secs < -62135596800LL || secs > 253402300799LL)) /* years 0001 to 9999 */
		goto bad;
	json_object *o = json_object_new_object();
	char num[24];
	snprintf(num, sizeof(num), "%" PRId64, secs);
	json_object_object_add(o, "seconds", json_object_new_string(num));
	json_object_object_add(o, "nanos", json_object_new_int(nanos));
	return o;
bad:
	*r = fail(c, "\"%s\" is not a %s", s,
		  ts ? "Timestamp (RFC 3339, e.g. 2026-11-25T10:00:00.5Z)" : "Duration (e.g. 1.5s)");
	return NULL;
}

static int encode_message(struct ctx *c, const struct schema_msg *m, json_object *o,
			  struct buf *out)
{
	int r = 0;
	json_object *conv = wkt_parse(c, m, o, &r);
	if (r < 0)
		return r;
	if (conv)
		o = conv;
	if (!json_object_is_type(o, json_type_object)) {
		r = fail(c, "expected an object (%s), got %s", m->name,
			 json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		goto out;
	}
	if (++c->depth > MAX_DEPTH) {
		r = fail(c, "objects nested deeper than %d", MAX_DEPTH);
		goto out;
	}
	struct oneofs oneofs;
	const struct schema_field **oneof_set = oneofs_init(&oneofs, m);
	if (!oneof_set) {
		r = -ENOMEM;
		c->depth--;
		goto out;
	}
	json_object_object_foreach(o, key, val)
	{
		size_t was = path_push(c, ".%s", key);
		if (strcmp(key, UNKNOWN_KEY) == 0) {
			const char *s = json_object_is_type(val, json_type_string)
						? json_object_get_string(val) : NULL;
			uint8_t *bytes = s ? malloc(strlen(s) * 3 / 4 + 3) : NULL;
			long n = bytes ? text_unbase64(s, bytes) : -1;
			r = n < 0 || !fields_valid(m, bytes, (size_t)n)
				    ? fail(c, "expected base64 of raw protobuf fields %s does not know",
					   m->name)
				    : buf_put(out, bytes, (size_t)n);
			free(bytes);
			if (r < 0)
				break;
			path_pop(c, was);
			continue;
		}
		const struct schema_field *f = schema_field_by_key(m, key);
		if (!f) {
			r = fail(c, "unknown field \"%s\" in %s", key, m->name);
			break;
		}
		if (json_object_is_type(val, json_type_null)) {
			path_pop(c, was);
			continue; /* null: the default */
		}
		if (f->oneof >= 0 && oneof_set[f->oneof]) {
			r = fail(c, "\"%s\" and \"%s\" are members of the same oneof",
				 oneof_set[f->oneof]->json, f->json);
			break;
		}
		if (f->oneof >= 0)
			oneof_set[f->oneof] = f;
		r = encode_field(c, m, f, val, out);
		if (r < 0)
			break;
		path_pop(c, was);
	}
	oneofs_done(&oneofs);
	c->depth--;
out:
	if (conv)
		json_object_put(conv);
	return r;
}

int bus_json_encode(const bus_schema_t *s, const char *type, const char *json, void **out,
		    size_t *out_len, bus_error_t *err)
{
	struct ctx c = { s, 0, err, "", 0, 0 };
	struct buf b = { 0 };

	*out = NULL;
	*out_len = 0;
	const struct schema_msg *m = s && type ? schema_find_msg(s, type) : NULL;
	if (!m)
		return fail(&c, "no message type %s in the schema", type ? type : "(none)");
	json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	if (!tok)
		return fail(&c, "out of memory");
	size_t len = strlen(json);
	json_object *o = json_tokener_parse_ex(tok, json, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t at = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || je != json_tokener_success) {
		json_object_put(o);
		return fail(&c, "malformed JSON: %s at offset %zu",
			    je == json_tokener_continue ? "unexpected end of input"
							: json_tokener_error_desc(je), at);
	}
	for (size_t i = at; i < len; i++)
		if (json[i] != ' ' && json[i] != '\n' && json[i] != '\t' && json[i] != '\r') {
			json_object_put(o);
			return fail(&c, "malformed JSON: text after the value at offset %zu", i);
		}
	int r = encode_message(&c, m, o, &b);
	json_object_put(o);
	if (r < 0) {
		free(b.p);
		return r == -ENOMEM ? fail(&c, "out of memory") : r;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}
