#!/usr/bin/env python3
"""shardctl's own WebTransport client (https:// URLs: moq-lite over WebTransport over HTTP/3,
ALPN h3, on the relay's QUIC port) beside raw QUIC on the same daemon.

1. For moq-lite-05 and -04: `shardctl pub` over QUIC -> `shardctl sub` over WebTransport, and
   `shardctl pub` over WebTransport -> `shardctl sub` over QUIC; every line arrives, in order
   (and WebTransport on both sides for -05).
2. `shardline-bench fanout` with a QUIC publisher and 20 WebTransport subscribers (--sub-url)
   delivers every frame in order.
3. A relay with tokens (--auth-key FILE): an https:// subscriber without ?jwt= is refused (the
   CONNECT gets 401; shardctl exits non-zero and names 401), and one with a valid token, with a
   publisher holding one too, gets every line.

Usage: wt_client_test.py SHARDLINED SHARDCTL [SHARDLINE_BENCH]
"""
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sltest  # noqa: E402
from sltest import fail, hs_jwk, hs_token, relay_lines, stop_proc  # noqa: E402

class Daemon(sltest.Daemon):
    def __init__(self, shardlined, shardctl, work, name, extra=()):
        super().__init__(shardlined, shardctl, work, extra=extra, name=name)
        self.wt = "https://127.0.0.1:%d/" % self.udp


def connections_row(d):
    """A WebTransport subscriber shows in `shardctl connections` as h3/ and its version."""
    subs0 = d.subscriptions()
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, "wtc/conns", "video", "--fps", "10",
                            "--version", "05"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    sub = subprocess.Popen([d.shardctl, "sub", d.wt, "wtc/conns", "video", "--version", "04"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        d.wait_subscriptions(subs0)
        alpns = [c["alpn"] for c in json.loads(d.ctl("connections", "--json"))["connections"]]
    finally:
        stop_proc(sub)
        stop_proc(pub)
    if "h3/moq-lite-04" not in alpns:
        fail("shardctl connections shows %r, no h3/moq-lite-04" % alpns)
    print("ok: shardctl connections shows the WebTransport session as h3/moq-lite-04")


def bench(d, shardline_bench):
    r = subprocess.run([shardline_bench, "fanout", d.moq, "--sub-url", d.wt, "--subscribers",
                        "20", "--duration", "2", "--warmup", "1", "--fps", "30", "--json",
                        "--version", "05"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        fail("shardline-bench fanout --sub-url %s exited %d: %s" % (d.wt, r.returncode,
                                                                     r.stderr[-2000:]))
    res = json.loads(r.stdout.strip().splitlines()[-1])
    if res["delivered"] != res["expected"] or res["out_of_order"] != 0:
        fail("fanout over %s: %r" % (d.wt, res))
    print("ok: shardline-bench fanout, QUIC publisher -> 20 subscribers over %s: %d frames, "
          "p99 %d us" % (d.wt, res["delivered"], res["latency_us"]["p99"]))


def tokens(shardlined, shardctl, work):
    key = os.path.join(work, "hs.jwk")
    with open(key, "w") as f:
        json.dump(hs_jwk(), f)
    d = Daemon(shardlined, shardctl, work, "tokens", ["--auth-key", key])
    try:
        r = subprocess.run([shardctl, "sub", d.wt, "wtc/secret", "text", "--frames", "1",
                            "--timeout", "5", "--version", "05"], capture_output=True,
                           text=True, timeout=30)
        if r.returncode == 0 or "401" not in r.stderr:
            fail("an https:// subscriber without a token: exit %d, stderr %r" %
                 (r.returncode, r.stderr))
        print("ok: no token: shardctl sub exits %d: %s" % (r.returncode,
                                                           r.stderr.strip()[-200:]))
        tok = hs_token({"root": "", "put": [""], "get": [""], "exp": int(time.time()) + 600})
        url = "%s?jwt=%s" % (d.wt, tok)
        relay_lines(d, url, url, "05", "wtc/tok05")
    finally:
        d.stop()


def main():
    shardlined, shardctl = sys.argv[1:3]
    shardline_bench = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory(prefix="sl-wtc-") as work:
        d = Daemon(shardlined, shardctl, work, "plain")
        try:
            for version in ("05", "04"):
                relay_lines(d, d.moq, d.wt, version, "wtc/q2t" + version)
                relay_lines(d, d.wt, d.moq, version, "wtc/t2q" + version)
            relay_lines(d, d.wt, d.wt, "05", "wtc/t2t05")
            connections_row(d)
            if shardline_bench:
                bench(d, shardline_bench)
        finally:
            d.stop()
        tokens(shardlined, shardctl, work)
    print("PASS")


if __name__ == "__main__":
    main()
