/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Named consumers' positions and epochs over the real memory object store (with its fault
 * injection) and the real localdir store: claims, commits, fencing, batching of commits behind
 * one put, recovery of positions and epochs from the objects, deletion with the stream.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"
#include "drivers/objstore/memory.h"
#include "durable/dcons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct sl_objstore *store;
static struct sl_dcons *dc;

/* Answers land here, in order. */
struct ans {
	struct sl_dcons_req *q;
	int code;
	uint64_t detail;
};
static struct ans answers[64];
static int nanswers;

static void on_done(void *arg, struct sl_dcons_req *q, int code, int err, uint64_t detail)
{
	(void)arg;
	(void)err;
	assert_true(nanswers < 64);
	answers[nanswers++] = (struct ans){q, code, detail};
}

static const struct sl_lp_marks marks = {10, 90, 100};

static void pump(void)
{
	/* The localdir store completes through io_uring: give it time (bounded, not asserted). */
	for (int i = 0; i < 100000; i++) {
		sl_objstore_poll(store, 0);
		sl_dcons_poll(dc);
		if (!sl_dcons_busy(dc))
			return;
		if (i > 100)
			usleep(100);
	}
	fail_msg("the store did not complete its requests");
}

static void claim(struct sl_dcons_req *q, const char *name, uint32_t partition, uint8_t fallback)
{
	memset(q, 0, sizeof(*q));
	q->op = SL_DCONS_CLAIM;
	q->fallback = fallback;
	snprintf(q->name, sizeof(q->name), "%s", name);
	sl_dcons_submit(dc, 7, partition, &marks, q);
}

static void commit(struct sl_dcons_req *q, const char *name, uint32_t partition, uint64_t epoch,
		   uint64_t offset)
{
	memset(q, 0, sizeof(*q));
	q->op = SL_DCONS_COMMIT;
	q->epoch = epoch;
	q->offset = offset;
	snprintf(q->name, sizeof(q->name), "%s", name);
	sl_dcons_submit(dc, 7, partition, &marks, q);
}

static int setup(void **state)
{
	(void)state;
	store = sl_objstore_memory_new(NULL);
	assert_non_null(store);
	dc = sl_dcons_new(store, on_done, NULL);
	assert_non_null(dc);
	nanswers = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pump();
	sl_dcons_free(dc);
	sl_objstore_memory_destroy(store);
	return 0;
}

/* Reads the stored state of (stream 7, name, partition) straight from the store. */
static int stored(const char *name, uint32_t partition, struct sl_dcons_entry *e)
{
	char key[SL_OBJ_KEY_MAX + 1];
	assert_int_equal(sl_dcons_key(key, sizeof(key), 7, name, partition), 0);
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_GET;
	r.key = key;
	int rc = sl_objstore_run(store, &r);
	if (rc == 0)
		rc = sl_dcons_decode(r.data->data, r.data->len, e);
	sl_obj_req_reset(&r);
	return rc;
}

static void claim_then_commit_is_durable_before_the_answer(void **state)
{
	(void)state;
	struct sl_dcons_req a, b;
	claim(&a, "billing", 3, SL_LP_START_COMMITTED_OR_EARLIEST);
	assert_int_equal(nanswers, 0); /* not before the put */
	pump();
	assert_int_equal(nanswers, 1);
	assert_int_equal(answers[0].code, 0);
	assert_int_equal(a.epoch, 1);
	assert_int_equal(a.from, SL_DCONS_FROM_EARLIEST);
	assert_false(a.had_commit);
	commit(&b, "billing", 3, a.epoch, 42);
	assert_int_equal(nanswers, 1);
	pump();
	assert_int_equal(nanswers, 2);
	assert_ptr_equal(answers[1].q, &b);
	assert_int_equal(answers[1].code, 0);
	struct sl_dcons_entry e;
	assert_int_equal(stored("billing", 3, &e), 0);
	assert_int_equal(e.epoch, 1);
	assert_true(e.committed);
	assert_int_equal(e.offset, 42);
	struct sl_dcons_info info[4];
	assert_int_equal(sl_dcons_describe(dc, 7, info, 4), 1);
	assert_string_equal(info[0].name, "billing");
	assert_int_equal(info[0].partition, 3);
	assert_int_equal(info[0].offset, 42);
	struct sl_dcons_stats st;
	sl_dcons_stats(dc, &st);
	assert_int_equal(st.consumers, 1);
	assert_int_equal(st.claims, 1);
	assert_int_equal(st.commits, 1);
}

/* A second claim raises the epoch: the first holder's commits and fetches are refused. */
static void a_newer_claim_fences_the_older(void **state)
{
	(void)state;
	struct sl_dcons_req a, b, c, d;
	claim(&a, "billing", 0, SL_LP_START_COMMITTED_OR_LATEST);
	pump();
	assert_int_equal(a.from, SL_DCONS_FROM_LATEST);
	commit(&b, "billing", 0, a.epoch, 50);
	pump();
	claim(&c, "billing", 0, SL_LP_START_COMMITTED_OR_LATEST);
	/* In memory at once: the older one is fenced even before the claim is durable. */
	uint64_t newer = 0;
	assert_true(sl_dcons_fenced(dc, 7, 0, a.id, a.epoch, &newer));
	assert_int_equal(newer, 2);
	assert_false(sl_dcons_fenced(dc, 7, 0, c.id, c.epoch, &newer));
	pump();
	assert_int_equal(c.epoch, 2);
	assert_int_equal(c.from, SL_DCONS_FROM_OFFSET);
	assert_int_equal(c.offset, 50);
	assert_true(c.had_commit);
	int before = nanswers;
	commit(&d, "billing", 0, a.epoch, 60);
	assert_int_equal(nanswers, before + 1);
	assert_int_equal(answers[before].code, SL_LP_ERR_FENCED);
	assert_int_equal(answers[before].detail, 2);
	struct sl_dcons_entry e;
	assert_int_equal(stored("billing", 0, &e), 0);
	assert_int_equal(e.offset, 50);
	assert_int_equal(e.epoch, 2);
	struct sl_dcons_stats st;
	sl_dcons_stats(dc, &st);
	assert_int_equal(st.commits_refused_fenced, 1);
	/* Another name on the same partition is independent. */
	struct sl_dcons_req x;
	claim(&x, "audit", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	assert_int_equal(x.epoch, 1);
	assert_false(sl_dcons_fenced(dc, 7, 0, c.id, c.epoch, &newer));
}

/* Commits that arrive while a put is out ride on the next one, and every answer waits for a
 * put holding its position; answers keep their order. */
static void commits_behind_a_put_are_batched(void **state)
{
	(void)state;
	struct sl_dcons_req a, q[5];
	claim(&a, "billing", 1, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	struct sl_objstore_memory_stats ms0, ms1;
	sl_objstore_memory_stats(store, &ms0);
	for (int i = 0; i < 5; i++)
		commit(&q[i], "billing", 1, a.epoch, 20 + (uint64_t)i);
	pump();
	sl_objstore_memory_stats(store, &ms1);
	/* One put for the first, one for the four that waited behind it. */
	assert_int_equal(ms1.ops[SL_OBJ_PUT] - ms0.ops[SL_OBJ_PUT], 2);
	assert_int_equal(nanswers, 6);
	for (int i = 0; i < 5; i++) {
		assert_ptr_equal(answers[1 + i].q, &q[i]);
		assert_int_equal(answers[1 + i].code, 0);
	}
	struct sl_dcons_entry e;
	assert_int_equal(stored("billing", 1, &e), 0);
	assert_int_equal(e.offset, 24);
}

static void bad_commits_are_refused(void **state)
{
	(void)state;
	struct sl_dcons_req a, b;
	commit(&b, "nobody", 0, 1, 5);
	assert_int_equal(nanswers, 1);
	assert_int_equal(answers[0].code, SL_LP_ERR_INVALID);
	claim(&a, "billing", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	commit(&b, "billing", 0, a.epoch, 101); /* above the high water mark (100) */
	assert_int_equal(answers[nanswers - 1].code, SL_LP_ERR_INVALID);
	claim(&a, ".sl-x", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	assert_int_equal(answers[nanswers - 1].code, SL_LP_ERR_INVALID);
	claim(&a, "a/b", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	assert_int_equal(answers[nanswers - 1].code, SL_LP_ERR_INVALID);
}

/* A failed put fails the requests it covered; the state goes on with the next one. */
static void a_failed_put_answers_storage_failed(void **state)
{
	(void)state;
	struct sl_dcons_req a, b, c;
	claim(&a, "billing", 2, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	assert_int_equal(sl_objstore_memory_fail_next(store, SL_OBJ_PUT, 1, SL_EIO), 0);
	commit(&b, "billing", 2, a.epoch, 30);
	pump();
	assert_int_equal(answers[nanswers - 1].code, SL_LP_ERR_STORAGE_FAILED);
	commit(&c, "billing", 2, a.epoch, 31);
	pump();
	assert_int_equal(answers[nanswers - 1].code, 0);
	struct sl_dcons_stats st;
	sl_dcons_stats(dc, &st);
	assert_int_equal(st.consumer_write_errors, 1);
}

/* A claim's start is the committed position clamped into [start, high water]. */
static void committed_positions_are_clamped(void **state)
{
	(void)state;
	struct sl_dcons_entry e = {
		.stream_id = 7, .partition = 4, .epoch = 3, .committed = true, .offset = 2};
	snprintf(e.name, sizeof(e.name), "billing");
	assert_int_equal(sl_dcons_load(dc, &e), 0);
	assert_int_equal(sl_dcons_load(dc, &e), SL_EDUP);
	struct sl_dcons_req a;
	claim(&a, "billing", 4, SL_LP_START_COMMITTED_OR_LATEST);
	pump();
	assert_int_equal(a.epoch, 4);
	assert_int_equal(a.from, SL_DCONS_FROM_OFFSET);
	assert_int_equal(a.offset, 10); /* retention moved the start past it */
	e.partition = 5;
	e.offset = 500;
	assert_int_equal(sl_dcons_load(dc, &e), 0);
	claim(&a, "billing", 5, SL_LP_START_COMMITTED_OR_LATEST);
	pump();
	assert_int_equal(a.offset, 100);
}

/* Dropping the stream deletes its objects; states of other streams stay. */
static void deleting_the_stream_deletes_its_consumers(void **state)
{
	(void)state;
	struct sl_dcons_req a;
	claim(&a, "billing", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	struct sl_dcons_entry e;
	assert_int_equal(stored("billing", 0, &e), 0);
	struct sl_stream_def d = {.id = 8, .name = "other", .partitions = 1};
	struct sl_stream_set *set = sl_stream_set_new(&d, 1, 1);
	assert_non_null(set);
	sl_dcons_set_streams(dc, set);
	sl_stream_set_unref(set);
	pump();
	assert_int_equal(stored("billing", 0, &e), SL_ENOTFOUND);
	assert_int_equal(sl_dcons_describe(dc, 7, NULL, 0), 0);
	struct sl_dcons_stats st;
	sl_dcons_stats(dc, &st);
	assert_int_equal(st.consumers, 0);
	uint64_t newer;
	assert_false(sl_dcons_fenced(dc, 7, 0, a.id, 0, &newer));
	/* sl_dcons_delete: one name only. */
	claim(&a, "x", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	claim(&a, "x", 1, SL_LP_START_COMMITTED_OR_EARLIEST);
	struct sl_dcons_req y;
	claim(&y, "y", 0, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	assert_int_equal(sl_dcons_delete(dc, 7, "x"), 2);
	pump();
	assert_int_equal(sl_dcons_describe(dc, 7, NULL, 0), 1);
}

static void keys_and_bodies_round_trip(void **state)
{
	(void)state;
	char key[SL_OBJ_KEY_MAX + 1];
	assert_int_equal(sl_dcons_key(key, sizeof(key), 12, "billing", 4095), 0);
	assert_string_equal(key, "consumers/12/billing/4095");
	assert_int_equal(sl_obj_key_check(key), 0);
	struct sl_dcons_entry e;
	assert_int_equal(sl_dcons_parse_key(key, &e), 0);
	assert_int_equal(e.stream_id, 12);
	assert_int_equal(e.partition, 4095);
	assert_string_equal(e.name, "billing");
	const char *bad[] = {"consumers/12/billing/4096", "consumers/x/billing/1",
			     "consumers/12/billing/01",	  "consumers/12//1",
			     "consumers/12/billing",	  "data/12/billing/1",
			     "consumers/12/b@d/1",	  "consumers/12/billing/1/2"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sl_dcons_parse_key(bad[i], &e), SL_EINVAL);
	assert_int_equal(sl_dcons_key(key, 10, 12, "billing", 1), SL_ERANGE);

	/* The documented bytes: epoch 3, committed offset 300. */
	static const uint8_t golden[] = {'S', 'L', 'C', 'N', 0x01, 0x03, 0x41, 0x2d};
	uint8_t buf[32];
	struct sl_dcons_entry in = {.epoch = 3, .committed = true, .offset = 300};
	assert_int_equal(sl_dcons_encode(buf, sizeof(buf), &in), sizeof(golden));
	assert_memory_equal(buf, golden, sizeof(golden));
	assert_int_equal(sl_dcons_decode(golden, sizeof(golden), &e), 0);
	assert_true(e.epoch == 3 && e.committed && e.offset == 300);
	for (size_t cut = 0; cut < sizeof(golden); cut++)
		assert_int_equal(sl_dcons_decode(golden, cut, &e), SL_ETRUNC);
	buf[sizeof(golden)] = 0;
	assert_int_equal(sl_dcons_decode(buf, sizeof(golden) + 1, &e), SL_ECORRUPT);
	buf[4] = 2;
	assert_int_equal(sl_dcons_decode(buf, sizeof(golden), &e), SL_ECORRUPT);
	in.committed = false;
	assert_int_equal(sl_dcons_encode(buf, sizeof(buf), &in), 7);
	assert_int_equal(sl_dcons_decode(buf, 7, &e), 0);
	assert_false(e.committed);
	assert_int_equal(sl_dcons_encode(buf, 4, &in), 0);
}

/* On the localdir store (files, io_uring): what a claim and commits wrote is what a fresh
 * table recovers after a restart, epoch included, so an old holder stays fenced. */
static void positions_and_epochs_survive_a_restart_on_localdir(void **state)
{
	(void)state;
	char dir[] = "/tmp/sl-dcons-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct sl_objstore *ld = NULL;
	assert_int_equal(sl_localdir_open(dir, NULL, &ld), 0);
	struct sl_objstore *saved = store;
	struct sl_dcons *saved_dc = dc;
	store = ld;
	dc = sl_dcons_new(store, on_done, NULL);
	struct sl_dcons_req a, b;
	claim(&a, "billing", 6, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	claim(&a, "billing", 6, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	commit(&b, "billing", 6, a.epoch, 77);
	pump();
	assert_int_equal(answers[nanswers - 1].code, 0);
	sl_dcons_free(dc);
	sl_objstore_destroy(store);

	/* A restart: list the objects, load them. */
	assert_int_equal(sl_localdir_open(dir, NULL, &ld), 0);
	store = ld;
	dc = sl_dcons_new(store, on_done, NULL);
	struct sl_obj_req r;
	memset(&r, 0, sizeof(r));
	r.op = SL_OBJ_LIST;
	r.prefix = SL_DCONS_PREFIX;
	assert_int_equal(sl_objstore_run(store, &r), 0);
	assert_int_equal(r.nentries, 1);
	struct sl_dcons_entry e;
	assert_int_equal(sl_dcons_parse_key(r.entries[0].key, &e), 0);
	sl_obj_req_reset(&r);
	assert_int_equal(stored("billing", 6, &e), 0);
	e.stream_id = 7;
	e.partition = 6;
	snprintf(e.name, sizeof(e.name), "billing");
	assert_int_equal(sl_dcons_load(dc, &e), 0);
	struct sl_dcons_req c;
	claim(&c, "billing", 6, SL_LP_START_COMMITTED_OR_EARLIEST);
	pump();
	assert_int_equal(c.epoch, 3);
	assert_int_equal(c.offset, 77);
	/* The pre-restart holder (epoch 2) cannot commit. */
	commit(&b, "billing", 6, 2, 80);
	assert_int_equal(answers[nanswers - 1].code, SL_LP_ERR_FENCED);
	sl_dcons_free(dc);
	sl_objstore_destroy(store);
	store = saved;
	dc = saved_dc;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(claim_then_commit_is_durable_before_the_answer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_newer_claim_fences_the_older, setup, teardown),
		cmocka_unit_test_setup_teardown(commits_behind_a_put_are_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_commits_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_put_answers_storage_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(committed_positions_are_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(deleting_the_stream_deletes_its_consumers, setup,
						teardown),
		cmocka_unit_test(keys_and_bodies_round_trip),
		cmocka_unit_test_setup_teardown(positions_and_epochs_survive_a_restart_on_localdir,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
