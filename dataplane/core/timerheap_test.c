/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/timerheap.h"

#include <stdlib.h>

static void empty_heap_has_no_deadline(void **state)
{
	(void)state;
	struct sl_theap h;
	sl_theap_init(&h);
	assert_int_equal(sl_theap_next(&h), UINT64_MAX);
	assert_null(sl_theap_pop_due(&h, UINT64_MAX - 1));
	struct sl_theap_node t;
	sl_theap_node_init(&t);
	/* No room reserved: refused, nothing allocated behind the caller's back. */
	assert_int_equal(sl_theap_set(&h, &t, 5), SL_ENOSPC);
	assert_false(sl_theap_queued(&t));
	/* Removing a node that is not queued, or setting "never", is harmless. */
	sl_theap_remove(&h, &t);
	assert_int_equal(sl_theap_set(&h, &t, UINT64_MAX), 0);
	sl_theap_fini(&h);
}

static void pops_in_deadline_order_and_only_when_due(void **state)
{
	(void)state;
	struct sl_theap h;
	sl_theap_init(&h);
	struct sl_theap_node t[5];
	uint64_t due[5] = {50, 10, 40, 10, 30};
	assert_int_equal(sl_theap_reserve(&h, 5), 0);
	for (int i = 0; i < 5; i++) {
		sl_theap_node_init(&t[i]);
		assert_int_equal(sl_theap_set(&h, &t[i], due[i]), 0);
	}
	assert_int_equal(sl_theap_count(&h), 5);
	assert_int_equal(sl_theap_next(&h), 10);
	assert_null(sl_theap_pop_due(&h, 9));
	struct sl_theap_node *a = sl_theap_pop_due(&h, 10);
	struct sl_theap_node *b = sl_theap_pop_due(&h, 10);
	assert_true((a == &t[1] && b == &t[3]) || (a == &t[3] && b == &t[1]));
	assert_false(sl_theap_queued(a));
	assert_null(sl_theap_pop_due(&h, 29));
	assert_ptr_equal(sl_theap_pop_due(&h, 100), &t[4]);
	assert_ptr_equal(sl_theap_pop_due(&h, 100), &t[2]);
	assert_ptr_equal(sl_theap_pop_due(&h, 100), &t[0]);
	assert_null(sl_theap_pop_due(&h, 100));
	sl_theap_fini(&h);
}

static void rearming_moves_a_node_either_way(void **state)
{
	(void)state;
	struct sl_theap h;
	sl_theap_init(&h);
	struct sl_theap_node t[3];
	assert_int_equal(sl_theap_reserve(&h, 3), 0);
	for (int i = 0; i < 3; i++) {
		sl_theap_node_init(&t[i]);
		assert_int_equal(sl_theap_set(&h, &t[i], 100 + (uint64_t)i), 0);
	}
	/* Later: t[0] goes to the back; earlier: t[2] to the front. */
	assert_int_equal(sl_theap_set(&h, &t[0], 500), 0);
	assert_int_equal(sl_theap_next(&h), 101);
	assert_int_equal(sl_theap_set(&h, &t[2], 1), 0);
	assert_int_equal(sl_theap_next(&h), 1);
	/* "Never" takes it out; the others stay in order. */
	assert_int_equal(sl_theap_set(&h, &t[2], UINT64_MAX), 0);
	assert_false(sl_theap_queued(&t[2]));
	assert_int_equal(sl_theap_count(&h), 2);
	assert_ptr_equal(sl_theap_pop_due(&h, 1000), &t[1]);
	assert_ptr_equal(sl_theap_pop_due(&h, 1000), &t[0]);
	sl_theap_fini(&h);
}

/* Random sets, re-sets and removals against a plain array: the heap always yields the
 * earliest deadline, and popping everything gives them sorted. */
static void agrees_with_a_reference_under_churn(void **state)
{
	(void)state;
	enum { N = 500, OPS = 20000 };
	struct sl_theap h;
	sl_theap_init(&h);
	assert_int_equal(sl_theap_reserve(&h, N), 0);
	struct sl_theap_node *t = calloc(N, sizeof(*t));
	uint64_t *ref = calloc(N, sizeof(*ref)); /* UINT64_MAX: not queued */
	assert_non_null(t);
	assert_non_null(ref);
	for (int i = 0; i < N; i++) {
		sl_theap_node_init(&t[i]);
		ref[i] = UINT64_MAX;
	}
	srand(7);
	for (int op = 0; op < OPS; op++) {
		int i = rand() % N;
		int k = rand() % 10;
		if (k < 7) {
			uint64_t due = (uint64_t)(rand() % 100000);
			assert_int_equal(sl_theap_set(&h, &t[i], due), 0);
			ref[i] = due;
		} else if (k < 9) {
			sl_theap_remove(&h, &t[i]);
			ref[i] = UINT64_MAX;
		} else {
			uint64_t now = (uint64_t)(rand() % 100000);
			struct sl_theap_node *p = sl_theap_pop_due(&h, now);
			uint64_t min = UINT64_MAX;
			for (int j = 0; j < N; j++)
				if (ref[j] < min)
					min = ref[j];
			if (min > now) {
				assert_null(p);
			} else {
				assert_non_null(p);
				assert_int_equal(p->due, min);
				ref[p - t] = UINT64_MAX;
			}
		}
		uint64_t min = UINT64_MAX;
		uint32_t queued = 0;
		for (int j = 0; j < N; j++) {
			if (ref[j] < min)
				min = ref[j];
			queued += ref[j] != UINT64_MAX;
			assert_int_equal(sl_theap_queued(&t[j]), ref[j] != UINT64_MAX);
		}
		assert_int_equal(sl_theap_next(&h), min);
		assert_int_equal(sl_theap_count(&h), queued);
	}
	uint64_t last = 0;
	struct sl_theap_node *p;
	while ((p = sl_theap_pop_due(&h, UINT64_MAX - 1)) != NULL) {
		assert_true(p->due >= last);
		last = p->due;
	}
	assert_int_equal(sl_theap_count(&h), 0);
	free(t);
	free(ref);
	sl_theap_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_heap_has_no_deadline),
		cmocka_unit_test(pops_in_deadline_order_and_only_when_due),
		cmocka_unit_test(rearming_moves_a_node_either_way),
		cmocka_unit_test(agrees_with_a_reference_under_churn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
