/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the batch codec: the input is decoded as a shardline batch and as an opendata
 * v1 batch (and through detection). Decoding must never crash; a failure must name its field;
 * whatever decodes must re-encode, in both layouts and both compressions, and decode to the same
 * entries.
 */
#include "buffer/batch.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sl_batch_zctx *zc;

static void same_entries(const struct sl_batch *a, const struct sl_batch *b)
{
	CHECK(a->count == b->count);
	for (uint32_t i = 0; i < a->count; i++) {
		CHECK(a->entries[i].len == b->entries[i].len);
		CHECK(memcmp(sl_slice_data(&a->entries[i]), sl_slice_data(&b->entries[i]),
			     a->entries[i].len) == 0);
	}
}

static void reencode(const struct sl_batch *b)
{
	struct iovec *v = malloc((b->count > 0 ? b->count : 1) * sizeof(*v));
	CHECK(v != NULL);
	for (uint32_t i = 0; i < b->count; i++) {
		v[i].iov_base = (void *)sl_slice_data(&b->entries[i]);
		v[i].iov_len = b->entries[i].len;
	}
	for (int f = SL_BATCH_OPENDATA_V1; f <= SL_BATCH_SHARDLINE; f++) {
		for (int c = SL_BATCH_NONE; c <= SL_BATCH_ZSTD; c++) {
			struct sl_buf *enc;
			CHECK(sl_batch_encode(f, c, 1, v, b->count, zc, &enc) == 0);
			struct sl_batch back;
			const char *why = NULL;
			int rc = sl_batch_decode(enc, NULL, zc, &back, &why);
			/* A v1 batch whose first entry length happens to spell the shardline magic
			 * cannot exist below 1 GiB entries, so detection must always agree. */
			CHECK(rc == 0);
			CHECK((int)back.format == f && (int)back.compression == c);
			same_entries(b, &back);
			sl_batch_release(&back);
			sl_buf_unref(enc);
		}
	}
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (zc == NULL)
		zc = sl_batch_zctx_new();
	struct sl_buf *in = sl_buf_alloc(size > 0 ? size : 1);
	CHECK(in != NULL);
	if (size > 0)
		memcpy(in->data, data, size);
	in->len = (uint32_t)size;
	/* Small limits keep the fuzzer from spending its time on legitimate large outputs. */
	struct sl_batch_limits lim = {.max_raw_bytes = 1u << 20, .max_entries = 1u << 16};
	int (*dec[3])(struct sl_buf *, const struct sl_batch_limits *, struct sl_batch_zctx *,
		      struct sl_batch *, const char **) = {
		sl_batch_decode, sl_batch_decode_opendata_v1, sl_batch_decode_shardline};
	for (int d = 0; d < 3; d++) {
		struct sl_batch b;
		const char *why = NULL;
		int rc = dec[d](in, &lim, zc, &b, &why);
		if (rc != 0) {
			CHECK(rc == SL_ETRUNC || rc == SL_ECORRUPT || rc == SL_ERANGE);
			CHECK(why != NULL && why[0] != '\0');
			CHECK(b.entries == NULL && b.buf == NULL && b.count == 0);
			continue;
		}
		for (uint32_t i = 0; i < b.count; i++)
			CHECK((uint64_t)b.entries[i].off + b.entries[i].len <= b.buf->len);
		reencode(&b);
		sl_batch_release(&b);
	}
	CHECK(sl_buf_refcnt(in) == 1);
	sl_buf_unref(in);
	return 0;
}
