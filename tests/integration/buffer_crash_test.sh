#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Crash loop of the object-store buffer on the localdir backend: a producer is killed with
# SIGKILL at a random moment (flushes run every few milliseconds, so most kills land inside one:
# between the batch write, the manifest read and the conditional manifest write), ITERATIONS
# times against the same directory. After every kill, and at the end:
#   - the manifest decodes (footer, every entry, gapless sequences);
#   - every entry whose produce call the producer reported durable is in a listed batch;
#   - every listed batch decodes, and so does every orphan batch a kill left behind.
#
# usage: buffer_crash_test.sh TOOL [ITERATIONS]
set -euo pipefail

tool=${1:?usage: $0 shardline-buffer-tool [iterations]}
iterations=${2:-60}
work=$(mktemp -d /tmp/sl-buffer-crash-XXXXXX)
trap 'rm -rf "$work"' EXIT
dir=$work/store
durable=$work/durable
: >"$durable"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

check() {
	"$tool" verify "$dir" >"$work/verify.out" || fail "verify after $1: $(grep -m1 -v '^entry ' "$work/verify.out")"
	# No entry yet is a valid state (a kill before the first flush completed).
	{ grep '^entry ' "$work/verify.out" || true; } | cut -d' ' -f2 | sort -u >"$work/listed"
	sort -u "$durable" >"$work/durable.sorted"
	missing=$(comm -23 "$work/durable.sorted" "$work/listed" | head -5)
	[ -z "$missing" ] || fail "after $1: durable entries missing from the manifest: $missing"
}

kills=0
for i in $(seq 1 "$iterations"); do
	"$tool" produce "$dir" 1000000 >"$work/out.$i" 2>"$work/err.$i" &
	pid=$!
	# 5..60 ms: the producer runs a flush every ~2 ms.
	sleep "0.0$(printf '%02d' $((RANDOM % 56 + 5)))"
	if kill -9 "$pid" 2>/dev/null; then
		kills=$((kills + 1))
	fi
	wait "$pid" 2>/dev/null || true
	# Only complete lines count: a kill may cut the last line in half.
	sed -n 's/^durable \([0-9]*-[0-9]*\)$/\1/p' "$work/out.$i" >>"$durable"
	check "kill $i"
done

# A clean run after all the crashes still works and finds its entries.
"$tool" produce "$dir" 200 | sed -n 's/^durable //p' >>"$durable"
check "the final clean run"
[ "$kills" -ge 50 ] || fail "only $kills kills landed (need 50)"
echo "ok: $kills kills, $(wc -l <"$durable") durable entries verified, $(tail -1 "$work/verify.out")"
