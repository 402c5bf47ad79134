/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The partition store driven through a real write coordinator, with a flusher the test
 * completes by hand (the way an io core would, later).
 */
#include "core/test_common.h"
#include "core/err.h"
#include "log/partition.h"

#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)

struct req {
	uint64_t id;
	struct sl_pstore_frozen *frozen; /* NULL for a storage flush */
	uint64_t epoch_start, epoch_end;
};

static struct req reqs[256];
static int nreqs;

static int fl_delta(void *arg, uint64_t id, void *frozen, uint64_t s, uint64_t e)
{
	(void)arg;
	reqs[nreqs++] = (struct req){id, frozen, s, e};
	return 0;
}

static int fl_storage(void *arg, uint64_t id)
{
	(void)arg;
	reqs[nreqs++] = (struct req){id, NULL, 0, 0};
	return 0;
}

static void fl_release(void *arg, void *snap)
{
	(void)arg;
	(void)snap;
}

static const struct sl_coord_flusher_ops flusher = {fl_delta, fl_storage, fl_release};

static struct sl_pstore *ps;
static struct sl_coord *co;
static uint64_t now;

static void make_sized(uint32_t partitions, uint64_t budget, uint64_t flush_size)
{
	struct sl_pstore_config pc;
	struct sl_coord_config cc;
	sl_pstore_config_default(&pc);
	pc.partitions = partitions;
	pc.mem_budget = budget;
	assert_int_equal(sl_pstore_new(&pc, &ps), 0);
	sl_coord_config_default(&cc);
	cc.flush_interval_ns = 0;
	cc.flush_size_threshold = flush_size;
	static const char *const ch[] = {"produce"};
	struct sl_coord_env env = {
		.channels = ch,
		.nchannels = 1,
		.delta_ops = &sl_pstore_delta_ops,
		.delta_arg = ps,
		.initial_ctx = ps,
		.flusher_ops = &flusher,
	};
	assert_int_equal(sl_coord_new(&cc, &env, &co), 0);
	now = 1000 * MS;
	assert_int_equal(sl_coord_start(co, now), 0);
	nreqs = 0;
}

static void make(uint32_t partitions, uint64_t budget)
{
	make_sized(partitions, budget, UINT64_MAX);
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nreqs; i++)
		if (reqs[i].frozen)
			sl_pstore_frozen_free(reqs[i].frozen);
	nreqs = 0;
	sl_coord_free(co);
	sl_pstore_free(ps);
	return 0;
}

/* Appends n records of size bytes to partition p and runs the coordinator; returns the append
 * (status and first offset). */
static struct sl_pstore_append *produce(uint32_t p, uint32_t n, uint32_t size, uint8_t tag)
{
	struct sl_pstore_append *a = calloc(1, sizeof(*a));
	struct sl_slice *recs = calloc(n, sizeof(*recs));
	for (uint32_t i = 0; i < n; i++) {
		struct sl_buf *b = sl_buf_alloc(size ? size : 1);
		memset(b->data, tag, size);
		b->len = size;
		recs[i] = sl_slice_of(b);
	}
	sl_pstore_append_init(a, p, recs, n, NULL);
	assert_int_equal(sl_coord_try_write(co, 0, &a->w), 0);
	sl_coord_poll(co, now);
	if (a->w.status != 0)
		for (uint32_t i = 0; i < n; i++)
			sl_buf_unref(recs[i].buf);
	return a;
}

static void done_append(struct sl_pstore_append *a)
{
	free(a->records);
	free(a);
}

/* Flushes the current delta and completes the request, reporting it to the store. */
static void flush_all(void)
{
	struct sl_coord_write fw = {0};
	assert_int_equal(sl_coord_flush(co, 0, &fw, false), 0);
	sl_coord_poll(co, now);
	for (int i = 0; i < nreqs; i++) {
		assert_int_equal(sl_coord_flush_complete(co, reqs[i].id, 0, NULL, now), 0);
		if (reqs[i].frozen)
			assert_int_equal(sl_pstore_flushed(ps, reqs[i].frozen), 0);
	}
	nreqs = 0;
	sl_coord_poll(co, now);
}

static void offsets_are_dense_per_partition(void **state)
{
	(void)state;
	make(4, 1 << 20);
	struct sl_pstore_append *a = produce(0, 3, 10, 1), *b = produce(1, 2, 10, 2),
				*c = produce(0, 1, 10, 3);
	assert_int_equal(a->w.status, 0);
	assert_int_equal(a->w.result, 0);
	assert_int_equal(b->w.result, 0);
	assert_int_equal(c->w.result, 3);
	assert_true(c->w.epoch > b->w.epoch && b->w.epoch > a->w.epoch);
	uint64_t first, next;
	assert_int_equal(sl_pstore_bounds(ps, 0, &first, &next), 0);
	assert_int_equal(first, 0);
	assert_int_equal(next, 4);
	done_append(a);
	done_append(b);
	done_append(c);
}

static void readers_see_records_when_applied_before_any_flush(void **state)
{
	(void)state;
	make(2, 1 << 20);
	struct sl_pstore_reader r;
	struct sl_waiter w;
	struct sl_slice s;
	uint64_t off;
	sl_waiter_init(&w, NULL);
	assert_int_equal(sl_pstore_reader_init(&r, ps, 1, 0), 0);
	assert_int_equal(sl_pstore_read(&r, &w, &s, &off), SL_EAGAIN);
	assert_true(sl_waiter_armed(&w));
	struct sl_pstore_append *a = produce(1, 2, 5, 9);
	assert_false(sl_waiter_armed(&w)); /* woken by the apply */
	uint64_t applied, written, durable;
	sl_coord_watermarks(co, &applied, &written, &durable);
	assert_int_equal(written, 0);
	assert_int_equal(sl_pstore_read(&r, NULL, &s, &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(s.len, 5);
	assert_int_equal(sl_slice_data(&s)[0], 9);
	assert_int_equal(sl_pstore_read(&r, NULL, &s, &off), 0);
	assert_int_equal(off, 1);
	assert_int_equal(sl_pstore_read(&r, NULL, &s, &off), SL_EAGAIN);
	done_append(a);
}

static void context_carries_next_offsets_across_flushes(void **state)
{
	(void)state;
	make(2, 1 << 20);
	done_append(produce(0, 5, 10, 1));
	flush_all();
	uint64_t applied, written, durable;
	sl_coord_watermarks(co, &applied, &written, &durable);
	assert_int_equal(written, applied);
	struct sl_pstore_append *a = produce(0, 2, 10, 2);
	assert_int_equal(a->w.result, 5);
	done_append(a);
	/* The frozen delta handed to the flusher holds exactly the new range. */
	struct sl_coord_write fw = {0};
	assert_int_equal(sl_coord_flush(co, 0, &fw, false), 0);
	sl_coord_poll(co, now);
	assert_int_equal(nreqs, 1);
	assert_int_equal(reqs[0].frozen->nranges, 1);
	assert_int_equal(reqs[0].frozen->ranges[0].first, 5);
	assert_int_equal(reqs[0].frozen->ranges[0].count, 2);
	assert_int_equal(reqs[0].frozen->bytes, 20);
	assert_int_equal(reqs[0].epoch_end - reqs[0].epoch_start, 1);
}

static void budget_evicts_only_flushed_records_oldest_first(void **state)
{
	(void)state;
	make(2, 300);
	done_append(produce(0, 10, 10, 1)); /* 100 bytes */
	done_append(produce(1, 10, 10, 2)); /* 100 bytes */
	flush_all();			    /* 200 flushed: within budget */
	struct sl_pstore_stats st;
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_evicted, 0);
	/* 500 unflushed bytes: over the budget, but nothing unflushed may go. */
	done_append(produce(0, 50, 10, 3));
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.bytes_in_memory, 700);
	assert_int_equal(st.bytes_unflushed, 500);
	assert_int_equal(st.records_evicted, 0);
	flush_all(); /* 700 flushed > 300: the oldest flushes go first, then 10 records of p0 */
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.bytes_in_memory, 300);
	assert_int_equal(st.records_evicted, 40);
	uint64_t first, next;
	sl_pstore_bounds(ps, 0, &first, &next);
	assert_int_equal(first, 30);
	assert_int_equal(next, 60);
	sl_pstore_bounds(ps, 1, &first, &next);
	assert_int_equal(first, 10);
	struct sl_pstore_reader r;
	struct sl_slice s;
	uint64_t off;
	assert_int_equal(sl_pstore_reader_init(&r, ps, 0, 0), 0);
	assert_int_equal(sl_pstore_read(&r, NULL, &s, &off), SL_ERANGE);
	assert_int_equal(sl_pstore_record(ps, 0, 30, &s), 0);
	assert_int_equal(sl_slice_data(&s)[0], 3);
	assert_int_equal(sl_pstore_record(ps, 0, 29, &s), SL_ERANGE);
}

static void bad_appends_fail_with_the_epoch_spent(void **state)
{
	(void)state;
	make(2, 1 << 20);
	struct sl_pstore_append *a = produce(7, 1, 10, 1);
	assert_int_equal(a->w.status, SL_ENOTFOUND);
	assert_true(a->w.epoch > 0);
	done_append(a);
	struct sl_pstore_append e = {0};
	sl_pstore_append_init(&e, 0, NULL, 0, NULL);
	assert_int_equal(sl_coord_try_write(co, 0, &e.w), 0);
	sl_coord_poll(co, now);
	assert_int_equal(e.w.status, SL_EINVAL);
	struct sl_pstore_stats st;
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.apply_errors, 2);
	struct sl_pstore_config pc;
	struct sl_pstore *bad;
	sl_pstore_config_default(&pc);
	pc.partitions = 0;
	assert_int_equal(sl_pstore_new(&pc, &bad), SL_EINVAL);
	struct sl_pstore_reader r;
	assert_int_equal(sl_pstore_reader_init(&r, ps, 2, 0), SL_ENOTFOUND);
	uint64_t f, n;
	assert_int_equal(sl_pstore_bounds(ps, 5, &f, &n), SL_ENOTFOUND);
}

static void out_of_order_flush_reports_are_refused(void **state)
{
	(void)state;
	make(1, 1 << 20);
	done_append(produce(0, 2, 10, 1));
	struct sl_coord_write fw = {0};
	assert_int_equal(sl_coord_flush(co, 0, &fw, false), 0);
	sl_coord_poll(co, now);
	done_append(produce(0, 2, 10, 2));
	struct sl_coord_write fw2 = {0};
	assert_int_equal(sl_coord_flush(co, 0, &fw2, false), 0);
	sl_coord_poll(co, now);
	assert_int_equal(nreqs, 2);
	/* The second delta cannot be flushed before the first. */
	assert_int_equal(sl_pstore_flushed(ps, reqs[1].frozen), SL_EINVAL);
	assert_int_equal(sl_pstore_flushed(ps, reqs[0].frozen), 0);
	reqs[0].frozen = NULL;
	assert_int_equal(sl_pstore_flushed(ps, reqs[1].frozen), 0);
	reqs[1].frozen = NULL;
}

static void many_partitions_and_large_backlogs(void **state)
{
	(void)state;
	make(64, 1 << 30);
	for (int round = 0; round < 50; round++)
		for (uint32_t p = 0; p < 64; p++)
			done_append(produce(p, 20, 8, (uint8_t)p));
	for (uint32_t p = 0; p < 64; p += 7) {
		struct sl_pstore_reader r;
		struct sl_slice s;
		uint64_t off, count = 0;
		sl_pstore_reader_init(&r, ps, p, 0);
		while (sl_pstore_read(&r, NULL, &s, &off) == 0) {
			assert_int_equal(off, count);
			assert_int_equal(sl_slice_data(&s)[0], (uint8_t)p);
			count++;
		}
		assert_int_equal(count, 1000);
	}
	flush_all();
}

/* Empty records still cost memory: the size estimate counts a fixed overhead per record, so a
 * stream of empty records reaches the flush threshold. */
static void empty_records_count_toward_the_size_threshold(void **state)
{
	(void)state;
	make_sized(2, 1 << 20, 10 * SL_PSTORE_RECORD_OVERHEAD);
	done_append(produce(0, 5, 0, 1));
	done_append(produce(1, 4, 0, 1));
	assert_int_equal(nreqs, 0); /* 9 records: below the threshold */
	done_append(produce(0, 1, 0, 1));
	assert_int_equal(nreqs, 1);
	assert_int_equal(reqs[0].frozen->nranges, 2);
	assert_int_equal(reqs[0].frozen->ranges[0].count, 6);
	assert_int_equal(reqs[0].frozen->bytes, 0); /* payload bytes: the overhead is not data */
	/* Payload and overhead add up: 3 records of 20 bytes are 3 * (20 + overhead). */
	flush_all();
	uint64_t threshold_records =
		(10 * SL_PSTORE_RECORD_OVERHEAD) / (20 + SL_PSTORE_RECORD_OVERHEAD);
	done_append(produce(0, (uint32_t)threshold_records, 20, 2));
	assert_int_equal(nreqs, 0);
	done_append(produce(0, 1, 20, 2));
	assert_int_equal(nreqs, 1);
}

/* A delta may hold more than 2^32 records of one partition: the range count is 64-bit. */
static void range_count_is_64_bit(void **state)
{
	(void)state;
	struct sl_pstore_range r = {0};
	assert_int_equal(sizeof(r.count), sizeof(uint64_t));
	uint64_t big = (uint64_t)UINT32_MAX + 5;
	r.count = big;
	assert_true(r.count == big);
}

static void assert_mem(uint64_t records, uint64_t bytes)
{
	struct sl_pstore_stats st;
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_in_memory, records);
	assert_int_equal(st.bytes_in_memory, bytes);
}

static void assert_part(uint32_t p, uint64_t first, uint64_t next, uint64_t bytes)
{
	uint64_t f, n, recs;
	assert_int_equal(sl_pstore_bounds(ps, p, &f, &n), 0);
	assert_int_equal(f, first);
	assert_int_equal(n, next);
	assert_int_equal(sl_pstore_part_bytes(ps, p, &recs), bytes);
	assert_int_equal(recs, next - first);
}

static int wakes;
static void count_wake(struct sl_waiter *w)
{
	(void)w;
	wakes++;
}

static void dropping_below_a_start_keeps_the_budget_exact(void **state)
{
	(void)state;
	make(2, 300);
	done_append(produce(0, 10, 10, 1)); /* p0 [0, 10): 100 bytes */
	done_append(produce(1, 10, 10, 2)); /* p1 [0, 10): 100 bytes */
	flush_all();
	done_append(produce(0, 5, 10, 3)); /* p0 [10, 15): flushed */
	flush_all();
	done_append(produce(0, 5, 10, 4)); /* p0 [15, 20): not flushed */
	/* Retention moved p0's start to 12: [0, 12) goes, from two eviction entries. */
	assert_int_equal(sl_pstore_drop_below(ps, 0, 12), 12);
	assert_part(0, 12, 20, 80);
	assert_mem(18, 180);
	/* Never an unflushed record. */
	assert_int_equal(sl_pstore_drop_below(ps, 0, 100), 3);
	assert_part(0, 15, 20, 50);
	assert_int_equal(sl_pstore_drop_below(ps, 7, 100), 0);
	/* The budget still counts exactly what is flushed and in memory: p1's 100 bytes. A
	 * flush of p0's 50 and 300 more evicts only down to the budget. */
	done_append(produce(1, 30, 10, 5));
	flush_all();
	struct sl_pstore_stats st;
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.bytes_in_memory, 300);
	assert_int_equal(st.records_evicted, 15);
	struct sl_slice s;
	assert_int_equal(sl_pstore_record(ps, 0, 14, &s), SL_ERANGE);
}

static void reset_restarts_a_partition_with_exact_counters(void **state)
{
	(void)state;
	make(2, 300);
	assert_int_equal(sl_pstore_part_reset(ps, 2, 0), SL_ENOTFOUND);
	uint64_t recs = 7;
	assert_int_equal(sl_pstore_part_bytes(ps, 2, &recs), 0);
	assert_int_equal(recs, 0);

	/* Unflushed records (live delta, then a frozen delta at the flusher) keep it busy. */
	done_append(produce(0, 10, 10, 1));
	done_append(produce(1, 10, 10, 2));
	assert_int_equal(sl_pstore_part_reset(ps, 0, 500), SL_EBUSY);
	struct sl_coord_write fw = {0};
	assert_int_equal(sl_coord_flush(co, 0, &fw, false), 0);
	sl_coord_poll(co, now);
	assert_int_equal(nreqs, 1);
	assert_int_equal(sl_pstore_part_reset(ps, 0, 500), SL_EBUSY);
	assert_part(0, 0, 10, 100);
	assert_int_equal(sl_coord_flush_complete(co, reqs[0].id, 0, NULL, now), 0);
	assert_int_equal(sl_pstore_flushed(ps, reqs[0].frozen), 0);
	nreqs = 0;
	sl_coord_poll(co, now);
	assert_mem(20, 200); /* both flushed, within the budget: in the eviction queue */

	/* A reader waiting on p0 is woken by the reset and finds its offset gone. */
	struct sl_pstore_reader r;
	struct sl_waiter w;
	struct sl_slice sl;
	uint64_t off;
	sl_waiter_init(&w, count_wake);
	wakes = 0;
	assert_int_equal(sl_pstore_reader_init(&r, ps, 0, 10), 0);
	assert_int_equal(sl_pstore_read(&r, &w, &sl, &off), SL_EAGAIN);
	assert_int_equal(sl_pstore_part_reset(ps, 0, 1000), 0);
	assert_int_equal(wakes, 1);
	assert_int_equal(sl_pstore_read(&r, NULL, &sl, &off), SL_ERANGE);
	assert_int_equal(sl_pstore_record(ps, 0, 5, &sl), SL_ERANGE);
	assert_part(0, 1000, 1000, 0);
	assert_part(1, 0, 10, 100);
	assert_mem(10, 100);
	struct sl_pstore_stats st;
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_evicted, 0);
	assert_int_equal(st.bytes_unflushed, 0);

	/* The new incarnation starts at 1000. Flushing 250 more bytes puts 350 over the budget
	 * of 300: the oldest flush left is p1's, so 5 of its records go; nothing of p0's old
	 * incarnation is counted again. */
	struct sl_pstore_append *a = produce(0, 25, 10, 3);
	assert_int_equal(a->w.result, 1000);
	done_append(a);
	flush_all();
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_evicted, 5);
	assert_int_equal(st.bytes_evicted, 50);
	assert_mem(30, 300);
	assert_part(0, 1000, 1025, 250);
	assert_part(1, 5, 10, 50);
	assert_int_equal(sl_pstore_record(ps, 0, 1000, &sl), 0);
	assert_int_equal(sl_slice_data(&sl)[0], 3);

	/* 100 more: p1's last 5 go, then 5 of p0's first flush of the new incarnation. */
	done_append(produce(0, 10, 10, 4));
	flush_all();
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_evicted, 15);
	assert_int_equal(st.bytes_evicted, 150);
	assert_mem(30, 300);
	assert_part(0, 1005, 1035, 300);
	assert_part(1, 10, 10, 0);

	/* Resetting backwards (a slot reused for another partition) works the same way, and the
	 * eviction queue forgets p0 entirely: more flushes of p1 evict only p1. */
	assert_int_equal(sl_pstore_part_reset(ps, 0, 0), 0);
	assert_mem(0, 0);
	assert_part(0, 0, 0, 0);
	done_append(produce(1, 40, 10, 5));
	flush_all();
	sl_pstore_stats(ps, &st);
	assert_int_equal(st.records_evicted, 25);
	assert_mem(30, 300);
	assert_part(1, 20, 50, 300);
	a = produce(0, 1, 10, 6);
	assert_int_equal(a->w.result, 0);
	done_append(a);
	assert_part(0, 0, 1, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(offsets_are_dense_per_partition, teardown),
		cmocka_unit_test_teardown(readers_see_records_when_applied_before_any_flush,
					  teardown),
		cmocka_unit_test_teardown(context_carries_next_offsets_across_flushes, teardown),
		cmocka_unit_test_teardown(budget_evicts_only_flushed_records_oldest_first,
					  teardown),
		cmocka_unit_test_teardown(bad_appends_fail_with_the_epoch_spent, teardown),
		cmocka_unit_test_teardown(out_of_order_flush_reports_are_refused, teardown),
		cmocka_unit_test_teardown(many_partitions_and_large_backlogs, teardown),
		cmocka_unit_test_teardown(empty_records_count_toward_the_size_threshold, teardown),
		cmocka_unit_test(range_count_is_64_bit),
		cmocka_unit_test_teardown(reset_restarts_a_partition_with_exact_counters, teardown),
		cmocka_unit_test_teardown(dropping_below_a_start_keeps_the_budget_exact, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
