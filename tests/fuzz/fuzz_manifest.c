/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the manifest decoder. The input is a manifest object as read from a store.
 * The decoder must never read outside it; whatever it accepts must re-encode, entry by entry and
 * footer included, to exactly the input bytes (the layout has one encoding per value), and the
 * entries it accepts must form the gapless run the footer promises.
 */
#include "buffer/manifest.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A private copy, so a read past the end is caught by the sanitizer's heap checks. */
	uint8_t *in = malloc(size ? size : 1);
	CHECK(in != NULL);
	if (size)
		memcpy(in, data, size);
	struct sl_manifest_iter it;
	struct sl_manifest_footer f;
	const char *why = NULL;
	int rc = sl_manifest_iter_init(&it, in, size, &f, &why);
	if (rc != 0) {
		CHECK(rc == SL_ETRUNC || rc == SL_ENOTSUP || rc == SL_ECORRUPT);
		CHECK(why != NULL);
		free(in);
		return 0;
	}
	uint8_t *out = malloc(size);
	CHECK(out != NULL);
	size_t n = 0;
	uint32_t count = 0;
	uint64_t expect = f.next_sequence - f.count;
	struct sl_manifest_rec rec;
	while ((rc = sl_manifest_iter_next(&it, &rec, &why)) == 0) {
		CHECK(rec.sequence == expect);
		expect++;
		count++;
		struct sl_manifest_meta metas[64];
		const uint8_t *cur = rec.meta;
		uint32_t k = 0;
		struct sl_manifest_meta m;
		while (sl_manifest_meta_next(&rec, &cur, &m) == 0) {
			CHECK(m.payload + m.payload_len <= rec.meta_end);
			if (k < 64)
				metas[k] = m;
			k++;
		}
		CHECK(k == rec.meta_count);
		if (k <= 64) {
			size_t len = sl_manifest_entry_len(rec.location_len, metas, k);
			CHECK(len == rec.raw_len);
			CHECK(n + len <= size);
			CHECK(sl_manifest_entry_encode(out + n, rec.sequence, rec.location,
						       rec.location_len, metas, k) == len);
			CHECK(memcmp(out + n, rec.raw, len) == 0);
		}
		n += rec.raw_len;
	}
	if (rc == SL_EEOF) {
		CHECK(count == f.count);
		CHECK(n + SL_MANIFEST_FOOTER_LEN == size);
		sl_manifest_footer_encode(out + n, &f);
		CHECK(memcmp(out + n, in + n, SL_MANIFEST_FOOTER_LEN) == 0);
	} else {
		CHECK(rc == SL_ETRUNC || rc == SL_ECORRUPT);
		CHECK(why != NULL);
	}
	free(out);
	free(in);
	return 0;
}
