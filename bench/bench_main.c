/* SPDX-License-Identifier: Apache-2.0 */
/* The main of every benchmark binary: benchmarks register themselves with SL_BENCHMARK. */
#include "gbench_shim.h"

int main(int argc, char **argv)
{
	return sl_bench_main(argc, argv);
}
