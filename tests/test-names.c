/* test-names.c - connection identity and name ownership against a real busd:
 * unique ids from Hello, RequestName/ReleaseName outcomes (waiting and with
 * the async forms), names released when their owner goes away,
 * bus.NameOwnerChanged events, and what GetNameOwner and ListNames tell
 * about peers. */
#include "config.h"

#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "exporter.h"

/* ---------------------------------------------------------------- helpers */

static long unique_number(const char *u)
{
	regex_t re;
	regcomp(&re, "^:[0-9]+$", REG_EXTENDED | REG_NOSUB);
	int match = u && regexec(&re, u, 0, NULL, 0) == 0;
	regfree(&re);
	return match ? atol(u + 1) : -1;
}

/* A control call with a NameRequest body, to see busd's own answer (libbus
 * may refuse bad names before they reach the wire). */
static int name_call(bus_t *bus, const char *method, const char *name, bus_error_t *err)
{
	Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
	size_t len, rlen;
	void *reply = NULL;
	req.name = (char *)name;
	void *body = harness_pack(&req.base, &len);
	bus_error_clear(err);
	int r = bus_call(bus, BUS_NAME, "bus.Bus", method, "bus.NameRequest", body, len, 5000000,
			 err, &reply, &rlen);
	free(body);
	free(reply);
	return r;
}

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	buf[0] = 0;
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = 0;
		fclose(f);
	}
}

static int has_name(const Bus__PeerInfo *p, const char *name)
{
	for (size_t i = 0; p && i < p->n_names; i++)
		if (strcmp(p->names[i], name) == 0)
			return 1;
	return 0;
}

/* NameOwnerChanged events seen for names under "org.test.noc.", as
 * "name old new" lines. */
struct noc_log {
	char lines[32][200];
	int n;
	int bad_sender, bad_body;
};

static void on_noc(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	struct noc_log *l = ud;
	Bus__NameOwnerChanged *m = (Bus__NameOwnerChanged *)bus_msg_unpack(
		ev, &bus__name_owner_changed__descriptor);
	if (strcmp(ev->sender, "bus") != 0 || strcmp(ev->member, BUS_TOPIC_NAME_OWNER_CHANGED) != 0)
		l->bad_sender++;
	if (!m || strcmp(ev->body_type, "bus.NameOwnerChanged") != 0) {
		l->bad_body++;
	} else if (strncmp(m->name, "org.test.noc.", 13) == 0 && l->n < 32) {
		snprintf(l->lines[l->n++], sizeof(l->lines[0]), "%s %s %s", m->name,
			 *m->old_owner ? m->old_owner : "-", *m->new_owner ? m->new_owner : "-");
	}
	if (m)
		protobuf_c_message_free_unpacked(&m->base, NULL);
}

static void noc_wait(bus_t *bus, struct noc_log *l, int count)
{
	uint64_t deadline = harness_now_ms() + 10000;
	while (l->n < count && harness_now_ms() < deadline)
		harness_loop_for(bus, 20);
}

/* ---------------------------------------------------------------- tests */

static void test_unique_names(void)
{
	bus_t *c[3];
	long n[3];
	for (int i = 0; i < 3; i++) {
		c[i] = harness_connect();
		n[i] = unique_number(bus_unique_name(c[i]));
		ok(n[i] > 0, "Hello gives a unique name \":N\" (got \"%s\")", bus_unique_name(c[i]));
	}
	ok(n[0] < n[1] && n[1] < n[2], "unique ids count up per connection (%ld, %ld, %ld)",
	   n[0], n[1], n[2]);
	bus_close(c[2]);
	c[2] = harness_connect();
	long again = unique_number(bus_unique_name(c[2]));
	ok(again > n[2], "a new connection never reuses a closed one's id (%ld after %ld)", again, n[2]);
	for (int i = 0; i < 3; i++)
		bus_close(c[i]);
}

static void test_ownership(void)
{
	bus_t *a = harness_connect(), *b = harness_connect();
	bus_error_t err = { .name = "" };
	Bus__PeerInfo *info = NULL;

	is_int(bus_request_name(a, "org.test.Owned", &err), 0, "RequestName of a free name");
	int r = harness_get_name_owner(b, "org.test.Owned", &info, NULL);
	ok(r == 0 && strcmp(info->unique_name, bus_unique_name(a)) == 0,
	   "GetNameOwner names the new owner");
	if (r == 0)
		protobuf_c_message_free_unpacked(&info->base, NULL);

	bus_error_clear(&err);
	r = bus_request_name(b, "org.test.Owned", &err);
	is_int(r, -EREMOTE, "second claim by another peer fails");
	is_str(err.name, BUS_ERROR_NAME_TAKEN, "with bus.Error.NameTaken");
	bus_error_clear(&err);
	r = bus_release_name(b, "org.test.Owned", &err);
	is_int(r, -EREMOTE, "release by a non-owner fails");
	is_str(err.name, BUS_ERROR_NOT_OWNER, "with bus.Error.NotOwner");
	bus_error_clear(&err);
	r = bus_release_name(a, "org.test.Never", &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NOT_OWNER),
	   "release of a name nobody owns: bus.Error.NotOwner");

	is_int(bus_release_name(a, "org.test.Owned", &err), 0, "owner releases the name");
	r = harness_get_name_owner(b, "org.test.Owned", &info, &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "GetNameOwner of the released name: bus.Error.NameHasNoOwner");
	is_int(bus_request_name(b, "org.test.Owned", &err), 0, "another peer can claim it now");

	static const char *const bad[] = { ":1", "bus", "", "a..b", "a b", NULL };
	for (const char *const *n = bad; *n; n++) {
		r = name_call(a, "RequestName", *n, &err);
		ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_INVALID_ARGS),
		   "busd refuses RequestName \"%s\" with bus.Error.InvalidArgs (%d %s)", *n, r, err.name);
		ok(bus_request_name(a, *n, NULL) < 0, "bus_request_name(\"%s\") fails", *n);
	}
	r = name_call(a, "ReleaseName", "bus", &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_INVALID_ARGS),
	   "ReleaseName \"bus\": bus.Error.InvalidArgs");

	/* A control request whose body does not parse. */
	bus_error_clear(&err);
	void *reply = NULL;
	size_t rlen;
	r = bus_call(a, BUS_NAME, "bus.Bus", "RequestName", "bus.NameRequest", "\xff\xff\xff", 3,
		     5000000, &err, &reply, &rlen);
	free(reply);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_INVALID_ARGS),
	   "RequestName with an unparsable body: bus.Error.InvalidArgs");
	ok(harness_get_name_owner(a, "org.test.Owned", &info, NULL) == 0,
	   "the connection stays usable after control errors");
	if (info)
		protobuf_c_message_free_unpacked(&info->base, NULL);
	bus_close(a);
	bus_close(b);
}

static void test_disconnect_releases(bus_t *main_bus)
{
	struct noc_log log = { .n = 0 };
	bus_error_t err = { .name = "" };
	bus_t *mon = harness_connect();
	bus_slot_t *sub;
	is_int(bus_subscribe(mon, &sub, BUS_TOPIC_NAME_OWNER_CHANGED, on_noc, &log, &err), 0,
	       "subscribe to bus.NameOwnerChanged");
	char me[64];
	snprintf(me, sizeof(me), "%s", bus_unique_name(main_bus));

	bus_request_name(main_bus, "org.test.noc.A", &err);
	bus_release_name(main_bus, "org.test.noc.A", &err);

	harness_child killed, quits;
	char u_killed[64] = "", u_quits[64] = "";
	int r1 = exporter_start(&killed, "org.test.noc.B", u_killed);
	int r2 = exporter_start(&quits, "org.test.noc.C", u_quits);
	ok(r1 == 0 && r2 == 0, "two helper processes own org.test.noc.B and .C");

	harness_signal(&killed, SIGKILL);
	harness_wait(&killed, 5000);
	harness_send(quits.ctl, "quit");
	is_int(harness_wait(&quits, 5000), 0, "the graceful owner exits 0");

	noc_wait(mon, &log, 6);
	char want[6][200];
	snprintf(want[0], 200, "org.test.noc.A - %s", me);
	snprintf(want[1], 200, "org.test.noc.A %s -", me);
	snprintf(want[2], 200, "org.test.noc.B - %s", u_killed);
	snprintf(want[3], 200, "org.test.noc.B %s -", u_killed);
	snprintf(want[4], 200, "org.test.noc.C - %s", u_quits);
	snprintf(want[5], 200, "org.test.noc.C %s -", u_quits);
	is_int(log.n, 6, "six NameOwnerChanged events for the three names");
	/* Per name the order is fixed; across names it depends on scheduling. */
	int all = 1;
	for (int w = 0; w < 6; w++) {
		int at = -1, before = -1;
		for (int i = 0; i < log.n; i++) {
			if (strcmp(log.lines[i], want[w]) == 0)
				at = i;
			if (w % 2 && strcmp(log.lines[i], want[w - 1]) == 0)
				before = i;
		}
		all &= ok(at >= 0 && (w % 2 == 0 || before < at), "event \"%s\"%s", want[w],
			  w % 2 ? " after the gain" : "");
	}
	for (int i = 0; !all && i < log.n; i++)
		diag("seen: %s", log.lines[i]);
	is_int(log.bad_sender, 0, "NameOwnerChanged comes from sender \"bus\" on its topic");
	is_int(log.bad_body, 0, "its body is a bus.NameOwnerChanged");

	bus_t *other = harness_connect();
	Bus__PeerInfo *info = NULL;
	int r = harness_get_name_owner(other, "org.test.noc.B", &info, &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "a killed owner's name has no owner");
	is_int(bus_request_name(other, "org.test.noc.B", &err), 0, "another peer claims the killed owner's name");
	is_int(bus_request_name(other, "org.test.noc.C", &err), 0, "and the graceful owner's name");
	bus_close(other);
	bus_slot_unref(sub);
	bus_close(mon);
}

static void test_peer_info(bus_t *main_bus)
{
	harness_child exp, echo;
	char u_exp[64] = "";
	char comm[64];
	Bus__PeerInfo *info = NULL;
	bus_error_t err = { .name = "" };

	require(exporter_start(&exp, "org.test.Info", u_exp) == 0, "an exporter owns org.test.Info");
	bus_request_name(main_bus, "org.test.InfoMain", NULL);
	int r = harness_get_name_owner(main_bus, "org.test.Info", &info, &err);
	is_int(r, 0, "GetNameOwner of an owned name");
	/* Without an answer the checks below meet an empty PeerInfo and fail. */
	Bus__PeerInfo none = BUS__PEER_INFO__INIT;
	const Bus__PeerInfo *pi = r == 0 ? info : &none;
	is_str(pi->unique_name, u_exp, "unique_name is the owner's");
	is_int(pi->pid, exp.pid, "pid is the owner process's pid (SO_PEERCRED)");
	is_int(pi->uid, getuid(), "uid is the owner's uid");
	is_int(pi->gid, getgid(), "gid is the owner's gid");
	read_comm(exp.pid, comm, sizeof(comm));
	is_str(pi->comm, comm, "comm is the owner's /proc comm");
	ok(has_name(pi, "org.test.Info") && pi->n_names == 1, "names lists the owned name");
	if (r == 0)
		protobuf_c_message_free_unpacked(&info->base, NULL);
	r = harness_get_name_owner(main_bus, "org.test.Nobody", &info, &err);
	ok(r == -EREMOTE && bus_error_has_name(&err, BUS_ERROR_NAME_HAS_NO_OWNER),
	   "GetNameOwner of an unowned name: bus.Error.NameHasNoOwner");

	require(harness_spawn_echo(&echo) == 0, "services/echo owns %s", HARNESS_ECHO_NAME);

	Bus__ListNamesReply *l = NULL;
	r = harness_list_names(main_bus, &l);
	is_int(r, 0, "ListNames answers");
	Bus__ListNamesReply no_list = BUS__LIST_NAMES_REPLY__INIT;
	const Bus__ListNamesReply *ln = r == 0 ? l : &no_list;
	Bus__PeerInfo *me = harness_find_peer(ln, bus_unique_name(main_bus));
	Bus__PeerInfo *ex = harness_find_peer(ln, u_exp);
	ok(me && me->pid == (uint32_t)getpid(), "ListNames has this connection with this pid");
	ok(me && has_name(me, "org.test.InfoMain"), "with the name it owns");
	ok(ex && ex->pid == (uint32_t)exp.pid && has_name(ex, "org.test.Info"),
	   "ListNames has the exporter with its pid and name");
	Bus__PeerInfo *ec = NULL;
	for (size_t i = 0; i < ln->n_peers; i++)
		if (has_name(ln->peers[i], HARNESS_ECHO_NAME))
			ec = ln->peers[i];
	ok(ec && ec->pid == (uint32_t)echo.pid, "services/echo is listed with its own pid (%d)",
	   (int)echo.pid);
	read_comm(echo.pid, comm, sizeof(comm));
	is_str(ec ? ec->comm : NULL, comm, "and its comm");
	int dup = 0;
	for (size_t i = 0; i < ln->n_peers; i++)
		for (size_t j = i + 1; j < ln->n_peers; j++)
			dup += strcmp(ln->peers[i]->unique_name, ln->peers[j]->unique_name) == 0;
	is_int(dup, 0, "every peer is listed once");
	if (r == 0)
		protobuf_c_message_free_unpacked(&l->base, NULL);

	/* Stats counts the same peers. */
	Bus__StatsRequest sreq = BUS__STATS_REQUEST__INIT;
	size_t len, rlen;
	void *reply = NULL;
	void *body = harness_pack(&sreq.base, &len);
	r = bus_call(main_bus, BUS_NAME, "bus.Bus", "Stats", "bus.StatsRequest", body, len, 5000000,
		     &err, &reply, &rlen);
	free(body);
	Bus__StatsReply *st = r == 0 ? bus__stats_reply__unpack(NULL, rlen, reply) : NULL;
	free(reply);
	ok(st != NULL, "Stats answers");
	Bus__StatsReply no_stats = BUS__STATS_REPLY__INIT;
	const Bus__StatsReply *sr = st ? st : &no_stats;
	is_int(sr->max_frame_size, 16 * 1024 * 1024, "default max frame size is 16 MiB");
	ok(sr->peers >= 3, "Stats counts the connected peers (%u)", sr->peers);
	ok(sr->names >= 3, "Stats counts the owned names (%u)", sr->names);
	ok(sr->calls > 0 && sr->frames_in > 0 && sr->frames_out > 0, "Stats counts traffic");
	if (st)
		bus__stats_reply__free_unpacked(st, NULL);
	harness_send(exp.ctl, "quit");
	harness_wait(&exp, 5000);
	harness_signal(&echo, SIGTERM);
	harness_wait(&echo, 5000);
}

static void test_async_names(void)
{
	bus_t *a = harness_connect(), *b = harness_connect();
	struct harness_outcome got = { 0 }, taken = { 0 }, dropped = { 0 }, released = { 0 },
			       not_owner = { 0 };
	bus_slot_t *slot = NULL;
	char buf[64];

	is_int(bus_request_name_async(a, NULL, "org.test.Async", harness_on_done, &got), 0,
	       "bus_request_name_async returns at once");
	is_int(got.n, 0, "  busd's answer is not reported from inside the call");
	harness_loop_until(a, &got.n, 5000);
	ok(got.n == 1 && !got.err[0], "  but from bus_process(): granted (%s)", got.err);
	is_str(harness_owner_of(b, "org.test.Async", buf, sizeof(buf)), bus_unique_name(a),
	       "  the name is a's");
	bus_request_name_async(b, NULL, "org.test.Async", harness_on_done, &taken);
	harness_loop_until(b, &taken.n, 5000);
	is_str(taken.err, BUS_ERROR_NAME_TAKEN, "another connection's request: bus.Error.NameTaken");

	is_int(bus_request_name_async(a, &slot, "org.test.Dropped", harness_on_done, &dropped), 0,
	       "a request whose slot is dropped at once");
	bus_slot_unref(slot);
	/* busd answers a connection's calls in order: after this one, the
	 * dropped request's answer is in and dispatched. */
	Bus__StatsReply *st = harness_stats(a);
	if (st)
		protobuf_c_message_free_unpacked(&st->base, NULL);
	bus_process(a);
	is_int(dropped.n, 0, "  its callback never runs");
	is_str(harness_owner_of(b, "org.test.Dropped", buf, sizeof(buf)), bus_unique_name(a),
	       "  busd carried the request out all the same");

	bus_release_name_async(a, NULL, "org.test.Async", harness_on_done, &released);
	harness_loop_until(a, &released.n, 5000);
	ok(released.n == 1 && !released.err[0], "bus_release_name_async: released (%s)", released.err);
	is_str(harness_owner_of(b, "org.test.Async", buf, sizeof(buf)), "-", "  the name has no owner");
	bus_release_name_async(a, NULL, "org.test.Async", harness_on_done, &not_owner);
	harness_loop_until(a, &not_owner.n, 5000);
	is_str(not_owner.err, BUS_ERROR_NOT_OWNER, "  again: bus.Error.NotOwner");
	bus_close(a);
	bus_close(b);
}

int main(void)
{
	plan(77);
	harness_start(NULL);
	bus_t *bus = harness_connect();

	test_unique_names();
	test_ownership();
	test_async_names();
	test_disconnect_releases(bus);
	test_peer_info(bus);

	bus_close(bus);
	return harness_done();
}
