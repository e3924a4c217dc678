/* text.c - the text encodings libbus-json's codec and busctl share:
 * base64 both ways and the UTF-8 check of proto3 strings. */
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

/* proto3 strings must be UTF-8: lead byte, then its continuation bytes. */
int text_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t b = s[i];
		size_t k;
		if (b < 0x80)
			k = 0;
		else if (b >= 0xc2 && b <= 0xdf)
			k = 1;
		else if ((b & 0xf0) == 0xe0)
			k = 2;
		else if (b >= 0xf0 && b <= 0xf4)
			k = 3;
		else
			return 0;
		if (k > n - i - 1)
			return 0;
		for (size_t j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
		i += k + 1;
	}
	return 1;
}
