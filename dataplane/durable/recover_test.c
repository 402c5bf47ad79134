/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Recovery of the segment index from segment events and an object listing: the rules of
 * docs/durable.md ("Recovery") case by case, with real encoded events.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "durable/recover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct sl_stream_set *streams;
static struct sl_drecovery *rec;

static int setup(void **state)
{
	(void)state;
	struct sl_stream_def d[2];
	memset(d, 0, sizeof(d));
	d[0].id = 1;
	snprintf(d[0].name, sizeof(d[0].name), "orders");
	d[0].partitions = 4;
	d[1].id = 2;
	snprintf(d[1].name, sizeof(d[1].name), "clicks");
	d[1].partitions = 1;
	streams = sl_stream_set_new(d, 2, 1);
	assert_non_null(streams);
	assert_int_equal(sl_drecovery_new(streams, &rec), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sl_drecovery_free(rec);
	sl_stream_set_unref(streams);
	return 0;
}

/* Adds an event of one range (stream, partition, [first, first + count)) in object key whose
 * batch is 100 bytes at offset 0, written at (boot, seq) by worker 0. */
static void event(uint64_t boot, uint64_t seq, const char *key, uint64_t stream, uint32_t p,
		  uint64_t first, uint64_t count)
{
	struct sl_seg_range r = {stream, p, first, count, 0, 100, count * 10, 0, NULL};
	struct sl_seg_event ev = {.boot = boot,
				  .worker = 0,
				  .seq = seq,
				  .wall_ms = 1000 + seq,
				  .object_size = 100,
				  .nranges = 1,
				  .ranges = &r};
	snprintf(ev.key, sizeof(ev.key), "%s", key);
	struct sl_buf *b;
	assert_int_equal(sl_seg_encode(&ev, &b), 0);
	const char *why = NULL;
	assert_int_equal(sl_drecovery_add_event(rec, b->data, b->len, &why), 0);
	sl_buf_unref(b);
}

static void object(const char *key, uint64_t size)
{
	assert_int_equal(sl_drecovery_add_object(rec, key, size), 0);
}

static const struct sl_drec_part *part(uint64_t stream, uint32_t p)
{
	return sl_drecovery_find(rec, stream, p);
}

static void expect_segs(const struct sl_drec_part *pt, uint32_t n, const uint64_t *firsts,
			const uint64_t *counts, const char *const *keys)
{
	assert_non_null(pt);
	assert_int_equal(pt->nsegs, n);
	for (uint32_t i = 0; i < n; i++) {
		assert_int_equal(pt->segs[i].first, firsts[i]);
		assert_int_equal(pt->segs[i].count, counts[i]);
		assert_string_equal(pt->segs[i].obj->key, keys[i]);
	}
}

static bool is_orphan(const char *key)
{
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	for (uint64_t i = 0; i < st.orphans; i++)
		if (strcmp(sl_drecovery_orphan(rec, i), key) == 0)
			return true;
	return false;
}

static void nothing_recovers_nothing(void **state)
{
	(void)state;
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_null(part(1, 0));
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.orphans, 0);
	assert_int_equal(sl_drecovery_finish(rec), SL_EINVAL); /* once */
}

static void contiguous_segments_rebuild_the_partition(void **state)
{
	(void)state;
	object("data/a", 100);
	object("data/b", 100);
	object("data/c", 100);
	event(1, 1, "data/a", 1, 2, 0, 10);
	event(1, 2, "data/b", 1, 2, 10, 5);
	event(1, 3, "data/c", 1, 2, 15, 1);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = part(1, 2);
	expect_segs(pt, 3, (uint64_t[]){0, 10, 15}, (uint64_t[]){10, 5, 1},
		    (const char *[]){"data/a", "data/b", "data/c"});
	assert_int_equal(pt->start, 0);
	assert_int_equal(pt->end, 16);
	assert_int_equal(pt->segs[1].wall_ms, 1002);
	assert_null(part(1, 0));
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.events, 3);
	assert_int_equal(st.applied, 3);
	assert_int_equal(st.orphans, 0);
	assert_int_equal(st.partitions, 1);
}

static void events_are_ordered_by_boot_and_sequence(void **state)
{
	(void)state;
	object("data/a", 100);
	object("data/b", 100);
	object("data/c", 100);
	/* As read from several log partitions: out of order. */
	event(2, 1, "data/c", 1, 0, 15, 5);
	event(1, 9, "data/b", 1, 0, 10, 5);
	event(1, 3, "data/a", 1, 0, 0, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	expect_segs(part(1, 0), 3, (uint64_t[]){0, 10, 15}, (uint64_t[]){10, 5, 5},
		    (const char *[]){"data/a", "data/b", "data/c"});
	assert_int_equal(part(1, 0)->end, 20);
}

static void a_missing_object_voids_its_event(void **state)
{
	(void)state;
	/* The crash came after the event was durable and before the object was. */
	object("data/a", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);
	event(1, 2, "data/b", 1, 0, 10, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = part(1, 0);
	expect_segs(pt, 1, (uint64_t[]){0}, (uint64_t[]){10}, (const char *[]){"data/a"});
	assert_int_equal(pt->end, 10);
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.void_missing, 1);
}

static void a_short_object_is_missing_too(void **state)
{
	(void)state;
	object("data/a", 99); /* the event says 100 bytes */
	event(1, 1, "data/a", 1, 0, 0, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_int_equal(part(1, 0)->nsegs, 0);
	assert_int_equal(part(1, 0)->end, 0);
	assert_true(is_orphan("data/a"));
}

static void ranges_after_a_void_one_are_skipped(void **state)
{
	(void)state;
	/* [10, 20) never became durable, so [20, 30) was never acknowledged either. */
	object("data/a", 100);
	object("data/c", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);
	event(1, 2, "data/b", 1, 0, 10, 10);
	event(1, 3, "data/c", 1, 0, 20, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_int_equal(part(1, 0)->end, 10);
	assert_int_equal(part(1, 0)->nsegs, 1);
	assert_true(is_orphan("data/c"));
	assert_false(is_orphan("data/a"));
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.gaps, 1);
}

static void objects_retention_deleted_at_the_front_move_the_start(void **state)
{
	(void)state;
	/* data/a and data/b were deleted by retention before the restart; data/c remains. */
	object("data/c", 100);
	object("data/d", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);
	event(1, 2, "data/b", 1, 0, 10, 10);
	event(1, 3, "data/c", 1, 0, 20, 10);
	event(1, 4, "data/d", 1, 0, 30, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = part(1, 0);
	expect_segs(pt, 2, (uint64_t[]){20, 30}, (uint64_t[]){10, 10},
		    (const char *[]){"data/c", "data/d"});
	assert_int_equal(pt->start, 20);
	assert_int_equal(pt->end, 40);
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.expired, 2);
	assert_int_equal(st.void_missing, 0);
	assert_int_equal(st.gaps, 0);
}

static void note_live(void *arg, const char *key, uint64_t size, int32_t mpart, int64_t moff)
{
	char *out = arg;
	(void)size;
	char one[64];
	snprintf(one, sizeof(one), "%s@%d:%d ", key, (int)mpart, (int)moff);
	strcat(out, one);
}

static void live_objects_are_named_with_their_events(void **state)
{
	(void)state;
	object("data/b", 100);
	object("data/c", 100);
	object("data/z", 100); /* never indexed: an orphan */
	const char *keys[3] = {"data/a", "data/b", "data/c"};
	for (int i = 0; i < 3; i++) {
		struct sl_seg_range r = {1, 0, (uint64_t)i * 10, 10, 0, 100, 100, 0, NULL};
		struct sl_seg_event ev = {.boot = 1,
					  .worker = 0,
					  .seq = (uint64_t)i + 1,
					  .wall_ms = 1,
					  .object_size = 100,
					  .nranges = 1,
					  .ranges = &r};
		snprintf(ev.key, sizeof(ev.key), "%s", keys[i]);
		struct sl_buf *b;
		assert_int_equal(sl_seg_encode(&ev, &b), 0);
		assert_int_equal(sl_drecovery_add_event_at(rec, b->data, b->len, 5, 40 + i, NULL),
				 0);
		sl_buf_unref(b);
	}
	assert_int_equal(sl_drecovery_finish(rec), 0);
	char out[256] = "";
	sl_drecovery_each_live(rec, note_live, out);
	/* data/a was deleted by retention before; data/z is named by no event. */
	assert_string_equal(out, "data/b@5:41 data/c@5:42 ");
}

static void retention_applies_at_recovery(void **state)
{
	(void)state;
	sl_drecovery_free(rec);
	struct sl_stream_def d = *sl_stream_set_find_id(streams, 1);
	d.retention_age_ns = 1000 * 1000000ull; /* 1 s */
	struct sl_stream_set *set = sl_stream_set_new(&d, 1, 2);
	assert_int_equal(sl_drecovery_new(set, &rec), 0);
	sl_stream_set_unref(set);
	object("data/a", 100);
	object("data/b", 100);
	object("data/c", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);  /* wall 1001 */
	event(1, 2, "data/b", 1, 0, 10, 10); /* wall 1002 */
	event(1, 3, "data/c", 1, 0, 20, 10); /* wall 1003 */
	sl_drecovery_set_wall(rec, 2002);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = part(1, 0);
	expect_segs(pt, 1, (uint64_t[]){20}, (uint64_t[]){10}, (const char *[]){"data/c"});
	assert_int_equal(pt->start, 20);
	assert_true(is_orphan("data/a"));
	assert_true(is_orphan("data/b"));
	assert_false(is_orphan("data/c"));
}

static void a_rollback_truncates_what_was_never_acknowledged(void **state)
{
	(void)state;
	/* [10, 20) was written but its flush failed; the worker rolled back to 10 and wrote
	 * [10, 13) again: that one wins, whole objects and a cut segment alike. */
	object("data/a", 100);
	object("data/b", 100);
	object("data/c", 100);
	object("data/d", 100);
	event(1, 1, "data/a", 1, 1, 0, 10);
	event(1, 2, "data/b", 1, 1, 10, 10);
	event(1, 3, "data/c", 1, 1, 10, 3);
	event(1, 4, "data/d", 1, 1, 8, 4); /* cuts the first segment */
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = part(1, 1);
	expect_segs(pt, 2, (uint64_t[]){0, 8}, (uint64_t[]){8, 4},
		    (const char *[]){"data/a", "data/d"});
	assert_int_equal(pt->end, 12);
	assert_true(is_orphan("data/b"));
	assert_true(is_orphan("data/c"));
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.truncations, 2);
}

static void a_void_rollback_still_truncates(void **state)
{
	(void)state;
	/* The rollback's own object is missing: the partition ends where it rolled back to. */
	object("data/a", 100);
	object("data/b", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);
	event(1, 2, "data/b", 1, 0, 10, 10);
	event(2, 1, "data/x", 1, 0, 10, 3);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_int_equal(part(1, 0)->end, 10);
	assert_true(is_orphan("data/b"));
}

static void deleted_streams_leave_orphans_unless_shared(void **state)
{
	(void)state;
	object("data/gone", 100);
	object("data/shared", 200);
	event(1, 1, "data/gone", 99, 0, 0, 10); /* stream 99 was deleted */
	/* One flush that held a range of a deleted stream and one of a live one. */
	struct sl_seg_range r[2] = {{99, 0, 10, 5, 0, 100, 50, 0, NULL},
				    {2, 0, 0, 5, 100, 100, 50, 0, NULL}};
	struct sl_seg_event ev = {
		.boot = 1, .worker = 0, .seq = 2, .object_size = 200, .nranges = 2, .ranges = r};
	snprintf(ev.key, sizeof(ev.key), "data/shared");
	struct sl_buf *b;
	assert_int_equal(sl_seg_encode(&ev, &b), 0);
	assert_int_equal(sl_drecovery_add_event(rec, b->data, b->len, NULL), 0);
	sl_buf_unref(b);
	event(1, 3, "data/shared", 1, 9, 0, 1); /* partition 9 of a 4-partition stream */
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_true(is_orphan("data/gone"));
	assert_false(is_orphan("data/shared"));
	expect_segs(part(2, 0), 1, (uint64_t[]){0}, (uint64_t[]){5},
		    (const char *[]){"data/shared"});
	assert_int_equal(part(2, 0)->segs[0].off, 100);
	assert_null(part(99, 0));
	assert_null(part(1, 9));
	struct sl_drecovery_stats st;
	sl_drecovery_stats(rec, &st);
	assert_int_equal(st.unknown, 3);
}

static void a_partition_can_start_above_zero(void **state)
{
	(void)state;
	object("data/a", 100);
	event(1, 1, "data/a", 1, 0, 500, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	assert_int_equal(part(1, 0)->start, 500);
	assert_int_equal(part(1, 0)->end, 510);
}

static void take_moves_the_segments(void **state)
{
	(void)state;
	object("data/a", 100);
	event(1, 1, "data/a", 1, 0, 0, 10);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	struct sl_drec_part got;
	assert_int_equal(sl_drecovery_take(rec, 1, 0, &got), 0);
	assert_int_equal(got.nsegs, 1);
	assert_int_equal(part(1, 0)->nsegs, 0);
	assert_int_equal(sl_drecovery_take(rec, 1, 3, &got) == SL_ENOTFOUND, 1);
	/* The taken segment keeps its object alive after the recovery is gone. */
	struct sl_dobj *o = got.segs[0].obj;
	sl_drecovery_free(rec);
	rec = NULL;
	assert_string_equal(o->key, "data/a");
	assert_true(sl_dobj_unref(o));
	sl_dobj_free(o);
	free(got.segs);
	assert_int_equal(sl_drecovery_new(streams, &rec), 0);
}

static void bad_input_is_refused(void **state)
{
	(void)state;
	const char *why = NULL;
	uint8_t junk[8] = "SLSG\x01\x01";
	assert_int_equal(sl_drecovery_add_event(rec, junk, sizeof(junk), &why), SL_ETRUNC);
	assert_non_null(why);
	assert_int_equal(sl_drecovery_add_object(rec, "../etc", 1), SL_EINVAL);
	object("data/a", 1);
	object("data/a", 2);
	assert_int_equal(sl_drecovery_finish(rec), SL_EDUP);
}

/* Adds an event of one range [first, first + count) of (1, 0) holding one idempotent write
 * per record: producer pid, sequences seq0, seq0 + 1, ... */
static void idem_event(uint64_t seq, const char *key, uint64_t first, uint64_t count, uint64_t pid,
		       uint64_t seq0)
{
	struct sl_seg_idem w[16];
	assert_true(count <= 16);
	for (uint64_t i = 0; i < count; i++)
		w[i] = (struct sl_seg_idem){
			.producer_id = pid, .sequence = seq0 + i, .offset = first + i, .count = 1};
	struct sl_seg_range r = {1, 0, first, count, 0, 100, count * 10, (uint32_t)count, w};
	struct sl_seg_event ev = {.boot = 1,
				  .worker = 0,
				  .seq = seq,
				  .wall_ms = 1000 + seq,
				  .object_size = 100,
				  .nranges = 1,
				  .ranges = &r};
	snprintf(ev.key, sizeof(ev.key), "%s", key);
	struct sl_buf *b;
	assert_int_equal(sl_seg_encode(&ev, &b), 0);
	assert_int_equal(sl_drecovery_add_event(rec, b->data, b->len, NULL), 0);
	sl_buf_unref(b);
}

/* The idempotent writes follow the segments: kept with them, cut with a rollback, absent for
 * a void range, and handed over by take. */
static void idempotent_writes_follow_the_segments(void **state)
{
	(void)state;
	object("data/a", 100);
	object("data/c", 100);
	idem_event(1, "data/a", 0, 4, 7, 0);   /* offsets 0..3, sequences 0..3 */
	idem_event(2, "data/b", 4, 2, 7, 4);   /* void: its object is missing */
	idem_event(3, "data/c", 2, 3, 8, 100); /* a rollback to 2, then offsets 2..4 */
	assert_int_equal(sl_drecovery_finish(rec), 0);
	struct sl_drec_part pt;
	assert_int_equal(sl_drecovery_take(rec, 1, 0, &pt), 0);
	assert_int_equal(pt.end, 5);
	assert_int_equal(pt.nidem, 5);
	uint64_t want_pid[] = {7, 7, 8, 8, 8}, want_seq[] = {0, 1, 100, 101, 102};
	for (uint32_t i = 0; i < pt.nidem; i++) {
		assert_int_equal(pt.idem[i].producer_id, want_pid[i]);
		assert_int_equal(pt.idem[i].sequence, want_seq[i]);
		assert_int_equal(pt.idem[i].offset, i);
		assert_int_equal(pt.idem[i].count, 1);
	}
	for (uint32_t i = 0; i < pt.nsegs; i++)
		if (sl_dobj_unref(pt.segs[i].obj))
			sl_dobj_free(pt.segs[i].obj);
	free(pt.segs);
	free(pt.idem);
	/* Taken: the recovery keeps nothing of it. */
	assert_int_equal(sl_drecovery_find(rec, 1, 0)->nidem, 0);
}

/* A long history is compacted to the last writes of each producer. */
static void idempotent_history_is_compacted(void **state)
{
	(void)state;
	object("data/a", 100);
	/* 200 events of 16 writes: producers 1 and 2 alternate per event. */
	for (uint64_t k = 0; k < 200; k++) {
		char key[32];
		snprintf(key, sizeof(key), "data/k%03u", (unsigned)k);
		object(key, 100);
		idem_event(k + 1, key, 16 * k, 16, 1 + k % 2, 16 * (k / 2));
	}
	assert_int_equal(sl_drecovery_finish(rec), 0);
	const struct sl_drec_part *pt = sl_drecovery_find(rec, 1, 0);
	assert_non_null(pt);
	assert_int_equal(pt->end, 3200);
	assert_true(pt->nidem < 1024 + 32);
	/* In offset order, and each producer's last 5 (at least) are there. */
	for (uint32_t i = 1; i < pt->nidem; i++)
		assert_true(pt->idem[i - 1].offset < pt->idem[i].offset);
	uint32_t last1 = 0, last2 = 0;
	for (uint32_t i = 0; i < pt->nidem; i++) {
		/* Producer 1 wrote last in the event at 3168 .. 3183, producer 2 at 3184 .. 3199.
		 */
		if (pt->idem[i].producer_id == 1 && pt->idem[i].offset >= 3184 - 5)
			last1++;
		if (pt->idem[i].producer_id == 2 && pt->idem[i].offset >= 3200 - 5)
			last2++;
	}
	assert_int_equal(last1, 5);
	assert_int_equal(last2, 5);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(nothing_recovers_nothing),
		T(contiguous_segments_rebuild_the_partition),
		T(events_are_ordered_by_boot_and_sequence),
		T(a_missing_object_voids_its_event),
		T(a_short_object_is_missing_too),
		T(ranges_after_a_void_one_are_skipped),
		T(objects_retention_deleted_at_the_front_move_the_start),
		T(retention_applies_at_recovery),
		T(live_objects_are_named_with_their_events),
		T(a_rollback_truncates_what_was_never_acknowledged),
		T(a_void_rollback_still_truncates),
		T(deleted_streams_leave_orphans_unless_shared),
		T(a_partition_can_start_above_zero),
		T(take_moves_the_segments),
		T(bad_input_is_refused),
		T(idempotent_writes_follow_the_segments),
		T(idempotent_history_is_compacted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
