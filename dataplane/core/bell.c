/* SPDX-License-Identifier: Apache-2.0 */
#include "core/bell.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "core/err.h"

int sl_bell_init(struct sl_bell *b)
{
	b->sleeping = 0;
	b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return b->fd >= 0 ? 0 : SL_EIO;
}

void sl_bell_fini(struct sl_bell *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}

void sl_bell_ring(struct sl_bell *b)
{
	/* The message was published to the ring before this load (the ring's release store and
	 * this full fence order them), and the sleeper sets its flag before it re-checks its
	 * rings: one of the two always sees the other. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sl_bell_sleeping(b)) {
		uint64_t one = 1;
		ssize_t rc = write(b->fd, &one, sizeof(one));
		(void)rc; /* EAGAIN: the counter is already non-zero, the sleeper wakes anyway */
	}
}

bool sl_bell_disarm(struct sl_bell *b, bool rung)
{
	__atomic_store_n(&b->sleeping, 0, __ATOMIC_RELAXED);
	if (rung) {
		uint64_t v;
		ssize_t rc = read(b->fd, &v, sizeof(v));
		(void)rc; /* EAGAIN: another wake-up read it first */
	}
	return rung;
}
