/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/manifest.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* ---- little-endian fields (the manifest format is little-endian, unlike our wire formats) ---- */

static inline uint16_t ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t ld64(const uint8_t *p)
{
	return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32);
}

static inline uint8_t *st16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	return p + 2;
}

static inline uint8_t *st32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 4;
}

static inline uint8_t *st64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
	return p + 8;
}

#define WHY(s)                                                                                     \
	do {                                                                                       \
		if (why)                                                                           \
			*why = (s);                                                                \
	} while (0)

/* ---- codec ---- */

int sl_manifest_footer_decode(const uint8_t *p, size_t n, struct sl_manifest_footer *f,
			      const char **why)
{
	if (n == 0) {
		WHY("empty manifest");
		return SL_ETRUNC;
	}
	if (n < SL_MANIFEST_FOOTER_LEN) {
		WHY("manifest shorter than the footer");
		return SL_ETRUNC;
	}
	const uint8_t *t = p + n - SL_MANIFEST_FOOTER_LEN;
	f->count = ld32(t);
	f->next_sequence = ld64(t + 4);
	f->epoch = ld64(t + 12);
	f->version = ld16(t + 20);
	/* The version is checked first: a future format may place anything in the other fields. */
	if (f->version != SL_MANIFEST_VERSION) {
		WHY("unknown manifest version");
		return SL_ENOTSUP;
	}
	if (f->count > f->next_sequence) {
		WHY("bad footer: entry count exceeds next sequence");
		return SL_ECORRUPT;
	}
	/* Every entry takes at least 18 bytes, so a count the bytes cannot hold is caught before
	 * anyone trusts it for an allocation. */
	if ((uint64_t)f->count * 18 > n - SL_MANIFEST_FOOTER_LEN) {
		WHY("bad footer: entry count larger than the entries area can hold");
		return SL_ECORRUPT;
	}
	return 0;
}

int sl_manifest_iter_init(struct sl_manifest_iter *it, const uint8_t *p, size_t n,
			  struct sl_manifest_footer *f, const char **why)
{
	int rc = sl_manifest_footer_decode(p, n, f, why);
	if (rc != 0)
		return rc;
	it->p = p;
	it->end = p + n - SL_MANIFEST_FOOTER_LEN;
	it->left = f->count;
	it->next_sequence = f->next_sequence;
	it->expect = f->next_sequence - f->count;
	return 0;
}

int sl_manifest_iter_next(struct sl_manifest_iter *it, struct sl_manifest_rec *rec,
			  const char **why)
{
	if (it->left == 0) {
		if (it->p != it->end) {
			WHY("bytes left over after the counted entries");
			return SL_ECORRUPT;
		}
		return SL_EEOF;
	}
	size_t avail = (size_t)(it->end - it->p);
	if (avail < 4) {
		WHY("truncated entry: no room for the length");
		return SL_ETRUNC;
	}
	uint32_t body = ld32(it->p);
	if (body > avail - 4) {
		WHY("truncated entry: body runs past the entries area");
		return SL_ETRUNC;
	}
	const uint8_t *b = it->p + 4, *bend = b + body;
	if (body < 8 + 2 + 4) {
		WHY("corrupt entry: body shorter than its fixed fields");
		return SL_ECORRUPT;
	}
	uint64_t seq = ld64(b);
	uint16_t loc_len = ld16(b + 8);
	if ((size_t)body < 8 + 2 + (size_t)loc_len + 4) {
		WHY("corrupt entry: location runs past the body");
		return SL_ECORRUPT;
	}
	if (loc_len == 0) {
		WHY("corrupt entry: empty location");
		return SL_ECORRUPT;
	}
	if (seq != it->expect) {
		WHY("corrupt entry: sequence out of the gapless run");
		return SL_ECORRUPT;
	}
	const uint8_t *q = b + 10 + loc_len;
	uint32_t nmeta = ld32(q);
	q += 4;
	const uint8_t *mstart = q;
	for (uint32_t i = 0; i < nmeta; i++) {
		if ((size_t)(bend - q) < 16) {
			WHY("corrupt entry: metadata header runs past the body");
			return SL_ECORRUPT;
		}
		uint32_t plen = ld32(q + 12);
		q += 16;
		if ((size_t)(bend - q) < plen) {
			WHY("corrupt entry: metadata payload runs past the body");
			return SL_ECORRUPT;
		}
		q += plen;
	}
	if (q != bend) {
		WHY("corrupt entry: metadata does not fill the body");
		return SL_ECORRUPT;
	}
	rec->sequence = seq;
	rec->location = (const char *)(b + 10);
	rec->location_len = loc_len;
	rec->meta_count = nmeta;
	rec->meta = mstart;
	rec->meta_end = bend;
	rec->raw = it->p;
	rec->raw_len = body + 4;
	it->p = bend;
	it->left--;
	it->expect = seq + 1;
	return 0;
}

int sl_manifest_meta_next(const struct sl_manifest_rec *rec, const uint8_t **cursor,
			  struct sl_manifest_meta *m)
{
	const uint8_t *q = *cursor;
	if (q >= rec->meta_end)
		return SL_EEOF;
	m->start_index = ld32(q);
	m->ingestion_time_ms = (int64_t)ld64(q + 4);
	m->payload_len = ld32(q + 12);
	m->payload = q + 16;
	*cursor = q + 16 + m->payload_len;
	return 0;
}

int sl_manifest_validate(const uint8_t *p, size_t n, struct sl_manifest_footer *f, const char **why)
{
	struct sl_manifest_iter it;
	int rc = sl_manifest_iter_init(&it, p, n, f, why);
	if (rc != 0)
		return rc;
	struct sl_manifest_rec rec;
	while ((rc = sl_manifest_iter_next(&it, &rec, why)) == 0)
		;
	return rc == SL_EEOF ? 0 : rc;
}

size_t sl_manifest_entry_len(size_t location_len, const struct sl_manifest_meta *meta,
			     uint32_t nmeta)
{
	size_t n = 4 + 8 + 2 + location_len + 4;
	for (uint32_t i = 0; i < nmeta; i++)
		n += 16 + (size_t)meta[i].payload_len;
	return n;
}

size_t sl_manifest_entry_encode(uint8_t *out, uint64_t sequence, const char *location,
				size_t location_len, const struct sl_manifest_meta *meta,
				uint32_t nmeta)
{
	if (location_len == 0 || location_len > SL_MANIFEST_LOCATION_MAX)
		return 0;
	size_t total = sl_manifest_entry_len(location_len, meta, nmeta);
	if (total - 4 > UINT32_MAX)
		return 0;
	uint8_t *p = st32(out, (uint32_t)(total - 4));
	p = st64(p, sequence);
	p = st16(p, (uint16_t)location_len);
	memcpy(p, location, location_len);
	p += location_len;
	p = st32(p, nmeta);
	for (uint32_t i = 0; i < nmeta; i++) {
		p = st32(p, meta[i].start_index);
		p = st64(p, (uint64_t)meta[i].ingestion_time_ms);
		p = st32(p, meta[i].payload_len);
		if (meta[i].payload_len)
			memcpy(p, meta[i].payload, meta[i].payload_len);
		p += meta[i].payload_len;
	}
	return total;
}

void sl_manifest_footer_encode(uint8_t *out, const struct sl_manifest_footer *f)
{
	uint8_t *p = st32(out, f->count);
	p = st64(p, f->next_sequence);
	p = st64(p, f->epoch);
	st16(p, f->version);
}

/* ---- client ---- */

enum op_state {
	ST_IDLE = 0,
	ST_GET,
	ST_PUT,
	ST_BACKOFF_NEW, /* conflict seen; the delay starts at the next poll */
	ST_BACKOFF,	/* waiting for due_ns_ */
};

struct sl_manifest {
	struct sl_objstore *store;
	struct sl_manifest_config cfg;
	char *key;
	uint64_t epoch;
	uint32_t len;
	uint32_t inflight;
	uint64_t rng;
	struct sl_manifest_op *backoff; /* operations waiting to retry */
	struct sl_manifest_stats stats;
};

void sl_manifest_config_default(struct sl_manifest_config *c)
{
	c->key = "manifest";
	c->max_attempts = 16;
	c->backoff_min_ns = 1000000;
	c->backoff_max_ns = 100000000;
	c->seed = 1;
}

struct sl_manifest *sl_manifest_new(struct sl_objstore *s, const struct sl_manifest_config *cfg)
{
	struct sl_manifest_config def;
	if (cfg == NULL) {
		sl_manifest_config_default(&def);
		cfg = &def;
	}
	if (s == NULL || sl_obj_key_check(cfg->key) != 0)
		return NULL;
	struct sl_manifest *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->key = strdup(cfg->key);
	if (m->key == NULL) {
		free(m);
		return NULL;
	}
	m->store = s;
	m->cfg = *cfg;
	m->cfg.key = m->key;
	if (m->cfg.max_attempts == 0)
		m->cfg.max_attempts = 1;
	if (m->cfg.backoff_max_ns < m->cfg.backoff_min_ns)
		m->cfg.backoff_max_ns = m->cfg.backoff_min_ns;
	m->epoch = SL_MANIFEST_NO_EPOCH;
	/* splitmix64 of the seed, so that nearby seeds give unrelated sequences, and never 0
	 * (xorshift's fixed point). */
	uint64_t z = cfg->seed + 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	m->rng = (z ^ (z >> 31)) | 1;
	return m;
}

void sl_manifest_free(struct sl_manifest *m)
{
	if (m == NULL)
		return;
	free(m->key);
	free(m);
}

static uint64_t rng_next(struct sl_manifest *m)
{
	/* xorshift64*: enough for jitter, deterministic for tests. */
	uint64_t x = m->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	m->rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static void op_finish(struct sl_manifest_op *op, int rc)
{
	struct sl_manifest *m = op->m_;
	if (op->req_.data != NULL && op->data != op->req_.data)
		sl_buf_unref(op->req_.data);
	op->req_.data = NULL;
	sl_buf_unref(op->entry_);
	op->entry_ = NULL;
	op->state_ = ST_IDLE;
	op->result = rc;
	m->inflight--;
	if (rc == SL_EFENCED)
		m->stats.fenced++;
	else if (rc == SL_ECORRUPT || rc == SL_ETRUNC || rc == SL_ENOTSUP)
		m->stats.corrupt++;
	if (op->done)
		op->done(op);
}

static void on_req_done(struct sl_obj_req *req);

static int submit_get(struct sl_manifest_op *op)
{
	struct sl_obj_req *r = &op->req_;
	memset(r, 0, sizeof(*r));
	r->op = SL_OBJ_GET;
	r->key = op->m_->key;
	r->done = on_req_done;
	r->user = op;
	op->state_ = ST_GET;
	return sl_objstore_submit(op->m_->store, r);
}

static int start(struct sl_manifest *m, struct sl_manifest_op *op, enum sl_manifest_kind kind)
{
	if (op->state_ != ST_IDLE)
		return SL_EBUSY;
	op->m_ = m;
	op->kind_ = kind;
	op->result = 0;
	op->data = NULL;
	op->removed = 0;
	op->attempts = 0;
	op->sequence = 0;
	memset(&op->footer, 0, sizeof(op->footer));
	op->next_ = NULL;
	int rc = submit_get(op);
	if (rc != 0) {
		op->state_ = ST_IDLE;
		return rc;
	}
	m->inflight++;
	return 0;
}

/* Schedules the next attempt after a conflict, or gives up. */
static void conflict(struct sl_manifest_op *op)
{
	struct sl_manifest *m = op->m_;
	m->stats.conflicts++;
	if (op->attempts >= m->cfg.max_attempts) {
		m->stats.exhausted++;
		op_finish(op, SL_EBUSY);
		return;
	}
	/* Exponential backoff with "equal jitter": half the delay is fixed, half random, so two
	 * writers that collided do not collide again in lock step yet neither retries at once. */
	uint64_t d = m->cfg.backoff_min_ns;
	for (uint32_t i = 1; i < op->attempts && d < m->cfg.backoff_max_ns; i++)
		d *= 2;
	if (d > m->cfg.backoff_max_ns)
		d = m->cfg.backoff_max_ns;
	op->delay_ns_ = d / 2 + (d ? rng_next(m) % (d / 2 + 1) : 0);
	op->state_ = ST_BACKOFF_NEW;
	op->next_ = m->backoff;
	m->backoff = op;
}

static void submit_put(struct sl_manifest_op *op, struct sl_buf *body, const char *etag)
{
	struct sl_manifest *m = op->m_;
	struct sl_obj_req *r = &op->req_;
	char tag[SL_OBJ_ETAG_MAX];
	if (etag)
		memcpy(tag, etag, SL_OBJ_ETAG_MAX);
	memset(r, 0, sizeof(*r));
	r->op = SL_OBJ_PUT;
	r->key = m->key;
	r->body = body;
	if (etag) {
		r->put_mode = SL_OBJ_PUT_IF_MATCH;
		memcpy(r->if_match, tag, SL_OBJ_ETAG_MAX);
	} else {
		r->put_mode = SL_OBJ_PUT_CREATE;
	}
	r->done = on_req_done;
	r->user = op;
	op->state_ = ST_PUT;
	op->attempts++;
	m->stats.writes++;
	int rc = sl_objstore_submit(m->store, r);
	if (rc != 0) {
		sl_buf_unref(body);
		r->body = NULL;
		m->stats.errors++;
		op_finish(op, rc);
	}
}

/* Builds the new manifest for a write operation from the bytes read (NULL = none). */
static int build(struct sl_manifest_op *op, const uint8_t *p, size_t n,
		 const struct sl_manifest_footer *f, struct sl_buf **out)
{
	struct sl_manifest *m = op->m_;
	size_t entries_len = n ? n - SL_MANIFEST_FOOTER_LEN : 0;
	struct sl_manifest_footer nf = *f;
	const uint8_t *keep = p;
	size_t keep_len = entries_len;
	size_t add_len = 0;
	const char *why = NULL;

	switch (op->kind_) {
	case SL_MANIFEST_ENQUEUE: {
		uint32_t k = op->nentries_ ? op->nentries_ : 1;
		if ((uint64_t)f->count + k > UINT32_MAX || f->next_sequence > UINT64_MAX - k)
			return SL_EBOUNDS;
		add_len = op->entry_->len;
		/* Sequences are patched into the pre-encoded entries (after each u32 length). */
		size_t at = 0;
		for (uint32_t i = 0; i < k; i++) {
			st64(op->entry_->data + at + 4, f->next_sequence + i);
			at += 4 + (size_t)ld32(op->entry_->data + at);
		}
		op->sequence = f->next_sequence;
		nf.count += k;
		nf.next_sequence += k;
		break;
	}
	case SL_MANIFEST_DEQUEUE: {
		struct sl_manifest_iter it;
		struct sl_manifest_rec rec;
		struct sl_manifest_footer tf;
		uint32_t removed = 0;
		if (n) {
			int rc = sl_manifest_iter_init(&it, p, n, &tf, &why);
			while (rc == 0 && (rc = sl_manifest_iter_next(&it, &rec, &why)) == 0) {
				if (rec.sequence > op->through_)
					break;
				removed++;
			}
			if (rc != 0 && rc != SL_EEOF)
				return rc;
			if (rc == 0) { /* stopped at the first kept entry */
				keep = rec.raw;
			} else {
				keep = p + entries_len;
			}
			keep_len = (size_t)(p + entries_len - keep);
		}
		op->removed = removed;
		if (removed == 0)
			return 1; /* nothing to write */
		nf.count -= removed;
		break;
	}
	case SL_MANIFEST_FENCE:
		nf.epoch = f->epoch + 1;
		/* The "no epoch" value is skipped, as in opendata, so it never matches a consumer.
		 */
		if (nf.epoch == SL_MANIFEST_NO_EPOCH)
			nf.epoch++;
		break;
	default:
		return SL_EINVAL;
	}
	size_t total = keep_len + add_len + SL_MANIFEST_FOOTER_LEN;
	struct sl_buf *b = sl_buf_alloc(total);
	if (b == NULL)
		return SL_ENOMEM;
	if (keep_len)
		memcpy(b->data, keep, keep_len);
	if (add_len)
		memcpy(b->data + keep_len, op->entry_->data, add_len);
	sl_manifest_footer_encode(b->data + keep_len + add_len, &nf);
	b->len = (uint32_t)total;
	op->footer = nf;
	*out = b;
	(void)m;
	return 0;
}

static void on_get(struct sl_manifest_op *op)
{
	struct sl_manifest *m = op->m_;
	struct sl_obj_req *r = &op->req_;
	int rc = r->result;
	struct sl_manifest_footer f = {0, 0, 0, SL_MANIFEST_VERSION};
	const uint8_t *p = NULL;
	size_t n = 0;
	bool exists = rc == 0;
	if (rc == SL_ENOTFOUND) {
		rc = 0;
	} else if (rc != 0) {
		m->stats.errors++;
		op_finish(op, rc);
		return;
	} else {
		m->stats.reads++;
		p = r->data->data;
		n = r->data->len;
		rc = sl_manifest_footer_decode(p, n, &f, NULL);
		if (rc != 0) {
			op_finish(op, rc);
			return;
		}
	}
	m->len = f.count;
	op->footer = f;

	bool needs_epoch = op->kind_ == SL_MANIFEST_DEQUEUE ||
			   (op->kind_ == SL_MANIFEST_READ && m->epoch != SL_MANIFEST_NO_EPOCH);
	if (needs_epoch && f.epoch != m->epoch) {
		op_finish(op, SL_EFENCED);
		return;
	}
	if (op->kind_ == SL_MANIFEST_READ) {
		op->data = r->data;
		r->data = NULL;
		op_finish(op, 0);
		return;
	}
	struct sl_buf *body = NULL;
	rc = build(op, p, n, &f, &body);
	if (rc == 1) { /* a dequeue with nothing to remove */
		op_finish(op, 0);
		return;
	}
	if (rc != 0) {
		op_finish(op, rc);
		return;
	}
	char etag[SL_OBJ_ETAG_MAX];
	memcpy(etag, r->etag, SL_OBJ_ETAG_MAX);
	sl_obj_req_reset(r);
	submit_put(op, body, exists ? etag : NULL);
}

static void on_put(struct sl_manifest_op *op)
{
	struct sl_manifest *m = op->m_;
	int rc = op->req_.result;
	sl_obj_req_reset(&op->req_);
	if (rc == SL_EPRECOND) {
		op->state_ = ST_IDLE;
		conflict(op);
		return;
	}
	if (rc != 0) {
		m->stats.errors++;
		op_finish(op, rc);
		return;
	}
	m->len = op->footer.count;
	if (op->kind_ == SL_MANIFEST_FENCE)
		m->epoch = op->footer.epoch;
	op_finish(op, 0);
}

static void on_req_done(struct sl_obj_req *req)
{
	struct sl_manifest_op *op = req->user;
	if (op->state_ == ST_GET)
		on_get(op);
	else
		on_put(op);
}

int sl_manifest_read(struct sl_manifest *m, struct sl_manifest_op *op)
{
	return start(m, op, SL_MANIFEST_READ);
}

int sl_manifest_enqueue(struct sl_manifest *m, struct sl_manifest_op *op, const char *location,
			const struct sl_manifest_meta *meta, uint32_t nmeta)
{
	if (op->state_ != ST_IDLE)
		return SL_EBUSY;
	size_t ll = location ? strlen(location) : 0;
	if (ll == 0 || ll > SL_MANIFEST_LOCATION_MAX || (nmeta > 0 && meta == NULL))
		return SL_EINVAL;
	size_t len = sl_manifest_entry_len(ll, meta, nmeta);
	if (len - 4 > UINT32_MAX)
		return SL_EINVAL;
	struct sl_buf *e = sl_buf_alloc(len);
	if (e == NULL)
		return SL_ENOMEM;
	e->len = (uint32_t)sl_manifest_entry_encode(e->data, 0, location, ll, meta, nmeta);
	op->entry_ = e;
	op->nentries_ = 1;
	int rc = start(m, op, SL_MANIFEST_ENQUEUE);
	if (rc != 0) {
		sl_buf_unref(e);
		op->entry_ = NULL;
	}
	return rc;
}

int sl_manifest_enqueue_many(struct sl_manifest *m, struct sl_manifest_op *op,
			     const struct sl_manifest_entry_in *e, uint32_t n)
{
	if (op->state_ != ST_IDLE)
		return SL_EBUSY;
	if (n == 0 || e == NULL)
		return SL_EINVAL;
	size_t len = 0;
	for (uint32_t i = 0; i < n; i++) {
		size_t ll = e[i].location ? strlen(e[i].location) : 0;
		if (ll == 0 || ll > SL_MANIFEST_LOCATION_MAX ||
		    (e[i].nmeta > 0 && e[i].meta == NULL))
			return SL_EINVAL;
		size_t el = sl_manifest_entry_len(ll, e[i].meta, e[i].nmeta);
		if (el - 4 > UINT32_MAX)
			return SL_EINVAL;
		len += el;
	}
	if (len > UINT32_MAX)
		return SL_EINVAL;
	struct sl_buf *b = sl_buf_alloc(len);
	if (b == NULL)
		return SL_ENOMEM;
	size_t at = 0;
	for (uint32_t i = 0; i < n; i++)
		at += sl_manifest_entry_encode(b->data + at, 0, e[i].location,
					       strlen(e[i].location), e[i].meta, e[i].nmeta);
	b->len = (uint32_t)at;
	op->entry_ = b;
	op->nentries_ = n;
	int rc = start(m, op, SL_MANIFEST_ENQUEUE);
	if (rc != 0) {
		sl_buf_unref(b);
		op->entry_ = NULL;
	}
	return rc;
}

int sl_manifest_dequeue(struct sl_manifest *m, struct sl_manifest_op *op, uint64_t through)
{
	if (op->state_ != ST_IDLE)
		return SL_EBUSY;
	op->through_ = through;
	op->entry_ = NULL;
	return start(m, op, SL_MANIFEST_DEQUEUE);
}

int sl_manifest_fence(struct sl_manifest *m, struct sl_manifest_op *op)
{
	if (op->state_ != ST_IDLE)
		return SL_EBUSY;
	op->entry_ = NULL;
	return start(m, op, SL_MANIFEST_FENCE);
}

void sl_manifest_op_release(struct sl_manifest_op *op)
{
	sl_buf_unref(op->data);
	op->data = NULL;
}

int sl_manifest_poll(struct sl_manifest *m, uint64_t now_ns)
{
	int restarted = 0;
	struct sl_manifest_op **pp = &m->backoff;
	/* Restarted operations are unlinked first: their done may run (on a submit error) and
	 * start new operations that link themselves at the head. */
	while (*pp) {
		struct sl_manifest_op *op = *pp;
		if (op->state_ == ST_BACKOFF_NEW) {
			op->due_ns_ = now_ns + op->delay_ns_;
			op->state_ = ST_BACKOFF;
		}
		if (op->due_ns_ > now_ns) {
			pp = &op->next_;
			continue;
		}
		*pp = op->next_;
		op->next_ = NULL;
		restarted++;
		int rc = submit_get(op);
		if (rc != 0) {
			op->state_ = ST_IDLE;
			m->stats.errors++;
			op_finish(op, rc);
			pp = &m->backoff; /* the list may have changed under us */
		}
	}
	return restarted;
}

uint32_t sl_manifest_inflight(const struct sl_manifest *m)
{
	return m->inflight;
}

uint32_t sl_manifest_len(const struct sl_manifest *m)
{
	return m->len;
}

uint64_t sl_manifest_epoch(const struct sl_manifest *m)
{
	return m->epoch;
}

const char *sl_manifest_key(const struct sl_manifest *m)
{
	return m->key;
}

void sl_manifest_stats(const struct sl_manifest *m, struct sl_manifest_stats *out)
{
	*out = m->stats;
}

double sl_manifest_conflict_rate(const struct sl_manifest *m)
{
	if (m->stats.writes == 0)
		return 0.0;
	double r = (double)m->stats.conflicts / (double)m->stats.writes;
	return r > 1.0 ? 1.0 : r;
}

int sl_manifest_run(struct sl_manifest *m, struct sl_manifest_op *op, uint64_t *now_ns,
		    uint64_t step_ns)
{
	while (op->state_ != ST_IDLE) {
		sl_objstore_poll(m->store, *now_ns);
		sl_manifest_poll(m, *now_ns);
		*now_ns += step_ns;
	}
	return op->result;
}
