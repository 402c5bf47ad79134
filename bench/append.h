/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_APPEND_H
#define SL_BENCH_APPEND_H

/*
 * shardline-bench append: N producer connections keep K appends in flight each against a
 * durable store and report what was acknowledged and how fast. The URL's scheme picks the
 * store and its client: shardline:// (shardlined's log protocol, control/logclient.h; append.c),
 * redis:// (Redis streams, XADD through hiredis; append_redis.c) or nats:// (a JetStream stream
 * with file storage through the NATS C client; append_nats.c). Every path fills one struct
 * sl_append_result and append.c reports it, so the three print the same figures.
 */

#include "fanout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sl_append_target { SL_APPEND_SHARDLINE = 0, SL_APPEND_REDIS, SL_APPEND_NATS };

struct sl_append_opts {
	const char *url, *stream, *admin, *plot;
	enum sl_append_target target;
	/* redis:// and nats://: the server's address, from the URL. */
	char host[256];
	uint16_t port;
	uint64_t partitions, producers, size, in_flight, duration, warmup;
	/* --rate: records per second over all producers (0: as fast as acks allow). */
	uint64_t rate;
	/* --server-pid: a peer server's process, for its CPU time per record. */
	uint64_t server_pid;
	uint8_t durability; /* enum sl_lp_durability */
	bool json, e2e;
};

/*
 * Parses argv[0 .. argc) (argv[0] is "append") into o. Returns 0, 1 (--help: nothing to run)
 * or -1 with a message naming what was wrong in err. Pure: no I/O, so it is unit-tested.
 */
int sl_append_parse(int argc, char **argv, struct sl_append_opts *o, char *err, size_t errlen);

/* The usage text of the subcommand. */
extern const char sl_append_usage[];

/* What one run measured; counts cover the measured window (after --warmup) only. */
struct sl_append_result {
	uint64_t acked, failed, retries, bytes;
	double seconds;
	struct sl_bench_samples lat; /* ack latency of the window's acknowledged appends */
	struct sl_bench_samples e2e; /* produce-to-receive latency (--e2e) */
	uint64_t e2e_records;
	/* The server's CPU time over the window in µs; -1 when not measured. */
	double server_cpu_us;
	uint32_t partitions; /* those the records were spread over */
	char first_error[256];
};

/* Keeps the first failure's description (printf-style); later ones are only counted. */
void sl_append_error(struct sl_append_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* CPU time (user + system) in µs of process pid, or -1. */
double sl_append_cpu_us(long pid);

/* The peers: return 0 after a run (its figures in r), 2 when it could not start (said why). */
int sl_append_redis(const struct sl_append_opts *o, struct sl_append_result *r);
int sl_append_nats(const struct sl_append_opts *o, struct sl_append_result *r);

#endif
