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
 * hold (deleted) are ignored.
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

/* Orders the events and rebuilds every partition. Call once, after every add. Returns 0 or
 * SL_ENOMEM. */
int sl_drecovery_finish(struct sl_drecovery *r);

/* A recovered partition. segs[0 .. nsegs) are contiguous from start to end and each holds a
 * reference on its object. */
struct sl_drec_part {
	uint64_t stream_id;
	uint32_t partition;
	uint64_t start, end;
	uint32_t nsegs, cap;
	struct sl_dseg *segs;
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
