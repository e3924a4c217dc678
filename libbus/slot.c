/* slot.c - bus_slot_t, the one handle that cancels what a program registered
 * (an async call, a control call's callback, a subscription, a name watch,
 * an export): reference-counted, detached when what it stands for is over,
 * and the last reference dropped cancels it in the module that owns it. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "bus-internal.h"

int slot_prepare(bus_t *bus, bus_slot_t **slotp, enum slot_kind kind, void *userdata,
		 bus_slot_t **out)
{
	*out = NULL;
	if (!slotp)
		return 0;
	*slotp = NULL;
	bus_slot_t *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->refs = 1;
	s->kind = kind;
	s->bus = bus;
	s->userdata = userdata;
	*out = s;
	return 0;
}

void slot_bind(bus_slot_t *s, bus_slot_t **slotp, void *target)
{
	if (!s)
		return;
	s->target = target;
	*slotp = s;
}

void slot_detach(bus_slot_t *s)
{
	if (!s)
		return;
	s->target = NULL;
	s->bus = NULL;
}

bus_slot_t *bus_slot_ref(bus_slot_t *slot)
{
	if (slot)
		slot->refs++;
	return slot;
}

/* Cancelling runs no callback of the program: a cancelled call or watch
 * goes silent, and the entries themselves are freed at once or, when a
 * dispatch walks them, right after it. */
static void slot_cancel(bus_slot_t *s)
{
	bus_t *bus = s->bus;
	void *target = s->target;

	slot_detach(s);
	switch (s->kind) {
	case SLOT_CALL:
		call_cancel(bus, target);
		break;
	case SLOT_CONTROL:
		control_mute(target);
		break;
	case SLOT_SUB:
		sub_cancel(bus, target);
		break;
	case SLOT_WATCH:
		watch_cancel(bus, target);
		break;
	case SLOT_EXPORT:
		serve_unexport(bus, target);
		break;
	}
}

bus_slot_t *bus_slot_unref(bus_slot_t *slot)
{
	if (!slot || --slot->refs > 0)
		return NULL;
	if (slot->target)
		slot_cancel(slot);
	free(slot);
	return NULL;
}

bus_t *bus_slot_get_bus(const bus_slot_t *slot)
{
	return slot ? slot->bus : NULL;
}

void *bus_slot_get_userdata(const bus_slot_t *slot)
{
	return slot ? slot->userdata : NULL;
}
