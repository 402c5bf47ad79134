#!/bin/bash
# Crash test of the local durable metadata log: run `shardline-metalog-tool append` in the
# background, SIGKILL it at a random moment, recover with `verify`, and check that every offset
# the tool printed as acknowledged is present and intact. Repeats ITERATIONS times (>= 20) on the
# same directory, so recovery also runs over torn tails left by earlier kills. Every other
# iteration trims the log as it appends (keeping the last KEEP records of each partition), so
# kills also land in the middle of trims: recovery must then start at the first file left.
#
# usage: metalog_crash_test.sh TOOL [ITERATIONS]
set -u
TOOL=${1:?usage: metalog_crash_test.sh TOOL [ITERATIONS]}
ITER=${2:-25}
PARTS=3

work=$(mktemp -d /var/tmp/sl-metalog-crash-XXXXXX)
trap 'rm -rf "$work"' EXIT
log="$work/log"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

total_acked=0
for i in $(seq 1 "$ITER"); do
	out="$work/acked.$i"
	# Batch size varies so kills land in writes, fdatasyncs and rolls of different sizes.
	batch=$((1 + RANDOM % 64))
	keep=()
	[ $((i % 2)) -eq 0 ] && keep=(2000)
	"$TOOL" append "$log" 100000000 "$PARTS" "$batch" "${keep[@]}" >"$out" 2>"$work/append.err" &
	pid=$!
	# 20..400 ms: long enough to get through recovery and some group commits.
	sleep "0.$(printf '%03d' $((20 + RANDOM % 380)))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if grep -q . "$work/append.err"; then
		grep -v "torn tail" "$work/append.err" | grep . && fail "append reported errors"
	fi

	"$TOOL" verify "$log" "$PARTS" >"$work/verify.txt" 2>"$work/verify.err" ||
		{ cat "$work/verify.err" >&2; fail "iteration $i: verify failed (corrupt record or start-up error)"; }

	# Every acknowledged (partition, offset) of every iteration so far must be below the
	# recovered end of its partition (those below its start were trimmed on purpose); verify
	# already checked each payload from the start to the end.
	cat "$work"/acked.* | awk -v it="$i" '
		FNR == NR { if ($1 == "partition") count[$2] = $6; next }
		NF == 2 {
			n++
			if (!($1 in count) || $2 + 0 >= count[$1] + 0) {
				printf "iteration %d: acknowledged p%s offset %s lost (recovered %s)\n",
					it, $1, $2, count[$1]
				bad = 1
			}
		}
		END { if (bad) exit 1 }' "$work/verify.txt" - || fail "acknowledged records lost"

	acked=$(cat "$out" | wc -l)
	total_acked=$((total_acked + acked))
	echo "iteration $i: batch $batch, keep ${keep[*]:-all}, acked $acked this run, recovered: $(grep -E '^partition 0|^total|^torn' "$work/verify.txt" | tr '\n' ' ')"
done

[ "$total_acked" -gt 0 ] || fail "no record was ever acknowledged"
grep -Eq '^partition [0-9]+ start [1-9]' "$work/verify.txt" || fail "trimming never moved a start offset"
echo "PASS: $ITER kills, $total_acked acknowledged records, all present and intact"
