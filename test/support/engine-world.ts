/**
 * An orchestrator and runner over an in-memory SQLite store and the in-memory target, for
 * engine tests: given(yaml) builds one, until()/ship() drive it, closeWorlds() cleans up.
 */
import { parseConfig } from '../../src/config/load.js';
import type { GangwayConfig } from '../../src/config/types.js';
import { Orchestrator } from '../../src/engine/orchestrator.js';
import { Runner } from '../../src/engine/runner.js';
import type { AnalysisRuntime } from '../../src/engine/steps/context.js';
import type { RequestWindowSource } from '../../src/metrics/provider.js';
import type { GateSet } from '../../src/gates/gate-set.js';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { DeploymentPhase, Store } from '../../src/store/types.js';
import { MemoryTarget } from '../../src/targets/memory/memory-target.js';

export interface World { config: GangwayConfig; store: Store; target: MemoryTarget; orch: Orchestrator; runner: Runner }

const worlds: World[] = [];

export const FINAL: DeploymentPhase[] = ['succeeded', 'failed', 'rolled_back', 'aborted', 'superseded'];

export async function given(yaml: string, opts: {
  analysis?: (store: Store, config: GangwayConfig) => AnalysisRuntime;
  requests?: RequestWindowSource;
  gates?: (config: GangwayConfig, store: Store) => GateSet;
  /** The in-memory target to use (e.g. one that rolls natively); default a fresh proxy-like one. */
  target?: MemoryTarget;
  /** The runner's retry budget for an unreachable target (default the runner's). */
  unreachableBudgetMs?: number;
} = {}): Promise<World> {
  const config = parseConfig(yaml, '/project/gangway.yaml');
  const store = openSqliteStore(':memory:');
  await store.migrate();
  const target = opts.target ?? new MemoryTarget();
  let wake = () => {};
  const orch = new Orchestrator({ store, config, target, onChange: () => wake(), requests: opts.requests ?? null, gates: opts.gates?.(config, store) });
  const runner = new Runner({ store, config, target, tickMs: 20, leaseTtlMs: 3000, unreachableBudgetMs: opts.unreachableBudgetMs, analysis: opts.analysis?.(store, config) ?? null, gates: orch.gateRuntime() });
  wake = () => runner.wake();
  runner.start();
  const w = { config, store, target, orch, runner };
  worlds.push(w);
  return w;
}

/** Also stops runners added to a world by a test (push them with `adopt`). */
export function adopt(w: World): void {
  worlds.push(w);
}

export async function closeWorlds(): Promise<void> {
  for (const w of worlds.splice(0)) {
    await w.runner.stop();
    await w.store.close();
  }
}

export async function until(w: World, id: string, phases: DeploymentPhase[]) {
  for (let i = 0; i < 500; i++) {
    const d = await w.orch.getDeployment(id);
    if (phases.includes(d.phase)) return d;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`deployment ${id} never reached ${phases.join('/')}: ${JSON.stringify(await w.orch.getDeployment(id))}`);
}

export async function ship(w: World, version: string, env = 'dev', reason?: string) {
  const d = await w.orch.deploy({ service: 'web', environment: env, version, actor: 'ana', reason });
  return until(w, d.id, FINAL);
}
