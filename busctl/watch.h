/* watch.h - the frame printer shared by monitor/listen (watch.c) and
 * decode (capture.c): table or JSON lines, bodies decoded through the
 * schemas on the bus, reply latency. */
#ifndef BUSCTL_WATCH_H
#define BUSCTL_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include "busctl.h"

struct printer;

/* Bodies larger than this are not decoded by default: their size, type and
 * first bytes are shown instead (monitor --max-body changes it). */
#define PRINTER_MAX_BODY (64u * 1024u)

/* query: a connection to fetch schemas with (NULL: bodies stay hex, as with
 * raw). */
struct printer *printer_new(struct busctl *ctl, bus_t *query, int raw);
void printer_free(struct printer *pr);
/* Decode bodies of at most max bytes (0: any size). */
void printer_set_max_body(struct printer *pr, size_t max);
/* listen's lines: time, sender, topic, type, size, body. */
void printer_events_only(struct printer *pr);
/* A name changed owner: types no schema described may be described now
 * (a frame that says so, bus.NameOwnerChanged, tells the printer too). */
void printer_bus_changed(struct printer *pr);
/* One frame seen at usec (CLOCK_REALTIME microseconds). */
void printer_frame(struct printer *pr, const bus_msg_t *m, uint64_t usec);
/* A frame not printed: its call still counts for a reply's latency. */
void printer_note(struct printer *pr, const bus_msg_t *m, uint64_t usec);
/* 1 if m satisfies one of the --match specs (or there are none); a spec
 * that does not parse matches nothing. No owner is followed (match.h
 * does that for monitor): a well-known name as sender matches nothing. */
int watch_matches(const char *const *match, int n, const bus_msg_t *m);

#endif
