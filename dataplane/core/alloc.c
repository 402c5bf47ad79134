/* SPDX-License-Identifier: Apache-2.0 */
#include "core/alloc.h"
#include "core/err.h"

#include <stdint.h>
#include <stdio.h>

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
