/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_MANIFEST_H
#define SL_BUFFER_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "core/buf.h"

/*
 * The manifest queue: one object in the object store that lists, in order, the data batches
 * producers have written and the consumer has not yet acknowledged. Its byte layout is the one
 * of opendata's buffer (queue.rs, manifest version 1), so either implementation reads the other's
 * manifests; docs/buffer.md describes it byte by byte. All integers are little-endian.
 *
 *   entry*  footer
 *   entry  = u32 body_len | u64 sequence | u16 location_len | location | u32 meta_count | meta*
 *   meta   = u32 start_index | i64 ingestion_time_ms | u32 payload_len | payload
 *   footer = u32 entry_count | u64 next_sequence | u64 epoch | u16 version   (22 bytes)
 *
 * Sequences are gapless: the entries hold next_sequence - entry_count .. next_sequence - 1.
 * Enqueue appends an entry with next_sequence and increments it; dequeue(through) drops the
 * prefix of entries with sequence <= through. The epoch belongs to the single consumer: fencing
 * increments it, and a consumer whose epoch no longer matches may not read or dequeue.
 *
 * This header has two parts: a pure codec (no allocation, no I/O), and an asynchronous client
 * that applies operations with read-modify-write cycles made safe by conditional puts on the etag
 * that was read. Conflicts are retried with jittered exponential backoff, a bounded number of
 * times (opendata retries forever).
 */

#define SL_MANIFEST_VERSION	 1
#define SL_MANIFEST_FOOTER_LEN	 22
#define SL_MANIFEST_LOCATION_MAX 65535
/* The epoch of a client that has not fenced; no manifest ever carries it. */
#define SL_MANIFEST_NO_EPOCH UINT64_MAX

/* One metadata range of an entry: what a producer call attached to the batch. */
struct sl_manifest_meta {
	uint32_t start_index;	   /* index in the batch of the call's first record */
	int64_t ingestion_time_ms; /* wall-clock milliseconds since the Unix epoch */
	const uint8_t *payload;	   /* opaque bytes from the producer call (may be NULL if len 0) */
	uint32_t payload_len;
};

struct sl_manifest_footer {
	uint32_t count;
	uint64_t next_sequence;
	uint64_t epoch;
	uint16_t version;
};

/* One entry as it lies in the manifest bytes (pointers into them, nothing copied). */
struct sl_manifest_rec {
	uint64_t sequence;
	const char *location; /* not NUL-terminated */
	uint16_t location_len;
	uint32_t meta_count;
	const uint8_t *meta; /* meta_count encoded metas up to meta_end */
	const uint8_t *meta_end;
	const uint8_t *raw; /* the whole encoded entry (length prefix included) */
	uint32_t raw_len;
};

/* A cursor over the entries of a manifest. */
struct sl_manifest_iter {
	const uint8_t *p;
	const uint8_t *end; /* start of the footer */
	uint32_t left;
	uint64_t expect;	/* sequence the next entry must carry */
	uint64_t next_sequence; /* from the footer */
};

/*
 * Decodes the footer of the n bytes at p. Errors (*why, if not NULL, names the failure in a
 * static string): SL_ETRUNC ("empty manifest", "shorter than the footer"), SL_ENOTSUP
 * ("unknown manifest version"), SL_ECORRUPT ("entry count exceeds next sequence").
 */
int sl_manifest_footer_decode(const uint8_t *p, size_t n, struct sl_manifest_footer *f,
			      const char **why);

/* Decodes the footer (errors of sl_manifest_footer_decode) and starts it at the first entry. */
int sl_manifest_iter_init(struct sl_manifest_iter *it, const uint8_t *p, size_t n,
			  struct sl_manifest_footer *f, const char **why);

/*
 * Decodes the next entry. Returns 0, SL_EEOF after the last one, SL_ETRUNC (an entry or one of
 * its fields runs past the entries area), or SL_ECORRUPT (body length smaller than its fields,
 * metadata not filling the body exactly, a sequence out of the gapless run, bytes left over after
 * the counted entries). *why names the failure.
 */
int sl_manifest_iter_next(struct sl_manifest_iter *it, struct sl_manifest_rec *rec,
			  const char **why);

/*
 * Decodes metadata number k (0-based, in order: call it with k = 0, 1, ... advancing *cursor,
 * which starts at rec->meta). Returns 0 or SL_EEOF after the last; the iterator already checked
 * the bounds, so no other error is possible for a rec it produced.
 */
int sl_manifest_meta_next(const struct sl_manifest_rec *rec, const uint8_t **cursor,
			  struct sl_manifest_meta *m);

/* Walks the whole manifest. Returns 0 or an error of the iterator functions. */
int sl_manifest_validate(const uint8_t *p, size_t n, struct sl_manifest_footer *f,
			 const char **why);

/* Bytes of an encoded entry. */
size_t sl_manifest_entry_len(size_t location_len, const struct sl_manifest_meta *meta,
			     uint32_t nmeta);

/*
 * Encodes one entry at out (which has room for sl_manifest_entry_len bytes). Returns the bytes
 * written, or 0 if location_len is 0 or above SL_MANIFEST_LOCATION_MAX or the entry would exceed
 * a u32 length.
 */
size_t sl_manifest_entry_encode(uint8_t *out, uint64_t sequence, const char *location,
				size_t location_len, const struct sl_manifest_meta *meta,
				uint32_t nmeta);

/* Writes the 22-byte footer at out. */
void sl_manifest_footer_encode(uint8_t *out, const struct sl_manifest_footer *f);

/* ---- the asynchronous client ---- */

struct sl_manifest;

struct sl_manifest_config {
	const char *key;	 /* object key of the manifest (copied) */
	uint32_t max_attempts;	 /* conditional puts per operation before SL_EBUSY; default 16 */
	uint64_t backoff_min_ns; /* first retry delay (before jitter); default 1 ms */
	uint64_t backoff_max_ns; /* cap of the doubling delay; default 100 ms */
	uint64_t seed;		 /* seeds the jitter PRNG, so tests replay exactly; default 1 */
};

struct sl_manifest_stats {
	uint64_t reads;	    /* manifest GETs completed */
	uint64_t writes;    /* conditional puts attempted */
	uint64_t conflicts; /* of which failed their precondition */
	uint64_t exhausted; /* operations that gave up after max_attempts conflicts */
	uint64_t fenced;    /* operations refused with SL_EFENCED */
	uint64_t corrupt;   /* manifests that failed to decode */
	uint64_t errors;    /* other object-store errors */
};

enum sl_manifest_kind {
	SL_MANIFEST_READ = 1,
	SL_MANIFEST_ENQUEUE = 2,
	SL_MANIFEST_DEQUEUE = 3,
	SL_MANIFEST_FENCE = 4,
};

/*
 * One operation, owned by the caller (embed it; no allocation per operation except the new
 * manifest body of each write attempt). Not to be touched between start and its done call.
 */
struct sl_manifest_op {
	/* ---- filled by the caller before start (or by the start function) ---- */
	void (*done)(struct sl_manifest_op *op);
	void *user;

	/* ---- results, valid in done ---- */
	int result;
	struct sl_manifest_footer footer; /* as read (READ) or as written (writes) */
	struct sl_buf *data;		  /* READ: the manifest bytes, NULL if it does not exist;
					     released by sl_manifest_op_release */
	uint64_t sequence;		  /* ENQUEUE: the sequence assigned */
	uint32_t removed;		  /* DEQUEUE: entries removed */
	uint32_t attempts;		  /* conditional puts attempted */

	/* ---- private ---- */
	enum sl_manifest_kind kind_;
	int state_;
	struct sl_manifest *m_;
	struct sl_obj_req req_;
	struct sl_buf *entry_; /* ENQUEUE: the encoded entries, sequences patched per attempt */
	uint32_t nentries_;    /* ENQUEUE: entries in entry_ */
	uint64_t through_;
	uint64_t delay_ns_;
	uint64_t due_ns_;
	struct sl_manifest_op *next_;
};

void sl_manifest_config_default(struct sl_manifest_config *c);

/* Creates a client of the manifest at cfg->key in s. Returns NULL on allocation failure or an
 * invalid key. The client has no epoch until it fences. */
struct sl_manifest *sl_manifest_new(struct sl_objstore *s, const struct sl_manifest_config *cfg);

/* Frees the client. No operation may be in flight (the caller's bug otherwise). */
void sl_manifest_free(struct sl_manifest *m);

/*
 * Reads the manifest. If the client has fenced, the manifest's epoch must be the client's, else
 * the operation fails with SL_EFENCED; a client that never fenced (a producer, the GC) reads any
 * epoch. A missing manifest reads as empty (data NULL, footer zero, version 1).
 * Start errors (done is not called): SL_EBUSY (op in flight), and those of sl_objstore_submit.
 * Completion errors: SL_EFENCED, decoder errors (SL_ETRUNC, SL_ENOTSUP, SL_ECORRUPT), object
 * store errors.
 */
int sl_manifest_read(struct sl_manifest *m, struct sl_manifest_op *op);

/*
 * Appends an entry for the batch at location with nmeta metadata ranges (copied now) and the
 * next sequence, keeping the manifest's epoch. Start errors: SL_EINVAL (location empty or too
 * long), SL_ENOMEM, those of sl_manifest_read. Completion errors: SL_EBUSY (max_attempts
 * conflicts), SL_EBOUNDS (u32 entry count or u64 sequence would overflow), the decoder's, object
 * store errors.
 */
int sl_manifest_enqueue(struct sl_manifest *m, struct sl_manifest_op *op, const char *location,
			const struct sl_manifest_meta *meta, uint32_t nmeta);

/* One entry of sl_manifest_enqueue_many. */
struct sl_manifest_entry_in {
	const char *location;
	const struct sl_manifest_meta *meta;
	uint32_t nmeta;
};

/*
 * Appends n entries (copied now) in ONE read-modify-write: they get consecutive sequences, the
 * first in op->sequence, and all land or none does. A writer with many entries waiting pays one
 * manifest read and write for all of them instead of one each. Errors as sl_manifest_enqueue;
 * n == 0 is SL_EINVAL.
 */
int sl_manifest_enqueue_many(struct sl_manifest *m, struct sl_manifest_op *op,
			     const struct sl_manifest_entry_in *e, uint32_t n);

/*
 * Removes every entry with sequence <= through (none is fine: nothing is written). Requires the
 * client's epoch. Completion errors: SL_EFENCED, SL_EBUSY, the decoder's, object store errors.
 */
int sl_manifest_dequeue(struct sl_manifest *m, struct sl_manifest_op *op, uint64_t through);

/*
 * Makes this client the consumer: increments the manifest's epoch (creating an empty manifest
 * if there is none) and adopts it, which fences the previous consumer. Completion errors:
 * SL_EBUSY, the decoder's, object store errors.
 */
int sl_manifest_fence(struct sl_manifest *m, struct sl_manifest_op *op);

/* Releases what a finished operation holds (op->data) so op can be reused. */
void sl_manifest_op_release(struct sl_manifest_op *op);

/*
 * Restarts operations whose backoff delay has passed. The delay of a conflict starts at the
 * first poll after it. Returns the number of operations restarted.
 */
int sl_manifest_poll(struct sl_manifest *m, uint64_t now_ns);

/* Operations started and not yet done. */
uint32_t sl_manifest_inflight(const struct sl_manifest *m);

/* The entry count as of the client's last successful read or write. */
uint32_t sl_manifest_len(const struct sl_manifest *m);

/* The client's epoch (SL_MANIFEST_NO_EPOCH before fencing). */
uint64_t sl_manifest_epoch(const struct sl_manifest *m);

const char *sl_manifest_key(const struct sl_manifest *m);

void sl_manifest_stats(const struct sl_manifest *m, struct sl_manifest_stats *out);

/* conflicts / writes as a fraction in [0, 1] (0 before any write). */
double sl_manifest_conflict_rate(const struct sl_manifest *m);

/*
 * Starts nothing: drives op (already started) to completion by polling the store and m, moving
 * the fake clock *now_ns by step_ns per round. For tests and tools only. Returns op->result.
 */
int sl_manifest_run(struct sl_manifest *m, struct sl_manifest_op *op, uint64_t *now_ns,
		    uint64_t step_ns);

#endif
