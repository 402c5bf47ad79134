/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_GC_H
#define SL_BUFFER_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"

/*
 * The garbage collector of data batches. Producers write a batch object, then enqueue it; a
 * producer that fails or dies between the two leaves an object no manifest entry names, and the
 * consumer's dequeues leave objects nobody needs any more. A GC cycle reads the manifest, lists
 * "<data_prefix>/" and deletes a batch object only when all of these hold:
 *
 *   - its name is "<ULID>.batch" (anything else under the prefix is not ours and is kept);
 *   - it is not referenced by the manifest;
 *   - its ULID time is older than the oldest batch the manifest references (a newer object may
 *     be a batch whose enqueue is still in flight);
 *   - its ULID time is older than now - grace.
 *
 * Cycles start every interval (driven by sl_gc_poll's now_ns, which is wall-clock nanoseconds,
 * since ULID times are). A failed delete is counted and simply retried by the next cycle, which
 * finds the object again; a failed cycle (manifest or LIST error) is counted and retried at the
 * next interval.
 */

/* ULIDs: 48-bit millisecond time + 80 random bits, 26 Crockford base-32 characters. */
#define SL_ULID_LEN 26

/* Writes the ULID of (ms, rnd[10]) and a NUL into out[27]. */
void sl_ulid_encode(uint64_t ms, const uint8_t rnd[10], char out[SL_ULID_LEN + 1]);

/* Parses a 26-character ULID (case-insensitive); stores its time in *ms. Returns 0 or SL_EINVAL
 * (wrong length, a character outside the alphabet, or a value above 2^128). */
int sl_ulid_time(const char *s, size_t n, uint64_t *ms);

/* The ULID time of a batch key ".../<ULID>.batch". Returns 0 or SL_EINVAL. */
int sl_gc_batch_time(const char *key, uint64_t *ms);

struct sl_gc_config {
	const char *manifest_key; /* copied */
	const char *data_prefix;  /* copied; objects are listed under "<data_prefix>/" */
	uint64_t interval_ns;	  /* between cycle starts; default 300 s */
	uint64_t grace_ns;	  /* minimum age of a deleted object; default 600 s */
	uint32_t list_page;	  /* LIST page size; default 1000 */
};

struct sl_gc_stats {
	uint64_t cycles; /* cycles completed without a manifest or LIST error */
	uint64_t cycles_failed;
	uint64_t deleted;
	uint64_t delete_failed; /* retried by the next cycle */
	uint64_t kept_referenced;
	uint64_t kept_young;   /* within the grace period or not older than the oldest entry */
	uint64_t kept_foreign; /* not a "<ULID>.batch" name */
	int last_error;
};

struct sl_gc;

void sl_gc_config_default(struct sl_gc_config *c);

/* Returns a collector, or NULL on allocation failure or invalid keys. */
struct sl_gc *sl_gc_new(struct sl_objstore *s, const struct sl_gc_config *cfg);

/* Frees gc. If a cycle is running, the store still holds one of its requests: the memory is
 * then released when that request completes (a later sl_objstore_poll, or the store's destroy),
 * the cycle stops there and its done is not called. Either way gc must not be used again. */
void sl_gc_free(struct sl_gc *gc);

/*
 * Starts a cycle when one is due: the first at the first poll + interval, then every interval
 * after the previous start. Returns 1 if a cycle was started, else 0.
 */
int sl_gc_poll(struct sl_gc *gc, uint64_t now_ns);

/*
 * Starts one cycle now, judging ages against now_ns; done (may be NULL) is called with the cycle
 * result from a later store poll. Returns 0, SL_EBUSY (a cycle is running), or a submit error.
 */
int sl_gc_collect(struct sl_gc *gc, uint64_t now_ns,
		  void (*done)(struct sl_gc *gc, int rc, void *user), void *user);

bool sl_gc_running(const struct sl_gc *gc);

void sl_gc_stats(const struct sl_gc *gc, struct sl_gc_stats *out);

/* Runs one cycle to completion by polling the store (tests and tools). Returns its result. */
int sl_gc_run_once(struct sl_gc *gc, uint64_t now_ns);

#endif
