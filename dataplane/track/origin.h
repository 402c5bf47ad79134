/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_TRACK_ORIGIN_H
#define SL_TRACK_ORIGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wait.h"
#include "track/track.h"

/*
 * The top of the live hierarchy: origin -> broadcast -> track -> group -> frame. An origin holds
 * the broadcasts published on one shard, indexed by normalised path, and tells interested
 * parties (sessions that sent ANNOUNCE_INTEREST, relays) which broadcasts are active under a
 * prefix: first the current set, then every change, as moq-lite's ANNOUNCE stream does.
 * Single core, like the tracks it holds.
 */
struct sl_origin;
struct sl_broadcast;
struct sl_announced;

/* Creates an empty origin; track_defaults (NULL: defaults) configures every track it creates. */
struct sl_origin *sl_origin_new(const struct sl_track_config *track_defaults);

/* Unpublishes every broadcast (as sl_origin_unpublish) and frees the origin. Announce
 * consumers must have been freed first. */
void sl_origin_free(struct sl_origin *o);

/* Replaces the configuration given to tracks created from now on (existing tracks keep theirs). */
void sl_origin_set_track_config(struct sl_origin *o, const struct sl_track_config *cfg);

/* Returns the number of active broadcasts. */
uint32_t sl_origin_broadcasts(const struct sl_origin *o);

/*
 * Publishes a broadcast at path (normalised first) and announces it. *out receives a reference
 * the publisher owns. Errors: SL_EDUP (a broadcast is active there), SL_EINVAL / SL_ERANGE (bad
 * path, see sl_path_normalize), SL_ENOMEM.
 */
int sl_origin_publish(struct sl_origin *o, const char *path, struct sl_broadcast **out);

/*
 * Ends a broadcast: announces it ended, and aborts with SL_EDROPPED every track that was not
 * finished (consumers of finished tracks read on undisturbed). The publisher's reference stays
 * valid until released. Errors: SL_ECLOSED (already unpublished).
 */
int sl_origin_unpublish(struct sl_origin *o, struct sl_broadcast *b);

/* Looks up the active broadcast at path (normalised first). Borrowed pointer, or NULL. */
struct sl_broadcast *sl_origin_find(struct sl_origin *o, const char *path);

struct sl_broadcast *sl_broadcast_ref(struct sl_broadcast *b);
void sl_broadcast_unref(struct sl_broadcast *b);
const char *sl_broadcast_path(const struct sl_broadcast *b);

/*
 * Creates track name in b; *out receives a reference. Errors: SL_EDUP (exists), SL_ECLOSED
 * (unpublished), SL_EINVAL (empty name), SL_ENOMEM.
 */
int sl_broadcast_create_track(struct sl_broadcast *b, const char *name, uint8_t priority,
			      struct sl_track **out);

/* The track called name, borrowed, or NULL. */
struct sl_track *sl_broadcast_track(struct sl_broadcast *b, const char *name);

/*
 * A broadcast's provider creates tracks on demand: the publisher's session (which then
 * subscribes upstream) or the cross-worker link (which subscribes at the owning worker). It
 * receives the broadcast and the track name, creates the track with sl_broadcast_create_track
 * and starts feeding it, and returns 0 with the track's reference in *out, or an error.
 */
typedef int (*sl_broadcast_provider_fn)(void *arg, struct sl_broadcast *b, const char *name,
					uint8_t priority, struct sl_track **out);
void sl_broadcast_set_provider(struct sl_broadcast *b, sl_broadcast_provider_fn fn, void *arg);

/*
 * The track called name: the cached one (a new reference), or one the provider creates.
 * Errors: SL_ENOTFOUND (no such track and no provider), SL_ECLOSED (unpublished), the
 * provider's error.
 */
int sl_broadcast_request_track(struct sl_broadcast *b, const char *name, uint8_t priority,
			       struct sl_track **out);

/* Forgets track t (the broadcast's reference is dropped; holders keep theirs). Used when its
 * upstream ends or nobody reads it any more, so a later request starts a fresh one.
 * Errors: SL_ENOTFOUND. */
int sl_broadcast_remove_track(struct sl_broadcast *b, struct sl_track *t);

/* An owner pointer for whoever published the broadcast (session, cross-worker link). */
void sl_broadcast_set_user(struct sl_broadcast *b, void *user);
void *sl_broadcast_user(const struct sl_broadcast *b);

/* One announcement: the path relative to the consumer's prefix, and whether it is active. */
struct sl_announce {
	const char *suffix; /* valid until the next sl_announced_next or sl_announced_free */
	bool active;
};

/*
 * Starts an announce consumer for prefix (normalised). The broadcasts active under it now are
 * queued as active announcements first. Returns NULL on a bad prefix or allocation failure.
 */
struct sl_announced *sl_origin_announced(struct sl_origin *o, const char *prefix);

/* The announcements queued and not yet taken: right after sl_origin_announced, the number of
 * broadcasts active under the prefix (what moq-lite-05's ANNOUNCE_OK counts). */
uint32_t sl_announced_pending(const struct sl_announced *a);

/* Returns 0 with the next announcement in *ev, or SL_EAGAIN (w armed; fires on the next one). */
int sl_announced_next(struct sl_announced *a, struct sl_waiter *w, struct sl_announce *ev);

/* Frees the consumer and its queued announcements (disarming nothing: cancel w yourself). */
void sl_announced_free(struct sl_announced *a);

#endif
