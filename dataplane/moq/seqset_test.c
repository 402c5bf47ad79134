/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "moq/seqset.h"

#include <stdlib.h>

static void expect_gap(struct sl_seqset *s, uint64_t start, uint64_t end)
{
	struct sl_seqrange g;
	assert_true(sl_seqset_next_gap(s, &g));
	assert_int_equal(g.start, start);
	assert_int_equal(g.end, end);
}

static void expect_no_gap(struct sl_seqset *s)
{
	struct sl_seqrange g;
	assert_false(sl_seqset_next_gap(s, &g));
}

/* In order, nothing is remembered: ahead[] is never even allocated. */
static void in_order_allocates_nothing(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	assert_false(sl_seqset_has_lo(&s));
	for (uint64_t i = 10; i < 1000; i++)
		assert_int_equal(sl_seqset_collect(&s, i), 0);
	assert_true(sl_seqset_has_lo(&s));
	assert_int_equal(s.lo, 1000);
	assert_null(s.ahead);
	/* The first group fixed the start: what lies before it is accounted for. */
	assert_int_equal(sl_seqset_collect(&s, 9), SL_EDUP);
	assert_int_equal(sl_seqset_collect(&s, 0), SL_EDUP);
	assert_true(sl_seqset_done_through(&s, 999));
	assert_false(sl_seqset_done_through(&s, 1000));
	sl_seqset_fini(&s);
}

static void out_of_order_and_duplicates(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	assert_true(sl_seqset_start_at(&s, 0));
	assert_int_equal(sl_seqset_collect(&s, 3), 0);
	assert_int_equal(sl_seqset_collect(&s, 1), 0);
	assert_int_equal(sl_seqset_collect(&s, 3), SL_EDUP);
	assert_int_equal(sl_seqset_collect(&s, 1), SL_EDUP);
	assert_int_equal(s.lo, 0);
	assert_int_equal(s.nahead, 2);
	/* 0 continues 1, then 2 continues 3: lo jumps over everything collected. */
	assert_int_equal(sl_seqset_collect(&s, 0), 0);
	assert_int_equal(s.lo, 2);
	assert_int_equal(sl_seqset_collect(&s, 2), 0);
	assert_int_equal(s.lo, 4);
	assert_int_equal(s.nahead, 0);
	assert_int_equal(sl_seqset_collect(&s, 2), SL_EDUP);
	expect_no_gap(&s);
	sl_seqset_fini(&s);
}

/* A gap is declared only once a group above it is resolved; a straggler after that is late. */
static void gaps_wait_for_a_resolved_group(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	expect_no_gap(&s); /* no start, nothing resolved */
	assert_int_equal(sl_seqset_collect(&s, 0), 0);
	assert_int_equal(sl_seqset_collect(&s, 2), 0);
	assert_int_equal(sl_seqset_collect(&s, 5), 0);
	assert_int_equal(sl_seqset_collect(&s, 6), 0);
	expect_no_gap(&s);
	sl_seqset_resolve(&s, 0); /* below every gap */
	expect_no_gap(&s);
	sl_seqset_resolve(&s, 2);
	expect_gap(&s, 1, 1);
	expect_no_gap(&s);
	assert_int_equal(s.lo, 3);
	assert_int_equal(sl_seqset_collect(&s, 1), SL_EDUP); /* the straggler */
	assert_int_equal(sl_seqset_collect(&s, 4), 0);	     /* still in time */
	sl_seqset_resolve(&s, 1);			     /* rmax stays 2 */
	assert_int_equal(s.rmax, 2);
	sl_seqset_resolve(&s, 6);
	expect_gap(&s, 3, 3);
	expect_no_gap(&s);
	assert_int_equal(s.lo, 7);
	assert_int_equal(s.nahead, 0);
	sl_seqset_fini(&s);
}

/* A resolved group far above several collected ones declares every gap below it, in order. */
static void several_gaps_in_order(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	sl_seqset_start_at(&s, 100);
	assert_int_equal(sl_seqset_collect(&s, 110), 0);
	assert_int_equal(sl_seqset_collect(&s, 105), 0);
	assert_int_equal(sl_seqset_collect(&s, 120), 0);
	sl_seqset_resolve(&s, 115);
	expect_gap(&s, 100, 104);
	expect_gap(&s, 106, 109);
	expect_no_gap(&s); /* 120 is above what was resolved */
	assert_int_equal(s.lo, 111);
	sl_seqset_fini(&s);
}

/* start_at only moves forward, and forgets what was collected below the new start. */
static void start_moves_forward_only(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	assert_true(sl_seqset_start_at(&s, 50));
	assert_false(sl_seqset_start_at(&s, 50));
	assert_false(sl_seqset_start_at(&s, 10));
	assert_int_equal(sl_seqset_collect(&s, 49), SL_EDUP);
	assert_int_equal(sl_seqset_collect(&s, 52), 0);
	assert_int_equal(sl_seqset_collect(&s, 55), 0);
	assert_int_equal(sl_seqset_collect(&s, 60), 0);
	assert_true(sl_seqset_start_at(&s, 55));
	/* 52 is forgotten, 55 continues the start. */
	assert_int_equal(s.lo, 56);
	assert_int_equal(s.nahead, 1);
	assert_int_equal(s.ahead[0], 60);
	sl_seqset_fini(&s);
}

/* A gap of 2^64 - 3 sequences costs one entry, and is declared as one range. */
static void huge_gap_is_one_entry(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	assert_int_equal(sl_seqset_collect(&s, 0), 0);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX - 1), 0);
	assert_int_equal(s.nahead, 1);
	assert_true(s.acap <= 8);
	sl_seqset_resolve(&s, UINT64_MAX - 1);
	expect_gap(&s, 1, UINT64_MAX - 2);
	expect_no_gap(&s);
	assert_int_equal(s.lo, UINT64_MAX);
	assert_false(s.all);
	assert_false(sl_seqset_done_through(&s, UINT64_MAX));
	struct sl_seqrange r;
	assert_true(sl_seqset_missing_through(&s, UINT64_MAX, &r));
	assert_int_equal(r.start, UINT64_MAX);
	assert_int_equal(r.end, UINT64_MAX);
	sl_seqset_fini(&s);
}

/* Once UINT64_MAX is accounted for lo does not wrap to 0: nothing can be collected again. */
static void no_wrap_at_the_top(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	sl_seqset_start_at(&s, UINT64_MAX - 2);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX), 0);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX - 2), 0);
	assert_false(s.all);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX - 1), 0);
	assert_true(s.all);
	assert_int_equal(s.nahead, 0);
	assert_int_equal(sl_seqset_collect(&s, 0), SL_EDUP);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX), SL_EDUP);
	assert_true(sl_seqset_done_through(&s, UINT64_MAX));
	struct sl_seqrange r;
	assert_false(sl_seqset_missing_through(&s, UINT64_MAX, &r));
	assert_false(sl_seqset_start_at(&s, UINT64_MAX));
	sl_seqset_resolve(&s, UINT64_MAX);
	expect_no_gap(&s);
	sl_seqset_fini(&s);

	/* In order up to the top. */
	sl_seqset_init(&s, 0);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX), 0);
	assert_true(s.all);
	assert_int_equal(sl_seqset_collect(&s, 1), SL_EDUP);
	sl_seqset_fini(&s);

	/* A gap declared up to a group at the top. */
	sl_seqset_init(&s, 0);
	sl_seqset_start_at(&s, UINT64_MAX - 10);
	assert_int_equal(sl_seqset_collect(&s, UINT64_MAX), 0);
	sl_seqset_resolve(&s, UINT64_MAX);
	expect_gap(&s, UINT64_MAX - 10, UINT64_MAX - 1);
	expect_no_gap(&s);
	assert_true(s.all);
	sl_seqset_fini(&s);
}

/* The end of a bounded range: done once everything up to it is accounted for. */
static void range_ends(void **state)
{
	(void)state;
	struct sl_seqset s;
	struct sl_seqrange r;
	sl_seqset_init(&s, 0);
	assert_false(sl_seqset_done_through(&s, 0)); /* no start known */
	assert_false(sl_seqset_missing_through(&s, 0, &r));
	sl_seqset_start_at(&s, 5);
	assert_true(sl_seqset_done_through(&s, 4)); /* start past the end: empty range */
	assert_false(sl_seqset_done_through(&s, 5));
	assert_true(sl_seqset_missing_through(&s, 9, &r));
	assert_int_equal(r.start, 5);
	assert_int_equal(r.end, 9);
	assert_int_equal(sl_seqset_collect(&s, 5), 0);
	assert_int_equal(sl_seqset_collect(&s, 7), 0);
	assert_true(sl_seqset_done_through(&s, 5));
	assert_false(sl_seqset_done_through(&s, 7)); /* 6 is missing */
	/* Closing the range at 9: resolve the end, declare the gaps, then the rest. */
	sl_seqset_resolve(&s, 9);
	expect_gap(&s, 6, 6);
	expect_no_gap(&s);
	assert_true(sl_seqset_missing_through(&s, 9, &r));
	assert_int_equal(r.start, 8);
	assert_int_equal(r.end, 9);
	assert_false(sl_seqset_missing_through(&s, 7, &r));
	sl_seqset_fini(&s);
}

/*
 * Every other sequence collected forever: ahead[] stops at its bound, and each time it is full
 * the lowest gap is given up (collect says so with SL_EBOUNDS) instead of growing.
 */
static void memory_is_bounded(void **state)
{
	(void)state;
	struct sl_seqset s;
	sl_seqset_init(&s, 0);
	assert_int_equal(s.max_ahead, SL_SEQSET_AHEAD_MAX);
	assert_int_equal(sl_seqset_collect(&s, 0), 0);
	uint64_t next_gap = 1, rounds = 0;
	for (uint64_t seq = 2; seq < 20000; seq += 2) {
		int rc;
		while ((rc = sl_seqset_collect(&s, seq)) == SL_EBOUNDS) {
			rounds++;
			expect_gap(&s, next_gap, next_gap);
			next_gap += 2;
			expect_no_gap(&s);
		}
		assert_int_equal(rc, 0);
		assert_true(s.nahead <= SL_SEQSET_AHEAD_MAX);
		assert_true(s.acap <= SL_SEQSET_AHEAD_MAX);
	}
	assert_int_equal(rounds, 9999 - SL_SEQSET_AHEAD_MAX);
	sl_seqset_fini(&s);

	/* Out-of-range bounds fall back to the default; a bound of 1 works. */
	sl_seqset_init(&s, UINT32_MAX);
	assert_int_equal(s.max_ahead, SL_SEQSET_AHEAD_MAX);
	sl_seqset_fini(&s);
	sl_seqset_init(&s, 1);
	sl_seqset_start_at(&s, 0);
	assert_int_equal(sl_seqset_collect(&s, 5), 0);
	assert_int_equal(sl_seqset_collect(&s, 3), SL_EBOUNDS);
	assert_int_equal(s.rmax, 5);
	expect_gap(&s, 0, 4);
	/* lo passed 3: the group that asked for room is now late. */
	assert_int_equal(sl_seqset_collect(&s, 3), SL_EDUP);
	assert_int_equal(sl_seqset_collect(&s, 9), 0);
	assert_int_equal(s.acap, 1);
	sl_seqset_fini(&s);
}

static void expect_drop(const struct sl_seqdrop *d, uint64_t start, uint64_t end, uint64_t code)
{
	assert_int_equal(d->start, start);
	assert_int_equal(d->end, end);
	assert_int_equal(d->code, code);
}

static void drops_merge_adjacent_ranges(void **state)
{
	(void)state;
	struct sl_seqdrops d = {0};
	struct sl_seqdrop out;
	assert_false(sl_seqdrops_take(&d, &out));
	assert_false(sl_seqdrops_add(&d, 5, 5, 24, &out));
	assert_false(sl_seqdrops_add(&d, 6, 8, 24, &out)); /* above */
	assert_false(sl_seqdrops_add(&d, 3, 4, 24, &out)); /* below */
	/* Another code, or a range that does not touch, writes the one being built first. */
	assert_true(sl_seqdrops_add(&d, 9, 9, 2, &out));
	expect_drop(&out, 3, 8, 24);
	assert_true(sl_seqdrops_add(&d, 11, 11, 2, &out));
	expect_drop(&out, 9, 9, 2);
	assert_true(sl_seqdrops_add(&d, 11, 11, 2, &out)); /* overlapping is not adjacent */
	expect_drop(&out, 11, 11, 2);
	assert_true(sl_seqdrops_take(&d, &out));
	expect_drop(&out, 11, 11, 2);
	assert_false(sl_seqdrops_take(&d, &out));
}

/* Ranges at opposite ends of the space do not touch through a wrapped + 1. */
static void drops_do_not_wrap(void **state)
{
	(void)state;
	struct sl_seqdrops d = {0};
	struct sl_seqdrop out;
	assert_false(sl_seqdrops_add(&d, UINT64_MAX - 1, UINT64_MAX, 24, &out));
	assert_true(sl_seqdrops_add(&d, 0, 3, 24, &out));
	expect_drop(&out, UINT64_MAX - 1, UINT64_MAX, 24);
	assert_true(sl_seqdrops_add(&d, UINT64_MAX, UINT64_MAX, 24, &out));
	expect_drop(&out, 0, 3, 24);
	assert_false(sl_seqdrops_add(&d, UINT64_MAX - 3, UINT64_MAX - 1, 24, &out));
	assert_true(sl_seqdrops_take(&d, &out));
	expect_drop(&out, UINT64_MAX - 3, UINT64_MAX, 24);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order_allocates_nothing),
		cmocka_unit_test(out_of_order_and_duplicates),
		cmocka_unit_test(gaps_wait_for_a_resolved_group),
		cmocka_unit_test(several_gaps_in_order),
		cmocka_unit_test(start_moves_forward_only),
		cmocka_unit_test(huge_gap_is_one_entry),
		cmocka_unit_test(no_wrap_at_the_top),
		cmocka_unit_test(range_ends),
		cmocka_unit_test(memory_is_bounded),
		cmocka_unit_test(drops_merge_adjacent_ranges),
		cmocka_unit_test(drops_do_not_wrap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
