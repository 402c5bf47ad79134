/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_QUIC_ENDPOINT_H
#define SL_QUIC_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/stats.h"

/*
 * A sans-IO QUIC endpoint on ngtcp2 (0.12) and GnuTLS: datagrams in with their addresses and
 * now_ns, datagrams out through a transmit callback, the next timer deadline out. It owns the
 * connections that land on one worker; the same endpoint runs over the kernel-socket driver, the
 * DPDK driver, and in memory between two endpoints in tests.
 *
 * Connection IDs that this endpoint issues carry the worker id in their first two bytes
 * (sl_quic_cid_worker), so a driver can hand a datagram that arrived on the wrong core to the
 * owner through a ring.
 *
 * Stream data is sent by reference: sl_quic_stream_write takes over a slice of a refcounted
 * buffer and keeps it until the peer acknowledged those bytes. Delivering one frame to N
 * subscribers therefore encrypts N times and copies nothing before encryption.
 *
 * Streams are handles (struct sl_quic_stream), never ids to look up: the application gets one
 * from sl_quic_stream_open or on_stream_open and attaches its own pointer to it (the user
 * argument of sl_quic_stream_open, on_stream_open's return value, sl_quic_stream_set_user);
 * every stream callback hands back both. The lifetime rule: a handle is valid until
 * on_stream_close for it returns, which happens exactly once per stream (when both directions
 * are done, or when the connection ends, before on_closed); the application drops the handle
 * there. An application that forgets a stream before that detaches its pointer with
 * sl_quic_stream_set_user(s, NULL), so that the stream's later callbacks carry NULL instead of
 * a pointer to freed memory. sl_quic_endpoint_free runs no callbacks: every handle dies with it.
 */
struct sl_quic_endpoint;
struct sl_quic_conn;
struct sl_quic_stream;

#define SL_QUIC_CID_LEN	  16
#define SL_QUIC_MAX_ALPN  64 /* the whole comma-separated list, NUL included */
#define SL_QUIC_MAX_ALPNS 4

struct sl_quic_path {
	struct sockaddr_storage local;
	socklen_t local_len;
	struct sockaddr_storage remote;
	socklen_t remote_len;
	/* The driver's own state of the path, opaque to QUIC: kept with the connection's path
	 * and handed back on transmit. The driver that filled it on receive is the only one that
	 * reads it (the DPDK driver packs the frame's source MAC and device into it, so a reply
	 * needs no neighbour lookup and a peer behind a router is answered through that router;
	 * the socket driver leaves it 0). 0 means none: the endpoint takes the cookie of every
	 * decrypted datagram from the connection's remote address, except a 0 one. */
	uint64_t cookie;
};

struct sl_quic_config {
	bool server;
	/* Application protocols, comma-separated, at most SL_QUIC_MAX_ALPNS: a client offers them
	 * all, a server accepts the first of its list that the client offers (server order wins),
	 * and a handshake with none in common fails. No default: the caller names its
	 * application (moq-lite's SL_MOQ_ALPN, the log protocol's SL_LP_ALPN; this layer knows
	 * neither), and sl_quic_endpoint_new refuses an empty list. */
	char alpn[SL_QUIC_MAX_ALPN];
	/* Server certificate and key (PEM). Both NULL: a self-signed ECDSA P-256 certificate valid
	 * for cert_days (<= 14, so browsers can pin its hash) is generated at start. */
	const char *cert_file;
	const char *key_file;
	/* Certificate and key as PEM text (NUL-terminated), used when both files are NULL: a
	 * daemon generates one self-signed pair (sl_quic_self_signed) and gives it to every
	 * worker and its TCP listener, so that they all present one certificate. NULL: each
	 * endpoint generates its own. Read only by sl_quic_endpoint_new. */
	const char *cert_pem;
	const char *key_pem;
	uint32_t cert_days;
	uint16_t worker_id;
	uint64_t idle_timeout_ns; /* default 30 s */
	uint64_t max_data;	  /* connection flow-control window, default 16 MiB */
	uint64_t max_stream_data; /* per stream, default 1 MiB */
	/* Streams a peer may have open at once (a finished one gives its credit back). */
	uint64_t max_streams_bidi; /* default 100 */
	uint64_t max_streams_uni;  /* default 1000 (a moq-lite group is one uni stream) */
	uint32_t max_conns;	   /* default 10000 */
	size_t max_udp_payload;	   /* default 1452 */
	/* The max_datagram_frame_size transport parameter (RFC 9221): 0 (the default) does not
	 * advertise datagrams. WebTransport needs it advertised (HTTP/3 datagrams, RFC 9297), so a
	 * server offering "h3" sets it; datagrams that arrive are dropped (no receiver here). */
	uint64_t max_datagram_frame_size;
};

/* Fills cfg with the defaults above (server = false, worker 0, alpn empty). */
void sl_quic_config_default(struct sl_quic_config *cfg);

/*
 * What the endpoint reports. Every callback runs inside an endpoint call on the owning core.
 * tx_alloc/tx_commit move each outgoing datagram: the endpoint asks for a buffer of up to max
 * bytes (the driver may hand out mbuf memory), encrypts into it, and commits len bytes with the
 * path to send on; tx_alloc may return NULL (no buffer: the endpoint stops writing for now).
 */
struct sl_quic_callbacks {
	uint8_t *(*tx_alloc)(void *arg, size_t max, void **token);
	void (*tx_commit)(void *arg, void *token, const struct sl_quic_path *path, size_t len);
	/* A connection finished its handshake (server: accepted; client: connected). */
	void (*on_connected)(void *arg, struct sl_quic_conn *c);
	/* The peer opened stream s (before its first data; a stream the peer reset before any of
	 * its data arrived is never reported). Returns the application's pointer for it (NULL:
	 * none), which every later callback of s hands back as user. Optional. */
	void *(*on_stream_open)(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *s);
	/* Stream bytes in order; fin marks the end. Flow-control credit is returned at once. */
	void (*on_stream_data)(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *s,
			       void *user, const uint8_t *data, size_t len, bool fin);
	/* The peer reset the stream (RESET_STREAM): no more of its bytes come. A peer's
	 * STOP_SENDING is not reported (ngtcp2 reports none): ngtcp2 answers it with
	 * RESET_STREAM itself, what is queued on the stream is dropped, and the stream closes. */
	void (*on_stream_reset)(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *s,
				void *user, uint64_t app_error);
	/* The peer acknowledged `bytes` more of what was written on s, in stream order (their
	 * buffers are released): what a sender that budgets its unacknowledged bytes counts down.
	 * Optional. */
	void (*on_stream_acked)(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *s,
				void *user, uint64_t bytes);
	/* The peer raised its limit on streams this side may open: opens that failed with
	 * SL_EBUSY may succeed now. Optional. */
	void (*on_writable)(void *arg, struct sl_quic_conn *c);
	/* The end of s: both directions are done (a peer's unidirectional stream: its fin or reset
	 * arrived, or this side reset it), or the connection ends with s still open (then for
	 * every such stream, before on_closed). Exactly once per stream, from the endpoint's
	 * receive, flush or timer calls (never inside sl_quic_stream_*); s is freed when this
	 * returns, so the application forgets the handle here. Optional. */
	void (*on_stream_close)(void *arg, struct sl_quic_conn *c, struct sl_quic_stream *s,
				void *user);
	/* The connection is gone (closed by either side, idle timeout, or a fatal error); c is
	 * freed right after this returns. error is 0 for a clean close. */
	void (*on_closed)(void *arg, struct sl_quic_conn *c, uint64_t error);
};

/* Counters per endpoint (per worker). */
struct sl_quic_stats {
	uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes;
	uint64_t rx_dropped;	   /* garbage, truncated, or for no connection */
	uint64_t stateless_resets; /* sent for short-header packets of unknown connections */
	uint64_t conns_accepted, conns_closed, conns_refused;
	uint64_t conns; /* open now */
	uint64_t stream_bytes_queued, stream_bytes_acked;
	uint64_t migrations;	/* connections that moved to a new peer address (NAT rebinding) */
	uint64_t conns_flushed; /* connection writes by flushes: only those with work count */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_quic_stats_fields[];

/* Creates an endpoint. Returns 0, or SL_EINVAL (bad config; an empty alpn is logged), SL_EIO
 * (certificate or key could not be loaded or generated; the log says why), SL_ENOMEM. */
int sl_quic_endpoint_new(const struct sl_quic_config *cfg, const struct sl_quic_callbacks *cb,
			 void *arg, uint64_t now_ns, struct sl_quic_endpoint **out);

/* Closes every connection (without notifying peers) and frees the endpoint. */
void sl_quic_endpoint_free(struct sl_quic_endpoint *ep);

/*
 * An endpoint, its connections and streams belong to one core (core/owner.h; asserted in debug
 * builds): the core that runs it calls sl_quic_endpoint_adopt before its first call when another
 * thread created or used it, and sl_quic_endpoint_disown when it stops, so that another thread
 * may free it.
 */
void sl_quic_endpoint_adopt(struct sl_quic_endpoint *ep);
void sl_quic_endpoint_disown(struct sl_quic_endpoint *ep);

/* Copies the counters of the pool the endpoint's streams come from. */
struct sl_pool_stats;
void sl_quic_endpoint_pool_stats(const struct sl_quic_endpoint *ep, struct sl_pool_stats *out);

/*
 * Feeds one received datagram. Unknown or malformed packets are dropped and counted; a
 * short-header packet for an unknown connection is answered with a stateless reset.
 * Returns 0 (also when the datagram was dropped), or SL_ENOMEM.
 */
int sl_quic_endpoint_recv(struct sl_quic_endpoint *ep, const struct sl_quic_path *path,
			  const uint8_t *data, size_t len, uint64_t now_ns);

/* Writes every datagram the connections have ready (handshake, stream data, acks, closes)
 * through tx_alloc/tx_commit. Only connections that got work since their last flush (a
 * datagram, a write, a reset, a timer, a close) are visited: a flush costs O(work), not
 * O(connections). Returns the number of datagrams written. */
int sl_quic_endpoint_flush(struct sl_quic_endpoint *ep, uint64_t now_ns);

/* The earliest timer deadline of any connection (UINT64_MAX if none), from a heap: O(1). 0 when
 * a connection waits to be flushed (call flush first to learn the real deadline). */
uint64_t sl_quic_endpoint_expiry(const struct sl_quic_endpoint *ep);

/* Runs expired timers (loss detection, idle timeout, ...); only the due ones are visited. Call
 * flush afterwards. */
void sl_quic_endpoint_handle_expiry(struct sl_quic_endpoint *ep, uint64_t now_ns);

void sl_quic_endpoint_stats(const struct sl_quic_endpoint *ep, struct sl_quic_stats *out);

/* Changes the idle timeout and the connection limit for connections accepted from now on
 * (open connections keep their negotiated idle timeout). Returns 0 or SL_EINVAL (0 values). */
int sl_quic_endpoint_set_limits(struct sl_quic_endpoint *ep, uint64_t idle_timeout_ns,
				uint32_t max_conns);

/*
 * Generates a self-signed ECDSA P-256 certificate for "localhost", valid for days (1..14, so
 * browsers can pin its hash), and its key, as malloc'd PEM text (free both). Returns 0,
 * SL_EINVAL (days), SL_EIO (GnuTLS failed; logged), SL_ENOMEM.
 */
int sl_quic_self_signed(uint32_t days, char **cert_pem, char **key_pem);

/* The SHA-256 of the DER of the first certificate in cred (a gnutls_certificate_credentials_t).
 * Returns 0 or SL_EIO (none). */
int sl_quic_cert_hash(void *cred, uint8_t out[32]);

/*
 * Replaces a server endpoint's certificate and key (PEM text) for connections made from now on;
 * connections already up keep theirs (their TLS sessions hold the old credentials, which live
 * until the endpoint is freed). What a long-running daemon does before its self-signed
 * certificate expires. Returns 0, SL_EINVAL (not a server endpoint), SL_EIO (the PEM does not
 * load: logged; nothing changes), SL_ENOMEM.
 */
int sl_quic_endpoint_set_cert(struct sl_quic_endpoint *ep, const char *cert_pem,
			      const char *key_pem);

/* Hex SHA-256 of the server certificate (DER), for WebTransport pinning; 65 bytes with NUL. */
int sl_quic_endpoint_cert_sha256(const struct sl_quic_endpoint *ep, char out[65]);

/* The worker id a connection ID issued by any shardline endpoint names, or -1 if the CID is
 * not one of ours (wrong length). */
int sl_quic_cid_worker(const uint8_t *cid, size_t len);

/*
 * Client: starts a connection to path->remote (server name "localhost" unless sni is set).
 * on_connected fires when the handshake completes. Errors: SL_EINVAL (server endpoint),
 * SL_ENOMEM, SL_EIO (TLS setup).
 */
int sl_quic_connect(struct sl_quic_endpoint *ep, const struct sl_quic_path *path, const char *sni,
		    uint64_t now_ns, struct sl_quic_conn **out);

/* Counters and congestion state of one connection, for per-connection reporting. */
struct sl_quic_conn_stats {
	struct sockaddr_storage remote;
	socklen_t remote_len;
	bool established;
	uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes;
	uint64_t smoothed_rtt_ns, min_rtt_ns;
	uint64_t cwnd, bytes_in_flight;
	uint64_t streams_open;	       /* streams not closed yet (on_stream_close still due) */
	uint64_t stream_bytes_unacked; /* queued on streams and not yet acknowledged */
};

void sl_quic_conn_stats(const struct sl_quic_conn *c, struct sl_quic_conn_stats *out);

/* Application pointer carried by a connection. */
void sl_quic_conn_set_user(struct sl_quic_conn *c, void *user);
void *sl_quic_conn_user(const struct sl_quic_conn *c);
bool sl_quic_conn_established(const struct sl_quic_conn *c);
/* The protocol the handshake chose, copied into buf (size bytes, NUL-terminated, cut to fit),
 * or NULL before the handshake chose one. Known from on_connected on. */
const char *sl_quic_conn_alpn(const struct sl_quic_conn *c, char *buf, size_t size);

/* Opens a local stream carrying user (see the lifetime rule above) and stores its handle in
 * *out. Errors: SL_EBUSY (the peer's stream limit is reached: retry after on_writable),
 * SL_ECLOSED, SL_ENOMEM. */
int sl_quic_stream_open(struct sl_quic_conn *c, bool bidi, void *user, struct sl_quic_stream **out);

/* The stream's QUIC id (bit 0: server-initiated, bit 1: unidirectional). */
int64_t sl_quic_stream_id(const struct sl_quic_stream *s);

/* The application's pointer carried by s, and changing it (NULL detaches the application). */
void *sl_quic_stream_user(const struct sl_quic_stream *s);
void sl_quic_stream_set_user(struct sl_quic_stream *s, void *user);

/*
 * Queues data on a stream of c (the connection takes over data.buf's reference; len 0 is
 * allowed with fin). Bytes go out on the next flush as flow and congestion control allow.
 * Errors (the reference is released): SL_ECLOSED (fin already queued, the stream was reset, or
 * the connection is closing), SL_ENOMEM.
 */
int sl_quic_stream_write(struct sl_quic_conn *c, struct sl_quic_stream *s, struct sl_slice data,
			 bool fin);

/*
 * Where the stream stands when the connection cannot send everything queued (congestion or
 * flow control, or the per-flush burst): streams with a lower order are written first, equal
 * orders in the order they got data. Default 0 (first).
 */
void sl_quic_stream_set_order(struct sl_quic_conn *c, struct sl_quic_stream *s, uint64_t order);

/* Bytes queued on the stream and not yet acknowledged. For reporting and tests: a sender that
 * budgets them counts on_stream_acked instead of asking. */
uint64_t sl_quic_stream_unacked(const struct sl_quic_stream *s);

/* Resets the sending side and stops the receiving side with app_error; queued data is
 * released once the reset is done. The handle stays valid until on_stream_close. */
void sl_quic_stream_reset(struct sl_quic_conn *c, struct sl_quic_stream *s, uint64_t app_error);

/* Closes the connection with an application error (0 = no error); the CONNECTION_CLOSE goes
 * out on the next flush and on_closed follows. */
void sl_quic_conn_close(struct sl_quic_conn *c, uint64_t app_error, const char *reason);

#endif
