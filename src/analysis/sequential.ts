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

/**
 * The in-proxy canary guard's test (src/agent/canary-guard.ts): a truncated mixture sequential
 * probability ratio test on the canary's own requests, against the stable release's failure
 * rate p0, with its threshold calibrated to an exact false-trip probability.
 *
 * - Each canary request fails or not. H0: it fails with probability p0 (the stable's rate).
 *   H1: with some p1 in {@link GUARD_RATIOS} × p0 (each with prior weight 1/K). After n requests
 *   with x failures the statistic is the mixture likelihood ratio
 *   Λ(n, x) = Σ_k (1/K) (p1k/p0)^x ((1 − p1k)/(1 − p0))^(n − x).
 * - Λ grows with x and falls with n, so "Λ ≥ e^t" is the boundary x ≥ c(n): the guard only
 *   compares the failure count with a precomputed integer per request.
 * - Ville's inequality makes t = ln(1/α) valid (Λ is a martingale with mean 1 under H0), but
 *   failures come in whole steps (one failure multiplies Λ by up to p1/p0), so Λ overshoots e^t
 *   and the real false-trip rate is well below α (about 0.3 α at p0 = 0.1%). Instead the
 *   threshold is the smallest t whose false-trip probability is at most α, computed by
 *   {@link guardFalseTripBound}: exactly, by dynamic programming over the failure count, for the
 *   first N requests, plus Ville's bound for any number of requests after them. That spends the
 *   whole α, at any number of canary requests.
 * - The crossing probability grows with the true failure rate (more failures, path by path), so a
 *   canary that fails at most as often as p0 trips with probability at most α. The guarantee is
 *   therefore as good as p0: the guard takes p0 from the stable's counts (see canary-guard.ts).
 * - The grid and its weights only shape the boundary: the calibration computes the false-trip
 *   probability of the boundary actually used, so α holds for any grid fixed before the canary's
 *   requests are seen (as {@link GUARD_RATIOS} is); they decide how fast a bad canary trips it.
 */

/**
 * Alternatives of the guard's mixture, as multiples of p0: a canary failing 20× to 225× as often as
 * the stable, a geometric grid (ratio 2.25) with equal prior weights. The guard is the fast path for
 * a canary that fails far more often than the stable (2% and more against a 0.1% stable); smaller
 * shifts are the analysis judge's, evaluated every interval. Starting the grid at 20× rather than
 * 10× puts the prior where the guard acts: at p0 = 0.1% and α = 0.002 the expected number of
 * canary requests before a trip is 1.16×, 1.18× and 1.55× Wald's approximation for canaries
 * failing at 2%, 5% and 20% (it was 1.18×, 1.25×, 1.55× with 10×–300×), at the cost of a slower
 * trip for a canary failing about 10× as often (1.56× instead of 1.18×; the judge covers it). The
 * grid is fixed, not fitted to any traffic: the level α holds whatever the grid, by the
 * calibration below.
 */
export const GUARD_RATIOS: readonly number[] = Object.freeze([20, 45, 100, 225]);
/** A calibrated threshold of the guard's test for one p0 and α. */
export interface GuardBoundary {
  p0: number;
  alpha: number;
  /** The failure rates of the alternatives (p1). */
  alternatives: number[];
  /** Natural log of the likelihood-ratio threshold (≤ ln(1/α)): the guard trips when ln Λ(n, x) ≥ it. */
  logThreshold: number;
  /** Upper bound of the probability that a canary failing at rate p0 ever trips the guard (≤ α). */
  level: number;
  /** Canary requests the false-trip probability was computed exactly over; the rest of `level` is Ville's bound from there on. */
  exactRequests: number;
}

/** ln Λ(n, x) of the guard's mixture (see above). */
export function guardLogLikelihoodRatio(alternatives: readonly number[], p0: number, n: number, x: number): number {
  let max = -Infinity;
  const terms = alternatives.map((p1) => x * Math.log(p1 / p0) + (n - x) * (Math.log1p(-p1) - Math.log1p(-p0)));
  for (const t of terms) if (t > max) max = t;
  let s = 0;
  for (const t of terms) s += Math.exp(t - max);
  return max + Math.log(s / alternatives.length);
}

/**
 * An upper bound of P(ln Λ(n, x_n) ≥ t for some n) when each request fails with probability p0:
 * the probability of crossing within the first N requests, exact by dynamic programming over the
 * failure count x, plus Ville's bound for afterwards — Λ is a martingale under p0, so from request
 * N on a path not yet stopped crosses with probability at most Λ(N, x_N) e^(−t). N grows until that
 * remainder is below α / 100 (or 10⁶ requests).
 */
export function guardFalseTripBound(alternatives: readonly number[], p0: number, logThreshold: number, alpha: number): { level: number; exactRequests: number } {
  let dist = new Float64Array(64);
  dist[0] = 1;
  let hi = 0;
  let cross = 0;
  let c = 1;
  for (let n = 1; n <= 1_000_000; n++) {
    while (c <= n && guardLogLikelihoodRatio(alternatives, p0, n, c) < logThreshold) c++;
    const top = hi + 1;
    if (top >= dist.length) { const d = new Float64Array(dist.length * 2); d.set(dist); dist = d; }
    for (let x = top; x >= 1; x--) dist[x] = dist[x]! * (1 - p0) + dist[x - 1]! * p0;
    dist[0] = dist[0]! * (1 - p0);
    hi = top;
    for (let x = c; x <= hi; x++) { cross += dist[x]!; dist[x] = 0; }
    if (hi >= c) hi = c - 1;
    if (cross > alpha) return { level: cross, exactRequests: n };
    if (n % 256 === 0) {
      let rest = 0;
      for (let x = 0; x <= hi; x++) if (dist[x]! > 0) rest += dist[x]! * Math.exp(guardLogLikelihoodRatio(alternatives, p0, n, x) - logThreshold);
      if (rest < alpha / 100 || n === 1_000_000) return { level: cross + rest, exactRequests: n };
    }
  }
  return { level: 1, exactRequests: 0 };
}

/**
 * The guard's threshold for a stable failure rate p0 and level α: the smallest ln Λ threshold (to
 * 0.005) whose false-trip probability, bounded by {@link guardFalseTripBound} at any number of
 * canary requests, is ≤ α.
 *
 * @throws RangeError unless 0 < p0 < 0.5 and 0 < α < 1.
 * @example
 * const b = guardBoundary(0.001, 0.002);
 * b.logThreshold;                                                 // ≈ 4.9, below ln(1/α) ≈ 6.2
 * guardLogLikelihoodRatio(b.alternatives, 0.001, 10, 2) >= b.logThreshold; // true: 2 failures in 10 requests trip it
 */
export function guardBoundary(p0: number, alpha: number): GuardBoundary {
  if (!(p0 > 0 && p0 < 0.5)) throw new RangeError(`guardBoundary: p0 must be in (0, 0.5), got ${p0}`);
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`guardBoundary: alpha must be in (0, 1), got ${alpha}`);
  const alternatives = [...new Set(GUARD_RATIOS.map((r) => Math.min(p0 * r, (1 + p0) / 2)))];
  // Ville: ln(1/α) is valid by itself; search below it.
  let hi = Math.log(1 / alpha);
  let lo = 0;
  let best = guardFalseTripBound(alternatives, p0, hi, alpha);
  while (hi - lo > 5e-3) {
    const mid = (lo + hi) / 2;
    const b = guardFalseTripBound(alternatives, p0, mid, alpha);
    if (b.level <= alpha) { hi = mid; best = b; } else lo = mid;
  }
  return { p0, alpha, alternatives, logThreshold: hi, level: best.level, exactRequests: best.exactRequests };
}
