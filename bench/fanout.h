/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_BENCH_FANOUT_H
#define SL_BENCH_FANOUT_H

/*
 * What the two client paths of `shardline-bench fanout` share: the options, the latency samples
 * and their percentiles, the CPU reading of a server process and the latency plot. The moq-lite
 * path (fanout.c) drives a shardline relay over QUIC in one thread; the NATS path
 * (fanout_nats.c, built only with libnats) drives a nats-server with the NATS C client.
 */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "moq/codec.h"

enum sl_fanout_inproc { SL_FANOUT_INPROC_OFF = 0, SL_FANOUT_INPROC_SOCKET, SL_FANOUT_INPROC_DPDK };

struct sl_fanout_opts {
	const char *url, *plot, *admin, *prog;
	/* --sub-url: where the subscribers connect (NULL: url), e.g. a ws:// URL beside a QUIC
	 * publisher, to compare transports through one relay. */
	const char *sub_url;
	uint64_t subscribers, publishers, fps, size, group_frames, duration, ports, warmup;
	uint64_t poll_idle_us;
	uint64_t prefault_mib; /* heap the benchmark faults in first (sl_alloc_prefault) */
	/* How long the publishers' announcements may settle before the subscribers subscribe
	 * (those that come too early anyway are retried). */
	uint64_t announce_wait_ms;
	enum sl_fanout_inproc inproc;
	/* --version: the moq-lite version every publisher and subscriber connection speaks. */
	enum sl_moq_version version;
	int json;
	/* --breakdown: where a frame's time goes inside the relay (--admin's trace_sample). */
	bool breakdown;
	/* The NATS path (--peer): the server's URL, how TLS is set up, and the server's process
	 * (0: found from the socket listening on the URL's port). */
	const char *peer, *tls_ca;
	bool tls_insecure, no_tls;
	uint64_t nats_pid;
};

/* Set by SIGINT: the measuring loop stops early and reports what it has. */
extern volatile sig_atomic_t sl_fanout_interrupted;
void sl_fanout_on_sigint(int sig);

/*
 * A set of latency samples, kept in microseconds (saturating at UINT32_MAX). Not thread-safe:
 * threads gather their own and add them from one thread. Sort before the percentile calls.
 * shardline-bench append keeps one set per measure; fan-out uses one (the calls below).
 */
struct sl_bench_samples {
	uint32_t *v;
	uint64_t n, cap;
};
/* Adds ns (nanoseconds); exits the program when out of memory. */
void sl_bench_samples_add(struct sl_bench_samples *s, uint64_t ns);
void sl_bench_samples_sort(struct sl_bench_samples *s);
/* The p-quantile (0 .. 1) of the sorted samples, 0 when there are none. */
uint32_t sl_bench_samples_pct(const struct sl_bench_samples *s, double p);
uint32_t sl_bench_samples_max(const struct sl_bench_samples *s);
void sl_bench_samples_free(struct sl_bench_samples *s);

/* Writes the CDF of the sorted samples to plot.dat and, with gnuplot, plot as a PNG. */
void sl_bench_plot_cdf(const struct sl_bench_samples *s, const char *plot, const char *xlabel,
		       const char *ylabel, const char *title);

/* The pid of the shardlined whose admin socket is admin, from its status; -1 (said on stderr)
 * when it cannot be read. */
long sl_bench_daemon_pid(const char *admin);

/* shardline-bench append (append.c): argc/argv start at "append". Returns the exit status. */
int sl_append_main(int argc, char **argv);

/*
 * Latency samples of one run, kept in microseconds. Not thread-safe: the NATS path gathers its
 * subscribers' samples per subscriber and records them here from the main thread at the end.
 * sl_fanout_sort must run before the percentile calls; sl_fanout_samples_free ends the run.
 */
void sl_fanout_record(uint64_t ns);
void sl_fanout_sort(void);
uint64_t sl_fanout_samples(void);
/* The p-quantile (0 .. 1) of the sorted samples, 0 when there are none. */
uint32_t sl_fanout_pct(double p);
uint32_t sl_fanout_max(void);
void sl_fanout_samples_free(void);

/* CPU time (user + system) in microseconds of a process or thread, from its stat file
 * (/proc/PID/stat covers every thread of the process). Returns 0 or -1. */
int sl_fanout_stat_cpu_us(const char *path, uint64_t *us);

/*
 * The NATS path: M publisher and N subscriber connections to the nats-server at o->peer,
 * reported like the moq-lite path. Returns the process exit status: 0 (frames delivered, none
 * out of order), 1 (the run failed), 2 (it could not start: bad URL, no connection, ...).
 */
int sl_fanout_nats(const struct sl_fanout_opts *o);

/* Writes the latency CDF of the sorted samples to o->plot.dat and, with gnuplot, o->plot as a
 * PNG titled with server (the system measured). */
void sl_fanout_write_plot(const struct sl_fanout_opts *o, const char *server);

#endif
