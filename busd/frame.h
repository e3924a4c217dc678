/* frame.h - one routed message, reference-counted: the bytes a peer sent
 * (or busd built), the decoded header (a view into them, made by the codec
 * in libbus/wire.c), and the head busd sends, with the sender stamped in
 * place. A frame is queued by reference to every destination, so fan-out
 * and monitor copies share one body; it is freed with its last reference.
 *
 * Layout of a received frame: room for the stamp, then the preamble, header
 * and body as they arrived. Stamping writes the sender field and a new
 * preamble just before the header, so head and body stay contiguous; only
 * a header that carried a sender of its own, or an answer whose destination
 * busd rewrites, is encoded afresh into a separate patch. */
#ifndef BUSD_FRAME_H
#define BUSD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Bytes before a received frame's preamble: the longest sender field. */
#define FRAME_ROOM 264u

struct frame {
	unsigned refs;
	int cls;                  /* pool size class, -1: not pooled */
	size_t cap;               /* bytes at data */
	wire_preamble pre;        /* as received */
	wire_header h;            /* decoded: strings point into data */
	const uint8_t *head;      /* preamble + header as sent on */
	uint32_t head_len;
	const uint8_t *body;
	uint32_t body_len;
	uint8_t *patch;           /* a head encoded afresh, or NULL */
	unsigned n_fds;           /* passed descriptors travelling with it, */
	int *fds;                 /* closed when the frame goes */
	uint8_t data[];
};

/* A frame with room for a received one of total bytes (preamble, header
 * and body): its bytes go to frame_received_at(f). NULL: out of memory. */
struct frame *frame_new_received(size_t total);
static inline uint8_t *frame_received_at(struct frame *f)
{
	return f->data + FRAME_ROOM;
}
/* The whole frame is in (f->pre holds its decoded preamble): decode and
 * check its header. Returns WIRE_OK, WIRE_E_MALFORMED or WIRE_E_INVALID
 * (why set). The head is the frame as received until frame_stamp(). */
int frame_parse(struct frame *f, const char **why);
/* Make the head the frame as forwarded: sender set to sender, and the
 * destination to dest when dest.ptr is not NULL. Returns 0, or -ENOMEM. */
int frame_stamp(struct frame *f, wire_str sender, wire_str dest);
/* A frame busd originates: header h (encoded here) and body. NULL: out of
 * memory or a header above the limit. */
struct frame *frame_new_local(const wire_header *h, const void *body, size_t body_len);

static inline struct frame *frame_ref(struct frame *f)
{
	f->refs++;
	return f;
}
void frame_unref(struct frame *f);
/* What a frame makes busd hold: its whole buffer (and a re-encoded head).
 * This, not its size on the wire, is what queues and input are charged. */
static inline size_t frame_cost(const struct frame *f)
{
	return sizeof(*f) + f->cap + (f->patch ? f->head_len : 0);
}
/* The same for a received frame of total bytes, before it exists. */
size_t frame_received_cost(size_t total);
/* Bytes on the wire as forwarded. */
static inline size_t frame_size(const struct frame *f)
{
	return (size_t)f->head_len + f->body_len;
}

/* Frames come in size classes, four per power of two up to 32 MiB (a
 * frame's allocation is at most a quarter above its size); spare ones are
 * kept for reuse, at most FRAME_POOL_BASE plus two of the largest frames
 * (frame_pool_set_limit, from limits.max_frame_size), so that steady traffic
 * of any size does not go back to the allocator. frame_pool_idle() frees the
 * spares of every class no frame was allocated from since its last call,
 * and returns the bytes freed; frame_pool_trim() frees them all (after a
 * crowd left); frame_pool_bytes() is what they hold. */
#define FRAME_POOL_BASE (4u * 1024u * 1024u)
void frame_pool_set_limit(size_t max_frame);
size_t frame_pool_idle(void);
void frame_pool_trim(void);
size_t frame_pool_bytes(void);
/* Bytes of frames handed back to the allocator (not kept as spares, or
 * spares freed) since busd started: the broker gives memory back to the
 * system a second after this stops growing (broker.c). */
uint64_t frame_released(void);
/* Set the allocator for frames, once at start: glibc's free() neither trims
 * the heap nor unmaps blocks up to 32 MiB (the most glibc allows) on its
 * own, so memory freed during steady traffic is reused instead of mapped
 * and faulted in again; busd trims on a timer instead (malloc_trim). */
void frame_memory_init(void);

#endif
