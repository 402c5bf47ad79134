#!/usr/bin/env python3
"""Runs the fan-out benchmark with its in-process relay and checks what it delivered, never how
fast it was.

`shardline-bench fanout --inproc MODE` starts the EAL, one relay worker and the clients in one
process; in dpdk mode both sides run the DPDK driver over ring-backed ethdevs, resolving each
other by ARP over the rings. The run must deliver (nearly) every frame, in order, and the worker
must have transmitted through its port.
Usage: bench_inproc_test.py SHARDLINE_BENCH MODE
"""
import json
import subprocess
import sys


def main():
    binary, mode = sys.argv[1], sys.argv[2]
    cmd = [binary, "fanout", "--inproc", mode, "--subscribers", "20", "--fps", "30",
           "--size", "1200", "--duration", "2", "--warmup", "1", "--json"]
    print("running: " + " ".join(cmd), flush=True)
    run = subprocess.run(cmd, stdout=subprocess.PIPE, timeout=120, text=True)
    print(run.stdout, end="")
    lines = [l for l in run.stdout.splitlines() if l.startswith("{")]
    if not lines:
        print("FAIL: no JSON result (exit status %d)" % run.returncode)
        sys.exit(1)
    r = json.loads(lines[-1])
    checks = [
        ("mode is %s" % mode, r.get("mode") == mode),
        ("no frame out of order", r["out_of_order"] == 0),
        ("delivered >= 99%% of %d" % r["expected"], r["delivered"] >= 0.99 * r["expected"]),
        ("the worker transmitted", r.get("worker_tx_packets", 0) > 0),
        ("exit status 0", run.returncode == 0),
    ]
    failed = False
    for name, ok in checks:
        print("%s %s" % ("ok" if ok else "FAIL", name))
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
