import { describe, expect, it } from 'vitest';
import { mannWhitneyU } from './mann-whitney.js';
import { erfc, normalSf, twoProportionZ } from './proportions.js';
import { logBetaInt, sequentialErrorTest } from './sequential.js';

describe('erfc / normalSf', () => {
  it('has the exact values at 0 and the infinities, and symmetry', () => {
    expect(erfc(0)).toBe(1);
    expect(normalSf(0)).toBe(0.5);
    expect(normalSf(Infinity)).toBe(0);
    expect(normalSf(-Infinity)).toBe(1);
    expect(normalSf(-1.3) + normalSf(1.3)).toBeCloseTo(1, 15);
    expect(erfc(30)).toBe(0);
  });
  it('is continuous where the series hands over to the continued fraction (x = 3)', () => {
    const below = erfc(3 - 1e-12);
    const above = erfc(3);
    expect(Math.abs(below - above) / above).toBeLessThan(1e-9);
  });
});

describe('twoProportionZ', () => {
  it('tests the first proportion greater, one-sided', () => {
    const r = twoProportionZ(30, 1000, 10, 1000);
    expect(r.p1).toBe(0.03);
    expect(r.p2).toBe(0.01);
    expect(r.z).toBeCloseTo(3.19438282499, 9);
    expect(twoProportionZ(10, 1000, 30, 1000).pValue).toBeCloseTo(1 - r.pValue, 12);
  });
  it('gives no evidence when nothing failed anywhere', () => {
    expect(twoProportionZ(0, 100, 0, 100)).toEqual({ z: 0, pValue: 0.5, p1: 0, p2: 0 });
  });
  it('rejects empty samples and impossible counts', () => {
    expect(() => twoProportionZ(0, 0, 1, 10)).toThrow(new RangeError('twoProportionZ: sample sizes must be positive (got 0, 10)'));
    expect(() => twoProportionZ(11, 10, 1, 10)).toThrow(new RangeError('twoProportionZ: counts must lie in 0..n (got 11/10, 1/10)'));
  });
});

describe('mannWhitneyU', () => {
  it('returns U of the first sample and p = 1 when every observation is tied', () => {
    const r = mannWhitneyU({ values: [0.1], counts: [5] }, { values: [0.1], counts: [7] });
    expect(r).toEqual({ u: 17.5, z: -Infinity, pValue: 1, method: 'asymptotic', cles: 0.5, ties: true, n1: 5, n2: 7 });
  });
  it('merges repeated values and ignores empty groups', () => {
    const a = mannWhitneyU({ values: [1, 2, 2, 3], counts: [1, 1, 2, 0] }, { values: [1, 2], counts: [2, 1] });
    const b = mannWhitneyU({ values: [1, 2], counts: [1, 3] }, { values: [1, 2], counts: [2, 1] });
    expect(a).toEqual(b);
    expect(a.n1).toBe(4);
  });
  it("'less' is 'greater' with the samples swapped", () => {
    const x = { values: [1, 2, 3, 4], counts: [5, 9, 2, 1] };
    const y = { values: [1, 2, 3, 4], counts: [1, 4, 8, 6] };
    expect(mannWhitneyU(x, y, 'less').pValue).toBeCloseTo(mannWhitneyU(y, x, 'greater').pValue, 14);
  });
  it('rejects an empty sample and mismatched arrays', () => {
    expect(() => mannWhitneyU({ values: [1], counts: [0] }, { values: [1], counts: [3] })).toThrow(new RangeError('mannWhitneyU: both samples need observations (got 0 and 3)'));
    expect(() => mannWhitneyU({ values: [1, 2], counts: [1] }, { values: [1], counts: [3] })).toThrow(new RangeError('mannWhitneyU: values and counts must have the same length'));
  });
});

describe('sequentialErrorTest', () => {
  it('computes ln B(1 + x, 1 + y) exactly for small counts', () => {
    expect(logBetaInt(3, 1)).toBeCloseTo(Math.log(1 / 20), 14);
    expect(logBetaInt(0, 0)).toBe(0);
  });
  it('rejects when the canary holds far more of the errors than of the requests', () => {
    const t = sequentialErrorTest({ total: 500, errors: 12 }, { total: 9500, errors: 10 }, 0.01);
    expect(t.canaryShare).toBe(0.05);
    expect(t.errorShare).toBeCloseTo(12 / 22, 15);
    expect(t.reject).toBe(true);
    expect(t.pValue).toBeCloseTo(1 / t.bayesFactor, 20);
    expect(t.pValue).toBeLessThan(1e-8);
  });
  it('needs the Bayes factor to reach 1/alpha: 2 canary errors from 5% of traffic pass at α 0.01 but not 3 of 4', () => {
    // BF(x=2, y=1, ρ=0.05) = B(3,2) / (0.05² · 0.95) = 35.1; BF(x=3, y=1) = 421
    const two = sequentialErrorTest({ total: 100, errors: 2 }, { total: 1900, errors: 1 }, 0.01);
    expect(two.bayesFactor).toBeCloseTo(1 / 12 / (0.0025 * 0.95), 8);
    expect(two.reject).toBe(false);
    const three = sequentialErrorTest({ total: 100, errors: 3 }, { total: 1900, errors: 1 }, 0.01);
    expect(three.bayesFactor).toBeCloseTo(0.05 / (0.05 ** 3 * 0.95), 6);
    expect(three.reject).toBe(true);
  });
  it('never rejects when the canary fails less than its share, however large the factor', () => {
    const t = sequentialErrorTest({ total: 5000, errors: 0 }, { total: 5000, errors: 200 }, 0.01);
    expect(t.bayesFactor).toBeGreaterThan(1e10);
    expect(t.reject).toBe(false);
    expect(t.pValue).toBe(1);
  });
  it('has nothing to say without requests on one side', () => {
    expect(sequentialErrorTest({ total: 0, errors: 0 }, { total: 100, errors: 3 }, 0.01)).toEqual({
      bayesFactor: 1, logBayesFactor: 0, pValue: 1, canaryShare: 0, errorShare: 0, reject: false,
    });
  });
  it('keeps false rejections under alpha over repeated looks (simulated, seeded)', () => {
    // 400 canaries as good as stable, 5% of traffic, 0.5% errors, looked at every 100 requests
    // up to 20,000: a fixed-sample test at α 0.05 looked at this often would reject far more.
    let seed = 7;
    const rand = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296);
    let rejected = 0;
    let zRejected = 0;
    for (let run = 0; run < 400; run++) {
      const c = { total: 0, errors: 0 };
      const s = { total: 0, errors: 0 };
      let seqHit = false;
      let zHit = false;
      for (let i = 1; i <= 20_000; i++) {
        const side = rand() < 0.05 ? c : s;
        side.total++;
        if (rand() < 0.005) side.errors++;
        if (i % 100 === 0 && c.total > 0) {
          if (!seqHit && sequentialErrorTest(c, s, 0.05).reject) seqHit = true;
          if (!zHit && twoProportionZ(c.errors, c.total, s.errors, s.total).pValue < 0.05) zHit = true;
        }
      }
      if (seqHit) rejected++;
      if (zHit) zRejected++;
    }
    expect(rejected / 400).toBeLessThanOrEqual(0.05);
    expect(zRejected / 400).toBeGreaterThan(0.1);
  });
  it('rejects impossible counts', () => {
    expect(() => sequentialErrorTest({ total: 3, errors: 4 }, { total: 10, errors: 0 }, 0.01)).toThrow(new RangeError('sequentialErrorTest: canary counts must satisfy 0 <= errors <= total (got 4/3)'));
  });
});
