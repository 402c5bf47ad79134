/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_QMUX_QMUX_H
#define SL_QMUX_QMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/stats.h"
#include "qmux/ws.h"

/*
 * A qmux connection (draft-ietf-quic-qmux over draft-lcurley-qmux-websocket), sans-IO: QUIC's
 * streams, flow control and stream limits carried in WebSocket binary messages over TCP. Whole
 * messages in (sl_qmux_recv), messages out through tx_alloc/tx_commit on sl_qmux_flush, stream
 * events to the application through callbacks, time passed in as now_ns. It is to the WebSocket
 * path what dataplane/quic's connection is to raw QUIC, and its stream calls mirror
 * quic/endpoint.h: writes take over refcounted slices, a stream has a send order, and the
 * application holds stream handles with its own pointer attached.
 *
 * All four framings the reference client may select are spoken (docs/qmux.md):
 *  - qmux-01 / qmux-02: QUIC v1 frame encodings, a message is a record of one or more frames,
 *    at most the peer's max_record_size; QX_PING keep-alive; qmux-02 adds reset_stream_at
 *    (advertised and honoured) and the strict ordering of transport parameters and pings.
 *  - qmux-00: the same frames, one per message, at most 16384 bytes, no QX_PING.
 *  - legacy "webtransport": single-byte types, no offsets, no flow control, no limits, no
 *    transport parameters; one frame per message.
 *
 * Decisions:
 *  - Stream data must arrive in order (the binding requires it: TCP is ordered and a sender
 *    writes each stream's bytes in order). Bytes the receiver already has (a duplicate or an
 *    overlap) are dropped; a gap is a PROTOCOL_VIOLATION. So nothing is ever reassembled and a
 *    stream holds no receive buffer: bytes go to on_stream_data as they arrive.
 *  - Flow-control credit is returned as soon as on_stream_data returns (the application has the
 *    bytes), as the QUIC endpoint does; MAX_DATA / MAX_STREAM_DATA go out when half of the
 *    window is used. A peer that exceeds its credit gets CONNECTION_CLOSE FLOW_CONTROL_ERROR
 *    (0x3), the QUIC code, not the WebSocket-style 1002 the JS client sends for every violation.
 *  - Peer streams are granted (MAX_STREAMS) as they close, half a window at a time, so a peer
 *    may always have its initial number of streams open.
 *  - No DATAGRAM support: max_datagram_frame_size is never advertised, so a DATAGRAM frame from
 *    the peer is a PROTOCOL_VIOLATION.
 *  - on_stream_acked reports bytes copied into a committed message: TCP is reliable, so once the
 *    transport has them they are as good as acknowledged, and the slices are released then.
 */

struct sl_qmux_conn;
struct sl_qmux_stream;

/* QUIC transport error codes (RFC 9000 20.1) as CONNECTION_CLOSE carries them. */
enum {
	SL_QMUX_NO_ERROR = 0x0,
	SL_QMUX_INTERNAL_ERROR = 0x1,
	SL_QMUX_FLOW_CONTROL_ERROR = 0x3,
	SL_QMUX_STREAM_LIMIT_ERROR = 0x4,
	SL_QMUX_STREAM_STATE_ERROR = 0x5,
	SL_QMUX_FINAL_SIZE_ERROR = 0x6,
	SL_QMUX_FRAME_ENCODING_ERROR = 0x7,
	SL_QMUX_TRANSPORT_PARAMETER_ERROR = 0x8,
	SL_QMUX_PROTOCOL_VIOLATION = 0xa,
};

struct sl_qmux_config {
	bool server;
	enum sl_ws_framing framing;
	/* What this side advertises (qmux-00/01/02; the legacy framing has no parameters and no
	 * flow control). 0 idle timeout: none of ours (the peer's still applies). */
	uint64_t idle_timeout_ms;	      /* default 30000 */
	uint64_t max_data;		      /* connection receive window, default 1 MiB */
	uint64_t max_stream_data_bidi_local;  /* default 256 KiB */
	uint64_t max_stream_data_bidi_remote; /* default 256 KiB */
	uint64_t max_stream_data_uni;	      /* default 256 KiB */
	uint64_t max_streams_bidi;	      /* default 100 */
	uint64_t max_streams_uni;	      /* default 100 */
	uint64_t max_record_size;	      /* default and minimum 16382 */
	/* Streams this connection may hold at once (local and peer's), the size of its pool. */
	uint32_t max_open_streams; /* default 4096 */
};

/* The JS client's values, which the reference relay sends too (docs/qmux.md). */
void sl_qmux_config_default(struct sl_qmux_config *cfg);

/* Why a connection ended, for on_closed. */
struct sl_qmux_close_info {
	uint64_t code;	     /* the error code (transport or application) */
	uint64_t frame_type; /* CONNECTION_CLOSE's offending frame type */
	bool app;	     /* an APPLICATION_CLOSE (0x1d) code */
	bool remote;	     /* the peer closed (else this side did) */
	bool idle;	     /* the idle timeout expired (code 0, nothing was sent) */
	const char *reason;  /* valid during on_closed only */
	size_t reason_len;
};

/*
 * Every callback runs inside a call on the connection; stream callbacks carry the stream's
 * user pointer. A stream handle stays valid until on_stream_close has returned. Stream and
 * close calls may be made from inside callbacks (a reply written from on_stream_data, a reset,
 * sl_qmux_close); tx_alloc/tx_commit must not call into the connection, and no callback may
 * free it (sl_qmux_conn_free comes after on_closed, from the owner's loop).
 */
struct sl_qmux_callbacks {
	/* Output: a buffer for one message of up to max bytes (NULL: no room now, the flush
	 * stops and resumes on the next one), then the message's length. Required. */
	uint8_t *(*tx_alloc)(void *arg, size_t max);
	void (*tx_commit)(void *arg, size_t len);
	/* The peer opened s (its first frame, or a higher stream of the same kind, arrived);
	 * attach a pointer with sl_qmux_stream_set_user. */
	void (*on_stream_open)(void *arg, struct sl_qmux_stream *s);
	/* Stream bytes in order; fin marks the end (len may be 0 then). */
	void (*on_stream_data)(void *arg, struct sl_qmux_stream *s, void *user, const uint8_t *data,
			       size_t len, bool fin);
	/* The peer reset its sending side (stop == false), or asked this side to stop sending
	 * (stop == true: the RESET_STREAM answer is queued already and queued data dropped). */
	void (*on_stream_reset)(void *arg, struct sl_qmux_stream *s, void *user, uint64_t code,
				bool stop);
	/* Bytes of the stream's writes handed to the transport (tx_commit). Optional. */
	void (*on_stream_acked)(void *arg, struct sl_qmux_stream *s, void *user, uint64_t bytes);
	/* Both directions are done; exactly once per stream; s is invalid afterwards. */
	void (*on_stream_close)(void *arg, struct sl_qmux_stream *s, void *user);
	/* Credit or the peer's stream limit grew (or the peer's parameters arrived): an open that
	 * failed with SL_EBUSY may succeed now. Optional. */
	void (*on_writable)(void *arg);
	/* qmux-00 and legacy have no QX_PING: the owner sends a WebSocket ping for the keep-alive.
	 * Optional (then those framings send none). */
	void (*send_ws_ping)(void *arg);
	/* The connection is over: every stream got on_stream_close first. The owner frees it
	 * (sl_qmux_conn_free) once the output is drained. */
	void (*on_closed)(void *arg, const struct sl_qmux_close_info *info);
};

/* Frame kinds, for the counters. */
enum sl_qmux_frame_kind {
	SL_QMUX_FK_PADDING,
	SL_QMUX_FK_STREAM,
	SL_QMUX_FK_RESET_STREAM,
	SL_QMUX_FK_RESET_STREAM_AT,
	SL_QMUX_FK_STOP_SENDING,
	SL_QMUX_FK_MAX_DATA,
	SL_QMUX_FK_MAX_STREAM_DATA,
	SL_QMUX_FK_MAX_STREAMS,
	SL_QMUX_FK_BLOCKED, /* DATA_BLOCKED, STREAM_DATA_BLOCKED, STREAMS_BLOCKED */
	SL_QMUX_FK_CONNECTION_CLOSE,
	SL_QMUX_FK_APPLICATION_CLOSE,
	SL_QMUX_FK_DATAGRAM,
	SL_QMUX_FK_TRANSPORT_PARAMETERS,
	SL_QMUX_FK_PING_REQUEST,
	SL_QMUX_FK_PING_RESPONSE,
	SL_QMUX_FK_COUNT
};

struct sl_qmux_stats {
	uint64_t rx_messages, rx_bytes, tx_messages, tx_bytes;
	uint64_t rx_frames[SL_QMUX_FK_COUNT];
	uint64_t tx_frames[SL_QMUX_FK_COUNT];
	uint64_t rx_stream_bytes, tx_stream_bytes;
	uint64_t streams_opened_local, streams_opened_remote, streams_closed;
	uint64_t streams_open;	 /* gauge */
	uint64_t conn_blocked;	 /* flushes that had data but no connection credit */
	uint64_t stream_blocked; /* streams skipped for want of their own credit */
	uint64_t open_refused;	 /* sl_qmux_stream_open at the peer's stream limit */
	uint64_t tx_full;	 /* flushes stopped because tx_alloc had no room */
	uint64_t pings_sent, pings_answered, pongs_received;
	uint64_t errors_local;	/* this side closed with a transport error */
	uint64_t errors_remote; /* the peer closed with a non-zero code */
	uint64_t idle_timeouts;
};
extern const struct sl_stat_field sl_qmux_stats_fields[];
extern const char *const sl_qmux_frame_kind_names[SL_QMUX_FK_COUNT];

/* Creates a connection. The transport parameters are queued at once (they are always the
 * first frame): call sl_qmux_flush right away. Errors: SL_EINVAL, SL_ENOMEM. */
int sl_qmux_conn_new(const struct sl_qmux_config *cfg, const struct sl_qmux_callbacks *cb,
		     void *arg, uint64_t now_ns, struct sl_qmux_conn **out);

/* Frees the connection; streams still open are released without callbacks. */
void sl_qmux_conn_free(struct sl_qmux_conn *c);

/*
 * Feeds one whole received message (a record). Returns 0; SL_ECLOSED when the connection is
 * closed already (or this message closed it: the peer's CONNECTION_CLOSE); SL_ECORRUPT when
 * the message broke the protocol: a CONNECTION_CLOSE is queued, flush it, then on_closed fires.
 */
int sl_qmux_recv(struct sl_qmux_conn *c, const uint8_t *msg, size_t len, uint64_t now_ns);

/* The peer showed life outside qmux (a WebSocket ping or pong): resets the idle timer. */
void sl_qmux_note_rx(struct sl_qmux_conn *c, uint64_t now_ns);

/*
 * Writes what is pending through tx_alloc/tx_commit: transport parameters, control frames,
 * then stream data in send order as the peer's credit allows. Returns the number of messages
 * written.
 */
int sl_qmux_flush(struct sl_qmux_conn *c, uint64_t now_ns);

/* True when a flush would write something (credit permitting). */
bool sl_qmux_want_flush(const struct sl_qmux_conn *c);

/* The next timer deadline (idle timeout, keep-alive), UINT64_MAX if none. */
uint64_t sl_qmux_expiry(const struct sl_qmux_conn *c);

/* Runs the timers due at now_ns: the idle timeout closes the connection silently (on_closed
 * with idle set), the keep-alive queues a QX_PING (or calls send_ws_ping). Flush afterwards. */
void sl_qmux_handle_expiry(struct sl_qmux_conn *c, uint64_t now_ns);

/* Closes with an application error (APPLICATION_CLOSE); on_closed follows the flush that
 * writes it. A second call does nothing. */
void sl_qmux_close(struct sl_qmux_conn *c, uint64_t app_error, const char *reason);

/* The transport (TCP, WebSocket) is gone: every stream closes and on_closed fires (remote,
 * code 0) unless it fired already. */
void sl_qmux_abort(struct sl_qmux_conn *c);

bool sl_qmux_closed(const struct sl_qmux_conn *c);
bool sl_qmux_peer_params_known(const struct sl_qmux_conn *c);
/* The effective idle timeout in ns (the smaller non-zero of both sides), 0 for none. */
uint64_t sl_qmux_idle_timeout_ns(const struct sl_qmux_conn *c);
void sl_qmux_stats(const struct sl_qmux_conn *c, struct sl_qmux_stats *out);

/* Counters of the stream pool. */
struct sl_pool_stats;
void sl_qmux_pool_stats(const struct sl_qmux_conn *c, struct sl_pool_stats *out);

/*
 * Opens a local stream (its first frame goes out with its first data). Errors: SL_EBUSY (the
 * peer's stream limit is reached, or its parameters have not arrived: on_writable says when
 * to retry), SL_ENOMEM (max_open_streams), SL_ECLOSED.
 */
int sl_qmux_stream_open(struct sl_qmux_conn *c, bool bidi, void *user, struct sl_qmux_stream **out);

/*
 * Queues data on a stream (the connection takes over data.buf's reference; len 0 is allowed
 * with fin). Bytes go out on the next flush as credit allows. Errors (the reference is
 * released): SL_ECLOSED (fin already queued, the stream was reset, it has no sending side, or
 * the connection is closed), SL_ENOMEM.
 */
int sl_qmux_stream_write(struct sl_qmux_conn *c, struct sl_qmux_stream *s, struct sl_slice data,
			 bool fin);

/* Resets the sending side (RESET_STREAM with the bytes sent as final size; queued data is
 * released) and stops the receiving side (STOP_SENDING), both with code. Returns 0. */
int sl_qmux_stream_reset(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t code);

/* Stops the receiving side only (STOP_SENDING with code; later bytes are dropped). Returns 0,
 * or SL_ECLOSED when there is no receiving side or it ended. */
int sl_qmux_stream_stop(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t code);

/* Where the stream stands when credit does not let everything out: lower orders first, equal
 * orders in the order they got data. Default 0. */
void sl_qmux_stream_set_order(struct sl_qmux_conn *c, struct sl_qmux_stream *s, uint64_t order);

void sl_qmux_stream_set_user(struct sl_qmux_stream *s, void *user);
void *sl_qmux_stream_user(const struct sl_qmux_stream *s);
uint64_t sl_qmux_stream_id(const struct sl_qmux_stream *s);
/* Bytes queued and not yet handed to the transport. */
uint64_t sl_qmux_stream_unacked(const struct sl_qmux_stream *s);

#endif
