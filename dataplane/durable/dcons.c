/* SPDX-License-Identifier: Apache-2.0 */
#include "durable/dcons.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/varint.h"

/* One (stream, consumer, partition). Freed only when no store request is out for it. */
struct cstate {
	struct sl_dcons *c;
	uint64_t stream_id;
	uint32_t partition;
	uint64_t id;
	char name[SL_STREAM_NAME_MAX + 1];
	/* The newest values, in memory; the next put carries them. */
	uint64_t epoch;
	bool committed;
	uint64_t offset;
	/* What the last completed put made durable (describe shows these). */
	bool dur_committed;
	uint64_t dur_offset;
	/* What the put in flight carries. */
	bool put_committed;
	uint64_t put_offset;
	/* Requests not covered by a put yet, and those the put in flight covers; FIFO. */
	struct sl_dcons_req *waiting, *waiting_tail;
	struct sl_dcons_req *covered;
	bool req_out;	    /* a put or delete is at the store */
	bool put_wanted;    /* a put must follow (new requests, or the store was full) */
	bool gone;	    /* the stream or consumer was deleted: delete the object, then free */
	bool delete_wanted; /* gone, and the delete is not submitted yet */
	bool orphan;	    /* the table was freed: free on completion */
	bool is_delete;	    /* the request out is a delete */
	struct sl_obj_req req;
	char key[SL_OBJ_KEY_MAX + 1];
};

struct sl_dcons {
	struct sl_objstore *store;
	sl_dcons_done_fn done;
	void *arg;
	struct cstate **v;
	uint32_t n, cap;
	uint64_t next_id;
	uint64_t last_claim_id, last_claim_epoch; /* of the last submit, 0 if not a claim */
	struct sl_dcons_stats st;
};

bool sl_dcons_name_valid(const char *name, size_t n)
{
	return sl_stream_name_valid(name, n) && !(n >= 4 && memcmp(name, ".sl-", 4) == 0);
}

int sl_dcons_key(char *out, size_t n, uint64_t stream_id, const char *name, uint32_t partition)
{
	int k = snprintf(out, n, SL_DCONS_PREFIX "%" PRIu64 "/%s/%u", stream_id, name, partition);
	return k < 0 || (size_t)k >= n ? SL_ERANGE : 0;
}

/* A decimal number of at most 20 digits, no sign, no leading zero (keys are made, not typed). */
static const char *parse_dec(const char *p, char stop, uint64_t *v)
{
	const char *s = p;
	uint64_t x = 0;
	while (*p >= '0' && *p <= '9' && p - s < 20) {
		uint64_t d = (uint64_t)(*p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return NULL;
		x = x * 10 + d;
		p++;
	}
	if (p == s || *p != stop || (p - s > 1 && *s == '0'))
		return NULL;
	*v = x;
	return p;
}

int sl_dcons_parse_key(const char *key, struct sl_dcons_entry *e)
{
	size_t pl = strlen(SL_DCONS_PREFIX);
	if (strncmp(key, SL_DCONS_PREFIX, pl) != 0)
		return SL_EINVAL;
	uint64_t id, part;
	const char *p = parse_dec(key + pl, '/', &id);
	if (p == NULL)
		return SL_EINVAL;
	const char *name = p + 1;
	const char *slash = strchr(name, '/');
	if (slash == NULL || !sl_dcons_name_valid(name, (size_t)(slash - name)))
		return SL_EINVAL;
	if (parse_dec(slash + 1, '\0', &part) == NULL || part >= SL_STREAM_MAX_PARTITIONS)
		return SL_EINVAL;
	memset(e, 0, sizeof(*e));
	e->stream_id = id;
	e->partition = (uint32_t)part;
	memcpy(e->name, name, (size_t)(slash - name));
	return 0;
}

size_t sl_dcons_encode(uint8_t *out, size_t n, const struct sl_dcons_entry *e)
{
	uint64_t plus_one = e->committed ? e->offset + 1 : 0;
	size_t need = 5 + sl_varint_len(e->epoch) + sl_varint_len(plus_one);
	if (n < need || e->epoch > SL_VARINT_MAX || plus_one > SL_VARINT_MAX)
		return 0;
	memcpy(out, SL_DCONS_MAGIC, 4);
	out[4] = SL_DCONS_VERSION;
	size_t at = 5, k;
	sl_varint_encode(out + at, n - at, e->epoch, &k);
	at += k;
	sl_varint_encode(out + at, n - at, plus_one, &k);
	return at + k;
}

int sl_dcons_decode(const uint8_t *p, size_t n, struct sl_dcons_entry *e)
{
	if (n < 5)
		return SL_ETRUNC;
	if (memcmp(p, SL_DCONS_MAGIC, 4) != 0 || p[4] != SL_DCONS_VERSION)
		return SL_ECORRUPT;
	uint64_t epoch, plus_one;
	size_t at = 5, k;
	if (sl_varint_decode(p + at, n - at, &epoch, &k) != 0)
		return SL_ETRUNC;
	at += k;
	if (sl_varint_decode(p + at, n - at, &plus_one, &k) != 0)
		return SL_ETRUNC;
	at += k;
	if (at != n)
		return SL_ECORRUPT;
	e->epoch = epoch;
	e->committed = plus_one != 0;
	e->offset = plus_one ? plus_one - 1 : 0;
	return 0;
}

struct sl_dcons *sl_dcons_new(struct sl_objstore *store, sl_dcons_done_fn done, void *arg)
{
	if (store == NULL || done == NULL)
		return NULL;
	struct sl_dcons *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->store = store;
	c->done = done;
	c->arg = arg;
	c->next_id = 1;
	return c;
}

static void answer(struct sl_dcons *c, struct sl_dcons_req *q, int code, int err, uint64_t detail)
{
	q->next = NULL;
	q->state = NULL;
	c->done(c->arg, q, code, err, detail);
}

/* Answers a list; the callbacks may submit new requests, so the list is detached first. */
static void answer_list(struct sl_dcons *c, struct sl_dcons_req *list, int code, int err)
{
	while (list != NULL) {
		struct sl_dcons_req *q = list;
		list = q->next;
		answer(c, q, code, err, 0);
	}
}

static void state_unlink(struct sl_dcons *c, struct cstate *s)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->v[i] == s) {
			c->v[i] = c->v[--c->n];
			c->st.consumers--;
			return;
		}
}

static void state_done(struct sl_obj_req *r);

static void state_submit(struct sl_dcons *c, struct cstate *s);

/* Starts the put or delete s needs, if none is out. */
static void state_kick(struct sl_dcons *c, struct cstate *s)
{
	if (s->req_out)
		return;
	if (s->gone ? s->delete_wanted : s->put_wanted)
		state_submit(c, s);
}

static void state_submit(struct sl_dcons *c, struct cstate *s)
{
	memset(&s->req, 0, sizeof(s->req));
	s->req.key = s->key;
	s->req.done = state_done;
	s->req.user = s;
	if (s->gone) {
		s->req.op = SL_OBJ_DELETE;
		s->is_delete = true;
	} else {
		struct sl_dcons_entry e = {
			.epoch = s->epoch, .committed = s->committed, .offset = s->offset};
		struct sl_buf *b = sl_buf_alloc(32);
		if (b == NULL)
			return; /* put_wanted stays: retried by sl_dcons_poll */
		b->len = (uint32_t)sl_dcons_encode(b->data, b->cap, &e);
		s->req.op = SL_OBJ_PUT;
		s->req.put_mode = SL_OBJ_PUT_OVERWRITE;
		s->req.body = b;
		s->is_delete = false;
		s->put_committed = s->committed;
		s->put_offset = s->offset;
	}
	int rc = sl_objstore_submit(c->store, &s->req);
	if (rc != 0) {
		if (!s->is_delete)
			sl_buf_unref(s->req.body);
		if (rc == SL_ENOSPC)
			return; /* retried by sl_dcons_poll */
		/* The store refused it outright: the requests it would have covered fail. */
		if (!s->is_delete) {
			s->put_wanted = false;
			c->st.consumer_write_errors++;
			struct sl_dcons_req *list = s->waiting;
			s->waiting = s->waiting_tail = NULL;
			answer_list(c, list, SL_LP_ERR_STORAGE_FAILED, rc);
		} else {
			s->delete_wanted = false;
			state_unlink(c, s);
			free(s);
		}
		return;
	}
	s->req_out = true;
	if (s->is_delete) {
		s->delete_wanted = false;
		return;
	}
	s->put_wanted = false;
	c->st.consumer_writes++;
	/* Everything waiting is covered by this put: it carries the newest values. */
	s->covered = s->waiting;
	s->waiting = s->waiting_tail = NULL;
}

static void state_done(struct sl_obj_req *r)
{
	struct cstate *s = r->user;
	struct sl_dcons *c = s->c;
	int rc = r->result;
	bool was_delete = s->is_delete;
	s->req_out = false;
	sl_obj_req_reset(r);
	if (s->orphan) {
		free(s);
		return;
	}
	if (was_delete) {
		state_unlink(c, s);
		free(s);
		return;
	}
	struct sl_dcons_req *list = s->covered;
	s->covered = NULL;
	if (rc == 0) {
		/* The put carried the values as they were when submitted; later changes are in
		 * waiting and go with the next put. */
		s->dur_committed = s->put_committed;
		s->dur_offset = s->put_offset;
	} else {
		c->st.consumer_write_errors++;
	}
	if (s->gone) {
		state_kick(c, s);
	} else if (s->waiting != NULL) {
		s->put_wanted = true;
		state_kick(c, s);
	}
	answer_list(c, list, rc == 0 ? 0 : SL_LP_ERR_STORAGE_FAILED, rc);
}

void sl_dcons_free(struct sl_dcons *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->n; i++) {
		struct cstate *s = c->v[i];
		struct sl_dcons_req *a = s->waiting, *b = s->covered;
		s->waiting = s->covered = NULL;
		answer_list(c, a, SL_LP_ERR_SHUTTING_DOWN, SL_ECLOSED);
		answer_list(c, b, SL_LP_ERR_SHUTTING_DOWN, SL_ECLOSED);
		if (s->req_out)
			s->orphan = true;
		else
			free(s);
	}
	free(c->v);
	free(c);
}

static struct cstate *find_name(const struct sl_dcons *c, uint64_t stream_id, uint32_t partition,
				const char *name)
{
	for (uint32_t i = 0; i < c->n; i++) {
		struct cstate *s = c->v[i];
		if (!s->gone && s->stream_id == stream_id && s->partition == partition &&
		    strcmp(s->name, name) == 0)
			return s;
	}
	return NULL;
}

static struct cstate *state_add(struct sl_dcons *c, uint64_t stream_id, uint32_t partition,
				const char *name)
{
	if (c->n == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 16;
		struct cstate **v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		c->v = v;
		c->cap = cap;
	}
	struct cstate *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->c = c;
	s->stream_id = stream_id;
	s->partition = partition;
	s->id = c->next_id++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (sl_dcons_key(s->key, sizeof(s->key), stream_id, name, partition) != 0) {
		free(s);
		return NULL;
	}
	c->v[c->n++] = s;
	c->st.consumers++;
	return s;
}

int sl_dcons_load(struct sl_dcons *c, const struct sl_dcons_entry *e)
{
	if (find_name(c, e->stream_id, e->partition, e->name) != NULL)
		return SL_EDUP;
	struct cstate *s = state_add(c, e->stream_id, e->partition, e->name);
	if (s == NULL)
		return SL_ENOMEM;
	s->epoch = e->epoch;
	s->committed = s->dur_committed = e->committed;
	s->offset = s->dur_offset = e->offset;
	return 0;
}

static void enqueue(struct sl_dcons *c, struct cstate *s, struct sl_dcons_req *q)
{
	q->next = NULL;
	q->state = s;
	if (s->waiting_tail)
		s->waiting_tail->next = q;
	else
		s->waiting = q;
	s->waiting_tail = q;
	s->put_wanted = true;
	state_kick(c, s);
}

void sl_dcons_submit(struct sl_dcons *c, uint64_t stream_id, uint32_t partition,
		     const struct sl_lp_marks *m, struct sl_dcons_req *q)
{
	c->last_claim_id = c->last_claim_epoch = 0;
	if (!sl_dcons_name_valid(q->name, strnlen(q->name, sizeof(q->name)))) {
		answer(c, q, SL_LP_ERR_INVALID, SL_EINVAL, 0);
		return;
	}
	c->last_claim_id = c->last_claim_epoch = 0;
	struct cstate *s = find_name(c, stream_id, partition, q->name);
	if (q->op == SL_DCONS_CLAIM) {
		if (s == NULL && (s = state_add(c, stream_id, partition, q->name)) == NULL) {
			answer(c, q, SL_LP_ERR_INTERNAL, SL_ENOMEM, 0);
			return;
		}
		c->st.claims++;
		/* In memory at once: from now on the older holder's commits and fetches are
		 * refused, even before this claim is durable. */
		q->epoch = ++s->epoch;
		q->id = s->id;
		c->last_claim_id = s->id;
		c->last_claim_epoch = s->epoch;
		q->had_commit = s->committed;
		if (s->committed) {
			uint64_t o = s->offset;
			o = o < m->start ? m->start : o > m->high_water ? m->high_water : o;
			q->from = SL_DCONS_FROM_OFFSET;
			q->offset = o;
		} else {
			q->from = q->fallback == SL_LP_START_COMMITTED_OR_LATEST
					  ? SL_DCONS_FROM_LATEST
					  : SL_DCONS_FROM_EARLIEST;
			q->offset = 0;
		}
		enqueue(c, s, q);
		return;
	}
	if (q->op != SL_DCONS_COMMIT || s == NULL) {
		answer(c, q, SL_LP_ERR_INVALID, SL_EINVAL, 0);
		return;
	}
	if (q->epoch < s->epoch) {
		c->st.commits_refused_fenced++;
		answer(c, q, SL_LP_ERR_FENCED, SL_EFENCED, s->epoch);
		return;
	}
	if (q->offset > m->high_water) {
		answer(c, q, SL_LP_ERR_INVALID, SL_ERANGE, m->high_water);
		return;
	}
	c->st.commits++;
	s->committed = true;
	s->offset = q->offset;
	enqueue(c, s, q);
}

bool sl_dcons_last_claim(const struct sl_dcons *c, uint64_t *id, uint64_t *epoch)
{
	*id = c->last_claim_id;
	*epoch = c->last_claim_epoch;
	return c->last_claim_id != 0;
}

bool sl_dcons_fenced(const struct sl_dcons *c, uint64_t stream_id, uint32_t partition, uint64_t id,
		     uint64_t epoch, uint64_t *newer)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const struct cstate *s = c->v[i];
		if (s->id == id && s->stream_id == stream_id && s->partition == partition) {
			if (s->gone || s->epoch <= epoch)
				return false;
			*newer = s->epoch;
			return true;
		}
	}
	return false;
}

/* Marks s deleted: its waiting requests answer code, its object goes once nothing is out. */
static void state_drop(struct sl_dcons *c, struct cstate *s, int code)
{
	s->gone = true;
	s->delete_wanted = true;
	s->put_wanted = false;
	struct sl_dcons_req *list = s->waiting;
	s->waiting = s->waiting_tail = NULL;
	state_kick(c, s);
	answer_list(c, list, code, SL_ENOTFOUND);
}

void sl_dcons_set_streams(struct sl_dcons *c, const struct sl_stream_set *set)
{
	/* Backwards: a refused delete unlinks its state, moving the last one into its place. */
	for (uint32_t i = c->n; i-- > 0;) {
		if (i >= c->n)
			continue;
		struct cstate *s = c->v[i];
		if (!s->gone && sl_stream_set_find_id(set, s->stream_id) == NULL)
			state_drop(c, s, SL_LP_ERR_UNKNOWN_STREAM);
	}
}

uint32_t sl_dcons_delete(struct sl_dcons *c, uint64_t stream_id, const char *name)
{
	uint32_t k = 0;
	for (uint32_t i = c->n; i-- > 0;) {
		if (i >= c->n)
			continue;
		struct cstate *s = c->v[i];
		if (!s->gone && s->stream_id == stream_id && strcmp(s->name, name) == 0) {
			state_drop(c, s, SL_LP_ERR_INVALID);
			k++;
		}
	}
	return k;
}

bool sl_dcons_poll(struct sl_dcons *c)
{
	bool left = false;
	for (uint32_t i = c->n; i-- > 0;) {
		if (i >= c->n)
			continue;
		struct cstate *s = c->v[i];
		state_kick(c, s);
		if (i < c->n && c->v[i] == s && !s->req_out && (s->put_wanted || s->delete_wanted))
			left = true;
	}
	return left;
}

bool sl_dcons_busy(const struct sl_dcons *c)
{
	for (uint32_t i = 0; i < c->n; i++) {
		const struct cstate *s = c->v[i];
		if (s->req_out || s->put_wanted || s->delete_wanted)
			return true;
	}
	return false;
}

uint32_t sl_dcons_describe(const struct sl_dcons *c, uint64_t stream_id, struct sl_dcons_info *out,
			   uint32_t cap)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		const struct cstate *s = c->v[i];
		if (s->gone || s->stream_id != stream_id)
			continue;
		if (k < cap) {
			struct sl_dcons_info *o = &out[k];
			snprintf(o->name, sizeof(o->name), "%s", s->name);
			o->partition = s->partition;
			o->epoch = s->epoch;
			o->committed = s->dur_committed;
			o->offset = s->dur_offset;
		}
		k++;
	}
	return k;
}

void sl_dcons_stats(const struct sl_dcons *c, struct sl_dcons_stats *out)
{
	*out = c->st;
}

#define T struct sl_dcons_stats
const struct sl_stat_field sl_dcons_stats_fields[] = {
	SL_STAT_G(T, consumers, NULL),
	SL_STAT_AS(T, claims, "consumer_claims", NULL),
	SL_STAT_AS(T, commits, "commits", NULL),
	SL_STAT_AS(T, commits_refused_fenced, "commits_refused_fenced", NULL),
	SL_STAT_AS(T, fetches_fenced, "fetches_fenced", NULL),
	SL_STAT_U(T, consumer_writes, NULL),
	SL_STAT_U(T, consumer_write_errors, NULL),
	SL_STAT_TABLE_END,
};
#undef T
