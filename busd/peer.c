/* peer.c - a client's life on the bus: accepted and charged to its uid,
 * Hello within limits.hello_timeout_seconds, its frames handed to the
 * router, and its end, which releases everything it held in one place. */
#include "config.h"

#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus/errors.h"
#include "broker.h"
#include "control.h"
#include "log.h"
#include "quota.h"
#include "router.h"
#include "schema.h"

/* Before Hello a peer may send only frames this small: Hello needs no more,
 * and nobody unknown makes busd buffer megabytes. */
#define HELLO_MAX_FRAME 4096u

static void on_hello_timeout(struct dispatch_source *s, short what);

struct peer *peer_new(struct broker *b, int fd)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->broker = b;
	p->state = PEER_HELLO;
	p->id = ++b->next_id;
	p->unique_len = (size_t)snprintf(p->unique, sizeof(p->unique), ":%llu",
					 (unsigned long long)p->id);
	if (connection_init(&p->conn, &b->transport, fd, HELLO_MAX_FRAME) < 0) {
		free(p);
		return NULL;
	}
	p->user = charge_user_get(&b->ledger, p->conn.uid);
	if (!p->user || connection_start(&p->conn, &p->acct, p->user) < 0 ||
	    dispatch_source_init(&p->hello_timer, &b->dispatch, -1, 0, on_hello_timeout) < 0 ||
	    dispatch_source_add_usec(&p->hello_timer, b->hello_timeout_usec) < 0 ||
	    hash_put(b->peers, p->unique, p->unique_len, p) < 0) {
		p->conn.fd = -1; /* the caller closes fd */
		p->state = PEER_DEAD;
		peer_free(p);
		return NULL;
	}
	p->next = b->all;
	if (b->all)
		b->all->prev = p;
	b->all = p;
	b->n_peers++;
	b->n_conns++;
	p->counted = 1;
	if (b->n_peers > b->peers_peak)
		b->peers_peak = b->n_peers;
	return p;
}

void peer_activate(struct peer *p)
{
	p->state = PEER_ACTIVE;
	dispatch_source_free(&p->hello_timer);
	connection_set_max_frame(&p->conn, p->broker->max_frame - WIRE_STAMP_ROOM);
}

static void on_hello_timeout(struct dispatch_source *s, short what)
{
	struct peer *p = (struct peer *)(void *)((char *)s - offsetof(struct peer, hello_timer));

	(void)what;
	if (p->state != PEER_HELLO)
		return;
	peer_log(p, LOG_NOTICE, "closed: no Hello within %llu s (limits.hello_timeout_seconds)",
			(unsigned long long)(p->broker->hello_timeout_usec / 1000000u));
	peer_disconnect(p, "no Hello in time");
}

int peer_send(struct peer *p, struct frame *f)
{
	struct broker *b = p->broker;

	if (p->state >= PEER_CLOSING)
		return -EPIPE;
	int r = connection_queue(&p->conn, f);
	if (r < 0)
		return r;
	b->stats.frames_out++;
	b->stats.bytes_out += frame_size(f);
	/* What may be queued, and who is held, is quota.c's business. */
	quota_queued(p);
	return 0;
}

static void release_name(const char *name, void *owner, void *userdata)
{
	struct peer *p = owner;

	(void)userdata;
	control_name_changed(p->broker, name, p, NULL);
}

void peer_disconnect(struct peer *p, const char *why)
{
	struct broker *b = p->broker;

	if (p->state >= PEER_CLOSING)
		return;
	log_debug(PEER_FMT ": %s", PEER_ARGS(p), why);
	enum peer_state was = p->state;
	p->state = PEER_CLOSING;
	dispatch_source_free(&p->hello_timer);

	/* Unlink first, so that nothing emitted below is delivered to p. */
	hash_remove(b->peers, p->unique, p->unique_len);
	if (p->prev)
		p->prev->next = p->next;
	else
		b->all = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	b->n_peers--;
	if (was == PEER_MONITOR) {
		for (struct peer **pp = &b->monitors; *pp; pp = &(*pp)->mon_next)
			if (*pp == p) {
				*pp = p->mon_next;
				break;
			}
		b->n_monitors--;
	}

	/* Everything it held, each released with its charge. */
	quota_peer_gone(p);
	match_remove_owner(b->match, p);
	schema_peer_gone(b->schemas, p);
	router_drop_calls(p);
	name_release_all(b->names, p, release_name, NULL);
	/* On the closing list until its connection is gone. */
	p->next = b->closing;
	if (b->closing)
		b->closing->prev = p;
	b->closing = p;
	connection_close(&p->conn);
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	if (p->counted)
		p->broker->n_conns--;
	dispatch_source_free(&p->hello_timer);
	connection_fini(&p->conn);
	charge_release(&p->conn_charge);
	charge_user_put(p->user);
	free(p);
}

/* ---------------------------------------------------------------- from below */

static void on_frame(struct connection *c, struct frame *f)
{
	struct peer *p = peer_of(c);
	struct broker *b = p->broker;

	b->stats.frames_in++;
	b->stats.bytes_in += WIRE_PREAMBLE_SIZE + (size_t)f->pre.header_len + f->pre.body_len;
	router_frame(p, f);
	/* Not reading its answers: take no more requests from it. */
	if (p->congested && !p->held_on && p->state <= PEER_MONITOR)
		quota_hold(p, p);
}

static void on_broken(struct connection *c, int result, const wire_preamble *pre)
{
	struct peer *p = peer_of(c);

	switch (result) {
	case WIRE_E_VERSION:
		router_reject(p, 0, BUS_ERROR_VERSION_MISMATCH,
			      "frame version %u is not supported (busd speaks version %u)",
			      pre->version, WIRE_VERSION);
		break;
	case WIRE_E_FRAME_SIZE:
		router_reject(p, 0, BUS_ERROR_FRAME_TOO_LARGE,
			      "frame of %llu bytes is above the maximum of %u bytes%s",
			      (unsigned long long)WIRE_PREAMBLE_SIZE + pre->header_len + pre->body_len,
			      c->max_frame, p->state == PEER_HELLO ? " before Hello" : "");
		break;
	case WIRE_E_HEADER_SIZE:
		router_reject(p, 0, BUS_ERROR_INVALID_FRAME,
			      "header length %u is out of range (1 to %u bytes)", pre->header_len,
			      WIRE_MAX_PEER_HEADER);
		break;
	case CONN_E_FDS:
		router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "%s", c->why);
		break;
	default:
		router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "%s", wire_strerror(result));
		break;
	}
}

static void on_ended(struct connection *c, enum connection_end why, int err)
{
	struct peer *p = peer_of(c);

	switch (why) {
	case CONN_END_EOF:
		peer_disconnect(p, "disconnected");
		break;
	case CONN_END_ERROR:
		log_debug(PEER_FMT ": socket: %s", PEER_ARGS(p), strerror(err));
		peer_disconnect(p, "socket error");
		break;
	case CONN_END_NOMEM:
		peer_log(p, LOG_WARNING, "disconnected: out of memory for a frame it sent");
		peer_disconnect(p, "out of memory");
		break;
	case CONN_END_TIMEOUT:
		p->broker->stats.protocol_errors++;
		peer_log(p, LOG_NOTICE, "disconnected: a frame it started did not finish within "
				"%llu s (limits.frame_timeout_seconds)",
				(unsigned long long)(p->broker->transport.frame_timeout_usec / 1000000u));
		router_send_error(p, 0, BUS_ERROR_LIMITS_EXCEEDED, "a frame did not finish within %llu s",
				   (unsigned long long)(p->broker->transport.frame_timeout_usec / 1000000u));
		peer_disconnect(p, "frame timeout");
		break;
	}
}

static void on_written(struct connection *c)
{
	struct peer *p = peer_of(c);

	if (p->congested)
		quota_drained(p);
}

static void on_gone(struct connection *c)
{
	struct peer *p = peer_of(c);
	struct broker *b = p->broker;

	if (p->prev)
		p->prev->next = p->next;
	else
		b->closing = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->state = PEER_DEAD;
	p->dead_next = p->broker->graveyard;
	p->broker->graveyard = p;
}

const struct connection_ops peer_connection_ops = {
	.frame = on_frame,
	.broken = on_broken,
	.ended = on_ended,
	.written = on_written,
	.gone = on_gone,
};
