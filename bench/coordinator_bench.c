/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Benchmarks of the write coordinator (issue 3). Figures and the command that produced them are
 * recorded in docs/benchmarks.md.
 *
 *   bm_coord_apply/C          a 100-byte write through try_write + poll + apply into a record
 *                             batch, spread over C channels, with size-triggered flushes every
 *                             256 KiB completed by a prompt flusher; ns per write (target <= 100)
 *   bm_coord_flush_handoff    one write, a flush command, freeze, the flusher hand-off and its
 *                             completion (view rebuild and written watermark included); ns per
 *                             flush
 *   bm_coord_waiters/N        N waiters at WRITTEN completed by one flush completion; ns per
 *                             waiter (setup excluded from the timing)
 */
#include "gbench_shim.h"

#include "core/err.h"
#include "log/coordinator.h"

#include <stdlib.h>
#include <string.h>

#define PAYLOAD	  100
#define BATCH	  256
#define DELTA_CAP (512 * 1024)

/* ---- a record-batch delta: apply appends the payload, like a partition's batch ---- */

struct bdelta {
	struct bdelta *next_free;
	uint8_t *buf;
	size_t len;
	uint64_t records;
	void *ctx;
};

struct bpool {
	struct bdelta *free;
	struct sl_coord *c;
	bool prompt; /* complete each flush from inside the request */
	uint64_t pending_req;
	struct bdelta *pending;
};

static void *bd_init(void *arg, void *ctx)
{
	struct bpool *p = arg;
	struct bdelta *d = p->free;
	if (d) {
		p->free = d->next_free;
	} else {
		d = calloc(1, sizeof(*d));
		if (d == NULL)
			return NULL;
		d->buf = malloc(DELTA_CAP);
		if (d->buf == NULL) {
			free(d);
			return NULL;
		}
	}
	d->len = 0;
	d->records = 0;
	d->ctx = ctx;
	return d;
}

static int bd_apply(void *arg, void *delta, struct sl_coord_write *w)
{
	(void)arg;
	struct bdelta *d = delta;
	if (d->len + PAYLOAD > DELTA_CAP)
		return SL_ENOSPC;
	memcpy(d->buf + d->len, w->data, PAYLOAD);
	d->len += PAYLOAD;
	w->result = d->records++;
	return 0;
}

static uint64_t bd_size(void *arg, const void *delta)
{
	(void)arg;
	return ((const struct bdelta *)delta)->len;
}

static int bd_freeze(void *arg, void *delta, struct sl_coord_frozen_out *out)
{
	(void)arg;
	struct bdelta *d = delta;
	out->frozen = d;
	out->view = NULL;
	out->ctx = d->ctx;
	return 0;
}

static void bd_release(void *arg, enum sl_coord_obj_kind kind, void *obj)
{
	struct bpool *p = arg;
	if (kind == SL_COORD_OBJ_DELTA) {
		struct bdelta *d = obj;
		d->next_free = p->free;
		p->free = d;
	}
}

static const struct sl_coord_delta_ops bd_ops = {
	.init = bd_init,
	.apply = bd_apply,
	.estimate_size = bd_size,
	.freeze = bd_freeze,
	.release = bd_release,
};

static void pool_put(struct bpool *p, struct bdelta *d)
{
	d->next_free = p->free;
	p->free = d;
}

static void pool_free(struct bpool *p)
{
	while (p->free) {
		struct bdelta *d = p->free;
		p->free = d->next_free;
		free(d->buf);
		free(d);
	}
}

static int bf_flush_delta(void *arg, uint64_t req, void *frozen, uint64_t s, uint64_t e)
{
	(void)s;
	(void)e;
	struct bpool *p = arg;
	if (p->prompt) {
		pool_put(p, frozen);
		return sl_coord_flush_complete(p->c, req, 0, NULL, 0);
	}
	p->pending_req = req;
	p->pending = frozen;
	return 0;
}

static int bf_flush_storage(void *arg, uint64_t req)
{
	struct bpool *p = arg;
	return sl_coord_flush_complete(p->c, req, 0, NULL, 0);
}

static const struct sl_coord_flusher_ops bf_ops = {
	.flush_delta = bf_flush_delta,
	.flush_storage = bf_flush_storage,
};

static const char *const chan_names[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

static struct sl_coord *bench_coord(struct bpool *p, uint32_t nchan, uint64_t threshold)
{
	struct sl_coord_config cfg;
	sl_coord_config_default(&cfg);
	cfg.flush_size_threshold = threshold;
	cfg.flush_interval_ns = 0;
	cfg.poll_budget = 0;
	struct sl_coord_env env = {
		.channels = chan_names,
		.nchannels = nchan,
		.delta_ops = &bd_ops,
		.delta_arg = p,
		.flusher_ops = &bf_ops,
		.flusher_arg = p,
	};
	struct sl_coord *c = NULL;
	if (sl_coord_new(&cfg, &env, &c) != 0)
		return NULL;
	p->c = c;
	sl_coord_start(c, 0);
	return c;
}

static void bench_close(struct sl_coord *c, struct bpool *p)
{
	p->prompt = true;
	if (p->pending) {
		pool_put(p, p->pending);
		sl_coord_flush_complete(c, p->pending_req, 0, NULL, 0);
		p->pending = NULL;
	}
	sl_coord_stop(c, NULL, 0);
	sl_coord_free(c);
	pool_free(p);
}

static void bm_coord_apply(struct sl_bench *b)
{
	uint32_t nchan = (uint32_t)sl_bench_arg(b, 0);
	struct bpool p = {.prompt = true};
	struct sl_coord *c = bench_coord(&p, nchan, 256 * 1024);
	if (c == NULL) {
		sl_bench_error(b, "sl_coord_new failed");
		return;
	}
	static uint8_t payload[PAYLOAD];
	struct sl_coord_write *w = calloc(BATCH, sizeof(*w));
	for (int i = 0; i < BATCH; i++)
		w[i].data = payload;
	int64_t writes = 0;
	while (sl_bench_running_batch(b, BATCH)) {
		for (int i = 0; i < BATCH; i++)
			sl_coord_try_write(c, (int)((uint32_t)i % nchan), &w[i]);
		sl_coord_poll(c, 0);
		writes += BATCH;
	}
	if (w[BATCH - 1].status != 0)
		sl_bench_error(b, "a write was not applied");
	struct sl_coord_stats st;
	sl_coord_stats(c, &st);
	sl_bench_items(b, writes);
	sl_bench_bytes(b, writes * PAYLOAD);
	sl_bench_counter(b, "ns_per_write", (double)writes, SL_BENCH_NS_PER);
	sl_bench_counter(b, "flushes", (double)st.flushes, SL_BENCH_VALUE);
	bench_close(c, &p);
	free(w);
}
SL_BENCHMARK(bm_coord_apply, 1, 4);

static void bm_coord_flush_handoff(struct sl_bench *b)
{
	struct bpool p = {.prompt = false};
	struct sl_coord *c = bench_coord(&p, 1, UINT64_MAX);
	if (c == NULL) {
		sl_bench_error(b, "sl_coord_new failed");
		return;
	}
	static uint8_t payload[PAYLOAD];
	struct sl_coord_write w = {.data = payload}, f = {0};
	int64_t flushes = 0;
	while (sl_bench_running(b)) {
		sl_coord_try_write(c, 0, &w);
		sl_coord_flush(c, 0, &f, false);
		sl_coord_poll(c, 0); /* apply, freeze, hand off */
		struct bdelta *d = p.pending;
		p.pending = NULL;
		pool_put(&p, d);
		sl_coord_flush_complete(c, p.pending_req, 0, NULL, 0);
		flushes++;
	}
	uint64_t written;
	sl_coord_watermarks(c, NULL, &written, NULL);
	if (written != (uint64_t)flushes)
		sl_bench_error(b, "written watermark did not follow");
	sl_bench_items(b, flushes);
	sl_bench_counter(b, "ns_per_flush", (double)flushes, SL_BENCH_NS_PER);
	bench_close(c, &p);
}
SL_BENCHMARK_NOARG(bm_coord_flush_handoff);

static void bm_coord_waiters(struct sl_bench *b)
{
	int n = (int)sl_bench_arg(b, 0);
	struct bpool p = {.prompt = false};
	struct sl_coord *c = bench_coord(&p, 1, UINT64_MAX);
	if (c == NULL) {
		sl_bench_error(b, "sl_coord_new failed");
		return;
	}
	static uint8_t payload[PAYLOAD];
	struct sl_coord_write *w = calloc((size_t)n, sizeof(*w));
	struct sl_coord_waiter *wt = calloc((size_t)n, sizeof(*wt));
	struct sl_coord_write f = {0};
	for (int i = 0; i < n; i++)
		w[i].data = payload;
	int64_t completed = 0;
	int bad = 0;
	while (sl_bench_running(b)) {
		sl_bench_pause(b);
		/* The queue holds 10 000 writes: fill it in slices. */
		for (int i = 0; i < n; i++) {
			if (sl_coord_try_write(c, 0, &w[i]) == SL_ENOSPC) {
				sl_coord_poll(c, 0);
				sl_coord_try_write(c, 0, &w[i]);
			}
		}
		sl_coord_flush(c, 0, &f, false);
		sl_coord_poll(c, 0);
		for (int i = 0; i < n; i++)
			sl_coord_wait(c, &wt[i], w[i].epoch, SL_DURABILITY_WRITTEN);
		struct bdelta *d = p.pending;
		p.pending = NULL;
		pool_put(&p, d);
		sl_bench_resume(b);
		sl_coord_flush_complete(c, p.pending_req, 0, NULL, 0);
		completed += n;
		bad += wt[n - 1].status != 0;
	}
	if (bad)
		sl_bench_error(b, "waiters were not completed");
	sl_bench_items(b, completed);
	sl_bench_counter(b, "ns_per_waiter", (double)completed, SL_BENCH_NS_PER);
	bench_close(c, &p);
	free(w);
	free(wt);
}
SL_BENCHMARK(bm_coord_waiters, 64, 4096);
