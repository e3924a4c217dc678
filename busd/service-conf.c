/* service-conf.c - service files: the directory read in name order, each
 * file read whole with read(2) (bounded) and parsed with inih through a
 * line-counting reader, so that every problem names its FILE:LINE. */
#include "config.h"
#include "service-conf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "settings.h"
#include "wire.h"

enum key {
	K_EXEC, K_NAMES, K_USER, K_GROUP, K_RESTART, K_INTENSITY, K_BACKOFF, K_BACKOFF_MAX,
	K_ACTIVATION, K_START_TIMEOUT, K_STOP_TIMEOUT, K_WATCHDOG, K_ENV, K_N
};

static const char *const key_names[K_N] = {
	[K_EXEC] = "exec", [K_NAMES] = "names", [K_USER] = "user", [K_GROUP] = "group",
	[K_RESTART] = "restart", [K_INTENSITY] = "restart_intensity", [K_BACKOFF] = "backoff",
	[K_BACKOFF_MAX] = "backoff_max", [K_ACTIVATION] = "activation",
	[K_START_TIMEOUT] = "start_timeout", [K_STOP_TIMEOUT] = "stop_timeout",
	[K_WATCHDOG] = "watchdog_seconds", [K_ENV] = "environment",
};

static const char *const restart_names[] = {
	[RESTART_ON_FAILURE] = "on-failure", [RESTART_ALWAYS] = "always", [RESTART_NO] = "no",
};

const char *service_restart_name(enum service_restart r)
{
	return restart_names[r];
}

struct parse {
	const char *buf, *end, *path;
	int line;
	int errors;
	int seen[K_N];          /* line of each key, 0: not given */
	int sections;           /* [service] headers seen */
	struct config_errors *err;
	struct service_conf *c;
};

static __attribute__((format(printf, 2, 3))) int parse_error(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_errors_add(p->err, "%s:%d: %s", p->path, p->line, msg);
	p->errors++;
	return 1; /* go on: every error of the file at once */
}

static char *parse_gets(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0;

	if (p->buf == p->end || num < 2)
		return NULL;
	while (p->buf < p->end && n < (size_t)num - 1) {
		char ch = *p->buf++;
		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	p->line++;
	return str;
}

/* ---------------------------------------------------------------- values */

static void strv_free(char **v)
{
	if (!v)
		return;
	for (char **s = v; *s; s++)
		free(*s);
	free(v);
}

/* Split s into words at blanks; "double quotes" keep blanks in a word, and
 * inside them \" and \\ stand for " and \. At most max words. Returns the
 * NULL-terminated vector (count in *n) or NULL with why. */
static char **split_words(const char *s, size_t max, size_t *n, char *why, size_t wlen)
{
	size_t len = strlen(s);
	char **v = calloc(max + 1, sizeof(*v));
	char *word = malloc(len + 1);
	size_t count = 0;

	if (!v || !word) {
		snprintf(why, wlen, "out of memory");
		goto fail;
	}
	for (const char *p = s;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t w = 0;
		int quoted = 0;
		while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
				continue;
			}
			if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
				p++;
			word[w++] = *p++;
		}
		if (quoted) {
			snprintf(why, wlen, "a \" is not closed");
			goto fail;
		}
		if (count == max) {
			snprintf(why, wlen, "more than %zu words", max);
			goto fail;
		}
		word[w] = '\0';
		if (!(v[count] = strdup(word))) {
			snprintf(why, wlen, "out of memory");
			goto fail;
		}
		count++;
	}
	free(word);
	*n = count;
	return v;
fail:
	free(word);
	strv_free(v);
	return NULL;
}

/* Seconds, with a fraction ("0.1"), between min and max; into usec. */
static int parse_seconds(const char *s, double min, double max, uint64_t *usec, char *why,
			 size_t wlen)
{
	char *end;

	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || !isfinite(v)) {
		snprintf(why, wlen, "'%s' is not a number of seconds", s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		snprintf(why, wlen, "%s is out of range (%g to %g seconds)", s, min, max);
		return -ERANGE;
	}
	*usec = (uint64_t)(v * 1e6 + 0.5);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || !isdigit((unsigned char)*s) || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The rule of name.c: a well-known name, not a unique id and not "bus". */
static int name_ok(const char *s)
{
	size_t len = strlen(s);

	return !(len == 3 && memcmp(s, "bus", 3) == 0) && len > 0 && s[0] != ':' &&
	       wire_name_valid(s, len);
}

static int env_key_ok(const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv || isdigit((unsigned char)kv[0]))
		return 0;
	for (const char *p = kv; p < eq; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return 0;
	return 1;
}

static int set_user(struct parse *p, const char *v)
{
	struct service_conf *c = p->c;
	unsigned long n;

	if (!*v || strlen(v) >= sizeof(c->user))
		return parse_error(p, "user: a user name or number of 1 to %zu bytes",
				   sizeof(c->user) - 1);
	snprintf(c->user, sizeof(c->user), "%s", v);
	struct passwd *pw = getpwnam(v);
	if (!pw && parse_uint(v, (uid_t)-2, &n) == 0)
		pw = getpwuid((uid_t)n);
	if (pw) {
		c->uid = pw->pw_uid;
		if (!p->seen[K_GROUP])
			c->gid = pw->pw_gid;
		snprintf(c->user, sizeof(c->user), "%s", pw->pw_name);
		return 1;
	}
	if (parse_uint(v, (uid_t)-2, &n) < 0)
		return parse_error(p, "user: no user '%s'", v);
	c->uid = (uid_t)n; /* a number without a passwd entry: group = is needed */
	return 1;
}

static int set_group(struct parse *p, const char *v)
{
	struct service_conf *c = p->c;
	unsigned long n;

	if (!*v || strlen(v) >= sizeof(c->group))
		return parse_error(p, "group: a group name or number of 1 to %zu bytes",
				   sizeof(c->group) - 1);
	snprintf(c->group, sizeof(c->group), "%s", v);
	struct group *g = getgrnam(v);
	if (g)
		c->gid = g->gr_gid;
	else if (parse_uint(v, (gid_t)-2, &n) == 0)
		c->gid = (gid_t)n;
	else
		return parse_error(p, "group: no group '%s'", v);
	return 1;
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct parse *p = user;
	struct service_conf *c = p->c;
	char why[256];
	unsigned long n;
	size_t count;
	char **v;
	int k;

	if (!key) /* a section header (inih's INI_CALL_HANDLER_ON_NEW_SECTION) */
		return 1;
	if (!*section)
		return parse_error(p, "'%s' is outside the [service] section", key);
	if (strcmp(section, "service") != 0)
		return parse_error(p, "unknown section [%s] (a service file has one [service])",
				   section);
	for (k = 0; k < K_N; k++)
		if (strcmp(key_names[k], key) == 0)
			break;
	if (k == K_N)
		return parse_error(p, "unknown key '%s' in [service]", key);
	if (p->seen[k] && k != K_ENV)
		return parse_error(p, "%s is given twice (first on line %d)", key, p->seen[k]);
	p->seen[k] = p->line;
	switch ((enum key)k) {
	case K_EXEC:
		v = split_words(value, SERVICE_ARGS_MAX, &count, why, sizeof(why));
		if (!v)
			return parse_error(p, "exec: %s", why);
		if (count == 0 || v[0][0] != '/') {
			strv_free(v);
			return parse_error(p, "exec: the program must be an absolute path "
					      "(no shell, no $PATH search)");
		}
		c->argv = v;
		c->argc = count;
		return 1;
	case K_NAMES:
		v = split_words(value, SERVICE_NAMES_MAX, &count, why, sizeof(why));
		if (!v)
			return parse_error(p, "names: %s", why);
		c->names = v;
		c->n_names = count;
		c->names_line = p->line;
		for (size_t i = 0; i < count; i++) {
			if (!name_ok(v[i]))
				parse_error(p, "names: '%s' is not a well-known name that can be owned",
					    v[i]);
			for (size_t j = 0; j < i; j++)
				if (strcmp(v[i], v[j]) == 0)
					parse_error(p, "names: '%s' is listed twice", v[i]);
		}
		if (count == 0)
			return parse_error(p, "names: give at least one name");
		return 1;
	case K_USER:
		return set_user(p, value);
	case K_GROUP:
		return set_group(p, value);
	case K_RESTART:
		for (int r = 0; r <= RESTART_NO; r++)
			if (strcmp(value, restart_names[r]) == 0) {
				c->restart = (enum service_restart)r;
				return 1;
			}
		return parse_error(p, "restart: '%s' is not on-failure, always or no", value);
	case K_INTENSITY: {
		char a[32], b[32], in[8], extra;
		unsigned long t;
		if (sscanf(value, "%31s %7s %31s %c", a, in, b, &extra) != 3 || strcmp(in, "in") != 0 ||
		    parse_uint(a, 1000, &n) < 0 || parse_uint(b, 86400, &t) < 0 || t == 0)
			return parse_error(p, "restart_intensity: '%s' is not 'N in SECONDS' "
					      "(N 0 to 1000, SECONDS 1 to 86400)", value);
		c->intensity = (unsigned)n;
		c->period_usec = (uint64_t)t * 1000000u;
		return 1;
	}
	case K_BACKOFF:
		if (parse_seconds(value, 0, 3600, &c->backoff_usec, why, sizeof(why)) < 0)
			return parse_error(p, "backoff: %s", why);
		return 1;
	case K_BACKOFF_MAX:
		if (parse_seconds(value, 0, 3600, &c->backoff_max_usec, why, sizeof(why)) < 0)
			return parse_error(p, "backoff_max: %s", why);
		return 1;
	case K_ACTIVATION:
		if (strcmp(value, "boot") == 0 || strcmp(value, "demand") == 0) {
			c->on_demand = value[0] == 'd';
			return 1;
		}
		return parse_error(p, "activation: '%s' is not boot or demand", value);
	case K_START_TIMEOUT:
		if (parse_seconds(value, 0.001, 3600, &c->start_timeout_usec, why, sizeof(why)) < 0)
			return parse_error(p, "start_timeout: %s", why);
		return 1;
	case K_STOP_TIMEOUT:
		if (parse_seconds(value, 0.001, 3600, &c->stop_timeout_usec, why, sizeof(why)) < 0)
			return parse_error(p, "stop_timeout: %s", why);
		return 1;
	case K_WATCHDOG:
		if (parse_seconds(value, 0, 3600, &c->watchdog_usec, why, sizeof(why)) < 0)
			return parse_error(p, "watchdog_seconds: %s", why);
		if (c->watchdog_usec && c->watchdog_usec < 10000)
			return parse_error(p, "watchdog_seconds: %s is below 0.01 s", value);
		return 1;
	case K_ENV: {
		v = split_words(value, SERVICE_ENV_MAX, &count, why, sizeof(why));
		if (!v)
			return parse_error(p, "environment: %s", why);
		if (c->n_env + count > SERVICE_ENV_MAX) {
			strv_free(v);
			return parse_error(p, "environment: more than %d variables", SERVICE_ENV_MAX);
		}
		char **env = realloc(c->env, (c->n_env + count + 1) * sizeof(*env));
		if (!env) {
			strv_free(v);
			return parse_error(p, "out of memory");
		}
		c->env = env;
		for (size_t i = 0; i < count; i++) {
			if (!env_key_ok(v[i]))
				parse_error(p, "environment: '%s' is not KEY=VALUE", v[i]);
			else if (strncmp(v[i], "BUS_ADDRESS=", 12) == 0)
				parse_error(p, "environment: BUS_ADDRESS is busd's own socket, "
					       "it cannot be set");
			c->env[c->n_env++] = v[i];
		}
		c->env[c->n_env] = NULL;
		free(v);
		return 1;
	}
	case K_N:
		break;
	}
	return 1;
}

void service_conf_free(struct service_conf *c)
{
	if (!c)
		return;
	strv_free(c->argv);
	strv_free(c->names);
	strv_free(c->env);
	free(c);
}

struct service_conf *service_conf_parse(const char *id, const char *path, const char *text,
					size_t len, struct config_errors *err)
{
	struct service_conf *c = calloc(1, sizeof(*c));
	struct parse p = { .buf = text, .end = text + len, .path = path, .err = err, .c = c };

	if (!c) {
		config_errors_add(err, "%s: out of memory", path);
		return NULL;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	snprintf(c->file, sizeof(c->file), "%s", path);
	c->uid = (uid_t)-1;
	c->gid = (gid_t)-1;
	c->restart = RESTART_ON_FAILURE;
	c->intensity = 5;
	c->period_usec = 10000000;
	c->backoff_usec = 100000;
	c->backoff_max_usec = 5000000;
	c->start_timeout_usec = 10000000;
	c->stop_timeout_usec = 5000000;
	ini_allow_multiline = false;
	int bad = ini_parse_stream(parse_gets, &p, on_entry, &p);
	if (bad > 0) {
		config_errors_add(err, "%s:%d: not a [section] or key = value line", path, bad);
		p.errors++;
	} else if (bad < 0) {
		config_errors_add(err, "%s: out of memory while parsing", path);
		p.errors++;
	}
	p.line = p.line ? p.line : 1;
	if (!p.errors && !p.seen[K_EXEC])
		parse_error(&p, "no exec = PROGRAM [ARGUMENTS] in [service]");
	if (!p.errors && !p.seen[K_NAMES])
		parse_error(&p, "no names = NAME... in [service] (the names the "
					    "service owns once it is up)");
	if (!p.errors && c->uid != (uid_t)-1 && c->gid == (gid_t)-1) {
		p.line = p.seen[K_USER];
		parse_error(&p, "user: %s has no passwd entry; give group = too",
					c->user);
	}
	if (!p.errors && c->backoff_max_usec < c->backoff_usec) {
		p.line = p.seen[K_BACKOFF_MAX] ? p.seen[K_BACKOFF_MAX] : p.seen[K_BACKOFF];
		parse_error(&p, "backoff_max must be at least backoff");
	}
	if (p.errors) {
		service_conf_free(c);
		return NULL;
	}
	return c;
}

/* ---------------------------------------------------------------- the directory */

static int id_ok(const char *s, size_t len)
{
	if (len == 0 || len >= SERVICE_ID_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-' && s[i] != '.' &&
		    s[i] != '@')
			return 0;
	return 1;
}

/* The file's bytes, NUL-terminated, at most SERVICE_FILE_MAX of them. */
static int read_bounded(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = S_ISREG(st.st_mode) ? -errno : -EISDIR;
		close(fd);
		return e;
	}
	char *buf = malloc(SERVICE_FILE_MAX + 2);
	size_t n = 0;
	int e = 0;
	if (!buf)
		e = -ENOMEM;
	while (!e && n <= SERVICE_FILE_MAX) {
		ssize_t got = read(fd, buf + n, SERVICE_FILE_MAX + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			e = -errno;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (!e && n > SERVICE_FILE_MAX)
		e = -EFBIG;
	if (e) {
		free(buf);
		return e;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A name declared by two services: the second one's file and line. */
static int names_unique(struct service_set *set, struct config_errors *err)
{
	int bad = 0;

	for (size_t i = 0; i < set->n; i++)
		for (size_t n = 0; n < set->v[i]->n_names; n++)
			for (size_t j = 0; j < i; j++)
				for (size_t m = 0; m < set->v[j]->n_names; m++)
					if (strcmp(set->v[i]->names[n], set->v[j]->names[m]) == 0) {
						config_errors_add(err, "%s:%d: names: '%s' is "
								  "declared by service %s too (%s)",
								  set->v[i]->file, set->v[i]->names_line,
								  set->v[i]->names[n], set->v[j]->id,
								  set->v[j]->file);
						bad = 1;
					}
	return bad;
}

int service_set_load(struct service_set *set, const char *dir, int must_exist,
		     struct config_errors *err)
{
	char **files = NULL;
	size_t n = 0;
	int bad = 0;

	memset(set, 0, sizeof(*set));
	snprintf(set->dir, sizeof(set->dir), "%s", dir);
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT && !must_exist)
			return 0;
		config_errors_add(err, "%s: cannot read the services directory: %s", dir,
				  strerror(errno));
		return -EINVAL;
	}
	files = calloc(SERVICE_FILES_MAX, sizeof(*files));
	if (!files) {
		closedir(d);
		config_errors_add(err, "%s: out of memory", dir);
		return -EINVAL;
	}
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || len <= 5 || strcmp(e->d_name + len - 5, ".conf") != 0)
			continue;
		if (n == SERVICE_FILES_MAX) {
			config_errors_add(err, "%s: more than %d service files", dir,
					  SERVICE_FILES_MAX);
			bad = 1;
			break;
		}
		if (!(files[n] = strdup(e->d_name))) {
			config_errors_add(err, "%s: out of memory", dir);
			bad = 1;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(files, n, sizeof(*files), by_name);
	set->v = calloc(n ? n : 1, sizeof(*set->v));
	if (!set->v) {
		config_errors_add(err, "%s: out of memory", dir);
		bad = 1;
	}
	for (size_t i = 0; set->v && i < n; i++) {
		char path[PATH_MAX];
		size_t idlen = strlen(files[i]) - 5;
		if (snprintf(path, sizeof(path), "%s/%s", dir, files[i]) >= (int)sizeof(path)) {
			config_errors_add(err, "%s/%s: path too long", dir, files[i]);
			bad = 1;
			continue;
		}
		if (!id_ok(files[i], idlen)) {
			config_errors_add(err, "%s: a service's file name is ID.conf, ID of 1 to %d "
					  "letters, digits and _ - . @", path, SERVICE_ID_MAX - 1);
			bad = 1;
			continue;
		}
		char *text = NULL;
		size_t len = 0;
		int e = read_bounded(path, &text, &len);
		if (e == -EFBIG)
			config_errors_add(err, "%s: cannot read: larger than %u bytes", path,
					  SERVICE_FILE_MAX);
		else if (e < 0)
			config_errors_add(err, "%s: cannot read: %s", path, strerror(-e));
		if (e < 0) {
			bad = 1;
			continue;
		}
		files[i][idlen] = '\0';
		struct service_conf *c = service_conf_parse(files[i], path, text, len, err);
		free(text);
		if (!c) {
			bad = 1;
			continue;
		}
		set->v[set->n++] = c;
	}
	for (size_t i = 0; i < n; i++)
		free(files[i]);
	free(files);
	bad |= names_unique(set, err);
	if (bad) {
		service_set_free(set);
		return -EINVAL;
	}
	return 0;
}

void service_set_free(struct service_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		service_conf_free(set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static int strv_equal(char *const *a, char *const *b)
{
	if (!a || !b)
		return a == b;
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return 0;
	return !*a && !*b;
}

int service_conf_equal(const struct service_conf *a, const struct service_conf *b)
{
	return strcmp(a->id, b->id) == 0 && strv_equal(a->argv, b->argv) &&
	       strv_equal(a->names, b->names) && strv_equal(a->env, b->env) &&
	       a->uid == b->uid && a->gid == b->gid && strcmp(a->user, b->user) == 0 &&
	       a->restart == b->restart && a->intensity == b->intensity &&
	       a->period_usec == b->period_usec && a->backoff_usec == b->backoff_usec &&
	       a->backoff_max_usec == b->backoff_max_usec && a->on_demand == b->on_demand &&
	       a->start_timeout_usec == b->start_timeout_usec &&
	       a->stop_timeout_usec == b->stop_timeout_usec && a->watchdog_usec == b->watchdog_usec;
}

static void print_strv(FILE *out, const char *id, const char *key, char *const *v)
{
	fprintf(out, "service.%s.%s =", id, key);
	for (; v && *v; v++)
		fprintf(out, strpbrk(*v, " \t\"") ? " \"%s\"" : " %s", *v);
	fprintf(out, "\n");
}

void service_set_print(const struct service_set *set, FILE *out)
{
	if (!set->n)
		return;
	fprintf(out, "# %zu services from %s\n", set->n, set->dir);
	for (size_t i = 0; i < set->n; i++) {
		const struct service_conf *c = set->v[i];
		fprintf(out, "# service %s from %s\n", c->id, c->file);
		print_strv(out, c->id, "exec", c->argv);
		print_strv(out, c->id, "names", c->names);
		fprintf(out, "service.%s.user = %s\n", c->id, c->user[0] ? c->user : "(busd's own)");
		if (c->gid != (gid_t)-1)
			fprintf(out, "service.%s.group = %s (gid %u)\n", c->id,
				c->group[0] ? c->group : "(the user's)", (unsigned)c->gid);
		else
			fprintf(out, "service.%s.group = (busd's own)\n", c->id);
		fprintf(out, "service.%s.restart = %s\n", c->id, restart_names[c->restart]);
		fprintf(out, "service.%s.restart_intensity = %u in %llu\n", c->id, c->intensity,
			(unsigned long long)(c->period_usec / 1000000));
		fprintf(out, "service.%s.backoff = %g\n", c->id, (double)c->backoff_usec / 1e6);
		fprintf(out, "service.%s.backoff_max = %g\n", c->id, (double)c->backoff_max_usec / 1e6);
		fprintf(out, "service.%s.activation = %s\n", c->id, c->on_demand ? "demand" : "boot");
		fprintf(out, "service.%s.start_timeout = %g\n", c->id,
			(double)c->start_timeout_usec / 1e6);
		fprintf(out, "service.%s.stop_timeout = %g\n", c->id,
			(double)c->stop_timeout_usec / 1e6);
		fprintf(out, "service.%s.watchdog_seconds = %g\n", c->id,
			(double)c->watchdog_usec / 1e6);
		print_strv(out, c->id, "environment", c->env);
	}
}
