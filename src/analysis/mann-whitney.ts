/**
 * Mann-Whitney U test on binned samples (latency histograms). Pure functions.
 */
import { normalSf } from './proportions.js';

/**
 * A sample given as tie groups: `counts[i]` observations equal to `values[i]`. A latency
 * histogram becomes one by giving every bucket its upper bound (+Infinity for the last), so
 * each bucket is one tie group. Values need not be sorted or distinct.
 */
export interface Binned {
  values: readonly number[];
  counts: readonly number[];
}

/** The outcome of {@link mannWhitneyU}. */
export interface MannWhitneyResult {
  /** U statistic of the first sample (SciPy's `statistic`): pairs where a > b, ties counting ½. */
  u: number;
  /** Standardised statistic with tie and continuity corrections. */
  z: number;
  /** One-sided p-value for the chosen alternative. */
  pValue: number;
  n1: number;
  n2: number;
}

/**
 * One-sided Mann-Whitney U test with the normal approximation, the tie correction and the
 * continuity correction — the same figures as SciPy's
 * `mannwhitneyu(a, b, alternative=…, method='asymptotic', use_continuity=True)` on the
 * expanded samples:
 *
 * - U1 = R1 − n1(n1 + 1)/2, R1 the sum of the first sample's mid-ranks;
 * - σ = √(n1·n2/12 · ((n + 1) − Σ(t³ − t) / (n(n − 1)))), t the size of each tie group;
 * - 'greater' (a tends to be larger): z = (U1 − n1·n2/2 − ½) / σ; 'less' uses U2 = n1·n2 − U1
 *   in place of U1; p = P(Z > z).
 *
 * When every observation is tied σ = 0 and there is no evidence: z = −∞, p = 1.
 *
 * @throws RangeError when a sample is empty or values and counts differ in length.
 * @example
 * // canary latencies (a) against stable (b), both on the buckets ≤0.05 s, ≤0.1 s, ≤0.25 s, +Inf
 * mannWhitneyU({ values: [0.05, 0.1, 0.25, Infinity], counts: [10, 40, 40, 10] },
 *              { values: [0.05, 0.1, 0.25, Infinity], counts: [40, 40, 15, 5] }, 'greater');
 * // { u: 7075, z: 5.345…, pValue: 4.51e-8, n1: 100, n2: 100 }
 */
export function mannWhitneyU(a: Binned, b: Binned, alternative: 'greater' | 'less' = 'greater'): MannWhitneyResult {
  const groups = new Map<number, [number, number]>();
  let n1 = 0;
  let n2 = 0;
  for (const [s, sample] of [[0, a], [1, b]] as const) {
    if (sample.values.length !== sample.counts.length) throw new RangeError('mannWhitneyU: values and counts must have the same length');
    for (let i = 0; i < sample.values.length; i++) {
      const c = sample.counts[i]!;
      if (!(c >= 0)) throw new RangeError(`mannWhitneyU: counts must be non-negative (got ${c})`);
      if (c === 0) continue;
      const v = sample.values[i]!;
      let g = groups.get(v);
      if (!g) groups.set(v, (g = [0, 0]));
      g[s] += c;
      if (s === 0) n1 += c;
      else n2 += c;
    }
  }
  if (n1 === 0 || n2 === 0) throw new RangeError(`mannWhitneyU: both samples need observations (got ${n1} and ${n2})`);
  const ordered = [...groups.entries()].sort((x, y) => x[0] - y[0]);
  let below = 0;
  let r1 = 0;
  let tieTerm = 0;
  for (const [, [c1, c2]] of ordered) {
    const t = c1 + c2;
    // Mid-rank of a tie group occupying ranks below+1 … below+t.
    r1 += c1 * (below + (t + 1) / 2);
    tieTerm += t * t * t - t;
    below += t;
  }
  const n = n1 + n2;
  const u1 = r1 - (n1 * (n1 + 1)) / 2;
  const u = alternative === 'greater' ? u1 : n1 * n2 - u1;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const numerator = u - (n1 * n2) / 2 - 0.5;
  const z = variance > 0 ? numerator / Math.sqrt(variance) : -Infinity;
  return { u: u1, z, pValue: Math.min(1, Math.max(0, normalSf(z))), n1, n2 };
}
