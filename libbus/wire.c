/* wire.c - hand codec for the busd frame preamble and bus.Header.
 * Field numbers and wire types follow proto/bus.proto exactly; the test
 * tests/test-wire.c checks this codec against protoc-c's generated one. */
#include "wire.h"

#include <errno.h>

enum {
	F_KIND = 1, F_FLAGS = 2, F_SERIAL = 3, F_REPLY_SERIAL = 4,
	F_DESTINATION = 5, F_INTERFACE = 6, F_MEMBER = 7, F_SENDER = 8,
	F_BODY_TYPE = 9, F_FD_COUNT = 10, F_ERROR_NAME = 11, F_ERROR_MESSAGE = 12,
	F_MEMFD_BODY_SIZE = 13,
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

void wire_preamble_encode(uint8_t *out, uint32_t header_len, uint32_t body_len)
{
	out[0] = WIRE_MAGIC0;
	out[1] = WIRE_MAGIC1;
	out[2] = WIRE_VERSION;
	out[3] = 0;
	put_le32(out + 4, header_len);
	put_le32(out + 8, body_len);
}

int wire_preamble_decode(const uint8_t *in, size_t avail, uint32_t max_frame, wire_preamble *p)
{
	if (avail < 2)
		return WIRE_E_SHORT;
	if (in[0] != WIRE_MAGIC0 || in[1] != WIRE_MAGIC1)
		return WIRE_E_MAGIC;
	if (avail < WIRE_PREAMBLE_SIZE)
		return WIRE_E_SHORT;
	p->version = in[2];
	p->flags = in[3];
	p->header_len = le32(in + 4);
	p->body_len = le32(in + 8);
	if (p->version != WIRE_VERSION)
		return WIRE_E_VERSION;
	if (p->flags != 0)
		return WIRE_E_PREAMBLE_FLAGS;
	if (p->header_len == 0 || p->header_len > WIRE_MAX_HEADER)
		return WIRE_E_HEADER_SIZE;
	/* 64-bit sum: header_len + body_len cannot wrap. */
	if ((uint64_t)WIRE_PREAMBLE_SIZE + p->header_len + p->body_len > max_frame)
		return WIRE_E_FRAME_SIZE;
	return WIRE_OK;
}

size_t wire_varint_get(const uint8_t *p, size_t avail, uint64_t *v)
{
	uint64_t r = 0;
	if (avail && p[0] < 0x80) { /* the common case: tags, lengths, kinds */
		*v = p[0];
		return 1;
	}
	for (size_t i = 0; i < avail && i < 10; i++) {
		r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			if (i == 9 && p[i] > 1)
				return 0; /* overflows 64 bits */
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

int wire_header_decode(const uint8_t *buf, size_t len, wire_header *h)
{
	size_t off = 0;

	memset(h, 0, sizeof(*h));
	while (off < len) {
		uint64_t key, v;
		size_t n = wire_varint_get(buf + off, len - off, &key);
		if (n == 0)
			return WIRE_E_MALFORMED;
		off += n;
		uint32_t field = (uint32_t)(key >> 3), wt = key & 7;
		if (field == 0 || key >> 3 > 0x1fffffff)
			return WIRE_E_MALFORMED;
		switch (wt) {
		case WIRE_WT_VARINT:
			n = wire_varint_get(buf + off, len - off, &v);
			if (n == 0)
				return WIRE_E_MALFORMED;
			off += n;
			switch (field) {
			case F_KIND: h->kind = (uint32_t)v; if (v > UINT32_MAX) h->kind = UINT32_MAX; break;
			case F_FLAGS: h->flags = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; break;
			case F_SERIAL: h->serial = v; break;
			case F_REPLY_SERIAL: h->reply_serial = v; break;
			case F_FD_COUNT: h->fd_count = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; break;
			case F_MEMFD_BODY_SIZE: h->memfd_body_size = v; break;
			default:
				if (field >= F_DESTINATION && field <= F_ERROR_MESSAGE)
					return WIRE_E_MALFORMED; /* known field, wrong wire type */
				break;
			}
			break;
		case WIRE_WT_LEN: {
			n = wire_varint_get(buf + off, len - off, &v);
			if (n == 0)
				return WIRE_E_MALFORMED;
			off += n;
			if (v > len - off)
				return WIRE_E_MALFORMED;
			wire_str s = { (const char *)buf + off, (uint32_t)v };
			off += (size_t)v;
			switch (field) {
			case F_DESTINATION: h->destination = s; break;
			case F_INTERFACE: h->interface = s; break;
			case F_MEMBER: h->member = s; break;
			case F_SENDER: h->sender = s; break;
			case F_BODY_TYPE: h->body_type = s; break;
			case F_ERROR_NAME: h->error_name = s; break;
			case F_ERROR_MESSAGE: h->error_message = s; break;
			default:
				if ((field <= F_FD_COUNT && field != F_DESTINATION) ||
				    field == F_MEMFD_BODY_SIZE)
					return WIRE_E_MALFORMED;
				break;
			}
			break;
		}
		case WIRE_WT_I64:
			if (len - off < 8 || field <= F_MEMFD_BODY_SIZE)
				return WIRE_E_MALFORMED;
			off += 8;
			break;
		case WIRE_WT_I32:
			if (len - off < 4 || field <= F_MEMFD_BODY_SIZE)
				return WIRE_E_MALFORMED;
			off += 4;
			break;
		default:
			return WIRE_E_MALFORMED; /* groups and reserved types */
		}
	}
	return WIRE_OK;
}

/* Characters of a name element: [A-Za-z0-9_-]. A table, because busd checks
 * every name of every frame it routes. */
static const uint8_t elem_chars[256] = {
	['-'] = 1, ['_'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
	['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
	['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
	['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
	['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static inline int is_elem_char(char c)
{
	return elem_chars[(uint8_t)c];
}

int wire_unique_name_valid(const char *s, size_t len)
{
	if (len < 2 || len > WIRE_MAX_NAME || s[0] != ':')
		return 0;
	for (size_t i = 1; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* Dotted elements of [A-Za-z0-9_-]: no empty element, no leading/trailing dot. */
static int dotted_valid(const char *s, size_t len)
{
	if (len == 0 || len > WIRE_MAX_NAME)
		return 0;
	int elem = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (elem == 0)
				return 0;
			elem = 0;
		} else if (is_elem_char(s[i])) {
			elem++;
		} else {
			return 0;
		}
	}
	return elem > 0;
}

int wire_name_valid(const char *s, size_t len)
{
	if (len > 0 && s[0] == ':')
		return wire_unique_name_valid(s, len);
	return dotted_valid(s, len);
}

int wire_member_valid(const char *s, size_t len)
{
	return dotted_valid(s, len);
}

int wire_pattern_valid(const char *s, size_t len)
{
	if (len == 1 && s[0] == '*')
		return 1;
	if (len >= 3 && s[len - 1] == '*' && s[len - 2] == '.')
		return dotted_valid(s, len - 2);
	return dotted_valid(s, len);
}

int wire_header_validate(const wire_header *h, const char **why)
{
#define FAIL(msg) do { *why = (msg); return WIRE_E_INVALID; } while (0)
	if (h->kind < WIRE_KIND_CALL || h->kind > WIRE_KIND_EVENT)
		FAIL("unknown frame kind");
	if (h->flags & ~WIRE_FLAGS_KNOWN)
		FAIL("unknown header flags");
	if (h->serial == 0)
		FAIL("serial must be non-zero");
	if (h->fd_count > WIRE_MAX_FDS)
		FAIL("fd_count above 253");
	if (h->memfd_body_size) {
		/* The body is out of line: the last descriptor holds it. */
		if (h->fd_count == 0)
			FAIL("memfd_body_size without a descriptor to hold the body");
		if (h->kind == WIRE_KIND_ERROR)
			FAIL("an ERROR cannot have an out-of-line body");
		if (h->kind == WIRE_KIND_EVENT && h->fd_count != 1)
			FAIL("an EVENT can carry no descriptor but its out-of-line body");
	} else if (h->fd_count != 0 && h->kind != WIRE_KIND_CALL && h->kind != WIRE_KIND_REPLY) {
		FAIL("only a CALL or a REPLY can carry file descriptors");
	}
	if (h->destination.len && !wire_name_valid(h->destination.ptr, h->destination.len))
		FAIL("invalid destination name");
	if (h->interface.len && !wire_member_valid(h->interface.ptr, h->interface.len))
		FAIL("invalid interface name");
	if (h->member.len && !wire_member_valid(h->member.ptr, h->member.len))
		FAIL("invalid member (method or topic)");
	if (h->body_type.len && !wire_member_valid(h->body_type.ptr, h->body_type.len))
		FAIL("invalid body type name");
	if (h->error_name.len && !wire_member_valid(h->error_name.ptr, h->error_name.len))
		FAIL("invalid error name");
	if (h->sender.len > WIRE_MAX_NAME)
		FAIL("sender too long");
	switch (h->kind) {
	case WIRE_KIND_CALL:
		if (!h->destination.len)
			FAIL("CALL needs a destination");
		if (!h->member.len)
			FAIL("CALL needs a method");
		break;
	case WIRE_KIND_REPLY:
	case WIRE_KIND_ERROR:
		if (!h->destination.len)
			FAIL("REPLY/ERROR needs a destination");
		if (h->reply_serial == 0)
			FAIL("REPLY/ERROR needs a reply serial");
		if (h->kind == WIRE_KIND_ERROR && !h->error_name.len)
			FAIL("ERROR needs an error name");
		break;
	case WIRE_KIND_EVENT:
		if (!h->member.len)
			FAIL("EVENT needs a topic");
		if (h->destination.len)
			FAIL("EVENT must not have a destination");
		break;
	}
	return WIRE_OK;
#undef FAIL
}

size_t wire_varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

uint8_t *wire_varint_put(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static size_t uint_field_size(uint32_t field, uint64_t v)
{
	return v ? wire_varint_size((uint64_t)field << 3) + wire_varint_size(v) : 0;
}

static size_t str_field_size(uint32_t field, wire_str s)
{
	return s.len ? wire_varint_size((uint64_t)field << 3 | WIRE_WT_LEN) + wire_varint_size(s.len) + s.len : 0;
}

size_t wire_header_size(const wire_header *h)
{
	return uint_field_size(F_KIND, h->kind) + uint_field_size(F_FLAGS, h->flags) +
	       uint_field_size(F_SERIAL, h->serial) + uint_field_size(F_REPLY_SERIAL, h->reply_serial) +
	       str_field_size(F_DESTINATION, h->destination) + str_field_size(F_INTERFACE, h->interface) +
	       str_field_size(F_MEMBER, h->member) + str_field_size(F_SENDER, h->sender) +
	       str_field_size(F_BODY_TYPE, h->body_type) + uint_field_size(F_FD_COUNT, h->fd_count) +
	       str_field_size(F_ERROR_NAME, h->error_name) +
	       str_field_size(F_ERROR_MESSAGE, h->error_message) +
	       uint_field_size(F_MEMFD_BODY_SIZE, h->memfd_body_size);
}

static uint8_t *put_uint(uint8_t *p, uint32_t field, uint64_t v)
{
	if (!v)
		return p;
	p = wire_varint_put(p, (uint64_t)field << 3 | WIRE_WT_VARINT);
	return wire_varint_put(p, v);
}

static uint8_t *put_str(uint8_t *p, uint32_t field, wire_str s)
{
	if (!s.len)
		return p;
	p = wire_varint_put(p, (uint64_t)field << 3 | WIRE_WT_LEN);
	p = wire_varint_put(p, s.len);
	memcpy(p, s.ptr, s.len);
	return p + s.len;
}

size_t wire_header_encode(const wire_header *h, uint8_t *out)
{
	uint8_t *p = out;
	p = put_uint(p, F_KIND, h->kind);
	p = put_uint(p, F_FLAGS, h->flags);
	p = put_uint(p, F_SERIAL, h->serial);
	p = put_uint(p, F_REPLY_SERIAL, h->reply_serial);
	p = put_str(p, F_DESTINATION, h->destination);
	p = put_str(p, F_INTERFACE, h->interface);
	p = put_str(p, F_MEMBER, h->member);
	p = put_str(p, F_SENDER, h->sender);
	p = put_str(p, F_BODY_TYPE, h->body_type);
	p = put_uint(p, F_FD_COUNT, h->fd_count);
	p = put_str(p, F_ERROR_NAME, h->error_name);
	p = put_str(p, F_ERROR_MESSAGE, h->error_message);
	p = put_uint(p, F_MEMFD_BODY_SIZE, h->memfd_body_size);
	return (size_t)(p - out);
}

size_t wire_sender_field_size(size_t len)
{
	return wire_varint_size((uint64_t)F_SENDER << 3 | WIRE_WT_LEN) + wire_varint_size(len) + len;
}

size_t wire_sender_field_encode(wire_str sender, uint8_t *out)
{
	uint8_t *p = wire_varint_put(out, (uint64_t)F_SENDER << 3 | WIRE_WT_LEN);
	p = wire_varint_put(p, sender.len);
	memcpy(p, sender.ptr, sender.len);
	return (size_t)(p + sender.len - out);
}

const char *wire_strerror(int result)
{
	switch (result) {
	case WIRE_OK: return "ok";
	case WIRE_E_SHORT: return "incomplete frame";
	case WIRE_E_MAGIC: return "bad frame magic (not a busd frame)";
	case WIRE_E_VERSION: return "unsupported frame version";
	case WIRE_E_PREAMBLE_FLAGS: return "unknown preamble flags";
	case WIRE_E_HEADER_SIZE: return "header length out of range";
	case WIRE_E_FRAME_SIZE: return "frame larger than the maximum frame size";
	case WIRE_E_MALFORMED: return "malformed frame header";
	case WIRE_E_INVALID: return "invalid frame header";
	default: return "unknown wire error";
	}
}
