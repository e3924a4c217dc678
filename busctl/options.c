/* options.c - busctl's command line: the global options, which may come
 * before the command or anywhere among its arguments; each command's own
 * options; the command table; busctl --help, busctl help COMMAND and the
 * usage errors, all under the name busctl was invoked as; and main(). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busctl.h"

const char *busctl_name = "busctl";

extern const struct command cmd_help;

static const struct command *const commands[] = {
	&cmd_list, &cmd_status, &cmd_introspect, &cmd_call, &cmd_emit, &cmd_listen, &cmd_monitor,
	&cmd_capture, &cmd_decode, &cmd_wait, &cmd_services, &cmd_start, &cmd_stop, &cmd_restart,
	&cmd_help, NULL,
};

/* Long-only options get values above any character, so that they never
 * take a command's short letter. */
enum {
	OPT_MAX_SCHEMA = 0x100,
	OPT_SYSTEM,
	OPT_USER,
	OPT_NO_PAGER,
};

/* A global option and its row in --help. */
struct global_opt {
	struct option opt;
	const char *arg;  /* the value's name in --help, NULL for none */
	const char *text; /* the description; '\n' starts another line */
};

static const struct global_opt globals[] = {
	{ { "system", no_argument, NULL, OPT_SYSTEM }, NULL,
	  "the system bus: $BUS_SYSTEM_ADDRESS, else\n" BUS_SYSTEM_SOCKET },
	{ { "user", no_argument, NULL, OPT_USER }, NULL,
	  "your own bus: $BUS_ADDRESS, else\n$XDG_RUNTIME_DIR/busd.sock" },
	{ { "socket", required_argument, NULL, 's' }, "PATH",
	  "busd's socket, whichever bus it is; without\n"
	  "any of these: $BUS_ADDRESS, else the system\n"
	  "bus, else (no system bus socket) your own bus" },
	{ { "timeout", required_argument, NULL, 't' }, "SEC",
	  "how long to wait for each reply, and what\n"
	  "busctl wait, start, stop and restart wait\n"
	  "(default 25; 0: forever)" },
	{ { "json", optional_argument, NULL, 'j' }, "[=MODE]",
	  "JSON output; MODE: lines (-j, --json): list\n"
	  "prints one object per line; short: one\n"
	  "document on one line; pretty: one document,\n"
	  "indented; off. listen, monitor and decode\n"
	  "print one object per line in every mode" },
	{ { "max-schema-bytes", required_argument, NULL, OPT_MAX_SCHEMA }, "SIZE",
	  "schema bytes busctl fetches from the bus in\none run, at most (default 64M)" },
	{ { "no-pager", no_argument, NULL, OPT_NO_PAGER }, NULL,
	  "accepted and ignored: busctl never starts a\npager" },
	{ { "help", no_argument, NULL, 'h' }, NULL,
	  "this text; busctl help COMMAND (or busctl\nCOMMAND --help) for a command" },
	{ { "version", no_argument, NULL, 'V' }, NULL, "the version" },
};
#define N_GLOBALS (sizeof(globals) / sizeof(globals[0]))
#define GLOBAL_SHORT "s:t:j::V"

/* The busctl being configured; options after the command reach it too. */
static struct busctl *the_ctl;
static const char *bus_chosen; /* the option that chose the bus */

/* ---------------------------------------------------------------- text */

/* text with every word "busctl" as the name busctl was invoked as. */
static void put_text(FILE *f, const char *text)
{
	static const char word[] = "busctl";
	const char *p = text;

	for (const char *q; (q = strstr(p, word)); p = q + sizeof(word) - 1) {
		const char *after = q + sizeof(word) - 1;
		int alone = (q == text || !(q[-1] == '_' || q[-1] == '-' || q[-1] == '/' ||
					    (q[-1] >= 'a' && q[-1] <= 'z'))) &&
			    !(*after == '_' || *after == '/' || *after == '.' ||
			      (*after >= 'a' && *after <= 'z'));
		fwrite(p, 1, (size_t)(q - p), f);
		fputs(alone ? busctl_name : word, f);
	}
	fputs(p, f);
}

/* One option row: flags, then the description at column col, its further
 * lines indented to the same column. */
static void put_row(FILE *f, const char *flags, int col, const char *text)
{
	int n = fprintf(f, "%s", flags);

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(f, "%*s", n < col ? col - n : 1, "");
		char *line = strndup(p, len);
		put_text(f, line ? line : "");
		free(line);
		fputc('\n', f);
		n = 0;
		p = nl ? nl + 1 : p + len;
	}
}

static void global_flags(const struct global_opt *g, char *buf, size_t len)
{
	int c = g->opt.val;

	if (c < 0x100)
		snprintf(buf, len, "  -%c, --%s%s%s", c, g->opt.name,
			 g->arg && g->arg[0] != '[' ? " " : "", g->arg ? g->arg : "");
	else
		snprintf(buf, len, "      --%s%s%s", g->opt.name,
			 g->arg && g->arg[0] != '[' ? " " : "", g->arg ? g->arg : "");
}

static void usage(FILE *f)
{
	char flags[128];
	int col = 0, w = 0;

	for (size_t i = 0; i < N_GLOBALS; i++) {
		global_flags(&globals[i], flags, sizeof(flags));
		if ((int)strlen(flags) + 2 > col)
			col = (int)strlen(flags) + 2;
	}
	for (size_t i = 0; commands[i]; i++)
		if ((int)strlen(commands[i]->name) > w)
			w = (int)strlen(commands[i]->name);
	fprintf(f, "Usage: %s [OPTIONS] COMMAND [ARGS...]\n\n"
		   "Inspect and drive a busd service bus.\n\nOptions:\n", busctl_name);
	for (size_t i = 0; i < N_GLOBALS; i++) {
		global_flags(&globals[i], flags, sizeof(flags));
		put_row(f, flags, col, globals[i].text);
	}
	put_text(f, "\nOptions may come before the command or anywhere among its arguments;\n"
		    "-- ends them, so that an argument after it may start with -.\n\n"
		    "Commands:\n");
	for (size_t i = 0; commands[i]; i++)
		fprintf(f, "  %-*s  %s\n", w, commands[i]->name, commands[i]->summary);
	put_text(f, "\nOutput is a table for people, or JSON with --json; never colour, never\n"
		    "a pager. Exit status: 0 on success, 1 on a failure (one line on stderr),\n"
		    "2 on a usage error.\n");
	fprintf(f, "This is busd's command-line tool, not systemd's D-Bus busctl.\n");
}

static void command_help(const struct command *cmd, FILE *f)
{
	fprintf(f, "Usage: %s [OPTIONS] %s %s\n\n", busctl_name, cmd->name, cmd->args);
	put_text(f, cmd->summary);
	fputs(".\n", f);
	put_text(f, cmd->help);
	fprintf(f, "\nGlobal options (%s --help) may come anywhere too: --system, --user,\n"
		   "--socket, --timeout, --json[=MODE], --max-schema-bytes, --no-pager;\n"
		   "-- ends the options.\n", busctl_name);
}

int command_usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s %s: ", busctl_name, cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nUsage: %s %s %s (see %s %s --help)\n", busctl_name, cmd->name,
		cmd->args, busctl_name, cmd->name);
	return EXIT_USAGE;
}

/* ---------------------------------------------------------------- options */

static int is_global(int c)
{
	for (size_t i = 0; i < N_GLOBALS; i++)
		if (globals[i].opt.val == c && c != 'h')
			return 1;
	return 0;
}

/* Apply global option c: 0, -1 after printing the version, or an exit
 * status. */
static int global_option(struct busctl *ctl, int c, const char *arg)
{
	double secs;
	char *end;

	switch (c) {
	case 'j':
		if (arg && *arg == '=') /* -j=pretty */
			arg++;
		if (!arg || strcmp(arg, "lines") == 0)
			ctl->json = BUSCTL_JSON_LINES;
		else if (strcmp(arg, "short") == 0)
			ctl->json = BUSCTL_JSON_SHORT;
		else if (strcmp(arg, "pretty") == 0)
			ctl->json = BUSCTL_JSON_PRETTY;
		else if (strcmp(arg, "off") == 0)
			ctl->json = BUSCTL_JSON_OFF;
		else {
			fprintf(stderr, "%s: --json takes lines, short, pretty or off, not \"%s\"\n",
				busctl_name, arg);
			return EXIT_USAGE;
		}
		return 0;
	case 's':
	case OPT_SYSTEM:
	case OPT_USER: {
		const char *opt = c == 's' ? "--socket" : c == OPT_SYSTEM ? "--system" : "--user";
		if (bus_chosen && strcmp(bus_chosen, opt) != 0) {
			fprintf(stderr, "%s: %s and %s both choose the bus: give one of "
					"--system, --user and --socket\n", busctl_name, bus_chosen, opt);
			return EXIT_USAGE;
		}
		bus_chosen = opt;
		if (c == 's')
			ctl->socket = arg;
		else
			ctl->bus = c == OPT_SYSTEM ? BUSCTL_BUS_SYSTEM : BUSCTL_BUS_USER;
		return 0;
	}
	case 't':
		errno = 0;
		secs = strtod(arg, &end);
		if (end == arg || *end || errno || !(secs >= 0 && secs <= 86400 * 365)) {
			fprintf(stderr, "%s: --timeout takes seconds (0 for none), not \"%s\"\n",
				busctl_name, arg);
			return EXIT_USAGE;
		}
		ctl->timeout_usec = (uint64_t)(secs * 1e6);
		if (secs > 0 && ctl->timeout_usec == 0)
			ctl->timeout_usec = 1;
		return 0;
	case OPT_MAX_SCHEMA:
		if (!parse_size(arg, &ctl->max_schema_bytes)) {
			fprintf(stderr, "%s: --max-schema-bytes takes a size (4096, 64K, 64M, 1G), "
					"not \"%s\"\n", busctl_name, arg);
			return EXIT_USAGE;
		}
		return 0;
	case OPT_NO_PAGER:
		return 0; /* busctl never pages */
	case 'V':
		printf("%s %s\n", busctl_name, PACKAGE_VERSION);
		return -1;
	default:
		return EXIT_USAGE;
	}
}

/* What getopt stopped at, for an error: the long option as written
 * (without its value), else the short letter. */
static void bad_option(char **argv, char *buf, size_t len)
{
	const char *a = optind > 0 ? argv[optind - 1] : "";

	if (strncmp(a, "--", 2) == 0)
		snprintf(buf, len, "%.*s", (int)strcspn(a, "="), a);
	else if (optopt > 0 && optopt < 0x100)
		snprintf(buf, len, "-%c", optopt);
	else
		snprintf(buf, len, "%s", a);
}

/* Whether the long option in argv[optind - 1] ("--name=value") exists. */
static int takes_no_value(char **argv, const struct option *opts)
{
	const char *a = optind > 0 ? argv[optind - 1] : "";
	size_t n = strcspn(a, "=");

	if (strncmp(a, "--", 2) != 0 || !a[n])
		return 0;
	for (size_t i = 0; opts[i].name; i++)
		if (strlen(opts[i].name) == n - 2 && strncmp(opts[i].name, a + 2, n - 2) == 0)
			return opts[i].has_arg == no_argument;
	return 0;
}

int command_options(const struct command *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *extra, int (*cb)(int opt, const char *arg, void *ud),
		    void *ud, int *first)
{
	struct option opts[N_GLOBALS + 24];
	char optstring[96], bad[64];
	size_t n = 0;
	int c;

	for (size_t i = 0; i < N_GLOBALS; i++)
		opts[n++] = globals[i].opt;
	for (size_t i = 0; extra && extra[i].name && i < 22; i++)
		opts[n++] = extra[i];
	opts[n] = (struct option){ NULL, 0, NULL, 0 };
	/* Not "+": options may follow the operands, as in systemd's busctl;
	 * "--" ends them. */
	snprintf(optstring, sizeof(optstring), ":h" GLOBAL_SHORT "%s", shortopts ? shortopts : "");
	optind = 0; /* glibc: 0 re-initialises the scanner for a new argv */
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
		int r;
		if (c == 'h') {
			command_help(cmd, stdout);
			return -1;
		}
		if (c == '?' || c == ':') {
			bad_option(argv, bad, sizeof(bad));
			if (c == ':')
				return command_usage_error(cmd, "option %s needs a value", bad);
			if (takes_no_value(argv, opts))
				return command_usage_error(cmd, "option %s takes no value", bad);
			return command_usage_error(cmd, "unknown option %s", bad);
		}
		if (is_global(c))
			r = global_option(the_ctl, c, optarg);
		else
			r = cb ? cb(c, optarg, ud) : EXIT_USAGE;
		if (r)
			return r;
	}
	*first = optind;
	return 0;
}

/* ---------------------------------------------------------------- help */

static const struct command *command_find(const char *name)
{
	for (size_t i = 0; commands[i]; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static int help_run(struct busctl *ctl, int argc, char **argv)
{
	int first, r = command_options(&cmd_help, argc, argv, NULL, NULL, NULL, NULL, &first);

	(void)ctl;
	if (r)
		return r < 0 ? 0 : r;
	if (argc - first > 1)
		return command_usage_error(&cmd_help, "expected at most one COMMAND");
	if (first == argc) {
		usage(stdout);
		return 0;
	}
	const struct command *cmd = command_find(argv[first]);
	if (!cmd)
		return command_usage_error(&cmd_help, "unknown command \"%s\"", argv[first]);
	command_help(cmd, stdout);
	return 0;
}

const struct command cmd_help = {
	"help", "[COMMAND]", "Show the commands, or what COMMAND does and its options",
	"\nThe same as busctl --help, or busctl COMMAND --help.\n",
	help_run,
};

/* ---------------------------------------------------------------- main */

/* The name busctl was invoked as; libtool's uninstalled wrapper runs
 * .libs/lt-NAME. */
static const char *invoked_as(const char *argv0)
{
	const char *base = argv0 ? strrchr(argv0, '/') : NULL;

	base = base ? base + 1 : argv0;
	if (!base || !*base)
		return "busctl";
	if (strncmp(base, "lt-", 3) == 0 && base - argv0 >= 7 &&
	    strncmp(base - 7, ".libs/", 6) == 0 && base[3])
		base += 3;
	return base;
}

int main(int argc, char **argv)
{
	static struct option opts[N_GLOBALS + 1];
	struct busctl ctl = { .timeout_usec = 25000000u, .max_schema_bytes = 64u << 20 };
	char bad[64];
	int c;

	busctl_name = invoked_as(argc > 0 ? argv[0] : NULL);
	the_ctl = &ctl;
	for (size_t i = 0; i < N_GLOBALS; i++)
		opts[i] = globals[i].opt;
	opterr = 0;
	/* "+": the first operand is the command; its arguments are its own to
	 * parse (command_options(), which takes the global options too). */
	while ((c = getopt_long(argc, argv, "+:h" GLOBAL_SHORT, opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == ':' || c == '?') {
			bad_option(argv, bad, sizeof(bad));
			if (c == ':')
				fprintf(stderr, "%s: option %s needs a value\n", busctl_name, bad);
			else if (takes_no_value(argv, opts))
				fprintf(stderr, "%s: option %s takes no value\n", busctl_name, bad);
			else
				fprintf(stderr, "%s: unknown option %s (see %s --help)\n", busctl_name,
					bad, busctl_name);
			return EXIT_USAGE;
		}
		int r = global_option(&ctl, c, optarg);
		if (r)
			return r < 0 ? 0 : r;
	}
	if (optind == argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const struct command *cmd = command_find(argv[optind]);
	if (cmd)
		return cmd->run(&ctl, argc - optind, argv + optind);
	fprintf(stderr, "%s: unknown command \"%s\" (see %s --help)\n", busctl_name, argv[optind],
		busctl_name);
	return EXIT_USAGE;
}
