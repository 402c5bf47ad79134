/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_STARTS_H
#define SL_DURABLE_STARTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "core/stats.h"

/*
 * The retained starts of the durable partitions, kept in one object (SL_DSTARTS_KEY) so that a
 * restart knows where retention had cut each partition (docs/durable.md, "Retention").
 *
 * Why it exists: one batch object holds the ranges of several partitions, and the retention GC
 * deletes an object once every partition has dropped its range. A partition's older range may
 * then sit in an object still alive (another partition keeps it) while a newer one is already
 * deleted. Recovery reads a missing object in the middle of a partition as a flush that never
 * became durable, and would cut the partition there. With the starts known, every range below
 * its partition's start is skipped, present or not, and a missing object above it keeps its
 * old meaning.
 *
 * The rule that makes it safe: an object is deleted only after the starts that let it go are
 * durable in this object. The io core owning the GC moves a version with every start that goes
 * up; deaths are stamped with the version, and the GC deletes only those stamped at or below the
 * version last written (sl_retgc_gate).
 *
 * Bytes (QUIC varints after the magic): "SLST", version 1 (one byte), count, then count entries
 * of stream_id, partition, start, sorted by (stream_id, partition) with no duplicates. Nothing
 * may follow.
 *
 * Sans-IO over the object store, single-core (the io core owning the metadata log).
 */
#define SL_DSTARTS_KEY	   "meta/starts"
#define SL_DSTARTS_MAGIC   "SLST"
#define SL_DSTARTS_VERSION 1

struct sl_dstart {
	uint32_t stream_id;
	uint32_t partition;
	uint64_t start;
};

/*
 * Decodes the object's bytes, calling fn for every entry in order. Returns 0, SL_ETRUNC (cut
 * short), SL_ECORRUPT (wrong magic, unsorted or duplicate entries, a stream id or partition over
 * 32 bits, bytes after the last entry) or SL_ENOTSUP (another version); *why names the field.
 * fn returning non-zero stops the walk with that value.
 */
int sl_dstarts_decode(const uint8_t *p, size_t n, int (*fn)(void *arg, const struct sl_dstart *s),
		      void *arg, const char **why);

/* Encodes entries (sorted, no duplicates) into a new buffer. Returns it, or NULL (out of
 * memory). */
struct sl_buf *sl_dstarts_encode(const struct sl_dstart *e, uint32_t n);

struct sl_dstarts;

struct sl_dstarts_stats {
	uint64_t writes;       /* object writes completed */
	uint64_t write_failed; /* retried at the next poll after a backoff */
	uint32_t partitions;   /* entries in the table */
	uint64_t version;      /* moves with every start that goes up */
	uint64_t durable;      /* the version the object holds */
};
extern const struct sl_stat_field sl_dstarts_stats_fields[];

/* A table over store (the caller polls the store; the table submits one write at a time). */
int sl_dstarts_new(struct sl_objstore *store, struct sl_dstarts **out);

/* Frees the table. A write in flight must have completed, or the store been destroyed. */
void sl_dstarts_free(struct sl_dstarts *s);

/* Raises the partition's start to start (a lower one is ignored). Returns 0 or SL_ENOMEM. */
int sl_dstarts_set(struct sl_dstarts *s, uint32_t stream_id, uint32_t partition, uint64_t start);

/* Submits a write when the table moved past what the object holds and none is in flight.
 * Returns whether a write is in flight. */
bool sl_dstarts_poll(struct sl_dstarts *s, uint64_t now_ns);

/* The table's version, and the version the object durably holds. */
uint64_t sl_dstarts_version(const struct sl_dstarts *s);
uint64_t sl_dstarts_durable(const struct sl_dstarts *s);

void sl_dstarts_stats(const struct sl_dstarts *s, struct sl_dstarts_stats *out);

#endif
