/* SPDX-License-Identifier: Apache-2.0 */
#include "core/pool.h"
#include "core/err.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SL_POOL_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SL_POOL_ASAN 1
#endif

#ifdef SL_POOL_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* A slab's header; the objects follow it at the pool's alignment. */
struct slab {
	struct slab *next;
};

/* Bytes before a slab's first object: the header, padded to the object alignment. */
static size_t slab_hdr(const struct sl_pool *p)
{
	return (sizeof(struct slab) + p->align - 1) & ~(p->align - 1);
}

int sl_pool_init(struct sl_pool *p, const char *name, size_t size, size_t align, uint32_t per_slab,
		 uint64_t cap)
{
	if (align == 0)
		align = alignof(max_align_t);
	/* The free list lives in the objects' first word, and ASan poisons 8-byte granules:
	 * smaller alignments would let a poisoned range cover a neighbour's live bytes. */
	if (align < sizeof(void *))
		align = sizeof(void *);
	if (size == 0 || (align & (align - 1)) != 0 || align > 4096 || size > (1u << 30))
		return SL_EINVAL;
	memset(p, 0, sizeof(*p));
	p->name = name ? name : "pool";
	p->align = align;
	p->size = (size + align - 1) & ~(align - 1);
	if (per_slab == 0) {
		size_t n = (16u << 10) / p->size;
		per_slab = n < 8 ? 8 : (uint32_t)n;
	}
	p->per_slab = per_slab;
	p->cap = cap;
	return 0;
}

void sl_pool_fini(struct sl_pool *p)
{
	size_t bytes = slab_hdr(p) + (size_t)p->per_slab * p->size;
	while (p->slabs) {
		struct slab *s = p->slabs;
		/* Objects may still be poisoned: the heap must see the slab as plain memory. */
		UNPOISON(s, bytes);
		p->slabs = s->next;
		free(s);
	}
	(void)bytes;
	p->free = NULL;
	memset(&p->st, 0, sizeof(p->st));
}

/* Adds a slab, its objects poisoned on the free list. Returns false without memory. */
static bool grow(struct sl_pool *p)
{
	size_t hdr = slab_hdr(p);
	void *mem = NULL;
	if (posix_memalign(&mem, p->align < sizeof(void *) ? sizeof(void *) : p->align,
			   hdr + (size_t)p->per_slab * p->size) != 0)
		return false;
	struct slab *s = mem;
	s->next = p->slabs;
	p->slabs = s;
	/* Linked in reverse so that gets walk the slab upwards, which the prefetcher likes. */
	for (uint32_t i = p->per_slab; i-- > 0;) {
		void **o = (void **)((char *)mem + hdr + (size_t)i * p->size);
		*o = p->free;
		p->free = o;
		POISON(o, p->size);
	}
	p->st.slabs++;
	p->st.capacity += p->per_slab;
	return true;
}

void *sl_pool_get(struct sl_pool *p)
{
	SL_ASSERT_OWNER(p);
	if ((p->cap && p->st.in_use >= p->cap) || (p->free == NULL && !grow(p))) {
		p->st.fails++;
		return NULL;
	}
	void **o = p->free;
	UNPOISON(o, p->size);
	p->free = *o;
	p->st.in_use++;
	p->st.gets++;
	return o;
}

void *sl_pool_zget(struct sl_pool *p)
{
	void *o = sl_pool_get(p);
	if (o)
		memset(o, 0, p->size);
	return o;
}

void sl_pool_put(struct sl_pool *p, void *obj)
{
	if (obj == NULL)
		return;
	SL_ASSERT_OWNER(p);
#ifdef SL_POOL_ASAN
	/* A free object is poisoned from its first byte: a second put is a double free. */
	if (__asan_address_is_poisoned(obj)) {
		fprintf(stderr, "%s: object %p put back twice\n", p->name, obj);
		abort();
	}
#endif
	void **o = obj;
	*o = p->free;
	p->free = o;
	p->st.in_use--;
	POISON(o, p->size);
}

void sl_pool_stats(const struct sl_pool *p, struct sl_pool_stats *out)
{
	*out = p->st;
}

/* How `shardctl status` shows a pool: gets against slabs says how many mallocs it saved, fails
 * that it ran dry (its cap, or the heap). */
#define T struct sl_pool_stats
const struct sl_stat_field sl_pool_stats_fields[] = {
	SL_STAT_G(T, capacity, NULL), SL_STAT_G(T, in_use, NULL), SL_STAT_G(T, slabs, NULL),
	SL_STAT_U(T, gets, NULL),     SL_STAT_U(T, fails, NULL),  SL_STAT_TABLE_END,
};
#undef T
