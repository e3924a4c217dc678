/* chan-ring.c - messages through a channel's rings: lock-free, one producer
 * and one consumer per ring, C11 acquire/release on the two indices. A side
 * only makes a system call to sleep (the ring empty, or full) or to wake
 * the other side, and only wakes it when its waiter word says it sleeps.
 *
 * Waiting: a side first looks again for a while without a system call
 * (SPIN, LOOK_NS below), then sleeps: first in FUTEX_WAIT on the waiter
 * word (shared, so not the PRIVATE variant), for a slice of 20 ms; when the
 * slice runs out, it waits on in poll() on its end of the socket pair, with
 * CHAN_WAIT_LOOP set so that the other side sends it a byte. A futex cannot
 * tell that the other process died; the socket can (its end hangs up with
 * the process), so a dead side is noticed within a slice, and a long wait
 * costs one wake-up, not one per slice. Busy sides never get that far.
 *
 * Everything read from the shared area is the other side's to write: each
 * index and length is loaded once into a local, checked against the ring,
 * and only then used; a broken one fails the channel with -EPROTO. This
 * side's own indices are kept in struct chan_end and never read back. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan-ring.h"

/* How long a futex sleep lasts before the socket is asked whether the other
 * side still lives (and the wait moves into poll()). */
#define FUTEX_SLICE_NS (20 * 1000 * 1000)

/* Before sleeping for room, a producer looks again this many times, a pause
 * apart: the consumer gives room back in batches, soon, and a futex wait
 * and wake cost more than the pauses. Looking costs nothing to the
 * consumer (the tail's line changes once a batch). */
#define SPIN 64

/* A consumer that finds the ring empty looks again CHAN_DATA_LOOKS times,
 * LOOK_NS apart, before it sleeps, and does not touch the shared area in
 * between. Each look at the head takes its cache line from the producer,
 * which writes it for every message: a consumer that looks as soon as it
 * can (or sleeps at once and is woken) keeps the two sides trading that
 * line, and the lines of the records, for every message, so the producer
 * runs at a fraction of its speed and the consumer, the faster, catches up
 * again and again, and sleeps and is woken every few dozen messages. Looks
 * this far apart let the producer write a batch undisturbed (a hundred
 * messages of 64 B at 20 ns each), which the consumer then takes in one
 * go. A message that comes within CHAN_DATA_LOOKS * LOOK_NS of the ring
 * running empty is seen within LOOK_NS, without a system call on either
 * side; the cost is that much CPU time spun before a consumer sleeps. With
 * one CPU online the producer cannot run while the consumer looks, so the
 * consumer sleeps at once (e->data_looks 0, set by channel.c). */
#define LOOK_NS 2000u

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rec_size(uint64_t len)
{
	return (CHAN_REC + len + 7u) & ~(uint64_t)7u;
}

static int fail(struct chan_end *e)
{
	e->broken = -EPROTO;
	return -EPROTO;
}

/* ---------------------------------------------------------------- waking */

static void wake(struct chan_end *e, _Atomic uint32_t *word)
{
	uint32_t v = atomic_exchange(word, 0);

	if (v & CHAN_WAIT_FUTEX)
		syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
	if ((v & CHAN_WAIT_LOOP) && e->sock >= 0)
		(void)send(e->sock, "", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Read what the socket has: wake-up bytes, or end of file when the other
 * side is gone. Bounded: a side that keeps writing bytes cannot hold this
 * one here. */
static void drain(struct chan_end *e)
{
	char buf[64];

	for (int i = 0; i < 16 && e->sock >= 0 && !e->dead; i++) {
		ssize_t n = recv(e->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			e->dead = 1;
		if (n < (ssize_t)sizeof(buf))
			break;
	}
}

static int peer_closed(const struct chan_end *e)
{
	return atomic_load_explicit(&e->shm->closed[e->side ^ 1u], memory_order_acquire) != 0;
}

/* Look whether ready(e) turned true, looks times: a pause apart, or gap_ns
 * apart (pausing in between, touching only the clock). 1 if it did. */
static int spin(struct chan_end *e, int (*ready)(struct chan_end *), int looks, uint64_t gap_ns)
{
	uint64_t at = gap_ns ? mono_ns() : 0;

	for (int i = 0; i < looks; i++) {
		cpu_relax();
		for (at += gap_ns; gap_ns && mono_ns() < at;)
			cpu_relax();
		if (ready(e))
			return 1;
	}
	return 0;
}

/* Wait until ready(e) may have turned true, on word (this side's waiter word
 * of the ring it waits on), after looking again as spin() does. Returns 0
 * (look again) or -EAGAIN. */
static int wait_on(struct chan_end *e, _Atomic uint32_t *word, int (*ready)(struct chan_end *),
		   int looks, uint64_t gap_ns, int flags)
{
	if (flags & CHAN_NONBLOCK) {
		drain(e);
		atomic_fetch_or(word, CHAN_WAIT_LOOP);
		if (!ready(e) && !e->dead)
			return -EAGAIN;
		atomic_fetch_and(word, ~CHAN_WAIT_LOOP);
		return 0;
	}
	if (spin(e, ready, looks, gap_ns))
		return 0;
	uint32_t v = atomic_fetch_or(word, CHAN_WAIT_FUTEX) | CHAN_WAIT_FUTEX;
	if (ready(e)) {
		atomic_fetch_and(word, ~CHAN_WAIT_FUTEX);
		return 0;
	}
	struct timespec ts = { 0, FUTEX_SLICE_NS };
	if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, v, &ts, NULL, 0) == 0 ||
	    errno != ETIMEDOUT)
		return 0;
	atomic_fetch_or(word, CHAN_WAIT_LOOP);
	if (ready(e))
		return 0;
	struct pollfd p = { .fd = e->sock, .events = POLLIN };
	if (e->sock >= 0 && poll(&p, 1, -1) > 0)
		drain(e);
	return 0;
}

/* ---------------------------------------------------------------- sending */

/* Load the consumer's tail: at most our head, at most size behind it. */
static int load_tail(struct chan_end *e)
{
	uint64_t t = atomic_load_explicit(&e->out->tail, memory_order_acquire);

	if (e->head - t > e->size)
		return fail(e);
	e->out_tail = t;
	return 0;
}

static int has_room(struct chan_end *e)
{
	return (load_tail(e) == 0 && e->size - (e->head - e->out_tail) >= e->want) ||
	       e->broken || peer_closed(e);
}

long chan_send(struct chan_end *e, const void *buf, size_t len, int flags)
{
	if (e->broken)
		return e->broken;
	if (len > e->size - CHAN_REC || len > UINT32_MAX)
		return -EMSGSIZE;
	uint64_t need = rec_size(len);
	while (e->size - (e->head - e->out_tail) < need) {
		if (peer_closed(e))
			return -EPIPE;
		if (load_tail(e) < 0)
			return -EPROTO;
		if (e->size - (e->head - e->out_tail) >= need)
			break;
		if (e->dead)
			return -EPIPE;
		e->want = need;
		int r = wait_on(e, &e->out->wwait, has_room, SPIN, 0, flags);
		if (e->broken)
			return e->broken;
		if (r < 0)
			return r;
	}
	if (peer_closed(e))
		return -EPIPE;
	uint8_t *p = e->out_data + (e->head & e->mask);
	uint32_t hdr[2] = { (uint32_t)len, 0 };
	memcpy(p, hdr, sizeof(hdr));
	if (len)
		memcpy(p + CHAN_REC, buf, len);
	e->head += need;
	atomic_store_explicit(&e->out->head, e->head, memory_order_release);
	/* The store above before the load below (the consumer sets its word,
	 * then looks at head): otherwise both could miss each other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&e->out->rwait, memory_order_relaxed))
		wake(e, &e->out->rwait);
	return (long)len;
}

/* ---------------------------------------------------------------- receiving */

/* The next record's length into *len: 1, 0 when the ring is empty, -EPROTO.
 * The producer publishes whole records only. */
static int next_record(struct chan_end *e, uint32_t *len)
{
	if (e->broken)
		return e->broken;
	if (e->in_head == e->tail) {
		uint64_t h = atomic_load_explicit(&e->in->head, memory_order_acquire);
		if (h - e->tail > e->size)
			return fail(e);
		e->in_head = h;
		if (h == e->tail)
			return 0;
	}
	uint64_t avail = e->in_head - e->tail;
	uint32_t hdr[2];
	if (avail < CHAN_REC)
		return fail(e);
	memcpy(hdr, e->in_data + (e->tail & e->mask), sizeof(hdr));
	if (rec_size(hdr[0]) > avail)
		return fail(e);
	*len = hdr[0];
	return 1;
}

static int has_data(struct chan_end *e)
{
	uint32_t len;

	return next_record(e, &len) != 0 || peer_closed(e);
}

int chan_peek(struct chan_end *e, const void **data, size_t *len, int flags)
{
	uint32_t l = 0;
	int r;

	while ((r = next_record(e, &l)) == 0) {
		/* Closed (or dead) after its last record: look once more, then
		 * it is the end. */
		if (peer_closed(e) || e->dead) {
			if ((r = next_record(e, &l)) == 0)
				return 0;
			break;
		}
		int w = wait_on(e, &e->in->rwait, has_data, e->data_looks, LOOK_NS, flags);
		if (w < 0)
			return w;
	}
	if (r < 0)
		return r;
	*data = e->in_data + (e->tail & e->mask) + CHAN_REC;
	*len = l;
	e->peeked = rec_size(l);
	return 1;
}

int chan_consume(struct chan_end *e)
{
	if (!e->peeked)
		return -EINVAL;
	e->tail += e->peeked;
	e->peeked = 0;
	/* The room goes back in batches of a sixteenth of the ring, and
	 * whenever this side has taken all it knew of: a producer that caught
	 * up with a full ring then writes a batch at a time, instead of both
	 * sides trading the tail's cache line (and a fence) for every message. */
	if (e->tail - e->published < e->size / 16 && e->tail != e->in_head)
		return 0;
	e->published = e->tail;
	atomic_store_explicit(&e->in->tail, e->tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&e->in->wwait, memory_order_relaxed))
		wake(e, &e->in->wwait);
	return 0;
}

void chan_shutdown(struct chan_end *e)
{
	atomic_store_explicit(&e->shm->closed[e->side], 1, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	wake(e, &e->out->rwait);
	wake(e, &e->in->wwait);
}
