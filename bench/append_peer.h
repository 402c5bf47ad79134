/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_APPEND_PEER_H
#define SL_BENCH_APPEND_PEER_H

/*
 * What the redis:// and nats:// paths of shardline-bench append share. Their clients block (or
 * run threads of their own), so each producer connection gets a thread; a thread keeps its own
 * counters and samples, and the main thread, which reads the server's CPU at the edges of the
 * measured window, adds them up once every producer has stopped.
 */

#include "append.h"

#include <pthread.h>

struct sl_peer_prod {
	const struct sl_append_opts *o;
	uint32_t id;
	uint64_t measure_from, end; /* monotonic ns */
	pthread_mutex_t lock;	    /* the NATS path's ack callbacks run on a library thread */
	uint64_t acked, failed, bytes;
	struct sl_bench_samples lat;
	char error[256];
	void *client; /* the path's own per-producer state */
};

/* Keeps the producer's first error (printf-style). */
void sl_peer_error(struct sl_peer_prod *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Counts an acknowledgement that arrived at now (monotonic) after latency_ns; callers hold
 * p->lock when threads share p. */
void sl_peer_ack(struct sl_peer_prod *p, uint64_t now, uint64_t latency_ns);

/*
 * Runs fn(prod) on one thread per producer over the window [warmup, warmup + duration) from
 * now, reading o->server_pid's CPU at its edges, and adds the producers' figures to r.
 * setup(i, prod) runs first on this thread for each producer (connect: nonzero stops the run
 * with status 2); teardown(prod) runs after all threads ended. Returns 0 or 2.
 */
int sl_peer_run(const struct sl_append_opts *o, struct sl_append_result *r,
		int (*setup)(struct sl_peer_prod *p), void *(*fn)(void *p),
		void (*teardown)(struct sl_peer_prod *p));

#endif
