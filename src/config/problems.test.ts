import { describe, expect, it } from 'vitest';
import type { ConfigProblem } from '../errors.js';
import { MAX_PROBLEMS } from './limits.js';
import { didYouMean, displayPath, editDistance, formatPath, limitProblems, listNames, quote } from './problems.js';

describe('didYouMean', () => {
  const keys = ['previewPort', 'scaleDownDelay'];
  it.each<[string, readonly string[], string | undefined]>([
    ['previewPrt', keys, 'previewPort'],
    ['previewport', keys, 'previewPort'],
    ['PREVIEWPORT', keys, 'previewPort'],
    ['scaledowndelay', keys, 'scaleDownDelay'],
    ['delay', keys, undefined],
    ['prot', ['port', 'host'], 'port'],
    ['hots', ['port', 'host'], 'host'],
    ['ab', ['cd', 'xy'], undefined],
    ['stagin', ['dev', 'staging', 'prod'], 'staging'],
  ])('%s among %j → %s', (word, candidates, expected) => {
    expect(didYouMean(word, candidates)).toBe(expected);
  });

  it('compares a word of 100,000 characters only with candidates of about its length', () => {
    const long = 'a'.repeat(100_000);
    expect(didYouMean(long, ['dev', 'staging'])).toBeUndefined();
    expect(didYouMean(long, [`${long.slice(0, -2)}bb`, `${long.slice(0, -1)}b`])).toBe(`${long.slice(0, -1)}b`);
    expect(didYouMean(long, ['b'.repeat(100_000)])).toBeUndefined();
  });
});

describe('editDistance', () => {
  it.each([
    ['', '', 0], ['port', 'port', 0], ['port', 'prot', 2], ['port', 'ports', 1], ['kitten', 'sitting', 3],
  ] as const)('%s / %s → %i', (a, b, d) => {
    expect(editDistance(a, b)).toBe(d);
  });

  it.each([
    ['kitten', 'sitting', 2, 3], ['kitten', 'sitting', 3, 3], ['port', 'prot', 2, 2], ['port', 'pt', 1, 2], ['abcdef', 'abcdef', 0, 0],
    ['abc', 'xyz', 1, 2], ['flaw', 'lawn', 2, 2], ['', 'ab', 2, 2], ['', 'abc', 2, 3],
  ] as const)('%s / %s within %i → %i (anything above the bound is bound + 1)', (a, b, max, d) => {
    expect(editDistance(a, b, max)).toBe(d);
  });

  it('with a bound, compares strings of 100,000 characters along the diagonal only', () => {
    const a = 'ab'.repeat(50_000);
    expect(editDistance(a, `x${a.slice(1)}`, 2)).toBe(1);
    expect(editDistance(a, `${a.slice(0, 50_000)}zz${a.slice(50_000)}`, 2)).toBe(2);
    expect(editDistance(a, 'ba'.repeat(50_000), 2)).toBe(2);
    expect(editDistance(a, 'cd'.repeat(50_000), 2)).toBe(3);
  });
});

describe('quote, listNames and displayPath', () => {
  it('quote cuts a long value short and names its length', () => {
    expect(quote('8080')).toBe('"8080"');
    expect(quote('x'.repeat(81))).toBe(`"${'x'.repeat(80)}"… (81 characters)`);
    expect(quote(5)).toBe('5');
  });

  it('listNames names the first ten and counts the rest', () => {
    expect(listNames(['dev', 'prod'])).toBe('dev, prod');
    const names = Array.from({ length: 12 }, (_, i) => `s${i}`);
    expect(listNames(names)).toBe('s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 and 2 more');
  });

  it('displayPath cuts long keys short', () => {
    expect(displayPath(['services', 'x'.repeat(100), 'port'])).toBe(`services["${'x'.repeat(80)}…"].port`);
  });
});

describe('limitProblems', () => {
  const problem = (line: number): ConfigProblem => ({ file: 'g.yaml', line, column: 3, path: `p${line}`, message: `m${line}` });

  it('keeps up to the limit as they are', () => {
    const problems = Array.from({ length: MAX_PROBLEMS }, (_, i) => problem(i + 1));
    expect(limitProblems(problems)).toBe(problems);
  });

  it('keeps the first ones and counts the rest from where they start', () => {
    expect(limitProblems([problem(1), problem(2), problem(3), problem(4)], 2)).toEqual([
      problem(1), problem(2),
      { file: 'g.yaml', line: 3, column: 3, path: '', message: '… and 2 more problems from here on (only the first 2 are listed)', hint: 'fix the problems above and validate again to see the rest', omitted: 2 },
    ]);
    expect(limitProblems([problem(1), problem(2)], 1)[1].message).toBe('… and 1 more problem from here on (only the first 1 are listed)');
  });
});

describe('formatPath', () => {
  it.each<[Array<string | number>, string]>([
    [[], ''],
    [['services', 'web', 'smoke', 2, 'http', 'path'], 'services.web.smoke[2].http.path'],
    [['services', 'web', 'strategy', 'blueGreen', 'previewPort'], 'services.web.strategy.blueGreen.previewPort'],
    [['services', 'web', 'target', 'local', 'env', 'APP_VERSION'], 'services.web.target.local.env.APP_VERSION'],
    [['services', 'web', 'smoke', 0, 'http', 'headers', 'X-Request-Id'], 'services.web.smoke[0].http.headers.X-Request-Id'],
    [['health', 'expect', 'json', 'checks.db'], 'health.expect.json["checks.db"]'],
  ])('%j → %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });
});
