import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireOrSkip } from '../../../test/support/require.js';
import { mannWhitneyU } from '../mann-whitney.js';
import { normalSf, twoProportionZ } from '../proportions.js';
import { sequentialErrorTest } from '../sequential.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, 'compute.py');
const committed = JSON.parse(readFileSync(path.join(here, 'values.json'), 'utf8')) as ReferenceValues;

interface ReferenceValues {
  scipy: string;
  normalSf: Array<{ z: number; sf: number }>;
  twoProportionZ: Array<{ x1: number; n1: number; x2: number; n2: number; z: number; pValue: number }>;
  mannWhitneyU: Array<{ name: string; a: { values: number[]; counts: number[] }; b: { values: number[]; counts: number[] }; alternative: 'greater' | 'less'; u: number; pValue: number }>;
  sequentialErrorTest: Array<{ canary: { errors: number; total: number }; stable: { errors: number; total: number }; logBayesFactor: number }>;
}

/** Relative tolerance 1e-9; exact zeros must match exactly. */
function close(actual: number, expected: number, what: string): void {
  const tol = 1e-9 * Math.max(Math.abs(actual), Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tol)) {
    expect.fail(`${what}: got ${actual}, SciPy says ${expected} (relative difference ${Math.abs(actual - expected) / Math.abs(expected)})`);
  }
}

describe('statistics against SciPy reference values (values.json)', () => {
  it('normal survival function', () => {
    for (const c of committed.normalSf) close(normalSf(c.z), c.sf, `normalSf(${c.z})`);
  });

  it('two-proportion z-test', () => {
    for (const c of committed.twoProportionZ) {
      const r = twoProportionZ(c.x1, c.n1, c.x2, c.n2);
      const what = `twoProportionZ(${c.x1}, ${c.n1}, ${c.x2}, ${c.n2})`;
      close(r.z, c.z, `${what}.z`);
      close(r.pValue, c.pValue, `${what}.pValue`);
    }
  });

  it('Mann-Whitney U on binned samples (asymptotic, tie and continuity corrections)', () => {
    expect(committed.mannWhitneyU.length).toBeGreaterThanOrEqual(10);
    for (const c of committed.mannWhitneyU) {
      const r = mannWhitneyU(c.a, c.b, c.alternative);
      close(r.u, c.u, `${c.name}: U`);
      close(r.pValue, c.pValue, `${c.name}: p`);
    }
  });

  it('sequential test Bayes factor', () => {
    for (const c of committed.sequentialErrorTest) {
      const r = sequentialErrorTest(c.canary, c.stable, 0.01);
      close(r.logBayesFactor, c.logBayesFactor, `logBF(${JSON.stringify(c)})`);
    }
  });
});

/** Debian's python3-scipy installs for /usr/bin/python3, which another python3 on PATH may shadow. */
const PYTHONS = ['/usr/bin/python3', 'python3'];
let python = 'python3';

function hasScipy(): { ok: boolean; detail?: string } {
  let detail: string | undefined;
  for (const candidate of PYTHONS) {
    const r = spawnSync(candidate, ['-c', 'import scipy'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) {
      python = candidate;
      return { ok: true };
    }
    detail = r.error ? r.error.message : r.stderr.trim().split('\n').pop();
  }
  return { ok: false, detail };
}

const scipy = hasScipy();
const live = requireOrSkip('the live SciPy reference check (src/analysis/reference/compute.py)', 'the Debian package python3-scipy', scipy.ok, scipy.detail);

describe.skipIf(!live)('reference script, run live with SciPy', () => {
  it('prints the committed values.json', () => {
    const r = spawnSync(python, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    // The SciPy version may differ between machines; the figures may not.
    const withoutVersion = (v: ReferenceValues): Partial<ReferenceValues> => ({ ...v, scipy: undefined });
    compareDeep(withoutVersion(JSON.parse(r.stdout) as ReferenceValues), withoutVersion(committed), '$');
  });
});

function compareDeep(a: unknown, b: unknown, at: string): void {
  if (typeof a === 'number' && typeof b === 'number') return close(a, b, at);
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(a.length, `${at}.length`).toBe(b.length);
    a.forEach((x, i) => compareDeep(x, b[i], `${at}[${i}]`));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(a).sort(), `${at} keys`).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) compareDeep((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`);
    return;
  }
  expect(a, at).toEqual(b);
}
