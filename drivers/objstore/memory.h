/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_OBJSTORE_MEMORY_H
#define SL_OBJSTORE_MEMORY_H

#include <stdbool.h>
#include <stdint.h>

#include "buffer/objstore.h"

/*
 * The in-process object store: a sorted table of keys in memory behind the asynchronous
 * objstore.h interface, for tests, benchmarks and tools. It is single-threaded (submit, poll and
 * the fault-injection calls must come from one thread) and it never reads a clock: a request
 * takes effect when a poll completes it, and that poll's now_ns is the object's mtime_ns.
 *
 * Semantics it shares with every backend: etags change on every successful put (they are
 * "m<generation>" with a store-wide generation counter, so a re-put of the same bytes gets a new
 * etag too); conditional puts compare the etag at completion time; LIST returns keys in byte
 * order with prefix, start_after and max_keys paging; whole-object GETs return a reference to
 * the stored buffer (no copy), ranged GETs a copy.
 *
 * Fault injection lets tests reach every error path: fail the next N operations of a kind with a
 * chosen error, delay completions until a poll's now_ns passes a due time, and force a
 * precondition failure on the next conditional put(s). Injected failures do not change stored
 * state.
 */

struct sl_objstore_memory_config {
	/* Requests that may be queued at once; submit returns SL_ENOSPC beyond it. Default 65536.
	 */
	uint32_t max_queued;
	/* Completions per poll call; 0 = all that are due. Default 0. */
	uint32_t max_per_poll;
};

/* Counters of the store, for tests and benchmarks. */
struct sl_objstore_memory_stats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t ops[6];   /* completed requests by enum sl_obj_op (index 1..5) */
	uint64_t injected; /* completions failed by fault injection (including forced EPRECOND) */
	uint64_t preconds; /* conditional puts that failed their precondition (real or forced) */
	uint64_t objects;  /* keys stored now */
	uint64_t bytes;	   /* payload bytes stored now */
};

void sl_objstore_memory_config_default(struct sl_objstore_memory_config *c);

/*
 * Creates an empty store. cfg NULL means defaults. Returns the store (release it with
 * sl_objstore_memory_destroy, or through its ops->destroy), or NULL on allocation failure.
 */
struct sl_objstore *sl_objstore_memory_new(const struct sl_objstore_memory_config *cfg);

/* Completes every queued request with SL_ECLOSED, then frees the store. NULL is ignored. */
void sl_objstore_memory_destroy(struct sl_objstore *s);

/* Returns true if s was created by sl_objstore_memory_new (the calls below require it). */
bool sl_objstore_is_memory(const struct sl_objstore *s);

/*
 * Fails the next n completions of op (an enum sl_obj_op; 0 = any kind) with err (negative),
 * replacing any earlier setting for that kind. n = 0 clears it. Returns 0 or SL_EINVAL.
 */
int sl_objstore_memory_fail_next(struct sl_objstore *s, int op, uint32_t n, int err);

/*
 * Delays completions of op (0 = every kind): a request submitted from now on completes only in a
 * poll whose now_ns is at least (now_ns of the latest poll before the submit) + delay_ns.
 * Completion order stays FIFO among requests that are due. delay_ns = 0 clears it.
 * Returns 0 or SL_EINVAL.
 */
int sl_objstore_memory_delay(struct sl_objstore *s, int op, uint64_t delay_ns);

/*
 * Holds every queued and future request until a poll with now_ns >= until_ns (a pause of the
 * whole store, as a stalled network would). until_ns = 0 releases it.
 */
void sl_objstore_memory_hold_until(struct sl_objstore *s, uint64_t until_ns);

/* Makes the next n conditional puts (CREATE or IF_MATCH) fail with SL_EPRECOND as if another
 * writer had won the race. */
void sl_objstore_memory_force_precond(struct sl_objstore *s, uint32_t n);

/* Number of requests queued and not yet completed. */
uint32_t sl_objstore_memory_pending(const struct sl_objstore *s);

void sl_objstore_memory_stats(const struct sl_objstore *s, struct sl_objstore_memory_stats *out);

#endif
