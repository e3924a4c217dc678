/* bridge.h - busbridge's state, shared by its modules: link.c (the NATS
 * connection and the hand-over of its messages to the loop), calls.c
 * (names exported and imported), events.c (topics), schemas.c (schemas of
 * exported names, uploaded where they are imported). Everything runs on
 * the one libevent loop thread; cnats's threads only queue (link.c). */
#ifndef BUSBRIDGE_BRIDGE_H
#define BUSBRIDGE_BRIDGE_H

#include <pthread.h>
#include <stdint.h>

#include <event2/event.h>
#include <nats/nats.h>
#include <bus/bus.h>

#include "conf.h"

#define PROG "busbridge"

/* The NATS headers a call, a reply and an event carry (docs/bridge.md). */
#define HDR_INTERFACE "Busd-Interface"
#define HDR_MEMBER "Busd-Member"
#define HDR_BODY_TYPE "Busd-Body-Type"
#define HDR_ERROR "Busd-Error"
#define HDR_ERROR_MESSAGE "Busd-Error-Message"
#define HDR_SENDER "Busd-Sender"     /* the caller's unique id on its bus */
#define HDR_NODE "Busd-Node"         /* the bridge that sent it */
#define HDR_ORIGIN "Busd-Origin"     /* an event's bus of origin (bus_id) */
#define HDR_SERVICES "Busd-Services" /* a schema's services, comma-separated */

/* The error of a call the cluster could not carry. */
#define BRIDGE_ERROR_UNAVAILABLE "busbridge.Error.Unavailable"

/* Every bridge owns PREFIX.BUS_ID.NODE on its bus, by which the bridges
 * on one bus know each other and each other's events. */
#define BRIDGE_NAME_PREFIX "org.busd.Bridge."

/* Most connection changes queued from cnats's threads to the loop. */
#define LINK_QUEUE_MAX 1024

struct bridge;
typedef void (*route_fn)(struct bridge *b, natsMsg *msg, void *arg);

/* What a NATS subscription hands its messages to. Every subscription is
 * synchronous, read on the loop thread after each read of the socket
 * (link.c). A route with `replies` set is a request's reply subscription:
 * its function gets msg NULL for the server's "no responders", which
 * cnats reports as a status, without the message. */
struct route {
	struct bridge *b;
	route_fn fn;
	void *arg;
	int replies;
	natsSubscription *sub;
	struct route *prev, *next; /* on b->routes */
};

/* A connection change, from cnats's threads to the loop. */
struct item {
	struct item *next;
	int kind; /* enum link_event */
};

enum link_event { LINK_DISCONNECTED = 1, LINK_RECONNECTED = 2, LINK_CLOSED = 3 };

struct outcall;
struct import;
struct export;
struct topic;
struct peer_bridge;

struct bridge {
	struct bridge_conf *conf;
	struct event_base *base;
	bus_t *bus;
	int stopping;
	/* link.c */
	natsConnection *nc;
	int nats_up;
	pthread_mutex_t lock;
	struct item *head, **tail;
	size_t queued, dropped;
	int wake[2];
	struct event *wake_ev;
	pthread_mutex_t ev_lock;         /* nats_rd, nats_wr: cnats's threads */
	natsConnection *nc_ev;           /* as cnats gave it to ev_attach */
	struct event *nats_rd, *nats_wr; /* cnats's socket on the loop */
	struct route *routes;            /* every subscription */
	struct route *walk, *walk_next;  /* take_sync's place in routes */
	int walk_gone;                   /* walk was unsubscribed */
	/* calls.c */
	char inbox[128]; /* the prefix of this bridge's reply subjects */
	uint64_t next_call_id;
	struct outcall *outcalls;
	struct import *imports;
	struct export *exports;
	/* events.c */
	struct topic *topics;
	struct peer_bridge *bridges; /* the other bridges on this bus */
	size_t n_bridges;
	uint64_t events_out, events_in;
};

/* link.c */
int link_connect(struct bridge *b);
void link_close(struct bridge *b);
/* 0, or -1 once the reason is logged; for a route with `replies`,
 * -(natsStatus), not logged: the request's caller is answered with it. */
int link_subscribe(struct bridge *b, natsSubscription **sub, const char *subject,
		   const char *queue, struct route *route);
void link_unsubscribe(struct bridge *b, natsSubscription **sub, struct route *route);
const char *link_header(natsMsg *msg, const char *key);
void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* calls.c */
int calls_start(struct bridge *b);
int calls_announce(struct bridge *b, const char *name, const char *service);
void calls_link_event(struct bridge *b, int kind);
void calls_stop(struct bridge *b);

/* schemas.c */
struct ProtobufCMessage;
/* A control call to busd (5 s timeout): the reply unpacked with rd (free it
 * with protobuf_c_message_free_unpacked()), or NULL with err set. */
ProtobufCMessage *bridge_control(struct bridge *b, const char *method, const ProtobufCMessage *req,
				 const ProtobufCMessageDescriptor *rd, bus_error_t *err);
void schema_serve(struct bridge *b, const char *name, natsMsg *req);
int schema_apply(struct bridge *b, const char *name, natsMsg *reply);

/* events.c */
int events_start(struct bridge *b);
void events_stop(struct bridge *b);

#endif
