/* spawn.c - a service's child process and its output. The child sets
 * itself up between fork and exec with system calls only (the parent has
 * resolved users and groups), and reports a failure of that or of exec
 * through a close-on-exec pipe: EOF means exec succeeded. */
#include "config.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"

/* What the child reports before it exits 127: where it failed and errno. */
struct spawn_failure {
	int stage;
	int err;
};

enum { STAGE_SETUP = 1, STAGE_GROUPS, STAGE_GID, STAGE_UID, STAGE_PRIVS, STAGE_EXEC };

static void close_from(int lowest)
{
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)lowest, ~0u, 0) == 0)
		return;
#endif
	long max = sysconf(_SC_OPEN_MAX);
	for (int fd = lowest; fd < (max > 0 ? max : 65536); fd++)
		close(fd);
}

static __attribute__((noreturn)) void child_fail(int report, int stage)
{
	struct spawn_failure f = { stage, errno };

	(void)!write(report, &f, sizeof(f));
	_exit(127);
}

/* In the child: only system calls from here to exec. */
static __attribute__((noreturn)) void child(const struct spawn_request *r, pid_t parent,
					    int devnull, int out, int err, int report)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* busd ignores SIGPIPE; the child starts clean */
	setpgid(0, 0);
	/* Above 2 first, so that dup2() onto 0..2 cannot overwrite one of them. */
	devnull = fcntl(devnull, F_DUPFD_CLOEXEC, 10);
	out = fcntl(out, F_DUPFD_CLOEXEC, 10);
	err = fcntl(err, F_DUPFD_CLOEXEC, 10);
	report = fcntl(report, F_DUPFD_CLOEXEC, 10);
	if (report < 0)
		_exit(127);
	if (devnull < 0 || out < 0 || err < 0 || dup2(devnull, 0) < 0 || dup2(out, 1) < 0 ||
	    dup2(err, 2) < 0 || dup3(report, 3, O_CLOEXEC) < 0)
		child_fail(report, STAGE_SETUP);
	report = 3;
	close_from(4);
	if (r->set_ids) {
		if (setgroups(r->n_groups, r->groups) < 0)
			child_fail(report, STAGE_GROUPS);
		if (r->gid != (gid_t)-1 && setresgid(r->gid, r->gid, r->gid) < 0)
			child_fail(report, STAGE_GID);
		if (r->uid != (uid_t)-1 && setresuid(r->uid, r->uid, r->uid) < 0)
			child_fail(report, STAGE_UID);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(report, STAGE_PRIVS);
	/* Should busd die without stopping it, the service goes too. */
	prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != parent)
		_exit(127);
	execve(r->argv[0], r->argv, r->envp);
	child_fail(report, STAGE_EXEC);
}

pid_t spawn_start(const struct spawn_request *r, int fds[2], int *failed, char *why, size_t len)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rep[2] = { -1, -1 };
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t parent = getpid(), pid = -1;
	int e = 0;

	*failed = 0;
	if (devnull < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
	    pipe2(rep, O_CLOEXEC) < 0) {
		e = -errno;
		snprintf(why, len, "cannot make its pipes: %s", strerror(errno));
		goto done;
	}
	pid = fork();
	if (pid < 0) {
		e = -errno;
		snprintf(why, len, "cannot fork: %s", strerror(errno));
		goto done;
	}
	if (pid == 0)
		child(r, parent, devnull, out[1], err[1], rep[1]);
	setpgid(pid, pid); /* both sides, whichever runs first */
	close(rep[1]);
	rep[1] = -1;
	struct spawn_failure f;
	ssize_t n;
	do
		n = read(rep[0], &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(f)) {
		static const char *const stages[] = {
			[STAGE_SETUP] = "cannot set up its descriptors",
			[STAGE_GROUPS] = "cannot set its supplementary groups",
			[STAGE_GID] = "cannot change to its group",
			[STAGE_UID] = "cannot change to its user",
			[STAGE_PRIVS] = "cannot set no_new_privs",
			[STAGE_EXEC] = "cannot execute",
		};
		const char *what = f.stage >= STAGE_SETUP && f.stage <= STAGE_EXEC ? stages[f.stage]
										   : "failed";
		if (f.stage == STAGE_EXEC)
			snprintf(why, len, "%s %s: %s", what, r->argv[0], strerror(f.err));
		else
			snprintf(why, len, "%s: %s", what, strerror(f.err));
		*failed = 1;
	}
	fds[0] = out[0];
	fds[1] = err[0];
	out[0] = err[0] = -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
done:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	if (devnull >= 0)
		close(devnull);
	return e < 0 ? e : pid;
}

/* ---------------------------------------------------------------- output */

void output_budget_report(struct output_budget *b, const char *tag)
{
	if (!b->dropped)
		return;
	log_warning("%s: %llu lines of output not logged (more than %d a second)", tag,
		    (unsigned long long)b->dropped, OUTPUT_LINES_PER_SEC);
	b->dropped = 0;
}

static void output_line(struct output *o, int cut)
{
	struct output_budget *b = o->budget;
	uint64_t now = dispatch_now_usec();

	if (now - b->window_usec >= 1000000) {
		output_budget_report(b, o->tag);
		b->window_usec = now;
		b->lines = 0;
	}
	if (b->lines >= OUTPUT_LINES_PER_SEC) {
		b->dropped++;
		return;
	}
	b->lines++;
	for (size_t i = 0; i < o->len; i++)
		if ((unsigned char)o->buf[i] < 0x20 && o->buf[i] != '\t')
			o->buf[i] = '?';
		else if (o->buf[i] == 0x7f)
			o->buf[i] = '?';
	log_info("%s: %.*s%s", o->tag, (int)o->len, o->buf, cut ? " [line cut]" : "");
}

static void output_bytes(struct output *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (!o->cut)
				output_line(o, 0);
			o->len = 0;
			o->cut = 0;
			continue;
		}
		if (o->cut)
			continue;
		if (o->len == sizeof(o->buf)) {
			output_line(o, 1);
			o->len = 0;
			o->cut = 1;
			continue;
		}
		o->buf[o->len++] = p[i];
	}
}

/* One read per callback, so that one child cannot hold the loop. */
static int output_read(struct output *o)
{
	char chunk[4096];
	ssize_t n = read(o->fd, chunk, sizeof(chunk));

	if (n > 0) {
		output_bytes(o, chunk, (size_t)n);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	return -1; /* EOF or error */
}

static void on_output(struct dispatch_source *src, short what)
{
	struct output *o = (struct output *)(void *)((char *)src - offsetof(struct output, src));

	(void)what;
	if (output_read(o) < 0)
		output_close(o);
}

int output_open(struct output *o, struct dispatch *d, int fd, const char *tag,
		struct output_budget *budget)
{
	o->fd = fd;
	o->tag = tag;
	o->budget = budget;
	o->len = 0;
	o->cut = 0;
	if (dispatch_source_init(&o->src, d, fd, EV_READ | EV_PERSIST, on_output) < 0 ||
	    dispatch_source_add(&o->src, NULL) < 0) {
		dispatch_source_free(&o->src);
		close(fd);
		o->fd = -1;
		return -ENOMEM;
	}
	return 0;
}

void output_close(struct output *o)
{
	if (o->fd < 0)
		return;
	/* What the child wrote before it died, up to 64 KiB more. */
	for (int i = 0; i < 16 && output_read(o) > 0; i++)
		;
	if (o->len && !o->cut)
		output_line(o, 0);
	o->len = 0;
	dispatch_source_free(&o->src);
	close(o->fd);
	o->fd = -1;
}
