/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the batch codec. The v1_* tests twin opendata's buffer/src/model.rs tests (names
 * noted per test) and add golden bytes built by hand from its layout; the sl_* tests cover
 * shardline's own layout: golden header bytes, round trips, zero-copy decoding, and that every
 * truncation, bit flip and hostile size is an error naming the field.
 */
#include "core/test_common.h"
#include "buffer/batch.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>
#include <zstd.h>

static struct iovec iov_str(const char *s)
{
	struct iovec v = {(void *)s, strlen(s)};
	return v;
}

static struct sl_buf *buf_of(const void *p, size_t n)
{
	struct sl_buf *b = sl_buf_alloc(n > 0 ? n : 1);
	assert_non_null(b);
	if (n > 0)
		memcpy(b->data, p, n);
	b->len = (uint32_t)n;
	return b;
}

static void assert_entry(const struct sl_batch *b, uint32_t i, const char *want)
{
	assert_true(i < b->count);
	assert_ptr_equal(b->entries[i].buf, b->buf);
	assert_int_equal(b->entries[i].len, strlen(want));
	assert_memory_equal(sl_slice_data(&b->entries[i]), want, strlen(want));
}

/* Encodes strs in fmt/comp, decodes with detection, checks every entry, releases. */
static void roundtrip(enum sl_batch_format fmt, enum sl_batch_compression comp, const char **strs,
		      uint32_t n)
{
	struct iovec *v = calloc(n > 0 ? n : 1, sizeof(*v));
	for (uint32_t i = 0; i < n; i++)
		v[i] = iov_str(strs[i]);
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(fmt, comp, 0, v, n, NULL, &enc), 0);
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(enc, NULL, NULL, &b, &why), 0);
	assert_int_equal(b.format, fmt);
	assert_int_equal(b.compression, comp);
	assert_int_equal(b.count, n);
	for (uint32_t i = 0; i < n; i++)
		assert_entry(&b, i, strs[i]);
	sl_batch_release(&b);
	assert_int_equal(sl_buf_refcnt(enc), 1);
	sl_buf_unref(enc);
	free(v);
}

/* ---- opendata v1 ---- */

static const uint8_t v1_hello[] = {
	5,   0,	  0,   0,   'h', 'e', 'l', 'l', 'o', 5,	  0,   0,   0,
	'w', 'o', 'r', 'l', 'd', 3,   0,   0,	0,   'f', 'o', 'o', /* footer: compression, count
								       u32 LE, version u16 LE */
	0,   3,	  0,   0,   0,	 1,   0,
};

/* model.rs should_roundtrip_batch, against hand-built golden bytes in both directions. */
static void v1_golden_hello_world_foo(void **state)
{
	(void)state;
	struct iovec v[3] = {iov_str("hello"), iov_str("world"), iov_str("foo")};
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(SL_BATCH_OPENDATA_V1, SL_BATCH_NONE, 0, v, 3, NULL, &enc),
			 0);
	assert_int_equal(enc->len, sizeof(v1_hello));
	assert_memory_equal(enc->data, v1_hello, sizeof(v1_hello));
	sl_buf_unref(enc);

	struct sl_buf *in = buf_of(v1_hello, sizeof(v1_hello));
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, NULL), 0);
	assert_int_equal(b.format, SL_BATCH_OPENDATA_V1);
	assert_int_equal(b.count, 3);
	assert_ptr_equal(b.buf, in); /* uncompressed: slices of the input itself */
	assert_int_equal(sl_buf_refcnt(in), 2);
	assert_entry(&b, 0, "hello");
	assert_entry(&b, 1, "world");
	assert_entry(&b, 2, "foo");
	assert_int_equal(b.entries[1].off, 13);
	sl_batch_release(&b);
	assert_int_equal(sl_buf_refcnt(in), 1);
	sl_buf_unref(in);
}

/* model.rs should_roundtrip_empty_batch: the encoding is the bare footer. */
static void v1_empty_batch(void **state)
{
	(void)state;
	static const uint8_t want[] = {0, 0, 0, 0, 0, 1, 0};
	struct sl_buf *enc;
	assert_int_equal(
		sl_batch_encode(SL_BATCH_OPENDATA_V1, SL_BATCH_NONE, 0, NULL, 0, NULL, &enc), 0);
	assert_int_equal(enc->len, SL_BATCH_V1_FOOTER_LEN);
	assert_memory_equal(enc->data, want, sizeof(want));
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(enc, NULL, NULL, &b, NULL), 0);
	assert_int_equal(b.count, 0);
	sl_batch_release(&b);
	sl_buf_unref(enc);
}

/* model.rs should_roundtrip_empty_record. */
static void v1_empty_record(void **state)
{
	(void)state;
	const char *e[] = {""};
	roundtrip(SL_BATCH_OPENDATA_V1, SL_BATCH_NONE, e, 1);
	static const uint8_t golden[] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0};
	struct sl_buf *in = buf_of(golden, sizeof(golden));
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, NULL), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.entries[0].len, 0);
	sl_batch_release(&b);
	sl_buf_unref(in);
}

/* model.rs should_reject_truncated_data: last data byte cut, footer rewritten. */
static void v1_reject_truncated_data(void **state)
{
	(void)state;
	uint8_t bad[] = {5, 0, 0, 0, 'h', 'e', 'l', 'l', 0, 1, 0, 0, 0, 1, 0};
	struct sl_buf *in = buf_of(bad, sizeof(bad));
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ETRUNC);
	assert_non_null(strstr(why, "v1 entry data"));
	assert_null(b.entries);
	assert_int_equal(sl_buf_refcnt(in), 1);
	sl_buf_unref(in);

	/* Cut inside the length word too, and shorter than the footer. */
	uint8_t bad2[] = {5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 2, 0, 0, 0, 2, 0, 0, 0, 1, 0};
	in = buf_of(bad2, sizeof(bad2));
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ETRUNC);
	assert_non_null(strstr(why, "v1 entry"));
	sl_buf_unref(in);
	in = buf_of(bad2, 6);
	assert_int_equal(sl_batch_decode_opendata_v1(in, NULL, NULL, &b, &why), SL_ETRUNC);
	assert_non_null(strstr(why, "v1 footer"));
	sl_buf_unref(in);
}

/* model.rs should_reject_unsupported_version. */
static void v1_reject_unsupported_version(void **state)
{
	(void)state;
	static const uint8_t bad[] = {0, 0, 0, 0, 0, 99, 0};
	struct sl_buf *in = buf_of(bad, sizeof(bad));
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "version"));
	sl_buf_unref(in);
}

/* model.rs should_reject_unsupported_compression_type. */
static void v1_reject_unsupported_compression(void **state)
{
	(void)state;
	static const uint8_t bad[] = {0xff, 0, 0, 0, 0, 1, 0};
	struct sl_buf *in = buf_of(bad, sizeof(bad));
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "compression"));
	sl_buf_unref(in);
}

/* model.rs should_roundtrip_batch_with_zstd, ..._empty_batch_with_zstd,
 * ..._large_batch_with_zstd. */
static void v1_zstd_roundtrips(void **state)
{
	(void)state;
	const char *three[] = {"hello", "world", "foo"};
	roundtrip(SL_BATCH_OPENDATA_V1, SL_BATCH_ZSTD, three, 3);
	roundtrip(SL_BATCH_OPENDATA_V1, SL_BATCH_ZSTD, NULL, 0);
	char(*names)[16] = malloc(1000 * sizeof(*names));
	const char **ptrs = malloc(1000 * sizeof(*ptrs));
	for (int i = 0; i < 1000; i++) {
		snprintf(names[i], sizeof(names[i]), "entry-%04d", i);
		ptrs[i] = names[i];
	}
	roundtrip(SL_BATCH_OPENDATA_V1, SL_BATCH_ZSTD, ptrs, 1000);
	roundtrip(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, ptrs, 1000);
	free(ptrs);
	free(names);
}

/* model.rs should_compress_smaller_than_uncompressed_for_repetitive_data. */
static void v1_zstd_compresses_repetitive_data(void **state)
{
	(void)state;
	struct iovec v[100];
	for (int i = 0; i < 100; i++)
		v[i] = iov_str("repeated-data-that-compresses-well");
	struct sl_buf *plain, *z;
	assert_int_equal(
		sl_batch_encode(SL_BATCH_OPENDATA_V1, SL_BATCH_NONE, 0, v, 100, NULL, &plain), 0);
	assert_int_equal(sl_batch_encode(SL_BATCH_OPENDATA_V1, SL_BATCH_ZSTD, 0, v, 100, NULL, &z),
			 0);
	assert_true(z->len < plain->len);
	/* The footer of a zstd batch says so. */
	assert_int_equal(z->data[z->len - 7], 1);
	sl_buf_unref(plain);
	sl_buf_unref(z);
}

/* A v1 zstd batch built by hand: the raw block from the golden bytes compressed with plain
 * ZSTD_compress (as opendata's zstd::bulk does), then the footer; and the same with a frame that
 * does not record its content size (opendata's decoder accepts any zstd stream). */
static void v1_zstd_hand_built(void **state)
{
	(void)state;
	size_t raw_len = sizeof(v1_hello) - 7;
	uint8_t z[256];
	size_t zn = ZSTD_compress(z, sizeof(z), v1_hello, raw_len, 3);
	assert_false(ZSTD_isError(zn));
	static const uint8_t footer[] = {1, 3, 0, 0, 0, 1, 0};
	memcpy(z + zn, footer, sizeof(footer));
	struct sl_buf *in = buf_of(z, zn + sizeof(footer));
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, NULL), 0);
	assert_int_equal(b.compression, SL_BATCH_ZSTD);
	assert_ptr_not_equal(b.buf, in);
	assert_entry(&b, 0, "hello");
	assert_entry(&b, 2, "foo");
	sl_batch_release(&b);
	sl_buf_unref(in);

	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	uint8_t z2[256];
	ZSTD_outBuffer o = {z2, sizeof(z2), 0};
	ZSTD_inBuffer i = {v1_hello, raw_len, 0};
	assert_int_equal(ZSTD_compressStream2(c, &o, &i, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	assert_int_equal(ZSTD_getFrameContentSize(z2, o.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	memcpy(z2 + o.pos, footer, sizeof(footer));
	in = buf_of(z2, o.pos + sizeof(footer));
	struct sl_batch_zctx *zc = sl_batch_zctx_new();
	assert_int_equal(sl_batch_decode(in, NULL, zc, &b, NULL), 0);
	assert_entry(&b, 1, "world");
	sl_batch_release(&b);
	/* The same stream cut short is corrupt, not a crash. */
	struct sl_buf *cut = buf_of(z2, o.pos - 3);
	memcpy(cut->data + o.pos - 10, footer, sizeof(footer));
	const char *why = NULL;
	assert_int_not_equal(sl_batch_decode(cut, NULL, zc, &b, &why), 0);
	assert_non_null(why);
	sl_buf_unref(cut);
	sl_batch_zctx_free(zc);
	sl_buf_unref(in);
}

/* A v1 batch whose zstd stream expands past the limit: refused by its declared size before any
 * allocation, and by the running total when the size is not declared. */
static void v1_zstd_bomb(void **state)
{
	(void)state;
	size_t big = 8u << 20;
	uint8_t *zeros = calloc(1, big);
	size_t cap = ZSTD_compressBound(big) + 7;
	uint8_t *z = malloc(cap);
	size_t zn = ZSTD_compress(z, cap, zeros, big, 1);
	assert_false(ZSTD_isError(zn));
	static const uint8_t footer[] = {1, 0, 0, 0, 0, 1, 0};
	memcpy(z + zn, footer, 7);
	struct sl_buf *in = buf_of(z, zn + 7);
	struct sl_batch_limits lim;
	sl_batch_limits_default(&lim);
	lim.max_raw_bytes = 1u << 20;
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, &lim, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "declared size"));
	sl_buf_unref(in);

	ZSTD_CCtx *c = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
	ZSTD_outBuffer o = {z, cap, 0};
	ZSTD_inBuffer i = {zeros, big, 0};
	assert_int_equal(ZSTD_compressStream2(c, &o, &i, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	memcpy(z + o.pos, footer, 7);
	in = buf_of(z, o.pos + 7);
	assert_int_equal(sl_batch_decode(in, &lim, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "exceeds the limit"));
	sl_buf_unref(in);
	free(z);
	free(zeros);
}

static void v1_strictness(void **state)
{
	(void)state;
	/* Bytes after the last entry: opendata ignores them, we call them damage. */
	uint8_t trail[sizeof(v1_hello) + 1];
	memcpy(trail, v1_hello, 25);
	trail[25] = 0xAA;
	memcpy(trail + 26, v1_hello + 25, 7);
	struct sl_buf *in = buf_of(trail, sizeof(trail));
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "after the last entry"));
	sl_buf_unref(in);
	/* A count the block cannot hold is refused before allocating count slices. */
	static const uint8_t huge[] = {0, 0xff, 0xff, 0xff, 0x00, 1, 0};
	in = buf_of(huge, sizeof(huge));
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), SL_ETRUNC);
	assert_non_null(strstr(why, "v1 entry count"));
	sl_buf_unref(in);
	/* Over the entry-count limit. */
	struct sl_batch_limits lim;
	sl_batch_limits_default(&lim);
	lim.max_entries = 2;
	in = buf_of(v1_hello, sizeof(v1_hello));
	assert_int_equal(sl_batch_decode(in, &lim, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "count"));
	sl_buf_unref(in);
}

/* ---- shardline layout ---- */

/* Golden bytes of a shardline batch of "hello", "" built by hand from docs/buffer-formats.md. */
static void sl_golden_bytes(void **state)
{
	(void)state;
	uint8_t want[32 + 7] = {
		0x89, 'S', 'L', 'B', /* magic */
		1,		     /* version */
		0,		     /* compression none */
		0,    0,	     /* flags */
		2,    0,   0,	0,   /* count */
		7,    0,   0,	0,   /* raw length */
		7,    0,   0,	0,   /* stored length */
		0,    0,   0,	0,   /* reserved */
	};
	static const uint8_t payload[] = {5, 'h', 'e', 'l', 'l', 'o', 0};
	memcpy(want + 32, payload, sizeof(payload));
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, want, 24);
	XXH64_update(&st, payload, sizeof(payload));
	uint64_t sum = XXH64_digest(&st);
	for (int i = 0; i < 8; i++)
		want[24 + i] = (uint8_t)(sum >> (8 * i));

	struct iovec v[2] = {iov_str("hello"), iov_str("")};
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, v, 2, NULL, &enc),
			 0);
	assert_int_equal(enc->len, sizeof(want));
	assert_memory_equal(enc->data, want, sizeof(want));
	sl_buf_unref(enc);

	/* A long entry takes a two-byte varint length. */
	char big[300];
	memset(big, 'x', sizeof(big));
	struct iovec bv = {big, sizeof(big)};
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, &bv, 1, NULL, &enc),
			 0);
	assert_int_equal(enc->len, 32 + 2 + 300);
	assert_int_equal(enc->data[32], 0x41);
	assert_int_equal(enc->data[33], 0x2c);
	sl_buf_unref(enc);
}

static void sl_roundtrips_and_zero_copy(void **state)
{
	(void)state;
	const char *e[] = {"alpha", "", "gamma-gamma-gamma-gamma", "d"};
	roundtrip(SL_BATCH_SHARDLINE, SL_BATCH_NONE, e, 4);
	roundtrip(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, e, 4);
	roundtrip(SL_BATCH_SHARDLINE, SL_BATCH_NONE, NULL, 0);
	roundtrip(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, NULL, 0);

	/* Decoding an uncompressed batch copies no payload byte: entries are slices of it. */
	struct iovec v[4];
	for (int i = 0; i < 4; i++)
		v[i] = iov_str(e[i]);
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, v, 4, NULL, &enc),
			 0);
	uint64_t copied = sl_buf_stats()->bytes_copied;
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(enc, NULL, NULL, &b, NULL), 0);
	assert_int_equal(sl_buf_stats()->bytes_copied, copied);
	assert_ptr_equal(b.buf, enc);
	assert_ptr_equal(sl_slice_data(&b.entries[2]), enc->data + 32 + 6 + 1 + 1);
	/* An entry outlives the batch with its own reference. */
	struct sl_slice keep = b.entries[0];
	sl_buf_ref(keep.buf);
	sl_batch_release(&b);
	sl_buf_unref(enc);
	assert_memory_equal(sl_slice_data(&keep), "alpha", 5);
	sl_buf_unref(keep.buf);

	/* A reused zstd context gives the same bytes as a temporary one. */
	struct sl_batch_zctx *z = sl_batch_zctx_new();
	struct sl_buf *a1, *a2;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, 3, v, 4, z, &a1), 0);
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, 3, v, 4, NULL, &a2), 0);
	assert_int_equal(a1->len, a2->len);
	assert_memory_equal(a1->data, a2->data, a1->len);
	assert_int_equal(sl_batch_decode(a1, NULL, z, &b, NULL), 0);
	assert_entry(&b, 2, e[2]);
	sl_batch_release(&b);
	sl_buf_unref(a1);
	sl_buf_unref(a2);
	sl_batch_zctx_free(z);
}

static struct sl_buf *sample(enum sl_batch_compression comp)
{
	const char *e[] = {"one", "two", "three", "four-four-four-four-four-four"};
	struct iovec v[4];
	for (int i = 0; i < 4; i++)
		v[i] = iov_str(e[i]);
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, comp, 0, v, 4, NULL, &enc), 0);
	return enc;
}

static void sl_every_truncation_is_etrunc(void **state)
{
	(void)state;
	for (int c = 0; c < 2; c++) {
		struct sl_buf *enc = sample((enum sl_batch_compression)c);
		for (uint32_t n = 0; n < enc->len; n++) {
			struct sl_buf *in = buf_of(enc->data, n);
			struct sl_batch b;
			const char *why = NULL;
			assert_int_equal(sl_batch_decode_shardline(in, NULL, NULL, &b, &why),
					 SL_ETRUNC);
			assert_non_null(why);
			assert_null(b.entries);
			sl_buf_unref(in);
		}
		sl_buf_unref(enc);
	}
}

static void sl_every_bit_flip_is_an_error(void **state)
{
	(void)state;
	for (int c = 0; c < 2; c++) {
		struct sl_buf *enc = sample((enum sl_batch_compression)c);
		for (uint32_t bit = 0; bit < enc->len * 8; bit++) {
			struct sl_buf *in = buf_of(enc->data, enc->len);
			in->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			struct sl_batch b;
			const char *why = NULL;
			int rc = sl_batch_decode_shardline(in, NULL, NULL, &b, &why);
			assert_true(rc == SL_ECORRUPT || rc == SL_ERANGE || rc == SL_ETRUNC);
			assert_non_null(why);
			sl_buf_unref(in);
		}
		sl_buf_unref(enc);
	}
}

/* Rewrites the checksum of a hand-edited batch so a test reaches the check behind it. */
static void reseal(struct sl_buf *b)
{
	XXH64_state_t st;
	XXH64_reset(&st, 0);
	XXH64_update(&st, b->data, 24);
	XXH64_update(&st, b->data + 32, b->len - 32);
	uint64_t sum = XXH64_digest(&st);
	for (int i = 0; i < 8; i++)
		b->data[24 + i] = (uint8_t)(sum >> (8 * i));
}

static void expect(struct sl_buf *in, int rc, const char *field)
{
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(in, NULL, NULL, &b, &why), rc);
	if (rc == 0) {
		sl_batch_release(&b);
		return;
	}
	assert_non_null(why);
	if (strstr(why, field) == NULL)
		fail_msg("reason \"%s\" does not name \"%s\"", why, field);
}

static void sl_named_errors(void **state)
{
	(void)state;
	struct sl_buf *in = sample(SL_BATCH_NONE);
	in->data[4] = 9; /* version */
	expect(in, SL_ERANGE, "version");
	in->data[4] = 1;
	in->data[5] = 7; /* compression */
	expect(in, SL_ERANGE, "compression");
	in->data[5] = 0;
	in->data[40] ^= 1; /* payload byte */
	expect(in, SL_ECORRUPT, "checksum");
	in->data[40] ^= 1;
	in->data[8] = 5; /* count 5, resealed: framing disagrees */
	reseal(in);
	expect(in, SL_ECORRUPT, "entry");
	in->data[8] = 3; /* count 3: one entry left over */
	reseal(in);
	expect(in, SL_ECORRUPT, "after the last entry");
	in->data[8] = 4;
	in->data[20] = 1; /* reserved */
	reseal(in);
	expect(in, SL_ECORRUPT, "reserved");
	in->data[20] = 0;
	in->data[12]++; /* raw length differs from stored length */
	reseal(in);
	expect(in, SL_ECORRUPT, "raw length");
	in->data[12]--;
	reseal(in);
	expect(in, 0, "");
	sl_buf_unref(in);

	/* A bad magic through the shardline decoder. */
	in = sample(SL_BATCH_NONE);
	in->data[1] = 'X';
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode_shardline(in, NULL, NULL, &b, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "magic"));
	sl_buf_unref(in);

	/* Trailing bytes after the stored payload. */
	struct sl_buf *ok = sample(SL_BATCH_NONE);
	in = sl_buf_alloc(ok->len + 1);
	memcpy(in->data, ok->data, ok->len);
	in->len = ok->len + 1;
	expect(in, SL_ECORRUPT, "payload");
	sl_buf_unref(in);
	sl_buf_unref(ok);
}

/* A zstd bomb: a small frame that declares (and would produce) far more than the limit. The
 * header's raw length is checked against the limit before anything is allocated. */
static void sl_zstd_bomb(void **state)
{
	(void)state;
	size_t big = 16u << 20;
	void *zeros = calloc(1, big);
	struct iovec v = {zeros, big};
	struct sl_buf *enc;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_ZSTD, 1, &v, 1, NULL, &enc),
			 0);
	assert_true(enc->len < 4096);
	free(zeros);
	struct sl_batch_limits lim;
	sl_batch_limits_default(&lim);
	lim.max_raw_bytes = 1u << 20;
	struct sl_batch b;
	const char *why = NULL;
	assert_int_equal(sl_batch_decode(enc, &lim, NULL, &b, &why), SL_ERANGE);
	assert_non_null(strstr(why, "raw length"));
	/* A header that lies (small raw length, big frame) is caught by the frame's own size. */
	enc->data[12] = 0x10;
	enc->data[13] = enc->data[14] = enc->data[15] = 0;
	reseal(enc);
	assert_int_equal(sl_batch_decode(enc, &lim, NULL, &b, &why), SL_ECORRUPT);
	assert_non_null(strstr(why, "zstd"));
	sl_buf_unref(enc);
}

static void bad_arguments(void **state)
{
	(void)state;
	struct sl_buf *out;
	struct iovec v = iov_str("x");
	assert_int_equal(sl_batch_encode(3, SL_BATCH_NONE, 0, &v, 1, NULL, &out), SL_EINVAL);
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, 5, 0, &v, 1, NULL, &out), SL_EINVAL);
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, NULL, 1, NULL, &out),
			 SL_EINVAL);
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, &v, 1, NULL, NULL),
			 SL_EINVAL);
	struct iovec huge = {(void *)"x", (size_t)UINT32_MAX + 1};
	assert_int_equal(
		sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, &huge, 1, NULL, &out),
		SL_ERANGE);
	struct sl_batch b;
	assert_int_equal(sl_batch_decode(NULL, NULL, NULL, &b, NULL), SL_EINVAL);
	sl_batch_release(&b); /* zeroed by the failed decode: safe */
	sl_batch_release(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_golden_hello_world_foo),
		cmocka_unit_test(v1_empty_batch),
		cmocka_unit_test(v1_empty_record),
		cmocka_unit_test(v1_reject_truncated_data),
		cmocka_unit_test(v1_reject_unsupported_version),
		cmocka_unit_test(v1_reject_unsupported_compression),
		cmocka_unit_test(v1_zstd_roundtrips),
		cmocka_unit_test(v1_zstd_compresses_repetitive_data),
		cmocka_unit_test(v1_zstd_hand_built),
		cmocka_unit_test(v1_zstd_bomb),
		cmocka_unit_test(v1_strictness),
		cmocka_unit_test(sl_golden_bytes),
		cmocka_unit_test(sl_roundtrips_and_zero_copy),
		cmocka_unit_test(sl_every_truncation_is_etrunc),
		cmocka_unit_test(sl_every_bit_flip_is_an_error),
		cmocka_unit_test(sl_named_errors),
		cmocka_unit_test(sl_zstd_bomb),
		cmocka_unit_test(bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
