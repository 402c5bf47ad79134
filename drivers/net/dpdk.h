/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_NET_DPDK_H
#define SL_NET_DPDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "drivers/net/l2l3.h"
#include "shard/pktio.h"

/*
 * The DPDK ethdev packet driver (dataplane/shard/pktio.h): workers poll NIC queues and the
 * kernel is not on the path. Two levels:
 *
 *   - the device set (struct sl_net_dpdk), set up once on the control core after rte_eal_init:
 *     every ethdev port named in the config (or every probed port), one RX/TX queue pair per
 *     worker, RSS on the UDP 4-tuple where the device has it, one mbuf pool per NUMA socket,
 *     checksum offloads where the device has them, promiscuous mode off, the ports started;
 *     and one neighbour table shared by the workers (rte_hash, lock-free readers);
 *   - one port per worker (sl_net_dpdk_open), a struct sl_pktio over that worker's queue on
 *     every device. It is used by its worker only, like every pktio port.
 *
 * Receive: rte_eth_rx_burst, then drivers/net/l2l3.h on the frame: UDP datagrams for our
 * addresses are handed out in place (the pkt's data points into the mbuf, which goes back to
 * the pool on rx_release), with the frame's source MAC and device as the path's next hop (packed
 * into the path's cookie, sl_net_dpdk_path_cookie);
 * ARP requests and IPv6 neighbour solicitations for our addresses are answered from the same
 * mbuf; ARP and ND feed the neighbour table; everything else is dropped and counted by reason.
 *
 * Transmit: tx_alloc hands out an mbuf with SL_L2L3_MAX_HDR bytes of headroom, the QUIC endpoint
 * encrypts into it, tx_commit writes the Ethernet/IP/UDP headers in front (checksums offloaded
 * when the device can) and queues it on the device of the path's next hop (its cookie, kept with
 * the connection by the QUIC endpoint), or of the neighbour table's entry when the cookie is 0;
 * tx_flush is one rte_eth_tx_burst per device. A datagram to an address known to neither is
 * held (up to SL_NET_DPDK_HOLD per worker, for at most 3 s) while the worker asks with ARP or a
 * neighbour solicitation, every 500 ms; it leaves as soon as any worker learns the answer.
 *
 * A device with fewer queues than workers gives the other workers no queue on it: they neither
 * receive nor send there (logged at set-up). Datagrams that reach a worker other than their
 * connection's are handed over by the shard layer as for sockets.
 */

#define SL_NET_DPDK_MAX_DEVS	8
#define SL_NET_DPDK_MAX_NEIGH	64
#define SL_NET_DPDK_HOLD	64
#define SL_NET_DPDK_MAX_WORKERS 64

struct sl_net_dpdk_neigh {
	struct sockaddr_storage ip; /* sockaddr_in or sockaddr_in6, port ignored */
	uint8_t mac[SL_L2L3_MAC_LEN];
	uint16_t dev; /* index into the set's devices (0 unless several) */
};

struct sl_net_dpdk_config {
	/* The addresses the appliance answers for (ARP/ND) and receives UDP on, with their port
	 * (0: any port, for clients). Concrete addresses only: a wildcard has no ARP answer. */
	struct sockaddr_storage addrs[SL_L2L3_MAX_LOCAL];
	unsigned int naddrs;
	uint16_t nworkers;
	/* ethdev names ("net_af_packet0", "0000:01:00.0"); none = every port the EAL probed. */
	char devs[SL_NET_DPDK_MAX_DEVS][64];
	unsigned int ndevs;
	uint32_t mbufs;	   /* per NUMA socket; 0 = sized from queues and descriptors */
	uint16_t rx_desc;  /* per RX queue, default 1024 (the device may round it) */
	uint16_t tx_desc;  /* per TX queue, default 1024 */
	uint16_t mtu;	   /* default 1500 */
	uint32_t tx_queue; /* datagrams a worker may have committed and unsent, default 1024 */
	struct sl_net_dpdk_neigh neigh[SL_NET_DPDK_MAX_NEIGH]; /* static entries, never replaced */
	unsigned int nneigh;
	bool no_offload; /* compute every checksum in software (tests, broken devices) */
};

struct sl_net_dpdk;

/* Fills cfg with the defaults above. */
void sl_net_dpdk_config_default(struct sl_net_dpdk_config *cfg);

/* Parses "IP=aa:bb:cc:dd:ee:ff" (IPv4 or IPv6, optionally "@DEV" for a device index) into a
 * static neighbour entry. Returns 0 or SL_EINVAL. */
int sl_net_dpdk_parse_neigh(const char *s, struct sl_net_dpdk_neigh *out);

/*
 * Sets up and starts the devices (control core, after rte_eal_init). Returns 0 and the set in
 * *out, or SL_EINVAL (bad config: no address, a wildcard address, no workers, an MTU out of a
 * device's range, too few mbufs), SL_ENOTFOUND (no ethdev port was probed, or a named device
 * does not exist), SL_EIO (a device refused configuration, queue set-up or start), SL_ENOMEM.
 * err receives a message that names the device and what failed.
 */
int sl_net_dpdk_setup(const struct sl_net_dpdk_config *cfg, struct sl_net_dpdk **out, char *err,
		      size_t errlen);

/* Opens the port of one worker (control core, before the worker runs). Returns 0, SL_EINVAL
 * (worker >= nworkers, or already open), SL_ENOMEM. */
int sl_net_dpdk_open(struct sl_net_dpdk *set, uint16_t worker, struct sl_pktio **out);

/* Stops and closes the devices and frees the set. Every port must be closed first. */
void sl_net_dpdk_free(struct sl_net_dpdk *set);

/* One device as `shardctl status` reports it (read on the control core; the counters are the
 * device's own, so they include what the workers have not seen yet). */
struct sl_net_dpdk_dev_info {
	uint16_t port_id;
	char name[64];
	char driver[32];
	uint8_t mac[SL_L2L3_MAC_LEN];
	int socket;
	uint16_t queues; /* RX/TX queue pairs in use (<= workers) */
	bool rss;
	unsigned int offload; /* enum sl_l2l3_offload in effect */
	uint16_t mtu;
	bool link_up;
	uint32_t link_speed_mbps;
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
	uint64_t rx_missed, rx_errors, tx_errors, rx_nombuf;
};

unsigned int sl_net_dpdk_dev_count(const struct sl_net_dpdk *set);

/* Fills info for device i. Returns 0 or SL_ENOTFOUND. */
int sl_net_dpdk_dev_info(const struct sl_net_dpdk *set, unsigned int i,
			 struct sl_net_dpdk_dev_info *info);

/* Calls fn for every extended statistic of device i that is not zero (per-queue packets and
 * bytes, drops, driver-specific errors). Returns the number reported, or SL_ENOTFOUND. */
int sl_net_dpdk_dev_xstats(const struct sl_net_dpdk *set, unsigned int i,
			   void (*fn)(void *arg, const char *name, uint64_t value), void *arg);

/* The cookie of a path (struct sl_quic_path) whose next hop is mac on device dev: what receive
 * stores for the sender of a datagram, and what transmit sends to. Never 0. For tests and
 * tools that build a path by hand; nothing else reads a cookie's bits. */
uint64_t sl_net_dpdk_path_cookie(const uint8_t mac[SL_L2L3_MAC_LEN], uint16_t dev);

/* Looks up the neighbour table (any thread). Returns 0 and the MAC, or SL_ENOTFOUND. */
int sl_net_dpdk_neigh_lookup(const struct sl_net_dpdk *set, const struct sockaddr *ip,
			     uint8_t mac[SL_L2L3_MAC_LEN]);

/* Number of neighbour entries (static and learned). */
unsigned int sl_net_dpdk_neigh_count(const struct sl_net_dpdk *set);

#endif
