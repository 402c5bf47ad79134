/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/alloc.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The options shardlined and the benchmark run with. */
const char *malloc_conf = SL_ALLOC_CONF;

#ifdef SL_HAVE_JEMALLOC
static long minor_faults(void)
{
	struct rusage r;
	getrusage(RUSAGE_THREAD, &r);
	return r.ru_minflt;
}
#endif

/* In a production build malloc must be jemalloc's: a 1 MiB allocation shows in its statistics. */
static void heap_is_jemalloc_in_production_builds(void **state)
{
	(void)state;
	const char *backend = sl_alloc_backend();
#ifdef SL_HAVE_JEMALLOC
	assert_int_equal(strncmp(backend, "jemalloc ", 9), 0);
	size_t before, after;
	assert_int_equal(sl_alloc_allocated(&before), 0);
	/* volatile keeps the compiler from eliding the malloc/free pair. */
	char *volatile p = malloc(1 << 20);
	memset(p, 1, 1 << 20);
	assert_int_equal(sl_alloc_allocated(&after), 0);
	assert_true(after >= before + (1 << 20));
	free(p);
#else
	size_t bytes;
	assert_string_equal(backend, "libc");
	assert_int_equal(sl_alloc_allocated(&bytes), SL_ENOTSUP);
#endif
}

/*
 * After a prefault, the buffers a track stores (one frame each, here 4 KiB of payload with the
 * buffer header) land on pages already faulted in: a thousand of them fault in a handful of
 * pages for jemalloc's own metadata, not one per buffer as they do without (measured 1 003).
 */
static void prefault_leaves_pages_for_small_buffers(void **state)
{
	(void)state;
	enum { N = 1000, SIZE = 4096 + 16 };
	static char *bufs[N];
#ifdef SL_HAVE_JEMALLOC
	assert_int_equal(sl_alloc_prefault(8u << 20), 8u << 20);
	long before = minor_faults();
	for (int i = 0; i < N; i++) {
		bufs[i] = malloc(SIZE);
		assert_non_null(bufs[i]);
		memset(bufs[i], i, SIZE);
	}
	long faults = minor_faults() - before;
	print_message("%ld page faults for %d buffers after the prefault\n", faults, N);
	assert_true(faults < N / 10);
	for (int i = 0; i < N; i++)
		free(bufs[i]);
#else
	/* Sanitizer builds own malloc: nothing is faulted in, and that is reported. */
	assert_int_equal(sl_alloc_prefault(8u << 20), 0);
	(void)bufs;
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(heap_is_jemalloc_in_production_builds),
		cmocka_unit_test(prefault_leaves_pages_for_small_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
