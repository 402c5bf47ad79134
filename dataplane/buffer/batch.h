/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_BATCH_H
#define SL_BUFFER_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"

/*
 * The batch codec: how a list of entries (opaque byte strings, one per record) becomes one
 * object in the object store, and back. Two layouts, both described byte by byte in
 * docs/buffer-formats.md:
 *
 *   SL_BATCH_OPENDATA_V1  opendata's buffer batch (entries as u32 LE length + bytes, optionally
 *                         one zstd stream, then a 7-byte footer: compression u8, count u32 LE,
 *                         version u16 LE = 1). Decoded exactly so existing batches can be read;
 *                         also written, for interoperability tests.
 *   SL_BATCH_SHARDLINE    shardline's own layout: a 32-byte header first (magic, version,
 *                         compression, counts, sizes, an XXH64 checksum over header and payload),
 *                         then the payload, optionally one zstd frame, of entries framed as a QUIC
 *                         varint length + bytes.
 *
 * Decoding never crashes on bad input: every failure returns an error code and, through the
 * `why` out-parameter, a static string naming the field that failed. Decoded entries are slices
 * into one reference-counted buffer (the input itself when uncompressed), never copies per entry.
 */

enum sl_batch_format {
	SL_BATCH_OPENDATA_V1 = 1,
	SL_BATCH_SHARDLINE = 2,
};

enum sl_batch_compression {
	SL_BATCH_NONE = 0,
	SL_BATCH_ZSTD = 1,
};

/* Shardline layout constants (see docs/buffer-formats.md). */
#define SL_BATCH_MAGIC0	    0x89
#define SL_BATCH_MAGIC1	    'S'
#define SL_BATCH_MAGIC2	    'L'
#define SL_BATCH_MAGIC3	    'B'
#define SL_BATCH_VERSION    1
#define SL_BATCH_HEADER_LEN 32
/* opendata v1 footer length and version. */
#define SL_BATCH_V1_FOOTER_LEN 7
#define SL_BATCH_V1_VERSION    1

/* Decoder limits: what a hostile or corrupt object may make the decoder allocate. */
struct sl_batch_limits {
	/* Largest entry block accepted after decompression (the zstd-bomb cap). Default 256 MiB;
	 * at most UINT32_MAX - 64 (one sl_buf). */
	uint64_t max_raw_bytes;
	/* Largest entry count accepted. Default 16 Mi. */
	uint32_t max_entries;
};

/* Fills l with the defaults above. */
void sl_batch_limits_default(struct sl_batch_limits *l);

/* A decoded batch. entries[i].buf == buf for every i; the batch holds one reference on buf. */
struct sl_batch {
	struct sl_buf *buf;
	struct sl_slice *entries;
	uint32_t count;
	enum sl_batch_format format;
	enum sl_batch_compression compression;
};

/* Releases the entries array and the batch's reference on buf (entries referenced elsewhere with
 * sl_buf_ref stay valid). Zeroes b. Safe on a zeroed batch. */
void sl_batch_release(struct sl_batch *b);

/*
 * Reusable zstd contexts, so a hot encoder or decoder does not allocate zstd state per batch.
 * One context per thread; NULL wherever a context is accepted means "use a temporary one".
 */
struct sl_batch_zctx;
struct sl_batch_zctx *sl_batch_zctx_new(void);
void sl_batch_zctx_free(struct sl_batch_zctx *z);

/*
 * Decodes data (the caller keeps its reference; the batch takes its own when it points into
 * data). The layout is detected: the shardline magic at offset 0 means SL_BATCH_SHARDLINE,
 * anything else is read as SL_BATCH_OPENDATA_V1 (an opendata batch starts with a u32 LE entry
 * length or a zstd frame magic, neither of which can be the shardline magic for entries under
 * 1 GiB). lim NULL means defaults; z NULL means a temporary zstd context. On failure *out is
 * zeroed and, when why is not NULL, *why names what failed. Errors:
 *   SL_ETRUNC    the input ends inside the header, footer, payload or an entry
 *   SL_ECORRUPT  bad magic, checksum mismatch, zstd stream invalid, entry framing disagrees with
 *                the declared count or sizes, trailing bytes, non-zero reserved fields
 *   SL_ERANGE    unknown version or compression, or a declared size or count over lim
 *   SL_ENOMEM    allocation failed
 *   SL_EINVAL    data or out is NULL
 */
int sl_batch_decode(struct sl_buf *data, const struct sl_batch_limits *lim, struct sl_batch_zctx *z,
		    struct sl_batch *out, const char **why);

/* The same, for one layout only (no detection). Same errors. */
int sl_batch_decode_opendata_v1(struct sl_buf *data, const struct sl_batch_limits *lim,
				struct sl_batch_zctx *z, struct sl_batch *out, const char **why);
int sl_batch_decode_shardline(struct sl_buf *data, const struct sl_batch_limits *lim,
			      struct sl_batch_zctx *z, struct sl_batch *out, const char **why);

/*
 * Encodes n entries (iov[i].iov_len bytes at iov[i].iov_base) into a new buffer *out holding one
 * reference, in the given layout and compression; zstd_level 0 means zstd's default (3). The
 * uncompressed shardline path copies each entry exactly once (into the output). Errors:
 *   SL_EINVAL   bad format or compression, iov NULL with n > 0, out NULL
 *   SL_ERANGE   an entry or the whole batch does not fit the layout or one sl_buf (< 4 GiB)
 *   SL_ENOMEM   allocation failed
 *   SL_EIO      zstd failed
 */
int sl_batch_encode(enum sl_batch_format format, enum sl_batch_compression compression,
		    int zstd_level, const struct iovec *iov, uint32_t n, struct sl_batch_zctx *z,
		    struct sl_buf **out);

#endif
