/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hand-off of datagrams between workers: the routing rule on hand-made QUIC headers, the copy
 * that crosses the ring (path and bytes intact, buffer released once), a full ring, foreign
 * messages, delivery into a real endpoint, and two threads as two workers.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "shard/handoff.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mesh {
	void *mem[2];
	struct rte_ring *r01, *r10; /* 0 -> 1 and 1 -> 0 */
	struct rte_ring *to0[2], *from0[2], *to1[2], *from1[2];
	struct sl_handoff h0, h1;
};

static struct rte_ring *ring_new(void **mem, const char *name, unsigned int count)
{
	size_t sz = (sl_ring_memsize(count) + 63) & ~(size_t)63;
	*mem = aligned_alloc(64, sz);
	assert_non_null(*mem);
	struct rte_ring *r = sl_ring_init_mem(*mem, name, count);
	assert_non_null(r);
	return r;
}

static void mesh_init(struct mesh *m, unsigned int count)
{
	memset(m, 0, sizeof(*m));
	m->r01 = ring_new(&m->mem[0], "h01", count);
	m->r10 = ring_new(&m->mem[1], "h10", count);
	m->to0[1] = m->r01;
	m->from0[1] = m->r10;
	m->to1[0] = m->r10;
	m->from1[0] = m->r01;
	assert_int_equal(sl_handoff_init(&m->h0, 0, 2, m->to0, m->from0), 0);
	assert_int_equal(sl_handoff_init(&m->h1, 1, 2, m->to1, m->from1), 0);
}

static void mesh_free(struct mesh *m)
{
	free(m->mem[0]);
	free(m->mem[1]);
}

/* A 1-RTT (short header) packet whose destination CID names worker w. */
static size_t short_pkt(uint8_t *p, size_t len, uint16_t w, uint32_t seq)
{
	memset(p, 0, len);
	p[0] = 0x40;
	p[1] = (uint8_t)(w >> 8);
	p[2] = (uint8_t)w;
	for (int i = 3; i < 1 + SL_QUIC_CID_LEN; i++)
		p[i] = (uint8_t)(0xa0 + i);
	if (len >= 1 + SL_QUIC_CID_LEN + 4)
		memcpy(p + 1 + SL_QUIC_CID_LEN, &seq, 4);
	return len;
}

/* A long-header packet of v1 type t (or v2 when v2) with a dcid of dcid_len naming worker w. */
static size_t long_pkt(uint8_t *p, int t, bool v2, uint8_t dcid_len, uint16_t w)
{
	memset(p, 0, 64);
	int wire_t = v2 ? (t + 1) & 3 : t;
	p[0] = (uint8_t)(0xc0 | wire_t << 4);
	uint32_t v = v2 ? 0x6b3343cfu : 1u;
	p[1] = (uint8_t)(v >> 24);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 8);
	p[4] = (uint8_t)v;
	p[5] = dcid_len;
	p[6] = (uint8_t)(w >> 8);
	p[7] = (uint8_t)w;
	return 64;
}

static void path_of(struct sl_quic_path *p, uint16_t rport)
{
	memset(p, 0, sizeof(*p));
	struct sockaddr_in *l = (struct sockaddr_in *)&p->local;
	struct sockaddr_in *r = (struct sockaddr_in *)&p->remote;
	l->sin_family = r->sin_family = AF_INET;
	l->sin_addr.s_addr = htonl(0x7f000001);
	l->sin_port = htons(4443);
	r->sin_addr.s_addr = htonl(0x7f000002);
	r->sin_port = htons(rport);
	p->local_len = p->remote_len = sizeof(struct sockaddr_in);
}

static void init_refuses_bad_arguments(void **state)
{
	(void)state;
	struct sl_handoff h;
	struct rte_ring *rings[2] = {0};
	assert_int_equal(sl_handoff_init(&h, 0, 0, rings, rings), SL_EINVAL);
	assert_int_equal(sl_handoff_init(&h, 2, 2, rings, rings), SL_EINVAL);
	assert_int_equal(sl_handoff_init(&h, 0, 2, NULL, rings), SL_EINVAL);
	/* One worker needs no rings at all, and everything is local. */
	assert_int_equal(sl_handoff_init(&h, 0, 1, NULL, NULL), 0);
	uint8_t p[64];
	short_pkt(p, sizeof(p), 0, 0);
	struct sl_quic_path path;
	path_of(&path, 1);
	assert_int_equal(sl_handoff_route(&h, &path, p, sizeof(p)), 0);
	assert_int_equal(sl_handoff_poll(&h, NULL, NULL, 10), 0);
}

static void owner_follows_the_cid_rule(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 16);
	uint8_t p[64];
	/* Short header: the CID decides, for any existing worker. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, short_pkt(p, 40, 1, 0)), 1);
	assert_int_equal(sl_handoff_owner(&m.h0, p, short_pkt(p, 40, 0, 0)), 0);
	assert_int_equal(sl_handoff_owner(&m.h1, p, short_pkt(p, 40, 0, 0)), 0);
	/* A worker that does not exist, or a packet too short for a CID: stay here. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, short_pkt(p, 40, 7, 0)), 0);
	assert_int_equal(sl_handoff_owner(&m.h0, p, short_pkt(p, 16, 1, 0)), 0);
	assert_int_equal(sl_handoff_owner(&m.h1, p, 0), 1);
	/* Initial and 0-RTT carry a client-made CID: accepted where they land. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 0, false, 16, 1)), 0);
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 1, false, 16, 1)), 0);
	/* Handshake and Retry carry ours, in v1 and in v2's numbering. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 2, false, 16, 1)), 1);
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 3, false, 16, 1)), 1);
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 2, true, 16, 1)), 1);
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 0, true, 16, 1)), 0);
	/* A CID of another length is not ours; version negotiation (version 0) stays. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, long_pkt(p, 2, false, 8, 1)), 0);
	long_pkt(p, 2, false, 16, 1);
	p[1] = p[2] = p[3] = p[4] = 0;
	assert_int_equal(sl_handoff_owner(&m.h0, p, 64), 0);
	/* Truncated long header. */
	assert_int_equal(sl_handoff_owner(&m.h0, p, 10), 0);
	mesh_free(&m);
}

struct got {
	int n;
	struct sl_quic_path path;
	uint8_t data[2048];
	size_t len;
	uint32_t next_seq;
	int out_of_order;
};

static void collect(void *arg, const struct sl_quic_path *path, const uint8_t *data, size_t len)
{
	struct got *g = arg;
	g->n++;
	g->path = *path;
	assert_true(len <= sizeof(g->data));
	memcpy(g->data, data, len);
	g->len = len;
	uint32_t seq;
	memcpy(&seq, data + 1 + SL_QUIC_CID_LEN, 4);
	if (seq != g->next_seq)
		g->out_of_order++;
	g->next_seq = seq + 1;
}

static void remote_datagrams_cross_with_path_and_bytes(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 16);
	uint64_t allocs = sl_buf_stats()->allocs, frees = sl_buf_stats()->frees;
	struct sl_quic_path path;
	path_of(&path, 5555);
	/* The driver's cookie crosses too: the owner answers through the same next hop. */
	path.cookie = UINT64_C(0x0123456789abcdef);
	uint8_t p[1200];
	short_pkt(p, sizeof(p), 0, 0);
	/* Local: nothing moves. */
	assert_int_equal(sl_handoff_route(&m.h0, &path, p, sizeof(p)), 0);
	assert_int_equal(rte_ring_count(m.r01), 0);
	assert_int_equal(sl_buf_stats()->allocs, allocs);
	/* Remote: one copy on the ring to worker 1. */
	short_pkt(p, sizeof(p), 1, 0);
	p[sizeof(p) - 1] = 0x5a;
	assert_int_equal(sl_handoff_route(&m.h0, &path, p, sizeof(p)), 1);
	assert_int_equal(m.h0.stats.handed_off, 1);
	assert_int_equal(m.h0.stats.handed_bytes, sizeof(p));
	assert_int_equal(rte_ring_count(m.r01), 1);
	/* The sender's buffer can be reused at once: the copy is independent. */
	memset(p, 0, sizeof(p));
	struct got g = {0};
	assert_int_equal(sl_handoff_poll(&m.h1, collect, &g, 8), 1);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.len, sizeof(p));
	assert_int_equal(g.data[2], 1);
	assert_int_equal(g.data[sizeof(p) - 1], 0x5a);
	assert_memory_equal(&g.path, &path, sizeof(path));
	assert_int_equal(m.h1.stats.received, 1);
	/* Released exactly once. */
	assert_int_equal(sl_buf_stats()->allocs - allocs, 1);
	assert_int_equal(sl_buf_stats()->frees - frees, 1);
	/* Nothing more to drain. */
	assert_int_equal(sl_handoff_poll(&m.h1, collect, &g, 8), 0);
	mesh_free(&m);
}

static void a_full_ring_drops_and_counts_without_leaking(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 4);
	uint64_t allocs = sl_buf_stats()->allocs, frees = sl_buf_stats()->frees;
	struct sl_quic_path path;
	path_of(&path, 1);
	uint8_t p[100];
	short_pkt(p, sizeof(p), 1, 0);
	int queued = 0, full = 0;
	for (int i = 0; i < 10; i++) {
		int rc = sl_handoff_route(&m.h0, &path, p, sizeof(p));
		if (rc == 1)
			queued++;
		else if (rc == SL_ENOSPC)
			full++;
		else
			fail_msg("unexpected %d", rc);
	}
	assert_true(queued >= 4);
	assert_int_equal(queued + full, 10);
	assert_int_equal(m.h0.stats.dropped_full, (uint64_t)full);
	/* max bounds the work per call. */
	struct got g = {0};
	g.next_seq = 0;
	assert_int_equal(sl_handoff_poll(&m.h1, collect, &g, 2), 2);
	assert_int_equal(sl_handoff_poll(&m.h1, collect, &g, 100), (unsigned int)queued - 2);
	assert_int_equal(sl_buf_stats()->allocs - allocs, sl_buf_stats()->frees - frees);
	mesh_free(&m);
}

static void foreign_messages_are_released_and_counted(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 8);
	uint64_t allocs = sl_buf_stats()->allocs, frees = sl_buf_stats()->frees;
	struct sl_msg msgs[2] = {
		{.type = SL_MSG_NOP},
		{.type = SL_MSG_BUF, .obj = sl_buf_alloc(10)}, /* a buffer, but not a hand-off */
	};
	assert_int_equal(sl_ring_send(m.r01, msgs, 2), 2);
	struct got g = {0};
	assert_int_equal(sl_handoff_poll(&m.h1, collect, &g, 8), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(m.h1.stats.foreign, 2);
	assert_int_equal(sl_buf_stats()->allocs - allocs, sl_buf_stats()->frees - frees);
	/* A shard loop sharing its rings asks per message and keeps what is not a hand-off. */
	assert_int_equal(sl_handoff_deliver_msg(&m.h1, &msgs[0], collect, &g), 0);
	mesh_free(&m);
}

/* ---- delivery into a real endpoint ---- */

struct ep_side {
	uint8_t staging[1500];
	int committed;
};

static uint8_t *ep_tx_alloc(void *arg, size_t max, void **token)
{
	struct ep_side *s = arg;
	(void)max;
	*token = s;
	return s->staging;
}

static void ep_tx_commit(void *arg, void *token, const struct sl_quic_path *path, size_t len)
{
	(void)token;
	(void)path;
	struct ep_side *s = arg;
	s->committed += len > 0;
}

static void drain_feeds_the_endpoint(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 8);
	struct sl_quic_config cfg;
	sl_quic_config_default(&cfg);
	snprintf(cfg.alpn, sizeof(cfg.alpn), "sl-test");
	cfg.server = true;
	cfg.worker_id = 1;
	struct sl_quic_callbacks cb = {.tx_alloc = ep_tx_alloc, .tx_commit = ep_tx_commit};
	struct ep_side side = {0};
	struct sl_quic_endpoint *ep;
	assert_int_equal(sl_quic_endpoint_new(&cfg, &cb, &side, 1000, &ep), 0);
	struct sl_quic_path path;
	path_of(&path, 6000);
	uint8_t p[200];
	short_pkt(p, sizeof(p), 1, 0);
	assert_int_equal(sl_handoff_route(&m.h0, &path, p, sizeof(p)), 1);
	assert_int_equal(sl_handoff_drain(&m.h1, ep, 16, 2000), 1);
	struct sl_quic_stats st;
	sl_quic_endpoint_stats(ep, &st);
	/* The endpoint saw the datagram: a short header for no connection of its own is answered
	 * with a stateless reset, which proves the bytes and the path arrived intact. */
	assert_int_equal(st.rx_datagrams, 1);
	assert_int_equal(st.rx_bytes, sizeof(p));
	assert_int_equal(st.stateless_resets, 1);
	assert_int_equal(side.committed, 1);
	sl_quic_endpoint_free(ep);
	mesh_free(&m);
}

/* ---- two threads, two workers ---- */

#define THREAD_PKTS 20000

struct worker_arg {
	struct mesh *m;
	int local, remote;	     /* routed to itself / handed off */
	uint64_t allocs;	     /* buffers allocated by this thread */
	uint64_t frees;		     /* buffers freed by this thread */
	struct got got;		     /* what worker 1 received */
	volatile int *producer_done; /* set by worker 0 when it has routed everything */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *worker0(void *a)
{
	struct worker_arg *w = a;
	uint64_t allocs = sl_buf_stats()->allocs;
	struct sl_quic_path path;
	path_of(&path, 7000);
	uint8_t p[300];
	uint32_t seq = 0;
	uint64_t deadline = mono_ms() + 20000;
	for (int i = 0; i < 2 * THREAD_PKTS && mono_ms() < deadline;) {
		/* Every other datagram belongs to worker 1; those carry a sequence number. */
		bool mine = i % 2 == 0;
		short_pkt(p, sizeof(p), mine ? 0 : 1, mine ? 0 : seq);
		int rc = sl_handoff_route(&w->m->h0, &path, p, sizeof(p));
		if (rc == SL_ENOSPC)
			continue; /* the consumer is behind: retry the same datagram */
		assert_true(rc == 0 || rc == 1);
		if (rc == 0)
			w->local++;
		else {
			w->remote++;
			seq++;
		}
		i++;
	}
	/* The full ring's drops allocated and freed on this thread. */
	w->allocs = sl_buf_stats()->allocs - allocs;
	__atomic_store_n(w->producer_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *worker1(void *a)
{
	struct worker_arg *w = a;
	uint64_t frees = sl_buf_stats()->frees;
	uint64_t deadline = mono_ms() + 20000;
	while (w->got.n < THREAD_PKTS && mono_ms() < deadline)
		sl_handoff_poll(&w->m->h1, collect, &w->got, 64);
	w->frees = sl_buf_stats()->frees - frees;
	return NULL;
}

static void two_workers_exchange_in_order(void **state)
{
	(void)state;
	struct mesh m;
	mesh_init(&m, 256);
	volatile int done = 0;
	struct worker_arg a0 = {.m = &m, .producer_done = &done};
	struct worker_arg a1 = {.m = &m, .producer_done = &done};
	pthread_t t0, t1;
	assert_int_equal(pthread_create(&t1, NULL, worker1, &a1), 0);
	assert_int_equal(pthread_create(&t0, NULL, worker0, &a0), 0);
	pthread_join(t0, NULL);
	pthread_join(t1, NULL);
	assert_int_equal(a0.local, THREAD_PKTS);
	assert_int_equal(a0.remote, THREAD_PKTS);
	assert_int_equal(a1.got.n, THREAD_PKTS);
	assert_int_equal(a1.got.out_of_order, 0);
	assert_int_equal(m.h0.stats.handed_off, THREAD_PKTS);
	assert_int_equal(m.h1.stats.received, THREAD_PKTS);
	/* Every buffer worker 0 allocated and queued was freed by worker 1 (dropped ones were freed
	 * by worker 0 itself, so they are not in either count). */
	assert_int_equal(a0.allocs - m.h0.stats.dropped_full, a1.frees);
	mesh_free(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_refuses_bad_arguments),
		cmocka_unit_test(owner_follows_the_cid_rule),
		cmocka_unit_test(remote_datagrams_cross_with_path_and_bytes),
		cmocka_unit_test(a_full_ring_drops_and_counts_without_leaking),
		cmocka_unit_test(foreign_messages_are_released_and_counted),
		cmocka_unit_test(drain_feeds_the_endpoint),
		cmocka_unit_test(two_workers_exchange_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
