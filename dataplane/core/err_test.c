/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"

#include <string.h>

static void every_code_has_a_name_and_text(void **state)
{
	(void)state;
	for (int e = 0; e >= SL_ERR_MIN; e--) {
		assert_string_not_equal(sl_errname(e), "SL_E?");
		assert_string_not_equal(sl_strerror(e), "unknown error");
	}
	assert_string_equal(sl_errname(SL_EDUP), "SL_EDUP");
	assert_string_equal(sl_strerror(SL_ETRUNC), "truncated input");
}

static void unknown_codes_are_reported_as_unknown(void **state)
{
	(void)state;
	assert_string_equal(sl_errname(SL_ERR_MIN - 1), "SL_E?");
	assert_string_equal(sl_strerror(5), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_a_name_and_text),
		cmocka_unit_test(unknown_codes_are_reported_as_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
