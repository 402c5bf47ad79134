/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_TIMERHEAP_H
#define SL_CORE_TIMERHEAP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A per-core timer queue: an intrusive binary min-heap of deadlines. Each timer is a node
 * embedded in its owner (a QUIC connection, a session) and holds at most one deadline, so
 * re-arming after every event is an O(log n) sift, the earliest deadline is O(1), and a loop
 * never walks its objects to find the next timer. After sl_theap_reserve for n nodes, set and
 * remove never allocate: nothing on the hot path can fail.
 *
 * Single-threaded, like everything a core owns.
 */

#define SL_THEAP_NONE UINT32_MAX /* a node's idx when it is not queued */

struct sl_theap_node {
	uint64_t due;
	uint32_t idx; /* position in the heap, SL_THEAP_NONE when not queued */
};

struct sl_theap {
	struct sl_theap_node **a;
	uint32_t n, cap;
};

/* Empty heap; no allocation until reserve. */
void sl_theap_init(struct sl_theap *h);
void sl_theap_fini(struct sl_theap *h);

/* A node not queued. Call once before its first set. */
static inline void sl_theap_node_init(struct sl_theap_node *t)
{
	t->due = UINT64_MAX;
	t->idx = SL_THEAP_NONE;
}

static inline bool sl_theap_queued(const struct sl_theap_node *t)
{
	return t->idx != SL_THEAP_NONE;
}

/* Makes room for n queued nodes in all. Returns 0 or SL_ENOMEM. */
int sl_theap_reserve(struct sl_theap *h, uint32_t n);

/* Queues t for due, or moves it there; due = UINT64_MAX removes it (a node with no deadline
 * costs nothing). The heap must have room (reserve) when t is not queued yet; returns 0, or
 * SL_ENOSPC when it has none. */
int sl_theap_set(struct sl_theap *h, struct sl_theap_node *t, uint64_t due);

/* Takes t out if it is queued. */
void sl_theap_remove(struct sl_theap *h, struct sl_theap_node *t);

/* The earliest deadline, UINT64_MAX when empty. */
static inline uint64_t sl_theap_next(const struct sl_theap *h)
{
	return h->n ? h->a[0]->due : UINT64_MAX;
}

/* Takes out and returns the earliest node if it is due at now_ns, else NULL. */
struct sl_theap_node *sl_theap_pop_due(struct sl_theap *h, uint64_t now_ns);

static inline uint32_t sl_theap_count(const struct sl_theap *h)
{
	return h->n;
}

#endif
