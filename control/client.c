/* SPDX-License-Identifier: Apache-2.0 */
#include "control/client.h"
#include "control/client_ws.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/lcore.h"
#include "drivers/net/socket.h"
#include "shard/moq_qmux.h"
#include "shard/moq_quic.h"
#include "shard/pktio.h"
#ifdef SL_HAVE_WT
#include "h3/wt.h"
#endif

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_PORTS 64
#define RX_BURST  64
#define WS_BURST  256
/* WebSocket connections in their connect, TLS handshake or upgrade at once: well below the
 * relay listener's 256 (tcplisten.h, max_conns), which other clients share. */
#define WS_MAX_CONNECTING 32

/* The moq-lite protocol of sl_client_connect (SL_MOQ_ALPN) is always the client's first slot,
 * so a client that speaks nothing else behaves exactly as before slots existed (one endpoint,
 * worker id 0). */

struct cport {
	struct sl_client *cl;
	struct sl_pktio *port;
	/* One endpoint per protocol slot of the client (ep[0]: moq-lite, made at creation; the
	 * others when a connection first needs them). Endpoint k issues CIDs for worker k. */
	struct sl_quic_endpoint *ep[SL_CLIENT_MAX_ALPNS];
	struct sockaddr_storage local; /* the path's local side for connections on this port */
	socklen_t local_len;
};

struct sl_client {
	struct cport ports[MAX_PORTS];
	unsigned nports, next_port;
	bool poll_mode; /* a port has no descriptor: idle loops sleep briefly instead of poll */
	int wait_fd;	/* an extra descriptor that ends an idle wait, or -1 */
	/* The loop skeleton's idle wait (no doorbell, no control ring: a tool's thread). */
	struct sl_lcore lc;
	char alpn[SL_CLIENT_MAX_ALPNS][SL_QUIC_MAX_ALPN];
	unsigned nalpn;
	struct sl_client_conn *conns;
	uint64_t now;
	/* The WebSocket connections' sockets, created with the first one (-1 before): one
	 * descriptor in the idle wait however many there are. */
	int epfd;
};

/* Each endpoint callback goes to the connection's moq-lite session when it has one, else to
 * its application (whose callbacks are optional). */
static void on_connected(void *arg, struct sl_quic_conn *qc)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return;
#ifdef SL_HAVE_WT
	if (c->wt) {
		/* Connected once the CONNECT is answered (wt_attach), not at the handshake. */
		(void)sl_wt_start(c->wt); /* a failure closes the connection */
		return;
	}
#endif
	c->connected = true;
	if (c->s == NULL && c->app_ops && c->app_ops->on_connected)
		c->app_ops->on_connected(c->app, c);
}

/* A stream's events carry the pointer its session or application attached at open: the moq
 * session's stream, or the application's; NULL once either let go of it. */
static void *on_stream_open(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return NULL;
#ifdef SL_HAVE_WT
	if (c->wt)
		return sl_wt_stream_accept(c->wt, qs, (sl_quic_stream_id(qs) & 2) == 0);
#endif
	if (c->s)
		return sl_moq_quic_accept(c->s, qs);
	if (c->app_ops && c->app_ops->on_stream_open)
		return c->app_ops->on_stream_open(c->app, qs);
	return NULL;
}

static void on_stream_data(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			   void *user, const uint8_t *data, size_t len, bool fin)
{
	(void)arg;
	(void)qs;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
#ifdef SL_HAVE_WT
	if (c->wt) {
		sl_wt_stream_data(c->wt, user, data, len, fin);
		return;
	}
#endif
	if (c->s)
		sl_moq_session_stream_data(c->s, user, data, len, fin);
	else if (c->app_ops && c->app_ops->on_stream_data)
		c->app_ops->on_stream_data(c->app, user, data, len, fin);
}

static void on_stream_reset(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user, uint64_t code)
{
	(void)arg;
	(void)qs;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
#ifdef SL_HAVE_WT
	if (c->wt) {
		sl_wt_stream_reset(c->wt, user, code);
		return;
	}
#endif
	if (c->s)
		sl_moq_session_stream_reset(c->s, user, code);
	else if (c->app_ops && c->app_ops->on_stream_reset)
		c->app_ops->on_stream_reset(c->app, user, code);
}

static void on_stream_acked(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user, uint64_t bytes)
{
	(void)arg;
	(void)qs;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
#ifdef SL_HAVE_WT
	if (c != NULL && user != NULL && c->wt) {
		sl_wt_stream_acked(c->wt, user, bytes);
		return;
	}
#endif
	if (c != NULL && user != NULL && c->s)
		sl_moq_session_stream_acked(c->s, user, bytes);
}

static void on_stream_close(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user)
{
	(void)arg;
	(void)qs;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
#ifdef SL_HAVE_WT
	if (c->wt) {
		sl_wt_stream_closed(c->wt, user);
		return;
	}
#endif
	if (c->s)
		sl_moq_session_stream_closed(c->s, user);
	else if (c->app_ops && c->app_ops->on_stream_close)
		c->app_ops->on_stream_close(c->app, user);
}

static void on_closed(void *arg, struct sl_quic_conn *qc, uint64_t error)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return;
	c->closed = true;
	c->close_error = error;
	c->qc = NULL;
#ifdef SL_HAVE_WT
	if (c->wt) {
		/* HTTP/3's clean close is H3_NO_ERROR, not 0: the callers' "clean" is 0. */
		if (error == SL_H3_NO_ERROR)
			c->close_error = 0;
		const char *why = sl_wt_error(c->wt);
		if (why && c->why[0] == '\0')
			snprintf(c->why, sizeof(c->why), "%s", why);
		sl_wt_closed(c->wt); /* the session is told below (again: it is idempotent) */
	}
#endif
	if (c->s)
		sl_moq_session_closed(c->s);
	else if (c->app_ops && c->app_ops->on_closed)
		c->app_ops->on_closed(c->app, error);
}

static const struct sl_quic_callbacks client_cbs = {
	.tx_alloc = sl_pktio_quic_tx_alloc,
	.tx_commit = sl_pktio_quic_tx_commit,
	.on_connected = on_connected,
	.on_stream_open = on_stream_open,
	.on_stream_data = on_stream_data,
	.on_stream_reset = on_stream_reset,
	.on_stream_acked = on_stream_acked,
	.on_stream_close = on_stream_close,
	.on_closed = on_closed,
};

/* Creates port cp's endpoint for protocol slot k: it offers only that protocol, and its worker
 * id is the slot so that datagrams for its connections can be told apart (see route). */
static int endpoint_make(struct sl_client *cl, struct cport *cp, unsigned k)
{
	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	qc.max_conns = 100000;
	qc.worker_id = (uint16_t)k;
	snprintf(qc.alpn, sizeof(qc.alpn), "%s", cl->alpn[k]);
	/* HTTP/3 with H3_DATAGRAM (the WebTransport client's SETTINGS) requires the transport
	 * parameter (RFC 9297 2.1.1); datagrams that arrive anyway are dropped. */
	if (strcmp(cl->alpn[k], "h3") == 0)
		qc.max_datagram_frame_size = 65535;
	return sl_quic_endpoint_new(&qc, &client_cbs, cp->port, cl->now, &cp->ep[k]);
}

/*
 * The endpoint a received datagram belongs to. Every packet a server sends to a client carries
 * one of the client's own connection IDs as its destination (Initial, Handshake and Retry
 * included, unlike on a server), and each endpoint put its slot number in the first two
 * bytes of the CIDs it issued. Anything else (too short, a slot that has no endpoint) goes to
 * the first endpoint, which drops and counts what it cannot use.
 */
static struct sl_quic_endpoint *route(const struct cport *cp, const uint8_t *d, size_t len)
{
	const uint8_t *cid = NULL;
	if (len >= 6 + SL_QUIC_CID_LEN && (d[0] & 0x80) && d[5] == SL_QUIC_CID_LEN)
		cid = d + 6;
	else if (len >= 1 + SL_QUIC_CID_LEN && !(d[0] & 0x80))
		cid = d + 1;
	int k = cid ? sl_quic_cid_worker(cid, SL_QUIC_CID_LEN) : -1;
	if (k > 0 && k < SL_CLIENT_MAX_ALPNS && cp->ep[k])
		return cp->ep[k];
	return cp->ep[0];
}

/* The source address the kernel would use towards remote (a connected UDP socket's name). */
static int source_for(const struct sockaddr_storage *remote, socklen_t rlen,
		      struct sockaddr_storage *src, socklen_t *slen)
{
	int fd = socket(remote->ss_family, SOCK_DGRAM, 0);
	if (fd < 0)
		return SL_EIO;
	int rc = SL_EIO;
	*slen = sizeof(*src);
	if (connect(fd, (const struct sockaddr *)remote, rlen) == 0 &&
	    getsockname(fd, (struct sockaddr *)src, slen) == 0)
		rc = 0;
	close(fd);
	return rc;
}

int sl_client_new_ports(struct sl_pktio *const *ports, const struct sockaddr_storage *locals,
			unsigned nports, struct sl_client **out)
{
	bool ok = ports != NULL && locals != NULL && nports > 0 && nports <= MAX_PORTS;
	for (unsigned i = 0; ok && i < nports; i++)
		ok = ports[i] != NULL &&
		     (locals[i].ss_family == AF_INET || locals[i].ss_family == AF_INET6);
	struct sl_client *cl = ok ? calloc(1, sizeof(*cl)) : NULL;
	if (cl == NULL) {
		for (unsigned i = 0; ports != NULL && i < nports && i < MAX_PORTS; i++)
			sl_pktio_close(ports[i]);
		return ok ? SL_ENOMEM : SL_EINVAL;
	}
	/* Every port belongs to the client from here on, so one free path closes them all. */
	for (unsigned i = 0; i < nports; i++) {
		struct cport *cp = &cl->ports[i];
		cp->cl = cl;
		cp->port = ports[i];
		cp->port->user = cp;
		cp->local = locals[i];
		cp->local_len = locals[i].ss_family == AF_INET ? sizeof(struct sockaddr_in)
							       : sizeof(struct sockaddr_in6);
		cl->poll_mode |= sl_pktio_wait_fd(cp->port) < 0;
	}
	cl->nports = nports;
	cl->wait_fd = -1;
	cl->epfd = -1;
	/* With descriptors on every port the client sleeps in poll until its deadline. A port
	 * in poll mode has nothing to poll on: a sleep of SL_CLIENT_POLL_SLEEP_NS, never longer
	 * (no back-off), bounds both the added latency and the CPU a waiting client burns. */
	struct sl_lcore_config lc = {
		.signalled = !cl->poll_mode,
		.poll_idle_ns = SL_CLIENT_POLL_SLEEP_NS,
		.backoff_max = 1,
	};
	sl_lcore_init(&cl->lc, &lc);
	cl->now = sl_clock_now_ns();
	snprintf(cl->alpn[0], sizeof(cl->alpn[0]), "%s", SL_MOQ_ALPN);
	cl->nalpn = 1;
	for (unsigned i = 0; i < nports; i++) {
		int rc = endpoint_make(cl, &cl->ports[i], 0);
		if (rc != 0) {
			sl_client_free(cl);
			return rc;
		}
	}
	*out = cl;
	return 0;
}

int sl_client_new(const char *url, unsigned nports, struct sl_client **out)
{
	struct sockaddr_storage remote, src;
	socklen_t rlen, slen;
	if (nports == 0 || nports > MAX_PORTS || sl_client_parse_url(url, &remote, &rlen) != 0)
		return SL_EINVAL;
	if (source_for(&remote, rlen, &src, &slen) != 0)
		return SL_EIO;
	char bind_addr[80];
	sl_net_format_addr((struct sockaddr *)&src, bind_addr, sizeof(bind_addr));
	/* Port 0: an ephemeral port per socket. */
	char *colon = strrchr(bind_addr, ':');
	if (colon)
		snprintf(colon, sizeof(bind_addr) - (size_t)(colon - bind_addr), ":0");
	struct sl_pktio *ports[MAX_PORTS];
	struct sockaddr_storage locals[MAX_PORTS];
	for (unsigned i = 0; i < nports; i++) {
		struct sl_net_socket_config nc;
		socklen_t len;
		sl_net_socket_config_default(&nc);
		nc.client = true;
		sl_net_socket_config_add(&nc, bind_addr);
		int rc = sl_net_socket_open(&nc, &ports[i]);
		/* The path's local side is exactly the socket's address, as received datagrams
		 * show it. */
		if (rc == 0 && sl_net_socket_local(ports[i], 0, &locals[i], &len) != 0) {
			sl_pktio_close(ports[i]);
			rc = SL_EIO;
		}
		if (rc != 0) {
			while (i > 0)
				sl_pktio_close(ports[--i]);
			return rc;
		}
	}
	return sl_client_new_ports(ports, locals, nports, out);
}

void sl_client_free(struct sl_client *cl)
{
	if (cl == NULL)
		return;
	while (cl->conns) {
		struct sl_client_conn *c = cl->conns;
		cl->conns = c->next;
		if (c->qc)
			sl_quic_conn_set_user(c->qc, NULL);
			/* The session first: while it is open it releases its streams through the
			 * transport, which must still be there. */
#ifdef SL_HAVE_WT
		/* A WebTransport connection hands its session back closed, so freeing the session
		 * after it touches no transport. */
		sl_wt_conn_free(c->wt);
#endif
		if (c->s)
			sl_moq_session_free(c->s);
		sl_client_ws_free(c->ws);
		free(c);
	}
	for (unsigned i = 0; i < cl->nports; i++) {
		for (unsigned k = 0; k < SL_CLIENT_MAX_ALPNS; k++)
			if (cl->ports[i].ep[k])
				sl_quic_endpoint_free(cl->ports[i].ep[k]);
		sl_pktio_close(cl->ports[i].port);
	}
	if (cl->epfd >= 0)
		close(cl->epfd);
	free(cl);
}

int sl_client_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *p = url;
	if (strncmp(p, "moq://", 6) == 0)
		p += 6;
	else if (strncmp(p, "shardline://", 12) == 0)
		p += 12;
	else if (strncmp(p, "ws://", 5) == 0)
		p += 5;
	else if (strncmp(p, "wss://", 6) == 0)
		p += 6;
	else if (strncmp(p, "https://", 8) == 0)
		p += 8;
	char host[300];
	snprintf(host, sizeof(host), "%s", p);
	host[strcspn(host, "/?")] = '\0';
	if (strncmp(host, "localhost:", 10) == 0) {
		char tmp[300];
		snprintf(tmp, sizeof(tmp), "127.0.0.1:%s", host + 10);
		snprintf(host, sizeof(host), "%s", tmp);
	}
	return sl_net_parse_addr(host, ss, len);
}

/* The slot of protocol alpn, added when new. Returns the slot, SL_EINVAL or SL_ENOSPC. */
static int alpn_slot(struct sl_client *cl, const char *alpn)
{
	size_t n = alpn ? strlen(alpn) : 0;
	if (n == 0 || n >= SL_QUIC_MAX_ALPN || strchr(alpn, ',') != NULL)
		return SL_EINVAL;
	for (unsigned k = 0; k < cl->nalpn; k++)
		if (strcmp(cl->alpn[k], alpn) == 0)
			return (int)k;
	if (cl->nalpn == SL_CLIENT_MAX_ALPNS)
		return SL_ENOSPC;
	memcpy(cl->alpn[cl->nalpn], alpn, n + 1);
	return (int)cl->nalpn++;
}

/* Starts a QUIC connection for protocol slot k on the next port, creating that port's endpoint
 * for the slot on first use. */
static int start_conn(struct sl_client *cl, const char *url, unsigned k,
		      struct sl_client_conn **out)
{
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	if (sl_client_parse_url(url, &path.remote, &path.remote_len) != 0)
		return SL_EINVAL;
	struct cport *cp = &cl->ports[cl->next_port++ % cl->nports];
	path.local = cp->local;
	path.local_len = cp->local_len;
	int rc;
	if (cp->ep[k] == NULL && (rc = endpoint_make(cl, cp, k)) != 0)
		return rc;
	struct sl_client_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->cl = cl;
	rc = sl_quic_connect(cp->ep[k], &path, "localhost", sl_clock_now_ns(), &c->qc);
	if (rc != 0) {
		free(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void link_conn(struct sl_client *cl, struct sl_client_conn *c)
{
	sl_quic_conn_set_user(c->qc, c);
	c->next = cl->conns;
	cl->conns = c;
}

/* A moq-lite connection over a WebSocket (see sl_client_connect_moq). */
static int connect_ws(struct sl_client *cl, const char *url, enum sl_moq_version version,
		      struct sl_client_conn **out)
{
	struct sl_client_ws_url u;
	if (sl_client_ws_parse_url(url, &u) != 0)
		return SL_EINVAL;
	if (cl->epfd < 0 && (cl->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		cl->epfd = -1;
		return SL_EIO;
	}
	struct sl_client_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->cl = cl;
	int rc = sl_client_ws_new(c, &u, version, cl->epfd, sl_clock_now_ns(), &c->ws);
	if (rc != 0) {
		free(c);
		return rc;
	}
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = false;
	sc.version = version;
	/* As on QUIC, nothing reaches the session before the upgrade is answered. */
	c->s = sl_moq_session_new(&sc, &sl_moq_qmux_transport, sl_client_ws_qmux(c->ws), NULL);
	if (c->s == NULL) {
		sl_client_ws_free(c->ws);
		free(c);
		return SL_ENOMEM;
	}
	c->next = cl->conns;
	cl->conns = c;
	*out = c;
	return 0;
}

#ifdef SL_HAVE_WT
/* The WebTransport layer's host: the session was made with the connection, and it is the
 * connection's to free. */
static struct sl_moq_session *wt_attach(void *arg, struct sl_wt_conn *wt,
					const struct sl_h3_connect *req, const char *alpn,
					const struct sl_moq_transport_ops *ops, void *t,
					int *status, const char **why)
{
	(void)wt;
	(void)req;
	(void)alpn; /* the only one offered: the session's version */
	(void)ops;
	(void)t;
	(void)status;
	(void)why;
	struct sl_client_conn *c = arg;
	c->connected = true;
	return c->s;
}

static void wt_detach(void *arg, struct sl_wt_conn *wt, struct sl_moq_session *s)
{
	(void)arg;
	(void)wt;
	(void)s;
}

/* A moq-lite connection over WebTransport (https://HOST:PORT/path?query). */
static int connect_wt(struct sl_client *cl, const char *url, enum sl_moq_version version,
		      struct sl_client_conn **out)
{
	const char *p = url + 8;
	size_t hl = strcspn(p, "/?");
	char authority[256], path[1024];
	if (hl == 0 || hl >= sizeof(authority) || strlen(p + hl) + 2 > sizeof(path))
		return SL_EINVAL;
	memcpy(authority, p, hl);
	authority[hl] = '\0';
	snprintf(path, sizeof(path), "%s%s", p[hl] == '/' ? "" : "/", p + hl);
	int k = alpn_slot(cl, SL_WT_ALPN);
	if (k < 0)
		return k;
	struct sl_client_conn *c;
	int rc = start_conn(cl, url, (unsigned)k, &c);
	if (rc != 0)
		return rc;
	struct sl_wt_host host = {
		.attach = wt_attach,
		.detach = wt_detach,
		.arg = c,
		.alpns = {version == SL_MOQ_LITE_05 ? SL_MOQ_ALPN_05 : SL_MOQ_ALPN},
		.n_alpns = 1};
	rc = sl_wt_conn_new_client(&host, authority, path, &sl_moq_quic_transport, c->qc, &c->wt);
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = false;
	sc.version = version;
	/* Its stream opens wait (SL_EBUSY) until the CONNECT is answered. */
	if (rc == 0 && (c->s = sl_moq_session_new(&sc, &sl_wt_moq_transport, c->wt, NULL)) == NULL)
		rc = SL_ENOMEM;
	if (rc != 0) {
		sl_wt_conn_free(c->wt);
		sl_quic_conn_close(c->qc, 0, "cannot start");
		free(c);
		return rc;
	}
	link_conn(cl, c);
	*out = c;
	return 0;
}
#endif

int sl_client_connect_moq(struct sl_client *cl, const char *url, enum sl_moq_version version,
			  struct sl_client_conn **out)
{
	if (version != SL_MOQ_LITE_04 && version != SL_MOQ_LITE_05)
		return SL_EINVAL;
	if (sl_client_ws_is_url(url))
		return connect_ws(cl, url, version, out);
	if (strncmp(url, "https://", 8) == 0) {
#ifdef SL_HAVE_WT
		return connect_wt(cl, url, version, out);
#else
		return SL_ENOTSUP; /* built without nghttp3 */
#endif
	}
	/* lite-04 keeps slot 0; lite-05 gets a slot (an endpoint) of its own, so each
	 * connection offers exactly its version and the session speaks what was negotiated. */
	int k = version == SL_MOQ_LITE_04 ? 0 : alpn_slot(cl, SL_MOQ_ALPN_05);
	if (k < 0)
		return k;
	struct sl_client_conn *c;
	int rc = start_conn(cl, url, (unsigned)k, &c);
	if (rc != 0)
		return rc;
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = false;
	sc.version = version;
	/* Nothing reaches the session before the handshake, so it can follow the connection. */
	c->s = sl_moq_session_new(&sc, &sl_moq_quic_transport, c->qc, NULL);
	if (c->s == NULL) {
		sl_quic_conn_close(c->qc, 0, "out of memory");
		free(c);
		return SL_ENOMEM;
	}
	link_conn(cl, c);
	*out = c;
	return 0;
}

int sl_client_connect(struct sl_client *cl, const char *url, struct sl_client_conn **out)
{
	return sl_client_connect_moq(cl, url, SL_MOQ_LITE_04, out);
}

int sl_client_connect_app(struct sl_client *cl, const char *url, const char *alpn,
			  const struct sl_client_app_ops *ops, void *app,
			  struct sl_client_conn **out)
{
	if (ops == NULL)
		return SL_EINVAL;
	if (sl_client_ws_is_url(url))
		return SL_ENOTSUP;
	int k = alpn_slot(cl, alpn);
	if (k < 0)
		return k;
	struct sl_client_conn *c;
	int rc = start_conn(cl, url, (unsigned)k, &c);
	if (rc != 0)
		return rc;
	c->app_ops = ops;
	c->app = app;
	link_conn(cl, c);
	*out = c;
	return 0;
}

int sl_client_stream_open(struct sl_client_conn *c, bool bidi, void *user,
			  struct sl_quic_stream **out)
{
	if (c->qc == NULL)
		return SL_ECLOSED;
	return sl_quic_stream_open(c->qc, bidi, user, out);
}

int sl_client_stream_write(struct sl_client_conn *c, struct sl_quic_stream *s, struct sl_slice data,
			   bool fin)
{
	if (c->qc == NULL) {
		sl_buf_unref(data.buf);
		return SL_ECLOSED;
	}
	return sl_quic_stream_write(c->qc, s, data, fin);
}

int sl_client_stream_reset(struct sl_client_conn *c, struct sl_quic_stream *s, uint64_t code)
{
	if (c->qc == NULL)
		return SL_ECLOSED;
	sl_quic_stream_reset(c->qc, s, code);
	return 0;
}

void sl_client_stream_release(struct sl_client_conn *c, struct sl_quic_stream *s)
{
	if (c->qc != NULL)
		sl_quic_stream_set_user(s, NULL);
}

void sl_client_conn_close(struct sl_client_conn *c, uint64_t code, const char *reason)
{
	if (c->ws != NULL && !c->closed)
		sl_client_ws_close(c->ws, code, reason);
#ifdef SL_HAVE_WT
	else if (c->wt != NULL && c->qc != NULL && !c->closed)
		sl_quic_conn_close(c->qc, code == 0 ? SL_H3_NO_ERROR : code, reason);
#endif
	else if (c->qc != NULL && !c->closed)
		sl_quic_conn_close(c->qc, code, reason);
}

void sl_client_set_wait_fd(struct sl_client *cl, int fd)
{
	cl->wait_fd = fd < 0 ? -1 : fd;
}

int sl_client_run(struct sl_client *cl, uint64_t max_wait_ns)
{
	struct sl_pkt pkts[RX_BURST];
	sl_lcore_pass(&cl->lc);
	uint64_t now = cl->now = sl_clock_now_ns();
	int received = 0;
	for (unsigned i = 0; i < cl->nports; i++) {
		struct cport *cp = &cl->ports[i];
		unsigned int n;
		while ((n = sl_pktio_rx_burst(cp->port, pkts, RX_BURST)) > 0) {
			for (unsigned int k = 0; k < n; k++)
				sl_quic_endpoint_recv(route(cp, pkts[k].data, pkts[k].len),
						      &pkts[k].path, pkts[k].data, pkts[k].len,
						      now);
			sl_pktio_rx_release(cp->port, pkts, n);
			received += (int)n;
		}
	}
	/* The WebSocket sockets with something to read (or room to write, when output waits).
	 * One epoll_wait per iteration, never a loop until it comes back short: the set is
	 * level-triggered, and a socket that is finished (EOF) stays ready until the end of the
	 * iteration frees it, so a loop over many of those would never end. What does not fit
	 * the batch is reported again on the next iteration. */
	if (cl->epfd >= 0) {
		struct epoll_event ev[WS_BURST];
		int n = epoll_wait(cl->epfd, ev, WS_BURST, 0);
		for (int k = 0; k < n; k++) {
			struct sl_client_conn *c = ev[k].data.ptr;
			if (c->ws)
				sl_client_ws_io(c->ws, now);
		}
		received += n > 0 ? n : 0;
	}
	for (struct sl_client_conn *c = cl->conns; c; c = c->next) {
		if (c->closed)
			continue;
		if (c->s)
			sl_moq_session_poll(c->s, now);
		else if (c->app_ops && c->app_ops->poll)
			c->app_ops->poll(c->app, now);
	}
	uint64_t expiry = UINT64_MAX;
	for (unsigned i = 0; i < cl->nports; i++) {
		struct cport *cp = &cl->ports[i];
		for (unsigned k = 0; k < cl->nalpn; k++) {
			struct sl_quic_endpoint *ep = cp->ep[k];
			if (ep == NULL)
				continue;
			sl_quic_endpoint_handle_expiry(ep, now); /* only the due ones */
			sl_quic_endpoint_flush(ep, now);
			uint64_t e = sl_quic_endpoint_expiry(ep);
			if (e < expiry)
				expiry = e;
		}
		sl_pktio_tx_flush(cp->port);
	}
	unsigned connecting = 0;
	bool queued = false;
	for (struct sl_client_conn *c = cl->conns; c; c = c->next) {
		if (c->ws == NULL)
			continue;
		if (sl_client_ws_queued(c->ws)) {
			queued = true;
			continue;
		}
		connecting += sl_client_ws_connecting(c->ws);
		sl_client_ws_handle_expiry(c->ws, now);
		sl_client_ws_flush(c->ws, now);
		if (sl_client_ws_done(c->ws)) {
			/* The session heard of the end already (c->closed); it keeps its stats
			 * and never calls the transport again. */
			sl_client_ws_free(c->ws);
			c->ws = NULL;
			continue;
		}
		uint64_t e = sl_client_ws_expiry(c->ws);
		if (e < expiry)
			expiry = e;
	}
	/* WebSocket connections start a few at a time (see sl_client_ws_new); one that finishes
	 * its upgrade wakes the loop, which starts the next. */
	for (struct sl_client_conn *c = cl->conns; queued && c; c = c->next) {
		if (connecting >= WS_MAX_CONNECTING)
			break;
		if (c->ws && sl_client_ws_queued(c->ws)) {
			connecting++;
			(void)sl_client_ws_start(c->ws, now); /* a failure closes c */
		}
	}
	if (received == 0 && max_wait_ns > 0) {
		uint64_t deadline = now;
		if (expiry > now)
			deadline = expiry - now < max_wait_ns ? expiry : now + max_wait_ns;
		/* Poll mode waits on nothing (the lcore then sleeps); otherwise every port and
		 * the wait fd end the sleep. */
		int fds[MAX_PORTS + 2];
		unsigned nfds = 0;
		for (unsigned i = 0; !cl->poll_mode && i < cl->nports; i++)
			fds[nfds++] = sl_pktio_wait_fd(cl->ports[i].port);
		if (!cl->poll_mode && cl->wait_fd >= 0)
			fds[nfds++] = cl->wait_fd;
		if (!cl->poll_mode && cl->epfd >= 0)
			fds[nfds++] = cl->epfd;
		sl_lcore_idle_wait(&cl->lc, now, deadline, fds, nfds);
	}
	return received;
}

int sl_client_wait_connected(struct sl_client *cl, uint64_t timeout_ns)
{
	uint64_t end = sl_clock_now_ns() + timeout_ns;
	while (sl_clock_now_ns() < end) {
		bool all = true;
		for (struct sl_client_conn *c = cl->conns; c; c = c->next) {
			if (c->closed)
				return SL_ECLOSED;
			all &= c->connected;
		}
		if (all)
			return 0;
		sl_client_run(cl, 10 * 1000000);
	}
	return SL_ETIMEDOUT;
}

void sl_client_close_all(struct sl_client *cl, uint64_t timeout_ns)
{
	for (struct sl_client_conn *c = cl->conns; c; c = c->next)
		sl_client_conn_close(c, 0, "bye");
	uint64_t end = sl_clock_now_ns() + timeout_ns;
	while (sl_clock_now_ns() < end) {
		bool open = false;
		for (struct sl_client_conn *c = cl->conns; c; c = c->next)
			open |= !c->closed || c->ws != NULL;
		if (!open)
			break;
		sl_client_run(cl, 1000000);
	}
}
