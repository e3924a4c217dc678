/* policy.h - who may own, call, emit, subscribe, monitor and manage: the
 * rules of busd.conf's [policy] section and the decision for one request.
 *
 * A rule is one line, "allow = RULE" or "deny = RULE", with
 *   RULE = VERB [OBJECT] [method=METHOD] [user=USER] [group=GROUP]
 *   VERB = own | call | emit | subscribe | monitor | manage
 *   OBJECT = an exact name or topic, "prefix.*" (everything below prefix,
 *            at any depth) or "*" (the default); for manage, a service's
 *            id or one of the names it declares
 *   USER, GROUP = a name or a number ("*": anyone, the default); a group
 *            matches the peer's primary group or any supplementary group
 * Rules are tried in file order and the first that matches decides. When
 * none matches: root and busd's own user may do everything; anyone may call,
 * emit and subscribe; owning a name, monitoring and managing a service need
 * a rule. Rules apply to root like to anyone else: a rule that matches root
 * decides for it. */
#ifndef BUSD_POLICY_H
#define BUSD_POLICY_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

enum policy_verb { POL_OWN, POL_CALL, POL_EMIT, POL_SUBSCRIBE, POL_MONITOR, POL_MANAGE,
		   POL_N_VERBS };

struct policy_rule {
	int allow;
	enum policy_verb verb;
	char *object;       /* "*", "a.b" or "a.b.*" */
	char *method;       /* call rules: NULL for any */
	int any_user, any_group;
	uid_t uid;
	gid_t gid;
	char origin[160];   /* "FILE:LINE" */
	char text[256];     /* "deny call org.x user=1000", for errors and logs */
};

struct policy {
	struct policy_rule *rules;
	size_t n, cap;
	unsigned n_verb[POL_N_VERBS];      /* rules per verb: none, no walk */
	unsigned n_deny[POL_N_VERBS];
};

/* The credentials a decision is made for. */
struct policy_subject {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	unsigned n_groups;
};

/* Parse value (the text after "allow =" / "deny =") into a new rule of *p
 * (allocated on first use). Returns 0, or -EINVAL with the reason in why. */
int policy_add(struct policy **p, int allow, const char *value, const char *origin, char *why,
	       size_t wlen);
void policy_free(struct policy *p);
/* One "policy: RULE  (FILE:LINE)" line per rule. */
void policy_print(const struct policy *p, FILE *out);

/* May who do verb on object (len bytes; method for calls, may be NULL)?
 * Returns 1 or 0; *rule is the rule that decided, NULL for the default. p
 * may be NULL (no rules). */
int policy_check(const struct policy *p, enum policy_verb verb, const struct policy_subject *who,
		 const char *object, size_t len, const char *method, size_t mlen,
		 const struct policy_rule **rule);

/* policy_check() for a request on one thing known by several objects (a
 * service: its id and every name it declares): the first rule that matches
 * any of them decides. */
int policy_check_any(const struct policy *p, enum policy_verb verb,
		     const struct policy_subject *who, const char *const *objects, size_t n,
		     const struct policy_rule **rule);

/* Whether any rule could deny verb (else every check of it allows). */
static inline int policy_may_deny(const struct policy *p, enum policy_verb verb)
{
	return p && p->n_deny[verb] > 0;
}

const char *policy_verb_name(enum policy_verb verb);

#endif
