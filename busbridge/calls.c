/* calls.c - names across the bridge. An imported name is owned on the local
 * bus by the bridge, and each CALL to it becomes a NATS request on
 * PREFIX.call.NAME, answered from the reply (or "no responders", a timeout,
 * or the loss of the NATS server) exactly once. An exported name is served
 * to the cluster while it has an owner on the local bus: the bridge joins
 * the queue group of PREFIX.call.NAME, so that every node exporting the
 * name shares its calls, and makes each request a CALL on its bus. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

#define EXPORT_QUEUE "busd-export"
#define SCHEMA_RETRY_MS 1000

enum outcall_kind { OUT_CALL = 1, OUT_SCHEMA = 2 };

/* A request on NATS waiting for its reply on its own subject, INBOX.ID,
 * subscribed for one message: the server's "no responders" comes there
 * too, and cnats reports it on that subscription alone. */
struct outcall {
	struct outcall *prev, *next;
	struct bridge *b;
	uint64_t id;
	enum outcall_kind kind;
	void *call;          /* OUT_CALL: the local call it answers */
	struct import *imp;  /* OUT_SCHEMA */
	struct event *timer;
	natsSubscription *sub;
	struct route route;
};

struct import {
	struct import *next;
	struct bridge *b;
	char *name;
	int have_schema;
	struct outcall *schema_req;
	struct event *retry;
};

struct export {
	struct export *next;
	struct bridge *b;
	char *name;
	natsSubscription *call_sub, *schema_sub;
	struct route call_route, schema_route;
	bus_slot_t *watch;
};

/* Header values are one line: control characters become spaces. */
static void set_header(natsMsg *m, const char *key, const char *v)
{
	char buf[1024];
	size_t i;

	for (i = 0; v[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)v[i] < 0x20 ? ' ' : v[i];
	buf[i] = '\0';
	if (buf[0])
		natsMsgHeader_Set(m, key, buf);
}

/* ---------------------------------------------------------------- outcalls */

static void outcall_free(struct outcall *o)
{
	struct bridge *b = o->b;

	if (o->prev)
		o->prev->next = o->next;
	else
		b->outcalls = o->next;
	if (o->next)
		o->next->prev = o->prev;
	if (o->imp)
		o->imp->schema_req = NULL;
	link_unsubscribe(b, &o->sub, &o->route);
	event_free(o->timer);
	free(o);
}

static void schema_retry_later(struct import *imp);

/* The end of a request that got no reply: name and text say why to its
 * caller; a schema request is tried again later. */
static void outcall_fail(struct outcall *o, const char *name, const char *text)
{
	if (o->kind == OUT_CALL) {
		bus_call_fail(o->call, name, "%s", text);
	} else {
		struct import *imp = o->imp;
		outcall_free(o);
		schema_retry_later(imp);
		return;
	}
	outcall_free(o);
}

static void on_outcall_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct outcall *o = arg;
	char text[128];

	(void)fd;
	(void)what;
	snprintf(text, sizeof(text), "no answer from the NATS cluster within %u ms",
		 o->b->conf->call_timeout_ms);
	outcall_fail(o, BUS_ERROR_TIMEOUT, text);
}

static struct outcall *outcall_new(struct bridge *b, enum outcall_kind kind)
{
	struct outcall *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->b = b;
	o->kind = kind;
	o->id = ++b->next_call_id;
	o->timer = evtimer_new(b->base, on_outcall_timeout, o);
	if (!o->timer) {
		free(o);
		return NULL;
	}
	struct timeval tv = { .tv_sec = b->conf->call_timeout_ms / 1000,
			      .tv_usec = (b->conf->call_timeout_ms % 1000) * 1000 };
	evtimer_add(o->timer, &tv);
	o->next = b->outcalls;
	if (o->next)
		o->next->prev = o;
	b->outcalls = o;
	return o;
}

static void on_reply(struct bridge *b, natsMsg *msg, void *arg);

/* Make m, a request whose reply comes to o's subject, subscribed first (the
 * server takes the subscription before the request: one connection's
 * protocol is handled in order, and both go out in one write). */
static natsStatus outcall_publish(struct bridge *b, struct outcall *o, const char *subject,
				  const void *body, size_t len, natsMsg **mp)
{
	char reply[sizeof(b->inbox) + 24];
	int r;

	snprintf(reply, sizeof(reply), "%s.%" PRIu64, b->inbox, o->id);
	o->route.fn = on_reply;
	o->route.arg = o;
	o->route.replies = 1;
	if ((r = link_subscribe(b, &o->sub, reply, NULL, &o->route)) < 0)
		return (natsStatus)-r;
	return natsMsg_Create(mp, subject, reply, body, (int)len);
}

/* The reply to o, or msg NULL: no node listens on the request's subject. A
 * late one (after a timeout or the loss of the server) finds no
 * subscription: outcall_free ended it. */
static void on_reply(struct bridge *b, natsMsg *msg, void *arg)
{
	struct outcall *o = arg;

	if (o->kind == OUT_SCHEMA) {
		struct import *imp = o->imp;
		int ok = msg && schema_apply(b, imp->name, msg) == 0;
		outcall_free(o);
		if (ok)
			imp->have_schema = 1;
		else
			schema_retry_later(imp);
		return;
	}
	if (!msg) {
		const char *name = bus_call_msg(o->call)->destination;
		bus_call_fail(o->call, BUS_ERROR_NAME_HAS_NO_OWNER,
			      "no node of the NATS cluster exports %s", name);
	} else if (link_header(msg, HDR_ERROR)[0]) {
		bus_call_fail(o->call, link_header(msg, HDR_ERROR), "%s",
			      link_header(msg, HDR_ERROR_MESSAGE));
	} else if (bus_reply_raw(o->call, link_header(msg, HDR_BODY_TYPE), natsMsg_GetData(msg),
				 (size_t)natsMsg_GetDataLength(msg)) == -EINVAL) {
		bus_call_fail(o->call, BUS_ERROR_FAILED, "the reply from the cluster names an "
			      "invalid body type '%s'", link_header(msg, HDR_BODY_TYPE));
	}
	outcall_free(o);
}

/* ---------------------------------------------------------------- imports */

/* A CALL to an imported name, from the local bus. */
static void on_import_call(bus_t *bus, const bus_msg_t *call, void *cd, void *ud)
{
	struct import *imp = ud;
	struct bridge *b = imp->b;
	char subject[512];
	natsMsg *m = NULL;
	struct outcall *o = NULL;
	natsStatus ps = NATS_OK;

	(void)bus;
	/* n_fds, not fd_count: a body sent out of line (a sealed memfd) is
	 * counted in fd_count, and libbus hands it over as the body */
	if (call->n_fds) {
		bus_call_fail(cd, BUS_ERROR_INVALID_ARGS,
			      "file descriptors cannot cross the bridge to %s", imp->name);
		return;
	}
	if (!b->nats_up) {
		bus_call_fail(cd, BRIDGE_ERROR_UNAVAILABLE, "%s is remote and the NATS cluster is "
			      "not reachable from node %s (reconnecting)", imp->name, b->conf->node);
		return;
	}
	snprintf(subject, sizeof(subject), "%s.call.%s", b->conf->prefix, imp->name);
	if (call->flags & BUS_FLAG_NO_REPLY_EXPECTED) {
		if (natsMsg_Create(&m, subject, NULL, call->body, (int)call->body_len) != NATS_OK)
			m = NULL;
	} else if (!(o = outcall_new(b, OUT_CALL)) ||
		   (ps = outcall_publish(b, o, subject, call->body, call->body_len, &m)) != NATS_OK) {
		m = NULL;
	}
	if (!m) {
		if (o)
			outcall_free(o);
		if (ps != NATS_OK && ps != NATS_NO_MEMORY)
			bus_call_fail(cd, BRIDGE_ERROR_UNAVAILABLE, "cannot send the call to %s "
				      "over NATS: %s", imp->name, natsStatus_GetText(ps));
		else
			bus_call_fail(cd, BUS_ERROR_FAILED, "out of memory");
		return;
	}
	set_header(m, HDR_MEMBER, call->member);
	set_header(m, HDR_INTERFACE, call->interface);
	set_header(m, HDR_BODY_TYPE, call->body_type);
	set_header(m, HDR_SENDER, call->sender);
	set_header(m, HDR_NODE, b->conf->node);
	natsStatus s = natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
	if (!o) {
		bus_reply_raw(cd, NULL, NULL, 0); /* nobody waits: releases the call */
		return;
	}
	if (s != NATS_OK) {
		outcall_free(o);
		bus_call_fail(cd, s == NATS_MAX_PAYLOAD ? BUS_ERROR_LIMITS_EXCEEDED : BRIDGE_ERROR_UNAVAILABLE,
			      "cannot send the call to %s over NATS: %s (%zu bytes)", imp->name,
			      natsStatus_GetText(s), call->body_len);
		return;
	}
	o->call = cd;
}

static void schema_request(struct import *imp)
{
	struct bridge *b = imp->b;
	char subject[512];
	natsMsg *m;

	if (imp->have_schema || imp->schema_req || !b->nats_up)
		return;
	/* a request that cannot be sent is tried again later, as one that
	 * gets no schema */
	struct outcall *o = outcall_new(b, OUT_SCHEMA);
	if (!o) {
		schema_retry_later(imp);
		return;
	}
	o->imp = imp;
	snprintf(subject, sizeof(subject), "%s.schema.%s", b->conf->prefix, imp->name);
	if (outcall_publish(b, o, subject, NULL, 0, &m) != NATS_OK) {
		outcall_fail(o, NULL, NULL);
		return;
	}
	set_header(m, HDR_NODE, b->conf->node);
	if (natsConnection_PublishMsg(b->nc, m) == NATS_OK)
		imp->schema_req = o;
	else
		outcall_fail(o, NULL, NULL);
	natsMsg_Destroy(m);
}

static void on_schema_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	schema_request(arg);
}

/* Until a node that exports the name answers with its schema. */
static void schema_retry_later(struct import *imp)
{
	struct timeval tv = { .tv_sec = SCHEMA_RETRY_MS / 1000,
			      .tv_usec = (SCHEMA_RETRY_MS % 1000) * 1000 };
	if (!imp->have_schema && !imp->b->stopping)
		evtimer_add(imp->retry, &tv);
}

static int import_start(struct bridge *b, const char *name)
{
	struct import *imp = calloc(1, sizeof(*imp));
	bus_error_t err;

	if (!imp || !(imp->name = strdup(name)) ||
	    !(imp->retry = evtimer_new(b->base, on_schema_retry, imp))) {
		if (imp)
			free(imp->name);
		free(imp);
		return -ENOMEM;
	}
	imp->b = b;
	imp->next = b->imports;
	b->imports = imp;
	/* Every call to the name, whatever its service: the schema (when it
	 * comes) adds the services busd lists for Introspect. */
	if (bus_export_raw(b->bus, NULL, name, NULL, on_import_call, imp, &err) < 0 ||
	    bus_request_name(b->bus, name, &err) < 0) {
		log_msg("cannot import %s: %s: %s", name, err.name, err.message);
		return -1;
	}
	schema_request(imp);
	return 0;
}

/* Called by schemas.c once the schema is uploaded: announce its services
 * under the name (the catch-all export above still takes the calls). */
int calls_announce(struct bridge *b, const char *name, const char *service)
{
	bus_error_t err;

	for (struct import *imp = b->imports; imp; imp = imp->next) {
		if (strcmp(imp->name, name))
			continue;
		int r = bus_export_raw(b->bus, NULL, name, service, on_import_call, imp, &err);
		if (r < 0 && r != -EEXIST) {
			log_msg("cannot list %s under %s: %s: %s", service, name, err.name, err.message);
			return r;
		}
		return 0;
	}
	return -ENOENT;
}

/* ---------------------------------------------------------------- exports */

struct incoming {
	struct bridge *b;
	char reply[];
};

static void reply_publish(struct bridge *b, const char *subject, const bus_msg_t *reply,
			  const char *ename, const char *emsg)
{
	natsMsg *m;

	if (natsMsg_Create(&m, subject, NULL, reply ? reply->body : NULL,
			   reply ? (int)reply->body_len : 0) != NATS_OK)
		return;
	if (ename) {
		set_header(m, HDR_ERROR, ename);
		set_header(m, HDR_ERROR_MESSAGE, emsg);
	} else {
		set_header(m, HDR_BODY_TYPE, reply->body_type);
	}
	set_header(m, HDR_NODE, b->conf->node);
	natsConnection_PublishMsg(b->nc, m);
	natsMsg_Destroy(m);
}

static void on_local_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct incoming *in = ud;

	(void)bus;
	if (!in->b->nc) {
		free(in); /* bus_close() at exit: NATS is gone already */
		return;
	}
	if (err)
		reply_publish(in->b, in->reply, NULL, err->name, err->message);
	else
		reply_publish(in->b, in->reply, reply, NULL, NULL);
	free(in);
}

/* A request from the cluster for an exported name: a CALL on the local bus. */
static void on_export_call(struct bridge *b, natsMsg *msg, void *arg)
{
	struct export *ex = arg;
	const char *reply = natsMsg_GetReply(msg);
	const char *member = link_header(msg, HDR_MEMBER), *iface = link_header(msg, HDR_INTERFACE);
	struct incoming *in = NULL;
	char text[256];

	if (!member[0]) {
		if (reply && reply[0]) {
			snprintf(text, sizeof(text), "a call to %s without %s", ex->name, HDR_MEMBER);
			reply_publish(b, reply, NULL, BUS_ERROR_INVALID_ARGS, text);
		}
		return;
	}
	if (reply && reply[0]) {
		size_t n = strlen(reply) + 1;
		if (!(in = malloc(sizeof(*in) + n)))
			return;
		in->b = b;
		memcpy(in->reply, reply, n);
	}
	int r = bus_call_async(b->bus, NULL, ex->name, iface[0] ? iface : NULL, member,
			       link_header(msg, HDR_BODY_TYPE), natsMsg_GetData(msg),
			       (size_t)natsMsg_GetDataLength(msg),
			       (uint64_t)b->conf->call_timeout_ms * 1000, in ? on_local_reply : NULL, in);
	if (r < 0 && in) {
		const char *name = r == -EINVAL ? BUS_ERROR_INVALID_ARGS :
				   r == -EMSGSIZE ? BUS_ERROR_LIMITS_EXCEEDED : BRIDGE_ERROR_UNAVAILABLE;
		snprintf(text, sizeof(text), "node %s cannot call %s on its bus: %s", b->conf->node,
			 ex->name, r == -EINVAL ? "invalid method, interface or body type" :
			 r == -EMSGSIZE ? "the call is larger than busd accepts" : strerror(-r));
		reply_publish(b, in->reply, NULL, name, text);
		free(in);
	}
}

static void on_schema_request(struct bridge *b, natsMsg *msg, void *arg)
{
	struct export *ex = arg;

	(void)b;
	schema_serve(b, ex->name, msg);
}

static void export_unsubscribe(struct bridge *b, struct export *ex)
{
	link_unsubscribe(b, &ex->call_sub, &ex->call_route);
	link_unsubscribe(b, &ex->schema_sub, &ex->schema_route);
}

/* Offered to the cluster only while something on this bus owns the name:
 * else another node's bridge gets the calls, or the caller hears that none
 * has it (no responders). */
static void on_export_owner(bus_t *bus, const char *name, const char *owner, void *ud)
{
	struct export *ex = ud;
	struct bridge *b = ex->b;
	char subject[512];

	(void)bus;
	if (owner && !ex->call_sub) {
		snprintf(subject, sizeof(subject), "%s.call.%s", b->conf->prefix, name);
		ex->call_route.fn = on_export_call;
		ex->call_route.arg = ex;
		if (link_subscribe(b, &ex->call_sub, subject, EXPORT_QUEUE, &ex->call_route) < 0)
			ex->call_sub = NULL;
		snprintf(subject, sizeof(subject), "%s.schema.%s", b->conf->prefix, name);
		ex->schema_route.fn = on_schema_request;
		ex->schema_route.arg = ex;
		if (link_subscribe(b, &ex->schema_sub, subject, EXPORT_QUEUE, &ex->schema_route) < 0)
			ex->schema_sub = NULL;
		log_msg("exporting %s (owner %s) to the cluster", name, owner);
	} else if (!owner && ex->call_sub) {
		export_unsubscribe(b, ex);
		log_msg("%s has no owner on this bus: no longer exported", name);
	}
}

static int export_start(struct bridge *b, const char *name)
{
	struct export *ex = calloc(1, sizeof(*ex));
	bus_error_t err;

	if (!ex || !(ex->name = strdup(name))) {
		free(ex);
		return -ENOMEM;
	}
	ex->b = b;
	ex->next = b->exports;
	b->exports = ex;
	if (bus_watch_name(b->bus, &ex->watch, name, on_export_owner, ex, &err) < 0) {
		log_msg("cannot watch %s: %s: %s", name, err.name, err.message);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- module */

int calls_start(struct bridge *b)
{
	natsInbox *inbox = NULL;

	if (natsInbox_Create(&inbox) != NATS_OK)
		return -ENOMEM;
	snprintf(b->inbox, sizeof(b->inbox), "%s", inbox);
	natsInbox_Destroy(inbox);
	for (size_t i = 0; i < b->conf->n_exports; i++)
		if (export_start(b, b->conf->exports[i]) < 0)
			return -1;
	for (size_t i = 0; i < b->conf->n_imports; i++)
		if (import_start(b, b->conf->imports[i]) < 0)
			return -1;
	return 0;
}

/* The NATS server went away: every call in flight gets its error now (the
 * reply, if any, could come from anywhere or never). Reconnected: imports
 * still without a schema ask for it again. */
void calls_link_event(struct bridge *b, int kind)
{
	if (kind == LINK_DISCONNECTED || kind == LINK_CLOSED) {
		struct outcall *o, *next;
		for (o = b->outcalls; o; o = next) {
			next = o->next;
			outcall_fail(o, BRIDGE_ERROR_UNAVAILABLE,
				     "lost the NATS server while the call was in flight; "
				     "the bridge is reconnecting to the cluster");
		}
	} else if (kind == LINK_RECONNECTED) {
		for (struct import *imp = b->imports; imp; imp = imp->next)
			schema_request(imp);
	}
}

void calls_stop(struct bridge *b)
{
	while (b->outcalls) {
		struct outcall *o = b->outcalls;
		if (o->kind == OUT_CALL)
			bus_call_fail(o->call, BRIDGE_ERROR_UNAVAILABLE, "the bridge is stopping");
		outcall_free(o);
	}
	while (b->exports) {
		struct export *ex = b->exports;
		b->exports = ex->next;
		export_unsubscribe(b, ex);
		bus_slot_unref(ex->watch);
		free(ex->name);
		free(ex);
	}
	while (b->imports) {
		struct import *imp = b->imports;
		b->imports = imp->next;
		event_free(imp->retry);
		free(imp->name);
		free(imp);
	}
}
