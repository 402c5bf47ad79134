/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_WORKER_H
#define SL_SHARD_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "core/bell.h"
#include "core/pool.h"
#include "durable/dshard.h"
#include "durable/logsrv.h"
#include "moq/session.h"
#include "quic/endpoint.h"
#include "shard/handoff.h"
#include "shard/pktio.h"
#include "shard/xshard.h"
#include "h3/wt.h"
#include "qmux/qmux.h"
#include "track/path.h"
#include "core/stats.h"

/*
 * One relay worker: the per-core loop of DESIGN.md. It owns a packet port (any pktio driver),
 * the QUIC endpoint for the connections that land on it, one moq-lite relay session per
 * connection, its own origin (broadcasts and track caches), and the cross-worker links
 * (datagram hand-off, live-path xshard). The loop shape is the one every worker has:
 *
 *   receive burst -> QUIC -> sessions -> cross-worker rings -> timers -> flush transmit
 *
 * and it backs off when idle (waiting on the port's descriptor or sleeping at most
 * poll_idle_ns), so a 2-core machine stays usable; poll_idle_ns 0 is pure busy-polling.
 * The control core talks to a worker only through its control rings (stats, shutdown).
 */
struct sl_worker;

/* The longest an idle worker sleeps when its port has a descriptor and it has a doorbell (see
 * sl_worker_main): a safety net, since every source of work wakes it. Each wake-up of an idle
 * core costs tens of microseconds on a virtual machine, so this is long. */
#define SL_WORKER_IDLE_MAX_NS (1000ull * 1000 * 1000)

/*
 * Connection authorisation (tokens, control/jwt.h), supplied by the daemon: the shard knows a
 * connection's grant only as an opaque pointer and asks these functions about it, so that the
 * data plane does not depend on the control plane's JWT module.
 */
struct sl_worker_auth {
	/* May a session holding grant do op on the broadcast path or prefix (moq/session.h)? */
	bool (*allow)(const void *grant, enum sl_moq_auth_op op, const char *path);
	/* The monotonic time (ns) at which a session holding grant must be closed, given the
	 * worker's now_ns; UINT64_MAX for never. */
	uint64_t (*deadline_ns)(const void *grant, uint64_t now_ns);
	/* Frees a grant handed over with a WebSocket (struct sl_worker_ws). */
	void (*free)(void *grant);
	/* The grant of raw QUIC connections, which carry no token (moq-lite has no URL there):
	 * the anonymous one. NULL: they are refused, closed at once with
	 * SL_MOQ_ERR_UNAUTHORIZED. Shared by every worker and never changed; the daemon frees
	 * it after the workers stop. */
	const void *quic_grant;
};

struct sl_worker_config {
	uint16_t id;
	uint16_t nworkers;
	/* The NUMA node of the worker's lcore: its state is allocated there (rte_zmalloc_socket,
	 * so the EAL must be up). -1 (the default) allocates from the heap. */
	int socket;
	struct sl_pktio *port; /* opened by the control plane; the worker closes it */
	struct sl_quic_config quic;
	struct sl_track_config track;
	struct sl_moq_session_config session;
	/* Cross-worker rings, indexed by worker: xs_* carry the live-path link, ho_* datagram
	 * hand-offs (NULL at index id, and all NULL when nworkers is 1). */
	struct rte_ring *xs_to[SL_XSHARD_MAX_WORKERS], *xs_from[SL_XSHARD_MAX_WORKERS];
	struct rte_ring *ho_to[SL_XSHARD_MAX_WORKERS], *ho_from[SL_XSHARD_MAX_WORKERS];
	/* Track ownership, filled by the control plane (copied; NULL spreads evenly). */
	const struct sl_shard_map *map;
	/* Control rings: requests from the control core, replies to it. */
	struct rte_ring *ctl_in, *ctl_out;
	/* Every worker's doorbell, indexed by worker (NULL: idle waits are bounded by the
	 * back-off only). */
	struct sl_bell *bells;
	uint64_t poll_idle_ns;
	/* Latency breakdown: one stamped frame in trace_sample is traced (core/trace.h); 0 off. */
	uint64_t trace_sample;
	/* Heap the worker faults in on its own thread before it serves anything
	 * (sl_alloc_prefault), so that the frames young tracks store do not each pay a page
	 * fault. 0: none. */
	uint64_t prefault_bytes;
	/* Tokens: NULL (default) allows every session everything. Borrowed: it must outlive
	 * the worker. */
	const struct sl_worker_auth *auth;
	/*
	 * WebTransport sessions: what the CONNECT's :path (len bytes: path and query, as sent)
	 * may do, decided as the TCP listener decides for a WebSocket upgrade (the daemon's
	 * function: the control plane owns URL decoding and tokens). Returns 0 with *grant (NULL:
	 * everything is allowed; otherwise freed with auth->free) and *root (malloc'd; NULL:
	 * the origin's root), or the HTTP status to refuse the session with (400 a path no
	 * session could have, 401 a token refused) and *why for the log. NULL: sessions are
	 * neither rooted nor authorised.
	 */
	int (*web_session)(const void *ctx, const char *target, size_t len, void **grant,
			   char **root, const char **why);
	const void *web_session_ctx;

	/* The durable side. dstore NULL: this worker serves no durable partitions (connections
	 * that ask for the log protocol are refused). Otherwise dstore is a ring proxy to an io
	 * lcore (the worker destroys it), io_from that proxy's return ring (to wake up for its
	 * completions), and ml_to/ml_from carry segment events to and from the io lcore that
	 * owns the metadata event log, whose doorbell is ml_bell. dl_to/dl_from carry durable
	 * requests to the workers owning their partitions (NULL at index id). The shard's store,
	 * index, worker and ownership fields are filled by the worker. */
	struct sl_objstore *dstore;
	struct rte_ring *io_from;
	struct rte_ring *ml_to, *ml_from;
	struct sl_bell *ml_bell;
	struct rte_ring *dl_to[SL_XSHARD_MAX_WORKERS], *dl_from[SL_XSHARD_MAX_WORKERS];
	struct sl_dshard_config dshard;
	struct sl_logsrv_config logsrv;
	struct sl_stream_set *streams; /* the catalogue at start (a reference is taken) */
	struct sl_drecovery *recovery; /* the worker takes its partitions out; may be NULL */
	/* Named consumers' states read at start (sl_dctl_consumers): the worker keeps those of
	 * the partitions it owns. */
	const struct sl_dcons_entry *consumers;
	uint32_t nconsumers;
	uint64_t stop_flush_ns; /* how long a stop waits for the flushes; default 10 s */
};

/* A snapshot of the worker's counters, sent to the control core on request. */
struct sl_worker_stats {
	uint16_t id;
	unsigned int lcore;
	uint64_t connections;
	uint64_t sessions_total;
	uint64_t tracks;     /* tracks cached in this worker's origin (local and mirrored) */
	uint64_t broadcasts; /* broadcasts in this worker's origin (local and proxies) */
	uint64_t loops, idle_sleeps, bells_rung, bell_wakeups;
	uint64_t sessions_polled; /* session polls: only sessions with work are polled */
	struct sl_pktio_stats port;
	struct sl_quic_stats quic;
	struct sl_moq_relay_stats relay;
	struct sl_xshard_stats xshard;
	struct sl_handoff_stats handoff;
	/* Every moq session's counters summed: those still open and those that closed (their
	 * running totals are kept when they go; gauges count open sessions only). */
	struct sl_moq_session_stats moq;
	/* WebSocket connections (moq-lite over qmux): open now and in all, and their engines'
	 * counters summed over open and closed ones. */
	uint64_t ws_connections, ws_total;
	struct sl_ws_stats ws;
	struct sl_qmux_stats qmux;
	/* WebTransport connections (moq-lite over HTTP/3, ALPN h3): open now and in all, and
	 * their HTTP/3 layer's counters summed over open and closed ones. */
	uint64_t wt_connections, wt_total;
	struct sl_wt_stats wt;
	/* Tokens: sessions closed because their token expired, raw QUIC connections refused
	 * (no anonymous access configured). Refusals inside sessions are moq.auth_refused. */
	uint64_t auth_expired, auth_quic_refused;
	uint64_t auth_wt_refused; /* WebTransport sessions refused for their token (401) */
	/* The durable side (all zero without it). */
	bool durable;
	uint64_t log_connections;
	struct sl_dshard_stats dshard;
	struct sl_logsrv_stats logsrv; /* summed over open and closed log connections */
	uint64_t dreqs_out, dreqs_in, dreq_ring_full;
	/* The per-core pools of the hot path: moq-lite and QUIC stream state. */
	struct sl_pool_stats pool_moq_streams, pool_quic_streams;
	struct sl_trace trace; /* the latency breakdown (trace_sample), histograms by stage */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_worker_stats_fields[];

/* Control messages (struct sl_msg.type SL_MSG_CONTROL, .u32 = one of these, .u64 a request id
 * the reply carries back). Every kind but STOP is answered on ctl_out. */
enum sl_worker_ctl {
	SL_WORKER_CTL_STATS = 1, /* reply: obj = malloc'd struct sl_worker_stats (caller frees) */
	SL_WORKER_CTL_STOP = 2,	 /* the worker closes its connections and returns */
	/* obj = malloc'd struct sl_worker_runtime; reply: the same obj once applied (caller
	 * frees) */
	SL_WORKER_CTL_CONFIG = 3,
	SL_WORKER_CTL_CONNS = 4, /* reply: obj = malloc'd struct sl_worker_conns (caller frees) */
	/* obj = a stream set reference the worker takes over; reply: obj = malloc'd int, the
	 * result of sl_dshard_set_streams (caller frees) */
	SL_WORKER_CTL_STREAMS = 5,
	/* obj = malloc'd struct sl_worker_describe (filled and sent back; caller frees) */
	SL_WORKER_CTL_DESCRIBE = 6,
	/* obj = malloc'd struct sl_worker_announced (the worker may realloc it to fill it; the
	 * reply carries the result; caller frees) */
	SL_WORKER_CTL_ANNOUNCED = 7,
	/* obj = malloc'd struct sl_worker_fetch (likewise) */
	SL_WORKER_CTL_FETCH = 8,
	/* obj = malloc'd struct sl_worker_ws: a TCP connection asking for a WebSocket, handed
	 * over; not answered (the worker frees obj) */
	SL_WORKER_CTL_WS = 9,
	/* obj = malloc'd struct sl_worker_cert: a new certificate for connections made from now
	 * on; reply: the same obj with rc set (caller frees) */
	SL_WORKER_CTL_CERT = 10,
	/* obj = malloc'd struct sl_worker_consumer_delete: the worker deletes that consumer's
	 * positions in its partitions, sets n, and sends it back (caller frees) */
	SL_WORKER_CTL_CONSUMER_DELETE = 11,
};

/* A certificate and key (PEM, the sender's: alive until it has the answer) and the result of
 * sl_quic_endpoint_set_cert. */
struct sl_worker_cert {
	const char *cert_pem, *key_pem;
	int rc;
};

/* A connection the control core accepted (TLS handshake done) and read a WebSocket upgrade
 * request from: the worker takes the socket, the GnuTLS session (NULL: plain) and the bytes
 * read so far, and does the upgrade itself (shard/wsconn.h). */
struct sl_worker_ws {
	int fd;
	void *tls;   /* gnutls_session_t */
	void *grant; /* the connection's (cfg.auth); the worker frees it; NULL without auth */
	/* The request path, normalised: the session's root (sl_moq_session_config.root). */
	char root[SL_PATH_MAX_LEN + 1];
	size_t len;
	uint8_t data[];
};

/* The broadcasts active under prefix on one worker, for GET /announced: n whole paths, each
 * NUL-terminated, one after the other in path[] (len bytes in all). */
struct sl_worker_announced {
	char prefix[SL_PATH_MAX_LEN + 1];
	uint32_t n;
	size_t len, cap;
	char path[];
};

/* One cached group of a track, for GET /fetch: the frames as (u32 length, bytes) pairs in
 * data[] (len bytes in all). rc is 0, SL_ENOTFOUND (no such broadcast, track or cached group),
 * SL_EAGAIN (subscribed, the group is not here yet) or SL_ENOMEM; the group asked is a sequence or
 * UINT64_MAX for the newest. A group still arriving gives the frames it has so far. */
struct sl_worker_fetch {
	char broadcast[SL_PATH_MAX_LEN + 1];
	char track[SL_PATH_MAX_LEN + 1];
	uint64_t group, sequence;
	/* Subscribe to the track when it is not cached (one worker is asked to, since any
	 * reaches every broadcast), keep it a while, and answer SL_EAGAIN until the group is
	 * here. */
	bool subscribe;
	int rc;
	uint32_t frames;
	size_t len, cap;
	uint8_t data[];
};

/* The partitions of one stream this worker owns, for `shardctl stream describe`. */
struct sl_worker_describe {
	uint64_t stream_id;
	uint32_t cap; /* entries info can hold */
	uint32_t n;   /* partitions found (may exceed cap) */
	/* Named consumers' states of the stream held by this worker: malloc'd by the worker,
	 * freed by whoever asked (NULL when none). */
	struct sl_dcons_info *cons;
	uint32_t ncons;
	struct sl_dpart_info info[];
};

/* `shardctl consumer delete`: one consumer of one stream. */
struct sl_worker_consumer_delete {
	uint64_t stream_id;
	char name[SL_STREAM_NAME_MAX + 1];
	uint32_t n; /* out: partition positions deleted here */
};

/* One connection as reported by `shardctl connections`. */
struct sl_worker_conn_info {
	struct sl_quic_conn_stats quic;
	char alpn[24];
	uint64_t subscriptions, upstreams;
	uint64_t groups_sent, groups_reset, payload_in, payload_out, decode_errors;
};

struct sl_worker_conns {
	uint16_t worker;
	uint32_t n;
	struct sl_worker_conn_info conn[];
};

/* Settings a running worker takes over (sent by the control core on `config set`). Cache and
 * QUIC settings apply to tracks and connections created afterwards. */
struct sl_worker_runtime {
	uint64_t poll_idle_ns;
	uint64_t trace_sample;
	struct sl_track_config track;
	uint64_t idle_timeout_ns;
	uint32_t max_conns;
};

/* What the default ALPN list has after the moq-lite versions: "h3," in a build with
 * WebTransport (nghttp3), nothing otherwise. */
#ifdef SL_HAVE_WT
#define SL_WORKER_WT_ALPN      SL_WT_ALPN ","
#define SL_WORKER_WT_ALPN_TAIL "," SL_WT_ALPN /* the same at the end of the list */
#else
#define SL_WORKER_WT_ALPN      ""
#define SL_WORKER_WT_ALPN_TAIL ""
#endif

/* Fills cfg with the defaults: one worker, a server endpoint that accepts moq-lite-05 and -04
 * (and h3 for WebTransport, where built in) in that order. */
void sl_worker_config_default(struct sl_worker_config *cfg);

/* Creates a worker (on the control core, before launch). Returns 0, SL_EINVAL, SL_EIO (TLS
 * material), SL_ENOMEM. */
int sl_worker_new(const struct sl_worker_config *cfg, uint64_t now_ns, struct sl_worker **out);

/* The loop; returns when a STOP control message arrives. Suitable for rte_eal_remote_launch
 * (arg is the worker). */
int sl_worker_main(void *worker);

/* Frees a worker whose loop returned (or never ran), closing its port. */
void sl_worker_free(struct sl_worker *w);

/* Fills a counters snapshot (the loop answers SL_WORKER_CTL_STATS with this). */
void sl_worker_stats(const struct sl_worker *w, struct sl_worker_stats *out);

/*
 * For tests: fn(arg) runs on the worker's core each time the loop is about to sleep, before it
 * announces that on its doorbell. That is the last moment a message can arrive unseen by the
 * pass and without the sender ringing, so a test that sends from inside fn checks the re-check
 * that must catch it (see sl_lcore_idle_wait). Set before the loop starts; fn NULL removes it.
 */
void sl_worker_set_idle_hook(struct sl_worker *w, void (*fn)(void *arg), void *arg);

/* The server certificate's SHA-256 (hex) for WebTransport pinning. */
int sl_worker_cert_sha256(const struct sl_worker *w, char out[65]);

#endif
