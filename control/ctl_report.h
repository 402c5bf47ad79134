/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CONTROL_CTL_REPORT_H
#define SL_CONTROL_CTL_REPORT_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The text shardctl prints by default for `status`, `connections` and `config list`: the
 * figures an operator scans first, in tables with human-readable units (what `--json`
 * prints instead is the daemon's answer itself, with exact numbers). The renderers read the
 * daemon's JSON leniently: a member that is missing or of another type is shown as "-", a
 * part that is missing (no io lcores, no durable partitions, no DPDK devices) is left out,
 * and nothing the daemon may send makes them fail, except an answer without the one member
 * that a command is about.
 */

/* The help texts of shardctl's table entries, kept here beside the renderers they describe. */
#define SL_CTL_STATUS_HELP                                                                         \
	"Prints a header (version, pid, uptime, driver, listen addresses, the\n"                   \
	"certificate's SHA-256 prefix, the data directory and its free space, durable\n"           \
	"partitions: boot, streams and what start-up recovered), one row per worker,\n"            \
	"one per io lcore, one per NIC port with the DPDK driver, and \"warnings:\"\n"             \
	"naming every counter that should be zero and is not (drops, decode and\n"                 \
	"durable errors, refused connections, a link down) and a data directory less\n"            \
	"than 10% free.\n"                                                                         \
	"\n"                                                                                       \
	"Workers: LCORE, CONNS (open connections), TRACKS, BCASTS (broadcasts), SUBS\n"            \
	"(subscribers), RX_PKTS, TX_PKTS, RX_BYTES, TX_BYTES (datagrams and their\n"               \
	"bytes), GROUPS and RESETS (groups sent and reset), FRAMES (frames sent), PARTS\n"         \
	"(durable partitions owned), PRODUCED and FETCHED (records), FLUSHES, ERRORS\n"            \
	"(decode, produce, fetch, flush, object-read and metadata-event errors).\n"                \
	"io lcores: CLIENTS (cores it serves), SERVED (requests answered), INFLIGHT,\n"            \
	"WRITTEN and READ (bytes), METALOG_RECORDS (metadata events made durable; io\n"            \
	"lcore 0 keeps the log) and FDATASYNCS (of the metadata log).\n"                           \
	"Counts and bytes are rounded (3.4 k, 1.2 GiB); \"-\" marks a figure the daemon\n"         \
	"did not report. --json prints the daemon's whole answer instead, one JSON\n"              \
	"object with every counter exact (--pretty indents it)."

#define SL_CTL_CONNECTIONS_HELP                                                                    \
	"Prints one row per open connection: WORKER, REMOTE (address), SESSION (the\n"             \
	"ALPN: moq-lite-05, moq-lite-04, shardline-log-1, h3/moq-lite-05 for WebTransport,\n"      \
	"the subprotocol for a WebSocket; handshake until the handshake is done), RTT\n"           \
	"(smoothed), CWND (congestion window), IN_FLIGHT (bytes in flight), STREAMS\n"             \
	"(open), UNACKED (stream bytes not yet acknowledged), SUBS (moq-lite\n"                    \
	"subscriptions), UPSTREAMS, GROUPS and RESETS (groups sent and reset),\n"                  \
	"PAYLOAD_IN and PAYLOAD_OUT; then a warning for each connection with decode\n"             \
	"errors. --json prints the daemon's answer, {\"connections\": [...]}, with every\n"        \
	"counter exact, packets and bytes each way and the minimum RTT included\n"                 \
	"(--pretty indents it)."

/*
 * Writes the status answer (docs/operator.md, "Running the relay"): a header (version, pid,
 * uptime, driver, listen addresses, certificate, data directory and its free space, durable
 * partitions, DPDK neighbours), a table of workers, a table of io lcores and one of DPDK
 * devices when the answer has them, then "warnings:" with a line per worker, io lcore or
 * device whose alarming counters (drops, decode and durable errors, refused connections, a
 * link down, ...) are not zero, and for a data directory less than 10 % free. Returns 0,
 * SL_ECORRUPT when status is not an object (err says so; nothing was written), SL_ENOMEM, or
 * SL_EIO when writing to f failed.
 */
int sl_ctl_status_format(FILE *f, const json_t *status, char *err, size_t errlen);

/*
 * Writes the connections answer ({"connections":[...]}): a table with one row per
 * connection (worker, remote address, session, RTT, congestion window, bytes in flight, open
 * streams, unacknowledged bytes, subscriptions, upstreams, groups sent and reset, payload in
 * and out), or "no connections", then a warning per connection with decode errors. Returns
 * 0, SL_ECORRUPT when resp has no "connections" array, SL_ENOMEM or SL_EIO.
 */
int sl_ctl_connections_format(FILE *f, const json_t *resp, char *err, size_t errlen);

/*
 * Writes the config list answer ({"settings":[...]}, or the bare array that `config list
 * --json` prints): a table SETTING VALUE SOURCE DEFAULT RUNTIME, one row per setting, where
 * SOURCE is "default" when the value is the default and "set" otherwise (by the config file,
 * a flag or `config set`: the answer does not say which). Values are written as settings are
 * given (lists comma-separated, "(empty)" for an empty string or list). Returns 0,
 * SL_ECORRUPT when there is no settings array, SL_ENOMEM or SL_EIO.
 */
int sl_ctl_config_list_format(FILE *f, const json_t *resp, char *err, size_t errlen);

#endif
