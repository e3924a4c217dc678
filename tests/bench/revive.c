/* revive.c - busbench's supervision figures, medians over REVIVE_RUNS
 * runs of each, all in one busd:
 *   bare:        busbench itself forks and execs the echo service and
 *                waits until its name is owned (fork + exec + connect +
 *                Hello + RequestName): the floor of any (re)start;
 *   activation:  the first call to an echo declared with activation =
 *                demand, from the call to its reply (busd starts it, holds
 *                the call, delivers it when the name is owned);
 *   gap, owned:  kill -9 of a supervised echo (restart = always, no
 *                backoff) to its name owned by the new instance;
 *   gap, reply:  the same kill to the reply of an Echo call made right
 *                after it (held or re-sent by busd, never failed).
 * The echo binary is the build's services/echo, found beside busd; when
 * that is libtool's wrapper script, the program behind it
 * (services/.libs/echo) is run with the library path the wrapper would
 * set, so that the figures are the program's and not a shell's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bus/bus.h>
#include "bench.h"
#include "revive.h"

#define NAME_BOOT "bench.Revive"
#define NAME_DEMAND "bench.Demand"
#define NAME_BARE "bench.Bare"
#define WAIT_USEC (30 * 1000000ull) /* any single step: a bound, not a figure */

struct watch {
	const char *name;
	char owner[32];   /* "" when none */
	uint64_t changed_ns;
};

static void on_owner(bus_t *bus, const char *name, const char *owner, void *userdata)
{
	struct watch *w = userdata;
	(void)bus;
	(void)name;
	snprintf(w->owner, sizeof(w->owner), "%s", owner ? owner : "");
	w->changed_ns = now_ns();
}

/* Process bus until cond(arg) holds; dies after WAIT_USEC. */
static void run_until(bus_t *bus, int (*cond)(void *), void *arg, const char *what)
{
	uint64_t end = now_ns() + WAIT_USEC * 1000;

	while (!cond(arg)) {
		if (now_ns() > end)
			die("revive: no %s within %llu s", what, WAIT_USEC / 1000000);
		if (bus_wait(bus, 100000) < 0 || bus_process(bus) < 0)
			die("revive: lost the connection to busd waiting for %s", what);
	}
}

struct owned_by_other {
	const struct watch *w;
	const char *old;
};

static int is_owned(void *arg)
{
	const struct watch *w = arg;
	return w->owner[0] != 0;
}

static int is_free(void *arg)
{
	const struct watch *w = arg;
	return w->owner[0] == 0;
}

static int owned_anew(void *arg)
{
	const struct owned_by_other *o = arg;
	return o->w->owner[0] && strcmp(o->w->owner, o->old) != 0;
}

struct answer {
	int done;
	uint64_t at_ns;
	char error[680];
};

static void on_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *userdata)
{
	struct answer *a = userdata;
	(void)bus;
	(void)reply;
	a->done = 1;
	a->at_ns = now_ns();
	if (err)
		snprintf(a->error, sizeof(a->error), "%s: %s", err->name, err->message);
}

static int answered(void *arg)
{
	const struct answer *a = arg;
	return a->done && a->at_ns;
}

static void call_echo(bus_t *bus, const char *dest, struct answer *a)
{
	/* busd.examples.EchoRequest { text: "revive" }: field 1, length 6 */
	static const uint8_t body[] = { 0x0a, 6, 'r', 'e', 'v', 'i', 'v', 'e' };

	memset(a, 0, sizeof(*a));
	if (bus_call_async(bus, NULL, dest, "busd.examples.Echo", "Echo",
			   "busd.examples.EchoRequest", body, sizeof(body), WAIT_USEC, on_reply,
			   a) < 0)
		die("revive: cannot send a call to %s", dest);
}

static pid_t owner_pid(bus_t *bus, const char *name)
{
	bus_creds_t *c;
	bus_error_t err = { 0 };

	if (bus_get_name_creds(bus, name, &c, &err) < 0)
		die("revive: credentials of %s: %s", name, err.message);
	pid_t pid = c->pid;
	bus_creds_free(c);
	return pid;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		die("revive: %s: %s", path, strerror(errno));
}

static double median_us(uint64_t *ns, int n)
{
	double v[REVIVE_RUNS];
	for (int i = 0; i < n; i++)
		v[i] = (double)ns[i] / 1000.0;
	return median(v, n);
}

/* echo as given, or the program behind libtool's wrapper and the library
 * path it needs (libpath "" when none). */
static void real_program(const char *echo, char *prog, size_t plen, char *libpath, size_t llen)
{
	const char *slash = strrchr(echo, '/');
	int dlen = slash ? (int)(slash - echo) : 0;
	char inner[4200];

	snprintf(prog, plen, "%s", echo);
	libpath[0] = 0;
	snprintf(inner, sizeof(inner), "%.*s/.libs/%s", dlen, echo, slash ? slash + 1 : echo);
	if (access(inner, X_OK) < 0)
		return;
	/* services/ and libbus/ are siblings in the build tree */
	const char *up = dlen ? memrchr(echo, '/', (size_t)dlen) : NULL;
	int tlen = up ? (int)(up - echo) : 0;
	snprintf(prog, plen, "%s", inner);
	snprintf(libpath, llen, "%.*s/libbus/.libs", tlen, echo);
}

void revive_run(struct revive *rv, const char *busd, const char *echo_given)
{
	char dir[64], path[256], text[8192], sock[160], echo[4200], libpath[4200], env[4300] = "";
	uint64_t bare[REVIVE_RUNS], act[REVIVE_RUNS], owned[REVIVE_RUNS], reply[REVIVE_RUNS];
	int n = REVIVE_RUNS;

	real_program(echo_given, echo, sizeof(echo), libpath, sizeof(libpath));
	if (libpath[0])
		snprintf(env, sizeof(env), "environment = LD_LIBRARY_PATH=%s\n", libpath);

	snprintf(dir, sizeof(dir), "/tmp/busbench-revive.XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/services.d", dir);
	if (mkdir(path, 0755) < 0)
		die("revive: %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/services.d/revive.conf", dir);
	snprintf(text, sizeof(text),
		 "[service]\nexec = %s --name " NAME_BOOT "\nnames = " NAME_BOOT "\n"
		 "restart = always\nrestart_intensity = %d in 1\nbackoff = 0\n%s", echo, 4 * n,
		 env);
	write_file(path, text);
	snprintf(path, sizeof(path), "%s/services.d/demand.conf", dir);
	snprintf(text, sizeof(text),
		 "[service]\nexec = %s --name " NAME_DEMAND "\nnames = " NAME_DEMAND "\n"
		 "activation = demand\nrestart = no\nrestart_intensity = %d in 1\n%s", echo, 4 * n,
		 env);
	write_file(path, text);
	snprintf(path, sizeof(path), "%s/busd.conf", dir);
	snprintf(text, sizeof(text), "[services]\ndir = %s/services.d\n", dir);
	write_file(path, text);
	snprintf(sock, sizeof(sock), "%s/bus.sock", dir);

	pid_t busd_pid = fork_child();
	if (busd_pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		execl(busd, busd, "-c", path, "--socket", sock, (char *)NULL);
		_exit(127);
	}
	bus_t *bus = NULL;
	bus_error_t err = { 0 };
	for (int i = 0; !bus; i++) {
		if (bus_connect(&bus, sock, &err) == 0)
			break;
		bus_error_clear(&err);
		if (i > 2000 || waitpid(busd_pid, NULL, WNOHANG) == busd_pid)
			die("revive: busd (%s) did not start", busd);
		usleep(5000);
	}
	struct watch wb = { NAME_BOOT, "", 0 }, wd = { NAME_DEMAND, "", 0 }, wx = { NAME_BARE, "", 0 };
	if (bus_watch_name(bus, NULL, NAME_BOOT, on_owner, &wb, &err) < 0 ||
	    bus_watch_name(bus, NULL, NAME_DEMAND, on_owner, &wd, &err) < 0 ||
	    bus_watch_name(bus, NULL, NAME_BARE, on_owner, &wx, &err) < 0)
		die("revive: watching names: %s", err.message);
	run_until(bus, is_owned, &wb, "boot service owning " NAME_BOOT);

	for (int i = 0; i < n; i++) {
		/* bare: the same program started by hand */
		uint64_t t0 = now_ns();
		pid_t pid = fork_child();
		if (pid == 0) {
			int null = open("/dev/null", O_RDWR);
			if (null >= 0) {
				dup2(null, STDIN_FILENO);
				dup2(null, STDERR_FILENO);
			}
			setenv("BUS_ADDRESS", sock, 1);
			if (libpath[0])
				setenv("LD_LIBRARY_PATH", libpath, 1);
			execl(echo, echo, "--name", NAME_BARE, (char *)NULL);
			_exit(127);
		}
		run_until(bus, is_owned, &wx, "bare echo owning " NAME_BARE);
		bare[i] = wx.changed_ns - t0;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		run_until(bus, is_free, &wx, NAME_BARE " released");

		/* activation: the demand service is stopped (restart = no) */
		struct answer a;
		t0 = now_ns();
		call_echo(bus, NAME_DEMAND, &a);
		run_until(bus, answered, &a, "answer from the demand service");
		if (a.error[0])
			die("revive: the first call to the demand service failed: %s", a.error);
		act[i] = a.at_ns - t0;
		run_until(bus, is_owned, &wd, NAME_DEMAND " owned");
		kill(owner_pid(bus, NAME_DEMAND), SIGTERM);
		run_until(bus, is_free, &wd, NAME_DEMAND " released");

		/* gap: kill -9 under a call */
		struct owned_by_other o = { &wb, NULL };
		char old[32];
		snprintf(old, sizeof(old), "%s", wb.owner);
		o.old = old;
		pid = owner_pid(bus, NAME_BOOT);
		t0 = now_ns();
		kill(pid, SIGKILL);
		call_echo(bus, NAME_BOOT, &a);
		run_until(bus, owned_anew, &o, NAME_BOOT " owned again");
		owned[i] = wb.changed_ns - t0;
		run_until(bus, answered, &a, "answer from the revived service");
		if (a.error[0])
			die("revive: a call made after kill -9 failed: %s", a.error);
		reply[i] = a.at_ns - t0;
	}
	rv->bare_us = median_us(bare, n);
	rv->activation_us = median_us(act, n);
	rv->gap_owned_us = median_us(owned, n);
	rv->gap_reply_us = median_us(reply, n);
	rv->runs = n;

	bus_close(bus);
	int st;
	kill(busd_pid, SIGTERM);
	if (waitpid(busd_pid, &st, 0) != busd_pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		die("revive: busd did not exit cleanly on SIGTERM (status 0x%x)", st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	if (system(path) != 0)
		fprintf(stderr, "busbench: could not remove %s\n", dir);
}

void revive_print_table(const struct revive *rv)
{
	printf("\n%-34s %12s %12s %8s\n", "supervision (median of " REVIVE_RUNS_STR ")", "bare",
	       "busd", "ratio");
	printf("%-34s %12.0f\n", "fork+exec+connect+name, us", rv->bare_us);
	printf("%-34s %12s %12.0f %8.2f\n", "activation: first call answered, us", "",
	       rv->activation_us, rv->activation_us / rv->bare_us);
	printf("%-34s %12s %12.0f %8.2f\n", "kill -9 to name owned again, us", "", rv->gap_owned_us,
	       rv->gap_owned_us / rv->bare_us);
	printf("%-34s %12s %12.0f %8.2f\n", "kill -9 to held call answered, us", "",
	       rv->gap_reply_us, rv->gap_reply_us / rv->bare_us);
	printf("  (ratio: over the bare start; busd restarts with backoff = 0 here)\n");
}

void revive_print_json(const struct revive *rv)
{
	printf("  \"revive\": {\"runs\": %d, \"bare_us\": %.1f, \"activation_us\": %.1f, "
	       "\"gap_owned_us\": %.1f, \"gap_reply_us\": %.1f}",
	       rv->runs, rv->bare_us, rv->activation_us, rv->gap_owned_us, rv->gap_reply_us);
}
