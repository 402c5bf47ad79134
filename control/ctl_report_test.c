/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What shardctl prints for status, connections and config list, from canned daemon answers:
 * a full socket-driver status, one without its optional parts (no io lcores, no durable
 * partitions) but with DPDK devices, workers that did not answer or report odd types, an
 * empty object, connections in every state, and the real settings table.
 */
#include "core/test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/admin.h"
#include "control/config.h"
#include "control/ctl_report.h"
#include "core/err.h"

typedef int (*format_fn)(FILE *, const json_t *, char *, size_t);

static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	if (j == NULL)
		fail_msg("canned JSON: line %d column %d: %s", e.line, e.column, e.text);
	return j;
}

/* Runs fn on the JSON text; returns what it wrote (caller frees) and its result in *rc. */
static char *render_rc(format_fn fn, const char *text, int *rc)
{
	json_t *j = parse(text);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_non_null(f);
	char err[256] = "";
	*rc = fn(f, j, err, sizeof(err));
	fclose(f);
	json_decref(j);
	if (*rc != 0 && err[0] == '\0')
		fail_msg("failed (%d) without a message", *rc);
	return out;
}

static char *render(format_fn fn, const char *text)
{
	int rc;
	char *out = render_rc(fn, text, &rc);
	if (rc != 0)
		fail_msg("render failed: %d", rc);
	return out;
}

/* The texts are printed whole (fail_msg would cut them short). */
static void assert_text(char *got, const char *want)
{
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "got:\n%s\nwant:\n%s\n", got, want);
		fail();
	}
	free(got);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("'%s' does not contain '%s'", hay, needle);
}

/* ---- status ------------------------------------------------------------------------------ */

/* A socket-driver daemon under load, as shardlined answers (abridged where the renderer reads
 * nothing), with a few counters that should be zero and are not. */
static const char full_status[] =
	"{\"version\":\"0.1.0\",\"pid\":4242,\"uptime_s\":93784,"
	"\"admin\":{\"clients\":1,\"accepted\":9,\"rejected\":0,\"requests\":8,\"errors\":0},"
	"\"driver\":\"socket\","
	"\"cert_sha256\":\"bd3d9d4bb30f059bc26d5b32621f7bace7c859ed060297b3c98e9cf760f19df9\","
	"\"listen\":[\"127.0.0.1:4443\",\"[::1]:4443\"],"
	"\"workers\":["
	"{\"worker\":0,\"lcore\":1,\"connections\":1203,\"tracks\":12,\"broadcasts\":3,"
	"\"subscribers\":1200,\"rx_packets\":4567890,\"rx_bytes\":345678901,"
	"\"tx_packets\":98765432,\"tx_bytes\":123456789012,\"groups_sent\":345000,"
	"\"groups_reset\":17,\"frames_out\":20700000,\"loops\":1,"
	"\"port\":{\"rx_drops\":0,\"rx_overflows\":12,\"tx_drops\":0,\"gso\":true},"
	"\"quic\":{\"conns_accepted\":1300,\"conns_refused\":0,\"rx_dropped\":55},"
	"\"durable\":{\"partitions\":4,\"produce_records\":1000000,\"produce_errors\":0,"
	"\"fetch_records\":2500000,\"fetch_errors\":0,\"flushes\":3120,\"flush_errors\":2,"
	"\"rebuilds\":1,"
	"\"object_read_errors\":0,\"events_failed\":0,\"request_ring_full\":0,"
	"\"log\":{\"decode_errors\":0}},"
	"\"moq\":{\"payload_in\":1,\"decode_errors\":3},"
	"\"xshard\":{\"ring_full\":0}},"
	"{\"worker\":1,\"lcore\":2,\"connections\":0,\"tracks\":0,\"broadcasts\":0,"
	"\"subscribers\":0,\"rx_packets\":0,\"rx_bytes\":0,\"tx_packets\":0,\"tx_bytes\":0,"
	"\"groups_sent\":0,\"groups_reset\":0,\"frames_out\":0,"
	"\"port\":{\"rx_drops\":0},\"quic\":{\"conns_refused\":0},"
	"\"durable\":{\"partitions\":4,\"produce_records\":999,\"fetch_records\":0,"
	"\"flushes\":0,\"consumer_write_errors\":1,\"log\":{}},"
	"\"moq\":{\"decode_errors\":0},\"xshard\":{}}],"
	"\"shard_map_slots\":[512,512],"
	"\"io\":[{\"io\":0,\"lcore\":3,\"clients\":3,\"served\":6300,\"inflight\":2,"
	"\"bytes_written\":1288490189,\"bytes_read\":52428800,"
	"\"metalog\":{\"records_durable\":3120,\"fdatasyncs\":2900,\"write_errors\":0,"
	"\"trim_errors\":2},"
	"\"gc\":{\"objects_dead\":2,\"gc_deleted\":1500,\"gc_bytes_deleted\":1073741824,"
	"\"gc_delete_failed\":0}},"
	"{\"io\":1,\"lcore\":4,\"clients\":3,\"served\":10,\"inflight\":0,"
	"\"bytes_written\":4096,\"bytes_read\":0}],"
	"\"data_dir\":{\"path\":\"/var/lib/shardline\",\"free_bytes\":21474836480,"
	"\"total_bytes\":107374182400,\"in_use\":true},"
	"\"durable\":{\"boot\":7,\"streams\":2,\"recovery\":{\"events\":23449,"
	"\"segments\":23440,\"void\":1,\"gaps\":0,\"truncations\":0,\"objects\":812,"
	"\"orphans_to_gc\":3,\"ms\":340.1}}}";

static void test_status_full(void **state)
{
	(void)state;
	assert_text(render(sl_ctl_status_format, full_status),
		    "version    shardlined 0.1.0, pid 4242, up 1d02h\n"
		    "driver     socket, 2 workers, 2 io lcores\n"
		    "listen     127.0.0.1:4443, [::1]:4443\n"
		    "cert       sha256 bd3d9d4bb30f059b...\n"
		    "data dir   /var/lib/shardline, 20.0 GiB free of 100 GiB (80% used)\n"
		    "durable    boot 7, 2 streams; recovered 23440 segments from 23449 events in "
		    "340 ms, 1 void, 3 unreferenced objects left to the GC\n"
		    "\n"
		    "WORKER  LCORE  CONNS  TRACKS  BCASTS   SUBS  RX_PKTS  TX_PKTS  RX_BYTES  "
		    "TX_BYTES  GROUPS  RESETS  FRAMES  PARTS  PRODUCED  FETCHED  FLUSHES  ERRORS\n"
		    "     0      1  1.2 k      12       3  1.2 k    4.6 M   98.8 M   330 MiB   115 "
		    "GiB   345 k      17  20.7 M      4     1.0 M    2.5 M    3.1 k       5\n"
		    "     1      2      0       0       0      0        0        0       0 B       "
		    "0 B       0       0       0      4       999        0        0       0\n"
		    "\n"
		    "IO  LCORE  CLIENTS  SERVED  INFLIGHT  WRITTEN      READ  METALOG_RECORDS  "
		    "FDATASYNCS  GC_DEAD  GC_DELETED  GC_BYTES\n"
		    " 0      3        3   6.3 k         2  1.2 GiB  50.0 MiB            3.1 k      "
		    " 2.9 k        2       1.5 k   1.0 GiB\n"
		    " 1      4        3      10         0  4.0 KiB       0 B                -      "
		    "     -        -           -         -\n"
		    "\n"
		    "warnings:\n"
		    "  worker 0: rx overflows 12, moq decode errors 3, flush errors 2, write paths "
		    "rebuilt 1\n"
		    "  worker 1: consumer position writes failed 1\n"
		    "  io 0: metalog trim errors 2\n");
}

/* A DPDK daemon started with --io-cores 0: no durable part, no data directory in use, an
 * empty io list; devices and neighbours; one worker that did not answer, one whose counters
 * are missing or of the wrong type. */
static const char dpdk_status[] =
	"{\"version\":\"0.2.0\",\"pid\":77,\"uptime_s\":59,\"driver\":\"dpdk\","
	"\"cert_sha256\":\"\",\"listen\":[\"203.0.113.10:4443\"],"
	"\"admin\":{\"rejected\":2},"
	"\"workers\":["
	"{\"worker\":0,\"error\":\"no answer within 1 s\"},"
	"{\"worker\":1,\"lcore\":\"two\",\"connections\":-1,\"rx_bytes\":2048,"
	"\"port\":{\"rx_bad_csum\":4,\"neigh_drops\":1,\"tx_errors\":2},"
	"\"handoff\":{\"dropped_full\":3},\"moq\":null,"
	"\"pools\":{\"quic_streams\":{\"gets\":9,\"fails\":1}}},"
	"[1,2,3]],"
	"\"io\":[],"
	"\"data_dir\":{\"path\":\"/var/lib/shardline\",\"in_use\":false},"
	"\"devices\":[{\"port\":0,\"name\":\"0000:3b:00.0\",\"driver\":\"net_ice\","
	"\"mac\":\"02:00:00:00:00:01\",\"queues\":2,\"rss\":true,\"mtu\":1500,"
	"\"link_up\":true,\"link_speed_mbps\":25000,\"rx_packets\":1000,\"rx_bytes\":1500000,"
	"\"tx_packets\":2000,\"tx_bytes\":3000000,\"rx_missed\":0,\"rx_errors\":1,"
	"\"tx_errors\":2,\"rx_nombuf\":0,\"xstats\":{}},"
	"{\"port\":1,\"name\":\"net_tap0\",\"driver\":\"net_tap\",\"rss\":false,"
	"\"link_up\":false,\"link_speed_mbps\":0}],"
	"\"neighbours\":3}";

static void test_status_dpdk_without_optional_parts(void **state)
{
	(void)state;
	assert_text(render(sl_ctl_status_format, dpdk_status),
		    "version    shardlined 0.2.0, pid 77, up 59s\n"
		    "driver     dpdk, 3 workers, 0 io lcores\n"
		    "listen     203.0.113.10:4443\n"
		    "cert       -\n"
		    "data dir   /var/lib/shardline (not used: no io lcores)\n"
		    "durable    none (no io lcores)\n"
		    "neighbours 3\n"
		    "\n"
		    "WORKER  LCORE  CONNS  TRACKS  BCASTS  SUBS  RX_PKTS  TX_PKTS  RX_BYTES  "
		    "TX_BYTES  GROUPS  RESETS  FRAMES  PARTS  PRODUCED  FETCHED  FLUSHES  ERRORS\n"
		    "     0      -      -       -       -     -        -        -         -        "
		    " -       -       -       -      -         -        -        -       -\n"
		    "     1      -      -       -       -     -        -        -   2.0 KiB        "
		    " -       -       -       -      -         -        -        -       -\n"
		    "     2      -      -       -       -     -        -        -         -        "
		    " -       -       -       -      -         -        -        -       -\n"
		    "\n"
		    "PORT  NAME          DRIVER   LINK    QUEUES  RSS   MTU  RX_PKTS  TX_PKTS  "
		    "RX_BYTES  TX_BYTES  MISSED  ERRORS  NOMBUF\n"
		    "   0  0000:3b:00.0  net_ice  up 25G       2  yes  1500    1.0 k    2.0 k   "
		    "1.4 MiB   2.9 MiB       0       3       0\n"
		    "   1  net_tap0      net_tap  down         -  no      -        -        -      "
		    "   -         -       -       -       -\n"
		    "\n"
		    "warnings:\n"
		    "  admin: clients rejected 2\n"
		    "  worker 0: no answer within 1 s\n"
		    "  worker 1: bad checksums 4, neighbour drops 1, tx errors 2, "
		    "hand-offs dropped (ring full) 3, quic stream pool refusals (no memory) 1\n"
		    "  device 0 (0000:3b:00.0): rx errors 1, tx errors 2\n"
		    "  device 1 (net_tap0): link down\n");
}

static void test_status_sparse(void **state)
{
	(void)state;
	/* Nothing at all: every line of the header, each with "-". */
	assert_text(render(sl_ctl_status_format, "{}"), "version    shardlined -\n"
							"driver     -\n"
							"listen     -\n"
							"cert       -\n");

	/* What the admin unit test's server answers: a few worker counters, no worker ids. */
	char *out = render(sl_ctl_status_format,
			   "{\"version\":\"0.1.0\",\"pid\":1,\"uptime_s\":0,\"admin\":{},"
			   "\"driver\":\"socket\",\"workers\":[{\"lcore\":1,\"connections\":3,"
			   "\"tracks\":2,\"subscribers\":7,\"rx_packets\":100,\"rx_bytes\":123456,"
			   "\"tx_packets\":700,\"tx_bytes\":654321}]}");
	assert_contains(out, "up 0s\n");
	assert_contains(out, "     0      1      3       2       -     7      100      700   "
			     "121 KiB   639 KiB       -");
	assert_null(strstr(out, "warnings"));
	assert_null(strstr(out, "IO  LCORE"));
	free(out);

	/* Members of the wrong type everywhere. */
	out = render(sl_ctl_status_format,
		     "{\"version\":7,\"pid\":\"x\",\"listen\":\"127.0.0.1:1\",\"workers\":{},"
		     "\"io\":[null,\"x\"],\"data_dir\":{\"free_bytes\":1,\"total_bytes\":0},"
		     "\"durable\":{\"recovery\":[]},\"devices\":[null]}");
	assert_contains(out, "version    shardlined -\n");
	assert_contains(out, "listen     -\n");
	assert_contains(out, "data dir   -, free space unknown\n");
	assert_contains(out, "durable    - streams\n");
	assert_contains(out, " 0      -        -       -         -        -     -");
	assert_contains(out, "   0  -     -       -     ");
	free(out);

	/* A nearly full data directory is a warning. */
	out = render(sl_ctl_status_format,
		     "{\"data_dir\":{\"path\":\"/d\",\"free_bytes\":5368709120,"
		     "\"total_bytes\":107374182400,\"in_use\":true}}");
	assert_contains(out, "/d, 5.0 GiB free of 100 GiB (95% used)\n");
	assert_contains(out, "warnings:\n  data dir: only 5.0 GiB free of 100 GiB (5%)\n");
	free(out);

	/* Not an object: refused, nothing written. */
	int rc;
	out = render_rc(sl_ctl_status_format, "[1]", &rc);
	assert_int_equal(rc, SL_ECORRUPT);
	assert_string_equal(out, "");
	free(out);
}

/* ---- connections ------------------------------------------------------------------------- */

static void test_connections(void **state)
{
	(void)state;
	static const char conns[] =
		"{\"connections\":["
		"{\"worker\":0,\"remote\":\"127.0.0.1:58358\",\"established\":true,"
		"\"rx_packets\":82,\"rx_bytes\":7553,\"tx_packets\":100,\"tx_bytes\":98269,"
		"\"rtt_ms\":0.278096,\"min_rtt_ms\":0.156047,\"cwnd\":42180,"
		"\"bytes_in_flight\":1452,\"streams\":3,\"unacked_bytes\":9000,"
		"\"subscriptions\":1,\"upstreams\":0,\"groups_sent\":2,\"groups_reset\":0,"
		"\"payload_in\":0,\"payload_out\":90000,\"decode_errors\":0},"
		"{\"worker\":1,\"remote\":\"[2001:db8::1]:61000\",\"established\":true,"
		"\"alpn\":\"moq-lite-04\",\"rtt_ms\":24.56,\"cwnd\":1048576,"
		"\"bytes_in_flight\":0,\"streams\":1,\"unacked_bytes\":0,\"subscriptions\":0,"
		"\"upstreams\":1,\"groups_sent\":0,\"groups_reset\":12,"
		"\"payload_in\":123456789,\"payload_out\":0,\"decode_errors\":2},"
		"{\"worker\":1,\"remote\":\"10.0.0.9:5000\",\"established\":false,"
		"\"rtt_ms\":1500.0},"
		"{}]}";
	assert_text(render(sl_ctl_connections_format, conns),
		    "WORKER  REMOTE               SESSION          RTT      CWND  IN_FLIGHT  "
		    "STREAMS  UNACKED  SUBS  UPSTREAMS  GROUPS  RESETS  PAYLOAD_IN  PAYLOAD_OUT\n"
		    "     0  127.0.0.1:58358      -            0.28 ms  41.2 KiB    1.4 KiB  "
		    "      3  8.8 KiB     1          0       2       0         0 B     87.9 KiB\n"
		    "     1  [2001:db8::1]:61000  moq-lite-04  24.6 ms   1.0 MiB        0 B  "
		    "      1      0 B     0          1       0      12     118 MiB          0 B\n"
		    "     1  10.0.0.9:5000        handshake     1.50 s         -          -  "
		    "      -        -     -          -       -       -           -            -\n"
		    "     -  -                    -                  -         -          -  "
		    "      -        -     -          -       -       -           -            -\n"
		    "\n"
		    "warnings:\n"
		    "  [2001:db8::1]:61000 (worker 1): decode errors 2\n");

	assert_text(render(sl_ctl_connections_format, "{\"connections\":[]}"), "no connections\n");
	int rc;
	char *out = render_rc(sl_ctl_connections_format, "{\"conns\":[]}", &rc);
	assert_int_equal(rc, SL_ECORRUPT);
	assert_string_equal(out, "");
	free(out);
	out = render_rc(sl_ctl_connections_format, "[]", &rc);
	assert_int_equal(rc, SL_ECORRUPT);
	free(out);
}

/* ---- config list ------------------------------------------------------------------------- */

/* The answer the daemon gives for cfg, built as admin.c builds it. */
static char *config_answer(const struct sl_config *cfg)
{
	struct sl_config def;
	sl_config_default(&def);
	size_t n;
	const struct sl_config_setting *tab = sl_config_settings(&n);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr,
				      json_pack("{ss so so sb ss}", "name", tab[i].name, "value",
						sl_admin_setting_json(cfg, &tab[i]), "default",
						sl_admin_setting_json(&def, &tab[i]), "runtime",
						(tab[i].flags & SL_CONFIG_RUNTIME) != 0, "help",
						tab[i].help));
	json_t *resp = json_pack("{so}", "settings", arr);
	char *text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	return text;
}

static void test_config_list(void **state)
{
	(void)state;
	struct sl_config cfg;
	char err[256];
	sl_config_default(&cfg);
	assert_int_equal(
		sl_config_set(&cfg, "listen", "127.0.0.1:5000,[::1]:5000", false, err, sizeof(err)),
		0);
	assert_int_equal(sl_config_set(&cfg, "cache_age", "10s", false, err, sizeof(err)), 0);
	assert_int_equal(sl_config_set(&cfg, "hugepages", "false", false, err, sizeof(err)), 0);
	char *answer = config_answer(&cfg);
	char *out = render(sl_ctl_config_list_format, answer);
	free(answer);

	/* A header and one row per setting, in the table's order. */
	size_t n, lines = 0;
	const struct sl_config_setting *tab = sl_config_settings(&n);
	for (const char *p = out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	assert_int_equal(lines, n + 1);
	assert_true(strncmp(out, "SETTING ", 8) == 0);
	assert_contains(out, "\nlisten ");
	assert_true(strstr(out, "\nlisten ") < strstr(out, tab[n - 1].name));
	/* Values as flags take them; set or default; runtime or not. */
	const char *row = strstr(out, "\nlisten ");
	assert_non_null(row);
	assert_true(strncmp(strstr(row, "127.0.0.1:5000,[::1]:5000  set  "), "127", 3) == 0);
	assert_contains(row, "127.0.0.1:5000,[::1]:5000  set      127.0.0.1:4443");
	row = strstr(out, "\ncache_age ");
	assert_non_null(row);
	assert_contains(out, "10s ");
	assert_true(strstr(row, "  set      30s ") < strchr(row + 1, '\n'));
	assert_true(strstr(row, "yes\n") < strchr(row + 1, '\n') + 1);
	row = strstr(out, "\nhugepages ");
	assert_true(strstr(row, "false  ") < strchr(row + 1, '\n'));
	row = strstr(out, "\ncert ");
	assert_true(strstr(row, "(empty)  default  (empty)") < strchr(row + 1, '\n'));
	row = strstr(out, "\nshard_weights ");
	assert_true(strstr(row, "(empty)  default  (empty)") < strchr(row + 1, '\n'));
	assert_null(strstr(out, " \n")); /* no trailing blanks */
	free(out);

	/* Exactly, on a small answer with odd members; the bare array is read as well. */
	static const char odd[] =
		"[{\"name\":\"workers\",\"value\":4,\"default\":0,\"runtime\":false},"
		"{\"name\":\"log_level\",\"value\":\"debug\",\"default\":\"notice\","
		"\"runtime\":true},"
		"{\"name\":\"listen\",\"value\":[],\"default\":[\"127.0.0.1:4443\"]},"
		"{\"value\":1.5}]";
	assert_text(render(sl_ctl_config_list_format, odd),
		    "SETTING    VALUE    SOURCE  DEFAULT         RUNTIME\n"
		    "workers    4        set     0               no\n"
		    "log_level  debug    set     notice          yes\n"
		    "listen     (empty)  set     127.0.0.1:4443  -\n"
		    "-          1.5      -       -               -\n");

	int rc;
	out = render_rc(sl_ctl_config_list_format, "{\"settings\":{}}", &rc);
	assert_int_equal(rc, SL_ECORRUPT);
	assert_string_equal(out, "");
	free(out);
}

/* A write that fails is an error with a message, for every renderer. */
static void test_write_failure(void **state)
{
	(void)state;
	FILE *f = fopen("/dev/full", "w");
	if (f == NULL)
		skip();
	setvbuf(f, NULL, _IONBF, 0);
	json_t *j = parse(full_status);
	char err[256] = "";
	assert_int_equal(sl_ctl_status_format(f, j, err, sizeof(err)), SL_EIO);
	assert_contains(err, "cannot write output");
	json_decref(j);
	j = parse("{\"connections\":[]}");
	assert_int_equal(sl_ctl_connections_format(f, j, err, sizeof(err)), SL_EIO);
	json_decref(j);
	j = parse("[{\"name\":\"x\",\"value\":1,\"default\":1,\"runtime\":true}]");
	assert_int_equal(sl_ctl_config_list_format(f, j, err, sizeof(err)), SL_EIO);
	json_decref(j);
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_full),
		cmocka_unit_test(test_status_dpdk_without_optional_parts),
		cmocka_unit_test(test_status_sparse),
		cmocka_unit_test(test_connections),
		cmocka_unit_test(test_config_list),
		cmocka_unit_test(test_write_failure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
