/* frame.c - reference-counted frames and their pool of spare buffers. */
#include "config.h"

#include "frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Size classes of whole allocations: 512 B << 0 .. 512 B << 11 (1 MiB).
 * Each keeps at most POOL_CLASS_BYTES of spares (at least one), so the
 * pool holds at most about 12 * 256 KiB + 1 MiB. */
#define POOL_MIN_SHIFT 9
#define POOL_CLASSES 12
#define POOL_CLASS_BYTES (256u * 1024u)

static struct pool_class {
	struct frame *spare;  /* linked through frame->patch */
	unsigned n, max;
} pool[POOL_CLASSES];
static size_t pool_held;

static int class_of(size_t bytes)
{
	for (int c = 0; c < POOL_CLASSES; c++)
		if (bytes <= (size_t)1 << (POOL_MIN_SHIFT + c))
			return c;
	return -1;
}

static size_t class_bytes(int c)
{
	return (size_t)1 << (POOL_MIN_SHIFT + c);
}

static struct frame *frame_alloc(size_t cap)
{
	size_t bytes = sizeof(struct frame) + cap;
	int c = class_of(bytes);
	struct frame *f = NULL;

	if (c >= 0 && pool[c].spare) {
		f = pool[c].spare;
		pool[c].spare = (struct frame *)(void *)f->patch;
		pool[c].n--;
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

	if (c >= 0) {
		if (!pool[c].max)
			pool[c].max = class_bytes(c) >= POOL_CLASS_BYTES ? 1
				      : POOL_CLASS_BYTES / (unsigned)class_bytes(c);
		if (pool[c].n < pool[c].max) {
			f->patch = (uint8_t *)(void *)pool[c].spare;
			pool[c].spare = f;
			pool[c].n++;
			pool_held += class_bytes(c);
			return;
		}
	}
	free(f);
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
	for (int c = 0; c < POOL_CLASSES; c++) {
		while (pool[c].spare) {
			struct frame *f = pool[c].spare;
			pool[c].spare = (struct frame *)(void *)f->patch;
			free(f);
		}
		pool[c].n = 0;
	}
	pool_held = 0;
}

size_t frame_pool_bytes(void)
{
	return pool_held;
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
