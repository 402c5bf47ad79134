/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardctl sub's follower: when it subscribes, when it waits again, when it gives up, and how
 * a finished track is told from a publisher that left.
 */
#include "core/test_common.h"

#include "control/sub_follow.h"
#include "core/err.h"

#define MS UINT64_C(1000000)
#define S  (1000 * MS)

static void test_waits_for_announcement(void **state)
{
	(void)state;
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, 0, 0);
	assert_int_equal(sl_sub_follow_next(&f, 0), SL_SUB_FOLLOW_NOTHING);
	/* No timeout: an hour later it still waits. */
	assert_int_equal(sl_sub_follow_next(&f, 3600 * S), SL_SUB_FOLLOW_NOTHING);
	sl_sub_follow_announce(&f, true, 3600 * S);
	assert_int_equal(sl_sub_follow_next(&f, 3600 * S), SL_SUB_FOLLOW_SUBSCRIBE);
	sl_sub_follow_subscribed(&f, 0, 3600 * S);
	assert_int_equal(f.state, SL_SUB_FOLLOW_SUBSCRIBED);
	assert_int_equal(f.subscriptions, 1);
	assert_int_equal(sl_sub_follow_next(&f, 3601 * S), SL_SUB_FOLLOW_NOTHING);
}

static void test_timeout(void **state)
{
	(void)state;
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, 1 * S, 10 * S);
	assert_int_equal(sl_sub_follow_next(&f, 10 * S + 999 * MS), SL_SUB_FOLLOW_NOTHING);
	assert_int_equal(sl_sub_follow_next(&f, 11 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_ETIMEDOUT);
	assert_int_equal(f.subscriptions, 0);
	/* Ended stays ended. */
	sl_sub_follow_announce(&f, true, 11 * S);
	assert_int_equal(sl_sub_follow_next(&f, 11 * S), SL_SUB_FOLLOW_DONE);

	/* An announcement heard by the deadline wins. */
	sl_sub_follow_init(&f, 1 * S, 0);
	sl_sub_follow_announce(&f, true, 1 * S);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_SUBSCRIBE);
}

static struct sl_sub_follow subscribed(uint64_t timeout_ns)
{
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, timeout_ns, 0);
	sl_sub_follow_announce(&f, true, 0);
	assert_int_equal(sl_sub_follow_next(&f, 0), SL_SUB_FOLLOW_SUBSCRIBE);
	sl_sub_follow_subscribed(&f, 0, 0);
	sl_sub_follow_delivered(&f);
	return f;
}

static void test_finished_track_ends(void **state)
{
	(void)state;
	/* A clean end is the publisher's last word, even when its broadcast is withdrawn first
	 * (a subscriber that reads late sees both at once). */
	struct sl_sub_follow f = subscribed(0);
	sl_sub_follow_announce(&f, false, 5 * S);
	sl_sub_follow_track_end(&f, SL_EEOF, 5 * S);
	assert_int_equal(sl_sub_follow_next(&f, 5 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, 0);
	sl_sub_follow_announce(&f, true, 6 * S);
	assert_int_equal(sl_sub_follow_next(&f, 6 * S), SL_SUB_FOLLOW_DONE);
}

static void test_replaced_publisher(void **state)
{
	(void)state;
	/* The old publisher's track is dropped; a new publisher is announced before the pause
	 * is over: subscribed after the pause, with a fresh wait clock. */
	struct sl_sub_follow f = subscribed(2 * S);
	sl_sub_follow_announce(&f, false, 5 * S);
	sl_sub_follow_announce(&f, true, 5 * S);
	sl_sub_follow_track_end(&f, SL_EDROPPED, 5 * S);
	assert_int_equal(sl_sub_follow_next(&f, 5 * S), SL_SUB_FOLLOW_NOTHING);
	assert_int_equal(sl_sub_follow_next(&f, 5 * S + SL_SUB_FOLLOW_RETRY_NS),
			 SL_SUB_FOLLOW_SUBSCRIBE);
	sl_sub_follow_subscribed(&f, 0, 5 * S + SL_SUB_FOLLOW_RETRY_NS);
	assert_int_equal(f.subscriptions, 2);
	assert_int_equal(f.waits, 2);
}

static void test_not_found_retries_within_the_same_wait(void **state)
{
	(void)state;
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, 1 * S, 0);
	sl_sub_follow_announce(&f, true, 0);
	assert_int_equal(sl_sub_follow_next(&f, 0), SL_SUB_FOLLOW_SUBSCRIBE);
	sl_sub_follow_subscribed(&f, 0, 0);
	/* Refused before any group: asked again after a pause, on the first wait's clock. */
	sl_sub_follow_track_end(&f, SL_ENOTFOUND, 100 * MS);
	assert_int_equal(f.state, SL_SUB_FOLLOW_WAITING);
	assert_int_equal(sl_sub_follow_next(&f, 100 * MS), SL_SUB_FOLLOW_NOTHING);
	assert_int_equal(sl_sub_follow_next(&f, 100 * MS + SL_SUB_FOLLOW_RETRY_NS),
			 SL_SUB_FOLLOW_SUBSCRIBE);
	/* Busy: the same. */
	sl_sub_follow_subscribed(&f, SL_EBUSY, 400 * MS);
	assert_int_equal(sl_sub_follow_next(&f, 500 * MS), SL_SUB_FOLLOW_NOTHING);
	sl_sub_follow_announce(&f, false, 500 * MS);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_ETIMEDOUT);
	assert_int_equal(f.waits, 1);
}

static void test_dropped_waits_again(void **state)
{
	(void)state;
	/* A publisher that leaves in the middle of its track: the track is dropped before the
	 * withdrawal arrives. Asked again after a pause, by then on the new announcement. */
	struct sl_sub_follow f = subscribed(0);
	sl_sub_follow_track_end(&f, SL_EDROPPED, 5 * S);
	assert_int_equal(f.state, SL_SUB_FOLLOW_WAITING);
	assert_int_equal(f.waits, 2);
	assert_int_equal(sl_sub_follow_next(&f, 5 * S), SL_SUB_FOLLOW_NOTHING);
	sl_sub_follow_announce(&f, false, 5 * S + 1 * MS);
	assert_int_equal(sl_sub_follow_next(&f, 6 * S), SL_SUB_FOLLOW_NOTHING);
	sl_sub_follow_announce(&f, true, 7 * S);
	assert_int_equal(sl_sub_follow_next(&f, 7 * S), SL_SUB_FOLLOW_SUBSCRIBE);
}

static void test_errors_end(void **state)
{
	(void)state;
	struct sl_sub_follow f = subscribed(0);
	sl_sub_follow_track_end(&f, SL_ERANGE, 1 * S);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_ERANGE);

	sl_sub_follow_init(&f, 0, 0);
	sl_sub_follow_announce(&f, true, 0);
	assert_int_equal(sl_sub_follow_next(&f, 0), SL_SUB_FOLLOW_SUBSCRIBE);
	sl_sub_follow_subscribed(&f, SL_EINVAL, 0);
	assert_int_equal(sl_sub_follow_next(&f, 0), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_EINVAL);
}

static void test_connection_closed(void **state)
{
	(void)state;
	/* While waiting (a relay closes idle connections): reconnect, and forget what the old
	 * connection announced. */
	struct sl_sub_follow f;
	sl_sub_follow_init(&f, 10 * S, 0);
	sl_sub_follow_announce(&f, true, 0);
	sl_sub_follow_announce(&f, false, 0);
	sl_sub_follow_closed(&f, SL_ECLOSED, 1 * S);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_RECONNECT);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_NOTHING);
	/* ... but not past the deadline. */
	sl_sub_follow_closed(&f, SL_ECLOSED, 10 * S);
	assert_int_equal(sl_sub_follow_next(&f, 10 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_ETIMEDOUT);

	/* While subscribed: the end, as before. */
	f = subscribed(0);
	sl_sub_follow_closed(&f, SL_ECLOSED, 1 * S);
	assert_int_equal(sl_sub_follow_next(&f, 1 * S), SL_SUB_FOLLOW_DONE);
	assert_int_equal(f.end, SL_ECLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_for_announcement),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_finished_track_ends),
		cmocka_unit_test(test_replaced_publisher),
		cmocka_unit_test(test_not_found_retries_within_the_same_wait),
		cmocka_unit_test(test_dropped_waits_again),
		cmocka_unit_test(test_errors_end),
		cmocka_unit_test(test_connection_closed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
