/* reconnect.c - after the broker went away: tries on a backoff with jitter,
 * driven by bus_process(), then a new connection given the old one's state
 * (Hello, schemas, exports, names, subscriptions, monitor) before anything
 * is dispatched, and the program told what could not be restored. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static int restore_note(struct restore *rs, int what, const char *subject, const bus_error_t *err)
{
	size_t n = subject ? strlen(subject) + 1 : 1;
	struct restore_fail *f = malloc(sizeof(*f) + n);

	if (!f)
		return -ENOMEM;
	f->next = NULL;
	f->what = what;
	f->err = *err;
	memcpy(f->subject, subject ? subject : "", n);
	*rs->tail = f;
	rs->tail = &f->next;
	return 0;
}

int lifetime_restore_check(bus_t *bus, struct restore *rs, int r, int what, const char *subject,
		  const bus_error_t *err)
{
	if (r >= 0)
		return 0;
	/* A broker this slow is as good as gone: try again later. */
	if (r == -ETIMEDOUT)
		conn_lose(bus, 0, "busd did not answer within %llu s while reconnecting",
			  RESTORE_TIMEOUT / 1000000ull);
	if (bus->state != CONN_UP)
		return -ECONNRESET;
	/* Refused (a name taken meanwhile, a limit): not worth failing the
	 * connection over; the program hears of it. Out of memory for the
	 * note costs only the report. */
	restore_note(rs, what, subject, err);
	return 0;
}

static void restore_free(struct restore *rs)
{
	struct restore_fail *f, *next;

	for (f = rs->first; f; f = next) {
		next = f->next;
		free(f);
	}
	rs->first = NULL;
	rs->tail = &rs->first;
}

/* Give the new connection the old one's state, one control call each, in
 * the order a service sets itself up: schemas and exports before the names,
 * so that once a name shows, Introspect describes it. Nothing is dispatched
 * meanwhile (calls to the names queue up), so no callback sees a
 * half-restored connection. */
static int restore(bus_t *bus, struct restore *rs, bus_monitor_fn monitor)
{
	bus_error_t err;
	int r;

	r = lifetime_hello(bus, RESTORE_TIMEOUT, &err);
	if (r < 0) {
		if (bus->state == CONN_UP)
			conn_lose(bus, 0, "Hello failed while reconnecting: %s: %s", err.name, err.message);
		return -ECONNRESET;
	}
	for (struct kept *k = bus->schemas; k; k = k->next) {
		r = lifetime_schema_upload(bus, k->data, k->len, RESTORE_TIMEOUT, &err);
		if (lifetime_restore_check(bus, rs, r, BUS_CONN_SCHEMA_FAILED, NULL, &err) < 0)
			return -ECONNRESET;
	}
	serve_announce_all(bus);
	for (struct kept *k = bus->names; k; k = k->next) {
		Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
		req.name = (char *)k->data;
		r = lifetime_control(bus, "RequestName", &req.base, NULL, NULL, RESTORE_TIMEOUT, &err);
		if (lifetime_restore_check(bus, rs, r, BUS_CONN_NAME_LOST, req.name, &err) < 0)
			return -ECONNRESET;
	}
	if (sub_restore(bus, rs) < 0)
		return -ECONNRESET;
	if (monitor) {
		/* Last: a monitor makes no more control calls. Not being one
		 * again would feed the monitor callback nothing: fail the try. */
		Bus__MonitorRequest req = BUS__MONITOR_REQUEST__INIT;
		r = lifetime_control(bus, "Monitor", &req.base, NULL, NULL, RESTORE_TIMEOUT, &err);
		if (r < 0) {
			if (bus->state == CONN_UP)
				conn_lose(bus, 0, "Monitor refused while reconnecting: %s: %s", err.name,
					  err.message);
			return -ECONNRESET;
		}
	}
	if (!conn_usable(bus))
		return -ECONNRESET;
	/* A name busd refused is someone else's now: not asked for again. */
	for (struct restore_fail *f = rs->first; f; f = f->next)
		if (f->what == BUS_CONN_NAME_LOST)
			lifetime_kept_remove(&bus->names, f->subject, strlen(f->subject) + 1);
	return 0;
}

static void restore_report(bus_t *bus, struct restore *rs)
{
	for (struct restore_fail *f = rs->first; f && !bus->closing; f = f->next)
		if (bus->on_connection)
			bus->on_connection(bus, f->what, f->subject[0] ? f->subject : NULL, &f->err,
					   bus->connection_data);
	restore_free(rs);
	if (bus->on_connection && !bus->closing)
		bus->on_connection(bus, BUS_CONN_RESTORED, bus->unique, NULL, bus->connection_data);
}

int lifetime_retry(bus_t *bus)
{
	struct restore rs = { NULL, &rs.first };
	bus_error_t err;

	int fd = lifetime_socket_open(bus->address, 1, &err);
	if (fd < 0) {
		retry_schedule(bus);
		return 0;
	}
	bus->fd = fd;
	bus->state = CONN_UP;
	bus->rcvtimeo = 0;
	bus->lost_reason[0] = 0;
	bus_error_clear(&bus->notice);
	bus->generation++; /* calls served before are not answered on this one */
	/* Restoring makes calls, which a monitor may not. */
	bus_monitor_fn monitor = bus->monitor;
	bus->monitor = NULL;
	int r = restore(bus, &rs, monitor);
	bus->monitor = monitor;
	if (r < 0) {
		restore_free(&rs);
		if (bus->state == CONN_UP)
			conn_lose(bus, 0, "reconnecting failed");
		retry_schedule(bus);
		return 0;
	}
	bus->retry_delay = RETRY_MIN;
	loop_changed(bus); /* the libevent glue takes the new socket */
	watch_restore(bus);
	restore_report(bus, &rs);
	return 1;
}
