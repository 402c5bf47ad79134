#!/usr/bin/env python3
"""Headless Chromium against shardlined over WebTransport: issue 13's acceptance test.

Debian's Chromium (driven through playwright-core) loads small pages that use the reference
client, @moq/net 0.3.4, bundled for the browser with esbuild (tests/integration/browser). The
relay URL is http://127.0.0.1:P/ with the UDP listener and the plain TCP listener on the same
port P, as a browser user would give it: the client fetches /certificate.sha256 from the TCP
listener and dials WebTransport (https://127.0.0.1:P/) with that hash, no browser flags. The
WebSocket fallback is switched off in the test pages, so a WebTransport failure fails.

1. A page subscribes to a track `shardctl pub` publishes (moq-lite-05, then -04 across versions)
   and keeps 150 frames: each must be the next one `pub` sent (the frame numbers in its stamps,
   group and frame positions alike; the first come from the relay's cache of the group, the
   rest live), and the page reports each frame's publish-to-deliver latency. The client's own connection object must say "webtransport" and moq-lite-05.
2. A page publishes a broadcast that `shardctl sub` (raw QUIC, lite-05 and lite-04) receives,
   every frame in order.
3. The watch page (web/watch.html, bundled the same way) opened as a file subscribes and draws
   frames per second and latency; a screenshot is saved in the build folder, the chart must be
   drawn, and the page's numbers must be live. Just before, `shardctl cert renew` replaces the
   daemon's certificate while the publisher's connection is up: /certificate.sha256 must serve
   the new hash, the publisher must go on, and the page's WebTransport connection, which pins
   the hash it fetched, proves QUIC presents the new certificate.
4. The relay's counters: wt sessions and no HTTP/3 errors.
5. Tokens: on a relay with a key, a page whose relay URL carries a granting ?jwt= subscribes
   over WebTransport, and one with a forged token is refused (401 to the CONNECT).

npm installs the pinned packages into BUILD_DIR once. Exits 77 (meson: skipped) when node, npm
or Chromium is missing or npm cannot reach the registry for the first install.
Usage: browser_test.py SHARDLINED SHARDCTL BUILD_DIR
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import quote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsclient_test  # noqa: E402  (its npm install)
import sltest  # noqa: E402
from sltest import SKIP, fail  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bundle(folder, src, out):
    r = subprocess.run([os.path.join(folder, "node_modules", ".bin", "esbuild"), src,
                        "--bundle", "--format=esm", "--log-level=warning", "--outfile=" + out],
                       cwd=folder, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail("esbuild %s: %s" % (src, r.stderr[-2000:]))


def drive(folder, url, timeout=40, shot=None, refused=False):
    """Runs drive.mjs on url; returns the page's results. refused: the page must end with an
    error instead (its results are returned all the same)."""
    args = ["node", "drive.mjs", url, str(timeout)] + ([shot] if shot else [])
    r = subprocess.run(args, cwd=folder, capture_output=True, text=True, timeout=timeout + 60)
    lines = r.stdout.strip().splitlines()
    try:
        res = json.loads(lines[-1]) if lines else None
    except ValueError:
        res = None
    if refused:
        if res is None or not res.get("error"):
            fail("the page %s was not refused: %r\n%s" % (url, res, r.stdout[-2000:]))
        return res
    if r.returncode != 0 or res is None:
        fail("the page %s did not finish (exit %d):\n%s\n%s" %
             (url, r.returncode, r.stdout[-3000:], r.stderr[-2000:]))
    return res


class Daemon(sltest.Daemon):
    """UDP and plain TCP on one port: the relay URL a browser is given names one."""

    def __init__(self, shardlined, shardctl, work, extra=(), name="daemon"):
        super().__init__(shardlined, shardctl, work, extra=extra, name=name, one_port=True)
        self.port = self.udp
        self.relay = self.http


def page(base, name, **q):
    return "%s/%s?%s" % (base, name, "&".join("%s=%s" % kv for kv in q.items()))


def browser_subscribes(d, folder, base, version):
    # The page starts with the group's cached frames (a few seconds' worth by the time it
    # subscribes), then gets live ones: 150 frames reach well into the live part.
    n = 150
    # One group for all the frames the page keeps: the reference client gives up the rest of a
    # group once the next one has begun (it prefers the newest), which a loaded machine makes
    # happen at group boundaries; within a group every frame must come, in order.
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, "cam" + version, "video", "--fps", "30",
                            "--size", "300", "--group-frames", "1000", "--version", version],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        res = drive(folder, page(base, "pages.html", mode="sub", relay=d.relay,
                                 broadcast="cam" + version, track="video", n=n))
    finally:
        pub.terminate()
        pub.wait()
    if res.get("transport") != "webtransport" or res.get("version") != "moq-lite-05":
        fail("the page connected over %r, %r" % (res.get("transport"), res.get("version")))
    frames = res["frames"]
    if len(frames) != n:
        fail("the page got %d frames, want %d" % (len(frames), n))
    first = frames[0]["number"]
    for i, f in enumerate(frames):
        # pub numbers its frames from 0, a thousand to a group.
        want = first + i
        if f["number"] != want or f["group"] != want // 1000 or f["frame"] != want % 1000:
            fail("frame %d is %r, want number %d (group %d, frame %d)" %
                 (i, f, want, want // 1000, want % 1000))
    # The latency of the live part: the last 30 frames.
    lat = sorted(f["latencyUs"] for f in frames[-30:])
    print("ok: Chromium subscribed over WebTransport (pub in moq-lite-%s): %d frames in order, "
          "live latency p50 %.0f us, max %.0f us" % (version, n, lat[len(lat) // 2], lat[-1]))


def browser_publishes(d, folder, base, version):
    n, per = 24, 4
    proc = subprocess.Popen(["node", "drive.mjs", page(base, "pages.html", mode="pub",
                                                       relay=d.relay, broadcast="web" + version,
                                                       track="text", n=n, per=per), "40"],
                            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        sub = subprocess.run([d.shardctl, "sub", d.moq, "web" + version, "text", "--frames",
                              str(n), "--json", "--timeout", "20", "--version", version],
                             capture_output=True, text=True, timeout=40)
    finally:
        proc.kill()
        out, _ = proc.communicate()
    if sub.returncode != 0:
        fail("shardctl sub exited %d: %s\nbrowser: %s" % (sub.returncode, sub.stderr,
                                                           out[-2000:]))
    frames = [json.loads(x) for x in sub.stdout.splitlines() if x.strip()]
    got = [(f["group"], f["frame"], f["size"]) for f in frames if "group" in f]
    want = [(i // per, i % per, len("msg%d" % i)) for i in range(n)]
    if got != want:
        fail("shardctl sub got %r, want %r" % (got, want))
    print("ok: Chromium published over WebTransport; shardctl sub (moq-lite-%s) got %d frames "
          "in order" % (version, n))


def renew_cert(d):
    """shardctl cert renew: status and /certificate.sha256 must give the new hash at once."""
    old = d.status()["cert_sha256"]
    r = subprocess.run([d.shardctl, "--admin", d.admin, "cert", "renew", "--json"],
                       capture_output=True, text=True, timeout=20)
    if r.returncode != 0:
        fail("shardctl cert renew exited %d: %s" % (r.returncode, r.stderr))
    new = json.loads(r.stdout)["cert_sha256"]
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"GET /certificate.sha256 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        body = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            body += b
    served = body.split(b"\r\n\r\n", 1)[1].decode().strip()
    if new == old or served != new or d.status()["cert_sha256"] != new:
        fail("after cert renew: old %s, new %s, served %s" % (old, new, served))
    return new


def watch_page(d, folder, build_dir):
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, "demo", "clock", "--fps", "30", "--size",
                            "200", "--version", "05"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shot = os.path.abspath(os.path.join(build_dir, "browser-watch.png"))
    try:
        time.sleep(0.5)
        # A new certificate while pub's connection is up: pub goes on with the old one, and
        # the browser can pin the page's connection only if QUIC presents the new one.
        renew_cert(d)
        url = "file://%s/watch.html?relay=%s&broadcast=demo&track=clock&ws=0" % (folder, d.relay)
        res = drive(folder, url, 40, shot)
    finally:
        pub.terminate()
        pub.wait()
    if res.get("transport") != "webtransport":
        fail("the watch page connected over %r: %r" % (res.get("transport"), res))
    if not 20 <= res["fps"] <= 40 or res["latencyMs"] is None or res["inked"] < 0.002:
        fail("the watch page shows %r" % res)
    print("ok: the watch page draws %.1f fps, %.1f ms (screenshot %s, %.1f %% of the chart "
          "drawn)" % (res["fps"], res["latencyMs"], shot, 100 * res["inked"]))


def tokens(shardlined, shardctl, work, folder, base):
    """A relay with tokens (moq-relay's scheme, docs/operator.md "Tokens"): a WebTransport
    session's CONNECT carries ?jwt= in its :path. A token that grants the broadcast: the page
    gets its frames over WebTransport; a token with a bad signature: the CONNECT is refused
    (401), the page fails and auth.wt_refused counts it."""
    key = os.path.join(work, "hs.jwk")
    with open(key, "w") as f:
        json.dump(sltest.hs_jwk(), f)
    # Raw QUIC carries no token: shardctl pub publishes under the public prefix.
    d = Daemon(shardlined, shardctl, work, ["--auth-key", key, "--auth-public", "anon"],
               name="auth")
    pub = subprocess.Popen([d.shardctl, "pub", d.moq, "anon/cam", "video", "--fps", "30",
                            "--size", "300", "--group-frames", "1000", "--version", "05"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        good = sltest.hs_token({"get": ["anon"], "exp": int(time.time()) + 600})
        res = drive(folder, page(base, "pages.html", mode="sub",
                                 relay=quote(d.relay + "?jwt=" + good, safe=""),
                                 broadcast="anon/cam", track="video", n=20))
        if res.get("transport") != "webtransport" or len(res["frames"]) != 20:
            fail("with a good token the page got %r" % res)
        bad = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
        drive(folder, page(base, "pages.html", mode="sub",
                           relay=quote(d.relay + "?jwt=" + bad, safe=""),
                           broadcast="anon/cam", track="video", n=1), timeout=15, refused=True)
        refused = d.worker_sum("auth", "wt_refused")
        if refused < 1:
            fail("auth.wt_refused is %d after a refused WebTransport session" % refused)
    finally:
        pub.terminate()
        pub.wait()
        d.stop()
    print("ok: tokens over WebTransport: a granting token subscribes, a forged one is refused "
          "(auth.wt_refused %d)" % refused)


def main():
    shardlined, shardctl, build_dir = sys.argv[1:4]
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not chromium:
        print("SKIP: Chromium is not installed (run.sh deps installs Debian's chromium)")
        sys.exit(SKIP)
    folder = os.path.abspath(jsclient_test.install(build_dir, "browser"))
    bundle(folder, "pages.mjs", "pages.bundle.js")
    with open(os.path.join(folder, "pages.html"), "w") as f:
        f.write('<!doctype html><meta charset="utf-8"><title>shardline test page</title>'
                '<script type="module" src="pages.bundle.js"></script>\n')
    # The watch page as an operator builds it (one self-contained HTML file), with the
    # packages installed here.
    r = subprocess.run([os.path.join(ROOT, "web", "build.sh"), folder], capture_output=True,
                       text=True, timeout=300)
    if r.returncode != 0:
        fail("web/build.sh: %s" % r.stderr[-2000:])
    # The pages come from a plain HTTP server on loopback: http://127.0.0.1 is a secure
    # context, so WebTransport is allowed there without flags.
    web_port = sltest.free_port()
    web = subprocess.Popen([sys.executable, "-m", "http.server", str(web_port), "--bind",
                            "127.0.0.1", "--directory", folder], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % web_port
    with tempfile.TemporaryDirectory(prefix="sl-browser-") as work:
        d = Daemon(shardlined, shardctl, work)
        try:
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", web_port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            browser_subscribes(d, folder, base, "05")
            browser_subscribes(d, folder, base, "04")
            browser_publishes(d, folder, base, "05")
            browser_publishes(d, folder, base, "04")
            watch_page(d, folder, build_dir)
            wt = [w.get("wt", {}) for w in d.status()["workers"]]
            sessions = sum(w.get("sessions", 0) for w in wt)
            errors = sum(w.get("h3_errors", 0) for w in wt)
            if sessions < 5 or errors:
                fail("status says %r" % wt)
            print("ok: %d WebTransport sessions, no HTTP/3 errors" % sessions)
            d.stop()
            tokens(shardlined, shardctl, work, folder, base)
        finally:
            d.stop()
            web.terminate()
            web.wait()
    print("PASS")


if __name__ == "__main__":
    main()
