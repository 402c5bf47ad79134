/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_GBENCH_SHIM_H
#define SL_GBENCH_SHIM_H

/*
 * Google Benchmark for C. A benchmark is a C function that loops while sl_bench_running() says
 * so, registered with SL_BENCHMARK (or sl_bench_register for argument lists). The shim in
 * gbench_shim.cc turns each registration into a benchmark::RegisterBenchmark call and runs
 * them all from sl_bench_main(); results go to the console and, with --benchmark_out=FILE, to
 * JSON. See docs/benchmarks.md, "Adding a benchmark".
 *
 *   static void bm_thing(struct sl_bench *b) {
 *           setup(sl_bench_arg(b, 0));
 *           while (sl_bench_running(b))
 *                   do_thing();
 *           sl_bench_items(b, sl_bench_iterations(b));
 *   }
 *   SL_BENCHMARK(bm_thing, 1, 100, 10000);
 */

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sl_bench; /* wraps benchmark::State */

typedef void (*sl_bench_fn)(struct sl_bench *b);

/* Returns nonzero while the benchmark should run another iteration (State::KeepRunning). */
int sl_bench_running(struct sl_bench *b);
/* Returns nonzero while n more iterations should run (State::KeepRunningBatch). */
int sl_bench_running_batch(struct sl_bench *b, int64_t n);
/* The idx-th argument of this run (State::range). */
int64_t sl_bench_arg(struct sl_bench *b, int idx);
/* Iterations run so far. */
int64_t sl_bench_iterations(struct sl_bench *b);
/* Pause and resume the timer around setup inside the loop. */
void sl_bench_pause(struct sl_bench *b);
void sl_bench_resume(struct sl_bench *b);
/* Items and bytes processed in total; reported as rates (items_per_second, bytes_per_second). */
void sl_bench_items(struct sl_bench *b, int64_t items);
void sl_bench_bytes(struct sl_bench *b, int64_t bytes);

enum sl_bench_counter_kind {
	SL_BENCH_VALUE = 0,    /* reported as given */
	SL_BENCH_RATE = 1,     /* divided by the elapsed seconds */
	SL_BENCH_PER_ITER = 2, /* divided by the iterations */
	SL_BENCH_NS_PER = 3,   /* elapsed time divided by the value: time per item; JSON holds
				* seconds, the console prints an SI prefix ("8.5ns") */
};
/* Adds a named user counter to the report. */
void sl_bench_counter(struct sl_bench *b, const char *name, double value,
		      enum sl_bench_counter_kind kind);
/* Reports a failure instead of figures (State::SkipWithError). */
void sl_bench_error(struct sl_bench *b, const char *msg);
/* Sets the label printed beside the figures. */
void sl_bench_label(struct sl_bench *b, const char *label);

/*
 * Registers fn under name with nargs argument values (each value is one run). Returns 0.
 * Usually called from a constructor through SL_BENCHMARK.
 */
int sl_bench_register(const char *name, sl_bench_fn fn, const int64_t *args, int nargs);

/* Runs every registered benchmark with Google Benchmark's command-line flags. */
int sl_bench_main(int argc, char **argv);

#define SL_BENCHMARK(fn, ...)                                                                      \
	__attribute__((constructor)) static void sl_bench_reg_##fn(void)                           \
	{                                                                                          \
		static const int64_t args_[] = {__VA_ARGS__};                                      \
		sl_bench_register(#fn, fn, args_, (int)(sizeof(args_) / sizeof(args_[0])));        \
	}

#define SL_BENCHMARK_NOARG(fn)                                                                     \
	__attribute__((constructor)) static void sl_bench_reg_##fn(void)                           \
	{                                                                                          \
		sl_bench_register(#fn, fn, 0, 0);                                                  \
	}

#ifdef __cplusplus
}
#endif

#endif
