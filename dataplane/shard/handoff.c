/* SPDX-License-Identifier: Apache-2.0 */
#include "shard/handoff.h"

#include <string.h>

#include "core/buf.h"
#include "core/err.h"

/* Long-header packet types as they are numbered in QUIC v1 (RFC 9000) ... */
enum { LH_INITIAL = 0, LH_ZERO_RTT = 1, LH_HANDSHAKE = 2, LH_RETRY = 3 };

#define QUIC_V1	      UINT32_C(0x00000001)
#define QUIC_V2	      UINT32_C(0x6b3343cf) /* RFC 9369 */
#define QUIC_V2_DRAFT UINT32_C(0x709a50c4) /* what ngtcp2 0.12 speaks as v2 */

int sl_handoff_init(struct sl_handoff *h, uint16_t self, uint16_t nworkers,
		    struct rte_ring *const *to, struct rte_ring *const *from)
{
	if (nworkers == 0 || self >= nworkers || (nworkers > 1 && (to == NULL || from == NULL)))
		return SL_EINVAL;
	memset(h, 0, sizeof(*h));
	h->self = self;
	h->nworkers = nworkers;
	h->to = to;
	h->from = from;
	return 0;
}

/* The long-header type in v1 numbering, or -1 for a version we do not route by. */
static int long_type(const uint8_t *data)
{
	uint32_t v = (uint32_t)data[1] << 24 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 8 |
		     data[4];
	int t = (data[0] >> 4) & 3;
	if (v == QUIC_V2 || v == QUIC_V2_DRAFT)
		return (t + 3) & 3; /* v2 rotated the numbering by one (Retry = 0, Initial = 1) */
	if (v == QUIC_V1 || (v & 0xffffff00u) == 0xff000000u)
		return t;
	return -1; /* version negotiation (0) or unknown: the receiver answers */
}

uint16_t sl_handoff_owner(const struct sl_handoff *h, const uint8_t *data, size_t len)
{
	const uint8_t *cid;
	if (len == 0)
		return h->self;
	if (data[0] & 0x80) {
		/* flags, version (4), dcid length (1), dcid */
		if (len < 6 + SL_QUIC_CID_LEN || data[5] != SL_QUIC_CID_LEN)
			return h->self;
		int t = long_type(data);
		if (t != LH_HANDSHAKE && t != LH_RETRY)
			return h->self;
		cid = data + 6;
	} else {
		/* A short header does not carry the CID length: every CID we issue has ours. */
		if (len < 1 + SL_QUIC_CID_LEN)
			return h->self;
		cid = data + 1;
	}
	int w = sl_quic_cid_worker(cid, SL_QUIC_CID_LEN);
	if (w < 0 || w >= h->nworkers)
		return h->self;
	return (uint16_t)w;
}

int sl_handoff_route(struct sl_handoff *h, const struct sl_quic_path *path, const uint8_t *data,
		     size_t len)
{
	uint16_t w = sl_handoff_owner(h, data, len);
	if (w == h->self)
		return 0;
	/* One block: the path first, then the datagram, so the owner needs nothing else. */
	struct sl_buf *b = sl_buf_alloc(sizeof(*path) + len);
	if (b == NULL) {
		h->stats.dropped_nomem++;
		return SL_ENOMEM;
	}
	memcpy(b->data, path, sizeof(*path));
	memcpy(b->data + sizeof(*path), data, len);
	b->len = (uint32_t)(sizeof(*path) + len);
	sl_buf_stats()->bytes_copied += len;
	struct sl_msg m = {
		.type = SL_MSG_BUF,
		.flags = SL_HANDOFF_MSG_DATAGRAM,
		.u32 = (uint32_t)len,
		.u64 = h->self,
		.obj = b,
	};
	if (sl_ring_send(h->to[w], &m, 1) != 1) {
		sl_buf_unref(b);
		h->stats.dropped_full++;
		return SL_ENOSPC;
	}
	h->stats.handed_off++;
	h->stats.handed_bytes += len;
	return 1;
}

int sl_handoff_deliver_msg(struct sl_handoff *h, const struct sl_msg *m,
			   sl_handoff_deliver_fn deliver, void *arg)
{
	if (m->type != SL_MSG_BUF || !(m->flags & SL_HANDOFF_MSG_DATAGRAM) || m->obj == NULL)
		return 0;
	struct sl_buf *b = m->obj;
	struct sl_quic_path path;
	if (b->len >= sizeof(path) && b->len - sizeof(path) == m->u32) {
		/* Copied out rather than cast: the buffer promises no alignment for the path. */
		memcpy(&path, b->data, sizeof(path));
		deliver(arg, &path, b->data + sizeof(path), m->u32);
		h->stats.received++;
	} else {
		h->stats.foreign++;
	}
	sl_buf_unref(b);
	return 1;
}

#define DRAIN_CHUNK 32

unsigned int sl_handoff_poll(struct sl_handoff *h, sl_handoff_deliver_fn deliver, void *arg,
			     unsigned int max)
{
	unsigned int done = 0; /* messages consumed, the bound on work per call */
	uint64_t before = h->stats.received;
	if (h->nworkers < 2)
		return 0;
	for (uint16_t k = 0; k < h->nworkers && done < max; k++) {
		uint16_t w = (uint16_t)((h->next_from + k) % h->nworkers);
		if (w == h->self || h->from[w] == NULL)
			continue;
		struct sl_msg msgs[DRAIN_CHUNK];
		unsigned int want = max - done < DRAIN_CHUNK ? max - done : DRAIN_CHUNK;
		unsigned int n = sl_ring_recv(h->from[w], msgs, want);
		for (unsigned int i = 0; i < n; i++) {
			if (sl_handoff_deliver_msg(h, &msgs[i], deliver, arg) == 1) {
				done++;
				continue;
			}
			/* Not ours to interpret: drop it, releasing the one kind of reference
			 * we know how to release. */
			done++;
			h->stats.foreign++;
			if (msgs[i].type == SL_MSG_BUF)
				sl_buf_unref(msgs[i].obj);
		}
	}
	h->next_from = (uint16_t)((h->next_from + 1) % h->nworkers);
	return (unsigned int)(h->stats.received - before);
}

struct drain_ctx {
	struct sl_quic_endpoint *ep;
	uint64_t now_ns;
};

static void deliver_to_endpoint(void *arg, const struct sl_quic_path *path, const uint8_t *data,
				size_t len)
{
	struct drain_ctx *d = arg;
	sl_quic_endpoint_recv(d->ep, path, data, len, d->now_ns);
}

unsigned int sl_handoff_drain(struct sl_handoff *h, struct sl_quic_endpoint *ep, unsigned int max,
			      uint64_t now_ns)
{
	struct drain_ctx d = {ep, now_ns};
	return sl_handoff_poll(h, deliver_to_endpoint, &d, max);
}

#define T struct sl_handoff_stats
const struct sl_stat_field sl_handoff_stats_fields[] = {
	SL_STAT_U(T, handed_off, NULL),
	SL_STAT_U(T, handed_bytes, NULL),
	SL_STAT_U(T, received, NULL),
	SL_STAT_U(T, dropped_full, NULL),
	SL_STAT_U(T, dropped_nomem, NULL),
	SL_STAT_U(T, foreign, NULL),
	SL_STAT_TABLE_END,
};
#undef T
