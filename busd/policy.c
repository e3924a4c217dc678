/* policy.c - [policy] rules: parsing (each rule remembers its file:line for
 * errors and denials), printing for --check-config, and the first-match
 * decision. See policy.h for the format. */
#include "config.h"

#include "policy.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wire.h"

static const char *const verb_names[POL_N_VERBS] = {
	[POL_OWN] = "own", [POL_CALL] = "call", [POL_EMIT] = "emit",
	[POL_SUBSCRIBE] = "subscribe", [POL_MONITOR] = "monitor", [POL_MANAGE] = "manage",
};
#define VERB_LIST "own, call, emit, subscribe, monitor, manage"


const char *policy_verb_name(enum policy_verb verb)
{
	return verb < POL_N_VERBS ? verb_names[verb] : "?";
}

/* A service's id is its file's name: letters, digits and _ - . @. */
static int service_object_valid(const char *s, size_t len)
{
	if (len == 0 || len > WIRE_MAX_NAME || s[0] == '.' || s[len - 1] == '.')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("_-.@", s[i])))
			return 0;
	return 1;
}

/* "*", a name or topic (manage: or a service id), or "prefix.*" whose
 * prefix is one. */
static int object_valid(enum policy_verb verb, const char *s)
{
	size_t len = strlen(s);

	if (strcmp(s, "*") == 0)
		return 1;
	if (verb == POL_EMIT || verb == POL_SUBSCRIBE)
		return wire_pattern_valid(s, len);
	if (verb == POL_MANAGE) {
		if (len > 2 && strcmp(s + len - 2, ".*") == 0)
			len -= 2;
		return service_object_valid(s, len);
	}
	if (len > 2 && strcmp(s + len - 2, ".*") == 0)
		len -= 2;
	return s[0] != ':' && wire_name_valid(s, len);
}

static int parse_id(const char *s, unsigned long *out)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out > 0xfffffffeul ? -1 : 0;
}

static int set_user(struct policy_rule *r, const char *v, char *why, size_t wlen)
{
	unsigned long n;
	if (strcmp(v, "*") == 0) {
		r->any_user = 1;
		return 0;
	}
	if (parse_id(v, &n) == 0) {
		r->uid = (uid_t)n;
		return 0;
	}
	struct passwd *pw = getpwnam(v);
	if (!pw) {
		snprintf(why, wlen, "no user '%s'", v);
		return -EINVAL;
	}
	r->uid = pw->pw_uid;
	return 0;
}

static int set_group(struct policy_rule *r, const char *v, char *why, size_t wlen)
{
	unsigned long n;
	if (strcmp(v, "*") == 0) {
		r->any_group = 1;
		return 0;
	}
	if (parse_id(v, &n) == 0) {
		r->gid = (gid_t)n;
		return 0;
	}
	struct group *gr = getgrnam(v);
	if (!gr) {
		snprintf(why, wlen, "no group '%s'", v);
		return -EINVAL;
	}
	r->gid = gr->gr_gid;
	return 0;
}

static void rule_clear(struct policy_rule *r)
{
	free(r->object);
	free(r->method);
}

/* Tokens of value into r; why gets the first problem. */
static int rule_parse(struct policy_rule *r, char *value, char *why, size_t wlen)
{
	char *save = NULL, *tok = strtok_r(value, " \t", &save);
	int have_user = 0, have_group = 0;

	if (!tok) {
		snprintf(why, wlen, "a rule needs a verb (" VERB_LIST ")");
		return -EINVAL;
	}
	int v = -1;
	for (int i = 0; i < POL_N_VERBS; i++)
		if (strcmp(tok, verb_names[i]) == 0)
			v = i;
	if (v < 0) {
		snprintf(why, wlen, "'%s' is not a verb (" VERB_LIST ")", tok);
		return -EINVAL;
	}
	r->verb = (enum policy_verb)v;
	while ((tok = strtok_r(NULL, " \t", &save))) {
		char *eq = strchr(tok, '=');
		if (!eq) {
			if (r->object) {
				snprintf(why, wlen, "'%s': a rule has one object (already '%s')", tok,
					 r->object);
				return -EINVAL;
			}
			if (!object_valid(r->verb, tok)) {
				snprintf(why, wlen, "'%s' is not a %s, 'prefix.*' or '*'", tok,
					 r->verb == POL_EMIT || r->verb == POL_SUBSCRIBE ? "topic"
					 : r->verb == POL_MANAGE ? "service id or well-known name"
								 : "well-known name");
				return -EINVAL;
			}
			if (r->verb == POL_MONITOR && strcmp(tok, "*") != 0) {
				snprintf(why, wlen, "monitor takes no object (it sees everything)");
				return -EINVAL;
			}
			if (!(r->object = strdup(tok)))
				goto nomem;
			continue;
		}
		*eq = '\0';
		const char *k = tok, *val = eq + 1;
		int bad = 0;
		if (strcmp(k, "user") == 0 && !have_user++) {
			bad = set_user(r, val, why, wlen);
		} else if (strcmp(k, "group") == 0 && !have_group++) {
			bad = set_group(r, val, why, wlen);
		} else if (strcmp(k, "method") == 0 && r->verb == POL_CALL && !r->method) {
			if (!wire_member_valid(val, strlen(val)) || strchr(val, '.')) {
				snprintf(why, wlen, "'%s' is not a method name", val);
				return -EINVAL;
			}
			if (!(r->method = strdup(val)))
				goto nomem;
		} else {
			snprintf(why, wlen, "'%s=' is not %s here", k,
				 strcmp(k, "user") == 0 || strcmp(k, "group") == 0 ||
				 strcmp(k, "method") == 0 ? "allowed (twice, or not for this verb)"
							    : "a rule's key (user=, group=, method=)");
			return -EINVAL;
		}
		if (bad)
			return -EINVAL;
	}
	if (!have_user)
		r->any_user = 1;
	if (!have_group)
		r->any_group = 1;
	if (!r->object && !(r->object = strdup("*")))
		goto nomem;
	return 0;
nomem:
	snprintf(why, wlen, "out of memory");
	return -ENOMEM;
}

int policy_add(struct policy **pp, int allow, const char *value, const char *origin, char *why,
	       size_t wlen)
{
	struct policy *p = *pp;
	char buf[512];

	if (strlen(value) >= sizeof(buf)) {
		snprintf(why, wlen, "a rule has at most %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	if (!p && !(p = *pp = calloc(1, sizeof(*p)))) {
		snprintf(why, wlen, "out of memory");
		return -ENOMEM;
	}
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		struct policy_rule *nr = realloc(p->rules, cap * sizeof(*nr));
		if (!nr) {
			snprintf(why, wlen, "out of memory");
			return -ENOMEM;
		}
		p->rules = nr;
		p->cap = cap;
	}
	struct policy_rule *r = &p->rules[p->n];
	memset(r, 0, sizeof(*r));
	r->allow = allow;
	snprintf(buf, sizeof(buf), "%s", value);
	int e = rule_parse(r, buf, why, wlen);
	if (e < 0) {
		rule_clear(r);
		return e;
	}
	snprintf(r->origin, sizeof(r->origin), "%s", origin);
	/* The canonical text, as --check-config and denials show it. */
	int n = snprintf(r->text, sizeof(r->text), "%s %s %s", allow ? "allow" : "deny",
			 verb_names[r->verb], r->object);
	if (r->method && n > 0 && (size_t)n < sizeof(r->text))
		n += snprintf(r->text + n, sizeof(r->text) - (size_t)n, " method=%s", r->method);
	if (!r->any_user && n > 0 && (size_t)n < sizeof(r->text))
		n += snprintf(r->text + n, sizeof(r->text) - (size_t)n, " user=%u", (unsigned)r->uid);
	if (!r->any_group && n > 0 && (size_t)n < sizeof(r->text))
		snprintf(r->text + n, sizeof(r->text) - (size_t)n, " group=%u", (unsigned)r->gid);
	p->n++;
	p->n_verb[r->verb]++;
	if (!allow)
		p->n_deny[r->verb]++;
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		rule_clear(&p->rules[i]);
	free(p->rules);
	free(p);
}

void policy_print(const struct policy *p, FILE *out)
{
	for (size_t i = 0; p && i < p->n; i++)
		fprintf(out, "policy: %s  (%s)\n", p->rules[i].text, p->rules[i].origin);
}

/* pattern "*", exact, or "prefix.*" (anything below prefix) against s. A
 * subscription pattern as s is text like any other: "a.*" is below "a.*". */
static int object_match(const char *pattern, const char *s, size_t len)
{
	size_t pl = strlen(pattern);

	if (pl == 1 && pattern[0] == '*')
		return 1;
	if (pl > 2 && pattern[pl - 1] == '*' && pattern[pl - 2] == '.')
		return len > pl - 1 && memcmp(pattern, s, pl - 1) == 0;
	return pl == len && memcmp(pattern, s, len) == 0;
}

static int subject_match(const struct policy_rule *r, const struct policy_subject *who)
{
	if (!r->any_user && r->uid != who->uid)
		return 0;
	if (r->any_group || r->gid == who->gid)
		return 1;
	for (unsigned i = 0; i < who->n_groups; i++)
		if (who->groups[i] == r->gid)
			return 1;
	return 0;
}

/* No rule matched. */
static int policy_default(enum policy_verb verb, const struct policy_subject *who)
{
	if (who->uid == 0 || who->uid == geteuid())
		return 1;
	return verb == POL_CALL || verb == POL_EMIT || verb == POL_SUBSCRIBE;
}

int policy_check(const struct policy *p, enum policy_verb verb, const struct policy_subject *who,
		 const char *object, size_t len, const char *method, size_t mlen,
		 const struct policy_rule **rule)
{
	*rule = NULL;
	for (size_t i = 0; p && p->n_verb[verb] && i < p->n; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->verb != verb || !object_match(r->object, object, len) ||
		    (r->method && (!method || strlen(r->method) != mlen ||
				   memcmp(r->method, method, mlen) != 0)) ||
		    !subject_match(r, who))
			continue;
		*rule = r;
		return r->allow;
	}
	return policy_default(verb, who);
}

int policy_check_any(const struct policy *p, enum policy_verb verb,
		     const struct policy_subject *who, const char *const *objects, size_t n,
		     const struct policy_rule **rule)
{
	*rule = NULL;
	for (size_t i = 0; p && p->n_verb[verb] && i < p->n; i++) {
		const struct policy_rule *r = &p->rules[i];
		if (r->verb != verb || !subject_match(r, who))
			continue;
		for (size_t j = 0; j < n; j++) {
			if (object_match(r->object, objects[j], strlen(objects[j]))) {
				*rule = r;
				return r->allow;
			}
		}
	}
	return policy_default(verb, who);
}
