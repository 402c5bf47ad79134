/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the manifest queue under contention (issue 4): two producers and one consumer
 * update the same manifest object at once, every round: each producer enqueues one entry and the
 * consumer dequeues through the entries older than the last ten (so the manifest stays short
 * and every update is a real read-modify-conditional-write).
 *
 *   bm_manifest_contended/0   on the memory store
 *   bm_manifest_contended/1   on localdir (a temporary directory, fsync on)
 *
 * Counters: enqueue and dequeue latency p50/p99 in nanoseconds (start to done, retries and
 * backoff included) and the conflict rate (conflicts / conditional writes, all three clients).
 * The retry policy is the default one with a shorter backoff (min 20 us, max 2 ms) so the
 * figures measure the store, not the sleep.
 */
#include "gbench_shim.h"

#include "buffer/manifest.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"
#include "drivers/objstore/memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct timed {
	struct sl_manifest_op op;
	uint64_t start;
	bool done;
	uint64_t *lat;
	size_t *nlat;
};

static void timed_done(struct sl_manifest_op *op)
{
	struct timed *t = op->user;
	t->done = true;
	if (op->result == 0)
		t->lat[(*t->nlat)++] = sl_clock_now_ns() - t->start;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t i = (size_t)(p * (double)(n - 1));
	return (double)v[i];
}

static struct sl_manifest *client(struct sl_objstore *s, uint64_t seed)
{
	struct sl_manifest_config cfg;
	sl_manifest_config_default(&cfg);
	cfg.key = "manifest";
	cfg.seed = seed;
	cfg.backoff_min_ns = 20000;
	cfg.backoff_max_ns = 2000000;
	cfg.max_attempts = 64;
	return sl_manifest_new(s, &cfg);
}

static void bm_manifest_contended(struct sl_bench *b)
{
	int backend = (int)sl_bench_arg(b, 0);
	struct sl_objstore *s = NULL;
	char root[64] = "";
	if (backend == 0) {
		s = sl_objstore_memory_new(NULL);
	} else {
		snprintf(root, sizeof(root), "/tmp/sl-manifest-bench-XXXXXX");
		if (mkdtemp(root) == NULL || sl_localdir_open(root, NULL, &s) != 0) {
			sl_bench_error(b, "localdir unavailable");
			while (sl_bench_running(b))
				;
			return;
		}
	}
	struct sl_manifest *p1 = client(s, 1), *p2 = client(s, 2), *c = client(s, 3);
	struct timed fence = {0};
	uint64_t scratch[1];
	size_t nscratch = 0;
	fence.lat = scratch;
	fence.nlat = &nscratch;
	fence.op.done = timed_done;
	fence.op.user = &fence;
	fence.start = sl_clock_now_ns();
	sl_manifest_fence(c, &fence.op);
	while (!fence.done) {
		uint64_t now = sl_clock_now_ns();
		sl_objstore_poll(s, now);
		sl_manifest_poll(c, now);
	}

	size_t cap = 1 << 20, nenq = 0, ndeq = 0;
	uint64_t *enq = malloc(cap * sizeof(uint64_t)), *deq = malloc(cap * sizeof(uint64_t));
	uint64_t max_seq = 0;
	int64_t rounds = 0;
	int errors = 0;
	while (sl_bench_running(b)) {
		if (nenq + 2 > cap || ndeq + 1 > cap)
			break;
		struct timed t[3];
		memset(t, 0, sizeof(t));
		struct sl_manifest *who[3] = {p1, p2, c};
		for (int i = 0; i < 3; i++) {
			t[i].op.done = timed_done;
			t[i].op.user = &t[i];
			t[i].lat = i < 2 ? enq : deq;
			t[i].nlat = i < 2 ? &nenq : &ndeq;
			t[i].start = sl_clock_now_ns();
		}
		sl_manifest_enqueue(p1, &t[0].op, "data/01HGW1X1J3Z8K7M2N4P6Q8R0TV.batch", NULL, 0);
		sl_manifest_enqueue(p2, &t[1].op, "data/01HGW1X1J3Z8K7M2N4P6Q8R0TW.batch", NULL, 0);
		sl_manifest_dequeue(c, &t[2].op, max_seq > 10 ? max_seq - 10 : 0);
		while (!t[0].done || !t[1].done || !t[2].done) {
			uint64_t now = sl_clock_now_ns();
			sl_objstore_poll(s, now);
			for (int i = 0; i < 3; i++)
				sl_manifest_poll(who[i], now);
		}
		for (int i = 0; i < 3; i++) {
			if (t[i].op.result != 0)
				errors++;
			if (i < 2 && t[i].op.sequence > max_seq)
				max_seq = t[i].op.sequence;
		}
		rounds++;
	}
	struct sl_manifest_stats a, bb, cc;
	sl_manifest_stats(p1, &a);
	sl_manifest_stats(p2, &bb);
	sl_manifest_stats(c, &cc);
	uint64_t writes = a.writes + bb.writes + cc.writes;
	uint64_t conflicts = a.conflicts + bb.conflicts + cc.conflicts;
	sl_bench_items(b, rounds * 3);
	sl_bench_counter(b, "enq_p50_ns", pct(enq, nenq, 0.50), SL_BENCH_VALUE);
	sl_bench_counter(b, "enq_p99_ns", pct(enq, nenq, 0.99), SL_BENCH_VALUE);
	sl_bench_counter(b, "deq_p50_ns", pct(deq, ndeq, 0.50), SL_BENCH_VALUE);
	sl_bench_counter(b, "deq_p99_ns", pct(deq, ndeq, 0.99), SL_BENCH_VALUE);
	sl_bench_counter(b, "conflict_rate", writes ? (double)conflicts / (double)writes : 0,
			 SL_BENCH_VALUE);
	sl_bench_counter(b, "errors", errors, SL_BENCH_VALUE);
	sl_bench_label(b, backend == 0 ? "memory" : "localdir");
	free(enq);
	free(deq);
	sl_manifest_free(p1);
	sl_manifest_free(p2);
	sl_manifest_free(c);
	sl_objstore_destroy(s);
	if (root[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			sl_bench_error(b, "cleanup failed");
	}
}
SL_BENCHMARK(bm_manifest_contended, 0, 1);
