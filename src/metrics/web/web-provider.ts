/**
 * The web metric provider: one number read from a JSON document over HTTP — a team's own
 * stats endpoint, a vendor API. `field` is a dotted path with array indices (`data.series[0].value`).
 */
import type { MetricSource } from '../../config/types.js';
import type { MetricProvider, MetricQuery, MetricResult } from '../provider.js';
import { renderUrl } from '../template.js';

/** One step of a field path: an object key or an array index. */
export type FieldStep = string | number;

/** A field path that cannot be parsed. */
export class FieldPathError extends Error {
  override name = 'FieldPathError';
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

/**
 * Parses a dotted field path with array indices. Throws FieldPathError for a malformed one.
 *
 * @example
 * parseFieldPath('data.result[0].value'); // ['data', 'result', 0, 'value']
 * parseFieldPath('rates["p95.ms"]');       // ['rates', 'p95.ms']
 */
export function parseFieldPath(field: string): FieldStep[] {
  const steps: FieldStep[] = [];
  let i = 0;
  const fail = (why: string): never => { throw new FieldPathError(`field ${JSON.stringify(field)} is not a valid path: ${why} at character ${i + 1}`, field); };
  if (field === '') return steps;
  for (;;) {
    if (field[i] === '[') {
      const close = field.indexOf(']', i);
      if (close < 0) fail('unclosed [');
      const inside = field.slice(i + 1, close);
      if (/^\d+$/.test(inside)) steps.push(Number(inside));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inside)) steps.push(JSON.parse(inside) as string);
      else fail('expected an index or a quoted key inside [ ]');
      i = close + 1;
    } else {
      const m = /^[^.[\]]+/.exec(field.slice(i));
      if (m === null) fail('expected a key');
      steps.push(m![0]);
      i += m![0].length;
    }
    if (i === field.length) return steps;
    if (field[i] === '.') { i++; if (i === field.length) fail('ends with .'); continue; }
    if (field[i] !== '[') fail(`unexpected ${JSON.stringify(field[i])}`);
  }
}

/**
 * Reads a number from a JSON endpoint.
 *
 * @example
 * const web = new WebProvider();
 * await web.measure({ kind: 'web', url: 'https://stats.example.com/${service}/errors?version=${version}', field: 'data.rate',
 *   headers: { authorization: 'Bearer …' }, timeoutMs: 5000 }, query);
 * // { phase: 'ok', value: 0.01, samples: null }
 */
export class WebProvider implements MetricProvider {
  /**
   * GETs the source's URL (placeholders substituted and percent-encoded) with its headers (sent
   * as written) and reads `field`: a number or numeric string is `ok`; a missing field, null
   * or "NaN" is `nodata`; an HTTP error, an unreachable host, a timeout, a body that is not JSON or a field that is
   * not a number is `error`. `samples` is null. Never throws. Idempotent if the endpoint is.
   */
  async measure(source: MetricSource, q: MetricQuery): Promise<MetricResult> {
    if (source.kind !== 'web') return { phase: 'error', detail: `the web provider cannot measure a ${source.kind} source` };
    let url: URL;
    let path: FieldStep[];
    try {
      url = new URL(renderUrl(source.url, q));
      path = parseFieldPath(source.field);
    } catch (err) {
      return { phase: 'error', detail: err instanceof TypeError ? `invalid url ${JSON.stringify(source.url)}` : (err as Error).message };
    }
    // The query string may carry a token; messages name the endpoint without it.
    const where = `GET ${url.origin}${url.pathname}`;
    let status: number;
    let text: string;
    try {
      const res = await fetch(url, { headers: { accept: 'application/json', ...source.headers }, signal: AbortSignal.timeout(source.timeoutMs) });
      status = res.status;
      text = await res.text();
    } catch (err) {
      return { phase: 'error', detail: describeFailure(err, where, source.timeoutMs) };
    }
    if (status < 200 || status >= 300) return { phase: 'error', detail: `${where} answered HTTP ${status}${text.trim() !== '' ? `: ${snippet(text)}` : ''}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { phase: 'error', detail: `${where} did not answer JSON: ${snippet(text) || '(empty body)'}` };
    }
    let value: unknown = body;
    for (const step of path) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, step)) {
        return { phase: 'nodata', detail: `${where}: the answer has no field ${source.field}` };
      }
      value = (value as Record<string | number, unknown>)[step];
    }
    if (value === null) return { phase: 'nodata', detail: `${where}: field ${source.field} is null` };
    if (typeof value === 'number') return { phase: 'ok', value, samples: null };
    if (typeof value === 'string' && value.trim() !== '') {
      const n = Number(value);
      if (Number.isFinite(n)) return { phase: 'ok', value: n, samples: null };
      if (/^\s*[+-]?(NaN|Inf(inity)?)\s*$/i.test(value)) return { phase: 'nodata', detail: `${where}: field ${source.field} is ${value.trim()}` };
    }
    return { phase: 'error', detail: `${where}: field ${source.field} is ${describe(value)}, not a number` };
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value === 'boolean' ? 'the boolean' : 'the value'} ${String(value)}`;
}

function describeFailure(err: unknown, where: string, timeoutMs: number): string {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `${where} did not answer within ${timeoutMs} ms`;
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED') return `${where} failed: connection refused (ECONNREFUSED)`;
  const reason = e.cause?.message ?? e.message;
  return `${where} failed: ${reason}${code && !reason.includes(code) ? ` (${code})` : ''}`;
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
