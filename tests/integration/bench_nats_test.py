#!/usr/bin/env python3
"""Runs `shardline-bench fanout --peer nats://...` against a nats-server with TLS on a free
loopback port and checks what it delivered and reported, never how fast.

1 publisher -> 3 subscribers for 2 s (after 1 s of warm-up) must deliver the frames of the
measured window, in order, with the server's certificate verified against the test's own CA and
the server's CPU read from its pid; the JSON carries the moq-lite path's keys plus the NATS
ones. Then the pid is found without --nats-pid (from the listening socket), a certificate from
another CA is refused, a URL where nothing listens is refused with exit 2, and a server that
stops mid-run ends the run with exit 1 and a report. Exits 77 (meson: skipped) when
shardline-bench was built without libnats, or nats-server or openssl is not installed.
Usage: bench_nats_test.py SHARDLINE_BENCH
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77

# The keys both paths report, and those only the NATS path adds.
COMMON_KEYS = ["subscribers", "publishers", "fps", "size", "group_frames", "duration_s",
               "delivered", "expected", "lost_frames", "incomplete_groups", "out_of_order",
               "ended_early", "subscribe_retries", "latency_us", "relay_cpu_us_per_frame"]
NATS_KEYS = ["mode", "peer", "tls", "client_threads", "publish_errors", "client_dropped",
             "async_errors"]
LATENCY_KEYS = ["p50", "p90", "p99", "p999", "max"]


def which(name):
    # nats-server lives in /usr/sbin, which a non-root PATH may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def self_signed(work, name, subject, san):
    key, cert = os.path.join(work, name + "-key.pem"), os.path.join(work, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", subject,
                    "-addext", "subjectAltName=" + san, "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nats(server, cert, key, work):
    """Starts nats-server with TLS on a free loopback port; returns (process, port)."""
    for attempt in range(3):
        port = free_port()
        log = open(os.path.join(work, "nats-%d.log" % attempt), "w")
        proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port), "--tls",
                                 "--tlscert", cert, "--tlskey", key],
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return proc, port
            except OSError:
                time.sleep(0.1)
        proc.kill()
        proc.wait()
    print("FAIL: nats-server did not start:\n" + open(log.name).read())
    sys.exit(1)


def run(cmd):
    print("running: " + " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                       text=True)
    print(r.stdout, end="")
    print(r.stderr, end="", file=sys.stderr)
    return r


def main():
    bench = sys.argv[1]
    probe = subprocess.run([bench, "fanout", "--peer", "nats://127.0.0.1:1", "--no-tls",
                            "--duration", "1", "--subscribers", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True)
    if "not built in" in probe.stderr:
        print("SKIP: " + probe.stderr.strip())
        sys.exit(SKIP)
    # Nothing listens on port 1: a clear message and exit 2, before anything is measured.
    print(probe.stderr, end="")
    probe_ok = probe.returncode == 2 and "nothing answered" in probe.stderr
    server, openssl = which("nats-server"), which("openssl")
    if server is None or openssl is None:
        print("SKIP: needs nats-server and openssl (apt-get install nats-server openssl)")
        sys.exit(SKIP)

    work = tempfile.mkdtemp(prefix="sl-bench-nats-")
    proc = None
    failed = False
    try:
        cert, key = self_signed(work, "server", "/CN=127.0.0.1", "IP:127.0.0.1")
        other, _ = self_signed(work, "other", "/CN=other", "IP:127.0.0.1")
        proc, port = start_nats(server, cert, key, work)
        url = "nats://127.0.0.1:%d" % port
        shape = ["--subscribers", "3", "--fps", "30", "--size", "1200", "--group-frames", "30"]

        r = run([bench, "fanout", "--peer", url, "--tls-ca", cert, "--nats-pid", str(proc.pid),
                 "--duration", "2", "--warmup", "1", "--json"] + shape)
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        res = json.loads(lines[-1]) if lines else {}
        checks = [
            ("exit status 0", r.returncode == 0),
            ("one JSON result", len(lines) == 1),
            ("every moq-lite key", all(k in res for k in COMMON_KEYS)),
            ("every NATS key", all(k in res for k in NATS_KEYS)),
            ("every latency key", all(k in res.get("latency_us", {}) for k in LATENCY_KEYS)),
            ("mode nats, TLS verified", res.get("mode") == "nats" and res.get("tls") == "verified"),
            ("the shape asked for", res.get("subscribers") == 3 and res.get("publishers") == 1
             and res.get("fps") == 30 and res.get("size") == 1200),
            ("expected = 2 s x 30 fps x 3", res.get("expected") == 180),
            # The window closes one frame interval after its last frame is published, as
            # on the moq-lite path: on a loaded machine that last frame may still be on its
            # way to a subscriber and count as lost. Nothing else may be.
            ("delivered: every frame but at most the last per subscriber",
             180 - 3 <= res.get("delivered", 0) <= 180
             and res.get("lost_frames") == 180 - res.get("delivered", 0)),
            ("nothing out of order, cut off or dropped",
             res.get("out_of_order") == 0
             and res.get("incomplete_groups") == 0 and res.get("ended_early") == 0
             and res.get("client_dropped") == 0 and res.get("publish_errors") == 0),
            ("the server's CPU was read", res.get("relay_cpu_us_per_frame", -1) >= 0),
            ("the client's threads were counted", res.get("client_threads", 0) > 1),
        ]

        # Without --nats-pid the server is the process that listens on the URL's port.
        r = run([bench, "fanout", "--peer", url, "--tls-ca", cert, "--duration", "1",
                 "--warmup", "0"] + shape)
        checks.append(("the server's pid found from its socket",
                       r.returncode == 0 and ("pid %d)" % proc.pid) in r.stdout))

        # A server certificate from another CA is refused before anything is measured.
        r = run([bench, "fanout", "--peer", url, "--tls-ca", other, "--duration", "1",
                 "--warmup", "0"] + shape)
        checks.append(("a certificate the CA did not sign is refused (exit 2, SSL error)",
                       r.returncode == 2 and "SSL" in r.stderr))

        checks.append(("no server at the URL: exit 2 and a hint", probe_ok))

        # The server stops in the middle of a run: the bench reports what it measured, says
        # the window was cut short and exits 1 (never a crash or a hang).
        bench_run = subprocess.Popen([bench, "fanout", "--peer", url, "--tls-ca", cert,
                                      "--duration", "4", "--warmup", "0"] + shape,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        proc.terminate()
        proc.wait(timeout=10)
        out, err = bench_run.communicate(timeout=60)
        print(out, end="")
        print(err, end="", file=sys.stderr)
        checks.append(("the server stopping mid-run: exit 1, report and reason",
                       bench_run.returncode == 1 and "delivered frames" in out
                       and "closed during the run" in err))

        for name, ok in checks:
            print("%s %s" % ("ok" if ok else "FAIL", name))
            failed |= not ok
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
