/**
 * Reads a kubeconfig (or the in-cluster service account) into one compiled, frozen
 * `KubeConnectionConfig`: the server, TLS material and how to authenticate. kubectl's rules
 * for the simple cases: `KUBECONFIG` is a ':'-separated list merged first-wins, relative
 * paths resolve against the file that names them, the context's namespace is the default.
 * Everything is resolved here, once, so the client reads plain data; errors name the file and
 * the key, and never quote a credential.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { KubeConfigError } from './errors.js';

/** Where the in-cluster service account files are mounted in a pod. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The exec credential plugin of a kubeconfig user, resolved. */
export interface KubeExecConfig {
  apiVersion: 'client.authentication.k8s.io/v1' | 'client.authentication.k8s.io/v1beta1';
  /** As written in the kubeconfig (for messages). */
  command: string;
  /** What is run: `command`, resolved against the kubeconfig's folder when it is a relative path with a '/'. */
  resolvedCommand: string;
  args: string[];
  env: Array<{ name: string; value: string }>;
  installHint: string | undefined;
  provideClusterInfo: boolean;
  /** The kubeconfig user entry's name (for messages). */
  user: string;
}

/** How requests authenticate (client certificates are in `KubeTls`). Holds secrets: never log it. */
export type KubeAuth =
  | { kind: 'none' }
  | { kind: 'token'; token: string }
  /** A token re-read from `path` each minute and after a 401 (service account tokens rotate). */
  | { kind: 'tokenFile'; path: string }
  | { kind: 'basic'; username: string; password: string }
  | { kind: 'exec'; exec: KubeExecConfig };

/** TLS settings, PEM strings already read from their files. */
export interface KubeTls {
  ca: string | undefined;
  insecureSkipTlsVerify: boolean;
  /** `tls-server-name`: the name the server certificate is checked against. */
  serverName: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

/** Everything needed to talk to one cluster as one identity. Holds secrets: never log it. */
export interface KubeConnectionConfig {
  /** API server URL without a trailing '/', e.g. `https://10.0.0.1:6443`. */
  readonly server: string;
  /** Context name (`in-cluster` for the service account). */
  readonly context: string;
  readonly cluster: string;
  readonly user: string;
  /** The context's namespace, else `default` (in-cluster: the service account's namespace). */
  readonly namespace: string;
  /** The kubeconfig path(s) or the service account folder it came from (for messages). */
  readonly source: string;
  readonly inCluster: boolean;
  readonly tls: Readonly<KubeTls>;
  readonly auth: Readonly<KubeAuth>;
}

/** Options of `loadKubeConfig`. */
export interface LoadKubeConfigOptions {
  /** A kubeconfig file; default: `KUBECONFIG`, else `~/.kube/config`, else in-cluster. */
  path?: string | null;
  /** Context name; default the kubeconfig's `current-context`. */
  context?: string | null;
  /** Environment to read `KUBECONFIG`, `HOME`, `KUBERNETES_SERVICE_HOST/PORT` from. */
  env?: NodeJS.ProcessEnv;
  /** Service account folder (tests); default `SERVICE_ACCOUNT_DIR`. */
  serviceAccountDir?: string;
}

type Rec = Record<string, unknown>;
interface Named { name: string; value: Rec; file: string }
interface Merged { files: string[]; clusters: Map<string, Named>; users: Map<string, Named>; contexts: Map<string, Named>; currentContext: string | undefined }

const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Loads the connection settings of a context.
 *
 * @example
 * ```ts
 * const conn = loadKubeConfig({ context: 'prod' });
 * // conn.server 'https://k8s.example:6443', conn.namespace 'shop', conn.auth.kind 'exec'
 * loadKubeConfig({ path: '/root/.kube/config', context: 'nope' });
 * // throws KubeConfigError: context "nope" not found in /root/.kube/config (contexts: dev, staging)
 * ```
 */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConnectionConfig {
  const env = opts.env ?? process.env;
  const files = kubeconfigFiles(opts.path ?? null, env);
  if (files.length === 0) {
    if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
      if (opts.context) throw new KubeConfigError(`context "${opts.context}" was asked for, but there is no kubeconfig (only the in-cluster service account)`, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
      return inClusterConfig(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    }
    const home = join(env.HOME ?? homedir(), '.kube', 'config');
    const where = env.KUBECONFIG ? `none of KUBECONFIG=${env.KUBECONFIG} exists` : `${home} does not exist and KUBECONFIG is not set`;
    throw new KubeConfigError(`no kubeconfig found: ${where}, and this is not a pod (KUBERNETES_SERVICE_HOST is not set)`, env.KUBECONFIG ?? home);
  }
  return fromMerged(merge(files), opts.context ?? null);
}

function kubeconfigFiles(path: string | null, env: NodeJS.ProcessEnv): string[] {
  if (path) {
    const abs = resolve(path);
    if (!existsSync(abs)) throw new KubeConfigError(`kubeconfig ${abs} does not exist`, abs);
    return [abs];
  }
  if (env.KUBECONFIG) {
    const seen = new Set<string>();
    for (const p of env.KUBECONFIG.split(delimiter)) {
      if (p && existsSync(resolve(p))) seen.add(resolve(p));
    }
    return [...seen];
  }
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  return existsSync(home) ? [home] : [];
}

function merge(files: string[]): Merged {
  const m: Merged = { files, clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
  for (const file of files) {
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new KubeConfigError(`${file} is not a valid kubeconfig: ${(err as Error).message.split('\n')[0].replace(/:$/, '')}`, file, { cause: err });
    }
    if (doc === null || doc === undefined) continue;
    if (!isRec(doc)) throw new KubeConfigError(`${file} is not a valid kubeconfig: expected a mapping at the top`, file);
    for (const [key, field, into] of [['clusters', 'cluster', m.clusters], ['users', 'user', m.users], ['contexts', 'context', m.contexts]] as const) {
      const list = doc[key];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) throw new KubeConfigError(`${file}: ${key} must be a list`, file);
      for (const entry of list) {
        if (!isRec(entry) || typeof entry.name !== 'string') throw new KubeConfigError(`${file}: every entry of ${key} needs a name`, file);
        // kubectl's merge: the first file that defines a name wins.
        if (!into.has(entry.name)) into.set(entry.name, { name: entry.name, value: isRec(entry[field]) ? entry[field] : {}, file });
      }
    }
    const cc = doc['current-context'];
    if (m.currentContext === undefined && typeof cc === 'string' && cc) m.currentContext = cc;
  }
  return m;
}

function fromMerged(m: Merged, wanted: string | null): KubeConnectionConfig {
  const source = m.files.join(delimiter);
  const contextNames = [...m.contexts.keys()];
  const listed = `(contexts: ${contextNames.length ? contextNames.join(', ') : 'none'})`;
  const name = wanted ?? m.currentContext;
  if (!name) throw new KubeConfigError(`no current-context is set in ${source} and no context was given ${listed}`, source);
  const ctx = m.contexts.get(name);
  if (!ctx) throw new KubeConfigError(`context "${name}" not found in ${source} ${listed}`, source);
  const clusterName = str(ctx.value.cluster, `context "${name}": cluster`, ctx.file);
  if (!clusterName) throw new KubeConfigError(`context "${name}" in ${ctx.file} names no cluster`, ctx.file);
  const cluster = m.clusters.get(clusterName);
  if (!cluster) throw new KubeConfigError(`cluster "${clusterName}" of context "${name}" not found in ${source}`, source);
  const userName = str(ctx.value.user, `context "${name}": user`, ctx.file) ?? '';
  const user = userName ? m.users.get(userName) : undefined;
  if (userName && !user) throw new KubeConfigError(`user "${userName}" of context "${name}" not found in ${source}`, source);

  const c = cluster.value;
  const where = `cluster "${clusterName}" in ${cluster.file}`;
  const server = str(c.server, `${where}: server`, cluster.file);
  if (!server) throw new KubeConfigError(`${where} has no server`, cluster.file);
  if (!/^https?:\/\//.test(server)) throw new KubeConfigError(`${where}: server ${JSON.stringify(server)} is not an http(s) URL`, cluster.file);
  if (c['proxy-url'] !== undefined) throw new KubeConfigError(`${where}: proxy-url is not supported by Gangway's Kubernetes client`, cluster.file);
  const tls: KubeTls = {
    ca: pem(c, 'certificate-authority', where, cluster.file),
    insecureSkipTlsVerify: c['insecure-skip-tls-verify'] === true,
    serverName: str(c['tls-server-name'], `${where}: tls-server-name`, cluster.file),
    cert: undefined,
    key: undefined,
  };
  let auth: KubeAuth = { kind: 'none' };
  if (user) {
    const u = user.value;
    const uwhere = `user "${userName}" in ${user.file}`;
    if (isRec(u['auth-provider'])) {
      const provider = typeof u['auth-provider'].name === 'string' ? u['auth-provider'].name : '?';
      throw new KubeConfigError(`${uwhere} uses auth-provider "${provider}", which Gangway does not support: use the provider's exec plugin instead (gke-gcloud-auth-plugin, kubelogin …)`, user.file);
    }
    tls.cert = pem(u, 'client-certificate', uwhere, user.file);
    tls.key = pem(u, 'client-key', uwhere, user.file);
    if (tls.cert && !tls.key) throw new KubeConfigError(`${uwhere} has client-certificate but no client-key`, user.file);
    if (tls.key && !tls.cert) throw new KubeConfigError(`${uwhere} has client-key but no client-certificate`, user.file);
    const token = str(u.token, `${uwhere}: token`, user.file);
    const tokenFile = str(u.tokenFile, `${uwhere}: tokenFile`, user.file);
    const username = str(u.username, `${uwhere}: username`, user.file);
    if (token) auth = { kind: 'token', token };
    else if (tokenFile) auth = { kind: 'tokenFile', path: rel(tokenFile, user.file) };
    else if (isRec(u.exec)) auth = { kind: 'exec', exec: execConfig(u.exec, userName, uwhere, user.file) };
    else if (u.exec !== undefined) throw new KubeConfigError(`${uwhere}: exec must be a mapping`, user.file);
    else if (username) auth = { kind: 'basic', username, password: str(u.password, `${uwhere}: password`, user.file) ?? '' };
  }
  const ns = str(ctx.value.namespace, `context "${name}": namespace`, ctx.file);
  return deepFreeze({
    server: server.replace(/\/+$/, ''),
    context: name,
    cluster: clusterName,
    user: userName,
    namespace: ns || 'default',
    source,
    inCluster: false,
    tls,
    auth,
  });
}

function execConfig(e: Rec, user: string, where: string, file: string): KubeExecConfig {
  const apiVersion = e.apiVersion;
  if (apiVersion !== 'client.authentication.k8s.io/v1' && apiVersion !== 'client.authentication.k8s.io/v1beta1') {
    throw new KubeConfigError(`${where}: exec.apiVersion ${JSON.stringify(apiVersion ?? null)} is not supported (use client.authentication.k8s.io/v1 or v1beta1)`, file);
  }
  const command = str(e.command, `${where}: exec.command`, file);
  if (!command) throw new KubeConfigError(`${where}: exec.command is missing`, file);
  if (e.args !== undefined && (!Array.isArray(e.args) || !e.args.every((a) => typeof a === 'string'))) throw new KubeConfigError(`${where}: exec.args must be a list of strings`, file);
  const env: Array<{ name: string; value: string }> = [];
  if (e.env !== undefined && e.env !== null) {
    if (!Array.isArray(e.env)) throw new KubeConfigError(`${where}: exec.env must be a list of {name, value}`, file);
    for (const v of e.env) {
      if (!isRec(v) || typeof v.name !== 'string' || typeof v.value !== 'string') throw new KubeConfigError(`${where}: exec.env must be a list of {name, value}`, file);
      env.push({ name: v.name, value: v.value });
    }
  }
  if (e.interactiveMode === 'Always') throw new KubeConfigError(`${where}: exec.interactiveMode Always needs a terminal, which Gangway does not have`, file);
  // kubectl: a relative command with a path separator is relative to the kubeconfig's folder; a bare name is looked up on PATH.
  const resolvedCommand = command.includes('/') && !isAbsolute(command) ? join(dirname(file), command) : command;
  return {
    apiVersion,
    command,
    resolvedCommand,
    args: (e.args as string[] | undefined) ?? [],
    env,
    installHint: typeof e.installHint === 'string' ? e.installHint.trim() : undefined,
    provideClusterInfo: e.provideClusterInfo === true,
    user,
  };
}

function inClusterConfig(env: NodeJS.ProcessEnv, dir: string): KubeConnectionConfig {
  const host = env.KUBERNETES_SERVICE_HOST as string;
  const port = env.KUBERNETES_SERVICE_PORT as string;
  const tokenPath = join(dir, 'token');
  if (!existsSync(tokenPath)) throw new KubeConfigError(`in-cluster service account token ${tokenPath} does not exist (KUBERNETES_SERVICE_HOST is set, no kubeconfig found)`, dir);
  const caPath = join(dir, 'ca.crt');
  let ca: string | undefined;
  try {
    ca = readFileSync(caPath, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`in-cluster CA ${caPath} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, dir, { cause: err });
  }
  let namespace = 'default';
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim() || 'default';
  } catch {
    // no namespace file: kubectl falls back to `default` too
  }
  return deepFreeze({
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    context: 'in-cluster',
    cluster: 'in-cluster',
    user: 'service-account',
    namespace,
    source: dir,
    inCluster: true,
    tls: { ca, insecureSkipTlsVerify: false, serverName: undefined, cert: undefined, key: undefined },
    auth: { kind: 'tokenFile', path: tokenPath },
  });
}

function str(v: unknown, what: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new KubeConfigError(`${what} must be a string`, file);
  return v;
}

function rel(p: string, file: string): string {
  return isAbsolute(p) ? p : join(dirname(file), p);
}

/** `key` (a file path) or `key-data` (base64 PEM) of an entry, as a PEM string. */
function pem(entry: Rec, key: string, where: string, file: string): string | undefined {
  const data = str(entry[`${key}-data`], `${where}: ${key}-data`, file);
  if (data) {
    const compact = data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) throw new KubeConfigError(`${where}: ${key}-data is not valid base64`, file);
    return Buffer.from(compact, 'base64').toString('utf8');
  }
  const path = str(entry[key], `${where}: ${key}`, file);
  if (!path) return undefined;
  const abs = rel(path, file);
  try {
    return readFileSync(abs, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`${where}: ${key} ${abs} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file, { cause: err });
  }
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) for (const v of Object.values(o)) deepFreeze(v);
  return Object.freeze(o);
}
