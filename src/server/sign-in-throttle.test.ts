import { describe, expect, it } from 'vitest';
import { SignInThrottle, signInKey } from './sign-in-throttle.js';

describe('SignInThrottle', () => {
  it('lets 5 failures of a pair pass, then makes it wait 30 s, 1 min, 2 min … after the last failure, up to 15 minutes', () => {
    let now = 1_000_000;
    const throttle = new SignInThrottle({ now: () => now });
    const key = signInKey({ user: 'ana' }, '127.0.0.1');
    for (let i = 0; i < 5; i++) {
      expect(throttle.retryAfter(key)).toBe(0);
      throttle.failed(key);
    }
    expect(throttle.retryAfter(key)).toBe(30_000);
    now += 10_000;
    expect(throttle.retryAfter(key)).toBe(20_000);
    now += 20_000;
    expect(throttle.retryAfter(key)).toBe(0);
    throttle.failed(key);
    expect(throttle.retryAfter(key)).toBe(60_000);
    now += 60_000;
    throttle.failed(key);
    expect(throttle.retryAfter(key)).toBe(120_000);
    expect([0, 4, 5, 6, 7, 8, 9, 10, 11, 100, 10_000].map((n) => throttle.delayAfter(n)))
      .toEqual([0, 0, 30_000, 60_000, 120_000, 240_000, 480_000, 900_000, 900_000, 900_000, 900_000]);
  });

  it('holds back only the pair: the same user from another address, and other users from the same address, pass', () => {
    const throttle = new SignInThrottle({ now: () => 5 });
    for (let i = 0; i < 30; i++) throttle.failed(signInKey({ user: 'ana' }, '127.0.0.1'));
    expect(throttle.retryAfter(signInKey({ user: 'ANA' }, '127.0.0.1'))).toBe(900_000);
    expect(throttle.retryAfter(signInKey({ user: 'ana' }, '10.0.0.9'))).toBe(0);
    expect(throttle.retryAfter(signInKey({ user: 'bob' }, '127.0.0.1'))).toBe(0);
    expect(throttle.retryAfter(signInKey({ token: true }, '127.0.0.1'))).toBe(0);
  });

  it('forgets a pair on success, and after an hour without a failure', () => {
    let now = 0;
    const throttle = new SignInThrottle({ now: () => now });
    const key = signInKey({ user: 'ana' }, '::1');
    for (let i = 0; i < 9; i++) throttle.failed(key);
    throttle.succeeded(key);
    expect(throttle.retryAfter(key)).toBe(0);
    for (let i = 0; i < 9; i++) throttle.failed(key);
    expect(throttle.retryAfter(key)).toBe(480_000);
    now += 3_600_000 - 1;
    expect(throttle.retryAfter(key)).toBe(0);
    throttle.failed(key);
    // Still counted: the tenth failure within the hour.
    expect(throttle.retryAfter(key)).toBe(900_000);
    now += 3_600_000;
    throttle.failed(key);
    expect(throttle.retryAfter(key)).toBe(0);
  });

  it('keeps at most maxEntries pairs, dropping those that failed longest ago', () => {
    let now = 0;
    const throttle = new SignInThrottle({ now: () => now, maxEntries: 3, freeFailures: 1 });
    for (const name of ['a', 'b', 'c', 'd']) {
      throttle.failed(signInKey({ user: name }, 'x'));
      now += 1;
    }
    expect(['a', 'b', 'c', 'd'].map((name) => throttle.retryAfter(signInKey({ user: name }, 'x')) > 0)).toEqual([false, true, true, true]);
  });
});
