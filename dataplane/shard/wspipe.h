/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_WSPIPE_H
#define SL_SHARD_WSPIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moq/session.h"
#include "qmux/qmux.h"
#include "qmux/ws.h"

/*
 * A moq-lite session's bytes over WebSocket+qmux on a TCP socket, plain or under a GnuTLS
 * session: what the relay's WebSocket connections (shard/wsconn.c) and the tools' client
 * (control/client_ws.c) share once the HTTP upgrade is done. Each owns its socket, its side of
 * the upgrade (on the same socket, before the pipe's engines run) and its session; the pipe moves
 * bytes: socket -> WebSocket messages -> qmux -> the session's streams (moq_qmux.h), and back, and
 * runs the engines' timers. One owner thread; not thread-safe.
 */

struct sl_wspipe_host {
	/* The session the qmux streams belong to; NULL while there is none (stream events are
	 * then dropped). */
	struct sl_moq_session *(*session)(void *arg);
	/* qmux is closed (by either side, or because the socket failed): the owner tells its
	 * session and starts draining. The WebSocket close frame is already queued. Required. */
	void (*closed)(void *arg, const struct sl_qmux_close_info *info);
	void *arg;
};

struct sl_wspipe {
	int fd;
	void *tls;	    /* gnutls_session_t after its handshake; NULL: plain TCP */
	size_t tls_blocked; /* bytes of a gnutls_record_send that returned EAGAIN */
	bool eof;	    /* the socket is done: the peer closed it, or it failed */
	uint64_t now;	    /* the clock of the call in progress, for the engines' callbacks */
	struct sl_ws_conn *ws;
	struct sl_qmux_conn *qm;
	struct sl_wspipe_host host;
};

/* A pipe on fd (non-blocking) and tls, engines not started: the owner may read and write the
 * socket for its upgrade (sl_wspipe_read, sl_wspipe_write) first. */
void sl_wspipe_init(struct sl_wspipe *p, int fd, void *tls);

/* Starts the WebSocket and qmux engines (server or client is in their configs). Returns 0 or
 * the engines' error (SL_ENOMEM, SL_EINVAL). */
int sl_wspipe_start(struct sl_wspipe *p, const struct sl_ws_config *wc,
		    const struct sl_qmux_config *qc, const struct sl_wspipe_host *host,
		    uint64_t now_ns);

/*
 * Reads up to cap bytes from the socket. Returns the bytes, 0 when there are none now, or -1
 * once the peer closed the socket or it failed (eof set; qmux, if started, aborted, so the owner
 * hears of it through closed). A TLS warning alert is skipped.
 */
ssize_t sl_wspipe_read(struct sl_wspipe *p, uint8_t *buf, size_t cap);

/* Writes up to n bytes to the socket; returns what it took: 0 when it is full or failed (eof
 * set, qmux aborted). Under TLS at most one record at a time, and a record the socket refused
 * is finished before anything new. */
size_t sl_wspipe_write(struct sl_wspipe *p, const uint8_t *data, size_t n);

/* Bytes read after the upgrade: into the WebSocket engine (whole messages go to qmux). */
void sl_wspipe_recv(struct sl_wspipe *p, const uint8_t *data, size_t n, uint64_t now_ns);

/* Moves output out: qmux into WebSocket messages, those to the socket while it takes them.
 * Returns the bytes written; *blocked says the socket is full with output waiting. */
size_t sl_wspipe_flush(struct sl_wspipe *p, uint64_t now_ns, bool *blocked);

/* True when the WebSocket has sent its close and has nothing left to write. */
bool sl_wspipe_drained(const struct sl_wspipe *p);

/* The engines' next timer (qmux idle and keep-alive), UINT64_MAX if none; and running it. */
uint64_t sl_wspipe_expiry(const struct sl_wspipe *p);
void sl_wspipe_handle_expiry(struct sl_wspipe *p, uint64_t now_ns);

/* Ends qmux at once (the socket is gone or the owner gives up): closed follows. */
void sl_wspipe_abort(struct sl_wspipe *p);

/* Frees the engines (not the socket or the TLS session: the owner's). */
void sl_wspipe_fini(struct sl_wspipe *p);

#endif
