#!/usr/bin/env python3
"""shardline-bench append against a real shardlined with a data directory, and against Redis
and JetStream when their servers can be started: what it acknowledged and reported, never how
fast.

1. Usage errors exit 2 with a message naming what was wrong (a bad --durability, a URL of
   another scheme, a stream that does not exist without --admin).
2. 2 producers x 4 in flight, durable acknowledgements, for 2 s after 1 s of warm-up: the
   stream is created through --admin, the JSON has acknowledged > 0, failed 0, ordered
   percentiles, the daemon's CPU per record, and the records are in the stream (HWM).
3. --e2e at a steady rate: the subscriber received records and reports their latency.
4. One peer at a time, when its server is installed: redis-server (appendfsync always) and
   nats-server -js, each on a free loopback port in the test's folder; skipped otherwise
   (or when shardline-bench was built without its client).
Usage: bench_append_test.py SHARDLINED SHARDCTL SHARDLINE_BENCH
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import Daemon, fail, free_port, stop_proc  # noqa: E402

LAT_KEYS = ["p50", "p90", "p99", "p999", "max"]


def run(cmd, timeout=60):
    print("running: " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    return r


def check_report(r, system, producers, in_flight, cpu):
    if r.returncode != 0:
        fail("%s: exit %d" % (system, r.returncode))
    j = json.loads(r.stdout.strip().splitlines()[-1])
    for k, v in (("system", system), ("producers", producers), ("in_flight", in_flight),
                 ("size", 256), ("failed", 0), ("duration_s", 2), ("warmup_s", 1)):
        if j.get(k) != v:
            fail("%s: %s is %r, want %r" % (system, k, j.get(k), v))
    if j["acknowledged"] <= 0:
        fail("%s: nothing acknowledged" % system)
    if abs(j["records_per_s"] * j["duration_s"] - j["acknowledged"]) > 1:
        fail("%s: records_per_s %r does not match %d acknowledged in %d s" % (
            system, j["records_per_s"], j["acknowledged"], j["duration_s"]))
    lat = [j["latency_us"][k] for k in LAT_KEYS]
    if lat != sorted(lat) or lat[-1] <= 0:
        fail("%s: latency percentiles out of order: %r" % (system, j["latency_us"]))
    if cpu and not (isinstance(j["server_cpu_us_per_record"], float)
                    and j["server_cpu_us_per_record"] >= 0):
        fail("%s: no server CPU per record: %r" % (system, j["server_cpu_us_per_record"]))
    return j


def wait_port(proc, port, what, log):
    import socket
    for _ in range(100):
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    print("%s did not start:\n%s" % (what, open(log).read()[-2000:]))
    return False


def peer(bench, work, name, argv, url_fmt, results):
    exe = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/usr/local/sbin")
    if exe is None:
        print("skip %s: %s is not installed" % (name, argv[0]))
        return
    port = free_port()
    d = os.path.join(work, name)
    os.makedirs(d)
    log = os.path.join(d, "server.log")
    cmd = [exe] + [a.replace("PORT", str(port)).replace("DIR", d) for a in argv[1:]]
    proc = subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        if not wait_port(proc, port, name, log):
            fail("%s did not start" % name)
        r = run([bench, "append", url_fmt % port, "--stream", "smoke", "--producers", "2",
                 "--in-flight", "4", "--partitions", "2", "--size", "256", "--duration", "2",
                 "--warmup", "1", "--server-pid", str(proc.pid), "--json"])
        if r.returncode == 2 and "not built in" in r.stderr:
            print("skip %s: shardline-bench was built without its client" % name)
            return
        results[name] = check_report(r, {"redis": "redis", "nats": "jetstream"}[name], 2, 4,
                                     True)
    finally:
        stop_proc(proc)


def main():
    shardlined, shardctl, bench = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="sl-bench-append-")
    d = None
    try:
        # 1. Usage errors: exit 2, the message names what was wrong.
        for args, want in (
                (["shardline://127.0.0.1:1", "--stream", "s", "--durability", "fsync"],
                 "--durability: 'fsync' is not applied, written or durable"),
                (["kafka://127.0.0.1:9092", "--stream", "s"],
                 "is not a shardline://, redis:// or nats://HOST:PORT URL"),
                (["redis://127.0.0.1:6379", "--stream", "s", "--durability", "durable"],
                 "--durability is shardline://'s")):
            r = run([bench, "append"] + args)
            if r.returncode != 2 or want not in r.stderr:
                fail("append %s: exit %d, stderr %r; want 2 and %r" % (
                    " ".join(args), r.returncode, r.stderr, want))

        d = Daemon(shardlined, shardctl, work,
                   extra=["--io-cores", "1", "--data-dir", os.path.join(work, "data")])
        url = "shardline://127.0.0.1:%d" % d.udp
        r = run([bench, "append", url, "--stream", "missing", "--duration", "1", "--warmup",
                 "0"])
        if r.returncode != 2 or "no stream named missing" not in r.stderr:
            fail("a missing stream without --admin: exit %d, %r" % (r.returncode, r.stderr))

        # 2. The daemon: the stream is created through --admin.
        r = run([bench, "append", url, "--stream", "smoke", "--partitions", "2",
                 "--producers", "2", "--in-flight", "4", "--size", "256", "--durability",
                 "durable", "--duration", "2", "--warmup", "1", "--admin", d.admin,
                 "--json", "--plot", os.path.join(work, "cdf.png")])
        j = check_report(r, "shardline", 2, 4, True)
        if j["partitions"] != 2 or j["durability"] != "durable":
            fail("partitions %r, durability %r" % (j["partitions"], j["durability"]))
        if not os.path.exists(os.path.join(work, "cdf.png.dat")):
            fail("--plot wrote no data file")
        desc = json.loads(d.ctl("stream", "describe", "smoke", "--json"))
        hwm = sum(p["next_offset"] for p in desc["partitions"])
        if hwm < j["acknowledged"]:
            fail("the stream holds %d records, fewer than the %d acknowledged in the window"
                 % (hwm, j["acknowledged"]))

        # 3. End to end at a steady rate.
        r = run([bench, "append", url, "--stream", "smoke", "--in-flight", "8", "--size",
                 "256", "--rate", "200", "--e2e", "--duration", "2", "--warmup", "1",
                 "--json"])
        if r.returncode != 0:
            fail("--e2e: exit %d" % r.returncode)
        e = json.loads(r.stdout.strip().splitlines()[-1])["e2e"]
        if e["records"] <= 0 or e["rate"] != 200:
            fail("--e2e received nothing: %r" % e)
        lat = [e[k] for k in LAT_KEYS]
        if lat != sorted(lat):
            fail("--e2e percentiles out of order: %r" % e)
        d.stop()
        d = None

        # 4. The peers, where their servers can be started.
        results = {}
        peer(bench, work, "redis",
             ["redis-server", "--port", "PORT", "--bind", "127.0.0.1", "--dir", "DIR",
              "--appendonly", "yes", "--appendfsync", "always", "--save", "",
              "--daemonize", "no"], "redis://127.0.0.1:%d", results)
        peer(bench, work, "nats", ["nats-server", "-a", "127.0.0.1", "-p", "PORT", "-js",
                                   "-sd", "DIR"], "nats://127.0.0.1:%d", results)
        print("OK: shardline%s" % "".join(", " + k for k in results))
    finally:
        if d:
            d.stop(check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
