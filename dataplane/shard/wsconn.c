/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/wsconn.h"

#include "core/err.h"
#include "shard/moq_qmux.h"
#include "shard/wspipe.h"

#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
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
	struct sl_wspipe p; /* the socket, and once upgraded the engines */
	enum state state;
	uint64_t deadline_ns; /* upgrade, or close grace */
	struct sl_ws_http http;
	struct sl_moq_session *s;
	/* The 101 (or an error answer) goes out before any WebSocket frame. */
	char pre[1024];
	size_t pre_len, pre_off;
	char protocol[SL_WS_MAX_PROTO];
};

static struct sl_moq_session *pipe_session(void *arg)
{
	struct sl_wsconn *c = arg;
	return c->s;
}

static void detach(struct sl_wsconn *c)
{
	if (c->s == NULL)
		return;
	struct sl_moq_session *s = c->s;
	c->s = NULL;
	c->host.detach(c->host.arg, c, s);
}

/* qmux is over: the session goes back to the host, the close frame drains. */
static void pipe_closed(void *arg, const struct sl_qmux_close_info *info)
{
	(void)info;
	struct sl_wsconn *c = arg;
	detach(c);
	if (c->state == ST_OPEN) {
		c->state = ST_CLOSING;
		c->deadline_ns = 0; /* set by the caller's clock on the next expiry check */
	}
}

/* ---- the connection ---- */

static void refuse(struct sl_wsconn *c, int status, const char *why, uint64_t now)
{
	sl_wspipe_fini(&c->p); /* nothing they queued may follow the error answer */
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
	struct sl_wspipe_host ph = {.session = pipe_session, .closed = pipe_closed, .arg = c};
	if (sl_wspipe_start(&c->p, &wc, &qc, &ph, now) != 0) {
		refuse(c, 503, "out of memory", now);
		return;
	}
	/* Bare names (in-band version, ch.alpn -1) were refused by sl_ws_select above. */
	c->s = c->host.attach(c->host.arg, c, ch.alpn >= 0 ? alpns[ch.alpn] : "",
			      &sl_moq_qmux_transport, c->p.qm);
	if (c->s == NULL) {
		refuse(c, 503, "no session", now);
		return;
	}
	c->state = ST_OPEN;
	c->deadline_ns = UINT64_MAX;
	if (rest_len)
		sl_wspipe_recv(&c->p, rest, rest_len, now);
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
	if (c->state == ST_OPEN || c->state == ST_CLOSING)
		sl_wspipe_recv(&c->p, p, n, now);
}

int sl_wsconn_new(const struct sl_wsconn_host *host, int fd, void *tls, const uint8_t *bytes,
		  size_t len, uint64_t now_ns, struct sl_wsconn **out)
{
	struct sl_wsconn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->host = *host;
	sl_wspipe_init(&c->p, fd, tls);
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
	while (c->state != ST_DONE) {
		ssize_t n = sl_wspipe_read(&c->p, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0) {
			/* The peer closed or the socket failed: the session ended (pipe_closed); an
			 * error answer still going out is given up. */
			if (c->state != ST_CLOSING || c->pre_off == c->pre_len)
				c->state = ST_DONE;
			return;
		}
		feed(c, buf, (size_t)n, now_ns);
	}
}

size_t sl_wsconn_flush(struct sl_wsconn *c, uint64_t now_ns)
{
	size_t total = 0;
	while (c->state != ST_DONE && c->pre_off < c->pre_len) {
		size_t w = sl_wspipe_write(&c->p, (const uint8_t *)c->pre + c->pre_off,
					   c->pre_len - c->pre_off);
		c->pre_off += w;
		total += w;
		if (c->p.eof)
			c->state = ST_DONE;
		if (w == 0)
			return total;
	}
	if (c->state == ST_DONE)
		return total;
	if (c->p.ws == NULL) {
		/* An error answer is out: done. */
		if (c->state == ST_CLOSING)
			c->state = ST_DONE;
		return total;
	}
	bool blocked;
	total += sl_wspipe_flush(&c->p, now_ns, &blocked);
	if (c->p.eof || (!blocked && c->state == ST_CLOSING && sl_wspipe_drained(&c->p)))
		c->state = ST_DONE;
	return total;
}

uint64_t sl_wsconn_expiry(const struct sl_wsconn *c)
{
	uint64_t e = c->deadline_ns, q = sl_wspipe_expiry(&c->p);
	return q < e ? q : e;
}

void sl_wsconn_handle_expiry(struct sl_wsconn *c, uint64_t now_ns)
{
	if (c->state == ST_CLOSING && c->deadline_ns == 0)
		c->deadline_ns = now_ns + CLOSE_GRACE_NS;
	sl_wspipe_handle_expiry(&c->p, now_ns);
	if (now_ns >= c->deadline_ns && c->state != ST_DONE) {
		sl_wspipe_abort(&c->p);
		c->state = ST_DONE;
	}
}

bool sl_wsconn_done(const struct sl_wsconn *c)
{
	return c->state == ST_DONE;
}

int sl_wsconn_fd(const struct sl_wsconn *c)
{
	return c->p.fd;
}

const char *sl_wsconn_protocol(const struct sl_wsconn *c)
{
	return c->protocol;
}

void sl_wsconn_stats(const struct sl_wsconn *c, struct sl_ws_stats *ws, struct sl_qmux_stats *qm)
{
	memset(ws, 0, sizeof(*ws));
	memset(qm, 0, sizeof(*qm));
	if (c->p.ws)
		sl_ws_stats(c->p.ws, ws);
	if (c->p.qm)
		sl_qmux_stats(c->p.qm, qm);
}

void sl_wsconn_free(struct sl_wsconn *c)
{
	if (c == NULL)
		return;
	sl_wspipe_abort(&c->p); /* the session hears of it through pipe_closed */
	detach(c);
	sl_wspipe_fini(&c->p);
	if (c->p.tls)
		gnutls_deinit(c->p.tls);
	close(c->p.fd);
	free(c);
}
