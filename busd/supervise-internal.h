/* supervise-internal.h - what supervise.c (the state machine, the
 * children) and supervise-ops.c (operators, SIGHUP) share: the records of
 * the supervisor and its services, and the transitions both use. Not for
 * the rest of busd, which goes through supervise.h. */
#ifndef BUSD_SUPERVISE_INTERNAL_H
#define BUSD_SUPERVISE_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

#include "dispatch.h"
#include "hash.h"
#include "service-conf.h"
#include "spawn.h"
#include "supervise.h"

#define USEC 1000000u

struct service {
	struct supervisor *sup;
	struct service_conf *conf;
	struct service *next;        /* sup->list, in id order */
	enum service_state state, old_state;
	pid_t pid;                   /* the child (and its process group), 0: none */
	pid_t gone_pid;              /* the last child, for the events of its end */
	uint64_t started_usec;
	uint64_t start_seq;          /* order of starts, for the reverse-order stop */
	unsigned restarts;
	int last_status, last_signal;
	char last_reason[256];
	char kill_reason[256];       /* why busd ended the instance: its death's reason */
	struct peer *peer;           /* the instance's connection, once it owns every name */
	int op_stopped;              /* stopped by an operator: no restart, no activation */
	int then_start;              /* start again once STOPPING ends */
	int removed;                 /* gone from the files: freed once stopped */
	int fresh;                   /* added by a reload: started if boot */
	struct service_conf *next_conf; /* a changed file, applied once stopped */
	uint64_t *restart_usec;      /* times of the recent restarts (intensity window) */
	unsigned n_restart_usec;
	unsigned consecutive;        /* deaths in a row without a long run: the backoff */
	struct dispatch_source timer; /* start_timeout, backoff, stop_timeout */
	struct output out[2];
	struct output_budget budget;
};

struct supervisor {
	struct broker *b;
	char address[128];           /* BUS_ADDRESS=... for the children */
	hash *by_name, *by_id;
	struct service *list;        /* the declared services */
	struct service *leaving;     /* removed from the files, still stopping */
	struct dispatch_source sigchld;
	uint64_t seq;
	int booted;
	int shutting_down;
	void (*done)(void *arg);
	void *done_arg;
};

/* The one transition: sets the state and calls supervise_changed(). */
void service_set_state(struct service *svc, enum service_state state, const char *reason);
/* Start an instance now (STARTING, or BACKOFF when none could be made). */
void service_start(struct service *svc);
/* SIGTERM to a STARTING or RUNNING instance (STOPPING, SIGKILL after its
 * stop_timeout); a BACKOFF service goes STOPPED. */
void service_begin_stop(struct service *svc, const char *why);
/* A fresh restart count, intensity window and backoff. */
void service_forget_restarts(struct service *svc);
/* Take c as svc's declaration (the old one is freed); 0 or -ENOMEM. */
int service_take_conf(struct service *svc, struct service_conf *c);
struct service *service_new(struct supervisor *s, struct service_conf *c);
void service_free(struct service *svc);
/* By id, else by a declared name. */
struct service *supervisor_find(struct supervisor *s, const char *which);

#endif
