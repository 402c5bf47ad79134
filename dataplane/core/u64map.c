/* SPDX-License-Identifier: Apache-2.0 */
#include "core/u64map.h"
#include "core/err.h"
#include "core/hash.h"

#include <stdlib.h>

int sl_u64map_init(struct sl_u64map *m, size_t hint)
{
	size_t cap = 8;
	while (cap < hint * 2)
		cap <<= 1;
	m->slots = calloc(cap, sizeof(*m->slots));
	if (m->slots == NULL)
		return SL_ENOMEM;
	m->mask = cap - 1;
	m->count = 0;
	return 0;
}

void sl_u64map_fini(struct sl_u64map *m)
{
	free(m->slots);
	m->slots = NULL;
	m->count = 0;
}

static void sl_u64map_put(struct sl_u64map_slot *slots, size_t mask, uint64_t key, uint64_t val)
{
	size_t i = sl_hash_u64(key) & mask;
	while (slots[i].used)
		i = (i + 1) & mask;
	slots[i].key = key;
	slots[i].val = val;
	slots[i].used = 1;
}

static int sl_u64map_grow(struct sl_u64map *m)
{
	size_t cap = (m->mask + 1) * 2;
	struct sl_u64map_slot *n = calloc(cap, sizeof(*n));
	if (n == NULL)
		return SL_ENOMEM;
	for (size_t i = 0; i <= m->mask; i++)
		if (m->slots[i].used)
			sl_u64map_put(n, cap - 1, m->slots[i].key, m->slots[i].val);
	free(m->slots);
	m->slots = n;
	m->mask = cap - 1;
	return 0;
}

static size_t sl_u64map_find(const struct sl_u64map *m, uint64_t key, bool *found)
{
	size_t i = sl_hash_u64(key) & m->mask;
	while (m->slots[i].used) {
		if (m->slots[i].key == key) {
			*found = true;
			return i;
		}
		i = (i + 1) & m->mask;
	}
	*found = false;
	return i;
}

int sl_u64map_insert(struct sl_u64map *m, uint64_t key, uint64_t val)
{
	bool found;
	sl_u64map_find(m, key, &found);
	if (found)
		return SL_EDUP;
	/* Keep the load factor at or below one half so probe runs stay short. */
	if ((m->count + 1) * 2 > m->mask + 1) {
		int rc = sl_u64map_grow(m);
		if (rc != 0)
			return rc;
	}
	sl_u64map_put(m->slots, m->mask, key, val);
	m->count++;
	return 0;
}

bool sl_u64map_get(const struct sl_u64map *m, uint64_t key, uint64_t *val)
{
	bool found;
	size_t i = sl_u64map_find(m, key, &found);
	if (found && val)
		*val = m->slots[i].val;
	return found;
}

int sl_u64map_remove(struct sl_u64map *m, uint64_t key)
{
	bool found;
	size_t i = sl_u64map_find(m, key, &found);
	if (!found)
		return SL_ENOTFOUND;
	/* Backward-shift: pull later members of the probe run into the hole when their home slot
	 * is at or before it, so no lookup ever stops early at the gap. */
	size_t j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (!m->slots[j].used)
			break;
		size_t home = sl_hash_u64(m->slots[j].key) & m->mask;
		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i].used = 0;
	m->count--;
	return 0;
}
