/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/objstore/memory.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/*
 * Objects live in an array sorted by key: LIST is a binary search and a walk, lookups are
 * binary searches, and inserts shift the tail. Tests and tools hold at most thousands of
 * objects, where this beats a tree in both code and speed.
 */
struct mem_obj {
	char *key;
	struct sl_buf *body; /* immutable once stored: GETs hand out references to it */
	uint64_t size;
	uint64_t mtime_ns;
	char etag[SL_OBJ_ETAG_MAX];
};

struct mem_fault {
	uint32_t fail_n;
	int fail_err;
	uint64_t delay_ns;
};

struct mem_store {
	struct sl_objstore pub;
	struct sl_objstore_memory_config cfg;
	struct mem_obj *objs;
	size_t nobjs, cap;
	uint64_t generation;
	/* FIFO of queued requests, linked through req->next_. */
	struct sl_obj_req *head, *tail;
	uint32_t queued;
	bool closed;
	uint64_t last_now_ns;
	uint64_t hold_until_ns;
	uint32_t force_precond;
	struct mem_fault fault[6]; /* index 0 = any kind */
	struct sl_objstore_memory_stats stats;
};

static const struct sl_objstore_ops mem_ops;

static struct mem_store *mem_of(const struct sl_objstore *s)
{
	return (struct mem_store *)s->impl;
}

void sl_objstore_memory_config_default(struct sl_objstore_memory_config *c)
{
	c->max_queued = 65536;
	c->max_per_poll = 0;
}

/* Index of key, or of where it would be inserted, with *found set. */
static size_t mem_find(const struct mem_store *m, const char *key, bool *found)
{
	size_t lo = 0, hi = m->nobjs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(m->objs[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static bool op_valid(int op)
{
	return op >= 0 && op <= SL_OBJ_LIST;
}

static int mem_submit(void *impl, struct sl_obj_req *req)
{
	struct mem_store *m = impl;
	if (req == NULL || !op_valid((int)req->op) || req->op == 0)
		return SL_EINVAL;
	if (req->op == SL_OBJ_LIST) {
		if (req->prefix == NULL)
			return SL_EINVAL;
	} else if (sl_obj_key_check(req->key) != 0) {
		return SL_EINVAL;
	}
	if (req->op == SL_OBJ_PUT) {
		if (req->body == NULL || req->put_mode > SL_OBJ_PUT_CREATE_DIRECT)
			return SL_EINVAL;
	}
	if (m->closed)
		return SL_ECLOSED;
	if (m->queued >= m->cfg.max_queued)
		return SL_ENOSPC;
	/* The delay is measured from the latest poll: the store has no clock of its own, and a
	 * caller submits between polls. */
	uint64_t delay = m->fault[req->op].delay_ns;
	if (m->fault[0].delay_ns > delay)
		delay = m->fault[0].delay_ns;
	req->due_ns_ = delay ? m->last_now_ns + delay : 0;
	req->next_ = NULL;
	if (m->tail)
		m->tail->next_ = req;
	else
		m->head = req;
	m->tail = req;
	m->queued++;
	m->stats.submitted++;
	return 0;
}

static void set_etag(struct mem_store *m, struct mem_obj *o)
{
	m->generation++;
	snprintf(o->etag, sizeof(o->etag), "m%" PRIu64, m->generation);
}

static int do_put(struct mem_store *m, struct sl_obj_req *req, uint64_t now_ns)
{
	bool found;
	size_t i = mem_find(m, req->key, &found);
	bool conditional = req->put_mode != SL_OBJ_PUT_OVERWRITE;
	if (conditional && m->force_precond > 0) {
		m->force_precond--;
		m->stats.injected++;
		m->stats.preconds++;
		return SL_EPRECOND;
	}
	if ((req->put_mode == SL_OBJ_PUT_CREATE || req->put_mode == SL_OBJ_PUT_CREATE_DIRECT) &&
	    found) {
		m->stats.preconds++;
		return SL_EPRECOND;
	}
	if (req->put_mode == SL_OBJ_PUT_IF_MATCH &&
	    (!found || strncmp(m->objs[i].etag, req->if_match, SL_OBJ_ETAG_MAX) != 0)) {
		m->stats.preconds++;
		return SL_EPRECOND;
	}
	if (!found) {
		if (m->nobjs == m->cap) {
			size_t ncap = m->cap ? m->cap * 2 : 64;
			struct mem_obj *n = realloc(m->objs, ncap * sizeof(*n));
			if (n == NULL)
				return SL_ENOMEM;
			m->objs = n;
			m->cap = ncap;
		}
		char *key = strdup(req->key);
		if (key == NULL)
			return SL_ENOMEM;
		memmove(&m->objs[i + 1], &m->objs[i], (m->nobjs - i) * sizeof(m->objs[0]));
		m->nobjs++;
		memset(&m->objs[i], 0, sizeof(m->objs[i]));
		m->objs[i].key = key;
		m->stats.objects++;
	} else {
		m->stats.bytes -= m->objs[i].size;
		sl_buf_unref(m->objs[i].body);
	}
	struct mem_obj *o = &m->objs[i];
	o->body = req->body; /* the store owns the caller's reference from here on */
	req->body = NULL;
	o->size = o->body->len;
	o->mtime_ns = now_ns;
	m->stats.bytes += o->size;
	set_etag(m, o);
	memcpy(req->etag, o->etag, SL_OBJ_ETAG_MAX);
	return 0;
}

static int do_get(struct mem_store *m, struct sl_obj_req *req, bool head)
{
	bool found;
	size_t i = mem_find(m, req->key, &found);
	if (!found)
		return SL_ENOTFOUND;
	struct mem_obj *o = &m->objs[i];
	memcpy(req->etag, o->etag, SL_OBJ_ETAG_MAX);
	req->size = o->size;
	req->mtime_ns = o->mtime_ns;
	if (head)
		return 0;
	if (req->offset == 0 && (req->length == 0 || req->length >= o->size)) {
		req->data = sl_buf_ref(o->body);
		return 0;
	}
	if (req->offset > o->size)
		return SL_EINVAL;
	uint64_t n = o->size - req->offset;
	if (req->length > 0 && req->length < n)
		n = req->length;
	/* sl_buf_alloc refuses 0 bytes; an empty range still gets a (empty) buffer. */
	struct sl_buf *b = sl_buf_alloc(n ? n : 1);
	if (b == NULL)
		return SL_ENOMEM;
	if (n)
		sl_buf_append(b, o->body->data + req->offset, n);
	req->data = b;
	return 0;
}

static int do_delete(struct mem_store *m, struct sl_obj_req *req)
{
	bool found;
	size_t i = mem_find(m, req->key, &found);
	if (!found)
		return SL_ENOTFOUND;
	free(m->objs[i].key);
	sl_buf_unref(m->objs[i].body);
	m->stats.bytes -= m->objs[i].size;
	m->stats.objects--;
	memmove(&m->objs[i], &m->objs[i + 1], (m->nobjs - i - 1) * sizeof(m->objs[0]));
	m->nobjs--;
	return 0;
}

static int do_list(struct mem_store *m, struct sl_obj_req *req)
{
	uint32_t max = req->max_keys ? req->max_keys : 1000;
	size_t plen = strlen(req->prefix);
	bool found;
	size_t i = mem_find(m, req->prefix, &found);
	if (req->start_after != NULL && strcmp(req->start_after, req->prefix) >= 0) {
		i = mem_find(m, req->start_after, &found);
		if (found)
			i++;
	}
	/* Count the page first so the array is allocated once. */
	size_t end = i;
	uint32_t n = 0;
	while (end < m->nobjs && n < max && strncmp(m->objs[end].key, req->prefix, plen) == 0) {
		end++;
		n++;
	}
	req->truncated = end < m->nobjs && strncmp(m->objs[end].key, req->prefix, plen) == 0;
	req->nentries = 0;
	req->entries = NULL;
	if (n == 0)
		return 0;
	req->entries = calloc(n, sizeof(*req->entries));
	if (req->entries == NULL)
		return SL_ENOMEM;
	for (uint32_t k = 0; k < n; k++) {
		const struct mem_obj *o = &m->objs[i + k];
		struct sl_obj_entry *e = &req->entries[k];
		e->key = strdup(o->key);
		if (e->key == NULL) {
			req->nentries = k;
			return SL_ENOMEM; /* the caller's sl_obj_req_reset frees the partial page */
		}
		e->size = o->size;
		e->mtime_ns = o->mtime_ns;
		memcpy(e->etag, o->etag, SL_OBJ_ETAG_MAX);
		req->nentries = k + 1;
	}
	return 0;
}

static int injected_error(struct mem_store *m, enum sl_obj_op op)
{
	struct mem_fault *f = &m->fault[op];
	if (f->fail_n == 0)
		f = &m->fault[0];
	if (f->fail_n == 0)
		return 0;
	f->fail_n--;
	m->stats.injected++;
	return f->fail_err;
}

static void complete(struct mem_store *m, struct sl_obj_req *req, uint64_t now_ns)
{
	int rc = injected_error(m, req->op);
	if (rc == 0) {
		switch (req->op) {
		case SL_OBJ_GET:
			rc = do_get(m, req, false);
			break;
		case SL_OBJ_HEAD:
			rc = do_get(m, req, true);
			break;
		case SL_OBJ_PUT:
			rc = do_put(m, req, now_ns);
			break;
		case SL_OBJ_DELETE:
			rc = do_delete(m, req);
			break;
		case SL_OBJ_LIST:
			rc = do_list(m, req);
			break;
		}
	}
	if (req->op == SL_OBJ_PUT && req->body != NULL) {
		/* A failed put still consumed the body reference the caller handed over. */
		sl_buf_unref(req->body);
		req->body = NULL;
	}
	req->result = rc;
	m->stats.completed++;
	m->stats.ops[req->op]++;
	if (req->done)
		req->done(req);
}

static int mem_poll(void *impl, uint64_t now_ns)
{
	struct mem_store *m = impl;
	if (now_ns > m->last_now_ns)
		m->last_now_ns = now_ns;
	if (m->hold_until_ns && now_ns < m->hold_until_ns)
		return 0;
	m->hold_until_ns = 0;
	/* Detach the queue: done functions may submit, and what they submit completes in a later
	 * poll, as it would on a real backend. Requests not yet due go back in order. */
	struct sl_obj_req *list = m->head;
	m->head = m->tail = NULL;
	int done = 0;
	struct sl_obj_req *keep = NULL, *keep_tail = NULL;
	while (list) {
		struct sl_obj_req *req = list;
		list = req->next_;
		req->next_ = NULL;
		bool due = req->due_ns_ <= now_ns &&
			   (m->cfg.max_per_poll == 0 || (uint32_t)done < m->cfg.max_per_poll);
		if (!due) {
			if (keep_tail)
				keep_tail->next_ = req;
			else
				keep = req;
			keep_tail = req;
			continue;
		}
		m->queued--;
		done++;
		complete(m, req, now_ns);
	}
	if (keep) {
		/* Requests kept back precede anything submitted during this poll. */
		keep_tail->next_ = m->head;
		if (m->head == NULL)
			m->tail = keep_tail;
		m->head = keep;
	}
	return done;
}

static void mem_destroy(void *impl)
{
	struct mem_store *m = impl;
	if (m == NULL)
		return;
	/* Done functions may submit again; those submits are refused with SL_ECLOSED. */
	m->closed = true;
	while (m->head) {
		struct sl_obj_req *req = m->head;
		m->head = req->next_;
		if (m->head == NULL)
			m->tail = NULL;
		req->next_ = NULL;
		m->queued--;
		if (req->op == SL_OBJ_PUT && req->body) {
			sl_buf_unref(req->body);
			req->body = NULL;
		}
		req->result = SL_ECLOSED;
		if (req->done)
			req->done(req);
	}
	for (size_t i = 0; i < m->nobjs; i++) {
		free(m->objs[i].key);
		sl_buf_unref(m->objs[i].body);
	}
	free(m->objs);
	free(m);
}

static const struct sl_objstore_ops mem_ops = {
	.submit = mem_submit,
	.poll = mem_poll,
	.destroy = mem_destroy,
};

struct sl_objstore *sl_objstore_memory_new(const struct sl_objstore_memory_config *cfg)
{
	struct mem_store *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	if (cfg)
		m->cfg = *cfg;
	else
		sl_objstore_memory_config_default(&m->cfg);
	m->pub.ops = &mem_ops;
	m->pub.impl = m;
	m->pub.name = "memory";
	return &m->pub;
}

void sl_objstore_memory_destroy(struct sl_objstore *s)
{
	if (s == NULL)
		return;
	s->ops->destroy(s->impl);
}

bool sl_objstore_is_memory(const struct sl_objstore *s)
{
	return s != NULL && s->ops == &mem_ops;
}

int sl_objstore_memory_fail_next(struct sl_objstore *s, int op, uint32_t n, int err)
{
	if (!sl_objstore_is_memory(s) || !op_valid(op) || (n > 0 && err >= 0))
		return SL_EINVAL;
	struct mem_store *m = mem_of(s);
	m->fault[op].fail_n = n;
	m->fault[op].fail_err = err;
	return 0;
}

int sl_objstore_memory_delay(struct sl_objstore *s, int op, uint64_t delay_ns)
{
	if (!sl_objstore_is_memory(s) || !op_valid(op))
		return SL_EINVAL;
	mem_of(s)->fault[op].delay_ns = delay_ns;
	return 0;
}

void sl_objstore_memory_hold_until(struct sl_objstore *s, uint64_t until_ns)
{
	if (sl_objstore_is_memory(s))
		mem_of(s)->hold_until_ns = until_ns;
}

void sl_objstore_memory_force_precond(struct sl_objstore *s, uint32_t n)
{
	if (sl_objstore_is_memory(s))
		mem_of(s)->force_precond = n;
}

uint32_t sl_objstore_memory_pending(const struct sl_objstore *s)
{
	return sl_objstore_is_memory(s) ? mem_of(s)->queued : 0;
}

void sl_objstore_memory_stats(const struct sl_objstore *s, struct sl_objstore_memory_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (sl_objstore_is_memory(s))
		*out = mem_of(s)->stats;
}
