/* SPDX-License-Identifier: Apache-2.0 */
#include "control/logclient.h"
#include "control/client.h"
#include "core/err.h"
#include "core/varint.h"
#include "log/streamset.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest message header: two 8-byte varints. */
#define MAX_HEADER 16

enum { KIND_FREE = 0, KIND_PRODUCE = 1, KIND_HWM = 2 };

/* Bytes queued for one stream: messages are appended to buf after its first `sent` bytes,
 * which the transport already holds by reference. */
struct outq {
	struct sl_buf *buf;
	uint32_t sent;
};

/* One message split over several pieces of stream data, gathered until it is whole. */
struct rxbuf {
	uint8_t *p;
	size_t len, cap;
};

/* A stream: the transport hands it back with every event of its stream (the stream's user
 * pointer). One struct serves successive streams (the request stream is reopened after a
 * failure): the handle of the previous one is released first, so its late events carry none. */
struct sl_logclient_stream {
	void *h; /* the transport's handle; NULL until opened, and once released or closed */
	struct outq out;
	struct rxbuf rx;
	/* Bumped whenever the stream is dropped or its subscription cancelled, so that a parse
	 * loop that called back into the application notices and stops. */
	uint32_t gen;
};

struct slot {
	uint64_t id;
	void *cookie;
	uint64_t sent_ns;
	uint32_t count;
	uint32_t gen; /* the request stream generation the request was queued on */
	uint8_t kind;
};

struct sl_logclient_sub {
	struct sl_logclient *lc;
	struct sl_logclient_sub *next;
	struct sl_logclient_stream st;
	struct sl_logclient_sub_callbacks cb;
	void *user;
	bool ended;	   /* on_end was called (or is due): the stream carries nothing more */
	bool unsubscribed; /* freed at the next reap */
	bool named;	   /* SUBSCRIBE_NAMED: may commit and use the committed start kinds */
};

struct sl_logclient {
	struct sl_logclient_config cfg;
	const struct sl_logclient_transport *tr;
	void *t;
	struct sl_logclient_callbacks cb;
	void *user;
	bool connected, closed;
	struct sl_logclient_stream req;
	struct slot *slots;
	uint32_t nslots, in_flight;
	uint64_t next_id;
	struct sl_logclient_sub *subs;
	/* Nesting depth of calls that may reach the application; cancelled subscriptions are
	 * freed only when it drops to 0, so no loop over them holds a dangling pointer. */
	int busy;
	bool reap;
	struct sl_lp_marks *marks; /* reused for every HWM_OK */
	uint32_t marks_cap;
	char why[256];
	struct sl_logclient_stats stats;
	struct sl_client_conn *conn; /* set by sl_logclient_connect */
};

const char *sl_logclient_code_name(uint64_t code)
{
	switch (code) {
	case SL_LOGCLIENT_OK:
		return "ok";
	case SL_LOGCLIENT_ERR_PROTOCOL:
		return "protocol_error";
	case SL_LOGCLIENT_ERR_RESET:
		return "stream_reset";
	case SL_LOGCLIENT_ERR_CLOSED:
		return "connection_closed";
	default:
		return sl_lp_code_name(code);
	}
}

void sl_logclient_config_default(struct sl_logclient_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_in_flight = 1024;
	cfg->max_message_bytes = (UINT64_C(16) << 20) + (UINT64_C(64) << 10);
	cfg->out_chunk_bytes = 64u << 10;
	sl_lp_limits_default(&cfg->limits);
}

static void stream_init(struct sl_logclient_stream *st)
{
	memset(st, 0, sizeof(*st));
}

/* Forgets st's transport stream (the bytes already handed over still go out). */
static void stream_forget(struct sl_logclient *lc, struct sl_logclient_stream *st)
{
	if (st->h && !lc->closed)
		lc->tr->release(lc->t, st->h);
	st->h = NULL;
}

static void stream_release(struct sl_logclient_stream *st)
{
	sl_buf_unref(st->out.buf);
	free(st->rx.p);
	st->out.buf = NULL;
	st->rx.p = NULL;
}

int sl_logclient_new(const struct sl_logclient_config *cfg, const struct sl_logclient_transport *tr,
		     void *t, const struct sl_logclient_callbacks *cb, void *user,
		     struct sl_logclient **out)
{
	struct sl_logclient_config def;
	if (cfg == NULL) {
		sl_logclient_config_default(&def);
		cfg = &def;
	}
	if (tr == NULL || tr->open_bidi == NULL || tr->write == NULL || tr->reset == NULL ||
	    tr->release == NULL || cfg->max_in_flight == 0 || cfg->max_in_flight > (1u << 20) ||
	    cfg->max_message_bytes == 0 || cfg->out_chunk_bytes < 1024 ||
	    cfg->out_chunk_bytes > (64u << 20))
		return SL_EINVAL;
	struct sl_logclient *lc = calloc(1, sizeof(*lc));
	if (lc == NULL)
		return SL_ENOMEM;
	lc->slots = calloc(cfg->max_in_flight, sizeof(*lc->slots));
	if (lc->slots == NULL) {
		free(lc);
		return SL_ENOMEM;
	}
	lc->cfg = *cfg;
	lc->nslots = cfg->max_in_flight;
	lc->tr = tr;
	lc->t = t;
	if (cb)
		lc->cb = *cb;
	lc->user = user;
	lc->next_id = 1;
	stream_init(&lc->req);
	*out = lc;
	return 0;
}

static void sub_free(struct sl_logclient_sub *sub)
{
	stream_release(&sub->st);
	free(sub);
}

void sl_logclient_free(struct sl_logclient *lc)
{
	if (lc == NULL)
		return;
	if (lc->conn) {
		lc->conn->app_ops = NULL;
		lc->conn->app = NULL;
		sl_client_conn_close(lc->conn, 0, "bye");
	}
	while (lc->subs) {
		struct sl_logclient_sub *sub = lc->subs;
		lc->subs = sub->next;
		sub_free(sub);
	}
	stream_release(&lc->req);
	free(lc->marks);
	free(lc->slots);
	free(lc);
}

/* ---- outgoing bytes ---- */

/* Makes room for need more bytes in q's chunk. A chunk is replaced when full; bytes not yet
 * handed to the transport (the stream was not open yet) move to the new chunk, which is then
 * made twice as large so that a burst queued before the handshake is copied O(1) times per
 * byte. */
static int outq_room(const struct sl_logclient *lc, struct outq *q, size_t need)
{
	struct sl_buf *b = q->buf;
	if (b && b->cap - b->len >= need)
		return 0;
	size_t unsent = b ? b->len - q->sent : 0;
	size_t cap = lc->cfg.out_chunk_bytes;
	if (unsent > 0 && 2 * (unsent + need) > cap)
		cap = 2 * (unsent + need);
	if (need > cap)
		cap = need;
	if (cap > UINT32_MAX / 2)
		return SL_ERANGE;
	struct sl_buf *nb = sl_buf_alloc(cap);
	if (nb == NULL)
		return SL_ENOMEM;
	if (unsent > 0) {
		memcpy(nb->data, b->data + q->sent, unsent);
		nb->len = (uint32_t)unsent;
	}
	sl_buf_unref(b);
	q->buf = nb;
	q->sent = 0;
	return 0;
}

/* A writer over the free part of q's chunk (after outq_room). */
static void outq_writer(struct outq *q, struct sl_writer *w)
{
	sl_writer_init(w, q->buf->data + q->buf->len, q->buf->cap - q->buf->len);
}

static void outq_commit(struct outq *q, const struct sl_writer *w)
{
	q->buf->len += (uint32_t)sl_writer_len(w);
}

static void outq_drop(struct outq *q)
{
	sl_buf_unref(q->buf);
	q->buf = NULL;
	q->sent = 0;
}

/* Hands the unsent bytes of st to the transport. Returns 0 or the transport's error. */
static int outq_flush(struct sl_logclient *lc, struct sl_logclient_stream *st)
{
	struct outq *q = &st->out;
	struct sl_buf *b = q->buf;
	if (b == NULL || b->len == q->sent)
		return 0;
	/* The transport holds this slice by reference while we keep appending after it: it only
	 * ever reads [off, off + len), and nothing rewrites bytes once they were handed over. */
	struct sl_slice s = {sl_buf_ref(b), q->sent, b->len - q->sent};
	q->sent = b->len;
	int rc = lc->tr->write(lc->t, st->h, s, false);
	if (rc == 0)
		lc->stats.bytes_out += s.len;
	return rc;
}

/* ---- request slots ---- */

static struct slot *slot_find(struct sl_logclient *lc, uint64_t id, uint8_t kind)
{
	struct slot *s = &lc->slots[id % lc->nslots];
	return s->kind == kind && s->id == id ? s : NULL;
}

/* Takes a free slot for the next request id. Ids increase; one whose slot is still held by an
 * older request (answered out of order) is skipped, so lookup stays one index. */
static struct slot *slot_take(struct sl_logclient *lc, uint8_t kind)
{
	uint64_t id = lc->next_id;
	while (lc->slots[id % lc->nslots].kind != KIND_FREE)
		id++;
	lc->next_id = id + 1;
	struct slot *s = &lc->slots[id % lc->nslots];
	s->id = id;
	s->kind = kind;
	s->gen = lc->req.gen;
	lc->in_flight++;
	return s;
}

/* Frees s and reports r (filled but for the slot's fields) to the application. */
static void slot_complete(struct sl_logclient *lc, struct slot *s, struct sl_logclient_result *r)
{
	struct slot copy = *s;
	s->kind = KIND_FREE;
	lc->in_flight--;
	r->request_id = copy.id;
	r->sent_ns = copy.sent_ns;
	r->count = copy.count;
	if (copy.kind == KIND_PRODUCE && lc->cb.on_produce)
		lc->cb.on_produce(lc->user, copy.cookie, r);
	else if (copy.kind == KIND_HWM && lc->cb.on_hwm)
		lc->cb.on_hwm(lc->user, copy.cookie, r);
}

/*
 * Drops the request stream: resets it when it was open (with reset_code; a negative value
 * means no reset because the server already ended both sides), forgets its queued bytes, and
 * completes every request queued on it with code. Requests the callbacks make meanwhile go to
 * the next request stream (a new generation) and are left alone.
 */
static void req_fail(struct sl_logclient *lc, uint64_t code, uint64_t detail, const char *reason,
		     int64_t reset_code)
{
	struct sl_logclient_stream *st = &lc->req;
	if (st->h && reset_code >= 0 && !lc->closed)
		lc->tr->reset(lc->t, st->h, (uint64_t)reset_code);
	stream_forget(lc, st);
	outq_drop(&st->out);
	st->rx.len = 0;
	uint32_t gen = st->gen++;
	struct sl_logclient_result r;
	uint64_t start = lc->next_id;
	for (uint32_t i = 0; i < lc->nslots; i++) {
		/* From the slot after the newest id on: oldest requests complete first. */
		struct slot *s = &lc->slots[(start + i) % lc->nslots];
		if (s->kind == KIND_FREE || s->gen != gen)
			continue;
		memset(&r, 0, sizeof(r));
		r.code = code;
		r.partition = SL_LP_NO_PARTITION;
		r.detail = detail;
		r.reason.p = (const uint8_t *)reason;
		r.reason.n = reason ? strlen(reason) : 0;
		lc->stats.local_failures += code >= SL_LOGCLIENT_ERR_PROTOCOL;
		slot_complete(lc, s, &r);
	}
}

static void req_protocol_error(struct sl_logclient *lc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void req_protocol_error(struct sl_logclient *lc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lc->why, sizeof(lc->why), fmt, ap);
	va_end(ap);
	lc->stats.protocol_errors++;
	req_fail(lc, SL_LOGCLIENT_ERR_PROTOCOL, 0, lc->why, SL_LP_RESET_MALFORMED);
}

/* ---- subscriptions: ending ---- */

/* Ends sub: no more messages are parsed and on_end is called (on_error first for a local
 * protocol error). The handle stays until sl_logclient_unsubscribe. */
static void sub_end(struct sl_logclient_sub *sub, uint64_t code, uint64_t detail,
		    const char *reason)
{
	if (sub->ended || sub->unsubscribed)
		return;
	sub->ended = true;
	sub->st.gen++;
	sub->st.rx.len = 0;
	outq_drop(&sub->st.out);
	if (code == SL_LOGCLIENT_ERR_PROTOCOL && sub->cb.on_error) {
		struct sl_lp_error e = {.code = code, .partition = SL_LP_NO_PARTITION};
		e.reason.p = (const uint8_t *)reason;
		e.reason.n = reason ? strlen(reason) : 0;
		sub->cb.on_error(sub->user, &e);
	}
	if (!sub->unsubscribed && sub->cb.on_end)
		sub->cb.on_end(sub->user, code, detail);
}

static void sub_protocol_error(struct sl_logclient_sub *sub, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sub_protocol_error(struct sl_logclient_sub *sub, const char *fmt, ...)
{
	struct sl_logclient *lc = sub->lc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(lc->why, sizeof(lc->why), fmt, ap);
	va_end(ap);
	lc->stats.protocol_errors++;
	if (sub->st.h && !lc->closed)
		lc->tr->reset(lc->t, sub->st.h, SL_LP_RESET_MALFORMED);
	sub_end(sub, SL_LOGCLIENT_ERR_PROTOCOL, 0, lc->why);
}

/* Frees the subscriptions cancelled while the application was being called. */
static void reap(struct sl_logclient *lc)
{
	if (lc->busy > 0 || !lc->reap)
		return;
	lc->reap = false;
	for (struct sl_logclient_sub **pp = &lc->subs; *pp;) {
		struct sl_logclient_sub *sub = *pp;
		if (sub->unsubscribed) {
			*pp = sub->next;
			stream_forget(lc, &sub->st);
			sub_free(sub);
		} else {
			pp = &sub->next;
		}
	}
}

static void leave(struct sl_logclient *lc)
{
	lc->busy--;
	reap(lc);
}

/* ---- incoming messages ---- */

static void count_error(struct sl_logclient *lc, uint64_t code)
{
	lc->stats.errors++;
	lc->stats.errors_by_code[code < SL_LOGCLIENT_NCODES ? code : 0]++;
}

static void req_dispatch(struct sl_logclient *lc, uint64_t type, const uint8_t *body, size_t n)
{
	const char *why = "?";
	struct sl_logclient_result r;
	memset(&r, 0, sizeof(r));
	switch (type) {
	case SL_LP_PRODUCE_OK:
	case SL_LP_PRODUCE_DUP: {
		/* PRODUCE_DUP: the fields of PRODUCE_OK, for a retry stored before. */
		const char *name = sl_lp_type_name(type);
		struct sl_lp_produce_ok m;
		if (sl_lp_decode_produce_ok(body, n, &m, &why) != 0) {
			req_protocol_error(lc, "undecodable %s from the server (%s)", name, why);
			return;
		}
		struct slot *s = slot_find(lc, m.request_id, KIND_PRODUCE);
		if (s == NULL) {
			req_protocol_error(lc,
					   "%s for request %llu, which is no outstanding "
					   "produce",
					   name, (unsigned long long)m.request_id);
			return;
		}
		if (m.count != s->count) {
			req_protocol_error(lc,
					   "%s for %u records answers request %llu of %u "
					   "records",
					   name, m.count, (unsigned long long)m.request_id,
					   s->count);
			return;
		}
		lc->stats.responses++;
		lc->stats.produce_ok++;
		r.duplicate = type == SL_LP_PRODUCE_DUP;
		lc->stats.produce_dup += r.duplicate;
		r.partition = m.partition;
		r.first_offset = m.first_offset;
		slot_complete(lc, s, &r);
		return;
	}
	case SL_LP_HWM_OK: {
		struct sl_lp_hwm_ok m;
		if (sl_lp_decode_hwm_ok(body, n, &lc->cfg.limits, &m, &why) != 0) {
			req_protocol_error(lc, "undecodable hwm_ok from the server (%s)", why);
			return;
		}
		struct slot *s = slot_find(lc, m.request_id, KIND_HWM);
		if (s == NULL) {
			req_protocol_error(lc,
					   "hwm_ok for request %llu, which is no outstanding hwm",
					   (unsigned long long)m.request_id);
			return;
		}
		if (m.count > lc->marks_cap) {
			struct sl_lp_marks *nm = realloc(lc->marks, m.count * sizeof(*nm));
			if (nm == NULL) {
				req_fail(lc, SL_LOGCLIENT_ERR_PROTOCOL, 0,
					 "out of memory for an hwm_ok", 0);
				return;
			}
			lc->marks = nm;
			lc->marks_cap = m.count;
		}
		struct sl_reader rd;
		sl_reader_init(&rd, m.entries.p, m.entries.n);
		for (uint32_t i = 0; i < m.count; i++)
			if (sl_lp_marks_next(&rd, &lc->marks[i]) != 0) {
				req_protocol_error(lc, "hwm_ok entry %u does not decode", i);
				return;
			}
		lc->stats.responses++;
		lc->stats.hwm_ok++;
		r.partition = SL_LP_NO_PARTITION;
		r.marks = lc->marks;
		r.nmarks = m.count;
		slot_complete(lc, s, &r);
		return;
	}
	case SL_LP_ERROR: {
		struct sl_lp_error e;
		if (sl_lp_decode_error(body, n, &e, &why) != 0) {
			req_protocol_error(lc, "undecodable error from the server (%s)", why);
			return;
		}
		count_error(lc, e.code);
		struct slot *s = slot_find(lc, e.request_id, KIND_PRODUCE);
		if (s == NULL)
			s = slot_find(lc, e.request_id, KIND_HWM);
		if (s == NULL) {
			/* An ERROR that answers nothing speaks for the stream (the server refused
			 * something it could not tie to a request, e.g. an undecodable message):
			 * every request on it fails with the server's words, and the stream is
			 * dropped because the server will not answer on it any more. */
			char reason[SL_LP_MAX_REASON + 1];
			memcpy(reason, e.reason.p, e.reason.n);
			reason[e.reason.n] = '\0';
			req_fail(lc, e.code, e.detail, reason, 0);
			return;
		}
		lc->stats.responses++;
		r.code = e.code;
		r.partition = e.partition;
		r.detail = e.detail;
		r.reason = e.reason;
		slot_complete(lc, s, &r);
		return;
	}
	default:
		req_protocol_error(lc, "unexpected message type %llu (%s) on the request stream",
				   (unsigned long long)type, sl_lp_type_name(type));
		return;
	}
}

static void sub_dispatch(struct sl_logclient_sub *sub, uint64_t type, const uint8_t *body, size_t n)
{
	struct sl_logclient *lc = sub->lc;
	const char *why = "?";
	switch (type) {
	case SL_LP_STARTED: {
		struct sl_lp_started m;
		if (sl_lp_decode_started(body, n, &m, &why) != 0) {
			sub_protocol_error(sub, "undecodable started from the server (%s)", why);
			return;
		}
		if (sub->cb.on_started)
			sub->cb.on_started(sub->user, m.partition, m.offset);
		return;
	}
	case SL_LP_RECORDS: {
		struct sl_lp_records m;
		if (sl_lp_decode_records(body, n, &lc->cfg.limits, &m, &why) != 0) {
			sub_protocol_error(sub, "undecodable records from the server (%s)", why);
			return;
		}
		lc->stats.records_messages++;
		lc->stats.records_received += m.count;
		if (sub->cb.on_records)
			sub->cb.on_records(sub->user, &m);
		return;
	}
	case SL_LP_COMMIT_OK: {
		struct sl_lp_commit m;
		if (sl_lp_decode_commit(body, n, &m, &why) != 0) {
			sub_protocol_error(sub, "undecodable commit_ok from the server (%s)", why);
			return;
		}
		if (sub->cb.on_commit_ok)
			sub->cb.on_commit_ok(sub->user, m.partition, m.offset);
		return;
	}
	case SL_LP_REMOVED: {
		uint32_t partition;
		if (sl_lp_decode_removed(body, n, &partition, &why) != 0) {
			sub_protocol_error(sub, "undecodable removed from the server (%s)", why);
			return;
		}
		if (sub->cb.on_removed)
			sub->cb.on_removed(sub->user, partition);
		return;
	}
	case SL_LP_ERROR: {
		struct sl_lp_error e;
		if (sl_lp_decode_error(body, n, &e, &why) != 0) {
			sub_protocol_error(sub, "undecodable error from the server (%s)", why);
			return;
		}
		count_error(lc, e.code);
		if (sub->cb.on_error)
			sub->cb.on_error(sub->user, &e);
		return;
	}
	default:
		sub_protocol_error(sub,
				   "unexpected message type %llu (%s) on a subscription stream",
				   (unsigned long long)type, sl_lp_type_name(type));
		return;
	}
}

/* One message of stream st (sub NULL: the request stream). */
static void dispatch(struct sl_logclient *lc, struct sl_logclient_sub *sub, uint64_t type,
		     const uint8_t *body, size_t n)
{
	if (sub)
		sub_dispatch(sub, type, body, n);
	else
		req_dispatch(lc, type, body, n);
}

static void too_large(struct sl_logclient *lc, struct sl_logclient_sub *sub, uint64_t type,
		      uint64_t len)
{
	if (sub)
		sub_protocol_error(sub, "a %s message of %llu bytes is over the limit of %llu",
				   sl_lp_type_name(type), (unsigned long long)len,
				   (unsigned long long)lc->cfg.max_message_bytes);
	else
		req_protocol_error(lc, "a %s message of %llu bytes is over the limit of %llu",
				   sl_lp_type_name(type), (unsigned long long)len,
				   (unsigned long long)lc->cfg.max_message_bytes);
}

static int rx_reserve(struct rxbuf *rx, size_t need)
{
	if (need <= rx->cap)
		return 0;
	size_t cap = rx->cap ? rx->cap : 4096;
	while (cap < need)
		cap *= 2;
	uint8_t *p = realloc(rx->p, cap);
	if (p == NULL)
		return SL_ENOMEM;
	rx->p = p;
	rx->cap = cap;
	return 0;
}

/*
 * Parses the stream's bytes into messages. Whole messages inside d are dispatched where they
 * lie; a message split across calls is gathered in st->rx, whose growth max_message_bytes
 * bounds. Returns false when the stream was dropped on the way (by a protocol error or by the
 * application), so the caller stops.
 */
static bool feed(struct sl_logclient *lc, struct sl_logclient_stream *st,
		 struct sl_logclient_sub *sub, const uint8_t *d, size_t n)
{
	uint32_t gen = st->gen;
	struct sl_lp_header h;
	while (n > 0) {
		if (st->rx.len == 0) {
			while (n > 0 && sl_lp_header_parse(d, n, &h) == 0) {
				if (h.len > lc->cfg.max_message_bytes) {
					too_large(lc, sub, h.type, h.len);
					return false;
				}
				if (n - h.hdr_len < h.len)
					break;
				dispatch(lc, sub, h.type, d + h.hdr_len, (size_t)h.len);
				if (st->gen != gen)
					return false;
				d += h.hdr_len + h.len;
				n -= h.hdr_len + h.len;
			}
			if (n == 0)
				break;
		}
		/* Gather: up to the end of the current message when its header is known, else
		 * just enough bytes to hold any header. */
		size_t want;
		if (sl_lp_header_parse(st->rx.p, st->rx.len, &h) == 0)
			want = h.hdr_len + (size_t)h.len - st->rx.len;
		else
			want = MAX_HEADER - st->rx.len;
		size_t take = want < n ? want : n;
		if (rx_reserve(&st->rx, st->rx.len + take) != 0) {
			if (sub)
				sub_protocol_error(sub, "out of memory gathering a message");
			else
				req_protocol_error(lc, "out of memory gathering a message");
			return false;
		}
		memcpy(st->rx.p + st->rx.len, d, take);
		st->rx.len += take;
		d += take;
		n -= take;
		size_t off = 0;
		while (sl_lp_header_parse(st->rx.p + off, st->rx.len - off, &h) == 0) {
			if (h.len > lc->cfg.max_message_bytes) {
				too_large(lc, sub, h.type, h.len);
				return false;
			}
			if (st->rx.len - off - h.hdr_len < h.len)
				break;
			dispatch(lc, sub, h.type, st->rx.p + off + h.hdr_len, (size_t)h.len);
			if (st->gen != gen)
				return false;
			off += h.hdr_len + (size_t)h.len;
		}
		if (off > 0) {
			memmove(st->rx.p, st->rx.p + off, st->rx.len - off);
			st->rx.len -= off;
		}
	}
	return true;
}

/* The live subscription whose stream st is, or NULL (st is the request stream, or its
 * subscription is over). */
static struct sl_logclient_sub *sub_of(struct sl_logclient *lc, struct sl_logclient_stream *st)
{
	if (st == &lc->req)
		return NULL;
	struct sl_logclient_sub *sub =
		(struct sl_logclient_sub *)(void *)((char *)st -
						    offsetof(struct sl_logclient_sub, st));
	return sub->ended || sub->unsubscribed ? NULL : sub;
}

void sl_logclient_stream_data(struct sl_logclient *lc, struct sl_logclient_stream *st,
			      const uint8_t *d, size_t n, bool fin)
{
	if (lc->closed || st == NULL)
		return;
	lc->stats.bytes_in += n;
	lc->busy++;
	if (st == &lc->req) {
		if (feed(lc, &lc->req, NULL, d, n) && fin) {
			if (lc->req.rx.len > 0) {
				req_protocol_error(lc, "the request stream ended inside a message");
			} else if (lc->in_flight > 0) {
				req_fail(lc, SL_LOGCLIENT_ERR_RESET, 0,
					 "the server ended the request stream with requests "
					 "unanswered",
					 0);
			} else {
				/* A clean end with nothing owed: close our side too, and let the
				 * next request open a new stream. */
				lc->tr->write(lc->t, lc->req.h, (struct sl_slice){0}, true);
				stream_forget(lc, &lc->req);
				lc->req.gen++;
				outq_drop(&lc->req.out);
			}
		}
	} else {
		struct sl_logclient_sub *sub = sub_of(lc, st);
		if (sub && feed(lc, &sub->st, sub, d, n) && fin) {
			if (sub->st.rx.len > 0) {
				sub_protocol_error(sub, "the subscription stream ended inside a "
							"message");
			} else {
				lc->tr->write(lc->t, sub->st.h, (struct sl_slice){0}, true);
				sub_end(sub, 0, 0, NULL);
			}
		}
	}
	leave(lc);
}

void sl_logclient_stream_reset(struct sl_logclient *lc, struct sl_logclient_stream *st,
			       uint64_t code)
{
	if (lc->closed || st == NULL)
		return;
	lc->busy++;
	if (st == &lc->req) {
		snprintf(lc->why, sizeof(lc->why),
			 "the server reset the request stream (code %llu)",
			 (unsigned long long)code);
		/* Our side is reset too, so the stream ends in both directions. */
		req_fail(lc, SL_LOGCLIENT_ERR_RESET, code, lc->why, 0);
	} else {
		struct sl_logclient_sub *sub = sub_of(lc, st);
		if (sub) {
			lc->tr->reset(lc->t, st->h, 0);
			sub_end(sub, SL_LOGCLIENT_ERR_RESET, code, NULL);
		}
	}
	leave(lc);
}

void sl_logclient_stream_closed(struct sl_logclient *lc, struct sl_logclient_stream *st)
{
	(void)lc;
	if (st != NULL)
		st->h = NULL;
}

void sl_logclient_connected(struct sl_logclient *lc)
{
	lc->connected = true;
}

void sl_logclient_closed(struct sl_logclient *lc, uint64_t error)
{
	if (lc->closed)
		return;
	lc->closed = true;
	lc->busy++;
	snprintf(lc->why, sizeof(lc->why), "the connection closed (error %llu)",
		 (unsigned long long)error);
	req_fail(lc, SL_LOGCLIENT_ERR_CLOSED, error, lc->why, -1);
	for (struct sl_logclient_sub *sub = lc->subs; sub; sub = sub->next)
		sub_end(sub, SL_LOGCLIENT_ERR_CLOSED, error, NULL);
	leave(lc);
}

/* Opens st when due and hands it its bytes. Returns false when the stream failed (the caller
 * drops it). */
static int stream_flush(struct sl_logclient *lc, struct sl_logclient_stream *st)
{
	if (st->out.buf == NULL || st->out.buf->len == st->out.sent)
		return 0;
	if (st->h == NULL) {
		int rc = lc->tr->open_bidi(lc->t, st, &st->h);
		if (rc != 0) {
			st->h = NULL;
			/* The peer's stream limit: try again on a later poll. */
			return rc == SL_EBUSY ? 0 : rc;
		}
	}
	return outq_flush(lc, st);
}

void sl_logclient_poll(struct sl_logclient *lc, uint64_t now_ns)
{
	(void)now_ns;
	if (lc->closed || !lc->connected)
		return;
	lc->busy++;
	int rc = stream_flush(lc, &lc->req);
	if (rc != 0) {
		snprintf(lc->why, sizeof(lc->why), "the request stream cannot be written: %s",
			 sl_strerror(rc));
		req_fail(lc, SL_LOGCLIENT_ERR_RESET, 0, lc->why, 0);
	}
	for (struct sl_logclient_sub *sub = lc->subs; sub; sub = sub->next) {
		if (sub->ended || sub->unsubscribed)
			continue;
		if ((rc = stream_flush(lc, &sub->st)) != 0) {
			if (sub->st.h)
				lc->tr->reset(lc->t, sub->st.h, 0);
			sub_end(sub, SL_LOGCLIENT_ERR_RESET, 0, NULL);
		}
	}
	leave(lc);
}

/* ---- requests ---- */

static bool name_ok(struct sl_lp_bytes stream)
{
	return stream.p != NULL && sl_stream_name_valid((const char *)stream.p, stream.n);
}

int sl_logclient_produce(struct sl_logclient *lc, const struct sl_lp_produce *m,
			 const struct sl_lp_bytes *recs, void *cookie, uint64_t now_ns,
			 uint64_t *request_id)
{
	if (!name_ok(m->stream) || (m->keyed && m->key.n > SL_LP_MAX_KEY) ||
	    m->durability > SL_LP_DURABLE || (m->count > 0 && recs == NULL))
		return SL_EINVAL;
	if (lc->closed)
		return SL_ECLOSED;
	if (lc->in_flight == lc->nslots)
		return SL_EBUSY;
	struct sl_lp_produce p = *m;
	/* The id is not known yet, and the size depends on it: reserve for the largest varint
	 * (8 bytes) and write the real one. */
	p.request_id = (UINT64_C(1) << 62) - 1;
	size_t need = sl_lp_produce_size(&p, recs);
	if (need == 0)
		return SL_ERANGE;
	int rc = outq_room(lc, &lc->req.out, need);
	if (rc != 0)
		return rc;
	struct slot *s = slot_take(lc, KIND_PRODUCE);
	p.request_id = s->id;
	struct sl_writer w;
	outq_writer(&lc->req.out, &w);
	if ((rc = sl_lp_write_produce(&w, &p, recs)) != 0) {
		s->kind = KIND_FREE;
		lc->in_flight--;
		return rc;
	}
	outq_commit(&lc->req.out, &w);
	s->cookie = cookie;
	s->sent_ns = now_ns;
	s->count = m->count;
	lc->stats.produce_requests++;
	lc->stats.records_sent += m->count;
	if (request_id)
		*request_id = s->id;
	return 0;
}

int sl_logclient_hwm(struct sl_logclient *lc, struct sl_lp_bytes stream, void *cookie,
		     uint64_t now_ns, uint64_t *request_id)
{
	if (!name_ok(stream))
		return SL_EINVAL;
	if (lc->closed)
		return SL_ECLOSED;
	if (lc->in_flight == lc->nslots)
		return SL_EBUSY;
	/* Header, request id, the name and its length: every varint takes at most 8 bytes. */
	int rc = outq_room(lc, &lc->req.out, MAX_HEADER + 8 + 8 + stream.n);
	if (rc != 0)
		return rc;
	struct slot *s = slot_take(lc, KIND_HWM);
	struct sl_lp_hwm m = {.request_id = s->id, .stream = stream};
	struct sl_writer w;
	outq_writer(&lc->req.out, &w);
	if ((rc = sl_lp_write_hwm(&w, &m)) != 0) {
		s->kind = KIND_FREE;
		lc->in_flight--;
		return rc;
	}
	outq_commit(&lc->req.out, &w);
	s->cookie = cookie;
	s->sent_ns = now_ns;
	s->count = 0;
	lc->stats.hwm_requests++;
	if (request_id)
		*request_id = s->id;
	return 0;
}

uint32_t sl_logclient_in_flight(const struct sl_logclient *lc)
{
	return lc->in_flight;
}

/* ---- subscriptions ---- */

/* The committed kinds only on a named subscription. */
static bool starts_ok(const struct sl_lp_start *s, uint32_t n, bool named)
{
	uint8_t max = named ? SL_LP_START_COMMITTED_OR_LATEST : SL_LP_START_OFFSET;
	for (uint32_t i = 0; i < n; i++)
		if (s[i].kind > max || s[i].partition == SL_LP_NO_PARTITION)
			return false;
	return true;
}

/* The bytes a list of starts takes at most: partition, kind and offset, at most 8 bytes each
 * (the estimates below count every field as a full varint, so they never fall short). */
static size_t starts_max(uint32_t n)
{
	return (size_t)n * 24;
}

static int subscribe(struct sl_logclient *lc, struct sl_lp_bytes consumer,
		     struct sl_lp_bytes stream, uint8_t isolation, const struct sl_lp_start *starts,
		     uint32_t count, const struct sl_logclient_sub_callbacks *cb, void *user,
		     struct sl_logclient_sub **out)
{
	bool named = consumer.n > 0;
	if (!name_ok(stream) || isolation > SL_LP_ISO_APPLIED || cb == NULL ||
	    (count > 0 && starts == NULL) || !starts_ok(starts, count, named) ||
	    (named && !name_ok(consumer)))
		return SL_EINVAL;
	if (lc->closed)
		return SL_ECLOSED;
	struct sl_logclient_sub *sub = calloc(1, sizeof(*sub));
	if (sub == NULL)
		return SL_ENOMEM;
	sub->lc = lc;
	sub->cb = *cb;
	sub->user = user;
	sub->named = named;
	stream_init(&sub->st);
	/* Header, the names and their lengths, isolation, count, starts. */
	int rc = outq_room(lc, &sub->st.out,
			   MAX_HEADER + 8 + consumer.n + 8 + stream.n + 8 + 8 + starts_max(count));
	struct sl_writer w;
	if (rc == 0) {
		outq_writer(&sub->st.out, &w);
		rc = named ? sl_lp_write_subscribe_named(&w, consumer, stream, isolation, starts,
							 count)
			   : sl_lp_write_subscribe(&w, stream, isolation, starts, count);
	}
	if (rc != 0) {
		sub_free(sub);
		return rc;
	}
	outq_commit(&sub->st.out, &w);
	sub->next = lc->subs;
	lc->subs = sub;
	lc->stats.subscriptions++;
	*out = sub;
	return 0;
}

int sl_logclient_subscribe(struct sl_logclient *lc, struct sl_lp_bytes stream, uint8_t isolation,
			   const struct sl_lp_start *starts, uint32_t count,
			   const struct sl_logclient_sub_callbacks *cb, void *user,
			   struct sl_logclient_sub **out)
{
	struct sl_lp_bytes none = {NULL, 0};
	return subscribe(lc, none, stream, isolation, starts, count, cb, user, out);
}

int sl_logclient_subscribe_named(struct sl_logclient *lc, struct sl_lp_bytes consumer,
				 struct sl_lp_bytes stream, uint8_t isolation,
				 const struct sl_lp_start *starts, uint32_t count,
				 const struct sl_logclient_sub_callbacks *cb, void *user,
				 struct sl_logclient_sub **out)
{
	if (consumer.n == 0)
		return SL_EINVAL;
	return subscribe(lc, consumer, stream, isolation, starts, count, cb, user, out);
}

int sl_logclient_commit(struct sl_logclient_sub *sub, uint32_t partition, uint64_t offset)
{
	if (!sub->named || partition == SL_LP_NO_PARTITION || offset > SL_VARINT_MAX)
		return SL_EINVAL;
	if (sub->ended || sub->unsubscribed || sub->lc->closed)
		return SL_ECLOSED;
	struct outq *q = &sub->st.out;
	int rc = outq_room(sub->lc, q, MAX_HEADER + 16);
	if (rc != 0)
		return rc;
	struct sl_writer w;
	outq_writer(q, &w);
	struct sl_lp_commit m = {partition, offset};
	if ((rc = sl_lp_write_commit(&w, SL_LP_COMMIT, &m)) != 0)
		return rc;
	outq_commit(q, &w);
	return 0;
}

int sl_logclient_assign(struct sl_logclient_sub *sub, const struct sl_lp_start *adds, uint32_t nadd,
			const uint32_t *removes, uint32_t nremove)
{
	if ((nadd == 0 && nremove == 0) || (nadd > 0 && adds == NULL) ||
	    (nremove > 0 && removes == NULL) || !starts_ok(adds, nadd, sub->named))
		return SL_EINVAL;
	if (sub->ended || sub->unsubscribed || sub->lc->closed)
		return SL_ECLOSED;
	struct outq *q = &sub->st.out;
	int rc = outq_room(sub->lc, q, MAX_HEADER + 8 + starts_max(nadd) + 8 + (size_t)nremove * 8);
	if (rc != 0)
		return rc;
	struct sl_writer w;
	outq_writer(q, &w);
	if ((rc = sl_lp_write_assign(&w, adds, nadd, removes, nremove)) != 0)
		return rc;
	outq_commit(q, &w);
	sub->lc->stats.assigns++;
	return 0;
}

void sl_logclient_unsubscribe(struct sl_logclient_sub *sub)
{
	if (sub == NULL || sub->unsubscribed)
		return;
	struct sl_logclient *lc = sub->lc;
	if (sub->st.h && !sub->ended && !lc->closed)
		lc->tr->reset(lc->t, sub->st.h, 0);
	sub->unsubscribed = true;
	sub->st.gen++;
	lc->reap = true;
	reap(lc);
}

void sl_logclient_stats(const struct sl_logclient *lc, struct sl_logclient_stats *out)
{
	*out = lc->stats;
}

/* ---- over the QUIC client runtime ---- */

static int ct_open(void *t, void *user, void **handle)
{
	struct sl_quic_stream *qs;
	int rc = sl_client_stream_open(t, true, user, &qs);
	if (rc == 0)
		*handle = qs;
	return rc;
}

static int ct_write(void *t, void *h, struct sl_slice data, bool fin)
{
	return sl_client_stream_write(t, h, data, fin);
}

static int ct_reset(void *t, void *h, uint64_t code)
{
	return sl_client_stream_reset(t, h, code);
}

static void ct_release(void *t, void *h)
{
	sl_client_stream_release(t, h);
}

static const struct sl_logclient_transport client_transport = {
	.open_bidi = ct_open,
	.write = ct_write,
	.reset = ct_reset,
	.release = ct_release,
};

static void app_connected(void *app, struct sl_client_conn *c)
{
	(void)c;
	sl_logclient_connected(app);
}

static void app_data(void *app, void *user, const uint8_t *d, size_t n, bool fin)
{
	sl_logclient_stream_data(app, user, d, n, fin);
}

static void app_reset(void *app, void *user, uint64_t code)
{
	sl_logclient_stream_reset(app, user, code);
}

static void app_stream_close(void *app, void *user)
{
	sl_logclient_stream_closed(app, user);
}

static void app_closed(void *app, uint64_t error)
{
	sl_logclient_closed(app, error);
}

static void app_poll(void *app, uint64_t now_ns)
{
	sl_logclient_poll(app, now_ns);
}

/* The server opens no streams in this protocol; one it opens anyway has no pointer of ours
 * (no on_stream_open), so its events are not reported. */
static const struct sl_client_app_ops app_ops = {
	.on_connected = app_connected,
	.on_stream_data = app_data,
	.on_stream_reset = app_reset,
	.on_stream_close = app_stream_close,
	.on_closed = app_closed,
	.poll = app_poll,
};

int sl_logclient_connect(struct sl_client *cl, const char *url,
			 const struct sl_logclient_config *cfg,
			 const struct sl_logclient_callbacks *cb, void *user,
			 struct sl_logclient **out, struct sl_client_conn **conn)
{
	struct sl_logclient *lc;
	int rc = sl_logclient_new(cfg, &client_transport, NULL, cb, user, &lc);
	if (rc != 0)
		return rc;
	struct sl_client_conn *c;
	rc = sl_client_connect_app(cl, url, SL_LP_ALPN, &app_ops, lc, &c);
	if (rc != 0) {
		sl_logclient_free(lc);
		return rc;
	}
	/* No callback runs before the client's loop does, so the transport argument can be
	 * filled in after the connection exists. */
	lc->t = c;
	lc->conn = c;
	*out = lc;
	if (conn)
		*conn = c;
	return 0;
}
