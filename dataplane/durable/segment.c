/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/segment.h"

#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "core/varint.h"

static size_t vl(uint64_t v)
{
	size_t n = sl_varint_len(v);
	return n ? n : 8;
}

/* Version 2 only when some range carries idempotent writes. */
static bool has_idem(const struct sl_seg_event *ev)
{
	for (uint32_t i = 0; i < ev->nranges; i++)
		if (ev->ranges[i].nidem > 0)
			return true;
	return false;
}

/* An idempotent write sits inside its range, at or after the end of the one before (prev_end),
 * and its sequence numbers are varints. */
static bool idem_ok(const struct sl_seg_range *r, const struct sl_seg_idem *e, uint64_t prev_end)
{
	return e->count > 0 && e->offset >= prev_end && e->offset >= r->first &&
	       e->offset - r->first <= r->count && e->count <= r->count - (e->offset - r->first) &&
	       e->sequence <= SL_VARINT_MAX && e->count <= SL_VARINT_MAX + 1 - e->sequence &&
	       e->producer_id <= SL_VARINT_MAX;
}

static bool range_idem_ok(const struct sl_seg_range *r)
{
	uint64_t end = r->first;
	for (uint32_t k = 0; k < r->nidem; k++) {
		if (r->idem == NULL || !idem_ok(r, &r->idem[k], end))
			return false;
		end = r->idem[k].offset + r->idem[k].count;
	}
	return true;
}

size_t sl_seg_encoded_size(const struct sl_seg_event *ev)
{
	size_t klen = strnlen(ev->key, sizeof(ev->key));
	size_t n = 5 + vl(ev->boot) + vl(ev->worker) + vl(ev->seq) + vl(ev->wall_ms) + vl(klen) +
		   klen + vl(ev->object_size) + vl(ev->nranges);
	for (uint32_t i = 0; i < ev->nranges; i++) {
		const struct sl_seg_range *r = &ev->ranges[i];
		n += vl(r->stream_id) + vl(r->partition) + vl(r->first) + vl(r->count) +
		     vl(r->off) + vl(r->len) + vl(r->bytes);
		if (has_idem(ev))
			n += vl(r->nidem);
		for (uint32_t k = 0; k < r->nidem; k++) {
			const struct sl_seg_idem *e = &r->idem[k];
			n += vl(e->producer_id) + vl(e->sequence) + vl(e->offset - r->first) +
			     vl(e->count);
		}
	}
	return n;
}

/* The checks encode and decode share: a range must sit inside the object and name at least
 * one record whose offsets do not overflow. */
static bool range_ok(const struct sl_seg_range *r, uint64_t object_size)
{
	return r->count > 0 && r->first <= SL_VARINT_MAX - r->count && r->off <= object_size &&
	       r->len <= object_size - r->off && r->len > 0;
}

int sl_seg_encode(const struct sl_seg_event *ev, struct sl_buf **out)
{
	if (ev == NULL || out == NULL || ev->nranges == 0 || ev->nranges > SL_SEG_MAX_RANGES ||
	    ev->ranges == NULL || sl_obj_key_check(ev->key) != 0)
		return SL_EINVAL;
	for (uint32_t i = 0; i < ev->nranges; i++)
		if (!range_ok(&ev->ranges[i], ev->object_size) || !range_idem_ok(&ev->ranges[i]))
			return SL_EINVAL;
	bool v2 = has_idem(ev);
	size_t need = sl_seg_encoded_size(ev);
	struct sl_buf *b = sl_buf_alloc(need);
	if (b == NULL)
		return SL_ENOMEM;
	struct sl_writer w;
	sl_writer_init(&w, b->data, need);
	size_t klen = strlen(ev->key);
	int rc = sl_writer_bytes(&w, SL_SEG_MAGIC, 4);
	rc = rc ? rc : sl_writer_u8(&w, v2 ? SL_SEG_VERSION_IDEM : SL_SEG_VERSION);
	rc = rc ? rc : sl_writer_varint(&w, ev->boot);
	rc = rc ? rc : sl_writer_varint(&w, ev->worker);
	rc = rc ? rc : sl_writer_varint(&w, ev->seq);
	rc = rc ? rc : sl_writer_varint(&w, ev->wall_ms);
	rc = rc ? rc : sl_writer_lenbytes(&w, ev->key, klen);
	rc = rc ? rc : sl_writer_varint(&w, ev->object_size);
	rc = rc ? rc : sl_writer_varint(&w, ev->nranges);
	for (uint32_t i = 0; rc == 0 && i < ev->nranges; i++) {
		const struct sl_seg_range *r = &ev->ranges[i];
		rc = sl_writer_varint(&w, r->stream_id);
		rc = rc ? rc : sl_writer_varint(&w, r->partition);
		rc = rc ? rc : sl_writer_varint(&w, r->first);
		rc = rc ? rc : sl_writer_varint(&w, r->count);
		rc = rc ? rc : sl_writer_varint(&w, r->off);
		rc = rc ? rc : sl_writer_varint(&w, r->len);
		rc = rc ? rc : sl_writer_varint(&w, r->bytes);
		if (v2)
			rc = rc ? rc : sl_writer_varint(&w, r->nidem);
		for (uint32_t k = 0; rc == 0 && k < r->nidem; k++) {
			const struct sl_seg_idem *e = &r->idem[k];
			rc = sl_writer_varint(&w, e->producer_id);
			rc = rc ? rc : sl_writer_varint(&w, e->sequence);
			rc = rc ? rc : sl_writer_varint(&w, e->offset - r->first);
			rc = rc ? rc : sl_writer_varint(&w, e->count);
		}
	}
	if (rc != 0) {
		sl_buf_unref(b);
		return rc == SL_ENOSPC ? SL_EINVAL : rc; /* a value over 2^62 */
	}
	b->len = (uint32_t)sl_writer_len(&w);
	*out = b;
	return 0;
}

void sl_seg_event_release(struct sl_seg_event *ev)
{
	if (ev == NULL)
		return;
	free(ev->ranges);
	ev->ranges = NULL;
	ev->nranges = 0;
	free(ev->idem);
	ev->idem = NULL;
}

#define WHY(s)                                                                                     \
	do {                                                                                       \
		if (why)                                                                           \
			*why = (s);                                                                \
	} while (0)

/* A range's list of idempotent writes (version 2), appended to *all; g->idem is set by the
 * caller once every range is read. */
static int decode_idem(struct sl_reader *r, struct sl_seg_range *g, struct sl_seg_idem **all,
		       size_t *nall, size_t *cap, const char **why)
{
	uint64_t nidem;
	if (sl_reader_varint(r, &nidem) != 0) {
		WHY("segment.range.nidem");
		return SL_ETRUNC;
	}
	/* Each write holds at least one record and takes at least 4 bytes. */
	if (nidem > g->count) {
		WHY("segment.range.nidem");
		return SL_ECORRUPT;
	}
	if (nidem > sl_reader_left(r) / 4) {
		WHY("segment.range.nidem");
		return SL_ETRUNC;
	}
	if (*nall + nidem > *cap) {
		size_t ncap = *cap ? *cap : 16;
		while (ncap < *nall + nidem)
			ncap *= 2;
		struct sl_seg_idem *n = realloc(*all, ncap * sizeof(*n));
		if (n == NULL) {
			WHY("segment.range.idem");
			return SL_ENOMEM;
		}
		*all = n;
		*cap = ncap;
	}
	uint64_t end = g->first;
	for (uint64_t k = 0; k < nidem; k++) {
		struct sl_seg_idem *e = &(*all)[*nall + k];
		uint64_t delta, count;
		if (sl_reader_varint(r, &e->producer_id) || sl_reader_varint(r, &e->sequence) ||
		    sl_reader_varint(r, &delta) || sl_reader_varint(r, &count)) {
			WHY("segment.range.idem");
			return SL_ETRUNC;
		}
		if (count == 0 || count > UINT32_MAX || count > g->count ||
		    delta > g->count - count) {
			WHY("segment.range.idem.offset");
			return SL_ECORRUPT;
		}
		e->offset = g->first + delta;
		e->count = (uint32_t)count;
		if (e->offset < end) {
			WHY("segment.range.idem.order");
			return SL_ECORRUPT;
		}
		if (count > SL_VARINT_MAX + 1 - e->sequence) {
			WHY("segment.range.idem.sequence");
			return SL_ERANGE;
		}
		end = e->offset + count;
	}
	*nall += nidem;
	g->nidem = (uint32_t)nidem;
	return 0;
}

int sl_seg_decode(const uint8_t *p, size_t n, struct sl_seg_event *out, const char **why)
{
	if (p == NULL || out == NULL) {
		WHY("arguments");
		return SL_EINVAL;
	}
	memset(out, 0, sizeof(*out));
	struct sl_reader r;
	sl_reader_init(&r, p, n);
	const uint8_t *magic;
	uint8_t version;
	uint64_t worker, nranges;
	if (sl_reader_bytes(&r, 4, &magic) != 0) {
		WHY("segment.magic");
		return SL_ETRUNC;
	}
	if (memcmp(magic, SL_SEG_MAGIC, 4) != 0) {
		WHY("segment.magic");
		return SL_ECORRUPT;
	}
	if (sl_reader_u8(&r, &version) != 0) {
		WHY("segment.version");
		return SL_ETRUNC;
	}
	if (version != SL_SEG_VERSION && version != SL_SEG_VERSION_IDEM) {
		WHY("segment.version");
		return SL_ENOTSUP;
	}
	const uint8_t *key;
	size_t klen;
	int rc;
	if (sl_reader_varint(&r, &out->boot) || sl_reader_varint(&r, &worker) ||
	    sl_reader_varint(&r, &out->seq) || sl_reader_varint(&r, &out->wall_ms)) {
		WHY("segment.header");
		return SL_ETRUNC;
	}
	if (worker > UINT16_MAX) {
		WHY("segment.worker");
		return SL_ERANGE;
	}
	out->worker = (uint32_t)worker;
	rc = sl_reader_lenbytes(&r, SL_OBJ_KEY_MAX, &key, &klen);
	if (rc != 0) {
		WHY("segment.key");
		return rc;
	}
	memcpy(out->key, key, klen);
	out->key[klen] = '\0';
	if (memchr(key, 0, klen) != NULL || sl_obj_key_check(out->key) != 0) {
		WHY("segment.key");
		return SL_ECORRUPT;
	}
	if (sl_reader_varint(&r, &out->object_size) || sl_reader_varint(&r, &nranges)) {
		WHY("segment.object_size");
		return SL_ETRUNC;
	}
	if (nranges == 0 || nranges > SL_SEG_MAX_RANGES) {
		WHY("segment.nranges");
		return SL_ERANGE;
	}
	/* Each range takes at least 7 bytes: refuse a count the input cannot hold before
	 * allocating for it. */
	if (nranges > sl_reader_left(&r) / 7) {
		WHY("segment.nranges");
		return SL_ETRUNC;
	}
	size_t nidem_all = 0, idem_cap = 0;
	out->ranges = calloc(nranges, sizeof(*out->ranges));
	if (out->ranges == NULL) {
		WHY("segment.ranges");
		return SL_ENOMEM;
	}
	for (uint64_t i = 0; i < nranges; i++) {
		struct sl_seg_range *g = &out->ranges[i];
		uint64_t part;
		if (sl_reader_varint(&r, &g->stream_id) || sl_reader_varint(&r, &part) ||
		    sl_reader_varint(&r, &g->first) || sl_reader_varint(&r, &g->count) ||
		    sl_reader_varint(&r, &g->off) || sl_reader_varint(&r, &g->len) ||
		    sl_reader_varint(&r, &g->bytes)) {
			WHY("segment.range");
			rc = SL_ETRUNC;
			goto fail;
		}
		if (part > UINT32_MAX) {
			WHY("segment.range.partition");
			rc = SL_ERANGE;
			goto fail;
		}
		g->partition = (uint32_t)part;
		if (!range_ok(g, out->object_size)) {
			WHY("segment.range.bounds");
			rc = SL_ECORRUPT;
			goto fail;
		}
		if (version == SL_SEG_VERSION_IDEM) {
			rc = decode_idem(&r, g, &out->idem, &nidem_all, &idem_cap, why);
			if (rc != 0)
				goto fail;
		}
	}
	/* The ranges point into the array, which may have moved while it grew. */
	for (uint64_t i = 0, at = 0; i < nranges; i++) {
		struct sl_seg_range *g = &out->ranges[i];
		g->idem = g->nidem ? out->idem + at : NULL;
		at += g->nidem;
	}
	if (sl_reader_left(&r) != 0) {
		WHY("segment.trailing");
		rc = SL_ECORRUPT;
		goto fail;
	}
	out->nranges = (uint32_t)nranges;
	return 0;
fail:
	free(out->ranges);
	out->ranges = NULL;
	free(out->idem);
	out->idem = NULL;
	return rc;
}

struct sl_dobj *sl_dobj_new(const char *key, uint64_t size)
{
	size_t n = strlen(key);
	struct sl_dobj *o = malloc(sizeof(*o) + n + 1);
	if (o == NULL)
		return NULL;
	o->refs = 1;
	o->size = size;
	memcpy(o->key, key, n + 1);
	return o;
}

void sl_dobj_ref(struct sl_dobj *o)
{
	__atomic_fetch_add(&o->refs, 1, __ATOMIC_RELAXED);
}

bool sl_dobj_unref(struct sl_dobj *o)
{
	if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
		return true;
	return false;
}

void sl_dobj_free(struct sl_dobj *o)
{
	free(o);
}

uint32_t sl_dseg_expired(const struct sl_dseg *segs, uint32_t n, uint64_t durable, uint64_t bytes,
			 uint64_t age_ms, uint64_t keep_bytes, uint64_t wall_ms)
{
	uint32_t k = 0;
	/* The newest segment always stays: it is what says where the partition's offsets
	 * continue, here and, once the metadata log is trimmed, after a restart. */
	while (k + 1 < n) {
		const struct sl_dseg *s = &segs[k];
		if (s->first + s->count > durable)
			break;
		bool old = age_ms > 0 && s->wall_ms + age_ms <= wall_ms;
		bool over = keep_bytes > 0 && bytes - s->len >= keep_bytes;
		if (!old && !over)
			break;
		bytes -= s->len;
		k++;
	}
	return k;
}
