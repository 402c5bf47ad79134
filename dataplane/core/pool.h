/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_POOL_H
#define SL_CORE_POOL_H

#include "core/owner.h"
#include "core/stats.h"

#include <stddef.h>
#include <stdint.h>

/*
 * A per-core pool of fixed-size objects: a free list that grows in slabs. Objects allocated
 * per group per subscriber or per stream come from here, so that the hot path reuses memory
 * instead of calling malloc (DESIGN.md, convention 6); only a slab, once per `per_slab`
 * objects of growth, comes from the heap. Slabs are never returned before sl_pool_fini: a
 * core's working set is its peak.
 *
 * Why not rte_mempool: it needs the EAL (and a memzone per pool), and the moq and QUIC engines
 * run without one in their unit tests, in the client library and in fuzz targets. Its per-lcore
 * caches and ring exist to share objects between cores, which a single-owner pool does not do.
 *
 * Single owner, not thread-safe by design: get and put must come from the owning thread
 * (asserted in debug builds, see core/owner.h). Under AddressSanitizer free objects are
 * poisoned, so a use after sl_pool_put is reported as it would be after free(), and a second
 * put of the same object stops the process.
 */
struct sl_pool_stats {
	uint64_t capacity; /* objects in all slabs */
	uint64_t in_use;   /* objects handed out and not yet put back */
	uint64_t slabs;
	uint64_t gets;	/* successful sl_pool_get calls */
	uint64_t fails; /* gets refused: cap reached or no memory */
};
/* Its members, for status (core/stats.h): capacity, in_use and slabs are gauges. */
extern const struct sl_stat_field sl_pool_stats_fields[];

struct sl_pool {
	struct sl_owner owner;
	size_t size;  /* object size, rounded up to align */
	size_t align; /* object alignment, a power of two */
	uint32_t per_slab;
	uint64_t cap; /* most objects ever handed out at once; 0: no limit */
	void *free;   /* free objects, linked through their first word */
	void *slabs;  /* slabs, linked through their header */
	const char *name;
	struct sl_pool_stats st;
};

/*
 * Prepares p for objects of size bytes aligned to align (0: alignof(max_align_t); otherwise a
 * power of two up to 4096), per_slab objects per slab (0: enough for about 16 KiB), at most
 * cap objects at once (0: no limit). name labels the owner-check message (static storage).
 * Allocates nothing. Returns 0 or SL_EINVAL.
 */
int sl_pool_init(struct sl_pool *p, const char *name, size_t size, size_t align, uint32_t per_slab,
		 uint64_t cap);

/* Frees every slab; objects still in use become invalid. p may then be initialised again. */
void sl_pool_fini(struct sl_pool *p);

/* Returns an object (contents undefined), or NULL when cap objects are in use or a new slab
 * cannot be allocated. */
void *sl_pool_get(struct sl_pool *p);

/* As sl_pool_get, with the object zeroed. */
void *sl_pool_zget(struct sl_pool *p);

/* Gives obj (from sl_pool_get on p, or NULL) back to p. */
void sl_pool_put(struct sl_pool *p, void *obj);

/* Copies p's counters into *out. */
void sl_pool_stats(const struct sl_pool *p, struct sl_pool_stats *out);

#endif
