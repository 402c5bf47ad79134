/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the byte reader and varint decoder: the input is read as a script of field
 * types (one selector byte, then the field), the way a message decoder walks a frame. Every value
 * decoded must re-encode and decode to itself, and no read may pass the end of the input.
 */
#include "core/bytes.h"
#include "core/err.h"
#include "core/varint.h"

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
	struct sl_reader r;
	sl_reader_init(&r, data, size);
	uint8_t sel;
	while (sl_reader_u8(&r, &sel) == 0) {
		size_t before = sl_reader_left(&r);
		int rc;
		uint64_t v;
		const uint8_t *p;
		size_t n;
		switch (sel % 5) {
		case 0: {
			rc = sl_reader_varint(&r, &v);
			if (rc == 0) {
				uint8_t enc[8];
				size_t len, used;
				uint64_t back;
				CHECK(v <= SL_VARINT_MAX);
				CHECK(sl_varint_encode(enc, sizeof(enc), v, &len) == 0);
				CHECK(len <= before - sl_reader_left(&r));
				CHECK(sl_varint_decode(enc, len, &back, &used) == 0 && back == v);
				CHECK(used == len);
			}
			break;
		}
		case 1:
			rc = sl_reader_lenbytes(&r, 64, &p, &n);
			if (rc == 0)
				CHECK(n <= 64 && p >= data && p + n <= data + size);
			break;
		case 2: {
			uint32_t x;
			rc = sl_reader_be32(&r, &x);
			break;
		}
		case 3: {
			uint16_t x;
			rc = sl_reader_be16(&r, &x);
			break;
		}
		default:
			rc = sl_reader_bytes(&r, sel >> 3, &p);
			break;
		}
		if (rc != 0) {
			/* A failed read leaves the reader where it was and says why. */
			CHECK(rc == SL_ETRUNC || rc == SL_ERANGE);
			CHECK(sl_reader_left(&r) == before);
			break;
		}
		CHECK(sl_reader_left(&r) <= before);
	}
	/* Round trip through the writer with a buffer too small half the time. */
	uint8_t out[16];
	struct sl_writer w;
	sl_writer_init(&w, out, size % sizeof(out));
	int rc = sl_writer_lenbytes(&w, data, size);
	CHECK(rc == 0 || rc == SL_ENOSPC);
	CHECK(sl_writer_len(&w) <= size % sizeof(out));
	return 0;
}
