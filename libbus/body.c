/* body.c - out-of-line bodies (docs/protocol.md, "Out-of-line bodies"): a
 * body at least bus_get_memfd_threshold() bytes long travels in a sealed
 * memfd, the frame's last descriptor, instead of through the socket; a
 * received one is checked (libbus trusts no sender to have sealed it, nor
 * a broker to have looked) and mapped read-only, so that the message's
 * body points into the mapping and every API that reads bodies works on it
 * unchanged. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus-internal.h"

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int body_wanted(const bus_t *bus, const wire_header *h, size_t len, unsigned n_fds)
{
	if (!bus->memfd_threshold || len < bus->memfd_threshold || len > bus->max_memfd_body)
		return 0;
	if (n_fds + 1 > bus->max_fds || h->kind == WIRE_KIND_ERROR ||
	    (h->kind == WIRE_KIND_EVENT && n_fds))
		return 0;
	/* busd's own methods take no descriptors. */
	return !wire_str_eq(h->destination, WIRE_BUS_NAME);
}

/* Write len bytes of body at the start of fd. */
static int write_all(int fd, const uint8_t *body, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = write(fd, body + done, len - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

/* Packing a message into a memfd: small pieces gather in a stage, large
 * ones (a bytes field's data) are written from where they are. Writing is
 * cheaper than packing into a mapping of the memfd: its pages are then
 * faulted in and zeroed first. */
#define STAGE (64u * 1024u)
struct body_writer {
	ProtobufCBuffer base;
	int fd;
	int err;
	size_t staged;
	uint8_t *stage;
};

static void stage_flush(struct body_writer *w)
{
	if (w->staged && !w->err)
		w->err = write_all(w->fd, w->stage, w->staged);
	w->staged = 0;
}

static void stage_append(ProtobufCBuffer *buf, size_t len, const uint8_t *data)
{
	struct body_writer *w = (struct body_writer *)(void *)buf;

	if (w->err)
		return;
	if (len >= STAGE / 2) {
		stage_flush(w);
		if (!w->err)
			w->err = write_all(w->fd, data, len);
		return;
	}
	if (w->staged + len > STAGE)
		stage_flush(w);
	memcpy(w->stage + w->staged, data, len);
	w->staged += len;
}

int body_make(const void *body, size_t len, const ProtobufCMessage *msg)
{
	int fd = memfd_create("bus-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0) {
		r = -errno;
	} else if (msg) {
		struct body_writer w = { { stage_append }, fd, 0, 0, malloc(STAGE) };
		if (!w.stage) {
			r = -ENOMEM;
		} else {
			protobuf_c_message_pack_to_buffer(msg, &w.base);
			stage_flush(&w);
			r = w.err;
			free(w.stage);
		}
	} else {
		r = write_all(fd, body, len);
	}
	if (r == 0 && fcntl(fd, F_ADD_SEALS, SEALS) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int body_map(int fd, uint64_t size, const void **body, char *why, size_t wlen)
{
	struct stat st = { 0 };
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0) {
		snprintf(why, wlen, "the out-of-line body is not in a memfd (F_GET_SEALS: %s)",
			 strerror(errno));
		return -EBADMSG;
	}
	if ((seals & SEALS) != SEALS) {
		snprintf(why, wlen, "the out-of-line body's memfd is not sealed against every "
			 "change (seals 0x%x)", (unsigned)seals);
		return -EBADMSG;
	}
	if (fstat(fd, &st) < 0 || st.st_size < 0 || (uint64_t)st.st_size != size ||
	    size > SIZE_MAX) {
		snprintf(why, wlen, "the out-of-line body's memfd holds %lld bytes, not the %llu "
			 "its frame says", (long long)st.st_size, (unsigned long long)size);
		return -EBADMSG;
	}
	/* Sealed: the size cannot change under the mapping, so reading it
	 * never faults past the end. */
	void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, wlen, "the out-of-line body of %llu bytes cannot be mapped: %s",
			 (unsigned long long)size, strerror(errno));
		return -ENOMEM;
	}
	*body = p;
	return 0;
}

void body_unmap(const void *body, size_t len)
{
	if (body && len)
		munmap((void *)(uintptr_t)body, len);
}

int bus_set_memfd_threshold(bus_t *bus, size_t bytes)
{
	if (!bus)
		return -EINVAL;
	bus->memfd_threshold = bytes;
	return 0;
}

size_t bus_get_memfd_threshold(const bus_t *bus)
{
	return bus ? bus->memfd_threshold : 0;
}

uint64_t bus_get_max_memfd_body_size(const bus_t *bus)
{
	return bus && bus->max_fds ? bus->max_memfd_body : 0;
}

size_t body_threshold_default(void)
{
	const char *v = getenv("BUS_MEMFD_THRESHOLD");
	char *end;

	if (v && *v) {
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (!errno && !*end && *v != '-')
			return n > SIZE_MAX ? SIZE_MAX : (size_t)n;
	}
	return BUS_MEMFD_THRESHOLD_DEFAULT;
}
