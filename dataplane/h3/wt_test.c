/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebTransport server connection (h3/wt.h) driven the way Chromium drives it: the client's
 * control stream, its CONNECT, its session streams. The QUIC connection below is a table of
 * streams in this file (what the server wrote on each, and whether it ended or was reset); the
 * moq sessions are real ones. A moq-lite-05 client session runs on the test's side of the
 * WebTransport session: its streams reach the server with the WebTransport prefix, and what
 * the server's session writes reaches it with the prefix checked and stripped, so the two
 * sessions exchange their SETUP through the layer under test.
 */
#include "h3/wt.h"

#include "core/buf.h"
#include "core/err.h"
#include "moq/codec.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_STREAMS 64

/* One QUIC stream as the test sees it. */
struct qstream {
	bool used, bidi, server;
	uint64_t id;
	uint8_t out[8192]; /* what the server wrote */
	size_t out_len;
	bool fin, reset;
	uint64_t reset_code;
	void *user; /* the wt connection's pointer for it */
	/* Server-opened session streams: where the client session's copy lives. */
	struct sl_h3_uni_reader ur;
	struct sl_h3_frame_reader fr;
	bool prefix_done;
	void *cl_user; /* the client session's stream */
	size_t fed;    /* bytes of out already given to the client session */
	bool cl_fin;
};

struct fx {
	struct sl_wt_conn *c;
	struct qstream qs[MAX_STREAMS];
	uint64_t next_server_uni, next_server_bidi, next_client_uni, next_client_bidi;
	bool closed;
	uint64_t close_code;
	/* The host. */
	struct sl_moq_session *server; /* attached */
	char alpn[32];
	int attaches, detaches;
	int refuse_status; /* attach refuses with this when non-zero */
	char path[64], query[128];
	/* The client session on the test's side, and its transport. */
	struct sl_moq_session *client;
	uint64_t session_id;
};

/* ---- the QUIC connection below the server ---- */

static struct qstream *qs_new(struct fx *fx, uint64_t id, bool bidi, bool server)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (!fx->qs[i].used) {
			struct qstream *q = &fx->qs[i];
			memset(q, 0, sizeof(*q));
			q->used = true;
			q->id = id;
			q->bidi = bidi;
			q->server = server;
			return q;
		}
	}
	fail();
	return NULL;
}

static struct qstream *qs_by_id(struct fx *fx, uint64_t id)
{
	for (int i = 0; i < MAX_STREAMS; i++) {
		if (fx->qs[i].used && fx->qs[i].id == id)
			return &fx->qs[i];
	}
	return NULL;
}

static int lo_open(void *t, bool bidi, void *user, void **handle)
{
	struct fx *fx = t;
	uint64_t *next = bidi ? &fx->next_server_bidi : &fx->next_server_uni;
	struct qstream *q = qs_new(fx, *next, bidi, true);
	*next += 4;
	q->user = user;
	sl_h3_frame_reader_init(&q->fr, true);
	*handle = q;
	return 0;
}

static int lo_write(void *t, void *h, struct sl_slice data, bool fin)
{
	(void)t;
	struct qstream *q = h;
	assert_false(q->fin);
	if (data.len) {
		assert_true(q->out_len + data.len <= sizeof(q->out));
		memcpy(q->out + q->out_len, sl_slice_data(&data), data.len);
		q->out_len += data.len;
	}
	if (data.buf)
		sl_buf_unref(data.buf);
	q->fin = q->fin || fin;
	return 0;
}

static int lo_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	struct qstream *q = h;
	q->reset = true;
	q->reset_code = code;
	return 0;
}

static void lo_release(void *t, void *h)
{
	(void)t;
	((struct qstream *)h)->user = NULL;
}

static void lo_close(void *t, uint64_t code, const char *reason)
{
	(void)reason;
	struct fx *fx = t;
	assert_false(fx->closed);
	fx->closed = true;
	fx->close_code = code;
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

/* ---- the host ---- */

static struct sl_moq_session *h_attach(void *arg, struct sl_wt_conn *c,
				       const struct sl_h3_connect *req, const char *alpn,
				       const struct sl_moq_transport_ops *ops, void *t, int *status,
				       const char **why)
{
	struct fx *fx = arg;
	(void)c;
	fx->attaches++;
	snprintf(fx->alpn, sizeof(fx->alpn), "%s", alpn);
	snprintf(fx->path, sizeof(fx->path), "%.*s", (int)req->path_len, req->path);
	snprintf(fx->query, sizeof(fx->query), "%s", req->query);
	if (fx->refuse_status) {
		*status = fx->refuse_status;
		*why = "refused by the test";
		return NULL;
	}
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.version = strcmp(alpn, "moq-lite-05") == 0 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
	fx->server = sl_moq_session_new(&cfg, ops, t, NULL);
	assert_non_null(fx->server);
	return fx->server;
}

static void h_detach(void *arg, struct sl_wt_conn *c, struct sl_moq_session *s)
{
	struct fx *fx = arg;
	(void)c;
	assert_ptr_equal(s, fx->server);
	fx->detaches++;
	sl_moq_session_free(s);
	fx->server = NULL;
}

static struct fx *fx_new(void)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	fx->next_server_uni = 3;
	fx->next_server_bidi = 1;
	fx->next_client_uni = 2;
	fx->next_client_bidi = 0;
	struct sl_wt_host host = {.attach = h_attach,
				  .detach = h_detach,
				  .arg = fx,
				  .alpns = {"moq-lite-05", "moq-lite-04"},
				  .n_alpns = 2};
	assert_int_equal(sl_wt_conn_new(&host, &lower, fx, &fx->c), 0);
	return fx;
}

static void fx_free(struct fx *fx)
{
	if (fx->client) {
		sl_moq_session_closed(fx->client);
		sl_moq_session_free(fx->client);
	}
	sl_wt_conn_free(fx->c);
	assert_null(fx->server); /* the host got it back */
	free(fx);
}

/* The client opens a stream and sends bytes on it. */
static struct qstream *client_open(struct fx *fx, bool bidi)
{
	uint64_t *next = bidi ? &fx->next_client_bidi : &fx->next_client_uni;
	struct qstream *q = qs_new(fx, *next, bidi, false);
	*next += 4;
	q->user = sl_wt_stream_accept(fx->c, q, bidi);
	assert_non_null(q->user);
	return q;
}

static void client_send(struct fx *fx, struct qstream *q, const void *p, size_t n, bool fin)
{
	sl_wt_stream_data(fx->c, q->user, p, n, fin);
}

/* Chromium's side of the control stream: type, then SETTINGS as Chrome sends them (QPACK
 * capacity and blocked streams, field section size, both datagram settings, draft-02, grease). */
static void client_control(struct fx *fx)
{
	static const uint8_t ctl[] = {0x00, 0x04, 0x19, 0x01, 0x80, 0x01, 0x00, 0x00, 0x06, 0x80,
				      0x00, 0x40, 0x00, 0x07, 0x40, 0x64, 0x33, 0x01, 0x80, 0xff,
				      0xd2, 0x77, 0x01, 0xab, 0x60, 0x37, 0x42, 0x01, 0x21, 0x00};
	struct qstream *q = client_open(fx, false);
	client_send(fx, q, ctl, sizeof(ctl), false);
	/* And its QPACK streams, which say nothing with no dynamic table. */
	q = client_open(fx, false);
	client_send(fx, q, "\x02", 1, false);
	q = client_open(fx, false);
	client_send(fx, q, "\x03", 1, false);
	assert_false(fx->closed);
}

#define F(n, v)                                                                                    \
	{                                                                                          \
		n, v, sizeof(n) - 1, sizeof(v) - 1                                                 \
	}

/* Sends a request's HEADERS on a new bidi stream; returns the stream. */
static struct qstream *client_request(struct fx *fx, const struct sl_h3_field *f, size_t n,
				      bool fin)
{
	struct sl_h3_qpack *enc;
	assert_int_equal(sl_h3_qpack_new(&enc), 0);
	uint8_t buf[2048];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_h3_qpack_encode(enc, 0, f, n, &w), 0);
	sl_h3_qpack_free(enc);
	struct qstream *q = client_open(fx, true);
	/* In two pieces, split inside the frame. */
	size_t half = sl_writer_len(&w) / 2;
	client_send(fx, q, buf, half, false);
	client_send(fx, q, buf + half, sl_writer_len(&w) - half, fin);
	return q;
}

static const struct sl_h3_field connect_req[] = {
	F(":scheme", "https"),
	F(":method", "CONNECT"),
	F(":authority", "127.0.0.1:4443"),
	F(":path", "/demo?jwt=abc"),
	F(":protocol", "webtransport"),
	F("sec-webtransport-http3-draft02", "1"),
	F("origin", "http://127.0.0.1:8000"),
	F("wt-available-protocols", "\"moq-lite-05\", \"moq-lite-04\", \"moql\", \"moqt-20\""),
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Decodes the server's answer on q: its :status, and wt-protocol into proto. */
static int answer_status(struct qstream *q, char *proto, size_t cap)
{
	struct sl_reader r;
	sl_reader_init(&r, q->out, q->out_len);
	struct sl_h3_frame_header h;
	assert_int_equal(sl_h3_decode_frame_header(&r, &h), 0);
	assert_int_equal(h.type, SL_H3_FRAME_HEADERS);
	assert_true(h.len <= sl_reader_left(&r));
	const uint8_t *p;
	assert_int_equal(sl_reader_bytes(&r, h.len, &p), 0);
	struct sl_h3_qpack *dec;
	assert_int_equal(sl_h3_qpack_new(&dec), 0);
	static struct sl_h3_fields fs;
	enum sl_h3_error err;
	const char *why;
	assert_int_equal(sl_h3_qpack_decode(dec, 0, p, h.len, &fs, &err, &why), 0);
	sl_h3_qpack_free(dec);
	const struct sl_h3_field *st = sl_h3_fields_get(&fs, ":status");
	assert_non_null(st);
	if (proto) {
		const struct sl_h3_field *wp = sl_h3_fields_get(&fs, "wt-protocol");
		snprintf(proto, cap, "%s", wp ? wp->value : "");
	}
	return atoi(st->value);
}

/* ---- the test's moq client, over the WebTransport session ---- */

static int cl_open(void *t, bool bidi, void *user, void **handle)
{
	struct fx *fx = t;
	struct qstream *q = client_open(fx, bidi);
	q->cl_user = user;
	uint8_t pre[16];
	struct sl_writer w;
	sl_writer_init(&w, pre, sizeof(pre));
	sl_h3_encode_wt_stream_header(&w, bidi, fx->session_id);
	client_send(fx, q, pre, sl_writer_len(&w), false);
	*handle = q;
	return 0;
}

static int cl_write(void *t, void *h, struct sl_slice data, bool fin)
{
	struct fx *fx = t;
	struct qstream *q = h;
	client_send(fx, q, sl_slice_data(&data), data.len, fin);
	if (data.buf)
		sl_buf_unref(data.buf);
	return 0;
}

static int cl_reset(void *t, void *h, uint64_t code)
{
	struct fx *fx = t;
	struct qstream *q = h;
	sl_wt_stream_reset(fx->c, q->user, sl_h3_wt_code_to_h3((uint32_t)code));
	return 0;
}

static void cl_release(void *t, void *h)
{
	(void)t;
	((struct qstream *)h)->cl_user = NULL;
}

static void cl_close(void *t, uint64_t code, const char *reason)
{
	(void)t;
	(void)code;
	(void)reason;
}

static const struct sl_moq_transport_ops client_ops = {
	.open_stream = cl_open,
	.write = cl_write,
	.reset = cl_reset,
	.release = cl_release,
	.close = cl_close,
};

/*
 * Moves what the server wrote to the client session: on the server's own session streams the
 * prefix must be 0x54/0x41 and this session's id, and is stripped; on the client's bidi session
 * streams the bytes go as they are. Everything moved is acknowledged to the server.
 */
static void pump(struct fx *fx)
{
	for (int round = 0; round < 8; round++) {
		bool moved = false;
		for (int i = 0; i < MAX_STREAMS; i++) {
			struct qstream *q = &fx->qs[i];
			if (!q->used || q->fed == q->out_len)
				continue;
			if (q->server && q->id == 3)
				continue; /* the control stream */
			if (!q->server && q->id == fx->session_id)
				continue; /* the CONNECT stream */
			const uint8_t *p = q->out + q->fed;
			size_t n = q->out_len - q->fed;
			if (q->server && !q->prefix_done) {
				uint64_t type = 0, sid = 0;
				if (q->bidi) {
					struct sl_h3_read ev;
					assert_int_equal(sl_h3_frame_read(&q->fr, &p, &n, &ev),
							 SL_H3_READ_WT_STREAM);
					sid = ev.session;
				} else {
					assert_int_equal(
						sl_h3_uni_read(&q->ur, &p, &n, &type, &sid), 1);
					assert_int_equal(type, SL_H3_UNI_WT);
				}
				assert_int_equal(sid, fx->session_id);
				q->prefix_done = true;
				q->cl_user = sl_moq_session_stream_accept(fx->client, q, q->bidi);
			}
			bool fin = q->fin && !q->cl_fin;
			q->cl_fin = q->fin;
			if (q->cl_user)
				sl_moq_session_stream_data(fx->client, q->cl_user, p, n, fin);
			size_t total = q->out_len - q->fed;
			q->fed = q->out_len;
			sl_wt_stream_acked(fx->c, q->user, total);
			moved = true;
		}
		sl_moq_session_poll(fx->client, 0);
		if (fx->server)
			sl_moq_session_poll(fx->server, 0);
		if (!moved && round > 1)
			break;
	}
}

/* ---- tests ---- */

static void settings_first(void **state)
{
	(void)state;
	struct fx *fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	struct qstream *ctl = qs_by_id(fx, 3);
	assert_non_null(ctl);
	/* What Chromium waits for before its CONNECT (docs/h3.md). */
	static const uint8_t want[] = {0x00, 0x04, 0x17, 0x08, 0x01, 0x33, 0x01, 0xab, 0x60,
				       0x37, 0x42, 0x01, 0xc0, 0x00, 0x00, 0x00, 0xc6, 0x71,
				       0x70, 0x6a, 0x01, 0xab, 0x60, 0x37, 0x43, 0x01};
	assert_int_equal(ctl->out_len, sizeof(want));
	assert_memory_equal(ctl->out, want, sizeof(want));
	assert_false(ctl->fin);
	client_control(fx);
	fx_free(fx);
}

static void session_and_setup(void **state)
{
	(void)state;
	struct fx *fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	client_control(fx);
	struct qstream *cq = client_request(fx, connect_req, N(connect_req), false);
	char proto[64];
	assert_int_equal(answer_status(cq, proto, sizeof(proto)), 200);
	/* The server's preference among the offers, as an sf-string. */
	assert_string_equal(proto, "\"moq-lite-05\"");
	assert_false(cq->fin);
	assert_int_equal(fx->attaches, 1);
	assert_string_equal(fx->alpn, "moq-lite-05");
	assert_string_equal(fx->path, "/demo");
	assert_string_equal(fx->query, "jwt=abc");
	fx->session_id = cq->id;

	/* The moq-lite-05 client on the test's side: both send SETUP on a uni stream. */
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.version = SL_MOQ_LITE_05;
	fx->client = sl_moq_session_new(&cfg, &client_ops, fx, NULL);
	assert_non_null(fx->client);
	sl_moq_session_poll(fx->client, 0);
	sl_moq_session_poll(fx->server, 0);
	pump(fx);
	struct sl_moq_session_stats ss, cs;
	sl_moq_session_stats(fx->server, &ss);
	sl_moq_session_stats(fx->client, &cs);
	assert_true(ss.msgs_in[SL_MOQ_MSG_SETUP] >= 1);
	assert_true(cs.msgs_in[SL_MOQ_MSG_SETUP] >= 1);
	assert_false(sl_moq_session_is_closed(fx->server, NULL));
	struct sl_wt_stats st;
	sl_wt_stats(fx->c, &st);
	assert_true(st.streams_in >= 1);
	assert_true(st.streams_out >= 1);
	assert_int_equal(st.sessions, 1);
	/* The server's SETUP stream began with 40 54 00 (0x54, session 0). */
	bool seen = false;
	for (int i = 0; i < MAX_STREAMS; i++) {
		struct qstream *q = &fx->qs[i];
		if (q->used && q->server && !q->bidi && q->id != 3) {
			static const uint8_t pre[] = {0x40, 0x54, 0x00};
			assert_memory_equal(q->out, pre, sizeof(pre));
			seen = true;
		}
	}
	assert_true(seen);

	/* A second CONNECT on the same connection is turned away. */
	struct qstream *again = client_request(fx, connect_req, N(connect_req), false);
	assert_int_equal(answer_status(again, NULL, 0), 429);
	assert_true(again->fin);

	/* A session stream naming another session is rejected. */
	struct qstream *stray = client_open(fx, false);
	client_send(fx, stray, "\x40\x54\x04xyz", 6, false);
	assert_true(stray->reset);
	assert_int_equal(stray->reset_code, 0x3994bd84);

	/* The moq session closes: CLOSE_WEBTRANSPORT_SESSION in a DATA frame, then FIN. */
	size_t before = cq->out_len;
	sl_moq_session_close(fx->server, 5, "bye");
	assert_true(cq->fin);
	static const uint8_t capsule[] = {0x00, 0x0a, 0x68, 0x43, 0x07, 0, 0, 0, 5, 'b', 'y', 'e'};
	assert_int_equal(cq->out_len - before, sizeof(capsule));
	assert_memory_equal(cq->out + before, capsule, sizeof(capsule));
	assert_int_equal(fx->detaches, 0); /* not from inside the session's own call */
	/* The client ends its side; the CONNECT stream is done both ways: the session is handed
	 * back and the connection closed cleanly. */
	client_send(fx, cq, NULL, 0, true);
	sl_wt_stream_closed(fx->c, cq->user);
	assert_int_equal(fx->detaches, 1);
	assert_true(fx->closed);
	assert_int_equal(fx->close_code, SL_H3_NO_ERROR);
	sl_wt_closed(fx->c);
	fx_free(fx);
}

static void peer_closes_session(void **state)
{
	(void)state;
	struct fx *fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	client_control(fx);
	struct qstream *cq = client_request(fx, connect_req, N(connect_req), false);
	assert_int_equal(answer_status(cq, NULL, 0), 200);
	/* CLOSE_WEBTRANSPORT_SESSION(7, "done") in a DATA frame, one byte at a time. */
	static const uint8_t cap[] = {0x00, 0x0b, 0x68, 0x43, 0x08, 0, 0, 0, 7, 'd', 'o', 'n', 'e'};
	for (size_t i = 0; i < sizeof(cap); i++)
		client_send(fx, cq, cap + i, 1, false);
	assert_int_equal(fx->detaches, 1);
	assert_true(cq->fin);
	struct sl_wt_stats st;
	sl_wt_stats(fx->c, &st);
	assert_int_equal(st.closes_in, 1);
	/* Nothing more can come over the connection: it is closed at once, cleanly. */
	assert_true(fx->closed);
	assert_int_equal(fx->close_code, SL_H3_NO_ERROR);
	/* The session's streams are no longer taken. */
	struct qstream *late = client_open(fx, false);
	client_send(fx, late, "\x40\x54\x00\x01", 4, false);
	assert_true(late->reset);
	sl_wt_closed(fx->c);
	fx_free(fx);

	/* The same by the end of the CONNECT stream alone. */
	fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	client_control(fx);
	cq = client_request(fx, connect_req, N(connect_req), false);
	client_send(fx, cq, NULL, 0, true);
	assert_int_equal(fx->detaches, 1);
	assert_true(cq->fin);
	assert_true(fx->closed);
	assert_int_equal(fx->close_code, SL_H3_NO_ERROR);
	/* A CONNECT whose stream ends with its HEADERS: the session opens and ends at once. */
	fx_free(fx);
	fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	client_control(fx);
	cq = client_request(fx, connect_req, N(connect_req), true);
	assert_int_equal(answer_status(cq, NULL, 0), 200);
	assert_int_equal(fx->attaches, 1);
	assert_int_equal(fx->detaches, 1);
	assert_true(cq->fin);
	/* And a connection that dies with the session open. */
	fx_free(fx);
	fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	cq = client_request(fx, connect_req, N(connect_req), false);
	assert_int_equal(fx->attaches, 1);
	sl_wt_closed(fx->c);
	assert_int_equal(fx->detaches, 1);
	fx_free(fx);
}

static void refusals(void **state)
{
	(void)state;
	struct fx *fx = fx_new();
	assert_int_equal(sl_wt_start(fx->c), 0);
	client_control(fx);
	/* No moq-lite version offered: 400 (the client would settle it in-band). */
	static const struct sl_h3_field noproto[] = {F(":method", "CONNECT"), F(":scheme", "https"),
						     F(":authority", "a"), F(":path", "/"),
						     F(":protocol", "webtransport")};
	struct qstream *q = client_request(fx, noproto, N(noproto), false);
	assert_int_equal(answer_status(q, NULL, 0), 400);
	assert_true(q->fin);
	static const uint8_t golden400[] = {0x01, 0x04, 0x00, 0x00, 0xff, 0x04};
	assert_int_equal(q->out_len, sizeof(golden400));
	assert_memory_equal(q->out, golden400, sizeof(golden400));
	/* Offers none of ours. */
	static const struct sl_h3_field other[] = {
		F(":method", "CONNECT"),	F(":scheme", "https"),
		F(":authority", "a"),		F(":path", "/"),
		F(":protocol", "webtransport"), F("wt-available-protocols", "\"moqt-20\"")};
	q = client_request(fx, other, N(other), false);
	assert_int_equal(answer_status(q, NULL, 0), 400);
	/* Not WebTransport. */
	static const struct sl_h3_field get[] = {F(":method", "GET"), F(":scheme", "https"),
						 F(":authority", "a"), F(":path", "/")};
	q = client_request(fx, get, N(get), true);
	assert_int_equal(answer_status(q, NULL, 0), 405);
	/* Malformed: the stream is reset with H3_MESSAGE_ERROR, the connection lives. */
	static const struct sl_h3_field bad[] = {F(":method", "CONNECT"), F(":scheme", "https"),
						 F(":path", "/"), F(":protocol", "webtransport")};
	q = client_request(fx, bad, N(bad), false);
	assert_true(q->reset);
	assert_int_equal(q->reset_code, SL_H3_MESSAGE_ERROR);
	/* A request stream that ends before its HEADERS is whole. */
	q = client_open(fx, true);
	client_send(fx, q, "\x01\x10\x00\x00", 4, true);
	assert_true(q->reset);
	assert_int_equal(q->reset_code, SL_H3_REQUEST_INCOMPLETE);
	/* The host refuses (a token, a path): its status goes out. */
	fx->refuse_status = 401;
	q = client_request(fx, connect_req, N(connect_req), false);
	assert_int_equal(answer_status(q, NULL, 0), 401);
	assert_false(fx->closed);
	struct sl_wt_stats st;
	sl_wt_stats(fx->c, &st);
	assert_int_equal(st.refused, 4);
	assert_int_equal(st.malformed, 2);
	assert_int_equal(st.sessions, 0);
	/* After a refusal the connection may still open its session. */
	fx->refuse_status = 0;
	q = client_request(fx, connect_req, N(connect_req), false);
	assert_int_equal(answer_status(q, NULL, 0), 200);
	sl_wt_closed(fx->c);
	fx_free(fx);
}

/* Connection errors: each case on its own connection. */
static void connection_errors(void **state)
{
	(void)state;
	struct {
		const char *what;
		uint8_t bytes[16];
		size_t n;
		bool fin;
		uint64_t code;
	} ctl[] = {
		{"no SETTINGS first", {0x00, 0x07, 0x01, 0x00}, 4, false, SL_H3_MISSING_SETTINGS},
		{"two SETTINGS", {0x00, 0x04, 0x00, 0x04, 0x00}, 5, false, SL_H3_FRAME_UNEXPECTED},
		{"DATA on control",
		 {0x00, 0x04, 0x00, 0x00, 0x00},
		 5,
		 false,
		 SL_H3_FRAME_UNEXPECTED},
		{"HTTP/2 frame", {0x00, 0x04, 0x00, 0x02, 0x00}, 5, false, SL_H3_FRAME_UNEXPECTED},
		{"HTTP/2 setting", {0x00, 0x04, 0x02, 0x02, 0x00}, 5, false, SL_H3_SETTINGS_ERROR},
		{"control ends", {0x00, 0x04, 0x00}, 3, true, SL_H3_CLOSED_CRITICAL_STREAM},
		{"push stream", {0x01, 0x00}, 2, false, SL_H3_STREAM_CREATION_ERROR},
	};
	for (size_t i = 0; i < N(ctl); i++) {
		struct fx *fx = fx_new();
		assert_int_equal(sl_wt_start(fx->c), 0);
		struct qstream *q = client_open(fx, false);
		client_send(fx, q, ctl[i].bytes, ctl[i].n, ctl[i].fin);
		if (!fx->closed || fx->close_code != ctl[i].code)
			fail_msg("%s: closed %d with 0x%llx", ctl[i].what, fx->closed,
				 (unsigned long long)fx->close_code);
		sl_wt_closed(fx->c);
		fx_free(fx);
	}
	/* A second control stream, a DATA frame before HEADERS on a request. */
	struct fx *fx = fx_new();
	client_control(fx);
	struct qstream *q = client_open(fx, false);
	client_send(fx, q, "\x00\x04\x00", 3, false);
	assert_true(fx->closed);
	assert_int_equal(fx->close_code, SL_H3_STREAM_CREATION_ERROR);
	sl_wt_closed(fx->c);
	fx_free(fx);
	fx = fx_new();
	q = client_open(fx, true);
	client_send(fx, q, "\x00\x01x", 3, false);
	assert_true(fx->closed);
	assert_int_equal(fx->close_code, SL_H3_FRAME_UNEXPECTED);
	sl_wt_closed(fx->c);
	fx_free(fx);
	/* Unknown and grease streams and frames are skipped. */
	fx = fx_new();
	client_control(fx);
	q = client_open(fx, false);
	client_send(fx, q, "\x21\x01\x02\x03", 4, true);
	q = client_open(fx, true);
	client_send(fx, q, "\x21\x01\x00", 3, false); /* a grease frame before HEADERS */
	assert_false(fx->closed);
	sl_wt_closed(fx->c);
	fx_free(fx);
}

static void protocol_lists(void **state)
{
	(void)state;
	static const char *const served[] = {"moq-lite-05", "moq-lite-04"};
	struct {
		const char *list;
		int want;
	} cases[] = {
		{"\"moq-lite-05\", \"moq-lite-04\"", 0},
		{"\"moq-lite-04\", \"moq-lite-05\"", 0}, /* server preference */
		{"\"moq-lite-04\"", 1},
		{"\"moql\",\"moq-lite-04\";q=1", 1},
		{" \"moqt-20\" , \"moq-lite-04\" ", 1},
		{"\"moq-lite-0\\\\5\"", SL_ENOTFOUND},
		{"\"moqt-20\"", SL_ENOTFOUND},
		{"moq-lite-05", SL_ENOTFOUND}, /* a token, not a string */
		{"\"moq-lite-05\",", SL_ENOTFOUND},
		{"\"moq-lite-05", SL_ENOTFOUND},
		{"", SL_ENOTFOUND},
		{NULL, SL_ENOTFOUND},
	};
	for (size_t i = 0; i < N(cases); i++)
		assert_int_equal(sl_wt_pick_protocol(cases[i].list, served, 2), cases[i].want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(settings_first),      cmocka_unit_test(session_and_setup),
		cmocka_unit_test(peer_closes_session), cmocka_unit_test(refusals),
		cmocka_unit_test(connection_errors),   cmocka_unit_test(protocol_lists),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
