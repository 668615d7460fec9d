/**
 * The dashboard's one way to the API: same-origin fetch with the session cookie, the CSRF
 * token on unsafe methods, and the API's error shape turned into {@link ApiError}.
 */
import type { DeploymentView, ReleaseView, StatusEntry } from '../../src/engine/types.js';
import type { EventRecord, FreezeRecord, ReleaseSampleRecord, Role, VerdictRecord } from '../../src/store/types.js';
import type { WindowStateView } from '../../src/server/window-routes.js';
import type { DoraMetrics } from '../../src/engine/dora.js';

export type { DeploymentView, ReleaseView, StatusEntry, EventRecord, FreezeRecord, WindowStateView, DoraMetrics, Role, ReleaseSampleRecord, VerdictRecord };


/** The signed-in principal, as POST/GET /v1/session return it. */
export interface SessionUser { name: string; roles: Record<string, Role> }
export interface SessionBody { user: SessionUser; csrfToken: string }

/** An answer in the API's error shape `{ error: { code, message, hint? } }`, or a network fault. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
    /** Seconds from a 429's Retry-After header. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onUnauthorized: (() => void) | null = null;

/** Keeps the session's CSRF token in memory only: never in storage a script on another page could read. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request answers 401 after sign-in (the session expired or was revoked). */
export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Calls the API and returns its JSON body (undefined for 204). Throws {@link ApiError}.
 *
 * @example
 * const status = await api<StatusEntry[]>('GET', '/v1/status');
 * await api('POST', `/v1/deployments/${id}/approve`, { comment: 'ok' });
 */
export async function api<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (UNSAFE.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch (err) {
    throw new ApiError(0, 'unreachable', `the orchestrator did not answer (${err instanceof Error ? err.message : String(err)})`, 'is `gangway up` still running?');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let json: unknown = undefined;
  try { json = text ? JSON.parse(text) : undefined; } catch { /* not JSON: reported below */ }
  if (res.ok) return json as T;
  const error = (json as { error?: { code?: string; message?: string; hint?: string } } | undefined)?.error;
  const retry = res.headers.get('retry-after');
  const err = new ApiError(res.status, error?.code ?? 'internal', error?.message ?? `HTTP ${res.status}`, error?.hint,
    retry !== null && /^\d+$/.test(retry) ? Number(retry) : undefined);
  if (res.status === 401 && !opts.quiet401) onUnauthorized?.();
  throw err;
}

/** The text shown for a failed call: the API's message, its hint, and when a refusal may be retried. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) {
    const parts = [err.message];
    // The server's message usually says when already; add it only when it does not.
    if (err.retryAfter !== undefined && !/try again/i.test(err.message)) parts.push(`try again in ${err.retryAfter} s`);
    if (err.hint) parts.push(err.hint);
    return parts.join(' — ');
  }
  return err instanceof Error ? err.message : String(err);
}
