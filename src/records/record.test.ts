import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { DeploymentView } from '../engine/types.js';
import type { ApprovalRecord, ChecklistConfirmation } from '../store/types.js';
import { GANGWAY_VERSION } from '../version.js';
import { duration, recordFolder, renderRecord } from './record.js';

const T = Date.UTC(2025, 2, 4, 22, 15, 0);
const DIGEST = `registry.example.com/shop/web@sha256:${'ab'.repeat(32)}`;

/** A prod canary that failed analysis and was rolled back, expedited, with an approval and a checklist item. */
function rolledBack(): DeploymentView {
  const d = 'd-m7x1-1a2b3c4d';
  return {
    id: d, seq: 7, service: 'web', environment: 'prod', kind: 'deploy', version: '1.4.2',
    image: DIGEST, requestedImage: 'registry.example.com/shop/web:1.4.2', commitTime: null,
    phase: 'rolled_back', actor: 'alice', reason: 'CHG-1042: fix | rounding *bug*', previousVersion: '1.4.1',
    currentStep: 3, planHash: 'h', abortRequested: false, promoteRequested: false, expedited: true,
    message: 'error_rate 7.1% > 5% for 2m0s', supersededBy: null, leaseOwner: null, leaseExpiresAt: null,
    createdAt: T, startedAt: T + 60_000, finishedAt: T + 312_000, step: null,
    steps: [
      // Out of order on purpose: the record sorts them.
      { deploymentId: d, idx: 2, type: 'switch', title: 'route 100% to 1.4.1', params: {}, status: 'succeeded', stage: 'rollback', startedAt: T + 181_000, finishedAt: T + 182_000, output: null, attempts: 2 },
      { deploymentId: d, idx: 0, type: 'gates', title: 'gates: approvals, window', params: {}, status: 'succeeded', stage: 'deploy', startedAt: T + 60_000, finishedAt: T + 60_500, output: { evaluated: 2 }, attempts: 1 },
      { deploymentId: d, idx: 1, type: 'analysis', title: 'analysis default', params: {}, status: 'failed', stage: 'deploy', startedAt: T + 61_000, finishedAt: T + 181_000, output: { reason: 'error_rate 7.1% > 5% for 2m0s' }, attempts: 1 },
      { deploymentId: d, idx: 3, type: 'scale', title: 'stop 1.4.2', params: {}, status: 'pending', stage: 'rollback', startedAt: null, finishedAt: null, output: null, attempts: 0 },
    ],
    verdicts: [
      { id: 3, deploymentId: d, at: T + 180_000, stepIdx: 1, template: 'default', rule: 'error_rate', kind: 'threshold', verdict: 'fail', reason: 'error_rate 7.1% > 5% for 2m0s', measurements: [{ canary: 0.071, limit: 0.05 }] },
      { id: 2, deploymentId: d, at: T + 120_000, stepIdx: null, template: 'runbook-defaults', rule: 'p95_latency', kind: 'relative', verdict: 'pass', reason: 'p95_latency 210ms is 1.1x stable 190ms (max 2x)', measurements: [] },
    ],
    gates: [
      { id: 1, deploymentId: d, service: 'web', environment: 'prod', version: '1.4.2', at: T + 60_000, gate: 'window', result: 'pass', reason: 'outside deny window', until: null, evidence: {} },
      { id: 2, deploymentId: d, service: 'web', environment: 'prod', version: '1.4.2', at: T + 60_000, gate: 'approvals', result: 'pass', reason: '1 of 1 approvals', until: null, evidence: { approvers: [{ actor: 'bob', groups: ['ops'] }] } },
    ],
  };
}

const approvals: ApprovalRecord[] = [
  { deploymentId: 'd-m7x1-1a2b3c4d', actor: 'bob', decision: 'approve', groups: ['ops'], comment: 'ok, after 22:00', at: T + 30_000 },
];
const checklist: ChecklistConfirmation[] = [
  { deploymentId: 'd-m7x1-1a2b3c4d', item: 'db backup verified', actor: 'carol', at: T + 40_000, note: 'snapshot 8812' },
  { deploymentId: 'd-m7x1-1a2b3c4d', item: 'on-call paged', actor: 'carol', at: T + 35_000, note: null },
];

const EXPECTED = `---
schema: gangway/deployment-record/v1
deployment: d-m7x1-1a2b3c4d
service: web
environment: prod
kind: deploy
release:
  version: 1.4.2
  image: registry.example.com/shop/web:1.4.2
  digest: registry.example.com/shop/web@sha256:abababababababababababababababababababababababababababababababab
previousVersion: 1.4.1
requestedAt: 2025-03-04T22:15:00.000Z
startedAt: 2025-03-04T22:16:00.000Z
finishedAt: 2025-03-04T22:20:12.000Z
durationMs: 252000
actor: alice
reason: "CHG-1042: fix | rounding *bug*"
expedited: true
outcome:
  phase: rolled_back
  message: error_rate 7.1% > 5% for 2m0s
approvals:
  - actor: bob
    decision: approve
    groups:
      - ops
    at: 2025-03-04T22:15:30.000Z
    comment: ok, after 22:00
checklist:
  - item: on-call paged
    actor: carol
    at: 2025-03-04T22:15:35.000Z
    note: null
  - item: db backup verified
    actor: carol
    at: 2025-03-04T22:15:40.000Z
    note: snapshot 8812
gates:
  - gate: approvals
    result: pass
    reason: 1 of 1 approvals
    at: 2025-03-04T22:16:00.000Z
    until: null
    evidence:
      approvers:
        - actor: bob
          groups:
            - ops
  - gate: window
    result: pass
    reason: outside deny window
    at: 2025-03-04T22:16:00.000Z
    until: null
    evidence: {}
steps:
  - idx: 0
    stage: deploy
    type: gates
    title: "gates: approvals, window"
    status: succeeded
    startedAt: 2025-03-04T22:16:00.000Z
    finishedAt: 2025-03-04T22:16:00.500Z
    durationMs: 500
    attempts: 1
  - idx: 1
    stage: deploy
    type: analysis
    title: analysis default
    status: failed
    startedAt: 2025-03-04T22:16:01.000Z
    finishedAt: 2025-03-04T22:18:01.000Z
    durationMs: 120000
    attempts: 1
    reason: error_rate 7.1% > 5% for 2m0s
  - idx: 2
    stage: rollback
    type: switch
    title: route 100% to 1.4.1
    status: succeeded
    startedAt: 2025-03-04T22:18:01.000Z
    finishedAt: 2025-03-04T22:18:02.000Z
    durationMs: 1000
    attempts: 2
  - idx: 3
    stage: rollback
    type: scale
    title: stop 1.4.2
    status: pending
    startedAt: null
    finishedAt: null
    durationMs: null
    attempts: 0
verdicts:
  - template: runbook-defaults
    rule: p95_latency
    kind: relative
    step: null
    verdict: pass
    reason: p95_latency 210ms is 1.1x stable 190ms (max 2x)
    at: 2025-03-04T22:17:00.000Z
    measurements: []
  - template: default
    rule: error_rate
    kind: threshold
    step: 1
    verdict: fail
    reason: error_rate 7.1% > 5% for 2m0s
    at: 2025-03-04T22:18:00.000Z
    measurements:
      - canary: 0.071
        limit: 0.05
gangway: 9.9.9
---

# web 1.4.2 to prod: rolled back

> **Expedited:** deployed under the environment's expedited (hotfix) policy; flagged for post-incident review.

| | |
|---|---|
| Deployment | \`d-m7x1-1a2b3c4d\` |
| Service | web |
| Environment | prod |
| Kind | deploy |
| Version | 1.4.2 |
| Image | \`registry.example.com/shop/web:1.4.2\` |
| Pinned digest | \`registry.example.com/shop/web@sha256:abababababababababababababababababababababababababababababababab\` |
| Previous version | 1.4.1 |
| Requested | 2025-03-04T22:15:00.000Z by alice |
| Started | 2025-03-04T22:16:00.000Z |
| Finished | 2025-03-04T22:20:12.000Z |
| Duration | 4m 12s |
| Reason | CHG-1042: fix \\| rounding \\*bug\\* |
| Expedited | yes, flagged for post-incident review |
| Recorded by | Gangway 9.9.9 |

## Outcome

**rolled back**: error_rate 7.1% > 5% for 2m0s

## Approvals

- bob (ops) approved at 2025-03-04T22:15:30.000Z: ok, after 22:00

## Checklist

- [x] on-call paged, confirmed by carol at 2025-03-04T22:15:35.000Z
- [x] db backup verified, confirmed by carol at 2025-03-04T22:15:40.000Z: snapshot 8812

## Gates

| Gate | Result | Reason | Checked | Evidence |
|---|---|---|---|---|
| approvals | pass | 1 of 1 approvals | 2025-03-04T22:16:00.000Z | \`{"approvers":[{"actor":"bob","groups":["ops"]}]}\` |
| window | pass | outside deny window | 2025-03-04T22:16:00.000Z |  |

## Steps

| # | Stage | Step | Status | Started | Duration | Attempts |
|---|---|---|---|---|---|---|
| 0 | deploy | gates: approvals, window | succeeded | 2025-03-04T22:16:00.000Z | 500ms | 1 |
| 1 | deploy | analysis default: error_rate 7.1% > 5% for 2m0s | failed | 2025-03-04T22:16:01.000Z | 2m 0s | 1 |
| 2 | rollback | route 100% to 1.4.1 | succeeded | 2025-03-04T22:18:01.000Z | 1s | 2 |
| 3 | rollback | stop 1.4.2 | pending |  |  | 0 |

## Analysis

| Rule | Template | Step | Verdict | Reason | At |
|---|---|---|---|---|---|
| p95_latency | runbook-defaults | background | pass | p95_latency 210ms is 1.1x stable 190ms (max 2x) | 2025-03-04T22:17:00.000Z |
| error_rate | default | 1 | fail | error_rate 7.1% > 5% for 2m0s | 2025-03-04T22:18:00.000Z |
`;

describe('renderRecord', () => {
  it('renders the whole record: front matter for machines, tables for people', () => {
    const r = renderRecord({ deployment: rolledBack(), approvals, checklist, config: { path: 'docs/deployments/{environment}' }, gangwayVersion: '9.9.9' });
    expect(r.path).toBe('docs/deployments/prod/2025-03-04-web-1.4.2-d-m7x1-1a2b3c4d.md');
    expect(r.message).toBe('deploy: web 1.4.2 to prod rolled back (d-m7x1-1a2b3c4d)');
    expect(r.deploymentId).toBe('d-m7x1-1a2b3c4d');
    expect(r.content).toBe(EXPECTED);
  });

  it('is deterministic: the same deployment with its lists in another order renders the same bytes', () => {
    const a = renderRecord({ deployment: rolledBack(), approvals, checklist, config: { path: 'docs/deployments/{environment}' }, gangwayVersion: '9.9.9' });
    const shuffled = rolledBack();
    shuffled.steps.reverse();
    shuffled.verdicts.reverse();
    shuffled.gates.reverse();
    const b = renderRecord({ deployment: shuffled, approvals: [...approvals].reverse(), checklist: [...checklist].reverse(), config: { path: 'docs/deployments/{environment}' }, gangwayVersion: '9.9.9' });
    expect(b).toEqual(a);
  });

  it('renders a plain local deployment that needed nothing from people, with the orchestrator\'s own version', () => {
    const d: DeploymentView = {
      ...rolledBack(), id: 'd-1', service: 'api', environment: 'dev', version: '2.0.0', image: null, requestedImage: null,
      phase: 'succeeded', reason: null, previousVersion: null, expedited: false, message: null, startedAt: T + 1000, finishedAt: T + 1850,
      steps: [], verdicts: [], gates: [],
    };
    const r = renderRecord({ deployment: d, approvals: [], checklist: [], config: { path: 'records/{service}/{environment}' } });
    expect(r.path).toBe('records/api/dev/2025-03-04-api-2.0.0-d-1.md');
    expect(r.message).toBe('deploy: api 2.0.0 to dev succeeded (d-1)');
    const human = r.content.slice(r.content.indexOf('\n---\n') + 5);
    expect(human).toBe(`
# api 2.0.0 to dev: succeeded

| | |
|---|---|
| Deployment | \`d-1\` |
| Service | api |
| Environment | dev |
| Kind | deploy |
| Version | 2.0.0 |
| Previous version | none |
| Requested | 2025-03-04T22:15:00.000Z by alice |
| Started | 2025-03-04T22:15:01.000Z |
| Finished | 2025-03-04T22:15:01.850Z |
| Duration | 850ms |
| Reason | none given |
| Expedited | no |
| Recorded by | Gangway ${GANGWAY_VERSION} |

## Outcome

**succeeded**

## Approvals

None.

## Checklist

None.

## Gates

None.

## Steps

None.

## Analysis

None.
`);
    expect(r.content).toContain('\nrelease:\n  version: 2.0.0\n  image: null\n  digest: null\n');
    expect(r.content).toContain('\nreason: null\nexpedited: false\noutcome:\n  phase: succeeded\n  message: null\n');
  });

  it('keeps what the pods of a migration Job printed: a Jobs section and `jobs` in the front matter, fenced so their output cannot break the file', () => {
    const d: DeploymentView = {
      ...rolledBack(), phase: 'failed', message: 'job migrate-5f1c9a2e failed: BackoffLimitExceeded', verdicts: [], gates: [],
      steps: [
        { deploymentId: 'd-1', idx: 1, type: 'job', title: 'job migrate for 1.4.2', params: {}, status: 'failed', stage: 'deploy', startedAt: T, finishedAt: T + 4000, attempts: 1,
          output: { job: 'migrate-5f1c9a2e', reason: 'job migrate-5f1c9a2e failed: BackoffLimitExceeded', logs: [{ pod: 'migrate-5f1c9a2e-x7k2p', lines: ['migration: starting', 'ERROR: ```relation``` exists'] }] } },
        { deploymentId: 'd-1', idx: 0, type: 'gates', title: 'gates: window', params: {}, status: 'succeeded', stage: 'deploy', startedAt: T, finishedAt: T, output: null, attempts: 1 },
      ],
    };
    const r = renderRecord({ deployment: d, approvals: [], checklist: [], config: { path: 'docs/deployments/{environment}' } });
    expect(r.content.slice(r.content.indexOf('## Jobs'))).toBe([
      '## Jobs', '', '### Step 1: job `migrate-5f1c9a2e`', '', 'Pod `migrate-5f1c9a2e-x7k2p`:', '', '````text', 'migration: starting', 'ERROR: ```relation``` exists', '````', '',
    ].join('\n'));
    const front = parse(r.content.split('\n---\n')[0]!.replace(/^---\n/, '')) as { jobs: unknown };
    expect(front.jobs).toEqual([{ step: 1, job: 'migrate-5f1c9a2e', logs: [{ pod: 'migrate-5f1c9a2e-x7k2p', lines: ['migration: starting', 'ERROR: ```relation``` exists'] }] }]);
    // A record without job steps has neither.
    expect(renderRecord({ deployment: rolledBack(), approvals, checklist, config: { path: 'x' } }).content).not.toMatch(/## Jobs|\njobs:/);
  });

  it('names the revision or commit each rollout step asked the platform for (a Helm revision, the GitOps commit)', () => {
    const sha = '3f2a9c1e'.repeat(5);
    const d: DeploymentView = {
      ...rolledBack(), verdicts: [], gates: [],
      steps: [
        { deploymentId: 'd-1', idx: 0, type: 'rollout', title: 'roll out 2.0.0', params: {}, status: 'failed', stage: 'deploy', startedAt: T, finishedAt: T + 4000, attempts: 1,
          output: { reason: 'the rollout of 2.0.0 failed', handle: { version: '2.0.0', revision: `commit ${sha}` } } },
        { deploymentId: 'd-1', idx: 1, type: 'rollout', title: 'roll out 1.4.2', params: {}, status: 'succeeded', stage: 'rollback', startedAt: T + 4000, finishedAt: T + 9000, attempts: 1,
          output: { handle: { version: '1.4.2', revision: 'revision 4' }, status: 'done' } },
        { deploymentId: 'd-1', idx: 2, type: 'scale', title: 'stop 2.0.0', params: {}, status: 'succeeded', stage: 'rollback', startedAt: T + 9000, finishedAt: T + 9000, attempts: 1, output: null },
      ],
    };
    const r = renderRecord({ deployment: d, approvals: [], checklist: [], config: { path: 'docs/deployments/{environment}' } });
    const front = parse(r.content.split('\n---\n')[0]!.replace(/^---\n/, '')) as { steps: Array<{ idx: number; revision?: string }> };
    expect(front.steps.map((s) => [s.idx, s.revision ?? null])).toEqual([[0, `commit ${sha}`], [1, 'revision 4'], [2, null]]);
  });

  it('keeps user text from breaking the file: names become safe path segments, Markdown and YAML are escaped', () => {
    const d: DeploymentView = {
      ...rolledBack(), version: '../../etc/passwd', reason: '# heading\nsecond line with `code` and <b>html</b> and _emph_',
      actor: '- mallory', steps: [], verdicts: [], gates: [], expedited: false,
    };
    const r = renderRecord({ deployment: d, approvals: [], checklist: [], config: { path: 'docs/deployments/{environment}' }, gangwayVersion: '1' });
    expect(r.path).toBe('docs/deployments/prod/2025-03-04-web---..-etc-passwd-d-m7x1-1a2b3c4d.md');
    const front = parse(r.content.slice(4, r.content.indexOf('\n---\n'))) as Record<string, unknown>;
    expect([front.reason, front.actor, (front.release as Record<string, unknown>).version])
      .toEqual(['# heading\nsecond line with `code` and <b>html</b> and _emph_', '- mallory', '../../etc/passwd']);
    expect(r.content).toContain('| Reason | \\# heading second line with \\`code\\` and \\<b>html\\</b> and \\_emph\\_ |');
    expect(r.content).toContain('| Requested | 2025-03-04T22:15:00.000Z by \\- mallory |');
    expect(r.message).toBe('deploy: web ../../etc/passwd to prod rolled back (d-m7x1-1a2b3c4d)');
  });

  it('refuses a folder outside the repository', () => {
    expect(() => recordFolder('../elsewhere/{environment}', 'prod', 'web'))
      .toThrow('records.path "../elsewhere/{environment}" must stay inside the records repository (relative, without climbing out with ..)');
    expect(() => recordFolder('/abs/{environment}', 'prod', 'web'))
      .toThrow('records.path "/abs/{environment}" must stay inside the records repository (relative, without climbing out with ..)');
    expect(recordFolder('./docs//deployments/{environment}/', 'prod', 'web')).toBe('docs/deployments/prod');
    expect(recordFolder('.', 'prod', 'web')).toBe('');
  });

  it('formats durations for people', () => {
    expect([duration(0), duration(999), duration(1000), duration(61_400), duration(3_723_000)]).toEqual(['0ms', '999ms', '1s', '1m 1s', '1h 2m 3s']);
  });
});
