/* settings.h - busd's configuration: built-in defaults, the INI file (inih),
 * the environment and the command line, in rising precedence. Every value
 * remembers where it came from, for --check-config. */
#ifndef BUSD_SETTINGS_H
#define BUSD_SETTINGS_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "service-conf.h"

#ifndef BUSD_CONFIG_FILE
#define BUSD_CONFIG_FILE "/etc/busd/busd.conf"
#endif

struct policy;

enum config_source { SRC_DEFAULT, SRC_FILE, SRC_ENV, SRC_CMDLINE };
enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

enum config_key {
	CFG_SOCKET, CFG_MODE, CFG_GROUP,
	CFG_MAX_FRAME, CFG_MAX_QUEUED, CFG_MAX_PENDING, CFG_MAX_CONN_UID, CFG_MAX_NAMES,
	CFG_MAX_SCHEMA, CFG_HOLD, CFG_GRACE, CFG_MAX_SUBS,
	CFG_UID_QUEUED, CFG_UID_PENDING, CFG_UID_NAMES, CFG_UID_SUBS,
	CFG_UID_INPUT, CFG_UID_SCHEMA, CFG_MAX_EXPORTS, CFG_UID_EXPORTS,
	CFG_HELLO_TIMEOUT, CFG_FRAME_TIMEOUT,
	CFG_HELD_CALLS, CFG_HELD_BYTES, CFG_RESENDS,
	CFG_MAX_FDS_FRAME, CFG_MAX_FDS, CFG_UID_FDS,
	CFG_MAX_MEMFD_BODY, CFG_MAX_MEMFD, CFG_UID_MEMFD,
	CFG_LOG_LEVEL, CFG_LOG_TARGET,
	CFG_SERVICES_DIR,
	CFG_N_KEYS
};

struct config {
	char socket[108];            /* sun_path's size */
	unsigned mode;
	char group[64];              /* "" : busd's own group */
	uint32_t max_frame_size;
	uint64_t max_queued_bytes;
	uint32_t max_pending_calls;
	uint32_t max_connections_per_uid;
	uint32_t max_names_per_peer;
	uint64_t max_schema_bytes;
	uint64_t queue_hold_bytes;   /* back-pressure starts above this */
	uint32_t queue_grace;        /* seconds: stalled / over max_queued_bytes */
	uint32_t max_subscriptions_per_peer;
	uint64_t max_queued_bytes_per_uid; /* all of one uid's peers together */
	uint32_t max_pending_calls_per_uid;
	uint32_t max_names_per_uid;
	uint32_t max_subscriptions_per_uid;
	uint64_t max_input_bytes_per_uid;  /* frames its peers have not finished */
	uint64_t max_schema_bytes_per_uid;
	uint32_t max_exports_per_peer;
	uint32_t max_exports_per_uid;
	uint32_t hello_timeout;      /* seconds from connect to Hello */
	uint32_t frame_timeout;      /* seconds a started frame may take */
	uint32_t max_held_calls_per_name;  /* calls held for a declared service's name */
	uint64_t max_held_bytes_per_name;  /* (hold.h) while it is down or starting */
	uint32_t max_call_resends;   /* times one call is re-sent after crashes */
	uint32_t max_fds_per_frame;  /* descriptors passed with one frame (0: none) */
	uint32_t max_queued_fds;     /* passed descriptors busd holds for a peer */
	uint32_t max_queued_fds_per_uid;
	uint64_t max_memfd_body_size;      /* out-of-line body of one frame (0: none) */
	uint64_t max_queued_memfd_bytes;   /* out-of-line bodies queued toward a peer */
	uint64_t max_queued_memfd_bytes_per_uid;
	int log_level;               /* LOG_ERR .. LOG_DEBUG */
	int log_target;
	struct policy *policy;       /* [policy] rules (policy.h); NULL: none */
	char services_dir[PATH_MAX]; /* [services] dir; "": the file's services.d */
	struct service_set services; /* the service files read from it */
	enum config_source source[CFG_N_KEYS];
	char origin[CFG_N_KEYS][128]; /* "FILE:LINE" or the variable's name */
	char file[PATH_MAX];         /* the file busd read, or looked for */
	int file_found;              /* 0: file did not exist (built-in defaults) */
};

/* What the command line asked for; it wins over everything else, also on
 * every reload. */
struct config_cmdline {
	const char *file;       /* -c; NULL: BUSD_CONFIG_FILE, fine if missing */
	const char *socket;
	const char *max_frame_size;
	int verbose;
};

/* The problems config_load() found: one line each ("FILE:LINE: message",
 * or naming the variable or option), each ending in a newline. Start it
 * zeroed; free(text) afterwards. */
struct config_errors {
	char *text; /* NULL when there were none */
	size_t len;
	int oom;    /* a line was lost for want of memory */
};
/* Add one line (no newline in fmt) to err. */
void config_errors_add(struct config_errors *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Build the configuration: defaults, then the file (read whole, at most
 * 1 MiB), the environment and the command line. Returns 0, or -EINVAL with
 * every problem in err. */
int config_load(struct config *c, const struct config_cmdline *cl, struct config_errors *err);

/* Free what config_load() allocated (the policy, the services). */
void config_free(struct config *c);

/* Which file the configuration came from, for a log line: "configuration
 * file FILE", or "no configuration file (looked for FILE)". */
const char *config_file_describe(const struct config *c, char *buf, size_t len);

/* A "# " comment line naming the file (config_file_describe()), then one
 * "section.key = value (source)" line per option, then one per [policy]
 * rule. */
void config_print(const struct config *c, FILE *out);

/* The socket file's group as a gid; (gid_t)-1 when none is set. -ENOENT
 * (with a message on err) when the group does not exist. */
int config_group_id(const struct config *c, gid_t *gid, FILE *err);

const char *config_level_name(int level);

#endif
