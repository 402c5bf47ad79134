/* SPDX-License-Identifier: Apache-2.0 */
#include "track/group.h"
#include "core/err.h"
#include "track/track_internal.h"

#include <stdlib.h>

struct sl_group *sl_group_new_(uint64_t seq, struct sl_track *t)
{
	struct sl_group *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->refcnt = 2;
	g->seq = seq;
	g->track = t;
	sl_waitq_init(&g->waiters);
	return g;
}

uint64_t sl_group_sequence(const struct sl_group *g)
{
	return g->seq;
}

uint32_t sl_group_frames(const struct sl_group *g)
{
	return g->nframes;
}

uint64_t sl_group_bytes(const struct sl_group *g)
{
	return g->bytes;
}

int sl_group_state(const struct sl_group *g)
{
	return g->state;
}

/* Gives the group its timestamp array (cap entries), frames so far without one. */
static int ts_alloc(struct sl_group *g, uint32_t cap)
{
	uint64_t *ts = realloc(g->ts, (size_t)cap * sizeof(*ts));
	if (ts == NULL)
		return SL_ENOMEM;
	if (g->ts == NULL)
		for (uint32_t i = 0; i < g->nframes; i++)
			ts[i] = SL_GROUP_NO_TS;
	g->ts = ts;
	return 0;
}

static int write_frame(struct sl_group *g, struct sl_slice frame, uint64_t ts)
{
	int rc = g->state < 0 ? g->state : g->state > 0 ? SL_ECLOSED : 0;
	if (rc == 0 && g->nframes == UINT32_MAX)
		rc = SL_EBOUNDS;
	if (rc == 0 && g->nframes == g->cap) {
		/* Doubling keeps appends amortised O(1); a typical group (one GOP) grows twice. */
		uint32_t cap = g->cap ? (g->cap > UINT32_MAX / 2 ? UINT32_MAX : g->cap * 2) : 8;
		struct sl_slice *f = realloc(g->frames, (size_t)cap * sizeof(*f));
		if (f == NULL) {
			rc = SL_ENOMEM;
		} else {
			g->frames = f;
			/* The timestamps grow with the frames, so an index is valid in both. */
			if (g->ts && ts_alloc(g, cap) != 0)
				rc = SL_ENOMEM;
			else
				g->cap = cap;
		}
	}
	if (rc == 0 && ts != SL_GROUP_NO_TS && g->ts == NULL)
		rc = ts_alloc(g, g->cap);
	if (rc != 0) {
		sl_buf_unref(frame.buf);
		return rc;
	}
	if (g->ts)
		g->ts[g->nframes] = ts;
	g->frames[g->nframes++] = frame;
	g->bytes += frame.len;
	if (g->track)
		sl_track_on_frame_(g->track, frame.len);
	sl_waitq_wake_all(&g->waiters);
	return 0;
}

int sl_group_write_frame(struct sl_group *g, struct sl_slice frame)
{
	return write_frame(g, frame, SL_GROUP_NO_TS);
}

int sl_group_write_frame_ts(struct sl_group *g, struct sl_slice frame, uint64_t ts)
{
	return write_frame(g, frame, ts);
}

int sl_group_finish(struct sl_group *g)
{
	if (g->state != 0)
		return g->state < 0 ? g->state : SL_ECLOSED;
	g->state = 1;
	sl_waitq_wake_all(&g->waiters);
	return 0;
}

int sl_group_abort(struct sl_group *g, int err)
{
	if (err >= 0)
		return SL_EINVAL;
	if (g->state != 0)
		return SL_ECLOSED;
	g->state = err;
	sl_waitq_wake_all(&g->waiters);
	return 0;
}

struct sl_group *sl_group_ref(struct sl_group *g)
{
	g->refcnt++;
	return g;
}

void sl_group_unref(struct sl_group *g)
{
	if (g == NULL || --g->refcnt > 0)
		return;
	sl_waitq_detach_all(&g->waiters);
	for (uint32_t i = 0; i < g->nframes; i++)
		sl_buf_unref(g->frames[i].buf);
	free(g->frames);
	free(g->ts);
	free(g);
}

void sl_group_reader_init(struct sl_group_reader *r, struct sl_group *g)
{
	r->group = sl_group_ref(g);
	r->next = 0;
}

int sl_group_read_frame(struct sl_group_reader *r, struct sl_waiter *w, struct sl_slice *out)
{
	struct sl_group *g = r->group;
	if (g->state < 0)
		return g->state;
	if (r->next < g->nframes) {
		*out = g->frames[r->next++];
		return 0;
	}
	if (g->state > 0)
		return SL_EEOF;
	sl_waitq_add(&g->waiters, w);
	return SL_EAGAIN;
}

int sl_group_read_frame_ts(struct sl_group_reader *r, struct sl_waiter *w, struct sl_slice *out,
			   uint64_t *ts)
{
	struct sl_group *g = r->group;
	uint32_t i = r->next;
	int rc = sl_group_read_frame(r, w, out);
	if (rc == 0)
		*ts = g->ts ? g->ts[i] : SL_GROUP_NO_TS;
	return rc;
}

void sl_group_reader_release(struct sl_group_reader *r)
{
	if (r->group == NULL)
		return;
	sl_group_unref(r->group);
	r->group = NULL;
}
