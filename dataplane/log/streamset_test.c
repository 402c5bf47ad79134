/* SPDX-License-Identifier: Apache-2.0 */
/* The data plane's view of the stream catalogue: names, lookups, ownership slots. */
#include "core/test_common.h"
#include "log/streamset.h"

#include <stdio.h>
#include <string.h>

static struct sl_stream_def def(uint64_t id, const char *name, uint32_t parts)
{
	struct sl_stream_def d;
	memset(&d, 0, sizeof(d));
	d.id = id;
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.partitions = parts;
	d.max_record_bytes = 1u << 20;
	return d;
}

static void names(void **state)
{
	(void)state;
	assert_true(sl_stream_name_valid("orders", 6));
	assert_true(sl_stream_name_valid("a.b_c-D9", 8));
	assert_true(sl_stream_name_valid("...", 3));
	assert_false(sl_stream_name_valid("", 0));
	assert_false(sl_stream_name_valid(".", 1));
	assert_false(sl_stream_name_valid("..", 2));
	assert_false(sl_stream_name_valid("a/b", 3));
	assert_false(sl_stream_name_valid("a b", 3));
	assert_false(sl_stream_name_valid("caf\xc3\xa9", 5));
	char longest[SL_STREAM_NAME_MAX + 2];
	memset(longest, 'x', sizeof(longest));
	assert_true(sl_stream_name_valid(longest, SL_STREAM_NAME_MAX));
	assert_false(sl_stream_name_valid(longest, SL_STREAM_NAME_MAX + 1));
	assert_false(sl_stream_name_valid(NULL, 3));
}

static void lookups(void **state)
{
	(void)state;
	struct sl_stream_def d[3] = {def(7, "zeta", 1), def(3, "alpha", 4), def(9, "mid", 2)};
	struct sl_stream_set *s = sl_stream_set_new(d, 3, 42);
	assert_non_null(s);
	assert_int_equal(s->count, 3);
	assert_int_equal(s->version, 42);
	assert_string_equal(s->defs[0].name, "alpha");
	assert_string_equal(s->defs[2].name, "zeta");
	const struct sl_stream_def *f = sl_stream_set_find(s, "mid!", 3);
	assert_non_null(f);
	assert_int_equal(f->id, 9);
	assert_null(sl_stream_set_find(s, "mi", 2));
	assert_null(sl_stream_set_find(s, "zzz", 3));
	assert_int_equal(sl_stream_set_find_id(s, 3)->partitions, 4);
	assert_null(sl_stream_set_find_id(s, 4));
	struct sl_stream_set *r = sl_stream_set_ref(s);
	assert_ptr_equal(r, s);
	sl_stream_set_unref(s);
	sl_stream_set_unref(r); /* the last reference frees it (ASan would see a leak) */

	struct sl_stream_set *e = sl_stream_set_new(NULL, 0, 1);
	assert_non_null(e);
	assert_null(sl_stream_set_find(e, "a", 1));
	sl_stream_set_unref(e);
	sl_stream_set_unref(NULL);
}

static void duplicates_refused(void **state)
{
	(void)state;
	struct sl_stream_def same_name[2] = {def(1, "a", 1), def(2, "a", 1)};
	assert_null(sl_stream_set_new(same_name, 2, 1));
	struct sl_stream_def same_id[2] = {def(1, "a", 1), def(1, "b", 1)};
	assert_null(sl_stream_set_new(same_id, 2, 1));
}

static void slots_spread(void **state)
{
	(void)state;
	/* Every partition of a 1024-partition stream lands in range, the mapping is stable, and
	 * the slots are spread (no slot holds more than a handful). */
	unsigned count[1024] = {0};
	for (uint32_t p = 0; p < 1024; p++) {
		uint32_t s = sl_stream_partition_slot("orders", p, 1024);
		assert_true(s < 1024);
		assert_int_equal(s, sl_stream_partition_slot("orders", p, 1024));
		count[s]++;
	}
	unsigned used = 0, most = 0;
	for (int i = 0; i < 1024; i++) {
		used += count[i] != 0;
		most = count[i] > most ? count[i] : most;
	}
	assert_true(used > 500);
	assert_true(most < 10);
	assert_int_not_equal(sl_stream_partition_slot("orders", 0, 1024) ^
				     sl_stream_partition_slot("orders", 1, 1024),
			     0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(names),
		cmocka_unit_test(lookups),
		cmocka_unit_test(duplicates_refused),
		cmocka_unit_test(slots_spread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
