/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/worker.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/lcore.h"
#include "core/log.h"
#include "core/owner.h"
#include "core/pool.h"
#include "core/ring.h"
#include "shard/moq_quic.h"
#include "shard/wsconn.h"
#include "track/group.h"
#include "track/origin.h"
#include "track/track.h"

#include <gnutls/gnutls.h>
#include <inttypes.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_lcore.h>
#include <rte_malloc.h>

#define RX_BURST 64

/* One connection: its QUIC state and the session over it: moq-lite (s) or the log protocol
 * (ls), by the ALPN the handshake chose. */
struct wconn {
	struct sl_worker *w;
	struct sl_quic_conn *qc;
	struct sl_moq_session *s;
	struct sl_logsrv *ls;
	/* A WebSocket connection (moq-lite over qmux): on the worker's ws list, not conns; s is
	 * NULL until its upgrade is done. */
	struct sl_wsconn *wsc;
	/* A WebTransport connection (ALPN h3): the HTTP/3 layer between the QUIC connection and
	 * the moq session, which is NULL until a CONNECT is accepted. */
	struct sl_wt_conn *wt;
	/* Tokens (cfg.auth): what the session may do, owned when it came with a WebSocket (the
	 * QUIC one is shared), and when the session must end because its token expires
	 * (UINT64_MAX: never). */
	void *grant;
	bool grant_owned;
	/* A WebSocket's request path, its session's root (NULL: the origin's root). */
	char *root;
	uint64_t auth_deadline;
	struct wconn *next, **pprev;
	/* On the worker's ready list: the moq session reported work (sl_moq_session_set_ready). */
	bool ready;
	struct wconn *rnext;
};

/*
 * One per core, read and written by its lcore on every pass: cache-line aligned so that no
 * other core's data shares its first and last lines, and allocated on the core's NUMA node
 * when the control plane says which (cfg.socket).
 */
#define FETCH_HOLDS   8
#define FETCH_HOLD_NS (UINT64_C(10) * 1000000000u)

struct sl_worker;
static void hold_expire(struct sl_worker *w, uint64_t now);

struct sl_worker {
	struct sl_owner owner;
	bool numa; /* from rte_zmalloc_socket, not the heap */
	struct sl_worker_config cfg;
	/* The loop skeleton: doorbell, control rings, idle back-off and the loop counters (its
	 * poll_idle_ns, not cfg's, is the one in force). */
	struct sl_lcore lc;
	struct sl_quic_endpoint *ep;
	struct sl_origin *origin;
	struct sl_moq_relay *relay;
	struct sl_xshard *xs;
	/* Tracks an HTTP /fetch subscribed to, each held by a consumer for FETCH_HOLD_NS after
	 * its last fetch so that the next one finds its groups cached (and the upstream is not
	 * cancelled the moment it starts); hold_next is the earliest end, UINT64_MAX for none. */
	struct {
		struct sl_track_consumer c;
		uint64_t until;
		bool used;
	} holds[FETCH_HOLDS];
	uint64_t hold_next;
	/* WebSocket connections: their sockets in one epoll set (edge-triggered), which the idle
	 * wait includes; counters of the closed ones. */
	int ws_epfd;
	struct wconn *ws;
	uint64_t nws, ws_total;
	struct sl_ws_stats closed_ws;
	struct sl_qmux_stats closed_qmux;
	uint64_t nwt, wt_total;
	struct sl_wt_stats closed_wt;
	/* The earliest token expiry of a WebTransport session (UINT64_MAX: none), and the
	 * sessions refused for their token. */
	uint64_t wt_deadline, auth_wt_refused;
	struct sl_wsconn_host ws_host;
	struct sl_handoff ho;
	bool have_links;
	struct wconn *conns;
	/* Sessions with work, in the order they got it: a pass polls these, not every session. */
	struct wconn *rhead, **rtail;
	uint64_t nconns, sessions_total, sessions_polled;
	/* Running totals of sessions already closed, so they survive their connections. */
	struct sl_moq_session_stats closed_moq;
	uint64_t bells_rung;
	uint64_t auth_expired, auth_quic_refused;
	struct sl_trace trace; /* the latency breakdown's histograms */
	uint64_t now;
	unsigned int lcore;
	bool stop;
	/* Cross-worker sends seen at the last doorbell check, and whether some waited for a full
	 * ring then (see ring_peers). */
	uint64_t last_xs_out, last_ho_out;
	bool xs_waited;
	/* The durable side: this worker's shard, the stream set sessions resolve names in, the
	 * shard map's owners, answers to other workers that their ring could not take yet, and
	 * counters of log connections already closed. */
	struct sl_dshard *ds;
	struct sl_stream_set *streams;
	uint16_t owners[SL_SHARD_MAP_SLOTS];
	struct sl_dreq *replies_head, *replies_tail;
	uint64_t nlog, dreqs_out, dreqs_in, dreq_ring_full;
	struct sl_logsrv_stats closed_log;
	bool stopping;
	uint64_t stop_deadline;
} __rte_cache_aligned;

void sl_worker_config_default(struct sl_worker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nworkers = 1;
	sl_quic_config_default(&cfg->quic);
	cfg->quic.server = true;
	/* The worker is a moq-lite relay: QUIC names no protocol, so it is given here
	 * (sl_workercfg_fill appends the log protocol when the durable side runs). Both
	 * versions, ours the preferred order as moq-relay does (the server's list decides, the
	 * client's offer order does not): a client offering both gets lite-05. */
	snprintf(cfg->quic.alpn, sizeof(cfg->quic.alpn), "%s,%s", SL_MOQ_ALPN_05, SL_MOQ_ALPN);
#ifdef SL_HAVE_WT
	/* WebTransport for browsers (docs/h3.md): HTTP/3 on the same port, and the datagram
	 * parameter Chromium expects beside SETTINGS_H3_DATAGRAM (datagrams that come are
	 * dropped: moq-lite sends them only beside its streams). */
	size_t len = strlen(cfg->quic.alpn);
	snprintf(cfg->quic.alpn + len, sizeof(cfg->quic.alpn) - len, ",%s", SL_WT_ALPN);
	cfg->quic.max_datagram_frame_size = 65535;
#endif
	sl_track_config_default(&cfg->track);
	sl_moq_session_config_default(&cfg->session);
	cfg->session.server = true;
	cfg->poll_idle_ns = 100 * 1000;
	cfg->socket = -1;
	sl_dshard_config_default(&cfg->dshard);
	sl_logsrv_config_default(&cfg->logsrv);
	cfg->stop_flush_ns = UINT64_C(10000000000);
}

/* ---- the durable side: transport, routing, index ---- */

/* A log session's handles are the connection's streams, as a moq session's (shard/moq_quic.h). */
static int lt_write(void *t, void *h, struct sl_slice data, bool fin)
{
	return sl_quic_stream_write(t, h, data, fin);
}

static int lt_reset(void *t, void *h, uint64_t code)
{
	sl_quic_stream_reset(t, h, code);
	return 0;
}

static void lt_release(void *t, void *h)
{
	(void)t;
	sl_quic_stream_set_user(h, NULL);
}

static const struct sl_logsrv_transport log_transport = {lt_write, lt_reset, lt_release};

static const struct sl_stream_set *lr_streams(void *arg)
{
	return ((struct sl_worker *)arg)->streams;
}

static uint16_t lr_owner(void *arg, const struct sl_stream_def *d, uint32_t p)
{
	struct sl_worker *w = arg;
	return w->owners[sl_stream_partition_slot(d->name, p, SL_SHARD_MAP_SLOTS)];
}

/* Rings worker o's doorbell if it sleeps, after a message for it went on a ring. */
static void wake_worker(struct sl_worker *w, uint16_t o)
{
	if (w->cfg.bells && sl_bell_wants_ring(&w->cfg.bells[o])) {
		sl_bell_ring(&w->cfg.bells[o]);
		w->bells_rung++;
	}
}

/* Back on the origin worker: the answer goes to whoever asked. */
static void dreq_answered(struct sl_worker *w, struct sl_dreq *r)
{
	(void)w;
	r->done = r->route_done;
	r->done(r);
}

/* On the owner: the shard answered a request another worker sent; it goes back the same way
 * (or waits for room in the ring: an answer is never dropped). */
static void dreq_reply(struct sl_dreq *r)
{
	struct sl_worker *w = r->route_ctx;
	uint16_t origin = r->origin; /* r is the origin's again once on the ring */
	struct sl_msg m = {.type = SL_MSG_DREQ, .u32 = 1, .obj = r};
	if (w->replies_head == NULL && sl_ring_send(w->cfg.dl_to[origin], &m, 1) == 1) {
		wake_worker(w, origin);
		return;
	}
	r->next = NULL;
	if (w->replies_tail)
		w->replies_tail->next = r;
	else
		w->replies_head = r;
	w->replies_tail = r;
}

static void lr_submit(void *arg, struct sl_dreq *r)
{
	struct sl_worker *w = arg;
	const struct sl_stream_def *d = sl_stream_set_find_id(w->streams, r->stream_id);
	uint16_t o = d ? lr_owner(w, d, r->partition) : w->cfg.id;
	if (o == w->cfg.id || o >= w->cfg.nworkers) {
		sl_dshard_submit(w->ds, r, w->now);
		return;
	}
	r->origin = w->cfg.id;
	r->route_done = r->done;
	struct sl_msg m = {.type = SL_MSG_DREQ, .u32 = 0, .obj = r};
	if (sl_ring_send(w->cfg.dl_to[o], &m, 1) != 1) {
		/* The owner's channel is full: the client is told to back off; nothing was
		 * kept. */
		w->dreq_ring_full++;
		r->code = SL_LP_ERR_OVERLOADED;
		r->err = SL_ENOSPC;
		r->detail = 1;
		r->done(r);
		return;
	}
	w->dreqs_out++;
	wake_worker(w, o);
}

static const struct sl_logsrv_router log_router = {lr_streams, lr_owner, lr_submit};

static int ix_publish(void *arg, struct sl_dseg_pub *pub)
{
	struct sl_worker *w = arg;
	struct sl_msg m = {.type = SL_MSG_SEGMENT, .obj = pub};
	if (sl_ring_send(w->cfg.ml_to, &m, 1) != 1)
		return SL_ENOSPC; /* the shard tries again from its poll */
	if (w->cfg.ml_bell)
		sl_bell_ring(w->cfg.ml_bell);
	return 0;
}

/* An object no segment references any more goes to the retention GC on io lcore 0 (beside
 * the metadata log, on the same ring as the segment events), which deletes it after the grace
 * period. */
static int ix_release(void *arg, struct sl_dobj *o)
{
	struct sl_worker *w = arg;
	struct sl_msg m = {.type = SL_MSG_OBJ_RELEASE, .obj = o};
	if (sl_ring_send(w->cfg.ml_to, &m, 1) != 1)
		return SL_ENOSPC; /* the shard tries again from its poll */
	return 0;
}

/* A durable flush of --export streams: to the io core owning the metadata log, on the same
 * ring as segment events (u32 1 tells them apart), so it follows this worker's earlier events. */
static int ix_exported(void *arg, struct sl_buf *ev)
{
	struct sl_worker *w = arg;
	struct sl_msg m = {.type = SL_MSG_SEGMENT, .u32 = 1, .obj = ev};
	if (sl_ring_send(w->cfg.ml_to, &m, 1) != 1)
		return SL_ENOSPC; /* the shard offers it again from its poll */
	if (w->cfg.ml_bell)
		sl_bell_ring(w->cfg.ml_bell);
	return 0;
}

/* A retained start moved: to the retention GC's io core, on the ring that carries this
 * worker's releases after it. */
static int ix_start(void *arg, uint32_t stream_id, uint32_t partition, uint64_t start)
{
	struct sl_worker *w = arg;
	struct sl_msg m = {.type = SL_MSG_DSTART,
			   .u32 = stream_id,
			   .u64 = start,
			   .obj = (void *)(uintptr_t)partition};
	return sl_ring_send(w->cfg.ml_to, &m, 1) == 1 ? 0 : SL_ENOSPC;
}

static const struct sl_dindex_ops index_ops = {
	.publish = ix_publish, .release = ix_release, .exported = ix_exported, .start = ix_start};

/* Receives durable requests and answers from the other workers, the metadata log's answers,
 * and sends the answers that waited for ring space. Returns the messages handled. */
static unsigned int durable_rings(struct sl_worker *w)
{
	unsigned int work = 0;
	struct sl_msg m[32];
	for (uint16_t o = 0; o < w->cfg.nworkers; o++) {
		if (o == w->cfg.id || w->cfg.dl_from[o] == NULL)
			continue;
		unsigned int n = sl_ring_recv(w->cfg.dl_from[o], m, 32);
		for (unsigned int i = 0; i < n; i++) {
			struct sl_dreq *r = m[i].obj;
			if (m[i].u32 == 1) {
				dreq_answered(w, r);
				continue;
			}
			w->dreqs_in++;
			r->route_ctx = w;
			r->done = dreq_reply;
			sl_dshard_submit(w->ds, r, w->now);
		}
		work += n;
	}
	while (w->replies_head) {
		struct sl_dreq *r = w->replies_head;
		struct sl_dreq *next = r->next;
		uint16_t origin = r->origin;
		struct sl_msg a = {.type = SL_MSG_DREQ, .u32 = 1, .obj = r};
		if (sl_ring_send(w->cfg.dl_to[origin], &a, 1) != 1)
			break;
		wake_worker(w, origin);
		w->replies_head = next;
		if (next == NULL)
			w->replies_tail = NULL;
		work++;
	}
	unsigned int n = sl_ring_recv(w->cfg.ml_from, m, 32);
	for (unsigned int i = 0; i < n; i++)
		sl_dshard_index_done(w->ds, m[i].obj, w->now);
	return work + n;
}

/* ---- QUIC events ---- */

static struct sl_worker *worker_of(void *port)
{
	return ((struct sl_pktio *)port)->user;
}

static void session_ready(void *arg)
{
	struct wconn *c = arg;
	struct sl_worker *w = c->w;
	if (c->ready)
		return;
	c->ready = true;
	c->rnext = NULL;
	*w->rtail = c;
	w->rtail = &c->rnext;
}

/* Takes a closing connection off the ready list (rare: a scan is fine). */
static void ready_unlink(struct sl_worker *w, struct wconn *c)
{
	if (!c->ready)
		return;
	struct wconn **pp = &w->rhead;
	while (*pp != c)
		pp = &(*pp)->rnext;
	*pp = c->rnext;
	if (w->rtail == &c->rnext)
		w->rtail = pp;
	c->ready = false;
}

/* The session's authorisation hook (sl_moq_session_config.authorize): the connection's
 * grant, asked through the daemon's functions. */
static bool conn_authorize(void *arg, enum sl_moq_auth_op op, const char *path)
{
	struct wconn *c = arg;
	return c->w->cfg.auth->allow(c->grant, op, path);
}

/* The session configuration of connection c in version alpn, with its grant applied. */
static void conn_session_config(struct sl_worker *w, struct wconn *c, const char *alpn,
				struct sl_moq_session_config *sc)
{
	*sc = w->cfg.session;
	/* The version is the connection's: the ALPN the handshake or the upgrade chose. */
	sc->version = strcmp(alpn, SL_MOQ_ALPN_05) == 0 ? SL_MOQ_LITE_05 : SL_MOQ_LITE_04;
	if (w->cfg.auth) {
		sc->authorize = conn_authorize;
		sc->auth_arg = c;
	}
	sc->root = c->root;
}

/* Logs, once per connection, that its session refused something outside its grant (the
 * count is in moq.auth_refused); the listener logs refused connections the same way. */
static void log_refusals(const struct sl_moq_session_stats *st, const char *kind)
{
	if (st->auth_refused)
		SL_LOG(SHARD, NOTICE,
		       "a %s session refused %llu requests outside its token's grant", kind,
		       (unsigned long long)st->auth_refused);
}
/* The moq session of a WebSocket or WebTransport connection, over its transport (ops, t), in
 * version alpn with the connection's grant and root; NULL when memory is short. */
static struct sl_moq_session *conn_session_start(struct wconn *c, const char *alpn,
						 const struct sl_moq_transport_ops *ops, void *t)
{
	struct sl_worker *w = c->w;
	struct sl_moq_session_config sc;
	conn_session_config(w, c, alpn, &sc);
	c->s = sl_moq_session_new(&sc, ops, t, w->relay);
	if (c->s == NULL)
		return NULL;
	sl_moq_session_set_ready(c->s, session_ready, c, &w->now);
	w->sessions_total++;
	return c->s;
}

/* Such a session is over: its counters join the worker's and it is freed. */
static void conn_session_end(struct wconn *c, struct sl_moq_session *s, const char *kind)
{
	struct sl_worker *w = c->w;
	struct sl_moq_session_stats st;
	sl_moq_session_stats(s, &st);
	sl_stats_add(&w->closed_moq, &st, sl_moq_session_stats_fields, false);
	log_refusals(&st, kind);
	ready_unlink(w, c);
	sl_moq_session_free(s);
	c->s = NULL;
}

#ifdef SL_HAVE_WT
/* A WebTransport CONNECT was accepted by the HTTP/3 layer: the connection's moq session, in the
 * version picked from the request's wt-available-protocols. */
static struct sl_moq_session *wt_attach(void *arg, struct sl_wt_conn *wt,
					const struct sl_h3_connect *req, const char *alpn,
					const struct sl_moq_transport_ops *ops, void *t,
					int *status, const char **why)
{
	(void)wt;
	(void)req;
	struct wconn *c = arg;
	struct sl_worker *w = c->w;
	/* The path roots the session and ?jwt= says what it may do, as for a WebSocket. */
	if (w->cfg.web_session) {
		void *grant = NULL;
		char *root = NULL;
		int st = w->cfg.web_session(w->cfg.web_session_ctx, req->path, strlen(req->path),
					    &grant, &root, why);
		if (st != 0) {
			*status = st;
			if (st == 401)
				w->auth_wt_refused++;
			SL_LOG(SHARD, NOTICE, "refused a WebTransport session: %d %s", st, *why);
			return NULL;
		}
		c->grant = grant;
		c->grant_owned = grant != NULL && w->cfg.auth != NULL;
		c->root = root;
		c->auth_deadline =
			grant && w->cfg.auth ? w->cfg.auth->deadline_ns(grant, w->now) : UINT64_MAX;
		if (c->auth_deadline < w->wt_deadline)
			w->wt_deadline = c->auth_deadline;
	} else {
		c->auth_deadline = UINT64_MAX;
	}
	if (conn_session_start(c, alpn, ops, t) == NULL) {
		*status = 500;
		*why = "out of memory";
		return NULL;
	}
	return c->s;
}

static void wt_detach(void *arg, struct sl_wt_conn *wt, struct sl_moq_session *s)
{
	(void)wt;
	conn_session_end(arg, s, "WebTransport");
}

/* WebTransport sessions whose token expired end as WebSocket ones do (ws_flush). Returns the
 * next deadline. Only run when the earliest one passed: most connections have none. */
static uint64_t wt_expire(struct sl_worker *w, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (struct wconn *c = w->conns; c; c = c->next) {
		if (c->wt == NULL || c->s == NULL || c->auth_deadline == UINT64_MAX)
			continue;
		if (now >= c->auth_deadline) {
			c->auth_deadline = UINT64_MAX;
			if (!sl_moq_session_is_closed(c->s, NULL)) {
				w->auth_expired++;
				sl_moq_session_close(c->s, SL_MOQ_ERR_UNAUTHORIZED,
						     "token expired");
			}
		} else if (c->auth_deadline < next) {
			next = c->auth_deadline;
		}
	}
	return next;
}
#endif

static void on_connected(void *arg, struct sl_quic_conn *qc)
{
	struct sl_worker *w = worker_of(arg);
	struct wconn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		sl_quic_conn_close(qc, SL_MOQ_ERR_CANCEL, "out of memory");
		return;
	}
	c->w = w;
	c->qc = qc;
	char alpn[32] = "";
	if (sl_quic_conn_alpn(qc, alpn, sizeof(alpn)) != NULL && strcmp(alpn, SL_LP_ALPN) == 0) {
		c->ls = w->ds ? sl_logsrv_new(&w->cfg.logsrv, &log_transport, qc, &log_router, w)
			      : NULL;
		if (c->ls == NULL) {
			free(c);
			sl_quic_conn_close(qc, SL_LP_ERR_INTERNAL,
					   w->ds ? "out of memory" : "no durable service here");
			return;
		}
		w->nlog++;
#ifdef SL_HAVE_WT
	} else if (strcmp(alpn, SL_WT_ALPN) == 0) {
		struct sl_wt_host host = {.attach = wt_attach,
					  .detach = wt_detach,
					  .arg = c,
					  .alpns = {SL_MOQ_ALPN_05, SL_MOQ_ALPN},
					  .n_alpns = 2};
		if (sl_wt_conn_new(&host, &sl_moq_quic_transport, qc, &c->wt) != 0) {
			free(c);
			sl_quic_conn_close(qc, SL_H3_INTERNAL_ERROR, "out of memory");
			return;
		}
		w->nwt++;
		w->wt_total++;
#endif
	} else {
		if (w->cfg.auth && w->cfg.auth->quic_grant == NULL) {
			/* Raw QUIC carries no token, and anonymous access is off. */
			w->auth_quic_refused++;
			free(c);
			sl_quic_conn_close(qc, SL_MOQ_ERR_UNAUTHORIZED, "token required");
			return;
		}
		c->grant = w->cfg.auth ? (void *)(uintptr_t)w->cfg.auth->quic_grant : NULL;
		c->auth_deadline = UINT64_MAX;
		struct sl_moq_session_config sc;
		conn_session_config(w, c, alpn, &sc);
		c->s = sl_moq_session_new(&sc, &sl_moq_quic_transport, qc, w->relay);
	}
	if (c->s == NULL && c->ls == NULL && c->wt == NULL) {
		free(c);
		sl_quic_conn_close(qc, SL_MOQ_ERR_CANCEL, "out of memory");
		return;
	}
	sl_quic_conn_set_user(qc, c);
	if (c->s)
		sl_moq_session_set_ready(c->s, session_ready, c, &w->now);
	c->next = w->conns;
	if (w->conns)
		w->conns->pprev = &c->next;
	c->pprev = &w->conns;
	w->conns = c;
	w->nconns++;
	if (c->wt == NULL)
		w->sessions_total++; /* a WebTransport session counts when its CONNECT does */
	else
		sl_wt_start(c->wt); /* SETTINGS: Chromium sends nothing before it has them */
}

/* Stream events go to the connection's session with the stream it attached at open (the
 * stream's user pointer); a stream the session let go of carries NULL and is not reported. */
static void *on_stream_open(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs)
{
	(void)arg;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c && c->ls)
		return sl_logsrv_stream_open(c->ls, qs);
	if (c && c->wt)
		return sl_wt_stream_accept(c->wt, qs, (sl_quic_stream_id(qs) & 2) == 0);
	if (c)
		return sl_moq_quic_accept(c->s, qs);
	return NULL;
}

static void on_stream_data(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			   void *user, const uint8_t *data, size_t len, bool fin)
{
	(void)arg;
	(void)qs;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
	if (c->ls)
		sl_logsrv_stream_data(c->ls, user, data, len, fin);
	else if (c->wt)
		sl_wt_stream_data(c->wt, user, data, len, fin);
	else
		sl_moq_session_stream_data(c->s, user, data, len, fin);
}

static void on_stream_reset(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user, uint64_t code)
{
	(void)arg;
	(void)qs;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
	if (c->ls)
		sl_logsrv_stream_reset(c->ls, user, code);
	else if (c->wt)
		sl_wt_stream_reset(c->wt, user, code);
	else
		sl_moq_session_stream_reset(c->s, user, code);
}

static void on_stream_acked(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user, uint64_t bytes)
{
	(void)arg;
	(void)qs;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
	if (c->ls)
		sl_logsrv_stream_acked(c->ls, user, bytes);
	else if (c->wt)
		sl_wt_stream_acked(c->wt, user, bytes);
	else
		sl_moq_session_stream_acked(c->s, user, bytes);
}

static void on_stream_close(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			    void *user)
{
	(void)arg;
	(void)qs;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL || user == NULL)
		return;
	if (c->ls)
		sl_logsrv_stream_closed(c->ls, user);
	else if (c->wt)
		sl_wt_stream_closed(c->wt, user);
	else
		sl_moq_session_stream_closed(c->s, user);
}

static void on_writable(void *arg, struct sl_quic_conn *qc)
{
	(void)arg;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c && c->wt)
		sl_wt_writable(c->wt);
	else if (c && c->s)
		sl_moq_session_writable(c->s);
}

static void on_closed(void *arg, struct sl_quic_conn *qc, uint64_t error)
{
	(void)error;
	struct sl_worker *w = worker_of(arg);
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return;
	if (c->ls) {
		struct sl_logsrv_stats ls;
		sl_logsrv_stats(c->ls, &ls);
		sl_stats_add(&w->closed_log, &ls, sl_logsrv_stats_fields, false);
		sl_logsrv_free(c->ls);
		w->nlog--;
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		w->nconns--;
		free(c);
		return;
	}
	if (c->wt) {
		/* Hands the session (if any) back through wt_detach. */
		sl_wt_closed(c->wt);
		struct sl_wt_stats ws;
		sl_wt_stats(c->wt, &ws);
		sl_stats_add(&w->closed_wt, &ws, sl_wt_stats_fields, false);
		sl_wt_conn_free(c->wt);
		if (c->grant_owned)
			w->cfg.auth->free(c->grant);
		free(c->root);
		w->nwt--;
		ready_unlink(w, c);
		*c->pprev = c->next;
		if (c->next)
			c->next->pprev = c->pprev;
		w->nconns--;
		free(c);
		return;
	}
	struct sl_moq_session_stats st;
	sl_moq_session_stats(c->s, &st);
	sl_stats_add(&w->closed_moq, &st, sl_moq_session_stats_fields, false);
	log_refusals(&st, "QUIC");
	ready_unlink(w, c);
	sl_moq_session_free(c->s); /* treated as closed: its broadcasts end cleanly */
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	w->nconns--;
	free(c);
}

/* ---- WebSocket connections (moq-lite over qmux) ---- */

static struct sl_moq_session *ws_attach(void *arg, struct sl_wsconn *wc, const char *alpn,
					const struct sl_moq_transport_ops *ops, void *t)
{
	(void)wc;
	return conn_session_start(arg, alpn, ops, t);
}

static void ws_detach(void *arg, struct sl_wsconn *wc, struct sl_moq_session *s)
{
	(void)wc;
	conn_session_end(arg, s, "WebSocket");
}

static void ws_free(struct sl_worker *w, struct wconn *c)
{
	struct sl_ws_stats ws;
	struct sl_qmux_stats qm;
	sl_wsconn_stats(c->wsc, &ws, &qm);
	sl_stats_add(&w->closed_ws, &ws, sl_ws_stats_fields, false);
	sl_stats_add(&w->closed_qmux, &qm, sl_qmux_stats_fields, false);
	/* Frees the session through ws_detach if it is still attached; closing the socket takes
	 * it out of the epoll set. */
	sl_wsconn_free(c->wsc);
	if (c->grant_owned)
		w->cfg.auth->free(c->grant);
	free(c->root);
	ready_unlink(w, c);
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	w->nws--;
	free(c);
}

/* A socket the control core accepted and upgraded-to-be (SL_WORKER_CTL_WS): this worker owns
 * it from here on. */
static void ws_adopt(struct sl_worker *w, struct sl_worker_ws *m)
{
	struct wconn *c = calloc(1, sizeof(*c));
	struct sl_wsconn_host host = w->ws_host;
	if (c) {
		c->w = w;
		host.arg = c;
		/* Before sl_wsconn_new: it may finish the upgrade and attach the session. */
		c->grant = m->grant;
		c->root = m->root[0] ? strdup(m->root) : NULL;
		c->grant_owned = m->grant != NULL && w->cfg.auth != NULL;
		c->auth_deadline = m->grant && w->cfg.auth
					   ? w->cfg.auth->deadline_ns(m->grant, w->now)
					   : UINT64_MAX;
	}
	if (c == NULL || w->ws_epfd < 0 || (m->root[0] && c->root == NULL) ||
	    sl_wsconn_new(&host, m->fd, m->tls, m->data, m->len, w->now, &c->wsc) != 0) {
		if (c)
			free(c->root);
		free(c);
		if (m->grant && w->cfg.auth)
			w->cfg.auth->free(m->grant);
		if (m->tls)
			gnutls_deinit(m->tls);
		close(m->fd);
		return;
	}
	c->next = w->ws;
	if (w->ws)
		w->ws->pprev = &c->next;
	c->pprev = &w->ws;
	w->ws = c;
	w->nws++;
	w->ws_total++;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				 .data.ptr = c};
	if (epoll_ctl(w->ws_epfd, EPOLL_CTL_ADD, m->fd, &ev) != 0) {
		ws_free(w, c);
		return;
	}
	/* Bytes may have come between the control core's last read and the registration. */
	sl_wsconn_read(c->wsc, w->now);
	sl_wsconn_flush(c->wsc, w->now);
}

/* Reads the sockets with something to read. Returns the connections served. */
static unsigned int ws_poll(struct sl_worker *w, uint64_t now)
{
	struct epoll_event evs[64];
	int n = epoll_wait(w->ws_epfd, evs, 64, 0);
	for (int i = 0; i < n; i++) {
		struct wconn *c = evs[i].data.ptr;
		if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			sl_wsconn_read(c->wsc, now);
	}
	return n > 0 ? (unsigned int)n : 0;
}

/* After the sessions ran: timers, output, and the end of finished connections. Every
 * connection is visited: a session that wrote leaves no other trace here, and there are few
 * WebSocket connections per worker next to its QUIC ones. Returns the earliest timer. */
static uint64_t ws_flush(struct sl_worker *w, uint64_t now, unsigned int *work)
{
	uint64_t exp = UINT64_MAX;
	struct wconn *next;
	for (struct wconn *c = w->ws; c; c = next) {
		next = c->next;
		if (now >= c->auth_deadline && c->s && !sl_moq_session_is_closed(c->s, NULL)) {
			/* The token expired: the session ends with an application close, as
			 * moq-relay ends it; the connection goes once the close is out. */
			c->auth_deadline = UINT64_MAX;
			w->auth_expired++;
			sl_moq_session_close(c->s, SL_MOQ_ERR_UNAUTHORIZED, "token expired");
		}
		if (now >= sl_wsconn_expiry(c->wsc))
			sl_wsconn_handle_expiry(c->wsc, now);
		if (sl_wsconn_flush(c->wsc, now))
			(*work)++;
		if (sl_wsconn_done(c->wsc)) {
			ws_free(w, c);
			continue;
		}
		uint64_t e = sl_wsconn_expiry(c->wsc);
		if (c->s && c->auth_deadline < e)
			e = c->auth_deadline;
		if (e < exp)
			exp = e;
	}
	return exp;
}

/* ---- lifecycle ---- */

static void worker_dealloc(struct sl_worker *w)
{
	if (w->numa)
		rte_free(w);
	else
		free(w);
}

/*
 * The worker's objects were built on the control core; from here on this lcore owns them
 * (core/owner.h) and the debug build checks that nobody else calls them. own false gives them
 * back when the loop ends, so that the control core may free them.
 */
static void worker_own(struct sl_worker *w, bool own)
{
	void (*fn)(struct sl_owner *) = own ? sl_owner_adopt : sl_owner_release;
	fn(&w->owner);
	if (own) {
		sl_lcore_adopt(&w->lc);
		sl_quic_endpoint_adopt(w->ep);
		sl_moq_relay_adopt(w->relay);
		if (w->xs)
			sl_xshard_adopt(w->xs);
		if (w->ds)
			sl_dshard_adopt(w->ds);
	} else {
		sl_lcore_disown(&w->lc);
		sl_quic_endpoint_disown(w->ep);
		sl_moq_relay_disown(w->relay);
		if (w->xs)
			sl_xshard_disown(w->xs);
		if (w->ds)
			sl_dshard_disown(w->ds);
	}
	for (struct wconn *c = w->conns; c; c = c->next)
		if (c->s) {
			if (own)
				sl_moq_session_adopt(c->s);
			else
				sl_moq_session_disown(c->s);
		}
}

static bool rings_pending(void *arg);

int sl_worker_new(const struct sl_worker_config *cfg, uint64_t now_ns, struct sl_worker **out)
{
	if (cfg == NULL || cfg->port == NULL || cfg->nworkers == 0 ||
	    cfg->nworkers > SL_XSHARD_MAX_WORKERS || cfg->id >= cfg->nworkers ||
	    cfg->ctl_in == NULL || cfg->ctl_out == NULL)
		return SL_EINVAL;
	struct sl_worker *w = NULL;
	bool numa = cfg->socket >= 0;
	if (numa)
		w = rte_zmalloc_socket("sl_worker", sizeof(*w), RTE_CACHE_LINE_SIZE, cfg->socket);
	if (w == NULL) {
		/* Without the EAL (unit tests), with no node given, or with the node's memory
		 * exhausted: the heap, still aligned. */
		numa = false;
		w = aligned_alloc(RTE_CACHE_LINE_SIZE, sizeof(*w));
		if (w)
			memset(w, 0, sizeof(*w));
	}
	if (w == NULL)
		return SL_ENOMEM;
	w->numa = numa;
	w->rtail = &w->rhead;
	w->hold_next = UINT64_MAX;
	w->wt_deadline = UINT64_MAX;
	w->ws_epfd = epoll_create1(EPOLL_CLOEXEC);
	w->ws_host.attach = ws_attach;
	w->ws_host.detach = ws_detach;
	sl_qmux_config_default(&w->ws_host.qmux);
	sl_ws_config_default(&w->ws_host.ws);
	w->cfg = *cfg;
	/* One idle timeout for every connection an operator sees, QUIC or WebSocket: qmux
	 * advertises it and closes a connection that has been silent that long. */
	w->ws_host.qmux.idle_timeout_ms = cfg->quic.idle_timeout_ns / 1000000u;
	/* With a doorbell and a port descriptor, everything that gives the worker work wakes it
	 * (datagrams, other cores' messages, control requests, io completions); without either
	 * (the DPDK driver has no descriptor) it backs off up to 8 times poll_idle_ns, which
	 * bounds how late a packet or a ring message is seen. */
	struct sl_lcore_config lc = {
		.bell = cfg->bells ? &cfg->bells[cfg->id] : NULL,
		.ctl_in = cfg->ctl_in,
		.ctl_out = cfg->ctl_out,
		.signalled = cfg->bells != NULL && sl_pktio_wait_fd(cfg->port) >= 0,
		.poll_idle_ns = cfg->poll_idle_ns,
		.backoff_max = 8,
		.max_sleep_ns = SL_WORKER_IDLE_MAX_NS,
		.pending = rings_pending,
		.arg = w,
	};
	sl_lcore_init(&w->lc, &lc);
	sl_trace_init(&w->trace, cfg->trace_sample);
	w->cfg.session.trace = &w->trace;
	w->cfg.quic.server = true;
	w->cfg.quic.worker_id = cfg->id;
	w->cfg.session.server = true;
	cfg->port->user = w;
	cfg->port->worker_id = cfg->id;
	static const struct sl_quic_callbacks cbs = {
		.tx_alloc = sl_pktio_quic_tx_alloc,
		.tx_commit = sl_pktio_quic_tx_commit,
		.on_connected = on_connected,
		.on_stream_open = on_stream_open,
		.on_stream_data = on_stream_data,
		.on_stream_reset = on_stream_reset,
		.on_stream_acked = on_stream_acked,
		.on_writable = on_writable,
		.on_stream_close = on_stream_close,
		.on_closed = on_closed,
	};
	int rc = sl_quic_endpoint_new(&w->cfg.quic, &cbs, cfg->port, now_ns, &w->ep);
	if (rc == 0 && (w->origin = sl_origin_new(&cfg->track)) == NULL)
		rc = SL_ENOMEM;
	if (rc == 0 && (w->relay = sl_moq_relay_new(w->origin)) == NULL)
		rc = SL_ENOMEM;
	if (rc == 0 && cfg->nworkers > 1) {
		struct sl_xshard_config xc = {.self = cfg->id,
					      .nworkers = cfg->nworkers,
					      .map = cfg->map,
					      .trace = &w->trace};
		memcpy(xc.to, cfg->xs_to, sizeof(xc.to));
		memcpy(xc.from, cfg->xs_from, sizeof(xc.from));
		rc = sl_xshard_new(&xc, w->origin, &w->xs);
		if (rc == 0)
			rc = sl_handoff_init(&w->ho, cfg->id, cfg->nworkers, w->cfg.ho_to,
					     w->cfg.ho_from);
		w->have_links = rc == 0;
	}
	if (rc == 0 && cfg->dstore != NULL) {
		/* The shard map's owners, by slot: which worker owns which partition. */
		for (uint32_t i = 0; i < SL_SHARD_MAP_SLOTS; i++)
			w->owners[i] = cfg->map && cfg->nworkers > 1 ? cfg->map->slot[i] : cfg->id;
		struct sl_dshard_config dc = cfg->dshard;
		dc.worker = cfg->id;
		dc.owners = w->owners;
		dc.nslots = SL_SHARD_MAP_SLOTS;
		dc.store = cfg->dstore;
		dc.index = &index_ops;
		dc.index_arg = w;
		struct sl_stream_set *empty = NULL;
		struct sl_stream_set *set = cfg->streams;
		if (set == NULL)
			set = empty = sl_stream_set_new(NULL, 0, 0);
		rc = set ? sl_dshard_new(&dc, set, cfg->recovery, now_ns, &w->ds) : SL_ENOMEM;
		for (uint32_t i = 0; rc == 0 && i < cfg->nconsumers; i++)
			rc = sl_dshard_load_consumer(w->ds, &cfg->consumers[i]);
		if (rc == 0)
			w->streams = sl_stream_set_ref(set);
		sl_stream_set_unref(empty);
	}
	if (rc != 0) {
		sl_dshard_free(w->ds);
		sl_xshard_free(w->xs);
		if (w->relay)
			sl_moq_relay_free(w->relay);
		sl_origin_free(w->origin);
		sl_quic_endpoint_free(w->ep);
		worker_dealloc(w);
		return rc;
	}
	*out = w;
	return 0;
}

void sl_worker_free(struct sl_worker *w)
{
	if (w == NULL)
		return;
	/* Sessions go first (they hold tracks of the origin), then the links, then QUIC. */
	while (w->conns) {
		struct wconn *c = w->conns;
		w->conns = c->next;
		sl_quic_conn_set_user(c->qc, NULL);
		if (c->ls)
			sl_logsrv_free(c->ls);
		else if (c->wt)
			sl_wt_conn_free(c->wt); /* hands its session back through wt_detach */
		else
			sl_moq_session_free(c->s);
		free(c);
	}
	/* The proxy first: destroying it waits for (and delivers) what the io core still
	 * holds, into the shard that is still alive. */
	if (w->cfg.dstore)
		sl_objstore_destroy(w->cfg.dstore);
	sl_dshard_free(w->ds);
	sl_stream_set_unref(w->streams);
	sl_stream_set_unref(w->cfg.streams);
	hold_expire(w, UINT64_MAX);
	while (w->ws)
		ws_free(w, w->ws);
	if (w->ws_epfd >= 0)
		close(w->ws_epfd);
	sl_xshard_free(w->xs);
	sl_moq_relay_free(w->relay);
	sl_origin_free(w->origin);
	sl_quic_endpoint_free(w->ep);
	sl_pktio_close(w->cfg.port);
	worker_dealloc(w);
}

void sl_worker_set_idle_hook(struct sl_worker *w, void (*fn)(void *arg), void *arg)
{
	sl_lcore_set_idle_hook(&w->lc, fn, arg);
}

int sl_worker_cert_sha256(const struct sl_worker *w, char out[65])
{
	return sl_quic_endpoint_cert_sha256(w->ep, out);
}

void sl_worker_stats(const struct sl_worker *w, struct sl_worker_stats *out)
{
	SL_ASSERT_OWNER_RO(w);
	memset(out, 0, sizeof(*out));
	out->id = w->cfg.id;
	out->lcore = w->lcore;
	out->connections = w->nconns;
	out->sessions_total = w->sessions_total;
	out->sessions_polled = w->sessions_polled;
	out->broadcasts = sl_origin_broadcasts(w->origin);
	out->loops = w->lc.loops;
	out->idle_sleeps = w->lc.idle_sleeps;
	out->bells_rung = w->bells_rung;
	out->bell_wakeups = w->lc.wakeups;
	sl_pktio_stats(w->cfg.port, &out->port);
	sl_quic_endpoint_stats(w->ep, &out->quic);
	sl_moq_relay_stats(w->relay, &out->relay);
	out->tracks = out->relay.upstreams_active;
	if (w->xs) {
		sl_xshard_stats(w->xs, &out->xshard);
		out->tracks += out->xshard.mirrors;
	}
	out->handoff = w->ho.stats;
	sl_moq_relay_pool_stats(w->relay, &out->pool_moq_streams);
	sl_quic_endpoint_pool_stats(w->ep, &out->pool_quic_streams);
	out->moq = w->closed_moq;
	out->ws_connections = w->nws;
	out->ws_total = w->ws_total;
	out->auth_expired = w->auth_expired;
	out->auth_quic_refused = w->auth_quic_refused;
	out->auth_wt_refused = w->auth_wt_refused;
	out->ws = w->closed_ws;
	out->qmux = w->closed_qmux;
	out->wt_connections = w->nwt;
	out->wt_total = w->wt_total;
	out->wt = w->closed_wt;
	for (struct wconn *c = w->ws; c; c = c->next) {
		struct sl_ws_stats ws;
		struct sl_qmux_stats qm;
		sl_wsconn_stats(c->wsc, &ws, &qm);
		sl_stats_add(&out->ws, &ws, sl_ws_stats_fields, true);
		sl_stats_add(&out->qmux, &qm, sl_qmux_stats_fields, true);
		if (c->s) {
			struct sl_moq_session_stats st;
			sl_moq_session_stats(c->s, &st);
			sl_stats_add(&out->moq, &st, sl_moq_session_stats_fields, true);
		}
	}
	out->trace = w->trace;
	if (w->ds) {
		out->durable = true;
		out->log_connections = w->nlog;
		sl_dshard_stats(w->ds, &out->dshard);
		out->logsrv = w->closed_log;
		out->dreqs_out = w->dreqs_out;
		out->dreqs_in = w->dreqs_in;
		out->dreq_ring_full = w->dreq_ring_full;
	}
	for (struct wconn *c = w->conns; c; c = c->next) {
		if (c->ls) {
			struct sl_logsrv_stats ls;
			sl_logsrv_stats(c->ls, &ls);
			sl_stats_add(&out->logsrv, &ls, sl_logsrv_stats_fields, true);
			continue;
		}
		if (c->wt) {
			struct sl_wt_stats ws;
			sl_wt_stats(c->wt, &ws);
			sl_stats_add(&out->wt, &ws, sl_wt_stats_fields, true);
		}
		if (c->s == NULL)
			continue; /* a WebTransport connection before its CONNECT */
		struct sl_moq_session_stats st;
		sl_moq_session_stats(c->s, &st);
		sl_stats_add(&out->moq, &st, sl_moq_session_stats_fields, true);
	}
}

/* ---- the loop ---- */

static void deliver_handoff(void *arg, const struct sl_quic_path *path, const uint8_t *data,
			    size_t len)
{
	struct sl_worker *w = arg;
	sl_quic_endpoint_recv(w->ep, path, data, len, w->now);
}

/* The connections' counters for `shardctl connections` (NULL: no memory; the control core
 * then reports no connections for this worker). */
static struct sl_worker_conns *conns_list(const struct sl_worker *w)
{
	struct sl_worker_conns *l = malloc(sizeof(*l) + (w->nconns + w->nws) * sizeof(l->conn[0]));
	if (l == NULL)
		return NULL;
	l->worker = w->cfg.id;
	l->n = 0;
	for (struct wconn *c = w->conns; c; c = c->next) {
		struct sl_worker_conn_info *ci = &l->conn[l->n++];
		struct sl_moq_session_stats st;
		memset(ci, 0, sizeof(*ci));
		sl_quic_conn_stats(c->qc, &ci->quic);
		if (sl_quic_conn_alpn(c->qc, ci->alpn, sizeof(ci->alpn)) == NULL)
			ci->alpn[0] = '\0';
		/* A WebTransport session: HTTP/3 and the moq-lite version inside it. */
		if (c->wt && c->s)
			snprintf(ci->alpn, sizeof(ci->alpn), "%s/%s", SL_WT_ALPN,
				 sl_moq_session_version(c->s) == SL_MOQ_LITE_05 ? SL_MOQ_ALPN_05
										: SL_MOQ_ALPN);
		if (c->ls || c->s == NULL)
			continue;
		sl_moq_session_stats(c->s, &st);
		ci->subscriptions = st.subscribes_active;
		ci->upstreams = st.upstreams_active;
		ci->groups_sent = st.groups_sent;
		ci->groups_reset = st.groups_reset;
		ci->payload_in = st.payload_in;
		ci->payload_out = st.payload_out;
		ci->decode_errors = st.decode_errors;
	}
	/* WebSocket connections: no QUIC counters; the subprotocol stands for the ALPN. */
	for (struct wconn *c = w->ws; c; c = c->next) {
		struct sl_worker_conn_info *ci = &l->conn[l->n++];
		memset(ci, 0, sizeof(*ci));
		snprintf(ci->alpn, sizeof(ci->alpn), "%s", sl_wsconn_protocol(c->wsc));
		ci->quic.remote_len = sizeof(ci->quic.remote);
		if (getpeername(sl_wsconn_fd(c->wsc), (struct sockaddr *)&ci->quic.remote,
				&ci->quic.remote_len) != 0)
			ci->quic.remote_len = 0;
		struct sl_ws_stats ws;
		struct sl_qmux_stats qm;
		sl_wsconn_stats(c->wsc, &ws, &qm);
		ci->quic.rx_bytes = ws.rx_bytes;
		ci->quic.tx_bytes = ws.tx_bytes;
		ci->quic.rx_datagrams = ws.rx_messages; /* WebSocket messages stand for packets */
		ci->quic.tx_datagrams = ws.tx_messages;
		ci->quic.streams_open = qm.streams_open;
		ci->quic.established = c->s != NULL;
		if (c->s == NULL)
			continue;
		struct sl_moq_session_stats st;
		sl_moq_session_stats(c->s, &st);
		ci->subscriptions = st.subscribes_active;
		ci->upstreams = st.upstreams_active;
		ci->groups_sent = st.groups_sent;
		ci->groups_reset = st.groups_reset;
		ci->payload_in = st.payload_in;
		ci->payload_out = st.payload_out;
		ci->decode_errors = st.decode_errors;
	}
	return l;
}

/* Appends n bytes to a reply that grows by doubling; false when out of memory. These run on a
 * control request (an HTTP GET), never per frame, so malloc is fine here. */
static bool grow(void **obj, size_t head, size_t *len, size_t *cap, size_t n)
{
	if (*len + n <= *cap)
		return true;
	size_t nc = *cap ? *cap : 4096;
	while (nc < *len + n)
		nc *= 2;
	void *no = realloc(*obj, head + nc);
	if (no == NULL)
		return false;
	*obj = no;
	*cap = nc;
	return true;
}

/* GET /announced: the broadcasts this worker's origin has active under the prefix. */
static struct sl_worker_announced *announced_list(struct sl_worker *w,
						  struct sl_worker_announced *a)
{
	void *obj = a;
	size_t len = 0, cap = 0;
	uint32_t n = 0;
	struct sl_announced *an = sl_origin_announced(w->origin, a->prefix);
	struct sl_announce ev;
	while (an && sl_announced_next(an, NULL, &ev) == 0) {
		if (!ev.active)
			continue;
		/* The whole path: the HTTP module makes it relative to the prefix itself. */
		const char *pre = ((struct sl_worker_announced *)obj)->prefix;
		size_t pl = strlen(pre), sl = strlen(ev.suffix);
		bool sep = pl && sl;
		if (!grow(&obj, sizeof(*a), &len, &cap, pl + sep + sl + 1))
			break;
		char *out = ((struct sl_worker_announced *)obj)->path + len;
		pre = ((struct sl_worker_announced *)obj)->prefix;
		memcpy(out, pre, pl);
		if (sep)
			out[pl] = '/';
		memcpy(out + pl + sep, ev.suffix, sl + 1);
		len += pl + sep + sl + 1;
		n++;
	}
	if (an)
		sl_announced_free(an);
	a = obj;
	a->n = n;
	a->len = len;
	a->cap = cap;
	return a;
}

static void hold_expire(struct sl_worker *w, uint64_t now)
{
	w->hold_next = UINT64_MAX;
	for (unsigned i = 0; i < FETCH_HOLDS; i++) {
		if (!w->holds[i].used)
			continue;
		if (now >= w->holds[i].until) {
			sl_track_consumer_release(&w->holds[i].c, NULL);
			w->holds[i].used = false;
		} else if (w->holds[i].until < w->hold_next) {
			w->hold_next = w->holds[i].until;
		}
	}
}

/* Keeps t subscribed for a while (see holds). Returns false when every hold slot is taken by
 * another track: the fetch then cannot wait for this one. */
static bool hold_track(struct sl_worker *w, struct sl_track *t, uint64_t now)
{
	unsigned free_slot = FETCH_HOLDS;
	for (unsigned i = 0; i < FETCH_HOLDS; i++) {
		if (w->holds[i].used && w->holds[i].c.track == t) {
			w->holds[i].until = now + FETCH_HOLD_NS;
			return true;
		}
		if (!w->holds[i].used && free_slot == FETCH_HOLDS)
			free_slot = i;
	}
	if (free_slot == FETCH_HOLDS)
		return false;
	sl_track_consume(t, &w->holds[free_slot].c);
	w->holds[free_slot].used = true;
	w->holds[free_slot].until = now + FETCH_HOLD_NS;
	if (w->holds[free_slot].until < w->hold_next)
		w->hold_next = w->holds[free_slot].until;
	return true;
}

/* GET /fetch: the frames of one cached group, copied out (the control core builds the body). */
static struct sl_worker_fetch *fetch_group(struct sl_worker *w, struct sl_worker_fetch *f)
{
	void *obj = f;
	size_t len = 0, cap = 0;
	uint32_t frames = 0;
	int rc = SL_ENOTFOUND;
	struct sl_broadcast *b = sl_origin_find(w->origin, f->broadcast);
	struct sl_track *t = b ? sl_broadcast_track(b, f->track) : NULL;
	uint64_t seq = f->group;
	/* The track is cached only while someone subscribes to it: the worker asked to subscribe
	 * does so and keeps it a while; the control core asks again until the group is here. */
	if (b && f->subscribe) {
		struct sl_track *rt = NULL;
		if (sl_broadcast_request_track(b, f->track, 0, &rt) == 0) {
			if (hold_track(w, rt, w->now))
				rc = SL_EAGAIN;
			sl_track_unref(rt);
			t = sl_broadcast_track(b, f->track);
		}
	}
	if (t && seq == UINT64_MAX && sl_track_latest(t, &seq) != 0)
		t = NULL; /* no group yet: SL_EAGAIN when subscribed above */
	if (t) {
		struct sl_track_consumer c;
		struct sl_group_reader r;
		sl_track_consume(t, &c);
		int grc = sl_track_consumer_get_group(&c, seq, NULL, &r);
		uint64_t latest;
		if (grc == SL_ENOTFOUND || (grc != 0 && grc != SL_EAGAIN))
			rc = SL_ENOTFOUND; /* it can never exist, or it was aborted */
		else if (grc == SL_EAGAIN && sl_track_latest(t, &latest) == 0 && seq <= latest)
			rc = SL_ENOTFOUND; /* evicted, or skipped: only newer groups are awaited */
		if (grc == 0) {
			struct sl_slice fr;
			rc = 0;
			while (sl_group_read_frame(&r, NULL, &fr) == 0) {
				uint32_t n = fr.len;
				if (!grow(&obj, sizeof(*f), &len, &cap, 4 + (size_t)fr.len)) {
					rc = SL_ENOMEM;
					break;
				}
				uint8_t *p = ((struct sl_worker_fetch *)obj)->data + len;
				memcpy(p, &n, 4);
				memcpy(p + 4, sl_slice_data(&fr), fr.len);
				len += 4 + (size_t)fr.len;
				frames++;
			}
			sl_group_reader_release(&r);
		}
		sl_track_consumer_release(&c, NULL);
	}
	f = obj;
	f->rc = rc;
	f->sequence = seq;
	f->frames = frames;
	f->len = len;
	f->cap = cap;
	return f;
}

/* One request from the control core (worker.h, enum sl_worker_ctl). Every kind but STOP is
 * answered. */
static void control(void *arg, struct sl_lcore *lc, const struct sl_msg *m)
{
	struct sl_worker *w = arg;
	switch (m->u32) {
	case SL_WORKER_CTL_STOP:
		w->stop = true;
		break;
	case SL_WORKER_CTL_CONFIG: {
		struct sl_worker_runtime *rt = m->obj;
		if (rt) {
			sl_lcore_set_poll_idle(lc, rt->poll_idle_ns);
			w->trace.sample = rt->trace_sample;
			sl_origin_set_track_config(w->origin, &rt->track);
			sl_quic_endpoint_set_limits(w->ep, rt->idle_timeout_ns, rt->max_conns);
			/* WebSocket connections opened from now on (the others keep what they
			 * advertised to their peer). */
			w->ws_host.qmux.idle_timeout_ms = rt->idle_timeout_ns / 1000000u;
		}
		/* Answered, so that `config set` knows every worker took the change. */
		sl_lcore_reply(lc, m, rt, free);
		break;
	}
	case SL_WORKER_CTL_CONNS:
		sl_lcore_reply(lc, m, conns_list(w), free);
		break;
	case SL_WORKER_CTL_CERT: {
		struct sl_worker_cert *wc = m->obj;
		if (wc)
			wc->rc = sl_quic_endpoint_set_cert(w->ep, wc->cert_pem, wc->key_pem);
		sl_lcore_reply(lc, m, wc, free);
		break;
	}
	case SL_WORKER_CTL_WS:
		/* Not answered: the connection is this worker's now, or closed. */
		if (m->obj)
			ws_adopt(w, m->obj);
		free(m->obj);
		break;
	case SL_WORKER_CTL_ANNOUNCED:
		if (m->obj)
			sl_lcore_reply(lc, m, announced_list(w, m->obj), free);
		break;
	case SL_WORKER_CTL_FETCH:
		if (m->obj)
			sl_lcore_reply(lc, m, fetch_group(w, m->obj), free);
		break;
	case SL_WORKER_CTL_STREAMS: {
		struct sl_stream_set *set = m->obj;
		int *res = malloc(sizeof(*res));
		int rc = 0;
		if (w->ds && set) {
			rc = sl_dshard_set_streams(w->ds, set, w->now);
			sl_stream_set_unref(w->streams);
			w->streams = sl_stream_set_ref(set);
		}
		sl_stream_set_unref(set);
		if (res)
			*res = rc;
		sl_lcore_reply(lc, m, res, free);
		break;
	}
	case SL_WORKER_CTL_DESCRIBE: {
		struct sl_worker_describe *dsc = m->obj;
		if (dsc == NULL)
			break;
		dsc->n = w->ds ? sl_dshard_describe(w->ds, dsc->stream_id, dsc->info, dsc->cap) : 0;
		dsc->cons = NULL;
		dsc->ncons = 0;
		uint32_t nc = w->ds ? sl_dshard_consumers(w->ds, dsc->stream_id, NULL, 0) : 0;
		if (nc > 0 && (dsc->cons = malloc(nc * sizeof(*dsc->cons))) != NULL)
			dsc->ncons = sl_dshard_consumers(w->ds, dsc->stream_id, dsc->cons, nc);
		sl_lcore_reply(lc, m, dsc, free);
		break;
	}
	case SL_WORKER_CTL_CONSUMER_DELETE: {
		struct sl_worker_consumer_delete *cd = m->obj;
		if (cd == NULL)
			break;
		cd->n = w->ds ? sl_dshard_delete_consumer(w->ds, cd->stream_id, cd->name) : 0;
		sl_lcore_reply(lc, m, cd, free);
		break;
	}
	case SL_WORKER_CTL_STATS: {
		struct sl_worker_stats *st = malloc(sizeof(*st));
		if (st)
			sl_worker_stats(w, st);
		sl_lcore_reply(lc, m, st, free);
		break;
	}
	default:
		break;
	}
}

/* Whether a message from another core waits on one of this worker's inbound rings (the control
 * ring is the lcore's to look at). */
static bool rings_pending(void *arg)
{
	const struct sl_worker *w = arg;
	for (uint16_t o = 0; o < w->cfg.nworkers && w->have_links; o++)
		if (o != w->cfg.id &&
		    (rte_ring_count(w->cfg.xs_from[o]) || rte_ring_count(w->cfg.ho_from[o])))
			return true;
	if (w->ds) {
		if ((w->cfg.io_from && rte_ring_count(w->cfg.io_from)) ||
		    (w->cfg.ml_from && rte_ring_count(w->cfg.ml_from)))
			return true;
		for (uint16_t o = 0; o < w->cfg.nworkers; o++)
			if (w->cfg.dl_from[o] && rte_ring_count(w->cfg.dl_from[o]))
				return true;
	}
	return false;
}

/* After an iteration that sent to other workers, rings the doorbells of those that sleep.
 * Messages that waited for a full ring reach it during a later xshard poll without counting as
 * new sends: while any wait, every pass looks. */
static void ring_peers(struct sl_worker *w)
{
	struct sl_xshard_stats xs;
	sl_xshard_stats(w->xs, &xs);
	if (xs.msgs_out == w->last_xs_out && w->ho.stats.handed_off == w->last_ho_out &&
	    !w->xs_waited)
		return;
	w->xs_waited = sl_xshard_stalled(w->xs);
	w->last_xs_out = xs.msgs_out;
	w->last_ho_out = w->ho.stats.handed_off;
	for (uint16_t o = 0; o < w->cfg.nworkers; o++) {
		if (o == w->cfg.id || !sl_bell_wants_ring(&w->cfg.bells[o]))
			continue;
		if (rte_ring_count(w->cfg.xs_to[o]) || rte_ring_count(w->cfg.ho_to[o])) {
			sl_bell_ring(&w->cfg.bells[o]);
			w->bells_rung++;
		}
	}
}

/*
 * Sleeps while there is nothing to do: on the port's descriptor (so a datagram ends the sleep at
 * once) and on the doorbell (so does a message from another core), never past the next
 * deadline (QUIC timers, the durable shard's flushes); the lcore says how long (core/lcore.h).
 * Work nothing will wake us for (datagrams the kernel refused, messages and durable answers
 * waiting for a full ring) keeps the sleep at poll_idle_ns.
 */
static void idle_wait(struct sl_worker *w, uint64_t now, uint64_t exp)
{
	int fds[2] = {sl_pktio_wait_fd(w->cfg.port), w->nws ? w->ws_epfd : -1};
	if (sl_pktio_tx_pending(w->cfg.port) || (w->xs && sl_xshard_stalled(w->xs)) ||
	    w->replies_head != NULL)
		exp = sl_lcore_soon(&w->lc, now, exp);
	sl_lcore_idle_wait(&w->lc, now, exp, fds, 2);
}

int sl_worker_main(void *arg)
{
	struct sl_worker *w = arg;
	struct sl_pkt pkts[RX_BURST];
	w->lcore = rte_lcore_id();
	worker_own(w, true);
	if (w->cfg.prefault_bytes)
		sl_alloc_prefault(w->cfg.prefault_bytes);
	SL_LOG(SHARD, INFO, "worker %u running on lcore %u", w->cfg.id, w->lcore);
	for (;;) {
		SL_ASSERT_OWNER(w);
		sl_lcore_pass(&w->lc);
		uint64_t now = w->now = sl_clock_now_ns();
		unsigned int work = 0;
		if (w->stop && !w->stopping) {
			/* Stop taking writes, and give what was applied the chance to become
			 * durable before the connections go. */
			w->stopping = true;
			w->stop_deadline = now + w->cfg.stop_flush_ns;
			for (struct wconn *c = w->conns; c; c = c->next)
				if (c->ls)
					sl_logsrv_shutdown(c->ls);
		}
		if (w->stopping) {
			int rc = w->ds ? sl_dshard_stop(w->ds, now) : 0;
			if (rc != SL_EAGAIN || now >= w->stop_deadline) {
				if (rc != 0)
					SL_LOG(SHARD, WARNING,
					       "worker %u: the durable shard stopped with %s",
					       w->cfg.id, sl_strerror(rc));
				break;
			}
		}

		unsigned int n = sl_pktio_rx_burst(w->cfg.port, pkts, RX_BURST);
		for (unsigned int i = 0; i < n; i++) {
			/* A datagram for a connection another worker owns goes there. */
			if (w->have_links &&
			    sl_handoff_route(&w->ho, &pkts[i].path, pkts[i].data, pkts[i].len) != 0)
				continue;
			sl_quic_endpoint_recv(w->ep, &pkts[i].path, pkts[i].data, pkts[i].len, now);
		}
		if (n)
			sl_pktio_rx_release(w->cfg.port, pkts, n);
		work += n;
		if (w->nws)
			work += ws_poll(w, now);

		if (w->have_links) {
			work += sl_handoff_poll(&w->ho, deliver_handoff, w, RX_BURST);
			work += sl_xshard_poll(w->xs, now);
			/* Frames this pass received are on their way to the other workers now: wake
			 * the sleeping ones before this pass spends its time encrypting and
			 * sending, not after (the end of the pass rings again for what the
			 * sessions queued since). */
			if (w->cfg.bells)
				ring_peers(w);
		}

		uint64_t dnext = UINT64_MAX;
		if (w->ds) {
			work += durable_rings(w);
			dnext = sl_dshard_poll(w->ds, now);
		}
		for (struct wconn *c = w->conns; c && w->nlog; c = c->next) {
			if (c->ls && sl_logsrv_busy(c->ls)) {
				sl_logsrv_poll(c->ls, now);
				work++;
			}
		}
		/* Only sessions that reported work are polled; one that makes another ready
		 * (a frame it received fans out) appends it, and it is polled in this pass. */
		while (w->rhead) {
			struct wconn *c = w->rhead;
			w->rhead = c->rnext;
			if (w->rhead == NULL)
				w->rtail = &w->rhead;
			c->ready = false;
			w->sessions_polled++;
			sl_moq_session_poll(c->s, now);
		}

		/* Connection timers sit in the endpoint's heap: running the due ones costs nothing
		 * when none is, and the next deadline is read after the flush re-armed them. */
		sl_quic_endpoint_handle_expiry(w->ep, now);
		work += (unsigned int)sl_quic_endpoint_flush(w->ep, now);
		uint64_t exp = sl_quic_endpoint_expiry(w->ep);
		if (sl_pktio_tx_pending(w->cfg.port))
			sl_pktio_tx_flush(w->cfg.port);
		sl_trace_sent(&w->trace);
		work += sl_lcore_control(&w->lc, control, w);
		if (w->have_links && w->cfg.bells)
			ring_peers(w);

		if (w->nws) {
			uint64_t wexp = ws_flush(w, now, &work);
			if (wexp < exp)
				exp = wexp;
		}
#ifdef SL_HAVE_WT
		if (now >= w->wt_deadline)
			w->wt_deadline = wt_expire(w, now);
		if (w->wt_deadline < exp)
			exp = w->wt_deadline;
#endif
		if (now >= w->hold_next)
			hold_expire(w, now);
		if (dnext < exp)
			exp = dnext;
		if (w->hold_next < exp)
			exp = w->hold_next;
		if (work > 0)
			sl_lcore_worked(&w->lc);
		else if (w->lc.cfg.poll_idle_ns)
			idle_wait(w, now, exp);
	}
	/* The tracks /fetch held go first, while their feeders are all alive. */
	hold_expire(w, UINT64_MAX);
	/* Tell every peer we are going away: a moq-lite GOAWAY (empty uri: no other relay to go
	 * to) sent on its own, then the QUIC close, each given a chance to leave. */
	uint64_t now = sl_clock_now_ns();
	for (struct wconn *c = w->conns; c; c = c->next) {
		if (c->ls || c->s == NULL)
			continue;
		sl_moq_session_goaway(c->s, "");
		sl_moq_session_poll(c->s, now);
	}
	sl_quic_endpoint_flush(w->ep, now);
	sl_pktio_tx_flush(w->cfg.port);
	/* WebSocket sessions get the same GOAWAY and a normal close, written as far as their
	 * sockets take it at once, and end here, on their owner's thread. */
	for (struct wconn *c = w->ws; c; c = c->next) {
		if (c->s) {
			sl_moq_session_goaway(c->s, "");
			sl_moq_session_poll(c->s, now);
		}
		sl_wsconn_flush(c->wsc, now);
	}
	while (w->ws)
		ws_free(w, w->ws);
	for (struct wconn *c = w->conns; c; c = c->next)
		sl_quic_conn_close(c->qc, 0, "shutdown");
	sl_quic_endpoint_flush(w->ep, now);
	sl_pktio_tx_flush(w->cfg.port);
	worker_own(w, false);
	/* What the stream pools saved: every get past a slab's worth would have been a malloc. */
	struct sl_pool_stats mp, qp;
	sl_moq_relay_pool_stats(w->relay, &mp);
	sl_quic_endpoint_pool_stats(w->ep, &qp);
	SL_LOG(SHARD, INFO,
	       "worker %u stopped; stream pools: moq %" PRIu64 " gets from %" PRIu64
	       " slabs (%" PRIu64 " objects), quic %" PRIu64 " gets from %" PRIu64
	       " slabs (%" PRIu64 " objects)",
	       w->cfg.id, mp.gets, mp.slabs, mp.capacity, qp.gets, qp.slabs, qp.capacity);
	return 0;
}

/*
 * How `shardctl status` shows a worker. The top level keeps the totals people look at first
 * (some repeated from the sub-objects for readers that predate them); "port", "quic", "moq",
 * "xshard" and "handoff" hold the layers' own counters, "pools" those of the per-core object
 * pools; "durable" exists only with durable partitions (the renderer's caller drops it
 * otherwise).
 */
#define T struct sl_worker_stats
const struct sl_stat_field sl_worker_stats_fields[] = {
	SL_STAT_AS(T, id, "worker", NULL),
	SL_STAT_AS(T, lcore, "lcore", NULL),
	SL_STAT_G(T, connections, NULL),
	SL_STAT_AS(T, sessions_total, "sessions_total", "moq"),
	SL_STAT_G(T, tracks, NULL),
	SL_STAT_G(T, broadcasts, NULL),
	SL_STAT_U(T, loops, NULL),
	SL_STAT_U(T, idle_sleeps, NULL),
	SL_STAT_U(T, bells_rung, NULL),
	SL_STAT_U(T, bell_wakeups, NULL),
	SL_STAT_U(T, sessions_polled, NULL),
	SL_STAT_ALIAS(T, port.rx_packets, "rx_packets", NULL),
	SL_STAT_ALIAS(T, port.rx_bytes, "rx_bytes", NULL),
	SL_STAT_ALIAS(T, port.tx_packets, "tx_packets", NULL),
	SL_STAT_ALIAS(T, port.tx_bytes, "tx_bytes", NULL),
	SL_STAT_SUB(T, port, "", "port", sl_pktio_stats_fields),
	SL_STAT_SUB(T, quic, "", "quic", sl_quic_stats_fields),
	SL_STAT_SUB(T, relay, "", "moq", sl_moq_relay_stats_fields),
	SL_STAT_SUB(T, xshard, "", "xshard", sl_xshard_stats_fields),
	SL_STAT_ALIAS(T, handoff.handed_off, "handed_off", "xshard"),
	SL_STAT_SUB(T, handoff, "", "handoff", sl_handoff_stats_fields),
	SL_STAT_ROW(T, moq.subscribes_active, "subscribers", NULL, SL_STAT_F_ALIAS),
	SL_STAT_ALIAS(T, moq.groups_sent, "groups_sent", NULL),
	SL_STAT_ALIAS(T, moq.groups_reset, "groups_reset", NULL),
	SL_STAT_ALIAS(T, moq.msgs_out[SL_MOQ_MSG_FRAME], "frames_out", NULL),
	SL_STAT_SUB(T, moq, "", "moq", sl_moq_session_stats_fields),
	SL_STAT_GAS(T, ws_connections, "connections", "ws"),
	SL_STAT_AS(T, ws_total, "connections_total", "ws"),
	SL_STAT_SUB(T, ws, "", "ws", sl_ws_stats_fields),
	SL_STAT_SUB(T, qmux, "", "qmux", sl_qmux_stats_fields),
#ifdef SL_HAVE_WT
	SL_STAT_GAS(T, wt_connections, "connections", "wt"),
	SL_STAT_AS(T, wt_total, "connections_total", "wt"),
	SL_STAT_SUB(T, wt, "", "wt", sl_wt_stats_fields),
#endif
	SL_STAT_AS(T, auth_expired, "expired", "auth"),
	SL_STAT_AS(T, auth_quic_refused, "quic_refused", "auth"),
	SL_STAT_AS(T, auth_wt_refused, "wt_refused", "auth"),
	SL_STAT_HIDE(T, durable, "says whether the \"durable\" object is shown"),
	SL_STAT_G(T, log_connections, "durable"),
	SL_STAT_SUB(T, dshard, "", "durable", sl_dshard_stats_fields),
	SL_STAT_SUB(T, logsrv, "", "durable.log", sl_logsrv_stats_fields),
	SL_STAT_AS(T, dreqs_out, "requests_to_other_workers", "durable"),
	SL_STAT_AS(T, dreqs_in, "requests_from_other_workers", "durable"),
	SL_STAT_AS(T, dreq_ring_full, "request_ring_full", "durable"),
	SL_STAT_SUB(T, pool_moq_streams, "", "pools.moq_streams", sl_pool_stats_fields),
	SL_STAT_SUB(T, pool_quic_streams, "", "pools.quic_streams", sl_pool_stats_fields),
	SL_STAT_HIDE(T, trace, "histograms, rendered as \"trace\" by sl_status_trace_json"),
	SL_STAT_TABLE_END,
};
#undef T
