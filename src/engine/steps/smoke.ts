/**
 * Smoke checks: HTTP expectations against the release under test, reached through the target
 * (its preview when the strategy has one and it serves the release, else the release directly
 * — a local instance's port, a Kubernetes API server proxy), and commands (argv, exit 0).
 * Their output goes into the deployment record.
 *
 * A command check gets the release's URL in `GANGWAY_URL` but never the target's headers:
 * those may be credentials (an API server's bearer token), and secrets do not go into a child
 * process's environment.
 */
import { checkHttp } from '../../core/http-check.js';
import { runCommand } from '../../core/command.js';
import { substitute } from '../../config/placeholders.js';
import type { SmokeCheck } from '../../config/types.js';
import type { Reach } from '../../targets/target.js';
import type { StepResult } from './types.js';
import type { StepContext } from './context.js';

export async function runSmoke(ctx: StepContext, p: { version: string }): Promise<StepResult> {
  const { cfg, target } = ctx;
  const reach = (await target.reach(cfg, p.version, { preview: true })) ?? (await target.reach(cfg, p.version));
  if (!reach) return { result: 'failed', reason: `no healthy instance of ${p.version} to run smoke checks against` };
  const results: Array<Record<string, unknown>> = [];
  for (const [n, check] of cfg.smoke.entries()) {
    const r = await runCheck(ctx, check, reach, p.version);
    results.push({ check: n, via: reach.describe, ...r });
    if (!r.ok) {
      return { result: 'failed', reason: `smoke check ${n + 1} (${describe(check)}) failed: ${r.detail}`, output: { checks: results } };
    }
  }
  return { result: 'succeeded', output: { checks: results } };
}

function describe(c: SmokeCheck): string {
  return c.kind === 'http' ? `${c.method} ${c.path}` : c.argv.join(' ');
}

async function runCheck(ctx: StepContext, c: SmokeCheck, reach: Reach, version: string): Promise<{ ok: boolean; detail: string; output?: string }> {
  if (c.kind === 'http') {
    // The target's headers (credentials) first; the check's own headers cannot replace them.
    const r = await checkHttp(reach.url + c.path, c.expect, c.timeoutMs, {
      method: c.method, headers: { ...c.headers, ...reach.headers }, ...(reach.dispatcher ? { dispatcher: reach.dispatcher } : {}),
    });
    return { ok: r.ok, detail: r.detail };
  }
  const vars = {
    'release.version': version,
    'release.image': '',
    environment: ctx.cfg.environment,
    service: ctx.cfg.service,
    port: new URL(reach.url).port,
  };
  const argv = substitute(c.argv, vars);
  return runCommand(argv, c.cwd, c.timeoutMs, ctx.signal, { GANGWAY_URL: reach.url, GANGWAY_VERSION: version, GANGWAY_ENVIRONMENT: ctx.cfg.environment, GANGWAY_SERVICE: ctx.cfg.service });
}
