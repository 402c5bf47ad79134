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

#endif
