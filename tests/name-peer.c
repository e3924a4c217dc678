/* name-peer.c - a peer driven line by line from stdin, for test-monitor.sh:
 * it can give its name up and go on sending, as a service that hands its
 * name over to a successor and lingers would.
 *
 *   name-peer NAME
 *
 * Owns NAME, prints "id :N" and then reads commands:
 *   emit TOPIC   an event on TOPIC (no body)
 *   release      give NAME up
 *   quit         exit
 * After each command a round trip to busd (a Stats call) makes sure busd
 * has routed what the command sent; then "done" is printed. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bus/bus.h>

static int round_trip(bus_t *bus, bus_error_t *err)
{
	void *rep = NULL;
	size_t len = 0;
	int r = bus_call(bus, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", NULL, 0,
			 5000000, err, &rep, &len);
	free(rep);
	return r;
}

int main(int argc, char **argv)
{
	bus_t *bus = NULL;
	bus_error_t err;
	char line[512];

	if (argc != 2) {
		fprintf(stderr, "usage: name-peer NAME\n");
		return 2;
	}
	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, argv[1], &err) < 0) {
		fprintf(stderr, "name-peer: %s: %s\n", err.name, err.message);
		bus_close(bus);
		return 1;
	}
	printf("id %s\n", bus_unique_name(bus));
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		int r = 0;
		if (strncmp(line, "emit ", 5) == 0)
			r = bus_emit_raw(bus, line + 5, "", NULL, 0);
		else if (strcmp(line, "release") == 0)
			r = bus_release_name(bus, argv[1], &err);
		else if (strcmp(line, "quit") == 0)
			break;
		if (r < 0 || round_trip(bus, &err) < 0) {
			fprintf(stderr, "name-peer: \"%s\" failed\n", line);
			bus_close(bus);
			return 1;
		}
		printf("done\n");
		fflush(stdout);
	}
	bus_close(bus);
	return 0;
}
