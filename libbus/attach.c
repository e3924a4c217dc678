/* attach.c - the libevent glue: a persistent read event, a write event armed
 * only while output is queued, and one timer for the nearest call deadline
 * (or "now" when frames wait in the input buffer, or the next reconnect
 * try). Every callback runs bus_process() and re-arms; libbus re-arms too
 * when user code queues output or adds a deadline between loop iterations
 * (loop_changed). A reconnect brings a new socket: the events move to it. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <event2/event.h>

#include "bus-internal.h"

struct attach {
	struct event_base *base;
	struct event *rd, *wr, *timer;
	int fd;            /* the socket rd and wr are for */
	uint64_t timer_at; /* deadline the timer is armed for */
};

static void attach_ready(evutil_socket_t fd, short what, void *arg)
{
	bus_t *bus = arg;
	int freed;

	loop_process(bus, &freed);
	if (!freed)
		attach_update(bus);
}

static void event_set_on(struct event *ev, int on)
{
	int pending = event_pending(ev, EV_READ | EV_WRITE, NULL) != 0;

	if (on && !pending)
		event_add(ev, NULL);
	else if (!on && pending)
		event_del(ev);
}

void attach_update(bus_t *bus)
{
	struct attach *a = bus->attach;

	if (!a)
		return;
	int up = conn_open(bus) && bus->fd >= 0;
	if (up && bus->fd != a->fd) {
		/* A new connection: libevent allows re-assigning events that are
		 * not pending. The old socket was closed with both deleted. */
		event_set_on(a->rd, 0);
		event_set_on(a->wr, 0);
		event_assign(a->rd, a->base, bus->fd, EV_READ | EV_PERSIST, attach_ready, bus);
		event_assign(a->wr, a->base, bus->fd, EV_WRITE | EV_PERSIST, attach_ready, bus);
		a->fd = bus->fd;
	}
	event_set_on(a->rd, up);
	event_set_on(a->wr, up && bus->out.end > bus->out.start);

	uint64_t at = UINT64_MAX;
	if (!bus->closing && bus->state != CONN_DOWN)
		at = conn_has_work(bus) ? 0 : loop_next_deadline(bus);
	int armed = event_pending(a->timer, EV_TIMEOUT, NULL) != 0;
	if (at == UINT64_MAX) {
		if (armed)
			event_del(a->timer);
		return;
	}
	if (armed && a->timer_at == at)
		return;
	uint64_t now = conn_now(), left = at > now ? at - now : 0;
	struct timeval tv = { .tv_sec = (time_t)(left / 1000000u), .tv_usec = (suseconds_t)(left % 1000000u) };
	event_add(a->timer, &tv);
	a->timer_at = at;
}

int bus_attach_event(bus_t *bus, struct event_base *base)
{
	if (!bus || !base)
		return -EINVAL;
	if (bus->attach)
		return -EBUSY;
	/* Reconnecting, the events get the socket once there is one. */
	if ((!conn_usable(bus) || bus->fd < 0) && !conn_reconnecting(bus))
		return -ENOTCONN;
	struct attach *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->base = base;
	a->fd = bus->fd;
	a->rd = event_new(base, bus->fd, EV_READ | EV_PERSIST, attach_ready, bus);
	a->wr = event_new(base, bus->fd, EV_WRITE | EV_PERSIST, attach_ready, bus);
	a->timer = evtimer_new(base, attach_ready, bus);
	if (!a->rd || !a->wr || !a->timer) {
		bus->attach = a;
		attach_free(bus);
		return -ENOMEM;
	}
	bus->attach = a;
	attach_update(bus);
	return 0;
}

void attach_free(bus_t *bus)
{
	struct attach *a = bus->attach;

	if (!a)
		return;
	if (a->rd)
		event_free(a->rd);
	if (a->wr)
		event_free(a->wr);
	if (a->timer)
		event_free(a->timer);
	free(a);
	bus->attach = NULL;
}

int bus_detach_event(bus_t *bus)
{
	if (!bus)
		return -EINVAL;
	if (!bus->attach)
		return -ENOENT;
	attach_free(bus);
	return 0;
}
