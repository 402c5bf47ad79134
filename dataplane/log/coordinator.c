/* SPDX-License-Identifier: Apache-2.0 */
#include "log/coordinator.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/*
 * Implementation notes.
 *
 * Channel queues are intrusive singly linked FIFOs of caller-owned sl_coord_write structs, so a
 * write costs no allocation; the capacity is a counter. Writes waiting for space with a
 * deadline sit in a second FIFO per channel ("parked") and are admitted in order as the queue
 * drains.
 *
 * Flush requests (delta flushes and storage flushes) live in a small ring in epoch order. Delta
 * flushes are issued to the flusher as soon as the delta is frozen, so several may be in flight;
 * their results are applied strictly from the head of the ring, so watermarks and views move in
 * epoch order whatever order the flusher completes in. A storage flush is issued only when it
 * reaches the head, i.e. after everything before it was written. Storage flushes never sit next
 * to each other (a second request coalesces with the tail one, which already covers it), so the
 * ring needs at most 2 * max_frozen + 1 slots.
 *
 * Views are rebuilt (one allocation) only when the frozen set, the snapshot or the live delta
 * changes: on a freeze and on a written delta, never per write. The opaque objects a view shows
 * are wrapped in small refcounted holders so they outlive the coordinator's own interest as long
 * as some view still points at them.
 */

enum { KIND_WRITE = 0, KIND_FLUSH = 1, KIND_FLUSH_STORAGE = 2 };
enum { OP_DELTA = 0, OP_STORAGE = 1 };
#define OBJ_SNAPSHOT 16

struct sl_coord_obj {
	uint32_t refs;
	uint8_t kind;
	void *ptr;
	const struct sl_coord_delta_ops *dops;
	const struct sl_coord_flusher_ops *fops;
	void *arg;
};

struct coord_chan {
	char name[SL_COORD_MAX_CHANNEL_NAME + 1];
	struct sl_coord_write *qhead, *qtail; /* admitted writes and flush commands */
	struct sl_coord_write *phead, *ptail; /* writes waiting for space (with a deadline) */
	uint32_t nwrites;		      /* admitted writes, counted against the capacity */
	bool paused;
};

struct coord_op {
	uint64_t req_id;
	uint64_t start, end; /* epochs [start, end) of a delta flush */
	struct sl_coord_obj *fview;
	void *snapshot;
	int rc;
	uint8_t type;
	bool issued, done;
};

struct coord_wlist {
	struct sl_coord_waiter *head, *tail;
};

struct sl_coord {
	struct sl_coord_config cfg;
	const struct sl_coord_delta_ops *dops;
	void *darg;
	const struct sl_coord_flusher_ops *fops;
	void *farg;

	struct coord_chan *chans;
	uint32_t nchans;
	uint32_t rr; /* channel the next drain turn starts at */
	uint32_t queued, parked;

	void *delta; /* NULL only while init keeps failing after a freeze */
	void *ctx;   /* a context waiting for init (delta == NULL) */
	struct sl_coord_obj *reader;
	uint64_t next_epoch;  /* the epoch the next write gets */
	uint64_t delta_start; /* first epoch of the live delta; == next_epoch when empty */
	uint64_t applied, written, durable;

	struct coord_op *ops;
	uint32_t ops_cap, ops_head, ops_len;
	uint32_t ndelta; /* delta flushes in the ring: frozen, not yet written */
	uint64_t next_req;
	bool draining;

	struct sl_coord_obj *snapshot;
	bool has_lw;
	struct sl_coord_stamped lw;
	struct sl_coord_view *view; /* cached current view, NULL when stale */
	uint64_t view_seq;
	struct sl_coord_sub *subs;

	struct coord_wlist waiters[3];
	struct sl_waitq stop_waitq;

	bool started, stopping, stopped;
	bool flush_wanted, storage_wanted, stop_flush_requested;
	int failed; /* sticky flush error */
	uint64_t interval_deadline;
	uint64_t park_deadline; /* earliest parked deadline; UINT64_MAX when none */

	struct sl_coord_stats st;
};

/* ---- holders ---- */

static struct sl_coord_obj *obj_new(struct sl_coord *c, uint8_t kind, void *ptr)
{
	struct sl_coord_obj *o = malloc(sizeof(*o));
	if (o == NULL)
		return NULL;
	o->refs = 1;
	o->kind = kind;
	o->ptr = ptr;
	o->dops = c->dops;
	o->fops = c->fops;
	o->arg = kind == OBJ_SNAPSHOT ? c->farg : c->darg;
	return o;
}

static struct sl_coord_obj *obj_ref(struct sl_coord_obj *o)
{
	if (o)
		o->refs++;
	return o;
}

static void obj_unref(struct sl_coord_obj *o)
{
	if (o == NULL || --o->refs > 0)
		return;
	if (o->ptr) {
		if (o->kind == OBJ_SNAPSHOT) {
			if (o->fops->release_snapshot)
				o->fops->release_snapshot(o->arg, o->ptr);
		} else if (o->dops->release) {
			o->dops->release(o->arg, (enum sl_coord_obj_kind)o->kind, o->ptr);
		}
	}
	free(o);
}

/* ---- config ---- */

/* When the flush timer started at now_ns fires. Saturates: a "never"-like interval such as
 * UINT64_MAX must not wrap around to a deadline in the past and flush on every poll. */
static uint64_t interval_deadline(const struct sl_coord *c, uint64_t now_ns)
{
	uint64_t iv = c->cfg.flush_interval_ns;
	return iv > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + iv;
}

void sl_coord_config_default(struct sl_coord_config *cfg)
{
	cfg->queue_capacity = 10000;
	cfg->flush_interval_ns = UINT64_C(10000000000);
	cfg->flush_size_threshold = UINT64_C(64) * 1024 * 1024;
	cfg->max_frozen = 2;
	cfg->view_queue_capacity = 16;
	cfg->poll_budget = 1024;
}

static bool config_valid(const struct sl_coord_config *cfg)
{
	return cfg->queue_capacity >= 1 && cfg->queue_capacity <= SL_COORD_MAX_QUEUE_CAPACITY &&
	       cfg->max_frozen >= 1 && cfg->max_frozen <= SL_COORD_MAX_FROZEN &&
	       cfg->view_queue_capacity >= 1 && cfg->view_queue_capacity <= SL_COORD_MAX_VIEW_QUEUE;
}

/* ---- completions ---- */

static void write_done(struct sl_coord_write *w, int status)
{
	w->status = status;
	w->next = NULL;
	if (w->done)
		w->done(w);
}

/* Completes every write of a detached list with status. */
static void write_list_done(struct sl_coord_write *head, int status)
{
	while (head) {
		struct sl_coord_write *next = head->next;
		write_done(head, status);
		head = next;
	}
}

static void wl_insert(struct coord_wlist *l, struct sl_coord_waiter *w)
{
	/* Waiters nearly always arrive in epoch order, so the scan from the tail is O(1). */
	struct sl_coord_waiter *p = l->tail;
	while (p && p->epoch > w->epoch)
		p = p->prev;
	w->prev = p;
	w->next = p ? p->next : l->head;
	if (w->next)
		w->next->prev = w;
	else
		l->tail = w;
	if (p)
		p->next = w;
	else
		l->head = w;
}

static void wl_remove(struct coord_wlist *l, struct sl_coord_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->next = w->prev = NULL;
	w->armed = false;
}

/* Completes, in epoch order, the waiters of level whose epoch is <= upto (all when upto is
 * UINT64_MAX), with status. */
static void wl_complete(struct sl_coord *c, int level, uint64_t upto, int status)
{
	struct coord_wlist *l = &c->waiters[level];
	struct sl_coord_waiter *w;
	while ((w = l->head) != NULL && w->epoch <= upto) {
		wl_remove(l, w);
		w->status = status;
		if (w->done)
			w->done(w);
	}
}

/* ---- channels ---- */

static void chan_push(struct coord_chan *ch, struct sl_coord_write *w)
{
	w->next = NULL;
	if (ch->qtail)
		ch->qtail->next = w;
	else
		ch->qhead = w;
	ch->qtail = w;
}

/* Moves writes that were waiting for space into the queue while it has room. */
static void chan_admit_parked(struct sl_coord *c, struct coord_chan *ch)
{
	while (ch->phead && ch->nwrites < c->cfg.queue_capacity) {
		struct sl_coord_write *w = ch->phead;
		ch->phead = w->next;
		if (ch->phead == NULL)
			ch->ptail = NULL;
		c->parked--;
		ch->nwrites++;
		c->queued++;
		chan_push(ch, w);
	}
}

static struct sl_coord_write *chan_take_queue(struct sl_coord *c, struct coord_chan *ch)
{
	struct sl_coord_write *head = ch->qhead;
	for (struct sl_coord_write *w = head; w; w = w->next)
		c->queued--;
	ch->qhead = ch->qtail = NULL;
	ch->nwrites = 0;
	return head;
}

static struct sl_coord_write *chan_take_parked(struct sl_coord *c, struct coord_chan *ch)
{
	struct sl_coord_write *head = ch->phead;
	for (struct sl_coord_write *w = head; w; w = w->next)
		c->parked--;
	ch->phead = ch->ptail = NULL;
	return head;
}

/* Fails every queued and parked write with status. Lists are detached first because a done
 * callback may call back into the coordinator. */
static void fail_all_writes(struct sl_coord *c, int status, bool only_paused_queues)
{
	for (uint32_t i = 0; i < c->nchans; i++) {
		struct coord_chan *ch = &c->chans[i];
		struct sl_coord_write *p = only_paused_queues ? NULL : chan_take_parked(c, ch);
		struct sl_coord_write *q =
			(!only_paused_queues || ch->paused) ? chan_take_queue(c, ch) : NULL;
		write_list_done(q, status);
		write_list_done(p, status);
	}
	if (c->parked == 0)
		c->park_deadline = UINT64_MAX;
}

/* Fails parked writes whose deadline passed with SL_ETIMEDOUT. */
static void expire_parked(struct sl_coord *c, uint64_t now_ns)
{
	struct sl_coord_write *expired = NULL, **etail = &expired;
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < c->nchans; i++) {
		struct coord_chan *ch = &c->chans[i];
		struct sl_coord_write **pp = &ch->phead, *w;
		ch->ptail = NULL;
		while ((w = *pp) != NULL) {
			if (w->deadline_ns <= now_ns) {
				*pp = w->next;
				w->next = NULL;
				*etail = w;
				etail = &w->next;
				c->parked--;
				c->st.timeouts++;
			} else {
				if (w->deadline_ns < next)
					next = w->deadline_ns;
				ch->ptail = w;
				pp = &w->next;
			}
		}
	}
	c->park_deadline = next;
	write_list_done(expired, SL_ETIMEDOUT);
}

/* ---- views ---- */

static struct coord_op *op_at(struct sl_coord *c, uint32_t i)
{
	return &c->ops[(c->ops_head + i) % c->ops_cap];
}

static struct sl_coord_view *view_build(struct sl_coord *c)
{
	struct sl_coord_view *v =
		malloc(sizeof(*v) + (size_t)c->ndelta * sizeof(struct sl_coord_stamped));
	if (v == NULL)
		return NULL;
	v->refs = 1;
	v->seq = ++c->view_seq;
	v->current_obj = obj_ref(c->reader);
	v->current = c->reader ? c->reader->ptr : NULL;
	v->snapshot_obj = obj_ref(c->snapshot);
	v->snapshot = c->snapshot ? c->snapshot->ptr : NULL;
	v->has_last_written = c->has_lw;
	v->last_written = c->lw;
	obj_ref(c->lw.obj);
	uint32_t n = 0;
	/* After a flush failure nothing frozen can be written any more (the failed delta and every
	 * one after it are discarded whatever their result), so they are not shown as pending. */
	for (uint32_t i = c->failed ? 0 : c->ops_len; i-- > 0;) {
		struct coord_op *op = op_at(c, i);
		if (op->type != OP_DELTA)
			continue;
		v->frozen[n].val = op->fview->ptr;
		v->frozen[n].epoch_start = op->start;
		v->frozen[n].epoch_end = op->end;
		v->frozen[n].obj = obj_ref(op->fview);
		n++;
	}
	v->nfrozen = n;
	return v;
}

struct sl_coord_view *sl_coord_view_ref(struct sl_coord_view *v)
{
	if (v)
		v->refs++;
	return v;
}

void sl_coord_view_unref(struct sl_coord_view *v)
{
	if (v == NULL || --v->refs > 0)
		return;
	obj_unref(v->current_obj);
	obj_unref(v->snapshot_obj);
	obj_unref(v->last_written.obj);
	for (uint32_t i = 0; i < v->nfrozen; i++)
		obj_unref(v->frozen[i].obj);
	free(v);
}

struct sl_coord_view *sl_coord_view(struct sl_coord *c)
{
	if (c == NULL)
		return NULL;
	if (c->view == NULL)
		c->view = view_build(c);
	return sl_coord_view_ref(c->view);
}

static void sub_drop_queue(struct sl_coord_sub *s)
{
	while (s->count) {
		sl_coord_view_unref(s->q[s->head]);
		s->head = (s->head + 1) % s->cap;
		s->count--;
	}
	s->head = 0;
}

/* The state a view shows changed: drop the cached view and hand a fresh one to subscribers. */
static void publish(struct sl_coord *c)
{
	sl_coord_view_unref(c->view);
	c->view = NULL;
	c->st.views_published++;
	if (c->subs == NULL)
		return;
	struct sl_coord_view *v = sl_coord_view(c);
	for (struct sl_coord_sub *s = c->subs; s; s = s->next) {
		if (s->lost)
			continue;
		if (v == NULL || s->count == s->cap) {
			/* Out of memory counts as falling behind: the subscriber re-subscribes and
			 * reads the current view, which is all it needs. */
			s->lost = true;
			sub_drop_queue(s);
			c->st.subscribers_lost++;
		} else {
			s->q[(s->head + s->count) % s->cap] = sl_coord_view_ref(v);
			s->count++;
		}
		sl_waitq_wake_all(&s->waitq);
	}
	sl_coord_view_unref(v);
}

/* ---- deltas and flushes ---- */

static int install_delta(struct sl_coord *c)
{
	if (c->delta)
		return 0;
	struct sl_coord_obj *o = obj_new(c, SL_COORD_OBJ_READER, NULL);
	if (o == NULL)
		return SL_ENOMEM;
	void *d = c->dops->init(c->darg, c->ctx);
	if (d == NULL) {
		free(o);
		return SL_ENOMEM;
	}
	c->ctx = NULL;
	c->delta = d;
	o->ptr = c->dops->reader ? c->dops->reader(c->darg, d) : NULL;
	obj_unref(c->reader);
	c->reader = o;
	return 0;
}

static struct coord_op *op_push(struct sl_coord *c, uint8_t type)
{
	struct coord_op *op = &c->ops[(c->ops_head + c->ops_len) % c->ops_cap];
	c->ops_len++;
	memset(op, 0, sizeof(*op));
	op->type = type;
	op->req_id = c->next_req++;
	return op;
}

static void fail(struct sl_coord *c, int rc)
{
	if (c->failed)
		return;
	c->failed = rc;
	c->flush_wanted = c->storage_wanted = false;
	/* The frozen deltas leave the view now, before any waiter learns of the failure, so that
	 * no view handed out from here on presents them as on their way to storage. */
	publish(c);
	/* Nothing at or after the failed delta can ever be written, and no write is accepted any
	 * more, so every pending waiter is answered now rather than left hanging. */
	wl_complete(c, SL_DURABILITY_WRITTEN, UINT64_MAX, rc);
	wl_complete(c, SL_DURABILITY_DURABLE, UINT64_MAX, rc);
	wl_complete(c, SL_DURABILITY_APPLIED, UINT64_MAX, rc);
	fail_all_writes(c, rc, false);
}

static void process_ops(struct sl_coord *c);
static void complete_op(struct sl_coord *c, struct coord_op *op, int rc, void *snapshot);

/* Issues the storage flush at the head of the ring, if it is not issued yet. */
static bool issue_head_storage(struct sl_coord *c)
{
	if (c->ops_len == 0 || c->failed)
		return false;
	struct coord_op *op = op_at(c, 0);
	if (op->type != OP_STORAGE || op->issued)
		return false;
	op->issued = true;
	c->st.storage_flushes++;
	int rc = c->fops->flush_storage(c->farg, op->req_id);
	if (rc != 0 && !op->done)
		complete_op(c, op, rc, NULL);
	return true;
}

static void push_storage(struct sl_coord *c)
{
	if (c->ops_len > 0 && op_at(c, c->ops_len - 1)->type == OP_STORAGE)
		return; /* the tail storage flush already covers everything applied */
	op_push(c, OP_STORAGE);
	process_ops(c);
}

/* Freezes the live delta and issues its flush if a flush is wanted and allowed. */
static void try_freeze(struct sl_coord *c, uint64_t now_ns)
{
	if (!c->flush_wanted)
		return;
	if (c->failed) {
		c->flush_wanted = c->storage_wanted = false;
		return;
	}
	if (c->next_epoch == c->delta_start) {
		/* No new writes: nothing to freeze, but an explicit storage flush still runs. */
		c->flush_wanted = false;
		if (c->storage_wanted) {
			c->storage_wanted = false;
			push_storage(c);
		}
		return;
	}
	if (c->ndelta >= c->cfg.max_frozen || c->delta == NULL)
		return;
	struct sl_coord_obj *fv = obj_new(c, SL_COORD_OBJ_FROZEN_VIEW, NULL);
	if (fv == NULL)
		return;
	struct sl_coord_frozen_out out = {0};
	if (c->dops->freeze(c->darg, c->delta, &out) != 0) {
		free(fv);
		return;
	}
	fv->ptr = out.view;
	c->delta = NULL;
	c->ctx = out.ctx;
	uint64_t start = c->delta_start, end = c->next_epoch;
	c->delta_start = end;
	c->flush_wanted = false;
	if (c->cfg.flush_interval_ns)
		c->interval_deadline = interval_deadline(c, now_ns);
	/* A failed init leaves no live delta; poll retries it before applying anything. */
	if (install_delta(c) != 0) {
		obj_unref(c->reader);
		c->reader = NULL;
	}

	struct coord_op *op = op_push(c, OP_DELTA);
	op->start = start;
	op->end = end;
	op->fview = fv;
	op->issued = true;
	uint64_t req = op->req_id;
	c->ndelta++;
	c->st.flushes++;
	/* Publish before the flusher sees the delta, so that the view its completion updates
	 * already lists this frozen delta. */
	publish(c);
	if (c->storage_wanted) {
		c->storage_wanted = false;
		push_storage(c);
	}
	/* Last: the flusher may complete the request from inside this call. */
	int rc = c->fops->flush_delta(c->farg, req, out.frozen, start, end);
	if (rc != 0) {
		for (uint32_t i = 0; i < c->ops_len; i++) {
			struct coord_op *o = op_at(c, i);
			if (o->req_id == req && !o->done) {
				complete_op(c, o, rc, NULL);
				break;
			}
		}
	}
}

static void stop_progress(struct sl_coord *c, uint64_t now_ns);

/* Applies results from the head of the ring while they are complete, in epoch order. */
static void process_ops(struct sl_coord *c)
{
	if (c->draining)
		return; /* an inline completion; the outer loop picks it up */
	c->draining = true;
	for (;;) {
		while (c->ops_len > 0) {
			struct coord_op *head = op_at(c, 0);
			if (!head->done && !(c->failed && !head->issued))
				break;
			struct coord_op op = *head;
			c->ops_head = (c->ops_head + 1) % c->ops_cap;
			c->ops_len--;
			if (op.type == OP_DELTA)
				c->ndelta--;
			if (c->failed || op.rc != 0) {
				if (op.rc != 0)
					fail(c, op.rc);
				if (op.snapshot && c->fops->release_snapshot)
					c->fops->release_snapshot(c->farg, op.snapshot);
				obj_unref(op.fview);
				continue;
			}
			if (op.type == OP_DELTA) {
				if (op.snapshot) {
					struct sl_coord_obj *s =
						obj_new(c, OBJ_SNAPSHOT, op.snapshot);
					if (s) {
						obj_unref(c->snapshot);
						c->snapshot = s;
					} else if (c->fops->release_snapshot) {
						c->fops->release_snapshot(c->farg, op.snapshot);
					}
				}
				obj_unref(c->lw.obj);
				c->lw.obj = op.fview;
				c->lw.val = op.fview->ptr;
				c->lw.epoch_start = op.start;
				c->lw.epoch_end = op.end;
				c->has_lw = true;
				/* View first, watermark second: a woken waiter reads a view that
				 * already holds what it waited for. */
				publish(c);
				c->written = op.end - 1;
				wl_complete(c, SL_DURABILITY_WRITTEN, c->written, 0);
			} else {
				c->durable = c->written;
				wl_complete(c, SL_DURABILITY_DURABLE, c->durable, 0);
			}
		}
		if (!issue_head_storage(c))
			break;
	}
	c->draining = false;
}

static void complete_op(struct sl_coord *c, struct coord_op *op, int rc, void *snapshot)
{
	op->done = true;
	op->rc = rc;
	op->snapshot = snapshot;
	if (rc != 0)
		c->st.flush_errors++;
	process_ops(c);
}

int sl_coord_flush_complete(struct sl_coord *c, uint64_t req_id, int rc, void *snapshot,
			    uint64_t now_ns)
{
	if (c == NULL || rc > 0)
		return SL_EINVAL;
	for (uint32_t i = 0; i < c->ops_len; i++) {
		struct coord_op *op = op_at(c, i);
		if (op->req_id != req_id)
			continue;
		if (!op->issued || op->done)
			return SL_ENOTFOUND;
		/* A storage flush carries no snapshot (the view's snapshot is the one of the last
		 * written delta), and a failure has none to adopt: either is released at once. */
		if ((rc != 0 || op->type == OP_STORAGE) && snapshot && c->fops->release_snapshot) {
			c->fops->release_snapshot(c->farg, snapshot);
			snapshot = NULL;
		}
		complete_op(c, op, rc, snapshot);
		stop_progress(c, now_ns);
		return 0;
	}
	return SL_ENOTFOUND;
}

/* ---- lifecycle ---- */

int sl_coord_new(const struct sl_coord_config *cfg, const struct sl_coord_env *env,
		 struct sl_coord **out)
{
	if (out)
		*out = NULL;
	if (cfg == NULL || env == NULL || out == NULL || !config_valid(cfg))
		return SL_EINVAL;
	const struct sl_coord_delta_ops *d = env->delta_ops;
	const struct sl_coord_flusher_ops *f = env->flusher_ops;
	if (d == NULL || !d->init || !d->apply || !d->estimate_size || !d->freeze || f == NULL ||
	    !f->flush_delta || !f->flush_storage)
		return SL_EINVAL;
	if (env->channels == NULL || env->nchannels == 0 || env->nchannels > SL_COORD_MAX_CHANNELS)
		return SL_EINVAL;
	for (uint32_t i = 0; i < env->nchannels; i++) {
		const char *n = env->channels[i];
		if (n == NULL || n[0] == '\0' || strlen(n) > SL_COORD_MAX_CHANNEL_NAME)
			return SL_EINVAL;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(n, env->channels[j]) == 0)
				return SL_EDUP;
	}

	struct sl_coord *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return SL_ENOMEM;
	c->cfg = *cfg;
	c->dops = d;
	c->darg = env->delta_arg;
	c->fops = f;
	c->farg = env->flusher_arg;
	c->nchans = env->nchannels;
	c->chans = calloc(c->nchans, sizeof(*c->chans));
	c->ops_cap = 2 * cfg->max_frozen + 2;
	c->ops = calloc(c->ops_cap, sizeof(*c->ops));
	if (c->chans == NULL || c->ops == NULL)
		goto nomem;
	for (uint32_t i = 0; i < c->nchans; i++)
		strcpy(c->chans[i].name, env->channels[i]);
	/* Epoch 0 means "nothing yet" for every watermark, so the first write gets 1. */
	c->next_epoch = c->delta_start = 1;
	c->next_req = 1;
	c->park_deadline = UINT64_MAX;
	sl_waitq_init(&c->stop_waitq);
	if (env->initial_snapshot) {
		c->snapshot = obj_new(c, OBJ_SNAPSHOT, env->initial_snapshot);
		if (c->snapshot == NULL)
			goto nomem;
	}
	/* Last, so that on any failure the context and the snapshot are still the caller's. */
	c->ctx = env->initial_ctx;
	if (install_delta(c) != 0)
		goto nomem;
	*out = c;
	return 0;
nomem:
	free(c->snapshot); /* the holder only: the snapshot goes back to the caller */
	free(c->ops);
	free(c->chans);
	free(c);
	return SL_ENOMEM;
}

void sl_coord_free(struct sl_coord *c)
{
	if (c == NULL)
		return;
	c->stopping = c->stopped = true;
	fail_all_writes(c, SL_ECLOSED, false);
	for (int l = 0; l < 3; l++)
		wl_complete(c, l, UINT64_MAX, SL_ECLOSED);
	sl_waitq_wake_all(&c->stop_waitq);
	while (c->subs) {
		struct sl_coord_sub *s = c->subs;
		sl_coord_unsubscribe(s);
	}
	for (uint32_t i = 0; i < c->ops_len; i++) {
		struct coord_op *op = op_at(c, i);
		obj_unref(op->fview);
		if (op->snapshot && c->fops->release_snapshot)
			c->fops->release_snapshot(c->farg, op->snapshot);
	}
	sl_coord_view_unref(c->view);
	obj_unref(c->reader);
	obj_unref(c->snapshot);
	obj_unref(c->lw.obj);
	if (c->dops->release) {
		if (c->delta)
			c->dops->release(c->darg, SL_COORD_OBJ_DELTA, c->delta);
		else if (c->ctx)
			c->dops->release(c->darg, SL_COORD_OBJ_CONTEXT, c->ctx);
	}
	free(c->ops);
	free(c->chans);
	free(c);
}

int sl_coord_channel(const struct sl_coord *c, const char *name)
{
	if (c == NULL || name == NULL)
		return SL_EINVAL;
	for (uint32_t i = 0; i < c->nchans; i++)
		if (strcmp(c->chans[i].name, name) == 0)
			return (int)i;
	return SL_ENOTFOUND;
}

int sl_coord_start(struct sl_coord *c, uint64_t now_ns)
{
	if (c == NULL)
		return SL_EINVAL;
	if (c->stopping)
		return SL_ECLOSED;
	if (!c->started) {
		c->started = true;
		c->interval_deadline = interval_deadline(c, now_ns);
	}
	return 0;
}

/* ---- writers ---- */

static int check_submit(struct sl_coord *c, int ch, struct sl_coord_write *w)
{
	if (c == NULL || w == NULL || ch < 0 || (uint32_t)ch >= c->nchans)
		return SL_EINVAL;
	if (c->failed)
		return c->failed;
	if (c->stopping)
		return SL_ECLOSED;
	return 0;
}

static void enqueue(struct sl_coord *c, struct coord_chan *ch, struct sl_coord_write *w,
		    uint8_t kind)
{
	w->kind = kind;
	w->status = SL_EAGAIN;
	w->epoch = 0;
	w->result = 0;
	if (kind == KIND_WRITE)
		ch->nwrites++;
	c->queued++;
	chan_push(ch, w);
}

int sl_coord_try_write(struct sl_coord *c, int ch, struct sl_coord_write *w)
{
	int rc = check_submit(c, ch, w);
	if (rc != 0)
		return rc;
	struct coord_chan *chan = &c->chans[ch];
	/* Parked writes came first: a try_write must not overtake them. */
	if (chan->nwrites >= c->cfg.queue_capacity || chan->phead) {
		c->st.backpressured++;
		return SL_ENOSPC;
	}
	enqueue(c, chan, w, KIND_WRITE);
	return 0;
}

int sl_coord_write(struct sl_coord *c, int ch, struct sl_coord_write *w, uint64_t deadline_ns,
		   uint64_t now_ns)
{
	int rc = check_submit(c, ch, w);
	if (rc != 0)
		return rc;
	struct coord_chan *chan = &c->chans[ch];
	if (chan->nwrites < c->cfg.queue_capacity && chan->phead == NULL) {
		enqueue(c, chan, w, KIND_WRITE);
		return 0;
	}
	if (deadline_ns <= now_ns) {
		c->st.timeouts++;
		return SL_ETIMEDOUT;
	}
	w->kind = KIND_WRITE;
	w->status = SL_EAGAIN;
	w->epoch = 0;
	w->result = 0;
	w->deadline_ns = deadline_ns;
	w->next = NULL;
	if (chan->ptail)
		chan->ptail->next = w;
	else
		chan->phead = w;
	chan->ptail = w;
	c->parked++;
	if (deadline_ns < c->park_deadline)
		c->park_deadline = deadline_ns;
	return 0;
}

int sl_coord_flush(struct sl_coord *c, int ch, struct sl_coord_write *w, bool flush_storage)
{
	int rc = check_submit(c, ch, w);
	if (rc != 0)
		return rc;
	/* Not counted against the capacity: a flush command holds no payload, and refusing it
	 * under backpressure would stop the very thing that relieves the pressure. */
	enqueue(c, &c->chans[ch], w, flush_storage ? KIND_FLUSH_STORAGE : KIND_FLUSH);
	return 0;
}

int sl_coord_pause(struct sl_coord *c, int ch, bool paused)
{
	if (c == NULL || ch < 0 || (uint32_t)ch >= c->nchans)
		return SL_EINVAL;
	c->chans[ch].paused = paused;
	return 0;
}

/* ---- the drain loop ---- */

static void apply_write(struct sl_coord *c, struct sl_coord_write *w)
{
	uint64_t e = c->next_epoch++;
	w->epoch = e;
	int rc = c->dops->apply(c->darg, c->delta, w);
	c->applied = e;
	c->st.writes_applied++;
	if (rc != 0)
		c->st.apply_errors++;
	write_done(w, rc);
	if (c->waiters[SL_DURABILITY_APPLIED].head)
		wl_complete(c, SL_DURABILITY_APPLIED, e, 0);
	if (c->delta && c->dops->estimate_size(c->darg, c->delta) >= c->cfg.flush_size_threshold)
		c->flush_wanted = true;
}

/* Applies queue entries round-robin until the budget is spent, the queues are empty, or a due
 * flush cannot start. Returns true when entries are left because the budget ran out. */
static bool drain(struct sl_coord *c, uint64_t now_ns, uint32_t budget)
{
	while (c->queued > 0) {
		if (c->flush_wanted) {
			try_freeze(c, now_ns);
			if (c->flush_wanted) {
				c->st.flush_stalls++;
				return false;
			}
		}
		if (c->delta == NULL || c->failed)
			return false;
		struct coord_chan *ch = NULL;
		for (uint32_t i = 0; i < c->nchans; i++) {
			uint32_t idx = c->rr + i;
			if (idx >= c->nchans)
				idx -= c->nchans;
			if (c->chans[idx].qhead && !c->chans[idx].paused) {
				ch = &c->chans[idx];
				c->rr = idx + 1 == c->nchans ? 0 : idx + 1;
				break;
			}
		}
		if (ch == NULL)
			return false;
		if (budget-- == 0)
			return true;
		struct sl_coord_write *w = ch->qhead;
		ch->qhead = w->next;
		if (ch->qhead == NULL)
			ch->qtail = NULL;
		c->queued--;
		if (w->kind == KIND_WRITE) {
			ch->nwrites--;
			if (ch->phead)
				chan_admit_parked(c, ch);
			apply_write(c, w);
		} else {
			w->epoch = c->next_epoch - 1;
			c->flush_wanted = true;
			if (w->kind == KIND_FLUSH_STORAGE)
				c->storage_wanted = true;
			write_done(w, 0);
			try_freeze(c, now_ns);
		}
	}
	if (c->flush_wanted)
		try_freeze(c, now_ns);
	return false;
}

static void stop_progress(struct sl_coord *c, uint64_t now_ns)
{
	if (!c->stopping || c->stopped)
		return;
	/* A channel paused during the stop is never drained: its writes are refused. */
	fail_all_writes(c, SL_ECLOSED, true);
	if (c->queued > 0)
		return;
	if (!c->failed && !c->stop_flush_requested) {
		/* Unlike the reference, the stop ends with a storage flush: everything applied is
		 * durable when the stop reports success. */
		c->stop_flush_requested = true;
		c->flush_wanted = true;
		c->storage_wanted = c->durable < c->applied;
	}
	if (c->flush_wanted)
		try_freeze(c, now_ns);
	if (c->flush_wanted || c->ops_len > 0)
		return;
	c->stopped = true;
	int rc = c->failed ? c->failed : SL_ECLOSED;
	for (int l = 0; l < 3; l++)
		wl_complete(c, l, UINT64_MAX, rc);
	sl_waitq_wake_all(&c->stop_waitq);
	for (struct sl_coord_sub *s = c->subs; s; s = s->next)
		sl_waitq_wake_all(&s->waitq);
}

uint64_t sl_coord_poll(struct sl_coord *c, uint64_t now_ns)
{
	if (c == NULL)
		return UINT64_MAX;
	/* Deadlines run even before start: a writer waiting for space times out whether or not
	 * the coordinator drains. */
	if (c->parked && now_ns >= c->park_deadline)
		expire_parked(c, now_ns);
	if (!c->started || c->stopped)
		return c->parked ? c->park_deadline : UINT64_MAX;
	if (c->delta == NULL && !c->failed && install_delta(c) == 0)
		publish(c);
	bool has_writes = c->next_epoch != c->delta_start;
	if (c->cfg.flush_interval_ns && now_ns >= c->interval_deadline) {
		if (has_writes)
			c->flush_wanted = true;
		else
			c->interval_deadline = interval_deadline(c, now_ns);
	}
	try_freeze(c, now_ns);
	bool more = drain(c, now_ns, c->cfg.poll_budget ? c->cfg.poll_budget : UINT32_MAX);
	stop_progress(c, now_ns);
	if (more || (c->delta == NULL && !c->failed && !c->stopped))
		return now_ns;
	uint64_t next = UINT64_MAX;
	/* A flush that is already due (stalled on max_frozen) waits for a completion, not a timer.
	 */
	if (c->cfg.flush_interval_ns && c->next_epoch != c->delta_start && !c->flush_wanted &&
	    !c->stopped)
		next = c->interval_deadline;
	if (c->parked && c->park_deadline < next)
		next = c->park_deadline;
	return next;
}

int sl_coord_stop(struct sl_coord *c, struct sl_waiter *w, uint64_t now_ns)
{
	if (c == NULL)
		return SL_EINVAL;
	if (!c->stopping) {
		c->stopping = true;
		if (!c->started) {
			c->started = true;
			c->interval_deadline = interval_deadline(c, now_ns);
		}
		/* Writes still waiting for queue space were never accepted: refuse them now. */
		for (uint32_t i = 0; i < c->nchans; i++)
			write_list_done(chan_take_parked(c, &c->chans[i]), SL_ECLOSED);
		c->park_deadline = UINT64_MAX;
	}
	if (!c->stopped)
		sl_coord_poll(c, now_ns);
	if (c->stopped)
		return c->failed ? c->failed : 0;
	sl_waitq_add(&c->stop_waitq, w);
	return SL_EAGAIN;
}

/* ---- waiters ---- */

int sl_coord_wait(struct sl_coord *c, struct sl_coord_waiter *w, uint64_t epoch,
		  enum sl_coord_durability level)
{
	if (c == NULL || w == NULL || (unsigned)level > SL_DURABILITY_DURABLE)
		return SL_EINVAL;
	uint64_t mark = level == SL_DURABILITY_APPLIED	 ? c->applied
			: level == SL_DURABILITY_WRITTEN ? c->written
							 : c->durable;
	w->armed = false;
	if (epoch <= mark) {
		w->status = 0;
		return 0;
	}
	if (c->failed) {
		w->status = c->failed;
		return c->failed;
	}
	if (c->stopped) {
		w->status = SL_ECLOSED;
		return SL_ECLOSED;
	}
	w->epoch = epoch;
	w->level = (uint8_t)level;
	w->status = SL_EAGAIN;
	w->armed = true;
	wl_insert(&c->waiters[level], w);
	return SL_EAGAIN;
}

void sl_coord_wait_cancel(struct sl_coord *c, struct sl_coord_waiter *w)
{
	if (c == NULL || w == NULL || !w->armed)
		return;
	wl_remove(&c->waiters[w->level], w);
}

void sl_coord_watermarks(const struct sl_coord *c, uint64_t *applied, uint64_t *written,
			 uint64_t *durable)
{
	if (applied)
		*applied = c->applied;
	if (written)
		*written = c->written;
	if (durable)
		*durable = c->durable;
}

/* ---- subscribers ---- */

int sl_coord_subscribe(struct sl_coord *c, struct sl_coord_sub *s, struct sl_coord_view **initial)
{
	if (c == NULL || s == NULL)
		return SL_EINVAL;
	if (initial)
		*initial = NULL;
	struct sl_coord_view **q = calloc(c->cfg.view_queue_capacity, sizeof(*q));
	if (q == NULL)
		return SL_ENOMEM;
	struct sl_coord_view *v = NULL;
	if (initial) {
		v = sl_coord_view(c);
		if (v == NULL) {
			free(q);
			return SL_ENOMEM;
		}
	}
	s->c = c;
	s->q = q;
	s->cap = c->cfg.view_queue_capacity;
	s->head = s->count = 0;
	s->lost = false;
	sl_waitq_init(&s->waitq);
	s->next = c->subs;
	if (c->subs)
		c->subs->pprev = &s->next;
	s->pprev = &c->subs;
	c->subs = s;
	if (initial)
		*initial = v;
	return 0;
}

int sl_coord_sub_recv(struct sl_coord_sub *s, struct sl_waiter *w, struct sl_coord_view **out)
{
	if (s == NULL || out == NULL || s->c == NULL)
		return SL_ECLOSED;
	if (s->lost)
		return SL_ELOST;
	if (s->count > 0) {
		*out = s->q[s->head];
		s->head = (s->head + 1) % s->cap;
		s->count--;
		return 0;
	}
	if (s->c->stopped)
		return SL_EEOF;
	sl_waitq_add(&s->waitq, w);
	return SL_EAGAIN;
}

void sl_coord_unsubscribe(struct sl_coord_sub *s)
{
	if (s == NULL || s->c == NULL)
		return;
	*s->pprev = s->next;
	if (s->next)
		s->next->pprev = s->pprev;
	sub_drop_queue(s);
	free(s->q);
	s->q = NULL;
	s->c = NULL;
	s->next = NULL;
	s->pprev = NULL;
	/* Nothing will ever be published to it again: let armed waiters see that. */
	sl_waitq_wake_all(&s->waitq);
}

void sl_coord_stats(const struct sl_coord *c, struct sl_coord_stats *out)
{
	*out = c->st;
	out->frozen_in_flight = c->ndelta;
	out->queued = c->queued;
}

#define T struct sl_coord_stats
const struct sl_stat_field sl_coord_stats_fields[] = {
	SL_STAT_U(T, writes_applied, NULL),
	SL_STAT_U(T, apply_errors, NULL),
	SL_STAT_U(T, backpressured, NULL),
	SL_STAT_U(T, timeouts, NULL),
	SL_STAT_U(T, flushes, NULL),
	SL_STAT_U(T, storage_flushes, NULL),
	SL_STAT_U(T, flush_errors, NULL),
	SL_STAT_U(T, flush_stalls, NULL),
	SL_STAT_U(T, views_published, NULL),
	SL_STAT_U(T, subscribers_lost, NULL),
	SL_STAT_G(T, frozen_in_flight, NULL),
	SL_STAT_G(T, queued, NULL),
	SL_STAT_TABLE_END,
};
#undef T
