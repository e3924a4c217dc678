/* idle-client.c - the smallest useful libbus client, for measuring what a
 * peer costs in memory (tests/bench/footprint.sh): it connects, owns a name
 * and then idles in bus_run() until killed or until busd goes away.
 *
 *   tests/bench/idle-client [--socket PATH] [NAME]
 *
 * Once NAME (default org.busd.Idle) is owned it prints one line,
 * "ready UNIQUE NAME", so that a script waits for that instead of sleeping.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include <bus/bus.h>

#define PROG "idle-client"

static void usage(FILE *f)
{
	fprintf(f, "Usage: " PROG " [--socket PATH] [NAME]\n"
		   "Connect to busd, own NAME (default org.busd.Idle), print \"ready UNIQUE NAME\"\n"
		   "and idle until killed. The socket defaults to $BUS_ADDRESS, then\n"
		   "/run/busd/bus.sock as root and $XDG_RUNTIME_DIR/busd.sock otherwise.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *socket = NULL, *name = "org.busd.Idle";
	bus_error_t err;
	bus_t *bus = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (optind < argc) {
		usage(stderr);
		return 2;
	}

	if (bus_connect(&bus, socket, &err) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", err.name, err.message);
		return 1;
	}
	if (bus_request_name(bus, name, &err) < 0) {
		fprintf(stderr, PROG ": cannot own %s: %s: %s\n", name, err.name, err.message);
		bus_close(bus);
		return 1;
	}
	printf("ready %s %s\n", bus_unique_name(bus), name);
	fflush(stdout);

	r = bus_run(bus);
	bus_close(bus);
	if (r < 0) {
		fprintf(stderr, PROG ": lost the connection to busd\n");
		return 1;
	}
	return 0;
}
