/* failmalloc.c - an LD_PRELOAD shim that makes allocations fail, to test
 * busd's behaviour when memory runs out (tests/test-oom.c). It is armed by
 * the first accept4() that returns a connection, so busd always starts;
 * from then on, by $BUSD_FAILMALLOC:
 *
 *   every=N,seed=S   fail about one allocation in N, chosen by a PRNG
 *                    seeded with S (the same S fails the same sequence)
 *   nth=N            fail the Nth allocation after arming, only that one
 *
 * malloc, calloc, realloc (growing or new), posix_memalign, aligned_alloc,
 * memalign, strdup and strndup fail by returning NULL with errno ENOMEM.
 * The number of failures injected is written to the file named by
 * $BUSD_FAILMALLOC_COUNT (as "N\n", rewritten at every failure, so it is
 * there even if the process dies).
 *
 * Under AddressSanitizer the shim must come before libasan in the symbol
 * lookup (so that it sees the calls) and passes them on to ASan's
 * allocator: preload only the shim and set
 * ASAN_OPTIONS=verify_asan_link_order=0, which silences ASan's check that
 * it is loaded first. The shim itself is built without instrumentation.
 *
 * The real functions come from dlsym(RTLD_NEXT); dlsym may allocate while
 * they are looked up, which a small static arena serves. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);

/* What dlsym allocates while the real functions are looked up. */
static _Alignas(16) unsigned char arena[64 * 1024];
static size_t arena_used;
static int resolving;

static int armed;
static uint64_t every, nth, calls, rng = 0x9e3779b97f4a7c15ull;
static unsigned long failures;
static int count_fd = -1;

static int in_arena(const void *p)
{
	return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof(arena);
}

/* Each arena block is preceded by its size, for realloc. */
static void *arena_alloc(size_t n)
{
	if (n > sizeof(arena) - arena_used - 16)
		return NULL;
	size_t *head = (size_t *)(arena + arena_used);
	*head = n;
	arena_used += 16 + ((n + 15) & ~(size_t)15);
	return (unsigned char *)head + 16;
}

static size_t arena_size(const void *p)
{
	return *(const size_t *)((const unsigned char *)p - 16);
}

static void resolve(void)
{
	if (real_malloc || resolving)
		return;
	resolving = 1;
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_free = dlsym(RTLD_NEXT, "free");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_accept4 = dlsym(RTLD_NEXT, "accept4");
	real_malloc = dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
}

static uint64_t parse_field(const char *spec, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = spec; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (strncmp(p, name, n) == 0 && p[n] == '=')
			return strtoull(p + n + 1, NULL, 0);
	return 0;
}

/* The count as text, by hand: nothing here may allocate. */
static void write_count(void)
{
	char buf[24];
	int i = (int)sizeof(buf);
	unsigned long v = failures;

	buf[--i] = '\n';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (count_fd >= 0 && pwrite(count_fd, buf + i, sizeof(buf) - (size_t)i, 0) < 0)
		return;
}

/* Read the configuration once busd serves: allocations before this (the
 * loader, busd's start) never fail. */
static void arm(void)
{
	const char *spec = getenv("BUSD_FAILMALLOC");
	const char *path = getenv("BUSD_FAILMALLOC_COUNT");

	armed = 1;
	if (!spec)
		return;
	every = parse_field(spec, "every");
	nth = parse_field(spec, "nth");
	uint64_t seed = parse_field(spec, "seed");
	if (seed)
		rng ^= seed * 0xbf58476d1ce4e5b9ull;
	if (path)
		count_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	write_count();
}

static int should_fail(void)
{
	if (!armed || resolving || (!every && !nth))
		return 0;
	calls++;
	int fail;
	if (nth) {
		fail = calls == nth;
	} else {
		/* xorshift64* */
		rng ^= rng >> 12;
		rng ^= rng << 25;
		rng ^= rng >> 27;
		fail = (rng * 0x2545f4914f6cdd1dull) % every == 0;
	}
	if (!fail)
		return 0;
	failures++;
	write_count();
	errno = ENOMEM;
	return 1;
}

void *malloc(size_t n)
{
	resolve();
	if (!real_malloc)
		return arena_alloc(n);
	return should_fail() ? NULL : real_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	resolve();
	if (!real_malloc) {
		if (size && n > SIZE_MAX / size)
			return NULL;
		return arena_alloc(n * size); /* static: still zero */
	}
	return should_fail() ? NULL : real_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
	resolve();
	if (in_arena(p)) {
		void *q = malloc(n);
		if (q)
			memcpy(q, p, n < arena_size(p) ? n : arena_size(p));
		return q;
	}
	if (!real_malloc)
		return p ? NULL : arena_alloc(n);
	/* Shrinking or freeing (n == 0) is never refused. */
	return n && should_fail() ? NULL : real_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_arena(p))
		return;
	resolve();
	real_free(p);
}

int posix_memalign(void **out, size_t align, size_t n)
{
	resolve();
	if (!real_malloc) {
		*out = align <= 16 ? arena_alloc(n) : NULL;
		return *out ? 0 : ENOMEM;
	}
	if (should_fail())
		return ENOMEM;
	return real_posix_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n)
{
	resolve();
	if (!real_malloc)
		return align <= 16 ? arena_alloc(n) : NULL;
	return should_fail() ? NULL : real_aligned_alloc(align, n);
}

void *memalign(size_t align, size_t n)
{
	resolve();
	if (!real_malloc)
		return align <= 16 ? arena_alloc(n) : NULL;
	return should_fail() ? NULL : real_memalign(align, n);
}

/* ASan implements these without calling malloc: fail them here. */
char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);
	return d ? memcpy(d, s, n) : NULL;
}

char *strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *d = malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	resolve();
	int r = real_accept4(fd, addr, len, flags);
	if (r >= 0 && !armed)
		arm();
	return r;
}
