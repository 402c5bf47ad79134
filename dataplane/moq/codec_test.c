/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "moq/codec.h"

#include <string.h>

#define STR(s) ((struct sl_moq_str){(const uint8_t *)(s), sizeof(s) - 1})

static int str_eq(struct sl_moq_str s, const char *c)
{
	return s.len == strlen(c) && memcmp(s.p, c, s.len) == 0;
}

/* The SUBSCRIBE example of the wire reference, stream type included. */
static const uint8_t golden_subscribe[] = {0x02, 0x11, 0x00, 0x04, 'd', 'e', 'm',
					   'o',	 0x05, 'c',  'l',  'o', 'c', 'k',
					   0x01, 0x00, 0x00, 0x00, 0x00};

static void golden_subscribe_decodes_and_encodes(void **state)
{
	(void)state;
	struct sl_reader r;
	struct sl_moq_subscribe m;
	uint64_t type;
	const char *why = NULL;
	sl_reader_init(&r, golden_subscribe, sizeof(golden_subscribe));
	assert_int_equal(sl_moq_decode_stream_type(&r, &type, &why), 0);
	assert_int_equal(type, SL_MOQ_STREAM_SUBSCRIBE);
	assert_int_equal(sl_moq_decode_subscribe(&r, &m, &why), 0);
	assert_int_equal(sl_reader_left(&r), 0);
	assert_int_equal(m.id, 0);
	assert_true(str_eq(m.broadcast, "demo"));
	assert_true(str_eq(m.track, "clock"));
	assert_int_equal(m.priority, 1);
	assert_false(m.ordered);
	assert_int_equal(m.max_latency_ms, 0);
	assert_false(m.has_start);
	assert_false(m.has_end);

	uint8_t out[64];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_SUBSCRIBE), 0);
	assert_int_equal(sl_moq_encode_subscribe(&w, &m), 0);
	assert_int_equal(sl_writer_len(&w), sizeof(golden_subscribe));
	assert_memory_equal(out, golden_subscribe, sizeof(golden_subscribe));
}

/* The SUBSCRIBE_OK example: type 0 before length 5. */
static void golden_subscribe_ok(void **state)
{
	(void)state;
	static const uint8_t golden[] = {0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00};
	struct sl_moq_response m = {.type = SL_MOQ_RESPONSE_OK, .u.ok = {.priority = 1}};
	uint8_t out[16];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_moq_encode_response(&w, &m), 0);
	assert_int_equal(sl_writer_len(&w), sizeof(golden));
	assert_memory_equal(out, golden, sizeof(golden));
	struct sl_reader r;
	struct sl_moq_response d;
	sl_reader_init(&r, golden, sizeof(golden));
	assert_int_equal(sl_moq_decode_response(&r, &d, NULL), 0);
	assert_int_equal(d.type, SL_MOQ_RESPONSE_OK);
	assert_int_equal(d.u.ok.priority, 1);
}

/* Every message survives encode -> decode, and "+1" fields carry sequence + 1 on the wire. */
static void every_message_round_trips(void **state)
{
	(void)state;
	uint8_t buf[4096];
	struct sl_writer w;
	struct sl_reader r;
	sl_writer_init(&w, buf, sizeof(buf));

	struct sl_moq_announce_interest ai = {STR("room"), 7};
	struct sl_moq_announce an = {true, STR("alice"), 2, {11, 22}};
	struct sl_moq_subscribe sub = {
		9, STR("room/alice"), STR("video"), 200, true, 1500, true, 5, true, 10};
	struct sl_moq_subscribe_terms up = {3, false, 250, true, 0, false, 0};
	struct sl_moq_response drop = {.type = SL_MOQ_RESPONSE_DROP, .u.drop = {4, 8, 13}};
	struct sl_moq_group grp = {9, 123456};
	struct sl_moq_fetch fe = {STR("room/alice"), STR("video"), 5, 77};
	struct sl_moq_probe pr = {2500000, 1};
	struct sl_moq_goaway ga = {STR("moq://other:443")};
	assert_int_equal(sl_moq_encode_announce_interest(&w, &ai), 0);
	assert_int_equal(sl_moq_encode_announce(&w, &an), 0);
	size_t sub_at = sl_writer_len(&w);
	assert_int_equal(sl_moq_encode_subscribe(&w, &sub), 0);
	assert_int_equal(sl_moq_encode_subscribe_update(&w, &up), 0);
	assert_int_equal(sl_moq_encode_response(&w, &drop), 0);
	assert_int_equal(sl_moq_encode_group(&w, &grp), 0);
	assert_int_equal(sl_moq_encode_frame_header(&w, 3), 0);
	assert_int_equal(sl_writer_bytes(&w, "abc", 3), 0);
	assert_int_equal(sl_moq_encode_fetch(&w, &fe), 0);
	assert_int_equal(sl_moq_encode_probe(&w, &pr), 0);
	assert_int_equal(sl_moq_encode_goaway(&w, &ga), 0);
	/* start = 5 and end = 10 travel as 6 and 11: the last two body bytes of SUBSCRIBE. */
	size_t sub_len = buf[sub_at];
	assert_int_equal(buf[sub_at + sub_len - 1], 6);
	assert_int_equal(buf[sub_at + sub_len], 11);

	sl_reader_init(&r, buf, sl_writer_len(&w));
	struct sl_moq_announce_interest ai2;
	struct sl_moq_announce an2;
	struct sl_moq_subscribe sub2;
	struct sl_moq_subscribe_terms up2;
	struct sl_moq_response drop2;
	struct sl_moq_group grp2;
	struct sl_moq_fetch fe2;
	struct sl_moq_probe pr2;
	struct sl_moq_goaway ga2;
	uint64_t size;
	const uint8_t *p;
	assert_int_equal(sl_moq_decode_announce_interest(&r, &ai2, NULL), 0);
	assert_true(str_eq(ai2.prefix, "room") && ai2.exclude_hop == 7);
	assert_int_equal(sl_moq_decode_announce(&r, &an2, NULL), 0);
	assert_true(an2.active && str_eq(an2.suffix, "alice") && an2.hop_count == 2);
	assert_true(an2.hops[0] == 11 && an2.hops[1] == 22);
	assert_int_equal(sl_moq_decode_subscribe(&r, &sub2, NULL), 0);
	assert_true(sub2.id == 9 && str_eq(sub2.broadcast, "room/alice") &&
		    str_eq(sub2.track, "video"));
	assert_true(sub2.priority == 200 && sub2.ordered && sub2.max_latency_ms == 1500);
	assert_true(sub2.has_start && sub2.start == 5 && sub2.has_end && sub2.end == 10);
	assert_int_equal(sl_moq_decode_subscribe_update(&r, &up2, NULL), 0);
	assert_true(up2.priority == 3 && !up2.ordered && up2.max_latency_ms == 250);
	assert_true(up2.has_start && up2.start == 0 && !up2.has_end);
	assert_int_equal(sl_moq_decode_response(&r, &drop2, NULL), 0);
	assert_true(drop2.type == SL_MOQ_RESPONSE_DROP && drop2.u.drop.start == 4 &&
		    drop2.u.drop.end == 8 && drop2.u.drop.error == 13);
	assert_int_equal(sl_moq_decode_group(&r, &grp2, NULL), 0);
	assert_true(grp2.subscribe_id == 9 && grp2.sequence == 123456);
	assert_int_equal(sl_moq_decode_frame_header(&r, 1 << 20, &size, NULL), 0);
	assert_int_equal(size, 3);
	assert_int_equal(sl_reader_bytes(&r, 3, &p), 0);
	assert_memory_equal(p, "abc", 3);
	assert_int_equal(sl_moq_decode_fetch(&r, &fe2, NULL), 0);
	assert_true(str_eq(fe2.track, "video") && fe2.priority == 5 && fe2.group == 77);
	assert_int_equal(sl_moq_decode_probe(&r, &pr2, NULL), 0);
	assert_true(pr2.bitrate == 2500000 && pr2.rtt_ms == 1);
	assert_int_equal(sl_moq_decode_goaway(&r, &ga2, NULL), 0);
	assert_true(str_eq(ga2.uri, "moq://other:443"));
	assert_int_equal(sl_reader_left(&r), 0);
}

/* A message split anywhere reports SL_ETRUNC and leaves the reader in place, so a stream
 * decoder can wait for more bytes; the whole message then decodes. */
static void every_prefix_is_truncated_not_corrupt(void **state)
{
	(void)state;
	for (size_t n = 1; n < sizeof(golden_subscribe); n++) {
		struct sl_reader r;
		struct sl_moq_subscribe m;
		sl_reader_init(&r, golden_subscribe + 1, n - 1);
		assert_int_equal(sl_moq_decode_subscribe(&r, &m, NULL), SL_ETRUNC);
		assert_int_equal(sl_reader_left(&r), n - 1);
	}
}

static void malformed_messages_name_the_field(void **state)
{
	(void)state;
	struct sl_reader r;
	struct sl_moq_subscribe m;
	const char *why = NULL;
	uint8_t bad[sizeof(golden_subscribe)];

	memcpy(bad, golden_subscribe, sizeof(bad));
	bad[15] = 2; /* ordered must be 0 or 1 */
	sl_reader_init(&r, bad + 1, sizeof(bad) - 1);
	assert_int_equal(sl_moq_decode_subscribe(&r, &m, &why), SL_ECORRUPT);
	assert_string_equal(why, "subscribe.ordered");
	assert_int_equal(sl_reader_left(&r), sizeof(bad) - 1);

	memcpy(bad, golden_subscribe, sizeof(bad));
	bad[1] = 0x10; /* length one short: the last field is missing inside the message */
	sl_reader_init(&r, bad + 1, sizeof(bad) - 1);
	assert_int_equal(sl_moq_decode_subscribe(&r, &m, &why), SL_ECORRUPT);
	assert_string_equal(why, "subscribe.end");

	/* A trailing byte inside the declared length. */
	static const uint8_t trailing[] = {0x03, 0x01, 0x02, 0xff};
	struct sl_moq_group g;
	sl_reader_init(&r, trailing, sizeof(trailing));
	assert_int_equal(sl_moq_decode_group(&r, &g, &why), SL_ECORRUPT);
	assert_string_equal(why, "trailing bytes after the last field");

	/* 33 hops. */
	uint8_t hops[64] = {0, 1, 0, 33};
	hops[0] = 3 + 33;
	struct sl_moq_announce a;
	sl_reader_init(&r, hops, 1 + 3 + 33);
	assert_int_equal(sl_moq_decode_announce(&r, &a, &why), SL_ERANGE);

	/* Unknown response type, and a string longer than the limit. */
	static const uint8_t unknown[] = {0x07, 0x00};
	struct sl_moq_response resp;
	sl_reader_init(&r, unknown, sizeof(unknown));
	assert_int_equal(sl_moq_decode_response(&r, &resp, &why), SL_ECORRUPT);
	static const uint8_t longstr[] = {0x05, 0x50, 0x00, 'x', 'x', 'x'};
	struct sl_moq_goaway ga;
	sl_reader_init(&r, longstr, sizeof(longstr));
	assert_int_equal(sl_moq_decode_goaway(&r, &ga, &why), SL_ERANGE);
	assert_string_equal(why, "goaway.uri");

	uint64_t size;
	static const uint8_t frame[] = {0x44, 0x00};
	sl_reader_init(&r, frame, sizeof(frame));
	assert_int_equal(sl_moq_decode_frame_header(&r, 100, &size, &why), SL_ERANGE);
	assert_int_equal(sl_reader_left(&r), 2);
}

static void encoders_refuse_what_peers_cannot_read(void **state)
{
	(void)state;
	uint8_t buf[8];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	struct sl_moq_group g = {UINT64_C(1) << 53, 0};
	assert_int_equal(sl_moq_encode_group(&w, &g), SL_ERANGE);
	struct sl_moq_subscribe_terms t = {.has_start = true, .start = SL_MOQ_MAX_VALUE};
	assert_int_equal(sl_moq_encode_subscribe_update(&w, &t), SL_ERANGE);
	struct sl_moq_announce a = {.hop_count = SL_MOQ_MAX_HOPS + 1};
	assert_int_equal(sl_moq_encode_announce(&w, &a), SL_ERANGE);
	struct sl_moq_goaway ga = {STR("a-uri-longer-than-eight-bytes")};
	assert_int_equal(sl_moq_encode_goaway(&w, &ga), SL_ENOSPC);
	assert_int_equal(sl_writer_len(&w), 0);
	assert_int_equal(sl_moq_encode_frame_header(&w, UINT64_C(1) << 53), SL_ERANGE);
	struct sl_moq_response bad = {.type = 9};
	assert_int_equal(sl_moq_encode_response(&w, &bad), SL_EINVAL);
}

static void errors_map_to_moq_codes(void **state)
{
	(void)state;
	assert_int_equal(sl_moq_error_code(SL_ECORRUPT), SL_MOQ_ERR_DECODE);
	assert_int_equal(sl_moq_error_code(SL_EDUP), SL_MOQ_ERR_DUPLICATE);
	assert_int_equal(sl_moq_error_code(SL_ENOTFOUND), SL_MOQ_ERR_NOT_FOUND);
	assert_int_equal(sl_moq_error_code(SL_EDROPPED), SL_MOQ_ERR_DROPPED);
	assert_int_equal(sl_moq_error_code(SL_ECANCEL), SL_MOQ_ERR_CANCEL);
}

/* ---- moq-lite-05: golden bytes from the reference client's captures
 * (../shared/docs/moq-lite-05-qmux.md section (f), interop-traces/lite05-qmux01-*.txt) ---- */

/* Decodes one message with fn into m, checking every byte was used. */
#define DECODE_ALL(fn, bytes, m)                                                                   \
	do {                                                                                       \
		struct sl_reader r_;                                                               \
		const char *why_ = NULL;                                                           \
		sl_reader_init(&r_, (bytes), sizeof(bytes));                                       \
		assert_int_equal(fn(&r_, (m), &why_), 0);                                          \
		assert_int_equal(sl_reader_left(&r_), 0);                                          \
	} while (0)

/* Encodes m with fn and compares with bytes. */
#define ENCODE_EQ(fn, m, bytes)                                                                    \
	do {                                                                                       \
		uint8_t out_[128];                                                                 \
		struct sl_writer w_;                                                               \
		sl_writer_init(&w_, out_, sizeof(out_));                                           \
		assert_int_equal(fn(&w_, (m)), 0);                                                 \
		assert_int_equal(sl_writer_len(&w_), sizeof(bytes));                               \
		assert_memory_equal(out_, (bytes), sizeof(bytes));                                 \
	} while (0)

/* The relay's SETUP: one parameter, origin 0x102e66a1fcac1f as an 8-byte varint. */
static void lite05_setup(void **state)
{
	(void)state;
	static const uint8_t g[] = {0x0b, 0x01, 0x05, 0x08, 0xc0, 0x10,
				    0x2e, 0x66, 0xa1, 0xfc, 0xac, 0x1f};
	struct sl_moq_setup m;
	DECODE_ALL(sl_moq_decode_setup, g, &m);
	assert_true(m.has_origin);
	assert_false(m.has_probe || m.has_path || m.has_role);
	assert_int_equal(m.origin, UINT64_C(0x102e66a1fcac1f));
	/* Our encoder writes the shortest varint: 0x102e66a1fcac1f needs 8 bytes anyway. */
	ENCODE_EQ(sl_moq_encode_setup, &m, g);

	/* Unknown ids are skipped; a repeated known one is an error; a numeric value must fill
	 * its length. */
	static const uint8_t unknown[] = {0x07, 0x02, 0x09, 0x01, 0xaa, 0x01, 0x01, 0x02};
	DECODE_ALL(sl_moq_decode_setup, unknown, &m);
	assert_true(m.has_probe);
	assert_int_equal(m.probe, 2);
	static const uint8_t twice[] = {0x07, 0x02, 0x01, 0x01, 0x00, 0x01, 0x01, 0x01};
	static const uint8_t loose[] = {0x05, 0x01, 0x01, 0x02, 0x01, 0x00};
	struct sl_reader r;
	const char *why = NULL;
	sl_reader_init(&r, twice, sizeof(twice));
	assert_int_equal(sl_moq_decode_setup(&r, &m, &why), SL_ECORRUPT);
	assert_string_equal(why, "setup.parameter repeated");
	assert_int_equal(sl_reader_left(&r), sizeof(twice));
	sl_reader_init(&r, loose, sizeof(loose));
	assert_int_equal(sl_moq_decode_setup(&r, &m, &why), SL_ECORRUPT);
}

/* G2: the client's ANNOUNCE_REQUEST, the relay's ANNOUNCE_OK and ANNOUNCE. */
static void lite05_announce(void **state)
{
	(void)state;
	static const uint8_t req[] = {0x09, 0x00, 0xc0, 0x1c, 0x43, 0x69, 0x8e, 0xfb, 0xa2, 0x87};
	static const uint8_t ok[] = {0x09, 0xc0, 0x10, 0x2e, 0x66, 0xa1, 0xfc, 0xac, 0x1f, 0x00};
	static const uint8_t ann[] = {0x0d, 0x01, 0x0a, 'd', 'e', 'm', 'o',
				      '/',  'b',  'c',	'a', 's', 't', 0x00};
	static const uint8_t accepted[] = {0x0d, 0x02, 0x0a, 'd', 'e', 'm', 'o',
					   '/',	 'b',  'c',  'a', 's', 't', 0x00};
	static const uint8_t bad[] = {0x03, 0x03, 0x00, 0x00};
	struct sl_moq_announce_interest ai;
	DECODE_ALL(sl_moq_decode_announce_interest, req, &ai);
	assert_int_equal(ai.prefix.len, 0);
	assert_int_equal(ai.exclude_hop, UINT64_C(0x1c43698efba287));
	struct sl_moq_announce_ok aok = {.hop_id = UINT64_C(0x102e66a1fcac1f)};
	ENCODE_EQ(sl_moq_encode_announce_ok, &aok, ok);
	memset(&aok, 0xff, sizeof(aok));
	DECODE_ALL(sl_moq_decode_announce_ok, ok, &aok);
	assert_int_equal(aok.active_count, 0);
	struct sl_moq_announce a;
	DECODE_ALL(sl_moq_decode_announce05, ann, &a);
	assert_true(a.active);
	assert_true(str_eq(a.suffix, "demo/bcast"));
	assert_int_equal(a.hop_count, 0);
	ENCODE_EQ(sl_moq_encode_announce, &a, ann);
	DECODE_ALL(sl_moq_decode_announce05, accepted, &a);
	assert_true(a.active);
	struct sl_reader r;
	const char *why = NULL;
	sl_reader_init(&r, bad, sizeof(bad));
	assert_int_equal(sl_moq_decode_announce05(&r, &a, &why), SL_ECORRUPT);
	/* lite-04 knows no status 2. */
	sl_reader_init(&r, accepted, sizeof(accepted));
	assert_int_equal(sl_moq_decode_announce(&r, &a, &why), SL_ECORRUPT);
}

/* G3: TRACK and TRACK_INFO (max latency 30000 as the client's 4-byte varint, timescale 1000). */
static void lite05_track(void **state)
{
	(void)state;
	static const uint8_t track[] = {0x11, 0x0a, 'd', 'e',  'm', 'o', '/', 'b', 'c',
					'a',  's',  't', 0x05, 'v', 'i', 'd', 'e', 'o'};
	static const uint8_t info[] = {0x08, 0x00, 0x00, 0x80, 0x00, 0x75, 0x30, 0x43, 0xe8};
	static const uint8_t info_short[] = {0x06, 0x00, 0x00, 0x80, 0x00, 0x75, 0x30, 0x00};
	struct sl_moq_track t;
	DECODE_ALL(sl_moq_decode_track, track, &t);
	assert_true(str_eq(t.broadcast, "demo/bcast"));
	assert_true(str_eq(t.track, "video"));
	ENCODE_EQ(sl_moq_encode_track, &t, track);
	struct sl_moq_track_info ti;
	DECODE_ALL(sl_moq_decode_track_info, info, &ti);
	assert_int_equal(ti.priority, 0);
	assert_false(ti.ordered);
	assert_int_equal(ti.max_latency_ms, 30000);
	assert_int_equal(ti.timescale, 1000);
	/* We write 30000 in the shortest form (4 bytes either way here). */
	ENCODE_EQ(sl_moq_encode_track_info, &ti, info);
	struct sl_reader r;
	const char *why = NULL;
	sl_reader_init(&r, info_short, sizeof(info_short));
	assert_int_equal(sl_moq_decode_track_info(&r, &ti, &why), SL_ECORRUPT);
	ti.timescale = 0;
	uint8_t out[32];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_moq_encode_track_info(&w, &ti), SL_ERANGE);
}

/* G3/G4: SUBSCRIBE from group 0, ordered; SUBSCRIBE_OK group 0; SUBSCRIBE_END group 2; DROP. */
static void lite05_subscribe(void **state)
{
	(void)state;
	static const uint8_t sub[] = {0x1a, 0x00, 0x0a, 'd',  'e',  'm',  'o',	'/',  'b',
				      'c',  'a',  's',	't',  0x05, 'v',  'i',	'd',  'e',
				      'o',  0x00, 0x01, 0x80, 0x00, 0x75, 0x30, 0x01, 0x00};
	static const uint8_t ok[] = {0x00, 0x01, 0x00};
	static const uint8_t end[] = {0x01, 0x01, 0x02};
	static const uint8_t drop[] = {0x02, 0x03, 0x04, 0x05, 0x18};
	struct sl_moq_subscribe m;
	DECODE_ALL(sl_moq_decode_subscribe, sub, &m);
	assert_int_equal(m.id, 0);
	assert_true(m.ordered);
	assert_int_equal(m.max_latency_ms, 30000);
	assert_true(m.has_start);
	assert_int_equal(m.start, 0);
	assert_false(m.has_end);
	struct sl_moq_response05 resp = {.type = SL_MOQ_RESPONSE05_OK, .u.group = 0};
	ENCODE_EQ(sl_moq_encode_response05, &resp, ok);
	resp = (struct sl_moq_response05){.type = SL_MOQ_RESPONSE05_END, .u.group = 2};
	ENCODE_EQ(sl_moq_encode_response05, &resp, end);
	DECODE_ALL(sl_moq_decode_response05, end, &resp);
	assert_int_equal(resp.type, SL_MOQ_RESPONSE05_END);
	assert_int_equal(resp.u.group, 2);
	DECODE_ALL(sl_moq_decode_response05, drop, &resp);
	assert_int_equal(resp.type, SL_MOQ_RESPONSE05_DROP);
	assert_int_equal(resp.u.drop.start, 4);
	assert_int_equal(resp.u.drop.end, 5);
	assert_int_equal(resp.u.drop.error, SL_MOQ_ERR_DROPPED);
	ENCODE_EQ(sl_moq_encode_response05, &resp, drop);
	static const uint8_t unknown[] = {0x03, 0x01, 0x00};
	struct sl_reader r;
	const char *why = NULL;
	sl_reader_init(&r, unknown, sizeof(unknown));
	assert_int_equal(sl_moq_decode_response05(&r, &resp, &why), SL_ECORRUPT);
	assert_int_equal(sl_reader_left(&r), sizeof(unknown));
}

/* G4: a group stream's frames, timestamps as zigzag deltas: 0, +20, and group 1's first frame at
 * 40 as a 2-byte varint. */
static void lite05_frames(void **state)
{
	(void)state;
	static const uint8_t g0[] = {0x00, 0x04, 'g', '0', 'f', '0',
				     0x28, 0x04, 'g', '0', 'f', '1'};
	static const uint8_t g1[] = {0x40, 0x50, 0x04, 'g', '1', 'f', '0'};
	struct sl_reader r;
	const char *why = NULL;
	int64_t d;
	uint64_t n;
	sl_reader_init(&r, g0, sizeof(g0));
	assert_int_equal(sl_moq_decode_frame_header05(&r, 16, &d, &n, &why), 0);
	assert_int_equal(d, 0);
	assert_int_equal(n, 4);
	const uint8_t *payload;
	assert_int_equal(sl_reader_bytes(&r, 4, &payload), 0);
	assert_memory_equal(payload, "g0f0", 4);
	assert_int_equal(sl_moq_decode_frame_header05(&r, 16, &d, &n, &why), 0);
	assert_int_equal(d, 20);
	sl_reader_init(&r, g1, sizeof(g1));
	assert_int_equal(sl_moq_decode_frame_header05(&r, 16, &d, &n, &why), 0);
	assert_int_equal(d, 40);
	/* Too big: reader untouched; truncated between the fields: reader untouched. */
	sl_reader_init(&r, g1, sizeof(g1));
	assert_int_equal(sl_moq_decode_frame_header05(&r, 3, &d, &n, &why), SL_ERANGE);
	assert_int_equal(sl_reader_left(&r), sizeof(g1));
	sl_reader_init(&r, g1, 2);
	assert_int_equal(sl_moq_decode_frame_header05(&r, 16, &d, &n, &why), SL_ETRUNC);
	assert_int_equal(sl_reader_left(&r), 2);
	uint8_t out[16];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_moq_encode_frame_header05(&w, 40, 4), 0);
	assert_memory_equal(out, g1, 3);
	/* Zigzag both ways, negatives included. */
	static const int64_t v[] = {0, -1, 1, -2, 2, 20, -20, INT64_MAX / 4, INT64_MIN / 4};
	static const uint64_t z[] = {0, 1, 2, 3, 4, 40, 39};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_true(sl_moq_unzigzag(sl_moq_zigzag(v[i])) == v[i]);
		if (i < sizeof(z) / sizeof(z[0]))
			assert_true(sl_moq_zigzag(v[i]) == z[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(golden_subscribe_decodes_and_encodes),
		cmocka_unit_test(golden_subscribe_ok),
		cmocka_unit_test(every_message_round_trips),
		cmocka_unit_test(every_prefix_is_truncated_not_corrupt),
		cmocka_unit_test(malformed_messages_name_the_field),
		cmocka_unit_test(encoders_refuse_what_peers_cannot_read),
		cmocka_unit_test(errors_map_to_moq_codes),
		cmocka_unit_test(lite05_setup),
		cmocka_unit_test(lite05_announce),
		cmocka_unit_test(lite05_track),
		cmocka_unit_test(lite05_subscribe),
		cmocka_unit_test(lite05_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
