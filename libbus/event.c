/* event.c - events and monitoring: emitting on a topic, local subscriptions
 * (one broker Subscribe per distinct pattern, however many callbacks share
 * it, subscribed again on a new connection), delivering EVENT frames to every
 * matching callback, watching names through bus.NameOwnerChanged, and
 * turning the connection into a monitor. */
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

static int broker_pattern(bus_t *bus, const char *method, const char *pattern,
			  uint64_t timeout_usec, bus_error_t *err)
{
	Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;

	req.pattern = (char *)pattern;
	return lifetime_control(bus, method, &req.base, NULL, NULL, timeout_usec, err);
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
	/* Reconnecting, the new connection subscribes it with the others. */
	if (!pattern_in_use(bus, pattern) && !conn_reconnecting(bus)) {
		int r = broker_pattern(bus, "Subscribe", pattern, CONN_CONTROL_TIMEOUT, err);
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
	if (!pattern_in_use(bus, s->pattern) && !bus->monitor) {
		Bus__SubscribeRequest req = BUS__SUBSCRIBE_REQUEST__INIT;
		req.pattern = s->pattern;
		lifetime_control_oneway(bus, "Unsubscribe", &req.base);
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

int sub_restore(bus_t *bus, struct restore *rs)
{
	for (struct sub *s = bus->subs; s; s = s->next) {
		const struct sub *first = bus->subs;
		bus_error_t err;

		if (s->dead)
			continue;
		/* Once per pattern: at its first live user. */
		while (first != s && (first->dead || strcmp(first->pattern, s->pattern) != 0))
			first = first->next;
		if (first != s)
			continue;
		int r = broker_pattern(bus, "Subscribe", s->pattern, RESTORE_TIMEOUT, &err);
		if (lifetime_restore_check(bus, rs, r, BUS_CONN_SUBSCRIBE_FAILED, s->pattern, &err) < 0)
			return -ECONNRESET;
	}
	return 0;
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

/* ---------------------------------------------------------------- watched names */

/* A watched name. known: the owner was learned (from GetNameOwner or an
 * event), so a change can be told apart from the first report. */
struct watch {
	struct watch *next;
	int id;
	int dead;           /* unwatched during a report; freed when it ends */
	int known;
	bus_name_fn fn;
	void *userdata;
	struct pending *query; /* GetNameOwner in flight, NULL: none */
	char *owner;        /* NULL: none */
	char name[];
};

static void watches_sweep(bus_t *bus)
{
	struct watch **pw = &bus->watches;

	while (*pw) {
		struct watch *w = *pw;
		if (w->dead) {
			*pw = w->next;
			free(w->owner);
			free(w);
		} else {
			pw = &w->next;
		}
	}
	bus->watches_dead = 0;
}

static void watch_begin(bus_t *bus)
{
	bus->watch_walks++;
}

static void watch_end(bus_t *bus)
{
	if (--bus->watch_walks == 0 && bus->watches_dead)
		watches_sweep(bus);
}

/* Record owner (NULL: none) and report it when it is news. Call between
 * watch_begin() and watch_end(): fn may unwatch. */
static void watch_set(bus_t *bus, struct watch *w, const char *owner)
{
	if (w->dead || bus->closing)
		return;
	if (w->known && (w->owner ? owner && strcmp(w->owner, owner) == 0 : !owner))
		return;
	char *copy = NULL;
	if (owner && !(copy = strdup(owner)))
		return; /* out of memory: the next change is reported instead */
	free(w->owner);
	w->owner = copy;
	w->known = 1;
	w->fn(bus, w->name, w->owner, w->userdata);
}

/* The answer to GetNameOwner. Replies and events are dispatched in the
 * order busd sent them, so events before the answer are older than it and
 * events after it are newer: applying each as it comes ends right. */
static void watch_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct watch *w = ud;
	Bus__PeerInfo *info = NULL;

	w->query = NULL;
	/* Lost or closing: watch_lost() reports; a timeout leaves it unknown
	 * until the next event. */
	if (err && (bus_error_has_name(err, BUS_ERROR_DISCONNECTED) ||
		    bus_error_has_name(err, BUS_ERROR_TIMEOUT)))
		return;
	if (reply && !(info = (Bus__PeerInfo *)bus_msg_unpack(reply, &bus__peer_info__descriptor)))
		return;
	watch_begin(bus);
	/* Any refusal (no owner, or a policy that hides it) reads as none. */
	watch_set(bus, w, info && info->unique_name[0] ? info->unique_name : NULL);
	watch_end(bus);
	if (info)
		bus__peer_info__free_unpacked(info, NULL);
}

static void watch_query(bus_t *bus, struct watch *w)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;

	if (w->query)
		return;
	req.name = w->name;
	/* Not connected: watch_restore() asks when the connection is back. */
	w->query = lifetime_control_async(bus, "GetNameOwner", &req.base, watch_answer, w);
}

static void watch_event(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)ud;
	/* Anyone may emit on any topic: only busd's word counts. */
	if (strcmp(m->sender, BUS_NAME) != 0)
		return;
	Bus__NameOwnerChanged *ev =
		(Bus__NameOwnerChanged *)bus_msg_unpack(m, &bus__name_owner_changed__descriptor);
	if (!ev)
		return;
	watch_begin(bus);
	for (struct watch *w = bus->watches; w; w = w->next)
		if (strcmp(w->name, ev->name) == 0)
			watch_set(bus, w, ev->new_owner[0] ? ev->new_owner : NULL);
	watch_end(bus);
	bus__name_owner_changed__free_unpacked(ev, NULL);
}

static int watch_live(const bus_t *bus)
{
	for (const struct watch *w = bus->watches; w; w = w->next)
		if (!w->dead)
			return 1;
	return 0;
}

int bus_watch_name(bus_t *bus, const char *name, bus_name_fn fn, void *userdata,
		   bus_error_t *err)
{
	bus_error_clear(err);
	if (!bus || !name || !fn || !wire_name_valid(name, strlen(name))) {
		bus_error_set(err, BUS_ERROR_INVALID_ARGS, "\"%s\" is not a well-known name",
			      name ? name : "(null)");
		return -EINVAL;
	}
	if (bus->monitor) {
		bus_error_set(err, BUS_ERROR_FAILED, "a monitor connection cannot watch names");
		return -EPERM;
	}
	size_t n = strlen(name) + 1;
	struct watch *w = calloc(1, sizeof(*w) + n);
	if (!w) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	/* Subscribed before the first GetNameOwner: no change can fall between
	 * the answer and the events. */
	if (!bus->watch_sub) {
		int id = bus_subscribe(bus, BUS_TOPIC_NAME_OWNER_CHANGED, watch_event, NULL, err);
		if (id < 0) {
			free(w);
			return id;
		}
		bus->watch_sub = id;
	}
	memcpy(w->name, name, n);
	w->fn = fn;
	w->userdata = userdata;
	if (bus->last_watch_id == INT_MAX)
		bus->last_watch_id = 0;
	w->id = ++bus->last_watch_id;
	struct watch **tail = &bus->watches;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	watch_query(bus, w);
	return w->id;
}

int bus_unwatch_name(bus_t *bus, int id)
{
	struct watch *w;

	if (!bus)
		return -EINVAL;
	for (w = bus->watches; w; w = w->next)
		if (w->id == id && !w->dead)
			break;
	if (!w)
		return -ENOENT;
	w->dead = 1;
	if (w->query) {
		call_unlink(bus, w->query);
		call_recycle(bus, w->query);
		w->query = NULL;
	}
	if (!watch_live(bus) && bus->watch_sub) {
		bus_unsubscribe(bus, bus->watch_sub);
		bus->watch_sub = 0;
	}
	if (bus->watch_walks)
		bus->watches_dead = 1;
	else
		watches_sweep(bus);
	return 0;
}

void watch_lost(bus_t *bus)
{
	/* No broker, no owner: whoever had the name is out of reach. */
	watch_begin(bus);
	for (struct watch *w = bus->watches; w; w = w->next)
		if (w->known && w->owner)
			watch_set(bus, w, NULL);
	watch_end(bus);
}

void watch_restore(bus_t *bus)
{
	for (struct watch *w = bus->watches; w; w = w->next)
		if (!w->dead)
			watch_query(bus, w);
}

void watch_free_all(bus_t *bus)
{
	struct watch *w, *next;

	for (w = bus->watches; w; w = next) {
		next = w->next;
		free(w->owner);
		free(w);
	}
	bus->watches = NULL;
	bus->watches_dead = 0;
	bus->watch_sub = 0;
}

struct name_wait {
	int owned;
};

static void wait_seen(bus_t *bus, const char *name, const char *owner, void *ud)
{
	(void)bus;
	(void)name;
	if (owner)
		((struct name_wait *)ud)->owned = 1;
}

int bus_wait_name(bus_t *bus, const char *name, uint64_t timeout_usec, bus_error_t *err)
{
	struct name_wait nw = { 0 };
	int r, freed;

	int id = bus_watch_name(bus, name, wait_seen, &nw, err);
	if (id < 0)
		return id;
	uint64_t now = conn_now();
	uint64_t deadline = timeout_usec == 0 || timeout_usec >= UINT64_MAX - now ?
			    UINT64_MAX : now + timeout_usec;
	/* Held: a callback that closes the connection frees it on our way out. */
	lifetime_hold(bus);
	for (;;) {
		r = loop_process(bus, &freed);
		if (nw.owned) {
			r = 0;
			break;
		}
		if (r < 0) {
			conn_disconnected(bus, err);
			r = -ECONNRESET;
			break;
		}
		now = conn_now();
		if (now >= deadline) {
			bus_error_set(err, BUS_ERROR_TIMEOUT, "no owner of %s within the timeout", name);
			r = -ETIMEDOUT;
			break;
		}
		if (r == 0)
			bus_wait(bus, deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
	}
	if (!bus->closing)
		bus_unwatch_name(bus, id);
	lifetime_drop(bus);
	return r;
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
	int r = lifetime_control(bus, "Monitor", &req.base, NULL, NULL, CONN_CONTROL_TIMEOUT, err);
	if (r < 0)
		return r;
	bus->monitor = cb;
	bus->monitor_data = userdata;
	return 0;
}
