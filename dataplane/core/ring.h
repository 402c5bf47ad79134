/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_RING_H
#define SL_CORE_RING_H

#include <stdint.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

/*
 * The message cores exchange. Rings between cores are single-producer/single-consumer rte_rings
 * of these fixed-size messages. A message that carries obj transfers one reference to the
 * receiver, which must release it; nothing else crosses cores.
 */
enum sl_msg_type {
	SL_MSG_NOP = 0,
	SL_MSG_BUF = 1,	     /* obj is a struct sl_buf reference (a datagram or frame payload) */
	SL_MSG_FRAME = 2,    /* obj is a frame for a track owned by the receiver */
	SL_MSG_GROUP = 3,    /* obj is a group announcement for a subscriber-side worker */
	SL_MSG_CONTROL = 4,  /* obj is a control-plane request; u64 is a request id */
	SL_MSG_IO = 5,	     /* obj is an io request or completion */
	SL_MSG_SHUTDOWN = 6, /* the receiver should drain and stop */
	SL_MSG_DREQ = 7,    /* obj is a durable request (durable/dshard.h); u32 0 asks, 1 answers */
	SL_MSG_SEGMENT = 8, /* obj is a segment event for the metadata log, or its answer */
	SL_MSG_OBJ_RELEASE = 9, /* obj is a durable object no segment references (struct sl_dobj) */
};

struct sl_msg {
	uint16_t type;
	uint16_t flags;
	uint32_t u32;
	uint64_t u64;
	void *obj;
};

/* rte_ring element sizes must be multiples of 4; pinned so the layout never drifts silently. */
_Static_assert(sizeof(struct sl_msg) == 24, "struct sl_msg must stay 24 bytes");

/*
 * Creates an SPSC ring of at least count messages in EAL memory (rte_eal_init must have run).
 * Returns NULL on failure with rte_errno set.
 */
struct rte_ring *sl_ring_create(const char *name, unsigned int count, int socket_id);

/* Bytes needed by sl_ring_init_mem for count messages (count is rounded to a power of two). */
size_t sl_ring_memsize(unsigned int count);

/*
 * Initialises an SPSC ring in caller memory (cache-line aligned, sl_ring_memsize bytes), for
 * tools and tests that run without the EAL. Returns the ring, or NULL on a bad count.
 */
struct rte_ring *sl_ring_init_mem(void *mem, const char *name, unsigned int count);

/* sl_ring_init_mem on memory it allocates (heap, cache-line aligned), for tools and tests that
 * run without the EAL; release the ring with free(). Returns NULL on a bad count or no memory. */
struct rte_ring *sl_ring_alloc(const char *name, unsigned int count);

/* Enqueues up to n messages; returns how many were enqueued (the rest stay with the caller). */
static inline unsigned int sl_ring_send(struct rte_ring *r, const struct sl_msg *m, unsigned int n)
{
	return rte_ring_sp_enqueue_burst_elem(r, m, sizeof(*m), n, NULL);
}

/* Dequeues up to n messages into m; returns how many. */
static inline unsigned int sl_ring_recv(struct rte_ring *r, struct sl_msg *m, unsigned int n)
{
	return rte_ring_sc_dequeue_burst_elem(r, m, sizeof(*m), n, NULL);
}

#endif
