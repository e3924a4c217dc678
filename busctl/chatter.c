/* chatter.c - the broker queries of other busctl processes, left out of
 * monitor's stream by default (chatter.h says which and why a peer cannot
 * hide anything else this way). Bounded: the last TOOLS_MAX busctl
 * connections are remembered (an older one that is still there is simply
 * shown again), and the queries waiting for busd's answer in a table of
 * QUERY_SLOTS (an answer whose query was pushed out is shown). */
#include "config.h"

#include "chatter.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.pb-c.h"
#include "wire.h"

#define TOOLS_MAX 4096
#define QUERY_SLOTS 1024
#define PROGRAM_MAX 64 /* of the program name libbus puts in its Hello */

struct query {
	uint64_t id, serial; /* serial 0: free */
};

struct chatter {
	char suffix[PROGRAM_MAX + 3]; /* "(busctl)" */
	uint64_t tools[TOOLS_MAX];    /* ids of busctl connections, a ring */
	unsigned n_tools, next_tool;
	struct query queries[QUERY_SLOTS];
	unsigned long hidden;
};

/* The read-only questions busctl asks busd. */
static const char *const queries[] = {
	"Hello", "ListNames", "GetNameOwner", "Stats", "GetSchema", "Introspect",
};

struct chatter *chatter_new(const char *program)
{
	struct chatter *c = calloc(1, sizeof(*c));

	if (c)
		snprintf(c->suffix, sizeof(c->suffix), "(%.*s)", PROGRAM_MAX, program);
	return c;
}

void chatter_free(struct chatter *c)
{
	free(c);
}

void chatter_forget(struct chatter *c)
{
	c->n_tools = c->next_tool = 0;
	memset(c->queries, 0, sizeof(c->queries));
}

unsigned long chatter_hidden(const struct chatter *c)
{
	return c->hidden;
}

/* ":N" as N; 0 for anything else (busd counts ids from 1). */
static uint64_t unique_id(const char *s)
{
	char *end;

	if (s[0] != ':' || !wire_unique_name_valid(s, strlen(s)))
		return 0;
	errno = 0;
	unsigned long long v = strtoull(s + 1, &end, 10);
	return errno || *end ? 0 : (uint64_t)v;
}

static void add_id(struct chatter *c, uint64_t id)
{
	if (!id)
		return;
	c->tools[c->next_tool] = id;
	c->next_tool = (c->next_tool + 1) % TOOLS_MAX;
	if (c->n_tools < TOOLS_MAX)
		c->n_tools++;
}

void chatter_add_tool(struct chatter *c, const char *unique)
{
	add_id(c, unique_id(unique));
}

static int is_tool(const struct chatter *c, uint64_t id)
{
	for (unsigned i = 0; i < c->n_tools; i++)
		if (c->tools[i] == id)
			return 1;
	return 0;
}

static int is_query(const char *method)
{
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++)
		if (strcmp(method, queries[i]) == 0)
			return 1;
	return 0;
}

static struct query *slot(struct chatter *c, uint64_t id, uint64_t serial)
{
	return &c->queries[((id * 0x9e3779b97f4a7c15ull) ^ serial) % QUERY_SLOTS];
}

/* A Hello whose client text ends in this program's name. */
static int hello_from_tool(const struct chatter *c, const bus_msg_t *m)
{
	if (strcmp(m->body_type, bus__hello_request__descriptor.name) != 0)
		return 0;
	Bus__HelloRequest *req = bus__hello_request__unpack(NULL, m->body_len, m->body);
	if (!req)
		return 0;
	size_t n = req->client ? strlen(req->client) : 0, sn = strlen(c->suffix);
	int yes = n > sn && strncmp(req->client, "libbus ", 7) == 0 &&
		  strcmp(req->client + n - sn, c->suffix) == 0;
	bus__hello_request__free_unpacked(req, NULL);
	return yes;
}

int chatter_hide(struct chatter *c, const bus_msg_t *m)
{
	if (m->kind == BUS_KIND_CALL && strcmp(m->destination, WIRE_BUS_NAME) == 0) {
		uint64_t id = unique_id(m->sender);
		if (!id)
			return 0;
		if (strcmp(m->member, "Hello") == 0 && hello_from_tool(c, m))
			add_id(c, id);
		if (!is_query(m->member) || !is_tool(c, id))
			return 0;
		*slot(c, id, m->serial) = (struct query){ id, m->serial };
		c->hidden++;
		return 1;
	}
	if ((m->kind == BUS_KIND_REPLY || m->kind == BUS_KIND_ERROR) &&
	    strcmp(m->sender, WIRE_BUS_NAME) == 0) {
		uint64_t id = unique_id(m->destination);
		struct query *q = slot(c, id, m->reply_serial);
		if (!id || q->id != id || q->serial != m->reply_serial)
			return 0;
		q->serial = 0;
		c->hidden++;
		return 1;
	}
	return 0;
}
