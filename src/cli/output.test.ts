import { describe, expect, it } from 'vitest';
import { formatDuration, formatTime, table, toJson } from './output.js';

describe('formatDuration', () => {
  it.each([
    [0, '0ms'], [850, '850ms'], [1000, '1.0s'], [4_249, '4.2s'], [59_999, '59.9s'], [60_000, '1m00s'],
    [65_000, '1m05s'], [3_599_000, '59m59s'], [3_600_000, '1h00m'], [7_380_000, '2h03m'], [-5, '0ms'],
  ])('%i ms → %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('formatTime', () => {
  it('prints ISO 8601 UTC to the second, - for null', () => {
    expect(formatTime(Date.UTC(2025, 0, 1, 12, 0, 5, 789))).toBe('2025-01-01T12:00:05Z');
    expect(formatTime(null)).toBe('-');
  });
});

describe('table', () => {
  it('aligns columns by the widest cell, without trailing spaces', () => {
    expect(table(['A', 'LONGER', 'C'], [['xyz', '1', ''], ['q', '22', 'last']])).toBe('A    LONGER  C\nxyz  1\nq    22      last\n');
  });
  it('counts code points, not UTF-16 units, when padding', () => {
    expect(table(['N', 'X'], [['✓ ok', 'a'], ['😀', 'b']])).toBe('N     X\n✓ ok  a\n😀     b\n');
  });
});

describe('toJson', () => {
  it('indents by two spaces and ends with a newline', () => {
    expect(toJson({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}\n');
  });
});
