/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_METALOG_H
#define SL_LOG_METALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/wait.h"
#include "core/stats.h"

/*
 * The metadata event log: a fixed number of partitions, each an append-only sequence of records
 * with dense offsets from 0. Publishers append; subscribers hold an explicit assignment of
 * (partition, start offset) and read each assigned partition's backlog from its start offset,
 * then its live records, in offset order. Partitions can be added to and removed from a
 * subscription at any time. The behaviour follows crabka's MetadataEventLog (see
 * ../shared/reference/crabka-metadata-event-log.rs), re-expressed for one poll-mode core.
 *
 * A subscription is a set of per-partition cursors into the log's record arrays rather than a
 * queue of copies, so reading a record costs no allocation and no payload copy, and a newly
 * added partition cannot deliver a live record ahead of its own backlog: its cursor simply
 * walks the array from the start offset. Only per-partition order is guaranteed; records of
 * different partitions interleave.
 *
 * Durability is not the engine's business: it is delegated to a store (struct
 * sl_metalog_store_ops) that a driver implements, e.g. drivers/metalog/local. With a store, a
 * published record is *pending* until the store reports it durable; only then is it visible to
 * subscribers, counted in the high-water mark, and acknowledged to its publisher. Without a
 * store the log is purely in memory and every publish completes at once.
 *
 * Everything here runs on the owning core; nothing is thread-safe. Records are kept in memory
 * until they are trimmed, explicitly (sl_metalog_trim) or by retain_records. Trimming only
 * frees memory: offsets never change and the high-water mark stays; it never takes a record
 * that is still pending or that a live subscription assigned to the partition has not read.
 */
struct sl_metalog;
struct sl_metalog_sub;

/* Upper bound on the partition count: every subscription holds one cursor per partition. */
#define SL_METALOG_MAX_PARTITIONS 4096

/* One record as delivered to a subscriber. */
struct sl_metalog_record {
	int32_t partition;
	int64_t offset;
	/* Borrowed: valid until the record is trimmed, which can happen as soon as every
	 * subscription of the partition has read it, from the next sl_metalog_trim, publish
	 * completion (with retain_records) or recovery. Without trimming it lives as long as the
	 * log. Take sl_buf_ref(payload.buf) to keep it longer. */
	struct sl_slice payload;
};

/* One (partition, start offset) pair of an assignment; start_offset is inclusive, 0 replays
 * the whole partition. */
struct sl_metalog_start {
	int32_t partition;
	int64_t start_offset;
};

/*
 * Called by a store's recover() once per durable record, in offset order within a partition.
 * Takes over one reference to payload.buf (released on error too). Returns 0, SL_EINVAL
 * (partition out of range, or a NULL buffer) or SL_ERANGE (offset is not the partition's next
 * offset: recovered records must be dense from the store's start offset), SL_ENOMEM.
 */
typedef int (*sl_metalog_load_fn)(void *arg, int32_t partition, int64_t offset,
				  struct sl_slice payload);

/*
 * The durability interface a driver implements (dataplane declares it, drivers/ fill it in).
 *
 * append: accept the record (partition, offset, payload) for durable storage. offset is always
 *   the partition's next offset after every record accepted before it. The store takes its own
 *   reference on payload.buf if it needs the bytes after returning. Returns 0 (accepted: the
 *   store will call sl_metalog_store_done later, possibly before append returns) or a negative
 *   SL_E* code (refused now; the store must not report it later). A store may report earlier
 *   records from inside append and still refuse the new one: a success there leaves the new
 *   record pending and the refusal drops it; a failure there already fails every pending
 *   record, the new one included, and the refusal then only sets the publisher's status (the
 *   record counts as refused, not failed). Reporting the new record durable and then refusing
 *   it breaks this contract; the engine keeps it as published.
 * recover: at start-up, feed every durable record to load(arg, ...) in offset order per
 *   partition, from the partition's start offset. Returns 0 or a negative SL_E* code (e.g.
 *   SL_ERANGE for corrupt data), which sl_metalog_recover passes on.
 * start (optional, NULL means 0 everywhere): the first offset the store still holds for a
 *   partition, once it trimmed its files (even with no record left, the next offset carries on
 *   from there). sl_metalog_recover asks it for every partition before recover.
 *
 * Completion rules for sl_metalog_store_done: success is reported per partition in offset
 * order, as "every record below end is durable". When a write fails, the store fails every
 * record of that partition it has accepted and not yet reported durable, reports the failure
 * once, and keeps its durable state exactly as if none of them had been written.
 */
struct sl_metalog_store_ops {
	int (*append)(void *ctx, int32_t partition, int64_t offset, struct sl_slice payload);
	int (*recover)(void *ctx, sl_metalog_load_fn load, void *arg);
	int (*start)(void *ctx, int32_t partition, int64_t *start);
};

struct sl_metalog_config {
	uint32_t partitions; /* 1 .. SL_METALOG_MAX_PARTITIONS; default 1 */
	/* Records per storage chunk: the log allocates one chunk of this many slots at a time
	 * per partition. Rounded up to a power of two; default 1024. */
	uint32_t chunk_records;
	/* When non-zero, after every publish completion (and after recovery) the partition is
	 * trimmed to keep at most this many records below its high-water mark, as far as the
	 * subscriptions allow (see sl_metalog_trim). Default 0: keep everything. */
	uint32_t retain_records;
	const struct sl_metalog_store_ops *store; /* NULL: in memory only */
	void *store_ctx;
};

struct sl_metalog_stats {
	uint64_t published;	/* records acknowledged (visible) since creation */
	uint64_t recovered;	/* records loaded through recovery */
	uint64_t pending;	/* records handed to the store and not yet durable */
	uint64_t failed;	/* records whose store write failed */
	uint64_t bytes;		/* payload bytes held by the log */
	uint64_t delivered;	/* records returned by sl_metalog_sub_poll */
	uint64_t trimmed;	/* records freed from memory by trimming */
	uint64_t chunks;	/* record chunks allocated now (chunk_records slots of 16 bytes) */
	uint32_t subscriptions; /* live subscriptions now */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_metalog_stats_fields[];

/*
 * A publish in flight, owned by the publisher (intrusive: the log allocates nothing for it).
 * After sl_metalog_publish returned SL_EAGAIN the publisher keeps it alive until its status
 * leaves SL_EAGAIN, or calls sl_metalog_pub_forget. Fields are read-only to the caller.
 */
struct sl_metalog_pub {
	struct sl_metalog_pub *next; /* private: the partition's FIFO of pending publishes */
	struct sl_waitq waiters;     /* private: armed by sl_metalog_pub_poll */
	int64_t offset;		     /* the offset assigned by sl_metalog_publish */
	int32_t partition;
	int status; /* SL_EAGAIN while pending, then 0 (durable) or the store's error */
};

/* Fills c with the defaults documented above. */
void sl_metalog_config_default(struct sl_metalog_config *c);

/*
 * Creates a log. cfg NULL means defaults. Returns 0 and stores the log in *out, or SL_EINVAL
 * (partition count 0 or above SL_METALOG_MAX_PARTITIONS, NULL out, a store without append or
 * recover), SL_ENOMEM.
 */
int sl_metalog_new(const struct sl_metalog_config *cfg, struct sl_metalog **out);

/*
 * Frees the log and every record. Live subscriptions are detached, not freed: their polls
 * return SL_ECLOSED and the owner must still call sl_metalog_unsubscribe. Pending publishes
 * complete with SL_ECLOSED. The store must not call sl_metalog_store_done afterwards. NULL is
 * ignored.
 */
void sl_metalog_free(struct sl_metalog *log);

/* The number of partitions, fixed at creation. */
uint32_t sl_metalog_partition_count(const struct sl_metalog *log);

/*
 * Loads every durable record from the store (cfg.store->recover). Call once, before the first
 * publish. Each partition first moves to the store's start offset (cfg.store->start): its
 * start offset, high-water mark and next offset all begin there, and subscribing below it
 * gives SL_ERANGE (a subscription made before recovery that is below it moves up to it).
 * Returns 0, SL_ENOTSUP (no store), SL_EBUSY (records were already published or recovered), or
 * the store's or the load function's error; on error the log may hold a prefix of the records.
 */
int sl_metalog_recover(struct sl_metalog *log);

/*
 * Appends payload to partition and stores the offset it assigns in *offset (may be NULL).
 * Offsets are dense and increase by one per record within a partition; the offset is the one
 * every subscriber sees. Takes over one reference to payload.buf (released on error too).
 *
 * Without a store the record is visible at once and 0 is returned. With a store, the record is
 * handed to it and SL_EAGAIN is returned: the publish completes once the store reports it
 * durable (or failed). If pub is not NULL it is filled in and tracks that completion; a NULL
 * pub means nobody waits for this record.
 *
 * Errors: SL_EINVAL (partition out of range, NULL payload buffer), SL_ECLOSED (the log was
 * closed), SL_EBOUNDS (the partition's offsets are exhausted), SL_ENOMEM, or the store's
 * refusal (then no offset was consumed).
 */
int sl_metalog_publish(struct sl_metalog *log, int32_t partition, struct sl_slice payload,
		       struct sl_metalog_pub *pub, int64_t *offset);

/* Returns pub->status; while it is SL_EAGAIN, w (may be NULL) is armed and fires once the
 * publish completes. */
int sl_metalog_pub_poll(struct sl_metalog_pub *pub, struct sl_waiter *w);

/* Stops tracking a pending publish (its owner goes away); the record itself stays in flight.
 * Disarms its waiters. A completed or unknown pub is ignored. O(pending) on that partition. */
void sl_metalog_pub_forget(struct sl_metalog *log, struct sl_metalog_pub *pub);

/*
 * The store's completion call. rc == 0: every record of partition below end is durable; they
 * become visible, subscribers and publishers are woken. rc < 0: every pending record of the
 * partition failed with rc; their publishers get rc and the partition's next offset goes back
 * to its durable end, so offsets stay dense. Returns 0, or SL_EINVAL (partition out of range,
 * rc > 0) or SL_ERANGE (end is below the durable end or beyond the last published offset + 1).
 */
int sl_metalog_store_done(struct sl_metalog *log, int32_t partition, int64_t end, int rc);

/*
 * Closes the log for publishing: later publishes get SL_ECLOSED. Records already visible stay
 * readable; subscribers get SL_EEOF after the last one once nothing is pending. Idempotent.
 */
void sl_metalog_close(struct sl_metalog *log);

/*
 * Stores in *hwm the high-water mark of partition: one past the highest visible offset (0 for
 * an empty partition). Returns 0 or SL_EINVAL (partition out of range).
 */
int sl_metalog_high_water_mark(const struct sl_metalog *log, int32_t partition, int64_t *hwm);

/* Fills hwms[0 .. partition count) with every partition's high-water mark. Returns 0, or
 * SL_EINVAL if n is smaller than the partition count. */
int sl_metalog_high_water_marks(const struct sl_metalog *log, int64_t *hwms, size_t n);

void sl_metalog_stats(const struct sl_metalog *log, struct sl_metalog_stats *out);

/*
 * Frees from memory the records of partition with offset < below. below is clamped to the
 * high-water mark (pending records are never trimmed) and to the position of every live
 * subscription that has the partition assigned, so no record a subscriber has not read yet is
 * taken; a below at or under the current start offset does nothing. Payload references are
 * released and every storage chunk wholly below the new start is freed. Offsets and the
 * high-water mark do not change; subscribing below the new start gives SL_ERANGE. Returns 0
 * or SL_EINVAL (partition out of range, negative below).
 */
int sl_metalog_trim(struct sl_metalog *log, int32_t partition, int64_t below);

/* Stores in *start the lowest offset of partition still held in memory (0 until something was
 * trimmed; equal to the high-water mark when everything was). Returns 0 or SL_EINVAL. */
int sl_metalog_start_offset(const struct sl_metalog *log, int32_t partition, int64_t *start);

/*
 * Subscribes with an assignment of n (partition, start offset) pairs (n may be 0). Each
 * assigned partition replays its records from start_offset, then live records. A start offset
 * beyond the high-water mark waits for that offset. Returns 0 and the subscription in *out, or
 * SL_EINVAL (NULL arguments, partition out of range, negative start offset), SL_ERANGE (a start
 * offset below the partition's start offset: those records were trimmed), SL_EDUP (a partition
 * appears twice), SL_ENOMEM. Allocates the cursors here, once.
 */
int sl_metalog_subscribe(struct sl_metalog *log, const struct sl_metalog_start *assignment,
			 size_t n, struct sl_metalog_sub **out);

/* Frees the subscription's state and disarms its waiter. NULL is ignored. */
void sl_metalog_unsubscribe(struct sl_metalog_sub *sub);

/*
 * The next record of any assigned partition, into *out. Per partition, records come in offset
 * order, backlog before live. Returns 0, SL_EAGAIN (nothing now; w, if not NULL, is armed and
 * fires when an assigned partition gets a record), SL_EEOF (the log was closed and everything
 * visible was read), SL_ECLOSED (the log was freed).
 */
int sl_metalog_sub_poll(struct sl_metalog_sub *sub, struct sl_waiter *w,
			struct sl_metalog_record *out);

/*
 * Starts consuming start.partition from start.start_offset: its backlog comes before any of
 * its live records. A partition already assigned is left as it is (returns 0). Errors:
 * SL_EINVAL (partition out of range, negative start offset), SL_ERANGE (start offset below the
 * partition's start offset: trimmed), SL_ECLOSED (log freed). Never allocates.
 */
int sl_metalog_sub_add(struct sl_metalog_sub *sub, struct sl_metalog_start start);

/* Stops consuming partition; no record of it is delivered afterwards. A partition that is not
 * assigned is ignored (returns 0). Errors: SL_EINVAL (partition out of range). */
int sl_metalog_sub_remove(struct sl_metalog_sub *sub, int32_t partition);

/*
 * Stores up to cap assigned partitions in ascending order in parts and the total count in *n.
 * Returns 0, or SL_ENOSPC if cap was too small (the first cap are stored).
 */
int sl_metalog_sub_assigned(const struct sl_metalog_sub *sub, int32_t *parts, size_t cap,
			    size_t *n);

/* Stores the next offset the subscription will deliver for partition in *next. Returns 0,
 * SL_EINVAL (out of range) or SL_ENOTFOUND (not assigned). */
int sl_metalog_sub_position(const struct sl_metalog_sub *sub, int32_t partition, int64_t *next);

#endif
