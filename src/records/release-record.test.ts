import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { ReleaseSummary } from '../releases/release-view.js';
import { releaseRecordFolder, renderReleaseRecord } from './release-record.js';

const T = Date.UTC(2025, 2, 4, 22, 15, 0);

/** A prod release of three services: api failed its analysis, auth was rolled back, web already ran 1.5.0. */
function rolledBack(): ReleaseSummary {
  return {
    id: 'r-m7x1-1a2b3c4d', environment: 'prod', kind: 'deploy', phase: 'rolled_back', onFailure: 'rollback', actor: 'alice', reason: 'CHG-1042: ship *auth* | api',
    message: 'api rolled back (error_rate 7.1% > 5% for 2m0s); rolled back auth', createdAt: T, startedAt: T + 1000, finishedAt: T + 312_000,
    services: [
      {
        service: 'auth', version: '1.5.0', image: `registry.example.com/shop/auth@sha256:${'ab'.repeat(32)}`, dependsOn: [], deploymentId: 'd-auth', state: 'succeeded',
        step: null, startedAt: T + 1000, finishedAt: T + 61_000, message: null, rollback: { id: 'd-auth-rb', phase: 'succeeded', version: '1.4.0' },
      },
      {
        service: 'api', version: '1.5.0', image: null, dependsOn: ['auth'], deploymentId: 'd-api', state: 'rolled_back',
        step: null, startedAt: T + 61_000, finishedAt: T + 250_000, message: 'error_rate 7.1% > 5% for 2m0s', rollback: null,
      },
      {
        service: 'web', version: '1.5.0', image: null, dependsOn: ['auth'], deploymentId: null, state: 'unchanged',
        step: null, startedAt: null, finishedAt: null, message: null, rollback: null,
      },
    ],
  };
}

const EXPECTED = `---
schema: gangway/release-record/v1
release: r-m7x1-1a2b3c4d
environment: prod
kind: deploy
onFailure: rollback
requestedAt: 2025-03-04T22:15:00.000Z
startedAt: 2025-03-04T22:15:01.000Z
finishedAt: 2025-03-04T22:20:12.000Z
durationMs: 311000
actor: alice
reason: "CHG-1042: ship *auth* | api"
outcome:
  phase: rolled_back
  message: api rolled back (error_rate 7.1% > 5% for 2m0s); rolled back auth
services:
  - service: auth
    version: 1.5.0
    image: registry.example.com/shop/auth@sha256:abababababababababababababababababababababababababababababababab
    dependsOn: []
    deployment: d-auth
    outcome: succeeded
    message: null
    startedAt: 2025-03-04T22:15:01.000Z
    finishedAt: 2025-03-04T22:16:01.000Z
    durationMs: 60000
    rollback:
      deployment: d-auth-rb
      version: 1.4.0
      phase: succeeded
  - service: api
    version: 1.5.0
    image: null
    dependsOn:
      - auth
    deployment: d-api
    outcome: rolled_back
    message: error_rate 7.1% > 5% for 2m0s
    startedAt: 2025-03-04T22:16:01.000Z
    finishedAt: 2025-03-04T22:19:10.000Z
    durationMs: 189000
    rollback: null
  - service: web
    version: 1.5.0
    image: null
    dependsOn:
      - auth
    deployment: null
    outcome: unchanged
    message: null
    startedAt: null
    finishedAt: null
    durationMs: null
    rollback: null
gangway: 0.9.0
---

# Release r-m7x1-1a2b3c4d to prod: rolled back

| | |
|---|---|
| Release | \`r-m7x1-1a2b3c4d\` |
| Environment | prod |
| Kind | deploy |
| On failure | rollback |
| Services | auth 1.5.0, api 1.5.0, web 1.5.0 |
| Requested | 2025-03-04T22:15:00.000Z by alice |
| Started | 2025-03-04T22:15:01.000Z |
| Finished | 2025-03-04T22:20:12.000Z |
| Duration | 5m 11s |
| Reason | CHG-1042: ship \\*auth\\* \\| api |
| Recorded by | Gangway 0.9.0 |

## Outcome

**rolled back**: api rolled back (error_rate 7.1% > 5% for 2m0s); rolled back auth

## Services

In dependency order; each deployment has its own record.

| Service | Version | Deployment | Outcome | Started | Duration | Rollback |
|---|---|---|---|---|---|---|
| auth | 1.5.0 | \`d-auth\` | succeeded | 2025-03-04T22:15:01.000Z | 1m 0s | \`d-auth-rb\` to 1.4.0: succeeded |
| api | 1.5.0 | \`d-api\` | rolled back: error_rate 7.1% > 5% for 2m0s | 2025-03-04T22:16:01.000Z | 3m 9s |  |
| web | 1.5.0 | none | unchanged |  |  |  |
`;

describe('renderReleaseRecord', () => {
  it('renders the release, its services, versions, deployments, outcomes and timings, byte for byte', () => {
    const r = renderReleaseRecord({ release: rolledBack(), config: { path: 'docs/deployments/{environment}' }, gangwayVersion: '0.9.0' });
    expect(r.path).toBe('docs/deployments/prod/releases/2025-03-04-r-m7x1-1a2b3c4d.md');
    expect(r.message).toBe('release: auth 1.5.0, api 1.5.0, web 1.5.0 to prod rolled back (r-m7x1-1a2b3c4d)');
    expect(r.releaseId).toBe('r-m7x1-1a2b3c4d');
    expect(r.content).toBe(EXPECTED);
    // The front matter is YAML a tool reads back.
    const front = parse(r.content.split('---\n')[1]!) as { services: Array<{ deployment: string | null; outcome: string }> };
    expect(front.services.map((s) => [s.deployment, s.outcome])).toEqual([['d-auth', 'succeeded'], ['d-api', 'rolled_back'], [null, 'unchanged']]);
  });

  it('is deterministic: the same release gives the same bytes', () => {
    const one = renderReleaseRecord({ release: rolledBack(), config: { path: 'records' } });
    expect(renderReleaseRecord({ release: rolledBack(), config: { path: 'records' } })).toEqual(one);
  });
});

describe('releaseRecordFolder', () => {
  it('puts release records under releases/ in the environment\'s folder, leaving out segments that name a service', () => {
    expect(releaseRecordFolder('docs/deployments/{environment}', 'prod')).toBe('docs/deployments/prod/releases');
    expect(releaseRecordFolder('docs/deployments/{environment}/{service}', 'prod')).toBe('docs/deployments/prod/releases');
    expect(releaseRecordFolder('deploys/svc-{service}/{environment}', 'prod')).toBe('deploys/prod/releases');
    expect(releaseRecordFolder('{service}', 'prod')).toBe('releases');
    expect(releaseRecordFolder('records/{environment}', 'pre prod')).toBe('records/pre-prod/releases');
  });

  it('refuses a folder outside the repository', () => {
    expect(() => releaseRecordFolder('../elsewhere/{environment}', 'prod')).toThrow('records.path "../elsewhere/{environment}" must stay inside the records repository (relative, without climbing out with ..)');
  });
});
