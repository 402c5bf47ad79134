/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acceptance tests for the write coordinator. The first group are C twins of every test in
 * ../shared/reference/opendata-write-coordinator.rs (names kept). The rest cover what shardline
 * adds or fixes: flush errors answer waiters, stop makes everything durable, bounded frozen
 * deltas, out-of-order flush completions, bad input.
 *
 * The delta is a small key/value memtable that stamps each write with a sequence number taken
 * from its context (so the context visibly carries across deltas), and the flusher records each
 * request and lets the test complete it when it chooses, writing the frozen rows into an
 * in-memory "storage" whose copies serve as snapshots. That is the real interface driven the way
 * a shard drives it, with the test playing the io core.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "log/coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS		      UINT64_C(1000000)
#define SEC		      (1000 * MS)
#define HOUR		      (3600 * SEC)
#define TEST_EAPPLY	      (SL_ERR_MIN - 1) /* an application error code */
#define TEST_EFLUSH	      (SL_ERR_MIN - 2)
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

/* ---- a key/value map with (seq, value) rows, refcounted so views can share it ---- */

struct row {
	char key[24];
	uint64_t seq;
	uint64_t value;
};

struct kvmap {
	uint32_t refs, n, cap;
	struct row *rows;
};

static struct kvmap *kv_new(void)
{
	struct kvmap *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	m->refs = 1;
	return m;
}

static void kv_unref(struct kvmap *m)
{
	if (m && --m->refs == 0) {
		free(m->rows);
		free(m);
	}
}

static struct row *kv_find(const struct kvmap *m, const char *key)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (strcmp(m->rows[i].key, key) == 0)
			return &m->rows[i];
	return NULL;
}

static void kv_put(struct kvmap *m, const char *key, uint64_t seq, uint64_t value)
{
	struct row *r = kv_find(m, key);
	if (r == NULL) {
		if (m->n == m->cap) {
			m->cap = m->cap ? 2 * m->cap : 16;
			m->rows = realloc(m->rows, m->cap * sizeof(*m->rows));
			assert_non_null(m->rows);
		}
		r = &m->rows[m->n++];
		snprintf(r->key, sizeof(r->key), "%s", key);
	}
	r->seq = seq;
	r->value = value;
}

static struct kvmap *kv_copy(const struct kvmap *src)
{
	struct kvmap *m = kv_new();
	for (uint32_t i = 0; i < src->n; i++)
		kv_put(m, src->rows[i].key, src->rows[i].seq, src->rows[i].value);
	return m;
}

/* Value of key in a map seen through a view, or -1 when absent. */
static int64_t kv_get(const void *map, const char *key)
{
	const struct row *r = kv_find(map, key);
	return r ? (int64_t)r->value : -1;
}

/* ---- the test delta ---- */

struct tctx {
	uint64_t next_seq;
	int error; /* when set, every apply fails with it */
};

struct tdelta {
	struct tctx *ctx;
	struct kvmap *writes; /* key -> (seq, value): what gets flushed */
	struct kvmap *kv;     /* key -> value, shared with readers */
	uint64_t size;
};

struct twrite {
	struct sl_coord_write w;
	char key[24];
	uint64_t value;
	uint64_t size;
	int done_calls;
};

static void *td_init(void *arg, void *ctx)
{
	(void)arg;
	struct tdelta *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->ctx = ctx;
	d->writes = kv_new();
	d->kv = kv_new();
	return d;
}

static int td_apply(void *arg, void *delta, struct sl_coord_write *w)
{
	(void)arg;
	struct tdelta *d = delta;
	struct twrite *t = w->data;
	if (d->ctx->error)
		return d->ctx->error;
	uint64_t seq = d->ctx->next_seq++;
	kv_put(d->writes, t->key, seq, t->value);
	kv_put(d->kv, t->key, 0, t->value);
	d->size += t->size;
	w->result = seq;
	return 0;
}

static uint64_t td_size(void *arg, const void *delta)
{
	(void)arg;
	return ((const struct tdelta *)delta)->size;
}

static int td_freeze(void *arg, void *delta, struct sl_coord_frozen_out *out)
{
	(void)arg;
	struct tdelta *d = delta;
	out->frozen = d->writes;
	out->view = kv_copy(d->kv);
	out->ctx = d->ctx;
	kv_unref(d->kv);
	free(d);
	return 0;
}

static void *td_reader(void *arg, void *delta)
{
	(void)arg;
	struct tdelta *d = delta;
	d->kv->refs++;
	return d->kv;
}

static void td_release(void *arg, enum sl_coord_obj_kind kind, void *obj)
{
	(void)arg;
	if (kind == SL_COORD_OBJ_DELTA) {
		struct tdelta *d = obj;
		free(d->ctx);
		kv_unref(d->writes);
		kv_unref(d->kv);
		free(d);
	} else if (kind == SL_COORD_OBJ_CONTEXT) {
		free(obj);
	} else {
		kv_unref(obj);
	}
}

static const struct sl_coord_delta_ops td_ops = {
	.init = td_init,
	.apply = td_apply,
	.estimate_size = td_size,
	.freeze = td_freeze,
	.reader = td_reader,
	.release = td_release,
};

/* ---- the test flusher ---- */

enum { REQ_DELTA, REQ_STORAGE };

struct treq {
	uint64_t id;
	int kind;
	struct kvmap *frozen;
	uint64_t start, end;
	bool completed;
	int rc;
};

struct tflusher {
	struct sl_coord *c;
	struct treq reqs[512];
	int n;
	struct kvmap *storage;
	bool inline_complete; /* complete from inside the request, like a synchronous backend */
	uint64_t now;
	int storage_flushes;
	int snapshots_live;
};

static void tf_release_snapshot(void *arg, void *snap)
{
	struct tflusher *tf = arg;
	tf->snapshots_live--;
	kv_unref(snap);
}

/* Completes request i: a delta's rows go into storage and a copy of storage is the snapshot. */
static void tf_complete(struct tflusher *tf, int i, int rc)
{
	struct treq *r = &tf->reqs[i];
	assert_false(r->completed);
	r->completed = true;
	r->rc = rc;
	void *snap = NULL;
	if (rc == 0 && r->kind == REQ_DELTA) {
		for (uint32_t k = 0; k < r->frozen->n; k++)
			kv_put(tf->storage, r->frozen->rows[k].key, r->frozen->rows[k].seq,
			       r->frozen->rows[k].value);
		snap = kv_copy(tf->storage);
		tf->snapshots_live++;
	}
	assert_int_equal(sl_coord_flush_complete(tf->c, r->id, rc, snap, tf->now), 0);
}

static int tf_flush_delta(void *arg, uint64_t req_id, void *frozen, uint64_t start, uint64_t end)
{
	struct tflusher *tf = arg;
	assert_true(tf->n < 512);
	struct treq *r = &tf->reqs[tf->n++];
	*r = (struct treq){
		.id = req_id, .kind = REQ_DELTA, .frozen = frozen, .start = start, .end = end};
	if (tf->inline_complete)
		tf_complete(tf, tf->n - 1, 0);
	return 0;
}

static int tf_flush_storage(void *arg, uint64_t req_id)
{
	struct tflusher *tf = arg;
	assert_true(tf->n < 512);
	tf->storage_flushes++;
	tf->reqs[tf->n++] = (struct treq){.id = req_id, .kind = REQ_STORAGE};
	if (tf->inline_complete)
		tf_complete(tf, tf->n - 1, 0);
	return 0;
}

static const struct sl_coord_flusher_ops tf_ops = {
	.flush_delta = tf_flush_delta,
	.flush_storage = tf_flush_storage,
	.release_snapshot = tf_release_snapshot,
};

/* Completes every outstanding request in issue order. Returns how many it completed. */
static int tf_complete_all(struct tflusher *tf)
{
	int done = 0;
	for (int i = 0; i < tf->n; i++) {
		if (!tf->reqs[i].completed) {
			tf_complete(tf, i, 0);
			done++;
		}
	}
	return done;
}

static int tf_pending(const struct tflusher *tf)
{
	int p = 0;
	for (int i = 0; i < tf->n; i++)
		p += !tf->reqs[i].completed;
	return p;
}

/* Successful delta flushes, in completion order: the reference's flushed_events(). */
static int tf_events(const struct tflusher *tf, const struct treq **out, int max)
{
	int n = 0;
	for (int i = 0; i < tf->n; i++) {
		const struct treq *r = &tf->reqs[i];
		if (r->kind == REQ_DELTA && r->completed && r->rc == 0) {
			if (n < max)
				out[n] = r;
			n++;
		}
	}
	return n;
}

static int tf_event_count(const struct tflusher *tf)
{
	return tf_events(tf, NULL, 0);
}

/* ---- harness ---- */

struct h {
	struct sl_coord *c;
	struct tflusher tf;
	uint64_t now;
	int ch;
};

/* The reference's test_config(): queue 100, a one-hour interval, no size threshold. */
static void test_config(struct sl_coord_config *cfg)
{
	sl_coord_config_default(cfg);
	cfg->queue_capacity = 100;
	cfg->flush_interval_ns = HOUR;
	cfg->flush_size_threshold = UINT64_MAX;
}

static void h_open(struct h *h, const struct sl_coord_config *cfg, const char *const *names,
		   uint32_t n, int ctx_error)
{
	memset(h, 0, sizeof(*h));
	h->tf.storage = kv_new();
	struct tctx *ctx = calloc(1, sizeof(*ctx));
	ctx->error = ctx_error;
	struct sl_coord_env env = {
		.channels = names,
		.nchannels = n,
		.delta_ops = &td_ops,
		.initial_ctx = ctx,
		.flusher_ops = &tf_ops,
		.flusher_arg = &h->tf,
		.initial_snapshot = kv_new(),
	};
	h->tf.snapshots_live = 1;
	assert_int_equal(sl_coord_new(cfg, &env, &h->c), 0);
	h->tf.c = h->c;
	h->ch = 0;
}

static const char *const default_channel[] = {"default"};

static void h_default(struct h *h, const struct sl_coord_config *cfg)
{
	struct sl_coord_config def;
	if (cfg == NULL) {
		test_config(&def);
		cfg = &def;
	}
	h_open(h, cfg, default_channel, 1, 0);
	assert_int_equal(sl_coord_channel(h->c, "default"), 0);
}

static void h_start(struct h *h)
{
	assert_int_equal(sl_coord_start(h->c, h->now), 0);
}

/* Polls and lets the flusher complete everything until nothing moves (a prompt io core). */
static void drive(struct h *h)
{
	for (int i = 0; i < 1000; i++) {
		h->tf.now = h->now;
		uint64_t next = sl_coord_poll(h->c, h->now);
		int done = tf_complete_all(&h->tf);
		if (done == 0 && next != h->now)
			return;
	}
	fail_msg("coordinator did not settle");
}

/* Stops, completing flushes as they come; asserts the stop succeeded. */
static void h_stop(struct h *h)
{
	for (int i = 0; i < 1000; i++) {
		h->tf.now = h->now;
		int rc = sl_coord_stop(h->c, NULL, h->now);
		if (rc != SL_EAGAIN) {
			assert_int_equal(rc, 0);
			return;
		}
		tf_complete_all(&h->tf);
	}
	fail_msg("stop did not finish");
}

static void h_close(struct h *h)
{
	sl_coord_free(h->c);
	for (int i = 0; i < h->tf.n; i++)
		kv_unref(h->tf.reqs[i].frozen);
	kv_unref(h->tf.storage);
	/* Every snapshot (the initial one included) went back through release_snapshot. */
	assert_int_equal(h->tf.snapshots_live, 0);
}

static void tw_done(struct sl_coord_write *w)
{
	container_of(w, struct twrite, w)->done_calls++;
}

static struct twrite *tw(const char *key, uint64_t value, uint64_t size)
{
	struct twrite *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	snprintf(t->key, sizeof(t->key), "%s", key);
	t->value = value;
	t->size = size;
	t->w.data = t;
	t->w.done = tw_done;
	return t;
}

/* try_write that must be accepted. */
static struct twrite *put(struct h *h, int ch, const char *key, uint64_t value, uint64_t size)
{
	struct twrite *t = tw(key, value, size);
	assert_int_equal(sl_coord_try_write(h->c, ch, &t->w), 0);
	return t;
}

/* The write's epoch once applied (the reference's write.epoch().await.unwrap()). */
static uint64_t epoch_of(struct twrite *t)
{
	assert_int_equal(t->done_calls, 1);
	assert_int_equal(t->w.status, 0);
	return t->w.epoch;
}

static struct twrite *flush_cmd(struct h *h, int ch, bool storage)
{
	struct twrite *t = tw("", 0, 0);
	assert_int_equal(sl_coord_flush(h->c, ch, &t->w, storage), 0);
	return t;
}

/* Asserts epoch reached level now. */
static void reached(struct h *h, uint64_t epoch, enum sl_coord_durability level)
{
	struct sl_coord_waiter w = {0};
	assert_int_equal(sl_coord_wait(h->c, &w, epoch, level), 0);
}

static void not_reached(struct h *h, uint64_t epoch, enum sl_coord_durability level)
{
	struct sl_coord_waiter w = {0};
	assert_int_equal(sl_coord_wait(h->c, &w, epoch, level), SL_EAGAIN);
	sl_coord_wait_cancel(h->c, &w);
}

struct exp_row {
	const char *key;
	uint64_t seq, value;
};

static void assert_rows(const void *snapshot, const struct exp_row *rows, uint32_t n)
{
	const struct kvmap *m = snapshot;
	assert_non_null(m);
	assert_int_equal(m->n, n);
	for (uint32_t i = 0; i < n; i++) {
		const struct row *r = kv_find(m, rows[i].key);
		assert_non_null(r);
		assert_int_equal(r->seq, rows[i].seq);
		assert_int_equal(r->value, rows[i].value);
	}
}

static struct sl_coord_view *recv_view(struct sl_coord_sub *s)
{
	struct sl_coord_view *v = NULL;
	assert_int_equal(sl_coord_sub_recv(s, NULL, &v), 0);
	assert_non_null(v);
	return v;
}

/* ---- C twins of the reference tests: basic write flow ---- */

static void should_assign_monotonic_epochs(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10),
		      *w3 = put(&h, 0, "c", 3, 10);
	drive(&h);
	assert_true(epoch_of(w1) < epoch_of(w2));
	assert_true(epoch_of(w2) < epoch_of(w3));
	assert_int_equal(epoch_of(w1), 1);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3);
}

static void should_apply_writes_in_order(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "a", 2, 10),
		      *w3 = put(&h, 0, "a", 3, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w3), SL_DURABILITY_WRITTEN);
	const struct treq *ev[4];
	assert_int_equal(tf_events(&h.tf, ev, 4), 1);
	/* Three writes to "a": the last one wins, with sequence 2 (0-based). */
	const struct row *r = kv_find(ev[0]->frozen, "a");
	assert_non_null(r);
	assert_int_equal(r->value, 3);
	assert_int_equal(r->seq, 2);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f);
}

static void should_update_applied_watermark_after_each_write(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	not_reached(&h, 1, SL_DURABILITY_APPLIED);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_APPLIED);
	uint64_t applied, written, durable;
	sl_coord_watermarks(h.c, &applied, &written, &durable);
	assert_int_equal(applied, 1);
	assert_int_equal(written, 0);
	assert_int_equal(durable, 0);
	h_stop(&h);
	h_close(&h);
	free(w);
}

static void should_propagate_apply_error_to_handle(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	h_open(&h, &cfg, default_channel, 1, TEST_EAPPLY);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	drive(&h);
	assert_int_equal(w->done_calls, 1);
	assert_int_equal(w->w.status, TEST_EAPPLY);
	assert_int_equal(w->w.epoch, 1); /* the epoch is spent even though apply failed */
	h_stop(&h);
	h_close(&h);
	free(w);
}

/* ---- manual flush ---- */

static void should_flush_on_command(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_WRITTEN);
	assert_int_equal(tf_event_count(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_wait_on_flush_handle(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now); /* the flush is issued, not yet complete */
	assert_int_equal(f->w.status, 0);
	struct sl_coord_waiter wt = {0};
	assert_int_equal(sl_coord_wait(h.c, &wt, f->w.epoch, SL_DURABILITY_WRITTEN), SL_EAGAIN);
	drive(&h);
	assert_int_equal(wt.status, 0);
	assert_int_equal(tf_event_count(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_return_correct_epoch_from_flush_handle(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	assert_int_equal(f->w.status, 0);
	assert_int_equal(f->w.epoch, epoch_of(w2));
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f);
}

static void should_include_all_pending_writes_in_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10),
		      *w3 = put(&h, 0, "c", 3, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w3), SL_DURABILITY_WRITTEN);
	const struct treq *ev[4];
	assert_int_equal(tf_events(&h.tf, ev, 4), 1);
	assert_int_equal(ev[0]->frozen->n, 3);
	const struct exp_row rows[] = {{"a", 0, 1}, {"b", 1, 2}, {"c", 2, 3}};
	assert_rows(h.tf.storage, rows, 3);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f);
}

static void should_skip_flush_when_no_new_writes(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f1 = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_WRITTEN);
	struct twrite *f2 = flush_cmd(&h, 0, false);
	struct twrite *sync = put(&h, 0, "sync", 0, 1);
	drive(&h);
	assert_int_equal(f2->w.status, 0);
	epoch_of(sync);
	assert_int_equal(tf_event_count(&h.tf), 1); /* the second flush had nothing to do */
	assert_int_equal(h.tf.n, 1);
	h_stop(&h);
	h_close(&h);
	free(w), free(f1), free(f2), free(sync);
}

static void should_update_written_watermark_after_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	not_reached(&h, epoch_of(w), SL_DURABILITY_WRITTEN);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_WRITTEN);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

/* ---- timer ---- */

static void should_flush_on_flush_interval(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.flush_interval_ns = 100 * MS;
	h_default(&h, &cfg);
	h.now = 5 * SEC;
	h_start(&h); /* the interval counts from start */
	struct twrite *w = put(&h, 0, "a", 1, 10);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_APPLIED);
	assert_int_equal(tf_event_count(&h.tf), 0);
	/* The delta has a write, so the coordinator asks to be polled at the interval. */
	assert_int_equal(sl_coord_poll(h.c, h.now), h.now + 100 * MS);
	h.now += 150 * MS;
	drive(&h);
	assert_int_equal(tf_event_count(&h.tf), 1);
	const struct exp_row rows[] = {{"a", 0, 1}};
	assert_rows(h.tf.storage, rows, 1);
	h_stop(&h);
	h_close(&h);
	free(w);
}

/* ---- size threshold ---- */

static void should_flush_when_size_threshold_exceeded(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.flush_size_threshold = 100;
	h_default(&h, &cfg);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 150);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_WRITTEN);
	assert_int_equal(tf_event_count(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	free(w);
}

static void should_accumulate_until_threshold(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.flush_size_threshold = 100;
	h_default(&h, &cfg);
	h_start(&h);
	struct twrite *ws[5];
	for (int i = 0; i < 5; i++) {
		char key[8];
		snprintf(key, sizeof(key), "key%d", i);
		ws[i] = put(&h, 0, key, (uint64_t)i, 15);
		drive(&h);
		reached(&h, epoch_of(ws[i]), SL_DURABILITY_APPLIED);
	}
	assert_int_equal(tf_event_count(&h.tf), 0); /* 75 < 100 */
	struct twrite *last = put(&h, 0, "final", 999, 30);
	drive(&h);
	reached(&h, epoch_of(last), SL_DURABILITY_WRITTEN); /* 105 >= 100 */
	assert_int_equal(tf_event_count(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	for (int i = 0; i < 5; i++)
		free(ws[i]);
	free(last);
}

/* ---- writes while a flush is in flight ---- */

static void should_accept_writes_during_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(tf_pending(&h.tf), 1); /* the flush started and is blocked */
	struct twrite *w2 = put(&h, 0, "b", 2, 10);
	sl_coord_poll(h.c, h.now);
	assert_true(epoch_of(w2) > epoch_of(w1));
	assert_int_equal(tf_pending(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f);
}

static void should_assign_new_epochs_during_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w0 = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(tf_pending(&h.tf), 1);
	struct twrite *w1 = put(&h, 0, "b", 2, 10), *w2 = put(&h, 0, "c", 3, 10);
	sl_coord_poll(h.c, h.now);
	assert_true(epoch_of(w1) < epoch_of(w2));
	assert_int_equal(epoch_of(w1), 2);
	h_stop(&h);
	h_close(&h);
	free(w0), free(w1), free(w2), free(f);
}

/* ---- backpressure ---- */

static void should_return_backpressure_when_queue_full(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 2;
	h_default(&h, &cfg);
	/* Not started: nothing drains. */
	struct twrite *a = put(&h, 0, "a", 1, 10), *b = put(&h, 0, "b", 2, 10);
	struct twrite *c = tw("c", 3, 10);
	assert_int_equal(sl_coord_try_write(h.c, 0, &c->w), SL_ENOSPC);
	assert_int_equal(c->done_calls, 0);
	struct sl_coord_stats st;
	sl_coord_stats(h.c, &st);
	assert_int_equal(st.backpressured, 1);
	assert_int_equal(st.queued, 2);
	h_close(&h); /* queued writes are handed back with SL_ECLOSED */
	assert_int_equal(a->w.status, SL_ECLOSED);
	assert_int_equal(b->done_calls, 1);
	free(a), free(b), free(c);
}

static void should_accept_writes_after_queue_drains(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 2;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 10), *b = put(&h, 0, "b", 2, 10);
	h_start(&h);
	drive(&h);
	reached(&h, epoch_of(b), SL_DURABILITY_APPLIED);
	struct twrite *c = put(&h, 0, "c", 3, 10);
	h_stop(&h);
	h_close(&h);
	free(a), free(b), free(c);
}

/* ---- shutdown ---- */

static void should_shutdown_cleanly_when_stop_called(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), 0); /* nothing to flush: done at once */
	assert_int_equal(h.tf.n, 0);
	h_close(&h);
}

static void should_flush_pending_writes_on_shutdown(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	drive(&h);
	uint64_t e = epoch_of(w);
	h_stop(&h);
	const struct treq *ev[2];
	assert_int_equal(tf_events(&h.tf, ev, 2), 1);
	assert_true(ev[0]->start <= e && e < ev[0]->end);
	h_close(&h);
	free(w);
}

static void should_return_shutdown_error_after_coordinator_stops(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	h_stop(&h);
	struct twrite *w = tw("a", 1, 10);
	assert_int_equal(sl_coord_try_write(h.c, 0, &w->w), SL_ECLOSED);
	assert_int_equal(w->done_calls, 0);
	h_close(&h);
	free(w);
}

/* ---- epoch ranges ---- */

static void should_track_epoch_range_in_flush_event(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10),
		      *w3 = put(&h, 0, "c", 3, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w3), SL_DURABILITY_WRITTEN);
	const struct treq *ev[2];
	assert_int_equal(tf_events(&h.tf, ev, 2), 1);
	assert_int_equal(ev[0]->start, 1);
	assert_int_equal(ev[0]->end, 4); /* exclusive: one past epoch 3 */
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f);
}

static void should_have_contiguous_epoch_ranges(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10);
	struct twrite *f1 = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w2), SL_DURABILITY_WRITTEN);
	struct twrite *w3 = put(&h, 0, "c", 3, 10);
	struct twrite *f2 = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w3), SL_DURABILITY_WRITTEN);
	const struct treq *ev[3];
	assert_int_equal(tf_events(&h.tf, ev, 3), 2);
	assert_int_equal(ev[0]->end, ev[1]->start);
	assert_int_equal(ev[0]->start, 1);
	assert_int_equal(ev[0]->end, 3);
	assert_int_equal(ev[1]->start, 3);
	assert_int_equal(ev[1]->end, 4);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f1), free(f2);
}

static void should_include_exact_epochs_in_range(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10);
	drive(&h);
	uint64_t e1 = epoch_of(w1);
	struct twrite *w2 = put(&h, 0, "b", 2, 10);
	drive(&h);
	uint64_t e2 = epoch_of(w2);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, e2, SL_DURABILITY_WRITTEN);
	const struct treq *ev[2];
	assert_int_equal(tf_events(&h.tf, ev, 2), 1);
	assert_int_equal(ev[0]->start, e1);
	assert_int_equal(ev[0]->end, e2 + 1);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f);
}

/* ---- context carry-over ---- */

static void should_preserve_context_across_flushes(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10);
	struct twrite *f1 = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w1), SL_DURABILITY_WRITTEN);
	struct twrite *w2 = put(&h, 0, "a", 2, 10);
	struct twrite *f2 = flush_cmd(&h, 0, false);
	drive(&h);
	reached(&h, epoch_of(w2), SL_DURABILITY_WRITTEN);
	const struct treq *ev[3];
	assert_int_equal(tf_events(&h.tf, ev, 3), 2);
	assert_int_equal(kv_find(ev[0]->frozen, "a")->seq, 0);
	assert_int_equal(kv_find(ev[1]->frozen, "a")->seq, 1); /* the sequence carried over */
	assert_int_equal(w2->w.result, 1);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f1), free(f2);
}

/* ---- views and subscribers ---- */

/* Subscribes before start, as the reference does, and drops the initial view. */
static void sub_open(struct h *h, struct sl_coord_sub *s)
{
	struct sl_coord_view *init = NULL;
	assert_int_equal(sl_coord_subscribe(h->c, s, &init), 0);
	assert_non_null(init);
	sl_coord_view_unref(init);
}

static void should_receive_view_on_subscribe(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	struct sl_coord_view *v = recv_view(&s); /* published on freeze */
	sl_coord_view_unref(v);
	h_stop(&h);
	sl_coord_unsubscribe(&s);
	h_close(&h);
	free(w), free(f);
}

static void should_include_snapshot_in_view_after_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	sl_coord_view_unref(recv_view(&s));	 /* freeze */
	struct sl_coord_view *v = recv_view(&s); /* flush complete */
	const struct exp_row rows[] = {{"a", 0, 1}};
	assert_rows(v->snapshot, rows, 1);
	sl_coord_view_unref(v);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_include_delta_in_view_after_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 42, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	sl_coord_view_unref(recv_view(&s));
	struct sl_coord_view *v = recv_view(&s);
	assert_true(v->has_last_written);
	assert_int_equal(kv_get(v->last_written.val, "a"), 42);
	sl_coord_view_unref(v);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_include_epoch_range_in_view_after_flush(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10), *w2 = put(&h, 0, "b", 2, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	sl_coord_view_unref(recv_view(&s));
	struct sl_coord_view *v = recv_view(&s);
	assert_true(v->has_last_written);
	assert_int_equal(v->last_written.epoch_start, epoch_of(w1));
	assert_int_equal(v->last_written.epoch_end, epoch_of(w2) + 1);
	sl_coord_view_unref(v);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f);
}

static void should_broadcast_frozen_delta_on_freeze(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	struct sl_coord_view *v = recv_view(&s);
	assert_int_equal(v->nfrozen, 1);
	assert_int_equal(kv_get(v->frozen[0].val, "a"), 1);
	assert_int_equal(v->frozen[0].epoch_start, 1);
	assert_int_equal(v->frozen[0].epoch_end, 2);
	assert_int_equal(kv_get(v->current, "a"), -1); /* the new live delta is empty */
	sl_coord_view_unref(v);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_remove_frozen_delta_after_flush_complete(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h);
	struct sl_coord_view *v1 = recv_view(&s);
	assert_int_equal(v1->nfrozen, 1);
	assert_false(v1->has_last_written);
	struct sl_coord_view *v2 = recv_view(&s);
	assert_int_equal(v2->nfrozen, 0);
	assert_true(v2->has_last_written);
	assert_true(v2->seq > v1->seq);
	sl_coord_view_unref(v1);
	sl_coord_view_unref(v2);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_recover_from_message_lost_subscriber(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL); /* view queue capacity 16, as the reference's broadcast channel */
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *ws[20], *fs[20];
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "key_%d", i);
		ws[i] = put(&h, 0, key, (uint64_t)i, 10);
		fs[i] = flush_cmd(&h, 0, false);
		drive(&h);
	}
	struct twrite *fd = flush_cmd(&h, 0, true);
	drive(&h);
	reached(&h, fd->w.epoch, SL_DURABILITY_DURABLE);

	struct sl_coord_view *v = NULL;
	assert_int_equal(sl_coord_sub_recv(&s, NULL, &v), SL_ELOST);
	assert_int_equal(sl_coord_sub_recv(&s, NULL, &v), SL_ELOST); /* until re-subscribed */
	struct sl_coord_stats st;
	sl_coord_stats(h.c, &st);
	assert_int_equal(st.subscribers_lost, 1);

	/* Recover: a fresh subscription hands over the current view. */
	sl_coord_unsubscribe(&s);
	struct sl_coord_view *init = NULL;
	assert_int_equal(sl_coord_subscribe(h.c, &s, &init), 0);
	assert_true(((const struct kvmap *)init->snapshot)->n >= 20);
	sl_coord_view_unref(init);

	struct twrite *post = put(&h, 0, "post_recovery", 100, 10);
	struct twrite *fp = flush_cmd(&h, 0, false);
	drive(&h);
	v = recv_view(&s);
	sl_coord_view_unref(v);
	sl_coord_unsubscribe(&s);
	h_stop(&h);
	h_close(&h);
	for (int i = 0; i < 20; i++)
		free(ws[i]), free(fs[i]);
	free(fd), free(post), free(fp);
}

/* ---- durable flush ---- */

static void should_flush_even_when_no_writes_if_flush_storage(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *f = flush_cmd(&h, 0, true);
	drive(&h);
	assert_int_equal(f->w.status, 0);
	reached(&h, f->w.epoch, SL_DURABILITY_DURABLE);
	assert_int_equal(h.tf.storage_flushes, 1);  /* the flusher was asked */
	assert_int_equal(tf_event_count(&h.tf), 0); /* but no delta was flushed */
	h_stop(&h);
	h_close(&h);
	free(f);
}

static void should_advance_durable_watermark(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, true);
	sl_coord_poll(h.c, h.now);
	struct sl_coord_waiter wf = {0}, ww = {0};
	assert_int_equal(sl_coord_wait(h.c, &wf, f->w.epoch, SL_DURABILITY_DURABLE), SL_EAGAIN);
	assert_int_equal(sl_coord_wait(h.c, &ww, epoch_of(w), SL_DURABILITY_DURABLE), SL_EAGAIN);
	/* The storage flush waits behind the delta flush. */
	assert_int_equal(h.tf.n, 1);
	drive(&h);
	assert_int_equal(wf.status, 0);
	assert_int_equal(ww.status, 0);
	assert_int_equal(h.tf.storage_flushes, 1);
	assert_int_equal(tf_event_count(&h.tf), 1);
	h_stop(&h);
	h_close(&h);
	free(w), free(f);
}

static void should_see_applied_write_via_view(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct sl_coord_view *before = sl_coord_view(h.c);
	struct twrite *w = put(&h, 0, "a", 42, 10);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_APPLIED);
	struct sl_coord_view *v = sl_coord_view(h.c);
	assert_int_equal(kv_get(v->current, "a"), 42);
	/* The live reader sees writes as they land, without a new view. */
	assert_int_equal(kv_get(before->current, "a"), 42);
	sl_coord_view_unref(v);
	sl_coord_view_unref(before);
	h_stop(&h);
	h_close(&h);
	free(w);
}

/* ---- channels ---- */

static void should_flush_writes_from_multiple_channels(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	static const char *const names[] = {"ch1", "ch2"};
	h_open(&h, &cfg, names, 2, 0);
	int ch1 = sl_coord_channel(h.c, "ch1"), ch2 = sl_coord_channel(h.c, "ch2");
	assert_int_equal(ch1, 0);
	assert_int_equal(ch2, 1);
	h_start(&h);
	struct twrite *w1 = put(&h, ch1, "a", 10, 10);
	drive(&h);
	struct twrite *w2 = put(&h, ch2, "b", 20, 10);
	drive(&h);
	struct twrite *w3 = put(&h, ch1, "c", 30, 10);
	drive(&h);
	struct twrite *f = flush_cmd(&h, ch1, false);
	drive(&h);
	reached(&h, epoch_of(w3), SL_DURABILITY_WRITTEN);
	const struct exp_row rows[] = {{"a", 0, 10}, {"b", 1, 20}, {"c", 2, 30}};
	assert_rows(h.tf.storage, rows, 3);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f);
}

static void should_succeed_with_write_timeout_when_queue_has_space(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = tw("a", 1, 10);
	assert_int_equal(sl_coord_write(h.c, 0, &w->w, h.now + SEC, h.now), 0);
	drive(&h);
	reached(&h, epoch_of(w), SL_DURABILITY_APPLIED);
	h_stop(&h);
	h_close(&h);
	free(w);
}

static void should_timeout_when_queue_full(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 2;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 10), *b = put(&h, 0, "b", 2, 10);
	struct twrite *c = tw("c", 3, 10);
	/* Not started: the write waits for space, then times out at its deadline. */
	assert_int_equal(sl_coord_write(h.c, 0, &c->w, h.now + 10 * MS, h.now), 0);
	assert_int_equal(c->w.status, SL_EAGAIN);
	assert_int_equal(sl_coord_poll(h.c, h.now + 5 * MS), h.now + 10 * MS);
	assert_int_equal(c->done_calls, 0);
	sl_coord_poll(h.c, h.now + 10 * MS);
	assert_int_equal(c->done_calls, 1);
	assert_int_equal(c->w.status, SL_ETIMEDOUT);
	/* With the deadline already past, the answer is immediate. */
	struct twrite *d = tw("d", 4, 10);
	assert_int_equal(sl_coord_write(h.c, 0, &d->w, h.now, h.now), SL_ETIMEDOUT);
	assert_int_equal(d->done_calls, 0);
	h_close(&h);
	free(a), free(b), free(c), free(d);
}

static void should_return_write_in_timeout_error(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 1;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 10);
	struct twrite *r = tw("retry_me", 42, 10);
	assert_int_equal(sl_coord_write(h.c, 0, &r->w, h.now + 10 * MS, h.now), 0);
	sl_coord_poll(h.c, h.now + 10 * MS);
	assert_int_equal(r->w.status, SL_ETIMEDOUT);
	/* Handed back intact and not applied: the caller can retry it as is. */
	assert_string_equal(((struct twrite *)r->w.data)->key, "retry_me");
	assert_int_equal(((struct twrite *)r->w.data)->value, 42);
	assert_int_equal(r->w.epoch, 0);
	h_start(&h);
	drive(&h);
	assert_int_equal(sl_coord_try_write(h.c, 0, &r->w), 0);
	drive(&h);
	assert_int_equal(r->w.status, 0);
	assert_int_equal(r->w.epoch, 2);
	h_stop(&h);
	h_close(&h);
	free(a), free(r);
}

static void should_return_write_in_backpressure_error(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 1;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 10);
	struct twrite *r = tw("retry_me", 42, 10);
	assert_int_equal(sl_coord_try_write(h.c, 0, &r->w), SL_ENOSPC);
	assert_int_equal(r->done_calls, 0);
	assert_string_equal(((struct twrite *)r->w.data)->key, "retry_me");
	assert_int_equal(((struct twrite *)r->w.data)->value, 42);
	h_close(&h);
	free(a), free(r);
}

static void should_succeed_when_queue_drains_within_timeout(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 2;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 10), *b = put(&h, 0, "b", 2, 10);
	h_start(&h);
	struct twrite *c = tw("c", 3, 10);
	assert_int_equal(sl_coord_write(h.c, 0, &c->w, h.now + 5 * SEC, h.now), 0);
	h.now += SEC;
	drive(&h);
	assert_int_equal(epoch_of(c), 3);
	h_stop(&h);
	h_close(&h);
	free(a), free(b), free(c);
}

static void should_return_shutdown_on_write_timeout_after_coordinator_stops(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	h_stop(&h);
	struct twrite *w = tw("a", 1, 10);
	assert_int_equal(sl_coord_write(h.c, 0, &w->w, h.now + SEC, h.now), SL_ECLOSED);
	assert_int_equal(w->done_calls, 0);
	h_close(&h);
	free(w);
}

static void should_pause_and_resume_write_channel(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.flush_interval_ns = 24 * HOUR;
	static const char *const names[] = {"a", "b"};
	h_open(&h, &cfg, names, 2, 0);
	int cha = sl_coord_channel(h.c, "a"), chb = sl_coord_channel(h.c, "b");
	assert_int_equal(sl_coord_pause(h.c, cha, true), 0);
	h_start(&h);
	struct twrite *wa = put(&h, cha, "a", 1, 1);
	struct twrite *wb = tw("", 0, 1);
	for (int i = 0; i < 1000; i++) {
		snprintf(wb->key, sizeof(wb->key), "b%d", i);
		wb->value = (uint64_t)i;
		wb->done_calls = 0;
		assert_int_equal(sl_coord_try_write(h.c, chb, &wb->w), 0);
		drive(&h);
		reached(&h, epoch_of(wb), SL_DURABILITY_APPLIED);
	}
	struct sl_coord_view *v = sl_coord_view(h.c);
	const struct kvmap *m = v->current;
	assert_int_equal(m->n, 1000);
	assert_int_equal(kv_get(m, "a"), -1); /* the paused channel was never drained */
	assert_int_equal(wa->done_calls, 0);
	assert_int_equal(sl_coord_pause(h.c, cha, false), 0);
	drive(&h);
	reached(&h, epoch_of(wa), SL_DURABILITY_APPLIED);
	assert_int_equal(m->n, 1001);
	assert_int_equal(kv_get(m, "a"), 1);
	sl_coord_view_unref(v);
	h_stop(&h);
	h_close(&h);
	free(wa), free(wb);
}

/* ---- shardline additions: the two improvements ---- */

struct order_waiter {
	struct sl_coord_waiter w;
	int *log;
	int *n;
	int id;
};

static void order_done(struct sl_coord_waiter *w)
{
	struct order_waiter *o = container_of(w, struct order_waiter, w);
	o->log[(*o->n)++] = o->id;
}

/* The reference leaves waiters at Written/Durable hanging forever when a flush fails. */
static void flush_error_fails_written_and_durable_waiters(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10);
	struct twrite *f1 = flush_cmd(&h, 0, true);
	sl_coord_poll(h.c, h.now);
	struct twrite *w2 = put(&h, 0, "b", 2, 10);
	sl_coord_poll(h.c, h.now);
	int log[8], n = 0;
	struct order_waiter ow[4];
	const uint64_t epochs[4] = {1, 2, 1, 5};
	const enum sl_coord_durability lv[4] = {SL_DURABILITY_WRITTEN, SL_DURABILITY_WRITTEN,
						SL_DURABILITY_DURABLE, SL_DURABILITY_APPLIED};
	for (int i = 0; i < 4; i++) {
		ow[i] = (struct order_waiter){.w.done = order_done, .log = log, .n = &n, .id = i};
		assert_int_equal(sl_coord_wait(h.c, &ow[i].w, epochs[i], lv[i]), SL_EAGAIN);
	}
	/* A queued write that has not been applied yet is handed back too. */
	struct twrite *w3 = put(&h, 0, "c", 3, 10);
	assert_int_equal(h.tf.n, 1);
	tf_complete(&h.tf, 0, TEST_EFLUSH);
	assert_int_equal(n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ow[i].w.status, TEST_EFLUSH);
	assert_int_equal(w3->w.status, TEST_EFLUSH);
	assert_int_equal(w3->w.epoch, 0);
	assert_int_equal(h.tf.storage_flushes, 0); /* the storage flush behind it never ran */
	/* The failure sticks: later waits and writes get it at once. */
	struct sl_coord_waiter late = {0};
	assert_int_equal(sl_coord_wait(h.c, &late, 2, SL_DURABILITY_WRITTEN), TEST_EFLUSH);
	reached(&h, 2, SL_DURABILITY_APPLIED);
	struct twrite *w4 = tw("d", 4, 10);
	assert_int_equal(sl_coord_try_write(h.c, 0, &w4->w), TEST_EFLUSH);
	struct twrite *f2 = tw("", 0, 0);
	assert_int_equal(sl_coord_flush(h.c, 0, &f2->w, false), TEST_EFLUSH);
	struct sl_coord_stats st;
	sl_coord_stats(h.c, &st);
	assert_int_equal(st.flush_errors, 1);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), TEST_EFLUSH);
	h_close(&h);
	free(w1), free(w2), free(w3), free(w4), free(f1), free(f2);
}

struct stop_flag {
	struct sl_waiter w;
	int fired;
};

static void stop_fired(struct sl_waiter *w)
{
	container_of(w, struct stop_flag, w)->fired++;
}

/* The reference's stop flushes the delta but never asks storage to make it durable. */
static void stop_makes_everything_durable(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w1 = put(&h, 0, "a", 1, 10);
	struct twrite *f = flush_cmd(&h, 0, false);
	drive(&h); /* epoch 1 written, not durable */
	struct twrite *w2 = put(&h, 0, "b", 2, 10);
	struct twrite *w3 = put(&h, 0, "c", 3, 10); /* still queued when stop is called */
	struct sl_coord_waiter wd = {0};
	assert_int_equal(sl_coord_wait(h.c, &wd, 2, SL_DURABILITY_DURABLE), SL_EAGAIN);
	struct stop_flag sf;
	sl_waiter_init(&sf.w, stop_fired);
	sf.fired = 0;
	assert_int_equal(sl_coord_stop(h.c, &sf.w, h.now), SL_EAGAIN);
	assert_int_equal(epoch_of(w3), 3); /* the queue was drained */
	struct twrite *late = tw("late", 0, 1);
	assert_int_equal(sl_coord_try_write(h.c, 0, &late->w), SL_ECLOSED);
	/* The delta flush first; the storage flush only after it is written. */
	assert_int_equal(tf_pending(&h.tf), 1);
	assert_int_equal(h.tf.reqs[1].kind, REQ_DELTA);
	assert_int_equal(h.tf.reqs[1].start, 2);
	assert_int_equal(h.tf.reqs[1].end, 4);
	tf_complete(&h.tf, 1, 0);
	assert_int_equal(h.tf.reqs[2].kind, REQ_STORAGE);
	assert_int_equal(sf.fired, 0);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), SL_EAGAIN);
	tf_complete(&h.tf, 2, 0);
	assert_int_equal(sf.fired, 1);
	assert_int_equal(wd.status, 0);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), 0);
	uint64_t a, wr, d;
	sl_coord_watermarks(h.c, &a, &wr, &d);
	assert_int_equal(a, 3);
	assert_int_equal(wr, 3);
	assert_int_equal(d, 3);
	/* Nothing can reach an epoch that was never applied any more. */
	struct sl_coord_waiter never = {0};
	assert_int_equal(sl_coord_wait(h.c, &never, 4, SL_DURABILITY_APPLIED), SL_ECLOSED);
	h_close(&h);
	free(w1), free(w2), free(w3), free(f), free(late);
}

/* ---- shardline additions: flow control and ordering ---- */

static void frozen_deltas_are_bounded_and_backpressure_writers(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 4;
	cfg.max_frozen = 1;
	cfg.flush_size_threshold = 10; /* every write triggers a flush */
	h_default(&h, &cfg);
	h_start(&h);
	struct twrite *w[8];
	for (int i = 0; i < 4; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		w[i] = put(&h, 0, key, (uint64_t)i, 10);
	}
	sl_coord_poll(h.c, h.now);
	/* k0 was frozen and is in flight; k1 was applied and wants a flush that cannot start. */
	assert_int_equal(epoch_of(w[1]), 2);
	assert_int_equal(w[2]->done_calls, 0);
	assert_int_equal(h.tf.n, 1);
	struct sl_coord_stats st;
	sl_coord_stats(h.c, &st);
	assert_int_equal(st.frozen_in_flight, 1);
	assert_true(st.flush_stalls >= 1);
	/* The queue fills up behind the stall and writers are pushed back. */
	for (int i = 4; i < 6; i++)
		w[i] = put(&h, 0, "x", 0, 10);
	struct twrite *refused = tw("y", 0, 10);
	assert_int_equal(sl_coord_try_write(h.c, 0, &refused->w), SL_ENOSPC);
	assert_int_equal(sl_coord_poll(h.c, h.now), UINT64_MAX); /* only a completion helps */
	tf_complete(&h.tf, 0, 0);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(epoch_of(w[2]), 3);
	assert_int_equal(h.tf.n, 2);
	assert_int_equal(h.tf.reqs[1].start, 2);
	assert_int_equal(h.tf.reqs[1].end, 3);
	drive(&h);
	for (int i = 0; i < 6; i++)
		assert_int_equal(epoch_of(w[i]), (uint64_t)i + 1);
	reached(&h, 6, SL_DURABILITY_WRITTEN);
	h_stop(&h);
	h_close(&h);
	for (int i = 0; i < 6; i++)
		free(w[i]);
	free(refused);
}

static void out_of_order_completions_apply_in_epoch_order(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.max_frozen = 3;
	h_default(&h, &cfg);
	h_start(&h);
	struct twrite *w[3], *f[3];
	int log[8], n = 0;
	struct order_waiter ow[3];
	for (int i = 0; i < 3; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%d", i);
		w[i] = put(&h, 0, key, (uint64_t)i, 10);
		f[i] = flush_cmd(&h, 0, false);
	}
	sl_coord_poll(h.c, h.now);
	assert_int_equal(h.tf.n, 3); /* three deltas in flight together */
	for (int i = 0; i < 3; i++) {
		ow[i] = (struct order_waiter){.w.done = order_done, .log = log, .n = &n, .id = i};
		/* Registered out of order; completed in epoch order. */
		int e = 3 - i;
		ow[i].id = e;
		assert_int_equal(sl_coord_wait(h.c, &ow[i].w, (uint64_t)e, SL_DURABILITY_WRITTEN),
				 SL_EAGAIN);
	}
	struct sl_coord_view *v = sl_coord_view(h.c);
	assert_int_equal(v->nfrozen, 3);
	assert_int_equal(v->frozen[0].epoch_start, 3); /* newest first */
	assert_int_equal(v->frozen[2].epoch_start, 1);
	sl_coord_view_unref(v);
	tf_complete(&h.tf, 2, 0);
	tf_complete(&h.tf, 1, 0);
	assert_int_equal(n, 0); /* epoch 1 is not written yet, so nothing after it is */
	uint64_t wr;
	sl_coord_watermarks(h.c, NULL, &wr, NULL);
	assert_int_equal(wr, 0);
	tf_complete(&h.tf, 0, 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(log[i], i + 1);
	assert_int_equal(sl_coord_flush_complete(h.c, h.tf.reqs[0].id, 0, NULL, h.now),
			 SL_ENOTFOUND);
	assert_int_equal(sl_coord_flush_complete(h.c, 999, 0, NULL, h.now), SL_ENOTFOUND);
	assert_int_equal(sl_coord_flush_complete(h.c, 1, 1, NULL, h.now), SL_EINVAL);
	h_stop(&h);
	h_close(&h);
	for (int i = 0; i < 3; i++)
		free(w[i]), free(f[i]);
}

static void channels_are_drained_round_robin(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	static const char *const names[] = {"x", "y"};
	h_open(&h, &cfg, names, 2, 0);
	struct twrite *x[3], *y[3];
	for (int i = 0; i < 3; i++)
		x[i] = put(&h, 0, "x", 0, 1);
	for (int i = 0; i < 3; i++)
		y[i] = put(&h, 1, "y", 0, 1);
	h_start(&h);
	drive(&h);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(epoch_of(x[i]), (uint64_t)(2 * i + 1));
		assert_int_equal(epoch_of(y[i]), (uint64_t)(2 * i + 2));
	}
	h_stop(&h);
	h_close(&h);
	for (int i = 0; i < 3; i++)
		free(x[i]), free(y[i]);
}

static void parked_writes_are_admitted_in_order(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 1;
	cfg.poll_budget = 1;
	h_default(&h, &cfg);
	struct twrite *a = put(&h, 0, "a", 1, 1);
	struct twrite *b = tw("b", 2, 1), *c = tw("c", 3, 1);
	assert_int_equal(sl_coord_write(h.c, 0, &b->w, h.now + SEC, h.now), 0);
	assert_int_equal(sl_coord_write(h.c, 0, &c->w, h.now + 2 * SEC, h.now), 0);
	/* A try_write may not jump the writers already waiting. */
	struct twrite *d = tw("d", 4, 1);
	assert_int_equal(sl_coord_try_write(h.c, 0, &d->w), SL_ENOSPC);
	h_start(&h);
	assert_int_equal(sl_coord_poll(h.c, h.now), h.now); /* budget of one: more to do */
	assert_int_equal(epoch_of(a), 1);
	assert_int_equal(b->w.status, SL_EAGAIN);
	drive(&h);
	assert_int_equal(epoch_of(b), 2);
	assert_int_equal(epoch_of(c), 3);
	h_stop(&h);
	h_close(&h);
	free(a), free(b), free(c), free(d);
}

static void interval_restarts_on_every_flush(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.flush_interval_ns = 100 * MS;
	h_default(&h, &cfg);
	h_start(&h);
	h.now = 80 * MS;
	struct twrite *w1 = put(&h, 0, "a", 1, 1);
	struct twrite *f = flush_cmd(&h, 0, false); /* flushed at 80 ms: the timer restarts */
	drive(&h);
	struct twrite *w2 = put(&h, 0, "b", 2, 1);
	h.now = 120 * MS; /* past the first deadline, but not 100 ms after the flush */
	drive(&h);
	assert_int_equal(tf_event_count(&h.tf), 1);
	h.now = 180 * MS;
	drive(&h);
	assert_int_equal(tf_event_count(&h.tf), 2);
	/* No writes, no flush, however long we wait. */
	h.now = 10 * SEC;
	drive(&h);
	assert_int_equal(tf_event_count(&h.tf), 2);
	h_stop(&h);
	h_close(&h);
	free(w1), free(w2), free(f);
}

static void inline_flusher_completions_are_safe(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h.tf.inline_complete = true;
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 1);
	struct twrite *f = flush_cmd(&h, 0, true);
	sl_coord_poll(h.c, h.now);
	reached(&h, epoch_of(w), SL_DURABILITY_DURABLE);
	struct sl_coord_view *v1 = recv_view(&s), *v2 = recv_view(&s);
	assert_int_equal(v1->nfrozen, 1);
	assert_int_equal(v2->nfrozen, 0);
	sl_coord_view_unref(v1);
	sl_coord_view_unref(v2);
	struct twrite *w2 = put(&h, 0, "b", 1, 1);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), 0); /* finishes inside the call */
	struct sl_coord_view *v = NULL;
	v = recv_view(&s); /* the stop's freeze */
	sl_coord_view_unref(v);
	v = recv_view(&s); /* and its completion */
	sl_coord_view_unref(v);
	assert_int_equal(sl_coord_sub_recv(&s, NULL, &v), SL_EEOF);
	sl_coord_unsubscribe(&s);
	h_close(&h);
	free(w), free(w2), free(f);
}

static void subscriber_waiter_fires_on_publish(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	assert_int_equal(sl_coord_subscribe(h.c, &s, NULL), 0);
	h_start(&h);
	struct stop_flag sf;
	sl_waiter_init(&sf.w, stop_fired);
	sf.fired = 0;
	struct sl_coord_view *v = NULL;
	assert_int_equal(sl_coord_sub_recv(&s, &sf.w, &v), SL_EAGAIN);
	struct twrite *w = put(&h, 0, "a", 1, 1);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(sf.fired, 0); /* an apply is not a publication */
	struct twrite *f = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(sf.fired, 1);
	sl_coord_view_unref(recv_view(&s));
	sl_coord_free(h.c); /* detaches the subscriber */
	assert_int_equal(sl_coord_sub_recv(&s, NULL, &v), SL_ECLOSED);
	sl_coord_unsubscribe(&s);
	for (int i = 0; i < h.tf.n; i++)
		kv_unref(h.tf.reqs[i].frozen);
	kv_unref(h.tf.storage);
	free(w), free(f);
}

static void stop_refuses_paused_and_parked_writes(void **state)
{
	(void)state;
	struct h h;
	struct sl_coord_config cfg;
	test_config(&cfg);
	cfg.queue_capacity = 1;
	static const char *const names[] = {"p", "q"};
	h_open(&h, &cfg, names, 2, 0);
	assert_int_equal(sl_coord_pause(h.c, 0, true), 0);
	h_start(&h);
	struct twrite *p = put(&h, 0, "p", 1, 1);
	struct twrite *q = put(&h, 1, "q", 2, 1);
	struct twrite *parked = tw("r", 3, 1);
	assert_int_equal(sl_coord_write(h.c, 1, &parked->w, h.now + SEC, h.now), 0);
	h_stop(&h);
	assert_int_equal(p->w.status, SL_ECLOSED);
	assert_int_equal(p->done_calls, 1);
	assert_int_equal(parked->w.status, SL_ECLOSED);
	assert_int_equal(epoch_of(q), 1);
	reached(&h, 1, SL_DURABILITY_DURABLE);
	h_close(&h);
	free(p), free(q), free(parked);
}

/* ---- bad input ---- */

static int try_new(const struct sl_coord_config *cfg, const char *const *names, uint32_t n)
{
	struct sl_coord_env env = {
		.channels = names,
		.nchannels = n,
		.delta_ops = &td_ops,
		.initial_ctx = NULL,
		.flusher_ops = &tf_ops,
	};
	struct sl_coord *c = (struct sl_coord *)1;
	int rc = sl_coord_new(cfg, &env, &c);
	if (rc == 0) {
		sl_coord_free(c);
	} else {
		assert_null(c);
	}
	return rc;
}

/* A "never"-like interval must not wrap around when added to the clock. */
static void huge_flush_interval_never_fires(void **state)
{
	(void)state;
	const uint64_t intervals[2] = {UINT64_MAX, UINT64_MAX / 2};
	const uint64_t starts[2] = {SEC, UINT64_MAX / 2 + SEC};
	for (int k = 0; k < 2; k++) {
		struct h h;
		struct sl_coord_config cfg;
		test_config(&cfg);
		cfg.flush_interval_ns = intervals[k];
		h_default(&h, &cfg);
		h.now = starts[k];
		h_start(&h);
		struct twrite *w1 = put(&h, 0, "a", 1, 1);
		h.now += SEC;
		assert_int_equal(sl_coord_poll(h.c, h.now), UINT64_MAX);
		assert_int_equal(epoch_of(w1), 1);
		assert_int_equal(h.tf.n, 0);
		/* A flush restarts the timer from now: that must saturate too. */
		struct twrite *f = flush_cmd(&h, 0, false);
		drive(&h);
		assert_int_equal(tf_event_count(&h.tf), 1);
		struct twrite *w2 = put(&h, 0, "b", 2, 1);
		h.now += SEC;
		assert_int_equal(sl_coord_poll(h.c, h.now), UINT64_MAX);
		h.now += HOUR;
		drive(&h);
		assert_int_equal(tf_event_count(&h.tf), 1);
		h_stop(&h);
		h_close(&h);
		free(w1), free(w2), free(f);
	}
}

/* A snapshot handed over with a storage flush completion is released at once, not leaked (the
 * view keeps showing the snapshot of the last written delta). */
static void storage_flush_snapshot_is_released(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	h_start(&h);
	struct twrite *w = put(&h, 0, "a", 1, 1);
	struct twrite *f = flush_cmd(&h, 0, true);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(h.tf.n, 1);
	tf_complete(&h.tf, 0, 0);
	assert_int_equal(h.tf.n, 2);
	assert_int_equal(h.tf.reqs[1].kind, REQ_STORAGE);
	struct kvmap *extra = kv_new();
	kv_put(extra, "storage-only", 0, 7);
	h.tf.snapshots_live++;
	int live = h.tf.snapshots_live;
	h.tf.reqs[1].completed = true;
	assert_int_equal(sl_coord_flush_complete(h.c, h.tf.reqs[1].id, 0, extra, h.now), 0);
	assert_int_equal(h.tf.snapshots_live, live - 1);
	reached(&h, epoch_of(w), SL_DURABILITY_DURABLE);
	struct sl_coord_view *v = sl_coord_view(h.c);
	const struct exp_row rows[] = {{"a", 0, 1}};
	assert_rows(v->snapshot, rows, 1);
	sl_coord_view_unref(v);
	h_stop(&h);
	h_close(&h); /* every snapshot went back through release_snapshot */
	free(w), free(f);
}

/*
 * After a delta flush fails, no frozen delta can ever be written, so views stop listing them:
 * the cached view and every view published after the failure show no frozen deltas, the last
 * written state stays, and a request still in flight is accepted when it completes.
 */
static void failed_flush_leaves_frozen_views(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	struct sl_coord_sub s;
	sub_open(&h, &s);
	h_start(&h);
	struct twrite *w0 = put(&h, 0, "x", 0, 1);
	struct twrite *f0 = flush_cmd(&h, 0, false);
	drive(&h); /* epoch 1 written */
	struct twrite *w1 = put(&h, 0, "a", 1, 1);
	struct twrite *f1 = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	struct twrite *w2 = put(&h, 0, "b", 2, 1);
	struct twrite *f2 = flush_cmd(&h, 0, false);
	sl_coord_poll(h.c, h.now);
	assert_int_equal(tf_pending(&h.tf), 2);
	struct sl_coord_view *v = sl_coord_view(h.c);
	assert_int_equal(v->nfrozen, 2);
	sl_coord_view_unref(v);
	struct sl_coord_view *last = NULL;
	while (sl_coord_sub_recv(&s, NULL, &v) == 0) {
		sl_coord_view_unref(last);
		last = v;
	}
	assert_int_equal(last->nfrozen, 2);
	sl_coord_view_unref(last);

	tf_complete(&h.tf, 1, TEST_EFLUSH);
	v = sl_coord_view(h.c);
	assert_int_equal(v->nfrozen, 0);
	assert_true(v->has_last_written);
	assert_int_equal(v->last_written.epoch_end, 2);
	sl_coord_view_unref(v);
	/* Subscribers learn it through a publication. */
	v = recv_view(&s);
	assert_int_equal(v->nfrozen, 0);
	sl_coord_view_unref(v);
	assert_int_equal(sl_coord_sub_recv(&s, NULL, &v), SL_EAGAIN);

	/* The later delta still in flight completes: accepted, released, nothing changes. */
	tf_complete(&h.tf, 2, 0);
	v = sl_coord_view(h.c);
	assert_int_equal(v->nfrozen, 0);
	assert_int_equal(v->last_written.epoch_end, 2);
	sl_coord_view_unref(v);
	struct sl_coord_stats st;
	sl_coord_stats(h.c, &st);
	assert_int_equal(st.frozen_in_flight, 0);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), TEST_EFLUSH);
	sl_coord_unsubscribe(&s);
	h_close(&h);
	free(w0), free(f0), free(w1), free(f1), free(w2), free(f2);
}

static void bad_configs_and_channels_are_refused(void **state)
{
	(void)state;
	struct sl_coord_config cfg;
	test_config(&cfg);
	static const char *const two[] = {"a", "a"};
	static const char *const empty[] = {""};
	static const char *const nul[] = {NULL};
	static const char *const longname[] = {
		"0123456789012345678901234567890123456789012345678901234567890123"};
	/* A NULL context is fine for td_init as long as nothing is applied. */
	cfg.queue_capacity = 0;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	cfg.queue_capacity = SL_COORD_MAX_QUEUE_CAPACITY + 1;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	cfg.queue_capacity = UINT32_MAX;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	test_config(&cfg);
	cfg.max_frozen = 0;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	cfg.max_frozen = SL_COORD_MAX_FROZEN + 1;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	test_config(&cfg);
	cfg.view_queue_capacity = 0;
	assert_int_equal(try_new(&cfg, default_channel, 1), SL_EINVAL);
	test_config(&cfg);
	assert_int_equal(try_new(&cfg, default_channel, 0), SL_EINVAL);
	assert_int_equal(try_new(&cfg, NULL, 1), SL_EINVAL);
	assert_int_equal(try_new(&cfg, two, 2), SL_EDUP);
	assert_int_equal(try_new(&cfg, empty, 1), SL_EINVAL);
	assert_int_equal(try_new(&cfg, nul, 1), SL_EINVAL);
	assert_int_equal(try_new(&cfg, longname, 1), SL_EINVAL);
	assert_int_equal(try_new(NULL, default_channel, 1), SL_EINVAL);
	cfg.queue_capacity = SL_COORD_MAX_QUEUE_CAPACITY; /* the largest legal capacity is fine */
	assert_int_equal(try_new(&cfg, default_channel, 1), 0);
	struct sl_coord_delta_ops partial = td_ops;
	partial.freeze = NULL;
	struct sl_coord_env env = {.channels = default_channel,
				   .nchannels = 1,
				   .delta_ops = &partial,
				   .flusher_ops = &tf_ops};
	struct sl_coord *c;
	assert_int_equal(sl_coord_new(&cfg, &env, &c), SL_EINVAL);
}

static void unknown_channels_and_bad_calls_are_refused(void **state)
{
	(void)state;
	struct h h;
	h_default(&h, NULL);
	assert_int_equal(sl_coord_channel(h.c, "nope"), SL_ENOTFOUND);
	assert_int_equal(sl_coord_channel(h.c, NULL), SL_EINVAL);
	struct twrite *w = tw("a", 1, 1);
	assert_int_equal(sl_coord_try_write(h.c, 1, &w->w), SL_EINVAL);
	assert_int_equal(sl_coord_try_write(h.c, -1, &w->w), SL_EINVAL);
	assert_int_equal(sl_coord_try_write(h.c, SL_ENOTFOUND, &w->w), SL_EINVAL);
	assert_int_equal(sl_coord_write(h.c, 7, &w->w, h.now + SEC, h.now), SL_EINVAL);
	assert_int_equal(sl_coord_flush(h.c, 7, &w->w, false), SL_EINVAL);
	assert_int_equal(sl_coord_try_write(h.c, 0, NULL), SL_EINVAL);
	assert_int_equal(sl_coord_pause(h.c, 3, true), SL_EINVAL);
	struct sl_coord_waiter wt = {0};
	assert_int_equal(sl_coord_wait(h.c, &wt, 1, (enum sl_coord_durability)3), SL_EINVAL);
	assert_int_equal(sl_coord_wait(h.c, NULL, 1, SL_DURABILITY_APPLIED), SL_EINVAL);
	reached(&h, 0, SL_DURABILITY_DURABLE); /* epoch 0 is always reached */
	assert_int_equal(w->done_calls, 0);
	h_start(&h);
	h_stop(&h);
	assert_int_equal(sl_coord_flush(h.c, 0, &w->w, true), SL_ECLOSED);
	assert_int_equal(sl_coord_start(h.c, h.now), SL_ECLOSED);
	assert_int_equal(sl_coord_stop(h.c, NULL, h.now), 0); /* idempotent */
	h_close(&h);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(should_assign_monotonic_epochs),
		cmocka_unit_test(should_apply_writes_in_order),
		cmocka_unit_test(should_update_applied_watermark_after_each_write),
		cmocka_unit_test(should_propagate_apply_error_to_handle),
		cmocka_unit_test(should_flush_on_command),
		cmocka_unit_test(should_wait_on_flush_handle),
		cmocka_unit_test(should_return_correct_epoch_from_flush_handle),
		cmocka_unit_test(should_include_all_pending_writes_in_flush),
		cmocka_unit_test(should_skip_flush_when_no_new_writes),
		cmocka_unit_test(should_update_written_watermark_after_flush),
		cmocka_unit_test(should_flush_on_flush_interval),
		cmocka_unit_test(should_flush_when_size_threshold_exceeded),
		cmocka_unit_test(should_accumulate_until_threshold),
		cmocka_unit_test(should_accept_writes_during_flush),
		cmocka_unit_test(should_assign_new_epochs_during_flush),
		cmocka_unit_test(should_return_backpressure_when_queue_full),
		cmocka_unit_test(should_accept_writes_after_queue_drains),
		cmocka_unit_test(should_shutdown_cleanly_when_stop_called),
		cmocka_unit_test(should_flush_pending_writes_on_shutdown),
		cmocka_unit_test(should_return_shutdown_error_after_coordinator_stops),
		cmocka_unit_test(should_track_epoch_range_in_flush_event),
		cmocka_unit_test(should_have_contiguous_epoch_ranges),
		cmocka_unit_test(should_include_exact_epochs_in_range),
		cmocka_unit_test(should_preserve_context_across_flushes),
		cmocka_unit_test(should_receive_view_on_subscribe),
		cmocka_unit_test(should_include_snapshot_in_view_after_flush),
		cmocka_unit_test(should_include_delta_in_view_after_flush),
		cmocka_unit_test(should_include_epoch_range_in_view_after_flush),
		cmocka_unit_test(should_broadcast_frozen_delta_on_freeze),
		cmocka_unit_test(should_remove_frozen_delta_after_flush_complete),
		cmocka_unit_test(should_recover_from_message_lost_subscriber),
		cmocka_unit_test(should_flush_even_when_no_writes_if_flush_storage),
		cmocka_unit_test(should_advance_durable_watermark),
		cmocka_unit_test(should_see_applied_write_via_view),
		cmocka_unit_test(should_flush_writes_from_multiple_channels),
		cmocka_unit_test(should_succeed_with_write_timeout_when_queue_has_space),
		cmocka_unit_test(should_timeout_when_queue_full),
		cmocka_unit_test(should_return_write_in_timeout_error),
		cmocka_unit_test(should_return_write_in_backpressure_error),
		cmocka_unit_test(should_succeed_when_queue_drains_within_timeout),
		cmocka_unit_test(should_return_shutdown_on_write_timeout_after_coordinator_stops),
		cmocka_unit_test(should_pause_and_resume_write_channel),
		/* shardline additions */
		cmocka_unit_test(flush_error_fails_written_and_durable_waiters),
		cmocka_unit_test(stop_makes_everything_durable),
		cmocka_unit_test(frozen_deltas_are_bounded_and_backpressure_writers),
		cmocka_unit_test(out_of_order_completions_apply_in_epoch_order),
		cmocka_unit_test(channels_are_drained_round_robin),
		cmocka_unit_test(parked_writes_are_admitted_in_order),
		cmocka_unit_test(interval_restarts_on_every_flush),
		cmocka_unit_test(inline_flusher_completions_are_safe),
		cmocka_unit_test(subscriber_waiter_fires_on_publish),
		cmocka_unit_test(stop_refuses_paused_and_parked_writes),
		cmocka_unit_test(huge_flush_interval_never_fires),
		cmocka_unit_test(storage_flush_snapshot_is_released),
		cmocka_unit_test(failed_flush_leaves_frozen_views),
		cmocka_unit_test(bad_configs_and_channels_are_refused),
		cmocka_unit_test(unknown_channels_and_bad_calls_are_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
