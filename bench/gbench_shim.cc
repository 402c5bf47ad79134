// SPDX-License-Identifier: Apache-2.0
// The bridge from C benchmarks to Google Benchmark: struct sl_bench is a benchmark::State.
#include "gbench_shim.h"

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace
{

benchmark::State &st(struct sl_bench *b)
{
	return *reinterpret_cast<benchmark::State *>(b);
}

struct Registration {
	std::string name;
	sl_bench_fn fn;
	std::vector<int64_t> args;
};

std::vector<Registration> &registry()
{
	static std::vector<Registration> r;
	return r;
}

} // namespace

extern "C" {

int sl_bench_running(struct sl_bench *b)
{
	return st(b).KeepRunning();
}

int sl_bench_running_batch(struct sl_bench *b, int64_t n)
{
	return st(b).KeepRunningBatch(n);
}

int64_t sl_bench_arg(struct sl_bench *b, int idx)
{
	return st(b).range(idx);
}

int64_t sl_bench_iterations(struct sl_bench *b)
{
	return static_cast<int64_t>(st(b).iterations());
}

void sl_bench_pause(struct sl_bench *b)
{
	st(b).PauseTiming();
}

void sl_bench_resume(struct sl_bench *b)
{
	st(b).ResumeTiming();
}

void sl_bench_items(struct sl_bench *b, int64_t items)
{
	st(b).SetItemsProcessed(items);
}

void sl_bench_bytes(struct sl_bench *b, int64_t bytes)
{
	st(b).SetBytesProcessed(bytes);
}

void sl_bench_counter(struct sl_bench *b, const char *name, double value,
		      enum sl_bench_counter_kind kind)
{
	benchmark::Counter c;
	switch (kind) {
	case SL_BENCH_RATE:
		c = benchmark::Counter(value, benchmark::Counter::kIsRate);
		break;
	case SL_BENCH_PER_ITER:
		c = benchmark::Counter(value, benchmark::Counter::kAvgIterations);
		break;
	case SL_BENCH_NS_PER:
		// kIsRate | kInvert turns "items" into "seconds per item": JSON holds seconds and
		// the console prints them with an SI prefix ("8.5ns").
		c = benchmark::Counter(value,
				       benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
		break;
	default:
		c = benchmark::Counter(value);
	}
	st(b).counters[name] = c;
}

void sl_bench_error(struct sl_bench *b, const char *msg)
{
	st(b).SkipWithError(msg);
}

void sl_bench_label(struct sl_bench *b, const char *label)
{
	st(b).SetLabel(label);
}

int sl_bench_register(const char *name, sl_bench_fn fn, const int64_t *args, int nargs)
{
	registry().push_back(Registration{name, fn, std::vector<int64_t>(args, args + nargs)});
	return 0;
}

int sl_bench_main(int argc, char **argv)
{
	for (const Registration &r : registry()) {
		sl_bench_fn fn = r.fn;
		auto *bm = benchmark::RegisterBenchmark(r.name.c_str(), [fn](benchmark::State &s) {
			fn(reinterpret_cast<struct sl_bench *>(&s));
		});
		for (int64_t a : r.args)
			bm->Arg(a);
	}
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}
}
