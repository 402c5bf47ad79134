#!/usr/bin/env python3
"""The TCP listener of shardlined end to end, over plain sockets: every HTTP route, with TLS on
(the default: the QUIC certificate) and off (tcp_tls=false).

For each mode: /health answers "ok"; /certificate.sha256 is the admin status's cert_sha256 and,
with TLS, the SHA-256 of the certificate the listener presents; /metrics is Prometheus text that
parses and carries shardline_ worker series and the listener's own counters; /announced and
/fetch answer; an unknown path is 404, POST 405, garbage 400, an OPTIONS preflight 204 with the
CORS headers; every answer carries Access-Control-Allow-Origin: *; a WebSocket upgrade with no
moq-lite version is refused and one offering lite-05 and lite-04 gets lite-05; a connection closed before its request does not disturb the
next; the status JSON counts the requests. With a broadcast published by `shardctl pub`,
/announced lists it and /fetch serves its group (latest, by number, and 504 after the
listener's deadline for a group that never comes).
Usage: http_test.py SHARDLINED SHARDCTL
"""
import hashlib
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sltest  # noqa: E402
from sltest import fail  # noqa: E402


class Daemon(sltest.Daemon):
    def __init__(self, shardlined, shardctl, work, tls):
        super().__init__(shardlined, shardctl, work, tls,
                         name="daemon-%s" % ("tls" if tls else "plain"))

    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.tcp), timeout=20)
        if not self.tls:
            return s, None
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        t = ctx.wrap_socket(s, server_hostname="localhost")
        if t.selected_alpn_protocol() != "http/1.1":
            fail("ALPN chose %r" % t.selected_alpn_protocol())
        return t, t.getpeercert(binary_form=True)

    def raw(self, data):
        s, _ = self.connect()
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except (ssl.SSLError, ConnectionResetError):
                break
            if not b:
                break
            chunks.append(b)
        s.close()
        return b"".join(chunks)

    def head_only(self, data):
        """Sends data and reads up to the end of the answer's head (a 101 keeps the
        connection open)."""
        s, _ = self.connect()
        s.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got:
            b = s.recv(65536)
            if not b:
                break
            got += b
        s.close()
        return got

    def request(self, method, path, headers=None):
        head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
        for k, v in (headers or {}).items():
            head += "%s: %s\r\n" % (k, v)
        resp = self.raw((head + "\r\n").encode())
        if b"\r\n\r\n" not in resp:
            fail("%s %s: no complete answer: %r" % (method, path, resp[:200]))
        h, body = resp.split(b"\r\n\r\n", 1)
        lines = h.decode().split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        if "content-length" in hdrs and int(hdrs["content-length"]) != len(body):
            fail("%s %s: Content-Length %s but %d body bytes" %
                 (method, path, hdrs["content-length"], len(body)))
        if hdrs.get("access-control-allow-origin") != "*":
            fail("%s %s: no Access-Control-Allow-Origin: *" % (method, path))
        return status, hdrs, body


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


PROM_LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfa]+$')


def check_metrics(text):
    families = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            families.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        if not PROM_LINE.match(line):
            fail("/metrics: a line that is not a sample: %r" % line)
    for name in ("shardline_uptime_seconds", "shardline_tcp_requests",
                 "shardline_tcp_accepted"):
        if name not in families:
            fail("/metrics: no family %s" % name)
    if not re.search(r'^shardline_\w+\{worker="1"', text, re.M):
        fail("/metrics: no series of worker 1")


def run(shardlined, shardctl, work, tls):
    d = Daemon(shardlined, shardctl, work, tls)
    try:
        mode = "TLS" if tls else "plain"
        st = d.status()
        if st.get("tcp", {}).get("tls") is not tls:
            fail("%s: status has no tcp object with tls=%s: %r" % (mode, tls, st.get("tcp")))
        status, hdrs, body = d.request("GET", "/health")
        expect(mode + " /health", (status, body), (200, b"ok\n"))
        status, hdrs, body = d.request("GET", "/certificate.sha256")
        expect(mode + " /certificate.sha256", (status, body.decode()), (200, st["cert_sha256"]))
        if tls:
            _, der = d.connect()
            expect("presented certificate", hashlib.sha256(der).hexdigest(), st["cert_sha256"])
        status, hdrs, body = d.request("GET", "/metrics")
        expect(mode + " /metrics status", status, 200)
        if not hdrs.get("content-type", "").startswith("text/plain; version=0.0.4"):
            fail("/metrics: content type %r" % hdrs.get("content-type"))
        check_metrics(body.decode())
        status, _, body = d.request("GET", "/announced/")
        expect(mode + " /announced", (status, json.loads(body)), (200, []))
        status, _, _ = d.request("GET", "/fetch/nobody/video?group=0")
        expect(mode + " /fetch of nothing", status, 404)
        # A broadcast published with shardctl pub is listed and its cached group fetched.
        pub = subprocess.Popen([d.shardctl, "pub", "moq://127.0.0.1:%d" % d.udp, "demo/cam",
                                "video", "--stdin"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            pub.stdin.write(b"one\ntwo\nthree\n")
            pub.stdin.flush()
            for _ in range(50):
                status, hdrs, body = d.request("GET", "/fetch/demo/cam/video?group=latest")
                if status == 200 and body == b"onetwothree":
                    break
                time.sleep(0.1)
            expect(mode + " /fetch latest", (status, body), (200, b"onetwothree"))
            expect("Moq-Group of latest", hdrs.get("moq-group"), "0")
            status, _, body = d.request("GET", "/fetch/demo/cam/video?group=0")
            expect(mode + " /fetch group 0", (status, body), (200, b"onetwothree"))
            # A group newer than the newest is awaited (moq-relay waits too) until the
            # listener's deadline, 10 s, then 504.
            t0 = time.monotonic()
            status, _, _ = d.request("GET", "/fetch/demo/cam/video?group=7")
            expect(mode + " /fetch of a group that does not come", status, 504)
            if not 8 < time.monotonic() - t0 < 15:
                fail("the 504 came after %.1f s" % (time.monotonic() - t0))
            status, _, body = d.request("GET", "/announced/")
            expect(mode + " /announced with a broadcast", (status, json.loads(body)),
                   (200, ["demo/cam"]))
            status, _, body = d.request("GET", "/announced/demo?format=text")
            expect(mode + " /announced/demo as text", (status, body), (200, b"cam"))
        finally:
            pub.kill()
            pub.wait()
        status, _, _ = d.request("GET", "/nope")
        expect(mode + " unknown path", status, 404)
        status, _, _ = d.request("POST", "/health")
        expect(mode + " POST", status, 405)
        status, hdrs, _ = d.request("OPTIONS", "/certificate.sha256", {
            "Origin": "https://example.com", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-foo"})
        expect(mode + " preflight", status, 204)
        expect("preflight methods", hdrs.get("access-control-allow-methods"), "GET")
        expect("preflight headers", hdrs.get("access-control-allow-headers"), "x-foo")
        resp = d.raw(b"GARBAGE\r\n\r\n")
        expect(mode + " garbage", resp.split(b" ")[1], b"400")
        # Upgrades go to a worker, which refuses an offer naming no moq-lite version (it
        # would be settled in-band, which sessions do not do) and prefers moq-lite-05. No
        # CORS there: browsers do not apply it to WebSockets.
        resp = d.raw(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: qmux-01\r\n\r\n")
        expect(mode + " upgrade offering bare qmux-01", resp.split(b" ")[1], b"400")
        resp = d.head_only(b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     b"Sec-WebSocket-Version: 13\r\n"
                     b"Sec-WebSocket-Protocol: qmux-01.moq-lite-05, qmux-00.moq-lite-04\r\n\r\n")
        expect(mode + " upgrade offering moq-lite-05 and -04", resp.split(b"\r\n")[0],
               b"HTTP/1.1 101 Switching Protocols")
        if b"Sec-WebSocket-Protocol: qmux-01.moq-lite-05" not in resp:
            fail("%s: the 101 does not choose qmux-01.moq-lite-05: %r" % (mode, resp[:300]))
        # shardctl cert renew: the listener presents the new certificate to new connections
        # and serves its hash.
        new = json.loads(d.ctl("cert", "renew", "--json"))["cert_sha256"]
        if new == st["cert_sha256"]:
            fail("%s: cert renew gave the same hash" % mode)
        status, _, body = d.request("GET", "/certificate.sha256")
        expect(mode + " /certificate.sha256 after renew", (status, body.decode()), (200, new))
        if tls:
            _, der = d.connect()
            expect("presented certificate after renew", hashlib.sha256(der).hexdigest(), new)
        # A client that connects and leaves without a word must not disturb the next one.
        s, _ = d.connect()
        s.close()
        status, _, _ = d.request("GET", "/health")
        expect(mode + " after an empty connection", status, 200)
        tcp = d.status()["tcp"]
        if tcp["requests"] < 17 or tcp["status_2xx"] < 6 or tcp["status_4xx"] < 3:
            fail("%s: status counters %r" % (mode, tcp))
        print("ok: %s listener, %d requests" % (mode, tcp["requests"]))
    finally:
        d.stop()


def main():
    shardlined, shardctl = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory(prefix="sl-http-") as work:
        run(shardlined, shardctl, work, True)
        run(shardlined, shardctl, work, False)
    print("PASS")


if __name__ == "__main__":
    main()
