/* SPDX-License-Identifier: Apache-2.0 */
#include "core/bytes.h"
#include "core/err.h"
#include "core/varint.h"

#include <string.h>

int sl_reader_u8(struct sl_reader *r, uint8_t *v)
{
	if (r->p >= r->end)
		return SL_ETRUNC;
	*v = *r->p++;
	return 0;
}

static int sl_reader_be(struct sl_reader *r, size_t n, uint64_t *v)
{
	if (sl_reader_left(r) < n)
		return SL_ETRUNC;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

int sl_reader_be16(struct sl_reader *r, uint16_t *v)
{
	uint64_t x;
	int rc = sl_reader_be(r, 2, &x);
	if (rc == 0)
		*v = (uint16_t)x;
	return rc;
}

int sl_reader_be32(struct sl_reader *r, uint32_t *v)
{
	uint64_t x;
	int rc = sl_reader_be(r, 4, &x);
	if (rc == 0)
		*v = (uint32_t)x;
	return rc;
}

int sl_reader_be64(struct sl_reader *r, uint64_t *v)
{
	return sl_reader_be(r, 8, v);
}

int sl_reader_varint(struct sl_reader *r, uint64_t *v)
{
	size_t used;
	int rc = sl_varint_decode(r->p, sl_reader_left(r), v, &used);
	if (rc == 0)
		r->p += used;
	return rc;
}

int sl_reader_bytes(struct sl_reader *r, size_t n, const uint8_t **p)
{
	if (sl_reader_left(r) < n)
		return SL_ETRUNC;
	*p = r->p;
	r->p += n;
	return 0;
}

int sl_reader_lenbytes(struct sl_reader *r, size_t max, const uint8_t **p, size_t *n)
{
	struct sl_reader save = *r;
	uint64_t len;
	int rc = sl_reader_varint(r, &len);
	if (rc != 0)
		return rc;
	if (len > max) {
		*r = save;
		return SL_ERANGE;
	}
	rc = sl_reader_bytes(r, (size_t)len, p);
	if (rc != 0) {
		*r = save;
		return rc;
	}
	*n = (size_t)len;
	return 0;
}

int sl_writer_u8(struct sl_writer *w, uint8_t v)
{
	if (w->p >= w->end)
		return SL_ENOSPC;
	*w->p++ = v;
	return 0;
}

static int sl_writer_be(struct sl_writer *w, size_t n, uint64_t v)
{
	if ((size_t)(w->end - w->p) < n)
		return SL_ENOSPC;
	for (size_t i = 0; i < n; i++)
		w->p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	w->p += n;
	return 0;
}

int sl_writer_be16(struct sl_writer *w, uint16_t v)
{
	return sl_writer_be(w, 2, v);
}

int sl_writer_be32(struct sl_writer *w, uint32_t v)
{
	return sl_writer_be(w, 4, v);
}

int sl_writer_be64(struct sl_writer *w, uint64_t v)
{
	return sl_writer_be(w, 8, v);
}

int sl_writer_varint(struct sl_writer *w, uint64_t v)
{
	size_t n;
	int rc = sl_varint_encode(w->p, (size_t)(w->end - w->p), v, &n);
	if (rc == 0)
		w->p += n;
	return rc;
}

int sl_writer_bytes(struct sl_writer *w, const void *p, size_t n)
{
	if ((size_t)(w->end - w->p) < n)
		return SL_ENOSPC;
	if (n > 0)
		memcpy(w->p, p, n);
	w->p += n;
	return 0;
}

int sl_writer_lenbytes(struct sl_writer *w, const void *p, size_t n)
{
	size_t need = sl_varint_len(n);
	if (need == 0)
		return SL_ERANGE;
	if ((size_t)(w->end - w->p) < need + n)
		return SL_ENOSPC;
	sl_writer_varint(w, n);
	return sl_writer_bytes(w, p, n);
}
