/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_BYTES_H
#define SL_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Bounds-checked byte reader and writer for wire formats. Every read checks the remaining length
 * first and leaves the reader unchanged on failure, so a decoder can report exactly which field
 * was short and never reads past its input.
 */
struct sl_reader {
	const uint8_t *p;
	const uint8_t *end;
};

struct sl_writer {
	uint8_t *start;
	uint8_t *p;
	uint8_t *end;
};

static inline void sl_reader_init(struct sl_reader *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
}

static inline size_t sl_reader_left(const struct sl_reader *r)
{
	return (size_t)(r->end - r->p);
}

/* All readers return 0, or SL_ETRUNC when the input ends inside the value. */
int sl_reader_u8(struct sl_reader *r, uint8_t *v);
int sl_reader_be16(struct sl_reader *r, uint16_t *v);
int sl_reader_be32(struct sl_reader *r, uint32_t *v);
int sl_reader_be64(struct sl_reader *r, uint64_t *v);
int sl_reader_varint(struct sl_reader *r, uint64_t *v);
/* Points *p at the next n bytes (no copy) and skips them. */
int sl_reader_bytes(struct sl_reader *r, size_t n, const uint8_t **p);
/*
 * Reads a varint length then that many bytes (a moq-lite string or blob). Errors: SL_ETRUNC, or
 * SL_ERANGE when the length exceeds max (checked before the bytes, so a huge length in a small
 * input is reported as out of range rather than as truncation).
 */
int sl_reader_lenbytes(struct sl_reader *r, size_t max, const uint8_t **p, size_t *n);

static inline void sl_writer_init(struct sl_writer *w, void *p, size_t cap)
{
	w->start = p;
	w->p = w->start;
	w->end = w->start + cap;
}

static inline size_t sl_writer_len(const struct sl_writer *w)
{
	return (size_t)(w->p - w->start);
}

/* All writers return 0, or SL_ENOSPC when the value does not fit (nothing is written). */
int sl_writer_u8(struct sl_writer *w, uint8_t v);
int sl_writer_be16(struct sl_writer *w, uint16_t v);
int sl_writer_be32(struct sl_writer *w, uint32_t v);
int sl_writer_be64(struct sl_writer *w, uint64_t v);
/* Also SL_ERANGE when v > SL_VARINT_MAX. */
int sl_writer_varint(struct sl_writer *w, uint64_t v);
int sl_writer_bytes(struct sl_writer *w, const void *p, size_t n);
/* A varint length followed by the bytes. */
int sl_writer_lenbytes(struct sl_writer *w, const void *p, size_t n);

#endif
