/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_IOCORE_H
#define SL_CONTROL_IOCORE_H

#include <stddef.h>
#include <stdint.h>

#include <rte_ring.h>

#include "buffer/objstore.h"
#include "buffer/retgc.h"
#include "core/bell.h"
#include "drivers/metalog/local.h"
#include "drivers/objstore/localdir.h"
#include "durable/export.h"
#include "log/metalog.h"
#include "core/stats.h"

/*
 * An io lcore (DESIGN.md, process model): it owns one object store (normally a localdir store
 * with its own io_uring under the daemon's data directory) and serves the requests other cores
 * send it through ring proxies (sl_localdir_proxy_new on their side, one SPSC ring pair per
 * client core). It never parses protocol. Its loop has the one shape every lcore has, on the
 * skeleton they share (core/lcore.h):
 *
 *   receive requests -> submit and reap I/O -> send completions back -> control -> back off
 *
 * When nothing is in flight and nothing arrived it sleeps on its doorbell (an eventfd) until a
 * client or the control core rings it: clients' proxies ring it after every request
 * (sl_localdir_proxy_set_bell with sl_iocore_bell), the control core after every control
 * message (sl_iocore_wake). The sleep is still capped at SL_IOCORE_IDLE_MAX_NS, so a client
 * that does not ring is served late rather than never. While I/O is in flight (completions do
 * not ring) it reaps again after at most poll_idle_ns, unless the store's io_uring (and the
 * metadata log's) signal the doorbell on every completion (sl_localdir_set_eventfd), which
 * is how the daemon runs: then it sleeps until a completion rings. poll_idle_ns 0 busy-polls.
 */
struct sl_iocore;

#define SL_IOCORE_MAX_CLIENTS 72
#define SL_IOCORE_IDLE_MAX_NS (1000ull * 1000 * 1000)
/* With I/O in flight and every io_uring ringing the doorbell on completion, the loop still
 * looks again after this long: a safety net, not the way completions are found. */
#define SL_IOCORE_INFLIGHT_MAX_NS (1000ull * 1000)

struct sl_iocore_config {
	uint16_t id;
	struct sl_objstore *store; /* the io core owns it from sl_iocore_new on */
	/* Client ring pairs: requests in (from the client's proxy), completions out, and the
	 * client's doorbell, rung after completions went out (NULL: the client polls). */
	unsigned int nclients;
	struct rte_ring *req_in[SL_IOCORE_MAX_CLIENTS], *req_out[SL_IOCORE_MAX_CLIENTS];
	struct sl_bell *client_bell[SL_IOCORE_MAX_CLIENTS];
	/* The metadata event log, on the io core that owns it (NULL elsewhere): the engine and its
	 * local store, recovered by the control core before launch and owned by this io core
	 * from then on. Workers send segment events (struct sl_dseg_pub, SL_MSG_SEGMENT) on
	 * ml_in[worker] and get them back, published, on ml_out[worker], with ml_bell[worker]
	 * rung. On ml_in they also hand over objects whose last segment went (struct sl_dobj,
	 * SL_MSG_OBJ_RELEASE) to the retention GC (SL_IOCORE_CTL_GC). */
	struct sl_metalog *mlog;
	struct sl_metalog_local *mlocal;
	unsigned int nml;
	struct rte_ring *ml_in[SL_IOCORE_MAX_CLIENTS], *ml_out[SL_IOCORE_MAX_CLIENTS];
	struct sl_bell *ml_bell[SL_IOCORE_MAX_CLIENTS];
	/* The durable streams at start (a reference the io core takes), for the batch export
	 * queue that the io core owning the metadata log runs (durable/export.h): workers send
	 * durable flushes of --export streams on ml_in as SL_MSG_SEGMENT with u32 1 and obj a
	 * segment event buffer (dshard.h, sl_dindex_ops.exported). NULL: no streams yet. */
	struct sl_stream_set *streams;
	/* Control rings: requests from the control core (SL_MSG_CONTROL), replies to it. */
	struct rte_ring *ctl_in, *ctl_out;
	uint64_t poll_idle_ns;
};

/* Control messages (struct sl_msg.type SL_MSG_CONTROL, .u32 = one of these, .u64 a request id
 * the reply carries back). Every kind but STOP is answered on ctl_out. */
enum sl_iocore_ctl {
	SL_IOCORE_CTL_STATS = 1, /* reply: obj = malloc'd struct sl_iocore_stats (caller frees) */
	SL_IOCORE_CTL_STOP = 2,	 /* serve what is in flight, then return */
	/* obj = malloc'd struct sl_iocore_runtime; reply: the same obj once applied (caller
	 * frees) */
	SL_IOCORE_CTL_CONFIG = 3,
	/* obj = the retention GC (buffer/retgc.h) for the io core owning the metadata log, built
	 * by the control core from what recovery found, over this io core's store; the io core
	 * owns it from then on. Reply: obj NULL. Sent before any worker runs. */
	SL_IOCORE_CTL_GC = 4,
	/* obj = a struct sl_stream_set reference the io core takes (the catalogue changed); not
	 * answered */
	SL_IOCORE_CTL_STREAMS = 5,
	/* obj = malloc'd struct sl_iocore_export_info with name set; reply: the same obj filled */
	SL_IOCORE_CTL_EXPORT_INFO = 6,
};

/* An export stream's queue as the io core owning the metadata log knows it. */
struct sl_iocore_export_info {
	char name[SL_STREAM_NAME_MAX + 1];
	int rc; /* 0, SL_ENOTFOUND (not an export stream), SL_ENOTSUP (not this io core) */
	struct sl_export_stream_info info;
};

/* The metadata log partitions whose trim points status shows (control/durable.h has 16). */
#define SL_IOCORE_META_PARTITIONS 16

/* Settings a running io core takes over (sent by the control core on `config set`). */
struct sl_iocore_runtime {
	uint64_t poll_idle_ns;
};

struct sl_iocore_stats {
	uint16_t id;
	unsigned int lcore;
	unsigned int clients;
	uint64_t loops, idle_sleeps, wakeups;
	uint64_t served;		/* completions sent back to clients */
	uint32_t inflight;		/* requests received and not yet sent back */
	struct sl_localdir_stats store; /* zero unless the store is a localdir store */
	/* The metadata event log, when this io core owns it. */
	bool metalog;
	uint64_t segments_in, segments_out, segment_errors;
	/* The retention GC, on the io core owning the metadata log: its counters, the objects
	 * workers released to it, and per metadata partition the trim point (every event below
	 * names a deleted object). */
	struct sl_retgc_stats gc;
	uint64_t objects_released;
	uint64_t metalog_trim_point[SL_IOCORE_META_PARTITIONS];
	struct sl_metalog_stats mlog;
	struct sl_metalog_local_stats mlocal;
	struct sl_export_stats exp; /* the batch export queue, beside the log */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_iocore_stats_fields[];

/* Creates an io core (on the control core, before launch). On failure the store is still the
 * caller's. Returns 0, SL_EINVAL (no store, no control rings, too many clients, a NULL client
 * ring), SL_EIO (no eventfd), SL_ENOMEM. */
int sl_iocore_new(const struct sl_iocore_config *cfg, struct sl_iocore **out);

/* The loop; returns after SL_IOCORE_CTL_STOP once nothing is in flight. Suitable for
 * rte_eal_remote_launch (arg is the io core). */
int sl_iocore_main(void *iocore);

/* Wakes a sleeping io core (any thread, after queueing a request or a control message). */
void sl_iocore_wake(struct sl_iocore *io);

/* The io core's doorbell, for sl_localdir_proxy_set_bell on its clients' proxies. */
struct sl_bell *sl_iocore_bell(struct sl_iocore *io);

/*
 * Retention's hook into the metadata event log, on the io core that owns it (call it from its
 * loop): gives up partition's events below `below`, in memory (sl_metalog_trim) and on disk
 * (sl_metalog_local_trim: whole segment files, unlinked through io_uring; the start offset a
 * restart recovers from moves to the first file kept). Returns the number of files scheduled
 * for deletion (>= 0), SL_ENOTSUP (this io core has no metadata log), SL_EINVAL (partition out
 * of range, negative below) or SL_EIO.
 */
int sl_iocore_metalog_trim(struct sl_iocore *io, int32_t partition, int64_t below);

/* The batch export queue of the io core owning the metadata log (NULL elsewhere): its
 * sl_export_pinned is the hook an object GC on this io core consults before each delete. */
struct sl_export *sl_iocore_export(struct sl_iocore *io);

/* Fills a counters snapshot (the loop answers SL_IOCORE_CTL_STATS with this). */
void sl_iocore_stats(const struct sl_iocore *io, struct sl_iocore_stats *out);

/*
 * The start-up check the daemon runs through each io core before it accepts traffic: through
 * client (a proxy whose ring pair io serves and which rings io's bell, used by no one else
 * meanwhile) it puts the object
 * "shardline/probe/io-ID" (durably: fsynced file and directory), reads it back and compares,
 * then deletes it. It proves the data directory is writable, has
 * user xattrs and works through io_uring from another core. Returns 0, or the failing step's
 * error (SL_EIO, SL_ENOSPC, SL_ETIMEDOUT after timeout_ns, ...) with err saying which step.
 */
int sl_iocore_probe(struct sl_iocore *io, struct sl_objstore *client, uint64_t timeout_ns,
		    char *err, size_t errlen);

/* Frees an io core whose loop returned (or never ran), destroys its store and closes the
 * metadata log it owns. Clients' proxies must have been destroyed first (a proxy waits for the
 * io side to serve what it sent). */
void sl_iocore_free(struct sl_iocore *io);

#endif
