import { describe, expect, it } from 'vitest';
import { newLines } from './logs.js';

describe('logs --follow: the lines a new window adds', () => {
  it('prints what follows the end of the previous window, nothing when unchanged, all when they share nothing', () => {
    expect(newLines(['a', 'b', 'c'], ['b', 'c', 'd', 'e'])).toEqual(['d', 'e']);
    expect(newLines(['a', 'b', 'c'], ['a', 'b', 'c'])).toEqual([]);
    expect(newLines([], ['x', 'y'])).toEqual(['x', 'y']);
    expect(newLines(['a', 'b'], ['c', 'd'])).toEqual(['c', 'd']);
    // The longest overlap wins: after "x y x", a window "x y x z" adds only z.
    expect(newLines(['x', 'y', 'x'], ['x', 'y', 'x', 'z'])).toEqual(['z']);
    expect(newLines(['a', 'b'], [])).toEqual([]);
  });
});
