/**
 * Background analysis: a service's analysis template evaluated every interval for the whole
 * rollout — from the moment the new release receives traffic until the deployment leaves its
 * forward plan, pauses included — not only at analysis steps. Verdicts and rule state live in
 * the store, so a resumed runner picks up where the last one stopped.
 */
import { evaluateTemplate } from '../analysis/evaluate.js';
import type { AnalysisState } from '../analysis/types.js';
import type { AnalysisTemplate, ServiceEnvConfig } from '../config/types.js';
import type { Store, StepRecord } from '../store/types.js';
import { FINAL_PHASES } from '../store/types.js';
import type { Target } from '../targets/target.js';
import type { Clock } from './clock.js';
import type { AnalysisRuntime } from './steps/context.js';
import { resetTolerated } from './steps/analysis.js';
import type { Logger } from '../core/logger.js';

export interface BackgroundAnalysisOptions {
  store: Store;
  runtime: AnalysisRuntime;
  template: AnalysisTemplate;
  cfg: ServiceEnvConfig;
  target: Target;
  clock: Clock;
  deploymentId: string;
  signal: AbortSignal;
  log: Logger;
  /** The release failed: roll back with this reason. Called at most once. */
  onFail(reason: string): void;
  /** A policy asks a person to decide. Called once per pause. */
  onPause(reason: string): void;
}

const KEY = 'background';

export class BackgroundAnalysis {
  private readonly ac = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly o: BackgroundAnalysisOptions) {
    o.signal.addEventListener('abort', () => this.ac.abort(), { once: true });
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.ac.signal.aborted) this.o.log.warn({ err: err instanceof Error ? err.message : String(err), deployment: this.o.deploymentId }, 'background analysis stopped');
    });
  }

  stop(): void {
    this.ac.abort();
  }

  private async run(): Promise<void> {
    const { store, runtime, template, cfg, target, clock, deploymentId: id } = this.o;
    const steps = await store.getSteps(id);
    const exposure = firstExposure(steps);
    let state: AnalysisState = await runtime.loadState(id, KEY);
    let pausedFor: string | null = null;
    while (!this.ac.signal.aborted) {
      await clock.sleep(template.intervalMs, this.ac.signal);
      const d = await store.getDeployment(id);
      if (!d || d.phase === 'rolling_back' || FINAL_PHASES.includes(d.phase)) return;
      if (exposure === null || d.currentStep <= exposure) continue;
      if (pausedFor && d.phase === 'running') {
        // A person promoted past the pause: inconclusive counts start over.
        state = resetTolerated(state);
        pausedFor = null;
      }
      const now = clock.now();
      const ev = await evaluateTemplate(template, runtime.context(cfg, target, d.version, d.previousVersion, now), state);
      state = ev.state;
      await runtime.record(id, null, template.name, ev);
      await runtime.saveState(id, KEY, state, now);
      if (ev.decision.action === 'fail') {
        this.o.onFail(`background analysis ${template.name}: ${ev.decision.reason}`);
        return;
      }
      if (ev.decision.action === 'pause' && !pausedFor) {
        pausedFor = ev.decision.reason;
        this.o.onPause(`background analysis ${template.name}: ${ev.decision.reason}`);
      }
    }
  }
}

/** Index of the first step that sends traffic to the new release, or null when none does. */
function firstExposure(steps: StepRecord[]): number | null {
  // A native rollout sends traffic to new instances as the platform brings them up.
  const rollout = steps.find((s) => s.type === 'rollout' && s.stage === 'deploy');
  if (rollout) return rollout.idx;
  const version = steps.find((s) => s.type === 'scale' && s.stage === 'deploy')?.params.version;
  for (const s of steps) {
    if (s.stage !== 'deploy' || s.type !== 'traffic') continue;
    const p = s.params as { versions?: Array<{ version: string; weight: number }>; headerRoute?: { version: string } | null };
    if (p.versions?.some((v) => v.version === version && v.weight > 0) || p.headerRoute?.version === version) return s.idx;
  }
  return null;
}
