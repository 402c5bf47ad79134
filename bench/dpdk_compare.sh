#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Kernel bypass, measured: runs `shardline-bench fanout --inproc socket` and `--inproc dpdk` on
# the same shapes, one after the other, and prints the figures and their ratio (socket / dpdk)
# as markdown tables. Both modes run one relay worker on one CPU and the clients on another,
# so the whole comparison fits a 2-core machine; nothing runs in parallel.
#
# Usage: bench/dpdk_compare.sh [DURATION_S [SHARDLINE_BENCH]]
#   DURATION_S       seconds measured per run (default 10), after a 2 s warm-up
#   SHARDLINE_BENCH  the benchmark binary (default $SHARDLINE_BENCH, else build/bench/...)
# Environment: SUBSCRIBERS ("1 100 400"), FPS (60), SIZE (4000), GROUP_FRAMES (60),
#   WARMUP (2), POLL_IDLE_US (100, the worker's idle back-off in both modes), REPEAT (1: runs
#   of each shape and mode, alternating the modes; the tables give the median of each figure).
set -u

duration=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
bench=${2:-${SHARDLINE_BENCH:-$here/../build/bench/shardline-bench}}
subscribers=${SUBSCRIBERS:-1 100 400}
fps=${FPS:-60}
size=${SIZE:-4000}
group_frames=${GROUP_FRAMES:-60}
warmup=${WARMUP:-2}
poll_idle=${POLL_IDLE_US:-100}
repeat=${REPEAT:-1}

if [ ! -x "$bench" ]; then
	echo "dpdk_compare.sh: $bench is not an executable shardline-bench" >&2
	echo "usage: $0 [DURATION_S [SHARDLINE_BENCH]]" >&2
	exit 2
fi

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

for n in $subscribers; do
	for r in $(seq 1 "$repeat"); do
		for mode in socket dpdk; do
			echo "running 1 -> $n subscribers, $mode, ${duration} s (run $r) ..." >&2
			# The JSON line is the result; anything else a run prints goes to stderr.
			"$bench" fanout --inproc "$mode" --subscribers "$n" --fps "$fps" \
				--size "$size" --group-frames "$group_frames" --duration "$duration" \
				--warmup "$warmup" --poll-idle-us "$poll_idle" --json \
				>"$results/$n-$mode-$r.json"
			rc=$?
			[ $rc -eq 0 ] || echo "  (exit status $rc: see the delivered column)" >&2
		done
	done
done

python3 - "$results" "$subscribers" "$fps" "$size" "$group_frames" "$duration" "$poll_idle" \
	"$repeat" "$here" <<'EOF'
import sys

res, subs, fps, size, gf, dur, idle, repeat, here = sys.argv[1:10]
sys.path.insert(0, here)
from compare_lib import fmt, load_runs, median, ratio  # noqa: E402


def load(n, mode):
    """The runs of one shape and mode, folded into one result of per-figure medians."""
    runs = load_runs(res, n, mode, repeat)
    if not runs:
        return None
    med = lambda get: median(runs, get)
    out = dict(runs[0])
    for k in ("relay_cpu_us_per_frame", "cycles_per_packet", "worker_pps", "delivered"):
        out[k] = med(lambda r: r.get(k, -1))
    out["latency_us"] = {p: med(lambda r: r["latency_us"][p]) for p in ("p50", "p99")}
    return out


def metrics(r):
    if r is None:
        return {}
    return {
        "cpu": r.get("relay_cpu_us_per_frame"),
        "p50": r["latency_us"]["p50"],
        "p99": r["latency_us"]["p99"],
        "cyc": r.get("cycles_per_packet"),
        "pps": r.get("worker_pps"),
        "del": f'{r["delivered"]:.0f}/{r["expected"]}',
    }


print(f"\nfan-out 1 -> N, {fps} fps, {size}-byte frames, {gf}-frame groups, {dur} s measured, "
      f"worker idle back-off {idle} us; relay worker and clients on one CPU each"
      + (f"; median of {repeat} runs" if int(repeat) > 1 else "") + "\n")
print("| subscribers | mode | delivered | relay CPU us/frame | p50 us | p99 us | worker pkt/s "
      "| cycles/packet |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in subs.split():
    for mode in ("socket", "dpdk"):
        m = metrics(load(n, mode))
        if not m:
            print(f"| {n} | {mode} | failed | | | | | |")
            continue
        print(f"| {n} | {mode} | {m['del']} | {fmt(m['cpu'], 2)} | {m['p50']:,.0f} | {m['p99']:,.0f} "
              f"| {fmt(m['pps'], 0)} | {fmt(m['cyc'], 0)} |")
print("\nsocket / dpdk (above 1x: DPDK is cheaper or faster)\n")
print("| subscribers | relay CPU us/frame | p50 | p99 | cycles/packet |")
print("|---:|---:|---:|---:|---:|")
for n in subs.split():
    s, d = metrics(load(n, "socket")), metrics(load(n, "dpdk"))
    g = lambda m, k: m.get(k) if m else None
    print(f"| {n} | {ratio(g(s, 'cpu'), g(d, 'cpu'))} | {ratio(g(s, 'p50'), g(d, 'p50'))} "
          f"| {ratio(g(s, 'p99'), g(d, 'p99'))} | {ratio(g(s, 'cyc'), g(d, 'cyc'))} |")
EOF
