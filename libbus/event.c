/* event.c - events and monitoring: emitting on a topic, local subscriptions
 * (one broker Subscribe per distinct pattern, however many callbacks share
 * it, subscribed again on a new connection), delivering EVENT frames to every
 * matching callback, and turning the connection into a monitor. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"

/* A subscription. gen is the connection its pattern's Subscribe was sent on
 * (0: none yet), active whether busd accepted it there. */
struct sub {
	struct sub *next;
	bus_slot_t *slot;
	int dead;               /* cancelled during a dispatch; freed when it ends */
	unsigned gen;
	int active;
	struct pending *query;  /* its own Subscribe, in flight */
	bus_event_fn cb;
	bus_done_fn done;
	void *userdata;
	char pattern[];
};

/* ---------------------------------------------------------------- emit */

int bus_emit_raw(bus_t *bus, const char *topic, const char *body_type,
		 const void *body, size_t len)
{
	if (!bus || !topic || (len && !body))
		return -EINVAL;
	if (bus->monitor)
		return -EPERM;
	wire_header h = {
		.kind = WIRE_KIND_EVENT,
		.serial = conn_next_serial(bus),
		.member = wire_str_c(topic),
		.body_type = wire_str_c(body_type),
	};
	return conn_send(bus, &h, body, len, NULL, NULL);
}

int bus_emit(bus_t *bus, const char *topic, const ProtobufCMessage *msg)
{
	if (!bus || !topic || !msg)
		return -EINVAL;
	if (bus->monitor)
		return -EPERM;
	wire_header h = {
		.kind = WIRE_KIND_EVENT,
		.serial = conn_next_serial(bus),
		.member = wire_str_c(topic),
		.body_type = wire_str_c(msg->descriptor->name),
	};
	return conn_send(bus, &h, NULL, 0, msg, NULL);
}

/* ---------------------------------------------------------------- subscriptions */

/* "a.b.c" exactly, "a.b.*" anything below a.b. at any depth, "*" all. */
static int pattern_match(const char *pattern, const char *topic)
{
	size_t n = strlen(pattern);

	if (n == 1 && pattern[0] == '*')
		return 1;
	if (n >= 2 && pattern[n - 1] == '*' && pattern[n - 2] == '.')
		return strncmp(topic, pattern, n - 1) == 0 && topic[n - 1] != 0;
	return strcmp(pattern, topic) == 0;
}

/* A live subscription to pattern, other than except, that busd has on this
 * connection: accepted (active) or at least asked for (sent). */
static struct sub *pattern_here(const bus_t *bus, const char *pattern, const struct sub *except,
				int active)
{
	for (struct sub *s = bus->subs; s; s = s->next)
		if (s != except && !s->dead && s->gen == bus->generation && (!active || s->active) &&
		    strcmp(s->pattern, pattern) == 0)
			return s;
	return NULL;
}

static void subs_sweep(bus_t *bus)
{
	struct sub **ps = &bus->subs;

	while (*ps) {
		struct sub *s = *ps;
		if (s->dead) {
			*ps = s->next;
			free(s);
		} else {
			ps = &s->next;
		}
	}
	bus->subs_dead = 0;
}

/* Take s out; callbacks run no more. Freed at once, or after a dispatch
 * that walks the list. */
static void sub_remove(bus_t *bus, struct sub *s)
{
	slot_detach(s->slot);
	s->slot = NULL;
	s->dead = 1;
	if (s->query) {
		call_cancel(bus, s->query);
		s->query = NULL;
	}
	if (bus->sub_walks)
		bus->subs_dead = 1;
	else
		subs_sweep(bus);
}

static void sub_append(bus_t *bus, struct sub *s)
{
	struct sub **tail = &bus->subs;

	/* Appended: callbacks run in subscription order. */
	while (*tail)
		tail = &(*tail)->next;
	*tail = s;
}

/* busd's answer to a subscription's own Subscribe (or the settled outcome
 * of one that needed none). A loss while reconnecting keeps it for the next
 * connection; a refusal ends it. */
static void sub_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct sub *s = ud;
	bus_done_fn done = s->done;
	void *userdata = s->userdata;

	s->query = NULL;
	s->done = NULL;
	if (reply)
		s->active = s->gen == bus->generation;
	if (err && bus_error_has_name(err, BUS_ERROR_DISCONNECTED) && conn_reconnecting(bus))
		err = NULL;
	if (err)
		sub_remove(bus, s);
	if (done)
		done(bus, err, userdata);
}

static int subscribe_call(bus_t *bus, struct sub *s, int async, bus_error_t *err)
{
	Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;

	req.pattern = s->pattern;
	s->gen = bus->generation;
	if (async)
		return control_send(bus, "Subscribe", &req.base, BUS_CONTROL_TIMEOUT_USEC, sub_answer,
				    s, &s->query);
	int r = control_sync(bus, "Subscribe", &req.base, NULL, NULL, err);
	s->active = r == 0;
	return r;
}

int sub_add(bus_t *bus, const char *pattern, bus_event_fn cb, bus_done_fn done, void *userdata,
	    int async, struct sub **out, bus_error_t *err)
{
	bus_error_clear(err);
	if (!bus || !pattern || !cb || !wire_pattern_valid(pattern, strlen(pattern))) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "invalid topic pattern \"%s\"",
			      pattern ? pattern : "(null)");
		return -EINVAL;
	}
	if (bus->monitor) {
		bus_error_set(err, BUS_ERROR_FAILED, "a monitor connection cannot subscribe");
		return -EPERM;
	}
	if (!conn_usable(bus) && !conn_reconnecting(bus))
		return call_send_error(bus, -ECONNRESET, NULL, err);
	size_t n = strlen(pattern) + 1;
	struct sub *s = calloc(1, sizeof(*s) + n);
	if (!s) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	memcpy(s->pattern, pattern, n);
	s->cb = cb;
	s->userdata = userdata;
	s->done = async ? done : NULL;
	int r = 0;
	if (conn_reconnecting(bus)) {
		/* The new connection subscribes it with the others. */
	} else if (pattern_here(bus, pattern, NULL, 1)) {
		s->gen = bus->generation;
		s->active = 1;
	} else {
		r = subscribe_call(bus, s, async, err);
		/* Cut off by a loss: kept for the next connection. */
		if (r == -ECONNRESET && conn_reconnecting(bus)) {
			s->gen = 0;
			r = 0;
			bus_error_clear(err);
		}
	}
	if (r == 0 && async && !s->query) {
		/* No answer to wait for: the outcome still comes from bus_process(). */
		if ((s->query = call_add_settled(bus, NULL))) {
			s->query->cb = sub_answer;
			s->query->userdata = s;
		} else {
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		if (s->query)
			call_cancel(bus, s->query);
		free(s);
		return r;
	}
	sub_append(bus, s);
	*out = s;
	return 0;
}

static int subscribe(bus_t *bus, bus_slot_t **slot, const char *pattern, bus_event_fn cb,
		     bus_done_fn done, void *userdata, int async, bus_error_t *err)
{
	bus_slot_t *sl;
	struct sub *s;

	if (slot)
		*slot = NULL;
	int r = slot_prepare(bus, slot, SLOT_SUB, userdata, &sl);
	if (r == 0)
		r = sub_add(bus, pattern, cb, done, userdata, async, &s, err);
	if (r < 0) {
		bus_slot_unref(sl);
		return r;
	}
	s->slot = sl;
	slot_bind(sl, slot, s);
	return 0;
}

int bus_subscribe(bus_t *bus, bus_slot_t **slot, const char *pattern, bus_event_fn cb,
		  void *userdata, bus_error_t *err)
{
	return subscribe(bus, slot, pattern, cb, NULL, userdata, 0, err);
}

int bus_subscribe_async(bus_t *bus, bus_slot_t **slot, const char *pattern, bus_event_fn cb,
			bus_done_fn done, void *userdata)
{
	return subscribe(bus, slot, pattern, cb, done, userdata, 1, NULL);
}

void sub_cancel(bus_t *bus, struct sub *s)
{
	s->slot = NULL; /* the slot is being freed */
	/* The pattern's last subscription that busd has here drops it there.
	 * Nothing waits for the answer (this may run inside a callback);
	 * frames are ordered, so a later Subscribe of the same pattern wins. */
	if (s->gen == bus->generation && !pattern_here(bus, s->pattern, s, 0) && !bus->monitor) {
		Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
		req.pattern = s->pattern;
		control_oneway(bus, "Unsubscribe", &req.base);
	}
	sub_remove(bus, s);
}

void sub_dispatch(bus_t *bus, const bus_msg_t *m)
{
	struct sub *last = bus->subs;

	if (!last)
		return;
	while (last->next)
		last = last->next;
	/* Callbacks may subscribe (appended after last: not run for this
	 * event) or cancel (marked dead, freed after the walk). */
	bus->sub_walks++;
	for (struct sub *s = bus->subs; s && !bus->closing; s = s->next) {
		if (!s->dead && pattern_match(s->pattern, m->member))
			s->cb(bus, m, s->userdata);
		if (s == last)
			break;
	}
	if (--bus->sub_walks == 0 && bus->subs_dead)
		subs_sweep(bus);
}

int sub_restore(bus_t *bus)
{
	int sent = 0;

	for (struct sub *s = bus->subs; s; s = s->next) {
		if (s->dead || s->gen == bus->generation)
			continue;
		/* One Subscribe per pattern: its other subscriptions share it. */
		int asked = pattern_here(bus, s->pattern, s, 0) != NULL;
		s->gen = bus->generation;
		s->active = 0;
		if (asked)
			continue;
		Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
		req.pattern = s->pattern;
		int r = restore_call(bus, "Subscribe", &req.base, BUS_CONN_SUBSCRIBE_FAILED, s->pattern);
		if (r < 0)
			return r;
		sent++;
	}
	return sent;
}

void sub_restored(bus_t *bus, const char *pattern)
{
	for (struct sub *s = bus->subs; s; s = s->next)
		if (!s->dead && s->gen == bus->generation && strcmp(s->pattern, pattern) == 0)
			s->active = 1;
}

void sub_free_all(bus_t *bus)
{
	struct sub *s, *next;

	for (s = bus->subs; s; s = next) {
		next = s->next;
		slot_detach(s->slot);
		free(s);
	}
	bus->subs = NULL;
	bus->subs_dead = 0;
}

/* ---------------------------------------------------------------- monitor */

int bus_set_monitor_bodies(bus_t *bus, int on)
{
	if (!bus)
		return -EINVAL;
	if (bus->monitor)
		return -EALREADY;
	bus->monitor_bodies = on != 0;
	return 0;
}

int bus_become_monitor(bus_t *bus, bus_monitor_fn cb, void *userdata, bus_error_t *err)
{
	Bus__MonitorRequest req = BUS__MONITOR_REQUEST__INIT;

	bus_error_clear(err);
	if (!bus || !cb) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "a monitor needs a callback");
		return -EINVAL;
	}
	if (bus->monitor) {
		bus_error_set(err, BUS_ERROR_FAILED, "already a monitor");
		return -EALREADY;
	}
	req.memfd_bodies = bus->monitor_bodies;
	int r = control_sync(bus, "Monitor", &req.base, NULL, NULL, err);
	if (r < 0)
		return r;
	bus->monitor = cb;
	bus->monitor_data = userdata;
	return 0;
}
