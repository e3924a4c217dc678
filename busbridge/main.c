/* main.c - busbridge: joins the local bus to others over a NATS cluster
 * (docs/bridge.md). An ordinary libbus client: it owns the names it
 * imports, calls the names it exports, and subscribes and emits the
 * topics it forwards, all through busd and its policy.
 *
 *   busbridge [-c FILE] [--socket PATH] [--check-config]
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "bridge.h"

#ifndef BRIDGE_CONFIG_FILE
#define BRIDGE_CONFIG_FILE "/etc/busd/bridge.conf"
#endif

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct bridge *b = arg;

	(void)sig;
	(void)what;
	b->stopping = 1;
	event_base_loopbreak(b->base);
}

static void on_connection(bus_t *bus, enum bus_conn_event event, const char *subject,
			  const bus_error_t *err, void *userdata)
{
	(void)bus;
	(void)userdata;
	if (event == BUS_CONN_LOST)
		log_msg("lost busd (%s); reconnecting", err ? err->message : "connection closed");
	else if (event == BUS_CONN_RESTORED)
		log_msg("reconnected to busd as %s", subject);
	else
		log_msg("busd refused %s: %s: %s", subject ? subject : "a frame",
			err ? err->name : "", err ? err->message : "");
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: busbridge [-c FILE] [--socket PATH] [--check-config]\n"
		   "Join the local bus to other buses over a NATS cluster: names exported\n"
		   "and imported, topics forwarded both ways (busbridge(8), bridge.conf).\n"
		   "  -c, --config FILE  the configuration (default " BRIDGE_CONFIG_FILE ")\n"
		   "  -s, --socket PATH  busd's socket (default: [bridge] socket, else\n"
		   "                     $BUS_ADDRESS, else the system or user bus)\n"
		   "      --check-config read the configuration, say what is wrong\n"
		   "                     (FILE:LINE: what) or what it would do, and exit\n");
}

static void print_plan(const struct bridge_conf *c, const char *path)
{
	printf("%s: OK: node %s on bus %s, subjects under %s., %zu NATS URL%s\n", path, c->node,
	       c->bus_id, c->prefix, c->n_servers, c->n_servers == 1 ? "" : "s");
	for (size_t i = 0; i < c->n_exports; i++)
		printf("  export %s\n", c->exports[i]);
	for (size_t i = 0; i < c->n_imports; i++)
		printf("  import %s\n", c->imports[i]);
	for (size_t i = 0; i < c->n_topics; i++)
		printf("  topic  %s\n", c->topics[i]);
}

static int run(struct bridge *b, const char *socket)
{
	bus_error_t err;
	char name[256];

	if (bus_connect(&b->bus, socket, &err) < 0) {
		log_msg("cannot connect to busd: %s: %s", err.name, err.message);
		return 1;
	}
	bus_set_connection_handler(b->bus, on_connection, b);
	bus_set_reconnect(b->bus, 1);
	snprintf(name, sizeof(name), BRIDGE_NAME_PREFIX "%s.%s", b->conf->bus_id, b->conf->node);
	if (bus_request_name(b->bus, name, &err) < 0) {
		log_msg("cannot own %s (is another bridge with node %s on this bus?): %s: %s", name,
			b->conf->node, err.name, err.message);
		return 1;
	}
	if (link_connect(b) < 0) {
		log_msg("cannot reach the NATS cluster");
		return 1;
	}
	if (bus_attach_event(b->bus, b->base) < 0 || calls_start(b) < 0 || events_start(b) < 0)
		return 1;
	char url[256] = "";
	natsConnection_GetConnectedUrl(b->nc, url, sizeof(url));
	log_msg("node %s ready: bus %s, NATS at %s", b->conf->node, bus_unique_name(b->bus), url);
	event_base_dispatch(b->base);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = BRIDGE_CONFIG_FILE, *socket = NULL;
	struct bridge_conf conf;
	struct bridge b;
	int c, check_only = 0;

	while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 's': socket = optarg; break;
		case 'C': check_only = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (conf_load(&conf, path) < 0)
		return 1;
	if (check_only) {
		print_plan(&conf, path);
		conf_free(&conf);
		return 0;
	}
	memset(&b, 0, sizeof(b));
	b.conf = &conf;
	if (!socket)
		socket = conf.socket;
	signal(SIGPIPE, SIG_IGN);
	/* cnats attaches its socket to the loop from its reconnect thread (link.c) */
	if (evthread_use_pthreads() < 0) {
		log_msg("cannot set up the event loop's locks");
		return 1;
	}
	b.base = event_base_new();
	struct event *sigterm = b.base ? evsignal_new(b.base, SIGTERM, on_signal, &b) : NULL;
	struct event *sigint = b.base ? evsignal_new(b.base, SIGINT, on_signal, &b) : NULL;
	if (!sigterm || !sigint || event_add(sigterm, NULL) < 0 || event_add(sigint, NULL) < 0) {
		log_msg("cannot set up the event loop");
		return 1;
	}
	int status = run(&b, socket);
	b.stopping = 1;
	calls_stop(&b);
	events_stop(&b);
	if (b.bus) {
		bus_flush(b.bus);
		bus_detach_event(b.bus);
	}
	if (b.nc) {
		natsConnection_Close(b.nc);
		natsConnection_Destroy(b.nc);
		b.nc = NULL;
	}
	/* cnats's threads are done: nothing queues any more */
	nats_CloseAndWait(5000);
	link_close(&b);
	bus_close(b.bus);
	event_free(sigterm);
	event_free(sigint);
	event_base_free(b.base);
	conf_free(&conf);
	return status;
}
