/* test-wire.c - the frame codec (libbus/wire.c) against protoc-c's generated
 * bus.Header code: both must read each other's bytes, agree on what is
 * malformed, and the preamble, validation rules and name syntax must match
 * docs/protocol.md. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "bus.pb-c.h"
#include "tap.h"

/* ---------------------------------------------------------------- helpers */

/* A protoc-c string field and a wire view hold the same text (absent == ""). */
static int str_same(wire_str w, const char *c)
{
	size_t n = c ? strlen(c) : 0;
	return w.len == n && (n == 0 || memcmp(w.ptr, c, n) == 0);
}

/* The first field where the two decodings differ, or NULL. */
static const char *header_diff(const wire_header *w, const Bus__Header *p)
{
	if (w->kind != (uint32_t)p->kind) return "kind";
	if (w->flags != p->flags) return "flags";
	if (w->serial != p->serial) return "serial";
	if (w->reply_serial != p->reply_serial) return "reply_serial";
	if (!str_same(w->destination, p->destination)) return "destination";
	if (!str_same(w->interface, p->interface)) return "interface";
	if (!str_same(w->member, p->member)) return "member";
	if (!str_same(w->sender, p->sender)) return "sender";
	if (!str_same(w->body_type, p->body_type)) return "body_type";
	if (w->fd_count != p->fd_count) return "fd_count";
	if (!str_same(w->error_name, p->error_name)) return "error_name";
	if (!str_same(w->error_message, p->error_message)) return "error_message";
	if (w->memfd_body_size != p->memfd_body_size) return "memfd_body_size";
	return NULL;
}

/* protoc-c wants "" rather than NULL for absent proto3 strings. */
static char *pstr(wire_str s, char *store)
{
	if (!s.len)
		return (char *)"";
	memcpy(store, s.ptr, s.len);
	store[s.len] = 0;
	return store;
}

/* Fill a protoc-c header with the same values as w (strings copied into
 * store, which must have room for all of them plus terminators). */
static void header_to_pb(const wire_header *w, Bus__Header *p, char *store)
{
	bus__header__init(p);
	p->kind = (Bus__Kind)w->kind;
	p->flags = w->flags;
	p->serial = w->serial;
	p->reply_serial = w->reply_serial;
	p->fd_count = w->fd_count;
	p->memfd_body_size = w->memfd_body_size;
	p->destination = pstr(w->destination, store);
	store += w->destination.len + 1;
	p->interface = pstr(w->interface, store);
	store += w->interface.len + 1;
	p->member = pstr(w->member, store);
	store += w->member.len + 1;
	p->sender = pstr(w->sender, store);
	store += w->sender.len + 1;
	p->body_type = pstr(w->body_type, store);
	store += w->body_type.len + 1;
	p->error_name = pstr(w->error_name, store);
	store += w->error_name.len + 1;
	p->error_message = pstr(w->error_message, store);
}

/* wire encode -> protoc-c unpack, and protoc-c pack -> wire decode, plus
 * byte-identical output (both emit fields in number order, defaults
 * omitted). Returns the number of failed checks. */
static int roundtrip(const wire_header *w, const char *what, int verbose)
{
	static uint8_t a[200000], b[200000];
	static char store[200000];
	Bus__Header pb;
	int bad = 0;

	size_t n = wire_header_encode(w, a);
	if (n != wire_header_size(w)) {
		bad++;
		diag("%s: encode wrote %zu, size said %zu", what, n, wire_header_size(w));
	}
	Bus__Header *u = bus__header__unpack(NULL, n, a);
	const char *d = u ? header_diff(w, u) : "unpack failed";
	if (d) {
		bad++;
		diag("%s: wire->protoc-c differs in %s", what, d);
	}
	if (u)
		bus__header__free_unpacked(u, NULL);

	header_to_pb(w, &pb, store);
	size_t m = bus__header__pack(&pb, b);
	if (m != n || memcmp(a, b, n) != 0) {
		bad++;
		diag("%s: encodings differ (wire %zu bytes, protoc-c %zu bytes)", what, n, m);
	}
	wire_header back;
	int r = wire_header_decode(b, m, &back);
	d = r == WIRE_OK ? header_diff(&back, &pb) : "decode failed";
	if (d) {
		bad++;
		diag("%s: protoc-c->wire differs in %s", what, d);
	}
	if (verbose)
		ok(bad == 0, "%s: wire and protoc-c agree both ways", what);
	return bad;
}

/* Decode raw bytes with the hand codec. */
static int decode(const void *buf, size_t len, wire_header *h)
{
	return wire_header_decode(buf, len, h);
}

static int protoc_accepts(const void *buf, size_t len)
{
	Bus__Header *u = bus__header__unpack(NULL, len, buf);
	if (!u)
		return 0;
	bus__header__free_unpacked(u, NULL);
	return 1;
}

/* ---------------------------------------------------------------- headers */

static void test_full_and_empty(void)
{
	wire_header w = {
		.kind = WIRE_KIND_ERROR, .flags = 1, .serial = 12345, .reply_serial = 678,
		.destination = wire_str_c("org.example.Dest"),
		.interface = wire_str_c("busd.examples.Echo"),
		.member = wire_str_c("Echo"),
		.sender = wire_str_c(":17"),
		.body_type = wire_str_c("busd.examples.EchoReply"),
		.fd_count = 3,
		.error_name = wire_str_c("org.busd.Echo.Error.Failed"),
		.error_message = wire_str_c("something went wrong: \"quoted\" \xc3\xa9"),
	};
	roundtrip(&w, "header with every field", 1);

	wire_header e;
	memset(&e, 0, sizeof(e));
	is_int((long long)wire_header_size(&e), 0, "empty header encodes to 0 bytes");
	roundtrip(&e, "empty header", 1);
	is_int(decode("", 0, &e), WIRE_OK, "0 bytes decode as the empty header");

	wire_header m = {
		.kind = WIRE_KIND_EVENT, .flags = UINT32_MAX, .serial = UINT64_MAX,
		.reply_serial = UINT64_MAX, .fd_count = UINT32_MAX,
	};
	roundtrip(&m, "maximum integer values (serial UINT64_MAX)", 1);
	uint8_t buf[128];
	size_t n = wire_header_encode(&m, buf);
	wire_header back;
	ok(decode(buf, n, &back) == WIRE_OK && back.serial == UINT64_MAX &&
	   back.reply_serial == UINT64_MAX && back.flags == UINT32_MAX &&
	   back.fd_count == UINT32_MAX, "maximum values decode unchanged");

	static char big[70000];
	memset(big, 'x', sizeof(big) - 1);
	wire_header l = { .kind = WIRE_KIND_ERROR, .serial = 1, .reply_serial = 1,
			  .destination = wire_str_c(":1"), .error_name = wire_str_c("a.b"),
			  .error_message = wire_str_c(big) };
	roundtrip(&l, "69999-byte error message (multi-byte length varint)", 1);
}

static void test_zero_copy(void)
{
	wire_header w = { .kind = 1, .serial = 9, .destination = wire_str_c("a.b"),
			  .member = wire_str_c("M") };
	uint8_t buf[64];
	size_t n = wire_header_encode(&w, buf);
	wire_header h;
	decode(buf, n, &h);
	ok(h.destination.ptr > (const char *)buf && h.destination.ptr < (const char *)buf + n &&
	   memcmp(h.destination.ptr, "a.b", 3) == 0,
	   "decoded strings point into the input buffer");
}

/* Deterministic xorshift so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rnd_uint(void)
{
	switch (rng() % 4) {
	case 0: return 0;
	case 1: return rng() % 128;
	case 2: return rng() % 100000;
	default: return rng() >> (rng() % 64);
	}
}

static wire_str rnd_str(char *store, size_t cap)
{
	size_t len = rng() % 3 == 0 ? 0 : rng() % (rng() % 4 == 0 ? cap : 40);
	for (size_t i = 0; i < len; i++)
		store[i] = (char)(' ' + rng() % 95);
	wire_str s = { store, (uint32_t)len };
	return s;
}

static void test_random_roundtrips(void)
{
	static char strs[7][400];
	int bad = 0, trunc_bad = 0;
	for (int i = 0; i < 2000; i++) {
		wire_header w = {
			.kind = (uint32_t)(rng() % 5), .flags = (uint32_t)rnd_uint(),
			.serial = rnd_uint(), .reply_serial = rnd_uint(),
			.fd_count = (uint32_t)rnd_uint(), .memfd_body_size = rnd_uint(),
			.destination = rnd_str(strs[0], 400), .interface = rnd_str(strs[1], 400),
			.member = rnd_str(strs[2], 400), .sender = rnd_str(strs[3], 400),
			.body_type = rnd_str(strs[4], 400), .error_name = rnd_str(strs[5], 400),
			.error_message = rnd_str(strs[6], 400),
		};
		char what[64];
		snprintf(what, sizeof(what), "random header %d", i);
		bad += roundtrip(&w, what, 0) != 0;

		/* Every prefix: both decoders accept exactly the ones that end on
		 * a field boundary. */
		static uint8_t buf[4096];
		size_t n = wire_header_encode(&w, buf);
		for (size_t cut = 0; cut < n; cut++) {
			wire_header h;
			int mine = decode(buf, cut, &h) == WIRE_OK;
			if (mine != protoc_accepts(buf, cut)) {
				if (!trunc_bad)
					diag("random header %d cut at %zu/%zu: wire %s, protoc-c %s", i,
					     cut, n, mine ? "accepts" : "rejects",
					     mine ? "rejects" : "accepts");
				trunc_bad++;
			}
		}
	}
	is_int(bad, 0, "2000 random headers round-trip between wire.c and protoc-c");
	is_int(trunc_bad, 0, "every truncation of them: wire.c and protoc-c agree on malformed");
}

static void test_field_order_and_unknown(void)
{
	/* member, serial, destination, kind: out of field-number order. */
	static const uint8_t ooo[] = {
		0x3a, 4, 'E', 'c', 'h', 'o',
		0x18, 0x96, 0x01,
		0x2a, 3, 'a', '.', 'b',
		0x08, 0x01,
	};
	wire_header h;
	int r = decode(ooo, sizeof(ooo), &h);
	is_int(r, WIRE_OK, "fields out of order decode");
	ok(h.kind == 1 && h.serial == 150 && wire_str_eq(h.destination, "a.b") &&
	   wire_str_eq(h.member, "Echo"), "out-of-order fields land in the right places");
	Bus__Header *u = bus__header__unpack(NULL, sizeof(ooo), ooo);
	ok(u && !header_diff(&h, u), "protoc-c reads the out-of-order bytes the same way");
	if (u)
		bus__header__free_unpacked(u, NULL);

	/* A repeated scalar field: the last value wins, as in protobuf. */
	static const uint8_t dup[] = { 0x18, 0x05, 0x2a, 1, 'x', 0x18, 0x07, 0x2a, 1, 'y' };
	r = decode(dup, sizeof(dup), &h);
	ok(r == WIRE_OK && h.serial == 7 && wire_str_eq(h.destination, "y"),
	   "a field given twice: the last occurrence wins");
	u = bus__header__unpack(NULL, sizeof(dup), dup);
	ok(u && !header_diff(&h, u), "protoc-c agrees on the last occurrence");
	if (u)
		bus__header__free_unpacked(u, NULL);

	/* Unknown fields of every wire type, around known ones. */
	static const uint8_t unk[] = {
		0x08, 0x01,                                     /* kind = CALL */
		0xa0, 0x01, 0xff, 0xff, 0x03,                   /* 20: varint */
		0x18, 0x2a,                                     /* serial = 42 */
		0xaa, 0x01, 3, 'z', 'z', 'z',                   /* 21: len */
		0x2a, 3, 'a', '.', 'b',                         /* destination */
		0xb5, 0x01, 1, 2, 3, 4,                         /* 22: fixed32 */
		0x3a, 1, 'M',                                   /* member */
		0xb9, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,             /* 23: fixed64 */
		0x68, 0x05,                                     /* 13 (reserved): varint */
		0xf8, 0xff, 0xff, 0xff, 0x0f, 0x01,             /* 536870911 (max): varint */
	};
	r = decode(unk, sizeof(unk), &h);
	is_int(r, WIRE_OK, "unknown varint, len, fixed32, fixed64 fields are skipped");
	ok(h.kind == 1 && h.serial == 42 && wire_str_eq(h.destination, "a.b") &&
	   wire_str_eq(h.member, "M") && h.interface.len == 0 && h.sender.len == 0,
	   "known fields around unknown ones are intact");
	u = bus__header__unpack(NULL, sizeof(unk), unk);
	ok(u && !header_diff(&h, u), "protoc-c reads the same header from them");
	if (u)
		bus__header__free_unpacked(u, NULL);
}

static void expect_malformed(const void *buf, size_t len, const char *what)
{
	wire_header h;
	int r = decode(buf, len, &h);
	is_int(r, WIRE_E_MALFORMED, "malformed: %s", what);
}

static void test_malformed(void)
{
	expect_malformed("\x08\x80", 2, "truncated varint value");
	expect_malformed("\x80", 1, "truncated key");
	expect_malformed("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12,
			 "11-byte varint");
	expect_malformed("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", 11,
			 "10-byte varint above 64 bits");
	wire_header h;
	ok(decode("\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, &h) == WIRE_OK &&
	   h.serial == UINT64_MAX, "10-byte varint of UINT64_MAX is fine");
	expect_malformed("\x2a\x05" "ab", 4, "string length beyond the buffer");
	expect_malformed("\x2a\x80\x80\x80\x80\x80\x01" "ab", 9, "string length of 2^35");
	expect_malformed("\xaa\x01\x09" "abc", 6, "unknown len field beyond the buffer");
	expect_malformed("\xb5\x01\x01\x02\x03", 5, "unknown fixed32 truncated");
	expect_malformed("\xb9\x01\x01\x02\x03\x04\x05\x06\x07", 9, "unknown fixed64 truncated");
	expect_malformed("\x28\x01", 2, "destination (string) sent as varint");
	expect_malformed("\x60\x01", 2, "error_message (string) sent as varint");
	expect_malformed("\x1a\x01\x00", 3, "serial (uint64) sent as len");
	expect_malformed("\x52\x01\x00", 3, "fd_count (uint32) sent as len");
	expect_malformed("\x0d\x01\x00\x00\x00", 5, "kind sent as fixed32");
	expect_malformed("\x61\x01\x02\x03\x04\x05\x06\x07\x08", 9, "error_message sent as fixed64");
	expect_malformed("\x0b", 1, "group start (wire type 3)");
	expect_malformed("\x0c", 1, "group end (wire type 4)");
	expect_malformed("\xa3\x01\xa4\x01", 4, "unknown field as a group");
	expect_malformed("\x0e\x00", 2, "reserved wire type 6");
	expect_malformed("\x0f\x00", 2, "reserved wire type 7");
	expect_malformed("\x00\x00", 2, "field number 0 (varint)");
	expect_malformed("\x02\x00", 2, "field number 0 (len)");
	expect_malformed("\x80\x80\x80\x80\x10\x00", 6, "field number 2^29 (above the maximum)");

	static const char *cases[] = {
		"\x08\x80", "\x80", "\x2a\x05" "ab", "\x0b", "\x0c", "\x00\x00",
		"\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	};
	static const size_t lens[] = { 2, 1, 4, 1, 1, 2, 12 };
	int agree = 0;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		agree += !protoc_accepts(cases[i], lens[i]);
	is_int(agree, (long long)(sizeof(lens) / sizeof(lens[0])),
	       "protoc-c rejects the same truncated, overlong, group and field-0 inputs");

	/* Values above 32 bits in 32-bit fields must not wrap to a valid value. */
	static const uint8_t wide_kind[] = { 0x08, 0x81, 0x80, 0x80, 0x80, 0x10 }; /* 2^32+1 */
	ok(decode(wide_kind, sizeof(wide_kind), &h) == WIRE_OK && h.kind != 1,
	   "kind 2^32+1 does not wrap to CALL");
	static const uint8_t wide_flags[] = { 0x10, 0x81, 0x80, 0x80, 0x80, 0x10 };
	ok(decode(wide_flags, sizeof(wide_flags), &h) == WIRE_OK && (h.flags & ~1u) != 0,
	   "flags 2^32+1 keep unknown bits");
	static const uint8_t wide_fd[] = { 0x50, 0x80, 0x80, 0x80, 0x80, 0x10 };      /* 2^32 */
	ok(decode(wide_fd, sizeof(wide_fd), &h) == WIRE_OK && h.fd_count != 0,
	   "fd_count 2^32 does not wrap to 0");
}

/* ---------------------------------------------------------------- preamble */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int pre(uint8_t version, uint8_t flags, uint32_t hl, uint32_t bl, uint32_t max,
	       wire_preamble *p)
{
	uint8_t b[WIRE_PREAMBLE_SIZE] = { 'B', 'D', version, flags };
	put32(b + 4, hl);
	put32(b + 8, bl);
	return wire_preamble_decode(b, sizeof(b), max, p);
}

static void test_preamble(void)
{
	uint8_t b[WIRE_PREAMBLE_SIZE];
	wire_preamble p;
	const uint32_t max = WIRE_DEFAULT_MAX_FRAME;

	wire_preamble_encode(b, 0x01020304, 0xa0b0c0d0);
	static const uint8_t want[] = { 'B', 'D', 1, 0, 4, 3, 2, 1, 0xd0, 0xc0, 0xb0, 0xa0 };
	ok(memcmp(b, want, sizeof(want)) == 0, "preamble: magic, version 1, flags 0, little-endian lengths");

	wire_preamble_encode(b, 300, 70000);
	ok(wire_preamble_decode(b, sizeof(b), max, &p) == WIRE_OK && p.version == 1 &&
	   p.flags == 0 && p.header_len == 300 && p.body_len == 70000,
	   "preamble decodes what was encoded");

	int shorts = 0;
	for (size_t n = 0; n < WIRE_PREAMBLE_SIZE; n++)
		shorts += wire_preamble_decode(b, n, max, &p) == WIRE_E_SHORT;
	is_int(shorts, WIRE_PREAMBLE_SIZE, "preamble: 0..11 bytes are WIRE_E_SHORT");

	ok(wire_preamble_decode((const uint8_t *)"XD", 2, max, &p) == WIRE_E_MAGIC,
	   "bad first magic byte is seen after 2 bytes");
	uint8_t bad[WIRE_PREAMBLE_SIZE];
	memcpy(bad, b, sizeof(bad));
	bad[1] = 'X';
	is_int(wire_preamble_decode(bad, sizeof(bad), max, &p), WIRE_E_MAGIC, "bad second magic byte");
	memcpy(bad, "GET / HTTP/1", 12);
	is_int(wire_preamble_decode(bad, sizeof(bad), max, &p), WIRE_E_MAGIC, "text garbage is bad magic");

	is_int(pre(0, 0, 10, 0, max, &p), WIRE_E_VERSION, "version 0");
	is_int(pre(2, 0, 10, 0, max, &p), WIRE_E_VERSION, "version 2");
	is_int(pre(255, 0, 10, 0, max, &p), WIRE_E_VERSION, "version 255");
	is_int(pre(1, 1, 10, 0, max, &p), WIRE_E_PREAMBLE_FLAGS, "preamble flag 0x01");
	is_int(pre(1, 0x80, 10, 0, max, &p), WIRE_E_PREAMBLE_FLAGS, "preamble flag 0x80");
	is_int(pre(1, 0, 0, 0, max, &p), WIRE_E_HEADER_SIZE, "header_len 0");
	is_int(pre(1, 0, 1, 0, max, &p), WIRE_OK, "header_len 1");
	is_int(pre(1, 0, 65536, 0, max, &p), WIRE_OK, "header_len 65536 (the maximum)");
	is_int(pre(1, 0, 65537, 0, max, &p), WIRE_E_HEADER_SIZE, "header_len 65537");
	is_int(pre(1, 0, UINT32_MAX, 0, UINT32_MAX, &p), WIRE_E_HEADER_SIZE, "header_len UINT32_MAX");

	is_int(pre(1, 0, 100, 65536 - 112, 65536, &p), WIRE_OK, "frame exactly at the maximum");
	is_int(pre(1, 0, 100, 65536 - 111, 65536, &p), WIRE_E_FRAME_SIZE, "frame one byte above the maximum");
	is_int(pre(1, 0, 16, UINT32_MAX - 20, max, &p), WIRE_E_FRAME_SIZE,
	       "body_len near UINT32_MAX whose 32-bit sum wraps to 7 is still too large");
	is_int(pre(1, 0, 65536, UINT32_MAX, UINT32_MAX, &p), WIRE_E_FRAME_SIZE,
	       "body_len UINT32_MAX with max frame UINT32_MAX: 64-bit sum is too large");
	is_int(pre(1, 0, 1, UINT32_MAX - 13, UINT32_MAX, &p), WIRE_OK,
	       "body_len UINT32_MAX-13 plus 13 bytes fits a UINT32_MAX maximum exactly");
	is_int(pre(1, 0, 1, UINT32_MAX - 12, UINT32_MAX, &p), WIRE_E_FRAME_SIZE,
	       "one more byte does not");
	is_int(pre(1, 0, 10, 0, 21, &p), WIRE_E_FRAME_SIZE, "frame limit counts the preamble");
	is_int(pre(1, 0, 10, 0, 22, &p), WIRE_OK, "preamble + header exactly at the limit");
}

/* ---------------------------------------------------------------- rules */

static void expect_invalid(wire_header h, const char *reason)
{
	const char *why = NULL;
	int r = wire_header_validate(&h, &why);
	is_int(r, WIRE_E_INVALID, "invalid: %s", reason);
	is_str(why, reason, "  reason: %s", reason);
}

static void expect_valid(wire_header h, const char *what)
{
	const char *why = NULL;
	int r = wire_header_validate(&h, &why);
	if (!is_int(r, WIRE_OK, "valid: %s", what))
		diag("reason: %s", why ? why : "(none)");
}

static void test_validate(void)
{
	static char n255[256], n256[257];
	memset(n255, 'a', 255);
	memset(n256, 'a', 256);
	const wire_header call = { .kind = 1, .serial = 1, .destination = wire_str_c("org.x.Y"),
				   .member = wire_str_c("Do") };
	const wire_header reply = { .kind = 2, .serial = 2, .reply_serial = 1,
				    .destination = wire_str_c(":5") };
	const wire_header error = { .kind = 3, .serial = 3, .reply_serial = 1,
				    .destination = wire_str_c(":5"), .error_name = wire_str_c("a.B") };
	const wire_header event = { .kind = 4, .serial = 4, .member = wire_str_c("sensor.temp0") };
	wire_header h;

	expect_valid(call, "minimal CALL");
	h = call; h.flags = WIRE_FLAG_NO_REPLY_EXPECTED; expect_valid(h, "CALL with NO_REPLY_EXPECTED");
	h = call; h.destination = wire_str_c("bus"); expect_valid(h, "CALL to bus");
	h = call; h.destination = wire_str_c(":12"); expect_valid(h, "CALL to a unique id");
	h = call; h.interface = wire_str_c("busd.examples.Echo");
	h.body_type = wire_str_c("busd.examples.EchoRequest"); h.sender = wire_str_c(":999");
	h.serial = UINT64_MAX; expect_valid(h, "CALL with interface, body type, sender, max serial");
	h = call; h.destination = wire_str_c(n255); expect_valid(h, "CALL to a 255-byte name");
	expect_valid(reply, "minimal REPLY");
	expect_valid(error, "minimal ERROR");
	h = error; h.error_message = wire_str_c("any text, even \"this\"!"); expect_valid(h, "ERROR with message");
	expect_valid(event, "minimal EVENT");

	h = call; h.kind = 0; expect_invalid(h, "unknown frame kind");
	h = call; h.kind = 5; expect_invalid(h, "unknown frame kind");
	h = call; h.kind = UINT32_MAX; expect_invalid(h, "unknown frame kind");
	h = call; h.flags = 2; expect_invalid(h, "unknown header flags");
	h = call; h.flags = 0x80000001u; expect_invalid(h, "unknown header flags");
	h = call; h.serial = 0; expect_invalid(h, "serial must be non-zero");
	h = event; h.serial = 0; expect_invalid(h, "serial must be non-zero");
	h = call; h.fd_count = 254; expect_invalid(h, "fd_count above 253");
	h = event; h.fd_count = 1; expect_invalid(h, "only a CALL or a REPLY can carry file descriptors");
	h = error; h.fd_count = 1; expect_invalid(h, "only a CALL or a REPLY can carry file descriptors");
	h = reply; h.fd_count = 2; expect_valid(h, "REPLY with 2 descriptors");
	h = call; h.fd_count = 253; expect_valid(h, "CALL with 253 descriptors");
	h = call; h.memfd_body_size = 1; expect_invalid(h, "memfd_body_size without a descriptor to hold the body");
	h = call; h.memfd_body_size = 1; h.fd_count = 3; expect_valid(h, "CALL with an out-of-line body and 2 descriptors");
	h = event; h.memfd_body_size = 1; h.fd_count = 1; expect_valid(h, "EVENT with an out-of-line body");
	h = event; h.memfd_body_size = 1; h.fd_count = 2; expect_invalid(h, "an EVENT can carry no descriptor but its out-of-line body");
	h = error; h.memfd_body_size = 1; h.fd_count = 1; expect_invalid(h, "an ERROR cannot have an out-of-line body");
	h = call; h.destination = wire_str_c("a..b"); expect_invalid(h, "invalid destination name");
	h = call; h.destination = wire_str_c(n256); expect_invalid(h, "invalid destination name");
	h = reply; h.destination = wire_str_c(":x"); expect_invalid(h, "invalid destination name");
	h = call; h.interface = wire_str_c("busd examples"); expect_invalid(h, "invalid interface name");
	h = call; h.member = wire_str_c("Do/it"); expect_invalid(h, "invalid member (method or topic)");
	h = event; h.member = wire_str_c("sensor.*"); expect_invalid(h, "invalid member (method or topic)");
	h = event; h.member = wire_str_c(n256); expect_invalid(h, "invalid member (method or topic)");
	h = call; h.body_type = wire_str_c(".x"); expect_invalid(h, "invalid body type name");
	h = error; h.error_name = wire_str_c("bad name"); expect_invalid(h, "invalid error name");
	h = call; h.sender = wire_str_c(n256); expect_invalid(h, "sender too long");

	h = call; h.destination.len = 0; expect_invalid(h, "CALL needs a destination");
	h = call; h.member.len = 0; expect_invalid(h, "CALL needs a method");
	h = reply; h.destination.len = 0; expect_invalid(h, "REPLY/ERROR needs a destination");
	h = reply; h.reply_serial = 0; expect_invalid(h, "REPLY/ERROR needs a reply serial");
	h = error; h.destination.len = 0; expect_invalid(h, "REPLY/ERROR needs a destination");
	h = error; h.reply_serial = 0; expect_invalid(h, "REPLY/ERROR needs a reply serial");
	h = error; h.error_name.len = 0; expect_invalid(h, "ERROR needs an error name");
	h = event; h.member.len = 0; expect_invalid(h, "EVENT needs a topic");
	h = event; h.destination = wire_str_c("org.x.Y"); expect_invalid(h, "EVENT must not have a destination");
}

/* ---------------------------------------------------------------- names */

typedef int (*name_check)(const char *, size_t);

static void names(name_check f, const char *fname, int want, const char *const *list)
{
	for (; *list; list++)
		ok(f(*list, strlen(*list)) == want, "%s(\"%s\") is %s", fname, *list,
		   want ? "valid" : "invalid");
}

static void test_names(void)
{
	static char n[300];
	memset(n, 'a', sizeof(n));
	n[100] = '.';

	static const char *const good_names[] = {
		"a", "org.example.Sensor", "a-b_c.D9", "9.8.7", "bus", ":1", ":42", ":0",
		"_", "-", "a.b.c.d.e.f", NULL };
	static const char *const bad_names[] = {
		"", ".", ".a", "a.", "a..b", "a b", "a/b", "a*", "*", "a.*", ":", ":a", ":1.2",
		"::1", ":-1", "\xc3\xa9t\xc3\xa9", "a\tb", "a:b", NULL };
	names(wire_name_valid, "wire_name_valid", 1, good_names);
	names(wire_name_valid, "wire_name_valid", 0, bad_names);
	ok(wire_name_valid(n, 255), "255-byte name is valid");
	ok(!wire_name_valid(n, 256), "256-byte name is invalid");
	ok(wire_name_valid("abc.def", 3), "length counts, not the NUL: \"abc\" of \"abc.def\"");
	ok(!wire_name_valid("a\0b", 3), "embedded NUL is invalid");

	static const char *const good_unique[] = { ":1", ":42", ":0", ":18446744073709551615", NULL };
	static const char *const bad_unique[] = { "", ":", "1", "a", "::1", ":1a", ":a1", ": 1", NULL };
	names(wire_unique_name_valid, "wire_unique_name_valid", 1, good_unique);
	names(wire_unique_name_valid, "wire_unique_name_valid", 0, bad_unique);
	char u[300];
	u[0] = ':';
	memset(u + 1, '7', sizeof(u) - 1);
	ok(wire_unique_name_valid(u, 255), "255-byte unique id is valid");
	ok(!wire_unique_name_valid(u, 256), "256-byte unique id is invalid");
	ok(wire_name_valid(u, 255) && !wire_name_valid(u, 256), "wire_name_valid agrees on unique ids");

	static const char *const good_members[] = {
		"Echo", "GetNameOwner", "sensor.temp0", "bus.NameOwnerChanged", "a-b_c", NULL };
	static const char *const bad_members[] = {
		"", ".", ".a", "a.", "a..b", "a*", "*", "a.*", ":1", "a b", "a/b", "a,b", NULL };
	names(wire_member_valid, "wire_member_valid", 1, good_members);
	names(wire_member_valid, "wire_member_valid", 0, bad_members);
	ok(wire_member_valid(n, 255) && !wire_member_valid(n, 256), "member: 255 bytes valid, 256 not");

	static const char *const good_patterns[] = {
		"*", "a", "a.b.c", "a.*", "a.b.*", "sensor.temp0", "x-y_z.*", NULL };
	static const char *const bad_patterns[] = {
		"", ".", ".*", "*.a", "a*", "a.**", "**", "a.*.b", "a..*", "a.b*", "*a", "a.*.*",
		" *", "a .*", ":1", NULL };
	names(wire_pattern_valid, "wire_pattern_valid", 1, good_patterns);
	names(wire_pattern_valid, "wire_pattern_valid", 0, bad_patterns);
	ok(wire_pattern_valid(n, 255) && !wire_pattern_valid(n, 256),
	   "exact pattern: 255 bytes valid, 256 not");
	ok(wire_pattern_valid("a.*xyz", 3), "pattern length counts, not the NUL");
}

static void test_strerror(void)
{
	int distinct = 1;
	for (int a = WIRE_OK; a <= WIRE_E_INVALID; a++)
		for (int b = a + 1; b <= WIRE_E_INVALID; b++)
			if (strcmp(wire_strerror(a), wire_strerror(b)) == 0)
				distinct = 0;
	ok(distinct, "wire_strerror has a distinct text per result");
	ok(wire_strerror(12345) != NULL && wire_strerror(-1) != NULL,
	   "wire_strerror of an unknown value is still a string");
}

int main(void)
{
	plan(240);
	test_full_and_empty();
	test_zero_copy();
	test_field_order_and_unknown();
	test_malformed();
	test_random_roundtrips();
	test_preamble();
	test_validate();
	test_names();
	test_strerror();
	return tap_done();
}
