/**
 * Normal tail probabilities and the fixed-sample two-proportion z-test. Pure functions over
 * numbers; no I/O.
 */

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * Complementary error function, accurate to about 1e-14 relative over the whole line (the
 * reference tests hold it to SciPy within 1e-9). Below |x| = 3 it uses the series
 * erf(x) = 2/√π · e^(−x²) · Σ (2x²)^n · x / (1·3·…·(2n+1)), whose terms are all positive (no
 * cancellation); above it Lentz's method on the continued fraction
 * erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), which converges fast in the tail
 * where 1 − erf(x) would lose every digit.
 *
 * @example
 * erfc(0);   // 1
 * erfc(3);   // 2.209049699858545e-5
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 3) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return 1 - (2 / SQRT_PI) * Math.exp(-x2) * sum;
  }
  if (x > 27) return 0;
  // Modified Lentz for b0 + a1/(b1 + a2/(b2 + …)) with b = x and a_n = n/2.
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

/**
 * Survival function of the standard normal distribution, P(Z > z) (SciPy's `norm.sf`).
 *
 * @example
 * normalSf(1.6448536269514722); // 0.05
 * normalSf(-Infinity);          // 1
 */
export function normalSf(z: number): number {
  if (z === Infinity) return 0;
  if (z === -Infinity) return 1;
  return 0.5 * erfc(z / Math.SQRT2);
}

/** The outcome of {@link twoProportionZ}. */
export interface ProportionTest {
  /** Standardised difference of the two proportions under the pooled null variance. */
  z: number;
  /** One-sided p-value for "the first proportion is greater": P(Z > z). */
  pValue: number;
  /** Observed proportions. */
  p1: number;
  p2: number;
}

/**
 * One-sided two-proportion z-test of H1: p1 > p2 with the pooled variance
 * p(1 − p)(1/n1 + 1/n2), p = (x1 + x2) / (n1 + n2). A fixed-sample test: valid for one look
 * at the data, which is why the judge uses {@link sequentialErrorTest} for its repeated looks
 * and reports this one beside it. When both samples have no failures (or only failures) the
 * variance is zero and there is no evidence either way: z = 0, p = 0.5.
 *
 * @throws RangeError when a sample is empty or a count is outside 0..n.
 * @example
 * twoProportionZ(30, 1000, 10, 1000); // { z: 3.1944…, pValue: 0.000701…, p1: 0.03, p2: 0.01 }
 */
export function twoProportionZ(x1: number, n1: number, x2: number, n2: number): ProportionTest {
  if (!(n1 > 0 && n2 > 0)) throw new RangeError(`twoProportionZ: sample sizes must be positive (got ${n1}, ${n2})`);
  if (x1 < 0 || x1 > n1 || x2 < 0 || x2 > n2) throw new RangeError(`twoProportionZ: counts must lie in 0..n (got ${x1}/${n1}, ${x2}/${n2})`);
  const p1 = x1 / n1;
  const p2 = x2 / n2;
  const pooled = (x1 + x2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(variance > 0)) return { z: 0, pValue: 0.5, p1, p2 };
  const z = (p1 - p2) / Math.sqrt(variance);
  return { z, pValue: normalSf(z), p1, p2 };
}
