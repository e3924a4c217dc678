/* raw.h - a bare protocol connection for tests that must send what libbus
 * never would (spoofed senders, garbage, broken preambles): frames are built
 * and parsed with the shared codec, libbus/wire.c. */
#ifndef BUSD_TEST_RAW_H
#define BUSD_TEST_RAW_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "wire.h"

typedef struct raw_conn {
	int fd;
	uint64_t serial;   /* last serial used by raw_call() */
	char unique[64];   /* from raw_hello() */
	uint8_t *buf;      /* received bytes */
	size_t len, cap, consumed;
	int fds[64];       /* descriptors received (SCM_RIGHTS), in order */
	unsigned n_fds;
} raw_conn;

/* A received frame; strings and body point into the connection's buffer and
 * stay valid until the next raw_recv(). */
typedef struct raw_frame {
	wire_header h;
	const uint8_t *body;
	size_t body_len;
} raw_frame;

/* Connect to busd at path (no Hello). Returns 0 or -errno. */
int raw_open(raw_conn *c, const char *path);
void raw_close(raw_conn *c);

/* Write all bytes / one frame. Returns 0 or -errno. */
int raw_write(raw_conn *c, const void *buf, size_t len);
int raw_send(raw_conn *c, const wire_header *h, const void *body, size_t body_len);
/* The same with n descriptors passed (SCM_RIGHTS) in the first sendmsg(),
 * whatever h->fd_count says. */
int raw_write_fds(raw_conn *c, const void *buf, size_t len, const int *fds, unsigned n);
int raw_send_fds(raw_conn *c, const wire_header *h, const void *body, size_t body_len,
		 const int *fds, unsigned n);
/* The first descriptor received and not taken yet (the caller owns it), or
 * -1. raw_close() closes those not taken. */
int raw_take_fd(raw_conn *c);

/* Receive one frame. Returns 1 with *f filled, 0 on EOF, -ETIMEDOUT, or
 * -EPROTO if busd sent something the codec rejects. */
int raw_recv(raw_conn *c, raw_frame *f, int timeout_ms);

/* Read until EOF, discarding frames: 1 on EOF, 0 on timeout. */
int raw_wait_eof(raw_conn *c, int timeout_ms);

/* Send a CALL (serial chosen from c->serial) with a protobuf-c body. */
int raw_call(raw_conn *c, const char *dest, const char *method, const char *body_type,
	     const void *body, size_t len);

/* Hello with the given protocol version; on success (REPLY) stores the
 * unique name. Returns 0, or -EREMOTE with the error name in *f. */
int raw_hello(raw_conn *c, uint32_t version, raw_frame *f, int timeout_ms);

/* Receive frames until one answers serial (REPLY or ERROR) or timeout. */
int raw_recv_reply(raw_conn *c, uint64_t serial, raw_frame *f, int timeout_ms);

/* A call to busd's control service with a protobuf-c request (body type
 * from its descriptor). Returns 0 on REPLY, -EREMOTE on ERROR (both in *f),
 * or a negative errno. Other frames arriving meanwhile are discarded. */
int raw_control(raw_conn *c, const char *method, const ProtobufCMessage *req,
		raw_frame *f, int timeout_ms);
/* Subscribe / Unsubscribe pattern through raw_control. */
int raw_subscribe(raw_conn *c, const char *pattern, raw_frame *f);
int raw_unsubscribe(raw_conn *c, const char *pattern, raw_frame *f);

/* Copy a wire string into a NUL-terminated buffer (for messages). */
const char *raw_str(wire_str s, char *buf, size_t len);

#endif
