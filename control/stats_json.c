/* SPDX-License-Identifier: Apache-2.0 */
#include "control/stats_json.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

/* The sub-object at dotted path under obj, created as needed; obj itself for NULL or "". */
static json_t *sub_object(json_t *obj, const char *path)
{
	while (obj && path && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		char key[64];
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		json_t *next = json_object_get(obj, key);
		if (!json_is_object(next)) {
			next = json_object();
			if (next == NULL || json_object_set_new(obj, key, next) != 0)
				return NULL;
		}
		obj = next;
		path = dot ? dot + 1 : "";
	}
	return obj;
}

/* Joins two dotted paths (either may be NULL or empty) into buf. */
static const char *join(char *buf, size_t len, const char *a, const char *b)
{
	if (a == NULL || *a == '\0')
		return b;
	if (b == NULL || *b == '\0')
		return a;
	snprintf(buf, len, "%s.%s", a, b);
	return buf;
}

static int put(json_t *root, const uint8_t *s, const struct sl_stat_field *table,
	       const char *prefix, const char *path)
{
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END; f++) {
		if (f->flags & SL_STAT_F_HIDDEN)
			continue;
		char pbuf[128], kbuf[128];
		const char *where = join(pbuf, sizeof(pbuf), path, f->in);
		snprintf(kbuf, sizeof(kbuf), "%s%s", prefix, f->name);
		if (f->type == SL_STAT_STRUCT) {
			int rc = put(root, s + f->offset, f->sub, kbuf, where);
			if (rc != 0)
				return rc;
			continue;
		}
		json_t *obj = sub_object(root, where);
		if (obj == NULL)
			return SL_ENOMEM;
		json_t *v = NULL;
		if (f->type == SL_STAT_UINT) {
			v = json_integer((json_int_t)sl_stat_get(s, f));
		} else if (f->type == SL_STAT_BOOL) {
			v = json_boolean(sl_stat_get(s, f) != 0);
		} else if (f->type == SL_STAT_FLAG) {
			v = json_boolean((sl_stat_get(s, f) & f->mask) != 0);
		} else if (f->type == SL_STAT_ARRAY) {
			v = json_object();
			for (uint32_t i = 0; v && i < f->count; i++) {
				uint64_t x;
				memcpy(&x, s + f->offset + i * f->size, sizeof(x));
				json_object_set_new(v, f->names[i], json_integer((json_int_t)x));
			}
		}
		if (v == NULL || json_object_set_new(obj, kbuf, v) != 0)
			return SL_ENOMEM;
	}
	return 0;
}

int sl_stats_json_put(json_t *obj, const void *s, const struct sl_stat_field *table)
{
	return put(obj, s, table, "", NULL);
}

json_t *sl_stats_to_json(const void *s, const struct sl_stat_field *table)
{
	json_t *j = json_object();
	if (j && sl_stats_json_put(j, s, table) != 0) {
		json_decref(j);
		j = NULL;
	}
	return j;
}
