/* bridge-peer.c - the bus end of the bridge tests (tests/test-bridge.sh):
 * emits a run of events, or counts the events of a topic that arrive on
 * its bus until an end marker does.
 *
 *   bridge-peer emit TOPIC N       N events on TOPIC (EchoRequest bodies,
 *                                  text "0".."N-1"), then one on TOPIC.end
 *   bridge-peer call NAME N        N Echo calls to NAME, one after the
 *                                  other; print "ok K failed F" and the
 *                                  first error
 *   bridge-peer callfd NAME 1      one Echo call to NAME passing a descriptor;
 *                                  print the reply's text or the error
 *   bridge-peer count PATTERN TOPIC N
 *                                  subscribe to PATTERN, print "ready", count
 *                                  the events on TOPIC and the distinct texts
 *                                  until TOPIC.end and N distinct ones have
 *                                  arrived (or nothing came for 30 s); print
 *                                  "events E distinct D"
 *
 * Events that crossed the bridge in a queue group (two bridges on one bus)
 * may come in another order than emitted, so the marker alone does not
 * end the count; copies a loop would make come with the rest. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bus/bus.h>

#include "echo.pb-c.h"

#define SEEN_MAX 1000000

struct counter {
	const char *topic;
	char end[256];
	unsigned long events, distinct;
	unsigned char *seen;
	int done;
	time_t last; /* when the last event came */
};

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct counter *c = ud;

	(void)bus;
	c->last = time(NULL);
	if (!strcmp(ev->member, c->end)) {
		c->done = 1;
		return;
	}
	if (strcmp(ev->member, c->topic))
		return;
	c->events++;
	Busd__Examples__EchoRequest *r = (Busd__Examples__EchoRequest *)bus_msg_unpack(
		ev, &busd__examples__echo_request__descriptor);
	if (!r)
		return;
	unsigned long i = strtoul(r->text, NULL, 10);
	if (i < SEEN_MAX && !c->seen[i]) {
		c->seen[i] = 1;
		c->distinct++;
	}
	busd__examples__echo_request__free_unpacked(r, NULL);
}

static int emit(bus_t *bus, const char *topic, unsigned long n)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	char text[32], end[256];

	for (unsigned long i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "%lu", i);
		req.text = text;
		int r;
		while ((r = bus_emit(bus, topic, &req.base)) == -EAGAIN)
			bus_flush(bus);
		if (r < 0) {
			fprintf(stderr, "bridge-peer: emit %lu: %s\n", i, strerror(-r));
			return 1;
		}
		if (i % 256 == 255)
			bus_flush(bus);
	}
	snprintf(end, sizeof(end), "%s.end", topic);
	req.text = "end";
	if (bus_emit(bus, end, &req.base) < 0 || bus_flush(bus) < 0)
		return 1;
	printf("emitted %lu\n", n);
	return 0;
}

static int calls(bus_t *bus, const char *name, unsigned long n)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	unsigned long good = 0, bad = 0;
	char first[768] = "";
	uint8_t body[64];

	req.text = "ping";
	size_t len = busd__examples__echo_request__pack(&req, body);
	for (unsigned long i = 0; i < n; i++) {
		bus_error_t err;
		void *reply = NULL;
		size_t rlen = 0;
		if (bus_call(bus, name, NULL, "Echo", "busd.examples.EchoRequest", body, len,
			     30ull * 1000000ull, &err, &reply, &rlen) == 0 && rlen == len &&
		    memcmp(reply, body, len) == 0) {
			good++;
		} else {
			if (!bad++)
				snprintf(first, sizeof(first), "%s: %s", err.name, err.message);
		}
		free(reply);
	}
	printf("ok %lu failed %lu%s%s\n", good, bad, bad ? " first " : "", first);
	return bad ? 1 : 0;
}

static int call_fd(bus_t *bus, const char *name)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	uint8_t body[64];
	int fd = 0; /* stdin: any descriptor will do */
	bus_error_t err;
	void *reply = NULL;
	size_t rlen = 0;

	req.text = "with a descriptor";
	size_t len = busd__examples__echo_request__pack(&req, body);
	int r = bus_call_fds(bus, name, NULL, "Echo", "busd.examples.EchoRequest", body, len, &fd, 1,
			     30ull * 1000000ull, &err, &reply, &rlen, NULL, NULL);
	if (r == 0)
		printf("reply %zu bytes\n", rlen);
	else
		printf("%s: %s\n", err.name, err.message);
	free(reply);
	return r == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	bus_error_t err;
	bus_t *bus;
	int status = 2;

	if (argc < 4 || argc != (strcmp(argv[1], "count") ? 4 : 5) ||
	    (strcmp(argv[1], "emit") && strcmp(argv[1], "count") && strcmp(argv[1], "call") &&
	     strcmp(argv[1], "callfd"))) {
		fprintf(stderr, "usage: bridge-peer emit TOPIC N | call NAME N | count PATTERN TOPIC N\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bus_connect(&bus, NULL, &err) < 0) {
		fprintf(stderr, "bridge-peer: %s: %s\n", err.name, err.message);
		return 1;
	}
	if (!strcmp(argv[1], "callfd")) {
		status = call_fd(bus, argv[2]);
	} else if (!strcmp(argv[1], "call")) {
		status = calls(bus, argv[2], strtoul(argv[3], NULL, 10));
	} else if (!strcmp(argv[1], "emit")) {
		status = emit(bus, argv[2], strtoul(argv[3], NULL, 10));
	} else {
		struct counter c = { .topic = argv[3] };
		snprintf(c.end, sizeof(c.end), "%s.end", argv[3]);
		if (!(c.seen = calloc(SEEN_MAX, 1)) ||
		    bus_subscribe(bus, NULL, argv[2], on_event, &c, &err) < 0) {
			fprintf(stderr, "bridge-peer: subscribe: %s\n", err.message);
		} else {
			unsigned long want = strtoul(argv[4], NULL, 10);
			printf("ready\n");
			c.last = time(NULL);
			while (!(c.done && c.distinct >= want) && time(NULL) - c.last < 30) {
				if (bus_wait(bus, 1000000) < 0 || bus_process(bus) < 0)
					break;
				while (bus_process(bus) > 0)
					;
			}
			printf("events %lu distinct %lu\n", c.events, c.distinct);
			status = c.done && c.distinct >= want ? 0 : 1;
		}
		free(c.seen);
	}
	bus_close(bus);
	return status;
}
