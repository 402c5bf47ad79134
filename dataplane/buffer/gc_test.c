/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the batch garbage collector: twins of opendata's gc.rs tests (names kept), ULID
 * parsing, LIST paging, failures counted and retried, interval scheduling, and the consumer's
 * close waiting for a running cycle.
 */
#include "core/test_common.h"
#include "buffer/consumer.h"
#include "buffer/gc.h"
#include "buffer/manifest.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"

#include <stdio.h>
#include <string.h>

#define MANIFEST "test/manifest"
#define PREFIX	 "ingest"
#define MS	 UINT64_C(1000000)
#define SEC	 UINT64_C(1000000000)

static struct sl_gc *make_gc(struct sl_objstore *s, uint64_t grace_ns)
{
	struct sl_gc_config cfg;
	sl_gc_config_default(&cfg);
	cfg.manifest_key = MANIFEST;
	cfg.data_prefix = PREFIX;
	cfg.interval_ns = SEC;
	cfg.grace_ns = grace_ns;
	struct sl_gc *gc = sl_gc_new(s, &cfg);
	assert_non_null(gc);
	return gc;
}

static void batch_path(uint64_t ts_ms, char *out, size_t cap)
{
	uint8_t rnd[10] = {0};
	char u[SL_ULID_LEN + 1];
	sl_ulid_encode(ts_ms, rnd, u);
	snprintf(out, cap, "%s/%s.batch", PREFIX, u);
}

static void write_file(struct sl_objstore *s, const char *key)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = key;
	r.body = sl_buf_from("data", 4);
	assert_int_equal(sl_objstore_run(s, &r), 0);
}

static bool exists(struct sl_objstore *s, const char *key)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_HEAD;
	r.key = key;
	return sl_objstore_run(s, &r) == 0;
}

static void enqueue(struct sl_objstore *s, const char *loc)
{
	struct sl_manifest_config mc;
	sl_manifest_config_default(&mc);
	mc.key = MANIFEST;
	struct sl_manifest *m = sl_manifest_new(s, &mc);
	struct sl_manifest_op op = {0};
	uint64_t t = 0;
	assert_int_equal(sl_manifest_enqueue(m, &op, loc, NULL, 0), 0);
	assert_int_equal(sl_manifest_run(m, &op, &t, MS), 0);
	sl_manifest_free(m);
}

static const uint64_t NOW = 1000000 * MS; /* 1_000_000 ms after the Unix epoch */

static void should_delete_orphaned_batch_files(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	char old[128];
	batch_path(1000, old, sizeof(old));
	write_file(s, old);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_false(exists(s, old));
	struct sl_gc_stats st;
	sl_gc_stats(gc, &st);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.cycles, 1);
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_not_delete_referenced_batch_files(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	char path[128];
	batch_path(1000, path, sizeof(path));
	write_file(s, path);
	enqueue(s, path);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_true(exists(s, path));
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_not_delete_files_within_grace_period(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 600 * SEC);
	char path[128];
	batch_path(900000, path, sizeof(path));
	write_file(s, path);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_true(exists(s, path));
	/* Past the grace period it goes. */
	assert_int_equal(sl_gc_run_once(gc, 900000 * MS + 600 * SEC), 0);
	assert_false(exists(s, path));
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_not_delete_files_newer_than_oldest_manifest_entry(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	char ref[128], newer[128];
	batch_path(5000, ref, sizeof(ref));
	write_file(s, ref);
	enqueue(s, ref);
	batch_path(6000, newer, sizeof(newer));
	write_file(s, newer);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_true(exists(s, newer));
	assert_true(exists(s, ref));
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_skip_non_batch_files(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	write_file(s, PREFIX "/somefile.txt");
	write_file(s, PREFIX "/01J5T4R3KXBMZ7QV9N2WG8YDHP");
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_true(exists(s, PREFIX "/somefile.txt"));
	assert_true(exists(s, PREFIX "/01J5T4R3KXBMZ7QV9N2WG8YDHP"));
	struct sl_gc_stats st;
	sl_gc_stats(gc, &st);
	assert_int_equal(st.kept_foreign, 2);
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_delete_older_orphans_but_keep_referenced(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	char ref[128], o1[128], o2[128];
	batch_path(5000, ref, sizeof(ref));
	write_file(s, ref);
	enqueue(s, ref);
	batch_path(2000, o1, sizeof(o1));
	batch_path(3000, o2, sizeof(o2));
	write_file(s, o1);
	write_file(s, o2);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_false(exists(s, o1));
	assert_false(exists(s, o2));
	assert_true(exists(s, ref));
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void should_extract_ulid_timestamp(void **state)
{
	(void)state;
	char path[128];
	batch_path(UINT64_C(1700000000000), path, sizeof(path));
	uint64_t ms;
	assert_int_equal(sl_gc_batch_time(path, &ms), 0);
	assert_int_equal(ms, UINT64_C(1700000000000));
	/* A known ULID from the spec's example: 01ARZ3NDEKTSV4RRFFQ69G5FAV is 1469922850259 ms. */
	assert_int_equal(sl_ulid_time("01ARZ3NDEKTSV4RRFFQ69G5FAV", 26, &ms), 0);
	assert_int_equal(ms, UINT64_C(1469922850259));
	assert_int_equal(sl_ulid_time("01arz3ndektsv4rrffq69g5fav", 26, &ms), 0);
	assert_int_equal(ms, UINT64_C(1469922850259));
}

static void should_return_none_for_invalid_ulid_path(void **state)
{
	(void)state;
	uint64_t ms;
	assert_int_equal(sl_gc_batch_time("ingest/not-a-ulid.batch", &ms), SL_EINVAL);
	assert_int_equal(sl_gc_batch_time("ingest/file.txt", &ms), SL_EINVAL);
	assert_int_equal(sl_gc_batch_time("", &ms), SL_EINVAL);
	/* Over 2^128, and a letter outside the alphabet. */
	assert_int_equal(sl_ulid_time("81ARZ3NDEKTSV4RRFFQ69G5FAV", 26, &ms), SL_EINVAL);
	assert_int_equal(sl_ulid_time("01ARZ3NDEKTSV4RRFFQ69G5FAU", 26, &ms), SL_EINVAL);
}

/* gc.rs: should_shutdown_collect_loop_on_cancel. The GC lives inside the consumer here; close
 * stops it, waiting for a running cycle rather than abandoning its requests. */
static void should_shutdown_collect_loop_on_cancel(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_consumer_config cfg;
	sl_consumer_config_default(&cfg);
	cfg.manifest_key = MANIFEST;
	cfg.data_prefix = PREFIX;
	cfg.gc_interval_ns = SEC;
	cfg.gc_grace_ns = 0;
	struct sl_consumer *c = sl_consumer_new(s, &cfg);
	uint64_t t = NOW;
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_open(c, &op, false, 0), 0);
	assert_int_equal(sl_consumer_run(c, &op, &t, MS), 0);
	char old[128];
	batch_path(1000, old, sizeof(old));
	write_file(s, old);
	/* Poll until a cycle starts, then close while it runs. */
	sl_consumer_poll(c, t);
	t += 2 * SEC;
	sl_consumer_poll(c, t);
	assert_true(sl_gc_running(sl_consumer_gc(c)));
	assert_int_equal(sl_consumer_close(c, &op), 0);
	assert_int_equal(sl_consumer_run(c, &op, &t, MS), 0);
	assert_false(sl_gc_running(sl_consumer_gc(c)));
	struct sl_gc_stats st;
	sl_gc_stats(sl_consumer_gc(c), &st);
	assert_int_equal(st.cycles, 1);
	assert_false(exists(s, old));
	/* No cycle starts after close. */
	t += 10 * SEC;
	sl_consumer_poll(c, t);
	assert_false(sl_gc_running(sl_consumer_gc(c)));
	sl_consumer_free(c);
	sl_objstore_memory_destroy(s);
}

static void failures_are_counted_and_retried(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc *gc = make_gc(s, 0);
	char a[128], b[128];
	batch_path(1000, a, sizeof(a));
	batch_path(2000, b, sizeof(b));
	write_file(s, a);
	write_file(s, b);
	sl_objstore_memory_fail_next(s, SL_OBJ_DELETE, 1, SL_EIO);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	struct sl_gc_stats st;
	sl_gc_stats(gc, &st);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.delete_failed, 1);
	assert_true(exists(s, a));
	/* A failing LIST fails the cycle; the next one succeeds and finishes the job. */
	sl_objstore_memory_fail_next(s, SL_OBJ_LIST, 1, SL_EIO);
	assert_int_equal(sl_gc_run_once(gc, NOW), SL_EIO);
	assert_int_equal(sl_gc_run_once(gc, NOW), 0);
	assert_false(exists(s, a));
	sl_gc_stats(gc, &st);
	assert_int_equal(st.cycles_failed, 1);
	assert_int_equal(st.last_error, SL_EIO);
	/* A corrupt manifest deletes nothing. */
	write_file(s, a);
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = MANIFEST;
	r.body = sl_buf_from("xx", 2);
	assert_int_equal(sl_objstore_run(s, &r), 0);
	assert_int_equal(sl_gc_run_once(gc, NOW), SL_ETRUNC);
	assert_true(exists(s, a));
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

static void lists_every_page_and_runs_on_interval(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_gc_config cfg;
	sl_gc_config_default(&cfg);
	cfg.manifest_key = MANIFEST;
	cfg.data_prefix = PREFIX;
	cfg.interval_ns = 10 * SEC;
	cfg.grace_ns = 0;
	cfg.list_page = 3;
	struct sl_gc *gc = sl_gc_new(s, &cfg);
	for (int i = 0; i < 10; i++) {
		char p[128];
		batch_path(1000 + (uint64_t)i, p, sizeof(p));
		write_file(s, p);
	}
	uint64_t t = NOW;
	assert_int_equal(sl_gc_poll(gc, t), 0); /* schedules the first cycle */
	assert_int_equal(sl_gc_poll(gc, t + 10 * SEC - 1), 0);
	assert_int_equal(sl_gc_poll(gc, t + 10 * SEC), 1);
	while (sl_gc_running(gc))
		sl_objstore_poll(s, t);
	struct sl_gc_stats st;
	sl_gc_stats(gc, &st);
	assert_int_equal(st.deleted, 10);
	assert_int_equal(sl_gc_collect(gc, t, NULL, NULL), 0);
	assert_int_equal(sl_gc_collect(gc, t, NULL, NULL), SL_EBUSY);
	while (sl_gc_running(gc))
		sl_objstore_poll(s, t);
	sl_gc_free(gc);
	sl_objstore_memory_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(should_delete_orphaned_batch_files),
		cmocka_unit_test(should_not_delete_referenced_batch_files),
		cmocka_unit_test(should_not_delete_files_within_grace_period),
		cmocka_unit_test(should_not_delete_files_newer_than_oldest_manifest_entry),
		cmocka_unit_test(should_skip_non_batch_files),
		cmocka_unit_test(should_delete_older_orphans_but_keep_referenced),
		cmocka_unit_test(should_extract_ulid_timestamp),
		cmocka_unit_test(should_return_none_for_invalid_ulid_path),
		cmocka_unit_test(should_shutdown_collect_loop_on_cancel),
		cmocka_unit_test(failures_are_counted_and_retried),
		cmocka_unit_test(lists_every_page_and_runs_on_interval),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
