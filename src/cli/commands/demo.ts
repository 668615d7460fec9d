/**
 * `gangway demo`: the bundled demo project (examples/demo) on local ports — one service in
 * dev → staging → prod, light traffic, and instructions for what to try next. Ctrl-C stops it
 * and everything it started.
 */
import type { Command } from 'commander';
import http from 'node:http';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import type { CliContext } from '../context.js';
import { action } from '../context.js';
import { loadConfig } from '../../config/load.js';
import { connectAgent } from '../../agent/client.js';
import { startOrchestrator, type RunningOrchestrator } from '../serve.js';
import { assertNotRunning } from '../running.js';
import { demoDir } from '../demo-dir.js';
import { followEvents } from '../event-printer.js';
import { stopSignal } from './up.js';
import { GangwayError } from '../../errors.js';
import type { DeploymentView } from '../../engine/types.js';
import type { TargetConfig } from '../../config/types.js';

/** Registers `demo`. */
export function registerDemo(program: Command, ctx: CliContext): void {
  program.command('demo')
    .description('run the bundled demo: a service in dev → staging → prod on local ports, with traffic')
    .option('--duration <seconds>', 'stop by itself after this many seconds (default: run until Ctrl-C)')
    .action(action(ctx, async (opts: { duration?: string }) => {
      const DEMO_DIR = demoDir(ctx.io.env);
      const config = await loadConfig(join(DEMO_DIR, 'gangway.yaml'));
      const duration = opts.duration === undefined ? undefined : Number(opts.duration);
      if (duration !== undefined && !(duration > 0)) {
        throw new GangwayError('invalid_argument', `--duration must be a positive number of seconds, got "${opts.duration}"`);
      }
      const ac = new AbortController();
      stopSignal(ctx).addEventListener('abort', () => ac.abort(), { once: true });
      const timer = duration ? setTimeout(() => ac.abort(), duration * 1000) : null;
      const stop = ac.signal;
      const say = (s: string) => { if (!ctx.json()) ctx.out(s + '\n'); };

      // A running demo is left alone: check before anything is stopped or deleted, and refuse naming it.
      await assertNotRunning(config, 'the demo');
      // A demo starts clean: stop an agent left by an earlier run (whose demo is gone) and forget its state.
      await connectAgent(config.stateDir).shutdown().catch(() => undefined);
      rmSync(config.stateDir, { recursive: true, force: true });

      say('Starting the Gangway demo (examples/demo): web in dev → staging → prod');
      const running = await startOrchestrator(config, { command: 'demo' });
      // The demo project runs on the local target: its public ports are where traffic goes.
      const port = (env: string) => publicPort(config.services.web[env].target);
      const traffic = new Traffic(config.environments.map((e) => ({ env: e.name, port: port(e.name) })));
      let code = 0;
      try {
        const events = ctx.json() ? Promise.resolve() : followEvents(running.orchestrator, (line) => say(line), stop);
        for (const env of config.environments) {
          if (stop.aborted) break;
          const d = await running.orchestrator.deploy({ service: 'web', environment: env.name, version: '1.0.0', actor: 'demo', reason: env.reason === 'required' ? 'demo: first release' : undefined });
          const end = await waitFor(running, d, stop);
          if (end && end.phase !== 'succeeded') throw new GangwayError('deployment_failed', `demo deployment to ${env.name} ended ${end.phase}: ${end.message ?? ''}`);
          // Traffic reaches an environment once it serves a release.
          traffic.serve(env.name);
        }
        if (!stop.aborted) {
          // Let the event printer catch up, so the instructions come after the last step lines.
          await new Promise((r) => setTimeout(r, 600));
          const cli = `node ${relative(process.cwd(), fileURLToPath(new URL('../../../bin/gangway.js', import.meta.url))) || 'bin/gangway.js'} -C ${relative(process.cwd(), DEMO_DIR) || '.'}`;
          if (ctx.json()) {
            ctx.printJson({ api: running.url, environments: config.environments.map((e) => ({ name: e.name, url: `http://127.0.0.1:${port(e.name)}/` })) });
          } else {
            say(instructions(cli, running, config.environments.map((e) => [e.name, port(e.name)] as const)));
          }
          const report = setInterval(() => say(`traffic: ${traffic.summary()}`), 15_000);
          await new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true }));
          clearInterval(report);
        }
        await events;
      } catch (err) {
        code = 1;
        throw err;
      } finally {
        if (timer) clearTimeout(timer);
        say('Stopping the demo: traffic, orchestrator, agent and every instance…');
        await traffic.stop();
        await running.close();
        await connectAgent(config.stateDir).shutdown().catch(() => undefined);
        say('Demo stopped.');
      }
      return code;
    }));
}

async function waitFor(running: RunningOrchestrator, d: DeploymentView, stop: AbortSignal): Promise<DeploymentView | null> {
  while (!stop.aborted) {
    const cur = await running.orchestrator.getDeployment(d.id);
    if (['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'].includes(cur.phase)) return cur;
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

/** The public port of a service on the local target (the bundled demo runs there). */
function publicPort(target: TargetConfig): number {
  if (target.kind !== 'local') throw new GangwayError('invalid_config', `the demo runs on the local target, not ${(target as { kind: string }).kind}`);
  return target.port;
}

function instructions(cli: string, running: RunningOrchestrator, envs: ReadonlyArray<readonly [string, number]>): string {
  return [
    '',
    'The demo is running. web 1.0.0 serves in every environment:',
    ...envs.map(([env, port]) => `  ${env.padEnd(8)} http://127.0.0.1:${port}/`),
    `Dashboard: ${running.url}/ (sign in with the token in examples/demo/.gangway/token, or a user: gangway user add)`,
    `API: ${running.url} (token in examples/demo/.gangway/token)`,
    '',
    'Try, in another terminal:',
    `  ${cli} status`,
    `  ${cli} deploy web --env dev --version 1.1.0 --wait              # a rolling update`,
    `  ${cli} deploy web --env staging --version 1.1.0 --wait          # a canary, promoted from dev, judged on live metrics`,
    `  ${cli} deploy web --env prod --version 1.1.0 --reason CHG-42 --wait  # blue-green`,
    `  ${cli} deploy web --env dev --version 1.2.0-broken --wait       # never healthy: rolled back, traffic untouched`,
    `  ${cli} deploy web --env dev --version 1.3.0-flaky --wait        # fails during the watch: rolled back`,
    `  ${cli} deploy web --env dev --version 1.4.0-errors --wait       # healthy, so dev takes it (20% of requests fail)…`,
    `  ${cli} deploy web --env staging --version 1.4.0-errors --wait   # …but the canary's analysis rolls it back and rejects it`,
    `  ${cli} status --watch                                            # weights, live error rate and p95 per release, verdicts`,
    `  ${cli} deploy web --env prod --version 1.2.0 --reason x         # blocked: 1.2.0 never succeeded in staging`,
    `  ${cli} plan web --env prod --version 1.1.0                       # each gate's state before anything runs`,
    `  ${cli} freeze --env prod --reason "incident 42"                  # prod deployments are refused until unfreeze`,
    `  ${cli} rollback web --env prod --reason "bad release" --wait   # instant while the previous release is warm`,
    `  ${cli} history`,
    '',
    'Ctrl-C stops the demo and everything it started.',
  ].join('\n');
}

/** Light traffic on every environment's public port, counted by outcome and version. */
class Traffic {
  private timer: NodeJS.Timeout | null = null;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  private readonly counts = new Map<string, { ok: number; failed: number; versions: Map<string, number> }>();
  private inflight = 0;

  constructor(private readonly targets: Array<{ env: string; port: number }>) {
    for (const t of targets) this.counts.set(t.env, { ok: 0, failed: 0, versions: new Map() });
  }

  private readonly serving = new Set<string>();

  /** Starts sending requests to the environment (and starts the loop on first use). */
  serve(env: string): void {
    this.serving.add(env);
    this.start();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => { for (const t of this.targets) if (this.serving.has(t.env)) this.hit(t); }, 50);
  }

  private hit(t: { env: string; port: number }): void {
    if (this.inflight > 20) return;
    const c = this.counts.get(t.env)!;
    this.inflight++;
    const req = http.get({ host: '127.0.0.1', port: t.port, path: '/', agent: this.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (s: string) => { body += s; });
      res.on('end', () => {
        this.inflight--;
        if (res.statusCode !== 200) { c.failed++; return; }
        c.ok++;
        try {
          const v = String((JSON.parse(body) as { version?: string }).version);
          c.versions.set(v, (c.versions.get(v) ?? 0) + 1);
        } catch { /* not the demo app */ }
      });
    });
    req.on('error', () => { this.inflight--; c.failed++; });
  }

  summary(): string {
    return [...this.counts].map(([env, c]) => `${env} ${c.ok} ok / ${c.failed} failed (${[...c.versions].map(([v, n]) => `${v}: ${n}`).join(', ') || '-'})`).join(' | ');
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.agent.destroy();
  }
}
