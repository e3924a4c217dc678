/* bus.c - a connection's lifetime: finding the broker's socket, connecting
 * and saying Hello, the state a new connection must be given again
 * (reconnect.c does that), and closing - possibly from inside a callback, in
 * which case the connection is freed when the outermost libbus call on the
 * stack returns. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "bus-internal.h"
#include "bus.pb-c.h"


struct kept *lifetime_kept_new(const void *data, size_t len)
{
	struct kept *k = malloc(sizeof(*k) + len);

	if (!k)
		return NULL;
	k->next = NULL;
	k->gen = 0;
	k->len = len;
	memcpy(k->data, data, len);
	return k;
}

static struct kept **kept_find(struct kept **list, const void *data, size_t len)
{
	for (; *list; list = &(*list)->next)
		if ((*list)->len == len && memcmp((*list)->data, data, len) == 0)
			return list;
	return NULL;
}

struct kept *lifetime_kept_find(struct kept *list, const void *data, size_t len)
{
	struct kept **pk = kept_find(&list, data, len);

	return pk ? *pk : NULL;
}

/* Restoring in the original order keeps what busd sees the same as the
 * first time. */
void lifetime_kept_add(struct kept **list, struct kept *k)
{
	struct kept **pk = kept_find(list, k->data, k->len);

	if (pk) {
		if (k->gen)
			(*pk)->gen = k->gen;
		free(k);
		return;
	}
	while (*list)
		list = &(*list)->next;
	*list = k;
}

int lifetime_kept_remove(struct kept **list, const void *data, size_t len)
{
	struct kept **pk = kept_find(list, data, len);

	if (!pk)
		return 0;
	struct kept *k = *pk;
	*pk = k->next;
	free(k);
	return 1;
}

static void kept_free(struct kept **list)
{
	struct kept *k, *next;

	for (k = *list; k; k = next) {
		next = k->next;
		free(k);
	}
	*list = NULL;
}

/* ---------------------------------------------------------------- lifetime */

static void bus_free(bus_t *bus)
{
	bus_error_t e;

	/* Callbacks run below; their bus_close() calls are no-ops now. */
	bus->hold++;
	if (bus->state == CONN_UP)
		conn_write(bus); /* what the socket takes without blocking */
	attach_free(bus);
	conn_disconnected(bus, &e);
	restore_free(bus); /* a try's calls answer nobody */
	call_fail_all(bus, &e);
	proxy_detach_all(bus);
	serve_free_all(bus);
	sub_free_all(bus);
	watch_free_all(bus); /* after call_fail_all: its GetNameOwner calls point at watches */
	call_free_all(bus);
	if (bus->fd >= 0)
		close(bus->fd);
	conn_free_buffers(bus);
	kept_free(&bus->names);
	kept_free(&bus->schemas);
	free(bus->address);
	free(bus->unique);
	free(bus);
}

void lifetime_hold(bus_t *bus)
{
	bus->hold++;
}

int lifetime_drop(bus_t *bus)
{
	if (--bus->hold == 0 && bus->closing) {
		bus_free(bus);
		return 1;
	}
	return 0;
}

/* A callback may close the connection it was called for; the caller that
 * holds it (bus_process, a sync stub, bus_run, ...) frees it on the way out.
 * The pointer must not be used after bus_close() either way. */
void bus_close(bus_t *bus)
{
	if (!bus || bus->closing)
		return;
	bus->closing = 1;
	if (bus->hold == 0)
		bus_free(bus);
}

/* ---------------------------------------------------------------- connect */

/* Where each bus is, in one place: the environment first, then the path
 * the build configured (the one busd listens on as root) or the user's
 * runtime directory. *from says which it was, for error messages. */
static int system_address(char *buf, size_t len, const char **from)
{
	const char *addr = getenv("BUS_SYSTEM_ADDRESS");
	int n;

	if (!buf || len == 0)
		return -ENAMETOOLONG;
	if (addr && *addr) {
		*from = "$BUS_SYSTEM_ADDRESS";
		n = snprintf(buf, len, "%s", addr);
	} else {
		*from = NULL;
		n = snprintf(buf, len, "%s", BUS_SYSTEM_SOCKET);
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int user_address(char *buf, size_t len, const char **from)
{
	const char *addr = getenv("BUS_ADDRESS");
	const char *dir = getenv("XDG_RUNTIME_DIR");
	int n;

	if (!buf || len == 0)
		return -ENAMETOOLONG;
	if (addr && *addr) {
		*from = "$BUS_ADDRESS";
		n = snprintf(buf, len, "%s", addr);
	} else if (dir && *dir) {
		*from = "$XDG_RUNTIME_DIR";
		n = snprintf(buf, len, "%s/busd.sock", dir);
	} else {
		return -ENOENT;
	}
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int bus_system_address(char *buf, size_t len)
{
	const char *from;

	return system_address(buf, len, &from);
}

int bus_user_address(char *buf, size_t len)
{
	const char *from;

	return user_address(buf, len, &from);
}

int bus_default_address(char *buf, size_t len)
{
	const char *addr = getenv("BUS_ADDRESS");

	if (addr && *addr)
		return bus_user_address(buf, len);
	return geteuid() == 0 ? bus_system_address(buf, len) : bus_user_address(buf, len);
}

/* Connect to path. A reconnect try (retry) must not wait for a broker
 * whose backlog is full: it fails instead (-EAGAIN) and tries later. */
int lifetime_socket_open(const char *path, int retry, bus_error_t *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (retry ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		int r = -errno;
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "socket: %s", strerror(-r));
		return r;
	}
	/* A Unix socket answers at once, or with the backlog full waits until
	 * busd accepts (a retry gets -EAGAIN instead). */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int r = -errno;
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "cannot connect to busd at %s: %s", path,
			      strerror(-r));
		close(fd);
		return r;
	}
	if (retry && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int r = -errno;
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "fcntl: %s", strerror(-r));
		close(fd);
		return r;
	}
	/* The socket stays in blocking mode: every read and write says
	 * MSG_DONTWAIT except the one a sync call waits in (conn_read_wait). */
	return fd;
}

void lifetime_client_text(char buf[LIFETIME_CLIENT_LEN])
{
	snprintf(buf, LIFETIME_CLIENT_LEN, "libbus %s (%.*s)", PACKAGE_VERSION,
		 LIFETIME_PROGRAM_MAX, program_invocation_short_name);
}

int lifetime_hello_accept(bus_t *bus, const bus_msg_t *reply, bus_error_t *err)
{
	Bus__HelloReply *rep = (Bus__HelloReply *)bus_msg_unpack(reply, &bus__hello_reply__descriptor);
	char *unique;
	int r = 0;

	if (!rep) {
		bus_error_set(err, BUS_ERROR_FAILED, "busd's HelloReply does not parse");
		return -EPROTO;
	}
	if (!wire_unique_name_valid(rep->unique_name, strlen(rep->unique_name))) {
		bus_error_set(err, BUS_ERROR_FAILED, "busd sent an invalid unique name");
		r = -EPROTO;
	} else if (!(unique = strdup(rep->unique_name))) {
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		r = -ENOMEM;
	} else {
		/* A reconnect replaces the old connection's id, and the limit:
		 * the new busd may be configured otherwise. */
		free(bus->unique);
		bus->unique = unique;
		uint32_t max = rep->max_peer_frame_size;
		bus->max_frame = max && max < CONN_MAX_FRAME ? max : CONN_MAX_FRAME;
		bus->max_fds = rep->max_fds_per_frame;
		bus->max_memfd_body = rep->max_memfd_body_size;
	}
	bus__hello_reply__free_unpacked(rep, NULL);
	return r;
}

static int hello_reply(bus_t *bus, const bus_msg_t *reply, void *ud, bus_error_t *err)
{
	(void)ud;
	return lifetime_hello_accept(bus, reply, err);
}

static int hello(bus_t *bus, bus_error_t *err)
{
	Bus__HelloRequest req = BUS__HELLO_REQUEST__INIT;
	wire_header h = {
		.destination = wire_str_c(BUS_NAME),
		.interface = wire_str_c(bus__bus__descriptor.name),
		.member = wire_str_c("Hello"),
		.body_type = wire_str_c(req.base.descriptor->name),
	};

	char client[LIFETIME_CLIENT_LEN];

	lifetime_client_text(client);
	req.protocol_version = BUS_PROTOCOL_VERSION;
	req.client = client;
	req.memfd_bodies = 1; /* fdpass.c maps them */
	return call_sync(bus, &h, NULL, 0, &req.base, BUS_CONTROL_TIMEOUT_USEC, err, hello_reply, NULL);
}

/* Connect to path and say Hello. which ("system", "user" or NULL) and from
 * (the variable the path came from, or NULL) name the bus in the error
 * when there is no broker at path. */
static int connect_at(bus_t **busp, const char *path, const char *which, const char *from,
		      bus_error_t *err)
{
	int fd = lifetime_socket_open(path, 0, err);
	if (fd < 0) {
		if (which)
			bus_error_set(err, BUS_ERROR_DISCONNECTED, "no %s bus at %s%s%s%s: %s",
				      which, path, from ? " (from " : "", from ? from : "",
				      from ? ")" : "", strerror(-fd));
		return fd;
	}
	bus_t *bus = calloc(1, sizeof(*bus));
	if (!bus) {
		close(fd);
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	bus->fd = fd;
	bus->state = CONN_UP;
	bus->max_frame = CONN_MAX_FRAME; /* until HelloReply says */
	bus->memfd_threshold = body_threshold_default();
	bus->generation = 1;
	bus->retry_delay = RETRY_MIN;
	/* Jitter needs no quality, only clients that differ. */
	bus->rand_state = (conn_now() ^ (uint64_t)(uintptr_t)bus ^ ((uint64_t)getpid() << 32)) | 1;
	if (!(bus->address = strdup(path))) {
		bus_close(bus);
		bus_error_set(err, BUS_ERROR_FAILED, "out of memory");
		return -ENOMEM;
	}
	int r = hello(bus, err);
	if (r == -ECONNRESET && bus_error_is_set(&bus->notice)) {
		/* Refused with an ERROR that answered nothing, then closed. */
		if (err)
			*err = bus->notice;
		r = -EREMOTE;
	} else if (r == -ECONNRESET) {
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "no answer to Hello from busd at %s: %s",
			      path, bus->lost_reason);
	}
	if (r < 0) {
		bus_close(bus);
		return r;
	}
	*busp = bus;
	return 0;
}

int bus_connect(bus_t **busp, const char *path, bus_error_t *err)
{
	char def[PATH_MAX];

	bus_error_clear(err);
	if (!busp)
		return -EINVAL;
	*busp = NULL;
	if (!path) {
		int r = bus_default_address(def, sizeof(def));
		if (r < 0) {
			bus_error_set(err, BUS_ERROR_DISCONNECTED, "no busd socket: %s",
				      r == -ENOENT ? "neither $BUS_ADDRESS nor $XDG_RUNTIME_DIR is set" :
						     "the socket path is too long");
			return r;
		}
		path = def;
	}
	return connect_at(busp, path, NULL, NULL, err);
}

int bus_connect_system(bus_t **busp, bus_error_t *err)
{
	char path[PATH_MAX];
	const char *from;

	bus_error_clear(err);
	if (!busp)
		return -EINVAL;
	*busp = NULL;
	int r = system_address(path, sizeof(path), &from);
	if (r < 0) {
		bus_error_set(err, BUS_ERROR_DISCONNECTED,
			      "no system bus: $BUS_SYSTEM_ADDRESS is too long for a socket path");
		return r;
	}
	return connect_at(busp, path, "system", from, err);
}

int bus_connect_user(bus_t **busp, bus_error_t *err)
{
	char path[PATH_MAX];
	const char *from = NULL;

	bus_error_clear(err);
	if (!busp)
		return -EINVAL;
	*busp = NULL;
	int r = user_address(path, sizeof(path), &from);
	if (r < 0) {
		bus_error_set(err, BUS_ERROR_DISCONNECTED, "no user bus: %s",
			      r == -ENOENT ? "neither $BUS_ADDRESS nor $XDG_RUNTIME_DIR is set"
					   : "the socket path is too long");
		return r;
	}
	return connect_at(busp, path, "user", from, err);
}

/* ---------------------------------------------------------------- accessors */

const char *bus_unique_name(const bus_t *bus)
{
	return bus && bus->unique ? bus->unique : NULL;
}

size_t bus_get_max_frame_size(const bus_t *bus)
{
	return bus ? bus->max_frame : 0;
}

int bus_is_connected(const bus_t *bus)
{
	return bus && conn_usable(bus);
}

void bus_set_disconnect_handler(bus_t *bus, bus_disconnect_fn fn, void *userdata)
{
	if (!bus)
		return;
	bus->on_disconnect = fn;
	bus->disconnect_data = userdata;
}

void bus_set_connection_handler(bus_t *bus, bus_connection_fn fn, void *userdata)
{
	if (!bus)
		return;
	bus->on_connection = fn;
	bus->connection_data = userdata;
}
