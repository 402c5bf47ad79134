/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/clock.h"

#include <time.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void never_goes_backwards(void **state)
{
	(void)state;
	uint64_t prev = sl_clock_now_ns();
	for (int i = 0; i < 1000000; i++) {
		uint64_t now = sl_clock_now_ns();
		assert_true(now >= prev);
		prev = now;
	}
}

/* The scaled TSC must agree with the kernel clock over an interval; the bound is loose (10 %)
 * because this checks the calibration arithmetic, not the machine's timing. */
static void tracks_the_kernel_clock(void **state)
{
	(void)state;
	enum sl_clock_source src = sl_clock_init(0);
	uint64_t a = sl_clock_now_ns(), ka = mono_ns();
	struct timespec req = {0, 50 * 1000 * 1000};
	nanosleep(&req, NULL);
	uint64_t b = sl_clock_now_ns(), kb = mono_ns();
	uint64_t d = b - a, kd = kb - ka;
	assert_true(d > kd - kd / 10);
	assert_true(d < kd + kd / 10);
	if (src == SL_CLOCK_TSC)
		assert_true(sl_clock_tsc_hz() > 100000000u);
	else
		assert_int_equal(sl_clock_tsc_hz(), 0);
	assert_true(sl_clock_wall_ns() > 1600000000ull * 1000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(never_goes_backwards),
		cmocka_unit_test(tracks_the_kernel_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
