/* service-conf.h - the declared services: the directory of service files
 * (services.d/ID.conf, one [service] section each) read into a set of
 * service_conf, every problem reported as FILE:LINE: message. Nothing here
 * starts anything (supervise.h does). */
#ifndef BUSD_SERVICE_CONF_H
#define BUSD_SERVICE_CONF_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct config_errors;

/* Bounds: a directory holds at most SERVICE_FILES_MAX service files of at
 * most SERVICE_FILE_MAX bytes; a service declares at most SERVICE_NAMES_MAX
 * names, SERVICE_ARGS_MAX arguments and SERVICE_ENV_MAX variables. */
#define SERVICE_FILES_MAX 256
#define SERVICE_FILE_MAX (64u << 10)
#define SERVICE_NAMES_MAX 32
#define SERVICE_ARGS_MAX 64
#define SERVICE_ENV_MAX 64
#define SERVICE_ID_MAX 64

enum service_restart { RESTART_ON_FAILURE, RESTART_ALWAYS, RESTART_NO };

struct service_conf {
	char id[SERVICE_ID_MAX];   /* the file name without ".conf" */
	char file[PATH_MAX];       /* where it was read from */
	char **argv;               /* exec, split; NULL-terminated; argv[0] absolute */
	size_t argc;
	char **names;              /* well-known names it owns */
	size_t n_names;
	int names_line;            /* of names =, for errors across files */
	char **env;                /* KEY=VALUE, in file order */
	size_t n_env;
	char user[64], group[64];  /* "" : busd's own (group: the user's primary) */
	uid_t uid;                 /* resolved when read; (uid_t)-1 when user is "" */
	gid_t gid;                 /* (gid_t)-1 when neither user nor group is given */
	enum service_restart restart;
	unsigned intensity;        /* restart_intensity = N in T */
	uint64_t period_usec;
	uint64_t backoff_usec, backoff_max_usec;
	int on_demand;             /* activation = demand */
	uint64_t start_timeout_usec, stop_timeout_usec;
	uint64_t watchdog_usec;    /* 0: no pings */
};

/* The services of one directory, sorted by id (the order busd starts them). */
struct service_set {
	struct service_conf **v;
	size_t n;
	char dir[PATH_MAX];        /* "" : no directory */
};

/* Read every *.conf of dir into set (others are ignored, and so are files
 * whose name starts with a dot). A missing directory is an error only when
 * must_exist. Returns 0, or -EINVAL with every problem in err. */
int service_set_load(struct service_set *set, const char *dir, int must_exist,
		     struct config_errors *err);
/* Parse one service file's text (id: its name without ".conf"); for the
 * loader and the fuzzer. NULL with the problems in err. */
struct service_conf *service_conf_parse(const char *id, const char *path, const char *text,
					size_t len, struct config_errors *err);
void service_conf_free(struct service_conf *c);
void service_set_free(struct service_set *set);
/* Whether two declarations of a service would run the same thing. */
int service_conf_equal(const struct service_conf *a, const struct service_conf *b);
/* One "service.ID.key = value  (FILE)" line per setting, for --check-config. */
void service_set_print(const struct service_set *set, FILE *out);
const char *service_restart_name(enum service_restart r);

#endif
