/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_LOGSRV_H
#define SL_DURABLE_LOGSRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "durable/dshard.h"
#include "log/proto.h"
#include "log/streamset.h"
#include "core/stats.h"

/*
 * The server side of the shardline log protocol (docs/log-protocol.md) for one connection,
 * sans-IO: the caller feeds stream events in and gives it a transport to write on and a router
 * that delivers requests to the durable shard owning each partition (this core's or another's).
 *
 *   request streams      PRODUCE -> a struct sl_dproduce to the owner -> PRODUCE_OK / ERROR;
 *                        HWM -> one struct sl_dmarks per owner -> HWM_OK
 *   subscription streams SUBSCRIBE / ASSIGN -> per assigned partition, one fetch in flight at
 *                        a time -> STARTED, RECORDS (payloads by reference), REMOVED, ERROR
 *
 * A subscription asks for more only while its stream has fewer than sub_window bytes not yet
 * acknowledged (counted from the transport's acknowledgements, sl_logsrv_stream_acked), so a
 * consumer that stops reading holds at most that plus one fetch answer per partition, and stalls
 * nobody else. A malformed message answers ERROR(MALFORMED), resets that stream and is counted;
 * other streams and connections go on.
 *
 * Requests complete on this core through their done callbacks; a session freed while requests
 * are out leaves them orphaned, and they free themselves when they come back.
 *
 * Streams are handles both ways, as in moq/session.h: the transport gives each stream's handle
 * to sl_logsrv_stream_open and keeps the struct sl_logsrv_stream it returns (QUIC's stream user
 * data), handing it to every later event of the stream; the session calls release when it is
 * done with a stream, and the transport calls sl_logsrv_stream_closed when its stream ends
 * first.
 */
struct sl_logsrv;
struct sl_logsrv_stream;

struct sl_logsrv_transport {
	/* Queues data (and fin) on a stream; takes over data.buf's reference, also on error. The
	 * transport reports the bytes back through sl_logsrv_stream_acked. */
	int (*write)(void *t, void *handle, struct sl_slice data, bool fin);
	/* Resets the sending side and stops the receiving side. */
	int (*reset)(void *t, void *handle, uint64_t code);
	/* The session forgets the stream: its later events must not carry the session's pointer.
	 * Never called for a stream the transport closed (sl_logsrv_stream_closed). */
	void (*release)(void *t, void *handle);
};

struct sl_logsrv_router {
	/* The stream set requests are resolved in (the worker's current one). */
	const struct sl_stream_set *(*streams)(void *arg);
	/* The worker owning partition p of stream d (for grouping HWM requests). */
	uint16_t (*owner)(void *arg, const struct sl_stream_def *d, uint32_t p);
	/* Delivers r (r->stream_id and r->partition set) to its owner's shard. r completes
	 * through r->done on this core, maybe from inside this call. */
	void (*submit)(void *arg, struct sl_dreq *r);
};

struct sl_logsrv_config {
	uint32_t max_inflight; /* PRODUCE requests in flight per connection; default 4096 */
	uint64_t max_message;  /* largest message accepted; default 16 MiB + 64 KiB */
	uint64_t sub_window;   /* unacknowledged bytes per subscription; default 1 MiB */
	uint64_t fetch_bytes;  /* payload bytes per fetch; default 256 KiB */
	uint64_t park_ns;      /* how long a caught-up fetch waits at the owner; default 1 s */
	uint32_t max_streams;  /* streams per connection; default 1024 */
	uint64_t overload_ms;  /* OVERLOADED's detail when max_inflight is reached; default 2 */
};

void sl_logsrv_config_default(struct sl_logsrv_config *c);

/* Returns a session or NULL (bad argument, no memory). */
struct sl_logsrv *sl_logsrv_new(const struct sl_logsrv_config *cfg,
				const struct sl_logsrv_transport *tops, void *t,
				const struct sl_logsrv_router *router, void *rarg);

/* Frees the session; requests in flight are orphaned (they free themselves on completion).
 * Streams still open are released (the transport must still be there). */
void sl_logsrv_free(struct sl_logsrv *s);

/* The client opened a stream (handle: the transport's). Returns the session's stream, which the
 * transport hands to every later event of it, or NULL when the session already has max_streams
 * (the stream is then reset with the malformed code). */
struct sl_logsrv_stream *sl_logsrv_stream_open(struct sl_logsrv *s, void *handle);
/* Stream bytes in order, any split; fin marks the end of the client's side. st NULL (a stream
 * the session released or refused) is ignored, as in the calls below. */
void sl_logsrv_stream_data(struct sl_logsrv *s, struct sl_logsrv_stream *st, const uint8_t *data,
			   size_t len, bool fin);
/* The client reset the stream, or asked this side to stop sending on it. */
void sl_logsrv_stream_reset(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t code);
/* The client acknowledged bytes more of what was written on st. */
void sl_logsrv_stream_acked(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t bytes);
/* The transport's stream is gone: its handle is never used again, answers still due on it are
 * dropped. Every stream must get this before the transport frees its handle, unless the
 * session is freed first. */
void sl_logsrv_stream_closed(struct sl_logsrv *s, struct sl_logsrv_stream *st);

/* Moves subscriptions on: writes fetch answers and asks for more where windows allow. Cheap
 * when nothing is waiting. */
void sl_logsrv_poll(struct sl_logsrv *s, uint64_t now_ns);

/* Whether the session has something poll would do now (a fetch answer to write, a
 * subscription waiting for its window). */
bool sl_logsrv_busy(const struct sl_logsrv *s);

/* From now on new requests answer SHUTTING_DOWN and subscriptions end with it. */
void sl_logsrv_shutdown(struct sl_logsrv *s);

struct sl_logsrv_stats {
	uint64_t streams_in;
	uint64_t produce, produce_ok, produce_errors, produce_records, produce_bytes;
	uint64_t hwm;
	uint64_t subscribes, assigns, fetches, records_out, bytes_out;
	uint64_t errors_out;	/* ERROR messages sent */
	uint64_t decode_errors; /* malformed messages (stream reset) */
	uint64_t overloaded;	/* requests refused for max_inflight */
	/* Named consumers: claims sent, COMMITs received and answered OK, subscriptions ended
	 * FENCED. */
	uint64_t claims, commits, commit_ok, fenced;
	uint32_t inflight;	/* produce requests out now */
	uint32_t subscriptions; /* open now */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_logsrv_stats_fields[];

void sl_logsrv_stats(const struct sl_logsrv *s, struct sl_logsrv_stats *out);

#endif
