/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_WSCONN_H
#define SL_SHARD_WSCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moq/codec.h"
#include "moq/session.h"
#include "qmux/qmux.h"
#include "qmux/ws.h"
#include "shard/moq_qmux.h"

/*
 * One WebSocket connection carrying moq-lite over qmux, on the worker that owns it: its TCP
 * socket (with its GnuTLS session when the listener runs TLS), the upgrade, the WebSocket and
 * qmux engines, and the moq-lite session on top. The control thread accepted the socket, ran
 * the TLS handshake and read the request head; it hands all of that over (SL_WORKER_CTL_WS)
 * and the worker does the rest here, in the order docs/qmux.md ("Wiring") gives.
 *
 * The socket is non-blocking and edge-triggered in the worker's epoll set: sl_wsconn_read
 * reads until the socket has nothing more, sl_wsconn_flush writes until it takes nothing more.
 */

struct sl_wsconn;

/* The moq-lite versions WebSocket connections speak, in preference order (moq-relay's: the
 * newest first), each accepted as qmux-01.<it> or qmux-00.<it>; the host's attach (worker.c,
 * ws_attach) sets the session's version from the one chosen. Clients that offer only the bare
 * qmux names (version in-band) are refused with 400: the version would have to be settled
 * in-band, which sessions do not do. */
#define SL_WSCONN_ALPNS                                                                            \
	{                                                                                          \
		SL_MOQ_ALPN_05, SL_MOQ_ALPN                                                        \
	}

/* What the worker gives every connection. */
struct sl_wsconn_host {
	/* Creates the connection's moq session over the qmux transport (ops, t) once the
	 * upgrade is done, for the moq-lite version alpn (one of SL_WSCONN_ALPNS); NULL refuses
	 * it (the connection closes). */
	struct sl_moq_session *(*attach)(void *arg, struct sl_wsconn *c, const char *alpn,
					 const struct sl_moq_transport_ops *ops, void *t);
	/* The connection ended (the session was told and is the host's to free). */
	void (*detach)(void *arg, struct sl_wsconn *c, struct sl_moq_session *s);
	void *arg;
	struct sl_qmux_config qmux;
	struct sl_ws_config ws;
};

/*
 * Takes over fd (non-blocking) and tls (a gnutls_session_t after its handshake, or NULL) with
 * the bytes the control thread read (the request head and whatever followed). Returns 0,
 * SL_ENOMEM (fd and tls are the caller's then).
 */
int sl_wsconn_new(const struct sl_wsconn_host *host, int fd, void *tls, const uint8_t *bytes,
		  size_t len, uint64_t now_ns, struct sl_wsconn **out);

/* Reads what the socket has and runs it through the engines (the upgrade first). */
void sl_wsconn_read(struct sl_wsconn *c, uint64_t now_ns);

/* Moves pending output out: qmux into WebSocket messages, those to the socket, as long as the
 * socket takes them. Returns the bytes written to the socket. */
size_t sl_wsconn_flush(struct sl_wsconn *c, uint64_t now_ns);

/* The next timer (qmux idle and keep-alive, the close grace), UINT64_MAX if none; and running
 * it when due. */
uint64_t sl_wsconn_expiry(const struct sl_wsconn *c);
void sl_wsconn_handle_expiry(struct sl_wsconn *c, uint64_t now_ns);

/* True when the connection is over and may be freed. */
bool sl_wsconn_done(const struct sl_wsconn *c);
int sl_wsconn_fd(const struct sl_wsconn *c);
/* The chosen subprotocol ("" before the upgrade). */
const char *sl_wsconn_protocol(const struct sl_wsconn *c);

/* Counters of a connection: its WebSocket and qmux engines (zero before the upgrade), and the
 * upgrades refused. */
void sl_wsconn_stats(const struct sl_wsconn *c, struct sl_ws_stats *ws, struct sl_qmux_stats *qm);

/* Closes the socket and frees everything; a session still attached is detached first. */
void sl_wsconn_free(struct sl_wsconn *c);

#endif
