/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The durable-stream catalogue: creation and its validation, idempotent and conflicting
 * creates, delete, ids, persistence in real files under a mkdtemp directory, refusal of damaged
 * files, failed writes that must leave the catalogue as it was, snapshots, and the admin
 * request helper.
 */
#include "core/test_common.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "control/streams.h"
#include "core/err.h"

#define MIB (UINT64_C(1) << 20)
#define SEC UINT64_C(1000000000)

static char dir[256];
static char path[300];

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
	snprintf(dir, sizeof(dir), "/tmp/sl_streams_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/streams.json", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	/* A failed-write test may have made the directory read-only; undo it so it can go. */
	chmod(dir, 0700);
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Fails with the whole haystack shown, so a wrong message is visible in the test log. */
#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (strstr((hay), (needle)) == NULL)                                               \
			fail_msg("'%s' does not contain '%s'", (hay), (needle));                   \
	} while (0)

static struct sl_stream_def want(const char *name, uint32_t partitions)
{
	struct sl_stream_def d;
	memset(&d, 0, sizeof(d));
	snprintf(d.name, sizeof(d.name), "%s", name);
	d.partitions = partitions;
	return d;
}

static void write_text(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *p)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static struct sl_catalog *open_ok(void)
{
	struct sl_catalog *c = NULL;
	char err[512] = "";
	int rc = sl_catalog_open(path, &c, err, sizeof(err));
	if (rc != 0)
		fail_msg("open %s: %d %s", path, rc, err);
	return c;
}

static void create_and_find(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	assert_int_equal(sl_catalog_count(c), 0);
	assert_int_equal(sl_catalog_version(c), 1);
	assert_null(sl_catalog_find(c, "orders"));
	assert_null(sl_catalog_at(c, 0));
	assert_string_equal(sl_catalog_path(c), path);
	/* A missing file is an empty catalogue, and opening it writes nothing. */
	assert_int_equal(access(path, F_OK), -1);

	struct sl_stream_def w = want("orders", 8);
	w.retention_age_ns = 7 * 86400 * SEC;
	struct timespec t0, t1;
	clock_gettime(CLOCK_REALTIME, &t0);
	const struct sl_stream_def *d = NULL;
	bool created = false;
	assert_int_equal(sl_catalog_create(c, &w, &d, &created, err, sizeof(err)), 0);
	clock_gettime(CLOCK_REALTIME, &t1);
	assert_true(created);
	assert_non_null(d);
	assert_int_equal(d->id, 1);
	assert_string_equal(d->name, "orders");
	assert_int_equal(d->partitions, 8);
	assert_int_equal(d->max_record_bytes, SL_CATALOG_DEFAULT_MAX_RECORD_BYTES);
	assert_int_equal(d->retention_age_ns, 7 * 86400 * SEC);
	assert_int_equal(d->retention_bytes, 0);
	uint64_t lo = ((uint64_t)t0.tv_sec * SEC + (uint64_t)t0.tv_nsec) / 1000000 * 1000000;
	uint64_t hi = (uint64_t)t1.tv_sec * SEC + (uint64_t)t1.tv_nsec;
	assert_true(d->created_wall_ns >= lo && d->created_wall_ns <= hi);
	assert_int_equal(d->created_wall_ns % 1000000, 0);
	assert_int_equal(sl_catalog_version(c), 2);
	assert_int_equal(sl_catalog_count(c), 1);
	assert_ptr_equal(sl_catalog_find(c, "orders"), d);
	assert_ptr_equal(sl_catalog_at(c, 0), d);
	assert_null(sl_catalog_find(c, "order"));
	assert_null(sl_catalog_find(c, NULL));

	/* The change is on disk before create returns, and the temporary file is gone. */
	json_t *root = json_loads(read_text(path), 0, NULL);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	assert_int_equal(json_integer_value(json_object_get(root, "next_id")), 2);
	json_t *s0 = json_array_get(json_object_get(root, "streams"), 0);
	assert_string_equal(json_string_value(json_object_get(s0, "name")), "orders");
	assert_int_equal(json_integer_value(json_object_get(s0, "retention_age_ms")),
			 7 * 86400 * 1000);
	json_decref(root);
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);

	/* More streams stay sorted by name whatever the creation order. */
	w = want("alpha", 1);
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	w = want("zeta", 2);
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_count(c), 3);
	assert_string_equal(sl_catalog_at(c, 0)->name, "alpha");
	assert_string_equal(sl_catalog_at(c, 1)->name, "orders");
	assert_string_equal(sl_catalog_at(c, 2)->name, "zeta");
	assert_int_equal(sl_catalog_at(c, 0)->id, 2);
	assert_int_equal(sl_catalog_find(c, "zeta")->id, 3);
	assert_int_equal(sl_catalog_version(c), 4);
	sl_catalog_free(c);
}

static void idempotent_create(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	struct sl_stream_def w = want("orders", 8);
	w.retention_bytes = 64 * MIB;
	const struct sl_stream_def *first, *again = NULL;
	bool created = false;
	assert_int_equal(sl_catalog_create(c, &w, &first, &created, err, sizeof(err)), 0);
	assert_true(created);
	uint64_t id = first->id, when = first->created_wall_ns;
	uint64_t version = sl_catalog_version(c);

	/* The same settings again, and the default record size spelled out, are the same
	 * stream: nothing changes and the existing definition comes back. */
	created = true;
	assert_int_equal(sl_catalog_create(c, &w, &again, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_int_equal(again->id, id);
	assert_int_equal(again->created_wall_ns, when);
	w.max_record_bytes = SL_CATALOG_DEFAULT_MAX_RECORD_BYTES;
	created = true;
	assert_int_equal(sl_catalog_create(c, &w, &again, &created, err, sizeof(err)), 0);
	assert_false(created);
	assert_int_equal(again->id, id);
	assert_int_equal(sl_catalog_version(c), version);
	assert_int_equal(sl_catalog_count(c), 1);
	sl_catalog_free(c);
}

static void conflicting_create(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	struct sl_stream_def w = want("orders", 4);
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	uint64_t version = sl_catalog_version(c);
	char before[65536];
	snprintf(before, sizeof(before), "%s", read_text(path));

	w.partitions = 8;
	const struct sl_stream_def *out = (const void *)&w;
	bool created = true;
	assert_int_equal(sl_catalog_create(c, &w, &out, &created, err, sizeof(err)), SL_EDUP);
	assert_contains(err, "stream orders exists with partitions 4, not 8");
	/* Outputs are untouched on error. */
	assert_ptr_equal(out, &w);
	assert_true(created);

	/* Every differing setting is named, each with the existing and the requested value. */
	w.partitions = 4;
	w.max_record_bytes = 2048;
	w.retention_age_ns = 86400 * SEC;
	w.retention_bytes = 1ull << 30;
	err[0] = '\0';
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), SL_EDUP);
	assert_null(strstr(err, "partitions"));
	assert_contains(err, "max_record_bytes 1MiB, not 2KiB");
	assert_contains(err, "retention_age 0 (forever), not 1d");
	assert_contains(err, "retention_bytes 0 (no limit), not 1GiB");

	assert_int_equal(sl_catalog_version(c), version);
	assert_int_equal(sl_catalog_find(c, "orders")->partitions, 4);
	assert_string_equal(read_text(path), before);
	sl_catalog_free(c);
}

/* Expects create to refuse w with SL_EINVAL and a message containing each of the strings. */
static void expect_invalid(struct sl_catalog *c, const struct sl_stream_def *w, const char *a,
			   const char *b)
{
	char err[512] = "";
	bool created = false;
	assert_int_equal(sl_catalog_create(c, w, NULL, &created, err, sizeof(err)), SL_EINVAL);
	assert_contains(err, a);
	if (b)
		assert_contains(err, b);
	/* The same check is available on its own, with the same message. */
	char err2[512] = "";
	assert_int_equal(sl_catalog_validate(w, err2, sizeof(err2)), SL_EINVAL);
	assert_string_equal(err, err2);
}

static void validation_errors(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	struct sl_stream_def w;

	const char *bad_names[] = {"", ".", "..", "a/b", "a b", "caf\xc3\xa9", "x\ny"};
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		w = want(bad_names[i], 1);
		expect_invalid(c, &w,
			       "is not valid: use 1 to 249 characters from A-Z a-z 0-9 . _ -",
			       NULL);
	}
	w = want("a/b", 1);
	expect_invalid(c, &w, "stream name 'a/b' is not valid", "other than '.' and '..'");
	/* 250 bytes: one more than a name may have; the message shows a prefix and the length. */
	memset(&w, 0, sizeof(w));
	memset(w.name, 'x', SL_STREAM_NAME_MAX);
	w.partitions = 1;
	char err[512];
	assert_int_equal(sl_catalog_validate(&w, err, sizeof(err)), 0); /* 249 is fine */
	struct {
		struct sl_stream_def d;
		char extra[8];
	} longer;
	memset(&longer, 'x', sizeof(longer));
	longer.d.partitions = 1;
	longer.d.max_record_bytes = 0;
	longer.d.retention_age_ns = 0;
	longer.d.retention_bytes = 0;
	expect_invalid(c, &longer.d, "(250 bytes) is not valid", NULL);

	w = want("orders", 0);
	expect_invalid(c, &w, "partitions must be from 1 to 4096 (got 0)", NULL);
	w = want("orders", SL_STREAM_MAX_PARTITIONS + 1);
	expect_invalid(c, &w, "partitions must be from 1 to 4096 (got 4097)", NULL);

	w = want("orders", 1);
	w.max_record_bytes = SL_STREAM_MAX_RECORD_BYTES + 1;
	expect_invalid(c, &w, "max_record_bytes must be from 1 to 16777216 (16MiB)",
		       "(got 16777217)");

	w = want("orders", 1);
	w.retention_age_ns = 500 * 1000000ull;
	expect_invalid(c, &w,
		       "retention_age must be 0 (keep forever) or a whole number of "
		       "milliseconds from 1s to 36500d",
		       "(got 500ms)");
	w.retention_age_ns = SEC + 1000; /* 1s and 1us: not a whole number of milliseconds */
	expect_invalid(c, &w, "retention_age must be", "(got 1000001us)");
	w.retention_age_ns = SL_CATALOG_MAX_RETENTION_AGE_NS + 3600 * SEC;
	expect_invalid(c, &w, "retention_age must be", "(got 876001h)");

	w = want("orders", 1);
	w.retention_bytes = 1024;
	expect_invalid(c, &w, "retention_bytes must be 0 (no limit) or from 1MiB", "(got 1KiB)");
	w.retention_bytes = SL_CATALOG_MAX_RETENTION_BYTES + 1;
	expect_invalid(c, &w, "to 1EiB", NULL);

	/* The bounds themselves are accepted. */
	w = want("a", SL_STREAM_MAX_PARTITIONS);
	w.max_record_bytes = SL_STREAM_MAX_RECORD_BYTES;
	w.retention_age_ns = SL_CATALOG_MIN_RETENTION_AGE_NS;
	w.retention_bytes = SL_CATALOG_MIN_RETENTION_BYTES;
	assert_int_equal(sl_catalog_validate(&w, err, sizeof(err)), 0);
	w.retention_age_ns = SL_CATALOG_MAX_RETENTION_AGE_NS;
	w.retention_bytes = SL_CATALOG_MAX_RETENTION_BYTES;
	w.max_record_bytes = 1;
	w.partitions = 1;
	assert_int_equal(sl_catalog_validate(&w, err, sizeof(err)), 0);

	/* Nothing was created and nothing was written. */
	assert_int_equal(sl_catalog_count(c), 0);
	assert_int_equal(sl_catalog_version(c), 1);
	assert_int_equal(access(path, F_OK), -1);
	sl_catalog_free(c);
}

static void delete_stream(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	const char *names[] = {"a", "b", "c"};
	for (int i = 0; i < 3; i++) {
		struct sl_stream_def w = want(names[i], (uint32_t)i + 1);
		assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	}
	uint64_t version = sl_catalog_version(c);
	struct sl_stream_def gone;
	memset(&gone, 0, sizeof(gone));
	assert_int_equal(sl_catalog_delete(c, "b", &gone, err, sizeof(err)), 0);
	assert_string_equal(gone.name, "b");
	assert_int_equal(gone.id, 2);
	assert_int_equal(gone.partitions, 2);
	assert_int_equal(sl_catalog_version(c), version + 1);
	assert_int_equal(sl_catalog_count(c), 2);
	assert_null(sl_catalog_find(c, "b"));
	assert_string_equal(sl_catalog_at(c, 0)->name, "a");
	assert_string_equal(sl_catalog_at(c, 1)->name, "c");
	assert_contains(read_text(path), "\"c\"");
	assert_null(strstr(read_text(path), "\"b\""));

	assert_int_equal(sl_catalog_delete(c, "b", NULL, err, sizeof(err)), SL_ENOTFOUND);
	assert_string_equal(err, "no stream named b");
	assert_int_equal(sl_catalog_version(c), version + 1);

	/* Down to empty, and the empty catalogue is still a valid file. */
	assert_int_equal(sl_catalog_delete(c, "a", NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_delete(c, "c", NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_count(c), 0);
	sl_catalog_free(c);
	c = open_ok();
	assert_int_equal(sl_catalog_count(c), 0);
	sl_catalog_free(c);
}

static void ids_never_reused(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	const struct sl_stream_def *d;
	struct sl_stream_def w = want("a", 1);
	assert_int_equal(sl_catalog_create(c, &w, &d, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->id, 1);
	w = want("b", 1);
	assert_int_equal(sl_catalog_create(c, &w, &d, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->id, 2);
	assert_int_equal(sl_catalog_delete(c, "b", NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_create(c, &w, &d, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->id, 3);
	/* Delete everything: the next id survives in the file across a restart. */
	assert_int_equal(sl_catalog_delete(c, "a", NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_delete(c, "b", NULL, err, sizeof(err)), 0);
	sl_catalog_free(c);
	c = open_ok();
	w = want("a", 1);
	assert_int_equal(sl_catalog_create(c, &w, &d, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->id, 4);
	sl_catalog_free(c);
}

static void persistence(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	struct sl_stream_def w[3] = {want("orders", 8), want("clicks.v2", 4096), want("a-b_c", 1)};
	w[0].retention_age_ns = 7 * 86400 * SEC;
	w[0].retention_bytes = 64ull << 30;
	w[1].max_record_bytes = 4096;
	w[2].retention_age_ns = 1500 * 1000000ull; /* 1.5 s: milliseconds survive */
	w[2].max_record_bytes = SL_STREAM_MAX_RECORD_BYTES;
	struct sl_stream_def saved[3];
	for (int i = 0; i < 3; i++) {
		const struct sl_stream_def *d;
		assert_int_equal(sl_catalog_create(c, &w[i], &d, NULL, err, sizeof(err)), 0);
		saved[i] = *d;
	}
	assert_int_equal(sl_catalog_delete(c, "orders", NULL, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_create(c, &w[0], NULL, NULL, err, sizeof(err)), 0);
	saved[0] = *sl_catalog_find(c, "orders");
	sl_catalog_free(c);

	c = open_ok();
	assert_int_equal(sl_catalog_version(c), 1); /* a fresh open starts again at 1 */
	assert_int_equal(sl_catalog_count(c), 3);
	for (int i = 0; i < 3; i++) {
		const struct sl_stream_def *d = sl_catalog_find(c, saved[i].name);
		assert_non_null(d);
		assert_int_equal(d->id, saved[i].id);
		assert_int_equal(d->partitions, saved[i].partitions);
		assert_int_equal(d->max_record_bytes, saved[i].max_record_bytes);
		assert_int_equal(d->retention_age_ns, saved[i].retention_age_ns);
		assert_int_equal(d->retention_bytes, saved[i].retention_bytes);
		assert_int_equal(d->created_wall_ns, saved[i].created_wall_ns);
	}
	assert_int_equal(sl_catalog_find(c, "orders")->id, 4);
	/* An identical create after the restart is still recognised as the same stream. */
	bool created = true;
	assert_int_equal(sl_catalog_create(c, &w[2], NULL, &created, err, sizeof(err)), 0);
	assert_false(created);
	sl_catalog_free(c);

	/* A leftover temporary file (a crash between write and rename) is ignored. */
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	write_text(tmp, "{garbage");
	c = open_ok();
	assert_int_equal(sl_catalog_count(c), 3);
	struct sl_stream_def x = want("x", 1);
	assert_int_equal(sl_catalog_create(c, &x, NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(access(tmp, F_OK), -1);
	sl_catalog_free(c);
}

/* Writes text as the catalogue file and expects open to refuse it with SL_ECORRUPT and a
 * message that names the file and contains what. */
static void expect_corrupt(const char *text, const char *what)
{
	write_text(path, text);
	struct sl_catalog *c = (struct sl_catalog *)&c;
	char err[1024] = "";
	int rc = sl_catalog_open(path, &c, err, sizeof(err));
	if (rc != SL_ECORRUPT)
		fail_msg("open of %s gave %d (%s), want SL_ECORRUPT", text, rc, err);
	assert_null(c);
	assert_contains(err, path);
	assert_contains(err, what);
}

#define STREAM(fields) "{\"version\":1,\"next_id\":9,\"streams\":[" fields "]}"
#define ORDERS                                                                                     \
	"{\"id\":1,\"name\":\"orders\",\"partitions\":8,\"max_record_bytes\":1048576,"             \
	"\"retention_age_ms\":0,\"retention_bytes\":0,\"created_ms\":1}"

static void corrupt_files(void **state)
{
	(void)state;
	/* A valid file first, so the cases below differ from it in one thing each. */
	write_text(path, STREAM(ORDERS));
	struct sl_catalog *c = open_ok();
	assert_int_equal(sl_catalog_count(c), 1);
	sl_catalog_free(c);

	expect_corrupt("", "is not valid JSON");
	expect_corrupt("{not json", "is not valid JSON: line 1");
	/* A file cut in the middle, as a torn write would leave it. */
	char cut[256];
	snprintf(cut, sizeof(cut), "%s", STREAM(ORDERS));
	cut[strlen(cut) / 2] = '\0';
	expect_corrupt(cut, "is not valid JSON");
	expect_corrupt("[]", "the top level is not a JSON object");
	expect_corrupt("{\"next_id\":1,\"streams\":[]}", "no format version");
	expect_corrupt("{\"version\":2,\"next_id\":1,\"streams\":[]}", "unknown format version");
	expect_corrupt("{\"version\":1,\"streams\":[]}", "\"next_id\" must be");
	expect_corrupt("{\"version\":1,\"next_id\":0,\"streams\":[]}", "\"next_id\" must be");
	expect_corrupt("{\"version\":1,\"next_id\":1}", "\"streams\" must be an array");
	expect_corrupt(STREAM("3"), "streams[0] is not an object");
	expect_corrupt("{\"version\":1,\"version\":1,\"next_id\":1,\"streams\":[]}",
		       "duplicate object key");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"orders\",\"partitions\":0,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams[0]: partitions must be from 1 to 4096 (got 0)");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"orders\",\"partitions\":\"8\","
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams[0]: partitions must be an integer");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"orders\",\"partitions\":8,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,\"created_ms\":1}"),
		       "streams[0]: missing field 'retention_bytes'");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"a/b\",\"partitions\":8,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams[0]: stream name 'a/b' is not valid");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"orders\",\"partitions\":8,"
			      "\"max_record_bytes\":0,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams[0] (orders): max_record_bytes must be from 1");
	expect_corrupt(STREAM("{\"id\":9,\"name\":\"orders\",\"partitions\":8,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams[0] (orders): \"id\" must be an integer from 1 to next_id - 1 (8)");
	expect_corrupt(STREAM("{\"name\":\"orders\",\"partitions\":8,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0,\"created_ms\":1}"),
		       "\"id\" must be an integer");
	expect_corrupt(STREAM("{\"id\":1,\"name\":\"orders\",\"partitions\":8,"
			      "\"max_record_bytes\":1,\"retention_age_ms\":0,"
			      "\"retention_bytes\":0}"),
		       "\"created_ms\" must be");
	expect_corrupt(STREAM(ORDERS ",{\"id\":1,\"name\":\"other\",\"partitions\":8,"
				     "\"max_record_bytes\":1,\"retention_age_ms\":0,"
				     "\"retention_bytes\":0,\"created_ms\":1}"),
		       "streams orders and other share id 1");
	expect_corrupt(STREAM(ORDERS ",{\"id\":2,\"name\":\"orders\",\"partitions\":8,"
				     "\"max_record_bytes\":1048576,\"retention_age_ms\":0,"
				     "\"retention_bytes\":0,\"created_ms\":1}"),
		       "stream orders is listed twice");

	/* A file that exists but cannot be read is an I/O error, not an empty catalogue. */
	remove(path);
	assert_int_equal(mkdir(path, 0700), 0);
	c = (struct sl_catalog *)&c;
	char err[512] = "";
	assert_int_equal(sl_catalog_open(path, &c, err, sizeof(err)), SL_EIO);
	assert_null(c);
	assert_contains(err, path);
	assert_contains(err, "Is a directory");
	rmdir(path);

	assert_int_equal(sl_catalog_open("", &c, err, sizeof(err)), SL_EINVAL);
}

/* Expects a create and a delete on c to fail with SL_EIO, leaving the catalogue as it was. */
static void expect_write_failure(struct sl_catalog *c, const char *why)
{
	char err[512] = "";
	uint64_t version = sl_catalog_version(c);
	uint32_t count = sl_catalog_count(c);
	struct sl_stream_def w = want("new", 2);
	bool created = false;
	assert_int_equal(sl_catalog_create(c, &w, NULL, &created, err, sizeof(err)), SL_EIO);
	assert_contains(err, "streams.json.tmp");
	assert_contains(err, why);
	assert_false(created);
	assert_null(sl_catalog_find(c, "new"));
	assert_int_equal(sl_catalog_count(c), count);
	assert_int_equal(sl_catalog_version(c), version);
	if (count > 0) {
		char name[SL_STREAM_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%s", sl_catalog_at(c, 0)->name);
		err[0] = '\0';
		assert_int_equal(sl_catalog_delete(c, name, NULL, err, sizeof(err)), SL_EIO);
		assert_contains(err, why);
		assert_non_null(sl_catalog_find(c, name));
		assert_int_equal(sl_catalog_count(c), count);
		assert_int_equal(sl_catalog_version(c), version);
	}
}

static void failed_write(void **state)
{
	(void)state;
	char err[512] = "";
	char sub[300], subpath[340];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(subpath, sizeof(subpath), "%s/streams.json", sub);
	assert_int_equal(mkdir(sub, 0700), 0);
	struct sl_catalog *c = NULL;
	assert_int_equal(sl_catalog_open(subpath, &c, err, sizeof(err)), 0);
	struct sl_stream_def w = want("kept", 1);
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);

	/* Root ignores directory permissions, so the directory is taken away instead. */
	assert_int_equal(unlink(subpath), 0);
	assert_int_equal(rmdir(sub), 0);
	expect_write_failure(c, "No such file or directory");
	/* Once the directory is back, the same catalogue writes again, with the next id. */
	assert_int_equal(mkdir(sub, 0700), 0);
	w = want("new", 2);
	const struct sl_stream_def *d;
	assert_int_equal(sl_catalog_create(c, &w, &d, NULL, err, sizeof(err)), 0);
	assert_int_equal(d->id, 2);
	sl_catalog_free(c);

	/* /proc accepts no new files, for root either. */
	assert_int_equal(sl_catalog_open("/proc/self/streams.json", &c, err, sizeof(err)), 0);
	assert_int_equal(sl_catalog_count(c), 0);
	char e2[512] = "";
	struct sl_stream_def x = want("x", 1);
	assert_int_equal(sl_catalog_create(c, &x, NULL, NULL, e2, sizeof(e2)), SL_EIO);
	assert_contains(e2, "cannot create /proc/self/streams.json.tmp");
	assert_int_equal(sl_catalog_count(c), 0);
	assert_int_equal(sl_catalog_version(c), 1);
	sl_catalog_free(c);

	/* Without root, a read-only directory is the realistic case. */
	if (geteuid() != 0) {
		c = open_ok();
		w = want("kept", 1);
		assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
		assert_int_equal(chmod(dir, 0500), 0);
		expect_write_failure(c, "Permission denied");
		assert_int_equal(chmod(dir, 0700), 0);
		sl_catalog_free(c);
	}
}

static void snapshot(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	struct sl_stream_set *empty = sl_catalog_snapshot(c);
	assert_non_null(empty);
	assert_int_equal(empty->count, 0);
	assert_int_equal(empty->version, 1);

	const char *names[] = {"m", "z", "a"};
	for (int i = 0; i < 3; i++) {
		struct sl_stream_def w = want(names[i], (uint32_t)i + 2);
		w.retention_bytes = (uint64_t)(i + 1) * MIB;
		assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	}
	struct sl_stream_set *s = sl_catalog_snapshot(c);
	assert_non_null(s);
	assert_int_equal(s->version, sl_catalog_version(c));
	assert_int_equal(s->version, 4);
	assert_int_equal(s->count, 3);
	for (uint32_t i = 0; i < 3; i++) {
		const struct sl_stream_def *d = sl_catalog_at(c, i);
		assert_string_equal(s->defs[i].name, d->name);
		assert_int_equal(s->defs[i].id, d->id);
		assert_int_equal(s->defs[i].partitions, d->partitions);
		assert_int_equal(s->defs[i].retention_bytes, d->retention_bytes);
		assert_int_equal(s->defs[i].created_wall_ns, d->created_wall_ns);
	}
	assert_int_equal(sl_stream_set_find(s, "z", 1)->id, 2);

	/* A snapshot is a copy: later changes make a new one and leave this one as it was. */
	assert_int_equal(sl_catalog_delete(c, "z", NULL, err, sizeof(err)), 0);
	assert_int_equal(s->count, 3);
	assert_non_null(sl_stream_set_find(s, "z", 1));
	struct sl_stream_set *s2 = sl_catalog_snapshot(c);
	assert_int_equal(s2->count, 2);
	assert_int_equal(s2->version, 5);
	assert_null(sl_stream_set_find(s2, "z", 1));
	sl_stream_set_unref(s2);
	sl_stream_set_unref(s);
	sl_stream_set_unref(empty);
	sl_catalog_free(c);
}

static void def_json(void **state)
{
	(void)state;
	struct sl_stream_def d = want("orders", 8);
	d.id = 3;
	d.max_record_bytes = 1u << 20;
	d.retention_age_ns = 7 * 86400 * SEC;
	d.retention_bytes = 64 * MIB;
	d.created_wall_ns = 1718000000123ull * 1000000 + 999;
	json_t *j = sl_stream_def_json(&d);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 9);
	assert_true(json_is_false(json_object_get(j, "export")));
	assert_int_equal(json_integer_value(json_object_get(j, "export_max_age_ms")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 3);
	assert_string_equal(json_string_value(json_object_get(j, "name")), "orders");
	assert_int_equal(json_integer_value(json_object_get(j, "partitions")), 8);
	assert_int_equal(json_integer_value(json_object_get(j, "max_record_bytes")), 1 << 20);
	assert_int_equal(json_integer_value(json_object_get(j, "retention_age_ms")),
			 7 * 86400 * 1000);
	assert_int_equal(json_integer_value(json_object_get(j, "retention_bytes")), 64 * MIB);
	assert_int_equal(json_integer_value(json_object_get(j, "created_ms")), 1718000000123ll);
	json_decref(j);
}

/* Parses a request and expects sl_catalog_admin_create_args to refuse it with a message
 * containing what. */
static void expect_bad_request(const char *text, const char *what)
{
	json_t *req = json_loads(text, JSON_ALLOW_NUL, NULL);
	assert_non_null(req);
	struct sl_stream_def d;
	char err[512] = "";
	int rc = sl_catalog_admin_create_args(req, &d, err, sizeof(err));
	json_decref(req);
	if (rc != SL_EINVAL)
		fail_msg("%s gave %d, want SL_EINVAL", text, rc);
	assert_contains(err, what);
}

/* Export settings: validated, kept in the file, part of an idempotent create's comparison;
 * files without them read as streams without export. */
static void export_settings(void **state)
{
	(void)state;
	struct sl_catalog *c = open_ok();
	char err[512] = "";
	struct sl_stream_def w = want("ex", 2);
	w.export_max_age_ns = 3600 * SEC;
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), SL_EINVAL);
	assert_string_equal(err, "export_max_age needs export (--export)");
	w.export_enabled = true;
	w.export_max_age_ns = 5 * 1000000;
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "export_max_age must be 0 (keep until acknowledged)"));
	w.export_max_age_ns = 3600 * SEC;
	assert_int_equal(sl_catalog_create(c, &w, NULL, NULL, err, sizeof(err)), 0);
	struct sl_stream_def plain = want("plain", 1);
	assert_int_equal(sl_catalog_create(c, &plain, NULL, NULL, err, sizeof(err)), 0);
	struct sl_stream_def other = w;
	other.export_enabled = false;
	other.export_max_age_ns = 0;
	assert_int_equal(sl_catalog_create(c, &other, NULL, NULL, err, sizeof(err)), SL_EDUP);
	assert_non_null(strstr(err, "export on, not off"));
	sl_catalog_free(c);

	c = open_ok();
	const struct sl_stream_def *d = sl_catalog_find(c, "ex");
	assert_non_null(d);
	assert_true(d->export_enabled);
	assert_int_equal(d->export_max_age_ns, 3600 * SEC);
	assert_false(sl_catalog_find(c, "plain")->export_enabled);
	struct sl_stream_set *set = sl_catalog_snapshot(c);
	assert_true(set->defs[0].export_enabled);
	sl_stream_set_unref(set);
	sl_catalog_free(c);

	write_text(path, "{\"version\":1,\"next_id\":2,\"streams\":[{\"id\":1,\"name\":\"old\","
			 "\"partitions\":1,\"max_record_bytes\":1024,\"retention_age_ms\":0,"
			 "\"retention_bytes\":0,\"created_ms\":1}]}");
	c = open_ok();
	assert_false(sl_catalog_find(c, "old")->export_enabled);
	sl_catalog_free(c);

	json_t *req = json_loads("{\"name\":\"a\",\"partitions\":1,\"export\":1}", 0, NULL);
	assert_int_equal(sl_catalog_admin_create_args(req, &w, err, sizeof(err)), SL_EINVAL);
	assert_string_equal(err, "export must be true or false");
	json_decref(req);
}

static void admin_create_args(void **state)
{
	(void)state;
	struct sl_stream_def d;
	char err[512] = "";
	json_t *req = json_loads("{\"cmd\":\"stream\",\"op\":\"create\",\"name\":\"orders\","
				 "\"partitions\":8,\"max_record_bytes\":2048,"
				 "\"retention_age_ms\":604800000,\"retention_bytes\":67108864,"
				 "\"id\":7,\"colour\":\"blue\"}",
				 0, NULL);
	assert_int_equal(sl_catalog_admin_create_args(req, &d, err, sizeof(err)), 0);
	json_decref(req);
	assert_string_equal(d.name, "orders");
	assert_int_equal(d.partitions, 8);
	assert_int_equal(d.max_record_bytes, 2048);
	assert_int_equal(d.retention_age_ns, 7 * 86400 * SEC);
	assert_int_equal(d.retention_bytes, 64 * MIB);
	assert_int_equal(d.id,
			 0); /* the request's "id" is the admin protocol's, not the stream's */

	/* Only name and partitions are needed; the rest default to 0. */
	req = json_loads("{\"name\":\"a\",\"partitions\":1}", 0, NULL);
	assert_int_equal(sl_catalog_admin_create_args(req, &d, err, sizeof(err)), 0);
	json_decref(req);
	assert_int_equal(d.max_record_bytes, 0);
	assert_int_equal(d.retention_age_ns, 0);
	assert_int_equal(d.retention_bytes, 0);

	expect_bad_request("{\"partitions\":8}", "missing field 'name'");
	expect_bad_request("{\"name\":5,\"partitions\":8}", "name must be a string");
	expect_bad_request("{\"name\":\"a b\",\"partitions\":8}", "stream name 'a b' is not valid");
	expect_bad_request("{\"name\":\"a\\u0000b\",\"partitions\":8}", "is not valid");
	expect_bad_request("{\"name\":\"orders\"}", "missing field 'partitions'");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":\"8\"}",
			   "partitions must be an integer");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8.0}",
			   "partitions must be an integer");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":-3}",
			   "partitions must be from 1 to 4096 (got -3)");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":4294967297}",
			   "partitions must be from 1 to 4096 (got 4294967297)");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"max_record_bytes\":true}",
			   "max_record_bytes must be an integer");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"max_record_bytes\":-1}",
			   "max_record_bytes must be from 1 to 16777216");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"retention_age_ms\":500}",
			   "retention_age must be 0 (keep forever) or a whole number of "
			   "milliseconds from 1s");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,"
			   "\"retention_age_ms\":9223372036854775807}",
			   "(got 9223372036854775807ms)");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"retention_age_ms\":\"7d\"}",
			   "retention_age_ms must be an integer");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"retention_bytes\":4096}",
			   "retention_bytes must be 0 (no limit) or from 1MiB");
	expect_bad_request("{\"name\":\"orders\",\"partitions\":8,\"retention_bytes\":-1}",
			   "(got -1)");
	expect_bad_request("[1]", "not a JSON object");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(create_and_find, setup, teardown),
		cmocka_unit_test_setup_teardown(idempotent_create, setup, teardown),
		cmocka_unit_test_setup_teardown(conflicting_create, setup, teardown),
		cmocka_unit_test_setup_teardown(validation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(delete_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(ids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(corrupt_files, setup, teardown),
		cmocka_unit_test_setup_teardown(failed_write, setup, teardown),
		cmocka_unit_test_setup_teardown(snapshot, setup, teardown),
		cmocka_unit_test(def_json),
		cmocka_unit_test_setup_teardown(export_settings, setup, teardown),
		cmocka_unit_test(admin_create_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
