#!/usr/bin/env python3
"""A WebSocket (qmux) connection that goes silent is closed after the daemon's idle_timeout,
as a QUIC one is: a client completes the upgrade to qmux-01.moq-lite-05 and then sends
nothing. With --idle-timeout 1s the relay must close the TCP connection after about a second
(not at once, not never), count it in the worker's qmux idle_timeouts, and go on serving the
next client. `config set idle_timeout` changes it for connections opened afterwards.
Usage: ws_idle_test.py SHARDLINED SHARDCTL
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


UPGRADE = (b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Protocol: qmux-01.moq-lite-05\r\n\r\n")


def silent_client(port):
    """Upgrades, then only reads. Returns (seconds from the 101 to the server's close,
    bytes the server sent after its 101)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(UPGRADE)
    got = b""
    while b"\r\n\r\n" not in got:
        b = s.recv(4096)
        if not b:
            fail("the connection closed before the 101: %r" % got)
        got += b
    head, rest = got.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 101 "):
        fail("the upgrade got %r" % head)
    t0 = time.monotonic()
    while True:
        try:
            b = s.recv(4096)
        except socket.timeout:
            fail("the relay did not close a silent connection in 20 s")
        except ConnectionResetError:
            break
        if not b:
            break
        rest += b
    s.close()
    return time.monotonic() - t0, rest


def main():
    shardlined, shardctl = sys.argv[1:3]
    with tempfile.TemporaryDirectory(prefix="sl-wsidle-") as work:
        admin = os.path.join(work, "admin.sock")
        tcp = free_port()
        log = open(os.path.join(work, "daemon.log"), "w")
        proc = subprocess.Popen([shardlined, "--listen", "127.0.0.1:%d" %
                                 free_port(socket.SOCK_DGRAM), "--listen-tcp",
                                 "127.0.0.1:%d" % tcp, "--tcp-tls=false", "--workers", "2",
                                 "--io-cores", "0", "--admin", admin, "--poll-idle-us", "200",
                                 "--idle-timeout", "1s"], stdout=log, stderr=subprocess.STDOUT)

        def ctl(*args):
            return subprocess.run([shardctl, "--admin", admin] + list(args), check=True,
                                  capture_output=True, text=True, timeout=20).stdout

        try:
            for _ in range(100):
                if os.path.exists(admin):
                    try:
                        ctl("status")
                        break
                    except subprocess.CalledProcessError:
                        pass
                time.sleep(0.1)
            else:
                fail("shardlined did not start")
            took, sent = silent_client(tcp)
            # The server's transport parameters come first (qmux-01), then at most pings
            # and a close: a binary WebSocket message (0x82) starts what it sent.
            if not sent.startswith(b"\x82"):
                fail("after the 101 the relay sent %r" % sent[:40])
            if not 0.8 <= took <= 5:
                fail("a silent connection was closed after %.2f s with idle_timeout 1s" % took)
            idle = sum(w.get("qmux", {}).get("idle_timeouts", 0)
                       for w in json.loads(ctl("status", "--json"))["workers"])
            if idle < 1:
                fail("no worker counted the idle timeout")
            print("ok: a silent WebSocket connection closed after %.2f s (idle_timeout 1s)" %
                  took)
            ctl("config", "set", "idle_timeout", "3s")
            took, _ = silent_client(tcp)
            if not 2.6 <= took <= 8:
                fail("after config set idle_timeout 3s, closed after %.2f s" % took)
            print("ok: after config set idle_timeout 3s, closed after %.2f s" % took)
        finally:
            proc.terminate()
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            if rc != 0:
                fail("shardlined exited with %d" % rc)
    print("PASS")


if __name__ == "__main__":
    main()
