/* reconnect.c - after the broker went away: tries on a backoff with jitter,
 * driven by bus_process(), each a connect and a Hello, then the old
 * connection's state (schemas, exports, names, subscriptions, monitor) as
 * control calls answered through the loop, never waited for; nothing else is
 * dispatched until the restore is done, and the program is told what could
 * not be restored. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-internal.h"
#include "bus.pb-c.h"

static uint64_t jitter_next(bus_t *bus)
{
	uint64_t x = bus->rand_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	bus->rand_state = x;
	return x;
}

/* Wait for the next try: a delay from [d/2, d], d doubling up to RETRY_MAX. */
static void retry_schedule(bus_t *bus)
{
	uint64_t d = bus->retry_delay ? bus->retry_delay : RETRY_MIN;

	bus->retry_delay = d >= RETRY_MAX / 2 ? RETRY_MAX : d * 2;
	d = d / 2 + jitter_next(bus) % (d / 2 + 1);
	/* The rest of a frame cut short belongs to no connection. Without
	 * moving pinned bytes: a callback may still read them. */
	bus->in.start = bus->in.end;
	bus->out.start = bus->out.end = 0;
	fdpass_drop(bus, 1);
	bus->state = CONN_RETRY;
	bus->retry_at = conn_now() + d;
	loop_changed(bus);
}

int bus_set_reconnect(bus_t *bus, int enable)
{
	if (!bus)
		return -EINVAL;
	bus->reconnect = enable != 0;
	if (bus->closing)
		return 0;
	if (enable && bus->state == CONN_DOWN) {
		bus->retry_delay = RETRY_MIN;
		retry_schedule(bus);
	} else if (!enable && bus->state == CONN_RESTORE) {
		conn_lose(bus, 0, "reconnecting was turned off");
		restore_abort(bus);
	} else if (!enable && bus->state == CONN_RETRY) {
		bus->state = CONN_DOWN;
		loop_changed(bus);
	}
	return 0;
}

int lifetime_lost(bus_t *bus)
{
	if (!bus->reconnect || bus->closing) {
		bus->state = CONN_DOWN;
		return 0;
	}
	retry_schedule(bus);
	return 1;
}

/* ---------------------------------------------------------------- the calls */

/* A restoring call: what busd's refusal is reported as, or (fatal) that it
 * fails the try. */
struct restore_op {
	enum bus_conn_event what;
	int fatal;
	char subject[];
};

static void restore_note(bus_t *bus, enum bus_conn_event what, const char *subject,
			 const bus_error_t *err)
{
	size_t n = strlen(subject) + 1;
	struct restore_fail *f = malloc(sizeof(*f) + n);

	/* Out of memory for the note costs only the report. */
	if (!f)
		return;
	f->next = NULL;
	f->what = what;
	f->err = *err;
	memcpy(f->subject, subject, n);
	*bus->restore.tail = f;
	bus->restore.tail = &f->next;
}

static void restore_batch(bus_t *bus);

static void restore_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct restore_op *op = ud;

	bus->restore.outstanding--;
	if (op->fatal) {
		if (err)
			conn_lose(bus, 0, "%s refused while reconnecting: %s: %s", op->subject,
				  err->name, err->message);
	} else if (err) {
		/* Refused (a name taken meanwhile, a limit): not worth failing
		 * the connection over; the program hears of it. */
		restore_note(bus, op->what, op->subject, err);
	} else if (op->what == BUS_CONN_SUBSCRIBE_FAILED) {
		sub_restored(bus, op->subject);
	}
	if (bus->state == CONN_RESTORE && bus->restore.outstanding == 0)
		restore_batch(bus);
}

static int restore_send(bus_t *bus, const char *method, const ProtobufCMessage *req,
			enum bus_conn_event what, const char *subject, int fatal)
{
	size_t n = subject ? strlen(subject) + 1 : 1;
	struct restore_op *op = malloc(sizeof(*op) + n);
	struct pending *p;

	if (!op)
		return -ENOMEM;
	op->what = what;
	op->fatal = fatal;
	memcpy(op->subject, subject ? subject : "", n);
	int r = control_send(bus, method, req, 0, restore_answer, op, &p);
	if (r < 0) {
		free(op);
		return r;
	}
	p->restore = 1;
	p->userdata_free = free;
	bus->restore.outstanding++;
	return 0;
}

int restore_call(bus_t *bus, const char *method, const ProtobufCMessage *req,
		 enum bus_conn_event what, const char *subject)
{
	return restore_send(bus, method, req, what, subject, 0);
}

static int restore_kept(bus_t *bus, struct kept *list, int names)
{
	int sent = 0;

	for (struct kept *k = list; k; k = k->next) {
		int r;
		if (k->gen == bus->generation)
			continue;
		k->gen = bus->generation;
		if (names) {
			Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
			req.name = (char *)k->data;
			r = restore_call(bus, "RequestName", &req.base, BUS_CONN_NAME_LOST, req.name);
		} else {
			Bus__AddSchemaRequest req = BUS__ADD_SCHEMA_REQUEST__INIT;
			req.file_descriptor_set.data = k->data;
			req.file_descriptor_set.len = k->len;
			r = restore_call(bus, "AddSchema", &req.base, BUS_CONN_SCHEMA_FAILED, NULL);
			if (r == -EMSGSIZE) {
				/* Too big for the new busd's frames: refused like
				 * busd would, the rest goes on. */
				bus_error_t e;
				call_send_error(bus, r, NULL, &e);
				restore_note(bus, BUS_CONN_SCHEMA_FAILED, "", &e);
				continue;
			}
		}
		if (r < 0)
			return r;
		sent++;
	}
	return sent;
}

/* Send what the new connection lacks, in the order a service sets itself up:
 * schemas and exports before the names, so that once a name shows,
 * Introspect describes it. busd reads them in order and answers each; when
 * the last answer is in, whatever the program registered meanwhile goes in
 * another batch, then Monitor, which allows no more calls, and then the
 * restore is complete. */
static void restore_batch(bus_t *bus)
{
	struct restore *rs = &bus->restore;
	int r, sent = 0;

	if ((r = restore_kept(bus, bus->schemas, 0)) >= 0) {
		sent += r;
		r = serve_restore(bus);
	}
	if (r >= 0) {
		sent += r;
		r = restore_kept(bus, bus->names, 1);
	}
	if (r >= 0) {
		sent += r;
		r = sub_restore(bus);
	}
	if (r >= 0 && r + sent == 0 && bus->monitor && !rs->monitor_sent) {
		/* Not a monitor again, the monitor callback would get nothing:
		 * a refusal fails the try. */
		Bus__MonitorRequest req = BUS__MONITOR_REQUEST__INIT;
		req.memfd_bodies = bus->monitor_bodies;
		rs->monitor_sent = 1;
		r = restore_send(bus, "Monitor", &req.base, BUS_CONN_LOST, "Monitor", 1);
	}
	if (r < 0)
		conn_lose(bus, 0, "reconnecting failed: %s", strerror(-r));
}

static void restore_hello(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	bus_error_t e;

	(void)ud;
	bus->restore.outstanding--;
	if (err) {
		conn_lose(bus, 0, "Hello failed while reconnecting: %s: %s", err->name, err->message);
		return;
	}
	if (lifetime_hello_accept(bus, reply, &e) < 0) {
		conn_lose(bus, 0, "Hello failed while reconnecting: %s", e.message);
		return;
	}
	bus->restore.hello_done = 1;
	restore_batch(bus);
}

/* ---------------------------------------------------------------- the try */

void lifetime_retry(bus_t *bus)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	struct restore *rs = &bus->restore;
	struct pending *p;
	bus_error_t err;
	char client[LIFETIME_CLIENT_LEN];

	int fd = lifetime_socket_open(bus->address, 1, &err);
	if (fd < 0) {
		retry_schedule(bus);
		return;
	}
	bus->fd = fd;
	bus->state = CONN_RESTORE;
	bus->rcvtimeo = 0;
	bus->lost_reason[0] = 0;
	bus_error_clear(&bus->notice);
	bus->generation++; /* calls served before are not answered on this one */
	memset(rs, 0, sizeof(*rs));
	rs->tail = &rs->first;
	rs->active = 1;
	rs->deadline = conn_now() + RESTORE_TIMEOUT;
	lifetime_client_text(client);
	req.protocol_version = BUS_PROTOCOL_VERSION;
	req.client = client;
	req.memfd_bodies = 1;
	if (control_send(bus, "Hello", &req.base, 0, restore_hello, NULL, &p) < 0) {
		conn_lose(bus, 0, "reconnecting failed: out of memory");
		restore_abort(bus);
		return;
	}
	p->restore = 1;
	rs->outstanding = 1;
	loop_changed(bus); /* the libevent glue takes the new socket */
}

int restore_has_work(bus_t *bus)
{
	return conn_frame_ready(bus, bus->in.start + bus->restore.scan);
}

/* Take the answer at off out of the input and hand it to its call (which
 * runs no callback of the program), like a sync call's wait does. */
static void restore_take(bus_t *bus, struct pending *p, size_t off, const struct conn_frame *f)
{
	struct conn_msg_strings s;
	bus_msg_t m;

	if (conn_msg_make(f, &m, &s) < 0) {
		conn_lose(bus, 0, "reconnecting failed: out of memory");
		return;
	}
	call_answer(bus, p, &m);
	conn_msg_done(&s);
	conn_remove(bus, off, f->len);
}

int restore_step(bus_t *bus)
{
	struct restore *rs = &bus->restore;

	/* Corked: the calls answers send leave after the loop, so nothing
	 * writes (or, failing, drains input) under an offset in use here. */
	bus->corked++;
	while (bus->state == CONN_RESTORE && rs->outstanding > 0) {
		size_t off = bus->in.start + rs->scan;
		struct conn_frame f;
		struct pending *p;

		if (off >= bus->in.end || conn_frame_at(bus, off, &f) <= 0)
			break;
		if ((f.h.kind == WIRE_KIND_REPLY || f.h.kind == WIRE_KIND_ERROR) &&
		    (p = call_lookup(bus, f.h.reply_serial)) && p->restore) {
			restore_take(bus, p, off, &f);
		} else {
			/* Calls to restored names, events: after the restore. */
			conn_note_frame(bus, &f);
			rs->scan += f.len;
		}
	}
	bus->corked--;
	if (bus->state == CONN_RESTORE && rs->outstanding > 0 && conn_now() >= rs->deadline)
		conn_lose(bus, 0, "busd did not answer within %llu s while reconnecting",
			  RESTORE_TIMEOUT / 1000000ull);
	return bus->state == CONN_RESTORE && rs->outstanding == 0;
}

static void fails_free(struct restore *rs)
{
	struct restore_fail *f, *next;

	for (f = rs->first; f; f = next) {
		next = f->next;
		free(f);
	}
	rs->first = NULL;
	rs->tail = &rs->first;
}

void restore_finish(bus_t *bus)
{
	struct restore *rs = &bus->restore;
	struct restore_fail *fails = rs->first;

	rs->first = NULL;
	rs->tail = &rs->first;
	rs->scan = 0;
	rs->active = 0;
	bus->state = CONN_UP;
	bus->retry_delay = RETRY_MIN;
	/* A name busd refused is someone else's now: not asked for again. */
	for (struct restore_fail *f = fails; f; f = f->next)
		if (f->what == BUS_CONN_NAME_LOST)
			lifetime_kept_remove(&bus->names, f->subject, strlen(f->subject) + 1);
	loop_changed(bus);
	watch_restore(bus);
	for (struct restore_fail *f = fails; f && !bus->closing; f = f->next)
		if (bus->on_connection)
			bus->on_connection(bus, f->what, f->subject[0] ? f->subject : NULL, &f->err,
					   bus->connection_data);
	rs->first = fails;
	fails_free(rs);
	if (bus->on_connection && !bus->closing)
		bus->on_connection(bus, BUS_CONN_RESTORED, bus->unique, NULL, bus->connection_data);
}

void restore_free(bus_t *bus)
{
	call_drop_restore(bus);
	fails_free(&bus->restore);
	bus->restore.outstanding = 0;
	bus->restore.scan = 0;
	bus->restore.active = 0;
}

void restore_abort(bus_t *bus)
{
	restore_free(bus);
	if (bus->fd >= 0) {
		attach_update(bus);
		close(bus->fd);
		bus->fd = -1;
	}
	if (bus->reconnect && !bus->closing) {
		retry_schedule(bus);
	} else {
		bus->state = CONN_DOWN;
		loop_changed(bus);
	}
}
