/* chatter.h - what monitor leaves out unless --all: the broker queries of
 * other busctl processes (their Hello, ListNames, GetNameOwner, Stats,
 * GetSchema and Introspect calls to busd, and busd's answers to them). A
 * connection counts as busctl's when its Hello says so (libbus puts the
 * program's name in HelloRequest.client). That is the peer's own word, so
 * nothing else it does is ever left out: its calls to services, its events,
 * and its requests that change the bus (names, subscriptions, schemas,
 * exports, becoming a monitor) are always shown. */
#ifndef BUSCTL_CHATTER_H
#define BUSCTL_CHATTER_H

#include "busctl.h"

struct chatter;

/* program: this busctl's own name, as its Hello gives it. */
struct chatter *chatter_new(const char *program);
void chatter_free(struct chatter *c);
/* A connection known to be busctl's without seeing its Hello (the
 * monitor's own second connection). */
void chatter_add_tool(struct chatter *c, const char *unique);
/* Every frame, in order: 1 if it is left out (and counted). */
int chatter_hide(struct chatter *c, const bus_msg_t *m);
/* busd went away: the ids a new one hands out mean other connections. */
void chatter_forget(struct chatter *c);
/* Frames left out so far. */
unsigned long chatter_hidden(const struct chatter *c);

#endif
