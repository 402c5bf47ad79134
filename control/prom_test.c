/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the /metrics text. Exact lines for a worker with known counters; every shown row
 * of the worker and io lcore tables (each given a value of its own) found as a series under
 * the name the naming rule gives, so a counter added later cannot be missing from /metrics;
 * the latency histogram's merged buckets; and a strict checker of the exposition format run
 * over a whole daemon's text.
 */
#include "core/test_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/prom.h"
#include "core/err.h"

static void assert_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	for (const char *p = text; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && memcmp(p, line, n) == 0)
			return;
		p = nl ? nl + 1 : NULL;
	}
	fail_msg("no line '%s' in the output", line);
}

static void assert_no_prefix(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, prefix, n) == 0)
			fail_msg("a line starts with '%s'", prefix);
		const char *nl = strchr(p, '\n');
		p = nl ? nl + 1 : NULL;
	}
}

/* ---- a checker of the text format (0.0.4) ---- */

struct family {
	char name[160];
	char type[16];
	bool help, closed;
};

struct checker {
	struct family fam[2048];
	size_t nfam;
	struct family *cur;
	char series[8192][200];
	size_t nseries;
	size_t samples;
};

static bool name_ok(const char *s, size_t n, bool label)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (!label && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static struct family *family_of(struct checker *c, const char *name)
{
	for (size_t i = 0; i < c->nfam; i++)
		if (strcmp(c->fam[i].name, name) == 0)
			return &c->fam[i];
	return NULL;
}

/* The family a sample belongs to: a histogram's _bucket, _sum and _count are its own. */
static struct family *sample_family(struct checker *c, const char *name)
{
	struct family *f = family_of(c, name);
	if (f)
		return f;
	static const char *const sfx[] = {"_bucket", "_sum", "_count"};
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(name), k = strlen(sfx[i]);
		if (n > k && strcmp(name + n - k, sfx[i]) == 0) {
			char base[160];
			snprintf(base, sizeof(base), "%.*s", (int)(n - k), name);
			f = family_of(c, base);
			if (f && strcmp(f->type, "histogram") == 0)
				return f;
		}
	}
	return NULL;
}

/* Switches the current family, failing if name's family was seen before and left. */
static void enter(struct checker *c, struct family *f)
{
	if (c->cur == f)
		return;
	if (f->closed)
		fail_msg("family %s is not contiguous", f->name);
	if (c->cur)
		c->cur->closed = true;
	c->cur = f;
}

static void check_comment(struct checker *c, const char *line)
{
	char kind[8], name[200];
	int off = 0;
	if (sscanf(line, "# %7s %199s %n", kind, name, &off) < 2)
		return; /* a plain comment */
	if (strcmp(kind, "HELP") != 0 && strcmp(kind, "TYPE") != 0)
		return;
	if (!name_ok(name, strlen(name), false))
		fail_msg("bad family name in '%s'", line);
	struct family *f = family_of(c, name);
	if (f == NULL) {
		assert_true(c->nfam < sizeof(c->fam) / sizeof(c->fam[0]));
		f = &c->fam[c->nfam++];
		snprintf(f->name, sizeof(f->name), "%s", name);
	}
	enter(c, f);
	if (strcmp(kind, "HELP") == 0) {
		if (f->help)
			fail_msg("two HELP lines for %s", name);
		f->help = true;
		return;
	}
	if (f->type[0])
		fail_msg("two TYPE lines for %s", name);
	const char *t = line + off;
	if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram") &&
	    strcmp(t, "summary") && strcmp(t, "untyped"))
		fail_msg("bad type in '%s'", line);
	snprintf(f->type, sizeof(f->type), "%s", t);
}

static void check_sample(struct checker *c, const char *line)
{
	const char *p = line;
	while (*p && *p != '{' && *p != ' ')
		p++;
	char name[160];
	snprintf(name, sizeof(name), "%.*s", (int)(p - line), line);
	if (!name_ok(name, strlen(name), false))
		fail_msg("bad metric name in '%s'", line);
	struct family *f = sample_family(c, name);
	if (f == NULL || f->type[0] == '\0')
		fail_msg("sample '%s' has no TYPE before it", line);
	enter(c, f);
	if (strcmp(f->type, "histogram") == 0 && strcmp(name, f->name) == 0)
		fail_msg("histogram sample without a suffix: '%s'", line);
	const char *labels = p;
	if (*p == '{') {
		p++;
		while (*p != '}') {
			const char *ln = p;
			while (*p && *p != '=')
				p++;
			if (!name_ok(ln, (size_t)(p - ln), true) || p[0] != '=' || p[1] != '"')
				fail_msg("bad label in '%s'", line);
			p += 2;
			while (*p && *p != '"') {
				if (*p == '\\') {
					if (p[1] != '\\' && p[1] != '"' && p[1] != 'n')
						fail_msg("bad escape in '%s'", line);
					p++;
				}
				p++;
			}
			if (*p != '"')
				fail_msg("unterminated label value in '%s'", line);
			p++;
			if (*p == ',')
				p++;
			else if (*p != '}')
				fail_msg("bad label list in '%s'", line);
		}
		p++;
	}
	if (*p != ' ')
		fail_msg("no value in '%s'", line);
	char *end;
	strtod(p + 1, &end);
	if (end == p + 1 || (*end != '\0' && *end != ' '))
		fail_msg("bad value in '%s'", line);
	/* No series twice: the name and its labels, as written. */
	char key[200];
	snprintf(key, sizeof(key), "%.*s", (int)(p - line), line);
	(void)labels;
	for (size_t i = 0; i < c->nseries; i++)
		if (strcmp(c->series[i], key) == 0)
			fail_msg("series %s appears twice", key);
	assert_true(c->nseries < sizeof(c->series) / sizeof(c->series[0]));
	snprintf(c->series[c->nseries++], sizeof(c->series[0]), "%s", key);
	c->samples++;
}

/* Checks a whole text; returns the number of samples. */
static size_t check_exposition(const char *text)
{
	struct checker *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		assert_non_null(nl);
		char line[512];
		assert_true((size_t)(nl - p) < sizeof(line));
		snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
		if (line[0] == '#')
			check_comment(c, line);
		else if (line[0] != '\0')
			check_sample(c, line);
		p = nl + 1;
	}
	for (size_t i = 0; i < c->nfam; i++)
		if (c->fam[i].type[0] == '\0')
			fail_msg("family %s has no TYPE", c->fam[i].name);
	size_t n = c->samples;
	free(c);
	return n;
}

/* The checker refuses what it should. */
static void test_checker(void **state)
{
	(void)state;
	assert_int_equal(check_exposition("# HELP a x\n# TYPE a counter\na 1\na{b=\"c\"} 2\n"), 2);
	assert_int_equal(check_exposition("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\n"
					  "h_count 1\n"),
			 2);
}

/* ---- exact lines ---- */

static void test_worker_lines(void **state)
{
	(void)state;
	struct sl_worker_stats *w = calloc(1, sizeof(*w));
	assert_non_null(w);
	w->id = 3;
	w->lcore = 5;
	w->connections = 12;
	w->quic.tx_datagrams = 42;
	w->port.rx_packets = 99;
	w->moq.msgs_in[SL_MOQ_MSG_SUBSCRIBE_OK] = 7;
	w->moq.msgs_out[SL_MOQ_MSG_FRAME] = 1000;
	w->durable = true;
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	struct sl_prom_set s = sl_prom_worker_set;
	const void *objs[] = {w};
	s.objs = objs;
	s.n = 1;
	assert_int_equal(sl_prom_render_set(&b, &s), 0);
	assert_line(b.data, "# HELP shardline_connections shardctl status: workers[].connections");
	assert_line(b.data, "# TYPE shardline_connections gauge");
	assert_line(b.data, "shardline_connections{worker=\"3\"} 12");
	assert_line(b.data, "# TYPE shardline_lcore gauge");
	assert_line(b.data, "shardline_lcore{worker=\"3\"} 5");
	assert_line(
		b.data,
		"# HELP shardline_quic_tx_datagrams shardctl status: workers[].quic.tx_datagrams");
	assert_line(b.data, "# TYPE shardline_quic_tx_datagrams counter");
	assert_line(b.data, "shardline_quic_tx_datagrams{worker=\"3\"} 42");
	assert_line(b.data, "shardline_port_rx_packets{worker=\"3\"} 99");
	assert_line(b.data, "# TYPE shardline_moq_msgs_in counter");
	assert_line(b.data, "shardline_moq_msgs_in{worker=\"3\",type=\"subscribe_ok\"} 7");
	assert_line(b.data, "shardline_moq_msgs_in{worker=\"3\",type=\"announce\"} 0");
	assert_line(b.data, "shardline_moq_msgs_out{worker=\"3\",type=\"frame\"} 1000");
	/* The id is the label, not a series; aliases and hidden rows are not series. */
	assert_no_prefix(b.data, "shardline_worker{");
	assert_no_prefix(b.data, "shardline_rx_packets");
	assert_no_prefix(b.data, "shardline_frames_out");
	assert_no_prefix(b.data, "shardline_durable{");
	assert_no_prefix(b.data, "shardline_trace");
	check_exposition(b.data);
	sl_prom_buf_free(&b);
	free(w);
}

/* ---- every shown row is a series ---- */

struct expect {
	char line[200]; /* name{labels} value, exactly */
	char name[160];
	bool gauge;
};

struct expects {
	struct expect v[2048];
	size_t n;
	uint64_t next;
};

/*
 * Gives every shown integer row (each array element) a value of its own and records the line
 * the naming rule of prom.h promises for it. The rule is written out here again, on purpose:
 * the test states the contract rather than calling the code under test.
 */
static void mark(uint8_t *s, const struct sl_stat_field *table, const char *prefix,
		 const char *keyprefix, const char *path, const char *label, const char *id_key,
		 unsigned id, struct expects *x)
{
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END; f++) {
		if (f->flags & (SL_STAT_F_ALIAS | SL_STAT_F_HIDDEN))
			continue;
		char where[128], key[96];
		const char *in = f->in ? f->in : "";
		if (path[0] && in[0])
			snprintf(where, sizeof(where), "%s.%s", path, in);
		else
			snprintf(where, sizeof(where), "%s", path[0] ? path : in);
		snprintf(key, sizeof(key), "%s%s", keyprefix, f->name);
		if (f->type == SL_STAT_STRUCT) {
			mark(s + f->offset, f->sub, prefix, key, where, label, id_key, id, x);
			continue;
		}
		if (where[0] == '\0' && strcmp(key, id_key) == 0)
			continue;
		char name[160];
		int nn = snprintf(name, sizeof(name), "%s%s%s%s", prefix, where,
				  where[0] ? "_" : "", key);
		assert_true(nn > 0 && (size_t)nn < sizeof(name));
		for (char *p = name; *p; p++)
			if (*p == '.')
				*p = '_';
		uint32_t n = f->type == SL_STAT_ARRAY ? f->count : 1;
		for (uint32_t e = 0; e < n; e++) {
			assert_true(x->n < sizeof(x->v) / sizeof(x->v[0]));
			struct expect *ex = &x->v[x->n++];
			snprintf(ex->name, sizeof(ex->name), "%s", name);
			ex->gauge = (f->flags & SL_STAT_F_GAUGE) || f->type == SL_STAT_BOOL ||
				    f->type == SL_STAT_FLAG;
			if (f->type == SL_STAT_BOOL || f->type == SL_STAT_FLAG) {
				/* Set them all true. */
				uint64_t v = f->type == SL_STAT_FLAG ? f->mask : 1;
				memcpy(s + f->offset, &v, f->size);
				snprintf(ex->line, sizeof(ex->line), "%s{%s=\"%u\"} 1", name, label,
					 id);
				continue;
			}
			uint64_t v = x->next++;
			uint8_t *at = s + f->offset + e * f->size;
			if (f->size == 8)
				memcpy(at, &v, 8);
			else if (f->size == 4)
				*(uint32_t *)at = (uint32_t)v;
			else if (f->size == 2)
				*(uint16_t *)at = (uint16_t)v;
			else
				*at = (uint8_t)v;
			if (f->type == SL_STAT_ARRAY)
				snprintf(ex->line, sizeof(ex->line),
					 "%s{%s=\"%u\",type=\"%s\"} %llu", name, label, id,
					 f->names[e], (unsigned long long)v);
			else
				snprintf(ex->line, sizeof(ex->line), "%s{%s=\"%u\"} %llu", name,
					 label, id, (unsigned long long)v);
		}
	}
}

static void check_expects(const char *text, const struct expects *x)
{
	for (size_t i = 0; i < x->n; i++) {
		assert_line(text, x->v[i].line);
		char type[200];
		snprintf(type, sizeof(type), "# TYPE %s %s", x->v[i].name,
			 x->v[i].gauge ? "gauge" : "counter");
		assert_line(text, type);
	}
}

static void test_every_worker_row(void **state)
{
	(void)state;
	struct sl_worker_stats *w = calloc(2, sizeof(*w));
	struct expects *x = calloc(1, sizeof(*x));
	assert_non_null(w);
	assert_non_null(x);
	x->next = 101;
	/* Two workers, so each row is checked under both labels. */
	mark((uint8_t *)&w[0], sl_worker_stats_fields, "shardline_", "", "", "worker", "worker", 0,
	     x);
	mark((uint8_t *)&w[1], sl_worker_stats_fields, "shardline_", "", "", "worker", "worker", 1,
	     x);
	w[0].id = 0;
	w[1].id = 1;
	/* lcore is a gauge though its row does not say so (prom.c's gauges list). */
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i].name, "shardline_lcore") == 0)
			x->v[i].gauge = true;
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	struct sl_prom_set s = sl_prom_worker_set;
	const void *objs[] = {&w[0], &w[1]};
	s.objs = objs;
	s.n = 2;
	assert_int_equal(sl_prom_render_set(&b, &s), 0);
	assert_true(x->n > 100);
	check_expects(b.data, x);
	/* Nothing but what was expected: one sample per expectation. */
	assert_int_equal(check_exposition(b.data), x->n);
	sl_prom_buf_free(&b);
	free(x);
	free(w);
}

static void test_every_iocore_row(void **state)
{
	(void)state;
	struct sl_iocore_stats *io = calloc(2, sizeof(*io));
	struct expects *x = calloc(1, sizeof(*x));
	assert_non_null(io);
	assert_non_null(x);
	x->next = 5001;
	mark((uint8_t *)&io[0], sl_iocore_stats_fields, "shardline_io_", "", "", "io", "io", 0, x);
	mark((uint8_t *)&io[1], sl_iocore_stats_fields, "shardline_io_", "", "", "io", "io", 1, x);
	io[0].id = 0;
	io[1].id = 1;
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->v[i].name, "shardline_io_lcore") == 0)
			x->v[i].gauge = true;
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	struct sl_prom_set s = sl_prom_iocore_set;
	const void *objs[] = {&io[0], &io[1]};
	s.objs = objs;
	s.n = 2;
	assert_int_equal(sl_prom_render_set(&b, &s), 0);
	assert_true(x->n > 20);
	check_expects(b.data, x);
	assert_int_equal(check_exposition(b.data), x->n);
	sl_prom_buf_free(&b);
	free(x);
	free(io);
}

static void test_admin_table(void **state)
{
	(void)state;
	char err[256] = "";
	int rc = sl_stats_check_covers(sl_prom_admin_fields, sizeof(struct sl_admin_stats), err,
				       sizeof(err));
	if (rc != 0)
		fail_msg("struct sl_admin_stats: %s", err);
}

/* ---- latency ---- */

static void test_trace_histogram(void **state)
{
	(void)state;
	struct sl_trace *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	sl_trace_init(t, 10);
	sl_trace_record(t, SL_TRACE_SENT, 500);			   /* below 1.024 us */
	sl_trace_record(t, SL_TRACE_SENT, 1023);		   /* below 1.024 us */
	sl_trace_record(t, SL_TRACE_SENT, 1024);		   /* below 2.048 us */
	sl_trace_record(t, SL_TRACE_SENT, 1500);		   /* below 2.048 us */
	sl_trace_record(t, SL_TRACE_SENT, UINT64_C(3000000000));   /* 3 s: below 4.29 s */
	sl_trace_record(t, SL_TRACE_SENT, UINT64_C(1) << 41);	   /* past the last le */
	sl_trace_record(t, SL_TRACE_RELAY_RX, UINT64_C(20000000)); /* 20 ms */
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	const struct sl_trace *ts[] = {t};
	unsigned ids[] = {2};
	assert_int_equal(sl_prom_render_trace(&b, ts, ids, 1), 0);
	const char *p = "shardline_publish_to_deliver_seconds_bucket{worker=\"2\",stage=\"sent\",";
	char line[256];
	assert_line(b.data, "# TYPE shardline_publish_to_deliver_seconds histogram");
	snprintf(line, sizeof(line), "%sle=\"1.024e-06\"} 2", p);
	assert_line(b.data, line);
	snprintf(line, sizeof(line), "%sle=\"2.048e-06\"} 4", p);
	assert_line(b.data, line);
	snprintf(line, sizeof(line), "%sle=\"2.147483648\"} 4", p);
	assert_line(b.data, line);
	snprintf(line, sizeof(line), "%sle=\"4.294967296\"} 5", p);
	assert_line(b.data, line);
	snprintf(line, sizeof(line), "%sle=\"17.179869184\"} 5", p);
	assert_line(b.data, line);
	snprintf(line, sizeof(line), "%sle=\"+Inf\"} 6", p);
	assert_line(b.data, line);
	assert_line(b.data,
		    "shardline_publish_to_deliver_seconds_count{worker=\"2\",stage=\"sent\"} 6");
	assert_line(b.data, "shardline_publish_to_deliver_seconds_bucket{worker=\"2\",stage="
			    "\"relay_rx\",le=\"0.016777216\"} 0");
	assert_line(b.data, "shardline_publish_to_deliver_seconds_bucket{worker=\"2\",stage="
			    "\"relay_rx\",le=\"0.033554432\"} 1");
	assert_line(b.data,
		    "shardline_publish_to_deliver_seconds_count{worker=\"2\",stage=\"queued\"} 0");
	assert_line(b.data, "shardline_trace_sample{worker=\"2\"} 10");
	/* Per stage: one bucket per power of two, +Inf and the count. */
	size_t per_stage = SL_PROM_LE_MAX_LOG2 - SL_PROM_LE_MIN_LOG2 + 1 + 2;
	assert_int_equal(check_exposition(b.data), SL_TRACE_STAGES * per_stage + 1);
	/* Buckets are cumulative: never smaller than the one before. */
	uint64_t prev = 0;
	for (const char *q = strstr(b.data, p); q; q = strstr(q + 1, p)) {
		const char *sp = strchr(q, ' ');
		uint64_t v = strtoull(sp + 1, NULL, 10);
		assert_true(v >= prev);
		prev = v;
	}
	sl_prom_buf_free(&b);
	free(t);
}

/* ---- a whole daemon ---- */

static void test_status(void **state)
{
	(void)state;
	struct sl_worker_stats *w = calloc(2, sizeof(*w));
	struct sl_iocore_stats *io = calloc(1, sizeof(*io));
	assert_non_null(w);
	assert_non_null(io);
	w[0].id = 0;
	w[1].id = 1;
	w[1].trace.sample = 100;
	sl_trace_record(&w[1].trace, SL_TRACE_SENT, 70000);
	io->id = 0;
	io->metalog = true;
	io->mlog.published = 10;
	io->mlog.recovered = 5;
	io->mlog.trimmed = 3;
	struct sl_admin_stats adm = {.accepted = 4, .clients = 1};
	struct sl_drecovery_stats rec = {.events = 9};
	const struct sl_worker_stats *ws[] = {&w[0], &w[1]};
	const struct sl_iocore_stats *ios[] = {io};
	unsigned slots[] = {128, 128};
	struct sl_prom_status st = {.workers = ws,
				    .nworkers = 2,
				    .io = ios,
				    .nio = 1,
				    .workers_unanswered = 1,
				    .shard_map_slots = slots,
				    .nslots = 2,
				    .uptime_s = 77,
				    .admin = &adm,
				    .recovery = &rec,
				    .has_data_dir = true,
				    .data_dir_free_bytes = 1000,
				    .data_dir_total_bytes = 2000};
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	assert_int_equal(sl_prom_render_status(&b, &st), 0);
	check_exposition(b.data);
	assert_line(b.data, "shardline_uptime_seconds 77");
	assert_line(b.data, "shardline_shard_map_slots{worker=\"1\"} 128");
	assert_line(b.data, "shardline_workers_unanswered 1");
	assert_line(b.data, "shardline_io_lcores_unanswered 0");
	assert_line(b.data, "shardline_io_metalog_records_in_memory{io=\"0\"} 12");
	assert_line(b.data, "# TYPE shardline_admin_accepted counter");
	assert_line(b.data, "shardline_admin_accepted 4");
	assert_line(b.data, "# TYPE shardline_admin_clients gauge");
	assert_line(b.data, "shardline_durable_recovery_events 9");
	assert_line(b.data, "shardline_data_dir_free_bytes 1000");
	assert_line(b.data, "shardline_trace_sample{worker=\"1\"} 100");
	assert_line(b.data, "shardline_publish_to_deliver_seconds_count{worker=\"1\",stage="
			    "\"sent\"} 1");
	sl_prom_buf_free(&b);

	/* Without the optional parts the text is still well formed. */
	struct sl_prom_status none = {0};
	sl_prom_buf_init(&b);
	assert_int_equal(sl_prom_render_status(&b, &none), 0);
	check_exposition(b.data);
	sl_prom_buf_free(&b);
	free(w);
	free(io);
}

static void test_escaping(void **state)
{
	(void)state;
	struct sl_prom_buf b;
	sl_prom_buf_init(&b);
	sl_prom_family(&b, "x", "gauge", "a \\ b\nc");
	const char *labels[] = {"k", "q\"b\\n\nl", NULL};
	sl_prom_sample(&b, "x", labels, 1);
	assert_string_equal(b.data, "# HELP x a \\\\ b\\nc\n# TYPE x gauge\n"
				    "x{k=\"q\\\"b\\\\n\\nl\"} 1\n");
	check_exposition(b.data);
	/* A long line goes through the large path of sl_prom_printf. */
	char big[1000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	size_t before = b.len;
	sl_prom_printf(&b, "%s", big);
	assert_int_equal(b.len, before + sizeof(big) - 1);
	assert_int_equal(b.err, 0);
	sl_prom_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checker),		 cmocka_unit_test(test_worker_lines),
		cmocka_unit_test(test_every_worker_row), cmocka_unit_test(test_every_iocore_row),
		cmocka_unit_test(test_admin_table),	 cmocka_unit_test(test_trace_histogram),
		cmocka_unit_test(test_status),		 cmocka_unit_test(test_escaping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
