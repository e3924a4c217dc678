/* channel.h - libbus shared-memory channels: a pair of message rings in a
 * sealed memfd that two processes share after one of them asked the other
 * for it with an ordinary call through busd (so names, the policy and the
 * quotas decide who gets one). Frames then flow peer to peer: no broker,
 * and no system call while both sides keep up with each other.
 *
 * A channel has two sides: the one that made it (bus_channel_new(), the
 * service) and the one that got its descriptors (bus_channel_open() or
 * bus_channel_from_fds(), the client). Each side sends on one ring and
 * receives on the other; both rings have the size fixed at creation.
 *
 * Conventions as in <bus/bus.h>: int results, >= 0 success, negative errno.
 * A channel is not thread-safe: one thread per side (the two sides may be
 * two threads of one process). Its descriptors are close-on-exec; a child
 * fork()ed without exec holds this side's socket too, and the other side
 * sees this one die only once the child has closed it or exited.
 *
 * Guarantees: messages arrive whole, in order, each once; a full ring holds
 * the sender back (it blocks, or gets -EAGAIN with BUS_CHANNEL_NONBLOCK);
 * when the other side closes or dies, the receiver gets what was sent
 * before and then end of file (0), the sender -EPIPE (no SIGPIPE): at once
 * after a close; after a death, once the ring is full (a send that finds
 * room checks nothing, so as to make no system call). What the
 * other side writes into the shared memory is checked before use: a side
 * that breaks the ring's rules makes the channel fail with -EPROTO, never
 * crashes or hangs the other (docs/data-plane.md, "Shared-memory
 * channels"). */
#ifndef BUS_CHANNEL_H
#define BUS_CHANNEL_H

#include <stddef.h>
#include <sys/types.h>

#include <bus/bus.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bus_channel bus_channel_t;

/* The ring size bounds: bus_channel_new() rounds up to a power of two in
 * this range; bus_channel_from_fds() refuses anything else. */
#define BUS_CHANNEL_MIN_RING 4096u
#define BUS_CHANNEL_MAX_RING (256u * 1024u * 1024u)

/* Flags of bus_channel_send(), bus_channel_recv() and bus_channel_peek(). */
#define BUS_CHANNEL_NONBLOCK 0x1 /* -EAGAIN instead of waiting */

/* Make a channel with two rings of ring_bytes each (rounded up to a power
 * of two, at least BUS_CHANNEL_MIN_RING); the shared area is 4 KiB more
 * than both. *chp is this side's; the other side's descriptors are kept
 * until handed over with bus_channel_reply() or bus_channel_take_peer_fds().
 * Returns 0, -EINVAL (above BUS_CHANNEL_MAX_RING), or the errno of
 * memfd_create(), ftruncate(), mmap() or socketpair(). */
int bus_channel_new(bus_channel_t **chp, size_t ring_bytes);

/* Inside a method handler: answer the call with reply and the channel's
 * two descriptors (bus_reply_fds()); the channel then no longer holds the
 * other side's. Returns what bus_reply_fds() returns, or -EALREADY when
 * they were handed over before. Whatever the outcome, the channel is this
 * side's to use and close: if the caller never gets the reply, the
 * channel sees end of file / -EPIPE as if the caller had closed it. */
int bus_channel_reply(void *closure_data, const ProtobufCMessage *reply, bus_channel_t *ch);

/* The other side's descriptors, to pass by other means (fds[0] the memfd,
 * fds[1] the end of the socket pair): the caller owns them and must close
 * them once passed on. Returns 0, or -EALREADY (handed over before). */
int bus_channel_take_peer_fds(bus_channel_t *ch, int fds[2]);

/* The client side: a bus_call_fds() of method at dest with the body given
 * (as bus_call()), whose reply must carry a channel (a handler's
 * bus_channel_reply()). On success *chp is a new channel and, when reply is
 * not NULL, *reply and *reply_len the reply body as bus_call() gives it.
 * Errors: those of bus_call_fds() (-EREMOTE with err set when the service
 * or busd refused, e.g. bus.Error.AccessDenied), and -EPROTO with err
 * bus.Error.Failed when the reply carries no valid channel. */
int bus_channel_open(bus_t *bus, const char *dest, const char *interface, const char *method,
		     const char *body_type, const void *body, size_t len, uint64_t timeout_usec,
		     bus_error_t *err, bus_channel_t **chp, void **reply, size_t *reply_len);

/* Make the client side from the two descriptors of a channel (memfd, then
 * socket), which it takes over whatever the result (they are closed on
 * failure). The memfd is checked before it is mapped: sealed against
 * shrinking and growing (F_SEAL_SHRINK | F_SEAL_GROW), of the size its
 * header says, a supported version, a ring size within the bounds; else
 * -EPROTO. Returns 0 or a negative errno. */
int bus_channel_from_fds(bus_channel_t **chp, int memfd, int sock);

/* Send one message of len bytes (0 allowed). A message larger than
 * bus_channel_max_message() is refused with -EMSGSIZE: channels do not
 * fragment. While the ring lacks room: wait, or -EAGAIN with
 * BUS_CHANNEL_NONBLOCK (then bus_channel_get_fd() turns readable once
 * there may be room). Returns len, -EPIPE (the other side closed or died),
 * -EPROTO (it broke the ring), -EMSGSIZE, -EAGAIN, -EINVAL. */
ssize_t bus_channel_send(bus_channel_t *ch, const void *buf, size_t len, int flags);

/* Receive the next message into buf (cap bytes). While none is there: wait,
 * or -EAGAIN with BUS_CHANNEL_NONBLOCK (bus_channel_get_fd() then turns
 * readable once there may be one). Returns its length, 0 at end of file
 * (the other side closed or died, and everything it sent was received),
 * -EMSGSIZE when it is larger than cap (it stays; bus_channel_peek() gives
 * its length), -EPROTO, -EAGAIN, -EINVAL. A message of length 0 is not
 * told apart from end of file here: use bus_channel_peek() to tell them. */
ssize_t bus_channel_recv(bus_channel_t *ch, void *buf, size_t cap, int flags);

/* Receive without a copy: *data points at the next message, in the shared
 * memory, and *len is its length; it stays there until
 * bus_channel_consume(). Returns 1, 0 at end of file, or as
 * bus_channel_recv(). The other side can still write into those bytes
 * while they are read: copy what must not change under you. */
int bus_channel_peek(bus_channel_t *ch, const void **data, size_t *len, int flags);
/* Done with the message bus_channel_peek() gave: its room goes back to the
 * sender (in batches of a sixteenth of the ring, and whenever this side has
 * taken every message there was). Returns 0, or -EINVAL (nothing peeked). */
int bus_channel_consume(bus_channel_t *ch);

/* The descriptor for poll() or a loop: readable when a send or receive that
 * gave -EAGAIN may now go on (room, a message, or the other side gone). It
 * stays readable until the next send or receive; readable with nothing to
 * do is possible (try again, then wait). The channel's; do not close it. */
int bus_channel_get_fd(const bus_channel_t *ch);

/* The largest message the channel carries: the ring size less 8. */
size_t bus_channel_max_message(const bus_channel_t *ch);

/* Close this side and free the channel (NULL allowed): the other side's
 * receiver gets end of file once it has what was sent, its sender -EPIPE.
 * A message peeked and not consumed is dropped. */
void bus_channel_close(bus_channel_t *ch);

#ifdef __cplusplus
}
#endif
#endif
