/* SPDX-License-Identifier: Apache-2.0 */
#include "log/streamset.h"

#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

bool sl_stream_name_valid(const char *name, size_t n)
{
	if (name == NULL || n == 0 || n > SL_STREAM_NAME_MAX)
		return false;
	if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static int def_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sl_stream_def *)a)->name,
		      ((const struct sl_stream_def *)b)->name);
}

struct sl_stream_set *sl_stream_set_new(const struct sl_stream_def *defs, uint32_t n,
					uint64_t version)
{
	if (n > 0 && defs == NULL)
		return NULL;
	struct sl_stream_set *s = malloc(sizeof(*s) + (size_t)n * sizeof(s->defs[0]));
	if (s == NULL)
		return NULL;
	s->refs_ = 1;
	s->count = n;
	s->version = version;
	if (n)
		memcpy(s->defs, defs, (size_t)n * sizeof(s->defs[0]));
	qsort(s->defs, n, sizeof(s->defs[0]), def_cmp);
	for (uint32_t i = 0; i < n; i++) {
		bool dup = i > 0 && strcmp(s->defs[i - 1].name, s->defs[i].name) == 0;
		for (uint32_t k = 0; k < i && !dup; k++)
			dup = s->defs[k].id == s->defs[i].id;
		if (dup) {
			free(s);
			return NULL;
		}
	}
	return s;
}

struct sl_stream_set *sl_stream_set_ref(struct sl_stream_set *s)
{
	if (s)
		__atomic_fetch_add(&s->refs_, 1, __ATOMIC_RELAXED);
	return s;
}

void sl_stream_set_unref(struct sl_stream_set *s)
{
	if (s == NULL)
		return;
	if (__atomic_sub_fetch(&s->refs_, 1, __ATOMIC_RELEASE) == 0) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		free(s);
	}
}

const struct sl_stream_def *sl_stream_set_find(const struct sl_stream_set *s, const char *name,
					       size_t n)
{
	if (s == NULL || name == NULL || n > SL_STREAM_NAME_MAX)
		return NULL;
	char key[SL_STREAM_NAME_MAX + 1];
	memcpy(key, name, n);
	key[n] = 0;
	uint32_t lo = 0, hi = s->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = strcmp(key, s->defs[mid].name);
		if (c == 0)
			return &s->defs[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct sl_stream_def *sl_stream_set_find_id(const struct sl_stream_set *s, uint64_t id)
{
	for (uint32_t i = 0; s != NULL && i < s->count; i++)
		if (s->defs[i].id == id)
			return &s->defs[i];
	return NULL;
}

uint32_t sl_stream_partition_slot(const char *name, uint32_t partition, uint32_t slots)
{
	/* The partition number seeds the hash of the name: one pass over the name, and
	 * partitions of one stream spread over the slots independently. */
	uint64_t h = sl_hash64(name, strlen(name), 0x736c7061u + (uint64_t)partition);
	return (uint32_t)(h & (slots - 1));
}
