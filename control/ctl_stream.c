/* SPDX-License-Identifier: Apache-2.0 */
#include "control/ctl_stream.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control/config.h"
#include "control/ctl_table.h"
#include "control/streams.h"
#include "core/err.h"
#include "log/streamset.h"

#define NS_PER_MS  UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)

static const char *const op_names[] = {"create", "list", "describe", "delete"};

/* The synopsis of each operation, in op_names order, for usage errors. */
static const char *const op_usage[] = {
	("create NAME --partitions P [--retention-age DURATION] [--retention-bytes BYTES] "
	 "[--max-record-bytes BYTES] [--export [--export-max-age DURATION]] [--json]"),
	"list [--json]",
	"describe NAME [--json]",
	"delete NAME [--json]",
};

/* The index of op in op_names, or -1. */
static int op_index(const char *op)
{
	for (int k = 0; op != NULL && k < 4; k++)
		if (strcmp(op, op_names[k]) == 0)
			return k;
	return -1;
}

/* ---- values ------------------------------------------------------------------------------ */

int sl_ctl_stream_parse_duration(const char *text, uint64_t *ns)
{
	if (text == NULL || *text == '\0')
		return SL_EINVAL;
	/* sl_config_parse_duration stops at hours, but retention is naturally said in days, so
	 * a leading "Nd" is taken here and the rest is left to the shared parser. */
	const char *d = strchr(text, 'd');
	if (d == NULL)
		return sl_config_parse_duration(text, ns);
	uint64_t days = 0;
	for (const char *p = text; p < d; p++) {
		if (!isdigit((unsigned char)*p))
			return SL_EINVAL;
		if (days > (UINT64_MAX - 9) / 10)
			return SL_ERANGE;
		days = days * 10 + (uint64_t)(*p - '0');
	}
	if (d == text)
		return SL_EINVAL;
	const uint64_t day_ns = 86400 * NS_PER_SEC;
	if (days > UINT64_MAX / day_ns)
		return SL_ERANGE;
	uint64_t total = days * day_ns, rest = 0;
	const char *tail = d + 1;
	if (*tail != '\0') {
		/* "1d30" would leave "30", which the shared parser reads as seconds; a unit is
		 * required after days so that nothing is guessed. */
		size_t digits = strspn(tail, "0123456789");
		if (tail[digits] == '\0')
			return SL_EINVAL;
		int rc = sl_config_parse_duration(tail, &rest);
		if (rc < 0)
			return rc;
	}
	if (rest > UINT64_MAX - total)
		return SL_ERANGE;
	*ns = total + rest;
	return 0;
}

int sl_ctl_stream_format_duration(uint64_t ms, char *out, size_t size)
{
	if (ms > UINT64_MAX / NS_PER_MS) /* beyond what nanoseconds hold: say it in ms */
		return snprintf(out, size, "%" PRIu64 "ms", ms);
	return sl_catalog_format_duration(ms * NS_PER_MS, out, size);
}

int sl_ctl_stream_format_bytes(uint64_t bytes, bool spaced, char *out, size_t size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	int u = -1;
	uint64_t v = bytes;
	while (v != 0 && v % 1024 == 0 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		return snprintf(out, size, "%" PRIu64 "%s", bytes, spaced ? " bytes" : "");
	return snprintf(out, size, "%" PRIu64 "%s%s", v, spaced ? " " : "", units[u]);
}

/* ---- parsing ----------------------------------------------------------------------------- */

static int bad_value(char *err, size_t errlen, const char *flag, const char *v, const char *want)
{
	snprintf(err, errlen, "bad %s '%s': expected %s", flag, v, want);
	return SL_EINVAL;
}

static int parse_partitions(const char *v, uint32_t *out, char *err, size_t errlen)
{
	char want[64];
	snprintf(want, sizeof(want), "an integer from 1 to %u", SL_STREAM_MAX_PARTITIONS);
	size_t n = strspn(v, "0123456789");
	if (n == 0 || v[n] != '\0' || n > 9)
		return bad_value(err, errlen, "--partitions", v, want);
	unsigned long x = strtoul(v, NULL, 10);
	if (x < 1 || x > SL_STREAM_MAX_PARTITIONS)
		return bad_value(err, errlen, "--partitions", v, want);
	*out = (uint32_t)x;
	return 0;
}

static int parse_retention_age(const char *v, uint64_t *ms, char *err, size_t errlen)
{
	static const char want[] = "0 (keep forever) or a duration such as 7d, 12h or 90m, from "
				   "1s to 36500d, in whole milliseconds";
	uint64_t ns;
	if (sl_ctl_stream_parse_duration(v, &ns) < 0)
		return bad_value(err, errlen, "--retention-age", v, want);
	if (ns != 0 && (ns < SL_CATALOG_MIN_RETENTION_AGE_NS ||
			ns > SL_CATALOG_MAX_RETENTION_AGE_NS || ns % NS_PER_MS != 0))
		return bad_value(err, errlen, "--retention-age", v, want);
	*ms = ns / NS_PER_MS;
	return 0;
}

static int parse_export_max_age(const char *v, uint64_t *ms, char *err, size_t errlen)
{
	static const char want[] = "0 (keep until acknowledged) or a duration such as 7d, 12h or "
				   "90m, from 1s to 36500d, in whole milliseconds";
	uint64_t ns;
	if (sl_ctl_stream_parse_duration(v, &ns) < 0)
		return bad_value(err, errlen, "--export-max-age", v, want);
	if (ns != 0 && (ns < SL_CATALOG_MIN_RETENTION_AGE_NS ||
			ns > SL_CATALOG_MAX_RETENTION_AGE_NS || ns % NS_PER_MS != 0))
		return bad_value(err, errlen, "--export-max-age", v, want);
	*ms = ns / NS_PER_MS;
	return 0;
}

static int parse_retention_bytes(const char *v, uint64_t *out, char *err, size_t errlen)
{
	static const char want[] = "0 (no limit) or a size such as 64GiB or 500MB, from 1MiB to "
				   "1EiB (1048576TiB)";
	uint64_t b;
	if (sl_config_parse_bytes(v, &b) < 0 ||
	    (b != 0 && (b < SL_CATALOG_MIN_RETENTION_BYTES || b > SL_CATALOG_MAX_RETENTION_BYTES)))
		return bad_value(err, errlen, "--retention-bytes", v, want);
	*out = b;
	return 0;
}

static int parse_max_record(const char *v, uint32_t *out, char *err, size_t errlen)
{
	static const char want[] = "a size such as 64KiB or 4MiB, from 1 to 16MiB";
	uint64_t b;
	if (sl_config_parse_bytes(v, &b) < 0 || b < 1 || b > SL_STREAM_MAX_RECORD_BYTES)
		return bad_value(err, errlen, "--max-record-bytes", v, want);
	*out = (uint32_t)b;
	return 0;
}

/* The options of `stream create`, which take a value. */
static const char *const create_flags[] = {"--partitions", "--retention-age", "--retention-bytes",
					   "--max-record-bytes", "--export-max-age"};
#define NCREATE_FLAGS 5

int sl_ctl_stream_parse(int argc, char **argv, struct sl_ctl_stream_args *out, char *err,
			size_t errlen)
{
	memset(out, 0, sizeof(*out));
	if (argc < 2) {
		snprintf(err, errlen, "missing operation (create, list, describe or delete)");
		return SL_EINVAL;
	}
	const char *op = argv[1];
	int k = op_index(op);
	if (k < 0) {
		snprintf(err, errlen, "unknown operation '%s' (create, list, describe or delete)",
			 op);
		return SL_EINVAL;
	}
	out->op = (enum sl_ctl_stream_op)k;
	bool create = out->op == SL_CTL_STREAM_CREATE;
	bool have_partitions = false, literal = false;
	const char *extra = NULL;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!literal && strcmp(a, "--") == 0) {
			literal = true;
			continue;
		}
		if (literal || a[0] != '-' || a[1] == '\0') {
			if (out->name == NULL)
				out->name = a;
			else if (extra == NULL)
				extra = a;
			continue;
		}
		if (strcmp(a, "--json") == 0) {
			out->json = true;
			continue;
		}
		if (strcmp(a, "--export") == 0) {
			if (!create) {
				snprintf(err, errlen, "--export applies only to stream create");
				return SL_EINVAL;
			}
			out->export_enabled = true;
			continue;
		}
		/* --flag VALUE or --flag=VALUE */
		const char *eq = strchr(a, '=');
		size_t flen = eq ? (size_t)(eq - a) : strlen(a);
		int f;
		for (f = 0; f < NCREATE_FLAGS; f++)
			if (strlen(create_flags[f]) == flen &&
			    strncmp(a, create_flags[f], flen) == 0)
				break;
		if (f == NCREATE_FLAGS) {
			snprintf(err, errlen, "unknown option '%.*s' for stream %s", (int)flen, a,
				 op);
			return SL_EINVAL;
		}
		if (!create) {
			snprintf(err, errlen, "%s applies only to stream create", create_flags[f]);
			return SL_EINVAL;
		}
		const char *v;
		if (eq) {
			v = eq + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			snprintf(err, errlen, "%s needs a value", create_flags[f]);
			return SL_EINVAL;
		}
		int rc;
		switch (f) {
		case 0:
			rc = parse_partitions(v, &out->partitions, err, errlen);
			have_partitions = rc == 0;
			break;
		case 1:
			rc = parse_retention_age(v, &out->retention_age_ms, err, errlen);
			break;
		case 2:
			rc = parse_retention_bytes(v, &out->retention_bytes, err, errlen);
			break;
		case 3:
			rc = parse_max_record(v, &out->max_record_bytes, err, errlen);
			break;
		default:
			rc = parse_export_max_age(v, &out->export_max_age_ms, err, errlen);
			break;
		}
		if (rc < 0)
			return rc;
	}

	if (out->op == SL_CTL_STREAM_LIST) {
		if (out->name) {
			snprintf(err, errlen, "list takes no stream name (got '%s')", out->name);
			return SL_EINVAL;
		}
		return 0;
	}
	if (out->name == NULL) {
		snprintf(err, errlen, "%s needs a stream name", op);
		return SL_EINVAL;
	}
	if (extra) {
		snprintf(err, errlen, "%s takes one stream name (got '%s' and '%s')", op, out->name,
			 extra);
		return SL_EINVAL;
	}
	if (!sl_stream_name_valid(out->name, strlen(out->name))) {
		snprintf(err, errlen,
			 "bad stream name '%.64s%s': use 1 to 249 characters from A-Z a-z 0-9 . _ "
			 "-, other than '.' and '..'",
			 out->name, strlen(out->name) > 64 ? "..." : "");
		return SL_EINVAL;
	}
	if (create && !have_partitions) {
		snprintf(err, errlen, "create needs --partitions P (1 to %u)",
			 SL_STREAM_MAX_PARTITIONS);
		return SL_EINVAL;
	}
	if (out->export_max_age_ms != 0 && !out->export_enabled) {
		snprintf(err, errlen, "--export-max-age needs --export");
		return SL_EINVAL;
	}
	return 0;
}

json_t *sl_ctl_stream_request(const struct sl_ctl_stream_args *a)
{
	const char *op = op_names[a->op];
	switch (a->op) {
	case SL_CTL_STREAM_CREATE: {
		json_t *o = json_pack("{ss ss ss sI sI sI sI}", "cmd", "stream", "op", op, "name",
				      a->name, "partitions", (json_int_t)a->partitions,
				      "max_record_bytes", (json_int_t)a->max_record_bytes,
				      "retention_age_ms", (json_int_t)a->retention_age_ms,
				      "retention_bytes", (json_int_t)a->retention_bytes);
		/* Only when asked for, so a request to an older daemon stays what it was. */
		if (o != NULL && a->export_enabled &&
		    (json_object_set_new(o, "export", json_true()) != 0 ||
		     json_object_set_new(o, "export_max_age_ms",
					 json_integer((json_int_t)a->export_max_age_ms)) != 0)) {
			json_decref(o);
			return NULL;
		}
		return o;
	}
	case SL_CTL_STREAM_LIST:
		return json_pack("{ss ss}", "cmd", "stream", "op", op);
	default:
		return json_pack("{ss ss ss}", "cmd", "stream", "op", op, "name", a->name);
	}
}

/* ---- output ------------------------------------------------------------------------------ */

/* A stream object of an answer, read leniently: members that are missing or of another type
 * read as 0 (shown as defaults), except the name, which must be there. */
struct stream_view {
	const char *name;
	uint64_t id, partitions, max_record, age_ms, bytes, created_ms;
	bool export_enabled;
	uint64_t export_max_age_ms;
};

static uint64_t member_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v < 0 ? 0 : (uint64_t)v;
}

static int read_stream(const json_t *o, const char *what, struct stream_view *v, char *err,
		       size_t errlen)
{
	v->name = json_string_value(json_object_get(o, "name"));
	if (!json_is_object(o) || v->name == NULL) {
		snprintf(err, errlen, "the daemon's answer has no %s with a name", what);
		return SL_ECORRUPT;
	}
	v->id = member_u64(o, "id");
	v->partitions = member_u64(o, "partitions");
	v->max_record = member_u64(o, "max_record_bytes");
	v->age_ms = member_u64(o, "retention_age_ms");
	v->bytes = member_u64(o, "retention_bytes");
	v->created_ms = member_u64(o, "created_ms");
	v->export_enabled = json_is_true(json_object_get(o, "export"));
	v->export_max_age_ms = member_u64(o, "export_max_age_ms");
	return 0;
}

/* "orders (id 3): 8 partitions, max record 1 MiB, retention: 7d, no byte limit" */
static void stream_summary(FILE *f, const struct stream_view *v)
{
	char rec[32], age[32], limit[32], bytes[48];
	sl_ctl_stream_format_bytes(v->max_record, true, rec, sizeof(rec));
	if (v->age_ms == 0)
		snprintf(age, sizeof(age), "forever");
	else
		sl_ctl_stream_format_duration(v->age_ms, age, sizeof(age));
	if (v->bytes == 0) {
		snprintf(bytes, sizeof(bytes), "no byte limit");
	} else {
		sl_ctl_stream_format_bytes(v->bytes, true, limit, sizeof(limit));
		snprintf(bytes, sizeof(bytes), "%s per partition", limit);
	}
	fprintf(f, "%s (id %" PRIu64 "): %" PRIu64 " partition%s, max record %s, retention: %s, %s",
		v->name, v->id, v->partitions, v->partitions == 1 ? "" : "s", rec, age, bytes);
	if (v->export_enabled && v->export_max_age_ms == 0) {
		fprintf(f, ", export");
	} else if (v->export_enabled) {
		char ea[32];
		sl_ctl_stream_format_duration(v->export_max_age_ms, ea, sizeof(ea));
		fprintf(f, ", export (max age %s)", ea);
	}
}

/* A member as an exact integer cell, or "-" when the daemon did not report it. */
static int table_add_u64(struct sl_ctl_table *t, const json_t *o, const char *key)
{
	const json_t *j = json_object_get(o, key);
	if (!json_is_integer(j))
		return sl_ctl_table_add(t, NULL);
	return sl_ctl_table_addf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
}

static int format_list(FILE *f, const json_t *resp, char *err, size_t errlen)
{
	static const char *const head[] = {
		"NAME", "ID", "PARTITIONS", "MAX_RECORD", "RETENTION_AGE", "RETENTION_BYTES"};
	const json_t *arr = json_object_get(resp, "streams");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "the daemon's answer has no 'streams' array");
		return SL_ECORRUPT;
	}
	size_t i;
	const json_t *o;
	struct stream_view v;
	json_array_foreach(arr, i, o)
	{
		if (read_stream(o, "stream in 'streams'", &v, err, errlen) < 0)
			return SL_ECORRUPT;
	}
	if (json_array_size(arr) == 0) {
		fprintf(f, "no streams\n");
		return 0;
	}
	struct sl_ctl_table t;
	int rc = sl_ctl_table_init(&t, head, 6, 0);
	json_array_foreach(arr, i, o)
	{
		char id[24], parts[24], rec[32], age[32], bytes[32];
		read_stream(o, "", &v, err, errlen);
		snprintf(id, sizeof(id), "%" PRIu64, v.id);
		snprintf(parts, sizeof(parts), "%" PRIu64, v.partitions);
		sl_ctl_stream_format_bytes(v.max_record, false, rec, sizeof(rec));
		if (v.age_ms == 0)
			snprintf(age, sizeof(age), "forever");
		else
			sl_ctl_stream_format_duration(v.age_ms, age, sizeof(age));
		if (v.bytes == 0)
			snprintf(bytes, sizeof(bytes), "unlimited");
		else
			sl_ctl_stream_format_bytes(v.bytes, false, bytes, sizeof(bytes));
		const char *row[] = {v.name, id, parts, rec, age, bytes};
		for (size_t c = 0; c < 6 && rc == 0; c++)
			rc = sl_ctl_table_add(&t, row[c]);
	}
	if (rc == 0)
		rc = sl_ctl_table_print(f, &t, NULL);
	sl_ctl_table_free(&t);
	return rc;
}

/* The stream's named consumers, one line per (consumer, partition); nothing when there are
 * none (or the daemon is older and sends no list). COMMITTED is "-" where the consumer never
 * committed; LAG is the records after its committed position. */
static int format_consumers(FILE *f, const json_t *cons)
{
	static const char *const head[] = {"CONSUMER", "EPOCH", "PARTITION", "COMMITTED", "LAG"};
	if (!json_is_array(cons) || json_array_size(cons) == 0)
		return 0;
	struct sl_ctl_table t;
	int rc = sl_ctl_table_init(&t, head, 5, 0);
	size_t i, k;
	const json_t *c, *p;
	json_array_foreach(cons, i, c)
	{
		const char *name = json_string_value(json_object_get(c, "name"));
		json_array_foreach(json_object_get(c, "partitions"), k, p)
		{
			if (rc == 0)
				rc = sl_ctl_table_add(&t, name ? name : "?");
			if (rc == 0)
				rc = table_add_u64(&t, p, "epoch");
			if (rc == 0)
				rc = table_add_u64(&t, p, "partition");
			if (rc == 0)
				rc = table_add_u64(&t, p, "committed_offset");
			if (rc == 0)
				rc = table_add_u64(&t, p, "lag");
		}
	}
	if (rc == 0) {
		fputs("consumers:\n", f);
		rc = sl_ctl_table_print(f, &t, NULL);
	}
	sl_ctl_table_free(&t);
	return rc;
}

/* What the stream keeps, over its partitions: the records from each retained start (START) to
 * its durable end, and the segments and object bytes that hold them. Retention moves START. */
static void retained_summary(FILE *f, const json_t *parts)
{
	uint64_t records = 0, segs = 0, bytes = 0;
	size_t i;
	const json_t *p;
	json_array_foreach(parts, i, p)
	{
		json_int_t start = json_integer_value(json_object_get(p, "start_offset"));
		json_int_t durable = json_integer_value(json_object_get(p, "durable_offset"));
		if (durable > start)
			records += (uint64_t)(durable - start);
		segs += (uint64_t)json_integer_value(json_object_get(p, "objects"));
		bytes += (uint64_t)json_integer_value(json_object_get(p, "object_bytes"));
	}
	char rb[SL_CTL_HUMAN_MAX], bb[SL_CTL_HUMAN_MAX];
	fprintf(f,
		"retained: %s durable records from the START offsets, %" PRIu64
		" segment(s), %s in batch objects\n",
		sl_ctl_human_count(records, rb), segs, sl_ctl_human_bytes(bytes, bb));
}

/* "export queue: 3 batches, 0 waiting, consumer epoch 2, last ack 41" (an --export stream). */
static void export_line(FILE *f, const json_t *e)
{
	if (!json_is_object(e))
		return;
	const char *error = json_string_value(json_object_get(e, "error"));
	if (error != NULL) {
		fprintf(f, "export queue: %s\n", error);
		return;
	}
	uint64_t len = member_u64(e, "length"), pending = member_u64(e, "pending");
	fprintf(f,
		"export queue: %" PRIu64 " batch%s, %" PRIu64 " waiting, consumer epoch %" PRIu64,
		len, len == 1 ? "" : "es", pending, member_u64(e, "epoch"));
	const json_t *la = json_object_get(e, "last_ack");
	if (json_is_integer(la))
		fprintf(f, ", last ack %" JSON_INTEGER_FORMAT "\n", json_integer_value(la));
	else
		fprintf(f, ", nothing acknowledged\n");
}

static int format_describe(FILE *f, const json_t *resp, char *err, size_t errlen)
{
	static const char *const head[] = {"PARTITION", "WORKER",  "START",
					   "NEXT",	"DURABLE", "MEM_RECORDS",
					   "MEM_BYTES", "OBJECTS", "OBJECT_BYTES"};
	static const char *const keys[] = {"partition",	   "worker",	     "start_offset",
					   "next_offset",  "durable_offset", "memory_records",
					   "memory_bytes", "objects",	     "object_bytes"};
	struct stream_view v;
	if (read_stream(json_object_get(resp, "stream"), "'stream' object", &v, err, errlen) < 0)
		return SL_ECORRUPT;
	const json_t *parts = json_object_get(resp, "partitions");
	if (!json_is_array(parts)) {
		snprintf(err, errlen, "the daemon's answer has no 'partitions' array");
		return SL_ECORRUPT;
	}
	struct sl_ctl_table t;
	int rc = sl_ctl_table_init(&t, head, 9, 0);
	size_t i;
	const json_t *p;
	json_array_foreach(parts, i, p)
	{
		for (size_t c = 0; c < 9 && rc == 0; c++)
			rc = table_add_u64(&t, p, keys[c]);
	}
	if (rc == 0) {
		char when[40] = "";
		time_t secs = (time_t)(v.created_ms / 1000);
		struct tm tm;
		if (v.created_ms != 0 && gmtime_r(&secs, &tm) != NULL)
			strftime(when, sizeof(when), ", created %Y-%m-%dT%H:%M:%SZ", &tm);
		fputs("stream ", f);
		stream_summary(f, &v);
		fprintf(f, "%s\n", when);
		export_line(f, json_object_get(resp, "export"));
		rc = sl_ctl_table_print(f, &t, NULL);
	}
	sl_ctl_table_free(&t);
	if (rc == 0)
		retained_summary(f, parts);
	if (rc == 0)
		rc = format_consumers(f, json_object_get(resp, "consumers"));
	return rc;
}

int sl_ctl_stream_format(FILE *f, enum sl_ctl_stream_op op, const json_t *resp, char *err,
			 size_t errlen)
{
	struct stream_view v;
	int rc = 0;
	switch (op) {
	case SL_CTL_STREAM_CREATE:
		if (read_stream(json_object_get(resp, "stream"), "'stream' object", &v, err,
				errlen) < 0)
			return SL_ECORRUPT;
		if (json_is_false(json_object_get(resp, "created"))) {
			fprintf(f, "stream %s already exists with the same settings\n", v.name);
		} else {
			fputs("created stream ", f);
			stream_summary(f, &v);
			fputc('\n', f);
		}
		break;
	case SL_CTL_STREAM_LIST:
		rc = format_list(f, resp, err, errlen);
		break;
	case SL_CTL_STREAM_DESCRIBE:
		rc = format_describe(f, resp, err, errlen);
		break;
	case SL_CTL_STREAM_DELETE:
		if (read_stream(json_object_get(resp, "deleted"), "'deleted' object", &v, err,
				errlen) < 0)
			return SL_ECORRUPT;
		fprintf(f, "deleted stream %s\n", v.name);
		break;
	}
	if (rc == SL_EIO || (rc == 0 && (fflush(f) == EOF || ferror(f)))) {
		snprintf(err, errlen, "cannot write output: %s", strerror(errno));
		return SL_EIO;
	}
	if (rc == SL_ENOMEM)
		snprintf(err, errlen, "out of memory");
	return rc;
}

/* ---- main -------------------------------------------------------------------------------- */

int sl_ctl_stream_main(const struct sl_ctl_cli *cli, int argc, char **argv)
{
	struct sl_ctl_stream_args a;
	char err[512];
	if (sl_ctl_stream_parse(argc, argv, &a, err, sizeof(err)) < 0) {
		/* The synopsis of the operation that was meant, when it is known, is shorter and
		 * more to the point than all four. */
		int k = op_index(argc > 1 ? argv[1] : NULL);
		fprintf(stderr, "%s: stream: %s\nUsage: %s stream %s\nSee %s stream --help.\n",
			cli->prog, err, cli->prog, k >= 0 ? op_usage[k] : SL_CTL_STREAM_USAGE,
			cli->prog);
		return SL_CTL_EXIT_USAGE;
	}
	json_t *req = sl_ctl_stream_request(&a);
	if (req == NULL) {
		fprintf(stderr, "%s: out of memory\n", cli->prog);
		return SL_CTL_EXIT_FAIL;
	}
	json_t *resp;
	int rc = sl_ctl_cli_call(cli, req, &resp);
	json_decref(req);
	if (rc != SL_CTL_EXIT_OK)
		return rc;
	json_object_del(resp, "ok");
	/* --pretty means indented JSON, as it does for status and config. */
	if (a.json || cli->pretty) {
		rc = sl_ctl_cli_print(cli, resp);
	} else if (sl_ctl_stream_format(stdout, a.op, resp, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: stream %s: %s\n", cli->prog, op_names[a.op], err);
		rc = SL_CTL_EXIT_FAIL;
	}
	json_decref(resp);
	return rc;
}
