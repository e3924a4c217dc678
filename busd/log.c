/* log.c - busd's one logging facility: leveled lines to stderr (one write
 * per line, so lines never interleave; with <N> priority prefixes when
 * stderr is the systemd journal) or to syslog (facility daemon). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <syslog.h>
#include <unistd.h>

static int log_level = LOG_INFO;
static int to_syslog;
static int journal; /* stderr is the journal: it adds name and pid itself */

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

int log_enabled(int level)
{
	return level <= log_level;
}

/* $JOURNAL_STREAM is "device:inode" of the journal's stream when systemd
 * connected stderr to it; a redirected stderr no longer matches. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_set_syslog(int on)
{
	if (on && !to_syslog)
		openlog("busd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (!on && to_syslog)
		closelog();
	to_syslog = on;
	journal = stderr_is_journal();
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_ERR: return "error";
	case LOG_WARNING: return "warning";
	case LOG_NOTICE: return "notice";
	case LOG_INFO: return "info";
	default: return "debug";
	}
}

static __attribute__((format(printf, 2, 0))) void log_vmsg(int level, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	if (to_syslog) {
		vsnprintf(line, sizeof(line), fmt, ap);
		syslog(level, "%s: %s", level_name(level), line);
		return;
	}
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", level, level_name(level));
	else
		n = snprintf(line, sizeof(line), "busd: %s: ", level_name(level));
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void log_limited(struct log_limit *l, int level, const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	if (!log_enabled(level))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	if (now - l->window_usec >= 1000000u) {
		if (l->suppressed)
			log_msg(LOG_NOTICE, "%s: %u more log lines were left out (at most %d a second)",
				l->subject, l->suppressed, LOG_LIMIT_BURST);
		l->window_usec = now;
		l->logged = 0;
		l->suppressed = 0;
	}
	if (l->logged >= LOG_LIMIT_BURST) {
		l->suppressed++;
		return;
	}
	l->logged++;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}
