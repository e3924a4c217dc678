/* connection-internal.h - what the files of a connection share:
 * connection.c (the transport, a connection's setup, what it holds, its
 * close), connection-read.c (input) and connection-write.c (output). Not
 * for the rest of busd, which goes through connection.h. */
#ifndef BUSD_CONNECTION_INTERNAL_H
#define BUSD_CONNECTION_INTERNAL_H

#include <stddef.h>

#include "connection.h"

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Each read asks for up to READ_CHUNK bytes (more when a large frame is
 * being received straight into its buffer); one peer gets at most
 * READ_BUDGET bytes per wake-up before the others run. */
#define READ_CHUNK (64u * 1024u)
#define READ_BUDGET (1024u * 1024u)

/* The dispatch sources' handlers: readable, writable; and the wake-up when
 * the user's input budget has room again. */
void connection_on_read(struct dispatch_source *s, short what);
void connection_on_write(struct dispatch_source *s, short what);
void connection_on_input_budget(struct charge_waiter *w);

/* Tell the layer above that c ended from below (once, while open). */
void connection_ended(struct connection *c, enum connection_end why, int err);
/* Put c on the transport's list of connections with output to write. */
void connection_mark_dirty(struct connection *c);
/* A queued frame leaves: its descriptors and body are no longer c's. */
void connection_uncharge(struct connection *c, const struct frame *f);
/* Closed: the socket, the output dropped, ops->gone. */
void connection_finish_close(struct connection *c);

#endif
