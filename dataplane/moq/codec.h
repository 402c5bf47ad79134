/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_MOQ_CODEC_H
#define SL_MOQ_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

/*
 * moq-lite-04 wire codec (draft-lcurley-moq-lite-04 as the reference implementations speak it;
 * see ../shared/docs/moq-lite.md). Pure functions over sl_reader/sl_writer: no allocation, no
 * state. Strings in decoded messages borrow the input bytes.
 *
 * Every message is Length(i) followed by exactly that many body bytes. On the Subscribe stream
 * the publisher's responses are typed: Type(i) comes before Length(i).
 *
 * Decoders return 0, SL_ETRUNC when the input ends before the message does (the reader is left
 * unchanged, so the caller can retry once more bytes arrived), or SL_ECORRUPT when the message
 * is malformed (a body not consumed exactly, an 8-bit flag that is not 0 or 1, an unknown
 * response type) and SL_ERANGE when a length exceeds the limits below; *why, when not NULL,
 * receives a static string naming the field that failed. Encoders return 0, SL_ENOSPC (nothing
 * written) or SL_ERANGE (a value >= 2^53, which JavaScript peers cannot read, or a string or
 * list over the limits).
 */

/* The QUIC application protocol (ALPN) of this wire format: what an endpoint that carries
 * moq-lite sessions offers (client) or accepts (server). The QUIC layer names no protocol. */
#define SL_MOQ_ALPN "moq-lite-04"
/* moq-lite-05's ALPN (the messages below marked "lite-05"). */
#define SL_MOQ_ALPN_05 "moq-lite-05"

/* The moq-lite versions shardline speaks; a session speaks one, chosen by ALPN or by the
 * WebSocket subprotocol. */
enum sl_moq_version {
	SL_MOQ_LITE_04 = 4,
	SL_MOQ_LITE_05 = 5,
};

/* Longest string (path, name, uri) and longest hop list accepted or produced. */
#define SL_MOQ_MAX_STRING 1024
#define SL_MOQ_MAX_HOPS	  32
/* JavaScript peers read varints as doubles: values must stay below 2^53. */
#define SL_MOQ_MAX_VALUE ((UINT64_C(1) << 53) - 1)

enum sl_moq_stream_type {
	SL_MOQ_STREAM_GROUP = 0,     /* uni, publisher: GROUP then FRAME* */
	SL_MOQ_STREAM_ANNOUNCE = 1,  /* bidi, subscriber: ANNOUNCE_INTEREST -> ANNOUNCE* */
	SL_MOQ_STREAM_SUBSCRIBE = 2, /* bidi, subscriber: SUBSCRIBE, UPDATE* <-> OK, (OK|DROP)* */
	SL_MOQ_STREAM_FETCH = 3,     /* bidi, subscriber: FETCH -> FRAME*, FIN */
	SL_MOQ_STREAM_PROBE = 4,     /* bidi, subscriber: <- PROBE*; never reset it */
	SL_MOQ_STREAM_GOAWAY = 5,    /* bidi, either: GOAWAY then FIN */
	SL_MOQ_STREAM_TRACK = 6,     /* lite-05 bidi, subscriber: TRACK -> TRACK_INFO, FIN */
};

/* lite-05 numbers unidirectional streams apart from bidirectional ones: uni type 0 is a group
 * (as in lite-04), uni type 1 the Setup stream each side opens once. */
enum sl_moq_uni_type {
	SL_MOQ_UNI_GROUP = 0,
	SL_MOQ_UNI_SETUP = 1,
};

/* moq-lite error codes carried in resets and DROP (Rust `to_code`). */
enum sl_moq_error {
	SL_MOQ_ERR_CANCEL = 0,
	SL_MOQ_ERR_OLD = 2,
	SL_MOQ_ERR_TIMEOUT = 3,
	SL_MOQ_ERR_TRANSPORT = 4,
	SL_MOQ_ERR_DECODE = 5,
	SL_MOQ_ERR_UNAUTHORIZED = 6,
	SL_MOQ_ERR_VERSION = 9,
	SL_MOQ_ERR_UNEXPECTED_STREAM = 10,
	SL_MOQ_ERR_BOUNDS = 11,
	SL_MOQ_ERR_DUPLICATE = 12,
	SL_MOQ_ERR_NOT_FOUND = 13,
	SL_MOQ_ERR_WRONG_SIZE = 14,
	SL_MOQ_ERR_PROTOCOL_VIOLATION = 15,
	SL_MOQ_ERR_UNEXPECTED_MESSAGE = 16,
	SL_MOQ_ERR_UNSUPPORTED = 17,
	SL_MOQ_ERR_ENCODE = 18,
	SL_MOQ_ERR_DROPPED = 24,
	SL_MOQ_ERR_CLOSED = 25,
	SL_MOQ_ERR_CACHE_FULL = 26,
};

/* Maps a shardline error to the moq-lite code a peer should see (e.g. SL_ECORRUPT -> 5). */
uint64_t sl_moq_error_code(int sl_err);

struct sl_moq_str {
	const uint8_t *p;
	size_t len;
};

struct sl_moq_announce_interest {
	struct sl_moq_str prefix;
	uint64_t exclude_hop; /* 0 = none */
};

struct sl_moq_announce {
	bool active;
	struct sl_moq_str suffix;
	uint32_t hop_count;
	uint64_t hops[SL_MOQ_MAX_HOPS];
};

struct sl_moq_subscribe {
	uint64_t id;
	struct sl_moq_str broadcast;
	struct sl_moq_str track;
	uint8_t priority;
	bool ordered;
	uint64_t max_latency_ms;
	bool has_start; /* false: start at the latest group */
	uint64_t start;
	bool has_end; /* false: unbounded; else inclusive */
	uint64_t end;
};

/*
 * The terms of a subscription: SUBSCRIBE_UPDATE (subscriber) and SUBSCRIBE_OK (publisher) share
 * this layout. In an OK, has_start = false means "start not known yet".
 */
struct sl_moq_subscribe_terms {
	uint8_t priority;
	bool ordered;
	uint64_t max_latency_ms;
	bool has_start;
	uint64_t start;
	bool has_end;
	uint64_t end;
};

struct sl_moq_subscribe_drop {
	uint64_t start; /* absolute, inclusive */
	uint64_t end;
	uint64_t error;
};

enum sl_moq_response_type {
	SL_MOQ_RESPONSE_OK = 0,
	SL_MOQ_RESPONSE_DROP = 1,
};

struct sl_moq_response {
	enum sl_moq_response_type type;
	union {
		struct sl_moq_subscribe_terms ok;
		struct sl_moq_subscribe_drop drop;
	} u;
};

struct sl_moq_group {
	uint64_t subscribe_id;
	uint64_t sequence;
};

struct sl_moq_fetch {
	struct sl_moq_str broadcast;
	struct sl_moq_str track;
	uint8_t priority;
	uint64_t group;
};

struct sl_moq_probe {
	uint64_t bitrate; /* bit/s, 0 = unknown */
	uint64_t rtt_ms;  /* 0 = unknown; a measured rtt of 0 is sent as 1 */
};

struct sl_moq_goaway {
	struct sl_moq_str uri; /* empty: just close */
};

/* Stream type prefix (a varint; JS reads the uni type as one byte, which every type fits). */
int sl_moq_decode_stream_type(struct sl_reader *r, uint64_t *type, const char **why);
int sl_moq_encode_stream_type(struct sl_writer *w, enum sl_moq_stream_type type);

int sl_moq_decode_announce_interest(struct sl_reader *r, struct sl_moq_announce_interest *m,
				    const char **why);
int sl_moq_encode_announce_interest(struct sl_writer *w, const struct sl_moq_announce_interest *m);
int sl_moq_decode_announce(struct sl_reader *r, struct sl_moq_announce *m, const char **why);
int sl_moq_encode_announce(struct sl_writer *w, const struct sl_moq_announce *m);
int sl_moq_decode_subscribe(struct sl_reader *r, struct sl_moq_subscribe *m, const char **why);
int sl_moq_encode_subscribe(struct sl_writer *w, const struct sl_moq_subscribe *m);
int sl_moq_decode_subscribe_update(struct sl_reader *r, struct sl_moq_subscribe_terms *m,
				   const char **why);
int sl_moq_encode_subscribe_update(struct sl_writer *w, const struct sl_moq_subscribe_terms *m);
/* A typed response on the Subscribe stream: Type(i) Length(i) body. */
int sl_moq_decode_response(struct sl_reader *r, struct sl_moq_response *m, const char **why);
int sl_moq_encode_response(struct sl_writer *w, const struct sl_moq_response *m);
int sl_moq_decode_group(struct sl_reader *r, struct sl_moq_group *m, const char **why);
int sl_moq_encode_group(struct sl_writer *w, const struct sl_moq_group *m);
int sl_moq_decode_fetch(struct sl_reader *r, struct sl_moq_fetch *m, const char **why);
int sl_moq_encode_fetch(struct sl_writer *w, const struct sl_moq_fetch *m);
int sl_moq_decode_probe(struct sl_reader *r, struct sl_moq_probe *m, const char **why);
int sl_moq_encode_probe(struct sl_writer *w, const struct sl_moq_probe *m);
int sl_moq_decode_goaway(struct sl_reader *r, struct sl_moq_goaway *m, const char **why);
int sl_moq_encode_goaway(struct sl_writer *w, const struct sl_moq_goaway *m);

/* ---- moq-lite-05 (draft-lcurley-moq-lite-05; docs/moq.md says what differs from lite-04) ---- */

/* SETUP parameters (ids). Numeric values are one varint filling the parameter's length. */
enum {
	SL_MOQ_SETUP_PROBE = 1,	 /* (i) 0 none, 1 report, 2 increase */
	SL_MOQ_SETUP_PATH = 2,	 /* bytes; client only, never over WebSocket */
	SL_MOQ_SETUP_ROLE = 3,	 /* (i) 0 both, 1 publisher, 2 subscriber; client only */
	SL_MOQ_SETUP_ORIGIN = 5, /* (i) the sender's origin (hop) id, 53 bits */
};

/* SETUP on the uni Setup stream: Length(i), count(i), then id(i) length(i) value per parameter.
 * Unknown ids are skipped; a known id twice is SL_ECORRUPT (as the reference client treats it). */
struct sl_moq_setup {
	bool has_probe, has_path, has_role, has_origin;
	uint64_t probe;
	struct sl_moq_str path;
	uint64_t role;
	uint64_t origin;
};

/* ANNOUNCE_OK, the responder's first message on an Announce stream. */
struct sl_moq_announce_ok {
	uint64_t hop_id;       /* the responder's origin id; 0 unknown */
	uint64_t active_count; /* broadcasts announced right after */
};

/* TRACK (subscriber) and TRACK_INFO (publisher) on the Track stream. */
struct sl_moq_track {
	struct sl_moq_str broadcast;
	struct sl_moq_str track;
};

struct sl_moq_track_info {
	uint8_t priority;
	bool ordered;
	uint64_t max_latency_ms;
	uint64_t timescale; /* timestamp units per second; never 0 */
};

/* lite-05's typed responses on the Subscribe stream: Type(i) Length(i) body. */
enum sl_moq_response05_type {
	SL_MOQ_RESPONSE05_OK = 0,   /* group(i): the first group that will be delivered */
	SL_MOQ_RESPONSE05_END = 1,  /* group(i): exclusive, the first that never will */
	SL_MOQ_RESPONSE05_DROP = 2, /* start(i) end(i) error(i), absolute, end inclusive */
};

struct sl_moq_response05 {
	enum sl_moq_response05_type type;
	union {
		uint64_t group; /* OK, END */
		struct sl_moq_subscribe_drop drop;
	} u;
};

int sl_moq_decode_setup(struct sl_reader *r, struct sl_moq_setup *m, const char **why);
int sl_moq_encode_setup(struct sl_writer *w, const struct sl_moq_setup *m);
int sl_moq_decode_announce_ok(struct sl_reader *r, struct sl_moq_announce_ok *m, const char **why);
int sl_moq_encode_announce_ok(struct sl_writer *w, const struct sl_moq_announce_ok *m);
/* lite-05's ANNOUNCE: lite-04's layout, but status 2 ("accepted") also means active. */
int sl_moq_decode_announce05(struct sl_reader *r, struct sl_moq_announce *m, const char **why);
int sl_moq_decode_track(struct sl_reader *r, struct sl_moq_track *m, const char **why);
int sl_moq_encode_track(struct sl_writer *w, const struct sl_moq_track *m);
/* SL_ECORRUPT for a timescale of 0 (the reference client divides by it). */
int sl_moq_decode_track_info(struct sl_reader *r, struct sl_moq_track_info *m, const char **why);
int sl_moq_encode_track_info(struct sl_writer *w, const struct sl_moq_track_info *m);
int sl_moq_decode_response05(struct sl_reader *r, struct sl_moq_response05 *m, const char **why);
int sl_moq_encode_response05(struct sl_writer *w, const struct sl_moq_response05 *m);

/*
 * lite-05 frames carry a timestamp: delta(i, zigzag) then size(i) then the payload. Deltas are
 * per group: the first frame's delta is its absolute timestamp (in TRACK_INFO's timescale), each
 * next frame's the difference to the previous one, which may be negative. Like the lite-04
 * header decoder, the payload is left to the caller; both fields are read or neither.
 */
int sl_moq_decode_frame_header05(struct sl_reader *r, uint64_t max, int64_t *delta, uint64_t *size,
				 const char **why);
int sl_moq_encode_frame_header05(struct sl_writer *w, int64_t delta, uint64_t size);

/* Zigzag: signed n >= 0 as 2n, n < 0 as -2n - 1. */
static inline uint64_t sl_moq_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t sl_moq_unzigzag(uint64_t z)
{
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

/*
 * A frame on a group or fetch stream is size(i) then the payload. The header decoder only reads
 * the size (payload bytes are then consumed by the caller as they arrive, possibly across
 * packets). Errors: SL_ETRUNC; SL_ERANGE when size > max.
 */
int sl_moq_decode_frame_header(struct sl_reader *r, uint64_t max, uint64_t *size, const char **why);
int sl_moq_encode_frame_header(struct sl_writer *w, uint64_t size);

#endif
