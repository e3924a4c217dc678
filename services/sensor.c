/* sensor.c - the example driver org.busd.Sensor: a process that owns a piece
 * of (here simulated) hardware, publishes what it measures as events on a
 * timer and answers Read calls with the latest value.
 *
 *   services/sensor [--socket PATH] [--name NAME] [--interval MS]
 *
 * Every interval each sensor takes a reading and emits it on
 * "sensor.<sensor>.reading"; seq counts readings across all sensors.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include <bus/bus.h>
#include "sensor.pb-c.h"

/* sensor.proto's FileDescriptorSet, linked in by the build (proto/sensor.fds.c). */
extern const unsigned char proto_sensor_fds[];
extern const size_t proto_sensor_fds_len;

#define SENSOR_ERROR_NO_SUCH "org.busd.Sensor.Error.NoSuchSensor"

/* The simulated hardware: two thermometers drifting in small steps. */
struct sensor {
	const char *name;
	char topic[64];
	double value;
	uint64_t seq;       /* of the latest reading */
	uint64_t time_usec; /* of the latest reading */
};
#define PROG "sensor"

static struct sensor sensors[] = {
	{ .name = "temp0", .value = 21.0 },
	{ .name = "temp1", .value = 35.0 },
};
#define N_SENSORS (sizeof(sensors) / sizeof(sensors[0]))

static struct event_base *base;
static bus_t *bus;
static uint64_t readings; /* taken so far, by all sensors */
static uint32_t noise = 2463534242u;

static uint64_t realtime_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A step in [-0.1, 0.1] from a xorshift generator: no hardware, no libm. */
static double drift(void)
{
	noise ^= noise << 13;
	noise ^= noise >> 17;
	noise ^= noise << 5;
	return ((double)(noise % 201u) - 100.0) / 1000.0;
}

static void reading_fill(const struct sensor *s, Busd__Examples__Reading *r)
{
	r->sensor = (char *)s->name;
	r->value = s->value;
	r->unit = "C";
	r->seq = s->seq;
	r->time_usec = s->time_usec;
}

static void sensor_measure(struct sensor *s)
{
	s->value += drift();
	s->seq = ++readings;
	s->time_usec = realtime_usec();
}

static void sensors_sample(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	for (size_t i = 0; i < N_SENSORS; i++) {
		struct sensor *s = &sensors[i];
		Busd__Examples__Reading r = BUSD__EXAMPLES__READING__INIT;

		sensor_measure(s);
		/* While busd is away (reconnecting) a reading has nobody to go
		 * to: the connection handler said so once, not once per tick. */
		if (!bus_is_connected(bus))
			continue;
		reading_fill(s, &r);
		int e = bus_emit(bus, s->topic, &r.base);
		if (e < 0)
			fprintf(stderr, "sensor: emit %s: %s\n", s->topic, strerror(-e));
	}
}

/* ---------------------------------------------------------------- Read */

static void sensor_read(Busd__Examples__Sensor_Service *svc, const Busd__Examples__ReadRequest *in,
			Busd__Examples__Reading_Closure closure, void *closure_data)
{
	Busd__Examples__Reading r = BUSD__EXAMPLES__READING__INIT;
	const struct sensor *s = in->sensor[0] ? NULL : &sensors[0];

	(void)svc;
	for (size_t i = 0; !s && i < N_SENSORS; i++)
		if (strcmp(sensors[i].name, in->sensor) == 0)
			s = &sensors[i];
	if (!s) {
		bus_call_fail(closure_data, SENSOR_ERROR_NO_SUCH, "no sensor \"%s\" (there are %s, %s)",
			      in->sensor, sensors[0].name, sensors[1].name);
		return;
	}
	reading_fill(s, &r);
	closure(&r, closure_data);
}

/* ---------------------------------------------------------------- main */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static void on_disconnect(bus_t *b, void *userdata)
{
	(void)b;
	*(int *)userdata = 1;
	event_base_loopbreak(base);
}

/* --reconnect: busd went away and came back, or is being waited for. */
static void on_connection(bus_t *b, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *userdata)
{
	(void)b;
	if (event == BUS_CONN_LOST) {
		fprintf(stderr, "%s: %s; reconnecting\n", PROG,
			err ? err->message : "lost the connection to busd");
	} else if (event == BUS_CONN_RESTORED) {
		fprintf(stderr, "%s: reconnected to busd as %s\n", PROG, subject);
	} else if (event == BUS_CONN_NAME_LOST) {
		/* someone else took the name meanwhile: nothing left to serve */
		fprintf(stderr, "%s: %s was taken while busd was away: %s\n", PROG, subject,
			err ? err->message : "");
		*(int *)userdata = 1;
		event_base_loopbreak(base);
	} else if (err) {
		fprintf(stderr, "%s: after reconnecting: %s: %s\n", PROG, err->name, err->message);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: sensor [--socket PATH] [--name NAME] [--reconnect] [--interval MS]\n"
		   "Own NAME (default org.busd.Sensor), serve busd.examples.Sensor.Read and emit\n"
		   "a busd.examples.Reading on sensor.<sensor>.reading every MS milliseconds\n"
		   "(default 1000) for the sensors temp0 and temp1.\n"
		   "The socket defaults to $BUS_ADDRESS, then /run/busd/bus.sock as root and\n"
		   "$XDG_RUNTIME_DIR/busd.sock for other users.\n"
		   "  -r, --reconnect  when busd goes away, keep running: reconnect (with\n"
		   "                   backoff), own NAME again and go on serving; without it\n"
		   "                   the program exits 1 when busd goes away.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "reconnect", no_argument, NULL, 'r' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Busd__Examples__Sensor_Service service = BUSD__EXAMPLES__SENSOR__INIT(sensor_);
	const char *socket = NULL, *name = "org.busd.Sensor";
	unsigned long interval = 1000;
	bus_error_t err;
	char *end;
	int c, lost = 0, reconnect = 0;

	while ((c = getopt_long(argc, argv, "s:n:i:rh", opts, NULL)) != -1) {
		switch (c) {
		case 's': socket = optarg; break;
		case 'n': name = optarg; break;
		case 'i':
			interval = strtoul(optarg, &end, 10);
			if (*end || interval < 1 || interval > 3600000) {
				fprintf(stderr, "sensor: --interval takes 1..3600000 ms, not \"%s\"\n",
					optarg);
				return 2;
			}
			break;
		case 'r': reconnect = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < N_SENSORS; i++) {
		snprintf(sensors[i].topic, sizeof(sensors[i].topic), "sensor.%s.reading",
			 sensors[i].name);
		sensor_measure(&sensors[i]); /* Read has a real value from the start */
	}

	if (bus_connect(&bus, socket, &err) < 0) {
		fprintf(stderr, "sensor: %s: %s\n", err.name, err.message);
		return 1;
	}
	/* The schema, then the export, then the name: busd reads a connection's
	 * frames in order, so once the name shows in busctl list, busctl
	 * introspect can describe what is served under it. */
	if (bus_add_schema(bus, proto_sensor_fds, proto_sensor_fds_len, &err) < 0)
		fprintf(stderr, "sensor: schema not registered (introspection will not work): %s: %s\n",
			err.name, err.message);
	if (bus_export(bus, NULL, name, &service.base, &err) < 0 ||
	    bus_request_name(bus, name, &err) < 0) {
		fprintf(stderr, "sensor: cannot serve %s: %s: %s\n", name, err.name, err.message);
		bus_close(bus);
		return 1;
	}

	base = event_base_new();
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, NULL);
	struct event *tick = event_new(base, -1, EV_PERSIST, sensors_sample, NULL);
	struct timeval tv = { .tv_sec = (time_t)(interval / 1000),
			      .tv_usec = (suseconds_t)(interval % 1000) * 1000 };
	if (!base || !sigterm || !sigint || !tick || event_add(sigterm, NULL) < 0 ||
	    event_add(sigint, NULL) < 0 || event_add(tick, &tv) < 0 ||
	    bus_attach_event(bus, base) < 0) {
		fprintf(stderr, "sensor: cannot set up the event loop\n");
		return 1;
	}
	if (reconnect) {
		bus_set_connection_handler(bus, on_connection, &lost);
		bus_set_reconnect(bus, 1);
	} else {
		bus_set_disconnect_handler(bus, on_disconnect, &lost);
	}
	event_base_dispatch(base);

	bus_flush(bus);
	bus_close(bus);
	event_free(tick);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(base);
	if (lost) {
		fprintf(stderr, "sensor: lost the connection to busd\n");
		return 1;
	}
	return 0;
}
