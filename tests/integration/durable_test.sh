#!/usr/bin/env bash
# End-to-end test of the durable partitions: shardlined with two workers and an io lcore on
# loopback, driven by shardctl stream / produce / consume as an operator would. Checks the
# catalogue (create, idempotence, conflicts, validation, list, describe, delete, persistence),
# produce at every durability with partitions and keys over connections that land on both
# workers (requests cross to the owner worker), consume backlog then live with no gap and no
# duplicate, the error answers, a clean restart and a SIGKILL restart keeping every
# acknowledged record with its bytes at its offset, and offsets continuing after restarts.
# usage: durable_test.sh SHARDLINED SHARDCTL
set -u
D=$1 CTL=$2
work=$(mktemp -d /tmp/sl-durable-test-XXXXXX)
port=$((20000 + RANDOM % 20000))
url="shardline://127.0.0.1:$port"
admin="$work/admin.sock"
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	jobs -p | xargs -r kill -9 2>/dev/null
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
# ctl and start
. "$(dirname "$0")/daemon_lib.sh"

start
grep -q "shardline://127.0.0.1:$port" "$work/daemon.log" || fail "no shardline:// URL announced"

# ---- the catalogue ----
ctl stream create orders --partitions 4 >"$work/out" || fail "stream create"
grep -q "created stream orders" "$work/out" || fail "create said: $(cat "$work/out")"
ctl stream create orders --partitions 4 >"$work/out" || fail "an identical create must succeed"
grep -q "already exists with the same settings" "$work/out" || fail "idempotent create said: $(cat "$work/out")"
if ctl stream create orders --partitions 8 >"$work/out" 2>&1; then
	fail "a create with other settings succeeded"
fi
grep -q "partitions 4, not 8" "$work/out" || fail "conflict said: $(cat "$work/out")"
if ctl stream create "bad name" --partitions 1 >"$work/out" 2>&1; then
	fail "a bad name was accepted"
fi
ctl stream create small --partitions 1 --max-record-bytes 100 >/dev/null || fail "create small"
ctl stream list --json >"$work/list.json" || fail "stream list"
python3 - "$work/list.json" <<'PY' || fail "stream list content"
import json, sys
s = json.load(open(sys.argv[1]))
names = sorted(x["name"] for x in s["streams"])
assert names == ["orders", "small"], names
assert [x for x in s["streams"] if x["name"] == "small"][0]["max_record_bytes"] == 100
PY
ok "streams are created idempotently, conflicts and bad names are refused, list shows them"

# ---- produce from several connections: both workers take requests ----
for p in 0 1 2 3; do
	seq 1 50 | sed "s/^/p$p-/" >"$work/in$p"
	ctl produce "$url" orders --partition $p --stdin --in-flight 8 --json <"$work/in$p" \
		>"$work/acks$p" 2>"$work/err$p" &
done
seq 1 40 | sed "s/^/key-/" >"$work/inkey"
ctl produce "$url" orders --key user-7 --stdin --durability written --json <"$work/inkey" \
	>"$work/ackkey" 2>"$work/errkey" &
seq 1 40 | sed "s/^/rr-/" >"$work/inrr"
ctl produce "$url" orders --stdin --durability applied --in-flight 4 --json <"$work/inrr" \
	>"$work/ackrr" 2>"$work/errrr" &
# More connections, so that (SO_REUSEPORT spreading them by address) both workers get some:
# all 16 on one worker would be a 1 in 32768 chance.
for i in $(seq 1 10); do
	echo "extra-$i" | ctl produce "$url" orders --partition $((i % 4)) --stdin \
		>/dev/null 2>"$work/errx$i" &
done
wait $(jobs -p | grep -v "^$pid$") || fail "a producer failed: $(cat "$work"/err*)"
python3 - "$work" <<'PY' || fail "produce acknowledgements"
import json, sys, os
w = sys.argv[1]
seen = {}
def acks(name, n):
    lines = [json.loads(l) for l in open(os.path.join(w, name))]
    a, summary = lines[:-1], lines[-1]
    assert summary["acked"] == n and summary["failed"] == 0, (name, summary)
    for x in a:
        k = (x["partition"], x["offset"])
        assert k not in seen, ("offset given twice", k, name, seen[k])
        seen[k] = name
    return sorted(a, key=lambda x: x["seq"])
for p in range(4):
    a = acks("acks%d" % p, 50)
    assert all(x["partition"] == p for x in a), a
    # One request stream, one partition: applied in the order sent.
    offs = [x["offset"] for x in a]
    assert offs == sorted(offs), offs
key = acks("ackkey", 40)
assert len({x["partition"] for x in key}) == 1, key
rr = acks("ackrr", 40)
assert len({x["partition"] for x in rr}) == 4, rr
PY
ctl status --json >"$work/status.json" || fail "status"
python3 - "$work/status.json" <<'PY' || fail "status after produce"
import json, sys
s = json.load(open(sys.argv[1]))
d = [w["durable"] for w in s["workers"]]
# Every worker owns partitions and took produce requests from its own connections.
assert all(x["partitions"] > 0 for x in d), d
assert sum(x["log"]["produce_ok"] for x in d) == 4 * 50 + 40 + 40 + 10, [x["log"] for x in d]
assert all(x["log"]["produce"] > 0 for x in d), [x["log"] for x in d]
# Partitions are spread, so some requests crossed to the owner worker.
assert sum(x["requests_to_other_workers"] for x in d) > 0, d
assert sum(x["produce_records"] for x in d) == 290, d
assert s["io"][0]["metalog"]["segments_out"] > 0, s["io"][0]
assert s["durable"]["streams"] == 2, s["durable"]
PY
ok "290 records produced over 16 connections at every durability, routed to the owner workers"

# ---- consume: backlog, then live ----
ctl consume "$url" orders --from earliest --count 290 --timeout 10 --json >"$work/all.json" ||
	fail "consume from earliest"
python3 - "$work" <<'PY' || fail "consumed records"
import json, sys, os
w = sys.argv[1]
lines = [json.loads(l) for l in open(os.path.join(w, "all.json"))]
recs, summary = lines[:-1], lines[-1]
assert summary["records"] == 290 and summary["gaps"] == 0 and summary["duplicates"] == 0, summary
by = {}
for r in recs:
    by.setdefault(r["partition"], []).append((r["offset"], r["value"]))
for p, rs in by.items():
    assert [o for o, _ in rs] == list(range(len(rs))), p
for p in range(4):
    want = ["p%d-%d" % (p, i) for i in range(1, 51)]
    got = [v for _, v in by[p] if v.startswith("p%d-" % p)]
    assert got == want, (p, got[:5])
keys = [v for rs in by.values() for _, v in rs if v.startswith("key-")]
assert keys == ["key-%d" % i for i in range(1, 41)], keys[:5]
PY
ctl consume "$url" orders --partition 2 --from latest --count 3 --timeout 20 --json \
	>"$work/live.json" &
cpid=$!
sleep 1
printf 'live-1\nlive-2\nlive-3\n' | ctl produce "$url" orders --partition 2 --stdin >/dev/null 2>&1 ||
	fail "live produce"
wait $cpid || fail "live consume"
python3 - "$work/live.json" <<'PY' || fail "live records"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert [r["value"] for r in lines[:-1]] == ["live-1", "live-2", "live-3"], lines
assert lines[-1]["gaps"] == 0, lines[-1]
PY
ok "a consumer gets every record in offset order per partition, then live ones"

# ---- errors ----
if echo x | ctl produce "$url" nosuch --stdin >/dev/null 2>"$work/err"; then
	fail "produce to an unknown stream succeeded"
fi
grep -q "no stream named nosuch" "$work/err" || fail "unknown stream said: $(cat "$work/err")"
if echo x | ctl produce "$url" orders --partition 9 --stdin >/dev/null 2>"$work/err"; then
	fail "produce to partition 9 of 4 succeeded"
fi
grep -qE "partition 9 out of range|stream orders has partitions 0..3" "$work/err" || fail "partition range said: $(cat "$work/err")"
python3 -c 'print("y" * 101)' | ctl produce "$url" small --stdin >/dev/null 2>"$work/err" &&
	fail "a 101-byte record went into a 100-byte stream"
grep -q "max_record_bytes" "$work/err" || fail "record too large said: $(cat "$work/err")"
echo fine | ctl produce "$url" small --stdin >/dev/null 2>&1 || fail "a small record failed"
if ctl consume "$url" orders --partition 0 --from 1000000 --timeout 5 >/dev/null 2>"$work/err"; then
	fail "consume from past the end succeeded"
fi
grep -q "offset 1000000 is past the partition's end" "$work/err" ||
	fail "start past the end said: $(cat "$work/err")"
ok "unknown stream, partition or offset out of range and record too large are answered clearly"

# ---- describe ----
ctl stream describe orders --json >"$work/desc.json" || fail "describe"
python3 - "$work/desc.json" <<'PY' || fail "describe content"
import json, sys
s = json.load(open(sys.argv[1]))
ps = s["partitions"]
assert len(ps) == 4 and {p["worker"] for p in ps} == {0, 1}, ps
assert sum(p["next_offset"] for p in ps) == 293, ps
for p in ps:
    assert p["durable_offset"] == p["next_offset"] and p["objects"] > 0, p
PY
ok "describe shows every partition's owner, offsets and objects"

# ---- restarts ----
kill -TERM "$pid" && wait "$pid" || fail "clean stop"
grep -q "shardlined: stopping" "$work/daemon.log" || fail "no clean stop"
start
ctl consume "$url" orders --from earliest --count 293 --timeout 10 --json >"$work/after.json" ||
	fail "consume after a clean restart"
cmp <(head -n -1 "$work/all.json" | sort) <(head -n -1 "$work/after.json" | grep -v live | sort) ||
	fail "records changed across a clean restart"
echo next | ctl produce "$url" orders --partition 2 --stdin --json >"$work/next.json" ||
	fail "produce after restart"
python3 -c 'import json,sys; a=json.loads(open(sys.argv[1]).readline()); assert a["offset"] == int(sys.argv[2]), a' \
	"$work/next.json" "$(grep -c '"partition":2,' "$work/after.json")" ||
	fail "offsets do not continue after a restart: $(cat "$work/next.json")"
kill -9 "$pid"
wait "$pid" 2>/dev/null
start
ctl consume "$url" orders --from earliest --count 294 --timeout 10 --json >"$work/after9.json" ||
	fail "consume after SIGKILL"
grep -q '"value":"next"' "$work/after9.json" || fail "a durable record was lost in a SIGKILL"
ctl stream list --json | grep -q '"small"' || fail "the catalogue did not survive"
ok "clean and SIGKILL restarts keep every durable record at its offset; offsets continue"

# ---- delete ----
ctl stream delete small >"$work/out" || fail "delete"
grep -q "deleted stream small" "$work/out" || fail "delete said: $(cat "$work/out")"
if ctl consume "$url" small --count 1 --timeout 5 >/dev/null 2>"$work/err"; then
	fail "consume of a deleted stream succeeded"
fi
grep -q "no stream named small" "$work/err" || fail "deleted stream said: $(cat "$work/err")"
ok "a deleted stream is gone for producers and consumers"
kill -TERM "$pid" && wait "$pid"
pid=
