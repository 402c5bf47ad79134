/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_H3_WT_H
#define SL_H3_WT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stats.h"
#include "h3/frame.h"
#include "h3/qpack.h"
#include "moq/session.h"

/*
 * A WebTransport server connection over HTTP/3 (draft-ietf-webtrans-http3, as Chromium speaks
 * it: draft-02 settings, RFC 9220's extended CONNECT), carrying one moq-lite session. Sans-IO:
 * it sits between a QUIC connection's streams, which it drives through the same operations a
 * moq session uses (struct sl_moq_transport_ops: shard/moq_quic.h's for the relay), and the moq
 * session, to which it is itself the transport. So a moq session does not know whether it runs
 * on raw QUIC, on a WebSocket (qmux) or on WebTransport.
 *
 * What it does (docs/h3.md):
 *  - sl_wt_start, after the handshake: opens the control stream and sends SETTINGS
 *    (ENABLE_CONNECT_PROTOCOL, H3_DATAGRAM, WebTransport's draft-02 and session-count settings;
 *    no dynamic QPACK table, so no QPACK streams of its own).
 *  - The peer's control stream: SETTINGS first (else H3_MISSING_SETTINGS), once, and the rules
 *    of RFC 9114 7; its QPACK streams are drained; unknown and grease streams and frames are
 *    skipped, a push stream from a client is H3_STREAM_CREATION_ERROR.
 *  - Requests: a WebTransport CONNECT is offered to the host, which attaches a moq session for
 *    the version picked from wt-available-protocols by the server's preference (or refuses it
 *    with a status: a token, a path); the answer is 200 with wt-protocol and the stream stays
 *    open as the session's CONNECT stream. One session per connection (the reference client
 *    never pools); a second CONNECT is refused with 429. Other requests get 405/400/501, a
 *    malformed one H3_MESSAGE_ERROR.
 *  - Session streams: the peer's 0x41 (bidi) and 0x54 (uni) streams of the session go to the
 *    moq session with their prefix stripped; the session's own streams get the prefix, and
 *    its acknowledgements are reported net of it. Reset codes are mapped to and from the
 *    WebTransport range.
 *  - The end: the peer's CLOSE_WEBTRANSPORT_SESSION capsule or the end of the CONNECT stream
 *    closes the moq session; the moq session's close sends the capsule and ends the CONNECT
 *    stream. When the CONNECT stream is done both ways, the QUIC connection is closed with
 *    H3_NO_ERROR.
 * Connection errors close the QUIC connection through ops->close with the HTTP/3 code.
 */

struct sl_wt_conn;

/* The ALPN of HTTP/3, which WebTransport rides on. */
#define SL_WT_ALPN "h3"

struct sl_wt_host {
	/*
	 * A WebTransport CONNECT arrived and alpn (one of the served ones) was picked for it; on
	 * a client (sl_wt_conn_new_client), the server answered 2xx with alpn (req NULL).
	 * Returns the moq session to run over (ops, t), created with that version, or NULL to
	 * refuse the request with *status (a 4xx or 5xx) and *why (for the log). req points into
	 * the request's fields, valid during the call. Required.
	 */
	struct sl_moq_session *(*attach)(void *arg, struct sl_wt_conn *c,
					 const struct sl_h3_connect *req, const char *alpn,
					 const struct sl_moq_transport_ops *ops, void *t,
					 int *status, const char **why);
	/* The session ended: it was told (sl_moq_session_closed) and is the host's to free. */
	void (*detach)(void *arg, struct sl_wt_conn *c, struct sl_moq_session *s);
	void *arg;
	/* The moq-lite versions served, by ALPN, in preference order ("moq-lite-05", ...). */
	const char *alpns[4];
	unsigned n_alpns;
};

struct sl_wt_stats {
	uint64_t requests;	   /* HEADERS sections decoded on request streams */
	uint64_t sessions;	   /* CONNECTs answered 200 */
	uint64_t refused;	   /* requests answered with an error status */
	uint64_t malformed;	   /* requests reset with H3_MESSAGE_ERROR */
	uint64_t streams_in;	   /* the peer's WebTransport streams handed to the session */
	uint64_t streams_out;	   /* the session's own */
	uint64_t streams_rejected; /* WebTransport streams of no session */
	uint64_t closes_in;	   /* CLOSE_WEBTRANSPORT_SESSION capsules received */
	uint64_t closes_out;	   /* ... sent */
	uint64_t h3_errors;	   /* connection errors this side raised */
};
/* Its members, for status (core/stats.h). */
extern const struct sl_stat_field sl_wt_stats_fields[];

/* The moq session's transport over a connection (t: the struct sl_wt_conn). */
extern const struct sl_moq_transport_ops sl_wt_moq_transport;

/*
 * A connection over the QUIC connection lower_t, driven through lower (the session-level
 * stream operations: for the relay, sl_moq_quic_transport). host is copied. Returns 0,
 * SL_EINVAL or SL_ENOMEM.
 */
int sl_wt_conn_new(const struct sl_wt_host *host, const struct sl_moq_transport_ops *lower,
		   void *lower_t, struct sl_wt_conn **out);

/*
 * The client side of a connection (docs/h3.md): after sl_wt_start it opens its control stream
 * with SETTINGS, waits for the server's (which must enable extended CONNECT and WebTransport),
 * sends the extended CONNECT on its first bidirectional stream (":authority" authority,
 * ":path" path with its query, e.g. "/demo?jwt=...", wt-available-protocols listing
 * host->alpns in order), and on a 2xx whose wt-protocol names one of them calls host->attach
 * (req NULL) for the session to run over it. A refusal (any other status), an answer it cannot
 * use or a server that offers no WebTransport ends the QUIC connection with H3_NO_ERROR, and
 * sl_wt_status / sl_wt_error say why. Streams the server opens for the session before the
 * answer is read are kept (up to 64 KiB each) and handed over with it. Returns 0, SL_EINVAL
 * (an empty authority, a path not starting with '/', either too long) or SL_ENOMEM.
 */
int sl_wt_conn_new_client(const struct sl_wt_host *host, const char *authority, const char *path,
			  const struct sl_moq_transport_ops *lower, void *lower_t,
			  struct sl_wt_conn **out);

/* The client's answer: its :status, 0 before one came. */
int sl_wt_status(const struct sl_wt_conn *c);
/* What ended the connection first (a refusal, a protocol error of the peer's), for the user;
 * NULL while nothing did. */
const char *sl_wt_error(const struct sl_wt_conn *c);

/*
 * Frees the connection. A session still attached is told the connection is gone and detached
 * first. The lower transport is not touched (its streams died with it, or the caller closes
 * it).
 */
void sl_wt_conn_free(struct sl_wt_conn *c);

/* The handshake is done: opens the control stream and writes SETTINGS. Returns 0 or the
 * lower transport's error (the connection is closed then). */
int sl_wt_start(struct sl_wt_conn *c);

/* ---- events from the QUIC connection ---- */

/* The peer opened the stream handle: returns the pointer to attach to it (never NULL while the
 * connection lives), which every later event of the stream carries. */
void *sl_wt_stream_accept(struct sl_wt_conn *c, void *handle, bool bidi);
void sl_wt_stream_data(struct sl_wt_conn *c, void *user, const uint8_t *data, size_t len, bool fin);
void sl_wt_stream_reset(struct sl_wt_conn *c, void *user, uint64_t code);
void sl_wt_stream_acked(struct sl_wt_conn *c, void *user, uint64_t bytes);
/* The stream is gone both ways; its pointer dies here. */
void sl_wt_stream_closed(struct sl_wt_conn *c, void *user);
/* The peer raised its stream limit. */
void sl_wt_writable(struct sl_wt_conn *c);
/* The QUIC connection is gone: the session (if any) is told and detached. Idempotent. */
void sl_wt_closed(struct sl_wt_conn *c);

/* The session attached, or NULL. */
struct sl_moq_session *sl_wt_session(const struct sl_wt_conn *c);
void sl_wt_stats(const struct sl_wt_conn *c, struct sl_wt_stats *out);

/*
 * Picks the first of the served protocols (server preference) that the sf-list of strings in
 * list (a wt-available-protocols value: "a", "b";param, ...) offers. Returns its index, or
 * SL_ENOTFOUND (none, or list is not a list of strings).
 */
int sl_wt_pick_protocol(const char *list, const char *const *served, unsigned n);

#endif
