/* loop.c - driving a connection from any event loop (fd, events, timeout,
 * process), dispatching received frames to the modules that own them, and
 * the small private loop of bus_run(). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>

#include "bus-internal.h"

/* ---------------------------------------------------------------- dispatch */

static int is_notice_for_us(const bus_t *bus, const bus_msg_t *m)
{
	return m->kind == BUS_KIND_ERROR && m->reply_serial == 0 &&
	       strcmp(m->sender, BUS_NAME) == 0 &&
	       (!m->destination[0] || (bus->unique && strcmp(m->destination, bus->unique) == 0));
}

static void dispatch_msg(bus_t *bus, const bus_msg_t *m)
{
	if (bus->monitor) {
		if (is_notice_for_us(bus, m))
			conn_note(bus, m);
		else
			bus->monitor(bus, m, bus->monitor_data);
		return;
	}
	switch (m->kind) {
	case BUS_KIND_CALL:
		serve_dispatch(bus, m);
		break;
	case BUS_KIND_REPLY:
	case BUS_KIND_ERROR:
		call_dispatch(bus, m);
		break;
	case BUS_KIND_EVENT:
		sub_dispatch(bus, m);
		break;
	default:
		break; /* a kind from a newer protocol: nothing here wants it */
	}
}

/* A frame whose out-of-line body is not sound (r -EBADMSG) or could not be
 * mapped (-ENOMEM), why: a call is answered bus.Error.UnsealedBody (or
 * Failed), a call of ours waiting for this reply fails with it, an event
 * is dropped. Nothing sees the frame otherwise. */
static void refuse_body(bus_t *bus, const bus_msg_t *m, int r, const char *why)
{
	const char *name = r == -EBADMSG ? BUS_ERROR_UNSEALED_BODY : BUS_ERROR_FAILED;
	bus_error_t e;
	struct pending *p;

	switch (m->kind) {
	case BUS_KIND_CALL:
		serve_refuse(bus, m, name, why);
		break;
	case BUS_KIND_REPLY:
		if (!(p = call_lookup(bus, m->reply_serial)))
			break;
		bus_error_set(&e, name, "the reply was refused: %s", why);
		call_unlink(bus, p);
		call_complete(bus, p, NULL, &e);
		break;
	default:
		break;
	}
}

/* Dispatch every complete frame at the head of the input. Each frame is
 * consumed before its callbacks run, so that a sync call made from one sees
 * only what follows; its bytes stay put (pinned) until they return. */
static int dispatch_all(bus_t *bus)
{
	int n = 0;

	while (!bus->closing && bus->in.start < bus->in.end) {
		struct conn_frame f;
		struct conn_msg_strings s;
		bus_msg_t m;

		if (conn_frame_at(bus, bus->in.start, &f) <= 0)
			break;
		if (!bus->monitor && serve_peer(bus, &f.h)) {
			bus->in.start += f.len;
			n++;
			continue;
		}
		if (conn_msg_make(&f, &m, &s) < 0)
			break; /* out of memory: the frame stays for the next try */
		int bad = fdpass_msg(bus, &f, &m, &s);
		bus->in.start += f.len;
		fdpass_consumed(bus, f.len);
		conn_pin(bus);
		if (bad < 0 && !bus->monitor) /* a monitor sees it, its body empty */
			refuse_body(bus, &m, bad, s.body_why);
		else
			dispatch_msg(bus, &m);
		conn_unpin(bus);
		conn_msg_done(&s);
		n++;
	}
	return n;
}

/* Report a lost connection once, after the frames that came before it.
 * Reconnecting, the first try is scheduled before any callback runs, so
 * that what callbacks do (subscribe, export...) is kept for it. */
static void report_lost(bus_t *bus)
{
	bus_error_t e;

	conn_disconnected(bus, &e);
	lifetime_lost(bus);
	call_fail_all(bus, &e);
	if (bus->on_disconnect && !bus->closing)
		bus->on_disconnect(bus, bus->disconnect_data);
	if (bus->on_connection && !bus->closing)
		bus->on_connection(bus, BUS_CONN_LOST, NULL, &e, bus->connection_data);
	if (!bus->closing)
		watch_lost(bus);
}

/* One round of work; read: also try a non-blocking read (bus_run skips it
 * right after a blocking one, which would only find the socket empty). */
static int loop_step(bus_t *bus, int read, int *freed)
{
	int did = 0, r;

	*freed = 0;
	if (!bus)
		return -EINVAL;
	if (bus->closing || bus->state == CONN_DOWN)
		return -ECONNRESET;
	lifetime_hold(bus);
	if (bus->state == CONN_RETRY && conn_now() >= bus->retry_at) {
		lifetime_retry(bus);
		did = 1;
	}
	if (bus->out.end > bus->out.start && conn_write(bus) > 0)
		did = 1;
	if (read && conn_open(bus) && conn_read(bus) > 0)
		did = 1;
	bus->corked++;
	/* Restored, the rest of this round serves the new connection; until
	 * then its frames wait. */
	if (bus->state == CONN_RESTORE && restore_step(bus)) {
		restore_finish(bus);
		did = 1;
	}
	if (!bus->restore.active)
		did += dispatch_all(bus);
	bus->corked--;
	if (bus->out.end > bus->out.start && !bus->corked)
		conn_write(bus); /* everything the batch produced, in one write */
	if (!bus->closing && !bus->restore.active) {
		uint64_t now = conn_now();
		did += call_expire(bus, now);
		conn_trim(bus, now);
	}
	if (bus->state == CONN_LOST && !bus->closing) {
		/* A try that failed is not news: the next one is scheduled. */
		if (bus->restore.active)
			restore_abort(bus);
		else
			report_lost(bus);
		did++;
	}
	r = did > 0;
	if (bus->state == CONN_DOWN || bus->closing)
		r = -ECONNRESET;
	if (lifetime_drop(bus)) {
		*freed = 1;
		return -ECONNRESET;
	}
	return r;
}

int loop_process(bus_t *bus, int *freed)
{
	return loop_step(bus, 1, freed);
}

int bus_process(bus_t *bus)
{
	int freed;

	return loop_process(bus, &freed);
}

/* ---------------------------------------------------------------- polling */

int bus_get_fd(const bus_t *bus)
{
	return bus ? bus->fd : -EINVAL;
}

int bus_get_events(const bus_t *bus)
{
	if (!bus || !conn_open(bus) || bus->fd < 0)
		return 0;
	return POLLIN | (bus->out.end > bus->out.start ? POLLOUT : 0);
}

int bus_get_timeout(const bus_t *bus, uint64_t *usec)
{
	if (!bus || !usec)
		return -EINVAL;
	if (bus->closing || bus->state == CONN_DOWN) {
		*usec = UINT64_MAX;
		return -ENOTCONN;
	}
	/* Frames left queued by a sync call, or a loss to report, are due now:
	 * the socket alone would never wake the loop for them. */
	*usec = conn_has_work((bus_t *)bus) ? 0 : loop_next_deadline(bus);
	return 0;
}

uint64_t loop_next_deadline(const bus_t *bus)
{
	/* A try under way expires nothing but itself. */
	if (bus->restore.active)
		return bus->restore.deadline;
	uint64_t due = call_next_deadline(bus);
	if (bus->state == CONN_RETRY && bus->retry_at < due)
		due = bus->retry_at;
	if (bus->trim_at && bus->trim_at < due)
		due = bus->trim_at;
	return due;
}

static int ms_until(uint64_t deadline, uint64_t now)
{
	if (deadline == UINT64_MAX)
		return -1;
	if (deadline <= now)
		return 0;
	uint64_t ms = (deadline - now + 999) / 1000; /* never wake early */
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int bus_wait(bus_t *bus, uint64_t timeout_usec)
{
	if (!bus)
		return -EINVAL;
	if (bus->closing || bus->state == CONN_DOWN)
		return -ENOTCONN;
	if (conn_has_work(bus))
		return 1;
	uint64_t now = conn_now();
	uint64_t until = timeout_usec >= UINT64_MAX - now ? UINT64_MAX : now + timeout_usec;
	uint64_t due = loop_next_deadline(bus);
	if (due < until)
		until = due;
	/* Reconnecting there is no socket: poll() ignores fd -1 and sleeps. */
	struct pollfd pfd = { .fd = bus->fd, .events = (short)bus_get_events(bus) };
	int r = poll(&pfd, 1, ms_until(until, now));
	if (r < 0)
		return -errno;
	return r > 0;
}

int bus_flush(bus_t *bus)
{
	if (!bus)
		return -EINVAL;
	while (bus->out.end > bus->out.start) {
		if (!conn_open(bus))
			return -ECONNRESET;
		int r = conn_write(bus);
		if (r < 0)
			return r;
		if (bus->out.end == bus->out.start)
			break;
		struct pollfd pfd = { .fd = bus->fd, .events = POLLOUT };
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
	return conn_open(bus) ? 0 : -ECONNRESET;
}

/* ---------------------------------------------------------------- bus_run */

int bus_run(bus_t *bus)
{
	int r, freed;

	if (!bus)
		return -EINVAL;
	bus->exit_requested = 0;
	lifetime_hold(bus);
	int read = 1;
	for (;;) {
		r = loop_step(bus, read, &freed);
		if (bus->exit_requested) {
			r = bus->exit_code;
			break;
		}
		if (r < 0)
			break;
		read = 1;
		if (conn_has_work(bus))
			continue;
		/* The private loop waits in recv() itself when it has nothing to
		 * write: one syscall per wake-up instead of poll() and recv().
		 * Reconnecting, it sleeps until the next try. */
		if (bus->state == CONN_RETRY) {
			r = bus_wait(bus, UINT64_MAX);
		} else if (bus->out.end == bus->out.start) {
			r = conn_read_wait(bus, loop_next_deadline(bus));
			read = 0;
		} else {
			r = bus_wait(bus, UINT64_MAX);
		}
		if (r < 0 && r != -EINTR && r != -ECONNRESET) {
			if (r == -ENOTCONN)
				r = -ECONNRESET;
			break;
		}
	}
	bus->exit_requested = 0;
	lifetime_drop(bus);
	return r;
}

void bus_exit(bus_t *bus, int code)
{
	if (!bus)
		return;
	bus->exit_requested = 1;
	bus->exit_code = code;
}

void loop_changed(bus_t *bus)
{
	if (bus->attach)
		attach_update(bus);
}
