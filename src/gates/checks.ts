/**
 * Custom checks: commands (argv, exit 0) and webhooks (an HTTP expectation) that must pass —
 * CI green, coverage, a security scan, a fresh backup, monitoring up.
 */
import { runCommand } from '../core/command.js';
import { checkHttp } from '../core/http-check.js';
import { substitute } from '../config/placeholders.js';
import type { CustomCheck, GangwayConfig } from '../config/types.js';
import type { Gate, GateRequest, GateResult } from './types.js';

export class ChecksGate implements Gate {
  readonly name = 'checks' as const;
  constructor(private readonly config: GangwayConfig) {}

  applies(config: GangwayConfig, environment: string): boolean {
    return (config.environments.find((e) => e.name === environment)?.checks.length ?? 0) > 0;
  }

  async evaluate(req: GateRequest): Promise<GateResult> {
    const checks = this.config.environments.find((e) => e.name === req.environment)?.checks ?? [];
    const results: Array<{ name: string; ok: boolean; detail: string; output?: string }> = [];
    for (const c of checks) results.push({ name: c.name, ...(await runCheck(c, req)) });
    const failed = results.filter((r) => !r.ok);
    if (failed.length > 0) {
      return {
        gate: this.name, result: 'fail',
        reason: failed.map((f) => `check ${f.name} failed: ${f.detail}`).join('; '),
        hint: 'fix what the check reports, then deploy again', evidence: { checks: results },
      };
    }
    return { gate: this.name, result: 'pass', reason: `${results.length} check${results.length === 1 ? '' : 's'} passed: ${results.map((r) => r.name).join(', ')}`, evidence: { checks: results } };
  }
}

async function runCheck(c: CustomCheck, req: GateRequest): Promise<{ ok: boolean; detail: string; output?: string }> {
  if (c.kind === 'webhook') {
    const r = await checkHttp(c.url, c.expect, c.timeoutMs, { method: c.method, headers: c.headers });
    return { ok: r.ok, detail: r.detail };
  }
  const vars = { 'release.version': req.version, 'release.image': req.image ?? '', environment: req.environment, service: req.service };
  const r = await runCommand(substitute(c.argv, vars), c.cwd, c.timeoutMs, new AbortController().signal, {
    GANGWAY_SERVICE: req.service, GANGWAY_ENVIRONMENT: req.environment, GANGWAY_VERSION: req.version,
  });
  return { ok: r.ok, detail: r.detail, output: r.output };
}
