/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/clock.h"
#include "core/trace.h"

#include <stdlib.h>

static void stamps_round_trip_and_short_or_foreign_frames_carry_none(void **state)
{
	(void)state;
	uint8_t p[64];
	uint64_t w, n;
	sl_frame_stamp(p, sizeof(p), UINT64_C(0x0102030405060708), 42);
	assert_int_equal(sl_frame_read_stamp(p, sizeof(p), &w, &n), 1);
	assert_int_equal(w, UINT64_C(0x0102030405060708));
	assert_int_equal(n, 42);
	assert_int_equal(sl_frame_read_stamp(p, SL_FRAME_STAMP_LEN - 1, &w, &n), 0);
	p[0] = 'X';
	assert_int_equal(sl_frame_read_stamp(p, sizeof(p), &w, &n), 0);
}

/* Every value lands in the bucket whose range holds it, buckets are ordered and at most
 * 12.5 % wide, and huge values share the last one. */
static void buckets_hold_their_values(void **state)
{
	(void)state;
	for (size_t i = 1; i < SL_TRACE_BUCKETS; i++)
		assert_true(sl_trace_bucket_low(i) > sl_trace_bucket_low(i - 1));
	srand(7);
	for (int k = 0; k < 100000; k++) {
		uint64_t v = (uint64_t)rand() << (rand() % 20);
		size_t b = sl_trace_bucket(v);
		assert_true(sl_trace_bucket_low(b) <= v);
		if (b + 1 < SL_TRACE_BUCKETS) {
			assert_true(v < sl_trace_bucket_low(b + 1));
			assert_true(v - sl_trace_bucket_low(b) <= v / 8 + 1);
		}
	}
	for (uint64_t v = 0; v < 8; v++)
		assert_int_equal(sl_trace_bucket(v), v);
	assert_int_equal(sl_trace_bucket(UINT64_MAX), SL_TRACE_BUCKETS - 1);
}

static void quantiles_of_a_known_distribution(void **state)
{
	(void)state;
	struct sl_trace *t = malloc(sizeof(*t));
	sl_trace_init(t, 1);
	assert_int_equal(sl_trace_quantile(t->hist[SL_TRACE_QUEUED], 0, 0.5), 0);
	/* 1..1000 µs: p50 near 500 µs, p99 near 990 µs, within a bucket's width. */
	for (uint64_t us = 1; us <= 1000; us++)
		sl_trace_record(t, SL_TRACE_QUEUED, us * 1000);
	uint64_t p50 = sl_trace_quantile(t->hist[SL_TRACE_QUEUED], 1000, 0.5);
	uint64_t p99 = sl_trace_quantile(t->hist[SL_TRACE_QUEUED], 1000, 0.99);
	assert_true(p50 > 440000 && p50 <= 501000);
	assert_true(p99 > 870000 && p99 <= 991000);
	assert_int_equal(t->count[SL_TRACE_QUEUED], 1000);
	free(t);
}

/* Only stamped frames whose number the sampling picks are traced; queued ones count as sent
 * at the next sl_trace_sent, which forgets them. */
static void sampling_and_sent_after_queued(void **state)
{
	(void)state;
	struct sl_trace *t = malloc(sizeof(*t));
	sl_trace_init(t, 4);
	uint8_t p[32];
	uint64_t now = sl_clock_wall_ns();
	for (uint64_t n = 0; n < 16; n++) {
		sl_frame_stamp(p, sizeof(p), now - 1000000, n);
		sl_trace_frame(t, SL_TRACE_QUEUED, p, sizeof(p));
	}
	sl_trace_frame(t, SL_TRACE_QUEUED, (const uint8_t *)"not a stamped frame at all......", 32);
	assert_int_equal(t->count[SL_TRACE_QUEUED], 4);
	assert_int_equal(t->npending, 4);
	/* At least the millisecond since the stamp. */
	assert_true(sl_trace_quantile(t->hist[SL_TRACE_QUEUED], 4, 0.0) >= 880000);
	sl_trace_sent(t);
	assert_int_equal(t->count[SL_TRACE_SENT], 4);
	assert_int_equal(t->npending, 0);
	sl_trace_sent(t);
	assert_int_equal(t->count[SL_TRACE_SENT], 4);
	/* Off: nothing. */
	sl_trace_init(t, 0);
	sl_trace_frame(t, SL_TRACE_RELAY_RX, p, sizeof(p));
	sl_trace_frame(NULL, SL_TRACE_RELAY_RX, p, sizeof(p));
	assert_int_equal(t->count[SL_TRACE_RELAY_RX], 0);
	assert_string_equal(sl_trace_stage_name(SL_TRACE_SENT), "sent");
	assert_string_equal(sl_trace_stage_name(SL_TRACE_STAGES), "?");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stamps_round_trip_and_short_or_foreign_frames_carry_none),
		cmocka_unit_test(buckets_hold_their_values),
		cmocka_unit_test(quantiles_of_a_known_distribution),
		cmocka_unit_test(sampling_and_sent_after_queued),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
