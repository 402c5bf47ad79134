/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TRACK_TRACK_H
#define SL_TRACK_TRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/wait.h"
#include "track/group.h"

/*
 * A live track: groups identified by sequence, delivered to consumers in arrival order, cached
 * for late joiners and evicted by age and by bytes. The behaviour follows moq-lite 0.15's track
 * model (see ../shared/reference/moq-lite-track.rs), re-expressed for one poll-mode core: no
 * threads, no clock reads (callers pass now_ns), readiness through one-shot waiters.
 *
 * Producer side: create_group (explicit sequence, any order) or append_group (max + 1), finish,
 * finish_at, abort. Consumer side: any number of sl_track_consumer cursors, each independent.
 * Producers never wait for consumers; a consumer that falls behind finds old groups evicted and
 * skips past them.
 */
struct sl_track;

struct sl_track_config {
	/* Groups older than this are evicted when a group is inserted; the newest (max sequence)
	 * group is never evicted. Default 30 s, as moq-lite's MAX_GROUP_AGE. 0 disables. */
	uint64_t max_age_ns;
	/* Payload bytes the cache may hold; beyond it the oldest groups (arrival order) are
	 * evicted, never the newest. Default 64 MiB. 0 disables the budget. */
	uint64_t max_bytes;
};

/* Counters, readable at any time by the owning core. */
struct sl_track_stats {
	uint64_t groups_created;
	uint64_t groups_cached; /* live (non-evicted) groups in the cache now */
	uint64_t bytes_cached;	/* payload bytes of cached groups now */
	uint64_t frames_written;
	uint64_t bytes_written;
	uint64_t evicted_age;	 /* groups evicted because they were older than max_age_ns */
	uint64_t evicted_budget; /* groups evicted to stay within max_bytes */
	uint64_t evicted_bytes;	 /* payload bytes released by all evictions */
	uint64_t duplicates;	 /* create_group calls refused as duplicates */
	uint32_t consumers;	 /* live consumers now */
};

/* Fills c with the defaults documented above. */
void sl_track_config_default(struct sl_track_config *c);

/* Creates a track named name (copied) with a publisher priority. cfg NULL means defaults.
 * Returns a track holding one reference, or NULL on allocation failure or a NULL name. */
struct sl_track *sl_track_new(const char *name, uint8_t priority,
			      const struct sl_track_config *cfg);

struct sl_track *sl_track_ref(struct sl_track *t);
/* Drops a reference; the last one frees the cache and releases every cached group. */
void sl_track_unref(struct sl_track *t);

const char *sl_track_name(const struct sl_track *t);
uint8_t sl_track_priority(const struct sl_track *t);
void sl_track_stats(const struct sl_track *t, struct sl_track_stats *out);

/*
 * Creates group seq (out of order allowed) and stores the producer's reference in *out. Evicts
 * expired groups. Wakes consumers. Errors: SL_ECLOSED (seq at or past the final sequence),
 * SL_EDUP (seq is cached), the abort code (aborted), SL_ENOMEM.
 */
int sl_track_create_group(struct sl_track *t, uint64_t seq, uint64_t now_ns, struct sl_group **out);

/* Creates group max + 1 (0 for the first). Errors: SL_EBOUNDS (max is UINT64_MAX), and those of
 * sl_track_create_group. */
int sl_track_append_group(struct sl_track *t, uint64_t now_ns, struct sl_group **out);

/* Appends a group holding one frame and finishes it; takes over frame's reference (released on
 * error too). Errors: those of sl_track_append_group and sl_group_write_frame. */
int sl_track_write_frame(struct sl_track *t, uint64_t now_ns, struct sl_slice frame);

/* Finishes after the newest group: final = max + 1, or 0 for an empty track. Lower sequences
 * may still arrive. Errors: SL_ECLOSED (already finished), SL_EBOUNDS (max is UINT64_MAX), the
 * abort code. */
int sl_track_finish(struct sl_track *t);

/* Finishes at seq, which must equal the current max exactly. Errors: SL_ECLOSED (no group yet,
 * already finished, or seq != max), SL_EBOUNDS, the abort code. */
int sl_track_finish_at(struct sl_track *t, uint64_t seq);

/* Aborts the track and every cached group with err (negative). Consumers get err.
 * Errors: SL_EINVAL (err >= 0), the earlier abort code (already aborted). */
int sl_track_abort(struct sl_track *t, int err);

/* Stores the largest sequence seen in *seq. Returns 0, or SL_ENOTFOUND before any group. */
int sl_track_latest(const struct sl_track *t, uint64_t *seq);

/*
 * Called when the last consumer of t is released (the consumer count drops to 0), so whoever
 * feeds the track (a publisher session, a cross-worker link) can cancel its upstream. The
 * callback may drop references to t but must not free it while the releasing caller still
 * holds one. NULL disables it.
 */
typedef void (*sl_track_unused_fn)(void *arg, struct sl_track *t);
void sl_track_set_unused(struct sl_track *t, sl_track_unused_fn fn, void *arg);

/* Introspection of the cache for tests and counters. */
uint64_t sl_track_cache_offset(const struct sl_track *t); /* absolute index of the first slot */
bool sl_track_is_cached(const struct sl_track *t, uint64_t seq);
/* Sequence of the first live group in arrival order; SL_ENOTFOUND if none. */
int sl_track_first_cached(const struct sl_track *t, uint64_t *seq);

/*
 * A consumer cursor, held by value in the subscriber's state. It keeps a track reference.
 */
struct sl_track_consumer {
	struct sl_track *track;
	uint64_t index;	       /* absolute arrival index of the next slot to look at */
	uint64_t min_sequence; /* groups below this are skipped (start_at) */
};

/* Starts a consumer at the oldest cached group. */
void sl_track_consume(struct sl_track *t, struct sl_track_consumer *c);

/* Skips groups whose sequence is below seq from now on. */
void sl_track_consumer_start_at(struct sl_track_consumer *c, uint64_t seq);

/*
 * Next group in arrival order at or after the cursor with sequence >= start_at, skipping
 * evicted groups; starts *out reading it. Returns 0, SL_EAGAIN (w armed; fires on a new group,
 * finish or abort), SL_EEOF (finished: no gap is waited for), or the abort code.
 */
int sl_track_consumer_next_group(struct sl_track_consumer *c, struct sl_waiter *w,
				 struct sl_group_reader *out);

/*
 * The cached group with sequence seq. Returns 0, SL_ENOTFOUND (seq >= final sequence: it can
 * never exist), the abort code, or SL_EAGAIN (not cached: it may still arrive; w armed).
 */
int sl_track_consumer_get_group(struct sl_track_consumer *c, uint64_t seq, struct sl_waiter *w,
				struct sl_group_reader *out);

/* Returns 0 once the track finished cleanly, the abort code once aborted, else SL_EAGAIN. */
int sl_track_consumer_closed(struct sl_track_consumer *c, struct sl_waiter *w);

/* Stores the final sequence (the total number of groups) in *total once finished. Returns 0,
 * SL_EAGAIN, or the abort code. */
int sl_track_consumer_finished(struct sl_track_consumer *c, struct sl_waiter *w, uint64_t *total);

/* The latest sequence of the track; SL_ENOTFOUND before any group. */
int sl_track_consumer_latest(const struct sl_track_consumer *c, uint64_t *seq);

/* Drops the consumer's track reference and disarms w if it waits on this track. */
void sl_track_consumer_release(struct sl_track_consumer *c, struct sl_waiter *w);

#endif
