#!/usr/bin/env bash
# Crash test of the durable partitions: shardlined (2 workers, 1 io lcore) is killed with
# SIGKILL while producers append with durable acknowledgements, and restarted on the same data
# directory. The producers (idempotent, the default) live through the kill: they reconnect to
# the new daemon and send every unanswered request again. Once they went on for a while they
# are stopped, and everything is read back from the earliest offset. After every kill:
#   - every record acknowledged durable is there, at the offset it was acknowledged with, with
#     the same bytes;
#   - no partition shows a gap or a duplicate offset, and no value appears twice although
#     requests were sent again (idempotent producers: docs/log-protocol.md);
#   - each producer reconnected, and acknowledged every record it read;
#   - offsets continue from the durable end: the first offset acknowledged after a restart in a
#     partition is exactly the end the consumer saw there;
#   - every batch object on disk is referenced (unreferenced ones were removed at start).
# usage: durable_crash_test.sh SHARDLINED SHARDCTL [CYCLES]   (CI runs 10; bench runs 100)
set -u
D=$1 CTL=$2 CYCLES=${3:-10}
work=$(mktemp -d /tmp/sl-durable-crash-XXXXXX)
port=$((20000 + RANDOM % 20000))
url="shardline://127.0.0.1:$port"
admin="$work/admin.sock"
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	pkill -9 -P $$ 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	grep -A60 "ERROR: AddressSanitizer\|runtime error" "$work/daemon.log" | head -80 >&2
	tail -20 "$work/daemon.log" >&2
	exit 1
}
# ctl and start
. "$(dirname "$0")/daemon_lib.sh"

start
ctl stream create crash --partitions 3 >/dev/null || fail "stream create"
started=$(date +%s)
for c in $(seq 1 "$CYCLES"); do
	# Two producers, durable acknowledgements, several requests in flight, every partition,
	# fed about 4000 records a second each so the kill lands among writes in flight and the
	# data directory grows slowly. Record i of producer j is "c<cycle>-p<j>-<i>". shardctl is
	# the pipeline's last command, run directly (not through ctl), so $! is its pid.
	prods=()
	for j in 1 2; do
		python3 -u -c '
import sys, time
c, j = sys.argv[1], sys.argv[2]
for i in range(1000000):
    print("c%s-p%s-%d" % (c, j, i))
    if i % 40 == 39:
        time.sleep(0.01)
' "$c" "$j" 2>/dev/null | "$CTL" --admin "$admin" produce "$url" crash --stdin --in-flight 16 \
			--json --timeout 2 --retries 30 2>"$work/perr-$c-$j" >"$work/acks-$c-$j" &
		prods+=($!)
	done
	# The kill comes 0.2 to 1.6 s after the first acknowledgement, so it lands among writes in
	# flight. Counting from the producers' start instead would count python's start-up too,
	# which takes from 0.1 s to over 2 s on a loaded machine (then no cycle had anything
	# acknowledged before its kill).
	for _ in $(seq 200); do
		[ -s "$work/acks-$c-1" ] || [ -s "$work/acks-$c-2" ] && break
		sleep 0.05
	done
	sleep "$((RANDOM % 2)).$((2 + RANDOM % 7))"
	kill -9 "$pid"
	wait "$pid" 2>/dev/null
	start
	# The producers notice the silence (--timeout 2), reconnect, send what was unanswered
	# again and go on: wait for 300 more acknowledgements, then stop them (SIGINT: no new
	# records, the ones in flight are still acknowledged).
	acks() { cat "$work/acks-$c-1" "$work/acks-$c-2" | wc -l; }
	n0=$(acks)
	for _ in $(seq 300); do
		[ "$(acks)" -gt $((n0 + 300)) ] && break
		sleep 0.1
	done
	kill -INT "${prods[@]}" 2>/dev/null
	for _ in $(seq 300); do
		kill -0 "${prods[@]}" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "${prods[@]}" 2>/dev/null && fail "cycle $c: a producer did not stop: $(cat "$work"/perr-$c-*)"
	for p in "${prods[@]}"; do
		wait "$p" || fail "cycle $c: a producer failed: $(cat "$work"/perr-$c-*)"
	done
	# Their input generators end on the closed pipe.
	ctl consume "$url" crash --from earliest --timeout 2 --json >"$work/read-$c" 2>"$work/cerr" ||
		fail "consume after kill $c: $(cat "$work/cerr")"
	ls -R "$work/data/objects/data" >"$work/objects-$c" 2>/dev/null
	python3 - "$work" "$c" <<'PY' || fail "cycle $c"
import json, os, sys
w, c = sys.argv[1], int(sys.argv[2])
state_path = os.path.join(w, "state.json")
state = json.load(open(state_path)) if os.path.exists(state_path) else {
    "acked": {}, "ends": {}, "duplicates": 0, "retried": 0}
# What this cycle's producers were told: (partition, offset) -> the bytes they sent.
first_acked = {}
no_offset = []  # acknowledged as stored long ago: offsets forgotten, the value must be there
for j in (1, 2):
    summary = None
    for l in open(os.path.join(w, "acks-%d-%d" % (c, j))):
        a = json.loads(l)
        if "seq" not in a:
            summary = a
            continue
        val = "c%d-p%d-%d" % (c, j, a["seq"])
        if a["offset"] is None:
            no_offset.append(val)
            continue
        key = "%d:%d" % (a["partition"], a["offset"])
        if key in state["acked"] and state["acked"][key] != val:
            raise SystemExit("offset %s acknowledged twice: %r and %r" % (key, state["acked"][key], val))
        state["acked"][key] = val
        p = str(a["partition"])
        first_acked[p] = min(first_acked.get(p, a["offset"]), a["offset"])
    assert summary is not None, "producer %d: no summary" % j
    assert summary["failed"] == 0 and summary["idempotent"], summary
    assert summary["reconnects"] >= 1, "producer %d did not reconnect: %r" % (j, summary)
    state["duplicates"] += summary["duplicates"]
    state["retried"] += summary["retried"]
# Offsets continue from the end the last restart showed.
for p, off in first_acked.items():
    if p in state["ends"] and off < state["ends"][p]:
        raise SystemExit("partition %s: acknowledged offset %d below the end %d seen at the last restart"
                         % (p, off, state["ends"][p]))
recs = [json.loads(l) for l in open(os.path.join(w, "read-%d" % c))]
summary = recs.pop()
assert summary["gaps"] == 0 and summary["duplicates"] == 0, summary
have = {}
for r in recs:
    have["%d:%d" % (r["partition"], r["offset"])] = r["value"]
ends = {}
for r in recs:
    p = str(r["partition"])
    ends[p] = max(ends.get(p, 0), r["offset"] + 1)
for p, e in ends.items():
    n = sum(1 for k in have if k.startswith(p + ":"))
    assert n == e, "partition %s: %d records for offsets 0..%d" % (p, n, e - 1)
values = set(have.values())
if len(values) != len(have):
    seen = set()
    twice = next(v for v in have.values() if v in seen or seen.add(v))
    raise SystemExit("value %r appears twice" % twice)
lost = [k for k, v in state["acked"].items() if have.get(k) != v]
lost += [v for v in no_offset if v not in values]
if lost:
    k = lost[0]
    raise SystemExit("%d acknowledged records lost or changed, e.g. %s: acked %r, read %r"
                     % (len(lost), k, state["acked"].get(k, k), have.get(k)))
state["ends"] = ends
json.dump(state, open(state_path, "w"))
print("cycle %d: %d acknowledged so far, %d records on disk, ends %s; %d requests resent, "
      "%d records found stored already" % (c, len(state["acked"]), len(have), ends,
                                          state["retried"], state["duplicates"]))
PY
	rm -f "$work"/read-$c "$work"/acks-$c-* "$work"/perr-$c-*
done
ctl status --json >"$work/status.json" || fail "status"
python3 - "$work/status.json" <<'PY' || fail "recovery counters"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["durable"]["recovery"]
assert r["events"] > 0 and r["segments"] > 0, r
print("last recovery: %s" % r)
PY
echo "ok - $CYCLES SIGKILL cycles in $(($(date +%s) - started)) s: every durable acknowledgement survived, no value twice"
kill -TERM "$pid" && wait "$pid"
pid=
