#!/usr/bin/env python3
"""The reference JavaScript clients from npm, on Node, against shardlined's TCP listener over
the WebSocket (moq-lite over qmux), with TLS off and on: issue 12's acceptance test.

1. A broadcast published with `shardctl pub` (raw QUIC) is subscribed to by the JS client
   (sub.mjs): every frame arrives, in order, with its group and frame numbers.
2. A broadcast the JS client publishes (pub.mjs) is received by `shardctl sub` (raw QUIC):
   every frame, in order.
Both run with the current client, @moq/net 0.3.4 (tests/integration/jsclient), which offers
moq-lite-05 first; the relay prefers it too (qmux-01.moq-lite-05; the scripts check the
version). shardctl runs both ways in moq-lite-05 and in moq-lite-04, so the lite-04 runs cross
versions through the relay.
They run again with the older client, @moq/lite 0.2.2 (tests/integration/jsclient-old), forced
to moq-lite-04 (it knows no lite-05): once on qmux-00 (the relay picks qmux-00.moq-lite-04) and
once on its legacy "webtransport" framing (its WebSocket offers only the webtransport. pairs,
and the relay answers webtransport.moq-lite-04); the scripts print the subprotocol and version
they got. Left to its defaults that client offers only bare names and asks for moq-lite-02
in-band, which is refused with a 400 saying so (checked on the raw upgrade).

npm installs the pinned packages (package.json in each folder) into BUILD_DIR once; later runs
use that copy and need no network. Exits 77 (meson: skipped) when node or npm is missing or npm
cannot reach the registry for the first install.
Usage: jsclient_test.py SHARDLINED SHARDCTL BUILD_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import sltest  # noqa: E402
from sltest import SKIP, fail  # noqa: E402


def install(build_dir, name):
    """Installs tests/integration/NAME (package.json and scripts) into BUILD_DIR/NAME; returns
    that folder, or exits 77."""
    if not shutil.which("node") or not shutil.which("npm"):
        print("SKIP: node or npm is not installed")
        sys.exit(SKIP)
    here = os.path.join(HERE, name)
    folder = os.path.join(build_dir, name)
    os.makedirs(folder, exist_ok=True)
    want = json.load(open(os.path.join(here, "package.json")))["dependencies"]
    have = True
    for name, version in want.items():
        try:
            pj = json.load(open(os.path.join(folder, "node_modules", name, "package.json")))
            have = have and pj["version"] == version
        except OSError:
            have = False
    shutil.copy(os.path.join(here, "package.json"), folder)
    if not have:
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save",
                            "--prefer-offline"], cwd=folder, capture_output=True, text=True,
                           timeout=300)
        if r.returncode != 0:
            print("SKIP: npm could not install %s (no registry?):\n%s" %
                  (", ".join("%s@%s" % kv for kv in want.items()), r.stderr[-2000:]))
            sys.exit(SKIP)
    for f in os.listdir(here):
        if f.endswith(".mjs"):
            shutil.copy(os.path.join(here, f), folder)
    return folder


class Daemon(sltest.Daemon):
    def __init__(self, shardlined, shardctl, work, tls):
        super().__init__(shardlined, shardctl, work, tls, name="daemon-%s" % tls)
        self.url = self.http


def check_negotiated(out, negotiated, who):
    """The old client's scripts print the subprotocol and version they got."""
    if negotiated is None:
        return
    got = [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("NEGOTIATED ")]
    if got != [negotiated]:
        fail("%s negotiated %r, want %r" % (who, got, negotiated))


def js_subscribes(d, folder, env, version, negotiated=None, tag=""):
    """shardctl pub (QUIC, moq-lite-VERSION) -> the JS client (WebSocket, moq-lite-05, or
    the old client's moq-lite-04 when negotiated names what it must get)."""
    n, per_group = 30, 5
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, "quic/cam" + version + tag, "video", "--stdin",
                            "--group-frames", str(per_group), "--version", version],
                           stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subs0 = d.subscriptions()
        sub = subprocess.Popen(["node", "sub.mjs", d.url, "quic/cam" + version + tag, "video", str(n)],
                               cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        # The JS subscriber starts from the latest group: it must have subscribed before the
        # first frame; then 50 frames per second.
        d.wait_subscriptions(subs0)
        for i in range(n):
            pub.stdin.write(b"frame%d\n" % i)
            pub.stdin.flush()
            time.sleep(0.02)
        out, err = sub.communicate(timeout=30)
        if sub.returncode != 0:
            fail("sub.mjs exited %d:\n%s" % (sub.returncode, err[-3000:]))
        got = [line.split(" ")[1:] for line in out.splitlines() if line.startswith("FRAME ")]
        want = [[str(i // per_group), str(i % per_group), "frame%d" % i] for i in range(n)]
        if got != want:
            fail("the JS subscriber got %r, want %r" % (got, want))
        check_negotiated(out, negotiated, "sub.mjs")
    finally:
        pub.kill()
        pub.wait()


def js_publishes(d, folder, env, version, negotiated=None, tag=""):
    """The JS client (WebSocket, moq-lite-05, or as js_subscribes) -> shardctl sub (QUIC,
    moq-lite-VERSION)."""
    n, per_group = 24, 4
    pub = subprocess.Popen(["node", "pub.mjs", d.url, "js/chat" + version + tag, "text", str(n),
                            str(per_group)], cwd=folder, env=env, stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The library logs to stdout as well: wait for the script's own line.
        seen = ""
        while True:
            line = pub.stdout.readline()
            seen += line
            if not line or line.strip() == "published":
                break
        check_negotiated(seen, negotiated, "pub.mjs")
        if not line:
            fail("pub.mjs did not publish: %s" % pub.stderr.read()[-3000:])
        sub = subprocess.run([d.shardctl, "sub", d.moq, "js/chat" + version + tag, "text", "--frames",
                              str(n), "--json", "--timeout", "10", "--version", version],
                             capture_output=True, text=True, timeout=30)
        if sub.returncode != 0:
            fail("shardctl sub exited %d: %s" % (sub.returncode, sub.stderr))
        frames = [json.loads(x) for x in sub.stdout.splitlines() if x.strip()]
        frames = [f for f in frames if "group" in f]
        got = [(f["group"], f["frame"], f["size"]) for f in frames]
        want = [(i // per_group, i % per_group, len("msg%d" % i)) for i in range(n)]
        if got != want:
            fail("shardctl sub got %r, want %r" % (got, want))
    finally:
        try:
            pub.stdin.close()
            pub.wait(10)
        except subprocess.TimeoutExpired:
            pub.kill()
            pub.wait()


def refuses_inband(d):
    """What the old client offers by default (bare names, version settled in-band, where it
    asks for moq-lite-02) gets a 400 that says why."""
    with socket.create_connection(("127.0.0.1", d.tcp), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  b"Sec-WebSocket-Protocol: qmux-00,webtransport\r\n\r\n")
        answer = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 400 ") or b"in-band version negotiation" not in answer:
        fail("a bare qmux-00/webtransport offer got %r" % answer[:300])


def main():
    shardlined, shardctl, build_dir = sys.argv[1:4]
    folder = install(build_dir, "jsclient")
    old = install(build_dir, "jsclient-old")
    with tempfile.TemporaryDirectory(prefix="sl-js-") as work:
        for tls in (False, True):
            env = dict(os.environ)
            if tls:
                # The daemon's certificate is self-signed: Node's WebSocket would refuse it
                # (a browser pins it by /certificate.sha256 for WebTransport instead).
                env["NODE_TLS_REJECT_UNAUTHORIZED"] = "0"
                env["NODE_NO_WARNINGS"] = "1"
            d = Daemon(shardlined, shardctl, work, tls)
            try:
                for version in ("05", "04"):
                    js_subscribes(d, folder, env, version)
                    js_publishes(d, folder, env, version)
                # The old client (@moq/lite 0.2.2) forced to moq-lite-04, on qmux-00 and on its
                # legacy framing, against shardctl in both versions.
                for framing, version in (("qmux-00", "05"), ("legacy", "04")):
                    oenv = dict(env, OLD_FRAMING=framing)
                    proto = "webtransport" if framing == "legacy" else framing
                    want = "%s.moq-lite-04 moq-lite-04" % proto
                    js_subscribes(d, old, oenv, version, want, "-old-" + framing)
                    js_publishes(d, old, oenv, version, want, "-old-" + framing)
                if not tls:
                    refuses_inband(d)
                ws = [w.get("ws", {}) for w in d.status()["workers"]]
                if sum(w.get("connections_total", 0) for w in ws) < 8:
                    fail("status counts %r WebSocket connections" % ws)
            finally:
                d.stop()
            print("ok: the JS clients (@moq/net 0.3.4; @moq/lite 0.2.2 on qmux-00 and legacy "
                  "framing) subscribe and publish over %s" % ("wss (TLS)" if tls else "ws (plain)"))
    print("PASS")


if __name__ == "__main__":
    main()
