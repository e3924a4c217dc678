/* watch.c - watching well-known names: each watch subscribes to busd's
 * bus.NameOwnerChanged events (busd's word only) and asks GetNameOwner for
 * the starting state; owners are reported when they change, gone when the
 * connection is lost, and asked for again after a reconnect. Also
 * bus_wait_name(), a watch run until the name has an owner. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-internal.h"
#include "bus.pb-c.h"

/* A watched name. known: the owner was learned (from GetNameOwner or an
 * event), so a change can be told apart from the first report. */
struct watch {
	struct watch *next;
	bus_slot_t *slot;
	struct sub *sub;       /* its subscription to bus.NameOwnerChanged */
	int dead;              /* cancelled during a report; freed when it ends */
	int known;
	bus_name_fn fn;
	bus_done_fn done;
	void *userdata;
	struct pending *query; /* GetNameOwner in flight, NULL: none */
	char *owner;           /* NULL: none */
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

/* End w: no report after this. Its subscription goes too, unless busd
 * already ended it (sub NULL). */
static void watch_remove(bus_t *bus, struct watch *w)
{
	slot_detach(w->slot);
	w->slot = NULL;
	w->dead = 1;
	if (w->query) {
		call_cancel(bus, w->query);
		w->query = NULL;
	}
	if (w->sub) {
		sub_cancel(bus, w->sub);
		w->sub = NULL;
	}
	if (bus->watch_walks)
		bus->watches_dead = 1;
	else
		watches_sweep(bus);
}

void watch_cancel(bus_t *bus, struct watch *w)
{
	w->slot = NULL; /* the slot is being freed */
	watch_remove(bus, w);
}

/* Record owner (NULL: none) and report it when it is news. Call between
 * watch_begin() and watch_end(): fn may end the watch. */
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

	/* Not connected: watch_restore() asks when the connection is back. */
	if (w->query || w->dead || !conn_usable(bus))
		return;
	req.name = w->name;
	control_send(bus, "GetNameOwner", &req.base, BUS_CONTROL_TIMEOUT_USEC, watch_answer, w,
		     &w->query);
}

static void watch_event(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct watch *w = ud;

	/* Anyone may emit on any topic: only busd's word counts. */
	if (strcmp(m->sender, BUS_NAME) != 0)
		return;
	Bus__NameOwnerChanged *ev =
		(Bus__NameOwnerChanged *)bus_msg_unpack(m, &bus__name_owner_changed__descriptor);
	if (!ev)
		return;
	watch_begin(bus);
	if (strcmp(w->name, ev->name) == 0)
		watch_set(bus, w, ev->new_owner[0] ? ev->new_owner : NULL);
	watch_end(bus);
	bus__name_owner_changed__free_unpacked(ev, NULL);
}

/* The async form's subscription was answered: a refusal ends the watch
 * (busd already ended the subscription). */
static void watch_subscribed(bus_t *bus, const bus_error_t *err, void *ud)
{
	struct watch *w = ud;
	bus_done_fn done = w->done;
	void *userdata = w->userdata;

	w->done = NULL;
	if (err) {
		w->sub = NULL;
		watch_remove(bus, w);
	}
	if (done)
		done(bus, err, userdata);
}

static int watch(bus_t *bus, bus_slot_t **slot, const char *name, bus_name_fn fn,
		 bus_done_fn done, void *userdata, int async, bus_error_t *err)
{
	bus_slot_t *sl = NULL;

	if (slot)
		*slot = NULL;
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
	int r = w ? slot_prepare(bus, slot, SLOT_WATCH, userdata, &sl) : -ENOMEM;
	if (r < 0) {
		free(w);
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return r;
	}
	memcpy(w->name, name, n);
	w->fn = fn;
	w->done = done;
	w->userdata = userdata;
	/* Subscribed before the first GetNameOwner: no change can fall between
	 * the answer and the events. */
	r = sub_add(bus, BUS_TOPIC_NAME_OWNER_CHANGED, watch_event, async ? watch_subscribed : NULL,
		    w, async, &w->sub, err);
	if (r < 0) {
		bus_slot_unref(sl);
		free(w);
		return r;
	}
	struct watch **tail = &bus->watches;
	while (*tail)
		tail = &(*tail)->next;
	*tail = w;
	watch_query(bus, w);
	w->slot = sl;
	slot_bind(sl, slot, w);
	return 0;
}

int bus_watch_name(bus_t *bus, bus_slot_t **slot, const char *name, bus_name_fn fn,
		   void *userdata, bus_error_t *err)
{
	return watch(bus, slot, name, fn, NULL, userdata, 0, err);
}

int bus_watch_name_async(bus_t *bus, bus_slot_t **slot, const char *name, bus_name_fn fn,
			 bus_done_fn done, void *userdata)
{
	return watch(bus, slot, name, fn, done, userdata, 1, NULL);
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
		watch_query(bus, w);
}

void watch_free_all(bus_t *bus)
{
	struct watch *w, *next;

	for (w = bus->watches; w; w = next) {
		next = w->next;
		slot_detach(w->slot);
		free(w->owner);
		free(w);
	}
	bus->watches = NULL;
	bus->watches_dead = 0;
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
	bus_slot_t *slot;
	int r, freed;

	r = bus_watch_name(bus, &slot, name, wait_seen, &nw, err);
	if (r < 0)
		return r;
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
	bus_slot_unref(slot);
	lifetime_drop(bus);
	return r;
}
