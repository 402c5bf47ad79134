/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_EXPORT_H
#define SL_DURABLE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/manifest.h"
#include "buffer/objstore.h"
#include "core/stats.h"
#include "durable/segment.h"
#include "log/streamset.h"

/*
 * The batch export queue of durable streams created with --export (docs/operator.md, "Export
 * streams"; docs/durable.md, "Export"). Every flush of such a stream, once durable, becomes one
 * entry of the stream's manifest queue (buffer/manifest.h) at "export/<stream>/manifest" in the
 * daemon's object store: location = the flush's batch object key ("data/<boot>/w<w>-<seq>.batch"),
 * one metadata range per partition range of the stream inside that object, each carrying the
 * payload below. `shardctl export` consumes the queue (buffer/consumer.h) from another process.
 *
 * Metadata payload, version 1, 45 bytes, little-endian (docs/buffer-formats.md):
 *
 *   version:u8 (= 1)  stream_id:u64  partition:u32  first:u64  count:u64  off:u64  len:u64
 *
 * first/count: the offsets of the range's records; off/len: the byte range of its shardline
 * batch inside the object. The range's ingestion_time_ms is the flush's wall-clock time and its
 * start_index the range's position within the entry (0, 1, ...).
 *
 * The engine (struct sl_export) is sans-IO over an object store, driven by one thread (the io
 * lcore that owns the metadata event log). Entries of one stream are enqueued in the order
 * sl_export_add saw them, by one manifest write at a time that carries every entry waiting (up
 * to 256: sl_manifest_enqueue_many); the daemon adds a worker's flushes in its durability order,
 * and a partition has one owner worker, so per partition the entries' offsets ascend. A failed
 * enqueue (manifest conflicts exhausted, store errors) is counted and retried with backoff, the
 * entry staying at the head, so no later entry overtakes it.
 *
 * Pins: sl_export_pinned says whether a key is still referenced by an export queue (listed in
 * the manifest and not acknowledged, or not yet enqueued), so an object GC keeps it. The engine
 * learns the manifest's dequeued prefix from every enqueue (each is a read-modify-write) and
 * from a re-read every refresh interval. Until a stream's manifest was read once (at start),
 * every key counts as pinned. With export_max_age, an entry older than that (by its flush time)
 * is no longer pinned: counted in dropped_max_age, logged once per poll; the exporter skips an
 * entry whose object is gone.
 */

#define SL_EXPORT_META_VERSION 1
#define SL_EXPORT_META_LEN     45

struct sl_export_range {
	uint64_t stream_id;
	uint32_t partition;
	uint64_t first, count;
	uint64_t off, len;
};

/* Writes r's payload into out (SL_EXPORT_META_LEN bytes). */
void sl_export_meta_encode(const struct sl_export_range *r, uint8_t out[SL_EXPORT_META_LEN]);

/* Decodes a payload. Returns 0, SL_ETRUNC (shorter than 45 bytes), SL_ENOTSUP (another
 * version), SL_ECORRUPT (bytes after the fields, count 0, first + count or off + len
 * overflowing); *why (may be NULL) names what failed. */
int sl_export_meta_decode(const uint8_t *p, size_t n, struct sl_export_range *out,
			  const char **why);

/* The manifest key of stream name: "export/<name>/manifest". Returns as snprintf. */
int sl_export_manifest_key(const char *name, char *out, size_t size);

struct sl_export_config {
	struct sl_objstore *store;
	uint64_t refresh_interval_ns;	    /* re-read each manifest; default 10 s */
	uint64_t retry_min_ns;		    /* after a failed enqueue; default 100 ms, doubling */
	uint64_t retry_max_ns;		    /* default 5 s */
	uint32_t max_pending;		    /* entries waiting per stream; default 65536 */
	struct sl_manifest_config manifest; /* retry policy; the key is set per stream */
};

struct sl_export_stats {
	uint32_t streams; /* export streams known */
	uint64_t enqueued;
	uint64_t enqueue_conflicts; /* manifest conflicts (each retried) */
	uint64_t enqueue_failed;    /* manifest writes that failed (retried after a backoff) */
	uint64_t dropped_full;	    /* flushes not enqueued: max_pending entries were waiting */
	uint64_t dropped_max_age;   /* entries unpinned by export_max_age */
	uint64_t refresh_failed;
	uint64_t pending; /* entries waiting to be enqueued, all streams */
};
/* Its members, for status (core/stats.h). */
extern const struct sl_stat_field sl_export_stats_fields[];

/* One stream's queue as of the last manifest read or write. */
struct sl_export_stream_info {
	bool known;	 /* the manifest was read or written since start */
	uint32_t length; /* entries in the manifest */
	uint64_t epoch;	 /* its consumer's epoch (0: none yet) */
	bool has_last_ack;
	uint64_t last_ack; /* the last dequeued sequence */
	uint64_t next_sequence;
	uint32_t pending; /* flushes waiting to be enqueued */
	uint64_t enqueued, enqueue_failed, dropped_max_age;
};

struct sl_export;

void sl_export_config_default(struct sl_export_config *c);

/* Returns 0, SL_EINVAL (no store), SL_ENOMEM. */
int sl_export_new(const struct sl_export_config *cfg, struct sl_export **out);

/* Frees ex; what is in flight on the store must have completed (sl_export_idle) or the store
 * must be destroyed first. Entries still waiting are lost (their flushes stay durable). */
void sl_export_free(struct sl_export *ex);

/* Takes over the streams of set that have export_enabled (copied; set is not kept). Streams no
 * longer exported are forgotten once their operation in flight completed. */
int sl_export_set_streams(struct sl_export *ex, const struct sl_stream_set *set);

/* A durable flush: enqueues, per export stream with ranges in ev, one entry (in call order).
 * Ranges of other streams are ignored. Returns the entries queued, or SL_ENOMEM. */
int sl_export_add(struct sl_export *ex, const struct sl_seg_event *ev);

/* Starts due enqueues, refreshes and retries; now_ns is wall-clock (it ages entries). Returns
 * the operations started or completed. */
int sl_export_poll(struct sl_export *ex, uint64_t now_ns);

/* Nothing in flight on the store. */
bool sl_export_idle(const struct sl_export *ex);

/* The GC hook: whether key must be kept (arg is the struct sl_export). */
bool sl_export_pinned(void *arg, const char *key);

void sl_export_stats(const struct sl_export *ex, struct sl_export_stats *out);

/* Returns 0, or SL_ENOTFOUND when name is not an export stream. */
int sl_export_stream_info(const struct sl_export *ex, const char *name,
			  struct sl_export_stream_info *out);

#endif
