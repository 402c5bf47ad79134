/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/wait.h"

struct probe {
	struct sl_waiter w;
	int woken;
	struct sl_waitq *rearm;
	struct probe *cancel;
};

static void probe_wake(struct sl_waiter *w)
{
	struct probe *p = (struct probe *)w;
	p->woken++;
	if (p->rearm)
		sl_waitq_add(p->rearm, &p->w);
	if (p->cancel)
		sl_waiter_cancel(&p->cancel->w);
}

static void wakes_each_armed_waiter_once(void **state)
{
	(void)state;
	struct sl_waitq q;
	struct probe p[3] = {0};
	sl_waitq_init(&q);
	for (int i = 0; i < 3; i++) {
		sl_waiter_init(&p[i].w, probe_wake);
		sl_waitq_add(&q, &p[i].w);
		assert_true(sl_waiter_armed(&p[i].w));
	}
	sl_waitq_add(&q, &p[1].w); /* re-arming the same waiter does not duplicate it */
	sl_waitq_add(&q, NULL);
	sl_waitq_wake_all(&q);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(p[i].woken, 1);
		assert_false(sl_waiter_armed(&p[i].w));
	}
	assert_true(sl_waitq_empty(&q));
	sl_waitq_wake_all(&q);
	assert_int_equal(p[0].woken, 1);
}

static void cancel_and_rearm_during_wake(void **state)
{
	(void)state;
	struct sl_waitq q;
	struct probe a = {0}, b = {0}, c = {0};
	sl_waitq_init(&q);
	sl_waiter_init(&a.w, probe_wake);
	sl_waiter_init(&b.w, probe_wake);
	sl_waiter_init(&c.w, probe_wake);
	/* Queue order is LIFO: c, b, a. c cancels b; a re-arms on q. */
	sl_waitq_add(&q, &a.w);
	sl_waitq_add(&q, &b.w);
	sl_waitq_add(&q, &c.w);
	c.cancel = &b;
	a.rearm = &q;
	sl_waitq_wake_all(&q);
	assert_int_equal(c.woken, 1);
	assert_int_equal(b.woken, 0);
	assert_int_equal(a.woken, 1);
	assert_true(sl_waiter_armed(&a.w));
	a.rearm = NULL;
	sl_waitq_wake_all(&q);
	assert_int_equal(a.woken, 2);
	sl_waiter_cancel(&a.w);
	sl_waiter_cancel(&a.w);
}

static void moving_between_queues(void **state)
{
	(void)state;
	struct sl_waitq q1, q2;
	struct probe a = {0};
	sl_waitq_init(&q1);
	sl_waitq_init(&q2);
	sl_waiter_init(&a.w, probe_wake);
	sl_waitq_add(&q1, &a.w);
	sl_waitq_add(&q2, &a.w);
	assert_true(sl_waitq_empty(&q1));
	sl_waitq_wake_all(&q1);
	assert_int_equal(a.woken, 0);
	sl_waitq_wake_all(&q2);
	assert_int_equal(a.woken, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(wakes_each_armed_waiter_once),
		cmocka_unit_test(cancel_and_rearm_during_wake),
		cmocka_unit_test(moving_between_queues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
