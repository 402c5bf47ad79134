/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_H3_FRAME_H
#define SL_H3_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

/*
 * HTTP/3 framing (RFC 9114) and the WebTransport-over-HTTP/3 stream signals and capsules, as a
 * WebTransport server needs them: the first layer of the HTTP/3 endpoint that serves browsers
 * (issue 13; docs/h3.md). Sans-IO and allocation-free: encoders write into an sl_writer,
 * decoders read from bytes the caller already has, and sl_h3_frame_reader follows one stream's
 * frames across any split of its bytes.
 *
 * Only what the server side of a WebTransport session touches is named; every other frame and
 * stream type is carried as a number so that the caller can skip it, as RFC 9114 9 requires of
 * unknown types (which includes the reserved "grease" types 0x1f * N + 0x21).
 *
 * Errors are the HTTP/3 connection error the peer's bytes call for (enum sl_h3_error), so that
 * a caller closes the connection with the right code; SL_ETRUNC means "not enough bytes yet".
 */

/* Frame types (RFC 9114 7.2, RFC 9297 for none: datagrams are QUIC frames). */
enum {
	SL_H3_FRAME_DATA = 0x00,
	SL_H3_FRAME_HEADERS = 0x01,
	SL_H3_FRAME_CANCEL_PUSH = 0x03,
	SL_H3_FRAME_SETTINGS = 0x04,
	SL_H3_FRAME_PUSH_PROMISE = 0x05,
	SL_H3_FRAME_GOAWAY = 0x07,
	SL_H3_FRAME_MAX_PUSH_ID = 0x0d,
	/* draft-ietf-webtrans-http3: on a bidirectional stream, in the place of a frame type,
	 * this value followed by a session id turns the stream into a WebTransport stream. */
	SL_H3_WT_STREAM = 0x41,
};

/* Unidirectional stream types (RFC 9114 6.2, RFC 9204 4.2, draft-ietf-webtrans-http3). */
enum {
	SL_H3_UNI_CONTROL = 0x00,
	SL_H3_UNI_PUSH = 0x01,
	SL_H3_UNI_QPACK_ENCODER = 0x02,
	SL_H3_UNI_QPACK_DECODER = 0x03,
	SL_H3_UNI_WT = 0x54,
};

/* Settings identifiers this server reads or sends. */
enum {
	SL_H3_SETTING_QPACK_MAX_TABLE_CAPACITY = 0x01,
	SL_H3_SETTING_MAX_FIELD_SECTION_SIZE = 0x06,
	SL_H3_SETTING_QPACK_BLOCKED_STREAMS = 0x07,
	SL_H3_SETTING_ENABLE_CONNECT_PROTOCOL = 0x08, /* RFC 9220 */
	SL_H3_SETTING_H3_DATAGRAM = 0x33,	      /* RFC 9297 */
	/* WebTransport's, by draft: 02 enables it, later drafts count sessions. */
	SL_H3_SETTING_ENABLE_WEBTRANSPORT = 0x2b603742,
	SL_H3_SETTING_WT_MAX_SESSIONS_DRAFT07 = 0xc671706a,
	SL_H3_SETTING_WT_MAX_SESSIONS = 0x2b603743,
};

/* HTTP/3 error codes (RFC 9114 8.1) for connection and stream errors. */
enum sl_h3_error {
	SL_H3_NO_ERROR = 0x100,
	SL_H3_GENERAL_PROTOCOL_ERROR = 0x101,
	SL_H3_INTERNAL_ERROR = 0x102,
	SL_H3_STREAM_CREATION_ERROR = 0x103,
	SL_H3_CLOSED_CRITICAL_STREAM = 0x104,
	SL_H3_FRAME_UNEXPECTED = 0x105,
	SL_H3_FRAME_ERROR = 0x106,
	SL_H3_EXCESSIVE_LOAD = 0x107,
	SL_H3_ID_ERROR = 0x108,
	SL_H3_SETTINGS_ERROR = 0x109,
	SL_H3_MISSING_SETTINGS = 0x10a,
	SL_H3_REQUEST_REJECTED = 0x10b,
	SL_H3_REQUEST_CANCELLED = 0x10c,
	SL_H3_REQUEST_INCOMPLETE = 0x10d,
	SL_H3_MESSAGE_ERROR = 0x10e,
	SL_H3_CONNECT_ERROR = 0x10f,
	SL_H3_VERSION_FALLBACK = 0x110,
};

/* The symbolic name of an HTTP/3 error code ("H3_FRAME_UNEXPECTED"), or "H3_?" */
const char *sl_h3_error_name(uint64_t code);

/* True for a reserved ("grease") frame, stream or setting type: 0x1f * N + 0x21. */
bool sl_h3_is_grease(uint64_t type);

/* ---- frames ---- */

/* A frame's header: type then payload length. */
struct sl_h3_frame_header {
	uint64_t type;
	uint64_t len;
};

/*
 * Decodes a frame header from r. Returns 0, or SL_ETRUNC (r ends inside it; r is unchanged).
 */
int sl_h3_decode_frame_header(struct sl_reader *r, struct sl_h3_frame_header *h);
int sl_h3_encode_frame_header(struct sl_writer *w, uint64_t type, uint64_t len);

/* The HTTP/2 frame types HTTP/3 reserves (0x02, 0x06, 0x08, 0x09): receiving one is
 * H3_FRAME_UNEXPECTED (RFC 9114 7.2.8). */
bool sl_h3_frame_is_h2_reserved(uint64_t type);

/* ---- SETTINGS ---- */

#define SL_H3_MAX_SETTINGS 16

/*
 * The settings a peer sent that matter here; everything else is ignored, as RFC 9114 7.2.4
 * requires of unknown identifiers. A value absent from the frame keeps its default (0 for all
 * of these: no dynamic table, unlimited field section, no extended CONNECT, no datagrams, no
 * WebTransport).
 */
struct sl_h3_settings {
	uint64_t qpack_max_table_capacity;
	uint64_t max_field_section_size; /* 0: not sent (no limit) */
	uint64_t qpack_blocked_streams;
	uint64_t enable_connect_protocol;
	uint64_t h3_datagram;
	uint64_t enable_webtransport; /* draft-02's setting */
	uint64_t wt_max_sessions;     /* the later drafts' (either codepoint) */
	bool has_max_field_section_size;
	unsigned n_unknown; /* identifiers ignored, grease included */
};

/*
 * Decodes a SETTINGS payload of exactly len bytes at p. Errors: SL_ECORRUPT with *err set:
 * H3_SETTINGS_ERROR for a repeated identifier, an HTTP/2 identifier (0x02..0x05) or a boolean
 * setting above 1; H3_FRAME_ERROR for a payload that ends inside a pair.
 */
int sl_h3_decode_settings(const uint8_t *p, size_t len, struct sl_h3_settings *out,
			  enum sl_h3_error *err);

/* One identifier and value to send. */
struct sl_h3_setting {
	uint64_t id, value;
};

/* Writes a whole SETTINGS frame (header and payload). Returns 0 or SL_ENOSPC / SL_ERANGE. */
int sl_h3_encode_settings(struct sl_writer *w, const struct sl_h3_setting *s, size_t n);

/* GOAWAY carries one id: a client's stream id (from the server) or a push id. */
int sl_h3_encode_goaway(struct sl_writer *w, uint64_t id);

/* ---- one stream's frames, across any split of its bytes ---- */

/*
 * Follows the frames of one stream: feed it the stream's bytes as they come, and it reports
 * each frame's header, then its payload in pieces (never buffering more than a frame header),
 * so a caller that wants a frame whole (HEADERS, SETTINGS) collects the pieces itself up to its
 * own limit. On a bidirectional request stream it also recognises SL_H3_WT_STREAM in the place
 * of the first frame type and reports the session id that follows.
 */
struct sl_h3_frame_reader {
	uint8_t hdr[16]; /* a frame header (or WT signal + session id) split across feeds */
	uint8_t hdr_len;
	bool in_payload;
	bool first;	 /* nothing decoded yet on this stream */
	bool wt_allowed; /* a bidi stream: 0x41 may open it */
	uint64_t type;	 /* the current frame's */
	uint64_t left;	 /* its payload bytes still to come */
};

enum sl_h3_read_event {
	SL_H3_READ_NONE = 0,  /* the input is used up */
	SL_H3_READ_FRAME,     /* a frame header: ev->type, ev->len */
	SL_H3_READ_PAYLOAD,   /* a piece of the current frame: ev->data, ev->data_len, ev->end */
	SL_H3_READ_WT_STREAM, /* the stream is a WebTransport stream of session ev->session;
			       * every byte after this is the application's (ev->data) */
};

struct sl_h3_read {
	enum sl_h3_read_event event;
	uint64_t type, len;  /* SL_H3_READ_FRAME */
	const uint8_t *data; /* SL_H3_READ_PAYLOAD */
	size_t data_len;
	bool end;	  /* the payload piece ends the frame */
	uint64_t session; /* SL_H3_READ_WT_STREAM */
};

/* bidi: the stream is a client's bidirectional stream (where 0x41 may open it). */
void sl_h3_frame_reader_init(struct sl_h3_frame_reader *fr, bool bidi);

/*
 * Consumes bytes from *p / *n (advancing them) up to the next event, which it stores in ev and
 * returns. Call it until it returns SL_H3_READ_NONE, which it does only with *n == 0. After
 * SL_H3_READ_WT_STREAM the reader is done: the remaining bytes (ev->data, not consumed) are the
 * WebTransport stream's. Any bytes form frames, so there is no error here: what a frame may be
 * on which stream is the caller's rule.
 */
int sl_h3_frame_read(struct sl_h3_frame_reader *fr, const uint8_t **p, size_t *n,
		     struct sl_h3_read *ev);

/* True when the stream's bytes ended on a frame boundary (a FIN elsewhere is
 * H3_FRAME_ERROR). */
bool sl_h3_frame_reader_at_boundary(const struct sl_h3_frame_reader *fr);

/*
 * The header of a peer's unidirectional stream: its type, and for a WebTransport stream
 * (SL_H3_UNI_WT) the session id after it, across any split of the bytes.
 */
struct sl_h3_uni_reader {
	uint8_t buf[16];
	uint8_t len;
};

/* Returns 1 when the header is whole (*type, and *session for SL_H3_UNI_WT, else 0), with
 * *p / *n advanced past it; 0 when the input ran out first (all of it consumed). */
int sl_h3_uni_read(struct sl_h3_uni_reader *ur, const uint8_t **p, size_t *n, uint64_t *type,
		   uint64_t *session);

/* ---- WebTransport ---- */

/* The stream header of a WebTransport stream this side opens: 0x41 + session id on a
 * bidirectional stream, 0x54 + session id on a unidirectional one. */
int sl_h3_encode_wt_stream_header(struct sl_writer *w, bool bidi, uint64_t session);

/*
 * WebTransport application error codes (32 bits) travel as HTTP/3 codes in a reserved range
 * that skips the grease values (draft-ietf-webtrans-http3, "Resetting data streams"). The
 * reverse returns SL_ERANGE for an HTTP/3 code outside the range or on a grease value.
 */
uint64_t sl_h3_wt_code_to_h3(uint32_t code);
int sl_h3_wt_code_from_h3(uint64_t h3, uint32_t *code);

/* Capsules (RFC 9297 3.2) on a WebTransport session's CONNECT stream. */
enum {
	SL_H3_CAPSULE_CLOSE_WEBTRANSPORT_SESSION = 0x2843,
	SL_H3_CAPSULE_DRAIN_WEBTRANSPORT_SESSION = 0x78ae,
};

/* The largest reason CLOSE_WEBTRANSPORT_SESSION may carry (draft-ietf-webtrans-http3). */
#define SL_H3_WT_MAX_REASON 1024

/* Writes a CLOSE_WEBTRANSPORT_SESSION capsule: a 32-bit code and a UTF-8 reason of at most
 * SL_H3_WT_MAX_REASON bytes (SL_EINVAL beyond). */
int sl_h3_encode_wt_close(struct sl_writer *w, uint32_t code, const char *reason, size_t len);
int sl_h3_encode_wt_drain(struct sl_writer *w);

/*
 * Decodes a CLOSE_WEBTRANSPORT_SESSION capsule's payload (len bytes at p). Returns 0, or
 * SL_ECORRUPT (fewer than 4 bytes, or a reason over SL_H3_WT_MAX_REASON).
 */
int sl_h3_decode_wt_close(const uint8_t *p, size_t len, uint32_t *code, const uint8_t **reason,
			  size_t *reason_len);

#endif
