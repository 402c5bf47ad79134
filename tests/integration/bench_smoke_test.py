#!/usr/bin/env python3
"""Runs a benchmark binary briefly and checks what it reports, never how fast it was.

The point is that benchmarks keep building and keep measuring the right thing: no benchmark
reports an error (they flag missed deliveries and drifting caches themselves), every expected
benchmark ran, and the zero-copy counters are zero.
Usage: bench_smoke_test.py BINARY NAME [NAME...]
"""
import json
import subprocess
import sys
import tempfile


def main():
    binary, names = sys.argv[1], sys.argv[2:]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([binary, "--benchmark_min_time=0.01",
                        "--benchmark_out=" + out.name, "--benchmark_out_format=json"],
                       check=True, stdout=subprocess.DEVNULL)
        report = json.load(open(out.name))
    seen = set()
    failed = False
    for b in report["benchmarks"]:
        seen.add(b["name"].split("/")[0])
        if b.get("error_occurred"):
            print("FAIL %s: %s" % (b["name"], b.get("error_message")))
            failed = True
        for key, value in b.items():
            if key.startswith("copied_bytes") and value != 0:
                print("FAIL %s: %s = %s" % (b["name"], key, value))
                failed = True
        print("ok %s" % b["name"])
    for n in names:
        if n not in seen:
            print("FAIL: benchmark %s did not run" % n)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
