/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardline-bench append's command line: the defaults, each URL scheme and its address, and
 * every refusal naming what was wrong. The exit status 2 of the built program is checked by
 * tests/integration/bench_append_test.py.
 */
#include "core/test_common.h"

#include <string.h>

#include "append.h"
#include "log/proto.h"

static char err[512];

/* Parses a NULL-terminated list of arguments after "append". */
#define PARSE(o, ...)                                                                              \
	({                                                                                         \
		char *argv_[] = {"append", __VA_ARGS__, NULL};                                     \
		err[0] = '\0';                                                                     \
		sl_append_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, (o), err,      \
				sizeof(err));                                                      \
	})

static void test_defaults(void **state)
{
	(void)state;
	struct sl_append_opts o;
	assert_int_equal(PARSE(&o, "shardline://127.0.0.1:4443", "--stream", "s"), 0);
	assert_int_equal(o.target, SL_APPEND_SHARDLINE);
	assert_string_equal(o.stream, "s");
	assert_int_equal(o.partitions, 1);
	assert_int_equal(o.producers, 1);
	assert_int_equal(o.size, 1024);
	assert_int_equal(o.in_flight, 1);
	assert_int_equal(o.duration, 10);
	assert_int_equal(o.warmup, 2);
	assert_int_equal(o.durability, SL_LP_DURABLE);
	assert_false(o.json);
	assert_false(o.e2e);
}

static void test_every_option(void **state)
{
	(void)state;
	struct sl_append_opts o;
	assert_int_equal(PARSE(&o, "--stream", "bench", "--partitions", "4", "--producers", "8",
			       "--size", "24", "--durability", "written", "--in-flight", "16",
			       "--duration", "3", "--warmup", "0", "--admin", "/tmp/a.sock",
			       "--json", "--plot", "p.png", "--rate", "500", "--e2e",
			       "shardline://h:1"),
			 0);
	assert_int_equal(o.partitions, 4);
	assert_int_equal(o.producers, 8);
	assert_int_equal(o.size, 24);
	assert_int_equal(o.durability, SL_LP_WRITTEN);
	assert_int_equal(o.in_flight, 16);
	assert_int_equal(o.duration, 3);
	assert_int_equal(o.warmup, 0);
	assert_string_equal(o.admin, "/tmp/a.sock");
	assert_string_equal(o.plot, "p.png");
	assert_int_equal(o.rate, 500);
	assert_true(o.json);
	assert_true(o.e2e);
	assert_int_equal(PARSE(&o, "shardline://h:1", "--stream", "s", "--durability", "applied"),
			 0);
	assert_int_equal(o.durability, SL_LP_APPLIED);
	assert_int_equal(PARSE(&o, "--help"), 1);
}

static void test_peers(void **state)
{
	(void)state;
	struct sl_append_opts o;
	assert_int_equal(PARSE(&o, "redis://127.0.0.1:6380", "--stream", "s", "--server-pid", "7"),
			 0);
	assert_int_equal(o.target, SL_APPEND_REDIS);
	assert_string_equal(o.host, "127.0.0.1");
	assert_int_equal(o.port, 6380);
	assert_int_equal(o.server_pid, 7);
	assert_int_equal(PARSE(&o, "redis://localhost", "--stream", "s"), 0);
	assert_int_equal(o.port, 6379);
	assert_int_equal(PARSE(&o, "nats://10.0.0.1:4333", "--stream", "s"), 0);
	assert_int_equal(o.target, SL_APPEND_NATS);
	assert_string_equal(o.host, "10.0.0.1");
	assert_int_equal(o.port, 4333);
	assert_int_equal(PARSE(&o, "nats://h", "--stream", "s"), 0);
	assert_int_equal(o.port, 4222);
}

/* Each refusal returns -1 with err containing want. */
#define REFUSED(want, ...)                                                                         \
	do {                                                                                       \
		struct sl_append_opts o_;                                                          \
		assert_int_equal(PARSE(&o_, __VA_ARGS__), -1);                                     \
		if (strstr(err, (want)) == NULL)                                                   \
			fail_msg("error '%s' does not say '%s'", err, (want));                     \
	} while (0)

static void test_refusals(void **state)
{
	(void)state;
	REFUSED("--durability: 'fsync' is not applied, written or durable", "shardline://h:1",
		"--stream", "s", "--durability", "fsync");
	REFUSED("'kafka://h:9092' is not a shardline://, redis:// or nats://HOST:PORT URL",
		"kafka://h:9092", "--stream", "s");
	REFUSED("is not a redis://HOST[:PORT] URL", "redis://h:0", "--stream", "s");
	REFUSED("is not a redis://HOST[:PORT] URL", "redis://:6379", "--stream", "s");
	REFUSED("is not a nats://HOST[:PORT] URL", "nats://h:99999", "--stream", "s");
	REFUSED("is not a nats://HOST[:PORT] URL", "nats://h:1/x", "--stream", "s");
	REFUSED("--stream S is required", "shardline://h:1");
	REFUSED("needs a URL", "--stream", "s");
	REFUSED("takes one URL", "shardline://h:1", "shardline://h:2", "--stream", "s");
	REFUSED("is not a stream name", "shardline://h:1", "--stream", "a.b");
	REFUSED("is not a stream name", "shardline://h:1", "--stream", "a/b");
	REFUSED("--size: '23' is not a number in 24..1048576", "shardline://h:1", "--stream", "s",
		"--size", "23");
	REFUSED("--in-flight: '0' is not a number", "shardline://h:1", "--stream", "s",
		"--in-flight", "0");
	REFUSED("--producers: '-1' is not a number", "shardline://h:1", "--stream", "s",
		"--producers", "-1");
	REFUSED("--partitions: 'x' is not a number", "shardline://h:1", "--stream", "s",
		"--partitions", "x");
	REFUSED("--durability is shardline://'s", "redis://h", "--stream", "s", "--durability",
		"durable");
	REFUSED("--admin is shardline://'s", "nats://h", "--stream", "s", "--admin", "/a");
	REFUSED("--rate is shardline://'s", "redis://h", "--stream", "s", "--rate", "10");
	REFUSED("--server-pid is for redis:// and nats://", "shardline://h:1", "--stream", "s",
		"--server-pid", "10");
	REFUSED("give --rate R as well", "shardline://h:1", "--stream", "s", "--e2e");
	REFUSED("unknown option '--bogus'", "shardline://h:1", "--stream", "s", "--bogus");
	REFUSED("--stream needs a value", "shardline://h:1", "--stream");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_option),
		cmocka_unit_test(test_peers),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
