/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/retgc.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"

enum { R_LIVE, R_DEAD, R_DELETING, R_GONE };

struct robj {
	struct robj *hnext; /* the key table's chain */
	struct robj *dnext; /* the dead queue, oldest death first */
	struct sl_retgc *gc;
	uint64_t hash, size, dead_at;
	uint32_t refs;
	int32_t mpart;
	int64_t moff;
	uint8_t state;
	bool in_fifo; /* still in its metadata partition's queue: freed when it leaves */
	struct sl_obj_req req;
	char key[];
};

/* One metadata partition's live events, in offset order: the head is the trim point. */
struct mqueue {
	struct robj **q;
	uint32_t head, n, cap;
	int64_t end;
};

struct sl_retgc {
	struct sl_retgc_config cfg;
	struct robj **buckets;
	uint64_t nbuckets, nkeys;
	struct robj *dead_head, *dead_tail;
	struct mqueue *mq;
	uint64_t now;
	struct sl_retgc_stats st;
};

void sl_retgc_config_default(struct sl_retgc_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->grace_ns = 60ull * 1000 * 1000 * 1000;
	cfg->meta_partitions = 16;
	cfg->max_deletes = 64;
}

int sl_retgc_new(const struct sl_retgc_config *cfg, struct sl_retgc **out)
{
	if (cfg == NULL || out == NULL || cfg->store == NULL || cfg->meta_partitions == 0 ||
	    cfg->max_deletes == 0)
		return SL_EINVAL;
	struct sl_retgc *gc = calloc(1, sizeof(*gc));
	if (gc == NULL)
		return SL_ENOMEM;
	gc->cfg = *cfg;
	gc->nbuckets = 1024;
	gc->buckets = calloc(gc->nbuckets, sizeof(*gc->buckets));
	gc->mq = calloc(cfg->meta_partitions, sizeof(*gc->mq));
	if (gc->buckets == NULL || gc->mq == NULL) {
		sl_retgc_free(gc);
		return SL_ENOMEM;
	}
	for (uint32_t i = 0; i < cfg->meta_partitions; i++)
		gc->mq[i].end = -1;
	*out = gc;
	return 0;
}

void sl_retgc_free(struct sl_retgc *gc)
{
	if (gc == NULL)
		return;
	/* Gone ones live only in their partition's queue; the rest are in the table. */
	for (uint32_t i = 0; gc->mq && i < gc->cfg.meta_partitions; i++) {
		struct mqueue *m = &gc->mq[i];
		for (uint32_t k = m->head; k < m->n; k++)
			if (m->q[k]->state == R_GONE)
				free(m->q[k]);
		free(m->q);
	}
	for (uint64_t b = 0; gc->buckets && b < gc->nbuckets; b++)
		for (struct robj *o = gc->buckets[b], *n; o; o = n) {
			n = o->hnext;
			if (o->state != R_DELETING)
				free(o); /* one in flight belongs to the store until it completes */
		}
	free(gc->mq);
	free(gc->buckets);
	free(gc);
}

/* ---- the key table ---- */

static struct robj *find(const struct sl_retgc *gc, const char *key, uint64_t h)
{
	for (struct robj *o = gc->buckets[h & (gc->nbuckets - 1)]; o; o = o->hnext)
		if (o->hash == h && strcmp(o->key, key) == 0)
			return o;
	return NULL;
}

static void table_grow(struct sl_retgc *gc)
{
	uint64_t nb = gc->nbuckets * 2;
	struct robj **b = calloc(nb, sizeof(*b));
	if (b == NULL)
		return; /* longer chains, still correct */
	for (uint64_t i = 0; i < gc->nbuckets; i++)
		for (struct robj *o = gc->buckets[i], *n; o; o = n) {
			n = o->hnext;
			o->hnext = b[o->hash & (nb - 1)];
			b[o->hash & (nb - 1)] = o;
		}
	free(gc->buckets);
	gc->buckets = b;
	gc->nbuckets = nb;
}

static struct robj *insert(struct sl_retgc *gc, const char *key, uint64_t h)
{
	size_t len = strlen(key);
	struct robj *o = calloc(1, sizeof(*o) + len + 1);
	if (o == NULL)
		return NULL;
	memcpy(o->key, key, len + 1);
	o->gc = gc;
	o->hash = h;
	o->mpart = -1;
	if (gc->nkeys >= gc->nbuckets)
		table_grow(gc);
	struct robj **b = &gc->buckets[h & (gc->nbuckets - 1)];
	o->hnext = *b;
	*b = o;
	gc->nkeys++;
	return o;
}

static void table_remove(struct sl_retgc *gc, struct robj *o)
{
	for (struct robj **pp = &gc->buckets[o->hash & (gc->nbuckets - 1)]; *pp; pp = &(*pp)->hnext)
		if (*pp == o) {
			*pp = o->hnext;
			gc->nkeys--;
			return;
		}
}

/* ---- the metadata partitions' queues ---- */

static int mq_push(struct mqueue *m, struct robj *o)
{
	if (m->head > 0 && m->head * 2 >= m->n) {
		memmove(m->q, m->q + m->head, (m->n - m->head) * sizeof(*m->q));
		m->n -= m->head;
		m->head = 0;
	}
	if (m->n == m->cap) {
		uint32_t cap = m->cap ? m->cap * 2 : 64;
		struct robj **q = realloc(m->q, cap * sizeof(*q));
		if (q == NULL)
			return SL_ENOMEM;
		m->q = q;
		m->cap = cap;
	}
	/* Appends come in offset order; recovery's too. Anything else is put in its place. */
	uint32_t at = m->n;
	while (at > m->head && m->q[at - 1]->moff > o->moff)
		at--;
	memmove(m->q + at + 1, m->q + at, (m->n - at) * sizeof(*m->q));
	m->q[at] = o;
	m->n++;
	o->in_fifo = true;
	if (o->moff + 1 > m->end)
		m->end = o->moff + 1;
	return 0;
}

/* Drops the deleted objects at the head: the trim point moves past them. */
static void mq_advance(struct mqueue *m)
{
	while (m->head < m->n && m->q[m->head]->state == R_GONE)
		free(m->q[m->head++]);
	if (m->head == m->n)
		m->head = m->n = 0;
}

/* ---- life and death ---- */

int sl_retgc_live(struct sl_retgc *gc, const char *key, uint64_t size, uint32_t refs,
		  int32_t meta_partition, int64_t meta_offset)
{
	if (gc == NULL || key == NULL || key[0] == '\0' || refs == 0 ||
	    meta_partition >= (int32_t)gc->cfg.meta_partitions ||
	    (meta_partition >= 0 && meta_offset < 0))
		return SL_EINVAL;
	uint64_t h = sl_hash64(key, strlen(key), 0);
	if (find(gc, key, h) != NULL)
		return SL_EDUP;
	struct robj *o = insert(gc, key, h);
	if (o == NULL)
		return SL_ENOMEM;
	o->size = size;
	o->refs = refs;
	o->state = R_LIVE;
	if (meta_partition >= 0) {
		o->mpart = meta_partition;
		o->moff = meta_offset;
		if (mq_push(&gc->mq[meta_partition], o) != 0) {
			/* Without its place in the queue the object would not hold the trim point
			 * back: refuse it rather than let the log drop a live event. */
			table_remove(gc, o);
			free(o);
			return SL_ENOMEM;
		}
	}
	gc->st.objects_live++;
	gc->st.bytes_live += size;
	return 0;
}

static void dead_push(struct sl_retgc *gc, struct robj *o, uint64_t now_ns)
{
	o->state = R_DEAD;
	o->dead_at = now_ns;
	o->dnext = NULL;
	if (gc->dead_tail)
		gc->dead_tail->dnext = o;
	else
		gc->dead_head = o;
	gc->dead_tail = o;
}

void sl_retgc_set_pinned(struct sl_retgc *gc, bool (*pinned)(void *arg, const char *key), void *arg)
{
	gc->cfg.pinned = pinned;
	gc->cfg.pinned_arg = arg;
}

int sl_retgc_release(struct sl_retgc *gc, const char *key, uint32_t n, uint64_t now_ns)
{
	if (gc == NULL || key == NULL || key[0] == '\0' || n == 0)
		return SL_EINVAL;
	uint64_t h = sl_hash64(key, strlen(key), 0);
	struct robj *o = find(gc, key, h);
	if (o == NULL) {
		o = insert(gc, key, h);
		if (o == NULL)
			return SL_ENOMEM;
	} else if (o->state != R_LIVE) {
		return 0; /* already dead: nothing more to release */
	} else {
		o->refs = n >= o->refs ? 0 : o->refs - n;
		if (o->refs > 0)
			return 0;
		gc->st.objects_live--;
		gc->st.bytes_live -= o->size;
	}
	gc->st.gc_dead++;
	gc->st.objects_dead++;
	dead_push(gc, o, now_ns);
	return 0;
}

void sl_retgc_log_end(struct sl_retgc *gc, int32_t meta_partition, int64_t next)
{
	if (gc == NULL || meta_partition < 0 || meta_partition >= (int32_t)gc->cfg.meta_partitions)
		return;
	if (next > gc->mq[meta_partition].end)
		gc->mq[meta_partition].end = next;
}

/* ---- deletes ---- */

static void delete_done(struct sl_obj_req *req)
{
	struct robj *o = req->user;
	struct sl_retgc *gc = o->gc;
	int rc = req->result;
	sl_obj_req_reset(req);
	gc->st.deletes_inflight--;
	if (rc != 0 && rc != SL_ENOTFOUND) {
		gc->st.gc_delete_failed++;
		dead_push(gc, o, gc->now); /* tried again after another grace period */
		return;
	}
	gc->st.gc_deleted++;
	gc->st.gc_bytes_deleted += o->size;
	gc->st.objects_dead--;
	o->state = R_GONE;
	table_remove(gc, o);
	if (o->in_fifo)
		mq_advance(&gc->mq[o->mpart]);
	else
		free(o);
}

uint64_t sl_retgc_poll(struct sl_retgc *gc, uint64_t now_ns)
{
	if (now_ns > gc->now)
		gc->now = now_ns;
	sl_objstore_poll(gc->cfg.store, now_ns);
	while (gc->dead_head != NULL && gc->st.deletes_inflight < gc->cfg.max_deletes) {
		struct robj *o = gc->dead_head;
		if (o->dead_at + gc->cfg.grace_ns > now_ns)
			break;
		gc->dead_head = o->dnext;
		if (gc->dead_head == NULL)
			gc->dead_tail = NULL;
		if (gc->cfg.pinned != NULL && gc->cfg.pinned(gc->cfg.pinned_arg, o->key)) {
			gc->st.gc_pinned++;
			dead_push(gc, o, now_ns);
			continue;
		}
		memset(&o->req, 0, sizeof(o->req));
		o->req.op = SL_OBJ_DELETE;
		o->req.key = o->key;
		o->req.done = delete_done;
		o->req.user = o;
		o->state = R_DELETING;
		gc->st.deletes_inflight++;
		int rc = sl_objstore_submit(gc->cfg.store, &o->req);
		if (rc != 0) {
			gc->st.deletes_inflight--;
			if (rc != SL_ENOSPC)
				gc->st.gc_delete_failed++;
			/* Back at the head when the store is full, else after another grace. */
			o->state = R_DEAD;
			if (rc == SL_ENOSPC) {
				o->dnext = gc->dead_head;
				gc->dead_head = o;
				if (gc->dead_tail == NULL)
					gc->dead_tail = o;
				break;
			}
			dead_push(gc, o, now_ns);
		}
	}
	if (gc->st.deletes_inflight > 0)
		return now_ns + 1000 * 1000; /* the store's completions */
	if (gc->dead_head != NULL)
		return gc->dead_head->dead_at + gc->cfg.grace_ns;
	return UINT64_MAX;
}

int64_t sl_retgc_trim_point(const struct sl_retgc *gc, int32_t meta_partition)
{
	if (gc == NULL || meta_partition < 0 || meta_partition >= (int32_t)gc->cfg.meta_partitions)
		return -1;
	const struct mqueue *m = &gc->mq[meta_partition];
	for (uint32_t k = m->head; k < m->n; k++)
		if (m->q[k]->state != R_GONE)
			return m->q[k]->moff;
	return m->end;
}

bool sl_retgc_busy(const struct sl_retgc *gc)
{
	return gc != NULL && gc->st.deletes_inflight > 0;
}

void sl_retgc_stats(const struct sl_retgc *gc, struct sl_retgc_stats *out)
{
	*out = gc->st;
}

#define T struct sl_retgc_stats
const struct sl_stat_field sl_retgc_stats_fields[] = {
	SL_STAT_G(T, objects_live, NULL),     SL_STAT_G(T, bytes_live, NULL),
	SL_STAT_G(T, objects_dead, NULL),     SL_STAT_U(T, gc_dead, NULL),
	SL_STAT_U(T, gc_deleted, NULL),	      SL_STAT_U(T, gc_bytes_deleted, NULL),
	SL_STAT_U(T, gc_delete_failed, NULL), SL_STAT_U(T, gc_pinned, NULL),
	SL_STAT_G(T, deletes_inflight, NULL), SL_STAT_TABLE_END,
};
#undef T
