/* channel.c - shared-memory channels (<bus/channel.h>): making the shared
 * area (a sealed memfd) and the socket pair that goes with it, handing the
 * other side's descriptors over in a reply through busd, checking and
 * mapping what a client receives, and closing. The rings themselves are
 * chan-ring.c's.
 *
 * Each ring is mapped twice in a row, so that a record running past the
 * ring's end is contiguous in memory: sending and receiving are one
 * memcpy(), and bus_channel_peek() can hand out a pointer. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus/channel.h>

#include "chan-ring.h"

struct bus_channel {
	struct chan_end e;
	void *map;        /* the whole reservation: header, then each ring twice */
	size_t map_len;
	int peer_fds[2];  /* the other side's until handed over: memfd, socket */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Map memfd's header and its two rings (each twice) into one reservation. */
static int map_area(bus_channel_t *ch, int memfd, uint64_t size, unsigned side)
{
	size_t len = CHAN_HEADER + 4 * (size_t)size;
	uint8_t *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (base == MAP_FAILED)
		return -errno;
	ch->map = base;
	ch->map_len = len;
	if (mmap(base, CHAN_HEADER, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) ==
	    MAP_FAILED)
		return -errno;
	for (unsigned i = 0; i < 4; i++) {
		off_t off = CHAN_HEADER + (off_t)(i / 2) * (off_t)size;
		if (mmap(base + CHAN_HEADER + i * size, size, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_FIXED, memfd, off) == MAP_FAILED)
			return -errno;
	}
	struct chan_end *e = &ch->e;
	uint8_t *ring[2] = { base + CHAN_HEADER, base + CHAN_HEADER + 2 * size };
	e->shm = (struct chan_shm *)base;
	e->size = size;
	e->mask = size - 1;
	e->side = side;
	e->out = &e->shm->ring[side];
	e->in = &e->shm->ring[side ^ 1u];
	e->out_data = ring[side];
	e->in_data = ring[side ^ 1u];
	e->data_looks = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? CHAN_DATA_LOOKS : 0;
	return 0;
}

static bus_channel_t *channel_alloc(void)
{
	bus_channel_t *ch = calloc(1, sizeof(*ch));

	if (ch) {
		ch->e.sock = -1;
		ch->peer_fds[0] = ch->peer_fds[1] = -1;
	}
	return ch;
}

int bus_channel_new(bus_channel_t **chp, size_t ring_bytes)
{
	uint64_t size = BUS_CHANNEL_MIN_RING;
	int memfd = -1, sv[2] = { -1, -1 }, r;

	if (!chp || ring_bytes > BUS_CHANNEL_MAX_RING)
		return -EINVAL;
	while (size < ring_bytes)
		size <<= 1;
	bus_channel_t *ch = channel_alloc();
	if (!ch)
		return -ENOMEM;
	memfd = memfd_create("busd-channel", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, (off_t)(CHAN_HEADER + 2 * size)) < 0 ||
	    fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = map_area(ch, memfd, size, 0)) < 0)
		goto fail;
	struct chan_shm *shm = ch->e.shm;
	shm->magic = CHAN_MAGIC;
	shm->version = CHAN_VERSION;
	shm->ring_bytes = (uint32_t)size;
	ch->e.sock = sv[0];
	ch->peer_fds[0] = memfd;
	ch->peer_fds[1] = sv[1];
	*chp = ch;
	return 0;
fail:
	close_fd(&memfd);
	close_fd(&sv[0]);
	close_fd(&sv[1]);
	bus_channel_close(ch);
	return r;
}

int bus_channel_take_peer_fds(bus_channel_t *ch, int fds[2])
{
	if (!ch || !fds)
		return -EINVAL;
	if (ch->peer_fds[0] < 0)
		return -EALREADY;
	fds[0] = ch->peer_fds[0];
	fds[1] = ch->peer_fds[1];
	ch->peer_fds[0] = ch->peer_fds[1] = -1;
	return 0;
}

int bus_channel_reply(void *closure_data, const ProtobufCMessage *reply, bus_channel_t *ch)
{
	int fds[2];
	int r = bus_channel_take_peer_fds(ch, fds);

	if (r < 0)
		return r;
	r = bus_reply_fds(closure_data, reply, fds, 2);
	close(fds[0]);
	close(fds[1]);
	return r;
}

/* The memfd a client got: sealed, of the size its header says. */
static int check_area(int memfd, uint64_t *size)
{
	struct stat st;
	uint64_t hdr[2];

	if (fstat(memfd, &st) < 0)
		return -errno;
	int seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW) ||
	    (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		return -EPROTO;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)CHAN_HEADER ||
	    pread(memfd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return -EPROTO;
	uint32_t version = (uint32_t)hdr[1], ring = (uint32_t)(hdr[1] >> 32);
	if (hdr[0] != CHAN_MAGIC || version != CHAN_VERSION || ring < BUS_CHANNEL_MIN_RING ||
	    ring > BUS_CHANNEL_MAX_RING || (ring & (ring - 1)) ||
	    (uint64_t)st.st_size != CHAN_HEADER + 2 * (uint64_t)ring)
		return -EPROTO;
	*size = ring;
	return 0;
}

int bus_channel_from_fds(bus_channel_t **chp, int memfd, int sock)
{
	bus_channel_t *ch = NULL;
	struct stat st;
	uint64_t size = 0;
	int r;

	if (!chp || memfd < 0 || sock < 0)
		r = -EINVAL;
	else if (fstat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
		r = -EPROTO;
	else if ((r = check_area(memfd, &size)) < 0)
		;
	else if (!(ch = channel_alloc()))
		r = -ENOMEM;
	else if ((r = map_area(ch, memfd, size, 1)) == 0) {
		ch->e.sock = sock;
		close(memfd);
		*chp = ch;
		return 0;
	}
	if (memfd >= 0)
		close(memfd);
	if (sock >= 0)
		close(sock);
	bus_channel_close(ch);
	return r;
}

int bus_channel_open(bus_t *bus, const char *dest, const char *interface, const char *method,
		     const char *body_type, const void *body, size_t len, uint64_t timeout_usec,
		     bus_error_t *err, bus_channel_t **chp, void **reply, size_t *reply_len)
{
	int fds[3] = { -1, -1, -1 };
	unsigned n = 3;
	void *rep = NULL;
	size_t rep_len = 0;

	if (!chp)
		return -EINVAL;
	int r = bus_call_fds(bus, dest, interface, method, body_type, body, len, NULL, 0,
			     timeout_usec, err, &rep, &rep_len, fds, &n);
	if (r < 0)
		return r;
	if (n != 2) {
		for (unsigned i = 0; i < n; i++)
			close(fds[i]);
		free(rep);
		bus_error_set(err, BUS_ERROR_FAILED, "%s.%s answered with %u descriptors, not a channel",
			      dest, method, n);
		return -EPROTO;
	}
	if ((r = bus_channel_from_fds(chp, fds[0], fds[1])) < 0) {
		free(rep);
		bus_error_set(err, BUS_ERROR_FAILED, "%s.%s answered with a channel that is not valid: %s",
			      dest, method, strerror(-r));
		return r;
	}
	if (reply) {
		*reply = rep;
		if (reply_len)
			*reply_len = rep_len;
	} else {
		free(rep);
	}
	return 0;
}

ssize_t bus_channel_send(bus_channel_t *ch, const void *buf, size_t len, int flags)
{
	if (!ch || (len && !buf) || (flags & ~BUS_CHANNEL_NONBLOCK))
		return -EINVAL;
	return chan_send(&ch->e, buf, len, flags);
}

int bus_channel_peek(bus_channel_t *ch, const void **data, size_t *len, int flags)
{
	if (!ch || !data || !len || (flags & ~BUS_CHANNEL_NONBLOCK))
		return -EINVAL;
	return chan_peek(&ch->e, data, len, flags);
}

int bus_channel_consume(bus_channel_t *ch)
{
	return ch ? chan_consume(&ch->e) : -EINVAL;
}

ssize_t bus_channel_recv(bus_channel_t *ch, void *buf, size_t cap, int flags)
{
	const void *data;
	size_t len;

	if (!ch || (cap && !buf) || (flags & ~BUS_CHANNEL_NONBLOCK))
		return -EINVAL;
	int r = chan_peek(&ch->e, &data, &len, flags);
	if (r <= 0)
		return r;
	if (len > cap) {
		ch->e.peeked = 0;
		return -EMSGSIZE;
	}
	memcpy(buf, data, len);
	chan_consume(&ch->e);
	return (ssize_t)len;
}

int bus_channel_get_fd(const bus_channel_t *ch)
{
	return ch ? ch->e.sock : -EINVAL;
}

size_t bus_channel_max_message(const bus_channel_t *ch)
{
	return ch ? (size_t)(ch->e.size - CHAN_REC) : 0;
}

void bus_channel_close(bus_channel_t *ch)
{
	if (!ch)
		return;
	if (ch->e.shm)
		chan_shutdown(&ch->e);
	if (ch->map)
		munmap(ch->map, ch->map_len);
	close_fd(&ch->e.sock);
	close_fd(&ch->peer_fds[0]);
	close_fd(&ch->peer_fds[1]);
	free(ch);
}
