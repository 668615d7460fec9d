/**
 * A world for the approvals, freeze and checklist tests: a compiled config built in code (no
 * YAML), a real SQLite store in memory, a fake clock, PeopleGates over them, and a helper that
 * requests deployments the way the orchestrator records them.
 */
import type { EnvironmentConfig, GangwayConfig } from '../../src/config/types.js';
import { PeopleGates } from '../../src/gates/people.js';
import type { GateRequest } from '../../src/gates/types.js';
import { openStore } from '../../src/store/open.js';
import type { DeploymentRecord, Store } from '../../src/store/types.js';

/** Start of the fake clock: 2025-01-01T12:00:00Z. */
export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

/** An environment with the compiled defaults, overridden by `env`. */
export function environment(name: string, env: Partial<EnvironmentConfig> = {}): EnvironmentConfig {
  return { name, reason: 'optional', queue: 'supersede', windows: [], checks: [], checklist: [], image: null, expedited: null, ...env };
}

/**
 * A compiled config: services web and api, groups ops (bob, dan), sre (erin, ana) and dba
 * (dora), and the given environments (default dev, staging, prod without gates).
 */
export function peopleConfig(opts: { environments?: EnvironmentConfig[]; groups?: Record<string, string[]>; incidents?: GangwayConfig['incidents'] } = {}): GangwayConfig {
  return {
    project: 'shop', file: '/nowhere/gangway.yaml', rootDir: '/nowhere', stateDir: '/nowhere/.gangway',
    server: { host: '127.0.0.1', port: 7400 }, agent: { metricsPort: 7401, host: '127.0.0.1' },
    store: { kind: 'sqlite', path: ':memory:' },
    environments: opts.environments ?? [environment('dev'), environment('staging'), environment('prod')],
    serviceNames: ['web', 'api'], services: {}, analysisTemplates: {},
    groups: opts.groups ?? { ops: ['bob', 'dan'], sre: ['erin', 'ana'], dba: ['dora'] },
    registries: [], incidents: opts.incidents === undefined ? { label: 'freeze', value: 'true' } : opts.incidents,
    records: null, notifications: [], metrics: { prometheus: null, requests: null },
  };
}

/** A running world; `close()` it after the test. */
export interface PeopleWorld {
  config: GangwayConfig;
  store: Store;
  people: PeopleGates;
  clock: { now(): number; advance(ms: number): void };
  /** Records a deployment (phase queued) as the orchestrator would. */
  deploy(opts: { environment: string; actor: string; service?: string; version?: string; reason?: string | null; expedited?: boolean }): Promise<DeploymentRecord>;
  /** Ends a deployment in `phase`. */
  end(id: string, phase: 'succeeded' | 'failed' | 'aborted'): Promise<void>;
  /** The gate request of a recorded deployment, at the clock's now. */
  request(d: DeploymentRecord): GateRequest;
  close(): Promise<void>;
}

/** Opens a world over `config` with a real, migrated SQLite store in memory. */
export async function openPeopleWorld(config: GangwayConfig = peopleConfig(), storeConfig: GangwayConfig['store'] = { kind: 'sqlite', path: ':memory:' }): Promise<PeopleWorld> {
  const store = await openStore(storeConfig);
  let now = T0;
  const clock = { now: () => now, advance: (ms: number) => { now += ms; } };
  const people = new PeopleGates({ store, config, clock });
  let seq = 0;
  return {
    config, store, people, clock,
    async deploy(o) {
      seq += 1;
      return store.createDeployment({
        id: `d-${seq}`, service: o.service ?? 'web', environment: o.environment, kind: 'deploy', version: o.version ?? `1.0.${seq}`,
        image: null, actor: o.actor, reason: o.reason ?? null, previousVersion: null, planHash: 'h', createdAt: now,
        expedited: o.expedited ?? false, steps: [{ type: 'start', title: 'start', params: {} }],
      });
    },
    async end(id, phase) {
      await store.transition({ deploymentId: id, deployment: { phase, finishedAt: now }, events: [] });
    },
    request(d) {
      return {
        service: d.service, environment: d.environment, version: d.version, image: d.image, actor: d.actor,
        reason: d.reason, expedited: d.expedited, deploymentId: d.id, now,
      };
    },
    close: () => store.close(),
  };
}
