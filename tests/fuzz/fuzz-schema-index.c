/* fuzz-schema-index.c - libFuzzer target for what busd itself reads of a
 * peer's FileDescriptorSet: the index of its methods and their idempotency
 * level (busd/schema.c), made when a peer adds the set, and the lookups
 * routing makes in it. The input is the set. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"
#include "schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Names the seed sets have, and some they do not. */
static const char *const services[] = { "busd.examples.Echo", "bus.Bus", "bus.Peer", "Echo", "" };
static const char *const methods[] = { "Echo", "Delay", "Ping", "Hello", "E", "" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct charge_ledger ledger;
	static struct schema_store *store;
	struct peer p;
	char id[SCHEMA_ID_LEN + 1];
	int known;

	if (!store) {
		if (charge_ledger_init(&ledger) < 0 || !(store = schema_store_new()))
			abort();
	}
	memset(&p, 0, sizeof(p));
	snprintf(p.unique, sizeof(p.unique), ":1");
	p.unique_len = 2;
	if (!(p.user = charge_user_get(&ledger, 1000)))
		abort();
	if (schema_add(store, &p, data, size, id, &known) == 0) {
		for (size_t i = 0; i < sizeof(services) / sizeof(*services); i++) {
			if (services[i][0])
				schema_export(&p, "org.x", services[i], 0);
			for (size_t m = 0; m < sizeof(methods) / sizeof(*methods); m++)
				schema_call_repeatable(&p, "org.x", 5, services[i],
						       strlen(services[i]), methods[m],
						       strlen(methods[m]));
		}
	}
	schema_peer_gone(store, &p);
	if (p.acct.used[CHARGE_SCHEMA] || p.acct.used[CHARGE_EXPORTS])
		abort(); /* every charge given back */
	charge_user_put(p.user);
	return 0;
}
