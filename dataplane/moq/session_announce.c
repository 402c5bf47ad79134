/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Announcements: ANNOUNCE_INTEREST streams the peer opened (this side answers from the origin or
 * from the client's published broadcasts), those this side opens (the peer's ANNOUNCEs become
 * remote broadcasts on a relay, a queue for sl_moq_session_next_announce on a client), and the
 * client's publish/unpublish.
 */
#include "moq/session_int.h"

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

/* ---- announce streams the peer opened (this side answers) ---- */

static int send_announce(struct sl_moq_session *s, struct sl_moq_stream *st, const char *suffix,
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
		rc = sm_tx(s, st, buf, sl_writer_len(&w), false);
	}
	return rc;
}

/* lite-05: the responder's first message on an Announce stream, before any ANNOUNCE (the
 * reference client decodes the first message as ANNOUNCE_OK whatever it is). */
static int send_announce_ok(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t active)
{
	struct sl_moq_announce_ok m = {.hop_id = s->cfg.origin_id, .active_count = active};
	uint8_t buf[32];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_announce_ok(&w, &m);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_ANNOUNCE_OK]++;
		rc = sm_tx(s, st, buf, sl_writer_len(&w), false);
	}
	return rc;
}

static void announce_run(struct task *t)
{
	struct sl_moq_stream *st = container_of(t, struct sl_moq_stream, u.ai.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead || st->u.ai.a == NULL)
		return;
	struct sl_announce ev;
	while (sl_announced_next(st->u.ai.a, &st->u.ai.w, &ev) == 0) {
		/* A broadcast the peer may not subscribe to is not its business: it is left out
		 * of the announcements (moq-relay's subscribe-scoped origin does the same), its
		 * end as well as its start, so the peer never sees a path it was not shown. */
		if (s->cfg.authorize && st->u.ai.prefix) {
			char *full = sm_path_join(st->u.ai.prefix, ev.suffix, strlen(ev.suffix));
			bool ok = full && sm_allowed(s, SL_MOQ_AUTH_SUBSCRIBE, full);
			free(full);
			if (!ok)
				continue;
		}
		send_announce(s, st, ev.suffix, ev.active);
	}
}

static void announce_wake(struct sl_waiter *w)
{
	struct sl_moq_stream *st = container_of(w, struct sl_moq_stream, u.ai.w);
	sm_ready_push(st->u.ai.task.s, &st->u.ai.task);
}

int sm_on_interest(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_announce_interest *m)
{
	s->st.msgs_in[SL_MOQ_MSG_ANNOUNCE_INTEREST]++;
	char *prefix = NULL;
	if (!sm_str_has_nul(m->prefix))
		prefix = s->relay && s->root
				 ? sm_path_join(s->root, (const char *)m->prefix.p, m->prefix.len)
				 : sm_path_norm((const char *)m->prefix.p, m->prefix.len);
	if (prefix == NULL) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_ERANGE;
	}
	sm_task_init(&st->u.ai.task, s, announce_run);
	sl_waiter_init(&st->u.ai.w, announce_wake);
	if (s->relay && !sm_allowed(s, SL_MOQ_AUTH_ANNOUNCE, prefix)) {
		/* Nothing under the prefix could be shown to this peer: refused as a whole, as
		 * moq-relay answers an interest outside the token's subscribe grant. */
		free(prefix);
		st->err_code = SL_MOQ_ERR_UNAUTHORIZED;
		return SL_EINVAL;
	}
	if (s->relay) {
		st->u.ai.a = sl_origin_announced(s->relay->origin, prefix);
		/* Kept only when each announcement is to be authorised (announce_run); freed
		 * with the stream. */
		if (s->cfg.authorize)
			st->u.ai.prefix = prefix;
		else
			free(prefix);
		if (st->u.ai.a == NULL) {
			st->err_code = SL_MOQ_ERR_BOUNDS;
			return SL_ENOMEM;
		}
		/* The broadcasts active now are the consumer's first announcements. */
		if (s->v05 && send_announce_ok(s, st, sl_announced_pending(st->u.ai.a)) != 0) {
			st->err_code = SL_MOQ_ERR_CANCEL;
			return SL_ECLOSED;
		}
		sm_ready_push(s, &st->u.ai.task);
		return 0;
	}
	st->u.ai.prefix = prefix;
	st->u.ai.next = s->ann_ins;
	if (s->ann_ins)
		s->ann_ins->u.ai.pprev = &st->u.ai.next;
	st->u.ai.pprev = &s->ann_ins;
	s->ann_ins = st;
	if (s->v05) {
		uint64_t n = 0;
		for (struct pub *p = s->pubs; p; p = p->next) {
			const char *suffix;
			n += sl_path_strip_prefix(p->path, prefix, &suffix);
		}
		send_announce_ok(s, st, n);
	}
	for (struct pub *p = s->pubs; p; p = p->next) {
		const char *suffix;
		if (sl_path_strip_prefix(p->path, prefix, &suffix))
			send_announce(s, st, suffix, true);
	}
	return 0;
}

static void client_announce_all(struct sl_moq_session *s, const char *path, bool active)
{
	for (struct sl_moq_stream *st = s->ann_ins; st; st = st->u.ai.next) {
		const char *suffix;
		if (sl_path_strip_prefix(path, st->u.ai.prefix, &suffix))
			send_announce(s, st, suffix, active);
	}
}

/* ---- announcements the peer sends on this side's interest stream ---- */

int sm_on_announce(struct sl_moq_session *s, struct sl_moq_stream *st,
		   const struct sl_moq_announce *m)
{
	s->st.msgs_in[SL_MOQ_MSG_ANNOUNCE]++;
	char *path =
		sm_str_has_nul(m->suffix)
			? NULL
			: sm_path_join(st->u.ao.prefix, (const char *)m->suffix.p, m->suffix.len);
	if (path == NULL) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_ERANGE;
	}
	if (s->relay == NULL) {
		annq_push(s, path, m->active);
		return 0;
	}
	if (s->root) { /* the peer's path, below its connection's root */
		char *full = sm_path_join(s->root, path, strlen(path));
		free(path);
		if (full == NULL) {
			st->err_code = SL_MOQ_ERR_BOUNDS;
			return SL_ERANGE;
		}
		path = full;
	}
	return sm_relay_on_announce(s, st, path, m->active);
}

void sm_open_interest(struct sl_moq_session *s, const char *prefix, bool *done, int *ret)
{
	/* lite-05 peers exclude broadcasts that came through this side (our id in their hop
	 * lists); lite-04 sessions have no id and exclude nothing. */
	struct sl_moq_announce_interest m = {{(const uint8_t *)prefix, strlen(prefix)},
					     s->v05 ? s->cfg.origin_id : 0};
	uint8_t buf[MSG_MAX];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_stream_type(&w, SL_MOQ_STREAM_ANNOUNCE);
	if (rc == 0)
		rc = sl_moq_encode_announce_interest(&w, &m);
	char *copy = rc == 0 ? strdup(prefix) : NULL;
	if (rc == 0 && copy == NULL)
		rc = SL_ENOMEM;
	struct sl_moq_stream *st;
	if (rc == 0)
		rc = sm_stream_open(s, true, K_ANNOUNCE_OUT, &st);
	if (rc != 0) {
		free(copy);
		*ret = rc;
		return;
	}
	st->u.ao.prefix = copy;
	s->st.msgs_out[SL_MOQ_MSG_ANNOUNCE_INTEREST]++;
	sm_tx(s, st, buf, sl_writer_len(&w), false);
	*done = true;
	*ret = 0;
}

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
	sm_enter(s);
	p->b = sl_broadcast_ref(b);
	p->next = s->pubs;
	s->pubs = p;
	client_announce_all(s, p->path, true);
	sm_leave(s);
	return 0;
}

int sl_moq_session_unpublish(struct sl_moq_session *s, const char *path)
{
	if (s->closed)
		return SL_ECLOSED;
	char *norm = sm_path_norm(path, strlen(path));
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
	sm_enter(s);
	client_announce_all(s, p->path, false);
	sm_leave(s);
	sl_broadcast_unref(p->b);
	free(p);
	return 0;
}

int sl_moq_session_announce_interest(struct sl_moq_session *s, const char *prefix)
{
	if (s->closed)
		return SL_ECLOSED;
	char *norm = sm_path_norm(prefix, strlen(prefix));
	if (norm == NULL)
		return SL_ERANGE;
	bool done = false;
	int rc;
	sm_enter(s);
	sm_open_interest(s, norm, &done, &rc);
	sm_leave(s);
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
