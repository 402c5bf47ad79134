/* SPDX-License-Identifier: Apache-2.0 */
#include "core/varint.h"
#include "core/err.h"

int sl_varint_encode(uint8_t *p, size_t cap, uint64_t v, size_t *n)
{
	size_t len = sl_varint_len(v);
	if (len == 0)
		return SL_ERANGE;
	if (cap < len)
		return SL_ENOSPC;
	/* The two top bits of the first byte carry log2 of the length. */
	static const uint8_t prefix[9] = {0, 0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0};
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
	p[0] |= prefix[len];
	*n = len;
	return 0;
}

int sl_varint_decode(const uint8_t *p, size_t n, uint64_t *v, size_t *used)
{
	if (n == 0)
		return SL_ETRUNC;
	size_t len = (size_t)1 << (p[0] >> 6);
	if (n < len)
		return SL_ETRUNC;
	uint64_t x = p[0] & 0x3f;
	for (size_t i = 1; i < len; i++)
		x = (x << 8) | p[i];
	*v = x;
	*used = len;
	return 0;
}
