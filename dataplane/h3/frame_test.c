/* SPDX-License-Identifier: Apache-2.0 */
#include "h3/frame.h"

#include "core/err.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The settings a WebTransport server sends (docs/h3.md), with a grease pair in the middle as
 * RFC 9114 7.2.4.1 asks senders to include. */
static const struct sl_h3_setting server_settings[] = {
	{SL_H3_SETTING_QPACK_MAX_TABLE_CAPACITY, 0},
	{SL_H3_SETTING_ENABLE_CONNECT_PROTOCOL, 1},
	{SL_H3_SETTING_H3_DATAGRAM, 1},
	{0x1f * 7 + 0x21, 12345},
	{SL_H3_SETTING_ENABLE_WEBTRANSPORT, 1},
	{SL_H3_SETTING_WT_MAX_SESSIONS_DRAFT07, 1},
	{SL_H3_SETTING_WT_MAX_SESSIONS, 4},
};

static size_t encode_server_settings(uint8_t *buf, size_t cap)
{
	struct sl_writer w;
	sl_writer_init(&w, buf, cap);
	assert_int_equal(
		sl_h3_encode_settings(&w, server_settings,
				      sizeof(server_settings) / sizeof(server_settings[0])),
		0);
	return sl_writer_len(&w);
}

static void settings_round_trip(void **state)
{
	(void)state;
	uint8_t buf[128];
	size_t n = encode_server_settings(buf, sizeof(buf));
	/* Type 0x04, then the payload's length in one byte, then the pairs: 01 00, 08 01, 33 01,
	 * the grease pair, ... */
	assert_int_equal(buf[0], 0x04);
	assert_int_equal(buf[1], n - 2);
	static const uint8_t head[] = {0x01, 0x00, 0x08, 0x01, 0x33, 0x01};
	assert_memory_equal(buf + 2, head, sizeof(head));
	struct sl_h3_settings s;
	enum sl_h3_error err = 0;
	assert_int_equal(sl_h3_decode_settings(buf + 2, n - 2, &s, &err), 0);
	assert_int_equal(s.qpack_max_table_capacity, 0);
	assert_int_equal(s.enable_connect_protocol, 1);
	assert_int_equal(s.h3_datagram, 1);
	assert_int_equal(s.enable_webtransport, 1);
	/* Both session-count codepoints: the larger is kept. */
	assert_int_equal(s.wt_max_sessions, 4);
	assert_int_equal(s.n_unknown, 1);
	assert_false(s.has_max_field_section_size);
	/* An empty SETTINGS is valid and means every default. */
	assert_int_equal(sl_h3_decode_settings(buf, 0, &s, &err), 0);
	assert_int_equal(s.enable_connect_protocol, 0);
}

static void settings_errors(void **state)
{
	(void)state;
	struct sl_h3_settings s;
	enum sl_h3_error err;
	struct {
		const uint8_t *p;
		size_t n;
		enum sl_h3_error want;
	} cases[] = {
		/* The same identifier twice. */
		{(const uint8_t[]){0x08, 0x01, 0x08, 0x01}, 4, SL_H3_SETTINGS_ERROR},
		{(const uint8_t[]){0x06, 0x40, 0x80, 0x06, 0x01}, 5, SL_H3_SETTINGS_ERROR},
		/* HTTP/2's SETTINGS_ENABLE_PUSH (0x02) and MAX_CONCURRENT_STREAMS (0x03). */
		{(const uint8_t[]){0x02, 0x00}, 2, SL_H3_SETTINGS_ERROR},
		{(const uint8_t[]){0x05, 0x00}, 2, SL_H3_SETTINGS_ERROR},
		/* A boolean above 1. */
		{(const uint8_t[]){0x33, 0x02}, 2, SL_H3_SETTINGS_ERROR},
		{(const uint8_t[]){0x08, 0x05}, 2, SL_H3_SETTINGS_ERROR},
		/* The payload ends inside a pair, or inside a varint. */
		{(const uint8_t[]){0x08}, 1, SL_H3_FRAME_ERROR},
		{(const uint8_t[]){0x06, 0x40}, 2, SL_H3_FRAME_ERROR},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err = 0;
		assert_int_equal(sl_h3_decode_settings(cases[i].p, cases[i].n, &s, &err),
				 SL_ECORRUPT);
		assert_int_equal(err, cases[i].want);
	}
	/* Unknown identifiers, even repeated, are ignored. */
	static const uint8_t unknown[] = {0x21, 0x07, 0x21, 0x07, 0x40, 0xff, 0x00};
	assert_int_equal(sl_h3_decode_settings(unknown, sizeof(unknown), &s, &err), 0);
	assert_int_equal(s.n_unknown, 3);
	/* A value too large for a varint cannot be sent. */
	uint8_t buf[32];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	struct sl_h3_setting big = {1, UINT64_MAX};
	assert_int_equal(sl_h3_encode_settings(&w, &big, 1), SL_ERANGE);
	assert_string_equal(sl_h3_error_name(SL_H3_MISSING_SETTINGS), "H3_MISSING_SETTINGS");
	assert_string_equal(sl_h3_error_name(7), "H3_?");
}

/* What the reader reported, flattened: frame headers as "F<type>:<len> ", payload bytes in
 * hex, "|" at each frame's end, "W<session> " for a WebTransport signal. */
struct trace {
	char text[1024];
	size_t len;
	uint8_t app[256]; /* the bytes after a WebTransport signal */
	size_t app_len;
};

static void add(struct trace *t, const char *s, size_t n)
{
	assert_true(t->len + n < sizeof(t->text));
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len] = '\0';
}

static void feed(struct sl_h3_frame_reader *fr, struct trace *t, bool *wt, const uint8_t *p,
		 size_t n)
{
	if (*wt) {
		memcpy(t->app + t->app_len, p, n);
		t->app_len += n;
		return;
	}
	for (;;) {
		struct sl_h3_read ev;
		int e = sl_h3_frame_read(fr, &p, &n, &ev);
		char tmp[64];
		switch (e) {
		case SL_H3_READ_NONE:
			assert_int_equal(n, 0);
			return;
		case SL_H3_READ_FRAME:
			add(t, tmp,
			    (size_t)snprintf(tmp, sizeof(tmp), "F%llx:%llu ",
					     (unsigned long long)ev.type,
					     (unsigned long long)ev.len));
			break;
		case SL_H3_READ_PAYLOAD:
			for (size_t i = 0; i < ev.data_len; i++)
				add(t, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%02x", ev.data[i]));
			if (ev.end)
				add(t, "|", 1);
			break;
		case SL_H3_READ_WT_STREAM:
			add(t, tmp,
			    (size_t)snprintf(tmp, sizeof(tmp), "W%llu ",
					     (unsigned long long)ev.session));
			*wt = true;
			memcpy(t->app + t->app_len, ev.data, ev.data_len);
			t->app_len += ev.data_len;
			return;
		default:
			fail();
		}
	}
}

/* Feeds bytes whole, then split at every offset, then one byte at a time: the trace must not
 * depend on the split. */
static void check_splits(const uint8_t *p, size_t n, bool bidi, const char *want,
			 const uint8_t *want_app, size_t want_app_len)
{
	for (size_t cut = 0; cut <= n + 1; cut++) {
		struct sl_h3_frame_reader fr;
		sl_h3_frame_reader_init(&fr, bidi);
		struct trace t = {0};
		bool wt = false;
		if (cut <= n) {
			feed(&fr, &t, &wt, p, cut);
			feed(&fr, &t, &wt, p + cut, n - cut);
		} else {
			for (size_t i = 0; i < n; i++)
				feed(&fr, &t, &wt, p + i, 1);
		}
		assert_string_equal(t.text, want);
		assert_int_equal(t.app_len, want_app_len);
		if (want_app_len)
			assert_memory_equal(t.app, want_app, want_app_len);
		if (!wt)
			assert_true(sl_h3_frame_reader_at_boundary(&fr));
	}
}

static void reader_control_stream(void **state)
{
	(void)state;
	/* SETTINGS (as above), a grease frame with 3 payload bytes and a 2-byte type, an empty
	 * unknown frame, GOAWAY 4 with a 2-byte length prefix (non-minimal, as RFC 9000 lets a
	 * sender write). */
	uint8_t buf[128];
	size_t n = encode_server_settings(buf, sizeof(buf));
	static const uint8_t rest[] = {
		0x40, 0x21 + 0x1f * 3, 0x03, 'a', 'b', 'c', 0x3f, 0x00, 0x07, 0x40, 0x01, 0x04};
	memcpy(buf + n, rest, sizeof(rest));
	n += sizeof(rest);
	char want[512];
	size_t o = (size_t)snprintf(want, sizeof(want), "F4:%u ", (unsigned)buf[1]);
	for (unsigned i = 0; i < buf[1]; i++)
		o += (size_t)snprintf(want + o, sizeof(want) - o, "%02x", buf[2 + i]);
	snprintf(want + o, sizeof(want) - o, "|F7e:3 616263|F3f:0 |F7:1 04|");
	check_splits(buf, n, false, want, NULL, 0);
	/* On a unidirectional stream 0x41 is just a frame type. */
	static const uint8_t t41[] = {0x40, 0x41, 0x00};
	check_splits(t41, sizeof(t41), false, "F41:0 |", NULL, 0);
	/* A stream that stops inside a frame is not at a boundary. */
	struct sl_h3_frame_reader fr;
	sl_h3_frame_reader_init(&fr, false);
	const uint8_t *p = rest;
	size_t left = 4;
	struct sl_h3_read ev;
	while (sl_h3_frame_read(&fr, &p, &left, &ev) != SL_H3_READ_NONE)
		;
	assert_false(sl_h3_frame_reader_at_boundary(&fr));
	sl_h3_frame_reader_init(&fr, false);
	p = rest;
	left = 1;
	assert_int_equal(sl_h3_frame_read(&fr, &p, &left, &ev), SL_H3_READ_NONE);
	assert_false(sl_h3_frame_reader_at_boundary(&fr));
}

static void reader_request_and_wt_streams(void **state)
{
	(void)state;
	/* A request stream: HEADERS then DATA. */
	static const uint8_t req[] = {0x01, 0x02, 'h', 'h', 0x00, 0x01, 'd'};
	check_splits(req, sizeof(req), true, "F1:2 6868|F0:1 64|", NULL, 0);
	/* A WebTransport bidi stream of session 0 (the CONNECT stream id), then moq bytes. */
	static const uint8_t wt[] = {0x40, 0x41, 0x00, 0x02, 0x07, 0x09};
	static const uint8_t app[] = {0x02, 0x07, 0x09};
	check_splits(wt, sizeof(wt), true, "W0 ", app, sizeof(app));
	/* Session 400 (a 2-byte id) with nothing after it. */
	static const uint8_t wt400[] = {0x40, 0x41, 0x41, 0x90};
	check_splits(wt400, sizeof(wt400), true, "W400 ", NULL, 0);
	/* 0x41 after the first frame is just a type. */
	static const uint8_t later[] = {0x01, 0x00, 0x40, 0x41, 0x00};
	check_splits(later, sizeof(later), true, "F1:0 |F41:0 |", NULL, 0);
}

static void uni_headers(void **state)
{
	(void)state;
	struct {
		uint8_t b[12];
		size_t n, used;
		uint64_t type, session;
	} cases[] = {
		{{0x00, 0x04, 0x00}, 3, 1, SL_H3_UNI_CONTROL, 0},
		{{0x02}, 1, 1, SL_H3_UNI_QPACK_ENCODER, 0},
		{{0x40, 0x03, 0xff}, 3, 2, SL_H3_UNI_QPACK_DECODER, 0},
		{{0x40, 0x54, 0x00, 0x01}, 4, 3, SL_H3_UNI_WT, 0},
		{{0x40, 0x54, 0x80, 0x00, 0x01, 0x00, 0xaa}, 7, 6, SL_H3_UNI_WT, 256},
		{{0xc0, 0, 0, 0, 0, 0, 0, 0x21}, 8, 8, 0x21, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* Whole, then byte by byte. */
		for (int split = 0; split < 2; split++) {
			struct sl_h3_uni_reader ur = {0};
			uint64_t type = 99, session = 99;
			const uint8_t *p = cases[i].b;
			size_t n = cases[i].n, consumed = 0;
			int rc = 0;
			if (split == 0) {
				rc = sl_h3_uni_read(&ur, &p, &n, &type, &session);
				consumed = cases[i].n - n;
			} else {
				for (size_t k = 0; k < cases[i].n && rc == 0; k++) {
					const uint8_t *q = cases[i].b + k;
					size_t one = 1;
					rc = sl_h3_uni_read(&ur, &q, &one, &type, &session);
					consumed += 1 - one;
				}
			}
			assert_int_equal(rc, 1);
			assert_int_equal(consumed, cases[i].used);
			assert_int_equal(type, cases[i].type);
			assert_int_equal(session, cases[i].session);
		}
	}
	/* Not enough yet. */
	struct sl_h3_uni_reader ur = {0};
	const uint8_t part[] = {0x40, 0x54, 0x40};
	const uint8_t *p = part;
	size_t n = sizeof(part);
	uint64_t type, session;
	assert_int_equal(sl_h3_uni_read(&ur, &p, &n, &type, &session), 0);
	assert_int_equal(n, 0);
}

static void wt_codes_and_capsules(void **state)
{
	(void)state;
	assert_int_equal(sl_h3_wt_code_to_h3(0), 0x52e4a40fa8dbULL);
	assert_int_equal(sl_h3_wt_code_to_h3(0x1d), 0x52e4a40fa8dbULL + 0x1d);
	/* 0x52e4a40fa8db + 0x1e is a grease value: code 0x1e steps over it. */
	assert_true(sl_h3_is_grease(0x52e4a40fa8dbULL + 0x1e));
	assert_int_equal(sl_h3_wt_code_to_h3(0x1e), 0x52e4a40fa8dbULL + 0x1f);
	assert_int_equal(sl_h3_wt_code_to_h3(UINT32_MAX), 0x52e5ac983162ULL);
	uint32_t code;
	for (uint64_t c = 0; c < 2000; c++) {
		uint64_t h = sl_h3_wt_code_to_h3((uint32_t)c);
		assert_false(sl_h3_is_grease(h));
		assert_int_equal(sl_h3_wt_code_from_h3(h, &code), 0);
		assert_int_equal(code, c);
	}
	assert_int_equal(sl_h3_wt_code_from_h3(0x52e5ac983162ULL, &code), 0);
	assert_int_equal(code, UINT32_MAX);
	assert_int_equal(sl_h3_wt_code_from_h3(0x52e4a40fa8dbULL + 0x1e, &code), SL_ERANGE);
	assert_int_equal(sl_h3_wt_code_from_h3(0x52e4a40fa8daULL, &code), SL_ERANGE);
	assert_int_equal(sl_h3_wt_code_from_h3(0x52e5ac983163ULL, &code), SL_ERANGE);
	assert_int_equal(sl_h3_wt_code_from_h3(SL_H3_NO_ERROR, &code), SL_ERANGE);

	uint8_t buf[2048];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_h3_encode_wt_close(&w, 0x01020304, "bye", 3), 0);
	static const uint8_t close[] = {0x68, 0x43, 0x07, 1, 2, 3, 4, 'b', 'y', 'e'};
	assert_int_equal(sl_writer_len(&w), sizeof(close));
	assert_memory_equal(buf, close, sizeof(close));
	const uint8_t *reason;
	size_t rlen;
	assert_int_equal(sl_h3_decode_wt_close(close + 3, 7, &code, &reason, &rlen), 0);
	assert_int_equal(code, 0x01020304);
	assert_int_equal(rlen, 3);
	assert_memory_equal(reason, "bye", 3);
	assert_int_equal(sl_h3_decode_wt_close(close + 3, 3, &code, &reason, &rlen), SL_ECORRUPT);
	char big[SL_H3_WT_MAX_REASON + 1];
	memset(big, 'x', sizeof(big));
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_h3_encode_wt_close(&w, 0, big, sizeof(big)), SL_EINVAL);
	uint8_t longcap[4 + SL_H3_WT_MAX_REASON + 1] = {0};
	assert_int_equal(sl_h3_decode_wt_close(longcap, sizeof(longcap), &code, &reason, &rlen),
			 SL_ECORRUPT);
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_h3_encode_wt_drain(&w), 0);
	static const uint8_t drain[] = {0x80, 0x00, 0x78, 0xae, 0x00};
	assert_int_equal(sl_writer_len(&w), sizeof(drain));
	assert_memory_equal(buf, drain, sizeof(drain));
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_h3_encode_wt_stream_header(&w, true, 4), 0);
	assert_int_equal(sl_h3_encode_wt_stream_header(&w, false, 4), 0);
	assert_int_equal(sl_h3_encode_goaway(&w, 8), 0);
	static const uint8_t hdrs[] = {0x40, 0x41, 0x04, 0x40, 0x54, 0x04, 0x07, 0x01, 0x08};
	assert_int_equal(sl_writer_len(&w), sizeof(hdrs));
	assert_memory_equal(buf, hdrs, sizeof(hdrs));
	assert_true(sl_h3_frame_is_h2_reserved(0x02));
	assert_true(sl_h3_frame_is_h2_reserved(0x09));
	assert_false(sl_h3_frame_is_h2_reserved(0x07));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(settings_round_trip),
		cmocka_unit_test(settings_errors),
		cmocka_unit_test(reader_control_stream),
		cmocka_unit_test(reader_request_and_wt_streams),
		cmocka_unit_test(uni_headers),
		cmocka_unit_test(wt_codes_and_capsules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
