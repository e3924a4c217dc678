/* test-policy.c - every kind of [policy] rule, allowed and denied, for
 * peers of other users: helper processes forked from this test drop to
 * nobody (by name) and to numeric uids with and without a supplementary
 * group, then connect through libbus. Checks the AccessDenied errors (with
 * the rule's file:line), the defaults (root and busd's user may do
 * everything, anyone may call, emit and subscribe, owning and monitoring
 * need a rule), that a rule naming root binds root, that a unique id is no
 * way around a rule on a name, the log line naming the peer, and that
 * SIGHUP reloads the policy with the peers connected. Needs root (to change
 * uid); skipped otherwise. */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bus/bus.h>
#include "echo.pb-c.h"
#include "harness.h"
#include "tap.h"

#define OTHER_UID 4343
#define OTHER_GID 100
#define RULE_GID 4242

static char conf[512];

static void write_conf(void)
{
	FILE *f = fopen(conf, "w");
	if (!f) {
		printf("Bail out! cannot write %s\n", conf);
		exit(1);
	}
	fprintf(f, "[policy]\n"                                        /* line 1 */
		   "allow = own org.test.Nobody user=nobody\n"             /* 2 */
		   "allow = own org.test.Group.* group=%d\n"               /* 3 */
		   "deny = call org.busd.Echo method=Fail user=nobody\n"   /* 4 */
		   "deny = call org.test.Private\n"                        /* 5 */
		   "deny = emit alarm.*\n"                                 /* 6 */
		   "allow = subscribe secret.* user=0\n"                   /* 7 */
		   "deny = subscribe secret.*\n"                           /* 8 */
		   "allow = monitor user=nobody\n"                         /* 9 */
		   "deny = own org.test.RootDenied user=root\n",           /* 10 */
		RULE_GID);
	fclose(f);
}

/* ---------------------------------------------------------------- agents */

struct who {
	uid_t uid;
	gid_t gid;
	gid_t group; /* one supplementary group, or 0 for none */
};

struct inbox {
	char topics[1024];
};

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct inbox *in = ud;
	size_t n = strlen(in->topics);
	(void)bus;
	snprintf(in->topics + n, sizeof(in->topics) - n, "%s%s", n ? " " : "", ev->member);
}

static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus;
	(void)m;
	(void)ud;
}

static void on_conn(bus_t *bus, enum bus_conn_event event, const char *subject,
		    const bus_error_t *err, void *ud)
{
	(void)bus;
	(void)subject;
	if (event == BUS_CONN_REFUSED && err)
		*(bus_error_t *)ud = *err;
}

static int reply_err(int ctl, int r, const bus_error_t *err)
{
	if (r >= 0)
		return harness_send(ctl, "ok");
	return harness_send(ctl, "err %s %s", err->name, err->message);
}

static int do_call(bus_t *bus, const char *dest, const char *method, bus_error_t *err)
{
	size_t len;
	void *body, *rep = NULL;
	size_t rlen = 0;
	int r;

	if (strcmp(method, "Fail") == 0) {
		Busd__Examples__FailRequest req = BUSD__EXAMPLES__FAIL_REQUEST__INIT;
		req.message = "asked to";
		body = harness_pack(&req.base, &len);
		r = bus_call(bus, dest, NULL, "Fail", "busd.examples.FailRequest", body, len, 5000000u,
			     err, &rep, &rlen);
	} else {
		Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
		req.text = "hi";
		body = harness_pack(&req.base, &len);
		r = bus_call(bus, dest, NULL, method, "busd.examples.EchoRequest", body, len, 5000000u,
			     err, &rep, &rlen);
	}
	free(body);
	free(rep);
	return r;
}

/* Runs as another user: one command per line from the test, one answer. */
static int agent(int ctl, void *arg)
{
	const struct who *w = arg;
	struct inbox in = { "" };
	char line[256], a[128], b[128];
	int count;
	bus_t *bus;
	bus_error_t err;

	if (setgroups(w->group ? 1 : 0, &w->group) < 0 || setgid(w->gid) < 0 || setuid(w->uid) < 0)
		return 20;
	if (bus_connect(&bus, harness_socket(), &err) < 0) {
		harness_send(ctl, "err %s %s", err.name, err.message);
		return 21;
	}
	harness_send(ctl, "%s", bus_unique_name(bus));
	while (harness_recv(ctl, line, sizeof(line), 60000) > 0) {
		a[0] = b[0] = '\0';
		if (sscanf(line, "own %127s", a) == 1) {
			reply_err(ctl, bus_request_name(bus, a, &err), &err);
		} else if (sscanf(line, "call %127s %127s", a, b) == 2) {
			reply_err(ctl, do_call(bus, a, b, &err), &err);
		} else if (sscanf(line, "emit %127s", a) == 1) {
			/* a refusal comes as BUS_CONN_REFUSED: a round trip brings it */
			bus_error_t refused;
			bus_error_clear(&refused);
			bus_set_connection_handler(bus, on_conn, &refused);
			int r = bus_emit_raw(bus, a, "", "", 0);
			do_call(bus, "org.busd.Echo", "Echo", &err);
			while (bus_process(bus) > 0)
				;
			bus_set_connection_handler(bus, NULL, NULL);
			if (r < 0)
				harness_send(ctl, "err emit");
			else if (bus_error_is_set(&refused))
				harness_send(ctl, "refused %s %s", refused.name, refused.message);
			else
				harness_send(ctl, "sent");
		} else if (sscanf(line, "sub %127s", a) == 1) {
			int r = bus_subscribe(bus, NULL, a, on_event, &in, &err);
			reply_err(ctl, r, &err);
		} else if (strcmp(line, "events") == 0) {
			harness_sync(bus); /* what busd routed before has come in */
			harness_send(ctl, "topics %s", in.topics);
			in.topics[0] = '\0';
		} else if (strcmp(line, "monitor") == 0) {
			reply_err(ctl, bus_become_monitor(bus, on_frame, NULL, &err), &err);
		} else if (sscanf(line, "many %127s %127s %d", a, b, &count) == 3) {
			int denied = 0;
			for (int i = 0; i < count; i++)
				denied += do_call(bus, a, b, &err) < 0 &&
					  bus_error_has_name(&err, "bus.Error.AccessDenied");
			harness_send(ctl, "denied %d", denied);
		} else if (strcmp(line, "ping") == 0) {
			reply_err(ctl, do_call(bus, "org.busd.Echo", "Echo", &err), &err);
		} else {
			break;
		}
	}
	bus_close(bus);
	return 0;
}

struct agent {
	harness_child c;
	char unique[64];
	char answer[1024];
};

static void agent_start(struct agent *ag, const struct who *w, const char *label)
{
	memset(ag, 0, sizeof(*ag));
	ag->c.ctl = -1;
	if (harness_fork(&ag->c, agent, (void *)w) < 0 ||
	    harness_recv(ag->c.ctl, ag->unique, sizeof(ag->unique), 10000) <= 0 ||
	    ag->unique[0] != ':')
		printf("Bail out! agent %s did not connect (%s)\n", label, ag->unique);
}

/* Send a command; the answer is in ag->answer (and returned). */
static __attribute__((format(printf, 2, 3))) const char *ask(struct agent *ag, const char *fmt, ...)
{
	char cmd[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	harness_send(ag->c.ctl, "%s", cmd);
	if (harness_recv(ag->c.ctl, ag->answer, sizeof(ag->answer), 15000) < 0)
		snprintf(ag->answer, sizeof(ag->answer), "(no answer)");
	return ag->answer;
}

static int denied(const char *answer, const char *needle)
{
	return strncmp(answer, "err bus.Error.AccessDenied ", 27) == 0 &&
	       (!needle || strstr(answer, needle));
}

static char rule_at[600];
static const char *at(int line)
{
	snprintf(rule_at, sizeof(rule_at), "%s:%d: ", conf, line);
	return rule_at;
}

/* ---------------------------------------------------------------- restarts */

struct heard {
	int name_lost, sub_failed, restored;
	char name_err[1200], sub_err[1200], subject[2][128];
};

static void on_heard(bus_t *bus, enum bus_conn_event event, const char *subject,
		     const bus_error_t *err, void *ud)
{
	struct heard *h = ud;
	(void)bus;
	if (event == BUS_CONN_NAME_LOST) {
		h->name_lost++;
		snprintf(h->subject[0], sizeof(h->subject[0]), "%s", subject ? subject : "");
		snprintf(h->name_err, sizeof(h->name_err), "%s: %s", err ? err->name : "",
			 err ? err->message : "");
	} else if (event == BUS_CONN_SUBSCRIBE_FAILED) {
		h->sub_failed++;
		snprintf(h->subject[1], sizeof(h->subject[1]), "%s", subject ? subject : "");
		snprintf(h->sub_err, sizeof(h->sub_err), "%s: %s", err ? err->name : "",
			 err ? err->message : "");
	} else if (event == BUS_CONN_RESTORED) {
		h->restored++;
	}
}

/* busd comes back with a policy that refuses what a reconnecting peer had:
 * libbus reports each refusal and carries on with the rest. */
static void test_restore_refused(bus_t *root)
{
	struct heard h = { 0 };
	bus_error_t err;
	struct inbox in = { "" };

	bus_set_connection_handler(root, on_heard, &h);
	bus_set_reconnect(root, 1);
	ok(bus_request_name(root, "org.test.Later", &err) == 0 &&
	   bus_subscribe(root, NULL, "later.news", on_event, &in, &err) == 0 &&
	   bus_subscribe(root, NULL, "open.news", on_event, &in, &err) == 0,
	   "restart: root owns org.test.Later and subscribes to later.news and open.news");
	FILE *f = fopen(conf, "w");
	if (f) {
		fprintf(f, "[policy]\ndeny = own org.test.Later\ndeny = subscribe later.*\n");
		fclose(f);
	}
	harness_kill();
	harness_start((const char *[]){ "-c", conf, NULL });
	uint64_t until = harness_now_ms() + 10000;
	while (!h.restored && harness_now_ms() < until)
		harness_loop_for(root, 20);
	is_int(h.restored, 1, "  busd is killed and starts with a policy against them: root reconnects");
	ok(h.name_lost == 1 && strcmp(h.subject[0], "org.test.Later") == 0 &&
	   strstr(h.name_err, "bus.Error.AccessDenied") && strstr(h.name_err, ":2: deny own"),
	   "  and hears BUS_CONN_NAME_LOST for the name, with busd's reason (%s)", h.name_err);
	ok(h.sub_failed == 1 && strcmp(h.subject[1], "later.news") == 0 &&
	   strstr(h.sub_err, ":3: deny subscribe later.*"),
	   "  and BUS_CONN_SUBSCRIBE_FAILED for later.news (%s)", h.sub_err);
	Bus__Empty empty = BUS__EMPTY__INIT;
	bus_emit(root, "open.news", &empty.base);
	until = harness_now_ms() + 3000;
	while (!in.topics[0] && harness_now_ms() < until)
		harness_loop_for(root, 20);
	is_str(in.topics, "open.news", "  the subscription busd still allows works again");
	bus_set_connection_handler(root, NULL, NULL);
}

/* ---------------------------------------------------------------- tests */

#define CHECKS 39

int main(void)
{
	plan(CHECKS);
	struct passwd *nobody = getpwnam("nobody");
	const char *cannot = geteuid() != 0 ? "changing uid needs root" :
			     !nobody	    ? "no user 'nobody'" :
					      NULL;
	if (cannot) {
		for (int i = 1; i <= CHECKS; i++)
			skip(cannot, "policy check %d of %d", i, CHECKS);
		return tap_done();
	}
	snprintf(conf, sizeof(conf), "%s/busd-policy.%d.conf",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	write_conf();
	const char *args[] = { "-c", conf, NULL };
	harness_start(args);
	chmod(harness_dir(), 0755); /* the other users connect to the socket in it */

	harness_child echo, priv;
	const char *priv_args[] = { "--name", "org.test.Private", NULL };
	if (harness_spawn_echo(&echo) < 0 || harness_spawn(&priv, "services/echo", priv_args) < 0 ||
	    harness_wait_name(NULL, "org.test.Private", 10000) < 0)
		printf("Bail out! the echo services did not start\n");
	bus_t *root = harness_connect();
	bus_error_t err;

	struct who wn = { nobody->pw_uid, nobody->pw_gid, 0 };
	struct who wg = { OTHER_UID, OTHER_GID, RULE_GID };
	struct who wu = { OTHER_UID, OTHER_GID, 0 };
	struct agent n, g, u;
	agent_start(&n, &wn, "nobody");
	agent_start(&g, &wg, "uid 4343 in group 4242");
	agent_start(&u, &wu, "uid 4343");

	/* ---- credentials */
	Bus__ListNamesReply *l = NULL;
	harness_list_names(root, &l);
	Bus__PeerInfo *pn = l ? harness_find_peer(l, n.unique) : NULL;
	Bus__PeerInfo *pg = l ? harness_find_peer(l, g.unique) : NULL;
	ok(pn && pn->uid == wn.uid && pn->gid == wn.gid && pn->n_groups == 0,
	   "ListNames shows nobody's uid and gid, and no groups");
	ok(pg && pg->uid == OTHER_UID && pg->n_groups == 1 && pg->groups[0] == RULE_GID,
	   "  and the supplementary group of another peer (SO_PEERGROUPS)");
	if (l)
		protobuf_c_message_free_unpacked(&l->base, NULL);

	/* ---- own */
	is_str(ask(&n, "own org.test.Nobody"), "ok",
	       "own: nobody may own the name a rule gives it (user=nobody)");
	ok(denied(ask(&n, "own org.test.Other"), "no [policy] rule allows it"),
	   "  but no other name: owning needs a rule (%s)", n.answer);
	is_str(ask(&g, "own org.test.Group.A"), "ok",
	   "  a member of group 4242 (supplementary) may own org.test.Group.*");
	ok(denied(ask(&u, "own org.test.Group.B"), NULL),
	   "  the same uid without the group may not (%s)", u.answer);
	is_int(bus_request_name(root, "org.test.Anything", &err), 0,
	       "  root may own a name no rule mentions (the default)");
	ok(bus_request_name(root, "org.test.RootDenied", &err) < 0 &&
	   bus_error_has_name(&err, "bus.Error.AccessDenied") &&
	   strstr(err.message, at(10)) && strstr(err.message, "deny own org.test.RootDenied user=0"),
	   "  but not one a rule denies to root: root is no bypass (%s)", err.message);

	/* ---- call */
	is_str(ask(&n, "call %s %s", "org.busd.Echo", "Echo"), "ok", "call: nobody may call Echo");
	ok(denied(ask(&n, "call %s %s", "org.busd.Echo", "Fail"), at(4)) &&
	   strstr(n.answer, "deny call org.busd.Echo method=Fail user=65534"),
	   "  but not Fail, denied by line 4 (%s)", n.answer);
	Bus__PeerInfo *owner = NULL;
	harness_get_name_owner(root, "org.busd.Echo", &owner, &err);
	char echo_id[64] = "";
	if (owner) {
		snprintf(echo_id, sizeof(echo_id), "%s", owner->unique_name);
		protobuf_c_message_free_unpacked(&owner->base, NULL);
	}
	ok(denied(ask(&n, "call %s %s", echo_id, "Fail"), at(4)),
	   "  nor through echo's unique id %s (%s)", echo_id, n.answer);
	is_str(ask(&u, "call %s %s", "org.busd.Echo", "Fail"),
	       "err org.busd.Echo.Error.Failed asked to",
	       "  another user's Fail reaches the service (its own error)");
	ok(do_call(root, "org.test.Private", "Echo", &err) < 0 &&
	   bus_error_has_name(&err, "bus.Error.AccessDenied") && strstr(err.message, at(5)),
	   "  a deny with no user binds root too (%s)", err.message);
	ok(denied(ask(&u, "call %s %s", "org.test.Private", "Echo"), at(5)), "  and everyone else");

	/* ---- subscribe */
	struct inbox rin = { "" };
	is_str(ask(&n, "sub %s", "*"), "ok", "subscribe: nobody may subscribe to *");
	ok(denied(ask(&g, "sub %s", "secret.*"), at(8)),
	   "  nobody but root may subscribe to secret.* (%s)", g.answer);
	ok(bus_subscribe(root, NULL, "secret.*", on_event, &rin, &err) == 0,
	   "  root may (allowed by line 7 before line 8 denies)");
	Bus__Empty empty = BUS__EMPTY__INIT;
	bus_emit(root, "secret.plans", &empty.base);
	bus_emit(root, "public.news", &empty.base);
	harness_sync(root); /* busd has routed both */
	is_str(ask(&n, "events"), "topics public.news",
	       "  nobody's * gets public.news but not secret.plans");
	is_str(rin.topics, "secret.plans", "  root's secret.* gets secret.plans");

	/* ---- emit */
	struct inbox ain = { "" };
	bus_subscribe(root, NULL, "alarm.*", on_event, &ain, &err);
	bus_subscribe(root, NULL, "public.*", on_event, &ain, &err);
	ask(&n, "emit %s", "alarm.fire");
	ok(strncmp(n.answer, "refused bus.Error.AccessDenied emit alarm.fire is not allowed (", 63) == 0 &&
	   strstr(n.answer, at(6)), "emit: libbus tells nobody its alarm.fire was refused "
	   "(BUS_CONN_REFUSED: %s)", n.answer);
	is_str(ask(&n, "emit %s", "public.weather"), "sent", "  public.weather is not refused");
	ask(&n, "ping"); /* after nobody's events */
	harness_sync(root);
	is_str(ain.topics, "public.weather", "  a subscriber of both gets public.weather only");
	const char *reserved = "refused bus.Error.AccessDenied the topic bus.NameOwnerChanged "
			       "is busd's own";
	ask(&n, "emit %s", "bus.NameOwnerChanged");
	ok(strncmp(n.answer, reserved, strlen(reserved)) == 0,
	   "  nobody may emit on bus.*, busd's own topics (%s)", n.answer);
	struct inbox bin = { "" };
	bus_subscribe(root, NULL, "bus", on_event, &bin, &err);
	bus_emit(root, "bus", &empty.base);
	harness_sync(root);
	is_str(bin.topics, "", "  not even root, whom no rule stops from emitting (%s)", bin.topics);
	uint64_t until = harness_now_ms() + 3000;
	while (!harness_log_has("access denied: emit alarm.fire") && harness_now_ms() < until)
		harness_sleep_ms(20);
	char needle[1024];
	snprintf(needle, sizeof(needle), "peer %s (pid %d, test-policy) uid %d: access denied: "
		 "emit alarm.fire (%s", n.unique, (int)n.c.pid, (int)wn.uid, at(6));
	ok(harness_log_has(needle), "  the log names the peer, its pid, comm and uid, and the rule");

	/* ---- monitor */
	ok(denied(ask(&u, "monitor"), "only root and busd's own user may monitor"),
	   "monitor: needs a rule (%s)", u.answer);
	is_str(ask(&n, "monitor"), "ok", "  nobody has one");

	/* ---- a user that keeps asking does not flood the log: its lines share
	 * one budget (a uid of its own here, so that every line is this peer's) */
	struct who wq = { OTHER_UID + 1, OTHER_GID, 0 };
	struct agent u2;
	agent_start(&u2, &wq, "uid 4344");
	is_str(ask(&u2, "many %s %s 30", "org.test.Private", "Echo"), "denied 30",
	       "30 denied calls in a row: each answered AccessDenied");
	harness_sleep_ms(1100);
	ask(&u2, "many %s %s 1", "org.test.Private", "Echo");
	char path[600], ln[2048], who[96];
	long logged = 0, untold = 0;
	snprintf(path, sizeof(path), "%s/busd.log", harness_dir());
	snprintf(who, sizeof(who), "peer %s (", u2.unique);
	FILE *lf = fopen(path, "r");
	while (lf && fgets(ln, sizeof(ln), lf)) {
		const char *q = strstr(ln, who);
		if (q && strstr(q, "access denied: call org.test.Private"))
			logged++;
	}
	if (lf)
		rewind(lf);
	while (lf && fgets(ln, sizeof(ln), lf)) {
		const char *m = strstr(ln, "notice: uid 4344: ");
		if (m && strstr(m, "more log lines were left out"))
			untold += strtol(m + 18, NULL, 10);
	}
	if (lf)
		fclose(lf);
	ok(logged <= 20 && untold > 0 && logged + untold == 31,
	   "  at most 10 log lines a second for its uid, the rest summed up (%ld lines, %ld untold)",
	   logged, untold);
	harness_send(u2.c.ctl, "quit");
	harness_wait(&u2.c, 5000);

	/* ---- the counter */
	Bus__StatsReply *st = harness_stats(root);
	ok(st && st->access_denied >= 10, "Stats counts the denials (%llu)",
	   st ? (unsigned long long)st->access_denied : 0ull);
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);

	/* ---- SIGHUP */
	FILE *f = fopen(conf, "w");
	if (f) { /* one rule only: nobody may not call echo at all */
		fprintf(f, "[policy]\ndeny = call org.busd.Echo user=nobody\n");
		fclose(f);
	}
	kill(harness_busd_pid(), SIGHUP);
	until = harness_now_ms() + 5000;
	while (!harness_log_has("reloaded the configuration") && harness_now_ms() < until)
		harness_sleep_ms(20);
	ok(strcmp(ask(&g, "call %s %s", "org.test.Private", "Echo"), "ok") == 0,
	   "SIGHUP: the new policy applies to connected peers (org.test.Private is open now: %s)",
	   g.answer);
	ok(denied(ask(&u, "own org.test.Group.C"), NULL), "  owning still needs a rule");
	struct agent n2;
	agent_start(&n2, &wn, "nobody again");
	ok(denied(ask(&n2, "call %s %s", "org.busd.Echo", "Echo"), "/busd-policy."),
	   "  and nobody may not call echo at all any more (%s)", n2.answer);

	for (struct agent *a[] = { &n, &g, &u, &n2, NULL }, **p = a; *p; p++) {
		harness_send((*p)->c.ctl, "quit");
		harness_wait(&(*p)->c, 5000);
	}
	test_restore_refused(root);
	bus_close(root);
	harness_signal(&echo, SIGTERM);
	harness_signal(&priv, SIGTERM);
	harness_wait(&echo, 5000);
	harness_wait(&priv, 5000);
	int r = harness_done();
	unlink(conf);
	return r;
}
