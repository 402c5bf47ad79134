/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SL_CORE_CLOCK_H
#define SL_CORE_CLOCK_H

#include <stdint.h>

/*
 * Monotonic time in nanoseconds. Engines never call this (they take now_ns from the caller); the
 * shard loop reads it once per iteration. On x86 with an invariant TSC the clock is the TSC scaled
 * by a factor calibrated against CLOCK_MONOTONIC_RAW at sl_clock_init(); elsewhere it is
 * clock_gettime(CLOCK_MONOTONIC). Both are monotonic and never go backwards within a process.
 */

enum sl_clock_source {
	SL_CLOCK_CLOCK = 0, /* clock_gettime(CLOCK_MONOTONIC) */
	SL_CLOCK_TSC = 1,   /* calibrated invariant TSC */
};

/*
 * Calibrates the clock (about 20 ms on first call; later calls return at once). Thread-safe.
 * force_clock selects clock_gettime even when a TSC is available. Returns the chosen source.
 */
enum sl_clock_source sl_clock_init(int force_clock);

/* Returns nanoseconds since an arbitrary epoch fixed at sl_clock_init() (initialises lazily). */
uint64_t sl_clock_now_ns(void);

/* Returns the TSC frequency in Hz measured at init, or 0 when the TSC is not in use. */
uint64_t sl_clock_tsc_hz(void);

/* Returns nanoseconds of CLOCK_REALTIME, for stamps that cross processes (latency probes). */
uint64_t sl_clock_wall_ns(void);

#endif
