/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_BUF_H
#define SL_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

/*
 * Reference-counted byte buffers. A payload is allocated once (header and bytes in one block),
 * then shared by any number of readers on any core; the last release frees it. Slices name a
 * range of a buffer without copying it. The reference count is atomic because references cross
 * cores through rings; the owner of the data still writes it only before sharing it.
 */
struct sl_buf {
	uint32_t refcnt;
	uint32_t len; /* bytes written so far */
	uint32_t cap; /* bytes available in data[] */
	uint32_t flags;
	unsigned char data[];
};

/* A view of len bytes at off inside buf. A slice does not own a reference by itself. */
struct sl_slice {
	struct sl_buf *buf;
	uint32_t off;
	uint32_t len;
};

/* Per-thread counters of buffer activity; payload copies are counted so zero-copy is provable. */
struct sl_buf_stats {
	uint64_t allocs;
	uint64_t frees;
	uint64_t bytes_copied;
};

/* Returns the calling thread's buffer counters. */
struct sl_buf_stats *sl_buf_stats(void);

/* Allocates a buffer with room for cap bytes, len 0 and one reference. NULL if cap is 0 or
 * larger than UINT32_MAX - header, or on allocation failure. */
struct sl_buf *sl_buf_alloc(size_t cap);

/* Allocates a buffer holding a copy of n bytes at p (counted in bytes_copied). NULL on failure. */
struct sl_buf *sl_buf_from(const void *p, size_t n);

/* Appends n bytes to b (a copy, counted). Returns 0, or SL_ENOSPC if they do not fit. */
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);

/* Takes one more reference on b and returns b. */
static inline struct sl_buf *sl_buf_ref(struct sl_buf *b)
{
	__atomic_fetch_add(&b->refcnt, 1, __ATOMIC_RELAXED);
	return b;
}

void sl_buf_free_(struct sl_buf *b);

/* Drops one reference; frees b when it was the last. NULL is ignored. */
static inline void sl_buf_unref(struct sl_buf *b)
{
	if (b == NULL)
		return;
	/* Release ordering makes every write by this holder visible before the free. */
	if (__atomic_sub_fetch(&b->refcnt, 1, __ATOMIC_RELEASE) == 0) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		sl_buf_free_(b);
	}
}

/* Returns the current number of references (for tests and counters). */
static inline uint32_t sl_buf_refcnt(const struct sl_buf *b)
{
	return __atomic_load_n(&b->refcnt, __ATOMIC_RELAXED);
}

/* Returns a slice covering the whole written part of b (no reference taken). */
static inline struct sl_slice sl_slice_of(struct sl_buf *b)
{
	struct sl_slice s = {b, 0, b->len};
	return s;
}

static inline const unsigned char *sl_slice_data(const struct sl_slice *s)
{
	return s->buf->data + s->off;
}

/* Narrows s to [off, off+len) relative to its start. Returns 0, or SL_EINVAL if out of range. */
int sl_slice_sub(const struct sl_slice *s, uint32_t off, uint32_t len, struct sl_slice *out);

#endif
