/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every counter reaches `shardctl status`. Each stats struct's table must describe the struct
 * completely (a counter added without a row fails here), and the objects the daemon sends for
 * a worker and an io core must carry every described row: each counter is given a value of its
 * own and that value must appear in the rendered JSON, so a row that is shadowed by another key
 * or dropped on the way fails too. The keys readers already use (ctl_report.c, the integration
 * tests, the benches) are checked by name.
 */
#include "core/test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/iocore.h"
#include "control/stats_json.h"
#include "control/status_json.h"
#include "core/err.h"
#include "core/stats.h"
#include "durable/recover.h"
#include "shard/worker.h"

/* ---- coverage: each table describes its whole struct ---- */

struct covered {
	const char *name;
	const struct sl_stat_field *table;
	size_t size;
};

#define COVERED(st, tab)                                                                           \
	{                                                                                          \
#st, tab, sizeof(struct st)                                                        \
	}

static const struct covered all_tables[] = {
	COVERED(sl_worker_stats, sl_worker_stats_fields),
	COVERED(sl_pktio_stats, sl_pktio_stats_fields),
	COVERED(sl_quic_stats, sl_quic_stats_fields),
	COVERED(sl_moq_session_stats, sl_moq_session_stats_fields),
	COVERED(sl_moq_relay_stats, sl_moq_relay_stats_fields),
	COVERED(sl_xshard_stats, sl_xshard_stats_fields),
	COVERED(sl_handoff_stats, sl_handoff_stats_fields),
	COVERED(sl_dshard_stats, sl_dshard_stats_fields),
	COVERED(sl_pstore_stats, sl_pstore_stats_fields),
	COVERED(sl_coord_stats, sl_coord_stats_fields),
	COVERED(sl_logsrv_stats, sl_logsrv_stats_fields),
	COVERED(sl_drecovery_stats, sl_drecovery_stats_fields),
	COVERED(sl_iocore_stats, sl_iocore_stats_fields),
	COVERED(sl_localdir_stats, sl_localdir_stats_fields),
	COVERED(sl_metalog_stats, sl_metalog_stats_fields),
	COVERED(sl_metalog_local_stats, sl_metalog_local_stats_fields),
	COVERED(sl_pool_stats, sl_pool_stats_fields),
};

static void test_tables_cover_structs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(all_tables) / sizeof(all_tables[0]); i++) {
		char err[256] = "";
		int rc = sl_stats_check_covers(all_tables[i].table, all_tables[i].size, err,
					       sizeof(err));
		if (rc != 0)
			fail_msg("struct %s: %s", all_tables[i].name, err);
	}
}

/* The check itself: a struct with a counter its table forgot, in the middle and at the end. */
struct toy {
	uint64_t a, b, c;
	uint32_t d;
};

static void test_check_finds_missing_rows(void **state)
{
	(void)state;
	char err[256];
	const struct sl_stat_field whole[] = {
		SL_STAT_U(struct toy, a, NULL), SL_STAT_U(struct toy, b, NULL),
		SL_STAT_U(struct toy, c, NULL), SL_STAT_U(struct toy, d, NULL), SL_STAT_TABLE_END};
	assert_int_equal(sl_stats_check_covers(whole, sizeof(struct toy), err, sizeof(err)), 0);
	const struct sl_stat_field middle[] = {SL_STAT_U(struct toy, a, NULL),
					       SL_STAT_U(struct toy, c, NULL),
					       SL_STAT_U(struct toy, d, NULL), SL_STAT_TABLE_END};
	assert_int_equal(sl_stats_check_covers(middle, sizeof(struct toy), err, sizeof(err)),
			 SL_EINVAL);
	assert_non_null(strstr(err, "'c'"));
	const struct sl_stat_field end[] = {SL_STAT_U(struct toy, a, NULL),
					    SL_STAT_U(struct toy, b, NULL),
					    SL_STAT_U(struct toy, c, NULL), SL_STAT_TABLE_END};
	assert_int_equal(sl_stats_check_covers(end, sizeof(struct toy), err, sizeof(err)),
			 SL_EINVAL);
	/* An alias covers nothing: it repeats a member described elsewhere. */
	const struct sl_stat_field alias[] = {
		SL_STAT_U(struct toy, a, NULL), SL_STAT_ALIAS(struct toy, a, "b", NULL),
		SL_STAT_U(struct toy, c, NULL), SL_STAT_U(struct toy, d, NULL), SL_STAT_TABLE_END};
	assert_int_equal(sl_stats_check_covers(alias, sizeof(struct toy), err, sizeof(err)),
			 SL_EINVAL);
}

/* ---- every counter's value reaches the JSON ---- */

struct marks {
	uint64_t value[1024];
	const char *name[1024];
	size_t n;
};

/* Gives every shown integer counter under table a value of its own (starting at 101, small
 * enough for the 16-bit members), recording which row it was. */
static void mark(uint8_t *s, const struct sl_stat_field *table, struct marks *m)
{
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END; f++) {
		if (f->flags & (SL_STAT_F_ALIAS | SL_STAT_F_HIDDEN))
			continue;
		if (f->type == SL_STAT_STRUCT) {
			mark(s + f->offset, f->sub, m);
			continue;
		}
		uint32_t n = f->type == SL_STAT_ARRAY ? f->count : 1;
		if (f->type != SL_STAT_UINT && f->type != SL_STAT_ARRAY)
			continue;
		for (uint32_t i = 0; i < n; i++) {
			assert_true(m->n < 1024);
			uint64_t v = 101 + m->n;
			uint8_t *p = s + f->offset + i * f->size;
			if (f->size == 2) {
				uint16_t x = (uint16_t)v;
				memcpy(p, &x, 2);
			} else if (f->size == 4) {
				uint32_t x = (uint32_t)v;
				memcpy(p, &x, 4);
			} else {
				assert_int_equal(f->size, 8);
				memcpy(p, &v, 8);
			}
			m->value[m->n] = v;
			m->name[m->n++] = f->name;
		}
	}
}

static bool holds_value(const json_t *j, uint64_t v)
{
	if (json_is_integer(j))
		return (uint64_t)json_integer_value(j) == v;
	if (json_is_object(j)) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)j, k, x)
		{
			if (holds_value(x, v))
				return true;
		}
	}
	if (json_is_array(j)) {
		size_t i;
		json_t *x;
		json_array_foreach(j, i, x)
		{
			if (holds_value(x, v))
				return true;
		}
	}
	return false;
}

static void expect_all_marks(const json_t *j, const struct marks *m, const char *what)
{
	for (size_t i = 0; i < m->n; i++)
		if (!holds_value(j, m->value[i]))
			fail_msg("%s: the counter of row '%s' (value %llu) is not in the JSON",
				 what, m->name[i], (unsigned long long)m->value[i]);
}

/* The member at a dotted path ("durable.log.streams"), or NULL. */
static json_t *at(json_t *o, const char *path)
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *k = strtok_r(buf, ".", &save); k && o;
	     k = strtok_r(NULL, ".", &save))
		o = json_object_get(o, k);
	return o;
}

static void expect_keys(json_t *j, const char *const *keys, const char *what)
{
	for (size_t i = 0; keys[i]; i++)
		if (at(j, keys[i]) == NULL)
			fail_msg("%s: no '%s' in the JSON", what, keys[i]);
}

/* Every key the worker object had before the tables (readers depend on them), and the counters
 * issue 14 found counted but never shown. */
static const char *const worker_keys[] = {
	"worker", "lcore", "connections", "tracks", "broadcasts", "subscribers", "rx_packets",
	"rx_bytes", "tx_packets", "tx_bytes", "groups_sent", "groups_reset", "frames_out", "loops",
	"idle_sleeps", "bells_rung", "bell_wakeups",
	/* port */
	"port.rx_packets", "port.rx_bytes", "port.rx_drops", "port.rx_overflows", "port.tx_packets",
	"port.tx_bytes", "port.tx_drops", "port.tx_gso_sends", "port.rx_gro_segments",
	"port.tx_nobufs", "port.gso", "port.gro", "port.tx_blocked", "port.rx_not_ours",
	"port.rx_malformed", "port.rx_bad_csum", "port.rx_unsupported", "port.arp_in",
	"port.arp_out", "port.nd_in", "port.nd_out", "port.neigh_held", "port.neigh_drops",
	"port.rx_batches",
	/* quic */
	"quic.conns_accepted", "quic.conns_closed", "quic.conns_refused", "quic.rx_dropped",
	"quic.stateless_resets", "quic.stream_bytes_queued", "quic.stream_bytes_acked",
	"quic.migrations",
	/* moq */
	"moq.sessions_total", "moq.payload_in", "moq.payload_out", "moq.decode_errors",
	"moq.upstream_subscribes", "moq.upstreams_active", "moq.broadcasts_announced",
	"moq.upstream_fetches",
	/* xshard */
	"xshard.proxies", "xshard.mirrors", "xshard.forwarders", "xshard.frames_forwarded",
	"xshard.frames_mirrored", "xshard.ring_full", "xshard.handed_off",
	/* durable */
	"durable.partitions", "durable.log_connections", "durable.produce_requests",
	"durable.produce_records", "durable.produce_bytes", "durable.produce_errors",
	"durable.produce_overloaded", "durable.fetches", "durable.fetch_records",
	"durable.fetch_bytes", "durable.fetches_parked", "durable.fetches_from_objects",
	"durable.fetch_errors", "durable.flushes", "durable.flush_bytes", "durable.flush_errors",
	"durable.flushes_in_flight", "durable.objects_written", "durable.objects_deleted",
	"durable.object_read_errors", "durable.events_published", "durable.events_failed",
	"durable.rebuilds", "durable.records_in_memory", "durable.bytes_in_memory",
	"durable.bytes_unflushed", "durable.records_evicted", "durable.coordinator_queued",
	"durable.coordinator_backpressured", "durable.coordinator_flush_stalls",
	"durable.requests_to_other_workers", "durable.requests_from_other_workers",
	"durable.request_ring_full", "durable.log.streams", "durable.log.produce",
	"durable.log.produce_ok", "durable.log.produce_errors", "durable.log.produce_records",
	"durable.log.produce_bytes", "durable.log.hwm", "durable.log.subscribes",
	"durable.log.assigns", "durable.log.fetches", "durable.log.records_out",
	"durable.log.bytes_out", "durable.log.errors_out", "durable.log.decode_errors",
	"durable.log.overloaded", "durable.log.inflight", "durable.log.subscriptions",
	/* counted and, until issue 14, never shown */
	"handoff.dropped_full", "handoff.dropped_nomem", "moq.upstream_cancels",
	"moq.broadcasts_refused", "moq.groups_late", "moq.groups_lagged", "port.tx_errors",
	"port.rx_errors",
	/* the stream pools, logged only when a worker stopped until issue 14 */
	"pools.moq_streams.capacity", "pools.moq_streams.in_use", "pools.moq_streams.slabs",
	"pools.moq_streams.gets", "pools.moq_streams.fails", "pools.quic_streams.capacity",
	"pools.quic_streams.in_use", "pools.quic_streams.slabs", "pools.quic_streams.gets",
	"pools.quic_streams.fails", NULL};

static void test_worker_status_shows_every_counter(void **state)
{
	(void)state;
	struct sl_worker_stats *s = calloc(1, sizeof(*s));
	struct marks *m = calloc(1, sizeof(*m));
	assert_non_null(s);
	assert_non_null(m);
	mark((uint8_t *)s, sl_worker_stats_fields, m);
	s->durable = true;
	s->port.features = SL_PKTIO_F_GSO;
	json_t *j = sl_status_worker_json(s);
	assert_non_null(j);
	expect_all_marks(j, m, "worker");
	expect_keys(j, worker_keys, "worker");
	assert_true(json_is_true(at(j, "port.gso")));
	assert_true(json_is_false(at(j, "port.gro")));
	/* The repeated totals are the same counters as their sub-objects'. */
	assert_int_equal(json_integer_value(at(j, "rx_packets")), s->port.rx_packets);
	assert_int_equal(json_integer_value(at(j, "xshard.handed_off")), s->handoff.handed_off);
	assert_int_equal(json_integer_value(at(j, "frames_out")),
			 s->moq.msgs_out[SL_MOQ_MSG_FRAME]);
	assert_int_equal(json_integer_value(at(j, "moq.msgs_out.frame")),
			 s->moq.msgs_out[SL_MOQ_MSG_FRAME]);
	assert_int_equal(json_integer_value(at(j, "moq.upstreams_active")),
			 s->relay.upstreams_active);
	assert_int_equal(json_integer_value(at(j, "worker")), s->id);
	json_decref(j);
	/* Without durable partitions there is no durable object; without tracing no trace. */
	s->durable = false;
	memset(&s->trace, 0, sizeof(s->trace));
	j = sl_status_worker_json(s);
	assert_null(json_object_get(j, "durable"));
	assert_null(json_object_get(j, "trace"));
	json_decref(j);
	/* A traced worker shows every stage with its non-empty buckets. */
	sl_trace_init(&s->trace, 4);
	sl_trace_record(&s->trace, SL_TRACE_QUEUED, 300000);
	sl_trace_record(&s->trace, SL_TRACE_QUEUED, 300000);
	sl_trace_record(&s->trace, SL_TRACE_SENT, 5000000);
	j = sl_status_worker_json(s);
	assert_int_equal(json_integer_value(at(j, "trace.sample")), 4);
	for (int st = 0; st < SL_TRACE_STAGES; st++) {
		char key[64];
		snprintf(key, sizeof(key), "trace.stages.%s.count",
			 sl_trace_stage_name((enum sl_trace_stage)st));
		assert_non_null(at(j, key));
	}
	json_t *b = at(j, "trace.stages.queued.buckets");
	assert_int_equal(json_array_size(b), 1);
	assert_int_equal(json_integer_value(json_array_get(json_array_get(b, 0), 0)),
			 sl_trace_bucket(300000));
	assert_int_equal(json_integer_value(json_array_get(json_array_get(b, 0), 1)), 2);
	assert_true(json_real_value(at(j, "trace.stages.sent.p50_us")) > 4000);
	json_decref(j);
	free(m);
	free(s);
}

static const char *const iocore_keys[] = {"io",
					  "lcore",
					  "clients",
					  "loops",
					  "idle_sleeps",
					  "wakeups",
					  "served",
					  "inflight",
					  "submitted",
					  "completed",
					  "bytes_written",
					  "bytes_read",
					  "lock_busy",
					  "temp_cleaned",
					  "metalog.segments_in",
					  "metalog.segments_out",
					  "metalog.segment_errors",
					  "metalog.records_durable",
					  "metalog.fdatasyncs",
					  "metalog.bytes_durable",
					  "metalog.write_errors",
					  "metalog.records_in_memory",
					  "metalog.appends_refused",
					  NULL};

static void test_iocore_status_shows_every_counter(void **state)
{
	(void)state;
	struct sl_iocore_stats s;
	struct marks *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	memset(&s, 0, sizeof(s));
	mark((uint8_t *)&s, sl_iocore_stats_fields, m);
	s.metalog = true;
	json_t *j = sl_status_iocore_json(&s);
	assert_non_null(j);
	expect_all_marks(j, m, "io core");
	expect_keys(j, iocore_keys, "io core");
	assert_int_equal(json_integer_value(at(j, "metalog.records_in_memory")),
			 s.mlog.published + s.mlog.recovered - s.mlog.trimmed);
	json_decref(j);
	s.metalog = false;
	j = sl_status_iocore_json(&s);
	assert_null(json_object_get(j, "metalog"));
	json_decref(j);
	free(m);
}

static void test_recovery_shows_every_counter(void **state)
{
	(void)state;
	struct sl_drecovery_stats r;
	struct marks *m = calloc(1, sizeof(*m));
	assert_non_null(m);
	memset(&r, 0, sizeof(r));
	mark((uint8_t *)&r, sl_drecovery_stats_fields, m);
	json_t *j = sl_stats_to_json(&r, sl_drecovery_stats_fields);
	expect_all_marks(j, m, "recovery");
	static const char *const keys[] = {"events",	  "segments", "void",	 "gaps",
					   "truncations", "objects",  "orphans", NULL};
	expect_keys(j, keys, "recovery");
	json_decref(j);
	free(m);
}

/* A worker keeps a closed session's running totals, not its gauges or its state. */
static void test_add_keeps_totals_of_closed_sessions(void **state)
{
	(void)state;
	struct sl_moq_session_stats sum, a;
	memset(&sum, 0, sizeof(sum));
	memset(&a, 0, sizeof(a));
	a.groups_late = 3;
	a.groups_lagged = 4;
	a.msgs_out[SL_MOQ_MSG_FRAME] = 10;
	a.subscribes_active = 2;
	a.closed = true;
	a.close_code = 7;
	sl_stats_add(&sum, &a, sl_moq_session_stats_fields, false);
	sl_stats_add(&sum, &a, sl_moq_session_stats_fields, false);
	assert_int_equal(sum.groups_late, 6);
	assert_int_equal(sum.groups_lagged, 8);
	assert_int_equal(sum.msgs_out[SL_MOQ_MSG_FRAME], 20);
	assert_int_equal(sum.subscribes_active, 0);
	assert_false(sum.closed);
	assert_int_equal(sum.close_code, 0);
	sl_stats_add(&sum, &a, sl_moq_session_stats_fields, true);
	assert_int_equal(sum.subscribes_active, 2);
	assert_int_equal(sum.groups_late, 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables_cover_structs),
		cmocka_unit_test(test_check_finds_missing_rows),
		cmocka_unit_test(test_worker_status_shows_every_counter),
		cmocka_unit_test(test_iocore_status_shows_every_counter),
		cmocka_unit_test(test_recovery_shows_every_counter),
		cmocka_unit_test(test_add_keeps_totals_of_closed_sessions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
