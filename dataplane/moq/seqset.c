/* SPDX-License-Identifier: Apache-2.0 */
#include "moq/seqset.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

void sl_seqset_init(struct sl_seqset *s, uint32_t max_ahead)
{
	memset(s, 0, sizeof(*s));
	s->max_ahead =
		max_ahead == 0 || max_ahead > SL_SEQSET_AHEAD_MAX ? SL_SEQSET_AHEAD_MAX : max_ahead;
}

void sl_seqset_fini(struct sl_seqset *s)
{
	free(s->ahead);
	s->ahead = NULL;
	s->nahead = s->acap = 0;
}

/* lo is accounted for: moves past it, or records that nothing is left when it was the last
 * sequence (lo + 1 would wrap to 0 and make the whole space collectable again). */
static void advance(struct sl_seqset *s)
{
	if (s->lo == UINT64_MAX)
		s->all = true;
	else
		s->lo++;
}

/* After lo moved: forgets collected groups below it and advances over those that continue it. */
static void settle(struct sl_seqset *s)
{
	uint32_t i = 0;
	while (i < s->nahead && (s->all || s->ahead[i] <= s->lo)) {
		if (!s->all && s->ahead[i] == s->lo)
			advance(s);
		i++;
	}
	if (i == 0) /* the in-order case: ahead[] is empty, maybe not even allocated */
		return;
	memmove(s->ahead, s->ahead + i, (s->nahead - i) * sizeof(s->ahead[0]));
	s->nahead -= i;
}

bool sl_seqset_start_at(struct sl_seqset *s, uint64_t start)
{
	if (s->has_lo && (s->all || start <= s->lo))
		return false;
	s->has_lo = true;
	s->lo = start;
	settle(s);
	return true;
}

int sl_seqset_collect(struct sl_seqset *s, uint64_t seq)
{
	if (!s->has_lo) { /* the first group fixes the start */
		s->has_lo = true;
		s->lo = seq;
	}
	if (s->all || seq < s->lo)
		return SL_EDUP;
	if (seq == s->lo) { /* the common case: in order, nothing to remember */
		advance(s);
		settle(s);
		return 0;
	}
	uint32_t a = 0, b = s->nahead;
	while (a < b) {
		uint32_t mid = a + (b - a) / 2;
		if (s->ahead[mid] < seq)
			a = mid + 1;
		else
			b = mid;
	}
	if (a < s->nahead && s->ahead[a] == seq)
		return SL_EDUP;
	if (s->nahead == s->acap) {
		if (s->acap >= s->max_ahead) {
			/* Give up the lowest gap rather than grow: as if its group were resolved.
			 */
			sl_seqset_resolve(s, s->ahead[0]);
			return SL_EBOUNDS;
		}
		uint32_t cap = s->acap ? s->acap * 2 : 8;
		if (cap > s->max_ahead)
			cap = s->max_ahead;
		uint64_t *n = realloc(s->ahead, cap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		s->ahead = n;
		s->acap = cap;
	}
	memmove(s->ahead + a + 1, s->ahead + a, (s->nahead - a) * sizeof(s->ahead[0]));
	s->ahead[a] = seq;
	s->nahead++;
	return 0;
}

void sl_seqset_resolve(struct sl_seqset *s, uint64_t seq)
{
	if (!s->has_rmax || seq > s->rmax) {
		s->has_rmax = true;
		s->rmax = seq;
	}
}

bool sl_seqset_next_gap(struct sl_seqset *s, struct sl_seqrange *gap)
{
	if (!s->has_lo || !s->has_rmax)
		return false;
	/* ahead[] is empty once all is set: settle forgets everything. */
	while (s->nahead > 0 && s->ahead[0] <= s->rmax) {
		uint64_t next = s->ahead[0];
		bool found = next > s->lo;
		if (found)
			*gap = (struct sl_seqrange){s->lo, next - 1};
		s->lo = next;
		settle(s);
		if (found)
			return true;
	}
	return false;
}

bool sl_seqset_done_through(const struct sl_seqset *s, uint64_t end)
{
	return s->has_lo && (s->all || s->lo > end);
}

bool sl_seqset_missing_through(const struct sl_seqset *s, uint64_t end, struct sl_seqrange *r)
{
	if (!s->has_lo || s->all || s->lo > end)
		return false;
	*r = (struct sl_seqrange){s->lo, end};
	return true;
}

bool sl_seqdrops_add(struct sl_seqdrops *d, uint64_t a, uint64_t b, uint64_t code,
		     struct sl_seqdrop *out)
{
	struct sl_seqdrop *r = &d->cur;
	if (d->on && r->code == code) {
		/* The bounds checks keep a range at either end of the space from merging with one
		 * at the other end through a wrapped + 1. */
		if (r->end != UINT64_MAX && a == r->end + 1) {
			r->end = b;
			return false;
		}
		if (b != UINT64_MAX && b + 1 == r->start) {
			r->start = a;
			return false;
		}
	}
	bool flushed = sl_seqdrops_take(d, out);
	d->on = true;
	d->cur = (struct sl_seqdrop){a, b, code};
	return flushed;
}

bool sl_seqdrops_take(struct sl_seqdrops *d, struct sl_seqdrop *out)
{
	if (!d->on)
		return false;
	d->on = false;
	*out = d->cur;
	return true;
}
