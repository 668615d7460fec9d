#!/usr/bin/env python3
"""Reference values for the judge's direction options (src/analysis/direction.test.ts), computed
independently with SciPy: exact Mann-Whitney p-values of small samples without ties for each
alternative, the asymptotic two-sided p-value with ties, the common-language effect size and the
mean ratio. Run once; its output is pasted into direction.test.ts as constants, so the tests do
not need Python:

    python3 src/analysis/reference/direction.py

Needs the Debian package python3-scipy (apt-get install -y python3-scipy).
"""
import json

import numpy as np
import scipy
from scipy import stats

rng = np.random.RandomState(14)


def series(n, level, noise):
    # Samples of a metric such as signups per request, 6 decimals, no ties within or across.
    return [round(float(x), 6) for x in level + noise * rng.standard_normal(n)]


CASES = [
    # name, canary, stable
    ("signups down 30%, 10 vs 10", series(10, 0.35, 0.03), series(10, 0.5, 0.03)),
    ("signups level, 10 vs 10", series(10, 0.5, 0.03), series(10, 0.5, 0.03)),
    ("tiny, 3 vs 4", [3.1, 2.9, 3.4], [2.1, 2.4, 2.2, 2.6]),
    ("one canary sample, 1 vs 5", [0.2], [0.5, 0.45, 0.55, 0.6, 0.52]),
    ("unequal, 20 vs 30, small rise", series(20, 1.05, 0.1), series(30, 1.0, 0.1)),
    ("largest exact, 50 vs 50, 5% fall", series(50, 0.95, 0.1), series(50, 1.0, 0.1)),
]


def main():
    out = []
    for name, a, b in CASES:
        assert len(set(a) | set(b)) == len(a) + len(b), f"{name}: ties"
        exact = {alt: float(stats.mannwhitneyu(a, b, alternative=alt, method="exact").pvalue) for alt in ("greater", "less", "two-sided")}
        u = float(stats.mannwhitneyu(a, b, method="exact").statistic)
        out.append({"name": name, "canary": a, "stable": b, "u": u, "cles": u / (len(a) * len(b)),
                    "meanRatio": float(np.mean(a) / np.mean(b)), "exact": exact})
    # With ties the exact method does not apply; the asymptotic two-sided p-value with the tie and
    # continuity corrections is what the judge uses.
    a, b = [1, 2, 2, 3, 3, 3, 4], [2, 3, 3, 4, 4, 5, 5, 5]
    tied = {"canary": a, "stable": b, "twoSided": float(stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=True).pvalue)}
    json.dump({"generator": "src/analysis/reference/direction.py", "scipy": scipy.__version__, "exact": out, "tied": tied}, __import__("sys").stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
