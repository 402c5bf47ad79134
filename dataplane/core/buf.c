/* SPDX-License-Identifier: Apache-2.0 */
#include "core/buf.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static __thread struct sl_buf_stats sl_buf_tls_stats;

struct sl_buf_stats *sl_buf_stats(void)
{
	return &sl_buf_tls_stats;
}

struct sl_buf *sl_buf_alloc(size_t cap)
{
	if (cap == 0 || cap > UINT32_MAX - sizeof(struct sl_buf))
		return NULL;
	struct sl_buf *b = malloc(sizeof(*b) + cap);
	if (b == NULL)
		return NULL;
	b->refcnt = 1;
	b->len = 0;
	b->cap = (uint32_t)cap;
	b->flags = 0;
	sl_buf_tls_stats.allocs++;
	return b;
}

struct sl_buf *sl_buf_from(const void *p, size_t n)
{
	struct sl_buf *b = sl_buf_alloc(n ? n : 1);
	if (b == NULL)
		return NULL;
	if (n > 0)
		sl_buf_append(b, p, n);
	return b;
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
	if (n > (size_t)(b->cap - b->len))
		return SL_ENOSPC;
	memcpy(b->data + b->len, p, n);
	b->len += (uint32_t)n;
	sl_buf_tls_stats.bytes_copied += n;
	return 0;
}

void sl_buf_free_(struct sl_buf *b)
{
	sl_buf_tls_stats.frees++;
	free(b);
}

int sl_slice_sub(const struct sl_slice *s, uint32_t off, uint32_t len, struct sl_slice *out)
{
	if (off > s->len || len > s->len - off)
		return SL_EINVAL;
	out->buf = s->buf;
	out->off = s->off + off;
	out->len = len;
	return 0;
}
