/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_SHARD_XSHARD_H
#define SL_SHARD_XSHARD_H

#include <stdint.h>

#include <rte_ring.h>

#include "core/trace.h"
#include "track/origin.h"
#include "core/stats.h"

/*
 * The cross-worker link of the live path (DESIGN.md, "How the engines compose"). Every worker
 * has its own origin and its own sessions; this link makes the workers one relay:
 *
 *  - announcements: a broadcast published by a session on worker W is announced to every other
 *    worker, which publishes a *proxy* broadcast at the same path in its origin, so its
 *    subscribers and announce consumers see it;
 *  - ownership: each track has an owner worker, hash(broadcast/track) over the workers (the
 *    shard map). A track requested on worker S from a proxy is fetched from its owner O, and the
 *    owner fetches it from the ingest worker W (the publisher's) when O != W. Each hop keeps a
 *    *mirror* of the track (a local track with its own cache) and the hop before it runs a
 *    *forwarder*, a track consumer that sends every group and frame through the SPSC ring;
 *  - fan-out: a frame crosses each ring once as a buffer reference (no copy), and each worker
 *    fans it out to its local subscribers from its mirror. A worker with no subscriber for a
 *    track receives nothing for it: the last consumer leaving a mirror unsubscribes upstream.
 *
 * Rings carry struct sl_msg (core/ring.h). Everything runs on the owning worker's core in
 * sl_xshard_poll (asserted in debug builds); nothing is shared but the rings.
 */
struct sl_xshard;

#define SL_XSHARD_MAX_WORKERS 64
#define SL_SHARD_MAP_SLOTS    1024

/*
 * The shard map: the owner worker of each of SL_SHARD_MAP_SLOTS slots, a track's slot being a
 * hash of its broadcast path and name. The control plane fills it once at start-up and every
 * worker reads the same copy (it never changes while workers run, so no synchronisation is
 * needed). Slots rather than "hash mod workers" let the control plane weight workers (a core
 * that also serves interrupts or io work gets fewer tracks) without changing the hash.
 */
struct sl_shard_map {
	uint16_t nworkers;
	uint16_t slot[SL_SHARD_MAP_SLOTS];
};

/*
 * Fills map for nworkers workers: weights[w] slots in proportion to each worker's weight, or
 * an even spread when weights is NULL. Slots are interleaved (not in blocks) so that a few
 * hot tracks do not land on one worker by accident of the hash. Returns 0, or SL_EINVAL
 * (nworkers 0 or above SL_XSHARD_MAX_WORKERS, or every weight 0).
 */
int sl_shard_map_fill(struct sl_shard_map *map, uint16_t nworkers, const uint32_t *weights);

/* The slot of track `track` of broadcast `path`. */
uint32_t sl_shard_map_slot(const char *path, const char *track);

struct sl_xshard_config {
	uint16_t self;
	uint16_t nworkers;
	/* to[w] carries messages from self to worker w, from[w] from w to self (NULL for self).
	 * Both must be single-producer/single-consumer rings of struct sl_msg. */
	struct rte_ring *to[SL_XSHARD_MAX_WORKERS];
	struct rte_ring *from[SL_XSHARD_MAX_WORKERS];
	/* The shard map (read only, must outlive the link and name workers < nworkers); NULL
	 * spreads slots evenly. */
	const struct sl_shard_map *map;
	/* The worker's latency breakdown: frames written into mirrors pass "mirrored". */
	struct sl_trace *trace;
};

struct sl_xshard_stats {
	uint64_t msgs_in, msgs_out;
	uint64_t ring_full;	   /* sends deferred because a ring was full */
	uint64_t announces_out;	   /* local broadcasts announced to the other workers */
	uint64_t proxies;	   /* proxy broadcasts published now */
	uint64_t mirrors;	   /* tracks mirrored from another worker now */
	uint64_t forwarders;	   /* tracks forwarded to another worker now */
	uint64_t frames_forwarded; /* frame references sent */
	uint64_t frames_mirrored;  /* frames written into mirrors */
	uint64_t upstream_errors;  /* subscriptions refused upstream (no such broadcast/track) */
};
/* Its members, for status and the counter sums (core/stats.h). */
extern const struct sl_stat_field sl_xshard_stats_fields[];

/*
 * Creates the link for one worker over origin (which it watches for local broadcasts and in
 * which it publishes proxies). Returns 0, SL_EINVAL (bad config), SL_ENOMEM.
 */
int sl_xshard_new(const struct sl_xshard_config *cfg, struct sl_origin *origin,
		  struct sl_xshard **out);

/* Ends every mirror and forwarder and frees the link. Messages still in rings are the other
 * workers' to drain (they release what they receive). */
void sl_xshard_free(struct sl_xshard *x);

/*
 * Does the link's work: drains the incoming rings, announces local broadcast changes, pumps
 * the forwarders that have data and retries sends that found a ring full. Returns the number
 * of messages handled (0 means the link was idle). now_ns stamps mirrored groups.
 */
unsigned int sl_xshard_poll(struct sl_xshard *x, uint64_t now_ns);

/*
 * Whether the link holds work that no other core will wake this one for: messages waiting for
 * a full ring to drain (the peer does not ring back when it has drained) or forwarders made
 * ready since the last poll. An idle worker must then come back soon instead of sleeping.
 */
bool sl_xshard_stalled(const struct sl_xshard *x);

/* The worker that owns track `track` of broadcast `path`: its slot in the shard map. */
uint16_t sl_xshard_owner(const struct sl_xshard *x, const char *path, const char *track);

void sl_xshard_stats(const struct sl_xshard *x, struct sl_xshard_stats *out);

/*
 * The link is its worker's (core/owner.h): debug builds check that every call comes from the
 * thread that owns it. The worker's loop adopts it when it starts, since the control core built
 * it, and disowns it when it stops, so that the control core may free it.
 */
void sl_xshard_adopt(struct sl_xshard *x);
void sl_xshard_disown(struct sl_xshard *x);

#endif
