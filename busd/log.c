/* log.c - busd's one logging facility: leveled lines to stderr (one write
 * per line, so lines never interleave; with <N> priority prefixes when
 * stderr is the systemd journal) or to syslog (facility daemon). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
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

void log_msg(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (!log_enabled(level))
		return;
	if (to_syslog) {
		va_start(ap, fmt);
		vsnprintf(line, sizeof(line), fmt, ap);
		va_end(ap);
		syslog(level, "%s: %s", level_name(level), line);
		return;
	}
	if (journal)
		n = snprintf(line, sizeof(line), "<%d>%s: ", level, level_name(level));
	else
		n = snprintf(line, sizeof(line), "busd: %s: ", level_name(level));
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}
