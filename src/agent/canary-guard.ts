/**
 * The canary guard: the proxy's own sequential test of a canary's failed requests, request by
 * request, which takes the canary out of traffic the moment the evidence crosses the boundary
 * (src/agent/proxy.ts swaps the route with the canary's weight at 0). The test is the
 * calibrated mixture SPRT of src/analysis/sequential.ts (`guardBoundary`); this module keeps the
 * counts and decides.
 *
 * - p0, the stable release's failure rate, comes from the stable's requests the agent has counted
 *   (its cumulative counters when the guard is set, plus what the guard sees afterwards) as
 *   (errors + 1) / (requests + 2). The guard waits until the stable has {@link MIN_STABLE_REQUESTS}
 *   requests, then fixes p0 and calibrates; canary requests seen while waiting count.
 * - Failed = a 5xx status, including the proxy's own 502/503/504, as in the request metrics.
 * - The guard does not stop by itself once it trips: `tripped` stays (with its evidence) until
 *   the guard is replaced or removed, so an orchestrator that learns it late still sees why.
 */
import { guardBoundary, guardLogLikelihoodRatio, type GuardBoundary } from '../analysis/sequential.js';
import type { CanaryGuardSpec, CanaryGuardStatus } from './types.js';

/** Stable requests the guard needs before it takes the stable's failure rate as p0. */
export const MIN_STABLE_REQUESTS = 1000;
/** A stable failing this share of requests or more leaves the guard waiting: there is no room above it to test. */
export const MAX_STABLE_RATE = 0.2;

/**
 * One canary's guard.
 *
 * @example
 * const g = new CanaryGuard('web', 'prod', { canary: '2.0.0', stable: '1.0.0', alpha: 0.002 }, { total: 30_000, errors: 30 }, Date.now);
 * g.observe('2.0.0', 500); // false: one failure is not enough
 * g.observe('2.0.0', 500); // true: tripped; g.status().state === 'tripped'
 */
export class CanaryGuard {
  private canaryRequests = 0;
  private canaryErrors = 0;
  private stableRequests: number;
  private stableErrors: number;
  private boundary: GuardBoundary | null = null;
  private tripped: { at: number; logLikelihoodRatio: number } | null = null;

  constructor(
    readonly service: string,
    readonly environment: string,
    readonly spec: CanaryGuardSpec,
    stableBaseline: { total: number; errors: number },
    private readonly now: () => number = Date.now,
  ) {
    this.stableRequests = stableBaseline.total;
    this.stableErrors = stableBaseline.errors;
    this.maybeCalibrate();
  }

  /** Whether this guard watches the same canary against the same stable at the same level. */
  sameAs(spec: CanaryGuardSpec): boolean {
    return spec.canary === this.spec.canary && spec.stable === this.spec.stable && spec.alpha === this.spec.alpha;
  }

  get isTripped(): boolean { return this.tripped !== null; }

  /** Counts one finished request of the route; true when this request trips the guard. Called on every request: O(1) once calibrated. */
  observe(version: string, status: number): boolean {
    if (this.tripped !== null) return false;
    const failed = status >= 500 && status < 600;
    if (version === this.spec.canary) {
      this.canaryRequests++;
      if (failed) this.canaryErrors++;
      // Successes only lower the statistic: only a failure can trip.
      return failed && this.boundary !== null && this.check();
    }
    if (version === this.spec.stable && this.boundary === null) {
      this.stableRequests++;
      if (failed) this.stableErrors++;
      if (this.maybeCalibrate()) return this.check();
    }
    return false;
  }

  /** The guard's state and evidence, for the control API. */
  status(): CanaryGuardStatus {
    const b = this.boundary;
    const llr = b === null ? null : this.tripped?.logLikelihoodRatio ?? guardLogLikelihoodRatio(b.alternatives, b.p0, this.canaryRequests, this.canaryErrors);
    return {
      service: this.service,
      environment: this.environment,
      ...this.spec,
      state: this.tripped !== null ? 'tripped' : b !== null ? 'armed' : 'waiting',
      detail: this.detail(llr),
      canaryRequests: this.canaryRequests,
      canaryErrors: this.canaryErrors,
      stableRequests: this.stableRequests,
      stableErrors: this.stableErrors,
      p0: b?.p0 ?? null,
      alternatives: b?.alternatives ?? [],
      logLikelihoodRatio: llr,
      logThreshold: b?.logThreshold ?? null,
      level: b?.level ?? null,
      trippedAt: this.tripped?.at ?? null,
    };
  }

  private check(): boolean {
    const b = this.boundary!;
    const llr = guardLogLikelihoodRatio(b.alternatives, b.p0, this.canaryRequests, this.canaryErrors);
    if (llr < b.logThreshold) return false;
    this.tripped = { at: this.now(), logLikelihoodRatio: llr };
    return true;
  }

  private maybeCalibrate(): boolean {
    if (this.stableRequests < MIN_STABLE_REQUESTS) return false;
    const p0 = (this.stableErrors + 1) / (this.stableRequests + 2);
    if (p0 >= MAX_STABLE_RATE) return false;
    this.boundary = guardBoundary(p0, this.spec.alpha);
    return true;
  }

  private detail(llr: number | null): string {
    const b = this.boundary;
    const counts = `canary ${this.canaryErrors} failed of ${this.canaryRequests}`;
    if (b === null) {
      return this.stableRequests < MIN_STABLE_REQUESTS
        ? `waiting: ${this.stableRequests} stable requests < ${MIN_STABLE_REQUESTS}; ${counts}`
        : `waiting: the stable fails ${pct(this.stableErrors / this.stableRequests)} of requests (the guard needs less than ${pct(MAX_STABLE_RATE)}); ${counts}`;
    }
    const stat = `ln Λ ${fmt(llr!)} ${this.tripped ? '≥' : '<'} ${fmt(b.logThreshold)}`;
    const base = `stable ${pct(b.p0)} (${this.stableErrors} of ${this.stableRequests})`;
    return this.tripped
      ? `${counts} against ${base}: ${stat} (sequential test, false-trip probability ≤ ${b.alpha})`
      : `${counts} against ${base}: ${stat}`;
  }
}

function fmt(v: number): string { return v.toFixed(2); }
function pct(v: number): string { return `${Number((v * 100).toPrecision(3))}%`; }
