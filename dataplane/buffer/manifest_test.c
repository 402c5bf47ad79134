/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the manifest queue: the codec byte for byte (opendata's layout), decoder failures
 * named by kind, the client's enqueue/dequeue/fence against the memory store, conflict retries
 * with bounded jittered backoff, and epoch fencing including a consumer fenced mid-update.
 * Several tests twin opendata's queue.rs tests (names kept where they are).
 */
#include "core/test_common.h"
#include "buffer/manifest.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"

#include <stdio.h>
#include <string.h>

#define KEY "test/manifest"

static uint64_t now;

static struct sl_manifest *client(struct sl_objstore *s, uint64_t seed)
{
	struct sl_manifest_config cfg;
	sl_manifest_config_default(&cfg);
	cfg.key = KEY;
	cfg.seed = seed;
	struct sl_manifest *m = sl_manifest_new(s, &cfg);
	assert_non_null(m);
	return m;
}

static int run(struct sl_manifest *m, struct sl_manifest_op *op)
{
	return sl_manifest_run(m, op, &now, 100000);
}

static int enqueue(struct sl_manifest *m, const char *loc, uint64_t *seq)
{
	struct sl_manifest_op op = {0};
	int rc = sl_manifest_enqueue(m, &op, loc, NULL, 0);
	if (rc != 0)
		return rc;
	rc = run(m, &op);
	if (seq)
		*seq = op.sequence;
	return rc;
}

static int dequeue(struct sl_manifest *m, uint64_t through, uint32_t *removed)
{
	struct sl_manifest_op op = {0};
	int rc = sl_manifest_dequeue(m, &op, through);
	if (rc != 0)
		return rc;
	rc = run(m, &op);
	if (removed)
		*removed = op.removed;
	return rc;
}

static int fence(struct sl_manifest *m)
{
	struct sl_manifest_op op = {0};
	int rc = sl_manifest_fence(m, &op);
	return rc ? rc : run(m, &op);
}

/* Reads the raw manifest object. */
static struct sl_buf *raw(struct sl_objstore *s)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_GET;
	r.key = KEY;
	if (sl_objstore_run(s, &r) != 0)
		return NULL;
	struct sl_buf *b = r.data;
	r.data = NULL;
	return b;
}

static void put_raw(struct sl_objstore *s, const void *p, size_t n)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = KEY;
	r.body = sl_buf_alloc(n ? n : 1);
	if (n)
		sl_buf_append(r.body, p, n);
	assert_int_equal(sl_objstore_run(s, &r), 0);
}

/* Locations of the entries, comma-separated, with their sequences ("0:a,1:b"). */
static void list(struct sl_objstore *s, char *out, size_t cap, struct sl_manifest_footer *f)
{
	struct sl_buf *b = raw(s);
	assert_non_null(b);
	struct sl_manifest_iter it;
	struct sl_manifest_rec rec;
	assert_int_equal(sl_manifest_iter_init(&it, b->data, b->len, f, NULL), 0);
	out[0] = '\0';
	size_t n = 0;
	int rc;
	while ((rc = sl_manifest_iter_next(&it, &rec, NULL)) == 0)
		n += (size_t)snprintf(out + n, cap - n, "%s%llu:%.*s", n ? "," : "",
				      (unsigned long long)rec.sequence, rec.location_len,
				      rec.location);
	assert_int_equal(rc, SL_EEOF);
	sl_buf_unref(b);
}

/* ---- codec ---- */

/* The exact bytes opendata writes for one entry ("a.batch", one metadata range) at sequence 7
 * with epoch 3: checked field by field so a layout change cannot pass unnoticed. */
static void layout_matches_opendata(void **state)
{
	(void)state;
	static const uint8_t want[] = {
		/* entry: body length 45 = 8 + 2 + 7 + 4 + (4 + 8 + 4 + 8) */
		45, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,	  /* sequence */
		7, 0, 'a', '.', 'b', 'a', 't', 'c', 'h',  /* location */
		1, 0, 0, 0,				  /* metadata count */
		2, 0, 0, 0,				  /* start index */
		0x00, 0x68, 0xe5, 0xcf, 0x8b, 0x01, 0, 0, /* ingestion ms 1700000000000 */
		8, 0, 0, 0, 'p', 'a', 'y', 'l', 'o', 'a', 'd', '!',
		/* footer */
		1, 0, 0, 0,		/* entry count */
		8, 0, 0, 0, 0, 0, 0, 0, /* next sequence */
		3, 0, 0, 0, 0, 0, 0, 0, /* epoch */
		1, 0,			/* version */
	};
	struct sl_manifest_meta meta = {2, 1700000000000LL, (const uint8_t *)"payload!", 8};
	uint8_t buf[128];
	size_t n = sl_manifest_entry_encode(buf, 7, "a.batch", 7, &meta, 1);
	assert_int_equal(n, sl_manifest_entry_len(7, &meta, 1));
	struct sl_manifest_footer f = {1, 8, 3, SL_MANIFEST_VERSION};
	sl_manifest_footer_encode(buf + n, &f);
	n += SL_MANIFEST_FOOTER_LEN;
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));

	/* And it decodes back. */
	struct sl_manifest_iter it;
	struct sl_manifest_rec rec;
	struct sl_manifest_footer g;
	assert_int_equal(sl_manifest_iter_init(&it, want, sizeof(want), &g, NULL), 0);
	assert_int_equal(g.count, 1);
	assert_int_equal(g.next_sequence, 8);
	assert_int_equal(g.epoch, 3);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_int_equal(rec.sequence, 7);
	assert_int_equal(rec.location_len, 7);
	assert_memory_equal(rec.location, "a.batch", 7);
	const uint8_t *cur = rec.meta;
	struct sl_manifest_meta m2;
	assert_int_equal(sl_manifest_meta_next(&rec, &cur, &m2), 0);
	assert_int_equal(m2.start_index, 2);
	assert_int_equal(m2.ingestion_time_ms, 1700000000000LL);
	assert_int_equal(m2.payload_len, 8);
	assert_memory_equal(m2.payload, "payload!", 8);
	assert_int_equal(sl_manifest_meta_next(&rec, &cur, &m2), SL_EEOF);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), SL_EEOF);
}

static void decoder_names_failures(void **state)
{
	(void)state;
	struct sl_manifest_footer f;
	const char *why = NULL;
	uint8_t buf[64] = {0};
	assert_int_equal(sl_manifest_footer_decode(buf, 0, &f, &why), SL_ETRUNC);
	assert_string_equal(why, "empty manifest");
	assert_int_equal(sl_manifest_footer_decode(buf, 21, &f, &why), SL_ETRUNC);
	assert_non_null(strstr(why, "shorter than the footer"));

	struct sl_manifest_footer ok = {0, 0, 0, 2};
	sl_manifest_footer_encode(buf, &ok);
	assert_int_equal(sl_manifest_footer_decode(buf, 22, &f, &why), SL_ENOTSUP);
	assert_non_null(strstr(why, "unknown manifest version"));

	struct sl_manifest_footer bad = {5, 2, 0, 1};
	sl_manifest_footer_encode(buf, &bad);
	assert_int_equal(sl_manifest_footer_decode(buf, 22, &f, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "bad footer"));

	/* A count larger than the bytes can hold. */
	struct sl_manifest_footer big = {3, 3, 0, 1};
	sl_manifest_footer_encode(buf, &big);
	assert_int_equal(sl_manifest_footer_decode(buf, 22, &f, &why), SL_ECORRUPT);

	/* The empty manifest decodes. */
	struct sl_manifest_footer empty = {0, 9, 4, 1};
	sl_manifest_footer_encode(buf, &empty);
	assert_int_equal(sl_manifest_validate(buf, 22, &f, &why), 0);
	assert_int_equal(f.next_sequence, 9);
	assert_int_equal(f.epoch, 4);
}

/* Builds a valid manifest of three entries in buf; returns its length. */
static size_t three_entries(uint8_t *buf)
{
	struct sl_manifest_meta meta = {0, 5, (const uint8_t *)"m", 1};
	size_t n = 0;
	n += sl_manifest_entry_encode(buf + n, 10, "d/a", 3, &meta, 1);
	n += sl_manifest_entry_encode(buf + n, 11, "d/bb", 4, NULL, 0);
	n += sl_manifest_entry_encode(buf + n, 12, "d/ccc", 5, &meta, 1);
	struct sl_manifest_footer f = {3, 13, 1, 1};
	sl_manifest_footer_encode(buf + n, &f);
	return n + SL_MANIFEST_FOOTER_LEN;
}

static void truncated_and_bitflipped_manifests(void **state)
{
	(void)state;
	uint8_t buf[256];
	size_t n = three_entries(buf);
	struct sl_manifest_footer f;
	const char *why;
	assert_int_equal(sl_manifest_validate(buf, n, &f, NULL), 0);

	/* Dropping bytes from the front (a torn object): never accepted. */
	for (size_t cut = 1; cut < n; cut++) {
		int rc = sl_manifest_validate(buf + cut, n - cut, &f, &why);
		assert_true(rc == SL_ETRUNC || rc == SL_ECORRUPT || rc == SL_ENOTSUP);
	}
	/* Truncating the tail destroys the footer: never accepted either. */
	for (size_t keep = 0; keep < n; keep++)
		assert_int_not_equal(sl_manifest_validate(buf, keep, &f, &why), 0);

	/* Every single-bit flip is either caught, or leaves a manifest that is still fully valid
	 * (a flip inside a location or payload, or the epoch): the decoder never reads out of
	 * bounds and never accepts a broken structure. */
	int caught = 0;
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			int rc = sl_manifest_validate(buf, n, &f, &why);
			if (rc != 0) {
				assert_true(rc == SL_ETRUNC || rc == SL_ECORRUPT ||
					    rc == SL_ENOTSUP);
				assert_non_null(why);
				caught++;
			}
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_true(caught > (int)n); /* the structural bytes dominate */

	/* A sequence gap is named. */
	buf[4] = 20; /* first entry's sequence low byte */
	assert_int_equal(sl_manifest_validate(buf, n, &f, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "sequence"));
	buf[4] = 10;

	/* Trailing garbage between the entries and the footer. */
	uint8_t big[300];
	size_t entries = n - SL_MANIFEST_FOOTER_LEN;
	memcpy(big, buf, entries);
	big[entries] = 0xAA;
	memcpy(big + entries + 1, buf + entries, SL_MANIFEST_FOOTER_LEN);
	assert_int_equal(sl_manifest_validate(big, n + 1, &f, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "left over"));
}

static void entry_encode_rejects_bad_locations(void **state)
{
	(void)state;
	uint8_t buf[64];
	assert_int_equal(sl_manifest_entry_encode(buf, 0, "", 0, NULL, 0), 0);
	assert_int_equal(sl_manifest_entry_encode(buf, 0, "x", 65536, NULL, 0), 0);
}

/* ---- client ---- */

/* queue.rs: should_initialize_consumer_and_increment_epoch */
static void should_initialize_consumer_and_increment_epoch(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *c = client(s, 1);
	assert_int_equal(sl_manifest_epoch(c), SL_MANIFEST_NO_EPOCH);
	assert_int_equal(fence(c), 0);
	assert_int_equal(sl_manifest_epoch(c), 1);
	char out[64];
	struct sl_manifest_footer f;
	list(s, out, sizeof(out), &f);
	assert_int_equal(f.epoch, 1);
	assert_int_equal(f.count, 0);
	assert_int_equal(fence(c), 0);
	assert_int_equal(sl_manifest_epoch(c), 2);
	sl_manifest_free(c);
	sl_objstore_memory_destroy(s);
}

static void enqueue_assigns_gapless_sequences(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 1);
	uint64_t seq;
	assert_int_equal(enqueue(p, "a.batch", &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(enqueue(p, "b.batch", &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(enqueue(p, "c.batch", &seq), 0);
	assert_int_equal(seq, 2);
	assert_int_equal(sl_manifest_len(p), 3);
	char out[128];
	struct sl_manifest_footer f;
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "0:a.batch,1:b.batch,2:c.batch");
	assert_int_equal(f.next_sequence, 3);

	/* Enqueue keeps the consumer's epoch. */
	struct sl_manifest *c = client(s, 2);
	assert_int_equal(fence(c), 0);
	assert_int_equal(enqueue(p, "d.batch", &seq), 0);
	list(s, out, sizeof(out), &f);
	assert_int_equal(f.epoch, 1);

	/* Dequeue a prefix; later enqueues continue the run. */
	uint32_t removed;
	assert_int_equal(dequeue(c, 1, &removed), 0);
	assert_int_equal(removed, 2);
	assert_int_equal(dequeue(c, 1, &removed), 0); /* nothing left to remove: no write */
	assert_int_equal(removed, 0);
	assert_int_equal(enqueue(p, "e.batch", &seq), 0);
	assert_int_equal(seq, 4);
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "2:c.batch,3:d.batch,4:e.batch");
	/* Dequeue everything; the next sequence survives. */
	assert_int_equal(dequeue(c, 100, &removed), 0);
	assert_int_equal(removed, 3);
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "");
	assert_int_equal(f.next_sequence, 5);
	assert_int_equal(sl_manifest_len(c), 0);

	/* Start-time validation. */
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(p, &op, "", NULL, 0), SL_EINVAL);
	assert_int_equal(sl_manifest_enqueue(p, &op, NULL, NULL, 0), SL_EINVAL);
	sl_manifest_free(p);
	sl_manifest_free(c);
	sl_objstore_memory_destroy(s);
}

/* Several entries in one read-modify-write: consecutive sequences, metadata kept, one write
 * even across a conflict, and the same start-time checks as a single enqueue. */
static void enqueue_many_in_one_write(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 3);
	assert_int_equal(enqueue(p, "a.batch", NULL), 0);
	struct sl_manifest_meta meta = {5, 1700000000000, (const uint8_t *)"xy", 2};
	struct sl_manifest_entry_in e[3] = {
		{"b.batch", NULL, 0}, {"c.batch", &meta, 1}, {"d.batch", NULL, 0}};
	sl_objstore_memory_force_precond(s, 1);
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue_many(p, &op, e, 3), 0);
	assert_int_equal(run(p, &op), 0);
	assert_int_equal(op.sequence, 1);
	assert_int_equal(op.attempts, 2);
	assert_int_equal(op.footer.count, 4);
	assert_int_equal(op.footer.next_sequence, 4);
	char out[128];
	struct sl_manifest_footer f;
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "0:a.batch,1:b.batch,2:c.batch,3:d.batch");
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_GET;
	r.key = KEY;
	assert_int_equal(sl_objstore_run(s, &r), 0);
	struct sl_manifest_iter it;
	struct sl_manifest_rec rec;
	assert_int_equal(sl_manifest_iter_init(&it, r.data->data, r.data->len, &f, NULL), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_int_equal(rec.meta_count, 1);
	const uint8_t *cur = rec.meta;
	struct sl_manifest_meta got;
	assert_int_equal(sl_manifest_meta_next(&rec, &cur, &got), 0);
	assert_int_equal(got.start_index, 5);
	assert_int_equal(got.payload_len, 2);
	assert_memory_equal(got.payload, "xy", 2);
	sl_obj_req_reset(&r);
	struct sl_manifest_entry_in bad[2] = {{"e.batch", NULL, 0}, {"", NULL, 0}};
	assert_int_equal(sl_manifest_enqueue_many(p, &op, bad, 2), SL_EINVAL);
	assert_int_equal(sl_manifest_enqueue_many(p, &op, e, 0), SL_EINVAL);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

/* queue.rs: should_read_entry_by_sequence (the client returns the bytes; the caller finds it) */
static void should_read_entry_by_sequence(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 1);
	struct sl_manifest_meta meta = {0, 42, (const uint8_t *)"{}", 2};
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(p, &op, "a.batch", &meta, 1), 0);
	assert_int_equal(run(p, &op), 0);
	assert_int_equal(enqueue(p, "b.batch", NULL), 0);
	struct sl_manifest *c = client(s, 2);
	assert_int_equal(fence(c), 0);
	memset(&op, 0, sizeof(op));
	assert_int_equal(sl_manifest_read(c, &op), 0);
	assert_int_equal(run(c, &op), 0);
	assert_non_null(op.data);
	struct sl_manifest_iter it;
	struct sl_manifest_rec rec;
	struct sl_manifest_footer f;
	assert_int_equal(sl_manifest_iter_init(&it, op.data->data, op.data->len, &f, NULL), 0);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_int_equal(rec.meta_count, 1);
	assert_int_equal(sl_manifest_iter_next(&it, &rec, NULL), 0);
	assert_int_equal(rec.sequence, 1);
	assert_memory_equal(rec.location, "b.batch", 7);
	sl_manifest_op_release(&op);
	assert_null(op.data);
	sl_manifest_free(p);
	sl_manifest_free(c);
	sl_objstore_memory_destroy(s);
}

/* queue.rs: should_peek_none_when_queue_is_empty (a missing manifest reads as empty) */
static void should_peek_none_when_queue_is_empty(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *g = client(s, 1);
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_read(g, &op), 0);
	assert_int_equal(run(g, &op), 0);
	assert_null(op.data);
	assert_int_equal(op.footer.count, 0);
	assert_int_equal(op.footer.version, SL_MANIFEST_VERSION);
	sl_manifest_free(g);
	sl_objstore_memory_destroy(s);
}

/* queue.rs: should_fence_old_consumer_on_peek / _on_dequeue */
static void should_fence_old_consumer(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *a = client(s, 1), *b = client(s, 2), *p = client(s, 3);
	assert_int_equal(fence(a), 0);
	assert_int_equal(enqueue(p, "x.batch", NULL), 0);
	assert_int_equal(fence(b), 0);
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_read(a, &op), 0);
	assert_int_equal(run(a, &op), SL_EFENCED);
	assert_null(op.data);
	assert_int_equal(dequeue(a, 0, NULL), SL_EFENCED);
	/* The new consumer is fine, the producer too. */
	assert_int_equal(dequeue(b, 0, NULL), 0);
	assert_int_equal(enqueue(p, "y.batch", NULL), 0);
	/* A client that never fenced may not dequeue. */
	assert_int_equal(dequeue(p, 5, NULL), SL_EFENCED);
	struct sl_manifest_stats st;
	sl_manifest_stats(a, &st);
	assert_int_equal(st.fenced, 2);
	sl_manifest_free(a);
	sl_manifest_free(b);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

/* A consumer whose dequeue read the manifest before another consumer fenced it: its
 * conditional put fails, and the retry finds the new epoch. */
static void fenced_between_read_and_write(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *a = client(s, 1), *b = client(s, 2), *p = client(s, 3);
	assert_int_equal(fence(a), 0);
	assert_int_equal(enqueue(p, "x.batch", NULL), 0);
	uint64_t t = now;
	sl_objstore_memory_delay(s, SL_OBJ_PUT, 1000000);
	struct sl_manifest_op da = {0};
	assert_int_equal(sl_manifest_dequeue(a, &da, 0), 0);
	sl_objstore_poll(s, t); /* a's GET completes; its PUT is delayed */
	sl_objstore_memory_delay(s, SL_OBJ_PUT, 0);
	struct sl_manifest_op fb = {0};
	assert_int_equal(sl_manifest_fence(b, &fb), 0);
	sl_objstore_poll(s, t + 1); /* b's GET */
	sl_objstore_poll(s, t + 2); /* b's PUT wins */
	assert_int_equal(fb.state_, 0);
	assert_int_equal(fb.result, 0);
	now = t + 3;
	assert_int_equal(run(a, &da), SL_EFENCED);
	struct sl_manifest_stats st;
	sl_manifest_stats(a, &st);
	assert_int_equal(st.conflicts, 1);
	char out[64];
	struct sl_manifest_footer f;
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "0:x.batch"); /* nothing was removed */
	assert_int_equal(f.epoch, 2);
	sl_manifest_free(a);
	sl_manifest_free(b);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

static void conflicts_retry_with_backoff(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 7);
	assert_int_equal(enqueue(p, "a.batch", NULL), 0);
	sl_objstore_memory_force_precond(s, 3);
	uint64_t t0 = now;
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(p, &op, "b.batch", NULL, 0), 0);
	assert_int_equal(run(p, &op), 0);
	assert_int_equal(op.attempts, 4);
	assert_int_equal(op.sequence, 1);
	/* Three backoffs of at least 0.5, 1 and 2 ms (half of 1, 2, 4 ms before jitter). */
	assert_true(now - t0 >= 3500000);
	struct sl_manifest_stats st;
	sl_manifest_stats(p, &st);
	assert_int_equal(st.writes, 5);
	assert_int_equal(st.conflicts, 3);
	assert_float_equal(sl_manifest_conflict_rate(p), 0.6, 1e-9);
	char out[64];
	struct sl_manifest_footer f;
	list(s, out, sizeof(out), &f);
	assert_string_equal(out, "0:a.batch,1:b.batch");
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

static void conflicts_give_up_after_max_attempts(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest_config cfg;
	sl_manifest_config_default(&cfg);
	cfg.key = KEY;
	cfg.max_attempts = 3;
	struct sl_manifest *p = sl_manifest_new(s, &cfg);
	sl_objstore_memory_force_precond(s, 100);
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(p, &op, "a.batch", NULL, 0), 0);
	assert_int_equal(run(p, &op), SL_EBUSY);
	assert_int_equal(op.attempts, 3);
	struct sl_manifest_stats st;
	sl_manifest_stats(p, &st);
	assert_int_equal(st.exhausted, 1);
	assert_float_equal(sl_manifest_conflict_rate(p), 1.0, 1e-9);
	assert_int_equal(sl_manifest_inflight(p), 0);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

/* The jitter is a function of the seed: the same seed replays the same delays. */
static uint64_t backoff_time(uint64_t seed)
{
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, seed);
	sl_objstore_memory_force_precond(s, 5);
	uint64_t t = 0;
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_enqueue(p, &op, "a.batch", NULL, 0), 0);
	assert_int_equal(sl_manifest_run(p, &op, &t, 1000), 0);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
	return t;
}

static void backoff_is_deterministic_per_seed(void **state)
{
	(void)state;
	assert_int_equal(backoff_time(11), backoff_time(11));
	assert_int_not_equal(backoff_time(11), backoff_time(12));
}

static void store_errors_and_corruption_surface(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 1);
	sl_objstore_memory_fail_next(s, SL_OBJ_GET, 1, SL_EIO);
	assert_int_equal(enqueue(p, "a.batch", NULL), SL_EIO);
	sl_objstore_memory_fail_next(s, SL_OBJ_PUT, 1, SL_EIO);
	assert_int_equal(enqueue(p, "a.batch", NULL), SL_EIO);
	/* Nothing was written by the failed attempts. */
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_read(p, &op), 0);
	assert_int_equal(run(p, &op), 0);
	assert_null(op.data);

	put_raw(s, "garbage-garbage-garbage-garbage", 31);
	assert_int_equal(enqueue(p, "a.batch", NULL), SL_ENOTSUP);
	uint8_t buf[256];
	size_t n = three_entries(buf);
	put_raw(s, buf, n - 1);
	assert_int_not_equal(enqueue(p, "a.batch", NULL), 0);
	put_raw(s, buf, 10);
	assert_int_equal(enqueue(p, "a.batch", NULL), SL_ETRUNC);
	struct sl_manifest_stats st;
	sl_manifest_stats(p, &st);
	assert_int_equal(st.corrupt, 3);
	assert_int_equal(st.errors, 2);

	/* A valid foreign manifest is appended to after its last sequence. */
	put_raw(s, buf, n);
	uint64_t seq;
	assert_int_equal(enqueue(p, "d/dddd", &seq), 0);
	assert_int_equal(seq, 13);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

static void busy_op_is_refused(void **state)
{
	(void)state;
	struct sl_objstore *s = sl_objstore_memory_new(NULL);
	struct sl_manifest *p = client(s, 1);
	struct sl_manifest_op op = {0};
	assert_int_equal(sl_manifest_read(p, &op), 0);
	assert_int_equal(sl_manifest_read(p, &op), SL_EBUSY);
	assert_int_equal(sl_manifest_inflight(p), 1);
	assert_int_equal(run(p, &op), 0);
	sl_manifest_free(p);
	sl_objstore_memory_destroy(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(layout_matches_opendata),
		cmocka_unit_test(decoder_names_failures),
		cmocka_unit_test(truncated_and_bitflipped_manifests),
		cmocka_unit_test(entry_encode_rejects_bad_locations),
		cmocka_unit_test(should_initialize_consumer_and_increment_epoch),
		cmocka_unit_test(enqueue_assigns_gapless_sequences),
		cmocka_unit_test(enqueue_many_in_one_write),
		cmocka_unit_test(should_read_entry_by_sequence),
		cmocka_unit_test(should_peek_none_when_queue_is_empty),
		cmocka_unit_test(should_fence_old_consumer),
		cmocka_unit_test(fenced_between_read_and_write),
		cmocka_unit_test(conflicts_retry_with_backoff),
		cmocka_unit_test(conflicts_give_up_after_max_attempts),
		cmocka_unit_test(backoff_is_deterministic_per_seed),
		cmocka_unit_test(store_errors_and_corruption_surface),
		cmocka_unit_test(busy_op_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
