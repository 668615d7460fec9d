import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findCycles, formatCycles, importGraph, importsOf, listSources, resolveImport } from './check-cycles.js';

const SCRIPT = fileURLToPath(new URL('./check-cycles.js', import.meta.url));
const dirs = [];

/** A folder holding `files` (path → source). */
function given(files) {
  const dir = mkdtempSync(path.join(tmpdir(), 'gangway-cycles-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function cyclesIn(dir) {
  return findCycles(importGraph(listSources([dir]))).map((k) => ({
    files: k.files.map((f) => path.relative(dir, f)),
    cycle: k.cycle.map((s) => `${path.relative(dir, s.file)}:${s.line} -> ${path.relative(dir, s.to)}`),
  }));
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('check-cycles', () => {
  it('finds a cycle made only of type imports, naming each import with its line', () => {
    const dir = given({
      'engine/runner.ts': "import { BackgroundAnalysis } from './background-analysis.js';\n\nexport interface Logger { info(o: object): void }\n",
      'engine/background-analysis.ts': "// the logger type\nimport type { Logger } from './runner.js';\nexport class BackgroundAnalysis {}\n",
    });
    expect(cyclesIn(dir)).toEqual([{
      files: ['engine/background-analysis.ts', 'engine/runner.ts'],
      cycle: ['engine/background-analysis.ts:2 -> engine/runner.ts', 'engine/runner.ts:1 -> engine/background-analysis.ts'],
    }]);
  });

  it('follows export-from, inline type specifiers, import() types and index files across folders', () => {
    const dir = given({
      'a/x.ts': "export * from '../b/index.js';\n",
      'b/index.ts': "import { type Y } from '../c';\nexport type Z = Y;\n",
      'c.ts': "export type Y = import('./a/x.js').Q;\n",
      'd.ts': "import { x } from './a/x.js';\n",
    });
    expect(cyclesIn(dir)).toEqual([{
      files: ['a/x.ts', 'b/index.ts', 'c.ts'],
      cycle: ['a/x.ts:1 -> b/index.ts', 'b/index.ts:1 -> c.ts', 'c.ts:1 -> a/x.ts'],
    }]);
  });

  it('reports the shortest cycle of a knot and lists the rest of the knot', () => {
    const dir = given({
      'a.ts': "import './c.js';\nimport './b.js';\n",
      'b.ts': "import './a.js';\n",
      'c.ts': "import './d.js';\n",
      'd.ts': "import './a.js';\n",
    });
    const knots = findCycles(importGraph(listSources([dir])));
    expect(formatCycles(knots, dir).split('\n').slice(0, 4)).toEqual([
      'Import cycle among 4 files (`import type` counts too):',
      '  a.ts:2 imports ./b.js (b.ts)',
      '  b.ts:1 imports ./a.js (a.ts)',
      '  also part of this knot: c.ts, d.ts',
    ]);
  });

  it('finds no cycle in a tree, and ignores packages, comments, strings and files outside the scanned folders', () => {
    const dir = given({
      'core/logger.ts': "import pino from 'pino';\n// import { x } from '../engine/runner.js';\nexport const s = \"import '../engine/runner.js'\";\n",
      'engine/runner.ts': "import type { Logger } from '../core/logger.js';\nimport '../../outside.js';\n",
      'web/App.tsx': "import { api } from './api.js';\n",
      'web/api.ts': "export const api = 1;\n",
      'notes.d.ts': "import './engine/runner.js';\n",
    });
    expect(cyclesIn(dir)).toEqual([]);
    expect(importGraph(listSources([dir])).get(path.join(dir, 'web/App.tsx'))).toEqual([{ to: path.join(dir, 'web/api.ts'), line: 1, specifier: './api.js' }]);
  });

  it('resolves NodeNext `.js` specifiers to `.ts` and `.tsx` sources and leaves packages alone', () => {
    const known = new Set(['/p/src/a.ts', '/p/src/b.tsx', '/p/src/c/index.ts', '/p/bench/run.js']);
    expect(resolveImport('/p/src/x.ts', './a.js', known)).toBe('/p/src/a.ts');
    expect(resolveImport('/p/src/x.ts', './b.js', known)).toBe('/p/src/b.tsx');
    expect(resolveImport('/p/src/x.ts', './c', known)).toBe('/p/src/c/index.ts');
    expect(resolveImport('/p/src/x.ts', '../bench/run.js', known)).toBe('/p/bench/run.js');
    expect(resolveImport('/p/src/x.ts', 'pino', known)).toBeNull();
    expect(resolveImport('/p/src/x.ts', './styles.css', known)).toBeNull();
    expect(importsOf("import a from 'a';\n\nexport type { B } from './b.js';\n")).toEqual([
      { specifier: 'a', line: 1 },
      { specifier: './b.js', line: 3 },
    ]);
  });

  it('as a command: exits 1 naming the cycle, 0 without one', () => {
    const bad = given({ 'a.ts': "import type { B } from './b.js';\nexport type A = B[];\n", 'b.ts': "import type { A } from './a.js';\nexport type B = A | 1;\n" });
    const r = spawnSync(process.execPath, [SCRIPT, bad], { cwd: bad, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Import cycle among 2 files (`import type` counts too):\n  a.ts:1 imports ./b.js (b.ts)\n  b.ts:1 imports ./a.js (a.ts)\n');
    const good = given({ 'a.ts': "import type { B } from './b.js';\nexport type A = B[];\n", 'b.ts': 'export type B = 1;\n' });
    const ok = spawnSync(process.execPath, [SCRIPT, good], { cwd: good, encoding: 'utf8' });
    expect({ status: ok.status, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ status: 0, stdout: 'check-cycles: no import cycles among 2 files\n', stderr: '' });
  });
});
