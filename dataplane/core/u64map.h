/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_U64MAP_H
#define SL_CORE_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A single-owner hash map from u64 to u64: open addressing, linear probing, backward-shift
 * deletion (no tombstones, so lookups stay short under churn). Engines use it for small
 * per-object indexes (a track's cached sequences) where rte_hash would need the EAL's memory
 * and a named, fixed-size table per object.
 */
struct sl_u64map_slot {
	uint64_t key;
	uint64_t val;
	uint64_t used;
};

struct sl_u64map {
	struct sl_u64map_slot *slots;
	size_t mask; /* capacity - 1; capacity is a power of two */
	size_t count;
};

/* Initialises an empty map with room for about hint entries. Returns 0 or SL_ENOMEM. */
int sl_u64map_init(struct sl_u64map *m, size_t hint);
void sl_u64map_fini(struct sl_u64map *m);

/* Inserts key -> val. Errors: SL_EDUP (key present; the map is unchanged), SL_ENOMEM. */
int sl_u64map_insert(struct sl_u64map *m, uint64_t key, uint64_t val);

/* Looks key up; stores its value in *val (if val is not NULL). Returns true if found. */
bool sl_u64map_get(const struct sl_u64map *m, uint64_t key, uint64_t *val);

/* Removes key. Returns 0, or SL_ENOTFOUND. */
int sl_u64map_remove(struct sl_u64map *m, uint64_t key);

static inline size_t sl_u64map_count(const struct sl_u64map *m)
{
	return m->count;
}

#endif
