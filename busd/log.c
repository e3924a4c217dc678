/* log.c - write leveled log lines to stderr, one write per line so lines
 * from busd never interleave with each other. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static int log_level = LOG_INFO;

void log_set_level(int level)
{
	log_level = level;
}

int log_enabled(int level)
{
	return level <= log_level;
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
	n = snprintf(line, sizeof(line), "busd: %s: ", level_name(level));
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}
