/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BUFFER_RETGC_H
#define SL_BUFFER_RETGC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buffer/objstore.h"
#include "core/stats.h"

/*
 * The retention garbage collector of the durable partitions' batch objects (docs/durable.md,
 * "Retention"), the sibling of gc.h for objects that an index, not a manifest, keeps alive.
 * Sans-IO and single-core: in the daemon it runs on io lcore 0, beside the metadata event log.
 *
 *   - An object is LIVE while it holds references: sl_retgc_live gives it a count (the
 *     caller's unit: ranges still retained, or holders of them) and the position of the
 *     segment event that named it in the metadata log.
 *   - sl_retgc_release takes references away; at 0 the object is DEAD from that moment.
 *   - A dead object is deleted once grace_ns has passed (readers that looked it up just before
 *     may still be reading it), unless the pinned hook says someone (the export queue) still
 *     needs it: then it is kept and asked again after another grace period. A failed delete
 *     is counted and retried after another grace period too.
 *   - Per metadata partition the trim point is the lowest offset whose event names an object
 *     not yet deleted: every event below it names an object that is gone, so the log may drop
 *     them (and recovery never reads them again).
 *
 * Releasing an object never seen (its event failed, or it was written and never indexed)
 * makes it dead at once; deleting a missing object counts as deleted.
 */
struct sl_retgc;

struct sl_retgc_config {
	struct sl_objstore *store; /* required; the collector submits deletes and polls it */
	uint64_t grace_ns;	   /* between death and delete; default 60 s */
	uint32_t meta_partitions;  /* the metadata log's partitions; default 16 */
	uint32_t max_deletes;	   /* deletes in flight at once; default 64 */
	/* Asked right before a delete; true keeps the object (NULL: nothing is pinned). */
	bool (*pinned)(void *arg, const char *key);
	void *pinned_arg;
};

void sl_retgc_config_default(struct sl_retgc_config *cfg);

struct sl_retgc_stats {
	uint64_t objects_live, bytes_live; /* gauges */
	uint64_t objects_dead;		   /* gauge: dead, not yet deleted */
	uint64_t gc_dead;		   /* objects that became dead */
	uint64_t gc_deleted, gc_bytes_deleted;
	uint64_t gc_delete_failed; /* retried after another grace period */
	uint64_t gc_pinned;	   /* deletes put off because the object was pinned */
	uint32_t deletes_inflight;
};
extern const struct sl_stat_field sl_retgc_stats_fields[];

/* Returns 0, SL_EINVAL (no store, no partitions), SL_ENOMEM. */
int sl_retgc_new(const struct sl_retgc_config *cfg, struct sl_retgc **out);

/* Sets the pinned hook after creation (the export queue lives on the io core that adopts the
 * collector, and exists only there). NULL clears it. */
void sl_retgc_set_pinned(struct sl_retgc *gc, bool (*pinned)(void *arg, const char *key),
			 void *arg);

/* Frees the collector. Deletes in flight must have completed (sl_retgc_busy false) or the store
 * must be destroyed first. NULL is ignored. */
void sl_retgc_free(struct sl_retgc *gc);

/*
 * Makes key live with refs (>= 1) references. Its event is at (meta_partition, meta_offset) of
 * the metadata log (meta_partition < 0: not known; the object then holds no trim point back).
 * Events of one partition must be given in offset order. Returns 0, SL_EINVAL, SL_EDUP (key is
 * already known), SL_ENOMEM.
 */
int sl_retgc_live(struct sl_retgc *gc, const char *key, uint64_t size, uint32_t refs,
		  int32_t meta_partition, int64_t meta_offset);

/* Takes n references of key away; at none left it is dead as of now_ns. A key never made live
 * is dead at once. Returns 0, SL_EINVAL, SL_ENOMEM. */
int sl_retgc_release(struct sl_retgc *gc, const char *key, uint32_t n, uint64_t now_ns);

/* Says that the metadata partition's log ends at next (the offset after its last event): the
 * trim point of a partition whose events all name deleted objects. */
void sl_retgc_log_end(struct sl_retgc *gc, int32_t meta_partition, int64_t next);

/*
 * Deletes the dead objects whose grace has passed and polls the store. Returns the time by
 * which it wants to be polled again (UINT64_MAX: nothing pending).
 */
uint64_t sl_retgc_poll(struct sl_retgc *gc, uint64_t now_ns);

/* The partition's trim point (see above), or -1 when nothing is known of it. */
int64_t sl_retgc_trim_point(const struct sl_retgc *gc, int32_t meta_partition);

/* Whether deletes are in flight. */
bool sl_retgc_busy(const struct sl_retgc *gc);

void sl_retgc_stats(const struct sl_retgc *gc, struct sl_retgc_stats *out);

#endif
