/* log.h - busd's one logging facility: leveled lines on stderr or syslog.
 * Lines about a peer name it as "peer :N (pid P, comm)" (peer_describe). */
#ifndef BUSD_LOG_H
#define BUSD_LOG_H

/* Levels are syslog's: LOG_ERR (3) .. LOG_DEBUG (7). */
#include <stdint.h>
#include <syslog.h>

void log_set_level(int level);
int log_get_level(void);
/* 1: log to syslog (facility daemon); 0: to stderr, with <N> priority
 * prefixes when stderr is the systemd journal. */
void log_set_syslog(int on);
int log_enabled(int level);
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A budget of log lines (busd keeps one per user, so that no peer can
 * flood the log): at most LOG_LIMIT_BURST lines a second go through; the
 * rest are counted, and the next line let through after that second is
 * preceded by one that says how many were left out. */
#define LOG_LIMIT_BURST 10
struct log_limit {
	char subject[32];     /* whose lines these are, e.g. "uid 1000" */
	uint64_t window_usec; /* start of the current second */
	unsigned logged, suppressed;
};
/* Log the line unless l's budget for this second is spent. */
void log_limited(struct log_limit *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
