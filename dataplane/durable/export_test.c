/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the batch export queue engine (durable/export.h) on the memory object store: the
 * metadata payload bytes, entries in order per stream with their ranges, retries after store
 * failures, pins (before the first read, listed, pending, dequeued, aged out), a restart that
 * relearns the pins, and the per-stream view.
 */
#include "core/test_common.h"
#include "buffer/consumer.h"
#include "buffer/manifest.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"
#include "durable/export.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)
static uint64_t now = UINT64_C(1700000000000) * MS;

static struct sl_stream_set *streams(uint64_t max_age_ms)
{
	struct sl_stream_def d[3];
	memset(d, 0, sizeof(d));
	d[0].id = 1;
	strcpy(d[0].name, "ex");
	d[0].partitions = 4;
	d[0].export_enabled = true;
	d[0].export_max_age_ns = max_age_ms * MS;
	d[1].id = 2;
	strcpy(d[1].name, "plain");
	d[1].partitions = 4;
	d[2].id = 3;
	strcpy(d[2].name, "ex2");
	d[2].partitions = 1;
	d[2].export_enabled = true;
	struct sl_stream_set *s = sl_stream_set_new(d, 3, 1);
	assert_non_null(s);
	return s;
}

static struct sl_export *engine(struct sl_objstore *store, uint64_t max_age_ms)
{
	struct sl_export_config cfg;
	sl_export_config_default(&cfg);
	cfg.store = store;
	cfg.refresh_interval_ns = 1000 * MS;
	cfg.retry_min_ns = 10 * MS;
	struct sl_export *ex = NULL;
	assert_int_equal(sl_export_new(&cfg, &ex), 0);
	struct sl_stream_set *set = streams(max_age_ms);
	assert_int_equal(sl_export_set_streams(ex, set), 0);
	sl_stream_set_unref(set);
	return ex;
}

/* Polls the store and the engine for a while (fake time, 1 ms steps). */
static void run(struct sl_objstore *s, struct sl_export *ex, int steps)
{
	for (int i = 0; i < steps; i++) {
		now += MS;
		sl_objstore_poll(s, now);
		sl_export_poll(ex, now);
	}
}

/* A flush of worker 1: ranges of streams 1 (partitions p1, p2), 2 and 3 as given. */
static void add(struct sl_export *ex, const char *key, uint64_t first, bool with3)
{
	struct sl_seg_range r[4] = {
		{1, 0, first, 2, 0, 100, 10, 0, NULL},
		{2, 0, 7, 1, 100, 50, 5, 0, NULL},
		{1, 3, first + 10, 1, 150, 60, 6, 0, NULL},
		{3, 0, first, 1, 210, 40, 4, 0, NULL},
	};
	struct sl_seg_event ev = {.boot = 1, .worker = 1, .seq = first, .wall_ms = now / MS};
	snprintf(ev.key, sizeof(ev.key), "%s", key);
	ev.object_size = 250;
	ev.nranges = with3 ? 4 : 3;
	ev.ranges = r;
	assert_int_equal(sl_export_add(ex, &ev), with3 ? 2 : 1);
}

static struct sl_buf *get(struct sl_objstore *s, const char *key)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_GET;
	r.key = key;
	if (sl_objstore_run(s, &r) != 0)
		return NULL;
	return r.data;
}

static void payload_bytes(void **state)
{
	(void)state;
	struct sl_export_range r = {3, 70, 300, 2, 40, 36};
	uint8_t b[SL_EXPORT_META_LEN];
	sl_export_meta_encode(&r, b);
	static const uint8_t want[SL_EXPORT_META_LEN] = {
		0x01,			      /* version */
		0x03, 0,    0, 0, 0, 0, 0, 0, /* stream_id 3 */
		0x46, 0,    0, 0,	      /* partition 70 */
		0x2c, 0x01, 0, 0, 0, 0, 0, 0, /* first 300 */
		0x02, 0,    0, 0, 0, 0, 0, 0, /* count 2 */
		0x28, 0,    0, 0, 0, 0, 0, 0, /* off 40 */
		0x24, 0,    0, 0, 0, 0, 0, 0, /* len 36 */
	};
	assert_memory_equal(b, want, sizeof(want));
	struct sl_export_range got;
	const char *why = NULL;
	assert_int_equal(sl_export_meta_decode(b, sizeof(b), &got, &why), 0);
	assert_null(why);
	assert_true(got.stream_id == 3 && got.partition == 70 && got.first == 300 &&
		    got.count == 2 && got.off == 40 && got.len == 36);
	assert_int_equal(sl_export_meta_decode(b, 0, &got, &why), SL_ETRUNC);
	assert_int_equal(sl_export_meta_decode(b, 44, &got, &why), SL_ETRUNC);
	assert_string_equal(why, "export payload: shorter than its 45 bytes");
	uint8_t longer[46];
	memcpy(longer, b, 45);
	longer[45] = 0;
	assert_int_equal(sl_export_meta_decode(longer, 46, &got, &why), SL_ECORRUPT);
	b[0] = 2;
	assert_int_equal(sl_export_meta_decode(b, 1, &got, &why), SL_ENOTSUP);
	b[0] = 1;
	memset(b + 21, 0, 8);
	assert_int_equal(sl_export_meta_decode(b, sizeof(b), &got, &why), SL_ECORRUPT);
	assert_string_equal(why, "export payload: count 0");
	char key[64];
	sl_export_manifest_key("orders", key, sizeof(key));
	assert_string_equal(key, "export/orders/manifest");
}

/* Entries land in order, one per export stream per flush, with their ranges. */
static void entries_in_order(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_export *ex = engine(s, 0);
	add(ex, "data/0000000001/w001-000000000001.batch", 0, true);
	add(ex, "data/0000000001/w001-000000000002.batch", 2, false);
	add(ex, "data/0000000001/w001-000000000003.batch", 4, true);
	run(s, ex, 50);
	assert_true(sl_export_idle(ex));
	struct sl_export_stats st;
	sl_export_stats(ex, &st);
	assert_int_equal(st.streams, 2);
	assert_int_equal(st.enqueued, 5);
	assert_int_equal(st.pending, 0);
	/* The three flushes waited together: one manifest write per stream carried them. */
	struct sl_objstore_memory_stats ms;
	sl_objstore_memory_stats(s, &ms);
	assert_int_equal(ms.ops[SL_OBJ_PUT], 2);

	struct sl_buf *b = get(s, "export/ex/manifest");
	assert_non_null(b);
	struct sl_manifest_iter it;
	struct sl_manifest_footer f;
	struct sl_manifest_rec rec;
	assert_int_equal(sl_manifest_iter_init(&it, b->data, b->len, &f, NULL), 0);
	assert_int_equal(f.count, 3);
	for (uint64_t i = 0; i < 3; i++) {
		assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
		assert_int_equal(rec.sequence, i);
		char want[64];
		snprintf(want, sizeof(want), "data/0000000001/w001-%012" PRIu64 ".batch", i + 1);
		assert_int_equal(rec.location_len, strlen(want));
		assert_memory_equal(rec.location, want, rec.location_len);
		assert_int_equal(rec.meta_count, 2); /* partitions 0 and 3 of stream 1 */
		const uint8_t *cur = rec.meta;
		struct sl_manifest_meta m;
		struct sl_export_range r;
		assert_int_equal(sl_manifest_meta_next(&rec, &cur, &m), 0);
		assert_int_equal(m.start_index, 0);
		assert_int_equal(sl_export_meta_decode(m.payload, m.payload_len, &r, NULL), 0);
		assert_int_equal(r.stream_id, 1);
		assert_int_equal(r.partition, 0);
		assert_int_equal(r.first, 2 * i);
		assert_int_equal(r.count, 2);
		assert_int_equal(r.off, 0);
		assert_int_equal(r.len, 100);
		assert_int_equal(sl_manifest_meta_next(&rec, &cur, &m), 0);
		assert_int_equal(m.start_index, 1);
		assert_int_equal(sl_export_meta_decode(m.payload, m.payload_len, &r, NULL), 0);
		assert_int_equal(r.partition, 3);
		assert_int_equal(r.first, 2 * i + 10);
		assert_int_equal(r.off, 150);
	}
	sl_buf_unref(b);
	b = get(s, "export/ex2/manifest");
	assert_non_null(b);
	assert_int_equal(sl_manifest_validate(b->data, b->len, &f, NULL), 0);
	assert_int_equal(f.count, 2);
	sl_buf_unref(b);
	assert_null(get(s, "export/plain/manifest"));

	struct sl_export_stream_info info;
	assert_int_equal(sl_export_stream_info(ex, "ex", &info), 0);
	assert_true(info.known);
	assert_int_equal(info.length, 3);
	assert_int_equal(info.epoch, 0);
	assert_false(info.has_last_ack);
	assert_int_equal(sl_export_stream_info(ex, "plain", &info), SL_ENOTFOUND);
	sl_export_free(ex);
	sl_objstore_memory_destroy(s);
}

/* A failed enqueue is counted and retried; the entry stays first, so the order holds. */
static void failures_retried_in_order(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_export *ex = engine(s, 0);
	run(s, ex, 5); /* the first reads */
	sl_objstore_memory_fail_next(s, SL_OBJ_PUT, 3, SL_EIO);
	add(ex, "data/a.batch", 0, false);
	add(ex, "data/b.batch", 2, false);
	run(s, ex, 500);
	struct sl_export_stats st;
	sl_export_stats(ex, &st);
	assert_int_equal(st.enqueue_failed, 3);
	assert_int_equal(st.enqueued, 2);
	struct sl_buf *b = get(s, "export/ex/manifest");
	struct sl_manifest_iter it;
	struct sl_manifest_footer f;
	struct sl_manifest_rec rec;
	assert_int_equal(sl_manifest_iter_init(&it, b->data, b->len, &f, NULL), 0);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_memory_equal(rec.location, "data/a.batch", 12);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_memory_equal(rec.location, "data/b.batch", 12);
	sl_buf_unref(b);
	/* Conflicts with another writer are counted too. */
	sl_objstore_memory_force_precond(s, 1);
	add(ex, "data/c.batch", 4, false);
	run(s, ex, 50);
	sl_export_stats(ex, &st);
	assert_int_equal(st.enqueued, 3);
	assert_int_equal(st.enqueue_conflicts, 1);
	sl_export_free(ex);
	sl_objstore_memory_destroy(s);
}

/* Pins: everything before the first read; then what is listed or waiting, until dequeued. */
static void pins(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_export *ex = engine(s, 0);
	assert_true(sl_export_pinned(ex, "data/anything.batch"));
	run(s, ex, 5);
	assert_false(sl_export_pinned(ex, "data/anything.batch"));
	sl_objstore_memory_hold_until(s, UINT64_MAX);
	add(ex, "data/a.batch", 0, false);
	add(ex, "data/b.batch", 2, false);
	add(ex, "data/c.batch", 4, false);
	run(s, ex, 5);
	/* Not yet enqueued (the store stalls), but pinned. */
	assert_true(sl_export_pinned(ex, "data/c.batch"));
	sl_objstore_memory_hold_until(s, 0);
	run(s, ex, 50);
	assert_true(sl_export_pinned(ex, "data/a.batch"));
	assert_true(sl_export_pinned(ex, "data/c.batch"));

	/* The exporter acknowledges a and b (a consumer of the real manifest). */
	struct sl_consumer_config cc;
	sl_consumer_config_default(&cc);
	cc.manifest_key = "export/ex/manifest";
	cc.gc_enabled = false;
	struct sl_consumer *c = sl_consumer_new(s, &cc);
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_open(c, &op, true, 1), 0);
	assert_int_equal(sl_consumer_run(c, &op, &now, MS), 0);
	/* Until the engine re-reads the manifest it keeps the pins: the safe side. */
	assert_true(sl_export_pinned(ex, "data/a.batch"));
	run(s, ex, 1100);
	assert_false(sl_export_pinned(ex, "data/a.batch"));
	assert_false(sl_export_pinned(ex, "data/b.batch"));
	assert_true(sl_export_pinned(ex, "data/c.batch"));
	struct sl_export_stream_info info;
	assert_int_equal(sl_export_stream_info(ex, "ex", &info), 0);
	assert_int_equal(info.length, 1);
	assert_int_equal(info.epoch, 1);
	assert_true(info.has_last_ack);
	assert_int_equal(info.last_ack, 1);

	/* A restarted daemon learns the pins from the manifest. */
	sl_export_free(ex);
	ex = engine(s, 0);
	assert_true(sl_export_pinned(ex, "data/b.batch")); /* not read yet */
	run(s, ex, 5);
	assert_false(sl_export_pinned(ex, "data/b.batch"));
	assert_true(sl_export_pinned(ex, "data/c.batch"));
	/* A dropped export stream pins nothing any more. */
	struct sl_stream_set *none = sl_stream_set_new(NULL, 0, 2);
	assert_int_equal(sl_export_set_streams(ex, none), 0);
	sl_stream_set_unref(none);
	run(s, ex, 2);
	assert_false(sl_export_pinned(ex, "data/c.batch"));
	sl_consumer_free(c);
	sl_export_free(ex);
	sl_objstore_memory_destroy(s);
}

/* With a max age, an unacknowledged entry older than it is unpinned and counted once. */
static void max_age_unpins(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_export *ex = engine(s, 2000);
	run(s, ex, 5);
	add(ex, "data/old.batch", 0, false);
	run(s, ex, 10);
	add(ex, "data/new.batch", 2, false);
	run(s, ex, 10);
	assert_true(sl_export_pinned(ex, "data/old.batch"));
	run(s, ex, 1985); /* old is 2005 ms old, new 1995 ms */
	assert_false(sl_export_pinned(ex, "data/old.batch"));
	assert_true(sl_export_pinned(ex, "data/new.batch"));
	run(s, ex, 20);
	assert_false(sl_export_pinned(ex, "data/new.batch"));
	run(s, ex, 2000); /* refreshes relearn them: not counted again */
	struct sl_export_stats st;
	sl_export_stats(ex, &st);
	assert_int_equal(st.dropped_max_age, 2);
	assert_false(sl_export_pinned(ex, "data/old.batch"));
	sl_export_free(ex);
	sl_objstore_memory_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(payload_bytes),
		cmocka_unit_test(entries_in_order),
		cmocka_unit_test(failures_retried_in_order),
		cmocka_unit_test(pins),
		cmocka_unit_test(max_age_unpins),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
