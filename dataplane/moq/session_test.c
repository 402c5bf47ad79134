/* SPDX-License-Identifier: Apache-2.0 */
/*
 * moq-lite-04 sessions and relay routing. Sessions are connected through an in-memory
 * transport that queues stream bytes and delivers them to the other session in random chunks
 * (so every message is also parsed from partial input), hands streams to the sessions as
 * handles and their acknowledgements as callbacks (once delivered), and can stall one direction
 * (a subscriber that stops reading) or lose its acknowledgements. The topology is the relay's:
 * publisher client -> relay sessions sharing one origin -> subscriber clients.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/u64map.h"
#include "moq/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS UINT64_C(1000000)

/* ---- the in-memory transport ---- */

enum { P_DATA, P_RESET };

struct pkt {
	struct pkt *next;
	int type;
	int64_t id;
	struct sl_slice data;
	bool fin;
	uint64_t code;
};

struct reset_rec {
	int64_t id;
	uint64_t code;
};

struct end;

/* One end's side of a stream: the handle its session holds, with the session's pointer. The
 * pipe finds them by QUIC-style id (its own bookkeeping, as a QUIC stack has). */
struct tstream {
	int64_t id;
	struct sl_moq_stream *user; /* NULL once the session released it or it was closed */
	uint64_t unacked;	    /* written, not yet delivered to the peer */
	bool released;
	bool closed; /* sl_moq_session_stream_closed was called */
};

struct end {
	struct end *peer;
	struct sl_moq_session *s;
	bool server;
	int64_t nbidi, nuni;
	int64_t max_bidi; /* opens beyond this many bidi streams fail with SL_EBUSY */
	int64_t max_uni;  /* likewise for uni streams (0: no limit) */
	struct pkt *head, *tail;
	bool stalled;
	/* Bytes this end writes are delivered but their acknowledgements never reach its session
	 * (a transport that does not report acks). */
	bool acks_lost;
	bool closed; /* this end closed the connection */
	bool peer_told;
	uint64_t close_code;
	struct sl_u64map streams; /* stream id -> struct tstream * */
	struct sl_u64map orders;  /* stream id -> send order (set_order) */
	struct sl_u64map stopped; /* ids this end reset: later data from the peer is dropped */
	struct reset_rec resets[256];
	int nresets;
	/* Ready mode (sl_moq_session_set_ready): the session said it has work; how often the
	 * owner polled it; the stream limits last told to it (sl_moq_session_writable). */
	bool use_ready, ready;
	uint64_t polls;
	int64_t told_bidi, told_uni;
	/* Capture of the bytes written on one stream (golden-bytes test). */
	int64_t capture_id;
	uint8_t capture[256];
	size_t ncapture;
};

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* Deliver every stream one byte at a time (otherwise: random splits). */
static bool one_byte;

static struct tstream *ts_find(struct end *e, int64_t id)
{
	uint64_t v;
	if (!sl_u64map_get(&e->streams, (uint64_t)id, &v))
		return NULL;
	return (struct tstream *)(uintptr_t)v;
}

static struct tstream *ts_new(struct end *e, int64_t id)
{
	struct tstream *ts = calloc(1, sizeof(*ts));
	assert_non_null(ts);
	ts->id = id;
	assert_int_equal(sl_u64map_insert(&e->streams, (uint64_t)id, (uint64_t)(uintptr_t)ts), 0);
	return ts;
}

/* e's side of stream id, which the peer opened: made and handed to e's session the first
 * time, as QUIC does before the stream's first data. */
static struct tstream *ts_peer(struct end *e, int64_t id)
{
	struct tstream *ts = ts_find(e, id);
	if (ts == NULL) {
		ts = ts_new(e, id);
		if (e->s)
			ts->user = sl_moq_session_stream_accept(e->s, ts, (id & 2) == 0);
	}
	return ts;
}

/* The connection ends: every stream the session still holds is closed (as QUIC does before
 * on_closed), then the session is told. */
static void end_gone(struct end *e)
{
	for (size_t i = 0; i <= e->streams.mask; i++) {
		if (!e->streams.slots[i].used)
			continue;
		struct tstream *ts = (struct tstream *)(uintptr_t)e->streams.slots[i].val;
		if (ts->user && e->s) {
			struct sl_moq_stream *u = ts->user;
			ts->user = NULL;
			ts->closed = true;
			sl_moq_session_stream_closed(e->s, u);
		}
	}
	if (e->s)
		sl_moq_session_closed(e->s);
}

static void push(struct end *e, struct pkt *p)
{
	p->next = NULL;
	if (e->tail)
		e->tail->next = p;
	else
		e->head = p;
	e->tail = p;
}

/* Drops every queued packet of stream id from e's outgoing queue. */
static void purge(struct end *e, int64_t id)
{
	struct pkt **pp = &e->head;
	e->tail = NULL;
	while (*pp) {
		struct pkt *p = *pp;
		if (p->id == id && p->type == P_DATA) {
			*pp = p->next;
			sl_buf_unref(p->data.buf);
			free(p);
			continue;
		}
		e->tail = p;
		pp = &p->next;
	}
	struct tstream *ts = ts_find(e, id);
	if (ts)
		ts->unacked = 0;
}

static int t_open(void *t, bool bidi, void *user, void **handle)
{
	struct end *e = t;
	if (bidi && e->max_bidi && e->nbidi >= e->max_bidi)
		return SL_EBUSY;
	if (!bidi && e->max_uni && e->nuni >= e->max_uni)
		return SL_EBUSY;
	int64_t n = bidi ? e->nbidi++ : e->nuni++;
	struct tstream *ts = ts_new(e, (n << 2) | (bidi ? 0 : 2) | (e->server ? 1 : 0));
	ts->user = user;
	*handle = ts;
	return 0;
}

static int t_write(void *t, void *h, struct sl_slice data, bool fin)
{
	struct end *e = t;
	struct tstream *ts = h;
	assert_false(ts->released || ts->closed); /* a handle is never used after either */
	int64_t id = ts->id;
	if (e->closed || e->peer->closed || sl_u64map_get(&e->peer->stopped, (uint64_t)id, NULL)) {
		sl_buf_unref(data.buf);
		return SL_ECLOSED;
	}
	if (id == e->capture_id && data.len && e->ncapture + data.len <= sizeof(e->capture)) {
		memcpy(e->capture + e->ncapture, sl_slice_data(&data), data.len);
		e->ncapture += data.len;
	}
	struct pkt *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->type = P_DATA;
	p->id = id;
	p->data = data;
	p->fin = fin;
	push(e, p);
	ts->unacked += data.len;
	return 0;
}

static int t_reset(void *t, void *h, uint64_t code)
{
	struct end *e = t;
	struct tstream *ts = h;
	assert_false(ts->released || ts->closed);
	int64_t id = ts->id;
	if (e->nresets < 256)
		e->resets[e->nresets++] = (struct reset_rec){id, code};
	purge(e, id);
	purge(e->peer, id);
	if (!sl_u64map_get(&e->stopped, (uint64_t)id, NULL))
		sl_u64map_insert(&e->stopped, (uint64_t)id, 1);
	struct pkt *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->type = P_RESET;
	p->id = id;
	p->code = code;
	push(e, p);
	return 0;
}

static void t_release(void *t, void *h)
{
	(void)t;
	struct tstream *ts = h;
	assert_false(ts->released || ts->closed);
	ts->released = true;
	ts->user = NULL;
}

static void t_close(void *t, uint64_t code, const char *reason)
{
	(void)reason;
	struct end *e = t;
	e->closed = true;
	e->close_code = code;
}

static void t_set_order(void *t, void *h, uint64_t order)
{
	struct end *e = t;
	struct tstream *ts = h;
	assert_false(ts->released || ts->closed);
	sl_u64map_remove(&e->orders, (uint64_t)ts->id);
	assert_int_equal(sl_u64map_insert(&e->orders, (uint64_t)ts->id, order), 0);
}

static const struct sl_moq_transport_ops ops = {
	.open_stream = t_open,
	.write = t_write,
	.reset = t_reset,
	.release = t_release,
	.close = t_close,
	.set_order = t_set_order,
};

/* Bytes e wrote that the peer has not received yet, over every stream. */
static uint64_t total_unacked(struct end *e)
{
	uint64_t n = 0;
	for (size_t i = 0; i <= e->streams.mask; i++)
		if (e->streams.slots[i].used)
			n += ((struct tstream *)(uintptr_t)e->streams.slots[i].val)->unacked;
	return n;
}

static bool was_reset(const struct end *e, int64_t id, uint64_t *code)
{
	for (int i = 0; i < e->nresets; i++)
		if (e->resets[i].id == id) {
			if (code)
				*code = e->resets[i].code;
			return true;
		}
	return false;
}

/* Delivers e's queued packets to the peer's session in random chunks; what arrives is
 * acknowledged to e's session at once. Returns packets moved. */
static int deliver(struct end *e)
{
	struct end *to = e->peer;
	if (e->closed && !to->peer_told && to->s) {
		to->peer_told = true;
		end_gone(to);
	}
	if (e->closed || to->closed) {
		while (e->head) {
			struct pkt *p = e->head;
			e->head = p->next;
			sl_buf_unref(p->data.buf);
			free(p);
		}
		e->tail = NULL;
		return 0;
	}
	if (e->stalled)
		return 0;
	int n = 0;
	while (e->head) {
		struct pkt *p = e->head;
		e->head = p->next;
		if (e->head == NULL)
			e->tail = NULL;
		n++;
		struct tstream *ts = ts_peer(to, p->id);
		if (sl_u64map_get(&to->stopped, (uint64_t)p->id, NULL) && p->type == P_DATA) {
			/* The receiver reset this stream: STOP_SENDING drops the rest. */
		} else if (p->type == P_RESET) {
			sl_moq_session_stream_reset(to->s, ts->user, p->code);
		} else {
			const uint8_t *d = p->data.len ? sl_slice_data(&p->data) : NULL;
			size_t left = p->data.len;
			do {
				size_t k = left;
				if (one_byte && left > 0)
					k = 1;
				else if (left > 1 && rng() % 2)
					k = 1 + rng() % left;
				/* The session may release the stream between two pieces. */
				sl_moq_session_stream_data(to->s, ts->user, d, k,
							   p->fin && k == left);
				d = d ? d + k : d;
				left -= k;
			} while (left > 0);
			struct tstream *mine = ts_find(e, p->id);
			assert_non_null(mine);
			mine->unacked -= p->data.len;
			if (p->data.len && !e->acks_lost)
				sl_moq_session_stream_acked(e->s, mine->user, p->data.len);
		}
		sl_buf_unref(p->data.buf);
		free(p);
	}
	return n;
}

static void end_init(struct end *e, struct end *peer, bool server)
{
	memset(e, 0, sizeof(*e));
	e->peer = peer;
	e->server = server;
	e->capture_id = -1;
	assert_int_equal(sl_u64map_init(&e->streams, 64), 0);
	assert_int_equal(sl_u64map_init(&e->orders, 64), 0);
	assert_int_equal(sl_u64map_init(&e->stopped, 64), 0);
}

static void end_fini(struct end *e)
{
	while (e->head) {
		struct pkt *p = e->head;
		e->head = p->next;
		sl_buf_unref(p->data.buf);
		free(p);
	}
	for (size_t i = 0; i <= e->streams.mask; i++)
		if (e->streams.slots[i].used)
			free((void *)(uintptr_t)e->streams.slots[i].val);
	sl_u64map_fini(&e->streams);
	sl_u64map_fini(&e->orders);
	sl_u64map_fini(&e->stopped);
}

/* ---- the world: one relay (shared origin), links of client <-> relay session ---- */

#define MAX_LINKS 64

struct link {
	struct end c, r; /* client end, relay end */
};

struct world {
	struct sl_origin *origin;
	struct sl_moq_relay *relay;
	struct link *links[MAX_LINKS];
	int nlinks;
	uint64_t now;
	struct sl_moq_session_config relay_cfg;
	/* Relay sessions are polled only when they report work, as the worker does. */
	bool ready_mode;
};

/* Set by the ready-mode variants of tests: world_new makes ready-mode worlds. */
static bool ready_mode;
/* Set by the lite-05 variants: the version of both ends of every link link_new makes. */
static enum sl_moq_version test_version = SL_MOQ_LITE_04;

static void end_ready(void *arg)
{
	struct end *e = arg;
	assert_false(e->ready); /* told once until the next poll */
	e->ready = true;
}

/* Polls an end as its owner would: always, or in ready mode when it reported work and after
 * the transport raised a stream limit. */
static void poll_end(struct world *w, struct end *e)
{
	if (e->use_ready) {
		if (e->max_bidi != e->told_bidi || e->max_uni != e->told_uni) {
			e->told_bidi = e->max_bidi;
			e->told_uni = e->max_uni;
			sl_moq_session_writable(e->s);
		}
		if (!e->ready)
			return;
		e->ready = false;
	}
	e->polls++;
	sl_moq_session_poll(e->s, w->now);
}

static struct world *world_new(void)
{
	struct world *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->origin = sl_origin_new(NULL);
	assert_non_null(w->origin);
	w->relay = sl_moq_relay_new(w->origin);
	assert_non_null(w->relay);
	sl_moq_session_config_default(&w->relay_cfg);
	w->relay_cfg.server = true;
	w->now = 1000 * MS;
	w->ready_mode = ready_mode;
	return w;
}

/* A link whose two ends speak version v (the connection's ALPN). */
static struct link *link_new_v(struct world *w, enum sl_moq_version v)
{
	struct link *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	end_init(&l->c, &l->r, false);
	end_init(&l->r, &l->c, true);
	struct sl_moq_session_config cc, rc = w->relay_cfg;
	sl_moq_session_config_default(&cc);
	cc.version = rc.version = v;
	l->c.s = sl_moq_session_new(&cc, &ops, &l->c, NULL);
	l->r.s = sl_moq_session_new(&rc, &ops, &l->r, w->relay);
	assert_non_null(l->c.s);
	assert_non_null(l->r.s);
	if (w->ready_mode) {
		l->r.use_ready = true;
		sl_moq_session_set_ready(l->r.s, end_ready, &l->r, &w->now);
		assert_true(l->r.ready);
	}
	w->links[w->nlinks++] = l;
	return l;
}

static struct link *link_new(struct world *w)
{
	return link_new_v(w, test_version);
}

static void pump(struct world *w)
{
	for (int iter = 0; iter < 10000; iter++) {
		int moved = 0;
		for (int i = 0; i < w->nlinks; i++) {
			struct link *l = w->links[i];
			if (l == NULL)
				continue;
			poll_end(w, &l->c);
			poll_end(w, &l->r);
			moved += deliver(&l->c);
			moved += deliver(&l->r);
		}
		if (moved == 0) {
			/* A session may write on another link's end during its poll (a relay's
			 * upstream FETCH): go on while anything deliverable is queued. */
			bool queued = false;
			for (int i = 0; i < w->nlinks; i++) {
				struct link *l = w->links[i];
				if (l &&
				    ((l->c.head && !l->c.stalled) || (l->r.head && !l->r.stalled)))
					queued = true;
			}
			if (!queued)
				return;
		}
	}
	fail_msg("the sessions never went quiet");
}

static void link_free(struct link *l)
{
	sl_moq_session_free(l->c.s);
	sl_moq_session_free(l->r.s);
	end_fini(&l->c);
	end_fini(&l->r);
	free(l);
}

static void world_free(struct world *w)
{
	for (int i = 0; i < w->nlinks; i++)
		if (w->links[i])
			link_free(w->links[i]);
	sl_moq_relay_free(w->relay);
	sl_origin_free(w->origin);
	free(w);
}

/* A publisher client: its own origin with broadcast "demo" and track "clock". */
struct publisher {
	struct link *l;
	struct sl_origin *o;
	struct sl_broadcast *b;
	struct sl_track *t;
};

static void publisher_new(struct world *w, struct publisher *p, const char *path)
{
	p->l = link_new(w);
	p->o = sl_origin_new(NULL);
	assert_int_equal(sl_origin_publish(p->o, path, &p->b), 0);
	assert_int_equal(sl_broadcast_create_track(p->b, "clock", 0, &p->t), 0);
	assert_int_equal(sl_moq_session_publish(p->l->c.s, path, p->b), 0);
	pump(w);
}

static void publisher_free(struct publisher *p)
{
	sl_track_unref(p->t);
	sl_broadcast_unref(p->b);
	sl_origin_free(p->o);
}

static struct sl_slice frame_of(uint64_t seq, uint32_t i, size_t size)
{
	struct sl_buf *b = sl_buf_alloc(size < 32 ? 32 : size);
	assert_non_null(b);
	memset(b->data, (int)('a' + (seq + i) % 26), b->cap);
	int n = snprintf((char *)b->data, 32, "g%llu f%u", (unsigned long long)seq, i);
	b->len = (uint32_t)(size < 32 ? (size_t)n : size);
	return sl_slice_of(b);
}

/* Appends a group of n frames; finishes it unless open is set. Returns the group (a ref). */
static struct sl_group *write_group_ex(struct sl_track *t, uint64_t now, uint32_t n, size_t size,
				       bool open)
{
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(t, now, &g), 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(sl_group_write_frame(g, frame_of(sl_group_sequence(g), i, size)),
				 0);
	if (!open)
		assert_int_equal(sl_group_finish(g), 0);
	return g;
}

static uint64_t write_group(struct sl_track *t, uint64_t now, uint32_t n)
{
	struct sl_group *g = write_group_ex(t, now, n, 0, false);
	uint64_t seq = sl_group_sequence(g);
	sl_group_unref(g);
	return seq;
}

/* Reads the next group, which must be seq with n complete frames. */
static void expect_group(struct sl_track_consumer *c, uint64_t seq, uint32_t n)
{
	struct sl_group_reader r;
	int rc = sl_track_consumer_next_group(c, NULL, &r);
	assert_int_equal(rc, 0);
	assert_int_equal(sl_group_sequence(r.group), seq);
	for (uint32_t i = 0; i < n; i++) {
		struct sl_slice f;
		assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
		char want[32];
		int k = snprintf(want, sizeof(want), "g%llu f%u", (unsigned long long)seq, i);
		assert_true(f.len >= (uint32_t)k);
		assert_memory_equal(sl_slice_data(&f), want, (size_t)k);
	}
	struct sl_slice f;
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EEOF);
	sl_group_reader_release(&r);
}

static void expect_no_group(struct sl_track_consumer *c)
{
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(c, NULL, &r), SL_EAGAIN);
}

static struct sl_moq_session_stats stats(struct sl_moq_session *s)
{
	struct sl_moq_session_stats st;
	sl_moq_session_stats(s, &st);
	return st;
}

static struct sl_moq_relay_stats relay_stats(struct world *w)
{
	struct sl_moq_relay_stats st;
	sl_moq_relay_stats(w->relay, &st);
	return st;
}

static void subscribe(struct world *w, struct link *l, const char *b, const char *t,
		      const struct sl_moq_subscribe_options *o, uint64_t *id,
		      struct sl_track_consumer *c)
{
	assert_int_equal(sl_moq_session_subscribe(l->c.s, b, t, o, id, c), 0);
	pump(w);
}

/* The id end e gives the next bidi stream it opens (e.g. the next SUBSCRIBE). */
static int64_t next_bidi(const struct end *e)
{
	return (e->nbidi << 2) | (e->server ? 1 : 0);
}

/* Decodes every response captured on a Subscribe stream (OK, DROP...). Returns how many. */
static int captured_responses(const struct end *e, struct sl_moq_response *out, int max)
{
	struct sl_reader r;
	sl_reader_init(&r, e->capture, e->ncapture);
	int n = 0;
	while (sl_reader_left(&r) > 0 && n < max) {
		if (test_version == SL_MOQ_LITE_05) {
			/* lite-05's OK carries only the first group and END closes the list: the
			 * DROPs are what these tests look at. */
			struct sl_moq_response05 m5;
			assert_int_equal(sl_moq_decode_response05(&r, &m5, NULL), 0);
			if (m5.type == SL_MOQ_RESPONSE05_END)
				continue;
			memset(&out[n], 0, sizeof(out[n]));
			out[n].type = m5.type == SL_MOQ_RESPONSE05_OK ? SL_MOQ_RESPONSE_OK
								      : SL_MOQ_RESPONSE_DROP;
			if (m5.type == SL_MOQ_RESPONSE05_DROP)
				out[n].u.drop = m5.u.drop;
			n++;
			continue;
		}
		assert_int_equal(sl_moq_decode_response(&r, &out[n], NULL), 0);
		n++;
	}
	assert_int_equal(sl_reader_left(&r), 0);
	return n;
}

static void expect_drop(const struct sl_moq_response *m, uint64_t start, uint64_t end,
			uint64_t code)
{
	assert_int_equal(m->type, SL_MOQ_RESPONSE_DROP);
	assert_int_equal(m->u.drop.start, start);
	assert_int_equal(m->u.drop.end, end);
	assert_int_equal(m->u.drop.error, code);
}

/* Resets of group (uni) streams that end e sent with code. */
static int group_resets(const struct end *e, uint64_t code)
{
	int n = 0;
	for (int i = 0; i < e->nresets; i++)
		if ((e->resets[i].id & 2) && e->resets[i].code == code)
			n++;
	return n;
}

/* Reads the next group, which must be seq and fail with err. */
static void expect_failed_group(struct sl_track_consumer *c, uint64_t seq, int err)
{
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(c, NULL, &r), 0);
	assert_int_equal(sl_group_sequence(r.group), seq);
	struct sl_slice f;
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), err);
	sl_group_reader_release(&r);
}

/* Creates group seq at the publisher with one frame; finished unless open. */
static struct sl_group *create_group(struct sl_track *t, uint64_t now, uint64_t seq, bool open)
{
	struct sl_group *g;
	assert_int_equal(sl_track_create_group(t, seq, now, &g), 0);
	assert_int_equal(sl_group_write_frame(g, frame_of(seq, 0, 0)), 0);
	if (!open)
		assert_int_equal(sl_group_finish(g), 0);
	return g;
}

/* ---- tests ---- */

/* The wire reference's example: JS defaults (zeros after priority) with priority 1. */
static void golden_subscribe_bytes(void **state)
{
	(void)state;
	struct end a, b;
	end_init(&a, &b, false);
	end_init(&b, &a, true);
	a.capture_id = 0;
	struct sl_moq_session *s = sl_moq_session_new(NULL, &ops, &a, NULL);
	assert_non_null(s);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.priority = 1;
	struct sl_track_consumer c;
	uint64_t id = 99;
	assert_int_equal(sl_moq_session_subscribe(s, "demo", "clock", &o, &id, &c), 0);
	assert_int_equal(id, 0);
	static const uint8_t golden[] = {0x02, 0x11, 0x00, 0x04, 'd',  'e',  'm',  'o',	 0x05, 'c',
					 'l',  'o',  'c',  'k',	 0x01, 0x00, 0x00, 0x00, 0x00};
	assert_int_equal(a.ncapture, sizeof(golden));
	assert_memory_equal(a.capture, golden, sizeof(golden));
	assert_int_equal(stats(s).msgs_out[SL_MOQ_MSG_SUBSCRIBE], 1);
	sl_track_consumer_release(&c, NULL);
	sl_moq_session_free(s);
	end_fini(&a);
	end_fini(&b);
}

static void announce_propagation(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	assert_non_null(sl_origin_find(w->origin, "demo"));
	assert_int_equal(relay_stats(w).broadcasts_announced, 1);

	struct link *s1 = link_new(w), *s2 = link_new(w);
	assert_int_equal(sl_moq_session_announce_interest(s1->c.s, ""), 0);
	assert_int_equal(sl_moq_session_announce_interest(s2->c.s, "other"), 0);
	pump(w);
	struct sl_moq_announcement ev;
	assert_int_equal(sl_moq_session_next_announce(s1->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "demo");
	assert_true(ev.active);
	assert_int_equal(sl_moq_session_next_announce(s1->c.s, NULL, &ev), SL_EAGAIN);
	assert_int_equal(sl_moq_session_next_announce(s2->c.s, NULL, &ev), SL_EAGAIN);

	/* A change after the initial set: a second broadcast, then the first one ends. */
	struct sl_broadcast *b2;
	assert_int_equal(sl_origin_publish(p.o, "other/cam", &b2), 0);
	assert_int_equal(sl_moq_session_publish(p.l->c.s, "other/cam", b2), 0);
	pump(w);
	assert_int_equal(sl_moq_session_next_announce(s1->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "other/cam");
	assert_int_equal(sl_moq_session_next_announce(s2->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "other/cam");
	assert_true(ev.active);
	assert_int_equal(sl_moq_session_unpublish(p.l->c.s, "demo"), 0);
	pump(w);
	assert_int_equal(sl_moq_session_next_announce(s1->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "demo");
	assert_false(ev.active);
	assert_null(sl_origin_find(w->origin, "demo"));
	assert_int_equal(sl_moq_session_next_announce(s2->c.s, NULL, &ev), SL_EAGAIN);
	assert_int_equal(stats(s1->r.s).msgs_out[SL_MOQ_MSG_ANNOUNCE], 3);
	sl_broadcast_unref(b2);
	world_free(w);
	publisher_free(&p);
}

#define FANOUT 50

static void fanout_to_50_subscribers_shares_one_upstream(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *subs[FANOUT];
	struct sl_track_consumer cons[FANOUT];
	for (int i = 0; i < FANOUT; i++) {
		subs[i] = link_new(w);
		subscribe(w, subs[i], "demo", "clock", NULL, NULL, &cons[i]);
		/* lite-05's OK names the first group: it waits for one. */
		assert_int_equal(stats(subs[i]->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK],
				 test_version == SL_MOQ_LITE_04);
		assert_int_equal(stats(subs[i]->r.s).subscribes_active, 1);
	}
	/* Identical subscriptions share one upstream SUBSCRIBE. */
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	assert_int_equal(relay_stats(w).upstream_subscribes, 1);
	assert_int_equal(relay_stats(w).shared_subscribes, FANOUT - 1);

	for (int g = 0; g < 5; g++) {
		write_group(p.t, w->now, 3);
		pump(w);
	}
	for (int i = 0; i < FANOUT; i++) {
		for (uint64_t g = 0; g < 5; g++)
			expect_group(&cons[i], g, 3);
		expect_no_group(&cons[i]);
		assert_int_equal(stats(subs[i]->r.s).groups_sent, 5);
		sl_track_consumer_release(&cons[i], NULL);
	}
	assert_int_equal(stats(p.l->c.s).groups_sent, 5);
	world_free(w);
	publisher_free(&p);
}

static void late_joiner_starts_at_latest_cached_group(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_track_consumer ca, cb;
	subscribe(w, a, "demo", "clock", NULL, NULL, &ca);
	for (int g = 0; g < 4; g++) {
		write_group(p.t, w->now, 2);
		pump(w);
	}
	subscribe(w, b, "demo", "clock", NULL, NULL, &cb);
	expect_group(&cb, 3, 2); /* the latest cached group, from its first frame */
	expect_no_group(&cb);
	write_group(p.t, w->now, 2);
	pump(w);
	expect_group(&cb, 4, 2);
	for (uint64_t g = 0; g < 5; g++)
		expect_group(&ca, g, 2);
	/* The late joiner was served from the relay's cache: still one upstream. */
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

static void last_unsubscribe_cancels_upstream(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *l[3];
	struct sl_track_consumer c[3];
	uint64_t id[3];
	for (int i = 0; i < 3; i++) {
		l[i] = link_new(w);
		subscribe(w, l[i], "demo", "clock", NULL, &id[i], &c[i]);
	}
	assert_int_equal(stats(p.l->c.s).subscribes_active, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sl_moq_session_unsubscribe(l[i]->c.s, id[i]), 0);
		pump(w);
		assert_int_equal(stats(l[i]->r.s).subscribes_active, 0);
		assert_int_equal(stats(p.l->c.s).subscribes_active, 1);
	}
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&c[0], NULL, &r), SL_ECANCEL);
	assert_int_equal(relay_stats(w).upstream_cancels, 0);
	assert_int_equal(sl_moq_session_unsubscribe(l[2]->c.s, id[2]), 0);
	assert_int_equal(sl_moq_session_unsubscribe(l[2]->c.s, id[2]), SL_ENOTFOUND);
	pump(w);
	assert_int_equal(relay_stats(w).upstream_cancels, 1);
	assert_int_equal(relay_stats(w).upstreams_active, 0);
	assert_int_equal(stats(p.l->c.s).subscribes_active, 0);
	assert_int_equal(stats(p.l->r.s).upstreams_active, 0);
	/* Groups written now go nowhere; a new subscriber starts a fresh upstream. */
	write_group(p.t, w->now, 1);
	pump(w);
	assert_int_equal(stats(p.l->c.s).groups_sent, 0);
	struct sl_track_consumer c2;
	subscribe(w, l[0], "demo", "clock", NULL, NULL, &c2);
	assert_int_equal(relay_stats(w).upstream_subscribes, 2);
	expect_group(&c2, 0, 1); /* the publisher's latest */
	write_group(p.t, w->now, 1);
	pump(w);
	expect_group(&c2, 1, 1);
	for (int i = 0; i < 3; i++)
		sl_track_consumer_release(&c[i], NULL);
	sl_track_consumer_release(&c2, NULL);
	world_free(w);
	publisher_free(&p);
}

static void publisher_disconnect_ends_tracks_cleanly(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *s[3];
	struct sl_track_consumer c[3];
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.ordered = true;
	for (int i = 0; i < 3; i++) {
		s[i] = link_new(w);
		subscribe(w, s[i], "demo", "clock", &o, NULL, &c[i]);
	}
	assert_int_equal(sl_moq_session_announce_interest(s[0]->c.s, ""), 0);
	pump(w);
	struct sl_moq_announcement ev;
	assert_int_equal(sl_moq_session_next_announce(s[0]->c.s, NULL, &ev), 0);
	assert_true(ev.active);
	write_group(p.t, w->now, 2);
	struct sl_group *open = write_group_ex(p.t, w->now, 1, 0, true);
	pump(w);
	sl_moq_session_close(p.l->c.s, 0, "bye");
	pump(w);
	assert_true(sl_moq_session_is_closed(p.l->r.s, NULL));
	for (int i = 0; i < 3; i++) {
		expect_group(&c[i], 0, 2);
		/* The group in flight is incomplete: its stream was reset. */
		struct sl_group_reader r;
		assert_int_equal(sl_track_consumer_next_group(&c[i], NULL, &r), 0);
		assert_int_equal(sl_group_sequence(r.group), 1);
		struct sl_slice f;
		assert_true(sl_group_read_frame(&r, NULL, &f) < 0 &&
			    sl_group_read_frame(&r, NULL, &f) != SL_EAGAIN);
		sl_group_reader_release(&r);
		/* Then the track ends cleanly. */
		assert_int_equal(sl_track_consumer_next_group(&c[i], NULL, &r), SL_EEOF);
		assert_int_equal(sl_track_consumer_closed(&c[i], NULL), 0);
		assert_int_equal(stats(s[i]->r.s).subscribes_active, 0);
		sl_track_consumer_release(&c[i], NULL);
	}
	assert_int_equal(sl_moq_session_next_announce(s[0]->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "demo");
	assert_false(ev.active);
	assert_int_equal(sl_origin_broadcasts(w->origin), 0);
	assert_int_equal(relay_stats(w).upstreams_active, 0);
	sl_group_unref(open);
	world_free(w);
	publisher_free(&p);
}

/* Arrival order of groups at a client is its local track's arrival order. */
static void unordered_subscriber_gets_newest_first(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.ordered = false;
	struct sl_track_consumer ca, cb;
	subscribe(w, a, "demo", "clock", &o, NULL, &ca);
	o.ordered = true;
	subscribe(w, b, "demo", "clock", &o, NULL, &cb);
	write_group(p.t, w->now, 1);
	pump(w);
	for (int i = 0; i < 3; i++)
		write_group(p.t, w->now, 2); /* all three ready before the relay runs */
	pump(w);
	expect_group(&ca, 0, 1);
	expect_group(&ca, 3, 2);
	expect_group(&ca, 2, 2);
	expect_group(&ca, 1, 2);
	expect_group(&cb, 0, 1);
	expect_group(&cb, 1, 2);
	expect_group(&cb, 2, 2);
	expect_group(&cb, 3, 2);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

/* Group streams carry the send order moq-lite intends: subscriber priority first, then the
 * publisher's, then oldest (ordered) or newest (unordered) first. */
static void group_streams_get_their_send_order(void **state)
{
	(void)state;
	/* Higher subscriber priority first, whatever the rest. */
	assert_true(sl_moq_group_order(200, 0, false, 0) < sl_moq_group_order(10, 255, true, 0));
	/* Publisher priority breaks ties. */
	assert_true(sl_moq_group_order(5, 9, true, 100) < sl_moq_group_order(5, 8, true, 1));
	/* Ordered: oldest first; unordered: newest first; huge sequences do not wrap. */
	assert_true(sl_moq_group_order(5, 5, true, 3) < sl_moq_group_order(5, 5, true, 4));
	assert_true(sl_moq_group_order(5, 5, false, 4) < sl_moq_group_order(5, 5, false, 3));
	assert_true(sl_moq_group_order(5, 5, false, UINT64_MAX) <=
		    sl_moq_group_order(5, 5, false, UINT64_C(1) << 50));
	assert_true(sl_moq_group_order(5, 0, true, UINT64_MAX) <
		    sl_moq_group_order(4, 255, true, 0));

	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.priority = 10;
	o.ordered = false;
	struct sl_track_consumer ca, cb;
	subscribe(w, a, "demo", "clock", &o, NULL, &ca);
	o.priority = 200;
	o.ordered = true;
	subscribe(w, b, "demo", "clock", &o, NULL, &cb);
	for (int i = 0; i < 3; i++)
		write_group(p.t, w->now, 1);
	pump(w);
	struct link *ls[2] = {a, b};
	uint8_t prio[2] = {10, 200};
	bool ordered[2] = {false, true};
	for (int k = 0; k < 2; k++) {
		struct end *e = &ls[k]->r;
		/* lite-05's Setup stream is the relay's first uni stream. */
		int64_t first = test_version == SL_MOQ_LITE_05;
		assert_int_equal(e->nuni, 3 + first);
		uint64_t seen = 0, prev = 0;
		for (int64_t n = 0; n + first < e->nuni; n++) {
			uint64_t v = 0;
			assert_true(sl_u64map_get(&e->orders,
						  (uint64_t)(((n + first) << 2) | 2 | 1), &v));
			/* The relay's track carries the first requester's priority. */
			uint8_t pub = (uint8_t)(255 - ((v >> 48) & 0xff));
			uint64_t g = 0;
			while (g < 3 && sl_moq_group_order(prio[k], pub, ordered[k], g) != v)
				g++;
			assert_true(g < 3);
			seen |= UINT64_C(1) << g;
			/* Streams were opened in send order: oldest first when ordered, newest
			 * first when not. */
			assert_true(n == 0 || v > prev);
			assert_int_equal(g, ordered[k] ? (uint64_t)n : (uint64_t)(2 - n));
			prev = v;
		}
		assert_int_equal(seen, 7);
	}
	/* Control streams keep the default (first): no order was set on them. */
	for (int64_t n = 0; n < 4; n++)
		assert_false(sl_u64map_get(&a->r.orders, (uint64_t)(n << 2), NULL));
	/* The track ends: each Subscribe stream's end goes after every group still queued. */
	assert_int_equal(sl_track_finish(p.t), 0);
	pump(w);
	for (int k = 0; k < 2; k++) {
		bool last = false;
		for (int64_t n = 0; n < 4; n++) {
			uint64_t v = 0;
			if (sl_u64map_get(&ls[k]->r.orders, (uint64_t)(n << 2), &v))
				last |= v == UINT64_MAX;
		}
		assert_true(last);
	}
	for (uint64_t g = 0; g < 3; g++)
		expect_group(&cb, g, 1);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

static void max_latency_resets_old_groups(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.max_latency_ms = 100;
	struct sl_track_consumer ca, cb;
	subscribe(w, a, "demo", "clock", &o, NULL, &ca);
	subscribe(w, b, "demo", "clock", NULL, NULL, &cb);
	struct sl_group *g0 = write_group_ex(p.t, w->now, 1, 0, true);
	pump(w);
	w->now += 50 * MS;
	write_group(p.t, w->now, 1); /* within 100 ms: group 0 stays */
	pump(w);
	assert_int_equal(stats(a->r.s).groups_late, 0);
	w->now += 200 * MS;
	write_group(p.t, w->now, 1); /* group 0 is now 250 ms older than the newest */
	pump(w);
	assert_int_equal(stats(a->r.s).groups_late, 1);
	assert_int_equal(stats(a->r.s).groups_reset, 1);
	assert_int_equal(stats(b->r.s).groups_late, 0);
	/* send_drops is off by default: the reset alone, as Rust 0.15 needs. */
	assert_int_equal(stats(a->r.s).msgs_out[SL_MOQ_MSG_SUBSCRIBE_DROP], 0);
	assert_int_equal(stats(a->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_DROP], 0);
	assert_int_equal(sl_group_write_frame(g0, frame_of(0, 1, 0)), 0);
	assert_int_equal(sl_group_finish(g0), 0);
	pump(w);
	/* a: group 0 was reset (its reader fails), 1 and 2 arrive whole. */
	struct sl_group_reader r;
	struct sl_slice f;
	assert_int_equal(sl_track_consumer_next_group(&ca, NULL, &r), 0);
	assert_int_equal(sl_group_sequence(r.group), 0);
	assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_ETIMEDOUT);
	sl_group_reader_release(&r);
	expect_group(&ca, 1, 1);
	expect_group(&ca, 2, 1);
	/* b has no latency bound: everything, complete. */
	expect_group(&cb, 0, 2);
	expect_group(&cb, 1, 1);
	expect_group(&cb, 2, 1);
	sl_group_unref(g0);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

static void slow_subscriber_loses_old_groups_others_unaffected(void **state)
{
	(void)state;
	struct world *w = world_new();
	const uint64_t budget = 64 * 1024;
	const size_t fsize = 16 * 1024;
	w->relay_cfg.max_inflight_bytes = budget;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *slow = link_new(w), *fast[2];
	struct sl_track_consumer cs, cf[2];
	subscribe(w, slow, "demo", "clock", NULL, NULL, &cs);
	for (int i = 0; i < 2; i++) {
		fast[i] = link_new(w);
		subscribe(w, fast[i], "demo", "clock", NULL, NULL, &cf[i]);
	}
	slow->r.stalled = true; /* the slow client stops reading: nothing is acknowledged */
	uint64_t peak = 0;
	for (int g = 0; g < 20; g++) {
		struct sl_group *gr = write_group_ex(p.t, w->now, 1, fsize, false);
		sl_group_unref(gr);
		pump(w);
		uint64_t u = total_unacked(&slow->r);
		if (u > peak)
			peak = u;
	}
	/* In flight stays within the budget plus the newest group. */
	assert_true(peak <= budget + fsize + 64);
	assert_true(stats(slow->r.s).groups_lagged >= 15);
	for (int i = 0; i < 2; i++) {
		for (uint64_t g = 0; g < 20; g++) {
			struct sl_group_reader r;
			assert_int_equal(sl_track_consumer_next_group(&cf[i], NULL, &r), 0);
			assert_int_equal(sl_group_sequence(r.group), g);
			struct sl_slice f;
			assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
			assert_int_equal(f.len, fsize);
			assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EEOF);
			sl_group_reader_release(&r);
		}
		assert_int_equal(stats(fast[i]->r.s).groups_lagged, 0);
		sl_track_consumer_release(&cf[i], NULL);
	}
	/* The slow client resumes: it gets the recent groups, whole, and nothing older. */
	slow->r.stalled = false;
	pump(w);
	int got = 0;
	uint64_t last = 0;
	struct sl_group_reader r;
	while (sl_track_consumer_next_group(&cs, NULL, &r) == 0) {
		struct sl_slice f;
		assert_true(got == 0 || sl_group_sequence(r.group) > last);
		last = sl_group_sequence(r.group);
		assert_int_equal(sl_group_read_frame(&r, NULL, &f), 0);
		assert_int_equal(f.len, fsize);
		sl_group_reader_release(&r);
		got++;
	}
	assert_true(got >= 1 && got <= 5);
	assert_int_equal(last, 19);
	sl_track_consumer_release(&cs, NULL);
	world_free(w);
	publisher_free(&p);
}

/* The in-flight budget is counted down by the transport's acknowledgements, not polled: a
 * subscriber that receives everything but whose transport never reports an ack is treated as
 * one that does not acknowledge (it loses old groups), one whose acks arrive loses nothing, and
 * a group stream the transport closed no longer counts. */
static void acks_from_the_transport_free_the_in_flight_budget(void **state)
{
	(void)state;
	struct world *w = world_new();
	const uint64_t budget = 64 * 1024;
	const size_t fsize = 16 * 1024;
	w->relay_cfg.max_inflight_bytes = budget;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *acked = link_new(w), *lost = link_new(w), *closed = link_new(w);
	struct sl_track_consumer ca, cl, cc;
	subscribe(w, acked, "demo", "clock", NULL, NULL, &ca);
	subscribe(w, lost, "demo", "clock", NULL, NULL, &cl);
	subscribe(w, closed, "demo", "clock", NULL, NULL, &cc);
	lost->r.acks_lost = true;
	closed->r.acks_lost = true;
	for (int g = 0; g < 20; g++) {
		struct sl_group *gr = write_group_ex(p.t, w->now, 1, fsize, false);
		sl_group_unref(gr);
		pump(w);
		/* closed: its transport reports no acks, but closes each group stream once the
		 * group is through (as QUIC does when the peer acknowledged the fin). */
		for (size_t i = 0; i <= closed->r.streams.mask; i++) {
			if (!closed->r.streams.slots[i].used)
				continue;
			struct tstream *ts =
				(struct tstream *)(uintptr_t)closed->r.streams.slots[i].val;
			if ((ts->id & 2) && ts->user && ts->unacked == 0) {
				struct sl_moq_stream *u = ts->user;
				ts->user = NULL;
				ts->closed = true;
				sl_moq_session_stream_closed(closed->r.s, u);
			}
		}
	}
	/* Everything was delivered to all three... */
	assert_int_equal(total_unacked(&acked->r), 0);
	assert_int_equal(total_unacked(&lost->r), 0);
	/* ...but only the subscriber whose acks never came went over the budget. */
	assert_int_equal(stats(acked->r.s).groups_lagged, 0);
	assert_int_equal(stats(closed->r.s).groups_lagged, 0);
	assert_true(stats(lost->r.s).groups_lagged >= 14);
	for (uint64_t g = 0; g < 20; g++) {
		expect_group(&ca, g, 1);
		expect_group(&cc, g, 1);
	}
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cl, NULL);
	sl_track_consumer_release(&cc, NULL);
	world_free(w);
	publisher_free(&p);
}

/* ---- raw peers: bytes injected straight into a relay session ---- */

struct raw {
	struct world *w;
	struct end c, r;
	struct sl_moq_session *s;
	struct sl_broadcast *b;
	struct sl_track *t;
};

static void raw_new(struct raw *x)
{
	memset(x, 0, sizeof(*x));
	x->w = world_new();
	end_init(&x->c, &x->r, false);
	end_init(&x->r, &x->c, true);
	x->w->relay_cfg.publish_prefix = NULL;
	x->s = sl_moq_session_new(&x->w->relay_cfg, &ops, &x->r, x->w->relay);
	assert_non_null(x->s);
	x->r.s = x->s;
	/* A broadcast published into the relay's origin by the shard itself. */
	assert_int_equal(sl_origin_publish(x->w->origin, "demo", &x->b), 0);
	assert_int_equal(sl_broadcast_create_track(x->b, "clock", 0, &x->t), 0);
}

static void raw_free(struct raw *x)
{
	sl_moq_session_free(x->s);
	end_fini(&x->c);
	end_fini(&x->r);
	sl_track_unref(x->t);
	sl_broadcast_unref(x->b);
	world_free(x->w);
}

/* Bytes from the raw peer on its stream id (opened on first use, as QUIC would). */
static int raw_data(struct raw *x, int64_t id, const uint8_t *p, size_t n, bool fin)
{
	return sl_moq_session_stream_data(x->s, ts_peer(&x->r, id)->user, p, n, fin);
}

static void raw_send(struct raw *x, int64_t id, const uint8_t *p, size_t n, bool fin)
{
	raw_data(x, id, p, n, fin);
	sl_moq_session_poll(x->s, x->w->now);
}

static const uint8_t sub_demo_clock[] = {0x02, 0x11, 0x07, 0x04, 'd',  'e',  'm',  'o',	 0x05, 'c',
					 'l',  'o',  'c',  'k',	 0x01, 0x00, 0x00, 0x00, 0x00};

static void malformed_messages_reset_with_the_right_code(void **state)
{
	(void)state;
	struct raw x;
	raw_new(&x);
	uint64_t code;
	/* ordered = 2 in a SUBSCRIBE: decode error on that stream only. */
	uint8_t bad[sizeof(sub_demo_clock)];
	memcpy(bad, sub_demo_clock, sizeof(bad));
	bad[15] = 2;
	raw_send(&x, 0, bad, sizeof(bad), false);
	assert_true(was_reset(&x.r, 0, &code));
	assert_int_equal(code, SL_MOQ_ERR_DECODE);
	assert_int_equal(stats(x.s).decode_errors, 1);
	assert_int_equal(stats(x.s).resets_out, 1);
	assert_false(sl_moq_session_is_closed(x.s, NULL));
	/* A message length over the limit: bounds. */
	static const uint8_t huge[] = {0x02, 0x80, 0x01, 0x00, 0x00};
	raw_send(&x, 4, huge, sizeof(huge), false);
	assert_true(was_reset(&x.r, 4, &code));
	assert_int_equal(code, SL_MOQ_ERR_BOUNDS);
	/* An unknown broadcast: not found. */
	uint8_t nf[sizeof(sub_demo_clock)];
	memcpy(nf, sub_demo_clock, sizeof(nf));
	nf[4] = 'x';
	raw_send(&x, 8, nf, sizeof(nf), false);
	assert_true(was_reset(&x.r, 8, &code));
	assert_int_equal(code, SL_MOQ_ERR_NOT_FOUND);
	/* A frame larger than the limit on a group stream (uni, client-initiated: id 2). */
	static const uint8_t grp[] = {0x00, 0x02, 0x00, 0x00, 0xbf, 0xff, 0xff, 0xff};
	raw_send(&x, 2, grp, sizeof(grp), false);
	assert_true(was_reset(&x.r, 2, &code));
	assert_int_equal(code, SL_MOQ_ERR_CANCEL); /* no such subscription: refused first */
	assert_int_equal(stats(x.s).groups_in_dropped, 1);
	/* A valid SUBSCRIBE works on the same session... */
	raw_send(&x, 12, sub_demo_clock, sizeof(sub_demo_clock), false);
	assert_false(was_reset(&x.r, 12, NULL));
	assert_int_equal(stats(x.s).subscribes_active, 1);
	/* ...and a second one with the same id closes the session: duplicate. */
	raw_send(&x, 16, sub_demo_clock, sizeof(sub_demo_clock), false);
	assert_true(sl_moq_session_is_closed(x.s, &code));
	assert_int_equal(code, SL_MOQ_ERR_DUPLICATE);
	assert_true(x.r.closed);
	assert_int_equal(x.r.close_code, SL_MOQ_ERR_DUPLICATE);
	assert_int_equal(stats(x.s).protocol_errors, 1);
	assert_int_equal(stats(x.s).subscribes_active, 0);
	assert_int_equal(raw_data(&x, 20, sub_demo_clock, 3, false), SL_ECLOSED);
	raw_free(&x);
}

static void frame_over_limit_and_truncated_group(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.max_frame_bytes = 1000;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_track_consumer c;
	subscribe(w, a, "demo", "clock", NULL, NULL, &c);
	/* The relay refuses a 2000-byte frame from the publisher: bounds, group aborted. */
	struct sl_group *g = write_group_ex(p.t, w->now, 1, 2000, false);
	sl_group_unref(g);
	pump(w);
	uint64_t code = 0;
	bool found = false;
	for (int i = 0; i < p.l->r.nresets; i++)
		if (p.l->r.resets[i].id & 2) {
			found = true;
			code = p.l->r.resets[i].code;
		}
	assert_true(found);
	assert_int_equal(code, SL_MOQ_ERR_BOUNDS);
	assert_int_equal(stats(p.l->r.s).decode_errors, 1);
	assert_false(sl_moq_session_is_closed(p.l->r.s, NULL));
	/* Smaller frames still flow. */
	write_group(p.t, w->now, 2);
	pump(w);
	struct sl_group_reader r;
	int rc;
	while ((rc = sl_track_consumer_next_group(&c, NULL, &r)) == 0 &&
	       sl_group_sequence(r.group) != 1)
		sl_group_reader_release(&r);
	assert_int_equal(rc, 0);
	sl_group_reader_release(&r);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

static void unknown_stream_types_reset_only_that_stream(void **state)
{
	(void)state;
	struct raw x;
	raw_new(&x);
	uint64_t code;
	static const uint8_t bidi9[] = {0x09, 0x01, 0x02};
	raw_send(&x, 0, bidi9, sizeof(bidi9), false);
	assert_true(was_reset(&x.r, 0, &code));
	assert_int_equal(code, SL_MOQ_ERR_UNEXPECTED_STREAM);
	static const uint8_t uni7[] = {0x07};
	raw_send(&x, 2, uni7, sizeof(uni7), false);
	assert_true(was_reset(&x.r, 2, &code));
	assert_int_equal(code, SL_MOQ_ERR_UNEXPECTED_STREAM);
	assert_int_equal(stats(x.s).unknown_streams, 2);
	/* More bytes on the reset stream are ignored; the session still answers. */
	raw_send(&x, 0, bidi9, sizeof(bidi9), true);
	assert_false(sl_moq_session_is_closed(x.s, NULL));
	static const uint8_t interest[] = {0x01, 0x02, 0x00, 0x00};
	x.r.capture_id = 4;
	raw_send(&x, 4, interest, sizeof(interest), false);
	assert_false(was_reset(&x.r, 4, NULL));
	/* ANNOUNCE active "demo", no hops. */
	static const uint8_t ann[] = {0x07, 0x01, 0x04, 'd', 'e', 'm', 'o', 0x00};
	assert_int_equal(x.r.ncapture, sizeof(ann));
	assert_memory_equal(x.r.capture, ann, sizeof(ann));
	raw_free(&x);
}

static void probe_stream_is_never_reset(void **state)
{
	(void)state;
	struct raw x;
	raw_new(&x);
	/* A probe stream, a few bytes (nothing is expected from the opener), then FIN. */
	static const uint8_t probe[] = {0x04, 0x02, 0x80, 0x00, 0xff};
	raw_send(&x, 0, probe, 1, false);
	raw_send(&x, 0, probe + 1, sizeof(probe) - 1, false);
	assert_false(was_reset(&x.r, 0, NULL));
	raw_send(&x, 0, NULL, 0, true);
	assert_false(was_reset(&x.r, 0, NULL));
	assert_int_equal(x.r.nresets, 0);
	/* The session finished its side in return. */
	assert_non_null(x.r.tail);
	assert_int_equal(x.r.tail->id, 0);
	assert_true(x.r.tail->fin);
	/* A peer's reset of a probe stream is not answered with a reset either. */
	raw_send(&x, 4, probe, 1, false);
	sl_moq_session_stream_reset(x.s, ts_find(&x.r, 4)->user, 0);
	assert_int_equal(x.r.nresets, 0);
	raw_free(&x);
}

static void fetch_one_cached_group(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *f = link_new(w);
	struct sl_track_consumer c;
	subscribe(w, a, "demo", "clock", NULL, NULL, &c);
	for (int g = 0; g < 3; g++) {
		write_group(p.t, w->now, 3);
		pump(w);
	}
	struct sl_group_reader r;
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 1, &r), 0);
	pump(w);
	assert_int_equal(sl_group_sequence(r.group), 1);
	for (uint32_t i = 0; i < 3; i++) {
		struct sl_slice fr;
		assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
		char want[16];
		int k = snprintf(want, sizeof(want), "g1 f%u", i);
		assert_memory_equal(sl_slice_data(&fr), want, (size_t)k);
	}
	struct sl_slice fr;
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_EEOF);
	sl_group_reader_release(&r);
	assert_int_equal(stats(f->r.s).fetches_served, 1);
	assert_int_equal(stats(f->r.s).msgs_in[SL_MOQ_MSG_FETCH], 1);
	/* A group that is not cached: not found. */
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 99, &r), 0);
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_ENOTFOUND);
	sl_group_reader_release(&r);
	assert_int_equal(f->r.nresets, 1);
	assert_int_equal(f->r.resets[0].code, SL_MOQ_ERR_NOT_FOUND);
	/* The relay asked the publisher first. */
	assert_int_equal(relay_stats(w).upstream_fetches, 1);
	assert_int_equal(p.l->c.nresets, 1);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

static void goaway_is_delivered_and_closed_cleanly(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct link *l = link_new(w);
	pump(w);
	assert_null(sl_moq_session_goaway_uri(l->c.s));
	assert_int_equal(sl_moq_session_goaway(l->r.s, "https://other.example/"), 0);
	pump(w);
	assert_string_equal(sl_moq_session_goaway_uri(l->c.s), "https://other.example/");
	assert_int_equal(stats(l->c.s).msgs_in[SL_MOQ_MSG_GOAWAY], 1);
	assert_int_equal(stats(l->r.s).msgs_out[SL_MOQ_MSG_GOAWAY], 1);
	assert_int_equal(l->c.nresets + l->r.nresets, 0);
	assert_false(sl_moq_session_is_closed(l->c.s, NULL));
	/* Then the relay closes the connection cleanly. */
	sl_moq_session_close(l->r.s, 0, "shutdown");
	pump(w);
	uint64_t code = 99;
	assert_true(sl_moq_session_is_closed(l->c.s, &code));
	assert_true(sl_moq_session_is_closed(l->r.s, &code));
	assert_int_equal(code, 0);
	world_free(w);
}

static void subscribe_to_missing_track_fails_not_found(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_track_consumer c1, c2;
	subscribe(w, a, "nope", "clock", NULL, NULL, &c1);
	subscribe(w, a, "demo", "nope", NULL, NULL, &c2);
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&c1, NULL, &r), SL_ENOTFOUND);
	/* The relay asked the publisher, which has no such track. */
	assert_int_equal(sl_track_consumer_next_group(&c2, NULL, &r), SL_ENOTFOUND);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	assert_int_equal(relay_stats(w).upstreams_active, 0);
	sl_track_consumer_release(&c1, NULL);
	sl_track_consumer_release(&c2, NULL);
	world_free(w);
	publisher_free(&p);
}

/* ---- authorisation (the owner's hook: what a connection's token grants) ---- */

static bool under_ok(const char *path)
{
	return strcmp(path, "ok") == 0 || strncmp(path, "ok/", 3) == 0;
}

/* A grant of publish and subscribe under "ok": the whole tree may be asked for announcements,
 * since "ok" lies under it. */
static bool ok_only(void *arg, enum sl_moq_auth_op op, const char *path)
{
	int *calls = arg;
	(*calls)++;
	if (op == SL_MOQ_AUTH_ANNOUNCE)
		return path[0] == '\0' || under_ok(path);
	return under_ok(path);
}

static void grant_limits_announce_subscribe_and_interest(void **state)
{
	(void)state;
	struct world *w = world_new();
	/* A publisher without a hook puts "secret" into the origin. */
	struct publisher sec;
	publisher_new(w, &sec, "secret");
	int calls = 0;
	w->relay_cfg.authorize = ok_only;
	w->relay_cfg.auth_arg = &calls;

	/* Announcements outside the publish grant are not published; the others are. */
	struct publisher p;
	publisher_new(w, &p, "ok/cam");
	struct sl_broadcast *bad;
	assert_int_equal(sl_origin_publish(p.o, "bad/cam", &bad), 0);
	assert_int_equal(sl_moq_session_publish(p.l->c.s, "bad/cam", bad), 0);
	pump(w);
	assert_non_null(sl_origin_find(w->origin, "ok/cam"));
	assert_null(sl_origin_find(w->origin, "bad/cam"));
	assert_int_equal(stats(p.l->r.s).auth_refused, 1);
	assert_false(sl_moq_session_is_closed(p.l->r.s, NULL));

	/* A subscriber sees only what it may subscribe to. */
	struct link *a = link_new(w);
	assert_int_equal(sl_moq_session_announce_interest(a->c.s, ""), 0);
	pump(w);
	struct sl_moq_announcement ev;
	assert_int_equal(sl_moq_session_next_announce(a->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "ok/cam");
	assert_int_equal(sl_moq_session_next_announce(a->c.s, NULL, &ev), SL_EAGAIN);
	/* An interest with nothing it may see is refused as a whole. */
	int64_t iid = next_bidi(&a->c);
	assert_int_equal(sl_moq_session_announce_interest(a->c.s, "secret"), 0);
	pump(w);
	uint64_t code = 0;
	assert_true(was_reset(&a->r, iid, &code));
	assert_int_equal(code, SL_MOQ_ERR_UNAUTHORIZED);

	/* Subscribing inside the grant works; outside it is reset, and never reaches the
	 * publisher. */
	struct sl_track_consumer c1, c2;
	subscribe(w, a, "ok/cam", "clock", NULL, NULL, &c1);
	int64_t sid = next_bidi(&a->c);
	subscribe(w, a, "secret", "clock", NULL, NULL, &c2);
	uint64_t seq = write_group(p.t, w->now, 3);
	pump(w);
	expect_group(&c1, seq, 3);
	struct sl_group_reader r;
	int rc = sl_track_consumer_next_group(&c2, NULL, &r);
	assert_true(rc < 0 && rc != SL_EAGAIN);
	assert_true(was_reset(&a->r, sid, &code));
	assert_int_equal(code, SL_MOQ_ERR_UNAUTHORIZED);
	assert_int_equal(stats(sec.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 0);
	assert_int_equal(stats(a->r.s).auth_refused, 3); /* secret, the interest, subscribe */
	assert_true(calls > 0);

	sl_track_consumer_release(&c1, NULL);
	sl_track_consumer_release(&c2, NULL);
	sl_broadcast_unref(bad);
	world_free(w);
	publisher_free(&p);
	publisher_free(&sec);
}

/* A relay session rooted at the connection's path (a WebSocket URL's): the peer's names are
 * below it, both ways, and other sessions see full paths. */
static void rooted_sessions_name_paths_below_their_root(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.root = "/demo/";
	struct publisher p;
	publisher_new(w, &p, "cam"); /* announced at the root: demo/cam */
	assert_non_null(sl_origin_find(w->origin, "demo/cam"));
	assert_null(sl_origin_find(w->origin, "cam"));
	struct link *in = link_new(w); /* rooted too */
	w->relay_cfg.root = NULL;
	struct link *out = link_new(w); /* at the origin's root */

	assert_int_equal(sl_moq_session_announce_interest(in->c.s, ""), 0);
	assert_int_equal(sl_moq_session_announce_interest(out->c.s, ""), 0);
	pump(w);
	struct sl_moq_announcement ev;
	assert_int_equal(sl_moq_session_next_announce(in->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "cam");
	assert_int_equal(sl_moq_session_next_announce(out->c.s, NULL, &ev), 0);
	assert_string_equal(ev.path, "demo/cam");

	/* Both subscribe; the relay's one upstream SUBSCRIBE names the publisher's "cam". */
	struct sl_track_consumer c1, c2;
	subscribe(w, in, "cam", "clock", NULL, NULL, &c1);
	subscribe(w, out, "demo/cam", "clock", NULL, NULL, &c2);
	uint64_t seq = write_group(p.t, w->now, 2);
	pump(w);
	expect_group(&c1, seq, 2);
	expect_group(&c2, seq, 2);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	/* A FETCH from the rooted side reaches the same cache. */
	struct sl_group_reader r;
	assert_int_equal(sl_moq_session_fetch(in->c.s, "cam", "clock", 0, seq, &r), 0);
	pump(w);
	struct sl_slice fr;
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
	assert_memory_equal(sl_slice_data(&fr), "g", 1);
	sl_group_reader_release(&r);
	assert_int_equal(stats(in->r.s).fetches_served, 1);
	sl_track_consumer_release(&c1, NULL);
	sl_track_consumer_release(&c2, NULL);
	world_free(w);
	publisher_free(&p);
}

/* The stream limit: opens that find it reached are retried on later polls. */
static void stream_limit_defers_upstream_subscribe(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	p.l->r.max_bidi = p.l->r.nbidi; /* the relay session may open no more bidi streams */
	struct link *a = link_new(w);
	struct sl_track_consumer c;
	subscribe(w, a, "demo", "clock", NULL, NULL, &c);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 0);
	p.l->r.max_bidi = 0;
	pump(w);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	write_group(p.t, w->now, 1);
	pump(w);
	expect_group(&c, 0, 1);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/* Every byte of a whole session exchange, delivered one byte at a time. */
static void one_byte_chunks(void **state)
{
	(void)state;
	one_byte = true;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_track_consumer c;
	subscribe(w, a, "demo", "clock", NULL, NULL, &c);
	for (int g = 0; g < 3; g++) {
		write_group(p.t, w->now, 4);
		pump(w);
	}
	for (uint64_t g = 0; g < 3; g++)
		expect_group(&c, g, 4);
	assert_int_equal(stats(a->c.s).decode_errors + stats(a->r.s).decode_errors, 0);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
	one_byte = false;
}

/*
 * SUBSCRIBE_UPDATE moves the start forward: the group in flight before it is reset with
 * cancel, groups before it that were not opened yet are never sent, and no DROP is written
 * for them (the subscriber asked). The update's start is "+1" on the wire.
 */
static void subscribe_update_start_moves_forward(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.send_drops = true;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.ordered = true;
	uint64_t id;
	struct sl_track_consumer c;
	a->c.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", &o, &id, &c);
	write_group(p.t, w->now, 1);
	pump(w);
	struct sl_group *g1 = write_group_ex(p.t, w->now, 1, 0, true); /* 1 stays in flight */
	pump(w);
	a->r.max_uni = a->r.nuni; /* the relay can open no more group streams to a */
	write_group(p.t, w->now, 1);
	write_group(p.t, w->now, 1);
	pump(w); /* 2 and 3 wait at the relay */
	o.has_start = true;
	o.start = 4;
	size_t before = a->c.ncapture;
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	/* Length 5: priority 0, ordered 1, max latency 0, start 4 + 1, end absent (0). */
	static const uint8_t upd[] = {0x05, 0x00, 0x01, 0x00, 0x05, 0x00};
	assert_int_equal(a->c.ncapture - before, sizeof(upd));
	assert_memory_equal(a->c.capture + before, upd, sizeof(upd));
	pump(w);
	assert_int_equal(stats(a->r.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_UPDATE], 1);
	assert_int_equal(group_resets(&a->r, SL_MOQ_ERR_CANCEL), 1);
	a->r.max_uni = 0;
	write_group(p.t, w->now, 1);
	write_group(p.t, w->now, 1);
	pump(w);
	expect_group(&c, 0, 1);
	expect_failed_group(&c, 1, SL_ECANCEL);
	expect_group(&c, 4, 1);
	expect_group(&c, 5, 1);
	expect_no_group(&c);
	assert_int_equal(stats(a->r.s).groups_sent, 3);
	assert_int_equal(stats(a->r.s).msgs_out[SL_MOQ_MSG_SUBSCRIBE_DROP], 0);
	/* A start below what was reached changes nothing (no replay). */
	o.start = 1;
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	pump(w);
	expect_no_group(&c);
	sl_group_unref(g1);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/*
 * SUBSCRIBE_UPDATE bounds a subscription: an end set and then lifted lets groups through; an
 * end that is reached finishes the Subscribe stream (a clean end of the subscriber's track)
 * and nothing past it is sent.
 */
static void subscribe_update_end_bounds_subscription(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	uint64_t id;
	struct sl_track_consumer c;
	a->c.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", &o, &id, &c);
	write_group(p.t, w->now, 1);
	pump(w);
	o.has_end = true;
	o.end = 1;
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	pump(w);
	o.has_end = false; /* lifted before it was reached */
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	pump(w);
	for (int i = 0; i < 3; i++) {
		write_group(p.t, w->now, 1);
		pump(w);
	}
	for (uint64_t g = 0; g < 4; g++)
		expect_group(&c, g, 1);
	assert_int_equal(sl_track_consumer_closed(&c, NULL), SL_EAGAIN);
	o.has_end = true;
	o.end = 4;
	size_t before = a->c.ncapture;
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	static const uint8_t upd[] = {0x05, 0x00, 0x00, 0x00, 0x00, 0x05}; /* end 4 + 1 */
	assert_memory_equal(a->c.capture + before, upd, sizeof(upd));
	pump(w);
	assert_int_equal(sl_track_consumer_closed(&c, NULL), SL_EAGAIN);
	write_group(p.t, w->now, 1); /* 4: the end */
	write_group(p.t, w->now, 1); /* 5: past it */
	pump(w);
	expect_group(&c, 4, 1);
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EEOF);
	assert_int_equal(sl_track_consumer_closed(&c, NULL), 0);
	assert_int_equal(stats(a->r.s).subscribes_active, 0);
	assert_int_equal(stats(a->r.s).groups_sent, 5);
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), SL_ENOTFOUND);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/* An end below the groups already sent finishes the subscription once the group in flight is
 * complete; groups arriving meanwhile are not sent. */
static void subscribe_update_end_below_sent_waits_for_in_flight(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	uint64_t id;
	struct sl_track_consumer c;
	subscribe(w, a, "demo", "clock", &o, &id, &c);
	write_group(p.t, w->now, 1);
	pump(w);
	write_group(p.t, w->now, 1);
	pump(w);
	struct sl_group *g2 = write_group_ex(p.t, w->now, 1, 0, true);
	pump(w);
	o.has_end = true;
	o.end = 0;
	assert_int_equal(sl_moq_session_subscribe_update(a->c.s, id, &o), 0);
	pump(w);
	/* Group 2 is still being written: the Subscribe stream stays open. */
	assert_int_equal(sl_track_consumer_closed(&c, NULL), SL_EAGAIN);
	assert_int_equal(stats(a->r.s).subscribes_active, 1);
	write_group(p.t, w->now, 1); /* 3: not sent */
	pump(w);
	assert_int_equal(sl_group_write_frame(g2, frame_of(2, 1, 0)), 0);
	assert_int_equal(sl_group_finish(g2), 0);
	pump(w);
	expect_group(&c, 0, 1);
	expect_group(&c, 1, 1);
	expect_group(&c, 2, 2);
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EEOF);
	assert_int_equal(stats(a->r.s).subscribes_active, 0);
	assert_int_equal(stats(a->r.s).groups_sent, 3);
	sl_group_unref(g2);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/* Expired groups are reset (code 2) and, with send_drops, reported by one coalesced DROP. */
static void drop_reports_late_groups_coalesced(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.send_drops = true;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.max_latency_ms = 100;
	o.ordered = true;
	struct sl_track_consumer c;
	a->r.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", &o, NULL, &c);
	struct sl_group *g[3];
	for (int i = 0; i < 3; i++)
		g[i] = write_group_ex(p.t, w->now, 1, 0, true);
	pump(w);
	w->now += 250 * MS;
	write_group(p.t, w->now, 1);
	pump(w);
	assert_int_equal(stats(a->r.s).groups_late, 3);
	assert_int_equal(group_resets(&a->r, SL_MOQ_ERR_OLD), 3); /* still reset, for Rust 0.15 */
	assert_int_equal(stats(a->r.s).msgs_out[SL_MOQ_MSG_SUBSCRIBE_DROP], 1);
	assert_int_equal(stats(a->r.s).drops_sent, 3);
	assert_int_equal(stats(a->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_DROP], 1);
	assert_int_equal(stats(a->c.s).protocol_errors, 0);
	struct sl_moq_response m[4];
	assert_int_equal(captured_responses(&a->r, m, 4), 2);
	assert_int_equal(m[0].type, SL_MOQ_RESPONSE_OK);
	expect_drop(&m[1], 0, 2, SL_MOQ_ERR_OLD);
	for (uint64_t i = 0; i < 3; i++)
		expect_failed_group(&c, i, SL_ETIMEDOUT);
	expect_group(&c, 3, 1);
	for (int i = 0; i < 3; i++)
		sl_group_unref(g[i]);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/*
 * Groups a subscription asks for that the relay never had (its upstream started later) or no
 * longer has (evicted) are reported with DROP (code 24) once the first later group is sent.
 */
static void drop_reports_groups_not_cached(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.send_drops = true;
	/* The relay's cache keeps only the newest group. */
	struct sl_track_config tc = {.max_age_ns = 0, .max_bytes = 1};
	sl_origin_set_track_config(w->origin, &tc);
	struct publisher p;
	publisher_new(w, &p, "demo");
	for (int i = 0; i < 5; i++)
		write_group(p.t, w->now, 1); /* 0..4, before anyone subscribed at the relay */
	pump(w);
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.has_start = true;
	o.start = 0;
	struct sl_track_consumer ca, cb;
	a->r.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", &o, NULL, &ca); /* the upstream starts at 4 */
	for (int i = 0; i < 3; i++) {
		write_group(p.t, w->now, 1); /* 5..7 */
		pump(w);
	}
	o.start = 5;
	b->r.capture_id = next_bidi(&b->c);
	subscribe(w, b, "demo", "clock", &o, NULL, &cb); /* 5 and 6 are evicted */
	for (uint64_t i = 4; i < 8; i++)
		expect_group(&ca, i, 1);
	expect_group(&cb, 7, 1);
	struct sl_moq_response m[4];
	assert_int_equal(captured_responses(&a->r, m, 4), 2);
	expect_drop(&m[1], 0, 3, SL_MOQ_ERR_DROPPED);
	assert_int_equal(captured_responses(&b->r, m, 4), 2);
	expect_drop(&m[1], 5, 6, SL_MOQ_ERR_DROPPED);
	assert_int_equal(stats(a->r.s).drops_sent, 4);
	assert_int_equal(stats(b->r.s).drops_sent, 2);
	assert_int_equal(stats(b->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_DROP], 1);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

/*
 * A gap is reported once a later group is sent in full; a straggler arriving after that is not
 * sent, while one arriving before the later group completed is.
 */
static void drop_gap_after_later_group_and_stragglers(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.send_drops = true;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w);
	struct sl_track_consumer c;
	a->r.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", NULL, NULL, &c);
	sl_group_unref(create_group(p.t, w->now, 0, false));
	pump(w);
	sl_group_unref(create_group(p.t, w->now, 2, false)); /* 1 is missing */
	pump(w);
	assert_int_equal(stats(a->r.s).drops_sent, 1);
	/* A straggler written into the relay's track, as if its upstream stream came late. */
	struct sl_track *rt = sl_broadcast_track(sl_origin_find(w->origin, "demo"), "clock");
	assert_non_null(rt);
	sl_group_unref(create_group(rt, w->now, 1, false));
	pump(w);
	/* 4 arrives before 3 but is not complete when 3 comes: no gap. */
	struct sl_group *g4 = create_group(p.t, w->now, 4, true);
	pump(w);
	sl_group_unref(create_group(p.t, w->now, 3, false));
	pump(w);
	assert_int_equal(sl_group_finish(g4), 0);
	pump(w);
	expect_group(&c, 0, 1);
	expect_group(&c, 2, 1);
	expect_group(&c, 4, 1);
	expect_group(&c, 3, 1);
	expect_no_group(&c);
	struct sl_moq_response m[4];
	assert_int_equal(captured_responses(&a->r, m, 4), 2);
	expect_drop(&m[1], 1, 1, SL_MOQ_ERR_DROPPED);
	assert_int_equal(stats(a->r.s).drops_sent, 1);
	assert_int_equal(stats(a->r.s).groups_sent, 4);
	sl_group_unref(g4);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/* A bounded SUBSCRIBE whose end group never comes (the track skips it) ends once a later group
 * shows up: the missing end is reported with DROP, then the Subscribe stream is finished. */
static void bounded_range_with_missing_end_group(void **state)
{
	(void)state;
	struct world *w = world_new();
	w->relay_cfg.send_drops = true;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *a = link_new(w), *b = link_new(w);
	struct sl_track_consumer ca, cb;
	subscribe(w, b, "demo", "clock", NULL, NULL, &cb); /* keeps the upstream alive */
	sl_group_unref(create_group(p.t, w->now, 0, false));
	pump(w);
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.has_start = true;
	o.start = 1;
	o.has_end = true;
	o.end = 3;
	a->r.capture_id = next_bidi(&a->c);
	subscribe(w, a, "demo", "clock", &o, NULL, &ca);
	sl_group_unref(create_group(p.t, w->now, 1, false));
	pump(w);
	sl_group_unref(create_group(p.t, w->now, 4, false)); /* 2 and 3 never come */
	pump(w);
	expect_group(&ca, 1, 1);
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&ca, NULL, &r), SL_EEOF);
	assert_int_equal(stats(a->r.s).subscribes_active, 0);
	struct sl_moq_response m[4];
	assert_int_equal(captured_responses(&a->r, m, 4), 2);
	expect_drop(&m[1], 2, 3, SL_MOQ_ERR_DROPPED);
	expect_group(&cb, 0, 1);
	expect_group(&cb, 1, 1);
	expect_group(&cb, 4, 1);
	sl_track_consumer_release(&ca, NULL);
	sl_track_consumer_release(&cb, NULL);
	world_free(w);
	publisher_free(&p);
}

/*
 * A relay that does not hold a group fetches it from the publisher's session and forwards the
 * frames as they arrive; the publisher's not-found becomes the relay's; a FETCH that finds
 * the publisher's stream limit is retried.
 */
static void fetch_uncached_group_from_upstream(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	publisher_new(w, &p, "demo");
	for (int i = 0; i < 3; i++)
		write_group(p.t, w->now, 3); /* nobody subscribed: the relay holds nothing */
	struct link *f = link_new(w);
	pump(w);
	struct sl_group_reader r;
	struct sl_slice fr;
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 1, &r), 0);
	pump(w);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
		char want[16];
		int k = snprintf(want, sizeof(want), "g1 f%u", i);
		assert_memory_equal(sl_slice_data(&fr), want, (size_t)k);
	}
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_EEOF);
	sl_group_reader_release(&r);
	assert_int_equal(relay_stats(w).upstream_fetches, 1);
	assert_int_equal(stats(p.l->c.s).fetches_served, 1);
	assert_int_equal(stats(f->r.s).fetches_served, 1);
	assert_int_equal(relay_stats(w).upstream_subscribes, 0);
	/* A group still being written: frames are forwarded as they come. */
	struct sl_group *g3 = write_group_ex(p.t, w->now, 1, 0, true);
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 3, &r), 0);
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_EAGAIN);
	assert_int_equal(sl_group_write_frame(g3, frame_of(3, 1, 0)), 0);
	assert_int_equal(sl_group_finish(g3), 0);
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
	assert_memory_equal(sl_slice_data(&fr), "g3 f1", 5);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_EEOF);
	sl_group_reader_release(&r);
	/* The publisher does not have it either: not found, as before. */
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 99, &r), 0);
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_ENOTFOUND);
	sl_group_reader_release(&r);
	assert_int_equal(f->r.nresets, 1);
	assert_int_equal(f->r.resets[0].code, SL_MOQ_ERR_NOT_FOUND);
	/* The relay may open no stream to the publisher: the FETCH waits, then goes. */
	p.l->r.max_bidi = p.l->r.nbidi;
	assert_int_equal(sl_moq_session_fetch(f->c.s, "demo", "clock", 0, 0, &r), 0);
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), SL_EAGAIN);
	p.l->r.max_bidi = 0;
	pump(w);
	assert_int_equal(sl_group_read_frame(&r, NULL, &fr), 0);
	sl_group_reader_release(&r);
	assert_int_equal(relay_stats(w).upstream_fetches, 4);
	sl_group_unref(g3);
	world_free(w);
	publisher_free(&p);
}

/* ---- ready mode: the owner polls only sessions that reported work ---- */

#define READY_VARIANT(name)                                                                        \
	static void name##_ready(void **state)                                                     \
	{                                                                                          \
		ready_mode = true;                                                                 \
		name(state);                                                                       \
		ready_mode = false;                                                                \
	}
READY_VARIANT(fanout_to_50_subscribers_shares_one_upstream)
READY_VARIANT(late_joiner_starts_at_latest_cached_group)
READY_VARIANT(publisher_disconnect_ends_tracks_cleanly)
READY_VARIANT(max_latency_resets_old_groups)
READY_VARIANT(slow_subscriber_loses_old_groups_others_unaffected)
READY_VARIANT(acks_from_the_transport_free_the_in_flight_budget)
READY_VARIANT(stream_limit_defers_upstream_subscribe)
READY_VARIANT(subscribe_update_end_below_sent_waits_for_in_flight)
READY_VARIANT(fetch_uncached_group_from_upstream)

/* Sessions without work are never polled: groups flow to subscribers while idle peers' relay
 * sessions stay untouched, and a session blocked by the stream limit waits for the transport
 * to raise it instead of retrying on every poll. */
static void ready_mode_polls_only_sessions_with_work(void **state)
{
	(void)state;
	ready_mode = true;
	struct world *w = world_new();
	ready_mode = false;
	struct publisher p;
	publisher_new(w, &p, "demo");
	struct link *idle[4], *subs[4];
	struct sl_track_consumer cons[4];
	for (int i = 0; i < 4; i++) {
		idle[i] = link_new(w);
		subs[i] = link_new(w);
		subscribe(w, subs[i], "demo", "clock", NULL, NULL, &cons[i]);
	}
	pump(w);
	uint64_t idle_polls[4], sub_polls[4];
	for (int i = 0; i < 4; i++) {
		idle_polls[i] = idle[i]->r.polls;
		sub_polls[i] = subs[i]->r.polls;
	}
	for (int g = 0; g < 3; g++) {
		write_group(p.t, w->now, 2);
		pump(w);
	}
	for (int i = 0; i < 4; i++) {
		for (uint64_t g = 0; g < 3; g++)
			expect_group(&cons[i], g, 2);
		assert_int_equal(idle[i]->r.polls, idle_polls[i]);
		assert_true(subs[i]->r.polls > sub_polls[i]);
		sl_track_consumer_release(&cons[i], NULL);
	}
	/* A new subscriber whose upstream SUBSCRIBE cannot open: no retries until the limit
	 * grows, then it goes at once. */
	p.l->r.max_bidi = p.l->r.nbidi;
	struct link *late = link_new(w);
	struct sl_track_consumer c;
	subscribe(w, late, "demo", "other", NULL, NULL, &c);
	uint64_t before = p.l->r.polls;
	for (int i = 0; i < 3; i++)
		pump(w);
	assert_int_equal(p.l->r.polls, before);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	p.l->r.max_bidi = 0;
	pump(w);
	assert_int_equal(stats(p.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 2);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

/* ---- lite-05: golden bytes from the reference client's captures ---- */

/*
 * A raw transport for one relay session fed with a capture's client bytes: every stream the
 * session writes is recorded by QUIC-style id, nothing is delivered anywhere.
 */
struct gstream {
	int64_t id;
	struct sl_moq_stream *user;
	uint8_t out[512];
	size_t nout;
	bool fin, reset, released;
};

struct gconn {
	struct gstream st[64];
	int n;
	int64_t nbidi, nuni;
	bool closed;
};

static struct gstream *g_find(struct gconn *g, int64_t id)
{
	for (int i = 0; i < g->n; i++)
		if (g->st[i].id == id)
			return &g->st[i];
	return NULL;
}

static struct gstream *g_new(struct gconn *g, int64_t id)
{
	assert_true(g->n < 64);
	struct gstream *x = &g->st[g->n++];
	memset(x, 0, sizeof(*x));
	x->id = id;
	return x;
}

static int g_open(void *t, bool bidi, void *user, void **handle)
{
	struct gconn *g = t;
	int64_t n = bidi ? g->nbidi++ : g->nuni++;
	struct gstream *x = g_new(g, (n << 2) | (bidi ? 0 : 2) | 1);
	x->user = user;
	*handle = x;
	return 0;
}

static int g_write(void *t, void *h, struct sl_slice data, bool fin)
{
	(void)t;
	struct gstream *x = h;
	assert_false(x->fin);
	assert_true(x->nout + data.len <= sizeof(x->out));
	if (data.len)
		memcpy(x->out + x->nout, sl_slice_data(&data), data.len);
	x->nout += data.len;
	x->fin = fin;
	sl_buf_unref(data.buf);
	return 0;
}

static int g_reset(void *t, void *h, uint64_t code)
{
	(void)t;
	(void)code;
	((struct gstream *)h)->reset = true;
	return 0;
}

static void g_release(void *t, void *h)
{
	(void)t;
	struct gstream *x = h;
	x->released = true;
	x->user = NULL;
}

static void g_close(void *t, uint64_t code, const char *reason)
{
	(void)code;
	(void)reason;
	((struct gconn *)t)->closed = true;
}

static const struct sl_moq_transport_ops gops = {
	.open_stream = g_open,
	.write = g_write,
	.reset = g_reset,
	.release = g_release,
	.close = g_close,
};

/* One STREAM frame of a capture (qmux-01: type 0x08..0x0f, id, offset, length, data). */
struct cap_frame {
	bool c2s;
	int64_t id;
	uint8_t data[256];
	size_t len;
	bool fin;
};

/*
 * Reads the STREAM frames of an annotated capture (dataplane/qmux/testdata): each message is a
 * "#NNN t=... C>S|S>C N bytes" line followed by its bytes in hex. Other frames (STOP_SENDING,
 * RESET_STREAM, transport parameters, close) are qmux's, not the moq layer's: skipped.
 */
static int load_capture(const char *name, struct cap_frame *out, int max)
{
	const char *dir = getenv("SL_QMUX_TESTDATA");
	assert_non_null(dir);
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[4096];
	int n = 0;
	bool want = false, c2s = false;
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' && strstr(line, " t=")) {
			want = true;
			c2s = strstr(line, "C>S") != NULL;
			continue;
		}
		if (!want)
			continue;
		want = false;
		uint8_t b[2048];
		size_t nb = 0;
		for (char *p = line; *p;) {
			unsigned v;
			int used;
			if (sscanf(p, " %2x%n", &v, &used) != 1)
				break;
			b[nb++] = (uint8_t)v;
			p += used;
		}
		if (nb == 0 || b[0] < 0x08 || b[0] > 0x0f)
			continue;
		struct sl_reader r;
		sl_reader_init(&r, b + 1, nb - 1);
		uint64_t id, off = 0, len;
		assert_int_equal(sl_reader_varint(&r, &id), 0);
		if (b[0] & 0x04)
			assert_int_equal(sl_reader_varint(&r, &off), 0);
		if (b[0] & 0x02)
			assert_int_equal(sl_reader_varint(&r, &len), 0);
		else
			len = sl_reader_left(&r);
		assert_true(n < max && len <= sizeof(out[n].data) && len == sl_reader_left(&r));
		out[n].c2s = c2s;
		out[n].id = (int64_t)id;
		out[n].len = (size_t)len;
		memcpy(out[n].data, r.p, (size_t)len);
		out[n].fin = b[0] & 0x01;
		n++;
	}
	fclose(f);
	return n;
}

/* Everything the capture's server wrote on stream id, and whether it finished it. */
static size_t cap_server_bytes(const struct cap_frame *fr, int n, int64_t id, uint8_t *out,
			       bool *fin)
{
	size_t k = 0;
	*fin = false;
	for (int i = 0; i < n; i++)
		if (!fr[i].c2s && fr[i].id == id) {
			memcpy(out + k, fr[i].data, fr[i].len);
			k += fr[i].len;
			*fin |= fr[i].fin;
		}
	return k;
}

/* Feeds the capture's client frames [from, to) to session s, on stream map_id(id). */
static void cap_feed(struct sl_moq_session *s, struct gconn *g, const struct cap_frame *fr,
		     int from, int to, int64_t from_id, int64_t to_id)
{
	for (int i = from; i < to; i++) {
		if (!fr[i].c2s)
			continue;
		int64_t id = fr[i].id == from_id ? to_id : fr[i].id;
		struct gstream *x = g_find(g, id);
		if (x == NULL) {
			assert_true((id & 1) ==
				    0); /* a client stream: accepted on its first byte */
			x = g_new(g, id);
			x->user = sl_moq_session_stream_accept(s, x, (id & 2) == 0);
		}
		if (!x->released)
			sl_moq_session_stream_data(s, x->user, fr[i].data, fr[i].len, fr[i].fin);
	}
}

/* The first client frame of the capture at or after from that is on stream id. */
static int cap_index(const struct cap_frame *fr, int n, int from, bool c2s, int64_t id)
{
	for (int i = from; i < n; i++)
		if (fr[i].c2s == c2s && fr[i].id == id)
			return i;
	fail_msg("no frame on stream %lld", (long long)id);
	return -1;
}

static void expect_stream_as_captured(struct gconn *g, const struct cap_frame *fr, int n,
				      int64_t id)
{
	uint8_t want[512];
	bool fin;
	size_t k = cap_server_bytes(fr, n, id, want, &fin);
	struct gstream *x = g_find(g, id);
	assert_non_null(x);
	if (x->nout != k || memcmp(x->out, want, k) != 0) {
		fprintf(stderr, "stream %lld: wrote %zu bytes, the capture has %zu\n",
			(long long)id, x->nout, k);
		for (size_t i = 0; i < x->nout; i++)
			fprintf(stderr, "%02x ", x->out[i]);
		fprintf(stderr, "\n");
	}
	assert_int_equal(x->nout, k);
	assert_memory_equal(x->out, want, k);
	assert_int_equal(x->fin, fin);
}

/* TRACK_INFO as the relay answers it: the capture's publisher said max latency 30000, which
 * shardline's track model does not keep; the rest is fixed. */
static void expect_track_info(struct gconn *g, int64_t id)
{
	struct gstream *x = g_find(g, id);
	assert_non_null(x);
	struct sl_reader r;
	sl_reader_init(&r, x->out, x->nout);
	struct sl_moq_track_info ti;
	assert_int_equal(sl_moq_decode_track_info(&r, &ti, NULL), 0);
	assert_int_equal(sl_reader_left(&r), 0);
	assert_int_equal(ti.priority, 0);
	assert_false(ti.ordered);
	assert_int_equal(ti.timescale, 1000);
	assert_true(x->fin);
}

static void write_ts_frame(struct sl_group *g, const char *text, uint64_t ts)
{
	struct sl_buf *b = sl_buf_from(text, strlen(text));
	assert_non_null(b);
	assert_int_equal(sl_group_write_frame_ts(g, sl_slice_of(b), ts), 0);
}

/*
 * The reference subscriber's bytes (lite05-qmux01-subscriber.txt) fed to a lite-05 relay
 * session with the reference relay's origin id: the Setup stream, the ANNOUNCE_REQUEST it opens,
 * ANNOUNCE_OK and the announcements, SUBSCRIBE_OK, both group streams with their timestamp
 * deltas, the FETCH answer and SUBSCRIBE_END come out byte for byte as the reference relay
 * wrote them; TRACK_INFO as far as shardline keeps it.
 */
static void golden_lite05_subscriber(void **state)
{
	(void)state;
	static struct cap_frame fr[256];
	int n = load_capture("lite05-qmux01-subscriber.txt", fr, 256);
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_moq_relay *relay = sl_moq_relay_new(o);
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.version = SL_MOQ_LITE_05;
	cfg.origin_id = 0x102e66a1fcac1f;
	static struct gconn g;
	memset(&g, 0, sizeof(g));
	struct sl_moq_session *s = sl_moq_session_new(&cfg, &gops, &g, relay);
	assert_non_null(s);
	uint64_t now = 1000 * MS;
	sl_moq_session_poll(s, now);
	/* Up to the client's own ANNOUNCE_REQUEST and SETUP: ANNOUNCE_OK with nothing active. */
	int track = cap_index(fr, n, 0, true, 4);
	int announce_ok = cap_index(fr, n, 0, true, 1);
	cap_feed(s, &g, fr, 0, announce_ok, -1, -1);
	sl_moq_session_poll(s, now);
	assert_int_equal(sl_moq_session_peer_origin(s), 0x1c43698efba287);
	assert_null(sl_moq_session_peer_path(s));
	struct sl_broadcast *b;
	struct sl_track *t;
	assert_int_equal(sl_origin_publish(o, "demo/bcast", &b), 0);
	assert_int_equal(sl_broadcast_create_track(b, "video", 0, &t), 0);
	sl_moq_session_poll(s, now);
	cap_feed(s, &g, fr, announce_ok, track, -1, -1);
	/* TRACK is answered before any SUBSCRIBE, and SUBSCRIBE (from group 0) at once. */
	int fetch_track = cap_index(fr, n, track, true, 12);
	cap_feed(s, &g, fr, track, fetch_track, -1, -1);
	sl_moq_session_poll(s, now);
	expect_track_info(&g, 4);
	struct sl_group *g0, *g1;
	assert_int_equal(sl_track_append_group(t, now, &g0), 0);
	write_ts_frame(g0, "g0f0", 0);
	write_ts_frame(g0, "g0f1", 20);
	sl_group_finish(g0);
	assert_int_equal(sl_track_append_group(t, now, &g1), 0);
	write_ts_frame(g1, "g1f0", 40);
	write_ts_frame(g1, "g1f1", 60);
	sl_group_finish(g1);
	sl_moq_session_poll(s, now);
	/* A fresh TRACK, then FETCH of group 0: its frames in the lite-05 format. */
	cap_feed(s, &g, fr, fetch_track, n, -1, -1);
	sl_moq_session_poll(s, now);
	expect_track_info(&g, 12);
	/* The track ends and the broadcast goes. */
	sl_track_finish(t);
	sl_origin_unpublish(o, b);
	sl_moq_session_poll(s, now);
	/* Announce (ANNOUNCE_OK, active, ended), our ANNOUNCE_REQUEST, our SETUP, SUBSCRIBE_OK
	 * and SUBSCRIBE_END, the fetch answer, the two group streams. */
	static const int64_t ids[] = {0, 1, 3, 8, 16, 7, 11};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		expect_stream_as_captured(&g, fr, n, ids[i]);
	assert_false(g.closed);
	struct sl_moq_session_stats st = stats(s);
	assert_int_equal(st.msgs_out[SL_MOQ_MSG_SETUP], 1);
	assert_int_equal(st.msgs_in[SL_MOQ_MSG_SETUP], 1);
	assert_int_equal(st.msgs_out[SL_MOQ_MSG_ANNOUNCE_OK], 1);
	assert_int_equal(st.msgs_in[SL_MOQ_MSG_ANNOUNCE_OK], 1);
	assert_int_equal(st.msgs_out[SL_MOQ_MSG_TRACK_INFO], 2);
	assert_int_equal(st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_END], 1);
	assert_int_equal(st.decode_errors + st.protocol_errors, 0);
	sl_group_unref(g0);
	sl_group_unref(g1);
	sl_track_unref(t);
	sl_broadcast_unref(b);
	sl_moq_session_free(s);
	sl_moq_relay_free(relay);
	sl_origin_free(o);
}

/*
 * The reference publisher's bytes (lite05-qmux01-publisher.txt): its SETUP, ANNOUNCE_OK and
 * announcement on the relay's ANNOUNCE_REQUEST, then its answer to the relay's SUBSCRIBE and
 * its two group streams. The relay publishes the broadcast, subscribes when a reader asks for
 * the track, and the groups reach the origin with their sequences and timestamps unchanged.
 */
static void golden_lite05_publisher(void **state)
{
	(void)state;
	static struct cap_frame fr[256];
	int n = load_capture("lite05-qmux01-publisher.txt", fr, 256);
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_moq_relay *relay = sl_moq_relay_new(o);
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.version = SL_MOQ_LITE_05;
	cfg.origin_id = 0x09eaa9a5cf21d1;
	static struct gconn g;
	memset(&g, 0, sizeof(g));
	struct sl_moq_session *s = sl_moq_session_new(&cfg, &gops, &g, relay);
	uint64_t now = 1000 * MS;
	sl_moq_session_poll(s, now);
	expect_stream_as_captured(&g, fr, n, 1); /* ANNOUNCE_REQUEST "" excluding our id */
	expect_stream_as_captured(&g, fr, n, 3); /* SETUP, FIN */
	/* The client's SETUP and its answer on our Announce stream. */
	int first_track_answer = cap_index(fr, n, 0, true, 5);
	cap_feed(s, &g, fr, 0, first_track_answer, -1, -1);
	sl_moq_session_poll(s, now);
	assert_int_equal(sl_moq_session_peer_origin(s), 0x15d86ab821e7e6);
	struct sl_broadcast *b = sl_origin_find(o, "demo/bcast");
	assert_non_null(b);
	/* A reader asks for the track: the relay's SUBSCRIBE goes on its next bidi stream (5;
	 * the reference relay asked TRACK first, on 5 and 9, and subscribed on 13). */
	struct sl_track *t;
	assert_int_equal(sl_broadcast_request_track(b, "video", 0, &t), 0);
	struct sl_track_consumer c;
	sl_track_consume(t, &c);
	sl_moq_session_poll(s, now);
	struct gstream *sub = g_find(&g, 5);
	assert_non_null(sub);
	assert_int_equal(sub->out[0], SL_MOQ_STREAM_SUBSCRIBE);
	/* The client's SUBSCRIBE_OK (on its stream 13, here 5) and both group streams. */
	int first_sub = cap_index(fr, n, 0, true, 13);
	int end = cap_index(fr, n, first_sub, true, 17); /* its next TRACK: not ours */
	cap_feed(s, &g, fr, first_sub, end, 13, 5);
	sl_moq_session_poll(s, now);
	struct sl_moq_session_stats st = stats(s);
	assert_int_equal(st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK], 1);
	assert_int_equal(st.groups_in, 2);
	assert_int_equal(st.decode_errors + st.protocol_errors, 0);
	static const char *const text[2][2] = {{"g0f0", "g0f1"}, {"g1f0", "g1f1"}};
	static const uint64_t stamp[2][2] = {{0, 20}, {40, 60}};
	for (uint64_t seq = 0; seq < 2; seq++) {
		struct sl_group_reader r;
		assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), 0);
		assert_int_equal(sl_group_sequence(r.group), seq);
		for (int i = 0; i < 2; i++) {
			struct sl_slice f;
			uint64_t ts;
			assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
			assert_int_equal(f.len, 4);
			assert_memory_equal(sl_slice_data(&f), text[seq][i], 4);
			assert_int_equal(ts, stamp[seq][i]);
		}
		struct sl_slice f;
		assert_int_equal(sl_group_read_frame(&r, NULL, &f), SL_EEOF);
		sl_group_reader_release(&r);
	}
	sl_track_consumer_release(&c, NULL);
	sl_track_unref(t);
	sl_moq_session_free(s);
	sl_moq_relay_free(relay);
	sl_origin_free(o);
}

/* Feeds only the capture's client frames on stream id, [from, to). */
static void cap_feed_only(struct sl_moq_session *s, struct gconn *g, const struct cap_frame *fr,
			  int from, int to, int64_t id)
{
	for (int i = from; i < to; i++)
		if (fr[i].c2s && fr[i].id == id)
			cap_feed(s, g, fr, i, i + 1, -1, -1);
}

/*
 * TRACK for a track of a lite-05 publisher's broadcast: the relay asks the publisher with its own
 * TRACK (the reference publisher's bytes answer it), answers the subscriber with the publisher's
 * TRACK_INFO (max latency 30000 included: byte for byte what the reference relay sent), and
 * answers the next TRACK for that track from what it learned, without asking again.
 */
static void golden_lite05_track_info_from_publisher(void **state)
{
	(void)state;
	static struct cap_frame pf[256], sf[256];
	int pn = load_capture("lite05-qmux01-publisher.txt", pf, 256);
	int sn = load_capture("lite05-qmux01-subscriber.txt", sf, 256);
	struct sl_origin *o = sl_origin_new(NULL);
	struct sl_moq_relay *relay = sl_moq_relay_new(o);
	struct sl_moq_session_config cfg;
	sl_moq_session_config_default(&cfg);
	cfg.server = true;
	cfg.version = SL_MOQ_LITE_05;
	static struct gconn gu, gd;
	memset(&gu, 0, sizeof(gu));
	memset(&gd, 0, sizeof(gd));
	cfg.origin_id = 0x09eaa9a5cf21d1;
	struct sl_moq_session *up = sl_moq_session_new(&cfg, &gops, &gu, relay);
	cfg.origin_id = 0x102e66a1fcac1f;
	struct sl_moq_session *down = sl_moq_session_new(&cfg, &gops, &gd, relay);
	uint64_t now = 1000 * MS;
	sl_moq_session_poll(up, now);
	sl_moq_session_poll(down, now);
	/* The publisher announces demo/bcast. */
	int answer = cap_index(pf, pn, 0, true, 5);
	cap_feed(up, &gu, pf, 0, answer, -1, -1);
	assert_non_null(sl_origin_find(o, "demo/bcast"));
	/* The subscriber's TRACK waits for the publisher's answer to ours. */
	int sub = cap_index(sf, sn, 0, true, 8);
	cap_feed(down, &gd, sf, 0, sub, -1, -1);
	sl_moq_session_poll(down, now);
	sl_moq_session_poll(up, now);
	struct gstream *q = g_find(&gu, 5);
	assert_non_null(q);
	assert_int_equal(g_find(&gd, 4)->nout, 0);
	cap_feed_only(up, &gu, pf, answer, pn, 5);
	sl_moq_session_poll(up, now);
	sl_moq_session_poll(down, now);
	expect_stream_as_captured(&gu, pf, pn, 5); /* TRACK, FIN once answered */
	expect_stream_as_captured(&gd, sf, sn, 4); /* the publisher's TRACK_INFO, FIN */
	/* The fetch's fresh TRACK: from what the relay learned. */
	int64_t asked = gu.nbidi;
	int fetch_track = cap_index(sf, sn, sub, true, 12);
	cap_feed_only(down, &gd, sf, fetch_track, sn, 12);
	sl_moq_session_poll(down, now);
	assert_int_equal(gu.nbidi, asked);
	expect_stream_as_captured(&gd, sf, sn, 12);
	assert_int_equal(stats(up).msgs_out[SL_MOQ_MSG_TRACK], 1);
	assert_int_equal(stats(up).msgs_in[SL_MOQ_MSG_TRACK_INFO], 1);
	assert_int_equal(stats(down).msgs_out[SL_MOQ_MSG_TRACK_INFO], 2);
	/* A TRACK still waiting when the publisher leaves is answered with the synthesized one. */
	struct gstream *x = g_new(&gd, 40);
	x->user = sl_moq_session_stream_accept(down, x, true);
	static const uint8_t other[] = {0x06, 0x11, 0x0a, 'd',	'e', 'm', 'o', '/', 'b', 'c',
					'a',  's',  't',  0x05, 'o', 't', 'h', 'e', 'r'};
	sl_moq_session_stream_data(down, x->user, other, sizeof(other), false);
	sl_moq_session_poll(down, now);
	assert_int_equal(x->nout, 0);
	assert_int_equal(gu.nbidi, asked + 1);
	sl_moq_session_closed(up);
	sl_moq_session_poll(down, now);
	assert_true(x->nout > 0 && x->fin);
	sl_moq_session_free(down);
	sl_moq_session_free(up);
	sl_moq_relay_free(relay);
	sl_origin_free(o);
}

/* ---- lite-05 beside lite-04: one relay, both versions ---- */

/* Writes a group of n frames stamped base, base + 10, ... (lite-05 publisher's timestamps). */
static uint64_t write_group_ts(struct sl_track *t, uint64_t now, uint32_t n, uint64_t base)
{
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(t, now, &g), 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(sl_group_write_frame_ts(g, frame_of(sl_group_sequence(g), i, 0),
							 base + 10 * i),
				 0);
	assert_int_equal(sl_group_finish(g), 0);
	uint64_t seq = sl_group_sequence(g);
	sl_group_unref(g);
	return seq;
}

/* Reads group seq of n frames; their timestamps must be want[i] (SL_GROUP_NO_TS: none), or,
 * with want NULL, present and non-decreasing. */
static void expect_group_ts(struct sl_track_consumer *c, uint64_t seq, uint32_t n,
			    const uint64_t *want)
{
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(c, NULL, &r), 0);
	assert_int_equal(sl_group_sequence(r.group), seq);
	uint64_t prev = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct sl_slice f;
		uint64_t ts;
		assert_int_equal(sl_group_read_frame_ts(&r, NULL, &f, &ts), 0);
		char text[32];
		int k = snprintf(text, sizeof(text), "g%llu f%u", (unsigned long long)seq, i);
		assert_memory_equal(sl_slice_data(&f), text, (size_t)k);
		if (want) {
			assert_int_equal(ts, want[i]);
		} else {
			assert_true(ts != SL_GROUP_NO_TS && ts >= prev);
			prev = ts;
		}
	}
	sl_group_reader_release(&r);
}

/*
 * A lite-05 publisher's track reaches a lite-04 and a lite-05 subscriber through one upstream:
 * the lite-05 one gets the publisher's timestamps unchanged (negative deltas included), the
 * lite-04 one the same frames without. Then the other way: a lite-04 publisher's frames reach a
 * lite-05 subscriber stamped by the relay (its clock in ms, monotonic within a group).
 */
static void cross_version_routing_keeps_or_stamps_timestamps(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p5, p4;
	test_version = SL_MOQ_LITE_05;
	publisher_new(w, &p5, "five");
	test_version = SL_MOQ_LITE_04;
	publisher_new(w, &p4, "four");
	struct link *s4 = link_new_v(w, SL_MOQ_LITE_04), *s5 = link_new_v(w, SL_MOQ_LITE_05);
	struct sl_track_consumer c4, c5, d4, d5;
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.ordered = true;
	subscribe(w, s4, "five", "clock", &o, NULL, &c4);
	subscribe(w, s5, "five", "clock", &o, NULL, &c5);
	assert_int_equal(stats(p5.l->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE], 1);
	write_group_ts(p5.t, w->now, 3, 1000);
	/* A publisher's timestamps need not increase (B-frames): deltas go negative. */
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(p5.t, w->now, &g), 0);
	static const uint64_t odd[3] = {5000, 4990, 5030};
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(sl_group_write_frame_ts(g, frame_of(1, i, 0), odd[i]), 0);
	sl_group_finish(g);
	sl_group_unref(g);
	pump(w);
	static const uint64_t first[3] = {1000, 1010, 1020};
	static const uint64_t none[3] = {SL_GROUP_NO_TS, SL_GROUP_NO_TS, SL_GROUP_NO_TS};
	expect_group_ts(&c5, 0, 3, first);
	expect_group_ts(&c5, 1, 3, odd);
	expect_group_ts(&c4, 0, 3, none);
	expect_group_ts(&c4, 1, 3, none);
	/* lite-04 publisher -> both. */
	subscribe(w, s4, "four", "clock", &o, NULL, &d4);
	subscribe(w, s5, "four", "clock", &o, NULL, &d5);
	write_group(p4.t, w->now, 2);
	w->now += 7 * MS;
	pump(w);
	expect_group_ts(&d4, 0, 2, none);
	expect_group_ts(&d5, 0, 2, NULL);
	/* Announcements and SETUPs crossed too. */
	assert_int_equal(stats(s5->c.s).msgs_in[SL_MOQ_MSG_SETUP], 1);
	assert_int_equal(stats(s4->c.s).msgs_in[SL_MOQ_MSG_SETUP], 0);
	assert_int_equal(relay_stats(w).broadcasts_announced, 2);
	sl_track_consumer_release(&c4, NULL);
	sl_track_consumer_release(&c5, NULL);
	sl_track_consumer_release(&d4, NULL);
	sl_track_consumer_release(&d5, NULL);
	world_free(w);
	publisher_free(&p5);
	publisher_free(&p4);
}

/* lite-05 end of a subscription: SUBSCRIBE_END (exclusive) then FIN, and the subscriber's track
 * ends cleanly; a lite-05 FETCH carries the timestamps. */
static void lite05_subscribe_end_and_fetch(void **state)
{
	(void)state;
	struct world *w = world_new();
	struct publisher p;
	test_version = SL_MOQ_LITE_05;
	publisher_new(w, &p, "demo");
	struct link *s = link_new(w);
	test_version = SL_MOQ_LITE_04;
	struct sl_track_consumer c;
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.has_start = true;
	o.start = 0;
	o.ordered = true;
	subscribe(w, s, "demo", "clock", &o, NULL, &c);
	write_group_ts(p.t, w->now, 2, 100);
	write_group_ts(p.t, w->now, 2, 200);
	pump(w);
	struct sl_group_reader fr;
	assert_int_equal(sl_moq_session_fetch(s->c.s, "demo", "clock", 0, 0, &fr), 0);
	pump(w);
	static const uint64_t want[2] = {100, 110};
	for (int i = 0; i < 2; i++) {
		struct sl_slice f;
		uint64_t ts;
		assert_int_equal(sl_group_read_frame_ts(&fr, NULL, &f, &ts), 0);
		assert_int_equal(ts, want[i]);
	}
	sl_group_reader_release(&fr);
	sl_track_finish(p.t);
	pump(w);
	expect_group_ts(&c, 0, 2, want);
	expect_group_ts(&c, 1, 2, (const uint64_t[]){200, 210});
	struct sl_group_reader r;
	assert_int_equal(sl_track_consumer_next_group(&c, NULL, &r), SL_EEOF);
	assert_int_equal(stats(s->r.s).msgs_out[SL_MOQ_MSG_SUBSCRIBE_END], 1);
	assert_int_equal(stats(s->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_END], 1);
	assert_int_equal(stats(p.l->c.s).msgs_out[SL_MOQ_MSG_SUBSCRIBE_END], 1);
	assert_int_equal(stats(s->c.s).msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK], 1);
	sl_track_consumer_release(&c, NULL);
	world_free(w);
	publisher_free(&p);
}

#define V05_VARIANT(name)                                                                          \
	static void name##_05(void **state)                                                        \
	{                                                                                          \
		test_version = SL_MOQ_LITE_05;                                                     \
		name(state);                                                                       \
		test_version = SL_MOQ_LITE_04;                                                     \
	}
V05_VARIANT(announce_propagation)
V05_VARIANT(fanout_to_50_subscribers_shares_one_upstream)
V05_VARIANT(late_joiner_starts_at_latest_cached_group)
V05_VARIANT(last_unsubscribe_cancels_upstream)
V05_VARIANT(publisher_disconnect_ends_tracks_cleanly)
V05_VARIANT(unordered_subscriber_gets_newest_first)
V05_VARIANT(max_latency_resets_old_groups)
V05_VARIANT(group_streams_get_their_send_order)
V05_VARIANT(slow_subscriber_loses_old_groups_others_unaffected)
V05_VARIANT(acks_from_the_transport_free_the_in_flight_budget)
V05_VARIANT(malformed_messages_reset_with_the_right_code)
V05_VARIANT(frame_over_limit_and_truncated_group)
V05_VARIANT(unknown_stream_types_reset_only_that_stream)
V05_VARIANT(probe_stream_is_never_reset)
V05_VARIANT(fetch_one_cached_group)
V05_VARIANT(goaway_is_delivered_and_closed_cleanly)
V05_VARIANT(subscribe_to_missing_track_fails_not_found)
V05_VARIANT(stream_limit_defers_upstream_subscribe)
V05_VARIANT(one_byte_chunks)
V05_VARIANT(subscribe_update_start_moves_forward)
V05_VARIANT(subscribe_update_end_bounds_subscription)
V05_VARIANT(subscribe_update_end_below_sent_waits_for_in_flight)
V05_VARIANT(drop_reports_late_groups_coalesced)
V05_VARIANT(drop_reports_groups_not_cached)
V05_VARIANT(drop_gap_after_later_group_and_stragglers)
V05_VARIANT(bounded_range_with_missing_end_group)
V05_VARIANT(fetch_uncached_group_from_upstream)
V05_VARIANT(fanout_to_50_subscribers_shares_one_upstream_ready)
V05_VARIANT(late_joiner_starts_at_latest_cached_group_ready)
V05_VARIANT(publisher_disconnect_ends_tracks_cleanly_ready)
V05_VARIANT(max_latency_resets_old_groups_ready)
V05_VARIANT(slow_subscriber_loses_old_groups_others_unaffected_ready)
V05_VARIANT(acks_from_the_transport_free_the_in_flight_budget_ready)
V05_VARIANT(stream_limit_defers_upstream_subscribe_ready)
V05_VARIANT(subscribe_update_end_below_sent_waits_for_in_flight_ready)
V05_VARIANT(fetch_uncached_group_from_upstream_ready)
V05_VARIANT(ready_mode_polls_only_sessions_with_work)
V05_VARIANT(grant_limits_announce_subscribe_and_interest)
V05_VARIANT(rooted_sessions_name_paths_below_their_root)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_subscribe_bytes),
		cmocka_unit_test(announce_propagation),
		cmocka_unit_test(fanout_to_50_subscribers_shares_one_upstream),
		cmocka_unit_test(late_joiner_starts_at_latest_cached_group),
		cmocka_unit_test(last_unsubscribe_cancels_upstream),
		cmocka_unit_test(publisher_disconnect_ends_tracks_cleanly),
		cmocka_unit_test(unordered_subscriber_gets_newest_first),
		cmocka_unit_test(max_latency_resets_old_groups),
		cmocka_unit_test(group_streams_get_their_send_order),
		cmocka_unit_test(slow_subscriber_loses_old_groups_others_unaffected),
		cmocka_unit_test(acks_from_the_transport_free_the_in_flight_budget),
		cmocka_unit_test(malformed_messages_reset_with_the_right_code),
		cmocka_unit_test(frame_over_limit_and_truncated_group),
		cmocka_unit_test(unknown_stream_types_reset_only_that_stream),
		cmocka_unit_test(probe_stream_is_never_reset),
		cmocka_unit_test(fetch_one_cached_group),
		cmocka_unit_test(goaway_is_delivered_and_closed_cleanly),
		cmocka_unit_test(subscribe_to_missing_track_fails_not_found),
		cmocka_unit_test(grant_limits_announce_subscribe_and_interest),
		cmocka_unit_test(rooted_sessions_name_paths_below_their_root),
		cmocka_unit_test(stream_limit_defers_upstream_subscribe),
		cmocka_unit_test(one_byte_chunks),
		cmocka_unit_test(subscribe_update_start_moves_forward),
		cmocka_unit_test(subscribe_update_end_bounds_subscription),
		cmocka_unit_test(subscribe_update_end_below_sent_waits_for_in_flight),
		cmocka_unit_test(drop_reports_late_groups_coalesced),
		cmocka_unit_test(drop_reports_groups_not_cached),
		cmocka_unit_test(drop_gap_after_later_group_and_stragglers),
		cmocka_unit_test(bounded_range_with_missing_end_group),
		cmocka_unit_test(fetch_uncached_group_from_upstream),
		cmocka_unit_test(fanout_to_50_subscribers_shares_one_upstream_ready),
		cmocka_unit_test(late_joiner_starts_at_latest_cached_group_ready),
		cmocka_unit_test(publisher_disconnect_ends_tracks_cleanly_ready),
		cmocka_unit_test(max_latency_resets_old_groups_ready),
		cmocka_unit_test(slow_subscriber_loses_old_groups_others_unaffected_ready),
		cmocka_unit_test(acks_from_the_transport_free_the_in_flight_budget_ready),
		cmocka_unit_test(stream_limit_defers_upstream_subscribe_ready),
		cmocka_unit_test(subscribe_update_end_below_sent_waits_for_in_flight_ready),
		cmocka_unit_test(fetch_uncached_group_from_upstream_ready),
		cmocka_unit_test(ready_mode_polls_only_sessions_with_work),
		cmocka_unit_test(golden_lite05_subscriber),
		cmocka_unit_test(golden_lite05_publisher),
		cmocka_unit_test(golden_lite05_track_info_from_publisher),
		cmocka_unit_test(cross_version_routing_keeps_or_stamps_timestamps),
		cmocka_unit_test(lite05_subscribe_end_and_fetch),
		cmocka_unit_test(announce_propagation_05),
		cmocka_unit_test(fanout_to_50_subscribers_shares_one_upstream_05),
		cmocka_unit_test(late_joiner_starts_at_latest_cached_group_05),
		cmocka_unit_test(last_unsubscribe_cancels_upstream_05),
		cmocka_unit_test(publisher_disconnect_ends_tracks_cleanly_05),
		cmocka_unit_test(unordered_subscriber_gets_newest_first_05),
		cmocka_unit_test(max_latency_resets_old_groups_05),
		cmocka_unit_test(group_streams_get_their_send_order_05),
		cmocka_unit_test(slow_subscriber_loses_old_groups_others_unaffected_05),
		cmocka_unit_test(acks_from_the_transport_free_the_in_flight_budget_05),
		cmocka_unit_test(malformed_messages_reset_with_the_right_code_05),
		cmocka_unit_test(frame_over_limit_and_truncated_group_05),
		cmocka_unit_test(unknown_stream_types_reset_only_that_stream_05),
		cmocka_unit_test(probe_stream_is_never_reset_05),
		cmocka_unit_test(fetch_one_cached_group_05),
		cmocka_unit_test(goaway_is_delivered_and_closed_cleanly_05),
		cmocka_unit_test(subscribe_to_missing_track_fails_not_found_05),
		cmocka_unit_test(grant_limits_announce_subscribe_and_interest_05),
		cmocka_unit_test(rooted_sessions_name_paths_below_their_root_05),
		cmocka_unit_test(stream_limit_defers_upstream_subscribe_05),
		cmocka_unit_test(one_byte_chunks_05),
		cmocka_unit_test(subscribe_update_start_moves_forward_05),
		cmocka_unit_test(subscribe_update_end_bounds_subscription_05),
		cmocka_unit_test(subscribe_update_end_below_sent_waits_for_in_flight_05),
		cmocka_unit_test(drop_reports_late_groups_coalesced_05),
		cmocka_unit_test(drop_reports_groups_not_cached_05),
		cmocka_unit_test(drop_gap_after_later_group_and_stragglers_05),
		cmocka_unit_test(bounded_range_with_missing_end_group_05),
		cmocka_unit_test(fetch_uncached_group_from_upstream_05),
		cmocka_unit_test(fanout_to_50_subscribers_shares_one_upstream_ready_05),
		cmocka_unit_test(late_joiner_starts_at_latest_cached_group_ready_05),
		cmocka_unit_test(publisher_disconnect_ends_tracks_cleanly_ready_05),
		cmocka_unit_test(max_latency_resets_old_groups_ready_05),
		cmocka_unit_test(slow_subscriber_loses_old_groups_others_unaffected_ready_05),
		cmocka_unit_test(acks_from_the_transport_free_the_in_flight_budget_ready_05),
		cmocka_unit_test(stream_limit_defers_upstream_subscribe_ready_05),
		cmocka_unit_test(subscribe_update_end_below_sent_waits_for_in_flight_ready_05),
		cmocka_unit_test(fetch_uncached_group_from_upstream_ready_05),
		cmocka_unit_test(ready_mode_polls_only_sessions_with_work_05),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
