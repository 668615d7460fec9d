/**
 * Where a request's credentials come from, kept fresh: a static token, a token file re-read
 * each minute and after a 401 (service account tokens rotate), basic auth, or an exec plugin
 * run as kubectl runs it (argv, no shell, KUBERNETES_EXEC_INFO set), its ExecCredential cached
 * until `expirationTimestamp` and re-run after a 401. Concurrent callers share one plugin run.
 * Plugin stdout carries the secret and never appears in an error; stderr's last lines do.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { KubeAuthPluginError, KubeConfigError } from './errors.js';
import type { KubeConnectionConfig, KubeExecConfig } from './kubeconfig.js';

/** What a request needs from the identity: headers, and a client certificate when the plugin gave one. */
export interface Credentials {
  headers: Record<string, string>;
  /** PEM client certificate and key from an exec plugin (kubeconfig ones are in `conn.tls`). */
  cert?: string;
  key?: string;
}

/** An ExecCredential's result. */
interface ExecResult { token?: string; cert?: string; key?: string; expiresAt: number | undefined }

const TOKEN_FILE_REFRESH_MS = 60_000;
const STDERR_LINES = 5;

/**
 * The credential source of one connection.
 *
 * @example
 * ```ts
 * const creds = new CredentialSource(conn, { timeoutMs: 30_000 });
 * const { headers, generation } = await creds.get();   // { authorization: 'Bearer …' }
 * // after a 401 answer to a request made with `generation`:
 * if (await creds.refresh(generation)) { retry once }
 * ```
 */
export class CredentialSource {
  readonly #conn: KubeConnectionConfig;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #current: { creds: Credentials; until: number } | undefined;
  #pending: Promise<Credentials> | undefined;
  #generation = 0;

  constructor(conn: KubeConnectionConfig, opts: { timeoutMs: number; now?: () => number }) {
    this.#conn = conn;
    this.#timeoutMs = opts.timeoutMs;
    this.#now = opts.now ?? Date.now;
  }

  /** Whether a 401 may be cured by `refresh` (a token file or an exec plugin). */
  get refreshable(): boolean {
    return this.#conn.auth.kind === 'tokenFile' || this.#conn.auth.kind === 'exec';
  }

  /** Current credentials and their generation (pass it to `refresh` after a 401). */
  async get(): Promise<{ creds: Credentials; generation: number }> {
    if (this.#current && this.#now() < this.#current.until) return { creds: this.#current.creds, generation: this.#generation };
    const creds = await this.#load();
    return { creds, generation: this.#generation };
  }

  /**
   * Drops cached credentials after a 401 to a request made with `generation`. Resolves true when
   * a retry may succeed (new credentials, or already refreshed by a concurrent caller).
   */
  async refresh(generation: number): Promise<boolean> {
    if (!this.refreshable) return false;
    if (generation !== this.#generation) return true;
    const before = this.#current?.creds;
    this.#current = undefined;
    const after = await this.#load();
    // A token file that still holds the rejected token: retrying would only repeat the 401.
    if (this.#conn.auth.kind === 'tokenFile' && before && before.headers.authorization === after.headers.authorization) return false;
    return true;
  }

  #load(): Promise<Credentials> {
    this.#pending ??= this.#fetch().then((r) => {
      this.#current = r;
      this.#generation += 1;
      return r.creds;
    }).finally(() => { this.#pending = undefined; });
    return this.#pending;
  }

  async #fetch(): Promise<{ creds: Credentials; until: number }> {
    const auth = this.#conn.auth;
    switch (auth.kind) {
      case 'none':
        return { creds: { headers: {} }, until: Infinity };
      case 'token':
        return { creds: { headers: { authorization: `Bearer ${auth.token}` } }, until: Infinity };
      case 'basic':
        return { creds: { headers: { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } }, until: Infinity };
      case 'tokenFile': {
        let token: string;
        try {
          token = (await readFile(auth.path, 'utf8')).trim();
        } catch (err) {
          throw new KubeConfigError(`token file ${auth.path} of context ${this.#conn.context} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, this.#conn.source, { cause: err });
        }
        if (!token) throw new KubeConfigError(`token file ${auth.path} of context ${this.#conn.context} is empty`, this.#conn.source);
        return { creds: { headers: { authorization: `Bearer ${token}` } }, until: this.#now() + TOKEN_FILE_REFRESH_MS };
      }
      case 'exec': {
        const r = await runExecPlugin(auth.exec, this.#conn, this.#timeoutMs);
        const creds: Credentials = { headers: r.token ? { authorization: `Bearer ${r.token}` } : {}, ...(r.cert ? { cert: r.cert, key: r.key } : {}) };
        return { creds, until: r.expiresAt ?? Infinity };
      }
    }
  }
}

/** The ExecCredential input kubectl passes in KUBERNETES_EXEC_INFO. */
function execInfo(exec: KubeExecConfig, conn: KubeConnectionConfig): string {
  const spec: Record<string, unknown> = { interactive: false };
  if (exec.provideClusterInfo) {
    spec.cluster = {
      server: conn.server,
      ...(conn.tls.serverName ? { 'tls-server-name': conn.tls.serverName } : {}),
      ...(conn.tls.insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
      ...(conn.tls.ca ? { 'certificate-authority-data': Buffer.from(conn.tls.ca).toString('base64') } : {}),
    };
  }
  return JSON.stringify({ apiVersion: exec.apiVersion, kind: 'ExecCredential', spec });
}

async function runExecPlugin(exec: KubeExecConfig, conn: KubeConnectionConfig, timeoutMs: number): Promise<ExecResult> {
  const who = `exec credential plugin "${exec.command}" of user "${exec.user}" in ${conn.source}`;
  const hint = exec.installHint ? `\n${exec.installHint}` : '';
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of exec.env) env[e.name] = e.value;
  env.KUBERNETES_EXEC_INFO = execInfo(exec, conn);
  const { stdout, stderr, error } = await new Promise<{ stdout: string; stderr: string; error: (NodeJS.ErrnoException & { killed?: boolean; signal?: string | null }) | null }>((resolve) => {
    execFile(exec.resolvedCommand, exec.args, { env, timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, windowsHide: true }, (err, out, errOut) => {
      resolve({ stdout: String(out), stderr: String(errOut), error: err as never });
    });
  });
  const lastLines = stderr.trim().split('\n').filter((l) => l.trim()).slice(-STDERR_LINES).join('\n');
  const said = lastLines ? `:\n${lastLines}` : '';
  if (error) {
    if (error.code === 'ENOENT') throw new KubeAuthPluginError(`${who} was not found (${exec.resolvedCommand})${hint}`, exec.command, { cause: error });
    if (error.killed && error.signal === 'SIGTERM') throw new KubeAuthPluginError(`${who} did not finish within ${Math.round(timeoutMs / 1000)} s${said}${hint}`, exec.command);
    const how = typeof error.code === 'number' ? `exit code ${error.code}` : error.signal ? `killed by ${error.signal}` : String(error.code ?? error.message);
    throw new KubeAuthPluginError(`${who} failed (${how})${said}${hint}`, exec.command);
  }
  let out: unknown;
  try {
    out = JSON.parse(stdout);
  } catch {
    throw new KubeAuthPluginError(`${who} printed no ExecCredential JSON on stdout${said}`, exec.command);
  }
  const o = (typeof out === 'object' && out !== null ? out : {}) as { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
  if (o.kind !== 'ExecCredential') throw new KubeAuthPluginError(`${who} printed kind ${JSON.stringify(o.kind ?? null)}, expected ExecCredential`, exec.command);
  if (o.apiVersion !== exec.apiVersion) throw new KubeAuthPluginError(`${who} printed apiVersion ${JSON.stringify(o.apiVersion ?? null)}, but the kubeconfig asks for ${exec.apiVersion}`, exec.command);
  const st = o.status ?? {};
  const token = typeof st.token === 'string' && st.token ? st.token : undefined;
  const cert = typeof st.clientCertificateData === 'string' && st.clientCertificateData ? st.clientCertificateData : undefined;
  const key = typeof st.clientKeyData === 'string' && st.clientKeyData ? st.clientKeyData : undefined;
  if (!token && !(cert && key)) throw new KubeAuthPluginError(`${who} returned neither status.token nor status.clientCertificateData with status.clientKeyData`, exec.command);
  if (Boolean(cert) !== Boolean(key)) throw new KubeAuthPluginError(`${who} returned ${cert ? 'clientCertificateData without clientKeyData' : 'clientKeyData without clientCertificateData'}`, exec.command);
  let expiresAt: number | undefined;
  if (st.expirationTimestamp !== undefined && st.expirationTimestamp !== null) {
    expiresAt = typeof st.expirationTimestamp === 'string' ? Date.parse(st.expirationTimestamp) : NaN;
    if (Number.isNaN(expiresAt)) throw new KubeAuthPluginError(`${who} returned an invalid status.expirationTimestamp ${JSON.stringify(st.expirationTimestamp)}`, exec.command);
  }
  return { token, cert, key, expiresAt };
}
