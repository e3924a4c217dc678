/* supervise.h - busd's declared services (service-conf.h) as processes:
 * started at boot or on demand, watched through SIGCHLD, their output
 * logged line by line, restarted by policy (OTP-style intensity, doubling
 * backoff), stopped in reverse start order when busd stops, re-read on
 * SIGHUP, and managed by operators. Every change of state is logged and
 * emitted as bus.ServiceStateChanged. */
#ifndef BUSD_SUPERVISE_H
#define BUSD_SUPERVISE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct broker;
struct peer;
struct service_set;

struct supervisor;            /* one per broker: b->supervisor (NULL when no services) */
struct service;               /* one declared service */

enum service_state { SERVICE_STOPPED = 1, SERVICE_STARTING, SERVICE_RUNNING, SERVICE_BACKOFF,
		     SERVICE_STOPPING, SERVICE_FAILED };  /* same numbers as bus.proto's ServiceState */
const char *service_state_name(enum service_state s);  /* "stopped", "starting", ... */

struct service_status {
	const char *id;               /* "echo" */
	enum service_state state;
	pid_t pid;                    /* 0 when none */
	uint64_t started_usec;        /* dispatch_now_usec() when the instance started, 0 none */
	unsigned restarts;
	int last_status;              /* exit status, -1 when none / killed */
	int last_signal;              /* 0 when none */
	const char *last_reason;      /* "exited with status 1", "killed by signal 9",
	                                 "did not own org.x within 10 s", "" when none */
	char *const *names; size_t n_names;
	int on_demand;
	uint64_t watchdog_usec;       /* 0: none */
	unsigned max_resends;         /* (B may add fields it needs) */
	struct peer *peer;            /* the running instance's connection, NULL until it owns
	                                 a declared name */
	enum service_state old_state; /* the state before the last change (a start attempt
	                                 failed: old_state STARTING, state not RUNNING) */
};

/* The service declaring well-known name (len bytes), or NULL. O(1) (a keyed hash). */
struct service *supervisor_lookup(struct supervisor *s, const char *name, size_t len);
void service_status(const struct service *svc, struct service_status *st);
/* A call wants svc's name and nobody owns it: start svc if it is stopped (activation; also a
 * boot service with restart = no that exited). Returns 0 when an instance is coming (starting,
 * backoff, running without the name yet), so the call may be held; -1 with why ("failed: 6
 * restarts in 10 s", "stopped by an operator") when none will come. */
int service_demand(struct service *svc, char *why, size_t len);
/* The instance of svc died or is about to be replaced: will busd start another one by itself
 * (restart policy, intensity not used up, not being stopped)? Used when a peer that is a
 * service's instance disconnects, before or after its SIGCHLD. */
int service_will_return(const struct service *svc);
/* The service whose running instance is peer p (matched by the peer's pid = the child's pid,
 * recorded when p connects or owns a declared name), or NULL. */
struct service *supervisor_service_of_peer(struct supervisor *s, const struct peer *p);
/* Kill svc's instance (SIGKILL to its process group) because of why (logged); it is then
 * restarted by its policy. For the watchdog. */
void service_kill(struct service *svc, const char *why);
/* Operator actions (id or a declared name): 0, or -ENOENT (no such service) / -EALREADY
 * (already started / stopped) / -ESHUTDOWN (busd is stopping); why says it in words.
 * A stop is remembered: no restart, no start on demand, until a start or restart. */
int supervisor_start(struct supervisor *s, const char *which, char *why, size_t len);
int supervisor_stop(struct supervisor *s, const char *which, char *why, size_t len);
int supervisor_restart(struct supervisor *s, const char *which, char *why, size_t len);
void supervisor_each(struct supervisor *s, void (*fn)(struct service *svc, void *ud), void *ud);

/* ---------------------------------------------------------------- for busd's main and control */

/* A supervisor for b's services; the children get BUS_ADDRESS=socket.
 * NULL when out of memory. */
struct supervisor *supervisor_new(struct broker *b, const char *socket);
/* Take the services of set (its entries move into the supervisor, set is
 * left empty): at start, and on SIGHUP, where a changed service is
 * restarted, a removed one stopped (and forgotten), a new boot one started.
 * At start, boot services start when supervisor_boot() is called. */
void supervisor_apply(struct supervisor *s, struct service_set *set);
/* Start the boot services (once the socket listens). */
void supervisor_boot(struct supervisor *s);
/* busd is stopping: stop every service in reverse start order (SIGTERM,
 * SIGKILL after its stop_timeout), none is started again; done(arg) runs
 * once every child is reaped (at once when there is none). */
void supervisor_shutdown(struct supervisor *s, void (*done)(void *arg), void *arg);
void supervisor_free(struct supervisor *s);
/* control.c: the owner of a well-known name changed (the hook that tells
 * STARTING from RUNNING, and forgets an instance's peer). */
void supervisor_name_changed(struct supervisor *s, const char *name,
			     const struct peer *old_owner, const struct peer *new_owner);

/* The one place a service changes state: logs it, emits
 * bus.ServiceStateChanged, and tells the held calls and the watchdog. */
void supervise_changed(struct service *svc, enum service_state old, const char *reason);

#endif
