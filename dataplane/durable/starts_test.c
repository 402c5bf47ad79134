/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the retained starts (durable/starts.h): the object's bytes, the decoder's refusals,
 * the table's versions and writes on the memory object store (a failed write is retried), the
 * retention GC held back until the starts are durable (sl_retgc_gate), and recovery skipping
 * a partition's ranges below its start when an object in the middle is gone.
 */
#include "core/test_common.h"
#include "buffer/retgc.h"
#include "core/buf.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"
#include "durable/recover.h"
#include "durable/segment.h"
#include "durable/starts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)

static int collect(void *arg, const struct sl_dstart *s)
{
	struct sl_dstart *out = arg;
	while (out->stream_id != 0)
		out++;
	*out = *s;
	return 0;
}

static void golden_bytes_round_trip(void **state)
{
	(void)state;
	const struct sl_dstart e[2] = {{1, 0, 5}, {1, 70, 300}};
	struct sl_buf *b = sl_dstarts_encode(e, 2);
	assert_non_null(b);
	static const uint8_t want[] = {'S',  'L',  'S',	 'T',  0x01, 0x02, 0x01,
				       0x00, 0x05, 0x01, 0x40, 0x46, 0x41, 0x2c};
	assert_int_equal(b->len, sizeof(want));
	assert_memory_equal(b->data, want, sizeof(want));
	struct sl_dstart got[3];
	memset(got, 0, sizeof(got));
	const char *why = "x";
	assert_int_equal(sl_dstarts_decode(b->data, b->len, collect, got, &why), 0);
	assert_null(why);
	assert_memory_equal(got, e, sizeof(e));
	sl_buf_unref(b);
}

static void decoder_names_what_is_wrong(void **state)
{
	(void)state;
	const char *why;
	static const uint8_t magic[] = {'S', 'L', 'S', 'X', 1, 0};
	assert_int_equal(sl_dstarts_decode(magic, sizeof(magic), NULL, NULL, &why), SL_ECORRUPT);
	assert_string_equal(why, "starts.magic");
	static const uint8_t version[] = {'S', 'L', 'S', 'T', 2, 0};
	assert_int_equal(sl_dstarts_decode(version, sizeof(version), NULL, NULL, &why), SL_ENOTSUP);
	assert_string_equal(why, "starts.version");
	static const uint8_t cut[] = {'S', 'L', 'S', 'T', 1, 1, 1, 0};
	assert_int_equal(sl_dstarts_decode(cut, sizeof(cut), NULL, NULL, &why), SL_ETRUNC);
	assert_string_equal(why, "starts.start");
	static const uint8_t order[] = {'S', 'L', 'S', 'T', 1, 2, 1, 2, 0, 1, 1, 0};
	assert_int_equal(sl_dstarts_decode(order, sizeof(order), NULL, NULL, &why), SL_ECORRUPT);
	assert_string_equal(why, "starts.order");
	static const uint8_t trailing[] = {'S', 'L', 'S', 'T', 1, 0, 0};
	assert_int_equal(sl_dstarts_decode(trailing, sizeof(trailing), NULL, NULL, &why),
			 SL_ECORRUPT);
	assert_string_equal(why, "starts.trailing");
	assert_int_equal(sl_dstarts_decode(magic, 2, NULL, NULL, &why), SL_ETRUNC);
	assert_non_null(why);
	/* Every strict prefix of a valid object is cut short. */
	const struct sl_dstart e[2] = {{3, 1, 1000000}, {9, 4095, 1}};
	struct sl_buf *b = sl_dstarts_encode(e, 2);
	for (size_t n = 0; n < b->len; n++)
		assert_int_equal(sl_dstarts_decode(b->data, n, NULL, NULL, &why), SL_ETRUNC);
	sl_buf_unref(b);
}

static void run(struct sl_objstore *s, struct sl_dstarts *t, uint64_t *now, int steps)
{
	for (int i = 0; i < steps; i++) {
		*now += MS;
		sl_dstarts_poll(t, *now);
		sl_objstore_poll(s, *now);
	}
}

static void table_writes_what_moved_and_retries(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_dstarts *t;
	assert_int_equal(sl_dstarts_new(s, &t), 0);
	uint64_t now = 1000 * MS;
	/* Nothing yet: nothing to write. */
	assert_false(sl_dstarts_poll(t, now));
	assert_int_equal(sl_dstarts_set(t, 2, 1, 10), 0);
	assert_int_equal(sl_dstarts_set(t, 1, 3, 7), 0);
	assert_int_equal(sl_dstarts_set(t, 1, 3, 5), 0); /* lower: ignored */
	assert_int_equal(sl_dstarts_version(t), 2);
	assert_int_equal(sl_dstarts_durable(t), 0);
	run(s, t, &now, 5);
	assert_int_equal(sl_dstarts_durable(t), 2);
	/* The object holds the table, sorted. */
	struct sl_obj_req r = {.op = SL_OBJ_GET, .key = SL_DSTARTS_KEY};
	assert_int_equal(sl_objstore_run(s, &r), 0);
	struct sl_dstart got[3];
	memset(got, 0, sizeof(got));
	assert_int_equal(sl_dstarts_decode(r.data->data, r.data->len, collect, got, NULL), 0);
	assert_int_equal(got[0].stream_id, 1);
	assert_int_equal(got[0].start, 7);
	assert_int_equal(got[1].stream_id, 2);
	assert_int_equal(got[1].start, 10);
	sl_obj_req_reset(&r);
	/* A failed write leaves durable where it was and is tried again later. */
	assert_int_equal(sl_objstore_memory_fail_next(s, SL_OBJ_PUT, 1, SL_EIO), 0);
	assert_int_equal(sl_dstarts_set(t, 2, 1, 11), 0);
	run(s, t, &now, 3);
	assert_int_equal(sl_dstarts_durable(t), 2);
	run(s, t, &now, 200);
	assert_int_equal(sl_dstarts_durable(t), 3);
	struct sl_dstarts_stats st;
	sl_dstarts_stats(t, &st);
	assert_int_equal(st.writes, 2);
	assert_int_equal(st.write_failed, 1);
	assert_int_equal(st.partitions, 2);
	sl_dstarts_free(t);
	sl_objstore_memory_destroy(s);
}

static bool has(struct sl_objstore *s, const char *key)
{
	struct sl_obj_req r = {.op = SL_OBJ_HEAD, .key = key};
	int rc = sl_objstore_run(s, &r);
	sl_obj_req_reset(&r);
	return rc == 0;
}

static void put(struct sl_objstore *s, const char *key)
{
	struct sl_obj_req r = {.op = SL_OBJ_PUT, .key = key, .body = sl_buf_from("x", 1)};
	assert_int_equal(sl_objstore_run(s, &r), 0);
	sl_obj_req_reset(&r);
}

/* Deaths stamped after a start moved wait for the write that holds it. */
static void gc_waits_for_the_starts(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	put(s, "data/a");
	put(s, "data/b");
	struct sl_retgc_config c;
	sl_retgc_config_default(&c);
	c.store = s;
	c.grace_ns = 0;
	struct sl_retgc *gc;
	assert_int_equal(sl_retgc_new(&c, &gc), 0);
	struct sl_dstarts *t;
	assert_int_equal(sl_dstarts_new(s, &t), 0);
	assert_int_equal(sl_retgc_live(gc, "data/a", 1, 1, -1, 0), 0);
	assert_int_equal(sl_retgc_live(gc, "data/b", 1, 1, -1, 0), 0);
	uint64_t now = 1000 * MS;
	/* A start moved, then the object it freed died: not deleted before the write. */
	assert_int_equal(sl_dstarts_set(t, 1, 0, 40), 0);
	sl_retgc_gate(gc, sl_dstarts_version(t), sl_dstarts_durable(t));
	assert_int_equal(sl_retgc_release(gc, "data/a", 1, now), 0);
	sl_objstore_memory_hold_until(s, now + 50 * MS);
	for (int i = 0; i < 20; i++) {
		now += MS;
		sl_dstarts_poll(t, now);
		sl_retgc_gate(gc, sl_dstarts_version(t), sl_dstarts_durable(t));
		sl_retgc_poll(gc, now);
	}
	assert_int_equal(sl_dstarts_durable(t), 0);
	struct sl_retgc_stats gs;
	sl_retgc_stats(gc, &gs);
	assert_int_equal(gs.gc_deleted, 0);
	assert_int_equal(gs.deletes_inflight, 0); /* not even submitted */
	/* The store comes back: first the starts, then the delete. */
	for (int i = 0; i < 100; i++) {
		now += MS;
		sl_dstarts_poll(t, now);
		sl_retgc_gate(gc, sl_dstarts_version(t), sl_dstarts_durable(t));
		sl_retgc_poll(gc, now);
	}
	assert_int_equal(sl_dstarts_durable(t), 1);
	assert_false(has(s, "data/a"));
	assert_true(has(s, "data/b"));
	sl_dstarts_free(t);
	sl_retgc_free(gc);
	sl_objstore_memory_destroy(s);
}

/* Partition 0's ranges: 0-9 in object A (kept alive by partition 1), 10-19 in object B
 * (deleted), 20-29 in object C. Without the start, B's absence cuts the partition at 10; with
 * start 20 recorded, the partition starts at 20 and keeps C. */
static struct sl_drecovery *three_objects(uint64_t start)
{
	struct sl_stream_def d;
	memset(&d, 0, sizeof(d));
	d.id = 1;
	strcpy(d.name, "s");
	d.partitions = 2;
	d.max_record_bytes = 1000;
	struct sl_stream_set *set = sl_stream_set_new(&d, 1, 1);
	struct sl_drecovery *r;
	assert_int_equal(sl_drecovery_new(set, &r), 0);
	sl_stream_set_unref(set);
	assert_int_equal(sl_drecovery_add_object(r, "data/A", 100), 0);
	assert_int_equal(sl_drecovery_add_object(r, "data/C", 100), 0);
	const char *keys[3] = {"data/A", "data/B", "data/C"};
	for (uint64_t i = 0; i < 3; i++) {
		struct sl_seg_range g[2] = {{.stream_id = 1,
					     .partition = 0,
					     .first = i * 10,
					     .count = 10,
					     .off = 0,
					     .len = 40,
					     .bytes = 10},
					    {.stream_id = 1,
					     .partition = 1,
					     .first = i,
					     .count = 1,
					     .off = 40,
					     .len = 40,
					     .bytes = 1}};
		struct sl_seg_event ev = {.boot = 1,
					  .worker = 0,
					  .seq = i + 1,
					  .wall_ms = 1,
					  .object_size = 100,
					  .nranges = i == 0 ? 2 : 1,
					  .ranges = g};
		snprintf(ev.key, sizeof(ev.key), "%s", keys[i]);
		struct sl_buf *b = NULL;
		assert_int_equal(sl_seg_encode(&ev, &b), 0);
		assert_int_equal(sl_drecovery_add_event(r, b->data, b->len, NULL), 0);
		sl_buf_unref(b);
	}
	if (start)
		assert_int_equal(sl_drecovery_set_start(r, 1, 0, start), 0);
	assert_int_equal(sl_drecovery_finish(r), 0);
	return r;
}

static void recovery_skips_ranges_below_the_recorded_start(void **state)
{
	(void)state;
	struct sl_drecovery *r = three_objects(0);
	const struct sl_drec_part *p = sl_drecovery_find(r, 1, 0);
	assert_non_null(p);
	assert_int_equal(p->end, 10); /* the old reading: B never became durable */
	sl_drecovery_free(r);

	r = three_objects(20);
	p = sl_drecovery_find(r, 1, 0);
	assert_non_null(p);
	assert_int_equal(p->start, 20);
	assert_int_equal(p->end, 30);
	assert_int_equal(p->nsegs, 1);
	struct sl_drecovery_stats st;
	sl_drecovery_stats(r, &st);
	assert_int_equal(st.expired, 2);
	assert_int_equal(st.gaps, 0);
	/* Partition 1 still has its range in A, so A is no orphan. */
	assert_int_equal(st.orphans, 0);
	sl_drecovery_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_bytes_round_trip),
		cmocka_unit_test(decoder_names_what_is_wrong),
		cmocka_unit_test(table_writes_what_moved_and_retries),
		cmocka_unit_test(gc_waits_for_the_starts),
		cmocka_unit_test(recovery_skips_ranges_below_the_recorded_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
