/* control-services.c - bus.Bus's methods for supervised services:
 * ListServices (anyone, as anyone may list names) and StartService,
 * StopService, RestartService behind the policy's verb manage. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/errors.h"
#include "bus.pb-c.h"
#include "broker.h"
#include "control-internal.h"
#include "log.h"
#include "policy.h"
#include "supervise.h"

struct service_find {
	const char *id;
	struct service *found;
};

static void find_by_id(struct service *svc, void *ud)
{
	struct service_find *f = ud;
	struct service_status st;

	service_status(svc, &st);
	if (!f->found && strcmp(st.id, f->id) == 0)
		f->found = svc;
}

/* A service by its id or by a name it declares. */
static struct service *service_find(struct broker *b, const char *which)
{
	struct service_find f = { which, NULL };

	if (!b->supervisor)
		return NULL;
	f.found = supervisor_lookup(b->supervisor, which, strlen(which));
	if (!f.found)
		supervisor_each(b->supervisor, find_by_id, &f);
	return f.found;
}

/* info's strings point into svc: reply before anything changes it. */
static void service_info(const struct service *svc, Bus__ServiceInfo *info)
{
	struct service_status st;
	uint64_t now = dispatch_now_usec();

	service_status(svc, &st);
	bus__service_info__init(info);
	info->service = (char *)st.id;
	info->state = (Bus__ServiceState)st.state;
	info->pid = (uint32_t)st.pid;
	info->uptime_usec = st.pid && st.started_usec && now > st.started_usec ? now - st.started_usec
									       : 0;
	info->restarts = st.restarts;
	info->last_exit_status = st.last_status;
	info->last_exit_signal = st.last_signal;
	info->last_reason = (char *)(st.last_reason ? st.last_reason : "");
	info->names = (char **)st.names;
	info->n_names = st.n_names;
	info->on_demand = st.on_demand != 0;
	info->unique_name = (char *)(st.peer ? st.peer->unique : "");
}

struct service_list {
	Bus__ServiceInfo *infos;
	Bus__ServiceInfo **ptrs;
	size_t n, cap;
};

static void count_service(struct service *svc, void *ud)
{
	(void)svc;
	((struct service_list *)ud)->cap++;
}

static void collect_service(struct service *svc, void *ud)
{
	struct service_list *l = ud;

	if (l->n == l->cap)
		return;
	service_info(svc, &l->infos[l->n]);
	l->ptrs[l->n] = &l->infos[l->n];
	l->n++;
}

/* Anyone may list them, as anyone may list names. */
void control_list_services(struct ctl *c)
{
	struct broker *b = c->p->broker;
	struct service_list l = { 0 };
	ProtobufCMessage *req = ctl_request(c, &bus__list_services_request__descriptor);

	if (!req)
		return;
	protobuf_c_message_free_unpacked(req, NULL);
	if (b->supervisor)
		supervisor_each(b->supervisor, count_service, &l);
	l.infos = calloc(l.cap ? l.cap : 1, sizeof(*l.infos));
	l.ptrs = calloc(l.cap ? l.cap : 1, sizeof(*l.ptrs));
	if (!l.infos || !l.ptrs) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
	} else {
		if (b->supervisor)
			supervisor_each(b->supervisor, collect_service, &l);
		Bus__ListServicesReply rep = BUS__LIST_SERVICES_REPLY__INIT;
		rep.services = l.ptrs;
		rep.n_services = l.n;
		ctl_reply(c, &rep.base);
	}
	free(l.ptrs);
	free(l.infos);
}

/* The policy's verb manage, matched against the service's id and every
 * name it declares (policy_check_any). */
static int permit_manage(struct ctl *c, const char *verb, const struct service *svc)
{
	struct broker *b = c->p->broker;
	struct policy_subject who = { c->p->conn.uid, c->p->conn.gid, c->p->conn.groups,
				      c->p->conn.n_groups };
	const struct policy_rule *rule;
	struct service_status st;
	char because[448];

	service_status(svc, &st);
	const char **objects = malloc((st.n_names + 1) * sizeof(*objects));
	if (!objects) {
		ctl_fail(c, BUS_ERROR_FAILED, "%s", "out of memory");
		return 0;
	}
	objects[0] = st.id;
	for (size_t i = 0; i < st.n_names; i++)
		objects[i + 1] = st.names[i];
	int allowed = policy_check_any(b->policy, POL_MANAGE, &who, objects, st.n_names + 1, &rule);
	free(objects);
	if (allowed)
		return 1;
	b->stats.access_denied++;
	if (rule)
		snprintf(because, sizeof(because), "%s: %s", rule->origin, rule->text);
	else
		snprintf(because, sizeof(because), "no [policy] rule allows it; without one only root "
			 "and busd's own user may manage services");
	peer_log(c->p, LOG_NOTICE, "access denied: manage %s (%s of service %s)", st.id, verb,
		 because);
	ctl_fail(c, BUS_ERROR_ACCESS_DENIED, "manage %s is not allowed (%s)", st.id, because);
	return 0;
}

/* StartService, StopService, RestartService: the action is taken (already
 * in the state asked for is no error), then the ServiceInfo as it is now. */
void control_manage(struct ctl *c, const char *verb, manage_fn act)
{
	struct broker *b = c->p->broker;
	Bus__ServiceRequest *req =
		(Bus__ServiceRequest *)ctl_request(c, &bus__service_request__descriptor);
	char why[256] = "";

	if (!req)
		return;
	struct service *svc = service_find(b, req->service);
	if (!svc) {
		if (b->supervisor)
			ctl_fail(c, BUS_ERROR_INVALID_ARGS, "no service '%s': neither a service's id nor "
			     "a name one declares (ListServices lists them)", req->service);
		else
			ctl_fail(c, BUS_ERROR_INVALID_ARGS, "no service '%s': busd supervises no "
			     "services", req->service);
		goto out;
	}
	if (!permit_manage(c, verb, svc))
		goto out;
	struct service_status st;
	service_status(svc, &st);
	peer_log(c->p, LOG_NOTICE, "%s service %s", verb, st.id);
	int r = act(b->supervisor, st.id, why, sizeof(why));
	if (r == -EALREADY)
		r = 0; /* already where it was asked to be: no error */
	if (r < 0) { /* -ESHUTDOWN: busd is stopping */
		ctl_fail(c, r == -ENOENT ? BUS_ERROR_INVALID_ARGS : BUS_ERROR_FAILED, "%s %s: %s", verb,
		     req->service, why[0] ? why : strerror(-r));
		goto out;
	}
	Bus__ServiceInfo info;
	service_info(svc, &info);
	ctl_reply(c, &info.base);
out:
	bus__service_request__free_unpacked(req, NULL);
}
