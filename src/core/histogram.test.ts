import { describe, expect, it } from 'vitest';
import { bucketQuantile, histogramQuantile } from './histogram.js';

describe('histogramQuantile', () => {
  it('interpolates linearly inside the bucket that holds the rank', () => {
    // Rank 5 of 10, all in (0.1, 1]: half-way through it.
    expect(histogramQuantile(0.5, [0.1, 1], [0, 10, 10])).toBeCloseTo(0.55, 12);
    // Rank 9.5 of 10: 4.5 of the 5 requests in (0.1, 1].
    expect(histogramQuantile(0.95, [0.1, 1], [5, 10, 10])).toBeCloseTo(0.91, 12);
    // The first bucket starts at 0.
    expect(histogramQuantile(0.5, [0.1, 1], [10, 10, 10])).toBeCloseTo(0.05, 12);
  });

  it('answers the highest finite bound for a rank in the +Inf bucket, like histogram_quantile', () => {
    expect(histogramQuantile(0.99, [0.1, 1], [0, 0, 4])).toBe(1);
    expect(histogramQuantile(1, [0.1, 1], [4, 4, 4])).toBe(1);
  });

  it('answers 0 without observations, without bounds and for q <= 0', () => {
    expect(histogramQuantile(0.5, [0.1, 1], [0, 0, 0])).toBe(0);
    expect(histogramQuantile(0.5, [], [3])).toBe(0);
    expect(histogramQuantile(0, [0.1, 1], [1, 2, 2])).toBe(0);
  });
});

describe('bucketQuantile', () => {
  it('adds up per-bucket counts, then interpolates as histogramQuantile does', () => {
    expect(bucketQuantile(0.5, [0.1, 1], [0, 10, 0])).toBe(0.55);
    expect(bucketQuantile(0.95, [0.1, 0.5], [0, 50, 0])).toBeCloseTo(0.1 + 0.4 * 0.95, 12);
    expect(bucketQuantile(0.5, [0.1, 1], [0, 0, 0])).toBe(0);
  });
});
