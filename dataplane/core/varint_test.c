/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/err.h"
#include "core/varint.h"

/* The four examples of RFC 9000, appendix A.1. */
static void rfc9000_examples_decode(void **state)
{
	(void)state;
	static const struct {
		uint8_t b[8];
		size_t n;
		uint64_t v;
	} ex[] = {
		{{0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c}, 8, 151288809941952652ull},
		{{0x9d, 0x7f, 0x3e, 0x7d}, 4, 494878333},
		{{0x7b, 0xbd}, 2, 15293},
		{{0x25}, 1, 37},
		{{0x40, 0x25}, 2, 37}, /* non-minimal, still valid on receive */
	};
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		uint64_t v;
		size_t used;
		assert_int_equal(sl_varint_decode(ex[i].b, ex[i].n, &v, &used), 0);
		assert_int_equal(used, ex[i].n);
		assert_true(v == ex[i].v);
	}
}

static void encode_is_minimal_and_round_trips(void **state)
{
	(void)state;
	static const uint64_t vals[] = {
		0, 63, 64, 16383, 16384, 1073741823, 1073741824, SL_VARINT_MAX, 37, 15293};
	static const size_t lens[] = {1, 1, 2, 2, 4, 4, 8, 8, 1, 2};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint8_t b[8];
		size_t n, used;
		uint64_t v;
		assert_int_equal(sl_varint_encode(b, sizeof(b), vals[i], &n), 0);
		assert_int_equal(n, lens[i]);
		assert_int_equal(sl_varint_len(vals[i]), lens[i]);
		assert_int_equal(sl_varint_decode(b, n, &v, &used), 0);
		assert_true(v == vals[i]);
	}
	uint8_t b[2];
	size_t n;
	assert_int_equal(sl_varint_encode(b, sizeof(b), 15293, &n), 0);
	assert_int_equal(b[0], 0x7b);
	assert_int_equal(b[1], 0xbd);
}

static void errors_are_reported(void **state)
{
	(void)state;
	uint8_t b[8] = {0x9d, 0x7f, 0x3e};
	size_t n;
	uint64_t v;
	assert_int_equal(sl_varint_encode(b, 8, SL_VARINT_MAX + 1, &n), SL_ERANGE);
	assert_int_equal(sl_varint_encode(b, 1, 64, &n), SL_ENOSPC);
	assert_int_equal(sl_varint_decode(b, 3, &v, &n), SL_ETRUNC);
	assert_int_equal(sl_varint_decode(b, 0, &v, &n), SL_ETRUNC);
	assert_int_equal(sl_varint_len(UINT64_MAX), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc9000_examples_decode),
		cmocka_unit_test(encode_is_minimal_and_round_trips),
		cmocka_unit_test(errors_are_reported),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
