#!/usr/bin/env python3
"""shardctl's own WebSocket client (ws:// and wss:// URLs: moq-lite over qmux) against
shardlined's TCP listener, with TLS off and on, beside raw QUIC on the same daemon.

1. For moq-lite-05 and -04: `shardctl pub` over QUIC -> `shardctl sub` over the WebSocket, and
   `shardctl pub` over the WebSocket -> `shardctl sub` over QUIC; every line arrives, in order.
2. A slow WebSocket subscriber (a `shardctl sub` stopped with SIGSTOP, so that it reads nothing
   and its TCP window fills) does not hold back a QUIC subscriber of the same track, and the
   relay drops groups for it (groups_lagged grows in `shardctl status`).
3. `shardline-bench fanout` with a QUIC publisher and 20 WebSocket subscribers (--sub-url)
   delivers every frame.

Usage: ws_client_test.py SHARDLINED SHARDCTL [SHARDLINE_BENCH]
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import Daemon as _Daemon  # noqa: E402
from sltest import fail, relay_lines, stop_proc  # noqa: E402


class Daemon(_Daemon):
    def __init__(self, shardlined, shardctl, work, tls):
        super().__init__(shardlined, shardctl, work, tls, name="daemon-%s" % tls)

    def moq_sum(self, key):
        return self.worker_sum("moq", key)


def slow_subscriber(d):
    """A WebSocket subscriber that stops reading must not stall a QUIC one."""
    broadcast = "wst/slow"
    before = d.moq_sum("groups_lagged")
    reset_before = d.moq_sum("groups_reset")
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, broadcast, "video", "--fps", "60",
                            "--size", "60000", "--group-frames", "6"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    slow = subprocess.Popen([d.shardctl, "sub", d.ws, broadcast, "video", "--json",
                             "--timeout", "10"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    fast = None
    try:
        time.sleep(1.5)
        # From here on the slow subscriber reads nothing: its socket buffers fill up and the
        # relay's queue for it with them.
        slow.send_signal(signal.SIGSTOP)
        time.sleep(2)
        fast = subprocess.run([d.shardctl, "sub", d.moq, broadcast, "video", "--json",
                               "--frames", "240", "--timeout", "10"], capture_output=True,
                              text=True, timeout=30)
        if fast.returncode != 0:
            fail("the QUIC subscriber beside a stopped WebSocket one exited %d: %s" %
                 (fast.returncode, fast.stderr[-2000:]))
        frames = [json.loads(x) for x in fast.stdout.splitlines() if x.strip()]
        frames = [f for f in frames if "group" in f]
        if len(frames) != 240:
            fail("the QUIC subscriber got %d frames of 240" % len(frames))
        lat = sorted(f["latency_us"] for f in frames if f.get("latency_us", -1) >= 0)
        p50 = lat[len(lat) // 2] if lat else -1
        # Groups over the subscriber's in-flight budget are reset (groups_lagged): the relay
        # drops old groups for the stopped subscriber instead of queueing them.
        after = d.moq_sum("groups_lagged")
        resets = d.moq_sum("groups_reset") - reset_before
        if after <= before:
            fail("the relay dropped no group for the stopped WebSocket subscriber "
                 "(groups_lagged %d -> %d, groups_reset +%d)" % (before, after, resets))
        print("ok: a stopped WebSocket subscriber: the QUIC one got 240 frames in 4 s "
              "(p50 %d us); the relay dropped %d groups for it (groups_reset +%d)" %
              (p50, after - before, resets))
    finally:
        slow.send_signal(signal.SIGCONT)
        stop_proc(slow)
        stop_proc(pub)


def bench(d, shardline_bench):
    r = subprocess.run([shardline_bench, "fanout", d.moq, "--sub-url", d.ws, "--subscribers",
                        "20", "--duration", "2", "--warmup", "1", "--fps", "30", "--json",
                        "--version", "05"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("shardline-bench fanout --sub-url %s exited %d: %s" % (d.ws, r.returncode,
                                                                     r.stderr[-2000:]))
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["delivered"] != res["expected"] or res["out_of_order"] != 0:
        fail("fanout over %s: %r" % (d.ws, res))
    print("ok: shardline-bench fanout, QUIC publisher -> 20 subscribers over %s: %d frames, "
          "p99 %d us" % (d.ws, res["delivered"], res["latency_us"]["p99"]))


def main():
    shardlined, shardctl = sys.argv[1:3]
    shardline_bench = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory(prefix="sl-wsc-") as work:
        for tls in (False, True):
            d = Daemon(shardlined, shardctl, work, tls)
            try:
                for version in ("05", "04"):
                    relay_lines(d, d.moq, d.ws, version, "wst/q2w" + version)
                    relay_lines(d, d.ws, d.moq, version, "wst/w2q" + version)
                if tls:
                    relay_lines(d, d.ws, d.ws, "05", "wst/w2w05")
                    slow_subscriber(d)
                if shardline_bench:
                    bench(d, shardline_bench)
                total = sum(w.get("ws", {}).get("connections_total", 0)
                            for w in d.status()["workers"])
                if total < 4:
                    fail("status counts %d WebSocket connections" % total)
            finally:
                d.stop()
    print("PASS")


if __name__ == "__main__":
    main()
