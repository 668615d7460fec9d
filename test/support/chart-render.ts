/**
 * A FAKE chart renderer shared by the fake `helm` and the fake Argo CD: it renders nothing of
 * Go templates but plain substitutions, enough for test charts whose templates are Kubernetes
 * manifests with `{{ .Values.a.b }}`, `{{ .Release.Name }}` and `{{ .Release.Namespace }}` in
 * them (spaces inside the braces optional, `| quote` allowed). Anything else in `{{ }}` is an
 * error naming the file, so a test chart cannot silently rely on templating the fakes lack.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface RenderRelease { name: string; namespace: string }

/** Deep-merges value layers, later ones winning (maps merge, everything else replaces), as Helm merges `-f` files. */
export function mergeValues(...layers: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k];
      out[k] = isMap(prev) && isMap(v) ? mergeValues(prev, v) : v;
    }
  }
  return out;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets `a.b.c` in values (maps created on the way), as `--set-string a.b.c=v` does. */
export function setPath(values: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let at: Record<string, unknown> = values;
  for (const k of keys.slice(0, -1)) {
    if (!isMap(at[k])) at[k] = {};
    at = at[k] as Record<string, unknown>;
  }
  at[keys[keys.length - 1]!] = value;
}

function lookup(values: Record<string, unknown>, path: string): unknown {
  let at: unknown = values;
  for (const k of path.split('.')) at = isMap(at) ? at[k] : undefined;
  return at;
}

const EXPR = /\{\{-?\s*([^}]*?)\s*-?\}\}/g;

/** Renders one template text; `file` names it in errors. */
export function renderText(text: string, values: Record<string, unknown>, release: RenderRelease, file: string): string {
  return text.replace(EXPR, (_m, expr: string) => {
    const [ref, ...pipes] = expr.split('|').map((s) => s.trim());
    let value: unknown;
    if (ref === '.Release.Name') value = release.name;
    else if (ref === '.Release.Namespace') value = release.namespace;
    else if (ref?.startsWith('.Values.')) value = lookup(values, ref.slice('.Values.'.length));
    else throw new Error(`${file}: the fake chart renderer supports only .Values.*, .Release.Name and .Release.Namespace, not {{ ${expr} }}`);
    if (value === undefined || value === null) value = '';
    if (typeof value === 'object') throw new Error(`${file}: {{ ${expr} }} is a map or list; the fake chart renderer substitutes scalars only`);
    let s = String(value);
    for (const p of pipes) {
      if (p === 'quote') s = JSON.stringify(s);
      else throw new Error(`${file}: the fake chart renderer supports only the quote function, not ${p}`);
    }
    return s;
  });
}

/**
 * Renders a chart folder (`values.yaml` defaults + `templates/*.yaml`, sorted by name) with
 * the given value layers and returns the manifests' text, documents joined by `---`.
 */
export function renderChart(chartDir: string, layers: Array<Record<string, unknown>>, release: RenderRelease): string {
  let defaults: Record<string, unknown> = {};
  try {
    const parsed: unknown = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    if (isMap(parsed)) defaults = parsed;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const values = mergeValues(defaults, ...layers);
  const dir = join(chartDir, 'templates');
  const files = readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort();
  return files.map((f) => renderText(readFileSync(join(dir, f), 'utf8'), values, release, join(dir, f)).trim()).join('\n---\n') + '\n';
}
