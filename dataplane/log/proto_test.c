/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/varint.h"
#include "log/proto.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BYTES(s) ((struct sl_lp_bytes){(const uint8_t *)(s), sizeof(s) - 1})

static int bytes_eq(struct sl_lp_bytes b, const char *c)
{
	return b.n == strlen(c) && (b.n == 0 || memcmp(b.p, c, b.n) == 0);
}

/* ---- golden messages: hand-written from the layout in docs/log-protocol.md ---- */

/* PRODUCE, keyed: request 7 to "orders", key "user-1", durable, records "hello" and "world". */
static const uint8_t g_produce_key[] = {
	0x01, 0x1e,			     /* type PRODUCE, body 30 bytes */
	0x07,				     /* request_id 7 */
	0x06, 'o',  'r', 'd', 'e', 'r', 's', /* stream "orders" */
	0x01,				     /* selector 1: a key follows */
	0x06, 'u',  's', 'e', 'r', '-', '1', /* key "user-1" */
	0x02,				     /* durability 2: durable */
	0x02,				     /* count 2 */
	0x05, 'h',  'e', 'l', 'l', 'o',	     /* record "hello" */
	0x05, 'w',  'o', 'r', 'l', 'd',	     /* record "world" */
};

/* PRODUCE to an explicit partition, with two-byte varints and one empty record. */
static const uint8_t g_produce_part[] = {
	0x01, 0x0f,			     /* type PRODUCE, body 15 bytes */
	0x41, 0x2c,			     /* request_id 300 (two-byte varint 0x4000 | 300) */
	0x06, 'o',  'r', 'd', 'e', 'r', 's', /* stream "orders" */
	0x00,				     /* selector 0: a partition follows */
	0x40, 0x46,			     /* partition 70 */
	0x00,				     /* durability 0: applied */
	0x01,				     /* count 1 */
	0x00,				     /* record of length 0 */
};

static const uint8_t g_produce_ok[] = {
	0x02, 0x05, /* type PRODUCE_OK, body 5 bytes */
	0x07,	    /* request_id 7 */
	0x02,	    /* partition 2 */
	0x43, 0xe8, /* first_offset 1000 */
	0x02,	    /* count 2 */
};

static const uint8_t g_error[] = {
	0x03, 0x0f,					    /* type ERROR, body 15 bytes */
	0x09,						    /* request_id 9 */
	0x04,						    /* code 4: OVERLOADED */
	0x04,						    /* partition_plus_one 4: partition 3 */
	0x40, 0xfa,					    /* detail 250 (ms to back off) */
	0x09, 's',  'l', 'o', 'w', ' ', 'd', 'o', 'w', 'n', /* reason "slow down" */
};

static const uint8_t g_error_nopart[] = {
	0x03, 0x05, /* type ERROR, body 5 bytes */
	0x00,	    /* request_id 0 (a subscription stream) */
	0x08,	    /* code 8: MALFORMED */
	0x00,	    /* partition_plus_one 0: no partition */
	0x00,	    /* detail 0 */
	0x00,	    /* reason "" */
};

static const uint8_t g_hwm[] = {
	0x04, 0x08,			     /* type HWM, body 8 bytes */
	0x08,				     /* request_id 8 */
	0x06, 'o',  'r', 'd', 'e', 'r', 's', /* stream "orders" */
};

static const uint8_t g_hwm_ok[] = {
	0x05, 0x0b,		/* type HWM_OK, body 11 bytes */
	0x08,			/* request_id 8 */
	0x02,			/* count 2 */
	0x00, 0x05, 0x07,	/* partition 0: start 0, durable 5, high_water 7 */
	0x40, 0x64, 0x40, 0x64, /* partition 1: start 100, durable 100, */
	0x40, 0x64,		/* high_water 100 (empty, all trimmed) */
};

static const uint8_t g_subscribe[] = {
	0x10, 0x13,				 /* type SUBSCRIBE, body 19 bytes */
	0x06, 'o',  'r',  'd',	'e',  'r',  's', /* stream "orders" */
	0x00,					 /* isolation 0: durable */
	0x03,					 /* count 3 */
	0x00, 0x00,				 /* partition 0 from earliest (no offset field) */
	0x01, 0x01,				 /* partition 1 from latest (no offset field) */
	0x02, 0x02, 0x80, 0x00, 0x40, 0x00,	 /* partition 2 from offset 16384 (4 bytes) */
};

static const uint8_t g_assign[] = {
	0x11, 0x07,	  /* type ASSIGN, body 7 bytes */
	0x01,		  /* add_count 1 */
	0x05, 0x02, 0x2a, /* add partition 5 from offset 42 */
	0x02,		  /* remove_count 2 */
	0x00, 0x07,	  /* remove partitions 0 and 7 */
};

static const uint8_t g_started[] = {
	0x12, 0x02, /* type STARTED, body 2 bytes */
	0x05,	    /* partition 5 */
	0x2a,	    /* offset 42 */
};

static const uint8_t g_removed[] = {
	0x14, 0x01, /* type REMOVED, body 1 byte */
	0x07,	    /* partition 7 */
};

static const uint8_t g_records[] = {
	0x13, 0x16,					/* type RECORDS, body 22 bytes */
	0x02,						/* partition 2 */
	0xc0, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, /* first_offset 2^32 (8 bytes) */
	0x02,						/* count 2 */
	0x05, 'h',  'e',  'l',	'l',  'o',		/* offset 2^32: "hello" */
	0x05, 'w',  'o',  'r',	'l',  'd',		/* offset 2^32 + 1: "world" */
};

struct golden {
	const char *name;
	const uint8_t *p;
	size_t n;
};

static const struct golden goldens[] = {
	{"g_produce_key", g_produce_key, sizeof(g_produce_key)},
	{"g_produce_part", g_produce_part, sizeof(g_produce_part)},
	{"g_produce_ok", g_produce_ok, sizeof(g_produce_ok)},
	{"g_error", g_error, sizeof(g_error)},
	{"g_error_nopart", g_error_nopart, sizeof(g_error_nopart)},
	{"g_hwm", g_hwm, sizeof(g_hwm)},
	{"g_hwm_ok", g_hwm_ok, sizeof(g_hwm_ok)},
	{"g_subscribe", g_subscribe, sizeof(g_subscribe)},
	{"g_assign", g_assign, sizeof(g_assign)},
	{"g_started", g_started, sizeof(g_started)},
	{"g_removed", g_removed, sizeof(g_removed)},
	{"g_records", g_records, sizeof(g_records)},
};
#define NGOLDEN (sizeof(goldens) / sizeof(goldens[0]))

/* Splits a whole message into header and body; fails the test if the header is not whole. */
static void split(const uint8_t *msg, size_t n, struct sl_lp_header *h, const uint8_t **body)
{
	assert_int_equal(sl_lp_header_parse(msg, n, h), 0);
	assert_int_equal(h->hdr_len + h->len, n);
	*body = msg + h->hdr_len;
}

/*
 * Decodes a body of the given type and writes it again with the matching writer into w. Returns
 * the decoder's code; the writer must succeed whenever the decoder did, since everything a
 * decoder accepts under the default limits is writable.
 */
static int decode_and_rewrite(uint64_t type, const uint8_t *body, size_t n,
			      const struct sl_lp_limits *lim, struct sl_writer *w, const char **why)
{
	int rc;
	switch (type) {
	case SL_LP_PRODUCE: {
		struct sl_lp_produce m;
		struct sl_lp_bytes recs[16];
		if ((rc = sl_lp_decode_produce(body, n, lim, &m, why)) != 0)
			return rc;
		assert_true(m.count <= 16);
		struct sl_lp_record_iter it;
		sl_lp_records_init(&it, m.records, m.count);
		for (uint32_t i = 0; i < m.count; i++)
			assert_int_equal(sl_lp_records_next(&it, &recs[i]), 0);
		assert_int_equal(sl_lp_records_next(&it, &recs[0]), SL_EEOF);
		assert_int_equal(sl_lp_write_produce(w, &m, recs), 0);
		return 0;
	}
	case SL_LP_PRODUCE_OK: {
		struct sl_lp_produce_ok m;
		if ((rc = sl_lp_decode_produce_ok(body, n, &m, why)) != 0)
			return rc;
		assert_int_equal(sl_lp_write_produce_ok(w, &m), 0);
		return 0;
	}
	case SL_LP_ERROR: {
		struct sl_lp_error m;
		if ((rc = sl_lp_decode_error(body, n, &m, why)) != 0)
			return rc;
		assert_int_equal(sl_lp_write_error(w, &m), 0);
		return 0;
	}
	case SL_LP_HWM: {
		struct sl_lp_hwm m;
		if ((rc = sl_lp_decode_hwm(body, n, &m, why)) != 0)
			return rc;
		assert_int_equal(sl_lp_write_hwm(w, &m), 0);
		return 0;
	}
	case SL_LP_HWM_OK: {
		struct sl_lp_hwm_ok m;
		struct sl_lp_marks marks[16];
		if ((rc = sl_lp_decode_hwm_ok(body, n, lim, &m, why)) != 0)
			return rc;
		assert_true(m.count <= 16);
		struct sl_reader r;
		sl_reader_init(&r, m.entries.p, m.entries.n);
		for (uint32_t i = 0; i < m.count; i++)
			assert_int_equal(sl_lp_marks_next(&r, &marks[i]), 0);
		assert_int_equal(sl_lp_marks_next(&r, &marks[0]), SL_EEOF);
		assert_int_equal(sl_lp_write_hwm_ok(w, m.request_id, marks, m.count), 0);
		return 0;
	}
	case SL_LP_SUBSCRIBE: {
		struct sl_lp_subscribe m;
		struct sl_lp_start starts[16];
		if ((rc = sl_lp_decode_subscribe(body, n, lim, &m, why)) != 0)
			return rc;
		assert_true(m.count <= 16);
		struct sl_reader r;
		sl_reader_init(&r, m.starts.p, m.starts.n);
		for (uint32_t i = 0; i < m.count; i++)
			assert_int_equal(sl_lp_starts_next(&r, &starts[i]), 0);
		assert_int_equal(sl_lp_starts_next(&r, &starts[0]), SL_EEOF);
		assert_int_equal(sl_lp_write_subscribe(w, m.stream, m.isolation, starts, m.count),
				 0);
		return 0;
	}
	case SL_LP_ASSIGN: {
		struct sl_lp_assign m;
		struct sl_lp_start adds[16];
		uint32_t removes[16];
		if ((rc = sl_lp_decode_assign(body, n, lim, &m, why)) != 0)
			return rc;
		assert_true(m.add_count <= 16 && m.remove_count <= 16);
		struct sl_reader r;
		sl_reader_init(&r, m.adds.p, m.adds.n);
		for (uint32_t i = 0; i < m.add_count; i++)
			assert_int_equal(sl_lp_starts_next(&r, &adds[i]), 0);
		assert_int_equal(sl_lp_starts_next(&r, &adds[0]), SL_EEOF);
		sl_reader_init(&r, m.removes.p, m.removes.n);
		for (uint32_t i = 0; i < m.remove_count; i++)
			assert_int_equal(sl_lp_partitions_next(&r, &removes[i]), 0);
		assert_int_equal(sl_lp_partitions_next(&r, &removes[0]), SL_EEOF);
		assert_int_equal(sl_lp_write_assign(w, adds, m.add_count, removes, m.remove_count),
				 0);
		return 0;
	}
	case SL_LP_STARTED: {
		struct sl_lp_started m;
		if ((rc = sl_lp_decode_started(body, n, &m, why)) != 0)
			return rc;
		assert_int_equal(sl_lp_write_started(w, &m), 0);
		return 0;
	}
	case SL_LP_REMOVED: {
		uint32_t p;
		if ((rc = sl_lp_decode_removed(body, n, &p, why)) != 0)
			return rc;
		assert_int_equal(sl_lp_write_removed(w, p), 0);
		return 0;
	}
	case SL_LP_RECORDS: {
		struct sl_lp_records m;
		struct sl_lp_bytes recs[16];
		if ((rc = sl_lp_decode_records(body, n, lim, &m, why)) != 0)
			return rc;
		assert_true(m.count <= 16);
		struct sl_lp_record_iter it;
		sl_lp_records_init(&it, m.records, m.count);
		for (uint32_t i = 0; i < m.count; i++)
			assert_int_equal(sl_lp_records_next(&it, &recs[i]), 0);
		assert_int_equal(sl_lp_records_next(&it, &recs[0]), SL_EEOF);
		assert_int_equal(sl_lp_write_records(w, m.partition, m.first_offset, recs, m.count),
				 0);
		return 0;
	}
	default:
		fail_msg("no decoder for type %llu", (unsigned long long)type);
		return SL_EINVAL;
	}
}

/* Decodes with no writer output wanted. */
static int decode_only(uint64_t type, const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
		       const char **why)
{
	uint8_t out[4096];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	return decode_and_rewrite(type, body, n, lim, &w, why);
}

/* Every golden message decodes and re-encodes to exactly its bytes: the writers emit minimal
 * varints and the layout has one encoding per value. */
static void goldens_decode_and_reencode_exactly(void **state)
{
	(void)state;
	for (size_t g = 0; g < NGOLDEN; g++) {
		struct sl_lp_header h;
		const uint8_t *body;
		split(goldens[g].p, goldens[g].n, &h, &body);
		uint8_t out[256];
		struct sl_writer w;
		sl_writer_init(&w, out, sizeof(out));
		const char *why = NULL;
		int rc = decode_and_rewrite(h.type, body, h.len, NULL, &w, &why);
		if (rc != 0)
			fail_msg("%s: %s at %s", goldens[g].name, sl_errname(rc), why);
		assert_int_equal(sl_writer_len(&w), goldens[g].n);
		assert_memory_equal(out, goldens[g].p, goldens[g].n);
	}
}

/* The golden fields, checked one by one so a decoder that misreads a field cannot hide behind a
 * writer that makes the same mistake. */
static void goldens_decode_to_the_documented_fields(void **state)
{
	(void)state;
	struct sl_lp_header h;
	const uint8_t *b;
	struct sl_lp_bytes rec;
	struct sl_lp_record_iter it;
	struct sl_reader r;

	struct sl_lp_produce p;
	split(g_produce_key, sizeof(g_produce_key), &h, &b);
	assert_int_equal(h.type, SL_LP_PRODUCE);
	assert_int_equal(h.hdr_len, 2);
	assert_int_equal(sl_lp_decode_produce(b, h.len, NULL, &p, NULL), 0);
	assert_int_equal(p.request_id, 7);
	assert_true(bytes_eq(p.stream, "orders"));
	assert_true(p.keyed);
	assert_true(bytes_eq(p.key, "user-1"));
	assert_int_equal(p.durability, SL_LP_DURABLE);
	assert_int_equal(p.count, 2);
	assert_int_equal(p.payload_bytes, 10);
	assert_int_equal(p.records.n, 12);
	sl_lp_records_init(&it, p.records, p.count);
	assert_int_equal(sl_lp_records_next(&it, &rec), 0);
	assert_true(bytes_eq(rec, "hello"));
	assert_int_equal(sl_lp_records_next(&it, &rec), 0);
	assert_true(bytes_eq(rec, "world"));
	assert_int_equal(sl_lp_records_next(&it, &rec), SL_EEOF);
	assert_int_equal(
		sl_lp_produce_size(&p, (struct sl_lp_bytes[]){BYTES("hello"), BYTES("world")}),
		sizeof(g_produce_key));

	split(g_produce_part, sizeof(g_produce_part), &h, &b);
	assert_int_equal(sl_lp_decode_produce(b, h.len, NULL, &p, NULL), 0);
	assert_int_equal(p.request_id, 300);
	assert_false(p.keyed);
	assert_int_equal(p.partition, 70);
	assert_int_equal(p.durability, SL_LP_APPLIED);
	assert_int_equal(p.count, 1);
	assert_int_equal(p.payload_bytes, 0);
	sl_lp_records_init(&it, p.records, p.count);
	assert_int_equal(sl_lp_records_next(&it, &rec), 0);
	assert_int_equal(rec.n, 0);

	struct sl_lp_produce_ok ok;
	split(g_produce_ok, sizeof(g_produce_ok), &h, &b);
	assert_int_equal(sl_lp_decode_produce_ok(b, h.len, &ok, NULL), 0);
	assert_true(ok.request_id == 7 && ok.partition == 2 && ok.first_offset == 1000 &&
		    ok.count == 2);

	struct sl_lp_error e;
	split(g_error, sizeof(g_error), &h, &b);
	assert_int_equal(sl_lp_decode_error(b, h.len, &e, NULL), 0);
	assert_true(e.request_id == 9 && e.code == SL_LP_ERR_OVERLOADED && e.partition == 3 &&
		    e.detail == 250);
	assert_true(bytes_eq(e.reason, "slow down"));
	split(g_error_nopart, sizeof(g_error_nopart), &h, &b);
	assert_int_equal(sl_lp_decode_error(b, h.len, &e, NULL), 0);
	assert_int_equal(e.partition, SL_LP_NO_PARTITION);
	assert_int_equal(e.code, SL_LP_ERR_MALFORMED);
	assert_int_equal(e.reason.n, 0);

	struct sl_lp_hwm hwm;
	split(g_hwm, sizeof(g_hwm), &h, &b);
	assert_int_equal(sl_lp_decode_hwm(b, h.len, &hwm, NULL), 0);
	assert_true(hwm.request_id == 8 && bytes_eq(hwm.stream, "orders"));

	struct sl_lp_hwm_ok hok;
	struct sl_lp_marks mk;
	split(g_hwm_ok, sizeof(g_hwm_ok), &h, &b);
	assert_int_equal(sl_lp_decode_hwm_ok(b, h.len, NULL, &hok, NULL), 0);
	assert_true(hok.request_id == 8 && hok.count == 2);
	assert_int_equal(sl_lp_hwm_ok_entry(&hok, 0, &mk), 0);
	assert_true(mk.start == 0 && mk.durable == 5 && mk.high_water == 7);
	assert_int_equal(sl_lp_hwm_ok_entry(&hok, 1, &mk), 0);
	assert_true(mk.start == 100 && mk.durable == 100 && mk.high_water == 100);
	assert_int_equal(sl_lp_hwm_ok_entry(&hok, 2, &mk), SL_EINVAL);

	struct sl_lp_subscribe sub;
	struct sl_lp_start st;
	split(g_subscribe, sizeof(g_subscribe), &h, &b);
	assert_int_equal(sl_lp_decode_subscribe(b, h.len, NULL, &sub, NULL), 0);
	assert_true(bytes_eq(sub.stream, "orders") && sub.isolation == SL_LP_ISO_DURABLE &&
		    sub.count == 3);
	sl_reader_init(&r, sub.starts.p, sub.starts.n);
	assert_int_equal(sl_lp_starts_next(&r, &st), 0);
	assert_true(st.partition == 0 && st.kind == SL_LP_START_EARLIEST && st.offset == 0);
	assert_int_equal(sl_lp_starts_next(&r, &st), 0);
	assert_true(st.partition == 1 && st.kind == SL_LP_START_LATEST && st.offset == 0);
	assert_int_equal(sl_lp_starts_next(&r, &st), 0);
	assert_true(st.partition == 2 && st.kind == SL_LP_START_OFFSET && st.offset == 16384);
	assert_int_equal(sl_lp_starts_next(&r, &st), SL_EEOF);

	struct sl_lp_assign as;
	uint32_t part;
	split(g_assign, sizeof(g_assign), &h, &b);
	assert_int_equal(sl_lp_decode_assign(b, h.len, NULL, &as, NULL), 0);
	assert_true(as.add_count == 1 && as.remove_count == 2);
	sl_reader_init(&r, as.adds.p, as.adds.n);
	assert_int_equal(sl_lp_starts_next(&r, &st), 0);
	assert_true(st.partition == 5 && st.kind == SL_LP_START_OFFSET && st.offset == 42);
	sl_reader_init(&r, as.removes.p, as.removes.n);
	assert_int_equal(sl_lp_partitions_next(&r, &part), 0);
	assert_int_equal(part, 0);
	assert_int_equal(sl_lp_partitions_next(&r, &part), 0);
	assert_int_equal(part, 7);
	assert_int_equal(sl_lp_partitions_next(&r, &part), SL_EEOF);

	struct sl_lp_started sd;
	split(g_started, sizeof(g_started), &h, &b);
	assert_int_equal(sl_lp_decode_started(b, h.len, &sd, NULL), 0);
	assert_true(sd.partition == 5 && sd.offset == 42);

	split(g_removed, sizeof(g_removed), &h, &b);
	assert_int_equal(sl_lp_decode_removed(b, h.len, &part, NULL), 0);
	assert_int_equal(part, 7);

	struct sl_lp_records rs;
	split(g_records, sizeof(g_records), &h, &b);
	assert_int_equal(sl_lp_decode_records(b, h.len, NULL, &rs, NULL), 0);
	assert_true(rs.partition == 2 && rs.first_offset == (UINT64_C(1) << 32) && rs.count == 2 &&
		    rs.payload_bytes == 10);
	sl_lp_records_init(&it, rs.records, rs.count);
	assert_int_equal(sl_lp_records_next(&it, &rec), 0);
	assert_true(bytes_eq(rec, "hello"));
	assert_int_equal(sl_lp_records_next(&it, &rec), 0);
	assert_true(bytes_eq(rec, "world"));
}

/* A message cut at any byte: the header parser waits (SL_EAGAIN) until the header is whole, and
 * a decoder given a strict prefix of the body reports SL_ETRUNC, never another code. Each prefix
 * is copied to a buffer of exactly its size so the sanitizers catch a read past it. */
static void every_truncation_is_eagain_or_etrunc(void **state)
{
	(void)state;
	for (size_t g = 0; g < NGOLDEN; g++) {
		struct sl_lp_header full;
		const uint8_t *body;
		split(goldens[g].p, goldens[g].n, &full, &body);
		for (size_t cut = 0; cut < goldens[g].n; cut++) {
			uint8_t *copy = malloc(cut ? cut : 1);
			memcpy(copy, goldens[g].p, cut);
			struct sl_lp_header h;
			int rc = sl_lp_header_parse(copy, cut, &h);
			if (cut < full.hdr_len) {
				assert_int_equal(rc, SL_EAGAIN);
			} else {
				assert_int_equal(rc, 0);
				const char *why = NULL;
				rc = decode_only(h.type, copy + h.hdr_len, cut - h.hdr_len, NULL,
						 &why);
				if (rc != SL_ETRUNC)
					fail_msg("%s cut at %zu: %s", goldens[g].name, cut,
						 sl_errname(rc));
				assert_non_null(why);
			}
			free(copy);
		}
	}
}

/* One byte after the last field is a format error for every message. */
static void a_trailing_byte_is_corrupt(void **state)
{
	(void)state;
	for (size_t g = 0; g < NGOLDEN; g++) {
		struct sl_lp_header h;
		const uint8_t *body;
		split(goldens[g].p, goldens[g].n, &h, &body);
		uint8_t buf[256];
		memcpy(buf, body, h.len);
		buf[h.len] = 0x00;
		const char *why = NULL;
		int rc = decode_only(h.type, buf, h.len + 1, NULL, &why);
		if (rc != SL_ECORRUPT)
			fail_msg("%s: %s", goldens[g].name, sl_errname(rc));
		assert_non_null(why);
	}
}

/* Decodes body (a golden body with one byte patched) and checks code and field. */
static void expect_patched(const uint8_t *msg, size_t n, size_t at, uint8_t value, int want,
			   const char *field)
{
	uint8_t buf[256];
	memcpy(buf, msg, n);
	buf[at] = value;
	struct sl_lp_header h;
	const uint8_t *body;
	split(buf, n, &h, &body);
	const char *why = NULL;
	assert_int_equal(decode_only(h.type, body, h.len, NULL, &why), want);
	assert_string_equal(why, field);
}

static void out_of_range_enums_are_corrupt(void **state)
{
	(void)state;
	/* Offsets count from the message's first byte (header included). */
	expect_patched(g_produce_key, sizeof(g_produce_key), 10, 2, SL_ECORRUPT,
		       "produce.selector");
	expect_patched(g_produce_key, sizeof(g_produce_key), 18, 3, SL_ECORRUPT,
		       "produce.durability");
	expect_patched(g_subscribe, sizeof(g_subscribe), 9, 2, SL_ECORRUPT, "subscribe.isolation");
	expect_patched(g_subscribe, sizeof(g_subscribe), 12, 5, SL_ECORRUPT,
		       "subscribe.start.kind");
	expect_patched(g_assign, sizeof(g_assign), 4, 5, SL_ECORRUPT, "assign.add.kind");
	/* A durable mark above the high-water mark, and a start above the durable one. */
	expect_patched(g_hwm_ok, sizeof(g_hwm_ok), 5, 0x08, SL_ECORRUPT, "hwm_ok.marks");
	expect_patched(g_hwm_ok, sizeof(g_hwm_ok), 4, 0x06, SL_ECORRUPT, "hwm_ok.marks");
	/* Records that do not fill the body: count 1 with two records present. */
	expect_patched(g_produce_key, sizeof(g_produce_key), 19, 1, SL_ECORRUPT, "produce.records");
	expect_patched(g_records, sizeof(g_records), 11, 1, SL_ECORRUPT, "records.records");
	/* A record longer than what is left of the body. */
	expect_patched(g_records, sizeof(g_records), 18, 6, SL_ETRUNC, "records.record");
	/* Counts of zero. */
	expect_patched(g_produce_key, sizeof(g_produce_key), 19, 0, SL_ERANGE, "produce.count");
	expect_patched(g_records, sizeof(g_records), 11, 0, SL_ERANGE, "records.count");
	/* An empty stream name is refused before anything else is read. */
	expect_patched(g_hwm, sizeof(g_hwm), 3, 0, SL_ERANGE, "hwm.stream");
}

static void expect_body(uint64_t type, const uint8_t *body, size_t n,
			const struct sl_lp_limits *lim, int want, const char *field)
{
	const char *why = NULL;
	int rc = decode_only(type, body, n, lim, &why);
	if (rc != want)
		fail_msg("%s: got %s (%s), want %s", sl_lp_type_name(type), sl_errname(rc),
			 why ? why : "-", sl_errname(want));
	if (field != NULL)
		assert_string_equal(why, field);
}

/* Values over the limits: SL_ERANGE naming the field, checked before the bytes they announce. */
static void limits_are_enforced(void **state)
{
	(void)state;
	struct sl_lp_limits tight;
	sl_lp_limits_default(&tight);
	assert_int_equal(tight.max_record_bytes, 16u << 20);
	assert_int_equal(tight.max_records, SL_LP_MAX_RECORDS);
	assert_int_equal(tight.max_assign, 65536);
	assert_int_equal(tight.max_partitions, 65536);
	tight.max_record_bytes = 4;
	tight.max_records = 1;
	tight.max_assign = 2;
	tight.max_partitions = 1;

	struct sl_lp_header h;
	const uint8_t *b;
	split(g_produce_key, sizeof(g_produce_key), &h, &b);
	expect_body(SL_LP_PRODUCE, b, h.len, &tight, SL_ERANGE, "produce.count");
	tight.max_records = 2;
	expect_body(SL_LP_PRODUCE, b, h.len, &tight, SL_ERANGE, "produce.record_length");
	tight.max_record_bytes = 5;
	expect_body(SL_LP_PRODUCE, b, h.len, &tight, 0, NULL);
	split(g_records, sizeof(g_records), &h, &b);
	tight.max_records = 1;
	expect_body(SL_LP_RECORDS, b, h.len, &tight, SL_ERANGE, "records.count");
	tight.max_records = 2;
	tight.max_record_bytes = 4;
	expect_body(SL_LP_RECORDS, b, h.len, &tight, SL_ERANGE, "records.record_length");
	split(g_subscribe, sizeof(g_subscribe), &h, &b);
	expect_body(SL_LP_SUBSCRIBE, b, h.len, &tight, SL_ERANGE, "subscribe.count");
	split(g_hwm_ok, sizeof(g_hwm_ok), &h, &b);
	expect_body(SL_LP_HWM_OK, b, h.len, &tight, SL_ERANGE, "hwm_ok.count");
	tight.max_assign = 1;
	split(g_assign, sizeof(g_assign), &h, &b);
	expect_body(SL_LP_ASSIGN, b, h.len, &tight, SL_ERANGE, "assign.remove_count");
	tight.max_assign = 0;
	expect_body(SL_LP_ASSIGN, b, h.len, &tight, SL_ERANGE, "assign.add_count");

	/* A limit above the protocol's maximum does not raise it. */
	struct sl_lp_limits loose;
	sl_lp_limits_default(&loose);
	loose.max_records = UINT32_MAX;
	static const uint8_t too_many[] = {0x00, 0x00, 0x80, 0x01, 0x00, 0x01}; /* 65537 */
	expect_body(SL_LP_RECORDS, too_many, sizeof(too_many), &loose, SL_ERANGE, "records.count");

	/* Stream names of 249 bytes pass, 250 do not; the length is judged before the bytes. */
	uint8_t body[1200];
	memset(body, 'a', sizeof(body));
	body[0] = 0x08;
	body[1] = 0x40;
	body[2] = 249;
	expect_body(SL_LP_HWM, body, 3 + 249, NULL, 0, NULL);
	body[2] = 250;
	expect_body(SL_LP_HWM, body, 3 + 250, NULL, SL_ERANGE, "hwm.stream");
	expect_body(SL_LP_HWM, body, 4, NULL, SL_ERANGE, "hwm.stream");

	/* Keys of 1024 bytes pass, 1025 do not. */
	size_t n = 0;
	body[n++] = 0x01;	     /* request_id */
	body[n++] = 0x01;	     /* stream length */
	body[n++] = 's';	     /* stream */
	body[n++] = 0x01;	     /* selector: key */
	body[n++] = 0x44;	     /* key length 1024 (0x4400) */
	body[n++] = 0x00;	     /* ... */
	memset(body + n, 'k', 1024); /* key */
	n += 1024;
	body[n++] = 0x00; /* durability */
	body[n++] = 0x01; /* count */
	body[n++] = 0x00; /* an empty record */
	expect_body(SL_LP_PRODUCE, body, n, NULL, 0, NULL);
	body[5] = 0x01; /* 1025: the body is now one byte short too, but the limit is reported */
	expect_body(SL_LP_PRODUCE, body, n, NULL, SL_ERANGE, "produce.key");

	/* Partitions must fit 32 bits: 2^32 as an 8-byte varint. */
	static const uint8_t part_2_32[] = {0xc0, 0, 0, 0x01, 0, 0, 0, 0};
	expect_body(SL_LP_REMOVED, part_2_32, sizeof(part_2_32), NULL, SL_ERANGE,
		    "removed.partition");
	static const uint8_t part_max[] = {0xc0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
	expect_body(SL_LP_REMOVED, part_max, sizeof(part_max), NULL, 0, NULL);
	uint8_t msg[64];
	n = 0;
	msg[n++] = 0x00; /* request_id */
	msg[n++] = 0x01; /* code */
	memcpy(msg + n, part_2_32, 8);
	n += 8;
	msg[n++] = 0x00; /* detail */
	msg[n++] = 0x00; /* reason */
	expect_body(SL_LP_ERROR, msg, n, NULL, SL_ERANGE, "error.partition");
	msg[5] = 0x00; /* partition_plus_one = UINT32_MAX: partition UINT32_MAX - 1 */
	msg[6] = msg[7] = msg[8] = msg[9] = 0xff;
	struct sl_lp_error e;
	assert_int_equal(sl_lp_decode_error(msg, n, &e, NULL), 0);
	assert_int_equal(e.partition, UINT32_MAX - 1);
	static const uint8_t sub_part[] = {0x01, 's', 0x00, 0x01, 0xc0, 0, 0, 0x01, 0, 0, 0, 0, 0};
	expect_body(SL_LP_SUBSCRIBE, sub_part, sizeof(sub_part), NULL, SL_ERANGE,
		    "subscribe.start.partition");
	static const uint8_t prod_part[] = {0x01, 0x01, 's', 0x00, 0xc0, 0,    0,   0x01,
					    0,	  0,	0,   0,	   0x00, 0x01, 0x00};
	expect_body(SL_LP_PRODUCE, prod_part, sizeof(prod_part), NULL, SL_ERANGE,
		    "produce.partition");

	/* Reasons of 1024 bytes pass, 1025 do not. */
	n = 0;
	body[n++] = 0x00;
	body[n++] = 0x0a;
	body[n++] = 0x00;
	body[n++] = 0x00;
	body[n++] = 0x44;
	body[n++] = 0x00;
	memset(body + n, 'r', 1024);
	n += 1024;
	expect_body(SL_LP_ERROR, body, n, NULL, 0, NULL);
	body[5] = 0x01;
	expect_body(SL_LP_ERROR, body, n, NULL, SL_ERANGE, "error.reason");

	/* Offsets end at 2^62: first_offset 2^62 - 1 with one record is the very last. */
	uint8_t rec[16] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00};
	expect_body(SL_LP_RECORDS, rec, 11, NULL, 0, NULL);
	rec[9] = 0x02;
	rec[11] = 0x00;
	expect_body(SL_LP_RECORDS, rec, 12, NULL, SL_ERANGE, "records.count");
	uint8_t pok[16] = {0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
	expect_body(SL_LP_PRODUCE_OK, pok, 11, NULL, SL_ERANGE, "produce_ok.count");
	pok[10] = 0x01;
	expect_body(SL_LP_PRODUCE_OK, pok, 11, NULL, 0, NULL);

	/* A huge count in a short body is truncation (the records are not there), not a hang. */
	static const uint8_t big_count[] = {0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x00};
	expect_body(SL_LP_RECORDS, big_count, sizeof(big_count), NULL, SL_ETRUNC,
		    "records.record_length");
}

/* Receivers accept non-minimal varints (RFC 9000): the values are what counts. */
static void non_minimal_varints_decode(void **state)
{
	(void)state;
	static const uint8_t body[] = {
		0x40, 0x07,			       /* request_id 7 in two bytes */
		0x80, 0x00, 0x00, 0x02,		       /* partition 2 in four bytes */
		0x43, 0xe8,			       /* first_offset 1000 */
		0xc0, 0,    0,	  0,	0, 0, 0, 0x02, /* count 2 in eight bytes */
	};
	struct sl_lp_produce_ok m;
	assert_int_equal(sl_lp_decode_produce_ok(body, sizeof(body), &m, NULL), 0);
	assert_true(m.request_id == 7 && m.partition == 2 && m.first_offset == 1000 &&
		    m.count == 2);
	/* Written back minimally, it is the golden message. */
	uint8_t out[32];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_produce_ok(&w, &m), 0);
	assert_int_equal(sl_writer_len(&w), sizeof(g_produce_ok));
	assert_memory_equal(out, g_produce_ok, sizeof(g_produce_ok));
	/* A non-minimal header parses too. */
	static const uint8_t hdr[] = {0x40, 0x13, 0x80, 0x00, 0x00, 0x05};
	struct sl_lp_header h;
	assert_int_equal(sl_lp_header_parse(hdr, sizeof(hdr), &h), 0);
	assert_true(h.type == SL_LP_RECORDS && h.len == 5 && h.hdr_len == 6);
}

/* A decoder that fails leaves *out alone. */
static void failed_decodes_leave_out_untouched(void **state)
{
	(void)state;
	struct sl_lp_produce p;
	memset(&p, 0xa5, sizeof(p));
	struct sl_lp_produce before = p;
	struct sl_lp_header h;
	const uint8_t *b;
	split(g_produce_key, sizeof(g_produce_key), &h, &b);
	assert_int_equal(sl_lp_decode_produce(b, h.len - 1, NULL, &p, NULL), SL_ETRUNC);
	assert_memory_equal(&p, &before, sizeof(p));
	uint32_t part = 99;
	assert_int_equal(sl_lp_decode_removed(NULL, 0, &part, NULL), SL_ETRUNC);
	assert_int_equal(part, 99);
}

static void header_parse_waits_for_a_whole_header(void **state)
{
	(void)state;
	/* RECORDS with a 65536-byte body: a one-byte type and a four-byte length. */
	static const uint8_t hdr[] = {0x13, 0x80, 0x01, 0x00, 0x00};
	struct sl_lp_header h;
	assert_int_equal(sl_lp_header_parse(NULL, 0, &h), SL_EAGAIN);
	for (size_t n = 0; n < sizeof(hdr); n++)
		assert_int_equal(sl_lp_header_parse(hdr, n, &h), SL_EAGAIN);
	assert_int_equal(sl_lp_header_parse(hdr, sizeof(hdr), &h), 0);
	assert_true(h.type == SL_LP_RECORDS && h.len == 65536 && h.hdr_len == 5);

	/* A two-byte type cut after its first byte. */
	static const uint8_t t2[] = {0x40, 0x01, 0x00};
	assert_int_equal(sl_lp_header_parse(t2, 1, &h), SL_EAGAIN);
	assert_int_equal(sl_lp_header_parse(t2, 2, &h), SL_EAGAIN);
	assert_int_equal(sl_lp_header_parse(t2, 3, &h), 0);
	assert_true(h.type == 1 && h.len == 0 && h.hdr_len == 3);

	/* Unknown types parse: the stream's state machine rejects them, not the framing. */
	static const uint8_t unk[] = {0x3f, 0x00};
	assert_int_equal(sl_lp_header_parse(unk, sizeof(unk), &h), 0);
	assert_int_equal(h.type, 0x3f);
	assert_string_equal(sl_lp_type_name(h.type), "?");

	/* Writing: minimal varints, SL_ERANGE over 2^62 - 1, SL_ENOSPC without writing. */
	uint8_t out[16];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_header_write(&w, SL_LP_RECORDS, 65536), 0);
	assert_int_equal(sl_writer_len(&w), 5);
	assert_memory_equal(out, hdr, 5);
	assert_int_equal(sl_lp_header_write(&w, SL_VARINT_MAX + 1, 0), SL_ERANGE);
	assert_int_equal(sl_lp_header_write(&w, 1, SL_VARINT_MAX + 1), SL_ERANGE);
	sl_writer_init(&w, out, 4);
	assert_int_equal(sl_lp_header_write(&w, SL_LP_RECORDS, 65536), SL_ENOSPC);
	assert_int_equal(sl_writer_len(&w), 0);
}

/* Writes every golden message from fields, at every capacity below its size (SL_ENOSPC and
 * nothing written) and at its size (the golden bytes). */
typedef int (*write_fn)(struct sl_writer *w);

static int w_produce(struct sl_writer *w)
{
	struct sl_lp_produce m = {.request_id = 7,
				  .stream = BYTES("orders"),
				  .keyed = true,
				  .key = BYTES("user-1"),
				  .durability = SL_LP_DURABLE,
				  .count = 2};
	struct sl_lp_bytes recs[] = {BYTES("hello"), BYTES("world")};
	return sl_lp_write_produce(w, &m, recs);
}

static int w_produce_ok(struct sl_writer *w)
{
	struct sl_lp_produce_ok m = {7, 2, 1000, 2};
	return sl_lp_write_produce_ok(w, &m);
}

static int w_error(struct sl_writer *w)
{
	struct sl_lp_error m = {9, SL_LP_ERR_OVERLOADED, 3, 250, BYTES("slow down")};
	return sl_lp_write_error(w, &m);
}

static int w_hwm(struct sl_writer *w)
{
	struct sl_lp_hwm m = {8, BYTES("orders")};
	return sl_lp_write_hwm(w, &m);
}

static int w_hwm_ok(struct sl_writer *w)
{
	struct sl_lp_marks marks[] = {{0, 5, 7}, {100, 100, 100}};
	return sl_lp_write_hwm_ok(w, 8, marks, 2);
}

static int w_subscribe(struct sl_writer *w)
{
	/* The offsets of non-offset starts are ignored by the writer. */
	struct sl_lp_start starts[] = {{0, SL_LP_START_EARLIEST, 99},
				       {1, SL_LP_START_LATEST, 99},
				       {2, SL_LP_START_OFFSET, 16384}};
	return sl_lp_write_subscribe(w, BYTES("orders"), SL_LP_ISO_DURABLE, starts, 3);
}

static int w_assign(struct sl_writer *w)
{
	struct sl_lp_start adds[] = {{5, SL_LP_START_OFFSET, 42}};
	uint32_t removes[] = {0, 7};
	return sl_lp_write_assign(w, adds, 1, removes, 2);
}

static int w_started(struct sl_writer *w)
{
	struct sl_lp_started m = {5, 42};
	return sl_lp_write_started(w, &m);
}

static int w_removed(struct sl_writer *w)
{
	return sl_lp_write_removed(w, 7);
}

static int w_records(struct sl_writer *w)
{
	struct sl_lp_bytes recs[] = {BYTES("hello"), BYTES("world")};
	return sl_lp_write_records(w, 2, UINT64_C(1) << 32, recs, 2);
}

static void writers_produce_the_goldens_or_enospc(void **state)
{
	(void)state;
	static const struct {
		write_fn fn;
		const uint8_t *p;
		size_t n;
	} cases[] = {
		{w_produce, g_produce_key, sizeof(g_produce_key)},
		{w_produce_ok, g_produce_ok, sizeof(g_produce_ok)},
		{w_error, g_error, sizeof(g_error)},
		{w_hwm, g_hwm, sizeof(g_hwm)},
		{w_hwm_ok, g_hwm_ok, sizeof(g_hwm_ok)},
		{w_subscribe, g_subscribe, sizeof(g_subscribe)},
		{w_assign, g_assign, sizeof(g_assign)},
		{w_started, g_started, sizeof(g_started)},
		{w_removed, g_removed, sizeof(g_removed)},
		{w_records, g_records, sizeof(g_records)},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint8_t out[256];
		struct sl_writer w;
		for (size_t cap = 0; cap < cases[c].n; cap++) {
			memset(out, 0xee, sizeof(out));
			sl_writer_init(&w, out, cap);
			assert_int_equal(cases[c].fn(&w), SL_ENOSPC);
			assert_int_equal(sl_writer_len(&w), 0);
			assert_int_equal(out[0], 0xee);
		}
		sl_writer_init(&w, out, cases[c].n);
		assert_int_equal(cases[c].fn(&w), 0);
		assert_int_equal(sl_writer_len(&w), cases[c].n);
		assert_memory_equal(out, cases[c].p, cases[c].n);
	}
}

/* Writers refuse what a decoder would refuse, so nothing they write is undecodable. */
static void writers_refuse_out_of_range_fields(void **state)
{
	(void)state;
	uint8_t out[4096];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	struct sl_lp_bytes recs[] = {BYTES("x")};
	struct sl_lp_produce base = {
		.request_id = 1, .stream = BYTES("s"), .durability = SL_LP_WRITTEN, .count = 1};
	struct sl_lp_produce m = base;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	size_t ok_len = sl_writer_len(&w);
	assert_int_equal(sl_lp_produce_size(&m, recs), ok_len);
	sl_writer_init(&w, out, sizeof(out));

	m.request_id = SL_VARINT_MAX + 1;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	assert_int_equal(sl_lp_produce_size(&m, recs), 0);
	m = base;
	m.durability = 3;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	m = base;
	m.count = 0;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	m.count = SL_LP_MAX_RECORDS + 1;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	m = base;
	m.stream.n = 0;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	uint8_t big[1100];
	memset(big, 'a', sizeof(big));
	m.stream = (struct sl_lp_bytes){big, SL_LP_MAX_STREAM_NAME + 1};
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	m = base;
	m.keyed = true;
	m.key = (struct sl_lp_bytes){big, SL_LP_MAX_KEY + 1};
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), SL_ERANGE);
	m.key.n = SL_LP_MAX_KEY;
	assert_int_equal(sl_lp_write_produce(&w, &m, recs), 0);
	sl_writer_init(&w, out, sizeof(out));
	m = base;
	struct sl_lp_bytes huge[] = {{big, (size_t)SL_VARINT_MAX + 1}};
	assert_int_equal(sl_lp_write_produce(&w, &m, huge), SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);

	struct sl_lp_produce_ok ok = {1, 0, SL_VARINT_MAX, 1};
	assert_int_equal(sl_lp_write_produce_ok(&w, &ok), 0);
	ok.count = 2;
	assert_int_equal(sl_lp_write_produce_ok(&w, &ok), SL_ERANGE);
	ok.first_offset = SL_VARINT_MAX + 1;
	ok.count = 0;
	assert_int_equal(sl_lp_write_produce_ok(&w, &ok), SL_ERANGE);

	struct sl_lp_error e = {1, SL_VARINT_MAX + 1, 0, 0, BYTES("")};
	assert_int_equal(sl_lp_write_error(&w, &e), SL_ERANGE);
	e.code = 1;
	e.detail = SL_VARINT_MAX + 1;
	assert_int_equal(sl_lp_write_error(&w, &e), SL_ERANGE);

	struct sl_lp_hwm hwm = {1, {big, 0}};
	assert_int_equal(sl_lp_write_hwm(&w, &hwm), SL_ERANGE);
	hwm.stream.n = SL_LP_MAX_STREAM_NAME + 1;
	assert_int_equal(sl_lp_write_hwm(&w, &hwm), SL_ERANGE);

	struct sl_lp_marks bad_marks[] = {{0, 5, 7}, {3, 2, 9}};
	assert_int_equal(sl_lp_write_hwm_ok(&w, 1, bad_marks, 2), SL_ERANGE);
	bad_marks[1] = (struct sl_lp_marks){1, 9, 8};
	assert_int_equal(sl_lp_write_hwm_ok(&w, 1, bad_marks, 2), SL_ERANGE);
	bad_marks[1] = (struct sl_lp_marks){0, 0, SL_VARINT_MAX + 1};
	assert_int_equal(sl_lp_write_hwm_ok(&w, 1, bad_marks, 2), SL_ERANGE);

	struct sl_lp_start st[] = {{0, 5, 0}};
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("s"), 0, st, 1), SL_ERANGE);
	assert_int_equal(sl_lp_write_assign(&w, st, 1, NULL, 0), SL_ERANGE);
	st[0] = (struct sl_lp_start){0, SL_LP_START_OFFSET, SL_VARINT_MAX + 1};
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("s"), 0, st, 1), SL_ERANGE);
	/* The offset of a non-offset start is not written, so it is not checked either. */
	st[0].kind = SL_LP_START_LATEST;
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("s"), 0, st, 1), 0);
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("s"), 2, st, 1), SL_ERANGE);
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES(""), 0, st, 1), SL_ERANGE);

	struct sl_lp_started sd = {1, SL_VARINT_MAX + 1};
	assert_int_equal(sl_lp_write_started(&w, &sd), SL_ERANGE);

	assert_int_equal(sl_lp_write_records(&w, 0, 0, recs, 0), SL_ERANGE);
	assert_int_equal(sl_lp_write_records(&w, 0, SL_VARINT_MAX, recs, 1), 0);
	struct sl_lp_bytes two[] = {BYTES("a"), BYTES("b")};
	assert_int_equal(sl_lp_write_records(&w, 0, SL_VARINT_MAX, two, 2), SL_ERANGE);
	assert_int_equal(sl_lp_write_records_head(&w, 0, 0, 2, 1), SL_ERANGE);
	assert_int_equal(sl_lp_write_records_head(&w, 0, 0, 0, 0), SL_ERANGE);
	assert_int_equal(
		sl_lp_write_records_head(&w, 0, 0, SL_LP_MAX_RECORDS + 1, UINT64_C(1) << 20),
		SL_ERANGE);
	assert_int_equal(sl_lp_write_records_head(&w, 0, 0, 1, SL_VARINT_MAX), SL_ERANGE);
	assert_int_equal(sl_lp_write_record_len(&w, SL_VARINT_MAX + 1), SL_ERANGE);
}

/* An ERROR's reason is cut to 1024 bytes, before a UTF-8 character that would straddle the
 * limit, and the message still decodes. */
static size_t written_reason_len(const uint8_t *reason, size_t n)
{
	uint8_t out[2048];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	struct sl_lp_error e = {1, SL_LP_ERR_INTERNAL, SL_LP_NO_PARTITION, 0, {reason, n}};
	assert_int_equal(sl_lp_write_error(&w, &e), 0);
	struct sl_lp_header h;
	const uint8_t *b;
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_error d;
	assert_int_equal(sl_lp_decode_error(b, h.len, &d, NULL), 0);
	assert_memory_equal(d.reason.p, reason, d.reason.n);
	return d.reason.n;
}

static void error_reasons_are_cut_at_a_character(void **state)
{
	(void)state;
	uint8_t r[1100];
	memset(r, 'x', sizeof(r));
	assert_int_equal(written_reason_len(r, 1024), 1024);
	assert_int_equal(written_reason_len(r, sizeof(r)), 1024);
	/* "é" (c3 a9) at 1023..1024 would be split: cut before it. */
	r[1023] = 0xc3;
	r[1024] = 0xa9;
	assert_int_equal(written_reason_len(r, sizeof(r)), 1023);
	/* "é" at 1022..1023 ends at the limit: kept. */
	memset(r, 'x', sizeof(r));
	r[1022] = 0xc3;
	r[1023] = 0xa9;
	assert_int_equal(written_reason_len(r, sizeof(r)), 1024);
	/* "€" (e2 82 ac) at 1022..1024 and a four-byte character at 1021..1024. */
	memset(r, 'x', sizeof(r));
	memcpy(r + 1022, "\xe2\x82\xac", 3);
	assert_int_equal(written_reason_len(r, sizeof(r)), 1022);
	memset(r, 'x', sizeof(r));
	memcpy(r + 1021, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(written_reason_len(r, sizeof(r)), 1021);
	/* Not UTF-8 (continuation bytes all along): cut at the limit. */
	memset(r, 0x80, sizeof(r));
	assert_int_equal(written_reason_len(r, sizeof(r)), 1024);
}

/* The zero-copy RECORDS path: a head, one length prefix per record and the payloads, each in
 * its own buffer, concatenate to the message sl_lp_write_records writes, and decode back. */
static void zero_copy_records_decode(void **state)
{
	(void)state;
	static uint8_t payload[3][300];
	const size_t lens[3] = {0, 63, 300}; /* one-byte and two-byte length prefixes */
	struct sl_lp_bytes recs[3];
	uint64_t frames = 0;
	for (int i = 0; i < 3; i++) {
		memset(payload[i], 'a' + i, lens[i]);
		recs[i] = (struct sl_lp_bytes){payload[i], lens[i]};
		frames += sl_varint_len(lens[i]) + lens[i];
	}
	uint8_t head[32], prefixes[32];
	struct sl_writer hw, pw;
	sl_writer_init(&hw, head, sizeof(head));
	assert_int_equal(sl_lp_write_records_head(&hw, 70000, 1234567, 3, frames), 0);
	/* A head needs room for itself only, not for the payloads queued by reference. */
	assert_int_equal(sl_writer_len(&hw), 1 + 2 + 4 + 4 + 1);
	sl_writer_init(&pw, prefixes, sizeof(prefixes));
	size_t pre_at[4] = {0};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sl_lp_write_record_len(&pw, lens[i]), 0);
		pre_at[i + 1] = sl_writer_len(&pw);
	}

	uint8_t msg[1024];
	size_t n = 0;
	memcpy(msg, head, sl_writer_len(&hw));
	n += sl_writer_len(&hw);
	for (int i = 0; i < 3; i++) {
		memcpy(msg + n, prefixes + pre_at[i], pre_at[i + 1] - pre_at[i]);
		n += pre_at[i + 1] - pre_at[i];
		memcpy(msg + n, payload[i], lens[i]);
		n += lens[i];
	}

	uint8_t whole[1024];
	struct sl_writer w;
	sl_writer_init(&w, whole, sizeof(whole));
	assert_int_equal(sl_lp_write_records(&w, 70000, 1234567, recs, 3), 0);
	assert_int_equal(sl_writer_len(&w), n);
	assert_memory_equal(whole, msg, n);

	struct sl_lp_header h;
	const uint8_t *b;
	split(msg, n, &h, &b);
	assert_int_equal(h.type, SL_LP_RECORDS);
	struct sl_lp_records m;
	assert_int_equal(sl_lp_decode_records(b, h.len, NULL, &m, NULL), 0);
	assert_true(m.partition == 70000 && m.first_offset == 1234567 && m.count == 3);
	assert_int_equal(m.payload_bytes, 363);
	struct sl_lp_record_iter it;
	struct sl_lp_bytes rec;
	sl_lp_records_init(&it, m.records, m.count);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(sl_lp_records_next(&it, &rec), 0);
		assert_int_equal(rec.n, lens[i]);
		assert_memory_equal(rec.p, payload[i], lens[i]);
	}
	assert_int_equal(sl_lp_records_next(&it, &rec), SL_EEOF);

	/* A head whose frames_len is one byte short makes a message that does not decode. */
	sl_writer_init(&hw, msg, sizeof(head));
	assert_int_equal(sl_lp_write_records_head(&hw, 70000, 1234567, 3, frames - 1), 0);
	split(msg, n - 1, &h, &b);
	assert_int_equal(sl_lp_decode_records(b, h.len, NULL, &m, NULL), SL_ETRUNC);
}

/* Round trips through extreme values: the largest varint, the largest partition, many
 * records and many starts. */
static void round_trips_at_the_edges(void **state)
{
	(void)state;
	static uint8_t out[1 << 20];
	struct sl_writer w;
	struct sl_lp_header h;
	const uint8_t *b;

	static struct sl_lp_bytes recs[SL_LP_MAX_RECORDS];
	static const uint8_t one = 'z';
	for (uint32_t i = 0; i < SL_LP_MAX_RECORDS; i++)
		recs[i] = (struct sl_lp_bytes){&one, i % 2};
	struct sl_lp_produce p = {.request_id = SL_VARINT_MAX,
				  .stream = BYTES("s"),
				  .partition = UINT32_MAX,
				  .durability = SL_LP_WRITTEN,
				  .count = SL_LP_MAX_RECORDS};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_produce(&w, &p, recs), 0);
	assert_int_equal(sl_lp_produce_size(&p, recs), sl_writer_len(&w));
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_produce d;
	assert_int_equal(sl_lp_decode_produce(b, h.len, NULL, &d, NULL), 0);
	assert_true(d.request_id == SL_VARINT_MAX && d.partition == UINT32_MAX && !d.keyed &&
		    d.count == SL_LP_MAX_RECORDS && d.payload_bytes == SL_LP_MAX_RECORDS / 2);
	struct sl_lp_record_iter it;
	struct sl_lp_bytes rec;
	uint32_t seen = 0;
	sl_lp_records_init(&it, d.records, d.count);
	while (sl_lp_records_next(&it, &rec) == 0) {
		assert_int_equal(rec.n, seen % 2);
		seen++;
	}
	assert_int_equal(seen, SL_LP_MAX_RECORDS);

	static struct sl_lp_start starts[1000];
	for (uint32_t i = 0; i < 1000; i++)
		starts[i] = (struct sl_lp_start){UINT32_MAX - i, (uint8_t)(i % 3),
						 i % 3 == 2 ? SL_VARINT_MAX - i : 0};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("s"), SL_LP_ISO_APPLIED, starts, 1000), 0);
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_subscribe s;
	assert_int_equal(sl_lp_decode_subscribe(b, h.len, NULL, &s, NULL), 0);
	assert_true(s.isolation == SL_LP_ISO_APPLIED && s.count == 1000);
	struct sl_reader r;
	struct sl_lp_start st;
	sl_reader_init(&r, s.starts.p, s.starts.n);
	for (uint32_t i = 0; i < 1000; i++) {
		assert_int_equal(sl_lp_starts_next(&r, &st), 0);
		/* Field by field: the struct has padding after kind. */
		assert_int_equal(st.partition, starts[i].partition);
		assert_int_equal(st.kind, starts[i].kind);
		assert_int_equal(st.offset, starts[i].offset);
	}
	assert_int_equal(sl_lp_starts_next(&r, &st), SL_EEOF);

	static struct sl_lp_marks marks[3000];
	for (uint32_t i = 0; i < 3000; i++)
		marks[i] = (struct sl_lp_marks){i, i * 2, SL_VARINT_MAX - i};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_hwm_ok(&w, 5, marks, 3000), 0);
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_hwm_ok ho;
	assert_int_equal(sl_lp_decode_hwm_ok(b, h.len, NULL, &ho, NULL), 0);
	assert_int_equal(ho.count, 3000);
	struct sl_lp_marks mk;
	sl_reader_init(&r, ho.entries.p, ho.entries.n);
	for (uint32_t i = 0; i < 3000; i++) {
		assert_int_equal(sl_lp_marks_next(&r, &mk), 0);
		assert_memory_equal(&mk, &marks[i], sizeof(mk));
	}
	assert_int_equal(sl_lp_marks_next(&r, &mk), SL_EEOF);
	assert_int_equal(sl_lp_hwm_ok_entry(&ho, 2999, &mk), 0);
	assert_memory_equal(&mk, &marks[2999], sizeof(mk));

	uint32_t removes[] = {UINT32_MAX, 0, 64, 16384};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_assign(&w, NULL, 0, removes, 4), 0);
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_assign as;
	assert_int_equal(sl_lp_decode_assign(b, h.len, NULL, &as, NULL), 0);
	assert_true(as.add_count == 0 && as.adds.n == 0 && as.remove_count == 4);
	uint32_t part;
	sl_reader_init(&r, as.removes.p, as.removes.n);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(sl_lp_partitions_next(&r, &part), 0);
		assert_int_equal(part, removes[i]);
	}

	struct sl_lp_error e = {SL_VARINT_MAX, SL_VARINT_MAX, UINT32_MAX - 1, SL_VARINT_MAX,
				BYTES("x")};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_error(&w, &e), 0);
	split(out, sl_writer_len(&w), &h, &b);
	struct sl_lp_error de;
	assert_int_equal(sl_lp_decode_error(b, h.len, &de, NULL), 0);
	assert_true(de.request_id == SL_VARINT_MAX && de.code == SL_VARINT_MAX &&
		    de.partition == UINT32_MAX - 1 && de.detail == SL_VARINT_MAX);
}

/* Iterators over lists no decoder checked say so instead of reading past them. */
static void iterators_reject_unchecked_lists(void **state)
{
	(void)state;
	static const uint8_t bad[] = {0x05, 'a'};
	struct sl_lp_record_iter it;
	struct sl_lp_bytes rec;
	sl_lp_records_init(&it, (struct sl_lp_bytes){bad, sizeof(bad)}, 1);
	assert_int_equal(sl_lp_records_next(&it, &rec), SL_ECORRUPT);
	struct sl_reader r;
	struct sl_lp_start st;
	static const uint8_t bad_kind[] = {0x00, 0x07};
	sl_reader_init(&r, bad_kind, sizeof(bad_kind));
	assert_int_equal(sl_lp_starts_next(&r, &st), SL_ECORRUPT);
	assert_int_equal(sl_reader_left(&r), sizeof(bad_kind));
	struct sl_lp_marks mk;
	static const uint8_t bad_marks[] = {0x03, 0x02, 0x01};
	sl_reader_init(&r, bad_marks, sizeof(bad_marks));
	assert_int_equal(sl_lp_marks_next(&r, &mk), SL_ECORRUPT);
	uint32_t part;
	static const uint8_t short_part[] = {0x80, 0x00};
	sl_reader_init(&r, short_part, sizeof(short_part));
	assert_int_equal(sl_lp_partitions_next(&r, &part), SL_ECORRUPT);
}

/* The key -> partition mapping is part of the protocol: clients in other languages compute it
 * with their own XXH3, so its values are pinned here. */
static void key_partition_is_stable(void **state)
{
	(void)state;
	/* XXH3-64 of the empty input with seed 0 is the published 2d06800538d394c2: this pins
	 * the hash function itself, not just our use of it. */
	assert_true(sl_hash64("", 0, 0) == UINT64_C(0x2d06800538d394c2));
	assert_true(sl_hash64("user-1", 6, 0) == UINT64_C(0x7c7615c11438e5c9));
	/* Computed once with this implementation and written down. */
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"user-1", 6, 12), 5);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"user-1", 6, 3), 2);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"customer-42", 11, 12), 9);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"", 0, 12), 10);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"", 0, 3), 1);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"user-1", 6, 1), 0);
	assert_int_equal(sl_lp_key_partition((const uint8_t *)"user-1", 6, 0), 0);

	/* Distribution: 120 000 keys over 12 partitions land within 5 % of 10 000 each. */
	uint32_t hist[12] = {0};
	char key[32];
	for (int i = 0; i < 120000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		uint32_t p = sl_lp_key_partition((const uint8_t *)key, (size_t)n, 12);
		assert_true(p < 12);
		hist[p]++;
	}
	for (int p = 0; p < 12; p++) {
		assert_true(hist[p] > 9500);
		assert_true(hist[p] < 10500);
	}
}

static void names_of_types_and_codes(void **state)
{
	(void)state;
	assert_string_equal(sl_lp_type_name(SL_LP_PRODUCE), "produce");
	assert_string_equal(sl_lp_type_name(SL_LP_PRODUCE_OK), "produce_ok");
	assert_string_equal(sl_lp_type_name(SL_LP_ERROR), "error");
	assert_string_equal(sl_lp_type_name(SL_LP_HWM), "hwm");
	assert_string_equal(sl_lp_type_name(SL_LP_HWM_OK), "hwm_ok");
	assert_string_equal(sl_lp_type_name(SL_LP_SUBSCRIBE), "subscribe");
	assert_string_equal(sl_lp_type_name(SL_LP_ASSIGN), "assign");
	assert_string_equal(sl_lp_type_name(SL_LP_STARTED), "started");
	assert_string_equal(sl_lp_type_name(SL_LP_RECORDS), "records");
	assert_string_equal(sl_lp_type_name(SL_LP_REMOVED), "removed");
	assert_string_equal(sl_lp_type_name(SL_LP_PRODUCE_IDEM), "produce_idem");
	assert_string_equal(sl_lp_type_name(SL_LP_PRODUCE_DUP), "produce_dup");
	assert_string_equal(sl_lp_type_name(0), "?");
	static const char *codes[] = {"?",
				      "unknown_stream",
				      "partition_out_of_range",
				      "record_too_large",
				      "overloaded",
				      "shutting_down",
				      "storage_failed",
				      "offset_out_of_range",
				      "malformed",
				      "invalid",
				      "internal",
				      "out_of_order_sequence"};
	for (uint64_t c = 0; c < sizeof(codes) / sizeof(codes[0]); c++)
		assert_string_equal(sl_lp_code_name(c), codes[c]);
	assert_string_equal(sl_lp_code_name(SL_LP_ERR_FENCED), "fenced");
	assert_int_equal(SL_LP_ERR_FENCED, 12);
	assert_string_equal(sl_lp_type_name(SL_LP_COMMIT), "commit");
	assert_string_equal(sl_lp_type_name(SL_LP_COMMIT_OK), "commit_ok");
	assert_string_equal(sl_lp_type_name(SL_LP_SUBSCRIBE_NAMED), "subscribe_named");
	assert_int_equal(SL_LP_RESET_MALFORMED, 0x108);
	assert_string_equal(SL_LP_ALPN, "shardline-log-1");
}

/* ---- the example exchange of docs/log-protocol.md ---- */

/* The stream "orders" has 3 partitions; "user-1" hashes to partition 2, which is empty. */
static const uint8_t ex_produce[] = {0x01, 0x1e, 0x01, 0x06, 'o',  'r', 'd', 'e',  'r',	 's',  0x01,
				     0x06, 'u',	 's',  'e',  'r',  '-', '1', 0x02, 0x02, 0x05, 'h',
				     'e',  'l',	 'l',  'o',  0x05, 'w', 'o', 'r',  'l',	 'd'};
static const uint8_t ex_produce_ok[] = {0x02, 0x04, 0x01, 0x02, 0x00, 0x02};
static const uint8_t ex_hwm[] = {0x04, 0x08, 0x02, 0x06, 'o', 'r', 'd', 'e', 'r', 's'};
static const uint8_t ex_hwm_ok[] = {0x05, 0x0b, 0x02, 0x03, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x02, 0x02};
static const uint8_t ex_subscribe[] = {0x10, 0x0b, 0x06, 'o',  'r',  'd', 'e',
				       'r',  's',  0x00, 0x01, 0x02, 0x00};
static const uint8_t ex_started[] = {0x12, 0x02, 0x02, 0x00};
static const uint8_t ex_records[] = {0x13, 0x0f, 0x02, 0x00, 0x02, 0x05, 'h', 'e', 'l',
				     'l',  'o',	 0x05, 'w',  'o',  'r',	 'l', 'd'};

struct example {
	const char *name; /* the marker in the doc: <!-- example:NAME --> */
	const uint8_t *p;
	size_t n;
};

static const struct example examples[] = {
	{"produce", ex_produce, sizeof(ex_produce)},
	{"produce_ok", ex_produce_ok, sizeof(ex_produce_ok)},
	{"hwm", ex_hwm, sizeof(ex_hwm)},
	{"hwm_ok", ex_hwm_ok, sizeof(ex_hwm_ok)},
	{"subscribe", ex_subscribe, sizeof(ex_subscribe)},
	{"started", ex_started, sizeof(ex_started)},
	{"records", ex_records, sizeof(ex_records)},
};
#define NEXAMPLE (sizeof(examples) / sizeof(examples[0]))

struct encoded {
	uint8_t buf[64];
	size_t len;
};

/* Encodes the exchange from its fields, in the order of examples[]. */
static void encode_examples(struct encoded *ex)
{
	struct sl_writer w;
	struct sl_lp_bytes recs[] = {BYTES("hello"), BYTES("world")};
	uint32_t part = sl_lp_key_partition((const uint8_t *)"user-1", 6, 3);
	assert_int_equal(part, 2);

	sl_writer_init(&w, ex[0].buf, sizeof(ex[0].buf));
	struct sl_lp_produce p = {.request_id = 1,
				  .stream = BYTES("orders"),
				  .keyed = true,
				  .key = BYTES("user-1"),
				  .durability = SL_LP_DURABLE,
				  .count = 2};
	assert_int_equal(sl_lp_write_produce(&w, &p, recs), 0);
	ex[0].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[1].buf, sizeof(ex[1].buf));
	struct sl_lp_produce_ok ok = {1, part, 0, 2};
	assert_int_equal(sl_lp_write_produce_ok(&w, &ok), 0);
	ex[1].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[2].buf, sizeof(ex[2].buf));
	struct sl_lp_hwm hwm = {2, BYTES("orders")};
	assert_int_equal(sl_lp_write_hwm(&w, &hwm), 0);
	ex[2].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[3].buf, sizeof(ex[3].buf));
	struct sl_lp_marks marks[3] = {{0, 0, 0}, {0, 0, 0}, {0, 2, 2}};
	assert_int_equal(sl_lp_write_hwm_ok(&w, 2, marks, 3), 0);
	ex[3].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[4].buf, sizeof(ex[4].buf));
	struct sl_lp_start st = {part, SL_LP_START_EARLIEST, 0};
	assert_int_equal(sl_lp_write_subscribe(&w, BYTES("orders"), SL_LP_ISO_DURABLE, &st, 1), 0);
	ex[4].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[5].buf, sizeof(ex[5].buf));
	struct sl_lp_started sd = {part, 0};
	assert_int_equal(sl_lp_write_started(&w, &sd), 0);
	ex[5].len = sl_writer_len(&w);

	sl_writer_init(&w, ex[6].buf, sizeof(ex[6].buf));
	assert_int_equal(sl_lp_write_records(&w, part, 0, recs, 2), 0);
	ex[6].len = sl_writer_len(&w);
}

static void doc_example_bytes(void **state)
{
	(void)state;
	struct encoded ex[NEXAMPLE];
	encode_examples(ex);
	for (size_t i = 0; i < NEXAMPLE; i++) {
		assert_int_equal(ex[i].len, examples[i].n);
		assert_memory_equal(ex[i].buf, examples[i].p, examples[i].n);
	}
}

/*
 * Reads the hex of one example from the doc: the fenced block after "<!-- example:NAME -->",
 * each line holding bytes as two hex digits separated by single spaces, then (after two or more
 * spaces) a comment. Returns the byte count, or -1 if the marker or block is missing.
 */
static long doc_hex(const char *doc, const char *name, uint8_t *out, size_t cap)
{
	char marker[64];
	snprintf(marker, sizeof(marker), "<!-- example:%s -->", name);
	const char *m = strstr(doc, marker);
	if (m == NULL)
		return -1;
	const char *open = strstr(m, "```");
	if (open == NULL)
		return -1;
	const char *line = strchr(open, '\n');
	size_t n = 0;
	while (line != NULL && strncmp(line + 1, "```", 3) != 0) {
		const char *c = line + 1;
		while (isxdigit((unsigned char)c[0]) && isxdigit((unsigned char)c[1]) &&
		       (c[2] == ' ' || c[2] == '\n')) {
			if (n == cap)
				return -1;
			char hex[3] = {c[0], c[1], 0};
			out[n++] = (uint8_t)strtoul(hex, NULL, 16);
			c += 2;
			/* One space continues the bytes; two or more start the comment. */
			if (c[0] != ' ' || c[1] == ' ')
				break;
			c++;
		}
		line = strchr(line + 1, '\n');
	}
	return line == NULL ? -1 : (long)n;
}

/* The doc's hex and the encoder agree. The doc is found beside the sources through __FILE__
 * (relative to the build directory, where meson runs tests); run elsewhere, this is skipped. */
static void doc_example_matches_the_doc(void **state)
{
	(void)state;
	char path[4096];
	const char *self = __FILE__;
	const char *tail = strstr(self, "dataplane/log/proto_test.c");
	assert_non_null(tail);
	snprintf(path, sizeof(path), "%.*sdocs/log-protocol.md", (int)(tail - self), self);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		print_message("%s not found from here; doc check skipped\n", path);
		skip();
	}
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = 0;

	for (size_t i = 0; i < NEXAMPLE; i++) {
		const struct example *e = &examples[i];
		uint8_t got[64];
		long len = doc_hex(doc, e->name, got, sizeof(got));
		if (len < 0)
			fail_msg("docs/log-protocol.md: example %s missing", e->name);
		if ((size_t)len != e->n || memcmp(got, e->p, e->n) != 0)
			fail_msg("docs/log-protocol.md: example %s differs from the encoder",
				 e->name);
	}
}

/* ---- named consumers: SUBSCRIBE_NAMED, COMMIT, COMMIT_OK, start kinds 3 and 4 ---- */

/* Consumer "billing" subscribes to partition 2 of "orders" from its committed position (or the
 * earliest offset where it committed nothing). The doc's example "subscribe_named". */
static const uint8_t nc_subscribe_named[] = {
	0x17, 0x13,				  /* type SUBSCRIBE_NAMED, body 19 bytes */
	0x07, 'b',  'i', 'l', 'l', 'i', 'n', 'g', /* consumer "billing" */
	0x06, 'o',  'r', 'd', 'e', 'r', 's',	  /* stream "orders" */
	0x00,					  /* isolation 0: durable */
	0x01,					  /* count 1 */
	0x02, 0x03, /* partition 2, kind 3: committed, else earliest */
};

static const uint8_t nc_commit[] = {
	0x15, 0x02, /* type COMMIT, body 2 bytes */
	0x02,	    /* partition 2 */
	0x02,	    /* offset 2: the next one to read */
};

static const uint8_t nc_commit_ok[] = {
	0x16, 0x03, /* type COMMIT_OK, body 3 bytes */
	0x02,	    /* partition 2 */
	0x40, 0x64, /* offset 100 */
};

static void named_goldens_round_trip(void **state)
{
	(void)state;
	uint8_t out[64];
	struct sl_writer w;
	struct sl_lp_header h;
	struct sl_lp_subscribe m;
	const char *why = NULL;

	assert_int_equal(sl_lp_header_parse(nc_subscribe_named, sizeof(nc_subscribe_named), &h), 0);
	assert_int_equal(h.type, SL_LP_SUBSCRIBE_NAMED);
	const uint8_t *body = nc_subscribe_named + h.hdr_len;
	assert_int_equal(sl_lp_decode_subscribe_named(body, h.len, NULL, &m, &why), 0);
	assert_true(bytes_eq(m.consumer, "billing") && bytes_eq(m.stream, "orders"));
	assert_int_equal(m.isolation, SL_LP_ISO_DURABLE);
	assert_int_equal(m.count, 1);
	struct sl_reader r;
	struct sl_lp_start st;
	sl_reader_init(&r, m.starts.p, m.starts.n);
	assert_int_equal(sl_lp_starts_next(&r, &st), 0);
	assert_true(st.partition == 2 && st.kind == SL_LP_START_COMMITTED_OR_EARLIEST &&
		    st.offset == 0);
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_subscribe_named(&w, m.consumer, m.stream, m.isolation, &st, 1),
			 0);
	assert_int_equal(sl_writer_len(&w), sizeof(nc_subscribe_named));
	assert_memory_equal(out, nc_subscribe_named, sizeof(nc_subscribe_named));
	/* Every strict prefix of the body is truncated; a byte more is corrupt. */
	for (size_t cut = 0; cut < h.len; cut++)
		assert_int_equal(sl_lp_decode_subscribe_named(body, cut, NULL, &m, NULL),
				 SL_ETRUNC);
	uint8_t longer[32];
	memcpy(longer, body, h.len);
	longer[h.len] = 0;
	assert_int_equal(sl_lp_decode_subscribe_named(longer, h.len + 1, NULL, &m, &why),
			 SL_ECORRUPT);
	/* An empty consumer name is refused both ways. */
	static const uint8_t empty_name[] = {0x00, 0x01, 'o', 0x00, 0x00};
	assert_int_equal(
		sl_lp_decode_subscribe_named(empty_name, sizeof(empty_name), NULL, &m, &why),
		SL_ERANGE);
	assert_string_equal(why, "subscribe_named.consumer");
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_subscribe_named(&w, BYTES(""), BYTES("orders"), 0, NULL, 0),
			 SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);

	const uint8_t *g[] = {nc_commit, nc_commit_ok};
	size_t gn[] = {sizeof(nc_commit), sizeof(nc_commit_ok)};
	uint64_t types[] = {SL_LP_COMMIT, SL_LP_COMMIT_OK};
	uint64_t offsets[] = {2, 100};
	for (int i = 0; i < 2; i++) {
		struct sl_lp_commit c;
		assert_int_equal(sl_lp_header_parse(g[i], gn[i], &h), 0);
		assert_int_equal(h.type, types[i]);
		assert_int_equal(sl_lp_decode_commit(g[i] + h.hdr_len, h.len, &c, &why), 0);
		assert_int_equal(c.partition, 2);
		assert_int_equal(c.offset, offsets[i]);
		sl_writer_init(&w, out, sizeof(out));
		assert_int_equal(sl_lp_write_commit(&w, types[i], &c), 0);
		assert_int_equal(sl_writer_len(&w), gn[i]);
		assert_memory_equal(out, g[i], gn[i]);
		for (size_t cut = 0; cut < h.len; cut++)
			assert_int_equal(sl_lp_decode_commit(g[i] + h.hdr_len, cut, &c, NULL),
					 SL_ETRUNC);
		memcpy(longer, g[i] + h.hdr_len, h.len);
		longer[h.len] = 0;
		assert_int_equal(sl_lp_decode_commit(longer, h.len + 1, &c, &why), SL_ECORRUPT);
		assert_string_equal(why, "commit.trailing_bytes");
	}
	struct sl_lp_commit c = {1, 5};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_commit(&w, SL_LP_RECORDS, &c), SL_ERANGE);
	c.offset = UINT64_MAX;
	assert_int_equal(sl_lp_write_commit(&w, SL_LP_COMMIT, &c), SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);
	sl_writer_init(&w, out, 3);
	c.offset = 100;
	assert_int_equal(sl_lp_write_commit(&w, SL_LP_COMMIT, &c), SL_ENOSPC);
	assert_int_equal(sl_writer_len(&w), 0);
	/* A partition over 32 bits is out of range. */
	static const uint8_t big_part[] = {0xc0, 0, 0, 1, 0, 0, 0, 0, 0x00};
	assert_int_equal(sl_lp_decode_commit(big_part, sizeof(big_part), &c, &why), SL_ERANGE);
	assert_string_equal(why, "commit.partition");
}

/* The committed start kinds (3, 4) travel in SUBSCRIBE and ASSIGN too (the server refuses them
 * on an unnamed subscription); 5 is malformed. */
static void committed_start_kinds(void **state)
{
	(void)state;
	uint8_t out[64];
	struct sl_writer w;
	struct sl_lp_start st[2] = {{0, SL_LP_START_COMMITTED_OR_EARLIEST, 0},
				    {1, SL_LP_START_COMMITTED_OR_LATEST, 0}};
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_assign(&w, st, 2, NULL, 0), 0);
	struct sl_lp_header h;
	assert_int_equal(sl_lp_header_parse(out, sl_writer_len(&w), &h), 0);
	struct sl_lp_assign a;
	assert_int_equal(sl_lp_decode_assign(out + h.hdr_len, h.len, NULL, &a, NULL), 0);
	struct sl_reader r;
	struct sl_lp_start got;
	sl_reader_init(&r, a.adds.p, a.adds.n);
	assert_int_equal(sl_lp_starts_next(&r, &got), 0);
	assert_int_equal(got.kind, SL_LP_START_COMMITTED_OR_EARLIEST);
	assert_int_equal(sl_lp_starts_next(&r, &got), 0);
	assert_int_equal(got.kind, SL_LP_START_COMMITTED_OR_LATEST);
	assert_int_equal(sl_lp_starts_next(&r, &got), SL_EEOF);
	st[0].kind = 5;
	sl_writer_init(&w, out, sizeof(out));
	assert_int_equal(sl_lp_write_assign(&w, st, 1, NULL, 0), SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);
}

static void named_examples_match_the_doc(void **state)
{
	(void)state;
	char path[4096];
	const char *self = __FILE__;
	const char *tail = strstr(self, "dataplane/log/proto_test.c");
	assert_non_null(tail);
	snprintf(path, sizeof(path), "%.*sdocs/log-protocol.md", (int)(tail - self), self);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		print_message("%s not found from here; doc check skipped\n", path);
		skip();
	}
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = 0;
	const struct example named[] = {
		{"subscribe_named", nc_subscribe_named, sizeof(nc_subscribe_named)},
		{"commit", nc_commit, sizeof(nc_commit)},
		{"commit_ok", nc_commit_ok, sizeof(nc_commit_ok)},
	};
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		uint8_t got[64];
		long len = doc_hex(doc, named[i].name, got, sizeof(got));
		if (len < 0)
			fail_msg("docs/log-protocol.md: example %s missing", named[i].name);
		if ((size_t)len != named[i].n || memcmp(got, named[i].p, named[i].n) != 0)
			fail_msg("docs/log-protocol.md: example %s differs from the golden bytes",
				 named[i].name);
	}
}

/* ---- idempotent producers: PRODUCE_IDEM and PRODUCE_DUP ---- */

/* The doc's example: producer 0x1234, sequence 5, partition 2, durable, "hello" and "world". */
static const uint8_t ex_produce_idem[] = {
	0x06, 0x1b,			     /* type PRODUCE_IDEM, body 27 bytes */
	0x03,				     /* request_id 3 */
	0x06, 'o',  'r', 'd', 'e', 'r', 's', /* stream "orders" */
	0x00, 0x02,			     /* selector 0, partition 2 */
	0x02,				     /* durability 2: durable */
	0x52, 0x34,			     /* producer_id 0x1234 */
	0x05,				     /* sequence 5 */
	0x02,				     /* count 2 */
	0x05, 'h',  'e', 'l', 'l', 'o', 0x05, 'w', 'o', 'r', 'l', 'd',
};
/* Its retry, answered with the original offsets 7 and 8. */
static const uint8_t ex_produce_dup[] = {0x07, 0x04, 0x04, 0x02, 0x07, 0x02};

static void idempotent_produce_bytes(void **state)
{
	(void)state;
	/* The length byte matches the fields. */
	assert_int_equal(sizeof(ex_produce_idem), 2 + 0x1b);
	struct sl_lp_bytes recs[] = {BYTES("hello"), BYTES("world")};
	struct sl_lp_produce p = {.request_id = 3,
				  .stream = BYTES("orders"),
				  .partition = 2,
				  .durability = SL_LP_DURABLE,
				  .count = 2,
				  .idempotent = true,
				  .producer_id = 0x1234,
				  .sequence = 5};
	uint8_t buf[64];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_lp_write_produce(&w, &p, recs), 0);
	assert_int_equal(sl_writer_len(&w), sizeof(ex_produce_idem));
	assert_memory_equal(buf, ex_produce_idem, sizeof(ex_produce_idem));
	assert_int_equal(sl_lp_produce_size(&p, recs), sizeof(ex_produce_idem));

	struct sl_lp_header h;
	const uint8_t *b;
	struct sl_lp_produce d;
	split(ex_produce_idem, sizeof(ex_produce_idem), &h, &b);
	assert_int_equal(h.type, SL_LP_PRODUCE_IDEM);
	assert_int_equal(sl_lp_decode_produce_idem(b, h.len, NULL, &d, NULL), 0);
	assert_true(d.idempotent && d.producer_id == 0x1234 && d.sequence == 5 && d.count == 2 &&
		    !d.keyed && d.partition == 2 && d.request_id == 3);
	/* The plain decoder reads the producer id as the count and fails on the rest. */
	const char *why = NULL;
	assert_int_not_equal(sl_lp_decode_produce(b, h.len, NULL, &d, &why), 0);

	/* Every truncation is SL_ETRUNC; a trailing byte is corrupt. */
	for (size_t k = 0; k < h.len; k++)
		assert_int_equal(sl_lp_decode_produce_idem(b, k, NULL, &d, NULL), SL_ETRUNC);
	uint8_t more[64];
	memcpy(more, b, h.len);
	more[h.len] = 0;
	why = NULL;
	assert_int_equal(sl_lp_decode_produce_idem(more, h.len + 1, NULL, &d, &why), SL_ECORRUPT);

	/* sequence + count over 2^62: refused by both sides, naming the field. */
	p.sequence = (UINT64_C(1) << 62) - 1;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_lp_write_produce(&w, &p, recs), SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);
	p.count = 1;
	assert_int_equal(sl_lp_write_produce(&w, &p, recs), 0);
	split(buf, sl_writer_len(&w), &h, &b);
	memcpy(more, b, h.len);
	/* Patch count 1 -> 2: the last sequence would be 2^62. The count sits right before the
	 * record's length byte (5) at the end. */
	more[h.len - 7] = 2;
	why = NULL;
	assert_int_equal(sl_lp_decode_produce_idem(more, h.len, NULL, &d, &why), SL_ERANGE);
	assert_string_equal(why, "produce.sequence");

	struct sl_lp_produce_ok ok = {4, 2, 7, 2};
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_lp_write_produce_dup(&w, &ok), 0);
	assert_int_equal(sl_writer_len(&w), sizeof(ex_produce_dup));
	assert_memory_equal(buf, ex_produce_dup, sizeof(ex_produce_dup));
	struct sl_lp_produce_ok okd;
	split(ex_produce_dup, sizeof(ex_produce_dup), &h, &b);
	assert_int_equal(h.type, SL_LP_PRODUCE_DUP);
	assert_int_equal(sl_lp_decode_produce_ok(b, h.len, &okd, NULL), 0);
	assert_true(okd.request_id == 4 && okd.partition == 2 && okd.first_offset == 7 &&
		    okd.count == 2);
}

static void idempotent_examples_match_the_doc(void **state)
{
	(void)state;
	char path[4096];
	const char *self = __FILE__;
	const char *tail = strstr(self, "dataplane/log/proto_test.c");
	assert_non_null(tail);
	snprintf(path, sizeof(path), "%.*sdocs/log-protocol.md", (int)(tail - self), self);
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		print_message("%s not found from here; doc check skipped\n", path);
		skip();
	}
	static char doc[1 << 17];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = 0;
	uint8_t got[64];
	long len = doc_hex(doc, "produce_idem", got, sizeof(got));
	assert_int_equal(len, sizeof(ex_produce_idem));
	assert_memory_equal(got, ex_produce_idem, sizeof(ex_produce_idem));
	len = doc_hex(doc, "produce_dup", got, sizeof(got));
	assert_int_equal(len, sizeof(ex_produce_dup));
	assert_memory_equal(got, ex_produce_dup, sizeof(ex_produce_dup));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(goldens_decode_and_reencode_exactly),
		cmocka_unit_test(goldens_decode_to_the_documented_fields),
		cmocka_unit_test(every_truncation_is_eagain_or_etrunc),
		cmocka_unit_test(a_trailing_byte_is_corrupt),
		cmocka_unit_test(out_of_range_enums_are_corrupt),
		cmocka_unit_test(limits_are_enforced),
		cmocka_unit_test(non_minimal_varints_decode),
		cmocka_unit_test(failed_decodes_leave_out_untouched),
		cmocka_unit_test(header_parse_waits_for_a_whole_header),
		cmocka_unit_test(writers_produce_the_goldens_or_enospc),
		cmocka_unit_test(writers_refuse_out_of_range_fields),
		cmocka_unit_test(error_reasons_are_cut_at_a_character),
		cmocka_unit_test(zero_copy_records_decode),
		cmocka_unit_test(round_trips_at_the_edges),
		cmocka_unit_test(iterators_reject_unchecked_lists),
		cmocka_unit_test(key_partition_is_stable),
		cmocka_unit_test(names_of_types_and_codes),
		cmocka_unit_test(doc_example_bytes),
		cmocka_unit_test(doc_example_matches_the_doc),
		cmocka_unit_test(idempotent_produce_bytes),
		cmocka_unit_test(idempotent_examples_match_the_doc),
		cmocka_unit_test(named_goldens_round_trip),
		cmocka_unit_test(committed_start_kinds),
		cmocka_unit_test(named_examples_match_the_doc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
