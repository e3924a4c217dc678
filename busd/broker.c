/* broker.c - the listening socket (with stale-socket detection), accepting
 * peers, the end-of-callback flush of every peer with queued output, freeing
 * dead peers, and the bounded drain on shutdown. */
#include "config.h"

#include "broker.h"

#include <malloc.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bus/errors.h"
#include "log.h"
#include "quota.h"
#include "router.h"
#include "schema.h"
#include "settings.h"

#define SHUTDOWN_FLUSH_SECONDS 2

uint64_t broker_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

/* Create the parent directory of path if it is missing (one level). */
static void make_parent(const char *path)
{
	char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0)
			log_info("created directory %s", dir);
	}
	free(dir);
}

static int listen_on(const char *path, unsigned mode, gid_t gid)
{
	struct sockaddr_un sa;
	if (fill_addr(&sa, path) < 0) {
		log_error("socket path too long: %s", path);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket; refusing to replace it", path);
			close(fd);
			return -1;
		}
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int r = probe >= 0 ? connect(probe, (struct sockaddr *)&sa, sizeof(sa)) : -1;
		int err = errno;
		if (probe >= 0)
			close(probe);
		if (r == 0) {
			log_error("another busd is already listening on %s", path);
			close(fd);
			return -1;
		}
		if (err != ECONNREFUSED) {
			log_error("cannot tell whether %s is in use: %s", path, strerror(err));
			close(fd);
			return -1;
		}
		log_notice("removing stale socket %s", path);
		unlink(path);
	} else {
		make_parent(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_error("bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, mode) < 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
		log_error("setting mode %04o%s of %s: %s", mode, gid != (gid_t)-1 ? " and group" : "",
			  path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		log_error("listen %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

static void broker_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct broker *b = arg;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warning("accept: %s", strerror(errno));
			break;
		}
		struct peer *p = peer_new(b, fd);
		if (!p) {
			log_warning("out of memory accepting a connection");
			close(fd);
			continue;
		}
		b->stats.connections_total++;
		log_debug("%s: accepted (uid %d)", peer_describe(p), (int)p->uid);
		unsigned n = ++p->uu->conns;
		p->uid_counted = 1;
		if (n > b->max_conn_uid) {
			log_warning("%s: refused: uid %d already has %u connections "
				    "(limits.max_connections_per_uid)", peer_describe(p), (int)p->uid,
				    n - 1);
			router_send_error(p, 0, BUS_ERROR_LIMITS_EXCEEDED,
					  "uid %d already has %u connections, the most "
					  "limits.max_connections_per_uid allows", (int)p->uid, n - 1);
			peer_disconnect(p, "too many connections for its uid");
		}
	}
	broker_after(b);
}

void broker_set_limits(struct broker *b, const struct config *c)
{
	b->max_frame = c->max_frame_size;
	b->max_queued = c->max_queued_bytes;
	b->max_pending = c->max_pending_calls;
	b->max_conn_uid = c->max_connections_per_uid;
	b->max_names = c->max_names_per_peer;
	b->max_schema_bytes = c->max_schema_bytes;
	b->queue_hold = c->queue_hold_bytes;
	b->queue_grace_usec = (uint64_t)c->queue_grace * 1000000u;
	b->max_subs = c->max_subscriptions_per_peer;
	b->max_queued_uid = c->max_queued_bytes_per_uid;
	b->max_pending_uid = c->max_pending_calls_per_uid;
	b->max_names_uid = c->max_names_per_uid;
	b->max_subs_uid = c->max_subscriptions_per_uid;
	b->policy = c->policy;
	quota_limits_changed(b);
}

void broker_overflow(struct broker *b, struct peer *p)
{
	if (p->overflowed || p->state >= PEER_CLOSING)
		return;
	p->overflowed = 1;
	p->overflow_next = b->overflowed;
	b->overflowed = p;
}

struct broker *broker_new(struct event_base *base, const struct config *c, int passed_fd)
{
	struct broker *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->base = base;
	b->listen_fd = -1;
	broker_set_limits(b, c);
	b->start_usec = broker_now_usec();
	b->peers = hash_new();
	b->uids = hash_new();
	b->names = name_registry_new();
	b->match = match_new();
	b->schemas = schema_store_new();
	if (!b->peers || !b->uids || !b->names || !b->match || !b->schemas) {
		log_error("out of memory");
		broker_free(b);
		return NULL;
	}
	if (passed_fd >= 0) {
		b->listen_fd = passed_fd; /* systemd's: it stays, not unlinked */
	} else {
		gid_t gid;
		if (config_group_id(c, &gid, stderr) < 0) {
			broker_free(b);
			return NULL;
		}
		b->listen_fd = listen_on(c->socket, c->mode, gid);
		if (b->listen_fd < 0) {
			broker_free(b);
			return NULL;
		}
		b->path = strdup(c->socket);
		if (!b->path) {
			log_error("out of memory");
			broker_free(b);
			return NULL;
		}
	}
	b->ev_accept = event_new(base, b->listen_fd, EV_READ | EV_PERSIST, broker_on_accept, b);
	if (!b->ev_accept || event_add(b->ev_accept, NULL) < 0) {
		log_error("cannot watch the listening socket");
		broker_free(b);
		return NULL;
	}
	return b;
}

void broker_mark_dirty(struct broker *b, struct peer *p)
{
	if (p->dirty)
		return;
	p->dirty = 1;
	p->dirty_next = b->dirty;
	b->dirty = p;
}

static int all_flushed(const struct broker *b)
{
	for (const struct peer *p = b->all; p; p = p->next)
		if (evbuffer_get_length(p->out) > 0)
			return 0;
	return 1;
}

static void broker_on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;

	(void)fd;
	(void)what;
	router_trim(b);
	malloc_trim(0);
	b->peers_peak = b->n_peers;
	struct mallinfo2 mi = mallinfo2();
	log_debug("gave freed memory back (%u peers now; heap %zu bytes in use, %zu free)",
		  b->n_peers, mi.uordblks, mi.fordblks);
}

/* After a crowd has left (a quarter of the peak number of peers remains),
 * hand the freed heap back to the kernel: glibc only trims the top of the
 * heap by itself, and a burst of connections leaves holes below it. A
 * second later, so that one trim covers the whole crowd leaving. */
static void give_back_memory(struct broker *b)
{
	if (b->peers_peak < 64 || b->n_peers * 4 > b->peers_peak)
		return;
	if (!b->ev_trim)
		b->ev_trim = evtimer_new(b->base, broker_on_trim, b);
	if (b->ev_trim && !evtimer_pending(b->ev_trim, NULL)) {
		struct timeval tv = { 1, 0 };
		evtimer_add(b->ev_trim, &tv);
	}
}

void broker_after(struct broker *b)
{
	while (b->overflowed) {
		struct peer *p = b->overflowed;
		b->overflowed = p->overflow_next;
		if (p->state >= PEER_CLOSING)
			continue;
		log_warning("%s: disconnected: it does not read its input, and more than %llu bytes "
			    "are queued toward it (limits.max_queued_bytes, no grace period)",
			    peer_describe(p), (unsigned long long)b->max_queued);
		b->stats.quota_disconnects++;
		peer_disconnect(p, "output queue over the limit");
	}
	/* Flushing can disconnect peers, which queues more frames (NoReply,
	 * NameOwnerChanged) and marks more peers dirty: loop until none. */
	while (b->dirty) {
		struct peer *p = b->dirty;
		b->dirty = p->dirty_next;
		p->dirty = 0;
		if (p->state == PEER_DEAD)
			continue;
		if (peer_flush(p) < 0) {
			log_debug("%s: write failed", peer_describe(p));
			if (p->state == PEER_CLOSING)
				peer_destroy(p);
			else
				peer_disconnect(p, "write error");
		} else if (p->state == PEER_CLOSING && evbuffer_get_length(p->out) == 0) {
			peer_destroy(p);
		}
	}
	int freed = 0;
	while (b->graveyard) {
		struct peer *p = b->graveyard;
		b->graveyard = p->dead_next;
		peer_free(p);
		freed = 1;
	}
	if (freed)
		give_back_memory(b);
	if (b->shutting_down && all_flushed(b))
		event_base_loopbreak(b->base);
}

static void broker_on_shutdown_timer(evutil_socket_t fd, short what, void *arg)
{
	struct broker *b = arg;
	log_notice("shutdown: gave up flushing output after %d s", SHUTDOWN_FLUSH_SECONDS);
	event_base_loopbreak(b->base);
}

void broker_shutdown(struct broker *b)
{
	if (b->shutting_down)
		return;
	b->shutting_down = 1;
	if (b->ev_accept)
		event_del(b->ev_accept);
	if (b->listen_fd >= 0) {
		close(b->listen_fd);
		b->listen_fd = -1;
	}
	for (struct peer *p = b->all; p; p = p->next)
		event_del(p->ev_read);
	router_fail_all(b, "busd is shutting down");
	struct timeval tv = { SHUTDOWN_FLUSH_SECONDS, 0 };
	b->ev_shutdown_timer = evtimer_new(b->base, broker_on_shutdown_timer, b);
	if (b->ev_shutdown_timer)
		evtimer_add(b->ev_shutdown_timer, &tv);
	broker_after(b);
}

void broker_free(struct broker *b)
{
	if (!b)
		return;
	/* Close every peer without the notifications of a disconnect. */
	while (b->all) {
		struct peer *p = b->all;
		b->all = p->next;
		p->state = PEER_DEAD;
		if (b->schemas)
			schema_peer_gone(b->schemas, p);
		peer_free(p);
	}
	while (b->graveyard) {
		struct peer *p = b->graveyard;
		b->graveyard = p->dead_next;
		peer_free(p);
	}
	while (b->lingering) {
		struct peer *p = b->lingering;
		b->lingering = p->dead_next;
		peer_free(p);
	}
	if (b->ev_accept)
		event_free(b->ev_accept);
	if (b->ev_shutdown_timer)
		event_free(b->ev_shutdown_timer);
	if (b->ev_quota)
		event_free(b->ev_quota);
	if (b->ev_trim)
		event_free(b->ev_trim);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->path)
		unlink(b->path);
	free(b->path);
	hash_free(b->peers, NULL);
	hash_free(b->uids, free); /* empty once every peer is freed */
	schema_store_free(b->schemas);
	name_registry_free(b->names);
	match_free(b->match);
	pending_table_free(&b->pending);
	free(b);
}
