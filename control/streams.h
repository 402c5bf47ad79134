/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_STREAMS_H
#define SL_CONTROL_STREAMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log/streamset.h"

/*
 * The catalogue of durable streams: which streams exist, with their partitions, record size
 * limit and retention. The control core owns it; the data plane sees immutable snapshots of it
 * (struct sl_stream_set, log/streamset.h) that the daemon sends to every worker after each
 * change.
 *
 * It is kept in one file, DATA_DIR/streams.json, rewritten whole on every change:
 *
 *   {"version": 1,
 *    "next_id": 4,
 *    "streams": [
 *      {"id": 3, "name": "orders", "partitions": 8, "max_record_bytes": 1048576,
 *       "retention_age_ms": 604800000, "retention_bytes": 0, "created_ms": 1718000000000,
 *       "export": false, "export_max_age_ms": 0}]}
 *
 * "version" is the format (1). "next_id" is the id the next created stream gets; ids start at 1
 * and are never reused, even after a delete, because segments in the metadata log name streams
 * by id and an old segment must never be mistaken for a new stream's. Every stream member is
 * required: retention_age_ms 0 keeps records forever, retention_bytes 0 (per partition) sets no
 * byte limit, created_ms is the wall-clock creation time in milliseconds since the Unix epoch.
 * export (boolean) and export_max_age_ms are optional, false and 0 when absent (files written
 * before them). Streams are written sorted by name. Unknown members are ignored, so a later
 * minor addition does not make an older daemon refuse the file.
 *
 * A change is durable before it is reported: the new content is written to
 * DATA_DIR/streams.json.tmp, fsynced, renamed over streams.json, and the directory is fsynced.
 * A crash therefore leaves either the old or the new file, never a torn one (a leftover .tmp
 * is ignored and overwritten by the next change).
 *
 * Pointers returned by sl_catalog_find, sl_catalog_at and sl_catalog_create point into the
 * catalogue and stay valid only until the next successful sl_catalog_create (one that
 * created), sl_catalog_delete or sl_catalog_free. Not thread-safe: the control core alone
 * calls these functions.
 */
struct sl_catalog;

#define SL_CATALOG_FORMAT_VERSION 1
/* What max_record_bytes 0 means at creation. */
#define SL_CATALOG_DEFAULT_MAX_RECORD_BYTES (1u << 20)
/* A retention age, when set, is at least this long: a shorter one would delete records before
 * most consumers could read them, which is almost certainly a unit mistake (ms for s). */
#define SL_CATALOG_MIN_RETENTION_AGE_NS UINT64_C(1000000000)
/* 100 years of 365 days; past that, 0 (forever) says what is meant. */
#define SL_CATALOG_MAX_RETENTION_AGE_NS (UINT64_C(36500) * 86400 * 1000000000)
/* A byte limit, when set, is at least 1 MiB per partition, for the same reason as the age. */
#define SL_CATALOG_MIN_RETENTION_BYTES (UINT64_C(1) << 20)
/* 1 EiB: far beyond any disk, and below 2^63 so the value is a JSON integer everywhere. */
#define SL_CATALOG_MAX_RETENTION_BYTES (UINT64_C(1) << 60)

/*
 * Opens the catalogue kept at path (DATA_DIR/streams.json). A missing file is an empty
 * catalogue (next id 1); nothing is written until the first change. The version starts at 1.
 * Errors, with err naming the file and the problem: SL_EIO (the file exists but cannot be
 * read, e.g. permission denied or a directory), SL_ECORRUPT (not JSON, truncated, or a member
 * missing, of the wrong type or out of range, a duplicate name or id, an id not below
 * next_id, an unknown format version), SL_EINVAL (path NULL or empty), SL_ENOMEM. A daemon
 * must refuse to start on any of these rather than run with streams forgotten.
 */
int sl_catalog_open(const char *path, struct sl_catalog **out, char *err, size_t errlen);

/* Frees the catalogue (the file is left as it is). NULL is a no-op. */
void sl_catalog_free(struct sl_catalog *c);

/*
 * Checks a definition as sl_catalog_create would (the id and creation time are ignored):
 * name valid (sl_stream_name_valid), partitions 1..SL_STREAM_MAX_PARTITIONS, max_record_bytes
 * 0 (the default) or 1..SL_STREAM_MAX_RECORD_BYTES, retention_age_ns 0 or a whole number of
 * milliseconds from SL_CATALOG_MIN_RETENTION_AGE_NS to SL_CATALOG_MAX_RETENTION_AGE_NS,
 * retention_bytes 0 or SL_CATALOG_MIN_RETENTION_BYTES..SL_CATALOG_MAX_RETENTION_BYTES.
 * Returns 0, or SL_EINVAL with err naming the field, the allowed range and the value given.
 */
int sl_catalog_validate(const struct sl_stream_def *want, char *err, size_t errlen);

/*
 * Creates the stream described by want (name, partitions, max_record_bytes, retention_age_ns,
 * retention_bytes; its id and created_wall_ns are ignored). The stream gets the next id and
 * the current CLOCK_REALTIME time, truncated to milliseconds as the file keeps it; a
 * max_record_bytes of 0 becomes SL_CATALOG_DEFAULT_MAX_RECORD_BYTES. The file is updated
 * durably before 0 is returned, with *created = true and *out pointing at the new definition.
 *
 * Creating a stream that exists with the same settings (after the default is applied) changes
 * nothing and returns 0 with *created = false and *out pointing at the existing definition, so
 * a deployment script may create its streams on every run.
 *
 * Errors: SL_EINVAL (see sl_catalog_validate), SL_EDUP (a stream of that name exists with
 * other settings; err says which, e.g. "stream orders exists with partitions 4, not 8"),
 * SL_EBOUNDS (ids exhausted), SL_EIO (the file could not be written; err has the step, the
 * path and the system's reason), SL_ENOMEM. On any error the catalogue is unchanged, and out
 * and created are untouched; out and created may be NULL.
 */
int sl_catalog_create(struct sl_catalog *c, const struct sl_stream_def *want,
		      const struct sl_stream_def **out, bool *created, char *err, size_t errlen);

/*
 * Deletes the stream called name, durably as sl_catalog_create does, and copies its definition
 * into *deleted (which may be NULL). Its id is not reused. Errors: SL_ENOTFOUND (err: "no stream
 * named NAME"), SL_EIO, SL_ENOMEM; on error the catalogue is unchanged.
 */
int sl_catalog_delete(struct sl_catalog *c, const char *name, struct sl_stream_def *deleted,
		      char *err, size_t errlen);

/* The stream called name, or NULL. */
const struct sl_stream_def *sl_catalog_find(const struct sl_catalog *c, const char *name);

/* The number of streams. */
uint32_t sl_catalog_count(const struct sl_catalog *c);

/* The i-th stream in name (strcmp) order, or NULL when i >= sl_catalog_count(c). */
const struct sl_stream_def *sl_catalog_at(const struct sl_catalog *c, uint32_t i);

/* 1 after sl_catalog_open, incremented by every change (an idempotent create is none). */
uint64_t sl_catalog_version(const struct sl_catalog *c);

/* The file the catalogue is kept in. */
const char *sl_catalog_path(const struct sl_catalog *c);

/*
 * A new stream set (one reference, see log/streamset.h) holding the current definitions, with
 * set->version = sl_catalog_version(c). Returns NULL on allocation failure.
 */
struct sl_stream_set *sl_catalog_snapshot(const struct sl_catalog *c);

/*
 * Writes a duration in its largest exact unit, days included ("7d", "36h", "1500ms", "0s"), as
 * the catalogue's messages and shardctl show retention ages. Returns as snprintf.
 */
int sl_catalog_format_duration(uint64_t ns, char *out, size_t size);

/*
 * The JSON form of a definition, used by the file and by the admin socket's responses:
 * {"id","name","partitions","max_record_bytes","retention_age_ms","retention_bytes",
 * "created_ms"}, durations in milliseconds (truncated). Returns a new reference, or NULL on
 * allocation failure.
 */
json_t *sl_stream_def_json(const struct sl_stream_def *d);

/*
 * Turns an admin `stream create` request into a definition for sl_catalog_create:
 *
 *   {"cmd":"stream","op":"create","name":"orders","partitions":8,
 *    "max_record_bytes":1048576,"retention_age_ms":0,"retention_bytes":0}
 *
 * "name" (string) and "partitions" (integer) are required; "max_record_bytes",
 * "retention_age_ms" and "retention_bytes" are optional integers, 0 when absent (the default
 * size, forever, no limit). Other members ("cmd", "op", "id", anything unknown) are ignored.
 * The result is checked with sl_catalog_validate. Returns 0, or SL_EINVAL with err naming the
 * member: "missing field 'partitions'", "partitions must be an integer", or the range message.
 */
int sl_catalog_admin_create_args(const json_t *req, struct sl_stream_def *want, char *err,
				 size_t errlen);

#endif
