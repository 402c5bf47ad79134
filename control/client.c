/* SPDX-License-Identifier: Apache-2.0 */
#include "control/client.h"
#include "core/clock.h"
#include "core/err.h"
#include "drivers/net/socket.h"
#include "shard/moq_quic.h"
#include "shard/pktio.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define RX_BURST  64

struct cport {
	struct sl_client *cl;
	struct sl_pktio *port;
	struct sl_quic_endpoint *ep;
	struct sockaddr_storage local; /* the path's local side for connections on this port */
	socklen_t local_len;
};

struct sl_client {
	struct cport ports[MAX_PORTS];
	unsigned nports, next_port;
	bool poll_mode; /* a port has no descriptor: idle loops sleep briefly instead of poll */
	struct sl_client_conn *conns;
	uint64_t now;
};

static void on_connected(void *arg, struct sl_quic_conn *qc)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c)
		c->connected = true;
}

static void on_stream_open(void *arg, struct sl_quic_conn *qc, int64_t id)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_open(c->s, id);
}

static void on_stream_data(void *arg, struct sl_quic_conn *qc, int64_t id, const uint8_t *data,
			   size_t len, bool fin)
{
	(void)arg;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_data(c->s, id, data, len, fin);
}

static void on_stream_reset(void *arg, struct sl_quic_conn *qc, int64_t id, uint64_t code,
			    bool reset)
{
	(void)arg;
	(void)reset;
	struct sl_client_conn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_reset(c->s, id, code);
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
	sl_moq_session_closed(c->s);
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
	static const struct sl_quic_callbacks cbs = {
		.tx_alloc = sl_pktio_quic_tx_alloc,
		.tx_commit = sl_pktio_quic_tx_commit,
		.on_connected = on_connected,
		.on_stream_open = on_stream_open,
		.on_stream_data = on_stream_data,
		.on_stream_reset = on_stream_reset,
		.on_closed = on_closed,
	};
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
	cl->now = sl_clock_now_ns();
	for (unsigned i = 0; i < nports; i++) {
		struct sl_quic_config qc;
		sl_quic_config_default(&qc);
		qc.max_conns = 100000;
		int rc = sl_quic_endpoint_new(&qc, &cbs, cl->ports[i].port, cl->now,
					      &cl->ports[i].ep);
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
		sl_moq_session_free(c->s);
		free(c);
	}
	for (unsigned i = 0; i < cl->nports; i++) {
		sl_quic_endpoint_free(cl->ports[i].ep);
		sl_pktio_close(cl->ports[i].port);
	}
	free(cl);
}

int sl_client_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len)
{
	const char *p = url;
	if (strncmp(p, "moq://", 6) == 0)
		p += 6;
	char host[300];
	snprintf(host, sizeof(host), "%s", p);
	char *slash = strchr(host, '/');
	if (slash)
		*slash = '\0';
	if (strncmp(host, "localhost:", 10) == 0) {
		char tmp[300];
		snprintf(tmp, sizeof(tmp), "127.0.0.1:%s", host + 10);
		snprintf(host, sizeof(host), "%s", tmp);
	}
	return sl_net_parse_addr(host, ss, len);
}

int sl_client_connect(struct sl_client *cl, const char *url, struct sl_client_conn **out)
{
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	if (sl_client_parse_url(url, &path.remote, &path.remote_len) != 0)
		return SL_EINVAL;
	struct cport *cp = &cl->ports[cl->next_port++ % cl->nports];
	path.local = cp->local;
	path.local_len = cp->local_len;
	struct sl_client_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = false;
	c->cl = cl;
	int rc = sl_quic_connect(cp->ep, &path, "localhost", sl_clock_now_ns(), &c->qc);
	if (rc != 0) {
		free(c);
		return rc;
	}
	/* Nothing reaches the session before the handshake, so it can follow the connection. */
	c->s = sl_moq_session_new(&sc, &sl_moq_quic_transport, c->qc, NULL);
	if (c->s == NULL) {
		sl_quic_conn_close(c->qc, 0, "out of memory");
		free(c);
		return SL_ENOMEM;
	}
	sl_quic_conn_set_user(c->qc, c);
	c->next = cl->conns;
	cl->conns = c;
	*out = c;
	return 0;
}

int sl_client_run(struct sl_client *cl, uint64_t max_wait_ns)
{
	struct sl_pkt pkts[RX_BURST];
	uint64_t now = cl->now = sl_clock_now_ns();
	int received = 0;
	for (unsigned i = 0; i < cl->nports; i++) {
		struct cport *cp = &cl->ports[i];
		unsigned int n;
		while ((n = sl_pktio_rx_burst(cp->port, pkts, RX_BURST)) > 0) {
			for (unsigned int k = 0; k < n; k++)
				sl_quic_endpoint_recv(cp->ep, &pkts[k].path, pkts[k].data,
						      pkts[k].len, now);
			sl_pktio_rx_release(cp->port, pkts, n);
			received += (int)n;
		}
	}
	for (struct sl_client_conn *c = cl->conns; c; c = c->next)
		if (!c->closed)
			sl_moq_session_poll(c->s, now);
	uint64_t expiry = UINT64_MAX;
	for (unsigned i = 0; i < cl->nports; i++) {
		struct cport *cp = &cl->ports[i];
		if (sl_quic_endpoint_expiry(cp->ep) <= now)
			sl_quic_endpoint_handle_expiry(cp->ep, now);
		sl_quic_endpoint_flush(cp->ep, now);
		sl_pktio_tx_flush(cp->port);
		uint64_t e = sl_quic_endpoint_expiry(cp->ep);
		if (e < expiry)
			expiry = e;
	}
	if (received == 0 && max_wait_ns > 0) {
		uint64_t wait = max_wait_ns;
		if (expiry > now && expiry - now < wait)
			wait = expiry - now;
		else if (expiry <= now)
			wait = 0;
		if (cl->poll_mode) {
			/* Nothing to poll on: a short sleep bounds both the added latency and
			 * the CPU a waiting client burns. */
			if (wait > SL_CLIENT_POLL_SLEEP_NS)
				wait = SL_CLIENT_POLL_SLEEP_NS;
			struct timespec ts = {0, (long)wait};
			if (wait > 0)
				nanosleep(&ts, NULL);
		} else if (wait >= 1000000) {
			struct pollfd pf[MAX_PORTS];
			for (unsigned i = 0; i < cl->nports; i++) {
				pf[i].fd = sl_pktio_wait_fd(cl->ports[i].port);
				pf[i].events = POLLIN;
			}
			poll(pf, cl->nports, (int)(wait / 1000000));
		} else if (wait > 0) {
			struct timespec ts = {0, (long)wait};
			nanosleep(&ts, NULL);
		}
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
		if (!c->closed && c->qc)
			sl_quic_conn_close(c->qc, 0, "bye");
	uint64_t end = sl_clock_now_ns() + timeout_ns;
	while (sl_clock_now_ns() < end) {
		bool open = false;
		for (struct sl_client_conn *c = cl->conns; c; c = c->next)
			open |= !c->closed;
		if (!open)
			break;
		sl_client_run(cl, 1000000);
	}
}
