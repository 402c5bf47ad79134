/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The relay worker's loop on its own thread (as on an lcore), driven from the test thread as the
 * control core and as real moq-lite clients would drive it:
 *
 *   test thread: client QUIC endpoint + moq-lite sessions, control rings, doorbell
 *        |  fake packet port pair (two SPSC rings of datagrams, an eventfd per side)
 *   worker thread: sl_worker_main over its end of the pair
 *
 * The fake port behaves like the socket driver where it matters to the loop: its wait_fd is an
 * eventfd the peer signals after queueing datagrams, so an idle worker sleeps in ppoll on it
 * and on its doorbell, and what is checked is that every source of work ends that sleep (a lost
 * wake-up shows as a stall of up to SL_WORKER_IDLE_MAX_NS, one second). Latency bounds are
 * hundreds of milliseconds: the machine is shared and only a lost wake-up takes that long.
 *
 * The worker needs no EAL: its rings live in plain memory (sl_ring_alloc) and rte_lcore_id() is
 * LCORE_ID_ANY on a thread the EAL did not start, so a pthread stands for the lcore.
 */
#include "core/test_common.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/ring.h"
#include "shard/moq_quic.h"
#include "shard/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MS	   UINT64_C(1000000)
#define FAKE_MTU   1500
#define WIRE_SLOTS 4096
#define TX_MAX	   256
/* Far below the idle cap (1 s) that a lost wake-up costs, far above a scheduling hiccup. */
#define PROMPT_NS (500 * MS)

/* ---- the fake packet port ---- */

/* One datagram in flight; path is in the receiver's view once it is on the wire. */
struct dgram {
	struct sl_quic_path path;
	uint32_t len;
	uint8_t data[FAKE_MTU];
};

/*
 * One end of an in-memory wire. in is this end's receive queue (consumed only by its owner, as
 * the worker's rx queue is), out the peer's (produced only by this end's owner): single
 * producer, single consumer, as real rings between cores are. efd is this end's wait_fd; the
 * peer writes it after queueing, and rx_burst reads it before draining in, so a datagram queued
 * after a drain always leaves the descriptor readable.
 */
struct fport {
	struct sl_pktio base;
	struct rte_ring *in, *out;
	int efd, peer_efd;
	struct dgram *txq[TX_MAX]; /* committed, not yet flushed */
	unsigned int ntx;
};

static unsigned int fp_rx_burst(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int max)
{
	struct fport *p = (struct fport *)port;
	uint64_t v;
	if (read(p->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		p->base.stats.rx_errors++;
	struct sl_msg m[64];
	if (max > 64)
		max = 64;
	unsigned int n = sl_ring_recv(p->in, m, max);
	for (unsigned int i = 0; i < n; i++) {
		struct dgram *d = m[i].obj;
		pkts[i] = (struct sl_pkt){
			.data = d->data, .len = d->len, .handle = d, .path = d->path};
		p->base.stats.rx_packets++;
		p->base.stats.rx_bytes += d->len;
	}
	if (n)
		p->base.stats.rx_batches++;
	return n;
}

static void fp_rx_release(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int n)
{
	(void)port;
	for (unsigned int i = 0; i < n; i++)
		free(pkts[i].handle);
}

static uint8_t *fp_tx_alloc(struct sl_pktio *port, size_t max_len, void **token)
{
	struct fport *p = (struct fport *)port;
	struct dgram *d = max_len <= FAKE_MTU && p->ntx < TX_MAX ? malloc(sizeof(*d)) : NULL;
	if (d == NULL) {
		p->base.stats.tx_nobufs++;
		return NULL;
	}
	*token = d;
	return d->data;
}

static void fp_tx_commit(struct sl_pktio *port, void *token, const struct sl_quic_path *path,
			 size_t len)
{
	struct fport *p = (struct fport *)port;
	struct dgram *d = token;
	if (len == 0) {
		free(d);
		return;
	}
	/* The receiver's view: what we sent from is its remote, what we sent to its local. */
	memset(&d->path, 0, sizeof(d->path));
	d->path.local = path->remote;
	d->path.local_len = path->remote_len;
	d->path.remote = path->local;
	d->path.remote_len = path->local_len;
	d->len = (uint32_t)len;
	p->txq[p->ntx++] = d;
}

static int fp_tx_flush(struct sl_pktio *port)
{
	struct fport *p = (struct fport *)port;
	struct sl_msg m[TX_MAX];
	for (unsigned int i = 0; i < p->ntx; i++)
		m[i] = (struct sl_msg){.type = SL_MSG_BUF, .obj = p->txq[i]};
	unsigned int n = p->ntx ? sl_ring_send(p->out, m, p->ntx) : 0;
	for (unsigned int i = 0; i < n; i++) {
		p->base.stats.tx_packets++;
		p->base.stats.tx_bytes += p->txq[i]->len;
	}
	if (n) {
		p->base.stats.tx_batches++;
		uint64_t one = 1;
		if (write(p->peer_efd, &one, sizeof(one)) < 0)
			p->base.stats.tx_errors++;
	}
	memmove(p->txq, p->txq + n, (p->ntx - n) * sizeof(p->txq[0]));
	p->ntx -= n;
	if (p->ntx) {
		p->base.stats.tx_blocked++;
		return SL_EAGAIN;
	}
	return (int)n;
}

static unsigned int fp_tx_pending(const struct sl_pktio *port)
{
	return ((const struct fport *)port)->ntx;
}

static int fp_wait_fd(const struct sl_pktio *port)
{
	return ((const struct fport *)port)->efd;
}

/* Frees this end's queue and descriptor; the peer's queue is the peer's to free. */
static void fp_close(struct sl_pktio *port)
{
	struct fport *p = (struct fport *)port;
	for (unsigned int i = 0; i < p->ntx; i++)
		free(p->txq[i]);
	struct sl_msg m;
	while (sl_ring_recv(p->in, &m, 1) == 1)
		free(m.obj);
	free(p->in);
	close(p->efd);
	free(p);
}

static const struct sl_pktio_ops fake_ops = {
	.name = "fake",
	.rx_burst = fp_rx_burst,
	.rx_release = fp_rx_release,
	.tx_alloc = fp_tx_alloc,
	.tx_commit = fp_tx_commit,
	.tx_flush = fp_tx_flush,
	.tx_pending = fp_tx_pending,
	.wait_fd = fp_wait_fd,
	.close = fp_close,
};

static struct fport *fport_new(const char *name)
{
	struct fport *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	p->base.ops = &fake_ops;
	p->base.stats.features = SL_PKTIO_F_WAITFD;
	p->in = sl_ring_alloc(name, WIRE_SLOTS);
	assert_non_null(p->in);
	p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(p->efd >= 0);
	return p;
}

static void fport_pair(struct fport *a, struct fport *b)
{
	a->out = b->in;
	a->peer_efd = b->efd;
	b->out = a->in;
	b->peer_efd = a->efd;
}

/* ---- the test's moq-lite clients: one endpoint, one connection each ---- */

struct cconn {
	struct sl_quic_conn *qc;
	struct sl_moq_session *s;
	bool connected, closed;
	uint16_t port; /* the client's local UDP port, so the worker sees distinct peers */
};

static struct {
	/* the worker side */
	struct sl_worker *w;
	struct fport *wport, *cport;
	struct rte_ring *ctl_in, *ctl_out;
	struct sl_bell bell;
	pthread_t thread;
	bool running;
	int worker_returned; /* set (atomically) by the worker thread after sl_worker_main */
	uint64_t returned_at;
	uint64_t next_req;
	/* The sleep-window trap (see idle_hook): 0 off, 1 set by the test, 2 the worker waits in
	 * its hook, 3 the test is done and lets it go on. */
	int trap;
	/* the client side */
	struct sl_quic_endpoint *ep;
	struct cconn conns[8];
	unsigned int nconns;
	/* Publishers' origins: freed after the sessions that serve their broadcasts. */
	struct sl_origin *origins[4];
	unsigned int norigins;
	uint64_t rng;
} T;

static void c_on_connected(void *arg, struct sl_quic_conn *qc)
{
	(void)arg;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c)
		c->connected = true;
}

static void *c_on_stream_open(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs)
{
	(void)arg;
	struct cconn *c = sl_quic_conn_user(qc);
	return c ? sl_moq_quic_accept(c->s, qs) : NULL;
}

static void c_on_stream_data(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			     void *user, const uint8_t *data, size_t len, bool fin)
{
	(void)arg;
	(void)qs;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c && user)
		sl_moq_session_stream_data(c->s, user, data, len, fin);
}

static void c_on_stream_reset(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			      void *user, uint64_t code)
{
	(void)arg;
	(void)qs;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c && user)
		sl_moq_session_stream_reset(c->s, user, code);
}

static void c_on_stream_acked(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			      void *user, uint64_t bytes)
{
	(void)arg;
	(void)qs;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c && user)
		sl_moq_session_stream_acked(c->s, user, bytes);
}

static void c_on_stream_close(void *arg, struct sl_quic_conn *qc, struct sl_quic_stream *qs,
			      void *user)
{
	(void)arg;
	(void)qs;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c && user)
		sl_moq_session_stream_closed(c->s, user);
}

static void c_on_closed(void *arg, struct sl_quic_conn *qc, uint64_t error)
{
	(void)arg;
	(void)error;
	struct cconn *c = sl_quic_conn_user(qc);
	if (c == NULL)
		return;
	c->closed = true;
	c->qc = NULL;
	sl_moq_session_closed(c->s);
}

static const struct sl_quic_callbacks client_cbs = {
	.tx_alloc = sl_pktio_quic_tx_alloc,
	.tx_commit = sl_pktio_quic_tx_commit,
	.on_connected = c_on_connected,
	.on_stream_open = c_on_stream_open,
	.on_stream_data = c_on_stream_data,
	.on_stream_reset = c_on_stream_reset,
	.on_stream_acked = c_on_stream_acked,
	.on_stream_close = c_on_stream_close,
	.on_closed = c_on_closed,
};

static void set_v4(struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	memset(ss, 0, sizeof(*ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*len = sizeof(*a);
}

/* Starts a connection from a new client port to the worker (handshake not awaited). */
static struct cconn *client_connect(void)
{
	assert_true(T.nconns < sizeof(T.conns) / sizeof(T.conns[0]));
	struct cconn *c = &T.conns[T.nconns];
	memset(c, 0, sizeof(*c));
	c->port = (uint16_t)(50000 + T.nconns);
	T.nconns++;
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	set_v4(&path.local, &path.local_len, c->port);
	set_v4(&path.remote, &path.remote_len, 4443);
	assert_int_equal(sl_quic_connect(T.ep, &path, "localhost", sl_clock_now_ns(), &c->qc), 0);
	struct sl_moq_session_config sc;
	sl_moq_session_config_default(&sc);
	sc.server = false;
	c->s = sl_moq_session_new(&sc, &sl_moq_quic_transport, c->qc, NULL);
	assert_non_null(c->s);
	sl_quic_conn_set_user(c->qc, c);
	return c;
}

/* One pass of the client side: datagrams in, sessions, timers, datagrams out. With wait, then
 * sleeps on the client port's descriptor for at most a millisecond. */
static void client_step(bool wait)
{
	struct sl_pktio *port = &T.cport->base;
	struct sl_pkt pkts[64];
	uint64_t now = sl_clock_now_ns();
	unsigned int n, got = 0;
	while ((n = sl_pktio_rx_burst(port, pkts, 64)) > 0) {
		for (unsigned int i = 0; i < n; i++)
			sl_quic_endpoint_recv(T.ep, &pkts[i].path, pkts[i].data, pkts[i].len, now);
		sl_pktio_rx_release(port, pkts, n);
		got += n;
	}
	for (unsigned int i = 0; i < T.nconns; i++)
		if (T.conns[i].s && !T.conns[i].closed)
			sl_moq_session_poll(T.conns[i].s, now);
	sl_quic_endpoint_handle_expiry(T.ep, now);
	sl_quic_endpoint_flush(T.ep, now);
	sl_pktio_tx_flush(port);
	if (wait && got == 0) {
		struct pollfd p = {.fd = T.cport->efd, .events = POLLIN};
		poll(&p, 1, 1);
	}
}

/* Runs the client until cond holds or timeout_ns passed; the value of cond. */
#define PUMP_UNTIL(cond, timeout_ns)                                                               \
	({                                                                                         \
		uint64_t end_ = sl_clock_now_ns() + (timeout_ns);                                  \
		bool ok_;                                                                          \
		while (!(ok_ = (cond)) && sl_clock_now_ns() < end_)                                \
			client_step(true);                                                         \
		ok_;                                                                               \
	})

static void pump_for(uint64_t ns)
{
	uint64_t end = sl_clock_now_ns() + ns;
	while (sl_clock_now_ns() < end)
		client_step(true);
}

/* ---- the control core's side ---- */

static void *worker_thread(void *arg)
{
	(void)arg;
	sl_worker_main(T.w);
	__atomic_store_n(&T.returned_at, sl_clock_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&T.worker_returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Sends a control message the way shardlined does: queue, then ring the bell, which writes
 * only if the worker is about to sleep or sleeping. Returns the request id. */
static uint64_t ctl_post(uint32_t type, void *obj)
{
	uint64_t id = ++T.next_req;
	struct sl_msg m = {.type = SL_MSG_CONTROL, .u32 = type, .u64 = id, .obj = obj};
	assert_int_equal(sl_ring_send(T.ctl_in, &m, 1), 1);
	sl_bell_ring(&T.bell);
	return id;
}

/* Waits for the reply to request id (the next one on the ring), keeping the client side
 * running meanwhile. Returns its obj. */
static void *ctl_reply(uint32_t type, uint64_t id)
{
	uint64_t t0 = sl_clock_now_ns();
	struct sl_msg r;
	for (;;) {
		if (sl_ring_recv(T.ctl_out, &r, 1) == 1)
			break;
		/* Bounded far above PROMPT_NS so a stall is reported as a latency, not a hang. */
		assert_true(sl_clock_now_ns() - t0 < 5000 * MS);
		client_step(false);
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	assert_int_equal(r.type, SL_MSG_CONTROL);
	assert_int_equal(r.u32, type);
	assert_int_equal(r.u64, id);
	return r.obj;
}

/* A request and its reply; *took (if not NULL) gets the time from send to reply. */
static void *ctl_request(uint32_t type, void *obj, uint64_t *took)
{
	uint64_t t0 = sl_clock_now_ns();
	void *r = ctl_reply(type, ctl_post(type, obj));
	if (took)
		*took = sl_clock_now_ns() - t0;
	return r;
}

/* A counters snapshot through the control ring (the caller frees it). */
static struct sl_worker_stats *ctl_stats(void)
{
	struct sl_worker_stats *st = ctl_request(SL_WORKER_CTL_STATS, NULL, NULL);
	assert_non_null(st);
	return st;
}

/*
 * Asks for counters (into st, a snapshot the caller frees, NULL or one to replace) until cond
 * holds or timeout_ns passed; the value of cond. For what the worker learns after the client
 * does: the client's handshake completes before the worker reads the client's last flight.
 */
#define WAIT_STATS(st, cond, timeout_ns)                                                           \
	({                                                                                         \
		uint64_t end_ = sl_clock_now_ns() + (timeout_ns);                                  \
		bool ok_;                                                                          \
		for (;;) {                                                                         \
			free(st);                                                                  \
			(st) = ctl_stats();                                                        \
			if ((ok_ = (cond)) || sl_clock_now_ns() >= end_)                           \
				break;                                                             \
			pump_for(2 * MS);                                                          \
		}                                                                                  \
		ok_;                                                                               \
	})

/* For messages without a reply (STOP). */
static void ctl_send_only(uint32_t type, void *obj)
{
	ctl_post(type, obj);
}

static uint64_t rnd(void)
{
	/* xorshift64: fixed seed, so a failing run replays the same delays. */
	T.rng ^= T.rng << 13;
	T.rng ^= T.rng >> 7;
	T.rng ^= T.rng << 17;
	return T.rng;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
	nanosleep(&ts, NULL);
}

static void spin_ns(uint64_t ns)
{
	uint64_t end = sl_clock_now_ns() + ns;
	while (sl_clock_now_ns() < end)
		;
}

static bool worker_returned(void)
{
	return __atomic_load_n(&T.worker_returned, __ATOMIC_ACQUIRE) != 0;
}

/*
 * The worker's idle hook: when the test set the trap, the worker stops right before it arms its
 * doorbell and waits for the test to send (bounded, so a broken test cannot hang the worker).
 */
static void idle_hook(void *arg)
{
	(void)arg;
	int want = 1;
	if (!__atomic_compare_exchange_n(&T.trap, &want, 2, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return;
	uint64_t end = sl_clock_now_ns() + 2000 * MS;
	while (__atomic_load_n(&T.trap, __ATOMIC_ACQUIRE) != 3 && sl_clock_now_ns() < end)
		sched_yield();
	__atomic_store_n(&T.trap, 0, __ATOMIC_RELEASE);
}

static int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof(T));
	T.rng = 0x9e3779b97f4a7c15ull;
	T.wport = fport_new("wire_to_worker");
	T.cport = fport_new("wire_to_client");
	fport_pair(T.wport, T.cport);
	T.ctl_in = sl_ring_alloc("ctl_in", 64);
	T.ctl_out = sl_ring_alloc("ctl_out", 64);
	assert_non_null(T.ctl_in);
	assert_non_null(T.ctl_out);
	assert_int_equal(sl_bell_init(&T.bell), 0);

	struct sl_worker_config cfg;
	sl_worker_config_default(&cfg);
	cfg.port = &T.wport->base;
	cfg.ctl_in = T.ctl_in;
	cfg.ctl_out = T.ctl_out;
	cfg.bells = &T.bell;
	cfg.poll_idle_ns = 100 * 1000; /* 100 µs: the worker backs off and sleeps when idle */
	assert_int_equal(sl_worker_new(&cfg, sl_clock_now_ns(), &T.w), 0);
	sl_worker_set_idle_hook(T.w, idle_hook, NULL);

	struct sl_quic_config qc;
	sl_quic_config_default(&qc);
	snprintf(qc.alpn, sizeof(qc.alpn), "%s", SL_MOQ_ALPN);
	assert_int_equal(
		sl_quic_endpoint_new(&qc, &client_cbs, &T.cport->base, sl_clock_now_ns(), &T.ep),
		0);
	assert_int_equal(pthread_create(&T.thread, NULL, worker_thread, NULL), 0);
	T.running = true;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (T.running) {
		if (!worker_returned())
			ctl_send_only(SL_WORKER_CTL_STOP, NULL);
		pthread_join(T.thread, NULL);
	}
	/* Replies nobody read (the STOP above has none). */
	struct sl_msg r;
	while (sl_ring_recv(T.ctl_out, &r, 1) == 1)
		free(r.obj);
	sl_worker_free(T.w); /* closes the worker's end of the wire */
	for (unsigned int i = 0; i < T.nconns; i++) {
		if (T.conns[i].qc)
			sl_quic_conn_set_user(T.conns[i].qc, NULL);
		sl_moq_session_free(T.conns[i].s);
	}
	for (unsigned int i = 0; i < T.norigins; i++)
		sl_origin_free(T.origins[i]);
	sl_quic_endpoint_free(T.ep);
	sl_pktio_close(&T.cport->base);
	sl_bell_fini(&T.bell);
	free(T.ctl_in);
	free(T.ctl_out);
	return 0;
}

/* ---- publishing and subscribing through the relay ---- */

struct pub {
	struct cconn *c;
	struct sl_origin *o;
	struct sl_broadcast *b;
	struct sl_track *t;
};

static void pub_start(struct pub *p)
{
	p->c = client_connect();
	assert_true(PUMP_UNTIL(p->c->connected, PROMPT_NS));
	p->o = sl_origin_new(NULL);
	assert_non_null(p->o);
	T.origins[T.norigins++] = p->o;
	assert_int_equal(sl_origin_publish(p->o, "demo", &p->b), 0);
	assert_int_equal(sl_broadcast_create_track(p->b, "clock", 0, &p->t), 0);
	assert_int_equal(sl_moq_session_publish(p->c->s, "demo", p->b), 0);
	/* The relay knows the broadcast once the worker's origin holds it. */
	struct sl_worker_stats *st = NULL;
	assert_true(WAIT_STATS(st, st->broadcasts == 1, PROMPT_NS));
	free(st);
}

static void pub_free(struct pub *p)
{
	sl_track_unref(p->t);
	sl_broadcast_unref(p->b);
	/* The origin is freed in teardown, after the session that serves it. */
}

/* Appends a finished group of n frames of size bytes to the publisher's track. */
static void pub_group(struct pub *p, uint32_t n, size_t size)
{
	struct sl_group *g;
	assert_int_equal(sl_track_append_group(p->t, sl_clock_now_ns(), &g), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct sl_buf *b = sl_buf_alloc(size);
		assert_non_null(b);
		memset(b->data, 'a' + (int)i, size);
		b->len = (uint32_t)size;
		assert_int_equal(sl_group_write_frame(g, sl_slice_of(b)), 0);
	}
	assert_int_equal(sl_group_finish(g), 0);
	sl_group_unref(g);
}

struct sub {
	struct cconn *c;
	struct sl_track_consumer cons;
	struct sl_group_reader r;
	uint64_t groups, frames, bytes;
};

static void sub_start(struct sub *s)
{
	memset(s, 0, sizeof(*s));
	s->c = client_connect();
	assert_true(PUMP_UNTIL(s->c->connected, PROMPT_NS));
	assert_int_equal(sl_moq_session_subscribe(s->c->s, "demo", "clock", NULL, NULL, &s->cons),
			 0);
	struct sl_moq_session_stats st;
	assert_true(PUMP_UNTIL(
		(sl_moq_session_stats(s->c->s, &st), st.msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK] == 1),
		PROMPT_NS));
}

/* Reads whatever arrived; returns the groups completed so far. */
static uint64_t sub_drain(struct sub *s)
{
	for (;;) {
		if (s->r.group == NULL) {
			if (sl_track_consumer_next_group(&s->cons, NULL, &s->r) != 0)
				return s->groups;
		}
		struct sl_slice f;
		int rc = sl_group_read_frame(&s->r, NULL, &f);
		if (rc == SL_EEOF) {
			sl_group_reader_release(&s->r);
			s->groups++;
			continue;
		}
		if (rc != 0)
			return s->groups;
		s->frames++;
		s->bytes += f.len;
	}
}

static void sub_free(struct sub *s)
{
	if (s->r.group)
		sl_group_reader_release(&s->r);
	sl_track_consumer_release(&s->cons, NULL);
}

/* ---- the tests ---- */

/*
 * The idle-wait/doorbell race: control messages sent at random moments (while the worker runs
 * a pass, arms its bell, or sleeps in ppoll) must each be answered promptly. A sender that
 * misses the sleeping flag while the sleeper misses the message leaves the request for the idle
 * cap, a second.
 */
static void control_wakes_idle_worker(void **state)
{
	(void)state;
	uint64_t worst = 0, total = 0;
	enum { ROUNDS = 200 };
	for (int i = 0; i < ROUNDS; i++) {
		/* A first request wakes the sleeping worker; a second follows it within 0 to
		 * 100 µs (spun: a sleep that short oversleeps), so it lands at a random point of
		 * the wake-up, the pass that answers the first, or the return to sleep, which is
		 * where a lost wake-up hides. Then 0 to 3 ms of quiet: asleep again. */
		uint64_t t0 = sl_clock_now_ns();
		uint64_t first = ctl_post(SL_WORKER_CTL_STATS, NULL);
		spin_ns(rnd() % (100 * 1000));
		uint64_t t1 = sl_clock_now_ns();
		uint64_t second = ctl_post(SL_WORKER_CTL_STATS, NULL);
		free(ctl_reply(SL_WORKER_CTL_STATS, first));
		uint64_t took = sl_clock_now_ns() - t0;
		free(ctl_reply(SL_WORKER_CTL_STATS, second));
		uint64_t took2 = sl_clock_now_ns() - t1;
		if (took2 > took)
			took = took2;
		if (took > worst)
			worst = took;
		total += took;
		sleep_ns(rnd() % (3 * MS));
	}
	struct sl_worker_stats *st = ctl_stats();
	print_message("%d request pairs: worst %.3f ms, mean %.3f ms; %llu sleeps, %llu bell "
		      "wake-ups\n",
		      ROUNDS, (double)worst / 1e6, (double)total / ROUNDS / 1e6,
		      (unsigned long long)st->idle_sleeps, (unsigned long long)st->bell_wakeups);
	assert_true(worst < PROMPT_NS);
	/* The worker did sleep, and the bell is what woke it. */
	assert_true(st->idle_sleeps > 0);
	assert_true(st->bell_wakeups > 0);
	free(st);
}

/*
 * The same race, made certain: the worker is stopped (by its idle hook) after its last pass and
 * before it sets its sleeping flag, and the request is sent right then, so the sender sees the
 * worker awake and does not ring. Only the worker's look at its rings after setting the flag
 * finds the request; without it the request waits out the one-second idle cap.
 */
static void control_in_the_sleep_window(void **state)
{
	(void)state;
	uint64_t worst = 0;
	for (int i = 0; i < 50; i++) {
		__atomic_store_n(&T.trap, 1, __ATOMIC_RELEASE);
		/* Something to do, so the worker leaves its sleep and comes back to the hook. */
		uint64_t first = ctl_post(SL_WORKER_CTL_STATS, NULL);
		uint64_t end = sl_clock_now_ns() + 2000 * MS;
		while (__atomic_load_n(&T.trap, __ATOMIC_ACQUIRE) != 2) {
			assert_true(sl_clock_now_ns() < end);
			sched_yield();
		}
		uint64_t t0 = sl_clock_now_ns();
		uint64_t second = ctl_post(SL_WORKER_CTL_STATS, NULL);
		__atomic_store_n(&T.trap, 3, __ATOMIC_RELEASE);
		free(ctl_reply(SL_WORKER_CTL_STATS, first));
		free(ctl_reply(SL_WORKER_CTL_STATS, second));
		uint64_t took = sl_clock_now_ns() - t0;
		if (took > worst)
			worst = took;
		sleep_ns(rnd() % (2 * MS));
	}
	print_message("50 requests in the sleep window: worst %.3f ms\n", (double)worst / 1e6);
	assert_true(worst < PROMPT_NS);
}

/* A datagram queued on the port wakes a worker that sleeps on the port's descriptor: each
 * handshake (several round trips, each waking it) completes well before the one-second cap
 * and before QUIC's first retransmission (about a second at the initial RTT estimate). */
static void datagram_wakes_idle_worker(void **state)
{
	(void)state;
	for (int i = 0; i < 6; i++) {
		/* Idle long enough that the worker is surely asleep with nothing due soon. */
		sleep_ns(20 * MS + rnd() % (30 * MS));
		uint64_t t0 = sl_clock_now_ns();
		struct cconn *c = client_connect();
		assert_true(PUMP_UNTIL(c->connected, PROMPT_NS));
		print_message("handshake %d: %.3f ms\n", i, (double)(sl_clock_now_ns() - t0) / 1e6);
	}
	struct sl_worker_stats *st = NULL;
	assert_true(WAIT_STATS(st, st->connections == 6, PROMPT_NS));
	assert_int_equal(st->sessions_total, 6);
	assert_int_equal(st->quic.conns_accepted, 6);
	assert_true(st->idle_sleeps > 0);
	assert_true(st->port.rx_packets > 0);
	assert_true(st->port.tx_packets > 0);
	free(st);
}

/* STATS reflects the traffic, CONNS lists the connections, CONFIG applies, and the durable
 * requests are answered (empty) on a worker without the durable side. */
static void control_messages(void **state)
{
	(void)state;
	struct pub p;
	pub_start(&p);
	struct sub s;
	sub_start(&s);
	enum { GROUPS = 5, FRAMES = 3, SIZE = 200 };
	for (int g = 0; g < GROUPS; g++) {
		pub_group(&p, FRAMES, SIZE);
		assert_true(PUMP_UNTIL(sub_drain(&s) >= (uint64_t)g + 1, PROMPT_NS));
	}
	assert_int_equal(s.frames, GROUPS * FRAMES);

	struct sl_worker_stats *st = ctl_stats();
	assert_int_equal(st->connections, 2);
	assert_int_equal(st->sessions_total, 2);
	assert_int_equal(st->broadcasts, 1);
	assert_int_equal(st->relay.upstream_subscribes, 1);
	assert_int_equal(st->moq.groups_sent, GROUPS);
	assert_int_equal(st->moq.groups_in, GROUPS);
	assert_int_equal(st->moq.msgs_out[SL_MOQ_MSG_FRAME], GROUPS * FRAMES);
	assert_int_equal(st->moq.payload_out, GROUPS * FRAMES * SIZE);
	assert_int_equal(st->moq.payload_in, GROUPS * FRAMES * SIZE);
	assert_int_equal(st->moq.subscribes_active, 1);
	assert_true(st->port.rx_bytes > GROUPS * FRAMES * SIZE);
	assert_true(st->port.tx_bytes > GROUPS * FRAMES * SIZE);
	assert_int_equal(st->quic.conns, 2);
	free(st);

	/* CONNS: both connections, the subscriber's with its groups, the publisher's with the
	 * relay's upstream subscription. */
	struct sl_worker_conns *l = ctl_request(SL_WORKER_CTL_CONNS, NULL, NULL);
	assert_non_null(l);
	assert_int_equal(l->worker, 0);
	assert_int_equal(l->n, 2);
	int subs = 0, ups = 0;
	for (uint32_t i = 0; i < l->n; i++) {
		const struct sl_worker_conn_info *ci = &l->conn[i];
		assert_string_equal(ci->alpn, "moq-lite-04");
		assert_true(ci->quic.established);
		assert_true(ci->quic.rx_datagrams > 0);
		if (ci->subscriptions == 1) {
			subs++;
			assert_int_equal(ci->groups_sent, GROUPS);
			assert_int_equal(ci->payload_out, GROUPS * FRAMES * SIZE);
			assert_int_equal(ntohs(((struct sockaddr_in *)&ci->quic.remote)->sin_port),
					 s.c->port);
		}
		if (ci->upstreams == 1) {
			ups++;
			assert_int_equal(ci->payload_in, GROUPS * FRAMES * SIZE);
			assert_int_equal(ntohs(((struct sockaddr_in *)&ci->quic.remote)->sin_port),
					 p.c->port);
		}
	}
	assert_int_equal(subs, 1);
	assert_int_equal(ups, 1);
	free(l);

	/* DESCRIBE and STREAMS without a durable side: answered, nothing found, success. */
	struct sl_worker_describe *d = calloc(1, sizeof(*d));
	assert_non_null(d);
	d->stream_id = 7;
	d->n = 99;
	assert_ptr_equal(ctl_request(SL_WORKER_CTL_DESCRIBE, d, NULL), d);
	assert_int_equal(d->n, 0);
	free(d);
	int *res = ctl_request(SL_WORKER_CTL_STREAMS, NULL, NULL);
	assert_non_null(res);
	assert_int_equal(*res, 0);
	free(res);

	/* CONFIG: a connection limit of 2 refuses a third connection... */
	struct sl_worker_runtime *rt = calloc(1, sizeof(*rt));
	assert_non_null(rt);
	rt->poll_idle_ns = 100 * 1000;
	sl_track_config_default(&rt->track);
	rt->idle_timeout_ns = 30000 * MS;
	rt->max_conns = 2;
	/* CONFIG is answered with its own object once it applied. */
	assert_ptr_equal(ctl_request(SL_WORKER_CTL_CONFIG, rt, NULL), rt);
	free(rt);
	st = ctl_stats();
	assert_int_equal(st->quic.conns_refused, 0);
	free(st);
	struct cconn *c3 = client_connect();
	pump_for(300 * MS);
	assert_false(c3->connected);
	st = ctl_stats();
	assert_true(st->quic.conns_refused > 0);
	assert_int_equal(st->connections, 2);
	free(st);
	sl_quic_conn_close(c3->qc, 0, "refused");
	pump_for(20 * MS);

	/* ... and raising it again lets the next one in. */
	rt = calloc(1, sizeof(*rt));
	assert_non_null(rt);
	rt->poll_idle_ns = 100 * 1000;
	sl_track_config_default(&rt->track);
	rt->idle_timeout_ns = 30000 * MS;
	rt->max_conns = 100;
	assert_ptr_equal(ctl_request(SL_WORKER_CTL_CONFIG, rt, NULL), rt);
	free(rt);
	struct cconn *c4 = client_connect();
	assert_true(PUMP_UNTIL(c4->connected, PROMPT_NS));
	st = NULL;
	assert_true(WAIT_STATS(st, st->connections == 3, PROMPT_NS));
	free(st);

	sub_free(&s);
	pub_free(&p);
}

/* A subscriber that leaves takes its session away, not what it did: the worker's totals keep
 * the closed session's groups, frames and bytes; gauges count open sessions only. */
static void closed_sessions_keep_their_counters(void **state)
{
	(void)state;
	struct pub p;
	pub_start(&p);
	struct sub s;
	sub_start(&s);
	enum { GROUPS = 4, FRAMES = 2, SIZE = 300 };
	for (int g = 0; g < GROUPS; g++) {
		pub_group(&p, FRAMES, SIZE);
		assert_true(PUMP_UNTIL(sub_drain(&s) >= (uint64_t)g + 1, PROMPT_NS));
	}
	struct sl_worker_stats *before = ctl_stats();
	assert_int_equal(before->connections, 2);
	assert_int_equal(before->moq.groups_sent, GROUPS);
	assert_int_equal(before->moq.subscribes_active, 1);
	/* Every group went out on a stream from the per-core pools, and status sees them. */
	assert_true(before->pool_moq_streams.gets >= GROUPS);
	assert_true(before->pool_quic_streams.gets >= GROUPS);
	assert_true(before->pool_quic_streams.slabs >= 1);
	assert_true(before->pool_quic_streams.capacity >= before->pool_quic_streams.in_use);
	assert_int_equal(before->pool_quic_streams.fails, 0);

	/* The subscriber closes its connection; the worker drops its session. */
	sl_quic_conn_close(s.c->qc, 0, "bye");
	bool gone = false;
	struct sl_worker_stats *after = NULL;
	for (int i = 0; i < 400 && !gone; i++) {
		pump_for(5 * MS);
		free(after);
		after = ctl_stats();
		gone = after->connections == 1;
	}
	assert_true(gone);
	assert_int_equal(after->sessions_total, 2);
	assert_int_equal(after->quic.conns_closed, 1);
	assert_int_equal(after->moq.groups_sent, before->moq.groups_sent);
	assert_int_equal(after->moq.msgs_out[SL_MOQ_MSG_FRAME],
			 before->moq.msgs_out[SL_MOQ_MSG_FRAME]);
	assert_int_equal(after->moq.payload_out, before->moq.payload_out);
	assert_int_equal(after->moq.msgs_in[SL_MOQ_MSG_SUBSCRIBE],
			 before->moq.msgs_in[SL_MOQ_MSG_SUBSCRIBE]);
	assert_true(after->moq.bytes_out >= before->moq.bytes_out);
	assert_true(after->moq.streams_in >= before->moq.streams_in);
	assert_int_equal(after->moq.subscribes_active, 0); /* a gauge: open sessions only */
	free(before);

	/* A second subscriber adds to the totals rather than replacing them: it starts at the
	 * latest cached group, then gets the next one. */
	struct sub s2;
	sub_start(&s2);
	pub_group(&p, FRAMES, SIZE);
	assert_true(PUMP_UNTIL(sub_drain(&s2) >= 2, PROMPT_NS));
	assert_int_equal(s2.groups, 2);
	struct sl_worker_stats *third = ctl_stats();
	assert_int_equal(third->sessions_total, 3);
	assert_int_equal(third->moq.groups_sent, after->moq.groups_sent + 2);
	assert_int_equal(third->moq.msgs_out[SL_MOQ_MSG_FRAME],
			 after->moq.msgs_out[SL_MOQ_MSG_FRAME] + 2 * FRAMES);
	assert_int_equal(third->moq.subscribes_active, 1);
	free(third);
	free(after);
	sub_free(&s2);
	sub_free(&s);
	pub_free(&p);
}

/* STOP: the loop returns promptly, and the peers are told (GOAWAY, then the QUIC close). */
static void stop_returns_promptly(void **state)
{
	(void)state;
	struct pub p;
	pub_start(&p);
	struct sub s;
	sub_start(&s);
	pub_group(&p, 1, 100);
	assert_true(PUMP_UNTIL(sub_drain(&s) == 1, PROMPT_NS));
	sleep_ns(20 * MS); /* asleep again */

	uint64_t t0 = sl_clock_now_ns();
	ctl_send_only(SL_WORKER_CTL_STOP, NULL);
	assert_true(PUMP_UNTIL(worker_returned(), PROMPT_NS));
	print_message("stopped after %.3f ms\n",
		      (double)(__atomic_load_n(&T.returned_at, __ATOMIC_RELAXED) - t0) / 1e6);
	pthread_join(T.thread, NULL);
	T.running = false;

	assert_true(PUMP_UNTIL(p.c->closed && s.c->closed, 3000 * MS));
	assert_non_null(sl_moq_session_goaway_uri(p.c->s));
	assert_non_null(sl_moq_session_goaway_uri(s.c->s));
	assert_string_equal(sl_moq_session_goaway_uri(s.c->s), "");
	sub_free(&s);
	pub_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(control_wakes_idle_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(control_in_the_sleep_window, setup, teardown),
		cmocka_unit_test_setup_teardown(datagram_wakes_idle_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(control_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(closed_sessions_keep_their_counters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(stop_returns_promptly, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
