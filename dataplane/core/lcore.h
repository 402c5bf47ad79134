/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_LCORE_H
#define SL_CORE_LCORE_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "core/bell.h"
#include "core/owner.h"
#include "core/ring.h"

/*
 * The skeleton every per-core loop shares (DESIGN.md, "The per-core runtime"): the relay
 * worker, the io lcore and the tools' QUIC client each run
 *
 *   pass: sl_lcore_pass -> their own work -> sl_lcore_control -> sl_lcore_worked or
 *         sl_lcore_idle_wait
 *
 * and this is the part they have in common: the doorbell and the sleep that must not lose a
 * wake-up, the back-off of a loop nothing can wake, the control ring's dispatch and its replies,
 * and the loop counters `shardctl status` shows. What a loop does with a pass is its own.
 *
 * The struct is embedded in the loop's per-core state, so it shares that state's cache lines and
 * NUMA node. Single owner: every call but sl_lcore_init comes from the loop's thread (asserted in
 * debug builds, see core/owner.h).
 */
struct sl_lcore_config {
	/* The loop's doorbell, rung by whoever queues a message for it (NULL: none; the loop then
	 * finds messages only when it polls). Not owned: its fd lives as long as the loop. */
	struct sl_bell *bell;
	/* Control requests in, replies out (both NULL for a loop without a control core). */
	struct rte_ring *ctl_in, *ctl_out;
	/*
	 * Whether the descriptors given to sl_lcore_idle_wait and the doorbell together signal
	 * every source of work the loop has (a socket port and a bell: yes; a DPDK port, which
	 * has no descriptor, or rings without a bell: no). A loop that is signalled sleeps until
	 * its deadline, capped by max_sleep_ns; one that is not backs off (see sl_lcore_idle_wait).
	 */
	bool signalled;
	/* The first back-off sleep, and the sleep a busy loop gets (sl_lcore_soon). Loops that
	 * busy-poll (0) never call sl_lcore_idle_wait. */
	uint64_t poll_idle_ns;
	/* The back-off doubles up to backoff_max times poll_idle_ns (0 or 1: it never grows). */
	uint32_t backoff_max;
	/* The longest sleep of a signalled loop: a safety net, since every source of work wakes
	 * it (0: no cap but the deadline). */
	uint64_t max_sleep_ns;
	/* The loop's other inbound rings: whether a message waits on one of them (ctl_in is
	 * looked at here). Called between arming the doorbell and sleeping; may be NULL. */
	bool (*pending)(void *arg);
	void *arg;
};

struct sl_lcore {
	struct sl_owner owner;
	struct sl_lcore_config cfg;
	uint64_t backoff;     /* the next sleep of an unsignalled idle loop */
	uint64_t loops;	      /* passes */
	uint64_t idle_sleeps; /* sleeps entered (a message seen after arming the bell is none) */
	uint64_t wakeups;     /* sleeps the doorbell ended */
	void (*idle_hook)(void *arg);
	void *idle_hook_arg;
};

/* The most descriptors sl_lcore_idle_wait takes (the client's 64 ports, its wait fd, spare). */
#define SL_LCORE_MAX_FDS 80

/* Fills lc from cfg (copied). Claims nothing: the loop's thread adopts it (sl_lcore_adopt). */
void sl_lcore_init(struct sl_lcore *lc, const struct sl_lcore_config *cfg);

/* The loop's thread takes lc over (at the start of its loop), or gives it up (at the end), so
 * that another thread may free what embeds it (core/owner.h). */
static inline void sl_lcore_adopt(struct sl_lcore *lc)
{
	sl_owner_adopt(&lc->owner);
}

static inline void sl_lcore_disown(struct sl_lcore *lc)
{
	sl_owner_release(&lc->owner);
}

/* Starts a pass: checks the owner and counts it. */
static inline void sl_lcore_pass(struct sl_lcore *lc)
{
	SL_ASSERT_OWNER(lc);
	lc->loops++;
}

/* The pass found work: the next idle sleep starts again from poll_idle_ns. */
static inline void sl_lcore_worked(struct sl_lcore *lc)
{
	lc->backoff = lc->cfg.poll_idle_ns;
}

/* Takes a new poll_idle_ns (runtime configuration); the back-off restarts from it. */
void sl_lcore_set_poll_idle(struct sl_lcore *lc, uint64_t poll_idle_ns);

/*
 * The deadline of a loop that holds work nothing will signal (datagrams the kernel refused,
 * messages waiting for a full ring, I/O whose completions do not ring): the earlier of deadline
 * and now + poll_idle_ns, so that the loop comes back soon to look.
 */
static inline uint64_t sl_lcore_soon(const struct sl_lcore *lc, uint64_t now, uint64_t deadline)
{
	uint64_t soon = now + lc->cfg.poll_idle_ns;
	return soon < deadline ? soon : deadline;
}

/*
 * Sleeps while the loop has nothing to do, never past deadline (UINT64_MAX: none), on fds
 * (nfds of them, at most SL_LCORE_MAX_FDS; -1 entries are ignored) and on the doorbell, so that
 * a datagram or another core's message ends the sleep at once. A signalled loop sleeps until the
 * deadline, capped by max_sleep_ns; one that is not sleeps the back-off, which doubles while the
 * loop stays idle. With a doorbell the control ring and cfg.pending are looked at after the bell
 * is armed: a message there returns at once (a lost wake-up otherwise, see core/bell.h). Returns
 * whether it slept (false: the deadline had passed, or a message was waiting).
 */
bool sl_lcore_idle_wait(struct sl_lcore *lc, uint64_t now, uint64_t deadline, const int *fds,
			unsigned int nfds);

/* The control handler: one request (type SL_MSG_CONTROL; u32 the kind, u64 the request id). */
typedef void (*sl_lcore_ctl_fn)(void *arg, struct sl_lcore *lc, const struct sl_msg *m);

/*
 * Receives up to a burst of control requests and hands each to fn. Messages of another type are
 * dropped (nothing sends them on a control ring). Returns the messages received: they are work,
 * so the loop does not sleep before it looked again.
 */
unsigned int sl_lcore_control(struct sl_lcore *lc, sl_lcore_ctl_fn fn, void *arg);

/*
 * Answers req with obj (u32 and u64 echo the request's, so the control core can match it).
 * When the reply ring is full obj is given to free_obj (if both are non-NULL): the control core
 * waits for one answer per request at a time, so that happens only when it gave up on earlier
 * answers, and it then times out on this one too. Returns 0 or SL_ENOSPC.
 */
int sl_lcore_reply(struct sl_lcore *lc, const struct sl_msg *req, void *obj,
		   void (*free_obj)(void *));

/*
 * For tests: fn(arg) runs each time the loop is about to sleep, before it arms its doorbell.
 * That is the last moment a message can arrive unseen by the pass and without the sender
 * ringing, so a test that sends from inside fn checks the re-check that must catch it. fn NULL
 * removes it.
 */
void sl_lcore_set_idle_hook(struct sl_lcore *lc, void (*fn)(void *arg), void *arg);

#endif
