/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shardctl export without a daemon: argument parsing, and the built binary against an export
 * queue that the daemon's export engine (durable/export.h) wrote into a real localdir store:
 * records in queue order with partition and offset, a batch whose object is gone skipped with
 * a message, acknowledgements that empty the queue, and the usage errors' exit status.
 */
#include "core/test_common.h"
#include "buffer/batch.h"
#include "control/ctl_export.h"
#include "core/err.h"
#include "drivers/objstore/localdir.h"
#include "durable/export.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse(struct sl_ctl_export_args *a, char *err, size_t errlen, ...)
{
	char *argv[16] = {"export"};
	int argc = 1;
	va_list ap;
	va_start(ap, errlen);
	for (char *s; (s = va_arg(ap, char *)) != NULL;)
		argv[argc++] = s;
	va_end(ap);
	return sl_ctl_export_parse(argc, argv, a, err, errlen);
}

static void parse_args(void **state)
{
	(void)state;
	struct sl_ctl_export_args a;
	char err[256];
	assert_int_equal(parse(&a, err, sizeof(err), "--objects", "/d", "ex", NULL), 0);
	assert_string_equal(a.objects, "/d");
	assert_string_equal(a.stream, "ex");
	assert_int_equal(a.ack_every, 1);
	assert_int_equal(a.read_ahead, 8);
	assert_false(a.once || a.json);
	assert_int_equal(parse(&a, err, sizeof(err), "ex", "--objects=/d", "--ack-every", "50",
			       "--read-ahead=2", "--once", "--json", NULL),
			 0);
	assert_int_equal(a.ack_every, 50);
	assert_int_equal(a.read_ahead, 2);
	assert_true(a.once && a.json);

	static const struct {
		const char *args[6];
		const char *msg;
	} bad[] = {
		{{"ex"}, "export needs --objects DIR (the daemon's DATA_DIR/objects)"},
		{{"--objects", "/d"}, "export needs a stream name"},
		{{"--objects", "/d", "a", "b"}, "export takes one stream name (got 'a' and 'b')"},
		{{"--objects", "/d", "ex", "--ack-every", "0"},
		 "bad --ack-every '0': expected an integer from 1 to 1000000"},
		{{"--objects", "/d", "ex", "--read-ahead"}, "--read-ahead needs a value"},
		{{"--objects", "/d", "ex", "--follow"}, "unknown option '--follow'"},
		{{"--objects", "/d", "a b"}, "bad stream name 'a b'"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[8] = {"export"};
		int argc = 1;
		for (int k = 0; k < 6 && bad[i].args[k]; k++)
			argv[argc++] = (char *)bad[i].args[k];
		err[0] = '\0';
		assert_int_equal(sl_ctl_export_parse(argc, argv, &a, err, sizeof(err)), SL_EINVAL);
		assert_string_equal(err, bad[i].msg);
	}
}

/* ---- the binary against a queue the export engine wrote ---- */

static char dir[64];

static void put(struct sl_objstore *s, const char *key, struct sl_buf *body)
{
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_PUT;
	r.key = key;
	r.body = body;
	assert_int_equal(sl_objstore_run(s, &r), 0);
	sl_obj_req_reset(&r);
}

/* An object of two shardline batches (partition 0: n0 records "p0-<off>", partition 1: one
 * record "p1-<first1>") like a flush's, and its durable event for the export engine. */
static void flush_object(struct sl_objstore *s, struct sl_export *ex, const char *key,
			 uint64_t first0, uint32_t n0, uint64_t first1)
{
	char v[8][16];
	struct iovec iov[8];
	for (uint32_t i = 0; i < n0; i++) {
		snprintf(v[i], sizeof(v[i]), "p0-%llu", (unsigned long long)(first0 + i));
		iov[i] = (struct iovec){v[i], strlen(v[i])};
	}
	struct sl_buf *b0 = NULL, *b1 = NULL;
	assert_int_equal(sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, iov, n0, NULL, &b0),
			 0);
	snprintf(v[7], sizeof(v[7]), "p1-%llu", (unsigned long long)first1);
	iov[7] = (struct iovec){v[7], strlen(v[7])};
	assert_int_equal(
		sl_batch_encode(SL_BATCH_SHARDLINE, SL_BATCH_NONE, 0, &iov[7], 1, NULL, &b1), 0);
	struct sl_buf *obj = sl_buf_alloc(b0->len + b1->len);
	memcpy(obj->data, b0->data, b0->len);
	memcpy(obj->data + b0->len, b1->data, b1->len);
	obj->len = b0->len + b1->len;
	struct sl_seg_range r[2] = {{7, 0, first0, n0, 0, b0->len, 0, 0, NULL},
				    {7, 1, first1, 1, b0->len, b1->len, 0, 0, NULL}};
	struct sl_seg_event ev = {.boot = 1, .worker = 0, .seq = first0, .wall_ms = 1};
	snprintf(ev.key, sizeof(ev.key), "%s", key);
	ev.object_size = obj->len;
	ev.nranges = 2;
	ev.ranges = r;
	put(s, key, obj);
	assert_int_equal(sl_export_add(ex, &ev), 1);
	sl_buf_unref(b0);
	sl_buf_unref(b1);
}

static char out[65536], errtext[4096];

/* Runs the shardctl binary with args; fills out and errtext; returns its exit status. */
static int run_ctl(const char *args)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "'%s' export %s >'%s/out' 2>'%s/err'", getenv("SHARDCTL"), args,
		 dir, dir);
	int st = system(cmd);
	char p[128];
	snprintf(p, sizeof(p), "%s/out", dir);
	FILE *f = fopen(p, "r");
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	snprintf(p, sizeof(p), "%s/err", dir);
	f = fopen(p, "r");
	n = fread(errtext, 1, sizeof(errtext) - 1, f);
	errtext[n] = '\0';
	fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void binary(void **state)
{
	(void)state;
	if (getenv("SHARDCTL") == NULL) {
		print_message("SHARDCTL not set (run through meson test): skipped\n");
		skip();
	}
	snprintf(dir, sizeof(dir), "/tmp/sl-ctl-export-XXXXXX");
	assert_non_null(mkdtemp(dir));
	char objects[128];
	snprintf(objects, sizeof(objects), "%s/objects", dir);
	struct sl_objstore *s = NULL;
	assert_int_equal(sl_localdir_open(objects, NULL, &s), 0);
	struct sl_export_config cfg;
	sl_export_config_default(&cfg);
	cfg.store = s;
	struct sl_export *ex = NULL;
	assert_int_equal(sl_export_new(&cfg, &ex), 0);
	struct sl_stream_def d = {.id = 7, .partitions = 2, .export_enabled = true};
	snprintf(d.name, sizeof(d.name), "ex");
	struct sl_stream_set *set = sl_stream_set_new(&d, 1, 1);
	assert_int_equal(sl_export_set_streams(ex, set), 0);
	sl_stream_set_unref(set);
	flush_object(s, ex, "data/0000000001/w000-000000000001.batch", 0, 2, 0);
	flush_object(s, ex, "data/0000000001/w000-000000000002.batch", 2, 1, 1);
	flush_object(s, ex, "data/0000000001/w000-000000000003.batch", 3, 3, 2);
	uint64_t now = 1;
	struct sl_export_stats st = {0};
	for (int i = 0; i < 100000 && !(st.enqueued == 3 && sl_export_idle(ex)); i++) {
		sl_objstore_poll(s, now);
		sl_export_poll(ex, now);
		sl_export_stats(ex, &st);
		now += 1000000;
		usleep(100); /* the store's fsyncs take real time */
	}
	assert_int_equal(st.enqueued, 3);
	sl_export_free(ex);
	/* The second batch's object is gone, as after --export-max-age and the GC. */
	struct sl_obj_req r = {0};
	r.op = SL_OBJ_DELETE;
	r.key = "data/0000000001/w000-000000000002.batch";
	assert_int_equal(sl_objstore_run(s, &r), 0);
	sl_objstore_destroy(s);

	char args[256];
	snprintf(args, sizeof(args), "--objects '%s' ex --once", objects);
	/* The catalogue beside DIR is checked: a stream without export is refused. */
	char path[128];
	snprintf(path, sizeof(path), "%s/streams.json", dir);
	FILE *f = fopen(path, "w");
	fputs("{\"version\":1,\"next_id\":8,\"streams\":[{\"id\":7,\"name\":\"ex\","
	      "\"partitions\":2,\"export\":false}]}",
	      f);
	fclose(f);
	assert_int_equal(run_ctl(args), 1);
	assert_non_null(strstr(errtext, "stream ex is not an export stream"));
	f = fopen(path, "w");
	fputs("{\"version\":1,\"next_id\":8,\"streams\":[{\"id\":7,\"name\":\"ex\","
	      "\"partitions\":2,\"export\":true}]}",
	      f);
	fclose(f);
	assert_int_equal(run_ctl(args), 0);
	assert_string_equal(out, "0 0 p0-0\n0 1 p0-1\n1 0 p1-0\n"
				 "0 3 p0-3\n0 4 p0-4\n0 5 p0-5\n1 2 p1-2\n");
	assert_non_null(strstr(errtext, "batch data/0000000001/w000-000000000002.batch "
					"(partition 0, offsets 2..2) is gone"));
	assert_non_null(strstr(errtext, "2 records skipped"));
	/* Acknowledged: nothing left. */
	assert_int_equal(run_ctl(args), 0);
	assert_string_equal(out, "");
	/* Usage errors: status 2; a missing directory: 1. */
	assert_int_equal(run_ctl("ex --once"), 2);
	assert_non_null(strstr(errtext, "export needs --objects DIR"));
	assert_int_equal(run_ctl("--objects /nonexistent/sl ex --once"), 1);
	assert_non_null(strstr(errtext, "--objects /nonexistent/sl"));
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_args),
		cmocka_unit_test(binary),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
