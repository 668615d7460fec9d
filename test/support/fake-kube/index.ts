/**
 * A FAKE Kubernetes API server for Gangway's tests — no kube-apiserver can run on the test
 * machines, so this stands in for one. It is test support only (never shipped in src/) and is
 * named a fake everywhere. It serves the documented REST API on 127.0.0.1 over plain HTTP
 * with bearer tokens, and runs controllers (Deployment, ReplicaSet, Job, garbage collector,
 * namespace) and a fake kubelet on a short tick, so the real `kubectl` and Gangway's own
 * client see a cluster that behaves like one. Where it simplifies, the file doing it says so
 * at its top (fields.ts, api.ts, kubelet.ts, controllers/*.ts, validation.ts).
 *
 * @example
 * ```ts
 * const kube = await startFakeKube({ images: { 'fake.local/app': { command: ['node', 'test/fixtures/app.mjs'] } } });
 * try {
 *   await kube.namespace('shop');
 *   const kubeconfig = await kube.writeKubeconfig(dir, { namespace: 'shop' });
 *   // run kubectl --kubeconfig kubeconfig …, or Gangway's target against kube.url
 *   await kube.waitFor(() => kube.get('deployment', 'shop', 'web')?.status, { what: 'web status' });
 * } finally {
 *   await kube.close();
 * }
 * ```
 */
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request as undiciRequest } from 'undici';
import { stringify as toYaml } from 'yaml';
import { FakeApi } from './api.js';
import type { DenyRule } from './auth.js';
import { Gatekeeper } from './auth.js';
import type { ControllerContext } from './controllers/context.js';
import { syncDeployments } from './controllers/deployment.js';
import { collectGarbage, syncNamespaces } from './controllers/gc.js';
import { syncJobs } from './controllers/job.js';
import { syncReplicaSets } from './controllers/replicaset.js';
import type { ImageBehaviour, KubeletTimings } from './kubelet.js';
import { Kubelet } from './kubelet.js';
import { selfSignedCert } from './certs.js';
import { Reaper } from './reaper.js';
import type { CustomResourceSpec, ResourceType } from './resources.js';
import { ResourceRegistry, apiVersionOf, resolveKind } from './resources.js';
import type { InjectedFailure, RequestLogEntry } from './server.js';
import { FakeKubeHttp } from './server.js';
import { ApiError } from './status.js';
import { Store } from './store.js';
import type { Obj } from './util.js';
import { clone } from './util.js';

export type { ImageBehaviour, KubeletTimings } from './kubelet.js';
export type { DenyRule } from './auth.js';
export type { RequestLogEntry } from './server.js';
export type { CustomResourceSpec, ResourceType } from './resources.js';
export type { Obj } from './util.js';
export { ApiError } from './status.js';

/** An app image: the pod runs `command` (plus the container's args) as a real process. */
export interface AppImage { command: string[]; env?: Record<string, string>; cwd?: string }

/** Options of `startFakeKube`. */
export interface FakeKubeOptions {
  /** Accepted bearer tokens → user names. Default: one random token for user `fake-admin`. */
  tokens?: Record<string, string>;
  /** Image repositories (no tag) → behaviour; an `AppImage` runs a real process. */
  images?: Record<string, ImageBehaviour | AppImage>;
  /** Controller and kubelet tick (ms). Default 50. */
  tickMs?: number;
  /** Changes kept for watches to resume from; older resourceVersions get 410. Default 1000. */
  watchHistory?: number;
  /** BOOKMARK period of watches that allow them (ms). Default 1000. */
  bookmarkIntervalMs?: number;
  /** Fake kubelet timings (ms). */
  timings?: Partial<KubeletTimings>;
  /** Base delay before a Job recreates a failed pod (ms, doubles per failure). Default 200. */
  jobBackoffMs?: number;
  /** Record Event objects. Default true. */
  events?: boolean;
  /** Namespaces that exist from the start. Default `default`, `kube-system`, `kube-public`. */
  namespaces?: string[];
  /** Working directory of app processes. Default process.cwd(). */
  cwd?: string;
  /** Port to listen on (0 = a free one). */
  port?: number;
  /**
   * Serve HTTPS with a self-signed certificate (default true). kubectl sends no bearer token
   * to an http:// server, so plain HTTP only suits anonymous or non-kubectl clients.
   */
  tls?: boolean;
}

/** The answer of `FakeKube.request`. */
export interface FakeResponse { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: unknown }

/** What `waitFor` accepts. */
export interface WaitOptions { timeoutMs?: number; intervalMs?: number; what?: string }

/** A running fake API server. */
export interface FakeKube {
  /** `https://127.0.0.1:<port>` (or http:// with `tls: false`). */
  readonly url: string;
  /** The PEM certificate clients must trust (undefined with `tls: false`). */
  readonly caCert: string | undefined;
  readonly port: number;
  /** The default bearer token (user `fake-admin` unless `tokens` said otherwise). */
  readonly token: string;
  /** The verbs, for direct use in tests (no HTTP, no auth). */
  readonly api: FakeApi;
  /** Every request received, in order. */
  readonly requestLog: RequestLogEntry[];
  /** Errors the controllers hit (should stay empty). */
  readonly errors: string[];
  /** An undici dispatcher that trusts the fake's certificate (for clients under test). */
  readonly dispatcher: Agent;
  /**
   * One HTTP request to the fake with the default token (or `token`; `null` sends none).
   * `body` objects are sent as JSON.
   */
  request(path: string, init?: { method?: string; body?: unknown; contentType?: string; token?: string | null; headers?: Record<string, string> }): Promise<FakeResponse>;
  /** Writes a kubeconfig into `dir` (mode 0600) and returns its path. */
  writeKubeconfig(dir: string, opts?: {
    context?: string;
    namespace?: string;
    /** Token of the user entry (default: the fake's token). */
    token?: string;
    /** The whole `user` entry instead, e.g. `{ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: '…' } }`. */
    user?: Record<string, unknown>;
    file?: string;
  }): Promise<string>;
  /** Creates a namespace (no-op when it exists); returns it. */
  namespace(name: string): Promise<Obj>;
  /**
   * Serves a custom resource from now on, as installing its CustomResourceDefinition would:
   * discovery (`/apis`, `/apis/<group>`, `/apis/<group>/<version>`), OpenAPI, and every verb
   * (server-side apply, merge and JSON patch; no strategic merge), stored generically with
   * `metadata.generation`. Throws when the group/version already serves the kind or plural.
   *
   * @example
   * ```ts
   * kube.defineResource({ group: 'example.com', version: 'v1', kind: 'Widget', plural: 'widgets' });
   * kube.get('widgets.example.com', 'shop', 'w1');
   * ```
   */
  defineResource(spec: CustomResourceSpec): ResourceType;
  /** A copy of an object (`kind` as `deployment`, `deploy`, `Deployment`, `widgets.example.com`…), or undefined. */
  get(kind: string, ns: string, name: string): Obj | undefined;
  /** Copies of objects of a kind, in a namespace or all (undefined). */
  list(kind: string, ns?: string, opts?: { labelSelector?: string; fieldSelector?: string }): Obj[];
  /** Creates an object directly (test setup), as user `fake-admin` with manager `fake-kube-test`. */
  create(obj: Obj): Obj;
  /** Sets how containers of an image repository behave. */
  setImageBehaviour(repository: string, behaviour: ImageBehaviour | AppImage): void;
  /** Denies requests matching `rule` with 403; returns a function that lifts it. */
  deny(rule: DenyRule): () => void;
  /** Accepts another token. */
  addToken(token: string, user: string): void;
  /** Rejects a token from now on (401, like an expired credential). */
  revokeToken(token: string): void;
  /** Makes the next `n` matching resource requests answer `code` (500, 503, 409, 429, 504…). */
  failNext(n: number, code: number, match?: { verb?: string; resource?: string }): void;
  /** Ends every open watch and followed log; returns how many. */
  cutWatches(): number;
  /** How many watches are open now (to wait for a client's watch before cutting it). */
  openWatches(): number;
  /** Forgets the change history so that only the newest `keep` changes remain (watches from before get 410). */
  compactHistory(keep?: number): void;
  /**
   * An "API server restart": stops serving (every connection and watch is dropped, the
   * controllers pause, pod processes keep running), waits `downMs` and runs `whileDown`, then
   * serves the same state again on the same port.
   */
  restart(opts?: { downMs?: number; whileDown?: () => Promise<void> | void }): Promise<void>;
  /** Runs one controller and kubelet pass now. */
  tick(): Promise<void>;
  /** Polls `predicate` (each controller tick) until it returns a truthy value; rejects after timeoutMs. */
  waitFor<T>(predicate: () => T | undefined | null | false, opts?: WaitOptions): Promise<T>;
  /** Pids of pod processes running now. */
  readonly pids: number[];
  /** Log lines of a container of a pod. */
  logs(ns: string, pod: string, container?: string): string[];
  /** Stops the controllers, every pod process and the server. */
  close(): Promise<void>;
}

function toBehaviour(b: ImageBehaviour | AppImage): ImageBehaviour {
  return 'kind' in b ? b : { kind: 'process', command: b.command, ...(b.env ? { env: b.env } : {}), ...(b.cwd ? { cwd: b.cwd } : {}) };
}

const DEFAULT_TIMINGS: KubeletTimings = { startMs: 100, readyMs: 150, runMs: 300, backoffBaseMs: 200, backoffMaxMs: 2000, pullRetryMs: 300, probeIntervalMs: 100 };

/** Starts a fake API server with its controllers; resolves once it listens. */
export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const store = new Store(opts.watchHistory ?? 1000);
  const types = new ResourceRegistry();
  const api = new FakeApi(store, types);
  const gate = new Gatekeeper();
  const defaultToken = `fake-${randomBytes(16).toString('hex')}`;
  const tokens = opts.tokens ?? { [defaultToken]: 'fake-admin' };
  for (const [t, u] of Object.entries(tokens)) gate.addToken(t, u);
  const token = Object.keys(tokens)[0];
  const images = new Map<string, ImageBehaviour>();
  for (const [repo, b] of Object.entries(opts.images ?? {})) images.set(repo, toBehaviour(b));
  const reaper = new Reaper();
  const events = opts.events ?? true;
  const kubelet = new Kubelet({ api, images, timings: { ...DEFAULT_TIMINGS, ...opts.timings }, reaper, events, cwd: opts.cwd ?? process.cwd() });
  const ctx: ControllerContext = { api, events, jobBackoffMs: opts.jobBackoffMs ?? 200 };
  const requestLog: RequestLogEntry[] = [];
  const failures: InjectedFailure[] = [];
  const errors: string[] = [];
  const tls = opts.tls === false ? undefined : await selfSignedCert();
  const scheme = tls ? 'https' : 'http';
  const http = new FakeKubeHttp({ api, store, gate, runtime: kubelet, tls, bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000, defaultWatchTimeoutSeconds: 1800, log: requestLog, failures });

  const nsRt = resolveKind('Namespace');
  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public']) api.create(nsRt, '', { metadata: { name: ns } }, { fieldManager: 'fake-kube', internal: true });

  let down = false;
  let closed = false;
  const pass = (): void => {
    if (down || closed) return;
    for (const [name, step] of [['deployment', syncDeployments], ['replicaset', syncReplicaSets], ['kubelet', () => kubelet.sync()], ['job', syncJobs], ['gc', collectGarbage], ['namespace', syncNamespaces]] as const) {
      try { step(ctx); } catch (err) {
        const msg = `${name}: ${err instanceof ApiError ? `${err.code} ${err.message}` : (err as Error).stack ?? String(err)}`;
        if (errors.length < 100 && !errors.includes(msg)) { errors.push(msg); process.stderr.write(`fake-kube controller error: ${msg}\n`); }
      }
    }
  };
  const tickMs = opts.tickMs ?? 50;
  const loop = setInterval(pass, tickMs);
  loop.unref();
  let port = await http.listen(opts.port ?? 0);
  const dispatcher = new Agent({ connect: tls ? { ca: tls.cert } : {}, keepAliveTimeout: 1000 });
  const waiters = new Set<() => void>();

  const fake: FakeKube = {
    get url() { return `${scheme}://127.0.0.1:${port}`; },
    caCert: tls?.cert,
    get port() { return port; },
    token,
    api,
    requestLog,
    errors,
    dispatcher,
    async request(path, init = {}) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const tok = init.token === undefined ? token : init.token;
      if (tok !== null) headers.authorization = `Bearer ${tok}`;
      let body: string | undefined;
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
        headers['content-type'] = init.contentType ?? 'application/json';
      }
      const res = await undiciRequest(`${scheme}://127.0.0.1:${port}${path}`, { method: (init.method ?? 'GET') as 'GET', headers, body, dispatcher });
      const text = await res.body.text();
      let json: unknown;
      try { json = JSON.parse(text); } catch { json = undefined; }
      return { status: res.statusCode, headers: res.headers as Record<string, string | string[] | undefined>, text, json };
    },
    async writeKubeconfig(dir, o = {}) {
      const context = o.context ?? 'fake-kube';
      const file = join(dir, o.file ?? 'kubeconfig');
      const doc = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'fake-kube', cluster: { server: `${scheme}://127.0.0.1:${port}`, ...(tls ? { 'certificate-authority-data': Buffer.from(tls.cert).toString('base64') } : {}) } }],
        users: [{ name: 'fake-admin', user: o.user ?? { token: o.token ?? token } }],
        contexts: [{ name: context, context: { cluster: 'fake-kube', user: 'fake-admin', ...(o.namespace ? { namespace: o.namespace } : {}) } }],
        'current-context': context,
        preferences: {},
      };
      await writeFile(file, toYaml(doc), { mode: 0o600 });
      await chmod(file, 0o600);
      return file;
    },
    async namespace(name) {
      return api.find(nsRt, '', name) ?? api.create(nsRt, '', { metadata: { name } }, { fieldManager: 'fake-kube-test' });
    },
    defineResource(spec) {
      return types.define(spec);
    },
    get(kind, ns, name) {
      const rt = types.resolveKind(kind);
      return api.find(rt, rt.namespaced ? ns : '', name);
    },
    list(kind, ns, o = {}) {
      return api.select(types.resolveKind(kind), ns, o);
    },
    create(obj) {
      const rt = types.all.find((t) => t.kind === obj.kind && apiVersionOf(t) === obj.apiVersion) ?? types.resolveKind(String(obj.kind));
      const ns = String(((obj.metadata ?? {}) as Obj).namespace ?? 'default');
      return api.create(rt, rt.namespaced ? ns : '', clone(obj), { fieldManager: 'fake-kube-test' });
    },
    setImageBehaviour(repository, behaviour) { images.set(repository, toBehaviour(behaviour)); },
    deny(rule) { return gate.deny(rule); },
    addToken(t, user) { gate.addToken(t, user); },
    revokeToken(t) { gate.revokeToken(t); },
    failNext(n, code, match = {}) { failures.push({ remaining: n, code, ...match }); },
    cutWatches() { return http.cutWatches(); },
    openWatches() { return http.openWatches(); },
    compactHistory(keep = 0) { store.compact(keep); },
    async restart(o = {}) {
      down = true;
      await http.close();
      await new Promise((r) => setTimeout(r, o.downMs ?? 200));
      try {
        await o.whileDown?.();
      } finally {
        port = await http.listen(port);
        down = false;
      }
    },
    async tick() { pass(); await kubelet.settle(); },
    waitFor(predicate, o = {}) {
      const timeoutMs = o.timeoutMs ?? 30_000;
      const deadline = Date.now() + timeoutMs;
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          let v: unknown;
          try { v = predicate(); } catch (err) { cleanup(); reject(err as Error); return true; }
          if (v) { cleanup(); resolve(v as never); return true; }
          if (Date.now() > deadline || closed) { cleanup(); reject(new Error(`fake-kube waitFor: ${o.what ?? 'condition'} not reached within ${timeoutMs} ms`)); return true; }
          return false;
        };
        const timer = setInterval(() => { check(); }, o.intervalMs ?? tickMs);
        const stop = (): void => { clearInterval(timer); };
        const cleanup = (): void => { stop(); waiters.delete(stop); };
        waiters.add(stop);
        check();
      });
    },
    get pids() { return kubelet.pids; },
    logs(ns, pod, container) {
      const p = api.find(resolveKind('Pod'), ns, pod);
      if (!p) return [];
      const c = container ?? String((((p.spec as Obj).containers as Obj[])[0]).name);
      const src = kubelet.logs(ns, p, c, false);
      return src instanceof ApiError ? [] : src.lines().map((l) => l.text);
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(loop);
      for (const w of waiters) w();
      await http.close();
      await kubelet.stopAll(2000);
      reaper.dispose();
      await dispatcher.close();
    },
  };
  return fake;
}
