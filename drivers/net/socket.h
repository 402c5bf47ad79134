/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_NET_SOCKET_H
#define SL_NET_SOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "shard/pktio.h"

/*
 * The kernel UDP socket packet driver (dataplane/shard/pktio.h). Each worker opens its own port:
 * one non-blocking UDP socket per listen address, all with SO_REUSEPORT so the kernel spreads
 * 4-tuples over the workers. Receive is recvmmsg into pre-allocated slots, split further when
 * the kernel coalesced datagrams (UDP_GRO); transmit is sendmmsg from pre-allocated buffers, with
 * runs of equal-sized datagrams to one destination sent as one UDP_SEGMENT (GSO) message.
 * IP_PKTINFO / IPV6_RECVPKTINFO tell the local address of every datagram, so a wildcard bind
 * answers from the address the peer used. GSO and GRO are probed at open and used only when the
 * kernel accepts them; stats.features says what is in effect.
 *
 * Every buffer is allocated at open; the hot path never calls malloc.
 */

#define SL_NET_MAX_ADDRS 8

struct sl_net_socket_config {
	/* Addresses to bind, one socket each (IPv6 sockets are V6ONLY so [::] and 0.0.0.0 can
	 * share a port). Server mode needs at least one. Client mode binds these with port 0
	 * allowed and without SO_REUSEPORT; with none it binds 0.0.0.0:0 and, if the host has
	 * IPv6, [::]:0. */
	struct sockaddr_storage addrs[SL_NET_MAX_ADDRS];
	socklen_t addr_lens[SL_NET_MAX_ADDRS];
	unsigned int naddrs;
	bool client;
	uint16_t worker_id;
	uint32_t rx_batch;  /* datagrams per recvmmsg, default 32 */
	uint32_t rx_slots;  /* receive buffers, >= rx_batch, default 2 * rx_batch */
	uint32_t tx_bufs;   /* transmit buffers, default 512 */
	uint32_t max_dgram; /* largest datagram sent or received, default 1500, <= 65507 */
	int sock_buf;	    /* SO_RCVBUF / SO_SNDBUF request in bytes, default 4 MiB (0: leave) */
	bool no_gso;	    /* do not use UDP_SEGMENT even if the kernel has it */
	bool no_gro;	    /* do not use UDP_GRO even if the kernel has it */
};

/* Fills cfg with the defaults above and no addresses. */
void sl_net_socket_config_default(struct sl_net_socket_config *cfg);

/*
 * Parses "a.b.c.d:port", "[v6]:port" (e.g. "[::1]:4443", "[::]:4443") into out (zeroed first)
 * and its length. Numeric addresses only; port 0..65535. Returns 0 or SL_EINVAL.
 */
int sl_net_parse_addr(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* Formats sa as "a.b.c.d:port" or "[v6]:port" into buf (always NUL-terminated). Returns buf. */
char *sl_net_format_addr(const struct sockaddr *sa, char *buf, size_t size);

/* Adds an address to cfg. Returns 0, or SL_EINVAL (unparsable), SL_ENOSPC (SL_NET_MAX_ADDRS). */
int sl_net_socket_config_add(struct sl_net_socket_config *cfg, const char *addr);

/*
 * Opens a port for one worker. Returns 0 and the port in *out, or SL_EINVAL (bad config: no
 * address in server mode, rx_slots < rx_batch, sizes out of range, unknown family), SL_EIO (a
 * socket could not be created, configured or bound; the log says which and why, errno is kept),
 * SL_ENOMEM.
 */
int sl_net_socket_open(const struct sl_net_socket_config *cfg, struct sl_pktio **out);

/* Number of sockets of the port and the address socket i is bound to (the real port after an
 * ephemeral bind). Returns 0, or SL_ENOTFOUND for i out of range. */
unsigned int sl_net_socket_count(const struct sl_pktio *port);
int sl_net_socket_local(const struct sl_pktio *port, unsigned int i, struct sockaddr_storage *out,
			socklen_t *len);

/* The descriptor of socket i, or -1 (for tests and for registering in an external poller). */
int sl_net_socket_fd(const struct sl_pktio *port, unsigned int i);

#endif
