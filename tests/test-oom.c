/* test-oom.c - busd running out of memory on the routing path. busd runs
 * under tests/failmalloc.so, which fails its allocations once it serves
 * (the 50th only, then about one in 100 and one in 25 with fixed seeds),
 * while real libbus clients keep it busy:
 * a callee serving Echo and Fail, callers making pipelined async calls and
 * sync calls and requesting and releasing names, an emitter whose events
 * fan out to two subscribers, and a monitor. busd may refuse things
 * (bus.Error.Failed "out of memory", LimitsExceeded) and may drop a
 * connection, but:
 *
 *   - it never crashes (it exits 0 on SIGTERM at the end, ASan clean);
 *   - every call gets exactly one answer, and none is left to the caller's
 *     own timeout (bus.Error.Timeout means busd stranded it);
 *   - every reply carries the body that was sent, every error the message
 *     the callee gave, every event its own body, in order, once;
 *   - no client ever sees a malformed or out-of-step stream (libbus drops
 *     the connection with "protocol error from busd");
 *   - the shim's count shows that allocations really failed.
 *
 * Clients reconnect by themselves (bus_set_reconnect) and retry the first
 * connection, which busd may fail too. The seed fixes which allocations
 * fail, counted from arming; which allocations busd makes depends on the
 * timing of the clients, so a run is not replayed exactly. Under ASan the
 * shim is preloaded with ASAN_OPTIONS=verify_asan_link_order=0 (see
 * tests/failmalloc.c). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "echo.pb-c.h"
#include "harness.h"

#define CALLEE "org.test.Oom"
#define CALLEE_ERROR "org.test.Oom.Error.Failed"
#define N_CALLERS 3
#define WINDOW 32
#define CALL_TIMEOUT 10000000u   /* generous: only a stranded call reaches it */
#define WORK_MS 3000
#define DATA_LEN 48

enum role { CALLER, CALLEE_ROLE, EMITTER, SUBSCRIBER, MONITOR };

/* What a client saw, summed by the parent. */
struct tally {
	long calls, answers, replies, refusals, wrong, twice, timeouts, bad_errors;
	long names, name_timeouts;
	long emitted, events, bad_events, out_of_order;
	long frames, bad_frames;
	long losses, protocol_losses;
};

static struct tally t;
static char first_bad[256]; /* the first unexpected thing a client saw */
static char first_loss[256]; /* why its connection was first lost */

static __attribute__((format(printf, 1, 2))) void note_bad(const char *fmt, ...)
{
	va_list ap;
	if (first_bad[0])
		return;
	va_start(ap, fmt);
	vsnprintf(first_bad, sizeof(first_bad), fmt, ap);
	va_end(ap);
}

/* The body of call or event "text": bytes derived from the text, so that
 * a body glued to the wrong header shows. */
static void derive(const char *text, uint8_t *out)
{
	uint32_t h = 2166136261u;
	for (const char *p = text; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < DATA_LEN; i++, h = h * 1103515245u + 12345u)
		out[i] = (uint8_t)(h >> 24);
}

static int body_matches(const char *text, ProtobufCBinaryData data)
{
	uint8_t want[DATA_LEN];
	derive(text, want);
	return data.len == DATA_LEN && memcmp(data.data, want, DATA_LEN) == 0;
}

/* ---------------------------------------------------------------- connection */

static void on_connection(bus_t *bus, enum bus_conn_event event, const char *subject, const bus_error_t *err,
			  void *ud)
{
	(void)bus, (void)subject, (void)ud;
	if (event != BUS_CONN_LOST)
		return;
	t.losses++;
	if (err && !first_loss[0])
		snprintf(first_loss, sizeof(first_loss), "%.250s", err->message);
	if (err && strstr(err->message, "protocol error")) {
		t.protocol_losses++;
		note_bad("connection lost: %s", err->message);
	}
}

/* busd may fail the connection itself: try until it works. */
static bus_t *connect_retrying(void)
{
	uint64_t deadline = harness_now_ms() + 30000;
	bus_error_t err;

	while (harness_now_ms() < deadline) {
		bus_t *bus = NULL;
		if (bus_connect(&bus, harness_socket(), &err) == 0) {
			bus_set_reconnect(bus, 1);
			bus_set_connection_handler(bus, on_connection, NULL);
			return bus;
		}
		harness_sleep_ms(5);
	}
	return NULL;
}

/* A control call that busd may refuse for want of memory: retried. */
static int retrying(int (*fn)(bus_t *, const char *, bus_error_t *), bus_t *bus, const char *arg)
{
	bus_error_t err;
	for (int i = 0; i < 1000; i++) {
		if (fn(bus, arg, &err) == 0)
			return 0;
		if (bus_error_has_name(&err, BUS_ERROR_TIMEOUT))
			t.name_timeouts++;
		harness_sleep_ms(2);
	}
	return -1;
}

static int request_name(bus_t *bus, const char *name, bus_error_t *err)
{
	return bus_request_name(bus, name, err);
}

/* ---------------------------------------------------------------- callee */

static void srv_echo(Busd__Examples__Echo_Service *s, const Busd__Examples__EchoRequest *in,
		     Busd__Examples__EchoReply_Closure done, void *cd)
{
	Busd__Examples__EchoReply out = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	(void)s;
	out.text = in->text;
	out.data = in->data;
	done(&out, cd);
}

static void srv_delay(Busd__Examples__Echo_Service *s, const Busd__Examples__DelayRequest *in,
		      Busd__Examples__EchoReply_Closure done, void *cd)
{
	(void)s, (void)in;
	done(NULL, cd);
}

static void srv_fail(Busd__Examples__Echo_Service *s, const Busd__Examples__FailRequest *in,
		     Busd__Examples__EchoReply_Closure done, void *cd)
{
	(void)s, (void)done;
	bus_call_fail(cd, CALLEE_ERROR, "failed: %s", in->message);
}

static Busd__Examples__Echo_Service service = BUSD__EXAMPLES__ECHO__INIT(srv_);

static int export_callee(bus_t *bus, const char *name, bus_error_t *err)
{
	return bus_export(bus, NULL, name, &service.base, err);
}

/* ---------------------------------------------------------------- callers */

struct call {
	char text[48];
	int fail;     /* a Fail call: the answer is CALLEE_ERROR */
	int answered;
	struct call *next;
};

static long outstanding;

/* Errors busd or libbus may answer a call with while memory runs out or a
 * connection is dropped for it. */
static int refusal(const bus_error_t *err)
{
	static const char *const ok[] = {
		BUS_ERROR_FAILED, BUS_ERROR_LIMITS_EXCEEDED, BUS_ERROR_NO_REPLY,
		BUS_ERROR_NAME_HAS_NO_OWNER, BUS_ERROR_DISCONNECTED, NULL,
	};
	for (const char *const *n = ok; *n; n++)
		if (bus_error_has_name(err, *n))
			return 1;
	return 0;
}

/* One answer: its own reply or error, or an allowed refusal. */
static void check_answer(struct call *c, const void *body, size_t len, const bus_error_t *err)
{
	if (c->answered++) {
		t.twice++;
		note_bad("answered twice: %s", c->text);
		return;
	}
	t.answers++;
	outstanding--;
	if (err && bus_error_has_name(err, BUS_ERROR_TIMEOUT)) {
		t.timeouts++;
		note_bad("stranded call %s: %s", c->text, err->message);
	} else if (err && c->fail && bus_error_has_name(err, CALLEE_ERROR)) {
		char want[80];
		snprintf(want, sizeof(want), "failed: %s", c->text);
		if (strcmp(err->message, want) == 0) {
			t.replies++;
		} else {
			t.wrong++;
			note_bad("wrong error message: %s for %s", err->message, c->text);
		}
	} else if (err) {
		if (refusal(err)) {
			t.refusals++;
		} else {
			t.bad_errors++;
			note_bad("unexpected error %s: %s", err->name, err->message);
		}
	} else if (c->fail) {
		t.wrong++;
		note_bad("a reply to Fail %s", c->text);
	} else {
		Busd__Examples__EchoReply *rep =
			busd__examples__echo_reply__unpack(NULL, len, body);
		if (rep && strcmp(rep->text, c->text) == 0 && body_matches(rep->text, rep->data)) {
			t.replies++;
		} else {
			t.wrong++;
			note_bad("wrong reply to %s: %s", c->text, rep ? rep->text : "(does not parse)");
		}
		if (rep)
			busd__examples__echo_reply__free_unpacked(rep, NULL);
	}
}

static void on_reply(bus_t *bus, const bus_msg_t *reply, const bus_error_t *err, void *ud)
{
	(void)bus;
	check_answer(ud, reply ? reply->body : NULL, reply ? reply->body_len : 0, err);
}

/* Pack call c's request: Echo(text, derived data) or Fail(text). */
static void *call_body(struct call *c, size_t *len, const char **method, const char **type)
{
	uint8_t data[DATA_LEN];
	if (c->fail) {
		Busd__Examples__FailRequest req = BUSD__EXAMPLES__FAIL_REQUEST__INIT;
		req.message = c->text;
		*method = "Fail";
		*type = req.base.descriptor->name;
		return harness_pack(&req.base, len);
	}
	Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
	derive(c->text, data);
	req.text = c->text;
	req.data = (ProtobufCBinaryData){ DATA_LEN, data };
	*method = "Echo";
	*type = req.base.descriptor->name;
	return harness_pack(&req.base, len);
}

static struct call *call_new(struct call **all, int w, long seq)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		abort();
	snprintf(c->text, sizeof(c->text), "w%d-%ld", w, seq);
	c->fail = seq % 5 == 0;
	c->next = *all;
	*all = c;
	return c;
}

/* One round of a caller: top up the async window, now and then a sync
 * call and a name requested and released. */
static void caller_round(bus_t *bus, int w, long *seq, struct call **all)
{
	const char *method, *type;
	size_t len;

	while (outstanding < WINDOW) {
		struct call *c = call_new(all, w, ++*seq);
		void *body = call_body(c, &len, &method, &type);
		int r = bus_call_async(bus, NULL, CALLEE, NULL, method, type, body, len, CALL_TIMEOUT,
				       on_reply, c);
		free(body);
		if (r < 0) {
			c->answered = -1; /* never sent (reconnecting) */
			break;
		}
		t.calls++;
		outstanding++;
	}
	if (*seq % 7 == 0) {
		struct call *c = call_new(all, w, ++*seq);
		void *body = call_body(c, &len, &method, &type), *rep = NULL;
		size_t rlen = 0;
		bus_error_t err;
		int r = bus_call(bus, CALLEE, NULL, method, type, body, len, CALL_TIMEOUT, &err,
				 &rep, &rlen);
		free(body);
		if (r == -EINVAL || (r == -ECONNRESET && !bus_is_connected(bus))) {
			c->answered = -1;
		} else {
			t.calls++;
			outstanding++;
			check_answer(c, rep, rlen, r < 0 ? &err : NULL);
		}
		free(rep);
	}
	if (*seq % 11 == 0) {
		char name[64];
		bus_error_t err;
		snprintf(name, sizeof(name), "org.test.oom.n%d", w);
		t.names++;
		int r = bus_request_name(bus, name, &err);
		if (r == 0)
			r = bus_release_name(bus, name, &err);
		if (bus_error_has_name(&err, BUS_ERROR_TIMEOUT)) {
			t.name_timeouts++;
			note_bad("stranded name request %s: %s", name, err.message);
		} else if (r < 0 && !refusal(&err) && r != -EINVAL) {
			t.bad_errors++;
			note_bad("unexpected error %s to a name request: %s", err.name, err.message);
		}
	}
}

/* ---------------------------------------------------------------- events */

static long last_seq = 0;

static void on_event(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus, (void)ud;
	Busd__Examples__EchoRequest *req = (Busd__Examples__EchoRequest *)bus_msg_unpack(
		ev, &busd__examples__echo_request__descriptor);
	long seq = 0;
	t.events++;
	if (!req || !body_matches(req->text, req->data) || sscanf(req->text, "e-%ld", &seq) != 1) {
		t.bad_events++;
		note_bad("bad event on %s: %s", ev->member, req ? req->text : "(does not parse)");
	} else if (seq <= last_seq) {
		t.out_of_order++;
		note_bad("event %s after e-%ld", req->text, last_seq);
	}
	if (seq > last_seq)
		last_seq = seq;
	if (req)
		busd__examples__echo_request__free_unpacked(req, NULL);
}

static void on_event_again(bus_t *bus, const bus_msg_t *ev, void *ud)
{
	(void)bus, (void)ev, (void)ud;
}

static void emit_round(bus_t *bus, long *seq)
{
	for (int i = 0; i < 16; i++) {
		char text[48];
		uint8_t data[DATA_LEN];
		Busd__Examples__EchoRequest req = BUSD__EXAMPLES__ECHO_REQUEST__INIT;
		snprintf(text, sizeof(text), "e-%ld", *seq + 1);
		derive(text, data);
		req.text = text;
		req.data = (ProtobufCBinaryData){ DATA_LEN, data };
		if (bus_emit(bus, *seq % 2 ? "oom.ev.odd" : "oom.ev.even", &req.base) < 0)
			return;
		++*seq;
		t.emitted++;
	}
}

/* A monitor's copy of a call, reply or event: its body must fit its text. */
static void on_frame(bus_t *bus, const bus_msg_t *m, void *ud)
{
	(void)bus, (void)ud;
	t.frames++;
	const ProtobufCMessageDescriptor *d =
		strcmp(m->body_type, "busd.examples.EchoRequest") == 0 ?
			&busd__examples__echo_request__descriptor :
		strcmp(m->body_type, "busd.examples.EchoReply") == 0 ?
			&busd__examples__echo_reply__descriptor : NULL;
	if (!d)
		return;
	ProtobufCMessage *msg = bus_msg_unpack(m, d);
	/* EchoRequest and EchoReply have the same fields. */
	Busd__Examples__EchoRequest *r = (Busd__Examples__EchoRequest *)msg;
	if (!r || !body_matches(r->text, r->data)) {
		t.bad_frames++;
		note_bad("monitor: bad %s body (%s)", m->body_type, r ? r->text : "does not parse");
	}
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---------------------------------------------------------------- clients */

static int stop_asked(int ctl)
{
	struct pollfd p = { .fd = ctl, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

static void report(int ctl)
{
	harness_send(ctl, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld|%s|%s",
		     t.calls, t.answers, t.replies, t.refusals, t.wrong, t.twice, t.timeouts,
		     t.bad_errors, t.names, t.name_timeouts, t.emitted, t.events, t.bad_events,
		     t.out_of_order, t.frames, t.bad_frames, t.losses, t.protocol_losses,
		     first_bad, first_loss);
}

static int client_main(int ctl, void *arg)
{
	int role = (int)(intptr_t)arg >> 8, w = (int)(intptr_t)arg & 0xff;
	struct call *all = NULL;
	long seq = 0;
	char line[64];
	bus_error_t err;

	bus_t *bus = connect_retrying();
	if (!bus) {
		harness_send(ctl, "error no connection");
		return 1;
	}
	int r = 0;
	if (role == CALLEE_ROLE) {
		r = retrying(export_callee, bus, CALLEE) < 0 ? -1 : retrying(request_name, bus, CALLEE);
	} else if (role == SUBSCRIBER) {
		const char *pat = w ? "oom.ev.*" : "oom.*";
		for (int i = 0; i < 1000 && bus_subscribe(bus, NULL, pat, on_event, NULL, &err) < 0; i++)
			harness_sleep_ms(2);
		/* A second pattern matching the odd events: busd must still
		 * deliver each once (libbus runs every matching callback, so
		 * this one counts nothing). */
		if (w)
			for (int i = 0; i < 1000 &&
			     bus_subscribe(bus, NULL, "oom.ev.odd", on_event_again, NULL, &err) < 0; i++)
				harness_sleep_ms(2);
	} else if (role == MONITOR) {
		for (int i = 0; i < 1000 && bus_become_monitor(bus, on_frame, NULL, &err) < 0; i++)
			harness_sleep_ms(2);
	}
	harness_send(ctl, r < 0 ? "error setup" : "ready");
	if (r < 0)
		return 1;

	/* Callers and the emitter work until told to stop (callers then wait
	 * for their last answers); the others serve until told to quit. */
	int stopping = 0;
	long left = 0;
	uint64_t deadline = 0;
	for (;;) {
		if (stop_asked(ctl)) {
			if (harness_recv(ctl, line, sizeof(line), 1000) < 0 || strcmp(line, "quit") == 0)
				break;
			stopping = 1;
			deadline = harness_now_ms() + CALL_TIMEOUT / 1000 + 5000;
		}
		if (stopping && (role != CALLER || outstanding == 0))
			break;
		if (stopping && harness_now_ms() > deadline) {
			left = outstanding;
			note_bad("%ld calls never answered", outstanding);
			break;
		}
		if (role == CALLER && !stopping)
			caller_round(bus, w, &seq, &all);
		else if (role == EMITTER)
			emit_round(bus, &seq);
		if (bus_process(bus) <= 0)
			bus_wait(bus, role == EMITTER ? 1000 : 20000);
	}
	bus_close(bus); /* what is left is answered with Disconnected */
	t.timeouts += left;
	while (all) {
		struct call *c = all;
		all = c->next;
		free(c);
	}
	report(ctl);
	return 0;
}

/* ---------------------------------------------------------------- parent */

struct kid {
	harness_child c;
	int role;
};

static int start_kid(struct kid *k, int role, int w)
{
	char line[128];
	k->role = role;
	if (harness_fork(&k->c, client_main, (void *)(intptr_t)(role << 8 | w)) < 0)
		return -1;
	if (harness_recv(k->c.ctl, line, sizeof(line), 60000) < 0 || strcmp(line, "ready") != 0) {
		diag("client %d/%d: %s", role, w, line);
		return -1;
	}
	return 0;
}

static const char *const role_names[] = { "caller", "callee", "emitter", "subscriber", "monitor" };

/* Add a client's tally to sum, and say what went wrong for it first. */
static void collect(struct kid *k, struct tally *sum)
{
	char line[1024];
	struct tally x = { 0 };
	if (harness_recv(k->c.ctl, line, sizeof(line), 60000) < 0) {
		diag("  a %s did not report", role_names[k->role]);
		sum->timeouts++;
		return;
	}
	char *bad = strchr(line, '|');
	char *loss = bad ? strchr(bad + 1, '|') : NULL;
	if (loss)
		*loss++ = '\0';
	sscanf(line, "%ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld",
	       &x.calls, &x.answers, &x.replies, &x.refusals, &x.wrong, &x.twice, &x.timeouts,
	       &x.bad_errors, &x.names, &x.name_timeouts, &x.emitted, &x.events, &x.bad_events,
	       &x.out_of_order, &x.frames, &x.bad_frames, &x.losses, &x.protocol_losses);
	if (bad && bad[1])
		diag("  %s: first problem: %s", role_names[k->role], bad + 1);
	if (loss && *loss)
		diag("  %s: lost its connection %ld times, first: %s", role_names[k->role], x.losses,
		     loss);
	long *s = (long *)sum, *a = (long *)&x;
	for (size_t i = 0; i < sizeof(x) / sizeof(long); i++)
		s[i] += a[i];
}

static long read_count(const char *path)
{
	long n = -1;
	FILE *f = fopen(path, "r");
	if (f && fscanf(f, "%ld", &n) != 1)
		n = -1;
	if (f)
		fclose(f);
	return n;
}

static void run(const char *spec)
{
	char count_path[300], var[400];
	struct kid callee, callers[N_CALLERS], emitter, subs[2], monitor;
	struct tally s = { 0 };

	snprintf(count_path, sizeof(count_path), "%s/busd-oom.%d.count",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	harness_busd_env(NULL);
	snprintf(var, sizeof(var), "LD_PRELOAD=%s/tests/failmalloc.so",
		 getenv("top_builddir") ? getenv("top_builddir") : ".");
	if (access(var + strlen("LD_PRELOAD="), R_OK) != 0) {
		printf("Bail out! no %s (make check builds it)\n", var + strlen("LD_PRELOAD="));
		exit(1);
	}
	harness_busd_env(var);
	snprintf(var, sizeof(var), "BUSD_FAILMALLOC=%s", spec);
	harness_busd_env(var);
	snprintf(var, sizeof(var), "BUSD_FAILMALLOC_COUNT=%s", count_path);
	harness_busd_env(var);
	/* Under ASan the shim comes first in the lookup, before libasan. */
	snprintf(var, sizeof(var), "ASAN_OPTIONS=%s%sverify_asan_link_order=0",
		 getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "",
		 getenv("ASAN_OPTIONS") ? ":" : "");
	harness_busd_env(var);
	harness_start(NULL);

	diag("busd with BUSD_FAILMALLOC=%s", spec);
	int up = start_kid(&callee, CALLEE_ROLE, 0) == 0 && start_kid(&subs[0], SUBSCRIBER, 0) == 0 &&
		 start_kid(&subs[1], SUBSCRIBER, 1) == 0 && start_kid(&monitor, MONITOR, 0) == 0 &&
		 start_kid(&emitter, EMITTER, 0) == 0;
	for (int i = 0; up && i < N_CALLERS; i++)
		up = start_kid(&callers[i], CALLER, i + 1) == 0;
	if (!ok(up, "%s: the callee, two subscribers, a monitor, an emitter and %d callers connect "
		"(retrying what busd fails)", spec, N_CALLERS)) {
		harness_stop_children();
		harness_stop();
		return;
	}
	harness_sleep_ms(WORK_MS); /* the length of the workload, not a wait for it */
	harness_send(emitter.c.ctl, "stop");
	for (int i = 0; i < N_CALLERS; i++)
		harness_send(callers[i].c.ctl, "stop");
	for (int i = 0; i < N_CALLERS; i++)
		collect(&callers[i], &s);
	collect(&emitter, &s);
	struct kid *rest[] = { &callee, &subs[0], &subs[1], &monitor };
	for (int i = 0; i < 4; i++) {
		harness_send(rest[i]->c.ctl, "quit");
		collect(rest[i], &s);
	}
	for (int i = 0; i < N_CALLERS; i++)
		harness_wait(&callers[i].c, 10000);
	for (int i = 0; i < 4; i++)
		harness_wait(&rest[i]->c, 10000);
	harness_wait(&emitter.c, 10000);

	diag("calls %ld: %ld answered as asked, %ld refused; %ld name requests; %ld events "
	     "emitted, %ld received; monitor saw %ld frames; %ld connections lost",
	     s.calls, s.replies, s.refusals, s.names, s.emitted, s.events, s.frames, s.losses);
	ok(s.replies > 0 && s.events > 0 && s.frames > 0, "%s: calls, events and monitor copies "
	   "went through", spec);
	is_int(s.answers, s.calls, "%s: every call got an answer", spec);
	is_int(s.twice, 0, "%s: none got two", spec);
	is_int(s.timeouts + s.name_timeouts, 0, "%s: none was stranded (no bus.Error.Timeout)",
	       spec);
	is_int(s.wrong, 0, "%s: every reply and error carries what its call sent", spec);
	is_int(s.bad_errors, 0, "%s: refusals are Failed, LimitsExceeded, NoReply, NameHasNoOwner "
	       "or Disconnected", spec);
	is_int(s.bad_events + s.out_of_order, 0, "%s: every event arrives whole, once, in order",
	       spec);
	is_int(s.bad_frames, 0, "%s: the monitor's copies are whole", spec);
	is_int(s.protocol_losses, 0, "%s: no client sees a malformed or out-of-step stream", spec);
	long failed = read_count(count_path);
	ok(failed > 0, "%s: allocations in busd failed (%ld)", spec, failed);
	int st = harness_stop();
	if (!is_int(st, 0, "%s: busd did not crash, and exits 0 on SIGTERM", spec))
		harness_dump_log();
	unlink(count_path);
}

int main(void)
{
	static const char *const specs[] = {
		"nth=50", "every=100,seed=2", "every=25,seed=3",
	};
	/* valgrind brings its own allocator: the shim has nothing to wrap. */
	if (getenv("BUSD_WRAPPER") && *getenv("BUSD_WRAPPER")) {
		printf("1..0 # SKIP busd runs under $BUSD_WRAPPER\n");
		return 0;
	}
	/* Three busds, each with a workload and the wait for its last answers. */
	plan(36);
	setenv("HARNESS_TIMEOUT", "600", 0);
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++)
		run(specs[i]);
	harness_busd_env(NULL);
	return tap_done();
}
