#!/usr/bin/env python3
"""A WebSocket (qmux) connection that goes silent is closed after the daemon's idle_timeout,
as a QUIC one is: a client completes the upgrade to qmux-01.moq-lite-05 and then sends
nothing. With --idle-timeout 1s the relay must close the TCP connection after about a second
(not at once, not never), count it in the worker's qmux idle_timeouts, and go on serving the
next client. `config set idle_timeout` changes it for connections opened afterwards.
Usage: ws_idle_test.py SHARDLINED SHARDCTL
"""
import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sltest import Daemon, fail  # noqa: E402


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
        d = Daemon(shardlined, shardctl, work, extra=["--idle-timeout", "1s"])
        try:
            took, sent = silent_client(d.tcp)
            # The server's transport parameters come first (qmux-01), then at most pings
            # and a close: a binary WebSocket message (0x82) starts what it sent.
            if not sent.startswith(b"\x82"):
                fail("after the 101 the relay sent %r" % sent[:40])
            if not 0.8 <= took <= 5:
                fail("a silent connection was closed after %.2f s with idle_timeout 1s" % took)
            if d.worker_sum("qmux", "idle_timeouts") < 1:
                fail("no worker counted the idle timeout")
            print("ok: a silent WebSocket connection closed after %.2f s (idle_timeout 1s)" %
                  took)
            d.ctl("config", "set", "idle_timeout", "3s")
            took, _ = silent_client(d.tcp)
            if not 2.6 <= took <= 8:
                fail("after config set idle_timeout 3s, closed after %.2f s" % took)
            print("ok: after config set idle_timeout 3s, closed after %.2f s" % took)
        finally:
            d.stop()
    print("PASS")


if __name__ == "__main__":
    main()
