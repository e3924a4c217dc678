/* events.c - topics across the bridge. Each configured pattern is one
 * subscription on the local bus and one on NATS (PREFIX.event.TOPIC; busd's
 * "a.b.*" is NATS's "a.b.>", "*" is ">"), after dropping the patterns
 * another one covers, so that no event matches two of them.
 *
 * No loops, one delivery (docs/bridge.md): an event published to NATS
 * carries its bus of origin (Busd-Origin: bus_id), and a bridge drops what
 * comes back with its own bus_id; the bridges of one bus share a NATS queue
 * group, so one of them puts a remote event on that bus; and no bridge
 * forwards an event that a bridge emitted (every bridge owns a name under
 * org.busd.Bridge., and the others on the bus learn its unique id from
 * bus.NameOwnerChanged), so an event crosses at most one hop, from the bus
 * it was emitted on to each other bus; of the bridges of one bus_id, only
 * the oldest forwards the bus's own events out. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "bus.pb-c.h"
#include "wire.h"

struct topic {
	struct topic *next;
	struct bridge *b;
	char *pattern;
	bus_slot_t *slot;
	natsSubscription *sub;
	struct route route;
};

/* 1 if every topic p matches is matched by q too (p != q). */
static int covers(const char *q, const char *p)
{
	size_t n = strlen(q);

	if (!strcmp(q, "*"))
		return 1;
	if (n >= 2 && q[n - 1] == '*')
		return strncmp(p, q, n - 1) == 0; /* "x." prefix: "x.y", "x.y.*" */
	return 0;
}

/* ---------------------------------------------------------------- bridges */

/* A bridge on this bus: its unique id, and whether it sits on the same
 * bus_id as this one (its name is org.busd.Bridge.BUS_ID.NODE). */
struct peer_bridge {
	char unique[32];
	int same_bus;
};

static int is_bridge(struct bridge *b, const char *unique)
{
	for (size_t i = 0; i < b->n_bridges; i++)
		if (!strcmp(b->bridges[i].unique, unique))
			return 1;
	return 0;
}

static unsigned long long unique_num(const char *u)
{
	return u[0] == ':' ? strtoull(u + 1, NULL, 10) : 0;
}

/* Of the bridges of one bus_id (which forward the same topics), the one
 * connected first forwards the bus's events out: the others would send
 * copies. When it leaves, bus.NameOwnerChanged makes the next one it. */
static int forwarder(struct bridge *b)
{
	unsigned long long me = unique_num(bus_unique_name(b->bus));

	for (size_t i = 0; i < b->n_bridges; i++)
		if (b->bridges[i].same_bus && unique_num(b->bridges[i].unique) < me)
			return 0;
	return 1;
}

/* The bus_id a bridge's name carries matches ours. */
static int same_bus(struct bridge *b, const char *name)
{
	const char *id = name + strlen(BRIDGE_NAME_PREFIX);
	size_t n = strlen(b->conf->bus_id);

	return strncmp(id, b->conf->bus_id, n) == 0 && id[n] == '.';
}

static void bridge_add(struct bridge *b, const char *unique, const char *name)
{
	if (!unique[0] || strlen(unique) >= sizeof(b->bridges->unique) ||
	    !strcmp(unique, bus_unique_name(b->bus)) || is_bridge(b, unique))
		return;
	struct peer_bridge *v = realloc(b->bridges, (b->n_bridges + 1) * sizeof(*v));
	if (!v)
		return;
	b->bridges = v;
	snprintf(v[b->n_bridges].unique, sizeof(v->unique), "%s", unique);
	v[b->n_bridges].same_bus = same_bus(b, name);
	b->n_bridges++;
}

static void bridge_remove(struct bridge *b, const char *unique)
{
	for (size_t i = 0; i < b->n_bridges; i++) {
		if (strcmp(b->bridges[i].unique, unique))
			continue;
		b->bridges[i] = b->bridges[--b->n_bridges];
		return;
	}
}

static int bridge_name(const char *name)
{
	return strncmp(name, BRIDGE_NAME_PREFIX, strlen(BRIDGE_NAME_PREFIX)) == 0;
}

static void on_owner_changed(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct bridge *b = ud;
	Bus__NameOwnerChanged *c =
		(Bus__NameOwnerChanged *)bus_msg_unpack(ev, &bus__name_owner_changed__descriptor);

	(void)bus;
	if (!c)
		return;
	if (bridge_name(c->name)) {
		if (c->old_owner[0])
			bridge_remove(b, c->old_owner);
		if (c->new_owner[0])
			bridge_add(b, c->new_owner, c->name);
	}
	protobuf_c_message_free_unpacked(&c->base, NULL);
}

/* The bridges already on the bus; bus.NameOwnerChanged tells the rest. */
static int bridges_load(struct bridge *b)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	bus_error_t err;
	Bus__ListNamesReply *l = (Bus__ListNamesReply *)bridge_control(
		b, "ListNames", &req.base, &bus__list_names_reply__descriptor, &err);

	if (!l) {
		log_msg("cannot list the bus's peers: %s: %s", err.name, err.message);
		return -1;
	}
	for (size_t i = 0; i < l->n_peers; i++)
		for (size_t k = 0; k < l->peers[i]->n_names; k++)
			if (bridge_name(l->peers[i]->names[k]))
				bridge_add(b, l->peers[i]->unique_name, l->peers[i]->names[k]);
	bus__list_names_reply__free_unpacked(l, NULL);
	return 0;
}

/* ---------------------------------------------------------------- forwarding */

/* An event on the local bus: to the cluster, unless a bridge emitted it. */
static void on_local_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct topic *t = ud;
	struct bridge *b = t->b;
	char subject[512];
	natsMsg *m;

	if (!strcmp(ev->sender, bus_unique_name(bus)) || is_bridge(b, ev->sender) || !forwarder(b))
		return;
	snprintf(subject, sizeof(subject), "%s.event.%s", b->conf->prefix, ev->member);
	if (natsMsg_Create(&m, subject, NULL, ev->body, (int)ev->body_len) != NATS_OK)
		return;
	natsMsgHeader_Set(m, HDR_ORIGIN, b->conf->bus_id);
	if (ev->body_type[0])
		natsMsgHeader_Set(m, HDR_BODY_TYPE, ev->body_type);
	if (natsConnection_PublishMsg(b->nc, m) == NATS_OK)
		b->events_out++;
	natsMsg_Destroy(m);
}

/* An event from the cluster: on the local bus, unless it came from it. */
static void on_remote_event(struct bridge *b, natsMsg *msg, void *arg)
{
	const char *subj = natsMsg_GetSubject(msg);
	size_t skip = strlen(b->conf->prefix) + strlen(".event.");
	const char *type = link_header(msg, HDR_BODY_TYPE);

	(void)arg;
	if (!strcmp(link_header(msg, HDR_ORIGIN), b->conf->bus_id) || strlen(subj) <= skip)
		return;
	const char *topic = subj + skip;
	if (!wire_member_valid(topic, strlen(topic)) ||
	    (type[0] && !wire_member_valid(type, strlen(type))))
		return;
	if (bus_emit_raw(b->bus, topic, type[0] ? type : NULL, natsMsg_GetData(msg),
			 (size_t)natsMsg_GetDataLength(msg)) == 0)
		b->events_in++;
}

/* ---------------------------------------------------------------- module */

static int topic_start(struct bridge *b, const char *pattern)
{
	struct topic *t = calloc(1, sizeof(*t));
	char subject[512], queue[128];
	size_t n = strlen(pattern);
	bus_error_t err;

	if (!t || !(t->pattern = strdup(pattern))) {
		free(t);
		return -ENOMEM;
	}
	t->b = b;
	t->next = b->topics;
	b->topics = t;
	if (!strcmp(pattern, "*"))
		snprintf(subject, sizeof(subject), "%s.event.>", b->conf->prefix);
	else if (n >= 2 && pattern[n - 1] == '*')
		snprintf(subject, sizeof(subject), "%s.event.%.*s>", b->conf->prefix, (int)(n - 1),
			 pattern);
	else
		snprintf(subject, sizeof(subject), "%s.event.%s", b->conf->prefix, pattern);
	snprintf(queue, sizeof(queue), "busd-bus-%s", b->conf->bus_id);
	t->route.fn = on_remote_event;
	t->route.arg = t;
	if (link_subscribe(b, &t->sub, subject, queue, &t->route) < 0) {
		t->sub = NULL;
		return -1;
	}
	if (bus_subscribe(b->bus, &t->slot, pattern, on_local_event, t, &err) < 0) {
		log_msg("cannot subscribe to %s: %s: %s", pattern, err.name, err.message);
		return -1;
	}
	return 0;
}

int events_start(struct bridge *b)
{
	const struct bridge_conf *c = b->conf;
	bus_error_t err;

	if (c->n_topics == 0)
		return 0;
	if (bus_subscribe(b->bus, NULL, BUS_TOPIC_NAME_OWNER_CHANGED, on_owner_changed, b, &err) < 0) {
		log_msg("cannot follow name owners: %s: %s", err.name, err.message);
		return -1;
	}
	if (bridges_load(b) < 0)
		return -1;
	for (size_t i = 0; i < c->n_topics; i++) {
		int covered = 0;
		for (size_t k = 0; k < c->n_topics && !covered; k++)
			covered = k != i && covers(c->topics[k], c->topics[i]);
		if (!covered && topic_start(b, c->topics[i]) < 0)
			return -1;
	}
	return 0;
}

void events_stop(struct bridge *b)
{
	while (b->topics) {
		struct topic *t = b->topics;
		b->topics = t->next;
		link_unsubscribe(b, &t->sub, &t->route);
		bus_slot_unref(t->slot);
		free(t->pattern);
		free(t);
	}
	free(b->bridges);
	b->bridges = NULL;
	b->n_bridges = 0;
}
