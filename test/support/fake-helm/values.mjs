/**
 * User-supplied values for the FAKE `helm`, merged as Helm 3's `values.Options.MergeValues`
 * does: `-f` files in order (maps merge deeply, anything else replaces), then every `--set`,
 * then every `--set-string`. `--set` follows pkg/strvals: `a.b=c,d=e`, a backslash escapes the
 * next character, `{x,y}` is a list, `true`/`false`/`null`/integers are typed (`--set-string`
 * keeps strings). Index syntax (`a[0]=x`) is not supported and says so.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { HelmError, wrap } from './errors.mjs';

const isMap = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Helm's `mergeMaps`. */
export function mergeMaps(a, b) {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isMap(v) && isMap(out[k]) ? mergeMaps(out[k], v) : v;
  }
  return out;
}

/** strvals' `typedVal`. */
function typedVal(val, asString) {
  if (asString) return val;
  const lower = val.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'null') return null;
  if (val === '0') return 0;
  if (val !== '' && val[0] !== '0' && /^[+-]?[0-9]+$/.test(val)) {
    const n = BigInt(val);
    if (n >= -(2n ** 63n) && n < 2n ** 63n) return Number.isSafeInteger(Number(n)) ? Number(n) : n;
  }
  return val;
}

/** Reads up to (not including) one of `stops`, honouring backslash escapes; returns [text, stop]. */
function runesUntil(s, i, stops) {
  let out = '';
  while (i.at < s.length) {
    const c = s[i.at];
    if (c === '\\' && i.at + 1 < s.length) { out += s[i.at + 1]; i.at += 2; continue; }
    if (stops.includes(c)) { i.at += 1; return [out, c]; }
    out += c;
    i.at += 1;
  }
  return [out, ''];
}

function setKey(data, path, value) {
  let at = data;
  for (const k of path.slice(0, -1)) {
    if (!isMap(at[k])) at[k] = {};
    at = at[k];
  }
  at[path[path.length - 1]] = value;
}

/** strvals `ParseInto` / `ParseIntoString`: applies one `--set` argument to `data`. */
export function parseInto(text, data, asString) {
  const i = { at: 0 };
  while (i.at < text.length) {
    const path = [];
    for (;;) {
      const [k, c] = runesUntil(text, i, ['=', '.', ',', '[']);
      if (c === '[') throw new HelmError(`the fake helm does not support list index syntax in --set: ${text}`);
      if (c === ',' || c === '') {
        throw new HelmError(c === ',' ? `key "${k}" has no value (cannot end with ,)` : `key "${k}" has no value`);
      }
      if (k === '' && c === '.') throw new HelmError(`key "${[...path, ''].join('.')}" has no value`);
      path.push(k);
      if (c === '=') break;
    }
    if (text[i.at] === '{') {
      i.at += 1;
      const [inner, c] = runesUntil(text, i, ['}']);
      if (c !== '}') throw new HelmError(`list must terminate with '}'`);
      setKey(data, path, inner === '' ? [] : inner.split(',').map((v) => typedVal(v, asString)));
      if (i.at < text.length && text[i.at] === ',') i.at += 1;
      continue;
    }
    const [v] = runesUntil(text, i, [',']);
    setKey(data, path, typedVal(v, asString));
  }
}

/** The merged user-supplied values (`Release.Config`). */
export function mergeValueFlags({ valueFiles, values, stringValues }) {
  let base = {};
  for (const file of valueFiles) {
    if (file === '-') throw new HelmError('the fake helm does not read values from stdin (-f -)');
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (err.code === 'ENOENT') throw new HelmError(`open ${file}: no such file or directory`);
      throw new HelmError(`open ${file}: ${err.message}`);
    }
    let current;
    try {
      current = parseYaml(text) ?? {};
    } catch (err) {
      throw wrap(new HelmError(`error converting YAML to JSON: ${err.message}`), `failed to parse ${file}`);
    }
    if (!isMap(current)) throw new HelmError(`failed to parse ${file}: error unmarshaling JSON: json: cannot unmarshal ${Array.isArray(current) ? 'array' : typeof current} into Go value of type map[string]interface {}`);
    base = mergeMaps(base, current);
  }
  for (const v of values) {
    try { parseInto(v, base, false); } catch (err) { throw wrap(err, 'failed parsing --set data'); }
  }
  for (const v of stringValues) {
    try { parseInto(v, base, true); } catch (err) { throw wrap(err, 'failed parsing --set-string data'); }
  }
  return base;
}
