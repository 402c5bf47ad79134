/* SPDX-License-Identifier: Apache-2.0 */
#include "core/ring.h"

#include <stdlib.h>

#include <rte_common.h>

static unsigned int sl_ring_size(unsigned int count)
{
	/* rte_ring keeps one slot empty unless RING_F_EXACT_SZ; ask for count usable slots. */
	return (unsigned int)rte_align32pow2(count + 1);
}

struct rte_ring *sl_ring_create(const char *name, unsigned int count, int socket_id)
{
	return rte_ring_create_elem(name, sizeof(struct sl_msg), sl_ring_size(count), socket_id,
				    RING_F_SP_ENQ | RING_F_SC_DEQ);
}

size_t sl_ring_memsize(unsigned int count)
{
	ssize_t n = rte_ring_get_memsize_elem(sizeof(struct sl_msg), sl_ring_size(count));
	return n < 0 ? 0 : (size_t)n;
}

struct rte_ring *sl_ring_init_mem(void *mem, const char *name, unsigned int count)
{
	struct rte_ring *r = mem;
	if (count == 0 ||
	    rte_ring_init(r, name, sl_ring_size(count), RING_F_SP_ENQ | RING_F_SC_DEQ))
		return NULL;
	return r;
}

struct rte_ring *sl_ring_alloc(const char *name, unsigned int count)
{
	size_t size = (sl_ring_memsize(count) + RTE_CACHE_LINE_SIZE - 1) &
		      ~(size_t)(RTE_CACHE_LINE_SIZE - 1);
	if (count == 0 || size == 0)
		return NULL;
	void *mem = aligned_alloc(RTE_CACHE_LINE_SIZE, size);
	if (mem == NULL)
		return NULL;
	struct rte_ring *r = sl_ring_init_mem(mem, name, count);
	if (r == NULL)
		free(mem);
	return r;
}
