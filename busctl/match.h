/* match.h - the --match filters of monitor and capture: each --match is a
 * comma-separated list of KEY=VALUE terms that must all hold; a frame shown
 * is one that satisfies any of the --match options (none: every frame).
 * Values are checked when the option is read. A well-known name given as
 * sender (or destination) stands for whoever owns it at the time of the
 * frame, followed through the bus.NameOwnerChanged events in the stream. */
#ifndef BUSCTL_MATCH_H
#define BUSCTL_MATCH_H

#include <stddef.h>

#include "busctl.h"

#define MATCH_MAX_SPECS 8   /* --match options */
#define MATCH_MAX_TERMS 8   /* KEY=VALUE terms in one of them */
#define MATCH_MAX_NAMES 16  /* well-known names followed */

struct matcher;

struct matcher *matcher_new(void);
void matcher_free(struct matcher *mt);
/* Add one --match SPEC: 0, or -1 with why (one line) when it is not valid;
 * -ENOMEM without memory. */
int matcher_add(struct matcher *mt, const char *spec, char *why, size_t len);
/* 1 if m satisfies some --match (or there is none). */
int matcher_test(const struct matcher *mt, const bus_msg_t *m);
/* The number of well-known names whose owner the filters follow. */
int matcher_n_names(const struct matcher *mt);
/* Every frame seen, before matcher_test: a bus.NameOwnerChanged event from
 * busd updates the owners followed. */
void matcher_note(struct matcher *mt, const bus_msg_t *m);
/* Ask busd (through query, a connection that is not a monitor) who owns
 * each name followed now; call after the monitor is in place, so that no
 * change is missed between the two. Owners unknown until then (or after
 * matcher_forget) match nothing. Returns 0, or -1 with err. */
int matcher_resolve(struct matcher *mt, bus_t *query, struct busctl *ctl, bus_error_t *err);
/* The connection to busd was lost: owners are unknown until told again. */
void matcher_forget(struct matcher *mt);

#endif
