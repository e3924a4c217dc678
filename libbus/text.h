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
/* The length (1 to 4) of the well-formed UTF-8 sequence at s, n bytes
 * available, with its code point in *cp; 0 when s starts with none (no
 * overlongs, no surrogates, nothing past U+10FFFF). */
size_t text_utf8_char(const uint8_t *s, size_t n, uint32_t *cp);
/* 1 if the n bytes at s are well-formed UTF-8. */
int text_utf8_valid(const uint8_t *s, size_t n);
/* 1 for the code points a terminal may act on: C0, DEL and C1. */
int text_is_control(uint32_t cp);
/* 1 if the n bytes at s are well-formed UTF-8 without control characters. */
int text_printable(const uint8_t *s, size_t n);

#endif
