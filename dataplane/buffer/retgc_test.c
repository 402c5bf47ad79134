/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The retention garbage collector on the real memory and localdir object stores: objects live
 * while referenced, dead objects deleted only after the grace period and never while pinned,
 * failed deletes retried, and the metadata log's trim point following the deletions.
 */
#include "core/test_common.h"
#include "buffer/retgc.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"
#include "drivers/objstore/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC UINT64_C(1000000000)

static struct sl_objstore *store;
static struct sl_retgc *gc;
static char dir[64];
static const char *pinned_key;

static bool pinned(void *arg, const char *key)
{
	(void)arg;
	return pinned_key != NULL && strcmp(key, pinned_key) == 0;
}

static void make_gc(void)
{
	struct sl_retgc_config c;
	sl_retgc_config_default(&c);
	c.store = store;
	c.grace_ns = 10 * SEC;
	c.pinned = pinned;
	assert_int_equal(sl_retgc_new(&c, &gc), 0);
}

static int setup_memory(void **state)
{
	(void)state;
	dir[0] = '\0';
	pinned_key = NULL;
	store = sl_objstore_memory_new(NULL);
	assert_non_null(store);
	make_gc();
	return 0;
}

static int setup_localdir(void **state)
{
	(void)state;
	pinned_key = NULL;
	snprintf(dir, sizeof(dir), "/tmp/sl-retgc-XXXXXX");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sl_localdir_open(dir, NULL, &store), 0);
	make_gc();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sl_retgc_free(gc);
	sl_objstore_destroy(store);
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
	return 0;
}

static void put(const char *key)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = key;
	r.body = sl_buf_from("batch", 5);
	assert_int_equal(sl_objstore_run(store, &r), 0);
	sl_obj_req_reset(&r);
}

static bool exists(const char *key)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_HEAD;
	r.key = key;
	bool ok = sl_objstore_run(store, &r) == 0;
	sl_obj_req_reset(&r);
	return ok;
}

/* Polls at now until no delete is in flight (the localdir store completes on the disk's time,
 * 10 s at most). */
static void poll_at(uint64_t now)
{
	sl_retgc_poll(gc, now);
	for (int i = 0; i < 100000 && sl_retgc_busy(gc); i++) {
		usleep(100);
		sl_retgc_poll(gc, now);
	}
	assert_false(sl_retgc_busy(gc));
}

static struct sl_retgc_stats stats(void)
{
	struct sl_retgc_stats st;
	sl_retgc_stats(gc, &st);
	return st;
}

static void dead_objects_go_only_after_the_grace_period(void **state)
{
	(void)state;
	put("data/a");
	put("data/b");
	assert_int_equal(sl_retgc_live(gc, "data/a", 5, 2, 0, 0), 0);
	assert_int_equal(sl_retgc_live(gc, "data/b", 5, 1, 0, 1), 0);
	assert_int_equal(sl_retgc_live(gc, "data/a", 5, 1, 0, 2), SL_EDUP);
	assert_int_equal(stats().objects_live, 2);
	assert_int_equal(stats().bytes_live, 10);
	/* One of a's two ranges goes: still live. */
	assert_int_equal(sl_retgc_release(gc, "data/a", 1, 100 * SEC), 0);
	poll_at(200 * SEC);
	assert_true(exists("data/a"));
	assert_int_equal(stats().gc_dead, 0);
	/* The other: dead at 200 s, deleted from 210 s on. */
	assert_int_equal(sl_retgc_release(gc, "data/a", 1, 200 * SEC), 0);
	assert_int_equal(stats().objects_dead, 1);
	assert_int_equal(sl_retgc_poll(gc, 205 * SEC), 210 * SEC);
	poll_at(209 * SEC);
	assert_true(exists("data/a"));
	poll_at(210 * SEC);
	assert_false(exists("data/a"));
	assert_true(exists("data/b"));
	struct sl_retgc_stats st = stats();
	assert_int_equal(st.gc_dead, 1);
	assert_int_equal(st.gc_deleted, 1);
	assert_int_equal(st.gc_bytes_deleted, 5);
	assert_int_equal(st.objects_live, 1);
	assert_int_equal(st.objects_dead, 0);
	assert_int_equal(sl_retgc_poll(gc, 300 * SEC), UINT64_MAX);
}

static void pinned_objects_are_kept(void **state)
{
	(void)state;
	put("data/p");
	assert_int_equal(sl_retgc_live(gc, "data/p", 5, 1, 1, 0), 0);
	pinned_key = "data/p";
	assert_int_equal(sl_retgc_release(gc, "data/p", 1, 0), 0);
	poll_at(10 * SEC);
	poll_at(15 * SEC);
	assert_true(exists("data/p"));
	assert_int_equal(stats().gc_pinned, 1);
	assert_int_equal(sl_retgc_trim_point(gc, 1), 0);
	/* Unpinned: it goes a grace period after it was last found pinned. */
	pinned_key = NULL;
	poll_at(19 * SEC);
	assert_true(exists("data/p"));
	poll_at(20 * SEC);
	assert_false(exists("data/p"));
	assert_int_equal(sl_retgc_trim_point(gc, 1), 1);
}

static void the_trim_point_follows_deleted_events(void **state)
{
	(void)state;
	assert_int_equal(sl_retgc_trim_point(gc, 3), -1);
	const char *keys[3] = {"data/x0", "data/x1", "data/x2"};
	for (int i = 0; i < 3; i++) {
		put(keys[i]);
		assert_int_equal(sl_retgc_live(gc, keys[i], 5, 1, 3, 10 + i), 0);
	}
	assert_int_equal(sl_retgc_trim_point(gc, 3), 10);
	/* The newest goes first: the oldest still holds the log back. */
	sl_retgc_release(gc, keys[2], 1, 0);
	poll_at(10 * SEC);
	assert_false(exists(keys[2]));
	assert_int_equal(sl_retgc_trim_point(gc, 3), 10);
	sl_retgc_release(gc, keys[0], 1, 10 * SEC);
	poll_at(20 * SEC);
	assert_int_equal(sl_retgc_trim_point(gc, 3), 11);
	/* Dead is not enough: only a deleted object's event may go. */
	sl_retgc_release(gc, keys[1], 1, 20 * SEC);
	poll_at(25 * SEC);
	assert_int_equal(sl_retgc_trim_point(gc, 3), 11);
	poll_at(30 * SEC);
	assert_int_equal(sl_retgc_trim_point(gc, 3), 13);
	/* Later events that named nothing live (void ones) move the end. */
	sl_retgc_log_end(gc, 3, 20);
	assert_int_equal(sl_retgc_trim_point(gc, 3), 20);
	assert_int_equal(sl_retgc_trim_point(gc, 2), -1);
}

static void unknown_objects_die_at_once_and_failed_deletes_are_retried(void **state)
{
	(void)state;
	put("data/never-indexed");
	assert_int_equal(sl_retgc_release(gc, "data/never-indexed", 1, 0), 0);
	if (sl_objstore_is_memory(store))
		sl_objstore_memory_fail_next(store, SL_OBJ_DELETE, 1, SL_EIO);
	poll_at(10 * SEC);
	if (sl_objstore_is_memory(store)) {
		assert_true(exists("data/never-indexed"));
		assert_int_equal(stats().gc_delete_failed, 1);
		poll_at(19 * SEC);
		assert_true(exists("data/never-indexed"));
		poll_at(20 * SEC);
	}
	assert_false(exists("data/never-indexed"));
	assert_int_equal(stats().gc_deleted, 1);
	/* A missing object counts as deleted. */
	assert_int_equal(sl_retgc_release(gc, "data/gone-already", 1, 30 * SEC), 0);
	poll_at(40 * SEC);
	assert_int_equal(stats().gc_deleted, 2);
	assert_int_equal(sl_retgc_release(gc, "", 1, 0), SL_EINVAL);
	assert_int_equal(sl_retgc_live(gc, "data/y", 1, 0, 0, 0), SL_EINVAL);
	assert_int_equal(sl_retgc_live(gc, "data/y", 1, 1, 16, 0), SL_EINVAL);
}

static void many_objects_grow_the_table(void **state)
{
	(void)state;
	char key[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "data/m%05d", i);
		assert_int_equal(sl_retgc_live(gc, key, 1, 1, i % 16, i / 16), 0);
	}
	for (int i = 0; i < 5000; i += 2) {
		snprintf(key, sizeof(key), "data/m%05d", i);
		assert_int_equal(sl_retgc_release(gc, key, 1, 0), 0);
	}
	assert_int_equal(stats().objects_live, 2500);
	assert_int_equal(stats().objects_dead, 2500);
	for (int k = 0; k < 100 && stats().objects_dead > 0; k++)
		poll_at(10 * SEC);
	assert_int_equal(stats().gc_deleted, 2500);
	/* Partition 0 held only even ones (all gone): its trim point is its end; partition 1
	 * only odd ones (all live). */
	assert_int_equal(sl_retgc_trim_point(gc, 0), 313);
	assert_int_equal(sl_retgc_trim_point(gc, 1), 0);
}

#define M(f) cmocka_unit_test_setup_teardown(f, setup_memory, teardown)
#define L(f) cmocka_unit_test_setup_teardown(f, setup_localdir, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		M(dead_objects_go_only_after_the_grace_period),
		L(dead_objects_go_only_after_the_grace_period),
		M(pinned_objects_are_kept),
		L(pinned_objects_are_kept),
		M(the_trim_point_follows_deleted_events),
		L(the_trim_point_follows_deleted_events),
		M(unknown_objects_die_at_once_and_failed_deletes_are_retried),
		L(unknown_objects_die_at_once_and_failed_deletes_are_retried),
		M(many_objects_grow_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
