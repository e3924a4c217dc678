/* bus.h - libbus, the client library of the busd service bus.
 *
 * A connection (bus_t) talks to one busd broker over a Unix stream socket.
 * Services export protoc-c generated ProtobufCService implementations under a
 * well-known name; clients call them through the same generated stubs using a
 * proxy service, or untyped by (name, method, bytes). Events are broadcast on
 * dotted topics and received by subscribing to a topic or a "prefix.*" pattern.
 *
 * Conventions
 *   - Functions return int: >= 0 on success, a negative errno value on failure.
 *   - Where a function takes a bus_error_t *, a failure reported by the bus
 *     (e.g. bus.Error.NameTaken) fills it with a dotted name and a message and
 *     the function returns -EREMOTE (or -ETIMEDOUT / -ECONNRESET with
 *     bus.Error.Timeout / bus.Error.Disconnected). A NULL bus_error_t * is
 *     allowed everywhere: the details are then discarded.
 *   - Strings passed in are copied; the caller keeps ownership.
 *   - Pointers handed to callbacks (bus_msg_t and everything it points to,
 *     unpacked messages passed to closures) are valid only until the callback
 *     returns; copy what you need.
 *   - The callbacks of async calls and registrations run from bus_process()
 *     (and the functions that drive it: bus_run(), bus_wait_name(), the
 *     libevent glue), never from the function that registered them, whose
 *     return value says when nothing was registered; bus_close() runs the
 *     callbacks of what was still pending, with bus.Error.Disconnected.
 *     (Generated stubs return nothing: see bus_proxy_new().)
 *   - Control calls to busd (names, schemas, exports, subscriptions, watches,
 *     credentials) come in two forms: a synchronous one that waits for busd's
 *     answer, up to BUS_CONTROL_TIMEOUT_USEC, without dispatching anything
 *     else; and an asynchronous one (*_async) that returns at once and reports
 *     busd's answer to a callback, with the same timeout.
 *   - Slots (bus_slot_t) are the one handle that cancels: an async call, a
 *     subscription, a name watch or an export. See "slots" below.
 *
 * Threading: a bus_t is not thread-safe. Use one connection per thread, and
 * call every function on a connection from the thread that uses it.
 *
 * Event loops: libbus never owns the program's loop. Drive it from any loop
 * with bus_get_fd() / bus_get_events() / bus_get_timeout() / bus_process(),
 * attach it to a libevent event_base with bus_attach_event(), or call
 * bus_run() in simple programs. bus_process() never blocks; the loop may
 * set O_NONBLOCK on bus_get_fd(), and sync calls then still wait in poll().
 *
 * Broker restarts: with bus_set_reconnect() on, a lost connection is
 * reconnected by the same loop (with backoff), and the names, schemas,
 * exports, subscriptions and name watches of the connection are given to
 * the new one; bus_set_connection_handler() tells the program. Calls never
 * survive: they fail with bus.Error.Disconnected.
 */
#ifndef BUS_BUS_H
#define BUS_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <protobuf-c/protobuf-c.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BUS_PROTOCOL_VERSION 1

#include <bus/errors.h>

/* The broker's own name, and the topic of its name-ownership events
 * (body bus.NameOwnerChanged, see proto/bus.proto). */
#define BUS_NAME "bus"
#define BUS_TOPIC_NAME_OWNER_CHANGED "bus.NameOwnerChanged"

/* How long a control call to busd (and bus_connect()'s Hello) waits for its
 * answer before failing with bus.Error.Timeout: busd answers at once, so
 * only a wedged broker ever hits it. */
#define BUS_CONTROL_TIMEOUT_USEC (25ull * 1000000ull)

typedef struct bus bus_t;
typedef struct bus_slot bus_slot_t;

/* A bus-level error: empty name means "no error". Fixed-size, no allocation;
 * longer texts are truncated. */
typedef struct bus_error {
	char name[128];
	char message[512];
} bus_error_t;

/* Frame kinds, as in bus.Kind. */
enum bus_kind {
	BUS_KIND_CALL = 1,
	BUS_KIND_REPLY = 2,
	BUS_KIND_ERROR = 3,
	BUS_KIND_EVENT = 4,
};

/* Header flags, as in bus.HeaderFlag. */
#define BUS_FLAG_NO_REPLY_EXPECTED 0x1u

/* A received frame. All strings are NUL-terminated and never NULL ("" when
 * the field is absent). Valid only during the callback it is passed to. */
typedef struct bus_msg {
	enum bus_kind kind;
	uint32_t flags;
	uint64_t serial;
	uint64_t reply_serial;
	const char *sender;        /* stamped by busd: unique id (":42") or "bus" */
	const char *destination;
	const char *interface;     /* fully-qualified protobuf service, may be "" */
	const char *member;        /* method (CALL) or topic (EVENT) */
	const char *body_type;     /* fully-qualified protobuf message type, may be "" */
	const char *error_name;    /* ERROR only */
	const char *error_message; /* ERROR only */
	const void *body;
	size_t body_len;
	/* File descriptors passed with a CALL or REPLY (docs/data-plane.md):
	 * fd_count as the header says, n_fds as they came (a monitor gets the
	 * frames without them). They belong to the message: take each one you
	 * keep with bus_msg_take_fd() during the callback; those not taken are
	 * closed when it returns (for a served call: when its handler
	 * returns). fds is libbus's. */
	unsigned fd_count;
	unsigned n_fds;
	int *fds;
	/* Non-zero: the body came out of line, in a sealed memfd of this many
	 * bytes (docs/data-plane.md). body and body_len are then a read-only
	 * mapping of it; n_fds does not count it (fd_count does, as the
	 * header says). A monitor that did not ask for bodies
	 * (bus_set_monitor_bodies()) sees such a frame with body_len 0. */
	uint64_t memfd_body_size;
} bus_msg_t;

/* Take descriptor index (0 .. n_fds - 1) of msg: the caller owns it
 * (close-on-exec is set) and must close it. Returns it, or -ENOENT (no such
 * index), -EALREADY (already taken) or -EINVAL. */
int bus_msg_take_fd(const bus_msg_t *msg, unsigned index);

/* The outcome of an asynchronous control call: err is NULL when busd
 * accepted it, else why not (valid during the call). */
typedef void (*bus_done_fn)(bus_t *bus, const bus_error_t *err, void *userdata);

/* ---- errors ---- */

/* Set e (if not NULL) to name and a printf-formatted message. */
void bus_error_set(bus_error_t *e, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Clear e. */
void bus_error_clear(bus_error_t *e);
/* 1 if e is set, 0 otherwise. */
int bus_error_is_set(const bus_error_t *e);
/* 1 if e is set to exactly name. */
int bus_error_has_name(const bus_error_t *e, const char *name);

/* ---- connection ---- */

/* Where the buses are. Each writes a socket path into buf (len bytes) and
 * returns 0, or -ENAMETOOLONG when it does not fit.
 *
 * The system bus, the one busd serves as a system service to every user:
 * $BUS_SYSTEM_ADDRESS when set and not empty, else the path the build
 * configured (./configure --with-system-socket, default /run/busd/bus.sock),
 * which is also where busd listens when run as root. Always gives a path. */
int bus_system_address(char *buf, size_t len);
/* A user's own bus: $BUS_ADDRESS when set and not empty, else
 * $XDG_RUNTIME_DIR/busd.sock, where busd listens when run by that user.
 * -ENOENT when neither variable is set. */
int bus_user_address(char *buf, size_t len);
/* The path bus_connect(NULL) uses: $BUS_ADDRESS when set, else the system
 * bus for root (bus_system_address()), else $XDG_RUNTIME_DIR/busd.sock.
 * -ENOENT for a user without either variable. A program that knows which
 * bus it wants says so with bus_connect_system() or bus_connect_user(). */
int bus_default_address(char *buf, size_t len);

/* Connect to the broker at path (NULL: bus_default_address()), say Hello and
 * wait for the unique name (up to BUS_CONTROL_TIMEOUT_USEC). On success
 * *busp owns a new connection (close it with bus_close()). Returns -errno of
 * the socket, or -EREMOTE with err set when the broker refuses (e.g.
 * bus.Error.VersionMismatch). */
int bus_connect(bus_t **busp, const char *path, bus_error_t *err);
/* bus_connect() to the system bus (bus_system_address()) or to the user's
 * bus (bus_user_address()), whoever the caller is: a service running as a
 * user of its own connects to the system bus with bus_connect_system().
 * The error says which bus, where and why, e.g. "no system bus at
 * /run/busd/bus.sock: No such file or directory" (with "(from
 * $BUS_SYSTEM_ADDRESS)" after the path when the variable gave it), or "no
 * user bus: neither $BUS_ADDRESS nor $XDG_RUNTIME_DIR is set" (-ENOENT). */
int bus_connect_system(bus_t **busp, bus_error_t *err);
int bus_connect_user(bus_t **busp, bus_error_t *err);

/* Close the connection and free it. Pending calls and control calls are
 * completed first with bus.Error.Disconnected (their callbacks run); slots
 * the program holds are detached (see bus_slot_unref()). Queued output is
 * flushed if the socket accepts it without blocking. NULL is allowed. */
void bus_close(bus_t *bus);

/* This connection's unique id (":42"), owned by bus. */
const char *bus_unique_name(const bus_t *bus);

/* The largest frame (12-byte preamble, header and body) this connection may
 * send: what busd said in its HelloReply (limits.max_frame_size less 512
 * bytes), at most 64 MiB; 64 MiB when busd did not say. It changes only
 * with a reconnect. A call, reply, event or control call whose frame would
 * be larger is not sent, and the connection stays up: a sync call
 * (bus_call(), control calls, BUS_PROXY_SYNC stubs) returns -EMSGSIZE with
 * bus.Error.LimitsExceeded giving both sizes; an async call's callback (or
 * an async stub's closure) gets that error from bus_process(); bus_emit()
 * and bus_emit_raw() return -EMSGSIZE; a reply a handler gives that is too
 * big is not sent either: the caller gets bus.Error.LimitsExceeded
 * instead, so every call still gets exactly one answer. 0 for NULL. */
size_t bus_get_max_frame_size(const bus_t *bus);

/* 1 while connected, 0 once the broker has gone away (and, when
 * reconnecting, until a new connection is up and restored). */
int bus_is_connected(const bus_t *bus);

/* Called when the connection to the broker is lost (after pending calls
 * were failed with bus.Error.Disconnected): once, or with reconnecting on,
 * at every loss. Replaces any previous handler. */
typedef void (*bus_disconnect_fn)(bus_t *bus, void *userdata);
void bus_set_disconnect_handler(bus_t *bus, bus_disconnect_fn fn, void *userdata);

/* ---- slots ----
 *
 * Functions that register something lasting (bus_call_async(), the *_async
 * control calls, bus_subscribe(), bus_watch_name(), bus_export()) take a
 * bus_slot_t **slot. With slot not NULL, *slot receives a handle owned by
 * the caller (one reference): dropping the last reference with
 * bus_slot_unref() cancels what it stands for - a pending call's or control
 * call's callback never runs (busd still carries out a control call that was
 * sent), a subscription or name watch ends, an export is withdrawn - and
 * frees the slot. With slot NULL the registration is "floating": owned by
 * the connection, it lasts until it completes (a call answered) or the
 * connection is closed.
 *
 * A slot outlives what it stands for: once a call was answered, a
 * registration refused, or the connection closed, the slot is only a handle
 * to free (bus_slot_get_bus() returns NULL). A callback may drop its own
 * slot, and any other. */

/* Take another reference; returns slot. */
bus_slot_t *bus_slot_ref(bus_slot_t *slot);
/* Drop a reference (NULL is allowed); the last one cancels and frees.
 * Returns NULL, so that `s = bus_slot_unref(s);` clears the pointer. */
bus_slot_t *bus_slot_unref(bus_slot_t *slot);
/* The connection the slot's registration is live on, or NULL once it is
 * over (answered, refused, cancelled or the connection closed). */
bus_t *bus_slot_get_bus(const bus_slot_t *slot);
/* The userdata given with the registration. */
void *bus_slot_get_userdata(const bus_slot_t *slot);

/* ---- reconnecting ---- */

/* Reconnect after the broker goes away (1) or not (0, the default: the
 * connection is then finished once lost, as before). Takes effect at the
 * next loss; turned on after a loss was reported, it starts reconnecting;
 * turned off while reconnecting, it stops (bus_process() then returns
 * -ECONNRESET). Returns 0, or -EINVAL.
 *
 * When the transport is lost: every pending call fails at once with
 * bus.Error.Disconnected, the disconnect handler and then the connection
 * handler (BUS_CONN_LOST) run, watched names with an owner are reported
 * without one, and libbus tries to connect to the same socket path after 50
 * ms, doubling the delay after each failed try up to 2 s (each drawn at
 * random from [delay/2, delay]). The tries are made by bus_process(): a
 * loop that follows bus_get_timeout() (or bus_run(), or a libevent attach)
 * makes them on time. Until the new connection is restored it is not
 * usable: calls, sync or async, emits and bus_request_name() fail at once
 * with -ECONNRESET (bus.Error.Disconnected); bus_subscribe(),
 * bus_add_schema(), bus_export() and bus_watch_name() (and their async
 * forms) succeed and take effect on the new connection, and so do those
 * whose answer the loss cut off; bus_release_name() forgets the name.
 * bus_get_fd() is -1 between tries, bus_process() returns >= 0.
 *
 * A try never blocks bus_process(): it connects, sends Hello and returns;
 * the later bus_process() calls that find busd's answers give the new
 * connection the old one's state - every schema uploaded, every export
 * announced, every name requested, every pattern subscribed, the monitor
 * mode - as control calls sent together, and nothing else is dispatched
 * until every one is answered, so no callback sees a half-restored
 * connection. What busd refuses (a name someone else took meanwhile:
 * bus.Error.NameTaken) is reported and dropped, never fatal. Then the
 * handler hears BUS_CONN_RESTORED and watched names are asked for again. A
 * try that fails (busd gone again, or not done within 5 s) closes its socket
 * and the next one is scheduled without telling the program. The unique
 * name changes: the pointer from bus_unique_name() is valid until then. A
 * call served on the old connection cannot be answered on the new one: its
 * closure or bus_call_fail() then sends nothing. The socket changes: a loop
 * that registered bus_get_fd() must register the new one (bus_attach_event()
 * does it by itself). bus_close() at any time frees everything. */
int bus_set_reconnect(bus_t *bus, int enable);

/* What a connection handler hears. subject and err are NULL unless said. */
enum bus_conn_event {
	BUS_CONN_LOST = 1,             /* transport gone (reconnecting if on); err: why */
	BUS_CONN_RESTORED = 2,         /* connected again; subject: the new unique name */
	BUS_CONN_NAME_LOST = 3,        /* subject: a name not owned again; err: busd's refusal */
	BUS_CONN_SUBSCRIBE_FAILED = 4, /* subject: a pattern busd refused; err: why */
	BUS_CONN_SCHEMA_FAILED = 5,    /* a schema busd refused (still kept); err: why */
	BUS_CONN_REFUSED = 6,          /* busd refused a frame that has no answer of its
	                                * own, e.g. an event the policy denies
	                                * (bus.Error.AccessDenied); err: why */
	BUS_CONN_EXPORT_FAILED = 7,    /* subject: a service busd refused to list again
	                                * (still served); err: why */
};
/* Called from bus_process(), never from bus_close(). After a reconnect the
 * failures come first, BUS_CONN_RESTORED last. BUS_CONN_REFUSED comes
 * whenever busd answers an event with an ERROR (any connection state; to
 * learn of it right after bus_emit(), make a sync call, e.g. to "bus",
 * then bus_process()). The strings are valid during the call. Replaces any
 * previous handler. */
typedef void (*bus_connection_fn)(bus_t *bus, enum bus_conn_event event, const char *subject,
				  const bus_error_t *err, void *userdata);
void bus_set_connection_handler(bus_t *bus, bus_connection_fn fn, void *userdata);

/* ---- names ---- */

/* Claim a well-known name exclusively. A name owned by another connection
 * fails with bus.Error.NameTaken; released when this connection closes.
 * The async form reports busd's answer to cb (which may be NULL); its slot
 * stands for the answer only: dropping it does not undo the request. */
int bus_request_name(bus_t *bus, const char *name, bus_error_t *err);
int bus_request_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_done_fn cb,
			   void *userdata);
/* Give a name up (bus.Error.NotOwner if this connection does not own it).
 * The async form as bus_request_name_async(). */
int bus_release_name(bus_t *bus, const char *name, bus_error_t *err);
int bus_release_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_done_fn cb,
			   void *userdata);

/* Watch a well-known name: fn(bus, name, owner, userdata) runs from
 * bus_process() once the current owner is known (owner is its unique id, or
 * NULL when the name has none), then whenever that changes: the name gets
 * an owner (appears), loses it (disappears) or changes hands. Built on a
 * subscription to busd's bus.NameOwnerChanged events and a GetNameOwner
 * call for the starting state; the strings are valid during the call. When
 * the connection is lost an owned name is reported gone (owner NULL); after
 * a reconnect the owner is asked for again. The watch lasts until its slot
 * is dropped (fn may drop it) or the connection closes. Returns 0, or
 * -EINVAL (not a well-known name), -EPERM (monitor), -ENOMEM, or the error
 * of the Subscribe call (err set). The async form returns at once and
 * reports the subscription's outcome to done (may be NULL); a refused watch
 * ends (fn never runs). */
typedef void (*bus_name_fn)(bus_t *bus, const char *name, const char *owner, void *userdata);
int bus_watch_name(bus_t *bus, bus_slot_t **slot, const char *name, bus_name_fn fn,
		   void *userdata, bus_error_t *err);
int bus_watch_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_name_fn fn,
			 bus_done_fn done, void *userdata);
/* Wait until name has an owner: returns 0 at once if it has one, else
 * processes the connection (callbacks run, as in bus_process()) until it
 * gets one or timeout_usec passes (0: no timeout): -ETIMEDOUT
 * (bus.Error.Timeout). Reconnecting goes on meanwhile; without it a lost
 * connection ends the wait with -ECONNRESET (bus.Error.Disconnected). Not
 * from inside a callback of the same connection. */
int bus_wait_name(bus_t *bus, const char *name, uint64_t timeout_usec, bus_error_t *err);

/* ---- credentials ---- */

/* What busd knows of a peer (SO_PEERCRED and SO_PEERGROUPS at its connect):
 * nothing the peer says about itself. One allocation: free it with
 * bus_creds_free(). */
typedef struct bus_creds {
	const char *unique_name; /* ":42" */
	pid_t pid;
	uid_t uid;
	gid_t gid;
	size_t n_groups;
	const gid_t *groups;     /* supplementary groups */
} bus_creds_t;
void bus_creds_free(bus_creds_t *creds);
/* The async forms hand creds (valid during the call, NULL on failure) and
 * err (NULL on success) to cb. */
typedef void (*bus_creds_fn)(bus_t *bus, const bus_creds_t *creds, const bus_error_t *err,
			     void *userdata);
/* The credentials of the owner of name (a well-known name or unique id),
 * through busd's GetNameOwner. Errors: bus.Error.NameHasNoOwner, and
 * whatever the policy says. */
int bus_get_name_creds(bus_t *bus, const char *name, bus_creds_t **creds, bus_error_t *err);
int bus_get_name_creds_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_creds_fn cb,
			     void *userdata);
/* Inside a method handler (call is its closure_data, before the call is
 * answered): the credentials of the caller. Unique ids are never reused by
 * a broker, so they are the caller's or an error (bus.Error.NameHasNoOwner
 * once it is gone); a call that came on a connection lost since gets
 * -ECONNRESET (bus.Error.Disconnected). */
int bus_query_sender_creds(void *call, bus_creds_t **creds, bus_error_t *err);
int bus_query_sender_creds_async(void *call, bus_slot_t **slot, bus_creds_fn cb, void *userdata);

/* ---- serving ---- */

/* Serve CALLs addressed to name (a well-known name this connection owns, or
 * NULL for every name it owns) with service, a protoc-c
 * generated service initialised with its *_INIT(prefix) macro. A call is
 * dispatched by its interface (service->descriptor->name) when the caller
 * gave one, else to the first service exported under that name that has the
 * method. The request is unpacked with the method's input descriptor and
 * passed to the method handler; the request is freed when the handler
 * returns. The handler answers by calling closure(reply, closure_data) once,
 * now or later (closure_data stays valid until then); closure(NULL, ...)
 * answers bus.Error.ServiceFailed, and a reply too big to send (see
 * bus_get_max_frame_size()) bus.Error.LimitsExceeded. Service and name must
 * outlive the export.
 * A call addressed to the connection's unique id reaches every export.
 * busd is told (for Introspect; it may refuse with bus.Error.LimitsExceeded
 * or bus.Error.InvalidArgs): the sync form waits for its answer, the async
 * form serves at once and reports the answer to done (may be NULL; a
 * refused export is withdrawn). Unless a schema this connection uploaded
 * (or is uploading) declares the service, libbus first uploads one it makes
 * from the service's protoc-c descriptors (bus_add_schema() says more); a
 * refusal of it fails the export. The export lasts until its slot is dropped
 * or the connection closes. Returns -EEXIST if the same (name, service) is
 * already exported, -EPERM on a monitor. */
int bus_export(bus_t *bus, bus_slot_t **slot, const char *name, ProtobufCService *service,
	       bus_error_t *err);
int bus_export_async(bus_t *bus, bus_slot_t **slot, const char *name, ProtobufCService *service,
		     bus_done_fn done, void *userdata);
/* Serve CALLs addressed to name (as bus_export()) without protoc-c code:
 * fn runs from bus_process() for each CALL whose interface is interface or
 * empty, or for every CALL to name when interface is NULL, with the frame
 * as it came (its body is not unpacked; call->body is valid until fn
 * returns, the rest until the call is answered) and closure_data, which
 * answers it as a method handler's does: bus_reply_raw(), bus_call_fail(),
 * now or later, exactly once. interface (a fully-qualified protobuf
 * service) is what busd is told is served under name, for Introspect; no
 * schema is made for it: upload one that declares it with bus_add_schema()
 * first. NULL tells busd nothing. Programs that forward calls they do not
 * know the types of (a bridge, a proxy) use it. Returns as bus_export(),
 * -EEXIST for the same (name, interface) twice. */
typedef void (*bus_call_fn)(bus_t *bus, const bus_msg_t *call, void *closure_data,
			    void *userdata);
int bus_export_raw(bus_t *bus, bus_slot_t **slot, const char *name, const char *interface,
		   bus_call_fn fn, void *userdata, bus_error_t *err);
/* Answer a call (closure_data of a handler) with len bytes of body, of
 * type body_type (NULL or "": untyped). A reply too big to send is
 * replaced by bus.Error.LimitsExceeded, as for a generated handler's.
 * Returns 0, -EALREADY (answered before), -ECONNRESET, -EMSGSIZE or
 * -EINVAL. */
int bus_reply_raw(void *closure_data, const char *body_type, const void *body, size_t len);

/* Upload the schema of the services this connection exports: the
 * FileDescriptorSet of their .proto files (protoc --include_imports
 * --descriptor_set_out; the build can link it in as a byte array). busd
 * keeps it for busctl introspect and anyone's GetSchema, charged to this
 * connection (limits.max_schema_bytes), until the connection closes. Each
 * bus_export() also tells busd which service is served under which name.
 * Errors: bus.Error.LimitsExceeded, bus.Error.InvalidArgs (empty).
 * libbus keeps a copy of each distinct set accepted, to upload it again
 * after a reconnect (see bus_set_reconnect()). The async form as
 * bus_request_name_async().
 * Without it, bus_export() uploads a set libbus makes from the generated
 * code: files "busd-synth/PACKAGE.proto", oneofs named oneof0, oneof1...,
 * no comments, options or real file names. To keep those, call this
 * before bus_export(): an uploaded set that declares the service stops
 * libbus from making one. */
int bus_add_schema(bus_t *bus, const void *fds, size_t len, bus_error_t *err);
int bus_add_schema_async(bus_t *bus, bus_slot_t **slot, const void *fds, size_t len,
			 bus_done_fn cb, void *userdata);

/* Inside a method handler: closure_data identifies the call being served. */
/* The CALL's header (sender etc); valid until the call is answered. */
const bus_msg_t *bus_call_msg(void *closure_data);
/* Answer the call with an ERROR instead of a reply. After this, the handler
 * must not call its closure. name is a dotted error name; a message too
 * long for the frame limit (bus_get_max_frame_size()) is cut to fit. Returns
 * 0, or -ECONNRESET when nothing was sent because the connection the call
 * came on is gone (also after a reconnect: the caller was answered by busd). */
int bus_call_fail(void *closure_data, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Answer the call with reply (as its closure would) and n_fds file
 * descriptors passed with it; the handler keeps its fds (the caller gets
 * copies). More than bus_get_max_fds() answers bus.Error.LimitsExceeded
 * instead (and returns -E2BIG). Returns 0, -E2BIG, -EALREADY (answered
 * before), -ECONNRESET or -ENOMEM. */
int bus_reply_fds(void *closure_data, const ProtobufCMessage *reply, const int *fds,
		  unsigned n_fds);

/* ---- calling through generated stubs ---- */

/* A proxy ProtobufCService: pass it to the generated client stubs, e.g.
 *   busd__examples__echo__echo(proxy, &req, on_reply, ctx);
 * Each stub call sends a CALL to name with interface desc->name.
 *   BUS_PROXY_SYNC: the stub blocks until the reply, error or timeout, calls
 *     the closure before returning (with NULL on error), and other frames
 *     arriving meanwhile are queued for the next bus_process().
 *   BUS_PROXY_ASYNC: the stub returns at once; the closure runs later from
 *     bus_process() (with NULL on error), or at once, with NULL, when there
 *     is no connection to send the call on.
 * The closure gets its own closure_data (ctx above, anything per call) and
 * finds out why the output is NULL with bus_proxy_call_error(closure_data).
 * The output message is freed when the closure returns. timeout_usec 0
 * means no timeout. Free with bus_proxy_free() (or proxy->destroy(proxy));
 * its pending async calls are first answered with bus.Error.Disconnected
 * (closures run with NULL) before it returns. */
enum bus_proxy_mode {
	BUS_PROXY_SYNC = 0,
	BUS_PROXY_ASYNC = 1,
};
ProtobufCService *bus_proxy_new(bus_t *bus, const char *name,
				const ProtobufCServiceDescriptor *desc,
				uint64_t timeout_usec, enum bus_proxy_mode mode);
void bus_proxy_free(ProtobufCService *proxy);
/* Inside a proxy closure: the error of the call it completes, found by the
 * closure_data it was given (empty name when the call succeeded); valid
 * until the closure returns. NULL when no closure with that closure_data is
 * running on this thread. */
const bus_error_t *bus_proxy_call_error(const void *closure_data);
/* The error of the proxy's last completed call (empty name when it
 * succeeded), e.g. after a sync stub called with no closure. Owned by the
 * proxy. */
const bus_error_t *bus_proxy_error(const ProtobufCService *proxy);
/* File descriptors with stub calls: the next call made through proxy passes
 * the n_fds descriptors at fds (which must stay valid until that call) with
 * its CALL, as bus_call_fds() does; then the proxy forgets them. Returns 0 or
 * -EINVAL. More than bus_get_max_fds() fails that call with
 * bus.Error.LimitsExceeded. Inside the closure of a proxy call,
 * bus_proxy_take_fd(closure_data, index) takes descriptor index of the
 * reply (the caller owns it); those not taken are closed when the closure
 * returns. It returns the descriptor, -ENOENT (no such index), -EALREADY,
 * or -EINVAL (no closure with closure_data is running). */
int bus_proxy_set_fds(ProtobufCService *proxy, const int *fds, unsigned n_fds);
int bus_proxy_take_fd(const void *closure_data, unsigned index);

/* ---- untyped calls ---- */

/* Synchronous call: send body (len bytes of type body_type, may be NULL/"")
 * to method of dest and wait up to timeout_usec (0: no timeout). On success
 * returns 0, *reply is a malloc'd copy of the reply body (free() it; NULL
 * when empty) and *reply_len its length. Errors: -EREMOTE (err holds the
 * remote error), -ETIMEDOUT (bus.Error.Timeout), -ECONNRESET
 * (bus.Error.Disconnected), -EINVAL (bad name or method), -EMSGSIZE
 * (bus.Error.LimitsExceeded: the call is larger than busd accepts, see
 * bus_get_max_frame_size(); not sent, the connection stays up), -EBADMSG
 * (bus.Error.UnsealedBody: the reply's out-of-line body failed libbus's
 * checks). Frames that arrive meanwhile are kept for the next bus_process(). It costs one send()
 * and, commonly, one recv() (with SO_RCVTIMEO, so the timeout may expire up
 * to 1/64 of it, at least 1 ms, late); on a socket the program made
 * non-blocking it waits in poll() instead. */
int bus_call(bus_t *bus, const char *dest, const char *interface, const char *method,
	     const char *body_type, const void *body, size_t len,
	     uint64_t timeout_usec, bus_error_t *err, void **reply, size_t *reply_len);

/* Asynchronous call. cb runs exactly once from bus_process() (or bus_close())
 * with the reply (err NULL) or with err set and reply NULL, unless the call
 * is cancelled by dropping its slot first; a call too big to send (see
 * bus_get_max_frame_size()) is not sent and cb gets bus.Error.LimitsExceeded.
 * With cb NULL the callee is told no answer is wanted (NO_REPLY_EXPECTED),
 * *slot is set to NULL, and a call too big fails with -EMSGSIZE. */
typedef void (*bus_reply_fn)(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err,
			     void *userdata);
int bus_call_async(bus_t *bus, bus_slot_t **slot, const char *dest, const char *interface,
		   const char *method, const char *body_type, const void *body, size_t len,
		   uint64_t timeout_usec, bus_reply_fn cb, void *userdata);

/* The same calls passing n_fds file descriptors with the CALL (SCM_RIGHTS):
 * the caller keeps its fds (busd and the callee get copies); the callee
 * finds them in its bus_msg_t (bus_call_msg() in a method handler). At
 * most bus_get_max_fds() may go with one frame: more fail with -E2BIG
 * (bus.Error.LimitsExceeded), nothing sent. bus_call_fds() hands over the
 * reply's descriptors, if any, in reply_fds: at most *n_reply_fds (in: the
 * room there, out: how many were stored; those beyond the room are closed);
 * reply_fds may be NULL (then all are closed). bus_call_async_fds()'s cb
 * takes them from its reply with bus_msg_take_fd(). */
int bus_call_fds(bus_t *bus, const char *dest, const char *interface, const char *method,
		 const char *body_type, const void *body, size_t len, const int *fds,
		 unsigned n_fds, uint64_t timeout_usec, bus_error_t *err, void **reply,
		 size_t *reply_len, int *reply_fds, unsigned *n_reply_fds);
int bus_call_async_fds(bus_t *bus, bus_slot_t **slot, const char *dest, const char *interface,
		       const char *method, const char *body_type, const void *body, size_t len,
		       const int *fds, unsigned n_fds, uint64_t timeout_usec, bus_reply_fn cb,
		       void *userdata);
/* The most descriptors one frame may carry on this connection
 * (limits.max_fds_per_frame of busd, said at Hello; 0: none). */
unsigned bus_get_max_fds(bus_t *bus);

/* ---- out-of-line bodies (docs/data-plane.md) ---- */

/* A call, reply or event whose body is at least the connection's threshold
 * is sent out of line: libbus writes the body into a memfd, seals it
 * against every change and passes it with the frame instead of the bytes
 * (with a busd that accepts them, bus_get_max_memfd_body_size() > 0, one
 * descriptor to spare under bus_get_max_fds(), a body within that size,
 * and not to busd's own methods). It is transparent: the receiver's
 * bus_msg_t body points into a read-only mapping of the memfd, valid as
 * long as any body is, n_fds does not count it, and every API works
 * unchanged. A body too large for a frame (bus_get_max_frame_size()) can
 * still be sent this way, up to bus_get_max_memfd_body_size(). The
 * threshold is BUS_MEMFD_THRESHOLD_DEFAULT (256 KiB) unless the variable
 * BUS_MEMFD_THRESHOLD (bytes) said otherwise when the connection was made;
 * bytes 0 means never. Returns 0 or -EINVAL. */
#define BUS_MEMFD_THRESHOLD_DEFAULT (256u * 1024u)
int bus_set_memfd_threshold(bus_t *bus, size_t bytes);
size_t bus_get_memfd_threshold(const bus_t *bus);
/* The largest out-of-line body busd accepts from this connection
 * (limits.max_memfd_body_size, said at Hello; 0: none, or busd does not
 * take descriptors). */
uint64_t bus_get_max_memfd_body_size(const bus_t *bus);

/* Unpack a frame body as a message of type desc. A frame that names its
 * body_type must name desc's type (desc->name); one with no body_type
 * (e.g. from bus_emit_raw() with NULL) is taken to be of the type the
 * receiver asks for. Returns NULL with errno ENOMSG (another type), EBADMSG
 * (the bytes do not parse, or out of memory) or EINVAL. Free the result
 * with protobuf_c_message_free_unpacked(msg, NULL). */
ProtobufCMessage *bus_msg_unpack(const bus_msg_t *msg, const ProtobufCMessageDescriptor *desc);

/* ---- events ---- */

/* Broadcast msg on topic (a dotted name) to every subscriber. Returns 0,
 * -EINVAL, -EPERM (a monitor), -ECONNRESET, -ENOMEM, or -EMSGSIZE when the
 * event is larger than busd accepts (bus_get_max_frame_size(); not sent, the
 * connection stays up). */
int bus_emit(bus_t *bus, const char *topic, const ProtobufCMessage *msg);
int bus_emit_raw(bus_t *bus, const char *topic, const char *body_type,
		 const void *body, size_t len);

/* Receive events whose topic matches pattern: an exact topic, "prefix.*"
 * (every topic below prefix, at any depth) or "*" (all). cb runs from
 * bus_process(), for as long as the subscription lasts: until its slot is
 * dropped or the connection closes. Each distinct pattern is one Subscribe
 * at busd however many subscriptions share it. The async form returns at
 * once and reports busd's answer to done (may be NULL); a refused
 * subscription ends. */
typedef void (*bus_event_fn)(bus_t *bus, const bus_msg_t *event, void *userdata);
int bus_subscribe(bus_t *bus, bus_slot_t **slot, const char *pattern, bus_event_fn cb,
		  void *userdata, bus_error_t *err);
int bus_subscribe_async(bus_t *bus, bus_slot_t **slot, const char *pattern, bus_event_fn cb,
			bus_done_fn done, void *userdata);

/* ---- monitoring ---- */

/* Turn this connection into a monitor: from now on cb sees a copy of every
 * frame busd routes (as sent, sender stamped). A monitor connection can no
 * longer call, serve or subscribe. */
typedef void (*bus_monitor_fn)(bus_t *bus, const bus_msg_t *frame, void *userdata);
int bus_become_monitor(bus_t *bus, bus_monitor_fn cb, void *userdata, bus_error_t *err);
/* Before bus_become_monitor(): on non-zero, busd also passes each copied
 * frame's out-of-line body (its sealed memfd alone, never the frame's
 * other descriptors), so that the monitor's bus_msg_t has the body bytes
 * as a receiver would; otherwise such a frame comes with memfd_body_size
 * and an empty body. A body memfd is only bytes: it gives a monitor nothing
 * an inline body would not. Returns 0, -EINVAL or -EALREADY (a monitor). */
int bus_set_monitor_bodies(bus_t *bus, int on);

/* ---- event loop integration ---- */

/* The socket to poll: -1 while there is none (lost; reconnecting). It
 * changes when libbus reconnects. The program may make it non-blocking. */
int bus_get_fd(const bus_t *bus);
/* POLLIN, plus POLLOUT while output is queued. */
int bus_get_events(const bus_t *bus);
/* The earliest call deadline (or, reconnecting, the next try or the end of
 * the current one; or, a second after large messages stopped, the time to
 * give the buffers they needed back to the system) as absolute
 * CLOCK_MONOTONIC microseconds, or UINT64_MAX when nothing is due. Returns 0
 * (or -ENOTCONN). */
int bus_get_timeout(const bus_t *bus, uint64_t *usec);
/* Do all work that can be done without blocking: write queued output, read
 * what the socket has, dispatch every complete frame and expire timed-out
 * calls; reconnecting, make the try that is due or go on with the one under
 * way. Never blocks. Returns > 0 if something was done, 0 if nothing,
 * -ECONNRESET once the connection is lost (never while reconnecting). */
int bus_process(bus_t *bus);
/* Block until the socket is ready or timeout_usec passes (UINT64_MAX:
 * forever; the nearest call deadline also ends the wait). Returns > 0 if
 * ready, 0 on timeout, negative errno. */
int bus_wait(bus_t *bus, uint64_t timeout_usec);
/* Write all queued output, blocking as needed. */
int bus_flush(bus_t *bus);

/* Drive the connection from a libevent event_base: read/write events and the
 * call-timeout timer are managed by libbus. Detach before freeing the base.
 * Uses only libevent_core. */
struct event_base;
int bus_attach_event(bus_t *bus, struct event_base *base);
int bus_detach_event(bus_t *bus);

/* Run a private loop until bus_exit() is called or the connection is lost
 * (with reconnecting on, it runs on through losses). Returns the code given
 * to bus_exit(), or -ECONNRESET. */
int bus_run(bus_t *bus);
void bus_exit(bus_t *bus, int code);

#ifdef __cplusplus
}
#endif
#endif
