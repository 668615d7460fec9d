/**
 * Reads and changes one value of a Helm values file (`image.tag` of
 * `helm/environments/staging-env/image-tags.yaml`) the way a person would: only the value's
 * characters change. The file is parsed to find the value, and the new one is spliced into
 * the text at the value's position, so comments, blank lines, key order, indentation, line
 * endings and the quoting of every other value come back byte for byte (a Document
 * `toString()` would reformat). The value keeps its quotes; a plain value that YAML would read
 * as something other than the same string (`124`, `true`, `1.10`) is double-quoted, so the
 * chart receives a string.
 *
 * A key that is not in the file is an error naming the keys that are there, even when only
 * the last part is missing under an existing map: a misspelt key (`image.tags`) would
 * otherwise be added beside the real one, the chart would ignore it, and a deployment would
 * report success while nothing changed.
 */
import { isAlias, isMap, isScalar, parse, parseDocument, type Scalar } from 'yaml';
import { GitOpsError } from './errors.js';

/** Larger values files are refused before parsing: an environment's values are a few kilobytes. */
export const MAX_VALUES_FILE_BYTES = 1024 * 1024;

/** The outcome of {@link setValue}. */
export interface ValueEdit {
  /** The file's new text (the same text when nothing changed). */
  text: string;
  /** The value before, as written (`null` for an empty value). */
  previous: string | null;
  changed: boolean;
}

/**
 * The value at a dotted key, as written in the file (a plain `123` reads `'123'`), or `null`
 * when it is empty (`tag:` or `tag: ~`).
 *
 * @param file the file's path, for messages
 * @example
 * readValue('image:\n  tag: "1.4.1"\n', 'image-tags.yaml', 'image.tag'); // '1.4.1'
 * @throws GitOpsError (invalid_argument) when the text is not YAML, the key is missing or not a single value.
 */
export function readValue(text: string, file: string, key: string): string | null {
  return locate(text, file, key).current;
}

/**
 * Sets the value at a dotted key, changing only the value's characters in the text.
 * Idempotent: the same value already there returns the text as is with `changed: false`.
 *
 * @param file the file's path, for messages
 * @example
 * setValue('image:\n  tag: "1.4.1" # web\n', 'image-tags.yaml', 'image.tag', '1.4.2');
 * // { text: 'image:\n  tag: "1.4.2" # web\n', previous: '1.4.1', changed: true }
 * With `number`, a whole number replacing a plain value is written plain (a YAML number);
 * otherwise a value that would read as anything but a string is quoted.
 * @throws GitOpsError (invalid_argument) as {@link readValue}, and for a value over several lines or with control characters.
 */
export function setValue(text: string, file: string, key: string, value: string, opts: { number?: boolean } = {}): ValueEdit {
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new GitOpsError('invalid_argument', `the value for ${key} in ${file} has a line break or control character: ${JSON.stringify(value)}`, undefined, { file, key });
  }
  const found = locate(text, file, key);
  if (found.current === value) return { text, previous: found.current, changed: false };

  const [start, end] = found.range;
  // A count or weight written plain stays a YAML number (a chart may compute with it); anything else stays a string.
  let written = opts.number && found.style === 'plain' && /^\d{1,9}$/.test(value) ? value : render(value, found.style);
  if (start === end) {
    // An empty value: `key:` needs a space before the new value, and a comment after it one before `#`.
    if (!/[ \t]/.test(text.charAt(start - 1))) written = ` ${written}`;
    if (text.charAt(start) === '#') written = `${written} `;
  }
  const edited = `${text.slice(0, start)}${written}${text.slice(end)}`;
  // The splice is checked by reading the file again, so a mistake here can never be committed.
  const check = locate(edited, file, key);
  if (check.current !== value) {
    throw new GitOpsError('internal', `writing ${key} in ${file} would not read back as ${JSON.stringify(value)} (it reads ${JSON.stringify(check.current)})`, undefined, { file, key });
  }
  return { text: edited, previous: found.current, changed: true };
}

type Style = 'plain' | 'single' | 'double';

interface Located {
  current: string | null;
  /** Where the value's characters are in the text, end exclusive; equal for an empty value. */
  range: [number, number];
  style: Style;
}

function locate(text: string, file: string, key: string): Located {
  const bad = (message: string, hint?: string) => new GitOpsError('invalid_argument', message, hint, { file, key });
  const path = key.split('.');
  if (path.some((p) => p === '')) throw bad(`"${key}" is not a dotted key such as image.tag`);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_VALUES_FILE_BYTES) throw bad(`${file} is ${bytes} bytes; values files are limited to ${MAX_VALUES_FILE_BYTES} bytes`);

  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    // The library's message continues with an excerpt over several lines; its first line says what and where.
    throw bad(`${file} is not valid YAML: ${doc.errors[0].message.split('\n')[0].replace(/:$/, '')}`);
  }
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const where = i === 0 ? 'the file' : path.slice(0, i).join('.');
    if (!isMap(node)) {
      throw bad(`${key} not found in ${file}: ${where} is ${describe(node)}, not a map of keys`);
    }
    const pair = node.items.find((p) => keyText(p.key) === path[i]);
    if (!pair) {
      const keys = node.items.map((p) => keyText(p.key));
      throw bad(`${key} not found in ${file}: ${where} has ${keys.length === 0 ? 'no keys' : `the keys ${keys.join(', ')}`}`,
        'check the key in target.gitops, or add it to the file by hand first (Gangway changes values, it does not add keys)');
    }
    node = pair.value;
  }
  if (!isScalar(node) || !node.range) throw bad(`${key} in ${file} is ${describe(node)}, not a single value`);
  const scalar: Scalar = node;
  const [start, end] = scalar.range as [number, number, number];
  switch (scalar.type) {
    case 'QUOTE_DOUBLE': return { current: String(scalar.value), range: [start, end], style: 'double' };
    case 'QUOTE_SINGLE': return { current: String(scalar.value), range: [start, end], style: 'single' };
    case 'PLAIN': {
      // An empty value (`tag:`) has a position but no characters; `~` and `null` are empty too.
      const written = text.slice(start, end);
      return { current: scalar.value === null ? null : written, range: [start, end], style: 'plain' };
    }
    default: throw bad(`${key} in ${file} is a block scalar (| or >); write it as a single-line value first`);
  }
}

function keyText(key: unknown): string {
  return isScalar(key) ? String(key.value) : String(key);
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return 'empty';
  if (isAlias(node)) return 'an alias';
  if (isMap(node)) return 'a map';
  if (isScalar(node)) return 'a single value';
  return 'a list';
}

/** The value as written in the style it replaces; plain only when YAML 1.1 and 1.2 both read it back as the same string. */
function render(value: string, style: Style): string {
  if (style === 'single') return `'${value.replaceAll("'", "''")}'`;
  if (style === 'plain' && isPlainSafe(value)) return value;
  return JSON.stringify(value);
}

function isPlainSafe(value: string): boolean {
  // Flow indicators and `#` end a plain value inside `{…}` or start a comment; quote rather than reason about context.
  if (value === '' || /[,[\]{}#]/.test(value)) return false;
  try {
    return parse(value, { version: '1.2' }) === value && parse(value, { version: '1.1' }) === value;
  } catch {
    return false;
  }
}
