/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the moq-lite codec (lite-04 and lite-05 messages). The first byte picks the
 * message kind, the rest is fed to its decoder as a stream would be. A message that decodes must
 * re-encode (unless a value is beyond what shardline sends, which the encoder refuses) and decode
 * again to the same fields; a failure must be one of the documented codes and leave the reader
 * where it was.
 */
#include "core/err.h"
#include "moq/codec.h"

#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int str_eq(struct sl_moq_str a, struct sl_moq_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

static int terms_eq(const struct sl_moq_subscribe_terms *a, const struct sl_moq_subscribe_terms *b)
{
	return a->priority == b->priority && a->ordered == b->ordered &&
	       a->max_latency_ms == b->max_latency_ms && a->has_start == b->has_start &&
	       (!a->has_start || a->start == b->start) && a->has_end == b->has_end &&
	       (!a->has_end || a->end == b->end);
}

/* One kind: decode from r, and on success re-encode into out and decode that into m2. */
#define ROUND(kind, type, eq)                                                                      \
	do {                                                                                       \
		type m1, m2;                                                                       \
		memset(&m1, 0, sizeof(m1));                                                        \
		memset(&m2, 0, sizeof(m2));                                                        \
		rc = sl_moq_decode_##kind(&r, &m1, &why);                                          \
		if (rc != 0)                                                                       \
			break;                                                                     \
		int erc = sl_moq_encode_##kind(&w, &m1);                                           \
		CHECK(erc == 0 || erc == SL_ERANGE);                                               \
		if (erc != 0)                                                                      \
			break;                                                                     \
		struct sl_reader r2;                                                               \
		sl_reader_init(&r2, out, sl_writer_len(&w));                                       \
		CHECK(sl_moq_decode_##kind(&r2, &m2, &why) == 0);                                  \
		CHECK(sl_reader_left(&r2) == 0);                                                   \
		CHECK(eq);                                                                         \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	struct sl_reader r;
	sl_reader_init(&r, data + 1, size - 1);
	uint8_t out[8192];
	struct sl_writer w;
	sl_writer_init(&w, out, sizeof(out));
	const char *why = NULL;
	size_t before = sl_reader_left(&r);
	int rc = 0;
	switch (data[0] % 16) {
	case 0:
		ROUND(announce_interest, struct sl_moq_announce_interest,
		      str_eq(m1.prefix, m2.prefix) && m1.exclude_hop == m2.exclude_hop);
		break;
	case 1:
		ROUND(announce, struct sl_moq_announce,
		      m1.active == m2.active && str_eq(m1.suffix, m2.suffix) &&
			      m1.hop_count == m2.hop_count &&
			      memcmp(m1.hops, m2.hops, m1.hop_count * sizeof(m1.hops[0])) == 0);
		break;
	case 2:
		ROUND(subscribe, struct sl_moq_subscribe,
		      m1.id == m2.id && str_eq(m1.broadcast, m2.broadcast) &&
			      str_eq(m1.track, m2.track) && m1.priority == m2.priority &&
			      m1.ordered == m2.ordered && m1.has_start == m2.has_start &&
			      m1.start == m2.start && m1.has_end == m2.has_end && m1.end == m2.end);
		break;
	case 3:
		ROUND(subscribe_update, struct sl_moq_subscribe_terms, terms_eq(&m1, &m2));
		break;
	case 4:
		ROUND(response, struct sl_moq_response,
		      m1.type == m2.type &&
			      (m1.type == SL_MOQ_RESPONSE_OK
				       ? terms_eq(&m1.u.ok, &m2.u.ok)
				       : memcmp(&m1.u.drop, &m2.u.drop, sizeof(m1.u.drop)) == 0));
		break;
	case 5:
		ROUND(group, struct sl_moq_group, memcmp(&m1, &m2, sizeof(m1)) == 0);
		break;
	case 6:
		ROUND(fetch, struct sl_moq_fetch,
		      str_eq(m1.broadcast, m2.broadcast) && str_eq(m1.track, m2.track) &&
			      m1.priority == m2.priority && m1.group == m2.group);
		break;
	case 7:
		ROUND(probe, struct sl_moq_probe, memcmp(&m1, &m2, sizeof(m1)) == 0);
		break;
	case 8:
		ROUND(goaway, struct sl_moq_goaway, str_eq(m1.uri, m2.uri));
		break;
	case 9:
		ROUND(setup, struct sl_moq_setup,
		      m1.has_probe == m2.has_probe && m1.has_path == m2.has_path &&
			      m1.has_role == m2.has_role && m1.has_origin == m2.has_origin &&
			      m1.probe == m2.probe && m1.role == m2.role &&
			      m1.origin == m2.origin && (!m1.has_path || str_eq(m1.path, m2.path)));
		break;
	case 10:
		ROUND(announce_ok, struct sl_moq_announce_ok, memcmp(&m1, &m2, sizeof(m1)) == 0);
		break;
	case 11: {
		/* lite-05's ANNOUNCE re-encodes with lite-04's encoder (status 2 becomes 1). */
		struct sl_moq_announce m1, m2;
		memset(&m1, 0, sizeof(m1));
		memset(&m2, 0, sizeof(m2));
		rc = sl_moq_decode_announce05(&r, &m1, &why);
		if (rc != 0)
			break;
		int erc = sl_moq_encode_announce(&w, &m1);
		CHECK(erc == 0 || erc == SL_ERANGE);
		if (erc != 0)
			break;
		struct sl_reader r2;
		sl_reader_init(&r2, out, sl_writer_len(&w));
		CHECK(sl_moq_decode_announce05(&r2, &m2, &why) == 0);
		CHECK(m1.active == m2.active && str_eq(m1.suffix, m2.suffix) &&
		      m1.hop_count == m2.hop_count);
		break;
	}
	case 12:
		ROUND(track, struct sl_moq_track,
		      str_eq(m1.broadcast, m2.broadcast) && str_eq(m1.track, m2.track));
		break;
	case 13:
		ROUND(track_info, struct sl_moq_track_info, memcmp(&m1, &m2, sizeof(m1)) == 0);
		break;
	case 14:
		ROUND(response05, struct sl_moq_response05,
		      m1.type == m2.type &&
			      (m1.type == SL_MOQ_RESPONSE05_DROP
				       ? memcmp(&m1.u.drop, &m2.u.drop, sizeof(m1.u.drop)) == 0
				       : m1.u.group == m2.u.group));
		break;
	default: {
		int64_t d1, d2;
		uint64_t n1, n2;
		rc = sl_moq_decode_frame_header05(&r, 1u << 20, &d1, &n1, &why);
		if (rc != 0)
			break;
		int erc = sl_moq_encode_frame_header05(&w, d1, n1);
		CHECK(erc == 0 || erc == SL_ERANGE);
		if (erc != 0)
			break;
		struct sl_reader r2;
		sl_reader_init(&r2, out, sl_writer_len(&w));
		CHECK(sl_moq_decode_frame_header05(&r2, 1u << 20, &d2, &n2, &why) == 0);
		CHECK(d1 == d2 && n1 == n2 && sl_reader_left(&r2) == 0);
		break;
	}
	}
	if (rc != 0) {
		CHECK(rc == SL_ETRUNC || rc == SL_ECORRUPT || rc == SL_ERANGE);
		CHECK(sl_reader_left(&r) == before);
		CHECK(why != NULL);
	}
	return 0;
}
