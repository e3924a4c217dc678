/* control.h - the broker's control service, bus.Bus on the name "bus"
 * (proto/bus.proto): Hello, names, subscriptions, listing, stats, monitor. */
#ifndef BUSD_CONTROL_H
#define BUSD_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct peer;
struct broker;

struct frame;

/* Serve a CALL addressed to "bus". A peer in PEER_HELLO state may only call
 * Hello (router.c enforces it). A call sent with NO_REPLY_EXPECTED gets no
 * answer, not even an error. A request larger than busd unpacks (4 KiB;
 * AddSchema: limits.max_schema_bytes + 4 KiB) is refused with
 * bus.Error.LimitsExceeded before it is looked at. */
void control_call(struct peer *p, const struct frame *f);
/* Announce a change of a name's owner (either side may be NULL). */
void control_name_changed(struct broker *b, const char *name, const struct peer *old_owner,
			  const struct peer *new_owner);

#endif
