/**
 * A lean client of the Argo CD API server for the GitOps target: read an Application (asking
 * for a refresh, so Argo CD re-reads Git instead of waiting for its 3-minute poll) and ask it
 * to sync at a commit. Argo CD's REST API is grpc-gateway in front of its gRPC services
 * (server/application/application.proto): errors come as the HTTP status of the gRPC code with
 * `{"error", "code", "message"}`. The types here are the subset of
 * pkg/apis/application/v1alpha1/types.go that Gangway reads, with upstream's JSON names.
 *
 * Faults: no answer (refused, reset, timed out, a 502/503/504 of a proxy in front) is an
 * `UnreachableError` the runner retries; 401 and 403 are `ArgoCDError`s saying which
 * environment variable holds the token and what the account needs; every other refusal is an
 * `ArgoCDError` with Argo CD's own words. The token is read from the environment on each
 * request, sent only in the Authorization header, and scrubbed from every message.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { ArgoCDConfig } from '../../config/helm.js';
import { GangwayError, UnreachableError, type ErrorCode } from '../../errors.js';

/** `status.operationState` and `operation`: what a sync was asked to do and how it went. */
export interface ArgoOperation {
  sync?: { revision?: string; prune?: boolean; dryRun?: boolean };
  initiatedBy?: { username?: string; automated?: boolean };
  /** Free-form name/value pairs the caller attached (`infos` of the sync request); Gangway marks its syncs here. */
  info?: Array<{ name: string; value: string }>;
}

/** One resource's result in `syncResult.resources`. */
export interface ArgoResourceResult {
  group?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: string;
  message?: string;
}

export interface ArgoOperationState {
  operation: ArgoOperation;
  /** Running, Terminating, Failed, Error, Succeeded. */
  phase: string;
  message?: string;
  syncResult?: { revision: string; resources?: ArgoResourceResult[] };
  startedAt?: string;
  finishedAt?: string;
}

export interface ArgoResourceStatus {
  group?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: string;
  health?: { status: string; message?: string };
}

export interface ArgoHistoryEntry {
  id: number;
  revision: string;
  deployedAt: string;
  deployStartedAt?: string;
  initiatedBy?: { username?: string; automated?: boolean };
}

/** The Application as the GitOps target reads it. */
export interface ArgoApplication {
  metadata: { name: string; namespace?: string };
  spec: {
    source?: { repoURL: string; path?: string; targetRevision?: string };
    syncPolicy?: { automated?: { prune?: boolean; selfHeal?: boolean } | null };
    project?: string;
  };
  status: {
    sync: { status: string; revision?: string };
    health: { status: string; message?: string };
    operationState?: ArgoOperationState;
    history?: ArgoHistoryEntry[];
    resources?: ArgoResourceStatus[];
    conditions?: Array<{ type: string; message: string }>;
    reconciledAt?: string;
  };
  /** Set while an operation is requested or running; cleared when it ends. */
  operation?: ArgoOperation;
}

/** What Argo CD refused, with the HTTP status and the gRPC code of its answer (0 when it had none). */
export class ArgoCDError extends GangwayError {
  override name = 'ArgoCDError';
  constructor(code: ErrorCode, message: string, readonly status: number, readonly grpcCode: number, hint?: string) {
    super(code, message, hint, { status, grpcCode });
  }
}

/** Options of the client beyond the config (tests shorten the timeout or trust a CA). */
export interface ArgoCDClientOptions {
  /** Where the token is read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Limit of one request (connect to end of body); default 60 s (a refresh waits for the controller). */
  timeoutMs?: number;
  /** A dispatcher to use instead of the client's own (a test's CA). */
  dispatcher?: Dispatcher;
}

/** The sync request Gangway sends (ApplicationSyncRequest's fields it uses). */
export interface ArgoSyncRequest {
  /** A commit sha; absent: the source's targetRevision. */
  revision?: string;
  prune?: boolean;
  /** Attached to the operation as `operation.info`. */
  infos?: Array<{ name: string; value: string }>;
}

/**
 * Argo CD's API for one server and token.
 *
 * @example
 * ```ts
 * const argo = new ArgoCDClient({ server: 'https://argocd.example.com', tokenFromEnv: 'ARGOCD_TOKEN', insecure: false });
 * const app = await argo.getApplication('web-prod', { refresh: 'normal' });
 * await argo.sync('web-prod', { revision: '3f2a9c1…', prune: false });
 * ```
 */
export class ArgoCDClient {
  private readonly base: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly timeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly owned: Agent | null;

  constructor(private readonly cfg: ArgoCDConfig, opts: ArgoCDClientOptions = {}) {
    this.base = cfg.server.replace(/\/+$/, '');
    this.env = opts.env ?? process.env;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.owned = opts.dispatcher ? null : new Agent({ connect: cfg.insecure ? { rejectUnauthorized: false } : {}, keepAliveTimeout: 4_000 });
    this.dispatcher = opts.dispatcher ?? (this.owned as Agent);
  }

  /** The server as messages name it. */
  get server(): string {
    return this.base;
  }

  /**
   * The Application; with `refresh`, Argo CD re-reads Git and compares before answering.
   * Read-only (a refresh changes no desired state).
   */
  getApplication(name: string, opts: { refresh?: 'normal' | 'hard' } = {}): Promise<ArgoApplication> {
    const q = opts.refresh ? `?refresh=${opts.refresh}` : '';
    return this.call<ArgoApplication>('GET', `/api/v1/applications/${encodeURIComponent(name)}${q}`, undefined, { app: name, action: 'get' });
  }

  /** Asks for a sync; answers the Application with `operation` set. Not idempotent by itself: callers check the operation first. */
  sync(name: string, req: ArgoSyncRequest): Promise<ArgoApplication> {
    const body = { ...(req.revision ? { revision: req.revision } : {}), prune: req.prune ?? false, ...(req.infos && req.infos.length > 0 ? { infos: req.infos } : {}) };
    return this.call<ArgoApplication>('POST', `/api/v1/applications/${encodeURIComponent(name)}/sync`, body, { app: name, action: 'sync' });
  }

  /** Asks Argo CD to terminate the running operation (`argocd app terminate-op`). */
  async terminateOperation(name: string): Promise<void> {
    await this.call<unknown>('DELETE', `/api/v1/applications/${encodeURIComponent(name)}/operation`, undefined, { app: name, action: 'sync' });
  }

  /** The server's version (`/api/version`, no token needed). */
  async version(): Promise<string> {
    const v = await this.call<{ Version?: string }>('GET', '/api/version', undefined, { app: null, action: 'get' }, false);
    return v.Version ?? 'unknown';
  }

  /** Closes the client's connections. */
  async close(): Promise<void> {
    await this.owned?.close();
  }

  private token(): string {
    const t = this.env[this.cfg.tokenFromEnv];
    if (t === undefined || t.trim() === '') {
      throw new GangwayError('invalid_config', `the Argo CD token variable ${this.cfg.tokenFromEnv} is not set (target.gitops.argocd.tokenFromEnv)`,
        `export ${this.cfg.tokenFromEnv} with an API token of an Argo CD account (argocd account generate-token --account <account>)`);
    }
    return t.trim();
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, what: { app: string | null; action: 'get' | 'sync' }, auth = true): Promise<T> {
    const token = auth ? this.token() : '';
    const scrub = (s: string): string => (token === '' ? s : s.split(token).join('***'));
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'gangway' };
    if (auth) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const where = `Argo CD at ${this.base}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.base}${path}`, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (/CERT|SELF_SIGNED|ERR_TLS/.test(e.code ?? '')) {
        throw new GangwayError('invalid_config', scrub(`${where} presented a certificate this machine does not trust: ${e.code}`),
          'make the system trust the CA of the Argo CD server (NODE_EXTRA_CA_CERTS), or set target.gitops.argocd.insecure for a test setup only', undefined, { cause: err });
      }
      const why = e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${this.timeoutMs / 1000}s` : (e.code ?? e.message);
      throw new UnreachableError(scrub(`${where} is unreachable: ${why}`), `check that ${this.base} is up and reachable from this machine (target.gitops.argocd.server)`, { cause: err });
    }
    const text = await res.body.text().catch(() => '');
    if (res.statusCode >= 200 && res.statusCode < 300) {
      try {
        return JSON.parse(text) as T;
      } catch {
        throw new ArgoCDError('internal', `${where} answered ${method} ${path} with a body that is not JSON`, res.statusCode, 0);
      }
    }
    let grpcCode = 0;
    let message = text.trim().slice(0, 500) || `HTTP ${res.statusCode}`;
    try {
      const doc = JSON.parse(text) as { message?: unknown; error?: unknown; code?: unknown };
      if (typeof doc.code === 'number') grpcCode = doc.code;
      const m = typeof doc.message === 'string' ? doc.message : typeof doc.error === 'string' ? doc.error : null;
      if (m) message = m;
    } catch { /* not JSON: a proxy's page; its first words are the message */ }
    message = scrub(message);
    const app = what.app === null ? '' : ` application ${what.app}`;
    const env = this.cfg.tokenFromEnv;
    if (res.statusCode === 401) {
      throw new ArgoCDError('unauthorized', `${where} refused the token in ${env}: ${message}`, 401, grpcCode,
        `set ${env} to a valid, unexpired Argo CD API token (argocd account generate-token --account <account>)`);
    }
    if (res.statusCode === 403) {
      throw new ArgoCDError('forbidden', `${where} denied ${what.action} on${app}: ${message}`, 403, grpcCode,
        `the account of the token in ${env} needs "applications, get" and "applications, sync" on <project>/${what.app ?? '*'} in argocd-rbac-cm; Argo CD also answers "permission denied" for an application that does not exist, so check the name (target.gitops.application)`);
    }
    if (res.statusCode === 404) {
      throw new ArgoCDError('not_found', `${where}:${app} not found: ${message}`, 404, grpcCode, 'check target.gitops.application and argocd.server');
    }
    if (res.statusCode === 502 || res.statusCode === 503 || res.statusCode === 504) {
      throw new UnreachableError(`${where} is unreachable: HTTP ${res.statusCode}: ${message}`, `check that ${this.base} and what stands in front of it are up`);
    }
    const code: ErrorCode = res.statusCode === 409 || grpcCode === 9 || grpcCode === 10 ? 'conflict' : res.statusCode < 500 ? 'invalid_argument' : 'internal';
    throw new ArgoCDError(code, `${where} refused ${what.action} of${app}: ${message}`, res.statusCode, grpcCode);
  }
}

/** Whether an ArgoCDError is Argo CD's "another operation is already in progress". */
export function isOperationInProgress(err: unknown): boolean {
  return err instanceof ArgoCDError && /another operation is already in progress/.test(err.message);
}
