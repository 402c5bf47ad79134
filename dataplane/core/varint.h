/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_VARINT_H
#define SL_CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* The largest value an RFC 9000 variable-length integer can carry (2^62 - 1). */
#define SL_VARINT_MAX ((UINT64_C(1) << 62) - 1)

/* Returns the minimal encoded length of v (1, 2, 4 or 8), or 0 if v > SL_VARINT_MAX. */
static inline size_t sl_varint_len(uint64_t v)
{
	if (v < (UINT64_C(1) << 6))
		return 1;
	if (v < (UINT64_C(1) << 14))
		return 2;
	if (v < (UINT64_C(1) << 30))
		return 4;
	if (v <= SL_VARINT_MAX)
		return 8;
	return 0;
}

/*
 * Encodes v in its minimal form at p, which has cap bytes. On success stores the number of
 * bytes written in *n and returns 0. Errors: SL_ERANGE (v > SL_VARINT_MAX), SL_ENOSPC (cap too
 * small; nothing is written).
 */
int sl_varint_encode(uint8_t *p, size_t cap, uint64_t v, size_t *n);

/*
 * Decodes one varint from the n bytes at p. Non-minimal encodings are accepted, as RFC 9000
 * requires of receivers. Stores the value in *v and the bytes consumed in *used. Errors:
 * SL_ETRUNC (fewer bytes than the length prefix announces, or n == 0).
 */
int sl_varint_decode(const uint8_t *p, size_t n, uint64_t *v, size_t *used);

#endif
