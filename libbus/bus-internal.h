/* bus-internal.h - the libbus connection object and the interfaces between its
 * modules: transport and buffers (conn.c), pending calls (call.c), serving
 * (serve.c), proxies (proxy.c), subscriptions (event.c), loops (loop.c,
 * attach.c) and the connection's lifetime (bus.c).
 *
 * Internal functions are named module_verb and never start with "bus_": the
 * library exports only the bus_* API (libbus/libbus.sym). */
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

/* Reconnecting (bus_set_reconnect): the first retry comes after
 * RETRY_MIN, each failed one doubles the delay up to RETRY_MAX, and every
 * delay is drawn from [d/2, d] so that the clients of a restarted busd do
 * not all knock at once. The control calls that restore a connection's
 * state give up after RESTORE_TIMEOUT: this runs inside bus_process(), and a
 * fresh broker that cannot answer that fast is retried later instead. */
#define RETRY_MIN (50ull * 1000ull)
#define RETRY_MAX (2ull * 1000000ull)
#define RESTORE_TIMEOUT (5ull * 1000000ull)

/* A byte buffer: live bytes are data[start, end). */
struct conn_buf {
	uint8_t *data;
	size_t start, end, cap;
};

enum conn_state {
	CONN_UP,   /* connected */
	CONN_LOST, /* the transport is gone; bus_process() has not reported it yet */
	CONN_DOWN, /* loss reported: pending calls failed, disconnect handler ran */
	CONN_RETRY, /* loss reported, reconnecting: the next try is due at retry_at */
};

struct pending;
struct export;
struct incall;
struct sub;
struct proxy;
struct attach;
struct kept;
struct watch;

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

	/* Reconnecting (reconnect.c). What was registered with the broker is kept
	 * here (or in exports/subs/watches) so that a new connection can be
	 * given the same state; generation counts connections, so that an
	 * answer to a call served on an earlier one is never sent on a later. */
	char *address;          /* the socket path connected to */
	int reconnect;          /* bus_set_reconnect() */
	uint64_t retry_at;      /* CONN_RETRY: next try, CLOCK_MONOTONIC usec */
	uint64_t retry_delay;   /* current backoff step, usec */
	uint64_t rand_state;    /* xorshift64 state for the jitter */
	unsigned generation;
	struct kept *names;     /* well-known names owned */
	struct kept *schemas;   /* bytes given to bus_add_schema() */
	bus_connection_fn on_connection;
	void *connection_data;

	struct watch *watches;  /* event.c: bus_watch_name() */
	int last_watch_id;
	int watch_sub;          /* subscription to bus.NameOwnerChanged, 0: none */
	unsigned watch_walks;   /* watch reports in progress */
	int watches_dead;

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

/* Lost, but a new connection will be tried: state given meanwhile
 * (subscriptions, schemas, exports) is kept for it instead of failing. */
static inline int conn_reconnecting(const bus_t *bus)
{
	return bus->reconnect && !bus->closing && (bus->state == CONN_LOST || bus->state == CONN_RETRY);
}

/* ---- bus.c: lifetime ---- */

/* Callbacks may call bus_close(). Code that runs callbacks holds the
 * connection; bus_close() on a held connection only marks it, and the last
 * lifetime_drop() frees it. lifetime_drop() returns 1 if bus is now freed. */
void lifetime_hold(bus_t *bus);
int lifetime_drop(bus_t *bus);
/* A control call to "bus" that wants no answer (NO_REPLY_EXPECTED), sent
 * only while connected; busd reads a connection's frames in order, so later
 * frames see its effect. Returns as conn_send(), 0 when not connected. */
int lifetime_control_oneway(bus_t *bus, const char *method, const ProtobufCMessage *req);
/* Tell busd about an export (or its removal) without waiting for an answer. */
int lifetime_announce_export(bus_t *bus, const char *name, const char *service, int remove);
/* A control call to "bus": request packed from req, reply unpacked with
 * reply_desc into *reply (if reply is not NULL). Returns as bus_call(). */
int lifetime_control(bus_t *bus, const char *method, const ProtobufCMessage *req,
		     const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
		     uint64_t timeout_usec, bus_error_t *err);
/* Send a control call to "bus" whose answer comes to cb from bus_process().
 * Returns the pending entry (serial in p->serial) or NULL (not connected,
 * out of memory). */
struct pending *lifetime_control_async(bus_t *bus, const char *method, const ProtobufCMessage *req,
				       bus_reply_fn cb, void *userdata);
/* State a new connection must be given again: a name owned (data is the
 * NUL-terminated name) or a schema uploaded (data is its bytes). */
struct kept {
	struct kept *next;
	size_t len;
	uint8_t data[];
};
/* Forget the entry with these bytes; 1 if there was one. */
int lifetime_kept_remove(struct kept **list, const void *data, size_t len);
/* The pieces of bus_connect() a reconnect uses again: a connected socket
 * (non-blocking connect when retry is set), Hello, a schema upload. */
int lifetime_socket_open(const char *path, int retry, bus_error_t *err);
int lifetime_hello(bus_t *bus, uint64_t timeout_usec, bus_error_t *err);
int lifetime_schema_upload(bus_t *bus, const void *fds, size_t len, uint64_t timeout_usec,
			   bus_error_t *err);

/* ---- reconnect.c: after the broker went away ---- */

/* The transport was lost and bus_process() reports it: with reconnecting on,
 * schedule the first try (CONN_RETRY) and return 1; else 0 (CONN_DOWN). */
int lifetime_lost(bus_t *bus);
/* CONN_RETRY and the try is due: connect, Hello, restore names, schemas,
 * exports, subscriptions and watches, then report. Returns 1 when connected
 * again, 0 when the next try was scheduled. Runs callbacks. */
int lifetime_retry(bus_t *bus);

/* Things a new connection could not get back, reported when the restore is
 * done (callbacks must not run while it is under way). */
struct restore_fail {
	struct restore_fail *next;
	int what;               /* enum bus_conn_event */
	bus_error_t err;
	char subject[];
};
struct restore {
	struct restore_fail *first, **tail;
};
/* After a control call of the restore that returned r: 0 to go on (a
 * refusal is noted in rs as what, for subject), or -ECONNRESET when the new
 * connection is unusable (the try failed; a timeout makes it so). */
int lifetime_restore_check(bus_t *bus, struct restore *rs, int r, int what, const char *subject,
			   const bus_error_t *err);

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
/* Wait until input arrives or deadline (CLOCK_MONOTONIC usec, UINT64_MAX:
 * none) passes: 1 when bytes were read, 0 on the deadline or a signal,
 * -ECONNRESET when the connection is gone, -ENOMEM. It waits in a blocking
 * recv() (SO_RCVTIMEO for the deadline; every other read and write says
 * MSG_DONTWAIT), so a sync call costs one send() and, commonly, one recv();
 * on a socket the program made non-blocking, recv() says EAGAIN and the
 * wait goes on in poll(). */
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
/* A new connection: tell busd about every export again. */
void serve_announce_all(bus_t *bus);
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
/* A new connection: Subscribe every pattern in use again. Returns 0 or
 * -ECONNRESET (see lifetime_restore_check). */
int sub_restore(bus_t *bus, struct restore *rs);
void sub_free_all(bus_t *bus);

/* Watched names: the transport is gone (owners become unknown and are
 * reported gone), a new connection asks for every owner again, and the
 * connection is freed. */
void watch_lost(bus_t *bus);
void watch_restore(bus_t *bus);
void watch_free_all(bus_t *bus);

/* ---- loop.c / attach.c ---- */

/* Something changed that a loop must know about (output queued, a new
 * deadline, deferred frames): re-arm the libevent glue when attached. */
void loop_changed(bus_t *bus);
/* bus_process() body; returns as bus_process(). Sets *freed when a callback
 * closed the connection and it was freed on the way out. */
int loop_process(bus_t *bus, int *freed);
/* The earliest time the loop must run: a call deadline or the next
 * reconnect try (UINT64_MAX: none). */
uint64_t loop_next_deadline(const bus_t *bus);
void attach_update(bus_t *bus);
void attach_free(bus_t *bus);

/* ---- error.c ---- */

void error_setv(bus_error_t *e, const char *name, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Set e from an ERROR frame's name and message. */
void error_from_msg(bus_error_t *e, const bus_msg_t *m);

#endif
