#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Issue 12's figure: relay CPU per delivered frame and latency for 1 -> N fan-out over the
# WebSocket (moq-lite over qmux, the --listen-tcp listener) beside raw QUIC, through the same
# daemon in the same run. Starts shardlined (socket driver) with a UDP and a TCP listener, TLS
# on the TCP one, and runs `shardline-bench fanout` over raw QUIC, then with the subscribers over
# wss://, alternating when REPEAT > 1; then (PLAIN=1, the default) a second daemon with
# tcp_tls off for QUIC against ws://. Relay CPU comes from --admin (the daemon's
# /proc/PID/stat over the measured window). Prints a markdown table with each transport's
# ratio to QUIC on the same daemon. Every daemon this script starts is stopped when it ends,
# however it ends.
#
# The publisher stays on raw QUIC in every run (MIXED=1, the default), so the rows differ only
# in the subscribers' transport, which is where a 1 -> N fan-out spends its time; MIXED=0 puts
# the publisher on the subscribers' transport too.
#
# Usage: bench/ws_compare.sh [DURATION_S [BUILD_DIR]]
#   DURATION_S  seconds measured per run (default 8), after a WARMUP s warm-up
#   BUILD_DIR   the meson build with shardlined and shardline-bench (default build/)
# Environment: SUBSCRIBERS (100), FPS (60), SIZE (4096), GROUP_FRAMES (60), WARMUP (2),
#   WORKERS (2), REPEAT (1; the table gives the median of each figure), VERSION (05),
#   PLAIN (1: also the ws:// daemon), MIXED (1).
set -u

duration=${1:-8}
here=$(cd "$(dirname "$0")" && pwd)
build=${2:-$here/../build}
daemon=$build/control/shardlined bench=$build/bench/shardline-bench
subscribers=${SUBSCRIBERS:-100}
fps=${FPS:-60} size=${SIZE:-4096} group_frames=${GROUP_FRAMES:-60} warmup=${WARMUP:-2}
workers=${WORKERS:-2} repeat=${REPEAT:-1} version=${VERSION:-05}
plain=${PLAIN:-1} mixed=${MIXED:-1}

prog=ws_compare.sh
# die, the work folder and its cleanup, free_port, start_daemon and stop_daemon.
. "$here/transport_lib.sh"

shape=(--fps "$fps" --size "$size" --group-frames "$group_frames" --duration "$duration"
	--warmup "$warmup" --version "$version" --json --admin "$work/admin.sock")

# run NAME SUB_URL: one fan-out run per subscriber count and repetition; NAME-N-R.json.
run() {
	local name=$1 sub_url=$2 n r pub_url
	pub_url=$sub_url
	[ "$mixed" = 1 ] && pub_url=moq://127.0.0.1:$udp_port
	for n in $subscribers; do
		kill -0 "$sl_pid" 2>/dev/null || die "shardlined exited: $(tail -5 "$work"/shardlined-*.log)"
		echo "running 1 -> $n subscribers over $name ($sub_url), ${duration} s (run $r_now) ..." >&2
		# The JSON line is the result; anything else a run prints goes to stderr. In the
		# background, so that a Ctrl-C interrupts this wait and runs the trap at once.
		"$bench" fanout "$pub_url" --sub-url "$sub_url" --subscribers "$n" "${shape[@]}" \
			>"$work/$n-$name-$r_now.json" &
		bench_pid=$!
		wait "$bench_pid"
		local rc=$?
		bench_pid=''
		[ $rc -eq 0 ] || echo "  (exit status $rc: see the delivered column)" >&2
	done
}

start_daemon true
for r_now in $(seq 1 "$repeat"); do
	run quic "moq://127.0.0.1:$udp_port"
	run wss "wss://127.0.0.1:$tcp_port/"
done
stop_daemon
if [ "$plain" = 1 ]; then
	start_daemon false
	for r_now in $(seq 1 "$repeat"); do
		run quic-plain "moq://127.0.0.1:$udp_port"
		run ws "ws://127.0.0.1:$tcp_port/"
	done
	stop_daemon
fi

python3 - "$work" "$subscribers" "$fps" "$size" "$group_frames" "$duration" "$workers" \
	"$repeat" "$here" "$version" "$plain" "$mixed" <<'EOF'
import sys

res, subs, fps, size, gf, dur, workers, repeat, here, version, plain, mixed = sys.argv[1:13]
sys.path.insert(0, here)
from compare_lib import fanout_medians, fmt, ratio  # noqa: E402


def load(n, name):
    return fanout_medians(res, n, name, repeat)


print(f"\nfan-out 1 -> N on loopback, moq-lite-{version}, {fps} fps, {size}-byte frames, "
      f"{gf}-frame groups, {dur} s measured; shardlined: socket driver, {workers} workers; "
      f"publisher on {'raw QUIC' if mixed == '1' else 'the subscribers transport'}; "
      f"relay CPU per delivered frame from /proc/PID/stat"
      + (f"; median of {repeat} runs" if int(repeat) > 1 else "") + "\n")
rows = [("quic", "raw QUIC (TLS 1.3)", "quic"), ("wss", "WebSocket+qmux, TLS", "quic")]
if plain == "1":
    rows += [("quic-plain", "raw QUIC (TLS 1.3), 2nd daemon", "quic-plain"),
             ("ws", "WebSocket+qmux, plain TCP", "quic-plain")]
print("| subscribers | transport | frames delivered | p50 us | p99 us | relay us/frame "
      "| p99 / QUIC | relay CPU / QUIC |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in subs.split():
    for name, label, base in rows:
        m, q = load(n, name), load(n, base)
        if not m:
            print(f"| {n} | {label} | failed | | | | | |")
            continue
        g = lambda x, k: x.get(k) if x else None
        print(f"| {n} | {label} | {m['del']} | {m['p50']:,.0f} | {m['p99']:,.0f} "
              f"| {fmt(m['cpu'], 2)} | {ratio(m['p99'], g(q, 'p99'))} "
              f"| {ratio(m['cpu'], g(q, 'cpu'))} |")
EOF
