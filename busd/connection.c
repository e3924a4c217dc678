/* connection.c - a client socket's life: the transport all connections
 * share, credentials at accept, what a connection holds and frees, and the
 * close that lets the last output out. Reading is connection-read.c's,
 * writing connection-write.c's. See connection.h. */
#include "config.h"

#include "connection-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

static void on_timer(struct dispatch_source *s, short what);

/* ---------------------------------------------------------------- transport */

int transport_init(struct transport *t, struct dispatch *d, const struct connection_ops *ops)
{
	memset(t, 0, sizeof(*t));
	t->d = d;
	t->ops = ops;
	t->scratch = malloc(READ_CHUNK);
	t->frame_timeout_usec = 30u * 1000000u;
	t->linger_usec = 2u * 1000000u;
	return t->scratch ? 0 : -ENOMEM;
}

void transport_fini(struct transport *t)
{
	free(t->scratch);
	t->scratch = NULL;
}

void connection_mark_dirty(struct connection *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	c->dirty_next = c->t->dirty;
	c->t->dirty = c;
}

void transport_flush(struct transport *t)
{
	/* Flushing can end connections, which queues frames toward others
	 * (the layer above answers their callers): loop until none is left. */
	while (t->dirty) {
		struct connection *c = t->dirty;
		t->dirty = c->dirty_next;
		c->dirty = 0;
		if (c->state != CONN_DEAD)
			connection_flush(c);
	}
}

/* ---------------------------------------------------------------- setup */

static void read_comm(struct connection *c)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)c->pid);
	strcpy(c->comm, "?");
	FILE *f = c->pid > 0 ? fopen(path, "re") : NULL;
	if (!f)
		return;
	if (fgets(c->comm, sizeof(c->comm), f))
		c->comm[strcspn(c->comm, "\n")] = '\0';
	else
		strcpy(c->comm, "?");
	fclose(f);
}

/* The supplementary groups, as the kernel recorded them at connect(). */
static void read_groups(struct connection *c)
{
	socklen_t len = 16 * sizeof(gid_t);

	for (int tries = 0; tries < 4; tries++) {
		gid_t *g = malloc(len);
		if (!g)
			return;
		socklen_t got = len;
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &got) == 0) {
			c->groups = g;
			c->n_groups = got / sizeof(gid_t);
			return;
		}
		free(g);
		if (errno != ERANGE || got <= len)
			return; /* no groups known: only uid and gid count */
		len = got;
	}
}

int connection_init(struct connection *c, struct transport *t, int fd, uint32_t max_frame)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);

	memset(c, 0, sizeof(*c));
	c->t = t;
	c->fd = fd;
	c->state = CONN_OPEN;
	c->max_frame = max_frame;
	c->waiter.wake = connection_on_input_budget;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		c->pid = cred.pid;
		c->uid = cred.uid;
		c->gid = cred.gid;
	} else {
		c->uid = c->gid = (uid_t)-1;
	}
	read_comm(c);
	read_groups(c);
	if (dispatch_source_init(&c->rd, t->d, fd, EV_READ | EV_PERSIST, connection_on_read) < 0 ||
	    dispatch_source_init(&c->wr, t->d, fd, EV_WRITE | EV_PERSIST, connection_on_write) < 0 ||
	    dispatch_source_init(&c->timer, t->d, -1, 0, on_timer) < 0) {
		c->fd = -1; /* the caller closes it */
		c->state = CONN_DEAD;
		connection_fini(c);
		return -ENOMEM;
	}
	return 0;
}

int connection_start(struct connection *c, struct account *peer, struct charge_user *user)
{
	charge_force(&c->in_charge, peer, user, CHARGE_INPUT, 0);
	charge_force(&c->out_charge, peer, user, CHARGE_QUEUED, 0);
	charge_force(&c->in_fd_charge, peer, user, CHARGE_FDS, 0);
	charge_force(&c->out_fd_charge, peer, user, CHARGE_FDS, 0);
	charge_force(&c->out_memfd_charge, peer, user, CHARGE_MEMFD, 0);
	return dispatch_source_add(&c->rd, NULL);
}

static void drop_input(struct connection *c)
{
	if (c->partial) {
		frame_unref(c->partial);
		c->partial = NULL;
	}
	free(c->rest);
	c->rest = NULL;
	c->rest_len = 0;
	c->stash_len = 0;
	for (unsigned i = 0; i < c->n_in_fds; i++) {
		for (unsigned j = 0; j < c->in_fds[i].n; j++)
			close(c->in_fds[i].fds[j]);
		free(c->in_fds[i].fds);
	}
	c->n_in_fds = 0;
	charge_shrink(&c->in_fd_charge, c->in_fd_charge.amount);
	if (c->in_charge.user)
		charge_wait_cancel(c->in_charge.user, &c->waiter);
	charge_shrink(&c->in_charge, c->in_charge.amount);
}

/* A queued frame leaves: its descriptors and body are no longer c's. */
void connection_uncharge(struct connection *c, const struct frame *f)
{
	const int *fds;

	charge_shrink(&c->out_fd_charge, connection_fds_of(c, f, &fds));
	charge_shrink(&c->out_memfd_charge, connection_memfd_of(c, f));
}

static void drop_output(struct connection *c)
{
	while (c->ring_len) {
		connection_uncharge(c, c->ring[c->ring_head]);
		frame_unref(c->ring[c->ring_head]);
		c->ring_head = (c->ring_head + 1) & (c->ring_cap - 1);
		c->ring_len--;
	}
	c->out_off = 0;
	c->out_bytes = 0;
	charge_shrink(&c->out_charge, c->out_charge.amount);
	charge_shrink(&c->out_fd_charge, c->out_fd_charge.amount);
	charge_shrink(&c->out_memfd_charge, c->out_memfd_charge.amount);
}

void connection_fini(struct connection *c)
{
	drop_input(c);
	drop_output(c);
	charge_release(&c->in_charge);
	charge_release(&c->out_charge);
	charge_release(&c->in_fd_charge);
	charge_release(&c->out_fd_charge);
	charge_release(&c->out_memfd_charge);
	dispatch_source_free(&c->rd);
	dispatch_source_free(&c->wr);
	dispatch_source_free(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->ring);
	free(c->groups);
	c->ring = NULL;
	c->groups = NULL;
}

/* ---------------------------------------------------------------- close */

void connection_ended(struct connection *c, enum connection_end why, int err)
{
	if (c->state == CONN_OPEN)
		c->t->ops->ended(c, why, err);
}

void connection_close(struct connection *c)
{
	if (c->state != CONN_OPEN)
		return;
	c->state = CONN_CLOSING;
	dispatch_source_del(&c->rd);
	dispatch_source_del(&c->timer);
	drop_input(c);
	if (!c->ring_len || c->fd < 0) {
		connection_finish_close(c);
		return;
	}
	/* Let the last frames (e.g. the error that explains the close) out. */
	dispatch_source_add_usec(&c->timer, c->t->linger_usec);
	connection_mark_dirty(c);
}

void connection_finish_close(struct connection *c)
{
	c->state = CONN_DEAD;
	dispatch_source_del(&c->rd);
	dispatch_source_del(&c->wr);
	dispatch_source_del(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	drop_output(c);
	c->t->ops->gone(c);
}

static void on_timer(struct dispatch_source *s, short what)
{
	struct connection *c = container_of(s, struct connection, timer);

	(void)what;
	if (c->state == CONN_CLOSING)
		connection_finish_close(c); /* could not flush its last output in time */
	else if (c->state == CONN_OPEN && c->partial)
		connection_ended(c, CONN_END_TIMEOUT, ETIMEDOUT);
}
