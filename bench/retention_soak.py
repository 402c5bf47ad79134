#!/usr/bin/env python3
"""Retention soak: does the data directory stay bounded, and the restart time flat, while
producers write for a long time into a stream with a small retention?

  retention_soak.py SHARDLINED SHARDCTL [--minutes M] [--restart-every S] [--rate R]
                    [--out FILE]

shardlined (2 workers, 1 io lcore, log_gc_grace 5s) on loopback, in a fresh data directory
under $SL_BENCH_DIR (default /var/tmp); one stream `soak` with 4 partitions and
retention_bytes 1 MiB per partition. For M minutes (default 10) `shardctl produce` appends
100-byte records (16 requests in flight, 100 records each, `durable`) back to back, at R
records/s when --rate is given (as fast as acknowledged otherwise). Every 5 s
the sizes of DATA_DIR/objects and DATA_DIR/metalog are sampled with the GC's counters; every S
seconds (default 120) the daemon is stopped and started again, and the restart time is taken
from the process start to the first answer of `shardctl status`, beside the recovery time the
daemon logs.

The bound: retention keeps at least 1 MiB and at most 1 MiB plus one segment per partition;
objects dead and waiting for the grace period add at most what 5 s of producing writes. Prints
a table and writes JSON (--out, default build/bench-results/retention_soak.json). Never fails
on a figure: sizes and times are recorded, not tested.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dir_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, f))
            except OSError:
                pass  # deleted meanwhile
    return total


class Daemon:
    def __init__(self, shardlined, shardctl, work, data, port):
        self.args = [shardlined, "--listen", "127.0.0.1:%d" % port, "--workers", "2",
                     "--io-cores", "1", "--admin", os.path.join(work, "admin.sock"),
                     "--poll-idle-us", "200", "--data-dir", data, "--log-gc-grace", "5s"]
        self.shardctl = shardctl
        self.admin = os.path.join(work, "admin.sock")
        self.log = os.path.join(work, "daemon.log")
        self.proc = None

    def ctl(self, *args, check=True):
        return subprocess.run([self.shardctl, "--admin", self.admin] + list(args),
                              capture_output=True, text=True, check=check, timeout=60)

    def start(self):
        """Starts the daemon; returns (seconds until status answers, recovery ms logged)."""
        before = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=open(self.log, "a"),
                                     stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit("shardlined exited at start: see " + self.log)
            if os.path.exists(self.admin) and self.ctl("status", check=False).returncode == 0:
                break
            time.sleep(0.02)
        took = time.monotonic() - t0
        with open(self.log) as f:
            f.seek(before)
            m = re.findall(r"segment event\(s\) recovered .* in ([0-9.]+) ms", f.read())
        return took, float(m[-1]) if m else 0.0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shardlined")
    ap.add_argument("shardctl")
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--restart-every", type=float, default=120)
    ap.add_argument("--rate", type=int, default=0,
                    help="records/s of each produce run (0: as fast as acknowledged)")
    ap.add_argument("--out", default=os.path.join("build", "bench-results",
                                                  "retention_soak.json"))
    a = ap.parse_args()
    base = os.environ.get("SL_BENCH_DIR", "/var/tmp")
    work = tempfile.mkdtemp(prefix="sl-soak-", dir=base)
    data = os.path.join(work, "data")
    port = free_udp_port()
    d = Daemon(a.shardlined, a.shardctl, work, data, port)
    url = "shardline://127.0.0.1:%d" % port
    samples, restarts = [], []
    produced = 0
    try:
        took, rec_ms = d.start()
        restarts.append({"t_s": 0.0, "start_s": took, "recovery_ms": rec_ms})
        d.ctl("stream", "create", "soak", "--partitions", "4", "--retention-bytes", "1MiB")
        t0 = time.monotonic()
        end = t0 + a.minutes * 60
        next_sample = t0
        next_restart = t0 + a.restart_every
        while time.monotonic() < end:
            rate = ["--rate", str(a.rate)] if a.rate else []
            p = subprocess.run([a.shardctl, "produce", url, "soak", "--count", "20000",
                                "--size", "100", "--in-flight", "16", "--batch", "100"] + rate,
                               capture_output=True, text=True, timeout=300)
            m = re.search(r"produced (\d+) records", p.stderr + p.stdout)
            produced += int(m.group(1)) if m else 0
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 5
                gc = json.loads(d.ctl("status", "--json").stdout)["io"][0].get("gc", {})
                samples.append({"t_s": round(now - t0, 1), "produced": produced,
                                "objects_bytes": dir_bytes(os.path.join(data, "objects")),
                                "metalog_bytes": dir_bytes(os.path.join(data, "metalog")),
                                "objects_live": gc.get("objects_live"),
                                "objects_dead": gc.get("objects_dead"),
                                "gc_deleted": gc.get("gc_deleted")})
            if now >= next_restart and now < end:
                d.stop()
                took, rec_ms = d.start()
                restarts.append({"t_s": round(now - t0, 1), "start_s": took,
                                 "recovery_ms": rec_ms})
                next_restart = time.monotonic() + a.restart_every
    finally:
        d.stop()
        shutil.rmtree(work, ignore_errors=True)
    res = {"minutes": a.minutes, "records_produced": produced, "record_bytes": 100,
           "retention_bytes_per_partition": 1 << 20, "partitions": 4, "gc_grace_s": 5,
           "samples": samples, "restarts": restarts}
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    print("%8s %12s %14s %14s %8s %8s" % ("t_s", "produced", "objects_MiB", "metalog_MiB",
                                          "live", "dead"))
    for s in samples:
        print("%8.1f %12d %14.2f %14.2f %8s %8s" % (
            s["t_s"], s["produced"], s["objects_bytes"] / 2**20, s["metalog_bytes"] / 2**20,
            s["objects_live"], s["objects_dead"]))
    print("restarts (t_s, start s, recovery ms):")
    for r in restarts:
        print("  %8.1f %8.3f %10.1f" % (r["t_s"], r["start_s"], r["recovery_ms"]))
    if samples:
        print("objects dir max %.2f MiB, metalog dir max %.2f MiB over %d records produced" % (
            max(s["objects_bytes"] for s in samples) / 2**20,
            max(s["metalog_bytes"] for s in samples) / 2**20, produced))


main()
