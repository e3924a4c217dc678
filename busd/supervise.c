/* supervise.c - the state machine of each declared service and the
 * supervisor around them. A service is one of STOPPED, STARTING (its child
 * runs, not yet owning every declared name), RUNNING, BACKOFF (died; a
 * timer starts it again), STOPPING (SIGTERM sent; SIGKILL at stop_timeout)
 * and FAILED (restarted too often). Every change goes through
 * service_set_state(). Children are reaped from a SIGCHLD dispatch source;
 * what they print is logged by spawn.c. Operators and SIGHUP: supervise-ops.c. */
#include "config.h"
#include "supervise.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "bus.pb-c.h"
#include "hash.h"
#include "hold.h"
#include "log.h"
#include "service-conf.h"
#include "spawn.h"
#include "supervise-internal.h"
#include "watchdog.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


static const char *const state_names[] = {
	[SERVICE_STOPPED] = "stopped", [SERVICE_STARTING] = "starting",
	[SERVICE_RUNNING] = "running", [SERVICE_BACKOFF] = "backoff",
	[SERVICE_STOPPING] = "stopping", [SERVICE_FAILED] = "failed",
};

const char *service_state_name(enum service_state s)
{
	return s >= SERVICE_STOPPED && s <= SERVICE_FAILED ? state_names[s] : "?";
}

static void shutdown_next(struct supervisor *s);

/* ---------------------------------------------------------------- changes */

void service_set_state(struct service *svc, enum service_state state, const char *reason)
{
	enum service_state old = svc->state;

	svc->old_state = old;
	svc->state = state;
	supervise_changed(svc, old, reason);
}

void supervise_changed(struct service *svc, enum service_state old, const char *reason)
{
	struct broker *b = svc->sup->b;
	Bus__ServiceStateChanged ev = BUS__SERVICE_STATE_CHANGED__INIT;
	pid_t pid = svc->pid ? svc->pid : svc->gone_pid;

	if (svc->state == SERVICE_STARTING && svc->restarts)
		log_notice("service %s: %s -> %s (pid %d, restart %u)%s%s", svc->conf->id,
			   service_state_name(old), service_state_name(svc->state), (int)pid,
			   svc->restarts, *reason ? ": " : "", reason);
	else
		log_notice("service %s: %s -> %s (pid %d)%s%s", svc->conf->id,
			   service_state_name(old), service_state_name(svc->state), (int)pid,
			   *reason ? ": " : "", reason);
	ev.service = svc->conf->id;
	ev.old_state = (Bus__ServiceState)old;
	ev.new_state = (Bus__ServiceState)svc->state;
	ev.pid = (uint32_t)pid;
	ev.reason = (char *)reason;
	router_emit(b, "bus.ServiceStateChanged", &ev.base);
	/* the held calls and the watchdog hear of every change */
	hold_service_changed(b, svc);
	watchdog_service_changed(b, svc);
}

/* ---------------------------------------------------------------- lookups */

struct service *supervisor_lookup(struct supervisor *s, const char *name, size_t len)
{
	return s ? hash_get(s->by_name, name, len) : NULL;
}

struct service *supervisor_find(struct supervisor *s, const char *which)
{
	struct service *svc = hash_get(s->by_id, which, strlen(which));

	return svc ? svc : hash_get(s->by_name, which, strlen(which));
}

void service_status(const struct service *svc, struct service_status *st)
{
	memset(st, 0, sizeof(*st));
	st->id = svc->conf->id;
	st->state = svc->state;
	st->pid = svc->pid;
	st->started_usec = svc->pid ? svc->started_usec : 0;
	st->restarts = svc->restarts;
	st->last_status = svc->last_status;
	st->last_signal = svc->last_signal;
	st->last_reason = svc->last_reason;
	st->names = svc->conf->names;
	st->n_names = svc->conf->n_names;
	st->on_demand = svc->conf->on_demand;
	st->watchdog_usec = svc->conf->watchdog_usec;
	st->peer = svc->peer;
	st->old_state = svc->old_state;
}

struct service *supervisor_service_of_peer(struct supervisor *s, const struct peer *p)
{
	if (!s)
		return NULL;
	for (struct service *svc = s->list; svc; svc = svc->next)
		if (svc->peer == p || (svc->pid && p->conn.pid == svc->pid))
			return svc;
	return NULL;
}

void supervisor_each(struct supervisor *s, void (*fn)(struct service *svc, void *ud), void *ud)
{
	if (!s)
		return;
	for (struct service *svc = s->list; svc; svc = svc->next)
		fn(svc, ud);
}

/* ---------------------------------------------------------------- the instance */

static int owns_all(struct service *svc, const struct peer *p)
{
	for (size_t i = 0; i < svc->conf->n_names; i++) {
		const char *n = svc->conf->names[i];
		if (name_lookup(svc->sup->b->names, n, strlen(n)) != p)
			return 0;
	}
	return 1;
}

void supervisor_name_changed(struct supervisor *s, const char *name,
			     const struct peer *old_owner, const struct peer *new_owner)
{
	struct service *svc = supervisor_lookup(s, name, strlen(name));

	if (!svc)
		return;
	if (old_owner && svc->peer == old_owner)
		svc->peer = NULL; /* lost a declared name: no longer the service's connection */
	if (!new_owner || !svc->pid || new_owner->conn.pid != svc->pid || !owns_all(svc, new_owner))
		return;
	svc->peer = (struct peer *)new_owner;
	if (svc->state == SERVICE_STARTING && !svc->kill_reason[0]) {
		dispatch_source_del(&svc->timer);
		service_set_state(svc, SERVICE_RUNNING, "");
	}
}

static void kill_group(struct service *svc, int sig)
{
	if (svc->pid > 0)
		kill(-svc->pid, sig);
}

static void on_timer(struct dispatch_source *src, short what)
{
	struct service *svc = (struct service *)(void *)((char *)src -
							  offsetof(struct service, timer));

	(void)what;
	switch (svc->state) {
	case SERVICE_STARTING: {
		const char *missing = svc->conf->names[0];
		for (size_t i = 0; i < svc->conf->n_names; i++) {
			const char *n = svc->conf->names[i];
			void *owner = name_lookup(svc->sup->b->names, n, strlen(n));
			if (!owner || ((struct peer *)owner)->conn.pid != svc->pid) {
				missing = n;
				break;
			}
		}
		snprintf(svc->kill_reason, sizeof(svc->kill_reason), "did not own %s within %g s",
			 missing, (double)svc->conf->start_timeout_usec / USEC);
		log_warning("service %s: %s; killing pid %d", svc->conf->id, svc->kill_reason,
			    (int)svc->pid);
		kill_group(svc, SIGKILL);
		break;
	}
	case SERVICE_BACKOFF:
		svc->restarts++;
		service_start(svc);
		break;
	case SERVICE_STOPPING:
		log_warning("service %s: still running %g s after SIGTERM; sending SIGKILL",
			    svc->conf->id, (double)svc->conf->stop_timeout_usec / USEC);
		kill_group(svc, SIGKILL);
		break;
	default:
		break;
	}
}

/* The child's environment: PATH (unless the file sets one), BUS_ADDRESS,
 * then the file's environment = entries. */
static char **make_env(struct service *svc)
{
	const struct service_conf *c = svc->conf;
	char **env = calloc(c->n_env + 3, sizeof(*env));
	size_t n = 0;
	int has_path = 0;

	if (!env)
		return NULL;
	for (size_t i = 0; i < c->n_env; i++)
		has_path |= strncmp(c->env[i], "PATH=", 5) == 0;
	if (!has_path)
		env[n++] = (char *)"PATH=" DEFAULT_PATH;
	env[n++] = svc->sup->address;
	for (size_t i = 0; i < c->n_env; i++)
		env[n++] = c->env[i];
	env[n] = NULL;
	return env;
}

/* The ids the child takes: only when busd runs as root. */
static int make_ids(struct service *svc, struct spawn_request *r, gid_t **groups, char *why,
		    size_t len)
{
	const struct service_conf *c = svc->conf;

	*groups = NULL;
	if (geteuid() != 0 || (c->uid == (uid_t)-1 && c->gid == (gid_t)-1))
		return 0;
	r->set_ids = 1;
	r->uid = c->uid;
	r->gid = c->gid;
	int n = 32;
	for (int tries = 0; c->user[0] && tries < 4; tries++) {
		gid_t *g = realloc(*groups, (size_t)n * sizeof(*g));
		if (!g)
			break;
		*groups = g;
		int want = n;
		if (getgrouplist(c->user, c->gid, g, &want) >= 0) {
			r->groups = g;
			r->n_groups = (size_t)want;
			return 0;
		}
		if (want <= n || want > 65536)
			break;
		n = want;
	}
	if (c->user[0] && getpwnam(c->user)) {
		snprintf(why, len, "cannot read the groups of user %s", c->user);
		return -1;
	}
	/* A numeric user without a passwd entry, or a group alone: only gid. */
	gid_t *g = realloc(*groups, sizeof(*g));
	if (!g) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	*groups = g;
	g[0] = c->gid;
	r->groups = g;
	r->n_groups = 1;
	return 0;
}

static void instance_failed(struct service *svc, const char *reason);

/* No child could be started at all. */
static void start_failed(struct service *svc, const char *why)
{
	svc->last_status = -1;
	svc->last_signal = 0;
	log_warning("service %s: cannot start: %s", svc->conf->id, why);
	instance_failed(svc, why);
}

void service_start(struct service *svc)
{
	struct supervisor *s = svc->sup;
	struct spawn_request r = { .argv = svc->conf->argv, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	char why[256] = "";
	gid_t *groups = NULL;
	int fds[2], failed = 0;

	svc->kill_reason[0] = '\0';
	svc->then_start = 0;
	svc->gone_pid = 0;
	char **env = make_env(svc);
	if (!env) {
		start_failed(svc, "out of memory");
		return;
	}
	r.envp = env;
	if (make_ids(svc, &r, &groups, why, sizeof(why)) < 0) {
		free(env);
		free(groups);
		start_failed(svc, why);
		return;
	}
	pid_t pid = spawn_start(&r, fds, &failed, why, sizeof(why));
	free(env);
	free(groups);
	if (pid < 0) {
		start_failed(svc, why);
		return;
	}
	svc->pid = pid;
	svc->started_usec = dispatch_now_usec();
	svc->start_seq = ++s->seq;
	if (failed)
		snprintf(svc->kill_reason, sizeof(svc->kill_reason), "%s", why);
	output_open(&svc->out[0], &s->b->dispatch, fds[0], svc->conf->id, &svc->budget);
	output_open(&svc->out[1], &s->b->dispatch, fds[1], svc->conf->id, &svc->budget);
	if (!failed)
		dispatch_source_add_usec(&svc->timer, svc->conf->start_timeout_usec);
	service_set_state(svc, SERVICE_STARTING, failed ? why : "");
}

/* Whether another restart fits in restart_intensity; records it if so. */
static int intensity_allows(struct service *svc, uint64_t now, unsigned *count)
{
	const struct service_conf *c = svc->conf;
	unsigned n = 0;

	for (unsigned i = 0; i < svc->n_restart_usec; i++)
		if (now - svc->restart_usec[i] < c->period_usec)
			svc->restart_usec[n++] = svc->restart_usec[i];
	svc->n_restart_usec = n;
	*count = n + 1;
	if (n + 1 > c->intensity)
		return 0;
	svc->restart_usec[svc->n_restart_usec++] = now;
	return 1;
}

void service_forget_restarts(struct service *svc)
{
	svc->n_restart_usec = 0;
	svc->consecutive = 0;
	svc->restarts = 0;
}

/* The instance is gone (reaped, or it never started): apply the policy. */
static void instance_failed(struct service *svc, const char *reason)
{
	struct supervisor *s = svc->sup;
	const struct service_conf *c = svc->conf;
	/* Exit status 0 after it was up; anything busd killed had a signal. */
	int clean = svc->last_status == 0 && svc->last_signal == 0 && svc->state == SERVICE_RUNNING;
	uint64_t now = dispatch_now_usec();
	unsigned count;

	snprintf(svc->last_reason, sizeof(svc->last_reason), "%s", reason);
	int restart = c->restart == RESTART_ALWAYS || (c->restart == RESTART_ON_FAILURE && !clean);
	if (s->shutting_down || svc->op_stopped || !restart) {
		service_set_state(svc, SERVICE_STOPPED, reason);
		return;
	}
	if (!intensity_allows(svc, now, &count)) {
		char failed[64];
		snprintf(failed, sizeof(failed), "failed: %u restarts in %llu s", count,
			 (unsigned long long)(c->period_usec / USEC));
		log_error("service %s: %u restarts within %llu s exceed restart_intensity %u in "
			  "%llu; not restarting it until an operator starts it (last: %s)", c->id,
			  count, (unsigned long long)(c->period_usec / USEC), c->intensity,
			  (unsigned long long)(c->period_usec / USEC), reason);
		snprintf(svc->last_reason, sizeof(svc->last_reason), "%s", failed);
		service_set_state(svc, SERVICE_FAILED, failed);
		return;
	}
	uint64_t delay = c->backoff_usec;
	for (unsigned i = 0; i < svc->consecutive && delay < c->backoff_max_usec; i++)
		delay *= 2;
	if (delay > c->backoff_max_usec)
		delay = c->backoff_max_usec;
	svc->consecutive++;
	dispatch_source_add_usec(&svc->timer, delay);
	service_set_state(svc, SERVICE_BACKOFF, reason);
}

void service_free(struct service *svc)
{
	output_close(&svc->out[0]);
	output_close(&svc->out[1]);
	dispatch_source_free(&svc->timer);
	service_conf_free(svc->conf);
	service_conf_free(svc->next_conf);
	free(svc->restart_usec);
	free(svc);
}

static void unlink_leaving(struct supervisor *s, struct service *svc)
{
	for (struct service **pp = &s->leaving; *pp; pp = &(*pp)->next)
		if (*pp == svc) {
			*pp = svc->next;
			return;
		}
}

int service_take_conf(struct service *svc, struct service_conf *c)
{
	uint64_t *t = calloc(c->intensity + 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	free(svc->restart_usec);
	svc->restart_usec = t;
	svc->n_restart_usec = 0;
	service_conf_free(svc->conf);
	svc->conf = c;
	return 0;
}

/* The child svc->pid ended with status (waitpid's). */
static void reaped(struct service *svc, int status)
{
	struct supervisor *s = svc->sup;
	char reason[256];

	dispatch_source_del(&svc->timer);
	output_close(&svc->out[0]);
	output_close(&svc->out[1]);
	output_budget_report(&svc->budget, svc->conf->id);
	kill_group(svc, SIGKILL); /* what it left behind in its group goes too */
	svc->last_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	svc->last_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (svc->kill_reason[0])
		snprintf(reason, sizeof(reason), "%s", svc->kill_reason);
	else if (WIFSIGNALED(status))
		snprintf(reason, sizeof(reason), "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(reason, sizeof(reason), "exited with status %d", WEXITSTATUS(status));
	if (svc->started_usec && dispatch_now_usec() - svc->started_usec > svc->conf->period_usec)
		svc->consecutive = 0; /* it ran a while: the next death starts the backoff anew */
	svc->gone_pid = svc->pid;
	svc->pid = 0;
	svc->started_usec = 0;
	svc->kill_reason[0] = '\0'; /* in reason now; the hooks may start the next one */
	if (svc->state == SERVICE_STOPPING || svc->removed) {
		snprintf(svc->last_reason, sizeof(svc->last_reason), "%s", reason);
		if (svc->next_conf && service_take_conf(svc, svc->next_conf) == 0)
			svc->next_conf = NULL;
		if (svc->then_start && !s->shutting_down && !svc->removed) {
			service_start(svc); /* stopping -> starting */
		} else {
			service_set_state(svc, SERVICE_STOPPED, reason);
		}
	} else {
		instance_failed(svc, reason);
	}
	if (svc->removed) {
		unlink_leaving(s, svc);
		service_free(svc);
	}
}

static struct service *by_pid(struct supervisor *s, pid_t pid)
{
	for (struct service *svc = s->list; svc; svc = svc->next)
		if (svc->pid == pid)
			return svc;
	for (struct service *svc = s->leaving; svc; svc = svc->next)
		if (svc->pid == pid)
			return svc;
	return NULL;
}

static void on_sigchld(struct dispatch_source *src, short what)
{
	struct supervisor *s = (struct supervisor *)(void *)((char *)src -
							     offsetof(struct supervisor, sigchld));
	int status;
	pid_t pid;

	(void)what;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct service *svc = by_pid(s, pid);
		if (svc)
			reaped(svc, status);
	}
	if (s->shutting_down)
		shutdown_next(s);
}

/* ---------------------------------------------------------------- stopping */

/* SIGTERM to the instance's group, SIGKILL after stop_timeout. */
void service_begin_stop(struct service *svc, const char *why)
{
	switch (svc->state) {
	case SERVICE_STARTING:
	case SERVICE_RUNNING:
		kill_group(svc, SIGTERM);
		dispatch_source_del(&svc->timer);
		dispatch_source_add_usec(&svc->timer, svc->conf->stop_timeout_usec);
		service_set_state(svc, SERVICE_STOPPING, why);
		break;
	case SERVICE_BACKOFF:
		dispatch_source_del(&svc->timer);
		service_set_state(svc, SERVICE_STOPPED, why);
		break;
	default:
		break;
	}
}

void service_kill(struct service *svc, const char *why)
{
	if (!svc->pid || svc->state == SERVICE_STOPPING)
		return;
	log_warning("service %s: killing pid %d: %s", svc->conf->id, (int)svc->pid, why);
	snprintf(svc->kill_reason, sizeof(svc->kill_reason), "%s", why);
	kill_group(svc, SIGKILL);
}

int service_will_return(const struct service *svc)
{
	const struct supervisor *s = svc->sup;
	const struct service_conf *c = svc->conf;

	if (s->shutting_down || svc->op_stopped || svc->removed)
		return 0;
	switch (svc->state) {
	case SERVICE_BACKOFF:
		return 1;
	case SERVICE_STOPPING:
		return svc->then_start;
	case SERVICE_STARTING:
	case SERVICE_RUNNING: {
		if (c->restart == RESTART_NO)
			return 0;
		uint64_t now = dispatch_now_usec();
		unsigned n = 0;
		for (unsigned i = 0; i < svc->n_restart_usec; i++)
			n += now - svc->restart_usec[i] < c->period_usec;
		return n + 1 <= c->intensity;
	}
	default:
		return 0;
	}
}

int service_demand(struct service *svc, char *why, size_t len)
{
	struct supervisor *s = svc->sup;

	if (s->shutting_down) {
		snprintf(why, len, "busd is shutting down");
		return -1;
	}
	if (svc->removed) {
		snprintf(why, len, "its service file was removed");
		return -1;
	}
	if (svc->op_stopped) {
		snprintf(why, len, "stopped by an operator");
		return -1;
	}
	switch (svc->state) {
	case SERVICE_STOPPED: {
		/* Starts on demand count against restart_intensity too: calls
		 * cannot make busd fork a service that exits at once in a loop. */
		unsigned count;
		if (!intensity_allows(svc, dispatch_now_usec(), &count)) {
			snprintf(svc->last_reason, sizeof(svc->last_reason),
				 "failed: %u starts in %llu s", count,
				 (unsigned long long)(svc->conf->period_usec / USEC));
			log_error("service %s: started on demand %u times within %llu s, more than "
				  "restart_intensity allows; not starting it until an operator does",
				  svc->conf->id, count,
				  (unsigned long long)(svc->conf->period_usec / USEC));
			service_set_state(svc, SERVICE_FAILED, svc->last_reason);
			snprintf(why, len, "%s", svc->last_reason);
			return -1;
		}
		service_start(svc);
		if (svc->state == SERVICE_STARTING || svc->state == SERVICE_BACKOFF ||
		    svc->state == SERVICE_RUNNING)
			return 0;
		snprintf(why, len, "%s", svc->last_reason);
		return -1;
	}
	case SERVICE_FAILED:
		snprintf(why, len, "%s", svc->last_reason);
		return -1;
	case SERVICE_STOPPING:
		if (svc->then_start)
			return 0;
		snprintf(why, len, "it is being stopped");
		return -1;
	default:
		return 0;
	}
}

/* ---------------------------------------------------------------- the supervisor */

struct supervisor *supervisor_new(struct broker *b, const char *socket)
{
	struct supervisor *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->b = b;
	/* Each service holds two pipes, and a start three descriptors more for
	 * a moment: kept out of what peers may take (broker.c's budget). */
	unsigned reserve = 2u * SERVICE_FILES_MAX + 8u;
	if (b->fd_budget > 4u * reserve)
		b->fd_budget -= reserve;
	snprintf(s->address, sizeof(s->address), "BUS_ADDRESS=%s", socket);
	s->by_name = hash_new();
	s->by_id = hash_new();
	if (!s->by_name || !s->by_id ||
	    dispatch_source_init(&s->sigchld, &b->dispatch, SIGCHLD, EV_SIGNAL | EV_PERSIST,
				 on_sigchld) < 0 ||
	    dispatch_source_add(&s->sigchld, NULL) < 0) {
		supervisor_free(s);
		return NULL;
	}
	return s;
}

struct service *service_new(struct supervisor *s, struct service_conf *c)
{
	struct service *svc = calloc(1, sizeof(*svc));

	if (!svc)
		return NULL;
	svc->sup = s;
	svc->state = SERVICE_STOPPED;
	svc->old_state = SERVICE_STOPPED;
	svc->last_status = -1;
	svc->out[0].fd = svc->out[1].fd = -1;
	if (dispatch_source_init(&svc->timer, &s->b->dispatch, -1, 0, on_timer) < 0 ||
	    service_take_conf(svc, c) < 0) {
		dispatch_source_free(&svc->timer);
		free(svc);
		return NULL;
	}
	if (geteuid() != 0 && (c->user[0] || c->group[0]))
		log_notice("service %s: user = and group = are not applied (busd does not run "
			   "as root): it runs as busd's user", c->id);
	return svc;
}

void supervisor_boot(struct supervisor *s)
{
	if (!s || s->booted)
		return;
	s->booted = 1;
	for (struct service *svc = s->list; svc; svc = svc->next)
		if (!svc->conf->on_demand && svc->state == SERVICE_STOPPED)
			service_start(svc);
}

/* One service at a time, the last started first: each one's clients may
 * still need the ones started before it while they stop. */
static void shutdown_next(struct supervisor *s)
{
	struct service *last = NULL;

	for (struct service *svc = s->list; svc; svc = svc->next) {
		if (svc->state == SERVICE_BACKOFF)
			service_begin_stop(svc, "busd is stopping");
		if (svc->pid && svc->state == SERVICE_STOPPING)
			return; /* wait for it */
		if (svc->pid && (!last || svc->start_seq > last->start_seq))
			last = svc;
	}
	for (struct service *svc = s->leaving; svc; svc = svc->next)
		if (svc->pid)
			return;
	if (last) {
		service_begin_stop(last, "busd is stopping");
		return;
	}
	if (s->done) {
		void (*done)(void *) = s->done;
		s->done = NULL;
		done(s->done_arg);
	}
}

void supervisor_shutdown(struct supervisor *s, void (*done)(void *arg), void *arg)
{
	if (s->shutting_down)
		return;
	s->shutting_down = 1;
	s->done = done;
	s->done_arg = arg;
	log_notice("stopping the services");
	shutdown_next(s);
}

static void free_list(struct service *list)
{
	while (list) {
		struct service *svc = list;
		list = svc->next;
		if (svc->pid) { /* busd is going without having stopped it */
			kill_group(svc, SIGKILL);
			waitpid(svc->pid, NULL, 0);
		}
		service_free(svc);
	}
}

void supervisor_free(struct supervisor *s)
{
	if (!s)
		return;
	free_list(s->list);
	free_list(s->leaving);
	dispatch_source_free(&s->sigchld);
	hash_free(s->by_name, NULL);
	hash_free(s->by_id, NULL);
	free(s);
}
