/* peer.c - a client connection: accept-time credentials, batched reads that
 * hand every complete frame to the router, queued output, and teardown. */
#include "config.h"

#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bus/errors.h"
#include "broker.h"
#include "control.h"
#include "quota.h"
#include "log.h"
#include "schema.h"

/* Per wake-up, read at most this much from one peer before letting others
 * run; each read asks for up to READ_CHUNK bytes. */
#define READ_CHUNK (64 * 1024)
#define READ_BUDGET (1024 * 1024)
#define LINGER_SECONDS 2

static void peer_on_read(evutil_socket_t fd, short what, void *arg);
static void peer_on_write(evutil_socket_t fd, short what, void *arg);
static void peer_on_linger(evutil_socket_t fd, short what, void *arg);

static void read_comm(struct peer *p)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)p->pid);
	strcpy(p->comm, "?");
	FILE *f = p->pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return;
	if (fgets(p->comm, sizeof(p->comm), f))
		p->comm[strcspn(p->comm, "\n")] = '\0';
	else
		strcpy(p->comm, "?");
	fclose(f);
}

/* The supplementary groups, as the kernel recorded them at connect(). */
static void read_groups(struct peer *p)
{
	socklen_t len = 16 * sizeof(gid_t);

	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = malloc(len);
		if (!g)
			return;
		socklen_t got = len;
		if (getsockopt(p->fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			p->groups = g;
			p->n_groups = got / sizeof(gid_t);
			return;
		}
		free(g);
		if (errno != ERANGE || got <= len)
			return; /* no groups known: only uid and gid count */
		len = got;
	}
}

struct peer *peer_new(struct broker *b, int fd)
{
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->broker = b;
	p->fd = fd;
	p->state = PEER_HELLO;
	p->id = ++b->next_id;
	p->unique_len = (size_t)snprintf(p->unique, sizeof(p->unique), ":%llu",
					 (unsigned long long)p->id);

	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		p->pid = cred.pid;
		p->uid = cred.uid;
		p->gid = cred.gid;
	} else {
		p->pid = 0;
		p->uid = p->gid = (uid_t)-1;
	}
	read_comm(p);
	read_groups(p);
	p->uu = quota_uid_get(b, p->uid);

	p->in = evbuffer_new();
	p->out = evbuffer_new();
	p->ev_read = event_new(b->base, fd, EV_READ | EV_PERSIST, peer_on_read, p);
	p->ev_write = event_new(b->base, fd, EV_WRITE | EV_PERSIST, peer_on_write, p);
	if (!p->uu || !p->in || !p->out || !p->ev_read || !p->ev_write ||
	    hash_put(b->peers, p->unique, p->unique_len, p) < 0) {
		p->fd = -1; /* the caller closes fd */
		peer_free(p);
		return NULL;
	}
	event_add(p->ev_read, NULL);
	p->next = b->all;
	if (b->all)
		b->all->prev = p;
	b->all = p;
	b->n_peers++;
	if (b->n_peers > b->peers_peak)
		b->peers_peak = b->n_peers;
	return p;
}

const char *peer_describe(const struct peer *p)
{
	static char buf[96];
	snprintf(buf, sizeof(buf), "peer %s (pid %d, %s)", p->unique, (int)p->pid, p->comm);
	return buf;
}

int peer_queue(struct peer *p, const void *head, size_t head_len, const void *body, size_t body_len)
{
	if (p->state >= PEER_CLOSING || p->overflowed)
		return -EPIPE;
	if (evbuffer_add(p->out, head, head_len) < 0 ||
	    (body_len && evbuffer_add(p->out, body, body_len) < 0))
		return -ENOMEM;
	p->broker->stats.frames_out++;
	p->broker->stats.bytes_out += head_len + body_len;
	p->uu->queued += head_len + body_len;
	broker_mark_dirty(p->broker, p);
	/* What may be queued, and who is held, is quota.c's business. */
	if (evbuffer_get_length(p->out) > p->broker->queue_hold || quota_uid_over(p))
		quota_queued(p);
	return 0;
}

int peer_flush(struct peer *p)
{
	int wrote = 0;

	if (p->fd < 0)
		return -EPIPE;
	while (evbuffer_get_length(p->out) > 0) {
		int n = evbuffer_write(p->out, p->fd);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -errno;
		}
		if (n == 0)
			break;
		p->uu->queued -= (uint64_t)n;
		wrote = 1;
	}
	if (wrote && p->congested)
		quota_drained(p);
	if (evbuffer_get_length(p->out) > 0)
		event_add(p->ev_write, NULL);
	else
		event_del(p->ev_write);
	return 0;
}

/* Process every complete frame in p->in. */
static void peer_process(struct peer *p)
{
	struct broker *b = p->broker;

	while (p->state <= PEER_MONITOR && !p->held_on) {
		size_t avail = evbuffer_get_length(p->in);
		uint8_t pre[WIRE_PREAMBLE_SIZE];
		wire_preamble wp;

		if (avail == 0)
			return;
		size_t got = avail < sizeof(pre) ? avail : sizeof(pre);
		evbuffer_copyout(p->in, pre, got);
		int r = wire_preamble_decode(pre, got, b->max_frame, &wp);
		switch (r) {
		case WIRE_OK:
			break;
		case WIRE_E_SHORT:
			return;
		case WIRE_E_VERSION:
			router_reject(p, 0, BUS_ERROR_VERSION_MISMATCH,
				      "frame version %u is not supported (busd speaks version %u)",
				      wp.version, WIRE_VERSION);
			return;
		case WIRE_E_FRAME_SIZE:
			router_reject(p, 0, BUS_ERROR_FRAME_TOO_LARGE,
				      "frame of %llu bytes is above the maximum of %u bytes",
				      (unsigned long long)WIRE_PREAMBLE_SIZE + wp.header_len + wp.body_len,
				      b->max_frame);
			return;
		default:
			router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "%s", wire_strerror(r));
			return;
		}
		size_t total = WIRE_PREAMBLE_SIZE + (size_t)wp.header_len + wp.body_len;
		if (avail < total)
			return;
		const uint8_t *f = evbuffer_pullup(p->in, (ssize_t)total);
		if (!f) {
			router_reject(p, 0, BUS_ERROR_INVALID_FRAME, "out of memory for the frame");
			return;
		}
		b->stats.frames_in++;
		b->stats.bytes_in += total;
		router_frame(p, &wp, f);
		evbuffer_drain(p->in, total);
		/* Not reading its answers: take no more requests from it. */
		if (p->congested && !p->held_on && p->state <= PEER_MONITOR)
			quota_hold(p, p);
	}
}

static void peer_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	struct broker *b = p->broker;
	size_t budget = READ_BUDGET;

	/* Let go after a hold (quota.c made this callback active): the frames
	 * left in the buffer come first. */
	if (p->resumed) {
		p->resumed = 0;
		peer_process(p);
	}
	while (p->state <= PEER_MONITOR && !p->held_on && budget > 0) {
		struct evbuffer_iovec vec[2];
		int nv = evbuffer_reserve_space(p->in, READ_CHUNK, vec, 2);
		if (nv < 0) {
			peer_disconnect(p, "out of memory");
			break;
		}
		ssize_t n = readv(fd, (struct iovec *)vec, nv);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			evbuffer_commit_space(p->in, vec, 0);
			break;
		}
		if (n <= 0) {
			evbuffer_commit_space(p->in, vec, 0);
			if (n < 0)
				log_debug("%s: read: %s", peer_describe(p), strerror(errno));
			peer_disconnect(p, n == 0 ? "disconnected" : "read error");
			break;
		}
		/* Commit exactly n bytes over the reserved vectors. */
		size_t left = (size_t)n;
		for (int i = 0; i < nv; i++) {
			if (vec[i].iov_len > left)
				vec[i].iov_len = left;
			left -= vec[i].iov_len;
		}
		evbuffer_commit_space(p->in, vec, nv);
		peer_process(p);
		budget -= (size_t)n < budget ? (size_t)n : budget;
		if ((size_t)n < READ_CHUNK)
			break; /* the socket is drained */
	}
	broker_after(b);
}

static void peer_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	if (peer_flush(p) < 0) {
		if (p->state == PEER_CLOSING)
			peer_destroy(p);
		else
			peer_disconnect(p, "write error");
	} else if (p->state == PEER_CLOSING && evbuffer_get_length(p->out) == 0) {
		peer_destroy(p);
	}
	broker_after(p->broker);
}

static void peer_on_linger(evutil_socket_t fd, short what, void *arg)
{
	struct peer *p = arg;
	log_debug("%s: could not flush its last output in time", peer_describe(p));
	peer_destroy(p);
	broker_after(p->broker);
}

static void release_name(const char *name, void *owner, void *userdata)
{
	struct peer *p = owner;
	p->uu->names--;
	control_name_changed(p->broker, name, p, NULL);
}

void peer_disconnect(struct peer *p, const char *why)
{
	struct broker *b = p->broker;

	if (p->state >= PEER_CLOSING)
		return;
	log_debug("%s: %s", peer_describe(p), why);
	enum peer_state was = p->state;
	p->state = PEER_CLOSING;
	event_del(p->ev_read);

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
	if (p->uid_counted) {
		p->uu->conns--;
		p->uid_counted = 0;
	}
	if (was == PEER_MONITOR) {
		for (struct peer **pp = &b->monitors; *pp; pp = &(*pp)->mon_next)
			if (*pp == p) {
				*pp = p->mon_next;
				break;
			}
		b->n_monitors--;
	}

	quota_peer_gone(p);
	match_remove_owner(b->match, p);
	p->uu->subs -= p->n_subs;
	p->n_subs = 0;
	schema_peer_gone(b->schemas, p);
	router_drop_calls(p);
	name_release_all(b->names, p, release_name, NULL);

	if (p->fd >= 0 && evbuffer_get_length(p->out) > 0 && peer_flush(p) == 0 &&
	    evbuffer_get_length(p->out) > 0) {
		/* Let the last frames (e.g. the error that explains the close) out. */
		struct timeval tv = { LINGER_SECONDS, 0 };
		p->ev_linger = evtimer_new(b->base, peer_on_linger, p);
		if (p->ev_linger && evtimer_add(p->ev_linger, &tv) == 0) {
			p->lingering = 1;
			p->dead_next = b->lingering;
			b->lingering = p;
			return;
		}
	}
	peer_destroy(p);
}

void peer_destroy(struct peer *p)
{
	struct broker *b = p->broker;
	if (p->state == PEER_DEAD)
		return;
	if (p->lingering) {
		struct peer **pp = &b->lingering;
		while (*pp != p)
			pp = &(*pp)->dead_next;
		*pp = p->dead_next;
		p->lingering = 0;
	}
	p->state = PEER_DEAD;
	event_del(p->ev_read);
	event_del(p->ev_write);
	if (p->ev_linger)
		event_del(p->ev_linger);
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	p->dead_next = b->graveyard;
	b->graveyard = p;
}

void peer_free(struct peer *p)
{
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->ev_read)
		event_free(p->ev_read);
	if (p->ev_write)
		event_free(p->ev_write);
	if (p->ev_linger)
		event_free(p->ev_linger);
	if (p->in)
		evbuffer_free(p->in);
	if (p->out) {
		if (p->uu) /* output never sent no longer counts for its uid */
			p->uu->queued -= evbuffer_get_length(p->out);
		evbuffer_free(p->out);
	}
	quota_uid_put(p->broker, p->uu);
	free(p->groups);
	free(p);
}
