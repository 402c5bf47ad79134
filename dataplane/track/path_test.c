/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "track/path.h"

#include <string.h>

static void norm(const char *in, const char *want)
{
	char out[SL_PATH_MAX_LEN + 8];
	size_t len;
	assert_int_equal(sl_path_normalize(in, strlen(in), out, &len), 0);
	assert_string_equal(out, want);
	assert_int_equal(len, strlen(want));
}

static void trims_and_collapses(void **state)
{
	(void)state;
	norm("", "");
	norm("/", "");
	norm("///", "");
	norm("demo", "demo");
	norm("/demo/", "demo");
	norm("//a///b/c//", "a/b/c");
	norm("a/b", "a/b");
}

static void refuses_bad_paths(void **state)
{
	(void)state;
	char in[2 * SL_PATH_MAX_LEN], out[2 * SL_PATH_MAX_LEN];
	size_t len;
	memset(in, 'x', sizeof(in));
	assert_int_equal(sl_path_normalize(in, SL_PATH_MAX_LEN + 1, out, &len), SL_ERANGE);
	assert_int_equal(sl_path_normalize(in, SL_PATH_MAX_LEN, out, &len), 0);
	/* 33 segments */
	for (int i = 0; i < 33; i++) {
		in[2 * i] = 'a';
		in[2 * i + 1] = '/';
	}
	assert_int_equal(sl_path_normalize(in, 66, out, &len), SL_ERANGE);
	assert_int_equal(sl_path_normalize(in, 64, out, &len), 0);
	assert_int_equal(sl_path_normalize("a\0b", 3, out, &len), SL_EINVAL);
}

static void prefix_matches_on_segment_boundaries(void **state)
{
	(void)state;
	const char *s;
	assert_true(sl_path_strip_prefix("foo/bar", "foo", &s));
	assert_string_equal(s, "bar");
	assert_false(sl_path_strip_prefix("foobar", "foo", &s));
	assert_true(sl_path_strip_prefix("foo", "foo", &s));
	assert_string_equal(s, "");
	assert_true(sl_path_strip_prefix("foo/bar", "", &s));
	assert_string_equal(s, "foo/bar");
	assert_false(sl_path_strip_prefix("fo", "foo", &s));
	assert_true(sl_path_strip_prefix("a/b/c", "a/b", &s));
	assert_string_equal(s, "c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(trims_and_collapses),
		cmocka_unit_test(refuses_bad_paths),
		cmocka_unit_test(prefix_matches_on_segment_boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
