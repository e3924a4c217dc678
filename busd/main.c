/* main.c - busd's command line, its configuration at start and on SIGHUP,
 * signal handling (through libevent), systemd notification and the event
 * loop around the broker. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "broker.h"
#include "dispatch.h"
#include "frame.h"
#include "log.h"
#include "notify.h"
#include "policy.h"
#include "settings.h"
#include "supervise.h"
#include "wire.h"

struct daemon {
	struct event_base *base;
	struct broker *broker;
	struct dispatch_source sig_int, sig_term, sig_hup;
	struct config cfg;
	struct config_cmdline cmdline;
	int activated; /* the socket came from systemd */
	int stopping;  /* SIGINT/SIGTERM seen */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: busd [OPTIONS]\n"
		"The busd service bus broker: routes calls and events between local processes.\n"
		"\n"
		"  -c, --config FILE          configuration file (busd runs on built-in\n"
		"                             defaults without it); the default is\n"
		"                             " BUSD_CONFIG_FILE "\n"
		"      --check-config         validate the configuration, print the file read,\n"
		"                             the effective values and where each comes from,\n"
		"                             and exit\n"
		"  -s, --socket PATH          listen on PATH (default: $BUS_ADDRESS, else the\n"
		"                             file's [listen] socket, else " BUS_SYSTEM_SOCKET "\n"
		"                             for root and $XDG_RUNTIME_DIR/busd.sock otherwise)\n"
		"  -m, --max-frame-size BYTES largest frame accepted, with K/M suffixes\n"
		"                             (default 16M, at least 1K)\n"
		"  -v, --verbose              log debug messages\n"
		"  -h, --help                 show this help\n"
		"  -V, --version              show the version\n"
		"\n"
		"busd runs in the foreground and logs to stderr (or syslog, see busd.conf(5)).\n"
		"SIGHUP: re-read the configuration and apply limits, logging and policy live;\n"
		"restart the services whose files changed, stop removed ones, start new ones.\n"
		"SIGINT/SIGTERM: stop the services (last started first), stop accepting,\n"
		"answer pending calls with bus.Error.NoReply, flush queued output, remove the\n"
		"socket file and exit 0.\n"
		"Exit status: 0 clean exit, 1 runtime failure, 2 usage or configuration error.\n");
}

static uint64_t monotonic_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void logging_apply(const struct config *c)
{
	log_set_level(c->log_level);
	log_set_syslog(c->log_target == LOG_TARGET_SYSLOG);
}

static void notify_ready(const struct daemon *d)
{
	notify_send("READY=1\nSTATUS=listening on %s, %u peers", d->cfg.socket,
		    d->broker->n_peers);
}

/* ---------------------------------------------------------------- signals */

#define daemon_of(src, member) \
	((struct daemon *)(void *)((char *)(src) - offsetof(struct daemon, member)))

static void services_stopped(void *arg)
{
	struct daemon *d = arg;

	broker_shutdown(d->broker);
}

/* The services first, in reverse start order, while the bus still routes
 * (they may need it to stop cleanly); then the broker. */
static void stop(struct daemon *d, const char *sig)
{
	if (d->stopping) {
		log_notice("received %s, already shutting down", sig);
		return;
	}
	d->stopping = 1;
	log_notice("received %s, shutting down", sig);
	notify_send("STOPPING=1\nSTATUS=shutting down");
	if (d->broker->supervisor)
		supervisor_shutdown(d->broker->supervisor, services_stopped, d);
	else
		broker_shutdown(d->broker);
}

/* Hand the configuration's services to the supervisor (made when the
 * first service is declared, at start or on a reload), and start the boot
 * ones: the socket listens whenever this runs. */
static void services_apply(struct daemon *d)
{
	struct broker *b = d->broker;

	if (!b->supervisor && d->cfg.services.n &&
	    !(b->supervisor = supervisor_new(b, d->cfg.socket))) {
		log_error("out of memory: the services are not started");
		return;
	}
	if (b->supervisor) {
		supervisor_apply(b->supervisor, &d->cfg.services);
		supervisor_boot(b->supervisor);
	}
}

static void on_sigint(struct dispatch_source *s, short what)
{
	(void)what;
	stop(daemon_of(s, sig_int), "SIGINT");
}

static void on_sigterm(struct dispatch_source *s, short what)
{
	(void)what;
	stop(daemon_of(s, sig_term), "SIGTERM");
}

static void count_one(struct service *svc, void *ud)
{
	(void)svc;
	(*(unsigned *)ud)++;
}

static unsigned services_count(struct daemon *d)
{
	unsigned n = 0;

	supervisor_each(d->broker->supervisor, count_one, &n);
	return n;
}

/* SIGHUP: a new configuration, or the old one kept when the file is bad. */
static void on_reload(struct dispatch_source *s, short what)
{
	struct daemon *d = daemon_of(s, sig_hup);
	struct config next;
	struct config_errors errs = { 0 };

	(void)what;
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading the configuration",
		    (unsigned long long)monotonic_usec());
	int r = config_load(&next, &d->cmdline, &errs);
	char *errors = errs.text;
	if (r < 0) {
		char *first = errors ? strtok(errors, "\n") : NULL;
		for (char *line = first; line; line = strtok(NULL, "\n"))
			log_error("reload: %s", line);
		log_error("reload failed; keeping the running configuration");
		/* READY=1 ends the reload for systemd; STATUS= (what systemctl
		 * status shows) says it failed, with the first error. */
		notify_send("READY=1\nSTATUS=reload failed, old configuration kept: %.400s",
			    first ? first : "out of memory");
		free(errors);
		return;
	}
	free(errors);
	if (strcmp(next.socket, d->cfg.socket) != 0 || next.mode != d->cfg.mode ||
	    strcmp(next.group, d->cfg.group) != 0)
		log_notice("reload: listen.* changed; it takes effect when busd restarts");
	/* The listener stays what it is; everything else is the new file's. */
	snprintf(next.socket, sizeof(next.socket), "%s", d->cfg.socket);
	next.mode = d->cfg.mode;
	snprintf(next.group, sizeof(next.group), "%s", d->cfg.group);
	struct policy *old = d->cfg.policy;
	service_set_free(&d->cfg.services); /* empty: its services are the supervisor's */
	d->cfg = next;
	logging_apply(&d->cfg);
	broker_set_limits(d->broker, &d->cfg); /* the broker now uses the new policy */
	broker_policy_changed(d->broker);
	policy_free(old);
	if (!d->stopping)
		services_apply(d);
	log_notice("reloaded the configuration (log level %s, max frame %u bytes, "
		   "%u pending calls, %u connections per uid, %u names per peer, "
		   "%zu policy rules, %u services)",
		   config_level_name(d->cfg.log_level), d->cfg.max_frame_size,
		   d->cfg.max_pending_calls, d->cfg.max_connections_per_uid,
		   d->cfg.max_names_per_peer, d->cfg.policy ? d->cfg.policy->n : 0,
		   services_count(d));
	notify_ready(d);
}

/* ---------------------------------------------------------------- main */

static int parse_args(int argc, char **argv, struct config_cmdline *cl, int *check)
{
	enum { OPT_CHECK = 0x100 };
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "socket", required_argument, NULL, 's' },
		{ "max-frame-size", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":c:s:m:vhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cl->file = optarg; break;
		case OPT_CHECK: *check = 1; break;
		case 's': cl->socket = optarg; break;
		case 'm': cl->max_frame_size = optarg; break;
		case 'v': cl->verbose = 1; break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("busd %s (protocol %d)\n", PACKAGE_VERSION, WIRE_VERSION);
			return 0;
		case ':':
			fprintf(stderr, "busd: option '%s' needs a value; see busd --help\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "busd: unknown option '%s'; see busd --help\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "busd: unexpected argument '%s'; see busd --help\n", argv[optind]);
		return 2;
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct daemon d = { 0 };
	int check = 0;

	int r = parse_args(argc, argv, &d.cmdline, &check);
	if (r >= 0)
		return r;
	struct config_errors errs = { 0 };
	r = config_load(&d.cfg, &d.cmdline, &errs);
	/* One line per problem, each naming its file:line, variable or option. */
	for (char *line = errs.text ? strtok(errs.text, "\n") : NULL; line; line = strtok(NULL, "\n"))
		fprintf(stderr, "busd: %s\n", line);
	if (errs.oom)
		fprintf(stderr, "busd: out of memory while reporting configuration errors\n");
	free(errs.text);
	if (r < 0)
		return 2;
	if (check) {
		config_print(&d.cfg, stdout);
		config_free(&d.cfg);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	logging_apply(&d.cfg);

	signal(SIGPIPE, SIG_IGN);
	int passed = notify_listen_fd();
	if (passed == -EINVAL) {
		config_free(&d.cfg);
		return 1;
	}
	d.activated = passed >= 0;
	frame_memory_init();
	/* libevent's EVENT_NO* and EVENT_SHOW_METHOD variables are not
	 * busd's interface, and reading them safely (the setuid check) costs
	 * an idle busd another 64 KiB of libc's code in its resident set. */
	struct event_config *ec = event_config_new();
	if (ec && event_config_set_flag(ec, EVENT_BASE_FLAG_IGNORE_ENV) == 0)
		d.base = event_base_new_with_config(ec);
	if (ec)
		event_config_free(ec);
	if (!d.base) {
		log_error("cannot create the event loop");
		config_free(&d.cfg);
		return 1;
	}
	d.broker = broker_new(d.base, &d.cfg, d.activated ? passed : -1);
	if (!d.broker) {
		event_base_free(d.base);
		config_free(&d.cfg);
		return 1;
	}
	/* Signals come through the loop like everything else (dispatch.h). */
	struct dispatch *disp = &d.broker->dispatch;
	if (dispatch_source_init(&d.sig_int, disp, SIGINT, EV_SIGNAL | EV_PERSIST, on_sigint) < 0 ||
	    dispatch_source_init(&d.sig_term, disp, SIGTERM, EV_SIGNAL | EV_PERSIST, on_sigterm) < 0 ||
	    dispatch_source_init(&d.sig_hup, disp, SIGHUP, EV_SIGNAL | EV_PERSIST, on_reload) < 0 ||
	    dispatch_source_add(&d.sig_int, NULL) < 0 || dispatch_source_add(&d.sig_term, NULL) < 0 ||
	    dispatch_source_add(&d.sig_hup, NULL) < 0) {
		log_error("cannot install signal handlers");
		config_free(&d.cfg);
		return 1;
	}
	char file[sizeof(d.cfg.file) + 64];
	config_file_describe(&d.cfg, file, sizeof(file));
	if (d.activated)
		log_notice("busd %s listening on the socket systemd passed (max frame %u bytes; %s)",
			   PACKAGE_VERSION, d.cfg.max_frame_size, file);
	else
		log_notice("busd %s listening on %s (max frame %u bytes; %s)", PACKAGE_VERSION,
			   d.cfg.socket, d.cfg.max_frame_size, file);
	services_apply(&d); /* the socket listens: start the boot services */
	notify_ready(&d);

	r = event_base_dispatch(d.base);

	dispatch_source_free(&d.sig_int);
	dispatch_source_free(&d.sig_term);
	dispatch_source_free(&d.sig_hup);
	/* Reaped already after a signal; killed here if the loop failed. */
	supervisor_free(d.broker->supervisor);
	d.broker->supervisor = NULL;
	broker_free(d.broker);
	config_free(&d.cfg);
	event_base_free(d.base);
	if (r < 0) {
		log_error("event loop failed");
		return 1;
	}
	log_notice("stopped");
	return 0;
}
