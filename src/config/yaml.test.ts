import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { MAX_CONFIG_BYTES, MAX_NESTING, MAX_PROBLEMS } from './limits.js';
import { readYaml } from './yaml.js';

/** The problems readYaml reports for `text` (file name dropped); fails the test when it reads the text. */
function problemsOf(text: string): Array<Omit<ConfigProblem, 'file'>> {
  try {
    readYaml(text, 'gangway.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(({ file, ...rest }) => {
      expect(file).toBe('gangway.yaml');
      return rest;
    });
  }
  throw new Error('expected a ConfigError');
}

const NESTING_HINT = 'gangway.yaml needs about 10 levels; write this value flatter';
const nestedHere = `mappings and lists are nested more than ${MAX_NESTING} levels deep here`;

describe('readYaml: data', () => {
  it('builds mappings without a prototype, so keys named like Object methods are ordinary keys', () => {
    const { data } = readYaml('constructor: 1\ntoString: { hasOwnProperty: 2 }\nlist: [a, 3, true, null]\n8080: port\n', 'gangway.yaml');
    const root = data as Record<string, unknown>;
    expect(Object.getPrototypeOf(root)).toBeNull();
    expect(Object.keys(root)).toEqual(['8080', 'constructor', 'toString', 'list']);
    expect(root.constructor).toBe(1);
    expect(root.toString).toEqual({ hasOwnProperty: 2 });
    expect(root.list).toEqual(['a', 3, true, null]);
    expect(root['8080']).toBe('port');
    expect(root.valueOf).toBeUndefined();
  });

  it('gives an alias the value of the last anchor of its name before it, built once', () => {
    const { data, aliases } = readYaml('a: &x { k: 1 }\nb: *x\nc: &x [2]\nd: *x\n', 'gangway.yaml');
    const root = data as Record<string, unknown>;
    expect(root).toEqual({ a: { k: 1 }, b: { k: 1 }, c: [2], d: [2] });
    expect(root.b).toBe(root.a);
    expect(aliases.size).toBe(2);
  });

  it('merges << keys in a YAML 1.1 document: keys of the mapping itself win, earlier sources over later ones', () => {
    const text = '%YAML 1.1\n---\nbase: &base { a: 1, b: 1 }\nmore: &more { b: 2, c: 2 }\nm:\n  a: 0\n  <<: [*base, *more]\n  d: 3\n';
    expect((readYaml(text, 'gangway.yaml').data as Record<string, unknown>).m).toEqual({ a: 0, b: 1, c: 2, d: 3 });
    expect(problemsOf('%YAML 1.1\n---\nm:\n  <<: [1, 2]\n')).toEqual([
      { line: 4, column: 7, path: 'm', message: 'a merge (<<) takes a mapping or a list of mappings', hint: 'merge an anchored mapping, e.g. `<<: *defaults`' },
    ]);
  });

  it('reads an empty file as null', () => {
    expect(readYaml('# nothing yet\n', 'gangway.yaml').data).toBeNull();
  });
});

describe('readYaml: keys', () => {
  it('refuses __proto__ as a key wherever it is, quoted or not, instead of dropping it', () => {
    const text = 'services:\n  __proto__: { a: 1 }\n  web: {}\nenv: { "__proto__": x }\n';
    const hint = 'rename it: no key, name, header or variable in gangway.yaml may be called __proto__';
    expect(problemsOf(text)).toEqual([
      { line: 2, column: 3, path: 'services.__proto__', message: '`__proto__` is a reserved name and cannot be a key', hint },
      { line: 4, column: 8, path: 'env.__proto__', message: '`__proto__` is a reserved name and cannot be a key', hint },
    ]);
  });

  it('reports every duplicate key, with its path, in a mapping of any size', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`);
    const text = `${keys.join('\n')}\nk5: 2\nnested: { a: 1, b: 2, a: 3 }\n`;
    const hint = 'a key may appear only once in the same mapping; keep one of them';
    expect(problemsOf(text)).toEqual([
      { line: 20_001, column: 1, path: 'k5', message: 'duplicate key `k5`', hint },
      { line: 20_002, column: 23, path: 'nested.a', message: 'duplicate key `a`', hint },
    ]);
  });

  it('keeps a key and the same text as a number apart, as YAML does', () => {
    expect(readYaml('1: a\n"1": b\n', 'gangway.yaml').data).toEqual({ 1: 'b' });
  });

  it('refuses keys that are aliases, mappings or lists', () => {
    const hint = 'write the key itself, e.g. `web:`';
    const message = 'a key must be written out as plain text, not as an alias, mapping or list';
    expect(problemsOf('a: &k name\n*k : 1\n? [x]\n: 2\n')).toEqual([
      { line: 2, column: 1, path: '', message, hint },
      { line: 3, column: 3, path: '', message, hint },
    ]);
  });
});

describe('readYaml: limits', () => {
  it('refuses text over the size limit, naming its size', () => {
    const text = `a: "${'x'.repeat(MAX_CONFIG_BYTES)}"\n`;
    expect(problemsOf(text)).toEqual([{
      line: 1, column: 1, path: '', message: `the file is 1.0 MiB (${MAX_CONFIG_BYTES + 6} bytes); the limit is 1 MiB`,
      hint: 'a gangway.yaml describes a project in a few kilobytes; check that this is the right file',
    }]);
  });

  it('refuses block mappings nested past the limit, where the level opens', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `${' '.repeat(i)}a:`);
    expect(problemsOf(`${lines.join('\n')} 1\n`)).toEqual([
      { line: MAX_NESTING + 1, column: MAX_NESTING + 1, path: '', message: nestedHere, hint: NESTING_HINT },
    ]);
  });

  it('refuses flow lists and compact block lists nested past the limit', () => {
    expect(problemsOf(`x: ${'['.repeat(200_000)}${']'.repeat(200_000)}\n`)).toEqual([
      { line: 1, column: 3 + MAX_NESTING, path: '', message: nestedHere, hint: NESTING_HINT },
    ]);
    expect(problemsOf(`x:\n  ${'- '.repeat(100_000)}a\n`)).toEqual([
      { line: 2, column: 3 + 2 * (MAX_NESTING - 1), path: '', message: nestedHere, hint: NESTING_HINT },
    ]);
  });

  it('accepts nesting up to the limit, with siblings, sequences at their key\'s column and explicit keys', () => {
    // The document, a's mapping, b's list and the item's mapping are four levels; d's lists make the rest.
    const deep = `${'['.repeat(MAX_NESTING - 4)}${']'.repeat(MAX_NESTING - 4)}`;
    const text = `a:\n  b:\n  - c: 1\n    d: ${deep}\n  - e\n  f: 2\n? g\n: h\n`;
    expect(readYaml(text, 'gangway.yaml').data).toEqual({ a: { b: [{ c: 1, d: JSON.parse(deep) }, 'e'], f: 2 }, g: 'h' });
    expect(problemsOf(text.replace(deep, `[${deep}]`))).toEqual([
      { line: 4, column: 8 + MAX_NESTING - 4, path: '', message: nestedHere, hint: NESTING_HINT },
    ]);
  });

  it('refuses nesting past the limit that only aliases make, at the alias', () => {
    const text = `a: &a ${'['.repeat(40)}${']'.repeat(40)}\nb: ${'['.repeat(30)}*a${']'.repeat(30)}\n`;
    expect(problemsOf(text)).toEqual([{
      line: 2, column: 34, path: `b${'[0]'.repeat(30)}`, message: `${nestedHere} (through the alias *a)`, hint: NESTING_HINT,
    }]);
  });

  it('refuses aliases that expand the data past a million values, at the alias that crosses it', () => {
    let text = 'l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n';
    for (let i = 1; i < 8; i++) text += `l${i}: &l${i} [${Array(10).fill(`*l${i - 1}`).join(', ')}]\n`;
    expect(problemsOf(text)).toEqual([{
      line: 8, column: 10, path: 'l7[0]', message: 'aliases expand the file to more than 1,000,000 values (the alias *l6 here to 11,111,111)',
      hint: 'use fewer aliases, or aliases of smaller values',
    }]);
  });

  it('refuses an alias inside the value its anchor names, and an alias without an anchor', () => {
    expect(problemsOf('services: &s\n  web: *s\n')).toEqual([{
      line: 2, column: 8, path: '', message: 'the alias *s is inside the value its anchor names, so that value would never end',
      hint: 'an anchored value cannot contain itself: write the inner value out',
    }]);
    expect(problemsOf('a: *b\nb: &b 1\n')).toEqual([
      { line: 1, column: 4, path: 'a', message: 'unknown alias *b', hint: 'define the anchor &b on a value before this alias' },
    ]);
  });

  it('lists the first problems and counts the rest', () => {
    const text = `${Array.from({ length: 120 }, (_, i) => `m${i}: { a: 1, a: 2 }`).join('\n')}\n`;
    const problems = problemsOf(text);
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems[MAX_PROBLEMS - 1]).toEqual({
      line: MAX_PROBLEMS, column: 14, path: `m${MAX_PROBLEMS - 1}.a`, message: 'duplicate key `a`', hint: 'a key may appear only once in the same mapping; keep one of them',
    });
    expect(problems[MAX_PROBLEMS]).toEqual({
      line: MAX_PROBLEMS + 1, column: 14, path: '', message: `… and ${120 - MAX_PROBLEMS} more problems from here on (only the first ${MAX_PROBLEMS} are listed)`,
      hint: 'fix the problems above and validate again to see the rest', omitted: 120 - MAX_PROBLEMS,
    });
  });

  it('reports a second document where it starts', () => {
    expect(problemsOf('a: 1\n---\nb: 2\n')).toEqual([
      { line: 2, column: 1, path: '', message: 'YAML syntax error: the file holds more than one YAML document', hint: 'gangway.yaml holds one document; remove the `---` separator' },
    ]);
  });
});
