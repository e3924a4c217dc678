/* test-limits.c - the per-peer limits of busd.conf's [limits] that a
 * client meets through libbus: max_pending_calls (one call too many is
 * answered bus.Error.LimitsExceeded, the others are served) and
 * max_names_per_peer (one name too many is refused, a released slot can be
 * used again). busd runs with a configuration file written here. */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "harness.h"
#include "tap.h"

#define PENDING_LIMIT 4
#define NAMES_LIMIT 3

struct answers {
	int ok, limited, other;
	char last_error[768];
};

static void on_answer(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	struct answers *a = ud;

	(void)bus;
	if (reply)
		a->ok++;
	else if (bus_error_has_name(err, BUS_ERROR_LIMITS_EXCEEDED))
		a->limited++;
	else
		a->other++;
	if (err)
		snprintf(a->last_error, sizeof(a->last_error), "%s: %s", err->name, err->message);
}

static void test_pending(void)
{
	harness_child echo;
	bus_t *bus = harness_connect();
	struct answers a = { 0 };
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	size_t len;

	require(harness_spawn_echo(&echo) == 0, "services/echo is up");
	req.ms = 300;
	void *body = harness_pack(&req.base, &len);
	/* PENDING_LIMIT calls wait in echo's timers; the next one is over. */
	for (int i = 0; i < PENDING_LIMIT + 1; i++)
		bus_call_async(bus, NULL, "org.busd.Echo", NULL, "Delay", "busd.examples.DelayRequest",
			       body, len, 10000000u, on_answer, &a);
	uint64_t until = harness_now_ms() + 10000;
	while (a.ok + a.limited + a.other < PENDING_LIMIT + 1 && harness_now_ms() < until)
		harness_loop_for(bus, 20);
	is_int(a.limited, 1, "call %d of %d outstanding: bus.Error.LimitsExceeded", PENDING_LIMIT + 1,
	       PENDING_LIMIT + 1);
	is_int(a.ok, PENDING_LIMIT, "the %d within max_pending_calls are answered", PENDING_LIMIT);
	is_int(a.other, 0, "no other outcome");
	ok(strstr(a.last_error, "limits.max_pending_calls") != NULL,
	   "the error names the limit (%s)", a.last_error);

	/* Once answered they no longer count: a new batch fits again. */
	memset(&a, 0, sizeof(a));
	for (int i = 0; i < PENDING_LIMIT; i++)
		bus_call_async(bus, NULL, "org.busd.Echo", NULL, "Delay", "busd.examples.DelayRequest",
			       body, len, 10000000u, on_answer, &a);
	until = harness_now_ms() + 10000;
	while (a.ok + a.limited + a.other < PENDING_LIMIT && harness_now_ms() < until)
		harness_loop_for(bus, 20);
	is_int(a.ok, PENDING_LIMIT, "answered calls free their slots: %d more all served",
	       PENDING_LIMIT);
	free(body);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
	bus_close(bus);
}

static void test_names(void)
{
	bus_t *bus = harness_connect(), *other = harness_connect();
	bus_error_t err;
	char name[64];
	int r;

	for (int i = 0; i < NAMES_LIMIT; i++) {
		snprintf(name, sizeof(name), "org.test.Limit%d", i);
		is_int(bus_request_name(bus, name, &err), 0, "name %d of %d: %s", i + 1, NAMES_LIMIT,
		       name);
	}
	r = bus_request_name(bus, "org.test.LimitMore", &err);
	ok(r < 0 && bus_error_has_name(&err, BUS_ERROR_LIMITS_EXCEEDED),
	   "one name more: bus.Error.LimitsExceeded (%s: %s)", err.name, err.message);
	is_int(bus_request_name(bus, "org.test.Limit0", &err), 0,
	       "asking again for a name it owns is not a new name");
	is_int(bus_request_name(other, "org.test.LimitMore", &err), 0,
	       "the limit is per peer: another connection may own it");
	is_int(bus_release_name(bus, "org.test.Limit1", &err), 0, "release one name");
	is_int(bus_request_name(bus, "org.test.LimitAgain", &err), 0,
	       "and the freed slot takes a new one");
	bus_close(other);
	bus_close(bus);
}

int main(void)
{
	char path[512], sock_opt[16] = "-c";
	plan(15);
	snprintf(path, sizeof(path), "%s/busd-limits.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	FILE *f = fopen(path, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", path);
		return 1;
	}
	fprintf(f, "[limits]\nmax_pending_calls = %d\nmax_names_per_peer = %d\n", PENDING_LIMIT,
		NAMES_LIMIT);
	fclose(f);
	const char *args[] = { sock_opt, path, NULL };
	harness_start(args);
	test_pending();
	test_names();
	int r = harness_done();
	unlink(path);
	return r;
}
