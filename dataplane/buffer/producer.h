/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_PRODUCER_H
#define SL_BUFFER_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "buffer/batch.h"
#include "buffer/manifest.h"
#include "buffer/objstore.h"

/*
 * The buffer producer (opendata's buffer Producer), as a sans-IO engine. Each produce call hands
 * over a list of entries and one opaque metadata payload; calls accumulate into the current
 * batch, where each call becomes one metadata range (index of its first entry, ingestion time).
 * A batch is flushed when its bytes reach flush_size_bytes, when flush_interval_ns passed since
 * its first call, on an explicit flush and on close. A flush encodes the batch, writes it as
 * "<data_prefix>/<ULID>.batch" (ULIDs are time-ordered and unique per producer), then enqueues
 * that location in the manifest. Every call of the batch completes with the same result: 0 once
 * the manifest lists the batch (durable), or the error of the put or the enqueue. An object whose
 * enqueue failed is left for the GC (it is unreferenced and ages past the grace period).
 *
 * One flush is in flight at a time; calls made meanwhile go to the next batch. done functions
 * are called from sl_objstore_poll or sl_producer_poll, never from inside a start call. now_ns is
 * wall-clock nanoseconds: it names the objects and stamps ingestion times.
 */

struct sl_producer_config {
	const char *manifest_key;   /* default "manifest" */
	const char *data_prefix;    /* default "data" */
	uint64_t flush_interval_ns; /* default 100 ms */
	uint64_t flush_size_bytes;  /* entry + metadata bytes; default 8 MiB */
	enum sl_batch_format format;
	enum sl_batch_compression compression;
	struct sl_manifest_config manifest; /* retry policy; key replaced by manifest_key */
	uint64_t seed; /* ULID randomness (deterministic for tests); default 1 */
	/*
	 * Backpressure: while a flush is in flight, the next batch takes produce calls only up to
	 * these many entry + metadata bytes and entries; a call that would pass either limit fails
	 * with SL_ENOSPC (counted in rejected_full) and the caller retries after a completion. A
	 * call into an empty batch is always taken, so one call larger than the limit still goes.
	 * Defaults 64 MiB and 1 Mi entries; 0 means the default.
	 */
	uint64_t max_buffered_bytes;
	uint32_t max_buffered_entries;
};

struct sl_producer_stats {
	uint64_t calls;
	uint64_t batches_flushed; /* written and enqueued */
	uint64_t entries_flushed;
	uint64_t bytes_flushed; /* raw entry bytes */
	uint64_t bytes_written; /* encoded object bytes */
	uint64_t flush_failed;
	uint64_t put_failed;
	uint64_t enqueue_failed; /* objects left for the GC */
	uint64_t rejected_full;	 /* produce calls refused with SL_ENOSPC (backpressure) */
};

/* One produce, flush or close call, owned by the caller. */
struct sl_producer_call {
	void (*done)(struct sl_producer_call *call);
	void *user;
	int result;
	int64_t ingestion_time_ms; /* produce: the stamp of its metadata range */
	/* private */
	struct sl_producer_call *next_;
	bool pending_;
};

struct sl_producer;

void sl_producer_config_default(struct sl_producer_config *c);

/* NULL on allocation failure or invalid keys. */
struct sl_producer *sl_producer_new(struct sl_objstore *s, const struct sl_producer_config *cfg);

/* Frees p. Calls still pending are completed with SL_ECLOSED; nothing may be in flight on the
 * store (close first, or destroy the store first). */
void sl_producer_free(struct sl_producer *p);

/*
 * Adds n entries (copied) and the metadata payload (copied) as one call. Start errors (done not
 * called): SL_EINVAL (n == 0, NULL pointers), SL_EBUSY (call pending), SL_ECLOSED (closing or
 * closed), SL_ERANGE (meta or the batch over the u32 limits), SL_ENOSPC (a flush is in flight and
 * the next batch is full: max_buffered_bytes / max_buffered_entries), SL_ENOMEM. Completion: 0
 * (durable) or the error of the flush (object store errors, SL_EBUSY after manifest conflicts, the
 * batch encoder's).
 */
int sl_producer_produce(struct sl_producer *p, struct sl_producer_call *call,
			const struct iovec *entries, uint32_t n, const void *meta,
			uint32_t meta_len, uint64_t now_ns);

/* Completes once every call made before it is durable, with the result of the last batch it
 * waited for (0 when there was nothing to flush). Start errors: SL_EBUSY, SL_ECLOSED. */
int sl_producer_flush(struct sl_producer *p, struct sl_producer_call *call, uint64_t now_ns);

/* Flushes, then refuses further produce calls with SL_ECLOSED. */
int sl_producer_close(struct sl_producer *p, struct sl_producer_call *call, uint64_t now_ns);

/* Starts due flushes (interval, size, pending flush calls), drives manifest retries and deferred
 * completions. Returns the number of events. */
int sl_producer_poll(struct sl_producer *p, uint64_t now_ns);

/* Drives the store and p until call completes, advancing *now_ns by step_ns (tests, tools). */
int sl_producer_run(struct sl_producer *p, struct sl_producer_call *call, uint64_t *now_ns,
		    uint64_t step_ns);

bool sl_producer_idle(const struct sl_producer *p); /* nothing buffered or in flight */
void sl_producer_stats(const struct sl_producer *p, struct sl_producer_stats *out);
double sl_producer_conflict_rate(const struct sl_producer *p);
struct sl_manifest *sl_producer_manifest(struct sl_producer *p);

#endif
