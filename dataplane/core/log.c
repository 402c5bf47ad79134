/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"
#include "core/err.h"

#include <stdio.h>

int sl_log_types[SL_LOG__COUNT];

static const char *const sl_log_names[SL_LOG__COUNT] = {
	[SL_LOG_CORE] = "core",	      [SL_LOG_TRACK] = "track",	    [SL_LOG_LOG] = "log",
	[SL_LOG_BUFFER] = "buffer",   [SL_LOG_QUIC] = "quic",	    [SL_LOG_MOQ] = "moq",
	[SL_LOG_SHARD] = "shard",     [SL_LOG_NET] = "net",	    [SL_LOG_OBJSTORE] = "objstore",
	[SL_LOG_METALOG] = "metalog", [SL_LOG_CONTROL] = "control",
};

const char *sl_log_module_name(enum sl_log_module m)
{
	if ((unsigned)m >= SL_LOG__COUNT)
		return NULL;
	return sl_log_names[m];
}

/* rte_log's registry is usable before rte_eal_init, so the types exist for tools and tests that
 * never start the EAL; messages then go to stderr. */
RTE_INIT(sl_log_register)
{
	char name[64];
	for (unsigned i = 0; i < SL_LOG__COUNT; i++) {
		snprintf(name, sizeof(name), "shardline.%s", sl_log_names[i]);
		int t = rte_log_register_type_and_pick_level(name, RTE_LOG_NOTICE);
		sl_log_types[i] = t < 0 ? RTE_LOGTYPE_USER1 : t;
	}
}

int sl_log_set_level(const char *pattern, int level)
{
	if (level < (int)RTE_LOG_EMERG || level > (int)RTE_LOG_DEBUG)
		return SL_EINVAL;
	if (rte_log_set_level_pattern(pattern, (uint32_t)level) != 0)
		return SL_EINVAL;
	return 0;
}
