/* SPDX-License-Identifier: Apache-2.0 */
#include "control/prom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* ---- the buffer ---- */

void sl_prom_buf_init(struct sl_prom_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void sl_prom_buf_free(struct sl_prom_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

static bool reserve(struct sl_prom_buf *b, size_t more)
{
	if (b->err)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *d = realloc(b->data, cap);
	if (d == NULL) {
		b->err = SL_ENOMEM;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

static void put(struct sl_prom_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct sl_prom_buf *b, const char *s)
{
	put(b, s, strlen(s));
}

void sl_prom_printf(struct sl_prom_buf *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		put(b, small, (size_t)n);
		return;
	}
	if (!reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* ---- pieces ---- */

/* HELP text escapes backslash and newline; label values also the double quote. */
static void escaped(struct sl_prom_buf *b, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(b, "\\\\");
		else if (*s == '\n')
			puts_(b, "\\n");
		else if (quote && *s == '"')
			puts_(b, "\\\"");
		else
			put(b, s, 1);
	}
}

void sl_prom_family(struct sl_prom_buf *b, const char *name, const char *type, const char *help)
{
	sl_prom_printf(b, "# HELP %s ", name);
	escaped(b, help, false);
	sl_prom_printf(b, "\n# TYPE %s %s\n", name, type);
}

static void labels_(struct sl_prom_buf *b, const char *const *labels)
{
	if (labels == NULL || labels[0] == NULL)
		return;
	puts_(b, "{");
	for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
		sl_prom_printf(b, "%s%s=\"", i ? "," : "", labels[i]);
		escaped(b, labels[i + 1], true);
		puts_(b, "\"");
	}
	puts_(b, "}");
}

void sl_prom_sample(struct sl_prom_buf *b, const char *name, const char *const *labels,
		    uint64_t value)
{
	puts_(b, name);
	labels_(b, labels);
	sl_prom_printf(b, " %llu\n", (unsigned long long)value);
}

/* ---- tables ---- */

/* One series family flattened out of a table. */
struct col {
	char name[160];
	char help[200];
	const struct sl_stat_field *f;
	uint32_t base; /* offset, in the whole struct, of the struct f belongs to */
	bool gauge;
};

struct cols {
	struct col *v;
	size_t n, cap;
	int err;
};

/* Keeps [a-zA-Z0-9_] and turns anything else into '_'. */
static void sanitise(char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			*s = '_';
	}
}

static bool listed(const char *const *list, const char *key)
{
	for (; list && *list; list++)
		if (strcmp(*list, key) == 0)
			return true;
	return false;
}

static void flatten(const struct sl_prom_set *s, const struct sl_stat_field *table, uint32_t base,
		    const char *keyprefix, const char *path, struct cols *out)
{
	for (const struct sl_stat_field *f = table; f->type != SL_STAT_END && !out->err; f++) {
		/* An alias repeats a row shown elsewhere: exporting it would make two series of
		 * one value, which sum() then counts twice. */
		if (f->flags & (SL_STAT_F_HIDDEN | SL_STAT_F_ALIAS))
			continue;
		char where[128], key[96];
		if (path[0] && f->in && f->in[0])
			snprintf(where, sizeof(where), "%s.%s", path, f->in);
		else
			snprintf(where, sizeof(where), "%s", path[0] ? path : (f->in ? f->in : ""));
		snprintf(key, sizeof(key), "%s%s", keyprefix, f->name);
		if (f->type == SL_STAT_STRUCT) {
			flatten(s, f->sub, base + f->offset, key, where, out);
			continue;
		}
		bool top = where[0] == '\0';
		if (top && s->id_key && strcmp(key, s->id_key) == 0)
			continue;
		if (out->n == out->cap) {
			size_t cap = out->cap ? out->cap * 2 : 64;
			struct col *v = realloc(out->v, cap * sizeof(*v));
			if (v == NULL) {
				out->err = SL_ENOMEM;
				return;
			}
			out->v = v;
			out->cap = cap;
		}
		struct col *c = &out->v[out->n++];
		char under[128];
		snprintf(under, sizeof(under), "%s", where);
		for (char *p = under; *p; p++)
			if (*p == '.')
				*p = '_';
		int nn = snprintf(c->name, sizeof(c->name), "%s%s%s%s", s->prefix, under,
				  top ? "" : "_", key);
		int nh = snprintf(c->help, sizeof(c->help), "shardctl status: %s%s%s%s%s%s",
				  s->help_path, s->help_path[0] ? "." : "", where, top ? "" : ".",
				  key, f->type == SL_STAT_ARRAY ? ".<type>" : "");
		/* A cut name would be another counter's name, or nobody's. */
		if (nn < 0 || (size_t)nn >= sizeof(c->name) || nh < 0 ||
		    (size_t)nh >= sizeof(c->help)) {
			out->err = SL_ERANGE;
			return;
		}
		sanitise(c->name);
		c->f = f;
		c->base = base;
		c->gauge = (f->flags & SL_STAT_F_GAUGE) || f->type == SL_STAT_BOOL ||
			   f->type == SL_STAT_FLAG || (top && listed(s->gauges, key));
	}
}

static uint64_t col_value(const struct col *c, const void *obj)
{
	const uint8_t *s = (const uint8_t *)obj + c->base;
	uint64_t v = sl_stat_get(s, c->f);
	if (c->f->type == SL_STAT_FLAG)
		return (v & c->f->mask) != 0;
	if (c->f->type == SL_STAT_BOOL)
		return v != 0;
	return v;
}

int sl_prom_render_set(struct sl_prom_buf *b, const struct sl_prom_set *s)
{
	const struct sl_stat_field *id = NULL;
	if (s->label) {
		for (const struct sl_stat_field *f = s->table; f->type != SL_STAT_END; f++)
			if (f->in == NULL && s->id_key && f->type == SL_STAT_UINT &&
			    strcmp(f->name, s->id_key) == 0)
				id = f;
		if (id == NULL)
			return SL_EINVAL;
	}
	struct cols cols = {0};
	flatten(s, s->table, 0, "", "", &cols);
	if (cols.err) {
		free(cols.v);
		return cols.err;
	}
	for (size_t k = 0; k < cols.n; k++) {
		const struct col *c = &cols.v[k];
		sl_prom_family(b, c->name, c->gauge ? "gauge" : "counter", c->help);
		for (size_t i = 0; i < s->n; i++) {
			const uint8_t *obj = s->objs[i];
			char idbuf[24];
			const char *labels[5] = {NULL};
			size_t nl = 0;
			if (id) {
				snprintf(idbuf, sizeof(idbuf), "%llu",
					 (unsigned long long)sl_stat_get(obj, id));
				labels[nl++] = s->label;
				labels[nl++] = idbuf;
			}
			if (c->f->type != SL_STAT_ARRAY) {
				sl_prom_sample(b, c->name, labels, col_value(c, obj));
				continue;
			}
			for (uint32_t e = 0; e < c->f->count; e++) {
				uint64_t v;
				memcpy(&v, obj + c->base + c->f->offset + e * c->f->size,
				       sizeof(v));
				labels[nl] = "type";
				labels[nl + 1] = c->f->names[e];
				sl_prom_sample(b, c->name, labels, v);
			}
		}
	}
	free(cols.v);
	return b->err;
}

static const char *const worker_gauges[] = {"lcore", NULL};

const struct sl_prom_set sl_prom_worker_set = {
	.prefix = "shardline_",
	.label = "worker",
	.help_path = "workers[]",
	.table = sl_worker_stats_fields,
	.id_key = "worker",
	.gauges = worker_gauges,
};

const struct sl_prom_set sl_prom_iocore_set = {
	.prefix = "shardline_io_",
	.label = "io",
	.help_path = "io[]",
	.table = sl_iocore_stats_fields,
	.id_key = "io",
	.gauges = worker_gauges,
};

/* The admin server's counters have no table of their own in admin.c (status writes them one
 * by one); this one describes them for /metrics, and the unit test checks it covers the
 * struct. */
#define T struct sl_admin_stats
const struct sl_stat_field sl_prom_admin_fields[] = {
	SL_STAT_U(T, accepted, NULL),	    SL_STAT_U(T, rejected, NULL),
	SL_STAT_U(T, requests, NULL),	    SL_STAT_U(T, errors, NULL),
	SL_STAT_U(T, lines_too_long, NULL), SL_STAT_U(T, idle_closed, NULL),
	SL_STAT_U(T, bytes_in, NULL),	    SL_STAT_U(T, bytes_out, NULL),
	SL_STAT_G(T, clients, NULL),	    SL_STAT_TABLE_END,
};
#undef T

/* ---- latency ---- */

int sl_prom_render_trace(struct sl_prom_buf *b, const struct sl_trace *const *t,
			 const unsigned *ids, size_t n)
{
	static const char name[] = "shardline_publish_to_deliver_seconds";
	sl_prom_family(
		b, name, "histogram",
		"Time from a sampled frame's publisher send stamp to each stage in the relay "
		"(stage=\"sent\" is delivery); needs --trace-sample");
	for (size_t i = 0; i < n; i++) {
		char wid[16];
		snprintf(wid, sizeof(wid), "%u", ids[i]);
		for (int st = 0; st < SL_TRACE_STAGES; st++) {
			const uint64_t *h = t[i]->hist[st];
			const char *stage = sl_trace_stage_name((enum sl_trace_stage)st);
			uint64_t cum = 0;
			size_t next = 0;
			for (int e = SL_PROM_LE_MIN_LOG2; e <= SL_PROM_LE_MAX_LOG2; e++) {
				/* The trace's buckets below 2^e ns are those below the first bucket
				 * of the octave starting at 2^e (8 per octave, from 2^3). */
				size_t upto = (size_t)(e - 2) * 8;
				for (; next < upto && next < SL_TRACE_BUCKETS; next++)
					cum += h[next];
				char le[32];
				snprintf(le, sizeof(le), "%.12g", (double)(UINT64_C(1) << e) / 1e9);
				const char *labels[] = {"worker", wid, "stage", stage,
							"le",	  le,  NULL};
				sl_prom_sample(b, "shardline_publish_to_deliver_seconds_bucket",
					       labels, cum);
			}
			for (; next < SL_TRACE_BUCKETS; next++)
				cum += h[next];
			const char *inf[] = {"worker", wid, "stage", stage, "le", "+Inf", NULL};
			sl_prom_sample(b, "shardline_publish_to_deliver_seconds_bucket", inf, cum);
			const char *labels[] = {"worker", wid, "stage", stage, NULL};
			sl_prom_sample(b, "shardline_publish_to_deliver_seconds_count", labels,
				       cum);
		}
	}
	sl_prom_family(b, "shardline_trace_sample", "gauge",
		       "One stamped frame in this many is traced (--trace-sample); 0: off");
	for (size_t i = 0; i < n; i++) {
		char wid[16];
		snprintf(wid, sizeof(wid), "%u", ids[i]);
		const char *labels[] = {"worker", wid, NULL};
		sl_prom_sample(b, "shardline_trace_sample", labels, t[i]->sample);
	}
	return b->err;
}

/* ---- everything ---- */

int sl_prom_render_status(struct sl_prom_buf *b, const struct sl_prom_status *st)
{
	sl_prom_family(b, "shardline_uptime_seconds", "gauge", "shardctl status: uptime_s");
	sl_prom_sample(b, "shardline_uptime_seconds", NULL, st->uptime_s);

	struct sl_prom_set ws = sl_prom_worker_set;
	ws.objs = (const void *const *)st->workers;
	ws.n = st->nworkers;
	int rc = sl_prom_render_set(b, &ws);
	if (rc != 0)
		return rc;

	const struct sl_trace **traces = calloc(st->nworkers + 1, sizeof(*traces));
	unsigned *ids = calloc(st->nworkers + 1, sizeof(*ids));
	if (traces == NULL || ids == NULL) {
		free(traces);
		free(ids);
		return SL_ENOMEM;
	}
	for (size_t i = 0; i < st->nworkers; i++) {
		traces[i] = &st->workers[i]->trace;
		ids[i] = st->workers[i]->id;
	}
	rc = sl_prom_render_trace(b, traces, ids, st->nworkers);
	free(traces);
	free(ids);
	if (rc != 0)
		return rc;

	if (st->shard_map_slots) {
		sl_prom_family(b, "shardline_shard_map_slots", "gauge",
			       "shardctl status: shard_map_slots[worker], the track slots a worker "
			       "owns");
		for (size_t i = 0; i < st->nslots; i++) {
			char wid[24];
			snprintf(wid, sizeof(wid), "%zu", i);
			const char *labels[] = {"worker", wid, NULL};
			sl_prom_sample(b, "shardline_shard_map_slots", labels,
				       st->shard_map_slots[i]);
		}
	}
	sl_prom_family(b, "shardline_workers_unanswered", "gauge",
		       "Workers that did not send their counters within 1 s for this scrape");
	sl_prom_sample(b, "shardline_workers_unanswered", NULL, st->workers_unanswered);

	struct sl_prom_set is = sl_prom_iocore_set;
	is.objs = (const void *const *)st->io;
	is.n = st->nio;
	rc = sl_prom_render_set(b, &is);
	if (rc != 0)
		return rc;
	/* Status adds this one to the metadata log's object; it is a difference of counters. */
	sl_prom_family(b, "shardline_io_metalog_records_in_memory", "gauge",
		       "shardctl status: io[].metalog.records_in_memory");
	for (size_t i = 0; i < st->nio; i++) {
		const struct sl_iocore_stats *s = st->io[i];
		char id[16];
		snprintf(id, sizeof(id), "%u", (unsigned)s->id);
		const char *labels[] = {"io", id, NULL};
		sl_prom_sample(b, "shardline_io_metalog_records_in_memory", labels,
			       s->mlog.published + s->mlog.recovered - s->mlog.trimmed);
	}
	sl_prom_family(b, "shardline_io_lcores_unanswered", "gauge",
		       "io lcores that did not send their counters within 1 s for this scrape");
	sl_prom_sample(b, "shardline_io_lcores_unanswered", NULL, st->io_unanswered);

	if (st->admin) {
		const void *obj = st->admin;
		struct sl_prom_set as = {.prefix = "shardline_admin_",
					 .help_path = "admin",
					 .table = sl_prom_admin_fields,
					 .objs = &obj,
					 .n = 1};
		rc = sl_prom_render_set(b, &as);
		if (rc != 0)
			return rc;
	}
	if (st->recovery) {
		const void *obj = st->recovery;
		struct sl_prom_set rs = {.prefix = "shardline_durable_recovery_",
					 .help_path = "durable.recovery",
					 .table = sl_drecovery_stats_fields,
					 .objs = &obj,
					 .n = 1};
		rc = sl_prom_render_set(b, &rs);
		if (rc != 0)
			return rc;
	}
	if (st->has_data_dir) {
		sl_prom_family(b, "shardline_data_dir_free_bytes", "gauge",
			       "shardctl status: data_dir.free_bytes");
		sl_prom_sample(b, "shardline_data_dir_free_bytes", NULL, st->data_dir_free_bytes);
		sl_prom_family(b, "shardline_data_dir_total_bytes", "gauge",
			       "shardctl status: data_dir.total_bytes");
		sl_prom_sample(b, "shardline_data_dir_total_bytes", NULL, st->data_dir_total_bytes);
	}
	return b->err;
}
