/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The upstream side: the relay's shared state (struct sl_moq_relay), broadcasts a relay
 * session's peer announced (remote broadcasts, published into the origin), and upstream
 * subscriptions (this side subscribed, the peer sends groups): those a remote broadcast's
 * provider opens on a relay, and those a client asks for with sl_moq_session_subscribe. The
 * relay-only halves of the other parts live here too (ANNOUNCE into the origin, track lookup in
 * the origin, FETCH forwarded upstream), so those parts test the role once and call in.
 */
#include "moq/session_int.h"

/* ---- relay: remote broadcasts and upstream subscriptions ---- */

static void usub_free(struct usub *u)
{
	struct sl_moq_session *s = u->s;
	sm_task_unlink(&u->task);
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
void sm_usub_end(struct usub *u, int err)
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
	struct sl_moq_stream *st = u->st;
	sl_track_abort(u->track, SL_ECANCEL);
	usub_free(u);
	if (st)
		sm_tx_fin(s, st);
}

/* ---- lite-05: TRACK_INFO from a remote broadcast's publisher ---- */

/* The query is answered (or given up): every waiting downstream Track stream takes the result
 * now, because the query may be freed before their tasks run. */
static void tinfo_wake(struct tinfo *q)
{
	sl_waitq_wake_all(&q->waiters);
}

static void tinfo_free(struct sl_moq_session *s, struct tinfo *q)
{
	if (q->st) {
		struct sl_moq_stream *st = q->st;
		q->st = NULL;
		st->u.to = NULL;
		if (!s->closed)
			sm_reset_stream(s, st, SL_MOQ_ERR_CANCEL);
	}
	tinfo_wake(q);
	sl_waitq_detach_all(&q->waiters);
	free(q);
}

void sm_tinfo_done(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_track_info *info)
{
	(void)s;
	struct tinfo *q = st->u.to;
	if (q == NULL)
		return;
	st->u.to = NULL;
	q->st = NULL;
	if (info) {
		q->known = true;
		q->info = *info;
	}
	tinfo_wake(q);
}

int sm_relay_track_info(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_broadcast *b,
			const char *name, struct sl_moq_track_info *out)
{
	uint64_t v;
	if (!sl_u64map_get(&s->relay->remotes, (uint64_t)(uintptr_t)b, &v))
		return -1;
	struct remote *rb = (struct remote *)(uintptr_t)v;
	struct sl_moq_session *up = rb->s;
	if (!up->v05 || up->closed)
		return -1;
	struct tinfo *q = rb->tinfos;
	while (q && strcmp(q->name, name) != 0)
		q = q->next;
	if (q && q->known) {
		*out = q->info;
		return 1;
	}
	if (q == NULL) {
		if (rb->ntinfos >= SM_MAX_TINFOS)
			return -1;
		size_t n = strlen(name);
		const char *bpath = sm_path_out(rb->s, rb->path);
		struct sl_moq_track m = {{(const uint8_t *)bpath, strlen(bpath)},
					 {(const uint8_t *)name, n}};
		uint8_t buf[MSG_MAX];
		struct sl_writer w;
		sl_writer_init(&w, buf, sizeof(buf));
		if (sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_TRACK) != 0 ||
		    sl_moq_encode_track(&w, &m) != 0)
			return -1;
		q = calloc(1, sizeof(*q) + n + 1);
		if (q == NULL)
			return -1;
		memcpy(q->name, name, n + 1);
		sl_waitq_init(&q->waiters);
		sm_enter(up);
		struct sl_moq_stream *ts;
		int rc = sm_stream_open(up, true, K_TRACK_OUT, &ts);
		if (rc == 0) {
			ts->u.to = q;
			q->st = ts;
			up->st.msgs_out[SL_MOQ_MSG_TRACK]++;
			/* Finished once answered, as the reference relay does: a publisher
			 * may take an early FIN for a withdrawn request. */
			sm_tx(up, ts, buf, sl_writer_len(&w), false);
		}
		sm_leave(up);
		if (rc != 0) { /* no stream now: this request is answered without asking */
			free(q);
			return -1;
		}
		q->next = rb->tinfos;
		rb->tinfos = q;
		rb->ntinfos++;
	} else if (q->st == NULL) {
		return -1; /* asked before, and the publisher did not answer */
	}
	st->u.ti.q = q;
	sl_waitq_add(&q->waiters, &st->u.ti.w);
	return 0;
}

void sm_remote_end(struct sl_moq_session *s, struct remote *rb)
{
	while (rb->tinfos) {
		struct tinfo *q = rb->tinfos;
		rb->tinfos = q->next;
		tinfo_free(s, q);
	}
	for (struct usub *u = s->usub_list, *n; u; u = n) {
		n = u->next;
		if (u->rb != rb)
			continue;
		struct sl_moq_stream *st = u->st;
		sm_usub_end(u, 0);
		if (st && !s->closed)
			sm_tx_fin(s, st);
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

void sm_remotes_end_stream(struct sl_moq_session *s, struct sl_moq_stream *ann)
{
	for (struct remote *rb = s->remotes, *n; rb; rb = n) {
		n = rb->next;
		if (rb->ann == ann)
			sm_remote_end(s, rb);
	}
}

static int usub_send(struct usub *u);

static void usub_retry(struct task *t)
{
	struct usub *u = container_of(t, struct usub, task);
	int rc = usub_send(u);
	if (rc == SL_EBUSY)
		sm_task_push(&u->s->blocked, &u->task);
	else if (rc != 0)
		sm_usub_end(u, rc);
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
	sm_task_init(&u->task, s, usub_retry);
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
	struct sl_moq_stream *st;
	rc = sm_stream_open(s, true, K_SUBSCRIBE_OUT, &st);
	if (rc != 0)
		return rc;
	st->u.u = u;
	u->st = st;
	s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE]++;
	if (u->rb) /* only a relay's provider sets it */
		s->relay->st.upstream_subscribes++;
	sm_tx(s, st, buf, sl_writer_len(&w), false);
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
	struct usub *u = usub_new(s, sm_path_out(s, rb->path), name, t, &o);
	if (u == NULL) {
		sl_broadcast_remove_track(b, t);
		sl_track_unref(t);
		return SL_ENOMEM;
	}
	u->rb = rb;
	s->relay->st.upstreams_active++;
	rc = usub_send(u);
	if (rc == SL_EBUSY) {
		sm_task_push(&s->blocked, &u->task);
	} else if (rc != 0) {
		usub_free(u);
		sl_track_unref(t);
		return rc;
	}
	sl_track_set_unused(t, usub_unused, u);
	*out = t;
	return 0;
}

/*
 * Relay: the peer announced path (taken over) on its interest stream st: active publishes a
 * remote broadcast in the origin with this session as its provider, inactive ends it.
 */
int sm_relay_on_announce(struct sl_moq_session *s, struct sl_moq_stream *st, char *path,
			 bool active)
{
	struct sl_moq_relay *r = s->relay;
	struct remote *rb = s->remotes;
	while (rb && strcmp(rb->path, path) != 0)
		rb = rb->next;
	if (!active) {
		if (rb)
			sm_remote_end(s, rb);
		free(path);
		return 0;
	}
	if (!sm_allowed(s, SL_MOQ_AUTH_PUBLISH, path)) {
		/* Outside the connection's publish grant: the broadcast is not published and the
		 * announce stream stays open, since the peer's other broadcasts on it may be
		 * allowed; moq-relay ignores such an announcement the same way. Its end, if it
		 * comes, finds no remote above and is ignored too. */
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
	rb->ann = st;
	sl_broadcast_set_user(rb->b, rb);
	sl_broadcast_set_provider(rb->b, remote_provide, rb);
	rb->next = s->remotes;
	if (s->remotes)
		s->remotes->pprev = &rb->next;
	rb->pprev = &s->remotes;
	s->remotes = rb;
	return 0;
}

/*
 * Relay: finds a track in the origin, where a broadcast's provider (a publishing session, the
 * cross-worker link) creates a missing track and feeds it (sm_broadcast_track).
 */
int sm_relay_lookup_track(struct sl_moq_session *s, const char *bpath, const char *name,
			  uint8_t priority, bool create, struct sl_track **out)
{
	struct sl_broadcast *b = sl_origin_find(s->relay->origin, bpath);
	if (b == NULL)
		return SL_ENOTFOUND;
	if (create && sl_broadcast_track(b, name) != NULL)
		s->relay->st.shared_subscribes++;
	return sm_broadcast_track(b, name, priority, create, out);
}

/*
 * Relay: a FETCH for a group the origin does not hold goes to the session whose peer announced
 * the broadcast (its frames are forwarded to st as they arrive, and its reset, e.g. not-found,
 * becomes ours). Broadcasts another provider feeds (the cross-worker link) are served from the
 * cache only. Returns 0, SL_EBUSY (the upstream's stream limit: retry), or SL_ENOTFOUND.
 */
int sm_relay_fetch_upstream(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	struct sl_broadcast *b = sl_origin_find(s->relay->origin, st->u.fi.bpath);
	uint64_t v;
	if (b == NULL || !sl_u64map_get(&s->relay->remotes, (uint64_t)(uintptr_t)b, &v))
		return SL_ENOTFOUND;
	struct remote *rb = (struct remote *)(uintptr_t)v;
	struct sl_moq_session *up = rb->s;
	if (up->closed)
		return SL_ENOTFOUND;
	sm_enter(up);
	int rc = sm_fetch_open(up, sm_path_out(up, rb->path), st->u.fi.name, st->u.fi.priority,
			       st->u.fi.group, &st->u.fi.r);
	sm_leave(up);
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

int sm_on_group_header(struct sl_moq_session *s, struct sl_moq_stream *st,
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

struct sl_moq_relay *sl_moq_relay_new(struct sl_origin *origin)
{
	struct sl_moq_relay *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (sl_u64map_init(&r->remotes, 16) != 0) {
		free(r);
		return NULL;
	}
	/* Cache-line aligned: a stream's hot fields then span the fewest lines. */
	if (sl_pool_init(&r->streams, "moq stream pool", sizeof(struct sl_moq_stream), 64, 0, 0) !=
	    0) {
		sl_u64map_fini(&r->remotes);
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
	sl_pool_fini(&r->streams);
	free(r);
}

void sl_moq_relay_adopt(struct sl_moq_relay *r)
{
	sl_owner_adopt(&r->owner);
	sl_owner_adopt(&r->streams.owner);
}

void sl_moq_relay_disown(struct sl_moq_relay *r)
{
	sl_owner_release(&r->owner);
	sl_owner_release(&r->streams.owner);
}

void sl_moq_relay_pool_stats(const struct sl_moq_relay *r, struct sl_pool_stats *out)
{
	sl_pool_stats(&r->streams, out);
}

struct sl_origin *sl_moq_relay_origin(struct sl_moq_relay *r)
{
	return r->origin;
}

void sl_moq_relay_stats(const struct sl_moq_relay *r, struct sl_moq_relay_stats *out)
{
	*out = r->st;
}

int sl_moq_session_subscribe(struct sl_moq_session *s, const char *broadcast, const char *track,
			     const struct sl_moq_subscribe_options *opts, uint64_t *id,
			     struct sl_track_consumer *consumer)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = sm_check_track_names(broadcast, track);
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
	sm_enter(s);
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
	sm_leave(s);
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
	sm_enter(s);
	s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_UPDATE]++;
	rc = sm_tx(s, u->st, buf, sl_writer_len(&w), false);
	sm_leave(s);
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
	sm_enter(s);
	struct sl_moq_stream *st = u->st;
	sl_track_abort(u->track, SL_ECANCEL);
	usub_free(u);
	if (st)
		sm_tx_fin(s, st);
	sm_leave(s);
	return 0;
}

#define T struct sl_moq_relay_stats
const struct sl_stat_field sl_moq_relay_stats_fields[] = {
	SL_STAT_U(T, upstream_subscribes, NULL), SL_STAT_U(T, upstream_cancels, NULL),
	SL_STAT_U(T, shared_subscribes, NULL),	 SL_STAT_U(T, broadcasts_announced, NULL),
	SL_STAT_U(T, broadcasts_refused, NULL),	 SL_STAT_G(T, upstreams_active, NULL),
	SL_STAT_U(T, upstream_fetches, NULL),	 SL_STAT_TABLE_END,
};
#undef T
