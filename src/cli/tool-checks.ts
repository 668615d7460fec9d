/**
 * The tools a project's targets run besides Gangway — `kubectl` for kustomize overlays, `helm`
 * for Helm releases, `git` and Argo CD for GitOps — checked before they are needed:
 * `gangway up` refuses to start without them (local checks only: binaries, token variables),
 * `gangway validate --check-tools` also asks Argo CD. Each check is one row, so every missing
 * tool is listed at once.
 */
import { execFile } from 'node:child_process';
import type { GangwayConfig, ServiceEnvConfig } from '../config/types.js';
import { GangwayError } from '../errors.js';
import { checkGitOps } from '../targets/gitops/check.js';
import { checkHelm } from '../targets/helm/helm-cli.js';

/** One tool checked for the services that need it. */
export interface ToolCheck {
  /** What was checked: `kubectl`, `helm /usr/local/bin/helm`, `git`, `ARGOCD_TOKEN`, `argo cd application web-prod`. */
  what: string;
  ok: boolean;
  /** The version found, or what is wrong. */
  detail: string;
  hint?: string;
  /** `service/environment` pairs that need it. */
  for: string[];
}

/**
 * Checks every tool the config's targets need, each once however many services need it.
 * `network: false` (for `gangway up`) skips what asks a server (Argo CD).
 *
 * @example (await checkTools(config, { network: false })).filter((c) => !c.ok)
 */
export async function checkTools(config: GangwayConfig, opts: { network: boolean; env?: NodeJS.ProcessEnv }): Promise<ToolCheck[]> {
  const env = opts.env ?? process.env;
  const checks = new Map<string, { run: () => Promise<Array<Omit<ToolCheck, 'for'>>>; for: string[] }>();
  const need = (key: string, pair: string, run: () => Promise<Array<Omit<ToolCheck, 'for'>>>) => {
    const entry = checks.get(key);
    if (entry) entry.for.push(pair);
    else checks.set(key, { run, for: [pair] });
  };
  for (const envs of Object.values(config.services)) {
    for (const cfg of Object.values(envs) as ServiceEnvConfig[]) {
      const pair = `${cfg.service}/${cfg.environment}`;
      const t = cfg.target;
      if (t.kind === 'kubernetes' && t.source.kind === 'kustomize') {
        const bin = t.kubectl;
        need(`kubectl\u0000${bin}`, pair, async () => [await binary(`kubectl ${bin}`, bin, ['version', '--client'], env,
          'install kubectl (https://kubernetes.io/docs/tasks/tools/), or set target.kubernetes.kubectl to its path')]);
      } else if (t.kind === 'helm') {
        const bin = t.helm;
        need(`helm\u0000${bin}`, pair, async () => {
          try {
            return [{ what: `helm ${bin}`, ok: true, detail: await checkHelm(bin, { env }) }];
          } catch (err) {
            if (!(err instanceof GangwayError)) throw err;
            return [{ what: `helm ${bin}`, ok: false, detail: err.message, ...(err.hint ? { hint: err.hint } : {}) }];
          }
        });
      } else if (t.kind === 'gitops') {
        if (opts.network) {
          need(`gitops\u0000${pair}`, pair, async () => checkGitOps(cfg, { env }));
        } else {
          need('git', pair, async () => [await binary('git', 'git', ['--version'], env, 'install git (Debian package git)')]);
          const variable = t.argocd.tokenFromEnv;
          need(`env\u0000${variable}`, pair, async () => [(env[variable] ?? '').trim() !== ''
            ? { what: variable, ok: true, detail: 'set' }
            : { what: variable, ok: false, detail: `${variable} is not set (target.gitops.argocd.tokenFromEnv)`, hint: `export ${variable} with an Argo CD API token (argocd account generate-token --account <account>)` }]);
        }
      }
    }
  }
  const out: ToolCheck[] = [];
  for (const { run, for: pairs } of checks.values()) for (const c of await run()) out.push({ ...c, for: pairs });
  return out;
}

/**
 * The failed checks as one GangwayError for `gangway up`, or null when every tool is there.
 *
 * @example const err = toolsError(await checkTools(config, { network: false })); if (err) throw err;
 */
export function toolsError(checks: ToolCheck[]): GangwayError | null {
  const failed = checks.filter((c) => !c.ok);
  if (failed.length === 0) return null;
  return new GangwayError('invalid_config', failed.map((c) => `${c.what} (needed by ${c.for.join(', ')}): ${c.detail}`).join('\n'), failed.find((c) => c.hint)?.hint);
}

/** Runs `bin args` (argv, never a shell) and reports its first output line, or why it could not run. */
function binary(what: string, bin: string, args: string[], env: NodeJS.ProcessEnv, hint: string): Promise<Omit<ToolCheck, 'for'>> {
  return new Promise((done) => {
    execFile(bin, args, { encoding: 'utf8', timeout: 30_000, env }, (err, stdout, stderr) => {
      if (!err) return done({ what, ok: true, detail: (stdout.trim().split('\n')[0] ?? '').trim() });
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `"${bin}" is not installed or not on PATH` : code === 'EACCES' ? `"${bin}" is not executable` : `"${bin} ${args.join(' ')}" failed: ${(stderr || err.message).trim().split('\n')[0]}`;
      done({ what, ok: false, detail: why, hint });
    });
  });
}
