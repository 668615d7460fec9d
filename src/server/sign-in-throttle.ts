/**
 * Slows down password guessing at `POST /v1/session` without letting anyone lock a user out.
 *
 * Failures are counted per (user name, client address), with a growing delay rather than a
 * lock, as OWASP's authentication cheat sheet advises: a hard lock per user name, or per
 * address, lets any process that can reach the API (every local process shares 127.0.0.1)
 * lock everybody out of the dashboard. Here the first 5 failures of a pair cost nothing; after
 * that each attempt of the pair must wait 30 s after the last failure, doubling with each
 * further failure up to 15 minutes. The same user from another address, and every other
 * user from the same address, are not slowed at all. A success, or an hour without a failure,
 * forgets the pair. Kept in memory: the counts are per orchestrator process and start over
 * when it restarts.
 */

/** Options of {@link SignInThrottle}. */
export interface SignInThrottleOptions {
  /** Failures of a pair that cost nothing (5). */
  freeFailures?: number;
  /** The wait after the last free failure, in ms (30 s); it doubles with each further failure. */
  baseDelayMs?: number;
  /** The longest wait, in ms (15 minutes). */
  maxDelayMs?: number;
  /** A pair without a failure for this long is forgotten, in ms (1 hour). */
  forgetAfterMs?: number;
  /** Pairs kept at most (10000); the ones that failed longest ago are dropped first. */
  maxEntries?: number;
  /** The clock (Date.now). */
  now?: () => number;
}

interface Entry { failures: number; last: number }

/**
 * The key of a sign-in attempt: a user name (case-insensitive) or, for a token, the word
 * `token`, and the client address.
 *
 * @example
 * signInKey({ user: 'Ana' }, '10.0.0.7');  // 'user:ana\u000010.0.0.7'
 * signInKey({ token: true }, '10.0.0.7');  // 'token\u000010.0.0.7'
 */
export function signInKey(who: { user: string } | { token: true }, address: string): string {
  return `${'user' in who ? `user:${who.user.toLowerCase()}` : 'token'}\u0000${address}`;
}

/**
 * Exponential backoff of failed sign-ins per key (see {@link signInKey}).
 *
 * @example
 * const throttle = new SignInThrottle();
 * const key = signInKey({ user: 'ana' }, request.ip);
 * if (throttle.retryAfter(key) > 0) refuse429();
 * ok ? throttle.succeeded(key) : throttle.failed(key);
 */
export class SignInThrottle {
  private readonly freeFailures: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** In order of the last failure, oldest first (an entry is re-inserted on each failure). */
  private readonly entries = new Map<string, Entry>();

  constructor(opts: SignInThrottleOptions = {}) {
    this.freeFailures = opts.freeFailures ?? 5;
    this.baseDelayMs = opts.baseDelayMs ?? 30_000;
    this.maxDelayMs = opts.maxDelayMs ?? 15 * 60_000;
    this.forgetAfterMs = opts.forgetAfterMs ?? 60 * 60_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /** Milliseconds until an attempt for `key` is allowed; 0 when it is now. */
  retryAfter(key: string): number {
    const entry = this.current(key, this.now());
    if (!entry || entry.failures < this.freeFailures) return 0;
    return Math.max(0, entry.last + this.delayAfter(entry.failures) - this.now());
  }

  /** Records a failed attempt for `key`. */
  failed(key: string): void {
    const now = this.now();
    const entry = this.current(key, now) ?? { failures: 0, last: now };
    this.entries.delete(key);
    this.entries.set(key, { failures: entry.failures + 1, last: now });
    if (this.entries.size > this.maxEntries) this.prune(now);
  }

  /** Forgets `key`: its user signed in. */
  succeeded(key: string): void {
    this.entries.delete(key);
  }

  /** The wait after the `failures`-th failure: 0 within the free ones, then 30 s, 1 min, 2 min … up to the maximum. */
  delayAfter(failures: number): number {
    if (failures < this.freeFailures) return 0;
    const doublings = failures - this.freeFailures;
    // 2^31 ms is beyond any sensible maximum: stop doubling before the number grows without bound.
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(doublings, 31));
  }

  private current(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && now - entry.last >= this.forgetAfterMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && now - entry.last < this.forgetAfterMs) break;
      this.entries.delete(key);
    }
  }
}
