/* main.c - busd's command line, signal handling (through libevent) and the
 * event loop around the broker. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "log.h"
#include "wire.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: busd [OPTIONS]\n"
		"The busd service bus broker: routes calls and events between local processes.\n"
		"\n"
		"  -s, --socket PATH          listen on PATH (default: $BUS_ADDRESS, else\n"
		"                             /run/busd/bus.sock for root, else\n"
		"                             $XDG_RUNTIME_DIR/busd.sock)\n"
		"  -m, --max-frame-size BYTES largest frame accepted, with K/M suffixes\n"
		"                             (default 16M, at least 1K)\n"
		"  -v, --verbose              log debug messages\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n"
		"\n"
		"busd runs in the foreground and logs to stderr. SIGINT/SIGTERM: stop\n"
		"accepting, flush queued output, remove the socket file and exit 0.\n");
}

static int parse_size(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	unsigned long long unit = 1;
	if (*end == 'K' || *end == 'k')
		unit = 1024, end++;
	else if (*end == 'M' || *end == 'm')
		unit = 1024 * 1024, end++;
	/* Check before scaling: a huge count must not wrap to a small size. */
	if (*end || v > UINT32_MAX / unit)
		return -1;
	v *= unit;
	if (v < 1024)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int default_socket(char *buf, size_t len)
{
	const char *env = getenv("BUS_ADDRESS");
	int n;
	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/busd/bus.sock");
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, len, "%s/busd.sock", env);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct broker *b = arg;
	log_notice("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	broker_shutdown(b);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "max-frame-size", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char path[PATH_MAX];
	const char *socket_path = NULL;
	uint32_t max_frame = WIRE_DEFAULT_MAX_FRAME;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "s:m:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &max_frame) < 0) {
				fprintf(stderr, "busd: invalid --max-frame-size '%s' "
					"(bytes, K or M suffix, 1K to 4G-1)\n", optarg);
				return 2;
			}
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("busd %s (protocol %d)\n", PACKAGE_VERSION, WIRE_VERSION);
			return 0;
		default:
			if (optopt)
				fprintf(stderr, "busd: option '-%c' is unknown or needs a value; see busd --help\n", optopt);
			else
				fprintf(stderr, "busd: unknown option '%s'; see busd --help\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "busd: unexpected argument '%s'; see busd --help\n", argv[optind]);
		return 2;
	}
	if (!socket_path) {
		int r = default_socket(path, sizeof(path));
		if (r < 0) {
			fprintf(stderr, "busd: no socket path: give --socket, or set $BUS_ADDRESS or $XDG_RUNTIME_DIR\n");
			return 2;
		}
		socket_path = path;
	}

	signal(SIGPIPE, SIG_IGN);
	struct event_base *base = event_base_new();
	if (!base) {
		log_error("cannot create the event loop");
		return 1;
	}
	struct broker *b = broker_new(base, socket_path, max_frame);
	if (!b) {
		event_base_free(base);
		return 1;
	}
	struct event *sigint = evsignal_new(base, SIGINT, on_signal, b);
	struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, b);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) < 0 || evsignal_add(sigterm, NULL) < 0) {
		log_error("cannot install signal handlers");
		return 1;
	}
	log_notice("busd %s listening on %s (max frame %u bytes)", PACKAGE_VERSION, socket_path,
		   max_frame);

	int r = event_base_dispatch(base);

	broker_free(b);
	event_free(sigint);
	event_free(sigterm);
	event_base_free(base);
	if (r < 0) {
		log_error("event loop failed");
		return 1;
	}
	log_notice("stopped");
	return 0;
}
