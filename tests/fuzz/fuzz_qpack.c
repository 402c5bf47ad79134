/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the field sections a WebTransport server decodes from browsers
 * (dataplane/h3/qpack.h): a HEADERS payload through nghttp3's QPACK decoder (static table
 * only), the message checks, and the reading of an extended CONNECT. Nothing may crash or leak;
 * a section that decodes must hold only valid names and values, and re-encode to a section that
 * decodes to the same fields.
 */
#include "core/err.h"
#include "h3/qpack.h"

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
	static struct sl_h3_fields fs, again;
	static uint8_t buf[16384];
	struct sl_h3_qpack *q;
	if (sl_h3_qpack_new(&q) != 0)
		return 0;
	enum sl_h3_error err = 0;
	const char *why = NULL;
	int rc = sl_h3_qpack_decode(q, 0, data, size, &fs, &err, &why);
	if (rc != 0) {
		CHECK(rc == SL_ECORRUPT && why != NULL);
		CHECK(err == SL_H3_MESSAGE_ERROR || err == SL_H3_EXCESSIVE_LOAD ||
		      err == (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED);
		sl_h3_qpack_free(q);
		return 0;
	}
	CHECK(fs.n <= SL_H3_MAX_FIELDS);
	for (unsigned i = 0; i < fs.n; i++) {
		CHECK(strlen(fs.f[i].name) == fs.f[i].name_len);
		CHECK(memchr(fs.f[i].value, '\r', fs.f[i].value_len) == NULL);
	}
	struct sl_h3_connect c;
	int status = 0;
	rc = sl_h3_read_connect(&fs, &c, &status, &why);
	CHECK(rc == 0 || rc == SL_ENOTSUP || rc == SL_ECORRUPT);
	if (rc == 0)
		CHECK(c.path[0] == '/' && c.path_len >= 1 && c.authority[0] != '\0');
	if (rc == SL_ENOTSUP)
		CHECK(status == 400 || status == 405 || status == 501);
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_h3_qpack_encode(q, 4, fs.f, fs.n, &w) == 0) {
		struct sl_reader r;
		sl_reader_init(&r, buf, sl_writer_len(&w));
		struct sl_h3_frame_header h;
		CHECK(sl_h3_decode_frame_header(&r, &h) == 0 && h.len == sl_reader_left(&r));
		CHECK(sl_h3_qpack_decode(q, 4, buf + sl_writer_len(&w) - h.len, h.len, &again, &err,
					 &why) == 0);
		CHECK(again.n == fs.n);
		for (unsigned i = 0; i < fs.n; i++) {
			CHECK(strcmp(again.f[i].name, fs.f[i].name) == 0);
			CHECK(again.f[i].value_len == fs.f[i].value_len &&
			      memcmp(again.f[i].value, fs.f[i].value, fs.f[i].value_len) == 0);
		}
	}
	sl_h3_qpack_free(q);
	return 0;
}
