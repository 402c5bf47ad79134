/* SPDX-License-Identifier: Apache-2.0 */
#include "control/streams.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control/config.h"
#include "core/clock.h"
#include "core/err.h"

#define NS_PER_MS UINT64_C(1000000)

/* The file keeps every integer as a JSON integer, which jansson holds in a signed 64-bit
 * json_int_t; ids stay below this so that next_id is always representable. */
#define MAX_ID ((uint64_t)INT64_MAX)

struct sl_catalog {
	char *path;		    /* DATA_DIR/streams.json */
	char *tmp_path;		    /* DATA_DIR/streams.json.tmp */
	char *dir;		    /* DATA_DIR, fsynced after each rename */
	struct sl_stream_def *defs; /* sorted by name; exactly count entries */
	uint32_t count;
	uint64_t next_id;
	uint64_t version;
};

/* ---- validation ------------------------------------------------------------------------- */

static const char name_rule[] =
	"use 1 to 249 characters from A-Z a-z 0-9 . _ -, other than '.' and '..'";

int sl_catalog_format_duration(uint64_t ns, char *out, size_t size)
{
	/* Retention is naturally said in days, a unit the settings' formatter does not have. */
	const uint64_t day = UINT64_C(86400) * 1000000000;
	if (ns != 0 && ns % day == 0)
		return snprintf(out, size, "%" PRIu64 "d", ns / day);
	return sl_config_format_duration(ns, out, size);
}

static void fmt_dur(uint64_t ns, char *out, size_t size)
{
	sl_catalog_format_duration(ns, out, size);
}

static void fmt_bytes(uint64_t n, char *out, size_t size)
{
	sl_config_format_bytes(n, out, size);
}

/* The message for a name that sl_stream_name_valid refuses. Long names are cut so the rule
 * itself always fits in err. */
static void name_error(const char *name, size_t n, char *err, size_t errlen)
{
	if (n > 64)
		snprintf(err, errlen, "stream name '%.32s...' (%zu bytes) is not valid: %s", name,
			 n, name_rule);
	else
		snprintf(err, errlen, "stream name '%.*s' is not valid: %s", (int)n, name,
			 name_rule);
}

static int partitions_error(uint64_t got, bool negative, char *err, size_t errlen)
{
	snprintf(err, errlen, "partitions must be from 1 to %u (got %s%" PRIu64 ")",
		 SL_STREAM_MAX_PARTITIONS, negative ? "-" : "", got);
	return SL_EINVAL;
}

static int max_record_error(uint64_t got, bool negative, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "max_record_bytes must be from 1 to %u (16MiB), or 0 for the default %u "
		 "(1MiB) (got %s%" PRIu64 ")",
		 SL_STREAM_MAX_RECORD_BYTES, SL_CATALOG_DEFAULT_MAX_RECORD_BYTES,
		 negative ? "-" : "", got);
	return SL_EINVAL;
}

static int retention_age_error(const char *what, char *err, size_t errlen)
{
	char lo[32], hi[32];
	fmt_dur(SL_CATALOG_MIN_RETENTION_AGE_NS, lo, sizeof(lo));
	fmt_dur(SL_CATALOG_MAX_RETENTION_AGE_NS, hi, sizeof(hi));
	snprintf(err, errlen,
		 "retention_age must be 0 (keep forever) or a whole number of milliseconds from "
		 "%s to %s (got %s)",
		 lo, hi, what);
	return SL_EINVAL;
}

static int retention_bytes_error(const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "retention_bytes must be 0 (no limit) or from 1MiB (%" PRIu64 ") to 1EiB (%" PRIu64
		 ") per partition (got %s)",
		 SL_CATALOG_MIN_RETENTION_BYTES, SL_CATALOG_MAX_RETENTION_BYTES, what);
	return SL_EINVAL;
}

/* ---- export settings (separate, so the retention fields merge apart from them) ---- */

static int export_age_error(const char *what, char *err, size_t errlen)
{
	char lo[32], hi[32];
	fmt_dur(SL_CATALOG_MIN_RETENTION_AGE_NS, lo, sizeof(lo));
	fmt_dur(SL_CATALOG_MAX_RETENTION_AGE_NS, hi, sizeof(hi));
	snprintf(err, errlen,
		 "export_max_age must be 0 (keep until acknowledged) or a whole number of "
		 "milliseconds from %s to %s (got %s)",
		 lo, hi, what);
	return SL_EINVAL;
}

static int export_validate(const struct sl_stream_def *want, char *err, size_t errlen)
{
	uint64_t age = want->export_max_age_ns;
	if (age != 0 && !want->export_enabled) {
		snprintf(err, errlen, "export_max_age needs export (--export)");
		return SL_EINVAL;
	}
	if (age != 0 && (age < SL_CATALOG_MIN_RETENTION_AGE_NS ||
			 age > SL_CATALOG_MAX_RETENTION_AGE_NS || age % NS_PER_MS != 0)) {
		char got[32];
		fmt_dur(age, got, sizeof(got));
		return export_age_error(got, err, errlen);
	}
	return 0;
}

/* Optional members "export" (boolean) and "export_max_age_ms" (integer): absent in files
 * written before export existed, which therefore read as streams without export. */
static int export_from_json(const json_t *o, struct sl_stream_def *d, char *err, size_t errlen)
{
	const json_t *e = json_object_get(o, "export");
	if (e != NULL && !json_is_boolean(e)) {
		snprintf(err, errlen, "export must be true or false");
		return SL_EINVAL;
	}
	d->export_enabled = e != NULL && json_is_true(e);
	const json_t *a = json_object_get(o, "export_max_age_ms");
	if (a == NULL)
		return 0;
	if (!json_is_integer(a)) {
		snprintf(err, errlen, "export_max_age_ms must be an integer");
		return SL_EINVAL;
	}
	json_int_t ms = json_integer_value(a);
	if (ms < 0 || (uint64_t)ms > SL_CATALOG_MAX_RETENTION_AGE_NS / NS_PER_MS) {
		char got[48];
		snprintf(got, sizeof(got), "%" PRId64 "ms", (int64_t)ms);
		return export_age_error(got, err, errlen);
	}
	d->export_max_age_ns = (uint64_t)ms * NS_PER_MS;
	return 0;
}

static void export_diff(const struct sl_stream_def *e, const struct sl_stream_def *d, char *diff,
			size_t size);

int sl_catalog_validate(const struct sl_stream_def *want, char *err, size_t errlen)
{
	size_t n = strnlen(want->name, sizeof(want->name));
	if (!sl_stream_name_valid(want->name, n)) {
		name_error(want->name, n, err, errlen);
		return SL_EINVAL;
	}
	if (want->partitions < 1 || want->partitions > SL_STREAM_MAX_PARTITIONS)
		return partitions_error(want->partitions, false, err, errlen);
	if (want->max_record_bytes > SL_STREAM_MAX_RECORD_BYTES)
		return max_record_error(want->max_record_bytes, false, err, errlen);
	uint64_t age = want->retention_age_ns;
	if (age != 0 && (age < SL_CATALOG_MIN_RETENTION_AGE_NS ||
			 age > SL_CATALOG_MAX_RETENTION_AGE_NS || age % NS_PER_MS != 0)) {
		char got[32];
		fmt_dur(age, got, sizeof(got));
		return retention_age_error(got, err, errlen);
	}
	uint64_t rb = want->retention_bytes;
	if (rb != 0 &&
	    (rb < SL_CATALOG_MIN_RETENTION_BYTES || rb > SL_CATALOG_MAX_RETENTION_BYTES)) {
		char got[32];
		fmt_bytes(rb, got, sizeof(got));
		return retention_bytes_error(got, err, errlen);
	}
	return export_validate(want, err, errlen);
}

/* ---- JSON form ----------------------------------------------------------------------------- */

json_t *sl_stream_def_json(const struct sl_stream_def *d)
{
	json_t *o = json_pack("{sI ss sI sI sI sI sI}", "id", (json_int_t)d->id, "name", d->name,
			      "partitions", (json_int_t)d->partitions, "max_record_bytes",
			      (json_int_t)d->max_record_bytes, "retention_age_ms",
			      (json_int_t)(d->retention_age_ns / NS_PER_MS), "retention_bytes",
			      (json_int_t)d->retention_bytes, "created_ms",
			      (json_int_t)(d->created_wall_ns / NS_PER_MS));
	if (o != NULL &&
	    (json_object_set_new(o, "export", json_boolean(d->export_enabled)) != 0 ||
	     json_object_set_new(o, "export_max_age_ms",
				 json_integer((json_int_t)(d->export_max_age_ns / NS_PER_MS))) !=
		     0)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/*
 * Reads the non-negative integer member key of o into *v. Returns 0; SL_ENOTFOUND when it is
 * absent; SL_EINVAL when it is not an integer; SL_ERANGE when it is negative (*v then holds
 * its magnitude, for the message).
 */
static int get_uint(const json_t *o, const char *key, uint64_t *v)
{
	const json_t *j = json_object_get(o, key);
	if (j == NULL)
		return SL_ENOTFOUND;
	if (!json_is_integer(j))
		return SL_EINVAL;
	json_int_t x = json_integer_value(j);
	if (x < 0) {
		*v = x == INT64_MIN ? (uint64_t)INT64_MAX + 1 : (uint64_t)-x;
		return SL_ERANGE;
	}
	*v = (uint64_t)x;
	return 0;
}

/* Converts a stream object (from the file or a request) into *d, checking each member's type
 * and range. Members absent from o are required when required is true, else 0. err names the
 * member; the caller prefixes where the object came from. */
static int def_from_json(const json_t *o, bool required, struct sl_stream_def *d, char *err,
			 size_t errlen)
{
	memset(d, 0, sizeof(*d));
	const json_t *name = json_object_get(o, "name");
	if (name == NULL) {
		snprintf(err, errlen, "missing field 'name'");
		return SL_EINVAL;
	}
	if (!json_is_string(name)) {
		snprintf(err, errlen, "name must be a string");
		return SL_EINVAL;
	}
	const char *s = json_string_value(name);
	size_t n = json_string_length(name);
	/* A name with an embedded NUL would be cut short by the copy below; it is refused as
	 * invalid like any other forbidden character. */
	if (strlen(s) != n || !sl_stream_name_valid(s, n)) {
		name_error(s, strlen(s), err, errlen);
		return SL_EINVAL;
	}
	memcpy(d->name, s, n + 1);

	static const char *const keys[] = {"partitions", "max_record_bytes", "retention_age_ms",
					   "retention_bytes"};
	uint64_t v[4] = {0};
	for (int i = 0; i < 4; i++) {
		int rc = get_uint(o, keys[i], &v[i]);
		if (rc == SL_ENOTFOUND && (i == 0 || required)) {
			snprintf(err, errlen, "missing field '%s'", keys[i]);
			return SL_EINVAL;
		}
		if (rc == SL_ENOTFOUND) {
			v[i] = 0;
			continue;
		}
		if (rc == SL_EINVAL) {
			snprintf(err, errlen, "%s must be an integer", keys[i]);
			return SL_EINVAL;
		}
		bool neg = rc == SL_ERANGE;
		char got[48];
		snprintf(got, sizeof(got), "%s%" PRIu64 "%s", neg ? "-" : "", v[i],
			 i == 2 ? "ms" : "");
		/* Values that do not fit the definition's fields are refused here with the same
		 * message sl_catalog_validate gives for values that fit but are out of range. */
		switch (i) {
		case 0:
			if (neg || v[i] > SL_STREAM_MAX_PARTITIONS)
				return partitions_error(v[i], neg, err, errlen);
			break;
		case 1:
			if (neg || v[i] > SL_STREAM_MAX_RECORD_BYTES)
				return max_record_error(v[i], neg, err, errlen);
			break;
		case 2:
			if (neg || v[i] > SL_CATALOG_MAX_RETENTION_AGE_NS / NS_PER_MS)
				return retention_age_error(got, err, errlen);
			break;
		default:
			if (neg || v[i] > SL_CATALOG_MAX_RETENTION_BYTES)
				return retention_bytes_error(got, err, errlen);
			break;
		}
	}
	d->partitions = (uint32_t)v[0];
	d->max_record_bytes = (uint32_t)v[1];
	d->retention_age_ns = v[2] * NS_PER_MS;
	d->retention_bytes = v[3];
	int erc = export_from_json(o, d, err, errlen);
	if (erc != 0)
		return erc;
	return sl_catalog_validate(d, err, errlen);
}

int sl_catalog_admin_create_args(const json_t *req, struct sl_stream_def *want, char *err,
				 size_t errlen)
{
	if (!json_is_object(req)) {
		snprintf(err, errlen, "the request is not a JSON object");
		return SL_EINVAL;
	}
	return def_from_json(req, false, want, err, errlen);
}

/* ---- the file ----------------------------------------------------------------------------- */

static json_t *catalog_json(const struct sl_stream_def *defs, uint32_t count, uint64_t next_id)
{
	json_t *arr = json_array();
	json_t *root = json_pack("{sI sI so}", "version", (json_int_t)SL_CATALOG_FORMAT_VERSION,
				 "next_id", (json_int_t)next_id, "streams", arr);
	if (root == NULL)
		return NULL; /* json_pack's "o" consumed arr even on failure */
	for (uint32_t i = 0; i < count; i++) {
		if (json_array_append_new(arr, sl_stream_def_json(&defs[i])) < 0) {
			json_decref(root);
			return NULL;
		}
	}
	return root;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Writes the given state to c's file durably: tmp file, fsync, rename, fsync of the directory.
 * The catalogue in memory is not touched, so a caller commits its change only after this
 * succeeded. Errors: SL_ENOMEM, SL_EIO (err: step, path, strerror).
 */
static int catalog_write(const struct sl_catalog *c, const struct sl_stream_def *defs,
			 uint32_t count, uint64_t next_id, char *err, size_t errlen)
{
	json_t *root = catalog_json(defs, count, next_id);
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory writing %s", c->path);
		return SL_ENOMEM;
	}
	int rc = SL_EIO;
	const char *step = "cannot create";
	const char *what = c->tmp_path;
	int e = 0;
	int fd = open(c->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		e = errno;
		goto out;
	}
	size_t len = strlen(text);
	/* The file ends with a newline, written over the NUL that json_dumps allocated; text is
	 * not used as a C string after this. */
	text[len] = '\n';
	if (write_all(fd, text, len + 1) < 0) {
		e = errno;
		step = "cannot write";
	} else if (fsync(fd) < 0) {
		e = errno;
		step = "cannot fsync";
	}
	if (close(fd) < 0 && e == 0) {
		e = errno;
		step = "cannot close";
	}
	if (e != 0) {
		unlink(c->tmp_path);
		goto out;
	}
	if (rename(c->tmp_path, c->path) < 0) {
		e = errno;
		step = "cannot rename into place";
		unlink(c->tmp_path);
		goto out;
	}
	/* The rename is only durable once the directory entry is: without this fsync a crash
	 * could bring back the previous catalogue after a create was acknowledged. */
	what = c->dir;
	int dfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		e = errno;
		step = "cannot fsync the directory (the change may not survive a crash)";
		if (dfd >= 0)
			close(dfd);
		goto out;
	}
	close(dfd);
	rc = 0;
out:
	if (rc < 0)
		snprintf(err, errlen, "%s %s: %s", step, what, strerror(e));
	free(text);
	return rc;
}

static int def_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sl_stream_def *)a)->name,
		      ((const struct sl_stream_def *)b)->name);
}

/* Reads the whole file into a NUL-terminated buffer. Returns 0, SL_ENOTFOUND (no such file),
 * SL_EIO (err filled), SL_ENOMEM. */
static int read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return SL_ENOTFOUND;
		snprintf(err, errlen, "cannot open stream catalogue %s: %s", path, strerror(errno));
		return SL_EIO;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (buf == NULL) {
			close(fd);
			snprintf(err, errlen, "out of memory reading %s", path);
			return SL_ENOMEM;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(buf);
			close(fd);
			snprintf(err, errlen, "cannot read stream catalogue %s: %s", path,
				 strerror(e));
			return SL_EIO;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap) {
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (nb == NULL)
				free(buf);
			buf = nb;
		}
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Checks the parsed file and fills c. err gets what is wrong, without the path (the caller
 * adds it). Returns 0, SL_ECORRUPT or SL_ENOMEM. */
static int catalog_load(struct sl_catalog *c, const json_t *root, char *err, size_t errlen)
{
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the top level is not a JSON object");
		return SL_ECORRUPT;
	}
	uint64_t version, next_id;
	int rc = get_uint(root, "version", &version);
	if (rc < 0 || version != SL_CATALOG_FORMAT_VERSION) {
		snprintf(err, errlen, "%s: expected \"version\": %d",
			 rc == SL_ENOTFOUND ? "no format version" : "unknown format version",
			 SL_CATALOG_FORMAT_VERSION);
		return SL_ECORRUPT;
	}
	rc = get_uint(root, "next_id", &next_id);
	if (rc < 0 || next_id < 1) {
		snprintf(err, errlen, "\"next_id\" must be an integer of at least 1");
		return SL_ECORRUPT;
	}
	const json_t *arr = json_object_get(root, "streams");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "\"streams\" must be an array");
		return SL_ECORRUPT;
	}
	size_t n = json_array_size(arr);
	if (n > UINT32_MAX) {
		snprintf(err, errlen, "too many streams (%zu)", n);
		return SL_ECORRUPT;
	}
	struct sl_stream_def *defs = n ? calloc(n, sizeof(*defs)) : NULL;
	if (n && defs == NULL) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	char why[384];
	for (size_t i = 0; i < n; i++) {
		const json_t *o = json_array_get(arr, i);
		struct sl_stream_def *d = &defs[i];
		uint64_t id, created_ms;
		if (!json_is_object(o)) {
			snprintf(err, errlen, "streams[%zu] is not an object", i);
			goto corrupt;
		}
		if (def_from_json(o, true, d, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "streams[%zu]: %s", i, why);
			goto corrupt;
		}
		if (get_uint(o, "id", &id) < 0 || id < 1 || id >= next_id) {
			snprintf(err, errlen,
				 "streams[%zu] (%s): \"id\" must be an integer from 1 to next_id - "
				 "1 (%" PRIu64 ")",
				 i, d->name, next_id - 1);
			goto corrupt;
		}
		if (get_uint(o, "created_ms", &created_ms) < 0 ||
		    created_ms > UINT64_MAX / NS_PER_MS) {
			snprintf(err, errlen,
				 "streams[%zu] (%s): \"created_ms\" must be a non-negative integer",
				 i, d->name);
			goto corrupt;
		}
		/* Zero would mean "the default" at creation; in the file the default has been
		 * applied, so a zero here means the file was edited by hand or damaged. */
		if (d->max_record_bytes == 0) {
			max_record_error(0, false, why, sizeof(why));
			snprintf(err, errlen, "streams[%zu] (%s): %s", i, d->name, why);
			goto corrupt;
		}
		d->id = id;
		d->created_wall_ns = created_ms * NS_PER_MS;
	}
	if (n > 1)
		qsort(defs, n, sizeof(*defs), def_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(defs[i - 1].name, defs[i].name) == 0) {
			snprintf(err, errlen, "stream %s is listed twice", defs[i].name);
			goto corrupt;
		}
		for (size_t k = 0; k < i; k++) {
			if (defs[k].id == defs[i].id) {
				snprintf(err, errlen, "streams %s and %s share id %" PRIu64,
					 defs[k].name, defs[i].name, defs[i].id);
				goto corrupt;
			}
		}
	}
	c->defs = defs;
	c->count = (uint32_t)n;
	c->next_id = next_id;
	return 0;
corrupt:
	free(defs);
	return SL_ECORRUPT;
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int sl_catalog_open(const char *path, struct sl_catalog **out, char *err, size_t errlen)
{
	*out = NULL;
	if (path == NULL || path[0] == '\0') {
		snprintf(err, errlen, "the stream catalogue path is empty");
		return SL_EINVAL;
	}
	struct sl_catalog *c = calloc(1, sizeof(*c));
	if (c == NULL)
		goto nomem;
	c->path = strdup(path);
	c->dir = dir_of(path);
	if (c->path == NULL || c->dir == NULL || asprintf(&c->tmp_path, "%s.tmp", path) < 0) {
		c->tmp_path = NULL;
		goto nomem;
	}
	c->next_id = 1;
	c->version = 1;
	char *text = NULL;
	size_t len = 0;
	int rc = read_file(path, &text, &len, err, errlen);
	if (rc == SL_ENOTFOUND) {
		*out = c;
		return 0;
	}
	if (rc < 0) {
		sl_catalog_free(c);
		return rc;
	}
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (root == NULL) {
		snprintf(err, errlen,
			 "stream catalogue %s is not valid JSON: line %d column %d: %s", path,
			 jerr.line, jerr.column, jerr.text);
		sl_catalog_free(c);
		return SL_ECORRUPT;
	}
	char why[1024];
	rc = catalog_load(c, root, why, sizeof(why));
	json_decref(root);
	if (rc < 0) {
		snprintf(err, errlen, "stream catalogue %s: %s", path, why);
		sl_catalog_free(c);
		return rc;
	}
	*out = c;
	return 0;
nomem:
	snprintf(err, errlen, "out of memory opening %s", path);
	sl_catalog_free(c);
	return SL_ENOMEM;
}

void sl_catalog_free(struct sl_catalog *c)
{
	if (c == NULL)
		return;
	free(c->path);
	free(c->tmp_path);
	free(c->dir);
	free(c->defs);
	free(c);
}

/* ---- queries ----------------------------------------------------------------------------- */

/* The index of name in c->defs, or -(insertion point) - 1 when absent. */
static int64_t catalog_search(const struct sl_catalog *c, const char *name)
{
	uint32_t lo = 0, hi = c->count;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int r = strcmp(name, c->defs[mid].name);
		if (r == 0)
			return mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(int64_t)lo - 1;
}

const struct sl_stream_def *sl_catalog_find(const struct sl_catalog *c, const char *name)
{
	if (name == NULL)
		return NULL;
	int64_t i = catalog_search(c, name);
	return i >= 0 ? &c->defs[i] : NULL;
}

uint32_t sl_catalog_count(const struct sl_catalog *c)
{
	return c->count;
}

const struct sl_stream_def *sl_catalog_at(const struct sl_catalog *c, uint32_t i)
{
	return i < c->count ? &c->defs[i] : NULL;
}

uint64_t sl_catalog_version(const struct sl_catalog *c)
{
	return c->version;
}

const char *sl_catalog_path(const struct sl_catalog *c)
{
	return c->path;
}

struct sl_stream_set *sl_catalog_snapshot(const struct sl_catalog *c)
{
	return sl_stream_set_new(c->defs, c->count, c->version);
}

/* ---- changes ----------------------------------------------------------------------------- */

/* Appends "; " (after the first) and one "SETTING HAVE, not WANT" clause to msg. */
static void add_diff(char *msg, size_t size, const char *setting, const char *have,
		     const char *want)
{
	size_t used = strlen(msg);
	if (used >= size - 1)
		return;
	snprintf(msg + used, size - used, "%s%s %s, not %s", used ? "; " : "", setting, have, want);
}

static void fmt_age(uint64_t ns, char *out, size_t size)
{
	if (ns == 0)
		snprintf(out, size, "0 (forever)");
	else
		fmt_dur(ns, out, size);
}

static void fmt_limit(uint64_t n, char *out, size_t size)
{
	if (n == 0)
		snprintf(out, size, "0 (no limit)");
	else
		fmt_bytes(n, out, size);
}

static void export_diff(const struct sl_stream_def *e, const struct sl_stream_def *d, char *diff,
			size_t size)
{
	char have[32], wnt[32];
	if (e->export_enabled != d->export_enabled)
		add_diff(diff, size, "export", e->export_enabled ? "on" : "off",
			 d->export_enabled ? "on" : "off");
	if (e->export_max_age_ns != d->export_max_age_ns) {
		fmt_age(e->export_max_age_ns, have, sizeof(have));
		fmt_age(d->export_max_age_ns, wnt, sizeof(wnt));
		add_diff(diff, size, "export_max_age", have, wnt);
	}
}

int sl_catalog_create(struct sl_catalog *c, const struct sl_stream_def *want,
		      const struct sl_stream_def **out, bool *created, char *err, size_t errlen)
{
	int rc = sl_catalog_validate(want, err, errlen);
	if (rc < 0)
		return rc;
	struct sl_stream_def d = *want;
	d.id = 0;
	d.created_wall_ns = 0;
	if (d.max_record_bytes == 0)
		d.max_record_bytes = SL_CATALOG_DEFAULT_MAX_RECORD_BYTES;

	int64_t at = catalog_search(c, d.name);
	if (at >= 0) {
		const struct sl_stream_def *e = &c->defs[at];
		char diff[512] = "", have[32], wnt[32];
		if (e->partitions != d.partitions) {
			snprintf(have, sizeof(have), "%u", e->partitions);
			snprintf(wnt, sizeof(wnt), "%u", d.partitions);
			add_diff(diff, sizeof(diff), "partitions", have, wnt);
		}
		if (e->max_record_bytes != d.max_record_bytes) {
			fmt_bytes(e->max_record_bytes, have, sizeof(have));
			fmt_bytes(d.max_record_bytes, wnt, sizeof(wnt));
			add_diff(diff, sizeof(diff), "max_record_bytes", have, wnt);
		}
		if (e->retention_age_ns != d.retention_age_ns) {
			fmt_age(e->retention_age_ns, have, sizeof(have));
			fmt_age(d.retention_age_ns, wnt, sizeof(wnt));
			add_diff(diff, sizeof(diff), "retention_age", have, wnt);
		}
		if (e->retention_bytes != d.retention_bytes) {
			fmt_limit(e->retention_bytes, have, sizeof(have));
			fmt_limit(d.retention_bytes, wnt, sizeof(wnt));
			add_diff(diff, sizeof(diff), "retention_bytes", have, wnt);
		}
		export_diff(e, &d, diff, sizeof(diff));
		if (diff[0] != '\0') {
			snprintf(
				err, errlen,
				"stream %s exists with %s (delete it first to change its settings)",
				d.name, diff);
			return SL_EDUP;
		}
		if (out)
			*out = e;
		if (created)
			*created = false;
		return 0;
	}

	if (c->next_id >= MAX_ID) {
		snprintf(err, errlen, "stream ids are exhausted (next_id %" PRIu64 ")", c->next_id);
		return SL_EBOUNDS;
	}
	if (c->count == UINT32_MAX) {
		snprintf(err, errlen, "too many streams");
		return SL_EBOUNDS;
	}
	d.id = c->next_id;
	/* The file keeps milliseconds; truncating here makes the definition in memory equal to
	 * the one read back after a restart. */
	d.created_wall_ns = sl_clock_wall_ns() / NS_PER_MS * NS_PER_MS;

	uint32_t pos = (uint32_t)(-at - 1);
	struct sl_stream_def *defs = malloc(((size_t)c->count + 1) * sizeof(*defs));
	if (defs == NULL) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	/* An empty catalogue has no array yet: memcpy must not see its NULL. */
	if (pos > 0)
		memcpy(defs, c->defs, (size_t)pos * sizeof(*defs));
	defs[pos] = d;
	if (c->count > pos)
		memcpy(defs + pos + 1, c->defs + pos, (size_t)(c->count - pos) * sizeof(*defs));
	rc = catalog_write(c, defs, c->count + 1, c->next_id + 1, err, errlen);
	if (rc < 0) {
		free(defs);
		return rc;
	}
	free(c->defs);
	c->defs = defs;
	c->count++;
	c->next_id++;
	c->version++;
	if (out)
		*out = &defs[pos];
	if (created)
		*created = true;
	return 0;
}

int sl_catalog_delete(struct sl_catalog *c, const char *name, struct sl_stream_def *deleted,
		      char *err, size_t errlen)
{
	int64_t at = name ? catalog_search(c, name) : -1;
	if (at < 0) {
		snprintf(err, errlen, "no stream named %s", name ? name : "(null)");
		return SL_ENOTFOUND;
	}
	uint32_t pos = (uint32_t)at;
	uint32_t n = c->count - 1;
	/* A catalogue that becomes empty still gets an allocation, so that a failed malloc is
	 * told apart from an empty result. */
	struct sl_stream_def *defs = malloc(((size_t)n + 1) * sizeof(*defs));
	if (defs == NULL) {
		snprintf(err, errlen, "out of memory");
		return SL_ENOMEM;
	}
	memcpy(defs, c->defs, (size_t)pos * sizeof(*defs));
	memcpy(defs + pos, c->defs + pos + 1, (size_t)(n - pos) * sizeof(*defs));
	int rc = catalog_write(c, defs, n, c->next_id, err, errlen);
	if (rc < 0) {
		free(defs);
		return rc;
	}
	if (deleted)
		*deleted = c->defs[pos];
	free(c->defs);
	c->defs = defs;
	c->count = n;
	c->version++;
	return 0;
}
