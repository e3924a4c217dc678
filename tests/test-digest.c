/* test-digest.c - the two digests busd computes itself: SipHash-2-4 (its
 * tables' keyed hash, busd/siphash.c) against the SipHash paper's example
 * and the reference implementation's vectors, and SHA-256 (schema ids,
 * busd/sha256.c) against FIPS 180-4's examples and against sha256sum for
 * every length from 0 to 300 bytes, which crosses the padding's one- and
 * two-block cases several times. Also the random key and the hex forms. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"
#include "siphash.h"
#include "tap.h"

static void test_siphash(void)
{
	/* Key 00 01 .. 0f, message 00 01 .. (len-1): the reference
	 * implementation's vectors.h, read as little-endian words. */
	static const struct {
		size_t len;
		uint64_t want;
	} v[] = {
		{ 0, 0x726fdb47dd0e0e31ULL },  { 1, 0x74f839c593dc67fdULL },
		{ 7, 0xab0200f58b01d137ULL },  { 8, 0x93f5f5799a932462ULL },
		{ 15, 0xa129ca6149be45e5ULL }, { 16, 0x3f2acc7f57c29bdbULL },
		{ 63, 0x958a324ceb064572ULL },
	};
	unsigned char key[SIPHASH_KEY_LEN], msg[64];

	for (int i = 0; i < SIPHASH_KEY_LEN; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint64_t got = siphash24(key, msg, v[i].len);
		ok(got == v[i].want, "SipHash-2-4 of %zu bytes is %016llx%s", v[i].len,
		   (unsigned long long)v[i].want, v[i].len == 15 ? " (the paper's example)" : "");
		if (got != v[i].want)
			diag("got %016llx", (unsigned long long)got);
	}
	key[0] ^= 1;
	ok(siphash24(key, msg, 15) != 0xa129ca6149be45e5ULL, "another key gives another hash");
}

static void test_random_key(void)
{
	unsigned char a[SIPHASH_KEY_LEN], b[SIPHASH_KEY_LEN], zero[SIPHASH_KEY_LEN] = { 0 };

	is_int(siphash_random_key(a, sizeof(a)), 0, "a key is drawn from the kernel");
	is_int(siphash_random_key(b, sizeof(b)), 0, "and another");
	ok(memcmp(a, b, sizeof(a)) != 0 && memcmp(a, zero, sizeof(a)) != 0,
	   "the two differ and are not zero");
}

static void hex_of(char out[SHA256_HEX_LEN + 1], const void *data, size_t len)
{
	unsigned char d[SHA256_LEN];
	sha256(d, data, len);
	sha256_hex(out, d);
}

static void test_sha256_fips(void)
{
	char hex[SHA256_HEX_LEN + 1];
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	hex_of(hex, "", 0);
	is_str(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	       "SHA-256 of nothing");
	hex_of(hex, "abc", 3);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "SHA-256 of \"abc\" (FIPS 180-4's one-block example)");
	hex_of(hex, two, strlen(two));
	is_str(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	       "SHA-256 of the 448-bit message (the two-block example)");
	char *million = malloc(1000000);
	require(million != NULL, "a million bytes for the long example");
	memset(million, 'a', 1000000);
	hex_of(hex, million, 1000000);
	free(million);
	is_str(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "SHA-256 of a million 'a'");
}

/* sha256sum's digest of the first len bytes of data, through a file. */
static int sha256sum_of(char out[SHA256_HEX_LEN + 1], const unsigned char *data, size_t len,
			const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len) {
		if (f)
			fclose(f);
		return -1;
	}
	if (fclose(f) != 0)
		return -1;
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	int n = fscanf(p, "%64s", out);
	return pclose(p) == 0 && n == 1 && strlen(out) == SHA256_HEX_LEN ? 0 : -1;
}

static void test_sha256_lengths(void)
{
	unsigned char data[300];
	char dir[] = "/tmp/test-digest.XXXXXX", path[64], want[SHA256_HEX_LEN + 1],
	     got[SHA256_HEX_LEN + 1];
	size_t agree = 0, first_bad = 0;
	int failed_run = 0;

	require(mkdtemp(dir) != NULL, "a temporary directory");
	snprintf(path, sizeof(path), "%s/data", dir);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 131 + 7);
	for (size_t len = 0; len <= sizeof(data); len++) {
		if (sha256sum_of(want, data, len, path) < 0) {
			failed_run = 1;
			break;
		}
		hex_of(got, data, len);
		if (strcmp(got, want) == 0)
			agree++;
		else if (!first_bad)
			first_bad = len + 1;
	}
	unlink(path);
	rmdir(dir);
	ok(!failed_run, "sha256sum ran for every length");
	is_int((long long)agree, (long long)sizeof(data) + 1,
	       "sha256() agrees with sha256sum for every length 0..%zu", sizeof(data));
	if (first_bad)
		diag("first disagreement at %zu bytes", first_bad - 1);
}

static void test_hex(void)
{
	unsigned char d[SHA256_LEN], back[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1], upper[SHA256_HEX_LEN + 1];

	sha256(d, "abc", 3);
	sha256_hex(hex, d);
	ok(sha256_unhex(back, hex) == 0 && memcmp(back, d, sizeof(d)) == 0,
	   "an id parses back to its digest");
	for (int i = 0; i <= SHA256_HEX_LEN; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
	ok(sha256_unhex(back, upper) == 0 && memcmp(back, d, sizeof(d)) == 0,
	   "upper-case digits are accepted");
	char shorter[SHA256_HEX_LEN + 1];
	memcpy(shorter, hex, SHA256_HEX_LEN - 1);
	shorter[SHA256_HEX_LEN - 1] = '\0';
	is_int(sha256_unhex(back, shorter), -1, "63 digits are refused");
	char longer[SHA256_HEX_LEN + 2];
	memcpy(longer, hex, SHA256_HEX_LEN);
	longer[SHA256_HEX_LEN] = '0';
	longer[SHA256_HEX_LEN + 1] = '\0';
	is_int(sha256_unhex(back, longer), -1, "65 digits are refused");
	char bad[SHA256_HEX_LEN + 1];
	memcpy(bad, hex, sizeof(bad));
	bad[10] = 'g';
	is_int(sha256_unhex(back, bad), -1, "a non-hex digit is refused");
	is_int(sha256_unhex(back, ""), -1, "the empty string is refused");
}

int main(void)
{
	plan(8 + 3 + 5 + 3 + 6);
	test_siphash();
	test_random_key();
	test_sha256_fips();
	test_sha256_lengths();
	test_hex();
	return tap_done();
}
