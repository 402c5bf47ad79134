/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable shard end to end in one process: the real write coordinator, partition store,
 * batch codec and metadata event log, over the memory object store (with its fault injection)
 * or the localdir store, and the metadata log in memory or on the local durable store. The
 * index travels through a queue that the test delivers, as the io lcore's ring would.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "drivers/metalog/local.h"
#include "drivers/objstore/localdir.h"
#include "drivers/objstore/memory.h"
#include "buffer/retgc.h"
#include "durable/dshard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MS UINT64_C(1000000)

static struct sl_stream_set *streams;
static struct sl_objstore *store;
static struct sl_dshard *ds;
static struct sl_metalog *mlog;
static struct sl_metalog_local *mlocal;
static char dir[64];
static uint64_t now;

/* The index: publishes wait in a queue until pump() hands them to the metadata log. */
static struct sl_dseg_pub *pending[4096];
static int npending;
static int fail_next_pub;
static bool hold_index;

static int ix_publish(void *arg, struct sl_dseg_pub *pub)
{
	(void)arg;
	assert_true(npending < 4096);
	pending[npending++] = pub;
	return 0;
}

static const struct sl_dindex_ops index_ops = {.publish = ix_publish};

/* With a GC, as io lcore 0 runs it: published objects become live, released ones dead. */
static struct sl_retgc *gc;

static int ix_release(void *arg, struct sl_dobj *o)
{
	(void)arg;
	assert_int_equal(sl_retgc_release(gc, o->key, 1, now), 0);
	sl_dobj_free(o);
	return 0;
}

static const struct sl_dindex_ops gc_index_ops = {.publish = ix_publish, .release = ix_release};

static void index_done(struct sl_dseg_pub *p)
{
	if (gc != NULL && p->status == 0)
		assert_int_equal(sl_retgc_live(gc, p->obj_key, p->obj_size, 1, p->meta_partition,
					       p->meta_offset),
				 0);
	sl_dshard_index_done(ds, p, now);
}

/* Publishes waiting on the durable log store (by metalog pub). */
static struct sl_dseg_pub *on_store[4096];
static int non_store;

static void pump_index(void)
{
	if (hold_index)
		return;
	int n = npending;
	npending = 0;
	for (int i = 0; i < n; i++) {
		struct sl_dseg_pub *p = pending[i];
		if (fail_next_pub > 0) {
			fail_next_pub--;
			sl_buf_unref(p->payload);
			p->payload = NULL;
			p->status = SL_EIO;
			sl_dshard_index_done(ds, p, now);
			continue;
		}
		int64_t off;
		int rc = sl_metalog_publish(mlog, p->meta_partition, sl_slice_of(p->payload),
					    &p->mpub, &off);
		p->payload = NULL;
		if (rc == SL_EAGAIN) {
			on_store[non_store++] = p;
			continue;
		}
		p->status = rc;
		p->meta_offset = off;
		index_done(p);
	}
	if (mlocal == NULL)
		return;
	sl_metalog_local_poll(mlocal);
	for (int i = 0; i < non_store;) {
		struct sl_dseg_pub *p = on_store[i];
		int rc = sl_metalog_pub_poll(&p->mpub, NULL);
		if (rc == SL_EAGAIN) {
			i++;
			continue;
		}
		p->status = rc;
		p->meta_offset = p->mpub.offset;
		on_store[i] = on_store[--non_store];
		index_done(p);
	}
}

/* One loop turn: time passes, the shard works, the index answers. */
static void turn(void)
{
	now += 100 * 1000;
	pump_index();
	sl_dshard_poll(ds, now);
	pump_index();
	if (gc != NULL)
		sl_retgc_poll(gc, now);
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		turn();
}

static struct sl_dshard_config config(void)
{
	struct sl_dshard_config c;
	sl_dshard_config_default(&c);
	c.worker = 1;
	c.boot = 3;
	c.store = store;
	c.index = &index_ops;
	c.max_partitions = 64;
	c.flush_interval_ns = 20 * MS;
	return c;
}

static void make_streams(void)
{
	struct sl_stream_def d[2];
	memset(d, 0, sizeof(d));
	d[0].id = 1;
	snprintf(d[0].name, sizeof(d[0].name), "orders");
	d[0].partitions = 2;
	d[0].max_record_bytes = 1000;
	d[1].id = 2;
	snprintf(d[1].name, sizeof(d[1].name), "clicks");
	d[1].partitions = 1;
	d[1].max_record_bytes = 1 << 20;
	streams = sl_stream_set_new(d, 2, 1);
	assert_non_null(streams);
}

static void make_log(bool durable)
{
	struct sl_metalog_config mc;
	sl_metalog_config_default(&mc);
	mc.partitions = 16;
	if (durable) {
		struct sl_metalog_local_config lc;
		sl_metalog_local_config_default(&lc);
		lc.dir = dir;
		lc.partitions = 16;
		char err[256];
		assert_int_equal(sl_metalog_local_open(&lc, &mlocal, err, sizeof(err)), 0);
		mc.store = &sl_metalog_local_store_ops;
		mc.store_ctx = mlocal;
	}
	assert_int_equal(sl_metalog_new(&mc, &mlog), 0);
	if (durable) {
		sl_metalog_local_attach(mlocal, mlog);
		assert_int_equal(sl_metalog_recover(mlog), 0);
	}
}

static void free_log(void)
{
	sl_metalog_free(mlog);
	mlog = NULL;
	if (mlocal)
		sl_metalog_local_close(mlocal);
	mlocal = NULL;
}

static int setup(void **state)
{
	(void)state;
	now = 1000 * MS;
	npending = non_store = 0;
	fail_next_pub = 0;
	hold_index = false;
	snprintf(dir, sizeof(dir), "/tmp/sl-dshard-XXXXXX");
	assert_non_null(mkdtemp(dir));
	make_streams();
	store = sl_objstore_memory_new(NULL);
	make_log(false);
	struct sl_dshard_config c = config();
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	return 0;
}

static void stop_shard(void)
{
	for (int i = 0; i < 10000 && sl_dshard_stop(ds, now) == SL_EAGAIN; i++)
		turn();
	sl_dshard_free(ds);
	ds = NULL;
}

static int teardown(void **state)
{
	(void)state;
	if (ds)
		stop_shard();
	sl_retgc_free(gc);
	gc = NULL;
	free_log();
	sl_objstore_destroy(store);
	sl_stream_set_unref(streams);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- requests ---- */

struct prod {
	struct sl_dproduce p;
	struct sl_slice recs[16];
	int done;
};

static void prod_done(struct sl_dreq *r)
{
	struct prod *x = (struct prod *)r;
	x->done++;
	if (!x->p.records_taken)
		for (uint32_t i = 0; i < x->p.count; i++)
			sl_buf_unref(x->recs[i].buf);
}

/* Submits a produce of n records "<tag>-<i>" to (stream, partition), idempotent when pid is
 * not 0. */
static struct prod *produce_as(uint64_t stream, uint32_t partition, uint8_t durability,
			       const char *tag, uint32_t n, uint64_t pid, uint64_t seq)
{
	struct prod *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->p.h.kind = SL_DREQ_PRODUCE;
	x->p.h.stream_id = stream;
	x->p.h.partition = partition;
	x->p.h.done = prod_done;
	x->p.durability = durability;
	x->p.count = n;
	x->p.recs = x->recs;
	for (uint32_t i = 0; i < n; i++) {
		char v[64];
		int len = snprintf(v, sizeof(v), "%s-%u", tag, i);
		struct sl_buf *b = sl_buf_from(v, (size_t)len);
		x->recs[i] = sl_slice_of(b);
	}
	x->p.idempotent = pid != 0;
	x->p.producer_id = pid;
	x->p.sequence = seq;
	sl_dshard_submit(ds, &x->p.h, now);
	return x;
}

static struct prod *produce(uint64_t stream, uint32_t partition, uint8_t durability,
			    const char *tag, uint32_t n)
{
	return produce_as(stream, partition, durability, tag, n, 0, 0);
}

/* Turns until *flag is set: simulated time for the memory store, and real time too, for the
 * stores whose io_uring completions take as long as the disk does (10 s at most). */
static void wait_done(int *flag)
{
	for (int i = 0; i < 2000 && *flag == 0; i++)
		turn();
	for (int i = 0; i < 100000 && *flag == 0; i++) {
		usleep(100);
		turn();
	}
	assert_int_equal(*flag, 1);
}

struct fet {
	struct sl_dfetch f;
	int done;
};

static void fet_done(struct sl_dreq *r)
{
	((struct fet *)r)->done++;
}

static void marks_done(struct sl_dreq *r)
{
	(*(int *)r->user)++;
}

static struct fet *fetch_max(uint64_t stream, uint32_t partition, uint8_t from, uint64_t offset,
			     uint8_t isolation, uint64_t park_ns, uint64_t max_bytes)
{
	struct fet *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	x->f.h.kind = SL_DREQ_FETCH;
	x->f.h.stream_id = stream;
	x->f.h.partition = partition;
	x->f.h.done = fet_done;
	x->f.from = from;
	x->f.offset = offset;
	x->f.isolation = isolation;
	x->f.park_ns = park_ns;
	x->f.max_bytes = max_bytes;
	sl_dshard_submit(ds, &x->f.h, now);
	return x;
}

static struct fet *fetch(uint64_t stream, uint32_t partition, uint8_t from, uint64_t offset,
			 uint8_t isolation, uint64_t park_ns)
{
	return fetch_max(stream, partition, from, offset, isolation, park_ns, 0);
}

static void fet_free(struct fet *x)
{
	sl_dfetch_release(&x->f);
	free(x);
}

/* Asserts record i of a fetch answer is "<tag>-<n>". */
static void expect_rec(const struct fet *x, uint32_t i, const char *tag, unsigned n)
{
	char v[64];
	int len = snprintf(v, sizeof(v), "%s-%u", tag, n);
	const struct sl_slice *s = &x->f.recs[i];
	if (s->len != (uint32_t)len || memcmp(s->buf->data + s->off, v, (size_t)len) != 0)
		fail_msg("record %u: want %s, got %.*s", i, v, (int)s->len,
			 (const char *)s->buf->data + s->off);
}

/* ---- tests ---- */

static void acks_follow_the_durability_asked_for(void **state)
{
	(void)state;
	/* Hold the object store and the index: applied is immediate, the rest waits. */
	sl_objstore_memory_hold_until(store, UINT64_MAX);
	hold_index = true;
	struct prod *a = produce(1, 0, SL_LP_APPLIED, "a", 2);
	struct prod *w = produce(1, 0, SL_LP_WRITTEN, "w", 1);
	struct prod *d = produce(1, 0, SL_LP_DURABLE, "d", 3);
	turns(50);
	assert_int_equal(a->done, 1);
	assert_int_equal(a->p.h.code, 0);
	assert_int_equal(a->p.first_offset, 0);
	assert_int_equal(w->done, 0);
	assert_int_equal(d->done, 0);
	/* The object lands: written, not durable (the event is still held). */
	sl_objstore_memory_hold_until(store, 0);
	wait_done(&w->done);
	assert_int_equal(w->p.h.code, 0);
	assert_int_equal(w->p.first_offset, 2);
	turns(20);
	assert_int_equal(d->done, 0);
	/* The event lands: durable. */
	hold_index = false;
	wait_done(&d->done);
	assert_int_equal(d->p.h.code, 0);
	assert_int_equal(d->p.first_offset, 3);
	struct sl_dpart_info info[2];
	assert_int_equal(sl_dshard_describe(ds, 1, info, 2), 2);
	assert_int_equal(info[0].next, 6);
	assert_int_equal(info[0].durable, 6);
	assert_int_equal(info[1].next, 0);
	assert_true(info[0].objects >= 1);
	free(a);
	free(w);
	free(d);
}

static void durable_producers_share_flushes(void **state)
{
	(void)state;
	/* A slow object store: while a flush is out, the next durable writes gather. */
	sl_objstore_memory_delay(store, SL_OBJ_PUT, 2 * MS);
	struct prod *x[200];
	for (int i = 0; i < 200; i++)
		x[i] = produce(1, (uint32_t)(i % 2), SL_LP_DURABLE, "g", 1);
	for (int i = 0; i < 200; i++) {
		wait_done(&x[i]->done);
		assert_int_equal(x[i]->p.h.code, 0);
		assert_int_equal(x[i]->p.first_offset, (uint64_t)(i / 2));
		free(x[i]);
	}
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.produce_records, 200);
	assert_true(st.flushes >= 1);
	assert_true(st.flushes <= 20);
}

static void fetches_read_memory_then_wait_for_more(void **state)
{
	(void)state;
	struct prod *p = produce(2, 0, SL_LP_DURABLE, "m", 5);
	wait_done(&p->done);
	free(p);
	struct fet *f = fetch(2, 0, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->f.h.code, 0);
	assert_int_equal(f->f.first, 0);
	assert_int_equal(f->f.count, 5);
	for (unsigned i = 0; i < 5; i++)
		expect_rec(f, i, "m", i);
	assert_int_equal(f->f.marks.high_water, 5);
	assert_int_equal(f->f.marks.durable, 5);
	fet_free(f);

	/* latest: nothing yet, so it parks; an applied-isolation reader wakes on apply... */
	struct fet *la = fetch(2, 0, SL_DFETCH_LATEST, 0, SL_LP_ISO_APPLIED, 1000 * MS);
	struct fet *ld = fetch(2, 0, SL_DFETCH_OFFSET, 5, SL_LP_ISO_DURABLE, 1000 * MS);
	assert_int_equal(la->done, 0);
	assert_int_equal(la->f.offset, 5);
	sl_objstore_memory_hold_until(store, UINT64_MAX);
	p = produce(2, 0, SL_LP_DURABLE, "n", 2);
	assert_int_equal(la->done, 0); /* the coordinator applies it in its next poll */
	turn();
	assert_int_equal(la->done, 1);
	assert_int_equal(la->f.first, 5);
	assert_int_equal(la->f.count, 2);
	expect_rec(la, 1, "n", 1);
	/* ... and a durable one only once the records are durable. */
	turns(20);
	assert_int_equal(ld->done, 0);
	sl_objstore_memory_hold_until(store, 0);
	wait_done(&ld->done);
	assert_int_equal(ld->f.count, 2);
	assert_int_equal(ld->f.first, 5);
	wait_done(&p->done);
	free(p);
	fet_free(la);
	fet_free(ld);

	/* A parked reader with nothing coming answers empty after its park time. */
	struct fet *e = fetch(2, 0, SL_DFETCH_OFFSET, 7, SL_LP_ISO_DURABLE, 30 * MS);
	turns(100);
	assert_int_equal(e->done, 0);
	turns(300);
	assert_int_equal(e->done, 1);
	assert_int_equal(e->f.h.code, 0);
	assert_int_equal(e->f.count, 0);
	assert_int_equal(e->f.first, 7);
	fet_free(e);

	/* max_bytes: at least one record, then no more than the budget. */
	struct fet *b = calloc(1, sizeof(*b));
	b->f.h.kind = SL_DREQ_FETCH;
	b->f.h.stream_id = 2;
	b->f.h.done = fet_done;
	b->f.max_bytes = 7; /* "m-0" is 3 bytes: two fit, the third does not */
	sl_dshard_submit(ds, &b->f.h, now);
	assert_int_equal(b->f.count, 2);
	fet_free(b);
}

static void evicted_records_are_read_from_objects(void **state)
{
	(void)state;
	/* A shard that keeps no flushed record in memory, and a backlog of more segments than
	 * one fetch reads at once. */
	enum { SEGS = SL_DFETCH_GETS + 2 };
	stop_shard();
	struct sl_dshard_config c = config();
	c.mem_budget = 0;
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	for (int k = 0; k < SEGS; k++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "o%d", k);
		struct prod *p = produce(1, 1, SL_LP_DURABLE, tag, 10);
		wait_done(&p->done);
		assert_int_equal(p->p.first_offset, (uint64_t)k * 10);
		free(p);
	}
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.pstore.records_in_memory, 0);
	uint64_t off = 0, fetches = 0;
	uint32_t counts[SEGS];
	while (off < SEGS * 10) {
		struct fet *f = fetch(1, 1, SL_DFETCH_OFFSET, off, SL_LP_ISO_DURABLE, 0);
		wait_done(&f->done);
		assert_int_equal(f->f.h.code, 0);
		assert_int_equal(f->f.first, off);
		assert_true(f->f.count >= 1);
		for (uint32_t i = 0; i < f->f.count; i++) {
			char tag[16];
			snprintf(tag, sizeof(tag), "o%d", (int)((off + i) / 10));
			expect_rec(f, i, tag, (unsigned)((off + i) % 10));
		}
		counts[fetches++] = f->f.count;
		off += f->f.count;
		fet_free(f);
	}
	/* One fetch answers from SL_DFETCH_GETS segments read together, the next from the rest. */
	assert_int_equal(fetches, 2);
	assert_int_equal(counts[0], SL_DFETCH_GETS * 10);
	assert_int_equal(counts[1], 20);
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.fetches_from_objects, 2);

	/* Inside a segment, from the cache or not, and bounded by max_bytes. */
	struct fet *f = fetch(1, 1, SL_DFETCH_OFFSET, 95, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, 0);
	assert_int_equal(f->f.first, 95);
	assert_int_equal(f->f.count, 5);
	expect_rec(f, 0, "o9", 5);
	fet_free(f);
	f = fetch(1, 1, SL_DFETCH_OFFSET, 3, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.count, SL_DFETCH_GETS * 10 - 3);
	expect_rec(f, 0, "o0", 3);
	expect_rec(f, 7, "o1", 0);
	fet_free(f);
	f = fetch_max(1, 1, SL_DFETCH_OFFSET, 42, SL_LP_ISO_DURABLE, 0, 1);
	wait_done(&f->done);
	assert_int_equal(f->f.count, 1);
	expect_rec(f, 0, "o4", 2);
	fet_free(f);

	/* A read that fails fails the fetch with a storage error; nothing is lost, and the same
	 * fetch again succeeds. */
	sl_dshard_stats(ds, &st);
	uint64_t read_errors = st.object_read_errors;
	assert_int_equal(sl_objstore_memory_fail_next(store, SL_OBJ_GET, 1, SL_EIO), 0);
	f = fetch(1, 1, SL_DFETCH_OFFSET, 0, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, SL_LP_ERR_STORAGE_FAILED);
	assert_int_equal(f->f.count, 0);
	fet_free(f);
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.object_read_errors, read_errors + 1);
	f = fetch(1, 1, SL_DFETCH_OFFSET, 0, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, 0);
	assert_int_equal(f->f.count, SL_DFETCH_GETS * 10);
	expect_rec(f, SL_DFETCH_GETS * 10 - 1, "o7", 9);
	fet_free(f);
}

static void a_failed_object_write_fails_only_what_was_not_durable(void **state)
{
	(void)state;
	struct prod *ok = produce(1, 0, SL_LP_DURABLE, "ok", 3);
	wait_done(&ok->done);
	assert_int_equal(ok->p.h.code, 0);
	free(ok);
	sl_objstore_memory_fail_next(store, SL_OBJ_PUT, 1, SL_ENOSPC);
	struct prod *bad = produce(1, 0, SL_LP_DURABLE, "bad", 2);
	wait_done(&bad->done);
	assert_int_equal(bad->p.h.code, SL_LP_ERR_STORAGE_FAILED);
	assert_int_equal(bad->p.h.err, SL_ENOSPC);
	free(bad);
	/* The write path is rebuilt from the durable state: offsets continue at 3. */
	turns(20);
	struct prod *again = NULL;
	for (int i = 0; i < 100; i++) {
		again = produce(1, 0, SL_LP_DURABLE, "again", 1);
		wait_done(&again->done);
		if (again->p.h.code != SL_LP_ERR_OVERLOADED)
			break;
		free(again);
		again = NULL;
		turns(10);
	}
	assert_non_null(again);
	assert_int_equal(again->p.h.code, 0);
	assert_int_equal(again->p.first_offset, 3);
	free(again);
	/* One answer per segment: the old object first, then the new record. */
	struct fet *f = fetch(1, 0, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.count, 3);
	expect_rec(f, 0, "ok", 0);
	expect_rec(f, 2, "ok", 2);
	fet_free(f);
	f = fetch(1, 0, SL_DFETCH_OFFSET, 3, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.count, 1);
	expect_rec(f, 0, "again", 0);
	fet_free(f);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.rebuilds, 1);
}

static void a_failed_event_fails_the_flush(void **state)
{
	(void)state;
	fail_next_pub = 1;
	struct prod *bad = produce(1, 1, SL_LP_DURABLE, "x", 1);
	wait_done(&bad->done);
	assert_int_equal(bad->p.h.code, SL_LP_ERR_STORAGE_FAILED);
	assert_int_equal(bad->p.h.err, SL_EIO);
	free(bad);
	turns(20);
	struct prod *p = produce(1, 1, SL_LP_DURABLE, "y", 1);
	wait_done(&p->done);
	assert_int_equal(p->p.h.code, 0);
	assert_int_equal(p->p.first_offset, 0);
	free(p);
}

static void bad_requests_get_codes(void **state)
{
	(void)state;
	struct prod *p = produce(9, 0, SL_LP_DURABLE, "x", 1);
	assert_int_equal(p->done, 1);
	assert_int_equal(p->p.h.code, SL_LP_ERR_UNKNOWN_STREAM);
	free(p);
	p = produce(1, 2, SL_LP_DURABLE, "x", 1);
	assert_int_equal(p->p.h.code, SL_LP_ERR_PARTITION_RANGE);
	free(p);
	p = calloc(1, sizeof(*p));
	p->p.h.kind = SL_DREQ_PRODUCE;
	p->p.h.stream_id = 1;
	p->p.h.done = prod_done;
	p->p.durability = SL_LP_DURABLE;
	p->p.count = 1;
	p->p.recs = p->recs;
	p->recs[0] = sl_slice_of(sl_buf_alloc(1001));
	p->recs[0].len = 1001;
	sl_dshard_submit(ds, &p->p.h, now);
	assert_int_equal(p->p.h.code, SL_LP_ERR_RECORD_TOO_LARGE);
	free(p);
	struct fet *f = fetch(1, 5, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
	assert_int_equal(f->f.h.code, SL_LP_ERR_PARTITION_RANGE);
	fet_free(f);
	f = fetch(1, 0, SL_DFETCH_OFFSET, 0, SL_LP_ISO_DURABLE, 0);
	assert_int_equal(f->f.h.code, 0);
	assert_int_equal(f->f.count, 0);
	fet_free(f);
	struct sl_lp_marks m[3];
	uint32_t parts[3] = {0, 1, 2};
	int answered = 0;
	struct sl_dmarks mk = {
		.h = {.kind = SL_DREQ_MARKS, .stream_id = 1, .done = marks_done, .user = &answered},
		.n = 3,
		.parts = parts,
		.marks = m};
	sl_dshard_submit(ds, &mk.h, now);
	assert_int_equal(answered, 1);
	assert_int_equal(mk.h.code, SL_LP_ERR_PARTITION_RANGE);
	assert_int_equal(m[0].high_water, 0);
}

static void overload_pushes_back(void **state)
{
	(void)state;
	stop_shard();
	struct sl_dshard_config c = config();
	c.queue_capacity = 4;
	c.max_flushes = 1;
	c.flush_bytes = 1; /* every write wants a flush: one in flight stalls the rest */
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	sl_objstore_memory_hold_until(store, UINT64_MAX);
	struct prod *x[40];
	int overloaded = 0;
	for (int i = 0; i < 40; i++) {
		x[i] = produce(1, 0, SL_LP_DURABLE, "o", 1);
		turn();
	}
	for (int i = 0; i < 40; i++)
		if (x[i]->done && x[i]->p.h.code == SL_LP_ERR_OVERLOADED) {
			overloaded++;
			assert_int_equal(x[i]->p.h.detail, c.overload_retry_ms);
			assert_false(x[i]->p.records_taken);
		}
	assert_true(overloaded > 0);
	sl_objstore_memory_hold_until(store, 0);
	for (int i = 0; i < 40; i++) {
		if (x[i]->p.h.code != SL_LP_ERR_OVERLOADED) {
			wait_done(&x[i]->done);
			assert_int_equal(x[i]->p.h.code, 0);
		}
		free(x[i]);
	}
}

static void deleting_a_stream_drops_its_partitions_and_objects(void **state)
{
	(void)state;
	struct prod *p = produce(2, 0, SL_LP_DURABLE, "del", 4);
	wait_done(&p->done);
	free(p);
	struct sl_objstore_memory_stats ms;
	sl_objstore_memory_stats(store, &ms);
	assert_true(ms.objects >= 1);
	struct fet *waiting = fetch(2, 0, SL_DFETCH_OFFSET, 4, SL_LP_ISO_DURABLE, 10000 * MS);
	assert_int_equal(waiting->done, 0);
	/* The new set keeps only stream 1. */
	struct sl_stream_set *only = sl_stream_set_new(streams->defs, 1, 2);
	assert_non_null(only);
	assert_string_equal(only->defs[0].name, "clicks");
	sl_stream_set_unref(only);
	struct sl_stream_def keep = *sl_stream_set_find_id(streams, 1);
	only = sl_stream_set_new(&keep, 1, 2);
	assert_int_equal(sl_dshard_set_streams(ds, only, now), 0);
	sl_stream_set_unref(only);
	assert_int_equal(waiting->done, 1);
	assert_int_equal(waiting->f.h.code, SL_LP_ERR_UNKNOWN_STREAM);
	fet_free(waiting);
	turns(20);
	sl_objstore_memory_stats(store, &ms);
	assert_int_equal(ms.objects, 0);
	p = produce(2, 0, SL_LP_DURABLE, "del", 1);
	assert_int_equal(p->p.h.code, SL_LP_ERR_UNKNOWN_STREAM);
	free(p);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.partitions, 2);
}

static void stop_makes_applied_records_durable(void **state)
{
	(void)state;
	struct prod *p = produce(1, 0, SL_LP_APPLIED, "s", 3);
	turn();
	assert_int_equal(p->done, 1);
	free(p);
	struct sl_dpart_info info[2];
	sl_dshard_describe(ds, 1, info, 2);
	assert_int_equal(info[0].durable, 0);
	int rc;
	for (int i = 0; i < 1000 && (rc = sl_dshard_stop(ds, now)) == SL_EAGAIN; i++)
		turn();
	assert_int_equal(rc, 0);
	sl_dshard_describe(ds, 1, info, 2);
	assert_int_equal(info[0].durable, 3);
	p = produce(1, 0, SL_LP_APPLIED, "late", 1);
	assert_int_equal(p->p.h.code, SL_LP_ERR_SHUTTING_DOWN);
	free(p);
}

/* Lists every object under data/ into rec. */
static void list_into(struct sl_drecovery *rec)
{
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_LIST;
	r.prefix = "data/";
	r.max_keys = 100000;
	assert_int_equal(sl_objstore_run(store, &r), 0);
	for (uint32_t i = 0; i < r.nentries; i++)
		assert_int_equal(sl_drecovery_add_object(rec, r.entries[i].key, r.entries[i].size),
				 0);
	sl_obj_req_reset(&r);
}

/* Reads every segment event of the log into rec. */
static void events_into(struct sl_drecovery *rec)
{
	struct sl_metalog_start starts[16];
	for (int i = 0; i < 16; i++)
		starts[i] = (struct sl_metalog_start){i, 0};
	struct sl_metalog_sub *sub;
	assert_int_equal(sl_metalog_subscribe(mlog, starts, 16, &sub), 0);
	struct sl_metalog_record m;
	while (sl_metalog_sub_poll(sub, NULL, &m) == 0)
		assert_int_equal(sl_drecovery_add_event(rec, m.payload.buf->data + m.payload.off,
							m.payload.len, NULL),
				 0);
	sl_metalog_unsubscribe(sub);
}

static void restart_recovers_every_durable_record(void **state)
{
	(void)state;
	/* The real thing: files for objects and for the log. */
	sl_dshard_free(ds);
	ds = NULL;
	free_log();
	sl_objstore_destroy(store);
	char objs[128];
	snprintf(objs, sizeof(objs), "%s/objects", dir);
	assert_int_equal(mkdir(objs, 0700), 0);
	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_dshard_config c = config();
	c.mem_budget = 16; /* most reads come from objects */
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	for (int k = 0; k < 6; k++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "r%d", k);
		struct prod *p = produce(1, (uint32_t)(k % 2), SL_LP_DURABLE, tag, 5);
		wait_done(&p->done);
		assert_int_equal(p->p.h.code, 0);
		free(p);
	}
	/* Applied only, never flushed: may be lost, must not come back half. */
	struct prod *lost = produce(1, 0, SL_LP_APPLIED, "lost", 2);
	/* A crash: nothing is stopped or flushed; the files are all that is left. */
	sl_dshard_free(ds);
	ds = NULL;
	assert_int_equal(lost->done, 1);
	assert_int_equal(lost->p.h.code, SL_LP_ERR_SHUTTING_DOWN);
	free(lost);
	free_log();
	sl_objstore_destroy(store);
	/* Stale object a crash could leave: written, never indexed. */
	char orphan[256];
	snprintf(orphan, sizeof(orphan), "%s/data/0000000003/w001-999999999999.batch", objs);
	FILE *o = fopen(orphan, "w");
	assert_non_null(o);
	fputs("junk", o);
	fclose(o);

	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_drecovery *rec;
	assert_int_equal(sl_drecovery_new(streams, &rec), 0);
	list_into(rec);
	events_into(rec);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	struct sl_drecovery_stats rs;
	sl_drecovery_stats(rec, &rs);
	assert_int_equal(rs.orphans, 1);
	assert_string_equal(sl_drecovery_orphan(rec, 0), "data/0000000003/w001-999999999999.batch");
	c = config();
	c.store = store;
	c.boot = 4;
	assert_int_equal(sl_dshard_new(&c, streams, rec, now, &ds), 0);
	sl_drecovery_free(rec);
	for (uint32_t part = 0; part < 2; part++) {
		struct fet *f = fetch(1, part, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
		wait_done(&f->done);
		assert_int_equal(f->f.h.code, 0);
		assert_int_equal(f->f.marks.durable, 15);
		assert_int_equal(f->f.marks.high_water, 15);
		uint64_t off = 0;
		while (off < 15) {
			for (uint32_t i = 0; i < f->f.count; i++) {
				uint64_t o2 = off + i;
				char tag[16];
				snprintf(tag, sizeof(tag), "r%d", (int)(part + 2 * (o2 / 5)));
				expect_rec(f, i, tag, (unsigned)(o2 % 5));
			}
			off += f->f.count;
			fet_free(f);
			f = off < 15 ? fetch(1, part, SL_DFETCH_OFFSET, off, SL_LP_ISO_DURABLE, 0)
				     : NULL;
			if (f)
				wait_done(&f->done);
		}
	}
	/* Offsets continue from the durable end. */
	struct prod *p = produce(1, 0, SL_LP_DURABLE, "after", 1);
	wait_done(&p->done);
	assert_int_equal(p->p.h.code, 0);
	assert_int_equal(p->p.first_offset, 15);
	free(p);
}

/* ---- retention ---- */

/* The stream set with stream 1's retention set (age in ms, bytes per partition). */
static struct sl_stream_set *with_retention(uint64_t age_ms, uint64_t bytes, uint64_t version)
{
	struct sl_stream_def d[2] = {streams->defs[0], streams->defs[1]};
	for (int i = 0; i < 2; i++)
		if (d[i].id == 1) {
			d[i].retention_age_ns = age_ms * MS;
			d[i].retention_bytes = bytes;
		}
	struct sl_stream_set *set = sl_stream_set_new(d, 2, version);
	assert_non_null(set);
	return set;
}

/* k durable produces of 5 records each to stream 1 partition 0: k segments of equal size. */
static void produce_segments(int k, int from)
{
	for (int i = 0; i < k; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "s%d", from + i);
		struct prod *p = produce(1, 0, SL_LP_DURABLE, tag, 5);
		wait_done(&p->done);
		assert_int_equal(p->p.h.code, 0);
		free(p);
	}
}

static struct sl_dpart_info part0(void)
{
	struct sl_dpart_info info[2];
	assert_int_equal(sl_dshard_describe(ds, 1, info, 2), 2);
	return info[0];
}

/* Fetches from offset (explicitly) and expects OFFSET_OUT_OF_RANGE naming earliest. */
static void expect_out_of_range(uint64_t offset, uint64_t earliest)
{
	struct fet *f = fetch(1, 0, SL_DFETCH_START_AT, offset, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, SL_LP_ERR_OFFSET_OUT_OF_RANGE);
	assert_int_equal(f->f.h.detail, earliest);
	fet_free(f);
	f = fetch(1, 0, SL_DFETCH_OFFSET, offset, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, SL_LP_ERR_OFFSET_OUT_OF_RANGE);
	assert_int_equal(f->f.h.detail, earliest);
	fet_free(f);
}

static void expect_earliest(uint64_t earliest, const char *tag)
{
	struct fet *f = fetch(1, 0, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.h.code, 0);
	assert_int_equal(f->f.first, earliest);
	assert_true(f->f.count >= 1);
	expect_rec(f, 0, tag, 0);
	fet_free(f);
}

static uint64_t memory_objects(void)
{
	struct sl_objstore_memory_stats ms;
	sl_objstore_memory_stats(store, &ms);
	return ms.objects;
}

static void retention_by_bytes_keeps_at_least_the_limit(void **state)
{
	(void)state;
	produce_segments(6, 0);
	struct sl_dpart_info i = part0();
	assert_int_equal(i.objects, 6);
	assert_int_equal(i.start, 0);
	uint64_t seg = i.object_bytes / 6;
	/* Two and a half segments' worth: the oldest go while at least that much stays, so
	 * three stay. */
	struct sl_stream_set *set = with_retention(0, seg * 5 / 2, 2);
	assert_int_equal(sl_dshard_set_streams(ds, set, now), 0);
	sl_stream_set_unref(set);
	now += SL_DSHARD_RETENTION_NS;
	turns(20);
	i = part0();
	assert_int_equal(i.objects, 3);
	assert_int_equal(i.start, 15);
	assert_int_equal(i.durable, 30);
	assert_int_equal(i.mem_records, 15); /* the memory tail lost its copies below 15 too */
	assert_true(i.object_bytes >= seg * 5 / 2);
	expect_out_of_range(0, 15);
	expect_out_of_range(14, 15);
	expect_earliest(15, "s3");
	/* The dropped segments' objects are gone from the store (no GC hook: at once). */
	assert_int_equal(memory_objects(), 3);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.segments_expired, 3);
	assert_int_equal(st.records_expired, 15);
	/* Partition 1 and stream 2 had nothing and lost nothing. */
	struct sl_dpart_info info[2];
	sl_dshard_describe(ds, 1, info, 2);
	assert_int_equal(info[1].start, 0);
}

static void retention_by_age_drops_segments_flushed_before_the_limit(void **state)
{
	(void)state;
	struct sl_stream_set *set = with_retention(1000, 0, 2);
	assert_int_equal(sl_dshard_set_streams(ds, set, now), 0);
	sl_stream_set_unref(set);
	produce_segments(2, 0);
	now += 600 * MS;
	produce_segments(1, 2);
	now += 500 * MS; /* the first two are 1.1 s old, the third 0.5 s */
	turns(20);
	struct sl_dpart_info i = part0();
	assert_int_equal(i.start, 10);
	assert_int_equal(i.objects, 1);
	expect_out_of_range(9, 10);
	expect_earliest(10, "s2");
	now += 1000 * MS;
	turns(20);
	/* Everything expired, but the newest segment stays (it says where offsets continue). */
	i = part0();
	assert_int_equal(i.start, 10);
	assert_int_equal(i.objects, 1);
	struct prod *p = produce(1, 0, SL_LP_DURABLE, "later", 1);
	wait_done(&p->done);
	assert_int_equal(p->p.first_offset, 15);
	free(p);
}

static void recovery_applies_retention(void **state)
{
	(void)state;
	sl_dshard_free(ds);
	ds = NULL;
	free_log();
	sl_objstore_destroy(store);
	char objs[128];
	snprintf(objs, sizeof(objs), "%s/objects", dir);
	assert_int_equal(mkdir(objs, 0700), 0);
	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_dshard_config c = config();
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	produce_segments(6, 0);
	uint64_t seg = part0().object_bytes / 6;
	stop_shard();
	free_log();
	sl_objstore_destroy(store);

	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_stream_set *set = with_retention(0, seg * 2, 2);
	struct sl_drecovery *rec;
	assert_int_equal(sl_drecovery_new(set, &rec), 0);
	list_into(rec);
	events_into(rec);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	/* The expired segments are not indexed: their objects are orphans, which the daemon's
	 * start-up deletes. */
	struct sl_drecovery_stats rs;
	sl_drecovery_stats(rec, &rs);
	assert_int_equal(rs.expired, 4);
	assert_int_equal(rs.orphans, 4);
	c = config();
	c.store = store;
	c.boot = 4;
	assert_int_equal(sl_dshard_new(&c, set, rec, now, &ds), 0);
	sl_drecovery_free(rec);
	sl_stream_set_unref(set);
	/* Before any request: the retained start is already past what retention dropped. */
	struct sl_dpart_info i = part0();
	assert_int_equal(i.start, 20);
	assert_int_equal(i.objects, 2);
	expect_out_of_range(19, 20);
	expect_earliest(20, "s4");
}

static void expired_objects_wait_out_the_gc_grace_period(void **state)
{
	(void)state;
	stop_shard();
	struct sl_retgc_config gcc;
	sl_retgc_config_default(&gcc);
	gcc.store = store;
	gcc.grace_ns = 5000 * MS;
	assert_int_equal(sl_retgc_new(&gcc, &gc), 0);
	struct sl_dshard_config c = config();
	c.index = &gc_index_ops;
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	produce_segments(4, 0);
	struct sl_retgc_stats gs;
	sl_retgc_stats(gc, &gs);
	assert_int_equal(gs.objects_live, 4);
	assert_int_equal(sl_retgc_trim_point(gc, 1), 0); /* worker 1's events: partition 1 */
	uint64_t seg = part0().object_bytes / 4;
	struct sl_stream_set *set = with_retention(0, seg, 2);
	assert_int_equal(sl_dshard_set_streams(ds, set, now), 0);
	sl_stream_set_unref(set);
	now += SL_DSHARD_RETENTION_NS;
	turns(20);
	/* Out of the index at once, but the objects stay for the grace period. */
	assert_int_equal(part0().start, 15);
	expect_out_of_range(0, 15);
	sl_retgc_stats(gc, &gs);
	assert_int_equal(gs.objects_dead, 3);
	assert_int_equal(memory_objects(), 4);
	now += 5000 * MS;
	turns(20);
	assert_int_equal(memory_objects(), 1);
	sl_retgc_stats(gc, &gs);
	assert_int_equal(gs.gc_deleted, 3);
	assert_int_equal(gs.objects_live, 1);
	/* The first three events name deleted objects: the log may drop them. */
	assert_int_equal(sl_retgc_trim_point(gc, 1), 3);
	expect_earliest(15, "s3");
}

/* ---- the export hook ---- */

static struct sl_buf *exported_evs[256];
static int nexported;
static int refuse_exports;

static int ix_exported(void *arg, struct sl_buf *ev)
{
	(void)arg;
	if (refuse_exports > 0) {
		refuse_exports--;
		return SL_ENOSPC; /* a full ring: the shard offers it again later */
	}
	assert_true(nexported < 256);
	exported_evs[nexported++] = ev;
	return 0;
}

static const struct sl_dindex_ops export_index_ops = {.publish = ix_publish,
						      .exported = ix_exported};

/* Durable flushes of an --export stream reach the hook once each, in durability order, with
 * only that stream's ranges; a refused hand-over is offered again without reordering. */
static void durable_flushes_of_export_streams_are_handed_over(void **state)
{
	(void)state;
	stop_shard();
	sl_stream_set_unref(streams);
	struct sl_stream_def d[2];
	memset(d, 0, sizeof(d));
	d[0].id = 1;
	snprintf(d[0].name, sizeof(d[0].name), "orders");
	d[0].partitions = 2;
	d[0].max_record_bytes = 1000;
	d[0].export_enabled = true;
	d[1].id = 2;
	snprintf(d[1].name, sizeof(d[1].name), "clicks");
	d[1].partitions = 1;
	d[1].max_record_bytes = 1000;
	streams = sl_stream_set_new(d, 2, 1);
	struct sl_dshard_config c = config();
	c.index = &export_index_ops;
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	nexported = 0;
	refuse_exports = 3;
	/* Flush 1: both streams; flush 2: clicks only (nothing to export); flush 3: orders. */
	struct prod *a = produce(1, 0, SL_LP_DURABLE, "a", 2);
	struct prod *b = produce(2, 0, SL_LP_DURABLE, "b", 1);
	struct prod *e = produce(1, 1, SL_LP_DURABLE, "e", 1);
	wait_done(&a->done);
	wait_done(&b->done);
	wait_done(&e->done);
	struct prod *f = produce(2, 0, SL_LP_DURABLE, "f", 1);
	wait_done(&f->done);
	struct prod *g = produce(1, 1, SL_LP_DURABLE, "g", 3);
	wait_done(&g->done);
	turns(10);
	assert_int_equal(refuse_exports, 0);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.exports, (uint64_t)nexported);
	assert_true(nexported >= 2);
	uint64_t seq = 0, next[2] = {0, 0};
	for (int i = 0; i < nexported; i++) {
		struct sl_seg_event ev;
		assert_int_equal(
			sl_seg_decode(exported_evs[i]->data, exported_evs[i]->len, &ev, NULL), 0);
		assert_int_equal(ev.boot, 3);
		assert_int_equal(ev.worker, 1);
		assert_true(ev.seq > seq); /* in flush order */
		seq = ev.seq;
		for (uint32_t k = 0; k < ev.nranges; k++) {
			const struct sl_seg_range *r = &ev.ranges[k];
			assert_int_equal(r->stream_id, 1); /* clicks never goes out */
			assert_int_equal(r->first, next[r->partition]);
			next[r->partition] = r->first + r->count;
			assert_true(r->off + r->len <= ev.object_size);
		}
		sl_seg_event_release(&ev);
		sl_buf_unref(exported_evs[i]);
	}
	/* Every record of orders went out exactly once, in offset order per partition. */
	assert_int_equal(next[0], 2);
	assert_int_equal(next[1], 4);
	free(a);
	free(b);
	free(e);
	free(f);
	free(g);
}

/* ---- idempotent producers ---- */

static uint64_t next_offset(uint32_t part)
{
	struct sl_dpart_info info[2];
	assert_int_equal(sl_dshard_describe(ds, 1, info, 2), 2);
	return info[part].next;
}

static void idem_retries_append_nothing(void **state)
{
	(void)state;
	/* The original waits for durable: the store and the index are held. */
	sl_objstore_memory_hold_until(store, UINT64_MAX);
	hold_index = true;
	struct prod *a = produce_as(1, 0, SL_LP_DURABLE, "a", 2, 77, 0);
	/* A retry before the original was applied: its offsets are not known yet. */
	struct prod *early = produce_as(1, 0, SL_LP_DURABLE, "a", 2, 77, 0);
	assert_int_equal(early->done, 1);
	assert_int_equal(early->p.h.code, SL_LP_ERR_OVERLOADED);
	free(early);
	turns(20);
	assert_int_equal(a->done, 0);
	assert_int_equal(next_offset(0), 2);
	/* A retry asking for applied: answered at once, with the original offsets. */
	struct prod *r1 = produce_as(1, 0, SL_LP_APPLIED, "a", 2, 77, 0);
	assert_int_equal(r1->done, 1);
	assert_int_equal(r1->p.h.code, 0);
	assert_true(r1->p.duplicate);
	assert_int_equal(r1->p.first_offset, 0);
	assert_false(r1->p.records_taken);
	free(r1);
	/* A retry asking for durable waits like the original. */
	struct prod *r2 = produce_as(1, 0, SL_LP_DURABLE, "a", 2, 77, 0);
	turns(20);
	assert_int_equal(r2->done, 0);
	sl_objstore_memory_hold_until(store, 0);
	hold_index = false;
	wait_done(&a->done);
	wait_done(&r2->done);
	assert_int_equal(a->p.h.code, 0);
	assert_false(a->p.duplicate);
	assert_int_equal(r2->p.h.code, 0);
	assert_true(r2->p.duplicate);
	assert_int_equal(r2->p.first_offset, 0);
	/* Once durable, a retry is answered at once. */
	struct prod *r3 = produce_as(1, 0, SL_LP_DURABLE, "a", 2, 77, 0);
	assert_int_equal(r3->done, 1);
	assert_true(r3->p.duplicate);
	assert_int_equal(r3->p.first_offset, 0);
	/* The next sequence appends; another producer has its own numbering. */
	struct prod *b = produce_as(1, 0, SL_LP_DURABLE, "b", 1, 77, 2);
	struct prod *c = produce_as(1, 0, SL_LP_DURABLE, "c", 1, 78, 0);
	wait_done(&b->done);
	wait_done(&c->done);
	assert_false(b->p.duplicate || c->p.duplicate);
	assert_int_equal(b->p.first_offset, 2);
	assert_int_equal(c->p.first_offset, 3);
	assert_int_equal(next_offset(0), 4);
	struct fet *f = fetch(1, 0, SL_DFETCH_EARLIEST, 0, SL_LP_ISO_DURABLE, 0);
	wait_done(&f->done);
	assert_int_equal(f->f.count, 4);
	expect_rec(f, 0, "a", 0);
	expect_rec(f, 1, "a", 1);
	expect_rec(f, 2, "b", 0);
	expect_rec(f, 3, "c", 0);
	fet_free(f);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.produce_duplicates, 3);
	assert_int_equal(st.produce_records, 4);
	free(a);
	free(r2);
	free(r3);
	free(b);
	free(c);
}

static void idem_gaps_and_forgotten_retries_are_refused(void **state)
{
	(void)state;
	struct prod *p = produce_as(1, 1, SL_LP_APPLIED, "x", 3, 5, 10);
	wait_done(&p->done);
	assert_int_equal(p->p.first_offset, 0); /* a new producer starts where it says */
	free(p);
	/* A gap: sequence 14 when 13 is expected. */
	p = produce_as(1, 1, SL_LP_APPLIED, "x", 1, 5, 14);
	assert_int_equal(p->done, 1);
	assert_int_equal(p->p.h.code, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE);
	assert_int_equal(p->p.h.detail, 13);
	free(p);
	/* A retry with another count is not the same request. */
	p = produce_as(1, 1, SL_LP_APPLIED, "x", 2, 5, 10);
	assert_int_equal(p->p.h.code, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE);
	assert_int_equal(p->p.h.detail, 13);
	free(p);
	/* Five more requests push the first out of the window. */
	for (uint64_t k = 0; k < SL_DIDEM_WINDOW; k++) {
		p = produce_as(1, 1, SL_LP_APPLIED, "y", 1, 5, 13 + k);
		wait_done(&p->done);
		assert_int_equal(p->p.h.code, 0);
		free(p);
	}
	p = produce_as(1, 1, SL_LP_APPLIED, "x", 3, 5, 10);
	assert_int_equal(p->p.h.code, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE);
	assert_int_equal(p->p.h.detail, 18);
	free(p);
	/* The window holds the last five: sequences 13 .. 17. */
	p = produce_as(1, 1, SL_LP_APPLIED, "y", 1, 5, 13);
	assert_int_equal(p->p.h.code, 0);
	assert_true(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 3);
	free(p);
	assert_int_equal(next_offset(1), 3 + SL_DIDEM_WINDOW);
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.produce_out_of_order, 3);
	assert_int_equal(st.produce_duplicates, 1);
}

static void idem_table_follows_a_rebuild(void **state)
{
	(void)state;
	struct prod *p = produce_as(1, 0, SL_LP_DURABLE, "ok", 1, 9, 0);
	wait_done(&p->done);
	assert_int_equal(p->p.h.code, 0);
	free(p);
	/* Acknowledged applied, then its flush fails: the records are gone. */
	sl_objstore_memory_fail_next(store, SL_OBJ_PUT, 1, SL_ENOSPC);
	struct prod *lost = produce_as(1, 0, SL_LP_APPLIED, "lost", 2, 9, 1);
	wait_done(&lost->done);
	assert_int_equal(lost->p.h.code, 0);
	assert_int_equal(lost->p.first_offset, 1);
	free(lost);
	struct prod *bad = produce_as(1, 0, SL_LP_DURABLE, "bad", 1, 9, 3);
	wait_done(&bad->done);
	assert_int_equal(bad->p.h.code, SL_LP_ERR_STORAGE_FAILED);
	free(bad);
	turns(20);
	/* The table was cut back to the durable end: both retries append, in order. */
	struct prod *again = NULL;
	for (int i = 0; i < 100; i++) {
		again = produce_as(1, 0, SL_LP_DURABLE, "lost", 2, 9, 1);
		wait_done(&again->done);
		if (again->p.h.code != SL_LP_ERR_OVERLOADED)
			break;
		free(again);
		again = NULL;
		turns(10);
	}
	assert_non_null(again);
	assert_int_equal(again->p.h.code, 0);
	assert_false(again->p.duplicate);
	assert_int_equal(again->p.first_offset, 1);
	free(again);
	p = produce_as(1, 0, SL_LP_DURABLE, "bad", 1, 9, 3);
	wait_done(&p->done);
	assert_int_equal(p->p.h.code, 0);
	assert_false(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 3);
	free(p);
	/* The record durable before the failure is still a duplicate. */
	p = produce_as(1, 0, SL_LP_DURABLE, "ok", 1, 9, 0);
	assert_int_equal(p->done, 1);
	assert_true(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 0);
	free(p);
	assert_int_equal(next_offset(0), 4);
}

static void idem_producers_are_bounded(void **state)
{
	(void)state;
	sl_dshard_free(ds);
	struct sl_dshard_config c = config();
	c.max_producers = 2;
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	for (uint64_t pid = 1; pid <= 3; pid++) {
		struct prod *p = produce_as(1, 0, SL_LP_APPLIED, "p", 1, pid, 0);
		wait_done(&p->done);
		assert_int_equal(p->p.h.code, 0);
		free(p);
	}
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.producers_evicted, 1);
	/* Producer 3 is remembered; producer 1 (least recently used) was forgotten: its retry
	 * is a new producer's first request, and appends. */
	struct prod *p = produce_as(1, 0, SL_LP_APPLIED, "p", 1, 3, 0);
	assert_true(p->p.duplicate);
	free(p);
	p = produce_as(1, 0, SL_LP_APPLIED, "p", 1, 1, 0);
	wait_done(&p->done);
	assert_false(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 3);
	free(p);
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.producers_evicted, 2);
}

static void idem_table_survives_a_restart(void **state)
{
	(void)state;
	sl_dshard_free(ds);
	ds = NULL;
	free_log();
	sl_objstore_destroy(store);
	char objs[128];
	snprintf(objs, sizeof(objs), "%s/objects", dir);
	assert_int_equal(mkdir(objs, 0700), 0);
	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_dshard_config c = config();
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	/* Producer 40 writes 8 requests of 2 records (partition 0), producer 41 one request
	 * interleaved, and a plain producer one. */
	for (uint64_t k = 0; k < 8; k++) {
		struct prod *p = produce_as(1, 0, SL_LP_DURABLE, "i", 2, 40, 2 * k);
		struct prod *q = k == 3 ? produce_as(1, 0, SL_LP_DURABLE, "j", 1, 41, 100)
					: produce(1, 0, SL_LP_DURABLE, "plain", 1);
		wait_done(&p->done);
		wait_done(&q->done);
		assert_int_equal(p->p.h.code, 0);
		free(p);
		free(q);
	}
	/* Applied only, never durable: its retry after the crash must append it once. */
	struct prod *lost = produce_as(1, 0, SL_LP_APPLIED, "lost", 1, 40, 16);
	assert_int_equal(lost->p.h.code, 0);
	sl_dshard_free(ds);
	ds = NULL;
	free(lost);
	free_log();
	sl_objstore_destroy(store);

	assert_int_equal(sl_localdir_open(objs, NULL, &store), 0);
	make_log(true);
	struct sl_drecovery *rec;
	assert_int_equal(sl_drecovery_new(streams, &rec), 0);
	list_into(rec);
	events_into(rec);
	assert_int_equal(sl_drecovery_finish(rec), 0);
	c = config();
	c.store = store;
	c.boot = 4;
	assert_int_equal(sl_dshard_new(&c, streams, rec, now, &ds), 0);
	sl_drecovery_free(rec);
	assert_int_equal(next_offset(0), 24);
	/* The last 5 requests of producer 40 (sequences 6 .. 14) are known, with their offsets:
	 * request k went to offset 3k. */
	for (uint64_t k = 3; k < 8; k++) {
		struct prod *p = produce_as(1, 0, SL_LP_DURABLE, "i", 2, 40, 2 * k);
		assert_int_equal(p->done, 1);
		assert_int_equal(p->p.h.code, 0);
		assert_true(p->p.duplicate);
		assert_int_equal(p->p.first_offset, 3 * k);
		free(p);
	}
	/* Older ones are refused as such (the expected sequence is past them). */
	struct prod *p = produce_as(1, 0, SL_LP_DURABLE, "i", 2, 40, 4);
	assert_int_equal(p->p.h.code, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE);
	assert_int_equal(p->p.h.detail, 16);
	free(p);
	p = produce_as(1, 0, SL_LP_DURABLE, "j", 1, 41, 100);
	assert_true(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 11);
	free(p);
	/* The lost request appends, once. */
	p = produce_as(1, 0, SL_LP_DURABLE, "lost", 1, 40, 16);
	wait_done(&p->done);
	assert_int_equal(p->p.h.code, 0);
	assert_false(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 24);
	free(p);
	p = produce_as(1, 0, SL_LP_DURABLE, "lost", 1, 40, 16);
	assert_true(p->p.duplicate);
	assert_int_equal(p->p.first_offset, 24);
	free(p);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(acks_follow_the_durability_asked_for),
		T(durable_producers_share_flushes),
		T(fetches_read_memory_then_wait_for_more),
		T(evicted_records_are_read_from_objects),
		T(a_failed_object_write_fails_only_what_was_not_durable),
		T(a_failed_event_fails_the_flush),
		T(bad_requests_get_codes),
		T(overload_pushes_back),
		T(deleting_a_stream_drops_its_partitions_and_objects),
		T(stop_makes_applied_records_durable),
		T(restart_recovers_every_durable_record),
		T(retention_by_bytes_keeps_at_least_the_limit),
		T(retention_by_age_drops_segments_flushed_before_the_limit),
		T(recovery_applies_retention),
		T(expired_objects_wait_out_the_gc_grace_period),
		T(durable_flushes_of_export_streams_are_handed_over),
		T(idem_retries_append_nothing),
		T(idem_gaps_and_forgotten_retries_are_refused),
		T(idem_table_follows_a_rebuild),
		T(idem_producers_are_bounded),
		T(idem_table_survives_a_restart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
