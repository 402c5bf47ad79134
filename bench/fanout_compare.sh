#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# shardline against nats-server, side by side in one run: starts shardlined (socket driver) and
# nats-server with TLS (a self-signed certificate made here with openssl, the same one for both)
# on loopback, then runs `shardline-bench fanout` against each with the same shape, the two
# alternating at every subscriber count so that both see the same machine. Prints the figures
# and their ratio (shardline / nats-server) as markdown tables. Both daemons stay up for the
# whole run, and both are stopped when the script ends, however it ends.
#
# Usage: bench/fanout_compare.sh [DURATION_S [BUILD_DIR]]
#   DURATION_S  seconds measured per run (default 10), after a WARMUP s warm-up
#   BUILD_DIR   the meson build with shardlined and a shardline-bench built with libnats
#               (default build/)
# Environment: SUBSCRIBERS ("1 4 300"), FPS (60), SIZE (4096), GROUP_FRAMES (60), WARMUP (2),
#   WORKERS (2, shardlined's workers), REPEAT (1: runs of each shape and server, alternating;
#   the tables give the median of each figure), NATS_SERVER (nats-server, found in PATH or
#   /usr/sbin).
set -u

duration=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/sh_lib.sh"
build=${2:-$here/../build}
daemon=$build/control/shardlined bench=$build/bench/shardline-bench
subscribers=${SUBSCRIBERS:-1 4 300}
fps=${FPS:-60} size=${SIZE:-4096} group_frames=${GROUP_FRAMES:-60} warmup=${WARMUP:-2}
workers=${WORKERS:-2} repeat=${REPEAT:-1}
nats_server=${NATS_SERVER:-$(PATH=$PATH:/usr/sbin:/usr/local/sbin command -v nats-server)}

die() {
	echo "fanout_compare.sh: $*" >&2
	exit 2
}
if [ ! -x "$daemon" ] || [ ! -x "$bench" ]; then
	die "build first: no $daemon or $bench"
fi
if [ -z "$nats_server" ] || [ ! -x "$nats_server" ]; then
	die "no nats-server (apt-get install nats-server, or set NATS_SERVER)"
fi
command -v openssl >/dev/null || die "no openssl (apt-get install openssl)"
# A shardline-bench built without libnats refuses --peer before it connects anywhere.
if "$bench" fanout --peer nats://127.0.0.1:1 --no-tls 2>&1 | grep -q "not built in"; then
	die "$bench was built without the NATS C client (apt-get install libnats-dev, then meson setup --reconfigure)"
fi

work=$(mktemp -d /tmp/sl-fanout-compare-XXXXXX)
sl_pid='' nats_pid='' bench_pid=''
cleanup() {
	stop_pids "$bench_pid" "$sl_pid" "$nats_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sl_port=$(free_port udp) nats_port=$(free_port tcp)

# One certificate for both servers, so that both handshakes cost the same kind of key.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" >/dev/null 2>&1 ||
	die "openssl could not make a certificate"

# The relay keeps no data here (--io-cores 0): the comparison is live fan-out only.
"$daemon" --listen "127.0.0.1:$sl_port" --workers "$workers" --io-cores 0 \
	--admin "$work/admin.sock" --data-dir "$work/data" --cert "$work/cert.pem" \
	--key "$work/key.pem" >"$work/shardlined.log" 2>&1 &
sl_pid=$!
"$nats_server" -a 127.0.0.1 -p "$nats_port" --tls --tlscert "$work/cert.pem" \
	--tlskey "$work/key.pem" >"$work/nats-server.log" 2>&1 &
nats_pid=$!
for _ in $(seq 100); do
	[ -S "$work/admin.sock" ] && (: <"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break
	sleep 0.1
done
[ -S "$work/admin.sock" ] || { cat "$work/shardlined.log" >&2; die "shardlined did not start"; }
(: <"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null ||
	{ cat "$work/nats-server.log" >&2; die "nats-server did not start"; }
echo "shardlined (pid $sl_pid, $workers workers) on udp 127.0.0.1:$sl_port;" \
	"nats-server $("$nats_server" --version 2>&1 | head -1) (pid $nats_pid, TLS) on tcp" \
	"127.0.0.1:$nats_port" >&2

shape=(--fps "$fps" --size "$size" --group-frames "$group_frames" --duration "$duration"
	--warmup "$warmup" --json)
for n in $subscribers; do
	for r in $(seq 1 "$repeat"); do
		for server in shardline nats; do
			kill -0 "$sl_pid" 2>/dev/null || die "shardlined exited: $(tail -5 "$work/shardlined.log")"
			kill -0 "$nats_pid" 2>/dev/null || die "nats-server exited: $(tail -5 "$work/nats-server.log")"
			echo "running 1 -> $n subscribers against $server, ${duration} s (run $r) ..." >&2
			if [ "$server" = shardline ]; then
				target=(moq://127.0.0.1:"$sl_port" --admin "$work/admin.sock")
			else
				target=(--peer nats://127.0.0.1:"$nats_port" --tls-ca "$work/cert.pem"
					--nats-pid "$nats_pid")
			fi
			# The JSON line is the result; anything else a run prints goes to stderr. The
			# bench runs in the background so that a Ctrl-C (which it handles itself:
			# it stops and reports) interrupts this wait and runs the trap at once.
			"$bench" fanout "${target[@]}" --subscribers "$n" "${shape[@]}" \
				>"$work/$n-$server-$r.json" &
			bench_pid=$!
			wait "$bench_pid"
			rc=$?
			bench_pid=''
			[ $rc -eq 0 ] || echo "  (exit status $rc: see the delivered column)" >&2
		done
	done
done

python3 - "$work" "$subscribers" "$fps" "$size" "$group_frames" "$duration" "$workers" \
	"$repeat" "$here" <<'EOF'
import sys

res, subs, fps, size, gf, dur, workers, repeat, here = sys.argv[1:10]
sys.path.insert(0, here)
from compare_lib import fanout_medians, fmt, ratio  # noqa: E402


def load(n, server):
    return fanout_medians(res, n, server, repeat)


print(f"\nfan-out 1 -> N on loopback, {fps} fps, {size}-byte frames, {gf}-frame groups, "
      f"{dur} s measured; shardlined: socket driver, {workers} workers, QUIC + TLS 1.3; "
      f"nats-server: TCP + TLS; server CPU per delivered frame from /proc/PID/stat"
      + (f"; median of {repeat} runs" if int(repeat) > 1 else "") + "\n")
print("| subscribers | server | delivered | ended early | p50 us | p99 us | server CPU us/frame |")
print("|---:|---|---:|---:|---:|---:|---:|")
for n in subs.split():
    for server, name in (("shardline", "shardline"), ("nats", "nats-server")):
        m = load(n, server)
        if not m:
            print(f"| {n} | {name} | failed | | | | |")
            continue
        print(f"| {n} | {name} | {m['del']} | {m['ended']:.0f} | {m['p50']:,.0f} "
              f"| {m['p99']:,.0f} | {fmt(m['cpu'], 2)} |")
print("\nshardline / nats-server (below 1x: shardline is faster or cheaper)\n")
print("| subscribers | p50 | p99 | server CPU us/frame |")
print("|---:|---:|---:|---:|")
for n in subs.split():
    s, t = load(n, "shardline"), load(n, "nats")
    g = lambda m, k: m.get(k) if m else None
    print(f"| {n} | {ratio(g(s, 'p50'), g(t, 'p50'))} | {ratio(g(s, 'p99'), g(t, 'p99'))} "
          f"| {ratio(g(s, 'cpu'), g(t, 'cpu'))} |")
EOF
