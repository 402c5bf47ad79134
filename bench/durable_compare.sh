#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# shardline's durable streams against the stores a user would pick instead, side by side in one
# run on this machine: starts shardlined (with a data directory), redis-server (appendonly yes,
# appendfsync always) and nats-server with JetStream (file storage) on free loopback ports, each
# with its own folder under $SL_BENCH_DIR, and drives each with `shardline-bench append` under
# the same load: same record size, producers and appends in flight (durable acknowledgements
# for shardline). Two scenarios:
#   a  1 producer x 1 in flight, 1 partition: ack latency, beside the disk's own fdatasync
#   b  PRODUCERS x IN_FLIGHT, PRODUCERS partitions: throughput
#   e  shardline only: E2E_RATE records/s from 1 producer (16 in flight), consumed live by a
#      subscriber (--e2e): produce-to-receive latency at a steady rate
# Every round measures the disk's fdatasync (durable_bench.py's probe, in the same folder) and
# runs both scenarios against the three servers, the order of the servers reversed every other
# round so that each sees the same machine. Prints a markdown table (medians over the rounds:
# records/s, p50 and p99, and the ratio of shardline's figure to each peer's), checks the two
# targets of docs/benchmarks.md, and writes the JSON to OUT. It never fails on a figure:
# timings are recorded, not tested. All three servers are stopped when the script ends, however
# it ends.
#
# Usage: bench/durable_compare.sh [DURATION_S [BUILD_DIR]]
#   DURATION_S  seconds measured per run (default 10), after WARMUP s of warm-up
#   BUILD_DIR   the meson build with shardlined and shardline-bench (default build/)
# Environment: ROUNDS (2), WARMUP (2), SIZE (1024), PRODUCERS (4), IN_FLIGHT (16), E2E_RATE
#   (1000), WORKERS (2,
#   shardlined's workers), SL_BENCH_DIR (/var/tmp: where the data lives; not a tmpfs),
#   OUT (BUILD_DIR/bench-results/durable_compare.json), REDIS_SERVER, NATS_SERVER.
set -u

duration=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/sh_lib.sh"
build=$(cd "${2:-$here/../build}" && pwd)
daemon=$build/control/shardlined bench=$build/bench/shardline-bench
rounds=${ROUNDS:-2} warmup=${WARMUP:-2} size=${SIZE:-1024} producers=${PRODUCERS:-4}
in_flight=${IN_FLIGHT:-16} workers=${WORKERS:-2} base=${SL_BENCH_DIR:-/var/tmp}
e2e_rate=${E2E_RATE:-1000}
out=${OUT:-$build/bench-results/durable_compare.json}
redis_server=${REDIS_SERVER:-$(command -v redis-server)}
nats_server=${NATS_SERVER:-$(PATH=$PATH:/usr/sbin:/usr/local/sbin command -v nats-server)}

die() {
	echo "durable_compare.sh: $*" >&2
	exit 2
}
[ -x "$daemon" ] && [ -x "$bench" ] || die "build first: no $daemon or $bench"
[ -n "$redis_server" ] && [ -x "$redis_server" ] ||
	die "no redis-server (apt-get install redis-server, or set REDIS_SERVER)"
[ -n "$nats_server" ] && [ -x "$nats_server" ] ||
	die "no nats-server (apt-get install nats-server, or set NATS_SERVER)"
# A shardline-bench built without a peer's client refuses it before connecting anywhere.
for u in redis://127.0.0.1:1 nats://127.0.0.1:1; do
	if "$bench" append "$u" --stream x --duration 1 2>&1 | grep -q "not built in"; then
		die "$bench was built without the client for $u (apt-get install libhiredis-dev libnats-dev, then meson setup --reconfigure)"
	fi
done

work=$(mktemp -d "$base/sl-durable-compare-XXXXXX")
sl_pid='' redis_pid='' nats_pid=''
cleanup() {
	stop_pids "$sl_pid" "$redis_pid" "$nats_pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_tcp() { # PORT PID LOG
	for _ in $(seq 100); do
		kill -0 "$2" 2>/dev/null || break
		python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$3" >&2
	return 1
}

sl_port=$(free_port udp) redis_port=$(free_port tcp) nats_port=$(free_port tcp)
mkdir -p "$work/shardline" "$work/redis" "$work/nats" "$work/res"

"$daemon" --listen "127.0.0.1:$sl_port" --workers "$workers" --admin "$work/admin.sock" \
	--data-dir "$work/shardline" >"$work/shardlined.log" 2>&1 &
sl_pid=$!
for _ in $(seq 100); do [ -S "$work/admin.sock" ] && break; sleep 0.1; done
[ -S "$work/admin.sock" ] || { cat "$work/shardlined.log" >&2; die "shardlined did not start"; }

# Redis persists only through its append-only file, fsynced before each reply (no RDB
# snapshots), in its own folder.
"$redis_server" --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
	--appendfsync always --save '' --daemonize no --logfile "$work/redis.log" &
redis_pid=$!
wait_tcp "$redis_port" "$redis_pid" "$work/redis.log" || die "redis-server did not start"

"$nats_server" -a 127.0.0.1 -p "$nats_port" -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
nats_pid=$!
wait_tcp "$nats_port" "$nats_pid" "$work/nats.log" || die "nats-server did not start"

echo "durable_compare: shardlined (pid $sl_pid, $workers workers), redis-server $("$redis_server" --version | sed 's/.*v=\([^ ]*\).*/\1/') (pid $redis_pid), nats-server $("$nats_server" --version | sed 's/.* v*//') (pid $nats_pid); data in $work" >&2

# run SCENARIO SYSTEM ROUND
run() {
	local scen=$1 sys=$2 rnd=$3 p=1 k=1 parts=1 url extra=()
	if [ "$scen" = b ]; then p=$producers k=$in_flight parts=$producers; fi
	if [ "$scen" = e ]; then k=16 extra=(--rate "$e2e_rate" --e2e); fi
	case $sys in
	shardline)
		url=shardline://127.0.0.1:$sl_port
		extra+=(--admin "$work/admin.sock" --durability durable) ;;
	redis)
		url=redis://127.0.0.1:$redis_port extra=(--server-pid "$redis_pid")
		# Redis keeps streams in memory: start each run empty, as the others' backlogs
		# sit on disk and cost them nothing to keep.
		python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
s.sendall(b"*1\r\n$8\r\nFLUSHALL\r\n"); s.recv(64)' "$redis_port" ;;
	nats)
		url=nats://127.0.0.1:$nats_port extra=(--server-pid "$nats_pid") ;;
	esac
	echo "round $rnd, scenario $scen: $sys" >&2
	"$bench" append "$url" --stream "$scen" --partitions "$parts" --producers "$p" \
		--in-flight "$k" --size "$size" --duration "$duration" --warmup "$warmup" \
		"${extra[@]}" --json >"$work/res/$scen-$sys-$rnd.json" 2>"$work/res/$scen-$sys-$rnd.err"
	local rc=$?
	[ $rc -eq 0 ] || { echo "  exit $rc:" >&2; cat "$work/res/$scen-$sys-$rnd.err" >&2; }
}

for rnd in $(seq "$rounds"); do
	python3 -c 'import json, sys
sys.path.insert(0, sys.argv[1])
import durable_bench
print(json.dumps(durable_bench.disk_fdatasync(sys.argv[2], 2000)))' "$here" "$work" \
		>"$work/res/disk-$rnd.json" || die "the fdatasync probe failed"
	order="shardline redis nats"
	[ $((rnd % 2)) -eq 0 ] && order="nats redis shardline"
	for scen in a b; do
		for sys in $order; do
			run "$scen" "$sys" "$rnd"
		done
	done
	run e shardline "$rnd"
done

mkdir -p "$(dirname "$out")"
python3 - "$work/res" "$rounds" "$out" "$size" "$producers" "$in_flight" "$duration" "$here" \
	"$e2e_rate" <<'PY'
import json, os, statistics, sys
sys.path.insert(0, sys.argv[8])
from compare_lib import fmt, load_one, ratio
res, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
size, producers, in_flight, duration = (int(x) for x in sys.argv[4:8])
e2e_rate = int(sys.argv[9])
systems = ["shardline", "redis", "nats"]
names = {"shardline": "shardline (durable)", "redis": "Redis 7 (appendfsync always)",
         "nats": "JetStream (file, default sync)"}
disk = [load_one(os.path.join(res, f"disk-{r}.json")) for r in range(1, rounds + 1)]
disk = [d for d in disk if d]
result = {"rounds": rounds, "size": size, "duration_s": duration,
          "disk_fdatasync": disk, "scenarios": {}}


def med(runs, key, sub=None):
    xs = [(r[key][sub] if sub else r[key]) for r in runs]
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


disk_p99 = statistics.median(d["p99_us"] for d in disk) if disk else None
disk_p50 = statistics.median(d["p50_us"] for d in disk) if disk else None
print(f"\nDisk (the data folders' file system): 1 KiB pwrite + fdatasync p50 {fmt(disk_p50, 0)} us, "
      f"p99 {fmt(disk_p99, 0)} us (median of {len(disk)} probes: p99 "
      + ", ".join(f"{d['p99_us']:,.0f}" for d in disk) + " us)\n")
figs = {}
for scen, shape in (("a", "1 producer x 1 in flight"),
                    ("b", f"{producers} producers x {in_flight} in flight, {producers} partitions")):
    print(f"Scenario {scen}: {shape}, {size}-byte records, {duration} s per run, median of "
          f"{rounds} rounds\n")
    print("| system | records/s | p50 us | p99 us | shardline records/s ÷ this | "
          "this p99 ÷ shardline p99 | failed | records/s, p99 us per round |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    result["scenarios"][scen] = {}
    for s in systems:
        runs = [load_one(os.path.join(res, f"{scen}-{s}-{r}.json"))
                for r in range(1, rounds + 1)]
        runs = [r for r in runs if r]
        result["scenarios"][scen][s] = runs
        if not runs:
            figs[(scen, s)] = None
            continue
        figs[(scen, s)] = {"rps": med(runs, "records_per_s"),
                           "p50": med(runs, "latency_us", "p50"),
                           "p99": med(runs, "latency_us", "p99"),
                           "failed": sum(r["failed"] for r in runs),
                           "rounds": "; ".join(f"{r['records_per_s']:,.0f}, "
                                               f"{r['latency_us']['p99']:,}" for r in runs)}
    base = figs.get((scen, "shardline"))
    for s in systems:
        f = figs[(scen, s)]
        if f is None:
            print(f"| {names[s]} | n/a | n/a | n/a | n/a | n/a | no result | |")
            continue
        print(f"| {names[s]} | {fmt(f['rps'], 0)} | {fmt(f['p50'], 0)} | {fmt(f['p99'], 0)} | "
              f"{ratio(base['rps'], f['rps']) if base else 'n/a'} | "
              f"{ratio(f['p99'], base['p99']) if base else 'n/a'} | {f['failed']} | "
              f"{f['rounds']} |")
    print()
e2e = [load_one(os.path.join(res, f"e-shardline-{r}.json")) for r in range(1, rounds + 1)]
e2e = [r for r in e2e if r and "e2e" in r]
result["scenarios"]["e"] = {"shardline": e2e}
if e2e:
    print(f"Live end to end (shardline, durable acks and durable isolation): {e2e_rate} records/s "
          f"from 1 producer, 16 in flight, consumed by a live subscriber: p50 "
          f"{fmt(med(e2e, 'e2e', 'p50'), 0)} us, p99 {fmt(med(e2e, 'e2e', 'p99'), 0)} us "
          f"(ack p50 {fmt(med(e2e, 'latency_us', 'p50'), 0)} us, p99 "
          f"{fmt(med(e2e, 'latency_us', 'p99'), 0)} us; {med(e2e, 'e2e', 'records'):.0f} "
          f"records received per run)\n")
targets = {}
a, b, rb = figs.get(("a", "shardline")), figs.get(("b", "shardline")), figs.get(("b", "redis"))
if b and rb and rb["rps"]:
    x = b["rps"] / rb["rps"]
    targets["throughput_vs_redis"] = {"ratio": x, "target": 3.0, "met": x >= 3.0}
    print(f"Target: shardline >= 3x Redis records/s (scenario b): {x:.2f}x -> "
          f"{'met' if x >= 3.0 else 'NOT met'}")
if a and disk_p99:
    x = a["p99"] / disk_p99
    targets["p99_vs_fdatasync"] = {"ratio": x, "target": 2.0, "met": x <= 2.0}
    print(f"Target: shardline p99 at 1 in flight <= 2x the disk's fdatasync p99 "
          f"({fmt(a['p99'], 0)} us vs {fmt(disk_p99, 0)} us): {x:.2f}x -> "
          f"{'met' if x <= 2.0 else 'NOT met'}")
result["targets"] = targets
with open(out, "w") as f:
    json.dump(result, f, indent=1)
print(f"JSON: {out}")
PY
