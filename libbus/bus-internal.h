/* bus-internal.h - the libbus connection object and the interfaces between its
 * modules: transport and buffers (conn.c), pending calls (call.c), serving
 * (serve.c), proxies (proxy.c), subscriptions (event.c), loops (loop.c,
 * attach.c) and the connection's lifetime (bus.c).
 *
 * Internal functions are named module_verb and never start with "bus_": the
 * library exports only bus_* symbols (see Makefile.am). */
#ifndef BUS_INTERNAL_H
#define BUS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "bus/bus.h"
#include "wire.h"

/* The largest frame libbus accepts from the broker: 64 MiB, four times the
 * broker's default --max-frame-size so that a broker configured for larger
 * frames still works. A bigger incoming frame is a protocol error (the
 * connection is dropped); a bigger outgoing one fails with -EMSGSIZE. */
#define CONN_MAX_FRAME (64u * 1024u * 1024u)

/* Room read() gets at least, so that small frames arrive in batches. */
#define CONN_READ_CHUNK (64u * 1024u)

/* Control calls to "bus" and Hello give up after this long: the broker
 * answers at once, so only a wedged broker ever hits it. */
#define CONN_CONTROL_TIMEOUT (25ull * 1000000ull)

/* A byte buffer: live bytes are data[start, end). */
struct conn_buf {
	uint8_t *data;
	size_t start, end, cap;
};

enum conn_state {
	CONN_UP,   /* connected */
	CONN_LOST, /* the transport is gone; bus_process() has not reported it yet */
	CONN_DOWN, /* loss reported: pending calls failed, disconnect handler ran */
};

struct pending;
struct export;
struct incall;
struct sub;
struct proxy;
struct attach;

struct bus {
	int fd;                 /* -1 once the transport is gone */
	enum conn_state state;
	int closing;            /* bus_close() was called */
	unsigned hold;          /* API calls on the stack that may run callbacks */
	uint64_t serial;        /* last serial used */
	char *unique;           /* ":N" from HelloReply */

	struct conn_buf in, out;
	unsigned in_pins;       /* frames being dispatched straight from in.data */
	uint8_t **retired;      /* input buffers replaced while pinned */
	size_t n_retired, cap_retired;
	char lost_reason[256];  /* why the transport went away */
	bus_error_t notice;     /* the broker's ERROR explaining a close, if any */

	/* Pending outgoing calls (call.c): hash of serials, deadline list. */
	struct pending **buckets;
	size_t n_buckets, n_pending;
	struct pending *due_first, *due_last;
	struct pending *spare;  /* recycled entries */
	unsigned n_spare;

	struct export *exports; /* serve.c */
	struct incall *incalls; /* calls being served, not yet answered */
	struct sub *subs;       /* event.c */
	int last_sub_id;
	unsigned sub_walks;     /* event dispatches in progress */
	int subs_dead;          /* unsubscribed entries waiting to be freed */
	struct proxy *proxies;  /* proxy.c */

	bus_monitor_fn monitor;
	void *monitor_data;
	bus_disconnect_fn on_disconnect;
	void *disconnect_data;

	struct attach *attach;  /* attach.c: libevent glue, NULL when detached */
	int exit_requested, exit_code;

	unsigned corked;        /* dispatching a batch: frames queue, one write after */
	uint64_t rcvtimeo;      /* SO_RCVTIMEO now set on fd, usec (0: none) */
};

/* A frame found in the input buffer; h's strings and body point into it. */
struct conn_frame {
	size_t len;             /* whole frame, preamble included */
	wire_header h;
	const uint8_t *body;
	uint32_t body_len;
};

/* Room for the NUL-terminated strings of a bus_msg_t: the common case fits
 * on the stack, larger headers spill to the heap (see conn_msg_make). */
struct conn_msg_strings {
	char buf[2048];
	char *heap;
};

static inline int conn_usable(const bus_t *bus)
{
	return bus->state == CONN_UP && !bus->closing;
}

/* ---- bus.c: lifetime ---- */

/* Callbacks may call bus_close(). Code that runs callbacks holds the
 * connection; bus_close() on a held connection only marks it, and the last
 * lifetime_drop() frees it. lifetime_drop() returns 1 if bus is now freed. */
void lifetime_hold(bus_t *bus);
int lifetime_drop(bus_t *bus);
/* A control call to "bus": request packed from req, reply unpacked with
 * reply_desc into *reply (if reply is not NULL). Returns as bus_call(). */
int lifetime_announce_export(bus_t *bus, const char *name, const char *service, int remove);
int lifetime_control(bus_t *bus, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
		     bus_error_t *err);

/* ---- conn.c: transport and frames ---- */

uint64_t conn_now(void);
uint64_t conn_next_serial(bus_t *bus);
/* Check h as the broker would, then queue the frame: the body is len bytes
 * at body, or msg packed straight into the output buffer. Writes at once if
 * nothing was queued before. Returns 0, -EINVAL (why in *why when not NULL),
 * -EMSGSIZE, -ENOMEM or -ECONNRESET. */
int conn_send(bus_t *bus, wire_header *h, const void *body, size_t len,
	      const ProtobufCMessage *msg, const char **why);
/* Write queued output without blocking. Returns bytes written, 0, or
 * -ECONNRESET (the connection is then lost). */
int conn_write(bus_t *bus);
/* One read() into the input buffer. Returns bytes read, 0 (nothing there),
 * -ECONNRESET (EOF or error: the connection is then lost) or -ENOMEM. */
int conn_read(bus_t *bus);
/* Block in recv() until input arrives or deadline (CLOCK_MONOTONIC usec,
 * UINT64_MAX: none) passes: 1 when bytes were read, 0 on the deadline or a
 * signal, -ECONNRESET when the connection is gone, -ENOMEM. The socket is
 * in blocking mode for this; every other read and write says MSG_DONTWAIT.
 * A sync call thus costs one send() and, commonly, one recv(). */
int conn_read_wait(bus_t *bus, uint64_t deadline);
/* Parse the frame at in.data + off (off >= in.start). Returns 1 with f
 * filled, 0 when incomplete, -EPROTO when the stream is broken (the
 * connection is then lost). */
int conn_frame_at(bus_t *bus, size_t off, struct conn_frame *f);
/* 1 if a complete frame waits at in.start (or a loss waits to be reported). */
int conn_has_work(bus_t *bus);
/* Give up the transport: remember why, drain what is readable when drain is
 * set (the broker's last ERROR), close the socket. */
void conn_lose(bus_t *bus, int drain, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fill m from f with NUL-terminated copies of the header strings. Returns 0
 * or -ENOMEM; release with conn_msg_done(). */
int conn_msg_make(const struct conn_frame *f, bus_msg_t *m, struct conn_msg_strings *s);
void conn_msg_done(struct conn_msg_strings *s);
/* Remove the frame at in.data + off of length len from the input. */
void conn_remove(bus_t *bus, size_t off, size_t len);
/* Dispatching a frame in place: pin the input so nested reads do not move
 * the frame's bytes; unpinning frees buffers retired meanwhile. */
void conn_pin(bus_t *bus);
void conn_unpin(bus_t *bus);
/* Remember a broker notice (ERROR from "bus" that answers nothing). */
void conn_note(bus_t *bus, const bus_msg_t *m);
/* The bus.Error.Disconnected message for this connection. */
void conn_disconnected(const bus_t *bus, bus_error_t *err);
void conn_free_buffers(bus_t *bus);

/* ---- call.c: pending calls ---- */

/* A call waiting for its REPLY or ERROR: untyped (cb) or from a proxy. */
struct pending {
	uint64_t serial;
	uint64_t deadline;           /* absolute CLOCK_MONOTONIC usec, 0: none */
	struct pending *hash_next;
	struct pending *due_prev, *due_next;
	struct pending *proxy_prev, *proxy_next;
	bus_reply_fn cb;             /* untyped async call */
	void *userdata;
	struct proxy *proxy;         /* proxy call: method, closure */
	unsigned method;
	ProtobufCClosure closure;
	void *closure_data;
	const char *fail_name;       /* set: fail at the next bus_process() */
	int fail_errno;
};

/* Sync wait: fn sees the REPLY while its frame is still buffered; it fills
 * err when it fails. */
typedef int (*call_sync_fn)(bus_t *bus, const bus_msg_t *reply, void *ud, bus_error_t *err);
/* Send h (a CALL; serial assigned here) and wait for its answer without
 * dispatching anything else. Returns fn's result on REPLY (0 if fn is NULL),
 * -EREMOTE on ERROR, -ETIMEDOUT, -ECONNRESET, -EINVAL, -ENOMEM, -EMSGSIZE;
 * err is filled for every failure. */
int call_sync(bus_t *bus, wire_header *h, const void *body, size_t len,
	      const ProtobufCMessage *msg, uint64_t timeout_usec, bus_error_t *err,
	      call_sync_fn fn, void *ud);
/* Register a pending call (serial already sent). Returns NULL on ENOMEM. */
struct pending *call_add(bus_t *bus, uint64_t serial, uint64_t timeout_usec);
/* A pending entry that fails with name at the next bus_process(). */
struct pending *call_add_failed(bus_t *bus, const char *name, int errnum);
/* Take a pending call out of every list (not freed). */
void call_unlink(bus_t *bus, struct pending *p);
void call_recycle(bus_t *bus, struct pending *p);
/* Complete p (already unlinked) with reply or err, then recycle it. */
void call_complete(bus_t *bus, struct pending *p, const bus_msg_t *reply, const bus_error_t *err);
/* Dispatch a REPLY/ERROR. */
void call_dispatch(bus_t *bus, const bus_msg_t *m);
/* Fail calls past their deadline with bus.Error.Timeout (and pre-failed
 * ones). Returns how many completed. */
int call_expire(bus_t *bus, uint64_t now);
/* Fail every pending call with err. */
void call_fail_all(bus_t *bus, const bus_error_t *err);
uint64_t call_next_deadline(const bus_t *bus);
void call_free_all(bus_t *bus);

/* ---- serve.c ---- */

void serve_dispatch(bus_t *bus, const bus_msg_t *m);
void serve_free_all(bus_t *bus);

/* ---- proxy.c ---- */

/* Run a proxy call's closure for a REPLY (unpacked here) or an error. */
void proxy_complete(struct pending *p, const bus_msg_t *reply, const bus_error_t *err);
/* The head of a proxy's list of pending async calls. */
struct pending **proxy_calls(struct proxy *proxy);
/* The connection is going away: proxies outlive it, detached. */
void proxy_detach_all(bus_t *bus);

/* ---- event.c ---- */

void sub_dispatch(bus_t *bus, const bus_msg_t *m);
void sub_free_all(bus_t *bus);

/* ---- loop.c / attach.c ---- */

/* Something changed that a loop must know about (output queued, a new
 * deadline, deferred frames): re-arm the libevent glue when attached. */
void loop_changed(bus_t *bus);
/* bus_process() body; returns as bus_process(). Sets *freed when a callback
 * closed the connection and it was freed on the way out. */
int loop_process(bus_t *bus, int *freed);
void attach_update(bus_t *bus);
void attach_free(bus_t *bus);

/* ---- error.c ---- */

void error_setv(bus_error_t *e, const char *name, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Set e from an ERROR frame's name and message. */
void error_from_msg(bus_error_t *e, const bus_msg_t *m);

#endif
