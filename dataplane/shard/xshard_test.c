/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Three workers' cross-worker links in one thread: each has its own origin, and the SPSC rings
 * between them are real rte_rings in plain memory. pump() polls every link until all are idle,
 * which is what the three worker loops would do concurrently.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/owner.h"
#include "core/ring.h"
#include "shard/xshard.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NW 3

static struct sl_origin *origin[NW];
static struct sl_xshard *xs[NW];
static void *ringmem[NW][NW];
static int provided;
static struct sl_track *published[8];
static int npublished;

static void make(unsigned int ring_size)
{
	struct rte_ring *r[NW][NW] = {{0}};
	for (int a = 0; a < NW; a++)
		for (int b = 0; b < NW; b++) {
			if (a == b)
				continue;
			size_t n = (sl_ring_memsize(ring_size) + 63) & ~(size_t)63;
			ringmem[a][b] = aligned_alloc(64, n);
			char name[32];
			snprintf(name, sizeof(name), "x%d%d", a, b);
			r[a][b] = sl_ring_init_mem(ringmem[a][b], name, ring_size);
		}
	for (int w = 0; w < NW; w++) {
		struct sl_xshard_config cfg = {.self = (uint16_t)w, .nworkers = NW};
		for (int o = 0; o < NW; o++) {
			cfg.to[o] = r[w][o];
			cfg.from[o] = r[o][w];
		}
		origin[w] = sl_origin_new(NULL);
		assert_int_equal(sl_xshard_new(&cfg, origin[w], &xs[w]), 0);
	}
	provided = 0;
	npublished = 0;
}

static void pump(void)
{
	for (int round = 0; round < 10000; round++) {
		unsigned int work = 0;
		for (int w = 0; w < NW; w++)
			work += sl_xshard_poll(xs[w], (uint64_t)round);
		if (work == 0)
			return;
	}
	fail_msg("links never went idle");
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < npublished; i++)
		sl_track_unref(published[i]);
	for (int w = 0; w < NW; w++) {
		sl_xshard_free(xs[w]);
		sl_origin_free(origin[w]);
	}
	for (int a = 0; a < NW; a++)
		for (int b = 0; b < NW; b++)
			free(ringmem[a][b]);
	return 0;
}

/* The publisher's provider on the ingest worker: the test writes into the tracks it creates. */
static int provide(void *arg, struct sl_broadcast *b, const char *name, uint8_t prio,
		   struct sl_track **out)
{
	(void)arg;
	provided++;
	int rc = sl_broadcast_create_track(b, name, prio, out);
	if (rc == 0)
		published[npublished++] = sl_track_ref(*out);
	return rc;
}

static struct sl_broadcast *publish(int w, const char *path)
{
	struct sl_broadcast *b;
	assert_int_equal(sl_origin_publish(origin[w], path, &b), 0);
	sl_broadcast_set_provider(b, provide, NULL);
	return b;
}

static void write_group(struct sl_track *t, uint64_t seq, int frames, uint8_t tag)
{
	struct sl_group *g;
	assert_int_equal(sl_track_create_group(t, seq, 0, &g), 0);
	for (int i = 0; i < frames; i++) {
		struct sl_buf *b = sl_buf_alloc(100);
		memset(b->data, tag + i, 100);
		b->len = 100;
		assert_int_equal(sl_group_write_frame(g, sl_slice_of(b)), 0);
	}
	sl_group_finish(g);
	sl_group_unref(g);
}

struct reader {
	struct sl_track_consumer c;
	struct sl_group_reader r;
	uint64_t frames, groups;
};

/* Reads everything available; returns the last poll result. */
static int drain(struct reader *rd)
{
	for (;;) {
		if (rd->r.group == NULL) {
			int rc = sl_track_consumer_next_group(&rd->c, NULL, &rd->r);
			if (rc != 0)
				return rc;
			rd->groups++;
		}
		struct sl_slice s;
		int rc = sl_group_read_frame(&rd->r, NULL, &s);
		if (rc == SL_EEOF) {
			sl_group_reader_release(&rd->r);
			continue;
		}
		if (rc != 0)
			return rc;
		rd->frames++;
	}
}

static void subscribe(int w, const char *path, const char *track, struct reader *rd)
{
	struct sl_broadcast *b = sl_origin_find(origin[w], path);
	assert_non_null(b);
	struct sl_track *t;
	memset(rd, 0, sizeof(*rd));
	assert_int_equal(sl_broadcast_request_track(b, track, 0, &t), 0);
	sl_track_consume(t, &rd->c);
	sl_track_unref(t);
}

static void unsubscribe(struct reader *rd)
{
	sl_group_reader_release(&rd->r);
	sl_track_consumer_release(&rd->c, NULL);
}

static void announcements_reach_every_worker(void **state)
{
	(void)state;
	make(64);
	struct sl_broadcast *b = publish(0, "room/alice");
	pump();
	assert_non_null(sl_origin_find(origin[1], "room/alice"));
	assert_non_null(sl_origin_find(origin[2], "room/alice"));
	struct sl_xshard_stats st;
	sl_xshard_stats(xs[1], &st);
	assert_int_equal(st.proxies, 1);
	/* Proxies are not announced back. */
	sl_xshard_stats(xs[0], &st);
	assert_int_equal(st.announces_out, 1);
	assert_int_equal(sl_origin_unpublish(origin[0], b), 0);
	sl_broadcast_unref(b);
	pump();
	assert_null(sl_origin_find(origin[1], "room/alice"));
	assert_null(sl_origin_find(origin[2], "room/alice"));
}

static void frames_cross_once_and_fan_out_without_copies(void **state)
{
	(void)state;
	make(1024);
	struct sl_broadcast *b = publish(0, "live");
	pump();
	struct reader r1, r2a, r2b;
	subscribe(1, "live", "video", &r1);
	subscribe(2, "live", "video", &r2a);
	subscribe(2, "live", "video", &r2b); /* same worker: one mirror, one upstream */
	pump();
	assert_int_equal(provided, 1);
	assert_int_equal(npublished, 1);
	uint64_t copied = sl_buf_stats()->bytes_copied;
	for (uint64_t g = 0; g < 5; g++) {
		write_group(published[0], g, 10, (uint8_t)g);
		pump();
	}
	assert_int_equal(sl_buf_stats()->bytes_copied, copied);
	assert_int_equal(drain(&r1), SL_EAGAIN);
	assert_int_equal(drain(&r2a), SL_EAGAIN);
	assert_int_equal(drain(&r2b), SL_EAGAIN);
	assert_int_equal(r1.frames, 50);
	assert_int_equal(r2a.frames, 50);
	assert_int_equal(r2b.frames, 50);
	assert_int_equal(r1.groups, 5);
	/* The track's owner is one worker; if it is not the ingest worker, the frames passed
	 * through its mirror on the way. */
	uint16_t owner = sl_xshard_owner(xs[0], "live", "video");
	struct sl_xshard_stats st;
	sl_xshard_stats(xs[0], &st);
	assert_int_equal(st.forwarders, owner == 0 ? 2 : 1);
	unsubscribe(&r1);
	unsubscribe(&r2a);
	unsubscribe(&r2b);
	pump();
	for (int w = 0; w < NW; w++) {
		sl_xshard_stats(xs[w], &st);
		assert_int_equal(st.mirrors, 0);
		assert_int_equal(st.forwarders, 0);
	}
	sl_origin_unpublish(origin[0], b);
	sl_broadcast_unref(b);
}

static void track_end_and_broadcast_end_reach_remote_readers(void **state)
{
	(void)state;
	make(256);
	struct sl_broadcast *b = publish(1, "show");
	pump();
	struct reader rv, ra;
	subscribe(2, "show", "video", &rv);
	subscribe(0, "show", "audio", &ra);
	pump();
	assert_int_equal(npublished, 2);
	struct sl_track *video = published[0], *audio = published[1];
	if (strcmp(sl_track_name(video), "video") != 0) {
		video = published[1];
		audio = published[0];
	}
	write_group(video, 0, 3, 1);
	assert_int_equal(sl_track_finish(video), 0);
	write_group(audio, 0, 2, 1);
	pump();
	assert_int_equal(drain(&rv), SL_EEOF);
	assert_int_equal(rv.frames, 3);
	assert_int_equal(drain(&ra), SL_EAGAIN);
	/* The publisher goes away: its unfinished track is dropped everywhere. */
	assert_int_equal(sl_origin_unpublish(origin[1], b), 0);
	sl_broadcast_unref(b);
	pump();
	assert_int_equal(drain(&ra), SL_EDROPPED);
	assert_int_equal(ra.frames, 2);
	unsubscribe(&rv);
	unsubscribe(&ra);
	pump();
}

static void unknown_tracks_fail_remotely(void **state)
{
	(void)state;
	make(64);
	struct sl_broadcast *b;
	assert_int_equal(sl_origin_publish(origin[0], "noprov", &b), 0); /* no provider */
	pump();
	struct reader rd;
	subscribe(2, "noprov", "video", &rd);
	pump();
	assert_int_equal(drain(&rd), SL_ENOTFOUND);
	unsubscribe(&rd);
	pump();
	sl_origin_unpublish(origin[0], b);
	sl_broadcast_unref(b);
}

/* Rings of 8 messages: everything still arrives, in order, through the deferred queues. */
static void full_rings_defer_without_loss(void **state)
{
	(void)state;
	make(8);
	struct sl_broadcast *b = publish(0, "big");
	pump();
	struct reader r1, r2;
	subscribe(1, "big", "t", &r1);
	subscribe(2, "big", "t", &r2);
	pump();
	for (uint64_t g = 0; g < 20; g++)
		write_group(published[0], g, 50, 7);
	pump();
	assert_int_equal(drain(&r1), SL_EAGAIN);
	assert_int_equal(drain(&r2), SL_EAGAIN);
	assert_int_equal(r1.frames, 1000);
	assert_int_equal(r2.frames, 1000);
	struct sl_xshard_stats st;
	sl_xshard_stats(xs[0], &st);
	assert_true(st.ring_full > 0);
	unsubscribe(&r1);
	unsubscribe(&r2);
	pump();
	sl_origin_unpublish(origin[0], b);
	sl_broadcast_unref(b);
}

static void bad_configs_are_refused(void **state)
{
	(void)state;
	struct sl_xshard *x;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_xshard_config cfg = {.self = 2, .nworkers = 2};
	assert_int_equal(sl_xshard_new(&cfg, o, &x), SL_EINVAL);
	cfg.self = 0;
	assert_int_equal(sl_xshard_new(&cfg, o, &x), SL_EINVAL); /* rings missing */
	cfg.nworkers = 1;
	assert_int_equal(sl_xshard_new(&cfg, o, &x), 0);
	assert_int_equal(sl_xshard_owner(x, "a", "b"), 0);
	sl_xshard_free(x);
	/* A map that names a worker that does not exist, or another worker count. */
	struct sl_shard_map map;
	assert_int_equal(sl_shard_map_fill(&map, 2, NULL), 0);
	cfg.map = &map;
	assert_int_equal(sl_xshard_new(&cfg, o, &x), SL_EINVAL);
	map.nworkers = 1;
	assert_int_equal(sl_xshard_new(&cfg, o, &x), SL_EINVAL);
	assert_int_equal(sl_shard_map_fill(&map, 0, NULL), SL_EINVAL);
	uint32_t zero[2] = {0, 0};
	assert_int_equal(sl_shard_map_fill(&map, 2, zero), SL_EINVAL);
	sl_origin_free(o);
}

static void shard_map_spreads_by_weight(void **state)
{
	(void)state;
	struct sl_shard_map map;
	unsigned count[3] = {0};
	assert_int_equal(sl_shard_map_fill(&map, 3, NULL), 0);
	for (uint32_t s = 0; s < SL_SHARD_MAP_SLOTS; s++)
		count[map.slot[s]]++;
	for (int w = 0; w < 3; w++)
		assert_true(count[w] == SL_SHARD_MAP_SLOTS / 3 ||
			    count[w] == SL_SHARD_MAP_SLOTS / 3 + 1);
	/* Weights 1:3: a quarter and three quarters, interleaved (no run longer than the ratio). */
	uint32_t weights[2] = {1, 3};
	assert_int_equal(sl_shard_map_fill(&map, 2, weights), 0);
	count[0] = count[1] = 0;
	unsigned run = 0, longest = 0;
	for (uint32_t s = 0; s < SL_SHARD_MAP_SLOTS; s++) {
		count[map.slot[s]]++;
		run = s && map.slot[s] == map.slot[s - 1] ? run + 1 : 1;
		if (run > longest)
			longest = run;
	}
	assert_int_equal(count[0], SL_SHARD_MAP_SLOTS / 4);
	assert_int_equal(count[1], 3 * SL_SHARD_MAP_SLOTS / 4);
	assert_true(longest <= 3);
	/* A weight of 0 takes a worker out of the map entirely. */
	uint32_t off[2] = {0, 1};
	assert_int_equal(sl_shard_map_fill(&map, 2, off), 0);
	for (uint32_t s = 0; s < SL_SHARD_MAP_SLOTS; s++)
		assert_int_equal(map.slot[s], 1);
}

/* The map decides ownership: with every slot on worker 1, a track published on worker 0 is
 * owned (mirrored) by worker 1 whatever its name hashes to. */
static void owner_follows_the_map(void **state)
{
	(void)state;
	struct sl_shard_map map;
	uint32_t weights[2] = {0, 1};
	assert_int_equal(sl_shard_map_fill(&map, 2, weights), 0);
	size_t n = (sl_ring_memsize(64) + 63) & ~(size_t)63;
	void *m01 = aligned_alloc(64, n), *m10 = aligned_alloc(64, n);
	struct rte_ring *r01 = sl_ring_init_mem(m01, "map01", 64);
	struct rte_ring *r10 = sl_ring_init_mem(m10, "map10", 64);
	assert_non_null(r01);
	assert_non_null(r10);
	struct sl_origin *o0 = sl_origin_new(NULL), *o1 = sl_origin_new(NULL);
	struct sl_xshard_config c0 = {.self = 0, .nworkers = 2, .map = &map};
	struct sl_xshard_config c1 = {.self = 1, .nworkers = 2, .map = &map};
	c0.to[1] = r01;
	c0.from[1] = r10;
	c1.to[0] = r10;
	c1.from[0] = r01;
	struct sl_xshard *x0, *x1;
	assert_int_equal(sl_xshard_new(&c0, o0, &x0), 0);
	assert_int_equal(sl_xshard_new(&c1, o1, &x1), 0);
	const char *names[] = {"a", "b", "video", "audio", "x/y"};
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(sl_xshard_owner(x0, "live", names[i]), 1);
		assert_int_equal(sl_xshard_owner(x1, names[i], "t"), 1);
	}
	sl_xshard_free(x0);
	sl_xshard_free(x1);
	sl_origin_free(o0);
	sl_origin_free(o1);
	free(m01);
	free(m10);
}

#ifdef SL_OWNER_CHECKS
static void *poll_elsewhere(void *arg)
{
	sl_xshard_poll(arg, 0);
	return NULL;
}

/* Polls x on another thread of a child process; returns whether that stopped the child. */
static bool poll_aborts_elsewhere(struct sl_xshard *x)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;
		pthread_create(&t, NULL, poll_elsewhere, x);
		pthread_join(t, NULL);
		_exit(0);
	}
	int ws = 0;
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	return WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT;
}
#endif

/* The link is its worker's: a poll from another thread stops the process (debug builds) until
 * the owner disowns it, as the worker does when its loop ends. */
static void link_asserts_its_owner(void **state)
{
	(void)state;
#ifdef SL_OWNER_CHECKS
	struct sl_xshard *x;
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_xshard_config cfg = {.self = 0, .nworkers = 1};
	assert_int_equal(sl_xshard_new(&cfg, o, &x), 0);
	sl_xshard_adopt(x);
	sl_xshard_poll(x, 0);
	assert_true(poll_aborts_elsewhere(x));
	sl_xshard_disown(x);
	assert_false(poll_aborts_elsewhere(x));
	sl_xshard_free(x);
	sl_origin_free(o);
#else
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(announcements_reach_every_worker, teardown),
		cmocka_unit_test_teardown(frames_cross_once_and_fan_out_without_copies, teardown),
		cmocka_unit_test_teardown(track_end_and_broadcast_end_reach_remote_readers,
					  teardown),
		cmocka_unit_test_teardown(unknown_tracks_fail_remotely, teardown),
		cmocka_unit_test_teardown(full_rings_defer_without_loss, teardown),
		cmocka_unit_test(bad_configs_are_refused),
		cmocka_unit_test(link_asserts_its_owner),
		cmocka_unit_test(shard_map_spreads_by_weight),
		cmocka_unit_test(owner_follows_the_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
