/* SPDX-License-Identifier: Apache-2.0 */
#include "core/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static uint64_t load(const uint8_t *p, uint32_t size)
{
	switch (size) {
	case 1:
		return *p;
	case 2: {
		uint16_t v;
		memcpy(&v, p, 2);
		return v;
	}
	case 4: {
		uint32_t v;
		memcpy(&v, p, 4);
		return v;
	}
	case 8: {
		uint64_t v;
		memcpy(&v, p, 8);
		return v;
	}
	default:
		return 0;
	}
}

static void store_add(uint8_t *p, uint32_t size, uint64_t add)
{
	uint64_t v = load(p, size) + add;
	switch (size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2: {
		uint16_t x = (uint16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case 4: {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	case 8:
		memcpy(p, &v, 8);
		break;
	}
}

uint64_t sl_stat_get(const void *s, const struct sl_stat_field *f)
{
	return load((const uint8_t *)s + f->offset, f->size);
}

void sl_stats_add(void *to, const void *from, const struct sl_stat_field *table, bool gauges)
{
	uint8_t *t = to;
	const uint8_t *a = from;
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END; f++) {
		if (f->flags & (SL_STAT_F_ALIAS | SL_STAT_F_HIDDEN))
			continue;
		if ((f->flags & SL_STAT_F_GAUGE) && !gauges)
			continue;
		if (f->type == SL_STAT_UINT) {
			store_add(t + f->offset, f->size, load(a + f->offset, f->size));
		} else if (f->type == SL_STAT_ARRAY) {
			for (uint32_t i = 0; i < f->count; i++) {
				uint32_t o = f->offset + i * f->size;
				store_add(t + o, f->size, load(a + o, f->size));
			}
		} else if (f->type == SL_STAT_STRUCT) {
			sl_stats_add(t + f->offset, a + f->offset, f->sub, gauges);
		}
	}
}

static int by_offset(const void *x, const void *y)
{
	const struct sl_stat_field *a = *(const struct sl_stat_field *const *)x;
	const struct sl_stat_field *b = *(const struct sl_stat_field *const *)y;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* The bytes a row covers and the alignment its member needs (scalars are self-aligned up to 8;
 * an embedded struct is assumed to need 8, the largest any counter struct has). */
static uint32_t row_bytes(const struct sl_stat_field *f)
{
	return f->type == SL_STAT_ARRAY ? f->size * f->count : f->size;
}

static uint32_t row_align(const struct sl_stat_field *f)
{
	if (f->type == SL_STAT_STRUCT)
		return 8;
	return f->size < 8 ? f->size : 8;
}

int sl_stats_check_covers(const struct sl_stat_field *table, size_t size, char *err, size_t errlen)
{
	size_t n = 0;
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END; f++)
		n++;
	const struct sl_stat_field **rows = calloc(n ? n : 1, sizeof(*rows));
	if (rows == NULL) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!(table[i].flags & SL_STAT_F_ALIAS))
			rows[k++] = &table[i];
	qsort(rows, k, sizeof(*rows), by_offset);
	size_t end = 0;
	int rc = 0;
	for (size_t i = 0; i < k && rc == 0; i++) {
		const struct sl_stat_field *f = rows[i];
		if (f->offset < end) {
			snprintf(err, errlen, "row '%s' at offset %u overlaps the row before it",
				 f->name, (unsigned)f->offset);
			rc = SL_EINVAL;
		} else if (f->offset - end >= row_align(f)) {
			snprintf(
				err, errlen,
				"bytes %zu..%u (before row '%s') are described by no row: a member "
				"without a table entry",
				end, (unsigned)f->offset, f->name);
			rc = SL_EINVAL;
		}
		end = (size_t)f->offset + row_bytes(f);
	}
	if (rc == 0 && (end > size || size - end >= 8)) {
		snprintf(err, errlen,
			 "bytes %zu..%zu at the end are described by no row: a member without a "
			 "table entry",
			 end, size);
		rc = SL_EINVAL;
	}
	free(rows);
	return rc;
}
