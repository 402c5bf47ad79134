/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/recover.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/u64map.h"

/* An event and where the metadata log holds it (partition -1: not said). The event comes first:
 * the sort compares it through a struct sl_seg_event pointer. */
struct rev {
	struct sl_seg_event ev;
	int32_t mpart;
	int64_t moff;
};

struct sl_drecovery {
	struct sl_stream_set *streams;
	struct rev *events;
	size_t nevents, events_cap;
	struct sl_dobj **objs; /* each holds the recovery's own reference */
	size_t nobjs, objs_cap;
	bool sorted;
	struct sl_drec_part *parts;
	size_t nparts, parts_cap;
	struct sl_u64map part_index; /* stream_id * SL_STREAM_MAX_PARTITIONS + partition -> idx */
	struct sl_u64map known;	     /* the same key -> retained start (sl_drecovery_set_start) */
	const char **orphans;
	struct sl_drecovery_stats st;
	uint64_t wall_ms;
	bool finished;
};

static uint64_t part_key(uint64_t stream_id, uint32_t partition)
{
	return stream_id * SL_STREAM_MAX_PARTITIONS + partition;
}

int sl_drecovery_new(struct sl_stream_set *streams, struct sl_drecovery **out)
{
	if (streams == NULL || out == NULL)
		return SL_EINVAL;
	struct sl_drecovery *r = calloc(1, sizeof(*r));
	if (r == NULL || sl_u64map_init(&r->part_index, 64) != 0) {
		free(r);
		return SL_ENOMEM;
	}
	if (sl_u64map_init(&r->known, 64) != 0) {
		sl_u64map_fini(&r->part_index);
		free(r);
		return SL_ENOMEM;
	}
	r->streams = sl_stream_set_ref(streams);
	*out = r;
	return 0;
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 64;
	void *p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return SL_ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int sl_drecovery_add_object(struct sl_drecovery *r, const char *key, uint64_t size)
{
	if (r == NULL || key == NULL || sl_obj_key_check(key) != 0 || r->finished)
		return SL_EINVAL;
	if (grow((void **)&r->objs, &r->objs_cap, r->nobjs, sizeof(*r->objs)) != 0)
		return SL_ENOMEM;
	struct sl_dobj *o = sl_dobj_new(key, size);
	if (o == NULL)
		return SL_ENOMEM;
	r->objs[r->nobjs++] = o;
	r->sorted = false;
	r->st.objects++;
	return 0;
}

int sl_drecovery_add_event_at(struct sl_drecovery *r, const uint8_t *p, size_t n,
			      int32_t meta_partition, int64_t meta_offset, const char **why)
{
	if (r == NULL || r->finished)
		return SL_EINVAL;
	if (grow((void **)&r->events, &r->events_cap, r->nevents, sizeof(*r->events)) != 0)
		return SL_ENOMEM;
	struct rev *e = &r->events[r->nevents];
	int rc = sl_seg_decode(p, n, &e->ev, why);
	if (rc != 0)
		return rc;
	e->mpart = meta_partition;
	e->moff = meta_offset;
	r->st.ranges += e->ev.nranges;
	r->nevents++;
	r->st.events++;
	return 0;
}

int sl_drecovery_add_event(struct sl_drecovery *r, const uint8_t *p, size_t n, const char **why)
{
	return sl_drecovery_add_event_at(r, p, n, -1, 0, why);
}

static struct sl_dobj *obj_find(const struct sl_drecovery *r, const char *key);

void sl_drecovery_each_live(const struct sl_drecovery *r,
			    void (*fn)(void *arg, const char *key, uint64_t size,
				       int32_t meta_partition, int64_t meta_offset),
			    void *arg)
{
	for (size_t i = 0; r != NULL && i < r->nevents; i++) {
		const struct rev *e = &r->events[i];
		const struct sl_dobj *o = obj_find(r, e->ev.key);
		/* Indexed: a segment holds a reference besides the recovery's own. */
		if (o != NULL && __atomic_load_n(&o->refs, __ATOMIC_RELAXED) > 1)
			fn(arg, o->key, o->size, e->mpart, e->moff);
	}
}

static int obj_cmp(const void *a, const void *b)
{
	return strcmp((*(struct sl_dobj *const *)a)->key, (*(struct sl_dobj *const *)b)->key);
}

static int ev_cmp(const void *a, const void *b)
{
	const struct sl_seg_event *x = a, *y = b;
	if (x->boot != y->boot)
		return x->boot < y->boot ? -1 : 1;
	if (x->worker != y->worker)
		return x->worker < y->worker ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

static struct sl_dobj *obj_find(const struct sl_drecovery *r, const char *key)
{
	size_t lo = 0, hi = r->nobjs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, r->objs[mid]->key);
		if (c == 0)
			return r->objs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static struct sl_drec_part *part_get(struct sl_drecovery *r, uint64_t stream_id, uint32_t p,
				     uint64_t first, int *rc)
{
	uint64_t idx;
	*rc = 0;
	if (sl_u64map_get(&r->part_index, part_key(stream_id, p), &idx))
		return &r->parts[idx];
	if (grow((void **)&r->parts, &r->parts_cap, r->nparts, sizeof(*r->parts)) != 0 ||
	    sl_u64map_insert(&r->part_index, part_key(stream_id, p), r->nparts) != 0) {
		*rc = SL_ENOMEM;
		return NULL;
	}
	struct sl_drec_part *pt = &r->parts[r->nparts++];
	memset(pt, 0, sizeof(*pt));
	pt->stream_id = stream_id;
	pt->partition = p;
	/* The first event of a partition says where its offsets start (0 until retention
	 * trims the log). */
	pt->start = pt->end = first;
	return pt;
}

/* Cuts the partition back so that it ends at off. */
static void truncate_to(struct sl_drec_part *pt, uint64_t off)
{
	while (pt->nsegs > 0) {
		struct sl_dseg *s = &pt->segs[pt->nsegs - 1];
		if (s->first + s->count <= off)
			break;
		if (s->first < off) {
			/* Keep the records below off; the batch still holds the rest, which
			 * readers never look at. */
			s->count = off - s->first;
			break;
		}
		sl_dobj_unref(s->obj); /* the recovery's own reference keeps it alive */
		pt->nsegs--;
	}
	/* Idempotent writes are whole inside one range: those reaching past off are gone. */
	while (pt->nidem > 0 &&
	       pt->idem[pt->nidem - 1].offset + pt->idem[pt->nidem - 1].count > off)
		pt->nidem--;
	pt->end = off;
	if (pt->nsegs == 0 && pt->start > off)
		pt->start = off;
}

/* Keeps the last SL_DIDEM_WINDOW writes of each producer, in order: what the owner's table
 * can hold. Bounds the list by producers, not by the log's history. */
static int idem_compact(struct sl_drec_part *pt)
{
	struct sl_u64map seen;
	if (sl_u64map_init(&seen, 64) != 0)
		return SL_ENOMEM;
	uint32_t keep = pt->nidem;
	for (uint32_t i = pt->nidem; i-- > 0;) {
		uint64_t n = 0;
		uint64_t id = pt->idem[i].producer_id;
		(void)sl_u64map_get(&seen, id, &n);
		if (n >= SL_DIDEM_WINDOW)
			continue;
		if (n > 0)
			(void)sl_u64map_remove(&seen, id);
		if (sl_u64map_insert(&seen, id, n + 1) != 0) {
			sl_u64map_fini(&seen);
			return SL_ENOMEM;
		}
		pt->idem[--keep] = pt->idem[i];
	}
	sl_u64map_fini(&seen);
	memmove(pt->idem, pt->idem + keep, (pt->nidem - keep) * sizeof(*pt->idem));
	pt->nidem -= keep;
	return 0;
}

/* Appends the idempotent writes of a range that became a segment. */
static int idem_append(struct sl_drec_part *pt, const struct sl_seg_range *g)
{
	if (g->nidem == 0)
		return 0;
	if (pt->nidem + g->nidem > pt->idem_cap) {
		/* Compact before growing: a long history of few producers stays small. */
		if (pt->nidem >= 1024 && idem_compact(pt) != 0)
			return SL_ENOMEM;
		if (pt->nidem + g->nidem > pt->idem_cap) {
			uint32_t cap = pt->idem_cap ? pt->idem_cap : 16;
			while (cap < pt->nidem + g->nidem)
				cap *= 2;
			struct sl_seg_idem *n = realloc(pt->idem, cap * sizeof(*n));
			if (n == NULL)
				return SL_ENOMEM;
			pt->idem = n;
			pt->idem_cap = cap;
		}
	}
	memcpy(pt->idem + pt->nidem, g->idem, g->nidem * sizeof(*g->idem));
	pt->nidem += g->nidem;
	return 0;
}

static int apply_range(struct sl_drecovery *r, const struct sl_seg_event *ev,
		       const struct sl_seg_range *g)
{
	const struct sl_stream_def *d = sl_stream_set_find_id(r->streams, g->stream_id);
	if (d == NULL || g->partition >= d->partitions) {
		r->st.unknown++;
		return 0;
	}
	/* Below the retained start the starts object recorded: retention dropped it, and its
	 * object may be gone or kept by other partitions; either way it is not read again. */
	uint64_t known;
	if (sl_u64map_get(&r->known, part_key(g->stream_id, g->partition), &known) &&
	    g->first + g->count <= known) {
		r->st.expired++;
		return 0;
	}
	int rc;
	struct sl_drec_part *pt = part_get(r, g->stream_id, g->partition, g->first, &rc);
	if (pt == NULL)
		return rc;
	if (g->first > pt->end && pt->nsegs == 0 && pt->missing_n > 0 &&
	    pt->missing_end == g->first) {
		/* The ranges before this one were deleted by retention (see recover.h). */
		r->st.void_missing -= pt->missing_n;
		r->st.expired += pt->missing_n;
		pt->missing_n = 0;
		pt->start = pt->end = g->first;
	}
	if (g->first > pt->end) {
		r->st.gaps++;
		return 0;
	}
	if (g->first < pt->end) {
		r->st.truncations++;
		truncate_to(pt, g->first);
	}
	struct sl_dobj *o = obj_find(r, ev->key);
	if (o == NULL || o->size < g->off + g->len) {
		r->st.void_missing++;
		if (pt->nsegs == 0) {
			if (pt->missing_end != g->first)
				pt->missing_n = 0;
			pt->missing_n++;
			pt->missing_end = g->first + g->count;
		}
		return 0;
	}
	if (pt->nsegs == pt->cap) {
		uint32_t ncap = pt->cap ? pt->cap * 2 : 8;
		struct sl_dseg *n = realloc(pt->segs, ncap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		pt->segs = n;
		pt->cap = ncap;
	}
	sl_dobj_ref(o);
	pt->segs[pt->nsegs++] = (struct sl_dseg){.first = g->first,
						 .count = g->count,
						 .off = g->off,
						 .len = g->len,
						 .bytes = g->bytes,
						 .wall_ms = ev->wall_ms,
						 .obj = o};
	pt->end = g->first + g->count;
	pt->missing_end = pt->missing_n = 0;
	r->st.applied++;
	return idem_append(pt, g);
}

int sl_drecovery_set_start(struct sl_drecovery *r, uint64_t stream_id, uint32_t partition,
			   uint64_t start)
{
	if (r == NULL || r->finished || partition >= SL_STREAM_MAX_PARTITIONS)
		return SL_EINVAL;
	uint64_t k = part_key(stream_id, partition), old;
	if (sl_u64map_get(&r->known, k, &old)) {
		if (start <= old)
			return 0;
		sl_u64map_remove(&r->known, k);
	}
	return sl_u64map_insert(&r->known, k, start);
}

void sl_drecovery_each_start(const struct sl_drecovery *r,
			     void (*fn)(void *arg, uint64_t stream_id, uint32_t partition,
					uint64_t start),
			     void *arg)
{
	for (size_t i = 0; i < r->nparts; i++)
		fn(arg, r->parts[i].stream_id, r->parts[i].partition, r->parts[i].start);
}

void sl_drecovery_set_wall(struct sl_drecovery *r, uint64_t wall_ms)
{
	r->wall_ms = wall_ms;
}

/* Drops what the stream's retention no longer keeps, so it is never indexed. */
static void retain(struct sl_drecovery *r, struct sl_drec_part *pt)
{
	const struct sl_stream_def *d = sl_stream_set_find_id(r->streams, pt->stream_id);
	if (d == NULL || pt->nsegs == 0)
		return;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < pt->nsegs; i++)
		bytes += pt->segs[i].len;
	uint32_t n = sl_dseg_expired(pt->segs, pt->nsegs, pt->end, bytes,
				     d->retention_age_ns / 1000000, d->retention_bytes, r->wall_ms);
	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		sl_dobj_unref(pt->segs[i].obj); /* the recovery's own reference keeps it alive */
	uint64_t start = pt->segs[n - 1].first + pt->segs[n - 1].count;
	memmove(pt->segs, pt->segs + n, (pt->nsegs - n) * sizeof(pt->segs[0]));
	pt->nsegs -= n;
	if (pt->nsegs == 0)
		pt->start = start; /* end is where the last segment ended: start == end */
	r->st.expired += n;
}

int sl_drecovery_finish(struct sl_drecovery *r)
{
	if (r == NULL || r->finished)
		return SL_EINVAL;
	r->finished = true;
	if (r->nobjs)
		qsort(r->objs, r->nobjs, sizeof(*r->objs), obj_cmp);
	for (size_t i = 1; i < r->nobjs; i++)
		if (strcmp(r->objs[i - 1]->key, r->objs[i]->key) == 0)
			return SL_EDUP;
	if (r->nevents)
		qsort(r->events, r->nevents, sizeof(*r->events), ev_cmp);
	for (size_t i = 0; i < r->nevents; i++) {
		const struct sl_seg_event *ev = &r->events[i].ev;
		for (uint32_t k = 0; k < ev->nranges; k++) {
			int rc = apply_range(r, ev, &ev->ranges[k]);
			if (rc != 0)
				return rc;
		}
	}
	for (size_t i = 0; i < r->nparts; i++) {
		struct sl_drec_part *pt = &r->parts[i];
		retain(r, pt);
		pt->start = pt->nsegs ? pt->segs[0].first : pt->end;
		r->st.partitions += pt->nsegs > 0;
	}
	/* An object only the recovery itself references is an orphan. */
	r->orphans = calloc(r->nobjs ? r->nobjs : 1, sizeof(*r->orphans));
	if (r->orphans == NULL)
		return SL_ENOMEM;
	for (size_t i = 0; i < r->nobjs; i++)
		if (__atomic_load_n(&r->objs[i]->refs, __ATOMIC_RELAXED) == 1)
			r->orphans[r->st.orphans++] = r->objs[i]->key;
	return 0;
}

const struct sl_drec_part *sl_drecovery_find(const struct sl_drecovery *r, uint64_t stream_id,
					     uint32_t partition)
{
	uint64_t idx;
	if (r == NULL || !sl_u64map_get(&r->part_index, part_key(stream_id, partition), &idx))
		return NULL;
	return &r->parts[idx];
}

int sl_drecovery_take(struct sl_drecovery *r, uint64_t stream_id, uint32_t partition,
		      struct sl_drec_part *out)
{
	uint64_t idx;
	if (r == NULL || out == NULL ||
	    !sl_u64map_get(&r->part_index, part_key(stream_id, partition), &idx))
		return SL_ENOTFOUND;
	struct sl_drec_part *pt = &r->parts[idx];
	*out = *pt;
	pt->segs = NULL;
	pt->nsegs = pt->cap = 0;
	pt->idem = NULL;
	pt->nidem = pt->idem_cap = 0;
	return 0;
}

const char *sl_drecovery_orphan(const struct sl_drecovery *r, uint64_t i)
{
	if (r == NULL || r->orphans == NULL || i >= r->st.orphans)
		return NULL;
	return r->orphans[i];
}

void sl_drecovery_stats(const struct sl_drecovery *r, struct sl_drecovery_stats *out)
{
	*out = r->st;
}

void sl_drecovery_free(struct sl_drecovery *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nparts; i++) {
		struct sl_drec_part *pt = &r->parts[i];
		for (uint32_t k = 0; k < pt->nsegs; k++)
			if (sl_dobj_unref(pt->segs[k].obj))
				sl_dobj_free(pt->segs[k].obj);
		free(pt->segs);
		free(pt->idem);
	}
	for (size_t i = 0; i < r->nobjs; i++)
		if (sl_dobj_unref(r->objs[i]))
			sl_dobj_free(r->objs[i]);
	for (size_t i = 0; i < r->nevents; i++)
		sl_seg_event_release(&r->events[i].ev);
	free(r->events);
	free(r->objs);
	free(r->parts);
	free(r->orphans);
	sl_u64map_fini(&r->part_index);
	sl_u64map_fini(&r->known);
	sl_stream_set_unref(r->streams);
	free(r);
}

/* The keys are what `shardctl status` has always called them: a range that became a segment is
 * a segment, one whose object is missing is void. */
#define T struct sl_drecovery_stats
const struct sl_stat_field sl_drecovery_stats_fields[] = {
	SL_STAT_U(T, events, NULL),
	SL_STAT_U(T, ranges, NULL),
	SL_STAT_AS(T, applied, "segments", NULL),
	SL_STAT_U(T, unknown, NULL),
	SL_STAT_U(T, gaps, NULL),
	SL_STAT_AS(T, void_missing, "void", NULL),
	SL_STAT_U(T, expired, NULL),
	SL_STAT_U(T, truncations, NULL),
	SL_STAT_U(T, objects, NULL),
	SL_STAT_U(T, orphans, NULL),
	SL_STAT_U(T, partitions, NULL),
	SL_STAT_TABLE_END,
};
#undef T
