/* schema-peer.c - a hostile peer for the busctl tests: it uploads a
 * FileDescriptorSet that breaks the rules (or one from a file, or none),
 * owns NAME and exports SERVICE under it, then stays on the bus until
 * killed.
 *
 *   schema-peer [--comm TEXT] [--emit N] deep:N|chain:N|nameless|file:PATH|none
 *               NAME SERVICE
 *
 * --comm sets the process name busd reports (prctl PR_SET_NAME), so a test
 * can give a peer a name with terminal escapes in it. --emit sends N events
 * on amp.event in one burst, each of its own type amp.Unknown<i> that no
 * schema describes. "ready" on stdout once everything is in place. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <bus/bus.h>

#include "hostile-fds.h"

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	size_t cap = 0;

	*len = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (*len == cap) {
			uint8_t *np = realloc(p, cap = cap ? cap * 2 : 65536);
			if (!np)
				break;
			p = np;
		}
		size_t n = fread(p + *len, 1, cap - *len, f);
		if (n == 0)
			break;
		*len += n;
	}
	fclose(f);
	return p;
}

static uint8_t *make_set(const char *kind, size_t *len)
{
	if (strncmp(kind, "deep:", 5) == 0)
		return hostile_deep(strtoul(kind + 5, NULL, 10), len);
	if (strncmp(kind, "chain:", 6) == 0)
		return hostile_chain(strtoul(kind + 6, NULL, 10), len);
	if (strcmp(kind, "nameless") == 0)
		return hostile_nameless(len);
	if (strncmp(kind, "file:", 5) == 0)
		return read_file(kind + 5, len);
	*len = 0;
	return strcmp(kind, "none") == 0 ? malloc(1) : NULL;
}

/* Exported with no methods: Introspect lists the service, which is all a
 * test of the schema needs. */
static void no_method(ProtobufCService *s, unsigned i, const ProtobufCMessage *in,
		      ProtobufCClosure done, void *data)
{
	(void)s, (void)i, (void)in;
	done(NULL, data);
}

int main(int argc, char **argv)
{
	unsigned long emit = 0;
	int a = 1;

	for (; a + 1 < argc && argv[a][0] == '-'; a += 2) {
		if (strcmp(argv[a], "--comm") == 0)
			prctl(PR_SET_NAME, argv[a + 1], 0, 0, 0);
		else if (strcmp(argv[a], "--emit") == 0)
			emit = strtoul(argv[a + 1], NULL, 10);
		else
			break;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: schema-peer [--comm TEXT] [--emit N] "
				"deep:N|chain:N|nameless|file:PATH|none NAME SERVICE\n");
		return 2;
	}
	size_t len;
	uint8_t *set = make_set(argv[a], &len);
	if (!set) {
		fprintf(stderr, "schema-peer: cannot make %s\n", argv[a]);
		return 1;
	}
	ProtobufCServiceDescriptor desc = {
		PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC, argv[a + 2], argv[a + 2], argv[a + 2], "",
		0, NULL, NULL,
	};
	ProtobufCService svc = { &desc, no_method, NULL };
	bus_error_t err;
	bus_t *bus = NULL;
	int r = bus_connect(&bus, NULL, &err);
	if (r >= 0 && len)
		r = bus_add_schema(bus, set, len, &err);
	if (r >= 0)
		r = bus_request_name(bus, argv[a + 1], &err);
	if (r >= 0)
		r = bus_export(bus, NULL, argv[a + 1], &svc, &err);
	for (unsigned long i = 0; r >= 0 && i < emit; i++) {
		char type[48];
		snprintf(type, sizeof(type), "amp.Unknown%lu", i);
		r = bus_emit_raw(bus, "amp.event", type, "\x08\x01", 2);
	}
	if (r >= 0)
		r = bus_flush(bus);
	free(set);
	if (r < 0) {
		fprintf(stderr, "schema-peer: %s: %s\n", bus_error_is_set(&err) ? err.name : "",
			bus_error_is_set(&err) ? err.message : strerror(-r));
		bus_close(bus);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	r = bus_run(bus);
	bus_close(bus);
	return r < 0;
}
