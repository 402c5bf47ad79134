/* SPDX-License-Identifier: Apache-2.0 */
#include "core/bell.h"
#include "core/test_common.h"

#include <poll.h>
#include <pthread.h>
#include <time.h>

static bool readable(const struct sl_bell *b, int timeout_ms)
{
	struct pollfd p = {.fd = b->fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* A loop that is awake is never written to: ringing costs one load. */
static void awake_loop_is_not_rung(void **state)
{
	(void)state;
	struct sl_bell b;
	assert_int_equal(sl_bell_init(&b), 0);
	sl_bell_ring(&b);
	assert_false(readable(&b, 0));
	sl_bell_fini(&b);
	sl_bell_fini(&b); /* twice is harmless */
}

/* An armed loop is rung; disarming resets the counter so the next sleep really sleeps. */
static void armed_loop_is_rung_once(void **state)
{
	(void)state;
	struct sl_bell b;
	assert_int_equal(sl_bell_init(&b), 0);
	sl_bell_arm(&b);
	assert_true(sl_bell_sleeping(&b));
	sl_bell_ring(&b);
	sl_bell_ring(&b);
	assert_true(readable(&b, 0));
	assert_true(sl_bell_disarm(&b, true));
	assert_false(sl_bell_sleeping(&b));
	assert_false(readable(&b, 0));
	sl_bell_ring(&b); /* disarmed again: no write */
	assert_false(readable(&b, 0));
	sl_bell_fini(&b);
}

static void *ringer(void *arg)
{
	struct sl_bell *b = arg;
	struct timespec ts = {0, 20 * 1000 * 1000};
	nanosleep(&ts, NULL);
	sl_bell_ring(b);
	return NULL;
}

/* A sleeper on another thread wakes long before its timeout. */
static void sleeper_wakes_on_ring(void **state)
{
	(void)state;
	struct sl_bell b;
	assert_int_equal(sl_bell_init(&b), 0);
	sl_bell_arm(&b);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ringer, &b), 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	bool rung = readable(&b, 10000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(sl_bell_disarm(&b, rung));
	pthread_join(t, NULL);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	sl_bell_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(awake_loop_is_not_rung),
		cmocka_unit_test(armed_loop_is_rung_once),
		cmocka_unit_test(sleeper_wakes_on_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
