/**
 * Turns everything that can be wrong with a config file — YAML syntax, zod issues, cross-field
 * checks — into {@link ConfigProblem}s that point at a line and column of the file.
 *
 * Checks report a {@link RawProblem}: a key path and which part of the YAML it is about
 * (`key`, `value` or `parent` for a missing key). {@link ProblemLocator} then finds that spot in
 * the parsed document. Keeping the two apart lets the schema speak in key paths only.
 */
import type { Alias, Document, LineCounter, Node, Pair, YAMLError, YAMLMap } from 'yaml';
import { isAlias, isCollection, isMap, isScalar, isSeq } from 'yaml';
import type { z } from 'zod';
import type { ConfigProblem } from '../errors.js';
import { MAX_LISTED_NAMES, MAX_PROBLEMS, MAX_QUOTED_CHARS } from './limits.js';
import { keyText } from './yaml-keys.js';

/** One step of a key path: a map key or a list index. */
export type PathSegment = string | number;

/**
 * A problem before it has a position. `at` says what to point at: the `key` itself (an unknown
 * key), its `value` (a wrong value), or the `parent` map (a key that is missing).
 */
export interface RawProblem {
  path: readonly PathSegment[];
  message: string;
  hint?: string;
  /**
   * A hint that costs a search to make ("did you mean", among every declared name): asked only
   * for the problems that are listed, so many problems never cost many searches.
   */
  suggest?: () => string | undefined;
  at: 'key' | 'value' | 'parent';
}

// Zod issues carry only a message string, so a hint written in the schema travels inside it
// behind a marker and is split off again here. The markers never reach a user.
const HINT_MARK = '\u0000hint:';
const GENERIC_MARK = '\u0000generic';
const UNKNOWN_KEYS_MARK = '\u0000unknown:';

/** A schema error message carrying a hint, for `{ error: withHint(...) }` in the zod schema. */
export function withHint(message: string, hint: string): string {
  return `${message}${HINT_MARK}${hint}`;
}

function splitHint(text: string): { message: string; hint?: string } {
  const i = text.indexOf(HINT_MARK);
  return i < 0 ? { message: text } : { message: text.slice(0, i), hint: text.slice(i + HINT_MARK.length) };
}

/** A key that is deliberately not accepted in some object, with the message that says why. */
export interface ReservedKey { message: string; hint?: string }

// Keyed by the object's key list: `.describe()`, `.superRefine()` and the like clone a schema
// (and its shape), so neither the instance nor the shape object identifies it; its keys do.
const reservedKeys = new Map<string, Record<string, ReservedKey>>();

function keysOf(schema: unknown): string[] | undefined {
  const shape = (schema as { _zod?: { def?: { shape?: Record<string, unknown> } } } | undefined)?._zod?.def?.shape;
  return shape ? Object.keys(shape) : undefined;
}

/**
 * Marks keys of a strict object that deserve their own message instead of "unknown key"
 * (a feature that is not available yet, a key that is not allowed in this place).
 * Returns the schema so it can be used inline.
 */
export function reserveKeys<T extends z.ZodType>(schema: T, reserved: Record<string, ReservedKey>): T {
  const keys = keysOf(schema);
  if (!keys) throw new TypeError('reserveKeys needs an object schema');
  reservedKeys.set(keys.join(','), reserved);
  return schema;
}

interface UnknownKeysPayload { known: string[]; reserved: Record<string, ReservedKey> }

/**
 * The per-parse zod error map. Issues whose schema gave no message of its own are marked
 * generic, so {@link issuesToProblems} words them from the issue's data (input, limits);
 * unknown-key issues carry the object's known keys for "did you mean".
 */
export function zodErrorMap(issue: z.core.$ZodRawIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const known = keysOf(issue.inst) ?? [];
    const payload: UnknownKeysPayload = { known, reserved: reservedKeys.get(known.join(',')) ?? {} };
    return UNKNOWN_KEYS_MARK + JSON.stringify(payload);
  }
  return GENERIC_MARK;
}

/** Converts zod issues into raw problems; `prefix` is prepended to every issue path. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[], prefix: readonly PathSegment[] = []): RawProblem[] {
  const out: RawProblem[] = [];
  const withUnknownKeys = new Set(issues.filter((i) => i.code === 'unrecognized_keys').map((i) => formatPath(i.path as PathSegment[])));
  for (const issue of issues) {
    const path = [...prefix, ...(issue.path as PathSegment[])];
    if (issue.code === 'custom' && (issue.params as { unlessUnknownKeys?: boolean } | undefined)?.unlessUnknownKeys
      && withUnknownKeys.has(formatPath(issue.path as PathSegment[]))) continue;
    if (issue.message.startsWith(UNKNOWN_KEYS_MARK) && issue.code === 'unrecognized_keys') {
      const payload = JSON.parse(issue.message.slice(UNKNOWN_KEYS_MARK.length)) as UnknownKeysPayload;
      for (const key of issue.keys) out.push(unknownKeyProblem([...path, key], payload));
      continue;
    }
    if (issue.code === 'invalid_union') {
      // A value that may take several forms (`pause: 2m` or `pause: {}`): when it has the type
      // of only one of them, that form's own problems say far more than "matches none".
      const fitting = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (fitting.length === 1) {
        out.push(...issuesToProblems(fitting[0], path));
        continue;
      }
    }
    if (issue.code === 'invalid_key') {
      const inner = issue.issues[0];
      const text = inner && !inner.message.startsWith(GENERIC_MARK) ? inner.message : 'is not an allowed key';
      out.push({ path, at: 'key', ...splitHint(text) });
      continue;
    }
    const missing = issue.code === 'invalid_type' && issue.input === undefined;
    const at = missing ? 'parent' : atOf(issue);
    if (issue.message.startsWith(GENERIC_MARK) || missing) {
      out.push({ path, at, ...genericMessage(issue, path) });
    } else {
      out.push({ path, at, ...splitHint(issue.message) });
    }
  }
  return out;
}

function atOf(issue: z.core.$ZodIssue): RawProblem['at'] {
  if (issue.code === 'custom') {
    const at = (issue.params as { at?: RawProblem['at'] } | undefined)?.at;
    if (at) return at;
  }
  return 'value';
}

function unknownKeyProblem(path: PathSegment[], payload: UnknownKeysPayload): RawProblem {
  const key = String(path[path.length - 1]);
  // `*` speaks for every key of an object that takes none.
  const reserved = Object.hasOwn(payload.reserved, key) ? payload.reserved[key] : payload.reserved['*'];
  if (reserved) return { path, at: 'key', message: reserved.message, hint: reserved.hint };
  return {
    path,
    at: 'key',
    message: `unknown key ${backquote(key)}`,
    suggest: () => {
      const guess = didYouMean(key, payload.known);
      return guess ? `did you mean \`${guess}\`?` : payload.known.length ? `known keys: ${payload.known.join(', ')}` : undefined;
    },
  };
}

const EXPECTED: Record<string, string> = {
  string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false',
  array: 'a list', object: 'a mapping', record: 'a mapping',
};

function genericMessage(issue: z.core.$ZodIssue, path: readonly PathSegment[]): { message: string; hint?: string } {
  const input = 'input' in issue ? issue.input : undefined;
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) {
        return { message: `required key \`${String(path[path.length - 1])}\` is missing` };
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      const message = `expected ${expected}, got ${describeValue(input)}`;
      if ((issue.expected === 'number' || issue.expected === 'int') && typeof input === 'string' && input.trim() !== '' && !Number.isNaN(Number(input))) {
        return { message, hint: `write the number without quotes: ${input.trim()}` };
      }
      if (issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean')) {
        return { message, hint: `quote it: "${String(input)}"` };
      }
      return { message };
    }
    case 'too_small':
      if (issue.origin === 'array') return { message: `must have at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}` };
      if (issue.origin === 'string') return { message: 'must not be empty' };
      return { message: `must be ${issue.inclusive ? 'at least' : 'greater than'} ${issue.minimum}, got ${describeValue(input)}` };
    case 'too_big':
      if (issue.origin === 'array') return { message: `must have at most ${issue.maximum} items` };
      if (issue.origin === 'string') return { message: `must be at most ${issue.maximum} characters long` };
      return { message: `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}, got ${describeValue(input)}` };
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const guess = typeof input === 'string' ? didYouMean(input, allowed) : undefined;
      return {
        message: `must be one of ${allowed.join(', ')}; got ${describeValue(input)}`,
        hint: guess ? `did you mean \`${guess}\`?` : undefined,
      };
    }
    default:
      return { message: `is not valid (${describeValue(input)})` };
  }
}

/** How a YAML value is named in messages: `the string "8080"`, `the number 5`, `a list`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `the string ${quote(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/**
 * A value as messages quote it: JSON text, cut short after {@link MAX_QUOTED_CHARS} characters
 * with the full length named, so a huge value never makes a huge message.
 *
 * @example
 * quote('x'.repeat(100_000)); // '"xxxx…xxxx"… (100000 characters)'
 */
export function quote(value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value) ?? String(value);
  // JSON escapes C0 controls only; DEL, C1 (NEL) and the Unicode line separators stay raw.
  if (value.length <= MAX_QUOTED_CHARS) return escapeControls(JSON.stringify(value));
  return `${escapeControls(JSON.stringify(value.slice(0, MAX_QUOTED_CHARS)))}… (${value.length} characters)`;
}

/**
 * A name in backquotes, as messages write keys and names, cut short like {@link quote}, its
 * control characters escaped like {@link escapeControls}.
 */
export function backquote(name: string): string {
  return name.length <= MAX_QUOTED_CHARS
    ? `\`${escapeControls(name)}\``
    : `\`${escapeControls(name.slice(0, MAX_QUOTED_CHARS))}…\` (${name.length} characters)`;
}

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters and line separators written as escapes (`\n`, `\u001b`): a name from the
 * file may hold any of them, and a message is one line of a terminal that obeys none of them.
 *
 * @example
 * escapeControls('a\nb'); // 'a\\nb'
 */
export function escapeControls(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Names for a hint, the first {@link MAX_LISTED_NAMES} of them and a count of the rest.
 *
 * @example
 * listNames(['dev', 'staging', 'prod']); // 'dev, staging, prod'
 */
export function listNames(names: readonly string[], max: number = MAX_LISTED_NAMES): string {
  const shown = names.slice(0, max).map((n) => escapeControls(n.length <= MAX_QUOTED_CHARS ? n : `${n.slice(0, MAX_QUOTED_CHARS)}…`));
  return names.length <= max ? shown.join(', ') : `${shown.join(', ')} and ${names.length - max} more`;
}

/**
 * Edit distance (insertions, deletions, substitutions) between two strings. With `max`, any
 * distance above it is returned as `max + 1`, in time linear in the strings' length.
 */
export function editDistance(a: string, b: string, max: number = Infinity): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  if (max >= Math.max(a.length, b.length)) {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const cur = [i];
      for (let j = 1; j <= b.length; j++) {
        cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      }
      prev = cur;
    }
    return prev[b.length];
  }
  // Only cells within `max` of the diagonal can hold a distance up to `max` (Ukkonen's band).
  const over = max + 1;
  let prev = new Uint32Array(b.length + 2).fill(over);
  let cur = new Uint32Array(b.length + 2).fill(over);
  for (let j = 0; j <= Math.min(b.length, max); j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const lo = Math.max(1, i - max);
    const hi = Math.min(b.length, i + max);
    cur[0] = i <= max ? i : over;
    cur[lo - 1] = lo === 1 ? cur[0] : over;
    let best = lo === 1 ? cur[0] : over;
    for (let j = lo; j <= hi; j++) {
      const d = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur[j] = Math.min(d, over);
      if (cur[j] < best) best = cur[j];
    }
    cur[hi + 1] = over;
    if (best > max) return over;
    [prev, cur] = [cur, prev];
  }
  return Math.min(prev[b.length], over);
}

/**
 * The candidate `word` was most likely meant to be: a case-insensitive match, else the closest
 * one within edit distance 2 (first declared wins a tie). `undefined` when nothing is close.
 *
 * @example
 * didYouMean('previewPrt', ['previewPort', 'scaleDownDelay']); // 'previewPort'
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  // A candidate more than two characters longer or shorter is never within distance 2.
  const near = candidates.filter((c) => Math.abs(c.length - word.length) <= 2);
  const sameCase = near.find((c) => c.length === word.length && c.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  let best: string | undefined;
  let bestDistance = 3;
  for (const c of near) {
    const d = editDistance(lower, c.toLowerCase(), 2);
    // A two-letter word is within distance 2 of every other two-letter word: demand more likeness.
    if (d < bestDistance && d < Math.max(word.length, c.length)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * A key path for a message: {@link formatPath}, with any key longer than
 * {@link MAX_QUOTED_CHARS} cut short (the line and column say exactly where it is).
 */
export function displayPath(path: readonly PathSegment[]): string {
  return formatPath(path.map((seg) => (typeof seg === 'string' && seg.length > MAX_QUOTED_CHARS ? `${seg.slice(0, MAX_QUOTED_CHARS)}…` : seg)));
}

/** Renders a key path the way users write it: `services.web.smoke[2].http.path`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${escapeControls(JSON.stringify(seg))}]`;
  }
  return out;
}

interface Located { node?: Node; keyNode?: Node }

/** Finds where in the YAML document a {@link RawProblem} belongs. */
export class ProblemLocator {
  // Each mapping's pairs by key, built the first time a path goes through it.
  private readonly indexes = new WeakMap<YAMLMap, Map<string, Pair>>();

  /** `aliases`: each alias and the node it stands for (as readYaml resolved them); without it, the document resolves them. */
  constructor(
    private readonly doc: Document,
    private readonly lineCounter: LineCounter,
    private readonly file: string,
    private readonly aliases?: ReadonlyMap<Alias, Node>,
  ) {}

  /** Gives a raw problem its 1-based line and column, falling back to the nearest ancestor that exists. */
  locate(raw: RawProblem): ConfigProblem {
    const problem = this.place(raw);
    const hint = raw.hint ?? raw.suggest?.();
    if (hint) problem.hint = hint;
    return problem;
  }

  /**
   * Every problem located, in file order, each once, at most {@link MAX_PROBLEMS} of them with a
   * last line counting the rest; hints that cost a search are made for the listed ones only.
   */
  report(raws: readonly RawProblem[]): ConfigProblem[] {
    const placed = raws.map((raw) => ({ raw, problem: this.place(raw) }));
    const sorted = sortProblems(placed.map((p) => p.problem));
    const order = new Map(placed.map((p, i) => [p.problem, i]));
    const kept = limitProblems(uniqueProblems(sorted));
    for (const problem of kept) {
      const i = order.get(problem);
      if (i === undefined) continue;
      const raw = placed[i].raw;
      const hint = raw.hint ?? raw.suggest?.();
      if (hint) problem.hint = hint;
    }
    return kept;
  }

  private place(raw: RawProblem): ConfigProblem {
    const offset = this.offsetOf(raw);
    const { line, col } = this.lineCounter.linePos(offset);
    return { file: this.file, line, column: col, path: displayPath(raw.path), message: raw.message };
  }

  /** Whether the document has a node at this path (overrides use it to tell where a merged value came from). */
  has(path: readonly PathSegment[]): boolean {
    return this.walk(path) !== undefined;
  }

  private offsetOf(raw: RawProblem): number {
    const path = raw.at === 'parent' ? raw.path.slice(0, -1) : raw.path;
    for (let len = path.length; len >= 0; len--) {
      const found = this.walk(path.slice(0, len));
      if (!found) continue;
      const exact = len === path.length;
      if (exact && raw.at === 'key' && found.keyNode?.range) return found.keyNode.range[0];
      // `key:` with nothing after it has an empty value; the key is what the user sees.
      if (exact && found.keyNode?.range && isScalar(found.node) && found.node.value === null && !found.node.source) return found.keyNode.range[0];
      // A mapping or list is named by its key; a scalar is the value itself.
      if (found.node && !isCollection(found.node) && exact && found.node.range) return found.node.range[0];
      if (found.keyNode?.range) return found.keyNode.range[0];
      if (found.node?.range) return found.node.range[0];
    }
    return 0;
  }

  private walk(path: readonly PathSegment[]): Located | undefined {
    let node = this.resolve(this.doc.contents as Node | null);
    let keyNode: Node | undefined;
    if (!node) return path.length === 0 ? {} : undefined;
    for (const seg of path) {
      if (isMap(node)) {
        const pair = this.pairOf(node, String(seg));
        if (!pair) return undefined;
        keyNode = pair.key as Node;
        node = this.resolve(pair.value as Node | null);
      } else if (isSeq(node) && typeof seg === 'number') {
        keyNode = undefined;
        node = this.resolve(node.items[seg] as Node | null);
      } else {
        return undefined;
      }
      if (!node) return keyNode ? { keyNode } : undefined;
    }
    return { node, keyNode };
  }

  private pairOf(map: YAMLMap, key: string): Pair | undefined {
    let index = this.indexes.get(map);
    if (!index) {
      index = new Map();
      for (const pair of map.items as Pair[]) {
        const text = keyText(pair.key);
        if (text !== undefined && !index.has(text)) index.set(text, pair);
      }
      this.indexes.set(map, index);
    }
    return index.get(key);
  }

  private resolve(node: Node | null | undefined): Node | undefined {
    if (!node) return undefined;
    if (isAlias(node)) return (this.aliases ? this.aliases.get(node) : (node.resolve(this.doc) as Node | undefined)) ?? node;
    return node;
  }
}

/** Converts the YAML library's syntax errors into problems. */
export function yamlErrorsToProblems(errors: readonly YAMLError[], lineCounter: LineCounter, file: string): ConfigProblem[] {
  return errors.map((err) => {
    const { line, col } = lineCounter.linePos(err.pos[0]);
    const message = err.code === 'MULTIPLE_DOCS'
      ? 'the file holds more than one YAML document'
      : escapeControls(err.message.replace(/ at line \d+, column \d+[\s\S]*$/, ''));
    return { file, line, column: col, path: '', message: `YAML syntax error: ${message}`, hint: yamlHint(err.code) };
  });
}

function yamlHint(code: string): string | undefined {
  if (code === 'TAB_AS_INDENT') return 'indent with spaces, not tabs';
  if (code === 'BAD_INDENT' || code === 'MISSING_CHAR') return 'check the indentation and the brackets on this line and the one before';
  if (code === 'MULTIPLE_DOCS') return 'gangway.yaml holds one document; remove the `---` separator';
  return undefined;
}

/** Orders problems as they appear in the file; problems on the same spot keep their order. */
export function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map(({ p }) => p);
}

/**
 * The first {@link MAX_PROBLEMS} of problems in file order, and when there are more, a last one
 * at the first left out that counts them.
 */
export function limitProblems(problems: ConfigProblem[], max: number = MAX_PROBLEMS): ConfigProblem[] {
  if (problems.length <= max) return problems;
  const next = problems[max];
  const more = problems.length - max;
  return [...problems.slice(0, max), {
    file: next.file, line: next.line, column: next.column, path: '',
    message: `… and ${more} more problem${more === 1 ? '' : 's'} from here on (only the first ${max} are listed)`,
    hint: 'fix the problems above and validate again to see the rest',
    omitted: more,
  }];
}

/** Removes problems that say the same thing at the same place. */
export function uniqueProblems(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.line}:${p.column}:${p.path}:${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
