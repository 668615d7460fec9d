#!/usr/bin/env node
/**
 * Fails when source files import each other in a cycle (`npm run lint` runs it first).
 *
 * `import type` counts: a cycle that TypeScript erases before run time is still two modules
 * that cannot be read, moved or tested apart, and it is how shared helpers end up owned by
 * whichever module declared them first. eslint-plugin-import-x's `no-cycle` skips type-only
 * imports and has no option to count them, so this walks the import graph itself. Only
 * relative specifiers are followed: a package cannot import this project back.
 *
 * Usage: node scripts/check-cycles.js [dir …]   (default: src test web/src bench scripts bin)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_DIRS = ['src', 'test', 'web/src', 'bench', 'scripts', 'bin'];
const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;
const SKIP_DIRS = new Set(['node_modules', 'dist', '.git']);

/** Every source file under `dirs` (absolute paths, sorted); a missing dir is skipped. */
export function listSources(dirs) {
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return;
      throw err;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) { if (!SKIP_DIRS.has(e.name)) walk(p); }
      else if (SOURCE.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of dirs) walk(path.resolve(d));
  return out.sort();
}

/**
 * The module specifiers `text` imports or re-exports, with their 1-based line: static and
 * type-only imports, `export … from`, `import()` (also in type positions) and `require`.
 * TypeScript's scanner reads them, so commented-out imports and strings do not count.
 */
export function importsOf(text) {
  const lines = lineStarts(text);
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => ({ specifier: f.fileName, line: lineAt(lines, f.pos) }));
}

/**
 * The file a relative `specifier` in `from` names, among `known` files, or null (a package, a
 * non-source file, a file outside the scanned dirs). `./x.js` may name `x.ts` or `x.tsx` (the
 * NodeNext convention), `./x` may name `x.ts` or `x/index.ts`.
 */
export function resolveImport(from, specifier, known) {
  if (!(specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../'))) return null;
  const base = path.resolve(path.dirname(from), specifier);
  const ext = path.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const candidates =
    ext === '.js' ? [stem + '.ts', stem + '.tsx', base]
    : ext === '.jsx' ? [stem + '.tsx', base]
    : ext === '.mjs' ? [stem + '.mts', base]
    : ext === '.cjs' ? [stem + '.cts', base]
    : SOURCE.test(base) ? [base]
    : ['.ts', '.tsx', '.js', '.jsx', '/index.ts', '/index.tsx', '/index.js'].map((e) => base + e);
  return candidates.find((c) => known.has(c)) ?? null;
}

/** file → its imports of other known files, `{ to, line, specifier }`, in source order. */
export function importGraph(files, read = (f) => readFileSync(f, 'utf8')) {
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const edges = [];
    for (const { specifier, line } of importsOf(read(file))) {
      const to = resolveImport(file, specifier, known);
      if (to !== null) edges.push({ to, line, specifier });
    }
    graph.set(file, edges);
  }
  return graph;
}

/**
 * One entry per knot of mutually dependent files (a strongly connected component with more
 * than one file, or a file that imports itself): `files`, sorted, and `cycle`, a shortest
 * import path from the first of them back to itself as `{ file, line, specifier, to }` steps.
 * Fixing that cycle may leave others in the same knot; the next run names them.
 */
export function findCycles(graph) {
  const knots = [];
  for (const component of stronglyConnected(graph)) {
    const members = new Set(component);
    const [start] = [...component].sort();
    const selfEdge = graph.get(start).find((e) => e.to === start);
    if (component.length === 1 && !selfEdge) continue;
    knots.push({ files: [...members].sort(), cycle: selfEdge ? [{ file: start, ...selfEdge }] : shortestCycle(graph, start, members) });
  }
  return knots.sort((a, b) => (a.files[0] < b.files[0] ? -1 : 1));
}

/** The knots in words, paths relative to `root`. */
export function formatCycles(knots, root = ROOT) {
  const rel = (f) => path.relative(root, f);
  const out = [];
  for (const k of knots) {
    out.push(`Import cycle among ${k.files.length} file${k.files.length === 1 ? '' : 's'} (\`import type\` counts too):`);
    for (const step of k.cycle) out.push(`  ${rel(step.file)}:${step.line} imports ${step.specifier} (${rel(step.to)})`);
    const rest = k.files.filter((f) => !k.cycle.some((s) => s.file === f));
    if (rest.length > 0) out.push(`  also part of this knot: ${rest.map(rel).join(', ')}`);
  }
  if (knots.length > 0) {
    out.push('', 'Break a cycle by moving what both sides need into a module that neither imports back; shared',
      'helpers (logger type, command runner, HTTP check, histogram) belong in src/core/, which imports nothing else from src.');
  }
  return out.join('\n');
}

function shortestCycle(graph, start, members) {
  // Breadth-first from start; `via` keeps the edge that first reached each file.
  const via = new Map();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const file = queue[i];
    for (const e of graph.get(file)) {
      if (!members.has(e.to) || via.has(e.to)) continue;
      via.set(e.to, { file, ...e });
      if (e.to === start) {
        const steps = [];
        for (let s = via.get(start); ; s = via.get(s.file)) {
          steps.unshift(s);
          if (s.file === start) return steps;
        }
      }
      queue.push(e.to);
    }
  }
  throw new Error(`no cycle through ${start}, yet it is in a strongly connected component`);
}

/** Tarjan's algorithm, iterative so a deep import chain cannot overflow the stack. */
function stronglyConnected(graph) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const components = [];
  let next = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work = [{ file: root, edge: 0 }];
    index.set(root, next); low.set(root, next); next++;
    stack.push(root); onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      const edges = graph.get(frame.file);
      if (frame.edge < edges.length) {
        const to = edges[frame.edge++].to;
        if (!index.has(to)) {
          index.set(to, next); low.set(to, next); next++;
          stack.push(to); onStack.add(to);
          work.push({ file: to, edge: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.file, Math.min(low.get(frame.file), index.get(to)));
        }
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1].file;
        low.set(parent, Math.min(low.get(parent), low.get(frame.file)));
      }
      if (low.get(frame.file) === index.get(frame.file)) {
        const component = [];
        let f;
        do { f = stack.pop(); onStack.delete(f); component.push(f); } while (f !== frame.file);
        components.push(component);
      }
    }
  }
  return components;
}

function lineStarts(text) {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

function lineAt(starts, pos) {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= pos) lo = mid; else hi = mid - 1;
  }
  return lo + 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dirs = args.length > 0 ? args : DEFAULT_DIRS.map((d) => path.join(ROOT, d));
  const files = listSources(dirs);
  const knots = findCycles(importGraph(files));
  if (knots.length > 0) {
    console.error(formatCycles(knots, process.cwd()));
    process.exitCode = 1;
  } else {
    console.log(`check-cycles: no import cycles among ${files.length} files`);
  }
}
