/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_RECOVER_H
#define SL_DURABLE_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "durable/segment.h"
#include "log/streamset.h"
#include "core/stats.h"

/*
 * Start-up recovery of the durable partitions' index, sans-IO: the daemon feeds it every
 * object the store lists under "data/" and every segment event of the metadata event log, and
 * it rebuilds each partition's segment list, says where each partition's offsets continue, and
 * names the objects nothing references (written but never indexed, or left by deleted streams)
 * so they can be removed.
 *
 * Events are applied per partition in (boot, worker, seq) order with one rule (see
 * docs/durable.md, "Recovery"): let end be the offset after the partition's last segment.
 *
 *   - a range starting after end is skipped: an earlier range of the partition never became
 *     durable, so neither did this one (a flush is acknowledged only when every flush before
 *     it is durable);
 *   - a range starting at or below end truncates the partition back to its first offset (a
 *     worker only writes at or below end after it rolled back to the durable end following a
 *     failed flush, so whatever lies above was never acknowledged), and then, if its object is
 *     listed and long enough, becomes the partition's last segment; if the object is missing
 *     or short (the flush was cut by a crash before its object was written), the range is
 *     void and end stays at its first offset.
 *
 * The first event of a partition sets its start. Events of streams the catalogue does not
 * hold (deleted) are ignored. Retention deletes objects from a partition's front: a run of
 * ranges at the front whose objects are missing, followed by a range that continues right
 * after them, was expired (a crash only loses the newest flushes, and a later flush after one
 * starts at the rolled-back end, not after them): the partition starts after the run.
 */
struct sl_drecovery;

struct sl_drecovery_stats {
	uint64_t events;       /* segment events read */
	uint64_t ranges;       /* ranges in them */
	uint64_t applied;      /* ranges that became segments */
	uint64_t unknown;      /* ranges of streams or partitions the catalogue does not have */
	uint64_t gaps;	       /* ranges skipped because they start after the end */
	uint64_t void_missing; /* ranges whose object is missing or short */
	uint64_t truncations;  /* ranges that cut a partition back */
	uint64_t objects;      /* objects listed */
	uint64_t orphans;      /* listed objects no segment references */
	uint64_t partitions;   /* partitions with at least one segment */
	uint64_t expired;      /* ranges retention dropped (now, or before: objects deleted) */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_drecovery_stats_fields[];

/* Creates an empty recovery over the catalogue's streams (a reference is taken). Returns 0,
 * SL_EINVAL, SL_ENOMEM. */
int sl_drecovery_new(struct sl_stream_set *streams, struct sl_drecovery **out);

/* Adds a listed object. Returns 0, SL_EINVAL (bad key), SL_EDUP (listed twice), SL_ENOMEM. */
int sl_drecovery_add_object(struct sl_drecovery *r, const char *key, uint64_t size);

/* Adds one segment event (the payload of a metadata log record). Returns 0, or the decoder's
 * error (the log's records are checksummed: an undecodable one is a format or software error
 * that recovery must not guess about) with *why naming the field, or SL_ENOMEM. */
int sl_drecovery_add_event(struct sl_drecovery *r, const uint8_t *p, size_t n, const char **why);

/* The wall clock (ms) that retention by age measures against (0, the default: only retention by
 * bytes applies). Call before sl_drecovery_finish. */
void sl_drecovery_set_wall(struct sl_drecovery *r, uint64_t wall_ms);

/* The retained start retention had reached for a partition (the starts object,
 * durable/starts.h), before sl_drecovery_finish: its ranges below it are expired whether their
 * objects are still there or not. A lower start than one already given is ignored. Returns 0,
 * SL_EINVAL (finished, partition out of range) or SL_ENOMEM. */
int sl_drecovery_set_start(struct sl_drecovery *r, uint64_t stream_id, uint32_t partition,
			   uint64_t start);

/* After sl_drecovery_finish: calls fn with every recovered partition's retained start. */
void sl_drecovery_each_start(const struct sl_drecovery *r,
			     void (*fn)(void *arg, uint64_t stream_id, uint32_t partition,
					uint64_t start),
			     void *arg);

/* The same, for the record at (meta_partition, meta_offset) of the metadata log: after finish,
 * sl_drecovery_each_live says which live object each such event names. */
int sl_drecovery_add_event_at(struct sl_drecovery *r, const uint8_t *p, size_t n,
			      int32_t meta_partition, int64_t meta_offset, const char **why);

/* After finish (and while the recovery still holds its objects): calls fn for every event whose
 * object is indexed (some segment references it), in (boot, worker, seq) order, with the
 * object and the event's position (partition -1 when added without one). The retention GC is
 * filled from this (buffer/retgc.h). */
void sl_drecovery_each_live(const struct sl_drecovery *r,
			    void (*fn)(void *arg, const char *key, uint64_t size,
				       int32_t meta_partition, int64_t meta_offset),
			    void *arg);

/* Orders the events and rebuilds every partition, then applies each stream's retention (the
 * rule of sl_dseg_expired, the one the owner worker applies): expired segments are not
 * indexed and their objects, if nothing else references them, become orphans. Call once, after
 * every add. Returns 0 or SL_ENOMEM. */
int sl_drecovery_finish(struct sl_drecovery *r);

/* A recovered partition. segs[0 .. nsegs) are contiguous from start to end and each holds a
 * reference on its object. */
struct sl_drec_part {
	uint64_t stream_id;
	uint32_t partition;
	uint64_t start, end;
	uint32_t nsegs, cap;
	struct sl_dseg *segs;
	/* While nothing is kept yet: the end of the run of ranges whose objects are missing at
	 * the front, which retention deleted if the next range continues after them. */
	uint64_t missing_end;
	uint64_t missing_n; /* ranges in that run, counted void until recognised */
	/* The idempotent writes of the segments, in offset order (a producer's last
	 * SL_DIDEM_WINDOW at least); taken with the segments. */
	struct sl_seg_idem *idem;
	uint32_t nidem, idem_cap;
};

/* Requests an owner remembers per idempotent producer and partition (as Kafka's 5 in flight). */
#define SL_DIDEM_WINDOW 5

/* The partition's recovered state, or NULL when the log holds nothing of it (it starts empty
 * at offset 0). */
const struct sl_drec_part *sl_drecovery_find(const struct sl_drecovery *r, uint64_t stream_id,
					     uint32_t partition);

/* Moves a partition's segments (and their object references) to the caller: *out gets the
 * state, and the recovery forgets the segments. Returns 0 or SL_ENOTFOUND. */
int sl_drecovery_take(struct sl_drecovery *r, uint64_t stream_id, uint32_t partition,
		      struct sl_drec_part *out);

/* The i-th orphan's key (i < stats.orphans), valid until sl_drecovery_free. */
const char *sl_drecovery_orphan(const struct sl_drecovery *r, uint64_t i);

void sl_drecovery_stats(const struct sl_drecovery *r, struct sl_drecovery_stats *out);

/* Frees the recovery; objects whose segments were taken stay alive through them. */
void sl_drecovery_free(struct sl_drecovery *r);

#endif
