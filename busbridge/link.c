/* link.c - the connection to the NATS cluster: bridge.conf's options passed
 * to cnats, and cnats's socket read on the loop thread (cnats's external
 * event loop), since libbus is used from that thread only. Every message
 * comes on a synchronous subscription, taken on the loop right after the
 * read that brought it: no thread hand-off. Only the connection's changes,
 * which cnats reports from its own threads, reach the loop through a
 * locked queue and a pipe. cnats reconnects to another server of the
 * cluster by itself (on its own thread, which attaches the new socket to
 * the loop) and subscribes again there. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

void log_msg(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---------------------------------------------------------------- queue */

/* From cnats's threads: a connection change for the loop. A full queue
 * (LINK_QUEUE_MAX, the loop stuck for that many changes) drops it, said
 * once per thousand. */
static void queue_push(struct bridge *b, int kind)
{
	struct item *it = malloc(sizeof(*it));
	int wake = 0, drop = 0;

	pthread_mutex_lock(&b->lock);
	if (!it || b->queued >= LINK_QUEUE_MAX) {
		drop = ++b->dropped % 1000 == 1;
		free(it);
		it = NULL;
	} else {
		it->next = NULL;
		it->kind = kind;
		wake = b->head == NULL;
		*b->tail = it;
		b->tail = &it->next;
		b->queued++;
	}
	pthread_mutex_unlock(&b->lock);
	if (drop)
		log_msg("the loop is behind: %zu connection changes dropped so far", b->dropped);
	if (wake) {
		char c = 1;
		ssize_t n = write(b->wake[1], &c, 1);
		(void)n; /* a full pipe has a wake-up pending already */
	}
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	queue_push(closure, LINK_DISCONNECTED);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	(void)nc;
	queue_push(closure, LINK_RECONNECTED);
}

static void on_closed(natsConnection *nc, void *closure)
{
	(void)nc;
	queue_push(closure, LINK_CLOSED);
}

/* The loop's side: take the whole queue at once, then handle it in order. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;
	char buf[256];
	struct item *it;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&b->lock);
	it = b->head;
	b->head = NULL;
	b->tail = &b->head;
	b->queued = 0;
	pthread_mutex_unlock(&b->lock);
	while (it) {
		struct item *next = it->next;
		if (it->kind == LINK_DISCONNECTED) {
			b->nats_up = 0;
			log_msg("lost the NATS server; reconnecting to another of the cluster");
		} else if (it->kind == LINK_RECONNECTED) {
			char url[256] = "";
			b->nats_up = 1;
			natsConnection_GetConnectedUrl(b->nc, url, sizeof(url));
			log_msg("reconnected to NATS at %s", url);
		} else {
			b->nats_up = 0;
		}
		calls_link_event(b, it->kind);
		free(it);
		it = next;
	}
}

/* ---------------------------------------------------------------- event loop */

/* The subscriptions' messages, in the order of the list, after each read
 * (a subscription made meanwhile has none from this read: cnats drops
 * what comes for no subscription). A route's function may end any
 * subscription, its own included (link_unsubscribe moves the walk on). */
static void take_sync(struct bridge *b)
{
	natsMsg *msg;
	natsStatus s;

	for (struct route *r = b->routes; r; r = b->walk_next) {
		b->walk = r;
		b->walk_next = r->next;
		b->walk_gone = 0;
		while (!b->walk_gone) {
			int pending = 0;
			/* a look that sets no error text, for the many empty ones */
			if (natsSubscription_GetPending(r->sub, &pending, NULL) != NATS_OK ||
			    pending <= 0)
				break;
			msg = NULL;
			s = natsSubscription_NextMsg(&msg, r->sub, 0);
			if (s == NATS_SLOW_CONSUMER) {
				log_msg("the loop is behind: NATS dropped messages for a subscription");
				continue;
			}
			if (s == NATS_NO_RESPONDERS && !r->replies)
				continue;
			if (s != NATS_OK && s != NATS_NO_RESPONDERS)
				break;
			if (!b->stopping)
				r->fn(b, msg, r->arg); /* msg NULL: no responders */
			natsMsg_Destroy(msg);
		}
	}
	b->walk = b->walk_next = NULL;
}

static void on_nats_io(evutil_socket_t fd, short what, void *arg)
{
	struct bridge *b = arg;

	(void)fd;
	if (what & EV_READ) {
		natsConnection_ProcessReadEvent(b->nc_ev);
		take_sync(b);
	}
	if (what & EV_WRITE)
		natsConnection_ProcessWriteEvent(b->nc_ev);
}

static void finalized(struct event *ev, void *arg)
{
	(void)ev;
	(void)arg;
}

/* From the loop or from cnats's reconnect thread: an event of the old
 * socket may be running on the loop, so it is freed there once done. */
static void drop_events(struct bridge *b)
{
	if (b->nats_rd)
		event_free_finalize(0, b->nats_rd, finalized);
	if (b->nats_wr)
		event_free_finalize(0, b->nats_wr, finalized);
	b->nats_rd = b->nats_wr = NULL;
}

/* cnats's callbacks of natsOptions_SetEventLoop: at each (re)connection,
 * to poll for reading or writing, and at the end. */
static natsStatus ev_attach(void **data, void *loop, natsConnection *nc, natsSock sock)
{
	struct bridge *b = loop;

	pthread_mutex_lock(&b->ev_lock);
	drop_events(b);
	b->nc_ev = nc;
	b->nats_rd = event_new(b->base, sock, EV_READ | EV_PERSIST, on_nats_io, b);
	b->nats_wr = event_new(b->base, sock, EV_WRITE | EV_PERSIST, on_nats_io, b);
	int ok = b->nats_rd && b->nats_wr && event_add(b->nats_rd, NULL) == 0;
	pthread_mutex_unlock(&b->ev_lock);
	*data = b;
	return ok ? NATS_OK : NATS_NO_MEMORY;
}

static natsStatus ev_poll(struct bridge *b, int write, bool add)
{
	int r = 0;

	pthread_mutex_lock(&b->ev_lock);
	struct event *ev = write ? b->nats_wr : b->nats_rd;
	if (ev)
		r = add ? event_add(ev, NULL) : event_del_noblock(ev);
	pthread_mutex_unlock(&b->ev_lock);
	return r == 0 ? NATS_OK : NATS_ERR;
}

static natsStatus ev_read(void *data, bool add)
{
	return ev_poll(data, 0, add);
}

static natsStatus ev_write(void *data, bool add)
{
	return ev_poll(data, 1, add);
}

static natsStatus ev_detach(void *data)
{
	struct bridge *b = data;

	pthread_mutex_lock(&b->ev_lock);
	drop_events(b);
	pthread_mutex_unlock(&b->ev_lock);
	return NATS_OK;
}

/* ---------------------------------------------------------------- connect */

static int check(natsStatus s, const char *what)
{
	if (s == NATS_OK)
		return 0;
	log_msg("NATS: %s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
	return -1;
}

int link_connect(struct bridge *b)
{
	const struct bridge_conf *c = b->conf;
	natsOptions *o = NULL;
	int r = -1;

	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->ev_lock, NULL);
	b->tail = &b->head;
	if (pipe2(b->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		log_msg("pipe: %s", strerror(errno));
		return -1;
	}
	b->wake_ev = event_new(b->base, b->wake[0], EV_READ | EV_PERSIST, on_wake, b);
	if (!b->wake_ev || event_add(b->wake_ev, NULL) < 0)
		return -1;
	if (check(natsOptions_Create(&o), "options") < 0 ||
	    check(natsOptions_SetServers(o, (const char **)c->servers, (int)c->n_servers),
		  "servers") < 0 ||
	    check(natsOptions_SetName(o, c->node), "name") < 0 ||
	    /* the bridge never wants what it publishes itself */
	    check(natsOptions_SetNoEcho(o, true), "no echo") < 0 ||
	    /* a call waits for each message: no flusher delay (about 1 ms) */
	    check(natsOptions_SetSendAsap(o, true), "send asap") < 0 ||
	    check(natsOptions_SetNoRandomize(o, !c->randomize), "randomize") < 0 ||
	    check(natsOptions_SetMaxReconnect(o, -1), "reconnects") < 0 ||
	    check(natsOptions_SetReconnectWait(o, 100), "reconnect wait") < 0 ||
	    check(natsOptions_SetPingInterval(o, 2000), "ping interval") < 0 ||
	    check(natsOptions_SetMaxPingsOut(o, 2), "pings out") < 0 ||
	    check(natsOptions_SetDisconnectedCB(o, on_disconnected, b), "callbacks") < 0 ||
	    check(natsOptions_SetReconnectedCB(o, on_reconnected, b), "callbacks") < 0 ||
	    check(natsOptions_SetClosedCB(o, on_closed, b), "callbacks") < 0 ||
	    check(natsOptions_SetEventLoop(o, b, ev_attach, ev_read, ev_write, ev_detach),
		  "event loop") < 0)
		goto out;
	if ((c->user || c->password) &&
	    check(natsOptions_SetUserInfo(o, c->user, c->password), "user and password") < 0)
		goto out;
	if (c->token && check(natsOptions_SetToken(o, c->token), "token") < 0)
		goto out;
	if (c->credentials &&
	    check(natsOptions_SetUserCredentialsFromFiles(o, c->credentials, NULL), c->credentials) < 0)
		goto out;
	if (c->nkey_seed && check(natsOptions_SetNKeyFromSeed(o, NULL, c->nkey_seed), c->nkey_seed) < 0)
		goto out;
	if (c->tls && check(natsOptions_SetSecure(o, true), "tls") < 0)
		goto out;
	if (c->tls_ca && check(natsOptions_LoadCATrustedCertificates(o, c->tls_ca), c->tls_ca) < 0)
		goto out;
	if ((c->tls_cert || c->tls_key) &&
	    check(natsOptions_LoadCertificatesChain(o, c->tls_cert, c->tls_key), "tls_cert/tls_key") < 0)
		goto out;
	if (c->tls_hostname && check(natsOptions_SetExpectedHostname(o, c->tls_hostname),
				     "tls_hostname") < 0)
		goto out;
	if (c->tls_skip_verify && check(natsOptions_SkipServerVerification(o, true),
					"tls_skip_verify") < 0)
		goto out;
	if (check(natsConnection_Connect(&b->nc, o), "connect") < 0)
		goto out;
	b->nats_up = 1;
	r = 0;
out:
	natsOptions_Destroy(o);
	return r;
}

int link_subscribe(struct bridge *b, natsSubscription **sub, const char *subject,
		   const char *queue, struct route *route)
{
	natsStatus s;

	route->b = b;
	if (queue)
		s = natsConnection_QueueSubscribeSync(sub, b->nc, subject, queue);
	else
		s = natsConnection_SubscribeSync(sub, b->nc, subject);
	if (s == NATS_OK)
		/* taken after each read: more than this waits only if the loop
		 * falls behind cnats's own read */
		s = natsSubscription_SetPendingLimits(*sub, 65536, 64 * 1024 * 1024);
	if (s == NATS_OK && route->replies)
		s = natsSubscription_AutoUnsubscribe(*sub, 1);
	if (s != NATS_OK) {
		natsSubscription_Destroy(*sub);
		*sub = NULL;
		/* a request's reply subscription: its call is answered with why */
		return route->replies ? -(int)s : check(s, subject);
	}
	route->sub = *sub;
	route->prev = NULL;
	route->next = b->routes;
	if (route->next)
		route->next->prev = route;
	b->routes = route;
	return 0;
}

void link_unsubscribe(struct bridge *b, natsSubscription **sub, struct route *route)
{
	if (!*sub)
		return;
	if (route == b->walk)
		b->walk_gone = 1;
	if (route == b->walk_next)
		b->walk_next = route->next;
	if (route->prev)
		route->prev->next = route->next;
	else
		b->routes = route->next;
	if (route->next)
		route->next->prev = route->prev;
	route->prev = route->next = NULL;
	route->sub = NULL;
	/* a reply subscription that took its message is gone already
	 * (auto-unsubscribe): cnats then says so, harmlessly */
	natsSubscription_Unsubscribe(*sub);
	natsSubscription_Destroy(*sub);
	*sub = NULL;
}

const char *link_header(natsMsg *msg, const char *key)
{
	const char *v = NULL;

	if (natsMsgHeader_Get(msg, key, &v) != NATS_OK || !v)
		return "";
	return v;
}

/* After every subscription is gone: what is still queued is dropped. */
void link_close(struct bridge *b)
{
	if (!b->tail)
		return; /* never connected */
	if (b->nc) {
		natsConnection_Destroy(b->nc);
		b->nc = NULL;
	}
	/* on the loop, no callback of theirs running: freed at once (those of
	 * older sockets are freed by event_base_free, running their finalizers) */
	if (b->nats_rd)
		event_free(b->nats_rd);
	if (b->nats_wr)
		event_free(b->nats_wr);
	b->nats_rd = b->nats_wr = NULL;
	struct item *it = b->head;
	while (it) {
		struct item *next = it->next;
		free(it);
		it = next;
	}
	b->head = NULL;
	b->tail = &b->head;
	if (b->wake_ev)
		event_free(b->wake_ev);
	b->wake_ev = NULL;
	if (b->wake[0] > 0) {
		close(b->wake[0]);
		close(b->wake[1]);
	}
	pthread_mutex_destroy(&b->lock);
	pthread_mutex_destroy(&b->ev_lock);
}
