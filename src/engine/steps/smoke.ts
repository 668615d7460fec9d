/**
 * Smoke checks: HTTP expectations against the release under test (through the preview port
 * when the strategy has one, else one of its instances directly) and commands (argv, exit 0).
 * Their output goes into the deployment record.
 */
import { spawn } from 'node:child_process';
import { checkHttp } from '../../agent/health.js';
import { substitute } from '../../config/placeholders.js';
import type { SmokeCheck } from '../../config/types.js';
import type { StepResult } from './types.js';
import type { StepContext } from './context.js';

const OUTPUT_LIMIT = 16 * 1024;

export async function runSmoke(ctx: StepContext, p: { version: string }): Promise<StepResult> {
  const { cfg, target } = ctx;
  let base = target.previewUrl(cfg);
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

/** Runs argv without a shell; captures combined output (bounded). Never throws for the command's own failure. */
export function runCommand(argv: string[], cwd: string, timeoutMs: number, signal: AbortSignal, env: Record<string, string>): Promise<{ ok: boolean; detail: string; output: string }> {
  return new Promise((resolve) => {
    let output = '';
    let settled = false;
    const done = (r: { ok: boolean; detail: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve({ ...r, output });
    };
    const child = spawn(argv[0], argv.slice(1), { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const take = (b: Buffer) => { if (output.length < OUTPUT_LIMIT) output += b.toString('utf8').slice(0, OUTPUT_LIMIT - output.length); };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const timer = setTimeout(() => { child.kill('SIGKILL'); done({ ok: false, detail: `timed out after ${timeoutMs} ms` }); }, timeoutMs);
    const onAbort = () => { child.kill('SIGKILL'); done({ ok: false, detail: 'aborted' }); };
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      done({ ok: false, detail: err.code === 'ENOENT' ? `command not found: ${argv[0]} (cwd ${cwd})` : `could not run ${argv[0]}: ${err.message}` });
    });
    child.on('close', (code, sig) => {
      done(code === 0 ? { ok: true, detail: 'exit 0' } : { ok: false, detail: sig ? `killed by ${sig}` : `exit code ${code}${output ? `: ${lastLine(output)}` : ''}` });
    });
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1].slice(0, 200);
}
