/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CLIENT_H
#define SL_CONTROL_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "moq/session.h"
#include "quic/endpoint.h"
#include "shard/pktio.h"

/* The longest sleep of an idle loop iteration over a poll-mode port (see sl_client_run). */
#define SL_CLIENT_POLL_SLEEP_NS 50000u

/*
 * The client side of moq-lite over QUIC for the tools (shardctl pub/sub, shardline-bench): one
 * single-threaded loop over packet ports (kernel UDP sockets, or any pktio driver the caller
 * opened), any number of connections, one client session per connection. Connections are
 * spread over several local ports so that a relay with SO_REUSEPORT workers sees them on
 * different workers, as real clients would be; on one port they share the local address and
 * QUIC connection IDs tell them apart.
 */
struct sl_client;

struct sl_client_conn {
	struct sl_client *cl;
	struct sl_quic_conn *qc;
	struct sl_moq_session *s;
	bool connected;
	bool closed;
	uint64_t close_error;
	void *user;
	/* private */
	struct sl_client_conn *next;
};

/* Creates a client with nports local UDP ports (1 .. 64) for talking to url's host: each port is
 * bound to an ephemeral port on the local address the kernel routes to that host, so every
 * datagram's path is exact. Returns 0, SL_EINVAL (bad URL or count), SL_EIO, SL_ENOMEM. */
int sl_client_new(const char *url, unsigned nports, struct sl_client **out);

/*
 * Creates a client over nports (1 .. 64) ports the caller opened with any pktio driver (a DPDK
 * port, for a client with the kernel out of the loop). locals[i] is the address (IP and port)
 * ports[i] receives on; it becomes the local side of every connection made on that port, so it
 * must be the address the server's answers reach. The ports pass to the client in every case:
 * sl_client_free closes them, and they are closed here when creation fails. A port whose
 * sl_pktio_wait_fd is -1 (poll mode) is polled by sl_client_run, which then never blocks on a
 * descriptor. Returns 0, SL_EINVAL (count out of range, a NULL port, a local address that is
 * not AF_INET/AF_INET6), SL_ENOMEM.
 */
int sl_client_new_ports(struct sl_pktio *const *ports, const struct sockaddr_storage *locals,
			unsigned nports, struct sl_client **out);

/* Closes every connection without a word to the peer, the ports and the client. NULL is
 * ignored. */
void sl_client_free(struct sl_client *cl);

/*
 * Parses "moq://HOST:PORT" (HOST: an IPv4 address, [IPv6] or localhost) into an address.
 * Returns 0 or SL_EINVAL.
 */
int sl_client_parse_url(const char *url, struct sockaddr_storage *ss, socklen_t *len);

/* Starts a connection to url (ALPN moq-lite-04) with a client session on it. Returns 0 and
 * the connection (owned by the client), SL_EINVAL (bad URL), SL_EIO, SL_ENOMEM. */
int sl_client_connect(struct sl_client *cl, const char *url, struct sl_client_conn **out);

/* One loop iteration: receive, sessions, timers, transmit; if nothing happened, waits up to
 * max_wait_ns for a datagram or a timer: in poll on the ports' descriptors, or, when a port is
 * in poll mode (no descriptor), in a sleep of at most SL_CLIENT_POLL_SLEEP_NS so that a spinning
 * client leaves the CPU to others on a small machine. Returns the number of datagrams
 * received. */
int sl_client_run(struct sl_client *cl, uint64_t max_wait_ns);

/* Runs the loop until every connection is connected or closed, or timeout_ns passes. Returns
 * 0 when all connected, SL_ETIMEDOUT, or SL_ECLOSED when one closed first. */
int sl_client_wait_connected(struct sl_client *cl, uint64_t timeout_ns);

/* Closes every connection cleanly and runs the loop until the closes went out (bounded). */
void sl_client_close_all(struct sl_client *cl, uint64_t timeout_ns);

#endif
