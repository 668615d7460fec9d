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

/** Which way the first sample is tested to differ: larger, smaller, or either. */
export type Alternative = 'greater' | 'less' | 'two-sided';

/**
 * How the p-value is computed: `asymptotic` (normal approximation, tie and continuity
 * corrections), `exact` (the exact distribution of U; only without ties and within
 * {@link EXACT_MAX_SIZE}), or `auto`: exact when it applies, else asymptotic.
 */
export type Method = 'asymptotic' | 'exact' | 'auto';

/**
 * The largest sample size (each sample) for which the exact distribution of U is computed.
 * Its cost grows as n1·n2·(n1·n2): 50 against 50 takes about 6 million additions (a few ms);
 * above it the normal approximation is within about 1e-3 of the exact p-value anyway.
 */
export const EXACT_MAX_SIZE = 50;

/** The outcome of {@link mannWhitneyU}. */
export interface MannWhitneyResult {
  /** U statistic of the first sample (SciPy's `statistic`): pairs where a > b, ties counting ½. */
  u: number;
  /** Standardised statistic with tie and continuity corrections (asymptotic method; null for exact). */
  z: number | null;
  /** p-value for the chosen alternative. */
  pValue: number;
  /** The method the p-value came from. */
  method: 'asymptotic' | 'exact';
  /** Common-language effect size: P(a > b) + ½ P(a = b) = U / (n1·n2); 0.5 when they do not differ. */
  cles: number;
  /** Whether any value occurs more than once across both samples. */
  ties: boolean;
  n1: number;
  n2: number;
}

/**
 * Mann-Whitney U test, the same figures as SciPy's
 * `mannwhitneyu(a, b, alternative=…, method=…, use_continuity=True)` on the expanded samples.
 *
 * Asymptotic (the default):
 * - U1 = R1 − n1(n1 + 1)/2, R1 the sum of the first sample's mid-ranks;
 * - σ = √(n1·n2/12 · ((n + 1) − Σ(t³ − t) / (n(n − 1)))), t the size of each tie group;
 * - 'greater' (a tends to be larger): z = (U1 − n1·n2/2 − ½) / σ; 'less' uses U2 = n1·n2 − U1
 *   in place of U1; p = P(Z > z); 'two-sided': z from max(U1, U2), p = min(1, 2·P(Z > z)).
 *
 * Exact (no ties, both samples at most {@link EXACT_MAX_SIZE}): the null distribution of U
 * counted over all arrangements ({@link exactUDistribution}); 'greater' p = P(U ≥ U1), 'less'
 * p = P(U ≤ U1), 'two-sided' p = min(1, 2·min of the two). `auto` takes it when it applies.
 *
 * When every observation is tied σ = 0 and there is no evidence: z = −∞, p = 1.
 *
 * @throws RangeError when a sample is empty, values and counts differ in length, a count is
 *   negative or not finite, a value is NaN or −∞ (+∞ is allowed: a histogram's overflow bucket
 *   ranks above every bound), or `exact` is asked where it does not apply.
 * @example
 * // canary latencies (a) against stable (b), both on the buckets ≤0.05 s, ≤0.1 s, ≤0.25 s, +Inf
 * mannWhitneyU({ values: [0.05, 0.1, 0.25, Infinity], counts: [10, 40, 40, 10] },
 *              { values: [0.05, 0.1, 0.25, Infinity], counts: [40, 40, 15, 5] }, 'greater');
 * // { u: 7075, z: 5.345…, pValue: 4.51e-8, method: 'asymptotic', cles: 0.7075, n1: 100, n2: 100, … }
 * mannWhitneyU(sample([3.1, 2.9, 3.4]), sample([2.1, 2.4, 2.2, 2.6]), 'greater', 'auto');
 * // { u: 12, pValue: 0.02857… (1/35), method: 'exact', z: null, … }
 */
export function mannWhitneyU(a: Binned, b: Binned, alternative: Alternative = 'greater', method: Method = 'asymptotic'): MannWhitneyResult {
  const groups = new Map<number, [number, number]>();
  let n1 = 0;
  let n2 = 0;
  for (const [s, sample] of [[0, a], [1, b]] as const) {
    const which = s === 0 ? 'first' : 'second';
    if (sample.values.length !== sample.counts.length) throw new RangeError('mannWhitneyU: values and counts must have the same length');
    for (let i = 0; i < sample.values.length; i++) {
      const c = sample.counts[i]!;
      if (!(c >= 0) || !Number.isFinite(c)) throw new RangeError(`mannWhitneyU: counts must be non-negative (got ${c})`);
      if (c === 0) continue;
      const v = sample.values[i]!;
      if (Number.isNaN(v) || v === -Infinity) throw new RangeError(`mannWhitneyU: value ${v} at index ${i} of the ${which} sample cannot be ranked; reject it before testing`);
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
  const ties = tieTerm > 0;
  const cles = u1 / (n1 * n2);
  const exactApplies = !ties && n1 <= EXACT_MAX_SIZE && n2 <= EXACT_MAX_SIZE && Number.isInteger(n1) && Number.isInteger(n2);
  if (method === 'exact' && !exactApplies) {
    throw new RangeError(`mannWhitneyU: the exact method needs samples without ties of at most ${EXACT_MAX_SIZE} each (got ${n1} and ${n2}${ties ? ', with ties' : ''})`);
  }
  if (method !== 'asymptotic' && exactApplies) {
    const pmf = exactUDistribution(n1, n2);
    // U1 is an integer without ties; sum the tails from the smaller side to keep precision.
    const tail = (from: number, to: number): number => { let sum = 0; for (let u = from; u <= to; u++) sum += pmf[u]!; return sum; };
    const upper = tail(u1, n1 * n2);
    const lower = tail(0, u1);
    const p = alternative === 'greater' ? upper : alternative === 'less' ? lower : 2 * Math.min(upper, lower);
    return { u: u1, z: null, pValue: Math.min(1, Math.max(0, p)), method: 'exact', cles, ties, n1, n2 };
  }
  const u = alternative === 'greater' ? u1 : alternative === 'less' ? n1 * n2 - u1 : Math.max(u1, n1 * n2 - u1);
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  const numerator = u - (n1 * n2) / 2 - 0.5;
  const z = variance > 0 ? numerator / Math.sqrt(variance) : -Infinity;
  const p = alternative === 'two-sided' ? 2 * normalSf(z) : normalSf(z);
  return { u: u1, z, pValue: Math.min(1, Math.max(0, p)), method: 'asymptotic', cles, ties, n1, n2 };
}

/**
 * The exact null distribution of the Mann-Whitney U statistic for samples of sizes m and n
 * without ties: `pmf[u]` = P(U = u), u = 0 … m·n. From the recurrence on the largest
 * observation — it belongs to the first sample with probability m/(m+n), adding n to U —
 * P_{m,n}(u) = m/(m+n)·P_{m−1,n}(u − n) + n/(m+n)·P_{m,n−1}(u), every term positive, so no
 * digits cancel (counting arrangements instead would overflow and subtract). O(m·n·m·n).
 *
 * @example
 * exactUDistribution(1, 2); // [1/3, 1/3, 1/3]
 */
export function exactUDistribution(m: number, n: number): number[] {
  if (!(Number.isInteger(m) && Number.isInteger(n) && m >= 0 && n >= 0)) throw new RangeError(`exactUDistribution: sizes must be non-negative integers (got ${m}, ${n})`);
  // row[j] holds P_{i,j} for the current i; P_{0,j} and P_{i,0} are a point mass at 0.
  let row: number[][] = Array.from({ length: n + 1 }, () => [1]);
  for (let i = 1; i <= m; i++) {
    const next: number[][] = [[1]];
    for (let j = 1; j <= n; j++) {
      const size = i * j + 1;
      const out = new Array<number>(size).fill(0);
      const wi = i / (i + j);
      const wj = j / (i + j);
      const fromI = row[j]!; // P_{i−1,j}, shifted by j
      for (let u = 0; u < fromI.length; u++) out[u + j]! += wi * fromI[u]!;
      const fromJ = next[j - 1]!; // P_{i,j−1}
      for (let u = 0; u < fromJ.length; u++) out[u]! += wj * fromJ[u]!;
      next.push(out);
    }
    row = next;
  }
  return row[n]!;
}
