/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/logsrv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/varint.h"

enum { K_UNKNOWN = 0, K_REQUEST = 1, K_SUB = 2 };

struct lsub;

/* One stream of the connection: the transport hands it back with every event of the stream
 * (its user pointer), and it holds the transport's handle until either side lets go. */
struct sl_logsrv_stream {
	void *h; /* the transport's handle; NULL once closed by the transport */
	struct sl_logsrv_stream *next, **pprev; /* every stream of the session */
	uint64_t unacked; /* written, not yet acknowledged (sl_logsrv_stream_acked) */
	uint8_t kind;
	bool closed;  /* reset, malformed or ended: input is ignored, answers dropped */
	bool fin_in;  /* the client finished its side */
	bool fin_out; /* this side finished */
	uint32_t inflight;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	struct lsub *sub;
};

/* What every request out at a shard starts with: the session it answers to (NULL once the
 * session is gone) and the session's list of them, for orphaning. */
struct lsout {
	struct lsout *next, **pprev;
	struct sl_logsrv *s;
};

struct lsprod {
	struct sl_dproduce p;
	struct lsout out;
	/* The stream to answer on: it stays while requests are out on it (inflight). */
	struct sl_logsrv_stream *stream;
	uint64_t request_id;
	struct sl_buf *body;
	struct sl_slice recs[];
};

struct lshwm;
struct lsgroup {
	struct sl_dmarks m;
	struct lshwm *parent;
};

struct lshwm {
	struct lsout out;
	struct sl_logsrv_stream *stream; /* as in struct lsprod */
	uint64_t request_id;
	uint64_t stream_id;
	uint32_t nparts, pending, ngroups;
	int code;
	uint32_t *parts;	   /* grouped by owner */
	struct sl_lp_marks *marks; /* parallel to parts */
	struct lsgroup *groups;
};

struct lspart;
struct lsfetch {
	struct sl_dfetch f;
	struct lsout out;
	struct lspart *lp; /* NULL once the partition no longer waits for it */
};

struct lsclaim;

struct lspart {
	uint32_t partition;
	bool assigned, started;
	uint8_t from;
	uint64_t next;
	/* Named subscriptions: the claim in flight (no fetch until it is answered), and the
	 * claim's id and epoch, which fetches and commits carry. */
	struct lsclaim *claim;
	uint8_t kind; /* the start kind asked for */
	uint64_t cons_id, cons_epoch;
	/* The claim's answer, kept for sub_poll: answers may come inline, from inside the
	 * submit, where ending the subscription is not safe. */
	bool claim_ready;
	int claim_code, claim_err;
	uint64_t claim_detail;
	uint8_t claim_from;
	uint64_t claim_offset;
	struct lsfetch *fetch; /* in flight, or answered when answered is set */
	bool answered;
	struct lspart *next_ready;
	struct lsub *sub;
};

struct lsub {
	struct sl_logsrv_stream *st;
	struct sl_stream_def def;
	bool named;
	char consumer[SL_STREAM_NAME_MAX + 1];
	/* A COMMIT was answered FENCED: sub_poll ends the subscription. */
	bool fence_pending;
	uint32_t fence_partition;
	uint64_t fence_epoch;
	uint8_t isolation;
	struct lspart *parts;
	struct lspart *ready; /* answered fetches to write, oldest last */
	bool active;	      /* on the session's active list */
	struct lsub *next_active;
};

struct sl_logsrv {
	struct sl_logsrv_config cfg;
	struct sl_logsrv_transport tops;
	void *t;
	struct sl_logsrv_router router;
	void *rarg;
	struct sl_logsrv_stream *streams; /* every stream, for free */
	uint32_t nstreams;
	struct lsout *outs;  /* requests out */
	struct lsub *active; /* subscriptions poll must look at */
	bool shutting_down;
	struct sl_lp_limits lim;
	struct sl_logsrv_stats st;
};

void sl_logsrv_config_default(struct sl_logsrv_config *c)
{
	c->max_inflight = 4096;
	c->max_message = (UINT64_C(16) << 20) + (64u << 10);
	c->sub_window = UINT64_C(1) << 20;
	c->fetch_bytes = 256u << 10;
	c->park_ns = UINT64_C(1000000000);
	c->max_streams = 1024;
	c->overload_ms = 2;
}

/* ---- bookkeeping ---- */

static void out_link(struct sl_logsrv *s, struct lsout *o)
{
	o->s = s;
	o->next = s->outs;
	if (s->outs)
		s->outs->pprev = &o->next;
	o->pprev = &s->outs;
	s->outs = o;
}

static void out_unlink(struct lsout *o)
{
	if (o->pprev == NULL)
		return;
	*o->pprev = o->next;
	if (o->next)
		o->next->pprev = o->pprev;
	o->pprev = NULL;
	o->next = NULL;
}

static void sub_end(struct sl_logsrv *s, struct lsub *sub);
static void sub_fenced(struct sl_logsrv *s, struct lsub *sub, uint32_t partition, uint64_t newer);

static void stream_free(struct sl_logsrv *s, struct sl_logsrv_stream *st)
{
	if (st->sub)
		sub_end(s, st->sub);
	/* The transport keeps the stream as long as it needs; its events stop naming this one. */
	if (st->h)
		s->tops.release(s->t, st->h);
	*st->pprev = st->next;
	if (st->next)
		st->next->pprev = st->pprev;
	s->nstreams--;
	free(st->rx);
	free(st);
}

/* A stream is forgotten once nothing more can happen on it. */
static void stream_maybe_free(struct sl_logsrv *s, struct sl_logsrv_stream *st)
{
	if (st->inflight == 0 && st->sub == NULL && (st->closed || (st->fin_in && st->fin_out)))
		stream_free(s, st);
}

/* ---- writing ---- */

/* Hands data to the transport, counting it until acknowledged; nothing once the transport
 * closed the stream. */
static void tx(struct sl_logsrv *s, struct sl_logsrv_stream *st, struct sl_slice data, bool fin)
{
	if (st->h == NULL) {
		sl_buf_unref(data.buf);
		return;
	}
	st->unacked += data.len;
	s->tops.write(s->t, st->h, data, fin);
}

static void send_buf(struct sl_logsrv *s, struct sl_logsrv_stream *st, struct sl_buf *b, bool fin)
{
	if (st->closed || st->fin_out) {
		sl_buf_unref(b);
		return;
	}
	st->fin_out |= fin;
	tx(s, st, sl_slice_of(b), fin);
}

static void send_fin(struct sl_logsrv *s, struct sl_logsrv_stream *st)
{
	if (st->closed || st->fin_out)
		return;
	st->fin_out = true;
	struct sl_slice none = {NULL, 0, 0};
	tx(s, st, none, true);
}

static void send_error(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t request_id,
		       int code, uint32_t partition, uint64_t detail, const char *reason)
{
	struct sl_buf *b = sl_buf_alloc(64 + 1024);
	if (b == NULL)
		return;
	struct sl_lp_error e = {.request_id = request_id,
				.code = (uint64_t)code,
				.partition = partition,
				.detail = detail,
				.reason = {(const uint8_t *)reason, strlen(reason)}};
	struct sl_writer w;
	sl_writer_init(&w, b->data, b->cap);
	if (sl_lp_write_error(&w, &e) != 0) {
		sl_buf_unref(b);
		return;
	}
	b->len = (uint32_t)sl_writer_len(&w);
	s->st.errors_out++;
	send_buf(s, st, b, false);
}

/* The reason text of an error answer. */
static void reason_of(char *out, size_t n, int code, int err, uint64_t detail,
		      const struct sl_stream_def *d, const char *name, uint32_t partition)
{
	switch (code) {
	case SL_LP_ERR_UNKNOWN_STREAM:
		snprintf(out, n, "no stream named %s", name ? name : "(deleted)");
		break;
	case SL_LP_ERR_PARTITION_RANGE:
		snprintf(out, n, "partition %u out of range (stream %s has %u)", partition,
			 d ? d->name : "?", d ? d->partitions : 0);
		break;
	case SL_LP_ERR_RECORD_TOO_LARGE:
		snprintf(out, n, "a record exceeds the stream's max_record_bytes (%u)",
			 d ? d->max_record_bytes : 0);
		break;
	case SL_LP_ERR_OVERLOADED:
		snprintf(out, n, "overloaded: retry after %" PRIu64 " ms", detail);
		break;
	case SL_LP_ERR_SHUTTING_DOWN:
		snprintf(out, n, "the server is shutting down");
		break;
	case SL_LP_ERR_STORAGE_FAILED:
		snprintf(out, n, "storage failed: %s", sl_strerror(err));
		break;
	case SL_LP_ERR_OFFSET_OUT_OF_RANGE:
		snprintf(out, n, "offset out of range, earliest is %" PRIu64, detail);
		break;
	case SL_LP_ERR_INVALID:
		snprintf(out, n, "invalid request");
		break;
	case SL_LP_ERR_OUT_OF_ORDER_SEQUENCE:
		snprintf(out, n,
			 "out of order sequence: partition %u expects sequence %" PRIu64
			 " from this producer",
			 partition, detail);
		break;
	default:
		snprintf(out, n, "internal error: %s", sl_strerror(err));
	}
}

/* The stream a request names, or NULL (an invalid name is no stream). name gets the name as
 * text (cut to SL_STREAM_NAME_MAX) for error reasons. */
static const struct sl_stream_def *stream_lookup(struct sl_logsrv *s, struct sl_lp_bytes stream,
						 char name[SL_STREAM_NAME_MAX + 1])
{
	size_t nlen = stream.n < SL_STREAM_NAME_MAX ? stream.n : SL_STREAM_NAME_MAX;
	if (nlen > 0)
		memcpy(name, stream.p, nlen);
	name[nlen] = '\0';
	if (!sl_stream_name_valid((const char *)stream.p, stream.n))
		return NULL;
	return sl_stream_set_find(s->router.streams(s->rarg), name, nlen);
}

/* Answers a malformed message: ERROR, then the stream is reset and forgotten. */
static void malformed(struct sl_logsrv *s, struct sl_logsrv_stream *st, const char *why)
{
	char reason[320];
	snprintf(reason, sizeof(reason), "malformed message: %s", why ? why : "?");
	s->st.decode_errors++;
	send_error(s, st, 0, SL_LP_ERR_MALFORMED, SL_LP_NO_PARTITION, 0, reason);
	if (st->sub)
		sub_end(s, st->sub);
	if (st->h)
		s->tops.reset(s->t, st->h, SL_LP_RESET_MALFORMED);
	st->closed = true;
}

/* ---- PRODUCE ---- */

static void prod_free(struct lsprod *x)
{
	if (!x->p.records_taken)
		for (uint32_t i = 0; i < x->p.count; i++)
			sl_buf_unref(x->recs[i].buf);
	sl_buf_unref(x->body);
	free(x);
}

static void prod_done(struct sl_dreq *r)
{
	struct lsprod *x = (struct lsprod *)r;
	struct sl_logsrv *s = x->out.s;
	out_unlink(&x->out);
	if (s == NULL) {
		prod_free(x);
		return;
	}
	s->st.inflight--;
	struct sl_logsrv_stream *st = x->stream;
	st->inflight--;
	if (st != NULL && !st->closed) {
		if (r->code == 0) {
			s->st.produce_ok++;
			struct sl_buf *b = sl_buf_alloc(64);
			struct sl_lp_produce_ok ok = {x->request_id, r->partition,
						      x->p.first_offset, x->p.count};
			struct sl_writer w;
			if (b != NULL) {
				sl_writer_init(&w, b->data, b->cap);
				if ((x->p.duplicate ? sl_lp_write_produce_dup(&w, &ok)
						    : sl_lp_write_produce_ok(&w, &ok)) == 0) {
					b->len = (uint32_t)sl_writer_len(&w);
					send_buf(s, st, b, false);
				} else {
					sl_buf_unref(b);
				}
			}
		} else {
			s->st.produce_errors++;
			const struct sl_stream_def *d =
				sl_stream_set_find_id(s->router.streams(s->rarg), r->stream_id);
			char reason[320];
			reason_of(reason, sizeof(reason), r->code, r->err, r->detail, d,
				  d ? d->name : NULL, r->partition);
			send_error(s, st, x->request_id, r->code, r->partition, r->detail, reason);
		}
		if (st->fin_in && st->inflight == 0)
			send_fin(s, st);
	}
	if (st != NULL)
		stream_maybe_free(s, st);
	prod_free(x);
}

static void on_produce(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t type,
		       const uint8_t *body, size_t n)
{
	struct sl_lp_produce m;
	const char *why = NULL;
	int rc = type == SL_LP_PRODUCE_IDEM ? sl_lp_decode_produce_idem(body, n, &s->lim, &m, &why)
					    : sl_lp_decode_produce(body, n, &s->lim, &m, &why);
	if (rc != 0) {
		malformed(s, st, why);
		return;
	}
	s->st.produce++;
	char name[SL_STREAM_NAME_MAX + 1];
	const struct sl_stream_def *d = stream_lookup(s, m.stream, name);
	char reason[320];
	int code = 0;
	uint64_t detail = 0;
	uint32_t partition = m.keyed ? SL_LP_NO_PARTITION : m.partition;
	if (d == NULL) {
		code = SL_LP_ERR_UNKNOWN_STREAM;
	} else {
		if (m.keyed)
			partition = sl_lp_key_partition(m.key.p, m.key.n, d->partitions);
		if (partition >= d->partitions)
			code = SL_LP_ERR_PARTITION_RANGE;
	}
	if (code == 0 && s->shutting_down)
		code = SL_LP_ERR_SHUTTING_DOWN;
	if (code == 0 && s->st.inflight >= s->cfg.max_inflight) {
		code = SL_LP_ERR_OVERLOADED;
		detail = s->cfg.overload_ms;
		s->st.overloaded++;
	}
	struct lsprod *x = NULL;
	if (code == 0) {
		x = calloc(1, sizeof(*x) + m.count * sizeof(x->recs[0]));
		/* One copy of the records into a buffer the store keeps; each record is a
		 * slice of it with its own reference. */
		if (x != NULL && m.records.n > 0)
			x->body = sl_buf_from(m.records.p, m.records.n);
		if (x == NULL || (m.records.n > 0 && x->body == NULL)) {
			free(x);
			x = NULL;
			code = SL_LP_ERR_INTERNAL;
		}
	}
	if (code == 0) {
		struct sl_lp_record_iter it;
		struct sl_lp_bytes rec;
		sl_lp_records_init(&it, m.records, m.count);
		uint32_t i = 0;
		while (sl_lp_records_next(&it, &rec) == 0) {
			if (rec.n > d->max_record_bytes)
				code = SL_LP_ERR_RECORD_TOO_LARGE;
			x->recs[i].buf = sl_buf_ref(x->body);
			x->recs[i].off = (uint32_t)(rec.p - m.records.p);
			x->recs[i].len = (uint32_t)rec.n;
			i++;
		}
		x->p.count = i;
		if (code != 0) {
			prod_free(x);
			x = NULL;
		}
	}
	if (code != 0) {
		s->st.produce_errors++;
		reason_of(reason, sizeof(reason), code, SL_EINVAL, detail, d, name, partition);
		send_error(s, st, m.request_id, code, partition, detail, reason);
		return;
	}
	s->st.produce_records += m.count;
	s->st.produce_bytes += m.payload_bytes;
	x->stream = st;
	x->request_id = m.request_id;
	x->p.h.kind = SL_DREQ_PRODUCE;
	x->p.h.stream_id = d->id;
	x->p.h.partition = partition;
	x->p.h.done = prod_done;
	x->p.durability = m.durability;
	x->p.idempotent = m.idempotent;
	x->p.producer_id = m.producer_id;
	x->p.sequence = m.sequence;
	x->p.recs = x->recs;
	out_link(s, &x->out);
	s->st.inflight++;
	st->inflight++;
	s->router.submit(s->rarg, &x->p.h);
}

/* ---- HWM ---- */

static void hwm_free(struct lshwm *h)
{
	free(h->parts);
	free(h->marks);
	free(h->groups);
	free(h);
}

static void hwm_group_done(struct sl_dreq *r)
{
	struct lsgroup *g = (struct lsgroup *)r;
	struct lshwm *h = g->parent;
	if (r->code != 0 && h->code == 0)
		h->code = r->code;
	if (--h->pending > 0)
		return;
	struct sl_logsrv *s = h->out.s;
	out_unlink(&h->out);
	struct sl_logsrv_stream *st = s ? h->stream : NULL;
	if (st != NULL) {
		st->inflight--;
		if (!st->closed && h->code != 0) {
			const struct sl_stream_def *d =
				sl_stream_set_find_id(s->router.streams(s->rarg), h->stream_id);
			char reason[320];
			reason_of(reason, sizeof(reason), h->code, SL_ENOTFOUND, 0, d,
				  d ? d->name : NULL, 0);
			send_error(s, st, h->request_id, h->code, SL_LP_NO_PARTITION, 0, reason);
		} else if (!st->closed) {
			/* Back in partition order. */
			struct sl_lp_marks *ordered =
				calloc(h->nparts ? h->nparts : 1, sizeof(*ordered));
			size_t need = 32 + (size_t)h->nparts * 3 * 8;
			struct sl_buf *b = ordered ? sl_buf_alloc(need) : NULL;
			if (b != NULL) {
				for (uint32_t i = 0; i < h->nparts; i++)
					ordered[h->parts[i]] = h->marks[i];
				struct sl_writer w;
				sl_writer_init(&w, b->data, b->cap);
				if (sl_lp_write_hwm_ok(&w, h->request_id, ordered, h->nparts) ==
				    0) {
					b->len = (uint32_t)sl_writer_len(&w);
					send_buf(s, st, b, false);
				} else {
					sl_buf_unref(b);
				}
			}
			free(ordered);
		}
		if (st->fin_in && st->inflight == 0)
			send_fin(s, st);
		stream_maybe_free(s, st);
	}
	hwm_free(h);
}

static void on_hwm(struct sl_logsrv *s, struct sl_logsrv_stream *st, const uint8_t *body, size_t n)
{
	struct sl_lp_hwm m;
	const char *why = NULL;
	if (sl_lp_decode_hwm(body, n, &m, &why) != 0) {
		malformed(s, st, why);
		return;
	}
	s->st.hwm++;
	char name[SL_STREAM_NAME_MAX + 1];
	const struct sl_stream_def *d = stream_lookup(s, m.stream, name);
	char reason[320];
	if (d == NULL || s->shutting_down) {
		int code = d == NULL ? SL_LP_ERR_UNKNOWN_STREAM : SL_LP_ERR_SHUTTING_DOWN;
		reason_of(reason, sizeof(reason), code, 0, 0, d, name, 0);
		send_error(s, st, m.request_id, code, SL_LP_NO_PARTITION, 0, reason);
		return;
	}
	struct lshwm *h = calloc(1, sizeof(*h));
	uint16_t *own = malloc(d->partitions * sizeof(*own));
	if (h != NULL) {
		h->parts = malloc(d->partitions * sizeof(*h->parts));
		h->marks = calloc(d->partitions, sizeof(*h->marks));
		h->groups = calloc(d->partitions, sizeof(*h->groups));
	}
	if (h == NULL || own == NULL || h->parts == NULL || h->marks == NULL || h->groups == NULL) {
		if (h)
			hwm_free(h);
		free(own);
		send_error(s, st, m.request_id, SL_LP_ERR_INTERNAL, SL_LP_NO_PARTITION, 0,
			   "internal error: out of memory");
		return;
	}
	h->stream = st;
	h->request_id = m.request_id;
	h->stream_id = d->id;
	h->nparts = d->partitions;
	for (uint32_t p = 0; p < d->partitions; p++)
		own[p] = s->router.owner(s->rarg, d, p);
	/* Partitions grouped by owner: one request per owner. */
	uint32_t k = 0;
	for (uint32_t p = 0; p < d->partitions; p++) {
		if (own[p] == UINT16_MAX)
			continue;
		uint16_t o = own[p];
		struct lsgroup *g = &h->groups[h->ngroups++];
		g->parent = h;
		g->m.h.kind = SL_DREQ_MARKS;
		g->m.h.stream_id = d->id;
		g->m.h.partition = p;
		g->m.h.done = hwm_group_done;
		g->m.parts = &h->parts[k];
		g->m.marks = &h->marks[k];
		for (uint32_t q = p; q < d->partitions; q++)
			if (own[q] == o) {
				h->parts[k++] = q;
				g->m.n++;
				own[q] = UINT16_MAX;
			}
	}
	free(own);
	h->pending = h->ngroups;
	out_link(s, &h->out);
	st->inflight++;
	uint32_t ngroups = h->ngroups;
	struct lsgroup *groups = h->groups;
	/* The last group's answer may free h (inline answers): submit from saved values. */
	for (uint32_t i = 0; i < ngroups; i++)
		s->router.submit(s->rarg, &groups[i].m.h);
}

/* ---- subscriptions ---- */

static void sub_activate(struct sl_logsrv *s, struct lsub *sub)
{
	if (sub->active)
		return;
	sub->active = true;
	sub->next_active = s->active;
	s->active = sub;
}

static void fetch_free(struct lsfetch *x)
{
	sl_dfetch_release(&x->f);
	free(x);
}

static void fetch_done(struct sl_dreq *r)
{
	struct lsfetch *x = (struct lsfetch *)r;
	struct sl_logsrv *s = x->out.s;
	out_unlink(&x->out);
	struct lspart *lp = x->lp;
	if (s == NULL || lp == NULL) {
		fetch_free(x);
		return;
	}
	lp->answered = true;
	lp->next_ready = lp->sub->ready;
	lp->sub->ready = lp;
	sub_activate(s, lp->sub);
}

static void fetch_issue(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp)
{
	struct lsfetch *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return; /* retried on a later poll */
	x->lp = lp;
	x->f.h.kind = SL_DREQ_FETCH;
	x->f.h.stream_id = sub->def.id;
	x->f.h.partition = lp->partition;
	x->f.h.done = fetch_done;
	x->f.isolation = sub->isolation;
	x->f.from = lp->from;
	x->f.offset = lp->next;
	x->f.max_bytes = s->cfg.fetch_bytes;
	x->f.park_ns = s->cfg.park_ns;
	x->f.cons_id = lp->cons_id;
	x->f.cons_epoch = lp->cons_epoch;
	lp->fetch = x;
	lp->answered = false;
	s->st.fetches++;
	out_link(s, &x->out);
	s->router.submit(s->rarg, &x->f.h);
}

/* Drops a partition's fetch: freed now if answered, else orphaned until it comes back. */
static void lp_drop_fetch(struct lspart *lp)
{
	if (lp->fetch == NULL)
		return;
	if (lp->answered) {
		fetch_free(lp->fetch);
	} else {
		lp->fetch->lp = NULL;
	}
	lp->fetch = NULL;
	lp->answered = false;
}

static void sub_unready(struct lsub *sub, struct lspart *lp)
{
	for (struct lspart **pp = &sub->ready; *pp; pp = &(*pp)->next_ready)
		if (*pp == lp) {
			*pp = lp->next_ready;
			break;
		}
}

static void lp_drop_claim(struct lspart *lp);

static void sub_end(struct sl_logsrv *s, struct lsub *sub)
{
	for (uint32_t p = 0; p < sub->def.partitions; p++) {
		lp_drop_fetch(&sub->parts[p]);
		lp_drop_claim(&sub->parts[p]);
	}
	if (sub->active)
		for (struct lsub **pp = &s->active; *pp; pp = &(*pp)->next_active)
			if (*pp == sub) {
				*pp = sub->next_active;
				break;
			}
	sub->st->sub = NULL;
	s->st.subscriptions--;
	free(sub->parts);
	free(sub);
}

/* Ends a subscription with an error for the whole stream, then FIN. */
static void sub_fail(struct sl_logsrv *s, struct lsub *sub, int code, int err)
{
	struct sl_logsrv_stream *st = sub->st;
	char reason[320];
	reason_of(reason, sizeof(reason), code, err, 0, &sub->def, sub->def.name, 0);
	send_error(s, st, 0, code, SL_LP_NO_PARTITION, 0, reason);
	send_fin(s, st);
	sub_end(s, sub);
	st->closed = true;
}

static void claim_issue(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp);

/* Adds a partition (checked by assign_check). */
static void assign_add(struct sl_logsrv *s, struct lsub *sub, const struct sl_lp_start *a)
{
	struct lspart *lp = &sub->parts[a->partition];
	lp->assigned = true;
	lp->started = false;
	lp->kind = a->kind;
	lp->from = a->kind == SL_LP_START_EARLIEST ? SL_DFETCH_EARLIEST
		   : a->kind == SL_LP_START_LATEST ? SL_DFETCH_LATEST
						   : SL_DFETCH_START_AT;
	lp->next = a->offset;
	lp->cons_id = lp->cons_epoch = 0;
	if (sub->named)
		claim_issue(s, sub, lp); /* fetches wait for the claim */
	else
		sub_activate(s, sub);
}

static void write_removed(struct sl_logsrv *s, struct lsub *sub, uint32_t p);

/* Removes a partition (checked by assign_check): REMOVED says no record of it follows. */
static void assign_remove(struct sl_logsrv *s, struct lsub *sub, uint32_t p)
{
	struct lspart *lp = &sub->parts[p];
	if (lp->answered)
		sub_unready(sub, lp);
	lp_drop_fetch(lp);
	lp_drop_claim(lp);
	lp->assigned = false;
	write_removed(s, sub, p);
}

static void write_removed(struct sl_logsrv *s, struct lsub *sub, uint32_t p)
{
	struct sl_buf *b = sl_buf_alloc(24);
	struct sl_writer w;
	if (b == NULL)
		return;
	sl_writer_init(&w, b->data, b->cap);
	if (sl_lp_write_removed(&w, p) == 0) {
		b->len = (uint32_t)sl_writer_len(&w);
		send_buf(s, sub->st, b, false);
	} else {
		sl_buf_unref(b);
	}
}

/*
 * A SUBSCRIBE or ASSIGN applies whole or not at all (docs/log-protocol.md): every entry is
 * checked first against the stream d and, for an ASSIGN, the running subscription sub. Returns
 * 0, or the error code with *bad the partition concerned and *what saying why.
 */
static int assign_check(const struct lsub *sub, const struct sl_stream_def *d, bool named,
			struct sl_lp_bytes adds, uint32_t nadd, struct sl_lp_bytes removes,
			uint32_t nremove, uint32_t *bad, const char **what)
{
	uint8_t *seen = calloc((d->partitions + 7) / 8 + 1, 1);
	if (seen == NULL) {
		*what = "out of memory";
		return SL_LP_ERR_INTERNAL;
	}
	int code = 0;
	/* An empty list may come without bytes at all (p NULL): only lists with entries are
	 * read. */
	struct sl_reader r = {NULL, NULL};
	if (nadd)
		sl_reader_init(&r, adds.p, adds.n);
	struct sl_lp_start a;
	for (uint32_t i = 0; i < nadd && code == 0 && sl_lp_starts_next(&r, &a) == 0; i++) {
		*bad = a.partition;
		if (a.partition >= d->partitions) {
			code = SL_LP_ERR_PARTITION_RANGE;
		} else if (seen[a.partition / 8] & (1u << (a.partition % 8))) {
			code = SL_LP_ERR_INVALID;
			*what = "is listed twice";
		} else if (sub != NULL && sub->parts[a.partition].assigned) {
			code = SL_LP_ERR_INVALID;
			*what = "is already assigned";
		} else if (!named && a.kind >= SL_LP_START_COMMITTED_OR_EARLIEST) {
			code = SL_LP_ERR_INVALID;
			*what = "asks for a committed position, which needs a named subscription "
				"(SUBSCRIBE_NAMED)";
		}
		if (a.partition < d->partitions)
			seen[a.partition / 8] |= (uint8_t)(1u << (a.partition % 8));
	}
	if (nremove)
		sl_reader_init(&r, removes.p, removes.n);
	uint32_t p;
	for (uint32_t i = 0; i < nremove && code == 0 && sl_lp_partitions_next(&r, &p) == 0; i++) {
		*bad = p;
		if (p >= d->partitions) {
			code = SL_LP_ERR_PARTITION_RANGE;
		} else if (seen[p / 8] & (1u << (p % 8))) {
			code = SL_LP_ERR_INVALID;
			*what = "is listed twice";
		} else if (sub == NULL || !sub->parts[p].assigned) {
			code = SL_LP_ERR_INVALID;
			*what = "is not assigned";
		}
		if (p < d->partitions)
			seen[p / 8] |= (uint8_t)(1u << (p % 8));
	}
	free(seen);
	return code;
}

/* The ERROR for a refused SUBSCRIBE or ASSIGN. */
static void assign_refused(struct sl_logsrv *s, struct sl_logsrv_stream *st,
			   const struct sl_stream_def *d, int code, uint32_t bad, const char *what)
{
	char reason[320];
	if (code == SL_LP_ERR_INVALID)
		snprintf(reason, sizeof(reason), "partition %u %s; nothing was changed", bad, what);
	else
		reason_of(reason, sizeof(reason), code, SL_ENOMEM, 0, d, NULL, bad);
	send_error(s, st, 0, code, code == SL_LP_ERR_INTERNAL ? SL_LP_NO_PARTITION : bad, 0,
		   reason);
}

static void on_subscribe(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t type,
			 const uint8_t *body, size_t n)
{
	struct sl_lp_subscribe m;
	const char *why = NULL;
	int rc = type == SL_LP_SUBSCRIBE_NAMED
			 ? sl_lp_decode_subscribe_named(body, n, &s->lim, &m, &why)
			 : sl_lp_decode_subscribe(body, n, &s->lim, &m, &why);
	if (rc != 0) {
		malformed(s, st, why);
		return;
	}
	s->st.subscribes++;
	if (m.consumer.n > 0 && !sl_dcons_name_valid((const char *)m.consumer.p, m.consumer.n)) {
		char reason[320];
		snprintf(reason, sizeof(reason),
			 "invalid consumer name '%.*s': 1 to 249 of [A-Za-z0-9._-], not . or .., "
			 "not starting with .sl-",
			 (int)(m.consumer.n < 64 ? m.consumer.n : 64), (const char *)m.consumer.p);
		send_error(s, st, 0, SL_LP_ERR_INVALID, SL_LP_NO_PARTITION, 0, reason);
		send_fin(s, st);
		st->closed = true;
		return;
	}
	char name[SL_STREAM_NAME_MAX + 1];
	const struct sl_stream_def *d = stream_lookup(s, m.stream, name);
	char reason[320];
	uint32_t bad = 0;
	const char *what = "";
	struct sl_lp_bytes none = {NULL, 0};
	int code = d == NULL	      ? SL_LP_ERR_UNKNOWN_STREAM
		   : s->shutting_down ? SL_LP_ERR_SHUTTING_DOWN
				      : assign_check(NULL, d, m.consumer.n > 0, m.starts, m.count,
						     none, 0, &bad, &what);
	struct lsub *sub = NULL;
	if (code == 0) {
		sub = calloc(1, sizeof(*sub));
		if (sub != NULL)
			sub->parts = calloc(d->partitions, sizeof(*sub->parts));
		if (sub == NULL || sub->parts == NULL) {
			free(sub);
			sub = NULL;
			code = SL_LP_ERR_INTERNAL;
		}
	}
	if (code != 0) {
		/* A refused SUBSCRIBE ends the stream. */
		if (d != NULL && code != SL_LP_ERR_SHUTTING_DOWN) {
			assign_refused(s, st, d, code, bad, what);
		} else {
			reason_of(reason, sizeof(reason), code, SL_ENOMEM, 0, d, name, 0);
			send_error(s, st, 0, code, SL_LP_NO_PARTITION, 0, reason);
		}
		send_fin(s, st);
		st->closed = true;
		return;
	}
	sub->st = st;
	sub->def = *d;
	sub->isolation = m.isolation;
	if (m.consumer.n > 0) {
		sub->named = true;
		memcpy(sub->consumer, m.consumer.p, m.consumer.n);
		sub->consumer[m.consumer.n] = '\0';
	}
	for (uint32_t p = 0; p < d->partitions; p++) {
		sub->parts[p].partition = p;
		sub->parts[p].sub = sub;
	}
	st->sub = sub;
	s->st.subscriptions++;
	struct sl_reader r;
	struct sl_lp_start a;
	sl_reader_init(&r, m.starts.p, m.starts.n);
	while (sl_lp_starts_next(&r, &a) == 0)
		assign_add(s, sub, &a);
}

static void on_assign(struct sl_logsrv *s, struct sl_logsrv_stream *st, const uint8_t *body,
		      size_t n)
{
	struct sl_lp_assign m;
	const char *why = NULL;
	if (sl_lp_decode_assign(body, n, &s->lim, &m, &why) != 0) {
		malformed(s, st, why);
		return;
	}
	s->st.assigns++;
	struct lsub *sub = st->sub;
	uint32_t bad = 0;
	const char *what = "";
	int code = assign_check(sub, &sub->def, sub->named, m.adds, m.add_count, m.removes,
				m.remove_count, &bad, &what);
	if (code != 0) {
		assign_refused(s, st, &sub->def, code, bad, what);
		return;
	}
	struct sl_reader r;
	sl_reader_init(&r, m.removes.p, m.removes.n);
	uint32_t p;
	while (sl_lp_partitions_next(&r, &p) == 0)
		assign_remove(s, sub, p);
	struct sl_lp_start a;
	sl_reader_init(&r, m.adds.p, m.adds.n);
	while (sl_lp_starts_next(&r, &a) == 0)
		assign_add(s, sub, &a);
}

/* Writes RECORDS for an answered fetch without copying payloads: one small buffer holds the
 * message head and every record's length prefix, each payload goes by reference. */
static void write_records(struct sl_logsrv *s, struct lsub *sub, struct sl_dfetch *f)
{
	uint64_t frames = 0, prefixes = 0;
	for (uint32_t i = 0; i < f->count; i++) {
		frames += sl_varint_len(f->recs[i].len) + f->recs[i].len;
		prefixes += sl_varint_len(f->recs[i].len);
	}
	struct sl_buf *b = sl_buf_alloc(48 + prefixes);
	if (b == NULL)
		return;
	struct sl_writer w;
	sl_writer_init(&w, b->data, b->cap);
	if (sl_lp_write_records_head(&w, f->h.partition, f->first, f->count, frames) != 0) {
		sl_buf_unref(b);
		return;
	}
	size_t head = sl_writer_len(&w);
	/* Prefix i sits right after the previous one: slices of b in order. */
	size_t at = head;
	for (uint32_t i = 0; i < f->count; i++)
		sl_lp_write_record_len(&w, f->recs[i].len);
	b->len = (uint32_t)sl_writer_len(&w);
	struct sl_logsrv_stream *st = sub->st;
	struct sl_slice first = {sl_buf_ref(b), 0, (uint32_t)head};
	tx(s, st, first, false);
	for (uint32_t i = 0; i < f->count; i++) {
		uint32_t pl = (uint32_t)sl_varint_len(f->recs[i].len);
		struct sl_slice pre = {sl_buf_ref(b), (uint32_t)at, pl};
		at += pl;
		tx(s, st, pre, false);
		if (f->recs[i].len > 0)
			tx(s, st, f->recs[i], false);
		else
			sl_buf_unref(f->recs[i].buf);
		f->recs[i].buf = NULL; /* the reference went to the transport */
	}
	sl_buf_unref(b);
	s->st.records_out += f->count;
	s->st.bytes_out += f->bytes;
}

static void write_started(struct sl_logsrv *s, struct lsub *sub, uint32_t p, uint64_t off)
{
	struct sl_buf *b = sl_buf_alloc(24);
	struct sl_writer w;
	if (b == NULL)
		return;
	sl_writer_init(&w, b->data, b->cap);
	struct sl_lp_started m = {p, off};
	if (sl_lp_write_started(&w, &m) == 0) {
		b->len = (uint32_t)sl_writer_len(&w);
		send_buf(s, sub->st, b, false);
	} else {
		sl_buf_unref(b);
	}
}

/* Handles one answered fetch. Returns false when the subscription ended. */
static bool answer_fetch(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp)
{
	struct lsfetch *x = lp->fetch;
	struct sl_dfetch *f = &x->f;
	lp->fetch = NULL;
	lp->answered = false;
	int code = f->h.code;
	if (code == SL_LP_ERR_FENCED) {
		uint64_t newer = f->h.detail;
		fetch_free(x);
		sub_fenced(s, sub, lp->partition, newer);
		return false;
	}
	if (code == SL_LP_ERR_UNKNOWN_STREAM || code == SL_LP_ERR_SHUTTING_DOWN) {
		int err = f->h.err;
		fetch_free(x);
		sub_fail(s, sub, code, err);
		return false;
	}
	if (code != 0) {
		/* The partition alone ends: the error says why, the rest go on. */
		char reason[320];
		reason_of(reason, sizeof(reason), code, f->h.err, f->h.detail, &sub->def, NULL,
			  lp->partition);
		send_error(s, sub->st, 0, code, lp->partition, f->h.detail, reason);
		lp->assigned = false;
		write_removed(s, sub, lp->partition);
		fetch_free(x);
		return true;
	}
	if (!lp->started) {
		lp->started = true;
		write_started(s, sub, lp->partition, f->first);
	}
	lp->from = SL_DFETCH_OFFSET;
	lp->next = f->first + f->count;
	if (f->count > 0)
		write_records(s, sub, f);
	fetch_free(x);
	return true;
}

/* Writes the answers that came in and asks for more while the window allows. Returns whether
 * the subscription still has partitions waiting for their turn. */
static bool claim_apply(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp);

static bool sub_poll(struct sl_logsrv *s, struct lsub *sub)
{
	if (sub->fence_pending) {
		sub_fenced(s, sub, sub->fence_partition, sub->fence_epoch);
		return false;
	}
	while (sub->ready != NULL) {
		struct lspart *lp = sub->ready;
		sub->ready = lp->next_ready;
		if (!answer_fetch(s, sub, lp))
			return false;
	}
	bool waiting = false;
	for (uint32_t p = 0; p < sub->def.partitions; p++) {
		struct lspart *lp = &sub->parts[p];
		if (lp->claim_ready && !claim_apply(s, sub, lp))
			return false;
		if (!lp->assigned || lp->fetch != NULL || lp->claim != NULL)
			continue;
		if (sub->st->unacked >= s->cfg.sub_window) {
			waiting = true;
			break;
		}
		fetch_issue(s, sub, lp);
		if (lp->fetch == NULL)
			waiting = true;
		if (sub->st->sub == NULL)
			return false; /* an inline answer ended it */
	}
	return waiting || sub->ready != NULL;
}

void sl_logsrv_poll(struct sl_logsrv *s, uint64_t now_ns)
{
	(void)now_ns;
	struct lsub *list = s->active;
	s->active = NULL;
	while (list != NULL) {
		struct lsub *sub = list;
		list = sub->next_active;
		sub->active = false;
		struct sl_logsrv_stream *st = sub->st;
		if (sub_poll(s, sub))
			sub_activate(s, sub);
		if (st->sub == NULL)
			stream_maybe_free(s, st);
	}
}

bool sl_logsrv_busy(const struct sl_logsrv *s)
{
	return s->active != NULL;
}

/* ---- named consumers ---- */

/* A claim of a partition for the subscription's consumer name, out at the owner. */
struct lsclaim {
	struct sl_dconsumer c;
	struct lsout out;
	struct lspart *lp; /* NULL once the partition no longer waits for it */
};

/* A COMMIT out at the owner; the stream stays while it is (inflight). */
struct lscommit {
	struct sl_dconsumer c;
	struct lsout out;
	struct sl_logsrv_stream *stream;
};

static void lp_drop_claim(struct lspart *lp)
{
	lp->claim_ready = false;
	if (lp->claim == NULL)
		return;
	lp->claim->lp = NULL;
	lp->claim = NULL;
}

/* Ends a subscription that a newer one of the same name fenced. */
static void sub_fenced(struct sl_logsrv *s, struct lsub *sub, uint32_t partition, uint64_t newer)
{
	struct sl_logsrv_stream *st = sub->st;
	char reason[400];
	snprintf(reason, sizeof(reason),
		 "fenced by a newer consumer named %s (epoch %" PRIu64 ") on partition %u",
		 sub->consumer, newer, partition);
	s->st.fenced++;
	send_error(s, st, 0, SL_LP_ERR_FENCED, partition, newer, reason);
	send_fin(s, st);
	sub_end(s, sub);
	st->closed = true;
}

static void claim_done(struct sl_dreq *r)
{
	struct lsclaim *x = (struct lsclaim *)r;
	struct sl_logsrv *s = x->out.s;
	out_unlink(&x->out);
	struct lspart *lp = x->lp;
	if (s == NULL || lp == NULL) {
		free(x);
		return;
	}
	lp->claim = NULL;
	lp->claim_ready = true;
	lp->claim_code = r->code;
	lp->claim_err = r->err;
	lp->claim_detail = r->detail;
	lp->cons_id = x->c.q.id;
	lp->cons_epoch = r->code == 0 ? x->c.q.epoch : 0;
	lp->claim_from = x->c.q.from;
	lp->claim_offset = x->c.q.offset;
	free(x);
	sub_activate(s, lp->sub);
}

/* Applies an answered claim (from sub_poll). Returns false when the subscription ended. */
static bool claim_apply(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp)
{
	lp->claim_ready = false;
	int code = lp->claim_code;
	if (code == SL_LP_ERR_UNKNOWN_STREAM || code == SL_LP_ERR_SHUTTING_DOWN) {
		sub_fail(s, sub, code, lp->claim_err);
		return false;
	}
	if (code != 0) {
		char reason[320];
		reason_of(reason, sizeof(reason), code, lp->claim_err, lp->claim_detail, &sub->def,
			  NULL, lp->partition);
		send_error(s, sub->st, 0, code, lp->partition, lp->claim_detail, reason);
		lp->assigned = false;
		write_removed(s, sub, lp->partition);
		return true;
	}
	if (lp->kind >= SL_LP_START_COMMITTED_OR_EARLIEST) {
		lp->from = lp->claim_from == SL_DCONS_FROM_OFFSET   ? SL_DFETCH_START_AT
			   : lp->claim_from == SL_DCONS_FROM_LATEST ? SL_DFETCH_LATEST
								    : SL_DFETCH_EARLIEST;
		lp->next = lp->claim_offset;
	}
	return true;
}

static void claim_issue(struct sl_logsrv *s, struct lsub *sub, struct lspart *lp)
{
	struct lsclaim *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		send_error(s, sub->st, 0, SL_LP_ERR_INTERNAL, lp->partition, 0,
			   "internal error: out of memory");
		lp->assigned = false;
		write_removed(s, sub, lp->partition);
		return;
	}
	x->lp = lp;
	lp->claim = x;
	x->c.h.kind = SL_DREQ_CONSUMER;
	x->c.h.stream_id = sub->def.id;
	x->c.h.partition = lp->partition;
	x->c.h.done = claim_done;
	x->c.q.op = SL_DCONS_CLAIM;
	x->c.q.fallback = lp->kind == SL_LP_START_COMMITTED_OR_LATEST
				  ? SL_LP_START_COMMITTED_OR_LATEST
				  : SL_LP_START_COMMITTED_OR_EARLIEST;
	memcpy(x->c.q.name, sub->consumer, sizeof(x->c.q.name));
	s->st.claims++;
	out_link(s, &x->out);
	s->router.submit(s->rarg, &x->c.h);
}

static void commit_done(struct sl_dreq *r)
{
	struct lscommit *x = (struct lscommit *)r;
	struct sl_logsrv *s = x->out.s;
	out_unlink(&x->out);
	struct sl_logsrv_stream *st = s ? x->stream : NULL;
	if (st == NULL) {
		free(x);
		return;
	}
	st->inflight--;
	uint32_t partition = x->c.h.partition;
	if (st->closed) {
		/* answers due on a closed stream are dropped */
	} else if (r->code == 0) {
		s->st.commit_ok++;
		struct sl_buf *b = sl_buf_alloc(24);
		struct sl_writer w;
		struct sl_lp_commit m = {partition, x->c.q.offset};
		if (b != NULL) {
			sl_writer_init(&w, b->data, b->cap);
			if (sl_lp_write_commit(&w, SL_LP_COMMIT_OK, &m) == 0) {
				b->len = (uint32_t)sl_writer_len(&w);
				send_buf(s, st, b, false);
			} else {
				sl_buf_unref(b);
			}
		}
	} else if (r->code == SL_LP_ERR_FENCED && st->sub != NULL) {
		/* Ended by sub_poll: this answer may come from inside the COMMIT's submit. */
		struct lsub *sub = st->sub;
		if (!sub->fence_pending) {
			sub->fence_pending = true;
			sub->fence_partition = partition;
			sub->fence_epoch = r->detail;
		}
		sub_activate(s, sub);
		free(x);
		return;
	} else {
		char reason[400];
		if (r->code == SL_LP_ERR_FENCED)
			snprintf(reason, sizeof(reason),
				 "fenced by a newer consumer of the same name (epoch %" PRIu64 ")",
				 r->detail);
		else if (r->code == SL_LP_ERR_INVALID)
			snprintf(reason, sizeof(reason),
				 "commit of offset %" PRIu64
				 " refused: past the next offset to be written (%" PRIu64 ")",
				 x->c.q.offset, r->detail);
		else
			reason_of(reason, sizeof(reason), r->code, r->err, r->detail,
				  st->sub ? &st->sub->def : NULL, NULL, partition);
		send_error(s, st, 0, r->code, partition, r->detail, reason);
	}
	free(x);
	stream_maybe_free(s, st);
}

static void on_commit(struct sl_logsrv *s, struct sl_logsrv_stream *st, const uint8_t *body,
		      size_t n)
{
	struct sl_lp_commit m;
	const char *why = NULL;
	if (sl_lp_decode_commit(body, n, &m, &why) != 0) {
		malformed(s, st, why);
		return;
	}
	s->st.commits++;
	struct lsub *sub = st->sub;
	char reason[320];
	if (!sub->named) {
		send_error(s, st, 0, SL_LP_ERR_INVALID, m.partition, 0,
			   "COMMIT needs a named subscription (SUBSCRIBE_NAMED)");
		return;
	}
	if (m.partition >= sub->def.partitions) {
		reason_of(reason, sizeof(reason), SL_LP_ERR_PARTITION_RANGE, 0, 0, &sub->def, NULL,
			  m.partition);
		send_error(s, st, 0, SL_LP_ERR_PARTITION_RANGE, m.partition, 0, reason);
		return;
	}
	struct lspart *lp = &sub->parts[m.partition];
	if (!lp->assigned || lp->cons_epoch == 0) {
		snprintf(reason, sizeof(reason),
			 "partition %u is not held by this subscription (not assigned, or its "
			 "claim is not answered yet)",
			 m.partition);
		send_error(s, st, 0, SL_LP_ERR_INVALID, m.partition, 0, reason);
		return;
	}
	struct lscommit *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		send_error(s, st, 0, SL_LP_ERR_INTERNAL, m.partition, 0,
			   "internal error: out of memory");
		return;
	}
	x->stream = st;
	x->c.h.kind = SL_DREQ_CONSUMER;
	x->c.h.stream_id = sub->def.id;
	x->c.h.partition = m.partition;
	x->c.h.done = commit_done;
	x->c.q.op = SL_DCONS_COMMIT;
	x->c.q.epoch = lp->cons_epoch;
	x->c.q.offset = m.offset;
	memcpy(x->c.q.name, sub->consumer, sizeof(x->c.q.name));
	out_link(s, &x->out);
	st->inflight++;
	s->router.submit(s->rarg, &x->c.h);
}

/* ---- input ---- */

static void handle(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t type,
		   const uint8_t *body, size_t n)
{
	bool subscribe = type == SL_LP_SUBSCRIBE || type == SL_LP_SUBSCRIBE_NAMED;
	if (st->kind == K_UNKNOWN)
		st->kind = subscribe ? K_SUB : K_REQUEST;
	bool ok = st->kind == K_SUB ? (subscribe && st->sub == NULL) ||
					      ((type == SL_LP_ASSIGN || type == SL_LP_COMMIT) &&
					       st->sub != NULL)
				    : type == SL_LP_PRODUCE || type == SL_LP_PRODUCE_IDEM ||
					      type == SL_LP_HWM;
	if (!ok) {
		char why[96];
		snprintf(why, sizeof(why), "%s (0x%" PRIx64 ") not allowed on a %s stream",
			 sl_lp_type_name(type), type,
			 st->kind == K_SUB ? "subscription" : "request");
		malformed(s, st, why);
		return;
	}
	switch (type) {
	case SL_LP_PRODUCE:
	case SL_LP_PRODUCE_IDEM:
		on_produce(s, st, type, body, n);
		break;
	case SL_LP_HWM:
		on_hwm(s, st, body, n);
		break;
	case SL_LP_SUBSCRIBE:
	case SL_LP_SUBSCRIBE_NAMED:
		on_subscribe(s, st, type, body, n);
		break;
	case SL_LP_COMMIT:
		on_commit(s, st, body, n);
		break;
	case SL_LP_ASSIGN:
		on_assign(s, st, body, n);
		break;
	}
}

struct sl_logsrv_stream *sl_logsrv_stream_open(struct sl_logsrv *s, void *handle)
{
	struct sl_logsrv_stream *st =
		s->nstreams < s->cfg.max_streams ? calloc(1, sizeof(*st)) : NULL;
	if (st == NULL) {
		s->tops.reset(s->t, handle, SL_LP_RESET_MALFORMED);
		return NULL;
	}
	st->h = handle;
	st->next = s->streams;
	if (s->streams)
		s->streams->pprev = &st->next;
	st->pprev = &s->streams;
	s->streams = st;
	s->nstreams++;
	s->st.streams_in++;
	return st;
}

static int rx_append(struct sl_logsrv_stream *st, const uint8_t *p, size_t n, size_t max)
{
	if (st->rx_len + n > max)
		return SL_ERANGE;
	if (st->rx_len + n > st->rx_cap) {
		size_t cap = st->rx_cap ? st->rx_cap : 4096;
		while (cap < st->rx_len + n)
			cap *= 2;
		uint8_t *r = realloc(st->rx, cap);
		if (r == NULL)
			return SL_ENOMEM;
		st->rx = r;
		st->rx_cap = cap;
	}
	memcpy(st->rx + st->rx_len, p, n);
	st->rx_len += n;
	return 0;
}

void sl_logsrv_stream_data(struct sl_logsrv *s, struct sl_logsrv_stream *st, const uint8_t *data,
			   size_t len, bool fin)
{
	if (st == NULL || st->closed || st->fin_in)
		return;
	/* Whole messages are handled straight from the caller's bytes; only a partial one at
	 * the end is copied, to be completed by the next call. */
	const uint8_t *p = data;
	size_t n = len;
	size_t cap = s->cfg.max_message + 16;
	if (st->rx_len > 0) {
		if (rx_append(st, data, len, cap) != 0) {
			malformed(s, st, "message too large");
			stream_maybe_free(s, st);
			return;
		}
		p = st->rx;
		n = st->rx_len;
	}
	size_t used = 0;
	while (!st->closed && used < n) {
		struct sl_lp_header h;
		if (sl_lp_header_parse(p + used, n - used, &h) != 0)
			break;
		if (h.len > s->cfg.max_message) {
			char why[96];
			snprintf(why, sizeof(why),
				 "a message of %" PRIu64 " bytes (the limit is %" PRIu64 ")", h.len,
				 s->cfg.max_message);
			malformed(s, st, why);
			break;
		}
		if (n - used < h.hdr_len + h.len)
			break;
		handle(s, st, h.type, p + used + h.hdr_len, (size_t)h.len);
		used += h.hdr_len + (size_t)h.len;
	}
	if (!st->closed) {
		size_t left = n - used;
		if (st->rx_len > 0) {
			memmove(st->rx, st->rx + used, left);
			st->rx_len = left;
		} else if (left > 0 && rx_append(st, p + used, left, cap) != 0) {
			malformed(s, st, "out of memory");
		}
	}
	if (fin && !st->closed) {
		st->fin_in = true;
		if (st->rx_len > 0) {
			malformed(s, st, "the stream ended inside a message");
		} else if (st->sub != NULL) {
			/* The consumer is done: the subscription ends with a FIN of our own. */
			sub_end(s, st->sub);
			send_fin(s, st);
		} else if (st->inflight == 0) {
			send_fin(s, st);
		}
	}
	stream_maybe_free(s, st);
}

void sl_logsrv_stream_reset(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t code)
{
	(void)code;
	if (st == NULL)
		return;
	if (st->sub)
		sub_end(s, st->sub);
	st->closed = true;
	stream_maybe_free(s, st);
}

void sl_logsrv_stream_acked(struct sl_logsrv *s, struct sl_logsrv_stream *st, uint64_t bytes)
{
	(void)s;
	if (st != NULL)
		st->unacked -= bytes < st->unacked ? bytes : st->unacked;
}

void sl_logsrv_stream_closed(struct sl_logsrv *s, struct sl_logsrv_stream *st)
{
	if (st == NULL)
		return;
	/* Nothing more goes out or comes in on it: as after a reset, answers still due are
	 * dropped, and the stream is forgotten once none is out. */
	st->h = NULL;
	st->unacked = 0;
	if (st->sub)
		sub_end(s, st->sub);
	st->closed = true;
	stream_maybe_free(s, st);
}

/* ---- lifecycle ---- */

struct sl_logsrv *sl_logsrv_new(const struct sl_logsrv_config *cfg,
				const struct sl_logsrv_transport *tops, void *t,
				const struct sl_logsrv_router *router, void *rarg)
{
	if (tops == NULL || router == NULL || tops->write == NULL || tops->reset == NULL ||
	    tops->release == NULL || router->streams == NULL || router->submit == NULL ||
	    router->owner == NULL)
		return NULL;
	struct sl_logsrv *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (cfg)
		s->cfg = *cfg;
	else
		sl_logsrv_config_default(&s->cfg);
	s->tops = *tops;
	s->t = t;
	s->router = *router;
	s->rarg = rarg;
	sl_lp_limits_default(&s->lim);
	s->lim.max_record_bytes = SL_STREAM_MAX_RECORD_BYTES;
	return s;
}

void sl_logsrv_free(struct sl_logsrv *s)
{
	if (s == NULL)
		return;
	while (s->streams) {
		struct sl_logsrv_stream *st = s->streams;
		s->streams = st->next;
		if (st->sub)
			sub_end(s, st->sub);
		if (st->h)
			s->tops.release(s->t, st->h);
		free(st->rx);
		free(st);
	}
	/* Whatever is still out frees itself when it comes back. */
	while (s->outs) {
		struct lsout *o = s->outs;
		out_unlink(o);
		o->s = NULL;
	}
	free(s);
}

void sl_logsrv_shutdown(struct sl_logsrv *s)
{
	s->shutting_down = true;
}

void sl_logsrv_stats(const struct sl_logsrv *s, struct sl_logsrv_stats *out)
{
	*out = s->st;
}

#define T struct sl_logsrv_stats
const struct sl_stat_field sl_logsrv_stats_fields[] = {
	SL_STAT_AS(T, streams_in, "streams", NULL),
	SL_STAT_U(T, produce, NULL),
	SL_STAT_U(T, produce_ok, NULL),
	SL_STAT_U(T, produce_errors, NULL),
	SL_STAT_U(T, produce_records, NULL),
	SL_STAT_U(T, produce_bytes, NULL),
	SL_STAT_U(T, hwm, NULL),
	SL_STAT_U(T, subscribes, NULL),
	SL_STAT_U(T, assigns, NULL),
	SL_STAT_U(T, fetches, NULL),
	SL_STAT_U(T, records_out, NULL),
	SL_STAT_U(T, bytes_out, NULL),
	SL_STAT_U(T, errors_out, NULL),
	SL_STAT_U(T, decode_errors, NULL),
	SL_STAT_U(T, overloaded, NULL),
	SL_STAT_AS(T, claims, "consumer_claims_sent", NULL),
	SL_STAT_AS(T, commits, "commits_received", NULL),
	SL_STAT_U(T, commit_ok, NULL),
	SL_STAT_AS(T, fenced, "subscriptions_fenced", NULL),
	SL_STAT_G(T, inflight, NULL),
	SL_STAT_G(T, subscriptions, NULL),
	SL_STAT_TABLE_END,
};
#undef T
