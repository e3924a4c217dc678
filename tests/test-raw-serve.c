/* test-raw-serve.c - serving without protoc-c code (bus_export_raw(),
 * bus_reply_raw()), as busbridge does: the CALL reaches the handler as it
 * came (member, interface, body type, body bytes), the answer goes back as
 * bytes with its type, now or later, exactly once; a raw export announced
 * as a service is listed by Introspect and takes only that service's
 * calls; one announcing none takes every call to its name. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "exporter.h"

#define SEC 1000000ull
#define RAW_ANY "org.test.RawAny"
#define RAW_SVC "org.test.RawSvc"

struct server {
	int ctl;
	void *later; /* a "Later" call, answered by the next "Now" */
};

static void on_call(bus_t *bus, const bus_msg_t *m, void *call, void *ud)
{
	struct server *s = ud;
	char text[512];

	(void)bus;
	if (!strcmp(m->member, "Echo")) {
		/* the body and everything the caller said, back as bytes */
		snprintf(text, sizeof(text), "%s|%s|%s|%.*s", m->destination, m->interface, m->body_type,
			 (int)m->body_len, (const char *)m->body);
		bus_reply_raw(call, "test.Text", text, strlen(text));
	} else if (!strcmp(m->member, "Later")) {
		s->later = call;
	} else if (!strcmp(m->member, "Now")) {
		int r = s->later ? bus_reply_raw(s->later, NULL, "late", 4) : -ENOENT;
		s->later = NULL;
		bus_reply_raw(call, NULL, r == 0 ? "ok" : "no", 2);
	} else if (!strcmp(m->member, "Twice")) {
		bus_reply_raw(call, NULL, "one", 3);
		harness_send(s->ctl, "twice %d %d", bus_reply_raw(call, NULL, "two", 3),
			     bus_call_fail(call, BUS_ERROR_FAILED, "three"));
	} else if (!strcmp(m->member, "BadType")) {
		harness_send(s->ctl, "badtype %d", bus_reply_raw(call, "not a type!", "x", 1));
		bus_call_fail(call, "org.test.Error.Raw", "answered after a refused reply");
	} else {
		bus_call_fail(call, "org.test.Error.Raw", "no %s here", m->member);
	}
}

static int server_main(int ctl, void *arg)
{
	struct server s = { .ctl = ctl };
	bus_error_t err;
	bus_t *bus;

	(void)arg;
	if (bus_connect(&bus, NULL, &err) < 0) {
		harness_send(ctl, "error %s", err.name);
		return 1;
	}
	int null_fn = bus_export_raw(bus, NULL, RAW_ANY, NULL, NULL, NULL, &err);
	if (bus_export_raw(bus, NULL, RAW_ANY, NULL, on_call, &s, &err) < 0 ||
	    bus_export_raw(bus, NULL, RAW_SVC, "test.Svc", on_call, &s, &err) < 0 ||
	    bus_request_name(bus, RAW_ANY, &err) < 0 || bus_request_name(bus, RAW_SVC, &err) < 0) {
		harness_send(ctl, "error %s %s", err.name, err.message);
		return 1;
	}
	int again = bus_export_raw(bus, NULL, RAW_SVC, "test.Svc", on_call, &s, &err);
	harness_send(ctl, "ready %d %d", null_fn, again);
	int r = exporter_serve(bus, ctl, NULL, NULL);
	bus_close(bus);
	return r < 0 ? 2 : 0;
}

/* A call with a text body; the reply's text (or the error's name) in out. */
static int call(bus_t *bus, const char *dest, const char *iface, const char *method,
		const char *body, char *out, size_t len)
{
	bus_error_t err;
	void *reply = NULL;
	size_t rlen = 0;
	int r = bus_call(bus, dest, iface, method, "test.Text", body, strlen(body), 5 * SEC, &err,
			 &reply, &rlen);

	if (r == 0)
		snprintf(out, len, "%.*s", (int)rlen, reply ? (const char *)reply : "");
	else
		snprintf(out, len, "%s: %.300s", err.name, err.message);
	free(reply);
	return r;
}

struct late {
	int n;
	char text[64];
};

static void on_late(bus_t *b, const bus_msg_t *reply, const bus_error_t *e, void *ud)
{
	struct late *late = ud;

	(void)b;
	late->n++;
	snprintf(late->text, sizeof(late->text), "%.*s", reply ? (int)reply->body_len : 0,
		 reply ? (const char *)reply->body : (e ? e->name : ""));
}

int main(void)
{
	harness_child srv;
	char line[256], out[512];
	bus_error_t err;

	plan(13);
	harness_start(NULL);
	bus_t *bus = harness_connect();
	if (harness_fork(&srv, server_main, NULL) < 0 ||
	    harness_recv(srv.ctl, line, sizeof(line), 15000) < 0 || strncmp(line, "ready ", 6) != 0)
		harness_bail("the raw server did not start: %s", line);
	int null_fn, again;
	sscanf(line + 6, "%d %d", &null_fn, &again);
	is_int(null_fn, -EINVAL, "bus_export_raw without a handler: -EINVAL");
	is_int(again, -EEXIST, "the same name and service twice: -EEXIST");

	call(bus, RAW_ANY, NULL, "Echo", "hello", out, sizeof(out));
	is_str(out, RAW_ANY "||test.Text|hello",
	       "the handler gets the CALL as it came, and its bytes reply comes back");
	call(bus, RAW_ANY, "some.Service", "Echo", "x", out, sizeof(out));
	is_str(out, RAW_ANY "|some.Service|test.Text|x", "a raw export announcing none takes any interface");
	call(bus, RAW_ANY, NULL, "Nope", "", out, sizeof(out));
	is_str(out, "org.test.Error.Raw: no Nope here", "bus_call_fail from a raw handler");

	Bus__IntrospectRequest ireq = BUS__INTROSPECT_REQUEST__INIT;
	ireq.name = RAW_SVC;
	Bus__IntrospectReply *in = (Bus__IntrospectReply *)harness_control(
		bus, "Introspect", &ireq.base, &bus__introspect_reply__descriptor, &err);
	ok(in && in->n_services == 1 && !strcmp(in->services[0], "test.Svc"),
	   "a raw export announcing test.Svc is listed by Introspect");
	if (in)
		bus__introspect_reply__free_unpacked(in, NULL);
	call(bus, RAW_SVC, "test.Other", "Echo", "", out, sizeof(out));
	ok(!strncmp(out, BUS_ERROR_UNKNOWN_INTERFACE ":", strlen(BUS_ERROR_UNKNOWN_INTERFACE) + 1),
	   "  and does not take another service's calls (%s)", out);
	call(bus, RAW_SVC, "test.Svc", "Echo", "y", out, sizeof(out));
	is_str(out, RAW_SVC "|test.Svc|test.Text|y", "  but takes its own");

	/* answered later, from another call's handler */
	bus_slot_t *slot = NULL;
	struct late late = { 0 };
	int r = bus_call_async(bus, &slot, RAW_ANY, NULL, "Later", NULL, NULL, 0, 5 * SEC, on_late, &late);
	call(bus, RAW_ANY, NULL, "Now", "", out, sizeof(out));
	is_str(out, "ok", "a call kept by its handler is answered from another's (bus_reply_raw returns 0)");
	harness_loop_until(bus, &late.n, 5000);
	ok(r == 0 && late.n == 1 && !strcmp(late.text, "late"), "  and its caller gets that answer (%s)",
	   late.text);
	bus_slot_unref(slot);

	call(bus, RAW_ANY, NULL, "Twice", "", out, sizeof(out));
	harness_recv(srv.ctl, line, sizeof(line), 5000);
	ok(!strcmp(out, "one") && !strcmp(line, "twice -114 -114"),
	   "one answer per call: a second bus_reply_raw is -EALREADY, and bus_call_fail after it "
	   "(%s; %s)", out, line);
	call(bus, RAW_ANY, NULL, "BadType", "", out, sizeof(out));
	harness_recv(srv.ctl, line, sizeof(line), 5000);
	ok(!strcmp(line, "badtype -22") && !strncmp(out, "org.test.Error.Raw:", 19),
	   "a body type that is not a name: -EINVAL, nothing sent, the call still open (%s; %s)",
	   line, out);

	bus_close(bus);
	close(srv.ctl);
	harness_wait(&srv, 5000);
	return harness_done();
}

