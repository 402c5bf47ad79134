/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_EXPORT_H
#define SL_CONTROL_CTL_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/ctl.h"

/*
 * `shardctl export`: the exporter of a stream created with --export. It reads the stream's
 * manifest queue straight from the daemon's object store directory (DATA_DIR/objects, opened
 * with the localdir driver in this process; the daemon need not be reachable), fences any
 * previous exporter, prints the records of each queued batch in queue order and acknowledges
 * them (docs/operator.md, "Export streams").
 */

/* Exit status when a newer exporter fenced this one (0, 1, 2 as every subcommand). */
#define SL_CTL_EXPORT_EXIT_FENCED 4

#define SL_CTL_EXPORT_USAGE                                                                        \
	"--objects DIR STREAM [--ack-every N] [--read-ahead N] [--once] [--json]"

#define SL_CTL_EXPORT_HELP                                                                         \
	"Fences any previous exporter of STREAM (a stream created with --export), then\n"          \
	"prints the records of every batch in the stream's export queue, in queue order,\n"        \
	"one line per record: PARTITION OFFSET VALUE (--json: one object per line with\n"          \
	"partition, offset, size and value, or value_b64 for bytes that are not text).\n"          \
	"DIR is the daemon's object store directory, DATA_DIR/objects.\n"                          \
	"--ack-every N   make acknowledgements durable (remove the batches from the\n"             \
	"                queue) after every N batches printed (default 1). A restarted\n"          \
	"                exporter resumes after the last durable acknowledgement, so up\n"         \
	"                to N batches may be printed twice (at-least-once).\n"                     \
	"--read-ahead N  batches fetched ahead of the one being printed (default 8).\n"            \
	"--once          stop at the end of the queue (default: wait for new batches\n"            \
	"                until interrupted; Ctrl-C or SIGTERM acknowledge and stop).\n"            \
	"Exit status: 0 ok, 1 failure (no such export stream, unreadable queue or\n"               \
	"object), 2 bad usage, 4 fenced by a newer exporter (message on stderr)."

struct sl_ctl_export_args {
	const char *objects;
	const char *stream;
	uint32_t ack_every;  /* default 1 */
	uint32_t read_ahead; /* default 8 */
	bool once;
	bool json;
};

/* Parses argv (argv[0] = "export"). Returns 0, or SL_EINVAL with err naming the problem. */
int sl_ctl_export_parse(int argc, char **argv, struct sl_ctl_export_args *out, char *err,
			size_t errlen);

int sl_ctl_export_main(const struct sl_ctl_cli *cli, int argc, char **argv);

#endif
