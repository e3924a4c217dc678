/* fuzz-config.c - libFuzzer target for busd's configuration parser: any
 * bytes as busd.conf (through a memfd, the same fopen/inih path busd uses),
 * errors written to /dev/null. It must never crash, leak or accept a value
 * outside an option's range; [policy] rules are parsed and printed too.
 * The same bytes are parsed as a service file (service-conf.c). */
#define _GNU_SOURCE 1
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	char path[64];
	struct config c;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	int fd = memfd_create("busd.conf", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct config_cmdline cl = { .file = path, .socket = "/tmp/fuzz.sock" };
	struct config_errors errs = { 0 };
	int r = config_load(&c, &cl, &errs);
	free(errs.text);
	if (r == 0) {
		if (c.mode > 0777 || c.max_frame_size < 1024 || c.max_queued_bytes < c.max_frame_size ||
		    c.max_pending_calls < 1 || c.max_connections_per_uid < 1 ||
		    c.max_names_per_peer < 1 || c.log_level < 3 || c.log_level > 7 ||
		    c.queue_hold_bytes > c.max_queued_bytes || c.queue_grace > 3600 ||
		    c.max_subscriptions_per_peer < 1 || c.max_queued_bytes_per_uid < c.max_queued_bytes ||
		    c.max_pending_calls_per_uid < 1 || c.max_names_per_uid < 1 ||
		    c.max_subscriptions_per_uid < 1)
			abort(); /* accepted a value outside its range */
		/* every accepted rule must print (the --check-config path) */
		config_print(&c, devnull);
		config_free(&c);
	}
	close(fd);
	struct config_errors serr = { 0 };
	struct service_conf *sc = service_conf_parse("fuzz", "fuzz.conf", (const char *)data, size,
						     &serr);
	free(serr.text);
	if (sc) {
		if (!sc->argv || sc->argv[0][0] != '/' || sc->n_names < 1 ||
		    sc->n_names > SERVICE_NAMES_MAX || sc->backoff_max_usec < sc->backoff_usec)
			abort(); /* accepted a service file it must refuse */
		struct service_set set = { .v = &sc, .n = 1 };
		service_set_print(&set, devnull);
		service_conf_free(sc);
	}
	return 0;
}
