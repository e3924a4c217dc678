/* match.c - subscription table: pattern -> list of subscriptions, and per
 * owner a list of its subscriptions so a disconnect drops them in one pass. */
#include "match.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "wire.h"

struct pattern;

struct sub {
	void *owner;
	struct charge charge;            /* what it costs its owner */
	struct pattern *pat;
	struct sub *prev, *next;         /* the pattern's subscribers */
	struct sub *owner_prev, *owner_next;
	struct sub *all_prev, *all_next; /* every subscription, for match_filter */
};

struct pattern {
	struct sub *subs;
	size_t len;
	char text[];
};

struct match {
	hash *patterns; /* pattern text -> struct pattern */
	hash *owners;   /* owner pointer bytes -> first struct sub */
	struct sub *all;
	size_t count;
};

struct match *match_new(void)
{
	struct match *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->patterns = hash_new();
	m->owners = hash_new();
	if (!m->patterns || !m->owners) {
		match_free(m);
		return NULL;
	}
	return m;
}

static void pattern_free(void *v)
{
	struct pattern *pat = v;
	struct sub *s = pat->subs;
	while (s) {
		struct sub *next = s->next;
		charge_release(&s->charge);
		free(s);
		s = next;
	}
	free(pat);
}

void match_free(struct match *m)
{
	if (!m)
		return;
	hash_free(m->patterns, pattern_free);
	hash_free(m->owners, NULL);
	free(m);
}

static struct sub *owner_find(const struct match *m, void *owner, const char *pattern, size_t len)
{
	for (struct sub *s = hash_get(m->owners, &owner, sizeof(owner)); s; s = s->owner_next)
		if (s->pat->len == len && memcmp(s->pat->text, pattern, len) == 0)
			return s;
	return NULL;
}

int match_has(const struct match *m, void *owner, const char *pattern, size_t len)
{
	return owner_find(m, owner, pattern, len) != NULL;
}

int match_subscribe(struct match *m, void *owner, const char *pattern, size_t len,
		    struct charge *charge)
{
	if (!wire_pattern_valid(pattern, len))
		return MATCH_E_INVALID;
	if (owner_find(m, owner, pattern, len))
		return MATCH_E_EXISTS;

	struct pattern *pat = hash_get(m->patterns, pattern, len);
	int new_pat = 0;
	if (!pat) {
		pat = calloc(1, sizeof(*pat) + len + 1);
		if (!pat)
			return -ENOMEM;
		pat->len = len;
		memcpy(pat->text, pattern, len);
		if (hash_put(m->patterns, pattern, len, pat) < 0) {
			free(pat);
			return -ENOMEM;
		}
		new_pat = 1;
	}
	struct sub *s = calloc(1, sizeof(*s));
	struct sub *first = hash_get(m->owners, &owner, sizeof(owner));
	if (!s || hash_put(m->owners, &owner, sizeof(owner), s) < 0) {
		free(s);
		if (new_pat)
			free(hash_remove(m->patterns, pattern, len));
		return -ENOMEM;
	}
	s->owner = owner;
	if (charge) {
		s->charge = *charge;
		*charge = (struct charge){ 0 };
	}
	s->pat = pat;
	s->next = pat->subs;
	if (s->next)
		s->next->prev = s;
	pat->subs = s;
	s->owner_next = first;
	if (first)
		first->owner_prev = s;
	s->all_next = m->all;
	if (m->all)
		m->all->all_prev = s;
	m->all = s;
	m->count++;
	return 0;
}

static void sub_drop(struct match *m, struct sub *s)
{
	void *owner = s->owner;
	struct pattern *pat = s->pat;

	if (s->prev)
		s->prev->next = s->next;
	else
		pat->subs = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (!pat->subs)
		free(hash_remove(m->patterns, pat->text, pat->len));

	if (s->owner_prev)
		s->owner_prev->owner_next = s->owner_next;
	else if (s->owner_next)
		hash_put(m->owners, &owner, sizeof(owner), s->owner_next); /* replaces */
	else
		hash_remove(m->owners, &owner, sizeof(owner));
	if (s->owner_next)
		s->owner_next->owner_prev = s->owner_prev;
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		m->all = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	charge_release(&s->charge);
	free(s);
	m->count--;
}

int match_unsubscribe(struct match *m, void *owner, const char *pattern, size_t len)
{
	if (!wire_pattern_valid(pattern, len))
		return MATCH_E_INVALID;
	struct sub *s = owner_find(m, owner, pattern, len);
	if (!s)
		return MATCH_E_NOT_FOUND;
	sub_drop(m, s);
	return 0;
}

void match_remove_owner(struct match *m, void *owner)
{
	struct sub *s;
	while ((s = hash_get(m->owners, &owner, sizeof(owner))))
		sub_drop(m, s);
}

static void visit(const struct match *m, const char *key, size_t len, match_fn fn, void *ud)
{
	const struct pattern *pat = hash_get(m->patterns, key, len);
	if (!pat)
		return;
	for (struct sub *s = pat->subs; s; s = s->next)
		fn(s->owner, ud);
}

void match_topic(const struct match *m, const char *topic, size_t len, match_fn fn, void *ud)
{
	char key[WIRE_MAX_NAME + 2];

	if (len > WIRE_MAX_NAME || hash_count(m->patterns) == 0)
		return;
	visit(m, topic, len, fn, ud);
	/* Every dotted prefix "a", "a.b", ... of "a.b.c" as "a.*", "a.b.*". */
	for (size_t i = 0; i < len; i++) {
		if (topic[i] != '.')
			continue;
		memcpy(key, topic, i + 1);
		key[i + 1] = '*';
		visit(m, key, i + 2, fn, ud);
	}
	visit(m, "*", 1, fn, ud);
}

size_t match_count(const struct match *m)
{
	return m->count;
}

void match_filter(struct match *m, match_keep_fn keep, void *userdata)
{
	struct sub *s, *next;

	for (s = m->all; s; s = next) {
		next = s->all_next;
		if (!keep(s->owner, s->pat->text, s->pat->len, userdata))
			sub_drop(m, s);
	}
}
