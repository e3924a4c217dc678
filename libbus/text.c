/* text.c - the text encodings libbus-json's codec and busctl share:
 * base64 both ways, UTF-8 (the check of proto3 strings) and what counts
 * as a control character. */
#include "config.h"

#include "text.h"

#include <stdlib.h>
#include <string.h>

static const char b64_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *text_base64(const void *data, size_t len)
{
	const uint8_t *p = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
			     (i + 2 < len ? p[i + 2] : 0);
		*o++ = b64_tab[v >> 18 & 63];
		*o++ = b64_tab[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64_tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '+' || ch == '-') return 62; /* standard and URL-safe alphabets */
	if (ch == '/' || ch == '_') return 63;
	return -1;
}

/* Standard or URL-safe, padded or not; -1 on a bad character or length. */
long text_unbase64(const char *in, uint8_t *out)
{
	size_t n = strlen(in);
	unsigned acc = 0;
	int bits = 0;
	long o = 0;

	while (n && in[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	return o;
}

size_t text_utf8_char(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t b = n ? s[0] : 0;
	uint32_t c, min;
	size_t k;

	if (!n)
		return 0;
	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b < 0xc2)
		return 0; /* a continuation byte, or an overlong lead */
	if (b < 0xe0)
		k = 1, min = 0x80, c = b & 0x1fu;
	else if (b < 0xf0)
		k = 2, min = 0x800, c = b & 0x0fu;
	else if (b < 0xf5)
		k = 3, min = 0x10000, c = b & 0x07u;
	else
		return 0;
	if (n <= k)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[j] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return k + 1;
}

/* proto3 strings must be UTF-8. */
int text_utf8_valid(const uint8_t *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k)
		if (!(k = text_utf8_char(s + i, n - i, &cp)))
			return 0;
	return 1;
}

int text_is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

int text_printable(const uint8_t *s, size_t n)
{
	uint32_t cp;

	for (size_t i = 0, k; i < n; i += k)
		if (!(k = text_utf8_char(s + i, n - i, &cp)) || text_is_control(cp))
			return 0;
	return 1;
}
