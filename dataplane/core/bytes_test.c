/* SPDX-License-Identifier: Apache-2.0 */
#include "core/test_common.h"
#include "core/bytes.h"
#include "core/err.h"

#include <string.h>

static void write_then_read_every_type(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_writer_u8(&w, 0xab), 0);
	assert_int_equal(sl_writer_be16(&w, 0x1234), 0);
	assert_int_equal(sl_writer_be32(&w, 0xdeadbeef), 0);
	assert_int_equal(sl_writer_be64(&w, 0x0102030405060708ull), 0);
	assert_int_equal(sl_writer_varint(&w, 494878333), 0);
	assert_int_equal(sl_writer_lenbytes(&w, "clock", 5), 0);
	assert_int_equal(sl_writer_bytes(&w, "xy", 2), 0);
	assert_int_equal(sl_writer_len(&w), 1 + 2 + 4 + 8 + 4 + 6 + 2);

	struct sl_reader r;
	sl_reader_init(&r, buf, sl_writer_len(&w));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;
	size_t n;
	assert_int_equal(sl_reader_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(sl_reader_be16(&r, &u16), 0);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(sl_reader_be32(&r, &u32), 0);
	assert_true(u32 == 0xdeadbeef);
	assert_int_equal(sl_reader_be64(&r, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(sl_reader_varint(&r, &u64), 0);
	assert_int_equal(u64, 494878333);
	assert_int_equal(sl_reader_lenbytes(&r, 16, &p, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "clock", 5);
	assert_int_equal(sl_reader_bytes(&r, 2, &p), 0);
	assert_memory_equal(p, "xy", 2);
	assert_int_equal(sl_reader_left(&r), 0);
	assert_int_equal(sl_reader_u8(&r, &u8), SL_ETRUNC);
}

static void short_input_leaves_reader_unchanged(void **state)
{
	(void)state;
	/* A string that claims 9 bytes but carries 3. */
	const uint8_t in[] = {0x09, 'a', 'b', 'c'};
	struct sl_reader r;
	sl_reader_init(&r, in, sizeof(in));
	const uint8_t *p;
	size_t n;
	assert_int_equal(sl_reader_lenbytes(&r, 64, &p, &n), SL_ETRUNC);
	assert_int_equal(sl_reader_left(&r), 4);
	assert_int_equal(sl_reader_lenbytes(&r, 4, &p, &n), SL_ERANGE);
	assert_int_equal(sl_reader_left(&r), 4);
	uint32_t u32;
	assert_int_equal(sl_reader_be32(&r, &u32), 0);
	assert_int_equal(sl_reader_be16(&r, (uint16_t *)&u32), SL_ETRUNC);
}

static void full_output_writes_nothing(void **state)
{
	(void)state;
	uint8_t buf[3];
	struct sl_writer w;
	sl_writer_init(&w, buf, sizeof(buf));
	assert_int_equal(sl_writer_be32(&w, 1), SL_ENOSPC);
	assert_int_equal(sl_writer_lenbytes(&w, "abc", 3), SL_ENOSPC);
	assert_int_equal(sl_writer_varint(&w, 1u << 20), SL_ENOSPC);
	assert_int_equal(sl_writer_varint(&w, UINT64_MAX), SL_ERANGE);
	assert_int_equal(sl_writer_len(&w), 0);
	assert_int_equal(sl_writer_lenbytes(&w, "ab", 2), 0);
	assert_int_equal(sl_writer_len(&w), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(write_then_read_every_type),
		cmocka_unit_test(short_input_leaves_reader_unchanged),
		cmocka_unit_test(full_output_writes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
