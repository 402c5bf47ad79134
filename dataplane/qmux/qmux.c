/* SPDX-License-Identifier: Apache-2.0 */
#include "qmux/qmux.h"
#include "core/bytes.h"
#include "core/err.h"
#include "core/pool.h"
#include "core/u64map.h"
#include "core/varint.h"

#include <stdlib.h>
#include <string.h>

/* Frame types (QUIC v1 encodings, and qmux's own). */
#define FT_PADDING	       0x00
#define FT_RESET_STREAM	       0x04
#define FT_STOP_SENDING	       0x05
#define FT_STREAM	       0x08 /* 0x08-0x0f */
#define FT_MAX_DATA	       0x10
#define FT_MAX_STREAM_DATA     0x11
#define FT_MAX_STREAMS_BIDI    0x12
#define FT_MAX_STREAMS_UNI     0x13
#define FT_DATA_BLOCKED	       0x14
#define FT_STREAM_DATA_BLOCKED 0x15
#define FT_STREAMS_BLOCKED_B   0x16
#define FT_STREAMS_BLOCKED_U   0x17
#define FT_CONNECTION_CLOSE    0x1c
#define FT_APPLICATION_CLOSE   0x1d
#define FT_RESET_STREAM_AT     0x24
#define FT_DATAGRAM	       0x30
#define FT_DATAGRAM_LEN	       0x31
#define FT_QX_TP	       UINT64_C(0x3f5153300d0a0d0a)
#define FT_QX_PING_REQ	       UINT64_C(0x348c67529ef8c7bd)
#define FT_QX_PING_RESP	       UINT64_C(0x348c67529ef8c7be)

/* Transport parameter ids. */
#define TP_MAX_IDLE_TIMEOUT	0x01
#define TP_MAX_DATA		0x04
#define TP_MAX_SD_BIDI_LOCAL	0x05
#define TP_MAX_SD_BIDI_REMOTE	0x06
#define TP_MAX_SD_UNI		0x07
#define TP_MAX_STREAMS_BIDI	0x08
#define TP_MAX_STREAMS_UNI	0x09
#define TP_RESET_STREAM_AT	0x1d
#define TP_MAX_DATAGRAM		0x20
#define TP_MAX_RECORD_SIZE	UINT64_C(0x0571c59429cd0845)
#define TP_ALPN			UINT64_C(0x3d4f9c2a8b1e6075)
#define SL_QMUX_MIN_RECORD	16382
#define SL_QMUX_00_MAX_MSG	16384 /* qmux-00 and legacy: one frame, at most this */
#define SL_QMUX_MAX_STREAMS_CAP (UINT64_C(1) << 60)

enum { RX_NONE, RX_OPEN, RX_DONE };
enum { TX_NONE, TX_OPEN, TX_FIN_QUEUED, TX_DONE };
enum { ST_OPEN, ST_CLOSING, ST_CLOSED };

struct sl_qmux_chunk {
	struct sl_slice s;
	struct sl_qmux_chunk *next;
};

struct sl_qmux_stream {
	uint64_t id;
	void *user;
	/* receive side: bytes arrive in order, so the highest offset is also what was delivered */
	uint64_t rx_off;
	uint64_t rx_max;      /* credit advertised to the peer */
	uint64_t rx_window;   /* how far ahead of rx_off the credit is kept */
	uint64_t rx_final;    /* UINT64_MAX until a FIN or reset says */
	uint64_t rx_reliable; /* RESET_STREAM_AT waiting for this many bytes, else UINT64_MAX */
	uint64_t rx_reset_code;
	/* send side */
	uint64_t tx_off;    /* bytes put into frames */
	uint64_t tx_queued; /* bytes ever queued */
	uint64_t tx_max;    /* the peer's credit */
	uint64_t tx_acked;  /* bytes committed, not yet reported through on_stream_acked */
	struct sl_qmux_chunk *head, *tail;
	uint32_t head_off; /* bytes of head already sent */
	uint64_t reset_code, stop_code;
	uint64_t order, seq;
	uint8_t rx, tx;
	bool need_reset, need_stop, need_msd;
	bool in_send, in_ctl, in_acked;
	uint32_t busy; /* inside a callback or a flush's bookkeeping: do not free */
	struct sl_qmux_stream *snext, *sprev; /* send list, sorted by (order, seq) */
	struct sl_qmux_stream *cnext;	      /* control list */
	struct sl_qmux_stream *anext;	      /* acked list */
	struct sl_qmux_stream *next, *prev;   /* every stream of the connection */
};

struct peer_params {
	uint64_t idle_ms, max_data, sd_bidi_local, sd_bidi_remote, sd_uni;
	uint64_t streams_bidi, streams_uni, record_size;
	bool reset_stream_at;
};

struct sl_qmux_conn {
	struct sl_qmux_config cfg;
	struct sl_qmux_callbacks cb;
	void *arg;
	int state;
	bool multi; /* several frames per message (qmux-01/02) */
	bool legacy;
	bool peer_tp;
	struct peer_params peer;
	/* receive flow control */
	uint64_t rx_recv; /* bytes received (and so consumed) over every stream */
	uint64_t rx_max;  /* MAX_DATA advertised */
	bool need_max_data;
	/* send flow control */
	uint64_t tx_total; /* stream bytes sent */
	uint64_t tx_max;
	/* stream counts: [0] bidi, [1] uni */
	uint64_t local_next[2], peer_next[2];
	uint64_t tx_streams_max[2]; /* the peer's limit on ours */
	uint64_t rx_streams_max[2]; /* our limit on the peer's */
	uint64_t peer_closed[2];
	bool need_max_streams[2];
	/* pings */
	bool tp_sent;
	bool need_ping;
	uint64_t ping_next; /* sequence of our next request */
	bool need_pong;
	uint64_t pong_seq;
	bool rx_ping_seen;
	uint64_t rx_ping_last;
	uint64_t last_rx_ns, last_tx_ns;
	/* close */
	struct sl_qmux_close_info close;
	char close_reason[128];
	bool close_transport; /* our close is a CONNECTION_CLOSE (else APPLICATION_CLOSE) */
	/* streams */
	struct sl_u64map map;
	struct sl_pool streams, chunks;
	struct sl_qmux_stream *all;
	struct sl_qmux_stream *zombies; /* closed by finish() while inside one of their callbacks */
	struct sl_qmux_stream *send_head, *send_tail;
	struct sl_qmux_stream *ctl_head, *ctl_tail;
	struct sl_qmux_stream *acked_head;
	uint64_t seq;
	/* the message being written by a flush */
	uint8_t *rec;
	size_t rec_cap, rec_len;
	struct sl_qmux_stats st;
};

const char *const sl_qmux_frame_kind_names[SL_QMUX_FK_COUNT] = {
	"padding",	    "stream",		"reset_stream",	     "reset_stream_at",
	"stop_sending",	    "max_data",		"max_stream_data",   "max_streams",
	"blocked",	    "connection_close", "application_close", "datagram",
	"transport_params", "ping_request",	"ping_response",
};

void sl_qmux_config_default(struct sl_qmux_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->server = true;
	cfg->framing = SL_WS_QMUX01;
	cfg->idle_timeout_ms = 30000;
	cfg->max_data = 1048576;
	cfg->max_stream_data_bidi_local = 262144;
	cfg->max_stream_data_bidi_remote = 262144;
	cfg->max_stream_data_uni = 262144;
	cfg->max_streams_bidi = 100;
	cfg->max_streams_uni = 100;
	cfg->max_record_size = SL_QMUX_MIN_RECORD;
	cfg->max_open_streams = 4096;
}

/* ------------------------------------------------------------------------------------------ */
/* stream ids and lists                                                                       */
/* ------------------------------------------------------------------------------------------ */

static inline bool id_uni(uint64_t id)
{
	return (id & 2) != 0;
}

static inline bool id_local(const struct sl_qmux_conn *c, uint64_t id)
{
	return ((id & 1) != 0) == c->cfg.server;
}

static void send_remove(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	if (!s->in_send)
		return;
	if (s->sprev)
		s->sprev->snext = s->snext;
	else
		c->send_head = s->snext;
	if (s->snext)
		s->snext->sprev = s->sprev;
	else
		c->send_tail = s->sprev;
	s->snext = s->sprev = NULL;
	s->in_send = false;
}

/* Inserts s by (order, seq), scanning from the tail: new data usually goes last. */
static void send_insert(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	if (s->in_send)
		return;
	s->seq = c->seq++;
	struct sl_qmux_stream *p = c->send_tail;
	while (p != NULL && p->order > s->order)
		p = p->sprev;
	s->sprev = p;
	s->snext = p ? p->snext : c->send_head;
	if (s->snext)
		s->snext->sprev = s;
	else
		c->send_tail = s;
	if (p)
		p->snext = s;
	else
		c->send_head = s;
	s->in_send = true;
}

static void ctl_add(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	if (s->in_ctl)
		return;
	s->in_ctl = true;
	s->cnext = NULL;
	if (c->ctl_tail)
		c->ctl_tail->cnext = s;
	else
		c->ctl_head = s;
	c->ctl_tail = s;
}

static void release_chunks(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	struct sl_qmux_chunk *k = s->head;
	while (k) {
		struct sl_qmux_chunk *n = k->next;
		sl_buf_unref(k->s.buf);
		sl_pool_put(&c->chunks, k);
		k = n;
	}
	s->head = s->tail = NULL;
	s->head_off = 0;
}

static void maybe_grant_streams(struct sl_qmux_conn *c, int t)
{
	uint64_t init = t ? c->cfg.max_streams_uni : c->cfg.max_streams_bidi;
	uint64_t target = c->peer_closed[t] + init;
	uint64_t step = init / 2 ? init / 2 : 1;
	if (target >= c->rx_streams_max[t] + step && target <= SL_QMUX_MAX_STREAMS_CAP) {
		c->rx_streams_max[t] = target;
		c->need_max_streams[t] = true;
	}
}

static void stream_free(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	release_chunks(c, s);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->all = s->next;
	if (s->next)
		s->next->prev = s->prev;
	sl_u64map_remove(&c->map, s->id);
	sl_pool_put(&c->streams, s);
	c->st.streams_open--;
}

/* Closes s when both sides are done and nothing about it is left to send. */
static void maybe_close(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	if (s->busy || s->rx != RX_DONE || s->tx != TX_DONE || s->in_send || s->in_ctl ||
	    s->in_acked || c->state == ST_CLOSED)
		return;
	s->busy++;
	if (c->cb.on_stream_close)
		c->cb.on_stream_close(c->arg, s, s->user);
	s->busy--;
	c->st.streams_closed++;
	if (!id_local(c, s->id)) {
		int t = id_uni(s->id);
		c->peer_closed[t]++;
		if (!c->legacy)
			maybe_grant_streams(c, t);
	}
	stream_free(c, s);
}

static struct sl_qmux_stream *stream_new(struct sl_qmux_conn *c, uint64_t id)
{
	struct sl_qmux_stream *s = sl_pool_zget(&c->streams);
	if (s == NULL)
		return NULL;
	if (sl_u64map_insert(&c->map, id, (uint64_t)(uintptr_t)s) != 0) {
		sl_pool_put(&c->streams, s);
		return NULL;
	}
	s->id = id;
	s->rx_final = UINT64_MAX;
	s->rx_reliable = UINT64_MAX;
	bool local = id_local(c, id), uni = id_uni(id);
	const struct sl_qmux_config *k = &c->cfg;
	if (uni && local) {
		s->rx = RX_DONE; /* no receiving side */
		s->tx = TX_OPEN;
		s->tx_max = c->peer.sd_uni;
	} else if (uni) {
		s->rx = RX_OPEN;
		s->rx_window = k->max_stream_data_uni;
		s->tx = TX_DONE; /* no sending side */
	} else if (local) {
		s->rx = RX_OPEN;
		s->rx_window = k->max_stream_data_bidi_local;
		s->tx = TX_OPEN;
		s->tx_max = c->peer.sd_bidi_remote;
	} else {
		s->rx = RX_OPEN;
		s->rx_window = k->max_stream_data_bidi_remote;
		s->tx = TX_OPEN;
		s->tx_max = c->peer.sd_bidi_local;
	}
	if (c->legacy) {
		s->rx_window = UINT64_MAX;
		s->tx_max = UINT64_MAX;
	}
	s->rx_max = s->rx_window;
	s->next = c->all;
	if (c->all)
		c->all->prev = s;
	c->all = s;
	c->st.streams_open++;
	return s;
}

static struct sl_qmux_stream *stream_get(const struct sl_qmux_conn *c, uint64_t id)
{
	uint64_t v;
	if (!sl_u64map_get(&c->map, id, &v))
		return NULL;
	return (struct sl_qmux_stream *)(uintptr_t)v;
}

/* ------------------------------------------------------------------------------------------ */
/* closing                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static void finish(struct sl_qmux_conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	c->state = ST_CLOSED;
	/* Every stream hears its close before the connection's. */
	while (c->all) {
		struct sl_qmux_stream *s = c->all;
		send_remove(c, s);
		s->busy++;
		if (c->cb.on_stream_close)
			c->cb.on_stream_close(c->arg, s, s->user);
		s->busy--;
		c->st.streams_closed++;
		if (s->busy == 0) {
			stream_free(c, s);
			continue;
		}
		/* The connection was closed from inside a callback of s (sl_qmux_abort): the
		 * caller still holds s, so it is kept until sl_qmux_conn_free. */
		release_chunks(c, s);
		c->all = s->next;
		if (s->next)
			s->next->prev = NULL;
		sl_u64map_remove(&c->map, s->id);
		c->st.streams_open--;
		s->next = c->zombies;
		c->zombies = s;
	}
	c->send_head = c->send_tail = NULL;
	c->ctl_head = c->ctl_tail = NULL;
	c->acked_head = NULL;
	if (c->cb.on_closed)
		c->cb.on_closed(c->arg, &c->close);
}

static void set_reason(struct sl_qmux_conn *c, const char *p, size_t n)
{
	if (n >= sizeof(c->close_reason))
		n = sizeof(c->close_reason) - 1;
	if (n)
		memcpy(c->close_reason, p, n);
	c->close_reason[n] = '\0';
	c->close.reason = c->close_reason;
	c->close.reason_len = n;
}

/* A transport error found on receive: CONNECTION_CLOSE goes out on the next flush. */
static int conn_error(struct sl_qmux_conn *c, uint64_t code, uint64_t frame_type,
		      const char *reason)
{
	if (c->state != ST_OPEN)
		return SL_ECORRUPT;
	c->state = ST_CLOSING;
	c->close_transport = true;
	memset(&c->close, 0, sizeof(c->close));
	c->close.code = code;
	c->close.frame_type = frame_type;
	set_reason(c, reason, strlen(reason));
	c->st.errors_local++;
	return SL_ECORRUPT;
}

void sl_qmux_close(struct sl_qmux_conn *c, uint64_t app_error, const char *reason)
{
	if (c->state != ST_OPEN)
		return;
	c->state = ST_CLOSING;
	c->close_transport = false;
	memset(&c->close, 0, sizeof(c->close));
	c->close.code = app_error;
	c->close.app = true;
	set_reason(c, reason ? reason : "", reason ? strlen(reason) : 0);
}

void sl_qmux_abort(struct sl_qmux_conn *c)
{
	if (c->state == ST_CLOSED)
		return;
	if (c->state == ST_OPEN) {
		memset(&c->close, 0, sizeof(c->close));
		c->close.remote = true;
		set_reason(c, "transport closed", 16);
	}
	finish(c);
}

/* ------------------------------------------------------------------------------------------ */
/* creation                                                                                   */
/* ------------------------------------------------------------------------------------------ */

int sl_qmux_conn_new(const struct sl_qmux_config *cfg, const struct sl_qmux_callbacks *cb,
		     void *arg, uint64_t now_ns, struct sl_qmux_conn **out)
{
	if (cb->tx_alloc == NULL || cb->tx_commit == NULL || cfg->framing > SL_WS_LEGACY ||
	    cfg->max_record_size < SL_QMUX_MIN_RECORD || cfg->max_open_streams == 0 ||
	    cfg->max_streams_bidi > SL_QMUX_MAX_STREAMS_CAP ||
	    cfg->max_streams_uni > SL_QMUX_MAX_STREAMS_CAP || cfg->max_data > SL_VARINT_MAX ||
	    cfg->max_stream_data_bidi_local > SL_VARINT_MAX ||
	    cfg->max_stream_data_bidi_remote > SL_VARINT_MAX ||
	    cfg->max_stream_data_uni > SL_VARINT_MAX || cfg->idle_timeout_ms > SL_VARINT_MAX)
		return SL_EINVAL;
	struct sl_qmux_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->cfg = *cfg;
	c->cb = *cb;
	c->arg = arg;
	c->legacy = cfg->framing == SL_WS_LEGACY;
	c->multi = cfg->framing == SL_WS_QMUX01 || cfg->framing == SL_WS_QMUX02;
	if (sl_u64map_init(&c->map, 64) != 0 ||
	    sl_pool_init(&c->streams, "qmux streams", sizeof(struct sl_qmux_stream), 0, 64,
			 cfg->max_open_streams) != 0 ||
	    sl_pool_init(&c->chunks, "qmux chunks", sizeof(struct sl_qmux_chunk), 0, 256, 0) != 0) {
		sl_u64map_fini(&c->map);
		free(c);
		return SL_ENOMEM;
	}
	c->last_rx_ns = c->last_tx_ns = now_ns;
	c->peer.record_size = SL_QMUX_MIN_RECORD;
	if (c->legacy) {
		/* No parameters, no flow control, no limits: everything is open from the start. */
		c->peer_tp = true;
		c->tp_sent = true;
		c->tx_max = UINT64_MAX;
		c->rx_max = UINT64_MAX;
		c->tx_streams_max[0] = c->tx_streams_max[1] = UINT64_MAX;
		c->rx_streams_max[0] = c->rx_streams_max[1] = UINT64_MAX;
		c->peer.sd_bidi_local = c->peer.sd_bidi_remote = c->peer.sd_uni = UINT64_MAX;
	} else {
		c->rx_max = cfg->max_data;
		c->rx_streams_max[0] = cfg->max_streams_bidi;
		c->rx_streams_max[1] = cfg->max_streams_uni;
	}
	*out = c;
	return 0;
}

void sl_qmux_conn_free(struct sl_qmux_conn *c)
{
	if (c == NULL)
		return;
	for (struct sl_qmux_stream *s = c->all; s; s = s->next)
		release_chunks(c, s);
	sl_pool_fini(&c->streams);
	sl_pool_fini(&c->chunks);
	sl_u64map_fini(&c->map);
	free(c);
}

/* ------------------------------------------------------------------------------------------ */
/* receiving                                                                                  */
/* ------------------------------------------------------------------------------------------ */

static void grant_conn_credit(struct sl_qmux_conn *c)
{
	if (c->legacy)
		return;
	if (c->rx_max - c->rx_recv <= c->cfg.max_data / 2) {
		c->rx_max = c->rx_recv + c->cfg.max_data;
		c->need_max_data = true;
	}
}

static void grant_stream_credit(struct sl_qmux_conn *c, struct sl_qmux_stream *s)
{
	if (c->legacy || s->rx != RX_OPEN || s->rx_final != UINT64_MAX)
		return;
	if (s->rx_max - s->rx_off <= s->rx_window / 2) {
		s->rx_max = s->rx_off + s->rx_window;
		s->need_msd = true;
		ctl_add(c, s);
	}
}

/* Finds the stream a peer's frame names, opening the peer's streams up to it. *s is NULL for a
 * stream that was closed and forgotten (the frame is then ignored). send/recv say which side
 * the frame concerns, for the state checks. */
static int frame_stream(struct sl_qmux_conn *c, uint64_t id, uint64_t ft, bool needs_recv,
			bool needs_send, struct sl_qmux_stream **out)
{
	*out = NULL;
	if (id > SL_VARINT_MAX)
		return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "stream id");
	int t = id_uni(id);
	uint64_t index = id >> 2;
	if (id_local(c, id)) {
		if (needs_recv && t)
			return conn_error(c, SL_QMUX_STREAM_STATE_ERROR, ft,
					  "data on a send-only stream");
		if (index >= c->local_next[t])
			return conn_error(c, SL_QMUX_STREAM_STATE_ERROR, ft,
					  "stream not opened yet");
		*out = stream_get(c, id);
		return 0;
	}
	if (needs_send && t)
		return conn_error(c, SL_QMUX_STREAM_STATE_ERROR, ft,
				  "send-side frame on a receive-only stream");
	if (index < c->peer_next[t]) {
		*out = stream_get(c, id);
		return 0;
	}
	if (index >= c->rx_streams_max[t])
		return conn_error(c, SL_QMUX_STREAM_LIMIT_ERROR, ft, "stream limit exceeded");
	/* Opening index N opens every lower one of its kind (RFC 9000 3.2). */
	while (c->peer_next[t] <= index) {
		uint64_t nid =
			(c->peer_next[t] << 2) | (uint64_t)(t << 1) | (c->cfg.server ? 0 : 1);
		struct sl_qmux_stream *s = stream_new(c, nid);
		if (s == NULL)
			return conn_error(c, SL_QMUX_INTERNAL_ERROR, ft, "out of streams");
		c->peer_next[t]++;
		c->st.streams_opened_remote++;
		s->busy++;
		if (c->cb.on_stream_open)
			c->cb.on_stream_open(c->arg, s);
		s->busy--;
		if (c->state != ST_OPEN)
			return SL_ECLOSED;
		if (nid == id)
			*out = s;
		else
			maybe_close(c, s);
	}
	return 0;
}

/* Bytes of a stream that was forgotten still count against the connection's credit. */
static int count_forgotten(struct sl_qmux_conn *c, uint64_t n, uint64_t ft)
{
	if (c->legacy)
		return 0;
	if (n > c->rx_max - c->rx_recv)
		return conn_error(c, SL_QMUX_FLOW_CONTROL_ERROR, ft, "connection credit exceeded");
	c->rx_recv += n;
	grant_conn_credit(c);
	return 0;
}

static void deliver_reset(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t code)
{
	if (s->rx != RX_OPEN)
		return;
	s->rx = RX_DONE;
	s->need_msd = false;
	s->busy++;
	if (c->cb.on_stream_reset)
		c->cb.on_stream_reset(c->arg, s, s->user, code, false);
	s->busy--;
}

/* Moves the highest received offset to final (a reset's final size), counting the bytes the
 * peer will never send against the connection's credit. */
static int reset_to_final(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t final,
			  uint64_t ft)
{
	if (final > s->rx_off) {
		uint64_t n = final - s->rx_off;
		if (!c->legacy && n > c->rx_max - c->rx_recv)
			return conn_error(c, SL_QMUX_FLOW_CONTROL_ERROR, ft,
					  "connection credit exceeded");
		c->rx_recv += n;
		s->rx_off = final;
		grant_conn_credit(c);
	}
	return 0;
}

static int on_stream_frame(struct sl_qmux_conn *c, uint64_t ft, uint64_t id, uint64_t off,
			   const uint8_t *data, uint64_t len, bool fin)
{
	struct sl_qmux_stream *s;
	int rc = frame_stream(c, id, ft, true, false, &s);
	if (rc != 0)
		return rc;
	c->st.rx_stream_bytes += len;
	if (s == NULL)
		return count_forgotten(c, len, ft);
	if (len > SL_VARINT_MAX - off)
		return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "offset too large");
	uint64_t end = off + len;
	if (s->rx_final != UINT64_MAX && (end > s->rx_final || (fin && end != s->rx_final)))
		return conn_error(c, SL_QMUX_FINAL_SIZE_ERROR, ft, "data beyond the final size");
	if (fin && end < s->rx_off)
		return conn_error(c, SL_QMUX_FINAL_SIZE_ERROR, ft,
				  "final size below data received");
	if (end > s->rx_max)
		return conn_error(c, SL_QMUX_FLOW_CONTROL_ERROR, ft, "stream credit exceeded");
	if (off > s->rx_off)
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
				  "stream data out of order (qmux requires order)");
	uint64_t fresh = end > s->rx_off ? end - s->rx_off : 0;
	if (!c->legacy && fresh > c->rx_max - c->rx_recv)
		return conn_error(c, SL_QMUX_FLOW_CONTROL_ERROR, ft, "connection credit exceeded");
	const uint8_t *p = data + (len - fresh);
	bool had_final = s->rx_final != UINT64_MAX;
	s->rx_off += fresh;
	c->rx_recv += fresh;
	if (fin)
		s->rx_final = end;
	if (s->rx == RX_OPEN) {
		/* A FIN is delivered once, with the last bytes (or alone). */
		bool fin_now = s->rx_final != UINT64_MAX && s->rx_off == s->rx_final &&
			       (fresh > 0 || !had_final) && s->rx_reliable == UINT64_MAX;
		if (fresh > 0 || fin_now) {
			if (fin_now) {
				s->rx = RX_DONE;
				s->need_msd = false;
			}
			s->busy++;
			if (c->cb.on_stream_data)
				c->cb.on_stream_data(c->arg, s, s->user, p, (size_t)fresh, fin_now);
			s->busy--;
		}
		if (s->rx == RX_OPEN && s->rx_reliable != UINT64_MAX &&
		    s->rx_off >= s->rx_reliable) {
			/* RESET_STREAM_AT: the reliable part is delivered, now the reset. */
			uint64_t final = s->rx_final;
			deliver_reset(c, s, s->rx_reset_code);
			if (reset_to_final(c, s, final, ft) != 0)
				return SL_ECORRUPT;
		}
	}
	grant_conn_credit(c);
	grant_stream_credit(c, s);
	maybe_close(c, s);
	return 0;
}

static int on_reset_frame(struct sl_qmux_conn *c, uint64_t ft, uint64_t id, uint64_t code,
			  uint64_t final, uint64_t reliable)
{
	struct sl_qmux_stream *s;
	int rc = frame_stream(c, id, ft, true, false, &s);
	if (rc != 0 || s == NULL)
		return rc;
	if (c->legacy) {
		/* The legacy RESET_STREAM has no final size. */
		deliver_reset(c, s, code);
		maybe_close(c, s);
		return 0;
	}
	if (final < s->rx_off || (s->rx_final != UINT64_MAX && final != s->rx_final))
		return conn_error(c, SL_QMUX_FINAL_SIZE_ERROR, ft, "reset final size");
	if (final > s->rx_max)
		return conn_error(c, SL_QMUX_FLOW_CONTROL_ERROR, ft, "stream credit exceeded");
	s->rx_final = final;
	if (reliable > s->rx_off && s->rx == RX_OPEN) {
		/* RESET_STREAM_AT with bytes still to come: deliver them first. */
		if (s->rx_reliable == UINT64_MAX || reliable < s->rx_reliable)
			s->rx_reliable = reliable;
		s->rx_reset_code = code;
		return 0;
	}
	deliver_reset(c, s, code);
	rc = reset_to_final(c, s, final, ft);
	if (rc != 0)
		return rc;
	maybe_close(c, s);
	return 0;
}

static int on_stop_sending(struct sl_qmux_conn *c, uint64_t ft, uint64_t id, uint64_t code)
{
	struct sl_qmux_stream *s;
	int rc = frame_stream(c, id, ft, false, true, &s);
	if (rc != 0 || s == NULL)
		return rc;
	if (s->tx == TX_OPEN || s->tx == TX_FIN_QUEUED) {
		/* Still sending: answer with RESET_STREAM carrying the bytes sent (routine with
		 * code 0 after a completed request). A stream whose FIN went out needs nothing. */
		release_chunks(c, s);
		send_remove(c, s);
		s->tx = TX_DONE;
		s->need_reset = true;
		s->reset_code = code;
		ctl_add(c, s);
		s->busy++;
		if (c->cb.on_stream_reset)
			c->cb.on_stream_reset(c->arg, s, s->user, code, true);
		s->busy--;
	}
	maybe_close(c, s);
	return 0;
}

static int on_max_stream_data(struct sl_qmux_conn *c, uint64_t ft, uint64_t id, uint64_t max)
{
	struct sl_qmux_stream *s;
	int rc = frame_stream(c, id, ft, false, true, &s);
	if (rc != 0 || s == NULL)
		return rc;
	if (max > s->tx_max) {
		s->tx_max = max;
		if (s->tx_queued > s->tx_off)
			send_insert(c, s);
	}
	maybe_close(c, s);
	return 0;
}

static void writable(struct sl_qmux_conn *c)
{
	if (c->cb.on_writable && c->state == ST_OPEN)
		c->cb.on_writable(c->arg);
}

/* Reads one numeric parameter: a single varint filling the value exactly. */
static int tp_num(const uint8_t *v, uint64_t len, uint64_t *out)
{
	size_t used;
	if (len == 0 || sl_varint_decode(v, (size_t)len, out, &used) != 0 || used != len)
		return SL_ECORRUPT;
	return 0;
}

static int on_transport_params(struct sl_qmux_conn *c, struct sl_reader *r)
{
	uint64_t ft = FT_QX_TP, len;
	const uint8_t *body;
	if (sl_reader_varint(r, &len) != 0 || len > sl_reader_left(r) ||
	    sl_reader_bytes(r, (size_t)len, &body) != 0)
		return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "transport parameters");
	if (c->peer_tp)
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
				  "second transport parameters frame");
	struct peer_params p = {0};
	p.record_size = SL_QMUX_MIN_RECORD;
	uint32_t seen = 0;
	struct sl_reader pr;
	sl_reader_init(&pr, body, (size_t)len);
	while (sl_reader_left(&pr) > 0) {
		uint64_t id, vlen;
		const uint8_t *v;
		if (sl_reader_varint(&pr, &id) != 0 || sl_reader_varint(&pr, &vlen) != 0 ||
		    vlen > sl_reader_left(&pr) || sl_reader_bytes(&pr, (size_t)vlen, &v) != 0)
			return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
					  "truncated transport parameter");
		if (id == 0x00 || id == 0x02 || id == 0x03 || (id >= 0x0a && id <= 0x10) ||
		    id == TP_ALPN)
			return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
					  "transport parameter not allowed in qmux");
		int bit;
		uint64_t *dst = NULL;
		switch (id) {
		case TP_MAX_IDLE_TIMEOUT:
			bit = 0, dst = &p.idle_ms;
			break;
		case TP_MAX_DATA:
			bit = 1, dst = &p.max_data;
			break;
		case TP_MAX_SD_BIDI_LOCAL:
			bit = 2, dst = &p.sd_bidi_local;
			break;
		case TP_MAX_SD_BIDI_REMOTE:
			bit = 3, dst = &p.sd_bidi_remote;
			break;
		case TP_MAX_SD_UNI:
			bit = 4, dst = &p.sd_uni;
			break;
		case TP_MAX_STREAMS_BIDI:
			bit = 5, dst = &p.streams_bidi;
			break;
		case TP_MAX_STREAMS_UNI:
			bit = 6, dst = &p.streams_uni;
			break;
		case TP_MAX_RECORD_SIZE:
			bit = 7, dst = &p.record_size;
			break;
		case TP_MAX_DATAGRAM:
			bit = 8; /* noted; shardline sends no datagrams */
			break;
		case TP_RESET_STREAM_AT:
			bit = 9;
			if (vlen != 0)
				return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
						  "reset_stream_at carries no value");
			p.reset_stream_at = true;
			break;
		default:
			continue; /* unknown ids are skipped */
		}
		if (seen & (1u << bit))
			return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
					  "duplicate transport parameter");
		seen |= 1u << bit;
		uint64_t val = 0;
		if (bit != 9 && tp_num(v, vlen, &val) != 0)
			return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
					  "malformed transport parameter value");
		if (dst)
			*dst = val;
	}
	if (p.streams_bidi > SL_QMUX_MAX_STREAMS_CAP || p.streams_uni > SL_QMUX_MAX_STREAMS_CAP)
		return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
				  "stream limit above 2^60");
	if (p.record_size < SL_QMUX_MIN_RECORD)
		return conn_error(c, SL_QMUX_TRANSPORT_PARAMETER_ERROR, ft,
				  "max_record_size below 16382");
	c->peer = p;
	c->peer_tp = true;
	c->tx_max = p.max_data;
	c->tx_streams_max[0] = p.streams_bidi;
	c->tx_streams_max[1] = p.streams_uni;
	writable(c);
	return 0;
}

static int on_ping(struct sl_qmux_conn *c, uint64_t ft, uint64_t seq)
{
	if (ft == FT_QX_PING_REQ) {
		c->st.rx_frames[SL_QMUX_FK_PING_REQUEST]++;
		if (c->cfg.framing == SL_WS_QMUX02 && c->rx_ping_seen && seq <= c->rx_ping_last)
			return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
					  "ping sequence not increasing");
		c->rx_ping_seen = true;
		c->rx_ping_last = seq;
		c->need_pong = true;
		c->pong_seq = seq;
		c->st.pings_answered++;
		return 0;
	}
	c->st.rx_frames[SL_QMUX_FK_PING_RESPONSE]++;
	if (c->cfg.framing == SL_WS_QMUX02 && seq >= c->ping_next)
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
				  "ping response to a request never sent");
	c->st.pongs_received++;
	return 0;
}

static int on_close_frame(struct sl_qmux_conn *c, bool app, uint64_t code, uint64_t ftype,
			  const uint8_t *reason, size_t n)
{
	memset(&c->close, 0, sizeof(c->close));
	c->close.code = code;
	c->close.frame_type = ftype;
	c->close.app = app;
	c->close.remote = true;
	set_reason(c, (const char *)reason, n);
	if (code != 0)
		c->st.errors_remote++;
	finish(c);
	return SL_ECLOSED;
}

#define RV(x)                                                                                      \
	do {                                                                                       \
		if ((x) != 0)                                                                      \
			return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "truncated frame"); \
	} while (0)

static int recv_legacy_frame(struct sl_qmux_conn *c, struct sl_reader *r)
{
	uint8_t t8 = 0;
	uint64_t ft = 0, id, code;
	RV(sl_reader_u8(r, &t8));
	ft = t8;
	const uint8_t *rest;
	switch (t8) {
	case 0x08:
	case 0x09: {
		c->st.rx_frames[SL_QMUX_FK_STREAM]++;
		RV(sl_reader_varint(r, &id));
		size_t n = sl_reader_left(r);
		RV(sl_reader_bytes(r, n, &rest));
		struct sl_qmux_stream *s = NULL;
		int rc = frame_stream(c, id, ft, true, false, &s);
		if (rc != 0 || s == NULL)
			return rc;
		return on_stream_frame(c, ft, id, s->rx_off, rest, n, t8 == 0x09);
	}
	case 0x04:
		c->st.rx_frames[SL_QMUX_FK_RESET_STREAM]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &code));
		return on_reset_frame(c, ft, id, code, 0, 0);
	case 0x05:
		c->st.rx_frames[SL_QMUX_FK_STOP_SENDING]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &code));
		return on_stop_sending(c, ft, id, code);
	case 0x1c:
	case 0x1d: {
		c->st.rx_frames[t8 == 0x1c ? SL_QMUX_FK_CONNECTION_CLOSE
					   : SL_QMUX_FK_APPLICATION_CLOSE]++;
		RV(sl_reader_varint(r, &code));
		size_t n = sl_reader_left(r);
		RV(sl_reader_bytes(r, n, &rest));
		return on_close_frame(c, t8 == 0x1d, code, 0, rest, n);
	}
	default:
		return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "unknown frame type");
	}
}

static int recv_frame(struct sl_qmux_conn *c, struct sl_reader *r)
{
	uint64_t ft, id, code, off = 0, len, v;
	const uint8_t *p;
	if (sl_reader_varint(r, &ft) != 0)
		return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, 0, "truncated frame type");
	if (!c->peer_tp && ft != FT_QX_TP && ft != FT_PADDING)
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
				  "frame before the transport parameters");
	if (ft >= FT_STREAM && ft <= 0x0f) {
		c->st.rx_frames[SL_QMUX_FK_STREAM]++;
		RV(sl_reader_varint(r, &id));
		bool append = !(ft & 0x04);
		if (!append)
			RV(sl_reader_varint(r, &off));
		if (ft & 0x02) {
			RV(sl_reader_varint(r, &len));
			if (len > sl_reader_left(r))
				return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft,
						  "stream frame longer than the message");
		} else {
			len = sl_reader_left(r);
		}
		RV(sl_reader_bytes(r, (size_t)len, &p));
		if (append) {
			/* The old @moq/qmux 0.0.6 (qmux-00) sends every write as 0x0a, no offset,
			 * meaning "the next bytes". A conforming sender leaves the offset out only
			 * on a stream's first frame, where both readings give 0, so a missing
			 * offset is read as the stream's current one. */
			struct sl_qmux_stream *s = NULL;
			int rc = frame_stream(c, id, ft, true, false, &s);
			if (rc != 0)
				return rc;
			off = s != NULL ? s->rx_off : 0;
		}
		return on_stream_frame(c, ft, id, off, p, len, ft & 0x01);
	}
	switch (ft) {
	case FT_PADDING:
		c->st.rx_frames[SL_QMUX_FK_PADDING]++;
		return 0;
	case FT_RESET_STREAM:
		c->st.rx_frames[SL_QMUX_FK_RESET_STREAM]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &code));
		RV(sl_reader_varint(r, &v));
		return on_reset_frame(c, ft, id, code, v, 0);
	case FT_RESET_STREAM_AT: {
		c->st.rx_frames[SL_QMUX_FK_RESET_STREAM_AT]++;
		uint64_t rel;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &code));
		RV(sl_reader_varint(r, &v));
		RV(sl_reader_varint(r, &rel));
		if (c->cfg.framing != SL_WS_QMUX02)
			return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
					  "RESET_STREAM_AT not advertised");
		if (rel > v)
			return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft,
					  "reliable size above final size");
		return on_reset_frame(c, ft, id, code, v, rel);
	}
	case FT_STOP_SENDING:
		c->st.rx_frames[SL_QMUX_FK_STOP_SENDING]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &code));
		return on_stop_sending(c, ft, id, code);
	case FT_MAX_DATA:
		c->st.rx_frames[SL_QMUX_FK_MAX_DATA]++;
		RV(sl_reader_varint(r, &v));
		if (v > c->tx_max) {
			c->tx_max = v;
			writable(c);
		}
		return 0;
	case FT_MAX_STREAM_DATA:
		c->st.rx_frames[SL_QMUX_FK_MAX_STREAM_DATA]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &v));
		return on_max_stream_data(c, ft, id, v);
	case FT_MAX_STREAMS_BIDI:
	case FT_MAX_STREAMS_UNI: {
		c->st.rx_frames[SL_QMUX_FK_MAX_STREAMS]++;
		RV(sl_reader_varint(r, &v));
		if (v > SL_QMUX_MAX_STREAMS_CAP)
			return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft,
					  "stream limit above 2^60");
		int t = ft == FT_MAX_STREAMS_UNI;
		if (v > c->tx_streams_max[t]) {
			c->tx_streams_max[t] = v;
			writable(c);
		}
		return 0;
	}
	case FT_DATA_BLOCKED:
	case FT_STREAMS_BLOCKED_B:
	case FT_STREAMS_BLOCKED_U:
		c->st.rx_frames[SL_QMUX_FK_BLOCKED]++;
		RV(sl_reader_varint(r, &v));
		return 0;
	case FT_STREAM_DATA_BLOCKED:
		c->st.rx_frames[SL_QMUX_FK_BLOCKED]++;
		RV(sl_reader_varint(r, &id));
		RV(sl_reader_varint(r, &v));
		return 0;
	case FT_CONNECTION_CLOSE:
	case FT_APPLICATION_CLOSE: {
		bool app = ft == FT_APPLICATION_CLOSE;
		c->st.rx_frames[app ? SL_QMUX_FK_APPLICATION_CLOSE : SL_QMUX_FK_CONNECTION_CLOSE]++;
		uint64_t ftype = 0;
		RV(sl_reader_varint(r, &code));
		if (!app)
			RV(sl_reader_varint(r, &ftype));
		RV(sl_reader_varint(r, &len));
		if (len > sl_reader_left(r))
			return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "close reason");
		RV(sl_reader_bytes(r, (size_t)len, &p));
		return on_close_frame(c, app, code, ftype, p, (size_t)len);
	}
	case FT_DATAGRAM:
	case FT_DATAGRAM_LEN:
		c->st.rx_frames[SL_QMUX_FK_DATAGRAM]++;
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, ft,
				  "DATAGRAM without max_datagram_frame_size");
	case FT_QX_TP:
		c->st.rx_frames[SL_QMUX_FK_TRANSPORT_PARAMETERS]++;
		return on_transport_params(c, r);
	case FT_QX_PING_REQ:
	case FT_QX_PING_RESP:
		if (!c->multi)
			break;
		RV(sl_reader_varint(r, &v));
		return on_ping(c, ft, v);
	default:
		break;
	}
	return conn_error(c, SL_QMUX_FRAME_ENCODING_ERROR, ft, "unknown or forbidden frame type");
}

int sl_qmux_recv(struct sl_qmux_conn *c, const uint8_t *msg, size_t len, uint64_t now_ns)
{
	if (c->state != ST_OPEN)
		return c->state == ST_CLOSING && c->close_transport ? SL_ECORRUPT : SL_ECLOSED;
	c->st.rx_messages++;
	c->st.rx_bytes += len;
	c->last_rx_ns = now_ns;
	size_t limit = c->multi ? (size_t)c->cfg.max_record_size : SL_QMUX_00_MAX_MSG;
	if (!c->legacy && len > limit)
		return conn_error(c, SL_QMUX_PROTOCOL_VIOLATION, 0,
				  "message larger than the record limit");
	struct sl_reader r;
	sl_reader_init(&r, msg, len);
	/* An empty message is a no-op. Every variant's receiver takes several frames in one
	 * message (qmux-00 senders put one; taking more costs nothing and loses nothing). */
	while (sl_reader_left(&r) > 0) {
		int rc = c->legacy ? recv_legacy_frame(c, &r) : recv_frame(c, &r);
		if (rc != 0)
			return rc;
		if (c->state != ST_OPEN)
			return c->state == ST_CLOSED ? SL_ECLOSED : 0;
	}
	return 0;
}

void sl_qmux_note_rx(struct sl_qmux_conn *c, uint64_t now_ns)
{
	c->last_rx_ns = now_ns;
}

/* ------------------------------------------------------------------------------------------ */
/* sending                                                                                    */
/* ------------------------------------------------------------------------------------------ */

static size_t rec_limit(const struct sl_qmux_conn *c)
{
	if (!c->multi)
		return SL_QMUX_00_MAX_MSG;
	return c->peer.record_size < 65536 ? (size_t)c->peer.record_size : 65536;
}

static void rec_commit(struct sl_qmux_conn *c, uint64_t now_ns)
{
	if (c->rec == NULL)
		return;
	c->cb.tx_commit(c->arg, c->rec_len);
	c->st.tx_messages++;
	c->st.tx_bytes += c->rec_len;
	c->last_tx_ns = now_ns;
	c->rec = NULL;
	c->rec_len = c->rec_cap = 0;
}

/* Makes sure the current message has need bytes free (one frame per message on qmux-00 and
 * legacy). False when the owner has no room for another message. */
static bool rec_room(struct sl_qmux_conn *c, size_t need, uint64_t now_ns)
{
	if (c->rec != NULL && c->rec_cap - c->rec_len >= need && (c->multi || c->rec_len == 0))
		return true;
	rec_commit(c, now_ns);
	size_t lim = rec_limit(c);
	if (need > lim)
		return false;
	c->rec = c->cb.tx_alloc(c->arg, lim);
	if (c->rec == NULL) {
		c->st.tx_full++;
		return false;
	}
	c->rec_cap = lim;
	c->rec_len = 0;
	return true;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	size_t n;
	sl_varint_encode(p, 9, v, &n);
	return p + n;
}

/* Writes a small frame assembled in tmp. */
static bool put_small(struct sl_qmux_conn *c, const uint8_t *tmp, size_t n, int kind,
		      uint64_t now_ns)
{
	if (!rec_room(c, n, now_ns))
		return false;
	memcpy(c->rec + c->rec_len, tmp, n);
	c->rec_len += n;
	c->st.tx_frames[kind]++;
	return true;
}

static size_t build_tp(const struct sl_qmux_conn *c, uint8_t *out)
{
	uint8_t body[128], *p = body;
	const struct sl_qmux_config *k = &c->cfg;
	struct {
		uint64_t id, v;
	} nums[] = {
		{TP_MAX_IDLE_TIMEOUT, k->idle_timeout_ms},
		{TP_MAX_DATA, k->max_data},
		{TP_MAX_SD_BIDI_LOCAL, k->max_stream_data_bidi_local},
		{TP_MAX_SD_BIDI_REMOTE, k->max_stream_data_bidi_remote},
		{TP_MAX_SD_UNI, k->max_stream_data_uni},
		{TP_MAX_STREAMS_BIDI, k->max_streams_bidi},
		{TP_MAX_STREAMS_UNI, k->max_streams_uni},
		{TP_MAX_RECORD_SIZE, k->max_record_size},
	};
	/* The JS client's order and its habit of leaving out zero values; no
	 * max_datagram_frame_size (0x20): shardline takes no DATAGRAM frames. */
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (nums[i].v == 0)
			continue;
		p = put_varint(p, nums[i].id);
		p = put_varint(p, sl_varint_len(nums[i].v));
		p = put_varint(p, nums[i].v);
	}
	if (k->framing == SL_WS_QMUX02) {
		p = put_varint(p, TP_RESET_STREAM_AT);
		p = put_varint(p, 0);
	}
	uint8_t *o = put_varint(out, FT_QX_TP);
	o = put_varint(o, (uint64_t)(p - body));
	memcpy(o, body, (size_t)(p - body));
	return (size_t)(o - out) + (size_t)(p - body);
}

static bool write_close(struct sl_qmux_conn *c, uint64_t now_ns)
{
	uint8_t tmp[200], *p = tmp;
	size_t rl = c->close.reason_len;
	if (c->legacy) {
		*p++ = c->close_transport ? FT_CONNECTION_CLOSE : FT_APPLICATION_CLOSE;
		p = put_varint(p, c->close.code);
	} else {
		p = put_varint(p, c->close_transport ? FT_CONNECTION_CLOSE : FT_APPLICATION_CLOSE);
		p = put_varint(p, c->close.code);
		if (c->close_transport)
			p = put_varint(p, c->close.frame_type);
		p = put_varint(p, rl);
	}
	memcpy(p, c->close.reason, rl);
	p += rl;
	return put_small(c, tmp, (size_t)(p - tmp),
			 c->close_transport ? SL_QMUX_FK_CONNECTION_CLOSE
					    : SL_QMUX_FK_APPLICATION_CLOSE,
			 now_ns);
}

static bool write_stream_ctl(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t now_ns)
{
	uint8_t tmp[40], *p;
	if (s->need_reset) {
		p = tmp;
		*p++ = FT_RESET_STREAM;
		p = put_varint(p, s->id);
		p = put_varint(p, s->reset_code);
		if (!c->legacy)
			p = put_varint(p, s->tx_off);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_RESET_STREAM, now_ns))
			return false;
		s->need_reset = false;
	}
	if (s->need_stop) {
		p = tmp;
		*p++ = FT_STOP_SENDING;
		p = put_varint(p, s->id);
		p = put_varint(p, s->stop_code);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_STOP_SENDING, now_ns))
			return false;
		s->need_stop = false;
	}
	if (s->need_msd) {
		if (s->rx == RX_OPEN) {
			p = tmp;
			*p++ = FT_MAX_STREAM_DATA;
			p = put_varint(p, s->id);
			p = put_varint(p, s->rx_max);
			if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_MAX_STREAM_DATA,
				       now_ns))
				return false;
		}
		s->need_msd = false;
	}
	return true;
}

static void note_acked(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t n)
{
	s->tx_acked += n;
	if (!s->in_acked) {
		s->in_acked = true;
		s->anext = c->acked_head;
		c->acked_head = s;
	}
}

/* Writes as much of s as credit and the owner's room allow. False when the owner is out of
 * room (the flush stops). */
static bool write_stream_data(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t now_ns)
{
	for (;;) {
		uint64_t avail = s->tx_queued - s->tx_off;
		uint64_t credit = s->tx_max - s->tx_off;
		uint64_t ccredit = c->tx_max - c->tx_total;
		uint64_t n = avail;
		if (n > credit)
			n = credit;
		if (n > ccredit)
			n = ccredit;
		bool fin_pending = s->tx == TX_FIN_QUEUED;
		if (n == 0 && !(fin_pending && avail == 0)) {
			if (avail > 0) {
				if (credit == 0)
					c->st.stream_blocked++;
				else
					c->st.conn_blocked++;
			}
			return true;
		}
		/* Header: type, id, offset, length (the JS client's 0x0e/0x0f form, offset
		 * included even at 0); legacy: type, id, data to the end of the message. */
		size_t lim = rec_limit(c);
		size_t hdr =
			1 + sl_varint_len(s->id) +
			(c->legacy ? 0
				   : sl_varint_len(s->tx_off) + sl_varint_len(n < lim ? n : lim));
		if (!rec_room(c, hdr + (n ? 1 : 0), now_ns))
			return false;
		size_t room = c->rec_cap - c->rec_len - hdr;
		size_t take = n < room ? (size_t)n : room;
		bool fin = fin_pending && take == avail;
		uint8_t *p = c->rec + c->rec_len;
		if (c->legacy) {
			*p++ = fin ? 0x09 : 0x08;
			p = put_varint(p, s->id);
		} else {
			*p++ = fin ? 0x0f : 0x0e;
			p = put_varint(p, s->id);
			p = put_varint(p, s->tx_off);
			p = put_varint(p, take);
		}
		size_t left = take;
		while (left > 0) {
			struct sl_qmux_chunk *k = s->head;
			size_t in = k->s.len - s->head_off;
			size_t m = left < in ? left : in;
			memcpy(p, sl_slice_data(&k->s) + s->head_off, m);
			p += m;
			left -= m;
			s->head_off += (uint32_t)m;
			if (s->head_off == k->s.len) {
				s->head = k->next;
				if (s->head == NULL)
					s->tail = NULL;
				s->head_off = 0;
				sl_buf_unref(k->s.buf);
				sl_pool_put(&c->chunks, k);
			}
		}
		c->rec_len = (size_t)(p - c->rec);
		s->tx_off += take;
		c->tx_total += take;
		c->st.tx_stream_bytes += take;
		c->st.tx_frames[SL_QMUX_FK_STREAM]++;
		if (take > 0)
			note_acked(c, s, take);
		if (fin) {
			s->tx = TX_DONE;
			send_remove(c, s);
			if (!s->in_acked) {
				s->in_acked = true; /* so that maybe_close runs after the flush */
				s->anext = c->acked_head;
				c->acked_head = s;
			}
			return true;
		}
		if (s->tx_queued == s->tx_off) {
			send_remove(c, s);
			return true;
		}
	}
}

static bool write_conn_ctl(struct sl_qmux_conn *c, uint64_t now_ns)
{
	uint8_t tmp[24], *p;
	if (!c->tp_sent) {
		uint8_t tp[160];
		size_t n = build_tp(c, tp);
		if (!put_small(c, tp, n, SL_QMUX_FK_TRANSPORT_PARAMETERS, now_ns))
			return false;
		c->tp_sent = true;
	}
	if (c->need_pong) {
		p = put_varint(tmp, FT_QX_PING_RESP);
		p = put_varint(p, c->pong_seq);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_PING_RESPONSE, now_ns))
			return false;
		c->need_pong = false;
	}
	if (c->need_ping) {
		p = put_varint(tmp, FT_QX_PING_REQ);
		p = put_varint(p, c->ping_next);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_PING_REQUEST, now_ns))
			return false;
		c->ping_next++;
		c->need_ping = false;
		c->st.pings_sent++;
	}
	if (c->need_max_data) {
		p = put_varint(tmp, FT_MAX_DATA);
		p = put_varint(p, c->rx_max);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_MAX_DATA, now_ns))
			return false;
		c->need_max_data = false;
	}
	for (int t = 0; t < 2; t++) {
		if (!c->need_max_streams[t])
			continue;
		p = put_varint(tmp, t ? FT_MAX_STREAMS_UNI : FT_MAX_STREAMS_BIDI);
		p = put_varint(p, c->rx_streams_max[t]);
		if (!put_small(c, tmp, (size_t)(p - tmp), SL_QMUX_FK_MAX_STREAMS, now_ns))
			return false;
		c->need_max_streams[t] = false;
	}
	while (c->ctl_head) {
		struct sl_qmux_stream *s = c->ctl_head;
		if (!write_stream_ctl(c, s, now_ns))
			return false;
		c->ctl_head = s->cnext;
		if (c->ctl_head == NULL)
			c->ctl_tail = NULL;
		s->in_ctl = false;
		s->cnext = NULL;
		/* Closed after the flush's callbacks, with the acked ones. */
		if (!s->in_acked) {
			s->in_acked = true;
			s->anext = c->acked_head;
			c->acked_head = s;
		}
	}
	return true;
}

/* The callbacks a flush owes, run once its messages are committed. */
static void run_acked(struct sl_qmux_conn *c)
{
	while (c->acked_head && c->state != ST_CLOSED) {
		struct sl_qmux_stream *s = c->acked_head;
		c->acked_head = s->anext;
		s->in_acked = false;
		s->anext = NULL;
		uint64_t n = s->tx_acked;
		s->tx_acked = 0;
		if (n > 0 && c->cb.on_stream_acked) {
			s->busy++;
			c->cb.on_stream_acked(c->arg, s, s->user, n);
			s->busy--;
		}
		maybe_close(c, s);
	}
}

int sl_qmux_flush(struct sl_qmux_conn *c, uint64_t now_ns)
{
	if (c->state == ST_CLOSED)
		return 0;
	uint64_t before = c->st.tx_messages;
	if (c->state == ST_CLOSING) {
		/* Parameters first if they never went out, so the peer can read the close. */
		bool ok = true;
		if (!c->tp_sent) {
			uint8_t tp[160];
			size_t n = build_tp(c, tp);
			ok = put_small(c, tp, n, SL_QMUX_FK_TRANSPORT_PARAMETERS, now_ns);
			c->tp_sent = ok;
		}
		if (ok && write_close(c, now_ns)) {
			rec_commit(c, now_ns);
			finish(c);
		} else {
			rec_commit(c, now_ns);
		}
		return (int)(c->st.tx_messages - before);
	}
	bool ok = write_conn_ctl(c, now_ns);
	if (ok && c->peer_tp) {
		struct sl_qmux_stream *s = c->send_head;
		while (s) {
			struct sl_qmux_stream *next = s->snext;
			if (c->tx_total >= c->tx_max && s->tx != TX_FIN_QUEUED) {
				c->st.conn_blocked++;
				s = next;
				continue;
			}
			if (!write_stream_data(c, s, now_ns))
				break;
			s = next;
		}
	}
	rec_commit(c, now_ns);
	run_acked(c);
	return (int)(c->st.tx_messages - before);
}

bool sl_qmux_want_flush(const struct sl_qmux_conn *c)
{
	if (c->state == ST_CLOSING)
		return true;
	if (c->state != ST_OPEN)
		return false;
	if (!c->tp_sent || c->need_pong || c->need_ping || c->need_max_data ||
	    c->need_max_streams[0] || c->need_max_streams[1] || c->ctl_head)
		return true;
	return c->peer_tp && c->send_head != NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* timers                                                                                     */
/* ------------------------------------------------------------------------------------------ */

uint64_t sl_qmux_idle_timeout_ns(const struct sl_qmux_conn *c)
{
	uint64_t a = c->cfg.idle_timeout_ms, b = c->peer_tp ? c->peer.idle_ms : 0;
	uint64_t ms = a == 0 ? b : b == 0 ? a : a < b ? a : b;
	if (ms > UINT64_MAX / 1000000)
		return UINT64_MAX;
	return ms * 1000000;
}

uint64_t sl_qmux_expiry(const struct sl_qmux_conn *c)
{
	if (c->state == ST_CLOSED)
		return UINT64_MAX;
	uint64_t idle = sl_qmux_idle_timeout_ns(c);
	if (idle == 0 || c->state != ST_OPEN)
		return UINT64_MAX;
	uint64_t dead = c->last_rx_ns + idle;
	uint64_t ping = c->last_tx_ns + idle / 3;
	if (!c->multi && c->cb.send_ws_ping == NULL)
		ping = UINT64_MAX;
	return dead < ping ? dead : ping;
}

void sl_qmux_handle_expiry(struct sl_qmux_conn *c, uint64_t now_ns)
{
	if (c->state != ST_OPEN)
		return;
	uint64_t idle = sl_qmux_idle_timeout_ns(c);
	if (idle == 0)
		return;
	if (now_ns >= c->last_rx_ns + idle) {
		memset(&c->close, 0, sizeof(c->close));
		c->close.idle = true;
		set_reason(c, "idle timeout", 12);
		c->st.idle_timeouts++;
		finish(c);
		return;
	}
	if (now_ns >= c->last_tx_ns + idle / 3) {
		/* Something must reach the peer before its own idle timer fires. */
		if (c->multi) {
			c->need_ping = true;
		} else if (c->cb.send_ws_ping) {
			c->cb.send_ws_ping(c->arg);
			c->st.pings_sent++;
		}
		c->last_tx_ns = now_ns;
	}
}

/* ------------------------------------------------------------------------------------------ */
/* streams                                                                                    */
/* ------------------------------------------------------------------------------------------ */

int sl_qmux_stream_open(struct sl_qmux_conn *c, bool bidi, void *user, struct sl_qmux_stream **out)
{
	if (c->state != ST_OPEN)
		return SL_ECLOSED;
	int t = bidi ? 0 : 1;
	if (!c->peer_tp || c->local_next[t] >= c->tx_streams_max[t]) {
		c->st.open_refused++;
		return SL_EBUSY;
	}
	uint64_t id = (c->local_next[t] << 2) | (uint64_t)(t << 1) | (c->cfg.server ? 1 : 0);
	struct sl_qmux_stream *s = stream_new(c, id);
	if (s == NULL)
		return SL_ENOMEM;
	c->local_next[t]++;
	c->st.streams_opened_local++;
	s->user = user;
	*out = s;
	return 0;
}

int sl_qmux_stream_write(struct sl_qmux_conn *c, struct sl_qmux_stream *s, struct sl_slice data,
			 bool fin)
{
	if (c->state != ST_OPEN || s->tx != TX_OPEN) {
		sl_buf_unref(data.buf);
		return SL_ECLOSED;
	}
	if (data.len > 0) {
		struct sl_qmux_chunk *k = sl_pool_get(&c->chunks);
		if (k == NULL) {
			sl_buf_unref(data.buf);
			return SL_ENOMEM;
		}
		k->s = data;
		k->next = NULL;
		if (s->tail)
			s->tail->next = k;
		else
			s->head = k;
		s->tail = k;
		s->tx_queued += data.len;
	} else {
		sl_buf_unref(data.buf);
	}
	if (fin)
		s->tx = TX_FIN_QUEUED;
	if (data.len > 0 || fin)
		send_insert(c, s);
	return 0;
}

int sl_qmux_stream_reset(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t code)
{
	if (c->state != ST_OPEN)
		return 0;
	if (s->tx == TX_OPEN || s->tx == TX_FIN_QUEUED) {
		release_chunks(c, s);
		send_remove(c, s);
		s->tx = TX_DONE;
		s->need_reset = true;
		s->reset_code = code;
		ctl_add(c, s);
	}
	if (s->rx == RX_OPEN) {
		s->rx = RX_DONE;
		s->need_stop = true;
		s->stop_code = code;
		s->need_msd = false;
		s->rx_reliable = UINT64_MAX;
		ctl_add(c, s);
	}
	maybe_close(c, s);
	return 0;
}

int sl_qmux_stream_stop(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t code)
{
	if (c->state != ST_OPEN || s->rx != RX_OPEN)
		return SL_ECLOSED;
	s->rx = RX_DONE;
	s->need_stop = true;
	s->stop_code = code;
	s->need_msd = false;
	s->rx_reliable = UINT64_MAX;
	ctl_add(c, s);
	maybe_close(c, s);
	return 0;
}

void sl_qmux_stream_set_order(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t order)
{
	if (s->order == order)
		return;
	bool was = s->in_send;
	send_remove(c, s);
	s->order = order;
	if (was)
		send_insert(c, s);
}

void sl_qmux_stream_set_user(struct sl_qmux_stream *s, void *user)
{
	s->user = user;
}

void *sl_qmux_stream_user(const struct sl_qmux_stream *s)
{
	return s->user;
}

uint64_t sl_qmux_stream_id(const struct sl_qmux_stream *s)
{
	return s->id;
}

uint64_t sl_qmux_stream_unacked(const struct sl_qmux_stream *s)
{
	return s->tx_queued - s->tx_off;
}

bool sl_qmux_closed(const struct sl_qmux_conn *c)
{
	return c->state == ST_CLOSED;
}

bool sl_qmux_peer_params_known(const struct sl_qmux_conn *c)
{
	return c->peer_tp;
}

void sl_qmux_stats(const struct sl_qmux_conn *c, struct sl_qmux_stats *out)
{
	*out = c->st;
}

void sl_qmux_pool_stats(const struct sl_qmux_conn *c, struct sl_pool_stats *out)
{
	sl_pool_stats(&c->streams, out);
}

#define T struct sl_qmux_stats
const struct sl_stat_field sl_qmux_stats_fields[] = {
	SL_STAT_U(T, rx_messages, NULL),
	SL_STAT_U(T, rx_bytes, NULL),
	SL_STAT_U(T, tx_messages, NULL),
	SL_STAT_U(T, tx_bytes, NULL),
	SL_STAT_ARR(T, rx_frames, "rx_frames", NULL, sl_qmux_frame_kind_names),
	SL_STAT_ARR(T, tx_frames, "tx_frames", NULL, sl_qmux_frame_kind_names),
	SL_STAT_U(T, rx_stream_bytes, NULL),
	SL_STAT_U(T, tx_stream_bytes, NULL),
	SL_STAT_U(T, streams_opened_local, NULL),
	SL_STAT_U(T, streams_opened_remote, NULL),
	SL_STAT_U(T, streams_closed, NULL),
	SL_STAT_G(T, streams_open, NULL),
	SL_STAT_U(T, conn_blocked, NULL),
	SL_STAT_U(T, stream_blocked, NULL),
	SL_STAT_U(T, open_refused, NULL),
	SL_STAT_U(T, tx_full, NULL),
	SL_STAT_U(T, pings_sent, NULL),
	SL_STAT_U(T, pings_answered, NULL),
	SL_STAT_U(T, pongs_received, NULL),
	SL_STAT_U(T, errors_local, NULL),
	SL_STAT_U(T, errors_remote, NULL),
	SL_STAT_U(T, idle_timeouts, NULL),
	SL_STAT_TABLE_END,
};
#undef T
