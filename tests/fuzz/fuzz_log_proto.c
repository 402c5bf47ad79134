/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the log protocol codec (log/proto.h). The input is a stream of framed
 * messages as a peer would send them: each header is parsed and its body goes to the decoder its
 * type names; unknown types are mapped onto one, so every decoder sees arbitrary bytes. For each
 * body a decoder accepts:
 *   - the matching writer re-encodes it; the rewritten body is never longer than the input, and
 *     when it is as long (the input used minimal varints) it is byte-identical;
 *   - the rewrite decodes again and rewrites to the same bytes (same fields);
 *   - the lists iterate to their counts, and the zero-copy RECORDS writer agrees with the whole
 *     one;
 *   - strict prefixes of the body are SL_ETRUNC;
 *   - tighter limits only ever refuse more, with SL_ERANGE.
 * A refusal must be SL_ETRUNC, SL_ECORRUPT or SL_ERANGE with the field named.
 */
#include "core/err.h"
#include "core/varint.h"
#include "log/proto.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint64_t kinds[] = {
	SL_LP_PRODUCE,	       SL_LP_PRODUCE_OK,   SL_LP_ERROR,	     SL_LP_HWM,
	SL_LP_HWM_OK,	       SL_LP_SUBSCRIBE,	   SL_LP_ASSIGN,     SL_LP_STARTED,
	SL_LP_RECORDS,	       SL_LP_REMOVED,	   SL_LP_COMMIT,     SL_LP_COMMIT_OK,
	SL_LP_SUBSCRIBE_NAMED, SL_LP_PRODUCE_IDEM, SL_LP_PRODUCE_DUP};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Room for the longest lists a body of -max_len bytes can hold, and then some: lists are
 * bounded by the default limits, which these match. */
static struct sl_lp_bytes recs[SL_LP_MAX_RECORDS];
static struct sl_lp_start starts[65536];
static uint32_t parts[65536];
static struct sl_lp_marks marks[65536];

/* Records iterate to count and sum to payload_bytes; recs[] receives them. */
static void iterate_records(struct sl_lp_bytes list, uint32_t count, uint64_t payload)
{
	struct sl_lp_record_iter it;
	sl_lp_records_init(&it, list, count);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < count; i++) {
		CHECK(sl_lp_records_next(&it, &recs[i]) == 0);
		CHECK(recs[i].p >= list.p && recs[i].p + recs[i].n <= list.p + list.n);
		sum += recs[i].n;
	}
	struct sl_lp_bytes extra;
	CHECK(sl_lp_records_next(&it, &extra) == SL_EEOF);
	CHECK(sl_reader_left(&it.r) == 0);
	CHECK(sum == payload);
}

static void iterate_starts(struct sl_lp_bytes list, uint32_t count)
{
	struct sl_reader r;
	sl_reader_init(&r, list.p, list.n);
	for (uint32_t i = 0; i < count; i++) {
		CHECK(sl_lp_starts_next(&r, &starts[i]) == 0);
		CHECK(starts[i].kind <= SL_LP_START_COMMITTED_OR_LATEST);
		CHECK(starts[i].kind == SL_LP_START_OFFSET || starts[i].offset == 0);
	}
	struct sl_lp_start extra;
	CHECK(sl_lp_starts_next(&r, &extra) == SL_EEOF);
}

/*
 * Decodes a body of the given type under lim; on success, when w is not NULL, checks the
 * decoded lists and rewrites the message into w (which must succeed: whatever a decoder accepts
 * is writable).
 */
static int decode(uint64_t type, const uint8_t *b, size_t n, const struct sl_lp_limits *lim,
		  const char **why, struct sl_writer *w)
{
	int rc;
	switch (type) {
	case SL_LP_PRODUCE:
	case SL_LP_PRODUCE_IDEM: {
		struct sl_lp_produce m;
		bool idem = type == SL_LP_PRODUCE_IDEM;
		if ((rc = idem ? sl_lp_decode_produce_idem(b, n, lim, &m, why)
			       : sl_lp_decode_produce(b, n, lim, &m, why)) != 0 ||
		    w == NULL)
			return rc;
		CHECK(m.idempotent == idem);
		CHECK(!idem || m.sequence + m.count <= (UINT64_C(1) << 62));
		CHECK(m.count >= 1 && m.durability <= SL_LP_DURABLE);
		CHECK(m.stream.n >= 1 && m.stream.n <= SL_LP_MAX_STREAM_NAME);
		CHECK(!m.keyed || m.key.n <= SL_LP_MAX_KEY);
		if (m.keyed)
			CHECK(sl_lp_key_partition(m.key.p, m.key.n, 7) < 7);
		iterate_records(m.records, m.count, m.payload_bytes);
		size_t before = sl_writer_len(w);
		CHECK(sl_lp_write_produce(w, &m, recs) == 0);
		CHECK(sl_lp_produce_size(&m, recs) == sl_writer_len(w) - before);
		return 0;
	}
	case SL_LP_PRODUCE_OK:
	case SL_LP_PRODUCE_DUP: {
		struct sl_lp_produce_ok m;
		if ((rc = sl_lp_decode_produce_ok(b, n, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(m.first_offset + m.count <= (UINT64_C(1) << 62));
		CHECK((type == SL_LP_PRODUCE_DUP ? sl_lp_write_produce_dup(w, &m)
						 : sl_lp_write_produce_ok(w, &m)) == 0);
		return 0;
	}
	case SL_LP_ERROR: {
		struct sl_lp_error m;
		if ((rc = sl_lp_decode_error(b, n, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(m.reason.n <= SL_LP_MAX_REASON);
		CHECK(sl_lp_code_name(m.code) != NULL);
		CHECK(sl_lp_write_error(w, &m) == 0);
		return 0;
	}
	case SL_LP_HWM: {
		struct sl_lp_hwm m;
		if ((rc = sl_lp_decode_hwm(b, n, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(sl_lp_write_hwm(w, &m) == 0);
		return 0;
	}
	case SL_LP_HWM_OK: {
		struct sl_lp_hwm_ok m;
		if ((rc = sl_lp_decode_hwm_ok(b, n, lim, &m, why)) != 0 || w == NULL)
			return rc;
		struct sl_reader r;
		sl_reader_init(&r, m.entries.p, m.entries.n);
		for (uint32_t i = 0; i < m.count; i++) {
			CHECK(sl_lp_marks_next(&r, &marks[i]) == 0);
			CHECK(marks[i].start <= marks[i].durable &&
			      marks[i].durable <= marks[i].high_water);
		}
		struct sl_lp_marks e;
		CHECK(sl_lp_marks_next(&r, &e) == SL_EEOF);
		/* Random access agrees with iteration at both ends (it is O(i), so not for all). */
		if (m.count > 0) {
			CHECK(sl_lp_hwm_ok_entry(&m, 0, &e) == 0);
			CHECK(memcmp(&e, &marks[0], sizeof(e)) == 0);
			CHECK(sl_lp_hwm_ok_entry(&m, m.count - 1, &e) == 0);
			CHECK(memcmp(&e, &marks[m.count - 1], sizeof(e)) == 0);
		}
		CHECK(sl_lp_hwm_ok_entry(&m, m.count, &e) == SL_EINVAL);
		CHECK(sl_lp_write_hwm_ok(w, m.request_id, marks, m.count) == 0);
		return 0;
	}
	case SL_LP_SUBSCRIBE: {
		struct sl_lp_subscribe m;
		if ((rc = sl_lp_decode_subscribe(b, n, lim, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(m.isolation <= SL_LP_ISO_APPLIED);
		iterate_starts(m.starts, m.count);
		CHECK(sl_lp_write_subscribe(w, m.stream, m.isolation, starts, m.count) == 0);
		return 0;
	}
	case SL_LP_ASSIGN: {
		struct sl_lp_assign m;
		if ((rc = sl_lp_decode_assign(b, n, lim, &m, why)) != 0 || w == NULL)
			return rc;
		iterate_starts(m.adds, m.add_count);
		struct sl_reader r;
		sl_reader_init(&r, m.removes.p, m.removes.n);
		for (uint32_t i = 0; i < m.remove_count; i++)
			CHECK(sl_lp_partitions_next(&r, &parts[i]) == 0);
		uint32_t extra;
		CHECK(sl_lp_partitions_next(&r, &extra) == SL_EEOF);
		CHECK(sl_lp_write_assign(w, starts, m.add_count, parts, m.remove_count) == 0);
		return 0;
	}
	case SL_LP_SUBSCRIBE_NAMED: {
		struct sl_lp_subscribe m;
		if ((rc = sl_lp_decode_subscribe_named(b, n, lim, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(m.consumer.n >= 1 && m.consumer.n <= SL_LP_MAX_STREAM_NAME);
		iterate_starts(m.starts, m.count);
		CHECK(sl_lp_write_subscribe_named(w, m.consumer, m.stream, m.isolation, starts,
						  m.count) == 0);
		return 0;
	}
	case SL_LP_COMMIT:
	case SL_LP_COMMIT_OK: {
		struct sl_lp_commit m;
		if ((rc = sl_lp_decode_commit(b, n, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(sl_lp_write_commit(w, type, &m) == 0);
		return 0;
	}
	case SL_LP_STARTED: {
		struct sl_lp_started m;
		if ((rc = sl_lp_decode_started(b, n, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(sl_lp_write_started(w, &m) == 0);
		return 0;
	}
	case SL_LP_REMOVED: {
		uint32_t p;
		if ((rc = sl_lp_decode_removed(b, n, &p, why)) != 0 || w == NULL)
			return rc;
		CHECK(sl_lp_write_removed(w, p) == 0);
		return 0;
	}
	default: {
		CHECK(type == SL_LP_RECORDS);
		struct sl_lp_records m;
		if ((rc = sl_lp_decode_records(b, n, lim, &m, why)) != 0 || w == NULL)
			return rc;
		CHECK(m.count >= 1 && m.first_offset + m.count <= (UINT64_C(1) << 62));
		iterate_records(m.records, m.count, m.payload_bytes);
		size_t before = sl_writer_len(w);
		CHECK(sl_lp_write_records(w, m.partition, m.first_offset, recs, m.count) == 0);
		/* The zero-copy path: head, then per record a length prefix and the payload. */
		size_t whole = sl_writer_len(w) - before;
		uint8_t *zc = malloc(whole);
		CHECK(zc != NULL);
		struct sl_writer z;
		sl_writer_init(&z, zc, whole);
		uint64_t frames = 0;
		for (uint32_t i = 0; i < m.count; i++)
			frames += sl_varint_len(recs[i].n) + recs[i].n;
		CHECK(sl_lp_write_records_head(&z, m.partition, m.first_offset, m.count, frames) ==
		      0);
		for (uint32_t i = 0; i < m.count; i++) {
			CHECK(sl_lp_write_record_len(&z, recs[i].n) == 0);
			CHECK(sl_writer_bytes(&z, recs[i].p, recs[i].n) == 0);
		}
		CHECK(sl_writer_len(&z) == whole);
		CHECK(memcmp(zc, w->start + before, whole) == 0);
		free(zc);
		return 0;
	}
	}
}

static void check_refusal(int rc, const char *why)
{
	CHECK(rc == SL_ETRUNC || rc == SL_ECORRUPT || rc == SL_ERANGE);
	CHECK(why != NULL && why[0] != 0);
}

/* Checks one complete body (copied to a buffer of exactly its size, so the sanitizers catch a
 * read past it). */
static void check_body(uint64_t type, const uint8_t *body, size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	CHECK(b != NULL);
	if (n)
		memcpy(b, body, n);
	const char *why = NULL;
	/* The rewrite is at most the body plus a header of two 8-byte varints. */
	size_t cap = n + 16;
	uint8_t *out = malloc(cap);
	CHECK(out != NULL);
	struct sl_writer w;
	sl_writer_init(&w, out, cap);
	int rc = decode(type, b, n, NULL, &why, &w);

	struct sl_lp_limits tight;
	sl_lp_limits_default(&tight);
	tight.max_record_bytes = 16;
	tight.max_records = 4;
	tight.max_assign = 4;
	tight.max_partitions = 4;
	const char *why_tight = NULL;
	int rc_tight = decode(type, b, n, &tight, &why_tight, NULL);

	if (rc != 0) {
		check_refusal(rc, why);
		CHECK(rc_tight != 0);
		check_refusal(rc_tight, why_tight);
		free(out);
		free(b);
		return;
	}
	CHECK(rc_tight == 0 || rc_tight == SL_ERANGE);

	struct sl_lp_header h;
	CHECK(sl_lp_header_parse(out, sl_writer_len(&w), &h) == 0);
	CHECK(h.type == type);
	CHECK(h.hdr_len + h.len == sl_writer_len(&w));
	const uint8_t *rb = out + h.hdr_len;
	CHECK(h.len <= n);
	if (h.len == n)
		CHECK(memcmp(rb, b, n) == 0);

	/* The rewrite is canonical: it decodes and rewrites to itself. */
	uint8_t *again = malloc(cap);
	CHECK(again != NULL);
	struct sl_writer w2;
	sl_writer_init(&w2, again, cap);
	why = NULL;
	CHECK(decode(type, rb, (size_t)h.len, NULL, &why, &w2) == 0);
	CHECK(sl_writer_len(&w2) == sl_writer_len(&w));
	CHECK(memcmp(again, out, sl_writer_len(&w)) == 0);

	/* Every field ends with at least one byte, so a strict prefix always ends inside one. */
	if (n > 0) {
		CHECK(decode(type, b, n - 1, NULL, &why, NULL) == SL_ETRUNC);
		CHECK(decode(type, b, n / 2, NULL, &why, NULL) == SL_ETRUNC);
	}
	free(again);
	free(out);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t at = 0;
	while (at < size) {
		struct sl_lp_header h;
		int rc = sl_lp_header_parse(data + at, size - at, &h);
		if (rc != 0) {
			CHECK(rc == SL_EAGAIN);
			break;
		}
		CHECK(h.hdr_len >= 2 && h.hdr_len <= 16 && h.hdr_len <= size - at);
		CHECK(sl_lp_type_name(h.type) != NULL);
		uint64_t type = h.type;
		if (strcmp(sl_lp_type_name(type), "?") == 0)
			type = kinds[type % NKINDS];
		at += h.hdr_len;
		if (h.len > size - at) {
			/* A body still arriving: the decoder must cope with what is there. */
			const char *why = NULL;
			uint8_t *b = malloc(size - at ? size - at : 1);
			CHECK(b != NULL);
			memcpy(b, data + at, size - at);
			rc = decode(type, b, size - at, NULL, &why, NULL);
			if (rc != 0)
				check_refusal(rc, why);
			free(b);
			break;
		}
		check_body(type, data + at, (size_t)h.len);
		at += (size_t)h.len;
	}
	return 0;
}
