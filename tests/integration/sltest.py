"""What the Python integration tests share: failing with a message, free loopback ports, and a
shardlined they start, ask through shardctl, and stop.

Daemon(shardlined, shardctl, work) starts shardlined on 127.0.0.1 with a UDP listener and a TCP
listener (--tcp-tls as tls says; on the same port when same_port), 2 workers, no io lcores and
a short idle back-off, its admin socket and log in work, plus any extra arguments; it returns
once `shardctl status` answers, trying other ports twice if the daemon dies at start (a port
taken meanwhile). Its URLs: moq (raw QUIC), http (http:// or https:// on the TCP port, what the
JS clients take), ws (ws:// or wss://). stop() fails the test when shardlined exits non-zero
(a sanitizer build reports through its status), unless check=False.
"""
import base64
import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time

SKIP = 77
# The HS256 key of the token tests (its JWK: hs_jwk()).
SECRET = b"shardline-tokens-test-secret-0123456789"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same_port():
    """A port free for both UDP and TCP on 127.0.0.1 (a browser's relay URL names one)."""
    for _ in range(50):
        p = free_port(socket.SOCK_DGRAM)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p))
                return p
            except OSError:
                continue
    fail("no port free for both UDP and TCP")


class Daemon:
    def __init__(self, shardlined, shardctl, work, tls=False, extra=(), name="daemon",
                 one_port=False):
        self.shardctl = shardctl
        self.tls = tls
        self.admin = os.path.join(work, name + ".sock")
        self.log_path = os.path.join(work, name + ".log")
        for _ in range(3):
            if one_port:
                self.udp = self.tcp = same_port()
            else:
                self.udp, self.tcp = free_port(socket.SOCK_DGRAM), free_port()
            self.log = open(self.log_path, "w")
            self.proc = subprocess.Popen(
                [shardlined, "--listen", "127.0.0.1:%d" % self.udp, "--listen-tcp",
                 "127.0.0.1:%d" % self.tcp, "--tcp-tls=%s" % ("true" if tls else "false"),
                 "--workers", "2", "--io-cores", "0", "--admin", self.admin,
                 "--poll-idle-us", "200"] + list(extra),
                stdout=self.log, stderr=subprocess.STDOUT)
            for _ in range(100):
                if self.proc.poll() is not None:
                    break
                if os.path.exists(self.admin) and subprocess.run(
                        [shardctl, "--admin", self.admin, "status"],
                        capture_output=True).returncode == 0:
                    self.moq = "moq://127.0.0.1:%d" % self.udp
                    self.http = "%s://127.0.0.1:%d/" % ("https" if tls else "http", self.tcp)
                    self.ws = "%s://127.0.0.1:%d/" % ("wss" if tls else "ws", self.tcp)
                    return
                time.sleep(0.1)
            self.stop(check=False)
        fail("shardlined did not start: %s" % open(self.log_path).read()[-2000:])

    def ctl(self, *args):
        return subprocess.run([self.shardctl, "--admin", self.admin] + list(args), check=True,
                              capture_output=True, text=True, timeout=20).stdout

    def status(self):
        return json.loads(self.ctl("status", "--json"))

    def worker_sum(self, section, key):
        """The sum over the workers of status's workers[].SECTION.KEY."""
        return sum(w.get(section, {}).get(key, 0) for w in self.status()["workers"])

    def subscriptions(self):
        """The downstream subscriptions the relay's sessions hold now."""
        return self.worker_sum("moq", "subscribes_active")

    def wait_subscriptions(self, above, timeout=20):
        """Waits until the relay holds more than `above` subscriptions (what subscriptions()
        said before a subscriber started): then a subscriber that starts from the latest
        group sees the next frame published. A fixed sleep is too short on a loaded machine."""
        deadline = time.monotonic() + timeout
        while self.subscriptions() <= above:
            if time.monotonic() > deadline:
                fail("the subscriber did not subscribe within %d s" % timeout)
            time.sleep(0.05)

    def stop(self, check=True):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            if check and rc != 0:
                fail("shardlined exited with %d at stop" % rc)


def stop_proc(p):
    if p.poll() is None:
        p.kill()
    p.wait()


def relay_lines(d, pub_url, sub_url, version, broadcast):
    """shardctl pub --stdin at pub_url -> shardctl sub at sub_url (any of the URL kinds the
    tools take), moq-lite-VERSION: 30 lines, 5 to a group, must all arrive in order."""
    n, per_group = 30, 5
    subs0 = d.subscriptions()
    sub = subprocess.Popen([d.shardctl, "sub", sub_url, broadcast, "text", "--frames", str(n),
                            "--timeout", "10", "--version", version],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pub = subprocess.Popen([d.shardctl, "pub", pub_url, broadcast, "text", "--stdin",
                            "--group-frames", str(per_group), "--version", version],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    try:
        # sub waits for the announcement and subscribes from the latest group: it must have
        # subscribed before the first line.
        d.wait_subscriptions(subs0)
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


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs_jwk(kid=None):
    """The JWK of SECRET, for --auth-key or a key directory."""
    k = {"kty": "oct", "alg": "HS256", "k": b64u(SECRET)}
    if kid:
        k["kid"] = kid
    return k


def signing_input(header, claims):
    return b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())


def hs_token(claims, kid=None, secret=SECRET):
    """An HS256 token (moq-token's claims: root, put, get, exp); kid names its key when the
    keys come from a directory."""
    header = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    si = signing_input(header, claims)
    return si + "." + b64u(hmac.new(secret, si.encode(), hashlib.sha256).digest())
