# SPDX-License-Identifier: Apache-2.0
"""What the side-by-side scripts (fanout_compare.sh, dpdk_compare.sh, ws_compare.sh,
wt_compare.sh) share: reading the
benchmark's JSON results of repeated runs, folding them into medians, and formatting figures
and ratios for their markdown tables."""
import json
import os
import statistics


def load_one(path):
    """The last JSON object line of one run's output, or None (no file, no result)."""
    try:
        with open(path) as f:
            lines = [l for l in f.read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def load_runs(res, n, name, repeat):
    """The results of the runs RES/N-NAME-1.json .. RES/N-NAME-REPEAT.json that exist."""
    runs = [load_one(os.path.join(res, f"{n}-{name}-{r}.json"))
            for r in range(1, int(repeat) + 1)]
    return [r for r in runs if r is not None]


def median(runs, get):
    """The median over runs of one figure, get(run)."""
    return statistics.median(get(r) for r in runs)


def fanout_medians(res, n, name, repeat):
    """The fan-out runs of one shape and name folded into per-figure medians: relay CPU per
    frame, latency p50 and p99, delivered/expected, and runs that ended early. None without
    runs."""
    runs = load_runs(res, n, name, repeat)
    if not runs:
        return None
    med = lambda get: median(runs, get)
    return {
        "cpu": med(lambda r: r.get("relay_cpu_us_per_frame", -1)),
        "p50": med(lambda r: r["latency_us"]["p50"]),
        "p99": med(lambda r: r["latency_us"]["p99"]),
        "del": f'{med(lambda r: r["delivered"]):.0f}/{runs[0]["expected"]}',
        "ended": med(lambda r: r.get("ended_early", 0)),
    }


def fmt(v, nd=1):
    return "n/a" if v is None or v < 0 else f"{v:,.{nd}f}"


def ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"
