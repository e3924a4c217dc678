/* harness.h - the one harness that starts busd for the C integration tests:
 * a private socket in a temporary directory, helper client processes, the
 * example services as real callees, and cleanup however the test ends.
 *
 * $BUSD_WRAPPER (e.g. "valgrind --error-exitcode=99 ...") is put in front of
 * the busd command line; harness_done() then counts busd's exit status as a
 * test, so a wrapper that reports errors through it fails the test. */
#ifndef BUSD_TEST_HARNESS_H
#define BUSD_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <bus/bus.h>
#include "bus.pb-c.h"
#include "tap.h"

/* Start busd --socket DIR/bus.sock plus args (NULL-terminated, may be NULL)
 * and wait until it accepts connections; exports BUS_ADDRESS. Bails out of
 * the test (TAP "Bail out!") when busd does not come up. */
void harness_start(const char *const *args);
/* Put NAME=VALUE into the environment of the busds started from now on, and
 * only theirs (e.g. an LD_PRELOAD shim, which $BUSD_WRAPPER cannot give
 * busd alone); NULL forgets every one given. */
void harness_busd_env(const char *assignment);
/* harness_start() with -c FILE, FILE holding the printf-formatted
 * configuration text (removed with the temporary directory). */
void harness_start_conf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *harness_socket(void);
/* The temporary directory (made on first use, also without busd; removed
 * at exit once empty of what the test put there). */
const char *harness_dir(void);
pid_t harness_busd_pid(void);
/* How many descriptors busd has open (/proc/PID/fd), or -1. */
int harness_busd_fds(void);
/* How many descriptors pid has open, 0 meaning this process (not counting
 * the one that reads /proc/self/fd), or -1. */
int harness_open_fds(pid_t pid);
/* A memfd holding len bytes of data, with the given seals added (F_SEAL_*,
 * 0 for none); bails out on failure. */
int harness_memfd_with(const void *data, size_t len, unsigned seals);
/* len bytes of a pattern that seed picks (xorshift), the same each time. */
void harness_fill(uint8_t *p, size_t len, unsigned seed);

/* SIGTERM busd and wait for it. Returns its exit status, 128 + signal when
 * it died of a signal, or -ETIMEDOUT (it is then killed). */
int harness_stop(void);
/* SIGKILL busd and reap it. */
void harness_kill(void);
/* Print busd's stderr so far as TAP comments. */
void harness_dump_log(void);
/* 1 if a line of busd's stderr so far contains needle. */
int harness_log_has(const char *needle);

/* Stop the test with TAP "Bail out!" (after busd's log), which fails it:
 * for a fixture that did not come up, without which the planned checks
 * cannot run. */
void harness_bail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A connection for the test process itself; bails out on failure. */
bus_t *harness_connect(void);

/* Helper processes. A forked child runs fn(ctl, arg) and exits with its
 * return value; ctl is one end of a socketpair whose other end is c->ctl, for
 * line-based synchronisation (harness_send / harness_recv). The child closes
 * every other inherited descriptor, so parent connections stay the parent's. */
typedef int (*harness_fn)(int ctl, void *arg);
typedef struct harness_child {
	pid_t pid;
	int ctl; /* parent's end, -1 for spawned programs */
} harness_child;

int harness_fork(harness_child *c, harness_fn fn, void *arg);
/* Run $top_builddir/PROG with args (NULL-terminated, may be NULL). */
int harness_spawn(harness_child *c, const char *prog, const char *const *args);
/* Wait for the child to exit. Returns its exit status, 128 + signal, or
 * -ETIMEDOUT after timeout_ms (the child is then killed). */
int harness_wait(harness_child *c, int timeout_ms);
/* Send a signal to a child (no-op once it was reaped). */
void harness_signal(harness_child *c, int sig);

/* One text line each way over a ctl socket. harness_recv returns the line
 * length (without newline), -ETIMEDOUT, or -EPIPE when the other end closed. */
int harness_send(int ctl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int harness_recv(int ctl, char *buf, size_t len, int timeout_ms);

/* Start services/echo and wait until it owns org.busd.Echo. */
#define HARNESS_ECHO_NAME "org.busd.Echo"
int harness_spawn_echo(harness_child *c);

/* Poll GetNameOwner until name has an owner (0) or timeout_ms passes
 * (-ETIMEDOUT). bus may be NULL: a private connection is used. */
int harness_wait_name(bus_t *bus, const char *name, int timeout_ms);

/* The control service through untyped calls. On success *out is unpacked
 * (free with protobuf_c_message_free_unpacked). */
int harness_get_name_owner(bus_t *bus, const char *name, Bus__PeerInfo **out, bus_error_t *err);
/* The unique id owning name (into buf), or "-" when it has none. */
const char *harness_owner_of(bus_t *bus, const char *name, char *buf, size_t len);
int harness_list_names(bus_t *bus, Bus__ListNamesReply **out);
/* A control call to busd (5 s timeout): the reply unpacked with rd (free
 * with protobuf_c_message_free_unpacked), or NULL with err set. */
ProtobufCMessage *harness_control(bus_t *bus, const char *method, const ProtobufCMessage *req,
				  const ProtobufCMessageDescriptor *rd, bus_error_t *err);
/* busd's counters (bus.Stats), or NULL. */
Bus__StatsReply *harness_stats(bus_t *bus);
/* The peer in a ListNames reply with that unique name, or NULL. */
Bus__PeerInfo *harness_find_peer(const Bus__ListNamesReply *l, const char *unique);

/* Pack a message into a malloc'd buffer. */
void *harness_pack(const ProtobufCMessage *m, size_t *len);

/* A round trip to busd, then one bus_process(): busd has read everything
 * bus sent before, and every frame busd sent bus before its answer has been
 * dispatched. Instead of waiting a while (e.g. to check that something did
 * NOT arrive). */
void harness_sync(bus_t *bus);

/* Process bus until *flag becomes non-zero or timeout_ms passes; returns 1
 * if the flag was set. */
int harness_loop_until(bus_t *bus, const volatile int *flag, int timeout_ms);
/* Process bus for ms milliseconds (to let late frames arrive). */
void harness_loop_for(bus_t *bus, int ms);

/* The outcome of an async control call: how often its bus_done_fn ran and
 * the error name, "" for success. harness_on_done (a bus_done_fn) records
 * it; when the same userdata serves another callback too, make this the
 * first member of that struct. */
struct harness_outcome {
	int n;
	char err[128];
};
void harness_on_done(bus_t *bus, const bus_error_t *err, void *ud);

uint64_t harness_now_ms(void);
/* CLOCK_MONOTONIC in microseconds, as bus_get_timeout() gives deadlines. */
uint64_t harness_now_us(void);
void harness_sleep_ms(int ms);

/* Stop children and services, stop busd and count its exit status as a
 * check (0 expected; the plan includes it while busd runs), then check the
 * plan; main returns this. */
void harness_stop_children(void);
static inline int harness_done(void)
{
	harness_stop_children();
	if (harness_busd_pid() > 0) {
		int st = harness_stop();
		if (!is_int(st, 0, "busd exits with status 0 on SIGTERM"))
			harness_dump_log();
	}
	return tap_done();
}

#endif
