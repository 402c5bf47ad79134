/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_PKTIO_H
#define SL_SHARD_PKTIO_H

#include <stddef.h>
#include <stdint.h>

#include "quic/endpoint.h"
#include "core/stats.h"

/*
 * Packet I/O: the interface every packet driver implements (kernel UDP sockets in
 * drivers/net/socket.h, DPDK ethdev next). A worker owns one port; nothing here is thread-safe
 * and nothing needs to be, because a port is used only by the core that opened it.
 *
 * The loop shape is the one of every shardline worker:
 *
 *   n = sl_pktio_rx_burst(port, pkts, max);         received datagrams, in driver memory
 *   for each: sl_quic_endpoint_recv(ep, &pkts[i].path, pkts[i].data, pkts[i].len, now)
 *   sl_pktio_rx_release(port, pkts, n);             buffers go back to the driver
 *   sl_quic_endpoint_flush(ep, now);                endpoint writes through tx_alloc/tx_commit
 *   sl_pktio_tx_flush(port);                        one batched send for everything committed
 *
 * Receive buffers stay valid until released; a worker that keeps every buffer starves its own
 * receive path (rx_burst returns 0), never another worker's. Transmit is two-phase so the
 * endpoint encrypts straight into driver memory (an mbuf for DPDK, a pre-allocated slab for
 * sockets): tx_alloc hands out a buffer, tx_commit queues it with its path or gives it back, and
 * tx_flush is the only call that talks to the kernel or the NIC, which is where batching (and
 * GSO for sockets) happens.
 *
 * Drivers embed struct sl_pktio as the first member of their port and fill ops; the inline
 * wrappers below are what callers use. dataplane/ never includes a driver header: control/
 * opens a driver and hands the worker the struct sl_pktio pointer.
 */
struct sl_pktio;

/* A received datagram. path is in the receiver's view: local is the address the datagram was
 * sent to (the real one even on a wildcard bind), remote is the sender. */
struct sl_pkt {
	uint8_t *data;
	uint32_t len;
	uint32_t flags; /* reserved for drivers (0 today) */
	void *handle;	/* the driver's buffer reference; opaque to the caller */
	struct sl_quic_path path;
};

/* Features a port has in effect (after probing the kernel or the NIC). */
enum sl_pktio_feature {
	SL_PKTIO_F_GSO = 1u << 0,     /* transmit segmentation offload (UDP_SEGMENT) */
	SL_PKTIO_F_GRO = 1u << 1,     /* receive coalescing (UDP_GRO) */
	SL_PKTIO_F_PKTINFO = 1u << 2, /* the local address of each datagram is known */
	SL_PKTIO_F_WAITFD = 1u << 3,  /* wait_fd gives a pollable descriptor */
};

/*
 * Counters of one port, kept by the driver, readable by the owning core at any time (the
 * control core reads them through the stats message, never directly).
 */
struct sl_pktio_stats {
	uint64_t rx_packets;   /* datagrams handed to the caller */
	uint64_t rx_bytes;     /* their payload bytes */
	uint64_t rx_batches;   /* receive calls (recvmmsg, rx_burst) that returned data */
	uint64_t rx_drops;     /* datagrams lost by the driver (truncated, malformed, no buffer) */
	uint64_t rx_errors;    /* receive calls that failed with a hard error */
	uint64_t rx_overflows; /* datagrams the kernel or NIC dropped: receive queue full */
	uint64_t rx_gro_coalesced; /* receives that carried more than one datagram */
	uint64_t rx_gro_segments;  /* datagrams delivered out of those receives */
	uint64_t tx_packets;	   /* datagrams accepted by the kernel or the NIC */
	uint64_t tx_bytes;	   /* their payload bytes */
	uint64_t tx_batches;	   /* send calls (sendmmsg, tx_burst) that sent data */
	uint64_t tx_drops;	   /* committed datagrams discarded after a send error */
	uint64_t tx_errors;	   /* send calls that failed with a hard error */
	uint64_t tx_gso_sends;	   /* sends that carried more than one datagram */
	uint64_t tx_gso_segments;  /* datagrams carried in those sends */
	uint64_t tx_nobufs;	   /* tx_alloc calls that found no free buffer */
	uint64_t tx_blocked;	   /* flushes that left datagrams queued (device or socket full) */
	/* Link and network layer, kept by drivers that see whole frames (DPDK; 0 for sockets). */
	uint64_t rx_not_ours;	  /* frames for another MAC, IP, UDP port or ARP/ND target */
	uint64_t rx_malformed;	  /* truncated or inconsistent frames */
	uint64_t rx_bad_csum;	  /* IPv4 header, UDP or ICMPv6 checksum wrong */
	uint64_t rx_unsupported;  /* EtherTypes, protocols, fragments and headers not handled */
	uint64_t arp_in, arp_out; /* ARP requests and replies received / sent */
	uint64_t nd_in, nd_out;	  /* IPv6 neighbour solicitations and advertisements */
	uint64_t neigh_held;	  /* datagrams held until their neighbour was resolved */
	uint64_t neigh_drops;	  /* held datagrams dropped: no answer in time or hold full */
	uint32_t features;	  /* enum sl_pktio_feature bits in effect */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_pktio_stats_fields[];

/* What a driver implements. Every function runs on the owning core only. */
struct sl_pktio_ops {
	const char *name; /* "socket", "dpdk" */
	unsigned int (*rx_burst)(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int max);
	void (*rx_release)(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int n);
	uint8_t *(*tx_alloc)(struct sl_pktio *port, size_t max_len, void **token);
	void (*tx_commit)(struct sl_pktio *port, void *token, const struct sl_quic_path *path,
			  size_t len);
	int (*tx_flush)(struct sl_pktio *port);
	unsigned int (*tx_pending)(const struct sl_pktio *port);
	int (*wait_fd)(const struct sl_pktio *port);
	void (*close)(struct sl_pktio *port);
};

/* The part of every driver's port that callers may touch. */
struct sl_pktio {
	const struct sl_pktio_ops *ops;
	struct sl_pktio_stats stats;
	uint16_t worker_id;
	/* Free for the owner: the QUIC callbacks below receive the port as their arg, so the
	 * endpoint's other callbacks find the worker's state here. */
	void *user;
};

/*
 * Receives up to max datagrams into pkts without blocking. Returns how many (0 when nothing is
 * waiting or every receive buffer is held by the caller). Each returned pkts[i] must be given
 * back with sl_pktio_rx_release, in any order and any grouping.
 */
static inline unsigned int sl_pktio_rx_burst(struct sl_pktio *port, struct sl_pkt *pkts,
					     unsigned int max)
{
	return port->ops->rx_burst(port, pkts, max);
}

/* Gives n received datagrams back to the driver; their data must not be used afterwards. */
static inline void sl_pktio_rx_release(struct sl_pktio *port, struct sl_pkt *pkts, unsigned int n)
{
	port->ops->rx_release(port, pkts, n);
}

/*
 * Hands out a transmit buffer of at least max_len bytes and stores its token in *token.
 * Returns NULL (counted in tx_nobufs) when every buffer is committed or held, or when max_len
 * exceeds the port's datagram size; the caller stops writing and retries after tx_flush.
 */
static inline uint8_t *sl_pktio_tx_alloc(struct sl_pktio *port, size_t max_len, void **token)
{
	return port->ops->tx_alloc(port, max_len, token);
}

/*
 * Queues len bytes of the buffer behind token for path->remote, sent from path->local (the
 * driver uses it as the source address when it can; an unset local, family 0, lets the driver
 * choose). len 0 gives the buffer back unsent. The path is copied.
 */
static inline void sl_pktio_tx_commit(struct sl_pktio *port, void *token,
				      const struct sl_quic_path *path, size_t len)
{
	port->ops->tx_commit(port, token, path, len);
}

/*
 * Sends everything committed, in commit order, batching as the driver can. Returns the number
 * of datagrams sent, or SL_EAGAIN when the device or socket could not take everything: the rest
 * stays queued (in order) for the next flush, and the caller flushes again on its next loop
 * iteration (see sl_pktio_wait_fd). Datagrams that failed
 * with a hard error are dropped and counted (tx_drops, tx_errors), never returned as an error:
 * QUIC recovers from loss, and one unreachable peer must not stall the rest.
 */
static inline int sl_pktio_tx_flush(struct sl_pktio *port)
{
	return port->ops->tx_flush(port);
}

/* Datagrams committed and not yet sent. */
static inline unsigned int sl_pktio_tx_pending(const struct sl_pktio *port)
{
	return port->ops->tx_pending(port);
}

/* A descriptor that polls readable when rx_burst may return data, or -1 for poll-mode drivers
 * (DPDK) that are simply called in a loop. After tx_flush returned SL_EAGAIN, flush again on
 * the next iteration (waiting a millisecond or so at most): the descriptor may aggregate
 * several sockets and does not promise to report writability. */
static inline int sl_pktio_wait_fd(const struct sl_pktio *port)
{
	return port->ops->wait_fd ? port->ops->wait_fd(port) : -1;
}

/* Closes the port and frees everything it holds; received buffers not yet released and
 * committed datagrams not yet sent are discarded. NULL is ignored. */
static inline void sl_pktio_close(struct sl_pktio *port)
{
	if (port != NULL)
		port->ops->close(port);
}

/* Copies the port's counters. */
static inline void sl_pktio_stats(const struct sl_pktio *port, struct sl_pktio_stats *out)
{
	*out = port->stats;
}

/*
 * The endpoint's transmit callbacks, same shape as struct sl_quic_callbacks' tx_alloc and
 * tx_commit: set them there and pass the port as the endpoint's arg. The endpoint then
 * encrypts straight into driver buffers; its other callbacks receive the port too and reach the
 * worker through port->user.
 */
static inline uint8_t *sl_pktio_quic_tx_alloc(void *port, size_t max, void **token)
{
	return sl_pktio_tx_alloc((struct sl_pktio *)port, max, token);
}

static inline void sl_pktio_quic_tx_commit(void *port, void *token, const struct sl_quic_path *path,
					   size_t len)
{
	sl_pktio_tx_commit((struct sl_pktio *)port, token, path, len);
}

#endif
