/* wire.h - the busd frame codec, shared by busd and libbus.
 *
 * A frame is a 12-byte preamble, a protobuf-encoded bus.Header (proto/bus.proto)
 * and an opaque body. The header is encoded and decoded by hand here so that
 * neither side allocates per message; decoded strings point into the input. */
#ifndef BUS_WIRE_H
#define BUS_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define WIRE_MAGIC0 0x42 /* 'B' */
#define WIRE_MAGIC1 0x44 /* 'D' */
#define WIRE_VERSION 1
#define WIRE_PREAMBLE_SIZE 12
#define WIRE_MAX_HEADER (64u * 1024u)
#define WIRE_MAX_NAME 255 /* names, members, topics, types, error names */
#define WIRE_BUS_NAME "bus" /* the broker's own name: its control service */
#define WIRE_DEFAULT_MAX_FRAME (16u * 1024u * 1024u)
/* Descriptors one frame may carry (SCM_RIGHTS): the kernel's limit per
 * message (SCM_MAX_FD); busd's limits.max_fds_per_frame is at most this. */
#define WIRE_MAX_FDS 253u
/* Room the broker needs to stamp a peer's frame: the sender field it adds
 * and, for an answer, a destination rewritten to the caller's unique id.
 * A peer sends headers of at most WIRE_MAX_PEER_HEADER bytes and frames of
 * at most the broker's maximum minus WIRE_STAMP_ROOM, so that every frame
 * the broker forwards stays within WIRE_MAX_HEADER and its maximum. */
#define WIRE_STAMP_ROOM 512u
#define WIRE_MAX_PEER_HEADER (WIRE_MAX_HEADER - WIRE_STAMP_ROOM)
/* Out-of-line bodies: the seals a body memfd must carry (F_SEAL_*, from
 * <fcntl.h>, spelled out so that this header needs no Linux headers). */
#define WIRE_MEMFD_SEALS (0x0001 | 0x0002 | 0x0004 | 0x0008) /* SEAL|SHRINK|GROW|WRITE */

enum wire_kind {
	WIRE_KIND_INVALID = 0,
	WIRE_KIND_CALL = 1,
	WIRE_KIND_REPLY = 2,
	WIRE_KIND_ERROR = 3,
	WIRE_KIND_EVENT = 4,
};

#define WIRE_FLAG_NO_REPLY_EXPECTED 0x1u
#define WIRE_FLAGS_KNOWN WIRE_FLAG_NO_REPLY_EXPECTED

/* Outcomes of decoding (positive, documented; callers switch on them). */
enum wire_result {
	WIRE_OK = 0,
	WIRE_E_SHORT,           /* not enough bytes yet: read more */
	WIRE_E_MAGIC,           /* preamble does not start with "BD" */
	WIRE_E_VERSION,         /* preamble version is not WIRE_VERSION */
	WIRE_E_PREAMBLE_FLAGS,  /* unknown preamble flag bits */
	WIRE_E_HEADER_SIZE,     /* header length 0 or above WIRE_MAX_HEADER */
	WIRE_E_FRAME_SIZE,      /* whole frame above the configured maximum */
	WIRE_E_MALFORMED,       /* header bytes are not a valid bus.Header */
	WIRE_E_INVALID,         /* header decodes but breaks a rule (see why) */
};

/* Protobuf wire types. */
enum wire_type { WIRE_WT_VARINT = 0, WIRE_WT_I64 = 1, WIRE_WT_LEN = 2, WIRE_WT_I32 = 5 };

/* A string view into a buffer; not NUL-terminated. len 0 means absent. */
typedef struct wire_str {
	const char *ptr;
	uint32_t len;
} wire_str;

typedef struct wire_preamble {
	uint8_t version;
	uint8_t flags;
	uint32_t header_len;
	uint32_t body_len;
} wire_preamble;

typedef struct wire_header {
	uint32_t kind;
	uint32_t flags;
	uint64_t serial;
	uint64_t reply_serial;
	wire_str destination;
	wire_str interface;
	wire_str member;
	wire_str sender;
	wire_str body_type;
	uint32_t fd_count;
	wire_str error_name;
	wire_str error_message;
	/* Out-of-line body (docs/protocol.md): non-zero, the body is this
	 * many bytes in a sealed memfd, the frame's last descriptor, and the
	 * frame's own body is empty. */
	uint64_t memfd_body_size;
} wire_header;

static inline wire_str wire_str_c(const char *s)
{
	wire_str w = { s, s ? (uint32_t)strlen(s) : 0 };
	return w;
}

static inline int wire_str_eq(wire_str a, const char *b)
{
	size_t n = strlen(b);
	return a.len == n && (n == 0 || memcmp(a.ptr, b, n) == 0);
}

/* Encode a preamble into out[WIRE_PREAMBLE_SIZE]. */
void wire_preamble_encode(uint8_t *out, uint32_t header_len, uint32_t body_len);

/* Decode the preamble at in[0..avail). Returns WIRE_E_SHORT if avail <
 * WIRE_PREAMBLE_SIZE, otherwise checks magic, version, flags, header size and
 * that the whole frame fits max_frame (preamble + header + body). */
int wire_preamble_decode(const uint8_t *in, size_t avail, uint32_t max_frame, wire_preamble *p);

/* Decode a header from exactly len bytes. Strings in h point into buf.
 * Unknown fields are skipped (forward compatibility). Returns WIRE_OK or
 * WIRE_E_MALFORMED. Does not apply the rules of wire_header_validate(). */
int wire_header_decode(const uint8_t *buf, size_t len, wire_header *h);

/* Check the protocol's rules for a header received from a client: known kind
 * and flags, serial non-zero, fields each kind needs, name lengths and
 * characters, fd_count at most WIRE_MAX_FDS and 0 but on a CALL or REPLY. On failure returns WIRE_E_INVALID and sets *why to
 * a static human-readable reason. */
int wire_header_validate(const wire_header *h, const char **why);

/* Encoded size of h, and encoding into out (which has room for
 * wire_header_size(h) bytes). Returns the number of bytes written. */
size_t wire_header_size(const wire_header *h);
size_t wire_header_encode(const wire_header *h, uint8_t *out);

/* The sender field (bus.Header.sender) as the broker adds it to a header it
 * forwards: its size for a sender of len bytes (at most WIRE_MAX_NAME), and
 * its encoding into out, which has room for it. Protobuf takes fields in any
 * order, so the field can go before the sender's header bytes, unchanged;
 * when the header carries a sender of its own, the broker encodes the
 * header afresh instead (a decoder keeps the last of repeated fields). */
size_t wire_sender_field_size(size_t len);
size_t wire_sender_field_encode(wire_str sender, uint8_t *out);

/* Protobuf varints: decode one of at most 10 bytes from p[0..avail)
 * (returns the bytes used, 0 when malformed or cut short), the size of v
 * encoded, and its encoding at p (returns the end). */
size_t wire_varint_get(const uint8_t *p, size_t avail, uint64_t *v);
size_t wire_varint_size(uint64_t v);
uint8_t *wire_varint_put(uint8_t *p, uint64_t v);

/* A name is a unique id (":" followed by digits) or a dotted well-known name of
 * [A-Za-z0-9_-] elements, 1..WIRE_MAX_NAME bytes. */
int wire_name_valid(const char *s, size_t len);
int wire_unique_name_valid(const char *s, size_t len);
/* A member (method or topic): [A-Za-z0-9_.-], 1..WIRE_MAX_NAME bytes. */
int wire_member_valid(const char *s, size_t len);
/* A topic pattern: a topic, "prefix.*" or "*". */
int wire_pattern_valid(const char *s, size_t len);

/* Static text for a wire_result. */
const char *wire_strerror(int result);

#endif
