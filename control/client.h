/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CLIENT_H
#define SL_CONTROL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "moq/session.h"
#include "quic/endpoint.h"
#include "shard/pktio.h"

/* The longest sleep of an idle loop iteration over a poll-mode port (see sl_client_run). */
#define SL_CLIENT_POLL_SLEEP_NS 50000u

/*
 * The QUIC client runtime of the tools (shardctl pub/sub/produce/consume, shardline-bench): one
 * single-threaded loop over packet ports (kernel UDP sockets, or any pktio driver the caller
 * opened), any number of connections. A connection carries either a moq-lite client session
 * (sl_client_connect) or an application protocol the caller drives through struct
 * sl_client_app_ops (sl_client_connect_app, e.g. the shardline log protocol). moq-lite
 * connections may also run over a WebSocket (ws://, wss:// URLs: TCP sockets in one epoll set
 * the same loop waits on; see sl_client_connect_moq and client_ws.h). QUIC connections are
 * spread over several local ports so that a relay with SO_REUSEPORT workers sees them on
 * different workers, as real clients would be; on one port they share the local address and
 * QUIC connection IDs tell them apart.
 *
 * A client offers exactly the protocol a connection speaks, never a list: a server that
 * accepts several would otherwise be free to pick one the connection cannot talk. Because the
 * endpoint's ALPN is per endpoint, every port holds one endpoint per protocol (created when a
 * connection first asks for it), each issuing connection IDs that carry its slot number in the
 * worker field; a received datagram goes to the endpoint its destination connection ID names.
 */
struct sl_client;
struct sl_client_conn;
struct sl_client_ws;
struct sl_wt_conn;

/* Distinct application protocols one client can speak (moq-lite-04 is always one of them). */
#define SL_CLIENT_MAX_ALPNS 4

/*
 * What a connection that carries no moq-lite session reports to its application. Every
 * callback runs inside sl_client_run on the client's thread; any of them may be NULL.
 *
 * Streams are the endpoint's handles (quic/endpoint.h): the application names its own pointer
 * for each stream (sl_client_stream_open's user, on_stream_open's return value), and the
 * stream's events hand that pointer back. Events of a stream whose pointer is NULL (never set,
 * or detached with sl_client_stream_release) are not reported. The handle is valid until
 * on_stream_close.
 */
struct sl_client_app_ops {
	/* The handshake completed: streams may be opened from now on. */
	void (*on_connected)(void *app, struct sl_client_conn *c);
	/* The server opened stream s (before its first data). Returns the application's pointer
	 * for it (NULL: its events are ignored). */
	void *(*on_stream_open)(void *app, struct sl_quic_stream *s);
	/* Stream bytes in order, any split; fin marks the end of the server's side. */
	void (*on_stream_data)(void *app, void *user, const uint8_t *d, size_t n, bool fin);
	/* The server reset the stream, or asked us to stop sending on it, with code. */
	void (*on_stream_reset)(void *app, void *user, uint64_t code);
	/* The stream is over (both sides done, or the connection ends): its handle dies when
	 * this returns. */
	void (*on_stream_close)(void *app, void *user);
	/* The connection is gone (error 0 for a clean close). No callback follows. */
	void (*on_closed)(void *app, uint64_t error);
	/* Once per loop iteration while the connection is open, before datagrams are written:
	 * the place to queue stream data that was prepared since the last iteration. */
	void (*poll)(void *app, uint64_t now_ns);
};

struct sl_client_conn {
	struct sl_client *cl;
	struct sl_quic_conn *qc;  /* NULL once closed */
	struct sl_moq_session *s; /* the moq-lite session; NULL on an application connection */
	/* An application connection's callbacks and their argument. Setting app_ops to NULL stops
	 * every further callback (the application is going away before the client). */
	const struct sl_client_app_ops *app_ops;
	void *app;
	bool connected;
	bool closed;
	uint64_t close_error;
	void *user;
	/* What ended the connection, when more is known than its error code: a WebTransport
	 * refusal ("the server refused the WebTransport session: 401"); "" otherwise. */
	char why[160];
	/* private */
	struct sl_client_ws *ws; /* the WebSocket transport (ws://, wss://); NULL on QUIC */
	struct sl_wt_conn *wt;	 /* the WebTransport layer (https://); NULL otherwise */
	struct sl_client_conn *next;
};

/* Creates a client with nports local UDP ports (1 .. 64) for talking to url's host: each port is
 * bound to an ephemeral port on the local address the kernel routes to that host, so every
 * datagram's path is exact. Returns 0, SL_EINVAL (bad URL or count), SL_EIO, SL_ENOMEM. */
int sl_client_new(const char *url, unsigned nports, struct sl_client **out);

/*
 * Creates a client over nports (1 .. 64) ports the caller opened with any pktio driver (a DPDK
 * port, for a client with the kernel out of the loop). locals[i] is the address (IP and port)
 * ports[i] receives on; it becomes the local side of every connection made on that port, so it
 * must be the address the server's answers reach. The ports pass to the client in every case:
 * sl_client_free closes them, and they are closed here when creation fails. A port whose
 * sl_pktio_wait_fd is -1 (poll mode) is polled by sl_client_run, which then never blocks on a
 * descriptor. Returns 0, SL_EINVAL (count out of range, a NULL port, a local address that is
 * not AF_INET/AF_INET6), SL_ENOMEM.
 */
int sl_client_new_ports(struct sl_pktio *const *ports, const struct sockaddr_storage *locals,
			unsigned nports, struct sl_client **out);

/* Closes every connection without a word to the peer, the ports and the client. Application
 * connections get no on_closed from here: their applications are freed by their owners. NULL
 * is ignored. */
void sl_client_free(struct sl_client *cl);

/*
 * Parses "moq://HOST:PORT" or "shardline://HOST:PORT" (HOST: an IPv4 address, [IPv6] or
 * localhost; the scheme may be left out; a path after the port is ignored) into an address.
 * The scheme does not choose the protocol: the connect call does. "ws://" and "wss://" URLs
 * parse the same way (their connections are WebSocket ones, see sl_client_connect_moq).
 * Returns 0 or SL_EINVAL.
 */
int sl_client_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len);

/* Starts a connection to url (ALPN moq-lite-04) with a client session on it. Returns 0 and
 * the connection (owned by the client), SL_EINVAL (bad URL), SL_EIO, SL_ENOMEM. */
int sl_client_connect(struct sl_client *cl, const char *url, struct sl_client_conn **out);

/*
 * As sl_client_connect, in moq-lite version (SL_MOQ_LITE_04: ALPN moq-lite-04; SL_MOQ_LITE_05:
 * moq-lite-05; the connection offers only that one and its session speaks it). Also
 * SL_EINVAL for another version, SL_ENOSPC when the client has no protocol slot left.
 *
 * A "ws://HOST:PORT/path" or "wss://HOST:PORT/path" URL makes a WebSocket connection instead:
 * TCP (with TLS for wss, the relay's certificate not verified, as on QUIC), the upgrade
 * offering exactly qmux-01.moq-lite-0N, then moq-lite over qmux (the relay's listen_tcp
 * listener). It behaves as a QUIC connection does for the caller: connected once the upgrade
 * is answered, closed (with the qmux close code) when the session is over, the same session
 * calls. One client may mix both kinds, and any number of them: the sockets share one epoll
 * descriptor in the idle wait.
 */
int sl_client_connect_moq(struct sl_client *cl, const char *url, enum sl_moq_version version,
			  struct sl_client_conn **out);

/*
 * Starts a connection to url that offers exactly the protocol alpn and carries no moq-lite
 * session: its events go to ops with app (see struct sl_client_app_ops; nothing is called
 * before this returns). The connection is owned by the client; conn->s is NULL. Returns 0 and
 * the connection, SL_EINVAL (bad URL; ops NULL; alpn NULL, empty, longer than
 * SL_QUIC_MAX_ALPN - 1 or containing a comma), SL_ENOSPC (the client already speaks
 * SL_CLIENT_MAX_ALPNS other protocols), SL_ENOTSUP (a ws:// or wss:// URL: only moq-lite
 * runs over the WebSocket), SL_EIO, SL_ENOMEM.
 */
int sl_client_connect_app(struct sl_client *cl, const char *url, const char *alpn,
			  const struct sl_client_app_ops *ops, void *app,
			  struct sl_client_conn **out);

/*
 * Stream access for an application connection (the moq-lite session has its own). They fail
 * with SL_ECLOSED once the connection is closed (c->qc NULL), and otherwise as the endpoint's
 * functions of the same name do (quic/endpoint.h): open SL_EBUSY (the server's stream limit:
 * retry later), SL_ENOMEM; write SL_ECLOSED, SL_ENOMEM, and it takes over data.buf's
 * reference in every case (data.buf may be NULL when data.len is 0). A handle must not be used
 * after its on_stream_close, nor after the connection's on_closed.
 */
int sl_client_stream_open(struct sl_client_conn *c, bool bidi, void *user,
			  struct sl_quic_stream **out);
int sl_client_stream_write(struct sl_client_conn *c, struct sl_quic_stream *s, struct sl_slice data,
			   bool fin);
int sl_client_stream_reset(struct sl_client_conn *c, struct sl_quic_stream *s, uint64_t code);
/* The application forgets stream s: its later events are not reported. */
void sl_client_stream_release(struct sl_client_conn *c, struct sl_quic_stream *s);

/* Closes the connection with an application error code (0 = clean); on_closed follows from
 * the loop. A closed connection is left alone. */
void sl_client_conn_close(struct sl_client_conn *c, uint64_t code, const char *reason);

/*
 * An extra descriptor (e.g. 0 for a tool reading standard input) whose readability also ends
 * the idle wait of sl_client_run, so the caller reacts at once without spinning; -1 (the
 * default) removes it. The client never reads it.
 */
void sl_client_set_wait_fd(struct sl_client *cl, int fd);

/* One loop iteration: receive (datagrams, and the WebSocket sockets epoll reports ready),
 * sessions (and application polls), timers, transmit; if nothing happened, waits up to
 * max_wait_ns for a datagram, a WebSocket socket, a timer or the wait fd: in poll on the
 * descriptors, or, when a port is in poll mode (no descriptor), in a sleep of at most
 * SL_CLIENT_POLL_SLEEP_NS so that a spinning client leaves the CPU to others on a small
 * machine. Returns the number of datagrams received plus the WebSocket socket events. */
int sl_client_run(struct sl_client *cl, uint64_t max_wait_ns);

/* Runs the loop until every connection is connected or closed, or timeout_ns passes. Returns
 * 0 when all connected, SL_ETIMEDOUT, or SL_ECLOSED when one closed first. */
int sl_client_wait_connected(struct sl_client *cl, uint64_t timeout_ns);

/* Closes every connection cleanly and runs the loop until the closes went out (bounded; a
 * WebSocket connection's until its close handshake is done). */
void sl_client_close_all(struct sl_client *cl, uint64_t timeout_ns);

#endif
