#!/usr/bin/env bash
# moq-lite-05 beside moq-lite-04 through a real shardlined with two workers: shardctl pub and
# sub choose their version with --version (one ALPN per connection), and a track published in
# one version reaches subscribers of the other, on either worker (frames cross workers through
# the cross-worker rings, which the status counters show). lite-05 timestamps: a lite-05
# publisher's reach lite-05 subscribers unchanged and are dropped for lite-04 ones; a lite-04
# publisher's frames reach lite-05 subscribers stamped by the relay, monotonic within a group.
# usage: relay_versions_test.sh SHARDLINED SHARDCTL
set -u
D=$1 CTL=$2
work=$(mktemp -d /tmp/sl-relay-versions-test-XXXXXX)
port=$((20000 + RANDOM % 20000))
url="moq://127.0.0.1:$port"
admin="$work/admin.sock"
pid= pids=
cleanup() {
	for p in $pids $pid; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$work"/*.err "$work"/*.log; do
		[ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }
	done
	exit 1
}
ok() { echo "ok - $*"; }
# shellcheck source=daemon_lib.sh
. "$(dirname "$0")/daemon_lib.sh"
start
grep -q "ALPN moq-lite-05, moq-lite-04" "$work/daemon.log" || fail "the daemon does not name both ALPNs"

# Text lines: one publisher of version $1, four subscribers of version $2, every line in order.
lines() {
	local pv=$1 sv=$2 name="t/lines$1$2"
	(sleep 1.5; printf 'one\ntwo\nthree\nfour\nfive\nsix\n') |
		"$CTL" pub "$url" "$name" lines --stdin --group-frames 2 --version "$pv" \
			>"$work/pub$pv$sv.log" 2>&1 &
	local pub=$!
	pids="$pids $pub"
	sleep 0.7
	local subs=
	for i in 1 2 3 4; do
		timeout 20 "$CTL" sub "$url" "$name" lines --frames 6 --version "$sv" \
			>"$work/sub$pv$sv-$i.txt" 2>"$work/sub$pv$sv-$i.err" &
		subs="$subs $!"
	done
	for s in $subs; do wait "$s" || fail "sub --version $sv of a --version $pv publisher failed"; done
	wait $pub
	for i in 1 2 3 4; do
		[ "$(cat "$work/sub$pv$sv-$i.txt")" = "$(printf 'one\ntwo\nthree\nfour\nfive\nsix')" ] ||
			fail "lines differ ($pv -> $sv): $(cat "$work/sub$pv$sv-$i.txt")"
	done
	ok "a moq-lite-$pv publisher reaches four moq-lite-$sv subscribers, every line in order"
}
lines 05 04
lines 04 05
lines 05 05

# Timed frames with --json: which subscribers see timestamps, and what they are.
timed() {
	local pv=$1 sv=$2 name="t/timed$1$2"
	"$CTL" pub "$url" "$name" clock --fps 100 --frames 200 --group-frames 10 --version "$pv" \
		>"$work/tpub$pv$sv.log" 2>&1 &
	local pub=$!
	pids="$pids $pub"
	sleep 0.5
	timeout 20 "$CTL" sub "$url" "$name" clock --json --version "$sv" \
		>"$work/t$pv$sv.json" 2>"$work/t$pv$sv.err" || fail "timed sub $pv -> $sv"
	wait $pub
	python3 - "$work/t$pv$sv.json" "$pv" "$sv" <<'PY' || fail "timestamps $pv -> $sv"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
pv, sv = sys.argv[2], sys.argv[3]
frames, summary = lines[:-1], lines[-1]
assert summary["end"] == "ok" and summary["frames"] == len(frames) > 50, summary
if sv == "04":
    assert all("ts" not in f for f in frames), frames[0]
else:
    assert all("ts" in f for f in frames), frames[0]
    bygroup = {}
    for f in frames:
        bygroup.setdefault(f["group"], []).append(f)
    for g, fs in bygroup.items():
        ts = [f["ts"] for f in fs]
        assert ts == sorted(ts), (g, ts)
    if pv == "05":
        # shardctl pub stamps ms since it started at 100 fps: frame k of group g is frame
        # 10 g + k, sent about 10 ms apart; the relay forwards the stamps unchanged.
        for f in frames:
            n = 10 * f["group"] + f["frame"]
            assert abs(f["ts"] - 10 * n) < 500, f
PY
	ok "moq-lite-$pv publisher -> moq-lite-$sv subscriber: timestamps $([ "$sv" = 04 ] && echo dropped || echo present and monotonic)"
}
timed 05 05
timed 05 04
timed 04 05

# The tracks crossed workers (each track has one owner worker; subscribers on the other one get
# its frames through the cross-worker rings), and nothing was malformed.
ctl status --json >"$work/status.json" || fail "status"
python3 - "$work/status.json" <<'PY' || fail "status counters"
import json, sys
s = json.load(open(sys.argv[1]))
def total(o, key):
    if isinstance(o, dict):
        return sum(total(v, key) if k != key else (v if isinstance(v, (int, float)) else 0)
                   for k, v in o.items())
    if isinstance(o, list):
        return sum(total(v, key) for v in o)
    return 0
assert total(s, "frames_mirrored") > 0, "no frame crossed workers"
assert total(s, "decode_errors") == 0 and total(s, "protocol_errors") == 0, s
PY
ok "frames crossed workers in both versions, no decode or protocol error"

kill -TERM "$pid"
wait "$pid" || fail "shardlined did not stop cleanly"
pid=
ok "clean shutdown"
