/**
 * Smoke checks: HTTP expectations against the release under test (through the preview port
 * when the strategy has one, else one of its instances directly) and commands (argv, exit 0).
 * Their output goes into the deployment record.
 */
import { checkHttp } from '../../core/http-check.js';
import { runCommand } from '../../core/command.js';
import { substitute } from '../../config/placeholders.js';
import type { SmokeCheck } from '../../config/types.js';
import type { StepResult } from './types.js';
import type { StepContext } from './context.js';

export async function runSmoke(ctx: StepContext, p: { version: string }): Promise<StepResult> {
  const { cfg, target } = ctx;
  let base = await target.previewUrl(cfg);
  if (base) {
    const traffic = await target.traffic(cfg);
    if (traffic.preview !== p.version) base = null;
  }
  if (!base) {
    const ready = (await target.instances(cfg)).find((i) => i.version === p.version && i.state === 'ready');
    if (!ready) return { result: 'failed', reason: `no healthy instance of ${p.version} to run smoke checks against` };
    base = ready.url;
  }
  const results: Array<Record<string, unknown>> = [];
  for (const [n, check] of cfg.smoke.entries()) {
    const r = await runCheck(ctx, check, base, p.version);
    results.push({ check: n, ...r });
    if (!r.ok) {
      return { result: 'failed', reason: `smoke check ${n + 1} (${describe(check)}) failed: ${r.detail}`, output: { checks: results } };
    }
  }
  return { result: 'succeeded', output: { checks: results } };
}

function describe(c: SmokeCheck): string {
  return c.kind === 'http' ? `${c.method} ${c.path}` : c.argv.join(' ');
}

async function runCheck(ctx: StepContext, c: SmokeCheck, base: string, version: string): Promise<{ ok: boolean; detail: string; output?: string }> {
  if (c.kind === 'http') {
    const r = await checkHttp(base + c.path, c.expect, c.timeoutMs, { method: c.method, headers: c.headers });
    return { ok: r.ok, detail: r.detail };
  }
  const vars = {
    'release.version': version,
    'release.image': '',
    environment: ctx.cfg.environment,
    service: ctx.cfg.service,
    port: new URL(base).port,
  };
  const argv = substitute(c.argv, vars);
  return runCommand(argv, c.cwd, c.timeoutMs, ctx.signal, { GANGWAY_URL: base, GANGWAY_VERSION: version, GANGWAY_ENVIRONMENT: ctx.cfg.environment, GANGWAY_SERVICE: ctx.cfg.service });
}
