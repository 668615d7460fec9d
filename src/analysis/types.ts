/**
 * Analysis: rules over metrics that tell a good release from a bad one. Verdicts are data,
 * each stored with the measurements behind it.
 */

export type Verdict = 'pass' | 'fail' | 'inconclusive' | 'error';

/** One measurement behind a verdict. `stable` is null for rules that do not compare. */
export interface Measurement {
  at: number;
  metric: string;
  canary: number | null;
  stable: number | null;
  /** Requests behind each value, when known. */
  samples?: { canary: number | null; stable: number | null };
  /** p-value or test statistic for the judge, the threshold for threshold rules, … */
  detail?: Record<string, number | string | null>;
}

/** The verdict of one rule at one evaluation. */
export interface RuleVerdict {
  rule: string;
  kind: string;
  verdict: Verdict;
  /** One human sentence: "error rate 7.1% > 5% for 2m0s", "inconclusive: 40 requests < 200". */
  reason: string;
  measurements: Measurement[];
  at: number;
}

/** What the policies make of one evaluation of a template. */
export type Decision =
  | { action: 'continue' }
  /** Rollout pauses until a person promotes or aborts. */
  | { action: 'pause'; reason: string }
  | { action: 'fail'; reason: string };

/**
 * Per-rule memory between evaluations, persisted as JSON with the deployment so a resumed
 * analysis keeps its "breaching since" times and tolerated counts.
 */
export interface RuleState {
  /** When the current uninterrupted breach began (threshold rules), or null. */
  breachSince: number | null;
  /** Consecutive inconclusive / error verdicts tolerated so far. */
  tolerated: number;
}

export type AnalysisState = Record<string, RuleState>;

/** The outcome of one evaluation: every rule's verdict, the decision, and the state to keep. */
export interface Evaluation {
  at: number;
  verdicts: RuleVerdict[];
  decision: Decision;
  state: AnalysisState;
}
