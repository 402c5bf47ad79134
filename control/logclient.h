/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_LOGCLIENT_H
#define SL_CONTROL_LOGCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "log/proto.h"

/*
 * The client side of the shardline log protocol (log/proto.h, docs/log-protocol.md) over one
 * connection, sans-IO: stream bytes come in through sl_logclient_stream_data and friends, stream
 * bytes go out through a transport (struct sl_logclient_transport), and nothing here reads a
 * clock or a socket. shardctl produce/consume run it over the QUIC client runtime
 * (sl_logclient_connect); the unit tests run it over an in-memory transport.
 *
 * Requests. PRODUCE and HWM requests travel pipelined on one request stream, opened when the
 * first request is flushed. Request ids increase; every request takes one of max_in_flight
 * preallocated slots until its answer (PRODUCE_OK, HWM_OK or ERROR, in any order) arrives, and
 * its completion is delivered once, with the caller's cookie, through on_produce or on_hwm. A
 * request whose stream fails (the server resets or ends it, sends something undecodable, or the
 * connection closes) completes with a local code (enum sl_logclient_code); the next request
 * opens a fresh request stream.
 *
 * Subscriptions. Each has its own stream carrying SUBSCRIBE, then ASSIGNs; STARTED, RECORDS,
 * REMOVED and ERROR come back through the subscription's callbacks, and on_end reports that the
 * stream is over (whoever ended it, except the caller). The handle stays valid until
 * sl_logclient_unsubscribe, which resets the stream if it is still open.
 *
 * Outgoing messages are encoded straight into a per-stream chunk of a refcounted buffer and
 * handed to the transport by reference, many messages per chunk; incoming messages are parsed
 * in place when a whole message is in one piece of stream data and gathered into a per-stream
 * buffer (grown, then reused) when split. A server message over max_message_bytes, of a type
 * the stream does not carry, undecodable, or answering no outstanding request is a protocol
 * error: the stream is reset with SL_LP_RESET_MALFORMED and its requests or subscription fail
 * with SL_LOGCLIENT_ERR_PROTOCOL. Nothing the server sends can crash the client.
 *
 * Callbacks may call sl_logclient_produce, _hwm, _subscribe, _assign and _unsubscribe (also on
 * the subscription being reported), never sl_logclient_free. Borrowed bytes in a callback's
 * arguments are valid only during the callback.
 */
struct sl_logclient;
struct sl_logclient_sub;
struct sl_client;
struct sl_client_conn;

/* Completion codes a request or subscription gets when it did not come from an ERROR message.
 * They lie above every protocol code (enum sl_lp_code), so one field carries both. */
enum sl_logclient_code {
	SL_LOGCLIENT_OK = 0,
	/* The server sent something this client cannot accept on the stream; the stream was
	 * reset. reason says what and which field. */
	SL_LOGCLIENT_ERR_PROTOCOL = 0x10001,
	/* The server reset the stream (detail: its error code), asked us to stop sending on it,
	 * or finished it with requests unanswered (detail 0). */
	SL_LOGCLIENT_ERR_RESET = 0x10002,
	/* The connection closed (detail: its error code). */
	SL_LOGCLIENT_ERR_CLOSED = 0x10003,
};

/* Static name of a completion code: the protocol's ("overloaded") or a local one
 * ("protocol_error", "stream_reset", "connection_closed"); "ok" for 0; "?" if unknown. */
const char *sl_logclient_code_name(uint64_t code);

/* The session's side of one stream: the transport's user pointer for it (see below). */
struct sl_logclient_stream;

/*
 * Where the session's stream operations go. t is the transport's own argument. Streams are
 * handles both ways (as in moq/session.h): the transport returns its handle from open_bidi and
 * keeps the session's stream (user) with it, handing it to every event of the stream; the
 * session calls release when it forgets a stream, and the transport calls
 * sl_logclient_stream_closed when its stream ends first.
 */
struct sl_logclient_transport {
	/* Opens a bidirectional stream whose events carry user. Returns 0 with *handle set,
	 * SL_EBUSY (the peer's stream limit: the session tries again on a later poll) or another
	 * negative code (the connection is gone). */
	int (*open_bidi)(void *t, void *user, void **handle);
	/* Queues data (and fin) on a stream; takes over data.buf's reference also on error
	 * (data.buf is NULL when data.len is 0). Returns 0 or a negative code. */
	int (*write)(void *t, void *handle, struct sl_slice data, bool fin);
	/* Resets the sending side and stops the receiving side of a stream with code. */
	int (*reset)(void *t, void *handle, uint64_t code);
	/* The session forgets the stream: its later events must not carry the session's
	 * pointer. Never called for a stream the transport closed, nor from sl_logclient_free. */
	void (*release)(void *t, void *handle);
};

struct sl_logclient_config {
	/* PRODUCE and HWM requests outstanding at once (slots allocated up front). Default
	 * 1024; 1 .. 1 << 20. */
	uint32_t max_in_flight;
	/* Largest server message body accepted. Default 16 MiB + 64 KiB, a RECORDS message
	 * holding one record of the default max_record_bytes with room to spare. */
	uint64_t max_message_bytes;
	/* Size of the chunks outgoing messages are encoded into. Default 64 KiB; 1 KiB .. 64 MiB.
	 * A larger message gets a chunk of its own size. */
	uint32_t out_chunk_bytes;
	/* Decoder limits for server messages (sl_lp_limits_default by default). */
	struct sl_lp_limits limits;
};

/* Fills cfg with the defaults above. */
void sl_logclient_config_default(struct sl_logclient_config *cfg);

/* The completion of one request. */
struct sl_logclient_result {
	uint64_t request_id;
	/* 0 on success; else the ERROR's code (enum sl_lp_code, or an unknown one the server
	 * sent) or a local code (enum sl_logclient_code). */
	uint64_t code;
	/* PRODUCE_OK: the partition written. ERROR: the partition concerned, or
	 * SL_LP_NO_PARTITION. */
	uint32_t partition;
	uint64_t first_offset; /* PRODUCE_OK: offset of the first record */
	/* The answer was PRODUCE_DUP: an idempotent request's records were stored before (by
	 * the same request, sent earlier); first_offset is theirs, nothing was appended. */
	bool duplicate;
	uint32_t count;		   /* records of the PRODUCE request (0 for HWM) */
	uint64_t detail;	   /* ERROR's detail; local codes: the reset or close code */
	struct sl_lp_bytes reason; /* ERROR's reason, or a local explanation; may be empty */
	uint64_t sent_ns;	   /* now_ns given when the request was made */
	/* HWM_OK: the marks of partitions 0 .. nmarks - 1. */
	const struct sl_lp_marks *marks;
	uint32_t nmarks;
};

struct sl_logclient_callbacks {
	/* A PRODUCE request completed; cookie is the one given to sl_logclient_produce. */
	void (*on_produce)(void *user, void *cookie, const struct sl_logclient_result *r);
	/* An HWM request completed. */
	void (*on_hwm)(void *user, void *cookie, const struct sl_logclient_result *r);
};

/* A subscription's events; user is the pointer given to sl_logclient_subscribe. Any may be
 * NULL. */
struct sl_logclient_sub_callbacks {
	/* partition is assigned; its first delivered record will have offset. */
	void (*on_started)(void *user, uint32_t partition, uint64_t offset);
	/* Consecutive records of one partition: iterate m->records with sl_lp_records_init and
	 * sl_lp_records_next (the bytes are borrowed). */
	void (*on_records)(void *user, const struct sl_lp_records *m);
	/* No record of partition follows (after an ASSIGN removal, or the server's decision). */
	void (*on_removed)(void *user, uint32_t partition);
	/* An ERROR from the server (e->code a protocol code), or a local protocol error just
	 * before on_end (e->code SL_LOGCLIENT_ERR_PROTOCOL). */
	void (*on_error)(void *user, const struct sl_lp_error *e);
	/* The subscription's stream is over: code 0 when the server finished it cleanly, else
	 * SL_LOGCLIENT_ERR_* with detail as in struct sl_logclient_result. Nothing follows. */
	void (*on_end)(void *user, uint64_t code, uint64_t detail);
	/* A named subscription's COMMIT of offset in partition is durable (COMMIT_OK). */
	void (*on_commit_ok)(void *user, uint32_t partition, uint64_t offset);
};

/* Counters of one session. */
#define SL_LOGCLIENT_NCODES 11 /* errors_by_code: [1 .. 10] enum sl_lp_code, [0] any other */
struct sl_logclient_stats {
	uint64_t produce_requests; /* PRODUCE messages queued */
	uint64_t records_sent;	   /* records in them */
	uint64_t hwm_requests;	   /* HWM messages queued */
	uint64_t responses;	   /* PRODUCE_OK, HWM_OK and ERROR answering a request */
	uint64_t produce_ok, hwm_ok;
	uint64_t produce_dup; /* of produce_ok: PRODUCE_DUP answers */
	uint64_t errors;      /* ERROR messages on any stream */
	uint64_t errors_by_code[SL_LOGCLIENT_NCODES];
	uint64_t local_failures;  /* requests completed with a local code */
	uint64_t protocol_errors; /* streams reset because of what the server sent */
	uint64_t subscriptions;	  /* SUBSCRIBE messages queued */
	uint64_t assigns;	  /* ASSIGN messages queued */
	uint64_t records_received, records_messages;
	uint64_t bytes_out; /* stream bytes handed to the transport */
	uint64_t bytes_in;  /* stream bytes received */
};

/*
 * Creates a session writing through tr with t. cfg may be NULL (defaults); cb and its
 * callbacks may be NULL (completions are then dropped). Returns 0, SL_EINVAL (tr or one of its
 * functions NULL, a config value out of range), SL_ENOMEM.
 */
int sl_logclient_new(const struct sl_logclient_config *cfg, const struct sl_logclient_transport *tr,
		     void *t, const struct sl_logclient_callbacks *cb, void *user,
		     struct sl_logclient **out);

/* Frees the session and every subscription handle without calling anything back or writing
 * to the transport; a session made by sl_logclient_connect is detached from its connection
 * (which is closed if still open), so free it before the client. NULL is ignored. */
void sl_logclient_free(struct sl_logclient *lc);

/* ---- events from the transport ---- */

/* The connection is established: streams may be opened from the next flush on. Requests and
 * subscriptions made before wait for it. */
void sl_logclient_connected(struct sl_logclient *lc);

/* Bytes of stream st from the server, in order, any split; fin ends the server's side. st NULL
 * (a stream the session released, or one the server opened) is ignored, as in the calls below;
 * so is a stream whose request stream or subscription is over. */
void sl_logclient_stream_data(struct sl_logclient *lc, struct sl_logclient_stream *st,
			      const uint8_t *d, size_t n, bool fin);

/* The server reset stream st or asked us to stop sending on it. */
void sl_logclient_stream_reset(struct sl_logclient *lc, struct sl_logclient_stream *st,
			       uint64_t code);

/* The transport's stream is gone (both sides done, or the connection ends): its handle is
 * never used again. */
void sl_logclient_stream_closed(struct sl_logclient *lc, struct sl_logclient_stream *st);

/* The connection is gone: every outstanding request completes and every subscription ends with
 * SL_LOGCLIENT_ERR_CLOSED (detail error); later calls fail with SL_ECLOSED. */
void sl_logclient_closed(struct sl_logclient *lc, uint64_t error);

/* Opens the streams that are due and hands queued bytes to the transport. Call once per loop
 * iteration (sl_logclient_connect's glue does it from the client's poll). */
void sl_logclient_poll(struct sl_logclient *lc, uint64_t now_ns);

/* ---- requests ---- */

/*
 * Queues a PRODUCE of m->count records recs[0 .. m->count) (m->request_id, m->records and
 * m->payload_bytes are ignored; the rest as in struct sl_lp_produce: a PRODUCE_IDEM when
 * m->idempotent, answered by PRODUCE_OK or PRODUCE_DUP). The records are encoded
 * before this returns, so recs may be reused at once. *request_id (may be NULL) gets the id.
 * Returns 0, SL_EINVAL (a stream name sl_stream_name_valid refuses, a key over
 * SL_LP_MAX_KEY, a durability out of range), SL_ERANGE (what sl_lp_write_produce refuses: 0 or
 * more than SL_LP_MAX_RECORDS records, lengths over the protocol's limits), SL_EBUSY
 * (max_in_flight requests are outstanding: wait for a completion), SL_ECLOSED (the connection
 * closed), SL_ENOMEM.
 */
int sl_logclient_produce(struct sl_logclient *lc, const struct sl_lp_produce *m,
			 const struct sl_lp_bytes *recs, void *cookie, uint64_t now_ns,
			 uint64_t *request_id);

/* Queues an HWM for stream. Returns 0, SL_EINVAL (bad stream name), SL_EBUSY, SL_ECLOSED,
 * SL_ENOMEM. */
int sl_logclient_hwm(struct sl_logclient *lc, struct sl_lp_bytes stream, void *cookie,
		     uint64_t now_ns, uint64_t *request_id);

/* Requests outstanding (made and not completed). */
uint32_t sl_logclient_in_flight(const struct sl_logclient *lc);

/* ---- subscriptions ---- */

/*
 * Starts a subscription to stream with isolation (enum sl_lp_isolation) and the assignment
 * starts[0 .. count) on a stream of its own, opened at the next flush. Returns 0 and the
 * handle, SL_EINVAL (bad stream name, isolation or start kind; cb NULL), SL_ERANGE (what
 * sl_lp_write_subscribe refuses, e.g. over 65536 starts), SL_ECLOSED, SL_ENOMEM.
 */
int sl_logclient_subscribe(struct sl_logclient *lc, struct sl_lp_bytes stream, uint8_t isolation,
			   const struct sl_lp_start *starts, uint32_t count,
			   const struct sl_logclient_sub_callbacks *cb, void *user,
			   struct sl_logclient_sub **out);

/*
 * As sl_logclient_subscribe, as the named consumer consumer (SUBSCRIBE_NAMED): starts may use
 * the committed kinds (SL_LP_START_COMMITTED_OR_EARLIEST / _OR_LATEST), and the subscription
 * may commit positions with sl_logclient_commit. A newer subscription of the same name on a
 * partition of this one fences it: on_error gets SL_LP_ERR_FENCED, then on_end.
 */
int sl_logclient_subscribe_named(struct sl_logclient *lc, struct sl_lp_bytes consumer,
				 struct sl_lp_bytes stream, uint8_t isolation,
				 const struct sl_lp_start *starts, uint32_t count,
				 const struct sl_logclient_sub_callbacks *cb, void *user,
				 struct sl_logclient_sub **out);

/* Queues a COMMIT of offset (the next offset the consumer wants) for partition on a named
 * subscription; on_commit_ok reports it durable, on_error a refusal. Returns 0, SL_EINVAL (not
 * a named subscription), SL_ECLOSED, SL_ENOMEM. */
int sl_logclient_commit(struct sl_logclient_sub *sub, uint32_t partition, uint64_t offset);

/* Queues an ASSIGN adding adds[0 .. nadd) and removing removes[0 .. nremove). Returns 0,
 * SL_EINVAL (both empty, a bad start kind), SL_ERANGE (over the protocol's limits), SL_ECLOSED
 * (the subscription ended), SL_ENOMEM. */
int sl_logclient_assign(struct sl_logclient_sub *sub, const struct sl_lp_start *adds, uint32_t nadd,
			const uint32_t *removes, uint32_t nremove);

/* Ends the subscription: its stream is reset (code 0) if open, nothing more is reported, and
 * the handle is freed. NULL is ignored. */
void sl_logclient_unsubscribe(struct sl_logclient_sub *sub);

/* ---- counters ---- */

void sl_logclient_stats(const struct sl_logclient *lc, struct sl_logclient_stats *out);

/* ---- over the QUIC client runtime ---- */

/*
 * Creates a session and starts its connection to url on cl (ALPN SL_LP_ALPN, see
 * sl_client_connect_app); the client's loop (sl_client_run) then drives it. *conn (may be NULL)
 * gets the connection, for its connected/closed state. Free the session with
 * sl_logclient_free before freeing the client. Returns 0, the errors of sl_logclient_new and
 * of sl_client_connect_app.
 */
int sl_logclient_connect(struct sl_client *cl, const char *url,
			 const struct sl_logclient_config *cfg,
			 const struct sl_logclient_callbacks *cb, void *user,
			 struct sl_logclient **out, struct sl_client_conn **conn);

#endif
