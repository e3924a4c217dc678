/* exporter.c - the tests' own callee: busd.examples.Echo served from a
 * forked child, answering with the caller's stamped unique name and holding
 * calls for as long as a test asks (see exporter.h). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exporter.h"
#include "echo.pb-c.h"

/* Calls held by Delay until their time comes (one exporter per process). */
struct delayed {
	uint64_t due_ms;
	Busd__Examples__EchoReply_Closure closure;
	void *closure_data;
	char *text;
};

#define MAX_DELAYED 4096
static struct delayed delayed[MAX_DELAYED];
static int n_delayed;
static int exporter_ctl = -1;

static void exp_echo(Busd__Examples__Echo_Service *service, const Busd__Examples__EchoRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	Busd__Examples__EchoReply reply = BUSD__EXAMPLES__ECHO_REPLY__INIT;
	const bus_msg_t *m = bus_call_msg(closure_data);

	reply.text = req->text;
	reply.data.data = (uint8_t *)m->sender;
	reply.data.len = strlen(m->sender);
	closure(&reply, closure_data);
}

static void exp_delay(Busd__Examples__Echo_Service *service, const Busd__Examples__DelayRequest *req,
		      Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	if (n_delayed == MAX_DELAYED) {
		bus_call_fail(closure_data, EXPORTER_ERROR, "too many delayed calls");
		return;
	}
	struct delayed *d = &delayed[n_delayed++];
	d->due_ms = harness_now_ms() + req->ms;
	d->closure = closure;
	d->closure_data = closure_data;
	d->text = strdup(req->text);
	if (exporter_ctl >= 0)
		harness_send(exporter_ctl, "delay %s", req->text);
}

static void exp_fail(Busd__Examples__Echo_Service *service, const Busd__Examples__FailRequest *req,
		     Busd__Examples__EchoReply_Closure closure, void *closure_data)
{
	if (strcmp(req->message, "noreply") == 0)
		closure(NULL, closure_data);
	else
		bus_call_fail(closure_data, EXPORTER_ERROR, "failed: %s", req->message);
}

static Busd__Examples__Echo_Service exporter_service = BUSD__EXAMPLES__ECHO__INIT(exp_);

/* Answer the delayed calls that are due; returns ms until the next one (-1:
 * none). */
static int answer_due(void)
{
	uint64_t now = harness_now_ms();
	int next = -1;
	for (int i = 0; i < n_delayed;) {
		struct delayed *d = &delayed[i];
		if (d->due_ms <= now) {
			Busd__Examples__EchoReply reply = BUSD__EXAMPLES__ECHO_REPLY__INIT;
			reply.text = d->text;
			d->closure(&reply, d->closure_data);
			free(d->text);
			delayed[i] = delayed[--n_delayed];
			continue;
		}
		int left = (int)(d->due_ms - now);
		if (next < 0 || left < next)
			next = left;
		i++;
	}
	return next;
}

int exporter_serve(bus_t *bus, int ctl, void (*on_line)(bus_t *bus, const char *line, void *ud),
		   void *ud)
{
	for (;;) {
		int r = bus_process(bus);
		if (r < 0)
			return -ECONNRESET;
		int timeout = answer_due();
		uint64_t due;
		if (bus_get_timeout(bus, &due) == 0 && due != UINT64_MAX) {
			uint64_t now = harness_now_ms() * 1000;
			int t = due > now ? (int)((due - now) / 1000) + 1 : 0;
			if (timeout < 0 || t < timeout)
				timeout = t;
		}
		if (r > 0)
			timeout = 0;
		struct pollfd p[2] = {
			{ .fd = bus_get_fd(bus), .events = (short)bus_get_events(bus) },
			{ .fd = ctl, .events = POLLIN },
		};
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			return -errno;
		if (p[1].revents) {
			char line[256];
			int n = harness_recv(ctl, line, sizeof(line), 5000);
			if (n < 0 || strcmp(line, "quit") == 0)
				return 0;
			if (on_line)
				on_line(bus, line, ud);
		}
	}
}

/* "own NAME" on ctl: request one more name; answers "owned NAME" or
 * "error NAME: ERROR". */
static void own_more(bus_t *bus, const char *line, void *ud)
{
	char name[256];
	bus_error_t err;

	(void)ud;
	if (sscanf(line, "own %255s", name) != 1)
		return;
	if (bus_request_name(bus, name, &err) == 0)
		harness_send(exporter_ctl, "owned %s", name);
	else
		harness_send(exporter_ctl, "error %s: %s", name, err.name);
}

int exporter_main(int ctl, void *arg)
{
	const char *name = arg;
	bus_error_t err = { .name = "" };
	bus_t *bus = NULL;
	int r;

	exporter_ctl = ctl;
	r = bus_connect(&bus, NULL, &err);
	if (r < 0) {
		harness_send(ctl, "error connect: %s %s", strerror(-r), err.name);
		return 1;
	}
	if (name && (r = bus_request_name(bus, name, &err)) < 0) {
		harness_send(ctl, "error request %s: %s %s", name, strerror(-r), err.name);
		bus_close(bus);
		return 1;
	}
	r = bus_export(bus, NULL, NULL, &exporter_service.base, &err);
	if (r < 0) {
		harness_send(ctl, "error export: %s %s", strerror(-r), err.name);
		bus_close(bus);
		return 1;
	}
	harness_send(ctl, "ready %s", bus_unique_name(bus));
	r = exporter_serve(bus, ctl, own_more, NULL);
	bus_close(bus);
	for (int i = 0; i < n_delayed; i++)
		free(delayed[i].text);
	n_delayed = 0;
	return r < 0 ? 2 : 0;
}

int exporter_start(harness_child *c, const char *name, char *unique)
{
	char line[256];
	int r = harness_fork(c, exporter_main, (void *)name);
	if (r < 0)
		return r;
	r = harness_recv(c->ctl, line, sizeof(line), 15000);
	if (r < 0 || strncmp(line, "ready ", 6) != 0) {
		printf("# exporter %s did not start: %s\n", name ? name : "(unnamed)",
		       r < 0 ? strerror(-r) : line);
		return r < 0 ? r : -EPROTO;
	}
	snprintf(unique, 64, "%.63s", line + 6);
	return 0;
}
