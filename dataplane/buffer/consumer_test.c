/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acceptance tests of the buffer consumer: C twins of all 30 tests of
 * ../shared/reference/opendata-buffer-consumer.rs (names kept), run against every object-store
 * backend this build has (a store factory per cmocka group), then fault tests: an object deleted
 * under the consumer, a corrupt manifest and batch, injected store errors, two consumers racing.
 */
#include "core/test_common.h"
#include "buffer/batch.h"
#include "buffer/consumer.h"
#include "buffer/gc.h"
#include "buffer/manifest.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"
#if __has_include("drivers/objstore/localdir.h")
#include "drivers/objstore/localdir.h"
#define HAVE_LOCALDIR 1
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define MANIFEST "test/manifest"

/* ---- store factories ---- */

struct factory {
	const char *name;
	struct sl_objstore *(*make)(void);
	void (*destroy)(struct sl_objstore *s);
};

static struct sl_objstore *make_memory(void)
{
	return sl_objstore_memory_new(NULL);
}

static const struct factory memory_factory = {"memory", make_memory, sl_objstore_memory_destroy};

#ifdef HAVE_LOCALDIR
/* localdir under a fresh temporary directory per test, removed afterwards. */
static char localdir_root[64];

static struct sl_objstore *make_localdir(void)
{
	snprintf(localdir_root, sizeof(localdir_root), "/tmp/sl-consumer-test-XXXXXX");
	assert_non_null(mkdtemp(localdir_root));
	struct sl_objstore *s = NULL;
	assert_int_equal(sl_localdir_open(localdir_root, NULL, &s), 0);
	return s;
}

static void destroy_localdir(struct sl_objstore *s)
{
	sl_objstore_destroy(s);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", localdir_root);
	assert_int_equal(system(cmd), 0);
}

static const struct factory localdir_factory = {"localdir", make_localdir, destroy_localdir};
#endif

static const struct factory *factory = &memory_factory;

/* ---- fixture ---- */

static uint64_t now = UINT64_C(1700000000000) * 1000000; /* wall-clock-like fake time */
#define STEP 100000

struct fx {
	struct sl_objstore *store;
	struct sl_manifest *producer; /* opendata's QueueProducer */
	struct sl_consumer *c[3];
	int nc;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->store = factory->make();
	assert_non_null(f->store);
	struct sl_manifest_config mc;
	sl_manifest_config_default(&mc);
	mc.key = MANIFEST;
	f->producer = sl_manifest_new(f->store, &mc);
	assert_non_null(f->producer);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < f->nc; i++)
		sl_consumer_free(f->c[i]);
	sl_manifest_free(f->producer);
	factory->destroy(f->store);
	free(f);
	return 0;
}

static void test_config(struct sl_consumer_config *cfg)
{
	sl_consumer_config_default(cfg);
	cfg->manifest_key = MANIFEST;
	cfg->data_prefix = "ingest";
	cfg->gc_interval_ns = 300ULL * 1000000000ULL;
	cfg->gc_grace_ns = 600ULL * 1000000000ULL;
}

static int crun(struct sl_consumer *c, struct sl_consumer_op *op)
{
	return sl_consumer_run(c, op, &now, STEP);
}

/* The reference's make_collector: a new consumer, opened (fencing any previous one). */
static struct sl_consumer *make_collector(struct fx *f, bool has_last, uint64_t last)
{
	struct sl_consumer_config cfg;
	test_config(&cfg);
	struct sl_consumer *c = sl_consumer_new(f->store, &cfg);
	assert_non_null(c);
	f->c[f->nc++] = c;
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_open(c, &op, has_last, last), 0);
	assert_int_equal(crun(c, &op), 0);
	return c;
}

static void write_batch(struct fx *f, const char *loc)
{
	struct iovec iov[2] = {{(void *)"data1", 5}, {(void *)"data2", 5}};
	struct sl_buf *b = NULL;
	assert_int_equal(sl_batch_encode(SL_BATCH_OPENDATA_V1, SL_BATCH_NONE, 0, iov, 2, NULL, &b),
			 0);
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = loc;
	r.body = b;
	assert_int_equal(sl_objstore_run(f->store, &r), 0);
}

static void delete_object(struct fx *f, const char *loc)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_DELETE;
	r.key = loc;
	assert_int_equal(sl_objstore_run(f->store, &r), 0);
}

static void enqueue_meta(struct fx *f, const char *loc, const struct sl_manifest_meta *m,
			 uint32_t n)
{
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(f->producer, &op, loc, m, n), 0);
	assert_int_equal(sl_manifest_run(f->producer, &op, &now, STEP), 0);
}

static void enqueue(struct fx *f, const char *loc)
{
	enqueue_meta(f, loc, NULL, 0);
}

static void write_and_enqueue(struct fx *f, const char *loc)
{
	write_batch(f, loc);
	enqueue(f, loc);
}

/* enqueue_n: batches/seq-000000 ... */
static void enqueue_n(struct fx *f, int n)
{
	for (int i = 0; i < n; i++) {
		char loc[64];
		snprintf(loc, sizeof(loc), "batches/seq-%06d", i);
		write_and_enqueue(f, loc);
	}
}

/* next_batch: returns the rc; *out holds the batch (has_batch says if there was one). */
static int next_batch(struct sl_consumer *c, struct sl_consumer_op *op)
{
	memset(op, 0, sizeof(*op));
	int rc = sl_consumer_next_batch(c, op);
	return rc ? rc : crun(c, op);
}

/* Expects a batch with the given sequence and location; releases it. */
static void expect_batch(struct sl_consumer *c, uint64_t seq, const char *loc)
{
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_true(op.has_batch);
	assert_int_equal(op.batch.desc->sequence, seq);
	if (loc)
		assert_string_equal(op.batch.desc->location, loc);
	sl_consumed_batch_release(&op.batch);
}

static void expect_none(struct sl_consumer *c)
{
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_false(op.has_batch);
}

static int ack(struct sl_consumer *c, uint64_t seq)
{
	struct sl_consumer_op op = {0};
	int rc = sl_consumer_ack(c, &op, seq);
	return rc ? rc : crun(c, &op);
}

static int ack_through(struct sl_consumer *c, uint64_t seq)
{
	struct sl_consumer_op op = {0};
	int rc = sl_consumer_ack_through(c, &op, seq);
	return rc ? rc : crun(c, &op);
}

static int flush(struct sl_consumer *c)
{
	struct sl_consumer_op op = {0};
	int rc = sl_consumer_flush(c, &op);
	return rc ? rc : crun(c, &op);
}

static int close_c(struct sl_consumer *c)
{
	struct sl_consumer_op op = {0};
	int rc = sl_consumer_close(c, &op);
	return rc ? rc : crun(c, &op);
}

/* next_descriptors into descs; returns rc and stores the count. */
static int next_descs(struct sl_consumer *c, struct sl_buffer_desc **descs, uint32_t max,
		      uint32_t *n)
{
	struct sl_consumer_op op = {0};
	int rc = sl_consumer_next_descriptors(c, &op, descs, max);
	if (rc == 0)
		rc = crun(c, &op);
	*n = op.ndescs;
	return rc;
}

static void free_descs(struct sl_buffer_desc **d, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		sl_buffer_desc_free(d[i]);
}

static bool last_acked(struct sl_consumer *c, uint64_t *seq)
{
	return sl_consumer_last_acked(c, seq);
}

/* ---- C twins of the reference tests ---- */

static void should_collect_enqueued_batch(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/batch-001");
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_true(op.has_batch);
	assert_int_equal(op.batch.batch.count, 2);
	assert_int_equal(op.batch.batch.entries[0].len, 5);
	assert_memory_equal(sl_slice_data(&op.batch.batch.entries[0]), "data1", 5);
	assert_memory_equal(sl_slice_data(&op.batch.batch.entries[1]), "data2", 5);
	assert_string_equal(op.batch.desc->location, "batches/batch-001");
	sl_consumed_batch_release(&op.batch);
}

static void should_collect_metadata_from_queue_entry(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_batch(f, "batches/batch-meta");
	const char *payload = "{\"topic\":\"events\"}";
	struct sl_manifest_meta m = {0, 1700000000000LL, (const uint8_t *)payload,
				     (uint32_t)strlen(payload)};
	enqueue_meta(f, "batches/batch-meta", &m, 1);
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_true(op.has_batch);
	assert_int_equal(op.batch.desc->nmeta, 1);
	assert_int_equal(op.batch.desc->meta[0].start_index, 0);
	assert_int_equal(op.batch.desc->meta[0].ingestion_time_ms, 1700000000000LL);
	assert_int_equal(op.batch.desc->meta[0].payload_len, strlen(payload));
	assert_memory_equal(op.batch.desc->meta[0].payload, payload, strlen(payload));
	sl_consumed_batch_release(&op.batch);
}

static void should_return_none_when_queue_empty(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	expect_none(c);
}

static void should_ack_batch(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/batch-002");
	expect_batch(c, 0, NULL);
	assert_int_equal(ack(c, 0), 0);
	assert_int_equal(flush(c), 0);
	expect_none(c);
	assert_int_equal(sl_consumer_len(c), 0);
}

static void should_next_batch_return_batch_after_last_acked(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	expect_batch(c, 0, "batches/first");
	assert_int_equal(ack(c, 0), 0);
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_string_equal(op.batch.desc->location, "batches/second");
	assert_int_equal(op.batch.desc->sequence, 1);
	assert_int_equal(op.batch.batch.count, 2);
	sl_consumed_batch_release(&op.batch);
}

static void should_next_batch_advance_before_previous_batch_is_acked(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	expect_batch(c, 0, "batches/first");
	expect_batch(c, 1, "batches/second");
}

static void should_next_batch_return_none_when_no_more_entries(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	expect_batch(c, 0, NULL);
	assert_int_equal(ack(c, 0), 0);
	expect_none(c);
}

static void should_resume_from_last_acked_sequence(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, true, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	expect_batch(c, 1, "batches/second");
}

static void should_reject_out_of_order_ack(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	expect_batch(c, 0, NULL);
	assert_int_equal(ack(c, 0), 0);
	assert_int_equal(ack(c, 5), SL_EINVAL);
	uint64_t seq;
	assert_true(last_acked(c, &seq));
	assert_int_equal(seq, 0);
}

static void should_batch_dequeue_calls(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	const int count = SL_CONSUMER_DEQUEUE_INTERVAL + 1;
	for (int i = 0; i < count; i++) {
		char loc[64];
		snprintf(loc, sizeof(loc), "batches/batch-%04d", i);
		write_and_enqueue(f, loc);
	}
	for (int i = 0; i < count; i++) {
		expect_batch(c, (uint64_t)i, NULL);
		assert_int_equal(ack(c, (uint64_t)i), 0);
	}
	/* The 100th ack dequeued 0..99; the 101st is acked but not yet dequeued. */
	assert_int_equal(sl_consumer_len(c), 1);
	assert_int_equal(flush(c), 0);
	expect_none(c);
}

static void should_flush_pending_acks(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	expect_batch(c, 0, NULL);
	assert_int_equal(ack(c, 0), 0);
	assert_int_equal(sl_consumer_len(c), 2);
	assert_int_equal(flush(c), 0);
	assert_int_equal(sl_consumer_len(c), 1);
}

static void should_close_flush_and_consume(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	expect_batch(c, 0, NULL);
	assert_int_equal(ack(c, 0), 0);
	assert_int_equal(close_c(c), 0);
	/* A closed consumer refuses further operations. */
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_next_batch(c, &op), SL_ECLOSED);
	struct sl_consumer *c2 = make_collector(f, false, 0);
	expect_none(c2);
}

static void should_fence_previous_collector(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c1 = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	make_collector(f, false, 0);
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c1, &op), SL_EFENCED);
	assert_false(op.has_batch);
}

static void should_iterate_multiple_sequential_batches(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	const char *locs[] = {"batches/a", "batches/b", "batches/c"};
	for (int i = 0; i < 3; i++)
		write_and_enqueue(f, locs[i]);
	for (int i = 0; i < 3; i++) {
		expect_batch(c, (uint64_t)i, locs[i]);
		assert_int_equal(ack(c, (uint64_t)i), 0);
	}
	expect_none(c);
}

static void should_initialize_none_with_pre_existing_entries(void **state)
{
	struct fx *f = *state;
	make_collector(f, false, 0);
	for (int i = 0; i < 5; i++) {
		char loc[64];
		snprintf(loc, sizeof(loc), "batches/placeholder-%d", i);
		write_and_enqueue(f, loc);
	}
	struct sl_consumer *tmp = make_collector(f, false, 0);
	for (int i = 0; i < 5; i++) {
		expect_batch(tmp, (uint64_t)i, NULL);
		assert_int_equal(ack(tmp, (uint64_t)i), 0);
	}
	assert_int_equal(close_c(tmp), 0);
	write_and_enqueue(f, "batches/pre-existing");
	struct sl_consumer *c = make_collector(f, false, 0);
	expect_batch(c, 5, "batches/pre-existing");
}

static void should_initialize_with_sequence_dequeue_already_processed(void **state)
{
	struct fx *f = *state;
	make_collector(f, false, 0);
	write_and_enqueue(f, "batches/first");
	write_and_enqueue(f, "batches/second");
	struct sl_consumer *c = make_collector(f, true, 0);
	assert_int_equal(sl_consumer_len(c), 1);
	expect_batch(c, 1, "batches/second");
}

static void should_next_descriptors_max_zero_return_empty_without_manifest_read(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 3);
	struct sl_manifest_stats before, after;
	sl_manifest_stats(sl_consumer_manifest(c), &before);
	struct sl_buffer_desc *d[10];
	uint32_t n = 99;
	assert_int_equal(next_descs(c, d, 0, &n), 0);
	assert_int_equal(n, 0);
	sl_manifest_stats(sl_consumer_manifest(c), &after);
	assert_int_equal(after.reads, before.reads);
	assert_false(sl_consumer_last_handed_out(c, NULL));
	assert_int_equal(next_descs(c, d, 10, &n), 0);
	assert_int_equal(n, 3);
	free_descs(d, n);
}

static void should_next_descriptors_return_contiguous_run_when_available(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 5);
	struct sl_buffer_desc *d[10];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 3, &n), 0);
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(d[i]->sequence, i);
	free_descs(d, n);
	assert_int_equal(next_descs(c, d, 10, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(d[0]->sequence, 3);
	assert_int_equal(d[1]->sequence, 4);
	free_descs(d, n);
	assert_int_equal(next_descs(c, d, 10, &n), 0);
	assert_int_equal(n, 0);
}

static void should_next_descriptors_return_fewer_than_max_on_short_manifest(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 2);
	struct sl_buffer_desc *d[10];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 10, &n), 0);
	assert_int_equal(n, 2);
	free_descs(d, n);
}

static void same_batch(const struct sl_consumed_batch *a, const struct sl_consumed_batch *b)
{
	assert_int_equal(a->desc->sequence, b->desc->sequence);
	assert_string_equal(a->desc->location, b->desc->location);
	assert_int_equal(a->desc->nmeta, b->desc->nmeta);
	for (uint32_t i = 0; i < a->desc->nmeta; i++) {
		assert_int_equal(a->desc->meta[i].start_index, b->desc->meta[i].start_index);
		assert_int_equal(a->desc->meta[i].ingestion_time_ms,
				 b->desc->meta[i].ingestion_time_ms);
		assert_int_equal(a->desc->meta[i].payload_len, b->desc->meta[i].payload_len);
		assert_memory_equal(a->desc->meta[i].payload, b->desc->meta[i].payload,
				    a->desc->meta[i].payload_len);
	}
	assert_int_equal(a->batch.count, b->batch.count);
	for (uint32_t i = 0; i < a->batch.count; i++) {
		assert_int_equal(a->batch.entries[i].len, b->batch.entries[i].len);
		assert_memory_equal(sl_slice_data(&a->batch.entries[i]),
				    sl_slice_data(&b->batch.entries[i]), a->batch.entries[i].len);
	}
}

static void should_fetch_handle_return_same_consumed_batch_as_fetch_descriptor(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	const char *loc = "batches/handle-vs-wrapper";
	write_batch(f, loc);
	struct sl_manifest_meta m = {0, 1700000000000LL, (const uint8_t *)"{\"k\":\"v\"}", 9};
	enqueue_meta(f, loc, &m, 1);
	struct sl_buffer_desc *d[1];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 1, &n), 0);
	assert_int_equal(n, 1);

	struct sl_fetch_handle h;
	sl_consumer_fetch_handle(c, &h);
	struct sl_fetch_op fop = {0};
	assert_int_equal(sl_fetch_start(&h, &fop, d[0]), 0);
	assert_int_equal(sl_fetch_run(&h, &fop, &now, STEP), 0);

	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_fetch(c, &op, d[0]), 0);
	assert_int_equal(crun(c, &op), 0);
	assert_true(op.has_batch);
	same_batch(&fop.out, &op.batch);
	assert_string_equal(fop.out.desc->location, loc);
	assert_int_equal(fop.out.batch.count, 2);
	assert_int_equal(fop.out.desc->nmeta, 1);
	assert_memory_equal(fop.out.desc->meta[0].payload, "{\"k\":\"v\"}", 9);
	/* Only the wrapper moves the last-fetched cursor. */
	uint64_t seq;
	assert_true(sl_consumer_last_fetched(c, &seq));
	assert_int_equal(seq, 0);
	sl_consumed_batch_release(&fop.out);
	sl_consumed_batch_release(&op.batch);
	free_descs(d, n);
}

static void should_next_batch_not_advance_cursor_on_fetch_failure(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/a-fails-then-succeeds");
	write_and_enqueue(f, "batches/b");
	delete_object(f, "batches/a-fails-then-succeeds");
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), SL_ENOTFOUND);
	assert_false(op.has_batch);
	assert_false(sl_consumer_last_handed_out(c, NULL));
	write_batch(f, "batches/a-fails-then-succeeds");
	expect_batch(c, 0, "batches/a-fails-then-succeeds");
	assert_int_equal(ack(c, 0), 0);
	expect_batch(c, 1, "batches/b");
}

static void should_next_batch_not_advance_cursor_when_future_is_dropped(void **state)
{
	/* C has no futures to drop; the twin is cancelling a next_batch in flight. */
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/cancel-a");
	assert_false(sl_consumer_last_handed_out(c, NULL));
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_next_batch(c, &op), 0);
	assert_false(sl_consumer_last_handed_out(c, NULL));
	/* Let the manifest read finish so the fetch is in flight, then cancel. */
	sl_objstore_poll(f->store, now);
	sl_consumer_poll(c, now);
	assert_int_equal(sl_consumer_cancel(c, &op), 0);
	assert_int_equal(crun(c, &op), SL_ECANCEL);
	assert_false(op.has_batch);
	assert_false(sl_consumer_last_handed_out(c, NULL));
	expect_batch(c, 0, "batches/cancel-a");
	uint64_t seq;
	assert_true(sl_consumer_last_handed_out(c, &seq));
	assert_int_equal(seq, 0);
}

static void should_next_batch_advance_cursor_on_successful_fetch(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/ok-a");
	write_and_enqueue(f, "batches/ok-b");
	assert_false(sl_consumer_last_handed_out(c, NULL));
	uint64_t seq;
	expect_batch(c, 0, NULL);
	assert_true(sl_consumer_last_handed_out(c, &seq));
	assert_int_equal(seq, 0);
	expect_batch(c, 1, NULL);
	assert_true(sl_consumer_last_handed_out(c, &seq));
	assert_int_equal(seq, 1);
}

static void should_fetch_handle_clones_fetch_concurrently_without_blocking_owner(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 4);
	struct sl_buffer_desc *d[4];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 4, &n), 0);
	assert_int_equal(n, 4);
	/* Two copies of the handle, both fetches in flight at once. */
	struct sl_fetch_handle h, h1, h2;
	sl_consumer_fetch_handle(c, &h);
	h1 = h;
	h2 = h;
	struct sl_fetch_op f1 = {0}, f2 = {0};
	assert_int_equal(sl_fetch_start(&h1, &f1, d[0]), 0);
	assert_int_equal(sl_fetch_start(&h2, &f2, d[1]), 0);
	assert_true(f1.busy_ && f2.busy_);
	assert_int_equal(sl_fetch_run(&h1, &f1, &now, STEP), 0);
	assert_int_equal(sl_fetch_run(&h2, &f2, &now, STEP), 0);
	assert_int_equal(f1.out.desc->sequence, 0);
	assert_int_equal(f2.out.desc->sequence, 1);
	sl_consumed_batch_release(&f1.out);
	sl_consumed_batch_release(&f2.out);
	/* The owner still drives the manifest. */
	assert_int_equal(ack_through(c, 1), 0);
	free_descs(d, n);
}

static void should_ack_through_advance_frontier_in_one_call(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 5);
	struct sl_buffer_desc *d[5];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 5, &n), 0);
	free_descs(d, n);
	assert_int_equal(ack_through(c, 3), 0);
	assert_int_equal(sl_consumer_len(c), 1);
	struct sl_consumer_stats st;
	sl_consumer_stats(c, &st);
	assert_int_equal(st.acks, 4);
}

static void should_ack_through_reject_non_monotonic_input(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 5);
	struct sl_buffer_desc *d[5];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 5, &n), 0);
	free_descs(d, n);
	assert_int_equal(ack_through(c, 2), 0);
	assert_int_equal(ack_through(c, 2), SL_EINVAL);
	uint64_t seq;
	assert_true(last_acked(c, &seq));
	assert_int_equal(seq, 2);
}

static void should_ack_through_leave_state_unchanged_on_fence(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c1 = make_collector(f, false, 0);
	enqueue_n(f, 5);
	struct sl_buffer_desc *d[5];
	uint32_t n;
	assert_int_equal(next_descs(c1, d, 5, &n), 0);
	free_descs(d, n);
	assert_int_equal(ack_through(c1, 0), 0);
	uint64_t seq;
	assert_true(last_acked(c1, &seq));
	assert_int_equal(seq, 0);
	make_collector(f, false, 0);
	assert_int_equal(ack_through(c1, 2), SL_EFENCED);
	assert_true(last_acked(c1, &seq));
	assert_int_equal(seq, 0);
}

static void should_next_descriptors_surface_fence(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c1 = make_collector(f, false, 0);
	enqueue_n(f, 3);
	make_collector(f, false, 0);
	struct sl_buffer_desc *d[10];
	uint32_t n;
	assert_int_equal(next_descs(c1, d, 10, &n), SL_EFENCED);
	assert_int_equal(n, 0);
}

static void should_next_batch_be_equivalent_to_descriptor_plus_fetch(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	write_and_enqueue(f, "batches/equiv");
	struct sl_consumer_op op;
	assert_int_equal(next_batch(c, &op), 0);
	assert_int_equal(op.batch.desc->sequence, 0);
	assert_string_equal(op.batch.desc->location, "batches/equiv");
	assert_int_equal(op.batch.batch.count, 2);

	/* And a second consumer taking the descriptor + fetch path gets the same batch. */
	struct sl_consumer *c2 = make_collector(f, false, 0);
	struct sl_buffer_desc *d[1];
	uint32_t n;
	assert_int_equal(next_descs(c2, d, 1, &n), 0);
	struct sl_consumer_op fop = {0};
	assert_int_equal(sl_consumer_fetch(c2, &fop, d[0]), 0);
	assert_int_equal(crun(c2, &fop), 0);
	same_batch(&op.batch, &fop.batch);
	sl_consumed_batch_release(&fop.batch);
	sl_consumed_batch_release(&op.batch);
	free_descs(d, n);
}

static void should_descriptor_handout_contract_not_reissue_lost_descriptors(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 3);
	struct sl_buffer_desc *d[10];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 2, &n), 0);
	assert_int_equal(n, 2);
	free_descs(d, n); /* "lost" */
	assert_int_equal(next_descs(c, d, 10, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(d[0]->sequence, 2);
	free_descs(d, n);
	assert_int_equal(close_c(c), 0);
	struct sl_consumer *r = make_collector(f, false, 0);
	assert_int_equal(next_descs(r, d, 10, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(d[0]->sequence, 0);
	free_descs(d, n);
}

/* ---- fault tests ---- */

static void fault_object_deleted_under_descriptor(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 2);
	struct sl_buffer_desc *d[2];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 2, &n), 0);
	delete_object(f, "batches/seq-000000");
	struct sl_fetch_handle h;
	sl_consumer_fetch_handle(c, &h);
	struct sl_fetch_op fop = {0};
	assert_int_equal(sl_fetch_start(&h, &fop, d[0]), 0);
	assert_int_equal(sl_fetch_run(&h, &fop, &now, STEP), SL_ENOTFOUND);
	assert_null(fop.out.desc);
	assert_int_equal(sl_fetch_start(&h, &fop, d[1]), 0);
	assert_int_equal(sl_fetch_run(&h, &fop, &now, STEP), 0);
	sl_consumed_batch_release(&fop.out);
	free_descs(d, n);
}

static void fault_corrupt_batch_and_manifest(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = make_collector(f, false, 0);
	/* A batch object that is not a batch. */
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = "batches/bad";
	r.body = sl_buf_from("\x05\x00\x00\x00xy", 6);
	assert_int_equal(sl_objstore_run(f->store, &r), 0);
	enqueue(f, "batches/bad");
	struct sl_consumer_op op;
	int rc = next_batch(c, &op);
	assert_true(rc == SL_ETRUNC || rc == SL_ECORRUPT);
	assert_false(sl_consumer_last_handed_out(c, NULL));

	/* A truncated manifest is reported by name, and nothing moves. */
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_PUT;
	r.key = MANIFEST;
	r.body = sl_buf_from("\x01\x00\x00", 3);
	assert_int_equal(sl_objstore_run(f->store, &r), 0);
	assert_int_equal(next_batch(c, &op), SL_ETRUNC);
	struct sl_buffer_desc *d[2];
	uint32_t n;
	assert_int_equal(next_descs(c, d, 2, &n), SL_ETRUNC);
	assert_false(sl_consumer_last_handed_out(c, NULL));
}

static void fault_injected_errors_leave_cursors(void **state)
{
	struct fx *f = *state;
	if (!sl_objstore_is_memory(f->store))
		skip();
	struct sl_consumer *c = make_collector(f, false, 0);
	enqueue_n(f, 3);
	struct sl_buffer_desc *d[3];
	uint32_t n;
	sl_objstore_memory_fail_next(f->store, SL_OBJ_GET, 1, SL_EIO);
	assert_int_equal(next_descs(c, d, 3, &n), SL_EIO);
	assert_false(sl_consumer_last_handed_out(c, NULL));
	assert_int_equal(next_descs(c, d, 3, &n), 0);
	free_descs(d, n);
	/* ack_through with a failing put: frontier unchanged, retry works. */
	sl_objstore_memory_fail_next(f->store, SL_OBJ_PUT, 1, SL_EIO);
	assert_int_equal(ack_through(c, 1), SL_EIO);
	assert_false(last_acked(c, NULL));
	assert_int_equal(sl_consumer_len(c), 3);
	assert_int_equal(ack_through(c, 1), 0);
	assert_int_equal(sl_consumer_len(c), 1);
	/* A conflict on the dequeue is retried transparently. */
	sl_objstore_memory_force_precond(f->store, 2);
	assert_int_equal(ack_through(c, 2), 0);
	assert_int_equal(sl_consumer_len(c), 0);
	assert_true(sl_consumer_conflict_rate(c) > 0.0);
}

/* Two consumers open at the same moment: both fences race on the manifest; exactly one ends up
 * owning the epoch, and the other is fenced on its next operation. */
static void fault_two_consumers_race(void **state)
{
	struct fx *f = *state;
	enqueue_n(f, 2);
	struct sl_consumer_config cfg;
	test_config(&cfg);
	cfg.manifest.seed = 1;
	struct sl_consumer *a = sl_consumer_new(f->store, &cfg);
	cfg.manifest.seed = 2;
	struct sl_consumer *b = sl_consumer_new(f->store, &cfg);
	f->c[f->nc++] = a;
	f->c[f->nc++] = b;
	struct sl_consumer_op oa = {0}, ob = {0};
	assert_int_equal(sl_consumer_open(a, &oa, false, 0), 0);
	assert_int_equal(sl_consumer_open(b, &ob, false, 0), 0);
	while (oa.state_ != 0 || ob.state_ != 0) {
		sl_objstore_poll(f->store, now);
		sl_consumer_poll(a, now);
		sl_consumer_poll(b, now);
		now += STEP;
	}
	assert_int_equal(oa.result, 0);
	assert_int_equal(ob.result, 0);
	/* Both read epoch 0 first, so one of the two conflicted and fenced after the other. */
	uint64_t ea = sl_manifest_epoch(sl_consumer_manifest(a));
	uint64_t eb = sl_manifest_epoch(sl_consumer_manifest(b));
	assert_int_not_equal(ea, eb);
	struct sl_consumer *winner = ea > eb ? a : b, *loser = ea > eb ? b : a;
	expect_batch(winner, 0, NULL);
	struct sl_consumer_op op;
	assert_int_equal(next_batch(loser, &op), SL_EFENCED);
	assert_int_equal(ack_through(loser, 0), SL_EFENCED);
	assert_int_equal(ack_through(winner, 0), 0);
}

static void busy_and_closed_states(void **state)
{
	struct fx *f = *state;
	struct sl_consumer_config cfg;
	test_config(&cfg);
	struct sl_consumer *c = sl_consumer_new(f->store, &cfg);
	f->c[f->nc++] = c;
	struct sl_consumer_op op = {0}, op2 = {0};
	/* Not open yet. */
	assert_int_equal(sl_consumer_next_batch(c, &op), SL_ECLOSED);
	assert_int_equal(sl_consumer_open(c, &op, false, 0), 0);
	assert_int_equal(sl_consumer_flush(c, &op2), SL_EBUSY);
	assert_int_equal(crun(c, &op), 0);
	assert_int_equal(sl_consumer_open(c, &op, false, 0), SL_ECLOSED);
	/* Done is never called from inside a start: the flush completes at the next poll. */
	assert_int_equal(sl_consumer_flush(c, &op2), 0);
	assert_int_equal(op2.state_, 5);
	assert_int_equal(crun(c, &op2), 0);
}

/* A consumer whose GC runs every second, opened at now. */
static struct sl_consumer *gc_consumer(struct fx *f, uint64_t interval_ns)
{
	struct sl_consumer_config cfg;
	test_config(&cfg);
	cfg.gc_interval_ns = interval_ns;
	cfg.gc_grace_ns = 1;
	struct sl_consumer *c = sl_consumer_new(f->store, &cfg);
	assert_non_null(c);
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_open(c, &op, false, 0), 0);
	assert_int_equal(crun(c, &op), 0);
	return c;
}

/*
 * Review fix: freeing a consumer while its GC cycle waited on the store left the store holding
 * a request inside freed memory; completing it wrote there (ASan: heap-use-after-free before
 * the fix). The consumer is not in f->c: it is freed here.
 */
static void free_while_gc_cycle_in_flight(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = gc_consumer(f, 1000000000ULL);
	sl_consumer_poll(c, now); /* schedules the first cycle */
	sl_objstore_memory_hold_until(f->store, UINT64_MAX);
	now += 2000000000ULL;
	sl_consumer_poll(c, now);
	assert_true(sl_gc_running(sl_consumer_gc(c)));
	sl_consumer_free(c);
	sl_objstore_memory_hold_until(f->store, 0);
	for (int i = 0; i < 10; i++)
		sl_objstore_poll(f->store, now += STEP);
	/* The store still works for everyone else. */
	write_batch(f, "ingest/after");
}

/*
 * Review fix: with a GC interval shorter than a cycle, every poll while close waited for the
 * running cycle could start the next one, and close never completed (before the fix the loop
 * below ran out of steps with several cycles counted).
 */
static void close_starts_no_new_gc_cycle(void **state)
{
	struct fx *f = *state;
	struct sl_consumer *c = gc_consumer(f, 1000000ULL); /* every ms */
	f->c[f->nc++] = c;
	sl_consumer_poll(c, now);
	sl_objstore_memory_delay(f->store, 0, 5000000ULL); /* each request takes 5 ms */
	now += 2000000ULL;
	sl_consumer_poll(c, now);
	assert_true(sl_gc_running(sl_consumer_gc(c)));
	struct sl_consumer_op op = {0};
	assert_int_equal(sl_consumer_close(c, &op), 0);
	int steps = 0;
	while (op.state_ != 0 && steps++ < 2000) {
		now += STEP;
		sl_objstore_poll(f->store, now);
		sl_consumer_poll(c, now);
	}
	assert_int_equal(op.state_, 0);
	assert_int_equal(op.result, 0);
	struct sl_gc_stats gs;
	sl_gc_stats(sl_consumer_gc(c), &gs);
	assert_int_equal(gs.cycles + gs.cycles_failed, 1);
	assert_false(sl_gc_running(sl_consumer_gc(c)));
	sl_objstore_memory_delay(f->store, 0, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* Tests that need the memory store's fault injection. */
static const struct CMUnitTest memory_tests[] = {
	T(free_while_gc_cycle_in_flight),
	T(close_starts_no_new_gc_cycle),
};

static const struct CMUnitTest tests[] = {
	T(should_collect_enqueued_batch),
	T(should_collect_metadata_from_queue_entry),
	T(should_return_none_when_queue_empty),
	T(should_ack_batch),
	T(should_next_batch_return_batch_after_last_acked),
	T(should_next_batch_advance_before_previous_batch_is_acked),
	T(should_next_batch_return_none_when_no_more_entries),
	T(should_resume_from_last_acked_sequence),
	T(should_reject_out_of_order_ack),
	T(should_batch_dequeue_calls),
	T(should_flush_pending_acks),
	T(should_close_flush_and_consume),
	T(should_fence_previous_collector),
	T(should_iterate_multiple_sequential_batches),
	T(should_initialize_none_with_pre_existing_entries),
	T(should_initialize_with_sequence_dequeue_already_processed),
	T(should_next_descriptors_max_zero_return_empty_without_manifest_read),
	T(should_next_descriptors_return_contiguous_run_when_available),
	T(should_next_descriptors_return_fewer_than_max_on_short_manifest),
	T(should_fetch_handle_return_same_consumed_batch_as_fetch_descriptor),
	T(should_next_batch_not_advance_cursor_on_fetch_failure),
	T(should_next_batch_not_advance_cursor_when_future_is_dropped),
	T(should_next_batch_advance_cursor_on_successful_fetch),
	T(should_fetch_handle_clones_fetch_concurrently_without_blocking_owner),
	T(should_ack_through_advance_frontier_in_one_call),
	T(should_ack_through_reject_non_monotonic_input),
	T(should_ack_through_leave_state_unchanged_on_fence),
	T(should_next_descriptors_surface_fence),
	T(should_next_batch_be_equivalent_to_descriptor_plus_fetch),
	T(should_descriptor_handout_contract_not_reissue_lost_descriptors),
	T(fault_object_deleted_under_descriptor),
	T(fault_corrupt_batch_and_manifest),
	T(fault_injected_errors_leave_cursors),
	T(fault_two_consumers_race),
	T(busy_and_closed_states),
};

int main(void)
{
	int failed = 0;
	factory = &memory_factory;
	failed += _cmocka_run_group_tests("consumer/memory", tests,
					  sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	failed +=
		_cmocka_run_group_tests("consumer/memory-faults", memory_tests,
					sizeof(memory_tests) / sizeof(memory_tests[0]), NULL, NULL);
#ifdef HAVE_LOCALDIR
	factory = &localdir_factory;
	failed += _cmocka_run_group_tests("consumer/localdir", tests,
					  sizeof(tests) / sizeof(tests[0]), NULL, NULL);
#endif
	return failed;
}
