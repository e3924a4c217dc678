/* dispatch.c - one trampoline for every busd event: run the handler, then,
 * when the outermost handler returns, the owner's end-of-callback work. */
#include "config.h"

#include "dispatch.h"

#include <errno.h>
#include <stddef.h>
#include <time.h>

#include <event2/event.h>

static void trampoline(evutil_socket_t fd, short what, void *arg)
{
	struct dispatch_source *s = arg;
	struct dispatch *d = s->d;

	(void)fd;
	d->depth++;
	s->fn(s, what);
	if (--d->depth == 0 && d->after)
		d->after(d->after_arg);
}

void dispatch_init(struct dispatch *d, struct event_base *base, void (*after)(void *), void *arg)
{
	d->base = base;
	d->after = after;
	d->after_arg = arg;
	d->depth = 0;
}

int dispatch_source_init(struct dispatch_source *s, struct dispatch *d, int fd, short what,
			 dispatch_fn fn)
{
	s->d = d;
	s->fn = fn;
	s->ev = (what & EV_SIGNAL) ? evsignal_new(d->base, fd, trampoline, s)
				   : event_new(d->base, fd, what, trampoline, s);
	return s->ev ? 0 : -ENOMEM;
}

void dispatch_source_free(struct dispatch_source *s)
{
	if (s->ev)
		event_free(s->ev);
	s->ev = NULL;
}

int dispatch_source_add(struct dispatch_source *s, const struct timeval *tv)
{
	return event_add(s->ev, tv) < 0 ? -ENOMEM : 0;
}

int dispatch_source_add_usec(struct dispatch_source *s, uint64_t usec)
{
	struct timeval tv = { (time_t)(usec / 1000000u), (suseconds_t)(usec % 1000000u) };
	return dispatch_source_add(s, &tv);
}

void dispatch_source_del(struct dispatch_source *s)
{
	if (s->ev)
		event_del(s->ev);
}

int dispatch_source_pending(const struct dispatch_source *s)
{
	return s->ev && event_pending(s->ev, EV_READ | EV_WRITE | EV_TIMEOUT | EV_SIGNAL, NULL);
}

void dispatch_source_activate(struct dispatch_source *s, short what)
{
	event_active(s->ev, what, 0);
}

uint64_t dispatch_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}
