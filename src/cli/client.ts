/**
 * HTTP client of the orchestrator API, used by the CLI. Error answers come back as the
 * GangwayError the server mapped them from, so exit codes follow the one mapping in errors.ts.
 */
import type { DeploymentView, PlanView, ReleaseView, StatusEntry } from '../engine/types.js';
import type { ApprovalRecord, ChecklistConfirmation, EventRecord, FreezeRecord, VerdictRecord } from '../store/types.js';
import type { ApiErrorBody, ErrorCode } from '../errors.js';
import { GangwayError, UnreachableError } from '../errors.js';
import type { ChainVerdict } from '../records/audit.js';

/** Options of {@link ApiClient}. */
export interface ApiClientOptions {
  /** e.g. `http://127.0.0.1:7400` */
  baseUrl: string;
  /** Bearer token; requests go without one when undefined (the API then answers 401). */
  token?: string;
  /** Where the token was looked for, named in the hint of a 401 answer. */
  tokenSource?: string;
  /** Sent as `x-gangway-actor`. */
  actor: string;
  /** Per-request timeout, default 30 s. */
  timeoutMs?: number;
  /** How to start the orchestrator, for hints when it does not answer; default `gangway up`. */
  startCommand?: string;
}

type Query = Record<string, string | number | undefined>;

/**
 * A typed client of the /v1 routes.
 *
 * @example
 * const api = new ApiClient({ baseUrl: 'http://127.0.0.1:7400', token, actor: 'alice' });
 * const d = await api.deploy({ service: 'web', environment: 'dev', version: '1.4.2' });
 */
export class ApiClient {
  readonly baseUrl: string;

  constructor(private readonly opts: ApiClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
  }

  deploy(body: { service: string; environment: string; version?: string; image?: string; reason?: string; expedited?: boolean; waitForWindow?: boolean }): Promise<DeploymentView> {
    return this.request('POST', '/v1/deployments', body);
  }
  rollback(body: { service: string; environment: string; to?: string; reason?: string }): Promise<DeploymentView> {
    return this.request('POST', '/v1/rollbacks', body);
  }
  abort(id: string): Promise<DeploymentView> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/abort`);
  }
  /** Requests a release of several services (a release group). */
  createRelease(body: { environment: string; versions?: Record<string, string>; version?: string; services?: string[]; reason?: string; onFailure?: 'rollback' | 'stop' }): Promise<ReleaseView> {
    return this.request('POST', '/v1/releases', body);
  }
  getRelease(id: string): Promise<ReleaseView> {
    return this.request('GET', `/v1/releases/${encodeURIComponent(id)}`);
  }
  listReleases(q: { environment?: string; limit?: number }): Promise<ReleaseView[]> {
    return this.request('GET', '/v1/releases', undefined, q);
  }
  getDeployment(id: string): Promise<DeploymentView> {
    return this.request('GET', `/v1/deployments/${encodeURIComponent(id)}`);
  }
  history(q: { service?: string; environment?: string; limit?: number }): Promise<DeploymentView[]> {
    return this.request('GET', '/v1/deployments', undefined, q);
  }
  status(q: { service?: string; environment?: string }): Promise<StatusEntry[]> {
    return this.request('GET', '/v1/status', undefined, q);
  }
  plan(body: { service: string; environment: string; version?: string; image?: string; reason?: string; expedited?: boolean }): Promise<PlanView> {
    return this.request('POST', '/v1/plan', body);
  }
  logs(q: { service: string; environment: string; version?: string; lines?: number }): Promise<Array<{ instance: string; version: string; lines: string[] }>> {
    return this.request('GET', '/v1/logs', undefined, q);
  }
  promote(id: string): Promise<DeploymentView> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/promote`, {});
  }
  retry(id: string): Promise<DeploymentView> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/retry`, {});
  }
  verdicts(id: string, q: { after?: number; limit?: number } = {}): Promise<VerdictRecord[]> {
    return this.request('GET', `/v1/deployments/${encodeURIComponent(id)}/verdicts`, undefined, q);
  }
  events(q: { after?: number; deployment?: string; limit?: number }): Promise<EventRecord[]> {
    return this.request('GET', '/v1/events', undefined, q);
  }
  /** Approves a deployment as this client's actor; resolves with every decision recorded on it. */
  approve(id: string, comment?: string): Promise<ApprovalRecord[]> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/approve`, comment === undefined ? {} : { comment });
  }
  /** Rejects a deployment as this client's actor. */
  reject(id: string, comment?: string): Promise<ApprovalRecord[]> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/reject`, comment === undefined ? {} : { comment });
  }
  approvals(id: string): Promise<ApprovalRecord[]> {
    return this.request('GET', `/v1/deployments/${encodeURIComponent(id)}/approvals`);
  }
  /** Confirms a checklist item of a deployment as this client's actor; resolves with every confirmation of it. */
  confirmChecklist(id: string, item: string, note?: string): Promise<ChecklistConfirmation[]> {
    return this.request('POST', `/v1/deployments/${encodeURIComponent(id)}/checklist/${encodeURIComponent(item)}`, note === undefined ? {} : { note });
  }
  freezes(q: { all?: boolean } = {}): Promise<FreezeRecord[]> {
    return this.request('GET', '/v1/freezes', undefined, { all: q.all ? 'true' : undefined });
  }
  /** Raises a freeze owned by this client's actor. */
  freeze(body: { environment?: string; service?: string; reason: string }): Promise<FreezeRecord> {
    return this.request('POST', '/v1/freezes', body);
  }
  unfreeze(id: string): Promise<FreezeRecord> {
    return this.request('POST', `/v1/freezes/${encodeURIComponent(id)}/lift`, {});
  }
  /** Verifies the event log's hash chain on the orchestrator; `anchor` is a head (`ID:HASH`) recorded earlier. */
  auditVerify(q: { anchor?: string } = {}): Promise<ChainVerdict> {
    return this.request('GET', '/v1/audit/verify', undefined, q);
  }

  /**
   * Streams the event log as JSON lines (GET /v1/audit/export) into `write`, awaiting it
   * (backpressure). The per-request timeout covers the answer's headers only: a long export
   * may take longer. Throws when the stream breaks off, so a partial export is never
   * mistaken for a whole one.
   */
  async auditExport(write: (chunk: string) => unknown): Promise<void> {
    const headers: Record<string, string> = { accept: 'application/x-ndjson, application/json', 'x-gangway-actor': this.opts.actor };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), this.opts.timeoutMs ?? 30_000);
    let res: Response;
    try {
      res = await fetch(new URL(`${this.baseUrl}/v1/audit/export`), { headers, signal: controller.signal });
    } catch (err) {
      throw this.unreachable(controller.signal.aborted ? controller.signal.reason : err);
    } finally {
      clearTimeout(timer);
    }
    if (!res.ok || !res.body) {
      const error = (await res.json().catch(() => undefined) as Partial<ApiErrorBody> | undefined)?.error;
      if (!error || typeof error.code !== 'string') throw new GangwayError('internal', `unexpected answer from ${this.baseUrl} (HTTP ${res.status})`);
      const hint = error.code === 'unauthorized' && !this.opts.token
        ? `no token found${this.opts.tokenSource ? ` at ${this.opts.tokenSource}` : ''}; set GANGWAY_TOKEN or start the orchestrator with ${this.opts.startCommand ?? '`gangway up`'}, which writes it`
        : error.hint;
      throw apiError(error.code as ErrorCode, error.message, hint, error.details);
    }
    const decoder = new TextDecoder();
    try {
      for await (const bytes of res.body) {
        const text = decoder.decode(bytes as Uint8Array, { stream: true });
        if (text) await write(text);
      }
    } catch (err) {
      throw new GangwayError('internal', `the export from ${this.baseUrl} broke off: ${(err as Error).message}`,
        'run the export again; check the orchestrator log', undefined, { cause: err });
    }
    const rest = decoder.decode();
    if (rest) await write(rest);
  }

  /** Sends one request; resolves with the parsed JSON answer or throws the API's GangwayError. */
  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, query?: Query): Promise<T> {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const headers: Record<string, string> = { accept: 'application/json', 'x-gangway-actor': this.opts.actor };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: { status: number; ok: boolean; text: string };
    try {
      res = await send(url, method, headers, body === undefined ? undefined : JSON.stringify(body), this.opts.timeoutMs ?? 30_000);
    } catch (err) {
      throw this.unreachable(err);
    }
    const text = res.text;
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new GangwayError('internal', `unexpected answer from ${this.baseUrl} (HTTP ${res.status}, not JSON)`,
        'is --api (or GANGWAY_API) pointing at a Gangway orchestrator?');
    }
    if (res.ok) return parsed as T;
    const error = (parsed as Partial<ApiErrorBody> | undefined)?.error;
    if (!error || typeof error.code !== 'string') {
      throw new GangwayError('internal', `unexpected answer from ${this.baseUrl} (HTTP ${res.status})`);
    }
    let hint = error.hint;
    if (error.code === 'unauthorized' && !this.opts.token) {
      hint = `no token found${this.opts.tokenSource ? ` at ${this.opts.tokenSource}` : ''}; set GANGWAY_TOKEN or start the orchestrator with ${this.opts.startCommand ?? '`gangway up`'}, which writes it`;
    }
    throw apiError(error.code as ErrorCode, error.message, hint, error.details);
  }

  private unreachable(err: unknown): GangwayError {
    const cause = (err as { cause?: { code?: string } }).cause;
    const code = cause?.code ?? (err as { code?: string }).code ?? (err as { name?: string }).name;
    if (code === 'ECONNREFUSED') {
      return new UnreachableError(`the orchestrator is not running at ${this.baseUrl}`, `start it with ${this.opts.startCommand ?? '`gangway up`'}`, { cause: err });
    }
    if (code === 'TimeoutError') {
      return new UnreachableError(`the orchestrator at ${this.baseUrl} did not answer in time`, `check that ${this.opts.startCommand ?? '`gangway up`'} is running and not overloaded`, { cause: err });
    }
    return new UnreachableError(`cannot reach the orchestrator at ${this.baseUrl}${code ? ` (${code})` : ''}`,
      `check --api / GANGWAY_API, and that ${this.opts.startCommand ?? '`gangway up`'} is running`, { cause: err });
  }
}

/**
 * The error of an API answer. The orchestrator answered, so its `unreachable` is about a
 * platform behind it (a cluster, the agent): `upstream_unreachable`, exit 6, not the CLI's own
 * "orchestrator unreachable" (5).
 */
function apiError(code: ErrorCode, message: string, hint: string | undefined, details: Record<string, unknown> | undefined): GangwayError {
  return new GangwayError(code === 'unreachable' ? 'upstream_unreachable' : code, message, hint, details);
}

/**
 * One request over node:http(s) with its own connection, closed when the answer is read.
 * Not fetch: loading it costs a CLI call about 40 ms, and its kept-alive connection holds the
 * process for another 100 ms or more after the last answer.
 */
async function send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<{ status: number; ok: boolean; text: string }> {
  const { request } = url.protocol === 'https:' ? await import('node:https') : await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(body);
  });
}
