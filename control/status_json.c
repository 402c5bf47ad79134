/* SPDX-License-Identifier: Apache-2.0 */
#include "control/status_json.h"

#include "control/stats_json.h"

json_t *sl_status_worker_json(const struct sl_worker_stats *s)
{
	json_t *w = sl_stats_to_json(s, sl_worker_stats_fields);
	if (w && !s->durable)
		json_object_del(w, "durable");
	return w;
}

json_t *sl_status_iocore_json(const struct sl_iocore_stats *s)
{
	json_t *j = sl_stats_to_json(s, sl_iocore_stats_fields);
	if (j == NULL)
		return NULL;
	if (!s->metalog) {
		json_object_del(j, "metalog");
		return j;
	}
	/* What the log holds in memory: everything it took in and has not trimmed. */
	json_object_set_new(json_object_get(j, "metalog"), "records_in_memory",
			    json_integer((json_int_t)(s->mlog.published + s->mlog.recovered -
						      s->mlog.trimmed)));
	return j;
}
