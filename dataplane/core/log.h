/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_LOG_H
#define SL_CORE_LOG_H

#include <rte_log.h>

/*
 * Logging over rte_log, one log type per module ("shardline.track", ...), so an operator can
 * raise one module's level with the EAL option --log-level=shardline.track:debug. Logs are for
 * the control path and rare events; the hot path counts instead (DESIGN.md, convention 10).
 */
enum sl_log_module {
	SL_LOG_CORE,
	SL_LOG_TRACK,
	SL_LOG_LOG,
	SL_LOG_BUFFER,
	SL_LOG_QUIC,
	SL_LOG_MOQ,
	SL_LOG_SHARD,
	SL_LOG_NET,
	SL_LOG_OBJSTORE,
	SL_LOG_METALOG,
	SL_LOG_CONTROL,
	SL_LOG__COUNT
};

/* rte_log type ids, registered by a constructor before main runs. */
extern int sl_log_types[SL_LOG__COUNT];

/* Returns the module's name without the "shardline." prefix, or NULL for an invalid module. */
const char *sl_log_module_name(enum sl_log_module m);

/*
 * Sets the level (RTE_LOG_EMERG..RTE_LOG_DEBUG) of every module whose full name matches the
 * glob pattern, e.g. "shardline.*". Returns 0, or SL_EINVAL for a bad level.
 */
int sl_log_set_level(const char *pattern, int level);

#define SL_LOG(mod, lvl, fmt, ...)                                                                 \
	rte_log(RTE_LOG_##lvl, sl_log_types[SL_LOG_##mod], "shardline." #mod ": " fmt "\n",        \
		##__VA_ARGS__)

#endif
