/* SPDX-License-Identifier: Apache-2.0 */
/* Layouts shared by group.c and track.c; not part of the public API. */
#ifndef SL_TRACK_INTERNAL_H
#define SL_TRACK_INTERNAL_H

#include "core/u64map.h"
#include "track/track.h"

/*
 * Reference counts of groups and tracks are plain integers: both live on the core that owns the
 * track, and other cores receive frame buffers (atomically counted) rather than groups.
 */
struct sl_group {
	uint32_t refcnt;
	uint32_t nframes;
	uint32_t cap;
	int32_t state; /* 0 open, 1 finished, < 0 abort code */
	uint64_t seq;
	uint64_t bytes;
	struct sl_track *track; /* set while cached, for byte accounting; NULL once evicted */
	struct sl_slice *frames;
	/* Per-frame timestamps, parallel to frames, allocated by the first timestamped write
	 * only: groups of lite-04 publishers never pay for them. */
	uint64_t *ts;
	struct sl_waitq waiters;
};

struct sl_track_slot {
	struct sl_group *group; /* NULL: a tombstone for an evicted group */
	uint64_t created_ns;
};

struct sl_track {
	uint32_t refcnt;
	uint8_t priority;
	bool has_max;
	bool has_final;
	int abort_err;
	uint64_t max_seq;
	uint64_t final_seq;

	/* Slots in arrival order: absolute index i lives at slots[i & mask]; head is the absolute
	 * index of the first slot (moq-lite's `offset`), tail one past the last. */
	struct sl_track_slot *slots;
	uint64_t mask;
	uint64_t head;
	uint64_t tail;
	/* Every slot in [head, scan) is a tombstone or the max group, so eviction starts here and
	 * stays O(1) amortised even when an old max group pins the front of the cache. */
	uint64_t scan;

	struct sl_u64map index; /* cached sequence -> absolute slot index (duplicates, get_group) */
	struct sl_track_config cfg;
	struct sl_track_stats stats;
	struct sl_waitq waiters;
	sl_track_unused_fn unused;
	void *unused_arg;
	char *name;
};

/* Called by the group when a frame of len bytes was written to a cached group. */
void sl_track_on_frame_(struct sl_track *t, uint32_t len);

/* Allocates an open group with two references (the cache's and the producer's). */
struct sl_group *sl_group_new_(uint64_t seq, struct sl_track *t);

#endif
