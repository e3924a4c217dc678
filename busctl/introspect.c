/* introspect.c - busctl introspect: what a name serves, from the schema its
 * owner uploaded: the services and methods with their request and reply
 * types, and a .proto-like rendering of every type they use. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "busctl.h"

static int introspect_run(struct busctl *ctl, int argc, char **argv)
{
	int first, r = command_options(&cmd_introspect, argc, argv, NULL, NULL, NULL, NULL, &first);
	if (r)
		return r < 0 ? 0 : r;
	if (argc - first != 1)
		return command_usage_error(&cmd_introspect, "expected one NAME");
	const char *name = argv[first];

	bus_t *bus = busctl_connect(ctl);
	if (!bus)
		return 1;
	struct schemas *sc = schemas_new(ctl, bus);
	struct introspection in;
	bus_error_t err;
	if (!sc) {
		bus_close(bus);
		return fail("out of memory");
	}
	r = schemas_introspect(sc, name, &in, &err);
	bus_close(bus);
	if (r < 0) {
		schemas_free(sc);
		return fail_bus(name, &err);
	}
	if (in.n_services && !in.n_schemas) {
		schemas_free(sc);
		return fail("%s (%s) exports %s but uploaded no schema to describe it", name, in.owner,
			    in.services[0]);
	}
	const bus_schema_t *s = schemas_get(sc);

	if (ctl->json) {
		json_object *o = json_object_new_object(), *svcs = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "owner", json_object_new_string(in.owner));
		for (size_t i = 0; i < in.n_services; i++) {
			json_object *so = json_object_new_object(), *ms = json_object_new_array();
			json_object_object_add(so, "service", json_object_new_string(in.services[i]));
			const char *const *methods;
			size_t n = bus_schema_methods(s, in.services[i], &methods);
			for (size_t k = 0; k < n; k++) {
				const char *svc, *it, *ot;
				if (bus_schema_method(s, in.services[i], methods[k], &svc, &it, &ot) < 0)
					continue;
				json_object *mo = json_object_new_object();
				json_object_object_add(mo, "method", json_object_new_string(methods[k]));
				json_object_object_add(mo, "request", json_object_new_string(it));
				json_object_object_add(mo, "reply", json_object_new_string(ot));
				json_object_array_add(ms, mo);
			}
			json_object_object_add(so, "methods", ms);
			char *text = NULL;
			if (bus_schema_render(s, in.services[i], &text) == 0)
				json_object_object_add(so, "proto", json_object_new_string(text));
			free(text);
			json_object_array_add(svcs, so);
		}
		json_object_object_add(o, "services", svcs);
		schemas_free(sc);
		return json_doc_out(ctl, o);
	} else {
		/* Service names come from the owner's Export, schemas' names were
		 * checked when loaded; all of it is escaped all the same. */
		char who[1024], owner[128], svc_name[1024];
		printf("%s (owner %s): %zu service%s\n", esc(name, who, sizeof(who)),
		       esc(in.owner, owner, sizeof(owner)), in.n_services, in.n_services == 1 ? "" : "s");
		for (size_t i = 0; i < in.n_services; i++) {
			const char *const *methods;
			size_t n = bus_schema_methods(s, in.services[i], &methods);
			esc(in.services[i], svc_name, sizeof(svc_name));
			printf("\nservice %s\n", svc_name);
			for (size_t k = 0; k < n; k++) {
				const char *svc, *it, *ot;
				if (bus_schema_method(s, in.services[i], methods[k], &svc, &it, &ot) == 0)
					printf("  %-16s %s -> %s\n", methods[k], it, ot);
			}
			char *text = NULL, *safe = NULL;
			if (bus_schema_render(s, in.services[i], &text) == 0 && (safe = esc_dup(text, 1)))
				printf("\n%s", safe);
			else
				printf("\n(the schemas on the bus do not describe %s)\n", svc_name);
			free(text);
			free(safe);
		}
	}
	schemas_free(sc);
	return fflush(stdout) == 0 ? 0 : fail("writing: %s", strerror(errno));
}

const struct command cmd_introspect = {
	"introspect", "NAME",
	"Show the services NAME serves, their methods and types",
	"\nNAME is a well-known name, a unique id, or bus: busd serves the schema of\n"
	"its own control service (bus.Bus). busctl asks busd what NAME's\n"
	"owner exports under it (Introspect) and fetches the schemas the owner\n"
	"uploaded (GetSchema), then prints each service, each method with its\n"
	"request and reply types, and a .proto-like rendering of the service and\n"
	"every type it uses. With --json: one object with name, owner and services\n"
	"(methods with request/reply types, and the rendering as \"proto\"), on\n"
	"one line, or indented with --json=pretty.\n",
	introspect_run,
};
