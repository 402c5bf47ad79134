/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/dshard.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "buffer/batch.h"
#include "core/err.h"
#include "core/owner.h"
#include "core/u64map.h"

#define MS UINT64_C(1000000)
/* Parked fetches are checked for their deadline this often: a long poll need not end to the
 * microsecond, and one scan every few milliseconds costs nothing next to a list kept sorted. */
#define PARK_SCAN_NS (5 * MS)

/* Idempotent producers. Per partition, each producer the partition knows has the next
 * sequence it expects and its last SL_DIDEM_WINDOW requests, oldest first, consecutive in
 * sequence and in offset. A request is pending from its admission until it is applied (its
 * offsets are not known before). */
enum { IE_PENDING = 0, IE_APPLIED = 1 };

struct idem_ent {
	uint64_t seq, offset, epoch; /* epoch: the coordinator's, for a retry to wait on */
	uint32_t count;
	uint8_t state;
};

struct idem_prod {
	uint64_t id;
	uint64_t next_seq;
	uint64_t used; /* the shard's clock when last used, for the LRU */
	uint32_t n;
	struct idem_ent e[SL_DIDEM_WINDOW];
};

/* A partition this shard owns. Reference-counted: the lookup map holds one reference, and so
 * does every flush range, fetch and object read that points at it, so a partition dropped with
 * its stream lives on (dead) until the last of them let go. */
struct dpart {
	uint64_t stream_id;
	uint32_t partition;
	uint32_t slot; /* its partition index in the partition store */
	uint32_t max_record_bytes;
	uint32_t refs;
	bool dead;
	bool exported; /* its stream has --export: durable flushes go to the export queue */
	/* Writes submitted to the coordinator and not yet applied: a dead partition's slot is
	 * reused only once none is left, so a late write can never land in another partition. */
	uint32_t writes_queued;
	uint64_t start;	  /* the oldest offset kept */
	uint64_t durable; /* records below are durable */
	/* The segment index: contiguous from start; the segments from durable on are written
	 * but not yet durable. */
	struct sl_dseg *segs;
	uint32_t nsegs, cap;
	uint64_t seg_bytes;
	uint64_t trunc_gen; /* bumped when segments are cut: reads in flight start over */
	/* Fetches waiting for records: applied-isolation ones wake on every apply, durable ones
	 * when the durable offset moves. */
	struct sl_dfetch *parked_applied, *parked_durable;
	/* The segment most recently read from the object store, decoded: sequential readers of
	 * a backlog take several fetches from one segment. */
	struct sl_dobj *cache_obj;
	uint64_t cache_off;
	struct sl_batch cache;
	/* Idempotent producers (grown up to max_producers; searched linearly: a partition
	 * has few, and each request looks at one). */
	struct idem_prod *prods;
	uint32_t nprods, prods_cap;
	struct dpart *next_zombie;
};

struct frange {
	struct dpart *part;
	uint64_t first, count, off, len, bytes;
};

/* One flush in flight: its object write and its segment event proceed side by side. */
struct dflush {
	struct dflush *next;
	struct sl_dshard *ds;
	uint64_t req_id, seq, wall_ms;
	struct sl_pstore_frozen *frozen;
	struct sl_dobj *obj;
	struct sl_obj_req put;
	struct sl_dseg_pub pub;
	bool put_submitted, pub_submitted;
	bool put_done, pub_done, written, reported;
	int put_rc, pub_rc;
	uint32_t nranges;
	struct frange r[];
};

/* A storage flush request: complete once every flush before it is durable. */
struct dstorage {
	struct dstorage *next;
	uint64_t req_id;
};

/* A durable flush's export ranges waiting to be handed to the export queue (ring full). */
struct dexport {
	struct dexport *next;
	struct sl_buf *ev;
};

/* An object whose last segment went away: deleted, then freed; or, with a GC (ops->release),
 * waiting for room to be handed to it. */
struct ddelete {
	struct ddelete *next;
	struct sl_dshard *ds;
	struct sl_dobj *obj;
	struct sl_obj_req req;
	bool submitted;
	bool to_gc;
};

struct sl_dshard {
	struct sl_owner owner; /* the worker's lcore (core/owner.h) */
	struct sl_dshard_config cfg;
	struct sl_stream_set *streams;
	struct sl_pstore *ps;
	struct sl_coord *co;
	int ch;
	struct sl_u64map parts; /* stream_id * SL_STREAM_MAX_PARTITIONS + partition -> dpart */
	struct dpart **slots;	/* slot -> partition using it (live or dead), NULL when free */
	uint32_t *free_slots;
	uint32_t nfree;
	struct dpart *zombies;
	struct dflush *fifo_head, *fifo_tail;
	uint32_t unwritten;	/* flushes whose object is not written yet */
	uint32_t gets_inflight; /* object reads of fetches in flight */
	struct dstorage *storage_head, *storage_tail;
	struct ddelete *deletes;
	struct dexport *exp_head, *exp_tail;
	struct sl_dfetch *parked; /* every parked fetch, for timeouts */
	uint64_t next_park_scan;
	uint64_t seq;
	/* Group commit: the flush command in the coordinator's queue, and which epochs wait. */
	struct sl_coord_write cmd;
	bool cmd_busy;
	uint64_t want_epoch, covered_epoch;
	int failed; /* a storage failure: the write path is rebuilt once nothing is in flight */
	bool stopping;
	bool advancing, advance_again;
	uint64_t now;
	uint64_t next_retention; /* when retention is next applied (retention_run) */
	struct sl_batch_zctx *zctx;
	struct sl_dcons *cons; /* named consumers of the partitions owned here */
	uint64_t idem_clock;
	struct sl_dshard_stats st;
};

static void answer(struct sl_dreq *r, int code, int err, uint64_t detail)
{
	r->code = code;
	r->err = err;
	r->detail = detail;
	r->done(r);
}

void sl_dshard_config_default(struct sl_dshard_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nslots = 1024;
	cfg->max_partitions = 4096;
	cfg->mem_budget = UINT64_C(256) << 20;
	cfg->flush_bytes = UINT64_C(4) << 20;
	cfg->flush_interval_ns = 100 * MS;
	cfg->max_flushes = 2;
	cfg->queue_capacity = 8192;
	cfg->fetch_bytes = UINT64_C(1) << 20;
	cfg->overload_retry_ms = 5;
	cfg->meta_partitions = 16;
	cfg->max_producers = 64;
}

static uint64_t part_key(uint64_t stream_id, uint32_t partition)
{
	return stream_id * SL_STREAM_MAX_PARTITIONS + partition;
}

static struct dpart *part_find(const struct sl_dshard *ds, uint64_t stream_id, uint32_t p)
{
	uint64_t v;
	if (!sl_u64map_get(&ds->parts, part_key(stream_id, p), &v))
		return NULL;
	return (struct dpart *)(uintptr_t)v;
}

static uint64_t part_hwm(const struct sl_dshard *ds, const struct dpart *pt)
{
	uint64_t first, next;
	sl_pstore_bounds(ds->ps, pt->slot, &first, &next);
	return next;
}

static struct sl_lp_marks part_marks(const struct sl_dshard *ds, const struct dpart *pt)
{
	struct sl_lp_marks m = {pt->start, pt->durable, part_hwm(ds, pt)};
	return m;
}

/* ---- objects ---- */

static void delete_done(struct sl_obj_req *req);

/* Deletes an object no segment references any more (a missing one is fine: its write may
 * have failed). */
static void object_delete(struct sl_dshard *ds, struct sl_dobj *o)
{
	const struct sl_dindex_ops *ix = ds->cfg.index;
	if (ix->release != NULL && ix->release(ds->cfg.index_arg, o) == 0) {
		ds->st.objects_released++;
		return;
	}
	struct ddelete *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		/* The object stays on disk until the next start's orphan sweep removes it. */
		sl_dobj_free(o);
		return;
	}
	d->ds = ds;
	d->obj = o;
	d->req.op = SL_OBJ_DELETE;
	d->req.key = o->key;
	d->req.done = delete_done;
	d->req.user = d;
	d->next = ds->deletes;
	ds->deletes = d;
	d->to_gc = ix->release != NULL;
	if (!d->to_gc && sl_objstore_submit(ds->cfg.store, &d->req) == 0)
		d->submitted = true;
}

/* Hands the objects that waited for room to the GC, or submits their deletes. */
static void deletes_retry(struct sl_dshard *ds)
{
	for (struct ddelete **pp = &ds->deletes; *pp;) {
		struct ddelete *d = *pp;
		if (d->to_gc && ds->cfg.index->release(ds->cfg.index_arg, d->obj) == 0) {
			ds->st.objects_released++;
			*pp = d->next;
			free(d);
			continue;
		}
		if (!d->to_gc && !d->submitted && sl_objstore_submit(ds->cfg.store, &d->req) == 0)
			d->submitted = true;
		pp = &d->next;
	}
}

static void delete_done(struct sl_obj_req *req)
{
	struct ddelete *d = req->user;
	struct sl_dshard *ds = d->ds;
	if (req->result == 0)
		ds->st.objects_deleted++;
	for (struct ddelete **pp = &ds->deletes; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	sl_obj_req_reset(req);
	sl_dobj_free(d->obj);
	free(d);
}

static void obj_unref(struct sl_dshard *ds, struct sl_dobj *o)
{
	if (o != NULL && sl_dobj_unref(o))
		object_delete(ds, o);
}

/* ---- partitions ---- */

static void cache_drop(struct sl_dshard *ds, struct dpart *pt)
{
	if (pt->cache_obj == NULL)
		return;
	sl_batch_release(&pt->cache);
	obj_unref(ds, pt->cache_obj);
	pt->cache_obj = NULL;
}

static void part_unref(struct sl_dshard *ds, struct dpart *pt)
{
	if (--pt->refs > 0)
		return;
	/* Only dead partitions lose their last reference (the map holds one while alive). Their
	 * slot is released by zombie_reap once the store holds nothing unflushed of it. */
	pt->next_zombie = ds->zombies;
	ds->zombies = pt;
}

static void segs_truncate(struct sl_dshard *ds, struct dpart *pt, uint64_t end)
{
	pt->trunc_gen++;
	while (pt->nsegs > 0 && pt->segs[pt->nsegs - 1].first >= end) {
		struct sl_dseg *s = &pt->segs[--pt->nsegs];
		pt->seg_bytes -= s->len;
		obj_unref(ds, s->obj);
	}
	if (pt->nsegs > 0) {
		struct sl_dseg *s = &pt->segs[pt->nsegs - 1];
		if (s->first + s->count > end)
			s->count = end - s->first;
	}
}

static void zombie_reap(struct sl_dshard *ds)
{
	for (struct dpart **pp = &ds->zombies; *pp;) {
		struct dpart *pt = *pp;
		if (pt->writes_queued > 0 || sl_pstore_part_reset(ds->ps, pt->slot, 0) != 0) {
			pp = &pt->next_zombie;
			continue;
		}
		*pp = pt->next_zombie;
		ds->slots[pt->slot] = NULL;
		ds->free_slots[ds->nfree++] = pt->slot;
		segs_truncate(ds, pt, 0);
		cache_drop(ds, pt);
		free(pt->segs);
		free(pt->prods);
		free(pt);
	}
}

static int seg_push(struct dpart *pt, const struct sl_dseg *s)
{
	if (pt->nsegs == pt->cap) {
		uint32_t cap = pt->cap ? pt->cap * 2 : 16;
		struct sl_dseg *n = realloc(pt->segs, cap * sizeof(*n));
		if (n == NULL)
			return SL_ENOMEM;
		pt->segs = n;
		pt->cap = cap;
	}
	pt->segs[pt->nsegs++] = *s;
	pt->seg_bytes += s->len;
	return 0;
}

static void fetch_answer(struct sl_dshard *ds, struct sl_dfetch *f, int code, int err,
			 uint64_t detail);
static void fetch_run(struct sl_dshard *ds, struct sl_dfetch *f);

static void park_unlink(struct sl_dfetch *f)
{
	if (f->ppprev) {
		*f->ppprev = f->pnext;
		if (f->pnext)
			f->pnext->ppprev = f->ppprev;
		f->ppprev = NULL;
	}
	if (f->tpprev) {
		*f->tpprev = f->tnext;
		if (f->tnext)
			f->tnext->tpprev = f->tpprev;
		f->tpprev = NULL;
	}
}

/* Runs again every fetch parked on *list. The list is detached first (a fetch may park again,
 * on the partition's fresh list); nothing but this walk reaches the detached fetches' partition
 * links, and a parked fetch is only ever answered by the shard, so the saved next survives. */
static void wake_list(struct sl_dshard *ds, struct sl_dfetch **list)
{
	struct sl_dfetch *x = *list;
	*list = NULL;
	while (x != NULL) {
		struct sl_dfetch *next = x->pnext;
		x->pnext = NULL;
		x->ppprev = NULL;
		park_unlink(x);
		fetch_run(ds, x);
		x = next;
	}
}

static void part_kill(struct sl_dshard *ds, struct dpart *pt)
{
	if (pt->dead)
		return;
	pt->dead = true;
	sl_u64map_remove(&ds->parts, part_key(pt->stream_id, pt->partition));
	/* Waiting readers learn the stream is gone. */
	wake_list(ds, &pt->parked_applied);
	wake_list(ds, &pt->parked_durable);
	segs_truncate(ds, pt, 0);
	pt->nsegs = 0;
	cache_drop(ds, pt);
	ds->st.partitions--;
	part_unref(ds, pt);
}

/* ---- idempotent producers ---- */

static struct idem_prod *idem_find(const struct dpart *pt, uint64_t id)
{
	for (uint32_t i = 0; i < pt->nprods; i++)
		if (pt->prods[i].id == id)
			return &pt->prods[i];
	return NULL;
}

/* A new producer, starting at next_seq. When the partition remembers max_producers, the least
 * recently used one is forgotten (its retries will be appended again). NULL: out of memory
 * (the request is then served without deduplication rather than refused). */
static struct idem_prod *idem_add(struct sl_dshard *ds, struct dpart *pt, uint64_t id,
				  uint64_t next_seq, bool counted)
{
	struct idem_prod *pr = NULL;
	if (pt->nprods >= ds->cfg.max_producers && pt->nprods > 0) {
		pr = &pt->prods[0];
		for (uint32_t i = 1; i < pt->nprods; i++)
			if (pt->prods[i].used < pr->used)
				pr = &pt->prods[i];
		ds->st.producers_evicted += counted;
	} else {
		if (pt->nprods == pt->prods_cap) {
			uint32_t cap = pt->prods_cap ? pt->prods_cap * 2 : 4;
			if (cap > ds->cfg.max_producers)
				cap = ds->cfg.max_producers;
			struct idem_prod *n = realloc(pt->prods, cap * sizeof(*n));
			if (n == NULL)
				return NULL;
			pt->prods = n;
			pt->prods_cap = cap;
		}
		pr = &pt->prods[pt->nprods++];
	}
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->next_seq = next_seq;
	pr->used = ++ds->idem_clock;
	return pr;
}

/* Remembers one more request of pr (the oldest leaves when the window is full). */
static void idem_push(struct idem_prod *pr, const struct idem_ent *e)
{
	if (pr->n == SL_DIDEM_WINDOW) {
		memmove(&pr->e[0], &pr->e[1], (SL_DIDEM_WINDOW - 1) * sizeof(pr->e[0]));
		pr->n--;
	}
	pr->e[pr->n++] = *e;
	pr->next_seq = e->seq + e->count;
}

/* The recovered idempotent writes of a partition, replayed in offset order. */
static void idem_restore(struct sl_dshard *ds, struct dpart *pt, const struct sl_seg_idem *v,
			 uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct idem_prod *pr = idem_find(pt, v[i].producer_id);
		if (pr == NULL)
			/* Producers of a long history that do not fit are not news: uncounted. */
			pr = idem_add(ds, pt, v[i].producer_id, v[i].sequence, false);
		if (pr == NULL)
			return;
		pr->used = ++ds->idem_clock;
		struct idem_ent e = {.seq = v[i].sequence,
				     .offset = v[i].offset,
				     .count = v[i].count,
				     .state = IE_APPLIED};
		/* A producer the table had forgotten and met again restarts its window. */
		if (v[i].sequence != pr->next_seq)
			pr->n = 0;
		idem_push(pr, &e);
	}
}

/* A request admitted at p->sequence did not happen (refused, or its apply failed): the
 * producer expects that sequence again, and requests admitted after it are forgotten too
 * (they fail the same way: the coordinator fails every queued write after a failed one). */
static void idem_unwind(struct dpart *pt, const struct sl_dproduce *p)
{
	struct idem_prod *pr = idem_find(pt, p->producer_id);
	if (pr == NULL)
		return;
	for (uint32_t i = 0; i < pr->n; i++) {
		if (pr->e[i].seq == p->sequence && pr->e[i].state == IE_PENDING) {
			pr->n = i;
			pr->next_seq = p->sequence;
			return;
		}
	}
}

/* The write path went back to the durable end: the table forgets whatever is above it. */
static void idem_cut(struct dpart *pt)
{
	for (uint32_t k = 0; k < pt->nprods; k++) {
		struct idem_prod *pr = &pt->prods[k];
		for (uint32_t i = 0; i < pr->n; i++) {
			struct idem_ent *e = &pr->e[i];
			if (e->state == IE_PENDING || e->offset + e->count > pt->durable) {
				pr->next_seq = e->seq;
				pr->n = i;
				break;
			}
			e->epoch = 0; /* durable: the next coordinator's epochs start over */
		}
	}
}

/* Collects the idempotent writes applied in [first, first + count), in offset order, into
 * out (cap entries). Returns how many. */
static uint32_t idem_collect(const struct dpart *pt, uint64_t first, uint64_t count,
			     struct sl_seg_idem *out, uint32_t cap)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < pt->nprods; k++) {
		const struct idem_prod *pr = &pt->prods[k];
		for (uint32_t i = 0; i < pr->n && n < cap; i++) {
			const struct idem_ent *e = &pr->e[i];
			if (e->state != IE_APPLIED || e->offset < first ||
			    e->offset + e->count > first + count)
				continue;
			/* Insertion sort: a flush range holds few idempotent writes. */
			uint32_t at = n;
			while (at > 0 && out[at - 1].offset > e->offset) {
				out[at] = out[at - 1];
				at--;
			}
			out[at] = (struct sl_seg_idem){.producer_id = pr->id,
						       .sequence = e->seq,
						       .offset = e->offset,
						       .count = e->count};
			n++;
		}
	}
	return n;
}

/* Idempotent writes a partition may hold in memory: what idem_collect can find. */
static uint32_t idem_count(const struct dpart *pt)
{
	uint32_t n = 0;
	for (uint32_t k = 0; k < pt->nprods; k++)
		n += pt->prods[k].n;
	return n;
}

static int part_create(struct sl_dshard *ds, const struct sl_stream_def *d, uint32_t p,
		       struct sl_drecovery *rec)
{
	if (ds->nfree == 0)
		return SL_ENOSPC;
	struct dpart *pt = calloc(1, sizeof(*pt));
	if (pt == NULL)
		return SL_ENOMEM;
	pt->stream_id = d->id;
	pt->partition = p;
	pt->max_record_bytes = d->max_record_bytes;
	pt->exported = d->export_enabled;
	pt->refs = 1;
	struct sl_drec_part rp;
	if (rec != NULL && sl_drecovery_take(rec, d->id, p, &rp) == 0) {
		pt->segs = rp.segs;
		pt->nsegs = rp.nsegs;
		pt->cap = rp.cap;
		pt->start = rp.start;
		pt->durable = rp.end;
		for (uint32_t i = 0; i < pt->nsegs; i++)
			pt->seg_bytes += pt->segs[i].len;
		idem_restore(ds, pt, rp.idem, rp.nidem);
		free(rp.idem);
	}
	uint32_t slot = ds->free_slots[ds->nfree - 1];
	int rc = sl_pstore_part_reset(ds->ps, slot, pt->durable);
	if (rc == 0)
		rc = sl_u64map_insert(&ds->parts, part_key(d->id, p), (uint64_t)(uintptr_t)pt);
	if (rc != 0) {
		segs_truncate(ds, pt, 0);
		free(pt->segs);
		free(pt->prods);
		free(pt);
		return rc == SL_EDUP ? 0 : rc;
	}
	ds->nfree--;
	pt->slot = slot;
	ds->slots[slot] = pt;
	ds->st.partitions++;
	return 0;
}

bool sl_dshard_owns(const struct sl_dshard *ds, const char *stream, uint32_t partition)
{
	SL_ASSERT_OWNER_RO(ds);
	if (ds->cfg.owners == NULL)
		return true;
	uint32_t s = sl_stream_partition_slot(stream, partition, ds->cfg.nslots);
	return ds->cfg.owners[s] == ds->cfg.worker;
}

static int adopt_streams(struct sl_dshard *ds, struct sl_stream_set *set, struct sl_drecovery *rec)
{
	int result = 0;
	for (uint32_t i = 0; i < set->count; i++) {
		const struct sl_stream_def *d = &set->defs[i];
		for (uint32_t p = 0; p < d->partitions; p++) {
			if (!sl_dshard_owns(ds, d->name, p) || part_find(ds, d->id, p) != NULL)
				continue;
			int rc = part_create(ds, d, p, rec);
			if (rc != 0 && result == 0)
				result = rc;
		}
	}
	return result;
}

/* ---- the coordinator's flusher ---- */

static void advance(struct sl_dshard *ds);
static void retention_run(struct sl_dshard *ds);

static void put_done(struct sl_obj_req *req)
{
	struct dflush *f = req->user;
	f->put_done = true;
	f->put_rc = req->result;
	sl_obj_req_reset(req);
	advance(f->ds);
}

static void flush_submit(struct sl_dshard *ds, struct dflush *f)
{
	if (!f->put_submitted) {
		int rc = sl_objstore_submit(ds->cfg.store, &f->put);
		if (rc == 0) {
			f->put_submitted = true;
		} else if (rc != SL_ENOSPC) {
			/* A refused put still holds its body: release it here. */
			sl_buf_unref(f->put.body);
			f->put.body = NULL;
			f->put_submitted = f->put_done = true;
			f->put_rc = rc;
		}
	}
	if (!f->pub_submitted) {
		int rc = ds->cfg.index->publish(ds->cfg.index_arg, &f->pub);
		if (rc == 0) {
			f->pub_submitted = true;
		} else if (rc != SL_ENOSPC) {
			sl_buf_unref(f->pub.payload);
			f->pub.payload = NULL;
			f->pub_submitted = f->pub_done = true;
			f->pub_rc = rc;
		}
	}
}

/* Encodes the records of one range as a shardline batch. */
static int encode_range(struct sl_dshard *ds, const struct sl_pstore_range *r, struct sl_buf **out)
{
	struct iovec *iov = malloc(r->count * sizeof(*iov));
	if (iov == NULL)
		return SL_ENOMEM;
	for (uint64_t i = 0; i < r->count; i++) {
		struct sl_slice s;
		if (sl_pstore_record(ds->ps, r->partition, r->first + i, &s) != 0) {
			free(iov);
			return SL_EIO; /* unflushed records are never evicted: a bug if reached */
		}
		iov[i].iov_base = s.buf->data + s.off;
		iov[i].iov_len = s.len;
	}
	int rc = sl_batch_encode(SL_BATCH_SHARDLINE, ds->cfg.zstd ? SL_BATCH_ZSTD : SL_BATCH_NONE,
				 0, iov, (uint32_t)r->count, ds->zctx, out);
	free(iov);
	return rc;
}

/* Builds the batch object of a frozen delta: one shardline batch per range, back to back. */
static int build_object(struct sl_dshard *ds, struct dflush *f, const struct sl_pstore_frozen *fz,
			struct sl_buf **body)
{
	struct sl_buf **parts = calloc(fz->nranges, sizeof(*parts));
	if (parts == NULL)
		return SL_ENOMEM;
	int rc = 0;
	uint64_t total = 0;
	for (uint32_t i = 0; i < fz->nranges && rc == 0; i++) {
		rc = encode_range(ds, &fz->ranges[i], &parts[i]);
		if (rc == 0) {
			f->r[i].off = total;
			f->r[i].len = parts[i]->len;
			total += parts[i]->len;
		}
	}
	if (rc == 0 && fz->nranges == 1) {
		*body = parts[0];
		parts[0] = NULL;
	} else if (rc == 0) {
		struct sl_buf *b = total < UINT32_MAX - 64 ? sl_buf_alloc(total) : NULL;
		if (b == NULL)
			rc = SL_ENOMEM;
		for (uint32_t i = 0; rc == 0 && i < fz->nranges; i++) {
			memcpy(b->data + b->len, parts[i]->data, parts[i]->len);
			b->len += parts[i]->len;
		}
		*body = b;
	}
	for (uint32_t i = 0; i < fz->nranges; i++)
		sl_buf_unref(parts[i]);
	free(parts);
	return rc;
}

static int fl_delta(void *arg, uint64_t req_id, void *frozen, uint64_t es, uint64_t ee)
{
	(void)es;
	(void)ee;
	struct sl_dshard *ds = arg;
	struct sl_pstore_frozen *fz = frozen;
	struct dflush *f = calloc(1, sizeof(*f) + fz->nranges * sizeof(f->r[0]));
	if (f == NULL) {
		sl_pstore_frozen_free(fz);
		return SL_ENOMEM;
	}
	f->ds = ds;
	f->req_id = req_id;
	f->seq = ++ds->seq;
	f->frozen = fz;
	f->nranges = fz->nranges;
	f->wall_ms = (uint64_t)((int64_t)ds->now + ds->cfg.wall_offset_ns) / MS;
	for (uint32_t i = 0; i < fz->nranges; i++) {
		struct dpart *pt = ds->slots[fz->ranges[i].partition];
		pt->refs++;
		f->r[i].part = pt;
		f->r[i].first = fz->ranges[i].first;
		f->r[i].count = fz->ranges[i].count;
		f->r[i].bytes = fz->ranges[i].bytes;
	}
	/* Queued first: from here on every failure is reported through the FIFO, in order. */
	if (ds->fifo_tail)
		ds->fifo_tail->next = f;
	else
		ds->fifo_head = f;
	ds->fifo_tail = f;
	ds->unwritten++;
	ds->st.flushes++;
	ds->st.flush_bytes += fz->bytes;

	char key[SL_OBJ_KEY_MAX + 1];
	snprintf(key, sizeof(key), "data/%010" PRIu64 "/w%03u-%012" PRIu64 ".batch", ds->cfg.boot,
		 (unsigned)ds->cfg.worker, f->seq);
	struct sl_buf *body = NULL;
	int rc = build_object(ds, f, fz, &body);
	if (rc == 0 && (f->obj = sl_dobj_new(key, body->len)) == NULL)
		rc = SL_ENOMEM;
	struct sl_seg_range *ranges = rc == 0 ? calloc(f->nranges, sizeof(*ranges)) : NULL;
	if (rc == 0 && ranges == NULL)
		rc = SL_ENOMEM;
	/* The idempotent writes of the ranges go into the event, so a restart rebuilds the
	 * producer tables from what is durable. */
	uint64_t nidem = 0;
	for (uint32_t i = 0; rc == 0 && i < f->nranges; i++)
		nidem += idem_count(f->r[i].part);
	struct sl_seg_idem *idem = rc == 0 && nidem ? calloc(nidem, sizeof(*idem)) : NULL;
	if (nidem && idem == NULL)
		rc = SL_ENOMEM;
	if (rc == 0) {
		uint64_t used = 0;
		for (uint32_t i = 0; i < f->nranges; i++) {
			ranges[i] = (struct sl_seg_range){.stream_id = f->r[i].part->stream_id,
							  .partition = f->r[i].part->partition,
							  .first = f->r[i].first,
							  .count = f->r[i].count,
							  .off = f->r[i].off,
							  .len = f->r[i].len,
							  .bytes = f->r[i].bytes};
			if (idem == NULL)
				continue;
			ranges[i].idem = idem + used;
			ranges[i].nidem = idem_collect(f->r[i].part, f->r[i].first, f->r[i].count,
						       idem + used, (uint32_t)(nidem - used));
			used += ranges[i].nidem;
		}
		struct sl_seg_event ev = {.boot = ds->cfg.boot,
					  .worker = ds->cfg.worker,
					  .seq = f->seq,
					  .wall_ms = f->wall_ms,
					  .object_size = body->len,
					  .nranges = f->nranges,
					  .ranges = ranges};
		snprintf(ev.key, sizeof(ev.key), "%s", key);
		rc = sl_seg_encode(&ev, &f->pub.payload);
	}
	free(ranges);
	free(idem);
	if (rc != 0) {
		sl_buf_unref(body);
		f->put_submitted = f->put_done = f->pub_submitted = f->pub_done = true;
		f->put_rc = f->pub_rc = rc;
		return 0; /* reported in order by advance */
	}
	f->put.op = SL_OBJ_PUT;
	/* Nobody reads a batch object before its put completed, and the segment event names its
	 * length: it may be written in place (no temporary file, rename or key lock). */
	f->put.put_mode = SL_OBJ_PUT_CREATE_DIRECT;
	f->put.key = f->obj->key;
	f->put.body = body;
	f->put.done = put_done;
	f->put.user = f;
	f->pub.meta_partition = (int32_t)(ds->cfg.worker % ds->cfg.meta_partitions);
	f->pub.status = SL_EAGAIN;
	f->pub.shard_ctx = f;
	f->pub.worker = ds->cfg.worker;
	f->pub.obj_key = f->obj->key;
	f->pub.obj_size = f->obj->size;
	f->pub_submitted = false;
	flush_submit(ds, f);
	return 0;
}

static int fl_storage(void *arg, uint64_t req_id)
{
	struct sl_dshard *ds = arg;
	struct dstorage *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SL_ENOMEM;
	s->req_id = req_id;
	if (ds->storage_tail)
		ds->storage_tail->next = s;
	else
		ds->storage_head = s;
	ds->storage_tail = s;
	advance(ds);
	return 0;
}

static void fl_release_snapshot(void *arg, void *snap)
{
	(void)arg;
	(void)snap; /* the shard hands the coordinator no snapshots */
}

static const struct sl_coord_flusher_ops flusher_ops = {
	.flush_delta = fl_delta,
	.flush_storage = fl_storage,
	.release_snapshot = fl_release_snapshot,
};

static void kick(struct sl_dshard *ds);

/* A failure of the flush at the head of what is not yet durable: the coordinator learns it at
 * once (it then fails every waiter and queued write), and the write path is rebuilt from the
 * durable state once every flush in flight came back. */
static void fail(struct sl_dshard *ds, int rc)
{
	if (ds->failed)
		return;
	ds->failed = rc < 0 ? rc : SL_EIO;
	ds->st.flush_errors++;
	for (struct dflush *f = ds->fifo_head; f; f = f->next) {
		if (f->reported)
			continue;
		f->reported = true;
		sl_coord_flush_complete(ds->co, f->req_id, ds->failed, NULL, ds->now);
	}
	while (ds->storage_head) {
		struct dstorage *s = ds->storage_head;
		ds->storage_head = s->next;
		sl_coord_flush_complete(ds->co, s->req_id, ds->failed, NULL, ds->now);
		free(s);
	}
	ds->storage_tail = NULL;
}

static void flush_free(struct sl_dshard *ds, struct dflush *f)
{
	for (uint32_t i = 0; i < f->nranges; i++)
		part_unref(ds, f->r[i].part);
	if (f->frozen)
		sl_pstore_frozen_free(f->frozen);
	obj_unref(ds, f->obj);
	free(f);
}

/* Hands waiting export events over, in order; stops at the first refusal. */
static void export_offer(struct sl_dshard *ds)
{
	while (ds->exp_head && ds->cfg.index->exported(ds->cfg.index_arg, ds->exp_head->ev) == 0) {
		struct dexport *e = ds->exp_head;
		ds->exp_head = e->next;
		if (ds->exp_head == NULL)
			ds->exp_tail = NULL;
		free(e);
	}
}

/*
 * A flush just became durable: its ranges of --export streams go to the export queue as a
 * segment event holding only them. Flushes become durable in order, so the export queue sees
 * a worker's flushes in durability order. One allocation per flush, never per record.
 */
static void export_flush(struct sl_dshard *ds, const struct dflush *f)
{
	if (ds->cfg.index->exported == NULL)
		return;
	uint32_t n = 0;
	for (uint32_t i = 0; i < f->nranges; i++)
		n += f->r[i].part->exported && !f->r[i].part->dead;
	if (n == 0)
		return;
	struct sl_seg_range *r = calloc(n, sizeof(*r));
	struct dexport *e = calloc(1, sizeof(*e));
	struct sl_seg_event ev = {.boot = ds->cfg.boot,
				  .worker = ds->cfg.worker,
				  .seq = f->seq,
				  .wall_ms = f->wall_ms,
				  .object_size = f->obj->size,
				  .nranges = n,
				  .ranges = r};
	snprintf(ev.key, sizeof(ev.key), "%s", f->obj->key);
	uint32_t k = 0;
	for (uint32_t i = 0; r && i < f->nranges; i++) {
		const struct dpart *pt = f->r[i].part;
		if (!pt->exported || pt->dead)
			continue;
		/* The export queue needs no idempotent writes: nidem 0. */
		r[k++] = (struct sl_seg_range){.stream_id = pt->stream_id,
					       .partition = pt->partition,
					       .first = f->r[i].first,
					       .count = f->r[i].count,
					       .off = f->r[i].off,
					       .len = f->r[i].len,
					       .bytes = f->r[i].bytes};
	}
	if (r == NULL || e == NULL || sl_seg_encode(&ev, &e->ev) != 0) {
		/* The records stay durable and readable; only their export entry is lost. */
		ds->st.export_failed++;
		free(r);
		free(e);
		return;
	}
	free(r);
	ds->st.exports++;
	if (ds->exp_tail)
		ds->exp_tail->next = e;
	else
		ds->exp_head = e;
	ds->exp_tail = e;
	export_offer(ds);
}

/* Applies flush results in flush order: written as each object write completes, durable as
 * each flush's object and event are both in, and storage requests once what they cover is. */
static void advance(struct sl_dshard *ds)
{
	if (ds->advancing) {
		ds->advance_again = true;
		return;
	}
	ds->advancing = true;
	do {
		ds->advance_again = false;
		for (struct dflush *f = ds->fifo_head; f && !ds->failed; f = f->next) {
			if (f->written)
				continue;
			if (!f->put_done)
				break;
			if (f->put_rc != 0) {
				fail(ds, f->put_rc);
				break;
			}
			for (uint32_t i = 0; i < f->nranges; i++) {
				struct dpart *pt = f->r[i].part;
				if (pt->dead)
					continue;
				struct sl_dseg s = {.first = f->r[i].first,
						    .count = f->r[i].count,
						    .off = f->r[i].off,
						    .len = f->r[i].len,
						    .bytes = f->r[i].bytes,
						    .wall_ms = f->wall_ms,
						    .obj = f->obj};
				sl_dobj_ref(f->obj);
				if (seg_push(pt, &s) != 0) {
					sl_dobj_unref(f->obj);
					fail(ds, SL_ENOMEM);
					break;
				}
			}
			if (ds->failed)
				break;
			/* The records may now leave memory: readers find them in the object. */
			sl_pstore_flushed(ds->ps, f->frozen);
			f->frozen = NULL;
			f->written = true;
			f->reported = true;
			ds->unwritten--;
			ds->st.objects_written++;
			sl_coord_flush_complete(ds->co, f->req_id, 0, NULL, ds->now);
		}
		while (!ds->failed && ds->fifo_head && ds->fifo_head->written &&
		       ds->fifo_head->pub_done) {
			struct dflush *f = ds->fifo_head;
			if (f->pub_rc != 0) {
				ds->st.events_failed++;
				fail(ds, f->pub_rc);
				break;
			}
			ds->st.events_published++;
			ds->fifo_head = f->next;
			if (ds->fifo_head == NULL)
				ds->fifo_tail = NULL;
			for (uint32_t i = 0; i < f->nranges; i++) {
				struct dpart *pt = f->r[i].part;
				if (pt->dead)
					continue;
				pt->durable = f->r[i].first + f->r[i].count;
				wake_list(ds, &pt->parked_durable);
			}
			export_flush(ds, f);
			flush_free(ds, f);
		}
		while (!ds->failed && ds->storage_head &&
		       (ds->fifo_head == NULL ||
			ds->storage_head->req_id < ds->fifo_head->req_id)) {
			struct dstorage *s = ds->storage_head;
			ds->storage_head = s->next;
			if (ds->storage_head == NULL)
				ds->storage_tail = NULL;
			sl_coord_flush_complete(ds->co, s->req_id, 0, NULL, ds->now);
			free(s);
		}
		/* After a failure, flushes are dropped as their object writes and events come
		 * back: their structs are what those requests point at. */
		while (ds->failed && ds->fifo_head && ds->fifo_head->put_done &&
		       ds->fifo_head->pub_done) {
			struct dflush *f = ds->fifo_head;
			ds->fifo_head = f->next;
			if (ds->fifo_head == NULL)
				ds->fifo_tail = NULL;
			if (!f->written)
				ds->unwritten--;
			flush_free(ds, f);
		}
	} while (ds->advance_again);
	ds->advancing = false;
	zombie_reap(ds);
	kick(ds);
}

/* ---- produce ---- */

static void cmd_done(struct sl_coord_write *w)
{
	struct sl_dshard *ds = (struct sl_dshard *)((char *)w - offsetof(struct sl_dshard, cmd));
	ds->cmd_busy = false;
	if (w->status == 0 && w->epoch > ds->covered_epoch)
		ds->covered_epoch = w->epoch;
	kick(ds);
}

/*
 * Group commit: when a producer waits for written or durable and no flush command is queued,
 * one is queued at once, so the records go out without waiting for the interval; while
 * max_flushes are in flight, writes arriving meanwhile gather in the delta and leave together
 * with the next command.
 */
static void kick(struct sl_dshard *ds)
{
	if (ds->cmd_busy || ds->failed || ds->co == NULL || ds->want_epoch <= ds->covered_epoch ||
	    ds->unwritten >= ds->cfg.max_flushes)
		return;
	ds->cmd.done = cmd_done;
	if (sl_coord_flush(ds->co, ds->ch, &ds->cmd, true) == 0)
		ds->cmd_busy = true;
}

static void produce_finish(struct sl_dproduce *p, int code, int err)
{
	struct sl_dshard *ds = p->ds;
	if (code != 0)
		ds->st.produce_errors++;
	answer(&p->h, code, err, 0);
}

static int storage_code(int rc)
{
	if (rc == SL_ECLOSED)
		return SL_LP_ERR_SHUTTING_DOWN;
	return SL_LP_ERR_STORAGE_FAILED;
}

static void wait_done(struct sl_coord_waiter *w)
{
	struct sl_dproduce *p =
		(struct sl_dproduce *)((char *)w - offsetof(struct sl_dproduce, wait));
	produce_finish(p, w->status == 0 ? 0 : storage_code(w->status), w->status);
}

/* A tracked request was applied (its entry learns its offsets and epoch) or failed (the
 * producer goes back to its sequence). */
static void idem_applied(struct dpart *pt, const struct sl_dproduce *p,
			 const struct sl_coord_write *w)
{
	if (w->status != 0) {
		idem_unwind(pt, p);
		return;
	}
	struct idem_prod *pr = idem_find(pt, p->producer_id);
	for (uint32_t i = 0; pr != NULL && i < pr->n; i++) {
		struct idem_ent *e = &pr->e[i];
		if (e->seq == p->sequence && e->state == IE_PENDING) {
			e->state = IE_APPLIED;
			e->offset = w->result;
			e->epoch = w->epoch;
			return;
		}
	}
}

/* Waits, for a duplicate answered with the original's offsets, until those records reach the
 * durability this request asks for (the original's epoch), as the original would have. */
static void dup_wait(struct sl_dshard *ds, struct dpart *pt, struct sl_dproduce *p,
		     const struct idem_ent *e)
{
	if (p->durability == SL_LP_APPLIED || e->epoch == 0 ||
	    e->offset + e->count <= pt->durable) {
		produce_finish(p, 0, 0);
		return;
	}
	if (e->epoch > ds->want_epoch)
		ds->want_epoch = e->epoch;
	p->wait.done = wait_done;
	enum sl_coord_durability level =
		p->durability == SL_LP_WRITTEN ? SL_DURABILITY_WRITTEN : SL_DURABILITY_DURABLE;
	int rc = sl_coord_wait(ds->co, &p->wait, e->epoch, level);
	if (rc != SL_EAGAIN)
		produce_finish(p, rc == 0 ? 0 : storage_code(rc), rc);
	kick(ds);
}

static void idem_refuse(struct sl_dshard *ds, struct sl_dproduce *p, int code, uint64_t detail)
{
	ds->st.produce_errors++;
	answer(&p->h, code, SL_EINVAL, detail);
}

/*
 * Checks an idempotent request against its producer's table. Returns false when the request
 * goes on to be appended (admitted and tracked, or untracked when the table has no memory),
 * true when it was answered here: a duplicate (code 0, nothing appended), a sequence gap or
 * an unknown retry (OUT_OF_ORDER_SEQUENCE), or a retry of a request still queued (OVERLOADED:
 * its offsets are not known yet; the retry comes back after the delay).
 */
static bool idem_admit(struct sl_dshard *ds, struct dpart *pt, struct sl_dproduce *p)
{
	struct idem_prod *pr = idem_find(pt, p->producer_id);
	if (pr == NULL && (pr = idem_add(ds, pt, p->producer_id, p->sequence, true)) == NULL)
		return false;
	pr->used = ++ds->idem_clock;
	if (p->sequence == pr->next_seq) {
		struct idem_ent e = {.seq = p->sequence, .count = p->count, .state = IE_PENDING};
		idem_push(pr, &e);
		p->idem_tracked = true;
		return false;
	}
	if (p->sequence < pr->next_seq) {
		for (uint32_t i = 0; i < pr->n; i++) {
			const struct idem_ent *e = &pr->e[i];
			if (e->seq != p->sequence || e->count != p->count)
				continue;
			if (e->state == IE_PENDING || ds->failed || ds->co == NULL) {
				ds->st.produce_overloaded++;
				answer(&p->h, SL_LP_ERR_OVERLOADED, SL_EAGAIN,
				       ds->cfg.overload_retry_ms);
				return true;
			}
			ds->st.produce_duplicates++;
			p->duplicate = true;
			p->first_offset = e->offset;
			dup_wait(ds, pt, p, e);
			return true;
		}
	}
	ds->st.produce_out_of_order++;
	idem_refuse(ds, p, SL_LP_ERR_OUT_OF_ORDER_SEQUENCE, pr->next_seq);
	return true;
}

static void apply_done(struct sl_coord_write *w)
{
	struct sl_dproduce *p =
		(struct sl_dproduce *)((char *)w - offsetof(struct sl_dproduce, app.w));
	struct sl_dshard *ds = p->ds;
	struct dpart *pt = ds->slots[p->app.partition];
	pt->writes_queued--;
	if (p->idem_tracked)
		idem_applied(pt, p, w);
	if (w->status != 0) {
		int code = w->status == SL_ECLOSED  ? SL_LP_ERR_SHUTTING_DOWN
			   : w->status == SL_ENOMEM ? SL_LP_ERR_INTERNAL
						    : storage_code(w->status);
		/* A failed apply leaves the records with the caller, except after the epoch was
		 * spent on an apply error: the store did not take them either way. */
		produce_finish(p, code, w->status);
		part_unref(ds, pt);
		return;
	}
	p->records_taken = true;
	p->first_offset = w->result;
	ds->st.produce_records += p->count;
	wake_list(ds, &pt->parked_applied);
	part_unref(ds, pt);
	if (p->durability == SL_LP_APPLIED) {
		produce_finish(p, 0, 0);
		return;
	}
	if (w->epoch > ds->want_epoch)
		ds->want_epoch = w->epoch;
	p->wait.done = wait_done;
	enum sl_coord_durability level =
		p->durability == SL_LP_WRITTEN ? SL_DURABILITY_WRITTEN : SL_DURABILITY_DURABLE;
	int rc = sl_coord_wait(ds->co, &p->wait, w->epoch, level);
	if (rc != SL_EAGAIN)
		produce_finish(p, rc == 0 ? 0 : storage_code(rc), rc);
	kick(ds);
}

static void produce(struct sl_dshard *ds, struct sl_dproduce *p)
{
	p->ds = ds;
	p->records_taken = false;
	p->duplicate = false;
	p->idem_tracked = false;
	ds->st.produce_requests++;
	struct dpart *pt = part_find(ds, p->h.stream_id, p->h.partition);
	if (pt == NULL) {
		const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, p->h.stream_id);
		produce_finish(p,
			       d == NULL			 ? SL_LP_ERR_UNKNOWN_STREAM
			       : p->h.partition >= d->partitions ? SL_LP_ERR_PARTITION_RANGE
								 : SL_LP_ERR_INTERNAL,
			       0);
		return;
	}
	if (p->count == 0 || p->count > SL_LP_MAX_RECORDS || p->durability > SL_LP_DURABLE) {
		produce_finish(p, SL_LP_ERR_INVALID, SL_EINVAL);
		return;
	}
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < p->count; i++) {
		if (p->recs[i].len > pt->max_record_bytes) {
			produce_finish(p, SL_LP_ERR_RECORD_TOO_LARGE, SL_EINVAL);
			return;
		}
		bytes += p->recs[i].len;
	}
	if (ds->stopping) {
		produce_finish(p, SL_LP_ERR_SHUTTING_DOWN, SL_ECLOSED);
		return;
	}
	if (p->idempotent && idem_admit(ds, pt, p))
		return;
	sl_pstore_append_init(&p->app, pt->slot, p->recs, p->count, apply_done);
	pt->refs++;
	pt->writes_queued++;
	int rc = ds->failed ? ds->failed : sl_coord_try_write(ds->co, ds->ch, &p->app.w);
	if (rc != 0) {
		pt->writes_queued--;
		if (p->idem_tracked)
			idem_unwind(pt, p);
		part_unref(ds, pt);
		if (rc == SL_ECLOSED) {
			produce_finish(p, SL_LP_ERR_SHUTTING_DOWN, rc);
			return;
		}
		/* A full queue, or a write path being rebuilt after a storage failure: the
		 * producer backs off and retries; nothing was kept. */
		ds->st.produce_overloaded++;
		p->h.code = SL_LP_ERR_OVERLOADED;
		p->h.err = rc;
		p->h.detail = ds->cfg.overload_retry_ms;
		p->h.done(&p->h);
		return;
	}
	ds->st.produce_bytes += bytes;
}

/* ---- fetch ---- */

void sl_dfetch_release(struct sl_dfetch *f)
{
	if (f == NULL || f->recs == NULL)
		return;
	for (uint32_t i = 0; i < f->count; i++)
		sl_buf_unref(f->recs[i].buf);
	free(f->recs);
	f->recs = NULL;
	f->count = 0;
}

static void fetch_answer(struct sl_dshard *ds, struct sl_dfetch *f, int code, int err,
			 uint64_t detail)
{
	struct dpart *pt = f->part;
	if (pt != NULL) {
		f->marks = part_marks(ds, pt);
		f->part = NULL;
		part_unref(ds, pt);
	}
	if (code != 0)
		ds->st.fetch_errors++;
	ds->st.fetch_records += f->count;
	ds->st.fetch_bytes += f->bytes;
	answer(&f->h, code, err, detail);
}

static int recs_reserve(struct sl_dfetch *f, uint64_t n)
{
	f->recs = malloc((n ? n : 1) * sizeof(*f->recs));
	return f->recs ? 0 : SL_ENOMEM;
}

/* Answers from the partition store's memory: [offset, limit), at most max_bytes (at least one
 * record). */
static void fetch_memory(struct sl_dshard *ds, struct sl_dfetch *f, struct dpart *pt,
			 uint64_t limit)
{
	uint64_t n = 0, bytes = 0, cap = limit - f->offset;
	if (cap > SL_LP_MAX_RECORDS)
		cap = SL_LP_MAX_RECORDS;
	for (; n < cap; n++) {
		struct sl_slice s;
		if (sl_pstore_record(ds->ps, pt->slot, f->offset + n, &s) != 0)
			break;
		if (n > 0 && bytes + s.len > f->max_bytes)
			break;
		bytes += s.len;
	}
	if (recs_reserve(f, n) != 0) {
		fetch_answer(ds, f, SL_LP_ERR_INTERNAL, SL_ENOMEM, 0);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		sl_pstore_record(ds->ps, pt->slot, f->offset + i, &f->recs[i]);
		sl_buf_ref(f->recs[i].buf);
	}
	f->first = f->offset;
	f->count = (uint32_t)n;
	f->bytes = bytes;
	fetch_answer(ds, f, 0, 0, 0);
}

/* Answers from a decoded segment whose records start at seg_first. */
static void fetch_batch(struct sl_dshard *ds, struct sl_dfetch *f, const struct sl_batch *b,
			uint64_t seg_first, uint64_t seg_count, uint64_t limit)
{
	uint64_t end = seg_first + seg_count;
	if (end > limit)
		end = limit;
	if (seg_count > b->count || f->offset < seg_first || f->offset >= end) {
		/* The object does not hold what the index says: corrupt or a bug. */
		ds->st.object_read_errors++;
		fetch_answer(ds, f, SL_LP_ERR_STORAGE_FAILED, SL_ECORRUPT, 0);
		return;
	}
	uint64_t n = 0, bytes = 0, cap = end - f->offset;
	if (cap > SL_LP_MAX_RECORDS)
		cap = SL_LP_MAX_RECORDS;
	for (; n < cap; n++) {
		uint32_t len = b->entries[f->offset - seg_first + n].len;
		if (n > 0 && bytes + len > f->max_bytes)
			break;
		bytes += len;
	}
	if (recs_reserve(f, n) != 0) {
		fetch_answer(ds, f, SL_LP_ERR_INTERNAL, SL_ENOMEM, 0);
		return;
	}
	for (uint64_t i = 0; i < n; i++) {
		f->recs[i] = b->entries[f->offset - seg_first + i];
		sl_buf_ref(f->recs[i].buf);
	}
	f->first = f->offset;
	f->count = (uint32_t)n;
	f->bytes = bytes;
	ds->st.fetches_from_objects++;
	fetch_answer(ds, f, 0, 0, 0);
}

static uint64_t fetch_limit(const struct sl_dshard *ds, const struct sl_dfetch *f,
			    const struct dpart *pt)
{
	return f->isolation == SL_LP_ISO_APPLIED ? part_hwm(ds, pt) : pt->durable;
}

static void gets_release(struct sl_dshard *ds, struct sl_dfetch *f, uint32_t keep)
{
	for (uint32_t i = 0; i < f->ngets; i++) {
		if (i == keep)
			continue;
		sl_batch_release(&f->batches[i]);
		obj_unref(ds, f->seg_objs[i]);
		f->seg_objs[i] = NULL;
	}
	f->ngets = 0;
}

/* Fills f's answer from the segments read for it (all decoded, in offset order): records from
 * f->offset on, below limit, within the fetch's bounds. Returns 0 or SL_ENOMEM; *keep is the
 * read segment holding the next offset to read (or the last used), for the partition's cache. */
static int gets_collect(struct sl_dfetch *f, uint64_t limit, uint32_t *keep)
{
	uint64_t n = 0, bytes = 0, off = f->offset;
	bool full = false;
	*keep = 0;
	for (uint32_t i = 0; i < f->ngets && !full && off < limit; i++) {
		uint64_t first = f->seg_firsts[i], end = first + f->seg_counts[i];
		if (off < first || off >= end)
			break; /* the index is contiguous, so only a bug gets here */
		*keep = i;
		for (; off < end && off < limit; off++, n++) {
			uint32_t len = f->batches[i].entries[off - first].len;
			if (n == SL_LP_MAX_RECORDS || (n > 0 && bytes + len > f->max_bytes)) {
				full = true;
				break;
			}
			bytes += len;
		}
	}
	if (recs_reserve(f, n) != 0)
		return SL_ENOMEM;
	off = f->offset;
	for (uint32_t i = 0, k = 0; k < n; i++) {
		uint64_t first = f->seg_firsts[i], end = first + f->seg_counts[i];
		for (; off < end && k < n; off++, k++) {
			f->recs[k] = f->batches[i].entries[off - first];
			sl_buf_ref(f->recs[k].buf);
		}
	}
	f->first = f->offset;
	f->count = (uint32_t)n;
	f->bytes = bytes;
	return 0;
}

static void gets_finish(struct sl_dshard *ds, struct sl_dfetch *f);

static void get_done(struct sl_obj_req *req)
{
	struct sl_dfetch *f = req->user;
	struct sl_dshard *ds = f->ds;
	uint32_t i = (uint32_t)(req - f->gets);
	int rc = req->result;
	ds->gets_inflight--;
	if (rc == 0 && f->get_err == 0) {
		const char *why = NULL;
		rc = sl_batch_decode(req->data, NULL, ds->zctx, &f->batches[i], &why);
		if (rc == 0 && f->seg_counts[i] > f->batches[i].count)
			rc = SL_ECORRUPT; /* the object does not hold what the index says */
	}
	sl_obj_req_reset(req);
	if (rc != 0 && f->get_err == 0) {
		ds->st.object_read_errors++;
		f->get_err = rc;
	}
	if (--f->gets_left == 0)
		gets_finish(ds, f);
}

static void gets_finish(struct sl_dshard *ds, struct sl_dfetch *f)
{
	struct dpart *pt = f->part;
	int rc;
	if (pt->dead || ds->stopping) {
		gets_release(ds, f, UINT32_MAX);
		fetch_answer(ds, f, pt->dead ? SL_LP_ERR_UNKNOWN_STREAM : SL_LP_ERR_SHUTTING_DOWN,
			     SL_ECLOSED, 0);
		return;
	}
	if (f->get_err != 0) {
		gets_release(ds, f, UINT32_MAX);
		fetch_answer(ds, f, SL_LP_ERR_STORAGE_FAILED, f->get_err, 0);
		return;
	}
	if (f->trunc_gen != pt->trunc_gen) {
		/* Segments were cut (a failed flush) while they were read: look again. */
		gets_release(ds, f, UINT32_MAX);
		fetch_run(ds, f);
		return;
	}
	uint32_t keep;
	rc = gets_collect(f, fetch_limit(ds, f, pt), &keep);
	/* The cache and the reads are settled before the answer: its callback may reuse f. */
	cache_drop(ds, pt);
	pt->cache_obj = f->seg_objs[keep]; /* the read's reference moves to the cache */
	pt->cache_off = f->gets[keep].offset;
	pt->cache = f->batches[keep];
	memset(&f->batches[keep], 0, sizeof(f->batches[keep]));
	f->seg_objs[keep] = NULL;
	gets_release(ds, f, keep);
	if (rc != 0) {
		fetch_answer(ds, f, SL_LP_ERR_INTERNAL, rc, 0);
		return;
	}
	ds->st.fetches_from_objects++;
	fetch_answer(ds, f, 0, 0, 0);
}

static void fetch_park(struct sl_dshard *ds, struct sl_dfetch *f, struct dpart *pt)
{
	if (f->park_ns == 0 || ds->stopping) {
		f->first = f->offset;
		fetch_answer(ds, f, 0, 0, 0);
		return;
	}
	if (f->deadline == 0) {
		f->deadline = ds->now + f->park_ns;
		ds->st.fetches_parked++;
	}
	struct sl_dfetch **list =
		f->isolation == SL_LP_ISO_APPLIED ? &pt->parked_applied : &pt->parked_durable;
	f->pnext = *list;
	if (*list)
		(*list)->ppprev = &f->pnext;
	f->ppprev = list;
	*list = f;
	f->tnext = ds->parked;
	if (ds->parked)
		ds->parked->tpprev = &f->tnext;
	f->tpprev = &ds->parked;
	ds->parked = f;
}

static void fetch_run(struct sl_dshard *ds, struct sl_dfetch *f)
{
	struct dpart *pt = f->part;
	if (pt->dead) {
		fetch_answer(ds, f, SL_LP_ERR_UNKNOWN_STREAM, SL_ENOTFOUND, 0);
		return;
	}
	uint64_t hwm = part_hwm(ds, pt);
	bool explicit_start = f->from == SL_DFETCH_START_AT;
	if (f->from == SL_DFETCH_EARLIEST)
		f->offset = pt->start;
	else if (f->from == SL_DFETCH_LATEST)
		f->offset = hwm;
	f->from = SL_DFETCH_OFFSET;
	f->first = f->offset;
	if (f->offset < pt->start || (explicit_start && f->offset > hwm)) {
		fetch_answer(ds, f, SL_LP_ERR_OFFSET_OUT_OF_RANGE, SL_ERANGE, pt->start);
		return;
	}
	uint64_t limit = fetch_limit(ds, f, pt);
	if (f->offset >= limit) {
		fetch_park(ds, f, pt);
		return;
	}
	uint64_t mfirst, mnext;
	sl_pstore_bounds(ds->ps, pt->slot, &mfirst, &mnext);
	if (f->offset >= mfirst) {
		fetch_memory(ds, f, pt, limit);
		return;
	}
	/* Below the memory tail: the segment index says which object holds the offset. */
	uint32_t lo = 0, hi = pt->nsegs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (pt->segs[mid].first + pt->segs[mid].count <= f->offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == pt->nsegs || pt->segs[lo].first > f->offset) {
		ds->st.object_read_errors++;
		fetch_answer(ds, f, SL_LP_ERR_INTERNAL, SL_ENOTFOUND, 0);
		return;
	}
	const struct sl_dseg *s = &pt->segs[lo];
	if (pt->cache_obj == s->obj && pt->cache_off == s->off) {
		fetch_batch(ds, f, &pt->cache, s->first, s->count, limit);
		return;
	}
	if (ds->stopping) {
		/* No new reads while the io core may be going away. */
		fetch_answer(ds, f, SL_LP_ERR_SHUTTING_DOWN, SL_ECLOSED, 0);
		return;
	}
	/* Read the segment and the ones after it, up to SL_DFETCH_GETS of them and max_bytes of
	 * object data, stopping where the memory tail takes over. */
	f->ngets = 0;
	f->get_err = 0;
	f->trunc_gen = pt->trunc_gen;
	uint64_t span = 0;
	int rc = 0;
	for (uint32_t i = lo; i < pt->nsegs && f->ngets < SL_DFETCH_GETS; i++) {
		const struct sl_dseg *si = &pt->segs[i];
		if (f->ngets > 0 &&
		    (si->first >= limit || si->first >= mfirst || span + si->len > f->max_bytes))
			break;
		uint32_t k = f->ngets;
		struct sl_obj_req *g = &f->gets[k];
		memset(g, 0, sizeof(*g));
		g->op = SL_OBJ_GET;
		g->key = si->obj->key;
		g->offset = si->off;
		g->length = si->len;
		g->done = get_done;
		g->user = f;
		memset(&f->batches[k], 0, sizeof(f->batches[k]));
		f->seg_firsts[k] = si->first;
		f->seg_counts[k] = si->count;
		f->seg_objs[k] = si->obj;
		sl_dobj_ref(si->obj);
		/* Counted before the submit, and one more held until every read is out: a store
		 * may complete a request inside the submit. */
		f->ngets++;
		f->gets_left = f->ngets + 1;
		ds->gets_inflight++;
		rc = sl_objstore_submit(ds->cfg.store, g);
		if (rc != 0) {
			ds->gets_inflight--;
			f->ngets--;
			f->gets_left--;
			f->seg_objs[k] = NULL;
			obj_unref(ds, si->obj);
			break;
		}
		span += si->len;
	}
	if (f->ngets > 0) {
		if (--f->gets_left == 0)
			gets_finish(ds, f);
		return;
	}
	if (rc == SL_ENOSPC) {
		/* The io ring is full: answer empty and let the reader come back. */
		f->first = f->offset;
		fetch_answer(ds, f, 0, 0, 0);
		return;
	}
	fetch_answer(ds, f, SL_LP_ERR_STORAGE_FAILED, rc, 0);
}

static void fetch(struct sl_dshard *ds, struct sl_dfetch *f)
{
	f->ds = ds;
	f->recs = NULL;
	f->count = 0;
	f->bytes = 0;
	f->deadline = 0;
	f->pnext = f->tnext = NULL;
	f->ppprev = f->tpprev = NULL;
	f->ngets = f->gets_left = 0;
	if (f->max_bytes == 0)
		f->max_bytes = ds->cfg.fetch_bytes;
	ds->st.fetches++;
	struct dpart *pt = part_find(ds, f->h.stream_id, f->h.partition);
	if (pt == NULL) {
		const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, f->h.stream_id);
		f->part = NULL;
		fetch_answer(ds, f,
			     d == NULL			       ? SL_LP_ERR_UNKNOWN_STREAM
			     : f->h.partition >= d->partitions ? SL_LP_ERR_PARTITION_RANGE
							       : SL_LP_ERR_INTERNAL,
			     SL_ENOTFOUND, 0);
		return;
	}
	uint64_t newer = 0;
	if (f->cons_id != 0 && sl_dcons_fenced(ds->cons, f->h.stream_id, f->h.partition, f->cons_id,
					       f->cons_epoch, &newer)) {
		ds->st.cons.fetches_fenced++;
		f->part = NULL;
		fetch_answer(ds, f, SL_LP_ERR_FENCED, SL_EFENCED, newer);
		return;
	}
	pt->refs++;
	f->part = pt;
	fetch_run(ds, f);
}

static void expire_parked(struct sl_dshard *ds, bool all)
{
	for (struct sl_dfetch *f = ds->parked, *next; f; f = next) {
		next = f->tnext;
		if (!all && f->deadline > ds->now)
			continue;
		park_unlink(f);
		f->first = f->offset;
		fetch_answer(ds, f, all && ds->stopping ? SL_LP_ERR_SHUTTING_DOWN : 0, 0, 0);
		next = ds->parked; /* the answer may have changed the list: start over */
	}
}

/* ---- marks ---- */

static void marks(struct sl_dshard *ds, struct sl_dmarks *m)
{
	int code = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		struct dpart *pt = part_find(ds, m->h.stream_id, m->parts[i]);
		if (pt == NULL) {
			const struct sl_stream_def *d =
				sl_stream_set_find_id(ds->streams, m->h.stream_id);
			code = d == NULL ? SL_LP_ERR_UNKNOWN_STREAM : SL_LP_ERR_PARTITION_RANGE;
			m->marks[i] = (struct sl_lp_marks){0, 0, 0};
			continue;
		}
		m->marks[i] = part_marks(ds, pt);
	}
	answer(&m->h, code, code ? SL_ENOTFOUND : 0, 0);
}

/* ---- named consumers ---- */

static void cons_done(void *arg, struct sl_dcons_req *q, int code, int err, uint64_t detail)
{
	(void)arg;
	struct sl_dconsumer *x =
		(struct sl_dconsumer *)((char *)q - offsetof(struct sl_dconsumer, q));
	answer(&x->h, code, err, detail);
}

/* A claim raised an epoch: fetches of the older holder parked at this partition are answered
 * FENCED now rather than when their park time ends, so the older subscription stops at once. */
static void fence_parked(struct sl_dshard *ds, struct dpart *pt, uint64_t id, uint64_t epoch)
{
	struct sl_dfetch **lists[2] = {&pt->parked_applied, &pt->parked_durable};
	for (int k = 0; k < 2; k++) {
		struct sl_dfetch *f = *lists[k];
		while (f != NULL) {
			if (f->cons_id != id || f->cons_epoch >= epoch) {
				f = f->pnext;
				continue;
			}
			park_unlink(f);
			ds->st.cons.fetches_fenced++;
			fetch_answer(ds, f, SL_LP_ERR_FENCED, SL_EFENCED, epoch);
			f = *lists[k]; /* the answer may have changed the list: start over */
		}
	}
}

static void consumer(struct sl_dshard *ds, struct sl_dconsumer *x)
{
	struct dpart *pt = part_find(ds, x->h.stream_id, x->h.partition);
	if (pt == NULL) {
		const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, x->h.stream_id);
		answer(&x->h,
		       d == NULL			 ? SL_LP_ERR_UNKNOWN_STREAM
		       : x->h.partition >= d->partitions ? SL_LP_ERR_PARTITION_RANGE
							 : SL_LP_ERR_INTERNAL,
		       SL_ENOTFOUND, 0);
		return;
	}
	struct sl_lp_marks m = part_marks(ds, pt);
	sl_dcons_submit(ds->cons, x->h.stream_id, x->h.partition, &m, &x->q);
	uint64_t id, epoch;
	if (sl_dcons_last_claim(ds->cons, &id, &epoch))
		fence_parked(ds, pt, id, epoch);
}

int sl_dshard_load_consumer(struct sl_dshard *ds, const struct sl_dcons_entry *e)
{
	const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, e->stream_id);
	if (d == NULL || e->partition >= d->partitions ||
	    !sl_dshard_owns(ds, d->name, e->partition))
		return 0;
	int rc = sl_dcons_load(ds->cons, e);
	return rc == SL_EDUP ? 0 : rc;
}

uint32_t sl_dshard_consumers(const struct sl_dshard *ds, uint64_t stream_id,
			     struct sl_dcons_info *out, uint32_t cap)
{
	return sl_dcons_describe(ds->cons, stream_id, out, cap);
}

uint32_t sl_dshard_delete_consumer(struct sl_dshard *ds, uint64_t stream_id, const char *name)
{
	SL_ASSERT_OWNER(ds);
	return sl_dcons_delete(ds->cons, stream_id, name);
}

void sl_dshard_submit(struct sl_dshard *ds, struct sl_dreq *r, uint64_t now_ns)
{
	SL_ASSERT_OWNER(ds);
	if (now_ns > ds->now)
		ds->now = now_ns;
	switch (r->kind) {
	case SL_DREQ_PRODUCE:
		produce(ds, (struct sl_dproduce *)r);
		break;
	case SL_DREQ_FETCH:
		fetch(ds, (struct sl_dfetch *)r);
		break;
	case SL_DREQ_MARKS:
		marks(ds, (struct sl_dmarks *)r);
		break;
	case SL_DREQ_CONSUMER:
		consumer(ds, (struct sl_dconsumer *)r);
		break;
	default:
		answer(r, SL_LP_ERR_INVALID, SL_EINVAL, 0);
	}
}

/* ---- index answers ---- */

void sl_dshard_index_done(struct sl_dshard *ds, struct sl_dseg_pub *pub, uint64_t now_ns)
{
	SL_ASSERT_OWNER(ds);
	if (now_ns > ds->now)
		ds->now = now_ns;
	struct dflush *f = pub->shard_ctx;
	f->pub_done = true;
	f->pub_rc = pub->status;
	advance(ds);
}

/* ---- lifecycle ---- */

static int coord_make(struct sl_dshard *ds, uint64_t now_ns)
{
	struct sl_coord_config cc;
	sl_coord_config_default(&cc);
	cc.queue_capacity = ds->cfg.queue_capacity;
	cc.flush_interval_ns = ds->cfg.flush_interval_ns;
	cc.flush_size_threshold = ds->cfg.flush_bytes;
	cc.max_frozen = ds->cfg.max_flushes;
	static const char *const channels[] = {"produce"};
	struct sl_coord_env env = {
		.channels = channels,
		.nchannels = 1,
		.delta_ops = &sl_pstore_delta_ops,
		.delta_arg = ds->ps,
		.initial_ctx = ds->ps,
		.flusher_ops = &flusher_ops,
		.flusher_arg = ds,
	};
	int rc = sl_coord_new(&cc, &env, &ds->co);
	if (rc != 0)
		return rc;
	ds->ch = sl_coord_channel(ds->co, "produce");
	ds->cmd_busy = false;
	ds->want_epoch = ds->covered_epoch = 0;
	return sl_coord_start(ds->co, now_ns);
}

static int pstore_make(struct sl_dshard *ds)
{
	struct sl_pstore_config pc;
	sl_pstore_config_default(&pc);
	pc.partitions = ds->cfg.max_partitions;
	pc.mem_budget = ds->cfg.mem_budget;
	pc.max_records = SL_LP_MAX_RECORDS;
	return sl_pstore_new(&pc, &ds->ps);
}

int sl_dshard_new(const struct sl_dshard_config *cfg, struct sl_stream_set *streams,
		  struct sl_drecovery *rec, uint64_t now_ns, struct sl_dshard **out)
{
	if (cfg == NULL || streams == NULL || out == NULL || cfg->store == NULL ||
	    cfg->index == NULL || cfg->index->publish == NULL || cfg->max_partitions == 0 ||
	    cfg->max_partitions > SL_PSTORE_MAX_PARTITIONS || cfg->max_flushes == 0 ||
	    cfg->max_producers == 0 || cfg->max_flushes > SL_COORD_MAX_FROZEN ||
	    cfg->meta_partitions == 0 || cfg->queue_capacity == 0 || cfg->flush_bytes == 0 ||
	    (cfg->owners != NULL && (cfg->nslots == 0 || (cfg->nslots & (cfg->nslots - 1)))))
		return SL_EINVAL;
	struct sl_dshard *ds = calloc(1, sizeof(*ds));
	if (ds == NULL)
		return SL_ENOMEM;
	ds->cfg = *cfg;
	ds->now = now_ns;
	ds->slots = calloc(cfg->max_partitions, sizeof(*ds->slots));
	ds->free_slots = malloc(cfg->max_partitions * sizeof(*ds->free_slots));
	ds->zctx = sl_batch_zctx_new();
	ds->cons = sl_dcons_new(cfg->store, cons_done, ds);
	int rc = ds->slots && ds->free_slots && ds->zctx && ds->cons ? 0 : SL_ENOMEM;
	if (rc == 0)
		rc = sl_u64map_init(&ds->parts, 64);
	/* Slots are handed out from the end of the free list: lowest first. */
	for (uint32_t i = 0; i < cfg->max_partitions && ds->free_slots; i++)
		ds->free_slots[i] = cfg->max_partitions - 1 - i;
	ds->nfree = cfg->max_partitions;
	if (rc == 0)
		rc = pstore_make(ds);
	if (rc == 0) {
		ds->streams = sl_stream_set_ref(streams);
		rc = adopt_streams(ds, streams, rec);
	}
	if (rc == 0)
		rc = coord_make(ds, now_ns);
	if (rc != 0) {
		sl_dshard_free(ds);
		return rc;
	}
	/* What recovery found is subject to retention before the first request: expired
	 * segments are dropped now, so the retained start is right from the start. */
	retention_run(ds);
	ds->next_retention = now_ns + SL_DSHARD_RETENTION_NS;
	*out = ds;
	return 0;
}

int sl_dshard_set_streams(struct sl_dshard *ds, struct sl_stream_set *streams, uint64_t now_ns)
{
	SL_ASSERT_OWNER(ds);
	if (now_ns > ds->now)
		ds->now = now_ns;
	/* Partitions of streams that left the set go first, so their slots can serve new
	 * streams once free. */
	for (uint32_t s = 0; s < ds->cfg.max_partitions; s++) {
		struct dpart *pt = ds->slots[s];
		if (pt != NULL && !pt->dead &&
		    sl_stream_set_find_id(streams, pt->stream_id) == NULL)
			part_kill(ds, pt);
	}
	zombie_reap(ds);
	sl_dcons_set_streams(ds->cons, streams);
	struct sl_stream_set *old = ds->streams;
	ds->streams = sl_stream_set_ref(streams);
	sl_stream_set_unref(old);
	return adopt_streams(ds, streams, NULL);
}

/* After a storage failure, once nothing is in flight: every partition goes back to its
 * durable end with a fresh partition store and coordinator. */
static void rebuild(struct sl_dshard *ds)
{
	sl_coord_free(ds->co);
	ds->co = NULL;
	sl_pstore_free(ds->ps);
	ds->ps = NULL;
	if (pstore_make(ds) != 0)
		return; /* retried on the next poll */
	for (uint32_t s = 0; s < ds->cfg.max_partitions; s++) {
		struct dpart *pt = ds->slots[s];
		if (pt == NULL)
			continue;
		if (pt->dead)
			continue;
		segs_truncate(ds, pt, pt->durable);
		cache_drop(ds, pt);
		idem_cut(pt);
		sl_pstore_part_reset(ds->ps, s, pt->durable);
	}
	if (coord_make(ds, ds->now) != 0) {
		sl_coord_free(ds->co);
		ds->co = NULL;
		return;
	}
	ds->failed = 0;
	ds->st.rebuilds++;
	zombie_reap(ds);
	/* Readers of applied records above the durable end wait for the new ones. */
	for (uint32_t s = 0; s < ds->cfg.max_partitions; s++)
		if (ds->slots[s] != NULL && !ds->slots[s]->dead)
			wake_list(ds, &ds->slots[s]->parked_applied);
}

/* ---- retention ---- */

/*
 * Drops the oldest segments of a partition that its stream's retention no longer keeps: by
 * age, every segment flushed (wall_ms, the time of its newest record) before wall_ms - age; by
 * bytes, the oldest ones while what stays is still at least retention_bytes. Whole segments
 * only, and only durable ones: a segment still in flight is never the oldest worth dropping.
 * The retained start moves up to the first segment kept; fetches below it get
 * OFFSET_OUT_OF_RANGE, and reads in flight start over (trunc_gen), so a reader in the middle of
 * a dropped segment gets that error on its next fetch. Returns the segments dropped.
 */
static uint32_t part_retain(struct sl_dshard *ds, struct dpart *pt, const struct sl_stream_def *d,
			    uint64_t wall_ms)
{
	uint32_t n = sl_dseg_expired(pt->segs, pt->nsegs, pt->durable, pt->seg_bytes,
				     d->retention_age_ns / MS, d->retention_bytes, wall_ms);
	uint64_t bytes = pt->seg_bytes;
	for (uint32_t i = 0; i < n; i++)
		bytes -= pt->segs[i].len;
	if (n == 0)
		return 0;
	const struct sl_dseg *last = &pt->segs[n - 1];
	uint64_t start = last->first + last->count;
	const struct sl_dindex_ops *ix = ds->cfg.index;
	if (ix->start != NULL &&
	    ix->start(ds->cfg.index_arg, (uint32_t)pt->stream_id, pt->partition, start) != 0)
		return 0; /* the ring is full: the next run drops them */
	ds->st.segments_expired += n;
	ds->st.bytes_expired += pt->seg_bytes - bytes;
	if (start > pt->start) {
		ds->st.records_expired += start - pt->start;
		pt->start = start;
	}
	/* The memory tail's copies below the start are unreadable now: free them too. */
	sl_pstore_drop_below(ds->ps, pt->slot, pt->start);
	pt->trunc_gen++;
	cache_drop(ds, pt);
	for (uint32_t i = 0; i < n; i++)
		obj_unref(ds, pt->segs[i].obj);
	memmove(pt->segs, pt->segs + n, (pt->nsegs - n) * sizeof(pt->segs[0]));
	pt->nsegs -= n;
	pt->seg_bytes = bytes;
	return n;
}

/* Applies every stream's retention to the partitions this shard owns. Cheap: it stops at the
 * first segment kept, and it runs once per SL_DSHARD_RETENTION_NS, never per request. */
static void retention_run(struct sl_dshard *ds)
{
	uint64_t wall_ms = (uint64_t)((int64_t)ds->now + ds->cfg.wall_offset_ns) / MS;
	for (uint32_t s = 0; s < ds->cfg.max_partitions; s++) {
		struct dpart *pt = ds->slots[s];
		if (pt == NULL || pt->dead || pt->nsegs == 0)
			continue;
		const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, pt->stream_id);
		if (d == NULL || (d->retention_age_ns == 0 && d->retention_bytes == 0))
			continue;
		part_retain(ds, pt, d, wall_ms);
	}
}

static bool retention_any(const struct sl_stream_set *set)
{
	for (uint32_t i = 0; i < set->count; i++)
		if (set->defs[i].retention_age_ns || set->defs[i].retention_bytes)
			return true;
	return false;
}

uint64_t sl_dshard_poll(struct sl_dshard *ds, uint64_t now_ns)
{
	SL_ASSERT_OWNER(ds);
	if (now_ns > ds->now)
		ds->now = now_ns;
	sl_objstore_poll(ds->cfg.store, now_ns);
	bool cons_left = sl_dcons_poll(ds->cons);
	/* Requests the io ring could not take earlier. */
	for (struct dflush *f = ds->fifo_head; f; f = f->next)
		if (!f->put_submitted || !f->pub_submitted)
			flush_submit(ds, f);
	deletes_retry(ds);
	export_offer(ds);
	uint64_t next = UINT64_MAX;
	if (ds->failed && ds->fifo_head == NULL && !ds->stopping)
		rebuild(ds);
	if (ds->co != NULL)
		next = sl_coord_poll(ds->co, now_ns);
	advance(ds);
	if (ds->parked != NULL) {
		if (now_ns >= ds->next_park_scan) {
			ds->next_park_scan = now_ns + PARK_SCAN_NS;
			expire_parked(ds, false);
		}
		if (ds->next_park_scan < next)
			next = ds->next_park_scan;
	}
	if (ds->failed || ds->deletes || ds->fifo_head || ds->exp_head || cons_left)
		next = next < now_ns + MS ? next : now_ns + MS;
	if (retention_any(ds->streams)) {
		if (now_ns >= ds->next_retention) {
			ds->next_retention = now_ns + SL_DSHARD_RETENTION_NS;
			retention_run(ds);
		}
		if (ds->next_retention < next)
			next = ds->next_retention;
	}
	return next;
}

int sl_dshard_stop(struct sl_dshard *ds, uint64_t now_ns)
{
	SL_ASSERT_OWNER(ds);
	if (now_ns > ds->now)
		ds->now = now_ns;
	if (!ds->stopping) {
		ds->stopping = true;
		expire_parked(ds, true);
	}
	if (ds->co == NULL)
		return ds->failed ? ds->failed : 0;
	sl_dshard_poll(ds, now_ns);
	int rc = sl_coord_stop(ds->co, NULL, now_ns);
	if (rc == SL_EAGAIN || ds->fifo_head != NULL || ds->deletes != NULL ||
	    ds->gets_inflight > 0 || sl_dcons_busy(ds->cons))
		return SL_EAGAIN;
	return rc == SL_ECLOSED ? 0 : rc;
}

void sl_dshard_free(struct sl_dshard *ds)
{
	if (ds == NULL)
		return;
	SL_ASSERT_OWNER(ds);
	ds->stopping = true;
	expire_parked(ds, true);
	sl_dcons_free(ds->cons);
	ds->cons = NULL;
	while (ds->exp_head) {
		struct dexport *e = ds->exp_head;
		ds->exp_head = e->next;
		sl_buf_unref(e->ev);
		free(e);
	}
	/* Waiters and queued writes are answered by the coordinator's free. */
	sl_coord_free(ds->co);
	ds->co = NULL;
	while (ds->fifo_head) {
		struct dflush *f = ds->fifo_head;
		ds->fifo_head = f->next;
		/* Requests still in flight are abandoned with their structs: only after stop. */
		if (f->put_submitted && !f->put_done)
			continue;
		if (f->pub_submitted && !f->pub_done)
			continue;
		if (!f->put_submitted)
			sl_buf_unref(f->put.body);
		if (!f->pub_submitted)
			sl_buf_unref(f->pub.payload);
		flush_free(ds, f);
	}
	while (ds->storage_head) {
		struct dstorage *s = ds->storage_head;
		ds->storage_head = s->next;
		free(s);
	}
	for (uint32_t s = 0; ds->slots && s < ds->cfg.max_partitions; s++) {
		struct dpart *pt = ds->slots[s];
		if (pt == NULL)
			continue;
		/* Segments only: objects stay in the store for the next start. */
		for (uint32_t i = 0; i < pt->nsegs; i++)
			if (sl_dobj_unref(pt->segs[i].obj))
				sl_dobj_free(pt->segs[i].obj);
		if (pt->cache_obj) {
			sl_batch_release(&pt->cache);
			if (sl_dobj_unref(pt->cache_obj))
				sl_dobj_free(pt->cache_obj);
		}
		free(pt->segs);
		free(pt->prods);
		free(pt);
	}
	while (ds->deletes) {
		struct ddelete *d = ds->deletes;
		ds->deletes = d->next;
		if (d->submitted)
			continue; /* the store completes it when destroyed; abandoned here */
		sl_dobj_free(d->obj);
		free(d);
	}
	sl_pstore_free(ds->ps);
	sl_u64map_fini(&ds->parts);
	sl_batch_zctx_free(ds->zctx);
	sl_stream_set_unref(ds->streams);
	free(ds->slots);
	free(ds->free_slots);
	free(ds);
}

uint32_t sl_dshard_describe(const struct sl_dshard *ds, uint64_t stream_id,
			    struct sl_dpart_info *out, uint32_t cap)
{
	SL_ASSERT_OWNER_RO(ds);
	uint32_t n = 0;
	const struct sl_stream_def *d = sl_stream_set_find_id(ds->streams, stream_id);
	if (d == NULL)
		return 0;
	for (uint32_t p = 0; p < d->partitions; p++) {
		const struct dpart *pt = part_find(ds, stream_id, p);
		if (pt == NULL)
			continue;
		if (n < cap) {
			struct sl_dpart_info *i = &out[n];
			uint64_t mfirst, mnext;
			sl_pstore_bounds(ds->ps, pt->slot, &mfirst, &mnext);
			i->partition = p;
			i->start = pt->start;
			i->next = mnext;
			i->durable = pt->durable;
			i->mem_records = mnext - mfirst;
			i->mem_bytes = sl_pstore_part_bytes(ds->ps, pt->slot, NULL);
			i->objects = pt->nsegs;
			i->object_bytes = pt->seg_bytes;
		}
		n++;
	}
	return n;
}

void sl_dshard_stats(const struct sl_dshard *ds, struct sl_dshard_stats *out)
{
	SL_ASSERT_OWNER_RO(ds);
	*out = ds->st;
	sl_dcons_stats(ds->cons, &out->cons);
	out->cons.fetches_fenced = ds->st.cons.fetches_fenced;
	out->flushes_in_flight = ds->unwritten;
	sl_pstore_stats(ds->ps, &out->pstore);
	if (ds->co)
		sl_coord_stats(ds->co, &out->coord);
	else
		memset(&out->coord, 0, sizeof(out->coord));
}

void sl_dshard_adopt(struct sl_dshard *ds)
{
	sl_owner_adopt(&ds->owner);
}

void sl_dshard_disown(struct sl_dshard *ds)
{
	sl_owner_release(&ds->owner);
}

#define T struct sl_dshard_stats
const struct sl_stat_field sl_dshard_stats_fields[] = {
	SL_STAT_G(T, partitions, NULL),
	SL_STAT_U(T, produce_requests, NULL),
	SL_STAT_U(T, produce_records, NULL),
	SL_STAT_U(T, produce_bytes, NULL),
	SL_STAT_U(T, produce_errors, NULL),
	SL_STAT_U(T, produce_overloaded, NULL),
	SL_STAT_U(T, fetches, NULL),
	SL_STAT_U(T, fetch_records, NULL),
	SL_STAT_U(T, fetch_bytes, NULL),
	SL_STAT_U(T, fetches_parked, NULL),
	SL_STAT_U(T, fetches_from_objects, NULL),
	SL_STAT_U(T, fetch_errors, NULL),
	SL_STAT_U(T, flushes, NULL),
	SL_STAT_U(T, flush_bytes, NULL),
	SL_STAT_U(T, flush_errors, NULL),
	SL_STAT_U(T, objects_written, NULL),
	SL_STAT_U(T, objects_deleted, NULL),
	SL_STAT_U(T, events_published, NULL),
	SL_STAT_U(T, events_failed, NULL),
	SL_STAT_U(T, rebuilds, NULL),
	SL_STAT_U(T, produce_duplicates, NULL),
	SL_STAT_U(T, produce_out_of_order, NULL),
	SL_STAT_U(T, producers_evicted, NULL),
	SL_STAT_U(T, object_read_errors, NULL),
	SL_STAT_U(T, objects_released, NULL),
	SL_STAT_U(T, segments_expired, NULL),
	SL_STAT_U(T, records_expired, NULL),
	SL_STAT_U(T, bytes_expired, NULL),
	SL_STAT_U(T, exports, NULL),
	SL_STAT_U(T, export_failed, NULL),
	SL_STAT_G(T, flushes_in_flight, NULL),
	/* The partition store's keys go beside the shard's (as they always have); the
	 * coordinator's carry its name. */
	SL_STAT_SUB(T, pstore, "", NULL, sl_pstore_stats_fields),
	SL_STAT_SUB(T, coord, "coordinator_", NULL, sl_coord_stats_fields),
	SL_STAT_SUB(T, cons, "", NULL, sl_dcons_stats_fields),
	SL_STAT_TABLE_END,
};
#undef T
