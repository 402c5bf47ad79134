/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_STATUS_JSON_H
#define SL_CONTROL_STATUS_JSON_H

#include <jansson.h>

#include "control/iocore.h"
#include "shard/worker.h"

/*
 * The per-core objects of `shardctl status`, rendered from the counter tables. They live apart
 * from shardlined.c so that the unit test renders exactly what the daemon sends.
 */

/*
 * A worker's latency breakdown: {"sample", "stages": {stage: {"count", "p50_us", "p99_us",
 * "buckets": [[index, count], ...]}}}, buckets as core/trace.h numbers them.
 */
json_t *sl_status_trace_json(const struct sl_trace *t);

/* One worker's object ("durable" only when it has durable partitions, "trace" once the latency
 * breakdown was used). NULL on ENOMEM. */
json_t *sl_status_worker_json(const struct sl_worker_stats *s);

/* One io core's object ("metalog" only on the core that owns the metadata log). NULL on
 * ENOMEM. */
json_t *sl_status_iocore_json(const struct sl_iocore_stats *s);

#endif
