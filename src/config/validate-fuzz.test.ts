/**
 * Property-based fuzzing of config validation: valid configs (the examples users copy and a
 * complete file) are mutated — as text and as data — and whatever comes of it, `parseConfig`
 * either compiles it or throws a ConfigError whose every problem says where (a line and column
 * inside the text), what (a message without a stack trace or a JavaScript error's words) and at
 * which key; `gangway validate` exits 0 or 2 and prints `file:line:column:` before every problem.
 *
 * The seeds are fixed so a failure reproduces; fast-check prints the shrunk counterexample and
 * its seed and path. GANGWAY_FUZZ_RUNS=<factor> multiplies the runs and GANGWAY_FUZZ_SEED=<n>
 * replaces the seeds, for a longer hunt by hand; GANGWAY_FUZZ_STATS=1 prints what was tried.
 * A counterexample that found a bug stays below as a regression case.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { main } from '../cli/main.js';
import { targetProblems } from '../cli/targets.js';
import { ConfigError, formatProblem } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { MAX_PROBLEMS } from './limits.js';
import { parseConfig } from './load.js';
import type { LoadOptions } from './load.js';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const RUNS = Number(process.env.GANGWAY_FUZZ_RUNS ?? 1);
const SEED_OVERRIDE = process.env.GANGWAY_FUZZ_SEED === undefined ? undefined : Number(process.env.GANGWAY_FUZZ_SEED);
const runs = (n: number): number => Math.max(1, Math.round(n * RUNS));
// A longer hunt takes longer than the suite's 60 s.
const TIMEOUT = 60_000 * Math.max(1, RUNS);
const seed = (fixed: number): number => SEED_OVERRIDE ?? fixed;

// ---------------------------------------------------------------------------------------------
// Seeds: valid configs

/** The complete file of load.test.ts: every section of a local project. */
const FULL = `project: shop
stateDir: var/gangway
server: { host: 0.0.0.0, port: 7500, allowedHosts: [gangway.example.com, .corp.example] }
agent: { metricsPort: 7501 }
store: { postgres: { urlFromEnv: SHOP_DATABASE_URL } }
groups: { ops: [alice, bob] }
environments:
  dev: {}
  staging:
    promotion: { from: dev }
  prod:
    promotion: { from: staging }
    reason: required
    approvals: { required: 1, groups: [ops] }
    windows:
      - deny: { days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00" }
        timezone: America/New_York
      - allow: { from: "06:00", to: "22:00" }
services:
  api:
    target:
      local:
        command: ["node", "api.js", "--port=\${port}"]
        port: 8000
    environments:
      staging: { target: { local: { port: 8100 } } }
      prod: { target: { local: { port: 8200 } } }
  web:
    dependsOn: [api]
    target:
      local:
        command: ["node", "server.js"]
        cwd: apps/web
        env: { APP_VERSION: "\${release.version}" }
        instances: 2
        port: 8080
        host: 0.0.0.0
    health:
      path: /actuator/health
      expect: { status: 200, json: { status: UP } }
      interval: 2s
      timeout: 500ms
      failureThreshold: 3
    strategy:
      blueGreen: { previewPort: 8090, scaleDownDelay: 1m }
    smoke:
      - http: { path: /api/v1/health/db, method: POST, headers: { X-Check: "1" }, expect: { status: 204, bodyContains: ok } }
        timeout: 10s
      - run: ["./scripts/verify-deployment.sh", "\${environment}"]
    rollback: { automatic: false, watch: 10m }
    drainTimeout: 15s
    environments:
      staging:
        target: { local: { port: 8180 } }
        strategy: { blueGreen: { previewPort: 8190 } }
      prod:
        target: { local: { port: 9080, instances: 4 } }
        strategy: { rolling: { maxSurge: 2 } }
        smoke: []
`;

interface Seed { name: string; file: string; text: string }

/** Each seed is read where it lives, so the files it names (keys, manifests) are found. */
const SEEDS: Seed[] = [
  { name: 'FULL', file: '/srv/shop/gangway.yaml', text: FULL },
  ...['basic', 'demo', 'gitops', 'kubernetes'].map((name) => {
    const file = join(EXAMPLES, name, 'gangway.yaml');
    return { name: `examples/${name}`, file, text: readFileSync(file, 'utf8') };
  }),
];

/** As `gangway validate` loads: strategies checked against their targets; FULL's store URL set. */
const OPTIONS: LoadOptions = { env: { SHOP_DATABASE_URL: 'postgres://gangway@db/shop' }, check: targetProblems };

// ---------------------------------------------------------------------------------------------
// The property

/** What the fuzzer tried, for GANGWAY_FUZZ_STATS and for the checks that it reached the schema. */
interface Tally { tried: number; valid: number; syntax: number; schema: number; crashes: number }
const tally = (): Tally => ({ tried: 0, valid: 0, syntax: 0, schema: 0, crashes: 0 });

// A V8 stack frame: `    at fn (/path/file.js:12:34)`, `    at node:internal/…:1:2`.
const STACK_FRAME = /^\s*at .*(?:\(|\s)(?:file:\/\/|node:|\/)[^\s)]*:\d+:\d+\)?\s*$/m;
// What a JavaScript fault says, which no message of Gangway's should.
const JS_FAULT = /Cannot read propert|Cannot set propert|Cannot convert|is not a function|is not iterable|is not defined|is not a constructor|Maximum call stack|Invalid string length|\[object Object\]|\b(?:undefined|null) is not (?:a function|an object|iterable)|RangeError|TypeError|ReferenceError/;
// A message is one line: a line break or a terminal's control character from the file is escaped.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** The lines of the text as the YAML library counts them (on `\n`), with their lengths in UTF-16 units. */
function lineLengths(text: string): number[] {
  return text.split('\n').map((line) => line.length);
}

/**
 * One problem is answerable: where (a line and column inside the text), at which key, and what,
 * in words of Gangway's, without a stack trace.
 */
function expectWellFormed(p: ConfigProblem, file: string, lines: number[], isLast: boolean): void {
  expect(p.file).toBe(file);
  expect(Number.isInteger(p.line) && p.line >= 1, `line ${p.line}`).toBe(true);
  // Lines are counted on `\n`, so a text ending in one has an empty last line: no problem is past it.
  expect(p.line, `line ${p.line} of a text of ${lines.length} lines`).toBeLessThanOrEqual(lines.length);
  expect(Number.isInteger(p.column) && p.column >= 1, `column ${p.column}`).toBe(true);
  const length = lines[p.line - 1] ?? 0;
  expect(p.column, `column ${p.column} of line ${p.line}, ${length} characters long`).toBeLessThanOrEqual(length + 1);
  expect(typeof p.path).toBe('string');
  expect(typeof p.message).toBe('string');
  expect(p.message.trim()).not.toBe('');
  for (const text of [p.message, p.hint ?? '', p.path]) {
    expect(text).not.toMatch(STACK_FRAME);
    expect(text).not.toMatch(JS_FAULT);
    expect(text).not.toMatch(CONTROL);
  }
  if (p.hint !== undefined) expect(p.hint.trim()).not.toBe('');
  if (p.omitted !== undefined) {
    expect(isLast).toBe(true);
    expect(Number.isInteger(p.omitted) && p.omitted > 0).toBe(true);
  }
}

/**
 * parseConfig compiles the text or throws a ConfigError with at most MAX_PROBLEMS problems (and
 * a last one counting the rest), each well-formed, in file order; nothing else escapes it.
 */
function checkParse(text: string, file: string, count: Tally): void {
  count.tried += 1;
  let thrown: unknown;
  try {
    parseConfig(text, file, OPTIONS);
    count.valid += 1;
    return;
  } catch (err) {
    thrown = err;
  }
  if (!(thrown instanceof ConfigError)) {
    count.crashes += 1;
    throw new Error(`parseConfig threw ${thrown instanceof Error ? `${thrown.name}: ${thrown.message}\n${thrown.stack}` : String(thrown)}`);
  }
  const { problems } = thrown;
  expect(problems.length).toBeGreaterThan(0);
  expect(problems.length).toBeLessThanOrEqual(MAX_PROBLEMS + 1);
  const lines = lineLengths(text);
  problems.forEach((p, i) => expectWellFormed(p, file, lines, i === problems.length - 1));
  for (let i = 1; i < problems.length; i++) {
    const [a, b] = [problems[i - 1], problems[i]];
    expect(a.line < b.line || (a.line === b.line && a.column <= b.column), `problems in file order: ${a.line}:${a.column} before ${b.line}:${b.column}`).toBe(true);
  }
  expect(thrown.message).toBe(problems.map(formatProblem).join('\n'));
  // `validate -o json` prints them.
  expect(JSON.parse(JSON.stringify(problems))).toEqual(problems);
  if (problems[0].message.startsWith('YAML syntax error')) count.syntax += 1;
  else count.schema += 1;
}

// ---------------------------------------------------------------------------------------------
// Mutations of the text

/** Pieces of YAML syntax and hostile text. */
const FRAGMENTS = [
  ':', ': ', '- ', '-', '{', '}', '[', ']', ',', '&a ', '*a', '&a', '<<: *a', '<<: ', '? ', '!!str ', '!!int ', '!!binary ',
  '!!timestamp ', '!!set ', '!!omap ', '!!map ', '!!seq ', '!custom ', '!<tag:yaml.org,2002:str> ', '#', ' #', '"', "'", '|', '|-', '>', '>+',
  '\t', '\n', '\r\n', '\r', '  ', '    ', '---\n', '...\n', '--- ', '%YAML 1.1\n', '%TAG ! tag:x,2000:\n', '\0', '\uFEFF', '\uD800', '\uDFFF',
  '\u2028', '\u0085', '🚀', 'é', '\u0301', '日本', '\\', '\\u0000', '${', '${port}', '${release.version}', '__proto__', 'constructor',
  '__proto__: 1', 'constructor: {}', 'toString: x', '1e400', '99999999999999999999999', '-1', '0x1F', '.nan', '.inf', '~', 'null', 'true',
  '"\\x00"', '"\\uD800"', "''", '""', '[]', '{}', '[[[[[[', '{{{{{{', ']]]]', 'a: b: c', '- - -', 'a'.repeat(300),
];

/** Values of every YAML type, for a scalar that was something else. */
const VALUES = [
  '0', '1', '-1', '42', '"42"', "'8080'", '8080.5', '1e400', '-1e400', '1e-400', '123456789012345678901234567890', '9007199254740993',
  '0x7fffffffffffffff', '0o777', '+12', '-0', '.nan', '.inf', '-.inf', '1_000', 'null', '~', '', '""', "''", 'true', 'false',
  'yes', 'no', 'on', '[]', '{}', '[a, b]', '[1, 2, 3]', '{a: 1}', '{ local: {} }', '[[[]]]', '- x', '__proto__', 'constructor',
  '"__proto__"', 'toString', 'hasOwnProperty', 'prototype', '🚀', '"\\u0000"', '"\\uD800"', '"a\\nb"', '"\\n    at x (/x.js:1:2)"',
  '2026-01-01', '2026-01-01T00:00:00Z', '12:30', '1h', '0s', '-5m', '1000000h', '9999999999999d', 'P1D', '*undefined', '&x', '!!binary aGk=',
  'x'.repeat(100), 'é'.repeat(5000), '${', '${nope}', '${environment', 'http://', 'http://[::1', '/../../etc/passwd', '../', '.',
];

/** Names for keys: of the schema, of Object's prototype, and none at all. */
const NAMES = [
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '"__proto__"', "'constructor'", '""', "''",
  'project', 'environments', 'services', 'target', 'local', 'kubernetes', 'helm', 'gitops', 'strategy', 'canary', 'blueGreen', 'rolling',
  'steps', 'port', 'health', 'smoke', 'dependsOn', 'promotion', 'from', 'analysis', 'windows', 'approvals', 'groups', 'dev', 'prod',
  'staging', 'web', 'api', '0', '1', '-1', 'null', 'true', '~', '1e400', '"a b"', '"a\\nb"', '日本', '🚀', 'é', 'x'.repeat(200), '? [a]', '*a',
];

/** Text of every kind: syntax, values, random ASCII, random Unicode, long runs. */
const textArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...FRAGMENTS), weight: 4 },
  { arbitrary: fc.constantFrom(...VALUES), weight: 2 },
  { arbitrary: fc.string({ maxLength: 12 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 6 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 6 }), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom('a', 'é', '🚀', ' ', '-', '[', '{', '9', '\n'), fc.integer({ min: 100, max: 5000 })).map(([c, n]) => c.repeat(n)), weight: 1 },
);

const valueArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...VALUES), weight: 4 },
  // JSON is YAML: a whole value of any shape, written flow-style.
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)), weight: 2 },
  { arbitrary: textArb, weight: 1 },
);

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...NAMES), weight: 4 },
  { arbitrary: fc.string({ minLength: 1, maxLength: 10 }), weight: 1 },
);

type TextEdit =
  | { op: 'delete'; at: number; length: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'replace'; at: number; length: number; text: string }
  | { op: 'deleteLine'; line: number }
  | { op: 'duplicateLine'; line: number }
  | { op: 'moveLine'; line: number; to: number }
  | { op: 'indent'; line: number; by: number }
  | { op: 'tabIndent'; line: number }
  | { op: 'value'; line: number; text: string }
  | { op: 'key'; line: number; text: string };

// Positions are any natural number, taken modulo the text's length when the edit applies: an
// edit stays meaningful after the ones before it, and shrinks towards the start of the text.
const at = fc.nat({ max: 1_000_000 });
const textEditArb: fc.Arbitrary<TextEdit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at, length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant('insert' as const), at, text: textArb }),
  fc.record({ op: fc.constant('replace' as const), at, length: fc.integer({ min: 1, max: 20 }), text: textArb }),
  fc.record({ op: fc.constant('deleteLine' as const), line: at }),
  fc.record({ op: fc.constant('duplicateLine' as const), line: at }),
  fc.record({ op: fc.constant('moveLine' as const), line: at, to: at }),
  fc.record({ op: fc.constant('indent' as const), line: at, by: fc.integer({ min: -8, max: 8 }) }),
  fc.record({ op: fc.constant('tabIndent' as const), line: at }),
  { arbitrary: fc.record({ op: fc.constant('value' as const), line: at, text: valueArb }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('key' as const), line: at, text: nameArb }), weight: 2 },
);

// `  key: value` (a value that is not a comment), and `  - value`.
const KEY_LINE = /^(\s*(?:- )?)([^\s:#][^:#]*?)(:(?:\s|$))/;
const VALUE_LINE = /^(\s*(?:- )?(?:[^\s:#][^:#]*?:\s+)?)(\S.*?)\s*(#.*)?$/;

/** The index of the first line at or after `from` (cyclically) that `test` accepts, or -1. */
function findLine(lines: string[], from: number, test: (line: string) => boolean): number {
  for (let k = 0; k < lines.length; k++) {
    const i = (from + k) % lines.length;
    if (test(lines[i])) return i;
  }
  return -1;
}

function applyTextEdit(text: string, edit: TextEdit): string {
  const lines = text.split('\n');
  const line = 'line' in edit ? edit.line % lines.length : 0;
  switch (edit.op) {
    case 'delete': {
      const i = edit.at % (text.length + 1);
      return text.slice(0, i) + text.slice(i + edit.length);
    }
    case 'insert': {
      const i = edit.at % (text.length + 1);
      return text.slice(0, i) + edit.text + text.slice(i);
    }
    case 'replace': {
      const i = edit.at % (text.length + 1);
      return text.slice(0, i) + edit.text + text.slice(i + edit.length);
    }
    case 'deleteLine':
      lines.splice(line, 1);
      break;
    case 'duplicateLine':
      // The same key twice in a mapping, or an item twice in a list.
      lines.splice(line, 0, lines[line]);
      break;
    case 'moveLine': {
      const [moved] = lines.splice(line, 1);
      lines.splice(edit.to % (lines.length + 1), 0, moved);
      break;
    }
    case 'indent':
      lines[line] = edit.by >= 0 ? ' '.repeat(edit.by) + lines[line] : lines[line].replace(new RegExp(`^ {0,${-edit.by}}`), '');
      break;
    case 'tabIndent':
      lines[line] = lines[line].replace(/^ +/, (s) => '\t'.repeat(Math.max(1, s.length >> 1)));
      break;
    case 'value': {
      const i = findLine(lines, line, (l) => VALUE_LINE.test(l) && !/^\s*#/.test(l));
      if (i < 0) return text;
      lines[i] = lines[i].replace(VALUE_LINE, (_all, head: string) => `${head}${edit.text}`);
      break;
    }
    case 'key': {
      const i = findLine(lines, line, (l) => KEY_LINE.test(l) && !/^\s*#/.test(l));
      if (i < 0) return text;
      lines[i] = lines[i].replace(KEY_LINE, (_all, indent: string, _key: string, colon: string) => `${indent}${edit.text}${colon}`);
      break;
    }
  }
  return lines.join('\n');
}

const seedArb = fc.constantFrom(...SEEDS);
const mutatedTextArb = fc.record({ seed: seedArb, edits: fc.array(textEditArb, { minLength: 1, maxLength: 6 }) })
  .map(({ seed, edits }) => ({ seed: seed.name, file: seed.file, text: edits.reduce(applyTextEdit, seed.text) }));

// ---------------------------------------------------------------------------------------------
// Mutations of the data

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

type DataEdit =
  | { op: 'replace'; node: number; value: Json }
  | { op: 'delete'; node: number }
  | { op: 'addKey'; node: number; key: string; value: Json }
  | { op: 'renameKey'; node: number; key: string }
  | { op: 'wrapInList'; node: number }
  | { op: 'reshape'; node: number }
  | { op: 'retype'; node: number; big: boolean }
  | { op: 'tweak'; node: number; pick: number };

/** A key of the data: a name the schema knows, one of Object's, or any text at all. */
const dataKeyArb: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '', ' ', 'x'.repeat(500), '日本', '🚀',
    'project', 'target', 'local', 'port', 'strategy', 'canary', 'steps', 'environments', 'services', 'dev', 'web', '0', 'null', '\n', 'a\nb'),
  fc.string({ maxLength: 10 }),
);

const dataEditArb: fc.Arbitrary<DataEdit> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('replace' as const), node: at, value: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> }), weight: 3 },
  fc.record({ op: fc.constant('delete' as const), node: at }),
  fc.record({ op: fc.constant('addKey' as const), node: at, key: dataKeyArb, value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json> }),
  { arbitrary: fc.record({ op: fc.constant('renameKey' as const), node: at, key: dataKeyArb }), weight: 2 },
  fc.record({ op: fc.constant('wrapInList' as const), node: at }),
  fc.record({ op: fc.constant('reshape' as const), node: at }),
  { arbitrary: fc.record({ op: fc.constant('retype' as const), node: at, big: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('tweak' as const), node: at, pick: at }), weight: 3 },
);

// Values of the same type as the one they replace, so the file keeps its shape and reaches the
// checks past the schema: names that refer to each other, ports, durations, sizes.
const SAME_TYPE = {
  number: [0, 1, -1, 2, 3, 100, 8000, 8080, 8100, 65_535, 65_536, 2 ** 31, 2 ** 53 + 1, 1e21, 0.5, -0],
  string: ['dev', 'staging', 'prod', 'canary', 'web', 'api', 'ops', 'constructor', 'toString', '__proto__', '', ' ', '0', '1s', '0s',
    '-1s', '999999999h', '24:00', '25:00', '00:00', 'mon', 'UTC', 'Not/AZone', '${port}', '${nope}', '/', 'http://127.0.0.1:1/',
    'runbook-defaults', 'x'.repeat(100), 'é🚀'],
  boolean: [true, false],
};

/** Where a node of the data sits: its container and its key there (none for the root). */
interface Slot { parent?: Json[] | Record<string, Json>; key?: string | number; value: Json }

function slotsOf(root: Json): Slot[] {
  const slots: Slot[] = [{ value: root }];
  for (let i = 0; i < slots.length; i++) {
    const { value } = slots[i];
    if (Array.isArray(value)) value.forEach((v, k) => slots.push({ parent: value, key: k, value: v }));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) slots.push({ parent: value, key: k, value: v });
  }
  return slots;
}

/** Sets an own key, `__proto__` too, keeping the object's key order otherwise. */
function setKey(object: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

function place(root: Json, slot: Slot, value: Json): Json {
  if (!slot.parent) return value;
  if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
  else setKey(slot.parent, slot.key as string, value);
  return root;
}

function applyDataEdit(root: Json, edit: DataEdit): Json {
  const slots = slotsOf(root);
  const slot = slots[edit.node % slots.length];
  const { value } = slot;
  switch (edit.op) {
    case 'replace':
      return place(root, slot, edit.value);
    case 'delete':
      if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
      else if (slot.parent) delete slot.parent[slot.key as string];
      return root;
    case 'addKey': {
      // Into the nearest mapping at or above the node chosen.
      const mapping = slots.slice(0, (edit.node % slots.length) + 1).reverse()
        .find((s) => s.value !== null && typeof s.value === 'object' && !Array.isArray(s.value));
      if (mapping) setKey(mapping.value as Record<string, Json>, edit.key, edit.value);
      return root;
    }
    case 'renameKey': {
      if (!slot.parent || Array.isArray(slot.parent)) return root;
      const entries = Object.entries(slot.parent).map(([k, v]): [string, Json] => [k === slot.key ? edit.key : k, v]);
      for (const k of Object.keys(slot.parent)) delete slot.parent[k];
      for (const [k, v] of entries) setKey(slot.parent, k, v);
      return root;
    }
    case 'wrapInList':
      return place(root, slot, [value]);
    case 'reshape':
      // A list becomes a mapping by index, a mapping a list of its entries, a scalar a mapping.
      if (Array.isArray(value)) return place(root, slot, Object.fromEntries(value.map((v, i) => [String(i), v])));
      if (value !== null && typeof value === 'object') return place(root, slot, Object.entries(value).map(([k, v]) => ({ [k]: v })));
      return place(root, slot, { [String(value)]: value });
    case 'retype':
      // Numbers to strings and back, and sizes no one meant.
      if (typeof value === 'number') return place(root, slot, edit.big ? value * 1e300 : String(value));
      if (typeof value === 'string') return place(root, slot, edit.big ? value.repeat(2000) : Number(value.replace(/\D/g, '') || '0'));
      if (typeof value === 'boolean') return place(root, slot, edit.big ? 'yes' : Number(value));
      return place(root, slot, edit.big ? 1e308 : '');
    case 'tweak': {
      const kind = typeof value;
      if (kind !== 'number' && kind !== 'string' && kind !== 'boolean') return root;
      const pool: readonly Json[] = SAME_TYPE[kind];
      return place(root, slot, pool[edit.pick % pool.length]);
    }
  }
}

const SEED_DATA = SEEDS.map((s) => ({ ...s, data: parse(s.text) as Json }));

const mutatedDataArb = fc.record({ seed: fc.constantFrom(...SEED_DATA), edits: fc.array(dataEditArb, { minLength: 1, maxLength: 5 }), flow: fc.boolean() })
  .map(({ seed, edits, flow }) => {
    const data = edits.reduce(applyDataEdit, structuredClone(seed.data));
    // Block style, or every collection in flow style: two layouts of the same data.
    const text = stringify(data, flow ? { collectionStyle: 'flow', lineWidth: 0 } : { lineWidth: 0 });
    return { seed: seed.name, file: seed.file, edits, text };
  });

// ---------------------------------------------------------------------------------------------

const stats = process.env.GANGWAY_FUZZ_STATS ? (what: string, t: Tally) => console.log(`${what}: ${JSON.stringify(t)}`) : () => {};

describe('validate under fuzzing: parseConfig', () => {
  it('every seed is a valid config to begin with', () => {
    for (const s of SEEDS) expect(() => parseConfig(s.text, s.file, OPTIONS), s.name).not.toThrow();
    // yaml's stringify of the parsed data is the same config.
    for (const s of SEED_DATA) expect(() => parseConfig(stringify(s.data), s.file, OPTIONS), s.name).not.toThrow();
  });

  it('answers any mutation of the text with a config or problems that each have file:line:column', () => {
    const t = tally();
    fc.assert(fc.property(mutatedTextArb, ({ text, file }) => checkParse(text, file, t)), { seed: seed(20260101), numRuns: runs(600) });
    stats('text mutations', t);
    // The mutations reach past the YAML syntax into the schema, and some keep the file valid.
    expect(t.schema).toBeGreaterThan(t.tried / 10);
    expect(t.valid).toBeGreaterThan(0);
  }, TIMEOUT);

  it('answers any mutation of the data with a config or problems that each have file:line:column', () => {
    const t = tally();
    fc.assert(fc.property(mutatedDataArb, ({ text, file }) => checkParse(text, file, t)), { seed: seed(20260202), numRuns: runs(500) });
    stats('data mutations', t);
    expect(t.schema).toBeGreaterThan(t.tried / 2);
    expect(t.valid).toBeGreaterThan(0);
  }, TIMEOUT);

  describe('regressions found by fuzzing', () => {
    const rejectionOf = (text: string): ConfigProblem[] => {
      try {
        parseConfig(text, 'gangway.yaml', OPTIONS);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).problems;
      }
      throw new Error('expected a ConfigError');
    };
    const problemsOf = (text: string): string[] => rejectionOf(text).map((p) => `${p.line}:${p.column} ${p.message}`);

    it('counts a line break inside a scalar read after a syntax error (problems after it were a line early)', () => {
      // Shrunk from FULL with `agent: {…} {…}` on one line and a tab-indented key: the parser
      // reported no line break inside `b\n c`, so the `:` on line 3 was placed at 2:5.
      expect(problemsOf('a: {} {}\nb\n c: 1\n')).toEqual([
        '1:7 YAML syntax error: Unexpected flow-map-start at node end',
        '1:8 YAML syntax error: Unexpected flow-map-end token in YAML stream: "}"',
        '2:1 YAML syntax error: Unexpected scalar token in YAML stream: "b\\n c"',
        '3:3 YAML syntax error: Unexpected map-value-ind token in YAML stream: ":"',
        '3:5 YAML syntax error: Unexpected scalar token in YAML stream: "1"',
      ]);
    });

    // Shrunk from FULL with a key `a\nb` added at the top (data mutation, then `validate`): the
    // message broke over two lines, the second without file:line:column.
    it('writes a line break in a key or name as \\n, so every message is one line', () => {
      const head = 'project: shop\nenvironments: { dev: {} }\nservices:\n  web:\n    target: { local: { command: [node], port: 8001 } }\n';
      expect(problemsOf(`"a\\nb": {}\n${head}`)).toEqual(['1:1 unknown key `a\\nb`']);
      expect(problemsOf(`${head}    dependsOn: ["x\\ny"]\n    analysis: "q\\u001b[2Jr"\n    environments: { "p\\rq": {} }\n`)).toEqual([
        '6:17 `x\\ny` is not a declared service',
        '7:15 `q\\u001b[2Jr` is not an analysis template',
        '8:21 `p\\rq` is not a declared environment',
      ]);
      // A duplicate key is quoted like every other name: escaped, and cut short.
      const long = 'k'.repeat(100);
      expect(problemsOf(`${head}"d\\te": 1\n"d\\te": 2\n${long}: 1\n${long}: 2\n`)).toEqual([
        '7:1 duplicate key `d\\te`',
        `9:1 duplicate key \`${'k'.repeat(80)}…\` (100 characters)`,
      ]);
    });

    // Shrunk from FULL with `project: ` followed by U+0085: JSON escapes C0 controls only, so a
    // value quoted in a message kept NEL, DEL, C1 and the Unicode line separators raw.
    it('escapes every control character and line separator of a quoted value', () => {
      expect(problemsOf('project: "\\x85\\x7f\\u2028\\x9b"\nenvironments: { dev: {} }\nservices: {}\n')).toEqual([
        '1:10 "\\u0085\\u007f\\u2028\\u009b" is not a valid project name',
        '3:1 declare at least one service',
      ]);
      // And so does a key path, which quotes a key that is not a plain name.
      expect(rejectionOf('"\\x85roject": shop\n').map((p) => p.path)).toContain('["\\u0085roject"]');
    });
  });
});

describe('validate under fuzzing: gangway validate <file>', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'gangway-fuzz-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function validate(text: string, json: boolean): Promise<{ code: number; stdout: string; stderr: string; file: string }> {
    const file = join(dir, 'gangway.yaml');
    writeFileSync(file, text);
    let stdout = '';
    let stderr = '';
    const code = await main(['node', 'gangway', 'validate', 'gangway.yaml', ...(json ? ['-o', 'json'] : [])], {
      stdout: { write: (s: string) => { stdout += s; return true; } },
      stderr: { write: (s: string) => { stderr += s; return true; } },
      env: { SHOP_DATABASE_URL: 'postgres://gangway@db/shop' }, cwd: dir,
    });
    return { code, stdout, stderr, file };
  }

  /** Exit 0 or 2; no stack trace; every problem, and every line of it but its hint, starts with file:line:column:. */
  async function checkValidate(text: string, json: boolean, count: Tally): Promise<void> {
    count.tried += 1;
    const r = await validate(text, json);
    if (r.code !== 0 && r.code !== 2) count.crashes += 1;
    expect([0, 2], `exit ${r.code}: ${r.stderr}`).toContain(r.code);
    for (const out of [r.stdout, r.stderr]) {
      expect(out).not.toMatch(STACK_FRAME);
      expect(out).not.toMatch(JS_FAULT);
    }
    if (r.code === 0) {
      count.valid += 1;
      return;
    }
    if ((json ? r.stdout : r.stderr).includes('YAML syntax error')) count.syntax += 1;
    else count.schema += 1;
    const where = new RegExp(`^${r.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:[1-9]\\d*:[1-9]\\d*: \\S`);
    if (json) {
      const body = JSON.parse(r.stdout) as { valid: boolean; problems: ConfigProblem[] };
      expect(body.valid).toBe(false);
      expect(body.problems.length).toBeGreaterThan(0);
      for (const p of body.problems) expect(formatProblem(p)).toMatch(where);
      return;
    }
    const [head, ...lines] = r.stderr.replace(/\n$/, '').split('\n');
    expect(head).toMatch(/^✗ gangway\.yaml is invalid: [1-9]\d* problems?(, the first \d+ listed)?$/);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      if (line.startsWith('  hint: ')) continue;
      expect(line).toMatch(where);
    }
  }

  it('exits 0 or 2 for any mutated file and prints every problem as file:line:column: message', async () => {
    const t = tally();
    const arb = fc.record({ mutated: fc.oneof(mutatedTextArb, mutatedDataArb), json: fc.boolean() });
    await fc.assert(fc.asyncProperty(arb, ({ mutated, json }) => checkValidate(mutated.text, json, t)), { seed: seed(20260303), numRuns: runs(100) });
    stats('validate', t);
    expect(t.schema).toBeGreaterThan(0);
  }, TIMEOUT);

  it('prints a key with a line break on one line (regression: the message went on without file:line:column)', async () => {
    const r = await validate('"a\\nb": {}\n' + FULL, false);
    expect(r.code).toBe(2);
    const [head, problem, hint, ...rest] = r.stderr.split('\n');
    expect(head).toBe('✗ gangway.yaml is invalid: 1 problem');
    expect(problem).toBe(`${r.file}:1:1: ["a\\nb"]: unknown key \`a\\nb\``);
    expect(hint).toMatch(/^  hint: known keys: project, /);
    expect(rest).toEqual(['']);
  });
});
