/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The log protocol's client session, driven through an in-memory transport where the test plays
 * the server with the real codec of log/proto.h: it decodes what the client wrote and answers
 * with the real encoders, split and reordered as a server or a network may. The last test runs
 * the session over the QUIC client runtime (real ngtcp2 + GnuTLS endpoints, in-memory
 * datagrams) against a scripted server endpoint, to check the per-protocol endpoints and the
 * glue; it is not an end-to-end test of shardlined.
 */
#include "core/test_common.h"
#include "control/client.h"
#include "control/logclient.h"
#include "core/clock.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the in-memory transport ---- */

struct fstream {
	int64_t id;
	struct sl_logclient_stream *user; /* the session's pointer; NULL once released */
	bool released;
	uint8_t *data;
	size_t len, cap;
	size_t parsed; /* the server's read cursor */
	bool fin;
	bool reset;
	uint64_t reset_code;
};

struct fake {
	struct fstream s[32];
	int n;
	int64_t next_id;
	int busy_opens; /* open_bidi answers SL_EBUSY this many times */
	int writes;
};

static int f_open(void *t, void *user, void **handle)
{
	struct fake *f = t;
	if (f->busy_opens > 0) {
		f->busy_opens--;
		return SL_EBUSY;
	}
	assert_true(f->n < 32);
	struct fstream *s = &f->s[f->n++];
	memset(s, 0, sizeof(*s));
	s->id = f->next_id;
	f->next_id += 4; /* client-initiated bidirectional stream ids */
	s->user = user;
	*handle = s;
	return 0;
}

static int f_write(void *t, void *h, struct sl_slice data, bool fin)
{
	struct fake *f = t;
	struct fstream *s = h;
	assert_false(s->fin);
	f->writes++;
	if (data.len > 0) {
		if (s->len + data.len > s->cap) {
			s->cap = (s->len + data.len) * 2;
			s->data = realloc(s->data, s->cap);
			assert_non_null(s->data);
		}
		memcpy(s->data + s->len, sl_slice_data(&data), data.len);
		s->len += data.len;
	}
	sl_buf_unref(data.buf);
	s->fin |= fin;
	return 0;
}

static int f_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	struct fstream *s = h;
	s->reset = true;
	s->reset_code = code;
	return 0;
}

static void f_release(void *t, void *h)
{
	(void)t;
	struct fstream *s = h;
	assert_false(s->released);
	s->released = true;
	s->user = NULL;
}

static const struct sl_logclient_transport ftr = {
	.open_bidi = f_open,
	.write = f_write,
	.reset = f_reset,
	.release = f_release,
};

/* The server's bytes (and reset) on stream s, delivered with the session's pointer of the
 * moment, as a transport does: nothing reaches the session once it released the stream. */
static void f_data(struct sl_logclient *lc, struct fstream *s, const uint8_t *d, size_t n, bool fin)
{
	sl_logclient_stream_data(lc, s->user, d, n, fin);
}

static void f_rst(struct sl_logclient *lc, struct fstream *s, uint64_t code)
{
	sl_logclient_stream_reset(lc, s->user, code);
}

static void fake_free(struct fake *f)
{
	for (int i = 0; i < f->n; i++)
		free(f->s[i].data);
	free(f);
}

/* The next whole client message on s, or false. */
static bool srv_next(struct fstream *s, uint64_t *type, const uint8_t **body, size_t *len)
{
	struct sl_lp_header h;
	if (sl_lp_header_parse(s->data + s->parsed, s->len - s->parsed, &h) != 0 ||
	    s->len - s->parsed - h.hdr_len < h.len)
		return false;
	*type = h.type;
	*body = s->data + s->parsed + h.hdr_len;
	*len = (size_t)h.len;
	s->parsed += h.hdr_len + (size_t)h.len;
	return true;
}

/* ---- what the session reported ---- */

struct done {
	int kind; /* 1 produce, 2 hwm */
	void *cookie;
	uint64_t request_id, code, first_offset, detail, sent_ns;
	uint32_t partition, count, nmarks;
	bool duplicate;
	struct sl_lp_marks marks[8];
	char reason[200];
};

struct rec {
	struct done d[512];
	int n;
	/* Reentrancy: produce this many requests from inside the next on_produce. */
	struct sl_logclient *lc;
	int produce_in_callback;
};

static void record(struct rec *r, int kind, void *cookie, const struct sl_logclient_result *res)
{
	assert_true(r->n < 512);
	struct done *d = &r->d[r->n++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->cookie = cookie;
	d->request_id = res->request_id;
	d->code = res->code;
	d->first_offset = res->first_offset;
	d->detail = res->detail;
	d->sent_ns = res->sent_ns;
	d->partition = res->partition;
	d->count = res->count;
	d->duplicate = res->duplicate;
	d->nmarks = res->nmarks;
	for (uint32_t i = 0; i < res->nmarks && i < 8; i++)
		d->marks[i] = res->marks[i];
	snprintf(d->reason, sizeof(d->reason), "%.*s", (int)res->reason.n,
		 (const char *)res->reason.p);
}

static const uint8_t rec_a[] = "alpha", rec_b[] = "bravo!", rec_c[] = "c";
static const struct sl_lp_bytes recs3[] = {{rec_a, 5}, {rec_b, 6}, {rec_c, 1}};

static int produce(struct sl_logclient *lc, uint32_t partition, uint32_t count, void *cookie,
		   uint64_t now, uint64_t *id)
{
	struct sl_lp_produce m = {0};
	m.stream.p = (const uint8_t *)"orders";
	m.stream.n = 6;
	m.partition = partition;
	m.durability = SL_LP_DURABLE;
	m.count = count;
	return sl_logclient_produce(lc, &m, recs3, cookie, now, id);
}

static void on_produce(void *user, void *cookie, const struct sl_logclient_result *r)
{
	struct rec *rc = user;
	record(rc, 1, cookie, r);
	int n = rc->produce_in_callback;
	rc->produce_in_callback = 0;
	for (int i = 0; i < n; i++)
		assert_int_equal(produce(rc->lc, 9, 1, (void *)99, 1, NULL), 0);
}

static void on_hwm(void *user, void *cookie, const struct sl_logclient_result *r)
{
	record(user, 2, cookie, r);
}

static const struct sl_logclient_callbacks cbs = {.on_produce = on_produce, .on_hwm = on_hwm};

struct env {
	struct fake *f;
	struct rec *r;
	struct sl_logclient *lc;
};

static void env_new(struct env *e, const struct sl_logclient_config *cfg)
{
	e->f = calloc(1, sizeof(*e->f));
	e->r = calloc(1, sizeof(*e->r));
	assert_non_null(e->f);
	assert_non_null(e->r);
	assert_int_equal(sl_logclient_new(cfg, &ftr, e->f, &cbs, e->r, &e->lc), 0);
	e->r->lc = e->lc;
	sl_logclient_connected(e->lc);
}

static void env_free(struct env *e)
{
	sl_logclient_free(e->lc);
	fake_free(e->f);
	free(e->r);
}

/* Server messages are built into this buffer. */
struct msgbuf {
	uint8_t b[1 << 16];
	struct sl_writer w;
};

static void mb_init(struct msgbuf *m)
{
	sl_writer_init(&m->w, m->b, sizeof(m->b));
}

static void mb_ok(struct msgbuf *m, uint64_t id, uint32_t partition, uint64_t off, uint32_t count)
{
	struct sl_lp_produce_ok ok = {id, partition, off, count};
	assert_int_equal(sl_lp_write_produce_ok(&m->w, &ok), 0);
}

static void mb_err(struct msgbuf *m, uint64_t id, uint64_t code, uint32_t partition,
		   uint64_t detail, const char *reason)
{
	struct sl_lp_error e = {
		.request_id = id, .code = code, .partition = partition, .detail = detail};
	e.reason.p = (const uint8_t *)reason;
	e.reason.n = strlen(reason);
	assert_int_equal(sl_lp_write_error(&m->w, &e), 0);
}

static size_t mb_len(const struct msgbuf *m)
{
	return sl_writer_len(&m->w);
}

/* ---- produce ---- */

/* Three pipelined PRODUCEs travel on one stream with increasing ids; the server answers out of
 * order, one of them with an ERROR, and each completion reaches its own cookie. */
static void test_produce_pipelined_out_of_order(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	uint64_t id[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(produce(e.lc, (uint32_t)i, 3 - (uint32_t)i,
					 (void *)(intptr_t)(i + 1), 100 + (uint64_t)i, &id[i]),
				 0);
	assert_true(id[0] < id[1] && id[1] < id[2]);
	assert_int_equal(sl_logclient_in_flight(e.lc), 3);
	assert_int_equal(e.f->n, 0); /* nothing leaves before the flush */
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 1);
	assert_int_equal(e.f->writes, 1); /* one chunk for the three requests */
	struct fstream *s = &e.f->s[0];
	for (int i = 0; i < 3; i++) {
		uint64_t type;
		const uint8_t *body;
		size_t len;
		assert_true(srv_next(s, &type, &body, &len));
		assert_int_equal(type, SL_LP_PRODUCE);
		struct sl_lp_produce p;
		assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
		assert_int_equal(p.request_id, id[i]);
		assert_int_equal(p.stream.n, 6);
		assert_memory_equal(p.stream.p, "orders", 6);
		assert_false(p.keyed);
		assert_int_equal(p.partition, i);
		assert_int_equal(p.durability, SL_LP_DURABLE);
		assert_int_equal(p.count, 3 - i);
		struct sl_lp_record_iter it;
		struct sl_lp_bytes r;
		sl_lp_records_init(&it, p.records, p.count);
		for (uint32_t k = 0; k < p.count; k++) {
			assert_int_equal(sl_lp_records_next(&it, &r), 0);
			assert_int_equal(r.n, recs3[k].n);
			assert_memory_equal(r.p, recs3[k].p, r.n);
		}
		assert_int_equal(sl_lp_records_next(&it, &r), SL_EEOF);
	}
	struct msgbuf m;
	mb_init(&m);
	mb_ok(&m, id[2], 2, 500, 1);
	mb_err(&m, id[1], SL_LP_ERR_OVERLOADED, 1, 25, "queue full");
	mb_ok(&m, id[0], 0, 40, 3);
	f_data(e.lc, s, m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 3);
	struct done *d = e.r->d;
	assert_ptr_equal(d[0].cookie, (void *)3);
	assert_int_equal(d[0].code, 0);
	assert_int_equal(d[0].partition, 2);
	assert_int_equal(d[0].first_offset, 500);
	assert_int_equal(d[0].count, 1);
	assert_int_equal(d[0].sent_ns, 102);
	assert_ptr_equal(d[1].cookie, (void *)2);
	assert_int_equal(d[1].code, SL_LP_ERR_OVERLOADED);
	assert_int_equal(d[1].detail, 25);
	assert_int_equal(d[1].partition, 1);
	assert_string_equal(d[1].reason, "queue full");
	assert_int_equal(d[1].count, 2);
	assert_ptr_equal(d[2].cookie, (void *)1);
	assert_int_equal(d[2].first_offset, 40);
	assert_int_equal(sl_logclient_in_flight(e.lc), 0);

	/* The stream stays: the next request follows on it. */
	assert_int_equal(produce(e.lc, 0, 1, NULL, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 1);
	struct sl_logclient_stats st;
	sl_logclient_stats(e.lc, &st);
	assert_int_equal(st.produce_requests, 4);
	assert_int_equal(st.records_sent, 7);
	assert_int_equal(st.responses, 3);
	assert_int_equal(st.produce_ok, 2);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.errors_by_code[SL_LP_ERR_OVERLOADED], 1);
	assert_int_equal(st.bytes_out, s->len);
	assert_int_equal(st.bytes_in, mb_len(&m));
	env_free(&e);
}

/* Requests made before the handshake, or while the server's stream limit is reached, wait and
 * leave in order once a stream can be opened. */
static void test_produce_waits_for_stream(void **state)
{
	(void)state;
	struct env e;
	e.f = calloc(1, sizeof(*e.f));
	e.r = calloc(1, sizeof(*e.r));
	assert_int_equal(sl_logclient_new(NULL, &ftr, e.f, &cbs, e.r, &e.lc), 0);
	uint64_t id1, id2;
	assert_int_equal(produce(e.lc, 0, 1, NULL, 0, &id1), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 0);
	sl_logclient_connected(e.lc);
	e.f->busy_opens = 2;
	sl_logclient_poll(e.lc, 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 0);
	assert_int_equal(produce(e.lc, 0, 2, NULL, 0, &id2), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 1);
	uint64_t type;
	const uint8_t *body;
	size_t len;
	struct sl_lp_produce p;
	assert_true(srv_next(&e.f->s[0], &type, &body, &len));
	assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
	assert_int_equal(p.request_id, id1);
	assert_true(srv_next(&e.f->s[0], &type, &body, &len));
	assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
	assert_int_equal(p.request_id, id2);
	assert_int_equal(p.count, 2);
	env_free(&e);
}

/* Many requests queued before the stream opens grow the chunk geometrically and all arrive
 * intact. */
static void test_produce_burst_before_open(void **state)
{
	(void)state;
	struct sl_logclient_config cfg;
	sl_logclient_config_default(&cfg);
	cfg.out_chunk_bytes = 1024;
	cfg.max_in_flight = 4000;
	struct env e;
	e.f = calloc(1, sizeof(*e.f));
	e.r = calloc(1, sizeof(*e.r));
	assert_int_equal(sl_logclient_new(&cfg, &ftr, e.f, &cbs, e.r, &e.lc), 0);
	for (int i = 0; i < 3000; i++)
		assert_int_equal(produce(e.lc, (uint32_t)i, 3, NULL, 0, NULL), 0);
	sl_logclient_connected(e.lc);
	sl_logclient_poll(e.lc, 0);
	uint64_t type;
	const uint8_t *body;
	size_t len;
	int n = 0;
	uint64_t last = 0;
	while (srv_next(&e.f->s[0], &type, &body, &len)) {
		struct sl_lp_produce p;
		assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
		assert_true(p.request_id > last);
		assert_int_equal(p.partition, n);
		last = p.request_id;
		n++;
	}
	assert_int_equal(n, 3000);
	assert_int_equal(e.f->s[0].parsed, e.f->s[0].len);
	env_free(&e);
}

/* max_in_flight bounds the outstanding requests; an id whose slot an older, unanswered request
 * holds is skipped, so ids keep increasing and lookups stay exact. */
static void test_in_flight_limit_and_ids(void **state)
{
	(void)state;
	struct sl_logclient_config cfg;
	sl_logclient_config_default(&cfg);
	cfg.max_in_flight = 2;
	struct env e;
	env_new(&e, &cfg);
	uint64_t a, b, c;
	assert_int_equal(produce(e.lc, 0, 1, (void *)1, 0, &a), 0);
	assert_int_equal(produce(e.lc, 0, 1, (void *)2, 0, &b), 0);
	assert_int_equal(produce(e.lc, 0, 1, NULL, 0, NULL), SL_EBUSY);
	assert_int_equal(sl_logclient_hwm(e.lc, (struct sl_lp_bytes){(const uint8_t *)"x", 1}, NULL,
					  0, NULL),
			 SL_EBUSY);
	sl_logclient_poll(e.lc, 0);
	struct msgbuf m;
	mb_init(&m);
	mb_ok(&m, b, 0, 7, 1);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 1);
	assert_int_equal(produce(e.lc, 0, 1, (void *)3, 0, &c), 0);
	assert_true(c > b);
	assert_int_not_equal(c % 2, a % 2); /* not the slot a still holds */
	mb_init(&m);
	mb_ok(&m, c, 1, 8, 1);
	mb_ok(&m, a, 0, 6, 1);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 3);
	assert_ptr_equal(e.r->d[1].cookie, (void *)3);
	assert_int_equal(e.r->d[1].first_offset, 8);
	assert_ptr_equal(e.r->d[2].cookie, (void *)1);
	assert_int_equal(e.r->d[2].first_offset, 6);
	env_free(&e);
}

static void test_produce_bad_arguments(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	struct sl_lp_produce m = {0};
	m.stream.p = (const uint8_t *)"..";
	m.stream.n = 2;
	m.count = 1;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, NULL, 0, NULL), SL_EINVAL);
	m.stream.p = (const uint8_t *)"a b";
	m.stream.n = 3;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, NULL, 0, NULL), SL_EINVAL);
	m.stream.p = (const uint8_t *)"ok";
	m.stream.n = 2;
	m.durability = 3;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, NULL, 0, NULL), SL_EINVAL);
	m.durability = SL_LP_APPLIED;
	m.count = 0;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, NULL, 0, NULL), SL_ERANGE);
	assert_int_equal(sl_logclient_in_flight(e.lc), 0);
	/* A keyed request carries its key. */
	m.count = 1;
	m.keyed = true;
	m.key.p = (const uint8_t *)"user-7";
	m.key.n = 6;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, NULL, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	uint64_t type;
	const uint8_t *body;
	size_t len;
	struct sl_lp_produce p;
	assert_true(srv_next(&e.f->s[0], &type, &body, &len));
	assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
	assert_true(p.keyed);
	assert_int_equal(p.key.n, 6);
	assert_memory_equal(p.key.p, "user-7", 6);
	assert_int_equal(p.durability, SL_LP_APPLIED);
	env_free(&e);
}

/* ---- HWM ---- */

static void test_hwm(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	uint64_t h1, h2;
	struct sl_lp_bytes name = {(const uint8_t *)"clicks", 6};
	assert_int_equal(sl_logclient_hwm(e.lc, name, (void *)5, 0, &h1), 0);
	assert_int_equal(sl_logclient_hwm(e.lc, name, (void *)6, 0, &h2), 0);
	sl_logclient_poll(e.lc, 0);
	uint64_t type;
	const uint8_t *body;
	size_t len;
	struct sl_lp_hwm q;
	assert_true(srv_next(&e.f->s[0], &type, &body, &len));
	assert_int_equal(type, SL_LP_HWM);
	assert_int_equal(sl_lp_decode_hwm(body, len, &q, NULL), 0);
	assert_int_equal(q.request_id, h1);
	assert_memory_equal(q.stream.p, "clicks", 6);
	struct msgbuf m;
	mb_init(&m);
	struct sl_lp_marks marks[3] = {{0, 10, 12}, {5, 5, 5}, {0, 0, 0}};
	assert_int_equal(sl_lp_write_hwm_ok(&m.w, h2, marks, 3), 0);
	mb_err(&m, h1, SL_LP_ERR_UNKNOWN_STREAM, SL_LP_NO_PARTITION, 0, "no stream clicks");
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 2);
	assert_int_equal(e.r->d[0].kind, 2);
	assert_ptr_equal(e.r->d[0].cookie, (void *)6);
	assert_int_equal(e.r->d[0].code, 0);
	assert_int_equal(e.r->d[0].nmarks, 3);
	assert_int_equal(e.r->d[0].marks[0].durable, 10);
	assert_int_equal(e.r->d[0].marks[0].high_water, 12);
	assert_int_equal(e.r->d[0].marks[1].start, 5);
	assert_int_equal(e.r->d[1].kind, 2);
	assert_int_equal(e.r->d[1].code, SL_LP_ERR_UNKNOWN_STREAM);
	assert_int_equal(e.r->d[1].partition, SL_LP_NO_PARTITION);
	assert_string_equal(e.r->d[1].reason, "no stream clicks");
	struct sl_logclient_stats st;
	sl_logclient_stats(e.lc, &st);
	assert_int_equal(st.hwm_requests, 2);
	assert_int_equal(st.hwm_ok, 1);
	assert_int_equal(st.errors_by_code[SL_LP_ERR_UNKNOWN_STREAM], 1);
	env_free(&e);
}

/* ---- responses split anywhere ---- */

/* The same answers, cut at every byte boundary (and fed one byte at a time), give the same
 * completions as when they arrive whole. */
static void test_responses_split_everywhere(void **state)
{
	(void)state;
	struct msgbuf m;
	struct done want[4];
	for (size_t cut = 0;; cut++) {
		struct env e;
		env_new(&e, NULL);
		uint64_t id[3], hid;
		for (int i = 0; i < 3; i++)
			assert_int_equal(produce(e.lc, 1, 3, (void *)(intptr_t)(10 + i), 0, &id[i]),
					 0);
		assert_int_equal(sl_logclient_hwm(e.lc,
						  (struct sl_lp_bytes){(const uint8_t *)"s", 1},
						  (void *)20, 0, &hid),
				 0);
		sl_logclient_poll(e.lc, 0);
		mb_init(&m);
		mb_ok(&m, id[1], 1, 1000000, 3);
		char reason[300];
		memset(reason, 'r', sizeof(reason) - 1);
		reason[sizeof(reason) - 1] = '\0'; /* a length that takes a two-byte varint */
		mb_err(&m, id[0], SL_LP_ERR_RECORD_TOO_LARGE, 1, 0, reason);
		struct sl_lp_marks marks[2] = {{1, 2, 3}, {4, 5, 6}};
		assert_int_equal(sl_lp_write_hwm_ok(&m.w, hid, marks, 2), 0);
		mb_ok(&m, id[2], 1, (UINT64_C(1) << 40), 3);
		size_t total = mb_len(&m);
		struct fstream *sid = &e.f->s[0];
		if (cut == 0) {
			f_data(e.lc, sid, m.b, total, false);
			assert_int_equal(e.r->n, 4);
			memcpy(want, e.r->d, sizeof(want));
		} else if (cut < total) {
			f_data(e.lc, sid, m.b, cut, false);
			f_data(e.lc, sid, m.b + cut, total - cut, false);
		} else {
			for (size_t i = 0; i < total; i++)
				f_data(e.lc, sid, m.b + i, 1, false);
		}
		assert_int_equal(e.r->n, 4);
		for (int i = 0; i < 4; i++) {
			assert_ptr_equal(e.r->d[i].cookie, want[i].cookie);
			assert_int_equal(e.r->d[i].code, want[i].code);
			assert_int_equal(e.r->d[i].first_offset, want[i].first_offset);
			assert_int_equal(e.r->d[i].nmarks, want[i].nmarks);
			assert_string_equal(e.r->d[i].reason, want[i].reason);
		}
		assert_int_equal(want[2].marks[1].high_water, 6);
		assert_int_equal(want[3].first_offset, UINT64_C(1) << 40);
		assert_int_equal(sl_logclient_in_flight(e.lc), 0);
		env_free(&e);
		if (cut >= total)
			break;
	}
}

/* ---- failures on the request stream ---- */

/* Whatever the server sends that does not decode or answers nothing fails every request on
 * the stream with protocol_error, resets it with SL_LP_RESET_MALFORMED, and the next request
 * opens a new stream that works. */
static void test_request_stream_garbage(void **state)
{
	(void)state;
	for (int kind = 0; kind < 8; kind++) {
		struct sl_logclient_config cfg;
		sl_logclient_config_default(&cfg);
		cfg.max_message_bytes = 4096;
		struct env e;
		env_new(&e, &cfg);
		uint64_t a, b;
		assert_int_equal(produce(e.lc, 0, 1, (void *)1, 0, &a), 0);
		assert_int_equal(produce(e.lc, 0, 2, (void *)2, 0, &b), 0);
		sl_logclient_poll(e.lc, 0);
		struct msgbuf m;
		mb_init(&m);
		switch (kind) {
		case 0: /* an unknown message type */
			assert_int_equal(sl_lp_header_write(&m.w, 0x7f, 0), 0);
			break;
		case 1: /* a message a client never receives */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_SUBSCRIBE, 0), 0);
			break;
		case 2: /* PRODUCE_OK with a trailing byte */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_PRODUCE_OK, 5), 0);
			assert_int_equal(sl_writer_bytes(&m.w, "\x01\x00\x00\x01\x00", 5), 0);
			break;
		case 3: /* PRODUCE_OK for a request nobody made */
			mb_ok(&m, b + 100, 0, 0, 1);
			break;
		case 4: /* PRODUCE_OK whose count is not the request's */
			mb_ok(&m, a, 0, 0, 2);
			break;
		case 5: /* HWM_OK answering a PRODUCE */
			assert_int_equal(sl_lp_write_hwm_ok(&m.w, a, NULL, 0), 0);
			break;
		case 6: /* a message over max_message_bytes, announced but never sent */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_PRODUCE_OK, 1 << 20), 0);
			break;
		case 7: /* an ERROR whose reason overruns the body */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_ERROR, 6), 0);
			assert_int_equal(sl_writer_bytes(&m.w, "\x01\x04\x00\x00\x10x", 6), 0);
			break;
		}
		/* A valid answer after the garbage must not be seen: the stream is gone. */
		mb_ok(&m, a, 0, 0, 1);
		struct fstream *sid = &e.f->s[0];
		f_data(e.lc, sid, m.b, mb_len(&m), false);
		assert_int_equal(e.r->n, 2);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(e.r->d[i].code, SL_LOGCLIENT_ERR_PROTOCOL);
			assert_true(strlen(e.r->d[i].reason) > 0);
		}
		assert_ptr_equal(e.r->d[0].cookie, (void *)1); /* oldest first */
		assert_true(e.f->s[0].reset);
		assert_int_equal(e.f->s[0].reset_code, SL_LP_RESET_MALFORMED);
		assert_int_equal(sl_logclient_in_flight(e.lc), 0);
		struct sl_logclient_stats st;
		sl_logclient_stats(e.lc, &st);
		assert_int_equal(st.protocol_errors, 1);
		assert_int_equal(st.local_failures, 2);
		/* Late bytes on the dead stream are ignored. */
		f_data(e.lc, sid, m.b, mb_len(&m), true);
		assert_int_equal(e.r->n, 2);
		/* A new request gets a new stream. */
		uint64_t c;
		assert_int_equal(produce(e.lc, 0, 1, (void *)3, 0, &c), 0);
		sl_logclient_poll(e.lc, 0);
		assert_int_equal(e.f->n, 2);
		mb_init(&m);
		mb_ok(&m, c, 0, 1, 1);
		f_data(e.lc, &e.f->s[1], m.b, mb_len(&m), false);
		assert_int_equal(e.r->n, 3);
		assert_int_equal(e.r->d[2].code, 0);
		env_free(&e);
	}
}

/* An ERROR that answers no request (id 0: the server could not read one) fails every
 * outstanding request with the server's code and reason. */
static void test_request_stream_error_for_nobody(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	assert_int_equal(produce(e.lc, 0, 1, (void *)1, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	struct msgbuf m;
	mb_init(&m);
	mb_err(&m, 0, SL_LP_ERR_MALFORMED, SL_LP_NO_PARTITION, 0, "bad produce.count");
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 1);
	assert_int_equal(e.r->d[0].code, SL_LP_ERR_MALFORMED);
	assert_string_equal(e.r->d[0].reason, "bad produce.count");
	env_free(&e);
}

/* The server resetting the request stream, finishing it with requests unanswered, or the
 * connection closing, completes every request with a local code; a clean finish with nothing
 * owed closes our side too. */
static void test_request_stream_reset_fin_close(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	assert_int_equal(produce(e.lc, 0, 1, (void *)1, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	f_rst(e.lc, &e.f->s[0], 77);
	assert_int_equal(e.r->n, 1);
	assert_int_equal(e.r->d[0].code, SL_LOGCLIENT_ERR_RESET);
	assert_int_equal(e.r->d[0].detail, 77);
	assert_true(e.f->s[0].reset);

	assert_int_equal(produce(e.lc, 0, 1, (void *)2, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 2);
	f_data(e.lc, &e.f->s[1], NULL, 0, true);
	assert_int_equal(e.r->n, 2);
	assert_int_equal(e.r->d[1].code, SL_LOGCLIENT_ERR_RESET);

	uint64_t id;
	assert_int_equal(produce(e.lc, 0, 1, (void *)3, 0, &id), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 3);
	struct msgbuf m;
	mb_init(&m);
	mb_ok(&m, id, 0, 0, 1);
	f_data(e.lc, &e.f->s[2], m.b, mb_len(&m), true);
	assert_int_equal(e.r->n, 3);
	assert_int_equal(e.r->d[2].code, 0);
	assert_true(e.f->s[2].fin);
	assert_false(e.f->s[2].reset);

	/* A message cut by the server's FIN is a protocol error. */
	assert_int_equal(produce(e.lc, 0, 1, (void *)4, 0, &id), 0);
	sl_logclient_poll(e.lc, 0);
	mb_init(&m);
	mb_ok(&m, id, 0, 0, 1);
	f_data(e.lc, &e.f->s[3], m.b, mb_len(&m) - 1, true);
	assert_int_equal(e.r->n, 4);
	assert_int_equal(e.r->d[3].code, SL_LOGCLIENT_ERR_PROTOCOL);

	assert_int_equal(produce(e.lc, 0, 1, (void *)5, 0, NULL), 0);
	assert_int_equal(produce(e.lc, 0, 1, (void *)6, 0, NULL), 0);
	sl_logclient_closed(e.lc, 0x10);
	assert_int_equal(e.r->n, 6);
	assert_int_equal(e.r->d[4].code, SL_LOGCLIENT_ERR_CLOSED);
	assert_int_equal(e.r->d[4].detail, 0x10);
	assert_int_equal(e.r->d[5].code, SL_LOGCLIENT_ERR_CLOSED);
	assert_int_equal(produce(e.lc, 0, 1, NULL, 0, NULL), SL_ECLOSED);
	assert_string_equal(sl_logclient_code_name(SL_LOGCLIENT_ERR_CLOSED), "connection_closed");
	assert_string_equal(sl_logclient_code_name(SL_LP_ERR_OVERLOADED), "overloaded");
	env_free(&e);
}

/* A completion callback may make the next requests at once; they go to the next stream, and
 * requests made while the stream is being failed are not failed with it, also when they take
 * slots the failure has not walked yet. */
static void test_produce_from_callback(void **state)
{
	(void)state;
	struct sl_logclient_config cfg;
	sl_logclient_config_default(&cfg);
	cfg.max_in_flight = 4;
	struct env e;
	env_new(&e, &cfg);
	uint64_t id[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(produce(e.lc, 0, 1, (void *)(intptr_t)(i + 1), 0, &id[i]), 0);
	sl_logclient_poll(e.lc, 0);
	/* Answer the middle one, so the failure below finds a free slot ahead of it. */
	struct msgbuf m;
	mb_init(&m);
	mb_ok(&m, id[1], 0, 0, 1);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_int_equal(e.r->n, 1);
	e.r->produce_in_callback = 3;
	f_rst(e.lc, &e.f->s[0], 1);
	assert_int_equal(e.r->n, 3); /* the two old requests, and none of the new ones */
	assert_ptr_equal(e.r->d[1].cookie, (void *)1);
	assert_ptr_equal(e.r->d[2].cookie, (void *)3);
	assert_int_equal(sl_logclient_in_flight(e.lc), 3);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 2);
	uint64_t type;
	const uint8_t *body;
	size_t len;
	struct sl_lp_produce p;
	for (int i = 0; i < 3; i++) {
		assert_true(srv_next(&e.f->s[1], &type, &body, &len));
		assert_int_equal(sl_lp_decode_produce(body, len, NULL, &p, NULL), 0);
		assert_int_equal(p.partition, 9);
	}
	assert_false(srv_next(&e.f->s[1], &type, &body, &len));
	env_free(&e);
}

/* ---- subscriptions ---- */

struct subrec {
	char log[16384];
	size_t len;
	int records;
	struct sl_logclient_sub *sub;
	int unsubscribe_after; /* records: unsubscribe from on_records after this many */
};

static void logf_(struct subrec *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct subrec *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->log + s->len, sizeof(s->log) - s->len, fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(s->log) - s->len);
	s->len += (size_t)n;
}

static void s_started(void *u, uint32_t p, uint64_t off)
{
	logf_(u, "started %u %llu;", p, (unsigned long long)off);
}

static void s_records(void *u, const struct sl_lp_records *m)
{
	struct subrec *s = u;
	logf_(s, "records %u %llu", m->partition, (unsigned long long)m->first_offset);
	struct sl_lp_record_iter it;
	struct sl_lp_bytes r;
	sl_lp_records_init(&it, m->records, m->count);
	while (sl_lp_records_next(&it, &r) == 0)
		logf_(s, " %.*s", (int)r.n, (const char *)r.p);
	logf_(s, ";");
	s->records += (int)m->count;
	if (s->unsubscribe_after && s->records >= s->unsubscribe_after) {
		sl_logclient_unsubscribe(s->sub);
		s->sub = NULL;
	}
}

static void s_removed(void *u, uint32_t p)
{
	logf_(u, "removed %u;", p);
}

static void s_error(void *u, const struct sl_lp_error *e)
{
	logf_(u, "error %s %u %llu %.*s;", sl_logclient_code_name(e->code), e->partition,
	      (unsigned long long)e->detail, (int)e->reason.n, (const char *)e->reason.p);
}

static void s_end(void *u, uint64_t code, uint64_t detail)
{
	logf_(u, "end %s %llu;", sl_logclient_code_name(code), (unsigned long long)detail);
}

static const struct sl_logclient_sub_callbacks scbs = {
	.on_started = s_started,
	.on_records = s_records,
	.on_removed = s_removed,
	.on_error = s_error,
	.on_end = s_end,
};

static struct sl_logclient_sub *subscribe(struct env *e, struct subrec *sr)
{
	struct sl_lp_start st[2] = {{.partition = 0, .kind = SL_LP_START_OFFSET, .offset = 5},
				    {.partition = 1, .kind = SL_LP_START_EARLIEST}};
	struct sl_logclient_sub *sub;
	assert_int_equal(sl_logclient_subscribe(e->lc,
						(struct sl_lp_bytes){(const uint8_t *)"ev", 2},
						SL_LP_ISO_APPLIED, st, 2, &scbs, sr, &sub),
			 0);
	sr->sub = sub;
	return sub;
}

static void mb_records(struct msgbuf *m, uint32_t p, uint64_t first, int n)
{
	static const char *words[] = {"one", "two", "three", "four"};
	struct sl_lp_bytes r[4];
	for (int i = 0; i < n; i++) {
		r[i].p = (const uint8_t *)words[i];
		r[i].n = strlen(words[i]);
	}
	assert_int_equal(sl_lp_write_records(&m->w, p, first, r, (uint32_t)n), 0);
}

/* The server's side of a subscription: STARTED, RECORDS, REMOVED and ERROR, in a stream of
 * its own; ASSIGN travels after SUBSCRIBE on the same stream. */
static void build_sub_messages(struct msgbuf *m)
{
	mb_init(m);
	struct sl_lp_started s0 = {0, 5}, s1 = {1, 0};
	assert_int_equal(sl_lp_write_started(&m->w, &s0), 0);
	mb_records(m, 0, 5, 3);
	assert_int_equal(sl_lp_write_started(&m->w, &s1), 0);
	mb_records(m, 1, 0, 1);
	mb_records(m, 0, 8, 4);
	assert_int_equal(sl_lp_write_removed(&m->w, 1), 0);
	mb_err(m, 0, SL_LP_ERR_OFFSET_OUT_OF_RANGE, 2, 7, "below the start");
}

static const char sub_log[] =
	"started 0 5;records 0 5 one two three;started 1 0;records 1 0 one;"
	"records 0 8 one two three four;removed 1;error offset_out_of_range 2 7 below the start;";

static void test_subscription(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	struct subrec sr = {0};
	struct sl_logclient_sub *sub = subscribe(&e, &sr);
	/* A produce on the same session uses a different stream. */
	assert_int_equal(produce(e.lc, 0, 1, NULL, 0, NULL), 0);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 2);
	struct fstream *ss = e.f->s[0].data[0] == SL_LP_SUBSCRIBE ? &e.f->s[0] : &e.f->s[1];
	uint64_t type;
	const uint8_t *body;
	size_t len;
	assert_true(srv_next(ss, &type, &body, &len));
	assert_int_equal(type, SL_LP_SUBSCRIBE);
	struct sl_lp_subscribe q;
	assert_int_equal(sl_lp_decode_subscribe(body, len, NULL, &q, NULL), 0);
	assert_int_equal(q.isolation, SL_LP_ISO_APPLIED);
	assert_int_equal(q.count, 2);
	assert_memory_equal(q.stream.p, "ev", 2);
	struct sl_reader rd;
	struct sl_lp_start st;
	sl_reader_init(&rd, q.starts.p, q.starts.n);
	assert_int_equal(sl_lp_starts_next(&rd, &st), 0);
	assert_int_equal(st.partition, 0);
	assert_int_equal(st.kind, SL_LP_START_OFFSET);
	assert_int_equal(st.offset, 5);
	assert_int_equal(sl_lp_starts_next(&rd, &st), 0);
	assert_int_equal(st.kind, SL_LP_START_EARLIEST);

	struct msgbuf m;
	build_sub_messages(&m);
	f_data(e.lc, ss, m.b, mb_len(&m), false);
	assert_string_equal(sr.log, sub_log);
	struct sl_logclient_stats stats;
	sl_logclient_stats(e.lc, &stats);
	assert_int_equal(stats.records_received, 8);
	assert_int_equal(stats.records_messages, 3);
	assert_int_equal(stats.errors_by_code[SL_LP_ERR_OFFSET_OUT_OF_RANGE], 1);

	/* ASSIGN: add partition 2 from the latest offset, remove partition 0. */
	struct sl_lp_start add = {.partition = 2, .kind = SL_LP_START_LATEST};
	uint32_t rm = 0;
	assert_int_equal(sl_logclient_assign(sub, &add, 1, &rm, 1), 0);
	assert_int_equal(sl_logclient_assign(sub, NULL, 0, NULL, 0), SL_EINVAL);
	sl_logclient_poll(e.lc, 0);
	assert_true(srv_next(ss, &type, &body, &len));
	assert_int_equal(type, SL_LP_ASSIGN);
	struct sl_lp_assign as;
	assert_int_equal(sl_lp_decode_assign(body, len, NULL, &as, NULL), 0);
	assert_int_equal(as.add_count, 1);
	assert_int_equal(as.remove_count, 1);
	sl_reader_init(&rd, as.adds.p, as.adds.n);
	assert_int_equal(sl_lp_starts_next(&rd, &st), 0);
	assert_int_equal(st.partition, 2);
	assert_int_equal(st.kind, SL_LP_START_LATEST);
	uint32_t part;
	sl_reader_init(&rd, as.removes.p, as.removes.n);
	assert_int_equal(sl_lp_partitions_next(&rd, &part), 0);
	assert_int_equal(part, 0);

	/* The server finishing the stream ends the subscription; our side is finished too. */
	size_t before = sr.len;
	f_data(e.lc, ss, NULL, 0, true);
	assert_string_equal(sr.log + before, "end ok 0;");
	assert_true(ss->fin);
	assert_int_equal(sl_logclient_assign(sub, &add, 1, NULL, 0), SL_ECLOSED);
	sl_logclient_unsubscribe(sub);
	assert_false(ss->reset); /* already over: nothing to reset */
	env_free(&e);
}

/* Every split of the server's messages gives the same events. */
static void test_subscription_split_everywhere(void **state)
{
	(void)state;
	struct msgbuf m;
	build_sub_messages(&m);
	size_t total = mb_len(&m);
	for (size_t cut = 1; cut <= total; cut++) {
		struct env e;
		env_new(&e, NULL);
		struct subrec sr = {0};
		subscribe(&e, &sr);
		sl_logclient_poll(e.lc, 0);
		struct fstream *sid = &e.f->s[0];
		if (cut < total) {
			f_data(e.lc, sid, m.b, cut, false);
			f_data(e.lc, sid, m.b + cut, total - cut, false);
		} else {
			for (size_t i = 0; i < total; i++)
				f_data(e.lc, sid, m.b + i, 1, false);
		}
		assert_string_equal(sr.log, sub_log);
		env_free(&e);
	}
}

/* Undecodable or unexpected server messages on a subscription stream end it with an error,
 * reset it with SL_LP_RESET_MALFORMED, and nothing after them is delivered. */
static void test_subscription_garbage(void **state)
{
	(void)state;
	for (int kind = 0; kind < 6; kind++) {
		struct sl_logclient_config cfg;
		sl_logclient_config_default(&cfg);
		cfg.max_message_bytes = 64;
		struct env e;
		env_new(&e, &cfg);
		struct subrec sr = {0};
		struct sl_logclient_sub *sub = subscribe(&e, &sr);
		sl_logclient_poll(e.lc, 0);
		struct fstream *ss = &e.f->s[0];
		struct msgbuf m;
		mb_init(&m);
		switch (kind) {
		case 0: /* a request-stream answer */
			mb_ok(&m, 1, 0, 0, 1);
			break;
		case 1: /* RECORDS whose records do not fill the body */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_RECORDS, 6), 0);
			assert_int_equal(sl_writer_bytes(&m.w,
							 "\x00\x00\x01\x01"
							 "ab",
							 6),
					 0);
			break;
		case 2: /* RECORDS over max_message_bytes */
			mb_records(&m, 0, 0, 4);
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_RECORDS, 65), 0);
			break;
		case 3: /* STARTED with a partition over 32 bits */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_STARTED, 9), 0);
			assert_int_equal(
				sl_writer_bytes(&m.w, "\xc0\x00\x00\x01\x00\x00\x00\x00\x00", 9),
				0);
			break;
		case 4: /* REMOVED, empty */
			assert_int_equal(sl_lp_header_write(&m.w, SL_LP_REMOVED, 0), 0);
			break;
		case 5: /* the stream ends inside a message */
			mb_records(&m, 0, 0, 2);
			m.w.p--;
			break;
		}
		if (kind != 5)
			mb_records(&m, 0, 100, 1); /* must not be delivered */
		f_data(e.lc, ss, m.b, mb_len(&m), kind == 5);
		assert_non_null(strstr(sr.log, "error protocol_error"));
		assert_null(strstr(sr.log, "records 0 100"));
		assert_non_null(strstr(sr.log, "end protocol_error 0;"));
		assert_true(ss->reset);
		assert_int_equal(ss->reset_code, SL_LP_RESET_MALFORMED);
		/* Late bytes and resets on the dead stream are ignored. */
		size_t len = sr.len;
		f_data(e.lc, ss, m.b, mb_len(&m), false);
		f_rst(e.lc, ss, 3);
		assert_int_equal(sr.len, len);
		assert_int_equal(sl_logclient_assign(sub, &(struct sl_lp_start){0}, 1, NULL, 0),
				 SL_ECLOSED);
		struct sl_logclient_stats st;
		sl_logclient_stats(e.lc, &st);
		assert_int_equal(st.protocol_errors, 1);
		env_free(&e);
	}
}

/* Unsubscribing from inside on_records stops delivery at once, even for messages already in
 * the same piece of stream data, and resets the stream. */
static void test_unsubscribe_from_callback(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	struct subrec sr = {0};
	sr.unsubscribe_after = 3;
	subscribe(&e, &sr);
	sl_logclient_poll(e.lc, 0);
	struct msgbuf m;
	build_sub_messages(&m);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_string_equal(sr.log, "started 0 5;records 0 5 one two three;");
	assert_true(e.f->s[0].reset);
	assert_int_equal(e.f->s[0].reset_code, 0);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), true);
	assert_string_equal(sr.log, "started 0 5;records 0 5 one two three;");
	env_free(&e);
}

/* The server resetting a subscription, or the connection closing, ends it with a local code;
 * a subscription made before the stream could open is simply dropped by unsubscribe. */
static void test_subscription_reset_and_close(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	struct subrec a = {0}, b = {0}, c = {0};
	subscribe(&e, &a);
	subscribe(&e, &b);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 2);
	/* Which subscription got the first stream is the session's business: a STARTED on it
	 * tells. */
	struct msgbuf m;
	mb_init(&m);
	struct sl_lp_started s0 = {4, 4};
	assert_int_equal(sl_lp_write_started(&m.w, &s0), 0);
	f_data(e.lc, &e.f->s[0], m.b, mb_len(&m), false);
	assert_true((a.len == 0) != (b.len == 0));
	struct subrec *first = a.len ? &a : &b, *second = a.len ? &b : &a;
	f_rst(e.lc, &e.f->s[0], 9);
	assert_string_equal(first->log, "started 4 4;end stream_reset 9;");
	assert_true(e.f->s[0].reset); /* our side too, so the stream is over both ways */
	assert_string_equal(second->log, "");
	/* A subscription whose stream never opened goes without a trace. */
	e.f->busy_opens = 100;
	struct sl_logclient_sub *csub = subscribe(&e, &c);
	sl_logclient_poll(e.lc, 0);
	assert_int_equal(e.f->n, 2);
	sl_logclient_unsubscribe(csub);
	sl_logclient_closed(e.lc, 5);
	assert_string_equal(second->log, "end connection_closed 5;");
	assert_string_equal(first->log, "started 4 4;end stream_reset 9;");
	assert_string_equal(c.log, "");
	struct sl_logclient_sub *d;
	assert_int_equal(sl_logclient_subscribe(e.lc, (struct sl_lp_bytes){(const uint8_t *)"x", 1},
						0, NULL, 0, &scbs, &c, &d),
			 SL_ECLOSED);
	env_free(&e);
}

/* Random bytes from the server, on either kind of stream and split anywhere, end in errors and
 * never in a crash (the ASan build checks the memory side). */
static void test_random_garbage(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15u;
	for (int round = 0; round < 2000; round++) {
		struct sl_logclient_config cfg;
		sl_logclient_config_default(&cfg);
		cfg.max_message_bytes = 1 + (round % 300);
		struct env e;
		env_new(&e, &cfg);
		struct subrec sr = {0};
		subscribe(&e, &sr);
		assert_int_equal(produce(e.lc, 0, 1, NULL, 0, NULL), 0);
		sl_logclient_poll(e.lc, 0);
		uint8_t junk[512];
		size_t n = 1 + (round * 7) % sizeof(junk);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[i] = (uint8_t)x;
			/* Mostly small types, so messages get past the first check. */
			if (i == 0)
				junk[i] = (uint8_t)(x % 0x16);
		}
		struct fstream *sid = &e.f->s[round % 2];
		size_t cut = (size_t)(x % n);
		f_data(e.lc, sid, junk, cut, false);
		f_data(e.lc, sid, junk + cut, n - cut, round % 3 == 0);
		env_free(&e);
	}
}

/* ---- over the QUIC client runtime ---- */

/*
 * An in-memory datagram port for the client (struct sl_pktio) and a server endpoint that
 * exchange datagrams through two queues. The server accepts both moq-lite-04 and
 * shardline-log-1, so that one client with a connection of each kind shows that every
 * connection offered only its own protocol and that the client's per-protocol endpoints each
 * receive their own datagrams.
 */
struct dq {
	struct {
		uint8_t data[1500];
		size_t len;
		struct sl_quic_path path;
	} q[512];
	size_t n;
};

struct memport {
	struct sl_pktio io; /* first: the client casts */
	struct dq *rx, *tx;
	struct sockaddr_storage self;
	uint8_t staging[1500];
};

static void push(struct dq *q, const uint8_t *d, size_t len, const struct sl_quic_path *sent)
{
	if (q->n == 512 || len > 1500)
		return; /* a full queue loses datagrams as a network would */
	q->q[q->n].len = len;
	memcpy(q->q[q->n].data, d, len);
	/* The receiver sees the path from its side. */
	struct sl_quic_path *p = &q->q[q->n].path;
	memset(p, 0, sizeof(*p));
	p->local = sent->remote;
	p->local_len = sent->remote_len;
	p->remote = sent->local;
	p->remote_len = sent->local_len;
	q->n++;
}

static unsigned int mp_rx(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int max)
{
	struct memport *mp = (struct memport *)port;
	unsigned int n = 0;
	/* Each datagram is handed out by pointer and released before the next burst. */
	for (; n < max && n < mp->rx->n; n++) {
		pkts[n].data = mp->rx->q[n].data;
		pkts[n].len = (uint32_t)mp->rx->q[n].len;
		pkts[n].flags = 0;
		pkts[n].handle = NULL;
		pkts[n].path = mp->rx->q[n].path;
	}
	return n;
}

static void mp_release(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int n)
{
	(void)pkts;
	struct memport *mp = (struct memport *)port;
	memmove(mp->rx->q, mp->rx->q + n, (mp->rx->n - n) * sizeof(mp->rx->q[0]));
	mp->rx->n -= n;
}

static uint8_t *mp_tx_alloc(struct sl_pktio *port, size_t max, void **token)
{
	struct memport *mp = (struct memport *)port;
	(void)max;
	*token = mp->staging;
	return mp->staging;
}

static void mp_tx_commit(struct sl_pktio *port, void *token, const struct sl_quic_path *path,
			 size_t len)
{
	struct memport *mp = (struct memport *)port;
	if (len > 0)
		push(mp->tx, token, len, path);
}

static int mp_flush(struct sl_pktio *port)
{
	(void)port;
	return 0;
}

static unsigned int mp_pending(const struct sl_pktio *port)
{
	(void)port;
	return 0;
}

static int mp_wait_fd(const struct sl_pktio *port)
{
	(void)port;
	return -1;
}

static void mp_close(struct sl_pktio *port)
{
	free(port);
}

static const struct sl_pktio_ops memport_ops = {
	.name = "memory",
	.rx_burst = mp_rx,
	.rx_release = mp_release,
	.tx_alloc = mp_tx_alloc,
	.tx_commit = mp_tx_commit,
	.tx_flush = mp_flush,
	.tx_pending = mp_pending,
	.wait_fd = mp_wait_fd,
	.close = mp_close,
};

/* The scripted server: answers each PRODUCE on a shardline-log-1 connection with PRODUCE_OK
 * (offsets counting from 0) and records the protocol each connection chose. */
struct srv {
	struct sl_quic_endpoint *ep;
	struct dq *out;
	uint8_t staging[1500];
	int log_conns, moq_conns;
	uint8_t rx[1 << 16];
	size_t rx_len;
	uint64_t next_offset;
	int produces;
};

static uint8_t *srv_tx_alloc(void *arg, size_t max, void **token)
{
	struct srv *s = arg;
	(void)max;
	*token = s->staging;
	return s->staging;
}

static void srv_tx_commit(void *arg, void *token, const struct sl_quic_path *path, size_t len)
{
	struct srv *s = arg;
	if (len > 0)
		push(s->out, token, len, path);
}

static void srv_connected(void *arg, struct sl_quic_conn *c)
{
	struct srv *s = arg;
	char alpn[32];
	const char *a = sl_quic_conn_alpn(c, alpn, sizeof(alpn));
	assert_non_null(a);
	if (strcmp(a, SL_LP_ALPN) == 0)
		s->log_conns++;
	else if (strcmp(a, "moq-lite-04") == 0)
		s->moq_conns++;
	else
		fail_msg("unexpected protocol %s", a);
	sl_quic_conn_set_user(c, (void *)(intptr_t)(strcmp(a, SL_LP_ALPN) == 0));
}

static void srv_data(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *qs, void *user,
		     const uint8_t *d, size_t n, bool fin)
{
	(void)user;
	(void)fin;
	struct srv *s = arg;
	if (sl_quic_conn_user(c) == NULL)
		return; /* the moq-lite connection: its session's bytes are not ours to read */
	assert_true(s->rx_len + n <= sizeof(s->rx));
	memcpy(s->rx + s->rx_len, d, n);
	s->rx_len += n;
	struct sl_lp_header h;
	while (sl_lp_header_parse(s->rx, s->rx_len, &h) == 0 && s->rx_len - h.hdr_len >= h.len) {
		assert_int_equal(h.type, SL_LP_PRODUCE);
		struct sl_lp_produce p;
		assert_int_equal(
			sl_lp_decode_produce(s->rx + h.hdr_len, (size_t)h.len, NULL, &p, NULL), 0);
		struct sl_buf *b = sl_buf_alloc(64);
		struct sl_writer w;
		sl_writer_init(&w, b->data, b->cap);
		struct sl_lp_produce_ok ok = {p.request_id, p.partition, s->next_offset, p.count};
		assert_int_equal(sl_lp_write_produce_ok(&w, &ok), 0);
		b->len = (uint32_t)sl_writer_len(&w);
		assert_int_equal(sl_quic_stream_write(c, qs, sl_slice_of(b), false), 0);
		s->next_offset += p.count;
		s->produces++;
		size_t used = h.hdr_len + (size_t)h.len;
		memmove(s->rx, s->rx + used, s->rx_len - used);
		s->rx_len -= used;
	}
}

static void srv_closed(void *arg, struct sl_quic_conn *c, uint64_t error)
{
	(void)arg;
	(void)c;
	(void)error;
}

static void set_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	inet_pton(AF_INET, ip, &in->sin_addr);
}

static void srv_run(struct srv *s, struct dq *in)
{
	uint64_t now = sl_clock_now_ns();
	for (size_t i = 0; i < in->n; i++)
		sl_quic_endpoint_recv(s->ep, &in->q[i].path, in->q[i].data, in->q[i].len, now);
	in->n = 0;
	if (sl_quic_endpoint_expiry(s->ep) <= now)
		sl_quic_endpoint_handle_expiry(s->ep, now);
	sl_quic_endpoint_flush(s->ep, now);
}

struct qrec {
	int acks;
	uint64_t last_offset;
	uint32_t last_count;
};

static void q_on_produce(void *user, void *cookie, const struct sl_logclient_result *r)
{
	(void)cookie;
	struct qrec *q = user;
	assert_int_equal(r->code, 0);
	q->acks++;
	q->last_offset = r->first_offset;
	q->last_count = r->count;
}

static void test_over_quic_client(void **state)
{
	(void)state;
	static struct dq c2s, s2c;
	static struct srv srv;
	memset(&c2s, 0, sizeof(c2s));
	memset(&s2c, 0, sizeof(s2c));
	memset(&srv, 0, sizeof(srv));
	srv.out = &s2c;
	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	qc.server = true;
	snprintf(qc.alpn, sizeof(qc.alpn), "moq-lite-04,%s", SL_LP_ALPN);
	static const struct sl_quic_callbacks scb = {
		.tx_alloc = srv_tx_alloc,
		.tx_commit = srv_tx_commit,
		.on_connected = srv_connected,
		.on_stream_data = srv_data,
		.on_closed = srv_closed,
	};
	assert_int_equal(sl_quic_endpoint_new(&qc, &scb, &srv, sl_clock_now_ns(), &srv.ep), 0);

	struct memport *mp = calloc(1, sizeof(*mp));
	assert_non_null(mp);
	mp->io.ops = &memport_ops;
	mp->rx = &s2c;
	mp->tx = &c2s;
	set_addr(&mp->self, "10.9.0.1", 40000);
	struct sl_pktio *port = &mp->io;
	struct sl_client *cl;
	assert_int_equal(sl_client_new_ports(&port, &mp->self, 1, &cl), 0);

	const char *url = "shardline://10.9.0.2:4443";
	struct sl_client_conn *moq, *logc;
	struct sl_logclient *lc;
	struct qrec q = {0};
	const struct sl_logclient_callbacks qcb = {.on_produce = q_on_produce};
	assert_int_equal(sl_client_connect(cl, url, &moq), 0);
	assert_int_equal(sl_logclient_connect(cl, url, NULL, &qcb, &q, &lc, &logc), 0);
	assert_null(logc->s);
	assert_non_null(moq->s);
	assert_int_equal(sl_client_connect_app(cl, url, "a,b", logc->app_ops, lc, &logc),
			 SL_EINVAL);

	/* Records queued before the handshake leave once it is done. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(produce(lc, 3, 3, NULL, 0, NULL), 0);
	uint64_t end = sl_clock_now_ns() + UINT64_C(5000000000);
	while (q.acks < 5 && sl_clock_now_ns() < end) {
		sl_client_run(cl, 0);
		srv_run(&srv, &c2s);
	}
	assert_true(moq->connected);
	assert_true(logc->connected);
	assert_int_equal(srv.moq_conns, 1);
	assert_int_equal(srv.log_conns, 1);
	assert_int_equal(q.acks, 5);
	assert_int_equal(q.last_offset, 12);
	assert_int_equal(q.last_count, 3);
	assert_int_equal(srv.produces, 5);

	/* A client speaks at most SL_CLIENT_MAX_ALPNS protocols; the same one again reuses its
	 * endpoint. */
	struct sl_client_conn *x;
	static const struct sl_client_app_ops none = {0};
	assert_int_equal(sl_client_connect_app(cl, url, SL_LP_ALPN, &none, NULL, &x), 0);
	assert_int_equal(sl_client_connect_app(cl, url, "x-2", &none, NULL, &x), 0);
	assert_int_equal(sl_client_connect_app(cl, url, "x-3", &none, NULL, &x), 0);
	assert_int_equal(sl_client_connect_app(cl, url, "x-4", &none, NULL, &x), SL_ENOSPC);
	assert_int_equal(sl_client_connect_app(cl, url, "", &none, NULL, &x), SL_EINVAL);
	assert_int_equal(sl_client_connect_app(cl, url, "x-2", NULL, NULL, &x), SL_EINVAL);

	sl_logclient_free(lc);
	sl_client_close_all(cl, 0);
	sl_client_free(cl);
	sl_quic_endpoint_free(srv.ep);
}

/* An idempotent PRODUCE goes out as PRODUCE_IDEM; PRODUCE_DUP completes it like PRODUCE_OK,
 * flagged as a duplicate. */
static void test_produce_idempotent_and_dup(void **state)
{
	(void)state;
	struct env e;
	env_new(&e, NULL);
	struct sl_lp_produce m = {0};
	m.stream.p = (const uint8_t *)"orders";
	m.stream.n = 6;
	m.partition = 1;
	m.durability = SL_LP_DURABLE;
	m.count = 2;
	m.idempotent = true;
	m.producer_id = 0xabcdef;
	m.sequence = 40;
	uint64_t id[2];
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, (void *)1, 0, &id[0]), 0);
	m.sequence = 42;
	assert_int_equal(sl_logclient_produce(e.lc, &m, recs3, (void *)2, 0, &id[1]), 0);
	sl_logclient_poll(e.lc, 0);
	struct fstream *s = &e.f->s[0];
	for (int i = 0; i < 2; i++) {
		uint64_t type;
		const uint8_t *body;
		size_t len;
		assert_true(srv_next(s, &type, &body, &len));
		assert_int_equal(type, SL_LP_PRODUCE_IDEM);
		struct sl_lp_produce p;
		assert_int_equal(sl_lp_decode_produce_idem(body, len, NULL, &p, NULL), 0);
		assert_int_equal(p.producer_id, 0xabcdef);
		assert_int_equal(p.sequence, 40 + 2 * (uint64_t)i);
		assert_int_equal(p.count, 2);
	}
	struct msgbuf mb;
	mb_init(&mb);
	struct sl_lp_produce_ok dup = {id[0], 1, 7, 2};
	assert_int_equal(sl_lp_write_produce_dup(&mb.w, &dup), 0);
	mb_ok(&mb, id[1], 1, 9, 2);
	f_data(e.lc, s, mb.b, mb_len(&mb), false);
	assert_int_equal(e.r->n, 2);
	assert_int_equal(e.r->d[0].code, 0);
	assert_true(e.r->d[0].duplicate);
	assert_int_equal(e.r->d[0].first_offset, 7);
	assert_int_equal(e.r->d[1].code, 0);
	assert_false(e.r->d[1].duplicate);
	assert_int_equal(e.r->d[1].first_offset, 9);
	struct sl_logclient_stats st;
	sl_logclient_stats(e.lc, &st);
	assert_int_equal(st.produce_ok, 2);
	assert_int_equal(st.produce_dup, 1);
	env_free(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_produce_pipelined_out_of_order),
		cmocka_unit_test(test_produce_idempotent_and_dup),
		cmocka_unit_test(test_produce_waits_for_stream),
		cmocka_unit_test(test_produce_burst_before_open),
		cmocka_unit_test(test_in_flight_limit_and_ids),
		cmocka_unit_test(test_produce_bad_arguments),
		cmocka_unit_test(test_hwm),
		cmocka_unit_test(test_responses_split_everywhere),
		cmocka_unit_test(test_request_stream_garbage),
		cmocka_unit_test(test_request_stream_error_for_nobody),
		cmocka_unit_test(test_request_stream_reset_fin_close),
		cmocka_unit_test(test_produce_from_callback),
		cmocka_unit_test(test_subscription),
		cmocka_unit_test(test_subscription_split_everywhere),
		cmocka_unit_test(test_subscription_garbage),
		cmocka_unit_test(test_unsubscribe_from_callback),
		cmocka_unit_test(test_subscription_reset_and_close),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_over_quic_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
