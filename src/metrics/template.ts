/**
 * Placeholders in metric queries and URLs: `${service}`, `${environment}`, `${version}` and
 * `${window}`. Values are escaped for where they land — a PromQL string literal or a URL —
 * so a release name can never change the meaning of a query.
 */

/** The values a query's placeholders stand for. */
export interface TemplateVars {
  service: string;
  environment: string;
  version: string;
  /** The trailing window, rendered as a Prometheus duration (`2m`, `90s`, `1500ms`). */
  windowMs: number;
}

/** The placeholders a metric query may use. */
export const PLACEHOLDERS: readonly string[] = Object.freeze(['service', 'environment', 'version', 'window']);

/** A query or URL that names a placeholder Gangway does not know, or a malformed one. */
export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(message: string, readonly template: string) {
    super(message);
  }
}

/**
 * Escapes a value for the inside of a double-quoted PromQL string (label matchers use these):
 * backslash, double quote and line breaks, as Prometheus's Go-style string literals need.
 *
 * @example
 * escapePromQLString('a"b'); // 'a\\"b'
 */
export function escapePromQLString(value: string): string {
  return value.replace(/[\\"\n\r\t]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\t' ? '\\t' : `\\${c}`));
}

/**
 * A window in milliseconds as a Prometheus duration, in the largest unit that divides it
 * exactly, so the query covers the same span the rule asked for.
 *
 * @example
 * formatPromDuration(120_000); // '2m'
 * formatPromDuration(1_500);   // '1500ms'
 */
export function formatPromDuration(ms: number): string {
  if (!Number.isFinite(ms) || Math.round(ms) <= 0) throw new TemplateError(`a window must be at least 1 ms, got ${ms}`, '${window}');
  ms = Math.round(ms);
  const units: Array<[string, number]> = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]];
  for (const [unit, size] of units) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/**
 * Substitutes the placeholders of a PromQL query. `${service}`, `${environment}` and
 * `${version}` are escaped for a double-quoted string literal (write them inside quotes:
 * `version="${version}"`); `${window}` becomes a duration for a range selector (`[${window}]`).
 * Throws TemplateError for an unknown placeholder.
 *
 * @example
 * renderPromQL('rate(http_requests_total{version="${version}"}[${window}])', { service: 'web', environment: 'prod', version: '2.0.0', windowMs: 120_000 });
 * // 'rate(http_requests_total{version="2.0.0"}[2m])'
 */
export function renderPromQL(query: string, vars: TemplateVars): string {
  return substitute(query, vars, escapePromQLString);
}

/**
 * Substitutes the placeholders of a URL, each value percent-encoded so it stays one path
 * segment or query value. Throws TemplateError for an unknown placeholder.
 *
 * @example
 * renderUrl('https://stats.example.com/v1/${service}/errors?version=${version}', vars);
 */
export function renderUrl(url: string, vars: TemplateVars): string {
  return substitute(url, vars, encodeURIComponent);
}

function substitute(template: string, vars: TemplateVars, escape: (value: string) => string): string {
  return template.replace(/\$\{([^}]*)\}/g, (_whole, name: string) => {
    switch (name.trim()) {
      case 'service': return escape(vars.service);
      case 'environment': return escape(vars.environment);
      case 'version': return escape(vars.version);
      case 'window': return formatPromDuration(vars.windowMs);
      default:
        throw new TemplateError(`unknown placeholder \${${name}} in ${JSON.stringify(template)}; known: ${PLACEHOLDERS.map((p) => `\${${p}}`).join(', ')}`, template);
    }
  });
}
