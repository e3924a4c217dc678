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

/* The bus busctl talks to (see busctl_connect()). */
enum busctl_bus { BUSCTL_BUS_DEFAULT, BUSCTL_BUS_SYSTEM, BUSCTL_BUS_USER };

/* --json[=MODE]. Streams (listen, monitor, decode) print one object per
 * line in every mode; list prints one per line in LINES, one array in
 * SHORT and PRETTY; status, introspect and call print one document,
 * indented in PRETTY. */
enum busctl_json {
	BUSCTL_JSON_OFF,    /* tables (call: JSON, indented on a terminal) */
	BUSCTL_JSON_LINES,  /* -j, --json */
	BUSCTL_JSON_SHORT,  /* --json=short: one document, one line */
	BUSCTL_JSON_PRETTY, /* --json=pretty: one document, indented */
};

/* The name busctl was invoked as (argv[0]'s last part, so that a renamed
 * install, e.g. --program-transform-name, speaks under its own name): the
 * prefix of its messages and the name in its help. */
extern const char *busctl_name;

struct busctl {
	const char *socket;    /* --socket; NULL: chosen by bus */
	enum busctl_bus bus;   /* --system, --user, or neither */
	uint64_t timeout_usec; /* per call */
	enum busctl_json json; /* --json: 0 (tables) or a mode */
	uint64_t max_schema_bytes; /* schema bytes fetched in one run, at most */
	char why[8192];        /* why busctl_connect_quiet() found no bus */
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
	cmd_introspect, cmd_capture, cmd_decode, cmd_wait, cmd_services, cmd_start, cmd_stop,
	cmd_restart;

/* ---- schema.c: the schemas on the bus, for the JSON codec */
#define INTROSPECT_MAX 64
struct introspection {
	char owner[32];
	char services[INTROSPECT_MAX][256];
	size_t n_services, n_schemas;
};
struct schemas;
/* The schemas fetched with query (NULL: none can be), busd's own bus.proto
 * to start with; NULL without memory. */
struct schemas *schemas_new(struct busctl *ctl, bus_t *query);
void schemas_free(struct schemas *sc);
const bus_schema_t *schemas_get(const struct schemas *sc);
/* What name serves; its owner's schemas are loaded. A schema busctl
 * refuses, or one past its limits, is an error naming the owner. A
 * well-known name nobody owns is pinged first (bus.Peer.Ping), so that a
 * service busd starts on demand comes up (or busd says why it did not). */
int schemas_introspect(struct schemas *sc, const char *name, struct introspection *out,
		       bus_error_t *err);
/* Every schema any peer on the bus has uploaded; those refused or past the
 * limits are said once on stderr and left out. */
int schemas_load_all(struct schemas *sc, bus_error_t *err);
/* 1 if some schema describes type; if none does, look at the bus again
 * (within the limits on how often, see schema.c). */
int schemas_has_type(struct schemas *sc, const char *type);
/* A name changed owner (bus.NameOwnerChanged): types missed may be there. */
void schemas_bus_changed(struct schemas *sc);
/* A bus.Bus call: the request packed, the reply unpacked as rd, or NULL
 * with err. */
ProtobufCMessage *busctl_control(bus_t *bus, struct busctl *ctl, const char *method,
				 const ProtobufCMessage *req, const ProtobufCMessageDescriptor *rd,
				 bus_error_t *err);

/* ---- escape.c: peers' text made safe for the operator's terminal */
/* s with control characters, bytes that are not UTF-8 and backslashes
 * escaped (\x1b, \n, \\) into buf of len bytes (cut, ending in "...",
 * when it does not fit); returns buf. */
const char *esc(const char *s, char *buf, size_t len);
/* The same, malloc'd and whole; keep_newlines leaves '\n' as it is. NULL
 * without memory. */
char *esc_dup(const char *s, int keep_newlines);
/* JSON text with DEL and C1 as \u escapes and bytes that are not UTF-8 as
 * U+FFFD: valid JSON that a terminal shows as it is (malloc'd). */
char *json_safe(const char *json);
/* puts() of json_safe(json); -1 without memory. */
int json_print(const char *json);

/* Print "busctl: " (busctl_name) and the formatted message on stderr, escaped as esc()
 * does; returns 1. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for a warning: busctl goes on. */
void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the bus error with a prefix; returns 1. */
int fail_bus(const char *what, const bus_error_t *err);

/* Connect or print why not; NULL on failure. The bus: --socket PATH; else
 * --system or --user (libbus's bus_connect_system(), bus_connect_user());
 * else $BUS_ADDRESS; else the system bus, or when its socket does not exist
 * the user's bus. */
bus_t *busctl_connect(struct busctl *ctl);
/* The same, saying nothing: why there is no bus is left in ctl->why. */
bus_t *busctl_connect_quiet(struct busctl *ctl);

/* Parse a command's arguments: its own options (extra, getopt_long style,
 * terminated by a zero entry, short letters in shortopts; at most 22), the
 * global options (--json, --timeout, ... applied to the busctl main()
 * set up) and --help, before, after or among the operands; "--" ends
 * them. cb gets each of the command's own options and returns 0 or an
 * exit status. Returns 0 with *first set to the index of the first
 * operand (operands are moved after the options), -1 after printing
 * --help or --version, or an exit status (2 on a usage error, which names
 * the option and the command). */
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

/* Print body (of type) as JSON on stdout: indented with --json=pretty,
 * or without --json on a terminal; what prefixes errors. */
int json_out(const struct busctl *ctl, const bus_schema_t *s, const char *type,
	     const void *body, size_t len, const char *what);
/* Print a JSON document (object or array) on stdout as --json says:
 * indented for pretty, one line otherwise; takes obj's reference. Returns
 * 0, or 1 after saying why. */
struct json_object;
int json_doc_out(const struct busctl *ctl, struct json_object *obj);

/* "12:34:56.789012" local time, now. */
void time_now(char *buf, size_t len);
/* CLOCK_MONOTONIC in microseconds, for deadlines and intervals. */
uint64_t mono_usec(void);
/* "4096", "64K", "1M", "1G" (K, M, G: powers of 1024, either case): a size
 * in bytes; 1 on success. */
int parse_size(const char *s, uint64_t *out);
/* Parse a count ("--count 5"): 1 on success. */
int parse_count(const char *s, unsigned long *out);

#endif
