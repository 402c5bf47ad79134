#!/usr/bin/env python3
"""Retention and the retention GC end to end, on a real daemon and data directory:

- a stream with retention_bytes 1 MiB (the minimum) gets several MiB: the oldest segments leave
  the index, their objects leave DATA_DIR/objects once log_gc_grace (1 s here) has passed, and
  what stays on disk is what status calls live;
- `shardctl consume --from 0` fails with "offset out of range, earliest is N", and
  `--from earliest` reads every record from the retained start on, with no gap;
- after a restart (with another worker count) the retained start is the same or higher and
  every record from it on is still there;
- a stream with retention_age 1 s (the minimum) drops what was flushed more than a second ago,
  except its newest segment.
Never a timing assertion: every wait polls with a deadline.
Usage: retention_test.py SHARDLINED SHARDCTL
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import Daemon, fail  # noqa: E402

SHARDLINED, SHARDCTL = sys.argv[1], sys.argv[2]


def start(work, data, workers):
    return Daemon(SHARDLINED, SHARDCTL, work,
                  extra=["--io-cores", "1", "--workers", str(workers), "--data-dir", data,
                         "--log-gc-grace", "1s"])


def url(d):
    return "shardline://127.0.0.1:%d" % d.udp


def run(d, *args, check=True):
    p = subprocess.run([SHARDCTL, "--admin", d.admin] + list(args), capture_output=True,
                       text=True, timeout=120)
    if check and p.returncode != 0:
        fail("shardctl %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def describe(d, stream):
    return json.loads(d.ctl("stream", "describe", stream, "--json"))["partitions"][0]


def batch_files(data):
    root = os.path.join(data, "objects", "data")
    out = []
    for dirpath, _, files in os.walk(root):
        out += [os.path.join(dirpath, f) for f in files if f.endswith(".batch")]
    return out


def wait_for(what, cond, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            fail("timed out waiting for " + what)
        time.sleep(0.1)


def gc_settled(d, data):
    """The GC deleted every dead object, and the directory holds exactly the live ones."""
    gc = d.status()["io"][0]["gc"]
    return gc["objects_dead"] == 0 and gc["gc_deleted"] > 0 and \
        len(batch_files(data)) == gc["objects_live"] and gc


def consume_all(d, stream, count):
    p = run(d, "consume", url(d), stream, "--from", "earliest", "--count", str(count),
            "--timeout", "30", "--json")
    lines = [json.loads(x) for x in p.stdout.splitlines()]
    recs, summary = lines[:-1], lines[-1]
    if summary["gaps"] != 0 or summary["duplicates"] != 0 or len(recs) != count:
        fail("consume from earliest: %s" % summary)
    return recs


def main():
    with tempfile.TemporaryDirectory(prefix="sl-retention-") as work:
        data = os.path.join(work, "data")
        d = start(work, data, 2)
        try:
            d.ctl("stream", "create", "bounded", "--partitions", "1", "--retention-bytes",
                  "1MiB")
            total = 40000  # 100-byte records: about 4 MiB of payload
            run(d, "produce", url(d), "bounded", "--count", str(total), "--size", "100",
                "--in-flight", "16", "--batch", "100")
            # Retention runs once a second on the owner worker; the GC deletes a grace later.
            part = wait_for("retention to move the start",
                            lambda: (lambda p: p if p["start_offset"] > 0 else None)(
                                describe(d, "bounded")))
            gc = wait_for("the GC to delete the expired objects", lambda: gc_settled(d, data))
            size = sum(os.path.getsize(f) for f in batch_files(data))
            part = describe(d, "bounded")
            if part["object_bytes"] < 1 << 20:
                fail("less than retention_bytes kept: %s" % part)
            if size >= 3 << 20:
                fail("%d bytes of objects left on disk for a 1 MiB retention (%s)" %
                     (size, gc))
            if gc["gc_bytes_deleted"] < 1 << 20:
                fail("the GC freed too little: %s" % gc)
            start_off = part["start_offset"]
            print("ok - retention_bytes 1MiB: start %d of %d, %d objects (%d bytes) on disk, "
                  "%d deleted" % (start_off, total, len(batch_files(data)), size,
                                  gc["gc_deleted"]))

            p = run(d, "consume", url(d), "bounded", "--from", "0", "--count", "1",
                    "--timeout", "10", check=False)
            want = "offset out of range, earliest is %d" % start_off
            if p.returncode == 0 or want not in p.stderr:
                fail("consume --from 0: exit %d, %r (want %r)" % (p.returncode, p.stderr, want))
            recs = consume_all(d, "bounded", total - start_off)
            if recs[0]["offset"] != start_off or recs[-1]["offset"] != total - 1:
                fail("--from earliest read %d..%d" % (recs[0]["offset"], recs[-1]["offset"]))
            print("ok - --from 0 is out of range naming %d; --from earliest reads %d records "
                  "from it" % (start_off, len(recs)))
            trim = d.status()["io"][0]["gc"]["metalog_trim_point"]
            if sum(trim.values()) == 0:
                fail("no metadata log trim point moved: %s" % trim)
        finally:
            d.stop()

        d = start(work, data, 3)
        try:
            part = describe(d, "bounded")
            if part["start_offset"] < start_off or part["durable_offset"] != total:
                fail("after the restart: %s (start was %d)" % (part, start_off))
            recs = consume_all(d, "bounded", total - part["start_offset"])
            if recs[0]["offset"] != part["start_offset"]:
                fail("after the restart, earliest read from %d" % recs[0]["offset"])
            print("ok - after a restart with 3 workers the start is %d and all %d records from "
                  "it are there" % (part["start_offset"], len(recs)))

            d.ctl("stream", "create", "young", "--partitions", "1", "--retention-age", "1s")
            run(d, "produce", url(d), "young", "--count", "50", "--size", "10")
            first = describe(d, "young")["durable_offset"]
            # The newest segment always stays, so a second produce, more than the age limit
            # later (a wait, not a measurement: later is as good), lets the first ones expire.
            time.sleep(1.1)
            run(d, "produce", url(d), "young", "--count", "5", "--size", "10")
            part = wait_for("retention by age", lambda: (lambda p: p if p["start_offset"] >=
                                                         first else None)(
                describe(d, "young")))
            p = run(d, "consume", url(d), "young", "--from", "0", "--count", "1",
                    "--timeout", "10", check=False)
            if p.returncode == 0 or "offset out of range, earliest is" not in p.stderr:
                fail("young --from 0: %r" % p.stderr)
            print("ok - retention_age 1s: start %d after %d records older than a second" %
                  (part["start_offset"], first))
        finally:
            d.stop()


main()
