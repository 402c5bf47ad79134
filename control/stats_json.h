/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_STATS_JSON_H
#define SL_CONTROL_STATS_JSON_H

#include <jansson.h>

#include "core/stats.h"

/*
 * Renders a counter struct described by table (core/stats.h) into JSON: each shown row under
 * its key, in the sub-object its path names (created as needed), embedded structs through their
 * own tables with their key prefix. Hidden rows are left out.
 */

/* Adds s's rows to obj. Returns 0, or SL_ENOMEM. */
int sl_stats_json_put(json_t *obj, const void *s, const struct sl_stat_field *table);

/* A new object with s's rows, or NULL on ENOMEM. */
json_t *sl_stats_to_json(const void *s, const struct sl_stat_field *table);

#endif
