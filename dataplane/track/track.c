/* SPDX-License-Identifier: Apache-2.0 */
#include "track/track.h"
#include "core/err.h"
#include "track/track_internal.h"

#include <stdlib.h>
#include <string.h>

#define SL_TRACK_MIN_SLOTS 16

void sl_track_config_default(struct sl_track_config *c)
{
	c->max_age_ns = UINT64_C(30) * 1000 * 1000 * 1000;
	c->max_bytes = UINT64_C(64) << 20;
}

struct sl_track *sl_track_new(const char *name, uint8_t priority, const struct sl_track_config *cfg)
{
	if (name == NULL)
		return NULL;
	struct sl_track *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->name = strdup(name);
	t->slots = calloc(SL_TRACK_MIN_SLOTS, sizeof(*t->slots));
	if (t->name == NULL || t->slots == NULL || sl_u64map_init(&t->index, SL_TRACK_MIN_SLOTS)) {
		free(t->name);
		free(t->slots);
		free(t);
		return NULL;
	}
	t->refcnt = 1;
	t->priority = priority;
	t->mask = SL_TRACK_MIN_SLOTS - 1;
	if (cfg)
		t->cfg = *cfg;
	else
		sl_track_config_default(&t->cfg);
	sl_waitq_init(&t->waiters);
	return t;
}

struct sl_track *sl_track_ref(struct sl_track *t)
{
	t->refcnt++;
	return t;
}

void sl_track_unref(struct sl_track *t)
{
	if (t == NULL || --t->refcnt > 0)
		return;
	for (uint64_t i = t->head; i < t->tail; i++) {
		struct sl_group *g = t->slots[i & t->mask].group;
		if (g) {
			g->track = NULL;
			sl_group_unref(g);
		}
	}
	sl_waitq_detach_all(&t->waiters);
	sl_u64map_fini(&t->index);
	free(t->slots);
	free(t->name);
	free(t);
}

const char *sl_track_name(const struct sl_track *t)
{
	return t->name;
}

uint8_t sl_track_priority(const struct sl_track *t)
{
	return t->priority;
}

void sl_track_stats(const struct sl_track *t, struct sl_track_stats *out)
{
	*out = t->stats;
}

static inline struct sl_track_slot *sl_track_slot(const struct sl_track *t, uint64_t i)
{
	return &t->slots[i & t->mask];
}

/* Turns slot i into a tombstone: the cache forgets the group, readers keep their references. */
static void sl_track_tombstone(struct sl_track *t, uint64_t i)
{
	struct sl_track_slot *s = sl_track_slot(t, i);
	struct sl_group *g = s->group;
	sl_u64map_remove(&t->index, g->seq);
	t->stats.groups_cached--;
	t->stats.bytes_cached -= g->bytes;
	t->stats.evicted_bytes += g->bytes;
	g->track = NULL;
	s->group = NULL;
	sl_group_unref(g);
}

/* Drops leading tombstones so head (moq-lite's offset) advances. */
static void sl_track_trim(struct sl_track *t)
{
	while (t->head < t->tail && sl_track_slot(t, t->head)->group == NULL)
		t->head++;
	if (t->scan < t->head)
		t->scan = t->head;
}

/*
 * Evicts in arrival order from the scan point, never the max group. By age: tombstone groups
 * older than max_age_ns, stopping at the first fresh one (later arrivals are fresher still).
 * By budget: tombstone the oldest groups until the cached bytes fit.
 */
static void sl_track_evict(struct sl_track *t, uint64_t now_ns, bool by_age)
{
	/* The loop variable is the scan point itself: each slot passed over is either skipped as
	 * a tombstone or the max, or tombstoned here, which keeps the invariant on scan. */
	if (t->scan < t->head)
		t->scan = t->head;
	for (; t->scan < t->tail; t->scan++) {
		struct sl_track_slot *s = sl_track_slot(t, t->scan);
		if (s->group == NULL || s->group->seq == t->max_seq)
			continue;
		if (by_age) {
			if (now_ns < s->created_ns || now_ns - s->created_ns <= t->cfg.max_age_ns)
				break;
			t->stats.evicted_age++;
		} else {
			if (t->stats.bytes_cached <= t->cfg.max_bytes)
				break;
			t->stats.evicted_budget++;
		}
		sl_track_tombstone(t, t->scan);
	}
	sl_track_trim(t);
}

void sl_track_on_frame_(struct sl_track *t, uint32_t len)
{
	t->stats.frames_written++;
	t->stats.bytes_written += len;
	t->stats.bytes_cached += len;
	if (t->cfg.max_bytes && t->stats.bytes_cached > t->cfg.max_bytes)
		sl_track_evict(t, 0, false);
}

static int sl_track_grow(struct sl_track *t)
{
	uint64_t cap = (t->mask + 1) * 2;
	struct sl_track_slot *n = malloc(cap * sizeof(*n));
	if (n == NULL)
		return SL_ENOMEM;
	for (uint64_t i = t->head; i < t->tail; i++)
		n[i & (cap - 1)] = *sl_track_slot(t, i);
	free(t->slots);
	t->slots = n;
	t->mask = cap - 1;
	return 0;
}

static int sl_track_insert(struct sl_track *t, uint64_t seq, uint64_t now_ns, struct sl_group **out)
{
	if (t->tail - t->head > t->mask) {
		int rc = sl_track_grow(t);
		if (rc != 0)
			return rc;
	}
	struct sl_group *g = sl_group_new_(seq, t);
	if (g == NULL)
		return SL_ENOMEM;
	int rc = sl_u64map_insert(&t->index, seq, t->tail);
	if (rc != 0) {
		free(g);
		return rc;
	}
	struct sl_track_slot *s = sl_track_slot(t, t->tail++);
	s->group = g;
	s->created_ns = now_ns;
	if (!t->has_max || seq > t->max_seq) {
		/* The old max is evictable again, so the settled prefix must be rescanned. */
		t->has_max = true;
		t->max_seq = seq;
		t->scan = t->head;
	}
	t->stats.groups_created++;
	t->stats.groups_cached++;
	if (t->cfg.max_age_ns)
		sl_track_evict(t, now_ns, true);
	if (t->cfg.max_bytes && t->stats.bytes_cached > t->cfg.max_bytes)
		sl_track_evict(t, now_ns, false);
	sl_waitq_wake_all(&t->waiters);
	*out = g;
	return 0;
}

int sl_track_create_group(struct sl_track *t, uint64_t seq, uint64_t now_ns, struct sl_group **out)
{
	if (t->abort_err)
		return t->abort_err;
	if (t->has_final && seq >= t->final_seq)
		return SL_ECLOSED;
	if (sl_u64map_get(&t->index, seq, NULL)) {
		t->stats.duplicates++;
		return SL_EDUP;
	}
	return sl_track_insert(t, seq, now_ns, out);
}

int sl_track_append_group(struct sl_track *t, uint64_t now_ns, struct sl_group **out)
{
	if (t->abort_err)
		return t->abort_err;
	uint64_t seq = 0;
	if (t->has_max) {
		if (t->max_seq == UINT64_MAX)
			return SL_EBOUNDS;
		seq = t->max_seq + 1;
	}
	if (t->has_final && seq >= t->final_seq)
		return SL_ECLOSED;
	return sl_track_insert(t, seq, now_ns, out);
}

int sl_track_write_frame(struct sl_track *t, uint64_t now_ns, struct sl_slice frame)
{
	struct sl_group *g;
	int rc = sl_track_append_group(t, now_ns, &g);
	if (rc != 0) {
		sl_buf_unref(frame.buf);
		return rc;
	}
	rc = sl_group_write_frame(g, frame);
	if (rc == 0)
		rc = sl_group_finish(g);
	sl_group_unref(g);
	return rc;
}

int sl_track_finish(struct sl_track *t)
{
	if (t->abort_err)
		return t->abort_err;
	if (t->has_final)
		return SL_ECLOSED;
	if (t->has_max && t->max_seq == UINT64_MAX)
		return SL_EBOUNDS;
	t->final_seq = t->has_max ? t->max_seq + 1 : 0;
	t->has_final = true;
	sl_waitq_wake_all(&t->waiters);
	return 0;
}

int sl_track_finish_at(struct sl_track *t, uint64_t seq)
{
	if (t->abort_err)
		return t->abort_err;
	if (!t->has_max || t->has_final || seq != t->max_seq)
		return SL_ECLOSED;
	if (t->max_seq == UINT64_MAX)
		return SL_EBOUNDS;
	t->final_seq = t->max_seq + 1;
	t->has_final = true;
	sl_waitq_wake_all(&t->waiters);
	return 0;
}

int sl_track_abort(struct sl_track *t, int err)
{
	if (err >= 0)
		return SL_EINVAL;
	if (t->abort_err)
		return t->abort_err;
	for (uint64_t i = t->head; i < t->tail; i++) {
		struct sl_group *g = sl_track_slot(t, i)->group;
		if (g)
			sl_group_abort(g, err); /* finished groups stay finished */
	}
	t->abort_err = err;
	sl_waitq_wake_all(&t->waiters);
	return 0;
}

int sl_track_latest(const struct sl_track *t, uint64_t *seq)
{
	if (!t->has_max)
		return SL_ENOTFOUND;
	*seq = t->max_seq;
	return 0;
}

uint64_t sl_track_cache_offset(const struct sl_track *t)
{
	return t->head;
}

bool sl_track_is_cached(const struct sl_track *t, uint64_t seq)
{
	return sl_u64map_get(&t->index, seq, NULL);
}

int sl_track_first_cached(const struct sl_track *t, uint64_t *seq)
{
	for (uint64_t i = t->head; i < t->tail; i++) {
		struct sl_group *g = sl_track_slot(t, i)->group;
		if (g) {
			*seq = g->seq;
			return 0;
		}
	}
	return SL_ENOTFOUND;
}

void sl_track_set_unused(struct sl_track *t, sl_track_unused_fn fn, void *arg)
{
	t->unused = fn;
	t->unused_arg = arg;
}

void sl_track_consume(struct sl_track *t, struct sl_track_consumer *c)
{
	c->track = sl_track_ref(t);
	c->index = 0;
	c->min_sequence = 0;
	t->stats.consumers++;
}

void sl_track_consumer_start_at(struct sl_track_consumer *c, uint64_t seq)
{
	c->min_sequence = seq;
}

/* The terminal states are checked in moq-lite's order: cached data first, then a clean finish,
 * then an abort. An abort also aborts every cached group, so its readers see the error. */
int sl_track_consumer_next_group(struct sl_track_consumer *c, struct sl_waiter *w,
				 struct sl_group_reader *out)
{
	struct sl_track *t = c->track;
	for (uint64_t i = c->index > t->head ? c->index : t->head; i < t->tail; i++) {
		struct sl_group *g = sl_track_slot(t, i)->group;
		if (g && g->seq >= c->min_sequence) {
			sl_group_reader_init(out, g);
			c->index = i + 1;
			return 0;
		}
	}
	if (t->has_final)
		return SL_EEOF;
	if (t->abort_err)
		return t->abort_err;
	sl_waitq_add(&t->waiters, w);
	return SL_EAGAIN;
}

int sl_track_consumer_get_group(struct sl_track_consumer *c, uint64_t seq, struct sl_waiter *w,
				struct sl_group_reader *out)
{
	struct sl_track *t = c->track;
	uint64_t i;
	if (sl_u64map_get(&t->index, seq, &i)) {
		sl_group_reader_init(out, sl_track_slot(t, i)->group);
		return 0;
	}
	/* Once the final sequence is known, groups at or past it can never exist. */
	if (t->has_final && seq >= t->final_seq)
		return SL_ENOTFOUND;
	if (t->abort_err)
		return t->abort_err;
	sl_waitq_add(&t->waiters, w);
	return SL_EAGAIN;
}

int sl_track_consumer_closed(struct sl_track_consumer *c, struct sl_waiter *w)
{
	struct sl_track *t = c->track;
	if (t->has_final)
		return 0;
	if (t->abort_err)
		return t->abort_err;
	sl_waitq_add(&t->waiters, w);
	return SL_EAGAIN;
}

int sl_track_consumer_finished(struct sl_track_consumer *c, struct sl_waiter *w, uint64_t *total)
{
	int rc = sl_track_consumer_closed(c, w);
	if (rc == 0)
		*total = c->track->final_seq;
	return rc;
}

int sl_track_consumer_latest(const struct sl_track_consumer *c, uint64_t *seq)
{
	return sl_track_latest(c->track, seq);
}

void sl_track_consumer_release(struct sl_track_consumer *c, struct sl_waiter *w)
{
	if (w)
		sl_waiter_cancel(w);
	if (c->track == NULL)
		return;
	struct sl_track *t = c->track;
	c->track = NULL;
	/* The consumer's reference is dropped after the callback, so the track outlives it. */
	if (--t->stats.consumers == 0 && t->unused)
		t->unused(t->unused_arg, t);
	sl_track_unref(t);
}
