/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log protocol's server session over a real durable shard (memory object store, metadata
 * log in memory): the client's bytes are made by the real encoders of log/proto.h, fed in
 * pieces, and the server's bytes are decoded the same way.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "drivers/objstore/memory.h"
#include "durable/logsrv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)

static struct sl_stream_set *streams;
static struct sl_objstore *store;
static struct sl_dshard *ds;
static struct sl_metalog *mlog;
static struct sl_logsrv *srv;
static uint64_t now;

/* ---- the index: the metadata log in memory, answered on the next turn ---- */

static struct sl_dseg_pub *pending[1024];
static int npending;

static int ix_publish(void *arg, struct sl_dseg_pub *pub)
{
	(void)arg;
	pending[npending++] = pub;
	return 0;
}

static const struct sl_dindex_ops index_ops = {.publish = ix_publish};

/* ---- the transport: what the server writes, per stream ---- */

/* One stream (its handle is the struct out): what the server wrote on it, and the server's
 * pointer for it. */
struct out {
	int64_t id;
	struct sl_logsrv_stream *user; /* NULL until opened, and once released */
	bool opened, released;
	uint64_t unacked; /* written, not yet acknowledged to the server */
	uint8_t *b;
	size_t n, cap, read;
	bool fin, reset;
	uint64_t reset_code;
};

static struct out outs[16];
static int nouts;
/* The client acknowledges nothing while set; otherwise every turn acknowledges all. */
static bool acks_held;

static struct out *out_of(int64_t id)
{
	for (int i = 0; i < nouts; i++)
		if (outs[i].id == id)
			return &outs[i];
	assert_true(nouts < 16);
	memset(&outs[nouts], 0, sizeof(outs[nouts]));
	outs[nouts].id = id;
	return &outs[nouts++];
}

/* The server's pointer for the client's stream id, handed over when the stream opens. */
static struct sl_logsrv_stream *stream_of(int64_t id)
{
	struct out *o = out_of(id);
	if (!o->opened) {
		o->opened = true;
		o->user = sl_logsrv_stream_open(srv, o);
	}
	return o->user;
}

static int t_write(void *t, void *h, struct sl_slice data, bool fin)
{
	(void)t;
	struct out *o = h;
	assert_false(o->released);
	if (o->n + data.len > o->cap) {
		o->cap = (o->n + data.len) * 2 + 64;
		o->b = realloc(o->b, o->cap);
	}
	if (data.len)
		memcpy(o->b + o->n, data.buf->data + data.off, data.len);
	o->n += data.len;
	o->unacked += data.len;
	o->fin |= fin;
	sl_buf_unref(data.buf);
	return 0;
}

static int t_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	struct out *o = h;
	assert_false(o->released);
	o->reset = true;
	o->reset_code = code;
	return 0;
}

static void t_release(void *t, void *h)
{
	(void)t;
	struct out *o = h;
	assert_false(o->released);
	o->released = true;
	o->user = NULL;
}

static const struct sl_logsrv_transport tops = {t_write, t_reset, t_release};

/* The client acknowledges everything it received (unless acks_held). */
static void ack_all(void)
{
	for (int i = 0; i < nouts && !acks_held; i++) {
		if (outs[i].user && outs[i].unacked)
			sl_logsrv_stream_acked(srv, outs[i].user, outs[i].unacked);
		outs[i].unacked = 0;
	}
}

/* ---- the router: every partition is this shard's ---- */

static const struct sl_stream_set *r_streams(void *arg)
{
	(void)arg;
	return streams;
}

static uint16_t r_owner(void *arg, const struct sl_stream_def *d, uint32_t p)
{
	(void)arg;
	(void)d;
	return (uint16_t)(p % 2); /* two owners, for the HWM grouping; one shard serves both */
}

static void r_submit(void *arg, struct sl_dreq *r)
{
	(void)arg;
	sl_dshard_submit(ds, r, now);
}

static const struct sl_logsrv_router router = {r_streams, r_owner, r_submit};

static void turn(void)
{
	now += 200 * 1000;
	int n = npending;
	npending = 0;
	for (int i = 0; i < n; i++) {
		struct sl_dseg_pub *p = pending[i];
		int64_t off;
		p->status = sl_metalog_publish(mlog, p->meta_partition, sl_slice_of(p->payload),
					       NULL, &off);
		p->payload = NULL;
		sl_dshard_index_done(ds, p, now);
	}
	sl_dshard_poll(ds, now);
	if (srv) {
		ack_all();
		sl_logsrv_poll(srv, now);
	}
}

static void turns(int n)
{
	for (int i = 0; i < n; i++)
		turn();
}

static int setup(void **state)
{
	(void)state;
	now = 1000 * MS;
	npending = 0;
	nouts = 0;
	acks_held = false;
	struct sl_stream_def d[1];
	memset(d, 0, sizeof(d));
	d[0].id = 5;
	snprintf(d[0].name, sizeof(d[0].name), "orders");
	d[0].partitions = 3;
	d[0].max_record_bytes = 100;
	streams = sl_stream_set_new(d, 1, 1);
	store = sl_objstore_memory_new(NULL);
	assert_int_equal(sl_metalog_new(NULL, &mlog), 0);
	struct sl_dshard_config c;
	sl_dshard_config_default(&c);
	c.store = store;
	c.index = &index_ops;
	c.max_partitions = 8;
	assert_int_equal(sl_dshard_new(&c, streams, NULL, now, &ds), 0);
	struct sl_logsrv_config lc;
	sl_logsrv_config_default(&lc);
	lc.park_ns = 50 * MS;
	lc.sub_window = 1000;
	srv = sl_logsrv_new(&lc, &tops, NULL, &router, NULL);
	assert_non_null(srv);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sl_logsrv_free(srv);
	srv = NULL;
	for (int i = 0; i < 1000 && sl_dshard_stop(ds, now) == SL_EAGAIN; i++)
		turn();
	sl_dshard_free(ds);
	sl_metalog_free(mlog);
	sl_objstore_destroy(store);
	sl_stream_set_unref(streams);
	for (int i = 0; i < nouts; i++)
		free(outs[i].b);
	return 0;
}

/* ---- client helpers ---- */

static uint8_t cbuf[1 << 16];

/* Feeds n bytes on stream id in pieces of piece bytes (0: all at once). */
static void feed(int64_t id, const uint8_t *p, size_t n, size_t piece, bool fin)
{
	if (piece == 0)
		piece = n ? n : 1;
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;
		sl_logsrv_stream_data(srv, stream_of(id), p + off, k, fin && off + k == n);
	}
	if (n == 0)
		sl_logsrv_stream_data(srv, stream_of(id), p, 0, fin);
}

static size_t enc_produce(uint8_t *at, size_t cap, uint64_t rid, const char *stream, int partition,
			  const char *key, uint8_t durability, const char *const *vals, uint32_t n)
{
	struct sl_lp_bytes recs[16];
	for (uint32_t i = 0; i < n; i++)
		recs[i] = (struct sl_lp_bytes){(const uint8_t *)vals[i], strlen(vals[i])};
	struct sl_lp_produce m = {.request_id = rid,
				  .stream = {(const uint8_t *)stream, strlen(stream)},
				  .keyed = key != NULL,
				  .partition = partition < 0 ? 0 : (uint32_t)partition,
				  .durability = durability,
				  .count = n};
	if (key)
		m.key = (struct sl_lp_bytes){(const uint8_t *)key, strlen(key)};
	struct sl_writer w;
	sl_writer_init(&w, at, cap);
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	return sl_writer_len(&w);
}

/* The next whole server message on stream id, or false. */
static bool next_msg(int64_t id, struct sl_lp_header *h, const uint8_t **body)
{
	struct out *o = out_of(id);
	if (o->b == NULL || sl_lp_header_parse(o->b + o->read, o->n - o->read, h) != 0)
		return false;
	if (o->n - o->read < h->hdr_len + h->len)
		return false;
	*body = o->b + o->read + h->hdr_len;
	o->read += h->hdr_len + h->len;
	return true;
}

static void expect_ok(int64_t id, uint64_t rid, uint32_t partition, uint64_t first, uint32_t count)
{
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	for (int i = 0; i < 200 && !next_msg(id, &h, &b); i++)
		turn();
	if (h.type == SL_LP_ERROR) {
		struct sl_lp_error e;
		assert_int_equal(sl_lp_decode_error(b, h.len, &e, NULL), 0);
		fail_msg("request %llu answered with error %llu: %.*s",
			 (unsigned long long)e.request_id, (unsigned long long)e.code,
			 (int)e.reason.n, (const char *)e.reason.p);
	}
	assert_int_equal(h.type, SL_LP_PRODUCE_OK);
	struct sl_lp_produce_ok ok;
	assert_int_equal(sl_lp_decode_produce_ok(b, h.len, &ok, NULL), 0);
	assert_int_equal(ok.request_id, rid);
	assert_int_equal(ok.partition, partition);
	assert_int_equal(ok.first_offset, first);
	assert_int_equal(ok.count, count);
}

static struct sl_lp_error expect_error(int64_t id, uint64_t rid, uint64_t code)
{
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	for (int i = 0; i < 200 && !next_msg(id, &h, &b); i++)
		turn();
	assert_int_equal(h.type, SL_LP_ERROR);
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(b, h.len, &e, NULL), 0);
	assert_int_equal(e.request_id, rid);
	if (e.code != code)
		fail_msg("error code %llu (%.*s), want %llu", (unsigned long long)e.code,
			 (int)e.reason.n, (const char *)e.reason.p, (unsigned long long)code);
	return e;
}

/* ---- tests ---- */

static void produce_is_answered_with_offsets(void **state)
{
	(void)state;
	const char *v[] = {"a", "bb", "ccc"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 2, NULL, SL_LP_DURABLE, v, 3);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 2, 0, 3);
	n = enc_produce(cbuf, sizeof(cbuf), 2, "orders", 2, NULL, SL_LP_APPLIED, v, 1);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 2, 2, 3, 1);
	/* A key picks its partition by the documented hash. */
	uint32_t kp = sl_lp_key_partition((const uint8_t *)"user-1", 6, 3);
	n = enc_produce(cbuf, sizeof(cbuf), 3, "orders", -1, "user-1", SL_LP_WRITTEN, v, 2);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 3, kp, kp == 2 ? 4 : 0, 2);
	struct sl_logsrv_stats st;
	sl_logsrv_stats(srv, &st);
	assert_int_equal(st.produce_ok, 3);
	assert_int_equal(st.inflight, 0);
}

/* A PRODUCE_IDEM sent again (here on another stream, as after a reconnection) is answered with
 * PRODUCE_DUP and the original offsets; a gap with OUT_OF_ORDER_SEQUENCE naming the expected
 * sequence. */
static void idempotent_retries_get_produce_dup(void **state)
{
	(void)state;
	struct sl_lp_bytes recs[2] = {{(const uint8_t *)"x", 1}, {(const uint8_t *)"yy", 2}};
	struct sl_lp_produce m = {.request_id = 1,
				  .stream = {(const uint8_t *)"orders", 6},
				  .partition = 1,
				  .durability = SL_LP_DURABLE,
				  .count = 2,
				  .idempotent = true,
				  .producer_id = 555,
				  .sequence = 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	feed(0, cbuf, sl_writer_len(&w), 0, false);
	expect_ok(0, 1, 1, 0, 2);
	m.request_id = 7;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	feed(1, cbuf, sl_writer_len(&w), 0, false);
	struct sl_lp_header h;
	const uint8_t *b;
	for (int i = 0; i < 200 && !next_msg(1, &h, &b); i++)
		turn();
	assert_int_equal(h.type, SL_LP_PRODUCE_DUP);
	struct sl_lp_produce_ok ok;
	assert_int_equal(sl_lp_decode_produce_ok(b, h.len, &ok, NULL), 0);
	assert_true(ok.request_id == 7 && ok.partition == 1 && ok.first_offset == 0 &&
		    ok.count == 2);
	m.request_id = 8;
	m.sequence = 5;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	feed(1, cbuf, sl_writer_len(&w), 0, false);
	struct sl_lp_error e = expect_error(1, 8, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE);
	assert_int_equal(e.detail, 2);
	assert_int_equal(e.partition, 1);
	assert_non_null(memmem(e.reason.p, e.reason.n, "expects sequence 2", 18));
	struct sl_dshard_stats st;
	sl_dshard_stats(ds, &st);
	assert_int_equal(st.produce_duplicates, 1);
	assert_int_equal(st.produce_records, 2);
}

static void pipelined_requests_split_anywhere(void **state)
{
	(void)state;
	const char *v[] = {"x", "yy"};
	size_t n = 0;
	for (uint64_t r = 1; r <= 6; r++)
		n += enc_produce(cbuf + n, sizeof(cbuf) - n, r, "orders", (int)(r % 3), NULL,
				 SL_LP_DURABLE, v, 2);
	/* Byte by byte: every split point of every message. */
	feed(4, cbuf, n, 1, true);
	uint64_t next[3] = {0, 0, 0};
	for (uint64_t r = 1; r <= 6; r++) {
		uint32_t p = (uint32_t)(r % 3);
		expect_ok(4, r, p, next[p], 2);
		next[p] += 2;
	}
	turns(5);
	assert_true(out_of(4)->fin); /* the client finished and every answer went out */
}

static void bad_requests_get_errors_and_the_stream_goes_on(void **state)
{
	(void)state;
	const char *v[] = {"ok"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 7, "nope", 0, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	struct sl_lp_error e = expect_error(0, 7, SL_LP_ERR_UNKNOWN_STREAM);
	assert_true(e.reason.n > 0 && memmem(e.reason.p, e.reason.n, "nope", 4) != NULL);
	n = enc_produce(cbuf, sizeof(cbuf), 8, "orders", 3, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	e = expect_error(0, 8, SL_LP_ERR_PARTITION_RANGE);
	assert_int_equal(e.partition, 3);
	n = enc_produce(cbuf, sizeof(cbuf), 9, "bad/name", 0, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	expect_error(0, 9, SL_LP_ERR_UNKNOWN_STREAM);
	char big[102];
	memset(big, 'z', 101);
	big[101] = 0;
	const char *vb[] = {"fine", big};
	n = enc_produce(cbuf, sizeof(cbuf), 10, "orders", 0, NULL, SL_LP_DURABLE, vb, 2);
	feed(0, cbuf, n, 0, false);
	expect_error(0, 10, SL_LP_ERR_RECORD_TOO_LARGE);
	n = enc_produce(cbuf, sizeof(cbuf), 11, "orders", 0, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 11, 0, 0, 1); /* nothing of the refused ones was stored */
}

static void malformed_input_resets_only_its_stream(void **state)
{
	(void)state;
	const char *v[] = {"ok"};
	/* A PRODUCE whose count says 2 but holds 1 record. */
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 0, NULL, SL_LP_DURABLE, v, 1);
	uint8_t bad[256];
	memcpy(bad, cbuf, n);
	/* Find the count byte (the varint before the record: 1) and make it 2. */
	bad[n - 4] = 2;
	feed(8, bad, n, 0, false);
	expect_error(8, 0, SL_LP_ERR_MALFORMED);
	assert_true(out_of(8)->reset);
	assert_int_equal(out_of(8)->reset_code, SL_LP_RESET_MALFORMED);
	/* An unknown message type and a subscription message on a request stream. */
	uint8_t junk[] = {0x3f, 0x00};
	feed(12, junk, sizeof(junk), 0, false);
	expect_error(12, 0, SL_LP_ERR_MALFORMED);
	/* A message larger than the limit is refused from its header alone. */
	uint8_t huge[] = {0x01, 0xbf, 0xff, 0xff, 0xff};
	feed(16, huge, sizeof(huge), 0, false);
	expect_error(16, 0, SL_LP_ERR_MALFORMED);
	/* Another stream is untouched. */
	n = enc_produce(cbuf, sizeof(cbuf), 2, "orders", 0, NULL, SL_LP_DURABLE, v, 1);
	feed(20, cbuf, n, 0, false);
	expect_ok(20, 2, 0, 0, 1);
	struct sl_logsrv_stats st;
	sl_logsrv_stats(srv, &st);
	assert_int_equal(st.decode_errors, 3);
}

static void hwm_reports_every_partition(void **state)
{
	(void)state;
	const char *v[] = {"a", "b"};
	/* One at a time: an applied answer may overtake a durable one. */
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 1, NULL, SL_LP_DURABLE, v, 2);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 1, 0, 2);
	n = enc_produce(cbuf, sizeof(cbuf), 2, "orders", 2, NULL, SL_LP_APPLIED, v, 1);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 2, 2, 0, 1);
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	struct sl_lp_hwm q = {5, {(const uint8_t *)"orders", 6}};
	assert_int_equal(sl_lp_write_hwm(&w, &q), 0);
	feed(0, cbuf, sl_writer_len(&w), 0, false);
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	for (int i = 0; i < 10 && !next_msg(0, &h, &b); i++)
		turn();
	assert_int_equal(h.type, SL_LP_HWM_OK);
	struct sl_lp_hwm_ok ok;
	assert_int_equal(sl_lp_decode_hwm_ok(b, h.len, NULL, &ok, NULL), 0);
	assert_int_equal(ok.request_id, 5);
	assert_int_equal(ok.count, 3);
	struct sl_lp_marks m;
	assert_int_equal(sl_lp_hwm_ok_entry(&ok, 0, &m), 0);
	assert_int_equal(m.high_water, 0);
	assert_int_equal(sl_lp_hwm_ok_entry(&ok, 1, &m), 0);
	assert_int_equal(m.high_water, 2);
	assert_int_equal(m.durable, 2);
	assert_int_equal(sl_lp_hwm_ok_entry(&ok, 2, &m), 0);
	assert_int_equal(m.high_water, 1);
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	q = (struct sl_lp_hwm){6, {(const uint8_t *)"other", 5}};
	assert_int_equal(sl_lp_write_hwm(&w, &q), 0);
	feed(0, cbuf, sl_writer_len(&w), 0, false);
	expect_error(0, 6, SL_LP_ERR_UNKNOWN_STREAM);
}

/* Reads the subscription stream's messages, checking offsets are consecutive per partition
 * from each STARTED; returns the number of records read and stores the last values. */
static uint64_t expect_started[3], got_next[3];
static bool started_seen[3], removed_seen[3];
static char last_val[3][32];

static uint64_t drain_sub(int64_t id)
{
	uint64_t recs = 0;
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	while (next_msg(id, &h, &b)) {
		if (h.type == SL_LP_STARTED) {
			struct sl_lp_started m;
			assert_int_equal(sl_lp_decode_started(b, h.len, &m, NULL), 0);
			assert_false(started_seen[m.partition]);
			started_seen[m.partition] = true;
			expect_started[m.partition] = m.offset;
			got_next[m.partition] = m.offset;
		} else if (h.type == SL_LP_RECORDS) {
			struct sl_lp_records m;
			assert_int_equal(sl_lp_decode_records(b, h.len, NULL, &m, NULL), 0);
			assert_true(started_seen[m.partition]);
			assert_int_equal(m.first_offset, got_next[m.partition]);
			got_next[m.partition] += m.count;
			struct sl_lp_record_iter it;
			struct sl_lp_bytes r;
			sl_lp_records_init(&it, m.records, m.count);
			while (sl_lp_records_next(&it, &r) == 0) {
				snprintf(last_val[m.partition], sizeof(last_val[0]), "%.*s",
					 (int)r.n, (const char *)r.p);
				recs++;
			}
		} else if (h.type == SL_LP_REMOVED) {
			uint32_t p;
			assert_int_equal(sl_lp_decode_removed(b, h.len, &p, NULL), 0);
			removed_seen[p] = true;
		} else {
			fail_msg("unexpected message 0x%llx", (unsigned long long)h.type);
		}
	}
	return recs;
}

static void subscriptions_deliver_backlog_then_live(void **state)
{
	(void)state;
	memset(started_seen, 0, sizeof(started_seen));
	memset(removed_seen, 0, sizeof(removed_seen));
	const char *v[] = {"r0", "r1", "r2"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 0, NULL, SL_LP_DURABLE, v, 3);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 0, 0, 3);
	/* From earliest on 0, from latest on 1. */
	struct sl_lp_start starts[2] = {{0, SL_LP_START_EARLIEST, 0}, {1, SL_LP_START_LATEST, 0}};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_DURABLE, starts, 2),
			 0);
	feed(4, cbuf, sl_writer_len(&w), 3, false);
	turns(3);
	assert_int_equal(drain_sub(4), 3);
	assert_int_equal(expect_started[0], 0);
	assert_string_equal(last_val[0], "r2");
	/* Live: new records on both partitions arrive once durable. */
	n = enc_produce(cbuf, sizeof(cbuf), 2, "orders", 0, NULL, SL_LP_DURABLE, v, 1);
	n += enc_produce(cbuf + n, sizeof(cbuf) - n, 3, "orders", 1, NULL, SL_LP_DURABLE, v, 2);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 2, 0, 3, 1);
	expect_ok(0, 3, 1, 0, 2);
	uint64_t got = 0;
	for (int i = 0; i < 50 && got < 3; i++) {
		turn();
		got += drain_sub(4);
	}
	assert_int_equal(got, 3);
	assert_true(started_seen[1]);
	assert_int_equal(expect_started[1], 0);
	assert_int_equal(got_next[0], 4);
	assert_int_equal(got_next[1], 2);
	/* An ASSIGN that removes an unassigned partition changes nothing. */
	uint32_t rm2 = 2;
	struct sl_lp_start add1 = {1, SL_LP_START_EARLIEST, 0};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_assign(&w, &add1, 1, &rm2, 1), 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	turns(2);
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	assert_true(next_msg(4, &h, &b));
	assert_int_equal(h.type, SL_LP_ERROR);
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(b, h.len, &e, NULL), 0);
	assert_int_equal(e.code, SL_LP_ERR_INVALID);
	assert_true(started_seen[1]); /* 1 is still assigned: adding it again was not done */
	/* ASSIGN: drop 1, add 2 from offset 0. */
	uint32_t rm = 1;
	struct sl_lp_start add = {2, SL_LP_START_OFFSET, 0};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_assign(&w, &add, 1, &rm, 1), 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	n = enc_produce(cbuf, sizeof(cbuf), 4, "orders", 1, NULL, SL_LP_DURABLE, v, 1);
	n += enc_produce(cbuf + n, sizeof(cbuf) - n, 5, "orders", 2, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 4, 1, 2, 1);
	expect_ok(0, 5, 2, 0, 1);
	got = 0;
	for (int i = 0; i < 50 && got < 1; i++) {
		turn();
		got += drain_sub(4);
	}
	turns(5);
	got += drain_sub(4);
	assert_int_equal(got, 1);
	assert_true(removed_seen[1]);
	assert_int_equal(got_next[1], 2); /* nothing of 1 after REMOVED */
	assert_int_equal(got_next[2], 1);
	/* The consumer finishes its side: the server answers with FIN and forgets it. */
	feed(4, cbuf, 0, 0, true);
	assert_true(out_of(4)->fin);
	struct sl_logsrv_stats st;
	sl_logsrv_stats(srv, &st);
	assert_int_equal(st.subscriptions, 0);
}

/* The window is counted from the client's acknowledgements: a consumer whose acks do not come
 * back gets nothing past sub_window bytes, and gets the rest once they do. */
static void a_full_window_stops_fetching(void **state)
{
	(void)state;
	memset(started_seen, 0, sizeof(started_seen));
	acks_held = true;
	char big[91];
	memset(big, 'b', 90);
	big[90] = '\0';
	const char *v[12];
	for (int i = 0; i < 12; i++)
		v[i] = big;
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 0, NULL, SL_LP_DURABLE, v, 12);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 0, 0, 12);
	struct sl_lp_start st0 = {0, SL_LP_START_EARLIEST, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_APPLIED, &st0, 1),
			 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	turns(10);
	/* The backlog in one answer: more than the 1000-byte window, not acknowledged. */
	assert_int_equal(drain_sub(4), 12);
	assert_true(out_of(4)->unacked > 1000);
	const char *w1[] = {"w"};
	n = enc_produce(cbuf, sizeof(cbuf), 2, "orders", 0, NULL, SL_LP_DURABLE, w1, 1);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 2, 0, 12, 1);
	turns(10);
	assert_int_equal(drain_sub(4), 0);
	assert_true(sl_logsrv_busy(srv)); /* waiting for its window */
	acks_held = false;
	turns(3);
	assert_int_equal(drain_sub(4), 1);
}

static void unknown_stream_subscription_ends(void **state)
{
	(void)state;
	struct sl_lp_start st0 = {0, SL_LP_START_EARLIEST, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w, (struct sl_lp_bytes){(const uint8_t *)"gone", 4},
					       SL_LP_ISO_DURABLE, &st0, 1),
			 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	expect_error(4, 0, SL_LP_ERR_UNKNOWN_STREAM);
	assert_true(out_of(4)->fin);
	/* A SUBSCRIBE applies whole or not at all: one partition out of range refuses it. */
	struct sl_lp_start two[2] = {{0, SL_LP_START_EARLIEST, 0}, {9, SL_LP_START_EARLIEST, 0}};
	struct sl_lp_bytes orders = {(const uint8_t *)"orders", 6};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w, orders, SL_LP_ISO_DURABLE, two, 2), 0);
	feed(8, cbuf, sl_writer_len(&w), 0, false);
	struct sl_lp_error e = expect_error(8, 0, SL_LP_ERR_PARTITION_RANGE);
	assert_int_equal(e.partition, 9);
	assert_true(out_of(8)->fin);
	turns(5);
	struct sl_lp_header h;
	const uint8_t *b = NULL;
	assert_false(next_msg(8, &h, &b)); /* nothing of partition 0 either */
	/* Twice the same partition is INVALID. */
	struct sl_lp_start dup[2] = {{1, SL_LP_START_EARLIEST, 0}, {1, SL_LP_START_LATEST, 0}};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w, orders, SL_LP_ISO_DURABLE, dup, 2), 0);
	feed(12, cbuf, sl_writer_len(&w), 0, false);
	e = expect_error(12, 0, SL_LP_ERR_INVALID);
	assert_int_equal(e.partition, 1);
	/* An explicit start past the high water mark is out of range, then REMOVED. */
	struct sl_lp_start far = {0, SL_LP_START_OFFSET, 5};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w, orders, SL_LP_ISO_DURABLE, &far, 1), 0);
	feed(16, cbuf, sl_writer_len(&w), 0, false);
	e = expect_error(16, 0, SL_LP_ERR_OFFSET_OUT_OF_RANGE);
	assert_int_equal(e.partition, 0);
	assert_int_equal(e.detail, 0);
	for (int i = 0; i < 10 && !next_msg(16, &h, &b); i++)
		turn();
	assert_int_equal(h.type, SL_LP_REMOVED);
}

static void freeing_the_session_orphans_requests(void **state)
{
	(void)state;
	/* Requests held by the shard when the connection goes: they free themselves (ASan
	 * checks). */
	sl_objstore_memory_hold_until(store, UINT64_MAX);
	const char *v[] = {"o"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 0, NULL, SL_LP_DURABLE, v, 1);
	feed(0, cbuf, n, 0, false);
	struct sl_lp_start st0 = {1, SL_LP_START_LATEST, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_DURABLE, &st0, 1),
			 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	turns(3);
	sl_logsrv_free(srv);
	sl_objstore_memory_hold_until(store, 0);
	struct sl_logsrv_config lc;
	sl_logsrv_config_default(&lc);
	srv = sl_logsrv_new(&lc, &tops, NULL, &router, NULL);
	turns(400); /* the produce completes, the parked fetch times out: both orphans */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- named consumers ---- */

/* The next message on stream id, waiting up to n turns; fails when none comes. */
static uint64_t wait_msg(int64_t id, int n, const uint8_t **body, size_t *len)
{
	struct sl_lp_header h;
	for (int i = 0; i < n; i++) {
		if (next_msg(id, &h, body)) {
			*len = (size_t)h.len;
			return h.type;
		}
		turn();
	}
	fail_msg("no message on stream %lld", (long long)id);
	return 0;
}

static void send_named(int64_t id, const char *consumer, uint8_t kind)
{
	struct sl_lp_start st = {0, kind, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe_named(
				 &w,
				 (struct sl_lp_bytes){(const uint8_t *)consumer, strlen(consumer)},
				 (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
				 SL_LP_ISO_DURABLE, &st, 1),
			 0);
	feed(id, cbuf, sl_writer_len(&w), 0, false);
}

static void send_commit(int64_t id, uint32_t partition, uint64_t offset)
{
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	struct sl_lp_commit c = {partition, offset};
	assert_int_equal(sl_lp_write_commit(&w, SL_LP_COMMIT, &c), 0);
	feed(id, cbuf, sl_writer_len(&w), 0, false);
}

static void expect_started_at(int64_t id, uint64_t offset)
{
	const uint8_t *b = NULL;
	size_t n = 0;
	assert_int_equal(wait_msg(id, 2000, &b, &n), SL_LP_STARTED);
	struct sl_lp_started m;
	assert_int_equal(sl_lp_decode_started(b, n, &m, NULL), 0);
	assert_int_equal(m.partition, 0);
	assert_int_equal(m.offset, offset);
}

static void expect_records_from(int64_t id, uint64_t first, uint32_t count)
{
	const uint8_t *b = NULL;
	size_t n = 0;
	assert_int_equal(wait_msg(id, 200, &b, &n), SL_LP_RECORDS);
	struct sl_lp_records m;
	assert_int_equal(sl_lp_decode_records(b, n, NULL, &m, NULL), 0);
	assert_int_equal(m.first_offset, first);
	assert_int_equal(m.count, count);
}

static void expect_commit_ok(int64_t id, uint64_t offset)
{
	const uint8_t *b = NULL;
	size_t n = 0;
	uint64_t t = wait_msg(id, 200, &b, &n);
	if (t == SL_LP_ERROR) {
		struct sl_lp_error e;
		assert_int_equal(sl_lp_decode_error(b, n, &e, NULL), 0);
		fail_msg("commit answered with error %llu: %.*s", (unsigned long long)e.code,
			 (int)e.reason.n, (const char *)e.reason.p);
	}
	assert_int_equal(t, SL_LP_COMMIT_OK);
	struct sl_lp_commit c;
	assert_int_equal(sl_lp_decode_commit(b, n, &c, NULL), 0);
	assert_int_equal(c.partition, 0);
	assert_int_equal(c.offset, offset);
}

/* A named consumer reads, commits, comes back on a new stream and resumes after its commit;
 * the new subscription fences the old one, whose commits are refused from then on. */
static void named_consumers_resume_and_fence(void **state)
{
	(void)state;
	const char *v[] = {"r0", "r1", "r2"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 0, NULL, SL_LP_DURABLE, v, 3);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 0, 0, 3);

	/* Nothing committed yet: from the earliest offset. */
	send_named(4, "billing", SL_LP_START_COMMITTED_OR_EARLIEST);
	expect_started_at(4, 0);
	expect_records_from(4, 0, 3);
	send_commit(4, 0, 2);
	expect_commit_ok(4, 2);

	/* The same name again: it starts where the commit said. */
	send_named(8, "billing", SL_LP_START_COMMITTED_OR_LATEST);
	expect_started_at(8, 2);
	expect_records_from(8, 2, 1);
	/* The older one, caught up and parked at the owner, is told at once (well within the
	 * 50 ms park time, which is 250 turns) and ends. */
	const uint8_t *b = NULL;
	size_t len = 0;
	assert_int_equal(wait_msg(4, 5, &b, &len), SL_LP_ERROR);
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(b, len, &e, NULL), 0);
	assert_int_equal(e.code, SL_LP_ERR_FENCED);
	assert_int_equal(e.partition, 0);
	assert_int_equal(e.detail, 2);
	assert_non_null(memmem(e.reason.p, e.reason.n, "billing", 7));
	assert_true(out_of(4)->fin);
	send_commit(8, 0, 3);
	expect_commit_ok(8, 3);

	/* Another name is independent: it has no commit, so latest. */
	send_named(12, "audit", SL_LP_START_COMMITTED_OR_LATEST);
	expect_started_at(12, 3);

	struct sl_dshard_stats ds_st;
	sl_dshard_stats(ds, &ds_st);
	assert_int_equal(ds_st.cons.commits, 2);
	assert_int_equal(ds_st.cons.consumers, 2);
	assert_true(ds_st.cons.fetches_fenced >= 1);
	struct sl_logsrv_stats st;
	sl_logsrv_stats(srv, &st);
	assert_int_equal(st.fenced, 1);
	assert_int_equal(st.commit_ok, 2);
}

/* A commit racing a newer claim is refused FENCED and ends the older subscription. */
static void a_commit_after_a_newer_claim_is_fenced(void **state)
{
	(void)state;
	send_named(4, "billing", SL_LP_START_COMMITTED_OR_EARLIEST);
	expect_started_at(4, 0);
	send_named(8, "billing", SL_LP_START_COMMITTED_OR_EARLIEST);
	expect_started_at(8, 0);
	/* Stream 4 may already have been told by a fetch; if not, its commit is refused. */
	send_commit(4, 0, 0);
	const uint8_t *b = NULL;
	size_t len = 0;
	assert_int_equal(wait_msg(4, 2000, &b, &len), SL_LP_ERROR);
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(b, len, &e, NULL), 0);
	assert_int_equal(e.code, SL_LP_ERR_FENCED);
	assert_true(out_of(4)->fin);
	turns(5);
	struct sl_dshard_stats ds_st;
	sl_dshard_stats(ds, &ds_st);
	assert_int_equal(ds_st.cons.commits, 0);
}

/* ASSIGN on a named subscription claims the partitions it adds: they start at their committed
 * positions, can be committed, and a newer subscription of the name fences through them. */
static void assign_claims_added_partitions(void **state)
{
	(void)state;
	const char *v[] = {"r0", "r1", "r2"};
	size_t n = enc_produce(cbuf, sizeof(cbuf), 1, "orders", 1, NULL, SL_LP_DURABLE, v, 3);
	feed(0, cbuf, n, 0, false);
	expect_ok(0, 1, 1, 0, 3);
	send_named(4, "billing", SL_LP_START_COMMITTED_OR_EARLIEST);
	expect_started_at(4, 0);
	struct sl_lp_start add = {1, SL_LP_START_COMMITTED_OR_LATEST, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_assign(&w, &add, 1, NULL, 0), 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	/* Nothing committed on 1: latest, 3. */
	const uint8_t *b = NULL;
	size_t len = 0;
	assert_int_equal(wait_msg(4, 2000, &b, &len), SL_LP_STARTED);
	struct sl_lp_started st;
	assert_int_equal(sl_lp_decode_started(b, len, &st, NULL), 0);
	assert_int_equal(st.partition, 1);
	assert_int_equal(st.offset, 3);
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	struct sl_lp_commit c = {1, 2};
	assert_int_equal(sl_lp_write_commit(&w, SL_LP_COMMIT, &c), 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	assert_int_equal(wait_msg(4, 200, &b, &len), SL_LP_COMMIT_OK);
	/* A newer "billing" on partition 1 only resumes at 2 and fences the first. */
	struct sl_lp_start s1 = {1, SL_LP_START_COMMITTED_OR_EARLIEST, 0};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(
		sl_lp_write_subscribe_named(&w, (struct sl_lp_bytes){(const uint8_t *)"billing", 7},
					    (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					    SL_LP_ISO_DURABLE, &s1, 1),
		0);
	feed(8, cbuf, sl_writer_len(&w), 0, false);
	assert_int_equal(wait_msg(8, 2000, &b, &len), SL_LP_STARTED);
	assert_int_equal(sl_lp_decode_started(b, len, &st, NULL), 0);
	assert_true(st.partition == 1 && st.offset == 2);
	assert_int_equal(wait_msg(4, 50, &b, &len), SL_LP_ERROR);
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(b, len, &e, NULL), 0);
	assert_int_equal(e.code, SL_LP_ERR_FENCED);
	assert_int_equal(e.partition, 1);

	/* An unnamed subscription cannot ASSIGN a committed start. */
	struct sl_lp_start e0 = {0, SL_LP_START_EARLIEST, 0};
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_DURABLE, &e0, 1),
			 0);
	feed(12, cbuf, sl_writer_len(&w), 0, false);
	expect_started_at(12, 0);
	add.partition = 2;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_assign(&w, &add, 1, NULL, 0), 0);
	feed(12, cbuf, sl_writer_len(&w), 0, false);
	e = expect_error(12, 0, SL_LP_ERR_INVALID);
	assert_non_null(memmem(e.reason.p, e.reason.n, "named subscription", 18));
}

/* Committed positions need a named subscription; bad names and offsets are refused. */
static void named_consumer_errors(void **state)
{
	(void)state;
	struct sl_lp_start st = {0, SL_LP_START_COMMITTED_OR_EARLIEST, 0};
	struct sl_writer w;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_DURABLE, &st, 1),
			 0);
	feed(4, cbuf, sl_writer_len(&w), 0, false);
	expect_error(4, 0, SL_LP_ERR_INVALID);
	assert_true(out_of(4)->fin);

	/* COMMIT on an unnamed subscription. */
	st.kind = SL_LP_START_EARLIEST;
	sl_writer_init(&w, cbuf, sizeof(cbuf));
	assert_int_equal(sl_lp_write_subscribe(&w,
					       (struct sl_lp_bytes){(const uint8_t *)"orders", 6},
					       SL_LP_ISO_DURABLE, &st, 1),
			 0);
	feed(8, cbuf, sl_writer_len(&w), 0, false);
	expect_started_at(8, 0);
	send_commit(8, 0, 0);
	expect_error(8, 0, SL_LP_ERR_INVALID);

	send_named(12, "bad/name", SL_LP_START_COMMITTED_OR_EARLIEST);
	struct sl_lp_error e = expect_error(12, 0, SL_LP_ERR_INVALID);
	assert_non_null(memmem(e.reason.p, e.reason.n, "consumer name", 13));

	/* Past the next offset to be written (0), and a partition not held. */
	send_named(16, "billing", SL_LP_START_COMMITTED_OR_EARLIEST);
	expect_started_at(16, 0);
	send_commit(16, 0, 5);
	expect_error(16, 0, SL_LP_ERR_INVALID);
	send_commit(16, 1, 0);
	expect_error(16, 0, SL_LP_ERR_INVALID);
	send_commit(16, 9, 0);
	expect_error(16, 0, SL_LP_ERR_PARTITION_RANGE);
	/* Still usable afterwards. */
	send_commit(16, 0, 0);
	expect_commit_ok(16, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(named_consumers_resume_and_fence, setup, teardown),
		cmocka_unit_test_setup_teardown(a_commit_after_a_newer_claim_is_fenced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(named_consumer_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(assign_claims_added_partitions, setup, teardown),
		T(produce_is_answered_with_offsets),
		T(idempotent_retries_get_produce_dup),
		T(pipelined_requests_split_anywhere),
		T(bad_requests_get_errors_and_the_stream_goes_on),
		T(malformed_input_resets_only_its_stream),
		T(hwm_reports_every_partition),
		T(subscriptions_deliver_backlog_then_live),
		T(a_full_window_stops_fetching),
		T(unknown_stream_subscription_ends),
		T(freeing_the_session_orphans_requests),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
