/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_LOG_H
#define SL_CONTROL_CTL_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "control/ctl.h"

/*
 * shardctl produce / consume: a producer and a consumer of durable streams over the shardline
 * log protocol (ALPN shardline-log-1; see docs/operator.md and docs/log-protocol.md). Both
 * return an enum sl_ctl_exit code: 0 done, 1 records failed or the server reported an error,
 * 2 bad usage, 3 cannot connect.
 */
int sl_ctl_produce_main(const struct sl_ctl_cli *cli, int argc, char **argv);
int sl_ctl_consume_main(const struct sl_ctl_cli *cli, int argc, char **argv);

/* The command table's texts (shardctl.c), kept here beside the code they describe. */
#define SL_CTL_PRODUCE_USAGE                                                                       \
	"URL STREAM [--partition P | --key KEY] [--durability applied|written|durable] "           \
	"[--stdin] [--count N --size BYTES [--rate R]] [--in-flight K] [--batch B] "               \
	"[--timeout S] [--retries N] [--no-idempotence] [--json]"
#define SL_CTL_PRODUCE_HELP                                                                        \
	"Appends records to STREAM on URL (shardline://HOST:PORT). Records come from standard\n"   \
	"input with --stdin (one record per line, newline stripped), or are --count synthetic\n"   \
	"records of --size bytes, each starting with a send-time stamp when 24 bytes or\n"         \
	"larger, paced at --rate records per second (default: as fast as acks allow).\n"           \
	"  --partition P   write to partition P; --key KEY: the server hashes KEY to pick one;\n"  \
	"                  neither: requests go round-robin over the stream's partitions\n"        \
	"  --durability D  when the server acknowledges: applied, written or durable (default)\n"  \
	"  --in-flight K   requests outstanding at once (default 1)\n"                             \
	"  --batch B       records per request (default 1)\n"                                      \
	"  --timeout S     reconnect (or, with --retries 0, give up on unacknowledged records)\n"  \
	"                  after S seconds without an answer (default 30; 0 waits forever)\n"      \
	"  --retries N     reconnect up to N times in a row when the connection is lost or\n"      \
	"                  silent, and send every unacknowledged request again (default 10)\n"     \
	"  --no-idempotence  plain PRODUCE: a request sent again after a lost answer may be\n"     \
	"                  stored twice (by default each partition numbers this run's records\n"   \
	"                  under a random producer id, and the server stores a retry once)\n"      \
	"  --json          one {\"partition\",\"offset\",\"seq\"} line per acknowledged record\n"  \
	"                  (seq: its position in the input, from 0; \"duplicate\":true when a\n"   \
	"                  resent request was stored before, offset null if its offsets are\n"     \
	"                  forgotten), then a summary line; without it only a summary on stderr\n" \
	"OVERLOADED answers are retried after the delay the server asks for; a lost connection\n"  \
	"is reconnected and unanswered requests sent again; other errors fail their records\n"     \
	"and are printed once per kind. Exit status: 0 every record acknowledged,\n"               \
	"1 some failed, 2 bad usage, 3 cannot connect."
#define SL_CTL_CONSUME_USAGE                                                                       \
	"URL STREAM [--partition P]... [--from earliest|latest|OFFSET|committed|"                  \
	"committed-or-latest] [--name NAME [--commit-every N] [--commit-interval MS]] "            \
	"[--count N] [--timeout S] [--isolation durable|applied] [--json]"
#define SL_CTL_CONSUME_HELP                                                                        \
	"Subscribes to STREAM on URL (shardline://HOST:PORT) and prints its records as they\n"     \
	"arrive: the backlog from the start offset, then live records.\n"                          \
	"  --partition P   read partition P (repeatable; default: every partition)\n"              \
	"  --from F        start at the earliest retained offset (default), at the latest\n"       \
	"                  (only new records), or at OFFSET, in every partition; with --name\n"    \
	"                  also committed (the default with --name: where NAME last committed,\n"  \
	"                  else earliest) or committed-or-latest\n"                                \
	"  --name NAME     consume as the named consumer NAME: the server keeps its committed\n"   \
	"                  position per partition; a newer consumer of the same name fences\n"     \
	"                  this one (exit status 4)\n"                                             \
	"  --commit-every N  with --name: commit after N records (default 1000; 0: only by\n"      \
	"                  time and at exit)\n"                                                    \
	"  --commit-interval MS  with --name: commit at least every MS ms (default 1000;\n"        \
	"                  0: off). Positions are also committed at a clean exit (--count,\n"      \
	"                  --timeout, Ctrl-C)\n"                                                   \
	"  --count N       stop after N records in all (default 0: no limit)\n"                    \
	"  --timeout S     stop when S seconds pass without a record (default 0: never)\n"         \
	"  --isolation I   durable records only (default), or applied ones too (sooner, but a\n"   \
	"                  crash may take them back)\n"                                            \
	"  --json          one {\"partition\",\"offset\",\"size\",\"value\"} line per record\n"    \
	"                  (\"value_b64\" when not UTF-8 text), then a summary line\n"             \
	"Without --json each value is printed followed by a newline, and the summary goes to\n"    \
	"stderr. Ctrl-C stops and prints the summary. Exit status: 0 done, 1 the server\n"         \
	"reported an error or --count was not reached, 2 bad usage, 3 cannot connect, 4 fenced\n"  \
	"by a newer consumer of the same --name."

/*
 * Synthetic records carry their send time so consumers can measure produce-to-consume latency:
 * bytes 0-7 "SLREC001", 8-15 wall-clock send time in ns (big endian), 16-23 sequence number
 * (big endian). The rest is filler. Records shorter than SL_REC_STAMP_LEN carry no stamp.
 */
#define SL_REC_STAMP_LEN 24

void sl_rec_stamp(uint8_t *p, size_t len, uint64_t wall_ns, uint64_t seq);
/* Returns 1 and the stamp if p holds one, else 0. */
int sl_rec_read_stamp(const uint8_t *p, size_t len, uint64_t *wall_ns, uint64_t *seq);

#endif
