/* SPDX-License-Identifier: Apache-2.0 */
#include "core/clock.h"

#include <pthread.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <x86intrin.h>
#define SL_HAVE_TSC 1
#endif

/* Written once under pthread_once and read-only afterwards, so readers need no lock. */
static struct {
	enum sl_clock_source source;
	uint64_t tsc_hz;
	uint64_t base_tsc;
	uint64_t base_ns;
	uint64_t mult; /* ns per tick in 32.32 fixed point */
	int force_clock;
} sl_clk;
static pthread_once_t sl_clk_once = PTHREAD_ONCE_INIT;
static int sl_clk_ready;

static uint64_t sl_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#ifdef SL_HAVE_TSC
static int sl_tsc_invariant(void)
{
	unsigned int a, b, c, d;
	if ((unsigned int)__get_cpuid_max(0x80000000, NULL) < 0x80000007u)
		return 0;
	__cpuid(0x80000007, a, b, c, d);
	(void)a;
	(void)b;
	(void)c;
	/* EDX bit 8: the TSC runs at a constant rate in every P-, C- and T-state. */
	return (d >> 8) & 1;
}
#endif

static void sl_clk_calibrate(void)
{
	sl_clk.source = SL_CLOCK_CLOCK;
	sl_clk.base_ns = sl_clock_ns(CLOCK_MONOTONIC);
#ifdef SL_HAVE_TSC
	if (!sl_clk.force_clock && sl_tsc_invariant()) {
		/* Bracket a 20 ms sleep with both clocks; the bracket error (~100 ns) is a few ppm.
		 */
		uint64_t t0 = __rdtsc(), n0 = sl_clock_ns(CLOCK_MONOTONIC_RAW);
		struct timespec req = {0, 20 * 1000 * 1000};
		nanosleep(&req, NULL);
		uint64_t t1 = __rdtsc(), n1 = sl_clock_ns(CLOCK_MONOTONIC_RAW);
		if (t1 > t0 && n1 > n0) {
			sl_clk.tsc_hz =
				(uint64_t)((__uint128_t)(t1 - t0) * 1000000000u / (n1 - n0));
			sl_clk.mult = (uint64_t)(((__uint128_t)(n1 - n0) << 32) / (t1 - t0));
			sl_clk.base_tsc = __rdtsc();
			sl_clk.base_ns = sl_clock_ns(CLOCK_MONOTONIC);
			sl_clk.source = SL_CLOCK_TSC;
		}
	}
#endif
	__atomic_store_n(&sl_clk_ready, 1, __ATOMIC_RELEASE);
}

enum sl_clock_source sl_clock_init(int force_clock)
{
	if (!__atomic_load_n(&sl_clk_ready, __ATOMIC_ACQUIRE))
		sl_clk.force_clock = force_clock;
	pthread_once(&sl_clk_once, sl_clk_calibrate);
	return sl_clk.source;
}

uint64_t sl_clock_now_ns(void)
{
	if (__builtin_expect(!__atomic_load_n(&sl_clk_ready, __ATOMIC_ACQUIRE), 0))
		sl_clock_init(0);
#ifdef SL_HAVE_TSC
	if (sl_clk.source == SL_CLOCK_TSC) {
		uint64_t d = __rdtsc() - sl_clk.base_tsc;
		return sl_clk.base_ns + (uint64_t)(((__uint128_t)d * sl_clk.mult) >> 32);
	}
#endif
	return sl_clock_ns(CLOCK_MONOTONIC);
}

uint64_t sl_clock_tsc_hz(void)
{
	return sl_clk.source == SL_CLOCK_TSC ? sl_clk.tsc_hz : 0;
}

uint64_t sl_clock_wall_ns(void)
{
	return sl_clock_ns(CLOCK_REALTIME);
}
