/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FETCH: serving one group to the peer (from the cache, or on a relay forwarded from the
 * session that announced the broadcast) and fetching one group from it
 * (sl_moq_session_fetch).
 */
#include "moq/session_int.h"

/* ---- fetch ---- */

static void fetch_run(struct task *t)
{
	struct sl_moq_stream *st = container_of(t, struct sl_moq_stream, u.fi.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead)
		return;
	for (;;) {
		struct sl_slice f;
		uint64_t ts;
		int rc = sl_group_read_frame_ts(&st->u.fi.r, &st->u.fi.w, &f, &ts);
		if (rc == SL_EAGAIN)
			return;
		if (rc == SL_EEOF) {
			s->st.fetches_served++;
			sl_group_reader_release(&st->u.fi.r);
			st->rx_done = true; /* the request is served: later bytes are not read */
			sm_tx_fin(s, st);
			return;
		}
		if (rc != 0) {
			sm_reset_stream(s, st, sl_moq_error_code(rc));
			return;
		}
		rc = sm_tx_frame_v(s, st, f, ts);
		if (rc != 0) {
			sm_reset_stream(s, st, SL_MOQ_ERR_CANCEL);
			return;
		}
	}
}

static void fetch_wake(struct sl_waiter *w)
{
	struct sl_moq_stream *st = container_of(w, struct sl_moq_stream, u.fi.w);
	sm_ready_push(st->u.fi.task.s, &st->u.fi.task);
}

/*
 * Finds the group a FETCH asks for and starts st->u.fi.r on it: the cached group, or, in a
 * relay, a group fetched upstream (sm_relay_fetch_upstream). Returns 0, SL_EBUSY (the
 * upstream's stream limit: retry), or SL_ENOTFOUND.
 */
static int fetch_find(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	struct sl_track *t = NULL;
	int rc = sm_lookup_track(s, st->u.fi.bpath, st->u.fi.name, st->u.fi.priority, false, &t);
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
	return sm_relay_fetch_upstream(s, st);
}

/* A FETCH waiting for the upstream's stream limit: retried once per poll. */
static void fetch_retry(struct task *t)
{
	struct sl_moq_stream *st = container_of(t, struct sl_moq_stream, u.fi.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead)
		return;
	int rc = fetch_find(s, st);
	if (rc == SL_EBUSY) {
		sm_task_push(&s->blocked, t);
		return;
	}
	if (rc != 0) {
		sm_reset_stream(s, st, sl_moq_error_code(rc));
		return;
	}
	t->run = fetch_run;
	fetch_run(t);
}

int sm_on_fetch(struct sl_moq_session *s, struct sl_moq_stream *st, const struct sl_moq_fetch *m)
{
	s->st.msgs_in[SL_MOQ_MSG_FETCH]++;
	st->err_code = SL_MOQ_ERR_NOT_FOUND;
	if (sm_str_has_nul(m->broadcast) || sm_str_has_nul(m->track) || m->track.len == 0)
		return SL_ENOTFOUND;
	st->u.fi.bpath = sm_path_in(s, m->broadcast);
	st->u.fi.name = sm_str_dup(m->track);
	if (st->u.fi.bpath == NULL || st->u.fi.name == NULL)
		return SL_ENOMEM;
	if (s->cfg.authorize) {
		char *norm = sm_path_norm(st->u.fi.bpath, strlen(st->u.fi.bpath));
		bool ok = norm && sm_allowed(s, SL_MOQ_AUTH_SUBSCRIBE, norm);
		free(norm);
		if (!ok) {
			st->err_code = SL_MOQ_ERR_UNAUTHORIZED;
			return SL_EINVAL;
		}
	}
	st->u.fi.group = m->group;
	st->u.fi.priority = m->priority;
	sm_task_init(&st->u.fi.task, s, fetch_retry);
	sl_waiter_init(&st->u.fi.w, fetch_wake);
	int rc = fetch_find(s, st);
	if (rc == SL_EBUSY) {
		sm_task_push(&s->blocked, &st->u.fi.task);
		return 0;
	}
	if (rc != 0)
		return rc;
	st->u.fi.task.run = fetch_run;
	sm_ready_push(s, &st->u.fi.task);
	return 0;
}

/* Opens a Fetch stream and sends FETCH + FIN; *out reads the group the reply fills. The caller
 * holds sm_enter(s). Errors: as sl_moq_session_fetch. */
int sm_fetch_open(struct sl_moq_session *s, const char *broadcast, const char *track,
		  uint8_t priority, uint64_t group, struct sl_group_reader *out)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = sm_check_track_names(broadcast, track);
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
	struct sl_moq_stream *st;
	rc = sm_stream_open(s, true, K_FETCH_OUT, &st);
	if (rc != 0) {
		sl_group_unref(g);
		sl_track_unref(t);
		return rc;
	}
	st->g = g;
	st->trk = t;
	sl_group_reader_init(out, g);
	s->st.msgs_out[SL_MOQ_MSG_FETCH]++;
	sm_tx(s, st, buf, sl_writer_len(&w), true);
	return 0;
}

int sl_moq_session_fetch(struct sl_moq_session *s, const char *broadcast, const char *track,
			 uint8_t priority, uint64_t group, struct sl_group_reader *out)
{
	sm_enter(s);
	int rc = sm_fetch_open(s, broadcast, track, priority, group, out);
	sm_leave(s);
	return rc;
}
