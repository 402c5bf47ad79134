/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/pool.h"
#include "core/varint.h"
#include "qmux/qmux.h"
#include "qmux/test_traces.h"
#include "qmux/ws.h"

#include <stdlib.h>
#include <string.h>

#define MS(x) ((uint64_t)(x)*1000000ull)

/* ------------------------------------------------------------------------------------------ */
/* a test endpoint: one connection, its output messages and the events it reported            */
/* ------------------------------------------------------------------------------------------ */

#define MAX_ST 12000

struct tstream {
	uint64_t id;
	struct sl_qmux_stream *h;
	uint8_t *data;
	size_t len, cap;
	bool opened, fin, reset, stopped, closed;
	uint64_t code, acked;
};

struct ep {
	struct sl_qmux_conn *c;
	uint8_t buf[70000];
	size_t alloc_max;
	bool block; /* tx_alloc answers NULL */
	/* committed messages not yet taken */
	uint8_t *msg[4096];
	size_t mlen[4096];
	size_t nmsg, taken;
	struct tstream st[MAX_ST];
	size_t nst;
	int writable, ws_pings;
	bool closed;
	struct sl_qmux_close_info info;
	char reason[256];
	/* hooks for the back-to-back test */
	void (*on_data_hook)(struct ep *e, struct tstream *t, bool fin);
	void *ctx;
};

static struct tstream *tfind(struct ep *e, uint64_t id)
{
	for (size_t i = 0; i < e->nst; i++) {
		if (e->st[i].id == id)
			return &e->st[i];
	}
	assert_true(e->nst < MAX_ST);
	struct tstream *t = &e->st[e->nst++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	return t;
}

static uint8_t *cb_alloc(void *arg, size_t max)
{
	struct ep *e = arg;
	if (e->block)
		return NULL;
	assert_true(max <= sizeof(e->buf));
	e->alloc_max = max;
	return e->buf;
}

static void cb_commit(void *arg, size_t len)
{
	struct ep *e = arg;
	assert_true(len <= e->alloc_max);
	assert_true(e->nmsg < 4096);
	e->msg[e->nmsg] = malloc(len ? len : 1);
	memcpy(e->msg[e->nmsg], e->buf, len);
	e->mlen[e->nmsg++] = len;
}

static void cb_open(void *arg, struct sl_qmux_stream *s)
{
	struct ep *e = arg;
	struct tstream *t = tfind(e, sl_qmux_stream_id(s));
	assert_false(t->opened);
	t->opened = true;
	t->h = s;
	sl_qmux_stream_set_user(s, t);
}

static void cb_data(void *arg, struct sl_qmux_stream *s, void *user, const uint8_t *data,
		    size_t len, bool fin)
{
	struct ep *e = arg;
	struct tstream *t = user;
	assert_ptr_equal(t->h, s);
	assert_false(t->fin);
	if (t->len + len > t->cap) {
		t->cap = (t->len + len) * 2 + 64;
		t->data = realloc(t->data, t->cap);
	}
	if (len)
		memcpy(t->data + t->len, data, len);
	t->len += len;
	t->fin = fin;
	if (e->on_data_hook)
		e->on_data_hook(e, t, fin);
}

static void cb_reset(void *arg, struct sl_qmux_stream *s, void *user, uint64_t code, bool stop)
{
	(void)arg;
	(void)s;
	struct tstream *t = user;
	if (stop)
		t->stopped = true;
	else
		t->reset = true;
	t->code = code;
}

static void cb_acked(void *arg, struct sl_qmux_stream *s, void *user, uint64_t bytes)
{
	(void)arg;
	(void)s;
	if (user)
		((struct tstream *)user)->acked += bytes;
}

static void cb_sclose(void *arg, struct sl_qmux_stream *s, void *user)
{
	(void)arg;
	(void)s;
	struct tstream *t = user;
	if (t == NULL)
		return;
	assert_false(t->closed);
	t->closed = true;
	t->h = NULL;
}

static void cb_writable(void *arg)
{
	((struct ep *)arg)->writable++;
}

static void cb_ws_ping(void *arg)
{
	((struct ep *)arg)->ws_pings++;
}

static void cb_closed(void *arg, const struct sl_qmux_close_info *info)
{
	struct ep *e = arg;
	assert_false(e->closed);
	e->closed = true;
	e->info = *info;
	size_t n = info->reason_len < 255 ? info->reason_len : 255;
	memcpy(e->reason, info->reason, n);
	e->reason[n] = '\0';
	e->info.reason = e->reason;
}

static const struct sl_qmux_callbacks tcb = {
	.tx_alloc = cb_alloc,
	.tx_commit = cb_commit,
	.on_stream_open = cb_open,
	.on_stream_data = cb_data,
	.on_stream_reset = cb_reset,
	.on_stream_acked = cb_acked,
	.on_stream_close = cb_sclose,
	.on_writable = cb_writable,
	.send_ws_ping = cb_ws_ping,
	.on_closed = cb_closed,
};

static struct ep *ep_new(bool server, enum sl_ws_framing fr, const struct sl_qmux_config *cfg)
{
	struct ep *e = calloc(1, sizeof(*e));
	struct sl_qmux_config k;
	if (cfg)
		k = *cfg;
	else
		sl_qmux_config_default(&k);
	k.server = server;
	k.framing = fr;
	assert_int_equal(sl_qmux_conn_new(&k, &tcb, e, 0, &e->c), 0);
	return e;
}

static void ep_free(struct ep *e)
{
	sl_qmux_conn_free(e->c);
	for (size_t i = 0; i < e->nmsg; i++)
		free(e->msg[i]);
	for (size_t i = 0; i < e->nst; i++)
		free(e->st[i].data);
	free(e);
}

/* The next committed message, or NULL. */
static const uint8_t *ep_take(struct ep *e, size_t *len)
{
	if (e->taken == e->nmsg)
		return NULL;
	*len = e->mlen[e->taken];
	return e->msg[e->taken++];
}

static void ep_drop_output(struct ep *e)
{
	e->taken = e->nmsg;
}

static struct sl_slice slice_of(const void *p, size_t n)
{
	if (n == 0)
		return (struct sl_slice){NULL, 0, 0};
	struct sl_buf *b = sl_buf_from(p, n ? n : 1);
	b->len = (uint32_t)n;
	return sl_slice_of(b);
}

static void write_bytes(struct ep *e, struct sl_qmux_stream *s, const void *p, size_t n, bool fin)
{
	assert_int_equal(sl_qmux_stream_write(e->c, s, slice_of(p, n), fin), 0);
}

static int feed_hex(struct ep *e, const char *hex, uint64_t now)
{
	uint8_t b[4096];
	size_t n = 0;
	unsigned v;
	int used;
	while (sscanf(hex, " %2x%n", &v, &used) == 1) {
		b[n++] = (uint8_t)v;
		hex += used;
	}
	return sl_qmux_recv(e->c, b, n, now);
}

/* Expects the next message to be exactly these bytes (hex). */
static void expect_hex(struct ep *e, const char *hex)
{
	uint8_t b[4096];
	size_t n = 0, len;
	unsigned v;
	int used;
	while (sscanf(hex, " %2x%n", &v, &used) == 1) {
		b[n++] = (uint8_t)v;
		hex += used;
	}
	const uint8_t *m = ep_take(e, &len);
	assert_non_null(m);
	if (len != n || memcmp(m, b, n) != 0) {
		fprintf(stderr, "want:");
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %02x", b[i]);
		fprintf(stderr, "\ngot: ");
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", m[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(len, n);
	assert_memory_equal(m, b, n);
}

/* The JS client's parameters (qmux-01, datagram entry included): the peer of most tests. */
static const char js_tp[] = "ff5153300d0a0d0a 35 01 04 80007530 04 04 80100000 05 04 80040000"
			    "06 04 80040000 07 04 80040000 08 02 4064 09 02 4064 20 02 7ffe"
			    "c571c59429cd0845 02 7ffe";

/* G1 without the datagram entry: what shardline sends on qmux-01. */
static const char our_tp01[] = "ff5153300d0a0d0a 31 01 04 80007530 04 04 80100000 05 04 80040000"
			       "06 04 80040000 07 04 80040000 08 02 4064 09 02 4064"
			       "c571c59429cd0845 02 7ffe";

/* A server that has sent its parameters and received the JS client's. */
static struct ep *server_ready(enum sl_ws_framing fr, const struct sl_qmux_config *cfg)
{
	struct ep *e = ep_new(true, fr, cfg);
	sl_qmux_flush(e->c, 0);
	ep_drop_output(e);
	if (fr != SL_WS_LEGACY)
		assert_int_equal(feed_hex(e, js_tp, 0), 0);
	assert_true(sl_qmux_peer_params_known(e->c));
	return e;
}

/* ------------------------------------------------------------------------------------------ */
/* an independent frame splitter for the captures (not the code under test)                  */
/* ------------------------------------------------------------------------------------------ */

enum {
	F_STREAM,
	F_RESET,
	F_STOP,
	F_APPCLOSE,
	F_CONNCLOSE,
	F_TP,
	F_PING_REQ,
	F_PING_RESP,
	F_MAX,
	F_PAD
};

struct tframe {
	int kind;
	uint64_t id, off, code, final;
	const uint8_t *data;
	size_t len;
	bool fin;
	const uint8_t *raw;
	size_t rawlen;
};

static uint64_t gv(const uint8_t **p, const uint8_t *end)
{
	uint64_t v;
	size_t used;
	assert_int_equal(sl_varint_decode(*p, (size_t)(end - *p), &v, &used), 0);
	*p += used;
	return v;
}

static size_t split_frames(const uint8_t *m, size_t n, bool legacy, struct tframe *out, size_t max)
{
	const uint8_t *p = m, *end = m + n;
	size_t k = 0;
	while (p < end) {
		assert_true(k < max);
		struct tframe *f = &out[k++];
		memset(f, 0, sizeof(*f));
		f->raw = p;
		uint64_t t = legacy ? *p++ : gv(&p, end);
		if (legacy && (t == 8 || t == 9)) {
			f->kind = F_STREAM;
			f->id = gv(&p, end);
			f->data = p;
			f->len = (size_t)(end - p);
			f->fin = t == 9;
			f->off = UINT64_MAX;
			p = end;
		} else if (!legacy && t >= 8 && t <= 0x0f) {
			f->kind = F_STREAM;
			f->id = gv(&p, end);
			f->off = (t & 4) ? gv(&p, end) : UINT64_MAX; /* none: appended */
			f->len = (t & 2) ? gv(&p, end) : (size_t)(end - p);
			f->data = p;
			f->fin = t & 1;
			p += f->len;
		} else if (t == 4) {
			f->kind = F_RESET;
			f->id = gv(&p, end);
			f->code = gv(&p, end);
			if (!legacy)
				f->final = gv(&p, end);
		} else if (t == 5) {
			f->kind = F_STOP;
			f->id = gv(&p, end);
			f->code = gv(&p, end);
		} else if (t == 0x1d || t == 0x1c) {
			f->kind = t == 0x1d ? F_APPCLOSE : F_CONNCLOSE;
			f->code = gv(&p, end);
			if (legacy) {
				p = end;
			} else {
				if (t == 0x1c)
					gv(&p, end);
				p += gv(&p, end);
			}
		} else if (t == 0x3f5153300d0a0d0aull) {
			f->kind = F_TP;
			p += gv(&p, end);
		} else if (t == 0x348c67529ef8c7bdull || t == 0x348c67529ef8c7beull) {
			f->kind = t == 0x348c67529ef8c7bdull ? F_PING_REQ : F_PING_RESP;
			f->code = gv(&p, end);
		} else if (t == 0 && !legacy) {
			f->kind = F_PAD;
		} else if (t >= 0x10 && t <= 0x13) {
			f->kind = F_MAX;
			if (t == 0x11)
				gv(&p, end);
			gv(&p, end);
		} else {
			fail_msg("unexpected frame type %#llx in a capture", (unsigned long long)t);
		}
		f->rawlen = (size_t)(p - f->raw);
	}
	return k;
}

/* The parameters frame of a capture without its max_datagram_frame_size entry. */
static size_t tp_without_datagram(const uint8_t *m, size_t n, uint8_t *out)
{
	const uint8_t *p = m, *end = m + n;
	assert_int_equal(gv(&p, end), 0x3f5153300d0a0d0aull);
	uint64_t len = gv(&p, end);
	assert_int_equal(len, (uint64_t)(end - p));
	uint8_t body[256];
	size_t bl = 0;
	while (p < end) {
		const uint8_t *s = p;
		uint64_t id = gv(&p, end);
		p += gv(&p, end);
		if (id != 0x20) {
			memcpy(body + bl, s, (size_t)(p - s));
			bl += (size_t)(p - s);
		}
	}
	memcpy(out, m, 8);
	size_t o = 8, used;
	sl_varint_encode(out + o, 8, bl, &used);
	o += used;
	memcpy(out + o, body, bl);
	return o + bl;
}

/* ------------------------------------------------------------------------------------------ */
/* transport parameters                                                                       */
/* ------------------------------------------------------------------------------------------ */

static void tp_first_and_golden(void **state)
{
	(void)state;
	/* qmux-01: G1 minus the datagram entry, length 0x31, 58 bytes. */
	struct ep *e = ep_new(true, SL_WS_QMUX01, NULL);
	assert_true(sl_qmux_want_flush(e->c));
	assert_int_equal(sl_qmux_flush(e->c, 0), 1);
	expect_hex(e, our_tp01);
	ep_free(e);
	/* qmux-00 and -02: the captures' frames minus the datagram entry (-00 has none). */
	struct {
		const char *file;
		enum sl_ws_framing fr;
	} v[] = {
		{"lite05-qmux00-subscriber.txt", SL_WS_QMUX00},
		{"lite05-qmux02-subscriber.txt", SL_WS_QMUX02},
		{"lite05-qmux01-subscriber.txt", SL_WS_QMUX01},
	};
	for (size_t i = 0; i < 3; i++) {
		struct trace t;
		assert_int_equal(trace_load(v[i].file, &t), 0);
		assert_false(t.m[0].c2s);
		uint8_t want[128];
		size_t wn = tp_without_datagram(t.m[0].data, t.m[0].len, want);
		e = ep_new(true, v[i].fr, NULL);
		sl_qmux_flush(e->c, 0);
		size_t len = 0;
		const uint8_t *m = ep_take(e, &len);
		assert_int_equal(len, wn);
		assert_memory_equal(m, want, wn);
		/* The client's frame parses, and nothing of ours moves before it. */
		assert_true(t.m[1].c2s);
		assert_int_equal(sl_qmux_recv(e->c, t.m[1].data, t.m[1].len, 0), 0);
		assert_true(sl_qmux_peer_params_known(e->c));
		assert_int_equal(sl_qmux_idle_timeout_ns(e->c), MS(30000));
		ep_free(e);
		trace_free(&t);
	}
	/* The legacy framing sends nothing first. */
	e = ep_new(true, SL_WS_LEGACY, NULL);
	assert_int_equal(sl_qmux_flush(e->c, 0), 0);
	ep_free(e);
}

static void expect_close(struct ep *e, uint64_t code, const char *reason)
{
	assert_int_equal(sl_qmux_flush(e->c, 0) >= 1, 1);
	size_t len = 0;
	const uint8_t *m = NULL, *x;
	while ((x = ep_take(e, &len)) != NULL)
		m = x; /* the close is the last message */
	assert_non_null(m);
	if (m[1] != code)
		fprintf(stderr, "closed with %#x: %s\n", m[1], e->reason);
	assert_int_equal(m[0], 0x1c);
	assert_int_equal(m[1], code);
	assert_true(e->closed);
	assert_false(e->info.remote);
	assert_int_equal(e->info.code, code);
	if (reason)
		assert_string_equal(e->reason, reason);
}

static void tp_receive_rules(void **state)
{
	(void)state;
	struct {
		const char *hex;
		uint64_t code;
		const char *reason;
	} cases[] = {
		/* forbidden ids */
		{"ff5153300d0a0d0a 03 00 01 00", 8, "transport parameter not allowed in qmux"},
		{"ff5153300d0a0d0a 03 0a 01 03", 8, "transport parameter not allowed in qmux"},
		{"ff5153300d0a0d0a 03 10 01 00", 8, "transport parameter not allowed in qmux"},
		{"ff5153300d0a0d0a 09 fd4f9c2a8b1e6075 00", 8,
		 "transport parameter not allowed in qmux"},
		/* duplicates of known ids; unknown ids are skipped even twice */
		{"ff5153300d0a0d0a 08 04 02 4064 04 02 4064", 8, "duplicate transport parameter"},
		{"ff5153300d0a0d0a 0a 08 08 d000000000000001", 8, "stream limit above 2^60"},
		/* max_record_size below 16382 */
		{"ff5153300d0a0d0a 0b c571c59429cd0845 02 7ffd", 8, "max_record_size below 16382"},
		/* a value that does not fill its length */
		{"ff5153300d0a0d0a 04 04 02 05 00", 8, "malformed transport parameter value"},
		{"ff5153300d0a0d0a 03 04 05 01", 8, "truncated transport parameter"},
		/* anything before the parameters */
		{"0e 02 00 01 00", 0xa, "frame before the transport parameters"},
		{"10 4064", 0xa, "frame before the transport parameters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ep *e = ep_new(true, SL_WS_QMUX01, NULL);
		sl_qmux_flush(e->c, 0);
		ep_drop_output(e);
		assert_int_equal(feed_hex(e, cases[i].hex, 0), SL_ECORRUPT);
		expect_close(e, cases[i].code, cases[i].reason);
		ep_free(e);
	}
	/* Unknown ids skipped; padding allowed first; a second frame is an error. */
	struct ep *e = ep_new(true, SL_WS_QMUX01, NULL);
	sl_qmux_flush(e->c, 0);
	assert_int_equal(feed_hex(e, "00 00 ff5153300d0a0d0a 09 21 01 00 04 01 05 21 01 00", 0), 0);
	assert_int_equal(feed_hex(e, "ff5153300d0a0d0a 00", 0), SL_ECORRUPT);
	expect_close(e, 0xa, "second transport parameters frame");
	ep_free(e);
	/* The old @moq/qmux 0.0.6 sends only 0x04-0x09: defaults fill the rest. */
	e = ep_new(true, SL_WS_QMUX00, NULL);
	sl_qmux_flush(e->c, 0);
	assert_int_equal(feed_hex(e,
				  "ff5153300d0a0d0a 20 04 04 80100000 05 04 80040000 06 04 80040000"
				  "07 04 80040000 08 02 4064 09 02 4064",
				  0),
			 0);
	assert_int_equal(sl_qmux_idle_timeout_ns(e->c), MS(30000));
	ep_free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* replaying the captures                                                                     */
/* ------------------------------------------------------------------------------------------ */

/*
 * Streams on which the captured side did not answer a STOP_SENDING with RESET_STREAM because
 * its FIN was already on the way (a race in the JS writer): ours answers with a reset, so the
 * capture's later FIN is not ours to repeat, and our reset has no counterpart in it.
 */
static uint64_t raced[64];
static size_t nraced;

static bool is_raced(uint64_t id)
{
	for (size_t i = 0; i < nraced; i++) {
		if (raced[i] == id)
			return true;
	}
	return false;
}

static uint64_t resets[256];
static size_t nresets;

static bool was_reset(uint64_t id)
{
	for (size_t i = 0; i < nresets; i++) {
		if (resets[i] == id)
			return true;
	}
	return false;
}

static bool only_policy_frames(const uint8_t *m, size_t n, bool legacy)
{
	struct tframe f[64];
	size_t k = split_frames(m, n, legacy, f, 64);
	for (size_t i = 0; i < k; i++) {
		if (f[i].kind != F_MAX && !(f[i].kind == F_RESET && is_raced(f[i].id)))
			return false;
	}
	return k > 0;
}

/* The next message of ours that is not a flow-control grant (whose timing is policy). */
static const uint8_t *take_non_grant(struct ep *e, size_t *len, bool legacy)
{
	const uint8_t *m;
	while ((m = ep_take(e, len)) != NULL) {
		if (!only_policy_frames(m, *len, legacy))
			return m;
	}
	return NULL;
}

/* After the peer's STOP_SENDING on id at message i: does our side's next frame on id (in the
 * capture) fail to be the RESET_STREAM answer? */
static bool stop_raced(const struct trace *t, size_t i, bool ours_c2s, uint64_t id, bool legacy)
{
	for (size_t j = i + 1; j < t->n; j++) {
		if (t->m[j].c2s != ours_c2s || t->m[j].len == 0)
			continue;
		struct tframe f[64];
		size_t k = split_frames(t->m[j].data, t->m[j].len, legacy, f, 64);
		for (size_t q = 0; q < k; q++) {
			if (f[q].id != id || f[q].kind == F_MAX || f[q].kind == F_TP)
				continue;
			if (f[q].kind == F_RESET)
				return false;
			if (f[q].kind == F_STREAM)
				return true;
		}
	}
	return false;
}

struct expect_stream {
	uint64_t id;
	uint8_t data[4096];
	size_t len;
	bool fin, reset, stop;
	bool stopped_by_us; /* nothing after our STOP_SENDING reaches the application */
};

static struct expect_stream *ex_find(struct expect_stream *ex, size_t *nex, uint64_t id)
{
	for (size_t q = 0; q < *nex; q++) {
		if (ex[q].id == id)
			return &ex[q];
	}
	assert_true(*nex < 256);
	struct expect_stream *es = &ex[(*nex)++];
	memset(es, 0, sizeof(*es));
	es->id = id;
	return es;
}

/*
 * Replays a capture with our engine on one side (the relay's when as_server, else the
 * client's): the other side's messages are fed in, and our side's are reproduced: STREAM,
 * STOP_SENDING and APPLICATION_CLOSE are the application's actions, performed and flushed one
 * message at a time, and must come out byte for byte; RESET_STREAM and QX_PING responses are
 * the engine's own answers and must match too; MAX_* grants are policy and only checked to be
 * well-formed. The peer's stream bytes, resets and stops must reach the application as sent.
 */
static void replay(const char *file, enum sl_ws_framing fr, bool as_server)
{
	struct trace t;
	assert_int_equal(trace_load(file, &t), 0);
	bool legacy = fr == SL_WS_LEGACY;
	struct ep *e = ep_new(as_server, fr, NULL);
	nraced = 0;
	nresets = 0;
	static struct expect_stream ex[256];
	size_t nex = 0;
	size_t i = 0;
	sl_qmux_flush(e->c, 0);
	if (!legacy) {
		/* Our parameters: the capture's side minus the datagram entry. */
		while (t.m[i].c2s == as_server)
			i++;
		uint8_t want[128];
		size_t wn = tp_without_datagram(t.m[i].data, t.m[i].len, want), len;
		const uint8_t *m = ep_take(e, &len);
		assert_int_equal(len, wn);
		assert_memory_equal(m, want, wn);
		t.m[i].len = 0; /* done */
	}
	for (i = 0; i < t.n; i++) {
		struct tmsg *m = &t.m[i];
		uint64_t now = (uint64_t)(m->t_ms * 1e6);
		if (m->len == 0)
			continue;
		struct tframe f[64];
		size_t k = split_frames(m->data, m->len, legacy, f, 64);
		if (m->c2s != as_server) {
			/* Ours: perform the application's actions, or expect the engine's. */
			bool app = false, skipped = false;
			for (size_t j = 0; j < k; j++) {
				struct tframe *x = &f[j];
				if (x->kind == F_STREAM) {
					struct tstream *ts = tfind(e, x->id);
					if (is_raced(x->id)) {
						skipped = true;
						continue;
					}
					app = true;
					if (ts->h == NULL && !ts->closed) {
						struct sl_qmux_stream *s;
						assert_int_equal(sl_qmux_stream_open(e->c,
										     !(x->id & 2),
										     ts, &s),
								 0);
						assert_int_equal(sl_qmux_stream_id(s), x->id);
						ts->h = s;
						ts->opened = true;
					}
					if (ts->h == NULL)
						fail_msg("%s #%zu: stream %llu is gone (closed %d)",
							 file, i + 1, (unsigned long long)x->id,
							 ts->closed);
					write_bytes(e, ts->h, x->data, x->len, x->fin);
				} else if (x->kind == F_STOP) {
					struct tstream *ts = tfind(e, x->id);
					/* The reference cancels reading even on streams the
					 * peer finished; ours closed those already, and a
					 * STOP_SENDING there would say nothing. */
					if (ts->h == NULL) {
						assert_true(ts->closed);
						skipped = true;
						continue;
					}
					app = true;
					ex_find(ex, &nex, x->id)->stopped_by_us = true;
					assert_int_equal(sl_qmux_stream_stop(e->c, ts->h, x->code),
							 0);
				} else if (x->kind == F_APPCLOSE) {
					app = true;
					sl_qmux_close(e->c, x->code, "");
				}
			}
			if (app) {
				/* Whatever the engine had pending came out at the last flush. */
				size_t len = 0;
				assert_null(take_non_grant(e, &len, legacy));
				sl_qmux_flush(e->c, now);
				const uint8_t *o = ep_take(e, &len);
				assert_non_null(o);
				if (len != m->len || memcmp(o, m->data, len) != 0)
					fail_msg("%s #%zu: our message differs", file, i + 1);
				continue;
			}
			if (skipped || f[0].kind == F_MAX || f[0].kind == F_PING_REQ)
				continue; /* grants and keep-alive timing are policy */
			if (k == 1 && f[0].kind == F_RESET && was_reset(f[0].id))
				continue; /* the JS side may reset a stream twice; ours once */
			if (k == 1 && f[0].kind == F_RESET)
				resets[nresets++] = f[0].id;
			size_t len = 0;
			const uint8_t *o = take_non_grant(e, &len, legacy);
			if (o == NULL || len != m->len || memcmp(o, m->data, len) != 0)
				fail_msg("%s #%zu: our automatic answer differs", file, i + 1);
			continue;
		}
		/* Theirs: feed it, note what the application must see. */
		for (size_t j = 0; j < k; j++) {
			struct tframe *x = &f[j];
			if (x->kind != F_STREAM && x->kind != F_RESET && x->kind != F_STOP)
				continue;
			struct expect_stream *es = ex_find(ex, &nex, x->id);
			if (x->kind == F_STOP && stop_raced(&t, i, !as_server, x->id, legacy)) {
				assert_true(nraced < 64);
				raced[nraced++] = x->id;
			}
			if (es->stopped_by_us)
				continue;
			if (x->kind == F_STREAM) {
				uint64_t off = x->off == UINT64_MAX ? es->len : x->off;
				assert_true(off + x->len <= sizeof(es->data));
				memcpy(es->data + off, x->data, x->len);
				if (off + x->len > es->len)
					es->len = (size_t)(off + x->len);
				es->fin |= x->fin;
			} else if (x->kind == F_RESET) {
				es->reset = !es->fin;
			} else {
				es->stop = true;
			}
		}
		int rc = sl_qmux_recv(e->c, m->data, m->len, now);
		bool has_close = false;
		for (size_t j = 0; j < k; j++)
			has_close |= f[j].kind == F_APPCLOSE || f[j].kind == F_CONNCLOSE;
		if (has_close) {
			assert_int_equal(rc, SL_ECLOSED);
			assert_true(e->closed);
			assert_true(e->info.remote);
			break;
		}
		assert_int_equal(rc, 0);
		sl_qmux_flush(e->c, now);
	}
	/* Everything the peer sent reached the application. */
	for (size_t q = 0; q < nex; q++) {
		struct tstream *ts = tfind(e, ex[q].id);
		if (ex[q].len || ex[q].fin || ex[q].reset) {
			if (ts->len != ex[q].len || ts->fin != ex[q].fin ||
			    ts->reset != ex[q].reset)
				fprintf(stderr, "%s (%s): stream %llu: got %zu%s%s, want %zu%s%s\n",
					file, as_server ? "server" : "client",
					(unsigned long long)ex[q].id, ts->len,
					ts->fin ? " fin" : "", ts->reset ? " reset" : "", ex[q].len,
					ex[q].fin ? " fin" : "", ex[q].reset ? " reset" : "");
			assert_true(ts->opened);
			assert_int_equal(ts->len, ex[q].len);
			assert_memory_equal(ts->data, ex[q].data, ex[q].len);
			assert_int_equal(ts->fin, ex[q].fin);
			assert_int_equal(ts->reset, ex[q].reset);
		}
	}
	struct sl_qmux_stats st;
	sl_qmux_stats(e->c, &st);
	assert_int_equal(st.errors_local, 0);
	ep_free(e);
	trace_free(&t);
}

static void replay_lite05_qmux01_subscriber(void **state)
{
	(void)state;
	replay("lite05-qmux01-subscriber.txt", SL_WS_QMUX01, true);
	replay("lite05-qmux01-subscriber.txt", SL_WS_QMUX01, false);
}

static void replay_lite05_qmux01_publisher(void **state)
{
	(void)state;
	replay("lite05-qmux01-publisher.txt", SL_WS_QMUX01, true);
	replay("lite05-qmux01-publisher.txt", SL_WS_QMUX01, false);
}

static void replay_lite05_qmux00_and_02(void **state)
{
	(void)state;
	replay("lite05-qmux00-subscriber.txt", SL_WS_QMUX00, true);
	replay("lite05-qmux00-subscriber.txt", SL_WS_QMUX00, false);
	replay("lite05-qmux02-subscriber.txt", SL_WS_QMUX02, true);
	replay("lite05-qmux02-subscriber.txt", SL_WS_QMUX02, false);
	replay("lite04-qmux01-subscriber.txt", SL_WS_QMUX01, true);
	replay("old-client-0.2.2-bare-qmux00-lite02-subscriber.txt", SL_WS_QMUX00, true);
	replay("old-client-0.2.2-qmux00-lite04-publisher.txt", SL_WS_QMUX00, true);
}

static void replay_idle_ping(void **state)
{
	(void)state;
	replay("lite05-qmux01-idle-ping.txt", SL_WS_QMUX01, true);
	replay("lite05-qmux01-idle-ping.txt", SL_WS_QMUX01, false);
}

static void replay_flowcontrol(void **state)
{
	(void)state;
	replay("lite05-qmux01-flowcontrol-subscriber.txt", SL_WS_QMUX01, true);
	replay("lite05-qmux01-flowcontrol-subscriber.txt", SL_WS_QMUX01, false);
}

static void replay_legacy(void **state)
{
	(void)state;
	replay("legacy-webtransport-lite02-subscriber.txt", SL_WS_LEGACY, true);
	replay("legacy-webtransport-lite02-subscriber.txt", SL_WS_LEGACY, false);
	replay("legacy-webtransport-lite02-publisher.txt", SL_WS_LEGACY, true);
	replay("legacy-webtransport-lite02-publisher.txt", SL_WS_LEGACY, false);
}

/* The golden sequences G2-G4 byte for byte, as a relay would write them field by field. */
static void golden_g2_g3_g4(void **state)
{
	(void)state;
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	/* G2: the client's ANNOUNCE_REQUEST on stream 0, in three messages. */
	assert_int_equal(feed_hex(e, "0e 00 00 01 01", 0), 0);
	assert_int_equal(feed_hex(e, "0e 00 01 01 09", 0), 0);
	assert_int_equal(feed_hex(e, "0e 00 02 09 00 c0 1c 43 69 8e fb a2 87", 0), 0);
	struct tstream *s0 = tfind(e, 0);
	assert_true(s0->opened);
	assert_int_equal(s0->len, 11);
	assert_memory_equal(s0->data, "\x01\x09\x00\xc0\x1c\x43\x69\x8e\xfb\xa2\x87", 11);
	static const char *const g2[][2] = {
		{"\x09", "0e 00 00 01 09"},
		{"\xc0\x10\x2e\x66\xa1\xfc\xac\x1f\x00", "0e 00 01 09 c0 10 2e 66 a1 fc ac 1f 00"},
		{"\x0d", "0e 00 0a 01 0d"},
		{"\x01\x0a"
		 "demo/bcast\x00",
		 "0e 00 0b 0d 01 0a 64656d6f2f6263617374 00"},
	};
	size_t g2len[] = {1, 9, 1, 13};
	for (size_t i = 0; i < 4; i++) {
		write_bytes(e, s0->h, g2[i][0], g2len[i], false);
		assert_int_equal(sl_qmux_flush(e->c, 0), 1);
		expect_hex(e, g2[i][1]);
	}
	/* G3: TRACK on stream 4, TRACK_INFO, STOP_SENDING, FIN; the client's routine answer. */
	assert_int_equal(feed_hex(e, "0e 04 00 01 06", 0), 0);
	assert_int_equal(feed_hex(e, "0e 04 01 01 11", 0), 0);
	assert_int_equal(feed_hex(e, "0e 04 02 11 0a 64656d6f2f6263617374 05 766964656f", 0), 0);
	struct tstream *s4 = tfind(e, 4);
	assert_int_equal(s4->len, 19);
	write_bytes(e, s4->h, "\x08", 1, false);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "0e 04 00 01 08");
	write_bytes(e, s4->h, "\x00\x00\x80\x00\x75\x30\x43\xe8", 8, false);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "0e 04 01 08 00 00 80007530 43e8");
	assert_int_equal(sl_qmux_stream_stop(e->c, s4->h, 0), 0);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "05 04 00");
	write_bytes(e, s4->h, NULL, 0, true);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "0f 04 09 00");
	assert_true(s4->closed == false || s4->h == NULL);
	/* The client's RESET (final size 19) and STOP_SENDING on a finished stream: routine. */
	assert_int_equal(feed_hex(e, "04 04 00 13", 0), 0);
	assert_int_equal(feed_hex(e, "05 04 00", 0), 0);
	assert_int_equal(sl_qmux_flush(e->c, 0), 0); /* nothing to answer */
	assert_true(s4->closed);
	/* SUBSCRIBE on stream 8 and SUBSCRIBE_OK. */
	assert_int_equal(feed_hex(e, "0e 08 00 01 02", 0), 0);
	assert_int_equal(feed_hex(e, "0e 08 01 01 1a", 0), 0);
	assert_int_equal(feed_hex(e,
				  "0e 08 02 1a 00 0a 64656d6f2f6263617374 05 766964656f 00 01 "
				  "80007530 01 00",
				  0),
			 0);
	struct tstream *s8 = tfind(e, 8);
	assert_int_equal(s8->len, 28);
	write_bytes(e, s8->h, "\x00", 1, false);
	write_bytes(e, s8->h, "\x01", 1, false);
	write_bytes(e, s8->h, "\x00", 1, false);
	/* Written before one flush, the three writes share one frame on qmux-01. */
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "0e 08 00 03 00 01 00");
	/* G4: a group on uni stream 7 (the relay's second uni stream: 3 is its Setup stream). */
	struct sl_qmux_stream *u3, *u7;
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &u3), 0);
	assert_int_equal(sl_qmux_stream_id(u3), 3);
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &u7), 0);
	assert_int_equal(sl_qmux_stream_id(u7), 7);
	static const struct {
		const char *data;
		size_t len;
		const char *hex;
	} g4[] = {
		{"\x00", 1, "0e 07 00 01 00"},	      {"\x02", 1, "0e 07 01 01 02"},
		{"\x00\x00", 2, "0e 07 02 02 00 00"}, {"\x00", 1, "0e 07 04 01 00"},
		{"\x04", 1, "0e 07 05 01 04"},	      {"g0f0", 4, "0e 07 06 04 67306630"},
		{"\x28", 1, "0e 07 0a 01 28"},	      {"\x04", 1, "0e 07 0b 01 04"},
		{"g0f1", 4, "0e 07 0c 04 67306631"},
	};
	for (size_t i = 0; i < sizeof(g4) / sizeof(g4[0]); i++) {
		write_bytes(e, u7, g4[i].data, g4[i].len, false);
		sl_qmux_flush(e->c, 0);
		expect_hex(e, g4[i].hex);
	}
	write_bytes(e, u7, NULL, 0, true);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "0f 07 10 00");
	/* The client's APPLICATION_CLOSE 0 "": every stream closes, then the connection. */
	assert_int_equal(feed_hex(e, "1d 00 00", 0), SL_ECLOSED);
	assert_true(e->closed);
	assert_true(e->info.remote);
	assert_true(e->info.app);
	assert_int_equal(e->info.code, 0);
	assert_true(s0->closed);
	assert_true(s8->closed);
	ep_free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* flow control and limits                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void peer_over_credit_is_flow_control_error(void **state)
{
	(void)state;
	struct sl_qmux_config cfg;
	sl_qmux_config_default(&cfg);
	cfg.max_data = 1000;
	struct ep *e = server_ready(SL_WS_QMUX01, &cfg);
	static uint8_t msg[1200];
	/* 0e 02 00 len(1001): one byte over the connection's credit. */
	size_t n = 0;
	msg[n++] = 0x0e;
	msg[n++] = 0x02;
	msg[n++] = 0x00;
	msg[n++] = 0x43;
	msg[n++] = 0xe9;
	n += 1001;
	assert_int_equal(sl_qmux_recv(e->c, msg, n, 0), SL_ECORRUPT);
	expect_close(e, SL_QMUX_FLOW_CONTROL_ERROR, "connection credit exceeded");
	assert_int_equal(e->info.frame_type, 0x0e);
	ep_free(e);
	/* The stream's own credit (256 KiB): 0f 06 <offset 262144> 01 x. */
	e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "0e 06 80040000 01 78", 0), SL_ECORRUPT);
	expect_close(e, SL_QMUX_FLOW_CONTROL_ERROR, "stream credit exceeded");
	ep_free(e);
	/* Exactly at the credit is fine, and credit comes back at half a window. */
	e = server_ready(SL_WS_QMUX01, &cfg);
	n = 0;
	msg[n++] = 0x0e;
	msg[n++] = 0x02;
	msg[n++] = 0x00;
	msg[n++] = 0x43;
	msg[n++] = 0xe8;
	n += 1000;
	assert_int_equal(sl_qmux_recv(e->c, msg, n, 0), 0);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "10 47 d0"); /* MAX_DATA 2000 */
	ep_free(e);
}

static void writer_held_at_credit_resumes(void **state)
{
	(void)state;
	struct ep *e = ep_new(true, SL_WS_QMUX01, NULL);
	sl_qmux_flush(e->c, 0);
	ep_drop_output(e);
	/* A peer granting 100 bytes for the connection. */
	assert_int_equal(
		feed_hex(e,
			 "ff5153300d0a0d0a 18 04 01 24 05 04 80040000 06 04 80040000 07 04 "
			 "80040000 09 01 0a",
			 0),
		0);
	assert_int_equal(e->writable, 1);
	struct sl_qmux_stream *s;
	struct tstream *ts = tfind(e, 3);
	assert_int_equal(sl_qmux_stream_open(e->c, false, ts, &s), 0);
	ts->h = s;
	static uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	write_bytes(e, s, data, 300, true);
	assert_int_equal(sl_qmux_flush(e->c, 0), 1);
	size_t len = 0;
	const uint8_t *m = ep_take(e, &len);
	assert_int_equal(len, 4 + 36); /* 0e 03 00 24 + 36 bytes */
	assert_int_equal(sl_qmux_stream_unacked(s), 264);
	assert_int_equal(ts->acked, 36);
	assert_int_equal(sl_qmux_flush(e->c, 0), 0);
	struct sl_qmux_stats st;
	sl_qmux_stats(e->c, &st);
	assert_true(st.conn_blocked > 0);
	/* MAX_DATA 250: 214 more. */
	assert_int_equal(feed_hex(e, "10 40 fa", 0), 0);
	assert_int_equal(e->writable, 2);
	assert_int_equal(sl_qmux_flush(e->c, 0), 1);
	m = ep_take(e, &len);
	assert_int_equal(m[0], 0x0e);
	assert_int_equal(ts->acked, 250);
	/* MAX_DATA 1000: the rest with FIN. */
	assert_int_equal(feed_hex(e, "10 43 e8", 0), 0);
	assert_int_equal(sl_qmux_flush(e->c, 0), 1);
	m = ep_take(e, &len);
	assert_int_equal(m[0], 0x0f);
	assert_int_equal(ts->acked, 300);
	assert_true(ts->closed); /* uni, all sent */
	ep_free(e);
}

static void stream_limits_and_grants(void **state)
{
	(void)state;
	/* A publisher opening 120 uni streams, one group each: grants keep it going. */
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	uint64_t granted = 100;
	for (uint64_t i = 0; i < 120; i++) {
		char hex[64];
		uint64_t id = i * 4 + 2;
		uint8_t b[16];
		size_t n = 0, used;
		b[n++] = 0x0f;
		sl_varint_encode(b + n, 8, id, &used);
		n += used;
		b[n++] = 0x00;
		b[n++] = 0x02;
		b[n++] = 0x00;
		b[n++] = (uint8_t)i;
		(void)hex;
		assert_int_equal(sl_qmux_recv(e->c, b, n, 0), 0);
		sl_qmux_flush(e->c, 0);
		size_t len = 0;
		const uint8_t *m;
		while ((m = ep_take(e, &len)) != NULL) {
			assert_int_equal(m[0], 0x13); /* MAX_STREAMS_UNI */
			uint64_t v;
			assert_int_equal(sl_varint_decode(m + 1, len - 1, &v, &used), 0);
			assert_true(v > granted);
			granted = v;
		}
		assert_true(i + 1 < granted);
	}
	assert_int_equal(granted, 200);
	struct sl_qmux_stats st;
	sl_qmux_stats(e->c, &st);
	assert_int_equal(st.streams_opened_remote, 120);
	assert_int_equal(st.streams_closed, 120);
	assert_int_equal(st.streams_open, 0);
	/* Past the grant: STREAM_LIMIT_ERROR. */
	assert_int_equal(feed_hex(e, "0e 4322 00 01 00", 0), SL_ECORRUPT); /* id 802: index 200 */
	expect_close(e, SL_QMUX_STREAM_LIMIT_ERROR, "stream limit exceeded");
	ep_free(e);

	/* Our side at the peer's limit: SL_EBUSY until MAX_STREAMS_UNI. */
	e = server_ready(SL_WS_QMUX01, NULL);
	struct sl_qmux_stream *s;
	for (int i = 0; i < 100; i++)
		assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &s), 0);
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &s), SL_EBUSY);
	int w = e->writable;
	assert_int_equal(feed_hex(e, "13 40 86", 0), 0); /* 134, as the capture's client */
	assert_int_equal(e->writable, w + 1);
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &s), 0);
	assert_int_equal(sl_qmux_stream_id(s), 100 * 4 + 3);
	/* Implicit opening: the peer's bidi stream 8 opens 0 and 4 as well. */
	assert_int_equal(feed_hex(e, "0e 08 00 01 02", 0), 0);
	assert_true(tfind(e, 0)->opened && tfind(e, 4)->opened && tfind(e, 8)->opened);
	/* Before the peer's parameters nothing opens. */
	struct ep *f = ep_new(true, SL_WS_QMUX01, NULL);
	assert_int_equal(sl_qmux_stream_open(f->c, true, NULL, &s), SL_EBUSY);
	ep_free(f);
	ep_free(e);
}

static void stop_sending_answered_with_reset(void **state)
{
	(void)state;
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "0e 04 00 03 61 62 63", 0), 0);
	struct tstream *t = tfind(e, 4);
	static uint8_t data[19];
	write_bytes(e, t->h, data, 19, false);
	sl_qmux_flush(e->c, 0);
	ep_drop_output(e);
	write_bytes(e, t->h, data, 5, false); /* queued, not flushed: dropped by the reset */
	assert_int_equal(feed_hex(e, "05 04 07", 0), 0);
	assert_true(t->stopped);
	assert_int_equal(t->code, 7);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "04 04 07 13"); /* final size 19: the bytes sent */
	assert_int_equal(sl_qmux_stream_write(e->c, t->h, slice_of("x", 1), false), SL_ECLOSED);
	assert_false(t->closed); /* the receiving side is still open */
	assert_int_equal(feed_hex(e, "0f 04 03 00", 0), 0);
	assert_true(t->fin);
	assert_true(t->closed);
	/* STOP_SENDING on a finished stream, or a forgotten one: nothing to do. */
	assert_int_equal(feed_hex(e, "05 04 00", 0), 0);
	assert_int_equal(sl_qmux_flush(e->c, 0), 0);
	/* The application's own reset: RESET_STREAM + STOP_SENDING. */
	assert_int_equal(feed_hex(e, "0e 08 00 01 01", 0), 0);
	t = tfind(e, 8);
	write_bytes(e, t->h, data, 3, false);
	sl_qmux_flush(e->c, 0);
	ep_drop_output(e);
	assert_int_equal(sl_qmux_stream_reset(e->c, t->h, 2), 0);
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "04 08 02 03 05 08 02");
	assert_true(t->closed);
	/* Data the peer still sends on it is dropped (and counted for the connection). */
	assert_int_equal(feed_hex(e, "0e 08 01 01 01", 0), 0);
	/* A peer's RESET_STREAM: the application hears the code once. */
	assert_int_equal(feed_hex(e, "0e 0c 00 02 01 02", 0), 0);
	t = tfind(e, 12);
	assert_int_equal(feed_hex(e, "04 0c 09 05", 0), 0);
	assert_true(t->reset);
	assert_int_equal(t->code, 9);
	assert_false(t->closed); /* our sending side is open */
	write_bytes(e, t->h, NULL, 0, true);
	sl_qmux_flush(e->c, 0);
	assert_true(t->closed);
	ep_free(e);
}

static void stream_errors(void **state)
{
	(void)state;
	struct {
		const char *hex;
		uint64_t code;
		const char *reason;
	} cases[] = {
		{"0e 03 00 01 00", 5, "data on a send-only stream"},
		{"0e 01 00 01 00", 5, "stream not opened yet"},
		{"11 02 4064", 5, "send-side frame on a receive-only stream"},
		{"0e 02 01 01 00", 0xa, "stream data out of order (qmux requires order)"},
		{"0f 00 00 01 00 0e 00 01 01 00", 6, "data beyond the final size"},
		{"0e 02 00 02 00 00 0f 02 00 01 00", 6, "final size below data received"},
		{"0e 02 00 02 00 00 04 02 00 01", 6, "reset final size"},
		{"30 00", 0xa, "DATAGRAM without max_datagram_frame_size"},
		{"24 02 00 02 01", 0xa, "RESET_STREAM_AT not advertised"},
		{"01", 7, "unknown or forbidden frame type"},
		{"0e 02 00 05 00", 7, "stream frame longer than the message"},
		{"12 d000000000000001", 7, "stream limit above 2^60"},
		{"f48c67529ef8c7bd", 7, "truncated frame"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ep *e = server_ready(SL_WS_QMUX01, NULL);
		if (feed_hex(e, cases[i].hex, 0) != SL_ECORRUPT)
			fail_msg("case %zu (%s) was accepted", i, cases[i].hex);
		expect_close(e, cases[i].code, cases[i].reason);
		/* Nothing more is taken. */
		assert_int_equal(feed_hex(e, "00", 0), SL_ECLOSED);
		ep_free(e);
	}
	/* A message over the record limit. */
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	static uint8_t big[16383];
	assert_int_equal(sl_qmux_recv(e->c, big, sizeof(big), 0), SL_ECORRUPT);
	expect_close(e, 0xa, "message larger than the record limit");
	ep_free(e);
	/* Duplicates and overlaps are tolerated: only the new bytes are delivered. */
	e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "0e 02 00 03 61 62 63", 0), 0);
	assert_int_equal(feed_hex(e, "0e 02 01 04 62 63 64 65", 0), 0);
	assert_int_equal(feed_hex(e, "0e 02 00 02 61 62", 0), 0);
	assert_int_equal(feed_hex(e, "0c 02 00 61 62 63 64 65 66", 0), 0); /* to the end */
	struct tstream *t = tfind(e, 2);
	assert_int_equal(t->len, 6);
	assert_memory_equal(t->data, "abcdef", 6);
	assert_int_equal(feed_hex(e, "", 0), 0); /* an empty message is a no-op */
	ep_free(e);
}

static void reset_stream_at_on_qmux02(void **state)
{
	(void)state;
	struct ep *e = server_ready(SL_WS_QMUX02, NULL);
	assert_int_equal(feed_hex(e, "0e 02 00 02 61 62", 0), 0);
	/* Reset at final size 6 with 4 reliable bytes: 2 more bytes first, then the reset. */
	assert_int_equal(feed_hex(e, "24 02 05 06 04", 0), 0);
	struct tstream *t = tfind(e, 2);
	assert_false(t->reset);
	assert_int_equal(feed_hex(e, "0e 02 02 02 63 64", 0), 0);
	assert_true(t->reset);
	assert_int_equal(t->code, 5);
	assert_int_equal(t->len, 4);
	assert_true(t->closed);
	/* Ping sequences must increase on qmux-02. */
	assert_int_equal(feed_hex(e, "f48c67529ef8c7bd 05", 0), 0);
	assert_int_equal(feed_hex(e, "f48c67529ef8c7bd 05", 0), SL_ECORRUPT);
	expect_close(e, 0xa, "ping sequence not increasing");
	ep_free(e);
	e = server_ready(SL_WS_QMUX02, NULL);
	assert_int_equal(feed_hex(e, "f48c67529ef8c7be 00", 0), SL_ECORRUPT);
	expect_close(e, 0xa, "ping response to a request never sent");
	ep_free(e);
}

static void send_order(void **state)
{
	(void)state;
	struct ep *e = ep_new(true, SL_WS_QMUX01, NULL);
	sl_qmux_flush(e->c, 0);
	ep_drop_output(e);
	/* 10 bytes of connection credit. */
	assert_int_equal(feed_hex(e, "ff5153300d0a0d0a 0c 04 01 0a 07 04 80040000 09 01 0a", 0), 0);
	struct sl_qmux_stream *a, *b, *c;
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &a), 0);
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &b), 0);
	assert_int_equal(sl_qmux_stream_open(e->c, false, NULL, &c), 0);
	sl_qmux_stream_set_order(e->c, a, 5);
	sl_qmux_stream_set_order(e->c, b, 1);
	write_bytes(e, a, "aaaaaaaa", 8, false);
	write_bytes(e, b, "bbbbbbbb", 8, false);
	write_bytes(e, c, "cccccccc", 8, false);
	sl_qmux_stream_set_order(e->c, c, 3);
	sl_qmux_flush(e->c, 0);
	/* b (order 1) first, then 2 bytes of c (order 3); a waits. */
	expect_hex(e, "0e 07 00 08 6262626262626262 0e 0b 00 02 6363");
	assert_int_equal(sl_qmux_flush(e->c, 0), 0);
	ep_free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* idle timeout and keep-alive                                                                */
/* ------------------------------------------------------------------------------------------ */

static void idle_and_ping(void **state)
{
	(void)state;
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	/* 30 s on both sides: a ping after 10 s without sending. */
	assert_int_equal(sl_qmux_expiry(e->c), MS(10000));
	sl_qmux_handle_expiry(e->c, MS(10000));
	sl_qmux_flush(e->c, MS(10000));
	expect_hex(e, "f4 8c 67 52 9e f8 c7 bd 00");
	assert_int_equal(sl_qmux_expiry(e->c), MS(20000));
	/* The peer's ping is answered with its sequence (the capture's bytes). */
	assert_int_equal(feed_hex(e, "f4 8c 67 52 9e f8 c7 bd 00", MS(15000)), 0);
	sl_qmux_flush(e->c, MS(15000));
	expect_hex(e, "f4 8c 67 52 9e f8 c7 be 00");
	assert_int_equal(feed_hex(e, "f4 8c 67 52 9e f8 c7 be 00", MS(16000)), 0);
	struct sl_qmux_stats st;
	sl_qmux_stats(e->c, &st);
	assert_int_equal(st.pings_sent, 1);
	assert_int_equal(st.pings_answered, 1);
	assert_int_equal(st.pongs_received, 1);
	/* Silence from the peer for 30 s: closed, nothing sent. */
	sl_qmux_handle_expiry(e->c, MS(25000));
	sl_qmux_flush(e->c, MS(25000));
	ep_drop_output(e);
	assert_false(e->closed);
	sl_qmux_handle_expiry(e->c, MS(46000));
	assert_true(e->closed);
	assert_true(e->info.idle);
	assert_int_equal(sl_qmux_flush(e->c, MS(46000)), 0);
	assert_int_equal(sl_qmux_expiry(e->c), UINT64_MAX);
	ep_free(e);

	/* The smaller non-zero timeout wins; 0 on one side means the other's. */
	struct sl_qmux_config cfg;
	sl_qmux_config_default(&cfg);
	cfg.idle_timeout_ms = 0;
	e = ep_new(true, SL_WS_QMUX01, &cfg);
	assert_int_equal(sl_qmux_idle_timeout_ns(e->c), 0);
	assert_int_equal(sl_qmux_expiry(e->c), UINT64_MAX);
	assert_int_equal(feed_hex(e, "ff5153300d0a0d0a 04 01 02 53 88", 0), 0); /* 5000 ms */
	assert_int_equal(sl_qmux_idle_timeout_ns(e->c), MS(5000));
	ep_free(e);
	e = server_ready(SL_WS_QMUX01, NULL);
	ep_free(e);

	/* qmux-00 has no QX_PING: the keep-alive is a WebSocket ping. */
	e = server_ready(SL_WS_QMUX00, NULL);
	sl_qmux_handle_expiry(e->c, MS(10000));
	assert_int_equal(e->ws_pings, 1);
	assert_int_equal(sl_qmux_flush(e->c, MS(10000)), 0);
	sl_qmux_note_rx(e->c, MS(29000)); /* the pong */
	sl_qmux_handle_expiry(e->c, MS(31000));
	assert_false(e->closed);
	assert_int_equal(feed_hex(e, "f48c67529ef8c7bd 00", MS(31000)), SL_ECORRUPT);
	ep_free(e);
}

static void close_paths(void **state)
{
	(void)state;
	/* The application closes: APPLICATION_CLOSE, then on_closed, streams first. */
	struct ep *e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "0e 00 00 01 01", 0), 0);
	sl_qmux_close(e->c, 15, "bad announce");
	assert_false(e->closed);
	assert_true(sl_qmux_want_flush(e->c));
	e->block = true;
	assert_int_equal(sl_qmux_flush(e->c, 0), 0); /* no room: retried later */
	assert_false(e->closed);
	e->block = false;
	assert_int_equal(sl_qmux_flush(e->c, 0), 1);
	expect_hex(e, "1d 0f 0c 62616420616e6e6f756e6365");
	assert_true(e->closed);
	assert_true(tfind(e, 0)->closed);
	assert_false(e->info.remote);
	assert_int_equal(e->info.code, 15);
	ep_free(e);
	/* The peer's CONNECTION_CLOSE 1002 (what JS sends for any violation). */
	e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "1c 43ea 00 04 666c6f77", 0), SL_ECLOSED);
	assert_true(e->closed);
	assert_int_equal(e->info.code, 1002);
	assert_false(e->info.app);
	assert_string_equal(e->reason, "flow");
	ep_free(e);
	/* The transport vanished. */
	e = server_ready(SL_WS_QMUX01, NULL);
	assert_int_equal(feed_hex(e, "0e 02 00 01 00", 0), 0);
	sl_qmux_abort(e->c);
	assert_true(e->closed);
	assert_true(tfind(e, 2)->closed);
	assert_int_equal(feed_hex(e, "00", 0), SL_ECLOSED);
	ep_free(e);
	/* Legacy: 1d code reason-to-end. */
	e = server_ready(SL_WS_LEGACY, NULL);
	sl_qmux_close(e->c, 0, "bye");
	sl_qmux_flush(e->c, 0);
	expect_hex(e, "1d 00 627965");
	ep_free(e);
}

/* ------------------------------------------------------------------------------------------ */
/* two engines back to back over WebSockets, 10 000 streams, random splits                    */
/* ------------------------------------------------------------------------------------------ */

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

static uint8_t pattern(uint64_t id, uint64_t off)
{
	return (uint8_t)(id * 31 + off * 7 + (off >> 8));
}

struct side {
	struct sl_ws_conn *ws;
	struct sl_qmux_conn *q;
	struct sl_qmux_callbacks cb;
	uint64_t now;
	/* streams */
	uint64_t opened, done_rx, bytes_rx;
	uint64_t want_open; /* client: how many to open */
	uint64_t bidi;	    /* client: bidi streams opened (each gets an echo) */
	bool is_client;
	bool closed;
};

static void side_msg(void *arg, const uint8_t *data, size_t len)
{
	struct side *s = arg;
	int rc = sl_qmux_recv(s->q, data, len, s->now);
	assert_true(rc == 0 || (rc == SL_ECLOSED && s->closed));
}

static uint8_t *side_alloc(void *arg, size_t max)
{
	return sl_ws_msg_alloc(((struct side *)arg)->ws, max);
}

static void side_commit(void *arg, size_t len)
{
	sl_ws_msg_commit(((struct side *)arg)->ws, len);
}

struct bstream {
	uint64_t rx[2]; /* bytes checked, by the server [0] and the client [1] */
	bool fin[2];
	uint64_t size;	/* what the writer sends */
	uint64_t wrote; /* bytes queued */
};

static struct bstream bst[2][40000];

static void b_open(void *arg, struct sl_qmux_stream *s)
{
	(void)arg;
	sl_qmux_stream_set_user(s, NULL);
}

static void b_data(void *arg, struct sl_qmux_stream *st, void *user, const uint8_t *data,
		   size_t len, bool fin)
{
	(void)user;
	struct side *s = arg;
	uint64_t id = sl_qmux_stream_id(st);
	struct bstream *b = &bst[id & 1][id >> 1];
	if (s->is_client) {
		/* The server's echo on a bidi stream. */
		assert_true(b->rx[1] + len <= 2);
		assert_memory_equal(data, &"ok"[b->rx[1]], len);
	} else {
		for (size_t i = 0; i < len; i++)
			assert_int_equal(data[i], pattern(id, b->rx[0] + i));
	}
	b->rx[s->is_client] += len;
	s->bytes_rx += len;
	if (fin) {
		assert_false(b->fin[s->is_client]);
		b->fin[s->is_client] = true;
		s->done_rx++;
		/* Client bidi streams are echoed with FIN by the server. */
		if (!s->is_client && !(id & 2)) {
			static const char ok[] = "ok";
			struct sl_buf *buf = sl_buf_from(ok, 2);
			assert_int_equal(sl_qmux_stream_write(s->q, st, sl_slice_of(buf), true), 0);
		}
	}
}

static void b_close(void *arg, struct sl_qmux_stream *s, void *user)
{
	(void)arg;
	(void)s;
	(void)user;
}

static void b_closed(void *arg, const struct sl_qmux_close_info *info)
{
	(void)info;
	((struct side *)arg)->closed = true;
}

static void open_some(struct side *s)
{
	while (s->opened < s->want_open) {
		bool bidi = rnd() % 8 == 0;
		struct sl_qmux_stream *st;
		int rc = sl_qmux_stream_open(s->q, bidi, NULL, &st);
		if (rc == SL_EBUSY)
			return;
		assert_int_equal(rc, 0);
		s->opened++;
		s->bidi += bidi;
		uint64_t id = sl_qmux_stream_id(st);
		struct bstream *b = &bst[id & 1][id >> 1];
		b->size = rnd() % 4 == 0 ? rnd() % 40000 : rnd() % 300;
		/* Written in random pieces, each its own buffer. */
		while (b->wrote < b->size) {
			uint64_t n = 1 + rnd() % 5000;
			if (n > b->size - b->wrote)
				n = b->size - b->wrote;
			struct sl_buf *buf = sl_buf_alloc(n);
			for (uint64_t i = 0; i < n; i++)
				buf->data[i] = pattern(id, b->wrote + i);
			buf->len = (uint32_t)n;
			bool fin = b->wrote + n == b->size;
			assert_int_equal(sl_qmux_stream_write(s->q, st, sl_slice_of(buf), fin), 0);
			b->wrote += n;
		}
		if (b->size == 0)
			assert_int_equal(
				sl_qmux_stream_write(s->q, st, (struct sl_slice){NULL, 0, 0}, true),
				0);
		sl_qmux_stream_set_order(s->q, st, rnd() % 4);
	}
}

static void b_writable(void *arg)
{
	(void)arg; /* the pump retries opens every round */
}

/* Moves what a's WebSocket queued into b's, in random pieces. */
static size_t pump(struct side *a, struct side *b)
{
	const uint8_t *p;
	size_t n = sl_ws_pending(a->ws, &p), moved = 0;
	while (moved < n) {
		size_t k = 1 + rnd() % 3000;
		if (k > n - moved)
			k = n - moved;
		assert_int_equal(sl_ws_recv(b->ws, p + moved, k), 0);
		moved += k;
	}
	sl_ws_consume(a->ws, n);
	return n;
}

static void back_to_back_10000_streams(void **state)
{
	(void)state;
	memset(bst, 0, sizeof(bst));
	static struct side cli, srv;
	memset(&cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
	struct sl_qmux_callbacks cb = {
		.tx_alloc = side_alloc,
		.tx_commit = side_commit,
		.on_stream_open = b_open,
		.on_stream_data = b_data,
		.on_stream_close = b_close,
		.on_writable = b_writable,
		.on_closed = b_closed,
	};
	struct sl_ws_callbacks wcb = {.on_message = side_msg};
	struct sl_ws_config wc;
	sl_ws_config_default(&wc);
	wc.out_cap = 1 << 16; /* small, so backpressure happens */
	assert_int_equal(sl_ws_conn_new(&wc, &wcb, &srv, &srv.ws), 0);
	wc.server = false;
	assert_int_equal(sl_ws_conn_new(&wc, &wcb, &cli, &cli.ws), 0);
	struct sl_qmux_config qc;
	sl_qmux_config_default(&qc);
	assert_int_equal(sl_qmux_conn_new(&qc, &cb, &srv, 0, &srv.q), 0);
	qc.server = false;
	qc.max_data = 100000; /* the client's window is small: the server's echoes wait */
	assert_int_equal(sl_qmux_conn_new(&qc, &cb, &cli, 0, &cli.q), 0);
	cli.want_open = 10000;
	cli.is_client = true;
	uint64_t rounds = 0;
	for (;;) {
		rounds++;
		assert_true(rounds < 200000);
		cli.now = srv.now = rounds * 1000;
		open_some(&cli);
		sl_qmux_flush(cli.q, cli.now);
		size_t a = pump(&cli, &srv);
		sl_qmux_flush(srv.q, srv.now);
		size_t b = pump(&srv, &cli);
		if (srv.done_rx == 10000 && cli.done_rx == cli.bidi && a == 0 && b == 0)
			break;
	}
	assert_int_equal(cli.opened, 10000);
	assert_int_equal(srv.done_rx, 10000);
	/* Every client bidi stream got its echo. */
	struct sl_qmux_stats cs, ss;
	sl_qmux_stats(cli.q, &cs);
	sl_qmux_stats(srv.q, &ss);
	assert_int_equal(cs.streams_opened_local, 10000);
	assert_int_equal(ss.streams_opened_remote, 10000);
	assert_int_equal(ss.streams_closed, 10000);
	assert_int_equal(cs.streams_closed, 10000);
	assert_int_equal(cs.errors_local + ss.errors_local, 0);
	assert_true(cli.bidi > 500);
	assert_true(cs.open_refused > 0); /* the stream limit was reached and lifted */
	assert_true(ss.tx_frames[SL_QMUX_FK_MAX_STREAMS] > 0);
	assert_true(ss.tx_frames[SL_QMUX_FK_MAX_DATA] > 0);
	struct sl_pool_stats ps;
	sl_qmux_pool_stats(srv.q, &ps);
	assert_int_equal(ps.in_use, 0);
	/* A clean close from the client ends both. */
	sl_qmux_close(cli.q, 0, "");
	sl_qmux_flush(cli.q, cli.now);
	assert_true(cli.closed);
	pump(&cli, &srv);
	assert_true(srv.closed);
	sl_qmux_conn_free(cli.q);
	sl_qmux_conn_free(srv.q);
	sl_ws_conn_free(cli.ws);
	sl_ws_conn_free(srv.ws);
}

static void stats_table_covers(void **state)
{
	(void)state;
	char err[128];
	assert_int_equal(sl_stats_check_covers(sl_qmux_stats_fields, sizeof(struct sl_qmux_stats),
					       err, sizeof(err)),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tp_first_and_golden),
		cmocka_unit_test(tp_receive_rules),
		cmocka_unit_test(golden_g2_g3_g4),
		cmocka_unit_test(replay_lite05_qmux01_subscriber),
		cmocka_unit_test(replay_lite05_qmux01_publisher),
		cmocka_unit_test(replay_lite05_qmux00_and_02),
		cmocka_unit_test(replay_idle_ping),
		cmocka_unit_test(replay_flowcontrol),
		cmocka_unit_test(replay_legacy),
		cmocka_unit_test(peer_over_credit_is_flow_control_error),
		cmocka_unit_test(writer_held_at_credit_resumes),
		cmocka_unit_test(stream_limits_and_grants),
		cmocka_unit_test(stop_sending_answered_with_reset),
		cmocka_unit_test(stream_errors),
		cmocka_unit_test(reset_stream_at_on_qmux02),
		cmocka_unit_test(send_order),
		cmocka_unit_test(idle_and_ping),
		cmocka_unit_test(close_paths),
		cmocka_unit_test(back_to_back_10000_streams),
		cmocka_unit_test(stats_table_covers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
