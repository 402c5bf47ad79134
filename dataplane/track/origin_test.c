/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "track/origin.h"

#include <stdio.h>
#include <string.h>

struct watcher {
	struct sl_waiter w;
	int woken;
};

static void watcher_wake(struct sl_waiter *w)
{
	((struct watcher *)w)->woken++;
}

static void expect(struct sl_announced *a, const char *suffix, bool active)
{
	struct sl_announce ev;
	assert_int_equal(sl_announced_next(a, NULL, &ev), 0);
	assert_string_equal(ev.suffix, suffix);
	assert_int_equal(ev.active, active);
}

static void publish_find_and_tracks(void **state)
{
	(void)state;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_broadcast *b, *dup;
	struct sl_track *t, *t2;
	assert_int_equal(sl_origin_publish(o, "/live//demo/", &b), 0);
	assert_string_equal(sl_broadcast_path(b), "live/demo");
	assert_int_equal(sl_origin_publish(o, "live/demo", &dup), SL_EDUP);
	assert_ptr_equal(sl_origin_find(o, "live/demo/"), b);
	assert_null(sl_origin_find(o, "live"));
	assert_int_equal(sl_origin_broadcasts(o), 1);

	assert_int_equal(sl_broadcast_create_track(b, "video", 2, &t), 0);
	assert_int_equal(sl_broadcast_create_track(b, "video", 2, &t2), SL_EDUP);
	assert_int_equal(sl_broadcast_create_track(b, "", 2, &t2), SL_EINVAL);
	assert_ptr_equal(sl_broadcast_track(b, "video"), t);
	assert_null(sl_broadcast_track(b, "audio"));
	assert_int_equal(sl_track_priority(t), 2);

	assert_int_equal(sl_origin_unpublish(o, b), 0);
	assert_int_equal(sl_origin_unpublish(o, b), SL_ECLOSED);
	assert_null(sl_origin_find(o, "live/demo"));
	assert_int_equal(sl_broadcast_create_track(b, "audio", 0, &t2), SL_ECLOSED);
	/* An unfinished track of an ended broadcast is dropped. */
	struct sl_track_consumer c;
	sl_track_consume(t, &c);
	assert_int_equal(sl_track_consumer_closed(&c, NULL), SL_EDROPPED);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	/* The path is free again. */
	assert_int_equal(sl_origin_publish(o, "live/demo", &b), 0);
	sl_broadcast_unref(b);
	sl_origin_free(o);
}

static void finished_tracks_survive_unpublish(void **state)
{
	(void)state;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_broadcast *b;
	struct sl_track *t;
	struct sl_track_consumer c;
	struct sl_group_reader r;
	assert_int_equal(sl_origin_publish(o, "vod", &b), 0);
	assert_int_equal(sl_broadcast_create_track(b, "v", 0, &t), 0);
	struct sl_buf *f = sl_buf_from("x", 1);
	assert_int_equal(sl_track_write_frame(t, 0, sl_slice_of(f)), 0);
	assert_int_equal(sl_track_finish(t), 0);
	sl_track_consume(t, &c);
	assert_int_equal(sl_origin_unpublish(o, b), 0);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
	sl_group_reader_release(&r);
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EEOF);
	assert_int_equal(sl_track_consumer_closed(&c, NULL), 0);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_origin_free(o);
}

static void announces_current_set_then_changes_by_prefix(void **state)
{
	(void)state;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_broadcast *a1, *a2, *other, *lookalike;
	struct sl_announce ev;
	struct watcher wt = {0};
	sl_waiter_init(&wt.w, watcher_wake);
	assert_int_equal(sl_origin_publish(o, "room/alice", &a1), 0);
	assert_int_equal(sl_origin_publish(o, "lobby/x", &other), 0);

	struct sl_announced *room = sl_origin_announced(o, "/room/");
	struct sl_announced *all = sl_origin_announced(o, "");
	assert_non_null(room);
	expect(room, "alice", true);
	assert_int_equal(sl_announced_next(room, &wt.w, &ev), SL_EAGAIN);

	assert_int_equal(sl_origin_publish(o, "room/bob", &a2), 0);
	assert_int_equal(wt.woken, 1);
	assert_int_equal(sl_origin_publish(o, "roomba/c", &lookalike), 0); /* not under room/ */
	expect(room, "bob", true);
	assert_int_equal(sl_announced_next(room, NULL, &ev), SL_EAGAIN);

	assert_int_equal(sl_origin_unpublish(o, a1), 0);
	expect(room, "alice", false);
	sl_broadcast_unref(a1);
	assert_int_equal(sl_origin_publish(o, "room/alice", &a1), 0);
	expect(room, "alice", true);

	/* The empty prefix sees everything, with full paths, current set first. */
	int n = 0;
	while (sl_announced_next(all, NULL, &ev) == 0)
		n++;
	assert_int_equal(n, 2 + 4); /* 2 initial, then bob, roomba/c, alice ended, alice active */

	sl_announced_free(room);
	sl_announced_free(all);
	sl_broadcast_unref(a1);
	sl_broadcast_unref(a2);
	sl_broadcast_unref(other);
	sl_broadcast_unref(lookalike);
	sl_origin_free(o);
}

static void many_broadcasts_with_hash_chains(void **state)
{
	(void)state;
	struct sl_origin *o = sl_origin_new(NULL);
	static struct sl_broadcast *bs[2000];
	char path[64];
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "b/%d", i);
		assert_int_equal(sl_origin_publish(o, path, &bs[i]), 0);
	}
	for (int i = 0; i < 2000; i += 2)
		assert_int_equal(sl_origin_unpublish(o, bs[i]), 0);
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "b/%d", i);
		assert_ptr_equal(sl_origin_find(o, path), i % 2 ? bs[i] : NULL);
	}
	assert_int_equal(sl_origin_broadcasts(o), 1000);
	for (int i = 0; i < 2000; i++)
		sl_broadcast_unref(bs[i]);
	sl_origin_free(o);
}

static int provided;

static int provide(void *arg, struct sl_broadcast *b, const char *name, uint8_t prio,
		   struct sl_track **out)
{
	(void)arg;
	provided++;
	return sl_broadcast_create_track(b, name, prio, out);
}

static void unused_cb(void *arg, struct sl_track *t)
{
	(void)t;
	(*(int *)arg)++;
}

/* Tracks are created on demand by the broadcast's provider, once; the last consumer leaving
 * tells whoever feeds the track. */
static void provider_creates_tracks_on_demand(void **state)
{
	(void)state;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_broadcast *b;
	struct sl_track *t1, *t2;
	int unused = 0;
	provided = 0;
	assert_int_equal(sl_origin_publish(o, "live", &b), 0);
	assert_int_equal(sl_broadcast_request_track(b, "video", 0, &t1), SL_ENOTFOUND);
	sl_broadcast_set_provider(b, provide, NULL);
	sl_broadcast_set_user(b, &unused);
	assert_ptr_equal(sl_broadcast_user(b), &unused);
	assert_int_equal(sl_broadcast_request_track(b, "video", 3, &t1), 0);
	assert_int_equal(sl_broadcast_request_track(b, "video", 3, &t2), 0);
	assert_ptr_equal(t1, t2);
	assert_int_equal(provided, 1);
	sl_track_set_unused(t1, unused_cb, &unused);
	struct sl_track_consumer c1, c2;
	sl_track_consume(t1, &c1);
	sl_track_consume(t1, &c2);
	sl_track_consumer_release(&c1, NULL);
	assert_int_equal(unused, 0);
	sl_track_consumer_release(&c2, NULL);
	assert_int_equal(unused, 1);
	assert_int_equal(sl_broadcast_remove_track(b, t1), 0);
	assert_int_equal(sl_broadcast_remove_track(b, t1), SL_ENOTFOUND);
	assert_null(sl_broadcast_track(b, "video"));
	sl_track_unref(t1);
	sl_track_unref(t2);
	assert_int_equal(sl_origin_unpublish(o, b), 0);
	assert_int_equal(sl_broadcast_request_track(b, "video", 3, &t1), SL_ECLOSED);
	sl_broadcast_unref(b);
	sl_origin_free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(publish_find_and_tracks),
		cmocka_unit_test(finished_tracks_survive_unpublish),
		cmocka_unit_test(announces_current_set_then_changes_by_prefix),
		cmocka_unit_test(many_broadcasts_with_hash_chains),
		cmocka_unit_test(provider_creates_tracks_on_demand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
