/**
 * Renders the deployment record a team keeps in Git (`docs/deployments/{environment}/` in the
 * runbooks): one Markdown file per deployment with a YAML front matter block for machines and
 * a section for people. The output depends only on its input, byte for byte, so a record
 * written twice is the same file and Git sees nothing to commit.
 */
import { posix } from 'node:path';
import { stringify } from 'yaml';
import type { RecordsConfig } from '../config/types.js';
import type { DeploymentView } from '../engine/types.js';
import type { ApprovalRecord, ChecklistConfirmation, DeploymentPhase, GateResultRecord, StepRecord } from '../store/types.js';
import { GANGWAY_VERSION } from '../version.js';
import { code, duration, fileSafe, iso, isoDate, isoOrNull, oneLine, text } from './markdown.js';

export { duration } from './markdown.js';

/** Identifies the layout of the front matter, so tools reading old records know what they hold. */
export const RECORD_SCHEMA = 'gangway/deployment-record/v1';

/** What a record is made from: the deployment as the API shows it, and the people's decisions on it. */
export interface RecordInput {
  deployment: DeploymentView;
  /** Approvals and rejections of the deployment (`Store.listApprovals`). */
  approvals: ApprovalRecord[];
  /** Checklist items confirmed for it (`Store.listChecklist`). */
  checklist: ChecklistConfirmation[];
  /** Only `path` is read: the folder template. */
  config: Pick<RecordsConfig, 'path'>;
  /** The orchestrator's version written into the record; default `GANGWAY_VERSION`. */
  gangwayVersion?: string;
}

/** A rendered record: where it goes in the repository, what it says, and the commit message for it. */
export interface RenderedRecord {
  /** Relative to the repository's folder, `/`-separated. */
  path: string;
  content: string;
  /** One line, e.g. `deploy: web 1.4.2 to prod succeeded (d-123)`. */
  message: string;
  deploymentId: string;
}

/**
 * Renders one deployment's record. Pure and deterministic. Throws when `config.path` points
 * outside the repository (absolute, or climbing out with `..`).
 *
 * @example
 * ```ts
 * const { path, content } = renderRecord({ deployment: view, approvals, checklist, config: { path: 'docs/deployments/{environment}' } });
 * // path: docs/deployments/prod/2025-03-04-web-1.4.2-d-m7x1-1a2b3c4d.md
 * ```
 */
export function renderRecord(input: RecordInput): RenderedRecord {
  const d = input.deployment;
  const version = input.gangwayVersion ?? GANGWAY_VERSION;
  const folder = recordFolder(input.config.path, d.environment, d.service);
  const file = `${isoDate(d.createdAt)}-${fileSafe(d.service)}-${fileSafe(d.version)}-${fileSafe(d.id)}.md`;
  const approvals = [...input.approvals].sort((a, b) => a.at - b.at || compare(a.actor, b.actor));
  const checklist = [...input.checklist].sort((a, b) => a.at - b.at || compare(a.item, b.item));
  const gates = [...d.gates].sort((a, b) => compare(a.gate, b.gate));
  const steps = [...d.steps].sort((a, b) => a.idx - b.idx);
  const verdicts = [...d.verdicts].sort((a, b) => a.at - b.at || a.id - b.id);
  const jobs = steps.flatMap((s) => jobOutput(s));

  const front = {
    schema: RECORD_SCHEMA,
    deployment: d.id,
    service: d.service,
    environment: d.environment,
    kind: d.kind,
    release: { version: d.version, image: d.requestedImage ?? d.image, digest: pinnedDigest(d.image) },
    previousVersion: d.previousVersion,
    requestedAt: iso(d.createdAt),
    startedAt: isoOrNull(d.startedAt),
    finishedAt: isoOrNull(d.finishedAt),
    durationMs: d.startedAt !== null && d.finishedAt !== null ? d.finishedAt - d.startedAt : null,
    actor: d.actor,
    reason: d.reason,
    expedited: d.expedited,
    outcome: { phase: d.phase, message: d.message, ...(d.supersededBy ? { supersededBy: d.supersededBy } : {}) },
    approvals: approvals.map((a) => ({ actor: a.actor, decision: a.decision, groups: [...a.groups], at: iso(a.at), comment: a.comment })),
    checklist: checklist.map((c) => ({ item: c.item, actor: c.actor, at: iso(c.at), note: c.note })),
    gates: gates.map((g) => ({ gate: g.gate, result: g.result, reason: g.reason, at: iso(g.at), until: isoOrNull(g.until), evidence: g.evidence })),
    steps: steps.map((s) => ({
      idx: s.idx, stage: s.stage, type: s.type, title: s.title, status: s.status,
      startedAt: isoOrNull(s.startedAt), finishedAt: isoOrNull(s.finishedAt), durationMs: stepDuration(s), attempts: s.attempts,
      ...(failureReason(s) !== null ? { reason: failureReason(s) } : {}),
      ...(rolloutRevision(s) !== null ? { revision: rolloutRevision(s) } : {}),
    })),
    verdicts: verdicts.map((v) => ({
      template: v.template, rule: v.rule, kind: v.kind, step: v.stepIdx, verdict: v.verdict, reason: v.reason, at: iso(v.at), measurements: v.measurements,
    })),
    ...(jobs.length > 0 ? { jobs } : {}),
    gangway: version,
  };

  const lines: string[] = [];
  lines.push('---', stringify(front, { lineWidth: 0, minContentWidth: 0, aliasDuplicateObjects: false }).trimEnd(), '---', '');
  lines.push(`# ${text(d.service)} ${text(d.version)} to ${text(d.environment)}: ${phaseWords(d.phase)}`, '');
  if (d.expedited) {
    lines.push('> **Expedited:** deployed under the environment\'s expedited (hotfix) policy; flagged for post-incident review.', '');
  }
  lines.push('| | |', '|---|---|');
  const row = (k: string, v: string) => lines.push(`| ${k} | ${v} |`);
  row('Deployment', code(d.id));
  row('Service', text(d.service));
  row('Environment', text(d.environment));
  row('Kind', d.kind);
  row('Version', text(d.version));
  if (d.requestedImage ?? d.image) row('Image', code((d.requestedImage ?? d.image) as string));
  if (pinnedDigest(d.image)) row('Pinned digest', code(pinnedDigest(d.image) as string));
  row('Previous version', d.previousVersion === null ? 'none' : text(d.previousVersion));
  row('Requested', `${iso(d.createdAt)} by ${text(d.actor)}`);
  row('Started', d.startedAt === null ? 'never' : iso(d.startedAt));
  row('Finished', d.finishedAt === null ? 'not finished' : iso(d.finishedAt));
  if (front.durationMs !== null) row('Duration', duration(front.durationMs));
  row('Reason', d.reason === null ? 'none given' : text(d.reason));
  row('Expedited', d.expedited ? 'yes, flagged for post-incident review' : 'no');
  row('Recorded by', `Gangway ${text(version)}`);
  lines.push('');

  lines.push('## Outcome', '', `**${phaseWords(d.phase)}**${d.message ? `: ${text(d.message)}` : ''}`, '');

  lines.push('## Approvals', '');
  if (approvals.length === 0) lines.push('None.');
  for (const a of approvals) {
    const groups = a.groups.length > 0 ? ` (${a.groups.map(text).join(', ')})` : '';
    lines.push(`- ${text(a.actor)}${groups} ${a.decision === 'approve' ? 'approved' : 'rejected'} at ${iso(a.at)}${a.comment ? `: ${text(a.comment)}` : ''}`);
  }
  lines.push('');

  lines.push('## Checklist', '');
  if (checklist.length === 0) lines.push('None.');
  for (const c of checklist) {
    lines.push(`- [x] ${text(c.item)}, confirmed by ${text(c.actor)} at ${iso(c.at)}${c.note ? `: ${text(c.note)}` : ''}`);
  }
  lines.push('');

  lines.push('## Gates', '');
  if (gates.length === 0) lines.push('None.');
  else lines.push('| Gate | Result | Reason | Checked | Evidence |', '|---|---|---|---|---|');
  for (const g of gates) lines.push(`| ${text(g.gate)} | ${g.result} | ${text(g.reason)} | ${iso(g.at)} | ${evidence(g)} |`);
  lines.push('');

  lines.push('## Steps', '');
  if (steps.length === 0) lines.push('None.');
  else lines.push('| # | Stage | Step | Status | Started | Duration | Attempts |', '|---|---|---|---|---|---|---|');
  for (const s of steps) {
    const ms = stepDuration(s);
    const why = failureReason(s);
    lines.push(`| ${s.idx} | ${s.stage} | ${text(s.title)}${why !== null ? `: ${text(why)}` : ''} | ${s.status} | ${s.startedAt === null ? '' : iso(s.startedAt)} | ${ms === null ? '' : duration(ms)} | ${s.attempts} |`);
  }
  lines.push('');

  lines.push('## Analysis', '');
  if (verdicts.length === 0) lines.push('None.');
  else lines.push('| Rule | Template | Step | Verdict | Reason | At |', '|---|---|---|---|---|---|');
  for (const v of verdicts) {
    lines.push(`| ${text(v.rule)} | ${text(v.template)} | ${v.stepIdx === null ? 'background' : v.stepIdx} | ${v.verdict} | ${text(v.reason)} | ${iso(v.at)} |`);
  }
  lines.push('');

  // Jobs before the rollout (migrations): what their pods printed, as the step kept it.
  if (jobs.length > 0) {
    lines.push('## Jobs', '');
    for (const j of jobs) {
      lines.push(`### Step ${j.step}: job ${code(j.job)}`, '');
      if (j.logs.length === 0) lines.push('No pod output.', '');
      for (const l of j.logs) {
        const fence = '`'.repeat(Math.max(3, ...[...l.lines.join('\n').matchAll(/`+/g)].map((m) => m[0].length + 1)));
        lines.push(`Pod ${code(l.pod)}:`, '', `${fence}text`, ...l.lines, fence, '');
      }
    }
  }

  return {
    path: posix.join(folder, file),
    content: lines.join('\n'),
    message: `${d.kind}: ${oneLine(d.service)} ${oneLine(d.version)} to ${oneLine(d.environment)} ${phaseWords(d.phase)} (${oneLine(d.id)})`,
    deploymentId: d.id,
  };
}

/** The folder for a record: the template with `{environment}` and `{service}` filled in, kept inside the repository. */
export function recordFolder(template: string, environment: string, service: string): string {
  const filled = template.replaceAll('{environment}', fileSafe(environment)).replaceAll('{service}', fileSafe(service));
  const normal = posix.normalize(filled.replaceAll('\\', '/')).replace(/\/+$/, '');
  if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../')) {
    throw new Error(`records.path "${template}" must stay inside the records repository (relative, without climbing out with ..)`);
  }
  return normal === '.' ? '' : normal;
}

function phaseWords(p: DeploymentPhase): string {
  return p.replaceAll('_', ' ');
}

function pinnedDigest(image: string | null): string | null {
  return image !== null && image.includes('@sha256:') ? image : null;
}

function stepDuration(s: StepRecord): number | null {
  return s.startedAt !== null && s.finishedAt !== null ? s.finishedAt - s.startedAt : null;
}

/** The Job and its pods' lines of a `job` step that kept them; none for other steps. */
function jobOutput(s: StepRecord): Array<{ step: number; job: string; logs: Array<{ pod: string; lines: string[] }> }> {
  const o = s.output as { job?: unknown; logs?: unknown } | null | undefined;
  if (s.type !== 'job' || typeof o?.job !== 'string' || !Array.isArray(o.logs)) return [];
  const logs = (o.logs as Array<{ pod?: unknown; lines?: unknown }>)
    .filter((l) => typeof l.pod === 'string' && Array.isArray(l.lines))
    .map((l) => ({ pod: l.pod as string, lines: (l.lines as unknown[]).map(String) }));
  return [{ step: s.idx, job: o.job, logs }];
}

/**
 * The platform's mark of what a `rollout` step asked for — a Deployment's generation, a Helm
 * revision, the commit a GitOps target pushed (`commit 3f2a9c1…`) — so a record names the
 * revision or commit an auditor looks up; null for other steps.
 */
function rolloutRevision(s: StepRecord): string | null {
  const handle = (s.output as { handle?: { revision?: unknown } } | null | undefined)?.handle;
  return s.type === 'rollout' && typeof handle?.revision === 'string' ? handle.revision : null;
}

function failureReason(s: StepRecord): string | null {
  const r = s.status === 'failed' ? s.output?.reason : undefined;
  return typeof r === 'string' ? r : null;
}

function evidence(g: GateResultRecord): string {
  return Object.keys(g.evidence).length === 0 ? '' : code(JSON.stringify(g.evidence));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

