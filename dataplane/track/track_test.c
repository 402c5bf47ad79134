/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acceptance tests for the live track engine. The first group are C twins of every test in
 * ../shared/reference/moq-lite-track.rs (names kept); the rest cover what shardline adds: the
 * byte budget, many consumers, abort propagation, consumers joining mid-group, waiters.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "track/track.h"

#include <string.h>

#define SEC	UINT64_C(1000000000)
#define MAX_AGE (30 * SEC)

static struct sl_track *new_track(void)
{
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 0; /* the reference has no byte budget */
	struct sl_track *t = sl_track_new("test", 0, &cfg);
	assert_non_null(t);
	return t;
}

static uint64_t append(struct sl_track *t, uint64_t now)
{
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(t, now, &g), 0);
	uint64_t seq = sl_group_sequence(g);
	sl_group_unref(g);
	return seq;
}

static int create(struct sl_track *t, uint64_t seq, uint64_t now)
{
	struct sl_group *g;
	int rc = sl_track_create_group(t, seq, now, &g);
	if (rc == 0)
		sl_group_unref(g);
	return rc;
}

static uint64_t live_groups(struct sl_track *t)
{
	struct sl_track_stats st;
	sl_track_stats(t, &st);
	return st.groups_cached;
}

static uint64_t first_live_sequence(struct sl_track *t)
{
	uint64_t seq;
	assert_int_equal(sl_track_first_cached(t, &seq), 0);
	return seq;
}

/* A consumer's next group, which must be ready now (the reference's assert_group). */
static uint64_t assert_group(struct sl_track_consumer *c)
{
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(c, NULL, &r), 0);
	uint64_t seq = sl_group_sequence(r.group);
	sl_group_reader_release(&r);
	return seq;
}

/* ---- C twins of the reference tests ---- */

static void evict_expired_groups(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	append(t, 0);
	append(t, 0);
	append(t, 0);
	assert_int_equal(live_groups(t), 3);
	assert_int_equal(sl_track_cache_offset(t), 0);

	append(t, MAX_AGE + SEC); /* seq 3 triggers eviction of 0, 1, 2 */
	assert_int_equal(live_groups(t), 1);
	assert_int_equal(first_live_sequence(t), 3);
	assert_int_equal(sl_track_cache_offset(t), 3);
	assert_false(sl_track_is_cached(t, 0));
	assert_false(sl_track_is_cached(t, 1));
	assert_false(sl_track_is_cached(t, 2));
	assert_true(sl_track_is_cached(t, 3));
	sl_track_unref(t);
}

static void evict_keeps_max_sequence(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	append(t, 0);
	append(t, MAX_AGE + SEC);
	assert_int_equal(live_groups(t), 1);
	assert_int_equal(first_live_sequence(t), 1);
	assert_int_equal(sl_track_cache_offset(t), 1);
	sl_track_unref(t);
}

static void no_eviction_when_fresh(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	append(t, 0);
	append(t, 0);
	append(t, 0);
	assert_int_equal(live_groups(t), 3);
	assert_int_equal(sl_track_cache_offset(t), 0);
	sl_track_unref(t);
}

static void consumer_skips_evicted_groups(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	append(t, 0);
	sl_track_consume(t, &c);
	append(t, MAX_AGE + SEC);
	assert_int_equal(assert_group(&c), 1);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void out_of_order_max_sequence_at_front(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	assert_int_equal(create(t, 5, 0), 0);
	assert_int_equal(create(t, 3, 0), 0);
	assert_int_equal(create(t, 4, 0), 0);
	uint64_t max;
	assert_int_equal(sl_track_latest(t, &max), 0);
	assert_int_equal(max, 5);

	assert_int_equal(append(t, MAX_AGE + SEC), 6);
	assert_int_equal(live_groups(t), 1);
	assert_int_equal(first_live_sequence(t), 6);
	assert_false(sl_track_is_cached(t, 3));
	assert_false(sl_track_is_cached(t, 4));
	assert_false(sl_track_is_cached(t, 5));
	assert_true(sl_track_is_cached(t, 6));
	sl_track_unref(t);
}

static void max_sequence_at_front_blocks_trim(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	assert_int_equal(create(t, 5, 0), 0);
	uint64_t now = MAX_AGE + SEC;
	assert_int_equal(create(t, 3, now), 0); /* late; 5 is still max and protected */
	assert_int_equal(live_groups(t), 2);
	assert_int_equal(sl_track_cache_offset(t), 0);

	now += MAX_AGE + SEC;
	assert_int_equal(create(t, 2, now), 0); /* 3 expires; [5, tombstone, 2] */
	assert_int_equal(live_groups(t), 2);
	assert_int_equal(sl_track_cache_offset(t), 0);
	assert_true(sl_track_is_cached(t, 5));
	assert_false(sl_track_is_cached(t, 3));
	assert_true(sl_track_is_cached(t, 2));

	struct sl_track_consumer c;
	sl_track_consume(t, &c);
	assert_int_equal(assert_group(&c), 5); /* the first non-tombstone slot */
	assert_int_equal(assert_group(&c), 2); /* read through the hole */
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void append_finish_cannot_be_rewritten(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_group *g;
	assert_int_equal(sl_track_finish(t), 0); /* an empty track may finish: fin = 0 */
	assert_int_equal(sl_track_finish(t), SL_ECLOSED);
	assert_int_equal(sl_track_append_group(t, 0, &g), SL_ECLOSED);
	sl_track_unref(t);
}

static void finish_after_groups(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_group *g;
	append(t, 0);
	assert_int_equal(sl_track_finish(t), 0);
	assert_int_equal(sl_track_finish(t), SL_ECLOSED);
	assert_int_equal(sl_track_append_group(t, 0, &g), SL_ECLOSED);
	sl_track_unref(t);
}

static void insert_finish_validates_sequence_and_freezes_to_max(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	uint64_t total;
	assert_int_equal(create(t, 5, 0), 0);
	assert_int_equal(sl_track_finish_at(t, 4), SL_ECLOSED);
	assert_int_equal(sl_track_finish_at(t, 10), SL_ECLOSED);
	assert_int_equal(sl_track_finish_at(t, 5), 0);
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_consumer_finished(&c, NULL, &total), 0);
	assert_int_equal(total, 6); /* final_sequence */
	assert_int_equal(sl_track_finish_at(t, 5), SL_ECLOSED);
	assert_int_equal(create(t, 4, 0), 0);
	assert_int_equal(create(t, 5, 0), SL_EDUP); /* below fin, but cached */
	assert_int_equal(create(t, 6, 0), SL_ECLOSED);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void next_group_finishes_without_waiting_for_gaps(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	struct sl_group_reader r;
	assert_int_equal(create(t, 1, 0), 0);
	assert_int_equal(sl_track_finish_at(t, 1), 0);
	sl_track_consume(t, &c);
	assert_int_equal(assert_group(&c), 1);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EEOF);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void get_group_finishes_without_waiting_for_gaps(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	struct sl_group_reader r;
	assert_int_equal(create(t, 1, 0), 0);
	assert_int_equal(sl_track_finish_at(t, 1), 0);
	sl_track_consume(t, &c);
	/* Group 0 is below the final sequence and could still arrive, so it blocks. */
	assert_int_equal(sl_track_consumer_get_group(&c, 0, NULL, &r), SL_EAGAIN);
	assert_int_equal(sl_track_consumer_get_group(&c, 2, NULL, &r), SL_ENOTFOUND);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void append_group_returns_bounds_exceeded_on_sequence_overflow(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_group *g;
	assert_int_equal(create(t, UINT64_MAX, 0), 0);
	assert_int_equal(sl_track_append_group(t, 0, &g), SL_EBOUNDS);
	assert_int_equal(sl_track_finish(t), SL_EBOUNDS);
	assert_int_equal(sl_track_finish_at(t, UINT64_MAX), SL_EBOUNDS);
	sl_track_unref(t);
}

/* ---- shardline's additions ---- */

static struct sl_slice frame_of(size_t n, uint8_t fill)
{
	struct sl_buf *b = sl_buf_alloc(n);
	memset(b->data, fill, n);
	b->len = (uint32_t)n;
	return sl_slice_of(b);
}

static void duplicates_rejected_only_while_cached(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_stats st;
	assert_int_equal(create(t, 7, 0), 0);
	assert_int_equal(create(t, 7, 0), SL_EDUP);
	assert_int_equal(create(t, 9, MAX_AGE + SEC), 0); /* evicts 7 */
	assert_int_equal(create(t, 7, MAX_AGE + SEC), 0); /* forgotten, so accepted again */
	sl_track_stats(t, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.evicted_age, 1);
	sl_track_unref(t);
}

static void byte_budget_evicts_oldest_never_newest(void **state)
{
	(void)state;
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 3000;
	struct sl_track *t = sl_track_new("budget", 0, &cfg);
	struct sl_track_stats st;
	for (int i = 0; i < 5; i++) {
		struct sl_group *g;
		assert_int_equal(sl_track_append_group(t, 0, &g), 0);
		assert_int_equal(sl_group_write_frame(g, frame_of(1000, (uint8_t)i)), 0);
		assert_int_equal(sl_group_finish(g), 0);
		sl_group_unref(g);
	}
	sl_track_stats(t, &st);
	assert_int_equal(st.groups_cached, 3);
	assert_int_equal(st.bytes_cached, 3000);
	assert_int_equal(st.evicted_budget, 2);
	assert_int_equal(st.evicted_bytes, 2000);
	assert_int_equal(first_live_sequence(t), 2);

	/* A single newest group larger than the budget stays: it is never evicted. */
	struct sl_group *big;
	assert_int_equal(sl_track_append_group(t, 0, &big), 0);
	assert_int_equal(sl_group_write_frame(big, frame_of(5000, 9)), 0);
	sl_track_stats(t, &st);
	assert_int_equal(st.groups_cached, 1);
	assert_true(sl_track_is_cached(t, 5));
	assert_int_equal(st.bytes_cached, 5000);
	sl_group_unref(big);
	sl_track_unref(t);
}

/* Frames written into an old group that was evicted no longer count against the cache. */
static void evicted_group_keeps_readers_and_leaves_accounting(void **state)
{
	(void)state;
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 1500;
	struct sl_track *t = sl_track_new("budget", 0, &cfg);
	struct sl_track_consumer c;
	struct sl_group *old, *newer;
	struct sl_group_reader r;
	struct sl_slice f;
	struct sl_track_stats st;
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_append_group(t, 0, &old), 0);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
	assert_int_equal(sl_track_append_group(t, 0, &newer), 0);
	assert_int_equal(sl_group_write_frame(newer, frame_of(1000, 1)), 0);
	assert_int_equal(sl_group_write_frame(old, frame_of(1000, 2)),
			 0); /* over budget: old goes */
	assert_false(sl_track_is_cached(t, 0));
	assert_int_equal(sl_group_write_frame(old, frame_of(1000, 3)), 0);
	sl_track_stats(t, &st);
	assert_int_equal(st.bytes_cached, 1000);
	/* The reader that already held the old group still gets both frames. */
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
	assert_int_equal(sl_slice_data(&f)[0], 2);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
	assert_int_equal(sl_slice_data(&f)[0], 3);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EAGAIN);
	sl_group_reader_release(&r);
	sl_group_unref(old);
	sl_group_unref(newer);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

struct sub {
	struct sl_waiter w;
	struct sl_track_consumer c;
	struct sl_group_reader r;
	int woken;
	uint64_t frames;
	uint64_t bytes;
};

static void sub_wake(struct sl_waiter *w)
{
	((struct sub *)w)->woken++;
}

/* Drains whatever is readable now; returns the last poll result. */
static int sub_drain(struct sub *s)
{
	for (;;) {
		if (s->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&s->c, &s->w, &s->r);
			if (rc != 0)
				return rc;
		}
		struct sl_slice f;
		int rc = sl_group_read_frame(&s->r, &s->w, &f);
		if (rc == SL_EEOF) {
			sl_group_reader_release(&s->r);
			continue;
		}
		if (rc != 0)
			return rc;
		s->frames++;
		s->bytes += f.len;
	}
}

static void many_consumers_share_frames_without_copies(void **state)
{
	(void)state;
	enum { N = 1000, GROUPS = 3, FRAMES = 10 };
	static struct sub subs[N];
	struct sl_track *t = new_track();
	for (int i = 0; i < N; i++) {
		memset(&subs[i], 0, sizeof(subs[i]));
		sl_waiter_init(&subs[i].w, sub_wake);
		sl_track_consume(t, &subs[i].c);
		assert_int_equal(sub_drain(&subs[i]), SL_EAGAIN);
	}
	uint64_t copied = sl_buf_stats()->bytes_copied;
	struct sl_buf *keep = NULL;
	for (int g = 0; g < GROUPS; g++) {
		struct sl_group *grp;
		assert_int_equal(sl_track_append_group(t, 0, &grp), 0);
		for (int f = 0; f < FRAMES; f++) {
			struct sl_slice fr = frame_of(1200, (uint8_t)f);
			if (keep == NULL)
				keep = sl_buf_ref(fr.buf);
			assert_int_equal(sl_group_write_frame(grp, fr), 0);
			for (int i = 0; i < N; i++)
				if (subs[i].woken)
					assert_int_equal(sub_drain(&subs[i]), SL_EAGAIN);
		}
		assert_int_equal(sl_group_finish(grp), 0);
		sl_group_unref(grp);
	}
	assert_int_equal(sl_track_finish(t), 0);
	for (int i = 0; i < N; i++) {
		assert_int_equal(sub_drain(&subs[i]), SL_EEOF);
		assert_int_equal(subs[i].frames, GROUPS * FRAMES);
		assert_int_equal(subs[i].bytes, GROUPS * FRAMES * 1200);
		sl_track_consumer_release(&subs[i].c, &subs[i].w);
	}
	assert_int_equal(sl_buf_stats()->bytes_copied, copied);
	/* Only the group and this test hold the first frame; no consumer leaked a reference. */
	assert_int_equal(sl_buf_refcnt(keep), 2);
	sl_track_unref(t);
	assert_int_equal(sl_buf_refcnt(keep), 1);
	sl_buf_unref(keep);
}

static void abort_propagates_to_waiters_groups_and_producers(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sub waiting = {0}, reading = {0};
	struct sl_group *g;
	struct sl_slice f;
	sl_waiter_init(&waiting.w, sub_wake);
	sl_waiter_init(&reading.w, sub_wake);
	assert_int_equal(sl_track_append_group(t, 0, &g), 0);
	assert_int_equal(sl_group_write_frame(g, frame_of(10, 1)), 0);
	sl_track_consume(t, &reading.c);
	assert_int_equal(sl_track_consumer_next_group(&reading.c, NULL, &reading.r), 0);
	assert_int_equal(sl_group_read_frame(&reading.r, NULL, &f), 0);
	assert_int_equal(sl_group_read_frame(&reading.r, &reading.w, &f), SL_EAGAIN);
	sl_track_consume(t, &waiting.c);
	waiting.c.index = 1;
	assert_int_equal(sl_track_consumer_next_group(&waiting.c, &waiting.w, &waiting.r),
			 SL_EAGAIN);

	assert_int_equal(sl_track_abort(t, SL_ECANCEL), 0);
	assert_int_equal(waiting.woken, 1);
	assert_int_equal(reading.woken, 1);
	assert_int_equal(sl_group_read_frame(&reading.r, NULL, &f), SL_ECANCEL);
	assert_int_equal(sl_track_consumer_next_group(&waiting.c, NULL, &waiting.r), SL_ECANCEL);
	assert_int_equal(sl_track_consumer_closed(&waiting.c, NULL), SL_ECANCEL);
	assert_int_equal(sl_group_write_frame(g, frame_of(10, 2)), SL_ECANCEL);
	assert_int_equal(sl_track_append_group(t, 0, &g), SL_ECANCEL);
	assert_int_equal(sl_track_finish(t), SL_ECANCEL);
	assert_int_equal(sl_track_abort(t, SL_EDROPPED), SL_ECANCEL);
	assert_int_equal(sl_track_abort(t, 0), SL_EINVAL);
	sl_group_unref(g);
	sl_group_reader_release(&reading.r);
	sl_track_consumer_release(&reading.c, &reading.w);
	sl_track_consumer_release(&waiting.c, &waiting.w);
	sl_track_unref(t);
}

static void consumer_created_mid_group_reads_from_first_frame(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_group *g;
	struct sub s = {0};
	sl_waiter_init(&s.w, sub_wake);
	assert_int_equal(sl_track_append_group(t, 0, &g), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sl_group_write_frame(g, frame_of(100, (uint8_t)i)), 0);
	sl_track_consume(t, &s.c);
	assert_int_equal(sub_drain(&s), SL_EAGAIN);
	assert_int_equal(s.frames, 3);
	assert_true(sl_waiter_armed(&s.w));
	assert_int_equal(sl_group_write_frame(g, frame_of(100, 3)), 0);
	assert_int_equal(s.woken, 1);
	assert_int_equal(sub_drain(&s), SL_EAGAIN);
	assert_int_equal(s.frames, 4);
	assert_int_equal(sl_group_finish(g), 0);
	assert_int_equal(s.woken, 2);
	assert_int_equal(sl_group_finish(g), SL_ECLOSED);
	assert_int_equal(sl_group_write_frame(g, frame_of(1, 0)), SL_ECLOSED);
	assert_int_equal(sub_drain(&s), SL_EAGAIN); /* waits for the next group */
	sl_group_unref(g);
	sl_track_consumer_release(&s.c, &s.w);
	sl_track_unref(t);
}

static void aborted_group_fails_readers_but_not_the_track(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_group *g;
	struct sl_group_reader r;
	struct sl_slice f;
	struct sl_track_consumer c;
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_append_group(t, 0, &g), 0);
	assert_int_equal(sl_group_write_frame(g, frame_of(10, 1)), 0);
	assert_int_equal(sl_group_abort(g, SL_ECANCEL), 0);
	assert_int_equal(sl_group_abort(g, SL_ECANCEL), SL_ECLOSED);
	assert_int_equal(sl_group_abort(g, 1), SL_EINVAL);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_ECANCEL);
	sl_group_reader_release(&r);
	sl_group_reader_release(&r);
	sl_group_unref(g);
	assert_int_equal(append(t, 0), 1);
	assert_int_equal(assert_group(&c), 1);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

static void waiters_fire_on_group_finish_and_abort(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sub s = {0};
	sl_waiter_init(&s.w, sub_wake);
	sl_track_consume(t, &s.c);
	assert_int_equal(sub_drain(&s), SL_EAGAIN);
	append(t, 0);
	assert_int_equal(s.woken, 1);
	assert_int_equal(sub_drain(&s), SL_EAGAIN);
	assert_int_equal(sl_track_consumer_closed(&s.c, NULL), SL_EAGAIN);
	struct sl_track_consumer c2;
	struct sl_waiter w2;
	int fired = 0;
	(void)fired;
	sl_track_consume(t, &c2);
	sl_waiter_init(&w2, NULL);
	assert_int_equal(sl_track_consumer_closed(&c2, &w2), SL_EAGAIN);
	assert_true(sl_waiter_armed(&w2));
	assert_int_equal(sl_track_finish(t), 0);
	assert_false(sl_waiter_armed(&w2));
	assert_int_equal(sl_track_consumer_closed(&c2, NULL), 0);
	sl_track_consumer_release(&c2, &w2);
	sl_group_reader_release(&s.r);
	sl_track_consumer_release(&s.c, &s.w);
	sl_track_unref(t);
}

/* A reader dropped while its waiter is armed on the group: freeing the group disarms it. */
static void freeing_a_group_disarms_its_waiters(void **state)
{
	(void)state;
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 0;
	cfg.max_age_ns = 1;
	struct sl_track *t = sl_track_new("t", 0, &cfg);
	struct sl_track_consumer c;
	struct sl_group_reader r;
	struct sl_waiter w;
	struct sl_slice f;
	sl_waiter_init(&w, NULL);
	sl_track_consume(t, &c);
	append(t, 0);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
	assert_int_equal(sl_group_read_frame(&r, &w, &f), SL_EAGAIN);
	assert_true(sl_waiter_armed(&w));
	sl_group_reader_release(&r);
	append(t, 10); /* evicts group 0: its last reference goes */
	assert_false(sl_waiter_armed(&w));
	sl_track_consumer_release(&c, &w);
	sl_track_unref(t);
}

static void start_at_get_group_and_latest(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	struct sl_group_reader r;
	uint64_t seq;
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_consumer_latest(&c, &seq), SL_ENOTFOUND);
	for (int i = 0; i < 5; i++)
		append(t, 0);
	assert_int_equal(sl_track_consumer_latest(&c, &seq), 0);
	assert_int_equal(seq, 4);
	sl_track_consumer_start_at(&c, 3);
	assert_int_equal(assert_group(&c), 3);
	assert_int_equal(assert_group(&c), 4);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EAGAIN);
	assert_int_equal(sl_track_consumer_get_group(&c, 1, NULL, &r), 0);
	assert_int_equal(sl_group_sequence(r.group), 1);
	sl_group_reader_release(&r);
	assert_int_equal(sl_track_consumer_get_group(&c, 9, NULL, &r), SL_EAGAIN);
	struct sl_track_stats st;
	sl_track_stats(t, &st);
	assert_int_equal(st.consumers, 1);
	sl_track_consumer_release(&c, NULL);
	sl_track_stats(t, &st);
	assert_int_equal(st.consumers, 0);
	sl_track_unref(t);
}

/* An old max group pinned at the front while many late groups expire behind it: eviction must
 * keep working (and stay cheap) and consumers must still read everything cached. */
static void pinned_max_with_many_late_groups(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	assert_int_equal(create(t, 1000000, 0), 0);
	uint64_t now = 0;
	for (uint64_t s = 0; s < 5000; s++) {
		now += SEC;
		assert_int_equal(create(t, s, now), 0);
	}
	/* Groups created more than 30 s before the last insert are gone, the pinned max stays. */
	assert_int_equal(live_groups(t), 1 + 31);
	assert_true(sl_track_is_cached(t, 1000000));
	assert_false(sl_track_is_cached(t, 4968));
	assert_true(sl_track_is_cached(t, 4969));
	assert_int_equal(sl_track_cache_offset(t), 0);
	struct sl_track_consumer c;
	sl_track_consume(t, &c);
	assert_int_equal(assert_group(&c), 1000000);
	assert_int_equal(assert_group(&c), 4969);
	sl_track_consumer_release(&c, NULL);
	/* A new max releases the pin; the old max then expires like any group. */
	assert_int_equal(create(t, 2000000, now + MAX_AGE + SEC), 0);
	assert_int_equal(live_groups(t), 1);
	assert_int_equal(sl_track_cache_offset(t), 5001);
	sl_track_unref(t);
}

static void single_frame_groups_and_bad_arguments(void **state)
{
	(void)state;
	struct sl_track *t = new_track();
	struct sl_track_consumer c;
	struct sl_group_reader r;
	struct sl_slice f;
	assert_null(sl_track_new(NULL, 0, NULL));
	assert_string_equal(sl_track_name(t), "test");
	assert_int_equal(sl_track_priority(t), 0);
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_write_frame(t, 0, frame_of(5, 7)), 0);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
	assert_int_equal(sl_group_frames(r.group), 1);
	assert_int_equal(sl_group_bytes(r.group), 5);
	assert_int_equal(sl_group_state(r.group), 1);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EEOF);
	sl_group_reader_release(&r);
	assert_int_equal(sl_track_finish(t), 0);
	assert_int_equal(sl_track_write_frame(t, 0, frame_of(5, 7)), SL_ECLOSED);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
}

/*
 * Frame timestamps: a group without any has no array and reads SL_GROUP_NO_TS; the first
 * timestamped frame creates it (earlier frames read as none), it grows with the frames past the
 * first capacity, and an error releases the frame as sl_group_write_frame does.
 */
static void frame_timestamps_stored_only_when_used(void **state)
{
	(void)state;
	struct sl_track *t = sl_track_new("ts", 0, NULL);
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(t, 1, &g), 0);
	assert_int_equal(sl_group_write_frame(g, sl_slice_of(sl_buf_from("a", 1))), 0);
	assert_int_equal(sl_group_write_frame_ts(g, sl_slice_of(sl_buf_from("b", 1)), 0), 0);
	for (uint64_t i = 0; i < 20; i++) /* past the first capacity of 8 */
		assert_int_equal(
			sl_group_write_frame_ts(g, sl_slice_of(sl_buf_from("c", 1)), 100 - i), 0);
	assert_int_equal(sl_group_write_frame(g, sl_slice_of(sl_buf_from("d", 1))), 0);
	struct sl_group_reader r;
	sl_group_reader_init(&r, g);
	struct sl_slice f;
	uint64_t ts;
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
	assert_int_equal(ts, SL_GROUP_NO_TS);
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
	assert_int_equal(ts, 0);
	for (uint64_t i = 0; i < 20; i++) {
		assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
		assert_int_equal(ts, 100 - i);
	}
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
	assert_int_equal(ts, SL_GROUP_NO_TS);
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), SL_EAGAIN);
	sl_group_finish(g);
	assert_int_equal(sl_group_write_frame_ts(g, sl_slice_of(sl_buf_from("e", 1)), 1),
			 SL_ECLOSED);
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), SL_EEOF);
	sl_group_reader_release(&r);
	/* A group written without timestamps reads none. */
	struct sl_group *h;
	assert_int_equal(sl_track_append_group(t, 2, &h), 0);
	assert_int_equal(sl_group_write_frame(h, sl_slice_of(sl_buf_from("x", 1))), 0);
	sl_group_reader_init(&r, h);
	ts = 7;
	assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
	assert_int_equal(ts, SL_GROUP_NO_TS);
	sl_group_reader_release(&r);
	sl_group_unref(g);
	sl_group_unref(h);
	sl_track_unref(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_timestamps_stored_only_when_used),
		cmocka_unit_test(evict_expired_groups),
		cmocka_unit_test(evict_keeps_max_sequence),
		cmocka_unit_test(no_eviction_when_fresh),
		cmocka_unit_test(consumer_skips_evicted_groups),
		cmocka_unit_test(out_of_order_max_sequence_at_front),
		cmocka_unit_test(max_sequence_at_front_blocks_trim),
		cmocka_unit_test(append_finish_cannot_be_rewritten),
		cmocka_unit_test(finish_after_groups),
		cmocka_unit_test(insert_finish_validates_sequence_and_freezes_to_max),
		cmocka_unit_test(next_group_finishes_without_waiting_for_gaps),
		cmocka_unit_test(get_group_finishes_without_waiting_for_gaps),
		cmocka_unit_test(append_group_returns_bounds_exceeded_on_sequence_overflow),
		cmocka_unit_test(duplicates_rejected_only_while_cached),
		cmocka_unit_test(byte_budget_evicts_oldest_never_newest),
		cmocka_unit_test(evicted_group_keeps_readers_and_leaves_accounting),
		cmocka_unit_test(many_consumers_share_frames_without_copies),
		cmocka_unit_test(abort_propagates_to_waiters_groups_and_producers),
		cmocka_unit_test(consumer_created_mid_group_reads_from_first_frame),
		cmocka_unit_test(aborted_group_fails_readers_but_not_the_track),
		cmocka_unit_test(waiters_fire_on_group_finish_and_abort),
		cmocka_unit_test(freeing_a_group_disarms_its_waiters),
		cmocka_unit_test(start_at_get_group_and_latest),
		cmocka_unit_test(pinned_max_with_many_late_groups),
		cmocka_unit_test(single_frame_groups_and_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
