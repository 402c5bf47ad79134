/* SPDX-License-Identifier: Apache-2.0 */
#include "h3/qpack.h"

#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#define F(n, v)                                                                                    \
	{                                                                                          \
		n, v, sizeof(n) - 1, sizeof(v) - 1                                                 \
	}

/* What Chromium sends to open a WebTransport session (the header set of
 * draft-ietf-webtrans-http3 with RFC 9220's extended CONNECT). */
static const struct sl_h3_field chromium_connect[] = {
	F(":method", "CONNECT"),
	F(":scheme", "https"),
	F(":authority", "127.0.0.1:4443"),
	F(":path", "/demo?jwt=abc.def.ghi"),
	F(":protocol", "webtransport"),
	F("sec-webtransport-http3-draft02", "1"),
	F("origin", "http://127.0.0.1:8080"),
	F("wt-available-protocols", "\"moq-lite-05\", \"moq-lite-04\""),
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

struct fx {
	struct sl_h3_qpack *q;
	struct sl_h3_fields fs;
	uint8_t buf[8192];
};

static int setup(void **state)
{
	static struct fx fx;
	assert_int_equal(sl_h3_qpack_new(&fx.q), 0);
	*state = &fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	sl_h3_qpack_free(fx->q);
	return 0;
}

/* Encodes fields as a HEADERS frame and returns the payload (after the frame header). */
static const uint8_t *encode(struct fx *fx, const struct sl_h3_field *f, size_t n, size_t *len)
{
	struct sl_writer w;
	sl_writer_init(&w, fx->buf, sizeof(fx->buf));
	assert_int_equal(sl_h3_qpack_encode(fx->q, 0, f, n, &w), 0);
	struct sl_reader r;
	sl_reader_init(&r, fx->buf, sl_writer_len(&w));
	struct sl_h3_frame_header h;
	assert_int_equal(sl_h3_decode_frame_header(&r, &h), 0);
	assert_int_equal(h.type, SL_H3_FRAME_HEADERS);
	assert_int_equal(h.len, sl_reader_left(&r));
	*len = h.len;
	return fx->buf + (sl_writer_len(&w) - h.len);
}

static void connect_round_trip(void **state)
{
	struct fx *fx = *state;
	size_t len;
	const uint8_t *p = encode(fx, chromium_connect, N(chromium_connect), &len);
	/* Static table only: the section prefix says "no dynamic table" (00 00). */
	assert_int_equal(p[0], 0);
	assert_int_equal(p[1], 0);
	enum sl_h3_error err = 0;
	const char *why = NULL;
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, p, len, &fx->fs, &err, &why), 0);
	assert_int_equal(fx->fs.n, N(chromium_connect));
	for (size_t i = 0; i < N(chromium_connect); i++) {
		assert_string_equal(fx->fs.f[i].name, chromium_connect[i].name);
		assert_string_equal(fx->fs.f[i].value, chromium_connect[i].value);
	}
	struct sl_h3_connect c;
	int status = -1;
	assert_int_equal(sl_h3_read_connect(&fx->fs, &c, &status, &why), 0);
	assert_string_equal(c.authority, "127.0.0.1:4443");
	assert_int_equal(c.path_len, 5);
	assert_memory_equal(c.path, "/demo", 5);
	assert_string_equal(c.query, "jwt=abc.def.ghi");
	assert_string_equal(c.origin, "http://127.0.0.1:8080");
	assert_string_equal(c.protocols, "\"moq-lite-05\", \"moq-lite-04\"");
	assert_string_equal(c.draft02, "1");
}

static void response_golden(void **state)
{
	struct fx *fx = *state;
	/* :status 200 is static entry 25: the whole HEADERS frame is 01 03 | 00 00 | d9. */
	static const struct sl_h3_field ok[] = {F(":status", "200")};
	struct sl_writer w;
	sl_writer_init(&w, fx->buf, sizeof(fx->buf));
	assert_int_equal(sl_h3_qpack_encode(fx->q, 0, ok, 1, &w), 0);
	static const uint8_t want[] = {0x01, 0x03, 0x00, 0x00, 0xd9};
	assert_int_equal(sl_writer_len(&w), sizeof(want));
	assert_memory_equal(fx->buf, want, sizeof(want));
	/* A response decodes too (a client's view), :status and all. */
	enum sl_h3_error err;
	const char *why;
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, want + 2, 3, &fx->fs, &err, &why), 0);
	assert_string_equal(sl_h3_fields_get(&fx->fs, ":status")->value, "200");
	/* Too small a buffer. */
	sl_writer_init(&w, fx->buf, 3);
	assert_int_equal(sl_h3_qpack_encode(fx->q, 0, ok, 1, &w), SL_ENOSPC);
}

static void expect_error(struct fx *fx, const struct sl_h3_field *f, size_t n,
			 enum sl_h3_error want, const char *want_why)
{
	size_t len;
	const uint8_t *p = encode(fx, f, n, &len);
	enum sl_h3_error err = 0;
	const char *why = NULL;
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, p, len, &fx->fs, &err, &why), SL_ECORRUPT);
	assert_int_equal(err, want);
	assert_non_null(why);
	if (want_why)
		assert_string_equal(why, want_why);
}

static void malformed_messages(void **state)
{
	struct fx *fx = *state;
	static const struct sl_h3_field upper[] = {F(":method", "GET"), F("Origin", "x")};
	expect_error(fx, upper, N(upper), SL_H3_MESSAGE_ERROR,
		     "a field name that is not a lower-case token");
	static const struct sl_h3_field late[] = {F("origin", "x"), F(":method", "GET")};
	expect_error(fx, late, N(late), SL_H3_MESSAGE_ERROR,
		     "a pseudo-header after a regular field");
	static const struct sl_h3_field twice[] = {F(":method", "GET"), F(":method", "PUT")};
	expect_error(fx, twice, N(twice), SL_H3_MESSAGE_ERROR, "a repeated pseudo-header");
	static const struct sl_h3_field unknown[] = {F(":foo", "1")};
	expect_error(fx, unknown, N(unknown), SL_H3_MESSAGE_ERROR, "an unknown pseudo-header");
	static const struct sl_h3_field crlf[] = {F("x-a", "a\r\nb")};
	expect_error(fx, crlf, N(crlf), SL_H3_MESSAGE_ERROR, "a field value with NUL, CR or LF");
	static const struct sl_h3_field space[] = {F("x a", "1")};
	expect_error(fx, space, N(space), SL_H3_MESSAGE_ERROR, NULL);
}

static void excessive_and_broken(void **state)
{
	struct fx *fx = *state;
	/* Sections made by hand: prefix 00 00, then SL_H3_MAX_FIELDS + 1 times ":status 200"
	 * (static index 25, d9). */
	uint8_t sec[2 + SL_H3_MAX_FIELDS + 1];
	sec[0] = sec[1] = 0;
	for (size_t i = 0; i < SL_H3_MAX_FIELDS + 1; i++)
		sec[2 + i] = 0xd9;
	enum sl_h3_error err;
	const char *why;
	/* The second is a repeated pseudo-header: a malformed message, found before the count
	 * matters (fields after the first fault are not kept). */
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, sec, sizeof(sec), &fx->fs, &err, &why),
			 SL_ECORRUPT);
	assert_int_equal(err, SL_H3_MESSAGE_ERROR);
	/* SL_H3_MAX_FIELDS + 1 regular fields "x-many: 1", each a literal field line with a
	 * literal name (001NHxxx: 0x26, a 6-byte name, no Huffman), then the value's length and
	 * byte. */
	uint8_t many[2 + (SL_H3_MAX_FIELDS + 1) * 9];
	size_t o = 0;
	many[o++] = 0;
	many[o++] = 0;
	for (size_t i = 0; i < SL_H3_MAX_FIELDS + 1; i++) {
		many[o++] = 0x26;
		memcpy(many + o, "x-many", 6);
		o += 6;
		many[o++] = 0x01;
		many[o++] = '1';
	}
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, many, o, &fx->fs, &err, &why), SL_ECORRUPT);
	assert_int_equal(err, SL_H3_EXCESSIVE_LOAD);
	/* The same with one field fewer fits. */
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, many, o - 9, &fx->fs, &err, &why), 0);
	assert_int_equal(fx->fs.n, SL_H3_MAX_FIELDS);
	/* Broken sections are connection errors (RFC 9204 2.2): the decoder is done after one,
	 * so each case gets its own. A section that refers to a dynamic table (Required Insert
	 * Count 1) this side never allowed: */
	static const uint8_t dyn[] = {0x02, 0x00, 0x80};
	/* a literal that announces more bytes than follow: */
	static const uint8_t cut[] = {0x00, 0x00, 0x26, 'x', '-'};
	/* a section with no prefix at all: */
	struct {
		const uint8_t *p;
		size_t n;
	} broken[] = {{dyn, sizeof(dyn)}, {cut, sizeof(cut)}, {cut, 0}, {cut, 1}};
	for (size_t i = 0; i < N(broken); i++) {
		struct sl_h3_qpack *q;
		assert_int_equal(sl_h3_qpack_new(&q), 0);
		err = 0;
		assert_int_equal(
			sl_h3_qpack_decode(q, 4, broken[i].p, broken[i].n, &fx->fs, &err, &why),
			SL_ECORRUPT);
		assert_int_equal(err, (enum sl_h3_error)SL_H3_QPACK_DECOMPRESSION_FAILED);
		sl_h3_qpack_free(q);
	}
}

static int classify(struct fx *fx, const struct sl_h3_field *f, size_t n, int *status,
		    const char **why)
{
	size_t len;
	const uint8_t *p = encode(fx, f, n, &len);
	enum sl_h3_error err;
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, p, len, &fx->fs, &err, why), 0);
	struct sl_h3_connect c;
	return sl_h3_read_connect(&fx->fs, &c, status, why);
}

static void requests_other_than_webtransport(void **state)
{
	struct fx *fx = *state;
	int status;
	const char *why;
	static const struct sl_h3_field get[] = {F(":method", "GET"), F(":scheme", "https"),
						 F(":authority", "a"), F(":path", "/")};
	assert_int_equal(classify(fx, get, N(get), &status, &why), SL_ENOTSUP);
	assert_int_equal(status, 405);
	static const struct sl_h3_field tunnel[] = {F(":method", "CONNECT"),
						    F(":authority", "example.com:443")};
	assert_int_equal(classify(fx, tunnel, N(tunnel), &status, &why), SL_ENOTSUP);
	assert_int_equal(status, 400);
	static const struct sl_h3_field ws[] = {F(":method", "CONNECT"), F(":scheme", "https"),
						F(":authority", "a"), F(":path", "/"),
						F(":protocol", "websocket")};
	assert_int_equal(classify(fx, ws, N(ws), &status, &why), SL_ENOTSUP);
	assert_int_equal(status, 501);
	struct {
		struct sl_h3_field f[5];
		size_t n;
		const char *why;
	} bad[] = {
		{{F(":scheme", "https"), F(":path", "/")}, 2, "no :method"},
		{{F(":method", "GET"), F(":authority", "a")},
		 2,
		 "a request without :scheme or :path"},
		{{F(":method", "CONNECT"), F(":scheme", "http"), F(":authority", "a"),
		  F(":path", "/"), F(":protocol", "webtransport")},
		 5,
		 "an extended CONNECT whose :scheme is not https"},
		{{F(":method", "CONNECT"), F(":scheme", "https"), F(":authority", "a"),
		  F(":path", "demo"), F(":protocol", "webtransport")},
		 5,
		 "a :path that does not start with /"},
		{{F(":method", "CONNECT"), F(":scheme", "https"), F(":path", "/"),
		  F(":protocol", "webtransport")},
		 4,
		 "an extended CONNECT without :scheme, :path or :authority"},
		{{F(":method", "CONNECT"), F(":path", "/")},
		 2,
		 "a CONNECT with :scheme or :path but no :protocol"},
		{{F(":method", "GET"), F(":scheme", "https"), F(":path", "/"), F(":protocol", "x")},
		 4,
		 ":protocol outside a CONNECT"},
		{{F(":status", "200"), F(":method", "GET")}, 2, ":status in a request"},
	};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(classify(fx, bad[i].f, bad[i].n, &status, &why), SL_ECORRUPT);
		assert_string_equal(why, bad[i].why);
	}
	/* A path without a query. */
	static const struct sl_h3_field plain[] = {F(":method", "CONNECT"), F(":scheme", "https"),
						   F(":authority", "a"), F(":path", "/"),
						   F(":protocol", "webtransport")};
	size_t len;
	const uint8_t *p = encode(fx, plain, N(plain), &len);
	enum sl_h3_error err;
	assert_int_equal(sl_h3_qpack_decode(fx->q, 0, p, len, &fx->fs, &err, &why), 0);
	struct sl_h3_connect c;
	assert_int_equal(sl_h3_read_connect(&fx->fs, &c, &status, &why), 0);
	assert_int_equal(c.path_len, 1);
	assert_string_equal(c.query, "");
	assert_null(c.origin);
	assert_null(c.protocols);
}

static void fields_bounds(void **state)
{
	(void)state;
	static struct sl_h3_fields fs;
	sl_h3_fields_init(&fs);
	char big[SL_H3_FIELDS_BYTES];
	memset(big, 'v', sizeof(big));
	assert_int_equal(sl_h3_fields_add(&fs, "a", 1, big, sizeof(big) - 3), 0);
	assert_int_equal(sl_h3_fields_add(&fs, "b", 1, "", 0), SL_ENOSPC);
	assert_int_equal(fs.n, 1);
	assert_null(sl_h3_fields_get(&fs, "b"));
	assert_int_equal(sl_h3_fields_get(&fs, "a")->value_len, sizeof(big) - 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_round_trip),
		cmocka_unit_test(response_golden),
		cmocka_unit_test(malformed_messages),
		cmocka_unit_test(excessive_and_broken),
		cmocka_unit_test(requests_other_than_webtransport),
		cmocka_unit_test(fields_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
