#!/usr/bin/env bash
# Crash test of the durable partitions: shardlined (2 workers, 1 io lcore) is killed with
# SIGKILL while producers append with durable acknowledgements, restarted on the same data
# directory, and read back from the earliest offset. After every kill:
#   - every record acknowledged durable is there, at the offset it was acknowledged with, with
#     the same bytes;
#   - no partition shows a gap or a duplicate offset, and no record appears twice;
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
	# data directory grows slowly. Record i of producer j is "c<cycle>-p<j>-<i>".
	for j in 1 2; do
		python3 -u -c '
import sys, time
c, j = sys.argv[1], sys.argv[2]
for i in range(1000000):
    print("c%s-p%s-%d" % (c, j, i))
    if i % 40 == 39:
        time.sleep(0.01)
' "$c" "$j" 2>/dev/null | ctl produce "$url" crash --stdin --in-flight 16 --json --timeout 5 2>/dev/null \
			>"$work/acks-$c-$j" &
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
	# The producers (both sides of each pipe are this shell's children). In one group with
	# stderr gone, so the shell's "Killed" report of each pipeline does not fill the log.
	{
		pkill -9 -P $$
		wait
	} 2>/dev/null
	start
	ctl consume "$url" crash --from earliest --timeout 2 --json >"$work/read-$c" 2>"$work/cerr" ||
		fail "consume after kill $c: $(cat "$work/cerr")"
	ls -R "$work/data/objects/data" >"$work/objects-$c" 2>/dev/null
	python3 - "$work" "$c" <<'PY' || fail "cycle $c"
import json, os, sys
w, c = sys.argv[1], int(sys.argv[2])
state_path = os.path.join(w, "state.json")
state = json.load(open(state_path)) if os.path.exists(state_path) else {"acked": {}, "ends": {}}
# What this cycle's producers were told: (partition, offset) -> the bytes they sent.
first_acked = {}
for j in (1, 2):
    for l in open(os.path.join(w, "acks-%d-%d" % (c, j))):
        try:
            a = json.loads(l)
        except ValueError:
            continue  # the line the kill cut
        if "seq" not in a:
            continue  # a summary
        key = "%d:%d" % (a["partition"], a["offset"])
        val = "c%d-p%d-%d" % (c, j, a["seq"])
        if key in state["acked"] and state["acked"][key] != val:
            raise SystemExit("offset %s acknowledged twice: %r and %r" % (key, state["acked"][key], val))
        state["acked"][key] = val
        p = str(a["partition"])
        first_acked[p] = min(first_acked.get(p, a["offset"]), a["offset"])
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
assert len(set(have.values())) == len(have), "a record appears twice"
lost = [k for k, v in state["acked"].items() if have.get(k) != v]
if lost:
    k = lost[0]
    raise SystemExit("%d acknowledged records lost or changed, e.g. %s: acked %r, read %r"
                     % (len(lost), k, state["acked"][k], have.get(k)))
state["ends"] = ends
json.dump(state, open(state_path, "w"))
print("cycle %d: %d acknowledged so far, %d records on disk, ends %s"
      % (c, len(state["acked"]), len(have), ends))
PY
	rm -f "$work"/read-$c "$work"/acks-$c-*
done
ctl status --json >"$work/status.json" || fail "status"
python3 - "$work/status.json" <<'PY' || fail "recovery counters"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["durable"]["recovery"]
assert r["events"] > 0 and r["segments"] > 0, r
print("last recovery: %s" % r)
PY
echo "ok - $CYCLES SIGKILL cycles in $(($(date +%s) - started)) s: every durable acknowledgement survived"
kill -TERM "$pid" && wait "$pid"
pid=
