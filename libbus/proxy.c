/* proxy.c - a ProtobufCService whose invoke() goes over the bus, so that the
 * protoc-c generated client stubs call a remote service: synchronously
 * (closure before the stub returns) or asynchronously (closure from
 * bus_process()). */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-internal.h"

struct proxy {
	ProtobufCService base; /* first: the stubs see only this */
	bus_t *bus;            /* NULL once the connection was closed */
	char *name;
	uint64_t timeout_usec;
	enum bus_proxy_mode mode;
	int freeing;
	bus_error_t error;     /* of the running or last completed call */
	const int *fds;        /* for the next call (bus_proxy_set_fds()) */
	unsigned n_fds;
	struct pending *calls; /* async calls in flight */
	struct proxy *prev, *next;
};

/* The closures running on this thread, innermost first (a closure may make
 * a sync stub call, whose closure runs inside it): how a closure finds its
 * call's error from its own closure_data. On the stack of closure_run(). */
struct closure_frame {
	const void *closure_data;
	const bus_error_t *err;
	int *fds;              /* the reply's descriptors, -1 once taken */
	unsigned n_fds;
	struct closure_frame *outer;
};
static _Thread_local struct closure_frame *closures;

/* err is copied when set: the closure may free the proxy that holds it. */
static void closure_run(ProtobufCClosure closure, const ProtobufCMessage *out, void *closure_data,
			const bus_error_t *err, int *fds, unsigned n_fds)
{
	static const bus_error_t none;
	bus_error_t copy;
	struct closure_frame f = { closure_data, &none, fds, n_fds, closures };

	if (err->name[0]) {
		copy = *err;
		f.err = &copy;
	}
	closures = &f;
	closure(out, closure_data);
	closures = f.outer;
}

int bus_proxy_take_fd(const void *closure_data, unsigned index)
{
	for (struct closure_frame *f = closures; f; f = f->outer) {
		if (f->closure_data != closure_data)
			continue;
		if (index >= f->n_fds)
			return -ENOENT;
		int fd = f->fds[index];
		f->fds[index] = -1;
		return fd >= 0 ? fd : -EALREADY;
	}
	return -EINVAL;
}

int bus_proxy_set_fds(ProtobufCService *proxy, const int *fds, unsigned n_fds)
{
	struct proxy *px = (struct proxy *)proxy;

	if (!px || (n_fds && !fds))
		return -EINVAL;
	px->fds = n_fds ? fds : NULL;
	px->n_fds = n_fds;
	return 0;
}

const bus_error_t *bus_proxy_call_error(const void *closure_data)
{
	for (struct closure_frame *f = closures; f; f = f->outer)
		if (f->closure_data == closure_data)
			return f->err;
	return NULL;
}

struct pending **proxy_calls(struct proxy *proxy)
{
	return &proxy->calls;
}

static void calls_link(struct proxy *px, struct pending *p)
{
	p->proxy = px;
	p->proxy_prev = NULL;
	p->proxy_next = px->calls;
	if (px->calls)
		px->calls->proxy_prev = p;
	px->calls = p;
}

/* Unpack a REPLY as the method's output; err says why not. */
static ProtobufCMessage *reply_unpack(bus_t *bus, const ProtobufCMethodDescriptor *md,
				      const bus_msg_t *m, bus_error_t *err)
{
	if (m->body_type[0] && strcmp(m->body_type, md->output->name) != 0) {
		bus_error_set(err, BUS_ERROR_FAILED, "%s answered with %s, not %s", md->name,
			      m->body_type, md->output->name);
		return NULL;
	}
	ProtobufCMessage *out = unpack_msg(bus, md->output, m->body_len, m->body);
	if (!out)
		bus_error_set(err, BUS_ERROR_FAILED, "the reply to %s does not parse as %s", md->name,
			      md->output->name);
	return out;
}

struct sync_io {
	const ProtobufCMethodDescriptor *method;
	ProtobufCMessage *output;
	int fds[WIRE_MAX_FDS];  /* the reply's, for the closure to take */
	unsigned n_fds;
};

static int sync_unpack(bus_t *bus, const bus_msg_t *m, void *ud, bus_error_t *err)
{
	struct sync_io *io = ud;

	io->output = reply_unpack(bus, io->method, m, err);
	for (unsigned i = 0; io->output && i < m->n_fds && i < WIRE_MAX_FDS; i++)
		io->fds[io->n_fds++] = bus_msg_take_fd(m, i);
	return io->output ? 0 : -EBADMSG;
}

void proxy_complete(struct pending *p, const bus_msg_t *reply, const bus_error_t *err)
{
	struct proxy *px = p->proxy;
	const ProtobufCMethodDescriptor *md = &px->base.descriptor->methods[p->method];
	bus_t *bus = px->bus; /* held by whoever dispatches the reply */
	ProtobufCMessage *out = NULL;

	bus_error_clear(&px->error);
	if (reply && bus)
		out = reply_unpack(bus, md, reply, &px->error);
	else if (err)
		px->error = *err;
	/* The closure may free the proxy: nothing of px is used after it. */
	if (p->closure)
		closure_run(p->closure, out, p->closure_data, &px->error, out ? reply->fds : NULL,
			    out ? reply->n_fds : 0);
	unpack_free(bus, out);
}

/* An async call that cannot be sent still answers from bus_process(). */
static void async_failed(struct proxy *px, unsigned method, int r, ProtobufCClosure closure,
			 void *closure_data)
{
	const char *name = r == -EINVAL ? BUS_ERROR_INVALID_ARGS :
			   r == -ECONNRESET ? BUS_ERROR_DISCONNECTED : BUS_ERROR_FAILED;
	if (r == -EMSGSIZE || r == -E2BIG)
		call_send_error(px->bus, r, NULL, &px->error);
	else
		bus_error_set(&px->error, name, "the call could not be sent: %s", strerror(-r));
	struct pending *p = call_add_settled(px->bus, &px->error);
	if (!p) {
		if (closure)
			closure_run(closure, NULL, closure_data, &px->error, NULL, 0);
		return;
	}
	calls_link(px, p);
	p->method = method;
	p->closure = closure;
	p->closure_data = closure_data;
}

static void proxy_invoke(ProtobufCService *service, unsigned method_index,
			 const ProtobufCMessage *input, ProtobufCClosure closure, void *closure_data)
{
	struct proxy *px = (struct proxy *)service;
	bus_t *bus = px->bus;
	const ProtobufCServiceDescriptor *desc = service->descriptor;

	if (method_index >= desc->n_methods || !input) {
		bus_error_set(&px->error, BUS_ERROR_INVALID_ARGS, "no such method or no request");
		if (closure)
			closure_run(closure, NULL, closure_data, &px->error, NULL, 0);
		return;
	}
	const ProtobufCMethodDescriptor *md = &desc->methods[method_index];
	const int *fds = px->fds; /* for this call only */
	unsigned n_fds = px->n_fds;
	px->fds = NULL;
	px->n_fds = 0;
	if (!bus || px->freeing || !conn_usable(bus)) {
		if (bus && !px->freeing)
			conn_disconnected(bus, &px->error);
		else
			bus_error_set(&px->error, BUS_ERROR_DISCONNECTED, "the proxy's connection is closed");
		if (closure)
			closure_run(closure, NULL, closure_data, &px->error, NULL, 0);
		return;
	}
	wire_header h = {
		.kind = WIRE_KIND_CALL,
		.destination = wire_str_c(px->name),
		.interface = wire_str_c(desc->name),
		.member = wire_str_c(md->name),
		.body_type = wire_str_c(md->input->name),
	};

	if (px->mode == BUS_PROXY_SYNC) {
		struct sync_io io = { .method = md };
		lifetime_hold(bus);
		bus->next_fds = fds;
		bus->next_n_fds = bus->refused_fds = n_fds;
		call_sync(bus, &h, NULL, 0, input, px->timeout_usec, &px->error, sync_unpack, &io);
		bus->next_fds = NULL;
		bus->next_n_fds = 0;
		if (closure)
			closure_run(closure, io.output, closure_data, &px->error, io.fds, io.n_fds);
		for (unsigned i = 0; i < io.n_fds; i++)
			if (io.fds[i] >= 0)
				close(io.fds[i]); /* not taken */
		unpack_free(bus, io.output);
		lifetime_drop(bus);
		return;
	}

	if (bus->monitor) {
		async_failed(px, method_index, -EPERM, closure, closure_data);
		return;
	}
	if (!closure) {
		/* Nobody will look at the answer: ask the callee for none. */
		h.flags = WIRE_FLAG_NO_REPLY_EXPECTED;
		h.serial = conn_next_serial(bus);
		bus->next_fds = fds;
		bus->next_n_fds = bus->refused_fds = n_fds;
		int r = conn_send(bus, &h, NULL, 0, input, NULL);
		bus->next_fds = NULL;
		bus->next_n_fds = 0;
		bus_error_clear(&px->error);
		if (r == -EMSGSIZE || r == -E2BIG)
			call_send_error(bus, r, NULL, &px->error);
		else if (r < 0)
			bus_error_set(&px->error, BUS_ERROR_FAILED, "the call could not be sent: %s",
				      strerror(-r));
		return;
	}
	struct pending *p;
	bus->next_fds = fds;
	bus->next_n_fds = bus->refused_fds = n_fds;
	int r = call_start(bus, &h, NULL, 0, input, px->timeout_usec, &p);
	bus->next_fds = NULL;
	bus->next_n_fds = 0;
	if (r < 0) {
		async_failed(px, method_index, r, closure, closure_data);
		return;
	}
	calls_link(px, p);
	p->method = method_index;
	p->closure = closure;
	p->closure_data = closure_data;
}

ProtobufCService *bus_proxy_new(bus_t *bus, const char *name,
				const ProtobufCServiceDescriptor *desc,
				uint64_t timeout_usec, enum bus_proxy_mode mode)
{
	if (!bus || !name || !wire_name_valid(name, strlen(name)) || !desc ||
	    desc->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC ||
	    (mode != BUS_PROXY_SYNC && mode != BUS_PROXY_ASYNC)) {
		errno = EINVAL;
		return NULL;
	}
	struct proxy *px = calloc(1, sizeof(*px));
	if (!px)
		return NULL;
	px->name = strdup(name);
	if (!px->name) {
		free(px);
		return NULL;
	}
	px->base.descriptor = desc;
	px->base.invoke = proxy_invoke;
	px->base.destroy = bus_proxy_free;
	px->bus = bus;
	px->timeout_usec = timeout_usec;
	px->mode = mode;
	px->next = bus->proxies;
	if (px->next)
		px->next->prev = px;
	bus->proxies = px;
	return &px->base;
}

void bus_proxy_free(ProtobufCService *service)
{
	struct proxy *px = (struct proxy *)service;
	bus_t *bus;

	if (!px || px->freeing)
		return;
	px->freeing = 1;
	bus = px->bus;
	if (bus) {
		bus_error_t e;
		struct pending *p;

		bus_error_set(&e, BUS_ERROR_DISCONNECTED, "the proxy was freed before the reply");
		lifetime_hold(bus);
		while ((p = px->calls)) {
			call_unlink(bus, p);
			call_complete(bus, p, NULL, &e);
		}
		if (px->prev)
			px->prev->next = px->next;
		else
			bus->proxies = px->next;
		if (px->next)
			px->next->prev = px->prev;
	}
	free(px->name);
	free(px);
	if (bus)
		lifetime_drop(bus);
}

const bus_error_t *bus_proxy_error(const ProtobufCService *proxy)
{
	static const bus_error_t none;

	return proxy ? &((const struct proxy *)proxy)->error : &none;
}

void proxy_detach_all(bus_t *bus)
{
	struct proxy *px, *next;

	for (px = bus->proxies; px; px = next) {
		next = px->next;
		px->bus = NULL;
		px->prev = px->next = NULL;
	}
	bus->proxies = NULL;
}
