/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardctl's tables and human-readable numbers: column widths and alignment, "-" for a
 * missing figure, partial rows, no trailing blanks, and the units at every boundary.
 */
#include "core/test_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/ctl_table.h"
#include "core/err.h"

/* Prints t into a string (caller frees); asserts that printing succeeded. */
static char *print(const struct sl_ctl_table *t, const char *indent)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	int rc = sl_ctl_table_print(f, t, indent);
	fclose(f);
	assert_int_equal(rc, 0);
	return text;
}

static void assert_text(char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
	free(got);
}

static void test_columns_and_alignment(void **state)
{
	(void)state;
	static const char *const head[] = {"NAME", "COUNT", "NOTE"};
	struct sl_ctl_table t;
	/* COUNT is right-aligned, header included. */
	assert_int_equal(sl_ctl_table_init(&t, head, 3, 1u << 1), 0);
	assert_int_equal(sl_ctl_table_rows(&t), 0);
	sl_ctl_table_add(&t, "alpha");
	sl_ctl_table_addf(&t, "%d", 7);
	sl_ctl_table_add(&t, "first");
	sl_ctl_table_add(&t, "b");
	sl_ctl_table_add(&t, NULL); /* not reported */
	sl_ctl_table_add(&t, "");   /* empty last cell: no blanks after COUNT */
	assert_int_equal(sl_ctl_table_rows(&t), 2);
	assert_text(print(&t, NULL), "NAME   COUNT  NOTE\n"
				     "alpha      7  first\n"
				     "b          -\n");
	assert_text(print(&t, "  "), "  NAME   COUNT  NOTE\n"
				     "  alpha      7  first\n"
				     "  b          -\n");
	sl_ctl_table_free(&t);

	/* A partial row is padded; a right-aligned last column too. */
	static const char *const h2[] = {"A", "LONG_HEADER"};
	assert_int_equal(sl_ctl_table_init(&t, h2, 2, 1u << 1), 0);
	sl_ctl_table_add(&t, "x");
	sl_ctl_table_add(&t, "12");
	sl_ctl_table_add(&t, "yy");
	assert_int_equal(sl_ctl_table_rows(&t), 2);
	assert_text(print(&t, NULL), "A   LONG_HEADER\n"
				     "x            12\n"
				     "yy\n");
	sl_ctl_table_free(&t);
}

static void test_bad_tables(void **state)
{
	(void)state;
	static const char *const head[] = {"A"};
	struct sl_ctl_table t;
	assert_int_equal(sl_ctl_table_init(&t, head, 0, 0), SL_EINVAL);
	sl_ctl_table_free(&t);
	assert_int_equal(sl_ctl_table_init(&t, head, SL_CTL_TABLE_MAX_COLS + 1, 0), SL_EINVAL);
	/* A failed table refuses cells and printing alike, with the first error. */
	assert_int_equal(sl_ctl_table_add(&t, "x"), SL_EINVAL);
	FILE *f = fopen("/dev/null", "w");
	assert_int_equal(sl_ctl_table_print(f, &t, NULL), SL_EINVAL);
	fclose(f);
	sl_ctl_table_free(&t);

	/* A write that fails is reported. */
	assert_int_equal(sl_ctl_table_init(&t, head, 1, 0), 0);
	f = fopen("/dev/full", "w");
	if (f != NULL) {
		assert_int_equal(sl_ctl_table_print(f, &t, NULL), SL_EIO);
		fclose(f);
	}
	sl_ctl_table_free(&t);
}

static void test_many_rows(void **state)
{
	(void)state;
	static const char *const head[] = {"N", "SQUARE"};
	struct sl_ctl_table t;
	assert_int_equal(sl_ctl_table_init(&t, head, 2, 3), 0);
	for (int i = 0; i < 1000; i++) {
		sl_ctl_table_addf(&t, "%d", i);
		sl_ctl_table_addf(&t, "%d", i * i);
	}
	assert_int_equal(t.err, 0);
	assert_int_equal(sl_ctl_table_rows(&t), 1000);
	char *text = print(&t, NULL);
	assert_non_null(strstr(text, "  N  SQUARE\n  0       0\n"));
	assert_non_null(strstr(text, "999  998001\n"));
	free(text);
	sl_ctl_table_free(&t);
}

static void test_bytes(void **state)
{
	(void)state;
	static const struct {
		uint64_t n;
		const char *want;
	} c[] = {
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{10 * 1024 + 512, "10.5 KiB"},
		{102348, "99.9 KiB"},
		{102400, "100 KiB"},
		{1024 * 1024 - 1, "1.0 MiB"}, /* never "1024 KiB" */
		{1288490189, "1.2 GiB"},
		{(uint64_t)345 << 30, "345 GiB"},
		{(uint64_t)1 << 60, "1.0 EiB"},
		{UINT64_MAX, "16.0 EiB"},
	};
	char buf[SL_CTL_HUMAN_MAX];
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		assert_string_equal(sl_ctl_human_bytes(c[i].n, buf), c[i].want);
}

static void test_counts(void **state)
{
	(void)state;
	static const struct {
		uint64_t n;
		const char *want;
	} c[] = {
		{0, "0"},
		{999, "999"},
		{1000, "1.0 k"},
		{3400, "3.4 k"},
		{34549, "34.5 k"},
		{99949, "99.9 k"},
		{99950, "100 k"},
		{345000, "345 k"},
		{999499, "999 k"},
		{999500, "1.0 M"},
		{1234567, "1.2 M"},
		{7000000000, "7.0 G"},
		{UINT64_MAX, "18.4 E"},
	};
	char buf[SL_CTL_HUMAN_MAX];
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		assert_string_equal(sl_ctl_human_count(c[i].n, buf), c[i].want);
}

static void test_durations(void **state)
{
	(void)state;
	char buf[SL_CTL_HUMAN_MAX];
	assert_string_equal(sl_ctl_human_seconds(0, buf), "0s");
	assert_string_equal(sl_ctl_human_seconds(45, buf), "45s");
	assert_string_equal(sl_ctl_human_seconds(123, buf), "2m03s");
	assert_string_equal(sl_ctl_human_seconds(5 * 3600 + 7 * 60 + 59, buf), "5h07m");
	assert_string_equal(sl_ctl_human_seconds(3 * 86400 + 4 * 3600 + 1, buf), "3d04h");
	assert_string_equal(sl_ctl_human_seconds(UINT64_MAX, buf), "213503982334601d07h");

	assert_string_equal(sl_ctl_human_ms(0, buf), "0.00 ms");
	assert_string_equal(sl_ctl_human_ms(0.348, buf), "0.35 ms");
	assert_string_equal(sl_ctl_human_ms(12.46, buf), "12.5 ms");
	assert_string_equal(sl_ctl_human_ms(250.2, buf), "250 ms");
	assert_string_equal(sl_ctl_human_ms(1500, buf), "1.50 s");
	assert_string_equal(sl_ctl_human_ms(12000, buf), "12.0 s");
	assert_string_equal(sl_ctl_human_ms(-1, buf), "-");
	assert_string_equal(sl_ctl_human_ms(NAN, buf), "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_columns_and_alignment),
		cmocka_unit_test(test_bad_tables),
		cmocka_unit_test(test_many_rows),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_durations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
