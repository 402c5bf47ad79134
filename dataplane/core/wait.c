/* SPDX-License-Identifier: Apache-2.0 */
#include "core/wait.h"

void sl_waitq_wake_all(struct sl_waitq *q)
{
	/* Move the list to a local queue first: a wake function may re-arm on q (and then waits for
	 * the next change) or cancel another waiter that is still pending in this round. */
	struct sl_waitq pending = {q->head};
	q->head = NULL;
	if (pending.head)
		pending.head->pprev = &pending.head;
	struct sl_waiter *w;
	while ((w = pending.head) != NULL) {
		sl_waiter_cancel(w);
		if (w->wake)
			w->wake(w);
	}
}

void sl_waitq_detach_all(struct sl_waitq *q)
{
	struct sl_waiter *w;
	while ((w = q->head) != NULL)
		sl_waiter_cancel(w);
}
