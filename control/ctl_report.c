/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_report.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/ctl_table.h"
#include "core/err.h"

/* ---- reading the daemon's JSON leniently ------------------------------------------------ */

/* The member at a dotted path ("durable.log.decode_errors") of o, or NULL. */
static const json_t *at(const json_t *o, const char *path)
{
	char key[64];
	for (;;) {
		if (!json_is_object(o))
			return NULL;
		const char *dot = strchr(path, '.');
		if (dot == NULL)
			return json_object_get(o, path);
		size_t n = (size_t)(dot - path);
		if (n >= sizeof(key))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		o = json_object_get(o, key);
		path = dot + 1;
	}
}

/* Whether the member at path is a non-negative integer; *v gets it. */
static bool u64_at(const json_t *o, const char *path, uint64_t *v)
{
	const json_t *j = at(o, path);
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return false;
	*v = (uint64_t)json_integer_value(j);
	return true;
}

/* The string at path, or NULL. */
static const char *str_at(const json_t *o, const char *path)
{
	return json_string_value(at(o, path));
}

enum unit {
	EXACT, /* ids, lcores: 12345 */
	COUNT, /* 3.4 k */
	BYTES, /* 1.2 GiB */
};

static const char *human(uint64_t v, enum unit u, char buf[SL_CTL_HUMAN_MAX])
{
	if (u == BYTES)
		return sl_ctl_human_bytes(v, buf);
	if (u == COUNT)
		return sl_ctl_human_count(v, buf);
	snprintf(buf, SL_CTL_HUMAN_MAX, "%" PRIu64, v);
	return buf;
}

/* Adds the figure at path as a cell in unit u, or "-" when the daemon did not report it. */
static void add_num(struct sl_ctl_table *t, const json_t *o, const char *path, enum unit u)
{
	uint64_t v;
	char buf[SL_CTL_HUMAN_MAX];
	sl_ctl_table_add(t, u64_at(o, path, &v) ? human(v, u, buf) : NULL);
}

/* Adds the sum of the figures at paths that the daemon reported, or "-" when it reported
 * none of them. */
static void add_sum(struct sl_ctl_table *t, const json_t *o, const char *const *paths, size_t n,
		    enum unit u)
{
	uint64_t sum = 0, v;
	bool any = false;
	for (size_t i = 0; i < n; i++)
		if (u64_at(o, paths[i], &v)) {
			sum += v;
			any = true;
		}
	char buf[SL_CTL_HUMAN_MAX];
	sl_ctl_table_add(t, any ? human(sum, u, buf) : NULL);
}

/* An object's "id" member (worker, io, port), else its position in the array. */
static uint64_t id_of(const json_t *o, const char *key, size_t index)
{
	uint64_t v;
	return u64_at(o, key, &v) ? v : index;
}

/* ---- warnings ---------------------------------------------------------------------------- */

/* A counter that should stay zero, and how a warning names it. */
struct alarm {
	const char *path;
	const char *label;
};

/* A worker's: lost datagrams, refused connections, bad input, durable failures. */
static const struct alarm worker_alarms[] = {
	{"port.rx_drops", "rx drops"},
	{"port.rx_overflows", "rx overflows"},
	{"port.tx_drops", "tx drops"},
	{"port.tx_nobufs", "tx out of buffers"},
	{"port.rx_malformed", "malformed frames"},
	{"port.rx_bad_csum", "bad checksums"},
	{"port.neigh_drops", "neighbour drops"},
	{"port.rx_errors", "rx errors"},
	{"port.tx_errors", "tx errors"},
	{"handoff.dropped_full", "hand-offs dropped (ring full)"},
	{"handoff.dropped_nomem", "hand-offs dropped (no buffer)"},
	{"quic.conns_refused", "connections refused"},
	{"moq.broadcasts_refused", "broadcasts refused (path already announced)"},
	{"moq.decode_errors", "moq decode errors"},
	{"moq.auth_refused", "requests refused by tokens"},
	{"auth.expired", "sessions ended by token expiry"},
	{"auth.quic_refused", "QUIC connections refused (token required)"},
	{"xshard.ring_full", "cross-worker ring full"},
	{"durable.produce_errors", "produce errors"},
	{"durable.produce_overloaded", "produce overloaded"},
	{"durable.fetch_errors", "fetch errors"},
	{"durable.flush_errors", "flush errors"},
	{"durable.rebuilds", "write paths rebuilt"},
	{"durable.object_read_errors", "object read errors"},
	{"durable.events_failed", "metadata events failed"},
	{"durable.request_ring_full", "request ring full"},
	{"durable.consumer_write_errors", "consumer position writes failed"},
	{"durable.log.decode_errors", "log decode errors"},
	{"pools.moq_streams.fails", "moq stream pool refusals (no memory)"},
	{"pools.quic_streams.fails", "quic stream pool refusals (no memory)"},
};

/* The figures a worker's ERRORS column adds up: failed requests and undecodable input. Drops
 * and back-pressure are not errors of the worker's; they appear only among the warnings. */
static const char *const worker_errors[] = {
	"moq.decode_errors",	     "durable.produce_errors",	   "durable.fetch_errors",
	"durable.flush_errors",	     "durable.object_read_errors", "durable.events_failed",
	"durable.log.decode_errors",
};

static const struct alarm io_alarms[] = {
	{"metalog.segment_errors", "metalog segment errors"},
	{"metalog.write_errors", "metalog write errors"},
	{"metalog.appends_refused", "metalog appends refused"},
	{"metalog.trim_errors", "metalog trim errors"},
	{"gc.gc_delete_failed", "retention GC deletes failed"},
	{"starts.write_failed", "retained starts writes failed (deletes wait)"},
};

static const struct alarm device_alarms[] = {
	{"rx_missed", "rx missed"},
	{"rx_errors", "rx errors"},
	{"tx_errors", "tx errors"},
	{"rx_nombuf", "rx no mbuf"},
};

static const struct alarm admin_alarms[] = {
	{"rejected", "clients rejected"},
};

/* The warnings of one report, collected while the tables are built and printed after them. */
struct warnings {
	FILE *f; /* a memory stream */
	char *text;
	size_t len;
};

static int warnings_open(struct warnings *w)
{
	w->text = NULL;
	w->len = 0;
	w->f = open_memstream(&w->text, &w->len);
	return w->f ? 0 : SL_ENOMEM;
}

/* Writes "warnings:" and the lines collected, if any, to f, and frees them. */
static void warnings_close(struct warnings *w, FILE *f)
{
	if (w->f == NULL)
		return;
	fclose(w->f);
	if (w->len > 0 && f != NULL)
		fprintf(f, "\nwarnings:\n%s", w->text);
	free(w->text);
	w->f = NULL;
}

/* One line for who ("worker 1") naming every counter of list that is not zero in o, and
 * extra (NULL: none) first. */
static void warn_counters(struct warnings *w, const char *who, const char *extra, const json_t *o,
			  const struct alarm *list, size_t n)
{
	bool first = true;
	if (extra) {
		fprintf(w->f, "  %s: %s", who, extra);
		first = false;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		if (!u64_at(o, list[i].path, &v) || v == 0)
			continue;
		if (first)
			fprintf(w->f, "  %s: ", who);
		else
			fputs(", ", w->f);
		fprintf(w->f, "%s %" PRIu64, list[i].label, v);
		first = false;
	}
	if (!first)
		fputc('\n', w->f);
}

/* ---- status ------------------------------------------------------------------------------ */

/* Writes the members of an array of strings comma-separated, or "-". */
static void print_list(FILE *f, const json_t *arr)
{
	size_t i, k = 0;
	const json_t *e;
	json_array_foreach(arr, i, e)
	{
		if (!json_is_string(e))
			continue;
		fprintf(f, "%s%s", k++ ? ", " : "", json_string_value(e));
	}
	if (k == 0)
		fputc('-', f);
}

static void status_header(FILE *f, const json_t *s, struct warnings *w)
{
	char a[SL_CTL_HUMAN_MAX], b[SL_CTL_HUMAN_MAX];
	uint64_t v, v2;
	const char *str;

	str = str_at(s, "version");
	fprintf(f, "%-11sshardlined %s", "version", str ? str : "-");
	if (u64_at(s, "pid", &v))
		fprintf(f, ", pid %" PRIu64, v);
	if (u64_at(s, "uptime_s", &v))
		fprintf(f, ", up %s", sl_ctl_human_seconds(v, a));
	fputc('\n', f);

	str = str_at(s, "driver");
	fprintf(f, "%-11s%s", "driver", str ? str : "-");
	const json_t *workers = at(s, "workers"), *io = at(s, "io");
	if (json_is_array(workers))
		fprintf(f, ", %zu worker%s", json_array_size(workers),
			json_array_size(workers) == 1 ? "" : "s");
	if (json_is_array(io))
		fprintf(f, ", %zu io lcore%s", json_array_size(io),
			json_array_size(io) == 1 ? "" : "s");
	fputc('\n', f);

	fprintf(f, "%-11s", "listen");
	print_list(f, at(s, "listen"));
	fputc('\n', f);

	str = str_at(s, "cert_sha256");
	if (str && strlen(str) > 16)
		fprintf(f, "%-11ssha256 %.16s...", "cert", str);
	else
		fprintf(f, "%-11s%s", "cert", str && str[0] ? str : "-");
	/* The certificate shardlined made: when it is replaced (cert_renew_before). */
	if (u64_at(s, "cert_renewal_due", &v)) {
		time_t due = (time_t)v;
		struct tm tm;
		char when[32];
		gmtime_r(&due, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		fprintf(f, " (own, renewed at %s", when);
		if (u64_at(s, "cert_renewals", &v2) && v2)
			fprintf(f, "; %" PRIu64 " renewal%s so far", v2, v2 == 1 ? "" : "s");
		fputc(')', f);
	}
	fputc('\n', f);

	const json_t *dd = at(s, "data_dir");
	if (json_is_object(dd)) {
		str = str_at(dd, "path");
		fprintf(f, "%-11s%s", "data dir", str ? str : "-");
		if (json_is_false(at(dd, "in_use"))) {
			fputs(" (not used: no io lcores)", f);
		} else if (u64_at(dd, "free_bytes", &v) && u64_at(dd, "total_bytes", &v2) &&
			   v2 > 0) {
			unsigned free_pct = (unsigned)((double)v * 100 / (double)v2);
			fprintf(f, ", %s free of %s (%u%% used)", sl_ctl_human_bytes(v, a),
				sl_ctl_human_bytes(v2, b), 100 - free_pct);
			if (v * 10 < v2)
				fprintf(w->f, "  data dir: only %s free of %s (%u%%)\n", a, b,
					free_pct);
		} else {
			fputs(", free space unknown", f);
		}
		fputc('\n', f);
	}

	const json_t *d = at(s, "durable");
	if (json_is_object(d)) {
		fprintf(f, "%-11s", "durable");
		if (u64_at(d, "boot", &v))
			fprintf(f, "boot %" PRIu64 ", ", v);
		if (u64_at(d, "streams", &v))
			fprintf(f, "%" PRIu64 " stream%s", v, v == 1 ? "" : "s");
		else
			fputs("- streams", f);
		const json_t *r = at(d, "recovery");
		if (json_is_object(r)) {
			fputs("; recovered ", f);
			if (u64_at(r, "segments", &v))
				fprintf(f, "%" PRIu64 " segment%s", v, v == 1 ? "" : "s");
			else
				fputs("- segments", f);
			if (u64_at(r, "events", &v))
				fprintf(f, " from %" PRIu64 " event%s", v, v == 1 ? "" : "s");
			const json_t *ms = at(r, "ms");
			if (json_is_number(ms))
				fprintf(f, " in %s", sl_ctl_human_ms(json_number_value(ms), a));
			/* What a crash left behind; expected after one, so not a warning. */
			static const struct alarm extra[] = {
				{"void", "void"},
				{"gaps", "gaps"},
				{"truncations", "truncations"},
				{"orphans_to_gc", "unreferenced objects left to the GC"},
			};
			for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
				if (u64_at(r, extra[i].path, &v) && v > 0)
					fprintf(f, ", %" PRIu64 " %s", v, extra[i].label);
		}
		fputc('\n', f);
	} else if (json_is_array(io) && json_array_size(io) == 0) {
		fprintf(f, "%-11snone (no io lcores)\n", "durable");
	}

	if (u64_at(s, "neighbours", &v))
		fprintf(f, "%-11s%" PRIu64 "\n", "neighbours", v);
	warn_counters(w, "admin", NULL, at(s, "admin"), admin_alarms,
		      sizeof(admin_alarms) / sizeof(admin_alarms[0]));
}

static int status_workers(FILE *f, const json_t *workers, struct warnings *w)
{
	static const char *const head[] = {
		"WORKER",  "LCORE",   "CONNS",	  "TRACKS",   "BCASTS",	 "SUBS",
		"RX_PKTS", "TX_PKTS", "RX_BYTES", "TX_BYTES", "GROUPS",	 "RESETS",
		"FRAMES",  "PARTS",   "PRODUCED", "FETCHED",  "FLUSHES", "ERRORS",
	};
	static const struct {
		const char *path;
		enum unit u;
	} cols[] = {
		{"lcore", EXACT},
		{"connections", COUNT},
		{"tracks", COUNT},
		{"broadcasts", COUNT},
		{"subscribers", COUNT},
		{"rx_packets", COUNT},
		{"tx_packets", COUNT},
		{"rx_bytes", BYTES},
		{"tx_bytes", BYTES},
		{"groups_sent", COUNT},
		{"groups_reset", COUNT},
		{"frames_out", COUNT},
		{"durable.partitions", COUNT},
		{"durable.produce_records", COUNT},
		{"durable.fetch_records", COUNT},
		{"durable.flushes", COUNT},
	};
	const size_t ncols = sizeof(head) / sizeof(head[0]);
	struct sl_ctl_table t;
	sl_ctl_table_init(&t, head, ncols, UINT32_MAX); /* numbers only: all right-aligned */
	size_t i;
	const json_t *o;
	json_array_foreach(workers, i, o)
	{
		uint64_t id = id_of(o, "worker", i);
		sl_ctl_table_addf(&t, "%" PRIu64, id);
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
			add_num(&t, o, cols[c].path, cols[c].u);
		add_sum(&t, o, worker_errors, sizeof(worker_errors) / sizeof(worker_errors[0]),
			COUNT);
		char who[32];
		snprintf(who, sizeof(who), "worker %" PRIu64, id);
		warn_counters(w, who, str_at(o, "error"), o, worker_alarms,
			      sizeof(worker_alarms) / sizeof(worker_alarms[0]));
	}
	fputc('\n', f);
	int rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	return rc;
}

static int status_io(FILE *f, const json_t *io, struct warnings *w)
{
	static const char *const head[] = {"IO",	 "LCORE",   "CLIENTS",	  "SERVED",
					   "INFLIGHT",	 "WRITTEN", "READ",	  "METALOG_RECORDS",
					   "FDATASYNCS", "GC_DEAD", "GC_DELETED", "GC_BYTES"};
	static const struct {
		const char *path;
		enum unit u;
	} cols[] = {
		{"lcore", EXACT},
		{"clients", COUNT},
		{"served", COUNT},
		{"inflight", COUNT},
		{"bytes_written", BYTES},
		{"bytes_read", BYTES},
		{"metalog.records_durable", COUNT},
		{"metalog.fdatasyncs", COUNT},
		/* The retention GC, beside the metadata log: objects waiting for their grace
		 * period, deleted, and the bytes that freed. */
		{"gc.objects_dead", COUNT},
		{"gc.gc_deleted", COUNT},
		{"gc.gc_bytes_deleted", BYTES},
	};
	struct sl_ctl_table t;
	sl_ctl_table_init(&t, head, sizeof(head) / sizeof(head[0]), UINT32_MAX);
	size_t i;
	const json_t *o;
	json_array_foreach(io, i, o)
	{
		uint64_t id = id_of(o, "io", i);
		sl_ctl_table_addf(&t, "%" PRIu64, id);
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
			add_num(&t, o, cols[c].path, cols[c].u);
		char who[32];
		snprintf(who, sizeof(who), "io %" PRIu64, id);
		warn_counters(w, who, str_at(o, "error"), o, io_alarms,
			      sizeof(io_alarms) / sizeof(io_alarms[0]));
	}
	fputc('\n', f);
	int rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	return rc;
}

/* "up 25G", "up 100M", "down", "-". */
static void add_link(struct sl_ctl_table *t, const json_t *o)
{
	const json_t *up = at(o, "link_up");
	uint64_t mbps;
	if (!json_is_boolean(up))
		sl_ctl_table_add(t, NULL);
	else if (json_is_false(up))
		sl_ctl_table_add(t, "down");
	else if (!u64_at(o, "link_speed_mbps", &mbps) || mbps == 0)
		sl_ctl_table_add(t, "up");
	else if (mbps % 1000 == 0)
		sl_ctl_table_addf(t, "up %" PRIu64 "G", mbps / 1000);
	else
		sl_ctl_table_addf(t, "up %" PRIu64 "M", mbps);
}

static void add_bool(struct sl_ctl_table *t, const json_t *o, const char *path)
{
	const json_t *b = at(o, path);
	sl_ctl_table_add(t, json_is_boolean(b) ? (json_is_true(b) ? "yes" : "no") : NULL);
}

static int status_devices(FILE *f, const json_t *devices, struct warnings *w)
{
	static const char *const head[] = {"PORT",     "NAME",	 "DRIVER",  "LINK",    "QUEUES",
					   "RSS",      "MTU",	 "RX_PKTS", "TX_PKTS", "RX_BYTES",
					   "TX_BYTES", "MISSED", "ERRORS",  "NOMBUF"};
	static const char *const errors[] = {"rx_errors", "tx_errors"};
	/* PORT and the figures from QUEUES on, but RSS, are right-aligned. */
	const uint32_t right = 1u | (UINT32_MAX << 4 & ~(1u << 5));
	struct sl_ctl_table t;
	sl_ctl_table_init(&t, head, sizeof(head) / sizeof(head[0]), right);
	size_t i;
	const json_t *o;
	json_array_foreach(devices, i, o)
	{
		uint64_t id = id_of(o, "port", i);
		sl_ctl_table_addf(&t, "%" PRIu64, id);
		sl_ctl_table_add(&t, str_at(o, "name"));
		sl_ctl_table_add(&t, str_at(o, "driver"));
		add_link(&t, o);
		add_num(&t, o, "queues", EXACT);
		add_bool(&t, o, "rss");
		add_num(&t, o, "mtu", EXACT);
		add_num(&t, o, "rx_packets", COUNT);
		add_num(&t, o, "tx_packets", COUNT);
		add_num(&t, o, "rx_bytes", BYTES);
		add_num(&t, o, "tx_bytes", BYTES);
		add_num(&t, o, "rx_missed", COUNT);
		add_sum(&t, o, errors, 2, COUNT);
		add_num(&t, o, "rx_nombuf", COUNT);
		char who[96];
		const char *name = str_at(o, "name");
		if (name)
			snprintf(who, sizeof(who), "device %" PRIu64 " (%.60s)", id, name);
		else
			snprintf(who, sizeof(who), "device %" PRIu64, id);
		warn_counters(w, who, json_is_false(at(o, "link_up")) ? "link down" : NULL, o,
			      device_alarms, sizeof(device_alarms) / sizeof(device_alarms[0]));
	}
	fputc('\n', f);
	int rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	return rc;
}

/* The end of every renderer: the first failure, or a failed write. */
static int finish(FILE *f, int rc, char *err, size_t errlen)
{
	if (rc == SL_ENOMEM) {
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	if (rc == SL_EIO || (rc == 0 && (fflush(f) == EOF || ferror(f)))) {
		snprintf(err, errlen, "cannot write output: %s", strerror(errno));
		return SL_EIO;
	}
	return rc;
}

int sl_ctl_status_format(FILE *f, const json_t *status, char *err, size_t errlen)
{
	if (!json_is_object(status)) {
		snprintf(err, errlen, "the daemon's status is not a JSON object");
		return SL_ECORRUPT;
	}
	struct warnings w;
	if (warnings_open(&w) < 0)
		return finish(f, SL_ENOMEM, err, errlen);
	status_header(f, status, &w);
	int rc = 0;
	const json_t *part = at(status, "workers");
	if (json_is_array(part) && json_array_size(part) > 0)
		rc = status_workers(f, part, &w);
	part = at(status, "io");
	if (rc == 0 && json_is_array(part) && json_array_size(part) > 0)
		rc = status_io(f, part, &w);
	part = at(status, "devices");
	if (rc == 0 && json_is_array(part) && json_array_size(part) > 0)
		rc = status_devices(f, part, &w);
	warnings_close(&w, rc == 0 ? f : NULL);
	return finish(f, rc, err, errlen);
}

/* ---- connections ------------------------------------------------------------------------- */

int sl_ctl_connections_format(FILE *f, const json_t *resp, char *err, size_t errlen)
{
	static const char *const head[] = {
		"WORKER",  "REMOTE", "SESSION",	  "RTT",    "CWND",   "IN_FLIGHT",  "STREAMS",
		"UNACKED", "SUBS",   "UPSTREAMS", "GROUPS", "RESETS", "PAYLOAD_IN", "PAYLOAD_OUT",
	};
	static const struct {
		const char *path;
		enum unit u;
	} cols[] = {
		{"cwnd", BYTES},	  {"bytes_in_flight", BYTES}, {"streams", COUNT},
		{"unacked_bytes", BYTES}, {"subscriptions", COUNT},   {"upstreams", COUNT},
		{"groups_sent", COUNT},	  {"groups_reset", COUNT},    {"payload_in", BYTES},
		{"payload_out", BYTES},
	};
	const json_t *conns = json_is_object(resp) ? at(resp, "connections") : NULL;
	if (!json_is_array(conns)) {
		snprintf(err, errlen, "the daemon's answer has no 'connections' array");
		return SL_ECORRUPT;
	}
	if (json_array_size(conns) == 0) {
		fputs("no connections\n", f);
		return finish(f, 0, err, errlen);
	}
	struct warnings w;
	if (warnings_open(&w) < 0)
		return finish(f, SL_ENOMEM, err, errlen);
	struct sl_ctl_table t;
	/* Every column but REMOTE and SESSION is a number. */
	sl_ctl_table_init(&t, head, sizeof(head) / sizeof(head[0]), UINT32_MAX & ~6u);
	size_t i;
	const json_t *o;
	json_array_foreach(conns, i, o)
	{
		add_num(&t, o, "worker", EXACT);
		const char *remote = str_at(o, "remote");
		sl_ctl_table_add(&t, remote);
		/* The session is the connection's ALPN once the handshake is done; the daemon's
		 * answer may not carry it. */
		const char *alpn = str_at(o, "alpn");
		if (json_is_false(at(o, "established")))
			sl_ctl_table_add(&t, "handshake");
		else
			sl_ctl_table_add(&t, alpn && alpn[0] ? alpn : NULL);
		const json_t *rtt = at(o, "rtt_ms");
		char buf[SL_CTL_HUMAN_MAX];
		sl_ctl_table_add(&t, json_is_number(rtt)
					     ? sl_ctl_human_ms(json_number_value(rtt), buf)
					     : NULL);
		for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
			add_num(&t, o, cols[c].path, cols[c].u);
		uint64_t v;
		if (u64_at(o, "decode_errors", &v) && v > 0) {
			uint64_t wk = 0;
			bool has_worker = u64_at(o, "worker", &wk);
			fprintf(w.f, "  %s", remote ? remote : "a connection");
			if (has_worker)
				fprintf(w.f, " (worker %" PRIu64 ")", wk);
			fprintf(w.f, ": decode errors %" PRIu64 "\n", v);
		}
	}
	int rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	warnings_close(&w, rc == 0 ? f : NULL);
	return finish(f, rc, err, errlen);
}

/* ---- config list ------------------------------------------------------------------------- */

/* A setting's value as it is given on a command line: strings bare, lists comma-separated,
 * "(empty)" for an empty string or list. Returns a malloc'd string, or NULL (no memory). */
static char *setting_text(const json_t *v)
{
	if (v == NULL)
		return strdup("-");
	if (json_is_string(v))
		return strdup(json_string_value(v)[0] ? json_string_value(v) : "(empty)");
	if (json_is_array(v)) {
		if (json_array_size(v) == 0)
			return strdup("(empty)");
		char *text = NULL;
		size_t len = 0;
		FILE *m = open_memstream(&text, &len);
		if (m == NULL)
			return NULL;
		size_t i;
		const json_t *e;
		json_array_foreach(v, i, e)
		{
			char *s = setting_text(e);
			fprintf(m, "%s%s", i ? "," : "", s ? s : "?");
			free(s);
		}
		fclose(m);
		return text;
	}
	return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
}

int sl_ctl_config_list_format(FILE *f, const json_t *resp, char *err, size_t errlen)
{
	static const char *const head[] = {"SETTING", "VALUE", "SOURCE", "DEFAULT", "RUNTIME"};
	const json_t *settings = json_is_array(resp) ? resp : at(resp, "settings");
	if (!json_is_array(settings)) {
		snprintf(err, errlen, "the daemon's answer has no 'settings' array");
		return SL_ECORRUPT;
	}
	struct sl_ctl_table t;
	sl_ctl_table_init(&t, head, 5, 0);
	size_t i;
	const json_t *o;
	json_array_foreach(settings, i, o)
	{
		const json_t *value = at(o, "value"), *def = at(o, "default");
		char *vs = setting_text(value), *ds = setting_text(def);
		if (vs == NULL || ds == NULL)
			t.err = SL_ENOMEM;
		sl_ctl_table_add(&t, str_at(o, "name"));
		sl_ctl_table_add(&t, vs);
		if (value == NULL || def == NULL)
			sl_ctl_table_add(&t, NULL);
		else
			sl_ctl_table_add(&t, json_equal(value, def) ? "default" : "set");
		sl_ctl_table_add(&t, ds);
		add_bool(&t, o, "runtime");
		free(vs);
		free(ds);
	}
	int rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	return finish(f, rc, err, errlen);
}
