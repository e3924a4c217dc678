/* fuzz-wire.c - libFuzzer target for the frame codec busd and libbus share:
 * any bytes through the preamble decoder, and whatever it accepts through
 * the header decoder and the validation busd applies to every frame; a
 * header that passes is encoded again and must decode to the same fields. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_str(wire_str a, wire_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wire_preamble p;
	wire_header h, again;
	const char *why;

	if (wire_preamble_decode(data, size, WIRE_DEFAULT_MAX_FRAME, &p) != WIRE_OK)
		return 0;
	size_t avail = size - WIRE_PREAMBLE_SIZE;
	/* As busd does: never read past what the preamble and the input allow. */
	size_t hl = p.header_len < avail ? p.header_len : avail;
	if (wire_header_decode(data + WIRE_PREAMBLE_SIZE, hl, &h) != WIRE_OK)
		return 0;
	if (wire_header_validate(&h, &why) != WIRE_OK)
		return 0;
	size_t n = wire_header_size(&h);
	uint8_t *buf = malloc(n ? n : 1);
	if (!buf)
		return 0;
	if (wire_header_encode(&h, buf) != n || wire_header_decode(buf, n, &again) != WIRE_OK ||
	    again.kind != h.kind || again.serial != h.serial || again.reply_serial != h.reply_serial ||
	    !same_str(again.destination, h.destination) || !same_str(again.member, h.member) ||
	    !same_str(again.sender, h.sender) || !same_str(again.body_type, h.body_type))
		abort(); /* the encoder and decoder disagree */
	free(buf);
	return 0;
}
