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
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

SECRET = b"shardline-wt-client-test-secret-0123456789"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs_token(claims):
    """An HS256 token without a kid: the single key file (--auth-key) verifies it."""
    si = (b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
          b64u(json.dumps(claims).encode()))
    return si + "." + b64u(hmac.new(SECRET, si.encode(), hashlib.sha256).digest())


class Daemon:
    def __init__(self, shardlined, shardctl, work, name, extra=()):
        self.shardctl = shardctl
        self.admin = os.path.join(work, "admin-%s.sock" % name)
        for _ in range(3):
            self.udp = free_udp_port()
            self.log = open(os.path.join(work, "daemon-%s.log" % name), "w")
            self.proc = subprocess.Popen(
                [shardlined, "--listen", "127.0.0.1:%d" % self.udp, "--workers", "2",
                 "--io-cores", "0", "--admin", self.admin, "--poll-idle-us", "200"] +
                list(extra), stdout=self.log, stderr=subprocess.STDOUT)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                if os.path.exists(self.admin) and subprocess.run(
                        [shardctl, "--admin", self.admin, "status"],
                        capture_output=True).returncode == 0:
                    self.wt = "https://127.0.0.1:%d/" % self.udp
                    self.moq = "moq://127.0.0.1:%d" % self.udp
                    return
                time.sleep(0.1)
            self.stop()
        fail("shardlined did not start")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            if rc != 0:
                fail("shardlined exited with %d at stop" % rc)


def stop_proc(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def relay_lines(d, pub_url, sub_url, version, name):
    """shardctl pub --stdin at pub_url -> shardctl sub at sub_url: every line, in order."""
    n, per_group = 30, 5
    broadcast = "wtc/%s%s" % (name, version)
    sub = subprocess.Popen([d.shardctl, "sub", sub_url, broadcast, "text", "--frames", str(n),
                            "--timeout", "10", "--version", version],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pub = subprocess.Popen([d.shardctl, "pub", pub_url, broadcast, "text", "--stdin",
                            "--group-frames", str(per_group), "--version", version],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        # sub waits for the announcement and subscribes from the latest group: let it
        # subscribe before the first line.
        time.sleep(1.5)
        for i in range(n):
            pub.stdin.write(b"line%d\n" % i)
            pub.stdin.flush()
            time.sleep(0.01)
        out, err = sub.communicate(timeout=30)
        if sub.returncode != 0:
            fail("%s -> %s (lite-%s): sub exited %d: %s" % (pub_url, sub_url, version,
                                                           sub.returncode, err[-2000:]))
        got = out.splitlines()
        want = ["line%d" % i for i in range(n)]
        if got != want:
            fail("%s -> %s (lite-%s): sub got %r, want %r" % (pub_url, sub_url, version,
                                                            got, want))
        pub.stdin.close()
        if pub.wait(10) != 0:
            fail("%s: pub exited %d: %s" % (pub_url, pub.returncode,
                                            pub.stderr.read().decode()[-2000:]))
    finally:
        stop_proc(sub)
        stop_proc(pub)
    print("ok: lite-%s %s -> %s, %d lines in order" % (version, pub_url, sub_url, n))


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
        json.dump({"kty": "oct", "alg": "HS256", "k": b64u(SECRET)}, f)
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
        relay_lines(d, url, url, "05", "tok")
    finally:
        d.stop()


def main():
    shardlined, shardctl = sys.argv[1:3]
    shardline_bench = sys.argv[3] if len(sys.argv) > 3 else None
    with tempfile.TemporaryDirectory(prefix="sl-wtc-") as work:
        d = Daemon(shardlined, shardctl, work, "plain")
        try:
            for version in ("05", "04"):
                relay_lines(d, d.moq, d.wt, version, "q2t")
                relay_lines(d, d.wt, d.moq, version, "t2q")
            relay_lines(d, d.wt, d.wt, "05", "t2t")
            if shardline_bench:
                bench(d, shardline_bench)
        finally:
            d.stop()
        tokens(shardlined, shardctl, work)
    print("PASS")


if __name__ == "__main__":
    main()
