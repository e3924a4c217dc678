/* error.c - bus_error_t: a dotted error name and a message in fixed-size
 * fields, so that reporting an error never allocates (and never fails). */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "bus-internal.h"

void error_setv(bus_error_t *e, const char *name, const char *fmt, va_list ap)
{
	if (!e)
		return;
	snprintf(e->name, sizeof(e->name), "%s", name && *name ? name : BUS_ERROR_FAILED);
	if (fmt)
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
	else
		e->message[0] = 0;
}

void bus_error_set(bus_error_t *e, const char *name, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	error_setv(e, name, fmt, ap);
	va_end(ap);
}

void bus_error_clear(bus_error_t *e)
{
	if (e) {
		e->name[0] = 0;
		e->message[0] = 0;
	}
}

int bus_error_is_set(const bus_error_t *e)
{
	return e && e->name[0] != 0;
}

int bus_error_has_name(const bus_error_t *e, const char *name)
{
	return e && name && e->name[0] && strcmp(e->name, name) == 0;
}

void error_from_msg(bus_error_t *e, const bus_msg_t *m)
{
	bus_error_set(e, m->error_name, "%s", m->error_message);
}
