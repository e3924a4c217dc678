/* watchdog.c - pinging supervised services. Each RUNNING service with a
 * watchdog period has a timer: at every tick the ping sent at the last tick
 * must have been answered, else the instance is killed (the supervisor
 * restarts it); then a new bus.Peer.Ping goes to the owner of the service's
 * first declared name. A hang is thus found within two periods. */
#include "config.h"

#include "watchdog.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "bus.pb-c.h"
#include "broker.h"
#include "dispatch.h"
#include "log.h"
#include "router.h"
#include "supervise.h"

/* One per service being watched (there are as many as the operator
 * declared, so a list does). */
struct watchdog {
	struct watchdog *next;
	struct broker *b;
	struct service *svc;
	struct dispatch_source timer; /* EV_PERSIST, every period */
	uint64_t period_usec;
	pid_t pid;                    /* the instance being watched */
	uint64_t serial;              /* the ping in flight, 0: none */
	uint64_t peer_id;             /* the peer it went to */
	char peer_unique[sizeof(((struct peer *)0)->unique)];
	uint64_t sent_usec;
};

static struct watchdog **find(struct broker *b, const struct service *svc)
{
	struct watchdog **pw = &b->watchdogs;

	while (*pw && (*pw)->svc != svc)
		pw = &(*pw)->next;
	return pw;
}

static void watchdog_free(struct watchdog *w)
{
	dispatch_source_free(&w->timer);
	free(w);
}

/* The ping goes to the name, so the instance sees what anyone calling it
 * would reach. Only the instance itself is asked: when the instance let
 * the name go, nobody is pinged this period and nothing is blamed, so a
 * peer that took the name over cannot get the service killed by keeping
 * silent. */
static void ping(struct watchdog *w, struct service *svc, const struct service_status *st)
{
	static const Bus__Empty empty = BUS__EMPTY__INIT;
	const char *name = st->n_names ? st->names[0] : NULL;
	struct peer *p = name ? router_resolve(w->b, name, strlen(name)) : NULL;

	w->serial = 0;
	if (!p || p->state != PEER_ACTIVE || !w->b->supervisor ||
	    supervisor_service_of_peer(w->b->supervisor, p) != svc) {
		log_debug("watchdog: service %s: its instance does not own %s, no ping", st->id,
			  name ? name : "-");
		return;
	}
	w->serial = router_call_from_bus(p, name, "bus.Peer", "Ping", &empty.base);
	if (!w->serial)
		return; /* out of memory: the next tick tries again */
	w->peer_id = p->id;
	memcpy(w->peer_unique, p->unique, sizeof(w->peer_unique));
	w->sent_usec = dispatch_now_usec();
}

static void on_tick(struct dispatch_source *s, short what)
{
	struct watchdog *w = (struct watchdog *)(void *)((char *)s - offsetof(struct watchdog, timer));
	struct service_status st;

	(void)what;
	service_status(w->svc, &st);
	if (w->serial) {
		struct peer *p = hash_get(w->b->peers, w->peer_unique, strlen(w->peer_unique));
		if (p && p->id == w->peer_id && p->held_on) {
			/* busd itself is not reading it (back-pressure: it sends
			 * to a peer that does not keep up), so its answer may be
			 * waiting unread: the ping stays in flight. */
			log_debug("watchdog: service %s: " PEER_FMT " is held, its ping waits",
				  st.id, PEER_ARGS(p));
			return;
		}
		if (p && p->id == w->peer_id && p->state == PEER_ACTIVE) {
			char why[128];
			snprintf(why, sizeof(why), "did not answer bus.Peer.Ping within %g s",
				 (double)w->period_usec / 1e6);
			/* Until the supervisor reports the next instance, nothing
			 * more to ask; the report may free w at once. */
			w->serial = 0;
			dispatch_source_del(&w->timer);
			service_kill(w->svc, why);
			return;
		}
		/* The peer left without answering: its supervisor hears of
		 * that; the owner of the name now is asked afresh. */
	}
	ping(w, w->svc, &st);
}

void watchdog_service_changed(struct broker *b, struct service *svc)
{
	struct watchdog **pw = find(b, svc), *w = *pw;
	struct service_status st;

	service_status(svc, &st);
	if (st.state != SERVICE_RUNNING || !st.watchdog_usec) {
		if (w) {
			*pw = w->next;
			watchdog_free(w);
		}
		return;
	}
	/* The same instance still running: its rhythm goes on. */
	if (w && w->pid == st.pid && w->period_usec == st.watchdog_usec &&
	    dispatch_source_pending(&w->timer))
		return;
	if (!w) {
		if (!(w = calloc(1, sizeof(*w))) ||
		    dispatch_source_init(&w->timer, &b->dispatch, -1, EV_PERSIST, on_tick) < 0) {
			free(w);
			log_error("watchdog: service %s: out of memory, it is not watched", st.id);
			return;
		}
		w->b = b;
		w->svc = svc;
		w->next = b->watchdogs;
		b->watchdogs = w;
	}
	w->pid = st.pid;
	w->period_usec = st.watchdog_usec;
	w->serial = 0;
	dispatch_source_del(&w->timer);
	if (dispatch_source_add_usec(&w->timer, w->period_usec) < 0)
		log_error("watchdog: service %s: cannot arm its timer, it is not watched", st.id);
}

int watchdog_answer(struct peer *p, uint64_t serial, int reply)
{
	for (struct watchdog *w = p->broker->watchdogs; w; w = w->next) {
		if (!w->serial || w->serial != serial || w->peer_id != p->id)
			continue;
		w->serial = 0;
		if (log_enabled(LOG_DEBUG)) {
			struct service_status st;
			service_status(w->svc, &st);
			log_debug("watchdog: service %s: " PEER_FMT " answered Ping%s in %llu us", st.id,
				  PEER_ARGS(p), reply ? "" : " with an error",
				  (unsigned long long)(dispatch_now_usec() - w->sent_usec));
		}
		return 1;
	}
	return 0;
}

void watchdog_free_all(struct broker *b)
{
	while (b->watchdogs) {
		struct watchdog *w = b->watchdogs;
		b->watchdogs = w->next;
		watchdog_free(w);
	}
}
