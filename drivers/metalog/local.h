/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DRIVERS_METALOG_LOCAL_H
#define SL_DRIVERS_METALOG_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "log/metalog.h"
#include "core/stats.h"

/*
 * The embedded durable store behind the metadata event log (struct sl_metalog_store_ops): one
 * directory per partition holding append-only segment files, DIR/p<partition>/<base offset as
 * 20 digits>.seg, each record framed with its length, its offset and an XXH3-64 checksum. I/O
 * goes through one io_uring owned by whoever polls the driver (an io lcore, or a test).
 *
 * Group commit: appends only queue records. Each poll reaps completions, then sends every
 * partition's queued records as ONE write followed by ONE linked fdatasync; records that
 * arrive while a partition's batch is in flight wait for the next batch. A record is reported
 * durable only after the fdatasync that covers it completed. See docs/metalog.md for the byte
 * layout and the recovery rules.
 *
 * Not thread-safe: one thread appends and polls.
 */
struct sl_metalog_local;

/* Completion callback: rc == 0 means every record of partition below end is durable; rc < 0
 * means every record accepted and not yet durable failed (end is then the durable end). The
 * semantics are those of sl_metalog_store_done, which is what sl_metalog_local_attach wires. */
typedef void (*sl_metalog_local_done_fn)(void *arg, int32_t partition, int64_t end, int rc);

struct sl_metalog_local_config {
	const char *dir;	   /* created if missing; required */
	uint32_t partitions;	   /* 1 .. SL_METALOG_MAX_PARTITIONS; default 1 */
	uint64_t segment_bytes;	   /* roll when the next batch would exceed it; default 64 MiB */
	uint32_t max_record_bytes; /* largest payload accepted; default 1 MiB */
	uint32_t max_batch_bytes;  /* largest single write (one record may exceed it); 4 MiB */
	uint32_t ring_entries;	   /* io_uring SQ size; default 64 (two per in-flight batch) */
	/* Bounds on what is accepted and not yet durable, over all partitions (the in-flight
	 * batches included): an append that would pass either is refused with SL_ENOSPC. At
	 * least 1 record, and at least max_record_bytes so one record always fits. Defaults 65536
	 * records and 64 MiB of payload. */
	uint32_t max_queued_records;
	uint64_t max_queued_bytes;
	/* One record per write + fdatasync: group commit off. For benchmarks and comparisons. */
	bool sync_each;
	/* Trim with blocking unlinkat + fsync even when io_uring has IORING_OP_UNLINKAT (the
	 * fallback for older kernels), so tests can run that path too. */
	bool sync_trim;
	sl_metalog_local_done_fn done; /* may be set later with sl_metalog_local_set_done */
	void *done_arg;
};

#define SL_METALOG_LOCAL_STAT_PARTS 16

struct sl_metalog_local_stats {
	uint64_t writes;	    /* write SQEs submitted */
	uint64_t fdatasyncs;	    /* fdatasync SQEs submitted */
	uint64_t records_durable;   /* records reported durable */
	uint64_t bytes_durable;	    /* framed bytes made durable */
	uint64_t records_failed;    /* records reported failed */
	uint64_t write_errors;	    /* failed batches */
	uint64_t rolls;		    /* segments created after start-up */
	uint64_t torn_truncations;  /* torn tails cut at start-up */
	uint64_t records_recovered; /* records found valid at start-up */
	uint64_t appends_refused;   /* appends refused because the queue was full */
	uint64_t queued_bytes;	    /* payload bytes accepted and not yet durable, now */
	uint32_t queued_records;    /* records accepted and not yet durable, now */
	uint32_t inflight;	    /* batches in flight now */
	uint64_t trims;		    /* sl_metalog_local_trim calls that moved a start offset */
	uint64_t segments_deleted;  /* segment files unlinked by trims */
	uint64_t bytes_deleted;	    /* their bytes */
	uint64_t trim_errors;	    /* unlinks or directory fsyncs of trims that failed */
	uint64_t segments;	    /* segment files now, all partitions */
	/* The first retained offset of partitions 0 .. SL_METALOG_LOCAL_STAT_PARTS - 1 (the
	 * daemon has 16); sl_metalog_local_start_offset gives any partition's. */
	uint64_t start_offset[SL_METALOG_LOCAL_STAT_PARTS];
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_metalog_local_stats_fields[];

/* Framing constants, also used by tests and tools that write records by hand. */
#define SL_METALOG_LOCAL_MAGIC	 UINT32_C(0x4C4D4C53) /* "SLML" as little-endian bytes */
#define SL_METALOG_LOCAL_HDR_LEN 24

void sl_metalog_local_config_default(struct sl_metalog_local_config *c);

/*
 * Opens (creating if needed) the log in cfg->dir, validates every segment and opens the io_uring.
 * A torn tail (an incomplete or unverifiable last record at the very end of a partition) is
 * truncated with a warning. Anything else that does not verify stops the open. On failure a
 * message naming the file and byte offset goes to errmsg (may be NULL) and the log.
 * Returns 0, SL_EINVAL (bad config, including max_queued_records 0 or max_queued_bytes below
 * max_record_bytes), SL_ECORRUPT (corrupt data before the tail, a gap between
 * segments, a record with the wrong offset), SL_EIO (a system call failed, incl. io_uring
 * setup), SL_ENOMEM.
 */
int sl_metalog_local_open(const struct sl_metalog_local_config *cfg, struct sl_metalog_local **out,
			  char *errmsg, size_t errlen);

/* Waits for everything queued to finish (as sl_metalog_local_wait), then closes the files and
 * the ring. NULL is ignored. */
void sl_metalog_local_close(struct sl_metalog_local *m);

void sl_metalog_local_set_done(struct sl_metalog_local *m, sl_metalog_local_done_fn fn, void *arg);

/* Makes m report completions to log through sl_metalog_store_done. log must have been created
 * with store = &sl_metalog_local_store_ops and store_ctx = m. */
void sl_metalog_local_attach(struct sl_metalog_local *m, struct sl_metalog *log);

/* The store interface, for struct sl_metalog_config.store (ctx = the driver). */
extern const struct sl_metalog_store_ops sl_metalog_local_store_ops;

/*
 * Feeds every durable record to load(arg, ...) in offset order per partition, from the
 * partition's start offset; each payload is a
 * new buffer whose reference load takes over. Blocking reads: start-up only. Returns 0, the
 * first error load returned, SL_EIO, SL_ECORRUPT (a file changed since open), SL_ENOMEM.
 */
int sl_metalog_local_recover(struct sl_metalog_local *m, sl_metalog_load_fn load, void *arg);

/*
 * Queues (partition, offset, payload) for the next batch and takes a reference on payload.buf.
 * offset must be the partition's next offset. Returns 0, SL_EINVAL (partition out of range,
 * payload larger than max_record_bytes, NULL buffer), SL_ERANGE (offset is not the next one),
 * SL_EIO (the partition is out of service after an fdatasync failure), SL_ENOSPC (the queue is
 * at max_queued_records or the payload would take it past max_queued_bytes: retry once
 * batches completed), SL_ENOMEM. On any error nothing is queued and no offset is consumed.
 */
int sl_metalog_local_append(struct sl_metalog_local *m, int32_t partition, int64_t offset,
			    struct sl_slice payload);

/*
 * Non-blocking: reaps finished I/O (calling done), then submits one write + fdatasync for every
 * idle partition with queued records. Returns the number of batches completed (>= 0), or SL_EIO
 * if io_uring itself failed.
 */
int sl_metalog_local_poll(struct sl_metalog_local *m);

/* Blocking helper for tests and tools: polls and waits on the ring until nothing is queued or
 * in flight. Returns 0 or SL_EIO. */
int sl_metalog_local_wait(struct sl_metalog_local *m);

/* Makes every completion of the driver's io_uring signal the eventfd fd, so its poller can
 * sleep until a batch completes (an io lcore registers its doorbell). Queued records are
 * only submitted by a poll, which the poller runs after every publish anyway. Returns 0,
 * SL_EINVAL or SL_EIO. */
int sl_metalog_local_set_eventfd(struct sl_metalog_local *m, int fd);

/*
 * Gives up the durable records of partition below `below`, a whole segment file at a time:
 * every file whose records all lie below it is unlinked, oldest first, each unlink followed by
 * a directory fsync before the next (linked io_uring SQEs, IORING_OP_UNLINKAT; a blocking
 * unlinkat + fsync on kernels without it). Records at or above `below` always stay, and so do
 * the records of the file holding `below`, which may be below it: the start offset moves to
 * that file's base. The file being appended to is never deleted; when all of it is below, the
 * partition first rolls to an empty file based at the durable end (so a restart still knows the
 * start, even with no record left), unless a batch is in flight.
 *
 * `below` is clamped to the durable end (queued and in-flight records are never trimmed); one
 * at or under the start offset does nothing. At most 64 files go per call, and no more than
 * keeps ring_entries trim SQEs (two per file) in flight; the rest go with the next call. The start
 * offset moves at once; completions come through sl_metalog_local_poll (counters trims,
 * segments_deleted, bytes_deleted, trim_errors). Returns the number of files scheduled for deletion
 * (>= 0), SL_EINVAL (partition out of range, negative below) or SL_EIO (io_uring failed). Call on
 * the thread that polls the driver.
 */
int sl_metalog_local_trim(struct sl_metalog_local *m, int32_t partition, int64_t below);

/* Stores the first retained offset of partition (the base of its oldest segment file; 0 for a
 * log never trimmed). Survives a restart. Returns 0 or SL_EINVAL. */
int sl_metalog_local_start_offset(const struct sl_metalog_local *m, int32_t partition,
				  int64_t *start);

/* True when nothing is queued or in flight (trims included). */
bool sl_metalog_local_idle(const struct sl_metalog_local *m);

/* Stores the next offset partition will accept (= its durable end when idle). Returns 0 or
 * SL_EINVAL. */
int sl_metalog_local_next_offset(const struct sl_metalog_local *m, int32_t partition,
				 int64_t *next);

void sl_metalog_local_stats(const struct sl_metalog_local *m, struct sl_metalog_local_stats *out);

#endif
