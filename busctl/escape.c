/* escape.c - what busctl prints of peers' text never reaches the terminal
 * as a control sequence. In text, control characters (C0, DEL, C1), bytes
 * that are not UTF-8 and backslashes are written as C escapes (\x1b, \n,
 * \\). In JSON, json-c already escapes C0; this adds DEL and C1 as \u
 * escapes and makes bytes that are not UTF-8 U+FFFD, so that the output is
 * valid JSON too. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busctl.h"
#include "text.h"

/* The escape of one byte of text (at most 4 characters and a NUL). */
static void esc_byte(unsigned char c, char out[5])
{
	switch (c) {
	case '\\': strcpy(out, "\\\\"); break;
	case '\n': strcpy(out, "\\n"); break;
	case '\t': strcpy(out, "\\t"); break;
	case '\r': strcpy(out, "\\r"); break;
	default: snprintf(out, 5, "\\x%02x", c); break;
	}
}

/* Write the escaped form of the n bytes at s through put (keep_newlines:
 * '\n' stays, for multi-line text busctl itself lays out). */
static void esc_walk(const char *s, size_t n, int keep_newlines,
		     void (*put)(const char *p, size_t len, void *ud), void *ud)
{
	const unsigned char *p = (const unsigned char *)s;
	char tmp[5];

	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = text_utf8_char(p + i, n - i, &cp);
		if (k && !text_is_control(cp) && cp != '\\') {
			put((const char *)p + i, k, ud);
			i += k;
			continue;
		}
		if (k == 1 && cp == '\n' && keep_newlines) {
			put("\n", 1, ud);
			i++;
			continue;
		}
		/* a control character (each of its bytes), or a byte that
		 * starts no UTF-8 sequence */
		for (size_t j = 0; j < (k ? k : 1); j++) {
			esc_byte(p[i + j], tmp);
			put(tmp, strlen(tmp), ud);
		}
		i += k ? k : 1;
	}
}

struct grow {
	char *buf;
	size_t len, cap;
	int nomem;
};

static void grow_put(const char *p, size_t len, void *ud)
{
	struct grow *g = ud;

	if (g->nomem)
		return;
	if (g->len + len + 1 > g->cap) {
		size_t cap = (g->len + len + 1) * 2;
		char *b = realloc(g->buf, cap);
		if (!b) {
			g->nomem = 1;
			return;
		}
		g->buf = b;
		g->cap = cap;
	}
	memcpy(g->buf + g->len, p, len);
	g->len += len;
	g->buf[g->len] = '\0';
}

char *esc_dup(const char *s, int keep_newlines)
{
	struct grow g = { 0 };

	grow_put("", 0, &g);
	esc_walk(s ? s : "", s ? strlen(s) : 0, keep_newlines, grow_put, &g);
	if (g.nomem) {
		free(g.buf);
		return NULL;
	}
	return g.buf;
}

/* Into a fixed buffer: what does not fit is cut, with "..." at the end. */
struct fixed {
	char *buf;
	size_t len, cap;
	int cut;
};

static void fixed_put(const char *p, size_t len, void *ud)
{
	struct fixed *f = ud;

	if (f->cut || f->len + len + 4 > f->cap) {
		if (!f->cut && f->len + 4 <= f->cap)
			memcpy(f->buf + f->len, "...", 4);
		f->cut = 1;
		return;
	}
	memcpy(f->buf + f->len, p, len);
	f->len += len;
	f->buf[f->len] = '\0';
}

const char *esc(const char *s, char *buf, size_t len)
{
	struct fixed f = { buf, 0, len, 0 };

	if (len < 4)
		return "";
	buf[0] = '\0';
	esc_walk(s ? s : "", s ? strlen(s) : 0, 0, fixed_put, &f);
	return buf;
}

char *json_safe(const char *json)
{
	const unsigned char *p = (const unsigned char *)json;
	size_t n = strlen(json);
	struct grow g = { 0 };
	char tmp[8];

	grow_put("", 0, &g);
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = text_utf8_char(p + i, n - i, &cp);
		if (!k) {
			grow_put("\\ufffd", 6, &g); /* only in strings: JSON's syntax is ASCII */
			i++;
		} else if (cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
			snprintf(tmp, sizeof(tmp), "\\u%04x", (unsigned)cp);
			grow_put(tmp, 6, &g);
			i += k;
		} else {
			grow_put((const char *)p + i, k, &g);
			i += k;
		}
	}
	if (g.nomem) {
		free(g.buf);
		return NULL;
	}
	return g.buf;
}

int json_print(const char *json)
{
	char *safe = json_safe(json);

	if (!safe)
		return -1;
	puts(safe);
	free(safe);
	return 0;
}
