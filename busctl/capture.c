/* capture.c - busctl capture (a monitor that writes every frame, as the
 * wire carries it, into a pcap file) and busctl decode (prints a capture the
 * way monitor prints live traffic). pcap: the classic format, link type
 * LINKTYPE_USER0 (147), one record per frame: preamble, header, body, cut at
 * the snaplen (the file header's; records keep the frame's whole length). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "busctl.h"
#include "watch.h"
#include "wire.h"

#define PCAP_MAGIC 0xa1b2c3d4u
#define PCAP_LINKTYPE_USER0 147
/* 262144: what Wireshark reads for a user link type (it refuses a file with
 * a longer record) and what tcpdump writes by default. A snaplen always
 * holds the preamble and the largest header, so only bodies are cut. */
#define PCAP_SNAPLEN_DEFAULT 262144u
#define PCAP_SNAPLEN_MIN (WIRE_PREAMBLE_SIZE + WIRE_MAX_HEADER)
#define PCAP_SNAPLEN_MAX (4095u << 20) /* busd's largest limits.max_frame_size */

struct pcap_file_header {
	uint32_t magic;
	uint16_t major, minor;
	int32_t thiszone;
	uint32_t sigfigs, snaplen, linktype;
};

struct pcap_record {
	uint32_t sec, usec, incl_len, orig_len;
};

/* ---------------------------------------------------------------- capture */

struct capture {
	FILE *f;
	const char *path;
	unsigned long count, seen, snaplen;
	const char *match[8];
	int n_match;
	int failed;
	int bodies;                /* --bodies: out-of-line bodies' bytes too */
};

/* --snaplen has no short form: -s is everyone's --socket. */
enum { OPT_SNAPLEN = 0x200, OPT_BODIES };

static int capture_opt(int opt, const char *arg, void *ud)
{
	struct capture *c = ud;

	switch (opt) {
	case 'o': c->path = arg; return 0;
	case OPT_BODIES: c->bodies = 1; return 0;
	case OPT_SNAPLEN:
		if (!parse_count(arg, &c->snaplen) || c->snaplen < PCAP_SNAPLEN_MIN ||
		    c->snaplen > PCAP_SNAPLEN_MAX) {
			fprintf(stderr, "busctl: --snaplen takes a number of bytes from %u to %u, "
				"not \"%s\"\n", PCAP_SNAPLEN_MIN, PCAP_SNAPLEN_MAX, arg);
			return EXIT_USAGE;
		}
		return 0;
	case 'n':
		if (!parse_count(arg, &c->count)) {
			fprintf(stderr, "busctl: --count takes a positive number, not \"%s\"\n", arg);
			return EXIT_USAGE;
		}
		return 0;
	case 'm':
		if (c->n_match == 8) {
			fprintf(stderr, "busctl: at most 8 --match options\n");
			return EXIT_USAGE;
		}
		c->match[c->n_match++] = arg;
		return 0;
	default: return EXIT_USAGE;
	}
}

static wire_str ws(const char *s)
{
	return wire_str_c(s && *s ? s : NULL);
}

/* The frame as busd routed it, rebuilt from what the monitor saw. */
static void on_capture(bus_t *bus, const bus_msg_t *m, void *ud)
{
	struct capture *c = ud;
	struct timeval tv;

	if (c->failed || (c->count && c->seen >= c->count) ||
	    !watch_matches(c->match, c->n_match, m))
		return;
	gettimeofday(&tv, NULL);
	wire_header h = {
		.kind = (uint32_t)m->kind, .flags = m->flags, .serial = m->serial,
		.reply_serial = m->reply_serial, .destination = ws(m->destination),
		.interface = ws(m->interface), .member = ws(m->member), .sender = ws(m->sender),
		.body_type = ws(m->body_type), .error_name = ws(m->error_name),
		.error_message = ws(m->error_message), .fd_count = m->fd_count,
		.memfd_body_size = m->memfd_body_size,
	};
	/* An out-of-line body is recorded inline, its header still saying
	 * memfd_body_size: body_len 0 when its bytes were not captured. */
	size_t hl = wire_header_size(&h), blen = m->body_len;
	if (blen > UINT32_MAX - WIRE_PREAMBLE_SIZE - hl)
		blen = 0; /* a record cannot say more than 4 GiB */
	uint8_t *head = malloc(WIRE_PREAMBLE_SIZE + hl);
	if (!head) {
		c->failed = ENOMEM;
		bus_exit(bus, 1);
		return;
	}
	wire_preamble_encode(head, (uint32_t)hl, (uint32_t)blen);
	wire_header_encode(&h, head + WIRE_PREAMBLE_SIZE);
	size_t total = WIRE_PREAMBLE_SIZE + hl + blen;
	struct pcap_record rec = { (uint32_t)tv.tv_sec, (uint32_t)tv.tv_usec,
				   (uint32_t)(total < c->snaplen ? total : c->snaplen),
				   (uint32_t)total };
	size_t body = rec.incl_len - (WIRE_PREAMBLE_SIZE + hl);
	if (fwrite(&rec, sizeof(rec), 1, c->f) != 1 ||
	    fwrite(head, WIRE_PREAMBLE_SIZE + hl, 1, c->f) != 1 ||
	    (body && fwrite(m->body, body, 1, c->f) != 1) || fflush(c->f) != 0) {
		c->failed = errno ? errno : EIO;
		bus_exit(bus, 1);
	}
	free(head);
	if (c->count && ++c->seen >= c->count)
		bus_exit(bus, 0);
}

static int capture_run(struct busctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "count", required_argument, NULL, 'n' },
		{ "match", required_argument, NULL, 'm' },
		{ "snaplen", required_argument, NULL, OPT_SNAPLEN },
		{ "bodies", no_argument, NULL, OPT_BODIES },
		{ NULL, 0, NULL, 0 },
	};
	struct capture c = { .snaplen = PCAP_SNAPLEN_DEFAULT };
	bus_error_t err;
	int first, r = command_options(&cmd_capture, argc, argv, "o:n:m:", opts, capture_opt, &c,
				       &first);
	if (r)
		return r < 0 ? 0 : r;
	if (!c.path)
		return command_usage_error(&cmd_capture, "-o FILE is required");
	if (first != argc)
		return command_usage_error(&cmd_capture, "unexpected argument \"%s\"", argv[first]);

	c.f = strcmp(c.path, "-") == 0 ? stdout : fopen(c.path, "wb");
	if (!c.f)
		return fail("%s: %s", c.path, strerror(errno));
	struct pcap_file_header fh = { PCAP_MAGIC, 2, 4, 0, 0, (uint32_t)c.snaplen,
				       PCAP_LINKTYPE_USER0 };
	if (fwrite(&fh, sizeof(fh), 1, c.f) != 1 || fflush(c.f) != 0) {
		r = fail("%s: %s", c.path, strerror(errno));
		goto out;
	}
	bus_t *bus = busctl_connect(ctl);
	if (!bus) {
		r = 1;
		goto out;
	}
	if (c.bodies)
		bus_set_monitor_bodies(bus, 1);
	if (bus_become_monitor(bus, on_capture, &c, &err) < 0) {
		bus_close(bus);
		r = fail_bus("capture", &err);
		goto out;
	}
	r = bus_run(bus);
	bus_close(bus);
	if (c.failed)
		r = fail("%s: %s", c.path, strerror(c.failed));
	else if (r == -ECONNRESET)
		r = fail("busd closed the connection (%lu frames captured)", c.seen);
	else
		r = r < 0 ? fail("connection to busd: %s", strerror(-r)) : 0;
out:
	if (c.f != stdout && fclose(c.f) != 0 && r == 0)
		r = fail("%s: %s", c.path, strerror(errno));
	return r;
}

const struct command cmd_capture = {
"capture", "-o FILE [--count N] [--snaplen BYTES] [--bodies] [--match KEY=VALUE,...]...",
	"Write every frame busd routes into a pcap file",
	"\nA monitor that stores each frame as the wire carries it (preamble, header,\n"
	"body) as one record of a classic pcap file (link type USER0, 147) with its\n"
	"time, until --count frames, busd goes away or a signal; \"-o -\" writes to\n"
	"stdout. A record holds at most --snaplen bytes of its frame (262144 by\n"
	"default, the most Wireshark reads); only a body is ever cut. busctl decode\n"
	"prints a capture; Wireshark reads it with busd.lua (busctl(1)).\n\n"
	"Options:\n"
	"  -o, --output FILE     the pcap file (replaced)\n"
	"  -n, --count N         stop after N frames\n"
	"      --snaplen BYTES   keep at most BYTES of a frame (65548 .. 4293918720)\n"
	"      --bodies          record the bytes of out-of-line bodies (sealed memfds)\n"
	"  -m, --match SPEC      as for monitor\n",
	capture_run,
};

/* ---------------------------------------------------------------- decode */

static uint32_t swap32(uint32_t v)
{
	return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

static int decode_opt(int opt, const char *arg, void *ud)
{
	(void)arg;
	if (opt != 'r')
		return EXIT_USAGE;
	*(int *)ud = 1;
	return 0;
}

static int decode_run(struct busctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "raw", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int raw = 0, first, r = command_options(&cmd_decode, argc, argv, "r", opts, decode_opt, &raw,
						&first);
	if (r)
		return r < 0 ? 0 : r;
	if (argc - first != 1)
		return command_usage_error(&cmd_decode, "expected one FILE");
	const char *path = argv[first];
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return fail("%s: %s", path, strerror(errno));

	struct pcap_file_header fh;
	int swapped = 0;
	if (fread(&fh, sizeof(fh), 1, f) != 1 ||
	    (fh.magic != PCAP_MAGIC && swap32(fh.magic) != PCAP_MAGIC)) {
		r = fail("%s: not a pcap file", path);
		goto out;
	}
	swapped = fh.magic != PCAP_MAGIC;
	uint32_t link = swapped ? swap32(fh.linktype) : fh.linktype;
	if (link != PCAP_LINKTYPE_USER0) {
		r = fail("%s: link type %u, not busctl capture's USER0 (147)", path, link);
		goto out;
	}
	/* Schemas from the bus when busd runs; hex bodies otherwise. A frame cut
	 * at the snaplen goes through a raw printer: its body's bytes, said so. */
	bus_t *query = raw ? NULL : busctl_connect_quiet(ctl);
	struct printer *pr = printer_new(ctl, query, raw);
	struct printer *cut_pr = printer_new(ctl, NULL, 1);
	uint8_t *buf = NULL;
	unsigned long n = 0;
	struct pcap_record rec;
	r = pr && cut_pr ? 0 : fail("out of memory");
	while (r == 0 && fread(&rec, sizeof(rec), 1, f) == 1) {
		uint32_t len = swapped ? swap32(rec.incl_len) : rec.incl_len;
		uint32_t orig = swapped ? swap32(rec.orig_len) : rec.orig_len;
		uint64_t usec = (uint64_t)(swapped ? swap32(rec.sec) : rec.sec) * 1000000u +
				(swapped ? swap32(rec.usec) : rec.usec);
		n++;
		if (len > PCAP_SNAPLEN_MAX || len < WIRE_PREAMBLE_SIZE || orig < len) {
			r = fail("%s: record %lu: length %u of %u is not a frame", path, n, len, orig);
			break;
		}
		uint8_t *nb = realloc(buf, len);
		if (!nb) {
			r = fail("out of memory");
			break;
		}
		buf = nb;
		if (fread(buf, len, 1, f) != 1) {
			r = fail("%s: record %lu is truncated", path, n);
			break;
		}
		wire_preamble p;
		wire_header h;
		uint64_t whole = 0;
		if (wire_preamble_decode(buf, len, PCAP_SNAPLEN_MAX, &p) == WIRE_OK)
			whole = WIRE_PREAMBLE_SIZE + (uint64_t)p.header_len + p.body_len;
		if (!whole || whole != orig || WIRE_PREAMBLE_SIZE + (uint64_t)p.header_len > len ||
		    wire_header_decode(buf + WIRE_PREAMBLE_SIZE, p.header_len, &h) != WIRE_OK) {
			r = fail("%s: record %lu is not a valid frame", path, n);
			break;
		}
		size_t body_len = len - WIRE_PREAMBLE_SIZE - p.header_len;
		if (body_len < p.body_len)
			fprintf(stderr, "busctl: %s: record %lu: body cut at %zu of %u bytes "
				"(the capture's snaplen)\n", path, n, body_len, p.body_len);
		char s[7][256];
		const wire_str in[7] = { h.sender, h.destination, h.interface, h.member, h.body_type,
					 h.error_name, h.error_message };
		for (int i = 0; i < 7; i++)
			snprintf(s[i], sizeof(s[i]), "%.*s", (int)in[i].len, in[i].ptr ? in[i].ptr : "");
		bus_msg_t m = {
			.kind = (int)h.kind, .flags = h.flags, .serial = h.serial,
			.reply_serial = h.reply_serial, .sender = s[0], .destination = s[1],
			.interface = s[2], .member = s[3], .body_type = s[4], .error_name = s[5],
			.error_message = s[6], .body = buf + WIRE_PREAMBLE_SIZE + p.header_len,
			.body_len = body_len, .fd_count = h.fd_count,
			.memfd_body_size = h.memfd_body_size,
		};
		if (body_len < p.body_len) {
			printer_note(pr, &m, usec);
			printer_frame(cut_pr, &m, usec);
		} else {
			printer_frame(pr, &m, usec);
		}
	}
	free(buf);
	printer_free(pr);
	printer_free(cut_pr);
	bus_close(query);
	if (r == 0 && ferror(f))
		r = fail("%s: %s", path, strerror(errno));
out:
	if (f != stdin)
		fclose(f);
	return r == 0 && fflush(stdout) != 0 ? fail("writing: %s", strerror(errno)) : r;
}

const struct command cmd_decode = {
	"decode", "[--raw] FILE",
	"Print a capture (busctl capture's pcap file) the way monitor prints traffic",
	"\nOne line per frame, with the capture's times, reply latencies and bodies\n"
	"decoded through the schemas on the bus when busd runs (hex otherwise, or\n"
	"with --raw). \"-\" reads stdin. With --json, one JSON object per frame.\n",
	decode_run,
};
