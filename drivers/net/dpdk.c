/* SPDX-License-Identifier: Apache-2.0 */
#include "drivers/net/dpdk.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_jhash.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "core/err.h"
#include "core/log.h"

#define RX_BURST      32
#define MBUF_CACHE    256
#define TX_BULK	      32 /* transmit mbufs taken from the pool at a time (port.txc) */
#define NEIGH_ENTRIES 4096
/* Neighbour data: MAC in bits 16..63, device index in 8..15, flags below. A path's cookie
 * (struct sl_quic_path) is its next hop packed the same way with NEIGH_HOP set, so that no next
 * hop (MAC 00:00:00:00:00:00 on device 0 is a valid one) reads as none (0). */
#define NEIGH_STATIC 0x1u
#define NEIGH_HOP    0x2u
/* How often a held datagram's neighbour is asked for again, and how long it is kept. */
#define ASK_EVERY_MS 500
#define HOLD_MAX_MS  3000

struct dev {
	uint16_t port_id;
	uint16_t nq;
	bool rss;
	int socket;
	unsigned int offload;
	uint16_t mtu;
	uint8_t mac[SL_L2L3_MAC_LEN];
	char name[64];
	struct rte_mempool *pool;
	bool started;
};

struct sl_net_dpdk {
	struct sl_net_dpdk_config cfg;
	struct dev dev[SL_NET_DPDK_MAX_DEVS];
	unsigned int ndev;
	struct rte_mempool *pools[RTE_MAX_NUMA_NODES];
	/* mbufs the devices set up so far need from each socket's pool (queues filled, caches) */
	uint32_t reserved[RTE_MAX_NUMA_NODES];
	struct rte_hash *neigh;
	bool open[SL_NET_DPDK_MAX_WORKERS];
	unsigned int id;
};

/* A datagram waiting for its neighbour. */
struct held {
	struct rte_mbuf *m; /* payload only: headers are written when the MAC is known */
	struct sl_quic_path path;
	uint64_t since;
};

/* An address asked for recently (ARP request or neighbour solicitation), for rate limiting. */
struct asked {
	struct sockaddr_storage ip;
	uint64_t at;
};

struct txq {
	struct rte_mbuf **m;
	unsigned int n;
};

struct port {
	struct sl_pktio io; /* first: the pktio layer casts */
	struct sl_net_dpdk *set;
	uint16_t worker;
	struct sl_l2l3_local local[SL_NET_DPDK_MAX_DEVS];
	struct txq tx[SL_NET_DPDK_MAX_DEVS];
	unsigned int tx_total;	/* datagrams queued over every device */
	unsigned int allocated; /* tx_alloc'd and not yet committed */
	unsigned int next_dev;	/* round-robin start of the receive */
	struct held hold[SL_NET_DPDK_HOLD];
	unsigned int nhold;
	struct asked asked[SL_NET_DPDK_HOLD];
	uint64_t last_service;
	uint64_t ms_cycles;
	bool announced; /* gratuitous ARP / unsolicited NA sent (worker 0, first receive) */
	struct rte_mbuf *rx[RX_BURST];
	/* Transmit mbufs taken from device 0's pool TX_BULK at a time and handed out one per
	 * tx_alloc from the top: one pool access per TX_BULK datagrams instead of one each (about
	 * 5 % of the relay at 1 -> 300 in a profile). Unused ones go back here, the rest to the
	 * pool on close. */
	struct rte_mbuf *txc[TX_BULK];
	unsigned int ntxc;
};

static unsigned int set_ids;

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void sl_net_dpdk_config_default(struct sl_net_dpdk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nworkers = 1;
	cfg->rx_desc = 1024;
	cfg->tx_desc = 1024;
	cfg->mtu = 1500;
	cfg->tx_queue = 1024;
}

/* ---- neighbour table ---- */

/* Every address is keyed as 16 bytes: IPv6 as is, IPv4 as ::ffff:a.b.c.d. */
static bool neigh_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static uint64_t neigh_pack(const uint8_t mac[SL_L2L3_MAC_LEN], uint16_t dev, unsigned int flags)
{
	uint64_t v = 0;
	for (int i = 0; i < SL_L2L3_MAC_LEN; i++)
		v = (v << 8) | mac[i];
	return (v << 16) | ((uint64_t)(dev & 0xff) << 8) | (flags & 0xff);
}

static void neigh_unpack(uint64_t v, uint8_t mac[SL_L2L3_MAC_LEN], uint16_t *dev)
{
	if (dev)
		*dev = (uint16_t)((v >> 8) & 0xff);
	v >>= 16;
	for (int i = SL_L2L3_MAC_LEN - 1; i >= 0; i--, v >>= 8)
		mac[i] = (uint8_t)v;
}

static int neigh_get(const struct sl_net_dpdk *set, const struct sockaddr *ip, uint64_t *v)
{
	uint8_t key[16];
	void *data;
	if (!neigh_key(ip, key) || rte_hash_lookup_data(set->neigh, key, &data) < 0)
		return SL_ENOTFOUND;
	*v = (uint64_t)(uintptr_t)data;
	return 0;
}

/*
 * Records ip -> mac on device dev, from ARP and ND only (peers that send us datagrams are
 * answered through the next hop their path carries, so the table holds on-link hosts, not every
 * client behind a router). A static entry is never replaced; a learned one is written only when
 * it changed (writers take the hash's lock; readers never do). A full table keeps what it has:
 * only sends to on-link hosts that never sent us anything wait for it, and are dropped after
 * HOLD_MAX_MS (neigh_drops).
 */
static void neigh_learn(struct sl_net_dpdk *set, const struct sockaddr *ip,
			const uint8_t mac[SL_L2L3_MAC_LEN], uint16_t dev, unsigned int flags)
{
	uint8_t key[16];
	if (!neigh_key(ip, key))
		return;
	if (mac[0] & 1)
		return; /* a multicast or broadcast source is never a neighbour */
	uint64_t want = neigh_pack(mac, dev, flags), have;
	void *data;
	if (rte_hash_lookup_data(set->neigh, key, &data) >= 0) {
		have = (uint64_t)(uintptr_t)data;
		if (have == want || ((have & NEIGH_STATIC) && !(flags & NEIGH_STATIC)))
			return;
	}
	rte_hash_add_key_data(set->neigh, key, (void *)(uintptr_t)want);
}

uint64_t sl_net_dpdk_path_cookie(const uint8_t mac[SL_L2L3_MAC_LEN], uint16_t dev)
{
	return neigh_pack(mac, dev, NEIGH_HOP);
}

int sl_net_dpdk_neigh_lookup(const struct sl_net_dpdk *set, const struct sockaddr *ip,
			     uint8_t mac[SL_L2L3_MAC_LEN])
{
	uint64_t v;
	int rc = neigh_get(set, ip, &v);
	if (rc == 0)
		neigh_unpack(v, mac, NULL);
	return rc;
}

unsigned int sl_net_dpdk_neigh_count(const struct sl_net_dpdk *set)
{
	int n = rte_hash_count(set->neigh);
	return n > 0 ? (unsigned int)n : 0;
}

int sl_net_dpdk_parse_neigh(const char *s, struct sl_net_dpdk_neigh *out)
{
	char buf[128];
	memset(out, 0, sizeof(*out));
	if (s == NULL || strlen(s) >= sizeof(buf))
		return SL_EINVAL;
	strcpy(buf, s);
	char *eq = strchr(buf, '=');
	if (eq == NULL)
		return SL_EINVAL;
	*eq = '\0';
	char *mac = eq + 1, *at = strchr(mac, '@');
	if (at) {
		*at = '\0';
		char *end;
		unsigned long d = strtoul(at + 1, &end, 10);
		if (at[1] == '\0' || *end != '\0' || d >= SL_NET_DPDK_MAX_DEVS)
			return SL_EINVAL;
		out->dev = (uint16_t)d;
	}
	if (sl_l2l3_parse_mac(mac, out->mac) != 0)
		return SL_EINVAL;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&out->ip;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&out->ip;
	char *ip = buf;
	size_t iplen = strlen(ip);
	if (iplen > 2 && ip[0] == '[' && ip[iplen - 1] == ']') {
		ip[iplen - 1] = '\0';
		ip++;
		if (inet_pton(AF_INET6, ip, &a6->sin6_addr) != 1)
			return SL_EINVAL;
		a6->sin6_family = AF_INET6;
	} else if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1)
		a4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1)
		a6->sin6_family = AF_INET6;
	else
		return SL_EINVAL;
	return 0;
}

/* ---- set-up ---- */

static bool is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return true;
}

static int pool_for(struct sl_net_dpdk *set, int socket, uint32_t n, char *err, size_t errlen)
{
	if (socket < 0 || socket >= RTE_MAX_NUMA_NODES)
		socket = 0;
	if (set->pools[socket])
		return socket;
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "sl_mb%u_%d", set->id, socket);
	/* One frame per mbuf (no scatter): the data room holds the largest frame the MTU allows,
	 * a VLAN tag and the FCS some devices leave in. */
	uint32_t frame = (uint32_t)set->cfg.mtu + 14 + 4 + 4;
	uint32_t room = RTE_PKTMBUF_HEADROOM + (frame > 2048 ? frame : 2048);
	set->pools[socket] =
		rte_pktmbuf_pool_create(name, n, MBUF_CACHE, 0, (uint16_t)room, socket);
	if (set->pools[socket] == NULL) {
		errf(err, errlen, "cannot create the mbuf pool of %u mbufs on NUMA socket %d: %s",
		     n, socket, rte_strerror(rte_errno));
		return -1;
	}
	return socket;
}

/* Adds the IPv6 solicited-node multicast groups of our addresses, so neighbour solicitations
 * reach us with promiscuous mode off. A device without a multicast filter gets all-multicast. */
static void join_multicast(struct sl_net_dpdk *set, struct dev *d)
{
	struct rte_ether_addr mc[SL_L2L3_MAX_LOCAL];
	uint32_t n = 0;
	for (unsigned int i = 0; i < set->cfg.naddrs; i++) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&set->cfg.addrs[i];
		if (a6->sin6_family != AF_INET6)
			continue;
		const uint8_t *ip = a6->sin6_addr.s6_addr;
		uint8_t m[6] = {0x33, 0x33, 0xff, ip[13], ip[14], ip[15]};
		memcpy(mc[n++].addr_bytes, m, 6);
	}
	if (n == 0)
		return;
	if (rte_eth_dev_set_mc_addr_list(d->port_id, mc, n) != 0)
		rte_eth_allmulticast_enable(d->port_id);
}

static int setup_dev(struct sl_net_dpdk *set, struct dev *d, char *err, size_t errlen)
{
	const struct sl_net_dpdk_config *cfg = &set->cfg;
	struct rte_eth_dev_info info;
	int rc = rte_eth_dev_info_get(d->port_id, &info);
	if (rc != 0) {
		errf(err, errlen, "device %s: cannot read its capabilities: %s", d->name,
		     rte_strerror(-rc));
		return SL_EIO;
	}
	d->nq = cfg->nworkers;
	if (info.max_rx_queues < d->nq)
		d->nq = info.max_rx_queues;
	if (info.max_tx_queues < d->nq)
		d->nq = info.max_tx_queues;
	if (d->nq == 0) {
		errf(err, errlen, "device %s has no queues", d->name);
		return SL_EIO;
	}
	if (d->nq < cfg->nworkers)
		SL_LOG(NET, WARNING,
		       "device %s has %u queue pair(s) for %u workers: workers %u..%u neither "
		       "receive nor send on it, so connections arriving on it stay on the others",
		       d->name, d->nq, cfg->nworkers, d->nq, cfg->nworkers - 1);
	if (cfg->mtu < info.min_mtu || cfg->mtu > info.max_mtu) {
		errf(err, errlen, "device %s: MTU %u is outside its range %u..%u", d->name,
		     cfg->mtu, info.min_mtu, info.max_mtu);
		return SL_EINVAL;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = cfg->mtu;
	uint64_t rss = (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP |
			RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_IPV6) &
		       info.flow_type_rss_offloads;
	/* RSS spreads 4-tuples over the workers. A device without it (or with one queue) still
	 * works: whatever spreads its queues (the af_packet fan-out, a single queue) decides, and
	 * the CID hand-off corrects the rest. */
	if (d->nq > 1 && rss != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss;
		d->rss = true;
	}
	uint64_t want_tx = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	if (!cfg->no_offload) {
		conf.txmode.offloads = want_tx & info.tx_offload_capa;
		if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
			d->offload |= SL_L2L3_TX_IPV4_CSUM;
		if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
			d->offload |= SL_L2L3_TX_UDP_CSUM;
		conf.rxmode.offloads =
			(RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM) &
			info.rx_offload_capa;
	}
	rc = rte_eth_dev_configure(d->port_id, d->nq, d->nq, &conf);
	if (rc != 0) {
		errf(err, errlen, "device %s: configure with %u queue pair(s) failed: %s", d->name,
		     d->nq, rte_strerror(-rc));
		return SL_EIO;
	}
	uint16_t nrx = cfg->rx_desc, ntx = cfg->tx_desc;
	rte_eth_dev_adjust_nb_rx_tx_desc(d->port_id, &nrx, &ntx);
	int sock = rte_eth_dev_socket_id(d->port_id);
	uint32_t need = (uint32_t)set->ndev * cfg->nworkers *
				(nrx + ntx + cfg->tx_queue + SL_NET_DPDK_HOLD + RX_BURST +
				 MBUF_CACHE + TX_BULK) +
			1024;
	uint32_t n = cfg->mbufs ? cfg->mbufs : need;
	/* The pool of a socket is shared by every device on it and cached by every worker lcore:
	 * what the devices set up so far need, plus this one, must fit. */
	int slot = sock < 0 || sock >= RTE_MAX_NUMA_NODES ? 0 : sock;
	uint32_t least = set->reserved[slot] + (uint32_t)d->nq * (nrx + ntx + RX_BURST + TX_BULK) +
			 (uint32_t)cfg->nworkers * MBUF_CACHE;
	if (n < least) {
		errf(err, errlen,
		     "device %s: %u mbufs per NUMA socket cannot fill the queues of the devices on "
		     "socket %d (%u queue pair(s) of %u+%u descriptors here); raise dpdk_mbufs to "
		     "at "
		     "least %u (0 sizes it automatically: %u)",
		     d->name, n, slot, d->nq, nrx, ntx, least, need);
		return SL_EINVAL;
	}
	set->reserved[slot] = least - (uint32_t)cfg->nworkers * MBUF_CACHE;
	sock = pool_for(set, sock, n, err, errlen);
	if (sock < 0)
		return SL_ENOMEM;
	d->socket = sock;
	d->pool = set->pools[sock];
	struct rte_eth_txconf txc = info.default_txconf;
	txc.offloads = conf.txmode.offloads;
	for (uint16_t q = 0; q < d->nq; q++) {
		rc = rte_eth_rx_queue_setup(d->port_id, q, nrx, (unsigned int)sock, NULL, d->pool);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(d->port_id, q, ntx, (unsigned int)sock, &txc);
		if (rc != 0) {
			errf(err, errlen, "device %s: queue %u set-up failed: %s", d->name, q,
			     rte_strerror(-rc));
			return SL_EIO;
		}
	}
	rc = rte_eth_promiscuous_disable(d->port_id);
	if (rc != 0 && rc != -ENOTSUP)
		SL_LOG(NET, WARNING, "device %s: cannot turn promiscuous mode off: %s", d->name,
		       rte_strerror(-rc));
	struct rte_ether_addr mac;
	rte_eth_macaddr_get(d->port_id, &mac);
	memcpy(d->mac, mac.addr_bytes, SL_L2L3_MAC_LEN);
	join_multicast(set, d);
	rc = rte_eth_dev_start(d->port_id);
	if (rc != 0) {
		errf(err, errlen, "device %s: start failed: %s", d->name, rte_strerror(-rc));
		return SL_EIO;
	}
	d->started = true;
	rte_eth_dev_get_mtu(d->port_id, &d->mtu);
	struct rte_eth_link link;
	char macs[18];
	memset(&link, 0, sizeof(link));
	rte_eth_link_get_nowait(d->port_id, &link);
	SL_LOG(NET, INFO, "device %s (port %u, %s): %u queue pair(s)%s, MTU %u, link %s %u Mb/s",
	       d->name, d->port_id, sl_l2l3_format_mac(d->mac, macs), d->nq, d->rss ? ", RSS" : "",
	       d->mtu, link.link_status == RTE_ETH_LINK_UP ? "up" : "down", link.link_speed);
	return 0;
}

int sl_net_dpdk_setup(const struct sl_net_dpdk_config *cfg, struct sl_net_dpdk **out, char *err,
		      size_t errlen)
{
	errf(err, errlen, "no error");
	if (cfg->naddrs == 0 || cfg->naddrs > SL_L2L3_MAX_LOCAL) {
		errf(err, errlen, "the DPDK driver needs 1..%d addresses to answer for",
		     SL_L2L3_MAX_LOCAL);
		return SL_EINVAL;
	}
	for (unsigned int i = 0; i < cfg->naddrs; i++)
		if (is_wildcard(&cfg->addrs[i])) {
			errf(err, errlen,
			     "the DPDK driver needs concrete addresses (the IP it answers ARP and "
			     "neighbour discovery for), not a wildcard");
			return SL_EINVAL;
		}
	if (cfg->nworkers == 0 || cfg->nworkers > SL_NET_DPDK_MAX_WORKERS ||
	    cfg->tx_queue < RX_BURST || cfg->ndevs > SL_NET_DPDK_MAX_DEVS ||
	    cfg->nneigh > SL_NET_DPDK_MAX_NEIGH) {
		errf(err, errlen, "bad DPDK driver configuration (workers %u, tx queue %u)",
		     cfg->nworkers, cfg->tx_queue);
		return SL_EINVAL;
	}
	struct sl_net_dpdk *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return SL_ENOMEM;
	set->cfg = *cfg;
	set->id = __atomic_fetch_add(&set_ids, 1, __ATOMIC_RELAXED);
	int rc = 0;
	if (cfg->ndevs == 0) {
		uint16_t pid;
		RTE_ETH_FOREACH_DEV(pid)
		{
			if (set->ndev == SL_NET_DPDK_MAX_DEVS)
				break;
			struct dev *d = &set->dev[set->ndev++];
			d->port_id = pid;
			rte_eth_dev_get_name_by_port(pid, d->name);
		}
		if (set->ndev == 0) {
			errf(err, errlen,
			     "no DPDK device: pass one as an EAL argument after '--' (e.g. --vdev "
			     "net_af_packet0,iface=eth1, or -a 0000:01:00.0 for a NIC bound to "
			     "vfio-pci)");
			rc = SL_ENOTFOUND;
		}
	} else {
		for (unsigned int i = 0; i < cfg->ndevs && rc == 0; i++) {
			struct dev *d = &set->dev[set->ndev];
			if (rte_eth_dev_get_port_by_name(cfg->devs[i], &d->port_id) != 0) {
				errf(err, errlen,
				     "DPDK device %s could not be opened (not probed by the EAL: "
				     "check the EAL arguments after '--' and the device's binding)",
				     cfg->devs[i]);
				rc = SL_ENOTFOUND;
				break;
			}
			snprintf(d->name, sizeof(d->name), "%s", cfg->devs[i]);
			set->ndev++;
		}
	}
	if (rc == 0) {
		struct rte_hash_parameters hp = {0};
		char name[RTE_HASH_NAMESIZE];
		snprintf(name, sizeof(name), "sl_neigh%u", set->id);
		hp.name = name;
		hp.entries = NEIGH_ENTRIES;
		hp.key_len = 16;
		hp.hash_func = rte_jhash;
		hp.socket_id = (int)rte_socket_id();
		hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
				RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD;
		set->neigh = rte_hash_create(&hp);
		if (set->neigh == NULL) {
			errf(err, errlen, "cannot create the neighbour table: %s",
			     rte_strerror(rte_errno));
			rc = SL_ENOMEM;
		}
	}
	for (unsigned int i = 0; i < cfg->nneigh && rc == 0; i++) {
		if (cfg->neigh[i].dev >= set->ndev) {
			errf(err, errlen, "static neighbour %u names device %u of %u", i,
			     cfg->neigh[i].dev, set->ndev);
			rc = SL_EINVAL;
			break;
		}
		neigh_learn(set, (const struct sockaddr *)&cfg->neigh[i].ip, cfg->neigh[i].mac,
			    cfg->neigh[i].dev, NEIGH_STATIC);
	}
	for (unsigned int i = 0; i < set->ndev && rc == 0; i++)
		rc = setup_dev(set, &set->dev[i], err, errlen);
	if (rc != 0) {
		sl_net_dpdk_free(set);
		return rc;
	}
	*out = set;
	return 0;
}

void sl_net_dpdk_free(struct sl_net_dpdk *set)
{
	if (set == NULL)
		return;
	for (unsigned int i = 0; i < set->ndev; i++) {
		if (set->dev[i].started)
			rte_eth_dev_stop(set->dev[i].port_id);
		rte_eth_dev_close(set->dev[i].port_id);
	}
	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++)
		rte_mempool_free(set->pools[s]);
	rte_hash_free(set->neigh);
	free(set);
}

unsigned int sl_net_dpdk_dev_count(const struct sl_net_dpdk *set)
{
	return set->ndev;
}

int sl_net_dpdk_dev_info(const struct sl_net_dpdk *set, unsigned int i,
			 struct sl_net_dpdk_dev_info *info)
{
	if (i >= set->ndev)
		return SL_ENOTFOUND;
	const struct dev *d = &set->dev[i];
	memset(info, 0, sizeof(*info));
	info->port_id = d->port_id;
	snprintf(info->name, sizeof(info->name), "%s", d->name);
	struct rte_eth_dev_info di;
	if (rte_eth_dev_info_get(d->port_id, &di) == 0 && di.driver_name)
		snprintf(info->driver, sizeof(info->driver), "%s", di.driver_name);
	memcpy(info->mac, d->mac, SL_L2L3_MAC_LEN);
	info->socket = d->socket;
	info->queues = d->nq;
	info->rss = d->rss;
	info->offload = d->offload;
	info->mtu = d->mtu;
	struct rte_eth_link link;
	if (rte_eth_link_get_nowait(d->port_id, &link) == 0) {
		info->link_up = link.link_status == RTE_ETH_LINK_UP;
		info->link_speed_mbps = link.link_speed;
	}
	struct rte_eth_stats st;
	if (rte_eth_stats_get(d->port_id, &st) == 0) {
		info->rx_packets = st.ipackets;
		info->rx_bytes = st.ibytes;
		info->tx_packets = st.opackets;
		info->tx_bytes = st.obytes;
		info->rx_missed = st.imissed;
		info->rx_errors = st.ierrors;
		info->tx_errors = st.oerrors;
		info->rx_nombuf = st.rx_nombuf;
	}
	return 0;
}

int sl_net_dpdk_dev_xstats(const struct sl_net_dpdk *set, unsigned int i,
			   void (*fn)(void *arg, const char *name, uint64_t value), void *arg)
{
	if (i >= set->ndev)
		return SL_ENOTFOUND;
	uint16_t pid = set->dev[i].port_id;
	int n = rte_eth_xstats_get(pid, NULL, 0);
	if (n <= 0)
		return 0;
	/* The control core, not a worker: an allocation per status request is fine. */
	struct rte_eth_xstat *xs = calloc((size_t)n, sizeof(*xs));
	struct rte_eth_xstat_name *names = calloc((size_t)n, sizeof(*names));
	int reported = 0;
	if (xs && names && rte_eth_xstats_get(pid, xs, (unsigned int)n) == n &&
	    rte_eth_xstats_get_names(pid, names, (unsigned int)n) == n) {
		for (int k = 0; k < n; k++) {
			if (xs[k].value == 0 || xs[k].id >= (uint64_t)n)
				continue;
			fn(arg, names[xs[k].id].name, xs[k].value);
			reported++;
		}
	}
	free(xs);
	free(names);
	return reported;
}

/* ---- the per-worker port ---- */

static inline struct port *port_of(struct sl_pktio *io)
{
	return (struct port *)io;
}

static enum sl_l2l3_csum csum_state(uint64_t flags, uint64_t mask, uint64_t good, uint64_t bad,
				    uint64_t none)
{
	uint64_t f = flags & mask;
	if (f == good || f == none)
		return SL_L2L3_CSUM_GOOD;
	if (f == bad)
		return SL_L2L3_CSUM_BAD;
	return SL_L2L3_CSUM_UNKNOWN;
}

/* Queues a finished frame on device dev's transmit queue, or frees it when the queue is full
 * (only replies to ARP/ND and held datagrams come here; committed datagrams are bounded by
 * tx_alloc). */
static bool txq_push(struct port *p, unsigned int dev, struct rte_mbuf *m)
{
	struct txq *q = &p->tx[dev];
	if (q->n >= p->set->cfg.tx_queue) {
		p->io.stats.tx_drops++;
		rte_pktmbuf_free(m);
		return false;
	}
	q->m[q->n++] = m;
	p->tx_total++;
	return true;
}

/* The first of our addresses of this family (the source of ARP requests and solicitations). */
static const struct sockaddr_storage *our_addr(const struct port *p, int family)
{
	for (unsigned int i = 0; i < p->set->cfg.naddrs; i++)
		if (p->set->cfg.addrs[i].ss_family == family)
			return &p->set->cfg.addrs[i];
	return NULL;
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/* Asks every device who has ip (ARP request or neighbour solicitation), at most once per
 * ASK_EVERY_MS per address. */
static void ask(struct port *p, const struct sockaddr_storage *ip, uint64_t now)
{
	struct asked *slot = NULL;
	for (unsigned int i = 0; i < SL_NET_DPDK_HOLD; i++) {
		struct asked *a = &p->asked[i];
		if (a->ip.ss_family != 0 && same_ip(&a->ip, ip)) {
			if (now - a->at < ASK_EVERY_MS * p->ms_cycles)
				return;
			slot = a;
			break;
		}
		if (slot == NULL &&
		    (a->ip.ss_family == 0 || now - a->at > HOLD_MAX_MS * p->ms_cycles))
			slot = a;
	}
	if (slot == NULL)
		slot = &p->asked[0];
	slot->ip = *ip;
	slot->at = now;
	const struct sockaddr_storage *src = our_addr(p, ip->ss_family);
	if (src == NULL)
		return;
	static const uint8_t bcast[SL_L2L3_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	for (unsigned int d = 0; d < p->set->ndev; d++) {
		struct dev *dv = &p->set->dev[d];
		if (p->worker >= dv->nq)
			continue;
		struct rte_mbuf *m = rte_pktmbuf_alloc(dv->pool);
		if (m == NULL) {
			p->io.stats.tx_nobufs++;
			return;
		}
		uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
		size_t len;
		if (ip->ss_family == AF_INET) {
			len = sl_l2l3_build_arp(f, 1, dv->mac, src, bcast, ip);
		} else {
			len = sl_l2l3_build_nd_solicit(f, dv->mac, src, ip);
		}
		m->data_len = (uint16_t)len;
		m->pkt_len = (uint32_t)len;
		if (txq_push(p, d, m)) {
			if (ip->ss_family == AF_INET)
				p->io.stats.arp_out++;
			else
				p->io.stats.nd_out++;
		}
	}
}

/*
 * Writes the headers of a datagram whose payload fills m and queues it. The next hop is the one
 * the peer's datagrams came through (the path's cookie, kept by the QUIC endpoint), else the
 * neighbour table's entry. Returns false when neither knows it (the caller holds it).
 */
static bool finish(struct port *p, struct rte_mbuf *m, const struct sl_quic_path *path)
{
	uint8_t mac[SL_L2L3_MAC_LEN];
	uint16_t dev;
	if (path->cookie & NEIGH_HOP) {
		neigh_unpack(path->cookie, mac, &dev);
	} else {
		uint64_t v;
		if (neigh_get(p->set, (const struct sockaddr *)&path->remote, &v) != 0)
			return false;
		neigh_unpack(v, mac, &dev);
	}
	if (dev >= p->set->ndev || p->worker >= p->set->dev[dev].nq) {
		/* This worker has no queue on that device (fewer queues than workers). */
		p->io.stats.tx_drops++;
		rte_pktmbuf_free(m);
		return true;
	}
	struct dev *d = &p->set->dev[dev];
	int fam = path->remote.ss_family;
	size_t hl = sl_l2l3_udp_hdr_len(fam);
	uint32_t plen = m->pkt_len;
	uint8_t *f = (uint8_t *)rte_pktmbuf_prepend(m, (uint16_t)hl);
	if (f == NULL || sl_l2l3_build_udp(f, d->mac, mac, path, plen, d->offload) == 0) {
		p->io.stats.tx_drops++;
		rte_pktmbuf_free(m);
		return true;
	}
	m->l2_len = 14;
	m->l3_len = fam == AF_INET ? 20 : 40;
	m->ol_flags = 0;
	if (d->offload) {
		m->ol_flags |= fam == AF_INET ? RTE_MBUF_F_TX_IPV4 : RTE_MBUF_F_TX_IPV6;
		if (fam == AF_INET && (d->offload & SL_L2L3_TX_IPV4_CSUM))
			m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
		if (d->offload & SL_L2L3_TX_UDP_CSUM)
			m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
	}
	txq_push(p, dev, m);
	return true;
}

/* Sends the held datagrams whose neighbour is now known, drops those held too long and asks
 * again for the rest. Runs at most once a millisecond, from rx_burst. */
static void service_hold(struct port *p, uint64_t now)
{
	unsigned int k = 0;
	for (unsigned int i = 0; i < p->nhold; i++) {
		struct held *h = &p->hold[i];
		if (finish(p, h->m, &h->path))
			continue;
		if (now - h->since > HOLD_MAX_MS * p->ms_cycles) {
			p->io.stats.neigh_drops++;
			rte_pktmbuf_free(h->m);
			continue;
		}
		ask(p, &h->path.remote, now);
		p->hold[k++] = *h;
	}
	p->nhold = k;
}

static void answer(struct port *p, unsigned int dev, struct rte_mbuf *m,
		   const struct sl_l2l3_rx *rx)
{
	struct dev *d = &p->set->dev[dev];
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	size_t len;
	/* The request's mbuf carries the answer: no allocation, and it is already ours. */
	if (rx->kind == SL_L2L3_ARP_REQUEST) {
		len = sl_l2l3_build_arp(f, 2, d->mac, &rx->target, rx->sender_mac, &rx->sender);
	} else {
		const uint8_t *to = rx->has_ll ? rx->sender_mac : rx->src_mac;
		len = sl_l2l3_build_nd_advert(f, d->mac, &rx->target, to, &rx->sender);
	}
	if (len == 0) {
		rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	m->nb_segs = 1;
	m->ol_flags = 0;
	m->tx_offload = 0; /* not a datagram: l3_len 0 keeps it out of tx_packets */
	if (txq_push(p, dev, m)) {
		if (rx->kind == SL_L2L3_ARP_REQUEST)
			p->io.stats.arp_out++;
		else
			p->io.stats.nd_out++;
	}
}

static bool unspecified(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 &&
	       IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/*
 * Tells the link who has our addresses, once, from worker 0: a gratuitous ARP (a request whose
 * sender and target are our address) per IPv4 address and an unsolicited neighbour
 * advertisement to all-nodes per IPv6 address, on every device. Neighbours that cached another
 * MAC for the address (the appliance replaced, or the address moved to it) update at once
 * instead of after their cache times out.
 */
static void announce(struct port *p)
{
	p->announced = true;
	if (p->worker != 0)
		return;
	static const uint8_t bcast[SL_L2L3_MAC_LEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	static const struct sockaddr_storage unspec = {.ss_family = AF_INET6};
	for (unsigned int d = 0; d < p->set->ndev; d++) {
		struct dev *dv = &p->set->dev[d];
		for (unsigned int i = 0; i < p->set->cfg.naddrs; i++) {
			const struct sockaddr_storage *a = &p->set->cfg.addrs[i];
			struct rte_mbuf *m = rte_pktmbuf_alloc(dv->pool);
			if (m == NULL)
				return;
			uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
			size_t len =
				a->ss_family == AF_INET
					? sl_l2l3_build_arp(f, 1, dv->mac, a, bcast, a)
					: sl_l2l3_build_nd_advert(f, dv->mac, a, bcast, &unspec);
			if (len == 0) {
				rte_pktmbuf_free(m);
				continue;
			}
			m->data_len = (uint16_t)len;
			m->pkt_len = (uint32_t)len;
			if (txq_push(p, d, m)) {
				if (a->ss_family == AF_INET)
					p->io.stats.arp_out++;
				else
					p->io.stats.nd_out++;
			}
		}
	}
}

static unsigned int dpdk_rx_burst(struct sl_pktio *io, struct sl_pkt *pkts, unsigned int max)
{
	struct port *p = port_of(io);
	struct sl_net_dpdk *set = p->set;
	unsigned int n = 0;
	if (!p->announced)
		announce(p);
	if (p->nhold) {
		uint64_t now = rte_get_tsc_cycles();
		if (now - p->last_service >= p->ms_cycles) {
			p->last_service = now;
			service_hold(p, now);
		}
	}
	for (unsigned int k = 0; k < set->ndev && n < max; k++) {
		unsigned int dv = (p->next_dev + k) % set->ndev;
		struct dev *d = &set->dev[dv];
		if (p->worker >= d->nq)
			continue;
		unsigned int want = max - n < RX_BURST ? max - n : RX_BURST;
		uint16_t got = rte_eth_rx_burst(d->port_id, p->worker, p->rx, (uint16_t)want);
		if (got)
			io->stats.rx_batches++;
		for (uint16_t i = 0; i < got; i++) {
			struct rte_mbuf *m = p->rx[i];
			struct sl_l2l3_rx rx;
			if (m->nb_segs != 1) {
				io->stats.rx_malformed++;
				rte_pktmbuf_free(m);
				continue;
			}
			enum sl_l2l3_csum ipc =
				csum_state(m->ol_flags, RTE_MBUF_F_RX_IP_CKSUM_MASK,
					   RTE_MBUF_F_RX_IP_CKSUM_GOOD, RTE_MBUF_F_RX_IP_CKSUM_BAD,
					   RTE_MBUF_F_RX_IP_CKSUM_NONE);
			enum sl_l2l3_csum l4c =
				csum_state(m->ol_flags, RTE_MBUF_F_RX_L4_CKSUM_MASK,
					   RTE_MBUF_F_RX_L4_CKSUM_GOOD, RTE_MBUF_F_RX_L4_CKSUM_BAD,
					   RTE_MBUF_F_RX_L4_CKSUM_NONE);
			switch (sl_l2l3_parse(rte_pktmbuf_mtod(m, const uint8_t *), m->data_len,
					      &p->local[dv], ipc, l4c, &rx)) {
			case SL_L2L3_UDP: {
				/* The sender's MAC answers it (a router's for a remote peer): it
				 * travels with the path, so the table holds only on-link hosts. */
				struct sl_pkt *pk = &pkts[n++];
				pk->data = (uint8_t *)rx.payload;
				pk->len = rx.payload_len;
				pk->flags = 0;
				pk->handle = m;
				pk->path = rx.path;
				pk->path.cookie = sl_net_dpdk_path_cookie(rx.src_mac, (uint16_t)dv);
				io->stats.rx_packets++;
				io->stats.rx_bytes += rx.payload_len;
				break;
			}
			case SL_L2L3_ARP_REQUEST:
				io->stats.arp_in++;
				neigh_learn(set, (const struct sockaddr *)&rx.sender, rx.sender_mac,
					    (uint16_t)dv, 0);
				answer(p, dv, m, &rx);
				break;
			case SL_L2L3_ND_SOLICIT:
				io->stats.nd_in++;
				if (rx.has_ll && !unspecified(&rx.sender))
					neigh_learn(set, (const struct sockaddr *)&rx.sender,
						    rx.sender_mac, (uint16_t)dv, 0);
				answer(p, dv, m, &rx);
				break;
			case SL_L2L3_ARP_REPLY:
			case SL_L2L3_ND_ADVERT:
				if (rx.kind == SL_L2L3_ARP_REPLY)
					io->stats.arp_in++;
				else
					io->stats.nd_in++;
				if (rx.has_ll)
					neigh_learn(set, (const struct sockaddr *)&rx.sender,
						    rx.sender_mac, (uint16_t)dv, 0);
				rte_pktmbuf_free(m);
				if (p->nhold)
					p->last_service = 0; /* release what waited for it now */
				break;
			default:
				switch (rx.drop) {
				case SL_L2L3_DROP_NOT_OURS:
					io->stats.rx_not_ours++;
					break;
				case SL_L2L3_DROP_CHECKSUM:
					io->stats.rx_bad_csum++;
					break;
				case SL_L2L3_DROP_PROTOCOL:
				case SL_L2L3_DROP_FRAGMENT:
					io->stats.rx_unsupported++;
					break;
				default:
					io->stats.rx_malformed++;
					break;
				}
				rte_pktmbuf_free(m);
				break;
			}
		}
	}
	p->next_dev = set->ndev ? (p->next_dev + 1) % set->ndev : 0;
	return n;
}

static void dpdk_rx_release(struct sl_pktio *io, struct sl_pkt *pkts, unsigned int n)
{
	(void)io;
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free((struct rte_mbuf *)pkts[i].handle);
}

static uint8_t *dpdk_tx_alloc(struct sl_pktio *io, size_t max_len, void **token)
{
	struct port *p = port_of(io);
	struct dev *d = &p->set->dev[0];
	/* Every datagram must fit the smallest MTU and a single mbuf behind the headers. */
	if (max_len + 48 > d->mtu || max_len > UINT16_MAX ||
	    p->tx_total + p->allocated + p->nhold >= p->set->cfg.tx_queue) {
		io->stats.tx_nobufs++;
		return NULL;
	}
	if (p->ntxc == 0) {
		if (rte_pktmbuf_alloc_bulk(d->pool, p->txc, TX_BULK) == 0) {
			p->ntxc = TX_BULK;
		} else {
			/* Fewer than TX_BULK left (the bulk call takes all or none): take one. */
			p->txc[0] = rte_pktmbuf_alloc(d->pool);
			if (p->txc[0] == NULL) {
				io->stats.tx_nobufs++;
				return NULL;
			}
			p->ntxc = 1;
		}
	}
	struct rte_mbuf *m = p->txc[p->ntxc - 1];
	if (rte_pktmbuf_headroom(m) < SL_L2L3_MAX_HDR || rte_pktmbuf_tailroom(m) < max_len) {
		/* Every mbuf of the pool has the same room: it stays in the cache for a smaller
		 * datagram. */
		io->stats.tx_nobufs++;
		return NULL;
	}
	p->ntxc--;
	p->allocated++;
	*token = m;
	return rte_pktmbuf_mtod(m, uint8_t *);
}

static void dpdk_tx_commit(struct sl_pktio *io, void *token, const struct sl_quic_path *path,
			   size_t len)
{
	struct port *p = port_of(io);
	struct rte_mbuf *m = token;
	p->allocated--;
	if (len == 0 || (path->remote.ss_family != AF_INET && path->remote.ss_family != AF_INET6)) {
		if (len)
			io->stats.tx_drops++;
		/* Untouched since tx_alloc (only its data bytes were written): the next tx_alloc
		 * can have it without a trip through the pool. */
		if (p->ntxc < TX_BULK)
			p->txc[p->ntxc++] = m;
		else
			rte_pktmbuf_free(m);
		return;
	}
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	struct sl_quic_path pa = *path;
	if (pa.local.ss_family != pa.remote.ss_family) {
		/* No source chosen: the first of our addresses of the peer's family. */
		const struct sockaddr_storage *src = our_addr(p, pa.remote.ss_family);
		if (src == NULL) {
			io->stats.tx_drops++;
			rte_pktmbuf_free(m);
			return;
		}
		pa.local = *src;
	}
	if (finish(p, m, &pa))
		return;
	if (p->nhold == SL_NET_DPDK_HOLD) {
		io->stats.neigh_drops++;
		rte_pktmbuf_free(m);
		return;
	}
	uint64_t now = rte_get_tsc_cycles();
	p->hold[p->nhold++] = (struct held){.m = m, .path = pa, .since = now};
	io->stats.neigh_held++;
	ask(p, &pa.remote, now);
}

/* Adds (sign 1) or removes (-1) one frame to the datagram counters: UDP datagrams count with
 * their payload bytes, as on receive; ARP and ND frames (l3_len 0) have counters of their own. */
static inline void count_dgram(const struct rte_mbuf *m, uint64_t *pkts, uint64_t *bytes, int sign)
{
	if (m->l3_len == 0)
		return;
	uint64_t b = m->pkt_len - m->l2_len - m->l3_len - 8;
	*pkts += (uint64_t)(int64_t)sign;
	*bytes += (uint64_t)((int64_t)sign * (int64_t)b);
}

static int dpdk_tx_flush(struct sl_pktio *io)
{
	struct port *p = port_of(io);
	int sent = 0;
	bool blocked = false;
	for (unsigned int d = 0; d < p->set->ndev; d++) {
		struct txq *q = &p->tx[d];
		if (q->n == 0)
			continue;
		uint16_t done = 0;
		/* A few tries: a software device (af_packet, tap) takes a burst at a time. An mbuf
		 * handed to the device is no longer ours to read (a ring device's peer may free it
		 * at once), so the counters are taken before the burst and corrected after. */
		for (int tries = 0; tries < 4 && done < q->n; tries++) {
			unsigned int want = q->n - done;
			if (want > 512)
				want = 512;
			uint64_t pkts = 0, bytes = 0;
			for (unsigned int i = 0; i < want; i++)
				count_dgram(q->m[done + i], &pkts, &bytes, 1);
			uint16_t k = rte_eth_tx_burst(p->set->dev[d].port_id, p->worker,
						      q->m + done, (uint16_t)want);
			for (unsigned int i = k; i < want; i++)
				count_dgram(q->m[done + i], &pkts, &bytes, -1);
			io->stats.tx_packets += pkts;
			io->stats.tx_bytes += bytes;
			sent += (int)pkts;
			if (k == 0)
				break;
			done += k;
			io->stats.tx_batches++;
		}
		if (done < q->n) {
			memmove(q->m, q->m + done, (q->n - done) * sizeof(q->m[0]));
			blocked = true;
		}
		q->n -= done;
		p->tx_total -= done;
	}
	if (blocked) {
		io->stats.tx_blocked++;
		return SL_EAGAIN;
	}
	return sent;
}

static unsigned int dpdk_tx_pending(const struct sl_pktio *io)
{
	const struct port *p = (const struct port *)io;
	return p->tx_total;
}

static void dpdk_close(struct sl_pktio *io)
{
	struct port *p = port_of(io);
	for (unsigned int d = 0; d < SL_NET_DPDK_MAX_DEVS; d++) {
		for (unsigned int i = 0; i < p->tx[d].n; i++)
			rte_pktmbuf_free(p->tx[d].m[i]);
		free(p->tx[d].m);
	}
	for (unsigned int i = 0; i < p->nhold; i++)
		rte_pktmbuf_free(p->hold[i].m);
	rte_pktmbuf_free_bulk(p->txc, p->ntxc);
	p->ntxc = 0;
	p->set->open[p->worker] = false;
	free(p);
}

static const struct sl_pktio_ops dpdk_ops = {
	.name = "dpdk",
	.rx_burst = dpdk_rx_burst,
	.rx_release = dpdk_rx_release,
	.tx_alloc = dpdk_tx_alloc,
	.tx_commit = dpdk_tx_commit,
	.tx_flush = dpdk_tx_flush,
	.tx_pending = dpdk_tx_pending,
	.wait_fd = NULL,
	.close = dpdk_close,
};

int sl_net_dpdk_open(struct sl_net_dpdk *set, uint16_t worker, struct sl_pktio **out)
{
	if (worker >= set->cfg.nworkers || set->open[worker])
		return SL_EINVAL;
	struct port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return SL_ENOMEM;
	p->io.ops = &dpdk_ops;
	p->io.worker_id = worker;
	p->set = set;
	p->worker = worker;
	p->ms_cycles = rte_get_tsc_hz() / 1000;
	if (p->ms_cycles == 0)
		p->ms_cycles = 1;
	for (unsigned int d = 0; d < set->ndev; d++) {
		struct sl_l2l3_local *l = &p->local[d];
		memcpy(l->mac, set->dev[d].mac, SL_L2L3_MAC_LEN);
		for (unsigned int i = 0; i < set->cfg.naddrs; i++)
			l->udp[i] = set->cfg.addrs[i];
		l->n = set->cfg.naddrs;
		p->tx[d].m = calloc(set->cfg.tx_queue, sizeof(struct rte_mbuf *));
		if (p->tx[d].m == NULL) {
			for (unsigned int k = 0; k <= d; k++)
				free(p->tx[k].m);
			free(p);
			return SL_ENOMEM;
		}
	}
	set->open[worker] = true;
	*out = &p->io;
	return 0;
}
