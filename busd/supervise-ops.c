/* supervise-ops.c - what operators and SIGHUP do to declared services:
 * start, stop and restart by id or name (a stop is remembered until a
 * start), and a new set of service files applied to the running ones
 * (changed: restarted, removed: stopped and forgotten, new: started). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "supervise-internal.h"

/* The service an operator names (its id or a name it declares), or -ENOENT;
 * with starting set, -ESHUTDOWN while busd stops (no instance may come). */
static int operable(struct supervisor *s, const char *which, int starting, struct service **svc,
		    char *why, size_t len)
{
	*svc = s ? supervisor_find(s, which) : NULL;
	if (!*svc) {
		snprintf(why, len, "no service '%s'", which);
		return -ENOENT;
	}
	if (starting && s->shutting_down) {
		snprintf(why, len, "busd is shutting down");
		return -ESHUTDOWN;
	}
	return 0;
}

int supervisor_start(struct supervisor *s, const char *which, char *why, size_t len)
{
	struct service *svc;
	int r = operable(s, which, 1, &svc, why, len);

	if (r < 0)
		return r;
	svc->op_stopped = 0;
	switch (svc->state) {
	case SERVICE_STARTING:
	case SERVICE_RUNNING:
		snprintf(why, len, "service %s is already %s", svc->conf->id,
			 service_state_name(svc->state));
		return -EALREADY;
	case SERVICE_STOPPING:
		svc->then_start = 1;
		snprintf(why, len, "service %s starts once it has stopped", svc->conf->id);
		return 0;
	case SERVICE_BACKOFF:
		dispatch_source_del(&svc->timer);
		/* fall through */
	default:
		log_notice("service %s: started by an operator", svc->conf->id);
		service_forget_restarts(svc);
		service_start(svc);
		snprintf(why, len, "service %s started", svc->conf->id);
		return 0;
	}
}

int supervisor_stop(struct supervisor *s, const char *which, char *why, size_t len)
{
	struct service *svc;
	int r = operable(s, which, 0, &svc, why, len);

	if (r < 0)
		return r;
	svc->op_stopped = 1;
	svc->then_start = 0;
	if (svc->state == SERVICE_STOPPED || svc->state == SERVICE_FAILED ||
	    svc->state == SERVICE_STOPPING) {
		snprintf(why, len, "service %s is already %s", svc->conf->id,
			 service_state_name(svc->state));
		return -EALREADY;
	}
	log_notice("service %s: stopped by an operator", svc->conf->id);
	service_begin_stop(svc, "stopped by an operator");
	snprintf(why, len, "service %s %s", svc->conf->id, service_state_name(svc->state));
	return 0;
}

int supervisor_restart(struct supervisor *s, const char *which, char *why, size_t len)
{
	struct service *svc;
	int r = operable(s, which, 1, &svc, why, len);

	if (r < 0)
		return r;
	svc->op_stopped = 0;
	if (svc->state == SERVICE_STARTING || svc->state == SERVICE_RUNNING) {
		log_notice("service %s: restarted by an operator", svc->conf->id);
		service_forget_restarts(svc);
		svc->then_start = 1; /* before the change: its hooks ask service_will_return() */
		service_begin_stop(svc, "restarted by an operator");
		snprintf(why, len, "service %s restarting", svc->conf->id);
		return 0;
	}
	return supervisor_start(s, which, why, len);
}

/* ---------------------------------------------------------------- SIGHUP */

/* The name and id tables from the list (after a change of the list). */
static void index_rebuild(struct supervisor *s)
{
	hash *names = hash_new(), *ids = hash_new();

	if (!names || !ids) {
		hash_free(names, NULL);
		hash_free(ids, NULL);
		log_error("services: out of memory; the service tables are unchanged");
		return;
	}
	for (struct service *svc = s->list; svc; svc = svc->next) {
		const struct service_conf *c = svc->next_conf ? svc->next_conf : svc->conf;
		int e = hash_put(ids, c->id, strlen(c->id), svc);
		for (size_t i = 0; !e && i < c->n_names; i++)
			e = hash_put(names, c->names[i], strlen(c->names[i]), svc);
		if (e)
			log_error("services: out of memory indexing service %s", c->id);
	}
	hash_free(s->by_name, NULL);
	hash_free(s->by_id, NULL);
	s->by_name = names;
	s->by_id = ids;
}

/* A service file changed: the new declaration, and a restart if it runs. */
static void service_changed_conf(struct service *svc, struct service_conf *c)
{
	switch (svc->state) {
	case SERVICE_STARTING:
	case SERVICE_RUNNING:
	case SERVICE_STOPPING:
		service_conf_free(svc->next_conf);
		svc->next_conf = c;
		log_notice("service %s: its file changed; restarting it", c->id);
		service_forget_restarts(svc);
		svc->then_start = !svc->op_stopped; /* before the change, as above */
		if (svc->state != SERVICE_STOPPING)
			service_begin_stop(svc, "its file changed");
		break;
	case SERVICE_BACKOFF:
	case SERVICE_FAILED:
		if (service_take_conf(svc, c) < 0) {
			service_conf_free(c);
			return;
		}
		service_forget_restarts(svc);
		if (svc->op_stopped) /* failed, then stopped by an operator: it stays down */
			break;
		dispatch_source_del(&svc->timer);
		log_notice("service %s: its file changed; starting it", c->id);
		if (!svc->conf->on_demand || svc->state == SERVICE_BACKOFF)
			service_start(svc);
		else
			service_set_state(svc, SERVICE_STOPPED, "its file changed");
		break;
	default: /* stopped: a boot service starts with its new file, unless an
		  * operator stopped it */
		if (service_take_conf(svc, c) < 0) {
			service_conf_free(c);
			return;
		}
		service_forget_restarts(svc);
		if (!svc->conf->on_demand && !svc->op_stopped && svc->sup->booted) {
			log_notice("service %s: its file changed; starting it", c->id);
			service_start(svc);
		}
		break;
	}
}

void supervisor_apply(struct supervisor *s, struct service_set *set)
{
	struct service *old = s->list, *list = NULL, **tail = &list;

	s->list = NULL;
	for (size_t i = 0; i < set->n; i++) {
		struct service_conf *c = set->v[i];
		struct service *svc = NULL, **pp;
		set->v[i] = NULL;
		for (pp = &old; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->conf->id, c->id) == 0) {
				svc = *pp;
				*pp = svc->next;
				break;
			}
		if (svc) {
			if (!service_conf_equal(svc->conf, c))
				service_changed_conf(svc, c);
			else
				service_conf_free(c);
		} else if (!(svc = service_new(s, c))) {
			log_error("service %s: out of memory; not added", c->id);
			service_conf_free(c);
			continue;
		} else if (s->booted) {
			log_notice("service %s: new service file %s", c->id, c->file);
			svc->fresh = 1;
		}
		svc->next = NULL;
		*tail = svc;
		tail = &svc->next;
	}
	set->n = 0;
	s->list = list;
	index_rebuild(s); /* first: no lookup finds a service freed below */
	/* The ones whose files are gone: stopped, then forgotten. */
	while (old) {
		struct service *svc = old;
		old = svc->next;
		svc->removed = 1;
		log_notice("service %s: its file was removed; stopping it", svc->conf->id);
		if (svc->pid) {
			svc->next = s->leaving;
			s->leaving = svc;
			svc->then_start = 0;
			if (svc->state != SERVICE_STOPPING)
				service_begin_stop(svc, "its file was removed");
		} else {
			/* Also from stopped: the hooks forget it before it is freed. */
			dispatch_source_del(&svc->timer);
			service_set_state(svc, SERVICE_STOPPED, "its file was removed");
			service_free(svc);
		}
	}
	if (s->booted)
		for (struct service *svc = s->list; svc; svc = svc->next)
			if (svc->fresh) {
				svc->fresh = 0;
				if (!svc->conf->on_demand)
					service_start(svc);
			}
}
