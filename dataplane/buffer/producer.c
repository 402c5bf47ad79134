/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/producer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer/gc.h"
#include "core/err.h"

/*
 * A batch being built: entry bytes are copied into one growing arena (one copy per entry on
 * produce; the encoder makes the second), metadata payloads into another. Offsets, not
 * pointers, are kept because the arenas move when they grow.
 */
struct pent {
	size_t off;
	uint32_t len;
};

struct pmeta {
	uint32_t start_index;
	int64_t time_ms;
	size_t off;
	uint32_t len;
};

struct pbatch {
	uint8_t *arena;
	size_t alen, acap;
	struct pent *ents;
	uint32_t nents, cents;
	uint8_t *marena;
	size_t mlen, mcap;
	struct pmeta *metas;
	uint32_t nmetas, cmetas;
	struct sl_producer_call *calls, *calls_tail; /* produce and flush calls waiting on it */
	uint32_t nproduce;
	uint64_t size;
	uint64_t started_ns;
};

enum { P_IDLE = 0, P_PUT, P_ENQUEUE };

struct sl_producer {
	struct sl_objstore *store;
	struct sl_producer_config cfg;
	char *manifest_key, *data_prefix;
	struct sl_manifest *m;
	struct pbatch cur, fl;
	int state;
	struct sl_obj_req req;
	struct sl_manifest_op mop;
	char key[SL_OBJ_KEY_MAX + 1];
	bool closing, closed;
	uint64_t now_ns;
	uint64_t last_ms;
	uint8_t rnd[10];
	uint64_t rng;
	struct sl_producer_call *deferred, *deferred_tail;
	struct sl_producer_stats stats;
};

void sl_producer_config_default(struct sl_producer_config *c)
{
	memset(c, 0, sizeof(*c));
	c->manifest_key = "manifest";
	c->data_prefix = "data";
	c->flush_interval_ns = 100000000;
	c->flush_size_bytes = 8u << 20;
	c->format = SL_BATCH_SHARDLINE;
	c->compression = SL_BATCH_NONE;
	sl_manifest_config_default(&c->manifest);
	c->seed = 1;
	c->max_buffered_bytes = 64u << 20;
	c->max_buffered_entries = 1u << 20;
}

struct sl_producer *sl_producer_new(struct sl_objstore *s, const struct sl_producer_config *cfg)
{
	struct sl_producer_config def;
	if (cfg == NULL) {
		sl_producer_config_default(&def);
		cfg = &def;
	}
	if (s == NULL || cfg->manifest_key == NULL || cfg->data_prefix == NULL ||
	    sl_obj_key_check(cfg->data_prefix) != 0 ||
	    strlen(cfg->data_prefix) + 1 + SL_ULID_LEN + 6 > SL_OBJ_KEY_MAX)
		return NULL;
	struct sl_producer *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->store = s;
	p->cfg = *cfg;
	p->manifest_key = strdup(cfg->manifest_key);
	p->data_prefix = strdup(cfg->data_prefix);
	struct sl_manifest_config mc = cfg->manifest;
	mc.key = cfg->manifest_key;
	p->m = p->manifest_key && p->data_prefix ? sl_manifest_new(s, &mc) : NULL;
	if (p->m == NULL) {
		free(p->manifest_key);
		free(p->data_prefix);
		free(p);
		return NULL;
	}
	p->cfg.manifest_key = p->manifest_key;
	p->cfg.data_prefix = p->data_prefix;
	p->rng = (cfg->seed * 0x9e3779b97f4a7c15ULL) | 1;
	if (p->cfg.max_buffered_bytes == 0)
		p->cfg.max_buffered_bytes = 64u << 20;
	if (p->cfg.max_buffered_entries == 0)
		p->cfg.max_buffered_entries = 1u << 20;
	return p;
}

static void batch_free(struct pbatch *b)
{
	free(b->arena);
	free(b->ents);
	free(b->marena);
	free(b->metas);
	memset(b, 0, sizeof(*b));
}

static void complete_list(struct sl_producer_call *list, int rc)
{
	while (list) {
		struct sl_producer_call *c = list;
		list = c->next_;
		c->next_ = NULL;
		c->pending_ = false;
		c->result = rc;
		if (c->done)
			c->done(c);
	}
}

void sl_producer_free(struct sl_producer *p)
{
	if (p == NULL)
		return;
	complete_list(p->cur.calls, SL_ECLOSED);
	complete_list(p->fl.calls, SL_ECLOSED);
	complete_list(p->deferred, SL_ECLOSED);
	batch_free(&p->cur);
	batch_free(&p->fl);
	sl_manifest_free(p->m);
	free(p->manifest_key);
	free(p->data_prefix);
	free(p);
}

static int grow(void **p, size_t elem, uint32_t *cap, uint32_t need)
{
	if (need <= *cap)
		return 0;
	uint32_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, (size_t)n * elem);
	if (q == NULL)
		return SL_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static int grow_bytes(uint8_t **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4096;
	while (n < need)
		n *= 2;
	uint8_t *q = realloc(*p, n);
	if (q == NULL)
		return SL_ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static void append_call(struct pbatch *b, struct sl_producer_call *c)
{
	c->next_ = NULL;
	c->pending_ = true;
	if (b->calls_tail)
		b->calls_tail->next_ = c;
	else
		b->calls = c;
	b->calls_tail = c;
}

/* The next object name: ULIDs stay strictly increasing within this producer even when several
 * flushes share a millisecond (the random part is incremented, as monotonic ULIDs do). */
static void next_key(struct sl_producer *p, uint64_t now_ns)
{
	uint64_t ms = now_ns / 1000000;
	if (ms > p->last_ms) {
		p->last_ms = ms;
		for (int i = 0; i < 10; i++) {
			uint64_t x = p->rng;
			x ^= x >> 12;
			x ^= x << 25;
			x ^= x >> 27;
			p->rng = x;
			p->rnd[i] = (uint8_t)((x * 0x2545f4914f6cdd1dULL) >> 56);
		}
		p->rnd[0] &= 0x7f; /* leaves room to increment within the millisecond */
	} else {
		for (int i = 9; i >= 0 && ++p->rnd[i] == 0; i--)
			;
	}
	char ulid[SL_ULID_LEN + 1];
	sl_ulid_encode(p->last_ms, p->rnd, ulid);
	snprintf(p->key, sizeof(p->key), "%s/%s.batch", p->data_prefix, ulid);
}

static void maybe_start(struct sl_producer *p);

static void flush_done(struct sl_producer *p, int rc)
{
	struct sl_producer_call *calls = p->fl.calls;
	if (rc == 0) {
		p->stats.batches_flushed++;
		p->stats.entries_flushed += p->fl.nents;
		p->stats.bytes_flushed += p->fl.alen;
	} else {
		p->stats.flush_failed++;
	}
	p->fl.calls = p->fl.calls_tail = NULL;
	batch_free(&p->fl);
	p->state = P_IDLE;
	complete_list(calls, rc);
	maybe_start(p);
}

static void on_mop(struct sl_manifest_op *mop)
{
	struct sl_producer *p = mop->user;
	if (mop->result != 0)
		p->stats.enqueue_failed++; /* the object stays, unreferenced, for the GC */
	flush_done(p, mop->result);
}

static void on_put(struct sl_obj_req *req)
{
	struct sl_producer *p = req->user;
	int rc = req->result;
	sl_obj_req_reset(req);
	if (rc != 0) {
		p->stats.put_failed++;
		flush_done(p, rc);
		return;
	}
	struct pbatch *b = &p->fl;
	struct sl_manifest_meta stack[16], *metas = stack;
	if (b->nmetas > 16) {
		metas = malloc(sizeof(*metas) * b->nmetas);
		if (metas == NULL) {
			p->stats.enqueue_failed++;
			flush_done(p, SL_ENOMEM);
			return;
		}
	}
	for (uint32_t i = 0; i < b->nmetas; i++) {
		metas[i].start_index = b->metas[i].start_index;
		metas[i].ingestion_time_ms = b->metas[i].time_ms;
		metas[i].payload = b->marena ? b->marena + b->metas[i].off : NULL;
		metas[i].payload_len = b->metas[i].len;
	}
	memset(&p->mop, 0, sizeof(p->mop));
	p->mop.done = on_mop;
	p->mop.user = p;
	p->state = P_ENQUEUE;
	rc = sl_manifest_enqueue(p->m, &p->mop, p->key, metas, b->nmetas);
	if (metas != stack)
		free(metas);
	if (rc != 0) {
		p->stats.enqueue_failed++;
		flush_done(p, rc);
	}
}

static void start_flush(struct sl_producer *p)
{
	p->fl = p->cur;
	memset(&p->cur, 0, sizeof(p->cur));
	struct pbatch *b = &p->fl;
	if (b->nents == 0) { /* only flush calls were waiting */
		flush_done(p, 0);
		return;
	}
	p->state = P_PUT;
	struct iovec *iov = malloc(sizeof(*iov) * b->nents);
	int rc = iov ? 0 : SL_ENOMEM;
	struct sl_buf *body = NULL;
	if (rc == 0) {
		for (uint32_t i = 0; i < b->nents; i++) {
			iov[i].iov_base = b->arena + b->ents[i].off;
			iov[i].iov_len = b->ents[i].len;
		}
		rc = sl_batch_encode(p->cfg.format, p->cfg.compression, 0, iov, b->nents, NULL,
				     &body);
		free(iov);
	}
	if (rc != 0) {
		flush_done(p, rc);
		return;
	}
	p->stats.bytes_written += body->len;
	next_key(p, p->now_ns);
	memset(&p->req, 0, sizeof(p->req));
	p->req.op = SL_OBJ_PUT;
	p->req.put_mode = SL_OBJ_PUT_OVERWRITE;
	p->req.key = p->key;
	p->req.body = body;
	p->req.done = on_put;
	p->req.user = p;
	rc = sl_objstore_submit(p->store, &p->req);
	if (rc != 0) {
		sl_buf_unref(body);
		p->req.body = NULL;
		p->stats.put_failed++;
		flush_done(p, rc);
	}
}

/* Starts a flush if none is in flight and the current batch has a reason to go. */
static void maybe_start(struct sl_producer *p)
{
	if (p->state != P_IDLE)
		return;
	struct pbatch *b = &p->cur;
	if (b->calls == NULL)
		return;
	bool flush_waiting = b->nproduce == 0 || p->closing;
	for (struct sl_producer_call *c = b->calls; c && !flush_waiting; c = c->next_)
		flush_waiting = c->ingestion_time_ms == INT64_MIN; /* a flush or close call */
	bool due = b->nents > 0 && (b->size >= p->cfg.flush_size_bytes ||
				    p->now_ns >= b->started_ns + p->cfg.flush_interval_ns);
	if (flush_waiting || due)
		start_flush(p);
}

int sl_producer_produce(struct sl_producer *p, struct sl_producer_call *call,
			const struct iovec *entries, uint32_t n, const void *meta,
			uint32_t meta_len, uint64_t now_ns)
{
	if (call == NULL || n == 0 || entries == NULL || (meta_len && meta == NULL))
		return SL_EINVAL;
	if (call->pending_)
		return SL_EBUSY;
	if (p->closing || p->closed)
		return SL_ECLOSED;
	if (now_ns > p->now_ns)
		p->now_ns = now_ns;
	struct pbatch *b = &p->cur;
	if ((uint64_t)b->nents + n > UINT32_MAX)
		return SL_ERANGE;
	size_t bytes = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (entries[i].iov_len > UINT32_MAX || (entries[i].iov_len && !entries[i].iov_base))
			return SL_ERANGE;
		bytes += entries[i].iov_len;
	}
	/* Without a bound a stalled store (a flush that never completes) lets the next batch grow
	 * until memory runs out; refusing here hands the pressure back to the caller. */
	if (p->state != P_IDLE && b->nents > 0 &&
	    (b->size + bytes + meta_len > p->cfg.max_buffered_bytes ||
	     (uint64_t)b->nents + n > p->cfg.max_buffered_entries)) {
		p->stats.rejected_full++;
		return SL_ENOSPC;
	}
	if (grow_bytes(&b->arena, &b->acap, b->alen + bytes) ||
	    grow((void **)&b->ents, sizeof(*b->ents), &b->cents, b->nents + n) ||
	    grow_bytes(&b->marena, &b->mcap, b->mlen + meta_len) ||
	    grow((void **)&b->metas, sizeof(*b->metas), &b->cmetas, b->nmetas + 1))
		return SL_ENOMEM;
	struct pmeta *m = &b->metas[b->nmetas++];
	m->start_index = b->nents;
	m->time_ms = (int64_t)(now_ns / 1000000);
	m->off = b->mlen;
	m->len = meta_len;
	if (meta_len)
		memcpy(b->marena + b->mlen, meta, meta_len);
	b->mlen += meta_len;
	for (uint32_t i = 0; i < n; i++) {
		b->ents[b->nents].off = b->alen;
		b->ents[b->nents].len = (uint32_t)entries[i].iov_len;
		if (entries[i].iov_len)
			memcpy(b->arena + b->alen, entries[i].iov_base, entries[i].iov_len);
		b->alen += entries[i].iov_len;
		b->nents++;
	}
	if (b->nproduce == 0)
		b->started_ns = now_ns;
	b->nproduce++;
	b->size += bytes + meta_len;
	call->ingestion_time_ms = m->time_ms;
	call->result = 0;
	append_call(b, call);
	p->stats.calls++;
	maybe_start(p);
	return 0;
}

static void defer(struct sl_producer *p, struct sl_producer_call *call, int rc)
{
	call->result = rc;
	call->pending_ = true;
	call->next_ = NULL;
	if (p->deferred_tail)
		p->deferred_tail->next_ = call;
	else
		p->deferred = call;
	p->deferred_tail = call;
}

int sl_producer_flush(struct sl_producer *p, struct sl_producer_call *call, uint64_t now_ns)
{
	if (call == NULL)
		return SL_EINVAL;
	if (call->pending_)
		return SL_EBUSY;
	if (p->closed)
		return SL_ECLOSED;
	if (now_ns > p->now_ns)
		p->now_ns = now_ns;
	call->ingestion_time_ms = INT64_MIN; /* marks a flush call in the batch's list */
	if (p->cur.nents > 0) {
		append_call(&p->cur, call);
		maybe_start(p);
	} else if (p->state != P_IDLE) {
		append_call(&p->fl, call);
	} else {
		defer(p, call, 0);
	}
	return 0;
}

int sl_producer_close(struct sl_producer *p, struct sl_producer_call *call, uint64_t now_ns)
{
	int rc = sl_producer_flush(p, call, now_ns);
	if (rc == 0)
		p->closing = true;
	return rc;
}

int sl_producer_poll(struct sl_producer *p, uint64_t now_ns)
{
	int n = 0;
	if (now_ns > p->now_ns)
		p->now_ns = now_ns;
	n += sl_manifest_poll(p->m, now_ns);
	int before = p->state;
	maybe_start(p);
	n += p->state != before;
	struct sl_producer_call *list = p->deferred;
	p->deferred = p->deferred_tail = NULL;
	for (struct sl_producer_call *c = list; c; c = c->next_)
		n++;
	complete_list(list, 0);
	if (p->closing && p->state == P_IDLE && p->cur.calls == NULL)
		p->closed = true;
	return n;
}

int sl_producer_run(struct sl_producer *p, struct sl_producer_call *call, uint64_t *now_ns,
		    uint64_t step_ns)
{
	while (call->pending_) {
		sl_objstore_poll(p->store, *now_ns);
		sl_producer_poll(p, *now_ns);
		*now_ns += step_ns;
	}
	return call->result;
}

bool sl_producer_idle(const struct sl_producer *p)
{
	return p->state == P_IDLE && p->cur.calls == NULL && p->deferred == NULL;
}

void sl_producer_stats(const struct sl_producer *p, struct sl_producer_stats *out)
{
	*out = p->stats;
}

double sl_producer_conflict_rate(const struct sl_producer *p)
{
	return sl_manifest_conflict_rate(p->m);
}

struct sl_manifest *sl_producer_manifest(struct sl_producer *p)
{
	return p->m;
}
