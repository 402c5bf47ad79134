/* SPDX-License-Identifier: Apache-2.0 */
#include "h3/wt.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request's HEADERS larger than this is refused (the CONNECT is about 200 bytes). */
#define MAX_SECTION 16384
/* The peer's SETTINGS payload: a few dozen bytes in practice. */
#define MAX_SETTINGS 1024
/* draft-ietf-webtrans-http3: a stream for a session that does not exist. */
#define WT_BUFFERED_STREAM_REJECTED UINT64_C(0x3994bd84)
/* A moq-lite stream reset with a code the WebTransport range cannot carry. */
#define WT_CODE_MAX UINT64_C(0xffffffff)

enum kind {
	K_UNI_HEAD,    /* a peer's unidirectional stream, type not read yet */
	K_REQUEST,     /* a peer's bidirectional stream before it is a request or a WT stream */
	K_CONNECT,     /* the session's CONNECT stream, after the 200 */
	K_CONTROL_IN,  /* the peer's control stream */
	K_DRAIN,       /* read and dropped: QPACK streams, unknown types, answered requests */
	K_WT_IN,       /* a session stream the peer opened (prefix read) */
	K_WT_OUT,      /* a session stream the moq session opened */
	K_CONTROL_OUT, /* ours */
	K_RESPONSE,    /* client: our CONNECT stream, waiting for the answer */
	K_WT_PENDING,  /* client: a server's session stream that came before the answer */
};

struct wt_stream {
	struct sl_wt_conn *c;
	void *handle; /* the lower transport's */
	struct wt_stream *next, **pprev;
	enum kind kind;
	bool bidi;
	bool settings_seen;   /* K_CONTROL_IN */
	void *moq;	      /* K_WT_*: the moq session's stream, NULL once released */
	uint64_t prefix_left; /* K_WT_OUT: bytes of our prefix not acknowledged yet */
	uint64_t id;	      /* K_REQUEST / K_CONNECT: the QUIC stream id, from the order */
	union {
		struct sl_h3_uni_reader ur;
		struct sl_h3_frame_reader fr;
	} rd;
	uint8_t *sec; /* a frame being collected (HEADERS, SETTINGS) */
	size_t sec_len, sec_cap;
	bool sec_skip;	  /* the current frame is not collected */
	bool pending_fin; /* K_WT_PENDING: the stream ended (its bytes are in sec) */
	bool gone;	  /* K_WT_PENDING: the lower stream is closed (handle NULL) */
};

struct sl_wt_conn {
	struct sl_wt_host host;
	const struct sl_moq_transport_ops *lower;
	void *lower_t;
	struct sl_pool pool;
	struct wt_stream *streams;
	struct sl_h3_qpack *qpack;
	struct sl_moq_session *session;
	struct wt_stream *connect; /* the session's CONNECT stream */
	uint64_t session_id;
	uint64_t next_bidi_id; /* the id the peer's next bidi stream has (0, 4, 8, ...) */
	bool started, closed, failed, session_ended, connect_fin_sent;
	bool control_in_seen, qpack_enc_seen, qpack_dec_seen;
	/* Prefixes of the session's own streams, shared by every stream (no allocation per
	 * stream): 0x41 / 0x54 then the session id. */
	struct sl_buf *prefix_bidi, *prefix_uni;
	/* The capsule parser of the CONNECT stream (its DATA frames' payload). */
	uint8_t cap_hdr[16];
	uint8_t cap_hdr_len;
	bool cap_in_value;
	uint64_t cap_type, cap_left;
	uint8_t cap_val[4 + SL_H3_WT_MAX_REASON];
	size_t cap_val_len;
	struct sl_wt_stats st;
	/* The client side (sl_wt_conn_new_client): what it asks for, how it was answered. */
	bool client, connect_sent;
	char authority[256];
	char path[1024];
	int status;    /* the answer's :status, 0 before it */
	char why[160]; /* what went wrong first, for the user ("" while nothing did) */
};

/* ---- helpers ---- */

/* A session is attached and has not closed itself. */
static bool live(const struct sl_wt_conn *c)
{
	return c->session != NULL && !c->session_ended;
}

/* Keeps the first reason the connection failed: a client reports it to its user. */
static void note(struct sl_wt_conn *c, const char *why)
{
	if (c->why[0] == '\0' && why)
		snprintf(c->why, sizeof(c->why), "%s", why);
}

static void fail_conn(struct sl_wt_conn *c, uint64_t code, const char *why)
{
	if (c->failed || c->closed)
		return;
	note(c, why);
	c->failed = true;
	c->st.h3_errors++;
	c->lower->close(c->lower_t, code, why);
}

static struct wt_stream *stream_new(struct sl_wt_conn *c, enum kind kind, bool bidi)
{
	struct wt_stream *ws = sl_pool_get(&c->pool);
	if (ws == NULL)
		return NULL;
	memset(ws, 0, sizeof(*ws));
	ws->c = c;
	ws->kind = kind;
	ws->bidi = bidi;
	ws->next = c->streams;
	if (c->streams)
		c->streams->pprev = &ws->next;
	ws->pprev = &c->streams;
	c->streams = ws;
	return ws;
}

static void stream_free(struct sl_wt_conn *c, struct wt_stream *ws)
{
	*ws->pprev = ws->next;
	if (ws->next)
		ws->next->pprev = ws->pprev;
	free(ws->sec);
	if (c->connect == ws)
		c->connect = NULL;
	sl_pool_put(&c->pool, ws);
}

/* Writes bytes of our own (a copy) on a stream. */
static int write_copy(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n,
		      bool fin)
{
	struct sl_slice s = {0};
	if (n > 0) {
		struct sl_buf *b = sl_buf_from(p, n);
		if (b == NULL)
			return SL_ENOMEM;
		s = sl_slice_of(b);
	}
	return c->lower->write(c->lower_t, ws->handle, s, fin);
}

/* Appends bytes to the stream's buffer; false when it would exceed cap (nothing kept). */
static bool append(struct wt_stream *ws, const uint8_t *d, size_t n, size_t cap)
{
	if (ws->sec_len + n > cap)
		return false;
	if (ws->sec_cap < ws->sec_len + n) {
		size_t want = ws->sec_len + n;
		want = want < 256 ? 256 : want * 2 > cap ? cap : want * 2;
		uint8_t *p = realloc(ws->sec, want);
		if (p == NULL)
			return false;
		ws->sec = p;
		ws->sec_cap = want;
	}
	if (n)
		memcpy(ws->sec + ws->sec_len, d, n);
	ws->sec_len += n;
	return true;
}

/* Collects a frame's payload piece; false when it would exceed cap (nothing kept). */
static bool collect(struct wt_stream *ws, const struct sl_h3_read *ev, size_t cap)
{
	return append(ws, ev->data, ev->data_len, cap);
}

/* The session is over from the transport's side: tell it and hand it back to the host. */
static void end_session(struct sl_wt_conn *c)
{
	c->session_ended = true;
	if (c->session == NULL)
		return;
	struct sl_moq_session *s = c->session;
	c->session = NULL;
	c->session_ended = true;
	/* The session's streams forget it: their events are no longer reported. */
	for (struct wt_stream *ws = c->streams; ws; ws = ws->next)
		ws->moq = NULL;
	sl_moq_session_closed(s); /* idempotent: it may have closed itself */
	if (c->host.detach)
		c->host.detach(c->host.arg, c, s);
}

/* Ends our side of the CONNECT stream (once). */
static void connect_fin(struct sl_wt_conn *c)
{
	if (c->connect == NULL || c->connect_fin_sent || c->closed)
		return;
	c->connect_fin_sent = true;
	write_copy(c, c->connect, NULL, 0, true);
}

/* The peer ended the session: nothing more will come over this connection (one session per
 * connection), and Chromium drops it without a word, so it is closed now rather than at the
 * idle timeout. */
static void close_after_peer(struct sl_wt_conn *c)
{
	if (c->failed || c->closed)
		return;
	c->failed = true;
	c->lower->close(c->lower_t, SL_H3_NO_ERROR, "session closed by the peer");
}

/* ---- sf-list of strings ---- */

static const char *sf_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

int sl_wt_pick_protocol(const char *list, const char *const *served, unsigned n)
{
	int best = SL_ENOTFOUND;
	const char *p = sf_ws(list ? list : "");
	while (*p) {
		/* An sf-string: "..." with \" and \\ escapes, printable ASCII. */
		if (*p != '"')
			return SL_ENOTFOUND;
		char item[128];
		size_t len = 0;
		bool too_long = false;
		for (p++;; p++) {
			char ch = *p;
			if (ch == '\0' || (unsigned char)ch < 0x20 || (unsigned char)ch > 0x7e)
				return SL_ENOTFOUND;
			if (ch == '"')
				break;
			if (ch == '\\') {
				p++;
				if (*p != '"' && *p != '\\')
					return SL_ENOTFOUND;
				ch = *p;
			}
			if (len + 1 < sizeof(item))
				item[len++] = ch;
			else
				too_long = true;
		}
		p++;
		item[len] = '\0';
		/* Parameters (;key or ;key=value) are allowed and mean nothing here. */
		while (*p == ';') {
			p++;
			while (*p && *p != ',' && *p != ';')
				p++;
		}
		for (unsigned i = 0; !too_long && i < n; i++) {
			if (strcmp(item, served[i]) == 0 && (best < 0 || (int)i < best))
				best = (int)i;
		}
		p = sf_ws(p);
		if (*p == '\0')
			break;
		if (*p != ',')
			return SL_ENOTFOUND;
		p = sf_ws(p + 1);
		if (*p == '\0')
			return SL_ENOTFOUND; /* a trailing comma */
	}
	return best;
}

/* ---- answers ---- */

#define FIELD(n, v) ((struct sl_h3_field){n, v, sizeof(n) - 1, strlen(v)})

static void answer(struct sl_wt_conn *c, struct wt_stream *ws, const struct sl_h3_field *f,
		   size_t n, bool fin)
{
	uint8_t buf[512];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_h3_qpack_encode(c->qpack, (int64_t)ws->id, f, n, &w) != 0) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot encode an answer");
		return;
	}
	write_copy(c, ws, buf, sl_writer_len(&w), fin);
}

/* The prefixes of the session's own streams (session id), ready before the session may open
 * one. Returns 0 or SL_ENOMEM (none kept). */
static int make_prefixes(struct sl_wt_conn *c, uint64_t id)
{
	uint8_t pre[16];
	struct sl_writer w;
	sl_writer_init(&w, pre, sizeof(pre));
	sl_h3_encode_wt_stream_header(&w, true, id);
	c->prefix_bidi = sl_buf_from(pre, sl_writer_len(&w));
	sl_writer_init(&w, pre, sizeof(pre));
	sl_h3_encode_wt_stream_header(&w, false, id);
	c->prefix_uni = sl_buf_from(pre, sl_writer_len(&w));
	if (c->prefix_bidi == NULL || c->prefix_uni == NULL) {
		if (c->prefix_bidi)
			sl_buf_unref(c->prefix_bidi);
		if (c->prefix_uni)
			sl_buf_unref(c->prefix_uni);
		c->prefix_bidi = c->prefix_uni = NULL;
		return SL_ENOMEM;
	}
	return 0;
}

static void refuse(struct sl_wt_conn *c, struct wt_stream *ws, int status)
{
	char code[8];
	snprintf(code, sizeof(code), "%d", status >= 100 && status <= 999 ? status : 500);
	struct sl_h3_field f = {":status", code, 7, strlen(code)};
	c->st.refused++;
	answer(c, ws, &f, 1, true);
	ws->kind = K_DRAIN;
}

/* A request's decoded fields: answer it, or start the session. */
static void on_fields(struct sl_wt_conn *c, struct wt_stream *ws, const struct sl_h3_fields *fs)
{
	const char *why = NULL;
	struct sl_h3_connect req;
	int status = 0;
	int rc = sl_h3_read_connect(fs, &req, &status, &why);
	if (rc == SL_ECORRUPT) {
		c->st.malformed++;
		c->lower->reset(c->lower_t, ws->handle, SL_H3_MESSAGE_ERROR);
		ws->kind = K_DRAIN;
		return;
	}
	if (rc != 0) {
		refuse(c, ws, status);
		return;
	}
	if (c->session || c->session_ended || c->connect) {
		refuse(c, ws, 429); /* one session per connection */
		return;
	}
	int pick = sl_wt_pick_protocol(req.protocols, c->host.alpns, c->host.n_alpns);
	if (pick < 0) {
		/* Without a version named here, the client would settle it in-band, which this
		 * relay does not do (docs/h3.md). */
		refuse(c, ws, 400);
		return;
	}
	const char *alpn = c->host.alpns[pick];
	if (make_prefixes(c, ws->id) != 0) {
		refuse(c, ws, 500);
		return;
	}
	c->session_id = ws->id;
	c->connect = ws;
	status = 0;
	struct sl_moq_session *s =
		c->host.attach(c->host.arg, c, &req, alpn, &sl_wt_moq_transport, c, &status, &why);
	if (s == NULL) {
		/* A later CONNECT on this connection may still be accepted. */
		c->connect = NULL;
		sl_buf_unref(c->prefix_bidi);
		sl_buf_unref(c->prefix_uni);
		c->prefix_bidi = c->prefix_uni = NULL;
		refuse(c, ws, status ? status : 403);
		return;
	}
	c->session = s;
	ws->kind = K_CONNECT;
	sl_h3_frame_reader_init(&ws->rd.fr, false);
	c->st.sessions++;
	char quoted[80];
	snprintf(quoted, sizeof(quoted), "\"%s\"", alpn);
	struct sl_h3_field f[3];
	size_t n = 0;
	f[n++] = FIELD(":status", "200");
	if (req.draft02)
		f[n++] = FIELD("sec-webtransport-http3-draft", "draft02");
	f[n++] = FIELD("wt-protocol", quoted);
	answer(c, ws, f, n, false);
}

/* A whole HEADERS section arrived on a request stream. */
static void on_request(struct sl_wt_conn *c, struct wt_stream *ws)
{
	enum sl_h3_error err;
	const char *why = NULL;
	c->st.requests++;
	/* A few KiB, once per request: not worth keeping per connection. */
	struct sl_h3_fields *fs = malloc(sizeof(*fs));
	if (fs == NULL) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
		return;
	}
	int rc =
		sl_h3_qpack_decode(c->qpack, (int64_t)ws->id, ws->sec, ws->sec_len, fs, &err, &why);
	free(ws->sec);
	ws->sec = NULL;
	ws->sec_len = ws->sec_cap = 0;
	if (rc != 0) {
		if (err == SL_H3_MESSAGE_ERROR || err == SL_H3_EXCESSIVE_LOAD) {
			c->st.malformed++;
			c->lower->reset(c->lower_t, ws->handle, err);
			ws->kind = K_DRAIN;
		} else {
			fail_conn(c, err, why);
		}
	} else {
		on_fields(c, ws, fs);
	}
	free(fs);
}
/* ---- the client's CONNECT and its answer ---- */

/* A session stream the server opened before its answer was read is kept up to this much:
 * the answer and the session's first streams leave the server together, and QUIC may hand
 * them over in any order. */
#define MAX_PENDING 65536

/* The client ends the connection after a refusal or an answer it cannot use: one session per
 * connection, so nothing else would come over it. Not an HTTP/3 error of the server's. */
static void client_give_up(struct sl_wt_conn *c, const char *why)
{
	if (c->failed || c->closed)
		return;
	note(c, why);
	c->failed = true;
	c->lower->close(c->lower_t, SL_H3_NO_ERROR, c->why);
}

/* The extended CONNECT (RFC 9220, draft-ietf-webtrans-http3), sent once the server's SETTINGS
 * said it takes one: RFC 9220 3 forbids it before. */
static void send_connect(struct sl_wt_conn *c)
{
	if (c->connect_sent || c->failed || c->closed)
		return;
	c->connect_sent = true;
	struct wt_stream *ws = stream_new(c, K_RESPONSE, true);
	if (ws == NULL) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
		return;
	}
	if (c->lower->open_stream(c->lower_t, true, ws, &ws->handle) != 0) {
		stream_free(c, ws);
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot open the CONNECT stream");
		return;
	}
	/* Our first bidirectional stream, so id 0, which names the session in every prefix: the
	 * moq session opens none before the answer (up_open says SL_EBUSY until then). */
	ws->id = 0;
	sl_h3_frame_reader_init(&ws->rd.fr, false);
	if (make_prefixes(c, ws->id) != 0) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
		return;
	}
	c->session_id = ws->id;
	c->connect = ws;
	/* wt-available-protocols: an sf-list of sf-strings, our versions in our order. */
	char protos[4 * 40] = "";
	size_t pl = 0;
	for (unsigned i = 0; i < c->host.n_alpns && pl < sizeof(protos); i++)
		pl += (size_t)snprintf(protos + pl, sizeof(protos) - pl, "%s\"%s\"", i ? ", " : "",
				       c->host.alpns[i]);
	struct sl_h3_field f[7];
	size_t n = 0;
	f[n++] = FIELD(":method", "CONNECT");
	f[n++] = FIELD(":scheme", "https");
	f[n++] = FIELD(":authority", c->authority);
	f[n++] = FIELD(":path", c->path);
	f[n++] = FIELD(":protocol", "webtransport");
	/* Draft-02's marker, as Chromium sends it: the relay answers in the same terms. */
	f[n++] = FIELD("sec-webtransport-http3-draft02", "1");
	f[n++] = FIELD("wt-available-protocols", protos);
	uint8_t buf[2048];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_h3_qpack_encode(c->qpack, (int64_t)ws->id, f, n, &w) != 0) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot encode the CONNECT");
		return;
	}
	if (write_copy(c, ws, buf, sl_writer_len(&w), false) != 0)
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot write the CONNECT");
}

static void wt_accept(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n,
		      bool fin)
{
	ws->kind = K_WT_IN;
	ws->moq = sl_moq_session_stream_accept(c->session, ws, ws->bidi);
	c->st.streams_in++;
	if (ws->moq && (n > 0 || fin))
		sl_moq_session_stream_data(c->session, ws->moq, p, n, fin);
}

/* The session is attached: the streams the server opened before the answer go to it. */
static void adopt_pending(struct sl_wt_conn *c)
{
	struct wt_stream *next;
	for (struct wt_stream *ws = c->streams; ws && live(c); ws = next) {
		next = ws->next;
		if (ws->kind != K_WT_PENDING)
			continue;
		uint8_t *b = ws->sec;
		size_t n = ws->sec_len;
		ws->sec = NULL;
		ws->sec_len = ws->sec_cap = 0;
		wt_accept(c, ws, b, n, ws->pending_fin);
		free(b);
		if (ws->gone) {
			/* Its lower stream closed while it waited: the session hears it now. */
			if (ws->moq && live(c))
				sl_moq_session_stream_closed(c->session, ws->moq);
			stream_free(c, ws);
		}
	}
}

/* The answer's whole HEADERS section. */
static void on_response(struct sl_wt_conn *c, struct wt_stream *ws)
{
	enum sl_h3_error err;
	const char *why = NULL;
	struct sl_h3_fields *fs = malloc(sizeof(*fs)); /* once per connection */
	if (fs == NULL) {
		fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
		return;
	}
	int rc =
		sl_h3_qpack_decode(c->qpack, (int64_t)ws->id, ws->sec, ws->sec_len, fs, &err, &why);
	ws->sec_len = 0;
	const struct sl_h3_field *st = rc == 0 ? sl_h3_fields_get(fs, ":status") : NULL;
	int status = 0;
	if (st && st->value_len == 3 && st->value[0] >= '1' && st->value[0] <= '5' &&
	    st->value[1] >= '0' && st->value[1] <= '9' && st->value[2] >= '0' &&
	    st->value[2] <= '9')
		status = atoi(st->value);
	if (status == 0) {
		free(fs);
		c->st.malformed++;
		fail_conn(c, rc == 0 || err == SL_H3_MESSAGE_ERROR ? SL_H3_MESSAGE_ERROR : err,
			  "a malformed answer to the CONNECT");
		return;
	}
	if (status < 200) {
		free(fs); /* interim: the answer is still to come */
		return;
	}
	c->status = status;
	char msg[sizeof(c->why)];
	if (status >= 300) {
		free(fs);
		c->st.refused++;
		snprintf(msg, sizeof(msg), "the server refused the WebTransport session: %d",
			 status);
		client_give_up(c, msg);
		return;
	}
	/* wt-protocol: the version the server picked, an sf-string among those offered. */
	const struct sl_h3_field *wp = sl_h3_fields_get(fs, "wt-protocol");
	int pick =
		wp ? sl_wt_pick_protocol(wp->value, c->host.alpns, c->host.n_alpns) : SL_ENOTFOUND;
	free(fs);
	if (pick < 0) {
		client_give_up(c, "the server's 200 named no moq-lite version offered "
				  "(wt-protocol)");
		return;
	}
	int hstatus = 0;
	why = NULL;
	struct sl_moq_session *s = c->host.attach(c->host.arg, c, NULL, c->host.alpns[pick],
						  &sl_wt_moq_transport, c, &hstatus, &why);
	if (s == NULL) {
		client_give_up(c, why ? why : "no session for the connection");
		return;
	}
	c->session = s;
	ws->kind = K_CONNECT;
	sl_h3_frame_reader_init(&ws->rd.fr, false);
	free(ws->sec);
	ws->sec = NULL;
	ws->sec_cap = 0;
	c->st.sessions++;
	adopt_pending(c);
}

/* What the HEADERS reader of a request or response stream stopped at. */
enum msg_stop {
	MSG_MORE,      /* the bytes are used up (or the stream is another kind now) */
	MSG_WT,	       /* a WebTransport signal: *ev has the session and the stream's bytes */
	MSG_TOO_LARGE, /* a HEADERS frame over MAX_SECTION: the caller refuses it its way */
	MSG_FAILED,    /* the connection failed (a frame no message may begin with) */
};

/*
 * Reads a request (server) or response (client) stream's frames while ws->kind stays kind:
 * collects its HEADERS and calls done once they are whole, skips unknown frames, and treats
 * DATA before the HEADERS and control frames as H3_FRAME_UNEXPECTED (RFC 9114 4.1, 7.2).
 */
static enum msg_stop message_frames(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t **p,
				    size_t *n, enum kind kind,
				    void (*done)(struct sl_wt_conn *, struct wt_stream *),
				    struct sl_h3_read *ev)
{
	while (ws->kind == kind && !c->failed) {
		int e = sl_h3_frame_read(&ws->rd.fr, p, n, ev);
		if (e == SL_H3_READ_NONE)
			break;
		if (e == SL_H3_READ_WT_STREAM)
			return MSG_WT;
		if (e == SL_H3_READ_FRAME) {
			uint64_t t = ev->type;
			if (kind == K_REQUEST && c->client) {
				/* A server opens no request streams (RFC 9114 6.1). */
				fail_conn(c, SL_H3_STREAM_CREATION_ERROR,
					  "a request stream from the server");
				return MSG_FAILED;
			}
			if (t == SL_H3_FRAME_HEADERS) {
				if (ev->len > MAX_SECTION)
					return MSG_TOO_LARGE;
				ws->sec_skip = false;
				ws->sec_len = 0;
			} else if (t == SL_H3_FRAME_DATA || t == SL_H3_FRAME_SETTINGS ||
				   t == SL_H3_FRAME_GOAWAY || t == SL_H3_FRAME_MAX_PUSH_ID ||
				   t == SL_H3_FRAME_CANCEL_PUSH || t == SL_H3_FRAME_PUSH_PROMISE ||
				   sl_h3_frame_is_h2_reserved(t)) {
				fail_conn(c, SL_H3_FRAME_UNEXPECTED,
					  "a frame a message may not begin with");
				return MSG_FAILED;
			} else {
				ws->sec_skip = true;
			}
			continue;
		}
		if (ws->sec_skip)
			continue;
		if (!collect(ws, ev, MAX_SECTION)) {
			fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
			return MSG_FAILED;
		}
		if (ev->end)
			done(c, ws);
	}
	return MSG_MORE;
}

static void response_frames(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n,
			    bool fin)
{
	struct sl_h3_read ev;
	switch (message_frames(c, ws, &p, &n, K_RESPONSE, on_response, &ev)) {
	case MSG_TOO_LARGE:
		fail_conn(c, SL_H3_EXCESSIVE_LOAD, "an answer too large");
		return;
	case MSG_FAILED:
		return;
	default:
		break;
	}
	if (ws->kind == K_CONNECT && (n > 0 || fin))
		sl_wt_stream_data(c, ws, p, n, fin);
	else if (fin && ws->kind == K_RESPONSE && !c->failed)
		fail_conn(c, SL_H3_REQUEST_INCOMPLETE,
			  "the server ended the CONNECT stream without an answer");
}

/* ---- capsules on the CONNECT stream ---- */

static void capsule_bytes(struct sl_wt_conn *c, const uint8_t *p, size_t n)
{
	while (n > 0 && live(c)) {
		if (!c->cap_in_value) {
			/* type and length, two varints */
			c->cap_hdr[c->cap_hdr_len++] = *p++;
			n--;
			size_t a = (size_t)1 << (c->cap_hdr[0] >> 6);
			if (c->cap_hdr_len <= a)
				continue;
			size_t b = (size_t)1 << (c->cap_hdr[a] >> 6);
			if (c->cap_hdr_len < a + b)
				continue;
			struct sl_reader r;
			sl_reader_init(&r, c->cap_hdr, c->cap_hdr_len);
			sl_reader_varint(&r, &c->cap_type);
			sl_reader_varint(&r, &c->cap_left);
			c->cap_hdr_len = 0;
			c->cap_in_value = true;
			c->cap_val_len = 0;
			if (c->cap_type == SL_H3_CAPSULE_CLOSE_WEBTRANSPORT_SESSION &&
			    c->cap_left > sizeof(c->cap_val)) {
				fail_conn(c, SL_H3_MESSAGE_ERROR,
					  "a CLOSE_WEBTRANSPORT_SESSION too long");
				return;
			}
		}
		size_t take = n < c->cap_left ? n : (size_t)c->cap_left;
		if (c->cap_type == SL_H3_CAPSULE_CLOSE_WEBTRANSPORT_SESSION) {
			memcpy(c->cap_val + c->cap_val_len, p, take);
			c->cap_val_len += take;
		}
		p += take;
		n -= take;
		c->cap_left -= take;
		if (c->cap_left > 0)
			continue;
		c->cap_in_value = false;
		if (c->cap_type == SL_H3_CAPSULE_CLOSE_WEBTRANSPORT_SESSION) {
			uint32_t code;
			const uint8_t *reason;
			size_t rlen;
			if (sl_h3_decode_wt_close(c->cap_val, c->cap_val_len, &code, &reason,
						  &rlen) != 0) {
				fail_conn(c, SL_H3_MESSAGE_ERROR, "a malformed CLOSE capsule");
				return;
			}
			c->st.closes_in++;
			end_session(c);
			connect_fin(c);
			close_after_peer(c);
			return;
		}
		/* DRAIN and unknown capsules ask nothing of a server that has one session. */
	}
}

/* ---- streams' bytes ---- */

static void control_frames(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n)
{
	struct sl_h3_read ev;
	while (!c->failed && sl_h3_frame_read(&ws->rd.fr, &p, &n, &ev) != SL_H3_READ_NONE) {
		if (ev.event == SL_H3_READ_FRAME) {
			uint64_t t = ev.type;
			if (!ws->settings_seen && t != SL_H3_FRAME_SETTINGS) {
				fail_conn(c, SL_H3_MISSING_SETTINGS,
					  "the control stream did not "
					  "start with SETTINGS");
				return;
			}
			if (ws->settings_seen && t == SL_H3_FRAME_SETTINGS) {
				fail_conn(c, SL_H3_FRAME_UNEXPECTED, "a second SETTINGS");
				return;
			}
			if (t == SL_H3_FRAME_DATA || t == SL_H3_FRAME_HEADERS ||
			    t == SL_H3_FRAME_PUSH_PROMISE || sl_h3_frame_is_h2_reserved(t)) {
				fail_conn(c, SL_H3_FRAME_UNEXPECTED,
					  "a frame the control stream may not carry");
				return;
			}
			if (t == SL_H3_FRAME_SETTINGS && ev.len > MAX_SETTINGS) {
				fail_conn(c, SL_H3_EXCESSIVE_LOAD, "SETTINGS too large");
				return;
			}
			ws->sec_len = 0;
			ws->sec_skip = t != SL_H3_FRAME_SETTINGS;
			continue;
		}
		if (ws->sec_skip)
			continue;
		if (!collect(ws, &ev, MAX_SETTINGS)) {
			fail_conn(c, SL_H3_INTERNAL_ERROR, "out of memory");
			return;
		}
		if (ev.end) {
			struct sl_h3_settings s;
			enum sl_h3_error err;
			if (sl_h3_decode_settings(ws->sec, ws->sec_len, &s, &err) != 0) {
				fail_conn(c, err, "bad SETTINGS");
				return;
			}
			ws->settings_seen = true;
			free(ws->sec);
			ws->sec = NULL;
			ws->sec_len = ws->sec_cap = 0;
			if (c->client) {
				/* RFC 9220 3: no extended CONNECT unless the server enabled it;
				 * and a server without WebTransport would refuse it anyway. */
				if (s.enable_connect_protocol != 1 ||
				    (s.enable_webtransport == 0 && s.wt_max_sessions == 0)) {
					client_give_up(c, "the server's SETTINGS do not offer "
							  "WebTransport");
					return;
				}
				send_connect(c);
			}
		}
	}
}

/* A peer's WebTransport stream of session id: hand it to the session, or turn it away. */
static void wt_in(struct sl_wt_conn *c, struct wt_stream *ws, uint64_t id, const uint8_t *p,
		  size_t n, bool fin)
{
	if (c->client && c->session == NULL && !c->session_ended && c->connect &&
	    id == c->session_id && append(ws, p, n, MAX_PENDING)) {
		/* Ahead of the answer: kept until it comes. */
		ws->kind = K_WT_PENDING;
		ws->pending_fin = fin;
		return;
	}
	if (!live(c) || id != c->session_id) {
		c->st.streams_rejected++;
		c->lower->reset(c->lower_t, ws->handle, WT_BUFFERED_STREAM_REJECTED);
		ws->kind = K_DRAIN;
		return;
	}
	wt_accept(c, ws, p, n, fin);
}

static void request_frames(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n,
			   bool fin)
{
	struct sl_h3_read ev;
	switch (message_frames(c, ws, &p, &n, K_REQUEST, on_request, &ev)) {
	case MSG_WT:
		wt_in(c, ws, ev.session, ev.data, ev.data_len, fin);
		return;
	case MSG_TOO_LARGE:
		c->st.malformed++;
		c->lower->reset(c->lower_t, ws->handle, SL_H3_EXCESSIVE_LOAD);
		ws->kind = K_DRAIN;
		return;
	case MSG_FAILED:
		return;
	case MSG_MORE:
		break;
	}
	/* The rest of the bytes (capsules) and the end of the stream belong to the session now:
	 * a FIN that came with the HEADERS ends it at once. */
	if (ws->kind == K_CONNECT && (n > 0 || fin))
		sl_wt_stream_data(c, ws, p, n, fin);
	else if (fin && ws->kind == K_REQUEST) {
		/* The request ended without a whole HEADERS. */
		c->st.malformed++;
		c->lower->reset(c->lower_t, ws->handle, SL_H3_REQUEST_INCOMPLETE);
		ws->kind = K_DRAIN;
	}
}

static void connect_frames(struct sl_wt_conn *c, struct wt_stream *ws, const uint8_t *p, size_t n,
			   bool fin)
{
	struct sl_h3_read ev;
	while (!c->failed && live(c) &&
	       sl_h3_frame_read(&ws->rd.fr, &p, &n, &ev) != SL_H3_READ_NONE) {
		if (ev.event == SL_H3_READ_FRAME) {
			if (ev.type == SL_H3_FRAME_HEADERS) {
				/* Trailers: the request is over, and so is the session. */
				end_session(c);
				connect_fin(c);
				return;
			}
			if (ev.type != SL_H3_FRAME_DATA &&
			    (sl_h3_frame_is_h2_reserved(ev.type) || ev.type <= 0x0d)) {
				fail_conn(c, SL_H3_FRAME_UNEXPECTED,
					  "a frame the CONNECT stream "
					  "may not carry");
				return;
			}
			ws->sec_skip = ev.type != SL_H3_FRAME_DATA;
			continue;
		}
		if (!ws->sec_skip)
			capsule_bytes(c, ev.data, ev.data_len);
	}
	if (fin) {
		/* The client ended the CONNECT stream: the session is over. */
		end_session(c);
		connect_fin(c);
		close_after_peer(c);
	}
}

void sl_wt_stream_data(struct sl_wt_conn *c, void *user, const uint8_t *p, size_t n, bool fin)
{
	struct wt_stream *ws = user;
	if (ws == NULL || c->closed)
		return;
	switch (ws->kind) {
	case K_UNI_HEAD: {
		uint64_t type, id;
		if (sl_h3_uni_read(&ws->rd.ur, &p, &n, &type, &id) == 0) {
			if (fin)
				ws->kind = K_DRAIN;
			return;
		}
		if (type == SL_H3_UNI_CONTROL) {
			if (c->control_in_seen) {
				fail_conn(c, SL_H3_STREAM_CREATION_ERROR,
					  "a second control stream");
				return;
			}
			c->control_in_seen = true;
			ws->kind = K_CONTROL_IN;
			sl_h3_frame_reader_init(&ws->rd.fr, false);
		} else if (type == SL_H3_UNI_PUSH) {
			/* A client that never sent MAX_PUSH_ID allowed no push (RFC 9114 4.6). */
			if (c->client)
				fail_conn(c, SL_H3_ID_ERROR, "a push stream never allowed");
			else
				fail_conn(c, SL_H3_STREAM_CREATION_ERROR,
					  "a push stream from a client");
			return;
		} else if (type == SL_H3_UNI_QPACK_ENCODER || type == SL_H3_UNI_QPACK_DECODER) {
			bool *seen = type == SL_H3_UNI_QPACK_ENCODER ? &c->qpack_enc_seen
								     : &c->qpack_dec_seen;
			if (*seen) {
				fail_conn(c, SL_H3_STREAM_CREATION_ERROR, "a second QPACK stream");
				return;
			}
			*seen = true;
			/* With no dynamic table there is nothing to learn from them. */
			ws->kind = K_DRAIN;
		} else if (type == SL_H3_UNI_WT) {
			wt_in(c, ws, id, p, n, fin);
			return;
		} else {
			ws->kind = K_DRAIN; /* unknown or grease: read and dropped (RFC 9114 6.2) */
		}
		if (n > 0 || fin)
			sl_wt_stream_data(c, ws, p, n, fin);
		return;
	}
	case K_CONTROL_IN:
		control_frames(c, ws, p, n);
		if (fin && !c->failed)
			fail_conn(c, SL_H3_CLOSED_CRITICAL_STREAM, "the control stream ended");
		return;
	case K_REQUEST:
		request_frames(c, ws, p, n, fin);
		return;
	case K_CONNECT:
		connect_frames(c, ws, p, n, fin);
		return;
	case K_RESPONSE:
		response_frames(c, ws, p, n, fin);
		return;
	case K_WT_PENDING:
		if (!append(ws, p, n, MAX_PENDING)) {
			c->st.streams_rejected++;
			c->lower->reset(c->lower_t, ws->handle, WT_BUFFERED_STREAM_REJECTED);
			ws->kind = K_DRAIN;
		}
		ws->pending_fin = ws->pending_fin || fin;
		return;
	case K_WT_IN:
	case K_WT_OUT:
		if (ws->moq && live(c))
			sl_moq_session_stream_data(c->session, ws->moq, p, n, fin);
		return;
	case K_DRAIN:
	case K_CONTROL_OUT:
		return;
	}
}

/* ---- other stream events ---- */

void *sl_wt_stream_accept(struct sl_wt_conn *c, void *handle, bool bidi)
{
	if (c->closed)
		return NULL;
	struct wt_stream *ws = stream_new(c, bidi ? K_REQUEST : K_UNI_HEAD, bidi);
	if (ws == NULL) {
		fail_conn(c, SL_H3_EXCESSIVE_LOAD, "too many streams");
		return NULL;
	}
	ws->handle = handle;
	if (bidi) {
		/* Client bidi streams arrive in id order (the endpoint opens the lower ones
		 * first), so the id is the count so far. */
		ws->id = c->next_bidi_id;
		c->next_bidi_id += 4;
		sl_h3_frame_reader_init(&ws->rd.fr, true);
	}
	return ws;
}

void sl_wt_stream_reset(struct sl_wt_conn *c, void *user, uint64_t code)
{
	struct wt_stream *ws = user;
	if (ws == NULL || c->closed)
		return;
	switch (ws->kind) {
	case K_CONTROL_IN:
	case K_CONTROL_OUT:
		fail_conn(c, SL_H3_CLOSED_CRITICAL_STREAM, "the control stream was reset");
		return;
	case K_CONNECT:
		end_session(c);
		return;
	case K_RESPONSE: {
		char msg[96];
		snprintf(msg, sizeof(msg), "the server reset the CONNECT stream (%s)",
			 sl_h3_error_name(code));
		client_give_up(c, msg);
		return;
	}
	case K_WT_PENDING:
		ws->kind = K_DRAIN; /* never reached the session */
		return;
	case K_WT_IN:
	case K_WT_OUT:
		if (ws->moq && live(c)) {
			uint32_t wt;
			if (sl_h3_wt_code_from_h3(code, &wt) != 0)
				wt = 0; /* an HTTP/3 code, not the application's */
			sl_moq_session_stream_reset(c->session, ws->moq, wt);
		}
		return;
	default:
		return;
	}
}

void sl_wt_stream_acked(struct sl_wt_conn *c, void *user, uint64_t bytes)
{
	struct wt_stream *ws = user;
	if (ws == NULL || c->closed)
		return;
	if (ws->kind != K_WT_OUT && ws->kind != K_WT_IN)
		return;
	uint64_t pre = bytes < ws->prefix_left ? bytes : ws->prefix_left;
	ws->prefix_left -= pre;
	bytes -= pre;
	if (bytes > 0 && ws->moq && live(c))
		sl_moq_session_stream_acked(c->session, ws->moq, bytes);
}

void sl_wt_stream_closed(struct sl_wt_conn *c, void *user)
{
	struct wt_stream *ws = user;
	if (ws == NULL)
		return;
	if (ws->kind == K_WT_PENDING && !c->closed) {
		/* A finished stream ahead of the answer: its bytes wait for the session. */
		ws->gone = true;
		ws->handle = NULL;
		return;
	}
	if ((ws->kind == K_WT_IN || ws->kind == K_WT_OUT) && ws->moq && live(c))
		sl_moq_session_stream_closed(c->session, ws->moq);
	bool was_connect = ws == c->connect;
	stream_free(c, ws);
	if (was_connect && !c->closed) {
		/* Both sides of the CONNECT stream are done: so is the connection. */
		end_session(c);
		if (!c->failed) {
			c->failed = true;
			c->lower->close(c->lower_t, SL_H3_NO_ERROR, "session closed");
		}
	}
}

void sl_wt_writable(struct sl_wt_conn *c)
{
	if (live(c) && !c->closed)
		sl_moq_session_writable(c->session);
}

void sl_wt_closed(struct sl_wt_conn *c)
{
	if (c->closed)
		return;
	end_session(c);
	c->closed = true;
}

/* ---- life ---- */

int sl_wt_conn_new(const struct sl_wt_host *host, const struct sl_moq_transport_ops *lower,
		   void *lower_t, struct sl_wt_conn **out)
{
	if (host == NULL || host->attach == NULL || host->n_alpns == 0 || host->n_alpns > 4 ||
	    lower == NULL)
		return SL_EINVAL;
	struct sl_wt_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->host = *host;
	c->lower = lower;
	c->lower_t = lower_t;
	if (sl_pool_init(&c->pool, "wt streams", sizeof(struct wt_stream), 0, 0, 0) != 0 ||
	    sl_h3_qpack_new(&c->qpack) != 0) {
		sl_pool_fini(&c->pool);
		free(c);
		return SL_ENOMEM;
	}
	*out = c;
	return 0;
}

void sl_wt_conn_free(struct sl_wt_conn *c)
{
	if (c == NULL)
		return;
	sl_wt_closed(c);
	while (c->streams)
		stream_free(c, c->streams);
	if (c->prefix_bidi)
		sl_buf_unref(c->prefix_bidi);
	if (c->prefix_uni)
		sl_buf_unref(c->prefix_uni);
	sl_h3_qpack_free(c->qpack);
	sl_pool_fini(&c->pool);
	free(c);
}

int sl_wt_start(struct sl_wt_conn *c)
{
	if (c->started)
		return 0;
	c->started = true;
	struct wt_stream *ws = stream_new(c, K_CONTROL_OUT, false);
	if (ws == NULL)
		return SL_ENOMEM;
	int rc = c->lower->open_stream(c->lower_t, false, ws, &ws->handle);
	if (rc != 0) {
		stream_free(c, ws);
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot open the control stream");
		return rc;
	}
	/* Chromium negotiates WebTransport draft-02: it needs 0x2b603742 and H3_DATAGRAM, and
	 * waits for these before it sends its CONNECT. The session counts are for later drafts;
	 * one session, because the reference client never pools. No QPACK settings: a table
	 * capacity of 0. */
	static const struct sl_h3_setting settings[] = {
		{SL_H3_SETTING_ENABLE_CONNECT_PROTOCOL, 1},
		{SL_H3_SETTING_H3_DATAGRAM, 1},
		{SL_H3_SETTING_ENABLE_WEBTRANSPORT, 1},
		{SL_H3_SETTING_WT_MAX_SESSIONS_DRAFT07, 1},
		{SL_H3_SETTING_WT_MAX_SESSIONS, 1},
	};
	/* A client's: extended CONNECT is the server's to enable, so not that one; datagrams
	 * and WebTransport as Chromium announces them (the client runtime advertises
	 * max_datagram_frame_size, as H3_DATAGRAM requires, and drops what arrives). */
	static const struct sl_h3_setting client_settings[] = {
		{SL_H3_SETTING_H3_DATAGRAM, 1},
		{SL_H3_SETTING_ENABLE_WEBTRANSPORT, 1},
	};
	uint8_t buf[64];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	sl_writer_varint(&w, SL_H3_UNI_CONTROL);
	if (c->client)
		sl_h3_encode_settings(&w, client_settings,
				      sizeof(client_settings) / sizeof(client_settings[0]));
	else
		sl_h3_encode_settings(&w, settings, sizeof(settings) / sizeof(settings[0]));
	rc = write_copy(c, ws, buf, sl_writer_len(&w), false);
	if (rc != 0)
		fail_conn(c, SL_H3_INTERNAL_ERROR, "cannot write SETTINGS");
	return rc;
}

int sl_wt_conn_new_client(const struct sl_wt_host *host, const char *authority, const char *path,
			  const struct sl_moq_transport_ops *lower, void *lower_t,
			  struct sl_wt_conn **out)
{
	if (authority == NULL || authority[0] == '\0' || path == NULL || path[0] != '/')
		return SL_EINVAL;
	struct sl_wt_conn *c;
	if (strlen(authority) >= sizeof(c->authority) || strlen(path) >= sizeof(c->path))
		return SL_EINVAL;
	for (unsigned i = 0; host && i < host->n_alpns && i < 4; i++)
		if (host->alpns[i] == NULL || strlen(host->alpns[i]) > 32)
			return SL_EINVAL;
	int rc = sl_wt_conn_new(host, lower, lower_t, &c);
	if (rc != 0)
		return rc;
	c->client = true;
	snprintf(c->authority, sizeof(c->authority), "%s", authority);
	snprintf(c->path, sizeof(c->path), "%s", path);
	*out = c;
	return 0;
}

int sl_wt_status(const struct sl_wt_conn *c)
{
	return c->status;
}

const char *sl_wt_error(const struct sl_wt_conn *c)
{
	return c->why[0] ? c->why : NULL;
}

struct sl_moq_session *sl_wt_session(const struct sl_wt_conn *c)
{
	return c->session;
}

void sl_wt_stats(const struct sl_wt_conn *c, struct sl_wt_stats *out)
{
	*out = c->st;
}

/* ---- the moq session's transport ---- */

static int up_open(void *t, bool bidi, void *user, void **handle)
{
	struct sl_wt_conn *c = t;
	if (c->closed || c->failed || c->session_ended)
		return SL_ECLOSED;
	/* A client's session may poll before the answer: it retries once it is attached. */
	if (c->client && c->session == NULL)
		return SL_EBUSY;
	if (c->connect == NULL)
		return SL_ECLOSED;
	struct wt_stream *ws = stream_new(c, K_WT_OUT, bidi);
	if (ws == NULL)
		return SL_ENOMEM;
	int rc = c->lower->open_stream(c->lower_t, bidi, ws, &ws->handle);
	if (rc != 0) {
		stream_free(c, ws);
		return rc;
	}
	struct sl_buf *pre = bidi ? c->prefix_bidi : c->prefix_uni;
	struct sl_slice s = sl_slice_of(sl_buf_ref(pre));
	ws->prefix_left = s.len;
	rc = c->lower->write(c->lower_t, ws->handle, s, false);
	if (rc != 0) {
		c->lower->reset(c->lower_t, ws->handle, SL_H3_INTERNAL_ERROR);
		c->lower->release(c->lower_t, ws->handle);
		stream_free(c, ws);
		return rc;
	}
	ws->moq = user;
	c->st.streams_out++;
	*handle = ws;
	return 0;
}

static int up_write(void *t, void *h, struct sl_slice data, bool fin)
{
	struct sl_wt_conn *c = t;
	struct wt_stream *ws = h;
	if (ws->handle == NULL) {
		/* A stream that was over before the session had it (adopt_pending). */
		if (data.buf)
			sl_buf_unref(data.buf);
		return SL_ECLOSED;
	}
	return c->lower->write(c->lower_t, ws->handle, data, fin);
}

static int up_reset(void *t, void *h, uint64_t code)
{
	struct sl_wt_conn *c = t;
	struct wt_stream *ws = h;
	if (ws->handle == NULL)
		return SL_ECLOSED;
	if (code > WT_CODE_MAX)
		code = WT_CODE_MAX;
	return c->lower->reset(c->lower_t, ws->handle, sl_h3_wt_code_to_h3((uint32_t)code));
}

static void up_release(void *t, void *h)
{
	(void)t;
	struct wt_stream *ws = h;
	ws->moq = NULL;
}

static void up_close(void *t, uint64_t code, const char *reason)
{
	struct sl_wt_conn *c = t;
	if (c->session_ended || c->closed)
		return;
	/* The session closes itself after this call; it is detached when the CONNECT stream
	 * or the connection is done (end_session), not here, inside its own call. */
	c->session_ended = true;
	for (struct wt_stream *ws = c->streams; ws; ws = ws->next)
		ws->moq = NULL;
	if (c->connect && !c->connect_fin_sent) {
		uint8_t buf[16 + 4 + SL_H3_WT_MAX_REASON];
		size_t rlen = reason ? strlen(reason) : 0;
		if (rlen > SL_H3_WT_MAX_REASON)
			rlen = SL_H3_WT_MAX_REASON;
		uint8_t cap[8 + 4 + SL_H3_WT_MAX_REASON];
		struct sl_writer cw, w;
		sl_writer_init(&cw, cap, sizeof(cap));
		sl_h3_encode_wt_close(&cw,
				      code > WT_CODE_MAX ? (uint32_t)WT_CODE_MAX : (uint32_t)code,
				      reason, rlen);
		sl_writer_init(&w, buf, sizeof(buf));
		sl_h3_encode_frame_header(&w, SL_H3_FRAME_DATA, sl_writer_len(&cw));
		sl_writer_bytes(&w, cap, sl_writer_len(&cw));
		c->connect_fin_sent = true;
		c->st.closes_out++;
		write_copy(c, c->connect, buf, sl_writer_len(&w), true);
	}
}

static void up_set_order(void *t, void *h, uint64_t order)
{
	struct sl_wt_conn *c = t;
	struct wt_stream *ws = h;
	if (c->lower->set_order && ws->handle)
		c->lower->set_order(c->lower_t, ws->handle, order);
}

#define T struct sl_wt_stats
const struct sl_stat_field sl_wt_stats_fields[] = {
	SL_STAT_U(T, requests, NULL),
	SL_STAT_U(T, sessions, NULL),
	SL_STAT_U(T, refused, NULL),
	SL_STAT_U(T, malformed, NULL),
	SL_STAT_U(T, streams_in, NULL),
	SL_STAT_U(T, streams_out, NULL),
	SL_STAT_U(T, streams_rejected, NULL),
	SL_STAT_U(T, closes_in, NULL),
	SL_STAT_U(T, closes_out, NULL),
	SL_STAT_U(T, h3_errors, NULL),
	SL_STAT_TABLE_END,
};
#undef T

const struct sl_moq_transport_ops sl_wt_moq_transport = {
	.open_stream = up_open,
	.write = up_write,
	.reset = up_reset,
	.release = up_release,
	.close = up_close,
	.set_order = up_set_order,
};
