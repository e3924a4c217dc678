/* settings.c - busd's configuration: a table of options, the INI file read
 * with inih (through a line-counting reader, so every error names its line),
 * the environment and the command line, each overriding the one before. */
#include "config.h"
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "log.h"
#include "policy.h"
#include "wire.h"

enum type { T_PATH, T_MODE, T_GROUP, T_SIZE, T_COUNT, T_LEVEL, T_TARGET, T_DIR };

struct option_def {
	const char *section, *key;
	enum type type;
	uint64_t min, max; /* T_SIZE, T_COUNT */
};

static const struct option_def defs[CFG_N_KEYS] = {
	[CFG_SOCKET] = { "listen", "socket", T_PATH, 0, 0 },
	[CFG_MODE] = { "listen", "mode", T_MODE, 0, 0777 },
	[CFG_GROUP] = { "listen", "group", T_GROUP, 0, 0 },
	[CFG_MAX_FRAME] = { "limits", "max_frame_size", T_SIZE, 1024, 4095ull << 20 },
	[CFG_MAX_QUEUED] = { "limits", "max_queued_bytes", T_SIZE, 64u << 10, 1ull << 40 },
	[CFG_MAX_PENDING] = { "limits", "max_pending_calls", T_COUNT, 1, 1u << 24 },
	[CFG_MAX_CONN_UID] = { "limits", "max_connections_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_MAX_NAMES] = { "limits", "max_names_per_peer", T_COUNT, 1, 1u << 20 },
	[CFG_MAX_SCHEMA] = { "limits", "max_schema_bytes", T_SIZE, 64u << 10, 1ull << 30 },
	[CFG_HOLD] = { "limits", "queue_hold_bytes", T_SIZE, 16u << 10, 1ull << 40 },
	[CFG_GRACE] = { "limits", "queue_grace_seconds", T_COUNT, 0, 3600 },
	[CFG_MAX_SUBS] = { "limits", "max_subscriptions_per_peer", T_COUNT, 1, 1u << 20 },
	[CFG_UID_QUEUED] = { "limits", "max_queued_bytes_per_uid", T_SIZE, 64u << 10, 1ull << 40 },
	[CFG_UID_PENDING] = { "limits", "max_pending_calls_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_UID_NAMES] = { "limits", "max_names_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_UID_SUBS] = { "limits", "max_subscriptions_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_UID_INPUT] = { "limits", "max_input_bytes_per_uid", T_SIZE, 64u << 10, 1ull << 40 },
	[CFG_UID_SCHEMA] = { "limits", "max_schema_bytes_per_uid", T_SIZE, 64u << 10, 1ull << 34 },
	[CFG_MAX_EXPORTS] = { "limits", "max_exports_per_peer", T_COUNT, 1, 1u << 20 },
	[CFG_UID_EXPORTS] = { "limits", "max_exports_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_HELLO_TIMEOUT] = { "limits", "hello_timeout_seconds", T_COUNT, 1, 3600 },
	[CFG_FRAME_TIMEOUT] = { "limits", "frame_timeout_seconds", T_COUNT, 1, 3600 },
	[CFG_HELD_CALLS] = { "limits", "max_held_calls_per_name", T_COUNT, 1, 1u << 20 },
	[CFG_HELD_BYTES] = { "limits", "max_held_bytes_per_name", T_SIZE, 64u << 10, 1ull << 34 },
	[CFG_RESENDS] = { "limits", "max_call_resends", T_COUNT, 0, 100 },
	[CFG_MAX_FDS_FRAME] = { "limits", "max_fds_per_frame", T_COUNT, 0, WIRE_MAX_FDS },
	[CFG_MAX_FDS] = { "limits", "max_queued_fds", T_COUNT, 1, 1u << 20 },
	[CFG_UID_FDS] = { "limits", "max_queued_fds_per_uid", T_COUNT, 1, 1u << 24 },
	[CFG_MAX_MEMFD_BODY] = { "limits", "max_memfd_body_size", T_SIZE, 0, 1ull << 40 },
	[CFG_MAX_MEMFD] = { "limits", "max_queued_memfd_bytes", T_SIZE, 64u << 10, 1ull << 42 },
	[CFG_UID_MEMFD] = { "limits", "max_queued_memfd_bytes_per_uid", T_SIZE, 64u << 10, 1ull << 44 },
	[CFG_LOG_LEVEL] = { "log", "level", T_LEVEL, 0, 0 },
	[CFG_LOG_TARGET] = { "log", "target", T_TARGET, 0, 0 },
	[CFG_SERVICES_DIR] = { "services", "dir", T_DIR, 0, 0 },
};

static const char *const level_names[] = {
	[LOG_ERR] = "error", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

const char *config_level_name(int level)
{
	return level >= LOG_ERR && level <= LOG_DEBUG ? level_names[level] : "?";
}

/* ---------------------------------------------------------------- values */

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why,
		      size_t wlen)
{
	char *end;
	uint64_t unit = 1;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+' || *s == ' ') {
		snprintf(why, wlen, "'%s' is not a size (bytes, with K, M or G)", s);
		return -EINVAL;
	}
	switch (*end) {
	case 'K': case 'k': unit = 1ull << 10; end++; break;
	case 'M': case 'm': unit = 1ull << 20; end++; break;
	case 'G': case 'g': unit = 1ull << 30; end++; break;
	}
	if (*end) {
		snprintf(why, wlen, "'%s' is not a size (bytes, with K, M or G)", s);
		return -EINVAL;
	}
	if (v > max / unit || v * unit > max || v * unit < min) {
		snprintf(why, wlen, "%s is out of range (%llu to %llu bytes)", s,
			 (unsigned long long)min, (unsigned long long)max);
		return -ERANGE;
	}
	*out = v * unit;
	return 0;
}

static int parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out, char *why,
		       size_t wlen)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || *s < '0' || *s > '9') {
		snprintf(why, wlen, "'%s' is not a number", s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		snprintf(why, wlen, "%s is out of range (%llu to %llu)", s, (unsigned long long)min,
			 (unsigned long long)max);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

/* Set option k from text s; why gets the reason on failure. */
static int option_set(struct config *c, enum config_key k, const char *s, char *why, size_t wlen)
{
	const struct option_def *d = &defs[k];
	uint64_t v = 0;
	char *end;

	switch (d->type) {
	case T_PATH:
		if (!*s || strlen(s) >= sizeof(c->socket)) {
			snprintf(why, wlen, "a socket path must have 1 to %zu bytes",
				 sizeof(c->socket) - 1);
			return -EINVAL;
		}
		snprintf(c->socket, sizeof(c->socket), "%s", s);
		return 0;
	case T_MODE:
		errno = 0;
		v = strtoull(s, &end, 8);
		if (errno || end == s || *end || *s < '0' || *s > '7' || v > d->max) {
			snprintf(why, wlen, "'%s' is not an octal mode (0000 to 0777)", s);
			return -EINVAL;
		}
		c->mode = (unsigned)v;
		return 0;
	case T_GROUP:
		if (strlen(s) >= sizeof(c->group)) {
			snprintf(why, wlen, "a group name has at most %zu bytes", sizeof(c->group) - 1);
			return -EINVAL;
		}
		snprintf(c->group, sizeof(c->group), "%s", s);
		return 0;
	case T_SIZE:
		if (parse_size(s, d->min, d->max, &v, why, wlen) < 0)
			return -EINVAL;
		break;
	case T_COUNT:
		if (parse_count(s, d->min, d->max, &v, why, wlen) < 0)
			return -EINVAL;
		break;
	case T_LEVEL:
		for (int l = LOG_ERR; l <= LOG_DEBUG; l++)
			if (strcmp(s, level_names[l]) == 0) {
				c->log_level = l;
				return 0;
			}
		snprintf(why, wlen, "'%s' is not a level (error, warning, notice, info, debug)", s);
		return -EINVAL;
	case T_DIR:
		if (!*s || strlen(s) >= sizeof(c->services_dir)) {
			snprintf(why, wlen, "a directory path must have 1 to %zu bytes",
				 sizeof(c->services_dir) - 1);
			return -EINVAL;
		}
		snprintf(c->services_dir, sizeof(c->services_dir), "%s", s);
		return 0;
	case T_TARGET:
		if (strcmp(s, "stderr") == 0 || strcmp(s, "syslog") == 0) {
			c->log_target = s[1] == 't' ? LOG_TARGET_STDERR : LOG_TARGET_SYSLOG;
			return 0;
		}
		snprintf(why, wlen, "'%s' is not a log target (stderr, syslog)", s);
		return -EINVAL;
	}
	switch (k) {
	case CFG_MAX_FRAME: c->max_frame_size = (uint32_t)v; break;
	case CFG_MAX_QUEUED: c->max_queued_bytes = v; break;
	case CFG_MAX_PENDING: c->max_pending_calls = (uint32_t)v; break;
	case CFG_MAX_CONN_UID: c->max_connections_per_uid = (uint32_t)v; break;
	case CFG_MAX_NAMES: c->max_names_per_peer = (uint32_t)v; break;
	case CFG_MAX_SCHEMA: c->max_schema_bytes = v; break;
	case CFG_HOLD: c->queue_hold_bytes = v; break;
	case CFG_GRACE: c->queue_grace = (uint32_t)v; break;
	case CFG_MAX_SUBS: c->max_subscriptions_per_peer = (uint32_t)v; break;
	case CFG_UID_QUEUED: c->max_queued_bytes_per_uid = v; break;
	case CFG_UID_PENDING: c->max_pending_calls_per_uid = (uint32_t)v; break;
	case CFG_UID_NAMES: c->max_names_per_uid = (uint32_t)v; break;
	case CFG_UID_SUBS: c->max_subscriptions_per_uid = (uint32_t)v; break;
	case CFG_UID_INPUT: c->max_input_bytes_per_uid = v; break;
	case CFG_UID_SCHEMA: c->max_schema_bytes_per_uid = v; break;
	case CFG_MAX_EXPORTS: c->max_exports_per_peer = (uint32_t)v; break;
	case CFG_UID_EXPORTS: c->max_exports_per_uid = (uint32_t)v; break;
	case CFG_HELLO_TIMEOUT: c->hello_timeout = (uint32_t)v; break;
	case CFG_FRAME_TIMEOUT: c->frame_timeout = (uint32_t)v; break;
	case CFG_HELD_CALLS: c->max_held_calls_per_name = (uint32_t)v; break;
	case CFG_HELD_BYTES: c->max_held_bytes_per_name = v; break;
	case CFG_RESENDS: c->max_call_resends = (uint32_t)v; break;
	case CFG_MAX_FDS_FRAME: c->max_fds_per_frame = (uint32_t)v; break;
	case CFG_MAX_FDS: c->max_queued_fds = (uint32_t)v; break;
	case CFG_UID_FDS: c->max_queued_fds_per_uid = (uint32_t)v; break;
	case CFG_MAX_MEMFD_BODY: c->max_memfd_body_size = v; break;
	case CFG_MAX_MEMFD: c->max_queued_memfd_bytes = v; break;
	case CFG_UID_MEMFD: c->max_queued_memfd_bytes_per_uid = v; break;
	default: break;
	}
	return 0;
}

static void defaults(struct config *c)
{
	const char *run = getenv("XDG_RUNTIME_DIR");

	memset(c, 0, sizeof(*c));
	if (geteuid() == 0)
		snprintf(c->socket, sizeof(c->socket), "%s", BUS_SYSTEM_SOCKET);
	else if (run && *run && strlen(run) + sizeof("/busd.sock") <= sizeof(c->socket))
		snprintf(c->socket, sizeof(c->socket), "%s/busd.sock", run);
	c->mode = 0666;
	c->max_frame_size = WIRE_DEFAULT_MAX_FRAME;
	c->max_queued_bytes = 64u << 20;
	c->max_pending_calls = 4096;
	c->max_connections_per_uid = 1024;
	c->max_names_per_peer = 256;
	c->max_schema_bytes = 4u << 20;
	c->queue_hold_bytes = 8u << 20;
	c->queue_grace = 10;
	c->max_subscriptions_per_peer = 1024;
	c->max_queued_bytes_per_uid = 256u << 20;
	c->max_pending_calls_per_uid = 16384;
	c->max_names_per_uid = 1024;
	c->max_subscriptions_per_uid = 16384;
	c->max_input_bytes_per_uid = 64u << 20;
	c->max_schema_bytes_per_uid = 16u << 20;
	c->max_exports_per_peer = 1024;
	c->max_exports_per_uid = 4096;
	c->hello_timeout = 10;
	c->frame_timeout = 30;
	c->max_held_calls_per_name = 256;
	c->max_held_bytes_per_name = 4u << 20;
	c->max_call_resends = 3;
	c->max_fds_per_frame = 16;
	c->max_queued_fds = 256;
	c->max_queued_fds_per_uid = 1024;
	c->max_memfd_body_size = 1ull << 30;
	c->max_queued_memfd_bytes = 2ull << 30;
	c->max_queued_memfd_bytes_per_uid = 8ull << 30;
	c->log_level = LOG_INFO;
	c->log_target = LOG_TARGET_STDERR;
	for (int k = 0; k < CFG_N_KEYS; k++)
		snprintf(c->origin[k], sizeof(c->origin[k]), "built-in default");
}

/* ---------------------------------------------------------------- the file */

/* Append one line to the problems found. Plain memory rather than a
 * memory stream: reading a good configuration touches no stdio, so an idle
 * busd maps no stdio code beyond what its log lines need. */
__attribute__((format(printf, 2, 3))) void config_errors_add(struct config_errors *e,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *t = n < 0 ? NULL : realloc(e->text, e->len + (size_t)n + 2);
	if (!t) {
		e->oom = 1;
		return;
	}
	e->text = t;
	va_start(ap, fmt);
	vsnprintf(t + e->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	e->len += (size_t)n;
	t[e->len++] = '\n';
	t[e->len] = '\0';
}

struct reader {
	const char *buf, *end; /* the file's bytes; buf: the next unread one */
	const char *path;
	int line;   /* of the line inih works on */
	int errors;
	struct config_errors *err;
	struct config *c;
};

/* fgets() over the file's bytes: at most num - 1 of them, up to and with
 * the next newline. */
static char *reader_gets(char *str, int num, void *stream)
{
	struct reader *r = stream;
	size_t n = 0;

	if (r->buf == r->end || num < 2)
		return NULL;
	while (r->buf < r->end && n < (size_t)num - 1) {
		char ch = *r->buf++;
		str[n++] = ch;
		if (ch == '\n')
			break;
	}
	str[n] = '\0';
	r->line++;
	return str;
}

static __attribute__((format(printf, 2, 3))) int reader_error(struct reader *r, const char *fmt,
							      ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	config_errors_add(r->err, "%s:%d: %s", r->path, r->line, msg);
	r->errors++;
	return 1; /* keep parsing: report every error of the file at once */
}

static int on_entry(void *user, const char *section, const char *key, const char *value)
{
	struct reader *r = user;
	char why[256];
	int known_section = 0;

	if (strcmp(section, "policy") == 0) {
		char origin[160];
		if (strcmp(key, "allow") != 0 && strcmp(key, "deny") != 0)
			return reader_error(r, "[policy] takes 'allow = RULE' and 'deny = RULE' "
					       "lines, not '%s'", key);
		snprintf(origin, sizeof(origin), "%s:%d", r->path, r->line);
		if (policy_add(&r->c->policy, key[0] == 'a', value, origin, why, sizeof(why)) < 0)
			return reader_error(r, "%s: %s", key, why);
		return 1;
	}
	for (int k = 0; k < CFG_N_KEYS; k++) {
		if (strcmp(defs[k].section, section) != 0)
			continue;
		known_section = 1;
		if (strcmp(defs[k].key, key) != 0)
			continue;
		if (option_set(r->c, (enum config_key)k, value, why, sizeof(why)) < 0)
			return reader_error(r, "%s.%s: %s", section, key, why);
		r->c->source[k] = SRC_FILE;
		snprintf(r->c->origin[k], sizeof(r->c->origin[k]), "%s:%d", r->path, r->line);
		return 1;
	}
	if (!*section)
		return reader_error(r, "'%s' is outside any section ([listen], [limits], [log], "
				       "[policy], [services])", key);
	if (!known_section)
		return reader_error(r, "unknown section [%s]", section);
	return reader_error(r, "unknown key '%s' in [%s]", key, section);
}

/* The whole of the file at path, NUL-terminated, in *out (free() it), read
 * with read(2): 0, or a negative errno (-EFBIG past CONFIG_FILE_MAX). */
#define CONFIG_FILE_MAX (1u << 20)
static int read_file(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int e = 0;
	for (;;) {
		if (n > CONFIG_FILE_MAX) {
			e = -EFBIG;
			break;
		}
		if (cap - n <= 1) { /* room for one byte more and the NUL */
			size_t want = cap ? cap * 2 : 8192;
			if (want > CONFIG_FILE_MAX + 2)
				want = CONFIG_FILE_MAX + 2;
			char *b = realloc(buf, want);
			if (!b) {
				e = -ENOMEM;
				break;
			}
			buf = b;
			cap = want;
		}
		ssize_t got = read(fd, buf + n, cap - n - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			e = got < 0 ? -errno : 0;
			break;
		}
		n += (size_t)got;
	}
	close(fd);
	if (e < 0) {
		free(buf);
		return e;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static int load_file(struct config *c, const char *path, int must_exist,
		     struct config_errors *err)
{
	struct reader r = { .path = path, .err = err, .c = c };
	char *text = NULL;
	size_t len = 0;

	snprintf(c->file, sizeof(c->file), "%s", path);
	int e = read_file(path, &text, &len);
	if (e == -ENOENT && !must_exist)
		return 0;
	if (e == -EFBIG) {
		config_errors_add(err, "%s: cannot read: larger than %u bytes", path, CONFIG_FILE_MAX);
		return -EINVAL;
	}
	if (e < 0) {
		config_errors_add(err, "%s: cannot read: %s", path, strerror(-e));
		return -EINVAL;
	}
	c->file_found = 1;
	r.buf = text;
	r.end = text + len;
	ini_allow_multiline = false; /* every entry is one line, so r.line is its line */
	int bad = ini_parse_stream(reader_gets, &r, on_entry, &r);
	free(text);
	/* inih reports the first line it could not parse and skips it; the
	 * handler has already reported every other error. */
	if (bad > 0) {
		config_errors_add(err, "%s:%d: not a [section] or key = value line", path, bad);
		r.errors++;
	} else if (bad < 0) {
		config_errors_add(err, "%s: out of memory while parsing", path);
		r.errors++;
	}
	return r.errors ? -EINVAL : 0;
}

/* ---------------------------------------------------------------- load */

static int from_env(struct config *c, enum config_key k, const char *var, struct config_errors *err)
{
	const char *v = getenv(var);
	char why[256];

	if (!v || !*v)
		return 0;
	if (option_set(c, k, v, why, sizeof(why)) < 0) {
		config_errors_add(err, "environment %s: %s", var, why);
		return -EINVAL;
	}
	c->source[k] = SRC_ENV;
	snprintf(c->origin[k], sizeof(c->origin[k]), "environment %s", var);
	return 0;
}

static int from_cmdline(struct config *c, enum config_key k, const char *opt, const char *v,
			struct config_errors *err)
{
	char why[256];

	if (!v)
		return 0;
	if (option_set(c, k, v, why, sizeof(why)) < 0) {
		config_errors_add(err, "%s: %s", opt, why);
		return -EINVAL;
	}
	c->source[k] = SRC_CMDLINE;
	snprintf(c->origin[k], sizeof(c->origin[k]), "command line %s", opt);
	return 0;
}

/* The service files: [services] dir (a relative path from the file's
 * directory), which must exist, or else services.d beside the
 * configuration file when there is one (busd on built-in defaults runs no
 * services). */
static int services_load(struct config *c, struct config_errors *err)
{
	int given = c->source[CFG_SERVICES_DIR] != SRC_DEFAULT;
	const char *dir = given ? c->services_dir : "services.d";
	const char *slash = strrchr(c->file, '/');
	char path[PATH_MAX];

	if (!given && !c->file_found)
		return 0;
	int n = dir[0] == '/' || !slash ? snprintf(path, sizeof(path), "%s", dir)
		: snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - c->file), c->file, dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		config_errors_add(err, "%s: services.dir: the path is too long", c->origin[CFG_SERVICES_DIR]);
		return -EINVAL;
	}
	snprintf(c->services_dir, sizeof(c->services_dir), "%s", path);
	struct stat st;
	errno = 0;
	if (given && (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))) {
		config_errors_add(err, "%s: services.dir: %s is not a directory%s%s",
				  c->origin[CFG_SERVICES_DIR], path, errno ? ": " : "",
				  errno ? strerror(errno) : "");
		return -EINVAL;
	}
	if (!given)
		snprintf(c->origin[CFG_SERVICES_DIR], sizeof(c->origin[CFG_SERVICES_DIR]),
			 "built-in default: beside the configuration file");
	return service_set_load(&c->services, path, given, err);
}

int config_load(struct config *c, const struct config_cmdline *cl, struct config_errors *err)
{
	int bad = 0;

	defaults(c);
	if (load_file(c, cl->file ? cl->file : BUSD_CONFIG_FILE, cl->file != NULL, err) < 0)
		bad = 1;
	bad |= from_env(c, CFG_SOCKET, "BUS_ADDRESS", err) < 0;
	bad |= from_env(c, CFG_LOG_LEVEL, "BUSD_LOG_LEVEL", err) < 0;
	bad |= from_env(c, CFG_LOG_TARGET, "BUSD_LOG_TARGET", err) < 0;
	bad |= from_cmdline(c, CFG_SOCKET, "--socket", cl->socket, err) < 0;
	bad |= from_cmdline(c, CFG_MAX_FRAME, "--max-frame-size", cl->max_frame_size, err) < 0;
	if (cl->verbose)
		from_cmdline(c, CFG_LOG_LEVEL, "--verbose", "debug", err);
	if (!c->socket[0]) {
		config_errors_add(err, "no socket path: give --socket, set BUS_ADDRESS or XDG_RUNTIME_DIR, "
			     "or set [listen] socket");
		bad = 1;
	}
	if (!bad && c->max_queued_bytes < c->max_frame_size) {
		config_errors_add(err, "%s: limits.max_queued_bytes (%llu) must be at least "
			     "limits.max_frame_size (%u)", c->origin[CFG_MAX_QUEUED],
			(unsigned long long)c->max_queued_bytes, c->max_frame_size);
		bad = 1;
	}
	/* Unless given, back-pressure starts at an eighth of the ceiling. */
	if (c->source[CFG_HOLD] == SRC_DEFAULT) {
		c->queue_hold_bytes = c->max_queued_bytes / 8;
		if (c->queue_hold_bytes < defs[CFG_HOLD].min)
			c->queue_hold_bytes = defs[CFG_HOLD].min;
		snprintf(c->origin[CFG_HOLD], sizeof(c->origin[CFG_HOLD]),
			 "built-in default: max_queued_bytes / 8");
	}
	if (!bad && c->max_queued_bytes_per_uid < c->max_queued_bytes) {
		config_errors_add(err, "%s: limits.max_queued_bytes_per_uid (%llu) must be at least "
			     "limits.max_queued_bytes (%llu)", c->origin[CFG_UID_QUEUED],
			(unsigned long long)c->max_queued_bytes_per_uid,
			(unsigned long long)c->max_queued_bytes);
		bad = 1;
	}
	/* Unless given, a user may have two frames of the largest size under way. */
	if (c->source[CFG_UID_INPUT] == SRC_DEFAULT && c->max_input_bytes_per_uid < 2ull * c->max_frame_size) {
		c->max_input_bytes_per_uid = 2ull * c->max_frame_size;
		snprintf(c->origin[CFG_UID_INPUT], sizeof(c->origin[CFG_UID_INPUT]),
			 "built-in default: 2 x max_frame_size");
	}
	if (!bad && c->max_input_bytes_per_uid < c->max_frame_size) {
		config_errors_add(err, "%s: limits.max_input_bytes_per_uid (%llu) must be at least "
			     "limits.max_frame_size (%u)", c->origin[CFG_UID_INPUT],
			(unsigned long long)c->max_input_bytes_per_uid, c->max_frame_size);
		bad = 1;
	}
	if (!bad && c->max_schema_bytes_per_uid < c->max_schema_bytes) {
		config_errors_add(err, "%s: limits.max_schema_bytes_per_uid (%llu) must be at least "
			     "limits.max_schema_bytes (%llu)", c->origin[CFG_UID_SCHEMA],
			(unsigned long long)c->max_schema_bytes_per_uid,
			(unsigned long long)c->max_schema_bytes);
		bad = 1;
	}
	if (!bad && c->queue_hold_bytes > c->max_queued_bytes) {
		config_errors_add(err, "%s: limits.queue_hold_bytes (%llu) must be at most "
			     "limits.max_queued_bytes (%llu)", c->origin[CFG_HOLD],
			(unsigned long long)c->queue_hold_bytes,
			(unsigned long long)c->max_queued_bytes);
		bad = 1;
	}
	if (!bad && services_load(c, err) < 0)
		bad = 1;
	if (bad)
		config_free(c);
	return bad ? -EINVAL : 0;
}

void config_free(struct config *c)
{
	policy_free(c->policy);
	c->policy = NULL;
	service_set_free(&c->services);
}

int config_group_id(const struct config *c, gid_t *gid, FILE *err)
{
	char *end;

	*gid = (gid_t)-1;
	if (!c->group[0])
		return 0;
	unsigned long n = strtoul(c->group, &end, 10);
	if (!*end && c->group[0] >= '0' && c->group[0] <= '9') {
		*gid = (gid_t)n;
		return 0;
	}
	struct group *g = getgrnam(c->group);
	if (!g) {
		fprintf(err, "%s: listen.group: no group '%s'\n", c->origin[CFG_GROUP], c->group);
		return -ENOENT;
	}
	*gid = g->gr_gid;
	return 0;
}

const char *config_file_describe(const struct config *c, char *buf, size_t len)
{
	if (c->file_found)
		snprintf(buf, len, "configuration file %s", c->file);
	else
		snprintf(buf, len, "no configuration file (looked for %s)", c->file);
	return buf;
}

void config_print(const struct config *c, FILE *out)
{
	char v[PATH_MAX], file[sizeof(c->file) + 64];

	fprintf(out, "# %s\n", config_file_describe(c, file, sizeof(file)));
	for (int k = 0; k < CFG_N_KEYS; k++) {
		switch (k) {
		case CFG_SOCKET: snprintf(v, sizeof(v), "%s", c->socket); break;
		case CFG_MODE: snprintf(v, sizeof(v), "%04o", c->mode); break;
		case CFG_GROUP: snprintf(v, sizeof(v), "%s", c->group); break;
		case CFG_MAX_FRAME: snprintf(v, sizeof(v), "%u", c->max_frame_size); break;
		case CFG_MAX_QUEUED:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_queued_bytes);
			break;
		case CFG_MAX_PENDING: snprintf(v, sizeof(v), "%u", c->max_pending_calls); break;
		case CFG_MAX_CONN_UID: snprintf(v, sizeof(v), "%u", c->max_connections_per_uid); break;
		case CFG_MAX_NAMES: snprintf(v, sizeof(v), "%u", c->max_names_per_peer); break;
		case CFG_MAX_SCHEMA:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_schema_bytes);
			break;
		case CFG_HOLD:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->queue_hold_bytes);
			break;
		case CFG_GRACE: snprintf(v, sizeof(v), "%u", c->queue_grace); break;
		case CFG_MAX_SUBS: snprintf(v, sizeof(v), "%u", c->max_subscriptions_per_peer); break;
		case CFG_UID_QUEUED:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_queued_bytes_per_uid);
			break;
		case CFG_UID_PENDING: snprintf(v, sizeof(v), "%u", c->max_pending_calls_per_uid); break;
		case CFG_UID_NAMES: snprintf(v, sizeof(v), "%u", c->max_names_per_uid); break;
		case CFG_UID_SUBS: snprintf(v, sizeof(v), "%u", c->max_subscriptions_per_uid); break;
		case CFG_UID_INPUT:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_input_bytes_per_uid);
			break;
		case CFG_UID_SCHEMA:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_schema_bytes_per_uid);
			break;
		case CFG_MAX_EXPORTS: snprintf(v, sizeof(v), "%u", c->max_exports_per_peer); break;
		case CFG_UID_EXPORTS: snprintf(v, sizeof(v), "%u", c->max_exports_per_uid); break;
		case CFG_HELLO_TIMEOUT: snprintf(v, sizeof(v), "%u", c->hello_timeout); break;
		case CFG_FRAME_TIMEOUT: snprintf(v, sizeof(v), "%u", c->frame_timeout); break;
		case CFG_HELD_CALLS: snprintf(v, sizeof(v), "%u", c->max_held_calls_per_name); break;
		case CFG_HELD_BYTES:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_held_bytes_per_name);
			break;
		case CFG_RESENDS: snprintf(v, sizeof(v), "%u", c->max_call_resends); break;
		case CFG_MAX_FDS_FRAME: snprintf(v, sizeof(v), "%u", c->max_fds_per_frame); break;
		case CFG_MAX_FDS: snprintf(v, sizeof(v), "%u", c->max_queued_fds); break;
		case CFG_UID_FDS: snprintf(v, sizeof(v), "%u", c->max_queued_fds_per_uid); break;
		case CFG_MAX_MEMFD_BODY:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_memfd_body_size);
			break;
		case CFG_MAX_MEMFD:
			snprintf(v, sizeof(v), "%llu", (unsigned long long)c->max_queued_memfd_bytes);
			break;
		case CFG_UID_MEMFD:
			snprintf(v, sizeof(v), "%llu",
				 (unsigned long long)c->max_queued_memfd_bytes_per_uid);
			break;
		case CFG_LOG_LEVEL: snprintf(v, sizeof(v), "%s", config_level_name(c->log_level)); break;
		case CFG_LOG_TARGET:
			snprintf(v, sizeof(v), "%s", c->log_target == LOG_TARGET_SYSLOG ? "syslog" : "stderr");
			break;
		case CFG_SERVICES_DIR:
			snprintf(v, sizeof(v), "%s", c->services_dir[0] ? c->services_dir : "(none)");
			break;
		}
		fprintf(out, "%s.%s = %s  (%s)\n", defs[k].section, defs[k].key, v, c->origin[k]);
	}
	service_set_print(&c->services, out);
	policy_print(c->policy, out);
}
