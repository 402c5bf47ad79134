/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_DURABLE_SEGMENT_H
#define SL_DURABLE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "core/buf.h"

/*
 * Segment events: the records of the metadata event log that index the durable partitions.
 * Every flush of a worker writes ONE batch object holding one shardline batch (buffer/batch.h)
 * per partition range it flushed, back to back, and publishes ONE segment event naming the
 * object and, per range, the stream, partition, offsets and the byte range of its batch inside
 * the object. The event is what makes the records durable: a record is durable once its object
 * is synced and its event is durable in the log.
 *
 * An event is identified by (boot, worker, seq): boot increases at every daemon start, seq at
 * every flush of a worker. Within one boot a partition has exactly one owner, so the events of
 * one partition are totally ordered by (boot, seq); recovery sorts by that key.
 *
 * Byte layout (docs/durable.md): "SLSG", version 1 (u8), then varints boot, worker, seq,
 * wall_ms, key (varint length + bytes), object_size, nranges, and nranges times: stream_id,
 * partition, first, count, off, len, bytes. Nothing may follow.
 *
 * Version 2 adds, after each range's bytes, the idempotent writes the range holds (so that a
 * restart rebuilds the producer tables from durable data alone): nidem, then nidem times
 * producer_id, sequence, offset - first, count. The encoder writes version 1 when no range
 * carries any, so events of plain producers stay byte for byte what they were; the decoder
 * reads both.
 */

#define SL_SEG_MAGIC	    "SLSG"
#define SL_SEG_VERSION	    1
#define SL_SEG_VERSION_IDEM 2
#define SL_SEG_MAX_RANGES   65536
#define SL_SEG_MAX_ENCODED  (64u + SL_OBJ_KEY_MAX + SL_SEG_MAX_RANGES * 64u)

/* One idempotent write (PRODUCE_IDEM) of a range: records [offset, offset + count) had the
 * producer's sequence numbers [sequence, sequence + count). */
struct sl_seg_idem {
	uint64_t producer_id;
	uint64_t sequence;
	uint64_t offset; /* absolute; the bytes hold it relative to the range's first */
	uint32_t count;
};

/* One partition's records inside a segment's object. */
struct sl_seg_range {
	uint64_t stream_id;
	uint32_t partition;
	uint64_t first; /* offset of the first record */
	uint64_t count; /* records, >= 1 */
	uint64_t off;	/* byte range of the range's batch inside the object */
	uint64_t len;
	uint64_t bytes; /* payload bytes of the records */
	/* The range's idempotent writes, in offset order, each inside the range and none
	 * overlapping (version 2). Decode: points into the event's idem array. */
	uint32_t nidem;
	struct sl_seg_idem *idem;
};

struct sl_seg_event {
	uint64_t boot;
	uint32_t worker;
	uint64_t seq;
	uint64_t wall_ms; /* when the flush was made: retention by age measures from it */
	char key[SL_OBJ_KEY_MAX + 1];
	uint64_t object_size;
	uint32_t nranges;
	struct sl_seg_range *ranges; /* decode: allocated, released by sl_seg_event_release */
	struct sl_seg_idem *idem;    /* decode: every range's idempotent writes, allocated */
};

/* Bytes sl_seg_encode needs for ev. */
size_t sl_seg_encoded_size(const struct sl_seg_event *ev);

/* Encodes ev into a new buffer (one reference). Returns 0, SL_EINVAL (no ranges, more than
 * SL_SEG_MAX_RANGES, a bad key, a range outside the object, a count of 0, an idempotent
 * write outside its range, overlapping the one before or with a count of 0), SL_ENOMEM. */
int sl_seg_encode(const struct sl_seg_event *ev, struct sl_buf **out);

/*
 * Decodes n bytes into *out (ranges allocated). Returns 0, SL_ETRUNC, SL_ECORRUPT (bad magic,
 * trailing bytes, a range outside the object, a zero count, a bad key, offsets that overflow,
 * an idempotent write outside its range or out of order, "segment.range.idem..."),
 * SL_ENOTSUP (another version), SL_ERANGE (a value out of its field's range), SL_ENOMEM; *why
 * names the field on failure. On failure *out holds nothing to release.
 */
int sl_seg_decode(const uint8_t *p, size_t n, struct sl_seg_event *out, const char **why);

/* Frees a decoded event's ranges. Safe on a zeroed event. */
void sl_seg_event_release(struct sl_seg_event *ev);

/*
 * A batch object shared by the segments that point into it. Its reference count is atomic
 * because after a restart with another worker count the partitions of one object may belong
 * to different workers; whoever drops the last reference deletes the object.
 */
struct sl_dobj {
	uint64_t refs; /* atomic: segments that reference the object */
	uint64_t size;
	char key[]; /* NUL-terminated */
};

struct sl_dobj *sl_dobj_new(const char *key, uint64_t size);
void sl_dobj_ref(struct sl_dobj *o);
/* Drops a reference. Returns true when it was the last one: the caller must delete the object
 * from the store and then free the struct with sl_dobj_free. */
bool sl_dobj_unref(struct sl_dobj *o);
void sl_dobj_free(struct sl_dobj *o);

/* One segment of a partition's index: records [first, first + count) in o at [off, off + len).
 * Holds one reference on o. */
struct sl_dseg {
	uint64_t first;
	uint64_t count;
	uint64_t off, len;
	uint64_t bytes;
	uint64_t wall_ms;
	struct sl_dobj *obj;
};

/*
 * Retention, the one rule the owner worker and recovery share: how many of a partition's
 * oldest segments segs[0 .. n) go. By age (age_ms > 0), every segment flushed at or before
 * wall_ms - age_ms (its wall_ms is its newest record's); by bytes (keep_bytes > 0), the oldest
 * while the object bytes that stay (bytes in all, minus the dropped ones) are still at least
 * keep_bytes. Whole segments only, from the oldest on, never one that ends above durable, and
 * never the newest (like a log's active segment: it says where the offsets continue).
 */
uint32_t sl_dseg_expired(const struct sl_dseg *segs, uint32_t n, uint64_t durable, uint64_t bytes,
			 uint64_t age_ms, uint64_t keep_bytes, uint64_t wall_ms);

#endif
