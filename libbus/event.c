/* event.c - events and monitoring: emitting on a topic, local subscriptions
 * (one broker Subscribe per distinct pattern, however many callbacks share
 * it), delivering EVENT frames to every matching callback, and turning the
 * connection into a monitor. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"

struct sub {
	struct sub *next;
	int id;
	int dead; /* unsubscribed during a dispatch; freed when it ends */
	bus_event_fn cb;
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

static int pattern_in_use(const bus_t *bus, const char *pattern)
{
	for (const struct sub *s = bus->subs; s; s = s->next)
		if (!s->dead && strcmp(s->pattern, pattern) == 0)
			return 1;
	return 0;
}

static int broker_pattern(bus_t *bus, const char *method, const char *pattern, bus_error_t *err)
{
	Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;

	req.pattern = (char *)pattern;
	return lifetime_control(bus, method, &req.base, NULL, NULL, err);
}

int bus_subscribe(bus_t *bus, const char *pattern, bus_event_fn cb, void *userdata,
		  bus_error_t *err)
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
	size_t n = strlen(pattern) + 1;
	struct sub *s = malloc(sizeof(*s) + n);
	if (!s) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	memcpy(s->pattern, pattern, n);
	if (!pattern_in_use(bus, pattern)) {
		int r = broker_pattern(bus, "Subscribe", pattern, err);
		if (r < 0) {
			free(s);
			return r;
		}
	}
	if (bus->last_sub_id == INT_MAX)
		bus->last_sub_id = 0;
	s->id = ++bus->last_sub_id;
	s->dead = 0;
	s->cb = cb;
	s->userdata = userdata;
	s->next = NULL;
	/* Appended: callbacks run in subscription order. */
	struct sub **tail = &bus->subs;
	while (*tail)
		tail = &(*tail)->next;
	*tail = s;
	return s->id;
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

int bus_unsubscribe(bus_t *bus, int id)
{
	struct sub *s;

	if (!bus)
		return -EINVAL;
	for (s = bus->subs; s; s = s->next)
		if (s->id == id && !s->dead)
			break;
	if (!s)
		return -ENOENT;
	s->dead = 1;
	/* The last local user of a pattern drops it at the broker. Nothing
	 * waits for the answer (this may run inside a callback); frames are
	 * ordered, so a later Subscribe of the same pattern still wins. */
	if (!pattern_in_use(bus, s->pattern) && conn_usable(bus) && !bus->monitor) {
		Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
		wire_header h = {
			.kind = WIRE_KIND_CALL,
			.flags = WIRE_FLAG_NO_REPLY_EXPECTED,
			.serial = conn_next_serial(bus),
			.destination = wire_str_c(BUS_NAME),
			.interface = wire_str_c(bus__bus__descriptor.name),
			.member = wire_str_c("Unsubscribe"),
			.body_type = wire_str_c(bus__subscribe_request__descriptor.name),
		};
		req.pattern = s->pattern;
		conn_send(bus, &h, NULL, 0, &req.base, NULL);
	}
	if (bus->sub_walks)
		bus->subs_dead = 1;
	else
		subs_sweep(bus);
	return 0;
}

void sub_dispatch(bus_t *bus, const bus_msg_t *m)
{
	struct sub *last = bus->subs;

	if (!last)
		return;
	while (last->next)
		last = last->next;
	/* Callbacks may subscribe (appended after last: not run for this
	 * event) or unsubscribe (marked dead, freed after the walk). */
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

void sub_free_all(bus_t *bus)
{
	struct sub *s, *next;

	for (s = bus->subs; s; s = next) {
		next = s->next;
		free(s);
	}
	bus->subs = NULL;
	bus->subs_dead = 0;
}

/* ---------------------------------------------------------------- monitor */

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
	int r = lifetime_control(bus, "Monitor", &req.base, NULL, NULL, err);
	if (r < 0)
		return r;
	bus->monitor = cb;
	bus->monitor_data = userdata;
	return 0;
}
