import { describe, expect, it } from 'vitest';
import { GangwayError } from '../errors.js';
import { DURATION_HINT, isDuration, parseDuration } from './duration.js';

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
});
