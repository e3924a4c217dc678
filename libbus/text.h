/* text.h - base64 and UTF-8 for libbus-json's codec and busctl (compiled
 * into each of them; libbus-json exports only bus_* names). */
#ifndef BUS_TEXT_H
#define BUS_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Standard base64, padded, of len bytes: a malloc'd string, NULL without
 * memory. */
char *text_base64(const void *data, size_t len);
/* Standard or URL-safe base64, padded or not, into out (room for
 * strlen(in) * 3 / 4 + 3 bytes). Returns the byte count, or -1 on a bad
 * character or length. */
long text_unbase64(const char *in, uint8_t *out);
/* 1 if the n bytes at s are valid UTF-8 (no overlongs of two bytes, no
 * lead byte past U+10FFFF's). */
int text_utf8_valid(const uint8_t *s, size_t n);

#endif
