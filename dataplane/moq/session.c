/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session core: lifecycle, the stream table, transport writes, the stream parser that
 * dispatches each message to the part that owns its stream kind, and poll. The parts share the
 * state in moq/session_int.h.
 */
#include "moq/session_int.h"

static const char *const msg_names[SL_MOQ_MSG_COUNT] = {
	"announce_interest",
	"announce",
	"subscribe",
	"subscribe_update",
	"subscribe_ok",
	"subscribe_drop",
	"group",
	"frame",
	"fetch",
	"probe",
	"goaway",
};

const char *sl_moq_msg_name(enum sl_moq_msg m)
{
	return (unsigned)m < SL_MOQ_MSG_COUNT ? msg_names[m] : "?";
}

void sl_moq_session_config_default(struct sl_moq_session_config *c)
{
	memset(c, 0, sizeof(*c));
	c->publish_prefix = "";
	c->max_inflight_bytes = UINT64_C(4) << 20;
	c->max_frame_bytes = UINT64_C(16) << 20;
	c->max_streams = 65536;
	c->max_subscriptions = 4096;
}

void sl_moq_subscribe_options_default(struct sl_moq_subscribe_options *o)
{
	memset(o, 0, sizeof(*o));
}

/* ---- small helpers ---- */

static void task_unlink(struct task *t)
{
	if (t->pprev == NULL)
		return;
	*t->pprev = t->next;
	if (t->next)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

static void task_push(struct tlist *l, struct task *t)
{
	task_unlink(t);
	t->next = l->head;
	if (l->head)
		l->head->pprev = &t->next;
	t->pprev = &l->head;
	l->head = t;
}

static void task_init(struct task *t, struct sl_moq_session *s, void (*run)(struct task *))
{
	t->next = NULL;
	t->pprev = NULL;
	t->run = run;
	t->s = s;
}

/* Queues t to run at the next poll, telling the owner the first time since its last poll. */
static void ready_push(struct sl_moq_session *s, struct task *t)
{
	task_push(&s->ready, t);
	if (s->on_ready && !s->signalled) {
		s->signalled = true;
		s->on_ready(s->ready_arg);
	}
}

static bool local_stream(const struct sl_moq_session *s, int64_t id)
{
	return ((id & 1) != 0) == s->cfg.server;
}

static bool uni_stream(int64_t id)
{
	return (id & 2) != 0;
}

/* Maps a reset code from the peer to the error a local reader sees. */
static int err_from_code(uint64_t code)
{
	switch (code) {
	case SL_MOQ_ERR_NOT_FOUND:
		return SL_ENOTFOUND;
	case SL_MOQ_ERR_DROPPED:
		return SL_EDROPPED;
	case SL_MOQ_ERR_CLOSED:
		return SL_ECLOSED;
	case SL_MOQ_ERR_DECODE:
		return SL_ECORRUPT;
	case SL_MOQ_ERR_OLD:
	case SL_MOQ_ERR_TIMEOUT:
		return SL_ETIMEDOUT;
	case SL_MOQ_ERR_CACHE_FULL:
		return SL_ELOST;
	default:
		return SL_ECANCEL;
	}
}

static char *str_dup(struct sl_moq_str m)
{
	char *p = malloc(m.len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, m.p, m.len);
	p[m.len] = '\0';
	return p;
}

static bool str_has_nul(struct sl_moq_str m)
{
	return m.len > 0 && memchr(m.p, '\0', m.len) != NULL;
}

/* Normalises a path into a new string; NULL on a bad path or allocation failure. */
static char *path_norm(const char *in, size_t n)
{
	char *out = malloc(n + 1);
	size_t len;
	if (out && sl_path_normalize(in, n, out, &len) != 0) {
		free(out);
		out = NULL;
	}
	return out;
}

/* prefix + "/" + suffix, normalised. */
static char *path_join(const char *prefix, const char *suffix, size_t slen)
{
	size_t plen = strlen(prefix);
	char *tmp = malloc(plen + slen + 2);
	if (tmp == NULL)
		return NULL;
	memcpy(tmp, prefix, plen);
	tmp[plen] = '/';
	memcpy(tmp + plen + 1, suffix, slen);
	char *out = path_norm(tmp, plen + slen + 1);
	free(tmp);
	return out;
}

/* ---- transport writes ---- */

/*
 * Copies small bytes (stream types, control messages, frame headers) into a shared arena
 * buffer and writes a slice of it, so a frame header costs no allocation: each slice holds its
 * own reference on the arena, which is replaced once full. Bytes already handed out are never
 * written again.
 */
static int tx(struct sl_moq_session *s, struct stream *st, const void *p, size_t n, bool fin)
{
	struct sl_slice sl = {NULL, 0, 0};
	if (s->closed || st->tx_done)
		return SL_ECLOSED;
	if (n > 0) {
		struct sl_buf *a = s->arena;
		if (a == NULL || a->cap - a->len < n) {
			struct sl_buf *na = sl_buf_alloc(n > ARENA_CAP ? n : ARENA_CAP);
			if (na == NULL)
				return SL_ENOMEM;
			sl_buf_unref(a);
			s->arena = a = na;
		}
		memcpy(a->data + a->len, p, n);
		sl = (struct sl_slice){sl_buf_ref(a), a->len, (uint32_t)n};
		a->len += (uint32_t)n;
	}
	s->st.bytes_out += n;
	if (fin)
		st->tx_done = true;
	return s->ops.write(s->t, st->id, sl, fin);
}

static int tx_payload(struct sl_moq_session *s, struct stream *st, struct sl_slice f)
{
	if (s->closed || st->tx_done)
		return SL_ECLOSED;
	s->st.bytes_out += f.len;
	s->st.payload_out += f.len;
	f.buf = sl_buf_ref(f.buf);
	return s->ops.write(s->t, st->id, f, false);
}

/* Writes one frame (size header, then the payload by reference) on a group or fetch stream. */
static int tx_frame(struct sl_moq_session *s, struct stream *st, struct sl_slice f)
{
	uint8_t hdr[8];
	struct sl_writer w;
	sl_writer_init(&w, hdr, sizeof(hdr));
	sl_moq_encode_frame_header(&w, f.len);
	s->st.msgs_out[SL_MOQ_MSG_FRAME]++;
	int rc = tx(s, st, hdr, sl_writer_len(&w), false);
	if (rc == 0 && f.len > 0)
		rc = tx_payload(s, st, f);
	return rc;
}

/* ---- stream table ---- */

static void stream_release(struct sl_moq_session *s, struct stream *st);

static struct stream *stream_new(struct sl_moq_session *s, int64_t id, uint8_t kind)
{
	if (s->nstreams >= s->cfg.max_streams)
		return NULL;
	struct stream *st = calloc(1, sizeof(*st));
	if (st == NULL)
		return NULL;
	st->id = id;
	st->kind = kind;
	if (sl_u64map_insert(&s->streams, (uint64_t)id, (uint64_t)(uintptr_t)st) != 0) {
		free(st);
		return NULL;
	}
	st->next = s->all;
	if (s->all)
		s->all->pprev = &st->next;
	st->pprev = &s->all;
	s->all = st;
	s->nstreams++;
	return st;
}

static struct stream *stream_find(struct sl_moq_session *s, int64_t id)
{
	uint64_t v;
	if (id < 0 || !sl_u64map_get(&s->streams, (uint64_t)id, &v))
		return NULL;
	return (struct stream *)(uintptr_t)v;
}

/* Opens a local stream of kind. Returns 0, SL_EBUSY, SL_ENOMEM or a transport error. */
static int stream_open(struct sl_moq_session *s, bool bidi, uint8_t kind, struct stream **out)
{
	int64_t id;
	int rc = s->ops.open_stream(s->t, bidi, &id);
	if (rc != 0)
		return rc;
	struct stream *st = stream_new(s, id, kind);
	if (st == NULL) {
		s->ops.reset(s->t, id, SL_MOQ_ERR_CANCEL);
		return SL_ENOMEM;
	}
	st->rx_done = !bidi; /* nothing ever arrives on a local uni stream */
	s->st.streams_out++;
	*out = st;
	return 0;
}

static void group_out_unlink(struct stream *st)
{
	if (st->u.go.pprev) {
		*st->u.go.pprev = st->u.go.next;
		if (st->u.go.next)
			st->u.go.next->u.go.pprev = st->u.go.pprev;
		st->u.go.pprev = NULL;
		st->u.go.next = NULL;
	}
	st->u.go.d = NULL;
}

/*
 * Removes a stream from the table and drops what it holds. The memory itself is freed at the
 * end of the outermost API call, because the caller may still be walking the stream's bytes.
 */
static void stream_release(struct sl_moq_session *s, struct stream *st)
{
	if (st->dead)
		return;
	st->dead = true;
	sl_u64map_remove(&s->streams, (uint64_t)st->id);
	*st->pprev = st->next;
	if (st->next)
		st->next->pprev = st->pprev;
	s->nstreams--;
	if (st->g) {
		/* A group still being received is incomplete: readers must see an error. */
		if (sl_group_state(st->g) == 0)
			sl_group_abort(st->g, SL_EDROPPED);
		sl_group_unref(st->g);
		st->g = NULL;
	}
	sl_buf_unref(st->fbuf);
	st->fbuf = NULL;
	if (st->trk) {
		sl_track_unref(st->trk);
		st->trk = NULL;
	}
	switch (st->kind) {
	case K_ANNOUNCE_IN:
		sl_waiter_cancel(&st->u.ai.w);
		task_unlink(&st->u.ai.task);
		sl_announced_free(st->u.ai.a);
		st->u.ai.a = NULL;
		free(st->u.ai.prefix);
		st->u.ai.prefix = NULL;
		if (st->u.ai.pprev) {
			*st->u.ai.pprev = st->u.ai.next;
			if (st->u.ai.next)
				st->u.ai.next->u.ai.pprev = st->u.ai.pprev;
			st->u.ai.pprev = NULL;
		}
		break;
	case K_ANNOUNCE_OUT:
		free(st->u.ao.prefix);
		st->u.ao.prefix = NULL;
		break;
	case K_FETCH_IN:
		sl_waiter_cancel(&st->u.fi.w);
		task_unlink(&st->u.fi.task);
		sl_group_reader_release(&st->u.fi.r);
		free(st->u.fi.bpath);
		free(st->u.fi.name);
		st->u.fi.bpath = st->u.fi.name = NULL;
		break;
	case K_GROUP_OUT:
		sl_waiter_cancel(&st->u.go.w);
		sl_group_reader_release(&st->u.go.r);
		group_out_unlink(st);
		break;
	default:
		break;
	}
	st->dnext = s->dead;
	s->dead = st;
}

static void dead_flush(struct sl_moq_session *s)
{
	while (s->dead) {
		struct stream *st = s->dead;
		s->dead = st->dnext;
		free(st->rx);
		free(st);
	}
}

static void enter(struct sl_moq_session *s)
{
	/* An owner that polls only on work lends its clock: stream events between polls see
	 * the current time, not that of the last poll. */
	if (s->now_src)
		s->now = *s->now_src;
	s->depth++;
}

static void leave(struct sl_moq_session *s)
{
	if (--s->depth == 0)
		dead_flush(s);
}

/* Releases the stream once both directions are done. */
static void maybe_release(struct sl_moq_session *s, struct stream *st)
{
	if (st->rx_done && st->tx_done)
		stream_release(s, st);
}

static void tx_fin(struct sl_moq_session *s, struct stream *st)
{
	if (!st->tx_done)
		tx(s, st, NULL, 0, true);
	st->tx_done = true;
	maybe_release(s, st);
}

/* Resets both directions of a stream (never used on a probe stream) and releases it. */
static void reset_stream(struct sl_moq_session *s, struct stream *st, uint64_t code)
{
	/* A finished group stream may still hold unacknowledged bytes: resetting it is what
	 * releases them. */
	if (!s->closed && (!st->tx_done || !st->rx_done || st->kind == K_GROUP_OUT)) {
		s->ops.reset(s->t, st->id, code);
		s->st.resets_out++;
	}
	st->tx_done = st->rx_done = true;
	stream_release(s, st);
}

/* ---- session close ---- */

static void session_shutdown(struct sl_moq_session *s);

static void session_close(struct sl_moq_session *s, uint64_t code, const char *reason)
{
	if (s->closed)
		return;
	s->ops.close(s->t, code, reason);
	s->st.close_code = code;
	s->st.closed_locally = true;
	session_shutdown(s);
}

/* ---- announcements received by a client ---- */

static void annq_push(struct sl_moq_session *s, char *path, bool active)
{
	if (s->aqlen == s->aqcap) {
		uint32_t cap = s->aqcap ? s->aqcap * 2 : 8;
		struct annev *q = malloc(cap * sizeof(*q));
		if (q == NULL) {
			free(path);
			return;
		}
		for (uint32_t i = 0; i < s->aqlen; i++)
			q[i] = s->aq[(s->aqhead + i) % s->aqcap];
		free(s->aq);
		s->aq = q;
		s->aqcap = cap;
		s->aqhead = 0;
	}
	s->aq[(s->aqhead + s->aqlen++) % s->aqcap] = (struct annev){path, active};
	sl_waitq_wake_all(&s->awaiters);
}

/* ---- relay: remote broadcasts and upstream subscriptions ---- */

static void usub_free(struct usub *u)
{
	struct sl_moq_session *s = u->s;
	task_unlink(&u->task);
	if (u->st)
		u->st->u.u = NULL;
	sl_u64map_remove(&s->usubs, u->id);
	sl_track_set_unused(u->track, NULL, NULL);
	if (u->rb) {
		s->relay->st.upstreams_active--;
		/* Forget the track, so the next request subscribes afresh; readers keep theirs. */
		sl_broadcast_remove_track(u->rb->b, u->track);
	}
	*u->pprev = u->next;
	if (u->next)
		u->next->pprev = u->pprev;
	s->st.upstreams_active--;
	sl_track_unref(u->track);
	free(u->broadcast);
	free(u->name);
	free(u);
}

/*
 * The upstream subscription is over. err 0: the publisher ended it (or, in a relay, went away:
 * subscribers then see a clean end), so the track finishes and groups in flight may still
 * complete. Otherwise (a reset, e.g. not-found) the track is aborted with err.
 */
static void usub_end(struct usub *u, int err)
{
	if (err == 0)
		sl_track_finish(u->track); /* SL_ECLOSED when already finished: fine */
	else
		sl_track_abort(u->track, err);
	usub_free(u);
}

/*
 * Relay: the track's last reader left (a subscriber on any session, or the cross-worker link).
 * FIN the Subscribe stream; the publisher FINs back and resets its groups in flight, and the
 * track is aborted so that groups still arriving are refused at once.
 */
static void usub_unused(void *arg, struct sl_track *t)
{
	(void)t;
	struct usub *u = arg;
	struct sl_moq_session *s = u->s;
	s->relay->st.upstream_cancels++;
	struct stream *st = u->st;
	sl_track_abort(u->track, SL_ECANCEL);
	usub_free(u);
	if (st)
		tx_fin(s, st);
}

static void remote_end(struct sl_moq_session *s, struct remote *rb)
{
	for (struct usub *u = s->usub_list, *n; u; u = n) {
		n = u->next;
		if (u->rb != rb)
			continue;
		struct stream *st = u->st;
		usub_end(u, 0);
		if (st && !s->closed)
			tx_fin(s, st);
	}
	sl_u64map_remove(&s->relay->remotes, (uint64_t)(uintptr_t)rb->b);
	sl_broadcast_set_provider(rb->b, NULL, NULL);
	sl_broadcast_set_user(rb->b, NULL);
	sl_origin_unpublish(s->relay->origin, rb->b);
	sl_broadcast_unref(rb->b);
	*rb->pprev = rb->next;
	if (rb->next)
		rb->next->pprev = rb->pprev;
	free(rb);
}

static void remotes_end_stream(struct sl_moq_session *s, int64_t ann_id)
{
	for (struct remote *rb = s->remotes, *n; rb; rb = n) {
		n = rb->next;
		if (rb->ann_id == ann_id)
			remote_end(s, rb);
	}
}

static int usub_send(struct usub *u);

static void usub_retry(struct task *t)
{
	struct usub *u = container_of(t, struct usub, task);
	int rc = usub_send(u);
	if (rc == SL_EBUSY)
		task_push(&u->s->blocked, &u->task);
	else if (rc != 0)
		usub_end(u, rc);
}

static struct usub *usub_new(struct sl_moq_session *s, const char *broadcast, const char *name,
			     struct sl_track *track, const struct sl_moq_subscribe_options *o)
{
	struct usub *u = calloc(1, sizeof(*u));
	if (u == NULL)
		return NULL;
	u->broadcast = strdup(broadcast);
	u->name = strdup(name);
	u->id = s->next_sub_id;
	if (u->broadcast == NULL || u->name == NULL ||
	    sl_u64map_insert(&s->usubs, u->id, (uint64_t)(uintptr_t)u) != 0) {
		free(u->broadcast);
		free(u->name);
		free(u);
		return NULL;
	}
	s->next_sub_id++; /* ids are never reused */
	u->s = s;
	u->o = *o;
	u->track = sl_track_ref(track);
	task_init(&u->task, s, usub_retry);
	u->next = s->usub_list;
	if (s->usub_list)
		s->usub_list->pprev = &u->next;
	u->pprev = &s->usub_list;
	s->usub_list = u;
	s->st.upstreams_active++;
	return u;
}

/* Opens the Subscribe stream and sends SUBSCRIBE. Returns 0, SL_EBUSY, or an error. */
static int usub_send(struct usub *u)
{
	struct sl_moq_session *s = u->s;
	struct sl_moq_subscribe m = {
		.id = u->id,
		.broadcast = {(const uint8_t *)u->broadcast, strlen(u->broadcast)},
		.track = {(const uint8_t *)u->name, strlen(u->name)},
		.priority = u->o.priority,
		.ordered = u->o.ordered,
		.max_latency_ms = u->o.max_latency_ms,
		.has_start = u->o.has_start,
		.start = u->o.start,
		.has_end = u->o.has_end,
		.end = u->o.end,
	};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_SUBSCRIBE);
	if (rc == 0)
		rc = sl_moq_encode_subscribe(&w, &m);
	if (rc != 0)
		return rc;
	struct stream *st;
	rc = stream_open(s, true, K_SUBSCRIBE_OUT, &st);
	if (rc != 0)
		return rc;
	st->u.u = u;
	u->st = st;
	s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE]++;
	if (s->relay && u->rb)
		s->relay->st.upstream_subscribes++;
	tx(s, st, buf, sl_writer_len(&w), false);
	return 0;
}

/*
 * The provider of broadcasts a relay session's peer announced: a track requested by any reader
 * (a subscriber on any session, the cross-worker link) is created and fed by one upstream
 * SUBSCRIBE on this session, shared by every reader: start at the latest group, in order, with
 * the first requester's priority.
 */
static int remote_provide(void *arg, struct sl_broadcast *b, const char *name, uint8_t priority,
			  struct sl_track **out)
{
	struct remote *rb = arg;
	struct sl_moq_session *s = rb->s;
	if (s->closed)
		return SL_ECLOSED;
	struct sl_track *t;
	int rc = sl_broadcast_create_track(b, name, priority, &t);
	if (rc != 0)
		return rc;
	struct sl_moq_subscribe_options o;
	sl_moq_subscribe_options_default(&o);
	o.priority = priority;
	o.ordered = true;
	struct usub *u = usub_new(s, rb->path, name, t, &o);
	if (u == NULL) {
		sl_broadcast_remove_track(b, t);
		sl_track_unref(t);
		return SL_ENOMEM;
	}
	u->rb = rb;
	s->relay->st.upstreams_active++;
	rc = usub_send(u);
	if (rc == SL_EBUSY) {
		task_push(&s->blocked, &u->task);
	} else if (rc != 0) {
		usub_free(u);
		sl_track_unref(t);
		return rc;
	}
	sl_track_set_unused(t, usub_unused, u);
	*out = t;
	return 0;
}

/* ---- downstream subscriptions ---- */

static void dsub_run(struct task *t);

static void dsub_wake(struct sl_waiter *w)
{
	struct dsub *d = container_of(w, struct dsub, w);
	ready_push(d->s, &d->task);
}

static void group_wake(struct sl_waiter *w)
{
	struct stream *st = container_of(w, struct stream, u.go.w);
	if (st->u.go.d)
		ready_push(st->u.go.d->s, &st->u.go.d->task);
}

/*
 * Frees a subscription. reset_unfinished: group streams not yet fully queued are reset (an
 * unsubscribe); fully queued ones are left to complete.
 */
static void dsub_free(struct dsub *d, bool reset_unfinished)
{
	struct sl_moq_session *s = d->s;
	for (uint32_t i = 0; i < d->npend; i++)
		sl_group_reader_release(&d->pend[i].r);
	free(d->pend);
	d->pend = NULL;
	d->npend = 0;
	while (d->groups) {
		struct stream *g = d->groups;
		group_out_unlink(g);
		if (!g->u.go.fin && reset_unfinished && !s->closed) {
			s->st.groups_reset++;
			reset_stream(s, g, SL_MOQ_ERR_CANCEL);
		} else {
			stream_release(s, g);
		}
	}
	/* Last, because releasing the consumer may cancel an upstream (the track's unused
	 * callback), which aborts the track and wakes whoever still waits on it. */
	sl_track_consumer_release(&d->cons, &d->w);
	sl_waiter_cancel(&d->w);
	task_unlink(&d->task);
	if (d->st)
		d->st->u.d = NULL;
	sl_u64map_remove(&s->dsubs, d->id);
	*d->pprev = d->next;
	if (d->next)
		d->next->pprev = d->pprev;
	s->ndsubs--;
	s->st.subscribes_active--;
	sl_seqset_fini(&d->acct);
	free(d);
}

static int pend_push(struct dsub *d, struct sl_group_reader *r, uint64_t seq, uint64_t now)
{
	if (d->npend == d->pcap) {
		uint32_t cap = d->pcap ? d->pcap * 2 : 4;
		struct pending *p = realloc(d->pend, cap * sizeof(*p));
		if (p == NULL)
			return SL_ENOMEM;
		d->pend = p;
		d->pcap = cap;
	}
	d->pend[d->npend++] = (struct pending){*r, seq, now};
	return 0;
}

/* ---- range accounting and SUBSCRIBE_DROP ---- */

/* Writes a DROP range. Nothing is written once the Subscribe stream is finished or reset: the
 * subscription is over. */
static void drop_write(struct sl_moq_session *s, struct dsub *d, const struct sl_seqdrop *r)
{
	if (s->closed || d->finished || d->st == NULL || d->st->tx_done)
		return;
	struct sl_moq_response m = {.type = SL_MOQ_RESPONSE_DROP};
	m.u.drop.start = r->start;
	m.u.drop.end = r->end;
	m.u.drop.error = r->code;
	uint8_t buf[48];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_moq_encode_response(&w, &m) != 0) /* a sequence >= 2^53: JS could not read it */
		return;
	if (tx(s, d->st, buf, sl_writer_len(&w), false) == 0) {
		s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_DROP]++;
		s->st.drops_sent += r->end - r->start + 1;
	}
}

/* Writes the DROP being built, if any. */
static void drop_flush(struct sl_moq_session *s, struct dsub *d)
{
	struct sl_seqdrop r;
	if (sl_seqdrops_take(&d->drops, &r))
		drop_write(s, d, &r);
}

/*
 * Reports groups [a, b] as dropped with code. A range adjacent to the one being built, with
 * the same code, extends it; anything else writes the previous one first. The range is
 * written at the end of the subscription's run, after SUBSCRIBE_OK (sent with the SUBSCRIBE's
 * answer) and before any FIN.
 */
static void drop_add(struct sl_moq_session *s, struct dsub *d, uint64_t a, uint64_t b,
		     uint64_t code)
{
	if (!s->cfg.send_drops || d->finished)
		return;
	struct sl_seqdrop prev;
	if (sl_seqdrops_add(&d->drops, a, b, code, &prev))
		drop_write(s, d, &prev);
}

/* A collected group is resolved: sent in full, or reset. */
static void dsub_resolved(struct dsub *d, uint64_t seq)
{
	sl_seqset_resolve(&d->acct, seq);
}

/* Declares dropped every gap below the largest resolved group: a straggler had that group's
 * whole duration to arrive. */
static void dsub_declare_gaps(struct sl_moq_session *s, struct dsub *d)
{
	struct sl_seqrange gap;
	while (sl_seqset_next_gap(&d->acct, &gap))
		drop_add(s, d, gap.start, gap.end, SL_MOQ_ERR_DROPPED);
}

/*
 * Accounts for a group the consumer returned. Returns false when it must not be sent: already
 * accounted for or collected. Past a bounded number of gaps the lowest ones are given up, so
 * the bookkeeping stays small whatever the peer's track looks like.
 */
static bool dsub_collect(struct sl_moq_session *s, struct dsub *d, uint64_t seq)
{
	int rc;
	while ((rc = sl_seqset_collect(&d->acct, seq)) == SL_EBOUNDS)
		dsub_declare_gaps(s, d);
	return rc == 0;
}

/* A bounded range is complete once everything up to its end is accounted for, or its end
 * group (or a later one) was collected. A group past the end means the end group may never
 * come: the range then ends once the groups in flight are done. */
static void dsub_check_range(struct dsub *d)
{
	d->range_done = d->has_end && (sl_seqset_done_through(&d->acct, d->end) ||
				       (d->has_newest && d->newest_seq >= d->end));
	d->past_end = d->has_end && d->has_seen && d->seen_max > d->end;
}

/*
 * Resets a group stream. Every reset but a cancel (the subscriber asked for it with a new
 * start, or the stream is gone) is also reported with SUBSCRIBE_DROP, so a subscriber that
 * reads DROP knows the group is not coming; one that does not still sees the reset.
 */
static void group_reset(struct sl_moq_session *s, struct stream *g, uint64_t code)
{
	struct dsub *d = g->u.go.d;
	if (d) {
		dsub_resolved(d, g->u.go.seq);
		if (code != SL_MOQ_ERR_CANCEL)
			drop_add(s, d, g->u.go.seq, g->u.go.seq, code);
	}
	s->st.groups_reset++;
	group_out_unlink(g);
	reset_stream(s, g, code);
}

/* Moves every ready frame of a group to its stream; finishes or resets it at the end. */
static void group_pump(struct sl_moq_session *s, struct stream *g)
{
	for (;;) {
		struct sl_slice f;
		int rc = sl_group_read_frame(&g->u.go.r, &g->u.go.w, &f);
		if (rc == SL_EAGAIN)
			return;
		if (rc == SL_EEOF) {
			sl_group_reader_release(&g->u.go.r);
			g->u.go.fin = true;
			s->st.groups_sent++;
			if (g->u.go.d)
				dsub_resolved(g->u.go.d, g->u.go.seq);
			if (tx(s, g, NULL, 0, true) != 0)
				group_reset(s, g, SL_MOQ_ERR_CANCEL);
			return;
		}
		if (rc != 0) {
			group_reset(s, g, sl_moq_error_code(rc));
			return;
		}
		rc = tx_frame(s, g, f);
		if (rc != 0) {
			group_reset(s, g, SL_MOQ_ERR_CANCEL);
			return;
		}
	}
}

static int cmp_asc(const void *a, const void *b)
{
	uint64_t x = ((const struct pending *)a)->seq, y = ((const struct pending *)b)->seq;
	return x < y ? -1 : x > y;
}

static int cmp_desc(const void *a, const void *b)
{
	return cmp_asc(b, a);
}

/* Opens a group stream for each pending group, in the subscriber's order. */
uint64_t sl_moq_group_order(uint8_t sub_priority, uint8_t pub_priority, bool ordered,
			    uint64_t sequence)
{
	const uint64_t top = (UINT64_C(1) << 48) - 1; /* sequences past 2^48 share the end */
	uint64_t seq = sequence < top ? sequence : top;
	return (uint64_t)(255 - sub_priority) << 56 | (uint64_t)(255 - pub_priority) << 48 |
	       (ordered ? seq : top - seq);
}

static void group_set_order(struct sl_moq_session *s, struct dsub *d, struct stream *g)
{
	if (s->ops.set_order)
		s->ops.set_order(s->t, g->id,
				 sl_moq_group_order(d->priority, sl_track_priority(d->cons.track),
						    d->ordered, g->u.go.seq));
}

static void dsub_start_groups(struct sl_moq_session *s, struct dsub *d)
{
	if (d->npend > 1)
		qsort(d->pend, d->npend, sizeof(d->pend[0]), d->ordered ? cmp_asc : cmp_desc);
	uint32_t i = 0;
	for (; i < d->npend; i++) {
		struct pending *p = &d->pend[i];
		struct stream *g;
		int rc = stream_open(s, false, K_GROUP_OUT, &g);
		if (rc == SL_EBUSY) {
			task_push(&s->blocked, &d->task);
			break;
		}
		if (rc != 0) {
			sl_group_reader_release(&p->r);
			s->st.groups_reset++;
			dsub_resolved(d, p->seq);
			drop_add(s, d, p->seq, p->seq, SL_MOQ_ERR_DROPPED);
			continue;
		}
		g->u.go.d = d;
		g->u.go.r = p->r;
		g->u.go.seq = p->seq;
		g->u.go.arrival_ns = p->arrival_ns;
		group_set_order(s, d, g);
		sl_waiter_init(&g->u.go.w, group_wake);
		g->u.go.next = d->groups;
		if (d->groups)
			d->groups->u.go.pprev = &g->u.go.next;
		g->u.go.pprev = &d->groups;
		d->groups = g;
		uint8_t buf[32];
		struct sl_writer w;
		sl_writer_init(&w, buf, sizeof(buf));
		struct sl_moq_group m = {d->id, p->seq};
		sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_GROUP);
		if (sl_moq_encode_group(&w, &m) != 0 ||
		    tx(s, g, buf, sl_writer_len(&w), false) != 0) {
			group_reset(s, g, SL_MOQ_ERR_CANCEL);
			continue;
		}
		s->st.msgs_out[SL_MOQ_MSG_GROUP]++;
		group_pump(s, g);
	}
	/* Keep what could not be opened yet, in order. */
	memmove(d->pend, d->pend + i, (d->npend - i) * sizeof(d->pend[0]));
	d->npend -= i;
}

static bool older_than_latency(const struct dsub *d, uint64_t seq, uint64_t arrival_ns)
{
	return d->max_latency_ns != 0 && d->has_newest && seq < d->newest_seq &&
	       d->newest_ns > arrival_ns && d->newest_ns - arrival_ns > d->max_latency_ns;
}

static void dsub_run(struct task *t)
{
	struct dsub *d = container_of(t, struct dsub, task);
	struct sl_moq_session *s = d->s;
	if (s->closed || d->finished)
		return;
	/* 1. Collect the groups that arrived since the last run. Once a bounded range is
	 * complete nothing more is taken, so a later SUBSCRIBE_UPDATE that lifts the end resumes
	 * from here. */
	while (d->track_state == 0 && !d->range_done) {
		struct sl_group_reader r;
		int rc = sl_track_consumer_next_group(&d->cons, &d->w, &r);
		if (rc == SL_EAGAIN)
			break;
		if (rc != 0) {
			d->track_state = rc == SL_EEOF ? 1 : rc;
			break;
		}
		uint64_t seq = sl_group_sequence(r.group);
		if (!d->has_seen || seq > d->seen_max) {
			d->has_seen = true;
			d->seen_max = seq;
		}
		if ((d->has_end && seq > d->end) || !dsub_collect(s, d, seq)) {
			sl_group_reader_release(&r);
			dsub_check_range(d);
			continue;
		}
		if (!d->has_newest || seq > d->newest_seq) {
			d->has_newest = true;
			d->newest_seq = seq;
			d->newest_ns = s->now;
		}
		if (pend_push(d, &r, seq, s->now) != 0) {
			sl_group_reader_release(&r);
			s->st.groups_reset++;
			dsub_resolved(d, seq);
			drop_add(s, d, seq, seq, SL_MOQ_ERR_DROPPED);
		}
		dsub_check_range(d);
	}
	/* 2. Retire fully acknowledged streams; expire groups older than the max latency. */
	for (struct stream *g = d->groups, *n; g; g = n) {
		n = g->u.go.next;
		if (g->u.go.fin && s->ops.unacked(s->t, g->id) == 0) {
			group_out_unlink(g);
			stream_release(s, g);
		} else if (older_than_latency(d, g->u.go.seq, g->u.go.arrival_ns)) {
			s->st.groups_late++;
			group_reset(s, g, SL_MOQ_ERR_OLD);
		}
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < d->npend; i++) {
		if (older_than_latency(d, d->pend[i].seq, d->pend[i].arrival_ns)) {
			s->st.groups_late++;
			dsub_resolved(d, d->pend[i].seq);
			drop_add(s, d, d->pend[i].seq, d->pend[i].seq, SL_MOQ_ERR_OLD);
			sl_group_reader_release(&d->pend[i].r);
		} else {
			d->pend[kept++] = d->pend[i];
		}
	}
	d->npend = kept;
	/* 3. Open streams for new groups, then move frames on every open group. */
	if (d->npend)
		dsub_start_groups(s, d);
	for (struct stream *g = d->groups, *n; g; g = n) {
		n = g->u.go.next;
		if (!g->u.go.fin)
			group_pump(s, g);
	}
	/* 4. A subscriber that does not acknowledge loses its oldest groups, never the newest,
	 * so its in-flight bytes (references into the cache) stay within the budget. */
	uint64_t inflight = 0;
	for (struct stream *g = d->groups; g; g = g->u.go.next)
		inflight += s->ops.unacked(s->t, g->id);
	while (inflight > s->cfg.max_inflight_bytes) {
		struct stream *old = NULL;
		for (struct stream *g = d->groups; g; g = g->u.go.next)
			if (g->u.go.seq != d->newest_seq &&
			    (old == NULL || g->u.go.seq < old->u.go.seq))
				old = g;
		if (old == NULL)
			break;
		inflight -= s->ops.unacked(s->t, old->id);
		s->st.groups_lagged++;
		group_reset(s, old, SL_MOQ_ERR_CACHE_FULL);
	}
	/* 5. Gaps below a resolved group are given up; the DROPs of this run are written. */
	dsub_declare_gaps(s, d);
	drop_flush(s, d);
	/* 6. The track ended or the range is complete: finish the Subscribe stream once every
	 * group stream is finished (JS drops a track as soon as its Subscribe stream ends). */
	if ((d->track_state != 0 || d->range_done || d->past_end) && d->npend == 0) {
		for (struct stream *g = d->groups; g; g = g->u.go.next)
			if (!g->u.go.fin)
				return;
		if (d->past_end && !d->range_done && sl_seqset_has_lo(&d->acct)) {
			/* The range is closed: what is still missing up to its end is dropped. */
			struct sl_seqrange rest;
			dsub_resolved(d, d->end);
			dsub_declare_gaps(s, d);
			if (sl_seqset_missing_through(&d->acct, d->end, &rest))
				drop_add(s, d, rest.start, rest.end, SL_MOQ_ERR_DROPPED);
			drop_flush(s, d);
		}
		d->finished = true;
		sl_track_consumer_release(&d->cons, &d->w);
		/* The end of the Subscribe stream must not overtake the last group's bytes still
		 * queued behind more urgent streams (a peer that sees the end first drops the
		 * track): it goes last. */
		if (s->ops.set_order && d->st && !d->st->dead)
			s->ops.set_order(s->t, d->st->id, UINT64_MAX);
		if (d->range_done || d->past_end || d->track_state == 1)
			tx_fin(s, d->st);
		else
			reset_stream(s, d->st, sl_moq_error_code(d->track_state));
		/* The subscription lives on until the peer's side of the stream ends. */
		if (d->st == NULL || d->st->dead)
			dsub_free(d, false);
	}
}

/*
 * Finds the track a peer asks for and returns a new reference. Relay: in the origin, where a
 * broadcast's provider (a publishing session, the cross-worker link) creates a missing track
 * and feeds it; a FETCH only looks at tracks that exist. Client: in published broadcasts.
 */
static int lookup_track(struct sl_moq_session *s, const char *bpath, const char *name,
			uint8_t priority, bool create, struct sl_track **out)
{
	struct sl_broadcast *b = NULL;
	if (s->relay) {
		b = sl_origin_find(s->relay->origin, bpath);
	} else {
		char *norm = path_norm(bpath, strlen(bpath));
		if (norm == NULL)
			return SL_ENOTFOUND;
		struct pub *p = s->pubs;
		while (p && strcmp(p->path, norm) != 0)
			p = p->next;
		free(norm);
		b = p ? p->b : NULL;
	}
	if (b == NULL)
		return SL_ENOTFOUND;
	if (!create) {
		struct sl_track *t = sl_broadcast_track(b, name);
		if (t == NULL)
			return SL_ENOTFOUND;
		*out = sl_track_ref(t);
		return 0;
	}
	if (s->relay && sl_broadcast_track(b, name) != NULL)
		s->relay->st.shared_subscribes++;
	return sl_broadcast_request_track(b, name, priority, out);
}

static int send_subscribe_ok(struct sl_moq_session *s, struct dsub *d, uint64_t max_latency_ms)
{
	struct sl_moq_response m = {.type = SL_MOQ_RESPONSE_OK};
	m.u.ok.priority = d->priority;
	m.u.ok.ordered = d->ordered;
	m.u.ok.max_latency_ms = max_latency_ms;
	uint8_t buf[64];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_response(&w, &m);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_OK]++;
		rc = tx(s, d->st, buf, sl_writer_len(&w), false);
	}
	return rc;
}

static int on_subscribe(struct sl_moq_session *s, struct stream *st,
			const struct sl_moq_subscribe *m)
{
	s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE]++;
	if (sl_u64map_get(&s->dsubs, m->id, NULL)) {
		/* Ids are never reused: a duplicate is a broken peer, not a stream problem. */
		s->st.protocol_errors++;
		session_close(s, SL_MOQ_ERR_DUPLICATE, "duplicate subscribe id");
		return 0;
	}
	if (s->ndsubs >= s->cfg.max_subscriptions) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_EBOUNDS;
	}
	if (str_has_nul(m->broadcast) || str_has_nul(m->track) || m->track.len == 0) {
		st->err_code = SL_MOQ_ERR_NOT_FOUND;
		return SL_ENOTFOUND;
	}
	char *bpath = str_dup(m->broadcast), *name = str_dup(m->track);
	struct sl_track *t = NULL;
	int rc = bpath && name ? lookup_track(s, bpath, name, m->priority, true, &t) : SL_ENOMEM;
	free(bpath);
	free(name);
	struct dsub *d = rc == 0 ? calloc(1, sizeof(*d)) : NULL;
	if (rc == 0 && d == NULL)
		rc = SL_ENOMEM;
	if (rc == 0 && sl_u64map_insert(&s->dsubs, m->id, (uint64_t)(uintptr_t)d) != 0)
		rc = SL_ENOMEM;
	if (rc != 0) {
		free(d);
		if (t) { /* a reader that comes and goes, so a fresh upstream is cancelled */
			struct sl_track_consumer c;
			sl_track_consume(t, &c);
			sl_track_unref(t);
			sl_track_consumer_release(&c, NULL);
		}
		st->err_code = sl_moq_error_code(rc);
		return rc;
	}
	d->s = s;
	d->st = st;
	d->id = m->id;
	sl_seqset_init(&d->acct, SL_SEQSET_AHEAD_MAX);
	d->priority = m->priority;
	d->ordered = m->ordered;
	d->max_latency_ns = m->max_latency_ms * UINT64_C(1000000);
	d->has_end = m->has_end;
	d->end = m->end;
	task_init(&d->task, s, dsub_run);
	sl_waiter_init(&d->w, dsub_wake);
	sl_track_consume(t, &d->cons);
	sl_track_unref(t);
	uint64_t latest;
	if (m->has_start) {
		sl_track_consumer_start_at(&d->cons, m->start);
		sl_seqset_start_at(&d->acct, m->start);
	} else if (sl_track_latest(t, &latest) == 0) {
		sl_track_consumer_start_at(&d->cons, latest);
		sl_seqset_start_at(&d->acct, latest);
	}
	dsub_check_range(d); /* start > end: an empty range, finished at once */
	d->next = s->dsub_list;
	if (s->dsub_list)
		s->dsub_list->pprev = &d->next;
	d->pprev = &s->dsub_list;
	s->dsub_list = d;
	s->ndsubs++;
	s->st.subscribes_in++;
	s->st.subscribes_active++;
	st->u.d = d;
	send_subscribe_ok(s, d, m->max_latency_ms);
	ready_push(s, &d->task);
	return 0;
}

/*
 * A new start moves the subscription forward: groups before it that were not opened are
 * forgotten, and group streams before it still being written are reset with cancel (the
 * subscriber asked for it, so no DROP). A lower start replays nothing: the consumer reads in
 * arrival order and does not rewind.
 */
static void dsub_move_start(struct sl_moq_session *s, struct dsub *d, uint64_t start)
{
	if (sl_seqset_start_at(&d->acct, start))
		sl_track_consumer_start_at(&d->cons, start);
	/* Groups collected but not sent yet may lie below a start the accounting already passed. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < d->npend; i++) {
		if (d->pend[i].seq < start)
			sl_group_reader_release(&d->pend[i].r);
		else
			d->pend[kept++] = d->pend[i];
	}
	d->npend = kept;
	for (struct stream *g = d->groups, *n; g; g = n) {
		n = g->u.go.next;
		if (!g->u.go.fin && g->u.go.seq < start)
			group_reset(s, g, SL_MOQ_ERR_CANCEL);
	}
}

/*
 * SUBSCRIBE_UPDATE carries every term again. Start and end are "+1" fields as in SUBSCRIBE: an
 * absent start keeps the current one (the Rust publisher does the same), an absent end removes
 * the bound. A new end drops the groups past it that were not opened yet; those already on
 * their way finish, then the Subscribe stream is finished as for any completed range.
 */
static void on_subscribe_update(struct sl_moq_session *s, struct stream *st,
				const struct sl_moq_subscribe_terms *m)
{
	s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_UPDATE]++;
	struct dsub *d = st->u.d;
	if (d == NULL)
		return;
	bool reorder = d->priority != m->priority || d->ordered != (m->ordered != 0);
	d->priority = m->priority;
	d->ordered = m->ordered;
	d->max_latency_ns = m->max_latency_ms * UINT64_C(1000000);
	for (struct stream *g = d->groups; reorder && g; g = g->u.go.next)
		group_set_order(s, d, g);
	if (!d->finished) {
		if (m->has_start)
			dsub_move_start(s, d, m->start);
		d->has_end = m->has_end;
		d->end = m->end;
		if (d->has_end) {
			uint32_t kept = 0;
			for (uint32_t i = 0; i < d->npend; i++) {
				if (d->pend[i].seq > d->end)
					sl_group_reader_release(&d->pend[i].r);
				else
					d->pend[kept++] = d->pend[i];
			}
			d->npend = kept;
		}
		dsub_check_range(d);
	}
	ready_push(s, &d->task);
}

/* ---- announce streams the peer opened (this side answers) ---- */

static int send_announce(struct sl_moq_session *s, struct stream *st, const char *suffix,
			 bool active)
{
	struct sl_moq_announce m;
	memset(&m, 0, sizeof(m));
	m.active = active;
	m.suffix = (struct sl_moq_str){(const uint8_t *)suffix, strlen(suffix)};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_announce(&w, &m);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_ANNOUNCE]++;
		rc = tx(s, st, buf, sl_writer_len(&w), false);
	}
	return rc;
}

static void announce_run(struct task *t)
{
	struct stream *st = container_of(t, struct stream, u.ai.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead || st->u.ai.a == NULL)
		return;
	struct sl_announce ev;
	while (sl_announced_next(st->u.ai.a, &st->u.ai.w, &ev) == 0)
		send_announce(s, st, ev.suffix, ev.active);
}

static void announce_wake(struct sl_waiter *w)
{
	struct stream *st = container_of(w, struct stream, u.ai.w);
	ready_push(st->u.ai.task.s, &st->u.ai.task);
}

static int on_interest(struct sl_moq_session *s, struct stream *st,
		       const struct sl_moq_announce_interest *m)
{
	s->st.msgs_in[SL_MOQ_MSG_ANNOUNCE_INTEREST]++;
	char *prefix =
		str_has_nul(m->prefix) ? NULL : path_norm((const char *)m->prefix.p, m->prefix.len);
	if (prefix == NULL) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_ERANGE;
	}
	task_init(&st->u.ai.task, s, announce_run);
	sl_waiter_init(&st->u.ai.w, announce_wake);
	if (s->relay) {
		st->u.ai.a = sl_origin_announced(s->relay->origin, prefix);
		free(prefix);
		if (st->u.ai.a == NULL) {
			st->err_code = SL_MOQ_ERR_BOUNDS;
			return SL_ENOMEM;
		}
		ready_push(s, &st->u.ai.task);
		return 0;
	}
	st->u.ai.prefix = prefix;
	st->u.ai.next = s->ann_ins;
	if (s->ann_ins)
		s->ann_ins->u.ai.pprev = &st->u.ai.next;
	st->u.ai.pprev = &s->ann_ins;
	s->ann_ins = st;
	for (struct pub *p = s->pubs; p; p = p->next) {
		const char *suffix;
		if (sl_path_strip_prefix(p->path, prefix, &suffix))
			send_announce(s, st, suffix, true);
	}
	return 0;
}

static void client_announce_all(struct sl_moq_session *s, const char *path, bool active)
{
	for (struct stream *st = s->ann_ins; st; st = st->u.ai.next) {
		const char *suffix;
		if (sl_path_strip_prefix(path, st->u.ai.prefix, &suffix))
			send_announce(s, st, suffix, active);
	}
}

/* ---- announcements the peer sends on this side's interest stream ---- */

static int on_announce(struct sl_moq_session *s, struct stream *st, const struct sl_moq_announce *m)
{
	s->st.msgs_in[SL_MOQ_MSG_ANNOUNCE]++;
	char *path = str_has_nul(m->suffix)
			     ? NULL
			     : path_join(st->u.ao.prefix, (const char *)m->suffix.p, m->suffix.len);
	if (path == NULL) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_ERANGE;
	}
	if (s->relay == NULL) {
		annq_push(s, path, m->active);
		return 0;
	}
	struct sl_moq_relay *r = s->relay;
	struct remote *rb = s->remotes;
	while (rb && strcmp(rb->path, path) != 0)
		rb = rb->next;
	if (!m->active) {
		if (rb)
			remote_end(s, rb);
		free(path);
		return 0;
	}
	if (rb) { /* active twice: status must alternate */
		free(path);
		st->err_code = SL_MOQ_ERR_DUPLICATE;
		s->st.protocol_errors++;
		return SL_EDUP;
	}
	size_t n = strlen(path);
	rb = calloc(1, sizeof(*rb) + n + 1);
	if (rb == NULL) {
		free(path);
		st->err_code = SL_MOQ_ERR_CANCEL;
		return SL_ENOMEM;
	}
	memcpy(rb->path, path, n + 1);
	free(path);
	int rc = sl_origin_publish(r->origin, rb->path, &rb->b);
	if (rc != 0) {
		/* Another publisher has the path: the first one wins, this one is ignored. */
		r->st.broadcasts_refused++;
		free(rb);
		return 0;
	}
	if (sl_u64map_insert(&r->remotes, (uint64_t)(uintptr_t)rb->b, (uint64_t)(uintptr_t)rb) !=
	    0) {
		sl_origin_unpublish(r->origin, rb->b);
		sl_broadcast_unref(rb->b);
		free(rb);
		st->err_code = SL_MOQ_ERR_CANCEL;
		return SL_ENOMEM;
	}
	r->st.broadcasts_announced++;
	rb->s = s;
	rb->ann_id = st->id;
	sl_broadcast_set_user(rb->b, rb);
	sl_broadcast_set_provider(rb->b, remote_provide, rb);
	rb->next = s->remotes;
	if (s->remotes)
		s->remotes->pprev = &rb->next;
	rb->pprev = &s->remotes;
	s->remotes = rb;
	return 0;
}

/* ---- fetch ---- */

static void fetch_run(struct task *t)
{
	struct stream *st = container_of(t, struct stream, u.fi.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead)
		return;
	for (;;) {
		struct sl_slice f;
		int rc = sl_group_read_frame(&st->u.fi.r, &st->u.fi.w, &f);
		if (rc == SL_EAGAIN)
			return;
		if (rc == SL_EEOF) {
			s->st.fetches_served++;
			sl_group_reader_release(&st->u.fi.r);
			st->rx_done = true; /* the request is served: later bytes are not read */
			tx_fin(s, st);
			return;
		}
		if (rc != 0) {
			reset_stream(s, st, sl_moq_error_code(rc));
			return;
		}
		rc = tx_frame(s, st, f);
		if (rc != 0) {
			reset_stream(s, st, SL_MOQ_ERR_CANCEL);
			return;
		}
	}
}

static void fetch_wake(struct sl_waiter *w)
{
	struct stream *st = container_of(w, struct stream, u.fi.w);
	ready_push(st->u.fi.task.s, &st->u.fi.task);
}

static int fetch_open(struct sl_moq_session *s, const char *broadcast, const char *track,
		      uint8_t priority, uint64_t group, struct sl_group_reader *out);

/*
 * Finds the group a FETCH asks for and starts st->u.fi.r on it: the cached group, or, in a
 * relay, a group fetched from the session whose peer announced the broadcast (its frames are
 * forwarded as they arrive, and its reset, e.g. not-found, becomes ours). Broadcasts another
 * provider feeds (the cross-worker link) are served from the cache only. Returns 0,
 * SL_EBUSY (the upstream's stream limit: retry), or SL_ENOTFOUND.
 */
static int fetch_find(struct sl_moq_session *s, struct stream *st)
{
	struct sl_track *t = NULL;
	int rc = lookup_track(s, st->u.fi.bpath, st->u.fi.name, st->u.fi.priority, false, &t);
	if (rc == 0) {
		struct sl_track_consumer c;
		sl_track_consume(t, &c);
		sl_track_unref(t);
		rc = sl_track_consumer_get_group(&c, st->u.fi.group, NULL, &st->u.fi.r);
		sl_track_consumer_release(&c, NULL);
		if (rc == 0)
			return 0;
	}
	if (s->relay == NULL)
		return SL_ENOTFOUND;
	struct sl_broadcast *b = sl_origin_find(s->relay->origin, st->u.fi.bpath);
	uint64_t v;
	if (b == NULL || !sl_u64map_get(&s->relay->remotes, (uint64_t)(uintptr_t)b, &v))
		return SL_ENOTFOUND;
	struct remote *rb = (struct remote *)(uintptr_t)v;
	struct sl_moq_session *up = rb->s;
	if (up->closed)
		return SL_ENOTFOUND;
	enter(up);
	rc = fetch_open(up, rb->path, st->u.fi.name, st->u.fi.priority, st->u.fi.group,
			&st->u.fi.r);
	leave(up);
	if (rc == 0) {
		s->relay->st.upstream_fetches++;
		return 0;
	}
	/* The upstream's limit, not ours: its owner tells it when the limit grows
	 * (sl_moq_session_writable), and it wakes this FETCH then. */
	if (rc == SL_EBUSY)
		sl_waitq_add(&up->credit_waiters, &st->u.fi.w);
	return rc == SL_EBUSY ? SL_EBUSY : SL_ENOTFOUND;
}

/* A FETCH waiting for the upstream's stream limit: retried once per poll. */
static void fetch_retry(struct task *t)
{
	struct stream *st = container_of(t, struct stream, u.fi.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead)
		return;
	int rc = fetch_find(s, st);
	if (rc == SL_EBUSY) {
		task_push(&s->blocked, t);
		return;
	}
	if (rc != 0) {
		reset_stream(s, st, sl_moq_error_code(rc));
		return;
	}
	t->run = fetch_run;
	fetch_run(t);
}

static int on_fetch(struct sl_moq_session *s, struct stream *st, const struct sl_moq_fetch *m)
{
	s->st.msgs_in[SL_MOQ_MSG_FETCH]++;
	st->err_code = SL_MOQ_ERR_NOT_FOUND;
	if (str_has_nul(m->broadcast) || str_has_nul(m->track) || m->track.len == 0)
		return SL_ENOTFOUND;
	st->u.fi.bpath = str_dup(m->broadcast);
	st->u.fi.name = str_dup(m->track);
	if (st->u.fi.bpath == NULL || st->u.fi.name == NULL)
		return SL_ENOMEM;
	st->u.fi.group = m->group;
	st->u.fi.priority = m->priority;
	task_init(&st->u.fi.task, s, fetch_retry);
	sl_waiter_init(&st->u.fi.w, fetch_wake);
	int rc = fetch_find(s, st);
	if (rc == SL_EBUSY) {
		task_push(&s->blocked, &st->u.fi.task);
		return 0;
	}
	if (rc != 0)
		return rc;
	st->u.fi.task.run = fetch_run;
	ready_push(s, &st->u.fi.task);
	return 0;
}

/* ---- receiving frames (group and fetch streams) ---- */

static int commit_frame(struct sl_moq_session *s, struct stream *st)
{
	struct sl_slice f = {st->fbuf, 0, st->fbuf ? st->fbuf->len : 0};
	st->fbuf = NULL;
	s->st.msgs_in[SL_MOQ_MSG_FRAME]++;
	int rc = sl_group_write_frame(st->g, f);
	if (rc != 0) {
		/* The group or its track was closed (unsubscribed, aborted): stop the stream. */
		st->err_code = sl_moq_error_code(rc);
		return rc;
	}
	return 0;
}

static int rx_frames(struct sl_moq_session *s, struct stream *st, struct sl_reader *r)
{
	if (st->fleft > 0) {
		size_t n = sl_reader_left(r);
		if (n > st->fleft)
			n = (size_t)st->fleft;
		const uint8_t *p;
		sl_reader_bytes(r, n, &p);
		sl_buf_append(st->fbuf, p, n);
		st->fleft -= n;
		s->st.payload_in += n;
		if (st->fleft == 0)
			return commit_frame(s, st) == 0 ? 1 : -1;
		return 1;
	}
	uint64_t size;
	const char *why;
	int rc = sl_moq_decode_frame_header(r, s->cfg.max_frame_bytes, &size, &why);
	if (rc == SL_ETRUNC)
		return 0;
	if (rc != 0) {
		s->st.decode_errors++;
		st->err_code = sl_moq_error_code(rc);
		return rc;
	}
	if (size == 0)
		return commit_frame(s, st) == 0 ? 1 : -1;
	st->fbuf = sl_buf_alloc((size_t)size);
	if (st->fbuf == NULL) {
		st->err_code = SL_MOQ_ERR_CANCEL;
		return SL_ENOMEM;
	}
	st->fleft = size;
	return 1;
}

static int on_group_header(struct sl_moq_session *s, struct stream *st,
			   const struct sl_moq_group *m)
{
	s->st.msgs_in[SL_MOQ_MSG_GROUP]++;
	uint64_t v;
	if (!sl_u64map_get(&s->usubs, m->subscribe_id, &v)) {
		/* Usually a group still in flight after an unsubscribe. */
		s->st.groups_in_dropped++;
		st->err_code = SL_MOQ_ERR_CANCEL;
		return SL_ENOTFOUND;
	}
	struct usub *u = (struct usub *)(uintptr_t)v;
	int rc = sl_track_create_group(u->track, m->sequence, s->now, &st->g);
	if (rc != 0) {
		s->st.groups_in_dropped++;
		st->err_code = sl_moq_error_code(rc);
		return rc;
	}
	s->st.groups_in++;
	return 0;
}

/* ---- the stream parser ---- */

/* Decoder failures: truncation waits for more bytes (0), anything else is a decode error. */
#define DECODE(call)                                                                               \
	do {                                                                                       \
		int drc_ = (call);                                                                 \
		if (drc_ == SL_ETRUNC)                                                             \
			return 0;                                                                  \
		if (drc_ != 0) {                                                                   \
			s->st.decode_errors++;                                                     \
			st->err_code = sl_moq_error_code(drc_);                                    \
			return drc_;                                                               \
		}                                                                                  \
	} while (0)

static int proto_err(struct sl_moq_session *s, struct stream *st, uint64_t code)
{
	s->st.protocol_errors++;
	st->err_code = code;
	return SL_EINVAL;
}

/* Consumes one message (or some payload) from r. Returns 1 on progress, 0 when more bytes are
 * needed, or a negative code with st->err_code set (the caller resets the stream). */
static int step(struct sl_moq_session *s, struct stream *st, struct sl_reader *r)
{
	const char *why = NULL;
	int rc;
	switch (st->kind) {
	case K_NEW_IN: {
		uint64_t type;
		DECODE(sl_moq_decode_stream_type(r, &type, &why));
		if (uni_stream(st->id)) {
			if (type == SL_MOQ_STREAM_GROUP) {
				st->kind = K_GROUP_IN;
				return 1;
			}
		} else {
			switch (type) {
			case SL_MOQ_STREAM_ANNOUNCE:
				st->kind = K_ANNOUNCE_IN;
				return 1;
			case SL_MOQ_STREAM_SUBSCRIBE:
				st->kind = K_SUBSCRIBE_IN;
				return 1;
			case SL_MOQ_STREAM_FETCH:
				st->kind = K_FETCH_IN;
				return 1;
			case SL_MOQ_STREAM_PROBE:
				st->kind = K_PROBE_IN;
				return 1;
			case SL_MOQ_STREAM_GOAWAY:
				st->kind = K_GOAWAY_IN;
				return 1;
			default:
				break;
			}
		}
		s->st.unknown_streams++;
		st->err_code = SL_MOQ_ERR_UNEXPECTED_STREAM;
		return SL_ENOTSUP;
	}
	case K_ANNOUNCE_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_announce_interest m;
		DECODE(sl_moq_decode_announce_interest(r, &m, &why));
		st->first = true;
		rc = on_interest(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_SUBSCRIBE_IN: {
		if (!st->first) {
			struct sl_moq_subscribe m;
			DECODE(sl_moq_decode_subscribe(r, &m, &why));
			st->first = true;
			rc = on_subscribe(s, st, &m);
			return rc < 0 ? rc : 1;
		}
		struct sl_moq_subscribe_terms m;
		DECODE(sl_moq_decode_subscribe_update(r, &m, &why));
		on_subscribe_update(s, st, &m);
		return 1;
	}
	case K_FETCH_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_fetch m;
		DECODE(sl_moq_decode_fetch(r, &m, &why));
		st->first = true;
		rc = on_fetch(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_GOAWAY_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_goaway m;
		DECODE(sl_moq_decode_goaway(r, &m, &why));
		st->first = true;
		s->st.msgs_in[SL_MOQ_MSG_GOAWAY]++;
		if (s->goaway_uri == NULL && !str_has_nul(m.uri))
			s->goaway_uri = str_dup(m.uri);
		return 1;
	}
	case K_GROUP_IN:
		if (!st->first) {
			struct sl_moq_group m;
			DECODE(sl_moq_decode_group(r, &m, &why));
			st->first = true;
			rc = on_group_header(s, st, &m);
			return rc < 0 ? rc : 1;
		}
		return rx_frames(s, st, r);
	case K_FETCH_OUT:
		return rx_frames(s, st, r);
	case K_ANNOUNCE_OUT: {
		struct sl_moq_announce m;
		DECODE(sl_moq_decode_announce(r, &m, &why));
		rc = on_announce(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_SUBSCRIBE_OUT: {
		struct sl_moq_response m;
		DECODE(sl_moq_decode_response(r, &m, &why));
		struct usub *u = st->u.u;
		if (m.type == SL_MOQ_RESPONSE_OK) {
			s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK]++;
			if (u)
				u->ok = true;
		} else {
			/* Skipped groups: subscribers tolerate gaps, nothing to do but count. */
			s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_DROP]++;
			if (u && !u->ok)
				return proto_err(s, st, SL_MOQ_ERR_PROTOCOL_VIOLATION);
		}
		return 1;
	}
	default: {
		/* Probe (nothing is expected from the opener, and it is never reset), goaway we
		 * sent, and streams this side already reset: swallow the bytes. */
		const uint8_t *p;
		sl_reader_bytes(r, sl_reader_left(r), &p);
		return 1;
	}
	}
}

static int step_all(struct sl_moq_session *s, struct stream *st, struct sl_reader *r)
{
	while (sl_reader_left(r) > 0 && !st->dead && !s->closed) {
		int rc = step(s, st, r);
		if (rc <= 0)
			return rc;
	}
	return 0;
}

static int rx_append(struct stream *st, const uint8_t *p, size_t n)
{
	if (st->rxlen + n > RX_CAP) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_ERANGE;
	}
	if (st->rxlen + n > st->rxcap) {
		uint32_t cap = st->rxcap ? st->rxcap : 64;
		while (cap < st->rxlen + n)
			cap *= 2;
		uint8_t *b = realloc(st->rx, cap);
		if (b == NULL) {
			st->err_code = SL_MOQ_ERR_CANCEL;
			return SL_ENOMEM;
		}
		st->rx = b;
		st->rxcap = cap;
	}
	memcpy(st->rx + st->rxlen, p, n);
	st->rxlen += (uint32_t)n;
	return 0;
}

/*
 * Parses as much as possible. Bytes are parsed in place; only the tail of a message split
 * across calls is copied aside, and frame payloads never are (they go straight into the frame
 * buffer).
 */
static int feed(struct sl_moq_session *s, struct stream *st, const uint8_t *p, size_t n)
{
	for (;;) {
		struct sl_reader r;
		if (st->rxlen == 0) {
			sl_reader_init(&r, p, n);
			int rc = step_all(s, st, &r);
			if (rc < 0 || st->dead || s->closed)
				return rc < 0 ? rc : 0;
			size_t left = sl_reader_left(&r);
			return left ? rx_append(st, r.p, left) : 0;
		}
		size_t k = n < RX_CAP - st->rxlen ? n : RX_CAP - st->rxlen;
		int rc = rx_append(st, p, k);
		if (rc != 0)
			return rc;
		p += k;
		n -= k;
		sl_reader_init(&r, st->rx, st->rxlen);
		rc = step_all(s, st, &r);
		if (rc < 0 || st->dead || s->closed)
			return rc < 0 ? rc : 0;
		size_t left = sl_reader_left(&r), used = st->rxlen - left;
		memmove(st->rx, st->rx + used, left);
		st->rxlen = (uint32_t)left;
		if (n == 0)
			return 0;
		if (used == 0) { /* a full buffer that holds no complete message */
			st->err_code = SL_MOQ_ERR_BOUNDS;
			return SL_ERANGE;
		}
	}
}

/* The stream failed: undo what it fed, then reset it with its error code. */
static void stream_teardown(struct sl_moq_session *s, struct stream *st, int err);

static void stream_fail(struct sl_moq_session *s, struct stream *st, int err)
{
	if (st->kind == K_PROBE_IN) /* never reset a probe stream: JS drops the session */
		return;
	stream_teardown(s, st, err);
	if (st->kind == K_SUBSCRIBE_IN || st->kind == K_NEW_IN || st->kind == K_GROUP_IN)
		st->kind = K_IGNORE_IN;
	reset_stream(s, st, st->err_code);
}

/* Ends what a stream fed or served; err is what local readers see. */
static void stream_teardown(struct sl_moq_session *s, struct stream *st, int err)
{
	switch (st->kind) {
	case K_SUBSCRIBE_IN:
		if (st->u.d)
			dsub_free(st->u.d, true);
		break;
	case K_SUBSCRIBE_OUT:
		if (st->u.u)
			usub_end(st->u.u, err);
		break;
	case K_ANNOUNCE_OUT:
		if (s->relay)
			remotes_end_stream(s, st->id);
		break;
	case K_GROUP_IN:
	case K_FETCH_OUT:
		if (st->g && sl_group_state(st->g) == 0)
			sl_group_abort(st->g, err < 0 ? err : SL_EDROPPED);
		break;
	case K_GROUP_OUT:
		if (!st->u.go.fin && st->u.go.d && !s->closed)
			s->st.groups_reset++;
		break;
	default:
		break;
	}
}

/* The peer finished its side of the stream. */
static void on_fin(struct sl_moq_session *s, struct stream *st)
{
	st->rx_done = true;
	switch (st->kind) {
	case K_NEW_IN:
	case K_IGNORE_IN:
		st->tx_done = true;
		stream_release(s, st);
		return;
	case K_SUBSCRIBE_IN:
		/* Unsubscribe: reset the groups in flight, then finish our side. */
		if (st->u.d)
			dsub_free(st->u.d, true);
		tx_fin(s, st);
		return;
	case K_SUBSCRIBE_OUT:
		if (st->u.u)
			usub_end(st->u.u, 0);
		tx_fin(s, st);
		return;
	case K_ANNOUNCE_OUT:
		if (s->relay)
			remotes_end_stream(s, st->id);
		tx_fin(s, st);
		return;
	case K_FETCH_IN:
		if (!st->first) {
			s->st.decode_errors++;
			reset_stream(s, st, SL_MOQ_ERR_DECODE);
		}
		maybe_release(s, st);
		return;
	case K_GROUP_IN:
	case K_FETCH_OUT:
		if (st->g) {
			if (st->fleft > 0) {
				/* The stream ended inside a frame: the group is incomplete. */
				s->st.decode_errors++;
				sl_group_abort(st->g, SL_ECORRUPT);
			} else {
				sl_group_finish(st->g);
			}
		}
		st->tx_done = true;
		stream_release(s, st);
		return;
	default: /* announce interest, probe, goaway: both sides are coupled */
		tx_fin(s, st);
		return;
	}
}

/* ---- public: lifecycle ---- */

struct sl_moq_relay *sl_moq_relay_new(struct sl_origin *origin)
{
	struct sl_moq_relay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (sl_u64map_init(&r->remotes, 16) != 0) {
		free(r);
		return NULL;
	}
	r->origin = origin;
	return r;
}

void sl_moq_relay_free(struct sl_moq_relay *r)
{
	if (r == NULL)
		return;
	sl_u64map_fini(&r->remotes);
	free(r);
}

struct sl_origin *sl_moq_relay_origin(struct sl_moq_relay *r)
{
	return r->origin;
}

void sl_moq_relay_stats(const struct sl_moq_relay *r, struct sl_moq_relay_stats *out)
{
	*out = r->st;
}

struct sl_moq_session *sl_moq_session_new(const struct sl_moq_session_config *cfg,
					  const struct sl_moq_transport_ops *ops, void *t,
					  struct sl_moq_relay *relay)
{
	if (ops == NULL || !ops->open_stream || !ops->write || !ops->reset || !ops->close ||
	    !ops->unacked)
		return NULL;
	struct sl_moq_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (cfg)
		s->cfg = *cfg;
	else
		sl_moq_session_config_default(&s->cfg);
	if (s->cfg.publish_prefix) {
		s->publish_prefix = path_norm(s->cfg.publish_prefix, strlen(s->cfg.publish_prefix));
		if (s->publish_prefix == NULL) {
			free(s);
			return NULL;
		}
	}
	s->cfg.publish_prefix = NULL; /* the copy above is the one used */
	if (sl_u64map_init(&s->streams, 64) != 0 || sl_u64map_init(&s->dsubs, 16) != 0 ||
	    sl_u64map_init(&s->usubs, 16) != 0) {
		sl_u64map_fini(&s->streams);
		sl_u64map_fini(&s->dsubs);
		free(s->publish_prefix);
		free(s);
		return NULL;
	}
	s->ops = *ops;
	s->t = t;
	s->relay = relay;
	if (relay)
		relay->sessions++;
	sl_waitq_init(&s->awaiters);
	sl_waitq_init(&s->credit_waiters);
	return s;
}

/*
 * Releases everything: no transport call is made once closed. Streams go first (inbound groups
 * are aborted, subscriptions end), then the remote broadcasts are unpublished, so that the
 * finished tracks are what other sessions' subscribers see.
 */
static void session_shutdown(struct sl_moq_session *s)
{
	if (s->closed)
		return;
	s->closed = true;
	s->st.closed = true;
	enter(s);
	while (s->all) {
		struct stream *st = s->all;
		stream_teardown(s, st, s->relay ? 0 : SL_EDROPPED);
		stream_release(s, st);
	}
	while (s->remotes)
		remote_end(s, s->remotes);
	while (s->usub_list)
		usub_end(s->usub_list, s->relay ? 0 : SL_EDROPPED);
	while (s->dsub_list)
		dsub_free(s->dsub_list, false);
	while (s->ready.head)
		task_unlink(s->ready.head);
	while (s->blocked.head)
		task_unlink(s->blocked.head);
	sl_waitq_wake_all(&s->awaiters);
	sl_waitq_wake_all(&s->credit_waiters); /* they find the broadcast gone */
	leave(s);
}

void sl_moq_session_closed(struct sl_moq_session *s)
{
	session_shutdown(s);
}

void sl_moq_session_close(struct sl_moq_session *s, uint64_t code, const char *reason)
{
	enter(s);
	session_close(s, code, reason);
	leave(s);
}

void sl_moq_session_free(struct sl_moq_session *s)
{
	if (s == NULL)
		return;
	session_shutdown(s);
	dead_flush(s);
	while (s->pubs) {
		struct pub *p = s->pubs;
		s->pubs = p->next;
		sl_broadcast_unref(p->b);
		free(p);
	}
	for (uint32_t i = 0; i < s->aqlen; i++)
		free(s->aq[(s->aqhead + i) % s->aqcap].path);
	free(s->aq);
	free(s->acur);
	sl_waitq_detach_all(&s->awaiters);
	sl_waitq_detach_all(&s->credit_waiters);
	sl_buf_unref(s->arena);
	sl_u64map_fini(&s->streams);
	sl_u64map_fini(&s->dsubs);
	sl_u64map_fini(&s->usubs);
	if (s->relay)
		s->relay->sessions--;
	free(s->goaway_uri);
	free(s->publish_prefix);
	free(s);
}

bool sl_moq_session_is_closed(const struct sl_moq_session *s, uint64_t *code)
{
	if (code)
		*code = s->st.close_code;
	return s->closed;
}

void sl_moq_session_stats(const struct sl_moq_session *s, struct sl_moq_session_stats *out)
{
	*out = s->st;
}

/* ---- public: transport events ---- */

static struct stream *peer_stream(struct sl_moq_session *s, int64_t id)
{
	struct stream *st = stream_find(s, id);
	if (st || local_stream(s, id) || id < 0)
		return st;
	st = stream_new(s, id, K_NEW_IN);
	if (st == NULL) {
		s->st.protocol_errors++;
		session_close(s, SL_MOQ_ERR_BOUNDS, "too many streams");
		return NULL;
	}
	s->st.streams_in++;
	return st;
}

void sl_moq_session_stream_open(struct sl_moq_session *s, int64_t id)
{
	if (s->closed)
		return;
	enter(s);
	peer_stream(s, id);
	leave(s);
}

int sl_moq_session_stream_data(struct sl_moq_session *s, int64_t id, const uint8_t *data,
			       size_t len, bool fin)
{
	if (s->closed)
		return SL_ECLOSED;
	enter(s);
	s->st.bytes_in += len;
	struct stream *st = peer_stream(s, id);
	if (st && st->kind == K_GROUP_OUT) {
		/* Bytes on a stream only this side may write: the peer is broken. */
		s->st.protocol_errors++;
		session_close(s, SL_MOQ_ERR_PROTOCOL_VIOLATION, "data on a local uni stream");
		st = NULL;
	}
	/* No stream: one this side finished with (late bytes are dropped). */
	if (st && !st->rx_done) {
		int rc = len ? feed(s, st, data, len) : 0;
		if (rc < 0 && !st->dead && !s->closed)
			stream_fail(s, st, rc);
		else if (fin && !st->dead && !s->closed)
			on_fin(s, st);
	}
	int ret = s->closed ? SL_ECLOSED : 0;
	leave(s);
	return ret;
}

void sl_moq_session_stream_reset(struct sl_moq_session *s, int64_t id, uint64_t code)
{
	if (s->closed)
		return;
	enter(s);
	struct stream *st = stream_find(s, id);
	if (st) {
		s->st.resets_in++;
		if (st->kind == K_PROBE_IN) {
			st->rx_done = true;
			tx_fin(s, st);
		} else {
			stream_teardown(s, st, err_from_code(code));
			if (st->kind == K_GROUP_OUT && st->u.go.d) {
				/* The subscriber stopped the group: it is accounted for. */
				dsub_resolved(st->u.go.d, st->u.go.seq);
				ready_push(s, &st->u.go.d->task);
			}
			if (st->kind == K_GROUP_OUT)
				group_out_unlink(st);
			reset_stream(s, st, SL_MOQ_ERR_CANCEL);
		}
	}
	leave(s);
}

/* ---- public: poll ---- */

static void open_interest(struct sl_moq_session *s, const char *prefix, bool *done, int *ret)
{
	struct sl_moq_announce_interest m = {{(const uint8_t *)prefix, strlen(prefix)}, 0};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_ANNOUNCE);
	if (rc == 0)
		rc = sl_moq_encode_announce_interest(&w, &m);
	char *copy = rc == 0 ? strdup(prefix) : NULL;
	if (rc == 0 && copy == NULL)
		rc = SL_ENOMEM;
	struct stream *st;
	if (rc == 0)
		rc = stream_open(s, true, K_ANNOUNCE_OUT, &st);
	if (rc != 0) {
		free(copy);
		*ret = rc;
		return;
	}
	st->u.ao.prefix = copy;
	s->st.msgs_out[SL_MOQ_MSG_ANNOUNCE_INTEREST]++;
	tx(s, st, buf, sl_writer_len(&w), false);
	*done = true;
	*ret = 0;
}

int sl_moq_session_poll(struct sl_moq_session *s, uint64_t now_ns)
{
	if (s->closed)
		return SL_ECLOSED;
	enter(s);
	s->now = now_ns;
	if (s->relay && s->publish_prefix && !s->interest_open) {
		int rc;
		open_interest(s, s->publish_prefix, &s->interest_open, &rc);
	}
	/* Work that waited for the peer's stream limit is retried once per poll, unless the
	 * owner tells us when the limit grows (sl_moq_session_writable). */
	if (s->on_ready == NULL)
		while (s->blocked.head)
			task_push(&s->ready, s->blocked.head);
	/* A task blocked by the stream limit again goes back to the blocked list, so this
	 * loop ends. */
	while (s->ready.head && !s->closed) {
		struct task *t = s->ready.head;
		task_unlink(t);
		t->run(t);
	}
	/* Drained: the next work tells the owner again. */
	s->signalled = false;
	int ret = s->closed ? SL_ECLOSED : 0;
	leave(s);
	return ret;
}

void sl_moq_session_set_ready(struct sl_moq_session *s, void (*ready)(void *arg), void *arg,
			      const uint64_t *now)
{
	s->on_ready = ready;
	s->ready_arg = arg;
	s->now_src = now;
	s->signalled = ready != NULL;
	if (ready)
		ready(arg);
}

void sl_moq_session_writable(struct sl_moq_session *s)
{
	if (s->closed)
		return;
	bool work = s->blocked.head != NULL || (s->relay && s->publish_prefix && !s->interest_open);
	while (s->blocked.head)
		task_push(&s->ready, s->blocked.head);
	sl_waitq_wake_all(&s->credit_waiters);
	if (work && s->on_ready && !s->signalled) {
		s->signalled = true;
		s->on_ready(s->ready_arg);
	}
}

/* ---- public: client role ---- */

int sl_moq_session_publish(struct sl_moq_session *s, const char *path, struct sl_broadcast *b)
{
	if (s->closed)
		return SL_ECLOSED;
	if (s->relay)
		return SL_EINVAL;
	size_t n = strlen(path), len;
	struct pub *p = calloc(1, sizeof(*p) + n + 1);
	if (p == NULL)
		return SL_ENOMEM;
	int rc = sl_path_normalize(path, n, p->path, &len);
	for (struct pub *q = s->pubs; rc == 0 && q; q = q->next)
		if (strcmp(q->path, p->path) == 0)
			rc = SL_EDUP;
	if (rc != 0) {
		free(p);
		return rc;
	}
	enter(s);
	p->b = sl_broadcast_ref(b);
	p->next = s->pubs;
	s->pubs = p;
	client_announce_all(s, p->path, true);
	leave(s);
	return 0;
}

int sl_moq_session_unpublish(struct sl_moq_session *s, const char *path)
{
	if (s->closed)
		return SL_ECLOSED;
	char *norm = path_norm(path, strlen(path));
	if (norm == NULL)
		return SL_ENOTFOUND;
	struct pub **pp = &s->pubs;
	while (*pp && strcmp((*pp)->path, norm) != 0)
		pp = &(*pp)->next;
	free(norm);
	if (*pp == NULL)
		return SL_ENOTFOUND;
	struct pub *p = *pp;
	*pp = p->next;
	enter(s);
	client_announce_all(s, p->path, false);
	leave(s);
	sl_broadcast_unref(p->b);
	free(p);
	return 0;
}

static int check_name(const char *s)
{
	if (s == NULL)
		return SL_EINVAL;
	return strlen(s) > SL_MOQ_MAX_STRING ? SL_ERANGE : 0;
}

int sl_moq_session_subscribe(struct sl_moq_session *s, const char *broadcast, const char *track,
			     const struct sl_moq_subscribe_options *opts, uint64_t *id,
			     struct sl_track_consumer *consumer)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = check_name(broadcast);
	if (rc == 0)
		rc = check_name(track);
	if (rc == 0 && track[0] == '\0')
		rc = SL_EINVAL;
	if (rc != 0)
		return rc;
	struct sl_moq_subscribe_options o;
	if (opts)
		o = *opts;
	else
		sl_moq_subscribe_options_default(&o);
	struct sl_track *t = sl_track_new(track, o.priority, NULL);
	if (t == NULL)
		return SL_ENOMEM;
	enter(s);
	struct usub *u = usub_new(s, broadcast, track, t, &o);
	rc = u ? usub_send(u) : SL_ENOMEM;
	if (rc != 0 && u)
		usub_free(u);
	if (rc == 0) {
		sl_track_consume(t, consumer);
		if (id)
			*id = u->id;
	}
	sl_track_unref(t);
	leave(s);
	return rc;
}

int sl_moq_session_subscribe_update(struct sl_moq_session *s, uint64_t id,
				    const struct sl_moq_subscribe_options *opts)
{
	if (s->closed)
		return SL_ECLOSED;
	uint64_t v;
	if (!sl_u64map_get(&s->usubs, id, &v))
		return SL_ENOTFOUND;
	struct usub *u = (struct usub *)(uintptr_t)v;
	struct sl_moq_subscribe_options defaults;
	if (opts == NULL) {
		sl_moq_subscribe_options_default(&defaults);
		opts = &defaults;
	}
	struct sl_moq_subscribe_terms m = {
		.priority = opts->priority,
		.ordered = opts->ordered,
		.max_latency_ms = opts->max_latency_ms,
		.has_start = opts->has_start,
		.start = opts->start,
		.has_end = opts->has_end,
		.end = opts->end,
	};
	uint8_t buf[64];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_subscribe_update(&w, &m);
	if (rc != 0)
		return rc;
	if (u->st == NULL) { /* the SUBSCRIBE waits for the stream limit: it carries the terms */
		u->o = *opts;
		return 0;
	}
	if (u->st->tx_done)
		return SL_ECLOSED;
	u->o = *opts;
	enter(s);
	s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_UPDATE]++;
	rc = tx(s, u->st, buf, sl_writer_len(&w), false);
	leave(s);
	return rc;
}

int sl_moq_session_unsubscribe(struct sl_moq_session *s, uint64_t id)
{
	if (s->closed)
		return SL_ECLOSED;
	uint64_t v;
	if (!sl_u64map_get(&s->usubs, id, &v))
		return SL_ENOTFOUND;
	struct usub *u = (struct usub *)(uintptr_t)v;
	enter(s);
	struct stream *st = u->st;
	sl_track_abort(u->track, SL_ECANCEL);
	usub_free(u);
	if (st)
		tx_fin(s, st);
	leave(s);
	return 0;
}

/* Opens a Fetch stream and sends FETCH + FIN; *out reads the group the reply fills. The caller
 * holds enter(s). Errors: as sl_moq_session_fetch. */
static int fetch_open(struct sl_moq_session *s, const char *broadcast, const char *track,
		      uint8_t priority, uint64_t group, struct sl_group_reader *out)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = check_name(broadcast);
	if (rc == 0)
		rc = check_name(track);
	if (rc == 0 && track[0] == '\0')
		rc = SL_EINVAL;
	if (rc != 0)
		return rc;
	struct sl_moq_fetch m = {
		.broadcast = {(const uint8_t *)broadcast, strlen(broadcast)},
		.track = {(const uint8_t *)track, strlen(track)},
		.priority = priority,
		.group = group,
	};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	rc = sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_FETCH);
	if (rc == 0)
		rc = sl_moq_encode_fetch(&w, &m);
	if (rc != 0)
		return rc;
	/* The fetched group lives in a private track, so the group engine's readers work on
	 * it unchanged. */
	struct sl_track *t = sl_track_new(track, priority, NULL);
	if (t == NULL)
		return SL_ENOMEM;
	struct sl_group *g;
	rc = sl_track_create_group(t, group, s->now, &g);
	if (rc != 0) {
		sl_track_unref(t);
		return rc;
	}
	struct stream *st;
	rc = stream_open(s, true, K_FETCH_OUT, &st);
	if (rc != 0) {
		sl_group_unref(g);
		sl_track_unref(t);
		return rc;
	}
	st->g = g;
	st->trk = t;
	sl_group_reader_init(out, g);
	s->st.msgs_out[SL_MOQ_MSG_FETCH]++;
	tx(s, st, buf, sl_writer_len(&w), true);
	return 0;
}

int sl_moq_session_fetch(struct sl_moq_session *s, const char *broadcast, const char *track,
			 uint8_t priority, uint64_t group, struct sl_group_reader *out)
{
	enter(s);
	int rc = fetch_open(s, broadcast, track, priority, group, out);
	leave(s);
	return rc;
}

int sl_moq_session_announce_interest(struct sl_moq_session *s, const char *prefix)
{
	if (s->closed)
		return SL_ECLOSED;
	char *norm = path_norm(prefix, strlen(prefix));
	if (norm == NULL)
		return SL_ERANGE;
	bool done = false;
	int rc;
	enter(s);
	open_interest(s, norm, &done, &rc);
	leave(s);
	free(norm);
	return rc;
}

int sl_moq_session_next_announce(struct sl_moq_session *s, struct sl_waiter *w,
				 struct sl_moq_announcement *ev)
{
	free(s->acur);
	s->acur = NULL;
	if (s->aqlen == 0) {
		if (s->closed)
			return SL_ECLOSED;
		sl_waitq_add(&s->awaiters, w);
		return SL_EAGAIN;
	}
	struct annev *e = &s->aq[s->aqhead];
	s->aqhead = (s->aqhead + 1) % s->aqcap;
	s->aqlen--;
	s->acur = e->path;
	ev->path = e->path;
	ev->active = e->active;
	return 0;
}

int sl_moq_session_goaway(struct sl_moq_session *s, const char *uri)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = check_name(uri);
	if (rc != 0)
		return rc;
	struct sl_moq_goaway m = {{(const uint8_t *)uri, strlen(uri)}};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	rc = sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_GOAWAY);
	if (rc == 0)
		rc = sl_moq_encode_goaway(&w, &m);
	if (rc != 0)
		return rc;
	enter(s);
	struct stream *st;
	rc = stream_open(s, true, K_GOAWAY_OUT, &st);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_GOAWAY]++;
		tx(s, st, buf, sl_writer_len(&w), true);
	}
	leave(s);
	return rc;
}

const char *sl_moq_session_goaway_uri(const struct sl_moq_session *s)
{
	return s->goaway_uri;
}

#define T struct sl_moq_session_stats
const struct sl_stat_field sl_moq_session_stats_fields[] = {
	SL_STAT_ARR(T, msgs_in, "msgs_in", NULL, msg_names),
	SL_STAT_ARR(T, msgs_out, "msgs_out", NULL, msg_names),
	SL_STAT_U(T, bytes_in, NULL),
	SL_STAT_U(T, bytes_out, NULL),
	SL_STAT_U(T, payload_in, NULL),
	SL_STAT_U(T, payload_out, NULL),
	SL_STAT_U(T, decode_errors, NULL),
	SL_STAT_U(T, protocol_errors, NULL),
	SL_STAT_U(T, unknown_streams, NULL),
	SL_STAT_U(T, streams_in, NULL),
	SL_STAT_U(T, streams_out, NULL),
	SL_STAT_U(T, resets_in, NULL),
	SL_STAT_U(T, resets_out, NULL),
	SL_STAT_U(T, groups_in, NULL),
	SL_STAT_U(T, groups_in_dropped, NULL),
	SL_STAT_U(T, groups_sent, NULL),
	SL_STAT_U(T, groups_reset, NULL),
	SL_STAT_U(T, groups_late, NULL),
	SL_STAT_U(T, groups_lagged, NULL),
	SL_STAT_U(T, drops_sent, NULL),
	SL_STAT_U(T, subscribes_in, NULL),
	SL_STAT_G(T, subscribes_active, NULL),
	/* Named apart from the relay's upstreams_active, which a worker shows beside it. */
	SL_STAT_GAS(T, upstreams_active, "session_upstreams_active", NULL),
	SL_STAT_U(T, fetches_served, NULL),
	SL_STAT_HIDE(T, close_code, "one session's ending, meaningless in a worker's sum"),
	SL_STAT_HIDE(T, closed, "one session's state, meaningless in a worker's sum"),
	SL_STAT_HIDE(T, closed_locally, "one session's state, meaningless in a worker's sum"),
	SL_STAT_TABLE_END,
};
#undef T

#define T struct sl_moq_relay_stats
const struct sl_stat_field sl_moq_relay_stats_fields[] = {
	SL_STAT_U(T, upstream_subscribes, NULL), SL_STAT_U(T, upstream_cancels, NULL),
	SL_STAT_U(T, shared_subscribes, NULL),	 SL_STAT_U(T, broadcasts_announced, NULL),
	SL_STAT_U(T, broadcasts_refused, NULL),	 SL_STAT_G(T, upstreams_active, NULL),
	SL_STAT_U(T, upstream_fetches, NULL),	 SL_STAT_TABLE_END,
};
#undef T
