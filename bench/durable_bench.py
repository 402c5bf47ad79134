#!/usr/bin/env python3
"""Durable partitions against the disk they sit on, measured in one run.

  durable_bench.py SHARDLINED SHARDCTL [--out FILE] [--backlog-mib N] [--rounds N]
  durable_bench.py --demo URL --admin SOCK --dir DATA_DIR SHARDCTL

--demo is the short version `./run.sh demo` prints: against a running daemon, a stream `demo`,
1 KiB records with durable acknowledgements from one producer at 1 and 64 in flight, read
back from the earliest offset and checked, beside the fdatasync of the daemon's data directory.

1. The disk's own figures, in the directory the daemon uses ($SL_BENCH_DIR, default
   /var/tmp): 1 KiB pwrite + fdatasync in a loop (rate, p50, p99, p99.9) and a cold
   sequential read of a large file (MB/s; the page cache is dropped first when root).
2. shardlined (2 workers, 1 io lcore) on loopback: `shardctl produce` of 1 KiB records with
   durable acknowledgements, one producer, 1, 16 and 256 requests in flight (records/s, ack
   latency p50, p99, p99.9). The disk is measured again after, and each round alternates, so
   the ratios compare figures taken minutes apart at most.
3. A backlog: N MiB (default 1024) produced into one partition with applied durability, the
   daemon restarted (its memory empty) and the page cache dropped, then read from the earliest
   offset with `shardctl consume` (MB/s), beside the disk's cold sequential read.

Prints a table and writes JSON (--out, default build/bench-results/durable.json). Never
fails on a figure: timings are recorded, not tested.
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return 0.0
    k = min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))
    return xs[k]


def disk_fdatasync(d, n=3000):
    """1 KiB appends, each followed by fdatasync: what one durable write costs this disk."""
    path = os.path.join(d, "fdatasync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    buf = os.urandom(1024)
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        a = time.perf_counter()
        os.pwrite(fd, buf, i * 1024)
        os.fdatasync(fd)
        lat.append((time.perf_counter() - a) * 1e6)
    total = time.perf_counter() - t0
    os.close(fd)
    os.unlink(path)
    return {"per_s": n / total, "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99),
            "p999_us": percentile(lat, 99.9)}


def disk_create_direct(d, n=1000):
    """What the local object store does for one batch object (CREATE_DIRECT): create a new file,
    write 1 KiB and an extended attribute, fsync the file, fsync its directory. The floor under
    a durable acknowledgement on this disk, besides the metadata log's fdatasync beside it."""
    sub = os.path.join(d, "create-probe")
    os.makedirs(sub, exist_ok=True)
    dfd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
    buf = os.urandom(1024)
    lat = []
    t0 = time.perf_counter()
    for i in range(n):
        a = time.perf_counter()
        fd = os.open(os.path.join(sub, "o%06d" % i), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.pwrite(fd, buf, 0)
        os.setxattr(fd, "user.sl.etag", b"0123456789abcdef")
        os.fsync(fd)
        os.fsync(dfd)
        lat.append((time.perf_counter() - a) * 1e6)
        os.close(fd)
    total = time.perf_counter() - t0
    os.close(dfd)
    shutil.rmtree(sub, ignore_errors=True)
    return {"per_s": n / total, "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99),
            "p999_us": percentile(lat, 99.9)}


def drop_caches():
    try:
        subprocess.run(["sync"], check=False)
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def disk_seqread(d, mib):
    """A file of mib MiB, written and synced, then read cold in 1 MiB reads."""
    path = os.path.join(d, "seqread-probe")
    chunk = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    cold = drop_caches()
    t0 = time.perf_counter()
    got = 0
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            got += len(b)
    secs = time.perf_counter() - t0
    os.unlink(path)
    return {"mb_per_s": got / secs / 1e6, "bytes": got, "cold": cold}


class Daemon:
    def __init__(self, exe, ctl, work):
        self.exe, self.ctl, self.work = exe, ctl, work
        self.admin = os.path.join(work, "admin.sock")
        self.proc = None
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.url = "shardline://127.0.0.1:%d" % self.port

    def start(self):
        log = open(os.path.join(self.work, "daemon.log"), "a")
        self.proc = subprocess.Popen(
            [self.exe, "--listen", "127.0.0.1:%d" % self.port, "--workers", "2",
             "--admin", self.admin, "--data-dir", os.path.join(self.work, "data")],
            stdout=log, stderr=log)
        for _ in range(100):
            if os.path.exists(self.admin) and self.call(["status"]).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("shardlined did not start: see %s/daemon.log" % self.work)

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
            self.proc = None

    def call(self, args, **kw):
        return subprocess.run([self.ctl, "--admin", self.admin] + args, capture_output=True,
                              text=True, **kw)

    def status(self):
        return json.loads(self.call(["status", "--json"]).stdout)


def produce(dm, stream, count, size, in_flight, durability, batch=1):
    r = dm.call(["produce", dm.url, stream, "--partition", "0", "--count", str(count), "--size",
                 str(size), "--in-flight", str(in_flight), "--durability", durability,
                 "--batch", str(batch), "--json"], timeout=3600)
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "{}"
    summary = json.loads(last)
    if r.returncode != 0 or summary.get("failed", 1) != 0:
        raise SystemExit("produce failed: %s %s" % (r.stderr[-500:], last))
    return summary


def cpu_ns(dm):
    """The daemon's CPU time so far (user + system), from /proc."""
    with open("/proc/%d/stat" % (dm.proc.pid if dm.proc else dm.pid)) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    hz = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) * 1e9 / hz


class Attached(Daemon):
    """A daemon someone else started."""

    def __init__(self, ctl, admin, url):
        self.ctl, self.admin, self.url, self.proc = ctl, admin, url, None
        self.pid = self.status()["pid"]


def demo(a):
    dm = Attached(os.path.abspath(a.shardctl), a.admin, a.demo)
    r = dm.call(["stream", "create", "demo", "--partitions", "1"])
    if r.returncode != 0:
        raise SystemExit("stream create failed: %s" % r.stderr.strip())
    produce(dm, "demo", 200, 1024, 16, "durable")  # warm-up: connection, first objects
    disk = disk_fdatasync(a.dir, 1000)
    runs = []
    for k, n in ((1, 1000), (64, 20000)):
        c0 = cpu_ns(dm)
        s = produce(dm, "demo", n, 1024, k, "durable")
        s["in_flight"] = k
        s["cpu"] = (cpu_ns(dm) - c0) / 1e3 / n
        runs.append(s)
    total = 200 + sum(s["acked"] for s in runs)
    t0 = time.perf_counter()
    r = subprocess.run([dm.ctl, "consume", dm.url, "demo", "--from", "earliest", "--count",
                        str(total), "--timeout", "30", "--json"], capture_output=True,
                       text=True, timeout=120)
    secs = time.perf_counter() - t0
    lines = r.stdout.strip().splitlines()
    summ = json.loads(lines[-1]) if lines else {}
    print("disk (the data directory): 1 KiB pwrite+fdatasync %.0f/s, p50 %.0f us, p99 %.0f us"
          % (disk["per_s"], disk["p50_us"], disk["p99_us"]))
    print("durable produce, 1 KiB records, one producer:")
    for s in runs:
        print("  %3d in flight: %7.0f records/s, ack p50 %5d us, p99 %6d us (%.1fx the disk's "
              "p99), daemon CPU %.0f us/record" % (s["in_flight"], s["records_per_s"],
                                                  s["p50_us"], s["p99_us"],
                                                  s["p99_us"] / max(disk["p99_us"], 1), s["cpu"]))
    ok = (r.returncode == 0 and summ.get("records") == total and summ.get("gaps") == 0
          and summ.get("duplicates") == 0)
    print("read back from earliest: %d of %d records, %d gaps, %d duplicates, in %.2f s%s" % (
        summ.get("records", 0), total, summ.get("gaps", -1), summ.get("duplicates", -1), secs,
        "" if ok else " -- FAILED: " + r.stderr.strip()[-300:]))
    return 0 if ok else 1


def main():
    if "--demo" in sys.argv:
        ap = argparse.ArgumentParser()
        ap.add_argument("--demo", required=True, metavar="URL")
        ap.add_argument("--admin", required=True)
        ap.add_argument("--dir", required=True)
        ap.add_argument("shardctl")
        sys.exit(demo(ap.parse_args()))
    ap = argparse.ArgumentParser()
    ap.add_argument("shardlined")
    ap.add_argument("shardctl")
    ap.add_argument("--out", default=os.path.join("build", "bench-results", "durable.json"))
    ap.add_argument("--backlog-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    base = os.environ.get("SL_BENCH_DIR", "/var/tmp")
    work = tempfile.mkdtemp(prefix="sl-durable-bench-", dir=base)
    dm = Daemon(os.path.abspath(a.shardlined), os.path.abspath(a.shardctl), work)
    result = {"dir": base, "rounds": []}
    try:
        dm.start()
        if dm.call(["stream", "create", "bench", "--partitions", "1"]).returncode != 0:
            raise SystemExit("stream create failed")
        # Warm-up: connections, the first objects, the page cache of the log.
        produce(dm, "bench", 500, 1024, 16, "durable")
        for rnd in range(a.rounds):
            entry = {"disk_before": disk_fdatasync(work), "create_before": disk_create_direct(work)}
            runs = []
            order = [1, 16, 256] if rnd % 2 == 0 else [256, 16, 1]
            for k in order:
                n = {1: 2000, 16: 20000, 256: 100000}[k]
                c0 = cpu_ns(dm)
                s = produce(dm, "bench", n, 1024, k, "durable")
                s["in_flight"] = k
                s["daemon_cpu_us_per_record"] = (cpu_ns(dm) - c0) / 1e3 / n
                runs.append(s)
            entry["produce"] = sorted(runs, key=lambda x: x["in_flight"])
            entry["disk_after"] = disk_fdatasync(work)
            result["rounds"].append(entry)

        # The backlog: large records, applied acknowledgements (the backlog's size matters
        # here, not the acknowledgement), then a restart so every read comes from objects.
        mib = a.backlog_mib
        size = 64 << 10
        count = mib * (1 << 20) // size
        if dm.call(["stream", "create", "backlog", "--partitions", "1", "--max-record-bytes",
                    str(size)]).returncode != 0:
            raise SystemExit("stream create backlog failed")
        t0 = time.perf_counter()
        produce(dm, "backlog", count, size, 64, "applied")
        # Wait until everything is durable (flushed and indexed).
        for _ in range(600):
            desc = json.loads(dm.call(["stream", "describe", "backlog", "--json"]).stdout)
            p = desc["partitions"][0]
            if p["durable_offset"] == count:
                break
            time.sleep(0.1)
        result["backlog_write_s"] = time.perf_counter() - t0
        result["backlog_objects"] = p["objects"]
        result["backlog_object_bytes"] = p["object_bytes"]
        dm.stop()
        cold = drop_caches()
        dm.start()
        t0 = time.perf_counter()
        r = subprocess.run([dm.ctl, "consume", dm.url, "backlog", "--from", "earliest",
                            "--count", str(count)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=3600)
        secs = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit("consume failed: %s" % r.stderr[-500:])
        result["backlog_read"] = {"records": count, "bytes": count * size, "seconds": secs,
                                  "mb_per_s": count * size / secs / 1e6, "cold": cold,
                                  "consumer_summary": r.stderr.strip().splitlines()[-1]}
        result["disk_seqread"] = disk_seqread(work, mib)
        st = dm.status()
        result["fetches_from_objects"] = sum(w["durable"]["fetches_from_objects"]
                                             for w in st["workers"])
    finally:
        dm.stop()
        shutil.rmtree(work, ignore_errors=True)

    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print("durable produce, 1 KiB records, durable acks, one producer (disk: pwrite+fdatasync)")
    print("%-6s %-9s %10s %9s %9s %9s %12s %22s" % ("round", "in-flight", "records/s", "p50 us",
                                                    "p99 us", "p99.9 us", "cpu us/rec",
                                                    "disk p50/p99/p99.9 us"))
    for i, e in enumerate(result["rounds"]):
        d = e["disk_before"]
        for s in e["produce"]:
            print("%-6d %-9d %10.0f %9d %9d %9d %12.1f %8.0f/%.0f/%.0f" % (
                i, s["in_flight"], s["records_per_s"], s["p50_us"], s["p99_us"], s["p999_us"],
                s["daemon_cpu_us_per_record"], d["p50_us"], d["p99_us"], d["p999_us"]))
        print("       disk: %.0f fdatasync/s before, %.0f after; p99 %.0f / %.0f us" % (
            e["disk_before"]["per_s"], e["disk_after"]["per_s"], e["disk_before"]["p99_us"],
            e["disk_after"]["p99_us"]))
        c = e["create_before"]
        print("       object create+fsync+dir fsync (CREATE_DIRECT's syscalls): %.0f/s, "
              "p50/p99/p99.9 %.0f/%.0f/%.0f us" % (c["per_s"], c["p50_us"], c["p99_us"],
                                                   c["p999_us"]))
    b = result["backlog_read"]
    print("backlog read: %d MiB from %d objects in %.1f s = %.0f MB/s; disk sequential read "
          "%.0f MB/s (cold: %s)" % (b["bytes"] >> 20, result["backlog_objects"], b["seconds"],
                                     b["mb_per_s"], result["disk_seqread"]["mb_per_s"],
                                     result["disk_seqread"]["cold"]))
    print("JSON: %s" % a.out)


if __name__ == "__main__":
    main()
