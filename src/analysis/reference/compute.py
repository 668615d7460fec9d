#!/usr/bin/env python3
"""Reference values for Gangway's analysis statistics, computed independently with SciPy.

Prints JSON to stdout; src/analysis/reference/values.json is this script's output, and
src/analysis/reference.test.ts checks the TypeScript implementations against it (and, when
SciPy is installed, that this script still prints the same values).

    python3 src/analysis/reference/compute.py > src/analysis/reference/values.json

Needs the Debian package python3-scipy (apt-get install -y python3-scipy).
"""
import json
import math
import sys

import numpy as np
import scipy
from scipy import special, stats

# Prometheus client default latency buckets (upper bounds, seconds); 99 stands for the +Inf
# bucket (only the order matters to the rank test, and JSON has no Infinity).
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 99]

MWU_CASES = [
    # name, values, counts a, values b (None = same), counts b, alternative
    ("binned latency, canary slower", BOUNDS, [0, 2, 10, 40, 120, 200, 90, 30, 6, 2, 0, 0], None, [0, 5, 40, 160, 300, 250, 60, 12, 3, 1, 0, 0], "greater"),
    ("binned latency, same distribution", BOUNDS, [0, 5, 40, 160, 300, 250, 60, 12, 3, 1, 0, 0], None, [0, 10, 80, 320, 600, 500, 120, 24, 6, 2, 0, 0], "greater"),
    ("identical samples", BOUNDS, [1, 3, 9, 27, 50, 27, 9, 3, 1, 0, 0, 0], None, [1, 3, 9, 27, 50, 27, 9, 3, 1, 0, 0, 0], "greater"),
    ("unequal sizes, few canary requests", BOUNDS, [0, 0, 1, 5, 12, 14, 4, 1, 0, 0, 0, 0], None, [3, 20, 90, 300, 420, 280, 60, 20, 5, 2, 0, 0], "greater"),
    ("many ties in two buckets", [0.1, 0.25], [70, 30], None, [90, 10], "greater"),
    ("canary faster, alternative less", BOUNDS, [2, 10, 60, 200, 100, 20, 5, 1, 0, 0, 0, 2], None, [0, 3, 30, 150, 200, 80, 20, 4, 1, 0, 0, 1], "less"),
    ("canary faster, alternative greater", BOUNDS, [2, 10, 60, 200, 100, 20, 5, 1, 0, 0, 0, 2], None, [0, 3, 30, 150, 200, 80, 20, 4, 1, 0, 0, 1], "greater"),
    ("tiny samples, distinct values", [1.5, 2.5, 3.5], [1, 1, 1], [0.5, 1.0, 2.0, 3.0], [1, 1, 1, 1], "greater"),
    ("tiny samples, one each", [2.0], [1], [1.0], [1], "greater"),
    ("tiny samples with a tie", [1.0, 2.0], [1, 1], [1.0, 3.0], [1, 1], "less"),
    ("large binned samples, small shift", BOUNDS, [0, 100, 900, 4000, 9000, 7000, 2500, 600, 100, 20, 5, 1], None, [0, 1100, 10000, 41000, 90000, 68000, 24000, 5500, 900, 150, 30, 8], "greater"),
    ("overflow bucket only on canary", BOUNDS, [0, 0, 0, 10, 20, 10, 0, 0, 0, 0, 0, 15], None, [0, 0, 0, 10, 20, 10, 0, 0, 0, 0, 0, 0], "greater"),
]

Z_CASES = [
    (30, 1000, 10, 1000),
    (12, 500, 10, 9500),
    (1, 200, 9, 5000),
    (0, 300, 3, 3000),
    (50, 100, 45, 100),
    (2, 2000, 40, 2000),
    (400, 2000, 20, 20000),
    (7, 37, 1, 1200),
]

SF_POINTS = [-8, -3.5, -1.2, -1e-3, 0, 0.5, 1, 1.6448536269514722, 2, 2.5, 3, 3.2, 4.2426, 4.25, 5, 7.5, 10, 15, 20, 30, 37.5]

SEQ_CASES = [
    # canary errors, canary total, stable errors, stable total
    (12, 500, 10, 9500),
    (0, 500, 10, 9500),
    (1, 250, 9, 4750),
    (4, 200, 3, 3800),
    (3, 300, 5, 5000),
    (60, 3000, 50, 47000),
    (5, 1000, 100, 20000),
    (200, 10000, 120, 10000),
    (0, 10, 0, 1000),
]


def expand(values, counts):
    return np.repeat(np.asarray(values, dtype=float), np.asarray(counts, dtype=int))


def mwu():
    out = []
    for name, va, ca, vb, cb, alt in MWU_CASES:
        vb = va if vb is None else vb
        a, b = expand(va, ca), expand(vb, cb)
        r = stats.mannwhitneyu(a, b, alternative=alt, method="asymptotic", use_continuity=True)
        out.append({"name": name, "a": {"values": va, "counts": ca}, "b": {"values": vb, "counts": cb},
                    "alternative": alt, "u": float(r.statistic), "pValue": float(r.pvalue)})
    return out


def ztest():
    out = []
    for x1, n1, x2, n2 in Z_CASES:
        p1, p2 = x1 / n1, x2 / n2
        p = (x1 + x2) / (n1 + n2)
        z = (p1 - p2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
        out.append({"x1": x1, "n1": n1, "x2": x2, "n2": n2, "z": z, "pValue": float(stats.norm.sf(z))})
    return out


def sequential():
    out = []
    for x, n1, y, n2 in SEQ_CASES:
        rho = n1 / (n1 + n2)
        log_bf = float(special.betaln(1 + x, 1 + y)) - x * math.log(rho) - y * math.log1p(-rho)
        out.append({"canary": {"errors": x, "total": n1}, "stable": {"errors": y, "total": n2}, "logBayesFactor": log_bf})
    return out


def main():
    values = {
        "generator": "src/analysis/reference/compute.py",
        "scipy": scipy.__version__,
        "normalSf": [{"z": z, "sf": float(stats.norm.sf(z))} for z in SF_POINTS],
        "twoProportionZ": ztest(),
        "mannWhitneyU": mwu(),
        "sequentialErrorTest": sequential(),
    }
    json.dump(values, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
