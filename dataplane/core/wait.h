/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_WAIT_H
#define SL_CORE_WAIT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * One-shot readiness for poll-mode loops. A consumer that polls and gets SL_EAGAIN arms its
 * waiter on the object's queue; the next change wakes every armed waiter once and disarms it.
 * A waiter is intrusive (no allocation), sits on at most one queue, and its wake function must
 * not block: typically it pushes its owner on the loop's ready list. Producers never wait on
 * consumers, so a slow consumer cannot stall anyone.
 */
struct sl_waiter;
typedef void (*sl_wake_fn)(struct sl_waiter *w);

struct sl_waiter {
	struct sl_waiter *next;
	struct sl_waiter **pprev; /* NULL when not armed */
	sl_wake_fn wake;
};

struct sl_waitq {
	struct sl_waiter *head;
};

static inline void sl_waiter_init(struct sl_waiter *w, sl_wake_fn wake)
{
	w->next = NULL;
	w->pprev = NULL;
	w->wake = wake;
}

static inline bool sl_waiter_armed(const struct sl_waiter *w)
{
	return w->pprev != NULL;
}

/* Disarms w if it is armed; safe to call at any time (e.g. before freeing its owner). */
static inline void sl_waiter_cancel(struct sl_waiter *w)
{
	if (w->pprev == NULL)
		return;
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	w->next = NULL;
	w->pprev = NULL;
}

static inline void sl_waitq_init(struct sl_waitq *q)
{
	q->head = NULL;
}

static inline bool sl_waitq_empty(const struct sl_waitq *q)
{
	return q->head == NULL;
}

/* Arms w on q (moving it from any other queue). A NULL w is ignored, for callers that poll. */
static inline void sl_waitq_add(struct sl_waitq *q, struct sl_waiter *w)
{
	if (w == NULL)
		return;
	sl_waiter_cancel(w);
	w->next = q->head;
	if (q->head)
		q->head->pprev = &w->next;
	w->pprev = &q->head;
	q->head = w;
}

/*
 * Disarms every waiter on q without calling it. An object that owns a queue calls this before
 * it is freed, so no waiter is left pointing into freed memory; its owner will simply poll again
 * (a poll on a released object is the caller's bug, not a lost wake-up).
 */
void sl_waitq_detach_all(struct sl_waitq *q);

/*
 * Wakes and disarms every waiter on q. The list is detached first, so a wake function may
 * re-arm on q (it then waits for the next change) without being called twice now.
 */
void sl_waitq_wake_all(struct sl_waitq *q);

#endif
