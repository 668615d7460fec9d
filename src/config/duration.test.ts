import { describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { DURATION_HINT, MAX_DURATION_MS, durationMs, formatDuration, isDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['0s', 0],
    ['2s', 2_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['90s', 90_000],
    ['2h30m', 9_000_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', '30', 's', '1.5s', '-1s', '30s5m', '1m1m', '2 s', '2S', '1d', 'ms', '10sec', ' 2s'])(
    'refuses %j with the accepted forms as hint',
    (text) => {
      expect(isDuration(text)).toBe(false);
      let caught: unknown;
      try {
        parseDuration(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GangwayError);
      expect((caught as GangwayError).code).toBe('invalid_argument');
      expect((caught as GangwayError).message).toBe(`"${text}" is not a duration`);
      expect((caught as GangwayError).hint).toBe(DURATION_HINT);
    },
  );

  it('names the accepted forms in its hint', () => {
    expect(DURATION_HINT).toBe('write a duration string such as "500ms", "2s", "5m", "1h" or "1m30s"');
  });

  it('reads up to 2^31 - 1 ms, the longest a timer can wait, and refuses anything longer', () => {
    expect(parseDuration('596h31m23s647ms')).toBe(MAX_DURATION_MS);
    for (const text of ['596h31m23s648ms', '600h', `${'9'.repeat(1000)}s`]) {
      let caught: unknown;
      try {
        parseDuration(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(GangwayError);
      expect((caught as GangwayError).message).toBe(`"${text.length > 80 ? `${text.slice(0, 80)}…` : text}" is longer than 596h31m23s647ms, the longest duration`);
      expect((caught as GangwayError).hint).toBe('write a duration of at most 596h31m23s647ms');
    }
  });
});

describe('durationMs and formatDuration', () => {
  it('durationMs gives NaN for text that is not a duration and Infinity for one too long to count', () => {
    expect(durationMs('1m30s')).toBe(90_000);
    expect(durationMs('5')).toBeNaN();
    expect(durationMs(`${'9'.repeat(400)}h`)).toBe(Infinity);
  });

  it.each([[0, '0s'], [500, '500ms'], [90_000, '1m30s'], [3_600_000, '1h'], [604_800_000, '168h'], [2 ** 31 - 1, '596h31m23s647ms']])(
    'formatDuration(%i) → %s', (ms, text) => {
      expect(formatDuration(ms)).toBe(text);
      expect(parseDuration(text)).toBe(ms);
    },
  );
});
