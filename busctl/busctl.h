/* busctl.h - what the busctl command modules share: the global options, the
 * connection helper and the one-line error convention (exit 1 on a failure,
 * 2 on a usage error). */
#ifndef BUSCTL_H
#define BUSCTL_H

#include <stddef.h>
#include <stdint.h>

#include <bus/bus.h>
#include <bus/schema.h>

#define EXIT_USAGE 2

struct busctl {
	const char *socket;    /* NULL: $BUS_ADDRESS or the default path */
	uint64_t timeout_usec; /* per call */
	int json;              /* --json: JSON lines instead of tables */
};

/* A command: argv[0] is its name; options are parsed by the command. */
struct command {
	const char *name;
	const char *args;    /* one-line synopsis of the arguments */
	const char *summary; /* one line */
	const char *help;    /* the rest of "busctl CMD --help" */
	int (*run)(struct busctl *ctl, int argc, char **argv);
};

extern const struct command cmd_list, cmd_status, cmd_call, cmd_emit, cmd_listen, cmd_monitor,
	cmd_introspect, cmd_capture, cmd_decode;

/* ---- schema.c: the schemas on the bus, for the JSON codec */
#define INTROSPECT_MAX 64
struct introspection {
	char owner[32];
	char services[INTROSPECT_MAX][256];
	size_t n_services, n_schemas;
};
/* What name serves; its owner's schemas are added to s. */
int schema_introspect(bus_t *bus, struct busctl *ctl, const char *name, bus_schema_t *s,
		      struct introspection *out, bus_error_t *err);
/* busd's own bus.proto, linked into busctl. */
void schema_add_own(bus_schema_t *s);
/* Every schema any peer on the bus has uploaded, into s. */
int schema_load_all(bus_t *bus, struct busctl *ctl, bus_schema_t *s, bus_error_t *err);

/* Print "busctl: " and the formatted message on stderr; returns 1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the bus error with a prefix; returns 1. */
int fail_bus(const char *what, const bus_error_t *err);

/* Connect or print why not; NULL on failure. */
bus_t *busctl_connect(struct busctl *ctl);

/* Parse a command's own options: --help and the ones in extra (getopt_long
 * style, terminated by a zero entry, short letters in shortopts); cb gets
 * each other option and returns 0 or an exit status. Returns 0 with *first
 * set to the index of the first operand, -1 after printing --help, or an
 * exit status (2 on a usage error). */
struct option;
int command_options(const struct command *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *extra, int (*cb)(int opt, const char *arg, void *ud),
		    void *ud, int *first);
int command_usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Read all of stdin (an empty body when stdin is a terminal); caller frees. */
int read_stdin(void **buf, size_t *len);
/* Write all of buf to stdout. */
int write_stdout(const void *buf, size_t len);

/* Print body (of type) as JSON on stdout; what prefixes errors. */
int json_out(const bus_schema_t *s, const char *type, const void *body, size_t len,
	     const char *what);

/* "12:34:56.789012" local time, now. */
void time_now(char *buf, size_t len);
/* Parse a count ("--count 5"): 1 on success. */
int parse_count(const char *s, unsigned long *out);

#endif
