/* SPDX-License-Identifier: Apache-2.0 */
/* Segment events: the exact bytes, round trips, and every way a decoder must refuse input. */
#include "core/test_common.h"
#include "core/err.h"
#include "durable/segment.h"

#include <stdio.h>
#include <string.h>

static struct sl_seg_range two_ranges[2] = {
	{.stream_id = 3, .partition = 1, .first = 0, .count = 2, .off = 0, .len = 40, .bytes = 9},
	{.stream_id = 3,
	 .partition = 70,
	 .first = 300,
	 .count = 1,
	 .off = 40,
	 .len = 36,
	 .bytes = 4},
};

static struct sl_seg_event sample(void)
{
	struct sl_seg_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.boot = 7;
	ev.worker = 1;
	ev.seq = 42;
	ev.wall_ms = 1700000000000ull;
	snprintf(ev.key, sizeof(ev.key), "data/b");
	ev.object_size = 76;
	ev.nranges = 2;
	ev.ranges = two_ranges;
	return ev;
}

/* Documented in docs/durable.md: the same bytes. */
static const uint8_t golden[] = {
	'S',  'L',  'S',  'G',	0x01,			/* magic, version */
	0x07,						/* boot 7 */
	0x01,						/* worker 1 */
	0x2a,						/* seq 42 */
	0xc0, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* wall_ms 1700000000000 (8-byte varint) */
	0x06, 'd',  'a',  't',	'a',  '/',  'b',	/* key "data/b" */
	0x40, 0x4c,					/* object_size 76 (2-byte varint) */
	0x02,						/* 2 ranges */
	0x03, 0x01, 0x00, 0x02, 0x00, 0x28, 0x09, /* stream 3, p1, first 0, 2 recs @0+40, 9 B */
	0x03, 0x40, 0x46, 0x41, 0x2c, 0x01, 0x28, 0x24, 0x04, /* p70, first 300, 1 @40+36, 4 B */
};

static void encodes_the_documented_bytes(void **state)
{
	(void)state;
	struct sl_seg_event ev = sample();
	struct sl_buf *b;
	assert_int_equal(sl_seg_encode(&ev, &b), 0);
	assert_int_equal(b->len, sizeof(golden));
	assert_int_equal(sl_seg_encoded_size(&ev), sizeof(golden));
	assert_memory_equal(b->data, golden, sizeof(golden));
	sl_buf_unref(b);
}

static void round_trip(void **state)
{
	(void)state;
	struct sl_seg_event out;
	const char *why = NULL;
	assert_int_equal(sl_seg_decode(golden, sizeof(golden), &out, &why), 0);
	assert_int_equal(out.boot, 7);
	assert_int_equal(out.worker, 1);
	assert_int_equal(out.seq, 42);
	assert_int_equal(out.wall_ms, 1700000000000ull);
	assert_string_equal(out.key, "data/b");
	assert_int_equal(out.object_size, 76);
	assert_int_equal(out.nranges, 2);
	assert_memory_equal(out.ranges, two_ranges, sizeof(two_ranges));
	sl_seg_event_release(&out);
	sl_seg_event_release(&out); /* idempotent */
}

static void truncation_at_every_byte_is_refused(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(golden); n++) {
		struct sl_seg_event out;
		const char *why = NULL;
		int rc = sl_seg_decode(golden, n, &out, &why);
		if (rc != SL_ETRUNC)
			fail_msg("length %zu: %s (%s)", n, sl_errname(rc), why ? why : "-");
		assert_non_null(why);
		assert_null(out.ranges);
	}
}

static void bad_input_is_named(void **state)
{
	(void)state;
	uint8_t b[sizeof(golden) + 1];
	struct sl_seg_event out;
	const char *why;

	memcpy(b, golden, sizeof(golden));
	b[0] = 'X';
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.magic");

	memcpy(b, golden, sizeof(golden));
	b[4] = 3;
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ENOTSUP);
	assert_string_equal(why, "segment.version");

	memcpy(b, golden, sizeof(golden));
	b[sizeof(golden)] = 0;
	assert_int_equal(sl_seg_decode(b, sizeof(golden) + 1, &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.trailing");

	/* A range that runs past the object: len 36 -> 37 at offset 40 of a 76-byte object. */
	memcpy(b, golden, sizeof(golden));
	b[sizeof(golden) - 2] = 0x25;
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.range.bounds");

	/* A range of zero records. */
	memcpy(b, golden, sizeof(golden));
	b[29] = 0x00; /* the first range's count */
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ECORRUPT);

	/* A key that is not a valid object key ("data//" style: '/' -> empty segment). */
	memcpy(b, golden, sizeof(golden));
	b[21] = '/';
	b[20] = '/';
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.key");

	/* Zero ranges, and more ranges than the bytes can hold. */
	memcpy(b, golden, sizeof(golden));
	b[25] = 0x00;
	assert_int_equal(sl_seg_decode(b, 26, &out, &why), SL_ERANGE);
	b[25] = 0x3f;
	assert_int_equal(sl_seg_decode(b, sizeof(golden), &out, &why), SL_ETRUNC);
}

static void encoder_refuses_what_decoder_would(void **state)
{
	(void)state;
	struct sl_seg_event ev = sample();
	struct sl_buf *b = NULL;
	struct sl_seg_range r = two_ranges[0];
	ev.ranges = &r;
	ev.nranges = 1;
	r.len = 77; /* past the object */
	assert_int_equal(sl_seg_encode(&ev, &b), SL_EINVAL);
	r = two_ranges[0];
	r.count = 0;
	assert_int_equal(sl_seg_encode(&ev, &b), SL_EINVAL);
	r = two_ranges[0];
	ev.nranges = 0;
	assert_int_equal(sl_seg_encode(&ev, &b), SL_EINVAL);
	ev.nranges = 1;
	snprintf(ev.key, sizeof(ev.key), "../x");
	assert_int_equal(sl_seg_encode(&ev, &b), SL_EINVAL);
	assert_null(b);
}

static void objects_are_refcounted(void **state)
{
	(void)state;
	struct sl_dobj *o = sl_dobj_new("data/x", 10);
	assert_non_null(o);
	assert_string_equal(o->key, "data/x");
	sl_dobj_ref(o);
	assert_false(sl_dobj_unref(o));
	assert_true(sl_dobj_unref(o));
	sl_dobj_free(o);
}

/* ---- version 2: the idempotent writes of each range ---- */

static struct sl_seg_idem idem_p1[2] = {
	{.producer_id = 0x1234, .sequence = 0, .offset = 0, .count = 1},
	{.producer_id = 9, .sequence = 70, .offset = 1, .count = 1},
};

static struct sl_seg_range idem_ranges[2] = {
	{.stream_id = 3,
	 .partition = 1,
	 .first = 0,
	 .count = 2,
	 .off = 0,
	 .len = 40,
	 .bytes = 9,
	 .nidem = 2,
	 .idem = idem_p1},
	{.stream_id = 3,
	 .partition = 70,
	 .first = 300,
	 .count = 1,
	 .off = 40,
	 .len = 36,
	 .bytes = 4},
};

/* Documented in docs/durable.md: the sample event with idempotent writes in its first range. */
static const uint8_t golden_v2[] = {
	'S',  'L',  'S',  'G',	0x02,			/* magic, version 2 */
	0x07, 0x01, 0x2a,				/* boot 7, worker 1, seq 42 */
	0xc0, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, /* wall_ms 1700000000000 */
	0x06, 'd',  'a',  't',	'a',  '/',  'b',	/* key "data/b" */
	0x40, 0x4c,					/* object_size 76 */
	0x02,						/* 2 ranges */
	0x03, 0x01, 0x00, 0x02, 0x00, 0x28, 0x09, /* stream 3, p1, first 0, 2 recs @0+40, 9 B */
	0x02,					  /* 2 idempotent writes: */
	0x52, 0x34, 0x00, 0x00, 0x01, /* producer 0x1234, sequence 0, offset 0 + 0, 1 record */
	0x09, 0x40, 0x46, 0x01, 0x01, /* producer 9, sequence 70, offset 0 + 1, 1 record */
	0x03, 0x40, 0x46, 0x41, 0x2c, 0x01, 0x28, 0x24, 0x04, /* p70, first 300, 1 @40+36, 4 B */
	0x00,						      /* no idempotent writes */
};

static void v2_encodes_the_documented_bytes(void **state)
{
	(void)state;
	struct sl_seg_event ev = sample();
	ev.ranges = idem_ranges;
	struct sl_buf *b;
	assert_int_equal(sl_seg_encode(&ev, &b), 0);
	assert_int_equal(sl_seg_encoded_size(&ev), sizeof(golden_v2));
	assert_int_equal(b->len, sizeof(golden_v2));
	assert_memory_equal(b->data, golden_v2, sizeof(golden_v2));
	sl_buf_unref(b);

	struct sl_seg_event out;
	const char *why = NULL;
	assert_int_equal(sl_seg_decode(golden_v2, sizeof(golden_v2), &out, &why), 0);
	assert_int_equal(out.nranges, 2);
	assert_int_equal(out.ranges[0].nidem, 2);
	for (int k = 0; k < 2; k++) {
		const struct sl_seg_idem *g = &out.ranges[0].idem[k], *x = &idem_p1[k];
		assert_true(g->producer_id == x->producer_id && g->sequence == x->sequence &&
			    g->offset == x->offset && g->count == x->count);
	}
	assert_int_equal(out.ranges[1].nidem, 0);
	assert_null(out.ranges[1].idem);
	assert_int_equal(out.ranges[1].first, 300);
	sl_seg_event_release(&out);

	for (size_t n = 0; n < sizeof(golden_v2); n++) {
		why = NULL;
		int rc = sl_seg_decode(golden_v2, n, &out, &why);
		if (rc != SL_ETRUNC)
			fail_msg("length %zu: %s (%s)", n, sl_errname(rc), why ? why : "-");
		assert_null(out.ranges);
		assert_null(out.idem);
	}
}

static void v2_bad_idem_is_named(void **state)
{
	(void)state;
	uint8_t b[sizeof(golden_v2)];
	struct sl_seg_event out;
	const char *why;
	/* Byte 33 is the first range's nidem, 38 the first write's count, 42 the second's delta. */
	memcpy(b, golden_v2, sizeof(b));
	b[38] = 0x00; /* a write of zero records */
	assert_int_equal(sl_seg_decode(b, sizeof(b), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.range.idem.offset");
	memcpy(b, golden_v2, sizeof(b));
	b[42] = 0x02; /* past the range's two records */
	assert_int_equal(sl_seg_decode(b, sizeof(b), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.range.idem.offset");
	memcpy(b, golden_v2, sizeof(b));
	b[42] = 0x00; /* overlaps the first write */
	assert_int_equal(sl_seg_decode(b, sizeof(b), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.range.idem.order");
	memcpy(b, golden_v2, sizeof(b));
	b[33] = 0x03; /* more writes than the range's records */
	assert_int_equal(sl_seg_decode(b, sizeof(b), &out, &why), SL_ECORRUPT);
	assert_string_equal(why, "segment.range.nidem");
	assert_null(out.idem);

	/* The encoder refuses the same. */
	struct sl_seg_event ev = sample();
	struct sl_seg_idem bad[2] = {idem_p1[0], idem_p1[1]};
	struct sl_seg_range r[2] = {idem_ranges[0], idem_ranges[1]};
	r[0].idem = bad;
	ev.ranges = r;
	struct sl_buf *out_b = NULL;
	bad[1].offset = 0;
	assert_int_equal(sl_seg_encode(&ev, &out_b), SL_EINVAL);
	bad[1].offset = 1;
	bad[1].count = 2;
	assert_int_equal(sl_seg_encode(&ev, &out_b), SL_EINVAL);
	bad[1].count = 0;
	assert_int_equal(sl_seg_encode(&ev, &out_b), SL_EINVAL);
	assert_null(out_b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(encodes_the_documented_bytes),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(truncation_at_every_byte_is_refused),
		cmocka_unit_test(bad_input_is_named),
		cmocka_unit_test(encoder_refuses_what_decoder_would),
		cmocka_unit_test(objects_are_refcounted),
		cmocka_unit_test(v2_encodes_the_documented_bytes),
		cmocka_unit_test(v2_bad_idem_is_named),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
