/* dispatch.h - every libevent callback of busd goes through here: the
 * source's handler runs, then the end-of-callback work the loop's owner
 * registered (busd writes what routing queued and frees dead peers), once
 * per callback however deep the handlers nested. No handler can forget it:
 * an event that is not a dispatch source does not exist in busd. */
#ifndef BUSD_DISPATCH_H
#define BUSD_DISPATCH_H

#include <stdint.h>

struct event;
struct event_base;
struct timeval;

struct dispatch {
	struct event_base *base;
	void (*after)(void *arg); /* end-of-callback work */
	void *after_arg;
	unsigned depth;           /* handlers on the stack */
};

struct dispatch_source;
typedef void (*dispatch_fn)(struct dispatch_source *src, short what);

/* A libevent event whose callback is fn followed by the after work. It is
 * meant to be embedded in its owner (container_of recovers the owner). */
struct dispatch_source {
	struct event *ev;
	struct dispatch *d;
	dispatch_fn fn;
};

void dispatch_init(struct dispatch *d, struct event_base *base, void (*after)(void *), void *arg);
/* Create the event: fd -1 for a timer, what as for event_new() (EV_READ,
 * EV_WRITE, EV_SIGNAL, EV_PERSIST). Returns 0 or -ENOMEM. */
int dispatch_source_init(struct dispatch_source *s, struct dispatch *d, int fd, short what,
			 dispatch_fn fn);
void dispatch_source_free(struct dispatch_source *s);
/* Arm (tv NULL: no timeout) and disarm; 0 or a negative errno. */
int dispatch_source_add(struct dispatch_source *s, const struct timeval *tv);
void dispatch_source_del(struct dispatch_source *s);
int dispatch_source_pending(const struct dispatch_source *s);
/* Make the source's callback run from the loop soon, as if what happened. */
void dispatch_source_activate(struct dispatch_source *s, short what);
/* Arm a timer source to fire after usec microseconds. */
int dispatch_source_add_usec(struct dispatch_source *s, uint64_t usec);

/* CLOCK_MONOTONIC microseconds. */
uint64_t dispatch_now_usec(void);

#endif
