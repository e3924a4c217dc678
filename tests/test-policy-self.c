/* test-policy-self.c - [policy] rules written for the user running the test,
 * so that they run as any user (test-policy covers other users, as root):
 *  - owning by rule, and a deny that binds whoever it names;
 *  - a call is checked against every name its destination owns, however it
 *    was addressed: a rule on one name of a peer is no way around through
 *    another of its names, nor through its unique id;
 *  - method, emit and subscribe rules;
 *  - SIGHUP re-checks what was allowed before: a monitor the new policy
 *    does not allow is disconnected, told why, and a subscription it does
 *    not allow is dropped, with a log line each. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "exporter.h"
#include "harness.h"
#include "tap.h"

static char conf[512], rule_at[600];

static void write_conf(const char *text)
{
	FILE *f = fopen(conf, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", conf);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
}

static const char *at(int line)
{
	snprintf(rule_at, sizeof(rule_at), "%s:%d: ", conf, line);
	return rule_at;
}

static int call(bus_t *bus, const char *dest, const char *method, bus_error_t *err)
{
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	size_t len;
	void *rep = NULL;
	size_t rlen = 0;

	req.text = "hi";
	void *body = harness_pack(&req.base, &len);
	int r = bus_call(bus, dest, NULL, method, "busd.examples.EchoRequest", body, len, 5000000u,
			 err, &rep, &rlen);
	free(body);
	free(rep);
	return r;
}

static int denied_by(int r, const bus_error_t *err, int line)
{
	return r == -EREMOTE && bus_error_has_name(err, BUS_ERROR_ACCESS_DENIED) &&
	       strstr(err->message, at(line));
}

static void on_conn(bus_t *bus, enum bus_conn_event event, const char *subject,
		    const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)subject;
	if (event == BUS_CONN_REFUSED && err)
		*(bus_error_t *)ud = *err;
}

static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	(void)m;
	(void)ud;
}

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus;
	(void)ev;
	(void)ud;
}

static void on_lost(bus_t *bus, enum bus_conn_event event, const char *subject,
		    const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)subject;
	if (event == BUS_CONN_LOST && err)
		*(bus_error_t *)ud = *err;
}

static uint32_t subscriptions_of(bus_t *bus, const char *unique)
{
	Bus__ListNamesReply *l = NULL;
	uint32_t n = UINT32_MAX;

	harness_list_names(bus, &l);
	Bus__PeerInfo *pi = l ? harness_find_peer(l, unique) : NULL;
	if (pi)
		n = pi->subscriptions;
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);
	return n;
}

int main(void)
{
	char text[2048], unique[64], line[256];
	int uid = (int)getuid();
	bus_error_t err;

	plan(18);
	snprintf(conf, sizeof(conf), "%s/busd-policy-self.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(text, sizeof(text),
		 "[policy]\n"                                       /* line 1 */
		 "allow = own org.self.* user=%d\n"                 /* 2 */
		 "deny = own org.deny.* user=%d\n"                  /* 3 */
		 "deny = call org.self.Private user=%d\n"           /* 4 */
		 "deny = call org.self.Svc method=Fail user=%d\n"   /* 5 */
		 "deny = emit alarm.* user=%d\n"                    /* 6 */
		 "deny = subscribe secret.* user=%d\n"              /* 7 */
		 "allow = monitor user=%d\n",                       /* 8 */
		 uid, uid, uid, uid, uid, uid, uid);
	write_conf(text);
	const char *args[] = { "-c", conf, NULL };
	harness_start(args);
	bus_t *bus = harness_connect();

	/* ---- own */
	ok(bus_request_name(bus, "org.self.Mine", &err) == 0, "own: a rule for this user allows "
	   "org.self.*");
	int r = bus_request_name(bus, "org.deny.Mine", &err);
	ok(denied_by(r, &err, 3), "  and one denies org.deny.* (%s)", err.message);

	/* ---- calls follow the peer */
	harness_child svc;
	ok(exporter_start(&svc, "org.self.Svc", unique) == 0, "a service owns org.self.Svc");
	harness_send(svc.ctl, "own org.self.Private");
	harness_recv(svc.ctl, line, sizeof(line), 10000);
	harness_send(svc.ctl, "own org.self.Public");
	harness_recv(svc.ctl, line, sizeof(line), 10000);
	is_str(line, "owned org.self.Public", "  and org.self.Private and org.self.Public");
	r = call(bus, "org.self.Private", "Echo", &err);
	ok(denied_by(r, &err, 4), "call: org.self.Private is denied to this user (%s)", err.message);
	r = call(bus, "org.self.Public", "Echo", &err);
	ok(denied_by(r, &err, 4), "  so is its owner through org.self.Public (%s)", err.message);
	r = call(bus, "org.self.Svc", "Echo", &err);
	ok(denied_by(r, &err, 4), "  and through org.self.Svc: the rules follow the peer (%s)",
	   err.message);
	r = call(bus, unique, "Echo", &err);
	ok(denied_by(r, &err, 4), "  and through its unique id %s", unique);
	harness_send(svc.ctl, "quit");
	harness_wait(&svc, 5000);
	harness_child svc2;
	exporter_start(&svc2, "org.self.Svc", unique);
	is_int(call(bus, "org.self.Svc", "Echo", &err), 0,
	       "  a service that owns only org.self.Svc is called");
	r = call(bus, "org.self.Svc", "Fail", &err);
	ok(denied_by(r, &err, 5), "  but not its method Fail (%s)", err.message);
	harness_send(svc2.ctl, "quit");
	harness_wait(&svc2, 5000);

	/* ---- emit and subscribe */
	bus_error_t refused;
	bus_error_clear(&refused);
	bus_set_connection_handler(bus, on_conn, &refused);
	bus_emit_raw(bus, "alarm.fire", "", "", 0);
	Bus__StatsReply *st = harness_stats(bus); /* a round trip brings the refusal */
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	bus_process(bus);
	bus_set_connection_handler(bus, NULL, NULL);
	ok(bus_error_has_name(&refused, BUS_ERROR_ACCESS_DENIED) && strstr(refused.message, at(6)),
	   "emit: alarm.fire is refused (%s)", refused.message);
	r = bus_subscribe(bus, NULL, "secret.*", on_event, NULL, &err);
	ok(r < 0 && denied_by(-EREMOTE, &err, 7), "subscribe: secret.* is denied (%s)",
	   err.message);

	/* ---- SIGHUP re-checks monitors and subscriptions */
	bus_t *mon = harness_connect(), *sub = harness_connect();
	bus_error_t lost;
	bus_error_clear(&lost);
	bus_set_connection_handler(mon, on_lost, &lost);
	is_int(bus_become_monitor(mon, on_frame, NULL, &err), 0, "a monitor, allowed by line 8");
	ok(bus_subscribe(sub, NULL, "hush.*", on_event, NULL, &err) == 0 &&
	   subscriptions_of(bus, bus_unique_name(sub)) == 1, "  and a subscription to hush.*");
	snprintf(text, sizeof(text), "[policy]\ndeny = monitor user=%d\ndeny = subscribe hush.* "
		 "user=%d\n", uid, uid);
	write_conf(text);
	kill(harness_busd_pid(), SIGHUP);
	uint64_t until = harness_now_ms() + 10000;
	while (!bus_error_is_set(&lost) && harness_now_ms() < until)
		harness_loop_for(mon, 20);
	ok(strstr(lost.message, BUS_ERROR_ACCESS_DENIED) &&
	   strstr(lost.message, "the policy no longer allows this connection to monitor"),
	   "SIGHUP: a policy that denies monitoring disconnects the monitor, saying why (%s)",
	   lost.message);
	ok(harness_log_has("subscription to hush.* dropped: the policy no longer allows it"),
	   "  and drops the subscription it denies, with a log line");
	is_int(subscriptions_of(bus, bus_unique_name(sub)), 0, "  the peer holds no subscription now");
	bus_close(mon);
	bus_close(sub);
	bus_close(bus);
	r = harness_done();
	unlink(conf);
	return r;
}
