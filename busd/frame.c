/* frame.c - reference-counted frames and their pool of spare buffers. */
#include "config.h"

#include "frame.h"

#ifdef HAVE_MALLOPT
#include <malloc.h>
#endif

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Size classes of whole allocations, four per power of two (so a frame
 * wastes at most a quarter of its size) from 512 B to 32 MiB; larger frames
 * are allocated to measure. Spare frames are kept per class, at most
 * pool_limit bytes in all: POOL_BASE, plus room for two of the largest
 * frames, so that steady traffic of large frames reuses its buffers too.
 * Spares of a class no frame used for a while are freed (frame_pool_idle),
 * which the broker does a second after the pool went above POOL_BASE. */
#define POOL_MIN 512u
#define POOL_MAX (32u * 1024u * 1024u)
#define POOL_CLASSES 65 /* 4 per doubling from 512 B to 32 MiB, and 32 MiB */

static struct frame *pool[POOL_CLASSES]; /* spares, linked through frame->patch */
static unsigned char pool_used[POOL_CLASSES]; /* asked for since the last look */
static size_t pool_held, pool_limit = FRAME_POOL_BASE;
static uint64_t released; /* bytes given back to the allocator */

/* glibc's upper bound for M_MMAP_THRESHOLD on 64-bit (4 MiB * sizeof(long)):
 * frames larger still are mapped and unmapped one by one. */
#define MMAP_THRESHOLD_MAX (4u * 1024u * 1024u * (unsigned)sizeof(long))

void frame_memory_init(void)
{
#ifdef HAVE_MALLOPT
	mallopt(M_MMAP_THRESHOLD, (int)MMAP_THRESHOLD_MAX);
	mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

uint64_t frame_released(void)
{
	return released;
}

/* The class of an allocation of bytes, or -1 when it is not pooled. */
static int class_of(size_t bytes)
{
	if (bytes > POOL_MAX)
		return -1;
	int c = 0;
	size_t base = POOL_MIN;
	while (base * 2 < bytes) {
		base *= 2;
		c += 4;
	}
	for (size_t step = 0; step < 4; step++, c++)
		if (bytes <= base + base / 4 * step)
			return c;
	return c; /* the next power of two */
}

static size_t class_bytes(int c)
{
	size_t base = (size_t)POOL_MIN << (c / 4);
	return base + base / 4 * (size_t)(c % 4);
}

void frame_pool_set_limit(size_t max_frame)
{
	size_t largest = max_frame > POOL_MAX ? POOL_MAX : max_frame;
	int c = class_of(sizeof(struct frame) + FRAME_ROOM + largest);

	pool_limit = FRAME_POOL_BASE + 2 * (c >= 0 ? class_bytes(c) : POOL_MAX);
}

static struct frame *frame_alloc(size_t cap)
{
	size_t bytes = sizeof(struct frame) + cap;
	int c = class_of(bytes);
	struct frame *f = NULL;

	if (c >= 0)
		pool_used[c] = 1;
	if (c >= 0 && pool[c]) {
		f = pool[c];
		pool[c] = (struct frame *)(void *)f->patch;
		pool_held -= class_bytes(c);
	} else {
		f = malloc(c >= 0 ? class_bytes(c) : bytes);
		if (!f)
			return NULL;
	}
	memset(f, 0, sizeof(*f));
	f->refs = 1;
	f->cls = c;
	f->cap = c >= 0 ? class_bytes(c) - sizeof(struct frame) : cap;
	return f;
}

static void frame_release(struct frame *f)
{
	int c = f->cls;

	if (c >= 0 && pool_held + class_bytes(c) <= pool_limit) {
		f->patch = (uint8_t *)(void *)pool[c];
		pool[c] = f;
		pool_held += class_bytes(c);
		return;
	}
	released += c >= 0 ? class_bytes(c) : sizeof(*f) + f->cap;
	free(f);
}

static size_t pool_free_class(int c)
{
	size_t n = 0;

	while (pool[c]) {
		struct frame *f = pool[c];
		pool[c] = (struct frame *)(void *)f->patch;
		n += class_bytes(c);
		free(f);
	}
	pool_held -= n;
	released += n;
	return n;
}

size_t frame_pool_idle(void)
{
	size_t n = 0;

	for (int c = 0; c < POOL_CLASSES; c++) {
		if (!pool_used[c])
			n += pool_free_class(c);
		pool_used[c] = 0;
	}
	return n;
}

void frame_unref(struct frame *f)
{
	if (!f || --f->refs > 0)
		return;
	for (unsigned i = 0; i < f->n_fds; i++)
		close(f->fds[i]);
	free(f->fds);
	free(f->patch);
	frame_release(f);
}

void frame_pool_trim(void)
{
	for (int c = 0; c < POOL_CLASSES; c++)
		pool_free_class(c);
}

size_t frame_pool_bytes(void)
{
	return pool_held;
}

size_t frame_received_cost(size_t total)
{
	size_t bytes = sizeof(struct frame) + FRAME_ROOM + total;
	int c = class_of(bytes);
	return c >= 0 ? class_bytes(c) : bytes;
}

struct frame *frame_new_received(size_t total)
{
	struct frame *f = frame_alloc(FRAME_ROOM + total);
	return f;
}

int frame_parse(struct frame *f, const char **why)
{
	const wire_preamble *pre = &f->pre;
	const uint8_t *hb = frame_received_at(f) + WIRE_PREAMBLE_SIZE;

	if (wire_header_decode(hb, pre->header_len, &f->h) != WIRE_OK) {
		*why = wire_strerror(WIRE_E_MALFORMED);
		return WIRE_E_MALFORMED;
	}
	if (wire_header_validate(&f->h, why) != WIRE_OK)
		return WIRE_E_INVALID;
	f->head = frame_received_at(f);
	f->head_len = WIRE_PREAMBLE_SIZE + pre->header_len;
	f->body = hb + pre->header_len;
	f->body_len = pre->body_len;
	return WIRE_OK;
}

int frame_stamp(struct frame *f, wire_str sender, wire_str dest)
{
	uint8_t *hb = frame_received_at(f) + WIRE_PREAMBLE_SIZE;

	if (!f->h.sender.ptr && !dest.ptr) {
		/* Prepend the sender field; the client's header bytes stay. */
		size_t sl = wire_sender_field_size(sender.len);
		uint8_t *start = hb - sl - WIRE_PREAMBLE_SIZE;
		wire_sender_field_encode(sender, hb - sl);
		wire_preamble_encode(start, (uint32_t)(f->pre.header_len + sl), f->pre.body_len);
		f->head = start;
		f->head_len = (uint32_t)(WIRE_PREAMBLE_SIZE + f->pre.header_len + sl);
		/* The view points into the frame's own bytes: it outlives the sender. */
		f->h.sender = (wire_str){ (const char *)hb - sender.len, sender.len };
		return 0;
	}
	wire_header h = f->h;
	h.sender = sender;
	if (dest.ptr)
		h.destination = dest;
	size_t hl = wire_header_size(&h);
	uint8_t *patch = malloc(WIRE_PREAMBLE_SIZE + hl);
	if (!patch)
		return -ENOMEM;
	wire_preamble_encode(patch, (uint32_t)hl, f->pre.body_len);
	wire_header_encode(&h, patch + WIRE_PREAMBLE_SIZE);
	free(f->patch);
	f->patch = patch;
	f->head = patch;
	f->head_len = (uint32_t)(WIRE_PREAMBLE_SIZE + hl);
	wire_header_decode(patch + WIRE_PREAMBLE_SIZE, hl, &f->h);
	return 0;
}

struct frame *frame_new_local(const wire_header *h, const void *body, size_t body_len)
{
	size_t hl = wire_header_size(h);

	if (hl == 0 || hl > WIRE_MAX_HEADER || body_len > UINT32_MAX - WIRE_PREAMBLE_SIZE - hl)
		return NULL;
	struct frame *f = frame_alloc(WIRE_PREAMBLE_SIZE + hl + body_len);
	if (!f)
		return NULL;
	wire_preamble_encode(f->data, (uint32_t)hl, (uint32_t)body_len);
	wire_header_encode(h, f->data + WIRE_PREAMBLE_SIZE);
	if (body_len)
		memcpy(f->data + WIRE_PREAMBLE_SIZE + hl, body, body_len);
	f->pre = (wire_preamble){ WIRE_VERSION, 0, (uint32_t)hl, (uint32_t)body_len };
	/* The view the router and the monitors use points into our own bytes. */
	wire_header_decode(f->data + WIRE_PREAMBLE_SIZE, hl, &f->h);
	f->head = f->data;
	f->head_len = (uint32_t)(WIRE_PREAMBLE_SIZE + hl);
	f->body = f->data + WIRE_PREAMBLE_SIZE + hl;
	f->body_len = (uint32_t)body_len;
	return f;
}
