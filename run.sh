#!/usr/bin/env bash
# shardline's entry point for operators trying it and for CI. Two commands:
#
#   ./run.sh demo   install what is missing, build, start the relay on loopback and run the
#                   fan-out benchmark against it (100 subscribers, 10 s)
#   ./run.sh test   install what is missing, build (normal + ASan/UBSan), run every CI suite
#
# Both are idempotent: packages already installed are skipped, builds are incremental.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# Debian 12 packages the build, the tests and the benchmarks need.
PACKAGES=(
	meson ninja-build pkg-config gcc g++ clang libclang-rt-14-dev clang-format python3 git
	libdpdk-dev liburing-dev libjemalloc-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev
	libgnutls28-dev nettle-dev libzstd-dev libxxhash-dev libjansson-dev libconfig-dev
	libcmocka-dev libbenchmark-dev iproute2 ethtool util-linux gnuplot-nox
	libnats-dev nats-server openssl libwslay-dev libnghttp3-dev
	# shardline-bench append redis:// and bench/durable_compare.sh (Redis 7 streams).
	redis-server libhiredis-dev
	# The reference JS client's test (integration/jsclient) runs @moq/net on Node >= 20 and
	# installs it with npm; NodeSource's nodejs package carries npm (Debian's own splits it
	# off into "npm", and its Node 18 is too old). Without node and npm that test skips.
	nodejs
	# The browser test (integration/browser) drives Debian's Chromium headless over
	# WebTransport through playwright-core from npm; without it that test skips.
	chromium
)

usage() {
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
	echo "Other commands: deps (install only), build, bench (all benchmarks, JSON in build/bench-results)"
}

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		echo "run.sh: installing packages needs root (or sudo): $*" >&2
		exit 1
	fi
}

deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "all ${#PACKAGES[@]} packages present"
		return
	fi
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the package lists only when an install cannot find what it needs.
	if ! as_root apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		as_root apt-get update -q
		as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

build() {
	if [ ! -f build/build.ninja ]; then
		log "configuring build/ (gcc, jemalloc)"
		meson setup build
	fi
	log "building build/"
	meson compile -C build
}

build_asan() {
	if [ ! -f build-asan/build.ninja ]; then
		log "configuring build-asan/ (clang, ASan+UBSan, libFuzzer)"
		CC=clang CXX=clang++ meson setup build-asan -Db_sanitize=address,undefined \
			-Db_lundef=false -Dfuzzer=true
	fi
	log "building build-asan/"
	meson compile -C build-asan
}

# Prints "N passed, N failed[, N skipped]" over the meson test logs given.
summarize() {
	python3 - "$@" <<'PY'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print("%d passed, %d failed" % (passed, failed) + (", %d skipped" % skipped if skipped else ""))
PY
}

cmd_test() {
	deps
	local rc=0
	build || rc=$?
	build_asan || rc=$?
	if [ $rc -ne 0 ]; then
		echo "build failed"
		echo "0 passed, 1 failed"
		return 1
	fi
	# CI counts its ASan build as the gate for memory errors: leaks fail too.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	log "tests, gcc build: unit, integration, fuzz, lint"
	meson test -C build --suite unit --suite integration --suite fuzz --suite lint \
		--print-errorlogs || rc=1
	log "tests, ASan+UBSan build: unit, integration, fuzz (libFuzzer)"
	meson test -C build-asan --suite unit --suite integration --suite fuzz \
		--print-errorlogs || rc=1
	summarize build/meson-logs/testlog.json build-asan/meson-logs/testlog.json
	return $rc
}

cmd_demo() {
	deps
	build
	local port=${SHARDLINE_DEMO_PORT:-4443} work
	work=$(mktemp -d /tmp/shardline-demo-XXXXXX)
	cat <<MSG

shardline demo
--------------
Starts shardlined (socket driver, 2 workers and an io lcore, loopback port $port, self-signed
certificate, admin socket and data directory in $work), then runs the fan-out benchmark against it: 1 publisher -> 100
subscribers, 60 fps, 4 KB frames, 60-frame groups, 10 s measured after a 2 s warm-up.
Every subscriber is a real QUIC connection; latency is publish-to-deliver per frame.
Then the durable side on the same daemon and port: a stream, 1 KiB records produced with
durable acknowledgements (synced object and metadata log), read back from the earliest offset,
beside the data directory's own pwrite+fdatasync.

MSG
	./build/control/shardlined --listen "127.0.0.1:$port" --workers 2 \
		--admin "$work/admin.sock" --data-dir "$work/data" >"$work/daemon.log" 2>&1 &
	DEMO_PID=$! DEMO_WORK=$work
	trap 'kill "$DEMO_PID" 2>/dev/null; wait "$DEMO_PID" 2>/dev/null; rm -rf "$DEMO_WORK"' EXIT
	for _ in $(seq 50); do
		[ -S "$work/admin.sock" ] && break
		kill -0 "$DEMO_PID" 2>/dev/null || { cat "$work/daemon.log"; exit 1; }
		sleep 0.1
	done
	head -1 "$work/daemon.log"
	mkdir -p build/bench-results
	local rc=0
	./build/bench/shardline-bench fanout "moq://127.0.0.1:$port" --subscribers 100 --fps 60 \
		--size 4096 --group-frames 60 --duration 10 --warmup 2 --admin "$work/admin.sock" \
		--plot build/bench-results/fanout-100.png || rc=$?
	echo
	echo "relay status after the run (shardctl status, abridged):"
	./build/control/shardctl --admin "$work/admin.sock" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
for w in s["workers"]:
    print("  worker %d (lcore %d): %d connections accepted, %d rx / %d tx packets, %d groups sent"
          % (w["worker"], w["lcore"], w["quic"]["conns_accepted"], w["rx_packets"], w["tx_packets"], w["groups_sent"]))'
	echo "latency CDF: build/bench-results/fanout-100.png"
	echo
	echo "durable partitions (shardline://127.0.0.1:$port, stream 'demo'):"
	python3 bench/durable_bench.py --demo "shardline://127.0.0.1:$port" --admin "$work/admin.sock" \
		--dir "$work/data" ./build/control/shardctl || rc=1
	echo "The full durable benchmark and the in-process benchmarks of the engines: ./run.sh bench"
	return $rc
}

cmd_bench() {
	deps
	build
	meson test -C build --suite bench --verbose
	log "JSON results in build/bench-results/"
}

case "${1:-}" in
demo) cmd_demo ;;
test) cmd_test ;;
deps) deps ;;
build) deps && build ;;
bench) cmd_bench ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
