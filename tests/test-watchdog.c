/* test-watchdog.c - busd's watchdog over supervised services declared with
 * watchdog_seconds = 1. The echo service is pinged (bus.Peer.Ping to its
 * first name) once a period and answers, so it is left running; a service
 * that only makes sync calls (this program run as --sync-service, waiting
 * in one long call to echo's Delay) answers from inside that wait and is
 * left running too. Once SIGSTOPped, echo cannot answer: busd kills it
 * (logging why) and its supervisor starts a new instance, which owns the
 * name again. The time from SIGSTOP to the new instance is printed (the
 * design bound is two periods); the check allows several seconds more, so
 * that a busy machine cannot fail it. */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo.pb-c.h"
#include "harness.h"

#define NAME "org.busd.Echo"
#define SYNC_NAME "org.test.SyncOnly"
#define PERIOD_S 1
/* two periods, plus slack for a busy machine */
#define REPLACED_BOUND_MS (2 * PERIOD_S * 1000 + 13000)

static char svc_dir[256];
static char svc_file[300], sync_file[300];

static void cleanup(void)
{
	if (svc_file[0])
		unlink(svc_file);
	if (sync_file[0])
		unlink(sync_file);
	if (svc_dir[0])
		rmdir(svc_dir);
}

/* --sync-service: a supervised service that never runs a loop. It owns
 * SYNC_NAME and then waits in sync calls to echo's Delay (ten minutes
 * each), again whenever one ends; only libbus's answer from the wait of a
 * sync call keeps the watchdog content. */
static int sync_service(void)
{
	bus_t *bus = NULL;
	bus_error_t err;

	if (bus_connect(&bus, NULL, &err) < 0 || bus_request_name(bus, SYNC_NAME, &err) < 0) {
		fprintf(stderr, "sync-service: %s: %s\n", err.name, err.message);
		return 1;
	}
	Busd__Examples__DelayRequest req = BUSD__EXAMPLES__DELAY_REQUEST__INIT;
	req.ms = 600000;
	req.text = "sync-service";
	size_t len;
	void *body = harness_pack(&req.base, &len);
	for (;;) {
		void *reply = NULL;
		size_t rlen;
		if (bus_wait_name(bus, NAME, 0, &err) < 0)
			break;
		int r = bus_call(bus, NAME, NULL, "Delay", "busd.examples.DelayRequest", body, len,
				 0, &err, &reply, &rlen);
		free(reply);
		if (r < 0 && r != -EREMOTE)
			break;
	}
	free(body);
	bus_close(bus);
	return 0;
}

/* A service's entry of ListServices (state, pid, restarts), or 0 fields
 * when it is not listed. */
struct svc_seen {
	int listed, state, restarts, last_signal;
	pid_t pid;
};

static struct svc_seen service_seen(bus_t *bus, const char *id)
{
	struct svc_seen s = { 0 };
	Bus__ListServicesRequest req = BUS__LIST_SERVICES_REQUEST__INIT;
	bus_error_t err;
	Bus__ListServicesReply *rep = (Bus__ListServicesReply *)harness_control(
		bus, "ListServices", &req.base, &bus__list_services_reply__descriptor, &err);

	for (size_t i = 0; rep && i < rep->n_services; i++) {
		const Bus__ServiceInfo *si = rep->services[i];
		if (strcmp(si->service, id) != 0)
			continue;
		s.listed = 1;
		s.state = si->state;
		s.pid = (pid_t)si->pid;
		s.restarts = (int)si->restarts;
		s.last_signal = si->last_exit_signal;
	}
	if (rep)
		protobuf_c_message_free_unpacked(&rep->base, NULL);
	return s;
}

/* A monitor counts the pings busd sends to a name and the answers its
 * owner (unique) sends back to bus. */
struct pings {
	const char *name, *unique;
	int calls, answers, want;
	int enough;
};

static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct pings *p = ud;

	(void)bus;
	if (m->kind == BUS_KIND_CALL && strcmp(m->sender, BUS_NAME) == 0 &&
	    strcmp(m->destination, p->name) == 0 && strcmp(m->interface, "bus.Peer") == 0 &&
	    strcmp(m->member, "Ping") == 0)
		p->calls++;
	else if (m->kind == BUS_KIND_REPLY && strcmp(m->destination, BUS_NAME) == 0 &&
		 strcmp(m->sender, p->unique) == 0)
		p->answers++;
	p->enough = p->answers >= p->want;
}

/* Watch pings to name until want were answered. */
static int pings_answered(const char *name, struct pings *p, int want)
{
	char unique[64];
	bus_error_t err;
	bus_t *mon = harness_connect();

	memset(p, 0, sizeof(*p));
	p->name = name;
	p->unique = harness_owner_of(mon, name, unique, sizeof(unique));
	p->want = want;
	int r = bus_become_monitor(mon, on_frame, p, &err) == 0 &&
		harness_loop_until(mon, &p->enough, 30000);
	bus_close(mon);
	return r;
}

/* The pending calls of the owner of name (ListNames), -1 if none. */
static int pending_calls_of(bus_t *bus, const char *name)
{
	char unique[64];
	Bus__ListNamesReply *l = NULL;
	int n = -1;

	harness_owner_of(bus, name, unique, sizeof(unique));
	if (harness_list_names(bus, &l) == 0) {
		Bus__PeerInfo *pi = harness_find_peer(l, unique);
		if (pi)
			n = (int)pi->pending_calls;
		protobuf_c_message_free_unpacked(&l->base, NULL);
	}
	return n;
}

/* bus.ServiceStateChanged: echo running again, in another process. */
struct came_up {
	pid_t old;
	int running;
};

static void on_changed(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct came_up *up = ud;
	Bus__ServiceStateChanged *ev =
		(Bus__ServiceStateChanged *)bus_msg_unpack(m, &bus__service_state_changed__descriptor);

	(void)bus;
	if (!ev)
		return;
	if (strcmp(ev->service, "echo") == 0 && ev->new_state == BUS__SERVICE_STATE__RUNNING &&
	    ev->pid && (pid_t)ev->pid != up->old)
		up->running = 1;
	protobuf_c_message_free_unpacked(&ev->base, NULL);
}

int main(int argc, char **argv)
{
	const char *top = getenv("top_builddir");
	char echo[512], self[512];
	bus_error_t err;

	if (argc == 2 && strcmp(argv[1], "--sync-service") == 0)
		return sync_service();
	plan(20);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		harness_bail("readlink /proc/self/exe: %s", strerror(errno));
	self[n] = '\0';
	snprintf(echo, sizeof(echo), "%s/services/echo", top && *top ? top : ".");
	snprintf(svc_dir, sizeof(svc_dir), "%s/busd-watchdog.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(svc_dir)) {
		svc_dir[0] = '\0';
		harness_bail("mkdtemp: %s", strerror(errno));
	}
	atexit(cleanup);
	snprintf(svc_file, sizeof(svc_file), "%s/echo.conf", svc_dir);
	FILE *f = fopen(svc_file, "w");
	if (!f)
		harness_bail("cannot write %s", svc_file);
	fprintf(f, "[service]\nexec = %s\nnames = " NAME "\nrestart = on-failure\nbackoff = 0.1\n"
		   "watchdog_seconds = %d\n", echo, PERIOD_S);
	fclose(f);
	snprintf(sync_file, sizeof(sync_file), "%s/sync.conf", svc_dir);
	if (!(f = fopen(sync_file, "w")))
		harness_bail("cannot write %s", sync_file);
	fprintf(f, "[service]\nexec = %s --sync-service\nnames = " SYNC_NAME "\n"
		   "restart = on-failure\nbackoff = 0.1\nwatchdog_seconds = %d\n", self, PERIOD_S);
	fclose(f);
	harness_start_conf("[services]\ndir = %s\n", svc_dir);

	bus_t *bus = harness_connect();
	require(harness_wait_name(bus, NAME, 20000) == 0, "the echo service owns " NAME);
	struct svc_seen s = service_seen(bus, "echo");
	require(s.listed && s.state == BUS__SERVICE_STATE__RUNNING && s.pid > 0,
		"ListServices: echo is running (pid %d)", (int)s.pid);
	pid_t first = s.pid;

	/* Healthy: three pings answered, the same instance running. */
	struct pings p;
	int answered = pings_answered(NAME, &p, 3);
	ok(answered, "busd pings " NAME " once a period and it answers (%d pings, %d answers)",
	   p.calls, p.answers);
	ok(p.calls >= p.answers && p.calls <= p.answers + 1,
	   "  at most one ping in flight (%d sent, %d answered)", p.calls, p.answers);
	s = service_seen(bus, "echo");
	ok(s.state == BUS__SERVICE_STATE__RUNNING && s.pid == first && s.restarts == 0,
	   "  a service that answers is left running (pid %d, restarts %d)", (int)s.pid, s.restarts);

	/* A program that only makes sync calls answers while it waits in one. */
	require(harness_wait_name(bus, SYNC_NAME, 20000) == 0, "the sync-only service owns "
		SYNC_NAME);
	int pending = pending_calls_of(bus, SYNC_NAME);
	for (uint64_t t = harness_now_ms(); pending < 1 && harness_now_ms() - t < 20000;) {
		harness_sleep_ms(20); /* polling: until its Delay call is in */
		pending = pending_calls_of(bus, SYNC_NAME);
	}
	is_int(pending, 1, "  and waits in its sync call to echo's Delay");
	struct svc_seen before = service_seen(bus, "sync");
	answered = pings_answered(SYNC_NAME, &p, 3);
	ok(answered, "  it answers busd's pings from that wait (%d pings, %d answers)", p.calls,
	   p.answers);
	struct svc_seen after = service_seen(bus, "sync");
	ok(pending_calls_of(bus, SYNC_NAME) == 1 && after.pid == before.pid && after.restarts == 0,
	   "  still inside its call, never killed (pid %d, restarts %d)", (int)after.pid,
	   after.restarts);

	/* Hung: SIGSTOP, and wait for busd to say a new instance runs. */
	struct came_up up = { .old = first };
	require(bus_subscribe(bus, NULL, "bus.ServiceStateChanged", on_changed, &up, &err) == 0,
		"subscribed to bus.ServiceStateChanged");
	uint64_t t0 = harness_now_ms();
	require(kill(first, SIGSTOP) == 0, "SIGSTOP the instance (pid %d)", (int)first);
	uint64_t replaced_ms = 0;
	if (harness_loop_until(bus, &up.running, 60000))
		replaced_ms = harness_now_ms() - t0;
	s = service_seen(bus, "echo");
	diag("replaced %llu ms after SIGSTOP (watchdog %d s: the design bound is two periods, "
	     "%d ms, plus the restart)", (unsigned long long)replaced_ms, PERIOD_S,
	     2 * PERIOD_S * 1000);
	ok(replaced_ms > 0, "a stopped instance is replaced by a new one (pid %d -> %d)",
	   (int)first, (int)s.pid);
	ok(replaced_ms > 0 && replaced_ms < REPLACED_BOUND_MS,
	   "  within two watchdog periods and a generous slack (%llu ms < %d ms)",
	   (unsigned long long)replaced_ms, REPLACED_BOUND_MS);
	ok(harness_log_has("did not answer bus.Peer.Ping within 1 s"),
	   "  busd's log says why it killed it");
	is_int(s.restarts, 1, "  counted as a restart");
	is_int(s.last_signal, SIGKILL, "  the old instance ended by SIGKILL");
	ok(kill(first, 0) < 0 && errno == ESRCH, "  the old process is gone (reaped by busd)");
	require(harness_wait_name(bus, NAME, 20000) == 0, "  " NAME " is owned again");
	Bus__PeerInfo *owner = NULL;
	int r = harness_get_name_owner(bus, NAME, &owner, &err);
	ok(r == 0 && owner &&
	   (pid_t)owner->pid == s.pid, "  by the new instance (pid %d)",
	   owner ? (int)owner->pid : -1);
	if (owner)
		protobuf_c_message_free_unpacked(&owner->base, NULL);

	bus_close(bus);
	return harness_done();
}
