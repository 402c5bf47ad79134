/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_MOQ_SEQSET_H
#define SL_MOQ_SEQSET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The group-sequence bookkeeping behind a downstream subscription's SUBSCRIBE_DROP and the end
 * of a bounded range, kept apart from the session so it can be tested and fuzzed on its own.
 * Pure: no I/O, no time, no session types; the only allocation is the bounded ahead[] array.
 *
 * Every sequence below lo is accounted for: collected (then sent or reset), declared dropped,
 * or before the start. The groups collected above lo (out of order, or past a gap) are kept
 * sorted in ahead[]; a sequence missing below one of them is a gap. A gap is declared dropped
 * once a group at or above the collected group that ends it is resolved (sent in full or
 * reset), which gives a straggler that group's duration to arrive; a group arriving below lo
 * afterwards is not to be sent.
 *
 * ahead[] holds at most max_ahead sequences whatever the peer's track looks like: a huge gap
 * costs one entry, and when the array is full the lowest gap is given up (see collect). lo
 * never wraps: once UINT64_MAX itself is accounted for, `all` says so.
 */

/* ahead[] entries a subscription may hold (8 KiB): gaps beyond that are given up early. */
#define SL_SEQSET_AHEAD_MAX 1024

struct sl_seqset {
	uint64_t lo;	 /* the lowest sequence not accounted for (has_lo, !all) */
	uint64_t rmax;	 /* the largest sequence resolved (has_rmax) */
	uint64_t *ahead; /* collected sequences above lo: sorted, distinct */
	uint32_t nahead, acap, max_ahead;
	bool has_lo;   /* lo is known: a start, or the first group collected */
	bool has_rmax; /* some group was resolved */
	bool all;      /* every sequence, UINT64_MAX included, is accounted for */
};

/* An inclusive range of sequences. */
struct sl_seqrange {
	uint64_t start, end;
};

/* max_ahead: 1 .. SL_SEQSET_AHEAD_MAX; a session uses the maximum, tests small bounds. 0 means the
 * default. Nothing is allocated until a group arrives out of order. */
void sl_seqset_init(struct sl_seqset *s, uint32_t max_ahead);
void sl_seqset_fini(struct sl_seqset *s);

/*
 * Moves the start forward to start: lo becomes start when it was unknown or lower, and
 * collected groups below it are forgotten. A lower start changes nothing (nothing is replayed).
 * Returns true when lo moved.
 */
bool sl_seqset_start_at(struct sl_seqset *s, uint64_t start);

/*
 * Accounts for a group the track returned; the first one fixes the start when none is known.
 * Returns 0 when it is new and must be sent; SL_EDUP when it is already accounted for (below
 * lo: before the start, sent, or in a gap declared dropped) or collected; SL_ENOMEM when ahead[]
 * could not grow (not to be sent; its gap is declared with the next one).
 *
 * SL_EBOUNDS: ahead[] is full. The lowest collected group was marked resolved so its gap can
 * be declared: drain sl_seqset_next_gap, then call again (each round frees at least one entry).
 */
int sl_seqset_collect(struct sl_seqset *s, uint64_t seq);

/* A collected group is resolved: sent in full, or reset. Only raises rmax; the gaps it settles
 * are taken with sl_seqset_next_gap. */
void sl_seqset_resolve(struct sl_seqset *s, uint64_t seq);

/*
 * Takes the lowest gap that lies below the largest resolved group, if any, and accounts for it
 * (it is declared dropped: lo moves past it and past the collected groups that continue it).
 * Call until it returns false to declare them all, in increasing order.
 */
bool sl_seqset_next_gap(struct sl_seqset *s, struct sl_seqrange *gap);

/* Whether every sequence up to end (inclusive) is accounted for. */
bool sl_seqset_done_through(const struct sl_seqset *s, uint64_t end);

/* Stores [lo, end] in *r and returns true when something up to end is not accounted for. */
bool sl_seqset_missing_through(const struct sl_seqset *s, uint64_t end, struct sl_seqrange *r);

static inline bool sl_seqset_has_lo(const struct sl_seqset *s)
{
	return s->has_lo;
}

/*
 * A SUBSCRIBE_DROP range being extended before it is written. Ranges reported one by one with
 * the same code that touch the one being built extend it, so a run of lost groups costs one
 * message; anything else hands back the previous range to be written first.
 */
struct sl_seqdrop {
	uint64_t start, end, code;
};

struct sl_seqdrops {
	bool on;
	struct sl_seqdrop cur;
};

/* Adds [a, b] (a <= b) with code. Returns true with the range that must be written first in
 * *out when it could not be merged into the one being built. */
bool sl_seqdrops_add(struct sl_seqdrops *d, uint64_t a, uint64_t b, uint64_t code,
		     struct sl_seqdrop *out);

/* Takes the range being built, if any, into *out: it is to be written now. */
bool sl_seqdrops_take(struct sl_seqdrops *d, struct sl_seqdrop *out);

#endif
