/* SPDX-License-Identifier: Apache-2.0 */
#include "log/partition.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

struct sl_pstore_part {
	struct sl_slice *recs; /* ring: offset o lives at recs[o & mask] */
	uint64_t mask;
	uint64_t first;	  /* oldest offset still in memory */
	uint64_t next;	  /* next offset to assign */
	uint64_t flushed; /* offsets below this are flushed */
	uint64_t bytes;	  /* payload bytes of the records in memory */
	uint64_t delta_gen;
	uint32_t delta_slot; /* index of this partition's range in the live delta */
	struct sl_waitq waiters;
};

/* A flushed range waiting to be evicted, oldest flush first. */
struct sl_pstore_evict {
	uint32_t partition;
	uint64_t end;
	uint64_t bytes;
};

struct sl_pstore {
	struct sl_pstore_config cfg;
	struct sl_pstore_part *parts;
	struct sl_pstore_evict *fifo; /* ring of pending evictions */
	uint32_t fifo_head, fifo_len, fifo_cap;
	uint64_t flushed_bytes; /* flushed payload still in memory */
	uint64_t gen;
	struct sl_pstore_stats stats;
};

struct sl_pstore_delta {
	struct sl_pstore *ps;
	uint64_t gen;
	uint64_t bytes;	  /* payload bytes */
	uint64_t records; /* records, for the per-record overhead of the size estimate */
	uint32_t n, cap;
	struct sl_pstore_range *ranges;
};

void sl_pstore_config_default(struct sl_pstore_config *cfg)
{
	cfg->partitions = 16;
	cfg->mem_budget = UINT64_C(256) << 20;
	cfg->max_records = 4096;
}

int sl_pstore_new(const struct sl_pstore_config *cfg, struct sl_pstore **out)
{
	if (cfg == NULL || cfg->partitions == 0 || cfg->partitions > SL_PSTORE_MAX_PARTITIONS ||
	    cfg->max_records == 0)
		return SL_EINVAL;
	struct sl_pstore *ps = calloc(1, sizeof(*ps));
	if (ps == NULL)
		return SL_ENOMEM;
	ps->cfg = *cfg;
	ps->parts = calloc(cfg->partitions, sizeof(*ps->parts));
	if (ps->parts == NULL) {
		free(ps);
		return SL_ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->partitions; i++)
		sl_waitq_init(&ps->parts[i].waiters);
	*out = ps;
	return 0;
}

static void part_drop(struct sl_pstore *ps, struct sl_pstore_part *pt, uint64_t end)
{
	for (; pt->first < end; pt->first++) {
		struct sl_slice *s = &pt->recs[pt->first & pt->mask];
		ps->stats.records_in_memory--;
		ps->stats.bytes_in_memory -= s->len;
		pt->bytes -= s->len;
		sl_buf_unref(s->buf);
		s->buf = NULL;
	}
}

void sl_pstore_free(struct sl_pstore *ps)
{
	if (ps == NULL)
		return;
	for (uint32_t i = 0; i < ps->cfg.partitions; i++) {
		struct sl_pstore_part *pt = &ps->parts[i];
		part_drop(ps, pt, pt->next);
		sl_waitq_detach_all(&pt->waiters);
		free(pt->recs);
	}
	free(ps->parts);
	free(ps->fifo);
	free(ps);
}

static int part_reserve(struct sl_pstore_part *pt, uint64_t more)
{
	uint64_t used = pt->next - pt->first, cap = pt->recs ? pt->mask + 1 : 0;
	if (used + more <= cap)
		return 0;
	uint64_t ncap = cap ? cap : 64;
	while (ncap < used + more)
		ncap *= 2;
	struct sl_slice *n = malloc(ncap * sizeof(*n));
	if (n == NULL)
		return SL_ENOMEM;
	for (uint64_t o = pt->first; o < pt->next; o++)
		n[o & (ncap - 1)] = pt->recs[o & pt->mask];
	free(pt->recs);
	pt->recs = n;
	pt->mask = ncap - 1;
	return 0;
}

/* ---- the coordinator's delta interface ---- */

static void *pd_init(void *arg, void *ctx)
{
	(void)ctx; /* the context is the store itself: it knows every partition's next offset */
	struct sl_pstore *ps = arg;
	struct sl_pstore_delta *d = calloc(1, sizeof(*d));
	if (d == NULL)
		return NULL;
	d->ps = ps;
	d->gen = ++ps->gen;
	return d;
}

static int pd_apply(void *arg, void *delta, struct sl_coord_write *w)
{
	struct sl_pstore *ps = arg;
	struct sl_pstore_delta *d = delta;
	struct sl_pstore_append *a = w->data;
	int rc = 0;
	if (a->partition >= ps->cfg.partitions)
		rc = SL_ENOTFOUND;
	else if (a->nrecords == 0 || a->nrecords > ps->cfg.max_records || a->records == NULL)
		rc = SL_EINVAL;
	else if (ps->parts[a->partition].next > UINT64_MAX - a->nrecords)
		rc = SL_EBOUNDS; /* only reachable after a reset to an offset near the end */
	struct sl_pstore_part *pt = rc ? NULL : &ps->parts[a->partition];
	if (rc == 0 && pt->delta_gen != d->gen && d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 8;
		struct sl_pstore_range *r = realloc(d->ranges, cap * sizeof(*r));
		if (r == NULL)
			rc = SL_ENOMEM;
		else {
			d->ranges = r;
			d->cap = cap;
		}
	}
	if (rc == 0)
		rc = part_reserve(pt, a->nrecords);
	if (rc != 0) {
		ps->stats.apply_errors++;
		return rc;
	}
	if (pt->delta_gen != d->gen) {
		pt->delta_gen = d->gen;
		pt->delta_slot = d->n;
		d->ranges[d->n++] = (struct sl_pstore_range){a->partition, 0, pt->next, 0};
	}
	struct sl_pstore_range *r = &d->ranges[pt->delta_slot];
	w->result = pt->next;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < a->nrecords; i++) {
		pt->recs[pt->next++ & pt->mask] = a->records[i];
		bytes += a->records[i].len;
	}
	r->count += a->nrecords;
	r->bytes += bytes;
	d->bytes += bytes;
	d->records += a->nrecords;
	pt->bytes += bytes;
	ps->stats.records_appended += a->nrecords;
	ps->stats.bytes_appended += bytes;
	ps->stats.records_in_memory += a->nrecords;
	ps->stats.bytes_in_memory += bytes;
	ps->stats.bytes_unflushed += bytes;
	sl_waitq_wake_all(&pt->waiters);
	return 0;
}

static uint64_t pd_size(void *arg, const void *delta)
{
	(void)arg;
	/* Payload alone would let empty records pile up without ever reaching the threshold,
	 * although each one costs a slot in memory and a frame in the flushed object. */
	const struct sl_pstore_delta *d = delta;
	return d->bytes + d->records * SL_PSTORE_RECORD_OVERHEAD;
}

static struct sl_pstore_frozen *frozen_copy(const struct sl_pstore_delta *d)
{
	struct sl_pstore_frozen *f = malloc(sizeof(*f) + d->n * sizeof(f->ranges[0]));
	if (f == NULL)
		return NULL;
	f->bytes = d->bytes;
	f->nranges = d->n;
	if (d->n)
		memcpy(f->ranges, d->ranges, d->n * sizeof(f->ranges[0]));
	return f;
}

static int pd_freeze(void *arg, void *delta, struct sl_coord_frozen_out *out)
{
	struct sl_pstore_delta *d = delta;
	struct sl_pstore_frozen *f = frozen_copy(d), *view = frozen_copy(d);
	if (f == NULL || view == NULL) {
		free(f);
		free(view);
		return SL_ENOMEM;
	}
	out->frozen = f;
	out->view = view;
	out->ctx = arg;
	free(d->ranges);
	free(d);
	return 0;
}

static void *pd_reader(void *arg, void *delta)
{
	(void)delta;
	return arg; /* live readers read the store directly (sl_pstore_reader) */
}

static void pd_release(void *arg, enum sl_coord_obj_kind kind, void *obj)
{
	(void)arg;
	if (kind == SL_COORD_OBJ_DELTA) {
		struct sl_pstore_delta *d = obj;
		free(d->ranges);
		free(d);
	} else if (kind == SL_COORD_OBJ_FROZEN_VIEW) {
		free(obj);
	}
	/* Contexts and readers are the store itself. */
}

const struct sl_coord_delta_ops sl_pstore_delta_ops = {
	.init = pd_init,
	.apply = pd_apply,
	.estimate_size = pd_size,
	.freeze = pd_freeze,
	.reader = pd_reader,
	.release = pd_release,
};

/* ---- flush and eviction ---- */

void sl_pstore_frozen_free(struct sl_pstore_frozen *f)
{
	free(f);
}

static int fifo_push(struct sl_pstore *ps, struct sl_pstore_evict e)
{
	if (ps->fifo_len == ps->fifo_cap) {
		uint32_t cap = ps->fifo_cap ? ps->fifo_cap * 2 : 64;
		struct sl_pstore_evict *n = malloc(cap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		for (uint32_t i = 0; i < ps->fifo_len; i++)
			n[i] = ps->fifo[(ps->fifo_head + i) % ps->fifo_cap];
		free(ps->fifo);
		ps->fifo = n;
		ps->fifo_cap = cap;
		ps->fifo_head = 0;
	}
	ps->fifo[(ps->fifo_head + ps->fifo_len++) % ps->fifo_cap] = e;
	return 0;
}

int sl_pstore_flushed(struct sl_pstore *ps, struct sl_pstore_frozen *f)
{
	for (uint32_t i = 0; i < f->nranges; i++) {
		const struct sl_pstore_range *r = &f->ranges[i];
		if (r->partition >= ps->cfg.partitions ||
		    ps->parts[r->partition].flushed != r->first)
			return SL_EINVAL;
	}
	for (uint32_t i = 0; i < f->nranges; i++) {
		const struct sl_pstore_range *r = &f->ranges[i];
		struct sl_pstore_part *pt = &ps->parts[r->partition];
		pt->flushed = r->first + r->count;
		ps->stats.bytes_unflushed -= r->bytes;
		/* Without room to remember the range it is evicted at once: memory stays bounded,
		 * and a reader of those offsets goes to the object store instead. */
		if (fifo_push(ps, (struct sl_pstore_evict){r->partition, pt->flushed, r->bytes}) !=
		    0) {
			uint64_t n = pt->flushed - pt->first;
			ps->stats.records_evicted += n;
			ps->stats.bytes_evicted += r->bytes;
			part_drop(ps, pt, pt->flushed);
			continue;
		}
		ps->flushed_bytes += r->bytes;
	}
	free(f);
	/* Evict record by record from the oldest flushed range until the budget holds, so memory
	 * use tracks the budget closely whatever the flush sizes. */
	while (ps->flushed_bytes > ps->cfg.mem_budget && ps->fifo_len > 0) {
		struct sl_pstore_evict *e = &ps->fifo[ps->fifo_head];
		struct sl_pstore_part *pt = &ps->parts[e->partition];
		while (pt->first < e->end && ps->flushed_bytes > ps->cfg.mem_budget) {
			uint32_t len = pt->recs[pt->first & pt->mask].len;
			part_drop(ps, pt, pt->first + 1);
			ps->stats.records_evicted++;
			ps->stats.bytes_evicted += len;
			ps->flushed_bytes -= len;
			e->bytes -= len;
		}
		if (pt->first < e->end)
			break;
		ps->flushed_bytes -= e->bytes; /* zero unless records went another way */
		ps->fifo_head = (ps->fifo_head + 1) % ps->fifo_cap;
		ps->fifo_len--;
	}
	return 0;
}

/* ---- reading ---- */

int sl_pstore_record(const struct sl_pstore *ps, uint32_t p, uint64_t offset, struct sl_slice *out)
{
	if (p >= ps->cfg.partitions)
		return SL_ENOTFOUND;
	const struct sl_pstore_part *pt = &ps->parts[p];
	if (offset < pt->first || offset >= pt->next)
		return SL_ERANGE;
	*out = pt->recs[offset & pt->mask];
	return 0;
}

uint64_t sl_pstore_part_bytes(const struct sl_pstore *ps, uint32_t p, uint64_t *records)
{
	if (p >= ps->cfg.partitions) {
		if (records)
			*records = 0;
		return 0;
	}
	const struct sl_pstore_part *pt = &ps->parts[p];
	if (records)
		*records = pt->next - pt->first;
	return pt->bytes;
}

int sl_pstore_part_reset(struct sl_pstore *ps, uint32_t p, uint64_t next)
{
	if (p >= ps->cfg.partitions)
		return SL_ENOTFOUND;
	struct sl_pstore_part *pt = &ps->parts[p];
	/* Unflushed records belong to the live delta or to a frozen delta at the flusher, whose
	 * ranges name offsets of this incarnation: dropping them would break that flush. */
	if (pt->flushed != pt->next)
		return SL_EBUSY;
	/* Remove p's pending evictions, keeping the others in order. Each entry's bytes are
	 * exactly what it still adds to flushed_bytes, so the sum stays exact. The compaction is
	 * in place: the write index never passes the read index. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < ps->fifo_len; i++) {
		struct sl_pstore_evict e = ps->fifo[(ps->fifo_head + i) % ps->fifo_cap];
		if (e.partition == p) {
			ps->flushed_bytes -= e.bytes;
			continue;
		}
		ps->fifo[(ps->fifo_head + kept++) % ps->fifo_cap] = e;
	}
	ps->fifo_len = kept;
	part_drop(ps, pt, pt->next);
	/* The ring is sized for the old incarnation's traffic; the new one grows its own. */
	free(pt->recs);
	pt->recs = NULL;
	pt->mask = 0;
	pt->first = pt->next = pt->flushed = next;
	sl_waitq_wake_all(&pt->waiters);
	return 0;
}

uint64_t sl_pstore_drop_below(struct sl_pstore *ps, uint32_t p, uint64_t below)
{
	if (p >= ps->cfg.partitions)
		return 0;
	struct sl_pstore_part *pt = &ps->parts[p];
	if (below > pt->flushed)
		below = pt->flushed;
	uint64_t first = pt->first;
	/* Every flushed record in memory is in one of p's eviction entries, oldest first: each
	 * gives up the bytes of the records dropped from it. An entry left empty is popped by the
	 * next eviction like any other. */
	for (uint32_t i = 0; i < ps->fifo_len && pt->first < below; i++) {
		struct sl_pstore_evict *e = &ps->fifo[(ps->fifo_head + i) % ps->fifo_cap];
		if (e->partition != p)
			continue;
		while (pt->first < below && pt->first < e->end) {
			uint32_t len = pt->recs[pt->first & pt->mask].len;
			part_drop(ps, pt, pt->first + 1);
			e->bytes -= len;
			ps->flushed_bytes -= len;
		}
	}
	return pt->first - first;
}

int sl_pstore_bounds(const struct sl_pstore *ps, uint32_t p, uint64_t *first, uint64_t *next)
{
	if (p >= ps->cfg.partitions)
		return SL_ENOTFOUND;
	*first = ps->parts[p].first;
	*next = ps->parts[p].next;
	return 0;
}

int sl_pstore_reader_init(struct sl_pstore_reader *r, struct sl_pstore *ps, uint32_t p,
			  uint64_t start)
{
	if (p >= ps->cfg.partitions)
		return SL_ENOTFOUND;
	r->ps = ps;
	r->partition = p;
	r->next = start;
	return 0;
}

int sl_pstore_read(struct sl_pstore_reader *r, struct sl_waiter *w, struct sl_slice *out,
		   uint64_t *offset)
{
	struct sl_pstore_part *pt = &r->ps->parts[r->partition];
	if (r->next < pt->first)
		return SL_ERANGE;
	if (r->next >= pt->next) {
		sl_waitq_add(&pt->waiters, w);
		return SL_EAGAIN;
	}
	*out = pt->recs[r->next & pt->mask];
	*offset = r->next++;
	return 0;
}

void sl_pstore_stats(const struct sl_pstore *ps, struct sl_pstore_stats *out)
{
	*out = ps->stats;
}

#define T struct sl_pstore_stats
const struct sl_stat_field sl_pstore_stats_fields[] = {
	SL_STAT_U(T, records_appended, NULL),
	SL_STAT_U(T, bytes_appended, NULL),
	SL_STAT_G(T, records_in_memory, NULL),
	SL_STAT_G(T, bytes_in_memory, NULL),
	SL_STAT_G(T, bytes_unflushed, NULL),
	SL_STAT_U(T, records_evicted, NULL),
	SL_STAT_U(T, bytes_evicted, NULL),
	SL_STAT_U(T, apply_errors, NULL),
	SL_STAT_TABLE_END,
};
#undef T
