import { afterEach, describe, expect, it } from 'vitest';
import type { GangwayConfig } from '../config/types.js';
import { GateSet } from '../gates/gate-set.js';
import type { Gate, GateRequest, GateResult } from '../gates/types.js';
import { closeWorlds, given, until, FINAL } from '../../test/support/engine-world.js';

afterEach(closeWorlds);

/** A gate a test opens and closes by hand: wait, pass or fail. */
class HandGate implements Gate {
  readonly name = 'approvals' as const;
  state: 'wait' | 'pass' | 'fail' = 'wait';
  applies(): boolean { return true; }
  async evaluate(_req: GateRequest): Promise<GateResult> {
    if (this.state === 'pass') return { gate: this.name, result: 'pass', reason: 'approved by bob', evidence: { approvers: ['bob'] } };
    if (this.state === 'fail') return { gate: this.name, result: 'fail', reason: 'rejected by bob: not today', evidence: {} };
    return { gate: this.name, result: 'wait', until: null, reason: '0 of 1 approvals (ops)', evidence: {} };
  }
}

const YAML = `
project: shop
environments:
  dev: {}
services:
  web:
    target:
      local: { command: ["node", "app.js"], instances: 1, port: 18080 }
    health: { path: /health, interval: 100ms, startTimeout: 1s }
    rollback: { watch: 0s }
`;

async function world() {
  const gate = new HandGate();
  const w = await given(YAML, { gates: (config: GangwayConfig) => new GateSet(config, [gate]) });
  return { ...w, gate };
}

describe('the gates step', () => {
  it('holds a deployment in waiting until its gates pass, recording each change of result with its evidence', async () => {
    const w = await world();
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    const waiting = await until(w, d.id, ['waiting']);
    expect([waiting.step, waiting.gates.map((g) => [g.gate, g.result, g.reason])]).toEqual(['gates: approvals', [['approvals', 'wait', '0 of 1 approvals (ops)']]]);
    expect(w.target.calls).toEqual([]);
    w.gate.state = 'pass';
    const end = await until(w, d.id, FINAL);
    expect(end.phase).toBe('succeeded');
    expect((await w.store.listGateResults({ deploymentId: d.id })).map((g) => [g.result, g.reason])).toEqual([
      ['wait', '0 of 1 approvals (ops)'], ['wait', '0 of 1 approvals (ops)'], ['pass', 'approved by bob'],
    ]);
    const phases = (await w.store.listEvents({ deploymentId: d.id })).filter((e) => e.type === 'deployment.phase').map((e) => [e.data.to, e.data.message ?? null]);
    expect(phases).toEqual([['running', null], ['waiting', 'waiting for approvals: 0 of 1 approvals (ops)'], ['running', 'gates passed'], ['succeeded', null]]);
  });

  it('ends a waiting deployment as failed, with nothing started, when a gate fails', async () => {
    const w = await world();
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    await until(w, d.id, ['waiting']);
    w.gate.state = 'fail';
    const end = await until(w, d.id, FINAL);
    expect([end.phase, end.message, end.steps.filter((s) => s.stage === 'rollback').length]).toEqual(['failed', 'blocked: approvals: rejected by bob: not today', 0]);
    expect(w.target.calls).toEqual([]);
  });

  it('refuses a request whose gate already fails, writing no deployment but keeping the gate results', async () => {
    const w = await world();
    w.gate.state = 'fail';
    const err = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' }).catch((e: unknown) => e) as { code: string; message: string };
    expect([err.code, err.message]).toEqual(['blocked', 'rejected by bob: not today']);
    expect(await w.store.listDeployments()).toEqual([]);
    expect((await w.store.listGateResults({ service: 'web', environment: 'dev' })).map((g) => [g.deploymentId, g.gate, g.result])).toEqual([[null, 'approvals', 'fail']]);
  });

  it('aborts a waiting deployment at once', async () => {
    const w = await world();
    const d = await w.orch.deploy({ service: 'web', environment: 'dev', version: '1.0.0', actor: 'ana' });
    await until(w, d.id, ['waiting']);
    await w.orch.abort(d.id, 'bob');
    const end = await until(w, d.id, FINAL);
    expect([end.phase, end.message]).toEqual(['aborted', 'aborted while waiting for its gates']);
  });
});
