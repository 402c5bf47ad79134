/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acceptance tests for the metadata event log. The first group are C twins of every test in
 * ../shared/reference/crabka-metadata-event-log.rs (names kept); the rest cover bad input,
 * waiters, the store interface (pending, durable, failure, recovery), close and free.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "log/metalog.h"

#include <stdio.h>
#include <string.h>

static struct sl_metalog *new_log(uint32_t partitions)
{
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = partitions;
	struct sl_metalog *log;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	return log;
}

static struct sl_slice bytes_of(const void *p, size_t n)
{
	struct sl_buf *b = sl_buf_from(p, n);
	assert_non_null(b);
	return sl_slice_of(b);
}

static struct sl_slice str(const char *s)
{
	return bytes_of(s, strlen(s));
}

/* Publishes to an in-memory log, which must complete at once, and returns the offset. */
static int64_t publish(struct sl_metalog *log, int32_t partition, const char *s)
{
	int64_t off = -1;
	assert_int_equal(sl_metalog_publish(log, partition, str(s), NULL, &off), 0);
	return off;
}

/* The subscription's next record, which must be ready now (the reference's stream.next()). */
static struct sl_metalog_record next(struct sl_metalog_sub *s)
{
	struct sl_metalog_record r;
	assert_int_equal(sl_metalog_sub_poll(s, NULL, &r), 0);
	return r;
}

static void assert_payload(const struct sl_metalog_record *r, const char *s)
{
	assert_int_equal(r->payload.len, strlen(s));
	assert_memory_equal(sl_slice_data(&r->payload), s, strlen(s));
}

static void assert_empty(struct sl_metalog_sub *s)
{
	struct sl_metalog_record r;
	assert_int_equal(sl_metalog_sub_poll(s, NULL, &r), SL_EAGAIN);
}

static struct sl_metalog_sub *subscribe1(struct sl_metalog *log, int32_t p, int64_t start)
{
	struct sl_metalog_start a = {p, start};
	struct sl_metalog_sub *s;
	assert_int_equal(sl_metalog_subscribe(log, &a, 1, &s), 0);
	return s;
}

static uint32_t live_subscriptions(struct sl_metalog *log)
{
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	return st.subscriptions;
}

/* ---- C twins of the reference tests ---- */

static void publish_assigns_monotonic_offsets(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	assert_int_equal(publish(log, 0, "a"), 0);
	assert_int_equal(publish(log, 0, "b"), 1);
	assert_int_equal(publish(log, 1, "c"), 0);
	int64_t hwms[2];
	assert_int_equal(sl_metalog_high_water_marks(log, hwms, 2), 0);
	assert_int_equal(hwms[0], 2);
	assert_int_equal(hwms[1], 1);
	sl_metalog_free(log);
}

static void subscribe_replays_history_then_forwards_new_writes(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	publish(log, 0, "a");
	publish(log, 0, "b");
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_metalog_record a = next(s), b = next(s);
	assert_payload(&a, "a");
	assert_payload(&b, "b");
	assert_empty(s);
	publish(log, 0, "c");
	struct sl_metalog_record c = next(s);
	assert_payload(&c, "c");
	assert_int_equal(c.partition, 0);
	assert_int_equal(c.offset, 2);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void subscribe_attached_after_history_still_sees_history(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	for (unsigned char i = 0; i < 5; i++)
		assert_int_equal(sl_metalog_publish(log, 0, bytes_of(&i, 1), NULL, NULL), 0);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	for (unsigned char i = 0; i < 5; i++) {
		struct sl_metalog_record r = next(s);
		assert_int_equal(r.payload.len, 1);
		assert_int_equal(sl_slice_data(&r.payload)[0], i);
		assert_int_equal(r.offset, i);
	}
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void publish_out_of_range_is_rejected(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	int64_t off = 77;
	struct sl_buf *b = sl_buf_from("x", 1);
	sl_buf_ref(b); /* keep one to prove the log released its reference on error */
	assert_int_equal(sl_metalog_publish(log, 5, sl_slice_of(b), NULL, &off), SL_EINVAL);
	assert_int_equal(off, 77);
	assert_int_equal(sl_buf_refcnt(b), 1);
	sl_buf_unref(b);
	int64_t hwm;
	assert_int_equal(sl_metalog_high_water_mark(log, 1, &hwm), 0);
	assert_int_equal(hwm, 0);
	sl_metalog_free(log);
}

static void two_subscribers_see_the_same_history(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	publish(log, 0, "a");
	struct sl_metalog_sub *s1 = subscribe1(log, 0, 0);
	struct sl_metalog_sub *s2 = subscribe1(log, 0, 0);
	publish(log, 0, "b");
	struct sl_metalog_sub *subs[2] = {s1, s2};
	for (int i = 0; i < 2; i++) {
		struct sl_metalog_record a = next(subs[i]), b = next(subs[i]);
		assert_payload(&a, "a");
		assert_payload(&b, "b");
		/* The payload is shared, not copied: both see the same buffer. */
		assert_int_equal(b.offset, 1);
	}
	sl_metalog_unsubscribe(s1);
	sl_metalog_unsubscribe(s2);
	sl_metalog_free(log);
}

static void subscribe_delivers_only_assigned_partitions_from_start_offset(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(3);
	publish(log, 0, "a");
	publish(log, 0, "b");
	publish(log, 0, "c");
	publish(log, 1, "x");
	publish(log, 1, "y");
	publish(log, 2, "z");

	/* Partition 0 from offset 1, partition 1 from 0; partition 2 is not assigned. */
	struct sl_metalog_start a[2] = {{0, 1}, {1, 0}};
	struct sl_metalog_sub *s;
	assert_int_equal(sl_metalog_subscribe(log, a, 2, &s), 0);

	/* Collect everything, then check it as a set plus per-partition order: only
	 * per-partition order is promised. */
	struct sl_metalog_record got[4];
	for (int i = 0; i < 4; i++)
		got[i] = next(s);
	assert_empty(s);
	const char *want[2][3] = {{NULL, "b", "c"}, {"x", "y", NULL}};
	int64_t last[2] = {-1, -1};
	int count[2] = {0, 0};
	for (int i = 0; i < 4; i++) {
		int32_t p = got[i].partition;
		assert_true(p == 0 || p == 1);
		assert_true(got[i].offset > last[p]);
		last[p] = got[i].offset;
		count[p]++;
		assert_non_null(want[p][got[i].offset]);
		assert_payload(&got[i], want[p][got[i].offset]);
	}
	assert_int_equal(count[0], 2);
	assert_int_equal(count[1], 2);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void live_appends_only_for_assigned_partitions(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	publish(log, 1, "skip");
	publish(log, 0, "keep");
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.partition, 0);
	assert_payload(&r, "keep");
	assert_empty(s);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void add_mid_stream_delivers_backlog_then_live(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	publish(log, 1, "old0");
	publish(log, 1, "old1");
	publish(log, 1, "old2");
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	/* The ordering trap: add, then publish live before draining any backlog. The live record
	 * must still come after all three backlog records. */
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){1, 0}), 0);
	publish(log, 1, "new");
	const char *want[4] = {"old0", "old1", "old2", "new"};
	for (int i = 0; i < 4; i++) {
		struct sl_metalog_record r = next(s);
		assert_int_equal(r.partition, 1);
		assert_int_equal(r.offset, i);
		assert_payload(&r, want[i]);
	}
	assert_empty(s);
	int32_t parts[2];
	size_t n;
	assert_int_equal(sl_metalog_sub_assigned(s, parts, 2, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(parts[1], 1);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void dropping_handle_evicts_subscription_state(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	assert_int_equal(live_subscriptions(log), 1);
	/* A subscription that waits holds a waiter on the partition; dropping it must disarm it
	 * (ASan would catch a later wake through freed memory). */
	struct sl_waiter w;
	sl_waiter_init(&w, NULL);
	struct sl_metalog_record r;
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EAGAIN);
	assert_true(sl_waiter_armed(&w));
	sl_metalog_unsubscribe(s);
	assert_false(sl_waiter_armed(&w));
	assert_int_equal(live_subscriptions(log), 0);
	publish(log, 0, "after");
	sl_metalog_free(log);
}

static void remove_stops_delivery(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	struct sl_metalog_start a[2] = {{0, 0}, {1, 0}};
	struct sl_metalog_sub *s;
	assert_int_equal(sl_metalog_subscribe(log, a, 2, &s), 0);
	assert_int_equal(sl_metalog_sub_remove(s, 1), 0);
	int32_t parts[2];
	size_t n;
	assert_int_equal(sl_metalog_sub_assigned(s, parts, 2, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(parts[0], 0);
	publish(log, 1, "gone");
	publish(log, 0, "here");
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.partition, 0);
	assert_payload(&r, "here");
	assert_empty(s);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

/* ---- shardline additions ---- */

static void bad_inputs_are_rejected(void **state)
{
	(void)state;
	struct sl_metalog_config cfg;
	struct sl_metalog *log;
	sl_metalog_config_default(&cfg);
	cfg.partitions = 0;
	assert_int_equal(sl_metalog_new(&cfg, &log), SL_EINVAL);
	cfg.partitions = SL_METALOG_MAX_PARTITIONS + 1;
	assert_int_equal(sl_metalog_new(&cfg, &log), SL_EINVAL);
	struct sl_metalog_store_ops half = {NULL, NULL, NULL};
	cfg.partitions = 1;
	cfg.store = &half;
	assert_int_equal(sl_metalog_new(&cfg, &log), SL_EINVAL);
	assert_int_equal(sl_metalog_new(NULL, NULL), SL_EINVAL);

	log = new_log(2);
	assert_int_equal(sl_metalog_publish(log, -1, str("x"), NULL, NULL), SL_EINVAL);
	assert_int_equal(sl_metalog_publish(log, 2, str("x"), NULL, NULL), SL_EINVAL);
	struct sl_slice none = {NULL, 0, 0};
	assert_int_equal(sl_metalog_publish(log, 0, none, NULL, NULL), SL_EINVAL);
	int64_t hwm, hwms[1];
	assert_int_equal(sl_metalog_high_water_mark(log, 2, &hwm), SL_EINVAL);
	assert_int_equal(sl_metalog_high_water_mark(log, -1, &hwm), SL_EINVAL);
	assert_int_equal(sl_metalog_high_water_marks(log, hwms, 1), SL_EINVAL);
	assert_int_equal(sl_metalog_recover(log), SL_ENOTSUP);

	struct sl_metalog_sub *s = (struct sl_metalog_sub *)0x1;
	struct sl_metalog_start neg = {0, -1}, out = {2, 0}, minus = {-1, 0};
	assert_int_equal(sl_metalog_subscribe(log, &neg, 1, &s), SL_EINVAL);
	assert_int_equal(sl_metalog_subscribe(log, &out, 1, &s), SL_EINVAL);
	assert_int_equal(sl_metalog_subscribe(log, &minus, 1, &s), SL_EINVAL);
	struct sl_metalog_start dup[2] = {{1, 0}, {1, 3}};
	assert_int_equal(sl_metalog_subscribe(log, dup, 2, &s), SL_EDUP);
	assert_int_equal(live_subscriptions(log), 0);

	/* An empty assignment is valid; partitions are added later. */
	assert_int_equal(sl_metalog_subscribe(log, NULL, 0, &s), 0);
	assert_int_equal(sl_metalog_sub_add(s, neg), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_add(s, out), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_add(s, minus), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_remove(s, 2), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_remove(s, -1), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_remove(s, 1), 0); /* not assigned: ignored */
	int64_t pos;
	assert_int_equal(sl_metalog_sub_position(s, 1, &pos), SL_ENOTFOUND);
	assert_int_equal(sl_metalog_sub_position(s, 9, &pos), SL_EINVAL);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){0, 0}), 0);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){1, 0}), 0);
	/* Adding an assigned partition again is a no-op: the cursor keeps its place. */
	publish(log, 1, "p1");
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.partition, 1);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){1, 0}), 0);
	assert_empty(s);
	int32_t parts[1];
	size_t n;
	assert_int_equal(sl_metalog_sub_assigned(s, parts, 1, &n), SL_ENOSPC);
	assert_int_equal(n, 2);
	assert_int_equal(parts[0], 0);
	sl_metalog_unsubscribe(s);
	sl_metalog_unsubscribe(NULL);
	sl_metalog_free(log);
	sl_metalog_free(NULL);
}

static int wakes;
static void count_wake(struct sl_waiter *w)
{
	(void)w;
	wakes++;
}

static void waiter_fires_only_for_assigned_partitions(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(3);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_waiter w;
	sl_waiter_init(&w, count_wake);
	struct sl_metalog_record r;
	wakes = 0;
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EAGAIN);
	publish(log, 2, "other");
	assert_int_equal(wakes, 0);
	assert_true(sl_waiter_armed(&w));
	publish(log, 0, "mine");
	assert_int_equal(wakes, 1);
	assert_false(sl_waiter_armed(&w));
	publish(log, 0, "again"); /* one-shot: not re-armed, not woken */
	assert_int_equal(wakes, 1);
	r = next(s);
	r = next(s);
	assert_payload(&r, "again");

	/* Adding a partition wakes a waiting poller, which then finds its backlog. */
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EAGAIN);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){2, 0}), 0);
	assert_int_equal(wakes, 2);
	r = next(s);
	assert_int_equal(r.partition, 2);
	assert_payload(&r, "other");

	/* After re-arming, a live record on the added partition wakes it too. */
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EAGAIN);
	publish(log, 2, "live2");
	assert_int_equal(wakes, 3);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void start_offset_beyond_high_water_mark_waits_for_it(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	publish(log, 0, "r0");
	struct sl_metalog_sub *s = subscribe1(log, 0, 3);
	assert_empty(s);
	publish(log, 0, "r1");
	publish(log, 0, "r2");
	assert_empty(s); /* offsets below the start offset are never delivered */
	publish(log, 0, "r3");
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.offset, 3);
	assert_payload(&r, "r3");
	int64_t pos;
	assert_int_equal(sl_metalog_sub_position(s, 0, &pos), 0);
	assert_int_equal(pos, 4);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void long_backlogs_span_chunks_and_interleave(void **state)
{
	(void)state;
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = 2;
	cfg.chunk_records = 3; /* rounded up to 4: many chunk boundaries */
	struct sl_metalog *log;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	enum { N = 300 };
	char buf[16];
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "%d", i);
		assert_int_equal(publish(log, 0, buf), i);
		assert_int_equal(publish(log, 1, buf), i);
	}
	struct sl_metalog_start a[2] = {{0, 0}, {1, 0}};
	struct sl_metalog_sub *s;
	assert_int_equal(sl_metalog_subscribe(log, a, 2, &s), 0);
	int64_t nextoff[2] = {0, 0};
	bool both_early = false;
	for (int i = 0; i < 2 * N; i++) {
		struct sl_metalog_record r = next(s);
		assert_int_equal(r.offset, nextoff[r.partition]++);
		snprintf(buf, sizeof(buf), "%d", (int)r.offset);
		assert_payload(&r, buf);
		/* A long backlog on one partition must not starve the other. */
		if (i == 200 && nextoff[0] > 0 && nextoff[1] > 0)
			both_early = true;
	}
	assert_true(both_early);
	assert_empty(s);
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.delivered, 2 * N);
	assert_int_equal(st.published, 2 * N);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void close_ends_streams_and_refuses_publishes(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(1);
	publish(log, 0, "last");
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_waiter w;
	sl_waiter_init(&w, count_wake);
	sl_metalog_close(log);
	sl_metalog_close(log);
	assert_int_equal(sl_metalog_publish(log, 0, str("late"), NULL, NULL), SL_ECLOSED);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "last");
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EEOF);
	assert_false(sl_waiter_armed(&w));
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void free_detaches_live_subscriptions(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log(2);
	publish(log, 1, "x");
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_waiter w;
	sl_waiter_init(&w, count_wake);
	struct sl_metalog_record r;
	wakes = 0;
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_EAGAIN);
	sl_metalog_free(log);
	assert_int_equal(wakes, 1); /* the waiting subscriber learns the log is gone */
	assert_int_equal(sl_metalog_sub_poll(s, &w, &r), SL_ECLOSED);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){1, 0}), SL_ECLOSED);
	assert_int_equal(sl_metalog_sub_remove(s, 0), 0);
	sl_metalog_unsubscribe(s);
}

/* ---- the store interface, with a scripted fake store ---- */

struct fake_store {
	int refuse; /* next append returns this if nonzero */
	/* With refuse: before refusing, fail every pending record with this code (a store whose
	 * earlier write failed and that reports it from inside the next append). */
	int fail_then_refuse;
	/* With refuse: before refusing, report every earlier record durable. */
	bool complete_then_refuse;
	bool sync; /* complete inside append */
	struct sl_metalog *log;
	int appends;
	int64_t last_offset[4];
	/* records for recover() */
	int nrec;
	int32_t rec_part[8];
	int64_t rec_off[8];
	const char *rec_data[8];
	int64_t start[4]; /* what the start op reports per partition */
	int start_err;
};

static int fake_append(void *ctx, int32_t partition, int64_t offset, struct sl_slice payload)
{
	struct fake_store *f = ctx;
	(void)payload;
	if (f->refuse) {
		int rc = f->refuse;
		f->refuse = 0;
		if (f->fail_then_refuse) {
			int64_t hwm;
			assert_int_equal(sl_metalog_high_water_mark(f->log, partition, &hwm), 0);
			assert_int_equal(
				sl_metalog_store_done(f->log, partition, hwm, f->fail_then_refuse),
				0);
			f->fail_then_refuse = 0;
		}
		if (f->complete_then_refuse) {
			assert_int_equal(sl_metalog_store_done(f->log, partition, offset, 0), 0);
			f->complete_then_refuse = false;
		}
		return rc;
	}
	f->appends++;
	f->last_offset[partition] = offset;
	if (f->sync)
		assert_int_equal(sl_metalog_store_done(f->log, partition, offset + 1, 0), 0);
	return 0;
}

static int fake_recover(void *ctx, sl_metalog_load_fn load, void *arg)
{
	struct fake_store *f = ctx;
	for (int i = 0; i < f->nrec; i++) {
		int rc = load(arg, f->rec_part[i], f->rec_off[i], str(f->rec_data[i]));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int fake_start(void *ctx, int32_t partition, int64_t *start)
{
	struct fake_store *f = ctx;
	*start = f->start[partition];
	return f->start_err;
}

static const struct sl_metalog_store_ops fake_ops = {fake_append, fake_recover, NULL};
static const struct sl_metalog_store_ops fake_ops_start = {fake_append, fake_recover, fake_start};

static struct sl_metalog *new_stored_log(struct fake_store *f, uint32_t partitions)
{
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = partitions;
	cfg.store = &fake_ops;
	cfg.store_ctx = f;
	struct sl_metalog *log;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	f->log = log;
	return log;
}

static void store_publish_completes_only_when_durable(void **state)
{
	(void)state;
	struct fake_store f = {0};
	struct sl_metalog *log = new_stored_log(&f, 2);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_metalog_pub p[3];
	struct sl_waiter w;
	sl_waiter_init(&w, count_wake);
	wakes = 0;
	int64_t off;
	assert_int_equal(sl_metalog_publish(log, 0, str("a"), &p[0], &off), SL_EAGAIN);
	assert_int_equal(off, 0);
	assert_int_equal(sl_metalog_publish(log, 0, str("b"), &p[1], &off), SL_EAGAIN);
	assert_int_equal(off, 1);
	assert_int_equal(sl_metalog_publish(log, 0, str("c"), &p[2], &off), SL_EAGAIN);
	assert_int_equal(f.appends, 3);
	assert_int_equal(sl_metalog_pub_poll(&p[0], &w), SL_EAGAIN);

	/* Not durable yet: invisible to subscribers and to the high-water mark. */
	int64_t hwm;
	assert_int_equal(sl_metalog_high_water_mark(log, 0, &hwm), 0);
	assert_int_equal(hwm, 0);
	assert_empty(s);

	assert_int_equal(sl_metalog_store_done(log, 0, 2, 0), 0);
	assert_int_equal(wakes, 1);
	assert_int_equal(sl_metalog_pub_poll(&p[0], NULL), 0);
	assert_int_equal(sl_metalog_pub_poll(&p[1], NULL), 0);
	assert_int_equal(sl_metalog_pub_poll(&p[2], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_high_water_mark(log, 0, &hwm), 0);
	assert_int_equal(hwm, 2);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "a");
	r = next(s);
	assert_payload(&r, "b");
	assert_empty(s);

	/* Completions out of range are refused. */
	assert_int_equal(sl_metalog_store_done(log, 0, 1, 0), SL_ERANGE);
	assert_int_equal(sl_metalog_store_done(log, 0, 4, 0), SL_ERANGE);
	assert_int_equal(sl_metalog_store_done(log, 3, 3, 0), SL_EINVAL);
	assert_int_equal(sl_metalog_store_done(log, 0, 3, 1), SL_EINVAL);
	assert_int_equal(sl_metalog_store_done(log, 0, 3, 0), 0);
	assert_int_equal(p[2].status, 0);
	r = next(s);
	assert_payload(&r, "c");

	/* A publish without a pub is fire-and-forget, and still becomes visible. */
	assert_int_equal(sl_metalog_publish(log, 0, str("d"), NULL, &off), SL_EAGAIN);
	assert_int_equal(sl_metalog_store_done(log, 0, 4, 0), 0);
	r = next(s);
	assert_payload(&r, "d");
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void store_failure_fails_pending_and_reuses_offsets(void **state)
{
	(void)state;
	struct fake_store f = {0};
	struct sl_metalog *log = new_stored_log(&f, 1);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_metalog_pub p[3];
	assert_int_equal(sl_metalog_publish(log, 0, str("ok"), &p[0], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_store_done(log, 0, 1, 0), 0);
	assert_int_equal(sl_metalog_publish(log, 0, str("x1"), &p[1], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_publish(log, 0, str("x2"), &p[2], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_store_done(log, 0, 1, SL_ENOSPC), 0);
	assert_int_equal(p[0].status, 0);
	assert_int_equal(p[1].status, SL_ENOSPC);
	assert_int_equal(p[2].status, SL_ENOSPC);
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.bytes, 2);

	/* The failed offsets are handed out again: no hole for subscribers. */
	int64_t off;
	assert_int_equal(sl_metalog_publish(log, 0, str("y"), &p[1], &off), SL_EAGAIN);
	assert_int_equal(off, 1);
	assert_int_equal(sl_metalog_store_done(log, 0, 2, 0), 0);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "ok");
	r = next(s);
	assert_int_equal(r.offset, 1);
	assert_payload(&r, "y");
	assert_empty(s);

	/* A refusal inside append consumes no offset and releases the payload. */
	f.refuse = SL_ENOSPC;
	struct sl_buf *b = sl_buf_from("z", 1);
	sl_buf_ref(b);
	assert_int_equal(sl_metalog_publish(log, 0, sl_slice_of(b), &p[2], &off), SL_ENOSPC);
	assert_int_equal(sl_buf_refcnt(b), 1);
	sl_buf_unref(b);
	assert_int_equal(p[2].status, SL_ENOSPC);
	assert_int_equal(sl_metalog_publish(log, 0, str("z"), &p[2], &off), SL_EAGAIN);
	assert_int_equal(off, 2);

	/* Forgetting a pending pub leaves the record in flight. */
	struct sl_waiter w;
	sl_waiter_init(&w, count_wake);
	assert_int_equal(sl_metalog_pub_poll(&p[2], &w), SL_EAGAIN);
	sl_metalog_pub_forget(log, &p[2]);
	assert_false(sl_waiter_armed(&w));
	assert_int_equal(sl_metalog_store_done(log, 0, 3, 0), 0);
	assert_int_equal(p[2].status, SL_EAGAIN); /* untouched: it was forgotten */
	r = next(s);
	assert_payload(&r, "z");
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

/*
 * A store may report earlier records from inside append and then refuse the new one. The
 * refusal must undo only what is still the engine's: releasing the payload a second time or
 * rewinding the partition past a failure would free a buffer twice and leave a hole.
 */
static void store_refusal_after_inline_completion_releases_once(void **state)
{
	(void)state;
	struct fake_store f = {0};
	struct sl_metalog *log = new_stored_log(&f, 1);
	struct sl_metalog_sub *s = subscribe1(log, 0, 0);
	struct sl_metalog_pub p[4];
	int64_t off = -1;
	assert_int_equal(sl_metalog_publish(log, 0, str("a"), &p[0], &off), SL_EAGAIN);
	assert_int_equal(sl_metalog_publish(log, 0, str("b"), &p[1], &off), SL_EAGAIN);
	assert_int_equal(off, 1);

	/* The earlier write failed; the store says so, then refuses the new record. The payload
	 * is a plain buffer: releasing it twice is a use-after-free under ASan. */
	f.refuse = SL_ENOSPC;
	f.fail_then_refuse = SL_EIO;
	off = -1;
	assert_int_equal(sl_metalog_publish(log, 0, str("c"), &p[2], &off), SL_ENOSPC);
	assert_int_equal(p[0].status, SL_EIO);
	assert_int_equal(p[1].status, SL_EIO);
	assert_int_equal(p[2].status, SL_ENOSPC);
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.failed, 2);
	assert_int_equal(st.bytes, 0);

	/* No hole: the next publish gets offset 0 again and subscribers read it. */
	assert_int_equal(sl_metalog_publish(log, 0, str("d"), &p[3], &off), SL_EAGAIN);
	assert_int_equal(off, 0);
	assert_int_equal(sl_metalog_store_done(log, 0, 1, 0), 0);
	assert_int_equal(p[3].status, 0);
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.offset, 0);
	assert_payload(&r, "d");
	assert_empty(s);

	/* Earlier records reported durable inside append, then a refusal: the refused record's
	 * reference is released exactly once and its offset is not consumed. */
	assert_int_equal(sl_metalog_publish(log, 0, str("e"), &p[0], &off), SL_EAGAIN);
	assert_int_equal(off, 1);
	f.refuse = SL_ENOSPC;
	f.complete_then_refuse = true;
	struct sl_buf *b = sl_buf_from("f", 1);
	sl_buf_ref(b);
	assert_int_equal(sl_metalog_publish(log, 0, sl_slice_of(b), &p[1], &off), SL_ENOSPC);
	assert_int_equal(sl_buf_refcnt(b), 1);
	sl_buf_unref(b);
	assert_int_equal(p[0].status, 0);
	assert_int_equal(p[1].status, SL_ENOSPC);
	int64_t hwm;
	assert_int_equal(sl_metalog_high_water_mark(log, 0, &hwm), 0);
	assert_int_equal(hwm, 2);
	assert_int_equal(sl_metalog_publish(log, 0, str("g"), &p[2], &off), SL_EAGAIN);
	assert_int_equal(off, 2);
	assert_int_equal(sl_metalog_store_done(log, 0, 3, 0), 0);
	r = next(s);
	assert_payload(&r, "e");
	r = next(s);
	assert_int_equal(r.offset, 2);
	assert_payload(&r, "g");
	sl_metalog_stats(log, &st);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.bytes, 3);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

static void synchronous_store_completes_inside_publish(void **state)
{
	(void)state;
	struct fake_store f = {0};
	f.sync = true;
	struct sl_metalog *log = new_stored_log(&f, 1);
	struct sl_metalog_pub p;
	assert_int_equal(sl_metalog_publish(log, 0, str("now"), &p, NULL), 0);
	assert_int_equal(p.status, 0);
	/* Pending publishes complete with SL_ECLOSED when the log is freed. */
	f.sync = false;
	assert_int_equal(sl_metalog_publish(log, 0, str("later"), &p, NULL), SL_EAGAIN);
	sl_metalog_free(log);
	assert_int_equal(p.status, SL_ECLOSED);
}

static void recover_loads_durable_records(void **state)
{
	(void)state;
	struct fake_store f = {.nrec = 3,
			       .rec_part = {0, 0, 1},
			       .rec_off = {0, 1, 0},
			       .rec_data = {"r0", "r1", "q0"}};
	struct sl_metalog *log = new_stored_log(&f, 2);
	struct sl_metalog_sub *s = subscribe1(log, 0, 1);
	assert_int_equal(sl_metalog_recover(log), 0);
	int64_t hwms[2];
	assert_int_equal(sl_metalog_high_water_marks(log, hwms, 2), 0);
	assert_int_equal(hwms[0], 2);
	assert_int_equal(hwms[1], 1);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "r1");
	int64_t off;
	assert_int_equal(sl_metalog_publish(log, 0, str("n2"), NULL, &off), SL_EAGAIN);
	assert_int_equal(off, 2);
	assert_int_equal(sl_metalog_recover(log), SL_EBUSY);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);

	/* Recovered records must be dense from 0 and in range. */
	struct fake_store gap = {
		.nrec = 2, .rec_part = {0, 0}, .rec_off = {0, 2}, .rec_data = {"a", "c"}};
	log = new_stored_log(&gap, 1);
	assert_int_equal(sl_metalog_recover(log), SL_ERANGE);
	sl_metalog_free(log);
	struct fake_store bad = {.nrec = 1, .rec_part = {3}, .rec_off = {0}, .rec_data = {"a"}};
	log = new_stored_log(&bad, 1);
	assert_int_equal(sl_metalog_recover(log), SL_EINVAL);
	sl_metalog_free(log);
}

/* A store that trimmed its files: every partition starts at the store's start offset, records
 * are dense from there, and publishing carries on after them. */
static void recover_at_store_start_offset(void **state)
{
	(void)state;
	/* Records 1022..1025 of partition 0 straddle a chunk boundary (default 1024 slots);
	 * partition 1 kept nothing but its start, 50. */
	struct fake_store f = {.nrec = 4,
			       .rec_part = {0, 0, 0, 0},
			       .rec_off = {1022, 1023, 1024, 1025},
			       .rec_data = {"a", "b", "c", "d"},
			       .start = {1022, 50}};
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = 3;
	cfg.store = &fake_ops_start;
	cfg.store_ctx = &f;
	struct sl_metalog *log;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	f.log = log;
	/* Subscribed before recovery from 0: moves up to the start, no read of a missing slot. */
	struct sl_metalog_sub *early = subscribe1(log, 0, 0);
	assert_int_equal(sl_metalog_recover(log), 0);
	assert_int_equal(sl_metalog_recover(log), SL_EBUSY); /* once: it would move the starts */
	int64_t v;
	assert_int_equal(sl_metalog_start_offset(log, 0, &v), 0);
	assert_int_equal(v, 1022);
	assert_int_equal(sl_metalog_high_water_mark(log, 0, &v), 0);
	assert_int_equal(v, 1026);
	assert_int_equal(sl_metalog_start_offset(log, 1, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(sl_metalog_high_water_mark(log, 1, &v), 0);
	assert_int_equal(v, 50);
	assert_int_equal(sl_metalog_start_offset(log, 2, &v), 0);
	assert_int_equal(v, 0);
	const char *want[] = {"a", "b", "c", "d"};
	for (int i = 0; i < 4; i++) {
		struct sl_metalog_record r = next(early);
		assert_int_equal(r.offset, 1022 + i);
		assert_payload(&r, want[i]);
	}
	assert_empty(early);
	sl_metalog_unsubscribe(early);
	/* Below the start is gone; at the start the backlog replays. */
	struct sl_metalog_start a = {0, 1021};
	struct sl_metalog_sub *s;
	assert_int_equal(sl_metalog_subscribe(log, &a, 1, &s), SL_ERANGE);
	a.start_offset = 1024;
	assert_int_equal(sl_metalog_subscribe(log, &a, 1, &s), 0);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "c");
	/* Publishing continues after the recovered end, and on an empty partition at its start. */
	int64_t off;
	assert_int_equal(sl_metalog_publish(log, 0, str("e"), NULL, &off), SL_EAGAIN);
	assert_int_equal(off, 1026);
	assert_int_equal(sl_metalog_store_done(log, 0, 1027, 0), 0);
	r = next(s);
	assert_payload(&r, "d");
	r = next(s);
	assert_payload(&r, "e");
	assert_int_equal(sl_metalog_publish(log, 1, str("x"), NULL, &off), SL_EAGAIN);
	assert_int_equal(off, 50);
	/* Trimming in memory works from the recovered start. */
	assert_int_equal(sl_metalog_trim(log, 0, 1025), 0);
	assert_int_equal(sl_metalog_start_offset(log, 0, &v), 0);
	assert_int_equal(v, 1025);
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);

	/* A record below the store's start, or a failing start op, stops recovery. */
	struct fake_store low = {
		.nrec = 1, .rec_part = {0}, .rec_off = {4}, .rec_data = {"a"}, .start = {5}};
	cfg.partitions = 1;
	cfg.store_ctx = &low;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	assert_int_equal(sl_metalog_recover(log), SL_ERANGE);
	sl_metalog_free(log);
	struct fake_store bad = {.start_err = SL_EIO};
	cfg.store_ctx = &bad;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	assert_int_equal(sl_metalog_recover(log), SL_EIO);
	sl_metalog_free(log);
}

/* ---- trimming ---- */

static struct sl_metalog *new_log_cfg(uint32_t partitions, uint32_t chunk, uint32_t retain)
{
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.partitions = partitions;
	cfg.chunk_records = chunk;
	cfg.retain_records = retain;
	struct sl_metalog *log;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	return log;
}

static int64_t start_of(struct sl_metalog *log, int32_t p)
{
	int64_t start = -1;
	assert_int_equal(sl_metalog_start_offset(log, p, &start), 0);
	return start;
}

static void trim_frees_records_and_keeps_offsets(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log_cfg(2, 4, 0);
	struct sl_buf *first = sl_buf_from("r0", 2);
	sl_buf_ref(first);
	assert_int_equal(sl_metalog_publish(log, 0, sl_slice_of(first), NULL, NULL), 0);
	char buf[16];
	for (int i = 1; i < 10; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		publish(log, 0, buf);
	}
	publish(log, 1, "other");
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.chunks, 4); /* p0: offsets 0..3, 4..7, 8..11; p1: one */
	assert_int_equal(st.bytes, 25);
	assert_int_equal(start_of(log, 0), 0);

	/* Below 6: six records go. Only chunk 0..3 is wholly below 6 and is freed; 4..7 still
	 * holds 6 and 7. */
	assert_int_equal(sl_metalog_trim(log, 0, 6), 0);
	assert_int_equal(sl_buf_refcnt(first), 1); /* the log let go of its reference */
	sl_buf_unref(first);
	assert_int_equal(start_of(log, 0), 6);
	assert_int_equal(start_of(log, 1), 0);
	sl_metalog_stats(log, &st);
	assert_int_equal(st.trimmed, 6);
	assert_int_equal(st.chunks, 3);
	assert_int_equal(st.bytes, 13);
	int64_t hwm;
	assert_int_equal(sl_metalog_high_water_mark(log, 0, &hwm), 0);
	assert_int_equal(hwm, 10); /* offsets never change */

	/* Trimming below the start again does nothing. */
	assert_int_equal(sl_metalog_trim(log, 0, 3), 0);
	assert_int_equal(start_of(log, 0), 6);

	/* Reading below the start is refused; from the start it works. */
	struct sl_metalog_start a = {0, 5};
	struct sl_metalog_sub *s = NULL;
	assert_int_equal(sl_metalog_subscribe(log, &a, 1, &s), SL_ERANGE);
	assert_int_equal(live_subscriptions(log), 0);
	s = subscribe1(log, 0, 6);
	struct sl_metalog_record r = next(s);
	assert_int_equal(r.offset, 6);
	assert_payload(&r, "r6");
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){1, 0}), 0);
	sl_metalog_unsubscribe(s);
	s = subscribe1(log, 1, 0);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){0, 2}), SL_ERANGE);
	assert_int_equal(sl_metalog_sub_add(s, (struct sl_metalog_start){0, 7}), 0);
	sl_metalog_unsubscribe(s);

	/* Past the high-water mark it is clamped to it: everything goes, the chunk that will
	 * take offset 10 stays, and publishing carries on at 10. */
	assert_int_equal(sl_metalog_trim(log, 0, INT64_MAX), 0);
	assert_int_equal(start_of(log, 0), 10);
	sl_metalog_stats(log, &st);
	assert_int_equal(st.trimmed, 10);
	assert_int_equal(st.bytes, 5);
	assert_int_equal(st.chunks, 2);
	assert_int_equal(publish(log, 0, "r10"), 10);
	assert_int_equal(publish(log, 0, "r11"), 11);
	assert_int_equal(publish(log, 0, "r12"), 12);
	s = subscribe1(log, 0, 10);
	for (int i = 10; i < 13; i++) {
		r = next(s);
		assert_int_equal(r.offset, i);
		snprintf(buf, sizeof(buf), "r%d", i);
		assert_payload(&r, buf);
	}
	assert_empty(s);
	sl_metalog_unsubscribe(s);

	/* A trim at a chunk boundary with nothing left frees every chunk of the partition. */
	for (int i = 13; i < 16; i++)
		publish(log, 0, "x");
	assert_int_equal(sl_metalog_trim(log, 0, 16), 0);
	sl_metalog_stats(log, &st);
	assert_int_equal(st.chunks, 1); /* p1's */
	assert_int_equal(publish(log, 0, "r16"), 16);
	s = subscribe1(log, 0, 16);
	r = next(s);
	assert_payload(&r, "r16");
	sl_metalog_unsubscribe(s);

	assert_int_equal(sl_metalog_trim(log, 2, 1), SL_EINVAL);
	assert_int_equal(sl_metalog_trim(log, -1, 1), SL_EINVAL);
	assert_int_equal(sl_metalog_trim(log, 0, -1), SL_EINVAL);
	int64_t start;
	assert_int_equal(sl_metalog_start_offset(log, 2, &start), SL_EINVAL);
	sl_metalog_free(log);
}

static void trim_never_takes_unread_or_pending_records(void **state)
{
	(void)state;
	struct sl_metalog *log = new_log_cfg(2, 4, 0);
	char buf[16];
	for (int i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		publish(log, 0, buf);
	}
	struct sl_metalog_sub *s = subscribe1(log, 0, 3);
	struct sl_metalog_sub *other = subscribe1(log, 1, 0); /* p0 not assigned: no say */
	assert_int_equal(sl_metalog_trim(log, 0, 8), 0);
	assert_int_equal(start_of(log, 0), 3);
	struct sl_metalog_record r = next(s);
	r = next(s);
	assert_int_equal(r.offset, 4);
	assert_int_equal(sl_metalog_trim(log, 0, 8), 0);
	assert_int_equal(start_of(log, 0), 5);
	r = next(s);
	assert_payload(&r, "r5");
	/* Removing the partition from the subscription lifts its hold. */
	assert_int_equal(sl_metalog_sub_remove(s, 0), 0);
	assert_int_equal(sl_metalog_trim(log, 0, 8), 0);
	assert_int_equal(start_of(log, 0), 8);
	sl_metalog_unsubscribe(s);
	sl_metalog_unsubscribe(other);
	sl_metalog_free(log);

	/* With a store, pending records are beyond the high-water mark and stay. */
	struct fake_store f = {0};
	log = new_stored_log(&f, 1);
	struct sl_metalog_pub p[3];
	assert_int_equal(sl_metalog_publish(log, 0, str("a"), &p[0], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_publish(log, 0, str("b"), &p[1], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_publish(log, 0, str("c"), &p[2], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_store_done(log, 0, 2, 0), 0);
	assert_int_equal(sl_metalog_trim(log, 0, 3), 0);
	assert_int_equal(start_of(log, 0), 2);
	assert_int_equal(sl_metalog_store_done(log, 0, 3, 0), 0);
	s = subscribe1(log, 0, 2);
	r = next(s);
	assert_payload(&r, "c");
	sl_metalog_unsubscribe(s);
	/* A failure after a trim drops only the pending records. */
	assert_int_equal(sl_metalog_publish(log, 0, str("d"), &p[0], NULL), SL_EAGAIN);
	assert_int_equal(sl_metalog_trim(log, 0, 3), 0);
	assert_int_equal(sl_metalog_store_done(log, 0, 3, SL_EIO), 0);
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.trimmed, 3);
	sl_metalog_free(log);
}

static void retain_records_trims_after_every_completion(void **state)
{
	(void)state;
	/* In memory: every publish completes at once. */
	struct sl_metalog *log = new_log_cfg(1, 4, 3);
	char buf[16];
	for (int i = 0; i < 10; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		publish(log, 0, buf);
		int64_t want = i + 1 > 3 ? i + 1 - 3 : 0;
		assert_int_equal(start_of(log, 0), want);
	}
	struct sl_metalog_stats st;
	sl_metalog_stats(log, &st);
	assert_int_equal(st.trimmed, 7);
	assert_int_equal(st.chunks, 2); /* offsets 7..9 live in chunks 4..7 and 8..11 */
	/* A subscriber holds the records it has not read. */
	struct sl_metalog_sub *s = subscribe1(log, 0, 7);
	for (int i = 10; i < 20; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		publish(log, 0, buf);
	}
	assert_int_equal(start_of(log, 0), 7);
	for (int i = 7; i < 15; i++) {
		struct sl_metalog_record r = next(s);
		snprintf(buf, sizeof(buf), "r%d", i);
		assert_payload(&r, buf);
	}
	publish(log, 0, "r20");
	assert_int_equal(start_of(log, 0), 15);
	sl_metalog_unsubscribe(s);
	publish(log, 0, "r21");
	assert_int_equal(start_of(log, 0), 19);
	sl_metalog_free(log);

	/* With a store: on each durable completion, and after recovery. */
	struct fake_store f = {.nrec = 5,
			       .rec_part = {0, 0, 0, 0, 0},
			       .rec_off = {0, 1, 2, 3, 4},
			       .rec_data = {"a", "b", "c", "d", "e"}};
	struct sl_metalog_config cfg;
	sl_metalog_config_default(&cfg);
	cfg.store = &fake_ops;
	cfg.store_ctx = &f;
	cfg.retain_records = 2;
	assert_int_equal(sl_metalog_new(&cfg, &log), 0);
	f.log = log;
	assert_int_equal(sl_metalog_recover(log), 0);
	assert_int_equal(start_of(log, 0), 3);
	struct sl_metalog_pub p;
	assert_int_equal(sl_metalog_publish(log, 0, str("f"), &p, NULL), SL_EAGAIN);
	assert_int_equal(start_of(log, 0), 3); /* pending: nothing completed yet */
	assert_int_equal(sl_metalog_store_done(log, 0, 6, 0), 0);
	assert_int_equal(start_of(log, 0), 4);
	f.sync = true;
	assert_int_equal(sl_metalog_publish(log, 0, str("g"), &p, NULL), 0);
	assert_int_equal(start_of(log, 0), 5);
	s = subscribe1(log, 0, 5);
	struct sl_metalog_record r = next(s);
	assert_payload(&r, "f");
	r = next(s);
	assert_payload(&r, "g");
	sl_metalog_unsubscribe(s);
	sl_metalog_free(log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(publish_assigns_monotonic_offsets),
		cmocka_unit_test(subscribe_replays_history_then_forwards_new_writes),
		cmocka_unit_test(subscribe_attached_after_history_still_sees_history),
		cmocka_unit_test(publish_out_of_range_is_rejected),
		cmocka_unit_test(two_subscribers_see_the_same_history),
		cmocka_unit_test(subscribe_delivers_only_assigned_partitions_from_start_offset),
		cmocka_unit_test(live_appends_only_for_assigned_partitions),
		cmocka_unit_test(add_mid_stream_delivers_backlog_then_live),
		cmocka_unit_test(dropping_handle_evicts_subscription_state),
		cmocka_unit_test(remove_stops_delivery),
		cmocka_unit_test(bad_inputs_are_rejected),
		cmocka_unit_test(waiter_fires_only_for_assigned_partitions),
		cmocka_unit_test(start_offset_beyond_high_water_mark_waits_for_it),
		cmocka_unit_test(long_backlogs_span_chunks_and_interleave),
		cmocka_unit_test(close_ends_streams_and_refuses_publishes),
		cmocka_unit_test(free_detaches_live_subscriptions),
		cmocka_unit_test(store_publish_completes_only_when_durable),
		cmocka_unit_test(store_failure_fails_pending_and_reuses_offsets),
		cmocka_unit_test(store_refusal_after_inline_completion_releases_once),
		cmocka_unit_test(synchronous_store_completes_inside_publish),
		cmocka_unit_test(recover_loads_durable_records),
		cmocka_unit_test(recover_at_store_start_offset),
		cmocka_unit_test(trim_frees_records_and_keeps_offsets),
		cmocka_unit_test(trim_never_takes_unread_or_pending_records),
		cmocka_unit_test(retain_records_trims_after_every_completion),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
