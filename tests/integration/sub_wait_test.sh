#!/usr/bin/env bash
# shardctl sub waits like people expect, against a live shardlined: started before its
# publisher it waits for the broadcast to be announced and then gets its frames; when the
# publisher goes away and a new one comes, it subscribes again and carries on; with --timeout
# and no publisher it gives up in time, naming the broadcast.
# usage: sub_wait_test.sh SHARDLINED SHARDCTL
set -u
D=$1 CTL=$2
work=$(mktemp -d /tmp/sl-sub-wait-test-XXXXXX)
port=$((20000 + RANDOM % 20000))
url="moq://127.0.0.1:$port"
admin="$work/admin.sock"
pid= subpid= pubpid=
cleanup() {
	for p in $subpid $pubpid $pid; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in sub.err pub1.log pub2.log daemon.log; do
		[ -f "$work/$f" ] && { echo "--- $f" >&2; cat "$work/$f" >&2; }
	done
	exit 1
}
ok() { echo "ok - $*"; }
# shellcheck source=daemon_lib.sh
. "$(dirname "$0")/daemon_lib.sh"
start

# Waits up to 10 s for the subscriber's output to hold at least $1 lines matching $2.
wait_lines() {
	for _ in $(seq 100); do
		[ "$(grep -c "$2" "$work/sub.out" 2>/dev/null)" -ge "$1" ] && return 0
		kill -0 "$subpid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# The subscriber first; the publisher a second later.
timeout 60 "$CTL" sub "$url" live/cam video >"$work/sub.out" 2>"$work/sub.err" &
subpid=$!
sleep 1
kill -0 "$subpid" 2>/dev/null || fail "sub ended before its publisher came"
"$CTL" pub "$url" live/cam video --fps 50 --group-frames 10 >"$work/pub1.log" 2>&1 &
pubpid=$!
wait_lines 20 '^group .* bytes' || fail "no frames from the first publisher"
ok "a subscriber started before its publisher waits for it and gets its frames"

# The publisher goes away (interrupted: it does not end the track); a new one, publishing
# text lines, takes its place. The subscriber must still be there and get the new lines.
kill -TERM "$pubpid"
wait "$pubpid"
pubpid=
sleep 0.5
kill -0 "$subpid" 2>/dev/null || fail "sub ended when its publisher went away"
(sleep 1; printf 'again-1\nagain-2\nagain-3\n') |
	"$CTL" pub "$url" live/cam video --stdin >"$work/pub2.log" 2>&1 &
pubpid=$!
wait_lines 3 '^again-' || fail "no frames from the second publisher"
wait "$pubpid" || fail "second publisher"
pubpid=
# That publisher finished its track: the subscriber ends cleanly.
wait "$subpid" || fail "sub exit status $? after the track finished"
subpid=
[ "$(grep '^again-' "$work/sub.out")" = "$(printf 'again-1\nagain-2\nagain-3')" ] ||
	fail "lines from the second publisher: $(grep -v '^group' "$work/sub.out")"
grep -q "the publisher of live/cam went away" "$work/sub.err" &&
	grep -q "live/cam is back" "$work/sub.err" &&
	grep -q "frames in .* groups (ok)" "$work/sub.err" ||
	fail "sub's account: $(cat "$work/sub.err")"
ok "when the publisher goes away and comes back, the subscriber subscribes again"

# The same with --json: the summary counts both subscriptions.
timeout 60 "$CTL" sub "$url" live/json t --json >"$work/sub.out" 2>"$work/sub.err" &
subpid=$!
sleep 0.5
"$CTL" pub "$url" live/json t --fps 50 >"$work/pub1.log" 2>&1 &
pubpid=$!
wait_lines 5 '"group"' || fail "no JSON frames from the first publisher"
kill -TERM "$pubpid"
wait "$pubpid"
"$CTL" pub "$url" live/json t --fps 50 --frames 50 >"$work/pub2.log" 2>&1 &
pubpid=$!
wait "$pubpid" || fail "second JSON publisher"
pubpid=
wait "$subpid" || fail "sub --json exit status $?"
subpid=
python3 - "$work/sub.out" <<'PY' || fail "sub --json summary: $(tail -1 "$work/sub.out")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = lines[-1]
assert s["summary"] and s["end"] == "ok" and s["subscriptions"] == 2, s
assert s["frames"] == len(lines) - 1 > 5, s
PY
ok "sub --json counts frames across publishers and reports both subscriptions"

# No publisher, --timeout 1: a clear message naming the broadcast and a failure, in time.
t0=$(date +%s%N)
timeout 20 "$CTL" sub "$url" nobody/here t --timeout 1 >/dev/null 2>"$work/sub.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 1 ] || fail "sub --timeout 1 with no publisher: exit status $rc"
[ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] || fail "sub --timeout 1 took $ms ms"
grep -q "nobody/here was not announced on $url within 1 s" "$work/sub.err" ||
	fail "unclear timeout message: $(cat "$work/sub.err")"
ok "sub --timeout 1 with no publisher fails after about a second, naming the broadcast"

kill -TERM "$pid"
wait "$pid" || fail "daemon exit status $?"
pid=
echo "PASS"
