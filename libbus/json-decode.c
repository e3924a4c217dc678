/* json-decode.c - protobuf wire bytes of any message a schema describes to
 * JSON text, following the proto3 JSON mapping, with json-c building the
 * JSON. Errors name the JSON path of the problem. */
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

static json_object *decode_message(struct ctx *c, const struct schema_msg *m, const uint8_t *p,
				   size_t len, int *bad);

static json_object *json_u64(uint64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRIu64, v);
	return json_object_new_string(s);
}

static json_object *json_i64(int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_object_new_string(s);
}

/* The shortest text that reads back as the same value (as the float it
 * was, for float fields): 35.104, not 35.103999999999999. */
static json_object *json_float(double v, int is_float)
{
	char s[40];

	if (isnan(v))
		return json_object_new_string("NaN");
	if (isinf(v))
		return json_object_new_string(v > 0 ? "Infinity" : "-Infinity");
	if (v == 0 && signbit(v)) /* "-0" would read back as the integer 0 */
		return json_object_new_double_s(v, "-0.0");
	for (int digits = is_float ? 6 : 15; digits <= 17; digits++) {
		snprintf(s, sizeof(s), "%.*g", digits, v);
		double back = strtod(s, NULL);
		if (is_float ? (float)back == (float)v : back == v)
			break;
	}
	return json_object_new_double_s(v, s);
}

static json_object *enum_json(const struct schema_field *f, int32_t v)
{
	const struct schema_value *name = schema_value_by_number(f->en, v);
	return name ? json_object_new_string(name->name) : json_object_new_int(v);
}

static json_object *scalar_json(const struct schema_field *f, uint64_t raw)
{
	union { uint64_t u; double d; } d64 = { raw };
	union { uint32_t u; float f; } d32 = { (uint32_t)raw };

	switch (f->type) {
	case FIELD(DOUBLE): return json_float(d64.d, 0);
	case FIELD(FLOAT): return json_float(d32.f, 1);
	case FIELD(INT64): case FIELD(SFIXED64): return json_i64((int64_t)raw);
	case FIELD(UINT64): case FIELD(FIXED64): return json_u64(raw);
	case FIELD(SINT64): return json_i64((int64_t)(raw >> 1) ^ -(int64_t)(raw & 1));
	case FIELD(INT32): case FIELD(SFIXED32): return json_object_new_int((int32_t)raw);
	case FIELD(SINT32): {
		uint32_t u = (uint32_t)raw;
		return json_object_new_int((int32_t)(u >> 1) ^ -(int32_t)(u & 1));
	}
	case FIELD(UINT32): case FIELD(FIXED32): return json_object_new_int64((uint32_t)raw);
	case FIELD(BOOL): return json_object_new_boolean(raw != 0);
	case FIELD(ENUM): return enum_json(f, (int32_t)raw);
	default: return NULL;
	}
}



/* The JSON value of one length-delimited field (string, bytes, message). */
static json_object *len_json(struct ctx *c, const struct schema_field *f, const uint8_t *p,
			     size_t n, int *bad)
{
	if (f->type == FIELD(STRING)) {
		if (!text_utf8_valid(p, n)) {
			*bad = fail(c, "field %s is not valid UTF-8", f->name);
			return NULL;
		}
		return json_object_new_string_len((const char *)p, (int)n);
	}
	if (f->type == FIELD(BYTES)) {
		char *enc = text_base64(p, n);
		json_object *o = enc ? json_object_new_string(enc) : NULL;
		free(enc);
		return o;
	}
	return decode_message(c, f->msg, p, n, bad);
}

/* Timestamp and Duration have string forms; Empty is {}. Values those
 * forms cannot carry (nanos out of range, years past 9999) are refused. */
static json_object *wkt_json(struct ctx *c, const struct schema_msg *m, json_object *o, int *bad)
{
	int ts = is_wkt(m, "google.protobuf.Timestamp"), du = is_wkt(m, "google.protobuf.Duration");
	if (!ts && !du)
		return o;
	json_object *js = NULL, *jn = NULL;
	json_object_object_get_ex(o, "seconds", &js);
	json_object_object_get_ex(o, "nanos", &jn);
	int64_t secs = js ? strtoll(json_object_get_string(js), NULL, 10) : 0;
	int32_t nanos = jn ? json_object_get_int(jn) : 0;
	/* RFC 3339 years 0001-9999; Duration within +-10,000 years, nanos
	 * of the seconds' sign. */
	if (ts ? (nanos < 0 || nanos > 999999999 || secs < -62135596800LL || secs > 253402300799LL)
	       : (nanos < -999999999 || nanos > 999999999 || secs < -315576000000LL ||
		  secs > 315576000000LL || (secs > 0 && nanos < 0) || (secs < 0 && nanos > 0))) {
		json_object_put(o);
		*bad = fail(c, "seconds %" PRId64 " and nanos %d are not a valid %s", secs, nanos,
			    m->name);
		return NULL;
	}
	char s[64], frac[16] = "";
	if (nanos)
		snprintf(frac, sizeof(frac), ".%09d", nanos < 0 ? -nanos : nanos);
	for (size_t n = strlen(frac); n > 4 && strcmp(frac + n - 3, "000") == 0; n -= 3)
		frac[n - 3] = '\0'; /* 0, 3, 6 or 9 digits */
	if (ts) {
		time_t t = (time_t)secs;
		struct tm tm;
		if (!gmtime_r(&t, &tm)) {
			json_object_put(o);
			*bad = fail(c, "seconds %" PRId64 " are not a valid Timestamp", secs);
			return NULL;
		}
		snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	} else {
		int neg = secs < 0 || nanos < 0;
		uint64_t abs_secs = secs < 0 ? (uint64_t)(-(secs + 1)) + 1 : (uint64_t)secs;
		snprintf(s, sizeof(s), "%s%" PRIu64 "%ss", neg ? "-" : "", abs_secs, frac);
	}
	json_object_put(o);
	return json_object_new_string(s);
}

/* Spend n of the values the decoder may still create; 0 when there were
 * not that many left (the error is set). */
static int spend(struct ctx *c, size_t n, int *bad)
{
	if (c->budget >= n) {
		c->budget -= n;
		return 1;
	}
	*bad = fail(c, "the JSON would have too many values for a body of this size");
	return 0;
}

static int add_defaults(struct ctx *c, const struct schema_msg *m, json_object *o, int *bad)
{
	for (size_t i = 0; i < m->n_fields; i++) {
		const struct schema_field *f = &m->fields[i];
		const char *key = json_key(c, f);
		if (json_object_object_get_ex(o, key, NULL) || f->oneof >= 0 || f->optional)
			continue;
		if (!f->repeated && (f->type == FIELD(MESSAGE) || f->type == FIELD(GROUP)))
			continue; /* absent message: no default to show */
		if (!spend(c, 1, bad))
			return -1;
		json_object *v;
		if (f->repeated)
			v = f->msg && f->msg->map_entry ? json_object_new_object() : json_object_new_array();
		else if (f->type == FIELD(STRING) || f->type == FIELD(BYTES))
			v = json_object_new_string("");
		else
			v = scalar_json(f, 0);
		json_object_object_add(o, key, v);
	}
	return 0;
}

/* The key of a map entry, as JSON object keys are: a string. */
static char *map_key(json_object *k)
{
	if (!k)
		return strdup("");
	if (json_object_is_type(k, json_type_boolean))
		return strdup(json_object_get_boolean(k) ? "true" : "false");
	return strdup(json_object_get_string(k));
}

static int add_value(struct ctx *c, json_object *o, const struct schema_field *f, const char *key,
		     json_object *v)
{
	if (!v)
		return -1;
	if (!f->repeated) {
		json_object_object_add(o, key, v);
		return 0;
	}
	const struct schema_msg *entry = f->msg && f->msg->map_entry ? f->msg : NULL;
	json_object *col;
	if (!json_object_object_get_ex(o, key, &col)) {
		col = entry ? json_object_new_object() : json_object_new_array();
		json_object_object_add(o, key, col);
	}
	if (!entry) {
		json_object_array_add(col, v);
		return 0;
	}
	/* A map entry (checked on loading): key field 1, value field 2. */
	const struct schema_field *kf = &entry->fields[0], *vf = &entry->fields[1];
	json_object *k = NULL, *val = NULL;
	json_object_object_get_ex(v, json_key(c, kf), &k);
	json_object_object_get_ex(v, json_key(c, vf), &val);
	/* A key at its default may be left out of the entry: "", 0 or false */
	json_object *kdef = !k && kf->type != FIELD(STRING) ? scalar_json(kf, 0) : NULL;
	char *ks = map_key(k ? k : kdef);
	json_object_put(kdef);
	if (!ks) {
		json_object_put(v);
		return -1;
	}
	json_object *value = val ? json_object_get(val) : NULL;
	if (!value)
		value = vf->type == FIELD(STRING) || vf->type == FIELD(BYTES)
			? json_object_new_string("")
			: vf->type == FIELD(MESSAGE) ? json_object_new_object() : scalar_json(vf, 0);
	json_object_object_add(col, ks, value);
	free(ks);
	json_object_put(v);
	return 0;
}

/* The last member of a oneof on the wire wins: forget the one seen before. */
static void oneof_member(struct ctx *c, const struct schema_field **set,
			 const struct schema_field *f, json_object *o)
{
	if (set[f->oneof] && set[f->oneof] != f)
		json_object_object_del(o, json_key(c, set[f->oneof]));
	set[f->oneof] = f;
}

static json_object *decode_message(struct ctx *c, const struct schema_msg *m, const uint8_t *p,
				   size_t len, int *bad)
{
	const uint8_t *end = p + len;
	json_object *o = NULL;
	struct buf unknown = { 0 };
	struct oneofs oneofs;
	const struct schema_field **oneof_set = oneofs_init(&oneofs, m);

	if (++c->depth > MAX_DEPTH) {
		*bad = fail(c, "messages nested deeper than %d", MAX_DEPTH);
		goto err;
	}
	if (!oneof_set || !spend(c, 1, bad) || !(o = json_object_new_object()))
		goto err;
	while (p < end) {
		const uint8_t *start = p;
		uint64_t key;
		if (get_varint(&p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
			*bad = fail(c, "malformed field key in %s", m->name);
			goto err;
		}
		int wt = (int)(key & 7);
		const struct schema_field *f = schema_field_by_number(m, key >> 3);
		if (!f) {
			if (skip_value(&p, end, wt) < 0 || buf_put(&unknown, start, (size_t)(p - start)) < 0) {
				*bad = fail(c, "truncated field %" PRIu64 " in %s", key >> 3, m->name);
				goto err;
			}
			continue;
		}
		const char *jk = json_key(c, f);
		if (!spend(c, 1, bad))
			goto err;
		if (f->oneof >= 0)
			oneof_member(c, oneof_set, f, o);
		size_t was = path_push(c, ".%s", jk);
		if (wt == WIRE_WT_LEN && f->repeated && is_packable(f)) {
			uint64_t n;
			if (get_varint(&p, end, &n) < 0 || n > (uint64_t)(end - p)) {
				*bad = fail(c, "truncated packed field %d", f->number);
				goto err;
			}
			const uint8_t *q = p, *qend = p + n;
			p = qend;
			while (q < qend) {
				uint64_t raw;
				if (read_scalar(&q, qend, wire_type_of(f), &raw) < 0) {
					*bad = fail(c, "truncated packed field %d", f->number);
					goto err;
				}
				if (!spend(c, 1, bad))
					goto err;
				add_value(c, o, f, jk, scalar_json(f, raw));
			}
		} else if (wt == WIRE_WT_LEN) {
			uint64_t n;
			if (wire_type_of(f) != WIRE_WT_LEN || get_varint(&p, end, &n) < 0 ||
			    n > (uint64_t)(end - p)) {
				*bad = fail(c, "field %d: truncated or of the wrong wire type", f->number);
				goto err;
			}
			if (n == 0 && implicit_presence(m, f)) {
				/* "" is the default: as if the field were not there */
				json_object_object_del(o, jk);
				path_pop(c, was);
				continue;
			}
			json_object *v = len_json(c, f, p, (size_t)n, bad);
			if (*bad) {
				json_object_put(v);
				goto err;
			}
			p += n;
			if (add_value(c, o, f, jk, v) < 0) {
				*bad = fail(c, "out of memory");
				goto err;
			}
		} else {
			uint64_t raw;
			if (wt != wire_type_of(f) || read_scalar(&p, end, wt, &raw) < 0) {
				*bad = fail(c, "field %d: truncated or of the wrong wire type", f->number);
				goto err;
			}
			/* Zero of a 32-bit type may come as a 64-bit varint: compare
			 * what the type keeps. */
			uint64_t kept = wt == WIRE_WT_I32 || f->type == FIELD(INT32) || f->type == FIELD(UINT32) ||
					f->type == FIELD(SINT32) || f->type == FIELD(ENUM) || f->type == FIELD(BOOL)
					? (f->type == FIELD(BOOL) ? raw != 0 : (uint32_t)raw) : raw;
			if (kept == 0 && implicit_presence(m, f))
				json_object_object_del(o, jk);
			else
				add_value(c, o, f, jk, scalar_json(f, raw));
		}
		path_pop(c, was);
	}
	if ((c->flags & BUS_JSON_DEFAULTS) && add_defaults(c, m, o, bad) < 0)
		goto err;
	if (is_bus_fd(m) && !json_object_object_get_ex(o, json_key(c, &m->fields[0]), NULL))
		json_object_object_add(o, json_key(c, &m->fields[0]), json_object_new_int(0));
	if (unknown.len) {
		char *enc = text_base64(unknown.p, unknown.len);
		if (enc)
			json_object_object_add(o, UNKNOWN_KEY, json_object_new_string(enc));
		free(enc);
	}
	free(unknown.p);
	oneofs_done(&oneofs);
	c->depth--;
	return wkt_json(c, m, o, bad);
err:
	free(unknown.p);
	oneofs_done(&oneofs);
	json_object_put(o);
	c->depth--;
	if (!*bad)
		*bad = fail(c, "out of memory");
	return NULL;
}

/* json-c's pretty printer opens an empty object or array on one line and
 * closes it on the next ("{" newline "}"): make it "{}" and "[]". A
 * newline in the text is always layout (strings carry "\n" escaped), so
 * a bracket followed by one cannot be inside a string. */
static void close_empty(char *s)
{
	char *w = s;

	for (const char *r = s; *r;) {
		if ((*r == '{' || *r == '[') && r[1] == '\n') {
			const char *t = r + 1;
			while (*t == '\n' || *t == ' ')
				t++;
			if (*t == (*r == '{' ? '}' : ']')) {
				*w++ = *r;
				*w++ = *t;
				r = t + 1;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
}

int bus_json_decode(const bus_schema_t *s, const char *type, const void *buf, size_t len,
		    unsigned flags, char **json, bus_error_t *err)
{
	/* Each value costs at least a byte of the body, but for the defaults
	 * BUS_JSON_DEFAULTS adds: a bound on those, so that a body of empty
	 * messages with many fields cannot make a JSON text many times larger. */
	struct ctx c = { s, flags, err, "", 0, 4 * len + 65536 };
	int bad = 0;

	*json = NULL;
	const struct schema_msg *m = s && type ? schema_find_msg(s, type) : NULL;
	if (!m)
		return fail(&c, "no message type %s in the schema", type ? type : "(none)");
	if (!buf && len)
		return fail(&c, "no bytes for a body of %zu", len);
	json_object *o = decode_message(&c, m, buf ? buf : (const void *)"", len, &bad);
	if (!o)
		return bad;
	const char *text = json_object_to_json_string_ext(
		o, (flags & BUS_JSON_PRETTY) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
					     : JSON_C_TO_STRING_PLAIN);
	*json = text ? strdup(text) : NULL;
	if (*json && (flags & BUS_JSON_PRETTY))
		close_empty(*json);
	json_object_put(o);
	return *json ? 0 : fail(&c, "out of memory");
}
