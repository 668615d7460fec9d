/**
 * Step types of a plan and the parameters each keeps in the store. Every step is
 * idempotent ("ensure v2 has 2 instances", "ensure the split is 100% v2"), so a runner that
 * resumes after a crash simply runs the current step again. Timed steps measure from the
 * step's stored `startedAt`, so a resumed 5-minute watch does not start over.
 */

export type StepParams =
  /** Ensure exactly `count` instances of `version` run (0 stops them, draining first). */
  | { type: 'scale'; version: string; image: string | null; count: number }
  /** Wait until `count` instances of `version` pass their health checks (timed: health.startTimeout). */
  | { type: 'waitReady'; version: string; count: number }
  /** Set the traffic split (and preview) atomically. */
  | { type: 'traffic'; versions: Array<{ version: string; weight: number }>; preview: string | null }
  /** Run the service's smoke checks against `version` (through the preview port, or one instance directly). */
  | { type: 'smoke'; version: string }
  /** Watch `version` for `durationMs`: fail on failureThreshold consecutive health failures or a crash (timed). */
  | { type: 'watch'; version: string; durationMs: number };

export type StepType = StepParams['type'];

/** A step as the planner emits it. */
export interface PlanStep { type: StepType; title: string; params: StepParams }

/** The result of running one step: expected outcomes are data. */
export type StepResult =
  | { result: 'succeeded'; output?: Record<string, unknown> }
  | { result: 'failed'; reason: string; output?: Record<string, unknown> };
