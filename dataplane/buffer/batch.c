/* SPDX-License-Identifier: Apache-2.0 */
#include "buffer/batch.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

#include "core/err.h"
#include "core/varint.h"

/* Largest buffer one sl_buf can hold, with room for its header. */
#define BATCH_BUF_MAX (UINT64_C(0xffffffff) - 64)

/* Shardline header field offsets (docs/buffer-formats.md). */
#define H_MAGIC	     0
#define H_VERSION    4
#define H_COMPRESS   5
#define H_FLAGS	     6
#define H_COUNT	     8
#define H_RAW_LEN    12
#define H_STORED_LEN 16
#define H_RESERVED   20
#define H_CHECKSUM   24

void sl_batch_limits_default(struct sl_batch_limits *l)
{
	l->max_raw_bytes = UINT64_C(256) << 20;
	l->max_entries = UINT32_C(16) << 20;
}

void sl_batch_release(struct sl_batch *b)
{
	if (b == NULL)
		return;
	free(b->entries);
	sl_buf_unref(b->buf);
	memset(b, 0, sizeof(*b));
}

struct sl_batch_zctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
};

struct sl_batch_zctx *sl_batch_zctx_new(void)
{
	return calloc(1, sizeof(struct sl_batch_zctx));
}

void sl_batch_zctx_free(struct sl_batch_zctx *z)
{
	if (z == NULL)
		return;
	ZSTD_freeCCtx(z->c);
	ZSTD_freeDCtx(z->d);
	free(z);
}

static ZSTD_CCtx *zctx_c(struct sl_batch_zctx *z)
{
	if (z->c == NULL)
		z->c = ZSTD_createCCtx();
	return z->c;
}

static ZSTD_DCtx *zctx_d(struct sl_batch_zctx *z)
{
	if (z->d == NULL)
		z->d = ZSTD_createDCtx();
	return z->d;
}

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | ((uint64_t)get_le32(p + 4) << 32);
}

/* The checksum covers the header up to the checksum field, then the stored payload, so a flipped
 * bit in a count or size is caught as surely as one in an entry. */
static uint64_t shardline_checksum(const uint8_t *hdr, const uint8_t *payload, size_t n)
{
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, hdr, H_CHECKSUM);
	XXH64_update(&st, payload, n);
	return XXH64_digest(&st);
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                   */

/* Bytes of the uncompressed entry block in a layout, or UINT64_MAX when it cannot fit. */
static uint64_t raw_block_len(enum sl_batch_format f, const struct iovec *iov, uint32_t n)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t len = iov[i].iov_len;
		if (len > UINT32_MAX)
			return UINT64_MAX;
		total += len + (f == SL_BATCH_OPENDATA_V1 ? 4 : sl_varint_len(len));
		if (total > BATCH_BUF_MAX)
			return UINT64_MAX;
	}
	return total;
}

static uint8_t *write_entries(enum sl_batch_format f, uint8_t *p, const struct iovec *iov,
			      uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		size_t len = iov[i].iov_len;
		if (f == SL_BATCH_OPENDATA_V1) {
			put_le32(p, (uint32_t)len);
			p += 4;
		} else {
			size_t used = 0;
			(void)sl_varint_encode(p, 8, len, &used);
			p += used;
		}
		if (len > 0)
			memcpy(p, iov[i].iov_base, len);
		p += len;
	}
	return p;
}

static void write_v1_footer(uint8_t *p, enum sl_batch_compression c, uint32_t n)
{
	p[0] = (uint8_t)c;
	put_le32(p + 1, n);
	put_le16(p + 5, SL_BATCH_V1_VERSION);
}

static void write_header(uint8_t *h, enum sl_batch_compression c, uint32_t n, uint64_t raw_len,
			 uint64_t stored_len)
{
	h[H_MAGIC + 0] = SL_BATCH_MAGIC0;
	h[H_MAGIC + 1] = SL_BATCH_MAGIC1;
	h[H_MAGIC + 2] = SL_BATCH_MAGIC2;
	h[H_MAGIC + 3] = SL_BATCH_MAGIC3;
	h[H_VERSION] = SL_BATCH_VERSION;
	h[H_COMPRESS] = (uint8_t)c;
	put_le16(h + H_FLAGS, 0);
	put_le32(h + H_COUNT, n);
	put_le32(h + H_RAW_LEN, (uint32_t)raw_len);
	put_le32(h + H_STORED_LEN, (uint32_t)stored_len);
	put_le32(h + H_RESERVED, 0);
	put_le64(h + H_CHECKSUM, shardline_checksum(h, h + SL_BATCH_HEADER_LEN, stored_len));
}

/* Compresses n entries, framed for layout f, into dst[0..cap) as one zstd frame whose header
 * records raw_len. Streams entry by entry so no contiguous copy of the raw block is needed. */
static int compress_entries(ZSTD_CCtx *c, int level, enum sl_batch_format f,
			    const struct iovec *iov, uint32_t n, uint64_t raw_len, uint8_t *dst,
			    size_t cap, size_t *out_len)
{
	ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters);
	if (ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, raw_len)))
		return SL_EIO;
	ZSTD_outBuffer out = {dst, cap, 0};
	uint8_t frame[8];
	for (uint32_t i = 0; i < n; i++) {
		size_t flen;
		if (f == SL_BATCH_OPENDATA_V1) {
			put_le32(frame, (uint32_t)iov[i].iov_len);
			flen = 4;
		} else {
			(void)sl_varint_encode(frame, sizeof(frame), iov[i].iov_len, &flen);
		}
		ZSTD_inBuffer in1 = {frame, flen, 0};
		ZSTD_inBuffer in2 = {iov[i].iov_base, iov[i].iov_len, 0};
		while (in1.pos < in1.size)
			if (ZSTD_isError(ZSTD_compressStream2(c, &out, &in1, ZSTD_e_continue)))
				return SL_EIO;
		while (in2.pos < in2.size)
			if (ZSTD_isError(ZSTD_compressStream2(c, &out, &in2, ZSTD_e_continue)))
				return SL_EIO;
	}
	ZSTD_inBuffer none = {NULL, 0, 0};
	for (;;) {
		size_t rem = ZSTD_compressStream2(c, &out, &none, ZSTD_e_end);
		if (ZSTD_isError(rem))
			return SL_EIO;
		if (rem == 0)
			break;
	}
	*out_len = out.pos;
	return 0;
}

int sl_batch_encode(enum sl_batch_format format, enum sl_batch_compression compression,
		    int zstd_level, const struct iovec *iov, uint32_t n, struct sl_batch_zctx *z,
		    struct sl_buf **out)
{
	if (out == NULL || (iov == NULL && n > 0))
		return SL_EINVAL;
	*out = NULL;
	if (format != SL_BATCH_OPENDATA_V1 && format != SL_BATCH_SHARDLINE)
		return SL_EINVAL;
	if (compression != SL_BATCH_NONE && compression != SL_BATCH_ZSTD)
		return SL_EINVAL;
	uint64_t raw_len = raw_block_len(format, iov, n);
	if (raw_len == UINT64_MAX)
		return SL_ERANGE;
	size_t head = format == SL_BATCH_SHARDLINE ? SL_BATCH_HEADER_LEN : 0;
	size_t tail = format == SL_BATCH_OPENDATA_V1 ? SL_BATCH_V1_FOOTER_LEN : 0;

	if (compression == SL_BATCH_NONE) {
		if (raw_len + head + tail > BATCH_BUF_MAX)
			return SL_ERANGE;
		struct sl_buf *b = sl_buf_alloc(raw_len + head + tail);
		if (b == NULL)
			return SL_ENOMEM;
		uint8_t *end = write_entries(format, b->data + head, iov, n);
		if (format == SL_BATCH_OPENDATA_V1)
			write_v1_footer(end, compression, n);
		else
			write_header(b->data, compression, n, raw_len, raw_len);
		b->len = (uint32_t)(raw_len + head + tail);
		*out = b;
		return 0;
	}

	size_t bound = ZSTD_compressBound(raw_len);
	if (ZSTD_isError(bound) || bound + head + tail > BATCH_BUF_MAX)
		return SL_ERANGE;
	struct sl_batch_zctx tmp = {NULL, NULL};
	struct sl_batch_zctx *zc = z != NULL ? z : &tmp;
	ZSTD_CCtx *c = zctx_c(zc);
	struct sl_buf *b = c != NULL ? sl_buf_alloc(bound + head + tail) : NULL;
	if (b == NULL) {
		ZSTD_freeCCtx(tmp.c);
		return SL_ENOMEM;
	}
	size_t clen = 0;
	int rc = compress_entries(c, zstd_level == 0 ? ZSTD_CLEVEL_DEFAULT : zstd_level, format,
				  iov, n, raw_len, b->data + head, bound, &clen);
	ZSTD_freeCCtx(tmp.c);
	if (rc != 0) {
		sl_buf_unref(b);
		return rc;
	}
	if (format == SL_BATCH_OPENDATA_V1)
		write_v1_footer(b->data + clen, compression, n);
	else
		write_header(b->data, compression, n, raw_len, clen);
	b->len = (uint32_t)(clen + head + tail);
	*out = b;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                   */

static int fail(const char **why, const char *reason, int rc)
{
	if (why != NULL)
		*why = reason;
	return rc;
}

static uint64_t raw_cap(const struct sl_batch_limits *lim)
{
	return lim->max_raw_bytes < BATCH_BUF_MAX ? lim->max_raw_bytes : BATCH_BUF_MAX;
}

/* Sums the content sizes of the zstd frames in src (stable-API twin of the experimental
 * ZSTD_findDecompressedSize): ZSTD_CONTENTSIZE_ERROR for a malformed frame, or
 * ZSTD_CONTENTSIZE_UNKNOWN when a frame does not declare its size. */
static unsigned long long zstd_total_size(const uint8_t *src, size_t n)
{
	unsigned long long total = 0;
	while (n > 0) {
		size_t fsz = ZSTD_findFrameCompressedSize(src, n);
		if (ZSTD_isError(fsz))
			return ZSTD_CONTENTSIZE_ERROR;
		unsigned long long c = ZSTD_getFrameContentSize(src, fsz);
		if (c == ZSTD_CONTENTSIZE_ERROR || c == ZSTD_CONTENTSIZE_UNKNOWN)
			return c;
		/* Skippable frames report 0 through this call, as wanted. */
		if (total + c < total)
			return ZSTD_CONTENTSIZE_ERROR;
		total += c;
		src += fsz;
		n -= fsz;
	}
	return total;
}

/* Decompresses a zstd input whose total content size is known to be exactly size. */
static int unzstd_known(ZSTD_DCtx *d, const uint8_t *src, size_t n, uint64_t size,
			struct sl_buf **out, const char **why)
{
	/* sl_buf_alloc refuses 0 bytes; an empty block still gets a (1-byte) buffer. */
	struct sl_buf *b = sl_buf_alloc(size > 0 ? size : 1);
	if (b == NULL)
		return fail(why, "out of memory for the decompressed entry block", SL_ENOMEM);
	size_t r = ZSTD_decompressDCtx(d, b->data, size, src, n);
	if (ZSTD_isError(r) || r != size) {
		sl_buf_unref(b);
		return fail(why,
			    "zstd stream: invalid, or its content differs from its declared size",
			    SL_ECORRUPT);
	}
	b->len = (uint32_t)size;
	*out = b;
	return 0;
}

/* Decompresses a zstd input whose frames do not all declare their size, growing the output up to
 * cap. Rare (opendata's writer always records the size), so it pays one extra copy. */
static int unzstd_stream(ZSTD_DCtx *d, const uint8_t *src, size_t n, uint64_t cap,
			 struct sl_buf **out, const char **why)
{
	size_t have = n < 65536 ? 65536 : n * 4;
	if (have > cap + 1)
		have = (size_t)cap + 1;
	uint8_t *tmp = malloc(have);
	if (tmp == NULL)
		return fail(why, "out of memory for the decompressed entry block", SL_ENOMEM);
	ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
	ZSTD_inBuffer in = {src, n, 0};
	ZSTD_outBuffer o = {tmp, have, 0};
	size_t last = 0;
	int rc = 0;
	while (in.pos < in.size || last != 0) {
		if (o.pos == o.size) {
			if (o.size > cap) {
				rc = fail(why, "zstd stream: decompressed size exceeds the limit",
					  SL_ERANGE);
				break;
			}
			size_t grow = o.size * 2 > cap + 1 ? (size_t)cap + 1 : o.size * 2;
			uint8_t *nt = realloc(tmp, grow);
			if (nt == NULL) {
				rc = fail(why, "out of memory for the decompressed entry block",
					  SL_ENOMEM);
				break;
			}
			tmp = nt;
			o.dst = tmp;
			o.size = grow;
		}
		size_t before_in = in.pos, before_out = o.pos;
		last = ZSTD_decompressStream(d, &o, &in);
		if (ZSTD_isError(last)) {
			rc = fail(why, "zstd stream: invalid", SL_ECORRUPT);
			break;
		}
		if (in.pos == in.size && last != 0 && o.pos < o.size && before_in == in.pos &&
		    before_out == o.pos) {
			rc = fail(why, "zstd stream: ends inside a frame", SL_ECORRUPT);
			break;
		}
	}
	if (rc == 0 && o.pos > cap)
		rc = fail(why, "zstd stream: decompressed size exceeds the limit", SL_ERANGE);
	if (rc == 0) {
		*out = o.pos > 0 ? sl_buf_from(tmp, o.pos) : sl_buf_alloc(1);
		if (*out == NULL)
			rc = fail(why, "out of memory for the decompressed entry block", SL_ENOMEM);
	}
	free(tmp);
	return rc;
}

/* Frames count entries of layout f found in b->data[off, off + len). The block must hold exactly
 * those entries. */
static int frame_entries(enum sl_batch_format f, struct sl_buf *b, uint32_t off, uint32_t len,
			 uint32_t count, struct sl_batch *out, const char **why)
{
	/* Every entry takes at least one framing byte (four in v1): a count beyond that is
	 * rejected before the entry array is allocated. */
	uint64_t min_each = f == SL_BATCH_OPENDATA_V1 ? 4 : 1;
	if ((uint64_t)count * min_each > len) {
		if (f == SL_BATCH_OPENDATA_V1)
			return fail(why, "v1 entry count: more entries than the entry block holds",
				    SL_ETRUNC);
		return fail(why, "entry count: more entries than the entry block holds",
			    SL_ECORRUPT);
	}
	struct sl_slice *e = malloc((count > 0 ? count : 1) * sizeof(*e));
	if (e == NULL)
		return fail(why, "out of memory for the entry array", SL_ENOMEM);
	const uint8_t *p = b->data + off, *end = p + len;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t elen;
		if (f == SL_BATCH_OPENDATA_V1) {
			if (end - p < 4) {
				free(e);
				return fail(why, "v1 entry length: truncated", SL_ETRUNC);
			}
			elen = get_le32(p);
			p += 4;
			if ((uint64_t)(end - p) < elen) {
				free(e);
				return fail(why, "v1 entry data: truncated", SL_ETRUNC);
			}
		} else {
			size_t used;
			if (sl_varint_decode(p, (size_t)(end - p), &elen, &used) != 0) {
				free(e);
				return fail(why, "entry length: cut by the end of the entry block",
					    SL_ECORRUPT);
			}
			p += used;
			if ((uint64_t)(end - p) < elen) {
				free(e);
				return fail(why,
					    "entry data: longer than the rest of the entry block",
					    SL_ECORRUPT);
			}
		}
		e[i].buf = b;
		e[i].off = (uint32_t)(p - b->data);
		e[i].len = (uint32_t)elen;
		p += elen;
	}
	if (p != end) {
		free(e);
		/* opendata's reader ignores bytes after the last entry; no writer produces them, so
		 * they can only be damage, and a checksum-less layout needs every check it can get.
		 */
		return fail(why,
			    f == SL_BATCH_OPENDATA_V1 ? "v1 entry block: bytes after the last entry"
						      : "entry block: bytes after the last entry",
			    SL_ECORRUPT);
	}
	out->buf = b;
	out->entries = e;
	out->count = count;
	out->format = f;
	return 0;
}

int sl_batch_decode_opendata_v1(struct sl_buf *data, const struct sl_batch_limits *lim,
				struct sl_batch_zctx *z, struct sl_batch *out, const char **why)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (data == NULL || out == NULL)
		return fail(why, "no input or output", SL_EINVAL);
	struct sl_batch_limits def;
	if (lim == NULL) {
		sl_batch_limits_default(&def);
		lim = &def;
	}
	uint32_t n = data->len;
	if (n < SL_BATCH_V1_FOOTER_LEN)
		return fail(why, "v1 footer: batch shorter than the 7-byte footer", SL_ETRUNC);
	const uint8_t *foot = data->data + n - SL_BATCH_V1_FOOTER_LEN;
	uint8_t comp = foot[0];
	uint32_t count = get_le32(foot + 1);
	uint16_t version = get_le16(foot + 5);
	uint32_t body = n - SL_BATCH_V1_FOOTER_LEN;
	if (version != SL_BATCH_V1_VERSION)
		return fail(why, "v1 footer version: unsupported", SL_ERANGE);
	if (comp != SL_BATCH_NONE && comp != SL_BATCH_ZSTD)
		return fail(why, "v1 footer compression type: unsupported", SL_ERANGE);
	if (count > lim->max_entries)
		return fail(why, "v1 footer entry count: over the limit", SL_ERANGE);

	struct sl_buf *raw;
	if (comp == SL_BATCH_NONE || body == 0) {
		if (body > raw_cap(lim))
			return fail(why, "v1 entry block: over the size limit", SL_ERANGE);
		raw = sl_buf_ref(data);
		int rc = frame_entries(SL_BATCH_OPENDATA_V1, raw, 0, body, count, out, why);
		if (rc != 0)
			sl_buf_unref(raw);
		else
			out->compression = comp;
		return rc;
	}
	struct sl_batch_zctx tmp = {NULL, NULL};
	struct sl_batch_zctx *zc = z != NULL ? z : &tmp;
	ZSTD_DCtx *d = zctx_d(zc);
	if (d == NULL)
		return fail(why, "out of memory for the zstd context", SL_ENOMEM);
	int rc;
	unsigned long long size = zstd_total_size(data->data, body);
	if (size == ZSTD_CONTENTSIZE_ERROR)
		rc = fail(why, "v1 zstd stream: invalid frame header", SL_ECORRUPT);
	else if (size == ZSTD_CONTENTSIZE_UNKNOWN)
		rc = unzstd_stream(d, data->data, body, raw_cap(lim), &raw, why);
	else if (size > raw_cap(lim))
		rc = fail(why, "v1 zstd stream: declared size over the limit", SL_ERANGE);
	else
		rc = unzstd_known(d, data->data, body, size, &raw, why);
	ZSTD_freeDCtx(tmp.d);
	if (rc != 0)
		return rc;
	rc = frame_entries(SL_BATCH_OPENDATA_V1, raw, 0, raw->len, count, out, why);
	if (rc != 0)
		sl_buf_unref(raw);
	else
		out->compression = SL_BATCH_ZSTD;
	return rc;
}

int sl_batch_decode_shardline(struct sl_buf *data, const struct sl_batch_limits *lim,
			      struct sl_batch_zctx *z, struct sl_batch *out, const char **why)
{
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (data == NULL || out == NULL)
		return fail(why, "no input or output", SL_EINVAL);
	struct sl_batch_limits def;
	if (lim == NULL) {
		sl_batch_limits_default(&def);
		lim = &def;
	}
	const uint8_t *h = data->data;
	uint32_t n = data->len;
	if (n < SL_BATCH_HEADER_LEN)
		return fail(why, "header: batch shorter than the 32-byte header", SL_ETRUNC);
	if (h[0] != SL_BATCH_MAGIC0 || h[1] != SL_BATCH_MAGIC1 || h[2] != SL_BATCH_MAGIC2 ||
	    h[3] != SL_BATCH_MAGIC3)
		return fail(why, "magic: not a shardline batch", SL_ECORRUPT);
	if (h[H_VERSION] != SL_BATCH_VERSION)
		return fail(why, "version: unsupported", SL_ERANGE);
	uint8_t comp = h[H_COMPRESS];
	if (comp != SL_BATCH_NONE && comp != SL_BATCH_ZSTD)
		return fail(why, "compression: unsupported", SL_ERANGE);
	uint32_t count = get_le32(h + H_COUNT);
	uint32_t raw_len = get_le32(h + H_RAW_LEN);
	uint32_t stored = get_le32(h + H_STORED_LEN);
	if (stored > n - SL_BATCH_HEADER_LEN)
		return fail(why, "payload: shorter than the header's stored length", SL_ETRUNC);
	if (stored < n - SL_BATCH_HEADER_LEN)
		return fail(why, "payload: bytes after the stored length", SL_ECORRUPT);
	if (get_le64(h + H_CHECKSUM) != shardline_checksum(h, h + SL_BATCH_HEADER_LEN, stored))
		return fail(why, "checksum: XXH64 of header and payload does not match",
			    SL_ECORRUPT);
	/* From here the header is what its writer wrote: what remains are limits and framing. */
	if (get_le16(h + H_FLAGS) != 0 || get_le32(h + H_RESERVED) != 0)
		return fail(why, "flags or reserved: non-zero", SL_ECORRUPT);
	if (count > lim->max_entries)
		return fail(why, "entry count: over the limit", SL_ERANGE);
	if (raw_len > raw_cap(lim))
		return fail(why, "raw length: over the size limit", SL_ERANGE);

	struct sl_buf *raw;
	uint32_t off;
	if (comp == SL_BATCH_NONE) {
		if (raw_len != stored)
			return fail(why, "raw length: differs from the stored length", SL_ECORRUPT);
		raw = sl_buf_ref(data);
		off = SL_BATCH_HEADER_LEN;
	} else {
		const uint8_t *src = h + SL_BATCH_HEADER_LEN;
		unsigned long long size = zstd_total_size(src, stored);
		if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
			return fail(why, "zstd frame: invalid header or no content size",
				    SL_ECORRUPT);
		if (size != raw_len)
			return fail(why, "zstd frame: content size differs from the raw length",
				    SL_ECORRUPT);
		struct sl_batch_zctx tmp = {NULL, NULL};
		struct sl_batch_zctx *zc = z != NULL ? z : &tmp;
		ZSTD_DCtx *d = zctx_d(zc);
		if (d == NULL)
			return fail(why, "out of memory for the zstd context", SL_ENOMEM);
		int rc = unzstd_known(d, src, stored, raw_len, &raw, why);
		ZSTD_freeDCtx(tmp.d);
		if (rc != 0)
			return rc;
		off = 0;
	}
	int rc = frame_entries(SL_BATCH_SHARDLINE, raw, off, raw_len, count, out, why);
	if (rc != 0)
		sl_buf_unref(raw);
	else
		out->compression = comp;
	return rc;
}

int sl_batch_decode(struct sl_buf *data, const struct sl_batch_limits *lim, struct sl_batch_zctx *z,
		    struct sl_batch *out, const char **why)
{
	if (data != NULL && data->len >= 4 && data->data[0] == SL_BATCH_MAGIC0 &&
	    data->data[1] == SL_BATCH_MAGIC1 && data->data[2] == SL_BATCH_MAGIC2 &&
	    data->data[3] == SL_BATCH_MAGIC3)
		return sl_batch_decode_shardline(data, lim, z, out, why);
	return sl_batch_decode_opendata_v1(data, lim, z, out, why);
}
