/**
 * The Kubernetes side of the FAKE `helm`: the kubeconfig as client-go reads it (`--kubeconfig`,
 * else `KUBECONFIG` — a `:`-separated list, first file wins per entry — else `~/.kube/config`;
 * `--kube-context` or `HELM_KUBECONTEXT`, else `current-context`; the namespace from
 * `--namespace`, `HELM_NAMESPACE`, the context, else `default`), and a small REST client over
 * HTTPS with the cluster's CA and the user's bearer token (or client certificate). Kinds map to
 * resources through the server's discovery documents, as Helm's REST mapper does. Errors carry
 * the API server's Status message, which is what Helm prints; transport errors are worded as
 * Go's HTTP client words them (`Get "https://…/version": dial tcp …: connect: connection refused`).
 *
 * Simplified: exec credential plugins, auth providers and basic auth are not supported (an
 * error says so); no proxy settings; no impersonation.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { HelmError } from './errors.mjs';

/** An answer of the API server that was not a success, with its Status. */
export class ApiError extends HelmError {
  constructor(code, status) {
    super(typeof status?.message === 'string' && status.message !== '' ? status.message : `the server responded with the status code ${code} but did not return more information`);
    this.name = 'ApiError';
    this.code = code;
    this.reason = status?.reason ?? '';
  }
}

const named = (list, name) => (Array.isArray(list) ? list.find((e) => e?.name === name) : undefined);

/** Merges kubeconfig files as client-go does: the first file to name an entry wins. */
function mergeKubeconfigs(files) {
  const merged = { clusters: [], users: [], contexts: [], 'current-context': '' };
  for (const file of files) {
    let doc;
    try {
      doc = parseYaml(readFileSync(file, 'utf8')) ?? {};
    } catch (err) {
      if (err.code === 'ENOENT') throw new HelmError(`stat ${file}: no such file or directory`);
      throw new HelmError(`error loading config file "${file}": ${err.message}`);
    }
    for (const key of ['clusters', 'users', 'contexts']) {
      for (const e of doc[key] ?? []) {
        if (!named(merged[key], e?.name)) merged[key].push({ ...e, dir: dirname(resolve(file)) });
      }
    }
    if (!merged['current-context'] && doc['current-context']) merged['current-context'] = doc['current-context'];
  }
  return merged;
}

/** The kubeconfig files client-go reads: an explicit one must exist, listed or default ones may not. */
function kubeconfigFiles(explicit) {
  if (explicit) return [explicit];
  const env = process.env.KUBECONFIG;
  const listed = env ? env.split(':').filter((f) => f !== '') : [resolve(process.env.HOME ?? homedir(), '.kube', 'config')];
  return listed.filter((f) => existsSync(f));
}

function readMaybeFile(dataB64, file, dir) {
  if (dataB64) return Buffer.from(String(dataB64), 'base64');
  if (file) return readFileSync(resolve(dir, String(file)));
  return undefined;
}

/**
 * The connection settings Helm would use. `namespace` never fails (Helm falls back to
 * `default`); a broken kubeconfig surfaces from `connect()` as "Kubernetes cluster unreachable".
 */
export function kubeSettings(flags) {
  const out = { namespace: flags.namespace || process.env.HELM_NAMESPACE || '', problem: undefined, cluster: undefined, user: undefined };
  const files = kubeconfigFiles(flags.kubeconfig);
  if (files.length === 0) {
    // client-go without any kubeconfig falls back to the insecure localhost default.
    out.problem = 'Get "http://localhost:8080/version": dial tcp 127.0.0.1:8080: connect: connection refused';
    out.namespace ||= 'default';
    return out;
  }
  let cfg;
  try {
    cfg = mergeKubeconfigs(files);
  } catch (err) {
    out.problem = err.message;
    out.namespace ||= 'default';
    return out;
  }
  const contextName = flags.kubeContext || process.env.HELM_KUBECONTEXT || cfg['current-context'];
  const context = named(cfg.contexts, contextName);
  if (!context) {
    out.problem = contextName ? `context "${contextName}" does not exist` : 'invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable';
    out.namespace ||= 'default';
    return out;
  }
  out.namespace ||= context.context?.namespace || 'default';
  out.cluster = named(cfg.clusters, context.context?.cluster);
  out.user = named(cfg.users, context.context?.user);
  if (!out.cluster?.cluster?.server) out.problem = `invalid configuration: cluster "${context.context?.cluster ?? ''}" has no server defined`;
  return out;
}

/** How Go's net/http words a transport error. */
function transportMessage(method, url, err) {
  const verb = method[0] + method.slice(1).toLowerCase();
  const u = new URL(url);
  const host = `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  let why = err.message;
  if (err.code === 'ECONNREFUSED') why = `dial tcp ${host}: connect: connection refused`;
  else if (err.code === 'ECONNRESET') why = 'EOF';
  else if (err.code === 'ENOTFOUND') why = `dial tcp: lookup ${u.hostname}: no such host`;
  else if (/certificate|self[- ]signed|CERT|UNABLE_TO_VERIFY/i.test(`${err.code} ${err.message}`)) why = 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
  return `${verb} "${url}": ${why}`;
}

/** A REST client for one cluster and user. */
export class KubeClient {
  #agent;
  #server;
  #headers;
  #mappings = new Map();

  constructor(settings) {
    const c = settings.cluster.cluster;
    const u = settings.user?.user ?? {};
    if (u.exec || u['auth-provider'] || u.username) {
      throw new HelmError('Kubernetes cluster unreachable: the fake helm supports only token and client-certificate users in a kubeconfig');
    }
    this.#server = String(c.server).replace(/\/+$/, '');
    const tls = {
      ca: readMaybeFile(c['certificate-authority-data'], c['certificate-authority'], settings.cluster.dir),
      cert: readMaybeFile(u['client-certificate-data'], u['client-certificate'], settings.user?.dir),
      key: readMaybeFile(u['client-key-data'], u['client-key'], settings.user?.dir),
      rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
    };
    this.#agent = this.#server.startsWith('https:') ? new https.Agent({ keepAlive: true, ...tls }) : new http.Agent({ keepAlive: true });
    const token = u.token ?? (u.tokenFile ? readFileSync(resolve(settings.user.dir, u.tokenFile), 'utf8').trim() : undefined);
    this.#headers = { 'user-agent': 'helm/v3.16.2 (linux/amd64) kubernetes/fake', accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  }

  /** Closes kept-alive connections. */
  close() { this.#agent.destroy(); }

  /**
   * One request; resolves to the parsed JSON of a 2xx answer, rejects with an ApiError carrying
   * the server's Status message, or a HelmError worded as Go's transport errors.
   */
  request(method, path, { body, contentType, query } = {}) {
    const qs = query ? `?${new URLSearchParams(query).toString()}` : '';
    const url = `${this.#server}${path}${qs}`;
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const mod = url.startsWith('https:') ? https : http;
    return new Promise((resolvePromise, reject) => {
      const req = mod.request(url, {
        method,
        agent: this.#agent,
        headers: { ...this.#headers, ...(payload !== undefined ? { 'content-type': contentType ?? 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', (err) => reject(new HelmError(transportMessage(method, url, err))));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) { resolvePromise(json); return; }
          if (code === 401) { reject(new ApiError(code, { message: 'the server has asked for the client to provide credentials', reason: 'Unauthorized' })); return; }
          reject(new ApiError(code, json));
        });
      });
      req.on('error', (err) => reject(new HelmError(transportMessage(method, url, err))));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }

  /** Helm's `IsReachable`: the server's version endpoint answers. */
  async reachable() {
    try {
      await this.request('GET', '/version');
    } catch (err) {
      throw new HelmError(`Kubernetes cluster unreachable: ${err.message}`);
    }
  }

  /**
   * The REST mapping of an apiVersion and kind from discovery: `{ base, plural, namespaced }`
   * where `base` is `/api/v1` or `/apis/<group>/<version>`.
   */
  async mapping(apiVersion, kind) {
    const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    let list = this.#mappings.get(base);
    if (list === undefined) {
      try {
        list = (await this.request('GET', base))?.resources ?? [];
      } catch (err) {
        if (!(err instanceof ApiError) || err.code !== 404) throw err;
        list = [];
      }
      this.#mappings.set(base, list);
    }
    const r = list.find((x) => x.kind === kind && !String(x.name).includes('/'));
    if (!r) return undefined;
    return { base, plural: r.name, namespaced: r.namespaced === true };
  }

  /** The URL path of an object (or of its collection when `name` is empty). */
  static path(m, namespace, name) {
    const ns = m.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    return `${m.base}${ns}/${m.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
  }

  /** GET an object; undefined on 404. */
  async find(m, namespace, name) {
    try {
      return await this.request('GET', KubeClient.path(m, namespace, name));
    } catch (err) {
      if (err instanceof ApiError && err.code === 404) return undefined;
      throw err;
    }
  }
}

/**
 * A client for the settings' cluster once it answers (Helm's `IsReachable`, which every command
 * runs first); a broken kubeconfig or a down server is "Kubernetes cluster unreachable: …".
 */
export async function connect(settings) {
  if (settings.problem) throw new HelmError(`Kubernetes cluster unreachable: ${settings.problem}`);
  const client = new KubeClient(settings);
  await client.reachable();
  return client;
}
