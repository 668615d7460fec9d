/**
 * YAML text → a document (for positions) and plain data (for the schema), in time linear in the
 * text whatever it holds. The `yaml` library's own checks are not: its duplicate-key check
 * compares every key of a mapping with every other, its alias resolution scans the document for
 * each alias, and its parser slows down with every level of nesting. So nesting is bounded while
 * the text is read, duplicate keys are found with one set per mapping, aliases are resolved once
 * from a table of anchors, and the data is built here: mappings become objects without a
 * prototype, so every key (`constructor`, `toString`) is an ordinary own key, and `__proto__`,
 * which no later step could keep, is refused.
 */
import { Composer, Lexer, LineCounter, Parser, YAMLParseError, isAlias, isMap, isNode, isPair, isScalar, isSeq } from 'yaml';
import type { Alias, Document, Node, Pair } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ConfigProblem } from '../errors.js';
import { MAX_CONFIG_BYTES, MAX_EXPANDED_VALUES, MAX_NESTING, formatBytes } from './limits.js';
import { backquote, displayPath, limitProblems, sortProblems, yamlErrorsToProblems } from './problems.js';
import type { PathSegment } from './problems.js';
import { keyText, scalarData } from './yaml-keys.js';

/** A YAML file read: its document, where its lines start, its aliases resolved, and its data. */
export interface YamlFile {
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Every alias of the document and the node its anchor names. */
  aliases: ReadonlyMap<Alias, Node>;
  /** The document as plain data; mappings are objects without a prototype. */
  data: unknown;
}

/** The key under which no mapping can keep a value once it is data. */
const RESERVED_KEY = '__proto__';

/**
 * Reads YAML text into a document and its data, refusing what cannot be read safely: text over
 * {@link MAX_CONFIG_BYTES}, nesting deeper than {@link MAX_NESTING}, syntax errors, duplicate
 * and `__proto__` keys, keys that are not plain values, unknown or self-containing aliases, and
 * aliases expanding the data beyond {@link MAX_EXPANDED_VALUES} values.
 *
 * @example
 * const { data } = readYaml('project: shop\n', 'gangway.yaml'); // data.project === 'shop'
 * @throws ConfigError listing those problems, in file order, with line and column.
 */
export function readYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const problem = (offset: number, message: string, hint: string, path: readonly PathSegment[] = []): ConfigProblem => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col, path: displayPath(path), message, hint };
  };
  const fail = (problems: ConfigProblem[]): never => {
    throw new ConfigError(limitProblems(sortProblems(problems)));
  };

  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    fail([{
      file, line: 1, column: 1, path: '', message: `the file is ${formatBytes(bytes)} (${bytes} bytes); the limit is ${formatBytes(MAX_CONFIG_BYTES)}`,
      hint: 'a gangway.yaml describes a project in a few kilobytes; check that this is the right file',
    }]);
  }

  let tooDeepAt: number | undefined;
  const doc = compose(text, lineCounter, (offset) => { tooDeepAt = offset; });
  if (tooDeepAt !== undefined) fail([problem(tooDeepAt, tooDeepMessage(), TOO_DEEP_HINT)]);
  // Past a syntax error the tree is a guess; checking it would only add confusing problems.
  if (doc.errors.length > 0) fail(yamlErrorsToProblems(doc.errors, lineCounter, file));

  const tree = walkTree(doc);
  if (tree.problems.length > 0) fail(tree.problems.map((p) => problem(p.offset, p.message, p.hint, p.path)));
  const expansion = checkExpansion(doc, tree.aliases);
  if (expansion.length > 0) fail(expansion.map((p) => problem(p.offset, p.message, p.hint, p.path)));
  const built = buildData(doc, tree.aliases);
  if (built.problems.length > 0) fail(built.problems.map((p) => problem(p.offset, p.message, p.hint, p.path)));
  return { doc, lineCounter, aliases: tree.aliases, data: built.data };
}

const TOO_DEEP_HINT = 'gangway.yaml needs about 10 levels; write this value flatter';

function tooDeepMessage(through?: string): string {
  return `mappings and lists are nested more than ${MAX_NESTING} levels deep here${through ? ` (through the alias *${through})` : ''}`;
}

interface NodeProblem { offset: number; message: string; hint: string; path: readonly PathSegment[] }

// ---------------------------------------------------------------------------------------------
// Text → document, nesting bounded

/**
 * Lexes, parses and composes one document. The lexer is linear; the parser is not in the depth
 * of nesting, so the lexemes are watched on their way to it and the text is cut short where a
 * collection opens below {@link MAX_NESTING} levels (`tooDeep` gets its offset).
 */
function compose(text: string, lineCounter: LineCounter, tooDeep: (offset: number) => void): Document.Parsed {
  // Lines are counted in the text itself, not as the parser reports them: it reports only the
  // line breaks it expects, and misses those inside a scalar it meets after a syntax error,
  // which would put every later problem on an earlier line.
  lineCounter.addNewLine(0);
  for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', nl + 1)) lineCounter.addNewLine(nl + 1);
  const parser = new Parser();
  // Duplicate keys are found in walkTree: the library's check is quadratic in a mapping's keys.
  const composer = new Composer({ uniqueKeys: false, prettyErrors: false });
  const fits = nestingWatch(tooDeep);
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      if (!fits(lexeme)) break;
      yield* parser.next(lexeme);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tokens(), true, text.length)) {
    if (!doc) {
      doc = next;
      continue;
    }
    doc.errors.push(new YAMLParseError([next.range[0], next.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'));
    break;
  }
  // compose(…, forceDoc) always yields a document, an empty one for empty text.
  return doc as Document.Parsed;
}

interface Level { flow: boolean; column: number; seq: boolean }

// The lexer marks a plain scalar, a document and a flow error with characters that are not in the text.
const SCALAR = '\x1f';
const MARKERS = new Set(['\x02', '\x18']);

/**
 * Watches lexemes in order, keeping the collections open at each point: flow collections by their
 * brackets, block collections by the column of their `-`, `?` or key. Block nesting follows the
 * indentation rules closely enough for a bound (a sibling at the same column opens nothing; a
 * sequence at its key's column is that key's value). The function it returns answers false for
 * the lexeme that would open a collection past {@link MAX_NESTING}, after reporting its offset.
 */
function nestingWatch(tooDeep: (offset: number) => void): (lexeme: string) => boolean {
  const levels: Level[] = [];
  let offset = 0;
  let lineStart = 0;
  let flowDepth = 0;
  let scalarNext = false;
  // Where the node before a `:` began on this line (its anchor, tag or text): the key's column.
  let nodeColumn = -1;
  let nodeLine = -1;

  const open = (level: Level, at: number): boolean => {
    levels.push(level);
    if (levels.length <= MAX_NESTING) return true;
    tooDeep(at);
    return false;
  };
  const openBlock = (column: number, seq: boolean): boolean => {
    while (levels.length > 0 && !levels[levels.length - 1].flow && levels[levels.length - 1].column > column) levels.pop();
    const top = levels[levels.length - 1];
    if (top && !top.flow && top.column === column) {
      if (top.seq === seq) return true;
      if (!seq) {
        // A key at the column of a sequence that was the value of the key before: back in that mapping.
        levels.pop();
        const below = levels[levels.length - 1];
        if (below && !below.flow && below.column === column && !below.seq) return true;
      }
    }
    return open({ flow: false, column, seq }, lineStart + column);
  };
  const startNode = (): void => {
    if (nodeColumn >= 0 && nodeLine === lineStart) return;
    nodeColumn = offset - lineStart;
    nodeLine = lineStart;
  };

  return (lexeme: string): boolean => {
    if (scalarNext) {
      scalarNext = false;
      startNode();
    } else if (lexeme === SCALAR) {
      scalarNext = true;
      return true;
    } else if (MARKERS.has(lexeme)) {
      return true;
    } else {
      let ok = true;
      switch (lexeme) {
        case '---':
        case '...':
          levels.length = 0;
          flowDepth = 0;
          nodeColumn = -1;
          break;
        case '-':
        case '?':
          if (flowDepth === 0) ok = openBlock(offset - lineStart, lexeme === '-');
          nodeColumn = -1;
          break;
        case ':':
          if (flowDepth === 0) ok = openBlock(nodeColumn >= 0 && nodeLine === lineStart ? nodeColumn : offset - lineStart, false);
          nodeColumn = -1;
          break;
        case '[':
        case '{':
          flowDepth += 1;
          ok = open({ flow: true, column: offset - lineStart, seq: lexeme === '[' }, offset);
          nodeColumn = -1;
          break;
        case ']':
        case '}':
          if (flowDepth > 0) {
            while (levels.length > 0 && !levels[levels.length - 1].flow) levels.pop();
            levels.pop();
            flowDepth -= 1;
          }
          break;
        case ',':
          nodeColumn = -1;
          break;
        default:
          if ('&!*"\'|>'.includes(lexeme[0])) startNode();
          else if (lexeme === '' || lexeme === '\n' || lexeme === '\r\n') nodeColumn = -1;
      }
      if (!ok) return false;
    }
    const newline = lexeme.lastIndexOf('\n');
    if (newline >= 0) lineStart = offset + newline + 1;
    offset += lexeme.length;
    return true;
  };
}

// ---------------------------------------------------------------------------------------------
// The tree: anchors, aliases, keys

interface Tree { aliases: Map<Alias, Node>; problems: NodeProblem[] }

/**
 * One pass over the document in text order, without following aliases: resolves each alias to
 * the last anchor of its name before it, and checks every key — no duplicates within a mapping
 * (one set per mapping), no `__proto__`, nothing but plain values.
 */
function walkTree(doc: Document.Parsed): Tree {
  const anchors = new Map<string, Node>();
  const aliases = new Map<Alias, Node>();
  const problems: NodeProblem[] = [];
  // A node's path is its parent's and its own key or index, joined only when needed.
  type Visit = { node: unknown; parent: readonly PathSegment[]; segment?: PathSegment };
  const pathOf = (visit: Visit): readonly PathSegment[] => (visit.segment === undefined ? visit.parent : [...visit.parent, visit.segment]);
  const stack: Visit[] = [{ node: doc.contents, parent: [] }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const node = visit.node;
    if (!isNode(node)) continue;
    if (isAlias(node)) {
      const source = anchors.get(node.source);
      if (source) aliases.set(node, source);
      else problems.push({ offset: start(node), path: pathOf(visit), message: `unknown alias *${node.source}`, hint: `define the anchor &${node.source} on a value before this alias` });
      continue;
    }
    if (node.anchor) anchors.set(node.anchor, node);
    if (!isMap(node) && !isSeq(node)) continue;
    const path = pathOf(visit);
    const children: Visit[] = [];
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items as Pair[]) {
        const key = keyText(pair.key);
        if (key === undefined) {
          problems.push({
            offset: start(pair.key as Node), path, message: 'a key must be written out as plain text, not as an alias, mapping or list',
            hint: 'write the key itself, e.g. `web:`',
          });
          continue;
        }
        const raw = isScalar(pair.key) ? pair.key.value : null;
        if (seen.has(raw)) {
          problems.push({
            offset: start(pair.key as Node), path: [...path, key], message: `duplicate key ${backquote(key)}`,
            hint: 'a key may appear only once in the same mapping; keep one of them',
          });
        }
        seen.add(raw);
        if (key === RESERVED_KEY) {
          problems.push({
            offset: start(pair.key as Node), path: [...path, key], message: `\`${RESERVED_KEY}\` is a reserved name and cannot be a key`,
            hint: `rename it: no key, name, header or variable in gangway.yaml may be called ${RESERVED_KEY}`,
          });
        }
        if (needsVisit(pair.key)) children.push({ node: pair.key, parent: path });
        if (needsVisit(pair.value)) children.push({ node: pair.value, parent: path, segment: key });
      }
    } else {
      node.items.forEach((item, i) => {
        if (isPair(item)) {
          if (needsVisit(item.key)) children.push({ node: item.key, parent: path, segment: i });
          if (needsVisit(item.value)) children.push({ node: item.value, parent: path, segment: i });
        } else if (needsVisit(item)) {
          children.push({ node: item, parent: path, segment: i });
        }
      });
    }
    // Last pushed is visited first: push in reverse to keep text order, which anchors rely on.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return { aliases, problems };
}

/** A plain scalar (most of a file) has nothing to check once its mapping has checked it as a key. */
function needsVisit(node: unknown): boolean {
  return isNode(node) && (!isScalar(node) || node.anchor !== undefined);
}

function start(node: Node | null | undefined): number {
  return node?.range?.[0] ?? 0;
}

// ---------------------------------------------------------------------------------------------
// Aliases expanded: no cycles, depth and size bounded

interface Measure { depth: number; size: number }

/** What a collection holds, measured: scalars count one value each and need no measuring of their own. */
interface Children { nodes: Node[]; via: Array<Alias | undefined>; scalars: number }

/**
 * The collections a collection holds, each alias replaced by the value it stands for (and
 * remembered, to report a cycle at it), and how many scalars besides (keys count as values).
 */
function childrenOf(node: Node, aliases: ReadonlyMap<Alias, Node>): Children {
  const nodes: Node[] = [];
  const via: Array<Alias | undefined> = [];
  let scalars = 0;
  const add = (child: unknown): void => {
    let alias: Alias | undefined;
    let target = child;
    if (isAlias(child)) {
      alias = child;
      target = aliases.get(child);
    }
    if (isScalar(target)) {
      scalars += 1;
    } else if (isMap(target) || isSeq(target)) {
      nodes.push(target);
      via.push(alias);
    }
  };
  if (isMap(node) || isSeq(node)) {
    for (const item of node.items as unknown[]) {
      if (isPair(item)) {
        add(item.key);
        add(item.value);
      } else {
        add(item);
      }
    }
  }
  return { nodes, via, scalars };
}

/**
 * Measures the data the document expands to (nesting depth, number of values) with each node
 * measured once, and refuses an alias inside the value its anchor names (the data would never
 * end), nesting past {@link MAX_NESTING} and more than {@link MAX_EXPANDED_VALUES} values.
 */
function checkExpansion(doc: Document.Parsed, aliases: ReadonlyMap<Alias, Node>): NodeProblem[] {
  const root = doc.contents as Node | null;
  if (!root) return [];
  const top = isAlias(root) ? aliases.get(root) : root;
  if (!isMap(top) && !isSeq(top)) return [];
  const measures = new Map<Node, Measure | 'open'>();
  const cyclic: NodeProblem[] = [];
  const stack: Array<{ node: Node; children?: Children }> = [{ node: top }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1];
    if (frame.children === undefined) {
      if (measures.has(frame.node)) {
        stack.pop();
        continue;
      }
      measures.set(frame.node, 'open');
      frame.children = childrenOf(frame.node, aliases);
      frame.children.nodes.forEach((child, i) => {
        const known = measures.get(child);
        // Open: the value is being measured, so this alias is inside it.
        const alias = frame.children?.via[i];
        if (known === 'open' && alias) {
          cyclic.push({
            offset: start(alias), path: [], message: `the alias *${alias.source} is inside the value its anchor names, so that value would never end`,
            hint: 'an anchored value cannot contain itself: write the inner value out',
          });
        } else if (known === undefined) {
          stack.push({ node: child });
        }
      });
      continue;
    }
    stack.pop();
    let depth = 0;
    let size = 1 + frame.children.scalars;
    for (const child of frame.children.nodes) {
      const m = measures.get(child);
      if (m === undefined || m === 'open') continue;
      depth = Math.max(depth, m.depth);
      size += m.size;
    }
    measures.set(frame.node, { depth: depth + 1, size });
  }
  if (cyclic.length > 0) return cyclic;

  const measure = (node: Node): Measure => {
    const target = isAlias(node) ? aliases.get(node) : node;
    return target && !isScalar(target) ? measures.get(target) as Measure : { depth: 0, size: 1 };
  };
  const rootMeasure = measure(root);
  if (rootMeasure.depth > MAX_NESTING) return [crossing(root, aliases, measure, 'depth')];
  if (rootMeasure.size > MAX_EXPANDED_VALUES) return [crossing(root, aliases, measure, 'size')];
  return [];
}

/**
 * Where a limit is crossed: down the deepest (or largest) branch to the first alias, whose
 * expansion crosses it, or to the collection that opens past the nesting limit.
 */
function crossing(root: Node, aliases: ReadonlyMap<Alias, Node>, measure: (node: Node) => Measure, limit: 'depth' | 'size'): NodeProblem {
  let node = root;
  let path: PathSegment[] = [];
  let level = 0;
  const found = (at: Node, alias?: string): NodeProblem => (limit === 'depth'
    ? { offset: start(at), path, message: tooDeepMessage(alias), hint: TOO_DEEP_HINT }
    : {
      offset: start(at), path,
      message: `aliases expand the file to more than ${MAX_EXPANDED_VALUES.toLocaleString('en-US')} values${alias ? ` (the alias *${alias} here to ${measure(at).size.toLocaleString('en-US')})` : ''}`,
      hint: 'use fewer aliases, or aliases of smaller values',
    });
  for (;;) {
    if (isAlias(node)) return found(node, node.source);
    level += 1;
    if (limit === 'depth' && level > MAX_NESTING) return found(node);
    let next: { node: Node; path: PathSegment[] } | undefined;
    let best = -1;
    const consider = (child: unknown, childPath: PathSegment[]): void => {
      if (!isNode(child)) return;
      const m = measure(child);
      const value = limit === 'depth' ? m.depth : m.size;
      if (value > best) {
        best = value;
        next = { node: child, path: childPath };
      }
    };
    if (isMap(node)) for (const pair of node.items as Pair[]) consider(pair.value, [...path, keyText(pair.key) ?? '']);
    else if (isSeq(node)) node.items.forEach((item, i) => consider(isPair(item) ? item.value : item, [...path, i]));
    if (!next || !(isAlias(next.node) || isMap(next.node) || isSeq(next.node))) return found(node);
    ({ node, path } = next);
  }
}

// ---------------------------------------------------------------------------------------------
// Document → data

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol' && key.value.description === '<<';
}

/**
 * Builds the data: scalars as their values, mappings as objects without a prototype, lists as
 * arrays, an anchored value built once and shared by its aliases. Depth is bounded by now, so
 * recursion is safe. Merge keys (`<<`, YAML 1.1 only) copy the keys a mapping does not have.
 */
function buildData(doc: Document.Parsed, aliases: ReadonlyMap<Alias, Node>): { data: unknown; problems: NodeProblem[] } {
  const anchored = new Set(aliases.values());
  const built = new Map<Node, unknown>();
  const problems: NodeProblem[] = [];

  const build = (node: unknown, path: readonly PathSegment[]): unknown => {
    if (!isNode(node)) return null;
    if (isAlias(node)) return build(aliases.get(node), path);
    if (built.has(node)) return built.get(node);
    let value: unknown;
    if (isScalar(node)) {
      value = scalarData(node.value);
    } else if (isMap(node)) {
      const out = Object.create(null) as Record<string, unknown>;
      for (const pair of node.items as Pair[]) {
        if (isMergeKey(pair.key)) {
          merge(out, pair.value, path);
          continue;
        }
        const key = keyText(pair.key) as string;
        out[key] = build(pair.value, [...path, key]);
      }
      value = out;
    } else if (isSeq(node)) {
      value = node.items.map((item, i) => {
        if (!isPair(item)) return build(item, [...path, i]);
        const key = keyText(item.key) ?? '';
        return Object.assign(Object.create(null) as Record<string, unknown>, { [key]: build(item.value, [...path, i, key]) });
      });
    }
    if (anchored.has(node)) built.set(node, value);
    return value;
  };

  const merge = (into: Record<string, unknown>, value: unknown, path: readonly PathSegment[]): void => {
    const resolved = isAlias(value) ? aliases.get(value) : value;
    const sources = isSeq(resolved) ? resolved.items.map((item) => (isAlias(item) ? aliases.get(item) : item)) : [resolved];
    for (const source of sources) {
      if (!isMap(source)) {
        problems.push({
          offset: start(isNode(value) ? value : undefined), path, message: 'a merge (<<) takes a mapping or a list of mappings',
          hint: 'merge an anchored mapping, e.g. `<<: *defaults`',
        });
        return;
      }
      const data = build(source, path) as Record<string, unknown>;
      for (const key of Object.keys(data)) if (!Object.hasOwn(into, key)) into[key] = data[key];
    }
  };

  return { data: build(doc.contents, []), problems };
}
