/* test-hash.c - busd's hash table (busd/hash.c) against inputs chosen to
 * collide: 16,384 topics that share "*"'s bucket under the unkeyed FNV-1a
 * busd used to hash with (a subscription flood that made every event walk
 * one chain), and 16,384 call serials that share one bucket of the former
 * pending-call table. Keyed, the longest chain stays short; the key is
 * drawn per process. Costs are measured by chain lengths, not by time. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collide.h"
#include "hash.h"
#include "tap.h"
#include "wire.h"

#define N_KEYS 16384 /* limits.max_subscriptions_per_uid's default */
/* With as many buckets as keys, a random hash's longest chain is about 8
 * long; an attack that worked would make it thousands long. */
#define SHORT_CHAIN 16

static char keys[N_KEYS][COLLIDE_KEY_MAX];

static void test_attack_input(void)
{
	size_t valid = 0, colliding = 0, distinct = 1;
	uint64_t star = collide_fnv1a("*", 1) & ((1u << COLLIDE_BITS) - 1);

	collide_topics(keys, N_KEYS);
	for (size_t i = 0; i < N_KEYS; i++) {
		size_t len = strlen(keys[i]);
		valid += wire_pattern_valid(keys[i], len) && wire_member_valid(keys[i], len);
		colliding += (collide_fnv1a(keys[i], len) & ((1u << COLLIDE_BITS) - 1)) == star;
		if (i && strcmp(keys[i], keys[i - 1]) == 0)
			distinct = 0;
	}
	is_int((long long)valid, N_KEYS, "the %d attack keys are valid topics and patterns (%s, ...)",
	       N_KEYS, keys[0]);
	is_int((long long)colliding, N_KEYS,
	       "under FNV-1a all of them share the low %d bits of the hash of \"*\"", COLLIDE_BITS);
	ok(distinct, "and they are distinct");
}

static void test_flood_spreads(void)
{
	hash *h = hash_new();
	struct hash_stats st;
	static int star_value, values[N_KEYS];
	size_t found = 0;

	ok(h != NULL, "a table is created");
	ok(hash_put(h, "*", 1, &star_value) == 0, "\"*\" is inserted");
	for (size_t i = 0; i < N_KEYS; i++)
		if (hash_put(h, keys[i], strlen(keys[i]), &values[i]) < 0)
			break;
	hash_stats(h, &st);
	is_int((long long)st.count, N_KEYS + 1, "the %d colliding topics are inserted beside it",
	       N_KEYS);
	ok(st.buckets >= N_KEYS, "the table grew to %zu buckets", st.buckets);
	ok(st.longest <= SHORT_CHAIN,
	   "the longest chain is %zu long (at most %d): the flood does not share \"*\"'s bucket",
	   st.longest, SHORT_CHAIN);
	for (size_t i = 0; i < N_KEYS; i++)
		found += hash_get(h, keys[i], strlen(keys[i])) == &values[i];
	is_int((long long)found, N_KEYS, "every key finds its own value");
	ok(hash_get(h, "*", 1) == &star_value, "\"*\" finds its own");
	for (size_t i = 0; i < N_KEYS; i++)
		hash_remove(h, keys[i], strlen(keys[i]));
	hash_stats(h, &st);
	ok(st.count == 1 && st.longest == 1, "after removing the flood \"*\" is alone");
	hash_free(h, NULL);
}

/* busd's pending-call table takes its bucket from hash_bytes() of (caller
 * id, serial), masked like any table of 2^k buckets. */
static void test_serials_spread(void)
{
	static uint64_t serials[N_KEYS];
	static unsigned short in_bucket[N_KEYS];
	const uint64_t caller = 7;
	size_t longest = 0, zero = 0, old_shared = 0;
	hash *h = hash_new(); /* draws the key */

	collide_serials(caller, serials, N_KEYS);
	for (size_t i = 0; i < N_KEYS; i++) {
		old_shared += collide_old_pending_slot(caller, serials[i], N_KEYS) ==
			      collide_old_pending_slot(caller, serials[0], N_KEYS);
		const uint64_t key[2] = { caller, serials[i] };
		size_t b = (size_t)hash_bytes(key, sizeof(key)) & (N_KEYS - 1);
		if (++in_bucket[b] > longest)
			longest = in_bucket[b];
		zero += serials[i] == 0;
	}
	is_int((long long)zero, 0, "%d serials chosen against the unkeyed pending-call table", N_KEYS);
	is_int((long long)old_shared, N_KEYS, "  which put all of them into one bucket");
	ok(longest <= SHORT_CHAIN, "keyed, the fullest of %d buckets holds %zu of them (at most %d)",
	   N_KEYS, longest, SHORT_CHAIN);
	hash_free(h, NULL);
}

/* A restarted busd draws a new key: what an attacker learnt of one process
 * says nothing of the next. This program run again prints its hash of "*". */
static unsigned long long hash_in_new_process(void)
{
	char self[512], cmd[600];
	unsigned long long v = 0;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 0;
	self[n] = '\0';
	snprintf(cmd, sizeof(cmd), "'%s' --hash-of-star", self);
	FILE *f = popen(cmd, "r");
	if (!f || fscanf(f, "%llx", &v) != 1)
		v = 0;
	if (f)
		pclose(f);
	return v;
}

static void test_key_per_process(void)
{
	hash *h = hash_new();
	unsigned long long mine = hash_bytes("*", 1);
	unsigned long long a = hash_in_new_process(), b = hash_in_new_process();

	ok(a && b, "two new processes hash \"*\" (%016llx, %016llx)", a, b);
	ok(a != b && a != mine && b != mine, "each with a key of its own");
	hash_free(h, NULL);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--hash-of-star") == 0) {
		hash *h = hash_new();
		printf("%016llx\n", (unsigned long long)hash_bytes("*", 1));
		hash_free(h, NULL);
		return 0;
	}
	plan(16);
	test_attack_input();
	test_flood_spreads();
	test_serials_spread();
	test_key_per_process();
	return tap_done();
}
