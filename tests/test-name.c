/* test-name.c - the well-known name registry (busd/name.c) on its own:
 * exclusive ownership, the documented outcomes, release of everything a
 * peer owned, and growth to many names. Owners are plain addresses here. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "name.h"
#include "tap.h"

static int owner_a, owner_b, owner_c;
#define A ((void *)&owner_a)
#define B ((void *)&owner_b)
#define C ((void *)&owner_c)

static int req(name_registry *r, const char *name, void *owner)
{
	return name_request(r, name, strlen(name), owner, NULL);
}

static int rel(name_registry *r, const char *name, void *owner)
{
	return name_release(r, name, strlen(name), owner);
}

static void *look(name_registry *r, const char *name)
{
	return name_lookup(r, name, strlen(name));
}

/* Names seen by a name_fn, as one sorted, comma-separated string. */
struct seen {
	char *names[64];
	int n;
	int wrong_owner;
	void *want_owner;
};

static void seen_add(const char *name, void *owner, void *userdata)
{
	struct seen *s = userdata;
	if (owner != s->want_owner)
		s->wrong_owner++;
	if (s->n < 64)
		s->names[s->n++] = strdup(name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void seen_join(struct seen *s, char *out, size_t len)
{
	qsort(s->names, (size_t)s->n, sizeof(s->names[0]), cmp_str);
	out[0] = 0;
	for (int i = 0; i < s->n; i++) {
		if (i)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, s->names[i], len - strlen(out) - 1);
		free(s->names[i]);
	}
	s->n = 0;
}

static void test_ownership(void)
{
	name_registry *r = name_registry_new();
	ok(r != NULL, "registry is created");
	is_int((long long)name_count(r), 0, "new registry is empty");
	ok(look(r, "org.a.B") == NULL, "lookup in an empty registry finds nothing");

	is_int(req(r, "org.a.B", A), 0, "request of a free name succeeds");
	ok(look(r, "org.a.B") == A, "lookup returns the owner");
	is_int(req(r, "org.a.B", B), NAME_E_TAKEN, "second owner gets NAME_E_TAKEN");
	ok(look(r, "org.a.B") == A, "the name stays with its first owner");
	is_int(req(r, "org.a.B", A), NAME_E_ALREADY_OWNER, "owner asking again gets NAME_E_ALREADY_OWNER");
	is_int((long long)name_count(r), 1, "one name in total");
	is_int((long long)name_count_owned(r, A), 1, "owner A has one name");
	is_int((long long)name_count_owned(r, B), 0, "owner B has none");

	is_int(rel(r, "org.a.B", B), NAME_E_NOT_OWNER, "release by a non-owner gets NAME_E_NOT_OWNER");
	ok(look(r, "org.a.B") == A, "failed release leaves the owner");
	is_int(rel(r, "org.x.Unknown", A), NAME_E_NOT_OWNER, "release of a name nobody owns: NAME_E_NOT_OWNER");
	is_int(rel(r, "org.a.B", A), 0, "owner releases the name");
	ok(look(r, "org.a.B") == NULL, "released name has no owner");
	is_int((long long)name_count(r), 0, "count back to 0");
	is_int((long long)name_count_owned(r, A), 0, "A owns nothing");
	is_int(rel(r, "org.a.B", A), NAME_E_NOT_OWNER, "second release: NAME_E_NOT_OWNER");
	is_int(req(r, "org.a.B", B), 0, "another owner can take the released name");
	ok(look(r, "org.a.B") == B, "lookup returns the new owner");

	is_int(req(r, "org.a", C), 0, "a prefix of an owned name is a different name");
	is_int(req(r, "org.a.B.c", C), 0, "so is an extension of it");
	ok(look(r, "org.a") == C && look(r, "org.a.B") == B && look(r, "org.a.B.c") == C,
	   "prefix, name and extension resolve independently");
	ok(look(r, "org.a.b") == NULL, "names are case-sensitive");
	name_registry_free(r);
}

static void test_invalid(void)
{
	name_registry *r = name_registry_new();
	static const char *const bad[] = {
		":1", ":42", "bus", "", "a..b", ".a", "a.", "a b", "a/b", "a.*", "*", ":", NULL };
	for (const char *const *n = bad; *n; n++) {
		is_int(req(r, *n, A), NAME_E_INVALID, "request \"%s\": NAME_E_INVALID", *n);
		is_int(rel(r, *n, A), NAME_E_INVALID, "release \"%s\": NAME_E_INVALID", *n);
	}
	is_int((long long)name_count(r), 0, "invalid requests registered nothing");

	char n[300];
	memset(n, 'a', sizeof(n));
	is_int(name_request(r, n, 255, A, NULL), 0, "255-byte name can be owned");
	is_int(name_request(r, n, 256, A, NULL), NAME_E_INVALID, "256-byte name is invalid");
	ok(name_lookup(r, n, 255) == A, "255-byte name is found");
	ok(name_lookup(r, n, 254) == NULL, "its 254-byte prefix is not");

	static const char *const good[] = { "busd", "bus-x", "bus.Sub", "a", "_", "x-y_z.W9", NULL };
	for (const char *const *g = good; *g; g++)
		is_int(req(r, *g, B), 0, "\"%s\" is an ordinary name", *g);
	name_registry_free(r);
}

static void test_lengths(void)
{
	name_registry *r = name_registry_new();
	char buf[32];

	/* The registry must honour len and copy the bytes, never read a NUL. */
	memcpy(buf, "org.c.Dzzzz", 11);
	is_int(name_request(r, buf, 7, A, NULL), 0, "request with a length inside a longer buffer");
	memset(buf, '#', sizeof(buf));
	ok(look(r, "org.c.D") == A, "the name was copied (buffer overwritten since)");
	ok(name_lookup(r, "org.c.Dz", 8) == NULL, "a longer name is different");
	ok(name_lookup(r, "org.c.Dz", 7) == A, "lookup honours its length too");
	ok(name_lookup(r, "org.c.D", 6) == NULL, "a shorter length finds nothing");
	is_int(name_request(r, "org.c.D!!", 7, B, NULL), NAME_E_TAKEN, "taken whatever follows the length");
	is_int(name_release(r, "org.c.D...", 7, A), 0, "release honours its length");
	ok(look(r, "org.c.D") == NULL, "and the name is gone");

	/* Exactly-sized heap buffer: ASan reports any read past len. */
	char *h = malloc(7);
	memcpy(h, "org.e.F", 7);
	is_int(name_request(r, h, 7, A, NULL), 0, "request from an unterminated heap buffer");
	ok(name_lookup(r, h, 7) == A, "lookup from it");
	is_int(name_release(r, h, 7, A), 0, "release from it");
	free(h);
	name_registry_free(r);
}

static void test_release_all(void)
{
	name_registry *r = name_registry_new();
	struct seen s = { .n = 0 };
	char joined[1024];

	req(r, "org.a.One", A);
	req(r, "org.a.Two", A);
	req(r, "org.a.Three", A);
	req(r, "org.b.One", B);

	s.want_owner = A;
	name_foreach_owned(r, A, seen_add, &s);
	seen_join(&s, joined, sizeof(joined));
	is_str(joined, "org.a.One,org.a.Three,org.a.Two", "foreach_owned lists exactly A's names");
	is_int(s.wrong_owner, 0, "foreach_owned passes the owner");

	s.want_owner = A;
	is_int((long long)name_release_all(r, A, seen_add, &s), 3, "release_all returns how many it released");
	seen_join(&s, joined, sizeof(joined));
	is_str(joined, "org.a.One,org.a.Three,org.a.Two", "release_all calls back once per name");
	is_int(s.wrong_owner, 0, "release_all passes the owner");
	ok(!look(r, "org.a.One") && !look(r, "org.a.Two") && !look(r, "org.a.Three"),
	   "A's names are free afterwards");
	ok(look(r, "org.b.One") == B, "B's name is untouched");
	is_int((long long)name_count(r), 1, "one name left");
	is_int((long long)name_count_owned(r, A), 0, "A owns nothing");
	is_int((long long)name_release_all(r, A, seen_add, &s), 0, "release_all of an owner with no names: 0");
	is_int(s.n, 0, "and no callback");
	is_int(req(r, "org.a.Two", C), 0, "a released name can be claimed by another owner");
	is_int((long long)name_release_all(r, B, NULL, NULL), 1, "release_all with a NULL callback");
	ok(look(r, "org.b.One") == NULL && look(r, "org.a.Two") == C, "only B's name went");
	name_registry_free(r);
}

static void test_many(void)
{
	enum { N = 10000 };
	name_registry *r = name_registry_new();
	char n[64];
	int bad = 0;

	for (int i = 0; i < N; i++) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += req(r, n, i % 2 ? B : A) != 0;
	}
	is_int(bad, 0, "10,000 names requested");
	is_int((long long)name_count(r), N, "count is 10,000");
	is_int((long long)name_count_owned(r, A), N / 2, "A owns 5,000");
	is_int((long long)name_count_owned(r, B), N / 2, "B owns 5,000");

	bad = 0;
	for (int i = 0; i < N; i++) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += look(r, n) != (i % 2 ? B : A);
	}
	is_int(bad, 0, "every one resolves to its owner after growth");
	bad = 0;
	for (int i = N; i < N + 1000; i++) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += look(r, n) != NULL;
	}
	is_int(bad, 0, "names never requested are not found");

	bad = 0;
	for (int i = 0; i < N; i += 4) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += rel(r, n, A) != 0;
	}
	is_int(bad, 0, "every 4th name released");
	bad = 0;
	for (int i = 0; i < N; i++) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		void *want = i % 4 == 0 ? NULL : i % 2 ? B : A;
		bad += look(r, n) != want;
	}
	is_int(bad, 0, "lookups are right after removals");
	is_int((long long)name_count(r), N - N / 4, "count after removals");

	bad = 0;
	for (int i = 0; i < N; i += 4) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += req(r, n, C) != 0;
	}
	is_int(bad, 0, "released names re-requested by a third owner");
	is_int((long long)name_release_all(r, A, NULL, NULL), N / 4, "release_all of A's remaining 2,500");
	is_int((long long)name_release_all(r, B, NULL, NULL), N / 2, "release_all of B's 5,000");
	is_int((long long)name_count(r), N / 4, "C's 2,500 remain");
	bad = 0;
	for (int i = 0; i < N; i++) {
		snprintf(n, sizeof(n), "org.many.n%d", i);
		bad += look(r, n) != (i % 4 == 0 ? C : NULL);
	}
	is_int(bad, 0, "only C's names resolve");
	/* Freed with names still registered: the leak checker sees the rest. */
	name_registry_free(r);
}

int main(void)
{
	plan(99);
	test_ownership();
	test_invalid();
	test_lengths();
	test_release_all();
	test_many();
	return tap_done();
}
