# SPDX-License-Identifier: Apache-2.0
"""What the side-by-side scripts (fanout_compare.sh, dpdk_compare.sh) share: reading the
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


def fmt(v, nd=1):
    return "n/a" if v is None or v < 0 else f"{v:,.{nd}f}"


def ratio(a, b):
    if a is None or b is None or a <= 0 or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"
