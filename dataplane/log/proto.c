/* SPDX-License-Identifier: Apache-2.0 */
#include "log/proto.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/varint.h"

#include <string.h>

#define DEFAULT_MAX_RECORD_BYTES (UINT64_C(16) << 20)
#define DEFAULT_MAX_ASSIGN	 65536
#define DEFAULT_MAX_PARTITIONS	 65536
/* Offsets are varints, so the offset after a message's last record is at most 2^62. */
#define OFFSET_END_MAX (UINT64_C(1) << 62)

#define WHY(s)                                                                                     \
	do {                                                                                       \
		if (why)                                                                           \
			*why = (s);                                                                \
	} while (0)

#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int rc_ = (expr);                                                                  \
		if (rc_ != 0)                                                                      \
			return rc_;                                                                \
	} while (0)

void sl_lp_limits_default(struct sl_lp_limits *l)
{
	l->max_record_bytes = DEFAULT_MAX_RECORD_BYTES;
	l->max_records = SL_LP_MAX_RECORDS;
	l->max_assign = DEFAULT_MAX_ASSIGN;
	l->max_partitions = DEFAULT_MAX_PARTITIONS;
}

static const struct sl_lp_limits *limits_or_default(const struct sl_lp_limits *lim,
						    struct sl_lp_limits *tmp)
{
	if (lim != NULL)
		return lim;
	sl_lp_limits_default(tmp);
	return tmp;
}

/* ---- framing ---- */

int sl_lp_header_parse(const uint8_t *p, size_t n, struct sl_lp_header *h)
{
	uint64_t type, len;
	size_t a, b;
	if (n == 0 || sl_varint_decode(p, n, &type, &a) != 0)
		return SL_EAGAIN;
	if (a == n || sl_varint_decode(p + a, n - a, &len, &b) != 0)
		return SL_EAGAIN;
	h->type = type;
	h->len = len;
	h->hdr_len = a + b;
	return 0;
}

/* Checks that the header and `room` bytes of the body fit, then writes the header. Encoders
 * check every field before calling this, so nothing after it can fail and a refused message
 * leaves the writer untouched. */
static int begin(struct sl_writer *w, uint64_t type, uint64_t body_len, uint64_t room)
{
	if (type > SL_VARINT_MAX || body_len > SL_VARINT_MAX)
		return SL_ERANGE;
	uint64_t need = sl_varint_len(type) + sl_varint_len(body_len) + room;
	if ((uint64_t)(w->end - w->p) < need)
		return SL_ENOSPC;
	sl_writer_varint(w, type);
	sl_writer_varint(w, body_len);
	return 0;
}

int sl_lp_header_write(struct sl_writer *w, uint64_t type, uint64_t body_len)
{
	return begin(w, type, body_len, 0);
}

uint32_t sl_lp_key_partition(const uint8_t *key, size_t n, uint32_t partitions)
{
	if (partitions == 0)
		return 0;
	return (uint32_t)(sl_hash64(key, n, 0) % partitions);
}

const char *sl_lp_type_name(uint64_t type)
{
	switch (type) {
	case SL_LP_PRODUCE:
		return "produce";
	case SL_LP_PRODUCE_OK:
		return "produce_ok";
	case SL_LP_ERROR:
		return "error";
	case SL_LP_HWM:
		return "hwm";
	case SL_LP_HWM_OK:
		return "hwm_ok";
	case SL_LP_PRODUCE_IDEM:
		return "produce_idem";
	case SL_LP_PRODUCE_DUP:
		return "produce_dup";
	case SL_LP_SUBSCRIBE:
		return "subscribe";
	case SL_LP_ASSIGN:
		return "assign";
	case SL_LP_STARTED:
		return "started";
	case SL_LP_RECORDS:
		return "records";
	case SL_LP_REMOVED:
		return "removed";
	case SL_LP_COMMIT:
		return "commit";
	case SL_LP_COMMIT_OK:
		return "commit_ok";
	case SL_LP_SUBSCRIBE_NAMED:
		return "subscribe_named";
	default:
		return "?";
	}
}

const char *sl_lp_code_name(uint64_t code)
{
	switch (code) {
	case SL_LP_ERR_UNKNOWN_STREAM:
		return "unknown_stream";
	case SL_LP_ERR_PARTITION_RANGE:
		return "partition_out_of_range";
	case SL_LP_ERR_RECORD_TOO_LARGE:
		return "record_too_large";
	case SL_LP_ERR_OVERLOADED:
		return "overloaded";
	case SL_LP_ERR_SHUTTING_DOWN:
		return "shutting_down";
	case SL_LP_ERR_STORAGE_FAILED:
		return "storage_failed";
	case SL_LP_ERR_OFFSET_OUT_OF_RANGE:
		return "offset_out_of_range";
	case SL_LP_ERR_MALFORMED:
		return "malformed";
	case SL_LP_ERR_INVALID:
		return "invalid";
	case SL_LP_ERR_INTERNAL:
		return "internal";
	case SL_LP_ERR_FENCED:
		return "fenced";
	case SL_LP_ERR_OUT_OF_ORDER_SEQUENCE:
		return "out_of_order_sequence";
	default:
		return "?";
	}
}

/* ---- field readers: each names its field in *why when it fails ---- */

/* A reader over n bytes at p; an empty body may come as NULL, and NULL + 0 is undefined in C. */
static void rd_init(struct sl_reader *r, const uint8_t *p, size_t n)
{
	static const uint8_t empty[1];
	sl_reader_init(r, p != NULL ? p : empty, p != NULL ? n : 0);
}

static int rd_varint(struct sl_reader *r, uint64_t *v, const char **why, const char *field)
{
	if (sl_reader_varint(r, v) != 0) {
		WHY(field);
		return SL_ETRUNC;
	}
	return 0;
}

static int rd_u32(struct sl_reader *r, uint32_t *v, const char **why, const char *field)
{
	uint64_t x;
	TRY(rd_varint(r, &x, why, field));
	if (x > UINT32_MAX) {
		WHY(field);
		return SL_ERANGE;
	}
	*v = (uint32_t)x;
	return 0;
}

/* A small enum: a value over max is a format error, not a limit. */
static int rd_enum(struct sl_reader *r, uint8_t *v, uint8_t max, const char **why,
		   const char *field)
{
	uint64_t x;
	TRY(rd_varint(r, &x, why, field));
	if (x > max) {
		WHY(field);
		return SL_ECORRUPT;
	}
	*v = (uint8_t)x;
	return 0;
}

/* A count checked against [min, max] (SL_ERANGE). */
static int rd_count(struct sl_reader *r, uint32_t *v, uint64_t min, uint64_t max, const char **why,
		    const char *field)
{
	uint64_t x;
	TRY(rd_varint(r, &x, why, field));
	if (x < min || x > max) {
		WHY(field);
		return SL_ERANGE;
	}
	*v = (uint32_t)x;
	return 0;
}

static int rd_bytes(struct sl_reader *r, size_t max, struct sl_lp_bytes *out, const char **why,
		    const char *field)
{
	/* sl_reader_lenbytes checks the length against max before the bytes, so a huge length in
	 * a short body is SL_ERANGE rather than SL_ETRUNC. */
	int rc = sl_reader_lenbytes(r, max, &out->p, &out->n);
	if (rc != 0) {
		WHY(field);
		return rc;
	}
	return 0;
}

static int rd_stream(struct sl_reader *r, struct sl_lp_bytes *out, const char **why,
		     const char *field)
{
	TRY(rd_bytes(r, SL_LP_MAX_STREAM_NAME, out, why, field));
	if (out->n == 0) {
		WHY(field);
		return SL_ERANGE;
	}
	return 0;
}

static int rd_end(const struct sl_reader *r, const char **why, const char *field)
{
	if (sl_reader_left(r) != 0) {
		WHY(field);
		return SL_ECORRUPT;
	}
	return 0;
}

struct list_names {
	const char *len;  /* a record's length */
	const char *rec;  /* a record's bytes */
	const char *list; /* the list does not end with the body */
};

/* count records (Length + bytes) that must fill the rest of the body exactly. */
static int rd_records(struct sl_reader *r, uint32_t count, uint64_t max_bytes,
		      struct sl_lp_bytes *list, uint64_t *payload, const char **why,
		      const struct list_names *nm)
{
	const uint8_t *start = r->p;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint64_t len;
		TRY(rd_varint(r, &len, why, nm->len));
		if (len > max_bytes) {
			WHY(nm->len);
			return SL_ERANGE;
		}
		if (len > sl_reader_left(r)) {
			WHY(nm->rec);
			return SL_ETRUNC;
		}
		r->p += len;
		sum += len;
	}
	TRY(rd_end(r, why, nm->list));
	list->p = start;
	list->n = (size_t)(r->p - start);
	*payload = sum;
	return 0;
}

static uint64_t max_records(const struct sl_lp_limits *lim)
{
	return lim->max_records < SL_LP_MAX_RECORDS ? lim->max_records : SL_LP_MAX_RECORDS;
}

struct start_names {
	const char *partition, *kind, *offset;
};

static int rd_start(struct sl_reader *r, struct sl_lp_start *s, const char **why,
		    const struct start_names *nm)
{
	TRY(rd_u32(r, &s->partition, why, nm->partition));
	TRY(rd_enum(r, &s->kind, SL_LP_START_COMMITTED_OR_LATEST, why, nm->kind));
	s->offset = 0;
	if (s->kind == SL_LP_START_OFFSET)
		TRY(rd_varint(r, &s->offset, why, nm->offset));
	return 0;
}

/* count starts; list covers their bytes. */
static int rd_starts(struct sl_reader *r, uint32_t count, struct sl_lp_bytes *list,
		     const char **why, const struct start_names *nm)
{
	const uint8_t *p = r->p;
	for (uint32_t i = 0; i < count; i++) {
		struct sl_lp_start s;
		TRY(rd_start(r, &s, why, nm));
	}
	list->p = p;
	list->n = (size_t)(r->p - p);
	return 0;
}

/* ---- field encoders: the body length is summed first, with every check, then written ---- */

struct blen {
	uint64_t n;
	int rc;
};

static void len_varint(struct blen *l, uint64_t v)
{
	if (v > SL_VARINT_MAX)
		l->rc = SL_ERANGE;
	else
		l->n += sl_varint_len(v);
}

static void len_bytes(struct blen *l, size_t n)
{
	if ((uint64_t)n > SL_VARINT_MAX) {
		l->rc = SL_ERANGE;
		return;
	}
	l->n += sl_varint_len(n) + (uint64_t)n;
	/* Each term is below 2^62 + 8, so checking the sum each time keeps it from wrapping. */
	if (l->n > SL_VARINT_MAX)
		l->rc = SL_ERANGE;
}

static void put_varint(struct sl_writer *w, uint64_t v)
{
	sl_writer_varint(w, v);
}

static void put_bytes(struct sl_writer *w, struct sl_lp_bytes b)
{
	sl_writer_lenbytes(w, b.p, b.n);
}

/* ---- PRODUCE ---- */

static int produce_body_len(const struct sl_lp_produce *m, const struct sl_lp_bytes *recs,
			    uint64_t *out)
{
	if (m->stream.n == 0 || m->stream.n > SL_LP_MAX_STREAM_NAME)
		return SL_ERANGE;
	if ((m->keyed && m->key.n > SL_LP_MAX_KEY) || m->durability > SL_LP_DURABLE)
		return SL_ERANGE;
	if (m->count == 0 || m->count > SL_LP_MAX_RECORDS)
		return SL_ERANGE;
	if (m->idempotent && (m->producer_id > SL_VARINT_MAX || m->sequence > SL_VARINT_MAX ||
			      m->count > OFFSET_END_MAX - m->sequence))
		return SL_ERANGE;
	struct blen l = {0, 0};
	len_varint(&l, m->request_id);
	len_bytes(&l, m->stream.n);
	len_varint(&l, m->keyed);
	if (m->keyed)
		len_bytes(&l, m->key.n);
	else
		len_varint(&l, m->partition);
	len_varint(&l, m->durability);
	if (m->idempotent) {
		len_varint(&l, m->producer_id);
		len_varint(&l, m->sequence);
	}
	len_varint(&l, m->count);
	for (uint32_t i = 0; i < m->count && l.rc == 0; i++)
		len_bytes(&l, recs[i].n);
	*out = l.n;
	return l.rc;
}

/* PRODUCE and PRODUCE_IDEM: the same fields, the latter with producer_id and sequence after
 * durability. */
static int decode_produce(const uint8_t *body, size_t n, const struct sl_lp_limits *lim, bool idem,
			  struct sl_lp_produce *out, const char **why)
{
	static const struct list_names names = {"produce.record_length", "produce.record",
						"produce.records"};
	struct sl_lp_limits tmp;
	lim = limits_or_default(lim, &tmp);
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_produce m;
	memset(&m, 0, sizeof(m));
	uint8_t selector;
	TRY(rd_varint(&r, &m.request_id, why, "produce.request_id"));
	TRY(rd_stream(&r, &m.stream, why, "produce.stream"));
	TRY(rd_enum(&r, &selector, 1, why, "produce.selector"));
	m.keyed = selector == 1;
	if (m.keyed)
		TRY(rd_bytes(&r, SL_LP_MAX_KEY, &m.key, why, "produce.key"));
	else
		TRY(rd_u32(&r, &m.partition, why, "produce.partition"));
	TRY(rd_enum(&r, &m.durability, SL_LP_DURABLE, why, "produce.durability"));
	if (idem) {
		m.idempotent = true;
		TRY(rd_varint(&r, &m.producer_id, why, "produce.producer_id"));
		TRY(rd_varint(&r, &m.sequence, why, "produce.sequence"));
	}
	TRY(rd_count(&r, &m.count, 1, max_records(lim), why, "produce.count"));
	/* The records' sequence numbers are varints too: the last one is at most 2^62 - 1. */
	if (idem && m.count > OFFSET_END_MAX - m.sequence) {
		WHY("produce.sequence");
		return SL_ERANGE;
	}
	TRY(rd_records(&r, m.count, lim->max_record_bytes, &m.records, &m.payload_bytes, why,
		       &names));
	*out = m;
	return 0;
}

int sl_lp_decode_produce(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			 struct sl_lp_produce *out, const char **why)
{
	return decode_produce(body, n, lim, false, out, why);
}

int sl_lp_decode_produce_idem(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			      struct sl_lp_produce *out, const char **why)
{
	return decode_produce(body, n, lim, true, out, why);
}

int sl_lp_write_produce(struct sl_writer *w, const struct sl_lp_produce *m,
			const struct sl_lp_bytes *recs)
{
	uint64_t body;
	TRY(produce_body_len(m, recs, &body));
	TRY(begin(w, m->idempotent ? SL_LP_PRODUCE_IDEM : SL_LP_PRODUCE, body, body));
	put_varint(w, m->request_id);
	put_bytes(w, m->stream);
	put_varint(w, m->keyed);
	if (m->keyed)
		put_bytes(w, m->key);
	else
		put_varint(w, m->partition);
	put_varint(w, m->durability);
	if (m->idempotent) {
		put_varint(w, m->producer_id);
		put_varint(w, m->sequence);
	}
	put_varint(w, m->count);
	for (uint32_t i = 0; i < m->count; i++)
		put_bytes(w, recs[i]);
	return 0;
}

size_t sl_lp_produce_size(const struct sl_lp_produce *m, const struct sl_lp_bytes *recs)
{
	uint64_t body;
	if (produce_body_len(m, recs, &body) != 0)
		return 0;
	/* Both types are one-byte varints. */
	return (size_t)(sl_varint_len(SL_LP_PRODUCE) + sl_varint_len(body) + body);
}

void sl_lp_records_init(struct sl_lp_record_iter *it, struct sl_lp_bytes records, uint32_t count)
{
	rd_init(&it->r, records.p, records.n);
	it->left = count;
}

int sl_lp_records_next(struct sl_lp_record_iter *it, struct sl_lp_bytes *rec)
{
	if (it->left == 0)
		return SL_EEOF;
	struct sl_reader save = it->r;
	if (sl_reader_lenbytes(&it->r, SIZE_MAX, &rec->p, &rec->n) != 0) {
		it->r = save;
		return SL_ECORRUPT;
	}
	it->left--;
	return 0;
}

/* ---- PRODUCE_OK ---- */

int sl_lp_decode_produce_ok(const uint8_t *body, size_t n, struct sl_lp_produce_ok *out,
			    const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_produce_ok m;
	memset(&m, 0, sizeof(m));
	TRY(rd_varint(&r, &m.request_id, why, "produce_ok.request_id"));
	TRY(rd_u32(&r, &m.partition, why, "produce_ok.partition"));
	TRY(rd_varint(&r, &m.first_offset, why, "produce_ok.first_offset"));
	TRY(rd_u32(&r, &m.count, why, "produce_ok.count"));
	if (m.count > OFFSET_END_MAX - m.first_offset) {
		WHY("produce_ok.count");
		return SL_ERANGE;
	}
	TRY(rd_end(&r, why, "produce_ok.trailing_bytes"));
	*out = m;
	return 0;
}

static int write_produce_ok(struct sl_writer *w, uint64_t type, const struct sl_lp_produce_ok *m)
{
	struct blen l = {0, 0};
	len_varint(&l, m->request_id);
	len_varint(&l, m->partition);
	len_varint(&l, m->first_offset);
	len_varint(&l, m->count);
	if (l.rc != 0 || m->count > OFFSET_END_MAX - m->first_offset)
		return SL_ERANGE;
	TRY(begin(w, type, l.n, l.n));
	put_varint(w, m->request_id);
	put_varint(w, m->partition);
	put_varint(w, m->first_offset);
	put_varint(w, m->count);
	return 0;
}

int sl_lp_write_produce_ok(struct sl_writer *w, const struct sl_lp_produce_ok *m)
{
	return write_produce_ok(w, SL_LP_PRODUCE_OK, m);
}

int sl_lp_write_produce_dup(struct sl_writer *w, const struct sl_lp_produce_ok *m)
{
	return write_produce_ok(w, SL_LP_PRODUCE_DUP, m);
}

/* ---- ERROR ---- */

int sl_lp_decode_error(const uint8_t *body, size_t n, struct sl_lp_error *out, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_error m;
	uint64_t plus_one;
	TRY(rd_varint(&r, &m.request_id, why, "error.request_id"));
	TRY(rd_varint(&r, &m.code, why, "error.code"));
	TRY(rd_varint(&r, &plus_one, why, "error.partition"));
	/* 2^32 would decode to UINT32_MAX, which already means "none" (sent as 0). */
	if (plus_one > UINT32_MAX) {
		WHY("error.partition");
		return SL_ERANGE;
	}
	m.partition = plus_one == 0 ? SL_LP_NO_PARTITION : (uint32_t)(plus_one - 1);
	TRY(rd_varint(&r, &m.detail, why, "error.detail"));
	TRY(rd_bytes(&r, SL_LP_MAX_REASON, &m.reason, why, "error.reason"));
	TRY(rd_end(&r, why, "error.trailing_bytes"));
	*out = m;
	return 0;
}

/* Where to cut a reason over the limit: before the character that straddles it, found by
 * backing up over at most three UTF-8 continuation bytes (10xxxxxx); text that is not UTF-8
 * there is cut at the limit. */
static size_t reason_len(const uint8_t *p, size_t n)
{
	if (n <= SL_LP_MAX_REASON)
		return n;
	size_t cut = SL_LP_MAX_REASON;
	for (int i = 0; i < 3 && (p[cut] & 0xc0) == 0x80; i++)
		cut--;
	if ((p[cut] & 0xc0) == 0x80)
		cut = SL_LP_MAX_REASON;
	return cut;
}

int sl_lp_write_error(struct sl_writer *w, const struct sl_lp_error *m)
{
	struct sl_lp_bytes reason = {m->reason.p, reason_len(m->reason.p, m->reason.n)};
	uint64_t plus_one = m->partition == SL_LP_NO_PARTITION ? 0 : (uint64_t)m->partition + 1;
	struct blen l = {0, 0};
	len_varint(&l, m->request_id);
	len_varint(&l, m->code);
	len_varint(&l, plus_one);
	len_varint(&l, m->detail);
	len_bytes(&l, reason.n);
	if (l.rc != 0)
		return l.rc;
	TRY(begin(w, SL_LP_ERROR, l.n, l.n));
	put_varint(w, m->request_id);
	put_varint(w, m->code);
	put_varint(w, plus_one);
	put_varint(w, m->detail);
	put_bytes(w, reason);
	return 0;
}

/* ---- HWM / HWM_OK ---- */

int sl_lp_decode_hwm(const uint8_t *body, size_t n, struct sl_lp_hwm *out, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_hwm m;
	TRY(rd_varint(&r, &m.request_id, why, "hwm.request_id"));
	TRY(rd_stream(&r, &m.stream, why, "hwm.stream"));
	TRY(rd_end(&r, why, "hwm.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_write_hwm(struct sl_writer *w, const struct sl_lp_hwm *m)
{
	if (m->stream.n == 0 || m->stream.n > SL_LP_MAX_STREAM_NAME)
		return SL_ERANGE;
	struct blen l = {0, 0};
	len_varint(&l, m->request_id);
	len_bytes(&l, m->stream.n);
	if (l.rc != 0)
		return l.rc;
	TRY(begin(w, SL_LP_HWM, l.n, l.n));
	put_varint(w, m->request_id);
	put_bytes(w, m->stream);
	return 0;
}

static int rd_marks(struct sl_reader *r, struct sl_lp_marks *m, const char **why)
{
	TRY(rd_varint(r, &m->start, why, "hwm_ok.start"));
	TRY(rd_varint(r, &m->durable, why, "hwm_ok.durable"));
	TRY(rd_varint(r, &m->high_water, why, "hwm_ok.high_water"));
	if (m->start > m->durable || m->durable > m->high_water) {
		WHY("hwm_ok.marks");
		return SL_ECORRUPT;
	}
	return 0;
}

int sl_lp_decode_hwm_ok(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			struct sl_lp_hwm_ok *out, const char **why)
{
	struct sl_lp_limits tmp;
	lim = limits_or_default(lim, &tmp);
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_hwm_ok m;
	TRY(rd_varint(&r, &m.request_id, why, "hwm_ok.request_id"));
	TRY(rd_count(&r, &m.count, 0, lim->max_partitions, why, "hwm_ok.count"));
	m.entries.p = r.p;
	for (uint32_t i = 0; i < m.count; i++) {
		struct sl_lp_marks e;
		TRY(rd_marks(&r, &e, why));
	}
	m.entries.n = (size_t)(r.p - m.entries.p);
	TRY(rd_end(&r, why, "hwm_ok.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_marks_next(struct sl_reader *r, struct sl_lp_marks *out)
{
	if (sl_reader_left(r) == 0)
		return SL_EEOF;
	struct sl_reader save = *r;
	struct sl_lp_marks m;
	if (rd_marks(r, &m, NULL) != 0) {
		*r = save;
		return SL_ECORRUPT;
	}
	*out = m;
	return 0;
}

int sl_lp_hwm_ok_entry(const struct sl_lp_hwm_ok *m, uint32_t i, struct sl_lp_marks *out)
{
	if (i >= m->count)
		return SL_EINVAL;
	struct sl_reader r;
	rd_init(&r, m->entries.p, m->entries.n);
	struct sl_lp_marks e;
	for (uint32_t k = 0; k <= i; k++)
		if (sl_lp_marks_next(&r, &e) != 0)
			return SL_EINVAL;
	*out = e;
	return 0;
}

int sl_lp_write_hwm_ok(struct sl_writer *w, uint64_t request_id, const struct sl_lp_marks *marks,
		       uint32_t count)
{
	struct blen l = {0, 0};
	len_varint(&l, request_id);
	len_varint(&l, count);
	for (uint32_t i = 0; i < count && l.rc == 0; i++) {
		const struct sl_lp_marks *e = &marks[i];
		if (e->start > e->durable || e->durable > e->high_water)
			return SL_ERANGE;
		len_varint(&l, e->start);
		len_varint(&l, e->durable);
		len_varint(&l, e->high_water);
	}
	if (l.rc != 0)
		return l.rc;
	TRY(begin(w, SL_LP_HWM_OK, l.n, l.n));
	put_varint(w, request_id);
	put_varint(w, count);
	for (uint32_t i = 0; i < count; i++) {
		put_varint(w, marks[i].start);
		put_varint(w, marks[i].durable);
		put_varint(w, marks[i].high_water);
	}
	return 0;
}

/* ---- SUBSCRIBE / ASSIGN ---- */

static int starts_len(struct blen *l, const struct sl_lp_start *s, uint32_t count)
{
	for (uint32_t i = 0; i < count && l->rc == 0; i++) {
		if (s[i].kind > SL_LP_START_COMMITTED_OR_LATEST)
			return SL_ERANGE;
		len_varint(l, s[i].partition);
		len_varint(l, s[i].kind);
		if (s[i].kind == SL_LP_START_OFFSET)
			len_varint(l, s[i].offset);
	}
	return l->rc;
}

static void put_starts(struct sl_writer *w, const struct sl_lp_start *s, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		put_varint(w, s[i].partition);
		put_varint(w, s[i].kind);
		if (s[i].kind == SL_LP_START_OFFSET)
			put_varint(w, s[i].offset);
	}
}

int sl_lp_decode_subscribe(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			   struct sl_lp_subscribe *out, const char **why)
{
	static const struct start_names names = {"subscribe.start.partition",
						 "subscribe.start.kind", "subscribe.start.offset"};
	struct sl_lp_limits tmp;
	lim = limits_or_default(lim, &tmp);
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_subscribe m;
	m.consumer = (struct sl_lp_bytes){NULL, 0};
	TRY(rd_stream(&r, &m.stream, why, "subscribe.stream"));
	TRY(rd_enum(&r, &m.isolation, SL_LP_ISO_APPLIED, why, "subscribe.isolation"));
	TRY(rd_count(&r, &m.count, 0, lim->max_assign, why, "subscribe.count"));
	TRY(rd_starts(&r, m.count, &m.starts, why, &names));
	TRY(rd_end(&r, why, "subscribe.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_write_subscribe(struct sl_writer *w, struct sl_lp_bytes stream, uint8_t isolation,
			  const struct sl_lp_start *starts, uint32_t count)
{
	if (stream.n == 0 || stream.n > SL_LP_MAX_STREAM_NAME || isolation > SL_LP_ISO_APPLIED)
		return SL_ERANGE;
	struct blen l = {0, 0};
	len_bytes(&l, stream.n);
	len_varint(&l, isolation);
	len_varint(&l, count);
	TRY(starts_len(&l, starts, count));
	TRY(begin(w, SL_LP_SUBSCRIBE, l.n, l.n));
	put_bytes(w, stream);
	put_varint(w, isolation);
	put_varint(w, count);
	put_starts(w, starts, count);
	return 0;
}

int sl_lp_decode_subscribe_named(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
				 struct sl_lp_subscribe *out, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_bytes consumer;
	TRY(rd_stream(&r, &consumer, why, "subscribe_named.consumer"));
	/* The rest is a SUBSCRIBE body, with the same checks and field names. */
	struct sl_lp_subscribe m;
	TRY(sl_lp_decode_subscribe(r.p, sl_reader_left(&r), lim, &m, why));
	m.consumer = consumer;
	*out = m;
	return 0;
}

int sl_lp_write_subscribe_named(struct sl_writer *w, struct sl_lp_bytes consumer,
				struct sl_lp_bytes stream, uint8_t isolation,
				const struct sl_lp_start *starts, uint32_t count)
{
	if (consumer.n == 0 || consumer.n > SL_LP_MAX_STREAM_NAME || stream.n == 0 ||
	    stream.n > SL_LP_MAX_STREAM_NAME || isolation > SL_LP_ISO_APPLIED)
		return SL_ERANGE;
	struct blen l = {0, 0};
	len_bytes(&l, consumer.n);
	len_bytes(&l, stream.n);
	len_varint(&l, isolation);
	len_varint(&l, count);
	TRY(starts_len(&l, starts, count));
	TRY(begin(w, SL_LP_SUBSCRIBE_NAMED, l.n, l.n));
	put_bytes(w, consumer);
	put_bytes(w, stream);
	put_varint(w, isolation);
	put_varint(w, count);
	put_starts(w, starts, count);
	return 0;
}

int sl_lp_decode_assign(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			struct sl_lp_assign *out, const char **why)
{
	static const struct start_names names = {"assign.add.partition", "assign.add.kind",
						 "assign.add.offset"};
	struct sl_lp_limits tmp;
	lim = limits_or_default(lim, &tmp);
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_assign m;
	TRY(rd_count(&r, &m.add_count, 0, lim->max_assign, why, "assign.add_count"));
	TRY(rd_starts(&r, m.add_count, &m.adds, why, &names));
	TRY(rd_count(&r, &m.remove_count, 0, lim->max_assign, why, "assign.remove_count"));
	m.removes.p = r.p;
	for (uint32_t i = 0; i < m.remove_count; i++) {
		uint32_t p;
		TRY(rd_u32(&r, &p, why, "assign.remove.partition"));
	}
	m.removes.n = (size_t)(r.p - m.removes.p);
	TRY(rd_end(&r, why, "assign.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_write_assign(struct sl_writer *w, const struct sl_lp_start *adds, uint32_t nadd,
		       const uint32_t *removes, uint32_t nremove)
{
	struct blen l = {0, 0};
	len_varint(&l, nadd);
	TRY(starts_len(&l, adds, nadd));
	len_varint(&l, nremove);
	for (uint32_t i = 0; i < nremove; i++)
		len_varint(&l, removes[i]);
	TRY(begin(w, SL_LP_ASSIGN, l.n, l.n));
	put_varint(w, nadd);
	put_starts(w, adds, nadd);
	put_varint(w, nremove);
	for (uint32_t i = 0; i < nremove; i++)
		put_varint(w, removes[i]);
	return 0;
}

int sl_lp_starts_next(struct sl_reader *r, struct sl_lp_start *out)
{
	static const struct start_names names = {"start.partition", "start.kind", "start.offset"};
	if (sl_reader_left(r) == 0)
		return SL_EEOF;
	struct sl_reader save = *r;
	struct sl_lp_start s;
	if (rd_start(r, &s, NULL, &names) != 0) {
		*r = save;
		return SL_ECORRUPT;
	}
	*out = s;
	return 0;
}

int sl_lp_partitions_next(struct sl_reader *r, uint32_t *out)
{
	if (sl_reader_left(r) == 0)
		return SL_EEOF;
	struct sl_reader save = *r;
	if (rd_u32(r, out, NULL, NULL) != 0) {
		*r = save;
		return SL_ECORRUPT;
	}
	return 0;
}

/* ---- STARTED / REMOVED ---- */

int sl_lp_decode_started(const uint8_t *body, size_t n, struct sl_lp_started *out, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_started m;
	TRY(rd_u32(&r, &m.partition, why, "started.partition"));
	TRY(rd_varint(&r, &m.offset, why, "started.offset"));
	TRY(rd_end(&r, why, "started.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_write_started(struct sl_writer *w, const struct sl_lp_started *m)
{
	struct blen l = {0, 0};
	len_varint(&l, m->partition);
	len_varint(&l, m->offset);
	if (l.rc != 0)
		return l.rc;
	TRY(begin(w, SL_LP_STARTED, l.n, l.n));
	put_varint(w, m->partition);
	put_varint(w, m->offset);
	return 0;
}

int sl_lp_decode_removed(const uint8_t *body, size_t n, uint32_t *partition, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	uint32_t p;
	TRY(rd_u32(&r, &p, why, "removed.partition"));
	TRY(rd_end(&r, why, "removed.trailing_bytes"));
	*partition = p;
	return 0;
}

int sl_lp_write_removed(struct sl_writer *w, uint32_t partition)
{
	uint64_t body = sl_varint_len(partition);
	TRY(begin(w, SL_LP_REMOVED, body, body));
	put_varint(w, partition);
	return 0;
}

/* ---- COMMIT / COMMIT_OK ---- */

int sl_lp_decode_commit(const uint8_t *body, size_t n, struct sl_lp_commit *out, const char **why)
{
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_commit m;
	TRY(rd_u32(&r, &m.partition, why, "commit.partition"));
	TRY(rd_varint(&r, &m.offset, why, "commit.offset"));
	TRY(rd_end(&r, why, "commit.trailing_bytes"));
	*out = m;
	return 0;
}

int sl_lp_write_commit(struct sl_writer *w, uint64_t type, const struct sl_lp_commit *m)
{
	if (type != SL_LP_COMMIT && type != SL_LP_COMMIT_OK)
		return SL_ERANGE;
	struct blen l = {0, 0};
	len_varint(&l, m->partition);
	len_varint(&l, m->offset);
	if (l.rc != 0)
		return l.rc;
	TRY(begin(w, type, l.n, l.n));
	put_varint(w, m->partition);
	put_varint(w, m->offset);
	return 0;
}

/* ---- RECORDS ---- */

int sl_lp_decode_records(const uint8_t *body, size_t n, const struct sl_lp_limits *lim,
			 struct sl_lp_records *out, const char **why)
{
	static const struct list_names names = {"records.record_length", "records.record",
						"records.records"};
	struct sl_lp_limits tmp;
	lim = limits_or_default(lim, &tmp);
	struct sl_reader r;
	rd_init(&r, body, n);
	struct sl_lp_records m;
	TRY(rd_u32(&r, &m.partition, why, "records.partition"));
	TRY(rd_varint(&r, &m.first_offset, why, "records.first_offset"));
	TRY(rd_count(&r, &m.count, 1, max_records(lim), why, "records.count"));
	if (m.count > OFFSET_END_MAX - m.first_offset) {
		WHY("records.count");
		return SL_ERANGE;
	}
	TRY(rd_records(&r, m.count, lim->max_record_bytes, &m.records, &m.payload_bytes, why,
		       &names));
	*out = m;
	return 0;
}

/* The head's fields, checked; *head is their encoded length. */
static int records_head_len(uint32_t partition, uint64_t first_offset, uint32_t count,
			    uint64_t *head)
{
	if (count == 0 || count > SL_LP_MAX_RECORDS || first_offset > SL_VARINT_MAX ||
	    count > OFFSET_END_MAX - first_offset)
		return SL_ERANGE;
	*head = sl_varint_len(partition) + sl_varint_len(first_offset) + sl_varint_len(count);
	return 0;
}

int sl_lp_write_records_head(struct sl_writer *w, uint32_t partition, uint64_t first_offset,
			     uint32_t count, uint64_t frames_len)
{
	uint64_t head;
	TRY(records_head_len(partition, first_offset, count, &head));
	if (frames_len < count || frames_len > SL_VARINT_MAX)
		return SL_ERANGE;
	TRY(begin(w, SL_LP_RECORDS, head + frames_len, head));
	put_varint(w, partition);
	put_varint(w, first_offset);
	put_varint(w, count);
	return 0;
}

int sl_lp_write_record_len(struct sl_writer *w, uint64_t len)
{
	return sl_writer_varint(w, len);
}

int sl_lp_write_records(struct sl_writer *w, uint32_t partition, uint64_t first_offset,
			const struct sl_lp_bytes *recs, uint32_t count)
{
	uint64_t head;
	TRY(records_head_len(partition, first_offset, count, &head));
	struct blen l = {0, 0};
	for (uint32_t i = 0; i < count && l.rc == 0; i++)
		len_bytes(&l, recs[i].n);
	if (l.rc != 0)
		return l.rc;
	/* Check room for the whole message first, so a refusal writes nothing. */
	uint64_t body = head + l.n;
	if (body > SL_VARINT_MAX)
		return SL_ERANGE;
	if ((uint64_t)(w->end - w->p) < sl_varint_len(SL_LP_RECORDS) + sl_varint_len(body) + body)
		return SL_ENOSPC;
	TRY(sl_lp_write_records_head(w, partition, first_offset, count, l.n));
	for (uint32_t i = 0; i < count; i++)
		put_bytes(w, recs[i]);
	return 0;
}
