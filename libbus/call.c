/* call.c - outgoing calls: the pending-call table (a hash of serials plus a
 * deadline-ordered list), answering them from REPLY/ERROR frames, timeouts,
 * and the synchronous wait that leaves every other frame queued (but
 * answers bus.Peer.Ping). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"

#define SPARE_MAX 64 /* recycled entries kept, so steady traffic does not malloc */

/* ---------------------------------------------------------------- table */

static struct pending **bucket_of(const bus_t *bus, uint64_t serial)
{
	return &bus->buckets[serial & (bus->n_buckets - 1)];
}

struct pending *call_lookup(const bus_t *bus, uint64_t serial)
{
	if (!bus->n_buckets || serial == 0)
		return NULL;
	for (struct pending *p = *bucket_of(bus, serial); p; p = p->hash_next)
		if (p->serial == serial)
			return p;
	return NULL;
}

/* Serials count up, so serial & mask spreads them evenly; keep the load
 * at one entry per bucket. A failed resize only makes chains longer. */
static void table_grow(bus_t *bus)
{
	size_t n = bus->n_buckets * 2;
	struct pending **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < bus->n_buckets; i++) {
		struct pending *p = bus->buckets[i], *next;
		for (; p; p = next) {
			next = p->hash_next;
			p->hash_next = b[p->serial & (n - 1)];
			b[p->serial & (n - 1)] = p;
		}
	}
	free(bus->buckets);
	bus->buckets = b;
	bus->n_buckets = n;
}

static struct pending *pending_new(bus_t *bus)
{
	struct pending *p = bus->spare;

	if (p) {
		bus->spare = p->hash_next;
		bus->n_spare--;
	} else {
		p = malloc(sizeof(*p));
		if (!p)
			return NULL;
	}
	memset(p, 0, sizeof(*p));
	return p;
}

/* Keep the deadline list sorted; calls usually share one timeout, so the
 * new entry belongs at (or near) the tail. */
static void due_insert(bus_t *bus, struct pending *p)
{
	struct pending *after = bus->due_last;

	while (after && after->deadline > p->deadline)
		after = after->due_prev;
	p->due_prev = after;
	p->due_next = after ? after->due_next : bus->due_first;
	if (p->due_next)
		p->due_next->due_prev = p;
	else
		bus->due_last = p;
	if (after)
		after->due_next = p;
	else
		bus->due_first = p;
}

/* bus.Error.Timeout, saying how long the call waited. */
static void timeout_error(bus_error_t *err, uint64_t timeout_usec)
{
	if (timeout_usec % 1000000u == 0)
		bus_error_set(err, BUS_ERROR_TIMEOUT, "no reply within the call's timeout of %llu s",
			      (unsigned long long)(timeout_usec / 1000000u));
	else if (timeout_usec % 1000u == 0)
		bus_error_set(err, BUS_ERROR_TIMEOUT, "no reply within the call's timeout of %llu ms",
			      (unsigned long long)(timeout_usec / 1000u));
	else
		bus_error_set(err, BUS_ERROR_TIMEOUT, "no reply within the call's timeout of %llu us",
			      (unsigned long long)timeout_usec);
}

struct pending *call_add(bus_t *bus, uint64_t serial, uint64_t timeout_usec)
{
	if (!bus->n_buckets) {
		bus->buckets = calloc(64, sizeof(*bus->buckets));
		if (!bus->buckets)
			return NULL;
		bus->n_buckets = 64;
	}
	struct pending *p = pending_new(bus);
	if (!p)
		return NULL;
	p->serial = serial;
	struct pending **b = bucket_of(bus, serial);
	p->hash_next = *b;
	*b = p;
	bus->n_pending++;
	p->timeout_usec = timeout_usec;
	if (timeout_usec) {
		uint64_t now = conn_now();
		p->deadline = timeout_usec > UINT64_MAX - now ? UINT64_MAX - 1 : now + timeout_usec;
		due_insert(bus, p);
		if (bus->due_first == p)
			loop_changed(bus);
	}
	if (bus->n_pending > bus->n_buckets)
		table_grow(bus);
	return p;
}

int call_start(bus_t *bus, wire_header *h, const void *body, size_t len,
	       const ProtobufCMessage *msg, uint64_t timeout_usec, struct pending **out)
{
	*out = NULL;
	h->serial = conn_next_serial(bus);
	struct pending *p = call_add(bus, h->serial, timeout_usec);
	if (!p)
		return -ENOMEM;
	int r = conn_queue(bus, h, body, len, msg, NULL);
	if (r < 0) {
		call_unlink(bus, p);
		call_recycle(bus, p);
		return r;
	}
	*out = p;
	return 0;
}

struct pending *call_add_settled(bus_t *bus, const bus_error_t *err)
{
	bus_error_t *outcome = NULL;

	if (err && !(outcome = malloc(sizeof(*outcome))))
		return NULL;
	struct pending *p = pending_new(bus);
	if (!p) {
		free(outcome);
		return NULL;
	}
	if (outcome)
		*outcome = *err;
	/* Serial 0 never answers anything: the entry lives on the deadline
	 * list only, already due. */
	p->deadline = 1;
	p->settled = 1;
	p->outcome = outcome;
	bus->n_pending++;
	due_insert(bus, p);
	loop_changed(bus);
	return p;
}

void call_unlink(bus_t *bus, struct pending *p)
{
	if (p->serial && bus->n_buckets) {
		struct pending **pp = bucket_of(bus, p->serial);
		while (*pp && *pp != p)
			pp = &(*pp)->hash_next;
		if (*pp)
			*pp = p->hash_next;
	}
	p->hash_next = NULL;
	if (p->deadline) {
		if (p->due_prev)
			p->due_prev->due_next = p->due_next;
		else
			bus->due_first = p->due_next;
		if (p->due_next)
			p->due_next->due_prev = p->due_prev;
		else
			bus->due_last = p->due_prev;
		p->due_prev = p->due_next = NULL;
		p->deadline = 0;
	}
	if (p->proxy) {
		struct pending **head = proxy_calls(p->proxy);
		if (p->proxy_prev)
			p->proxy_prev->proxy_next = p->proxy_next;
		else
			*head = p->proxy_next;
		if (p->proxy_next)
			p->proxy_next->proxy_prev = p->proxy_prev;
		p->proxy_prev = p->proxy_next = NULL;
	}
	bus->n_pending--;
}

void call_recycle(bus_t *bus, struct pending *p)
{
	slot_detach(p->slot);
	free(p->outcome);
	if (p->userdata_free)
		p->userdata_free(p->userdata);
	if (bus->n_spare < SPARE_MAX) {
		p->hash_next = bus->spare;
		bus->spare = p;
		bus->n_spare++;
	} else {
		free(p);
	}
}

void call_cancel(bus_t *bus, struct pending *p)
{
	p->slot = NULL; /* the slot is being freed */
	call_unlink(bus, p);
	call_recycle(bus, p);
}

void call_complete(bus_t *bus, struct pending *p, const bus_msg_t *reply, const bus_error_t *err)
{
	/* Answered: the caller's slot is over before the callback, which may
	 * drop it. */
	slot_detach(p->slot);
	p->slot = NULL;
	if (p->proxy)
		proxy_complete(p, reply, err);
	else if (p->cb)
		p->cb(bus, reply, err, p->userdata);
	call_recycle(bus, p);
}

void call_answer(bus_t *bus, struct pending *p, const bus_msg_t *m)
{
	call_unlink(bus, p);
	if (m->kind == BUS_KIND_ERROR) {
		bus_error_t e;
		error_from_msg(&e, m);
		call_complete(bus, p, NULL, &e);
	} else {
		call_complete(bus, p, m, NULL);
	}
}

/* ---------------------------------------------------------------- dispatch */

void call_dispatch(bus_t *bus, const bus_msg_t *m)
{
	struct pending *p = call_lookup(bus, m->reply_serial);

	if (!p) {
		/* A late answer to a call that timed out or was cancelled is
		 * dropped; an ERROR from busd that answers nothing of ours
		 * explains why it is about to close the connection; one from
		 * busd answering a serial no call waits for refused an event. */
		if (m->kind == BUS_KIND_ERROR && m->reply_serial == 0) {
			conn_note(bus, m);
		} else if (m->kind == BUS_KIND_ERROR && strcmp(m->sender, BUS_NAME) == 0 &&
			   bus->on_connection) {
			bus_error_t e;
			error_from_msg(&e, m);
			bus->on_connection(bus, BUS_CONN_REFUSED, NULL, &e, bus->connection_data);
		}
		return;
	}
	call_answer(bus, p, m);
}

int call_expire(bus_t *bus, uint64_t now)
{
	int due = 0, done = 0;

	/* Only what is due now: callbacks that queue calls failing at once
	 * must not keep this loop going. */
	for (struct pending *p = bus->due_first; p && p->deadline <= now; p = p->due_next)
		due++;
	while (done < due && !bus->closing) {
		struct pending *p = bus->due_first;
		if (!p || p->deadline > now)
			break;
		bus_error_t e;
		const bus_error_t *err = &e;
		if (p->settled)
			err = p->outcome;
		else
			timeout_error(&e, p->timeout_usec);
		call_unlink(bus, p);
		call_complete(bus, p, NULL, err);
		done++;
	}
	return done;
}

static struct pending *doomed_in(struct pending *p, int due)
{
	for (; p; p = due ? p->due_next : p->hash_next)
		if (p->doomed)
			return p;
	return NULL;
}

void call_fail_all(bus_t *bus, const bus_error_t *err)
{
	struct pending *p;

	/* What is pending now fails; what the callbacks add meanwhile (a
	 * subscription kept while reconnecting settles later) stays. One at a
	 * time: a closure may free its proxy, completing that proxy's calls. */
	for (p = bus->due_first; p; p = p->due_next)
		p->doomed = 1;
	for (size_t i = 0; i < bus->n_buckets; i++)
		for (p = bus->buckets[i]; p; p = p->hash_next)
			p->doomed = 1;
	while ((p = doomed_in(bus->due_first, 1))) {
		call_unlink(bus, p);
		call_complete(bus, p, NULL, p->settled ? p->outcome : err);
	}
	for (size_t i = 0; i < bus->n_buckets; i++) {
		size_t n = bus->n_buckets;
		while ((p = doomed_in(bus->buckets[i], 0))) {
			call_unlink(bus, p);
			call_complete(bus, p, NULL, err);
		}
		if (bus->n_buckets != n)
			i = (size_t)-1; /* rehashed by a call added meanwhile: again */
	}
}

void call_drop_restore(bus_t *bus)
{
	for (size_t i = 0; i < bus->n_buckets; i++) {
		struct pending **pp = &bus->buckets[i];
		while (*pp) {
			struct pending *p = *pp;
			if (p->restore) {
				call_unlink(bus, p);
				call_recycle(bus, p);
			} else {
				pp = &p->hash_next;
			}
		}
	}
}

uint64_t call_next_deadline(const bus_t *bus)
{
	return bus->due_first ? bus->due_first->deadline : UINT64_MAX;
}

void call_free_all(bus_t *bus)
{
	struct pending *p, *next;

	for (p = bus->spare; p; p = next) {
		next = p->hash_next;
		free(p);
	}
	bus->spare = NULL;
	bus->n_spare = 0;
	free(bus->buckets);
	bus->buckets = NULL;
	bus->n_buckets = 0;
}

/* ---------------------------------------------------------------- sync */

int call_send_error(bus_t *bus, int r, const char *why, bus_error_t *err)
{
	switch (r) {
	case -EINVAL:
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "%s", why ? why : "invalid argument");
		break;
	case -EMSGSIZE:
		if (bus->max_frame < CONN_MAX_FRAME)
			bus_error_set(err, BUS_ERROR_LIMITS_EXCEEDED, "the frame of %zu bytes is larger "
				      "than the %u bytes busd accepts from this connection "
				      "(limits.max_frame_size less 512): not sent", bus->refused_frame,
				      bus->max_frame);
		else
			bus_error_set(err, BUS_ERROR_LIMITS_EXCEEDED, "the frame of %zu bytes is larger "
				      "than libbus's limit of %u bytes: not sent", bus->refused_frame,
				      CONN_MAX_FRAME);
		break;
	case -E2BIG:
		bus_error_set(err, BUS_ERROR_LIMITS_EXCEEDED, "%u file descriptors, more than the %u "
			      "busd takes with one frame (limits.max_fds_per_frame): not sent",
			      bus->refused_fds, bus->max_fds);
		break;
	case -ECONNRESET:
		conn_disconnected(bus, err);
		break;
	default:
		bus_error_set(err, BUS_ERROR_FAILED, "%s", strerror(-r));
		break;
	}
	return r;
}

/* The answer was found at off: hand it over, then take it out of the input
 * (everything around it stays queued for bus_process()). */
static int sync_answer(bus_t *bus, size_t off, const struct conn_frame *f, bus_error_t *err,
		       call_sync_fn fn, void *ud)
{
	struct conn_msg_strings s;
	bus_msg_t m;
	int r;

	if (conn_msg_make(f, &m, &s) < 0) {
		r = call_send_error(bus, -ENOMEM, NULL, err);
	} else if (m.kind == BUS_KIND_ERROR) {
		error_from_msg(err, &m);
		r = -EREMOTE;
	} else if ((r = fdpass_msg(bus, f, &m, &s)) < 0) {
		/* An out-of-line body libbus cannot trust: the call fails. */
		bus_error_set(err, r == -EBADMSG ? BUS_ERROR_UNSEALED_BODY : BUS_ERROR_FAILED,
			      "the reply was refused: %s", s.body_why);
	} else {
		r = fn ? fn(bus, &m, ud, err) : 0;
	}
	conn_msg_done(&s);
	conn_remove(bus, off, f->len);
	return r;
}

/* Replies with bodies this large are read past the input buffer. */
#define DIRECT_BODY_MIN (64u * 1024u)

static int sync_wait(bus_t *bus, uint64_t serial, uint64_t deadline, uint64_t timeout_usec,
		     bus_error_t *err, call_sync_fn fn, void *ud)
{
	size_t scan = 0; /* frames before in.start + scan were looked at */

	for (;;) {
		struct conn_frame f;
		size_t off;
		int r;

		while ((off = bus->in.start + scan) < bus->in.end && (r = conn_frame_at(bus, off, &f)) > 0) {
			if ((f.h.kind == WIRE_KIND_REPLY || f.h.kind == WIRE_KIND_ERROR) &&
			    f.h.reply_serial == serial)
				return sync_answer(bus, off, &f, err, fn, ud);
			/* bus.Peer.Ping is answered while the program waits */
			if (serve_peer(bus, &f.h)) {
				conn_remove(bus, off, f.len);
				continue;
			}
			conn_note_frame(bus, &f); /* a loss right after it can say why */
			scan += f.len;
		}
		/* The answer has begun to arrive and is large: its body is read
		 * into a block of its own, which bus_call() hands over as it is. */
		if (bus->state == CONN_UP && off < bus->in.end && conn_head_at(bus, off, &f) &&
		    f.h.kind == WIRE_KIND_REPLY && f.h.reply_serial == serial &&
		    f.body_len >= DIRECT_BODY_MIN) {
			uint8_t *body = NULL;
			r = conn_read_body(bus, off, &f, deadline, &body);
			if (r == -ENOMEM)
				return call_send_error(bus, r, NULL, err);
			if (r > 0) {
				f.body = body;
				bus->direct_body = body;
				r = sync_answer(bus, off, &f, err, fn, ud);
				free(bus->direct_body); /* unless fn took it */
				bus->direct_body = NULL;
				return r;
			}
			continue;
		}
		if (bus->state != CONN_UP)
			return call_send_error(bus, -ECONNRESET, NULL, err);

		uint64_t now = conn_now();
		if (now >= deadline) {
			timeout_error(err, timeout_usec);
			return -ETIMEDOUT;
		}
		if (bus->out.end == bus->out.start) {
			r = conn_read_wait(bus, deadline);
			if (r == -ENOMEM)
				return call_send_error(bus, r, NULL, err);
			continue;
		}
		int ms = -1;
		if (deadline != UINT64_MAX) {
			uint64_t left = (deadline - now + 999) / 1000;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		struct pollfd pfd = { .fd = bus->fd, .events = POLLIN };
		if (bus->out.end > bus->out.start)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, ms) < 0) {
			if (errno == EINTR)
				continue;
			return call_send_error(bus, -errno, NULL, err);
		}
		if (pfd.revents & (POLLOUT | POLLERR))
			conn_write(bus);
		if (bus->fd >= 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			r = conn_read(bus);
			if (r == -ENOMEM)
				return call_send_error(bus, r, NULL, err);
		}
	}
}

int call_sync(bus_t *bus, wire_header *h, const void *body, size_t len,
	      const ProtobufCMessage *msg, uint64_t timeout_usec, bus_error_t *err,
	      call_sync_fn fn, void *ud)
{
	const char *why = NULL;

	bus_error_clear(err);
	if (!conn_usable(bus))
		return call_send_error(bus, -ECONNRESET, NULL, err);
	if (bus->monitor) {
		bus_error_set(err, BUS_ERROR_FAILED, "a monitor connection cannot make calls");
		return -EPERM;
	}
	h->kind = WIRE_KIND_CALL;
	h->serial = conn_next_serial(bus);
	uint64_t now = conn_now();
	uint64_t deadline = timeout_usec == 0 || timeout_usec >= UINT64_MAX - now ?
			    UINT64_MAX : now + timeout_usec;
	if (bus->trim_at) /* a program that only makes sync calls */
		conn_trim(bus, now);
	/* The call waits anyway: a large body goes out from the caller's
	 * memory, not through a copy. */
	int r = conn_send_until(bus, h, body, len, msg, deadline, &why);
	if (r < 0)
		return call_send_error(bus, r, why, err);
	if (bus->corked)
		conn_write(bus); /* a sync call from a handler must not wait for the batch */
	r = sync_wait(bus, h->serial, deadline, timeout_usec, err, fn, ud);
	/* Frames that arrived meanwhile wait in the input buffer: an attached
	 * loop must come back for them even though the socket is quiet. */
	loop_changed(bus);
	return r;
}

/* ---------------------------------------------------------------- API */

struct copy_out {
	void **reply;
	size_t *len;
	int *fds;         /* room for *n_fds of the reply's descriptors */
	unsigned *n_fds;
};

static int copy_reply(bus_t *bus, const bus_msg_t *m, void *ud, bus_error_t *err)
{
	struct copy_out *c = ud;
	void *d = NULL;

	if (m->body_len && m->body == bus->direct_body) {
		d = bus->direct_body; /* read for this reply alone: taken as it is */
		bus->direct_body = NULL;
	} else if (m->body_len) {
		d = malloc(m->body_len);
		if (!d) {
			bus_error_set(err, BUS_ERROR_FAILED, "out of memory for a %zu byte reply", m->body_len);
			return -ENOMEM;
		}
		memcpy(d, m->body, m->body_len);
	}
	if (c->reply)
		*c->reply = d;
	else
		free(d);
	if (c->len)
		*c->len = m->body_len;
	if (c->n_fds) {
		unsigned room = c->fds ? *c->n_fds : 0;
		*c->n_fds = 0;
		for (unsigned i = 0; i < m->n_fds && i < room; i++)
			c->fds[(*c->n_fds)++] = bus_msg_take_fd(m, i);
	}
	return 0;
}

static void header_init(wire_header *h, const char *dest, const char *interface,
			const char *method, const char *body_type)
{
	memset(h, 0, sizeof(*h));
	h->kind = WIRE_KIND_CALL;
	h->destination = wire_str_c(dest);
	h->interface = wire_str_c(interface);
	h->member = wire_str_c(method);
	h->body_type = wire_str_c(body_type);
}

int bus_call(bus_t *bus, const char *dest, const char *interface, const char *method,
	     const char *body_type, const void *body, size_t len,
	     uint64_t timeout_usec, bus_error_t *err, void **reply, size_t *reply_len)
{
	struct copy_out c = { reply, reply_len, NULL, NULL };
	wire_header h;

	if (reply)
		*reply = NULL;
	if (reply_len)
		*reply_len = 0;
	if (!bus || !dest || !method || (len && !body)) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "missing destination, method or body");
		return -EINVAL;
	}
	header_init(&h, dest, interface, method, body_type);
	return call_sync(bus, &h, body, len, NULL, timeout_usec, err, copy_reply, &c);
}

int bus_call_async(bus_t *bus, bus_slot_t **slot, const char *dest, const char *interface,
		   const char *method, const char *body_type, const void *body, size_t len,
		   uint64_t timeout_usec, bus_reply_fn cb, void *userdata)
{
	wire_header h;
	struct pending *p = NULL;
	bus_slot_t *s = NULL;

	if (slot)
		*slot = NULL;
	if (!bus || !dest || !method || (len && !body))
		return -EINVAL;
	if (!conn_usable(bus))
		return -ECONNRESET;
	if (bus->monitor)
		return -EPERM;
	header_init(&h, dest, interface, method, body_type);
	/* Without a callback nobody wants the answer: say so to the callee. */
	if (!cb) {
		h.flags = WIRE_FLAG_NO_REPLY_EXPECTED;
		h.serial = conn_next_serial(bus);
		return conn_send(bus, &h, body, len, NULL, NULL);
	}
	int r = slot_prepare(bus, slot, SLOT_CALL, userdata, &s);
	if (r == 0)
		r = call_start(bus, &h, body, len, NULL, timeout_usec, &p);
	if (r == -EMSGSIZE || r == -E2BIG) {
		/* Too big for busd: not sent, and cb hears why, as it would
		 * hear busd's answer. */
		bus_error_t e;
		call_send_error(bus, r, NULL, &e);
		r = (p = call_add_settled(bus, &e)) ? 0 : -ENOMEM;
	}
	if (r < 0) {
		bus_slot_unref(s);
		return r;
	}
	p->cb = cb;
	p->userdata = userdata;
	p->slot = s;
	slot_bind(s, slot, p);
	return 0;
}

/* The frame queued next carries fds (conn.c's queue_frame() takes them);
 * whatever is not sent, nothing is left for a later frame. */
static void next_fds(bus_t *bus, const int *fds, unsigned n)
{
	bus->next_fds = n ? fds : NULL;
	bus->next_n_fds = n;
	bus->refused_fds = n;
}

int bus_call_fds(bus_t *bus, const char *dest, const char *interface, const char *method,
		 const char *body_type, const void *body, size_t len, const int *fds,
		 unsigned n_fds, uint64_t timeout_usec, bus_error_t *err, void **reply,
		 size_t *reply_len, int *reply_fds, unsigned *n_reply_fds)
{
	struct copy_out c = { reply, reply_len, reply_fds, n_reply_fds };
	unsigned none = 0;
	wire_header h;

	if (reply)
		*reply = NULL;
	if (reply_len)
		*reply_len = 0;
	if (!c.n_fds)
		c.n_fds = &none;
	if (!bus || !dest || !method || (len && !body) || (n_fds && !fds)) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "missing destination, method, body or fds");
		if (n_reply_fds)
			*n_reply_fds = 0;
		return -EINVAL;
	}
	header_init(&h, dest, interface, method, body_type);
	next_fds(bus, fds, n_fds);
	int r = call_sync(bus, &h, body, len, NULL, timeout_usec, err, copy_reply, &c);
	next_fds(bus, NULL, 0);
	if (r < 0 && n_reply_fds)
		*n_reply_fds = 0;
	return r;
}

int bus_call_async_fds(bus_t *bus, bus_slot_t **slot, const char *dest, const char *interface,
		       const char *method, const char *body_type, const void *body, size_t len,
		       const int *fds, unsigned n_fds, uint64_t timeout_usec, bus_reply_fn cb,
		       void *userdata)
{
	if (!bus || (n_fds && !fds))
		return -EINVAL;
	next_fds(bus, fds, n_fds);
	int r = bus_call_async(bus, slot, dest, interface, method, body_type, body, len,
			       timeout_usec, cb, userdata);
	next_fds(bus, NULL, 0);
	return r;
}

unsigned bus_get_max_fds(bus_t *bus)
{
	return bus ? bus->max_fds : 0;
}

ProtobufCMessage *bus_msg_unpack(const bus_msg_t *msg, const ProtobufCMessageDescriptor *desc)
{
	if (!msg || !desc || (msg->body_len && !msg->body)) {
		errno = EINVAL;
		return NULL;
	}
	/* A typed body is only ever taken for its own type: another type's
	 * bytes would often parse, as garbage. */
	if (msg->body_type[0] && strcmp(msg->body_type, desc->name) != 0) {
		errno = ENOMSG;
		return NULL;
	}
	ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, msg->body_len, msg->body);
	if (!m)
		errno = EBADMSG;
	return m;
}
