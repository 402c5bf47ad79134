/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardctl stream without a daemon: argument parsing and its usage errors, the requests sent,
 * the text printed for each answer (answers built from real catalogue definitions with
 * sl_stream_def_json, as the daemon builds them), and the built shardctl binary's exit codes
 * and messages (path in $SHARDCTL, set by meson). The round trip through shardlined is tested
 * with the daemon's handler.
 */
#include "core/test_common.h"
#include "control/run_ctl_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control/ctl_stream.h"
#include "control/streams.h"
#include "core/err.h"

#define SEC UINT64_C(1000000000)

static char dir[256];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/sl_ctl_stream_test.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (strstr((hay), (needle)) == NULL)                                               \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));                   \
	} while (0)

/* Parses a NULL-terminated argument list (after "stream"). */
static int parse(struct sl_ctl_stream_args *a, char *err, size_t errlen, ...)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "stream";
	va_list ap;
	va_start(ap, errlen);
	for (char *s; (s = va_arg(ap, char *)) != NULL;)
		argv[argc++] = s;
	va_end(ap);
	argv[argc] = NULL;
	err[0] = '\0';
	return sl_ctl_stream_parse(argc, argv, a, err, errlen);
}

static void parse_ok(void **state)
{
	(void)state;
	struct sl_ctl_stream_args a;
	char err[512];
	assert_int_equal(parse(&a, err, sizeof(err), "create", "orders", "--partitions", "8", NULL),
			 0);
	assert_int_equal(a.op, SL_CTL_STREAM_CREATE);
	assert_string_equal(a.name, "orders");
	assert_int_equal(a.partitions, 8);
	assert_int_equal(a.max_record_bytes, 0);
	assert_int_equal(a.retention_age_ms, 0);
	assert_int_equal(a.retention_bytes, 0);
	assert_false(a.json);

	/* Options before the name, the = form, every option. */
	assert_int_equal(parse(&a, err, sizeof(err), "create", "--partitions=4096",
			       "--retention-age", "7d", "--retention-bytes=64GiB",
			       "--max-record-bytes", "16MiB", "--json", "clicks.v2", NULL),
			 0);
	assert_string_equal(a.name, "clicks.v2");
	assert_int_equal(a.partitions, 4096);
	assert_int_equal(a.retention_age_ms, 7 * 86400 * 1000ull);
	assert_int_equal(a.retention_bytes, 64ull << 30);
	assert_int_equal(a.max_record_bytes, 16u << 20);
	assert_true(a.json);

	/* 0 spells the defaults explicitly; ms-granular ages and decimal sizes are fine. */
	assert_int_equal(parse(&a, err, sizeof(err), "create", "x", "--partitions", "1",
			       "--retention-age", "0", "--retention-bytes", "0", NULL),
			 0);
	assert_int_equal(a.retention_age_ms, 0);
	assert_int_equal(a.retention_bytes, 0);
	assert_int_equal(parse(&a, err, sizeof(err), "create", "x", "--partitions", "1",
			       "--retention-age", "1s500ms", "--retention-bytes", "500MB",
			       "--max-record-bytes", "1", NULL),
			 0);
	assert_int_equal(a.retention_age_ms, 1500);
	assert_int_equal(a.retention_bytes, 500000000);
	assert_int_equal(a.max_record_bytes, 1);

	/* After "--" a name may start with a dash (the name rules allow it). */
	assert_int_equal(parse(&a, err, sizeof(err), "delete", "--json", "--", "-old", NULL), 0);
	assert_int_equal(a.op, SL_CTL_STREAM_DELETE);
	assert_string_equal(a.name, "-old");
	assert_true(a.json);

	/* Export: the flag, and a max age that needs it. */
	assert_int_equal(parse(&a, err, sizeof(err), "create", "ex", "--partitions", "2",
			       "--export", "--export-max-age", "2d", NULL),
			 0);
	assert_true(a.export_enabled);
	assert_int_equal(a.export_max_age_ms, 2 * 86400 * 1000ull);
	json_t *rq = sl_ctl_stream_request(&a);
	assert_true(json_is_true(json_object_get(rq, "export")));
	assert_int_equal(json_integer_value(json_object_get(rq, "export_max_age_ms")),
			 2 * 86400 * 1000ll);
	json_decref(rq);

	assert_int_equal(parse(&a, err, sizeof(err), "list", NULL), 0);
	assert_int_equal(a.op, SL_CTL_STREAM_LIST);
	assert_null(a.name);
	assert_int_equal(parse(&a, err, sizeof(err), "list", "--json", NULL), 0);
	assert_true(a.json);
	assert_int_equal(parse(&a, err, sizeof(err), "describe", "orders", NULL), 0);
	assert_int_equal(a.op, SL_CTL_STREAM_DESCRIBE);
	assert_string_equal(a.name, "orders");
}

static void parse_errors(void **state)
{
	(void)state;
	static const struct {
		const char *args[8];
		const char *msg;
	} cases[] = {
		{{NULL}, "missing operation (create, list, describe or delete)"},
		{{"frob"}, "unknown operation 'frob' (create, list, describe or delete)"},
		{{"create"}, "create needs a stream name"},
		{{"create", "orders"}, "create needs --partitions P (1 to 4096)"},
		{{"create", "orders", "--partitions"}, "--partitions needs a value"},
		{{"create", "o", "--partitions", "1", "--export-max-age", "1d"},
		 "--export-max-age needs --export"},
		{{"create", "o", "--partitions", "1", "--export", "--export-max-age", "5ms"},
		 "--export-max-age"},
		{{"describe", "o", "--export"}, "--export applies only to stream create"},
		{{"create", "orders", "--partitions", "0"},
		 "bad --partitions '0': expected an integer from 1 to 4096"},
		{{"create", "orders", "--partitions", "4097"}, "bad --partitions '4097'"},
		{{"create", "orders", "--partitions", "8x"}, "bad --partitions '8x'"},
		{{"create", "orders", "--partitions", "-1"}, "bad --partitions '-1'"},
		{{"create", "orders", "--partitions", "99999999999"},
		 "bad --partitions '99999999999'"},
		{{"create", "a/b", "--partitions", "1"},
		 "bad stream name 'a/b': use 1 to 249 characters from A-Z a-z 0-9 . _ -, other "
		 "than '.' and '..'"},
		{{"create", "..", "--partitions", "1"}, "bad stream name '..'"},
		{{"create", "orders", "--partitions", "1", "--retention-age", "7x"},
		 "bad --retention-age '7x': expected 0 (keep forever) or a duration such as 7d, "
		 "12h or 90m, from 1s to 36500d, in whole milliseconds"},
		{{"create", "orders", "--partitions", "1", "--retention-age", "500ms"},
		 "bad --retention-age '500ms'"},
		{{"create", "orders", "--partitions", "1", "--retention-age", "1s1us"},
		 "bad --retention-age '1s1us'"},
		{{"create", "orders", "--partitions", "1", "--retention-age", "36501d"},
		 "bad --retention-age '36501d'"},
		{{"create", "orders", "--partitions", "1", "--retention-age", "1d30"},
		 "bad --retention-age '1d30'"},
		{{"create", "orders", "--partitions", "1", "--retention-bytes", "1K"},
		 "bad --retention-bytes '1K': expected 0 (no limit) or a size such as 64GiB or "
		 "500MB, from 1MiB to 1EiB"},
		{{"create", "orders", "--partitions", "1", "--retention-bytes", "lots"},
		 "bad --retention-bytes 'lots'"},
		{{"create", "orders", "--partitions", "1", "--max-record-bytes", "32MiB"},
		 "bad --max-record-bytes '32MiB': expected a size such as 64KiB or 4MiB, from 1 "
		 "to 16MiB"},
		{{"create", "orders", "--partitions", "1", "--max-record-bytes", "0"},
		 "bad --max-record-bytes '0'"},
		{{"create", "orders", "--partitions", "1", "--colour", "blue"},
		 "unknown option '--colour' for stream create"},
		{{"create", "orders", "--partitions", "1", "--colour=blue"},
		 "unknown option '--colour' for stream create"},
		{{"create", "a", "b", "--partitions", "1"},
		 "create takes one stream name (got 'a' "
		 "and 'b')"},
		{{"list", "orders"}, "list takes no stream name (got 'orders')"},
		{{"list", "--partitions", "3"}, "--partitions applies only to stream create"},
		{{"describe"}, "describe needs a stream name"},
		{{"describe", "orders", "--retention-age=1d"},
		 "--retention-age applies only to stream create"},
		{{"delete"}, "delete needs a stream name"},
		{{"delete", "a b"}, "bad stream name 'a b'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[10];
		int argc = 0;
		argv[argc++] = "stream";
		for (int k = 0; cases[i].args[k]; k++)
			argv[argc++] = (char *)cases[i].args[k];
		argv[argc] = NULL;
		struct sl_ctl_stream_args a;
		char err[512] = "";
		int rc = sl_ctl_stream_parse(argc, argv, &a, err, sizeof(err));
		if (rc != SL_EINVAL)
			fail_msg("case %zu (%s) parsed: %d", i, cases[i].msg, rc);
		assert_contains(err, cases[i].msg);
	}
}

static void check_request(const struct sl_ctl_stream_args *a, const char *want_text)
{
	json_t *got = sl_ctl_stream_request(a);
	json_t *want = json_loads(want_text, 0, NULL);
	assert_non_null(got);
	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		fail_msg("request %s, want %s", g, want_text);
	}
	json_decref(got);
	json_decref(want);
}

static void requests(void **state)
{
	(void)state;
	struct sl_ctl_stream_args a;
	char err[512];
	assert_int_equal(parse(&a, err, sizeof(err), "create", "orders", "--partitions", "8",
			       "--retention-age", "7d", NULL),
			 0);
	check_request(&a, "{\"cmd\":\"stream\",\"op\":\"create\",\"name\":\"orders\","
			  "\"partitions\":8,\"max_record_bytes\":0,\"retention_age_ms\":604800000,"
			  "\"retention_bytes\":0}");
	assert_int_equal(parse(&a, err, sizeof(err), "list", NULL), 0);
	check_request(&a, "{\"cmd\":\"stream\",\"op\":\"list\"}");
	assert_int_equal(parse(&a, err, sizeof(err), "describe", "orders", NULL), 0);
	check_request(&a, "{\"cmd\":\"stream\",\"op\":\"describe\",\"name\":\"orders\"}");
	assert_int_equal(parse(&a, err, sizeof(err), "delete", "orders", "--json", NULL), 0);
	check_request(&a, "{\"cmd\":\"stream\",\"op\":\"delete\",\"name\":\"orders\"}");

	/* What the CLI sends is what the daemon's helper accepts, field for field. */
	assert_int_equal(parse(&a, err, sizeof(err), "create", "orders", "--partitions", "8",
			       "--retention-age", "1d12h", "--retention-bytes", "2GiB",
			       "--max-record-bytes", "64KiB", NULL),
			 0);
	json_t *req = sl_ctl_stream_request(&a);
	struct sl_stream_def d;
	assert_int_equal(sl_catalog_admin_create_args(req, &d, err, sizeof(err)), 0);
	json_decref(req);
	assert_string_equal(d.name, "orders");
	assert_int_equal(d.partitions, 8);
	assert_int_equal(d.retention_age_ns, 36 * 3600 * SEC);
	assert_int_equal(d.retention_bytes, 2ull << 30);
	assert_int_equal(d.max_record_bytes, 64 << 10);
}

static void durations_and_sizes(void **state)
{
	(void)state;
	uint64_t ns = 0;
	assert_int_equal(sl_ctl_stream_parse_duration("7d", &ns), 0);
	assert_int_equal(ns, 7 * 86400 * SEC);
	assert_int_equal(sl_ctl_stream_parse_duration("1d12h30m", &ns), 0);
	assert_int_equal(ns, (86400 + 12 * 3600 + 1800) * SEC);
	assert_int_equal(sl_ctl_stream_parse_duration("12h", &ns), 0);
	assert_int_equal(ns, 12 * 3600 * SEC);
	assert_int_equal(sl_ctl_stream_parse_duration("500ms", &ns), 0);
	assert_int_equal(ns, 500 * 1000000ull);
	assert_int_equal(sl_ctl_stream_parse_duration("0", &ns), 0);
	assert_int_equal(ns, 0);
	assert_int_equal(sl_ctl_stream_parse_duration("d", &ns), SL_EINVAL);
	assert_int_equal(sl_ctl_stream_parse_duration("1d30", &ns), SL_EINVAL);
	assert_int_equal(sl_ctl_stream_parse_duration("1h2d", &ns), SL_EINVAL);
	assert_int_equal(sl_ctl_stream_parse_duration("1dd", &ns), SL_EINVAL);
	assert_int_equal(sl_ctl_stream_parse_duration("", &ns), SL_EINVAL);
	assert_int_equal(sl_ctl_stream_parse_duration("999999999999d", &ns), SL_ERANGE);

	char buf[64];
	const struct {
		uint64_t ms;
		const char *text;
	} d[] = {{0, "0s"},	   {604800000, "7d"}, {129600000, "36h"},
		 {5400000, "90m"}, {1500, "1500ms"},  {1000, "1s"}};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		sl_ctl_stream_format_duration(d[i].ms, buf, sizeof(buf));
		assert_string_equal(buf, d[i].text);
	}
	const struct {
		uint64_t n;
		const char *spaced, *tight;
	} b[] = {
		{0, "0 bytes", "0"},	       {1500, "1500 bytes", "1500"},
		{1 << 20, "1 MiB", "1MiB"},    {64ull << 30, "64 GiB", "64GiB"},
		{1536, "1536 bytes", "1536"}, /* 1.5 KiB: no whole unit, so bytes */
		{1ull << 60, "1 EiB", "1EiB"},
	};
	for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		sl_ctl_stream_format_bytes(b[i].n, true, buf, sizeof(buf));
		assert_string_equal(buf, b[i].spaced);
		sl_ctl_stream_format_bytes(b[i].n, false, buf, sizeof(buf));
		assert_string_equal(buf, b[i].tight);
	}
}

/* Formats resp for op into a string (caller frees); asserts that formatting succeeded. */
static char *format(enum sl_ctl_stream_op op, const json_t *resp)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	char err[256] = "";
	int rc = sl_ctl_stream_format(f, op, resp, err, sizeof(err));
	fclose(f);
	if (rc != 0)
		fail_msg("format: %d %s", rc, err);
	return text;
}

static void assert_text(char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", got, want);
	free(got);
}

/* A catalogue in the test's directory, with the streams the answers below describe. */
static struct sl_catalog *catalogue(void)
{
	char path[300];
	snprintf(path, sizeof(path), "%s/streams.json", dir);
	struct sl_catalog *c;
	char err[512];
	assert_int_equal(sl_catalog_open(path, &c, err, sizeof(err)), 0);
	struct sl_stream_def w;
	memset(&w, 0, sizeof(w));
	snprintf(w.name, sizeof(w.name), "orders");
	w.partitions = 8;
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	snprintf(w.name, sizeof(w.name), "clicks.v2");
	w.partitions = 1;
	w.max_record_bytes = 4096;
	w.retention_age_ns = 7 * 86400 * SEC;
	w.retention_bytes = 64ull << 30;
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	return c;
}

static void format_create_delete(void **state)
{
	(void)state;
	struct sl_catalog *c = catalogue();
	json_t *resp = json_pack("{sb sb so}", "ok", 1, "created", 1, "stream",
				 sl_stream_def_json(sl_catalog_find(c, "orders")));
	assert_text(format(SL_CTL_STREAM_CREATE, resp),
		    "created stream orders (id 1): 8 partitions, max record 1 MiB, retention: "
		    "forever, no byte limit\n");
	json_object_set_new(resp, "created", json_false());
	assert_text(format(SL_CTL_STREAM_CREATE, resp),
		    "stream orders already exists with the same settings\n");
	json_decref(resp);

	/* Without "ok", as shardctl passes it after taking "ok" out. */
	resp = json_pack("{sb so}", "created", 1, "stream",
			 sl_stream_def_json(sl_catalog_find(c, "clicks.v2")));
	assert_text(format(SL_CTL_STREAM_CREATE, resp),
		    "created stream clicks.v2 (id 2): 1 partition, max record 4 KiB, retention: "
		    "7d, 64 GiB per partition\n");
	json_decref(resp);

	resp = json_pack("{sb so}", "ok", 1, "deleted",
			 sl_stream_def_json(sl_catalog_find(c, "orders")));
	assert_text(format(SL_CTL_STREAM_DELETE, resp), "deleted stream orders\n");
	json_decref(resp);
	sl_catalog_free(c);
}

static void format_list(void **state)
{
	(void)state;
	struct sl_catalog *c = catalogue();
	json_t *arr = json_array();
	for (uint32_t i = 0; i < sl_catalog_count(c); i++)
		json_array_append_new(arr, sl_stream_def_json(sl_catalog_at(c, i)));
	json_t *resp = json_pack("{sb so}", "ok", 1, "streams", arr);
	assert_text(format(SL_CTL_STREAM_LIST, resp),
		    "NAME       ID  PARTITIONS  MAX_RECORD  RETENTION_AGE  RETENTION_BYTES\n"
		    "clicks.v2  2   1           4KiB        7d             64GiB\n"
		    "orders     1   8           1MiB        forever        unlimited\n");
	json_decref(resp);

	resp = json_pack("{s[]}", "streams");
	assert_text(format(SL_CTL_STREAM_LIST, resp), "no streams\n");
	json_decref(resp);
	sl_catalog_free(c);
}

static void format_describe(void **state)
{
	(void)state;
	struct sl_stream_def d;
	memset(&d, 0, sizeof(d));
	d.id = 3;
	snprintf(d.name, sizeof(d.name), "orders");
	d.partitions = 2;
	d.max_record_bytes = 1 << 20;
	d.retention_age_ns = 7 * 86400 * SEC;
	d.created_wall_ns = 1718000000123ull * 1000000; /* 2024-06-10T06:13:20Z */
	json_t *resp = json_pack(
		"{sb so s[{sisisisisisisisisi} {sisisisisisi}]}", "ok", 1, "stream",
		sl_stream_def_json(&d), "partitions", "partition", 0, "worker", 1, "start_offset",
		0, "next_offset", 120, "durable_offset", 118, "memory_bytes", 123, "memory_records",
		3, "objects", 4, "object_bytes", 4567, "partition", 1, "worker", 0, "start_offset",
		1000, "next_offset", 1000, "durable_offset", 1000, "memory_bytes", 0);
	assert_non_null(resp);
	/* Counters the daemon leaves out show as "-". */
	assert_text(
		format(SL_CTL_STREAM_DESCRIBE, resp),
		"stream orders (id 3): 2 partitions, max record 1 MiB, retention: 7d, no byte "
		"limit, created 2024-06-10T06:13:20Z\n"
		"PARTITION  WORKER  START  NEXT  DURABLE  MEM_RECORDS  MEM_BYTES  OBJECTS  "
		"OBJECT_BYTES\n"
		"0          1       0      120   118      3            123        4        4567\n"
		"1          0       1000   1000  1000     -            0          -        -\n"
		"retained: 118 durable records from the START offsets, 4 segment(s), 4.5 KiB in "
		"batch objects\n");
	json_decref(resp);

	/* An export stream: its queue between the summary and the table. */
	d.export_enabled = true;
	d.export_max_age_ns = 86400 * SEC;
	resp = json_pack("{sb so s[{sisi}] s{sisisisI}}", "ok", 1, "stream", sl_stream_def_json(&d),
			 "partitions", "partition", 0, "worker", 0, "export", "length", 3,
			 "pending", 1, "epoch", 2, "last_ack", (json_int_t)41);
	assert_non_null(resp);
	char *text = format(SL_CTL_STREAM_DESCRIBE, resp);
	assert_non_null(strstr(text, "no byte limit, export (max age 1d), created"));
	assert_non_null(
		strstr(text, "\nexport queue: 3 batches, 1 waiting, consumer epoch 2, last ack 41\n"
			     "PARTITION"));
	free(text);
	json_decref(resp);
}

/* describe lists named consumers per partition: epoch, committed position ("-": none yet), lag. */
static void format_describe_consumers(void **state)
{
	(void)state;
	struct sl_stream_def d;
	memset(&d, 0, sizeof(d));
	d.id = 3;
	snprintf(d.name, sizeof(d.name), "orders");
	d.partitions = 1;
	d.max_record_bytes = 1 << 20;
	json_t *resp = json_pack("{sb so s[{sisisisisi}] s[{sssis[{sisisisi}{sisisn}]}]}", "ok", 1,
				 "stream", sl_stream_def_json(&d), "partitions", "partition", 0,
				 "worker", 0, "start_offset", 0, "next_offset", 10,
				 "durable_offset", 10, "consumers", "name", "billing", "epoch", 3,
				 "partitions", "partition", 0, "epoch", 3, "committed_offset", 6,
				 "lag", 4, "partition", 1, "epoch", 2, "committed_offset");
	assert_non_null(resp);
	char *out = format(SL_CTL_STREAM_DESCRIBE, resp);
	assert_contains(out, "consumers:\n"
			     "CONSUMER  EPOCH  PARTITION  COMMITTED  LAG\n"
			     "billing   3      0          6          4\n"
			     "billing   2      1          -          -\n");
	free(out);
	json_decref(resp);
}

/* Expects formatting resp for op to fail with SL_ECORRUPT, a message, and no output. */
static void expect_bad_answer(enum sl_ctl_stream_op op, const char *text, const char *msg)
{
	json_t *resp = json_loads(text, 0, NULL);
	assert_non_null(resp);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	char err[256] = "";
	assert_int_equal(sl_ctl_stream_format(f, op, resp, err, sizeof(err)), SL_ECORRUPT);
	fclose(f);
	assert_int_equal(len, 0);
	free(out);
	assert_contains(err, msg);
	json_decref(resp);
}

static void bad_answers(void **state)
{
	(void)state;
	expect_bad_answer(SL_CTL_STREAM_CREATE, "{\"created\":true}",
			  "the daemon's answer has no 'stream' object with a name");
	expect_bad_answer(SL_CTL_STREAM_CREATE, "{\"stream\":{\"id\":1}}", "'stream' object");
	expect_bad_answer(SL_CTL_STREAM_LIST, "{}", "no 'streams' array");
	expect_bad_answer(SL_CTL_STREAM_LIST, "{\"streams\":[{\"name\":\"a\"},3]}",
			  "no stream in 'streams' with a name");
	expect_bad_answer(SL_CTL_STREAM_DESCRIBE, "{\"stream\":{\"name\":\"a\"}}",
			  "no 'partitions' array");
	expect_bad_answer(SL_CTL_STREAM_DELETE, "{\"stream\":{\"name\":\"a\"}}",
			  "no 'deleted' object");
}

/* ---- the binary ------------------------------------------------------------------------- */

/* Runs shardctl with the given arguments (NULL-terminated), capturing status and output. */
static void run_ctl(struct run *r, ...)
{
	va_list ap;
	va_start(ap, r);
	run_ctl_in(r, dir, ap);
	va_end(ap);
}

static void binary(void **state)
{
	(void)state;
	if (getenv("SHARDCTL") == NULL) {
		print_message("SHARDCTL not set (run through meson test): skipped\n");
		skip();
	}
	struct run *r = malloc(sizeof(*r));
	char admin[300];
	snprintf(admin, sizeof(admin), "--admin=%s/no-daemon.sock", dir);

	/* Usage errors are found before any connection (the admin socket does not exist, so
	 * reaching the daemon would give exit status 3 instead of 2). */
	run_ctl(r, admin, "stream", "create", "orders", "--partitions", "0", NULL);
	assert_int_equal(r->status, 2);
	assert_string_equal(r->out, "");
	assert_string_equal(r->err,
			    "shardctl: stream: bad --partitions '0': expected an integer from 1 "
			    "to 4096\n"
			    "Usage: shardctl stream create NAME --partitions P [--retention-age "
			    "DURATION] [--retention-bytes BYTES] [--max-record-bytes BYTES] "
			    "[--export [--export-max-age DURATION]] [--json]\n"
			    "See shardctl stream --help.\n");
	run_ctl(r, admin, "stream", "create", "a/b", "--partitions", "1", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "bad stream name 'a/b'");
	run_ctl(r, admin, "stream", "create", "orders", "--partitions", "1", "--retention-age",
		"forever", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "bad --retention-age 'forever'");
	run_ctl(r, admin, "stream", "delete", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "shardctl: stream: delete needs a stream name\n"
				"Usage: shardctl stream delete NAME [--json]\n");
	run_ctl(r, admin, "stream", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "missing operation");
	assert_contains(r->err, "Usage: shardctl stream create|list|describe|delete");
	run_ctl(r, admin, "stream", "list", "--partitions", "2", NULL);
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "--partitions applies only to stream create");

	/* Help is answered without a daemon, wherever --help appears. */
	run_ctl(r, admin, "stream", "--help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "Usage: shardctl stream create|list|describe|delete");
	assert_contains(r->out, "shardctl stream create NAME --partitions P");
	assert_contains(r->out, "--retention-age DURATION");
	assert_contains(r->out, "--max-record-bytes BYTES");
	run_ctl(r, "stream", "create", "--help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "shardctl stream delete NAME [--json]");
	run_ctl(r, "--help", NULL);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, "stream      create, list, describe or delete durable streams");

	/* A valid command with no daemon: exit status 3 and the usual hint. */
	run_ctl(r, admin, "stream", "create", "orders", "--partitions", "8", "--retention-age",
		"7d", NULL);
	assert_int_equal(r->status, 3);
	assert_contains(r->err, "no-daemon.sock");
	assert_contains(r->err, "is shardlined running?");
	run_ctl(r, admin, "stream", "list", "--json", NULL);
	assert_int_equal(r->status, 3);
	assert_string_equal(r->out, "");
	/* Before the command, --json is the command's option, not taken for the operation:
	 * this gets as far as the missing daemon. */
	run_ctl(r, "--json", admin, "stream", "list", NULL);
	assert_int_equal(r->status, 3);
	run_ctl(r, "--json", admin, "stream", "describe", "--", "orders", NULL);
	assert_int_equal(r->status, 3);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_ok),
		cmocka_unit_test(parse_errors),
		cmocka_unit_test(requests),
		cmocka_unit_test(durations_and_sizes),
		cmocka_unit_test_setup_teardown(format_create_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(format_list, setup, teardown),
		cmocka_unit_test(format_describe),
		cmocka_unit_test(format_describe_consumers),
		cmocka_unit_test(bad_answers),
		cmocka_unit_test_setup_teardown(binary, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
