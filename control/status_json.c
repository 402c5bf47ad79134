/* SPDX-License-Identifier: Apache-2.0 */
#include "control/status_json.h"

#include "control/stats_json.h"

json_t *sl_status_trace_json(const struct sl_trace *t)
{
	json_t *j = json_object();
	json_t *stages = json_object();
	json_object_set_new(j, "sample", json_integer((json_int_t)t->sample));
	for (int s = 0; s < SL_TRACE_STAGES; s++) {
		const uint64_t *h = t->hist[s];
		json_t *st = json_object();
		json_t *b = json_array();
		json_object_set_new(st, "count", json_integer((json_int_t)t->count[s]));
		json_object_set_new(
			st, "p50_us",
			json_real((double)sl_trace_quantile(h, t->count[s], 0.5) / 1e3));
		json_object_set_new(
			st, "p99_us",
			json_real((double)sl_trace_quantile(h, t->count[s], 0.99) / 1e3));
		/* Non-empty buckets only, [index, count]: readers merge workers and runs. */
		for (size_t i = 0; i < SL_TRACE_BUCKETS; i++)
			if (h[i])
				json_array_append_new(
					b, json_pack("[I,I]", (json_int_t)i, (json_int_t)h[i]));
		json_object_set_new(st, "buckets", b);
		json_object_set_new(stages, sl_trace_stage_name((enum sl_trace_stage)s), st);
	}
	json_object_set_new(j, "stages", stages);
	return j;
}

json_t *sl_status_worker_json(const struct sl_worker_stats *s)
{
	json_t *w = sl_stats_to_json(s, sl_worker_stats_fields);
	if (w && !s->durable)
		json_object_del(w, "durable");
	/* Only once tracing was used: an untraced worker's status stays small. */
	bool traced = s->trace.sample != 0;
	for (int i = 0; i < SL_TRACE_STAGES; i++)
		traced |= s->trace.count[i] != 0;
	if (w && traced)
		json_object_set_new(w, "trace", sl_status_trace_json(&s->trace));
	return w;
}

json_t *sl_status_iocore_json(const struct sl_iocore_stats *s)
{
	json_t *j = sl_stats_to_json(s, sl_iocore_stats_fields);
	if (j == NULL)
		return NULL;
	if (!s->metalog) {
		json_object_del(j, "metalog");
		json_object_del(j, "gc"); /* the retention GC runs beside the log */
		return j;
	}
	/* What the log holds in memory: everything it took in and has not trimmed. */
	json_object_set_new(json_object_get(j, "metalog"), "records_in_memory",
			    json_integer((json_int_t)(s->mlog.published + s->mlog.recovered -
						      s->mlog.trimmed)));
	return j;
}
