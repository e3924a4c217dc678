/* chan-ring.h - the shared area of a channel (channel.h) and the rings in
 * it: its layout, and one side's view of its two rings. channel.c makes,
 * checks and maps the area; chan-ring.c moves messages through it and is
 * the part a hostile other side talks to (tests/fuzz/fuzz-channel.c). */
#ifndef BUS_CHAN_RING_H
#define BUS_CHAN_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define CHAN_MAGIC 0x314e414843535542ull /* "BUSCHAN1" little-endian */
#define CHAN_VERSION 1u
#define CHAN_HEADER 4096u    /* the header page, before the two rings */
#define CHAN_REC 8u          /* a record: u32 length, u32 zero, the bytes, padding to 8 */

/* Who sleeps on a waiter word (below), set by the sleeper, cleared by the
 * other side as it wakes it. */
#define CHAN_WAIT_FUTEX 1u /* in FUTEX_WAIT on the word */
#define CHAN_WAIT_LOOP 2u  /* in poll() on its socket: send it a byte */

/* One ring, written by one side (the producer) and read by the other. Each
 * word on a cache line of its own: head is only written by the producer,
 * tail only by the consumer. */
struct chan_ring {
	_Alignas(64) _Atomic uint64_t head; /* bytes ever published */
	_Alignas(64) _Atomic uint64_t tail; /* bytes ever consumed */
	_Alignas(64) _Atomic uint32_t rwait; /* the consumer waits for data */
	_Alignas(64) _Atomic uint32_t wwait; /* the producer waits for room */
};

/* The header page. Side 0 (the maker) produces ring[0] and consumes
 * ring[1]; side 1 the other way round. The rings' bytes follow at
 * CHAN_HEADER and CHAN_HEADER + ring_bytes. */
struct chan_shm {
	uint64_t magic;
	uint32_t version;
	uint32_t ring_bytes;          /* a power of two */
	_Alignas(64) _Atomic uint32_t closed[2]; /* side i closed its end */
	struct chan_ring ring[2];
};
_Static_assert(sizeof(struct chan_shm) <= CHAN_HEADER, "the header fits its page");
/* The layout docs/data-plane.md gives: the same on every platform. */
_Static_assert(offsetof(struct chan_shm, closed) == 64 && offsetof(struct chan_shm, ring) == 128 &&
		       sizeof(struct chan_ring) == 256 && offsetof(struct chan_ring, tail) == 64 &&
		       offsetof(struct chan_ring, rwait) == 128 && offsetof(struct chan_ring, wwait) == 192,
	       "the shared layout of version 1");

/* One side's view. The indices this side owns are kept here and only
 * published to the shared area; the other side's are loaded, checked and
 * cached. data pointers see each ring twice in a row (mapped twice), so a
 * record that wraps is contiguous. */
struct chan_end {
	struct chan_shm *shm;
	struct chan_ring *out, *in;
	uint8_t *out_data, *in_data;   /* 2 * size bytes each */
	uint64_t size, mask;
	unsigned side;
	uint64_t head;     /* ours: published on out */
	uint64_t tail;     /* ours: consumed from in */
	uint64_t published; /* tail as last published on in */
	uint64_t out_tail; /* theirs on out, as last loaded */
	uint64_t in_head;  /* theirs on in, as last loaded */
	uint64_t peeked;   /* record size given by chan_peek(), 0: none */
	int sock;          /* liveness and loop wake-ups; -1: none (fuzzing) */
	int dead;          /* the socket says the other side is gone */
	int broken;        /* -EPROTO once the other side broke a rule */
	int data_looks;    /* looks at an empty ring before sleeping (chan-ring.c):
	                    * CHAN_DATA_LOOKS, 0 with one CPU online */
	uint64_t want;     /* the room a waiting send needs */
};

#define CHAN_NONBLOCK 0x1 /* BUS_CHANNEL_NONBLOCK */
#define CHAN_DATA_LOOKS 8 /* struct chan_end's data_looks, with two CPUs or more */

/* As bus_channel_send(), _peek(), _consume(). */
long chan_send(struct chan_end *e, const void *buf, size_t len, int flags);
int chan_peek(struct chan_end *e, const void **data, size_t *len, int flags);
int chan_consume(struct chan_end *e);
/* Mark this side closed and wake the other wherever it waits. */
void chan_shutdown(struct chan_end *e);

#endif
