/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/consumer.h"

#include <stdlib.h>
#include <string.h>

#include "buffer/gc.h"
#include "core/err.h"

/* ---- descriptors and batches ---- */

/* One allocation: the struct, the meta array, the location and the payloads, so a descriptor is
 * freed with one free and copied with one memcpy-like pass. */
static struct sl_buffer_desc *desc_alloc(uint64_t seq, const char *loc, size_t loc_len,
					 const struct sl_manifest_meta *meta, uint32_t nmeta)
{
	size_t sz = sizeof(struct sl_buffer_desc) +
		    (size_t)nmeta * sizeof(struct sl_manifest_meta) + loc_len + 1;
	for (uint32_t i = 0; i < nmeta; i++)
		sz += meta[i].payload_len;
	struct sl_buffer_desc *d = malloc(sz);
	if (d == NULL)
		return NULL;
	d->sequence = seq;
	d->nmeta = nmeta;
	d->meta = (struct sl_manifest_meta *)(d + 1);
	char *p = (char *)(d->meta + nmeta);
	d->location = p;
	memcpy(p, loc, loc_len);
	p[loc_len] = '\0';
	p += loc_len + 1;
	for (uint32_t i = 0; i < nmeta; i++) {
		d->meta[i] = meta[i];
		if (meta[i].payload_len)
			memcpy(p, meta[i].payload, meta[i].payload_len);
		d->meta[i].payload = (const uint8_t *)p;
		p += meta[i].payload_len;
	}
	return d;
}

struct sl_buffer_desc *sl_buffer_desc_dup(const struct sl_buffer_desc *d)
{
	return desc_alloc(d->sequence, d->location, strlen(d->location), d->meta, d->nmeta);
}

void sl_buffer_desc_free(struct sl_buffer_desc *d)
{
	free(d);
}

void sl_consumed_batch_release(struct sl_consumed_batch *b)
{
	sl_buffer_desc_free(b->desc);
	sl_batch_release(&b->batch);
	memset(b, 0, sizeof(*b));
}

static struct sl_buffer_desc *desc_from_rec(const struct sl_manifest_rec *rec)
{
	/* Metadata is decoded into a small stack array when it fits, the common case. */
	struct sl_manifest_meta stack[8];
	struct sl_manifest_meta *meta = stack;
	if (rec->meta_count > 8) {
		meta = malloc(sizeof(*meta) * rec->meta_count);
		if (meta == NULL)
			return NULL;
	}
	const uint8_t *cur = rec->meta;
	for (uint32_t i = 0; i < rec->meta_count; i++)
		sl_manifest_meta_next(rec, &cur, &meta[i]);
	struct sl_buffer_desc *d =
		desc_alloc(rec->sequence, rec->location, rec->location_len, meta, rec->meta_count);
	if (meta != stack)
		free(meta);
	return d;
}

/* The first max entries with a sequence past the cursor, as descriptors. */
static int collect(const struct sl_buf *data, bool has_after, uint64_t after,
		   struct sl_buffer_desc **out, uint32_t max, uint32_t *n)
{
	*n = 0;
	if (data == NULL)
		return 0;
	struct sl_manifest_iter it;
	struct sl_manifest_footer f;
	struct sl_manifest_rec rec;
	int rc = sl_manifest_iter_init(&it, data->data, data->len, &f, NULL);
	while (rc == 0 && *n < max && (rc = sl_manifest_iter_next(&it, &rec, NULL)) == 0) {
		if (has_after && rec.sequence <= after)
			continue;
		out[*n] = desc_from_rec(&rec);
		if (out[*n] == NULL) {
			rc = SL_ENOMEM;
			break;
		}
		(*n)++;
	}
	if (rc == SL_EEOF)
		rc = 0;
	if (rc != 0) {
		for (uint32_t i = 0; i < *n; i++)
			sl_buffer_desc_free(out[i]);
		*n = 0;
	}
	return rc;
}

/* ---- the stateless fetch ---- */

static void fetch_done(struct sl_obj_req *req)
{
	struct sl_fetch_op *op = req->user;
	int rc = req->result;
	if (rc == 0) {
		op->out.bytes = req->size;
		rc = sl_batch_decode(req->data, &op->limits_, NULL, &op->out.batch, NULL);
	}
	sl_obj_req_reset(req);
	if (rc != 0) {
		sl_buffer_desc_free(op->out.desc);
		memset(&op->out, 0, sizeof(op->out));
	}
	op->busy_ = false;
	op->result = rc;
	if (op->done)
		op->done(op);
}

int sl_fetch_start(const struct sl_fetch_handle *h, struct sl_fetch_op *op,
		   const struct sl_buffer_desc *d)
{
	if (op->busy_)
		return SL_EBUSY;
	memset(&op->out, 0, sizeof(op->out));
	op->out.desc = sl_buffer_desc_dup(d);
	if (op->out.desc == NULL)
		return SL_ENOMEM;
	op->limits_ = h->limits;
	memset(&op->req_, 0, sizeof(op->req_));
	op->req_.op = SL_OBJ_GET;
	op->req_.key = op->out.desc->location;
	op->req_.done = fetch_done;
	op->req_.user = op;
	op->result = 0;
	int rc = sl_objstore_submit(h->store, &op->req_);
	if (rc != 0) {
		sl_buffer_desc_free(op->out.desc);
		op->out.desc = NULL;
		return rc;
	}
	op->busy_ = true;
	return 0;
}

int sl_fetch_run(const struct sl_fetch_handle *h, struct sl_fetch_op *op, uint64_t *now_ns,
		 uint64_t step_ns)
{
	while (op->busy_) {
		sl_objstore_poll(h->store, *now_ns);
		*now_ns += step_ns;
	}
	return op->result;
}

/* ---- the consumer ---- */

enum kind {
	K_OPEN = 1,
	K_NEXT_BATCH,
	K_NEXT_DESC,
	K_FETCH,
	K_ACK,
	K_ACK_THROUGH,
	K_FLUSH,
	K_CLOSE,
};

enum state {
	ST_IDLE = 0,
	ST_MANIFEST, /* mop_ in flight */
	ST_FETCH,    /* fop_ in flight */
	ST_RESUME,   /* open: the dequeue through last_acked in flight */
	ST_GC_WAIT,  /* close: waiting for a GC cycle to end */
	ST_DEFERRED, /* completed; done is called by the next poll */
};

struct sl_consumer {
	struct sl_objstore *store;
	struct sl_consumer_config cfg;
	char *manifest_key;
	char *data_prefix;
	struct sl_manifest *m;
	struct sl_gc *gc;
	bool open;
	bool closed;
	struct sl_consumer_op *busy;
	bool has_acked, has_handed, has_fetched;
	uint64_t last_acked, last_handed, last_fetched;
	uint64_t ack_count;
	uint64_t now_ns;
	struct sl_consumer_op *deferred, *deferred_tail;
	struct sl_consumer_stats stats;
};

void sl_consumer_config_default(struct sl_consumer_config *c)
{
	memset(c, 0, sizeof(*c));
	c->manifest_key = "manifest";
	c->data_prefix = "data";
	c->gc_enabled = true;
	c->gc_interval_ns = 300ULL * 1000000000ULL;
	c->gc_grace_ns = 600ULL * 1000000000ULL;
	sl_manifest_config_default(&c->manifest);
	sl_batch_limits_default(&c->limits);
}

struct sl_consumer *sl_consumer_new(struct sl_objstore *s, const struct sl_consumer_config *cfg)
{
	struct sl_consumer_config def;
	if (cfg == NULL) {
		sl_consumer_config_default(&def);
		cfg = &def;
	}
	if (s == NULL || cfg->manifest_key == NULL || cfg->data_prefix == NULL)
		return NULL;
	struct sl_consumer *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->store = s;
	c->cfg = *cfg;
	c->manifest_key = strdup(cfg->manifest_key);
	c->data_prefix = strdup(cfg->data_prefix);
	struct sl_manifest_config mc = cfg->manifest;
	mc.key = cfg->manifest_key;
	c->m = c->manifest_key && c->data_prefix ? sl_manifest_new(s, &mc) : NULL;
	if (c->m && cfg->gc_enabled) {
		struct sl_gc_config gc;
		sl_gc_config_default(&gc);
		gc.manifest_key = cfg->manifest_key;
		gc.data_prefix = cfg->data_prefix;
		gc.interval_ns = cfg->gc_interval_ns;
		gc.grace_ns = cfg->gc_grace_ns;
		c->gc = sl_gc_new(s, &gc);
		if (c->gc == NULL) {
			sl_manifest_free(c->m);
			c->m = NULL;
		}
	}
	if (c->m == NULL) {
		free(c->manifest_key);
		free(c->data_prefix);
		free(c);
		return NULL;
	}
	c->cfg.manifest_key = c->manifest_key;
	c->cfg.data_prefix = c->data_prefix;
	return c;
}

void sl_consumer_free(struct sl_consumer *c)
{
	if (c == NULL)
		return;
	sl_gc_free(c->gc);
	sl_manifest_free(c->m);
	free(c->manifest_key);
	free(c->data_prefix);
	free(c);
}

static void finish(struct sl_consumer_op *op, int rc)
{
	struct sl_consumer *c = op->c_;
	sl_buffer_desc_free(op->desc_);
	op->desc_ = NULL;
	sl_manifest_op_release(&op->mop_);
	op->state_ = ST_IDLE;
	op->result = rc;
	c->busy = NULL;
	if (op->done)
		op->done(op);
}

/* Completes op at the next poll: done is never called from inside a start function. */
static void defer(struct sl_consumer_op *op, int rc)
{
	struct sl_consumer *c = op->c_;
	op->result = rc;
	op->state_ = ST_DEFERRED;
	op->next_ = NULL;
	if (c->deferred_tail)
		c->deferred_tail->next_ = op;
	else
		c->deferred = op;
	c->deferred_tail = op;
}

static void on_mop(struct sl_manifest_op *mop);
static void on_fop(struct sl_fetch_op *fop);

static int begin(struct sl_consumer *c, struct sl_consumer_op *op, int kind)
{
	if (c->busy != NULL || op->state_ != ST_IDLE)
		return SL_EBUSY;
	if (c->closed || (kind != K_OPEN && !c->open) || (kind == K_OPEN && c->open))
		return SL_ECLOSED;
	op->c_ = c;
	op->kind_ = kind;
	op->result = 0;
	op->cancelled_ = false;
	op->has_batch = false;
	op->ndescs = 0;
	op->desc_ = NULL;
	memset(&op->batch, 0, sizeof(op->batch));
	memset(&op->mop_, 0, sizeof(op->mop_));
	op->mop_.done = on_mop;
	op->mop_.user = op;
	op->fop_.done = on_fop;
	op->fop_.user = op;
	c->busy = op;
	return 0;
}

/* Starts a manifest operation for op; on a start error op is released and the error returned. */
static int mstart(struct sl_consumer_op *op, int rc)
{
	if (rc != 0) {
		op->c_->busy = NULL;
		op->state_ = ST_IDLE;
		return rc;
	}
	op->state_ = ST_MANIFEST;
	return 0;
}

static void set_lag(struct sl_consumer *c, const struct sl_consumed_batch *b)
{
	if (b->desc && b->desc->nmeta > 0) {
		int64_t now_ms = (int64_t)(c->now_ns / 1000000);
		int64_t lag = now_ms - b->desc->meta[b->desc->nmeta - 1].ingestion_time_ms;
		c->stats.lag_ms = lag > 0 ? lag : 0;
	}
}

static void on_fop(struct sl_fetch_op *fop)
{
	struct sl_consumer_op *op = fop->user;
	struct sl_consumer *c = op->c_;
	int rc = fop->result;
	if (rc == 0 && op->cancelled_) {
		sl_consumed_batch_release(&fop->out);
		rc = SL_ECANCEL;
	}
	if (rc != 0) {
		finish(op, rc); /* no cursor moves on a failed or cancelled fetch */
		return;
	}
	op->batch = fop->out;
	memset(&fop->out, 0, sizeof(fop->out));
	op->has_batch = true;
	uint64_t seq = op->batch.desc->sequence;
	c->stats.batches_collected++;
	c->stats.entries_collected += op->batch.batch.count;
	c->stats.bytes_collected += op->batch.bytes;
	if (!c->has_fetched || seq > c->last_fetched)
		c->last_fetched = seq;
	c->has_fetched = true;
	set_lag(c, &op->batch);
	if (op->kind_ == K_NEXT_BATCH) {
		/* Only now, after a successful fetch, does next_batch's cursor move. */
		c->last_handed = seq;
		c->has_handed = true;
	}
	finish(op, 0);
}

static void start_fetch(struct sl_consumer_op *op, const struct sl_buffer_desc *d)
{
	struct sl_fetch_handle h;
	sl_consumer_fetch_handle(op->c_, &h);
	op->state_ = ST_FETCH;
	int rc = sl_fetch_start(&h, &op->fop_, d);
	if (rc != 0)
		finish(op, rc);
}

static void on_mop(struct sl_manifest_op *mop)
{
	struct sl_consumer_op *op = mop->user;
	struct sl_consumer *c = op->c_;
	int rc = mop->result;
	if (rc == 0 && op->cancelled_)
		rc = SL_ECANCEL;
	if (rc != 0) {
		finish(op, rc);
		return;
	}
	switch (op->kind_) {
	case K_OPEN:
		if (op->state_ == ST_MANIFEST && op->has_batch == false && op->seq_ != UINT64_MAX) {
			/* fenced; now resume after the caller's last durable ack */
			op->state_ = ST_RESUME;
			sl_manifest_op_release(mop);
			int src = sl_manifest_dequeue(c->m, mop, op->seq_);
			if (src != 0)
				finish(op, src);
			return;
		}
		c->open = true;
		if (op->state_ == ST_RESUME) {
			c->has_acked = c->has_handed = c->has_fetched = true;
			c->last_acked = c->last_handed = c->last_fetched = op->seq_;
		}
		finish(op, 0);
		return;
	case K_NEXT_BATCH: {
		struct sl_buffer_desc *d = NULL;
		uint32_t n = 0;
		rc = collect(mop->data, c->has_handed, c->last_handed, &d, 1, &n);
		if (rc != 0 || n == 0) {
			finish(op, rc);
			return;
		}
		op->desc_ = d;
		sl_manifest_op_release(mop);
		start_fetch(op, d);
		return;
	}
	case K_NEXT_DESC:
		rc = collect(mop->data, c->has_handed, c->last_handed, op->descs, op->max,
			     &op->ndescs);
		if (rc == 0 && op->ndescs > 0) {
			/* Handed out means gone from this consumer's point of view. */
			c->last_handed = op->descs[op->ndescs - 1]->sequence;
			c->has_handed = true;
			c->stats.descriptors_handed_out += op->ndescs;
		}
		finish(op, rc);
		return;
	case K_ACK_THROUGH: {
		uint64_t adv = c->has_acked ? op->seq_ - c->last_acked : op->seq_ + 1;
		c->last_acked = op->seq_;
		c->has_acked = true;
		c->ack_count += adv;
		c->stats.acks += adv;
		finish(op, 0);
		return;
	}
	case K_CLOSE:
		if (c->gc && sl_gc_running(c->gc)) {
			op->state_ = ST_GC_WAIT;
			return;
		}
		c->closed = true;
		finish(op, 0);
		return;
	default: /* K_ACK, K_FLUSH */
		finish(op, 0);
		return;
	}
}

int sl_consumer_open(struct sl_consumer *c, struct sl_consumer_op *op, bool has_last_acked,
		     uint64_t last_acked)
{
	int rc = begin(c, op, K_OPEN);
	if (rc != 0)
		return rc;
	if (has_last_acked && last_acked == UINT64_MAX) {
		c->busy = NULL;
		return SL_EINVAL;
	}
	op->seq_ = has_last_acked ? last_acked : UINT64_MAX;
	return mstart(op, sl_manifest_fence(c->m, &op->mop_));
}

int sl_consumer_next_batch(struct sl_consumer *c, struct sl_consumer_op *op)
{
	int rc = begin(c, op, K_NEXT_BATCH);
	return rc ? rc : mstart(op, sl_manifest_read(c->m, &op->mop_));
}

int sl_consumer_next_descriptors(struct sl_consumer *c, struct sl_consumer_op *op,
				 struct sl_buffer_desc **descs, uint32_t max)
{
	if (max > 0 && descs == NULL)
		return SL_EINVAL;
	int rc = begin(c, op, K_NEXT_DESC);
	if (rc != 0)
		return rc;
	op->descs = descs;
	op->max = max;
	if (max == 0) {
		defer(op, 0); /* nothing asked: no manifest read, no cursor move */
		return 0;
	}
	return mstart(op, sl_manifest_read(c->m, &op->mop_));
}

int sl_consumer_fetch(struct sl_consumer *c, struct sl_consumer_op *op,
		      const struct sl_buffer_desc *d)
{
	if (d == NULL)
		return SL_EINVAL;
	int rc = begin(c, op, K_FETCH);
	if (rc != 0)
		return rc;
	struct sl_fetch_handle h;
	sl_consumer_fetch_handle(c, &h);
	rc = sl_fetch_start(&h, &op->fop_, d);
	if (rc != 0) {
		c->busy = NULL;
		return rc;
	}
	op->state_ = ST_FETCH;
	return 0;
}

int sl_consumer_ack(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t seq)
{
	if (c->open && c->has_acked && (c->last_acked == UINT64_MAX || seq != c->last_acked + 1))
		return SL_EINVAL; /* out-of-order ack */
	int rc = begin(c, op, K_ACK);
	if (rc != 0)
		return rc;
	c->last_acked = seq;
	c->has_acked = true;
	c->ack_count++;
	c->stats.acks++;
	op->seq_ = seq;
	if (c->ack_count % SL_CONSUMER_DEQUEUE_INTERVAL != 0) {
		defer(op, 0);
		return 0;
	}
	rc = mstart(op, sl_manifest_dequeue(c->m, &op->mop_, seq));
	return rc;
}

int sl_consumer_ack_through(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t seq)
{
	if (c->open && c->has_acked && seq <= c->last_acked)
		return SL_EINVAL; /* the frontier is monotonic */
	int rc = begin(c, op, K_ACK_THROUGH);
	if (rc != 0)
		return rc;
	op->seq_ = seq;
	return mstart(op, sl_manifest_dequeue(c->m, &op->mop_, seq));
}

int sl_consumer_flush(struct sl_consumer *c, struct sl_consumer_op *op)
{
	int rc = begin(c, op, K_FLUSH);
	if (rc != 0)
		return rc;
	if (!c->has_acked) {
		defer(op, 0);
		return 0;
	}
	return mstart(op, sl_manifest_dequeue(c->m, &op->mop_, c->last_acked));
}

int sl_consumer_close(struct sl_consumer *c, struct sl_consumer_op *op)
{
	int rc = begin(c, op, K_CLOSE);
	if (rc != 0)
		return rc;
	if (!c->has_acked) {
		if (c->gc && sl_gc_running(c->gc)) {
			op->state_ = ST_GC_WAIT;
			return 0;
		}
		c->closed = true;
		defer(op, 0);
		return 0;
	}
	return mstart(op, sl_manifest_dequeue(c->m, &op->mop_, c->last_acked));
}

int sl_consumer_cancel(struct sl_consumer *c, struct sl_consumer_op *op)
{
	if (c->busy != op || (op->kind_ != K_NEXT_BATCH && op->kind_ != K_FETCH) ||
	    op->state_ == ST_DEFERRED || op->state_ == ST_IDLE)
		return SL_EINVAL;
	op->cancelled_ = true;
	return 0;
}

int sl_consumer_poll(struct sl_consumer *c, uint64_t now_ns)
{
	int n = 0;
	if (now_ns > c->now_ns)
		c->now_ns = now_ns;
	n += sl_manifest_poll(c->m, now_ns);
	/* No new cycle once close has begun: close waits for a running one to end, and a cycle
	 * started meanwhile would make it wait again, for ever with a short interval. */
	bool closing = c->busy && c->busy->kind_ == K_CLOSE;
	if (c->gc && c->open && !c->closed && !closing)
		n += sl_gc_poll(c->gc, now_ns);
	if (c->busy && c->busy->state_ == ST_GC_WAIT && !sl_gc_running(c->gc)) {
		c->closed = true;
		finish(c->busy, 0);
		n++;
	}
	/* Deferred completions: detached first, since done may start the next operation. */
	struct sl_consumer_op *list = c->deferred;
	c->deferred = c->deferred_tail = NULL;
	while (list) {
		struct sl_consumer_op *op = list;
		list = op->next_;
		op->next_ = NULL;
		finish(op, op->result);
		n++;
	}
	return n;
}

int sl_consumer_run(struct sl_consumer *c, struct sl_consumer_op *op, uint64_t *now_ns,
		    uint64_t step_ns)
{
	while (op->state_ != ST_IDLE) {
		sl_objstore_poll(c->store, *now_ns);
		sl_consumer_poll(c, *now_ns);
		*now_ns += step_ns;
	}
	return op->result;
}

void sl_consumer_fetch_handle(const struct sl_consumer *c, struct sl_fetch_handle *out)
{
	out->store = c->store;
	out->limits = c->cfg.limits;
}

uint32_t sl_consumer_len(const struct sl_consumer *c)
{
	return sl_manifest_len(c->m);
}

double sl_consumer_conflict_rate(const struct sl_consumer *c)
{
	return sl_manifest_conflict_rate(c->m);
}

bool sl_consumer_last_acked(const struct sl_consumer *c, uint64_t *seq)
{
	if (c->has_acked && seq)
		*seq = c->last_acked;
	return c->has_acked;
}

bool sl_consumer_last_handed_out(const struct sl_consumer *c, uint64_t *seq)
{
	if (c->has_handed && seq)
		*seq = c->last_handed;
	return c->has_handed;
}

bool sl_consumer_last_fetched(const struct sl_consumer *c, uint64_t *seq)
{
	if (c->has_fetched && seq)
		*seq = c->last_fetched;
	return c->has_fetched;
}

void sl_consumer_stats(const struct sl_consumer *c, struct sl_consumer_stats *out)
{
	*out = c->stats;
}

struct sl_manifest *sl_consumer_manifest(struct sl_consumer *c)
{
	return c->m;
}

struct sl_gc *sl_consumer_gc(struct sl_consumer *c)
{
	return c->gc;
}
