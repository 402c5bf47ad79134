#!/usr/bin/env bash
# End-to-end test of the live relay: shardlined with two workers and an io lcore on loopback
# (socket driver), driven by shardctl pub/sub and shardline-bench. Checks delivery, order,
# fan-out to 100 subscribers across workers, garbage datagrams, connection churn, status
# counters, the data directory (io lcore probe, lock, refusal of an unusable one) and a clean
# SIGTERM shutdown.
# usage: relay_test.sh SHARDLINED SHARDCTL SHARDLINE_BENCH
set -u
D=$1 CTL=$2 BENCH=$3
work=$(mktemp -d /tmp/sl-relay-test-XXXXXX)
port=$((20000 + RANDOM % 20000))
url="moq://127.0.0.1:$port"
admin="$work/admin.sock"
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
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

"$D" --listen "127.0.0.1:$port" --workers 2 --admin "$admin" --poll-idle-us 200 \
	--data-dir "$work/data" >"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 50); do
	[ -S "$admin" ] && "$CTL" --admin "$admin" status --json >"$work/status.json" 2>/dev/null && break
	sleep 0.1
done
python3 - "$work/status.json" <<'PY' || fail "status"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["driver"] == "socket", s
assert len(s["workers"]) == 2, s["workers"]
assert sum(s["shard_map_slots"]) == 1024 and min(s["shard_map_slots"]) > 0, s["shard_map_slots"]
for w in s["workers"]:
    for k in ("lcore", "connections", "tracks", "subscribers", "rx_packets", "tx_packets", "rx_bytes", "tx_bytes"):
        assert k in w, (k, w)
# One io lcore, on its own lcore after the workers', has served the start-up probe (a durable
# write, read back and delete through io_uring) and reports the data directory.
assert len(s["io"]) == 1, s["io"]
io = s["io"][0]
assert io["lcore"] not in [w["lcore"] for w in s["workers"]] + [0], (io, s["workers"])
assert io["served"] >= 3 and io["completed"] == io["submitted"] >= 3, io
assert io["bytes_written"] > 0 and io["bytes_read"] == io["bytes_written"] and io["inflight"] == 0, io
assert s["data_dir"]["in_use"] and s["data_dir"]["free_bytes"] > 0, s["data_dir"]
PY
ok "shardlined starts with two workers and an io lcore and answers status"

# The data directory belongs to one daemon: a second one is refused and told who holds it.
[ "$(cat "$work/data/LOCK")" = "$pid" ] || fail "LOCK does not hold the daemon's pid"
[ -d "$work/data/objects" ] || fail "no object store directory"
if "$D" --listen "127.0.0.1:$((port + 1))" --workers 1 --admin "$work/admin3.sock" \
	--data-dir "$work/data" >"$work/third.log" 2>&1; then
	fail "a second daemon started on a data directory in use"
fi
grep -q "data directory $work/data is in use by another shardlined (pid $pid)" "$work/third.log" ||
	fail "unclear refusal: $(cat "$work/third.log")"
# A data directory the io lcore cannot write into stops start-up with the failing step.
mkdir -p "$work/bad/objects" && touch "$work/bad/objects/shardline"
if "$D" --listen "127.0.0.1:$((port + 1))" --workers 1 --admin "$work/admin4.sock" \
	--data-dir "$work/bad" >"$work/bad.log" 2>&1; then
	fail "a daemon started on a data directory it cannot write"
fi
grep -q "io core 0 could not write the probe object" "$work/bad.log" ||
	fail "unclear refusal: $(cat "$work/bad.log")"
[ -e "$work/admin4.sock" ] && fail "refused daemon left its admin socket"
ok "the data directory is locked to one daemon and checked through the io lcore at start"

# A second daemon on the same port is refused instead of sharing it through SO_REUSEPORT.
if "$D" --listen "127.0.0.1:$port" --workers 1 --admin "$work/admin2.sock" \
	--data-dir "$work/data2" >"$work/second.log" 2>&1; then
	fail "a second daemon started on a port in use"
fi
grep -q "is another shardlined running" "$work/second.log" || fail "unclear refusal: $(cat "$work/second.log")"
ok "a second daemon on the same port is refused with a clear message"

# Runtime settings reach the workers; start-up ones are refused with a reason.
"$CTL" --admin "$admin" config set poll_idle_us 150 >/dev/null || fail "config set poll_idle_us"
"$CTL" --admin "$admin" config set cache_age 20s >/dev/null || fail "config set cache_age"
[ "$("$CTL" --admin "$admin" config get cache_age)" = "20s" ] || fail "cache_age not changed"
"$CTL" --admin "$admin" config set listen 127.0.0.1:1 >/dev/null 2>"$work/set.err" &&
	fail "listen changed at runtime"
grep -q "cannot be changed at runtime" "$work/set.err" || fail "unclear refusal: $(cat "$work/set.err")"
ok "runtime settings are applied, start-up settings refused with a reason"

# Text frames from stdin reach a subscriber in order.
(sleep 1.5; printf 'one\ntwo\nthree\nfour\n') | "$CTL" pub "$url" test/text lines --stdin --group-frames 2 \
	>"$work/pub.log" 2>&1 &
pubpid=$!
sleep 0.7 # the broadcast must be announced before anyone subscribes to it
timeout 20 "$CTL" sub "$url" test/text lines --frames 4 >"$work/sub.txt" 2>"$work/sub.err" ||
	fail "sub of stdin lines: $(cat "$work/sub.err")"
wait $pubpid
[ "$(cat "$work/sub.txt")" = "$(printf 'one\ntwo\nthree\nfour')" ] || fail "lines differ: $(cat "$work/sub.txt")"
ok "shardctl pub --stdin -> relay -> shardctl sub delivers every line in order"

# Timed frames with --json: latency is measured and the summary says the track ended cleanly.
"$CTL" pub "$url" test/timed clock --fps 100 --frames 300 --group-frames 20 >"$work/pub2.log" 2>&1 &
pubpid=$!
sleep 0.3
timeout 20 "$CTL" sub "$url" test/timed clock --json >"$work/sub.json" 2>"$work/sub2.err" ||
	fail "sub --json: $(cat "$work/sub2.err")"
wait $pubpid
python3 - "$work/sub.json" <<'PY' || fail "sub --json output"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
frames, summary = lines[:-1], lines[-1]
assert summary["summary"] and summary["end"] == "ok", summary
assert summary["frames"] == len(frames) > 100, summary
for f in frames:
    assert f["size"] == 1200 and f["latency_us"] >= 0, f
# in order within each group
last = {}
for f in frames:
    g = f["group"]
    assert f["frame"] == last.get(g, -1) + 1, (f, last.get(g))
    last[g] = f["frame"]
PY
ok "timed frames carry latency, arrive in order per group, and the track ends cleanly"

# A subscriber that stops reading (SIGSTOP: no reads, no acknowledgements) never stalls the
# others: its oldest groups are reset once its unacknowledged bytes pass the relay's budget,
# the other subscriber gets every group in order, and the stopped one resumes with recent
# groups and a clean end.
"$CTL" --admin "$admin" status --json >"$work/status-slow0.json" || fail "status before the slow test"
"$CTL" pub "$url" test/slow v --fps 100 --size 16000 --group-frames 10 --frames 600 \
	>"$work/pub-slow.log" 2>&1 &
pubpid=$!
sleep 0.5
"$CTL" sub "$url" test/slow v --json --timeout 30 >"$work/slow.json" 2>"$work/slow.err" &
slowpid=$!
"$CTL" sub "$url" test/slow v --json --timeout 30 >"$work/fast.json" 2>"$work/fast.err" &
fastpid=$!
sleep 0.5
kill -STOP "$slowpid"
wait "$pubpid" || fail "publisher of the slow-subscriber test"
wait "$fastpid" || fail "fast subscriber: $(cat "$work/fast.err")"
"$CTL" --admin "$admin" status --json >"$work/status-slow1.json" || fail "status after the slow test"
kill -CONT "$slowpid"
wait "$slowpid" || fail "stopped subscriber after it resumed: $(cat "$work/slow.err")"
python3 - "$work/fast.json" "$work/slow.json" "$work/status-slow0.json" "$work/status-slow1.json" <<'PY' ||
import json, sys
def load(p):
    lines = [json.loads(l) for l in open(p)]
    return lines[:-1], lines[-1]
fast, fs = load(sys.argv[1])
slow, ss = load(sys.argv[2])
assert fs["end"] == "ok" and ss["end"] == "ok", (fs, ss)
# The fast subscriber starts at the latest group and misses nothing after it.
groups = sorted({f["group"] for f in fast})
assert groups == list(range(groups[0], groups[-1] + 1)) and groups[-1] == 59, groups
assert len(fast) == 10 * len(groups), (len(fast), len(groups))
last = {}
for f in fast:
    assert f["frame"] == last.get(f["group"], -1) + 1, f
    last[f["group"]] = f["frame"]
# The stopped one lost groups; of each group it got, frames arrived in order from the first.
assert len(slow) < len(fast), (len(slow), len(fast))
per = {}
for f in slow:
    per.setdefault(f["group"], []).append(f["frame"])
for g, fr in per.items():
    assert fr == list(range(len(fr))), (g, fr)
reset = lambda p: sum(w["groups_reset"] for w in json.load(open(p))["workers"])
assert reset(sys.argv[4]) > reset(sys.argv[3]), (reset(sys.argv[3]), reset(sys.argv[4]))
# ... and status says why: over the stopped subscriber's in-flight budget.
lagged = lambda p: sum(w["moq"]["groups_lagged"] for w in json.load(open(p))["workers"])
assert lagged(sys.argv[4]) > lagged(sys.argv[3]), (lagged(sys.argv[3]), lagged(sys.argv[4]))
PY
	fail "slow subscriber: fast $(tail -1 "$work/fast.json") slow $(tail -1 "$work/slow.json")"
ok "a subscriber that stops reading loses old groups; the others get every group in order"

# Fan-out to 100 subscribers spread over both workers.
"$BENCH" fanout "$url" --subscribers 100 --fps 30 --size 1200 --group-frames 30 --duration 3 \
	--warmup 1 --admin "$admin" --json >"$work/bench.json" 2>"$work/bench.err" ||
	fail "fan-out bench: $(cat "$work/bench.err") $(cat "$work/bench.json")"
python3 - "$work/bench.json" <<'PY' || fail "fan-out results: $(cat "$work/bench.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["out_of_order"] == 0, r
assert r["delivered"] >= 0.99 * r["expected"], r
assert r["latency_us"]["p50"] > 0, r
PY
"$CTL" --admin "$admin" status --json >"$work/status2.json" || fail "status after fan-out"
"$CTL" --admin "$admin" status >"$work/status2.txt" || fail "status (table) after fan-out"
grep -q "^listen     127.0.0.1:$port\$" "$work/status2.txt" &&
	grep -q '^WORKER  LCORE  CONNS' "$work/status2.txt" &&
	grep -q '^IO  LCORE  CLIENTS' "$work/status2.txt" ||
	fail "status table: $(cat "$work/status2.txt")"
# While a publisher and a subscriber are connected, both show up with their counters.
"$CTL" pub "$url" test/conns t --fps 50 --frames 150 >/dev/null 2>&1 &
pubpid=$!
sleep 0.5
timeout 20 "$CTL" sub "$url" test/conns t --frames 200 --timeout 2 >/dev/null 2>&1 &
subpid=$!
sleep 1
"$CTL" --admin "$admin" connections --json >"$work/conns.json" || fail "connections"
"$CTL" --admin "$admin" connections >"$work/conns.txt" || fail "connections (table)"
wait $pubpid $subpid
grep -q '^WORKER  REMOTE  *SESSION  *RTT' "$work/conns.txt" &&
	[ "$(grep -cE '^ +[01]  127\.0\.0\.1:[0-9]+ ' "$work/conns.txt")" = 2 ] ||
	fail "connections table: $(cat "$work/conns.txt")"
python3 - "$work/conns.json" <<'PY' || fail "connections output: $(cat "$work/conns.json")"
import json, sys
c = json.load(open(sys.argv[1]))["connections"]
assert len(c) == 2, c
assert sum(x["upstreams"] for x in c) == 1 and sum(x["subscriptions"] for x in c) == 1, c
for x in c:
    assert x["established"] and x["rx_packets"] > 0 and x["rtt_ms"] > 0, x
    assert x["remote"].startswith("127.0.0.1:"), x
PY
ok "shardctl connections lists each connection with its QUIC and moq-lite counters"
python3 - "$work/status2.json" <<'PY' || fail "both workers should have served connections"
import json, sys
s = json.load(open(sys.argv[1]))
served = [w["quic"]["conns_accepted"] for w in s["workers"]]
assert all(n > 0 for n in served), served
# Idle workers sleep on their doorbell: the status request itself woke them.
assert all(w["bell_wakeups"] > 0 for w in s["workers"]), [w["bell_wakeups"] for w in s["workers"]]
PY
ok "1 publisher -> 100 subscribers over two workers: all frames, in order, latency measured"

# Subscribers that ask before the announcements reached the relay hear "not found" and ask
# again: with no settling time every frame of the measured window still arrives.
"$BENCH" fanout "$url" --publishers 2 --subscribers 20 --fps 30 --size 1200 --duration 2 \
	--warmup 1 --announce-wait-ms 0 --json >"$work/early.json" 2>"$work/early.err" ||
	fail "fan-out with early subscribers: $(cat "$work/early.err") $(cat "$work/early.json")"
python3 - "$work/early.json" <<'PY' || fail "early subscribers: $(cat "$work/early.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["out_of_order"] == 0 and r["ended_early"] == 0, r
assert r["delivered"] >= 0.99 * r["expected"], r
assert r["subscribe_retries"] >= 0, r
PY
ok "subscribers that subscribe before the announcement arrives retry and get every frame"

# --breakdown: the relay traces the stamped frames for the run and says where their time went;
# the setting is put back after. Stages and counts, never timings.
"$BENCH" fanout "$url" --subscribers 4 --fps 30 --size 1200 --duration 2 --warmup 1 \
	--admin "$admin" --breakdown --json >"$work/bd.json" 2>"$work/bd.err" ||
	fail "fan-out --breakdown: $(cat "$work/bd.err") $(cat "$work/bd.json")"
python3 - "$work/bd.json" <<'PY' || fail "breakdown: $(cat "$work/bd.json")"
import json, sys
r = json.load(open(sys.argv[1]))
b = r["breakdown"]
for k in ("relay_rx", "queued", "sent", "delivered"):
    assert b[k]["count"] > 0, (k, b)
# Every delivered frame was queued and sent at the relay first (the window's edges aside).
assert b["queued"]["count"] >= 0.9 * b["delivered"]["count"], b
assert b["sent"]["count"] >= 0.9 * b["queued"]["count"], b
# Each frame is queued after it was taken in, and sent after it was queued; the slack covers
# frames at the window's edges and the histograms' 12.5 % buckets.
assert b["relay_rx"]["p50_us"] <= b["queued"]["p50_us"] * 1.2 + 50, b
assert b["queued"]["p50_us"] <= b["sent"]["p50_us"] * 1.2 + 50, b
PY
[ "$("$CTL" --admin "$admin" config get trace_sample)" = "0" ] || fail "trace_sample left on"
"$BENCH" fanout "$url" --subscribers 1 --duration 1 --breakdown >/dev/null 2>"$work/bd2.err" &&
	fail "--breakdown without --admin accepted"
grep -q "give --admin" "$work/bd2.err" || fail "unclear refusal: $(cat "$work/bd2.err")"
ok "fan-out --breakdown reports the relay's stages from its trace, and puts trace_sample back"

# Garbage and truncated datagrams are dropped and counted; the relay keeps serving.
python3 - "$port" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n in (1, 5, 20, 100, 1200, 1500):
    for _ in range(20):
        s.sendto(os.urandom(n), ("127.0.0.1", int(sys.argv[1])))
# a truncated long-header Initial
s.sendto(bytes([0xc0, 0, 0, 0, 1, 8]) + os.urandom(4), ("127.0.0.1", int(sys.argv[1])))
PY
sleep 0.3
"$CTL" --admin "$admin" status --json >"$work/status3.json" || fail "status after garbage"
python3 - "$work/status3.json" <<'PY' || fail "garbage not counted"
import json, sys
s = json.load(open(sys.argv[1]))
assert sum(w["quic"]["rx_dropped"] for w in s["workers"]) > 0, s["workers"]
PY
timeout 20 "$CTL" sub "$url" test/none x --timeout 1 >/dev/null 2>&1
"$CTL" pub "$url" test/after t --fps 50 --frames 100 >/dev/null 2>&1 &
pubpid=$!
sleep 0.5
timeout 20 "$CTL" sub "$url" test/after t --frames 10 >/dev/null 2>"$work/sub3.err" ||
	fail "relay stopped serving after garbage: $(cat "$work/sub3.err")"
wait $pubpid
ok "garbage and truncated datagrams are dropped and counted, service continues"

# Connection churn: many short-lived connections; the relay ends with none open.
for i in $(seq 10); do
	"$BENCH" fanout "$url" --subscribers 100 --fps 10 --size 100 --duration 1 --warmup 0 \
		>/dev/null 2>&1 || fail "churn round $i"
done
sleep 1
"$CTL" --admin "$admin" status --json >"$work/status4.json" || fail "status after churn"
python3 - "$work/status4.json" <<'PY' || fail "connections left open: $(cat "$work/status4.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert sum(w["connections"] for w in s["workers"]) == 0, [w["connections"] for w in s["workers"]]
assert sum(w["quic"]["conns_accepted"] for w in s["workers"]) >= 1000
PY
ok "1005 connections opened and closed, none left behind"

# SIGTERM: clean exit, admin socket removed.
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon did not stop on SIGTERM"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "daemon exit status $rc"
[ -e "$admin" ] && fail "admin socket left behind"
grep -q "stopping" "$work/daemon.log" || fail "no shutdown message"
# The lock went with the daemon: the next one takes the directory (and cleans up after itself).
"$D" --listen "127.0.0.1:$port" --workers 1 --admin "$work/admin5.sock" --data-dir "$work/data" \
	>"$work/next.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -S "$work/admin5.sock" ] && "$CTL" --admin "$work/admin5.sock" status >/dev/null 2>&1 && break
	sleep 0.1
done
"$CTL" --admin "$work/admin5.sock" status >/dev/null 2>&1 || fail "no daemon after the first released the data directory: $(cat "$work/next.log")"
kill -TERM "$pid"
wait "$pid" || fail "second daemon exit status $?"
pid=
ok "SIGTERM stops the daemon cleanly and releases the admin socket and the data directory"
echo "PASS"
