/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/buf.h"
#include "core/err.h"

#include <pthread.h>
#include <string.h>

static void alloc_append_and_release(void **state)
{
	(void)state;
	struct sl_buf_stats before = *sl_buf_stats();
	struct sl_buf *b = sl_buf_alloc(8);
	assert_non_null(b);
	assert_int_equal(sl_buf_refcnt(b), 1);
	assert_int_equal(sl_buf_append(b, "abcd", 4), 0);
	assert_int_equal(sl_buf_append(b, "efgh", 4), 0);
	assert_int_equal(sl_buf_append(b, "i", 1), SL_ENOSPC);
	assert_int_equal(b->len, 8);
	assert_memory_equal(b->data, "abcdefgh", 8);
	assert_int_equal(sl_buf_stats()->bytes_copied - before.bytes_copied, 8);
	sl_buf_unref(b);
	assert_int_equal(sl_buf_stats()->frees - before.frees, 1);
}

static void bad_sizes_are_refused(void **state)
{
	(void)state;
	assert_null(sl_buf_alloc(0));
	assert_null(sl_buf_alloc((size_t)UINT32_MAX));
	sl_buf_unref(NULL);
}

static void shared_by_many_freed_on_last(void **state)
{
	(void)state;
	struct sl_buf *b = sl_buf_from("payload", 7);
	uint64_t frees = sl_buf_stats()->frees;
	for (int i = 0; i < 1000; i++)
		sl_buf_ref(b);
	assert_int_equal(sl_buf_refcnt(b), 1001);
	for (int i = 0; i < 1000; i++)
		sl_buf_unref(b);
	assert_int_equal(sl_buf_stats()->frees, frees);
	assert_int_equal(sl_buf_refcnt(b), 1);
	sl_buf_unref(b);
	assert_int_equal(sl_buf_stats()->frees, frees + 1);
}

static void slices_narrow_without_copy(void **state)
{
	(void)state;
	struct sl_buf *b = sl_buf_from("0123456789", 10);
	struct sl_slice all = sl_slice_of(b), mid, in;
	uint64_t copied = sl_buf_stats()->bytes_copied;
	assert_int_equal(sl_slice_sub(&all, 2, 5, &mid), 0);
	assert_memory_equal(sl_slice_data(&mid), "23456", 5);
	assert_int_equal(sl_slice_sub(&mid, 1, 3, &in), 0);
	assert_memory_equal(sl_slice_data(&in), "345", 3);
	assert_int_equal(sl_slice_sub(&mid, 4, 2, &in), SL_EINVAL);
	assert_int_equal(sl_slice_sub(&mid, 6, 0, &in), SL_EINVAL);
	assert_int_equal(sl_buf_stats()->bytes_copied, copied);
	sl_buf_unref(b);
}

/* References move between threads as they do between cores; the count must stay exact. */
static void *ref_churn(void *arg)
{
	struct sl_buf *b = arg;
	for (int i = 0; i < 100000; i++) {
		sl_buf_ref(b);
		sl_buf_unref(b);
	}
	return NULL;
}

static void refcount_is_atomic_across_threads(void **state)
{
	(void)state;
	struct sl_buf *b = sl_buf_alloc(16);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, ref_churn, b);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sl_buf_refcnt(b), 1);
	sl_buf_unref(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alloc_append_and_release),
		cmocka_unit_test(bad_sizes_are_refused),
		cmocka_unit_test(shared_by_many_freed_on_last),
		cmocka_unit_test(slices_narrow_without_copy),
		cmocka_unit_test(refcount_is_atomic_across_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
