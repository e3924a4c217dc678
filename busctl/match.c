/* match.c - monitor's and capture's --match filters: parsed and checked
 * once, ORed between options and ANDed within one, with well-known names
 * as sender or destination followed to their current owner. */
#include "config.h"

#include "match.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bus.pb-c.h"
#include "wire.h"

#define MATCH_MAX_SPEC_LEN 2048

enum match_key { KEY_KIND, KEY_SENDER, KEY_DEST, KEY_IFACE, KEY_METHOD, KEY_TOPIC };

struct term {
	enum match_key key;
	int kind;  /* KEY_KIND: a bus_kind */
	int name;  /* KEY_SENDER, KEY_DEST: index in names, or -1 (taken literally) */
	char value[WIRE_MAX_NAME + 1];
};

struct spec {
	struct term terms[MATCH_MAX_TERMS];
	int n;
};

struct followed {
	char name[WIRE_MAX_NAME + 1];
	char owner[WIRE_MAX_NAME + 1]; /* "" while it has none, or it is not known */
};

struct matcher {
	struct spec specs[MATCH_MAX_SPECS];
	int n_specs;
	struct followed names[MATCH_MAX_NAMES];
	int n_names;
};

static const struct {
	const char *name;
	enum match_key key;
} keys[] = {
	{ "kind", KEY_KIND }, { "type", KEY_KIND }, { "sender", KEY_SENDER },
	{ "destination", KEY_DEST }, { "interface", KEY_IFACE }, { "method", KEY_METHOD },
	{ "member", KEY_METHOD }, { "topic", KEY_TOPIC },
};

/* systemd's names for the kinds are accepted too. */
static const struct {
	const char *name;
	int kind;
} kinds[] = {
	{ "call", BUS_KIND_CALL },    { "reply", BUS_KIND_REPLY },
	{ "error", BUS_KIND_ERROR },  { "event", BUS_KIND_EVENT },
	{ "method_call", BUS_KIND_CALL }, { "method_return", BUS_KIND_REPLY },
	{ "signal", BUS_KIND_EVENT },
};

#define KEYS_TEXT "kind (or type), sender, destination, interface, method (or member), topic"

struct matcher *matcher_new(void)
{
	return calloc(1, sizeof(struct matcher));
}

void matcher_free(struct matcher *mt)
{
	free(mt);
}

int matcher_n_names(const struct matcher *mt)
{
	return mt->n_names;
}

/* The slot following name (a new one if needed), or -1 when there are
 * too many. */
static int follow(struct matcher *mt, const char *name)
{
	for (int i = 0; i < mt->n_names; i++)
		if (strcmp(mt->names[i].name, name) == 0)
			return i;
	if (mt->n_names == MATCH_MAX_NAMES)
		return -1;
	struct followed *f = &mt->names[mt->n_names];
	size_t n = strlen(name); /* at most WIRE_MAX_NAME: parse_term checked */
	memcpy(f->name, name, n + 1);
	f->owner[0] = '\0';
	return mt->n_names++;
}

/* A sender or destination: a unique id and "bus" are taken as they are, a
 * well-known name is followed to its owner. */
static int parse_name(struct matcher *mt, struct term *t, const char *key, char *why, size_t len)
{
	size_t n = strlen(t->value);

	if (!wire_name_valid(t->value, n)) {
		snprintf(why, len, "%s \"%s\" is not a unique id (:N), bus or a well-known name "
			 "(dotted elements of letters, digits, _ and -)", key, t->value);
		return -1;
	}
	t->name = -1;
	if (t->value[0] == ':' || strcmp(t->value, WIRE_BUS_NAME) == 0)
		return 0;
	if ((t->name = follow(mt, t->value)) < 0) {
		snprintf(why, len, "at most %d well-known names in --match", MATCH_MAX_NAMES);
		return -1;
	}
	return 0;
}

static int parse_term(struct matcher *mt, struct term *t, char *kv, char *why, size_t len)
{
	char *v = strchr(kv, '=');
	size_t k;

	if (!v) {
		snprintf(why, len, "\"%s\" is not KEY=VALUE (keys: " KEYS_TEXT ")", kv);
		return -1;
	}
	*v++ = '\0';
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(kv, keys[k].name) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0])) {
		snprintf(why, len, "unknown key \"%s\" (keys: " KEYS_TEXT ")", kv);
		return -1;
	}
	if (!*v) {
		snprintf(why, len, "%s has no value", kv);
		return -1;
	}
	if (strlen(v) > WIRE_MAX_NAME) {
		snprintf(why, len, "the value of %s is longer than %d bytes", kv, WIRE_MAX_NAME);
		return -1;
	}
	t->key = keys[k].key;
	snprintf(t->value, sizeof(t->value), "%s", v);
	switch (t->key) {
	case KEY_KIND:
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (strcasecmp(v, kinds[i].name) == 0) {
				t->kind = kinds[i].kind;
				return 0;
			}
		snprintf(why, len, "%s \"%s\" is not one of call, reply, error, event "
			 "(or method_call, method_return, signal)", kv, v);
		return -1;
	case KEY_SENDER:
	case KEY_DEST:
		return parse_name(mt, t, kv, why, len);
	case KEY_IFACE:
	case KEY_METHOD:
		if (wire_member_valid(v, strlen(v)))
			return 0;
		snprintf(why, len, "%s \"%s\" is not %s (dotted elements of letters, digits, _ and -)",
			 kv, v, t->key == KEY_IFACE ? "an interface name"
						    : "a method name or interface.Method");
		return -1;
	case KEY_TOPIC:
		if (wire_pattern_valid(v, strlen(v)))
			return 0;
		snprintf(why, len, "topic \"%s\" is not a topic, a prefix pattern (sensor.*) or *", v);
		return -1;
	}
	return -1;
}

int matcher_add(struct matcher *mt, const char *spec, char *why, size_t len)
{
	if (mt->n_specs == MATCH_MAX_SPECS) {
		snprintf(why, len, "at most %d --match options", MATCH_MAX_SPECS);
		return -1;
	}
	size_t n = strlen(spec);
	if (n > MATCH_MAX_SPEC_LEN) {
		snprintf(why, len, "a --match of %zu bytes is longer than %d", n, MATCH_MAX_SPEC_LEN);
		return -1;
	}
	char *buf = strdup(spec);
	if (!buf)
		return -ENOMEM;
	/* Names followed by a spec that turns out bad are not kept. */
	int names = mt->n_names, r = 0;
	struct spec *s = &mt->specs[mt->n_specs];
	s->n = 0;
	for (char *kv = buf, *next; kv && r == 0; kv = next) {
		if ((next = strchr(kv, ',')))
			*next++ = '\0';
		if (!*kv) {
			snprintf(why, len, "an empty term (KEY=VALUE,KEY=VALUE,...)");
			r = -1;
		} else if (s->n == MATCH_MAX_TERMS) {
			snprintf(why, len, "at most %d terms in one --match", MATCH_MAX_TERMS);
			r = -1;
		} else {
			r = parse_term(mt, &s->terms[s->n++], kv, why, len);
		}
	}
	free(buf);
	if (r < 0) {
		mt->n_names = names;
		return -1;
	}
	mt->n_specs++;
	return 0;
}

/* "prefix.*", "*" or an exact topic, as busd matches subscriptions. */
static int pattern_match(const char *pat, const char *s)
{
	size_t n = strlen(pat);

	if (strcmp(pat, "*") == 0)
		return 1;
	if (n >= 2 && strcmp(pat + n - 2, ".*") == 0)
		return strncmp(s, pat, n - 1) == 0 && s[n - 1];
	return strcmp(pat, s) == 0;
}

/* The method as monitor prints it: interface.Method, or Method. */
static int method_match(const char *want, const bus_msg_t *m)
{
	if (strcmp(want, m->member) == 0)
		return 1;
	size_t il = strlen(m->interface);
	return il && strncmp(want, m->interface, il) == 0 && want[il] == '.' &&
	       strcmp(want + il + 1, m->member) == 0;
}

static int term_holds(const struct matcher *mt, const struct term *t, const bus_msg_t *m)
{
	const char *owner = t->name >= 0 ? mt->names[t->name].owner : "";

	switch (t->key) {
	case KEY_KIND:
		return (int)m->kind == t->kind;
	case KEY_SENDER:
		/* frames carry the unique id busd stamped */
		return t->name < 0 ? strcmp(t->value, m->sender) == 0
				   : owner[0] && strcmp(owner, m->sender) == 0;
	case KEY_DEST:
		return strcmp(t->value, m->destination) == 0 ||
		       (owner[0] && strcmp(owner, m->destination) == 0);
	case KEY_IFACE:
		return m->kind == BUS_KIND_CALL && strcmp(t->value, m->interface) == 0;
	case KEY_METHOD:
		return m->kind == BUS_KIND_CALL && method_match(t->value, m);
	case KEY_TOPIC:
		return m->kind == BUS_KIND_EVENT && pattern_match(t->value, m->member);
	}
	return 0;
}

int matcher_test(const struct matcher *mt, const bus_msg_t *m)
{
	if (!mt->n_specs)
		return 1;
	for (int i = 0; i < mt->n_specs; i++) {
		const struct spec *s = &mt->specs[i];
		int j = 0;
		while (j < s->n && term_holds(mt, &s->terms[j], m))
			j++;
		if (j == s->n)
			return 1;
	}
	return 0;
}

void matcher_note(struct matcher *mt, const bus_msg_t *m)
{
	if (!mt->n_names || m->kind != BUS_KIND_EVENT || strcmp(m->sender, WIRE_BUS_NAME) != 0 ||
	    strcmp(m->member, "bus.NameOwnerChanged") != 0 ||
	    strcmp(m->body_type, bus__name_owner_changed__descriptor.name) != 0)
		return;
	Bus__NameOwnerChanged *ev = bus__name_owner_changed__unpack(NULL, m->body_len, m->body);
	if (!ev)
		return;
	for (int i = 0; i < mt->n_names; i++)
		if (ev->name && strcmp(ev->name, mt->names[i].name) == 0)
			snprintf(mt->names[i].owner, sizeof(mt->names[i].owner), "%s",
				 ev->new_owner ? ev->new_owner : "");
	bus__name_owner_changed__free_unpacked(ev, NULL);
}

int matcher_resolve(struct matcher *mt, bus_t *query, struct busctl *ctl, bus_error_t *err)
{
	for (int i = 0; i < mt->n_names; i++) {
		Bus__NameRequest req = BUS__NAME_REQUEST__INIT;
		req.name = mt->names[i].name;
		Bus__PeerInfo *info = (Bus__PeerInfo *)busctl_control(
			query, ctl, "GetNameOwner", &req.base, &bus__peer_info__descriptor, err);
		if (!info) {
			if (!bus_error_has_name(err, BUS_ERROR_NAME_HAS_NO_OWNER))
				return -1;
			mt->names[i].owner[0] = '\0';
			continue;
		}
		snprintf(mt->names[i].owner, sizeof(mt->names[i].owner), "%s",
			 info->unique_name ? info->unique_name : "");
		bus__peer_info__free_unpacked(info, NULL);
	}
	return 0;
}

void matcher_forget(struct matcher *mt)
{
	for (int i = 0; i < mt->n_names; i++)
		mt->names[i].owner[0] = '\0';
}
