/* raw.c - a bare busd protocol connection for the tests: frames encoded and
 * decoded with libbus/wire.c, no libbus, so a test can break the rules on
 * purpose and see exactly what busd answers. */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "raw.h"
#include "bus.pb-c.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int raw_open(raw_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(c->fd);
		c->fd = -1;
		return e;
	}
	return 0;
}

void raw_close(raw_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	while (c->n_fds)
		close(c->fds[--c->n_fds]);
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = c->consumed = 0;
}

int raw_write(raw_conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int raw_write_fds(raw_conn *c, const void *buf, size_t len, const int *fds, unsigned n)
{
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(256 * sizeof(int))];
	} ctl;
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n > 256)
		return -EINVAL;
	if (n) {
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	}
	ssize_t w;
	do
		w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return raw_write(c, (const uint8_t *)buf + w, len - (size_t)w);
}

int raw_send_fds(raw_conn *c, const wire_header *h, const void *body, size_t body_len,
		 const int *fds, unsigned n)
{
	size_t hl = wire_header_size(h);
	uint8_t *f = malloc(WIRE_PREAMBLE_SIZE + hl + body_len);
	if (!f)
		return -ENOMEM;
	wire_preamble_encode(f, (uint32_t)hl, (uint32_t)body_len);
	wire_header_encode(h, f + WIRE_PREAMBLE_SIZE);
	if (body_len)
		memcpy(f + WIRE_PREAMBLE_SIZE + hl, body, body_len);
	int r = raw_write_fds(c, f, WIRE_PREAMBLE_SIZE + hl + body_len, fds, n);
	free(f);
	return r;
}

int raw_take_fd(raw_conn *c)
{
	if (!c->n_fds)
		return -1;
	int fd = c->fds[0];
	memmove(c->fds, c->fds + 1, --c->n_fds * sizeof(int));
	return fd;
}

int raw_send(raw_conn *c, const wire_header *h, const void *body, size_t body_len)
{
	return raw_send_fds(c, h, body, body_len, NULL, 0);
}

/* A complete frame at the start of the unread bytes: its size, 0 if more
 * bytes are needed, -EPROTO if it cannot be a frame. */
static long frame_ready(raw_conn *c, raw_frame *f)
{
	const uint8_t *p = c->buf + c->consumed;
	size_t avail = c->len - c->consumed;
	wire_preamble pre;
	int r = wire_preamble_decode(p, avail, UINT32_MAX, &pre);
	if (r == WIRE_E_SHORT)
		return 0;
	if (r != WIRE_OK)
		return -EPROTO;
	size_t total = WIRE_PREAMBLE_SIZE + (size_t)pre.header_len + pre.body_len;
	if (avail < total)
		return 0;
	if (wire_header_decode(p + WIRE_PREAMBLE_SIZE, pre.header_len, &f->h) != WIRE_OK)
		return -EPROTO;
	f->body = p + WIRE_PREAMBLE_SIZE + pre.header_len;
	f->body_len = pre.body_len;
	return (long)total;
}

int raw_recv(raw_conn *c, raw_frame *f, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	/* The previous frame's bytes may be dropped now. */
	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->consumed = 0;
	}
	for (;;) {
		long n = frame_ready(c, f);
		if (n < 0)
			return (int)n;
		if (n > 0) {
			c->consumed = (size_t)n;
			return 1;
		}
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 131072;
			uint8_t *b = realloc(c->buf, cap);
			if (!b)
				return -ENOMEM;
			c->buf = b;
			c->cap = cap;
		}
		union {
			struct cmsghdr align;
			uint8_t buf[CMSG_SPACE(64 * sizeof(int))];
		} ctl;
		struct iovec iov = { c->buf + c->len, c->cap - c->len };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				      .msg_controllen = CMSG_SPACE((64 - c->n_fds) * sizeof(int)) };
		ssize_t got = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
		for (struct cmsghdr *cm = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm;
		     cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			memcpy(c->fds + c->n_fds, CMSG_DATA(cm), k * sizeof(int));
			c->n_fds += (unsigned)k;
		}
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return errno == ECONNRESET ? 0 : -errno;
		if (got == 0)
			return 0;
		c->len += (size_t)got;
	}
}

int raw_wait_eof(raw_conn *c, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	uint8_t junk[4096];
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return 0;
		ssize_t got = recv(c->fd, junk, sizeof(junk), 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return 1;
	}
}

int raw_call(raw_conn *c, const char *dest, const char *method, const char *body_type,
	     const void *body, size_t len)
{
	wire_header h = {
		.kind = WIRE_KIND_CALL,
		.serial = ++c->serial,
		.destination = wire_str_c(dest),
		.member = wire_str_c(method),
		.body_type = wire_str_c(body_type),
	};
	return raw_send(c, &h, body, len);
}

int raw_recv_reply(raw_conn *c, uint64_t serial, raw_frame *f, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		int r = raw_recv(c, f, (int)(deadline - now));
		if (r <= 0)
			return r;
		if ((f->h.kind == WIRE_KIND_REPLY || f->h.kind == WIRE_KIND_ERROR) &&
		    f->h.reply_serial == serial)
			return 1;
	}
}

int raw_hello(raw_conn *c, uint32_t version, raw_frame *f, int timeout_ms)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	uint8_t body[64];
	req.protocol_version = version;
	req.client = (char *)"busd tests (raw)";
	size_t len = bus__hello_request__pack(&req, body);
	int r = raw_call(c, "bus", "Hello", "bus.HelloRequest", body, len);
	if (r < 0)
		return r;
	r = raw_recv_reply(c, c->serial, f, timeout_ms);
	if (r <= 0)
		return r == 0 ? -ECONNRESET : r;
	if (f->h.kind != WIRE_KIND_REPLY)
		return -EREMOTE;
	Bus__HelloReply *rep = bus__hello_reply__unpack(NULL, f->body_len, f->body);
	if (!rep)
		return -EBADMSG;
	snprintf(c->unique, sizeof(c->unique), "%s", rep->unique_name);
	bus__hello_reply__free_unpacked(rep, NULL);
	return 0;
}

int raw_control(raw_conn *c, const char *method, const ProtobufCMessage *req,
		raw_frame *f, int timeout_ms)
{
	size_t len = protobuf_c_message_get_packed_size(req);
	uint8_t *body = malloc(len ? len : 1);
	if (!body)
		return -ENOMEM;
	protobuf_c_message_pack(req, body);
	int r = raw_call(c, "bus", method, req->descriptor->name, body, len);
	free(body);
	if (r < 0)
		return r;
	r = raw_recv_reply(c, c->serial, f, timeout_ms);
	if (r <= 0)
		return r == 0 ? -ECONNRESET : r;
	return f->h.kind == WIRE_KIND_REPLY ? 0 : -EREMOTE;
}

int raw_subscribe(raw_conn *c, const char *pattern, raw_frame *f)
{
	Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
	req.pattern = (char *)pattern;
	return raw_control(c, "Subscribe", &req.base, f, 5000);
}

int raw_unsubscribe(raw_conn *c, const char *pattern, raw_frame *f)
{
	Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
	req.pattern = (char *)pattern;
	return raw_control(c, "Unsubscribe", &req.base, f, 5000);
}

const char *raw_str(wire_str s, char *buf, size_t len)
{
	size_t n = s.len < len - 1 ? s.len : len - 1;
	if (n)
		memcpy(buf, s.ptr, n);
	buf[n] = 0;
	return buf;
}
