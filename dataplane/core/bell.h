/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_BELL_H
#define SL_CORE_BELL_H

#include <stdbool.h>

/*
 * A doorbell for a poll-mode loop that sleeps when idle: an eventfd the loop also waits on, and
 * a flag saying it is about to sleep or sleeping. Messages on rings are not descriptors, so
 * without it a message from another core waits out the receiver's back-off; with it, whoever
 * queues a message for a sleeping loop rings (sl_bell_ring) and the loop wakes at once. A loop
 * that is busy is never rung: the flag is read first, so the common case costs one load.
 *
 * The sleeper: sl_bell_arm, then look at its rings once more (a sender that queued before the
 * flag was visible is seen there; one that queues after sees the flag and rings); if nothing is
 * pending, poll bell->fd with its other descriptors, then sl_bell_disarm.
 */
struct sl_bell {
	int fd;
	int sleeping;
} __attribute__((aligned(64)));

/* Creates the eventfd. Returns 0 or SL_EIO (errno says why). */
int sl_bell_init(struct sl_bell *b);

/* Closes the eventfd; safe on a bell whose init failed or that was finished already. */
void sl_bell_fini(struct sl_bell *b);

/* Wakes the loop if it sleeps (any thread; after the message is on the ring). */
void sl_bell_ring(struct sl_bell *b);

/* Whether the loop is about to sleep or sleeping. A sender that reads it to decide whether to
 * ring needs a full fence between queueing its message and this load (sl_bell_ring has one):
 * otherwise the load may pass the queueing store and a wake-up is lost. */
static inline bool sl_bell_sleeping(const struct sl_bell *b)
{
	return __atomic_load_n(&b->sleeping, __ATOMIC_RELAXED) != 0;
}

/* The sleeper announces it is going to sleep; it must re-check its rings afterwards. */
static inline void sl_bell_arm(struct sl_bell *b)
{
	__atomic_store_n(&b->sleeping, 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* The sleeper is awake again. rung says whether poll reported the eventfd readable; if so its
 * counter is reset. Returns rung. */
bool sl_bell_disarm(struct sl_bell *b, bool rung);

#endif
