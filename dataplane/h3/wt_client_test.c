/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of WebTransport (sl_wt_conn_new_client) back to back with the server side:
 * two sl_wt_conns joined by an in-memory QUIC connection (a table of streams in this file that
 * hands each side's bytes to the other, in order, any time the test pumps), a real moq-lite
 * client session over the client, a real relay session over the server. So every byte the
 * tools' WebTransport path sends is read by the relay's own code, and the other way round:
 * SETTINGS, the extended CONNECT, the 200 and its wt-protocol, the session streams' prefixes,
 * then moq-lite's SETUP and a publish -> subscribe through the relay.
 */
#include "h3/wt.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/test_common.h"
#include "track/origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 128
#define MS   UINT64_C(1000000)

struct pstream;
/* One side's handle of a stream. */
struct pend {
	struct pstream *ps;
	int side;
};

/* One QUIC stream between the two sides; index 0 is the client, 1 the server. */
struct pstream {
	bool used, bidi;
	int opener;
	struct pend e[2];
	void *user[2];
	bool accepted[2];
	uint8_t *out[2]; /* what each side wrote */
	size_t len[2], cap[2], fed[2];
	bool fin[2], fin_fed[2];
	bool reset[2], reset_fed[2];
	uint64_t reset_code[2];
	bool closed_told[2];
};

struct pair;
struct side {
	struct pair *p;
	int idx;
	struct sl_wt_conn *wt;
	bool closed;
	uint64_t close_code;
};

struct world;
struct pair {
	struct world *w;
	struct side s[2];
	struct pstream st[MAXS];
	bool dead;	  /* a side closed the connection */
	bool hold_answer; /* the server's bytes on the CONNECT stream wait (reordering) */
	struct sl_moq_session *cs, *ss;
	enum sl_moq_version version;
	int refuse; /* the server's host refuses with this status */
	char path[64], query[128], alpn[32];
	int c_attaches, c_detaches, s_attaches, s_detaches;
};

struct world {
	struct sl_origin *origin;
	struct sl_moq_relay *relay;
	uint64_t now;
	struct pair *pairs[4];
	int npairs;
};

/* ---- the in-memory QUIC connection ---- */

static int lo_open(void *t, bool bidi, void *user, void **handle)
{
	struct side *sd = t;
	for (int i = 0; i < MAXS; i++) {
		struct pstream *ps = &sd->p->st[i];
		if (ps->used)
			continue;
		memset(ps, 0, sizeof(*ps));
		ps->used = true;
		ps->bidi = bidi;
		ps->opener = sd->idx;
		ps->e[0] = (struct pend){ps, 0};
		ps->e[1] = (struct pend){ps, 1};
		ps->user[sd->idx] = user;
		ps->accepted[sd->idx] = true;
		*handle = &ps->e[sd->idx];
		return 0;
	}
	return SL_EBUSY;
}

static int lo_write(void *t, void *h, struct sl_slice data, bool fin)
{
	(void)t;
	struct pend *e = h;
	struct pstream *ps = e->ps;
	int k = e->side;
	assert_false(ps->fin[k]);
	if (data.len) {
		if (ps->len[k] + data.len > ps->cap[k]) {
			size_t want = (ps->len[k] + data.len) * 2;
			ps->out[k] = realloc(ps->out[k], want);
			assert_non_null(ps->out[k]);
			ps->cap[k] = want;
		}
		memcpy(ps->out[k] + ps->len[k], sl_slice_data(&data), data.len);
		ps->len[k] += data.len;
	}
	if (data.buf)
		sl_buf_unref(data.buf);
	ps->fin[k] = ps->fin[k] || fin;
	return 0;
}

static int lo_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	struct pend *e = h;
	if (!e->ps->fin[e->side]) {
		e->ps->reset[e->side] = true;
		e->ps->reset_code[e->side] = code;
	}
	return 0;
}

static void lo_release(void *t, void *h)
{
	(void)t;
	struct pend *e = h;
	e->ps->user[e->side] = NULL;
}

static void lo_close(void *t, uint64_t code, const char *reason)
{
	(void)reason;
	struct side *sd = t;
	assert_false(sd->closed);
	sd->closed = true;
	sd->close_code = code;
	sd->p->dead = true;
}

static void lo_order(void *t, void *h, uint64_t order)
{
	(void)t;
	(void)h;
	(void)order;
}

static const struct sl_moq_transport_ops lower = {
	.open_stream = lo_open,
	.write = lo_write,
	.reset = lo_reset,
	.release = lo_release,
	.close = lo_close,
	.set_order = lo_order,
};

/* A direction of a stream is over: its FIN or reset was delivered. */
static bool dir_done(const struct pstream *ps, int k)
{
	return ps->fin_fed[k] || ps->reset_fed[k];
}

/* Hands over what either side wrote; returns how many deliveries it made. */
static int deliver(struct pair *p)
{
	int moved = 0;
	for (int i = 0; i < MAXS && !p->dead; i++) {
		struct pstream *ps = &p->st[i];
		if (!ps->used)
			continue;
		for (int d = 0; d < 2 && !p->dead; d++) {
			int r = 1 - d;
			if (!ps->bidi && d != ps->opener)
				continue;
			/* Before the answer the client's only bidi stream is the CONNECT. */
			if (p->hold_answer && d == 1 && ps->bidi && ps->opener == 0)
				continue;
			bool more = ps->len[d] > ps->fed[d] || (ps->fin[d] && !ps->fin_fed[d]) ||
				    (ps->reset[d] && !ps->reset_fed[d]);
			if (!more || dir_done(ps, d))
				continue;
			if (!ps->accepted[r]) {
				ps->accepted[r] = true;
				ps->user[r] = sl_wt_stream_accept(p->s[r].wt, &ps->e[r], ps->bidi);
			}
			moved++;
			if (ps->reset[d]) {
				ps->reset_fed[d] = true;
				sl_wt_stream_reset(p->s[r].wt, ps->user[r], ps->reset_code[d]);
				continue;
			}
			size_t n = ps->len[d] - ps->fed[d];
			size_t at = ps->fed[d];
			ps->fed[d] = ps->len[d];
			ps->fin_fed[d] = ps->fin[d];
			sl_wt_stream_data(p->s[r].wt, ps->user[r], ps->out[d] + at, n, ps->fin[d]);
			if (n > 0 && !p->dead && ps->user[d])
				sl_wt_stream_acked(p->s[d].wt, ps->user[d], n);
		}
		if (p->dead)
			break;
		bool done =
			ps->bidi ? dir_done(ps, 0) && dir_done(ps, 1) : dir_done(ps, ps->opener);
		if (!done)
			continue;
		for (int k = 0; k < 2; k++) {
			if (ps->accepted[k] && !ps->closed_told[k]) {
				ps->closed_told[k] = true;
				sl_wt_stream_closed(p->s[k].wt, ps->user[k]);
				if (p->dead)
					break;
			}
		}
		if (ps->closed_told[0] && ps->closed_told[1]) {
			free(ps->out[0]);
			free(ps->out[1]);
			memset(ps, 0, sizeof(*ps));
		}
	}
	return moved;
}

/* A closed connection: both sides hear of it (QUIC tells the peer, or its idle timer does). */
static void bury(struct pair *p)
{
	sl_wt_closed(p->s[0].wt);
	sl_wt_closed(p->s[1].wt);
}

static void pump(struct world *w)
{
	for (int iter = 0; iter < 10000; iter++) {
		int moved = 0;
		for (int i = 0; i < w->npairs; i++) {
			struct pair *p = w->pairs[i];
			if (p->dead)
				continue;
			if (p->cs)
				sl_moq_session_poll(p->cs, w->now);
			if (p->ss)
				sl_moq_session_poll(p->ss, w->now);
			moved += deliver(p);
			if (p->dead) {
				bury(p);
				moved++;
			}
		}
		if (moved == 0)
			return;
	}
	fail_msg("the connections never went quiet");
}

/* ---- the hosts ---- */

static struct sl_moq_session *c_attach(void *arg, struct sl_wt_conn *c,
				       const struct sl_h3_connect *req, const char *alpn,
				       const struct sl_moq_transport_ops *ops, void *t, int *status,
				       const char **why)
{
	struct pair *p = arg;
	(void)c;
	(void)status;
	(void)why;
	assert_null(req);
	assert_ptr_equal(ops, &sl_wt_moq_transport);
	assert_ptr_equal(t, p->s[0].wt);
	p->c_attaches++;
	snprintf(p->alpn, sizeof(p->alpn), "%s", alpn);
	/* As the client runtime does: the session was made with the connection. */
	return p->cs;
}

static void c_detach(void *arg, struct sl_wt_conn *c, struct sl_moq_session *s)
{
	struct pair *p = arg;
	(void)c;
	assert_ptr_equal(s, p->cs);
	p->c_detaches++; /* the client keeps its session (and frees it) */
}

static struct sl_moq_session *s_attach(void *arg, struct sl_wt_conn *c,
				       const struct sl_h3_connect *req, const char *alpn,
				       const struct sl_moq_transport_ops *ops, void *t, int *status,
				       const char **why)
{
	struct pair *p = arg;
	(void)c;
	p->s_attaches++;
	snprintf(p->path, sizeof(p->path), "%.*s", (int)req->path_len, req->path);
	snprintf(p->query, sizeof(p->query), "%s", req->query);
	if (p->refuse) {
		*status = p->refuse;
		*why = "refused by the test";
		return NULL;
	}
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.version = strcmp(alpn, "moq-lite-05") == 0 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
	p->ss = sl_moq_session_new(&cfg, ops, t, p->w->relay);
	assert_non_null(p->ss);
	return p->ss;
}

static void s_detach(void *arg, struct sl_wt_conn *c, struct sl_moq_session *s)
{
	struct pair *p = arg;
	(void)c;
	assert_ptr_equal(s, p->ss);
	p->s_detaches++;
	sl_moq_session_free(s);
	p->ss = NULL;
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->origin = sl_origin_new(NULL);
	w->relay = sl_moq_relay_new(w->origin);
	assert_non_null(w->relay);
	w->now = 1000 * MS;
	return w;
}

/* A WebTransport connection for path; both sides started, nothing delivered yet. */
static struct pair *pair_new(struct world *w, enum sl_moq_version v, const char *path)
{
	struct pair *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->w = w;
	p->version = v;
	for (int k = 0; k < 2; k++) {
		p->s[k].p = p;
		p->s[k].idx = k;
	}
	const char *alpn = v == SL_MOQ_LITE_05 ? "moq-lite-05" : "moq-lite-04";
	struct sl_wt_host ch = {
		.attach = c_attach, .detach = c_detach, .arg = p, .alpns = {alpn}, .n_alpns = 1};
	struct sl_wt_host sh = {.attach = s_attach,
				.detach = s_detach,
				.arg = p,
				.alpns = {"moq-lite-05", "moq-lite-04"},
				.n_alpns = 2};
	assert_int_equal(
		sl_wt_conn_new_client(&ch, "relay.test:4443", path, &lower, &p->s[0], &p->s[0].wt),
		0);
	assert_int_equal(sl_wt_conn_new(&sh, &lower, &p->s[1], &p->s[1].wt), 0);
	struct sl_moq_session_config cc;
	sl_moq_session_config_default(&cc);
	cc.version = v;
	p->cs = sl_moq_session_new(&cc, &sl_wt_moq_transport, p->s[0].wt, NULL);
	assert_non_null(p->cs);
	assert_int_equal(sl_wt_start(p->s[0].wt), 0);
	assert_int_equal(sl_wt_start(p->s[1].wt), 0);
	w->pairs[w->npairs++] = p;
	return p;
}

static void pair_free(struct pair *p)
{
	/* The connection first: it hands the session back (closed), which is then freed. */
	sl_wt_conn_free(p->s[0].wt);
	sl_moq_session_free(p->cs);
	sl_wt_conn_free(p->s[1].wt);
	assert_null(p->ss);
	for (int i = 0; i < MAXS; i++) {
		free(p->st[i].out[0]);
		free(p->st[i].out[1]);
	}
	free(p);
}

static void world_free(struct world *w)
{
	for (int i = 0; i < w->npairs; i++)
		pair_free(w->pairs[i]);
	sl_moq_relay_free(w->relay);
	sl_origin_free(w->origin);
	free(w);
}

static struct sl_moq_session_stats stats(struct sl_moq_session *s)
{
	struct sl_moq_session_stats st;
	sl_moq_session_stats(s, &st);
	return st;
}

/* ---- frames ---- */

static struct sl_slice frame_of(uint64_t seq, uint32_t i)
{
	struct sl_buf *b = sl_buf_alloc(32);
	assert_non_null(b);
	int n = snprintf((char *)b->data, 32, "g%llu f%u", (unsigned long long)seq, i);
	b->len = (uint32_t)n;
	return sl_slice_of(b);
}

static void expect_group(struct sl_track_consumer *c, uint64_t seq, uint32_t n)
{
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(c, NULL, &r), 0);
	assert_int_equal(sl_group_sequence(r.group), seq);
	for (uint32_t i = 0; i < n; i++) {
		struct sl_slice f;
		assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
		char want[32];
		int k = snprintf(want, sizeof(want), "g%llu f%u", (unsigned long long)seq, i);
		assert_int_equal(f.len, (uint32_t)k);
		assert_memory_equal(sl_slice_data(&f), want, (size_t)k);
	}
	struct sl_slice f;
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EEOF);
	sl_group_reader_release(&r);
}

/* ---- tests ---- */

static void setup_exchanged(enum sl_moq_version v)
{
	struct world *w = world_new();
	struct pair *p = pair_new(w, v, "/?jwt=abc");
	pump(w);
	assert_false(p->dead);
	const char *alpn = v == SL_MOQ_LITE_05 ? "moq-lite-05" : "moq-lite-04";
	assert_int_equal(sl_wt_status(p->s[0].wt), 200);
	assert_null(sl_wt_error(p->s[0].wt));
	assert_string_equal(p->alpn, alpn);
	assert_string_equal(p->path, "/");
	assert_string_equal(p->query, "jwt=abc");
	assert_int_equal(p->c_attaches, 1);
	assert_ptr_equal(sl_wt_session(p->s[0].wt), p->cs);
	assert_int_equal(stats(p->cs).msgs_in[SL_MOQ_MSG_SETUP], v == SL_MOQ_LITE_05 ? 1 : 0);
	assert_int_equal(stats(p->ss).msgs_in[SL_MOQ_MSG_SETUP], v == SL_MOQ_LITE_05 ? 1 : 0);
	/* The client's control stream: H3_DATAGRAM and draft-02's WebTransport setting. */
	static const uint8_t ctl[] = {0x00, 0x04, 0x07, 0x33, 0x01, 0xab, 0x60, 0x37, 0x42, 0x01};
	bool seen = false;
	for (int i = 0; i < MAXS; i++) {
		const struct pstream *ps = &p->st[i];
		if (ps->used && !ps->bidi && ps->opener == 0 && ps->len[0] > 0 &&
		    ps->out[0][0] == 0x00) {
			assert_int_equal(ps->len[0], sizeof(ctl));
			assert_memory_equal(ps->out[0], ctl, sizeof(ctl));
			seen = true;
		}
	}
	assert_true(seen);
	struct sl_wt_stats cst, sst;
	sl_wt_stats(p->s[0].wt, &cst);
	sl_wt_stats(p->s[1].wt, &sst);
	assert_int_equal(cst.sessions, 1);
	assert_int_equal(sst.sessions, 1);
	assert_int_equal(cst.h3_errors + sst.h3_errors, 0);
	assert_int_equal(cst.streams_rejected + sst.streams_rejected, 0);
	world_free(w);
}

static void setup_05(void **state)
{
	(void)state;
	setup_exchanged(SL_MOQ_LITE_05);
}

static void setup_04(void **state)
{
	(void)state;
	setup_exchanged(SL_MOQ_LITE_04);
}

/* A publisher and a subscriber, both over WebTransport, through a relay session each. */
static void publish_subscribe(enum sl_moq_version v)
{
	struct world *w = world_new();
	struct pair *pub = pair_new(w, v, "/");
	struct pair *sub = pair_new(w, v, "/");
	pump(w);
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_broadcast *b;
	struct sl_track *t;
	assert_int_equal(sl_origin_publish(o, "demo", &b), 0);
	assert_int_equal(sl_broadcast_create_track(b, "clock", 0, &t), 0);
	assert_int_equal(sl_moq_session_publish(pub->cs, "demo", b), 0);
	pump(w);
	assert_non_null(sl_origin_find(w->origin, "demo"));
	struct sl_track_consumer c;
	assert_int_equal(sl_moq_session_subscribe(sub->cs, "demo", "clock", NULL, NULL, &c), 0);
	pump(w);
	for (int gi = 0; gi < 3; gi++) {
		struct sl_group *g;
		assert_int_equal(sl_track_append_group(t, w->now, &g), 0);
		for (uint32_t i = 0; i < 4; i++)
			assert_int_equal(sl_group_write_frame(g, frame_of(sl_group_sequence(g), i)),
					 0);
		assert_int_equal(sl_group_finish(g), 0);
		sl_group_unref(g);
		pump(w);
	}
	for (uint64_t gi = 0; gi < 3; gi++)
		expect_group(&c, gi, 4);
	struct sl_wt_stats cst;
	sl_wt_stats(sub->s[0].wt, &cst);
	assert_true(cst.streams_in >= 3); /* the group streams, prefixes stripped */
	assert_int_equal(cst.streams_rejected, 0);
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	world_free(w);
	sl_origin_free(o);
}

static void frames_05(void **state)
{
	(void)state;
	publish_subscribe(SL_MOQ_LITE_05);
}

static void frames_04(void **state)
{
	(void)state;
	publish_subscribe(SL_MOQ_LITE_04);
}

/* The server refuses the CONNECT (a token, say): the client says which status, and ends the
 * connection cleanly; its session never attached. */
static void refused(void **state)
{
	(void)state;
	static const int codes[] = {401, 400, 403};
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		struct world *w = world_new();
		struct pair *p = pair_new(w, SL_MOQ_LITE_05, "/demo");
		p->refuse = codes[i];
		pump(w);
		assert_true(p->dead);
		assert_true(p->s[0].closed);
		assert_int_equal(p->s[0].close_code, SL_H3_NO_ERROR);
		assert_int_equal(sl_wt_status(p->s[0].wt), codes[i]);
		const char *why = sl_wt_error(p->s[0].wt);
		assert_non_null(why);
		char code[8];
		snprintf(code, sizeof(code), "%d", codes[i]);
		assert_non_null(strstr(why, code));
		assert_int_equal(p->c_attaches, 0);
		assert_null(sl_wt_session(p->s[0].wt));
		struct sl_wt_stats cst;
		sl_wt_stats(p->s[0].wt, &cst);
		assert_int_equal(cst.refused, 1);
		assert_int_equal(cst.sessions, 0);
		world_free(w);
	}
}

/* The server's first session stream arrives before its answer: the client keeps it and hands
 * it to the session with the answer. */
static void stream_before_answer(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct pair *p = pair_new(w, SL_MOQ_LITE_05, "/");
	p->hold_answer = true;
	pump(w);
	assert_false(p->dead);
	assert_int_equal(sl_wt_status(p->s[0].wt), 0);
	assert_int_equal(stats(p->cs).msgs_in[SL_MOQ_MSG_SETUP], 0);
	p->hold_answer = false;
	pump(w);
	assert_int_equal(sl_wt_status(p->s[0].wt), 200);
	assert_int_equal(stats(p->cs).msgs_in[SL_MOQ_MSG_SETUP], 1);
	assert_int_equal(stats(p->ss).msgs_in[SL_MOQ_MSG_SETUP], 1);
	struct sl_wt_stats cst;
	sl_wt_stats(p->s[0].wt, &cst);
	assert_true(cst.streams_in >= 1);
	assert_int_equal(cst.streams_rejected, 0);
	world_free(w);
}

/* The client's session closes: the capsule reaches the server, which ends its session and the
 * connection with H3_NO_ERROR. */
static void client_closes(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct pair *p = pair_new(w, SL_MOQ_LITE_05, "/");
	pump(w);
	sl_moq_session_close(p->cs, 0, "bye");
	pump(w);
	assert_true(p->dead);
	assert_true(p->s[1].closed);
	assert_int_equal(p->s[1].close_code, SL_H3_NO_ERROR);
	struct sl_wt_stats sst;
	sl_wt_stats(p->s[1].wt, &sst);
	assert_int_equal(sst.closes_in, 1);
	assert_int_equal(p->s_detaches, 1);
	assert_int_equal(p->c_detaches, 1);
	world_free(w);
}

static void bad_arguments(void **state)
{
	(void)state;
	struct sl_wt_host h = {.attach = c_attach, .alpns = {"moq-lite-05"}, .n_alpns = 1};
	struct sl_wt_conn *c;
	struct side sd = {0};
	assert_int_equal(sl_wt_conn_new_client(&h, "", "/", &lower, &sd, &c), SL_EINVAL);
	assert_int_equal(sl_wt_conn_new_client(&h, "a:1", "demo", &lower, &sd, &c), SL_EINVAL);
	assert_int_equal(sl_wt_conn_new_client(&h, "a:1", NULL, &lower, &sd, &c), SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(setup_05),	 cmocka_unit_test(setup_04),
		cmocka_unit_test(frames_05),	 cmocka_unit_test(frames_04),
		cmocka_unit_test(refused),	 cmocka_unit_test(stream_before_answer),
		cmocka_unit_test(client_closes), cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
