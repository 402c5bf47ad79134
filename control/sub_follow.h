/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_SUB_FOLLOW_H
#define SL_CONTROL_SUB_FOLLOW_H

#include <stdbool.h>
#include <stdint.h>

/*
 * When `shardctl sub` subscribes, and when it stops: a sans-IO state machine over the events
 * of one broadcast, so the decisions are testable without a relay. The caller feeds it what it
 * hears (announcements of the broadcast's path, the end of each subscription's track, the
 * connection closing) and asks sl_sub_follow_next what to do.
 *
 * A subscriber may start before its publisher, and publishers come and go: the machine waits
 * for the broadcast to be announced active, then subscribes; when the publisher goes away it
 * waits again and subscribes anew. The track's end says which: a clean end (SL_EEOF) is the
 * publisher finishing the track, and ends the machine; a dropped track (SL_EDROPPED: the
 * publisher, or the relay on its behalf, aborted it) or "not found" means the publisher is
 * gone, for now. Announcements alone cannot decide it, since every publisher's broadcast is
 * withdrawn when it disconnects, finished or not, and a subscriber that reads late sees the
 * end and the withdrawal together.
 */

/* The pause before subscribing again after the relay answered "not found" or "busy", or the
 * track was dropped, while the broadcast looked announced: a withdrawal is probably on its
 * way, and a relay must not be asked in a tight loop. */
#define SL_SUB_FOLLOW_RETRY_NS (200 * UINT64_C(1000000))

enum sl_sub_follow_state {
	SL_SUB_FOLLOW_WAITING,	  /* for the broadcast to be announced */
	SL_SUB_FOLLOW_SUBSCRIBED, /* a subscription is live */
	SL_SUB_FOLLOW_ENDED,	  /* done: see end */
};

enum sl_sub_follow_action {
	SL_SUB_FOLLOW_NOTHING,	 /* run the loop */
	SL_SUB_FOLLOW_SUBSCRIBE, /* subscribe now, then report sl_sub_follow_subscribed */
	SL_SUB_FOLLOW_RECONNECT, /* the connection closed while waiting: connect again */
	SL_SUB_FOLLOW_DONE,	 /* stop; end says why */
};

struct sl_sub_follow {
	enum sl_sub_follow_state state;
	bool announced;		/* the broadcast is announced active, as last heard */
	bool delivered;		/* the live or last subscription delivered a group */
	bool reconnect;		/* WAITING: the connection closed; a new one is needed */
	uint64_t timeout_ns;	/* bound of each wait; 0 waits indefinitely */
	uint64_t deadline;	/* WAITING: give up at this time (UINT64_MAX: never) */
	uint64_t not_before;	/* WAITING: no subscription before this time */
	int end;		/* ENDED: 0 (finished), SL_ETIMEDOUT, or the error that ended it */
	uint64_t subscriptions; /* subscriptions made, for the summary */
	uint64_t waits;		/* times the broadcast was waited for (the first included) */
};

/* Starts waiting for the broadcast at now_ns, each wait bounded by timeout_ns (0: none). */
void sl_sub_follow_init(struct sl_sub_follow *f, uint64_t timeout_ns, uint64_t now_ns);

/* The broadcast was announced active, or withdrawn. */
void sl_sub_follow_announce(struct sl_sub_follow *f, bool active, uint64_t now_ns);

/* The subscription asked for by SL_SUB_FOLLOW_SUBSCRIBE was sent; err != 0 means it could
 * not be (SL_EBUSY and SL_ENOTFOUND are retried later; anything else ends the machine). */
void sl_sub_follow_subscribed(struct sl_sub_follow *f, int err, uint64_t now_ns);

/* The live subscription delivered a group (its publisher is really there). */
void sl_sub_follow_delivered(struct sl_sub_follow *f);

/* The live subscription's track ended with err: SL_EEOF for a clean end, SL_ENOTFOUND when the
 * relay had no such broadcast or track, SL_EDROPPED when the publisher left in the middle of
 * it, anything else an error that ends the machine. A track that ended because the connection
 * closed is reported with sl_sub_follow_closed, first. */
void sl_sub_follow_track_end(struct sl_sub_follow *f, int err, uint64_t now_ns);

/* The connection closed with err (its tracks are gone with it). While waiting that is no
 * reason to stop (a relay closes idle connections): the next action is a reconnect. */
void sl_sub_follow_closed(struct sl_sub_follow *f, int err, uint64_t now_ns);

/* What to do at now_ns. May move to ENDED (a wait timed out). */
enum sl_sub_follow_action sl_sub_follow_next(struct sl_sub_follow *f, uint64_t now_ns);

#endif
