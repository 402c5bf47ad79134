/* SPDX-License-Identifier: Apache-2.0 */
#include "moq/codec.h"
#include "core/err.h"
#include "core/varint.h"

#include <string.h>

/* Control messages are small; a body larger than this cannot be produced from legal fields. */
#define SL_MOQ_SCRATCH (2 * SL_MOQ_MAX_STRING + SL_MOQ_MAX_HOPS * 8 + 128)

#define WHY(s)                                                                                     \
	do {                                                                                       \
		if (why)                                                                           \
			*why = (s);                                                                \
	} while (0)

uint64_t sl_moq_error_code(int sl_err)
{
	switch (sl_err) {
	case SL_ECORRUPT:
	case SL_ETRUNC:
		return SL_MOQ_ERR_DECODE;
	case SL_ERANGE:
	case SL_EBOUNDS:
		return SL_MOQ_ERR_BOUNDS;
	case SL_EDUP:
		return SL_MOQ_ERR_DUPLICATE;
	case SL_ENOTFOUND:
		return SL_MOQ_ERR_NOT_FOUND;
	case SL_ETIMEDOUT:
		return SL_MOQ_ERR_TIMEOUT;
	case SL_EDROPPED:
		return SL_MOQ_ERR_DROPPED;
	case SL_ECLOSED:
		return SL_MOQ_ERR_CLOSED;
	case SL_ENOTSUP:
		return SL_MOQ_ERR_UNSUPPORTED;
	case SL_ELOST:
	case SL_ENOSPC:
		return SL_MOQ_ERR_CACHE_FULL;
	case SL_EIO:
		return SL_MOQ_ERR_TRANSPORT;
	default:
		return SL_MOQ_ERR_CANCEL;
	}
}

/* ---- body field readers: input shorter than a field inside a complete message is corrupt ---- */

static int rd_varint(struct sl_reader *b, uint64_t *v, const char **why, const char *field)
{
	if (sl_reader_varint(b, v) != 0) {
		WHY(field);
		return SL_ECORRUPT;
	}
	return 0;
}

static int rd_flag(struct sl_reader *b, bool *v, const char **why, const char *field)
{
	uint8_t x;
	if (sl_reader_u8(b, &x) != 0 || x > 1) {
		WHY(field);
		return SL_ECORRUPT;
	}
	*v = x;
	return 0;
}

static int rd_u8(struct sl_reader *b, uint8_t *v, const char **why, const char *field)
{
	if (sl_reader_u8(b, v) != 0) {
		WHY(field);
		return SL_ECORRUPT;
	}
	return 0;
}

static int rd_str(struct sl_reader *b, struct sl_moq_str *s, const char **why, const char *field)
{
	int rc = sl_reader_lenbytes(b, SL_MOQ_MAX_STRING, &s->p, &s->len);
	if (rc != 0) {
		WHY(field);
		return rc == SL_ERANGE ? SL_ERANGE : SL_ECORRUPT;
	}
	return 0;
}

/* A "+1" field: 0 means none, n means n - 1. */
static int rd_opt(struct sl_reader *b, bool *has, uint64_t *v, const char **why, const char *field)
{
	uint64_t x;
	int rc = rd_varint(b, &x, why, field);
	if (rc != 0)
		return rc;
	*has = x != 0;
	*v = x ? x - 1 : 0;
	return 0;
}

/*
 * Opens a Length(i)-prefixed message: on success *body covers exactly its bytes and r has moved
 * past it. SL_ETRUNC (reader unchanged) until the whole message is present.
 */
static int msg_open(struct sl_reader *r, struct sl_reader *body, const char **why)
{
	struct sl_reader save = *r;
	uint64_t len;
	const uint8_t *p;
	if (sl_reader_varint(r, &len) != 0) {
		WHY("length");
		return SL_ETRUNC;
	}
	if (len > SL_MOQ_SCRATCH) {
		*r = save;
		WHY("length over the message size limit");
		return SL_ERANGE;
	}
	if (sl_reader_bytes(r, (size_t)len, &p) != 0) {
		*r = save;
		WHY("body");
		return SL_ETRUNC;
	}
	sl_reader_init(body, p, (size_t)len);
	return 0;
}

static int msg_close(struct sl_reader *body, const char **why)
{
	if (sl_reader_left(body) != 0) {
		WHY("trailing bytes after the last field");
		return SL_ECORRUPT;
	}
	return 0;
}

/* Runs a body decoder on a complete message; the reader is restored on any error. */
#define DECODE_MSG(r, why, body_stmts)                                                             \
	do {                                                                                       \
		struct sl_reader save_ = *(r), b_;                                                 \
		int rc_ = msg_open((r), &b_, (why));                                               \
		if (rc_ != 0)                                                                      \
			return rc_;                                                                \
		struct sl_reader *b = &b_;                                                         \
		body_stmts;                                                                        \
		if (rc_ == 0)                                                                      \
			rc_ = msg_close(b, (why));                                                 \
		if (rc_ != 0)                                                                      \
			*(r) = save_;                                                              \
		return rc_;                                                                        \
	} while (0)

#define TRY(expr)                                                                                  \
	if (rc_ == 0)                                                                              \
	rc_ = (expr)

/* ---- encoders: the body goes to scratch first, then Length(i) + body in one step ---- */

struct enc {
	uint8_t buf[SL_MOQ_SCRATCH];
	struct sl_writer w;
	int rc;
};

static void enc_init(struct enc *e)
{
	sl_writer_init(&e->w, e->buf, sizeof(e->buf));
	e->rc = 0;
}

static void enc_varint(struct enc *e, uint64_t v)
{
	if (e->rc == 0 && v > SL_MOQ_MAX_VALUE)
		e->rc = SL_ERANGE;
	if (e->rc == 0)
		e->rc = sl_writer_varint(&e->w, v) ? SL_ERANGE : 0;
}

static void enc_u8(struct enc *e, uint8_t v)
{
	if (e->rc == 0)
		e->rc = sl_writer_u8(&e->w, v) ? SL_ERANGE : 0;
}

static void enc_str(struct enc *e, const struct sl_moq_str *s)
{
	if (e->rc == 0 && s->len > SL_MOQ_MAX_STRING)
		e->rc = SL_ERANGE;
	if (e->rc == 0)
		e->rc = sl_writer_lenbytes(&e->w, s->p, s->len) ? SL_ERANGE : 0;
}

static void enc_opt(struct enc *e, bool has, uint64_t v)
{
	if (has && v >= SL_MOQ_MAX_VALUE) {
		e->rc = e->rc ? e->rc : SL_ERANGE;
		return;
	}
	enc_varint(e, has ? v + 1 : 0);
}

/* Writes [type(i)] Length(i) body, or nothing. type < 0 means untyped. */
static int enc_finish(struct enc *e, struct sl_writer *w, int64_t type)
{
	if (e->rc != 0)
		return e->rc;
	size_t n = sl_writer_len(&e->w);
	size_t need = sl_varint_len(n) + n + (type >= 0 ? sl_varint_len((uint64_t)type) : 0);
	if ((size_t)(w->end - w->p) < need)
		return SL_ENOSPC;
	if (type >= 0)
		sl_writer_varint(w, (uint64_t)type);
	sl_writer_varint(w, n);
	sl_writer_bytes(w, e->buf, n);
	return 0;
}

/* ---- messages ---- */

int sl_moq_decode_stream_type(struct sl_reader *r, uint64_t *type, const char **why)
{
	if (sl_reader_varint(r, type) != 0) {
		WHY("stream type");
		return SL_ETRUNC;
	}
	return 0;
}

int sl_moq_encode_stream_type(struct sl_writer *w, enum sl_moq_stream_type type)
{
	return sl_writer_varint(w, (uint64_t)type);
}

int sl_moq_decode_announce_interest(struct sl_reader *r, struct sl_moq_announce_interest *m,
				    const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_str(b, &m->prefix, why, "announce_interest.prefix"));
		TRY(rd_varint(b, &m->exclude_hop, why, "announce_interest.exclude_hop"));
	});
}

int sl_moq_encode_announce_interest(struct sl_writer *w, const struct sl_moq_announce_interest *m)
{
	struct enc e;
	enc_init(&e);
	enc_str(&e, &m->prefix);
	enc_varint(&e, m->exclude_hop);
	return enc_finish(&e, w, -1);
}

/* ANNOUNCE's body: status(8) suffix(s) hop_count(i) hop_id(i)*. lite-04 knows statuses 0 and 1,
 * lite-05 also 2 ("accepted", active). */
static int rd_announce(struct sl_reader *b, struct sl_moq_announce *m, uint8_t max_status,
		       const char **why)
{
	int rc_ = 0;
	uint64_t n = 0;
	uint8_t status = 0;
	TRY(rd_u8(b, &status, why, "announce.status"));
	if (rc_ == 0 && status > max_status) {
		WHY(max_status == 1 ? "announce.status" : "announce.status not 0, 1 or 2");
		rc_ = SL_ECORRUPT;
	}
	m->active = status != 0;
	TRY(rd_str(b, &m->suffix, why, "announce.suffix"));
	TRY(rd_varint(b, &n, why, "announce.hop_count"));
	if (rc_ == 0 && n > SL_MOQ_MAX_HOPS) {
		WHY("announce.hop_count over the limit");
		rc_ = SL_ERANGE;
	}
	m->hop_count = (uint32_t)n;
	for (uint64_t i = 0; rc_ == 0 && i < n; i++)
		TRY(rd_varint(b, &m->hops[i], why, "announce.hop_id"));
	return rc_;
}

int sl_moq_decode_announce(struct sl_reader *r, struct sl_moq_announce *m, const char **why)
{
	DECODE_MSG(r, why, { TRY(rd_announce(b, m, 1, why)); });
}

int sl_moq_encode_announce(struct sl_writer *w, const struct sl_moq_announce *m)
{
	struct enc e;
	enc_init(&e);
	if (m->hop_count > SL_MOQ_MAX_HOPS)
		return SL_ERANGE;
	enc_u8(&e, m->active ? 1 : 0);
	enc_str(&e, &m->suffix);
	enc_varint(&e, m->hop_count);
	for (uint32_t i = 0; i < m->hop_count; i++)
		enc_varint(&e, m->hops[i]);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_subscribe(struct sl_reader *r, struct sl_moq_subscribe *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_varint(b, &m->id, why, "subscribe.id"));
		TRY(rd_str(b, &m->broadcast, why, "subscribe.broadcast"));
		TRY(rd_str(b, &m->track, why, "subscribe.track"));
		TRY(rd_u8(b, &m->priority, why, "subscribe.priority"));
		TRY(rd_flag(b, &m->ordered, why, "subscribe.ordered"));
		TRY(rd_varint(b, &m->max_latency_ms, why, "subscribe.max_latency"));
		TRY(rd_opt(b, &m->has_start, &m->start, why, "subscribe.start"));
		TRY(rd_opt(b, &m->has_end, &m->end, why, "subscribe.end"));
	});
}

int sl_moq_encode_subscribe(struct sl_writer *w, const struct sl_moq_subscribe *m)
{
	struct enc e;
	enc_init(&e);
	enc_varint(&e, m->id);
	enc_str(&e, &m->broadcast);
	enc_str(&e, &m->track);
	enc_u8(&e, m->priority);
	enc_u8(&e, m->ordered ? 1 : 0);
	enc_varint(&e, m->max_latency_ms);
	enc_opt(&e, m->has_start, m->start);
	enc_opt(&e, m->has_end, m->end);
	return enc_finish(&e, w, -1);
}

/* UPDATE and OK share one body layout. */
static int rd_terms(struct sl_reader *b, struct sl_moq_subscribe_terms *m, const char **why)
{
	int rc_ = 0;
	TRY(rd_u8(b, &m->priority, why, "subscribe.priority"));
	TRY(rd_flag(b, &m->ordered, why, "subscribe.ordered"));
	TRY(rd_varint(b, &m->max_latency_ms, why, "subscribe.max_latency"));
	TRY(rd_opt(b, &m->has_start, &m->start, why, "subscribe.start"));
	TRY(rd_opt(b, &m->has_end, &m->end, why, "subscribe.end"));
	return rc_;
}

static void enc_terms(struct enc *e, const struct sl_moq_subscribe_terms *m)
{
	enc_u8(e, m->priority);
	enc_u8(e, m->ordered ? 1 : 0);
	enc_varint(e, m->max_latency_ms);
	enc_opt(e, m->has_start, m->start);
	enc_opt(e, m->has_end, m->end);
}

int sl_moq_decode_subscribe_update(struct sl_reader *r, struct sl_moq_subscribe_terms *m,
				   const char **why)
{
	DECODE_MSG(r, why, { TRY(rd_terms(b, m, why)); });
}

int sl_moq_encode_subscribe_update(struct sl_writer *w, const struct sl_moq_subscribe_terms *m)
{
	struct enc e;
	enc_init(&e);
	enc_terms(&e, m);
	return enc_finish(&e, w, -1);
}

static int rd_drop(struct sl_reader *b, struct sl_moq_subscribe_drop *m, const char **why)
{
	int rc_ = 0;
	TRY(rd_varint(b, &m->start, why, "subscribe_drop.start"));
	TRY(rd_varint(b, &m->end, why, "subscribe_drop.end"));
	TRY(rd_varint(b, &m->error, why, "subscribe_drop.error"));
	return rc_;
}

int sl_moq_decode_response(struct sl_reader *r, struct sl_moq_response *m, const char **why)
{
	struct sl_reader save = *r, body;
	uint64_t type;
	if (sl_reader_varint(r, &type) != 0) {
		WHY("response.type");
		return SL_ETRUNC;
	}
	if (type != SL_MOQ_RESPONSE_OK && type != SL_MOQ_RESPONSE_DROP) {
		*r = save;
		WHY("response.type unknown");
		return SL_ECORRUPT;
	}
	int rc = msg_open(r, &body, why);
	if (rc == 0) {
		m->type = (enum sl_moq_response_type)type;
		rc = type == SL_MOQ_RESPONSE_OK ? rd_terms(&body, &m->u.ok, why)
						: rd_drop(&body, &m->u.drop, why);
		if (rc == 0)
			rc = msg_close(&body, why);
	}
	if (rc != 0)
		*r = save;
	return rc;
}

int sl_moq_encode_response(struct sl_writer *w, const struct sl_moq_response *m)
{
	struct enc e;
	enc_init(&e);
	if (m->type == SL_MOQ_RESPONSE_OK) {
		enc_terms(&e, &m->u.ok);
	} else if (m->type == SL_MOQ_RESPONSE_DROP) {
		enc_varint(&e, m->u.drop.start);
		enc_varint(&e, m->u.drop.end);
		enc_varint(&e, m->u.drop.error);
	} else {
		return SL_EINVAL;
	}
	return enc_finish(&e, w, (int64_t)m->type);
}

int sl_moq_decode_group(struct sl_reader *r, struct sl_moq_group *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_varint(b, &m->subscribe_id, why, "group.subscribe_id"));
		TRY(rd_varint(b, &m->sequence, why, "group.sequence"));
	});
}

int sl_moq_encode_group(struct sl_writer *w, const struct sl_moq_group *m)
{
	struct enc e;
	enc_init(&e);
	enc_varint(&e, m->subscribe_id);
	enc_varint(&e, m->sequence);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_fetch(struct sl_reader *r, struct sl_moq_fetch *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_str(b, &m->broadcast, why, "fetch.broadcast"));
		TRY(rd_str(b, &m->track, why, "fetch.track"));
		TRY(rd_u8(b, &m->priority, why, "fetch.priority"));
		TRY(rd_varint(b, &m->group, why, "fetch.group"));
	});
}

int sl_moq_encode_fetch(struct sl_writer *w, const struct sl_moq_fetch *m)
{
	struct enc e;
	enc_init(&e);
	enc_str(&e, &m->broadcast);
	enc_str(&e, &m->track);
	enc_u8(&e, m->priority);
	enc_varint(&e, m->group);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_probe(struct sl_reader *r, struct sl_moq_probe *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_varint(b, &m->bitrate, why, "probe.bitrate"));
		TRY(rd_varint(b, &m->rtt_ms, why, "probe.rtt"));
	});
}

int sl_moq_encode_probe(struct sl_writer *w, const struct sl_moq_probe *m)
{
	struct enc e;
	enc_init(&e);
	enc_varint(&e, m->bitrate);
	enc_varint(&e, m->rtt_ms);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_goaway(struct sl_reader *r, struct sl_moq_goaway *m, const char **why)
{
	DECODE_MSG(r, why, { TRY(rd_str(b, &m->uri, why, "goaway.uri")); });
}

int sl_moq_encode_goaway(struct sl_writer *w, const struct sl_moq_goaway *m)
{
	struct enc e;
	enc_init(&e);
	enc_str(&e, &m->uri);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_frame_header(struct sl_reader *r, uint64_t max, uint64_t *size, const char **why)
{
	struct sl_reader save = *r;
	if (sl_reader_varint(r, size) != 0) {
		WHY("frame.size");
		return SL_ETRUNC;
	}
	if (*size > max) {
		*r = save;
		WHY("frame.size over the limit");
		return SL_ERANGE;
	}
	return 0;
}

int sl_moq_encode_frame_header(struct sl_writer *w, uint64_t size)
{
	if (size > SL_MOQ_MAX_VALUE)
		return SL_ERANGE;
	return sl_writer_varint(w, size);
}

/* ---- moq-lite-05 ---- */

/* A numeric SETUP parameter: one varint that fills the parameter's bytes exactly. */
static int rd_param_varint(const uint8_t *p, size_t len, uint64_t *v, const char **why,
			   const char *field)
{
	struct sl_reader pr;
	sl_reader_init(&pr, p, len);
	if (sl_reader_varint(&pr, v) != 0 || sl_reader_left(&pr) != 0) {
		WHY(field);
		return SL_ECORRUPT;
	}
	return 0;
}

static int rd_setup(struct sl_reader *b, struct sl_moq_setup *m, const char **why)
{
	uint64_t n;
	memset(m, 0, sizeof(*m));
	int rc_ = rd_varint(b, &n, why, "setup.count");
	for (uint64_t i = 0; rc_ == 0 && i < n; i++) {
		uint64_t id;
		struct sl_moq_str v;
		TRY(rd_varint(b, &id, why, "setup.parameter id"));
		TRY(rd_str(b, &v, why, "setup.parameter value"));
		if (rc_ != 0)
			break;
		bool *seen = id == SL_MOQ_SETUP_PROBE	 ? &m->has_probe
			     : id == SL_MOQ_SETUP_PATH	 ? &m->has_path
			     : id == SL_MOQ_SETUP_ROLE	 ? &m->has_role
			     : id == SL_MOQ_SETUP_ORIGIN ? &m->has_origin
							 : NULL;
		if (seen == NULL)
			continue; /* unknown parameters are skipped */
		if (*seen) {
			WHY("setup.parameter repeated");
			return SL_ECORRUPT;
		}
		*seen = true;
		if (id == SL_MOQ_SETUP_PATH) {
			m->path = v;
			continue;
		}
		uint64_t *dst = id == SL_MOQ_SETUP_PROBE  ? &m->probe
				: id == SL_MOQ_SETUP_ROLE ? &m->role
							  : &m->origin;
		rc_ = rd_param_varint(v.p, v.len, dst, why, "setup.numeric parameter");
	}
	return rc_;
}

int sl_moq_decode_setup(struct sl_reader *r, struct sl_moq_setup *m, const char **why)
{
	DECODE_MSG(r, why, { TRY(rd_setup(b, m, why)); });
}

static void enc_param_varint(struct enc *e, uint64_t id, uint64_t v)
{
	enc_varint(e, id);
	if (e->rc == 0 && v > SL_MOQ_MAX_VALUE)
		e->rc = SL_ERANGE;
	enc_varint(e, sl_varint_len(v));
	enc_varint(e, v);
}

int sl_moq_encode_setup(struct sl_writer *w, const struct sl_moq_setup *m)
{
	struct enc e;
	enc_init(&e);
	enc_varint(&e, (uint64_t)m->has_probe + m->has_path + m->has_role + m->has_origin);
	if (m->has_probe)
		enc_param_varint(&e, SL_MOQ_SETUP_PROBE, m->probe);
	if (m->has_path) {
		enc_varint(&e, SL_MOQ_SETUP_PATH);
		enc_str(&e, &m->path);
	}
	if (m->has_role)
		enc_param_varint(&e, SL_MOQ_SETUP_ROLE, m->role);
	if (m->has_origin)
		enc_param_varint(&e, SL_MOQ_SETUP_ORIGIN, m->origin);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_announce_ok(struct sl_reader *r, struct sl_moq_announce_ok *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_varint(b, &m->hop_id, why, "announce_ok.hop_id"));
		TRY(rd_varint(b, &m->active_count, why, "announce_ok.active_count"));
	});
}

int sl_moq_encode_announce_ok(struct sl_writer *w, const struct sl_moq_announce_ok *m)
{
	struct enc e;
	enc_init(&e);
	enc_varint(&e, m->hop_id);
	enc_varint(&e, m->active_count);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_announce05(struct sl_reader *r, struct sl_moq_announce *m, const char **why)
{
	DECODE_MSG(r, why, { TRY(rd_announce(b, m, 2, why)); });
}

int sl_moq_decode_track(struct sl_reader *r, struct sl_moq_track *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_str(b, &m->broadcast, why, "track.broadcast"));
		TRY(rd_str(b, &m->track, why, "track.track"));
	});
}

int sl_moq_encode_track(struct sl_writer *w, const struct sl_moq_track *m)
{
	struct enc e;
	enc_init(&e);
	enc_str(&e, &m->broadcast);
	enc_str(&e, &m->track);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_track_info(struct sl_reader *r, struct sl_moq_track_info *m, const char **why)
{
	DECODE_MSG(r, why, {
		TRY(rd_u8(b, &m->priority, why, "track_info.priority"));
		TRY(rd_flag(b, &m->ordered, why, "track_info.ordered"));
		TRY(rd_varint(b, &m->max_latency_ms, why, "track_info.max_latency"));
		TRY(rd_varint(b, &m->timescale, why, "track_info.timescale"));
		if (rc_ == 0 && m->timescale == 0) {
			WHY("track_info.timescale is 0");
			rc_ = SL_ECORRUPT;
		}
	});
}

int sl_moq_encode_track_info(struct sl_writer *w, const struct sl_moq_track_info *m)
{
	if (m->timescale == 0)
		return SL_ERANGE;
	struct enc e;
	enc_init(&e);
	enc_u8(&e, m->priority);
	enc_u8(&e, m->ordered ? 1 : 0);
	enc_varint(&e, m->max_latency_ms);
	enc_varint(&e, m->timescale);
	return enc_finish(&e, w, -1);
}

int sl_moq_decode_response05(struct sl_reader *r, struct sl_moq_response05 *m, const char **why)
{
	struct sl_reader save = *r, body;
	uint64_t type;
	if (sl_reader_varint(r, &type) != 0) {
		WHY("response.type");
		return SL_ETRUNC;
	}
	if (type > SL_MOQ_RESPONSE05_DROP) {
		*r = save;
		WHY("response.type unknown");
		return SL_ECORRUPT;
	}
	int rc = msg_open(r, &body, why);
	if (rc == 0) {
		m->type = (enum sl_moq_response05_type)type;
		rc = type == SL_MOQ_RESPONSE05_DROP
			     ? rd_drop(&body, &m->u.drop, why)
			     : rd_varint(&body, &m->u.group, why,
					 type == SL_MOQ_RESPONSE05_OK ? "subscribe_ok.group"
								      : "subscribe_end.group");
		if (rc == 0)
			rc = msg_close(&body, why);
	}
	if (rc != 0)
		*r = save;
	return rc;
}

int sl_moq_encode_response05(struct sl_writer *w, const struct sl_moq_response05 *m)
{
	struct enc e;
	enc_init(&e);
	if (m->type == SL_MOQ_RESPONSE05_OK || m->type == SL_MOQ_RESPONSE05_END) {
		enc_varint(&e, m->u.group);
	} else if (m->type == SL_MOQ_RESPONSE05_DROP) {
		enc_varint(&e, m->u.drop.start);
		enc_varint(&e, m->u.drop.end);
		enc_varint(&e, m->u.drop.error);
	} else {
		return SL_EINVAL;
	}
	return enc_finish(&e, w, (int64_t)m->type);
}

int sl_moq_decode_frame_header05(struct sl_reader *r, uint64_t max, int64_t *delta, uint64_t *size,
				 const char **why)
{
	struct sl_reader save = *r;
	uint64_t z;
	if (sl_reader_varint(r, &z) != 0) {
		WHY("frame.timestamp");
		return SL_ETRUNC;
	}
	if (sl_reader_varint(r, size) != 0) {
		*r = save;
		WHY("frame.size");
		return SL_ETRUNC;
	}
	if (*size > max) {
		*r = save;
		WHY("frame.size over the limit");
		return SL_ERANGE;
	}
	*delta = sl_moq_unzigzag(z);
	return 0;
}

int sl_moq_encode_frame_header05(struct sl_writer *w, int64_t delta, uint64_t size)
{
	uint64_t z = sl_moq_zigzag(delta);
	if (size > SL_MOQ_MAX_VALUE || z > SL_MOQ_MAX_VALUE)
		return SL_ERANGE;
	if ((size_t)(w->end - w->p) < sl_varint_len(z) + sl_varint_len(size))
		return SL_ENOSPC;
	sl_writer_varint(w, z);
	sl_writer_varint(w, size);
	return 0;
}
