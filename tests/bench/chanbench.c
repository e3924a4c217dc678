/* chanbench.c - one-way messages between two processes through shared
 * memory: the floor (the simplest correct single-producer single-consumer
 * ring with a futex for each side, in a memfd: records of a 4-byte length
 * and the bytes, 8-byte aligned, copied in two pieces where they wrap; no
 * checks of what the other side wrote, no peer-death detection, every
 * index loaded from the shared line each time) and a libbus channel (the
 * same job with every rule of <bus/channel.h>), in turns in the same run,
 * and a tuned floor between them: the same ring doing what the channel
 * does for speed (the other side's index cached, loaded only when the ring
 * looks empty or full; the tail published every sixteenth of the ring or
 * when the consumer has caught up), so that the cost of the channel's
 * checks, waits and API shows apart.
 * The producer is busbench (CPU 0), the consumer a child (the broker's
 * CPU 1, when pinned): it copies each message out, as a receiver that
 * keeps it does. Messages of 64 B and of 64 KiB, each side sending for
 * w->seconds; a 1-byte message ends the stream. */
#include "config.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/channel.h>

#include "chanbench.h"

#define RING CHANBENCH_RING
#define MAX_BODY (64 * 1024)

/* ---------------------------------------------------------------- floor */

struct floor_ctl {
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) _Atomic uint32_t wait_data;
	_Alignas(64) _Atomic uint32_t wait_room;
};

struct floor_ring {
	struct floor_ctl *c;
	uint8_t *data;
	int cached;     /* the tuned floor: the other side's index cached, the
	                 * tail published in batches, as the channel does */
	uint64_t other; /* its value as last loaded */
	uint64_t mine, published; /* the consumer's tail, and as published */
};

static void futex(_Atomic uint32_t *w, int op, uint32_t val)
{
	syscall(SYS_futex, (uint32_t *)w, op, val, NULL, NULL, 0);
}

/* Copy len bytes in or out of the ring at position pos, wrapping. */
static void ring_copy(uint8_t *ring, uint64_t pos, void *buf, size_t len, int out)
{
	size_t at = (size_t)(pos % RING), first = len < RING - at ? len : RING - at;
	uint8_t *b = buf;

	if (out) {
		memcpy(b, ring + at, first);
		memcpy(b + first, ring, len - first);
	} else {
		memcpy(ring + at, b, first);
		memcpy(ring, b + first, len - first);
	}
}

/* Room for need bytes at head; the simplest floor loads the tail each time,
 * the tuned one only when its last value says there is none. */
static int floor_room(struct floor_ring *r, uint64_t head, uint64_t need)
{
	if (r->cached && RING - (head - r->other) >= need)
		return 1;
	r->other = atomic_load_explicit(&r->c->tail, memory_order_acquire);
	return RING - (head - r->other) >= need;
}

/* A message at tail, likewise. */
static int floor_avail(struct floor_ring *r, uint64_t tail)
{
	if (r->cached && r->other != tail)
		return 1;
	r->other = atomic_load_explicit(&r->c->head, memory_order_acquire);
	return r->other != tail;
}

static void floor_put(struct floor_ring *r, const void *buf, uint32_t len)
{
	struct floor_ctl *c = r->c;
	uint64_t head = atomic_load_explicit(&c->head, memory_order_relaxed);
	uint64_t need = 8 + ((len + 7u) & ~7u);

	while (!floor_room(r, head, need)) {
		atomic_store(&c->wait_room, 1);
		if (floor_room(r, head, need)) {
			atomic_store(&c->wait_room, 0);
			break;
		}
		futex(&c->wait_room, FUTEX_WAIT, 1);
	}
	ring_copy(r->data, head, &len, 4, 0);
	ring_copy(r->data, head + 8, (void *)buf, len, 0);
	atomic_store_explicit(&c->head, head + need, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->wait_data, memory_order_relaxed)) {
		atomic_store(&c->wait_data, 0);
		futex(&c->wait_data, FUTEX_WAKE, 1);
	}
}

static uint32_t floor_get(struct floor_ring *r, void *buf)
{
	struct floor_ctl *c = r->c;
	uint64_t tail = r->mine;
	uint32_t len;

	while (!floor_avail(r, tail)) {
		atomic_store(&c->wait_data, 1);
		if (floor_avail(r, tail)) {
			atomic_store(&c->wait_data, 0);
			break;
		}
		futex(&c->wait_data, FUTEX_WAIT, 1);
	}
	ring_copy(r->data, tail, &len, 4, 1);
	ring_copy(r->data, tail + 8, buf, len, 1);
	r->mine = tail += 8 + ((len + 7u) & ~7u);
	if (r->cached && tail - r->published < RING / 16 && tail != r->other)
		return len;
	r->published = tail;
	atomic_store_explicit(&c->tail, tail, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->wait_room, memory_order_relaxed)) {
		atomic_store(&c->wait_room, 0);
		futex(&c->wait_room, FUTEX_WAKE, 1);
	}
	return len;
}

/* ---------------------------------------------------------------- the runs */

/* What a consumer does with each side's receive. */
typedef long (*get_fn)(void *ctx, void *buf);

static long get_floor(void *ctx, void *buf)
{
	return floor_get(ctx, buf);
}

static long get_chan(void *ctx, void *buf)
{
	return bus_channel_recv(ctx, buf, MAX_BODY, 0);
}

/* The consumer: count messages until the 1-byte one, then say when. */
static void consume(struct shared *sh, get_fn get, void *ctx)
{
	uint8_t *buf = malloc(MAX_BODY);
	uint64_t n = 0, bytes = 0;
	long len;

	if (!buf)
		_exit(1);
	pin_broker();
	atomic_store(&sh->ready, 1);
	while ((len = get(ctx, buf)) > 1) {
		n++;
		bytes += (uint64_t)len;
	}
	atomic_store(&sh->t_last_ns[0], now_ns());
	atomic_store(&sh->received[0], n);
	free(buf);
}

/* The producer: send w->body-byte messages for w->seconds, then the end. */
static void produce(const struct workload *w, struct shared *sh, pid_t child, struct result *r,
		    void (*put)(void *ctx, const void *buf, size_t len), void *ctx)
{
	uint8_t *body = malloc(w->body);
	uint64_t sent = 0;

	if (!body)
		die("out of memory");
	memset(body, 0xa5, w->body);
	shared_wait_ready(sh, 1);
	uint64_t t0 = now_ns(), until = t0 + (uint64_t)(w->seconds * 1e9);
	for (;; sent++) {
		if (time_to_look(w, sent) && now_ns() >= until)
			break;
		put(ctx, body, w->body);
	}
	put(ctx, body, 1);
	int st;
	if (waitpid(child, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("chanbench: the consumer failed");
	uint64_t got = atomic_load(&sh->received[0]);
	if (got != sent)
		die("chanbench: %llu messages sent, %llu received", (unsigned long long)sent,
		    (unsigned long long)got);
	double secs = (double)(atomic_load(&sh->t_last_ns[0]) - t0) / 1e9;
	r->rate = (double)got / secs;
	r->mbps = r->rate * (double)w->body / 1e6;
	free(body);
}

static void put_floor(void *ctx, const void *buf, size_t len)
{
	floor_put(ctx, buf, (uint32_t)len);
}

static void put_chan(void *ctx, const void *buf, size_t len)
{
	if (bus_channel_send(ctx, buf, len, 0) != (ssize_t)len)
		die("chanbench: bus_channel_send failed");
}

static void floor_run(const struct workload *w, struct result *r, int cached)
{
	struct shared *sh = shared_new();
	int fd = memfd_create("chanbench-floor", MFD_CLOEXEC);

	if (fd < 0 || ftruncate(fd, 4096 + RING) < 0)
		die("memfd: %s", strerror(errno));
	uint8_t *area = mmap(NULL, 4096 + RING, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (area == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	close(fd);
	struct floor_ring ring = { (struct floor_ctl *)area, area + 4096, cached, 0, 0, 0 };
	pid_t child = fork_child();
	if (child == 0) {
		consume(sh, get_floor, &ring);
		_exit(0);
	}
	produce(w, sh, child, r, put_floor, &ring);
	munmap(area, 4096 + RING);
	shared_free(sh);
}

static void floor_oneway(const struct workload *w, struct result *r)
{
	floor_run(w, r, 0);
}

static void floor_cached_oneway(const struct workload *w, struct result *r)
{
	floor_run(w, r, 1);
}

static void chan_oneway(const struct workload *w, struct result *r)
{
	struct shared *sh = shared_new();
	bus_channel_t *ch;
	int fds[2], e;

	if ((e = bus_channel_new(&ch, RING)) < 0 || (e = bus_channel_take_peer_fds(ch, fds)) < 0)
		die("bus_channel_new: %s", strerror(-e));
	pid_t child = fork_child();
	if (child == 0) {
		bus_channel_t *other;
		if (bus_channel_from_fds(&other, fds[0], fds[1]) < 0)
			_exit(1);
		consume(sh, get_chan, other);
		bus_channel_close(other);
		_exit(0);
	}
	close(fds[0]);
	close(fds[1]);
	produce(w, sh, child, r, put_chan, ch);
	bus_channel_close(ch);
	shared_free(sh);
}

void chanbench_run(struct chanbench *cb, int runs, int quick)
{
	static const size_t sizes[2] = { 64, MAX_BODY };
	struct workload w = { .seconds = quick ? 0.3 : 2.0, .window = 128, .subscribers = 1 };
	measure_fn fns[3] = { floor_oneway, floor_cached_oneway, chan_oneway };

	cb->seconds = w.seconds;
	for (int s = 0; s < 2; s++) {
		struct result out[3];
		w.body = sizes[s];
		measure(runs, &w, fns, out, 3);
		cb->floor[s] = out[0];
		cb->tuned[s] = out[1];
		cb->chan[s] = out[2];
	}
	measure_fn call[1] = { bus_pipelined };
	w.body = 64;
	measure(runs, &w, call, &cb->call, 1);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

void chanbench_print_table(const struct chanbench *cb)
{
	printf("\nShared-memory channels: one-way between two processes, %.1f s each, 1 MiB rings\n",
	       cb->seconds);
	printf("  %-24s %11s %11s %11s %9s %9s\n", "", "shm floor", "tuned", "channel",
	       "ch/floor", "ch/tuned");
	printf("  %-24s %11.0f %11.0f %11.0f %8.2fx %8.2fx\n", "64 B messages/s",
	       cb->floor[0].rate, cb->tuned[0].rate, cb->chan[0].rate,
	       ratio(cb->chan[0].rate, cb->floor[0].rate), ratio(cb->chan[0].rate, cb->tuned[0].rate));
	printf("  %-24s %11.0f %11.0f %11.0f %8.2fx %8.2fx\n", "64 KiB MB/s", cb->floor[1].mbps,
	       cb->tuned[1].mbps, cb->chan[1].mbps, ratio(cb->chan[1].mbps, cb->floor[1].mbps),
	       ratio(cb->chan[1].mbps, cb->tuned[1].mbps));
	printf("  %-24s %11.0f %23s %8.1fx\n", "busd 64 B calls/s (w128)", cb->call.rate, "",
	       ratio(cb->chan[0].rate, cb->call.rate));
	printf("  (tuned: the floor with the channel's index caching and batched tail;\n"
	       "  the last ratio: channel 64 B messages/s over busd's pipelined calls/s)\n");
}

void chanbench_print_json(const struct chanbench *cb)
{
	printf("  \"channels\": {\n    \"seconds\": %.1f, \"ring_bytes\": %d,\n", cb->seconds, RING);
	printf("    \"floor_64\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->floor[0].rate,
	       cb->floor[0].mbps);
	printf("    \"channel_64\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->chan[0].rate,
	       cb->chan[0].mbps);
	printf("    \"floor_64k\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->floor[1].rate,
	       cb->floor[1].mbps);
	printf("    \"tuned_64\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->tuned[0].rate,
	       cb->tuned[0].mbps);
	printf("    \"tuned_64k\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->tuned[1].rate,
	       cb->tuned[1].mbps);
	printf("    \"channel_64k\": { \"rate\": %.0f, \"mbps\": %.2f },\n", cb->chan[1].rate,
	       cb->chan[1].mbps);
	printf("    \"busd_call_64\": { \"rate\": %.0f },\n", cb->call.rate);
	printf("    \"ratio_64\": %.3f, \"ratio_64k\": %.3f,\n",
	       ratio(cb->chan[0].rate, cb->floor[0].rate),
	       ratio(cb->chan[1].mbps, cb->floor[1].mbps));
	printf("    \"ratio_tuned_64\": %.3f, \"ratio_tuned_64k\": %.3f\n  }",
	       ratio(cb->chan[0].rate, cb->tuned[0].rate),
	       ratio(cb->chan[1].mbps, cb->tuned[1].mbps));
}
