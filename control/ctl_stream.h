/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_STREAM_H
#define SL_CONTROL_CTL_STREAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "control/ctl.h"

/*
 * shardctl stream: creates, lists, describes and deletes durable streams through the admin
 * socket's "stream" command (protocol in docs/operator.md, "Streams"). The parsing, the
 * request and the human output are separate functions so that tests can check each without a
 * daemon.
 */

/* The synopsis and help text of shardctl's table entry, kept here beside the parser. */
#define SL_CTL_STREAM_USAGE "create|list|describe|delete [NAME] [OPTIONS]"

#define SL_CTL_STREAM_HELP                                                                         \
	"  shardctl stream create NAME --partitions P [--retention-age DURATION]\n"                \
	"                  [--retention-bytes BYTES] [--max-record-bytes BYTES]\n"                 \
	"                  [--export [--export-max-age DURATION]] [--json]\n"                      \
	"  shardctl stream list [--json]\n"                                                        \
	"  shardctl stream describe NAME [--json]\n"                                               \
	"  shardctl stream delete NAME [--json]\n"                                                 \
	"\n"                                                                                       \
	"create    creates stream NAME with P partitions (1 to 4096, fixed for the\n"              \
	"          stream's life). Creating a stream that exists with the same settings\n"         \
	"          succeeds and says so; with other settings it fails and names them.\n"           \
	"          --retention-age DURATION   records older than this may be deleted:\n"           \
	"                                     0 (the default) keeps them forever, else\n"          \
	"                                     1s to 36500d in whole ms (7d, 12h, 90m)\n"           \
	"          --retention-bytes BYTES    per partition, the oldest records beyond\n"          \
	"                                     this may be deleted: 0 (the default) sets\n"         \
	"                                     no limit, else 1MiB to 1EiB (64GiB, 500MB)\n"        \
	"          --max-record-bytes BYTES   largest record accepted: 1 to 16MiB,\n"              \
	"                                     default 1MiB\n"                                      \
	"          --export                   list every durable flush in the stream's\n"          \
	"                                     export queue for shardctl export\n"                  \
	"          --export-max-age DURATION  a queued batch older than this is no\n"              \
	"                                     longer kept for the exporter (0, the\n"              \
	"                                     default: kept until acknowledged)\n"                 \
	"list      lists every stream: NAME ID PARTITIONS MAX_RECORD RETENTION_AGE\n"              \
	"          RETENTION_BYTES.\n"                                                             \
	"describe  prints the stream's settings and, per partition, its worker, offsets\n"         \
	"          (start, next, durable), memory tail and objects; then its named\n"              \
	"          consumers (consume --name): epoch, committed offset and lag per partition.\n"   \
	"delete    deletes the stream; its id is never reused.\n"                                  \
	"\n"                                                                                       \
	"NAME is 1 to 249 characters from A-Z a-z 0-9 . _ - (not '.' or '..').\n"                  \
	"--json prints the daemon's answer as JSON instead of text (--pretty indents it).\n"       \
	"Exit status: 0 ok, 1 the daemon refused (e.g. a conflicting create, no such\n"            \
	"stream), 2 bad usage, 3 no daemon."

enum sl_ctl_stream_op {
	SL_CTL_STREAM_CREATE,
	SL_CTL_STREAM_LIST,
	SL_CTL_STREAM_DESCRIBE,
	SL_CTL_STREAM_DELETE,
};

/* A parsed `shardctl stream` command line. */
struct sl_ctl_stream_args {
	enum sl_ctl_stream_op op;
	const char *name;	    /* points into argv; NULL for list */
	uint32_t partitions;	    /* create only */
	uint32_t max_record_bytes;  /* create only; 0 = the daemon's default (1 MiB) */
	uint64_t retention_age_ms;  /* create only; 0 = forever */
	uint64_t retention_bytes;   /* create only; 0 = no limit */
	bool export_enabled;	    /* create only: --export */
	uint64_t export_max_age_ms; /* create only: --export-max-age; 0 = until acknowledged */
	bool json;		    /* print the daemon's answer as JSON */
};

/*
 * Parses the arguments of `shardctl stream` (argv[0] = "stream", global options already
 * removed). Options may come before or after NAME, as `--flag VALUE` or `--flag=VALUE`; after
 * a lone "--" every argument is positional. Checks locally everything that can be checked
 * without the daemon: the name (sl_stream_name_valid), the ranges of --partitions,
 * --retention-age, --retention-bytes and --max-record-bytes (durations and sizes in the
 * syntax of sl_config_parse_duration and sl_config_parse_bytes, plus a leading "Nd" for days).
 * Returns 0, or SL_EINVAL with err holding a one-line message that names the flag or argument
 * and the bad value.
 */
int sl_ctl_stream_parse(int argc, char **argv, struct sl_ctl_stream_args *out, char *err,
			size_t errlen);

/* The admin request for a: {"cmd":"stream","op":...} with the op's fields. Returns a new
 * reference, or NULL on allocation failure. */
json_t *sl_ctl_stream_request(const struct sl_ctl_stream_args *a);

/*
 * Writes the text form of the daemon's successful answer resp to op (with or without "ok"):
 *   create    "created stream orders (id 3): 8 partitions, max record 1 MiB, retention:
 *             7d, no byte limit", or "stream orders already exists with the same settings"
 *   list      a table NAME ID PARTITIONS MAX_RECORD RETENTION_AGE RETENTION_BYTES, or
 *             "no streams"
 *   describe  the stream's line (as for create, with its creation time) and a table
 *             PARTITION WORKER START NEXT DURABLE MEM_RECORDS MEM_BYTES OBJECTS OBJECT_BYTES,
 *             then, when it has named consumers, "consumers:" and a table CONSUMER EPOCH
 *             PARTITION COMMITTED LAG
 *   delete    "deleted stream orders"
 * Returns 0, SL_ECORRUPT when resp lacks what the answer must hold (err says what; nothing
 * was written), SL_ENOMEM, or SL_EIO when writing to f failed.
 */
int sl_ctl_stream_format(FILE *f, enum sl_ctl_stream_op op, const json_t *resp, char *err,
			 size_t errlen);

/*
 * Parses a retention age: sl_config_parse_duration's syntax ("12h", "90m", "1h30m",
 * "500ms"), optionally led by whole days ("7d", "1d12h"). Returns 0, SL_EINVAL or SL_ERANGE.
 */
int sl_ctl_stream_parse_duration(const char *text, uint64_t *ns);

/*
 * Writes a duration of ms milliseconds in its largest exact unit, days included ("7d", "36h",
 * "1500ms", "0s"). Returns as snprintf.
 */
int sl_ctl_stream_format_duration(uint64_t ms, char *out, size_t size);

/*
 * Writes a byte size in its largest exact binary unit up to EiB, with a space between number
 * and unit when spaced ("1 MiB", "64GiB"); a size that is no whole KiB is written in bytes
 * ("1500" or "1500 bytes"). Returns as snprintf.
 */
int sl_ctl_stream_format_bytes(uint64_t bytes, bool spaced, char *out, size_t size);

/* `shardctl stream ...`: parses, calls the daemon, prints. Returns an enum sl_ctl_exit code. */
int sl_ctl_stream_main(const struct sl_ctl_cli *cli, int argc, char **argv);

#endif
