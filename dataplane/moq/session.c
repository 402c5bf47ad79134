/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session core: lifecycle, streams, transport writes, the stream parser that
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
	"setup",
	"announce_ok",
	"track",
	"track_info",
	"subscribe_end",
};

const char *sl_moq_msg_name(enum sl_moq_msg m)
{
	return (unsigned)m < SL_MOQ_MSG_COUNT ? msg_names[m] : "?";
}

void sl_moq_session_config_default(struct sl_moq_session_config *c)
{
	memset(c, 0, sizeof(*c));
	c->version = SL_MOQ_LITE_04;
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

char *sm_str_dup(struct sl_moq_str m)
{
	char *p = malloc(m.len + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, m.p, m.len);
	p[m.len] = '\0';
	return p;
}

bool sm_str_has_nul(struct sl_moq_str m)
{
	return m.len > 0 && memchr(m.p, '\0', m.len) != NULL;
}

/* Normalises a path into a new string; NULL on a bad path or allocation failure. */
char *sm_path_norm(const char *in, size_t n)
{
	char *out = malloc(n + 1);
	size_t len;
	if (out && sl_path_normalize(in, n, out, &len) != 0) {
		free(out);
		out = NULL;
	}
	return out;
}

bool sm_allowed(struct sl_moq_session *s, enum sl_moq_auth_op op, const char *path)
{
	if (s->cfg.authorize == NULL || s->cfg.authorize(s->cfg.auth_arg, op, path))
		return true;
	s->st.auth_refused++;
	return false;
}

char *sm_path_in(const struct sl_moq_session *s, struct sl_moq_str m)
{
	if (s->root == NULL)
		return sm_str_dup(m);
	return sm_path_join(s->root, (const char *)m.p, m.len);
}

const char *sm_path_out(const struct sl_moq_session *s, const char *full)
{
	const char *rel;
	if (s->root && sl_path_strip_prefix(full, s->root, &rel))
		return rel;
	return full;
}

/* prefix + "/" + suffix, normalised. */
char *sm_path_join(const char *prefix, const char *suffix, size_t slen)
{
	size_t plen = strlen(prefix);
	char *tmp = malloc(plen + slen + 2);
	if (tmp == NULL)
		return NULL;
	memcpy(tmp, prefix, plen);
	tmp[plen] = '/';
	memcpy(tmp + plen + 1, suffix, slen);
	char *out = sm_path_norm(tmp, plen + slen + 1);
	free(tmp);
	return out;
}

/* ---- transport writes ---- */

/* Bytes handed to the transport on a group stream are in flight until acknowledged
 * (sl_moq_session_stream_acked). Counted before the write: a write that fails has its stream
 * reset, which takes them off again. */
static void tx_count(struct sl_moq_stream *st, uint64_t n)
{
	if (st->kind != K_GROUP_OUT)
		return;
	st->u.go.unacked += n;
	if (st->u.go.d)
		st->u.go.d->inflight += n;
}

/*
 * Copies small bytes (stream types, control messages, frame headers) into a shared arena
 * buffer and writes a slice of it, so a frame header costs no allocation: each slice holds its
 * own reference on the arena, which is replaced once full. Bytes already handed out are never
 * written again.
 */
int sm_tx(struct sl_moq_session *s, struct sl_moq_stream *st, const void *p, size_t n, bool fin)
{
	struct sl_slice sl = {NULL, 0, 0};
	if (s->closed || st->tx_done || st->h == NULL)
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
	tx_count(st, n);
	return s->ops.write(s->t, st->h, sl, fin);
}

static int tx_payload(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_slice f)
{
	if (s->closed || st->tx_done || st->h == NULL)
		return SL_ECLOSED;
	s->st.bytes_out += f.len;
	s->st.payload_out += f.len;
	f.buf = sl_buf_ref(f.buf);
	tx_count(st, f.len);
	return s->ops.write(s->t, st->h, f, false);
}

/* Writes one frame (size header, then the payload by reference) on a group or fetch stream. */
int sm_tx_frame(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_slice f)
{
	uint8_t hdr[8];
	struct sl_writer w;
	sl_writer_init(&w, hdr, sizeof(hdr));
	sl_moq_encode_frame_header(&w, f.len);
	s->st.msgs_out[SL_MOQ_MSG_FRAME]++;
	int rc = sm_tx(s, st, hdr, sl_writer_len(&w), false);
	if (rc == 0 && f.len > 0)
		rc = tx_payload(s, st, f);
	return rc;
}

/* The timestamp a frame goes out with in lite-05. A frame that came without one (from a lite-04
 * publisher) is stamped with this side's clock in the 1000-per-second timescale the session
 * announces for such tracks: for a live frame that is its arrival within the fan-out delay.
 * Deltas may be negative, but a synthesized stamp never goes below the previous one, so the
 * timestamps the relay invents are monotonic within a group. */
static uint64_t frame_ts(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t ts)
{
	if (ts != SL_GROUP_NO_TS)
		return ts;
	ts = s->now / UINT64_C(1000000);
	return ts < st->tx_ts ? st->tx_ts : ts;
}

int sm_tx_frame_v(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_slice f,
		  uint64_t ts)
{
	if (!s->v05)
		return sm_tx_frame(s, st, f);
	ts = frame_ts(s, st, ts);
	uint8_t hdr[24];
	struct sl_writer w;
	sl_writer_init(&w, hdr, sizeof(hdr));
	/* Re-encoded against this stream's previous frame: a relay forwards the timestamps, not
	 * the publisher's deltas (a subscriber may join a group's stream at its first frame
	 * only, but fetches and mirrors rebuild groups too). */
	sl_moq_encode_frame_header05(&w, (int64_t)(ts - st->tx_ts), f.len);
	st->tx_ts = ts;
	s->st.msgs_out[SL_MOQ_MSG_FRAME]++;
	int rc = sm_tx(s, st, hdr, sl_writer_len(&w), false);
	if (rc == 0 && f.len > 0)
		rc = tx_payload(s, st, f);
	return rc;
}

/* ---- streams ---- */

/*
 * A relay session opens a stream per group per subscriber: those come from the relay's
 * per-core pool. A client session (no relay) opens few and uses the heap.
 */
static struct sl_moq_stream *stream_alloc(struct sl_moq_session *s)
{
	if (s->relay)
		return sl_pool_zget(&s->relay->streams);
	return calloc(1, sizeof(struct sl_moq_stream));
}

static void stream_dealloc(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	if (s->relay)
		sl_pool_put(&s->relay->streams, st);
	else
		free(st);
}

/* A new live stream of kind, on the session's list; NULL past max_streams or without memory. */
static struct sl_moq_stream *stream_new(struct sl_moq_session *s, bool uni, uint8_t kind)
{
	if (s->nstreams >= s->cfg.max_streams)
		return NULL;
	struct sl_moq_stream *st = stream_alloc(s);
	if (st == NULL)
		return NULL;
	st->uni = uni;
	st->kind = kind;
	st->next = s->all;
	if (s->all)
		s->all->pprev = &st->next;
	st->pprev = &s->all;
	s->all = st;
	s->nstreams++;
	return st;
}

/* Undoes stream_new for a stream nothing has seen yet. */
static void stream_unnew(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	*st->pprev = st->next;
	if (st->next)
		st->next->pprev = st->pprev;
	s->nstreams--;
	stream_dealloc(s, st);
}

/* Opens a local stream of kind. Returns 0, SL_EBUSY, SL_ENOMEM or a transport error. */
int sm_stream_open(struct sl_moq_session *s, bool bidi, uint8_t kind, struct sl_moq_stream **out)
{
	struct sl_moq_stream *st = stream_new(s, !bidi, kind);
	if (st == NULL)
		return SL_ENOMEM;
	int rc = s->ops.open_stream(s->t, bidi, st, &st->h);
	if (rc != 0) {
		stream_unnew(s, st);
		return rc;
	}
	st->rx_done = !bidi; /* nothing ever arrives on a local uni stream */
	s->st.streams_out++;
	*out = st;
	return 0;
}

/*
 * Takes a stream off the session, gives its handle back to the transport and drops what it
 * holds. The memory itself is freed at the end of the outermost API call, because the caller
 * may still be walking the stream's bytes.
 */
void sm_stream_release(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	if (st->dead)
		return;
	st->dead = true;
	if (st->h && !s->transport_gone)
		s->ops.release(s->t, st->h);
	st->h = NULL;
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
		sm_task_unlink(&st->u.ai.task);
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
		/* Normally ended where the stream ended; here so that no remote broadcast ever
		 * points at a freed stream. */
		sm_remotes_end_stream(s, st);
		free(st->u.ao.prefix);
		st->u.ao.prefix = NULL;
		break;
	case K_FETCH_IN:
		sl_waiter_cancel(&st->u.fi.w);
		sm_task_unlink(&st->u.fi.task);
		sl_group_reader_release(&st->u.fi.r);
		free(st->u.fi.bpath);
		free(st->u.fi.name);
		st->u.fi.bpath = st->u.fi.name = NULL;
		break;
	case K_GROUP_OUT:
		sl_waiter_cancel(&st->u.go.w);
		sl_group_reader_release(&st->u.go.r);
		sm_group_out_unlink(st);
		break;
	case K_TRACK_IN:
		if (s->relay) {
			sl_waiter_cancel(&st->u.ti.w);
			sm_task_unlink(&st->u.ti.task);
			st->u.ti.q = NULL;
		}
		break;
	case K_TRACK_OUT:
		sm_tinfo_done(s, st, NULL); /* the waiting answer with what they have */
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
		struct sl_moq_stream *st = s->dead;
		s->dead = st->dnext;
		free(st->rx);
		stream_dealloc(s, st);
	}
}

void sm_enter(struct sl_moq_session *s)
{
	/* Every call that changes a session enters here: the owner check covers them all. */
	SL_ASSERT_OWNER(s);
	/* An owner that polls only on work lends its clock: stream events between polls see
	 * the current time, not that of the last poll. */
	if (s->now_src)
		s->now = *s->now_src;
	s->depth++;
}

void sm_leave(struct sl_moq_session *s)
{
	if (--s->depth == 0)
		dead_flush(s);
}

/* Releases the stream once both directions are done. */
static void maybe_release(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	if (st->rx_done && st->tx_done)
		sm_stream_release(s, st);
}

void sm_tx_fin(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	if (!st->tx_done)
		sm_tx(s, st, NULL, 0, true);
	st->tx_done = true;
	maybe_release(s, st);
}

/* Resets both directions of a stream (never used on a probe stream) and releases it. */
void sm_reset_stream(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t code)
{
	/* A finished group stream may still hold unacknowledged bytes: resetting it is what
	 * releases them. */
	if (!s->closed && st->h && (!st->tx_done || !st->rx_done || st->kind == K_GROUP_OUT)) {
		s->ops.reset(s->t, st->h, code);
		s->st.resets_out++;
	}
	st->tx_done = st->rx_done = true;
	sm_stream_release(s, st);
}

/* ---- session close ---- */

static void session_shutdown(struct sl_moq_session *s);

void sm_session_close(struct sl_moq_session *s, uint64_t code, const char *reason)
{
	if (s->closed)
		return;
	s->ops.close(s->t, code, reason);
	s->st.close_code = code;
	s->st.closed_locally = true;
	session_shutdown(s);
}

/* ---- receiving frames (group and fetch streams) ---- */

static int commit_frame(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	struct sl_slice f = {st->fbuf, 0, st->fbuf ? st->fbuf->len : 0};
	st->fbuf = NULL;
	s->st.msgs_in[SL_MOQ_MSG_FRAME]++;
	if (f.buf)
		sl_trace_frame(s->cfg.trace, SL_TRACE_RELAY_RX, f.buf->data, f.len);
	/* A lite-05 frame keeps its timestamp (a negative sum of deltas is a broken publisher's:
	 * it is clamped to 0 rather than taken for "no timestamp"). */
	int rc = s->v05 ? sl_group_write_frame_ts(st->g, f, (int64_t)st->rx_ts < 0 ? 0 : st->rx_ts)
			: sl_group_write_frame(st->g, f);
	if (rc != 0) {
		/* The group or its track was closed (unsubscribed, aborted): stop the stream. */
		st->err_code = sl_moq_error_code(rc);
		return rc;
	}
	return 0;
}

static int rx_frames(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_reader *r)
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
	int rc;
	if (s->v05) {
		int64_t delta;
		rc = sl_moq_decode_frame_header05(r, s->cfg.max_frame_bytes, &delta, &size, &why);
		if (rc == 0)
			st->rx_ts += (uint64_t)delta;
	} else {
		rc = sl_moq_decode_frame_header(r, s->cfg.max_frame_bytes, &size, &why);
	}
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

static int proto_err(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t code)
{
	s->st.protocol_errors++;
	st->err_code = code;
	return SL_EINVAL;
}

/* The broadcast at path this side serves: the origin's (relay) or a published one (client). */
static struct sl_broadcast *find_broadcast(struct sl_moq_session *s, const char *path)
{
	if (s->relay)
		return sl_origin_find(s->relay->origin, path);
	char *norm = sm_path_norm(path, strlen(path));
	if (norm == NULL)
		return NULL;
	struct pub *p = s->pubs;
	while (p && strcmp(p->path, norm) != 0)
		p = p->next;
	free(norm);
	return p ? p->b : NULL;
}

int sm_send_track_info(struct sl_moq_session *s, struct sl_moq_stream *st,
		       const struct sl_moq_track_info *info)
{
	uint8_t buf[32];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_track_info(&w, info);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_TRACK_INFO]++;
		rc = sm_tx(s, st, buf, sl_writer_len(&w), true);
	}
	return rc;
}

/* The publisher's TRACK_INFO came (or will not): answer the downstream Track stream at the next
 * poll with it (or with the synthesized one already in place). Runs in the upstream session's
 * call, so the query is read now: it may be gone by then. */
static void track_wait_wake(struct sl_waiter *w)
{
	struct sl_moq_stream *st = container_of(w, struct sl_moq_stream, u.ti.w);
	struct tinfo *q = st->u.ti.q;
	st->u.ti.q = NULL;
	if (q && q->known)
		st->u.ti.info = q->info;
	sm_ready_push(st->u.ti.task.s, &st->u.ti.task);
}

static void track_answer_run(struct task *t)
{
	struct sl_moq_stream *st = container_of(t, struct sl_moq_stream, u.ti.task);
	struct sl_moq_session *s = t->s;
	if (s->closed || st->dead || st->tx_done)
		return;
	if (sm_send_track_info(s, st, &st->u.ti.info) != 0)
		sm_reset_stream(s, st, SL_MOQ_ERR_CANCEL);
	else
		maybe_release(s, st);
}

/*
 * lite-05 TRACK: answered with TRACK_INFO, then FIN, without waiting for a SUBSCRIBE (the
 * reference subscriber sends none before it has the answer). For a track of a broadcast a
 * lite-05 publisher announced on this relay, the answer is the publisher's own: the relay asks
 * it once with its own TRACK and keeps the answer (sm_relay_track_info). Otherwise (a lite-04
 * publisher, another worker's broadcast, a client's own track) it is synthesized: shardline's
 * track model keeps a priority per track and timestamps per frame, not a publisher's ordering,
 * latency or timescale, so the answer is the track's priority (0 for one nobody asked for yet),
 * unordered, no latency bound, and the timescale 1000 (milliseconds), which is the reference
 * publisher's and the one the relay stamps lite-04 frames in. An unknown broadcast is reset with
 * not-found.
 */
static int on_track(struct sl_moq_session *s, struct sl_moq_stream *st,
		    const struct sl_moq_track *m)
{
	s->st.msgs_in[SL_MOQ_MSG_TRACK]++;
	if (sm_str_has_nul(m->broadcast) || sm_str_has_nul(m->track) || m->track.len == 0) {
		st->err_code = SL_MOQ_ERR_NOT_FOUND;
		return SL_ENOTFOUND;
	}
	char *bpath = sm_path_in(s, m->broadcast), *name = sm_str_dup(m->track);
	struct sl_broadcast *b = bpath && name ? find_broadcast(s, bpath) : NULL;
	struct sl_track *t = b ? sl_broadcast_track(b, name) : NULL;
	if (b == NULL) {
		free(bpath);
		free(name);
		st->err_code = SL_MOQ_ERR_NOT_FOUND;
		return SL_ENOTFOUND;
	}
	struct sl_moq_track_info info = {
		.priority = t ? sl_track_priority(t) : 0,
		.ordered = false,
		.max_latency_ms = 0,
		.timescale = 1000,
	};
	int known = -1;
	if (s->relay) {
		st->u.ti.info = info;
		sm_task_init(&st->u.ti.task, s, track_answer_run);
		sl_waiter_init(&st->u.ti.w, track_wait_wake);
		known = sm_relay_track_info(s, st, b, name, &info);
	}
	free(bpath);
	free(name);
	if (known == 0)
		return 0; /* answered when the publisher's TRACK_INFO comes */
	int rc = sm_send_track_info(s, st, &info);
	if (rc != 0) {
		st->err_code = SL_MOQ_ERR_CANCEL;
		return rc;
	}
	return 0;
}

/* Consumes one message (or some payload) from r. Returns 1 on progress, 0 when more bytes are
 * needed, or a negative code with st->err_code set (the caller resets the stream). */
static int step(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_reader *r)
{
	const char *why = NULL;
	int rc;
	switch (st->kind) {
	case K_NEW_IN: {
		uint64_t type;
		DECODE(sl_moq_decode_stream_type(r, &type, &why));
		if (st->uni) {
			if (type == SL_MOQ_UNI_GROUP) {
				st->kind = K_GROUP_IN;
				return 1;
			}
			if (type == SL_MOQ_UNI_SETUP && s->v05) {
				st->kind = K_SETUP_IN;
				return 1;
			}
		} else {
			if (type == SL_MOQ_STREAM_TRACK && s->v05) {
				st->kind = K_TRACK_IN;
				return 1;
			}
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
		rc = sm_on_interest(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_SUBSCRIBE_IN: {
		if (!st->first) {
			struct sl_moq_subscribe m;
			DECODE(sl_moq_decode_subscribe(r, &m, &why));
			st->first = true;
			rc = sm_on_subscribe(s, st, &m);
			return rc < 0 ? rc : 1;
		}
		struct sl_moq_subscribe_terms m;
		DECODE(sl_moq_decode_subscribe_update(r, &m, &why));
		sm_on_subscribe_update(s, st, &m);
		return 1;
	}
	case K_FETCH_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_fetch m;
		DECODE(sl_moq_decode_fetch(r, &m, &why));
		st->first = true;
		rc = sm_on_fetch(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_GOAWAY_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_goaway m;
		DECODE(sl_moq_decode_goaway(r, &m, &why));
		st->first = true;
		s->st.msgs_in[SL_MOQ_MSG_GOAWAY]++;
		if (s->goaway_uri == NULL && !sm_str_has_nul(m.uri))
			s->goaway_uri = sm_str_dup(m.uri);
		return 1;
	}
	case K_GROUP_IN:
		if (!st->first) {
			struct sl_moq_group m;
			DECODE(sl_moq_decode_group(r, &m, &why));
			st->first = true;
			rc = sm_on_group_header(s, st, &m);
			return rc < 0 ? rc : 1;
		}
		return rx_frames(s, st, r);
	case K_FETCH_OUT:
		return rx_frames(s, st, r);
	case K_SETUP_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_setup m;
		DECODE(sl_moq_decode_setup(r, &m, &why));
		st->first = true;
		s->st.msgs_in[SL_MOQ_MSG_SETUP]++;
		if (m.has_origin)
			s->peer_origin = m.origin;
		/* Only a client over raw QUIC names a root here (never over WebSocket, where the
		 * URL does); it comes after the session started, so it is only recorded. */
		if (m.has_path && s->peer_path == NULL && !sm_str_has_nul(m.path))
			s->peer_path = sm_str_dup(m.path);
		return 1;
	}
	case K_TRACK_IN: {
		if (st->first)
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_track m;
		DECODE(sl_moq_decode_track(r, &m, &why));
		st->first = true;
		rc = on_track(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_TRACK_OUT: {
		if (st->first) /* one TRACK_INFO, then FIN */
			return proto_err(s, st, SL_MOQ_ERR_UNEXPECTED_MESSAGE);
		struct sl_moq_track_info m;
		DECODE(sl_moq_decode_track_info(r, &m, &why));
		st->first = true;
		s->st.msgs_in[SL_MOQ_MSG_TRACK_INFO]++;
		sm_tinfo_done(s, st, &m);
		sm_tx_fin(s, st);
		return 1;
	}
	case K_ANNOUNCE_OUT: {
		struct sl_moq_announce m;
		if (s->v05 && !st->first) {
			/* lite-05: the responder's ANNOUNCE_OK comes first (its hop id, a count).
			 */
			struct sl_moq_announce_ok ok;
			DECODE(sl_moq_decode_announce_ok(r, &ok, &why));
			st->first = true;
			s->st.msgs_in[SL_MOQ_MSG_ANNOUNCE_OK]++;
			return 1;
		}
		if (s->v05)
			DECODE(sl_moq_decode_announce05(r, &m, &why));
		else
			DECODE(sl_moq_decode_announce(r, &m, &why));
		rc = sm_on_announce(s, st, &m);
		return rc < 0 ? rc : 1;
	}
	case K_SUBSCRIBE_OUT: {
		if (s->v05) {
			struct sl_moq_response05 m;
			DECODE(sl_moq_decode_response05(r, &m, &why));
			struct usub *u = st->u.u;
			if (m.type == SL_MOQ_RESPONSE05_OK) {
				s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK]++;
				if (u)
					u->ok = true;
			} else if (m.type == SL_MOQ_RESPONSE05_END) {
				/* The FIN that follows ends the track; groups below the end may
				 * still be arriving on their own streams. */
				s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_END]++;
			} else {
				/* lite-05 publishers may send DROP before (or without) an OK. */
				s->st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_DROP]++;
			}
			return 1;
		}
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

static int step_all(struct sl_moq_session *s, struct sl_moq_stream *st, struct sl_reader *r)
{
	while (sl_reader_left(r) > 0 && !st->dead && !s->closed) {
		int rc = step(s, st, r);
		if (rc <= 0)
			return rc;
	}
	return 0;
}

static int rx_append(struct sl_moq_stream *st, const uint8_t *p, size_t n)
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
static int feed(struct sl_moq_session *s, struct sl_moq_stream *st, const uint8_t *p, size_t n)
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
static void stream_teardown(struct sl_moq_session *s, struct sl_moq_stream *st, int err);

static void stream_fail(struct sl_moq_session *s, struct sl_moq_stream *st, int err)
{
	if (st->kind == K_PROBE_IN) /* never reset a probe stream: JS drops the session */
		return;
	stream_teardown(s, st, err);
	if (st->kind == K_SUBSCRIBE_IN || st->kind == K_NEW_IN || st->kind == K_GROUP_IN)
		st->kind = K_IGNORE_IN;
	sm_reset_stream(s, st, st->err_code);
}

/* Ends what a stream fed or served; err is what local readers see. */
static void stream_teardown(struct sl_moq_session *s, struct sl_moq_stream *st, int err)
{
	switch (st->kind) {
	case K_SUBSCRIBE_IN:
		if (st->u.d)
			sm_dsub_free(st->u.d, true);
		break;
	case K_SUBSCRIBE_OUT:
		if (st->u.u)
			sm_usub_end(st->u.u, err);
		break;
	case K_ANNOUNCE_OUT: /* a client has no remote broadcasts: nothing to end */
		sm_remotes_end_stream(s, st);
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
	case K_TRACK_OUT:
		sm_tinfo_done(s, st, NULL);
		break;
	default:
		break;
	}
}

/* The peer finished its side of the stream. */
static void on_fin(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	st->rx_done = true;
	switch (st->kind) {
	case K_NEW_IN:
	case K_IGNORE_IN:
		st->tx_done = true;
		sm_stream_release(s, st);
		return;
	case K_SUBSCRIBE_IN:
		/* Unsubscribe: reset the groups in flight, then finish our side. */
		if (st->u.d)
			sm_dsub_free(st->u.d, true);
		sm_tx_fin(s, st);
		return;
	case K_SUBSCRIBE_OUT:
		if (st->u.u)
			sm_usub_end(st->u.u, 0);
		sm_tx_fin(s, st);
		return;
	case K_ANNOUNCE_OUT:
		sm_remotes_end_stream(s, st);
		sm_tx_fin(s, st);
		return;
	case K_FETCH_IN:
		if (!st->first) {
			s->st.decode_errors++;
			sm_reset_stream(s, st, SL_MOQ_ERR_DECODE);
		}
		maybe_release(s, st);
		return;
	case K_SETUP_IN:
		st->tx_done = true;
		sm_stream_release(s, st);
		return;
	case K_TRACK_IN:
		/* The answer still waits for the publisher's: it finishes our side then. */
		if (s->relay && (st->u.ti.q || st->u.ti.task.pprev))
			return;
		sm_tx_fin(s, st);
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
		sm_stream_release(s, st);
		return;
	default: /* announce interest, probe, goaway: both sides are coupled */
		sm_tx_fin(s, st);
		return;
	}
}

/* ---- public: lifecycle ---- */

struct sl_moq_session *sl_moq_session_new(const struct sl_moq_session_config *cfg,
					  const struct sl_moq_transport_ops *ops, void *t,
					  struct sl_moq_relay *relay)
{
	if (ops == NULL || !ops->open_stream || !ops->write || !ops->reset || !ops->release ||
	    !ops->close)
		return NULL;
	struct sl_moq_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (cfg)
		s->cfg = *cfg;
	else
		sl_moq_session_config_default(&s->cfg);
	if (s->cfg.publish_prefix) {
		s->publish_prefix =
			sm_path_norm(s->cfg.publish_prefix, strlen(s->cfg.publish_prefix));
		if (s->publish_prefix == NULL) {
			free(s);
			return NULL;
		}
	}
	s->cfg.publish_prefix = NULL; /* the copy above is the one used */
	if (s->cfg.root && s->cfg.root[0] && relay) {
		s->root = sm_path_norm(s->cfg.root, strlen(s->cfg.root));
		if (s->root == NULL) {
			free(s->publish_prefix);
			free(s);
			return NULL;
		}
		if (s->root[0] == '\0') { /* "/" is the origin's root too */
			free(s->root);
			s->root = NULL;
		}
	}
	s->cfg.root = NULL; /* s->root is the one used */
	if (sl_u64map_init(&s->dsubs, 16) != 0 || sl_u64map_init(&s->usubs, 16) != 0) {
		sl_u64map_fini(&s->dsubs);
		free(s->publish_prefix);
		free(s->root);
		free(s);
		return NULL;
	}
	s->ops = *ops;
	s->t = t;
	s->relay = relay;
	s->v05 = s->cfg.version == SL_MOQ_LITE_05;
	s->setup_open = !s->v05;
	if (s->v05 && s->cfg.origin_id == 0) {
		/* Distinct per session and never 0 ("unknown"); a hop id only has to tell relays
		 * apart in an announcement's hop list. */
		uint64_t z = (uint64_t)(uintptr_t)s + UINT64_C(0x9e3779b97f4a7c15);
		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		s->cfg.origin_id = ((z ^ (z >> 31)) & SL_MOQ_MAX_VALUE) | 1;
	}
	/* Only a relay asks for the prefix its peer may publish under, at its first poll. */
	s->interest_open = true;
	if (relay) {
		relay->sessions++;
		s->interest_open = s->publish_prefix == NULL;
	}
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
	/* A relay's peer that goes away ends its tracks cleanly for other sessions' subscribers
	 * (sm_usub_end); a client's own readers see the loss. */
	int err = s->relay ? 0 : SL_EDROPPED;
	sm_enter(s);
	while (s->all) {
		struct sl_moq_stream *st = s->all;
		stream_teardown(s, st, err);
		sm_stream_release(s, st);
	}
	while (s->remotes)
		sm_remote_end(s, s->remotes);
	while (s->usub_list)
		sm_usub_end(s->usub_list, err);
	while (s->dsub_list)
		sm_dsub_free(s->dsub_list, false);
	while (s->ready.head)
		sm_task_unlink(s->ready.head);
	while (s->blocked.head)
		sm_task_unlink(s->blocked.head);
	sl_waitq_wake_all(&s->awaiters);
	sl_waitq_wake_all(&s->credit_waiters); /* they find the broadcast gone */
	sm_leave(s);
}

void sl_moq_session_closed(struct sl_moq_session *s)
{
	s->transport_gone = true;
	session_shutdown(s);
}

void sl_moq_session_close(struct sl_moq_session *s, uint64_t code, const char *reason)
{
	sm_enter(s);
	sm_session_close(s, code, reason);
	sm_leave(s);
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
	sl_u64map_fini(&s->dsubs);
	sl_u64map_fini(&s->usubs);
	if (s->relay)
		s->relay->sessions--;
	free(s->goaway_uri);
	free(s->peer_path);
	free(s->publish_prefix);
	free(s->root);
	free(s);
}

void sl_moq_session_adopt(struct sl_moq_session *s)
{
	sl_owner_adopt(&s->owner);
}

void sl_moq_session_disown(struct sl_moq_session *s)
{
	sl_owner_release(&s->owner);
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

struct sl_moq_stream *sl_moq_session_stream_accept(struct sl_moq_session *s, void *handle,
						   bool bidi)
{
	if (s->closed)
		return NULL;
	sm_enter(s);
	struct sl_moq_stream *st = stream_new(s, !bidi, K_NEW_IN);
	if (st == NULL) {
		s->st.protocol_errors++;
		sm_session_close(s, SL_MOQ_ERR_BOUNDS, "too many streams");
	} else {
		st->h = handle;
		s->st.streams_in++;
	}
	sm_leave(s);
	return st;
}

int sl_moq_session_stream_data(struct sl_moq_session *s, struct sl_moq_stream *st,
			       const uint8_t *data, size_t len, bool fin)
{
	if (s->closed)
		return SL_ECLOSED;
	sm_enter(s);
	s->st.bytes_in += len;
	if (st && st->kind == K_GROUP_OUT) {
		/* Bytes on a stream only this side may write: the transport is broken. */
		s->st.protocol_errors++;
		sm_session_close(s, SL_MOQ_ERR_PROTOCOL_VIOLATION, "data on a local uni stream");
		st = NULL;
	}
	/* A stream this side is finished with: late bytes are dropped. */
	if (st && !st->dead && !st->rx_done) {
		int rc = len ? feed(s, st, data, len) : 0;
		if (rc < 0 && !st->dead && !s->closed)
			stream_fail(s, st, rc);
		else if (fin && !st->dead && !s->closed)
			on_fin(s, st);
	}
	int ret = s->closed ? SL_ECLOSED : 0;
	sm_leave(s);
	return ret;
}

void sl_moq_session_stream_reset(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t code)
{
	if (s->closed || st == NULL || st->dead)
		return;
	sm_enter(s);
	s->st.resets_in++;
	if (st->kind == K_PROBE_IN) {
		st->rx_done = true;
		sm_tx_fin(s, st);
	} else {
		stream_teardown(s, st, err_from_code(code));
		if (st->kind == K_GROUP_OUT && st->u.go.d) {
			/* The subscriber stopped the group: it is accounted for. */
			sm_dsub_resolved(st->u.go.d, st->u.go.seq);
			sm_ready_push(s, &st->u.go.d->task);
		}
		if (st->kind == K_GROUP_OUT)
			sm_group_out_unlink(st);
		sm_reset_stream(s, st, SL_MOQ_ERR_CANCEL);
	}
	sm_leave(s);
}

/* Takes n acknowledged bytes off a group stream and its subscription. */
static void group_acked(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t n)
{
	if (n > st->u.go.unacked)
		n = st->u.go.unacked; /* a transport that reports more than was written */
	st->u.go.unacked -= n;
	struct dsub *d = st->u.go.d;
	if (d == NULL)
		return;
	d->inflight -= n;
	/* Finished and wholly acknowledged: the subscription's next run retires it. */
	if (st->u.go.fin && st->u.go.unacked == 0)
		sm_ready_push(s, &d->task);
}

void sl_moq_session_stream_acked(struct sl_moq_session *s, struct sl_moq_stream *st, uint64_t bytes)
{
	if (s->closed || st == NULL || st->dead || st->kind != K_GROUP_OUT)
		return;
	sm_enter(s);
	group_acked(s, st, bytes);
	sm_leave(s);
}

void sl_moq_session_stream_closed(struct sl_moq_session *s, struct sl_moq_stream *st)
{
	if (st == NULL || st->dead)
		return;
	/* Nothing the stream still counts can be acknowledged any more; a finished group stream
	 * then retires as if it had been. */
	st->h = NULL;
	if (s->closed)
		return;
	sm_enter(s);
	if (st->kind == K_GROUP_OUT)
		group_acked(s, st, st->u.go.unacked);
	sm_leave(s);
}

/* ---- lite-05 Setup stream ---- */

/* Each side opens one uni Setup stream: SETUP with our origin id, then FIN. Neither waits for
 * the other's. A server never sends the Path parameter. Retried at the next poll when the
 * peer's stream limit is reached. */
static void open_setup(struct sl_moq_session *s)
{
	struct sl_moq_setup m = {.has_origin = true, .origin = s->cfg.origin_id};
	uint8_t buf[48];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	int rc = sl_moq_encode_stream_type(&w, (enum sl_moq_stream_type)SL_MOQ_UNI_SETUP);
	if (rc == 0)
		rc = sl_moq_encode_setup(&w, &m);
	struct sl_moq_stream *st;
	if (rc == 0)
		rc = sm_stream_open(s, false, K_SETUP_OUT, &st);
	if (rc == SL_EBUSY)
		return;
	s->setup_open = true;
	if (rc != 0)
		return;
	s->st.msgs_out[SL_MOQ_MSG_SETUP]++;
	sm_tx(s, st, buf, sl_writer_len(&w), true);
	sm_stream_release(s, st);
}

enum sl_moq_version sl_moq_session_version(const struct sl_moq_session *s)
{
	return s->v05 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
}

uint64_t sl_moq_session_peer_origin(const struct sl_moq_session *s)
{
	return s->peer_origin;
}

const char *sl_moq_session_peer_path(const struct sl_moq_session *s)
{
	return s->peer_path;
}

/* ---- public: poll ---- */

int sl_moq_session_poll(struct sl_moq_session *s, uint64_t now_ns)
{
	if (s->closed)
		return SL_ECLOSED;
	sm_enter(s);
	s->now = now_ns;
	if (!s->setup_open)
		open_setup(s);
	if (!s->interest_open) {
		int rc;
		sm_open_interest(s, s->publish_prefix, &s->interest_open, &rc);
	}
	/* Work that waited for the peer's stream limit is retried once per poll, unless the
	 * owner tells us when the limit grows (sl_moq_session_writable). */
	if (s->on_ready == NULL)
		while (s->blocked.head)
			sm_task_push(&s->ready, s->blocked.head);
	/* A task blocked by the stream limit again goes back to the blocked list, so this
	 * loop ends. */
	while (s->ready.head && !s->closed) {
		struct task *t = s->ready.head;
		sm_task_unlink(t);
		t->run(t);
	}
	/* Drained: the next work tells the owner again. */
	s->signalled = false;
	int ret = s->closed ? SL_ECLOSED : 0;
	sm_leave(s);
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
	bool work = s->blocked.head != NULL || !s->interest_open || !s->setup_open;
	while (s->blocked.head)
		sm_task_push(&s->ready, s->blocked.head);
	sl_waitq_wake_all(&s->credit_waiters);
	if (work && s->on_ready && !s->signalled) {
		s->signalled = true;
		s->on_ready(s->ready_arg);
	}
}

/* ---- public: client role ---- */

int sm_check_name(const char *s)
{
	if (s == NULL)
		return SL_EINVAL;
	return strlen(s) > SL_MOQ_MAX_STRING ? SL_ERANGE : 0;
}

int sm_check_track_names(const char *broadcast, const char *track)
{
	int rc = sm_check_name(broadcast);
	if (rc == 0)
		rc = sm_check_name(track);
	if (rc == 0 && track[0] == '\0')
		rc = SL_EINVAL; /* a track always has a name; a broadcast path may be empty */
	return rc;
}

int sl_moq_session_goaway(struct sl_moq_session *s, const char *uri)
{
	if (s->closed)
		return SL_ECLOSED;
	int rc = sm_check_name(uri);
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
	sm_enter(s);
	struct sl_moq_stream *st;
	rc = sm_stream_open(s, true, K_GOAWAY_OUT, &st);
	if (rc == 0) {
		s->st.msgs_out[SL_MOQ_MSG_GOAWAY]++;
		sm_tx(s, st, buf, sl_writer_len(&w), true);
	}
	sm_leave(s);
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
	SL_STAT_U(T, auth_refused, NULL),
	SL_STAT_HIDE(T, close_code, "one session's ending, meaningless in a worker's sum"),
	SL_STAT_HIDE(T, closed, "one session's state, meaningless in a worker's sum"),
	SL_STAT_HIDE(T, closed_locally, "one session's state, meaningless in a worker's sum"),
	SL_STAT_TABLE_END,
};
#undef T
