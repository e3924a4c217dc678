/* spawn.h - one child process of a service: fork and exec (no shell) in a
 * process group of its own, with /dev/null for input, pipes for its output,
 * a clean environment, the service's user and group, no new privileges and
 * no descriptor of busd's; and its output read from the loop and logged
 * line by line within a budget. */
#ifndef BUSD_SPAWN_H
#define BUSD_SPAWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dispatch.h"

struct spawn_request {
	char *const *argv;     /* argv[0]: the program's absolute path */
	char *const *envp;
	int set_ids;           /* change to uid/gid/groups (busd runs as root) */
	uid_t uid;             /* (uid_t)-1: keep */
	gid_t gid;             /* (gid_t)-1: keep */
	const gid_t *groups;   /* supplementary groups when set_ids */
	size_t n_groups;
};

/* Start the child. Returns its pid (also its process group) with the read
 * ends of its stdout and stderr pipes (non-blocking) in fds, or a negative
 * errno with why. When the child started but could not exec (or change
 * its ids), the pid is still returned (it exits 127, SIGCHLD reaps it) and
 * *failed is set with why ("cannot execute /x: No such file or directory"). */
pid_t spawn_start(const struct spawn_request *r, int fds[2], int *failed, char *why, size_t len);

/* Lines of a child's output: at most OUTPUT_LINE_MAX bytes each (the rest
 * of a longer line is dropped, and the line says so), at most
 * OUTPUT_LINES_PER_SEC lines a second per service (the others are counted
 * and the count is logged). Control characters are shown as '?'. */
#define OUTPUT_LINE_MAX 900 /* with the prefix and the id, within log.c's 1 KiB line */
#define OUTPUT_LINES_PER_SEC 50

struct output_budget {
	uint64_t window_usec;  /* start of the current second */
	unsigned lines;        /* logged in it */
	uint64_t dropped;      /* not logged since the last report */
};

struct output {
	struct dispatch_source src;
	int fd;                /* -1: closed */
	const char *tag;       /* the service's id */
	struct output_budget *budget;
	size_t len;            /* of the partial line in buf */
	int cut;               /* the current line was too long: drop to its end */
	char buf[OUTPUT_LINE_MAX];
};

/* Read fd from the loop and log its lines as "TAG: line". 0 or -ENOMEM
 * (fd is then closed). */
int output_open(struct output *o, struct dispatch *d, int fd, const char *tag,
		struct output_budget *budget);
/* Log what is left to read (bounded) and close. */
void output_close(struct output *o);
/* Log the count of dropped lines, if any. */
void output_budget_report(struct output_budget *b, const char *tag);

#endif
