/* notify.h - the systemd service notification protocol (sd_notify(3)),
 * spoken by busd itself over $NOTIFY_SOCKET: no libsystemd needed. */
#ifndef BUSD_NOTIFY_H
#define BUSD_NOTIFY_H

/* Send the newline-separated assignments (e.g. "READY=1\nSTATUS=...").
 * Does nothing without $NOTIFY_SOCKET; returns 0, or -errno on failure. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Take the listening socket systemd passed (LISTEN_FDS/LISTEN_PID) and
 * unset those variables. Returns the fd, -ENOENT when none was passed, or
 * -EINVAL (logged) when the first passed fd is not a listening Unix stream
 * socket. */
int notify_listen_fd(void);

#endif
