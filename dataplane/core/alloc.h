/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_ALLOC_H
#define SL_CORE_ALLOC_H

#include <stddef.h>

/*
 * The heap. Production builds link jemalloc as the process allocator (malloc/free go to it);
 * sanitizer builds leave malloc to the sanitizer. These calls report which one is active and
 * read its statistics, which benchmarks use to measure memory per object.
 */

/* Returns "jemalloc <version>" or "libc" (static storage). */
const char *sl_alloc_backend(void);

/*
 * Stores the bytes currently allocated by the application in *bytes (jemalloc's
 * stats.allocated, refreshed). Returns 0, or SL_ENOTSUP without jemalloc.
 */
int sl_alloc_allocated(size_t *bytes);

/*
 * Faults in `bytes` of heap for the calling thread and gives them back to the allocator, which
 * keeps them resident for the thread's later allocations. Why: the relay's track caches grow
 * for their whole retention (30 s by default) before memory is reused, so without this every
 * frame a young track stores lands on fresh pages, and a page fault costs 10.7 us on the
 * virtual machines this was measured on (docs/benchmarks.md): about 14 us per frame in the
 * relay and 29 us in a client. jemalloc serves a thread from its own arena, so a loop that
 * wants it calls this on its own thread at start (shardlined's workers when `prefault` is set;
 * off by default, see docs/operator.md). With jemalloc configured as SL_ALLOC_CONF says, freed
 * pages are handed back to the kernel lazily (MADV_FREE) and never forcibly, so a page stays mapped
 * until the kernel needs it. Returns the bytes faulted in (0 without jemalloc, or when memory
 * ran out first).
 */
size_t sl_alloc_prefault(size_t bytes);

/*
 * The jemalloc options a long-running process of shardline sets (its `malloc_conf`):
 *  - muzzy_decay_ms:-1: dirty pages decay to "muzzy" (MADV_FREE: the kernel may take them back
 *    under memory pressure, and one reused before that does not fault) and are never purged
 *    with MADV_DONTNEED, which would make every reuse a fault;
 *  - lg_extent_max_active_fit:20: a small allocation may be carved from a free extent up to
 *    2^20 times its size. The default (2^6) keeps jemalloc from splitting the large region
 *    sl_alloc_prefault leaves behind (freed blocks coalesce into one extent), so slabs for
 *    small buffers would come from fresh pages anyway: measured, 1 003 faults for 1 000
 *    5 KiB buffers after a 32 MiB prefault with the default, 10 with this.
 */
#define SL_ALLOC_CONF "muzzy_decay_ms:-1,lg_extent_max_active_fit:20"

#endif
