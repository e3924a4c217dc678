/* bus-internal.h - the libbus connection object and the interfaces between its
 * modules: transport and buffers (conn.c), pending calls (call.c), control
 * calls to busd (control.c, creds.c), slots (slot.c), serving (serve.c),
 * proxies (proxy.c), subscriptions (event.c), name watches (watch.c), loops
 * (loop.c, attach.c), the connection's lifetime (bus.c) and reconnecting
 * (reconnect.c).
 *
 * Internal functions are named module_verb and never start with "bus_": the
 * library exports only the bus_* API (libbus/libbus.sym). */
#ifndef BUS_INTERNAL_H
#define BUS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bus/bus.h"
#include "wire.h"

/* The largest frame libbus accepts from the broker: 64 MiB, four times the
 * broker's default --max-frame-size so that a broker configured for larger
 * frames still works. A bigger incoming frame is a protocol error (the
 * connection is dropped). Outgoing frames are held to what busd said in
 * HelloReply it accepts from the connection (bus->max_frame), and never
 * above this: a bigger one is not sent and fails with -EMSGSIZE. */
#define CONN_MAX_FRAME (64u * 1024u * 1024u)

/* Room read() gets at least, so that small frames arrive in batches. */
#define CONN_READ_CHUNK (64u * 1024u)

/* Buffers above their kept size (CONN_READ_CHUNK * 4 for input, 256 KiB
 * for output) that a large frame made grow are kept while large frames
 * keep coming, so that steady traffic of any size reuses memory already
 * faulted in, and given back CONN_TRIM_USEC after they last ran empty
 * (conn_trim, from the loop's timeout or the next call). */
#define CONN_TRIM_USEC (1000000u)

/* Reconnecting (bus_set_reconnect): the first retry comes after
 * RETRY_MIN, each failed one doubles the delay up to RETRY_MAX, and every
 * delay is drawn from [d/2, d] so that the clients of a restarted busd do
 * not all knock at once. A try whose Hello and restoring control calls are
 * not all answered within RESTORE_TIMEOUT is given up (a broker that slow
 * is as good as gone) and the next one scheduled. */
#define RETRY_MIN (50ull * 1000ull)
#define RETRY_MAX (2ull * 1000000ull)
#define RESTORE_TIMEOUT (5ull * 1000000ull)

/* A byte buffer: live bytes are data[start, end). */
struct conn_buf {
	uint8_t *data;
	size_t start, end, cap;
};

enum conn_state {
	CONN_UP,      /* connected */
	CONN_LOST,    /* the transport is gone; bus_process() has not reported it yet */
	CONN_DOWN,    /* loss reported: pending calls failed, disconnect handler ran */
	CONN_RETRY,   /* loss reported, reconnecting: the next try is due at retry_at */
	CONN_RESTORE, /* a try's socket is up: Hello and the restoring calls under way */
};

struct pending;
struct export;
struct incall;
struct sub;
struct proxy;
struct attach;
struct kept;
struct watch;

/* Things a new connection could not get back, reported when the restore is
 * done (callbacks must not run while it is under way). */
struct restore_fail {
	struct restore_fail *next;
	enum bus_conn_event what;
	bus_error_t err;
	char subject[];
};

/* The try under way (reconnect.c): its calls are sent together once Hello
 * is answered; the ones added meanwhile (bus_subscribe() while restoring)
 * go in a further batch; Monitor comes last. */
struct restore {
	int active;             /* a try's socket was opened and not given up */
	int hello_done;
	int monitor_sent;
	unsigned outstanding;   /* restoring calls not answered yet */
	uint64_t deadline;      /* the whole try gives up then */
	size_t scan;            /* input after in.start seen: frames for later */
	struct restore_fail *first, **tail;
};

/* Large blocks kept for unpacking (unpack.c). */
#define UNPACK_BIG (64u * 1024u)
#define UNPACK_SPARES 4
struct unpack_spares {
	void *blk[UNPACK_SPARES];
	size_t cap[UNPACK_SPARES];
};

struct bus {
	int fd;                 /* -1 once the transport is gone */
	enum conn_state state;
	int closing;            /* bus_close() was called */
	unsigned hold;          /* API calls on the stack that may run callbacks */
	uint64_t serial;        /* last serial used */
	char *unique;           /* ":N" from HelloReply */
	uint32_t max_frame;     /* largest frame busd takes from us (HelloReply's
	                         * max_peer_frame_size), CONN_MAX_FRAME when it
	                         * did not say or said more */
	size_t refused_frame;   /* the frame conn_queue() last refused as too big */

	struct conn_buf in, out;
	unsigned in_pins;       /* frames being dispatched straight from in.data */
	uint8_t **retired;      /* input buffers replaced while pinned */
	size_t n_retired, cap_retired;
	uint64_t trim_at;       /* give big idle buffers back then (0: none) */
	uint8_t *direct_body;   /* a sync reply's body read into a block of its
	                         * own (conn_read_body), for its taker */
	struct unpack_spares spares;
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
	unsigned sub_walks;     /* event dispatches in progress */
	int subs_dead;          /* cancelled entries waiting to be freed */
	struct proxy *proxies;  /* proxy.c */

	bus_monitor_fn monitor;
	void *monitor_data;
	int monitor_bodies;     /* bus_set_monitor_bodies() */
	bus_disconnect_fn on_disconnect;
	void *disconnect_data;

	/* Reconnecting (reconnect.c). What was registered with the broker is kept
	 * here (or in exports/subs/watches) so that a new connection can be
	 * given the same state. generation counts connections (from 1): an
	 * answer to a call served on an earlier one is never sent on a later,
	 * and each registration records the one it was sent on (0: none yet),
	 * so that a restore sends exactly what the new connection lacks. */
	char *address;          /* the socket path connected to */
	int reconnect;          /* bus_set_reconnect() */
	uint64_t retry_at;      /* CONN_RETRY: next try, CLOCK_MONOTONIC usec */
	uint64_t retry_delay;   /* current backoff step, usec */
	uint64_t rand_state;    /* xorshift64 state for the jitter */
	unsigned generation;
	struct restore restore; /* CONN_RESTORE */
	struct kept *names;     /* well-known names owned */
	struct kept *schemas;   /* bytes given to bus_add_schema() */
	bus_connection_fn on_connection;
	void *connection_data;

	struct watch *watches;  /* watch.c: bus_watch_name() */
	unsigned watch_walks;   /* watch reports in progress */
	int watches_dead;

	struct attach *attach;  /* attach.c: libevent glue, NULL when detached */
	int exit_requested, exit_code;

	unsigned corked;        /* dispatching a batch: frames queue, one write after */
	uint64_t rcvtimeo;      /* SO_RCVTIMEO now set on fd, usec (0: none) */

	/* Passed descriptors (fdpass.c). */
	uint32_t max_fds;       /* per frame, from HelloReply (0: none) */
	const int *next_fds;    /* for the next frame queued (set by the API) */
	unsigned next_n_fds;
	unsigned refused_fds;   /* how many a refused frame had (-E2BIG) */
	struct fd_att *fds_in;  /* received, waiting for their frame's dispatch */
	struct fd_att *fds_out; /* copies waiting to go with their frame */
	uint64_t in_base, out_base; /* stream positions of in/out.data[start] */

	/* Out-of-line bodies (body.c). */
	size_t memfd_threshold; /* bodies this large go in a memfd (0: never) */
	uint64_t max_memfd_body; /* the largest busd takes, from HelloReply (0: none) */
};

/* ---- body.c: out-of-line bodies ---- */

/* Whether a frame h with a body of len bytes and n_fds descriptors goes
 * out of line: at least the threshold, within busd's limit, room for one
 * more descriptor, and a kind (and destination) that may carry it. */
int body_wanted(const bus_t *bus, const wire_header *h, size_t len, unsigned n_fds);
/* A sealed memfd holding the body (len bytes at body, or msg packed into
 * it): the descriptor, or a negative errno. */
int body_make(const void *body, size_t len, const ProtobufCMessage *msg);
/* Check that fd is a memfd sealed against every change holding exactly
 * size bytes, and map it read-only into *body: 0, or -EBADMSG (why says
 * what is wrong) or -ENOMEM. Unmap with body_unmap(). */
int body_map(int fd, uint64_t size, const void **body, char *why, size_t wlen);
void body_unmap(const void *body, size_t len);
/* A new connection's threshold: $BUS_MEMFD_THRESHOLD, else the default. */
size_t body_threshold_default(void);

/* A frame found in the input buffer; h's strings and body point into it. */
struct conn_frame {
	size_t off;             /* where it starts in in.data (SIZE_MAX: elsewhere) */
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
	struct fd_att *fds;     /* the descriptors given to the message */
	const void *body_map;   /* its out-of-line body, mapped (body.c) */
	size_t body_map_len;
	char body_why[160];     /* why an out-of-line body was refused */
};

static inline int conn_usable(const bus_t *bus)
{
	return bus->state == CONN_UP && !bus->closing;
}

/* The socket carries frames: connected, or a try's socket being restored. */
static inline int conn_open(const bus_t *bus)
{
	return (bus->state == CONN_UP || bus->state == CONN_RESTORE) && !bus->closing;
}

/* Lost, but a new connection will be tried: state given meanwhile
 * (subscriptions, schemas, exports) is kept for it instead of failing. */
static inline int conn_reconnecting(const bus_t *bus)
{
	return bus->reconnect && !bus->closing &&
	       (bus->state == CONN_LOST || bus->state == CONN_RETRY || bus->state == CONN_RESTORE);
}

/* The connection busd knows by a unique name: control calls may be sent
 * (on a try's socket, once Hello is answered). */
static inline int conn_named(const bus_t *bus)
{
	return conn_usable(bus) ||
	       (bus->state == CONN_RESTORE && !bus->closing && bus->restore.hello_done);
}

/* ---- bus.c: lifetime ---- */

/* Callbacks may call bus_close(). Code that runs callbacks holds the
 * connection; bus_close() on a held connection only marks it, and the last
 * lifetime_drop() frees it. lifetime_drop() returns 1 if bus is now freed. */
void lifetime_hold(bus_t *bus);
int lifetime_drop(bus_t *bus);
/* State a new connection must be given again: a name owned (data is the
 * NUL-terminated name) or a schema uploaded (data is its bytes), with the
 * connection it was sent on (0: not yet). */
struct kept {
	struct kept *next;
	unsigned gen;
	size_t len;
	uint8_t data[];
};
struct kept *lifetime_kept_new(const void *data, size_t len);
/* Append k unless an equal entry is there (k is then freed). */
void lifetime_kept_add(struct kept **list, struct kept *k);
struct kept *lifetime_kept_find(struct kept *list, const void *data, size_t len);
/* Forget the entry with these bytes; 1 if there was one. */
int lifetime_kept_remove(struct kept **list, const void *data, size_t len);
/* The pieces of bus_connect() a reconnect uses again: a connected socket
 * (without waiting for a broker whose backlog is full when retry is set),
 * and taking the unique name from a HelloReply. */
int lifetime_socket_open(const char *path, int retry, bus_error_t *err);
int lifetime_hello_accept(bus_t *bus, const bus_msg_t *reply, bus_error_t *err);
/* HelloRequest.client: "libbus VERSION (PROGRAM)", PROGRAM the process's
 * short name (at most LIFETIME_PROGRAM_MAX bytes of it), so a monitor can
 * tell which program a connection belongs to (busctl hides other busctl
 * processes' broker queries by default). */
#define LIFETIME_PROGRAM_MAX 64
#define LIFETIME_CLIENT_LEN (sizeof("libbus " PACKAGE_VERSION " ()") + LIFETIME_PROGRAM_MAX)
void lifetime_client_text(char buf[LIFETIME_CLIENT_LEN]);

/* ---- reconnect.c: after the broker went away ---- */

/* The transport was lost and bus_process() reports it: with reconnecting on,
 * schedule the first try (CONN_RETRY) and return 1; else 0 (CONN_DOWN). */
int lifetime_lost(bus_t *bus);
/* CONN_RETRY and the try is due: connect and send Hello (CONN_RESTORE), or
 * schedule the next try. Never blocks, runs no callback. */
void lifetime_retry(bus_t *bus);
/* CONN_RESTORE: take busd's answers to the restoring calls out of the input
 * (everything else stays queued) and go on; past the deadline, give the try
 * up. Runs no callback; returns 1 when the restore is complete (then
 * restore_finish()), else 0. */
int restore_step(bus_t *bus);
/* The restore is complete: CONN_UP, watches asked again, the refusals and
 * BUS_CONN_RESTORED reported. Runs callbacks. */
void restore_finish(bus_t *bus);
/* The try's socket was lost (or reconnecting turned off): forget the try
 * without telling the program; schedule the next one unless reconnecting is
 * off or the connection closing (CONN_DOWN). */
void restore_abort(bus_t *bus);
/* Drop the try's calls and notes (bus_close()). */
void restore_free(bus_t *bus);
/* Send one restoring call; busd's refusal is reported as what, for subject. */
int restore_call(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 enum bus_conn_event what, const char *subject);
/* 1 if a complete frame waits that restore_step() has not looked at. */
int restore_has_work(bus_t *bus);

/* ---- slot.c ---- */

enum slot_kind {
	SLOT_CALL,    /* target: struct pending (bus_call_async) */
	SLOT_CONTROL, /* target: struct control_op */
	SLOT_SUB,     /* target: struct sub */
	SLOT_WATCH,   /* target: struct watch */
	SLOT_EXPORT,  /* target: struct export */
};
struct bus_slot {
	unsigned refs;
	enum slot_kind kind;
	bus_t *bus;             /* NULL once detached */
	void *target;           /* what dropping the slot cancels; NULL once over */
	void *userdata;
};
/* A slot for the caller (one reference) when slotp is not NULL, else NULL
 * (floating). Returns 0 or -ENOMEM; *out is what to bind. */
int slot_prepare(bus_t *bus, bus_slot_t **slotp, enum slot_kind kind, void *userdata,
		 bus_slot_t **out);
/* Bind s (may be NULL) to target and hand it to the caller. */
void slot_bind(bus_slot_t *s, bus_slot_t **slotp, void *target);
/* What the slot stands for is over: it only waits to be freed now. */
void slot_detach(bus_slot_t *s);

/* ---- control.c: control calls to "bus" ---- */

/* Send a control call whose answer comes to cb from bus_process() (timeout
 * 0: none), the pending entry in *out. Needs an open socket only: callers
 * decide whether the connection may be used. Returns 0 or as conn_send(). */
int control_send(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 uint64_t timeout_usec, bus_reply_fn cb, void *userdata, struct pending **out);
/* Wait for the answer: request packed from req, reply unpacked with
 * reply_desc into *reply (if reply is not NULL). Returns as bus_call(). */
int control_sync(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply,
		 bus_error_t *err);
/* A control call that wants no answer (NO_REPLY_EXPECTED; busd sends none),
 * sent when busd knows the connection (conn_named); busd reads a
 * connection's frames in order, so later frames see its effect. Returns as
 * conn_send(), 0 when there is nobody to tell. */
int control_oneway(bus_t *bus, const char *method, const ProtobufCMessage *req);
/* An async control call of the API, with the caller's slot and callback:
 * finish() does the bookkeeping of busd's answer (reply or err; both NULL:
 * settled without busd) and then runs the callback unless the slot was
 * dropped. Owned by its pending entry. */
struct control_op {
	bus_slot_t *slot;
	void (*finish)(bus_t *bus, struct control_op *op, const bus_msg_t *reply,
		       const bus_error_t *err);
	bus_done_fn done;
	bus_creds_fn creds;
	void *userdata;
	struct kept *k;         /* the name or schema to keep when accepted */
};
/* Start op: send method/req, or with req NULL settle it at the next
 * bus_process() with err (NULL: success). On failure op is freed and the
 * negative errno returned. */
int control_start(bus_t *bus, bus_slot_t **slotp, struct control_op *op, const char *method,
		  const ProtobufCMessage *req, const bus_error_t *err);
/* The slot was dropped: the callback must not run. */
void control_mute(struct control_op *op);
/* 1 if a schema this connection uploaded, or is uploading with
 * bus_add_schema_async(), declares service (a full name). */
int control_schema_declares(const bus_t *bus, const char *service);
/* The callback of op (creds for bus_creds_fn ones), once: the slot is
 * detached first. */
void control_done(bus_t *bus, struct control_op *op, const bus_creds_t *creds,
		  const bus_error_t *err);

/* ---- conn.c: transport and frames ---- */

uint64_t conn_now(void);
uint64_t conn_next_serial(bus_t *bus);
/* Check h as the broker would, then queue the frame: the body is len bytes
 * at body, or msg packed straight into the output buffer. Writes at once if
 * nothing was queued before. Returns 0, -EINVAL (why in *why when not NULL),
 * -EMSGSIZE (the frame is above bus->max_frame: nothing is sent, the
 * connection stays up, bus->refused_frame has its size), -ENOMEM or
 * -ECONNRESET (not usable). conn_queue() needs an open socket only
 * (restoring a connection). */
int conn_send(bus_t *bus, wire_header *h, const void *body, size_t len,
	      const ProtobufCMessage *msg, const char **why);
int conn_queue(bus_t *bus, wire_header *h, const void *body, size_t len,
	       const ProtobufCMessage *msg, const char **why);
/* conn_send() for a caller that waits anyway (a sync call): a large body is
 * sent straight from its memory, waiting for the socket until deadline
 * (CLOCK_MONOTONIC usec, UINT64_MAX: none), and only what is left unsent
 * then is copied. */
int conn_send_until(bus_t *bus, wire_header *h, const void *body, size_t len,
		    const ProtobufCMessage *msg, uint64_t deadline, const char **why);
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
/* The head of the frame at in.data + off, when its preamble and header are
 * in (1; f->len is the head's length, f->body NULL), else 0. */
int conn_head_at(bus_t *bus, size_t off, struct conn_frame *f);
/* The frame whose head is at off (conn_head_at) is the last bytes of the
 * input: read its body (f->body_len bytes) into a block of its own, without
 * a copy through the input buffer, waiting until deadline. Returns 1 with
 * *out the malloc'd body (the head stays in the input), 0 when the deadline
 * passed first or -ECONNRESET (what was read of the body is back in the
 * input, behind its head), or -ENOMEM. */
int conn_read_body(bus_t *bus, size_t off, const struct conn_frame *f, uint64_t deadline,
		   uint8_t **out);
/* 1 if a complete frame waits at in.data + off. */
int conn_frame_ready(bus_t *bus, size_t off);
/* 1 if there is work for bus_process() now: a frame to dispatch (or, while
 * restoring, to look at) or a loss to report. */
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
/* ---- fdpass.c: descriptors passed with frames ---- */

/* Room for a frame's descriptors in a control message (and one more, so
 * that too many are seen as such). */
struct fdpass_ctl {
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE((WIRE_MAX_FDS + 1) * sizeof(int))];
	};
};
/* The next frame put into the output buffer, of frame_len bytes, carries
 * copies of fds (made here), and then own (when >= 0: libbus's, taken
 * over, closed here on failure). Returns 0, -ENOMEM or -errno of the copy. */
int fdpass_queue(bus_t *bus, size_t frame_len, const int *fds, unsigned n, int own);
/* Before a write of len bytes from out.data + out.start: how many may go
 * in it, and the descriptors that go with them in msg (control data in
 * ctl). After it wrote n bytes (> 0), fdpass_out_sent(). */
size_t fdpass_out_limit(bus_t *bus, size_t len, struct msghdr *msg, struct fdpass_ctl *ctl);
void fdpass_out_sent(bus_t *bus, size_t n, const struct msghdr *msg);
/* Receiving: msg gets room for descriptors; after a read appended bytes to
 * the input from offset from, fdpass_received() keeps those it brought for
 * their frame (0), or loses the connection for a broken rule (-EPROTO). A
 * read outside the input buffer (a body) must bring none: fdpass_stray(). */
void fdpass_recv_prepare(struct msghdr *msg, struct fdpass_ctl *ctl);
int fdpass_received(bus_t *bus, struct msghdr *msg, size_t from);
int fdpass_stray(bus_t *bus, struct msghdr *msg);
/* The input lost len bytes at its start (consumed), or the frame at off of
 * len bytes (removed from the middle). */
void fdpass_consumed(bus_t *bus, size_t len);
void fdpass_removed(bus_t *bus, size_t off, size_t len);
/* Give m the descriptors of frame f (made by conn_msg_make() into s); they
 * are closed by conn_msg_done() unless taken. An out-of-line body (the
 * last descriptor) is checked and mapped as m's body instead: 0, or
 * -EBADMSG when it is not sound (s->body_why says why; m's body is then
 * empty), -ENOMEM. */
int fdpass_msg(bus_t *bus, const struct conn_frame *f, bus_msg_t *m, struct conn_msg_strings *s);
void fdpass_msg_done(struct conn_msg_strings *s);
/* Close the copies waiting to be sent (the connection is gone), and with
 * input set those received too (its frames are dropped). */
void fdpass_drop(bus_t *bus, int input);

/* Remember a broker notice (ERROR from "bus" that answers nothing). */
void conn_note(bus_t *bus, const bus_msg_t *m);
/* Note f if it is such a notice (a frame looked at but left queued). */
void conn_note_frame(bus_t *bus, const struct conn_frame *f);
/* The bus.Error.Disconnected message for this connection. */
void conn_disconnected(const bus_t *bus, bus_error_t *err);
void conn_free_buffers(bus_t *bus);
/* Give big buffers back when their CONN_TRIM_USEC has passed (at now). */
void conn_trim(bus_t *bus, uint64_t now);
/* Large memory is in use: keep what is kept CONN_TRIM_USEC more. */
void conn_keep(bus_t *bus);

/* ---- unpack.c: unpacking with kept large blocks ---- */

/* protobuf_c_message_unpack() with libbus's allocator; free the result with
 * unpack_free() (not with a NULL allocator). */
ProtobufCMessage *unpack_msg(bus_t *bus, const ProtobufCMessageDescriptor *desc, size_t len,
			     const uint8_t *data);
void unpack_free(bus_t *bus, ProtobufCMessage *msg);
/* Give the kept blocks back. */
void unpack_trim(bus_t *bus);

/* ---- call.c: pending calls ---- */

/* A call waiting for its REPLY or ERROR: untyped (cb) or from a proxy. */
struct pending {
	uint64_t serial;             /* 0: settled without busd (see call_add_settled) */
	uint64_t deadline;           /* absolute CLOCK_MONOTONIC usec, 0: none */
	uint64_t timeout_usec;       /* as asked, for the Timeout error's message */
	struct pending *hash_next;
	struct pending *due_prev, *due_next;
	struct pending *proxy_prev, *proxy_next;
	bus_reply_fn cb;             /* untyped async call */
	void *userdata;
	void (*userdata_free)(void *userdata); /* when the entry is recycled */
	bus_slot_t *slot;            /* the caller's handle, if any */
	struct proxy *proxy;         /* proxy call: method, closure */
	unsigned method;
	ProtobufCClosure closure;
	void *closure_data;
	int restore;                 /* a call of the restore under way */
	int doomed;                  /* being failed by call_fail_all() */
	int settled;                 /* complete at the next bus_process() with: */
	bus_error_t *outcome;        /*   this error (NULL: success) */
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
/* Send the CALL h (serial assigned here) and register it: 0 with the entry
 * in *out, whose callback the caller fills in before the next
 * bus_process(); or as conn_send(), nothing registered. Needs an open
 * socket only (conn_queue): callers decide whether the connection may be
 * used. */
int call_start(bus_t *bus, wire_header *h, const void *body, size_t len,
	       const ProtobufCMessage *msg, uint64_t timeout_usec, struct pending **out);
/* A pending entry that completes at the next bus_process() with err (a copy;
 * NULL: success, neither reply nor error). Returns NULL on ENOMEM. */
struct pending *call_add_settled(bus_t *bus, const bus_error_t *err);
/* The pending call answered by serial, or NULL. */
struct pending *call_lookup(const bus_t *bus, uint64_t serial);
/* Take a pending call out of every list (not freed). */
void call_unlink(bus_t *bus, struct pending *p);
void call_recycle(bus_t *bus, struct pending *p);
/* Forget p: unlinked and recycled, its callback never runs. */
void call_cancel(bus_t *bus, struct pending *p);
/* Complete p (already unlinked) with reply or err, then recycle it. */
void call_complete(bus_t *bus, struct pending *p, const bus_msg_t *reply, const bus_error_t *err);
/* Complete p (still linked) from an answer frame. */
void call_answer(bus_t *bus, struct pending *p, const bus_msg_t *m);
/* Dispatch a REPLY/ERROR. */
void call_dispatch(bus_t *bus, const bus_msg_t *m);
/* Fail calls past their deadline with bus.Error.Timeout (and settle the
 * settled ones). Returns how many completed. */
int call_expire(bus_t *bus, uint64_t now);
/* Fail every pending call with err. */
void call_fail_all(bus_t *bus, const bus_error_t *err);
/* Forget the calls of a restore (no callback runs). */
void call_drop_restore(bus_t *bus);
uint64_t call_next_deadline(const bus_t *bus);
void call_free_all(bus_t *bus);
/* The bus_error_t for a call that could not be sent (r from conn_send):
 * -EMSGSIZE is bus.Error.LimitsExceeded giving the frame's size and the
 * limit. Returns r. */
int call_send_error(bus_t *bus, int r, const char *why, bus_error_t *err);

/* ---- serve.c ---- */

void serve_dispatch(bus_t *bus, const bus_msg_t *m);
/* Answer the CALL m with the error name (why): a call libbus refuses
 * before any handler sees it. */
void serve_refuse(bus_t *bus, const bus_msg_t *m, const char *name, const char *why);
/* A CALL of interface bus.Peer (h, a frame of the input) is libbus's own:
 * Ping is answered with an empty REPLY, any other member with
 * bus.Error.UnknownMethod, without a callback. Returns 1 when h was one
 * (the caller takes the frame out of the input), 0 when it is not. */
int serve_peer(bus_t *bus, const wire_header *h);
/* A restore: announce every export the new connection lacks. Returns how
 * many calls went out, or a negative errno. */
int serve_restore(bus_t *bus);
/* Dropping an export's slot withdraws it. */
void serve_unexport(bus_t *bus, struct export *e);
/* The connection and sender of a call being served, or -ECONNRESET when it
 * came on a connection lost since (-EINVAL: not a call). */
int serve_call_sender(void *call, bus_t **bus, const char **sender);
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
/* A subscription for libbus itself (watch.c): as bus_subscribe() (async:
 * as bus_subscribe_async()), with the entry in *out. */
int sub_add(bus_t *bus, const char *pattern, bus_event_fn cb, bus_done_fn done, void *userdata,
	    int async, struct sub **out, bus_error_t *err);
/* End a subscription (dropping its slot): Unsubscribe at busd when it was
 * the pattern's last one there. */
void sub_cancel(bus_t *bus, struct sub *s);
/* A restore: Subscribe every pattern the new connection lacks. Returns how
 * many calls went out, or a negative errno. */
int sub_restore(bus_t *bus);
/* busd accepted pattern again on this connection. */
void sub_restored(bus_t *bus, const char *pattern);
void sub_free_all(bus_t *bus);

/* ---- watch.c ---- */

/* Watched names: the transport is gone (owners become unknown and are
 * reported gone), a restored connection asks for every owner again, a slot
 * is dropped, and the connection is freed. */
void watch_lost(bus_t *bus);
void watch_restore(bus_t *bus);
void watch_cancel(bus_t *bus, struct watch *w);
void watch_free_all(bus_t *bus);

/* ---- loop.c / attach.c ---- */

/* Something changed that a loop must know about (output queued, a new
 * deadline, deferred frames): re-arm the libevent glue when attached. */
void loop_changed(bus_t *bus);
/* bus_process() body; returns as bus_process(). Sets *freed when a callback
 * closed the connection and it was freed on the way out. */
int loop_process(bus_t *bus, int *freed);
/* The earliest time the loop must run: a call deadline, the next reconnect
 * try or the end of the one under way (UINT64_MAX: none). */
uint64_t loop_next_deadline(const bus_t *bus);
void attach_update(bus_t *bus);
void attach_free(bus_t *bus);

/* ---- error.c ---- */

void error_setv(bus_error_t *e, const char *name, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Set e from an ERROR frame's name and message. */
void error_from_msg(bus_error_t *e, const bus_msg_t *m);

#endif
