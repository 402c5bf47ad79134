/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Downstream subscriptions (the peer subscribed, this side sends groups): SUBSCRIBE and
 * SUBSCRIBE_UPDATE, the scheduler that opens group streams in the subscriber's order and moves
 * frames onto them, the latency and in-flight limits, and SUBSCRIBE_DROP (the accounting itself
 * is moq/seqset.h).
 */
#include "moq/session_int.h"

/* Takes a group stream off its subscription, and its unacknowledged bytes off the
 * subscription's in-flight count: what is still in flight on it is no longer the
 * subscription's to budget (the stream is being reset or released). */
void sm_group_out_unlink(struct sl_moq_stream *st)
{
	if (st->u.go.d)
		st->u.go.d->inflight -= st->u.go.unacked;
	if (st->u.go.pprev) {
		*st->u.go.pprev = st->u.go.next;
		if (st->u.go.next)
			st->u.go.next->u.go.pprev = st->u.go.pprev;
		st->u.go.pprev = NULL;
		st->u.go.next = NULL;
	}
	st->u.go.d = NULL;
}

/* ---- downstream subscriptions ---- */

static void dsub_run(struct task *t);

static void dsub_wake(struct sl_waiter *w)
{
	struct dsub *d = container_of(w, struct dsub, w);
	sm_ready_push(d->s, &d->task);
}

static void group_wake(struct sl_waiter *w)
{
	struct sl_moq_stream *st = container_of(w, struct sl_moq_stream, u.go.w);
	if (st->u.go.d)
		sm_ready_push(st->u.go.d->s, &st->u.go.d->task);
}

/*
 * Frees a subscription. reset_unfinished: group streams not yet fully queued are reset (an
 * unsubscribe); fully queued ones are left to complete.
 */
void sm_dsub_free(struct dsub *d, bool reset_unfinished)
{
	struct sl_moq_session *s = d->s;
	for (uint32_t i = 0; i < d->npend; i++)
		sl_group_reader_release(&d->pend[i].r);
	free(d->pend);
	d->pend = NULL;
	d->npend = 0;
	while (d->groups) {
		struct sl_moq_stream *g = d->groups;
		sm_group_out_unlink(g);
		if (!g->u.go.fin && reset_unfinished && !s->closed) {
			s->st.groups_reset++;
			sm_reset_stream(s, g, SL_MOQ_ERR_CANCEL);
		} else {
			sm_stream_release(s, g);
		}
	}
	/* Last, because releasing the consumer may cancel an upstream (the track's unused
	 * callback), which aborts the track and wakes whoever still waits on it. */
	sl_track_consumer_release(&d->cons, &d->w);
	sl_waiter_cancel(&d->w);
	sm_task_unlink(&d->task);
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
	/* lite-05 numbers DROP 2 (1 is END); the body is the same. */
	struct sl_moq_response05 m5 = {.type = SL_MOQ_RESPONSE05_DROP};
	m5.u.drop = m.u.drop;
	uint8_t buf[48];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int erc = s->v05 ? sl_moq_encode_response05(&w, &m5) : sl_moq_encode_response(&w, &m);
	if (erc != 0) /* a sequence >= 2^53: JS could not read it */
		return;
	if (sm_tx(s, d->st, buf, sl_writer_len(&w), false) == 0) {
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
void sm_dsub_resolved(struct dsub *d, uint64_t seq)
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
static void group_reset(struct sl_moq_session *s, struct sl_moq_stream *g, uint64_t code)
{
	struct dsub *d = g->u.go.d;
	if (d) {
		sm_dsub_resolved(d, g->u.go.seq);
		if (code != SL_MOQ_ERR_CANCEL)
			drop_add(s, d, g->u.go.seq, g->u.go.seq, code);
	}
	s->st.groups_reset++;
	sm_group_out_unlink(g);
	sm_reset_stream(s, g, code);
}

/* Moves every ready frame of a group to its stream; finishes or resets it at the end. */
static void group_pump(struct sl_moq_session *s, struct sl_moq_stream *g)
{
	for (;;) {
		struct sl_slice f;
		uint64_t ts;
		int rc = sl_group_read_frame_ts(&g->u.go.r, &g->u.go.w, &f, &ts);
		if (rc == SL_EAGAIN)
			return;
		if (rc == SL_EEOF) {
			sl_group_reader_release(&g->u.go.r);
			g->u.go.fin = true;
			s->st.groups_sent++;
			if (g->u.go.d)
				sm_dsub_resolved(g->u.go.d, g->u.go.seq);
			if (sm_tx(s, g, NULL, 0, true) != 0)
				group_reset(s, g, SL_MOQ_ERR_CANCEL);
			return;
		}
		if (rc != 0) {
			group_reset(s, g, sl_moq_error_code(rc));
			return;
		}
		/* Only a frame long enough for a stamp has bytes to look at (an empty one has
		 * no buffer). */
		if (f.len >= SL_FRAME_STAMP_LEN)
			sl_trace_frame(s->cfg.trace, SL_TRACE_QUEUED, sl_slice_data(&f), f.len);
		rc = sm_tx_frame_v(s, g, f, ts);
		if (rc != 0) {
			group_reset(s, g, SL_MOQ_ERR_CANCEL);
			return;
		}
	}
}

/* lite-05's reduced SUBSCRIBE_OK: the first group that will be delivered. Sent when that is
 * known (a start was asked for, the track has a latest group, or the first group arrives), as
 * the reference publisher does; subscribers accept groups before it anyway. */
static void send_ok05(struct sl_moq_session *s, struct dsub *d, uint64_t group)
{
	if (d->ok_sent || d->finished || d->st == NULL || d->st->tx_done)
		return;
	struct sl_moq_response05 m = {.type = SL_MOQ_RESPONSE05_OK, .u.group = group};
	uint8_t buf[16];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_moq_encode_response05(&w, &m) == 0 &&
	    sm_tx(s, d->st, buf, sl_writer_len(&w), false) == 0) {
		s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_OK]++;
		d->ok_sent = true;
	}
}

/*
 * lite-05's SUBSCRIBE_END before the FIN of a subscription that completed: the first group that
 * will never come (exclusive, as the reference client reads it): past the bounded range's end,
 * or past the newest group delivered; 0 when none was.
 */
static void send_end05(struct sl_moq_session *s, struct dsub *d)
{
	if (d->st == NULL || d->st->tx_done)
		return;
	uint64_t end = 0;
	if (d->has_newest)
		end = d->newest_seq + 1;
	if (d->has_end && (d->range_done || d->past_end) && d->end + 1 > end)
		end = d->end + 1;
	if (!d->ok_sent)
		send_ok05(s, d, end);
	struct sl_moq_response05 m = {.type = SL_MOQ_RESPONSE05_END, .u.group = end};
	uint8_t buf[16];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	if (sl_moq_encode_response05(&w, &m) == 0 &&
	    sm_tx(s, d->st, buf, sl_writer_len(&w), false) == 0)
		s->st.msgs_out[SL_MOQ_MSG_SUBSCRIBE_END]++;
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

uint64_t sl_moq_group_order(uint8_t sub_priority, uint8_t pub_priority, bool ordered,
			    uint64_t sequence)
{
	const uint64_t top = (UINT64_C(1) << 48) - 1; /* sequences past 2^48 share the end */
	uint64_t seq = sequence < top ? sequence : top;
	return (uint64_t)(255 - sub_priority) << 56 | (uint64_t)(255 - pub_priority) << 48 |
	       (ordered ? seq : top - seq);
}

static void group_set_order(struct sl_moq_session *s, struct dsub *d, struct sl_moq_stream *g)
{
	if (s->ops.set_order && g->h)
		s->ops.set_order(s->t, g->h,
				 sl_moq_group_order(d->priority, sl_track_priority(d->cons.track),
						    d->ordered, g->u.go.seq));
}

/* Opens a group stream for each pending group, in the subscriber's order. */
static void dsub_start_groups(struct sl_moq_session *s, struct dsub *d)
{
	if (d->npend > 1)
		qsort(d->pend, d->npend, sizeof(d->pend[0]), d->ordered ? cmp_asc : cmp_desc);
	uint32_t i = 0;
	for (; i < d->npend; i++) {
		struct pending *p = &d->pend[i];
		struct sl_moq_stream *g;
		int rc = sm_stream_open(s, false, K_GROUP_OUT, &g);
		if (rc == SL_EBUSY) {
			sm_task_push(&s->blocked, &d->task);
			break;
		}
		if (rc != 0) {
			sl_group_reader_release(&p->r);
			s->st.groups_reset++;
			sm_dsub_resolved(d, p->seq);
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
		    sm_tx(s, g, buf, sl_writer_len(&w), false) != 0) {
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
		if (s->v05 && !d->ok_sent)
			send_ok05(s, d, seq);
		if (!d->has_newest || seq > d->newest_seq) {
			d->has_newest = true;
			d->newest_seq = seq;
			d->newest_ns = s->now;
		}
		if (pend_push(d, &r, seq, s->now) != 0) {
			sl_group_reader_release(&r);
			s->st.groups_reset++;
			sm_dsub_resolved(d, seq);
			drop_add(s, d, seq, seq, SL_MOQ_ERR_DROPPED);
		}
		dsub_check_range(d);
	}
	/* 2. Retire fully acknowledged streams; expire groups older than the max latency. */
	for (struct sl_moq_stream *g = d->groups, *n; g; g = n) {
		n = g->u.go.next;
		if (g->u.go.fin && g->u.go.unacked == 0) {
			sm_group_out_unlink(g);
			sm_stream_release(s, g);
		} else if (older_than_latency(d, g->u.go.seq, g->u.go.arrival_ns)) {
			s->st.groups_late++;
			group_reset(s, g, SL_MOQ_ERR_OLD);
		}
	}
	uint32_t kept = 0;
	for (uint32_t i = 0; i < d->npend; i++) {
		if (older_than_latency(d, d->pend[i].seq, d->pend[i].arrival_ns)) {
			s->st.groups_late++;
			sm_dsub_resolved(d, d->pend[i].seq);
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
	for (struct sl_moq_stream *g = d->groups, *n; g; g = n) {
		n = g->u.go.next;
		if (!g->u.go.fin)
			group_pump(s, g);
	}
	/* 4. A subscriber that does not acknowledge loses its oldest groups, never the newest,
	 * so its in-flight bytes (references into the cache) stay within the budget. The count
	 * is kept as bytes are written and acknowledged; resetting a group takes its bytes off. */
	while (d->inflight > s->cfg.max_inflight_bytes) {
		struct sl_moq_stream *old = NULL;
		for (struct sl_moq_stream *g = d->groups; g; g = g->u.go.next)
			if (g->u.go.seq != d->newest_seq &&
			    (old == NULL || g->u.go.seq < old->u.go.seq))
				old = g;
		if (old == NULL)
			break;
		s->st.groups_lagged++;
		group_reset(s, old, SL_MOQ_ERR_CACHE_FULL);
	}
	/* 5. Gaps below a resolved group are given up; the DROPs of this run are written. */
	dsub_declare_gaps(s, d);
	drop_flush(s, d);
	/* 6. The track ended or the range is complete: finish the Subscribe stream once every
	 * group stream is finished (JS drops a track as soon as its Subscribe stream ends). */
	if ((d->track_state != 0 || d->range_done || d->past_end) && d->npend == 0) {
		for (struct sl_moq_stream *g = d->groups; g; g = g->u.go.next)
			if (!g->u.go.fin)
				return;
		if (d->past_end && !d->range_done && sl_seqset_has_lo(&d->acct)) {
			/* The range is closed: what is still missing up to its end is dropped. */
			struct sl_seqrange rest;
			sm_dsub_resolved(d, d->end);
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
		if (s->ops.set_order && d->st && !d->st->dead && d->st->h)
			s->ops.set_order(s->t, d->st->h, UINT64_MAX);
		if (d->range_done || d->past_end || d->track_state == 1) {
			if (s->v05)
				send_end05(s, d);
			sm_tx_fin(s, d->st);
		} else
			sm_reset_stream(s, d->st, sl_moq_error_code(d->track_state));
		/* The subscription lives on until the peer's side of the stream ends. */
		if (d->st == NULL || d->st->dead)
			sm_dsub_free(d, false);
	}
}

/*
 * Finds the track a peer asks for and returns a new reference. Relay: in the origin
 * (sm_relay_lookup_track). Client: in published broadcasts.
 */
int sm_lookup_track(struct sl_moq_session *s, const char *bpath, const char *name, uint8_t priority,
		    bool create, struct sl_track **out)
{
	if (s->relay)
		return sm_relay_lookup_track(s, bpath, name, priority, create, out);
	char *norm = sm_path_norm(bpath, strlen(bpath));
	if (norm == NULL)
		return SL_ENOTFOUND;
	struct pub *p = s->pubs;
	while (p && strcmp(p->path, norm) != 0)
		p = p->next;
	free(norm);
	if (p == NULL)
		return SL_ENOTFOUND;
	return sm_broadcast_track(p->b, name, priority, create, out);
}

/*
 * A new reference to a track of b. create: the broadcast's provider (a publishing session, the
 * cross-worker link) creates a missing track and feeds it; otherwise (a FETCH) only a track
 * that exists is found.
 */
int sm_broadcast_track(struct sl_broadcast *b, const char *name, uint8_t priority, bool create,
		       struct sl_track **out)
{
	if (!create) {
		struct sl_track *t = sl_broadcast_track(b, name);
		if (t == NULL)
			return SL_ENOTFOUND;
		*out = sl_track_ref(t);
		return 0;
	}
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
		rc = sm_tx(s, d->st, buf, sl_writer_len(&w), false);
	}
	return rc;
}

int sm_on_subscribe(struct sl_moq_session *s, struct sl_moq_stream *st,
		    const struct sl_moq_subscribe *m)
{
	s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE]++;
	if (sl_u64map_get(&s->dsubs, m->id, NULL)) {
		/* Ids are never reused: a duplicate is a broken peer, not a stream problem. */
		s->st.protocol_errors++;
		sm_session_close(s, SL_MOQ_ERR_DUPLICATE, "duplicate subscribe id");
		return 0;
	}
	if (s->ndsubs >= s->cfg.max_subscriptions) {
		st->err_code = SL_MOQ_ERR_BOUNDS;
		return SL_EBOUNDS;
	}
	if (sm_str_has_nul(m->broadcast) || sm_str_has_nul(m->track) || m->track.len == 0) {
		st->err_code = SL_MOQ_ERR_NOT_FOUND;
		return SL_ENOTFOUND;
	}
	char *bpath = sm_path_in(s, m->broadcast), *name = sm_str_dup(m->track);
	struct sl_track *t = NULL;
	if (bpath && name && s->cfg.authorize) {
		/* Authorised before the lookup, so that a refused subscription never makes the
		 * relay subscribe upstream. */
		char *norm = sm_path_norm(bpath, strlen(bpath));
		bool ok = norm && sm_allowed(s, SL_MOQ_AUTH_SUBSCRIBE, norm);
		free(norm);
		if (!ok) {
			free(bpath);
			free(name);
			st->err_code = SL_MOQ_ERR_UNAUTHORIZED;
			return SL_EINVAL;
		}
	}
	int rc = bpath && name ? sm_lookup_track(s, bpath, name, m->priority, true, &t) : SL_ENOMEM;
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
	sm_task_init(&d->task, s, dsub_run);
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
	if (!s->v05)
		send_subscribe_ok(s, d, m->max_latency_ms);
	else if (m->has_start)
		send_ok05(s, d, m->start);
	else if (sl_track_latest(d->cons.track, &latest) == 0)
		send_ok05(s, d, latest);
	sm_ready_push(s, &d->task);
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
	for (struct sl_moq_stream *g = d->groups, *n; g; g = n) {
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
void sm_on_subscribe_update(struct sl_moq_session *s, struct sl_moq_stream *st,
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
	for (struct sl_moq_stream *g = d->groups; reorder && g; g = g->u.go.next)
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
	sm_ready_push(s, &d->task);
}
