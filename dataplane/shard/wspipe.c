/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/wspipe.h"

#include "core/err.h"
#include "shard/moq_qmux.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <string.h>
#include <sys/socket.h>

/* The largest TLS record payload: gnutls_record_send takes no more at once. */
#define TLS_RECORD 16384

/* ---- qmux callbacks: output into the WebSocket, stream events to the session ---- */

static uint8_t *q_tx_alloc(void *arg, size_t max)
{
	struct sl_wspipe *p = arg;
	return sl_ws_msg_alloc(p->ws, max);
}

static void q_tx_commit(void *arg, size_t len)
{
	struct sl_wspipe *p = arg;
	sl_ws_msg_commit(p->ws, len);
}

static struct sl_moq_session *session(struct sl_wspipe *p)
{
	return p->host.session ? p->host.session(p->host.arg) : NULL;
}

static void q_stream_open(void *arg, struct sl_qmux_stream *s)
{
	struct sl_moq_session *ms = session(arg);
	if (ms)
		sl_moq_qmux_accept(ms, s);
}

static void q_stream_data(void *arg, struct sl_qmux_stream *s, void *user, const uint8_t *data,
			  size_t len, bool fin)
{
	(void)s;
	struct sl_moq_session *ms = session(arg);
	if (ms && user)
		sl_moq_session_stream_data(ms, user, data, len, fin);
}

static void q_stream_reset(void *arg, struct sl_qmux_stream *s, void *user, uint64_t code,
			   bool stop)
{
	(void)s;
	(void)stop;
	struct sl_moq_session *ms = session(arg);
	if (ms && user)
		sl_moq_session_stream_reset(ms, user, code);
}

static void q_stream_acked(void *arg, struct sl_qmux_stream *s, void *user, uint64_t bytes)
{
	(void)s;
	struct sl_moq_session *ms = session(arg);
	if (ms && user)
		sl_moq_session_stream_acked(ms, user, bytes);
}

static void q_stream_close(void *arg, struct sl_qmux_stream *s, void *user)
{
	(void)s;
	struct sl_moq_session *ms = session(arg);
	if (ms && user)
		sl_moq_session_stream_closed(ms, user);
}

static void q_writable(void *arg)
{
	struct sl_moq_session *ms = session(arg);
	if (ms)
		sl_moq_session_writable(ms);
}

static void q_ping(void *arg)
{
	struct sl_wspipe *p = arg;
	(void)sl_ws_ping(p->ws, NULL, 0);
}

static void q_closed(void *arg, const struct sl_qmux_close_info *info)
{
	struct sl_wspipe *p = arg;
	/* A transport error of ours is a protocol error to the peer; anything else is normal. */
	(void)sl_ws_close(p->ws, info->code && !info->app && !info->remote ? SL_WS_CLOSE_PROTOCOL
									   : SL_WS_CLOSE_NORMAL);
	p->host.closed(p->host.arg, info);
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

/* ---- WebSocket callbacks: whole messages to qmux, at the clock of the call in progress ---- */

static void w_message(void *arg, const uint8_t *data, size_t len)
{
	struct sl_wspipe *p = arg;
	(void)sl_qmux_recv(p->qm, data, len, p->now);
}

static void w_control(void *arg)
{
	struct sl_wspipe *p = arg;
	sl_qmux_note_rx(p->qm, p->now);
}

static void w_close(void *arg, uint16_t code)
{
	(void)code;
	struct sl_wspipe *p = arg;
	sl_qmux_abort(p->qm);
}

static const struct sl_ws_callbacks ws_cbs = {
	.on_message = w_message,
	.on_control = w_control,
	.on_close = w_close,
};

/* ---- the pipe ---- */

void sl_wspipe_init(struct sl_wspipe *p, int fd, void *tls)
{
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	p->tls = tls;
}

int sl_wspipe_start(struct sl_wspipe *p, const struct sl_ws_config *wc,
		    const struct sl_qmux_config *qc, const struct sl_wspipe_host *host,
		    uint64_t now_ns)
{
	p->host = *host;
	p->now = now_ns;
	int rc = sl_ws_conn_new(wc, &ws_cbs, p, &p->ws);
	if (rc == 0)
		rc = sl_qmux_conn_new(qc, &qmux_cbs, p, now_ns, &p->qm);
	if (rc != 0) {
		sl_wspipe_fini(p);
		return rc;
	}
	return 0;
}

void sl_wspipe_abort(struct sl_wspipe *p)
{
	if (p->qm && !sl_qmux_closed(p->qm))
		sl_qmux_abort(p->qm);
}

/* The socket is gone: qmux ends, and the owner hears of it through closed. */
static void sock_gone(struct sl_wspipe *p)
{
	p->eof = true;
	sl_wspipe_abort(p);
}

ssize_t sl_wspipe_read(struct sl_wspipe *p, uint8_t *buf, size_t cap)
{
	if (p->eof)
		return -1;
	for (;;) {
		ssize_t n;
		if (p->tls) {
			n = gnutls_record_recv(p->tls, buf, cap);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				return 0;
			if (n < 0 && gnutls_error_is_fatal((int)n) == 0)
				continue; /* a warning alert, a rehandshake request: ignored */
		} else {
			n = recv(p->fd, buf, cap, 0);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return 0;
		}
		if (n <= 0) {
			sock_gone(p);
			return -1;
		}
		return n;
	}
}

size_t sl_wspipe_write(struct sl_wspipe *p, const uint8_t *data, size_t n)
{
	if (p->eof)
		return 0;
	ssize_t w;
	if (p->tls) {
		/* After EAGAIN, GnuTLS wants the same call again; NULL resumes the record it
		 * already encrypted, which covers the first tls_blocked bytes. */
		if (p->tls_blocked) {
			w = gnutls_record_send(p->tls, NULL, 0);
			if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
				return 0;
			if (w < 0)
				goto fail;
			w = (ssize_t)p->tls_blocked;
			p->tls_blocked = 0;
			return (size_t)w;
		}
		if (n > TLS_RECORD)
			n = TLS_RECORD;
		w = gnutls_record_send(p->tls, data, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
			p->tls_blocked = n;
			return 0;
		}
		if (w < 0)
			goto fail;
		return (size_t)w;
	}
	w = send(p->fd, data, n, MSG_NOSIGNAL);
	if (w < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (w < 0)
		goto fail;
	return (size_t)w;
fail:
	sock_gone(p);
	return 0;
}

void sl_wspipe_recv(struct sl_wspipe *p, const uint8_t *data, size_t n, uint64_t now_ns)
{
	if (p->ws == NULL)
		return;
	p->now = now_ns;
	(void)sl_ws_recv(p->ws, data, n);
}

size_t sl_wspipe_flush(struct sl_wspipe *p, uint64_t now_ns, bool *blocked)
{
	size_t total = 0;
	*blocked = false;
	if (p->ws == NULL)
		return 0;
	p->now = now_ns;
	while (!p->eof) {
		if (p->qm && !sl_qmux_closed(p->qm))
			sl_qmux_flush(p->qm, now_ns);
		const uint8_t *d;
		size_t n = sl_ws_pending(p->ws, &d);
		if (n == 0)
			break;
		size_t w = sl_wspipe_write(p, d, n);
		if (w == 0) {
			*blocked = !p->eof;
			break;
		}
		sl_ws_consume(p->ws, w);
		total += w;
	}
	return total;
}

bool sl_wspipe_drained(const struct sl_wspipe *p)
{
	return p->ws == NULL || sl_ws_done(p->ws);
}

uint64_t sl_wspipe_expiry(const struct sl_wspipe *p)
{
	return p->qm && !sl_qmux_closed(p->qm) ? sl_qmux_expiry(p->qm) : UINT64_MAX;
}

void sl_wspipe_handle_expiry(struct sl_wspipe *p, uint64_t now_ns)
{
	p->now = now_ns;
	if (p->qm && !sl_qmux_closed(p->qm) && now_ns >= sl_qmux_expiry(p->qm))
		sl_qmux_handle_expiry(p->qm, now_ns);
}

void sl_wspipe_fini(struct sl_wspipe *p)
{
	if (p->qm)
		sl_qmux_conn_free(p->qm);
	if (p->ws)
		sl_ws_conn_free(p->ws);
	p->qm = NULL;
	p->ws = NULL;
}
