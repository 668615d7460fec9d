/**
 * Typed faults of Gangway. Expected outcomes (a failing health check, a gate that says wait)
 * are data, not exceptions; these classes are for requests that cannot be carried out.
 * HTTP status codes and CLI exit codes come from the single mapping below.
 */

export type ErrorCode =
  | 'invalid_config' | 'invalid_argument' | 'not_found' | 'conflict' | 'unauthorized'
  | 'forbidden' | 'blocked' | 'deployment_failed' | 'port_in_use' | 'unreachable' | 'internal'
  | 'rate_limited'
  /**
   * CLI only: the orchestrator answered, but a platform it needs for the request (a Kubernetes
   * API server, the local agent, a registry) did not — the API's `unreachable`. Exit 6, so a
   * script tells "start the orchestrator" (5) from "the cluster is down" (6).
   */
  | 'upstream_unreachable';

export class GangwayError extends Error {
  override name = 'GangwayError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** How to fix it, shown under the message. */
    readonly hint?: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class ConfigError extends GangwayError {
  override name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super('invalid_config', problems.map(formatProblem).join('\n'), undefined, { problems });
  }
}

/** One problem in a config file. `line`/`column` are 1-based. */
export interface ConfigProblem {
  file: string; line: number; column: number; path: string; message: string; hint?: string;
  /** Only on the last problem of a capped list: how many more problems were left out. */
  omitted?: number;
}

export function formatProblem(p: ConfigProblem): string {
  const where = `${p.file}:${p.line}:${p.column}`;
  return `${where}: ${p.path ? p.path + ': ' : ''}${p.message}${p.hint ? `\n  hint: ${p.hint}` : ''}`;
}

export class NotFoundError extends GangwayError {
  override name = 'NotFoundError';
  constructor(what: string, hint?: string) { super('not_found', what, hint); }
}

export class PortInUseError extends GangwayError {
  override name = 'PortInUseError';
  constructor(readonly port: number, readonly host: string, options?: { cause?: unknown }) {
    super('port_in_use', `port ${port} on ${host} is already in use by another process`,
      'stop the other process or choose another port in gangway.yaml', { port, host }, options);
  }
}

export class UnreachableError extends GangwayError {
  override name = 'UnreachableError';
  constructor(what: string, hint?: string, options?: { cause?: unknown }) { super('unreachable', what, hint, undefined, options); }
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_config: 400, invalid_argument: 400, not_found: 404, conflict: 409, unauthorized: 401,
  forbidden: 403, blocked: 423, deployment_failed: 422, port_in_use: 409, unreachable: 502, internal: 500,
  rate_limited: 429, upstream_unreachable: 502,
};

/**
 * CLI exit codes of the design: 0 done; 1 unexpected; 2 invalid input; 3 blocked by a gate; 4
 * deployment failed; 5 orchestrator unreachable; 6 a platform behind the orchestrator unreachable.
 */
const EXIT_CODE: Record<ErrorCode, number> = {
  invalid_config: 2, invalid_argument: 2, not_found: 2, conflict: 2, unauthorized: 2, forbidden: 2,
  blocked: 3, deployment_failed: 4, port_in_use: 2, unreachable: 5, internal: 1,
  rate_limited: 2, upstream_unreachable: 6,
};

export function httpStatusOf(code: ErrorCode): number { return HTTP_STATUS[code] ?? 500; }
export function exitCodeOf(code: ErrorCode): number { return EXIT_CODE[code] ?? 1; }

/** The one JSON shape of an API error. */
export interface ApiErrorBody { error: { code: ErrorCode; message: string; hint?: string; details?: Record<string, unknown> } }

export function toApiError(err: unknown): { status: number; body: ApiErrorBody } {
  if (err instanceof GangwayError) {
    return { status: httpStatusOf(err.code), body: { error: { code: err.code, message: err.message, hint: err.hint, details: err.details } } };
  }
  return { status: 500, body: { error: { code: 'internal', message: 'internal error' } } };
}
