/* unpack.c - the allocator libbus unpacks messages with (requests to an
 * exported service, replies to a proxy). A large message is mostly one or a
 * few large bytes or string fields, which protobuf-c copies out of the frame
 * into blocks of their own; handing those blocks back to the C library after
 * every message makes it unmap (or trim) and map them again, and every page
 * of a fresh block costs a page fault when it is filled. So blocks of at
 * least UNPACK_BIG bytes are kept for reuse, at most UNPACK_SPARES of them,
 * each no larger than a frame, and given back with the connection's other
 * large buffers once large traffic has stopped for CONN_TRIM_USEC
 * (conn_trim). Smaller blocks go straight to malloc() and free(). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"

/* In front of every block: its usable size, aligned for any type. */
union block_head {
	size_t cap;
	max_align_t align;
};

static void *block_alloc(void *data, size_t size)
{
	bus_t *bus = data;
	struct unpack_spares *sp = &bus->spares;
	union block_head *h = NULL;

	if (size >= UNPACK_BIG) {
		/* The smallest spare that fits. */
		int best = -1;
		for (int i = 0; i < UNPACK_SPARES; i++)
			if (sp->blk[i] && sp->cap[i] >= size && (best < 0 || sp->cap[i] < sp->cap[best]))
				best = i;
		if (best >= 0) {
			h = sp->blk[best];
			sp->blk[best] = NULL;
			conn_keep(bus);
			return h + 1;
		}
	}
	if (size > SIZE_MAX - sizeof(*h) || !(h = malloc(sizeof(*h) + size)))
		return NULL;
	h->cap = size;
	if (size >= UNPACK_BIG)
		conn_keep(bus);
	return h + 1;
}

static void block_free(void *data, void *p)
{
	bus_t *bus = data;
	struct unpack_spares *sp = &bus->spares;

	if (!p)
		return;
	union block_head *h = (union block_head *)p - 1;
	if (h->cap >= UNPACK_BIG) {
		/* Into an empty slot, or in place of a smaller spare. */
		int slot = -1;
		for (int i = 0; i < UNPACK_SPARES; i++) {
			if (!sp->blk[i]) {
				slot = i;
				break;
			}
			if (sp->cap[i] < h->cap && (slot < 0 || sp->cap[i] < sp->cap[slot]))
				slot = i;
		}
		if (slot >= 0) {
			if (sp->blk[slot])
				free(sp->blk[slot]);
			sp->blk[slot] = h;
			sp->cap[slot] = h->cap;
			return;
		}
	}
	free(h);
}

ProtobufCMessage *unpack_msg(bus_t *bus, const ProtobufCMessageDescriptor *desc, size_t len,
			     const uint8_t *data)
{
	ProtobufCAllocator a = { block_alloc, block_free, bus };

	return protobuf_c_message_unpack(desc, &a, len, data);
}

void unpack_free(bus_t *bus, ProtobufCMessage *msg)
{
	ProtobufCAllocator a = { block_alloc, block_free, bus };

	if (msg)
		protobuf_c_message_free_unpacked(msg, &a);
}

void unpack_trim(bus_t *bus)
{
	struct unpack_spares *sp = &bus->spares;

	for (int i = 0; i < UNPACK_SPARES; i++) {
		free(sp->blk[i]);
		sp->blk[i] = NULL;
		sp->cap[i] = 0;
	}
}
