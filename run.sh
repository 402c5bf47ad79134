#!/usr/bin/env bash
# shardline's entry point for operators trying it and for CI. Two commands:
#
#   ./run.sh demo   install what is missing, build, run the main job on the embedded default
#   ./run.sh test   install what is missing, build (normal + ASan/UBSan), run every CI suite
#
# Both are idempotent: packages already installed are skipped, builds are incremental.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# Debian 12 packages the build, the tests and the benchmarks need.
PACKAGES=(
	meson ninja-build pkg-config gcc g++ clang libclang-rt-14-dev clang-format python3 git
	libdpdk-dev liburing-dev libjemalloc-dev libngtcp2-dev libngtcp2-crypto-gnutls-dev
	libgnutls28-dev libzstd-dev libxxhash-dev libjansson-dev libconfig-dev
	libcmocka-dev libbenchmark-dev iproute2 util-linux
)

usage() {
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
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
	cat <<'MSG'

shardline demo
--------------
The relay (QUIC + moq-lite on the socket driver) is not built yet: it is the next issue. Until
it lands, this demo runs the in-process fan-out benchmark of the live track engine, the core of
the relay's fan-out path: one publisher writes 1200-byte frames in 60-frame groups, N
subscribers on the same core read every frame through the same waiter-driven poll loop a shard
runs. Figures are per delivered frame per subscriber.

MSG
	mkdir -p build/bench-results
	./build/bench/track_bench --benchmark_min_time=0.5 \
		--benchmark_out=build/bench-results/demo.json --benchmark_out_format=json \
		--benchmark_counters_tabular=true
	python3 - build/bench-results/demo.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("\nsummary (%s, %d cpus @ %.0f MHz)" % (r["context"]["date"], r["context"]["num_cpus"], r["context"]["mhz_per_cpu"]))
for b in r["benchmarks"]:
    n = b["name"]
    if n.startswith("bm_track_fanout"):
        print("  fan-out to %6d consumers: %6.1f ns per delivered frame, %.0f payload bytes copied per delivery"
              % (b["consumers"], b["ns_per_delivery"] * 1e9, b["copied_bytes_per_delivery"]))
    elif n.startswith("bm_track_insert"):
        kind = "age" if "evict" in n else "byte budget"
        print("  group insert + %s eviction at 10 000 cached groups: %.1f ns" % (kind, b["ns_per_insert"] * 1e9))
    elif n == "bm_track_memory":
        print("  memory: %.0f B per cached group (%.0f B with one frame), %.0f B state + %.0f B heap per consumer"
              % (b["bytes_per_empty_group"], b["bytes_per_1frame_group"], b["consumer_state_bytes"], b["heap_bytes_per_consumer"]))
print("JSON: " + sys.argv[1])
PY
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
