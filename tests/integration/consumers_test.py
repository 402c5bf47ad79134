#!/usr/bin/env python3
"""Named consumers end to end (docs/durable.md, "Named consumers"): shardctl consume --name
commits its positions, the daemon keeps them across a restart, a second consumer with the same
name fences the first (exit status 4), stream describe lists the positions and the lag, status
counts commits, and deleting the stream deletes the consumers' objects.

usage: consumers_test.py SHARDLINED SHARDCTL
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sltest  # noqa: E402
from sltest import fail  # noqa: E402

SHARDLINED, SHARDCTL = sys.argv[1], sys.argv[2]


def start(work, data):
    return sltest.Daemon(SHARDLINED, SHARDCTL, work,
                         extra=("--io-cores", "1", "--data-dir", data))


def url(d):
    return "shardline://127.0.0.1:%d" % d.udp


def shardctl(d, *args, check=True, timeout=60):
    p = subprocess.run([SHARDCTL, "--admin", d.admin] + list(args), capture_output=True,
                       text=True, timeout=timeout)
    if check and p.returncode != 0:
        fail("shardctl %s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr))
    return p


def produce(d, partition, values):
    p = subprocess.run([SHARDCTL, "produce", url(d), "orders", "--stdin", "--partition",
                        str(partition)], input="".join(v + "\n" for v in values),
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        fail("produce: %s" % p.stderr)


def consume(d, *args, timeout=60):
    """Runs shardctl consume --json; returns (records, summary, process)."""
    p = subprocess.run([SHARDCTL, "consume", url(d), "orders", "--json"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return [x for x in lines if "offset" in x], (lines[-1] if lines else {}), p


def consumers(d):
    return json.loads(shardctl(d, "stream", "describe", "orders", "--json").stdout)["consumers"]


def status_sum(d, key):
    return sum(w.get("durable", {}).get(key, 0) for w in d.status()["workers"])


def main():
    work = tempfile.mkdtemp(prefix="sl-consumers-test-")
    data = os.path.join(work, "data")
    d = start(work, data)
    try:
        shardctl(d, "stream", "create", "orders", "--partitions", "2")
        produce(d, 0, ["a%d" % i for i in range(10)])
        produce(d, 1, ["b%d" % i for i in range(5)])

        # Read 6 records of partition 0 as "billing": the position 6 is committed at exit.
        recs, summary, p = consume(d, "--name", "billing", "--partition", "0", "--count", "6")
        if p.returncode != 0:
            fail("consume --name: exit %d: %s" % (p.returncode, p.stderr))
        if [r["value"] for r in recs] != ["a%d" % i for i in range(6)]:
            fail("first read: %s" % recs)
        if summary.get("committed") != {"0": 6}:
            fail("summary's committed positions: %s" % summary)
        cons = consumers(d)
        if len(cons) != 1 or cons[0]["name"] != "billing" or cons[0]["partitions"] != [
                {"partition": 0, "epoch": 1, "committed_offset": 6, "lag": 4}]:
            fail("describe after the first read: %s" % cons)
        text = shardctl(d, "stream", "describe", "orders").stdout
        if "CONSUMER" not in text or "billing" not in text:
            fail("describe's text has no consumers table:\n%s" % text)
        print("ok - consume --name commits its position; describe lists it with the lag")

        # A restart keeps the position and the epoch.
        d.stop()
        d = start(work, data)
        cons = consumers(d)
        if cons[0]["partitions"][0].get("committed_offset") != 6:
            fail("describe after the restart: %s" % cons)
        recs, summary, p = consume(d, "--name", "billing", "--partition", "0", "--count", "4")
        if p.returncode != 0 or [r["offset"] for r in recs] != [6, 7, 8, 9]:
            fail("resume after the restart: exit %d, %s; %s" % (p.returncode, recs, p.stderr))
        if [r["value"] for r in recs] != ["a6", "a7", "a8", "a9"]:
            fail("resumed values: %s" % recs)
        if consumers(d)[0]["epoch"] != 2:
            fail("the epoch did not survive the restart: %s" % consumers(d))
        print("ok - after a restart the same name resumes right after its commit")

        # --from committed-or-latest with no commit starts at the end; earliest ignores it.
        recs, _, p = consume(d, "--name", "fresh", "--from", "committed-or-latest",
                             "--timeout", "1")
        if p.returncode != 0 or recs:
            fail("a new name from committed-or-latest read %s (%s)" % (recs, p.stderr))
        recs, _, p = consume(d, "--name", "fresh", "--from", "earliest", "--partition", "1",
                             "--count", "5")
        if [r["value"] for r in recs] != ["b%d" % i for i in range(5)]:
            fail("--from earliest with a name: %s" % recs)

        # Two consumers with the same name: the newer fences the older, which exits with 4.
        older = subprocess.Popen([SHARDCTL, "consume", url(d), "orders", "--name", "shared",
                                  "--timeout", "60", "--commit-interval", "100"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while not any(c["name"] == "shared" and
                      all(p.get("committed_offset") is not None for p in c["partitions"]) and
                      len(c["partitions"]) == 2 for c in consumers(d)):
            if time.monotonic() > deadline or older.poll() is not None:
                fail("the first 'shared' consumer did not commit: %s" % consumers(d))
            time.sleep(0.05)
        recs, summary, newer = consume(d, "--name", "shared", "--timeout", "2")
        try:
            rc = older.wait(timeout=20)
        except subprocess.TimeoutExpired:
            sltest.stop_proc(older)
            fail("the older consumer was not fenced")
        err = older.stderr.read()
        if rc != 4 or "fenced by a newer consumer named shared" not in err:
            fail("the older consumer: exit %d, stderr %s" % (rc, err))
        if newer.returncode != 0 or recs:
            fail("the newer consumer: exit %d, %s, %s" % (newer.returncode, recs, newer.stderr))
        shared = [c for c in consumers(d) if c["name"] == "shared"][0]
        if shared["epoch"] != 2:
            fail("epochs after fencing: %s" % shared)
        print("ok - a second consumer of the same name fences the first (exit status 4)")

        if status_sum(d, "commits") < 3 or status_sum(d, "consumers") < 3:
            fail("status counters: commits %d consumers %d" %
                 (status_sum(d, "commits"), status_sum(d, "consumers")))
        if status_sum(d, "fetches_fenced") + status_sum(d, "commits_refused_fenced") < 1:
            fail("status counted no fenced fetch or commit")
        print("ok - status counts commits, consumers and fencing")

        # Bad input is refused with a message, not a crash.
        p = subprocess.run([SHARDCTL, "consume", url(d), "orders", "--name", "bad/name"],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 2 or "--name" not in p.stderr:
            fail("a bad name: exit %d: %s" % (p.returncode, p.stderr))
        p = subprocess.run([SHARDCTL, "consume", url(d), "orders", "--from", "committed"],
                           capture_output=True, text=True, timeout=20)
        if p.returncode != 2 or "needs --name" not in p.stderr:
            fail("--from committed without --name: exit %d: %s" % (p.returncode, p.stderr))
        print("ok - bad names and options are usage errors")

        # shardctl consumer delete forgets one consumer, in every partition.
        out = shardctl(d, "consumer", "delete", "orders", "fresh").stdout
        if "deleted consumer fresh of stream orders (2 partition positions)" not in out:
            fail("consumer delete said: %s" % out)
        if any(c["name"] == "fresh" for c in consumers(d)):
            fail("describe still lists the deleted consumer: %s" % consumers(d))
        p = shardctl(d, "consumer", "delete", "orders", "fresh", check=False)
        if p.returncode != 1 or "no consumer named fresh" not in p.stderr:
            fail("deleting it again: exit %d: %s" % (p.returncode, p.stderr))
        recs, _, p = consume(d, "--name", "fresh", "--partition", "1", "--count", "5")
        if [r["offset"] for r in recs] != [0, 1, 2, 3, 4]:
            fail("a deleted consumer does not start afresh: %s" % recs)
        print("ok - consumer delete forgets a consumer's positions")

        # Deleting the stream deletes its consumers' positions.
        cdir = os.path.join(data, "objects", "consumers")
        if not any(files for _, _, files in os.walk(cdir)):
            fail("no consumer objects under %s" % cdir)
        shardctl(d, "stream", "delete", "orders")
        deadline = time.monotonic() + 10
        while any(files for _, _, files in os.walk(cdir)):
            if time.monotonic() > deadline:
                fail("consumer objects left after the stream was deleted: %s" %
                     [f for _, _, f in os.walk(cdir)])
            time.sleep(0.05)
        print("ok - deleting the stream deletes its consumers")

        # A damaged position object stops the start with a message naming it: a position is
        # never dropped silently.
        created = json.loads(shardctl(d, "stream", "create", "s2", "--partitions", "1",
                                      "--json").stdout)["stream"]
        d.stop()
        bad = os.path.join(cdir, str(created["id"]), "billing")
        os.makedirs(bad, exist_ok=True)
        with open(os.path.join(bad, "0"), "wb") as f:
            f.write(b"not a position")
        p = subprocess.run([SHARDLINED, "--listen", "127.0.0.1:%d" % sltest.free_port(
            sltest.socket.SOCK_DGRAM), "--workers", "2", "--io-cores", "1", "--data-dir", data,
                            "--admin", os.path.join(work, "bad.sock")],
                           capture_output=True, text=True, timeout=60)
        want = "consumers/%d/billing/0" % created["id"]
        if p.returncode == 0 or want not in p.stderr:
            fail("a damaged position: exit %d: %s" % (p.returncode, p.stderr[-2000:]))
        print("ok - a damaged position object stops the start and is named")
    finally:
        d.stop(check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
