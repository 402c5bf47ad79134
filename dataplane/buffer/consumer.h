/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_CONSUMER_H
#define SL_BUFFER_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "buffer/batch.h"
#include "buffer/manifest.h"
#include "buffer/objstore.h"

/*
 * The buffer consumer (opendata's buffer Consumer, see ../shared/reference/
 * opendata-buffer-consumer.rs and RFC 0003), as a sans-IO engine over the asynchronous object
 * store. One consumer owns the manifest's epoch: opening it fences the previous one, and every
 * manifest operation of a fenced consumer fails with SL_EFENCED.
 *
 * Two cursors: the read-ahead cursor (last handed out) and the ack frontier (last acked).
 *   next_batch        reads the manifest, fetches the first entry past the read-ahead cursor and
 *                     moves the cursor only once the fetch succeeded (a failed or cancelled
 *                     next_batch re-issues the same entry).
 *   next_descriptors  hands out up to max descriptors past the cursor and moves it at once: a
 *                     handed-out descriptor is never reissued within this consumer; recovery is
 *                     re-opening from the last durable ack.
 *   fetch handle      a stateless value (the store and limits) that fetches a descriptor's batch;
 *                     any number of callers may use copies of it, in parallel with the owner.
 *   ack(seq)          in order (seq == last acked + 1); the manifest is dequeued every 100 acks.
 *   ack_through(seq)  dequeues through seq first, then moves the frontier; seq must be above it.
 *   flush             dequeues through the last ack. close = flush, then the GC stops.
 *
 * Operations: the caller owns a struct sl_consumer_op, starts one operation at a time on a
 * consumer (SL_EBUSY otherwise), and gets done() from a later sl_objstore_poll or
 * sl_consumer_poll — never from inside the start call. The caller's loop polls the store and
 * the consumer (which drives manifest retries, the GC and deferred completions) with now_ns,
 * wall-clock nanoseconds (the GC compares it with batch name times).
 */

/* A manifest entry handed to the caller: one allocation holding everything. */
struct sl_buffer_desc {
	uint64_t sequence;
	char *location;
	uint32_t nmeta;
	struct sl_manifest_meta *meta; /* payloads point into the same allocation */
};

/* Copies a descriptor (one allocation). NULL on allocation failure. */
struct sl_buffer_desc *sl_buffer_desc_dup(const struct sl_buffer_desc *d);
void sl_buffer_desc_free(struct sl_buffer_desc *d);

/* A fetched batch: its descriptor and its decoded entries (slices into one buffer). */
struct sl_consumed_batch {
	struct sl_buffer_desc *desc;
	struct sl_batch batch;
	uint64_t bytes; /* object size */
};

/* Frees the descriptor and releases the entries; zeroes b. */
void sl_consumed_batch_release(struct sl_consumed_batch *b);

/* The stateless fetch handle: copy it freely. */
struct sl_fetch_handle {
	struct sl_objstore *store;
	struct sl_batch_limits limits;
};

struct sl_fetch_op {
	void (*done)(struct sl_fetch_op *op);
	void *user;
	int result;
	struct sl_consumed_batch out; /* valid when result == 0; the caller releases it */
	/* private */
	struct sl_obj_req req_;
	struct sl_batch_limits limits_;
	bool busy_;
};

/*
 * Fetches and decodes the batch named by d (copied). Start errors: SL_EBUSY (op in flight),
 * SL_ENOMEM, submit errors. Completion errors: object store errors (SL_ENOTFOUND when the object
 * is gone), batch decoder errors (SL_ETRUNC, SL_ECORRUPT, SL_ERANGE).
 */
int sl_fetch_start(const struct sl_fetch_handle *h, struct sl_fetch_op *op,
		   const struct sl_buffer_desc *d);

/* Drives a started fetch to completion polling h->store with a fake clock (tests, tools). */
int sl_fetch_run(const struct sl_fetch_handle *h, struct sl_fetch_op *op, uint64_t *now_ns,
		 uint64_t step_ns);

#define SL_CONSUMER_DEQUEUE_INTERVAL 100

struct sl_consumer_config {
	const char *manifest_key;	    /* default "manifest" */
	const char *data_prefix;	    /* default "data" */
	bool gc_enabled;		    /* run a GC from sl_consumer_poll; default true */
	uint64_t gc_interval_ns;	    /* default 300 s */
	uint64_t gc_grace_ns;		    /* default 600 s */
	struct sl_manifest_config manifest; /* retry policy; its key is replaced by manifest_key */
	struct sl_batch_limits limits;
};

struct sl_consumer_stats {
	uint64_t batches_collected;
	uint64_t entries_collected;
	uint64_t bytes_collected;
	uint64_t descriptors_handed_out;
	uint64_t acks;
	int64_t lag_ms; /* now - ingestion time of the last fetched batch's last range */
};

struct sl_consumer;

struct sl_consumer_op {
	void (*done)(struct sl_consumer_op *op);
	void *user;
	int result;
	/* NEXT_BATCH and FETCH: has_batch says whether batch holds one (release it). */
	bool has_batch;
	struct sl_consumed_batch batch;
	/* NEXT_DESCRIPTORS: the caller's array and its size; ndescs filled (free each one). */
	struct sl_buffer_desc **descs;
	uint32_t max;
	uint32_t ndescs;
	/* private */
	int kind_;
	int state_;
	bool cancelled_;
	uint64_t seq_;
	struct sl_buffer_desc *desc_;
	struct sl_consumer *c_;
	struct sl_manifest_op mop_;
	struct sl_fetch_op fop_;
	struct sl_consumer_op *next_;
};

void sl_consumer_config_default(struct sl_consumer_config *c);

/* Creates a consumer (not yet open). NULL on allocation failure or invalid keys. */
struct sl_consumer *sl_consumer_new(struct sl_objstore *s, const struct sl_consumer_config *cfg);

/* Frees c; no operation may be in flight. Close it first to flush acks. A GC cycle in flight
 * is abandoned safely: its memory goes when the store completes its request (sl_gc_free). */
void sl_consumer_free(struct sl_consumer *c);

/*
 * Opens: fences the previous consumer (the manifest's epoch is incremented and adopted) and, if
 * has_last_acked, dequeues through last_acked and resumes after it. Completion errors: those of
 * sl_manifest_fence and sl_manifest_dequeue. Start errors (for every operation): SL_EBUSY,
 * SL_ECLOSED (closed, or for anything but open: not open), submit errors.
 */
int sl_consumer_open(struct sl_consumer *c, struct sl_consumer_op *op, bool has_last_acked,
		     uint64_t last_acked);

/* The next batch past the read-ahead cursor, fetched; has_batch false when there is none.
 * Completion errors: SL_EFENCED, manifest decoder errors, fetch errors, SL_ECANCEL. */
int sl_consumer_next_batch(struct sl_consumer *c, struct sl_consumer_op *op);

/* Up to max descriptors past the cursor (max 0: none, without reading the manifest).
 * Completion errors: SL_EFENCED, manifest decoder errors, SL_ENOMEM. */
int sl_consumer_next_descriptors(struct sl_consumer *c, struct sl_consumer_op *op,
				 struct sl_buffer_desc **descs, uint32_t max);

/* Fetches d through the consumer (like its fetch handle) and advances the last-fetched cursor
 * and the lag counter. Completion errors: those of sl_fetch_start. */
int sl_consumer_fetch(struct sl_consumer *c, struct sl_consumer_op *op,
		      const struct sl_buffer_desc *d);

/* Acknowledges seq, which must follow the last ack (else SL_EINVAL at start, nothing changes).
 * Every 100th ack dequeues through seq (completion errors: those of sl_manifest_dequeue). */
int sl_consumer_ack(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t seq);

/* Dequeues through seq, then moves the ack frontier; on error nothing changes. SL_EINVAL at
 * start when seq <= last acked. */
int sl_consumer_ack_through(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t seq);

/* Dequeues through the last ack (nothing to do without one). */
int sl_consumer_flush(struct sl_consumer *c, struct sl_consumer_op *op);

/* Flushes, then stops the GC (waiting for a running cycle). Later starts fail with SL_ECLOSED.
 * A failed flush leaves the consumer open. */
int sl_consumer_close(struct sl_consumer *c, struct sl_consumer_op *op);

/* Cancels a next_batch or fetch in flight: it completes with SL_ECANCEL and moves no cursor.
 * Returns 0, or SL_EINVAL if op is not such an operation in flight. */
int sl_consumer_cancel(struct sl_consumer *c, struct sl_consumer_op *op);

/* Drives manifest retries, the GC and deferred completions. Returns the number of events. */
int sl_consumer_poll(struct sl_consumer *c, uint64_t now_ns);

/* Drives a started op to completion: polls the store and c, advancing *now_ns by step_ns. */
int sl_consumer_run(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t *now_ns,
		    uint64_t step_ns);

void sl_consumer_fetch_handle(const struct sl_consumer *c, struct sl_fetch_handle *out);

/* Entries in the manifest as of the last read or write. */
uint32_t sl_consumer_len(const struct sl_consumer *c);
double sl_consumer_conflict_rate(const struct sl_consumer *c);
bool sl_consumer_last_acked(const struct sl_consumer *c, uint64_t *seq);
bool sl_consumer_last_handed_out(const struct sl_consumer *c, uint64_t *seq);
bool sl_consumer_last_fetched(const struct sl_consumer *c, uint64_t *seq);
void sl_consumer_stats(const struct sl_consumer *c, struct sl_consumer_stats *out);
struct sl_manifest *sl_consumer_manifest(struct sl_consumer *c);
struct sl_gc *sl_consumer_gc(struct sl_consumer *c);

#endif
