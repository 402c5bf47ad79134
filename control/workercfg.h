/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_WORKERCFG_H
#define SL_CONTROL_WORKERCFG_H

#include <stddef.h>
#include <stdint.h>

#include "control/config.h"
#include "shard/worker.h"

/*
 * The one place where the daemon's settings (struct sl_config) become a relay worker's
 * configuration. shardlined and `shardline-bench fanout --inproc` both start workers through
 * it, and shardlined's `config set` builds the runtime message from it, so a setting reaches
 * every worker the same way whoever starts it (three hand-written copies had drifted apart).
 *
 * Only what the settings decide is filled: QUIC limits and certificate, the track cache, the
 * moq session, the durable shard and log server limits, the idle back-off and the datagram
 * size a DPDK device's MTU allows. What the caller creates stays with the caller: the packet
 * port, every ring and doorbell, the shard map, the durable store, catalogue and recovery,
 * and the durable side's start numbers (dshard.boot, wall_offset_ns, meta_partitions).
 */

/*
 * Fills out with sl_worker_config_default and then everything cfg decides for worker id of
 * nworkers. quic.cert_file and quic.key_file point into cfg, which must outlive out (until
 * sl_worker_new). The durable settings are filled, and the log protocol offered next to
 * moq-lite, when cfg->io_cores > 0, as shardlined runs its durable side exactly then.
 * Returns 0 or SL_EINVAL (nworkers 0 or above SL_XSHARD_MAX_WORKERS, id not below nworkers;
 * err says which).
 */
int sl_workercfg_fill(const struct sl_config *cfg, uint16_t id, uint16_t nworkers,
		      struct sl_worker_config *out, char *err, size_t errlen);

/*
 * Fills out with the settings a running worker takes over (SL_WORKER_CTL_CONFIG), with the
 * same values sl_workercfg_fill gives a starting worker. Returns 0 or SL_EINVAL, as above.
 */
int sl_workercfg_runtime(const struct sl_config *cfg, uint16_t nworkers,
			 struct sl_worker_runtime *out, char *err, size_t errlen);

#endif
