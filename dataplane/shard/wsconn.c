/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/wsconn.h"

#include "core/err.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How long a closing connection may take to drain its close frame before the socket goes. */
#define CLOSE_GRACE_NS UINT64_C(2000000000)
/* A connection that has not finished its upgrade by then is dropped. */
#define UPGRADE_NS UINT64_C(10000000000)

enum state {
	ST_HEAD,    /* reading the upgrade request */
	ST_OPEN,    /* WebSocket and qmux running */
	ST_CLOSING, /* draining the answer or the close frame, then done */
	ST_DONE,
};

struct sl_wsconn {
	struct sl_wsconn_host host;
	int fd;
	gnutls_session_t tls;
	size_t tls_blocked; /* bytes of a gnutls_record_send that returned EAGAIN */
	enum state state;
	uint64_t deadline_ns; /* upgrade, or close grace */
	struct sl_ws_http http;
	struct sl_ws_conn *ws;
	struct sl_qmux_conn *qm;
	struct sl_moq_session *s;
	bool eof;
	/* The 101 (or an error answer) goes out before any WebSocket frame. */
	char pre[1024];
	size_t pre_len, pre_off;
	char protocol[SL_WS_MAX_PROTO];
};

/* ---- qmux callbacks: output into the WebSocket, stream events to the session ---- */

static uint8_t *q_tx_alloc(void *arg, size_t max)
{
	struct sl_wsconn *c = arg;
	return sl_ws_msg_alloc(c->ws, max);
}

static void q_tx_commit(void *arg, size_t len)
{
	struct sl_wsconn *c = arg;
	sl_ws_msg_commit(c->ws, len);
}

static void q_stream_open(void *arg, struct sl_qmux_stream *s)
{
	struct sl_wsconn *c = arg;
	if (c->s == NULL)
		return;
	sl_moq_qmux_accept(c->s, s);
}

static void q_stream_data(void *arg, struct sl_qmux_stream *s, void *user, const uint8_t *data,
			  size_t len, bool fin)
{
	(void)s;
	struct sl_wsconn *c = arg;
	if (c->s && user)
		sl_moq_session_stream_data(c->s, user, data, len, fin);
}

static void q_stream_reset(void *arg, struct sl_qmux_stream *s, void *user, uint64_t code,
			   bool stop)
{
	(void)s;
	(void)stop;
	struct sl_wsconn *c = arg;
	if (c->s && user)
		sl_moq_session_stream_reset(c->s, user, code);
}

static void q_stream_acked(void *arg, struct sl_qmux_stream *s, void *user, uint64_t bytes)
{
	(void)s;
	struct sl_wsconn *c = arg;
	if (c->s && user)
		sl_moq_session_stream_acked(c->s, user, bytes);
}

static void q_stream_close(void *arg, struct sl_qmux_stream *s, void *user)
{
	(void)s;
	struct sl_wsconn *c = arg;
	if (c->s && user)
		sl_moq_session_stream_closed(c->s, user);
}

static void q_writable(void *arg)
{
	struct sl_wsconn *c = arg;
	if (c->s)
		sl_moq_session_writable(c->s);
}

static void q_ping(void *arg)
{
	struct sl_wsconn *c = arg;
	(void)sl_ws_ping(c->ws, NULL, 0);
}

static void detach(struct sl_wsconn *c)
{
	if (c->s == NULL)
		return;
	struct sl_moq_session *s = c->s;
	c->s = NULL;
	c->host.detach(c->host.arg, c, s);
}

static void q_closed(void *arg, const struct sl_qmux_close_info *info)
{
	struct sl_wsconn *c = arg;
	detach(c);
	(void)sl_ws_close(c->ws, info->code && !info->app && !info->remote ? SL_WS_CLOSE_PROTOCOL
									   : SL_WS_CLOSE_NORMAL);
	if (c->state == ST_OPEN) {
		c->state = ST_CLOSING;
		c->deadline_ns = 0; /* set by the caller's clock on the next expiry check */
	}
}

static const struct sl_qmux_callbacks qmux_cbs = {
	.tx_alloc = q_tx_alloc,
	.tx_commit = q_tx_commit,
	.on_stream_open = q_stream_open,
	.on_stream_data = q_stream_data,
	.on_stream_reset = q_stream_reset,
	.on_stream_acked = q_stream_acked,
	.on_stream_close = q_stream_close,
	.on_writable = q_writable,
	.send_ws_ping = q_ping,
	.on_closed = q_closed,
};

/* ---- WebSocket callbacks: whole messages to qmux ---- */

/* The time of the sl_ws_recv in progress, for the callbacks it makes (the WebSocket engine
 * passes no clock through; each worker runs on its own thread). */
static __thread uint64_t tl_now;

static void w_message(void *arg, const uint8_t *data, size_t len)
{
	struct sl_wsconn *c = arg;
	(void)sl_qmux_recv(c->qm, data, len, tl_now);
}

static void w_control(void *arg)
{
	struct sl_wsconn *c = arg;
	sl_qmux_note_rx(c->qm, tl_now);
}

static void w_close(void *arg, uint16_t code)
{
	(void)code;
	struct sl_wsconn *c = arg;
	sl_qmux_abort(c->qm);
}

static const struct sl_ws_callbacks ws_cbs = {
	.on_message = w_message,
	.on_control = w_control,
	.on_close = w_close,
};

/* ---- the connection ---- */

static void refuse(struct sl_wsconn *c, int status, const char *why, uint64_t now)
{
	size_t len = 0;
	if (sl_ws_response_error(status, why, c->pre, sizeof(c->pre), &len) != 0)
		len = 0;
	c->pre_len = len;
	c->pre_off = 0;
	c->state = ST_CLOSING;
	c->deadline_ns = now + CLOSE_GRACE_NS;
}

/* The request head is complete: check it, choose the subprotocol, answer 101 and start the
 * engines. Bytes after the head go to the WebSocket. */
static void upgrade(struct sl_wsconn *c, const uint8_t *rest, size_t rest_len, uint64_t now)
{
	const struct sl_ws_request *req = &c->http.req;
	int status = 400;
	const char *why = NULL;
	if (!sl_ws_is_upgrade(req)) {
		refuse(c, 400, "not a WebSocket upgrade", now);
		return;
	}
	if (sl_ws_check_upgrade(req, &status, &why) != 0) {
		refuse(c, status ? status : 400, why, now);
		return;
	}
	static const char *const alpns[] = SL_WSCONN_ALPNS;
	struct sl_ws_select_config sc = {.n_alpn = sizeof(alpns) / sizeof(alpns[0]), .bare = false};
	for (unsigned i = 0; i < sc.n_alpn; i++)
		sc.alpn[i] = alpns[i];
	struct sl_ws_choice ch;
	if (sl_ws_select(req, &sc, &ch, &why) != 0) {
		refuse(c, 400, why, now);
		return;
	}
	size_t len;
	if (sl_ws_response_101(req, &ch, c->pre, sizeof(c->pre), &len) != 0) {
		refuse(c, 500, "answer too long", now);
		return;
	}
	c->pre_len = len;
	c->pre_off = 0;
	memcpy(c->protocol, ch.protocol, sizeof(c->protocol));
	struct sl_qmux_config qc = c->host.qmux;
	qc.server = true;
	qc.framing = ch.framing;
	struct sl_ws_config wc = c->host.ws;
	wc.server = true;
	if (sl_ws_conn_new(&wc, &ws_cbs, c, &c->ws) != 0 ||
	    sl_qmux_conn_new(&qc, &qmux_cbs, c, now, &c->qm) != 0) {
		refuse(c, 503, "out of memory", now);
		return;
	}
	/* Bare names (in-band version, ch.alpn -1) were refused by sl_ws_select above. */
	c->s = c->host.attach(c->host.arg, c, ch.alpn >= 0 ? alpns[ch.alpn] : "",
			      &sl_moq_qmux_transport, c->qm);
	if (c->s == NULL) {
		refuse(c, 503, "no session", now);
		return;
	}
	c->state = ST_OPEN;
	c->deadline_ns = UINT64_MAX;
	if (rest_len) {
		tl_now = now;
		(void)sl_ws_recv(c->ws, rest, rest_len);
	}
}

static void feed(struct sl_wsconn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if (c->state == ST_HEAD) {
		size_t used = 0;
		const char *why = NULL;
		int rc = sl_ws_http_feed(&c->http, p, n, &used, &why);
		if (rc == SL_EAGAIN)
			return;
		if (rc != 0) {
			refuse(c, rc == SL_ENOSPC ? 431 : 400, why ? why : "bad request", now);
			return;
		}
		upgrade(c, p + used, n - used, now);
		return;
	}
	if (c->state == ST_OPEN || (c->state == ST_CLOSING && c->ws)) {
		tl_now = now;
		(void)sl_ws_recv(c->ws, p, n);
	}
}

int sl_wsconn_new(const struct sl_wsconn_host *host, int fd, void *tls, const uint8_t *bytes,
		  size_t len, uint64_t now_ns, struct sl_wsconn **out)
{
	struct sl_wsconn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->host = *host;
	c->fd = fd;
	c->tls = tls;
	c->state = ST_HEAD;
	c->deadline_ns = now_ns + UPGRADE_NS;
	sl_ws_http_init(&c->http);
	*out = c;
	if (len)
		feed(c, bytes, len, now_ns);
	return 0;
}

void sl_wsconn_read(struct sl_wsconn *c, uint64_t now_ns)
{
	uint8_t buf[16384];
	while (c->state != ST_DONE && !c->eof) {
		ssize_t n;
		if (c->tls) {
			n = gnutls_record_recv(c->tls, buf, sizeof(buf));
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return;
			if (n < 0 && gnutls_error_is_fatal((int)n) == 0)
				continue; /* a warning alert, a rehandshake request: ignored */
		} else {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
		}
		if (n <= 0) {
			/* The peer closed or the socket failed: the session ends. */
			c->eof = true;
			if (c->qm && !sl_qmux_closed(c->qm))
				sl_qmux_abort(c->qm);
			if (c->state != ST_CLOSING || c->pre_off == c->pre_len)
				c->state = ST_DONE;
			return;
		}
		feed(c, buf, (size_t)n, now_ns);
	}
}

/* Writes n bytes; returns what the socket took (0: it is full, or failed: eof set). */
static size_t sock_write(struct sl_wsconn *c, const uint8_t *p, size_t n)
{
	ssize_t w;
	if (c->tls) {
		/* After EAGAIN, GnuTLS wants the same call again; NULL resumes the record it
		 * already encrypted, which covers the first tls_blocked bytes. */
		if (c->tls_blocked) {
			w = gnutls_record_send(c->tls, NULL, 0);
			if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
				return 0;
			if (w < 0)
				goto fail;
			w = (ssize_t)c->tls_blocked;
			c->tls_blocked = 0;
			return (size_t)w;
		}
		if (n > 16384)
			n = 16384;
		w = gnutls_record_send(c->tls, p, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			c->tls_blocked = n;
			return 0;
		}
		if (w < 0)
			goto fail;
		return (size_t)w;
	}
	w = send(c->fd, p, n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (w < 0)
		goto fail;
	return (size_t)w;
fail:
	c->eof = true;
	if (c->qm && !sl_qmux_closed(c->qm))
		sl_qmux_abort(c->qm);
	c->state = ST_DONE;
	return 0;
}

size_t sl_wsconn_flush(struct sl_wsconn *c, uint64_t now_ns)
{
	size_t total = 0;
	while (c->state != ST_DONE) {
		if (c->pre_off < c->pre_len) {
			size_t w = sock_write(c, (const uint8_t *)c->pre + c->pre_off,
					      c->pre_len - c->pre_off);
			c->pre_off += w;
			total += w;
			if (c->pre_off < c->pre_len)
				return total;
			if (c->ws == NULL || c->state == ST_CLOSING) {
				/* An error answer is out: done. */
				if (c->ws == NULL)
					c->state = ST_DONE;
			}
			continue;
		}
		if (c->ws == NULL)
			return total;
		if (c->qm && !sl_qmux_closed(c->qm))
			sl_qmux_flush(c->qm, now_ns);
		const uint8_t *p;
		size_t n = sl_ws_pending(c->ws, &p);
		if (n == 0) {
			if (c->state == ST_CLOSING && (sl_ws_done(c->ws) || c->eof))
				c->state = ST_DONE;
			return total;
		}
		size_t w = sock_write(c, p, n);
		if (w == 0)
			return total;
		sl_ws_consume(c->ws, w);
		total += w;
	}
	return total;
}

uint64_t sl_wsconn_expiry(const struct sl_wsconn *c)
{
	uint64_t e = c->deadline_ns;
	if (c->qm && !sl_qmux_closed(c->qm)) {
		uint64_t q = sl_qmux_expiry(c->qm);
		if (q < e)
			e = q;
	}
	return e;
}

void sl_wsconn_handle_expiry(struct sl_wsconn *c, uint64_t now_ns)
{
	if (c->state == ST_CLOSING && c->deadline_ns == 0)
		c->deadline_ns = now_ns + CLOSE_GRACE_NS;
	if (c->qm && !sl_qmux_closed(c->qm) && now_ns >= sl_qmux_expiry(c->qm))
		sl_qmux_handle_expiry(c->qm, now_ns);
	if (now_ns >= c->deadline_ns && c->state != ST_DONE) {
		if (c->qm && !sl_qmux_closed(c->qm))
			sl_qmux_abort(c->qm);
		c->state = ST_DONE;
	}
}

bool sl_wsconn_done(const struct sl_wsconn *c)
{
	return c->state == ST_DONE;
}

int sl_wsconn_fd(const struct sl_wsconn *c)
{
	return c->fd;
}

const char *sl_wsconn_protocol(const struct sl_wsconn *c)
{
	return c->protocol;
}

void sl_wsconn_stats(const struct sl_wsconn *c, struct sl_ws_stats *ws, struct sl_qmux_stats *qm)
{
	memset(ws, 0, sizeof(*ws));
	memset(qm, 0, sizeof(*qm));
	if (c->ws)
		sl_ws_stats(c->ws, ws);
	if (c->qm)
		sl_qmux_stats(c->qm, qm);
}

void sl_wsconn_free(struct sl_wsconn *c)
{
	if (c == NULL)
		return;
	if (c->qm && !sl_qmux_closed(c->qm))
		sl_qmux_abort(c->qm); /* the session hears of it through on_closed */
	detach(c);
	if (c->qm)
		sl_qmux_conn_free(c->qm);
	if (c->ws)
		sl_ws_conn_free(c->ws);
	if (c->tls)
		gnutls_deinit(c->tls);
	close(c->fd);
	free(c);
}
