/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_QMUX_WS_H
#define SL_QMUX_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/stats.h"

/*
 * The server (and client) side of a WebSocket (RFC 6455), sans-IO, as the qmux binding
 * (draft-lcurley-qmux-websocket) uses it: the HTTP/1.1 upgrade request parsed incrementally,
 * the subprotocol chosen in moq-relay's order, the 101 answer, then binary messages in and out.
 * The caller moves bytes: it feeds what the TCP (or TLS) socket read and drains what the engine
 * queued. No clock, no socket, no allocation after sl_ws_conn_new.
 *
 * Framing uses libwslay's frame layer (wslay_frame_recv): the library parses each frame header,
 * checks the length encoding, unmasks the payload and hands it over in chunks, reading from the
 * bytes the caller fed through a callback that copies from memory. Its event layer
 * (wslay_event_*) is not used: it mallocs and copies every message it receives and every one it
 * queues, which the data plane does not do per message (DESIGN.md, convention 6), and its send
 * side cannot write a frame header in front of a payload the caller already placed in the output
 * buffer. So this file keeps what the event layer would: message reassembly into one buffer
 * allocated with the connection, the mask and opcode rules, ping/pong, the close handshake and
 * the size limit; and it writes the (2 to 14 byte) frame headers of outgoing frames itself,
 * in place, in front of the payload.
 *
 * Decisions (see docs/qmux.md):
 *  - A client frame without a mask fails the connection with close code 1002, as RFC 6455 5.1
 *    requires; a server frame with one fails a client connection the same way.
 *  - A text message fails the connection with close code 1003 (unsupported data): the binding
 *    forbids text messages; the JS client answers one with a qmux CONNECTION_CLOSE 1003, and the
 *    WebSocket close code 1003 means exactly this at the layer that noticed.
 *  - No extension is ever accepted (permessage-deflate is not answered), so RSV bits fail with
 *    1002.
 *  - A message longer than max_message fails with 1009.
 */

/* ---- HTTP/1.1 request head ---- */

#define SL_WS_MAX_HEAD	    8192 /* the whole request head, CRLFCRLF included */
#define SL_WS_MAX_PROTO_HDR 8	 /* Sec-WebSocket-Protocol lines kept (a list may span several) */

/* A range of the parser's buffer (not NUL-terminated; len 0 when absent). */
struct sl_ws_str {
	const char *p;
	size_t len;
};

struct sl_ws_request {
	struct sl_ws_str method, target, path, query; /* target = path [? query] */
	struct sl_ws_str host, upgrade, connection, key, version, origin, extensions;
	struct sl_ws_str protocol[SL_WS_MAX_PROTO_HDR]; /* each Sec-WebSocket-Protocol line */
	unsigned n_protocol;
	struct sl_ws_str accept; /* responses: Sec-WebSocket-Accept */
	int status;		 /* responses: the status code */
	bool connection_upgrade; /* a Connection line lists the "upgrade" token */
	bool http11;		 /* HTTP/1.1 (else 1.0) */
};

struct sl_ws_http {
	char buf[SL_WS_MAX_HEAD];
	size_t len;
	size_t scanned; /* bytes already searched for the end of the head */
	bool done;
	bool response; /* parses a status line instead of a request line */
	struct sl_ws_request req;
};

void sl_ws_http_init(struct sl_ws_http *h);
/* For a client: the same parser reading the server's answer ("HTTP/1.1 101 ..."); the status
 * goes to req.status, the headers to the same fields. */
void sl_ws_http_init_response(struct sl_ws_http *h);

/*
 * Feeds request bytes, split anywhere. Consumes bytes only up to the end of the head (*used
 * says how many; what follows belongs to the next layer). Returns 0 once the head is complete
 * (h->req is filled and points into h->buf), SL_EAGAIN when more bytes are needed, SL_ENOSPC
 * when the head exceeds SL_WS_MAX_HEAD or a header line is too long, SL_ECORRUPT when a line
 * is malformed. On error *why names what is wrong ("bad request line", "header too long", ...).
 */
int sl_ws_http_feed(struct sl_ws_http *h, const uint8_t *p, size_t n, size_t *used,
		    const char **why);

/* True when the request asks for a WebSocket upgrade (an Upgrade: websocket header); the TCP
 * listener serves other requests as plain HTTP. */
bool sl_ws_is_upgrade(const struct sl_ws_request *req);

/*
 * Checks what RFC 6455 4.2.1 requires of an upgrade request: GET, HTTP/1.1, Host, Upgrade:
 * websocket, Connection: upgrade, a Sec-WebSocket-Key of 16 base64 bytes, version 13. Returns 0,
 * or SL_ECORRUPT with *status the HTTP status to answer (400, or 426 for a wrong version, which
 * sl_ws_response_error answers with Sec-WebSocket-Version: 13) and *why the reason.
 */
int sl_ws_check_upgrade(const struct sl_ws_request *req, int *status, const char **why);

/* ---- subprotocol choice ---- */

enum sl_ws_framing;

enum sl_ws_framing {
	SL_WS_QMUX00 = 0, /* one QUIC-style frame per message, no record layer */
	SL_WS_QMUX01 = 1, /* records: several frames per message, QX_PING */
	SL_WS_QMUX02 = 2, /* as 01, plus reset_stream_at; transport parameters strictly first */
	SL_WS_LEGACY = 3, /* the old "webtransport" framing: u8 types, no flow control */
};

#define SL_WS_MAX_ALPNS 4
#define SL_WS_MAX_PROTO 64

struct sl_ws_select_config {
	/* The application protocols served, in server preference order ("moq-lite-05",
	 * "moq-lite-04"); each is offered as qmux-01.<alpn> then qmux-00.<alpn>, and after all
	 * of those as webtransport.<alpn> (the legacy framing, which @moq/lite 0.2.x offers). */
	const char *alpn[SL_WS_MAX_ALPNS];
	unsigned n_alpn;
	/* Accept the bare names qmux-02, qmux-01, qmux-00, webtransport (in that order, after
	 * every pair) and a request that offers nothing (legacy framing): the application then
	 * settles its version in-band. */
	bool bare;
};

struct sl_ws_choice {
	enum sl_ws_framing framing;
	int alpn;     /* index into the config's alpn[], or -1: in-band (bare name or no offer) */
	bool offered; /* the client sent Sec-WebSocket-Protocol (so the answer must carry one) */
	char protocol[SL_WS_MAX_PROTO]; /* the value to answer, "" when nothing was offered */
};

/*
 * Picks the subprotocol by server preference among the client's offers (comma or comma-space
 * separated, over any number of header lines). Returns 0, or SL_ENOTFOUND (offers present,
 * none acceptable: answer 400), SL_ENOTSUP (nothing offered and bare names are off: answer
 * 400); *why says which.
 */
int sl_ws_select(const struct sl_ws_request *req, const struct sl_ws_select_config *cfg,
		 struct sl_ws_choice *out, const char **why);

/* The framing a selected value names ("qmux-01.moq-lite-05" -> SL_WS_QMUX01); for clients,
 * which learn the server's choice from its answer. Returns 0 or SL_ENOTFOUND. */
int sl_ws_framing_of(const char *protocol, size_t len, enum sl_ws_framing *out);

/* ---- responses ---- */

/* Sec-WebSocket-Accept of a key: base64(SHA-1(key + GUID)), 28 characters and a NUL.
 * Returns 0, or SL_EIO when the hash fails. */
int sl_ws_accept_key(const char *key, size_t len, char out[29]);

/* The 101 Switching Protocols answer, with Sec-WebSocket-Protocol when one was offered and no
 * extension. Returns 0, or SL_ENOSPC when it does not fit cap; *len is its length. */
int sl_ws_response_101(const struct sl_ws_request *req, const struct sl_ws_choice *choice,
		       char *buf, size_t cap, size_t *len);

/* An error answer (400, 404, 426, ...) with a one-line text body and Connection: close.
 * Returns 0 or SL_ENOSPC. */
int sl_ws_response_error(int status, const char *why, char *buf, size_t cap, size_t *len);

/* A client's upgrade request for path (with query), host and the comma-separated offers;
 * key is the 24-character base64 key the caller drew. Returns 0 or SL_ENOSPC. */
int sl_ws_request_write(const char *path, const char *host, const char *offers, const char *key,
			char *buf, size_t cap, size_t *len);

/*
 * A client's check of the server's answer (RFC 6455 4.1): 101, Upgrade: websocket, Connection:
 * upgrade, the accept value of key, no extension, and a Sec-WebSocket-Protocol that is one of
 * offers (comma-separated; required when offers is not empty, as the JS client requires).
 * Fills *framing and protocol (the chosen value, "" when none). Returns 0 or SL_ECORRUPT with
 * *why.
 */
int sl_ws_check_response(const struct sl_ws_request *resp, const char *key, const char *offers,
			 enum sl_ws_framing *framing, char protocol[SL_WS_MAX_PROTO],
			 const char **why);

/* ---- frames after the upgrade ---- */

struct sl_ws_conn;

enum {
	SL_WS_CLOSE_NORMAL = 1000,
	SL_WS_CLOSE_PROTOCOL = 1002,
	SL_WS_CLOSE_UNSUPPORTED = 1003,
	SL_WS_CLOSE_NO_STATUS = 1005,
	SL_WS_CLOSE_TOO_BIG = 1009,
};

struct sl_ws_config {
	bool server;
	uint32_t max_message; /* largest message accepted, default 65536 */
	uint32_t out_cap;     /* bytes the output queue holds, default 262144 */
	/* Client mode: the masking keys' generator state (RFC 6455 wants them unpredictable;
	 * the caller seeds it from a random source). */
	uint64_t mask_seed;
};

void sl_ws_config_default(struct sl_ws_config *cfg);

struct sl_ws_callbacks {
	/* One whole binary message; data is valid during the call only. */
	void (*on_message)(void *arg, const uint8_t *data, size_t len);
	/* A ping or pong arrived (the pong to a ping is queued already): the peer is alive. */
	void (*on_control)(void *arg);
	/* The peer's close frame arrived (code 1005 when it carried none); the answer is queued.
	 * Optional. */
	void (*on_close)(void *arg, uint16_t code);
};

struct sl_ws_stats {
	uint64_t rx_bytes, tx_bytes;
	uint64_t rx_messages, tx_messages;
	uint64_t rx_frames, tx_frames;
	uint64_t pings_rx, pongs_rx, pings_tx;
	uint64_t closes_rx, closes_tx;
	uint64_t errors; /* connections failed by a protocol error on our side */
};
extern const struct sl_stat_field sl_ws_stats_fields[];

/* Creates a connection (allocates its message and output buffers). Errors: SL_EINVAL,
 * SL_ENOMEM. */
int sl_ws_conn_new(const struct sl_ws_config *cfg, const struct sl_ws_callbacks *cb, void *arg,
		   struct sl_ws_conn **out);
void sl_ws_conn_free(struct sl_ws_conn *c);

/*
 * Feeds bytes read from the socket. Whole messages go to on_message, pings are answered.
 * Returns 0; SL_ECLOSED once the close handshake is done or the connection failed (the rest is
 * ignored); SL_ECORRUPT when these bytes broke the protocol: a close frame with the code
 * (sl_ws_error) is queued, drain it and close the socket.
 */
int sl_ws_recv(struct sl_ws_conn *c, const uint8_t *data, size_t len);

/*
 * Reserves room for a binary message of up to max payload bytes in the output queue and
 * returns where the payload goes (NULL when the queue has no room or the connection is
 * closing: wait for the socket to drain). sl_ws_msg_commit then frames len <= max bytes of it.
 * One reservation at a time.
 */
uint8_t *sl_ws_msg_alloc(struct sl_ws_conn *c, size_t max);
void sl_ws_msg_commit(struct sl_ws_conn *c, size_t len);

/* Copies data into one binary message. Returns 0, SL_ENOSPC (no room now) or SL_ECLOSED. */
int sl_ws_send(struct sl_ws_conn *c, const uint8_t *data, size_t len);

/* Queues a ping (payload <= 125 bytes). Returns 0, SL_EINVAL, SL_ENOSPC or SL_ECLOSED. */
int sl_ws_ping(struct sl_ws_conn *c, const uint8_t *data, size_t len);

/* Starts the close handshake with code (0: no code). Nothing is queued after it. Returns 0
 * or SL_ECLOSED (a close was sent already). */
int sl_ws_close(struct sl_ws_conn *c, uint16_t code);

/* The queued output: *p and the byte count; sl_ws_consume(n) after the socket took n. */
size_t sl_ws_pending(const struct sl_ws_conn *c, const uint8_t **p);
void sl_ws_consume(struct sl_ws_conn *c, size_t n);

/* True once a close was both sent and received, or the connection failed: after the output
 * is drained the socket can be closed. */
bool sl_ws_done(const struct sl_ws_conn *c);
/* The close code we sent because of an error (0 if none), and why. */
uint16_t sl_ws_error(const struct sl_ws_conn *c, const char **why);
void sl_ws_stats(const struct sl_ws_conn *c, struct sl_ws_stats *out);

#endif
