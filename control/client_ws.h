/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CLIENT_WS_H
#define SL_CONTROL_CLIENT_WS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "moq/session.h"

/*
 * The WebSocket transport of the tools' client runtime (client.h; private to it): one moq-lite
 * connection over qmux over a WebSocket over a non-blocking TCP socket, with TLS (wss://) or
 * without (ws://), the client side of what the relay's shard/wsconn.c serves. The client owns
 * one epoll set for all of its WebSocket sockets, so that hundreds of connections cost one
 * descriptor in its idle wait and one epoll_wait per loop iteration, not a read per socket.
 *
 * A connection offers exactly one subprotocol, qmux-01.<alpn> of its moq-lite version, for the
 * reason client.h gives for ALPNs; the framing is therefore known before the server answers and
 * the qmux connection (and the session on it) exist from the start, as a QUIC connection's
 * session does. Nothing the engines queue reaches the socket before the 101 answer checked out.
 *
 * Like the QUIC path, the client does not verify the relay's certificate: the daemon's is
 * self-signed, and the tools talk to a relay their operator named.
 */

struct sl_client_conn;
struct sl_client_ws;

/* A parsed ws:// or wss:// URL. */
struct sl_client_ws_url {
	bool tls;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[256]; /* HOST:PORT as written, for the Host header */
	char name[256]; /* HOST without port or brackets, for SNI when it is a name */
	char path[512]; /* the path and query, "/" when absent */
};

/* True when url starts with ws:// or wss://. */
bool sl_client_ws_is_url(const char *url);

/* Parses "ws://HOST:PORT[/path]" or "wss://HOST:PORT[/path]" (HOST as sl_client_parse_url
 * takes it). Returns 0 or SL_EINVAL. */
int sl_client_ws_parse_url(const char *url, struct sl_client_ws_url *out);

/*
 * Makes connection c's transport (moq-lite version; its session is the caller's to create on
 * sl_client_ws_qmux afterwards) to u, queued: sl_client_ws_start connects it. The owner bounds
 * how many connect at once, because a relay's listener holds a limited number of connections
 * in their TLS handshake and upgrade (256 by default) and closes those beyond at accept: a
 * client that opens 300 at once would see some refused. Returns 0, SL_EINVAL (version),
 * SL_EIO, SL_ENOMEM.
 */
int sl_client_ws_new(struct sl_client_conn *c, const struct sl_client_ws_url *u,
		     enum sl_moq_version version, int epfd, uint64_t now_ns,
		     struct sl_client_ws **out);

/* Starts the queued connection: a non-blocking connect, registered in the epoll set with the
 * connection c as its event data. On failure (SL_EIO, SL_ENOMEM) the connection is closed
 * (c->closed) and done. */
int sl_client_ws_start(struct sl_client_ws *w, uint64_t now_ns);

/* Still queued (not started); between its start and the end of the upgrade (or its failure). */
bool sl_client_ws_queued(const struct sl_client_ws *w);
bool sl_client_ws_connecting(const struct sl_client_ws *w);

/* The qmux connection: the transport pointer of the session (sl_moq_qmux_transport). */
void *sl_client_ws_qmux(struct sl_client_ws *w);

/* The socket is ready (epoll said so): runs the connect, the TLS handshake, the upgrade, or
 * reads what arrived through the engines, then flushes. */
void sl_client_ws_io(struct sl_client_ws *w, uint64_t now_ns);

/* Moves pending output to the socket as far as it takes it (after the sessions polled). */
void sl_client_ws_flush(struct sl_client_ws *w, uint64_t now_ns);

/* The next timer (qmux idle and keep-alive, connect or close deadline), UINT64_MAX if none;
 * and running the due ones. */
uint64_t sl_client_ws_expiry(const struct sl_client_ws *w);
void sl_client_ws_handle_expiry(struct sl_client_ws *w, uint64_t now_ns);

/* Closes the connection with a moq-lite application code (qmux APPLICATION_CLOSE, then the
 * WebSocket close handshake). */
void sl_client_ws_close(struct sl_client_ws *w, uint64_t code, const char *reason);

/* True once the socket is finished with (closed and drained, or failed): free it then. */
bool sl_client_ws_done(const struct sl_client_ws *w);

/* Frees everything and closes the socket, without callbacks (the session, if still there, must
 * have been freed first: the qmux streams it held are released silently). NULL is ignored. */
void sl_client_ws_free(struct sl_client_ws *w);

#endif
