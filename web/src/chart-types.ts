/** The shapes the charts draw (plain TypeScript, no JSX: the pure chart data and tests use them). */

/** One line: a release's values over time (null: no figure at that moment, the line breaks). */
export interface Series { name: string; points: Array<{ t: number; v: number | null }> }

/** A horizontal line across a chart: a rule's threshold. */
export interface Threshold { v: number; label: string }
/** A vertical line at a moment: a step starting, a weight change, the verdict that ended the rollout. */
export interface Marker { t: number; label: string; kind: 'step' | 'weight' | 'verdict' }
