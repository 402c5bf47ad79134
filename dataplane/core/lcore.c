/* SPDX-License-Identifier: Apache-2.0 */
#include "core/lcore.h"

#include <poll.h>
#include <string.h>
#include <time.h>

#include "core/err.h"

/* Control requests taken per pass: they are rare, and a pass that took some looks again at
 * once (they count as work), so a longer queue only takes a few passes. */
#define CTL_BURST 8

void sl_lcore_init(struct sl_lcore *lc, const struct sl_lcore_config *cfg)
{
	memset(lc, 0, sizeof(*lc));
	lc->cfg = *cfg;
	lc->backoff = cfg->poll_idle_ns;
}

void sl_lcore_set_poll_idle(struct sl_lcore *lc, uint64_t poll_idle_ns)
{
	SL_ASSERT_OWNER(lc);
	lc->cfg.poll_idle_ns = poll_idle_ns;
	lc->backoff = poll_idle_ns;
}

void sl_lcore_set_idle_hook(struct sl_lcore *lc, void (*fn)(void *arg), void *arg)
{
	lc->idle_hook = fn;
	lc->idle_hook_arg = arg;
}

/* Whether a message waits on one of the loop's inbound rings. */
static bool rings_pending(const struct sl_lcore *lc)
{
	if (lc->cfg.ctl_in && rte_ring_count(lc->cfg.ctl_in))
		return true;
	return lc->cfg.pending && lc->cfg.pending(lc->cfg.arg);
}

/*
 * With a descriptor for every source of work and a doorbell for every ring (signalled),
 * everything that gives the loop work wakes it, so it sleeps until its deadline at once, capped
 * only by the max_sleep_ns safety net: no wake-ups at 100, 200, 400 µs... after each burst,
 * which cost more CPU on a virtual machine than the work they look for. Without (the DPDK
 * driver has no descriptor), the sleep backs off from poll_idle_ns, doubling while the loop
 * stays idle up to backoff_max times poll_idle_ns, which bounds how late a packet or a ring
 * message is seen. Work nothing will wake the loop for is the caller's to bound: its deadline
 * comes from sl_lcore_soon.
 */
bool sl_lcore_idle_wait(struct sl_lcore *lc, uint64_t now, uint64_t deadline, const int *fds,
			unsigned int nfds)
{
	SL_ASSERT_OWNER(lc);
	const struct sl_lcore_config *c = &lc->cfg;
	uint64_t wait = lc->backoff;
	if (c->signalled)
		wait = c->max_sleep_ns ? c->max_sleep_ns : UINT64_MAX;
	else if (lc->backoff < (uint64_t)c->backoff_max * c->poll_idle_ns)
		lc->backoff *= 2;
	if (deadline <= now)
		return false;
	if (deadline - now < wait)
		wait = deadline - now;
	if (lc->idle_hook)
		lc->idle_hook(lc->idle_hook_arg);
	struct sl_bell *bell = c->bell;
	if (bell) {
		/* Flag first, then look at the rings: a sender that queued before the flag was
		 * visible is seen here; one that queues after sees the flag and rings. */
		sl_bell_arm(bell);
		if (rings_pending(lc)) {
			sl_bell_disarm(bell, false);
			return false;
		}
	}
	lc->idle_sleeps++;
	struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
	struct pollfd p[SL_LCORE_MAX_FDS + 1];
	nfds_t n = 0;
	for (unsigned int i = 0; i < nfds && n < SL_LCORE_MAX_FDS; i++)
		if (fds[i] >= 0)
			p[n++] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	if (bell)
		p[n++] = (struct pollfd){.fd = bell->fd, .events = POLLIN};
	/* Always on the descriptors, with a nanosecond timeout: a blind sleep before a timer due
	 * in under a millisecond (or poll's millisecond rounding) would hold a datagram or a
	 * message that arrives meanwhile. */
	if (n)
		ppoll(p, n, &ts, NULL);
	else
		nanosleep(&ts, NULL);
	if (bell && sl_bell_disarm(bell, (p[n - 1].revents & POLLIN) != 0))
		lc->wakeups++;
	return true;
}

unsigned int sl_lcore_control(struct sl_lcore *lc, sl_lcore_ctl_fn fn, void *arg)
{
	SL_ASSERT_OWNER(lc);
	if (lc->cfg.ctl_in == NULL)
		return 0;
	struct sl_msg m[CTL_BURST];
	unsigned int n = sl_ring_recv(lc->cfg.ctl_in, m, CTL_BURST);
	for (unsigned int i = 0; i < n; i++)
		if (m[i].type == SL_MSG_CONTROL)
			fn(arg, lc, &m[i]);
	return n;
}

int sl_lcore_reply(struct sl_lcore *lc, const struct sl_msg *req, void *obj,
		   void (*free_obj)(void *))
{
	struct sl_msg r = {.type = SL_MSG_CONTROL, .u32 = req->u32, .u64 = req->u64, .obj = obj};
	if (lc->cfg.ctl_out && sl_ring_send(lc->cfg.ctl_out, &r, 1) == 1)
		return 0;
	/* The one place for this rule: an answer nobody can receive is freed, not leaked. */
	if (obj && free_obj)
		free_obj(obj);
	return SL_ENOSPC;
}
