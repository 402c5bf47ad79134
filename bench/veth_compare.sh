#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The fan-out benchmark across a veth pair between two network namespaces, with the relay on
# the kernel socket driver and then on the DPDK driver (net_af_packet on the same veth), one
# after the other in one run. The clients are the normal kernel-socket clients in the other
# namespace in both cases, so the only difference is how the relay's packets cross its end of
# the link. Needs root. Prints one line per run and a markdown table with the ratio.
#
# Usage: bench/veth_compare.sh [DURATION_S [BUILD_DIR]]
# Environment: SUBSCRIBERS ("100"), FPS (60), SIZE (4000), GROUP_FRAMES (60), WORKERS (1),
#   POLL_IDLE_US (100).
set -u
duration=${1:-10}
here=$(cd "$(dirname "$0")" && pwd)
build=${2:-$here/../build}
D=$build/control/shardlined BENCH=$build/bench/shardline-bench
subscribers=${SUBSCRIBERS:-100}
fps=${FPS:-60} size=${SIZE:-4000} gf=${GROUP_FRAMES:-60} workers=${WORKERS:-1}
idle=${POLL_IDLE_US:-100}
[ "$(id -u)" -eq 0 ] || { echo "veth_compare.sh: needs root (network namespaces)" >&2; exit 2; }
[ -x "$D" ] && [ -x "$BENCH" ] || { echo "veth_compare.sh: build first ($D, $BENCH)" >&2; exit 2; }

tag=$$ nsd=slb-d-$$ nsc=slb-c-$$ ifd=slbd$$ ifc=slbc$$
work=$(mktemp -d /tmp/sl-veth-bench-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	ip netns del "$nsd" 2>/dev/null
	ip netns del "$nsc" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$nsd"
ip netns add "$nsc"
ip link add "$ifd" type veth peer name "$ifc"
ip link set "$ifd" netns "$nsd"
ip link set "$ifc" netns "$nsc"
for ns in "$nsd" "$nsc"; do ip -n "$ns" link set lo up; done
ip netns exec "$nsd" sysctl -qw "net.ipv6.conf.$ifd.disable_ipv6=1"
ip -n "$nsc" addr add 10.78.0.2/24 dev "$ifc"
ip netns exec "$nsc" ethtool -K "$ifc" tx off gso off tx-udp-segmentation off >/dev/null 2>&1
ip -n "$nsc" link set "$ifc" up
ip -n "$nsd" link set "$ifd" up

run() { # run MODE
	local mode=$1 admin=$work/$1.sock
	if [ "$mode" = socket ]; then
		ip -n "$nsd" addr add 10.78.0.1/24 dev "$ifd"
		ip netns exec "$nsd" "$D" --listen 10.78.0.1:4443 --workers "$workers" --admin "$admin" \
			--poll-idle-us "$idle" --data-dir "$work/data-$mode" >"$work/$mode.log" 2>&1 &
	else
		ip -n "$nsd" addr flush dev "$ifd"
		ip netns exec "$nsd" "$D" --driver dpdk --listen 10.78.0.1:4443 --workers "$workers" \
			--admin "$admin" --poll-idle-us "$idle" --data-dir "$work/data-$mode" -- \
			--vdev "net_af_packet0,iface=$ifd,qpairs=$workers" --no-huge --no-pci \
			>"$work/$mode.log" 2>&1 &
	fi
	pid=$!
	for _ in $(seq 100); do [ -S "$admin" ] && break; sleep 0.1; done
	ip -n "$nsc" neigh flush dev "$ifc"
	ip netns exec "$nsc" "$BENCH" fanout moq://10.78.0.1:4443 --subscribers "$subscribers" \
		--fps "$fps" --size "$size" --group-frames "$gf" --duration "$duration" --warmup 2 \
		--admin "$admin" --json >"$work/$mode.json" || cat "$work/$mode.log" >&2
	kill -TERM "$pid"
	wait "$pid" 2>/dev/null
	pid=
}
run socket
run dpdk
python3 - "$work/socket.json" "$work/dpdk.json" "$subscribers" <<'PY'
import json, sys
s, d = (json.load(open(p)) for p in sys.argv[1:3])
print(f"| veth, 1 -> {sys.argv[3]} | socket | dpdk (af_packet) | socket / dpdk |")
print("|---|---|---|---|")
for name, key in (("relay CPU us/frame", "relay_cpu_us_per_frame"),):
    print(f"| {name} | {s[key]:.1f} | {d[key]:.1f} | {s[key] / d[key]:.2f} |")
for p in ("p50", "p99"):
    a, b = s["latency_us"][p], d["latency_us"][p]
    print(f"| {p} latency (us) | {a} | {b} | {a / b:.2f} |")
print(f"| delivered / expected | {s['delivered']}/{s['expected']} | {d['delivered']}/{d['expected']} | |")
PY
