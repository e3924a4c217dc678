/* harness.c - starts busd and helper processes for the C integration tests
 * and makes sure none of them outlives the test: children die with the test
 * process (PR_SET_PDEATHSIG), and exit, fatal signals and a watchdog alarm
 * all kill what is left and remove the temporary directory. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MAX_KIDS 512
#define MAX_ARGS 64

static char dir[200], sock_path[256], log_path[256], conf_path[256];
static pid_t busd_pid = -1;
static pid_t parent_pid;
static pid_t kids[MAX_KIDS];
static int wrapped;
static char *busd_env[16];

uint64_t harness_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t harness_now_ms(void)
{
	return harness_now_us() / 1000;
}

void harness_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What the test itself put in the directory (files it wrote, sockets of
 * its own fakes): removed at a normal exit, where opendir() may be used. */
static void empty_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* Only async-signal-safe calls from a signal handler (signalled 1): there
 * the directory keeps what the test wrote in it beside busd's files. */
static void cleanup_at(int signalled)
{
	if (getpid() != parent_pid)
		return;
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i] > 0) {
			kill(kids[i], SIGKILL);
			waitpid(kids[i], NULL, 0);
			kids[i] = 0;
		}
	}
	if (busd_pid > 0) {
		kill(busd_pid, SIGKILL);
		waitpid(busd_pid, NULL, 0);
		busd_pid = -1;
	}
	if (dir[0]) {
		if (!signalled)
			empty_dir();
		unlink(sock_path);
		unlink(log_path);
		unlink(conf_path);
		rmdir(dir);
		dir[0] = 0;
	}
}

static void cleanup(void)
{
	cleanup_at(0);
}

static void on_fatal(int sig)
{
	cleanup_at(1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_watchdog(int sig)
{
	static const char msg[] = "Bail out! watchdog: the test took too long\n";
	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(1);
	cleanup_at(1);
	_exit(1);
}

void harness_bail(const char *fmt, ...)
{
	va_list ap;
	harness_dump_log();
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static const char *builddir(void)
{
	const char *d = getenv("top_builddir");
	return d && *d ? d : ".";
}

static void kid_add(pid_t pid)
{
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i] == 0) {
			kids[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	harness_bail("more than %d helper processes", MAX_KIDS);
}

static void kid_forget(pid_t pid)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] == pid)
			kids[i] = 0;
}

/* In a new child: die with the test, keep stdout (the TAP stream) clean,
 * and keep only fds 0-2 and, if keep >= 0, keep as fd 3. */
static void child_setup(int keep)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent_pid)
		_exit(127);
	signal(SIGALRM, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	dup2(STDERR_FILENO, STDOUT_FILENO);
	if (keep >= 0 && keep != 3) {
		if (dup2(keep, 3) < 0)
			_exit(127);
	}
	for (int fd = keep >= 0 ? 4 : 3; fd < 4096; fd++)
		close(fd);
	memset(kids, 0, sizeof(kids));
	busd_pid = -1;
	dir[0] = 0;
}

static int try_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(sock_path);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, sock_path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return r < 0 ? -errno : 0;
}

static void install_handlers(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	parent_pid = getpid();
	atexit(cleanup);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_fatal);
	signal(SIGINT, on_fatal);
	signal(SIGHUP, on_fatal);
	signal(SIGSEGV, on_fatal);
	signal(SIGABRT, on_fatal);
	signal(SIGALRM, on_watchdog);
	const char *w = getenv("HARNESS_TIMEOUT");
	unsigned secs = w && atoi(w) > 0 ? (unsigned)atoi(w) : wrapped ? 600 : 150;
	alarm(secs);
}

/* $BUSD_WRAPPER; it sets the timeouts too. */
static const char *wrapper_cmd(void)
{
	const char *w = getenv("BUSD_WRAPPER");
	wrapped = w && *w;
	return w;
}

/* The temporary directory of the socket, busd's log and its configuration. */
static void make_dir(void)
{
	if (dir[0])
		return;
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/busd-test.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		dir[0] = 0;
		harness_bail("mkdtemp: %s", strerror(errno));
	}
	snprintf(sock_path, sizeof(sock_path), "%s/bus.sock", dir);
	snprintf(log_path, sizeof(log_path), "%s/busd.log", dir);
	snprintf(conf_path, sizeof(conf_path), "%s/busd.conf", dir);
}

void harness_start_conf(const char *fmt, ...)
{
	static char opt[] = "-c";
	const char *args[] = { opt, conf_path, NULL };
	va_list ap;

	wrapper_cmd();
	install_handlers();
	make_dir();
	FILE *f = fopen(conf_path, "w");
	if (!f)
		harness_bail("cannot write %s: %s", conf_path, strerror(errno));
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0)
		harness_bail("cannot write %s", conf_path);
	harness_start(args);
}

void harness_start(const char *const *args)
{
	const char *wrapper = wrapper_cmd();
	install_handlers();

	make_dir();
	setenv("BUS_ADDRESS", sock_path, 1);

	char busd[512], wbuf[1024];
	const char *argv[MAX_ARGS];
	int argc = 0;
	snprintf(busd, sizeof(busd), "%s/busd/busd", builddir());
	if (wrapped) {
		snprintf(wbuf, sizeof(wbuf), "%s", wrapper);
		for (char *save = NULL, *t = strtok_r(wbuf, " \t", &save); t && argc < MAX_ARGS / 2;
		     t = strtok_r(NULL, " \t", &save))
			argv[argc++] = t;
	}
	argv[argc++] = busd;
	/* Hermetic: not the installed /etc/busd/busd.conf (a test's own -c,
	 * given later, wins). */
	argv[argc++] = "-c";
	argv[argc++] = "/dev/null";
	argv[argc++] = "--socket";
	argv[argc++] = sock_path;
	for (; args && *args && argc < MAX_ARGS - 1; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;

	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		harness_bail("fork: %s", strerror(errno));
	if (pid == 0) {
		child_setup(-1);
		int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		for (int i = 0; busd_env[i]; i++)
			putenv(busd_env[i]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "harness: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	busd_pid = pid;

	uint64_t deadline = harness_now_ms() + (wrapped ? 30000 : 10000);
	for (;;) {
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			busd_pid = -1;
			harness_bail("busd exited during startup (status %d)",
				     WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
		}
		if (try_connect() == 0)
			return;
		if (harness_now_ms() > deadline)
			harness_bail("busd did not accept connections on %s within the timeout",
				     sock_path);
		harness_sleep_ms(20);
	}
}

void harness_busd_env(const char *assignment)
{
	int i = 0;

	if (!assignment) {
		for (; busd_env[i]; i++) {
			free(busd_env[i]);
			busd_env[i] = NULL;
		}
		return;
	}
	while (busd_env[i])
		i++;
	if (i == (int)(sizeof(busd_env) / sizeof(busd_env[0])) - 1)
		harness_bail("more than %d variables for busd", i);
	if (!(busd_env[i] = strdup(assignment)))
		harness_bail("out of memory");
}

const char *harness_socket(void)
{
	return sock_path;
}

const char *harness_dir(void)
{
	install_handlers();
	make_dir(); /* a test without busd gets one too */
	return dir;
}

pid_t harness_busd_pid(void)
{
	return busd_pid;
}

int harness_open_fds(pid_t pid)
{
	char path[64];
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/fd");
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return pid ? n : n - 1; /* the directory's own */
}

int harness_busd_fds(void)
{
	return harness_open_fds(harness_busd_pid());
}

int harness_memfd_with(const void *data, size_t len, unsigned seals)
{
	int fd = memfd_create("test-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		harness_bail("memfd_create: %s", strerror(errno));
	if (len && write(fd, data, len) != (ssize_t)len)
		harness_bail("write to a memfd");
	if (seals && fcntl(fd, F_ADD_SEALS, seals) < 0)
		harness_bail("F_ADD_SEALS: %s", strerror(errno));
	return fd;
}

void harness_fill(uint8_t *p, size_t len, unsigned seed)
{
	uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Reap pid within timeout_ms, killing it if it does not exit. */
static int reap(pid_t pid, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return status_of(st);
		if (r < 0 && errno != EINTR)
			return -ECHILD;
		if (harness_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -ETIMEDOUT;
		}
		harness_sleep_ms(2);
	}
}

int harness_stop(void)
{
	if (busd_pid <= 0)
		return -ESRCH;
	kill(busd_pid, SIGTERM);
	int r = reap(busd_pid, wrapped ? 60000 : 10000);
	busd_pid = -1;
	if (r == -ETIMEDOUT)
		printf("# busd did not exit within the timeout after SIGTERM\n");
	return r;
}

void harness_kill(void)
{
	if (busd_pid <= 0)
		return;
	kill(busd_pid, SIGKILL);
	waitpid(busd_pid, NULL, 0);
	busd_pid = -1;
}

int harness_log_has(const char *needle)
{
	char line[4096];
	FILE *f = fopen(log_path, "r");
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

void harness_dump_log(void)
{
	if (!log_path[0])
		return;
	FILE *f = fopen(log_path, "r");
	if (!f)
		return;
	char line[1024];
	int n = 0;
	printf("# busd log (%s):\n", log_path);
	while (fgets(line, sizeof(line), f) && n++ < 200)
		printf("#   %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
	fflush(stdout);
}

bus_t *harness_connect(void)
{
	bus_t *bus = NULL;
	bus_error_t err = { .name = "" };
	int r = bus_connect(&bus, sock_path, &err);
	if (r < 0)
		harness_bail("bus_connect: %s (%s: %s)", strerror(-r), err.name, err.message);
	return bus;
}

int harness_fork(harness_child *c, harness_fn fn, void *arg)
{
	int sv[2];
	install_handlers(); /* also for a test that starts no busd */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = -errno;
		close(sv[0]);
		close(sv[1]);
		return e;
	}
	if (pid == 0) {
		child_setup(sv[1]);
		alarm(120);
		exit(fn(3, arg) & 0xff);
	}
	close(sv[1]);
	kid_add(pid);
	c->pid = pid;
	c->ctl = sv[0];
	return 0;
}

int harness_spawn(harness_child *c, const char *prog, const char *const *args)
{
	char path[512];
	const char *argv[MAX_ARGS];
	int argc = 0;
	snprintf(path, sizeof(path), "%s/%s", builddir(), prog);
	argv[argc++] = path;
	for (; args && *args && argc < MAX_ARGS - 1; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		child_setup(-1);
		execv(path, (char *const *)argv);
		fprintf(stderr, "harness: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	kid_add(pid);
	c->pid = pid;
	c->ctl = -1;
	return 0;
}

int harness_wait(harness_child *c, int timeout_ms)
{
	if (c->pid <= 0)
		return -ECHILD;
	int r = reap(c->pid, timeout_ms);
	kid_forget(c->pid);
	c->pid = -1;
	if (c->ctl >= 0) {
		close(c->ctl);
		c->ctl = -1;
	}
	return r;
}

void harness_signal(harness_child *c, int sig)
{
	if (c->pid > 0)
		kill(c->pid, sig);
}

void harness_stop_children(void)
{
	for (int i = 0; i < MAX_KIDS; i++)
		if (kids[i] > 0)
			kill(kids[i], SIGTERM);
	for (int i = 0; i < MAX_KIDS; i++) {
		if (kids[i] > 0) {
			reap(kids[i], 5000);
			kids[i] = 0;
		}
	}
}

int harness_send(int ctl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = send(ctl, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += (int)w;
	}
	return 0;
}

int harness_recv(int ctl, char *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	size_t n = 0;
	for (;;) {
		uint64_t now = harness_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = ctl, .events = POLLIN };
		int r = poll(&p, 1, (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -ETIMEDOUT;
		char ch;
		ssize_t got = read(ctl, &ch, 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -EPIPE;
		if (ch == '\n') {
			buf[n] = 0;
			return (int)n;
		}
		if (n + 1 < len)
			buf[n++] = ch;
	}
}

void *harness_pack(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		abort();
	*len = protobuf_c_message_pack(m, buf);
	return buf;
}

ProtobufCMessage *harness_control(bus_t *bus, const char *method, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *rd, bus_error_t *err)
{
	size_t len, rlen = 0;
	void *body = harness_pack(req, &len), *rep = NULL;
	int r = bus_call(bus, BUS_NAME, "bus.Bus", method, req->descriptor->name, body, len,
			 5000000u, err, &rep, &rlen);
	free(body);
	if (r < 0)
		return NULL;
	ProtobufCMessage *m = protobuf_c_message_unpack(rd, NULL, rlen, rep);
	free(rep);
	return m;
}

Bus__StatsReply *harness_stats(bus_t *bus)
{
	Bus__StatsRequest req = BUS__STATS_REQUEST__INIT;
	bus_error_t err;
	return (Bus__StatsReply *)harness_control(bus, "Stats", &req.base,
						  &bus__stats_reply__descriptor, &err);
}

void harness_sync(bus_t *bus)
{
	Bus__StatsReply *st = harness_stats(bus);

	if (!st)
		harness_bail("harness_sync: busd did not answer Stats");
	protobuf_c_message_free_unpacked(&st->base, NULL);
	bus_process(bus);
}

int harness_get_name_owner(bus_t *bus, const char *name, Bus__PeerInfo **out, bus_error_t *err)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	req.name = (char *)name;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(bus, BUS_NAME, "bus.Bus", "GetNameOwner", "bus.NameRequest", body, len,
			 5000000, err, &reply, &rlen);
	free(body);
	if (r < 0)
		return r;
	*out = bus__peer_info__unpack(NULL, rlen, reply);
	free(reply);
	return *out ? 0 : -EBADMSG;
}

const char *harness_owner_of(bus_t *bus, const char *name, char *buf, size_t len)
{
	Bus__PeerInfo *info = NULL;
	if (harness_get_name_owner(bus, name, &info, NULL) < 0)
		return "-";
	snprintf(buf, len, "%s", info->unique_name);
	protobuf_c_message_free_unpacked(&info->base, NULL);
	return buf;
}

int harness_list_names(bus_t *bus, Bus__ListNamesReply **out)
{
	Bus__ListNamesRequest req = BUS__LIST_NAMES_REQUEST__INIT;
	size_t len, rlen = 0;
	void *reply = NULL;
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(bus, BUS_NAME, "bus.Bus", "ListNames", "bus.ListNamesRequest", body, len,
			 5000000, NULL, &reply, &rlen);
	free(body);
	if (r < 0)
		return r;
	*out = bus__list_names_reply__unpack(NULL, rlen, reply);
	free(reply);
	return *out ? 0 : -EBADMSG;
}

Bus__PeerInfo *harness_find_peer(const Bus__ListNamesReply *l, const char *unique)
{
	for (size_t i = 0; l && i < l->n_peers; i++)
		if (strcmp(l->peers[i]->unique_name, unique) == 0)
			return l->peers[i];
	return NULL;
}

int harness_wait_name(bus_t *bus, const char *name, int timeout_ms)
{
	bus_t *own = NULL;
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	int r = -ETIMEDOUT;

	if (!bus) {
		bus = own = harness_connect();
	}
	while (harness_now_ms() < deadline) {
		Bus__PeerInfo *info = NULL;
		if (harness_get_name_owner(bus, name, &info, NULL) == 0) {
			protobuf_c_message_free_unpacked(&info->base, NULL);
			r = 0;
			break;
		}
		harness_sleep_ms(20);
	}
	bus_close(own);
	return r;
}

int harness_spawn_echo(harness_child *c)
{
	int r = harness_spawn(c, "services/echo", NULL);
	if (r < 0)
		return r;
	r = harness_wait_name(NULL, HARNESS_ECHO_NAME, 10000);
	if (r < 0)
		printf("# services/echo did not take %s within 10 s\n", HARNESS_ECHO_NAME);
	return r;
}

int harness_loop_until(bus_t *bus, const volatile int *flag, int timeout_ms)
{
	uint64_t deadline = harness_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int r = bus_process(bus);
		if (*flag)
			return 1;
		uint64_t now = harness_now_ms();
		if (now >= deadline)
			return 0;
		if (r > 0)
			continue;
		if (r < 0)
			harness_sleep_ms(5);
		else
			bus_wait(bus, (deadline - now) * 1000);
	}
}

void harness_loop_for(bus_t *bus, int ms)
{
	static const int never = 0;
	harness_loop_until(bus, &never, ms);
}

void harness_on_done(bus_t *bus, const bus_error_t *err, void *ud)
{
	struct harness_outcome *o = ud;

	(void)bus;
	o->n++;
	snprintf(o->err, sizeof(o->err), "%s", err ? err->name : "");
}
