/* broker.c - the listening socket (with stale-socket detection), accepting
 * peers within the file descriptor budget, the end-of-callback work of
 * every dispatch (deferred disconnects, writing queued output, freeing dead
 * peers), and the bounded drain on shutdown. */
#include "config.h"

#include "broker.h"

#ifdef HAVE_MALLOC_H
#include <malloc.h>
#endif
#ifdef __SANITIZE_ADDRESS__
/* The sanitizer runtime's count of live allocations (its own allocator
 * serves malloc; GCC does not install the header that declares it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bus/errors.h"
#include "frame.h"
#include "hold.h"
#include "log.h"
#include "policy.h"
#include "quota.h"
#include "router.h"
#include "schema.h"
#include "settings.h"
#include "watchdog.h"

#define SHUTDOWN_FLUSH_SECONDS 2
/* Descriptors busd needs besides its peers: the listener, the loop, signal
 * pipes, the reserve, the log, a configuration file, /proc/PID/comm. */
#define FD_OVERHEAD 32u
/* After accept() ran out of descriptors, wait this long before trying again. */
#define ACCEPT_PAUSE_USEC 100000u

static void broker_after(void *arg);
static void on_trim(struct dispatch_source *s, short what);

uint64_t broker_now_usec(void)
{
	return dispatch_now_usec();
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

static int listen_on(const char *path, unsigned mode, gid_t gid, struct stat *bound)
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
	/* Remember which file is ours: only that one is removed at exit. */
	if (lstat(path, bound) < 0 || chmod(path, mode) < 0 ||
	    (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0)) {
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

/* ---------------------------------------------------------------- accepting */

/* The descriptors busd may spend on peers: its limit (raised to the hard
 * limit when allowed) less what it needs for itself; a share is kept for
 * root, so that no user can lock root out. */
static void fd_budget_init(struct broker *b)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max;
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		rl.rlim_cur = 1u << 20;
	rlim_t n = rl.rlim_cur > (1u << 24) ? (1u << 24) : rl.rlim_cur;
	b->fd_budget = n > FD_OVERHEAD * 2 ? (unsigned)(n - FD_OVERHEAD) : FD_OVERHEAD;
	b->root_reserve = b->fd_budget / 16 > 16 ? b->fd_budget / 16 : 16;
}

/* A connection busd cannot take: tell it and close it. */
static void refuse(struct broker *b, struct peer *p, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct broker *b, struct peer *p, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	b->stats.connections_refused++;
	peer_log(p, LOG_WARNING, "refused: %s", msg);
	router_send_error(p, 0, BUS_ERROR_LIMITS_EXCEEDED, "%s", msg);
	peer_disconnect(p, "refused");
}

static void admit(struct broker *b, struct peer *p)
{
	const struct charge_limits *l = &b->ledger.limits;

	if (p->conn.uid != 0 && b->n_conns > b->fd_budget - b->root_reserve) {
		refuse(b, p, "busd has no file descriptors left for users other than root "
		       "(%u connections open, limit %u)", b->n_conns - 1, b->fd_budget - b->root_reserve);
		return;
	}
	if (charge_take(&p->conn_charge, &p->acct, p->user, CHARGE_CONNECTIONS, 1) != 0)
		refuse(b, p, "uid %d already has %llu connections, the most "
		       "limits.max_connections_per_uid allows%s", (int)p->conn.uid,
		       (unsigned long long)p->user->acct.used[CHARGE_CONNECTIONS],
		       l->user[CHARGE_CONNECTIONS] < b->max_conn_uid_config ?
		       " within busd's file descriptor limit" : "");
}

static void on_accept_pause(struct dispatch_source *s, short what)
{
	struct broker *b = (struct broker *)(void *)((char *)s - offsetof(struct broker, accept_pause));

	(void)what;
	if (!b->shutting_down)
		dispatch_source_add(&b->accept_src, NULL);
}

/* Out of descriptors: spend the reserve to take the first waiting
 * connection and close it (its client sees the end instead of hanging),
 * then stop accepting for a moment instead of spinning on EMFILE. */
static void out_of_fds(struct broker *b, int err)
{
	if (b->reserve_fd >= 0) {
		close(b->reserve_fd);
		int fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			close(fd);
		b->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	b->stats.connections_refused++;
	log_limited(&b->accept_log, LOG_WARNING, "accept: %s; refusing connections for %u ms",
		    strerror(err), ACCEPT_PAUSE_USEC / 1000);
	dispatch_source_del(&b->accept_src);
	dispatch_source_add_usec(&b->accept_pause, ACCEPT_PAUSE_USEC);
}

static void on_accept(struct dispatch_source *s, short what)
{
	struct broker *b = (struct broker *)(void *)((char *)s - offsetof(struct broker, accept_src));

	(void)what;
	for (int i = 0; i < 64; i++) {
		int fd = accept4(b->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				out_of_fds(b, errno);
			else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_limited(&b->accept_log, LOG_WARNING, "accept: %s", strerror(errno));
			break;
		}
		struct peer *p = peer_new(b, fd);
		if (!p) {
			log_limited(&b->accept_log, LOG_WARNING, "out of memory accepting a connection");
			close(fd);
			continue;
		}
		b->stats.connections_total++;
		log_debug(PEER_FMT ": accepted (uid %d)", PEER_ARGS(p), (int)p->conn.uid);
		admit(b, p);
	}
}

/* ---------------------------------------------------------------- limits */

void broker_set_limits(struct broker *b, const struct config *c)
{
	struct charge_limits *l = &b->ledger.limits;

	b->max_frame = c->max_frame_size;
	frame_pool_set_limit(c->max_frame_size);
	b->max_queued = c->max_queued_bytes;
	b->queue_hold = c->queue_hold_bytes;
	b->queue_grace_usec = (uint64_t)c->queue_grace * 1000000u;
	b->max_queued_uid = c->max_queued_bytes_per_uid;
	b->hello_timeout_usec = (uint64_t)c->hello_timeout * 1000000u;
	b->transport.frame_timeout_usec = (uint64_t)c->frame_timeout * 1000000u;
	b->transport.max_fds = c->max_fds_per_frame;
	b->policy = c->policy;
	b->max_held_calls = c->max_held_calls_per_name;
	b->max_held_bytes = c->max_held_bytes_per_name;
	b->max_resends = c->max_call_resends;
	b->max_memfd_body = c->max_memfd_body_size;

	memset(l, 0, sizeof(*l));
	/* Queued bytes are quota.c's: the charge counts, back-pressure decides. */
	l->peer[CHARGE_CALLS] = c->max_pending_calls;
	l->peer[CHARGE_NAMES] = c->max_names_per_peer;
	l->peer[CHARGE_SUBSCRIPTIONS] = c->max_subscriptions_per_peer;
	l->peer[CHARGE_SCHEMA] = c->max_schema_bytes;
	l->peer[CHARGE_EXPORTS] = c->max_exports_per_peer;
	l->peer[CHARGE_FDS] = c->max_queued_fds;
	l->user[CHARGE_FDS] = c->max_queued_fds_per_uid;
	l->peer[CHARGE_MEMFD] = c->max_queued_memfd_bytes;
	l->user[CHARGE_MEMFD] = c->max_queued_memfd_bytes_per_uid;
	l->user[CHARGE_INPUT] = c->max_input_bytes_per_uid;
	l->user[CHARGE_CALLS] = c->max_pending_calls_per_uid;
	l->user[CHARGE_NAMES] = c->max_names_per_uid;
	l->user[CHARGE_SUBSCRIPTIONS] = c->max_subscriptions_per_uid;
	l->user[CHARGE_SCHEMA] = c->max_schema_bytes_per_uid;
	l->user[CHARGE_EXPORTS] = c->max_exports_per_uid;
	/* One user may hold at most half of what the descriptors allow others. */
	b->max_conn_uid_config = c->max_connections_per_uid;
	uint64_t fair = (b->fd_budget - b->root_reserve) / 2;
	l->user[CHARGE_CONNECTIONS] = c->max_connections_per_uid < fair ? c->max_connections_per_uid
									: fair;
	if (l->user[CHARGE_CONNECTIONS] < c->max_connections_per_uid)
		log_notice("limits.max_connections_per_uid is %u, but the file descriptor limit lets "
			   "one uid have %llu connections (of %u, %u kept for root)",
			   c->max_connections_per_uid, (unsigned long long)l->user[CHARGE_CONNECTIONS],
			   b->fd_budget, b->root_reserve);
	quota_limits_changed(b);
}

void broker_policy_changed(struct broker *b)
{
	router_policy_changed(b);
}

/* ---------------------------------------------------------------- lifetime */

struct broker *broker_new(struct event_base *base, const struct config *c, int passed_fd)
{
	struct broker *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->base = base;
	b->listen_fd = -1;
	b->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dispatch_init(&b->dispatch, base, broker_after, b);
	fd_budget_init(b);
	snprintf(b->accept_log.subject, sizeof(b->accept_log.subject), "accept");
	b->start_usec = broker_now_usec();
	b->peers = hash_new();
	b->names = name_registry_new();
	b->match = match_new();
	b->schemas = schema_store_new();
	b->holds = hold_table_new(b);
	if (charge_ledger_init(&b->ledger) < 0 ||
	    transport_init(&b->transport, &b->dispatch, &peer_connection_ops) < 0 || !b->peers ||
	    !b->names || !b->match || !b->schemas || !b->holds ||
	    dispatch_source_init(&b->quota_timer, &b->dispatch, -1, EV_PERSIST, quota_on_tick) < 0 ||
	    dispatch_source_init(&b->trim_timer, &b->dispatch, -1, 0, on_trim) < 0 ||
	    dispatch_source_init(&b->accept_pause, &b->dispatch, -1, 0, on_accept_pause) < 0) {
		log_error("out of memory");
		broker_free(b);
		return NULL;
	}
	broker_set_limits(b, c);
	if (passed_fd >= 0) {
		b->listen_fd = passed_fd; /* systemd's: it stays, not unlinked */
	} else {
		gid_t gid;
		struct stat st;
		if (config_group_id(c, &gid, stderr) < 0) {
			broker_free(b);
			return NULL;
		}
		b->listen_fd = listen_on(c->socket, c->mode, gid, &st);
		if (b->listen_fd < 0) {
			broker_free(b);
			return NULL;
		}
		b->sock_dev = st.st_dev;
		b->sock_ino = st.st_ino;
		b->path = strdup(c->socket);
		if (!b->path) {
			log_error("out of memory");
			broker_free(b);
			return NULL;
		}
	}
	if (dispatch_source_init(&b->accept_src, &b->dispatch, b->listen_fd, EV_READ | EV_PERSIST,
				 on_accept) < 0 ||
	    dispatch_source_add(&b->accept_src, NULL) < 0) {
		log_error("cannot watch the listening socket");
		broker_free(b);
		return NULL;
	}
	return b;
}

void broker_doom(struct broker *b, struct peer *p, const char *why)
{
	if (p->doomed_why || p->state >= PEER_CLOSING)
		return;
	p->doomed_why = why;
	p->doomed_next = b->doomed;
	b->doomed = p;
}

uint64_t broker_heap_bytes(void)
{
#ifdef __SANITIZE_ADDRESS__
	return __sanitizer_get_current_allocated_bytes();
#elif defined(HAVE_MALLINFO2)
	struct mallinfo2 mi = mallinfo2();
	return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
#else
	return 0; /* no way to ask this C library */
#endif
}

static int all_flushed(const struct broker *b)
{
	for (const struct peer *p = b->all; p; p = p->next)
		if (connection_queued(&p->conn) > 0)
			return 0;
	return 1;
}

/* Memory is given back a second after the need for it passed.
 * - After a crowd of peers left: everything spare goes (router tables,
 *   the frame pool, the heap's free memory).
 * - After large frames: the pool went above FRAME_POOL_BASE, or frames were
 *   handed back to the allocator (frame_released()). Each look frees the
 *   spares of the size classes no frame used since the previous look, and
 *   trims the heap once no frame was handed back in the last second; while
 *   large frames keep coming it looks again a second later. So steady
 *   traffic never has its memory taken away and faulted in again. */
#define TRIM_DELAY_USEC 1000000u
#define TRIM_RELEASED_MIN (1024u * 1024u)

static void heap_trim(void)
{
#ifdef HAVE_MALLOC_TRIM
	malloc_trim(0);
#endif
}

static void on_trim(struct dispatch_source *s, short what)
{
	struct broker *b = (struct broker *)(void *)((char *)s - offsetof(struct broker, trim_timer));

	(void)what;
	if (!b->trim_crowd) {
		size_t idle = frame_pool_idle();
		uint64_t released = frame_released();
		int busy = released - idle - b->released_mark >= TRIM_RELEASED_MIN;
		b->released_mark = released;
		if (!busy && idle)
			heap_trim();
		if (busy || frame_pool_bytes() > FRAME_POOL_BASE)
			dispatch_source_add_usec(&b->trim_timer, TRIM_DELAY_USEC);
		return;
	}
	b->trim_crowd = 0;
	router_trim(b);
	frame_pool_trim();
	heap_trim();
	b->peers_peak = b->n_peers;
	b->released_mark = frame_released();
#ifdef HAVE_MALLINFO2
	struct mallinfo2 mi = mallinfo2();
	log_debug("gave freed memory back (%u peers now; heap %zu bytes in use, %zu free)",
		  b->n_peers, mi.uordblks, mi.fordblks);
#else
	log_debug("gave freed memory back (%u peers now)", b->n_peers);
#endif
}

static void trim_soon(struct broker *b)
{
	if (dispatch_source_pending(&b->trim_timer))
		return;
	b->released_mark = frame_released();
	dispatch_source_add_usec(&b->trim_timer, TRIM_DELAY_USEC);
}

/* After a crowd has left (a quarter of the peak number of peers remains),
 * hand the freed heap back to the kernel: glibc only trims the top of the
 * heap by itself (and busd told it not to: frame_memory_init()), and a
 * burst of connections leaves holes below it. A second later, so that one
 * trim covers the whole crowd leaving. */
static void give_back_memory(struct broker *b)
{
	if (b->peers_peak < 64 || b->n_peers * 4 > b->peers_peak)
		return;
	b->trim_crowd = 1;
	trim_soon(b);
}

/* The end of every callback (dispatch.h): disconnect the peers routing
 * doomed, write what was queued (which may end more peers, and so queue
 * more), free the dead. */
static void broker_after(void *arg)
{
	struct broker *b = arg;

	do {
		while (b->doomed) {
			struct peer *p = b->doomed;
			b->doomed = p->doomed_next;
			peer_disconnect(p, p->doomed_why);
		}
		transport_flush(&b->transport);
	} while (b->doomed);
	int freed = 0;
	while (b->graveyard) {
		struct peer *p = b->graveyard;
		b->graveyard = p->dead_next;
		peer_free(p);
		freed = 1;
	}
	if (freed)
		give_back_memory(b);
	if (frame_released() - b->released_mark >= TRIM_RELEASED_MIN ||
	    frame_pool_bytes() > FRAME_POOL_BASE)
		trim_soon(b);
	if (b->shutting_down && all_flushed(b))
		event_base_loopbreak(b->base);
}

static void on_shutdown_timer(struct dispatch_source *s, short what)
{
	struct broker *b =
		(struct broker *)(void *)((char *)s - offsetof(struct broker, shutdown_timer));

	(void)what;
	log_notice("shutdown: gave up flushing output after %d s", SHUTDOWN_FLUSH_SECONDS);
	event_base_loopbreak(b->base);
}

void broker_shutdown(struct broker *b)
{
	if (b->shutting_down)
		return;
	b->shutting_down = 1;
	dispatch_source_del(&b->accept_src);
	dispatch_source_del(&b->accept_pause);
	for (struct peer *p = b->all; p; p = p->next)
		connection_pause(&p->conn);
	router_fail_all(b, "busd is shutting down");
	if (dispatch_source_init(&b->shutdown_timer, &b->dispatch, -1, 0, on_shutdown_timer) == 0)
		dispatch_source_add_usec(&b->shutdown_timer, SHUTDOWN_FLUSH_SECONDS * 1000000u);
}

/* Remove the socket file only if it is still the one busd bound: another
 * busd may have replaced it meanwhile. */
static void remove_socket(const struct broker *b)
{
	struct stat st;

	if (!b->path)
		return;
	if (lstat(b->path, &st) == 0 && st.st_dev == b->sock_dev && st.st_ino == b->sock_ino)
		unlink(b->path);
	else
		log_notice("not removing %s: it is no longer the socket this busd created", b->path);
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
		if (b->match)
			match_remove_owner(b->match, p);
		if (b->names)
			name_release_all(b->names, p, NULL, NULL);
		router_drop_calls_quietly(b, p);
		peer_free(p);
	}
	while (b->closing) {
		struct peer *p = b->closing;
		b->closing = p->next;
		peer_free(p);
	}
	while (b->graveyard) {
		struct peer *p = b->graveyard;
		b->graveyard = p->dead_next;
		peer_free(p);
	}
	dispatch_source_free(&b->accept_src);
	dispatch_source_free(&b->accept_pause);
	dispatch_source_free(&b->shutdown_timer);
	dispatch_source_free(&b->quota_timer);
	dispatch_source_free(&b->trim_timer);
	watchdog_free_all(b);
	if (b->listen_fd >= 0)
		close(b->listen_fd);
	if (b->reserve_fd >= 0)
		close(b->reserve_fd);
	remove_socket(b);
	free(b->path);
	hash_free(b->peers, NULL);
	schema_store_free(b->schemas);
	hold_table_free(b->holds);
	name_registry_free(b->names);
	match_free(b->match);
	pending_table_free(&b->pending);
	transport_fini(&b->transport);
	charge_ledger_fini(&b->ledger);
	frame_pool_trim();
	free(b);
}
