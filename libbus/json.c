/* json.c - the proto3 JSON mapping over a schema (schema.c): protobuf wire
 * bytes of any described message to JSON text and back, with json-c doing
 * the JSON. Errors name the JSON path of the problem. */
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

#include "schema-internal.h"

#define FIELD(t) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##t
#define REPEATED GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED
#define MAX_DEPTH 64
#define UNKNOWN_KEY "@unknown"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* The JSON path being worked on, for error messages. */
struct ctx {
	const bus_schema_t *s;
	unsigned flags;
	bus_error_t *err;
	char path[512];
	int depth;
};

static __attribute__((format(printf, 2, 3))) int fail(struct ctx *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bus_error_set(c->err, BUS_ERROR_INVALID_ARGS, "at %s: %s", c->path[0] ? c->path : ".", msg);
	return -EINVAL;
}

/* Append ".name" or "[i]" to the path; returns the old length to restore. */
static size_t path_push(struct ctx *c, const char *fmt, ...)
{
	size_t was = strlen(c->path);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->path + was, sizeof(c->path) - was, fmt, ap);
	va_end(ap);
	return was;
}

static void path_pop(struct ctx *c, size_t was)
{
	c->path[was] = '\0';
}

static int is_wkt(const struct schema_msg *m, const char *name)
{
	return strcmp(m->name, name) == 0;
}

/* ---------------------------------------------------------------- base64 */

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const uint8_t *p, size_t len)
{
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		*o++ = b64_tab[v >> 18 & 63];
		*o++ = b64_tab[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64_tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '+' || ch == '-') return 62; /* standard and URL-safe alphabets */
	if (ch == '/' || ch == '_') return 63;
	return -1;
}

/* Standard or URL-safe, padded or not; -1 on a bad character or length. */
static long b64_decode(const char *in, uint8_t *out)
{
	size_t n = strlen(in);
	unsigned acc = 0;
	int bits = 0;
	long o = 0;

	while (n && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

/* ---------------------------------------------------------------- output buffer */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static int buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		while (cap < b->len + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static int put_varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	return buf_put(b, tmp, n);
}

static int put_tag(struct buf *b, int number, int wt)
{
	return put_varint(b, (uint64_t)number << 3 | (unsigned)wt);
}

static int put_fixed(struct buf *b, uint64_t v, int bytes)
{
	uint8_t tmp[8];
	for (int i = 0; i < bytes; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	return buf_put(b, tmp, (size_t)bytes);
}

/* ---------------------------------------------------------------- wire reading */

static int get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int i = 0; i < 10 && *p < end; i++) {
		uint8_t byte = *(*p)++;
		r |= (uint64_t)(byte & 0x7f) << (7 * i);
		if (!(byte & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/* Skip one field's value; -1 when truncated or of an unusable wire type. */
static int skip_value(const uint8_t **p, const uint8_t *end, int wt)
{
	uint64_t v;
	switch (wt) {
	case WT_VARINT: return get_varint(p, end, &v);
	case WT_I64: if (end - *p < 8) return -1; *p += 8; return 0;
	case WT_I32: if (end - *p < 4) return -1; *p += 4; return 0;
	case WT_LEN:
		if (get_varint(p, end, &v) < 0 || v > (uint64_t)(end - *p))
			return -1;
		*p += v;
		return 0;
	default: return -1;
	}
}

static const field_desc *field_by_number(const msg_desc *d, uint64_t n);

/* Raw bytes that are whole unknown fields of d: keys with a field number d
 * does not have and a usable wire type, each followed by a complete value. */
static int fields_valid(const msg_desc *d, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t key;

	while (p < end)
		if (get_varint(&p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff ||
		    field_by_number(d, key >> 3) || skip_value(&p, end, (int)(key & 7)) < 0)
			return 0;
	return 1;
}

static const field_desc *field_by_number(const msg_desc *d, uint64_t n)
{
	for (size_t i = 0; i < d->n_field; i++)
		if ((uint64_t)d->field[i]->number == n)
			return d->field[i];
	return NULL;
}

static int is_packable(const field_desc *f)
{
	return f->type != FIELD(STRING) && f->type != FIELD(BYTES) && f->type != FIELD(MESSAGE) &&
	       f->type != FIELD(GROUP);
}

static int wire_type_of(const field_desc *f)
{
	switch (f->type) {
	case FIELD(DOUBLE): case FIELD(FIXED64): case FIELD(SFIXED64): return WT_I64;
	case FIELD(FLOAT): case FIELD(FIXED32): case FIELD(SFIXED32): return WT_I32;
	case FIELD(STRING): case FIELD(BYTES): case FIELD(MESSAGE): return WT_LEN;
	default: return WT_VARINT;
	}
}

/* ---------------------------------------------------------------- decode */

static int implicit_presence(const struct schema_msg *m, const field_desc *f);

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

static json_object *enum_json(struct ctx *c, const field_desc *f, int32_t v)
{
	const struct schema_enum *e = schema_find_enum(c->s, f->type_name);
	for (size_t i = 0; e && i < e->d->n_value; i++)
		if (e->d->value[i]->number == v)
			return json_object_new_string(e->d->value[i]->name);
	return json_object_new_int(v);
}

static json_object *scalar_json(struct ctx *c, const field_desc *f, uint64_t raw)
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
	case FIELD(ENUM): return enum_json(c, f, (int32_t)raw);
	default: return NULL;
	}
}

/* Read one scalar of f's type in wire type wt. */
static int read_scalar(const uint8_t **p, const uint8_t *end, int wt, uint64_t *raw)
{
	if (wt == WT_VARINT)
		return get_varint(p, end, raw);
	int n = wt == WT_I64 ? 8 : 4;
	if (end - *p < n)
		return -1;
	*raw = 0;
	for (int i = 0; i < n; i++)
		*raw |= (uint64_t)(*p)[i] << (8 * i);
	*p += n;
	return 0;
}

/* proto3 strings must be UTF-8: lead byte, then its continuation bytes. */
static int utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		size_t k;
		if (b < 0x80)
			k = 0;
		else if (b >= 0xc2 && b <= 0xdf)
			k = 1;
		else if ((b & 0xf0) == 0xe0)
			k = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3;
		else
			return 0;
		if (k > n - i - 1)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}

/* The JSON value of one length-delimited field (string, bytes, message). */
static json_object *len_json(struct ctx *c, const field_desc *f, const uint8_t *p, size_t n,
			     int *bad)
{
	if (f->type == FIELD(STRING)) {
		if (!utf8_valid(p, n)) {
			*bad = fail(c, "field %s is not valid UTF-8", f->name);
			return NULL;
		}
		return json_object_new_string_len((const char *)p, (int)n);
	}
	if (f->type == FIELD(BYTES)) {
		char *enc = b64_encode(p, n);
		json_object *o = enc ? json_object_new_string(enc) : NULL;
		free(enc);
		return o;
	}
	const struct schema_msg *sub = schema_find_msg(c->s, f->type_name);
	return sub ? decode_message(c, sub, p, n, bad) : NULL;
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

static void add_defaults(struct ctx *c, const struct schema_msg *m, json_object *o)
{
	char nb[256];
	for (size_t i = 0; i < m->d->n_field; i++) {
		const field_desc *f = m->d->field[i];
		const char *key = (c->flags & BUS_JSON_ORIGINAL_NAMES) ? f->name
								      : schema_json_name(f, nb, sizeof(nb));
		if (json_object_object_get_ex(o, key, NULL) || f->has_oneof_index)
			continue;
		json_object *v;
		const struct schema_msg *sub = f->type == FIELD(MESSAGE)
					       ? schema_find_msg(c->s, f->type_name) : NULL;
		if (f->label == REPEATED)
			v = sub && sub->map_entry ? json_object_new_object() : json_object_new_array();
		else if (f->type == FIELD(MESSAGE))
			continue; /* absent message: no default to show */
		else if (f->type == FIELD(STRING) || f->type == FIELD(BYTES))
			v = json_object_new_string("");
		else
			v = scalar_json(c, f, 0);
		json_object_object_add(o, key, v);
	}
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

static int add_value(struct ctx *c, json_object *o, const field_desc *f, const char *key,
		     json_object *v)
{
	if (!v)
		return -1;
	if (f->label != REPEATED) {
		json_object_object_add(o, key, v);
		return 0;
	}
	const struct schema_msg *sub = f->type == FIELD(MESSAGE) ? schema_find_msg(c->s, f->type_name)
								 : NULL;
	json_object *col;
	if (!json_object_object_get_ex(o, key, &col)) {
		col = sub && sub->map_entry ? json_object_new_object() : json_object_new_array();
		json_object_object_add(o, key, col);
	}
	if (!(sub && sub->map_entry)) {
		json_object_array_add(col, v);
		return 0;
	}
	json_object *k = NULL, *val = NULL;
	char kb[256], vb[256];
	const field_desc *kf = sub->d->n_field > 0 ? sub->d->field[0] : NULL;
	const field_desc *vf = sub->d->n_field > 1 ? sub->d->field[1] : NULL;
	if (kf)
		json_object_object_get_ex(v, (c->flags & BUS_JSON_ORIGINAL_NAMES) ? kf->name
						: schema_json_name(kf, kb, sizeof(kb)), &k);
	if (vf)
		json_object_object_get_ex(v, (c->flags & BUS_JSON_ORIGINAL_NAMES) ? vf->name
						: schema_json_name(vf, vb, sizeof(vb)), &val);
	/* A key at its default may be left out of the entry: "", 0 or false */
	json_object *kdef = !k && kf && kf->type != FIELD(STRING) ? scalar_json(c, kf, 0) : NULL;
	char *ks = map_key(k ? k : kdef);
	json_object_put(kdef);
	if (!ks) {
		json_object_put(v);
		return -1;
	}
	json_object *value = val ? json_object_get(val) : NULL;
	if (!value && vf)
		value = vf->type == FIELD(STRING) || vf->type == FIELD(BYTES)
			? json_object_new_string("")
			: vf->type == FIELD(MESSAGE) ? json_object_new_object() : scalar_json(c, vf, 0);
	json_object_object_add(col, ks, value);
	free(ks);
	json_object_put(v);
	return 0;
}

/* The last member of a oneof on the wire wins: forget the others seen. */
static void drop_oneof_siblings(struct ctx *c, const struct schema_msg *m, const field_desc *f,
				json_object *o)
{
	char nb[256];

	for (size_t i = 0; i < m->d->n_field; i++) {
		const field_desc *g = m->d->field[i];
		if (g != f && g->has_oneof_index && g->oneof_index == f->oneof_index)
			json_object_object_del(o, (c->flags & BUS_JSON_ORIGINAL_NAMES)
							  ? g->name : schema_json_name(g, nb, sizeof(nb)));
	}
}

static json_object *decode_message(struct ctx *c, const struct schema_msg *m, const uint8_t *p,
				   size_t len, int *bad)
{
	const uint8_t *end = p + len;
	json_object *o = json_object_new_object();
	struct buf unknown = { 0 };
	char nb[256];

	if (++c->depth > MAX_DEPTH) {
		*bad = fail(c, "messages nested deeper than %d", MAX_DEPTH);
		goto err;
	}
	while (p < end) {
		const uint8_t *start = p;
		uint64_t key;
		if (get_varint(&p, end, &key) < 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff) {
			*bad = fail(c, "malformed field key in %s", m->name);
			goto err;
		}
		int wt = (int)(key & 7);
		const field_desc *f = field_by_number(m->d, key >> 3);
		if (!f) {
			if (skip_value(&p, end, wt) < 0 || buf_put(&unknown, start, (size_t)(p - start)) < 0) {
				*bad = fail(c, "truncated field %" PRIu64 " in %s", key >> 3, m->name);
				goto err;
			}
			continue;
		}
		const char *jk = (c->flags & BUS_JSON_ORIGINAL_NAMES) ? f->name
								     : schema_json_name(f, nb, sizeof(nb));
		if (f->has_oneof_index)
			drop_oneof_siblings(c, m, f, o);
		size_t was = path_push(c, ".%s", jk);
		if (wt == WT_LEN && f->label == REPEATED && is_packable(f)) {
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
				add_value(c, o, f, jk, scalar_json(c, f, raw));
			}
		} else if (wt == WT_LEN) {
			uint64_t n;
			if (wire_type_of(f) != WT_LEN || get_varint(&p, end, &n) < 0 ||
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
			uint64_t kept = wt == WT_I32 || f->type == FIELD(INT32) || f->type == FIELD(UINT32) ||
					f->type == FIELD(SINT32) || f->type == FIELD(ENUM) || f->type == FIELD(BOOL)
					? (f->type == FIELD(BOOL) ? raw != 0 : (uint32_t)raw) : raw;
			if (kept == 0 && implicit_presence(m, f))
				json_object_object_del(o, jk);
			else
				add_value(c, o, f, jk, scalar_json(c, f, raw));
		}
		path_pop(c, was);
	}
	if (c->flags & BUS_JSON_DEFAULTS)
		add_defaults(c, m, o);
	if (unknown.len) {
		char *enc = b64_encode(unknown.p, unknown.len);
		if (enc)
			json_object_object_add(o, UNKNOWN_KEY, json_object_new_string(enc));
		free(enc);
	}
	free(unknown.p);
	c->depth--;
	return wkt_json(c, m, o, bad);
err:
	free(unknown.p);
	json_object_put(o);
	c->depth--;
	if (!*bad)
		*bad = -EINVAL;
	return NULL;
}

int bus_json_decode(const bus_schema_t *s, const char *type, const void *buf, size_t len,
		    unsigned flags, char **json, bus_error_t *err)
{
	struct ctx c = { s, flags, err, "", 0 };
	int bad = 0;

	*json = NULL;
	const struct schema_msg *m = s && type ? schema_find_msg(s, type) : NULL;
	if (!m)
		return fail(&c, "no message type %s in the schema", type ? type : "(none)");
	if (!buf && len)
		return fail(&c, "no bytes for a body of %zu", len);
	json_object *o = decode_message(&c, m, buf ? buf : (const void *)"", len, &bad);
	if (!o)
		return bad ? bad : fail(&c, "out of memory");
	const char *text = json_object_to_json_string_ext(
		o, (flags & BUS_JSON_PRETTY) ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
					     : JSON_C_TO_STRING_PLAIN);
	*json = text ? strdup(text) : NULL;
	json_object_put(o);
	return *json ? 0 : fail(&c, "out of memory");
}

/* ---------------------------------------------------------------- encode */

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

static int enum_value(struct ctx *c, const field_desc *f, json_object *v, uint64_t *raw)
{
	const struct schema_enum *e = schema_find_enum(c->s, f->type_name);
	if (json_object_is_type(v, json_type_string)) {
		const char *name = json_object_get_string(v);
		for (size_t i = 0; e && i < e->d->n_value; i++)
			if (strcmp(e->d->value[i]->name, name) == 0) {
				*raw = (uint64_t)(int64_t)e->d->value[i]->number;
				return 0;
			}
		return fail(c, "\"%s\" is not a value of %s", name, e ? e->name : "?");
	}
	return json_int(c, v, 1, INT32_MIN, INT32_MAX, raw);
}

/* A proto3 field without presence (not optional, not in a oneof, not a
 * message) is not written at its default value, as protobuf does. */
static int implicit_presence(const struct schema_msg *m, const field_desc *f)
{
	return m && m->proto3 && f->label != REPEATED && f->type != FIELD(MESSAGE) &&
	       !f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional);
}

/* One non-repeated value of f into out (tag included unless packed); with
 * skip_default, nothing at all when the value is the default. */
static int encode_value(struct ctx *c, const field_desc *f, json_object *v, struct buf *out,
			int tagged, int skip_default)
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
			if (!utf8_valid((const uint8_t *)s, n))
				return fail(c, "the string is not valid UTF-8");
			r = buf_put(&sub, s, n);
		} else if (f->type == FIELD(BYTES)) {
			if (!json_object_is_type(v, json_type_string))
				return fail(c, "expected base64 bytes, got %s",
					    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
			const char *s = json_object_get_string(v);
			uint8_t *bytes = malloc(strlen(s) * 3 / 4 + 3);
			long n = bytes ? b64_decode(s, bytes) : -1;
			if (n < 0) {
				free(bytes);
				return fail(c, "\"%.40s\" is not base64", s);
			}
			r = buf_put(&sub, bytes, (size_t)n);
			free(bytes);
		} else {
			const struct schema_msg *m = schema_find_msg(c->s, f->type_name);
			r = m ? encode_message(c, m, v, &sub) : fail(c, "no type %s", f->type_name);
		}
		if (r == 0 && !(skip_default && sub.len == 0 && f->type != FIELD(MESSAGE)))
			r = put_tag(out, f->number, WT_LEN) || put_varint(out, sub.len) ||
			    buf_put(out, sub.p, sub.len) ? -ENOMEM : 0;
		free(sub.p);
		return r;
	}
	default:
		return fail(c, "field %s has a type busctl cannot encode (groups)", f->name);
	}
	if (r < 0)
		return r;
	if (skip_default && raw == 0)
		return 0;
	if (tagged && put_tag(out, f->number, wt) < 0)
		return -ENOMEM;
	if (wt == WT_VARINT)
		return put_varint(out, raw);
	return put_fixed(out, raw, wt == WT_I64 ? 8 : 4);
}

/* A map's JSON object: one entry message per member. */
static int encode_map(struct ctx *c, const field_desc *f, const struct schema_msg *entry,
		      json_object *v, struct buf *out)
{
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "expected an object (a map)");
	const field_desc *kf = field_by_number(entry->d, 1), *vf = field_by_number(entry->d, 2);
	if (!kf || !vf)
		return fail(c, "map entry %s has no key and value", entry->name);
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
			r = put_tag(out, f->number, WT_LEN) || put_varint(out, e.len) ||
			    buf_put(out, e.p, e.len) ? -ENOMEM : 0;
		free(e.p);
		if (r < 0)
			return r;
		path_pop(c, was);
	}
	return 0;
}

static int encode_field(struct ctx *c, const struct schema_msg *m, const field_desc *f,
			json_object *v, struct buf *out)
{
	const struct schema_msg *sub = f->type == FIELD(MESSAGE) ? schema_find_msg(c->s, f->type_name)
								 : NULL;
	if (f->label != REPEATED)
		return encode_value(c, f, v, out, 1, implicit_presence(m, f));
	if (sub && sub->map_entry)
		return encode_map(c, f, sub, v, out);
	if (!json_object_is_type(v, json_type_array))
		return fail(c, "expected an array");
	size_t n = json_object_array_length(v);
	int packed = is_packable(f) && (m->proto3 ? !(f->options && f->options->has_packed &&
						      !f->options->packed)
						  : (f->options && f->options->has_packed &&
						     f->options->packed));
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
		r = put_tag(out, f->number, WT_LEN) || put_varint(out, pk.len) ||
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
	int32_t oneof_seen[64];
	const char *oneof_name[64];
	size_t n_oneof = 0;
	json_object_object_foreach(o, key, val)
	{
		size_t was = path_push(c, ".%s", key);
		if (strcmp(key, UNKNOWN_KEY) == 0) {
			const char *s = json_object_get_string(val);
			uint8_t *bytes = malloc(strlen(s) * 3 / 4 + 3);
			long n = bytes && json_object_is_type(val, json_type_string) ? b64_decode(s, bytes) : -1;
			r = n < 0 || !fields_valid(m->d, bytes, (size_t)n)
				    ? fail(c, "expected base64 of raw protobuf fields %s does not know",
					   m->name)
				    : buf_put(out, bytes, (size_t)n);
			free(bytes);
			if (r < 0)
				break;
			path_pop(c, was);
			continue;
		}
		const field_desc *f = NULL;
		char nb[256];
		for (size_t i = 0; i < m->d->n_field && !f; i++) {
			const field_desc *x = m->d->field[i];
			if (strcmp(schema_json_name(x, nb, sizeof(nb)), key) == 0 || strcmp(x->name, key) == 0)
				f = x;
		}
		if (!f) {
			r = fail(c, "unknown field \"%s\" in %s", key, m->name);
			break;
		}
		if (json_object_is_type(val, json_type_null)) {
			path_pop(c, was);
			continue; /* null: the default */
		}
		if (f->has_oneof_index && !(f->has_proto3_optional && f->proto3_optional)) {
			for (size_t i = 0; i < n_oneof; i++)
				if (oneof_seen[i] == f->oneof_index) {
					r = fail(c, "\"%s\" and \"%s\" are members of the same oneof",
						 oneof_name[i], key);
					break;
				}
			if (r < 0)
				break;
			if (n_oneof < 64) {
				oneof_seen[n_oneof] = f->oneof_index;
				oneof_name[n_oneof++] = key;
			}
		}
		r = encode_field(c, m, f, val, out);
		if (r < 0)
			break;
		path_pop(c, was);
	}
	c->depth--;
out:
	if (conv)
		json_object_put(conv);
	return r;
}

int bus_json_encode(const bus_schema_t *s, const char *type, const char *json, void **out,
		    size_t *out_len, bus_error_t *err)
{
	struct ctx c = { s, 0, err, "", 0 };
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
