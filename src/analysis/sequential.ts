/**
 * An anytime-valid sequential test for "the canary fails more requests than the stable
 * release", used by the judge so that evaluating every interval does not inflate false
 * rollbacks.
 *
 * Method — a mixture sequential probability ratio test on the origin of errors (Robbins 1970,
 * "Statistical methods related to the law of the iterated logarithm"; the conditional
 * construction for count data follows Lindon, Sanden & Shirikian 2022, "Rapid Regression
 * Detection in Software Deployments through Sequential Testing", KDD '22):
 *
 * - Requests are split between the releases at random, so when both releases fail at the same
 *   rate (H0), each failed request came from the canary with probability ρ, the canary's
 *   share of requests, independently of the others. We use the observed share
 *   ρ = n_canary / (n_canary + n_stable).
 * - Under H1 that probability is some q > ρ. Mixing the likelihood ratio over q with a
 *   uniform Beta(1, 1) prior gives the Bayes factor
 *   BF = B(1 + x, 1 + y) / (ρ^x (1 − ρ)^y), x and y the canary's and the stable release's
 *   failed requests.
 * - Under H0 the Bayes factor is a non-negative martingale with mean 1 as errors accumulate,
 *   so by Ville's inequality P(BF ever reaches 1/α) ≤ α: the test may be looked at after
 *   every request, and stopping at the first rejection keeps the false-positive rate at α.
 *   The always-valid p-value is min(1, 1/BF).
 * - One-sided: we reject only when the canary's share of errors exceeds ρ, a subset of the
 *   two-sided rejection region, so the level still holds.
 *
 * Caveats, documented in docs/analysis.md: the guarantee is for counts that only grow, so
 * the judge's window should cover the whole analysis; given the request counts the canary's
 * error count is hypergeometric, less spread than the binomial assumed here, which errs on
 * the safe side.
 */

/** Requests and failed requests of one release. */
export interface Counts {
  total: number;
  errors: number;
}

/** The outcome of {@link sequentialErrorTest}. */
export interface SequentialTest {
  /** Mixture Bayes factor for "the canary's error rate is higher" against "equal". */
  bayesFactor: number;
  /** Natural log of the Bayes factor (finite even when the factor overflows). */
  logBayesFactor: number;
  /** Always-valid p-value: min(1, 1 / BF); 1 when the canary's share of errors is not above its share of requests. */
  pValue: number;
  /** The canary's share of requests, ρ. */
  canaryShare: number;
  /** The canary's share of errors, x / (x + y); null without errors. */
  errorShare: number | null;
  /** Whether H0 is rejected at `alpha`. */
  reject: boolean;
}

/**
 * ln C(n, k) as a sum of k logarithms (k the smaller side): exact to rounding for the error
 * counts the judge sees, with no log-gamma approximation.
 */
function logChoose(n: number, k: number): number {
  const m = Math.min(k, n - k);
  let s = 0;
  for (let i = 1; i <= m; i++) s += Math.log((n - m + i) / i);
  return s;
}

/**
 * ln B(1 + x, 1 + y) = ln(x! y! / (x + y + 1)!) for non-negative integers x, y.
 *
 * @example
 * logBetaInt(3, 1); // ln(1/20)
 */
export function logBetaInt(x: number, y: number): number {
  return 0 - Math.log(x + y + 1) - logChoose(x + y, x);
}

/**
 * Mixture SPRT of H1: canary error rate > stable error rate, from cumulative counts of both
 * releases (see the module comment for the method and its guarantee).
 *
 * @throws RangeError for negative counts or more errors than requests.
 * @example
 * const t = sequentialErrorTest({ total: 500, errors: 12 }, { total: 9500, errors: 10 }, 0.01);
 * t.reject;        // true: 12 of 22 errors from 5% of the traffic
 * t.bayesFactor;   // ≈ 4.6e8 (p = 2.2e-9)
 */
export function sequentialErrorTest(canary: Counts, stable: Counts, alpha: number): SequentialTest {
  for (const [name, c] of [['canary', canary], ['stable', stable]] as const) {
    if (!(c.total >= 0 && c.errors >= 0 && c.errors <= c.total)) {
      throw new RangeError(`sequentialErrorTest: ${name} counts must satisfy 0 <= errors <= total (got ${c.errors}/${c.total})`);
    }
  }
  // Counts derived from counter deltas may carry float noise; the test is over whole requests.
  const x = Math.round(canary.errors);
  const y = Math.round(stable.errors);
  const n = canary.total + stable.total;
  const rho = n > 0 ? canary.total / n : 0;
  const errorShare = x + y > 0 ? x / (x + y) : null;
  // Without requests on both sides there is nothing to compare: the factor stays at 1.
  if (canary.total === 0 || stable.total === 0) {
    return { bayesFactor: 1, logBayesFactor: 0, pValue: 1, canaryShare: rho, errorShare, reject: false };
  }
  const logBf = logBetaInt(x, y) - x * Math.log(rho) - y * Math.log1p(-rho);
  const bf = Math.exp(logBf);
  const above = errorShare !== null && errorShare > rho;
  const pValue = above ? Math.min(1, Math.exp(-logBf)) : 1;
  return { bayesFactor: bf, logBayesFactor: logBf, pValue, canaryShare: rho, errorShare, reject: above && logBf >= -Math.log(alpha) };
}
