/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/starts.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/err.h"

static int key_cmp(uint32_t sa, uint32_t pa, uint32_t sb, uint32_t pb)
{
	if (sa != sb)
		return sa < sb ? -1 : 1;
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return 0;
}

int sl_dstarts_decode(const uint8_t *p, size_t n, int (*fn)(void *arg, const struct sl_dstart *s),
		      void *arg, const char **why)
{
	struct sl_reader r;
	sl_reader_init(&r, p, n);
	const uint8_t *magic;
	uint8_t version;
	uint64_t count;
	const char *w = NULL;
	int rc = sl_reader_bytes(&r, 4, &magic);
	if (rc == 0 && memcmp(magic, SL_DSTARTS_MAGIC, 4) != 0) {
		rc = SL_ECORRUPT;
		w = "starts.magic";
	}
	if (rc == 0 && (rc = sl_reader_u8(&r, &version)) == 0 && version != SL_DSTARTS_VERSION) {
		rc = SL_ENOTSUP;
		w = "starts.version";
	}
	if (rc == 0 && (rc = sl_reader_varint(&r, &count)) != 0)
		w = "starts.count";
	if (rc != 0 && w == NULL)
		w = "starts.header";
	struct sl_dstart prev = {0};
	for (uint64_t i = 0; rc == 0 && i < count; i++) {
		uint64_t sid, part, start;
		if ((rc = sl_reader_varint(&r, &sid)) != 0) {
			w = "starts.stream_id";
			break;
		}
		if ((rc = sl_reader_varint(&r, &part)) != 0) {
			w = "starts.partition";
			break;
		}
		if ((rc = sl_reader_varint(&r, &start)) != 0) {
			w = "starts.start";
			break;
		}
		if (sid > UINT32_MAX || part > UINT32_MAX) {
			rc = SL_ECORRUPT;
			w = sid > UINT32_MAX ? "starts.stream_id" : "starts.partition";
			break;
		}
		struct sl_dstart s = {(uint32_t)sid, (uint32_t)part, start};
		if (i > 0 &&
		    key_cmp(prev.stream_id, prev.partition, s.stream_id, s.partition) >= 0) {
			rc = SL_ECORRUPT;
			w = "starts.order";
			break;
		}
		prev = s;
		if (fn != NULL && (rc = fn(arg, &s)) != 0)
			return rc;
	}
	if (rc == 0 && sl_reader_left(&r) != 0) {
		rc = SL_ECORRUPT;
		w = "starts.trailing";
	}
	if (why != NULL)
		*why = rc == 0 ? NULL : w;
	return rc;
}

struct sl_buf *sl_dstarts_encode(const struct sl_dstart *e, uint32_t n)
{
	size_t need = 4 + 1 + 8 + (size_t)n * 3 * 8;
	struct sl_buf *b = sl_buf_alloc(need);
	if (b == NULL)
		return NULL;
	struct sl_writer w;
	sl_writer_init(&w, b->data, need);
	int rc = sl_writer_bytes(&w, SL_DSTARTS_MAGIC, 4);
	rc = rc ? rc : sl_writer_u8(&w, SL_DSTARTS_VERSION);
	rc = rc ? rc : sl_writer_varint(&w, n);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		rc = sl_writer_varint(&w, e[i].stream_id);
		rc = rc ? rc : sl_writer_varint(&w, e[i].partition);
		rc = rc ? rc : sl_writer_varint(&w, e[i].start);
	}
	if (rc != 0) { /* a start over 2^62: never an offset */
		sl_buf_unref(b);
		return NULL;
	}
	b->len = sl_writer_len(&w);
	return b;
}

/* ---- the table ---- */

struct sl_dstarts {
	struct sl_objstore *store;
	struct sl_dstart *e; /* sorted by (stream_id, partition) */
	uint32_t n, cap;
	uint64_t version, durable, writing; /* writing: the version in flight, 0 if none */
	uint64_t retry_at;		    /* after a failed write: no new one before this */
	bool failed; /* the last write failed: poll sets retry_at from its clock */
	struct sl_obj_req req;
	struct sl_dstarts_stats st;
};

int sl_dstarts_new(struct sl_objstore *store, struct sl_dstarts **out)
{
	if (store == NULL || out == NULL)
		return SL_EINVAL;
	struct sl_dstarts *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return SL_ENOMEM;
	s->store = store;
	*out = s;
	return 0;
}

void sl_dstarts_free(struct sl_dstarts *s)
{
	if (s == NULL)
		return;
	free(s->e);
	free(s);
}

int sl_dstarts_set(struct sl_dstarts *s, uint32_t stream_id, uint32_t partition, uint64_t start)
{
	uint32_t lo = 0, hi = s->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = key_cmp(s->e[mid].stream_id, s->e[mid].partition, stream_id, partition);
		if (c == 0) {
			if (start > s->e[mid].start) {
				s->e[mid].start = start;
				s->version++;
			}
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (s->n == s->cap) {
		uint32_t ncap = s->cap ? s->cap * 2 : 64;
		struct sl_dstart *ne = realloc(s->e, ncap * sizeof(*ne));
		if (ne == NULL)
			return SL_ENOMEM;
		s->e = ne;
		s->cap = ncap;
	}
	memmove(&s->e[lo + 1], &s->e[lo], (s->n - lo) * sizeof(s->e[0]));
	s->e[lo] = (struct sl_dstart){stream_id, partition, start};
	s->n++;
	s->version++;
	return 0;
}

static void write_done(struct sl_obj_req *req)
{
	struct sl_dstarts *s = req->user;
	if (req->result == 0) {
		s->durable = s->writing;
		s->st.writes++;
	} else {
		s->st.write_failed++;
		s->failed = true;
	}
	s->writing = 0;
	sl_obj_req_reset(req);
}

bool sl_dstarts_poll(struct sl_dstarts *s, uint64_t now_ns)
{
	if (s->writing != 0)
		return true;
	if (s->failed) {
		s->failed = false;
		s->retry_at = now_ns + 100 * 1000 * 1000; /* a failing store is not hammered */
	}
	if (s->version == s->durable || now_ns < s->retry_at)
		return false;
	struct sl_buf *b = sl_dstarts_encode(s->e, s->n);
	if (b == NULL)
		return false;
	memset(&s->req, 0, sizeof(s->req));
	s->req.op = SL_OBJ_PUT;
	s->req.put_mode = SL_OBJ_PUT_OVERWRITE;
	s->req.key = SL_DSTARTS_KEY;
	s->req.body = b;
	s->req.done = write_done;
	s->req.user = s;
	s->writing = s->version;
	if (sl_objstore_submit(s->store, &s->req) != 0) {
		sl_buf_unref(b);
		s->writing = 0;
		return false;
	}
	return true;
}

uint64_t sl_dstarts_version(const struct sl_dstarts *s)
{
	return s->version;
}

uint64_t sl_dstarts_durable(const struct sl_dstarts *s)
{
	return s->durable;
}

void sl_dstarts_stats(const struct sl_dstarts *s, struct sl_dstarts_stats *out)
{
	*out = s->st;
	out->partitions = s->n;
	out->version = s->version;
	out->durable = s->durable;
}

#define T struct sl_dstarts_stats
const struct sl_stat_field sl_dstarts_stats_fields[] = {
	SL_STAT_U(T, writes, NULL),	SL_STAT_U(T, write_failed, NULL),
	SL_STAT_G(T, partitions, NULL), SL_STAT_G(T, version, NULL),
	SL_STAT_G(T, durable, NULL),	SL_STAT_TABLE_END,
};
#undef T
