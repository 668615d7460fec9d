/**
 * A FAKE Argo CD for Gangway's tests — Argo CD cannot run on the test machines, so this
 * stands in for its API server, repo server and application controller. Test support only,
 * never shipped, named a fake everywhere. It serves Argo CD's REST API (server.ts,
 * service.ts) with bearer tokens (auth.ts), renders Applications from bare Git repositories
 * on disk with the real `git` CLI and the shared fake chart renderer (git.ts, render.ts), and
 * deploys them into a Kubernetes API server — in tests the fake one — over its HTTP API with
 * server-side apply (kube-client.ts), keeping each Application's sync, health, operation and
 * history the way upstream's controller does (controller.ts, health.ts, diff.ts). Where it
 * simplifies, the file doing it says so; README.md sums it up.
 *
 * @example
 * ```ts
 * const kube = await startFakeKube();
 * await kube.namespace('dev');
 * const argo = await startFakeArgoCD({ kube, apps: [{ name: 'accounts', source: { repoURL: bare, path: 'helm/accounts',
 *   targetRevision: 'main', helm: { valueFiles: ['../environments/dev-env/image-tags.yaml'] } }, destination: { namespace: 'dev' } }] });
 * try {
 *   // GET `${argo.url}/api/v1/applications/accounts?refresh=normal` with `Authorization: Bearer ${argo.token}` …
 *   await argo.waitFor(() => argo.app('accounts').status.health.status === 'Healthy', { what: 'accounts healthy' });
 * } finally {
 *   await argo.close();
 *   await kube.close();
 * }
 * ```
 */
import { selfSignedCert } from '../fake-kube/certs.js';
import type { DenyRule } from './auth.js';
import { Authority } from './auth.js';
import type { SyncRequest } from './controller.js';
import { AppController } from './controller.js';
import type { KubeAccess } from './kube-client.js';
import { KubeClient } from './kube-client.js';
import type { RequestLogEntry } from './server.js';
import { ArgoHttp } from './server.js';
import { ApplicationService } from './service.js';
import type { AppDefinition, Application, HealthStatus, SyncPolicy } from './types.js';
import { clone } from './types.js';

export type { DenyRule, RbacAction } from './auth.js';
export type { KubeAccess } from './kube-client.js';
export type { RequestLogEntry } from './server.js';
export type * from './types.js';
export { FIELD_MANAGER } from './kube-client.js';
export { INSTANCE_LABEL } from './controller.js';

/** Options of `startFakeArgoCD`. */
export interface FakeArgoCDOptions {
  /** The destination cluster (a FakeKube fits): URL, bearer token, CA for HTTPS. */
  kube: KubeAccess;
  /** repoURL → path of a bare repository; an Application's repoURL not listed here is taken as a path. */
  repos?: Record<string, string>;
  /** Accepted bearer tokens → user (the JWT `sub`). Default: one minted JWT for `admin`. */
  tokens?: Record<string, string>;
  /** Applications to define (each compared once before the fake is returned). */
  apps?: AppDefinition[];
  /** Controller pass period (ms). Default 100. */
  tickMs?: number;
  /** Re-read Git every n ms, as Argo CD's 3-minute reconciliation does (0, the default: only on refresh). */
  gitPollMs?: number;
  /** Serve HTTPS with a self-signed certificate (default false: plain HTTP). */
  tls?: boolean;
  /** Port (0: a free one). */
  port?: number;
}

/** What `waitFor` accepts. */
export interface WaitOptions { timeoutMs?: number; what?: string }

/** A running fake Argo CD. */
export interface FakeArgoCD {
  /** `http://127.0.0.1:<port>` (https:// with `tls`). */
  readonly url: string;
  readonly port: number;
  /** The default bearer token. */
  readonly token: string;
  /** The PEM certificate to trust with `tls` (undefined otherwise). */
  readonly caCert: string | undefined;
  /** Every request received, in order. */
  readonly requests: RequestLogEntry[];
  /** Unexpected failures of controller passes (should stay empty). */
  readonly errors: string[];
  /** Defines an Application and compares it once. */
  addApp(def: AppDefinition): Promise<Application>;
  /** A copy of an Application as the API would answer it (no refresh). */
  app(name: string): Application;
  /** Mints a JWT for `username` (its `sub`) and accepts it. */
  mintToken(username: string): string;
  /** Accepts a token chosen by the test for `username`. */
  addToken(token: string, username: string): void;
  /** Refuses a token from now on (401). */
  revokeToken(token: string): void;
  /** Refuses matching requests with 403 `permission denied`; returns a function that lifts it. */
  deny(rule: DenyRule): () => void;
  /** Operations of the app stay Running once started until the returned function is called. */
  hold(name: string): () => void;
  /** The app's next operation ends Failed with `message`, applying nothing. */
  failNextSync(name: string, message: string): void;
  /** The app's resources with a health check report Degraded (as a custom health check would) until undone. */
  stayDegraded(name: string, message?: string): () => void;
  /** Sets (`{ prune?, selfHeal? }`) or clears (`false`) `spec.syncPolicy.automated`. */
  setAutoSync(name: string, automated: SyncPolicy['automated'] | false): void;
  /**
   * Starts a sync "by someone else" (no RBAC): `operation.initiatedBy.username` is `username`.
   * Rejects with the API's error when another operation runs or the revision does not resolve.
   */
  startOperation(name: string, opts: { username: string } & Pick<SyncRequest, 'revision' | 'prune' | 'dryRun'>): Promise<Application>;
  /** A refresh, as `GET …?refresh=normal` (`hard`: `refresh=hard`) does; resolves with a copy of the app. */
  refresh(name: string, hard?: boolean): Promise<Application>;
  /** Runs one controller pass now and waits for it. */
  reconcile(): Promise<void>;
  /** Stops listening and drops every connection (the controller keeps running). */
  unreachable(): Promise<void>;
  /** Listens again on the same port. */
  reachable(): Promise<void>;
  /** Polls `predicate` every tick until it returns a truthy value; rejects after timeoutMs (default 30 s). */
  waitFor<T>(predicate: () => T | undefined | null | false, opts?: WaitOptions): Promise<T>;
  /** Stops the controller and the server. */
  close(): Promise<void>;
}

/** Starts a fake Argo CD; resolves once it listens and its initial apps are compared. */
export async function startFakeArgoCD(opts: FakeArgoCDOptions): Promise<FakeArgoCD> {
  const errors: string[] = [];
  const requests: RequestLogEntry[] = [];
  const auth = new Authority();
  let token: string;
  if (opts.tokens && Object.keys(opts.tokens).length > 0) {
    for (const [t, user] of Object.entries(opts.tokens)) auth.accept(t, user);
    token = Object.keys(opts.tokens)[0];
  } else {
    token = auth.mint('admin');
  }
  const kube = new KubeClient(opts.kube);
  const ctl = new AppController({
    kube,
    repos: opts.repos ?? {},
    gitPollMs: opts.gitPollMs ?? 0,
    onError: (msg) => { if (errors.length < 100) { errors.push(msg); process.stderr.write(`fake-argocd controller error: ${msg}\n`); } },
  });
  const service = new ApplicationService(ctl, auth);
  const tls = opts.tls ? await selfSignedCert() : undefined;
  const http = new ArgoHttp({ service, auth, log: requests, tls });
  const scheme = tls ? 'https' : 'http';
  const tickMs = opts.tickMs ?? 100;
  let closed = false;
  let current: Promise<void> | undefined;
  const pass = (): Promise<void> => {
    current ??= ctl.tick().finally(() => { current = undefined; });
    return current;
  };
  const loop = setInterval(() => { if (!closed) void pass(); }, tickMs);
  loop.unref();
  const stopWaiters = new Set<() => void>();
  try {
    for (const def of opts.apps ?? []) await ctl.add(def);
    await http.listen(opts.port ?? 0);
  } catch (e) {
    clearInterval(loop);
    await kube.close();
    throw e;
  }
  const port = http.port;

  const fake: FakeArgoCD = {
    get url() { return `${scheme}://127.0.0.1:${port}`; },
    port,
    token,
    caCert: tls?.cert,
    requests,
    errors,
    addApp: (def) => ctl.add(def),
    app(name) {
      const app = ctl.peek(name);
      if (!app) throw new Error(`fake Argo CD: no application "${name}"`);
      return clone(app);
    },
    mintToken: (username) => auth.mint(username),
    addToken: (t, username) => auth.accept(t, username),
    revokeToken: (t) => auth.revoke(t),
    deny: (rule) => auth.deny(rule),
    hold: (name) => ctl.hold(name),
    failNextSync: (name, message) => ctl.failNextSync(name, message),
    stayDegraded: (name, message = 'custom health check reports Degraded') => ctl.overrideHealth(name, { status: 'Degraded', message } satisfies HealthStatus),
    setAutoSync: (name, automated) => ctl.setAutoSync(name, automated),
    async startOperation(name, o) {
      const revision = await ctl.resolveSyncRevision(name, o.revision);
      return clone(ctl.setOperation(name, { revision, ...(o.prune ? { prune: true } : {}), ...(o.dryRun ? { dryRun: true } : {}) }, { username: o.username }));
    },
    async refresh(name, hard) { return clone(await ctl.refresh(name, hard)); },
    async reconcile() {
      // A pass already running may have started before the caller's change: run a fresh one after it.
      await current?.catch(() => undefined);
      await pass();
    },
    unreachable: () => http.close(),
    async reachable() { await http.listen(port); },
    waitFor(predicate, o = {}) {
      const timeoutMs = o.timeoutMs ?? 30_000;
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const check = (): void => {
          let v: unknown;
          try { v = predicate(); } catch (err) { stop(); reject(err as Error); return; }
          if (v) { stop(); resolve(v as never); return; }
          if (Date.now() > deadline || closed) { stop(); reject(new Error(`fake Argo CD waitFor: ${o.what ?? 'condition'} not reached within ${timeoutMs} ms`)); }
        };
        const timer = setInterval(check, Math.min(tickMs, 50));
        const stop = (): void => { clearInterval(timer); stopWaiters.delete(abort); };
        const abort = (): void => { stop(); reject(new Error(`fake Argo CD waitFor: ${o.what ?? 'condition'}: the fake was closed`)); };
        stopWaiters.add(abort);
        check();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(loop);
      for (const abort of [...stopWaiters]) abort();
      await current?.catch(() => undefined);
      await http.close();
      await kube.close();
    },
  };
  return fake;
}
