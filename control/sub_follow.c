/* SPDX-License-Identifier: Apache-2.0 */
#include "control/sub_follow.h"
#include "core/err.h"

#include <string.h>

static uint64_t after(uint64_t now_ns, uint64_t d)
{
	return d == 0 || d > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + d;
}

/*
 * Back to waiting. A subscription that delivered something ended one wait, so the clock of the
 * next starts now; one that never did (refused, or its publisher left before the first group)
 * is part of the same wait, or a relay that keeps answering "not found" would reset the
 * timeout forever.
 */
static void wait_again(struct sl_sub_follow *f, uint64_t now_ns)
{
	if (f->delivered) {
		f->deadline = after(now_ns, f->timeout_ns);
		f->waits++;
	}
	f->delivered = false;
	f->state = SL_SUB_FOLLOW_WAITING;
}

static void end(struct sl_sub_follow *f, int err)
{
	f->state = SL_SUB_FOLLOW_ENDED;
	f->end = err;
}

void sl_sub_follow_init(struct sl_sub_follow *f, uint64_t timeout_ns, uint64_t now_ns)
{
	memset(f, 0, sizeof(*f));
	f->state = SL_SUB_FOLLOW_WAITING;
	f->timeout_ns = timeout_ns;
	f->deadline = after(now_ns, timeout_ns);
	f->waits = 1;
}

void sl_sub_follow_announce(struct sl_sub_follow *f, bool active, uint64_t now_ns)
{
	(void)now_ns;
	f->announced = active;
}

void sl_sub_follow_subscribed(struct sl_sub_follow *f, int err, uint64_t now_ns)
{
	if (f->state != SL_SUB_FOLLOW_WAITING)
		return;
	if (err == 0) {
		f->state = SL_SUB_FOLLOW_SUBSCRIBED;
		f->delivered = false;
		f->subscriptions++;
	} else if (err == SL_EBUSY || err == SL_ENOTFOUND) {
		f->not_before = after(now_ns, SL_SUB_FOLLOW_RETRY_NS);
	} else {
		end(f, err);
	}
}

void sl_sub_follow_delivered(struct sl_sub_follow *f)
{
	if (f->state == SL_SUB_FOLLOW_SUBSCRIBED)
		f->delivered = true;
}

void sl_sub_follow_track_end(struct sl_sub_follow *f, int err, uint64_t now_ns)
{
	if (f->state != SL_SUB_FOLLOW_SUBSCRIBED)
		return;
	if (err == SL_EEOF) {
		end(f, 0); /* the publisher finished the track: the stream is over */
	} else if (err == SL_ENOTFOUND || err == SL_EDROPPED) {
		/* Not found: the relay lost the broadcast between its announcement and our
		 * subscription, or the track does not exist (yet). Dropped: the publisher went
		 * away in the middle of the track (its withdrawal is on the way). Either way, ask
		 * again a little later. */
		wait_again(f, now_ns);
		f->not_before = after(now_ns, SL_SUB_FOLLOW_RETRY_NS);
	} else {
		end(f, err);
	}
}

void sl_sub_follow_closed(struct sl_sub_follow *f, int err, uint64_t now_ns)
{
	(void)now_ns;
	switch (f->state) {
	case SL_SUB_FOLLOW_WAITING:
		/* Nothing announced can be trusted on the next connection until it says so. */
		f->announced = false;
		f->reconnect = true;
		break;
	case SL_SUB_FOLLOW_SUBSCRIBED:
		end(f, err);
		break;
	case SL_SUB_FOLLOW_ENDED:
		break;
	}
}

enum sl_sub_follow_action sl_sub_follow_next(struct sl_sub_follow *f, uint64_t now_ns)
{
	switch (f->state) {
	case SL_SUB_FOLLOW_SUBSCRIBED:
		return SL_SUB_FOLLOW_NOTHING;
	case SL_SUB_FOLLOW_ENDED:
		return SL_SUB_FOLLOW_DONE;
	case SL_SUB_FOLLOW_WAITING:
		break;
	}
	if (f->reconnect) {
		if (now_ns >= f->deadline) {
			end(f, SL_ETIMEDOUT);
			return SL_SUB_FOLLOW_DONE;
		}
		f->reconnect = false;
		return SL_SUB_FOLLOW_RECONNECT;
	}
	/* An announcement that arrived by the deadline wins over the timeout. */
	if (f->announced && now_ns >= f->not_before)
		return SL_SUB_FOLLOW_SUBSCRIBE;
	if (now_ns >= f->deadline) {
		end(f, SL_ETIMEDOUT);
		return SL_SUB_FOLLOW_DONE;
	}
	return SL_SUB_FOLLOW_NOTHING;
}
