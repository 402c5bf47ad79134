/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/u64map.h"

#include <stdlib.h>

static void insert_get_remove(void **state)
{
	(void)state;
	struct sl_u64map m;
	uint64_t v;
	assert_int_equal(sl_u64map_init(&m, 4), 0);
	assert_int_equal(sl_u64map_insert(&m, 5, 50), 0);
	assert_int_equal(sl_u64map_insert(&m, UINT64_MAX, 1), 0);
	assert_int_equal(sl_u64map_insert(&m, 0, 2), 0);
	assert_int_equal(sl_u64map_insert(&m, 5, 51), SL_EDUP);
	assert_true(sl_u64map_get(&m, 5, &v));
	assert_int_equal(v, 50);
	assert_true(sl_u64map_get(&m, UINT64_MAX, NULL));
	assert_false(sl_u64map_get(&m, 6, &v));
	assert_int_equal(sl_u64map_count(&m), 3);
	assert_int_equal(sl_u64map_remove(&m, 5), 0);
	assert_int_equal(sl_u64map_remove(&m, 5), SL_ENOTFOUND);
	assert_false(sl_u64map_get(&m, 5, &v));
	assert_int_equal(sl_u64map_count(&m), 2);
	sl_u64map_fini(&m);
}

/* Random churn checked against a plain array: backward-shift deletion must never lose a key. */
static void churn_matches_a_model(void **state)
{
	(void)state;
	enum { N = 4096 };
	static uint8_t present[N];
	struct sl_u64map m;
	assert_int_equal(sl_u64map_init(&m, 0), 0);
	srand(7);
	size_t count = 0;
	for (int i = 0; i < 200000; i++) {
		uint64_t k = (uint64_t)(rand() % N);
		if (rand() % 2) {
			int rc = sl_u64map_insert(&m, k * 0x9e3779b97f4a7c15ull, k);
			assert_int_equal(rc, present[k] ? SL_EDUP : 0);
			count += !present[k];
			present[k] = 1;
		} else {
			int rc = sl_u64map_remove(&m, k * 0x9e3779b97f4a7c15ull);
			assert_int_equal(rc, present[k] ? 0 : SL_ENOTFOUND);
			count -= present[k];
			present[k] = 0;
		}
	}
	assert_int_equal(sl_u64map_count(&m), count);
	for (uint64_t k = 0; k < N; k++) {
		uint64_t v;
		assert_int_equal(sl_u64map_get(&m, k * 0x9e3779b97f4a7c15ull, &v), present[k]);
		if (present[k])
			assert_int_equal(v, k);
	}
	sl_u64map_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(insert_get_remove),
		cmocka_unit_test(churn_matches_a_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
