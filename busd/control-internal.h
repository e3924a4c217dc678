/* control-internal.h - what the files of bus.Bus (control.c and
 * control-services.c) share: the call being answered and how to answer it. */
#ifndef BUSD_CONTROL_INTERNAL_H
#define BUSD_CONTROL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "peer.h"
#include "supervise.h"
#include "wire.h"

/* A call to busd's own methods. */
struct ctl {
	struct peer *p;
	const wire_header *h;
	const uint8_t *body;
	size_t len;
	int quiet; /* NO_REPLY_EXPECTED: neither reply nor error */
};

/* Answer msg, unless the caller wants no answer. */
void ctl_reply(struct ctl *c, const ProtobufCMessage *msg);
/* Answer the error name with a message, unless the caller wants none. */
void ctl_fail(struct ctl *c, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Unpack the request or answer bus.Error.InvalidArgs (Failed when busd is
 * out of memory: the request was not at fault); NULL then. */
ProtobufCMessage *ctl_request(struct ctl *c, const ProtobufCMessageDescriptor *d);

/* ListServices. */
void control_list_services(struct ctl *c);
typedef int (*manage_fn)(struct supervisor *s, const char *which, char *why, size_t len);
/* StartService, StopService, RestartService: verb "start", "stop" or
 * "restart" and the supervisor's action. */
void control_manage(struct ctl *c, const char *verb, manage_fn act);

#endif
