/* notify.c - sd_notify(3) and socket activation (sd_listen_fds(3)) done by
 * hand: both are small, documented protocols, and busd needs no libsystemd
 * for them. */
#include "config.h"
#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define LISTEN_FDS_START 3

int notify_send(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[512];
	va_list ap;

	if (!path || !*path)
		return 0;
	size_t plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return -EMSGSIZE;

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	int r = sendto(fd, msg, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		log_warning("cannot notify systemd at %s: %s", path, strerror(-r));
	return r;
}

int notify_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	char *end;

	if (!pid || !fds)
		return -ENOENT;
	long p = strtol(pid, &end, 10);
	if (*end || p != (long)getpid())
		return -ENOENT; /* meant for another process */
	long n = strtol(fds, &end, 10);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (*end || n < 1)
		return -ENOENT;
	int fd = LISTEN_FDS_START, type = 0, listening = 0;
	struct sockaddr_un sa;
	socklen_t l = sizeof(type), sl = sizeof(sa);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_STREAM ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0 || sa.sun_family != AF_UNIX ||
	    (l = sizeof(listening), getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l)) < 0 ||
	    !listening) {
		log_error("the socket systemd passed (fd %d) is not a listening Unix stream socket",
			  fd);
		return -EINVAL;
	}
	for (long i = 1; i < n; i++) {
		log_warning("systemd passed %ld sockets; busd uses the first and closes fd %ld", n,
			    LISTEN_FDS_START + i);
		close((int)(LISTEN_FDS_START + i));
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}
