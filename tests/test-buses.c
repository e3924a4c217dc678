/* test-buses.c - which bus libbus connects to: bus_connect_system() goes
 * where $BUS_SYSTEM_ADDRESS says, else to the configured system socket,
 * and never to $BUS_ADDRESS; bus_connect_user() goes where $BUS_ADDRESS
 * says, else to $XDG_RUNTIME_DIR/busd.sock; and when there is no broker
 * the error names the bus, the path and the variable that gave it. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bus/bus.h>
#include "harness.h"
#include "tap.h"

/* Connected to the test's busd: a unique id busd gave, and the address it
 * was given. */
static void connects(int r, bus_t *bus, const bus_error_t *err, const char *what)
{
	is_int(r, 0, "%s connects (%s)", what, r < 0 ? err->message : "ok");
	ok(bus && bus_unique_name(bus) && bus_unique_name(bus)[0] == ':',
	   "  and busd gave it a unique id (%s)", bus ? bus_unique_name(bus) : "none");
	bus_close(bus);
}

int main(void)
{
	char path[PATH_MAX], missing[PATH_MAX], sock[PATH_MAX], want[PATH_MAX + 64];
	bus_error_t err;
	bus_t *bus = NULL;
	int r;

	plan(24);
	harness_start(NULL);
	snprintf(sock, sizeof(sock), "%s", harness_socket());
	snprintf(missing, sizeof(missing), "%s/missing.sock", harness_dir());

	/* ---- the system bus */
	unsetenv("BUS_SYSTEM_ADDRESS");
	is_int(bus_system_address(path, sizeof(path)), 0, "bus_system_address() without the variable");
	is_str(path, BUS_SYSTEM_SOCKET, "  gives the configured system socket");
	is_int(bus_system_address(path, 4), -ENAMETOOLONG, "  and -ENAMETOOLONG when it does not fit");

	setenv("BUS_SYSTEM_ADDRESS", sock, 1);
	setenv("BUS_ADDRESS", missing, 1);
	is_int(bus_system_address(path, sizeof(path)), 0, "bus_system_address() with $BUS_SYSTEM_ADDRESS");
	is_str(path, sock, "  gives $BUS_SYSTEM_ADDRESS");
	r = bus_connect_system(&bus, &err);
	connects(r, bus, &err, "bus_connect_system() to $BUS_SYSTEM_ADDRESS, $BUS_ADDRESS elsewhere,");

	setenv("BUS_SYSTEM_ADDRESS", missing, 1);
	setenv("BUS_ADDRESS", sock, 1);
	r = bus_connect_system(&bus, &err);
	is_int(r, -ENOENT, "bus_connect_system() with no busd at $BUS_SYSTEM_ADDRESS fails, "
			   "though $BUS_ADDRESS has one");
	snprintf(want, sizeof(want), "no system bus at %s (from $BUS_SYSTEM_ADDRESS): %s", missing,
		 strerror(ENOENT));
	is_str(err.message, want, "  saying which bus, where and why");
	is_str(err.name, BUS_ERROR_DISCONNECTED, "  as %s", BUS_ERROR_DISCONNECTED);

	setenv("BUS_SYSTEM_ADDRESS", "", 1);
	is_int(bus_system_address(path, sizeof(path)), 0, "an empty $BUS_SYSTEM_ADDRESS");
	is_str(path, BUS_SYSTEM_SOCKET, "  counts as unset");

	/* ---- the user bus */
	setenv("BUS_ADDRESS", sock, 1);
	setenv("XDG_RUNTIME_DIR", "/nonexistent", 1);
	is_int(bus_user_address(path, sizeof(path)), 0, "bus_user_address() with $BUS_ADDRESS");
	is_str(path, sock, "  gives $BUS_ADDRESS before $XDG_RUNTIME_DIR");
	r = bus_connect_user(&bus, &err);
	connects(r, bus, &err, "bus_connect_user() to $BUS_ADDRESS");

	/* $XDG_RUNTIME_DIR/busd.sock: a link to the test's socket does. */
	char link[PATH_MAX + 16];
	snprintf(link, sizeof(link), "%s/busd.sock", harness_dir());
	require(symlink(sock, link) == 0, "%s links to the test's busd", link);
	unsetenv("BUS_ADDRESS");
	setenv("XDG_RUNTIME_DIR", harness_dir(), 1);
	is_int(bus_user_address(path, sizeof(path)), 0, "bus_user_address() without $BUS_ADDRESS");
	is_str(path, link, "  gives $XDG_RUNTIME_DIR/busd.sock");
	r = bus_connect_user(&bus, &err);
	connects(r, bus, &err, "bus_connect_user() to $XDG_RUNTIME_DIR/busd.sock");

	unsetenv("XDG_RUNTIME_DIR");
	is_int(bus_connect_user(&bus, &err), -ENOENT,
	       "bus_connect_user() without $BUS_ADDRESS and $XDG_RUNTIME_DIR fails");
	is_str(err.message, "no user bus: neither $BUS_ADDRESS nor $XDG_RUNTIME_DIR is set",
	       "  saying what it looked for");

	unsetenv("BUS_ADDRESS");
	return harness_done();
}
