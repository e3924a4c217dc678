/* conf.c - reading bridge.conf: inih over a line-counting reader, so that
 * every problem is reported as "file:line: what", all of them at once. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "conf.h"
#include "wire.h"

#define CALL_TIMEOUT_MAX_MS (3600u * 1000u)

struct reader {
	FILE *f;
	const char *path;
	int line;
	int errors;
	struct bridge_conf *c;
};

static __attribute__((format(printf, 2, 3))) int bad(struct reader *r, const char *fmt, ...);

static const char *const sections[] = { "nats", "bridge", "export", "import", "topics" };

static int section_known(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(*sections); i++)
		if (strlen(sections[i]) == len && !strncmp(sections[i], name, len))
			return 1;
	return 0;
}

/* fgets() that counts lines, and says which [section] is unknown where it
 * stands: inih tells the handler of keys only, so an empty one would pass. */
static char *reader_gets(char *str, int num, void *stream)
{
	struct reader *r = stream;
	char *s = fgets(str, num, r->f);

	if (!s)
		return NULL;
	r->line++;
	const char *p = s + strspn(s, " \t");
	const char *end = *p == '[' ? strchr(p, ']') : NULL;
	if (end && !section_known(p + 1, (size_t)(end - p - 1)))
		bad(r, "unknown section %.*s (nats, bridge, export, import, topics)",
		    (int)(end - p + 1), p);
	return s;
}

static __attribute__((format(printf, 2, 3))) int bad(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", r->path, r->line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	r->errors++;
	return 1; /* go on: report every problem */
}

int conf_token_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= CONF_TOKEN_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static int set_string(struct reader *r, char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return bad(r, "out of memory");
	free(*dst);
	*dst = s;
	return 1;
}

static int set_bool(struct reader *r, int *dst, const char *key, const char *v)
{
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		*dst = 1;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		*dst = 0;
	else
		return bad(r, "%s takes yes or no, not '%s'", key, v);
	return 1;
}

static int set_token(struct reader *r, char *dst, const char *key, const char *v)
{
	if (!conf_token_valid(v))
		return bad(r, "%s must be 1 to %d letters, digits, '_' or '-', not '%s'", key,
			   CONF_TOKEN_MAX - 1, v);
	snprintf(dst, CONF_TOKEN_MAX, "%s", v);
	return 1;
}

/* A name or pattern added to a list, once. */
static int list_add(struct reader *r, char **list, size_t *n, size_t max, const char *what,
		    const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(list[i], v))
			return bad(r, "%s '%s' is listed twice", what, v);
	if (*n == max)
		return bad(r, "more than %zu %ss", max, what);
	if (!(list[*n] = strdup(v)))
		return bad(r, "out of memory");
	(*n)++;
	return 1;
}

/* A well-known name that may cross: not busd's own ("bus"), not a unique id. */
static int name_ok(struct reader *r, const char *section, const char *v)
{
	if (v[0] == ':' || !wire_name_valid(v, strlen(v)))
		return bad(r, "[%s] name: '%s' is not a well-known name", section, v), 0;
	if (!strcmp(v, "bus") || !strncmp(v, "bus.", 4))
		return bad(r, "[%s] name: '%s' is busd's own and cannot cross a bridge", section, v), 0;
	return 1;
}

static int servers_add(struct reader *r, const char *v)
{
	char *copy = strdup(v), *save = NULL;

	if (!copy)
		return bad(r, "out of memory");
	for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
		if (!strstr(t, "://")) {
			bad(r, "servers: '%s' is not a URL (nats://HOST:PORT or tls://HOST:PORT)", t);
			continue;
		}
		if (r->c->n_servers == CONF_MAX_SERVERS) {
			bad(r, "servers: more than %d URLs", CONF_MAX_SERVERS);
			break;
		}
		if (!(r->c->servers[r->c->n_servers++] = strdup(t)))
			bad(r, "out of memory");
	}
	free(copy);
	return 1;
}

static int on_entry(void *ud, const char *section, const char *key, const char *v)
{
	struct reader *r = ud;
	struct bridge_conf *c = r->c;

	if (!key)
		return 1; /* a section header */
	if (!strcmp(section, "nats")) {
		if (!strcmp(key, "servers"))
			return servers_add(r, v);
		if (!strcmp(key, "user"))
			return set_string(r, &c->user, v);
		if (!strcmp(key, "password"))
			return set_string(r, &c->password, v);
		if (!strcmp(key, "token"))
			return set_string(r, &c->token, v);
		if (!strcmp(key, "credentials"))
			return set_string(r, &c->credentials, v);
		if (!strcmp(key, "nkey_seed"))
			return set_string(r, &c->nkey_seed, v);
		if (!strcmp(key, "tls"))
			return set_bool(r, &c->tls, key, v);
		if (!strcmp(key, "tls_ca"))
			return set_string(r, &c->tls_ca, v);
		if (!strcmp(key, "tls_cert"))
			return set_string(r, &c->tls_cert, v);
		if (!strcmp(key, "tls_key"))
			return set_string(r, &c->tls_key, v);
		if (!strcmp(key, "tls_hostname"))
			return set_string(r, &c->tls_hostname, v);
		if (!strcmp(key, "tls_skip_verify"))
			return set_bool(r, &c->tls_skip_verify, key, v);
		if (!strcmp(key, "randomize"))
			return set_bool(r, &c->randomize, key, v);
		if (!strcmp(key, "prefix"))
			return set_token(r, c->prefix, key, v);
		if (!strcmp(key, "call_timeout_ms")) {
			char *end;
			errno = 0;
			unsigned long ms = strtoul(v, &end, 10);
			if (errno || end == v || *end || v[0] == '-' || ms == 0 || ms > CALL_TIMEOUT_MAX_MS)
				return bad(r, "call_timeout_ms takes 1 to %u, not '%s'", CALL_TIMEOUT_MAX_MS, v);
			c->call_timeout_ms = (unsigned)ms;
			return 1;
		}
	} else if (!strcmp(section, "bridge")) {
		if (!strcmp(key, "node"))
			return set_token(r, c->node, key, v);
		if (!strcmp(key, "bus_id"))
			return set_token(r, c->bus_id, key, v);
		if (!strcmp(key, "socket"))
			return set_string(r, &c->socket, v);
	} else if (!strcmp(section, "export") || !strcmp(section, "import")) {
		int ex = section[0] == 'e';
		if (!strcmp(key, "name")) {
			if (!name_ok(r, section, v))
				return 1;
			return ex ? list_add(r, c->exports, &c->n_exports, CONF_MAX_NAMES, "exported name", v)
				  : list_add(r, c->imports, &c->n_imports, CONF_MAX_NAMES, "imported name", v);
		}
	} else if (!strcmp(section, "topics")) {
		if (!strcmp(key, "pattern")) {
			if (!wire_pattern_valid(v, strlen(v)))
				return bad(r, "[topics] pattern: '%s' is not a topic, \"prefix.*\" or \"*\"", v);
			if (!strcmp(v, "bus") || !strncmp(v, "bus.", 4))
				return bad(r, "[topics] pattern: '%s': the topics under bus. are busd's own", v);
			return list_add(r, c->topics, &c->n_topics, CONF_MAX_TOPICS, "topic pattern", v);
		}
	} else {
		return 1; /* reported at its [section] line */
	}
	return bad(r, "[%s] has no setting '%s'", section, key);
}

int conf_load(struct bridge_conf *c, const char *path)
{
	struct reader r = { .path = path, .c = c };

	memset(c, 0, sizeof(*c));
	snprintf(c->prefix, sizeof(c->prefix), "busd");
	c->call_timeout_ms = 25000;
	c->randomize = 1;
	if (!(r.f = fopen(path, "re"))) {
		fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
		return -1;
	}
	ini_allow_multiline = false; /* every entry is one line, so r.line is its line */
	int e = ini_parse_stream(reader_gets, &r, on_entry, &r);
	fclose(r.f);
	if (e > 0) {
		fprintf(stderr, "%s:%d: not a [section] or key = value line\n", path, e);
		r.errors++;
	} else if (e < 0) {
		fprintf(stderr, "%s: out of memory while parsing\n", path);
		r.errors++;
	}
	r.line = 0;
	if (!r.errors && !c->node[0]) {
		fprintf(stderr, "%s: [bridge] node is missing: every bridge needs a name of its own\n", path);
		r.errors++;
	}
	if (!r.errors && c->n_servers == 0) {
		fprintf(stderr, "%s: [nats] servers is missing: where is the NATS cluster?\n", path);
		r.errors++;
	}
	for (size_t i = 0; i < c->n_imports; i++)
		for (size_t k = 0; k < c->n_exports; k++)
			if (!strcmp(c->imports[i], c->exports[k])) {
				fprintf(stderr, "%s: %s is both exported and imported: a name is "
					"owned on one side of the bridge\n", path, c->imports[i]);
				r.errors++;
			}
	if (!c->bus_id[0])
		memcpy(c->bus_id, c->node, sizeof(c->bus_id));
	if (r.errors) {
		conf_free(c);
		return -1;
	}
	return 0;
}

void conf_free(struct bridge_conf *c)
{
	for (size_t i = 0; i < c->n_servers; i++)
		free(c->servers[i]);
	for (size_t i = 0; i < c->n_exports; i++)
		free(c->exports[i]);
	for (size_t i = 0; i < c->n_imports; i++)
		free(c->imports[i]);
	for (size_t i = 0; i < c->n_topics; i++)
		free(c->topics[i]);
	free(c->user);
	free(c->password);
	free(c->token);
	free(c->credentials);
	free(c->nkey_seed);
	free(c->tls_ca);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->tls_hostname);
	free(c->socket);
	memset(c, 0, sizeof(*c));
}
