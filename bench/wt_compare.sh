#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# WebTransport's figure beside raw QUIC and the WebSocket: relay CPU per delivered frame and
# latency for 1 -> N fan-out with the publisher on raw QUIC and the subscribers over raw QUIC
# (moq://), WebTransport over HTTP/3 (https://, ALPN h3 on the same UDP port, as browsers
# connect) and WebSocket+qmux with TLS (wss://, the --listen-tcp listener), all through one
# daemon in one run (modelled on bench/ws_compare.sh). Transports alternate when REPEAT > 1.
# Relay CPU comes from --admin (the daemon's /proc/PID/stat over the measured window). Prints
# a markdown table with each transport's ratio to QUIC. The daemon this script starts is
# stopped when it ends, however it ends.
#
# Usage: bench/wt_compare.sh [DURATION_S [BUILD_DIR]]
#   DURATION_S  seconds measured per run (default 8), after a WARMUP s warm-up
#   BUILD_DIR   the meson build with shardlined and shardline-bench (default build/)
# Environment: SUBSCRIBERS (100), FPS (60), SIZE (4096), GROUP_FRAMES (60), WARMUP (2),
#   WORKERS (2), REPEAT (1; the table gives the median of each figure), VERSION (05),
#   TRANSPORTS ("quic wt wss": any of them, in that order of runs).
set -u

duration=${1:-8}
here=$(cd "$(dirname "$0")" && pwd)
build=${2:-$here/../build}
daemon=$build/control/shardlined bench=$build/bench/shardline-bench
subscribers=${SUBSCRIBERS:-100}
fps=${FPS:-60} size=${SIZE:-4096} group_frames=${GROUP_FRAMES:-60} warmup=${WARMUP:-2}
workers=${WORKERS:-2} repeat=${REPEAT:-1} version=${VERSION:-05}
transports=${TRANSPORTS:-quic wt wss}

prog=wt_compare.sh
# die, the work folder and its cleanup, free_port, start_daemon and stop_daemon.
. "$here/transport_lib.sh"

shape=(--fps "$fps" --size "$size" --group-frames "$group_frames" --duration "$duration"
	--warmup "$warmup" --version "$version" --json --admin "$work/admin.sock")

# run NAME SUB_URL: one fan-out run per subscriber count; NAME-N-R.json. The publisher is
# always on raw QUIC, so the rows differ only in the subscribers' transport.
run() {
	local name=$1 sub_url=$2 n
	for n in $subscribers; do
		kill -0 "$sl_pid" 2>/dev/null || die "shardlined exited: $(tail -5 "$work"/shardlined-*.log)"
		echo "running 1 -> $n subscribers over $name ($sub_url), ${duration} s (run $r_now) ..." >&2
		# The JSON line is the result; anything else a run prints goes to stderr. In the
		# background, so that a Ctrl-C interrupts this wait and runs the trap at once.
		"$bench" fanout "moq://127.0.0.1:$udp_port" --sub-url "$sub_url" --subscribers "$n" \
			"${shape[@]}" >"$work/$n-$name-$r_now.json" &
		bench_pid=$!
		wait "$bench_pid"
		local rc=$?
		bench_pid=''
		[ $rc -eq 0 ] || echo "  (exit status $rc: see the delivered column)" >&2
	done
}

start_daemon true
for r_now in $(seq 1 "$repeat"); do
	for t in $transports; do
		case $t in
		quic) run quic "moq://127.0.0.1:$udp_port" ;;
		wt) run wt "https://127.0.0.1:$udp_port/" ;;
		wss) run wss "wss://127.0.0.1:$tcp_port/" ;;
		*) die "TRANSPORTS: unknown '$t' (quic, wt, wss)" ;;
		esac
	done
done
stop_daemon

python3 - "$work" "$subscribers" "$fps" "$size" "$group_frames" "$duration" "$workers" \
	"$repeat" "$here" "$version" "$transports" <<'EOF'
import sys

res, subs, fps, size, gf, dur, workers, repeat, here, version, transports = sys.argv[1:12]
sys.path.insert(0, here)
from compare_lib import fanout_medians, fmt, ratio  # noqa: E402


def load(n, name):
    return fanout_medians(res, n, name, repeat)


print(f"\nfan-out 1 -> N on loopback, moq-lite-{version}, {fps} fps, {size}-byte frames, "
      f"{gf}-frame groups, {dur} s measured; shardlined: socket driver, {workers} workers; "
      f"publisher on raw QUIC; relay CPU per delivered frame from /proc/PID/stat"
      + (f"; median of {repeat} runs" if int(repeat) > 1 else "") + "\n")
labels = {"quic": "raw QUIC (moq://)", "wt": "WebTransport, HTTP/3 (https://)",
          "wss": "WebSocket+qmux, TLS (wss://)"}
print("| subscribers | transport | frames delivered | p50 us | p99 us | relay us/frame "
      "| p99 / QUIC | relay CPU / QUIC |")
print("|---:|---|---:|---:|---:|---:|---:|---:|")
for n in subs.split():
    q = load(n, "quic")
    for name in transports.split():
        m = load(n, name)
        if not m:
            print(f"| {n} | {labels[name]} | failed | | | | | |")
            continue
        g = lambda x, k: x.get(k) if x else None
        print(f"| {n} | {labels[name]} | {m['del']} | {m['p50']:,.0f} | {m['p99']:,.0f} "
              f"| {fmt(m['cpu'], 2)} | {ratio(m['p99'], g(q, 'p99'))} "
              f"| {ratio(m['cpu'], g(q, 'cpu'))} |")
EOF
