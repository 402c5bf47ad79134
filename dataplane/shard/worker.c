/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/worker.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/ring.h"
#include "shard/moq_quic.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_lcore.h>

#define RX_BURST 64

/* One connection: its QUIC state and the moq-lite session over it. */
struct wconn {
	struct sl_worker *w;
	struct sl_quic_conn *qc;
	struct sl_moq_session *s;
	struct wconn *next, **pprev;
};

struct sl_worker {
	struct sl_worker_config cfg;
	struct sl_quic_endpoint *ep;
	struct sl_origin *origin;
	struct sl_moq_relay *relay;
	struct sl_xshard *xs;
	struct sl_handoff ho;
	bool have_links;
	struct wconn *conns;
	uint64_t nconns, sessions_total;
	/* Counters of sessions already closed, so the totals survive their connections. */
	uint64_t closed_groups_sent, closed_groups_reset, closed_frames_out, closed_payload_out,
		closed_payload_in, closed_decode_errors;
	uint64_t loops, idle_sleeps, bells_rung, bell_wakeups;
	uint64_t now;
	unsigned int lcore;
	bool stop;
	/* Cross-worker sends seen at the last doorbell check (see ring_peers). */
	uint64_t last_xs_out, last_ho_out;
};

void sl_worker_config_default(struct sl_worker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nworkers = 1;
	sl_quic_config_default(&cfg->quic);
	cfg->quic.server = true;
	sl_track_config_default(&cfg->track);
	sl_moq_session_config_default(&cfg->session);
	cfg->session.server = true;
	cfg->poll_idle_ns = 100 * 1000;
}

/* ---- QUIC events ---- */

static struct sl_worker *worker_of(void *port)
{
	return ((struct sl_pktio *)port)->user;
}

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
	c->s = sl_moq_session_new(&w->cfg.session, &sl_moq_quic_transport, qc, w->relay);
	if (c->s == NULL) {
		free(c);
		sl_quic_conn_close(qc, SL_MOQ_ERR_CANCEL, "out of memory");
		return;
	}
	sl_quic_conn_set_user(qc, c);
	c->next = w->conns;
	if (w->conns)
		w->conns->pprev = &c->next;
	c->pprev = &w->conns;
	w->conns = c;
	w->nconns++;
	w->sessions_total++;
}

static void on_stream_open(void *arg, struct sl_quic_conn *qc, int64_t id)
{
	(void)arg;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_open(c->s, id);
}

static void on_stream_data(void *arg, struct sl_quic_conn *qc, int64_t id, const uint8_t *data,
			   size_t len, bool fin)
{
	(void)arg;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_data(c->s, id, data, len, fin);
}

static void on_stream_reset(void *arg, struct sl_quic_conn *qc, int64_t id, uint64_t code,
			    bool reset)
{
	(void)arg;
	(void)reset;
	struct wconn *c = sl_quic_conn_user(qc);
	if (c)
		sl_moq_session_stream_reset(c->s, id, code);
}

static void on_closed(void *arg, struct sl_quic_conn *qc, uint64_t error)
{
	(void)error;
	struct sl_worker *w = worker_of(arg);
	struct wconn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return;
	struct sl_moq_session_stats st;
	sl_moq_session_stats(c->s, &st);
	w->closed_groups_sent += st.groups_sent;
	w->closed_groups_reset += st.groups_reset;
	w->closed_frames_out += st.msgs_out[SL_MOQ_MSG_FRAME];
	w->closed_payload_out += st.payload_out;
	w->closed_payload_in += st.payload_in;
	w->closed_decode_errors += st.decode_errors;
	sl_moq_session_free(c->s); /* treated as closed: its broadcasts end cleanly */
	*c->pprev = c->next;
	if (c->next)
		c->next->pprev = c->pprev;
	w->nconns--;
	free(c);
}

/* ---- lifecycle ---- */

int sl_worker_new(const struct sl_worker_config *cfg, uint64_t now_ns, struct sl_worker **out)
{
	if (cfg == NULL || cfg->port == NULL || cfg->nworkers == 0 ||
	    cfg->nworkers > SL_XSHARD_MAX_WORKERS || cfg->id >= cfg->nworkers ||
	    cfg->ctl_in == NULL || cfg->ctl_out == NULL)
		return SL_EINVAL;
	struct sl_worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return SL_ENOMEM;
	w->cfg = *cfg;
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
		.on_closed = on_closed,
	};
	int rc = sl_quic_endpoint_new(&w->cfg.quic, &cbs, cfg->port, now_ns, &w->ep);
	if (rc == 0 && (w->origin = sl_origin_new(&cfg->track)) == NULL)
		rc = SL_ENOMEM;
	if (rc == 0 && (w->relay = sl_moq_relay_new(w->origin)) == NULL)
		rc = SL_ENOMEM;
	if (rc == 0 && cfg->nworkers > 1) {
		struct sl_xshard_config xc = {
			.self = cfg->id, .nworkers = cfg->nworkers, .map = cfg->map};
		memcpy(xc.to, cfg->xs_to, sizeof(xc.to));
		memcpy(xc.from, cfg->xs_from, sizeof(xc.from));
		rc = sl_xshard_new(&xc, w->origin, &w->xs);
		if (rc == 0)
			rc = sl_handoff_init(&w->ho, cfg->id, cfg->nworkers, w->cfg.ho_to,
					     w->cfg.ho_from);
		w->have_links = rc == 0;
	}
	if (rc != 0) {
		sl_xshard_free(w->xs);
		if (w->relay)
			sl_moq_relay_free(w->relay);
		sl_origin_free(w->origin);
		sl_quic_endpoint_free(w->ep);
		free(w);
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
		sl_moq_session_free(c->s);
		free(c);
	}
	sl_xshard_free(w->xs);
	sl_moq_relay_free(w->relay);
	sl_origin_free(w->origin);
	sl_quic_endpoint_free(w->ep);
	sl_pktio_close(w->cfg.port);
	free(w);
}

int sl_worker_cert_sha256(const struct sl_worker *w, char out[65])
{
	return sl_quic_endpoint_cert_sha256(w->ep, out);
}

void sl_worker_stats(const struct sl_worker *w, struct sl_worker_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->id = w->cfg.id;
	out->lcore = w->lcore;
	out->connections = w->nconns;
	out->sessions_total = w->sessions_total;
	out->broadcasts = sl_origin_broadcasts(w->origin);
	out->loops = w->loops;
	out->idle_sleeps = w->idle_sleeps;
	out->bells_rung = w->bells_rung;
	out->bell_wakeups = w->bell_wakeups;
	sl_pktio_stats(w->cfg.port, &out->port);
	sl_quic_endpoint_stats(w->ep, &out->quic);
	sl_moq_relay_stats(w->relay, &out->relay);
	out->tracks = out->relay.upstreams_active;
	if (w->xs) {
		sl_xshard_stats(w->xs, &out->xshard);
		out->tracks += out->xshard.mirrors;
	}
	out->handoff = w->ho.stats;
	out->groups_sent = w->closed_groups_sent;
	out->groups_reset = w->closed_groups_reset;
	out->frames_out = w->closed_frames_out;
	out->payload_out = w->closed_payload_out;
	out->payload_in = w->closed_payload_in;
	out->decode_errors = w->closed_decode_errors;
	for (struct wconn *c = w->conns; c; c = c->next) {
		struct sl_moq_session_stats st;
		sl_moq_session_stats(c->s, &st);
		out->subscribers += st.subscribes_active;
		out->groups_sent += st.groups_sent;
		out->groups_reset += st.groups_reset;
		out->frames_out += st.msgs_out[SL_MOQ_MSG_FRAME];
		out->payload_out += st.payload_out;
		out->payload_in += st.payload_in;
		out->decode_errors += st.decode_errors;
	}
}

/* ---- the loop ---- */

static void deliver_handoff(void *arg, const struct sl_quic_path *path, const uint8_t *data,
			    size_t len)
{
	struct sl_worker *w = arg;
	sl_quic_endpoint_recv(w->ep, path, data, len, w->now);
}

static unsigned int control(struct sl_worker *w)
{
	struct sl_msg m[8];
	unsigned int n = sl_ring_recv(w->cfg.ctl_in, m, 8);
	for (unsigned int i = 0; i < n; i++) {
		if (m[i].type != SL_MSG_CONTROL)
			continue;
		if (m[i].u32 == SL_WORKER_CTL_STOP) {
			w->stop = true;
		} else if (m[i].u32 == SL_WORKER_CTL_CONFIG && m[i].obj) {
			struct sl_worker_runtime *rt = m[i].obj;
			w->cfg.poll_idle_ns = rt->poll_idle_ns;
			sl_origin_set_track_config(w->origin, &rt->track);
			sl_quic_endpoint_set_limits(w->ep, rt->idle_timeout_ns, rt->max_conns);
			free(rt);
		} else if (m[i].u32 == SL_WORKER_CTL_CONNS) {
			struct sl_worker_conns *l =
				malloc(sizeof(*l) + w->nconns * sizeof(l->conn[0]));
			if (l) {
				l->worker = w->cfg.id;
				l->n = 0;
				for (struct wconn *c = w->conns; c; c = c->next) {
					struct sl_worker_conn_info *ci = &l->conn[l->n++];
					struct sl_moq_session_stats st;
					sl_quic_conn_stats(c->qc, &ci->quic);
					sl_moq_session_stats(c->s, &st);
					ci->subscriptions = st.subscribes_active;
					ci->upstreams = st.upstreams_active;
					ci->groups_sent = st.groups_sent;
					ci->groups_reset = st.groups_reset;
					ci->payload_in = st.payload_in;
					ci->payload_out = st.payload_out;
					ci->decode_errors = st.decode_errors;
				}
			}
			struct sl_msg r = {.type = SL_MSG_CONTROL,
					   .u32 = SL_WORKER_CTL_CONNS,
					   .u64 = m[i].u64,
					   .obj = l};
			if (sl_ring_send(w->cfg.ctl_out, &r, 1) != 1)
				free(l);
		} else if (m[i].u32 == SL_WORKER_CTL_STATS) {
			struct sl_worker_stats *st = malloc(sizeof(*st));
			if (st)
				sl_worker_stats(w, st);
			struct sl_msg r = {.type = SL_MSG_CONTROL,
					   .u32 = SL_WORKER_CTL_STATS,
					   .u64 = m[i].u64,
					   .obj = st};
			if (sl_ring_send(w->cfg.ctl_out, &r, 1) != 1)
				free(st);
		}
	}
	return n;
}

/* Whether a message from another core waits on one of this worker's inbound rings. */
static bool rings_pending(const struct sl_worker *w)
{
	if (rte_ring_count(w->cfg.ctl_in))
		return true;
	for (uint16_t o = 0; o < w->cfg.nworkers && w->have_links; o++)
		if (o != w->cfg.id &&
		    (rte_ring_count(w->cfg.xs_from[o]) || rte_ring_count(w->cfg.ho_from[o])))
			return true;
	return false;
}

/* After an iteration that sent to other workers, rings the doorbells of those that sleep. */
static void ring_peers(struct sl_worker *w)
{
	struct sl_xshard_stats xs;
	sl_xshard_stats(w->xs, &xs);
	if (xs.msgs_out == w->last_xs_out && w->ho.stats.handed_off == w->last_ho_out)
		return;
	w->last_xs_out = xs.msgs_out;
	w->last_ho_out = w->ho.stats.handed_off;
	for (uint16_t o = 0; o < w->cfg.nworkers; o++) {
		if (o == w->cfg.id || !sl_bell_sleeping(&w->cfg.bells[o]))
			continue;
		if (rte_ring_count(w->cfg.xs_to[o]) || rte_ring_count(w->cfg.ho_to[o])) {
			sl_bell_ring(&w->cfg.bells[o]);
			w->bells_rung++;
		}
	}
}

/*
 * Sleeps while there is nothing to do: on the port's descriptor (so a datagram ends the sleep at
 * once) and on the doorbell (so does a message from another core), for at most the current
 * back-off, which doubles while the worker stays idle from poll_idle_ns, and never past the
 * next QUIC timer. With both a descriptor and a doorbell everything that gives a worker work
 * wakes it (datagrams, other cores' messages, control requests; the sessions' own deadlines are
 * QUIC timers), so the back-off may grow to SL_WORKER_IDLE_MAX_NS and an idle relay barely
 * wakes. Without either (the DPDK driver has no descriptor), the back-off stops at 8 times
 * poll_idle_ns, which bounds how late a packet or a ring message is seen.
 */
static void idle_wait(struct sl_worker *w, uint64_t now, uint64_t exp, uint64_t *backoff)
{
	uint64_t wait = *backoff;
	int fd = sl_pktio_wait_fd(w->cfg.port);
	uint64_t cap = w->cfg.bells && fd >= 0 ? SL_WORKER_IDLE_MAX_NS : 8 * w->cfg.poll_idle_ns;
	if (cap < 8 * w->cfg.poll_idle_ns)
		cap = 8 * w->cfg.poll_idle_ns;
	if (*backoff < cap)
		*backoff *= 2;
	if (exp <= now)
		return;
	if (exp - now < wait)
		wait = exp - now;
	/* Datagrams the kernel did not take yet (socket buffer full) are retried soon: nothing
	 * would wake the worker for them. */
	if (sl_pktio_tx_pending(w->cfg.port) && wait > w->cfg.poll_idle_ns)
		wait = w->cfg.poll_idle_ns;
	struct sl_bell *bell = w->cfg.bells ? &w->cfg.bells[w->cfg.id] : NULL;
	if (bell) {
		/* Flag first, then look at the rings: a sender that queued before the flag was
		 * visible is seen here; one that queues after sees the flag and rings. */
		sl_bell_arm(bell);
		if (rings_pending(w)) {
			sl_bell_disarm(bell, false);
			return;
		}
	}
	w->idle_sleeps++;
	struct timespec ts = {(time_t)(wait / 1000000000u), (long)(wait % 1000000000u)};
	struct pollfd p[2];
	nfds_t n = 0;
	if (fd >= 0)
		p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
	if (bell)
		p[n++] = (struct pollfd){.fd = bell->fd, .events = POLLIN};
	if (n)
		ppoll(p, n, &ts, NULL);
	else
		nanosleep(&ts, NULL);
	if (bell && sl_bell_disarm(bell, (p[n - 1].revents & POLLIN) != 0))
		w->bell_wakeups++;
}

int sl_worker_main(void *arg)
{
	struct sl_worker *w = arg;
	struct sl_pkt pkts[RX_BURST];
	uint64_t backoff = w->cfg.poll_idle_ns;
	w->lcore = rte_lcore_id();
	SL_LOG(SHARD, INFO, "worker %u running on lcore %u", w->cfg.id, w->lcore);
	while (!w->stop) {
		uint64_t now = w->now = sl_clock_now_ns();
		unsigned int work = 0;
		w->loops++;

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

		if (w->have_links) {
			work += sl_handoff_poll(&w->ho, deliver_handoff, w, RX_BURST);
			work += sl_xshard_poll(w->xs, now);
		}

		for (struct wconn *c = w->conns; c; c = c->next)
			sl_moq_session_poll(c->s, now);

		/* The earliest timer is a walk over the connections: done once per iteration. */
		uint64_t exp = sl_quic_endpoint_expiry(w->ep);
		if (exp <= now) {
			sl_quic_endpoint_handle_expiry(w->ep, now);
			exp = sl_quic_endpoint_expiry(w->ep);
		}
		work += (unsigned int)sl_quic_endpoint_flush(w->ep, now);
		if (sl_pktio_tx_pending(w->cfg.port))
			sl_pktio_tx_flush(w->cfg.port);
		work += control(w);
		if (w->have_links && w->cfg.bells)
			ring_peers(w);

		if (work > 0)
			backoff = w->cfg.poll_idle_ns;
		else if (w->cfg.poll_idle_ns)
			idle_wait(w, now, exp, &backoff);
	}
	/* Tell every peer we are going away: a moq-lite GOAWAY (empty uri: no other relay to go
	 * to) sent on its own, then the QUIC close, each given a chance to leave. */
	uint64_t now = sl_clock_now_ns();
	for (struct wconn *c = w->conns; c; c = c->next) {
		sl_moq_session_goaway(c->s, "");
		sl_moq_session_poll(c->s, now);
	}
	sl_quic_endpoint_flush(w->ep, now);
	sl_pktio_tx_flush(w->cfg.port);
	for (struct wconn *c = w->conns; c; c = c->next)
		sl_quic_conn_close(c->qc, 0, "shutdown");
	sl_quic_endpoint_flush(w->ep, now);
	sl_pktio_tx_flush(w->cfg.port);
	SL_LOG(SHARD, INFO, "worker %u stopped", w->cfg.id);
	return 0;
}
