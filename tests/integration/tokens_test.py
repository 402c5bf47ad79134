#!/usr/bin/env python3
"""Tokens end to end (issue 12): shardlined with a key directory holding an HS256 and an ES256
key (kid "hs" and "es"), public prefixes "anon" (publish and subscribe) and "js" (subscribe),
and the TCP listener in plain HTTP.

1. Start-up: a key file the relay cannot use (HS512) stops the daemon, naming the file.
2. WebSocket upgrades, at the HTTP level: no token outside the public prefixes, a bad
   signature, an unknown kid, an expired token are 401 with the reason in the body (never a
   101); valid HS256 and ES256 tokens and an anonymous upgrade under the public prefixes get 101.
   Each refusal counts in tcp.auth_refused.
3. /announced and /fetch with and without a token: a grant that cannot see the path is 401,
   the public prefixes and a token that grants it are 200, and /announced lists only what the
   grant may subscribe to.
4. Raw QUIC sessions are anonymous: `shardctl pub` may publish under "anon", and a broadcast
   it announces outside it is not published (moq.auth_refused).
5. With the reference JS client (@moq/net over the WebSocket, when npm could install it; see
   jsclient_test.py): subscribing and publishing within the token's grant works, a
   subscription outside it is refused (moq.auth_refused), a broadcast published outside it is
   not announced, and a client connected at /demo publishes under demo/ (the session is
   rooted at its URL path, as in moq-relay).
6. A token expiring in 2 s: the WebSocket session is closed after about 2 s and counted in
   auth.expired.
Tokens are minted here (HMAC from hashlib, ECDSA from python3-cryptography).
Usage: tokens_test.py SHARDLINED SHARDCTL BUILD_DIR
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsclient_test  # noqa: E402 (its npm install of the reference client)
import sltest  # noqa: E402
from sltest import fail  # noqa: E402

SECRET = sltest.SECRET
b64u = sltest.b64u
signing_input = sltest.signing_input


def hs_token(claims, kid="hs", secret=SECRET):
    """Tokens for the key directory's hs.jwk name their kid."""
    return sltest.hs_token(claims, kid=kid, secret=secret)


class EsKey:
    """An ES256 key made and used through the openssl command (run.sh installs it), so the
    test needs no Python package beyond the standard library."""

    def __init__(self, work):
        self.pem = os.path.join(work, "es.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", self.pem], check=True, capture_output=True)
        der = subprocess.run(["openssl", "ec", "-in", self.pem, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        # The SubjectPublicKeyInfo ends with the uncompressed point: 04, x, y.
        point = der[-65:]
        if point[0] != 4:
            fail("openssl gave an unexpected public key: %s" % der.hex())
        self.jwk = {"kty": "EC", "alg": "ES256", "crv": "P-256", "kid": "es",
                    "x": b64u(point[1:33]), "y": b64u(point[33:])}

    def token(self, claims):
        si = signing_input({"alg": "ES256", "typ": "JWT", "kid": "es"}, claims)
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.pem],
                             input=si.encode(), check=True, capture_output=True).stdout
        r, s = der_ecdsa(sig)
        return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def der_ecdsa(sig):
    """r and s of a DER ECDSA signature: SEQUENCE { INTEGER r, INTEGER s }."""
    def integer(b, i):
        if b[i] != 2:
            fail("not a DER INTEGER in the signature %s" % sig.hex())
        n = b[i + 1]
        return int.from_bytes(b[i + 2:i + 2 + n], "big"), i + 2 + n
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7f)
    r, i = integer(sig, i)
    s, _ = integer(sig, i)
    return r, s


def exp_in(s):
    return int(time.time()) + s


class Daemon(sltest.Daemon):
    def __init__(self, shardlined, shardctl, work, extra):
        super().__init__(shardlined, shardctl, work, extra=extra)
        self.url = self.http

    def exchange(self, data, keep_open=False):
        """Sends a request; returns (status, head, body, socket-or-None). A 101 keeps the
        socket open when keep_open (the caller closes it)."""
        s = socket.create_connection(("127.0.0.1", self.tcp), timeout=10)
        s.sendall(data)
        got = b""
        while b"\r\n\r\n" not in got:
            b = s.recv(65536)
            if not b:
                break
            got += b
        head, _, body = got.partition(b"\r\n\r\n")
        status = int(head.split(b" ")[1]) if head else 0
        if status != 101:
            n = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            while len(body) < n:
                b = s.recv(65536)
                if not b:
                    break
                body += b
        if keep_open and status == 101:
            return status, head, body, s
        s.close()
        return status, head, body, None

    def upgrade(self, target, keep_open=False):
        req = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Protocol: qmux-01.moq-lite-05, qmux-00.moq-lite-04\r\n\r\n"
               % target)
        return self.exchange(req.encode(), keep_open)

    def get(self, target):
        status, _, body, _ = self.exchange(
            ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % target).encode())
        return status, body


def expect_401(d, what, got, reason):
    status, _, body, _ = got
    if status != 401 or ("unauthorized: %s" % reason).encode() not in body:
        fail("%s: want 401 %s, got %d %r" % (what, reason, status, body[:200]))


def check_startup_errors(shardlined, work):
    bad = os.path.join(work, "bad.jwk")
    with open(bad, "w") as f:
        json.dump({"kty": "oct", "alg": "HS512", "k": b64u(SECRET)}, f)
    r = subprocess.run([shardlined, "--auth-key", bad, "--listen", "127.0.0.1:0",
                        "--io-cores", "0", "--admin", os.path.join(work, "bad.sock")],
                       capture_output=True, text=True, timeout=20)
    if r.returncode == 0 or bad not in r.stderr:
        fail("a bad key file: exit %d, stderr %r" % (r.returncode, r.stderr))


def check_upgrades(d, es):
    refused0 = d.status()["tcp"]["auth_refused"]
    full = {"root": "", "put": [""], "get": [""], "exp": exp_in(600)}
    expect_401(d, "no token outside the public prefixes", d.upgrade("/secret"),
               "token_required")
    tok = hs_token(full)
    expect_401(d, "a bad signature", d.upgrade("/?jwt=" + tok[:-4] + "AAAA"), "signature")
    expect_401(d, "an unknown kid", d.upgrade("/?jwt=" + hs_token(full, kid="nope")),
               "unknown_kid")
    expect_401(d, "an expired token",
               d.upgrade("/?jwt=" + hs_token(dict(full, exp=exp_in(-30)))), "expired")
    expect_401(d, "a token for another root",
               d.upgrade("/other?jwt=" + hs_token(dict(full, root="demo"))), "root_mismatch")
    for what, target in (("HS256", "/?jwt=" + tok), ("ES256", "/?jwt=" + es.token(full)),
                         ("anonymous under a public prefix", "/anon")):
        status, head, _, _ = d.upgrade(target)
        if status != 101 or b"qmux-01.moq-lite-05" not in head:
            fail("%s: want 101, got %r" % (what, head[:200]))
    refused = d.status()["tcp"]["auth_refused"] - refused0
    if refused != 5:
        fail("tcp.auth_refused counted %d refusals, want 5" % refused)


def start_pub(d, path, track="video"):
    return subprocess.Popen([d.shardctl, "pub", d.moq, path, track, "--stdin",
                             "--group-frames", "1", "--version", "05"],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def announced(d, target):
    status, body = d.get(target)
    return status, (json.loads(body) if status == 200 else None)


def check_http_and_quic(d):
    pub = start_pub(d, "anon/cam")
    bad = start_pub(d, "secret/cam")
    try:
        full = hs_token({"put": [""], "get": [""], "exp": exp_in(600)})
        for i in range(50):
            pub.stdin.write(b"frame%d\n" % i)
            pub.stdin.flush()
            st, lst = announced(d, "/announced?jwt=" + full)
            if st == 200 and "anon/cam" in lst:
                break
            time.sleep(0.1)
        else:
            fail("anon/cam was never announced")
        time.sleep(0.5)
        st, lst = announced(d, "/announced?jwt=" + full)
        if st != 200 or "secret/cam" in lst:
            fail("the QUIC broadcast outside the public prefixes was published: %d %r"
                 % (st, lst))
        if d.worker_sum("moq", "auth_refused") < 1:
            fail("the refused QUIC announce was not counted: %r" % d.status()["workers"])
        # Anonymous: the public prefixes only.
        st, lst = announced(d, "/announced")
        if st != 200 or lst != ["anon/cam"]:
            fail("anonymous /announced: %d %r" % (st, lst))
        st, _ = d.get("/announced/secret")
        if st != 401:
            fail("anonymous /announced/secret: %d, want 401" % st)
        narrow = hs_token({"get": ["other"], "exp": exp_in(600)})
        st, lst = announced(d, "/announced?jwt=" + narrow)
        if st != 200 or lst != []:
            fail("/announced with a grant for other: %d %r" % (st, lst))
        # /fetch: the latest group of anon/cam.
        for target in ("/fetch/anon/cam/video", "/fetch/anon/cam/video?jwt=" + full):
            st, body = d.get(target)
            if st != 200 or not body.startswith(b"frame"):
                fail("%s: %d %r" % (target, st, body[:100]))
        for target in ("/fetch/anon/cam/video?jwt=" + narrow, "/fetch/secret/cam/video",
                       "/fetch/anon/cam/video?jwt=" + full[:-3] + "AAA"):
            st, body = d.get(target)
            if st != 401:
                fail("%s: %d, want 401" % (target, st))
    finally:
        for p in (pub, bad):
            p.kill()
            p.wait()


def check_expiry(d):
    expired0 = d.worker_sum("auth", "expired")
    tok = hs_token({"put": ["x"], "get": ["x"], "exp": exp_in(2)})
    t0 = time.time()
    status, head, _, s = d.upgrade("/?jwt=" + tok, keep_open=True)
    if status != 101:
        fail("the 2 s token was refused: %r" % head)
    # Server frames are unmasked: find the WebSocket close frame (opcode 8), which the
    # session's application close sends, then the end of the connection (after the close
    # grace, since this client never answers the close).
    s.settimeout(10)
    buf, closed_at = b"", None
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
            while closed_at is None and len(buf) >= 2:
                n, off = buf[1] & 0x7F, 2
                if n == 126:
                    n, off = int.from_bytes(buf[2:4], "big"), 4
                elif n == 127:
                    n, off = int.from_bytes(buf[2:10], "big"), 10
                if len(buf) < off + n:
                    break
                if buf[0] & 0x0F == 8:
                    closed_at = time.time() - t0
                buf = buf[off + n:]
    except (ConnectionResetError, socket.timeout):
        pass
    took = time.time() - t0
    s.close()
    if closed_at is None or not 0.9 <= closed_at <= 3.5 or took > 7:
        fail("the session with a 2 s token: close frame at %r s, end at %.1f s"
             % (closed_at, took))
    if d.worker_sum("auth", "expired") - expired0 != 1:
        fail("auth.expired: %r" % [w.get("auth") for w in d.status()["workers"]])
    print("a session with a 2 s token was closed after %.1f s (connection gone at %.1f s)"
          % (closed_at, took))


def check_js(d, folder, shardctl):
    env = dict(os.environ)
    # 1. The JS client subscribes with a token that grants anon: frames arrive.
    n = 10
    pub = start_pub(d, "anon/live")
    try:
        tok = hs_token({"get": ["anon"], "exp": exp_in(600)})
        subs0 = d.subscriptions()
        sub = subprocess.Popen(["node", "sub.mjs", d.url + "?jwt=" + tok, "anon/live", "video",
                                str(n)], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        d.wait_subscriptions(subs0)
        for i in range(n):
            pub.stdin.write(b"frame%d\n" % i)
            pub.stdin.flush()
            time.sleep(0.02)
        out, err = sub.communicate(timeout=30)
        if sub.returncode != 0:
            fail("sub.mjs within its grant exited %d:\n%s" % (sub.returncode, err[-2000:]))
        got = [line.split(" ")[3] for line in out.splitlines() if line.startswith("FRAME ")]
        if got != ["frame%d" % i for i in range(n)]:
            fail("sub.mjs got %r" % got)
        # 2. A token that grants only "other": the subscription is refused.
        refused0 = d.worker_sum("moq", "auth_refused")
        tok = hs_token({"get": ["other"], "exp": exp_in(600)})
        sub = subprocess.Popen(["node", "sub.mjs", d.url + "?jwt=" + tok, "anon/live", "video",
                                "1"], cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        pub.stdin.write(b"late\n")
        pub.stdin.flush()
        try:
            out, _ = sub.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            sub.kill()
            out, _ = sub.communicate()
        if sub.returncode == 0 or "FRAME " in out:
            fail("a subscription outside the grant got frames: %r" % out)
        if d.worker_sum("moq", "auth_refused") <= refused0:
            fail("the refused subscription was not counted")
    finally:
        pub.kill()
        pub.wait()

    # 3. The JS client publishes js/chat with a token that grants js; shardctl sub (QUIC,
    # anonymous, public subscribe "js") receives it.
    n, per_group = 8, 4
    tok = hs_token({"put": ["js"], "exp": exp_in(600)})
    jp = subprocess.Popen(["node", "pub.mjs", d.url + "?jwt=" + tok, "js/chat", "text", str(n),
                           str(per_group)], cwd=folder, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            line = jp.stdout.readline()
            if not line or line.strip() == "published":
                break
        if not line:
            fail("pub.mjs did not publish: %s" % jp.stderr.read()[-2000:])
        sub = subprocess.run([shardctl, "sub", d.moq, "js/chat", "text", "--frames", str(n),
                              "--json", "--timeout", "10", "--version", "05"],
                             capture_output=True, text=True, timeout=30)
        if sub.returncode != 0:
            fail("shardctl sub of the JS broadcast exited %d: %s" % (sub.returncode,
                                                                     sub.stderr))
        frames = [json.loads(x) for x in sub.stdout.splitlines() if x.strip()]
        if len([f for f in frames if "group" in f]) != n:
            fail("shardctl sub got %r" % frames)
    finally:
        try:
            jp.stdin.close()
            jp.wait(10)
        except subprocess.TimeoutExpired:
            jp.kill()
            jp.wait()

    # 4. Rooted at the URL path, as moq-relay does: at /demo with a token for root demo
    # granting put "alice", the client's "alice" is the relay's demo/alice.
    tok = hs_token({"root": "demo", "put": ["alice"], "exp": exp_in(600)})
    jp = subprocess.Popen(["node", "pub.mjs", d.url + "demo?jwt=" + tok, "alice", "text",
                           str(n), str(per_group)], cwd=folder, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while True:
            line = jp.stdout.readline()
            if not line or line.strip() == "published":
                break
        if not line:
            fail("pub.mjs at /demo did not publish: %s" % jp.stderr.read()[-2000:])
        full = hs_token({"get": [""], "exp": exp_in(600)})
        for _ in range(50):
            st, lst = announced(d, "/announced?jwt=" + full)
            if st == 200 and "demo/alice" in lst:
                break
            time.sleep(0.1)
        else:
            fail("the rooted broadcast is not demo/alice: %r" % lst)
        if "alice" in lst:
            fail("the rooted broadcast was published at the origin's root too: %r" % lst)
        st, _ = d.get("/fetch/demo/alice/text?jwt=" + full)
        if st not in (200, 404):
            fail("/fetch of the rooted broadcast: %d" % st)
    finally:
        try:
            jp.stdin.close()
            jp.wait(10)
        except subprocess.TimeoutExpired:
            jp.kill()
            jp.wait()

    # 5. Publishing outside the grant: the broadcast is not announced.
    jp = subprocess.Popen(["node", "pub.mjs", d.url + "?jwt=" + tok, "notjs/chat", "text", "1",
                           "1"], cwd=folder, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jp.stdout.readline()
        time.sleep(1)
        full = hs_token({"get": [""], "exp": exp_in(600)})
        st, lst = announced(d, "/announced?jwt=" + full)
        if st != 200 or "notjs/chat" in lst:
            fail("a broadcast outside the publish grant was announced: %d %r" % (st, lst))
    finally:
        jp.kill()
        jp.wait()
    print("the JS client: subscribe and publish within the grant work, outside it refused")


def main():
    shardlined, shardctl, build_dir = sys.argv[1:4]
    t0 = time.time()
    try:
        folder = jsclient_test.install(build_dir, "jsclient")
    except SystemExit:
        folder = None
        print("the JS client parts are skipped (no node, npm or registry)")
    with tempfile.TemporaryDirectory(prefix="sl-tokens-") as work:
        check_startup_errors(shardlined, work)
        keys = os.path.join(work, "keys")
        os.mkdir(keys)
        with open(os.path.join(keys, "hs.jwk"), "w") as f:
            json.dump({"kty": "oct", "alg": "HS256", "k": b64u(SECRET)}, f)
        es = EsKey(work)
        with open(os.path.join(keys, "es.jwk"), "w") as f:
            json.dump(es.jwk, f)
        d = Daemon(shardlined, shardctl, work,
                   ["--auth-key-dir", keys, "--auth-public", "anon",
                    "--auth-public-subscribe", "js"])
        try:
            check_upgrades(d, es)
            check_http_and_quic(d)
            check_expiry(d)
            if folder:
                check_js(d, folder, shardctl)
            metrics = d.get("/metrics")[1].decode()
            for name in ("shardline_tcp_auth_refused ", "shardline_auth_expired{",
                         "shardline_moq_auth_refused{", "shardline_auth_quic_refused{"):
                if name not in metrics:
                    fail("/metrics has no %s" % name)
            log = open(d.log.name).read()
            if "refused WebSocket /secret: token_required" not in log or "jwt=" in log:
                fail("the refusal log lines: %r" % [x for x in log.splitlines()
                                                    if "refused" in x])
        finally:
            d.stop()
    print("PASS in %.1f s" % (time.time() - t0))


if __name__ == "__main__":
    main()
