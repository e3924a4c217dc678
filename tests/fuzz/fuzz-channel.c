/* fuzz-channel.c - libFuzzer target for a channel's rings (libbus/chan-ring.c)
 * against a hostile other side: the input is the shared area (its control
 * words and the bytes of the ring this side reads) plus a script of
 * operations that interleaves this side's receives, peeks and sends with
 * the other side's writes into any shared word or byte. Whatever it
 * writes, a receive must give a message lying inside the ring or fail
 * cleanly (-EPROTO, -EAGAIN, end of file), and a send must stay in its
 * ring; the sanitizers catch any read or write outside. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan-ring.h"

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, size_t n)
{
	uint64_t v = 0;

	if (n > in->left)
		n = in->left;
	memcpy(&v, in->p, n);
	in->p += n;
	in->left -= n;
	return v;
}

/* The other side writes into the shared area: a control word, or a byte of
 * the ring this side reads (both of its mappings, as the kernel would). */
static void hostile_write(struct chan_end *e, struct input *in)
{
	unsigned what = (unsigned)take(in, 1) % 8;
	uint64_t v = take(in, 8);

	switch (what) {
	case 0: atomic_store(&e->in->head, v); break;
	case 1: atomic_store(&e->out->tail, v); break;
	case 2: atomic_store(&e->in->rwait, (uint32_t)v); break;
	case 3: atomic_store(&e->out->wwait, (uint32_t)v); break;
	case 4: atomic_store(&e->shm->closed[e->side ^ 1u], (uint32_t)v); break;
	default: {
		uint64_t at = (v >> 32) & e->mask;
		memcpy(e->in_data + at, &v, 4 < e->size - at ? 4 : e->size - at);
		memcpy(e->in_data + e->size + at, &v, 4 < e->size - at ? 4 : e->size - at);
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint64_t ring = 4096u << (take(&in, 1) % 3);
	struct chan_shm *shm = aligned_alloc(64, CHAN_HEADER);
	uint8_t *rings = malloc(4 * ring);
	uint8_t buf[512];

	if (!shm || !rings) {
		free(shm);
		free(rings);
		return 0;
	}
	memset(shm, 0, CHAN_HEADER);
	memset(rings, 0, 4 * ring);
	struct chan_end e = { .shm = shm, .size = ring, .mask = ring - 1, .side = 1, .sock = -1 };
	e.out = &shm->ring[1];
	e.in = &shm->ring[0];
	e.in_data = rings;
	e.out_data = rings + 2 * ring;
	/* Where this side's own indices stand (a channel that has run a while). */
	e.tail = e.in_head = e.published = take(&in, 8) & ~(uint64_t)7;
	e.head = e.out_tail = take(&in, 8) & ~(uint64_t)7;
	atomic_store(&shm->ring[0].tail, e.tail);
	atomic_store(&shm->ring[0].head, e.tail);
	atomic_store(&shm->ring[1].head, e.head);
	atomic_store(&shm->ring[1].tail, e.head);

	while (in.left) {
		unsigned op = (unsigned)take(&in, 1);
		const void *d;
		size_t len;
		switch (op % 4) {
		case 0:
			hostile_write(&e, &in);
			break;
		case 1:
			if (chan_peek(&e, &d, &len, CHAN_NONBLOCK) == 1) {
				const uint8_t *p = d;
				if (p < e.in_data || len > e.size - CHAN_REC ||
				    p + len > e.in_data + 2 * e.size)
					abort();
				memcpy(buf, p, len < sizeof(buf) ? len : sizeof(buf));
				if (op & 4)
					chan_consume(&e);
			}
			break;
		case 2:
			chan_consume(&e);
			break;
		case 3: {
			size_t n = (size_t)take(&in, 2) % (2 * ring);
			static uint8_t big[3 * 4096 * 4];
			chan_send(&e, big, n, CHAN_NONBLOCK);
			break;
		}
		}
	}
	free(shm);
	free(rings);
	return 0;
}
