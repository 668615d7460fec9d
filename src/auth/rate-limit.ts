/**
 * Limits failed sign-ins: after `max` failures for one key (a user name, a client address)
 * within `windowMs`, further attempts for that key are refused until the oldest failure
 * leaves the window. Kept in memory, so the count is per orchestrator process and starts
 * over when it restarts.
 */

/** Options of {@link FailureLimiter}. */
export interface FailureLimiterOptions {
  /** Failures allowed in the window (5). */
  max?: number;
  /** Length of the window in ms (5 minutes). */
  windowMs?: number;
  /** The clock (Date.now). */
  now?: () => number;
}

/**
 * Counts failures per key in a sliding window.
 *
 * @example
 * const limiter = new FailureLimiter();
 * const wait = limiter.retryAfter(['user:ana', 'ip:10.0.0.7']); // ms to wait, 0 when allowed
 * if (!ok) limiter.fail(['user:ana', 'ip:10.0.0.7']);
 */
export class FailureLimiter {
  private readonly max: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly failures = new Map<string, number[]>();

  constructor(opts: FailureLimiterOptions = {}) {
    this.max = opts.max ?? 5;
    this.windowMs = opts.windowMs ?? 5 * 60_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until an attempt for every one of `keys` is allowed again; 0 when it is now. */
  retryAfter(keys: string[]): number {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const times = this.recent(key, now);
      if (times.length >= this.max) wait = Math.max(wait, times[times.length - this.max] + this.windowMs - now);
    }
    return wait;
  }

  /** Records one failure for each key. */
  fail(keys: string[]): void {
    const now = this.now();
    for (const key of keys) {
      const times = this.recent(key, now);
      times.push(now);
      // Failures beyond `max` add nothing to the wait, so memory per key stays bounded.
      if (times.length > this.max) times.splice(0, times.length - this.max);
      this.failures.set(key, times);
    }
    if (this.failures.size > 10_000) this.prune(now);
  }

  /** Forgets the failures of `key` (a user who signed in successfully). */
  reset(key: string): void {
    this.failures.delete(key);
  }

  private recent(key: string, now: number): number[] {
    return (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
  }

  private prune(now: number): void {
    for (const [key, times] of this.failures) {
      if (times.every((t) => t <= now - this.windowMs)) this.failures.delete(key);
    }
  }
}
