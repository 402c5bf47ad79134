/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_STREAMSET_H
#define SL_LOG_STREAMSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Streams as the data plane sees them: an immutable, reference-counted set of stream
 * definitions. The control plane owns the catalogue (control/streams.h, kept in the data
 * directory); whenever it changes, the control core builds a new set and sends every worker a
 * reference, so a worker resolves a stream name in its own copy without asking anyone, and a
 * set in use is never modified. References may be dropped on any core.
 */

#define SL_STREAM_NAME_MAX	   249
#define SL_STREAM_MAX_PARTITIONS   4096
#define SL_STREAM_MAX_RECORD_BYTES (16u << 20)

struct sl_stream_def {
	uint64_t id; /* assigned at creation, never reused: segments name streams by it */
	char name[SL_STREAM_NAME_MAX + 1];
	uint32_t partitions;	   /* 1 .. SL_STREAM_MAX_PARTITIONS, fixed at creation */
	uint32_t max_record_bytes; /* 1 .. SL_STREAM_MAX_RECORD_BYTES */
	uint64_t retention_age_ns; /* 0: keep forever */
	uint64_t retention_bytes;  /* per partition; 0: no limit */
	uint64_t created_wall_ns;
	/* Batch export (docs/operator.md, "Export streams"): each durable flush of the stream is
	 * listed in its manifest queue "export/<name>/manifest" for `shardctl export`. */
	bool export_enabled;
	uint64_t export_max_age_ns; /* 0: batches stay pinned until acknowledged */
};

struct sl_stream_set {
	/* private: the reference count (atomic) */
	uint32_t refs_;
	uint32_t count;
	uint64_t version; /* increases with every catalogue change */
	/* sorted by name (strcmp order) */
	struct sl_stream_def defs[];
};

/* Whether name (n bytes, not NUL-terminated) is a valid stream name: 1 .. 249 bytes of
 * [A-Za-z0-9._-], and neither "." nor "..". */
bool sl_stream_name_valid(const char *name, size_t n);

/* Builds a set of n definitions (copied and sorted) with one reference. Returns NULL on
 * allocation failure or when two definitions share a name or an id. */
struct sl_stream_set *sl_stream_set_new(const struct sl_stream_def *defs, uint32_t n,
					uint64_t version);
struct sl_stream_set *sl_stream_set_ref(struct sl_stream_set *s);
/* Drops a reference (any core); the last one frees the set. NULL is ignored. */
void sl_stream_set_unref(struct sl_stream_set *s);

/* Looks a stream up by name (n bytes) or by id; NULL when absent. O(log n) / O(n). */
const struct sl_stream_def *sl_stream_set_find(const struct sl_stream_set *s, const char *name,
					       size_t n);
const struct sl_stream_def *sl_stream_set_find_id(const struct sl_stream_set *s, uint64_t id);

/* The slot of the shard map (0 .. slots-1) that owns partition p of the stream named name: a
 * hash of the name and the partition number, so ownership follows the name whatever the
 * stream's id. slots must be a power of two. */
uint32_t sl_stream_partition_slot(const char *name, uint32_t partition, uint32_t slots);

#endif
