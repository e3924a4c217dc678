/* control.c - bus.Bus, the broker's own service on the name "bus". Requests
 * are unpacked with protobuf-c (this is the control path, not the hot path)
 * once their size is known to be sane, and answered through
 * router_send_reply()/router_send_error() unless the caller said it wants
 * no answer. */
#include "config.h"

#include "control.h"
#include "control-internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/errors.h"
#include "bus.pb-c.h"
#include "broker.h"
#include "frame.h"
#include "hold.h"
#include "log.h"
#include "policy.h"
#include "quota.h"
#include "schema.h"
#include "supervise.h"
#include "wire.h"

#define BUSD_SERVER "busd " PACKAGE_VERSION
/* The largest control request unpacked (AddSchema: limits.max_schema_bytes
 * plus this): names and patterns are at most 255 bytes, so a request is
 * small, and unpacking a large one would cost busd's one thread. */
#define CONTROL_MAX_BODY 4096u

void ctl_reply(struct ctl *c, const ProtobufCMessage *msg)
{
	if (!c->quiet)
		router_send_reply(c->p, c->h->serial, msg);
}

void ctl_fail(struct ctl *c, const char *name, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	router_send_error(c->p, c->h->serial, name, "%s", msg);
}

/* protobuf-c's unpack returns NULL for a malformed body and for want of
 * memory alike; this allocator (malloc and free, as protobuf-c's own, so
 * the requests are freed as usual) notes the second. */
static int unpack_nomem;

static void *unpack_alloc(void *ud, size_t size)
{
	void *p = malloc(size);
	(void)ud;
	if (!p)
		unpack_nomem = 1;
	return p;
}

static void unpack_free(void *ud, void *p)
{
	(void)ud;
	free(p);
}

static ProtobufCAllocator unpack_allocator = { unpack_alloc, unpack_free, NULL };

ProtobufCMessage *ctl_request(struct ctl *c, const ProtobufCMessageDescriptor *d)
{
	unpack_nomem = 0;
	ProtobufCMessage *m = protobuf_c_message_unpack(d, &unpack_allocator, c->len, c->body);
	if (!m && unpack_nomem)
		ctl_fail(c, BUS_ERROR_FAILED, "out of memory for the %s request", d->name);
	else if (!m)
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "the request body is not a valid %s", d->name);
	return m;
}

static void describe(const struct peer *p, char *buf, size_t len)
{
	if (p)
		snprintf(buf, len, PEER_FMT, PEER_ARGS(p));
	else
		snprintf(buf, len, "(none)");
}

void control_name_changed(struct broker *b, const char *name, const struct peer *old_owner,
			  const struct peer *new_owner)
{
	Bus__NameOwnerChanged ev = BUS__NAME_OWNER_CHANGED__INIT;
	ev.name = (char *)name;
	ev.old_owner = (char *)(old_owner ? old_owner->unique : "");
	ev.new_owner = (char *)(new_owner ? new_owner->unique : "");
	if (log_enabled(LOG_INFO)) {
		char was[96], is[96];
		describe(old_owner, was, sizeof(was));
		describe(new_owner, is, sizeof(is));
		log_info("name %s: owner %s -> %s", name, was, is);
	}
	router_emit(b, "bus.NameOwnerChanged", &ev.base);
	if (b->supervisor) /* a service's instance is up once it owns its names */
		supervisor_name_changed(b->supervisor, name, old_owner, new_owner);
}

static void do_hello(struct ctl *c)
{
	Bus__HelloRequest *req = (Bus__HelloRequest *)ctl_request(c, &bus__hello_request__descriptor);
	if (!req)
		return;
	uint32_t version = req->protocol_version;
	int memfd_ok = req->memfd_bodies;
	bus__hello_request__free_unpacked(req, NULL);
	if (c->p->state != PEER_HELLO) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "Hello was already called on this connection");
		return;
	}
	if (version != WIRE_VERSION) {
		router_reject(c->p, c->h->serial, BUS_ERROR_VERSION_MISMATCH,
			      "protocol version %u is not supported (busd speaks version 1)", version);
		return;
	}
	peer_activate(c->p);
	c->p->conn.memfd_ok = memfd_ok;
	log_debug(PEER_FMT ": connected (uid %d)", PEER_ARGS(c->p), (int)c->p->conn.uid);
	Bus__HelloReply rep = BUS__HELLO_REPLY__INIT;
	rep.unique_name = c->p->unique;
	rep.protocol_version = WIRE_VERSION;
	rep.server = (char *)BUSD_SERVER;
	rep.max_peer_frame_size = c->p->conn.max_frame; /* set by peer_activate() */
	rep.max_fds_per_frame = c->p->conn.t->max_fds;
	/* Out-of-line bodies travel as a descriptor: none without descriptors. */
	rep.max_memfd_body_size = rep.max_fds_per_frame ? c->p->broker->max_memfd_body : 0;
	ctl_reply(c, &rep.base);
}

/* A charge refused (charge_take()'s outcome r) as bus.Error.LimitsExceeded
 * naming the limit; what is the resource in the plural. */
static void fail_limit(struct ctl *c, enum charge_kind kind, int r, const char *what)
{
	int user = r == CHARGE_E_USER;
	const struct charge_limits *l = charge_limits_of(c->p->user);
	char who[32];

	if (user)
		snprintf(who, sizeof(who), "uid %d", (int)c->p->conn.uid);
	else
		snprintf(who, sizeof(who), "%s", c->p->unique);
	ctl_fail(c, BUS_ERROR_LIMITS_EXCEEDED, "%s already has %llu %s, the most limits.%s allows", who,
	     (unsigned long long)(user ? l->user[kind] : l->peer[kind]), what,
	     charge_limit_name(kind, user));
}

static void do_request_name(struct ctl *c, int release)
{
	struct broker *b = c->p->broker;
	struct charge charge = { 0 };
	Bus__NameRequest *req = (Bus__NameRequest *)ctl_request(c, &bus__name_request__descriptor);
	if (!req)
		return;
	const char *name = req->name;
	size_t len = strlen(name);
	int take = !release && name_lookup(b->names, name, len) != c->p;
	if (take && name[0] != ':' && wire_name_valid(name, len) &&
	    !router_permit(c->p, POL_OWN, name, len, NULL, 0, c->h->serial, !c->quiet)) {
		bus__name_request__free_unpacked(req, NULL);
		return;
	}
	int r = take ? charge_take(&charge, &c->p->acct, c->p->user, CHARGE_NAMES, 1) : 0;
	if (r) {
		fail_limit(c, CHARGE_NAMES, r, "names");
		bus__name_request__free_unpacked(req, NULL);
		return;
	}
	r = release ? name_release(b->names, name, len, c->p)
		    : name_request(b->names, name, len, c->p, &charge);
	charge_release(&charge); /* not taken by the name: given back */
	switch (r) {
	case 0:
		control_name_changed(b, name, release ? c->p : NULL, release ? NULL : c->p);
		/* fall through */
	case NAME_E_ALREADY_OWNER: {
		Bus__NameReply rep = BUS__NAME_REPLY__INIT;
		rep.name = (char *)name;
		rep.owner = (char *)(release ? "" : c->p->unique);
		ctl_reply(c, &rep.base);
		/* Calls held for the name follow the answer: the new owner
		 * learns it owns the name before it gets calls to it. */
		if (r == 0 && !release)
			hold_name_owned(b, name, c->p);
		break;
	}
	case NAME_E_TAKEN: {
		struct peer *owner = name_lookup(b->names, name, len);
		ctl_fail(c, BUS_ERROR_NAME_TAKEN, "the name '%s' is owned by %s", name,
		     owner ? owner->unique : "?");
		break;
	}
	case NAME_E_NOT_OWNER:
		ctl_fail(c, BUS_ERROR_NOT_OWNER, "this connection does not own the name '%s'", name);
		break;
	case NAME_E_INVALID:
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "'%s' is not a name that can be owned", name);
		break;
	default:
		ctl_fail(c, BUS_ERROR_FAILED, "%s", strerror(-r));
		break;
	}
	bus__name_request__free_unpacked(req, NULL);
}

/* Names of one peer, collected for PeerInfo.names. */
struct name_list {
	char **v;
	size_t n, cap;
	int nomem; /* the list is short: answer "out of memory", not a lie */
};

static void collect_name(const char *name, void *owner, void *userdata)
{
	struct name_list *l = userdata;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->nomem = 1;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (char *)name;
}

static void peer_info(struct broker *b, struct peer *p, Bus__PeerInfo *info, struct name_list *names)
{
	bus__peer_info__init(info);
	info->unique_name = p->unique;
	info->pid = (uint32_t)p->conn.pid;
	info->uid = (uint32_t)p->conn.uid;
	info->gid = (uint32_t)p->conn.gid;
	info->comm = p->conn.comm;
	info->groups = (uint32_t *)p->conn.groups; /* gid_t is 32 bits on Linux */
	info->n_groups = p->conn.n_groups;
	info->queued_bytes = p->acct.used[CHARGE_QUEUED];
	info->dropped = p->dropped;
	info->pending_calls = (uint32_t)p->acct.used[CHARGE_CALLS];
	info->held = p->held_on != NULL;
	info->subscriptions = (uint32_t)p->acct.used[CHARGE_SUBSCRIPTIONS];
	info->congested = p->congested != 0;
	info->input_bytes = p->acct.used[CHARGE_INPUT];
	info->schema_bytes = p->acct.used[CHARGE_SCHEMA];
	info->exports = (uint32_t)p->acct.used[CHARGE_EXPORTS];
	info->passed_fds = (uint32_t)p->acct.used[CHARGE_FDS];
	info->memfd_bytes = p->acct.used[CHARGE_MEMFD];
	memset(names, 0, sizeof(*names));
	name_foreach_owned(b->names, p, collect_name, names);
	info->names = names->v;
	info->n_names = names->n;
}

static void do_list_names(struct ctl *c)
{
	struct broker *b = c->p->broker;
	ProtobufCMessage *req = ctl_request(c, &bus__list_names_request__descriptor);
	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);

	size_t n = 0;
	for (struct peer *p = b->all; p; p = p->next)
		n += p->state == PEER_ACTIVE || p->state == PEER_MONITOR;
	Bus__PeerInfo *infos = calloc(n ? n : 1, sizeof(*infos));
	Bus__PeerInfo **ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	struct name_list *lists = calloc(n ? n : 1, sizeof(*lists));
	if (!infos || !ptrs || !lists) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
		goto out;
	}
	size_t i = 0;
	int nomem = 0;
	for (struct peer *p = b->all; p && i < n; p = p->next) {
		if (p->state != PEER_ACTIVE && p->state != PEER_MONITOR)
			continue;
		peer_info(b, p, &infos[i], &lists[i]);
		nomem |= lists[i].nomem;
		ptrs[i] = &infos[i];
		i++;
	}
	if (nomem) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
		goto out;
	}
	Bus__ListNamesReply rep = BUS__LIST_NAMES_REPLY__INIT;
	rep.peers = ptrs;
	rep.n_peers = i;
	ctl_reply(c, &rep.base);
out:
	for (size_t k = 0; lists && k < n; k++)
		free(lists[k].v);
	free(lists);
	free(ptrs);
	free(infos);
}

static void do_get_name_owner(struct ctl *c)
{
	struct broker *b = c->p->broker;
	Bus__NameRequest *req = (Bus__NameRequest *)ctl_request(c, &bus__name_request__descriptor);
	if (!req)
		return;
	struct peer *owner = router_resolve(b, req->name, strlen(req->name));
	if (!owner || owner->state != PEER_ACTIVE) {
		ctl_fail(c, BUS_ERROR_NAME_HAS_NO_OWNER, "no peer owns the name '%s'", req->name);
	} else {
		Bus__PeerInfo info;
		struct name_list names;
		peer_info(b, owner, &info, &names);
		if (names.nomem)
			ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
		else
			ctl_reply(c, &info.base);
		free(names.v);
	}
	bus__name_request__free_unpacked(req, NULL);
}

static void do_subscribe(struct ctl *c, int unsubscribe)
{
	struct broker *b = c->p->broker;
	struct charge charge = { 0 };
	Bus__SubscribeRequest *req =
		(Bus__SubscribeRequest *)ctl_request(c, &bus__subscribe_request__descriptor);
	if (!req)
		return;
	size_t len = strlen(req->pattern);
	/* Subscribing again to a pattern it has is fine (idempotent), and free. */
	int take = !unsubscribe && !match_has(b->match, c->p, req->pattern, len);
	if (take && policy_may_deny(b->policy, POL_SUBSCRIBE) &&
	    wire_pattern_valid(req->pattern, len) &&
	    !router_permit(c->p, POL_SUBSCRIBE, req->pattern, len, NULL, 0, c->h->serial, !c->quiet)) {
		bus__subscribe_request__free_unpacked(req, NULL);
		return;
	}
	int r = take ? charge_take(&charge, &c->p->acct, c->p->user, CHARGE_SUBSCRIPTIONS, 1) : 0;
	if (r) {
		fail_limit(c, CHARGE_SUBSCRIPTIONS, r, "subscriptions");
		bus__subscribe_request__free_unpacked(req, NULL);
		return;
	}
	r = unsubscribe ? match_unsubscribe(b->match, c->p, req->pattern, len)
			: match_subscribe(b->match, c->p, req->pattern, len, &charge);
	charge_release(&charge); /* not taken by a subscription: given back */
	if (r == 0 || r == MATCH_E_EXISTS) {
		Bus__Empty rep = BUS__EMPTY__INIT;
		ctl_reply(c, &rep.base);
	} else if (r == MATCH_E_INVALID) {
		ctl_fail(c, BUS_ERROR_INVALID_ARGS,
		     "'%s' is not a topic pattern (use a.b.c, a.b.* or *)", req->pattern);
	} else if (r == MATCH_E_NOT_FOUND) {
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "not subscribed to '%s'", req->pattern);
	} else {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", strerror(-r));
	}
	bus__subscribe_request__free_unpacked(req, NULL);
}

/* Every user's account, for StatsReply.users. */
struct usage_list {
	Bus__UserUsage *v;
	Bus__UserUsage **ptrs;
	size_t n, cap;
	int nomem;
};

static void collect_user(const void *key, size_t len, void *value, void *userdata)
{
	struct usage_list *l = userdata;
	const struct charge_user *u = value;

	(void)key;
	(void)len;
	if (l->nomem)
		return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		Bus__UserUsage *v = realloc(l->v, cap * sizeof(*v));
		Bus__UserUsage **ptrs = v ? realloc(l->ptrs, cap * sizeof(*ptrs)) : NULL;
		if (v)
			l->v = v;
		if (!v || !ptrs) {
			l->nomem = 1;
			return;
		}
		l->ptrs = ptrs;
		l->cap = cap;
	}
	Bus__UserUsage *uu = &l->v[l->n];
	const uint64_t *used = u->acct.used;
	bus__user_usage__init(uu);
	uu->uid = (uint32_t)u->uid;
	uu->connections = (uint32_t)used[CHARGE_CONNECTIONS];
	uu->queued_bytes = used[CHARGE_QUEUED];
	uu->input_bytes = used[CHARGE_INPUT];
	uu->pending_calls = (uint32_t)used[CHARGE_CALLS];
	uu->names = (uint32_t)used[CHARGE_NAMES];
	uu->subscriptions = (uint32_t)used[CHARGE_SUBSCRIPTIONS];
	uu->schema_bytes = used[CHARGE_SCHEMA];
	uu->exports = (uint32_t)used[CHARGE_EXPORTS];
	uu->passed_fds = (uint32_t)used[CHARGE_FDS];
	uu->memfd_bytes = used[CHARGE_MEMFD];
	l->n++;
	for (size_t i = 0; i < l->n; i++) /* v may have moved */
		l->ptrs[i] = &l->v[i];
}

static void do_stats(struct ctl *c)
{
	struct broker *b = c->p->broker;
	ProtobufCMessage *req = ctl_request(c, &bus__stats_request__descriptor);
	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	const struct broker_stats *s = &b->stats;
	Bus__StatsReply rep = BUS__STATS_REPLY__INIT;
	rep.uptime_usec = broker_now_usec() - b->start_usec;
	rep.peers = b->n_peers;
	rep.names = (uint32_t)name_count(b->names);
	rep.subscriptions = (uint32_t)match_count(b->match);
	rep.monitors = b->n_monitors;
	rep.frames_in = s->frames_in;
	rep.frames_out = s->frames_out;
	rep.bytes_in = s->bytes_in;
	rep.bytes_out = s->bytes_out;
	rep.calls = s->calls;
	rep.replies = s->replies;
	rep.errors = s->errors;
	rep.events = s->events;
	rep.event_deliveries = s->event_deliveries;
	rep.pending_calls = b->pending.count;
	rep.protocol_errors = s->protocol_errors;
	rep.connections_total = s->connections_total;
	rep.max_frame_size = b->max_frame;
	rep.events_dropped = s->events_dropped;
	rep.monitor_dropped = s->monitor_dropped;
	rep.holds = s->holds;
	rep.peers_held = b->n_held;
	rep.calls_refused = s->calls_refused;
	rep.quota_disconnects = s->quota_disconnects;
	rep.access_denied = s->access_denied;
	const struct account *t = &b->ledger.total;
	rep.queued_bytes = t->used[CHARGE_QUEUED];
	rep.input_bytes = t->used[CHARGE_INPUT];
	rep.schema_bytes = t->used[CHARGE_SCHEMA];
	rep.exports = (uint32_t)t->used[CHARGE_EXPORTS];
	rep.passed_fds = t->used[CHARGE_FDS];
	rep.memfd_bytes = t->used[CHARGE_MEMFD];
	rep.memfd_refused = s->memfd_refused;
	rep.connections = (uint32_t)t->used[CHARGE_CONNECTIONS];
	rep.connections_refused = s->connections_refused;
	rep.answers_dropped = s->answers_dropped;
	rep.held_calls = (uint32_t)hold_count(b->holds);
	rep.held_bytes = hold_bytes(b->holds);
	rep.calls_resent = s->calls_resent;
	rep.frame_cache_bytes = frame_pool_bytes();
	rep.heap_bytes = broker_heap_bytes();
	struct usage_list ul = { 0 };
	hash_foreach(b->ledger.users, collect_user, &ul);
	if (ul.nomem) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
	} else {
		rep.users = ul.ptrs;
		rep.n_users = ul.n;
		ctl_reply(c, &rep.base);
	}
	free(ul.ptrs);
	free(ul.v);
}

/* ---- schemas and exports (schema.c keeps them) ---- */

static void do_add_schema(struct ctl *c)
{
	struct broker *b = c->p->broker;
	Bus__AddSchemaRequest *req =
		(Bus__AddSchemaRequest *)ctl_request(c, &bus__add_schema_request__descriptor);
	char id[SCHEMA_ID_LEN + 1];
	int known = 0;

	if (!req)
		return;
	int r = req->file_descriptor_set.len == 0 ? -EINVAL
		: schema_add(b->schemas, c->p, req->file_descriptor_set.data,
			     req->file_descriptor_set.len, id, &known);
	if (r == -EINVAL)
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "an empty schema");
	else if (r == SCHEMA_E_PEER_LIMIT || r == SCHEMA_E_USER_LIMIT) {
		int user = r == SCHEMA_E_USER_LIMIT;
		const struct charge_limits *l = charge_limits_of(c->p->user);
		char who[32];
		if (user)
			snprintf(who, sizeof(who), "uid %d", (int)c->p->conn.uid);
		else
			snprintf(who, sizeof(who), "%s", c->p->unique);
		ctl_fail(c, BUS_ERROR_LIMITS_EXCEEDED, "%s would hold more than %llu schema bytes, the "
		     "most limits.%s allows", who,
		     (unsigned long long)(user ? l->user[CHARGE_SCHEMA] : l->peer[CHARGE_SCHEMA]),
		     charge_limit_name(CHARGE_SCHEMA, user));
	}
	else if (r == SCHEMA_E_COLLISION)
		ctl_fail(c, BUS_ERROR_FAILED, "another schema has the same id (%s)", id);
	else if (r < 0)
		ctl_fail(c, BUS_ERROR_FAILED, "out of memory");
	else {
		Bus__AddSchemaReply rep = BUS__ADD_SCHEMA_REPLY__INIT;
		rep.id = id;
		rep.known = known;
		ctl_reply(c, &rep.base);
		log_debug(PEER_FMT ": schema %s (%zu bytes%s)", PEER_ARGS(c->p), id,
			  req->file_descriptor_set.len, known ? ", already known" : "");
	}
	bus__add_schema_request__free_unpacked(req, NULL);
}

static void do_get_schema(struct ctl *c)
{
	Bus__GetSchemaRequest *req =
		(Bus__GetSchemaRequest *)ctl_request(c, &bus__get_schema_request__descriptor);
	size_t len;

	if (!req)
		return;
	const uint8_t *data = schema_get(c->p->broker->schemas, req->id, &len);
	if (!data) {
		ctl_fail(c, BUS_ERROR_UNKNOWN_SCHEMA, "no schema '%s' (it goes away with the last "
		     "peer that added it)", req->id);
	} else {
		Bus__GetSchemaReply rep = BUS__GET_SCHEMA_REPLY__INIT;
		rep.file_descriptor_set.data = (uint8_t *)data;
		rep.file_descriptor_set.len = len;
		ctl_reply(c, &rep.base);
	}
	bus__get_schema_request__free_unpacked(req, NULL);
}

static void do_export(struct ctl *c)
{
	Bus__ExportRequest *req = (Bus__ExportRequest *)ctl_request(c, &bus__export_request__descriptor);

	if (!req)
		return;
	size_t nl = strlen(req->name), sl = strlen(req->service);
	if (nl && !wire_name_valid(req->name, nl)) {
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "'%s' is not a valid name", req->name);
	} else if (strcmp(req->name, WIRE_BUS_NAME) == 0) {
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "the name '%s' is busd's own: no peer exports "
		     "under it", WIRE_BUS_NAME);
	} else if (!wire_member_valid(req->service, sl)) {
		ctl_fail(c, BUS_ERROR_INVALID_ARGS, "'%s' is not a valid service name", req->service);
	} else {
		int r = schema_export(c->p, req->name, req->service, req->remove);
		if (r == SCHEMA_E_NOT_EXPORTED)
			ctl_fail(c, BUS_ERROR_INVALID_ARGS, "%s is not exported under '%s'", req->service,
			     req->name);
		else if (r == SCHEMA_E_PEER_LIMIT || r == SCHEMA_E_USER_LIMIT)
			fail_limit(c, CHARGE_EXPORTS,
				   r == SCHEMA_E_USER_LIMIT ? CHARGE_E_USER : CHARGE_E_PEER, "exports");
		else if (r < 0)
			ctl_fail(c, BUS_ERROR_FAILED, "out of memory");
		else {
			Bus__Empty rep = BUS__EMPTY__INIT;
			ctl_reply(c, &rep.base);
		}
	}
	bus__export_request__free_unpacked(req, NULL);
}

struct strings {
	char **v;
	size_t n, cap;
	int nomem;
};

/* Collect distinct strings (the lists are short: exports of one peer). */
static void strings_add(const char *s, void *ud)
{
	struct strings *l = ud;

	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **v = realloc(l->v, cap * sizeof(*v));
		if (!v) {
			l->nomem = 1;
			return;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = (char *)s;
}

static void do_introspect(struct ctl *c)
{
	struct broker *b = c->p->broker;
	Bus__IntrospectRequest *req =
		(Bus__IntrospectRequest *)ctl_request(c, &bus__introspect_request__descriptor);
	struct strings services = { 0 }, ids = { 0 };

	if (!req)
		return;
	struct peer *owner = router_resolve(b, req->name, strlen(req->name));
	if (strcmp(req->name, WIRE_BUS_NAME) == 0) {
		/* busd itself: bus.Bus, described by the schema it has built in,
		 * whatever the peers uploaded or exported. */
		char *service = (char *)bus__bus__descriptor.name;
		char *id = (char *)schema_own_id(b->schemas);
		Bus__IntrospectReply rep = BUS__INTROSPECT_REPLY__INIT;
		rep.unique_name = (char *)WIRE_BUS_NAME;
		rep.services = &service;
		rep.n_services = 1;
		rep.schema_ids = &id;
		rep.n_schema_ids = 1;
		ctl_reply(c, &rep.base);
	} else if (!owner || owner->state != PEER_ACTIVE) {
		ctl_fail(c, BUS_ERROR_NAME_HAS_NO_OWNER, "no peer owns the name '%s'", req->name);
	} else {
		schema_each_service(owner, req->name, strings_add, &services);
		schema_each_id(owner, strings_add, &ids);
		if (services.nomem || ids.nomem) {
			ctl_fail(c, BUS_ERROR_FAILED, "out of memory");
		} else {
			Bus__IntrospectReply rep = BUS__INTROSPECT_REPLY__INIT;
			rep.unique_name = owner->unique;
			rep.services = services.v;
			rep.n_services = services.n;
			rep.schema_ids = ids.v;
			rep.n_schema_ids = ids.n;
			ctl_reply(c, &rep.base);
		}
	}
	free(services.v);
	free(ids.v);
	bus__introspect_request__free_unpacked(req, NULL);
}

static void monitor_released(const char *name, void *owner, void *userdata)
{
	control_name_changed(userdata, name, owner, NULL);
}

static void do_monitor(struct ctl *c)
{
	struct broker *b = c->p->broker;
	Bus__MonitorRequest *req =
		(Bus__MonitorRequest *)ctl_request(c, &bus__monitor_request__descriptor);
	if (!req)
		return;
	int bodies = req->memfd_bodies;
	bus__monitor_request__free_unpacked(req, NULL);
	if (!router_permit(c->p, POL_MONITOR, "*", 1, NULL, 0, c->h->serial, !c->quiet))
		return;
	/* A monitor serves nothing and receives no events: drop what it had. */
	match_remove_owner(b->match, c->p);
	router_drop_calls(c->p);
	Bus__Empty rep = BUS__EMPTY__INIT;
	ctl_reply(c, &rep.base);
	name_release_all(b->names, c->p, monitor_released, b);
	c->p->state = PEER_MONITOR;
	/* Copies show fd_count, not the descriptors; a sealed body memfd is only
	 * the bytes an inline body would have shown, so it may go along. */
	connection_refuse_fds(&c->p->conn, bodies);
	c->p->mon_next = b->monitors;
	b->monitors = c->p;
	b->n_monitors++;
	log_info(PEER_FMT ": became a monitor", PEER_ARGS(c->p));
}

/* bus.Peer at bus: busd answers Ping as libbus does for every peer, so a
 * liveness check of busd itself needs nothing else. */
static void do_peer(struct ctl *c)
{
	wire_str m = c->h->member;

	if (!wire_str_eq(m, "Ping")) {
		ctl_fail(c, BUS_ERROR_UNKNOWN_METHOD, "bus.Peer has no method %.*s", (int)m.len, m.ptr);
		return;
	}
	ProtobufCMessage *req = ctl_request(c, &bus__empty__descriptor);
	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	Bus__Empty rep = BUS__EMPTY__INIT;
	ctl_reply(c, &rep.base);
}

void control_call(struct peer *p, const struct frame *f)
{
	struct ctl c = { p, &f->h, f->body, f->body_len,
			 (f->h.flags & WIRE_FLAG_NO_REPLY_EXPECTED) != 0 };
	wire_str m = f->h.member;
	int schema = wire_str_eq(m, "AddSchema");
	uint64_t max = schema ? charge_limits_of(p->user)->peer[CHARGE_SCHEMA] + CONTROL_MAX_BODY
			      : CONTROL_MAX_BODY;

	if (c.len > max) {
		ctl_fail(&c, BUS_ERROR_LIMITS_EXCEEDED, "a %.*s request of %zu bytes is larger than the "
		     "%llu bytes busd unpacks%s", (int)m.len, m.ptr, c.len, (unsigned long long)max,
		     schema ? " (limits.max_schema_bytes and a little)" : "");
		return;
	}
	if (wire_str_eq(m, "Hello"))
		do_hello(&c);
	else if (p->state != PEER_ACTIVE)
		ctl_fail(&c, BUS_ERROR_HELLO_REQUIRED, "%s", "call Hello first");
	else if (wire_str_eq(f->h.interface, "bus.Peer"))
		do_peer(&c); /* busd answers Ping as every peer does */
	else if (wire_str_eq(m, "RequestName"))
		do_request_name(&c, 0);
	else if (wire_str_eq(m, "ReleaseName"))
		do_request_name(&c, 1);
	else if (wire_str_eq(m, "ListNames"))
		do_list_names(&c);
	else if (wire_str_eq(m, "GetNameOwner"))
		do_get_name_owner(&c);
	else if (wire_str_eq(m, "Subscribe"))
		do_subscribe(&c, 0);
	else if (wire_str_eq(m, "Unsubscribe"))
		do_subscribe(&c, 1);
	else if (wire_str_eq(m, "Stats"))
		do_stats(&c);
	else if (wire_str_eq(m, "Monitor"))
		do_monitor(&c);
	else if (schema)
		do_add_schema(&c);
	else if (wire_str_eq(m, "GetSchema"))
		do_get_schema(&c);
	else if (wire_str_eq(m, "Export"))
		do_export(&c);
	else if (wire_str_eq(m, "Introspect"))
		do_introspect(&c);
	else if (wire_str_eq(m, "ListServices"))
		control_list_services(&c);
	else if (wire_str_eq(m, "StartService"))
		control_manage(&c, "start", supervisor_start);
	else if (wire_str_eq(m, "StopService"))
		control_manage(&c, "stop", supervisor_stop);
	else if (wire_str_eq(m, "RestartService"))
		control_manage(&c, "restart", supervisor_restart);
	else
		ctl_fail(&c, BUS_ERROR_UNKNOWN_METHOD, "the bus service has no method '%.*s'", (int)m.len,
		     m.ptr);
}
