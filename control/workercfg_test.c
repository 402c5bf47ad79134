/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the settings-to-worker mapping. Besides the values, two lists here keep the mapping
 * whole as both sides grow: every setting of the table is either a worker setting (changing it
 * alone changes what a worker gets) or named as one that is not, and every field of struct
 * sl_worker_config (and of sl_worker_runtime) is listed, either as decided by a setting (it
 * leaves its default when every setting does) or as not (it keeps its default, for the caller
 * or the worker to fill). A new setting or a new field fails here until it is placed.
 */
#include "core/test_common.h"
#include "core/err.h"
#include "control/workercfg.h"
#include "log/proto.h"

#include <stdio.h>
#include <string.h>

/* ---- the fields ---- */

struct field {
	const char *name;
	size_t offset, size, align;
	bool mapped; /* a setting (or the worker's id and count) decides it */
};

#define WF(f, m)                                                                                   \
	{                                                                                          \
#f, offsetof(struct sl_worker_config, f),                                          \
			sizeof(((struct sl_worker_config *)0)->f),                                 \
			__alignof__(((struct sl_worker_config *)0)->f), m                          \
	}
#define RF(f, m)                                                                                   \
	{                                                                                          \
#f, offsetof(struct sl_worker_runtime, f),                                         \
			sizeof(((struct sl_worker_runtime *)0)->f),                                \
			__alignof__(((struct sl_worker_runtime *)0)->f), m                         \
	}

/* Every field of struct sl_worker_config, nested ones flattened, in declaration order. */
static const struct field worker_fields[] = {
	WF(id, true),
	WF(nworkers, true),
	WF(socket, false), /* the process knows its lcores: shardlined sets it */
	WF(port, false),
	WF(quic.server, false),
	WF(quic.alpn, true), /* the log protocol with the durable side */
	WF(quic.cert_file, true),
	WF(quic.key_file, true),
	WF(quic.cert_pem, false), /* shardlined's one certificate for every worker */
	WF(quic.key_pem, false),
	WF(quic.cert_days, false),
	WF(quic.worker_id, false), /* the worker copies its id */
	WF(quic.idle_timeout_ns, true),
	WF(quic.max_data, true),
	WF(quic.max_stream_data, true),
	WF(quic.max_streams_bidi, true),
	WF(quic.max_streams_uni, true),
	WF(quic.max_conns, true),
	WF(quic.max_udp_payload, true),		 /* lowered by a small DPDK MTU */
	WF(quic.max_datagram_frame_size, false), /* WebTransport's, set by the worker */
	WF(track.max_age_ns, true),
	WF(track.max_bytes, true),
	WF(session.server, false),
	WF(session.version, false), /* per connection, from the ALPN the handshake chose */
	WF(session.origin_id, false),
	WF(session.publish_prefix, false),
	WF(session.root, false), /* per connection, from a WebSocket's URL path */
	WF(session.max_inflight_bytes, false),
	WF(session.max_frame_bytes, false),
	WF(session.max_streams, false),
	WF(session.max_subscriptions, false),
	WF(session.send_drops, true),
	WF(session.trace, false),     /* the worker's own histograms */
	WF(session.authorize, false), /* per connection, from its grant (cfg.auth) */
	WF(session.auth_arg, false),
	WF(xs_to, false),
	WF(xs_from, false),
	WF(ho_to, false),
	WF(ho_from, false),
	WF(map, false),
	WF(ctl_in, false),
	WF(ctl_out, false),
	WF(bells, false),
	WF(poll_idle_ns, true),
	WF(trace_sample, true),
	WF(prefault_bytes, true),
	WF(auth, false), /* shardlined's tokens (control/authcfg.c), shared by every worker */
	WF(web_session, false), /* shardlined: WebTransport sessions as WebSocket upgrades */
	WF(web_session_ctx, false),
	WF(dstore, false),
	WF(io_from, false),
	WF(ml_to, false),
	WF(ml_from, false),
	WF(ml_bell, false),
	WF(dl_to, false),
	WF(dl_from, false),
	WF(dshard.worker, false),
	WF(dshard.boot, false),		  /* the durable side's start number */
	WF(dshard.wall_offset_ns, false), /* the clocks at start */
	WF(dshard.owners, false),
	WF(dshard.nslots, false),
	WF(dshard.max_partitions, true),
	WF(dshard.mem_budget, true),
	WF(dshard.flush_bytes, true),
	WF(dshard.flush_interval_ns, true),
	WF(dshard.max_flushes, true),
	WF(dshard.queue_capacity, true),
	WF(dshard.fetch_bytes, false),
	WF(dshard.overload_retry_ms, false),
	WF(dshard.max_producers, true),
	WF(dshard.meta_partitions, false), /* the metadata log's layout, not a setting */
	WF(dshard.zstd, false),
	WF(dshard.store, false),
	WF(dshard.index, false),
	WF(dshard.index_arg, false),
	WF(logsrv.max_inflight, true),
	WF(logsrv.max_message, false),
	WF(logsrv.sub_window, true),
	WF(logsrv.fetch_bytes, false),
	WF(logsrv.park_ns, false),
	WF(logsrv.max_streams, false),
	WF(logsrv.overload_ms, false),
	WF(streams, false),
	WF(recovery, false),
	WF(consumers, false), /* read from the data directory at start, not a setting */
	WF(nconsumers, false),
	WF(stop_flush_ns, false),
};

static const struct field runtime_fields[] = {
	RF(poll_idle_ns, true),	   RF(trace_sample, true),    RF(track.max_age_ns, true),
	RF(track.max_bytes, true), RF(idle_timeout_ns, true), RF(max_conns, true),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool field_differs(const struct field *f, const void *a, const void *b)
{
	return memcmp((const char *)a + f->offset, (const char *)b + f->offset, f->size) != 0;
}

/*
 * The list must cover the struct: fields in order, and no gap a field could sit in. A gap is
 * allowed only where the compiler pads, that is shorter than the alignment of what follows.
 * (A field small enough to hide in such padding would slip through; the struct's size and the
 * other lists make that unlikely to last.)
 */
static void check_tiling(const char *what, const struct field *f, size_t n, size_t size,
			 size_t align)
{
	size_t end = 0;
	for (size_t i = 0; i < n; i++) {
		if (f[i].offset < end || f[i].offset - end >= f[i].align) {
			print_error(
				"%s: a field that this test does not list lies before %s (bytes "
				"%zu to %zu): map it in control/workercfg.c if a setting "
				"decides it, then list it here\n",
				what, f[i].name, end, f[i].offset);
			fail();
		}
		end = f[i].offset + f[i].size;
	}
	if (size - end >= align) {
		print_error("%s: a field that this test does not list lies after %s: map it in "
			    "control/workercfg.c if a setting decides it, then list it here\n",
			    what, f[n - 1].name);
		fail();
	}
}

static void test_field_lists_cover_the_structs(void **state)
{
	(void)state;
	check_tiling("struct sl_worker_config", worker_fields, N(worker_fields),
		     sizeof(struct sl_worker_config), __alignof__(struct sl_worker_config));
	check_tiling("struct sl_worker_runtime", runtime_fields, N(runtime_fields),
		     sizeof(struct sl_worker_runtime), __alignof__(struct sl_worker_runtime));
}

/* ---- the settings ---- */

/* A worker setting, a value other than its default, and another setting it needs to matter. */
struct wsetting {
	const char *name, *value;
	const char *with, *with_value;
};

static const struct wsetting worker_settings[] = {
	{"cert", "/etc/shardline/cert.pem", NULL, NULL},
	{"key", "/etc/shardline/key.pem", NULL, NULL},
	{"cache_age", "7s", NULL, NULL},
	{"cache_bytes", "3MiB", NULL, NULL},
	{"idle_timeout", "9s", NULL, NULL},
	{"max_conns", "77", NULL, NULL},
	{"quic_max_data", "5MiB", NULL, NULL},
	{"quic_max_stream_data", "2MiB", NULL, NULL},
	{"quic_max_streams_bidi", "7", NULL, NULL},
	{"quic_max_streams_uni", "9", NULL, NULL},
	{"moq_send_drops", "true", NULL, NULL},
	{"log_flush_interval", "250ms", NULL, NULL},
	{"log_flush_bytes", "3MiB", NULL, NULL},
	{"log_max_flushes", "5", NULL, NULL},
	{"log_memory", "128MiB", NULL, NULL},
	{"log_max_partitions", "100", NULL, NULL},
	{"log_queue", "99", NULL, NULL},
	{"log_max_inflight", "33", NULL, NULL},
	{"log_max_producers", "17", NULL, NULL},
	{"log_sub_window", "2MiB", NULL, NULL},
	{"poll_idle_us", "7", NULL, NULL},
	{"trace_sample", "16", NULL, NULL},
	{"prefault", "5MiB", NULL, NULL},
	{"io_cores", "0", NULL, NULL}, /* no durable side: moq-lite alone */
	/* A DPDK device's MTU bounds the datagrams; kernel sockets ignore dpdk_mtu. */
	{"driver", "dpdk", "dpdk_mtu", "1280"},
	{"dpdk_mtu", "1280", "driver", "dpdk"},
};

/* Settings that decide nothing in struct sl_worker_config, each with a value other than its
 * default (to show that it indeed changes nothing there) and why it is not one. */
static const struct wsetting other_settings[] = {
	{"listen", "127.0.0.1:5000", NULL, NULL},     /* the caller opens the ports */
	{"workers", "3", NULL, NULL},		      /* the caller counts them: nworkers */
	{"listen_tcp", "127.0.0.1:5001", NULL, NULL}, /* the control core's TCP listener */
	{"tcp_tls", "false", NULL, NULL},	      /* the control core's TCP listener */
	{"cert_renew_before", "2d", NULL, NULL},      /* the control core renews and hands it out */
	/* Tokens: the control core loads the keys; workers get the result (cfg.auth). */
	{"auth_key", "/etc/shardline/token.jwk", NULL, NULL},
	{"auth_key_dir", "/etc/shardline/keys", NULL, NULL},
	{"auth_public", "anon", NULL, NULL},
	{"auth_public_publish", "anon", NULL, NULL},
	{"auth_public_subscribe", "anon", NULL, NULL},
	{"auth_leeway", "10s", NULL, NULL},
	{"admin", "/tmp/sl-workercfg.sock", NULL, NULL}, /* the control core's socket */
	{"data_dir", "/tmp/sl-workercfg", NULL, NULL},	 /* the io cores' directory */
	{"metalog_segment_bytes", "1MiB", NULL, NULL},	 /* the metadata log, at start */
	{"log_gc_grace", "5s", NULL, NULL},		 /* io lcore 0's retention GC */
	{"log_level", "debug", NULL, NULL},		 /* the process's logger */
	{"hugepages", "false", NULL, NULL},		 /* the EAL */
	{"dpdk_devices", "net_ring0", NULL, NULL},	 /* the caller's DPDK driver */
	{"dpdk_neighbours", "10.0.0.1=02:00:00:00:00:01", NULL, NULL},
	{"dpdk_mbufs", "8192", NULL, NULL},
	{"dpdk_rx_desc", "512", NULL, NULL},
	{"dpdk_tx_desc", "512", NULL, NULL},
	{"dpdk_offload", "false", NULL, NULL},
	{"shard_weights", "1,2", NULL, NULL}, /* the caller's shard map */
};

static const struct wsetting *find_in(const struct wsetting *l, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i].name, name) == 0)
			return &l[i];
	return NULL;
}

static void set(struct sl_config *c, const char *name, const char *value)
{
	char err[256] = "";
	if (sl_config_set(c, name, value, false, err, sizeof(err)) != 0) {
		print_error("%s = %s: %s\n", name, value, err);
		fail();
	}
}

static void test_every_setting_is_placed(void **state)
{
	(void)state;
	size_t n;
	const struct sl_config_setting *s = sl_config_settings(&n);
	for (size_t i = 0; i < n; i++) {
		bool w = find_in(worker_settings, N(worker_settings), s[i].name) != NULL;
		bool o = find_in(other_settings, N(other_settings), s[i].name) != NULL;
		if (w == o) {
			print_error("setting %s: %s; map it in control/workercfg.c if it concerns "
				    "a worker, and list it in worker_settings or other_settings\n",
				    s[i].name,
				    w ? "listed twice"
				      : "neither a worker setting nor listed as not");
			fail();
		}
	}
}

/* Fills a worker config (worker 1 of 2) from the defaults changed by up to two settings. */
static void fill(struct sl_config *c, const struct wsetting *a, const struct wsetting *b,
		 struct sl_worker_config *out)
{
	char err[256] = "";
	sl_config_default(c);
	if (a)
		set(c, a->name, a->value);
	if (b)
		set(c, b->name, b->value);
	assert_int_equal(sl_workercfg_fill(c, 1, 2, out, err, sizeof(err)), 0);
}

/* Each worker setting alone changes a field it decides; every other setting changes none. */
static void test_each_setting_alone(void **state)
{
	(void)state;
	struct sl_config c0, c1;
	struct sl_worker_config base, wc;
	for (size_t i = 0; i < N(worker_settings); i++) {
		const struct wsetting *s = &worker_settings[i];
		struct wsetting with = {s->with, s->with_value, NULL, NULL};
		fill(&c0, s->with ? &with : NULL, NULL, &base);
		fill(&c1, s->with ? &with : NULL, s, &wc);
		bool changed = false;
		for (size_t f = 0; f < N(worker_fields); f++) {
			if (!field_differs(&worker_fields[f], &base, &wc))
				continue;
			if (!worker_fields[f].mapped) {
				print_error("setting %s changed %s, which no setting decides\n",
					    s->name, worker_fields[f].name);
				fail();
			}
			changed = true;
		}
		if (!changed) {
			print_error("setting %s = %s does not reach the worker\n", s->name,
				    s->value);
			fail();
		}
	}
	fill(&c0, NULL, NULL, &base);
	for (size_t i = 0; i < N(other_settings); i++) {
		fill(&c1, &other_settings[i], NULL, &wc);
		for (size_t f = 0; f < N(worker_fields); f++) {
			if (field_differs(&worker_fields[f], &base, &wc)) {
				print_error("setting %s changed %s: it is a worker setting\n",
					    other_settings[i].name, worker_fields[f].name);
				fail();
			}
		}
	}
}

/* Every worker setting at once, with values unlike the defaults: each field a setting decides
 * leaves its default (so a field listed as mapped but forgotten by the mapping fails), the
 * others keep it, and the values are the ones the settings mean. */
static void test_all_settings(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_worker_config def, wc;
	char err[256] = "";
	sl_config_default(&c);
	for (size_t i = 0; i < N(worker_settings); i++)
		set(&c, worker_settings[i].name, worker_settings[i].value);
	set(&c, "io_cores", "2"); /* the durable side, on an io core count that is not default */
	sl_worker_config_default(&def);
	assert_int_equal(sl_workercfg_fill(&c, 3, 4, &wc, err, sizeof(err)), 0);
	for (size_t f = 0; f < N(worker_fields); f++) {
		const struct field *fl = &worker_fields[f];
		if (fl->mapped != field_differs(fl, &def, &wc)) {
			print_error("%s %s its default with every setting changed\n", fl->name,
				    fl->mapped ? "keeps" : "leaves");
			fail();
		}
	}
	assert_int_equal(wc.id, 3);
	assert_int_equal(wc.nworkers, 4);
	assert_string_equal(wc.quic.alpn, "moq-lite-05,moq-lite-04," SL_WORKER_WT_ALPN SL_LP_ALPN);
	assert_string_equal(wc.quic.cert_file, "/etc/shardline/cert.pem");
	assert_string_equal(wc.quic.key_file, "/etc/shardline/key.pem");
	assert_int_equal(wc.quic.idle_timeout_ns, UINT64_C(9000000000));
	assert_int_equal(wc.quic.max_data, 5 << 20);
	assert_int_equal(wc.quic.max_stream_data, 2 << 20);
	assert_int_equal(wc.quic.max_streams_bidi, 7);
	assert_int_equal(wc.quic.max_streams_uni, 9);
	assert_int_equal(wc.quic.max_conns, 77 / 4 + 1); /* a share of the daemon's total */
	assert_int_equal(wc.quic.max_udp_payload, 1280 - 48);
	assert_int_equal(wc.track.max_age_ns, UINT64_C(7000000000));
	assert_int_equal(wc.track.max_bytes, 3 << 20);
	assert_true(wc.session.send_drops);
	assert_int_equal(wc.poll_idle_ns, 7000);
	assert_int_equal(wc.trace_sample, 16);
	assert_int_equal(wc.prefault_bytes, 5 * 1024 * 1024);
	assert_int_equal(wc.dshard.flush_interval_ns, 250000000);
	assert_int_equal(wc.dshard.flush_bytes, 3 << 20);
	assert_int_equal(wc.dshard.max_flushes, 5);
	assert_int_equal(wc.dshard.mem_budget, 128 << 20);
	assert_int_equal(wc.dshard.max_partitions, 100);
	assert_int_equal(wc.dshard.queue_capacity, 99);
	assert_int_equal(wc.dshard.max_producers, 17);
	assert_int_equal(wc.logsrv.max_inflight, 33);
	assert_int_equal(wc.logsrv.sub_window, 2 << 20);
}

/* The defaults give what the daemon has always run with: moq-lite and the log protocol (one
 * io core), a self-signed certificate, and the QUIC layer's datagram size over sockets and
 * over DPDK at the default MTU. */
static void test_defaults(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_worker_config wc;
	char err[256] = "";
	sl_config_default(&c);
	assert_int_equal(sl_workercfg_fill(&c, 0, 1, &wc, err, sizeof(err)), 0);
	assert_string_equal(wc.quic.alpn, "moq-lite-05,moq-lite-04," SL_WORKER_WT_ALPN SL_LP_ALPN);
	assert_null(wc.quic.cert_file);
	assert_null(wc.quic.key_file);
	assert_int_equal(wc.quic.max_conns, 10001);
	assert_int_equal(wc.quic.max_udp_payload, 1452);
	set(&c, "driver", "dpdk");
	assert_int_equal(sl_workercfg_fill(&c, 0, 1, &wc, err, sizeof(err)), 0);
	assert_int_equal(wc.quic.max_udp_payload, 1452);
	/* A jumbo MTU does not raise it: the QUIC layer's size is the most it sends. */
	set(&c, "dpdk_mtu", "9000");
	assert_int_equal(sl_workercfg_fill(&c, 0, 1, &wc, err, sizeof(err)), 0);
	assert_int_equal(wc.quic.max_udp_payload, 1452);
	set(&c, "io_cores", "0");
	assert_int_equal(sl_workercfg_fill(&c, 0, 1, &wc, err, sizeof(err)), 0);
	assert_string_equal(wc.quic.alpn, "moq-lite-05,moq-lite-04" SL_WORKER_WT_ALPN_TAIL);
}

/* Every setting that may change while the daemon runs reaches a running worker (log_level
 * excepted: the control process applies it), with the value a starting worker gets. */
static void test_runtime(void **state)
{
	(void)state;
	size_t n;
	const struct sl_config_setting *s = sl_config_settings(&n);
	struct sl_config c;
	struct sl_worker_runtime base, rt;
	struct sl_worker_config wc;
	char err[256] = "";
	sl_config_default(&c);
	assert_int_equal(sl_workercfg_runtime(&c, 2, &base, err, sizeof(err)), 0);
	for (size_t i = 0; i < n; i++) {
		if (!(s[i].flags & SL_CONFIG_RUNTIME) || strcmp(s[i].name, "log_level") == 0)
			continue;
		const struct wsetting *w = find_in(worker_settings, N(worker_settings), s[i].name);
		if (w == NULL) {
			print_error("runtime setting %s is not a worker setting\n", s[i].name);
			fail();
		}
		sl_config_default(&c);
		set(&c, w->name, w->value);
		assert_int_equal(sl_workercfg_runtime(&c, 2, &rt, err, sizeof(err)), 0);
		bool changed = false;
		for (size_t f = 0; f < N(runtime_fields); f++)
			changed |= field_differs(&runtime_fields[f], &base, &rt);
		if (!changed) {
			print_error("runtime setting %s does not reach a running worker\n",
				    s[i].name);
			fail();
		}
	}
	sl_config_default(&c);
	for (size_t i = 0; i < N(worker_settings); i++)
		set(&c, worker_settings[i].name, worker_settings[i].value);
	assert_int_equal(sl_workercfg_runtime(&c, 2, &rt, err, sizeof(err)), 0);
	assert_int_equal(sl_workercfg_fill(&c, 1, 2, &wc, err, sizeof(err)), 0);
	assert_int_equal(rt.poll_idle_ns, wc.poll_idle_ns);
	assert_int_equal(rt.trace_sample, wc.trace_sample);
	assert_memory_equal(&rt.track, &wc.track, sizeof(rt.track));
	assert_int_equal(rt.idle_timeout_ns, wc.quic.idle_timeout_ns);
	assert_int_equal(rt.max_conns, wc.quic.max_conns);
	assert_int_equal(rt.max_conns, 77 / 2 + 1);
}

static void test_bad_worker_counts(void **state)
{
	(void)state;
	struct sl_config c;
	struct sl_worker_config wc;
	struct sl_worker_runtime rt;
	char err[256] = "";
	sl_config_default(&c);
	assert_int_equal(sl_workercfg_fill(&c, 0, 0, &wc, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "0 workers"));
	assert_int_equal(sl_workercfg_fill(&c, 0, SL_XSHARD_MAX_WORKERS + 1, &wc, err, sizeof(err)),
			 SL_EINVAL);
	assert_int_equal(sl_workercfg_fill(&c, 2, 2, &wc, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "worker 2 of 2"));
	assert_int_equal(sl_workercfg_fill(&c, SL_XSHARD_MAX_WORKERS - 1, SL_XSHARD_MAX_WORKERS,
					   &wc, err, sizeof(err)),
			 0);
	assert_int_equal(sl_workercfg_runtime(&c, 0, &rt, err, sizeof(err)), SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field_lists_cover_the_structs),
		cmocka_unit_test(test_every_setting_is_placed),
		cmocka_unit_test(test_each_setting_alone),
		cmocka_unit_test(test_all_settings),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_runtime),
		cmocka_unit_test(test_bad_worker_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
