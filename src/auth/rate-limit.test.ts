import { describe, expect, it } from 'vitest';
import { FailureLimiter } from './rate-limit.js';

describe('FailureLimiter', () => {
  it('refuses after 5 failures of a key within 5 minutes, until the oldest leaves the window', () => {
    let now = 1_000_000;
    const limiter = new FailureLimiter({ now: () => now });
    for (let i = 0; i < 5; i++) {
      expect(limiter.retryAfter(['user:ana'])).toBe(0);
      limiter.fail(['user:ana', 'address:10.0.0.1']);
      now += 10_000;
    }
    // The first failure was 50 s ago: it leaves the 300 s window in 250 s.
    expect(limiter.retryAfter(['user:ana'])).toBe(250_000);
    expect(limiter.retryAfter(['user:bob', 'address:10.0.0.1'])).toBe(250_000);
    expect(limiter.retryAfter(['user:bob', 'address:10.0.0.2'])).toBe(0);
    now += 250_000;
    expect(limiter.retryAfter(['user:ana'])).toBe(0);
  });

  it('forgets a key on reset', () => {
    const limiter = new FailureLimiter({ max: 1, now: () => 5 });
    limiter.fail(['user:ana']);
    expect(limiter.retryAfter(['user:ana'])).toBe(300_000);
    limiter.reset('user:ana');
    expect(limiter.retryAfter(['user:ana'])).toBe(0);
  });
});
