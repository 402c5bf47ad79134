#!/usr/bin/env bash
# End-to-end test of the DPDK driver across two hosts made of network namespaces: shardlined
# --driver dpdk owns one end of a link (net_af_packet on a veth, or a net_tap device), and the
# normal kernel-socket clients (shardctl pub/sub, shardline-bench) run in the other namespace.
# Checks ARP and IPv6 neighbour discovery from a cold neighbour cache, delivery and order, fan-out
# to 100 subscribers over two workers, drop counters, status, a device that cannot be opened,
# and a clean SIGTERM.
# usage: dpdk_netns_test.sh SHARDLINED SHARDCTL SHARDLINE_BENCH af_packet|tap
set -u
D=$1 CTL=$2 BENCH=$3 MODE=${4:-af_packet}
if [ "$(id -u)" -ne 0 ] || ! ip netns list >/dev/null 2>&1; then
	echo "SKIP: needs root and network namespaces"
	exit 77
fi
tag=$$
nsd=sl-d-$tag nsc=sl-c-$tag
ifd=sld$tag ifc=slc$tag
work=$(mktemp -d /tmp/sl-dpdk-test-XXXXXX)
admin="$work/admin.sock"
v4=10.77.0.1 v4c=10.77.0.2 v6=fd77::1 v6c=fd77::2
url="moq://$v4:4443" url6="moq://[$v6]:4443"
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	ip netns del "$nsd" 2>/dev/null
	ip netns del "$nsc" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log" >&2
	cat "$work/daemon.log" >&2
	exit 1
}
ok() { echo "ok - $*"; }
C() { ip netns exec "$nsc" "$@"; }

ip netns add "$nsd" && ip netns add "$nsc" || fail "cannot create namespaces"
ip -n "$nsd" link set lo up
ip -n "$nsc" link set lo up

# The client side is an ordinary kernel host, except that its link must not offload: a veth or
# tap hands its peer unsegmented UDP GSO packets and partial checksums, which a real wire never
# carries, and the appliance (rightly) drops them.
client_link() {
	local ifn=$1
	C ip addr add "$v4c/24" dev "$ifn"
	C ip addr add "$v6c/64" dev "$ifn" nodad
	C ethtool -K "$ifn" tx off gso off tx-udp-segmentation off >/dev/null 2>&1
	C ip link set "$ifn" up
}

if [ "$MODE" = af_packet ]; then
	ip link add "$ifd" type veth peer name "$ifc" || fail "cannot create a veth pair"
	ip link set "$ifd" netns "$nsd"
	ip link set "$ifc" netns "$nsc"
	# The appliance's end carries no kernel addresses: only DPDK answers on it.
	ip netns exec "$nsd" sysctl -qw "net.ipv6.conf.$ifd.disable_ipv6=1"
	ip -n "$nsd" link set "$ifd" up
	client_link "$ifc"
	dev=net_af_packet0
	eal=(--vdev "net_af_packet0,iface=$ifd,qpairs=2")
else
	dev=net_tap0
	eal=(--vdev "net_tap0,iface=$ifd")
fi

ip netns exec "$nsd" "$D" --driver dpdk --listen "$v4:4443" --listen "[$v6]:4443" --workers 2 \
	--admin "$admin" --poll-idle-us 200 --data-dir "$work/data" -- "${eal[@]}" --no-huge --no-pci \
	>"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -S "$admin" ] && "$CTL" --admin "$admin" status --json >"$work/status.json" 2>/dev/null && break
	kill -0 "$pid" 2>/dev/null || fail "shardlined exited at start"
	sleep 0.1
done
[ -S "$admin" ] || fail "no admin socket"

if [ "$MODE" = tap ]; then
	# The tap device's kernel end is the other host: move it next to the clients. The file
	# descriptor DPDK holds keeps working across the move.
	ip -n "$nsd" link set "$ifd" netns "$nsc" || fail "cannot move the tap device"
	ifc=$ifd
	client_link "$ifc"
fi

python3 - "$work/status.json" "$dev" <<'PY' || fail "status: $(cat "$work/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["driver"] == "dpdk", s
assert len(s["workers"]) == 2, s["workers"]
d = s["devices"]
assert len(d) == 1 and d[0]["name"] == sys.argv[2], d
assert d[0]["queues"] >= 1 and d[0]["mtu"] == 1500, d
PY
ok "[$MODE] shardlined --driver dpdk starts with two workers and reports its device"

# Cold neighbour caches on both sides: the client must resolve the appliance by ARP.
C ip neigh flush dev "$ifc" >/dev/null 2>&1
(sleep 1.5; printf 'one\ntwo\nthree\nfour\n') | C "$CTL" pub "$url" test/text lines --stdin \
	--group-frames 2 >"$work/pub.log" 2>&1 &
pubpid=$!
sleep 0.7
timeout 20 ip netns exec "$nsc" "$CTL" sub "$url" test/text lines --frames 4 >"$work/sub.txt" \
	2>"$work/sub.err" || fail "sub over dpdk: $(cat "$work/sub.err") / pub: $(cat "$work/pub.log")"
wait $pubpid
[ "$(cat "$work/sub.txt")" = "$(printf 'one\ntwo\nthree\nfour')" ] || fail "lines differ: $(cat "$work/sub.txt")"
mac=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["devices"][0]["mac"])' "$work/status.json")
C ip neigh show "$v4" dev "$ifc" | grep -qi "lladdr $mac" ||
	fail "client did not learn $v4 -> $mac by ARP: $(C ip neigh show dev "$ifc")"
ok "[$MODE] ARP from a cold cache; pub --stdin -> relay -> sub delivers every line in order"

# Timed frames with latency over the same path, in order per group.
C "$CTL" pub "$url" test/timed clock --fps 100 --frames 300 --group-frames 20 >"$work/pub2.log" 2>&1 &
pubpid=$!
sleep 0.3
timeout 20 ip netns exec "$nsc" "$CTL" sub "$url" test/timed clock --json >"$work/sub.json" \
	2>"$work/sub2.err" || fail "sub --json: $(cat "$work/sub2.err")"
wait $pubpid
python3 - "$work/sub.json" <<'PY' || fail "sub --json output"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
frames, summary = lines[:-1], lines[-1]
assert summary["summary"] and summary["end"] == "ok", summary
assert summary["frames"] == len(frames) > 100, summary
last = {}
for f in frames:
    g = f["group"]
    assert f["frame"] == last.get(g, -1) + 1, (f, last.get(g))
    last[g] = f["frame"]
    assert f["latency_us"] >= 0
PY
ok "[$MODE] timed frames arrive in order per group with measured latency"

# IPv6: neighbour discovery from a cold cache, then the same delivery.
C ip -6 neigh flush dev "$ifc" >/dev/null 2>&1
C "$CTL" pub "$url6" test/v6 t --fps 50 --frames 100 >"$work/pub6.log" 2>&1 &
pubpid=$!
sleep 0.7
timeout 20 ip netns exec "$nsc" "$CTL" sub "$url6" test/v6 t --frames 20 >/dev/null \
	2>"$work/sub6.err" || fail "sub over IPv6: $(cat "$work/sub6.err") / pub: $(cat "$work/pub6.log")"
wait $pubpid
C ip -6 neigh show "$v6" dev "$ifc" | grep -qi "lladdr $mac" ||
	fail "client did not learn $v6 by neighbour discovery: $(C ip -6 neigh show dev "$ifc")"
ok "[$MODE] IPv6 neighbour discovery from a cold cache, delivery over IPv6"

# Fan-out to 100 subscribers spread over both workers.
timeout 60 ip netns exec "$nsc" "$BENCH" fanout "$url" --subscribers 100 --fps 30 --size 1200 \
	--group-frames 30 --duration 3 --warmup 1 --admin "$admin" --json >"$work/bench.json" \
	2>"$work/bench.err" ||
	fail "fan-out bench: $(cat "$work/bench.err") $(cat "$work/bench.json")"
python3 - "$work/bench.json" <<'PY' || fail "fan-out results: $(cat "$work/bench.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["out_of_order"] == 0 and r["incomplete_groups"] == 0, r
# The frame each subscriber has in flight when the window closes is counted as lost.
assert r["delivered"] >= r["expected"] - 2 * r["subscribers"], r
assert r["latency_us"]["p50"] > 0, r
PY
ok "[$MODE] 1 publisher -> 100 subscribers: all frames, in order, latency measured"

# Traffic the appliance does not serve is dropped and counted by reason: datagrams to a closed
# UDP port, and a TCP connection attempt (a protocol it does not speak; nothing answers it).
"$CTL" --admin "$admin" status --json >"$work/status1.json" || fail "status before traffic"
C python3 - "$v4" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for _ in range(10):
    s.sendto(b"x" * 100, (sys.argv[1], 9999))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.settimeout(1.5)
try:
    t.connect((sys.argv[1], 80))
except OSError:
    pass
PY
sleep 0.5
"$CTL" --admin "$admin" status --json >"$work/status2.json" || fail "status after traffic"
python3 - "$work/status2.json" "$work/status1.json" <<'PY' || fail "counters: $(cat "$work/status2.json")"
import json, sys
s = json.load(open(sys.argv[1]))
before = [w["port"] for w in json.load(open(sys.argv[2]))["workers"]]
ports = [w["port"] for w in s["workers"]]
tot = lambda k, ps=ports: sum(p[k] for p in ps)
assert tot("arp_in") >= 1 and tot("arp_out") >= 1, ports
assert tot("nd_in") >= 1 and tot("nd_out") >= 1, ports
assert tot("rx_not_ours") - tot("rx_not_ours", before) >= 10, ports
assert tot("rx_unsupported") > tot("rx_unsupported", before), ports
served = [w["quic"]["conns_accepted"] for w in s["workers"]]
assert sum(served) >= 100, served
d = s["devices"][0]
assert d["rx_packets"] > 0 and d["tx_packets"] > 0, d
assert s["neighbours"] >= 1, s
PY
# The same, for people: the device's table and the neighbour count in the header. LINK may
# read down: net_tap reports it so in this setup while it carries all the traffic above.
"$CTL" --admin "$admin" status >"$work/status2.txt" || fail "status (table) after traffic"
grep -q '^neighbours [1-9]' "$work/status2.txt" &&
	grep -q '^PORT  NAME  *DRIVER  *LINK' "$work/status2.txt" &&
	grep -qE '^ +0  [^ ]+  +net_[a-z_]+  +(up|down) ' "$work/status2.txt" ||
	fail "status table: $(cat "$work/status2.txt")"
ok "[$MODE] status shows ARP/ND, drops by reason, per-device counters"

# SIGTERM: clean exit.
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon did not stop on SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "daemon exit status $rc"
ok "[$MODE] SIGTERM stops the daemon cleanly"

# A device that cannot be opened stops start-up with a message that names it.
ip netns exec "$nsd" "$D" --driver dpdk --listen "$v4:4443" --workers 1 --io-cores 0 \
	--admin "$work/a2.sock" \
	-- --vdev net_af_packet9,iface=nosuchif0 --no-huge --no-pci >"$work/bad.log" 2>&1 &&
	fail "started with a device that does not exist"
grep -q "net_af_packet9" "$work/bad.log" || fail "unclear error: $(cat "$work/bad.log")"
ip netns exec "$nsd" "$D" --driver dpdk --listen "0.0.0.0:4443" --workers 1 \
	--admin "$work/a3.sock" --io-cores 0 -- --no-huge --no-pci >"$work/bad2.log" 2>&1 && fail "started on a wildcard"
grep -q "wildcard" "$work/bad2.log" || fail "unclear error: $(cat "$work/bad2.log")"
ok "[$MODE] a missing device and a wildcard address are refused with a clear message"
echo "PASS"
