/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_PARTITION_H
#define SL_LOG_PARTITION_H

#include <stdint.h>

#include "core/buf.h"
#include "core/wait.h"
#include "log/coordinator.h"
#include "core/stats.h"

/*
 * The partition store of one shard: each partition is an ordered log of records with offsets
 * 0, 1, 2, ... It plugs into the shard's write coordinator as its delta: a delta is "the records
 * appended to each partition since the last flush", and the context that carries from one delta
 * to the next is the store itself, which knows each partition's next offset.
 *
 *   produce  -> sl_coord_try_write(c, ch, &append.w)      (append.w.data = &append)
 *   apply    -> offsets assigned, records visible to readers at once       (applied)
 *   freeze   -> the delta's ranges go to the flusher as a struct sl_pstore_frozen
 *   flushed  -> the flusher calls sl_pstore_flushed(); the ranges become evictable (written)
 *
 * Records stay readable from memory until the byte budget pushes the oldest *flushed* records
 * out (oldest flush first, across partitions); records not yet flushed are never evicted, so
 * memory above the budget is bounded by what the coordinator lets be in flight. A reader that
 * asks for an evicted offset gets SL_ERANGE and must read it from the object store (the buffer
 * issue). Single core, like the coordinator.
 */
struct sl_pstore;

struct sl_pstore_config {
	uint32_t partitions;  /* 1 .. SL_PSTORE_MAX_PARTITIONS */
	uint64_t mem_budget;  /* payload bytes of flushed records kept in memory; default 256 MiB */
	uint32_t max_records; /* records one append may carry; default 4096 */
};

#define SL_PSTORE_MAX_PARTITIONS 65536

/*
 * What the flush size estimate counts per record on top of its payload (bytes): the record's
 * slot in memory and its framing in the flushed object. Without it a stream of empty records
 * would never reach flush_size_threshold. The frozen delta's bytes and the memory counters
 * stay payload bytes.
 */
#define SL_PSTORE_RECORD_OVERHEAD 16

void sl_pstore_config_default(struct sl_pstore_config *cfg);

/* Creates a store. Returns 0, SL_EINVAL (bad config) or SL_ENOMEM. */
int sl_pstore_new(const struct sl_pstore_config *cfg, struct sl_pstore **out);
/* Frees the store and every record it holds. Free the coordinator that uses it first. */
void sl_pstore_free(struct sl_pstore *ps);

/* The delta operations to give sl_coord_new: delta_arg and initial_ctx are both the store. */
extern const struct sl_coord_delta_ops sl_pstore_delta_ops;

/*
 * One PRODUCE: records for one partition, applied atomically (consecutive offsets). Caller-owned;
 * embed it and set w.data = the append itself (sl_pstore_append_init does). The store takes
 * over the records' buffer references when the append is applied; on any failure before that
 * (backpressure, timeout, shutdown, an apply error) they are still the caller's.
 * On success w.result holds the offset of the first record and w.status is 0; an apply error
 * (SL_ENOTFOUND: no such partition, SL_EINVAL: no records or more than max_records,
 * SL_EBOUNDS: the partition's offsets would pass UINT64_MAX, SL_ENOMEM) arrives in w.status with
 * the epoch spent.
 *
 * The delta's size estimate (for the coordinator's flush_size_threshold) is the payload bytes
 * plus SL_PSTORE_RECORD_OVERHEAD per record.
 */
struct sl_pstore_append {
	struct sl_coord_write w;
	uint32_t partition;
	uint32_t nrecords;
	struct sl_slice *records;
};

static inline void sl_pstore_append_init(struct sl_pstore_append *a, uint32_t partition,
					 struct sl_slice *records, uint32_t n,
					 sl_coord_write_fn done)
{
	a->w.data = a;
	a->w.done = done;
	a->partition = partition;
	a->records = records;
	a->nrecords = n;
}

/* One partition's contiguous run of records inside a frozen delta. */
struct sl_pstore_range {
	uint32_t partition;
	uint64_t count; /* records; 64-bit: one delta may hold more than 2^32 of a partition */
	uint64_t first; /* offset of the first record */
	uint64_t bytes;
};

/*
 * What the flusher receives (freeze's frozen object): the ranges appended in the delta, in the
 * order partitions were first touched. Records are read with sl_pstore_record while the range
 * is not yet flushed (they cannot be evicted before). The flusher owns it and hands it back
 * through sl_pstore_flushed (which frees it) or sl_pstore_frozen_free on failure.
 */
struct sl_pstore_frozen {
	uint64_t bytes;
	uint32_t nranges;
	struct sl_pstore_range ranges[];
};

/*
 * Marks f's records as flushed (evictable), enforces the budget, and frees f. Frozen deltas must
 * be reported in the order they were frozen (the coordinator's epoch order: a flusher whose
 * requests complete out of order reports them as the written watermark passes them). Returns
 * 0, or SL_EINVAL when f is out of order (nothing changes and f stays with the caller).
 */
int sl_pstore_flushed(struct sl_pstore *ps, struct sl_pstore_frozen *f);
void sl_pstore_frozen_free(struct sl_pstore_frozen *f);

/* The record at offset in partition p (borrowed; valid until it is evicted). Returns 0,
 * SL_ERANGE (evicted from memory, or not yet appended), SL_ENOTFOUND (no such partition). */
int sl_pstore_record(const struct sl_pstore *ps, uint32_t p, uint64_t offset, struct sl_slice *out);

/* Offsets held in memory for p: [*first, *next); next is the partition's next offset.
 * Returns 0 or SL_ENOTFOUND (no such partition). */
int sl_pstore_bounds(const struct sl_pstore *ps, uint32_t p, uint64_t *first, uint64_t *next);

/*
 * Memory held by partition p: returns the payload bytes of its records in memory and stores
 * their number in *records (may be NULL). Both are 0 for a partition out of range.
 */
uint64_t sl_pstore_part_bytes(const struct sl_pstore *ps, uint32_t p, uint64_t *records);

/*
 * Drops every record of partition p from memory and makes p empty with next offset next
 * (first = flushed = next): a partition restarts at the offset recovered from storage, or its
 * slot is reused for another partition. The store's counters stay exact: p's records leave
 * records_in_memory and bytes_in_memory (they are not counted as evicted), and p's pending
 * evictions leave the eviction queue, so a later eviction never touches the new incarnation.
 * Waiters armed on p are woken; a reader of p then gets SL_ERANGE below next, or waits for the
 * new records (a reader that must not mix incarnations re-reads sl_pstore_bounds on wake).
 * Returns 0, SL_EBUSY (p holds records not yet flushed: they belong to a delta in flight;
 * nothing changes) or SL_ENOTFOUND (no such partition).
 */
int sl_pstore_part_reset(struct sl_pstore *ps, uint32_t p, uint64_t next);

/*
 * Drops partition p's flushed records below offset below from memory (retention moved the
 * partition's start past them: nobody may read them any more). Unflushed records are never
 * dropped: below is clamped to the flushed end. The records leave records_in_memory and
 * bytes_in_memory (not counted as evicted) and the eviction queue's byte counts, so the budget
 * stays exact. Returns the records dropped; 0 for a partition out of range.
 */
uint64_t sl_pstore_drop_below(struct sl_pstore *ps, uint32_t p, uint64_t below);

/*
 * A live reader of one partition: backlog from its start offset (while in memory), then every
 * record as soon as it is applied. Held by value.
 */
struct sl_pstore_reader {
	struct sl_pstore *ps;
	uint32_t partition;
	uint64_t next;
};

/* Starts a reader at offset start. Returns 0 or SL_ENOTFOUND (no such partition). */
int sl_pstore_reader_init(struct sl_pstore_reader *r, struct sl_pstore *ps, uint32_t p,
			  uint64_t start);

/*
 * Reads the next record (borrowed slice) and its offset. Returns 0, SL_EAGAIN (caught up; w is
 * armed and fires on the next append to the partition), or SL_ERANGE (the next offset was
 * evicted: read it from the object store, or restart from sl_pstore_bounds' first).
 */
int sl_pstore_read(struct sl_pstore_reader *r, struct sl_waiter *w, struct sl_slice *out,
		   uint64_t *offset);

struct sl_pstore_stats {
	uint64_t records_appended;
	uint64_t bytes_appended;
	uint64_t records_in_memory;
	uint64_t bytes_in_memory;
	uint64_t bytes_unflushed;
	uint64_t records_evicted;
	uint64_t bytes_evicted;
	uint64_t apply_errors;
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_pstore_stats_fields[];

void sl_pstore_stats(const struct sl_pstore *ps, struct sl_pstore_stats *out);

#endif
