/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK driver on a real ethdev made of rings (net_ring): the test is the other host. It
 * writes crafted frames into the device's receive ring and reads what the driver transmits from
 * its transmit ring, so ARP, neighbour discovery, the hold queue and the UDP path are checked on
 * the bytes that would be on the wire.
 */
#include "core/test_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "core/err.h"
#include "drivers/net/dpdk.h"

#define NQ 2

static struct rte_ring *rxr[NQ], *txr[NQ];
static struct rte_mempool *test_pool;
static int devs_made;
static char dev_name[32];

static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
	a->sin6_family = AF_INET6;
	a->sin6_port = htons(port);
	inet_pton(AF_INET6, ip, &a->sin6_addr);
	return ss;
}

/* A fresh ring device with NQ queues, named uniquely (ethdev names cannot be reused while the
 * EAL runs, and each test closes its set). */
static void make_dev(void)
{
	char n[32];
	int k = devs_made++;
	for (int q = 0; q < NQ; q++) {
		snprintf(n, sizeof(n), "t%d_rx%d", k, q);
		rxr[q] = rte_ring_create(n, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(n, sizeof(n), "t%d_tx%d", k, q);
		txr[q] = rte_ring_create(n, 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
		assert_non_null(rxr[q]);
		assert_non_null(txr[q]);
	}
	snprintf(dev_name, sizeof(dev_name), "net_ring_t%d", k);
	assert_true(rte_eth_from_rings(dev_name + 9, rxr, NQ, txr, NQ, 0) >= 0);
	/* rte_eth_from_rings prefixes "net_ring_" to the name it is given. */
}

static void free_rings(void)
{
	for (int q = 0; q < NQ; q++) {
		struct rte_mbuf *m;
		while (rte_ring_dequeue(txr[q], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(rxr[q], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(rxr[q]);
		rte_ring_free(txr[q]);
	}
}

static void settle(struct sl_pktio **ports, uint16_t n);

static struct sl_net_dpdk *open_set_raw(uint16_t nworkers, struct sl_pktio **ports);

static struct sl_net_dpdk *open_set(uint16_t nworkers, struct sl_pktio **ports)
{
	struct sl_net_dpdk *set = open_set_raw(nworkers, ports);
	settle(ports, nworkers);
	return set;
}

static struct sl_net_dpdk *open_set_raw(uint16_t nworkers, struct sl_pktio **ports)
{
	make_dev();
	struct sl_net_dpdk_config cfg;
	sl_net_dpdk_config_default(&cfg);
	cfg.addrs[0] = v4("10.0.0.1", 4443);
	cfg.addrs[1] = v6("fd00::1", 4443);
	cfg.naddrs = 2;
	cfg.nworkers = nworkers;
	snprintf(cfg.devs[0], sizeof(cfg.devs[0]), "%s", dev_name);
	cfg.ndevs = 1;
	cfg.rx_desc = 128;
	cfg.tx_desc = 128;
	cfg.tx_queue = 128;
	cfg.mbufs = 4096;
	struct sl_net_dpdk *set = NULL;
	char err[256];
	int rc = sl_net_dpdk_setup(&cfg, &set, err, sizeof(err));
	if (rc != 0)
		fail_msg("setup: %s (%s)", sl_strerror(rc), err);
	for (uint16_t w = 0; w < nworkers; w++)
		assert_int_equal(sl_net_dpdk_open(set, w, &ports[w]), 0);
	return set;
}

/* Lets every port send its start-up announcements and throws them away (test_announce checks
 * them), so each test sees only the frames it causes. */
static void settle(struct sl_pktio **ports, uint16_t n)
{
	struct sl_pkt pkts[4];
	for (uint16_t w = 0; w < n; w++) {
		assert_int_equal(sl_pktio_rx_burst(ports[w], pkts, 4), 0);
		sl_pktio_tx_flush(ports[w]);
	}
	for (int q = 0; q < NQ; q++) {
		struct rte_mbuf *m;
		while (rte_ring_dequeue(txr[q], (void **)&m) == 0)
			rte_pktmbuf_free(m);
	}
}

static void close_set(struct sl_net_dpdk *set, struct sl_pktio **ports, uint16_t n)
{
	for (uint16_t w = 0; w < n; w++)
		sl_pktio_close(ports[w]);
	sl_net_dpdk_free(set);
	free_rings();
}

/* Puts a frame into receive queue q as the wire would. */
static void inject(int q, const uint8_t *frame, size_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(test_pool);
	assert_non_null(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	memcpy(p, frame, len);
	assert_int_equal(rte_ring_enqueue(rxr[q], m), 0);
}

/* Takes the next frame the driver sent on queue q (copied into buf); returns its length or 0. */
static size_t sent(int q, uint8_t *buf, size_t size)
{
	struct rte_mbuf *m;
	if (rte_ring_dequeue(txr[q], (void **)&m) != 0)
		return 0;
	size_t len = rte_pktmbuf_pkt_len(m);
	assert_true(len <= size);
	memcpy(buf, rte_pktmbuf_mtod(m, void *), len);
	rte_pktmbuf_free(m);
	return len;
}

static void dev_mac(struct sl_net_dpdk *set, uint8_t mac[6])
{
	struct sl_net_dpdk_dev_info in;
	assert_int_equal(sl_net_dpdk_dev_info(set, 0, &in), 0);
	memcpy(mac, in.mac, 6);
}

/* What the peer sees: parses a frame the driver sent as the host peer_mac / 10.0.0.2. */
static enum sl_l2l3_kind peer_parse(const uint8_t *f, size_t len, struct sl_l2l3_rx *rx)
{
	struct sl_l2l3_local me;
	memset(&me, 0, sizeof(me));
	memcpy(me.mac, peer_mac, 6);
	me.udp[0] = v4("10.0.0.2", 0);
	me.udp[1] = v6("fd00::2", 0);
	me.n = 2;
	return sl_l2l3_parse(f, len, &me, SL_L2L3_CSUM_UNKNOWN, SL_L2L3_CSUM_UNKNOWN, rx);
}

static void test_setup_errors(void **state)
{
	(void)state;
	struct sl_net_dpdk_config cfg;
	struct sl_net_dpdk *set = NULL;
	char err[256];
	sl_net_dpdk_config_default(&cfg);
	assert_int_equal(sl_net_dpdk_setup(&cfg, &set, err, sizeof(err)), SL_EINVAL);
	cfg.addrs[0] = v4("0.0.0.0", 4443);
	cfg.naddrs = 1;
	assert_int_equal(sl_net_dpdk_setup(&cfg, &set, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "wildcard"));
	cfg.addrs[0] = v4("10.0.0.1", 4443);
	snprintf(cfg.devs[0], sizeof(cfg.devs[0]), "net_nosuchdev0");
	cfg.ndevs = 1;
	assert_int_equal(sl_net_dpdk_setup(&cfg, &set, err, sizeof(err)), SL_ENOTFOUND);
	assert_non_null(strstr(err, "net_nosuchdev0"));
	assert_null(set);

	struct sl_net_dpdk_neigh n;
	assert_int_equal(sl_net_dpdk_parse_neigh("10.0.0.9=02:00:00:00:00:09", &n), 0);
	assert_int_equal(n.ip.ss_family, AF_INET);
	assert_int_equal(n.mac[5], 9);
	assert_int_equal(sl_net_dpdk_parse_neigh("[fd00::9]=02:00:00:00:00:0a@1", &n), 0);
	assert_int_equal(n.ip.ss_family, AF_INET6);
	assert_int_equal(n.dev, 1);
	assert_int_equal(sl_net_dpdk_parse_neigh("fd00::9=02:00:00:00:00:0a", &n), 0);
	assert_int_equal(sl_net_dpdk_parse_neigh("10.0.0.9", &n), SL_EINVAL);
	assert_int_equal(sl_net_dpdk_parse_neigh("10.0.0.9=02:00:00:00:00", &n), SL_EINVAL);
	assert_int_equal(sl_net_dpdk_parse_neigh("nohost=02:00:00:00:00:01", &n), SL_EINVAL);
	assert_int_equal(sl_net_dpdk_parse_neigh("10.0.0.9=02:00:00:00:00:01@x", &n), SL_EINVAL);
}

static void test_arp_request_answered_and_learned(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	uint8_t mac[6], f[256];
	dev_mac(set, mac);
	struct sockaddr_storage peer = v4("10.0.0.2", 0), us = v4("10.0.0.1", 0),
				other = v4("10.0.0.77", 0);
	size_t len = sl_l2l3_build_arp(f, 1, peer_mac, &peer, bcast, &us);
	inject(0, f, len);
	len = sl_l2l3_build_arp(f, 1, peer_mac, &peer, bcast, &other); /* not ours */
	inject(0, f, len);
	struct sl_pkt pkts[8];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 8), 0);
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 0); /* ARP is not a datagram */
	len = sent(0, f, sizeof(f));
	assert_int_equal(len, SL_L2L3_MIN_FRAME);
	struct sl_l2l3_rx rx;
	assert_int_equal(peer_parse(f, len, &rx), SL_L2L3_ARP_REPLY);
	assert_memory_equal(rx.sender_mac, mac, 6);
	assert_memory_equal(f, peer_mac, 6); /* unicast to the asker */
	assert_int_equal(((struct sockaddr_in *)&rx.sender)->sin_addr.s_addr,
			 ((struct sockaddr_in *)&us)->sin_addr.s_addr);
	assert_int_equal(sent(0, f, sizeof(f)), 0);
	/* The asker was learned: we can answer it without asking. */
	uint8_t got[6];
	assert_int_equal(sl_net_dpdk_neigh_lookup(set, (struct sockaddr *)&peer, got), 0);
	assert_memory_equal(got, peer_mac, 6);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.arp_in, 1);
	assert_int_equal(st.arp_out, 2); /* the start-up announcement and the reply */
	assert_int_equal(st.rx_not_ours, 1);
	close_set(set, ports, 1);
}

static void test_udp_in_place_and_reply(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	uint8_t mac[6], f[2048];
	dev_mac(set, mac);
	/* A datagram from the peer to us: handed out in place with its path. */
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.local = v4("10.0.0.2", 5555);
	path.local_len = sizeof(struct sockaddr_in);
	path.remote = v4("10.0.0.1", 4443);
	path.remote_len = sizeof(struct sockaddr_in);
	size_t hl = sl_l2l3_udp_hdr_len(AF_INET);
	memset(f + hl, 0xab, 1200);
	size_t len = sl_l2l3_build_udp(f, peer_mac, mac, &path, 1200, 0);
	inject(0, f, len);
	unsigned int before = rte_mempool_avail_count(test_pool);
	struct sl_pkt pkts[8];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 8), 1);
	assert_int_equal(pkts[0].len, 1200);
	assert_int_equal(pkts[0].data[0], 0xab);
	assert_int_equal(((struct sockaddr_in *)&pkts[0].path.remote)->sin_port, htons(5555));
	assert_int_equal(((struct sockaddr_in *)&pkts[0].path.local)->sin_port, htons(4443));
	struct sl_quic_path reply = pkts[0].path;
	sl_pktio_rx_release(ports[0], pkts, 1);
	(void)before;
	/* The reply goes to the MAC the datagram came from, with valid checksums (software: the
	 * ring device has no offloads). */
	void *tok;
	uint8_t *b = sl_pktio_tx_alloc(ports[0], 1452, &tok);
	assert_non_null(b);
	memset(b, 0xcd, 1000);
	sl_pktio_tx_commit(ports[0], tok, &reply, 1000);
	assert_int_equal(sl_pktio_tx_pending(ports[0]), 1);
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 1);
	len = sent(0, f, sizeof(f));
	assert_int_equal(len, hl + 1000);
	struct sl_l2l3_rx rx;
	assert_int_equal(peer_parse(f, len, &rx), SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 1000);
	assert_int_equal(rx.payload[999], 0xcd);
	assert_memory_equal(rx.src_mac, mac, 6);
	/* Too big for the MTU, or len 0: nothing is sent. */
	assert_null(sl_pktio_tx_alloc(ports[0], 1490, &tok));
	b = sl_pktio_tx_alloc(ports[0], 1452, &tok);
	sl_pktio_tx_commit(ports[0], tok, &reply, 0);
	assert_int_equal(sl_pktio_tx_pending(ports[0]), 0);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.rx_bytes, 1200);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, 1000); /* payload, as rx_bytes */
	assert_int_equal(st.tx_nobufs, 1);
	/* The reply found its way through the next hop its path carried: nothing was learned. */
	assert_int_equal(sl_net_dpdk_neigh_count(set), 0);
	close_set(set, ports, 1);
}

static void test_drops_counted(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	uint8_t mac[6], f[2048];
	dev_mac(set, mac);
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.local = v4("10.0.0.2", 5555);
	path.remote = v4("10.0.0.1", 9999); /* a port we do not serve */
	size_t len = sl_l2l3_build_udp(f, peer_mac, mac, &path, 100, 0);
	inject(0, f, len);
	path.remote = v4("10.0.0.1", 4443);
	len = sl_l2l3_build_udp(f, peer_mac, mac, &path, 100, 0);
	f[len - 1] ^= 0xff; /* payload corrupted on the wire */
	inject(0, f, len);
	inject(0, f, 10); /* a runt */
	f[12] = 0x88;	  /* an EtherType we do not speak */
	f[13] = 0xcc;
	inject(0, f, len);
	struct sl_pkt pkts[8];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 8), 0);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.rx_not_ours, 1);
	assert_int_equal(st.rx_bad_csum, 1);
	assert_int_equal(st.rx_malformed, 1);
	assert_int_equal(st.rx_unsupported, 1);
	assert_int_equal(st.rx_packets, 0);
	close_set(set, ports, 1);
}

static void test_unknown_neighbour_held_until_arp_reply(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	uint8_t mac[6], f[2048];
	dev_mac(set, mac);
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.local = v4("10.0.0.1", 4443);
	path.remote = v4("10.0.0.3", 7000);
	void *tok;
	uint8_t *b = sl_pktio_tx_alloc(ports[0], 1452, &tok);
	memset(b, 0x11, 300);
	sl_pktio_tx_commit(ports[0], tok, &path, 300);
	/* Held: only the ARP request leaves. */
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 0); /* only the ARP request */
	size_t len = sent(0, f, sizeof(f));
	struct sl_l2l3_rx rx;
	struct sl_l2l3_local any;
	memset(&any, 0, sizeof(any));
	any.udp[0] = v4("10.0.0.3", 0);
	any.n = 1;
	assert_int_equal(sl_l2l3_parse(f, len, &any, 0, 0, &rx), SL_L2L3_ARP_REQUEST);
	assert_memory_equal(f, bcast, 6);
	assert_memory_equal(rx.sender_mac, mac, 6);
	/* A second datagram to the same peer does not ask again at once. */
	b = sl_pktio_tx_alloc(ports[0], 1452, &tok);
	memset(b, 0x22, 200);
	sl_pktio_tx_commit(ports[0], tok, &path, 200);
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 0);
	/* The answer releases both, in order, to the MAC it names. */
	static const uint8_t m3[6] = {0x02, 0, 0, 0, 0, 3};
	struct sockaddr_storage ip3 = v4("10.0.0.3", 0), us = v4("10.0.0.1", 0);
	len = sl_l2l3_build_arp(f, 2, m3, &ip3, mac, &us);
	inject(0, f, len);
	struct sl_pkt pkts[8];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 8), 0);
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 8), 0); /* the service runs */
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 2);
	struct sl_l2l3_local p3;
	memset(&p3, 0, sizeof(p3));
	memcpy(p3.mac, m3, 6);
	p3.udp[0] = v4("10.0.0.3", 0);
	p3.n = 1;
	len = sent(0, f, sizeof(f));
	assert_int_equal(sl_l2l3_parse(f, len, &p3, 0, 0, &rx), SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 300);
	len = sent(0, f, sizeof(f));
	assert_int_equal(sl_l2l3_parse(f, len, &p3, 0, 0, &rx), SL_L2L3_UDP);
	assert_int_equal(rx.payload_len, 200);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.neigh_held, 2);
	assert_int_equal(st.neigh_drops, 0);
	assert_int_equal(st.arp_out, 2); /* the start-up announcement and the request */
	close_set(set, ports, 1);
}

static void test_hold_full_drops(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.local = v4("10.0.0.1", 4443);
	path.remote = v4("10.0.0.4", 7000);
	for (int i = 0; i < SL_NET_DPDK_HOLD + 5; i++) {
		void *tok;
		uint8_t *b = sl_pktio_tx_alloc(ports[0], 1452, &tok);
		if (b == NULL)
			break;
		sl_pktio_tx_commit(ports[0], tok, &path, 100);
	}
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.neigh_held, SL_NET_DPDK_HOLD);
	assert_int_equal(st.neigh_drops, 5);
	close_set(set, ports, 1); /* held mbufs go back to the pool */
}

static void test_static_neighbour_wins(void **state)
{
	(void)state;
	make_dev();
	struct sl_net_dpdk_config cfg;
	sl_net_dpdk_config_default(&cfg);
	cfg.addrs[0] = v4("10.0.0.1", 4443);
	cfg.naddrs = 1;
	snprintf(cfg.devs[0], sizeof(cfg.devs[0]), "%s", dev_name);
	cfg.ndevs = 1;
	cfg.rx_desc = cfg.tx_desc = 128;
	cfg.mbufs = 2048;
	assert_int_equal(sl_net_dpdk_parse_neigh("10.0.0.2=02:00:00:00:00:99", &cfg.neigh[0]), 0);
	cfg.nneigh = 1;
	struct sl_net_dpdk *set;
	char err[256];
	assert_int_equal(sl_net_dpdk_setup(&cfg, &set, err, sizeof(err)), 0);
	struct sl_pktio *ports[1];
	assert_int_equal(sl_net_dpdk_open(set, 0, &ports[0]), 0);
	uint8_t mac[6], f[256];
	dev_mac(set, mac);
	struct sockaddr_storage peer = v4("10.0.0.2", 0), us = v4("10.0.0.1", 0);
	/* An ARP request claiming another MAC for the static address does not replace it. */
	size_t len = sl_l2l3_build_arp(f, 1, peer_mac, &peer, bcast, &us);
	inject(0, f, len);
	struct sl_pkt pkts[4];
	sl_pktio_rx_burst(ports[0], pkts, 4);
	uint8_t got[6];
	assert_int_equal(sl_net_dpdk_neigh_lookup(set, (struct sockaddr *)&peer, got), 0);
	assert_int_equal(got[5], 0x99);
	assert_int_equal(sl_net_dpdk_neigh_count(set), 1);
	close_set(set, ports, 1);
}

static void test_neighbour_solicitation_answered(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	uint8_t mac[6], f[256];
	dev_mac(set, mac);
	struct sockaddr_storage peer = v6("fd00::2", 0), us = v6("fd00::1", 0);
	size_t len = sl_l2l3_build_nd_solicit(f, peer_mac, &peer, &us);
	inject(0, f, len);
	struct sl_pkt pkts[4];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 4), 0);
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 0);
	len = sent(0, f, sizeof(f));
	struct sl_l2l3_rx rx;
	assert_int_equal(peer_parse(f, len, &rx), SL_L2L3_ND_ADVERT);
	assert_true(rx.has_ll);
	assert_memory_equal(rx.sender_mac, mac, 6);
	assert_memory_equal(&((struct sockaddr_in6 *)&rx.target)->sin6_addr,
			    &((struct sockaddr_in6 *)&us)->sin6_addr, 16);
	uint8_t got[6];
	assert_int_equal(sl_net_dpdk_neigh_lookup(set, (struct sockaddr *)&peer, got), 0);
	assert_memory_equal(got, peer_mac, 6);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.nd_in, 1);
	assert_int_equal(st.nd_out, 2); /* the start-up announcement and the answer */
	close_set(set, ports, 1);
}

static void test_too_few_mbufs_named(void **state)
{
	(void)state;
	make_dev();
	struct sl_net_dpdk_config cfg;
	sl_net_dpdk_config_default(&cfg);
	cfg.addrs[0] = v4("10.0.0.1", 4443);
	cfg.naddrs = 1;
	cfg.nworkers = 2;
	snprintf(cfg.devs[0], sizeof(cfg.devs[0]), "%s", dev_name);
	cfg.ndevs = 1;
	cfg.rx_desc = cfg.tx_desc = 128;
	cfg.mbufs = 300; /* two queue pairs of 128 + 128 need more */
	struct sl_net_dpdk *set = NULL;
	char err[512];
	assert_int_equal(sl_net_dpdk_setup(&cfg, &set, err, sizeof(err)), SL_EINVAL);
	assert_null(set);
	assert_non_null(strstr(err, dev_name));
	assert_non_null(strstr(err, "raise dpdk_mbufs to at least"));
	free_rings();
}

static void test_announce_on_start(void **state)
{
	(void)state;
	struct sl_pktio *ports[2];
	struct sl_net_dpdk *set = open_set_raw(2, ports);
	uint8_t mac[6], f[256];
	dev_mac(set, mac);
	struct sl_pkt pkts[4];
	assert_int_equal(sl_pktio_rx_burst(ports[1], pkts, 4), 0);
	sl_pktio_tx_flush(ports[1]);
	assert_int_equal(sent(1, f, sizeof(f)), 0); /* only worker 0 announces */
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 4), 0);
	assert_int_equal(sl_pktio_tx_flush(ports[0]), 0);
	/* A gratuitous ARP: a broadcast request whose sender and target are our address. */
	struct sl_l2l3_local us;
	memset(&us, 0, sizeof(us));
	memcpy(us.mac, mac, 6);
	us.udp[0] = v4("10.0.0.1", 0);
	us.udp[1] = v6("fd00::1", 0);
	us.n = 2;
	struct sl_l2l3_rx rx;
	size_t len = sent(0, f, sizeof(f));
	assert_int_equal(sl_l2l3_parse(f, len, &us, 0, 0, &rx), SL_L2L3_ARP_REQUEST);
	assert_memory_equal(f, bcast, 6);
	assert_int_equal(((struct sockaddr_in *)&rx.sender)->sin_addr.s_addr,
			 ((struct sockaddr_in *)&rx.target)->sin_addr.s_addr);
	/* An unsolicited advertisement to all-nodes for the IPv6 address, with our MAC. */
	len = sent(0, f, sizeof(f));
	assert_int_equal(peer_parse(f, len, &rx), SL_L2L3_ND_ADVERT);
	assert_true(rx.has_ll);
	assert_memory_equal(rx.sender_mac, mac, 6);
	assert_int_equal(f[0], 0x33);
	assert_int_equal(sent(0, f, sizeof(f)), 0);
	/* Once only. */
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 4), 0);
	sl_pktio_tx_flush(ports[0]);
	assert_int_equal(sent(0, f, sizeof(f)), 0);
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.arp_out, 1);
	assert_int_equal(st.nd_out, 1);
	close_set(set, ports, 2);
}

static void test_queue_per_worker(void **state)
{
	(void)state;
	struct sl_pktio *ports[2];
	struct sl_net_dpdk *set = open_set(2, ports);
	uint8_t mac[6], f[2048];
	dev_mac(set, mac);
	struct sl_net_dpdk_dev_info in;
	assert_int_equal(sl_net_dpdk_dev_info(set, 0, &in), 0);
	assert_int_equal(in.queues, 2);
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.local = v4("10.0.0.2", 5555);
	path.remote = v4("10.0.0.1", 4443);
	size_t len = sl_l2l3_build_udp(f, peer_mac, mac, &path, 64, 0);
	inject(1, f, len);
	struct sl_pkt pkts[4];
	assert_int_equal(sl_pktio_rx_burst(ports[0], pkts, 4), 0);
	assert_int_equal(sl_pktio_rx_burst(ports[1], pkts, 4), 1);
	struct sl_quic_path reply = pkts[0].path;
	sl_pktio_rx_release(ports[1], pkts, 1);
	/* Worker 1 transmits on its own queue. */
	void *tok;
	uint8_t *b = sl_pktio_tx_alloc(ports[1], 100, &tok);
	assert_non_null(b);
	sl_pktio_tx_commit(ports[1], tok, &reply, 50);
	assert_int_equal(sl_pktio_tx_flush(ports[1]), 1);
	assert_int_equal(sent(0, f, sizeof(f)), 0);
	assert_int_equal(sent(1, f, sizeof(f)), sl_l2l3_udp_hdr_len(AF_INET) + 50);
	assert_int_equal(sl_net_dpdk_open(set, 1, &ports[1]), SL_EINVAL); /* already open */
	close_set(set, ports, 2);
}

/* Finds the driver's mbuf pool (the only one named sl_mb...). */
static void find_pool(struct rte_mempool *mp, void *arg)
{
	if (strncmp(mp->name, "sl_mb", 5) == 0)
		*(struct rte_mempool **)arg = mp;
}

/* Transmit mbufs come from a per-port cache filled in bulk: datagrams over several refills
 * (IPv4 and IPv6, odd lengths) go out whole with valid checksums, the ones committed empty go
 * back to the cache, and closing the port returns every mbuf to the pool. */
static void test_tx_bulk_cache(void **state)
{
	(void)state;
	struct sl_pktio *ports[1];
	struct sl_net_dpdk *set = open_set(1, ports);
	struct rte_mempool *pool = NULL;
	rte_mempool_walk(find_pool, &pool);
	assert_non_null(pool);
	unsigned int avail = rte_mempool_avail_count(pool);
	struct sl_quic_path path;
	memset(&path, 0, sizeof(path));
	path.cookie = sl_net_dpdk_path_cookie(peer_mac, 0);
	uint8_t f[2048];
	unsigned int want = 0;
	for (int i = 0; i < 200; i++) {
		bool is6 = i & 2;
		path.local = is6 ? v6("fd00::1", 4443) : v4("10.0.0.1", 4443);
		path.remote = is6 ? v6("fd00::2", 40000) : v4("10.0.0.2", 40000);
		void *tok;
		uint8_t *b = sl_pktio_tx_alloc(ports[0], 1400, &tok);
		assert_non_null(b);
		size_t len = i % 3 == 0 ? 0 : 1 + (size_t)(i * 37) % 1400;
		memset(b, i, len);
		sl_pktio_tx_commit(ports[0], tok, &path, len);
		if (len == 0)
			continue;
		want++;
		assert_int_equal(sl_pktio_tx_flush(ports[0]), 1);
		size_t n = sent(0, f, sizeof(f));
		assert_int_equal(n, sl_l2l3_udp_hdr_len(is6 ? AF_INET6 : AF_INET) + len);
		struct sl_l2l3_rx rx;
		assert_int_equal(peer_parse(f, n, &rx), SL_L2L3_UDP);
		assert_int_equal(rx.payload_len, len);
		assert_int_equal(rx.payload[len - 1], (uint8_t)i);
	}
	struct sl_pktio_stats st;
	sl_pktio_stats(ports[0], &st);
	assert_int_equal(st.tx_packets, want);
	assert_int_equal(st.tx_nobufs, 0);
	/* Cached mbufs are out of the pool while the port is open and back once it closes. */
	assert_true(rte_mempool_avail_count(pool) < avail);
	sl_pktio_close(ports[0]);
	assert_int_equal(rte_mempool_avail_count(pool), avail);
	sl_net_dpdk_free(set);
	free_rings();
}

int main(void)
{
	char *argv[] = {"dpdk_test",
			"--no-huge",
			"-m",
			"256",
			"--no-pci",
			"--no-telemetry",
			"--log-level=lib.*:error",
			"--file-prefix=sl-dpdk-test",
			"--no-shconf",
			"--lcores",
			"0",
			NULL};
	if (rte_eal_init(11, argv) < 0) {
		fprintf(stderr, "dpdk_test: EAL init failed\n");
		return 1;
	}
	test_pool = rte_pktmbuf_pool_create("test_pool", 1023, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
	if (test_pool == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_setup_errors),
		cmocka_unit_test(test_arp_request_answered_and_learned),
		cmocka_unit_test(test_udp_in_place_and_reply),
		cmocka_unit_test(test_drops_counted),
		cmocka_unit_test(test_unknown_neighbour_held_until_arp_reply),
		cmocka_unit_test(test_hold_full_drops),
		cmocka_unit_test(test_static_neighbour_wins),
		cmocka_unit_test(test_neighbour_solicitation_answered),
		cmocka_unit_test(test_too_few_mbufs_named),
		cmocka_unit_test(test_announce_on_start),
		cmocka_unit_test(test_queue_per_worker),
		cmocka_unit_test(test_tx_bulk_cache),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(test_pool);
	rte_eal_cleanup();
	return rc;
}
