/**
 * What `gangway up` and `gangway validate --check-tools` check before a GitOps target is used:
 * git is installed, the token variable is set, and the Argo CD Application answers with that
 * token. Each check is data (`ok`, a detail, a hint), never an exception, so the caller lists
 * every problem at once; the token never appears in a detail.
 */
import { execFile } from 'node:child_process';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { ArgoCDClient } from './argocd.js';
import { gitopsCfg } from './gitops-target.js';

/** The outcome of one check. */
export interface GitOpsCheck {
  /** What was checked, e.g. `git`, `ARGOCD_TOKEN`, `argo cd application web-staging`. */
  what: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface CheckGitOpsOptions {
  /** Where the token is read; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Makes the client (tests); default `new ArgoCDClient(cfg, { env, timeoutMs: 10 s })`. */
  argocd?: (cfg: ServiceEnvConfig) => ArgoCDClient;
}

/**
 * Checks one service's GitOps target in one environment.
 *
 * @example
 * for (const c of await checkGitOps(cfg)) if (!c.ok) console.log(`${c.what}: ${c.detail}\n  hint: ${c.hint}`);
 * // argo cd application web-staging: Argo CD at https://argocd.example.com refused the token in ARGOCD_TOKEN: invalid session: …
 */
export async function checkGitOps(cfg: ServiceEnvConfig, opts: CheckGitOpsOptions = {}): Promise<GitOpsCheck[]> {
  const c = gitopsCfg(cfg);
  const env = opts.env ?? process.env;
  const out: GitOpsCheck[] = [];
  const version = await new Promise<string | null>((done) => {
    execFile('git', ['--version'], { encoding: 'utf8', timeout: 10_000 }, (err, stdout) => done(err ? null : stdout.trim()));
  });
  out.push(version ? { what: 'git', ok: true, detail: version } : { what: 'git', ok: false, detail: 'git is not installed', hint: 'install git (Debian package git)' });
  const variable = c.target.argocd.tokenFromEnv;
  const set = (env[variable] ?? '').trim() !== '';
  out.push(set
    ? { what: variable, ok: true, detail: 'set' }
    : { what: variable, ok: false, detail: `${variable} is not set (target.gitops.argocd.tokenFromEnv)`, hint: `export ${variable} with an Argo CD API token (argocd account generate-token --account <account>)` });
  const application = c.target.application.replaceAll('{environment}', c.environment).replaceAll('{service}', c.service);
  const what = `argo cd application ${application}`;
  if (!set) {
    out.push({ what, ok: false, detail: `not checked: ${variable} is not set` });
    return out;
  }
  const client = opts.argocd ? opts.argocd(cfg) : new ArgoCDClient(c.target.argocd, { env, timeoutMs: 10_000 });
  try {
    const app = await client.getApplication(application);
    out.push({ what, ok: true, detail: `${app.status.sync.status}, ${app.status.health.status} (${c.target.argocd.server})` });
  } catch (err) {
    if (!(err instanceof GangwayError)) throw err;
    out.push({ what, ok: false, detail: err.message, ...(err.hint ? { hint: err.hint } : {}) });
  } finally {
    if (!opts.argocd) await client.close();
  }
  return out;
}
