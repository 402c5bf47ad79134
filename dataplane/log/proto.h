/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_LOG_PROTO_H
#define SL_LOG_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bytes.h"

/*
 * The shardline log protocol (ALPN "shardline-log-1", URLs shardline://HOST:PORT): the durable
 * side's wire codec. docs/log-protocol.md describes every message byte by byte, every error
 * code and an example exchange; this header is the C contract. Pure functions over byte
 * buffers: no allocation, no state; decoded strings and records borrow the input.
 *
 * Every message on a stream is
 *
 *     Type (varint)  Length (varint)  Body (Length bytes)
 *
 * with QUIC varints (RFC 9000, 16.). A client opens bidirectional streams of two kinds, chosen
 * by the first message it sends on one:
 *
 *   request stream       PRODUCE and HWM requests, pipelined; the server answers each with
 *                        PRODUCE_OK / HWM_OK / ERROR carrying the request id, in any order.
 *   subscription stream  SUBSCRIBE first, then ASSIGN at any time; the server sends STARTED,
 *                        RECORDS, REMOVED and ERROR. Closing either side ends it.
 *
 * Decoders take one message body (the bytes after the header). They return 0, SL_ETRUNC (the
 * body ends inside a field), SL_ECORRUPT (bytes left over after the last field, a record
 * list that does not fill the body exactly, a varint where the format wants a small enum that
 * is out of range), or SL_ERANGE (a value over the limits in struct sl_lp_limits or this
 * header, a partition over UINT32_MAX, an empty stream name); *why, when not NULL, receives a
 * static string naming the field ("produce.count"). *out is written only when the decoder
 * returns 0. Every strict prefix of a valid body gives SL_ETRUNC. A limits pointer may be NULL
 * (the defaults). Decoders accept non-minimal varints; encoders write minimal ones.
 *
 * Encoders write the whole message, header included, and return 0, SL_ENOSPC (the writer is
 * left unchanged) or SL_ERANGE (a value over 2^62 - 1, a length or count over the limits of
 * this header, an enum out of range, or fields the matching decoder refuses whatever its
 * limits), so what an encoder writes decodes unless it exceeds the reader's struct
 * sl_lp_limits.
 */

#define SL_LP_ALPN "shardline-log-1"

/* Stream names: 1 .. 249 bytes of [A-Za-z0-9._-], not "." or ".." (Kafka's topic rule; checked
 * by sl_stream_name_valid in log/streamset.h, not by the decoders). */
#define SL_LP_MAX_STREAM_NAME 249
/* Longest partitioning key. */
#define SL_LP_MAX_KEY 1024
/* Longest ERROR reason. */
#define SL_LP_MAX_REASON 1024
/* Most records one PRODUCE or RECORDS message may carry. */
#define SL_LP_MAX_RECORDS 65536
/* "No partition" in struct sl_lp_error.partition. */
#define SL_LP_NO_PARTITION UINT32_MAX

enum sl_lp_type {
	SL_LP_PRODUCE = 0x01,	 /* c -> s, request stream */
	SL_LP_PRODUCE_OK = 0x02, /* s -> c */
	SL_LP_ERROR = 0x03,	 /* s -> c, both stream kinds */
	SL_LP_HWM = 0x04,	 /* c -> s, request stream */
	SL_LP_HWM_OK = 0x05,	 /* s -> c */
	SL_LP_SUBSCRIBE = 0x10,	 /* c -> s, first message of a subscription stream */
	SL_LP_ASSIGN = 0x11,	 /* c -> s, subscription stream */
	SL_LP_STARTED = 0x12,	 /* s -> c: where an assigned partition starts */
	SL_LP_RECORDS = 0x13,	 /* s -> c: consecutive records of one partition */
	SL_LP_REMOVED = 0x14,	 /* s -> c: no record of this partition follows */
	/* Named consumers (docs/log-protocol.md, "Named consumers"). */
	SL_LP_COMMIT = 0x15,	      /* c -> s, named subscription: the next offset to read */
	SL_LP_COMMIT_OK = 0x16,	      /* s -> c: that position is durable */
	SL_LP_SUBSCRIBE_NAMED = 0x17, /* c -> s: SUBSCRIBE as a named consumer (first message) */
	/* Idempotent producers. 0x06, c -> s, request stream: a PRODUCE with a producer id and
	 * a sequence number, so that a retry appends nothing twice. 0x07, s -> c: the answer to
	 * a PRODUCE_IDEM whose records were stored before (nothing was appended): PRODUCE_OK's
	 * fields, with the original offsets. */
	SL_LP_PRODUCE_IDEM = 0x06,
	SL_LP_PRODUCE_DUP = 0x07,
};

/* Error codes (ERROR.code). Values are part of the protocol and never change. */
enum sl_lp_code {
	SL_LP_ERR_UNKNOWN_STREAM = 1,	   /* no stream of that name */
	SL_LP_ERR_PARTITION_RANGE = 2,	   /* partition >= the stream's partition count */
	SL_LP_ERR_RECORD_TOO_LARGE = 3,	   /* a record over the stream's max_record_bytes */
	SL_LP_ERR_OVERLOADED = 4,	   /* back off detail ms and retry; nothing was kept */
	SL_LP_ERR_SHUTTING_DOWN = 5,	   /* the server is stopping; reconnect later */
	SL_LP_ERR_STORAGE_FAILED = 6,	   /* the object store or the log failed the write */
	SL_LP_ERR_OFFSET_OUT_OF_RANGE = 7, /* outside the retained range (detail = earliest) */
	SL_LP_ERR_MALFORMED = 8,	   /* undecodable message: the stream is reset */
	SL_LP_ERR_INVALID = 9,		   /* well-formed but not allowed here */
	SL_LP_ERR_INTERNAL = 10,	   /* a server bug or allocation failure */
	/* A PRODUCE_IDEM whose sequence is not the one expected (detail = the expected one). */
	SL_LP_ERR_OUT_OF_ORDER_SEQUENCE = 11,
	SL_LP_ERR_FENCED = 12, /* a newer consumer of the same name took over */
};

/* The stream reset code (QUIC application error) after an ERROR with SL_LP_ERR_MALFORMED. */
#define SL_LP_RESET_MALFORMED 0x108

enum sl_lp_durability {
	SL_LP_APPLIED = 0, /* in the owner's memory, readable by applied-isolation consumers */
	SL_LP_WRITTEN = 1, /* its batch object was written to the object store */
	SL_LP_DURABLE = 2, /* the object is synced and its segment is in the metadata event log */
};

enum sl_lp_isolation {
	SL_LP_ISO_DURABLE = 0, /* only durable records (the default) */
	SL_LP_ISO_APPLIED = 1, /* every applied record: lower latency, may vanish in a crash */
};

enum sl_lp_start_kind {
	SL_LP_START_EARLIEST = 0, /* the oldest retained offset */
	SL_LP_START_LATEST = 1,	  /* the next offset to be written (only new records) */
	SL_LP_START_OFFSET = 2,	  /* an explicit offset */
	/* Named subscriptions only: the consumer's committed position, or, where it committed
	 * nothing for the partition, the earliest (3) or latest (4) offset. */
	SL_LP_START_COMMITTED_OR_EARLIEST = 3,
	SL_LP_START_COMMITTED_OR_LATEST = 4,
};

/* Decoder limits, so a hostile peer cannot make a decoder accept absurd values. */
struct sl_lp_limits {
	uint64_t max_record_bytes; /* default 16 MiB */
	uint32_t max_records;	   /* per message; default (and at most) SL_LP_MAX_RECORDS */
	uint32_t max_assign;	   /* partitions per SUBSCRIBE or ASSIGN list; default 65536 */
	uint32_t max_partitions;   /* entries in HWM_OK; default 65536 */
};

void sl_lp_limits_default(struct sl_lp_limits *l);

/* A borrowed byte string. */
struct sl_lp_bytes {
	const uint8_t *p;
	size_t n;
};

/* ---- framing ---- */

struct sl_lp_header {
	uint64_t type;
	uint64_t len;	/* body length */
	size_t hdr_len; /* bytes of Type and Length */
};

/* Parses a message header from the n bytes at p. Returns 0, or SL_EAGAIN when p is too short
 * to hold the whole header yet (n == 0 included). Never fails otherwise: the caller checks
 * len against its own maximum and the type against the stream's state. */
int sl_lp_header_parse(const uint8_t *p, size_t n, struct sl_lp_header *h);

/* Writes Type and Length. Returns 0, SL_ENOSPC or SL_ERANGE (a value over 2^62 - 1). */
int sl_lp_header_write(struct sl_writer *w, uint64_t type, uint64_t body_len);

/* The documented partition of a key: XXH3-64 (seed 0) of the key bytes, modulo partitions
 * (partitions > 0; 0 gives 0 rather than a division by zero). */
uint32_t sl_lp_key_partition(const uint8_t *key, size_t n, uint32_t partitions);

/* Static names for messages ("produce") and error codes ("unknown_stream"); "?" if unknown. */
const char *sl_lp_type_name(uint64_t type);
const char *sl_lp_code_name(uint64_t code);

/* ---- PRODUCE ---- */

struct sl_lp_produce {
	uint64_t request_id;
	struct sl_lp_bytes stream;
	bool keyed;	    /* true: key chooses the partition; false: partition is given */
	uint32_t partition; /* when !keyed */
	struct sl_lp_bytes key;
	uint8_t durability; /* enum sl_lp_durability */
	uint32_t count;	    /* records, 1 .. max_records */
	/* count records, each Length (varint) + bytes, exactly filling this: iterate with
	 * sl_lp_records_init / sl_lp_records_next. */
	struct sl_lp_bytes records;
	uint64_t payload_bytes; /* sum of the record lengths (filled by the decoder) */
	/* PRODUCE_IDEM: the producer's id and the sequence number of the first record in the
	 * producer's numbering of this partition (record i has sequence + i). Both at most
	 * 2^62 - 1, and sequence + count <= 2^62. false: a plain PRODUCE. */
	bool idempotent;
	uint64_t producer_id;
	uint64_t sequence;
};

/* Decodes a PRODUCE body. Checks the stream name's length (not its characters: the server
 * answers a bad name with UNKNOWN_STREAM), the key length, durability, the count against
 * 1 .. max_records, every record length against max_record_bytes, and that the records fill
 * the body exactly. */
int sl_lp_decode_produce(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			 struct sl_lp_produce *out, const char **why);

/* Decodes a PRODUCE_IDEM body: as PRODUCE, with producer_id and sequence after durability
 * (SL_ERANGE "produce.sequence" when sequence + count is over 2^62). Sets idempotent. */
int sl_lp_decode_produce_idem(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			      struct sl_lp_produce *out, const char **why);

/* Writes a whole PRODUCE message whose records are recs[0 .. m->count) (m->records and
 * m->payload_bytes are ignored; m->key when !keyed, m->partition when keyed), or a
 * PRODUCE_IDEM when m->idempotent. SL_ERANGE also for a count of 0 or over SL_LP_MAX_RECORDS,
 * or a sequence + count over 2^62. */
int sl_lp_write_produce(struct sl_writer *w, const struct sl_lp_produce *m,
			const struct sl_lp_bytes *recs);

/* Bytes sl_lp_write_produce needs for m and recs (header included), or 0 when it would return
 * SL_ERANGE. */
size_t sl_lp_produce_size(const struct sl_lp_produce *m, const struct sl_lp_bytes *recs);

/* Iterates count records of a list checked by a decoder. */
struct sl_lp_record_iter {
	struct sl_reader r;
	uint32_t left;
};

void sl_lp_records_init(struct sl_lp_record_iter *it, struct sl_lp_bytes records, uint32_t count);
/* Returns 0 and the next record, or SL_EEOF after the last one (SL_ECORRUPT only for a list no
 * decoder checked). */
int sl_lp_records_next(struct sl_lp_record_iter *it, struct sl_lp_bytes *rec);

/* ---- PRODUCE_OK ---- */

struct sl_lp_produce_ok {
	uint64_t request_id;
	uint32_t partition;
	uint64_t first_offset;
	uint32_t count;
};

/* Checks that partition and count fit 32 bits and that first_offset + count <= 2^62 (the
 * offsets are varints). Decodes PRODUCE_DUP bodies too: the same fields. */
int sl_lp_decode_produce_ok(const uint8_t *body, size_t n, struct sl_lp_produce_ok *out,
			    const char **why);
int sl_lp_write_produce_ok(struct sl_writer *w, const struct sl_lp_produce_ok *m);
/* Writes a PRODUCE_DUP: the answer to a PRODUCE_IDEM whose records were stored before, with
 * the original offsets. */
int sl_lp_write_produce_dup(struct sl_writer *w, const struct sl_lp_produce_ok *m);

/* ---- ERROR ---- */

struct sl_lp_error {
	uint64_t request_id; /* the request answered; 0 on a subscription stream */
	uint64_t code;	     /* enum sl_lp_code; unknown codes decode (forward compatibility) */
	uint32_t partition;  /* the partition concerned, or SL_LP_NO_PARTITION */
	uint64_t detail;     /* OVERLOADED: retry after this many ms; OFFSET_OUT_OF_RANGE: the
				earliest offset; else 0 */
	struct sl_lp_bytes reason; /* UTF-8 text for humans, at most 1024 bytes */
};

/* On the wire the partition travels as partition + 1, 0 meaning SL_LP_NO_PARTITION; a value
 * over UINT32_MAX, or a reason over SL_LP_MAX_REASON bytes, is SL_ERANGE. */
int sl_lp_decode_error(const uint8_t *body, size_t n, struct sl_lp_error *out, const char **why);
/* Writes an ERROR; a reason longer than SL_LP_MAX_REASON bytes is cut (not an error), before a
 * UTF-8 character that would straddle the limit. */
int sl_lp_write_error(struct sl_writer *w, const struct sl_lp_error *m);

/* ---- HWM / HWM_OK ---- */

struct sl_lp_hwm {
	uint64_t request_id;
	struct sl_lp_bytes stream;
};

int sl_lp_decode_hwm(const uint8_t *body, size_t n, struct sl_lp_hwm *out, const char **why);
int sl_lp_write_hwm(struct sl_writer *w, const struct sl_lp_hwm *m);

/* One partition's marks: records [start, high_water) exist; those below durable are durable.
 * start <= durable <= high_water. */
struct sl_lp_marks {
	uint64_t start;
	uint64_t durable;
	uint64_t high_water;
};

struct sl_lp_hwm_ok {
	uint64_t request_id;
	uint32_t count; /* partitions */
	/* count entries of three varints each; read them with sl_lp_hwm_ok_entry */
	struct sl_lp_bytes entries;
};

/* Checks every entry (start <= durable <= high_water) and count <= max_partitions. */
int sl_lp_decode_hwm_ok(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			struct sl_lp_hwm_ok *out, const char **why);
/* The i-th entry of a decoded HWM_OK (i < count). Returns 0 or SL_EINVAL (i out of range).
 * O(i): walk every entry with sl_lp_marks_next instead. */
int sl_lp_hwm_ok_entry(const struct sl_lp_hwm_ok *m, uint32_t i, struct sl_lp_marks *out);
/* Iterates a checked list of entries (reader over m->entries). Returns 0 or SL_EEOF (SL_ECORRUPT
 * only for a list no decoder checked). */
int sl_lp_marks_next(struct sl_reader *r, struct sl_lp_marks *out);
/* SL_ERANGE also when an entry breaks start <= durable <= high_water. */
int sl_lp_write_hwm_ok(struct sl_writer *w, uint64_t request_id, const struct sl_lp_marks *marks,
		       uint32_t count);

/* ---- SUBSCRIBE / ASSIGN ---- */

struct sl_lp_start {
	uint32_t partition;
	uint8_t kind;	 /* enum sl_lp_start_kind */
	uint64_t offset; /* SL_LP_START_OFFSET only */
};

struct sl_lp_subscribe {
	struct sl_lp_bytes consumer; /* SUBSCRIBE_NAMED: the consumer's name; else empty */
	struct sl_lp_bytes stream;
	uint8_t isolation;	   /* enum sl_lp_isolation */
	uint32_t count;		   /* assignment entries, 0 .. max_assign */
	struct sl_lp_bytes starts; /* read with sl_lp_starts_next */
};

/* Checks isolation, every start's kind, count <= max_assign. Duplicate partitions are the
 * server's business (INVALID), not the decoder's. */
int sl_lp_decode_subscribe(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			   struct sl_lp_subscribe *out, const char **why);
int sl_lp_write_subscribe(struct sl_writer *w, struct sl_lp_bytes stream, uint8_t isolation,
			  const struct sl_lp_start *starts, uint32_t count);

/* SUBSCRIBE_NAMED: the consumer's name (1 .. SL_LP_MAX_STREAM_NAME bytes; the server checks
 * its characters as a stream name's), then a SUBSCRIBE body. Checks as sl_lp_decode_subscribe. */
int sl_lp_decode_subscribe_named(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
				 struct sl_lp_subscribe *out, const char **why);
int sl_lp_write_subscribe_named(struct sl_writer *w, struct sl_lp_bytes consumer,
				struct sl_lp_bytes stream, uint8_t isolation,
				const struct sl_lp_start *starts, uint32_t count);

struct sl_lp_assign {
	uint32_t add_count;
	struct sl_lp_bytes adds; /* starts: read with sl_lp_starts_next */
	uint32_t remove_count;
	struct sl_lp_bytes removes; /* partitions: read with sl_lp_partitions_next */
};

int sl_lp_decode_assign(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			struct sl_lp_assign *out, const char **why);
int sl_lp_write_assign(struct sl_writer *w, const struct sl_lp_start *adds, uint32_t nadd,
		       const uint32_t *removes, uint32_t nremove);

/* Iterates a checked list of starts (reader over the list bytes). Returns 0 or SL_EEOF
 * (SL_ECORRUPT only for a list no decoder checked). offset is 0 unless kind is
 * SL_LP_START_OFFSET. */
int sl_lp_starts_next(struct sl_reader *r, struct sl_lp_start *out);
/* Iterates a checked list of partitions. Returns 0 or SL_EEOF (SL_ECORRUPT as above). */
int sl_lp_partitions_next(struct sl_reader *r, uint32_t *out);

/* ---- STARTED / REMOVED ---- */

struct sl_lp_started {
	uint32_t partition;
	uint64_t offset; /* the first offset this subscription will deliver for the partition */
};

int sl_lp_decode_started(const uint8_t *body, size_t n, struct sl_lp_started *out,
			 const char **why);
int sl_lp_write_started(struct sl_writer *w, const struct sl_lp_started *m);

int sl_lp_decode_removed(const uint8_t *body, size_t n, uint32_t *partition, const char **why);
int sl_lp_write_removed(struct sl_writer *w, uint32_t partition);

/* ---- COMMIT / COMMIT_OK ---- */

/* COMMIT asks the server to store offset as the named consumer's position in partition (the
 * next offset it wants to read); COMMIT_OK says that position is durable. Same body. */
struct sl_lp_commit {
	uint32_t partition;
	uint64_t offset;
};

int sl_lp_decode_commit(const uint8_t *body, size_t n, struct sl_lp_commit *out, const char **why);
/* type is SL_LP_COMMIT or SL_LP_COMMIT_OK (else SL_ERANGE). */
int sl_lp_write_commit(struct sl_writer *w, uint64_t type, const struct sl_lp_commit *m);

/* ---- RECORDS ---- */

struct sl_lp_records {
	uint32_t partition;
	uint64_t first_offset;
	uint32_t count;
	struct sl_lp_bytes records; /* count records, as in PRODUCE */
	uint64_t payload_bytes;
};

/* Checks as PRODUCE does, and that first_offset + count <= 2^62 (SL_ERANGE). */
int sl_lp_decode_records(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			 struct sl_lp_records *out, const char **why);

/*
 * The server sends RECORDS without copying payloads: it writes the message's head (header,
 * partition, first offset, count) and one length prefix per record into a small buffer, and
 * queues each payload by reference. frames_len is the sum over the records of
 * varint_len(len) + len; the head's Length field covers it. SL_ERANGE for a count of 0 or over
 * SL_LP_MAX_RECORDS, first_offset + count > 2^62, or frames_len < count (every record takes
 * at least its one-byte length).
 */
int sl_lp_write_records_head(struct sl_writer *w, uint32_t partition, uint64_t first_offset,
			     uint32_t count, uint64_t frames_len);
/* Writes one record's Length prefix (the payload follows separately). */
int sl_lp_write_record_len(struct sl_writer *w, uint64_t len);
/* Writes a whole RECORDS message (tests and tools). */
int sl_lp_write_records(struct sl_writer *w, uint32_t partition, uint64_t first_offset,
			const struct sl_lp_bytes *recs, uint32_t count);

#endif
