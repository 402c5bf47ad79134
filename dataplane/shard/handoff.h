/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_HANDOFF_H
#define SL_SHARD_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "core/ring.h"
#include "quic/endpoint.h"
#include "core/stats.h"

/*
 * Cross-worker hand-off of datagrams. The kernel (SO_REUSEPORT hash) or the NIC (RSS) picks the
 * worker that receives a datagram from its 4-tuple; the connection lives on the worker whose id
 * is in the connection ID it issued. Both normally agree, because the worker that received a
 * client's first Initial accepted the connection and named itself in every CID. They disagree
 * when the 4-tuple changes (NAT rebinding, migration) or the set of sockets changed; then the
 * receiving worker copies the datagram into a refcounted sl_buf and sends it to the owner over
 * the SPSC ring between them. The copy is the price of a rare event; the common path copies
 * nothing and touches no ring.
 *
 * Routing rule (sl_handoff_owner):
 *   - short header: the 16-byte destination CID after the first byte names the owner;
 *   - long header Handshake and Retry: the destination CID names the owner;
 *   - long header Initial and 0-RTT, version negotiation, anything unparsable, a CID that is not
 *     ours or names a worker that does not exist: the receiving worker. A client's first
 *     Initial carries a CID the client made up, so it must be accepted where it landed; the
 *     endpoint drops what it cannot parse and counts it.
 *
 * Driver-neutral: it sees datagrams and paths, never a socket or an mbuf.
 */

/* Marks an SL_MSG_BUF message that carries a handed-off datagram (struct sl_msg.flags). */
#define SL_HANDOFF_MSG_DATAGRAM 0x1

struct sl_handoff_stats {
	uint64_t handed_off;	/* datagrams queued to another worker */
	uint64_t handed_bytes;	/* their bytes */
	uint64_t received;	/* datagrams received from other workers and delivered */
	uint64_t dropped_full;	/* hand-offs dropped because the ring to the owner was full */
	uint64_t dropped_nomem; /* hand-offs dropped because no buffer could be allocated */
	uint64_t foreign;	/* messages on a hand-off ring that were not datagrams (released) */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_handoff_stats_fields[];

/*
 * One worker's view of the mesh. to[w] is the ring this worker produces into for worker w and
 * from[w] the ring it consumes from worker w (both NULL for w == self). The arrays are copied by
 * pointer: they must outlive the struct.
 */
struct sl_handoff {
	uint16_t self;
	uint16_t nworkers;
	struct rte_ring *const *to;
	struct rte_ring *const *from;
	uint16_t next_from; /* round-robin start of the drain, so no peer is favoured */
	struct sl_handoff_stats stats;
};

/* Fills h. Returns 0, or SL_EINVAL (nworkers 0, self >= nworkers, or a NULL array when
 * nworkers > 1). */
int sl_handoff_init(struct sl_handoff *h, uint16_t self, uint16_t nworkers,
		    struct rte_ring *const *to, struct rte_ring *const *from);

/* The worker that owns the datagram under the rule above (self when it is local). */
uint16_t sl_handoff_owner(const struct sl_handoff *h, const uint8_t *data, size_t len);

/*
 * Decides where one received datagram goes. Returns 0 when it is local (the caller feeds it to
 * its own endpoint), 1 when a copy (datagram and path) was queued to the owner (the caller
 * releases its buffer and forgets it), or when the hand-off failed and the datagram was dropped:
 * SL_ENOSPC (the ring to the owner is full) or SL_ENOMEM (no buffer for the copy). A dropped
 * datagram is not processed locally on purpose: the local endpoint does not know the connection
 * and would answer with a stateless reset that kills it; QUIC recovers from the loss instead.
 * Allocates one sl_buf per hand-off (rare by construction; see above).
 */
int sl_handoff_route(struct sl_handoff *h, const struct sl_quic_path *path, const uint8_t *data,
		     size_t len);

/* What sl_handoff_poll calls for each received datagram; data is valid during the call only. */
typedef void (*sl_handoff_deliver_fn)(void *arg, const struct sl_quic_path *path,
				      const uint8_t *data, size_t len);

/*
 * Dequeues up to max messages from the inbound rings (round robin over peers) and calls deliver
 * for each handed-off datagram, releasing its buffer afterwards. Messages that are not
 * hand-offs are released and counted in foreign: the rings given to sl_handoff_init must be
 * dedicated to hand-off, or the shard loop must dispatch with sl_handoff_deliver_msg instead.
 * Returns the number of datagrams delivered.
 */
unsigned int sl_handoff_poll(struct sl_handoff *h, sl_handoff_deliver_fn deliver, void *arg,
			     unsigned int max);

/* sl_handoff_poll into a QUIC endpoint (sl_quic_endpoint_recv with now_ns). */
unsigned int sl_handoff_drain(struct sl_handoff *h, struct sl_quic_endpoint *ep, unsigned int max,
			      uint64_t now_ns);

/*
 * For a shard loop that shares its rings with other message types: if m is a hand-off, calls
 * deliver, releases the message's reference and returns 1; otherwise returns 0 and leaves m
 * alone.
 */
int sl_handoff_deliver_msg(struct sl_handoff *h, const struct sl_msg *m,
			   sl_handoff_deliver_fn deliver, void *arg);

#endif
