/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/log.h"

#include <stdio.h>
#include <string.h>

static void modules_have_their_own_log_types(void **state)
{
	(void)state;
	for (int i = 0; i < SL_LOG__COUNT; i++) {
		assert_non_null(sl_log_module_name(i));
		for (int j = 0; j < i; j++)
			assert_int_not_equal(sl_log_types[i], sl_log_types[j]);
	}
	assert_null(sl_log_module_name(SL_LOG__COUNT));
}

static void levels_are_set_per_module_by_pattern(void **state)
{
	(void)state;
	assert_int_equal(sl_log_set_level("shardline.track", RTE_LOG_DEBUG), 0);
	assert_int_equal(rte_log_get_level(sl_log_types[SL_LOG_TRACK]), RTE_LOG_DEBUG);
	assert_int_equal(rte_log_get_level(sl_log_types[SL_LOG_MOQ]), RTE_LOG_NOTICE);
	assert_int_equal(sl_log_set_level("shardline.*", RTE_LOG_ERR), 0);
	assert_int_equal(rte_log_get_level(sl_log_types[SL_LOG_MOQ]), RTE_LOG_ERR);
	assert_int_equal(sl_log_set_level("shardline.*", 99), SL_EINVAL);
}

static void messages_reach_the_stream(void **state)
{
	(void)state;
	char out[256] = {0};
	FILE *f = fmemopen(out, sizeof(out) - 1, "w");
	rte_openlog_stream(f);
	sl_log_set_level("shardline.track", RTE_LOG_INFO);
	SL_LOG(TRACK, INFO, "evicted %d groups", 3);
	SL_LOG(TRACK, DEBUG, "not shown");
	fflush(f);
	rte_openlog_stream(NULL);
	fclose(f);
	assert_non_null(strstr(out, "shardline.TRACK: evicted 3 groups"));
	assert_null(strstr(out, "not shown"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(modules_have_their_own_log_types),
		cmocka_unit_test(levels_are_set_per_module_by_pattern),
		cmocka_unit_test(messages_reach_the_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
