/* watchdog.h - busd pings the services declared with watchdog_seconds
 * (bus.Peer.Ping, which libbus answers from its loop): a RUNNING service's
 * instance that leaves a ping unanswered for a whole period is killed, and
 * its supervisor restarts it by its policy. At most one ping per service is
 * in flight, so the watchdog holds nothing a peer can make grow. */
#ifndef BUSD_WATCHDOG_H
#define BUSD_WATCHDOG_H

#include <stdint.h>

struct broker;
struct peer;
struct service;

/* svc changed state (supervise_changed): arm its ping timer when it is
 * RUNNING with a watchdog period, else disarm it and forget its ping. */
void watchdog_service_changed(struct broker *b, struct service *svc);
/* p sent a REPLY (reply set) or ERROR to "bus" answering serial: 1 when it
 * answers the ping busd sent p (taken), 0 when no ping of busd's waits for
 * it (the router drops it). Any answer counts: the peer's loop turned. */
int watchdog_answer(struct peer *p, uint64_t serial, int reply);
/* Forget every service's watchdog (busd stops). */
void watchdog_free_all(struct broker *b);

#endif
