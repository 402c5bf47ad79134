/* SPDX-License-Identifier: Apache-2.0 */
#include "core/alloc.h"
#include "core/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SL_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

const char *sl_alloc_backend(void)
{
#ifdef SL_HAVE_JEMALLOC
	static char name[64];
	const char *v = NULL;
	size_t sz = sizeof(v);
	if (mallctl("version", &v, &sz, NULL, 0) == 0 && v != NULL) {
		snprintf(name, sizeof(name), "jemalloc %s", v);
		return name;
	}
#endif
	return "libc";
}

int sl_alloc_allocated(size_t *bytes)
{
#ifdef SL_HAVE_JEMALLOC
	uint64_t epoch = 1;
	size_t esz = sizeof(epoch);
	/* jemalloc caches its statistics; bumping the epoch refreshes them. */
	mallctl("epoch", &epoch, &esz, &epoch, esz);
	size_t sz = sizeof(*bytes);
	if (mallctl("stats.allocated", bytes, &sz, NULL, 0) != 0)
		return SL_ENOTSUP;
	return 0;
#else
	(void)bytes;
	return SL_ENOTSUP;
#endif
}

size_t sl_alloc_prefault(size_t bytes)
{
#ifdef SL_HAVE_JEMALLOC
	/* Blocks in jemalloc's large classes come from the thread's arena (8 MiB and over go to
	 * a separate one) and, once freed, are split for any size class: slabs of small
	 * buffers included. */
	enum { BLOCK = 1u << 20, MAX_BLOCKS = 4096 };
	static __thread void *blocks[MAX_BLOCKS];
	size_t n = bytes / BLOCK, done = 0;
	if (n > MAX_BLOCKS)
		n = MAX_BLOCKS;
	long page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	size_t got = 0;
	for (; got < n; got++) {
		unsigned char *p = malloc(BLOCK);
		if (p == NULL)
			break;
		for (size_t off = 0; off < BLOCK; off += (size_t)page)
			p[off] = 0;
		blocks[got] = p;
		done += BLOCK;
	}
	for (size_t i = 0; i < got; i++)
		free(blocks[i]);
	return done;
#else
	(void)bytes;
	return 0;
#endif
}
