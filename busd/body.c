/* body.c - checking out-of-line bodies (sealed memfds) before they are
 * forwarded. See body.h. */
#include "config.h"

#include "body.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "bus/errors.h"
#include "connection.h"

int body_check(const struct frame *f, uint64_t limit, char *why, size_t len)
{
	uint64_t size = f->h.memfd_body_size;
	int fd = f->fds[f->n_fds - 1];
	struct stat st = { 0 };

	if (size > limit) {
		if (limit)
			snprintf(why, len, "the out-of-line body of %llu bytes is larger than "
				 "limits.max_memfd_body_size (%llu)", (unsigned long long)size,
				 (unsigned long long)limit);
		else
			snprintf(why, len, "out-of-line bodies are not accepted "
				 "(limits.max_memfd_body_size is 0)");
		return BODY_E_LIMIT;
	}
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		snprintf(why, len, "the body's descriptor is not a memfd (F_GET_SEALS: %s)",
			 strerror(errno));
		return BODY_E_UNSEALED;
	}
	if ((seals & WIRE_MEMFD_SEALS) != WIRE_MEMFD_SEALS) {
		snprintf(why, len, "the body's memfd is not sealed against%s%s%s%s",
			 seals & F_SEAL_WRITE ? "" : " writing", seals & F_SEAL_GROW ? "" : " growing",
			 seals & F_SEAL_SHRINK ? "" : " shrinking",
			 seals & F_SEAL_SEAL ? "" : " new seals (F_SEAL_SEAL)");
		return BODY_E_UNSEALED;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size != size) {
		snprintf(why, len, "the body's memfd holds %lld bytes, but memfd_body_size says %llu",
			 (long long)st.st_size, (unsigned long long)size);
		return BODY_E_UNSEALED;
	}
	return 0;
}

int body_refused(const struct connection *c, const struct frame *f, const char *who, char *why,
		 size_t len)
{
	uint64_t size = connection_memfd_of(c, f);

	if (!c->no_fds && !c->memfd_ok) {
		snprintf(why, len, "%s does not take out-of-line bodies (its Hello did not ask "
			 "for them)", who);
		return BODY_E_UNSUPPORTED;
	}
	int r = size ? charge_would_pass(&c->out_memfd_charge, size) : 0;
	if (!r)
		return 0;
	snprintf(why, len, "%s has too many bytes of out-of-line bodies waiting to be read "
		 "(limits.%s)", who, charge_limit_name(CHARGE_MEMFD, r == CHARGE_E_USER));
	return BODY_E_LIMIT;
}

const char *body_error_name(int r)
{
	switch (r) {
	case BODY_E_UNSEALED: return BUS_ERROR_UNSEALED_BODY;
	case BODY_E_UNSUPPORTED: return BUS_ERROR_OUT_OF_LINE_NOT_SUPPORTED;
	default: return BUS_ERROR_LIMITS_EXCEEDED;
	}
}
