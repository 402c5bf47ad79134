/* SPDX-License-Identifier: Apache-2.0 */
#include "control/client_ws.h"
#include "control/client.h"
#include "core/err.h"
#include "moq/codec.h"
#include "qmux/qmux.h"
#include "qmux/ws.h"
#include "shard/moq_qmux.h"
#include "shard/wspipe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* A connection that has not finished its TCP connect, TLS handshake and upgrade by then fails,
 * as a QUIC handshake that gets no answer does. */
#define CONNECT_NS UINT64_C(10000000000)
/* How long a closing connection may take to drain its close frames before the socket goes. */
#define CLOSE_GRACE_NS UINT64_C(2000000000)

enum state {
	W_QUEUED,  /* waiting for a connect slot (sl_client_ws_start) */
	W_CONNECT, /* TCP connect under way */
	W_TLS,	   /* TLS handshake under way */
	W_UPGRADE, /* request written (or being written), reading the answer */
	W_OPEN,	   /* WebSocket and qmux running */
	W_CLOSING, /* qmux closed: draining the close frames */
	W_DONE,
};

struct sl_client_ws {
	struct sl_client_conn *c;
	struct sl_client_ws_url url;
	/* The socket (p.fd, p.tls once set up) and the WebSocket and qmux engines, shared with
	 * the relay's side (shard/wspipe.h). */
	struct sl_wspipe p;
	int epfd;
	uint32_t armed; /* the epoll events registered */
	gnutls_certificate_credentials_t cred;
	enum state state;
	uint64_t deadline_ns; /* connect or close grace; UINT64_MAX when open */
	char key[25];
	char offers[SL_WS_MAX_PROTO];
	char pre[1024]; /* the upgrade request */
	size_t pre_len, pre_off;
	struct sl_ws_http http; /* the server's answer */
};

/* ---- URLs ---- */

bool sl_client_ws_is_url(const char *url)
{
	return url != NULL && (strncmp(url, "ws://", 5) == 0 || strncmp(url, "wss://", 6) == 0);
}

int sl_client_ws_parse_url(const char *url, struct sl_client_ws_url *out)
{
	if (!sl_client_ws_is_url(url))
		return SL_EINVAL;
	memset(out, 0, sizeof(*out));
	out->tls = url[2] == 's';
	const char *p = url + (out->tls ? 6 : 5);
	size_t hl = strcspn(p, "/?");
	if (hl == 0 || hl >= sizeof(out->host))
		return SL_EINVAL;
	memcpy(out->host, p, hl);
	out->host[hl] = '\0';
	const char *rest = p + hl;
	if (strlen(rest) + 2 > sizeof(out->path))
		return SL_EINVAL;
	snprintf(out->path, sizeof(out->path), "%s%s", *rest == '/' ? "" : "/", rest);
	/* The address as the QUIC URLs take it: an IPv4 address, [IPv6] or localhost, and a
	 * port (no default: the relay's TCP port is a setting, not 80 or 443). */
	if (sl_client_parse_url(out->host, &out->addr, &out->addr_len) != 0)
		return SL_EINVAL;
	const char *colon = strrchr(out->host, ':');
	const char *h = out->host;
	size_t nl = colon ? (size_t)(colon - h) : strlen(h);
	if (*h == '[') {
		h++;
		nl = nl >= 2 ? nl - 2 : 0;
	}
	memcpy(out->name, h, nl);
	out->name[nl] = '\0';
	return 0;
}

/* ---- epoll interest ---- */

static void arm(struct sl_client_ws *w, bool out)
{
	uint32_t ev = EPOLLIN | (out ? EPOLLOUT : 0);
	if (w->p.fd < 0 || ev == w->armed)
		return;
	struct epoll_event e = {.events = ev, .data.ptr = w->c};
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, w->p.fd, &e) == 0)
		w->armed = ev;
}

/* ---- the failure path ---- */

/* The transport is gone (or never came): the session hears of it through pipe_closed. */
static void fail(struct sl_client_ws *w)
{
	w->p.eof = true;
	w->state = W_DONE;
	sl_wspipe_abort(&w->p);
}

/* ---- the pipe's callbacks ---- */

static struct sl_moq_session *pipe_session(void *arg)
{
	struct sl_client_ws *w = arg;
	return w->c->closed ? NULL : w->c->s;
}

/* The connection is over for the session (as the QUIC path's on_closed); the socket still
 * drains the close frames. */
static void pipe_closed(void *arg, const struct sl_qmux_close_info *info)
{
	struct sl_client_ws *w = arg;
	struct sl_client_conn *c = w->c;
	c->closed = true;
	c->close_error = info->code;
	if (c->s)
		sl_moq_session_closed(c->s);
	if (w->state != W_DONE) {
		/* Before the upgrade nothing was said on the socket, so there is nothing to drain.
		 */
		if (w->state != W_OPEN)
			w->state = W_DONE;
		else {
			w->state = W_CLOSING;
			w->deadline_ns = w->p.now + CLOSE_GRACE_NS;
		}
	}
}

/* ---- creation ---- */

/* RFC 6455 4.1: the key is 16 random bytes in base64, the masks unpredictable. */
static int draw_key(char key[25], uint64_t *seed)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t r[24];
	if (gnutls_rnd(GNUTLS_RND_NONCE, r, sizeof(r)) != 0)
		return SL_EIO;
	size_t o = 0;
	for (size_t i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)r[i] << 16 | (uint32_t)r[i + 1] << 8 | r[i + 2];
		key[o++] = b64[v >> 18];
		key[o++] = b64[(v >> 12) & 63];
		key[o++] = b64[(v >> 6) & 63];
		key[o++] = b64[v & 63];
	}
	key[o++] = b64[r[15] >> 2];
	key[o++] = b64[(r[15] & 3) << 4];
	key[o++] = '=';
	key[o++] = '=';
	key[o] = '\0';
	memcpy(seed, r + 16, sizeof(*seed));
	return 0;
}

static int tls_setup(struct sl_client_ws *w, const struct sl_client_ws_url *u)
{
	if (gnutls_certificate_allocate_credentials(&w->cred) != 0)
		return SL_ENOMEM;
	gnutls_session_t tls;
	if (gnutls_init(&tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK) != 0)
		return SL_ENOMEM;
	w->p.tls = tls;
	/* No trust store and no verification: see the header. The listener answers ALPN
	 * http/1.1, which is what a WebSocket upgrade rides on. */
	static const gnutls_datum_t http11 = {(unsigned char *)"http/1.1", 8};
	if (gnutls_set_default_priority(tls) != 0 ||
	    gnutls_credentials_set(tls, GNUTLS_CRD_CERTIFICATE, w->cred) != 0 ||
	    gnutls_alpn_set_protocols(tls, &http11, 1, 0) != 0)
		return SL_EIO;
	/* SNI carries names only (RFC 6066 3): an address literal is left out. */
	struct in6_addr a;
	if (u->name[0] && inet_pton(AF_INET, u->name, &a) != 1 &&
	    inet_pton(AF_INET6, u->name, &a) != 1)
		gnutls_server_name_set(tls, GNUTLS_NAME_DNS, u->name, strlen(u->name));
	gnutls_transport_set_int(tls, w->p.fd);
	gnutls_handshake_set_timeout(tls, 0);
	return 0;
}

int sl_client_ws_new(struct sl_client_conn *c, const struct sl_client_ws_url *u,
		     enum sl_moq_version version, int epfd, uint64_t now_ns,
		     struct sl_client_ws **out)
{
	if (version != SL_MOQ_LITE_04 && version != SL_MOQ_LITE_05)
		return SL_EINVAL;
	struct sl_client_ws *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return SL_ENOMEM;
	w->c = c;
	sl_wspipe_init(&w->p, -1, NULL);
	w->epfd = epfd;
	w->url = *u;
	w->state = W_QUEUED;
	w->deadline_ns = UINT64_MAX;
	snprintf(w->offers, sizeof(w->offers), "qmux-01.%s",
		 version == SL_MOQ_LITE_05 ? SL_MOQ_ALPN_05 : SL_MOQ_ALPN);
	sl_ws_http_init_response(&w->http);
	struct sl_ws_config wc;
	sl_ws_config_default(&wc);
	wc.server = false;
	struct sl_qmux_config qc;
	sl_qmux_config_default(&qc);
	qc.server = false;
	qc.framing = SL_WS_QMUX01;
	/* The engines exist from the start: the session is made over this qmux connection at
	 * once, and they wait for the upgrade before anything of theirs goes out. */
	struct sl_wspipe_host ph = {.session = pipe_session, .closed = pipe_closed, .arg = w};
	int rc;
	if ((rc = draw_key(w->key, &wc.mask_seed)) != 0 ||
	    (rc = sl_ws_request_write(u->path, u->host, w->offers, w->key, w->pre, sizeof(w->pre),
				      &w->pre_len)) != 0 ||
	    (rc = sl_wspipe_start(&w->p, &wc, &qc, &ph, now_ns)) != 0) {
		sl_client_ws_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

bool sl_client_ws_queued(const struct sl_client_ws *w)
{
	return w->state == W_QUEUED;
}

bool sl_client_ws_connecting(const struct sl_client_ws *w)
{
	return w->state != W_QUEUED && w->state != W_DONE && !w->c->connected;
}

int sl_client_ws_start(struct sl_client_ws *w, uint64_t now_ns)
{
	const struct sl_client_ws_url *u = &w->url;
	w->p.now = now_ns;
	w->state = W_CONNECT;
	w->deadline_ns = now_ns + CONNECT_NS;
	/* The idle timer runs from the connect, not from the time spent in the queue. */
	sl_qmux_note_rx(w->p.qm, now_ns);
	int rc = SL_EIO;
	w->p.fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->p.fd < 0)
		goto fail;
	/* Frames are small and latency is what is measured: no Nagle delay. */
	int one = 1;
	(void)setsockopt(w->p.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(w->p.fd, (const struct sockaddr *)&u->addr, u->addr_len) != 0 &&
	    errno != EINPROGRESS)
		goto fail;
	if (u->tls && (rc = tls_setup(w, u)) != 0)
		goto fail;
	/* Writable means the connect finished (either way). */
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = w->c};
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->p.fd, &e) != 0) {
		rc = SL_EIO;
		goto fail;
	}
	w->armed = e.events;
	return 0;
fail:
	fprintf(stderr, "shardline client: WebSocket connect to %s: %s\n", u->host,
		rc == SL_EIO ? strerror(errno) : sl_strerror(rc));
	fail(w);
	return rc;
}

void *sl_client_ws_qmux(struct sl_client_ws *w)
{
	return w->p.qm;
}

/* ---- socket I/O ---- */

/* The server's answer is complete: check it, then the rest is WebSocket. */
static void upgraded(struct sl_client_ws *w, const uint8_t *rest, size_t n)
{
	enum sl_ws_framing framing;
	char proto[SL_WS_MAX_PROTO];
	const char *why = NULL;
	if (sl_ws_check_response(&w->http.req, w->key, w->offers, &framing, proto, &why) != 0 ||
	    framing != SL_WS_QMUX01) {
		fprintf(stderr, "shardline client: WebSocket upgrade refused (%d): %s\n",
			w->http.req.status, why ? why : "unexpected subprotocol");
		fail(w);
		return;
	}
	w->state = W_OPEN;
	if (n)
		sl_wspipe_recv(&w->p, rest, n, w->p.now);
}

static void feed(struct sl_client_ws *w, const uint8_t *p, size_t n)
{
	if (w->state == W_UPGRADE) {
		size_t used = 0;
		const char *why = NULL;
		int rc = sl_ws_http_feed(&w->http, p, n, &used, &why);
		if (rc == SL_EAGAIN)
			return;
		if (rc != 0) {
			fprintf(stderr, "shardline client: bad WebSocket answer: %s\n",
				why ? why : "malformed");
			fail(w);
			return;
		}
		upgraded(w, p + used, n - used);
		return;
	}
	if (w->state == W_OPEN || w->state == W_CLOSING)
		sl_wspipe_recv(&w->p, p, n, w->p.now);
}

static void sock_read(struct sl_client_ws *w)
{
	uint8_t buf[16384];
	while (w->state >= W_UPGRADE && w->state != W_DONE) {
		ssize_t n = sl_wspipe_read(&w->p, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0) {
			/* The relay closed the socket (after its close frame, or not). */
			fail(w);
			return;
		}
		feed(w, buf, (size_t)n);
	}
}

void sl_client_ws_flush(struct sl_client_ws *w, uint64_t now_ns)
{
	w->p.now = now_ns;
	bool blocked = false;
	while (w->state != W_DONE && w->state >= W_UPGRADE && w->pre_off < w->pre_len) {
		size_t n = sl_wspipe_write(&w->p, (const uint8_t *)w->pre + w->pre_off,
					   w->pre_len - w->pre_off);
		w->pre_off += n;
		if (w->p.eof)
			fail(w);
		else if (n == 0)
			blocked = true;
		if (n == 0)
			break;
	}
	/* Nothing but the request before the server agreed to the upgrade. */
	if (!blocked && (w->state == W_OPEN || w->state == W_CLOSING)) {
		sl_wspipe_flush(&w->p, now_ns, &blocked);
		if (w->p.eof)
			fail(w);
		else if (!blocked && w->state == W_CLOSING && sl_wspipe_drained(&w->p))
			w->state = W_DONE;
	}
	/* Writability is asked for only while output waits, or a level-triggered set would
	 * wake the loop forever. */
	if (w->state != W_DONE && w->state >= W_TLS)
		arm(w, blocked || (w->p.tls && w->state == W_TLS &&
				   gnutls_record_get_direction(w->p.tls) == 1));
}

void sl_client_ws_io(struct sl_client_ws *w, uint64_t now_ns)
{
	w->p.now = now_ns;
	if (w->state == W_CONNECT) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(w->p.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			fprintf(stderr, "shardline client: WebSocket connect: %s\n",
				strerror(err ? err : errno));
			fail(w);
			return;
		}
		w->state = w->p.tls ? W_TLS : W_UPGRADE;
	}
	if (w->state == W_TLS) {
		int rc = gnutls_handshake(w->p.tls);
		if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
			arm(w, gnutls_record_get_direction(w->p.tls) == 1);
			return;
		}
		if (rc < 0) {
			fprintf(stderr, "shardline client: TLS handshake: %s\n",
				gnutls_strerror(rc));
			fail(w);
			return;
		}
		w->state = W_UPGRADE;
	}
	sock_read(w);
	/* Connected as a QUIC connection is after its handshake: the peer's transport parameters
	 * are in (they follow the 101 at once), so the session's first stream opens succeed
	 * rather than fail with SL_EBUSY. Until then the connect deadline stands. */
	if (w->state == W_OPEN && !w->c->connected && sl_qmux_peer_params_known(w->p.qm)) {
		w->c->connected = true;
		w->deadline_ns = UINT64_MAX;
	}
	sl_client_ws_flush(w, now_ns);
}

uint64_t sl_client_ws_expiry(const struct sl_client_ws *w)
{
	uint64_t e = w->deadline_ns;
	if (w->state != W_DONE) {
		uint64_t q = sl_wspipe_expiry(&w->p);
		if (q < e)
			e = q;
	}
	return e;
}

void sl_client_ws_handle_expiry(struct sl_client_ws *w, uint64_t now_ns)
{
	w->p.now = now_ns;
	if (w->state == W_DONE)
		return;
	sl_wspipe_handle_expiry(&w->p, now_ns);
	if (now_ns >= w->deadline_ns && w->state != W_DONE) {
		if (!w->c->connected)
			fprintf(stderr, "shardline client: WebSocket connection timed out\n");
		fail(w);
	}
}

void sl_client_ws_close(struct sl_client_ws *w, uint64_t code, const char *reason)
{
	if (w->state == W_DONE || sl_qmux_closed(w->p.qm))
		return;
	if (w->state != W_OPEN) {
		/* Nothing to tell a server that has not answered the upgrade. */
		fail(w);
		return;
	}
	sl_qmux_close(w->p.qm, code, reason);
}

bool sl_client_ws_done(const struct sl_client_ws *w)
{
	return w->state == W_DONE;
}

void sl_client_ws_free(struct sl_client_ws *w)
{
	if (w == NULL)
		return;
	sl_wspipe_fini(&w->p);
	if (w->p.tls)
		gnutls_deinit(w->p.tls);
	if (w->cred)
		gnutls_certificate_free_credentials(w->cred);
	if (w->p.fd >= 0) {
		if (w->armed)
			(void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->p.fd, NULL);
		close(w->p.fd);
	}
	free(w);
}
