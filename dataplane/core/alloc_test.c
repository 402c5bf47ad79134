/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/alloc.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(heap_is_jemalloc_in_production_builds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
