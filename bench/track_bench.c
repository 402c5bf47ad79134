/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the live track engine (issue: foundation). Figures and the command that produced
 * them are recorded in docs/benchmarks.md.
 *
 *   bm_track_fanout/N       one 1200-byte frame to N in-process consumers, through the same
 *                           waiter-driven poll path a shard uses; ns per delivered frame per
 *                           consumer and payload bytes copied per delivery (must be 0)
 *   bm_track_insert_evict   group insert with one age eviction per insert at 10 000 cached groups
 *   bm_track_insert_budget  the same with byte-budget eviction
 *   bm_track_memory         heap bytes per cached group and per consumer (jemalloc statistics)
 */
#include "gbench_shim.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/err.h"
#include "track/track.h"

#include <stdlib.h>
#include <string.h>

#define FRAME_SIZE   1200
#define GROUP_FRAMES 60
#define FRAME_NS     (UINT64_C(1000000000) / 60)

/* A subscriber as a shard would hold it: cursor, current group reader and waiter, by value. */
struct sub {
	struct sl_waiter w;
	struct sl_group_reader r;
	struct sl_track_consumer c;
	uint64_t frames;
	uint32_t ready_mark;
};

struct ready_list {
	struct sub **v;
	uint32_t n;
};

static struct ready_list *g_ready;

static void sub_wake(struct sl_waiter *w)
{
	struct sub *s = (struct sub *)w;
	g_ready->v[g_ready->n++] = s;
}

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
		if (rc == 0) {
			s->frames++;
			continue;
		}
		if (rc == SL_EEOF) {
			sl_group_reader_release(&s->r);
			continue;
		}
		return rc;
	}
}

static void bm_track_fanout(struct sl_bench *b)
{
	uint32_t n = (uint32_t)sl_bench_arg(b, 0);
	struct sl_track *t = sl_track_new("video", 0, NULL);
	struct sub *subs = calloc(n, sizeof(*subs));
	struct ready_list ready = {calloc(n, sizeof(struct sub *)), 0};
	g_ready = &ready;
	for (uint32_t i = 0; i < n; i++) {
		sl_waiter_init(&subs[i].w, sub_wake);
		sl_track_consume(t, &subs[i].c);
		sub_drain(&subs[i]);
	}
	struct sl_group *g = NULL;
	uint64_t now = 0, frames = 0;
	uint64_t copied0 = sl_buf_stats()->bytes_copied;
	while (sl_bench_running(b)) {
		if (frames % GROUP_FRAMES == 0) {
			if (g) {
				sl_group_finish(g);
				sl_group_unref(g);
			}
			sl_track_append_group(t, now, &g);
		}
		/* The ingress copy happens in the QUIC layer; here the payload is only allocated.
		 */
		struct sl_buf *buf = sl_buf_alloc(FRAME_SIZE);
		buf->len = FRAME_SIZE;
		sl_group_write_frame(g, sl_slice_of(buf));
		frames++;
		now += FRAME_NS;
		/* Wakes may re-arm onto the next group while draining, so walk a snapshot. */
		uint32_t k = ready.n;
		ready.n = 0;
		for (uint32_t i = 0; i < k; i++)
			sub_drain(ready.v[i]);
	}
	uint64_t copied = sl_buf_stats()->bytes_copied - copied0;
	uint64_t delivered = 0;
	for (uint32_t i = 0; i < n; i++) {
		delivered += subs[i].frames;
		sl_group_reader_release(&subs[i].r);
		sl_track_consumer_release(&subs[i].c, &subs[i].w);
	}
	if (g) {
		sl_group_finish(g);
		sl_group_unref(g);
	}
	if (delivered != frames * n)
		sl_bench_error(b, "a consumer missed frames");
	sl_bench_items(b, (int64_t)delivered);
	sl_bench_bytes(b, (int64_t)(delivered * FRAME_SIZE));
	sl_bench_counter(b, "ns_per_delivery", (double)delivered, SL_BENCH_NS_PER);
	sl_bench_counter(b, "copied_bytes_per_delivery", delivered ? (double)copied / delivered : 0,
			 SL_BENCH_VALUE);
	sl_bench_counter(b, "consumers", n, SL_BENCH_VALUE);
	sl_track_unref(t);
	free(subs);
	free(ready.v);
}
SL_BENCHMARK(bm_track_fanout, 1, 100, 10000);

/* Fills a track with `cached` groups, then measures inserts that each evict the oldest. */
static void bm_track_insert_evict(struct sl_bench *b)
{
	uint64_t cached = (uint64_t)sl_bench_arg(b, 0);
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 0;
	cfg.max_age_ns = cached - 1; /* one tick per insert: exactly `cached` groups stay */
	struct sl_track *t = sl_track_new("evict", 0, &cfg);
	struct sl_group *g;
	uint64_t now = 0;
	for (uint64_t i = 0; i < cached; i++, now++) {
		sl_track_append_group(t, now, &g);
		sl_group_unref(g);
	}
	while (sl_bench_running(b)) {
		sl_track_append_group(t, now++, &g);
		sl_group_unref(g);
	}
	struct sl_track_stats st;
	sl_track_stats(t, &st);
	if (st.groups_cached != cached)
		sl_bench_error(b, "cache size drifted");
	sl_bench_items(b, sl_bench_iterations(b));
	sl_bench_counter(b, "ns_per_insert", (double)sl_bench_iterations(b), SL_BENCH_NS_PER);
	sl_bench_counter(b, "evictions", (double)st.evicted_age, SL_BENCH_VALUE);
	sl_track_unref(t);
}
SL_BENCHMARK(bm_track_insert_evict, 10000);

static void bm_track_insert_budget(struct sl_bench *b)
{
	uint64_t cached = (uint64_t)sl_bench_arg(b, 0);
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_age_ns = 0;
	cfg.max_bytes = cached * 100;
	struct sl_track *t = sl_track_new("budget", 0, &cfg);
	struct sl_buf *payload = sl_buf_alloc(100);
	payload->len = 100;
	struct sl_group *g;
	for (uint64_t i = 0; i < cached; i++) {
		sl_track_append_group(t, 0, &g);
		sl_group_write_frame(g, sl_slice_of(sl_buf_ref(payload)));
		sl_group_unref(g);
	}
	while (sl_bench_running(b)) {
		sl_track_append_group(t, 0, &g);
		sl_group_write_frame(g, sl_slice_of(sl_buf_ref(payload)));
		sl_group_unref(g);
	}
	struct sl_track_stats st;
	sl_track_stats(t, &st);
	if (st.groups_cached != cached)
		sl_bench_error(b, "cache size drifted");
	sl_bench_counter(b, "ns_per_insert", (double)sl_bench_iterations(b), SL_BENCH_NS_PER);
	sl_bench_counter(b, "evictions", (double)st.evicted_budget, SL_BENCH_VALUE);
	sl_track_unref(t);
	sl_buf_unref(payload);
}
SL_BENCHMARK(bm_track_insert_budget, 10000);

/* Memory is measured once, before the timing loop, from jemalloc's own statistics. */
static void bm_track_memory(struct sl_bench *b)
{
	enum { N = 10000 };
	size_t a0, a1, a2, a3;
	if (sl_alloc_allocated(&a0) != 0) {
		/* Sanitizer builds have no jemalloc statistics; report the fixed sizes only. */
		sl_bench_label(b, "heap figures need the jemalloc build");
		while (sl_bench_running(b))
			;
		sl_bench_counter(b, "consumer_state_bytes", (double)sizeof(struct sub),
				 SL_BENCH_VALUE);
		return;
	}
	struct sl_track_config cfg;
	sl_track_config_default(&cfg);
	cfg.max_bytes = 0;
	struct sl_track *t = sl_track_new("mem", 0, &cfg);
	struct sl_group *g;
	for (int i = 0; i < N; i++) {
		sl_track_append_group(t, 0, &g);
		sl_group_unref(g);
	}
	sl_alloc_allocated(&a1);
	struct sl_buf *payload = sl_buf_alloc(1);
	payload->len = 1;
	struct sl_track *t2 = sl_track_new("mem2", 0, &cfg);
	size_t b0;
	sl_alloc_allocated(&b0);
	for (int i = 0; i < N; i++) {
		sl_track_append_group(t2, 0, &g);
		sl_group_write_frame(g, sl_slice_of(sl_buf_ref(payload)));
		sl_group_unref(g);
	}
	sl_alloc_allocated(&a2);
	struct sub *subs = calloc(N, sizeof(*subs));
	size_t c0;
	sl_alloc_allocated(&c0);
	for (int i = 0; i < N; i++)
		sl_track_consume(t, &subs[i].c);
	sl_alloc_allocated(&a3);
	while (sl_bench_running(b))
		;
	sl_bench_counter(b, "bytes_per_empty_group", (double)(a1 - a0) / N, SL_BENCH_VALUE);
	sl_bench_counter(b, "bytes_per_1frame_group", (double)(a2 - b0) / N, SL_BENCH_VALUE);
	sl_bench_counter(b, "consumer_state_bytes", (double)sizeof(struct sub), SL_BENCH_VALUE);
	sl_bench_counter(b, "heap_bytes_per_consumer", (double)(a3 - c0) / N, SL_BENCH_VALUE);
	for (int i = 0; i < N; i++)
		sl_track_consumer_release(&subs[i].c, NULL);
	free(subs);
	sl_track_unref(t);
	sl_track_unref(t2);
	sl_buf_unref(payload);
}
SL_BENCHMARK_NOARG(bm_track_memory);
