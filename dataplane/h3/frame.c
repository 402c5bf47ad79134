/* SPDX-License-Identifier: Apache-2.0 */
#include "h3/frame.h"

#include "core/err.h"
#include "core/varint.h"

#include <string.h>

const char *sl_h3_error_name(uint64_t code)
{
	static const char *const names[] = {
		"H3_NO_ERROR",
		"H3_GENERAL_PROTOCOL_ERROR",
		"H3_INTERNAL_ERROR",
		"H3_STREAM_CREATION_ERROR",
		"H3_CLOSED_CRITICAL_STREAM",
		"H3_FRAME_UNEXPECTED",
		"H3_FRAME_ERROR",
		"H3_EXCESSIVE_LOAD",
		"H3_ID_ERROR",
		"H3_SETTINGS_ERROR",
		"H3_MISSING_SETTINGS",
		"H3_REQUEST_REJECTED",
		"H3_REQUEST_CANCELLED",
		"H3_REQUEST_INCOMPLETE",
		"H3_MESSAGE_ERROR",
		"H3_CONNECT_ERROR",
		"H3_VERSION_FALLBACK",
	};
	if (code >= SL_H3_NO_ERROR && code <= SL_H3_VERSION_FALLBACK)
		return names[code - SL_H3_NO_ERROR];
	return "H3_?";
}

bool sl_h3_is_grease(uint64_t type)
{
	return type >= 0x21 && (type - 0x21) % 0x1f == 0;
}

bool sl_h3_frame_is_h2_reserved(uint64_t type)
{
	return type == 0x02 || type == 0x06 || type == 0x08 || type == 0x09;
}

int sl_h3_decode_frame_header(struct sl_reader *r, struct sl_h3_frame_header *h)
{
	struct sl_reader save = *r;
	if (sl_reader_varint(r, &h->type) != 0 || sl_reader_varint(r, &h->len) != 0) {
		*r = save;
		return SL_ETRUNC;
	}
	return 0;
}

int sl_h3_encode_frame_header(struct sl_writer *w, uint64_t type, uint64_t len)
{
	int rc = sl_writer_varint(w, type);
	return rc != 0 ? rc : sl_writer_varint(w, len);
}

/* ---- SETTINGS ---- */

int sl_h3_decode_settings(const uint8_t *p, size_t len, struct sl_h3_settings *out,
			  enum sl_h3_error *err)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0; /* every default (p may be NULL then) */
	struct sl_reader r;
	sl_reader_init(&r, p, len);
	/* Repeats are found by remembering the identifiers this side understands (the others are
	 * ignored, and a repeated unknown one changes nothing here). */
	uint64_t seen = 0;
	while (sl_reader_left(&r) > 0) {
		uint64_t id, v;
		if (sl_reader_varint(&r, &id) != 0 || sl_reader_varint(&r, &v) != 0) {
			*err = SL_H3_FRAME_ERROR;
			return SL_ECORRUPT;
		}
		if (id >= 0x02 && id <= 0x05) { /* HTTP/2's, reserved (RFC 9114 7.2.4.1) */
			*err = SL_H3_SETTINGS_ERROR;
			return SL_ECORRUPT;
		}
		unsigned bit;
		uint64_t *dst;
		bool boolean = false;
		switch (id) {
		case SL_H3_SETTING_QPACK_MAX_TABLE_CAPACITY:
			bit = 0, dst = &out->qpack_max_table_capacity;
			break;
		case SL_H3_SETTING_MAX_FIELD_SECTION_SIZE:
			bit = 1, dst = &out->max_field_section_size;
			out->has_max_field_section_size = true;
			break;
		case SL_H3_SETTING_QPACK_BLOCKED_STREAMS:
			bit = 2, dst = &out->qpack_blocked_streams;
			break;
		case SL_H3_SETTING_ENABLE_CONNECT_PROTOCOL:
			bit = 3, dst = &out->enable_connect_protocol, boolean = true;
			break;
		case SL_H3_SETTING_H3_DATAGRAM:
			bit = 4, dst = &out->h3_datagram, boolean = true;
			break;
		case SL_H3_SETTING_ENABLE_WEBTRANSPORT:
			bit = 5, dst = &out->enable_webtransport, boolean = true;
			break;
		case SL_H3_SETTING_WT_MAX_SESSIONS_DRAFT07:
			bit = 6, dst = &out->wt_max_sessions;
			break;
		case SL_H3_SETTING_WT_MAX_SESSIONS:
			bit = 7, dst = &out->wt_max_sessions;
			break;
		default:
			out->n_unknown++;
			continue;
		}
		if (seen & (UINT64_C(1) << bit)) {
			*err = SL_H3_SETTINGS_ERROR;
			return SL_ECORRUPT;
		}
		seen |= UINT64_C(1) << bit;
		/* RFC 9220 and RFC 9297 allow only 0 and 1; anything else is the sender's error. */
		if (boolean && v > 1) {
			*err = SL_H3_SETTINGS_ERROR;
			return SL_ECORRUPT;
		}
		/* Both WT_MAX_SESSIONS codepoints in one frame: the larger wins, as either
		 * alone would mean "at least this many". */
		if ((bit == 6 || bit == 7) && *dst > v)
			continue;
		*dst = v;
	}
	return 0;
}

int sl_h3_encode_settings(struct sl_writer *w, const struct sl_h3_setting *s, size_t n)
{
	uint64_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t a = sl_varint_len(s[i].id), b = sl_varint_len(s[i].value);
		if (a == 0 || b == 0)
			return SL_ERANGE;
		len += a + b;
	}
	int rc = sl_h3_encode_frame_header(w, SL_H3_FRAME_SETTINGS, len);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = sl_writer_varint(w, s[i].id);
		if (rc == 0)
			rc = sl_writer_varint(w, s[i].value);
	}
	return rc;
}

int sl_h3_encode_goaway(struct sl_writer *w, uint64_t id)
{
	size_t n = sl_varint_len(id);
	if (n == 0)
		return SL_ERANGE;
	int rc = sl_h3_encode_frame_header(w, SL_H3_FRAME_GOAWAY, n);
	return rc != 0 ? rc : sl_writer_varint(w, id);
}

/* ---- the frame reader ---- */

void sl_h3_frame_reader_init(struct sl_h3_frame_reader *fr, bool bidi)
{
	memset(fr, 0, sizeof(*fr));
	fr->first = true;
	fr->wt_allowed = bidi;
}

bool sl_h3_frame_reader_at_boundary(const struct sl_h3_frame_reader *fr)
{
	return !fr->in_payload && fr->hdr_len == 0;
}

/* How many bytes a varint starting with b takes. */
static size_t vlen(uint8_t b)
{
	return (size_t)1 << (b >> 6);
}

/*
 * Moves bytes into the header buffer until it holds two whole varints (type, length) — or, on
 * a bidi stream's first frame with type 0x41, the signal and a session id. Returns 1 when it
 * does, 0 when the input ran out first.
 */
static int fill_header(struct sl_h3_frame_reader *fr, const uint8_t **p, size_t *n)
{
	for (;;) {
		size_t need;
		if (fr->hdr_len == 0) {
			need = 1;
		} else {
			size_t a = vlen(fr->hdr[0]);
			if (fr->hdr_len < a)
				need = a;
			else if (fr->hdr_len == a)
				need = a + 1;
			else
				need = a + vlen(fr->hdr[a]);
		}
		if (fr->hdr_len >= need && fr->hdr_len > vlen(fr->hdr[0]))
			return 1;
		if (*n == 0)
			return 0;
		size_t take = need - fr->hdr_len;
		if (take > *n)
			take = *n;
		memcpy(fr->hdr + fr->hdr_len, *p, take);
		fr->hdr_len = (uint8_t)(fr->hdr_len + take);
		*p += take;
		*n -= take;
	}
}

int sl_h3_frame_read(struct sl_h3_frame_reader *fr, const uint8_t **p, size_t *n,
		     struct sl_h3_read *ev)
{
	memset(ev, 0, sizeof(*ev));
	if (fr->in_payload) {
		if (fr->left == 0) {
			/* An empty frame's payload is reported once, as its end. */
			fr->in_payload = false;
			ev->event = SL_H3_READ_PAYLOAD;
			ev->type = fr->type;
			ev->data = *p;
			ev->end = true;
			return ev->event;
		}
		if (*n == 0)
			return SL_H3_READ_NONE;
		size_t take = *n < fr->left ? *n : (size_t)fr->left;
		ev->event = SL_H3_READ_PAYLOAD;
		ev->type = fr->type;
		ev->data = *p;
		ev->data_len = take;
		fr->left -= take;
		ev->end = fr->left == 0;
		if (ev->end)
			fr->in_payload = false;
		*p += take;
		*n -= take;
		return ev->event;
	}
	if (!fill_header(fr, p, n))
		return SL_H3_READ_NONE;
	uint64_t type, second;
	size_t used;
	/* The buffer holds exactly two whole varints: fill_header sized it so. */
	sl_varint_decode(fr->hdr, fr->hdr_len, &type, &used);
	sl_varint_decode(fr->hdr + used, fr->hdr_len - used, &second, &used);
	fr->hdr_len = 0;
	if (fr->first && fr->wt_allowed && type == SL_H3_WT_STREAM) {
		fr->first = false;
		ev->event = SL_H3_READ_WT_STREAM;
		ev->session = second;
		ev->data = *p;
		ev->data_len = *n;
		return ev->event;
	}
	fr->first = false;
	fr->type = type;
	fr->left = second;
	fr->in_payload = true;
	ev->event = SL_H3_READ_FRAME;
	ev->type = type;
	ev->len = second;
	return ev->event;
}

int sl_h3_uni_read(struct sl_h3_uni_reader *ur, const uint8_t **p, size_t *n, uint64_t *type,
		   uint64_t *session)
{
	for (;;) {
		/* How many bytes the header needs, as far as the bytes so far tell. */
		size_t need = 1;
		if (ur->len > 0) {
			size_t a = vlen(ur->buf[0]);
			need = a;
			if (ur->len >= a) {
				uint64_t t;
				size_t used;
				sl_varint_decode(ur->buf, a, &t, &used);
				if (t != SL_H3_UNI_WT) {
					*type = t;
					*session = 0;
					return 1;
				}
				need = ur->len > a ? a + vlen(ur->buf[a]) : a + 1;
				if (ur->len > a && ur->len >= need) {
					*type = t;
					sl_varint_decode(ur->buf + a, ur->len - a, session, &used);
					return 1;
				}
			}
		}
		if (*n == 0)
			return 0;
		size_t take = need - ur->len;
		if (take > *n)
			take = *n;
		memcpy(ur->buf + ur->len, *p, take);
		ur->len = (uint8_t)(ur->len + take);
		*p += take;
		*n -= take;
	}
}

/* ---- WebTransport ---- */

int sl_h3_encode_wt_stream_header(struct sl_writer *w, bool bidi, uint64_t session)
{
	int rc = sl_writer_varint(w, bidi ? SL_H3_WT_STREAM : SL_H3_UNI_WT);
	return rc != 0 ? rc : sl_writer_varint(w, session);
}

/* The first and last HTTP/3 codes of the WebTransport range. */
#define WT_FIRST UINT64_C(0x52e4a40fa8db)
#define WT_LAST	 UINT64_C(0x52e5ac983162)

uint64_t sl_h3_wt_code_to_h3(uint32_t code)
{
	/* One grease value sits in every 0x1f codes; the mapping steps over them. */
	return WT_FIRST + code + code / 0x1e;
}

int sl_h3_wt_code_from_h3(uint64_t h3, uint32_t *code)
{
	if (h3 < WT_FIRST || h3 > WT_LAST || sl_h3_is_grease(h3))
		return SL_ERANGE;
	uint64_t shifted = h3 - WT_FIRST;
	*code = (uint32_t)(shifted - shifted / 0x1f);
	return 0;
}

int sl_h3_encode_wt_close(struct sl_writer *w, uint32_t code, const char *reason, size_t len)
{
	if (len > SL_H3_WT_MAX_REASON)
		return SL_EINVAL;
	int rc = sl_writer_varint(w, SL_H3_CAPSULE_CLOSE_WEBTRANSPORT_SESSION);
	if (rc == 0)
		rc = sl_writer_varint(w, 4 + len);
	if (rc == 0)
		rc = sl_writer_be32(w, code);
	if (rc == 0 && len > 0)
		rc = sl_writer_bytes(w, reason, len);
	return rc;
}

int sl_h3_encode_wt_drain(struct sl_writer *w)
{
	int rc = sl_writer_varint(w, SL_H3_CAPSULE_DRAIN_WEBTRANSPORT_SESSION);
	return rc != 0 ? rc : sl_writer_varint(w, 0);
}

int sl_h3_decode_wt_close(const uint8_t *p, size_t len, uint32_t *code, const uint8_t **reason,
			  size_t *reason_len)
{
	if (len < 4 || len - 4 > SL_H3_WT_MAX_REASON)
		return SL_ECORRUPT;
	*code = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	*reason = p + 4;
	*reason_len = len - 4;
	return 0;
}
