import { describe, expect, it } from 'vitest';
import type { GitOpsBlueGreenConfig, GitOpsCanaryConfig } from '../../config/helm.js';
import type { ServiceEnvConfig } from '../../config/types.js';
import { GangwayError } from '../../errors.js';
import { blueGreenState, canaryState, changedOnly, otherSlot, readKeys, slotMessage, slotMode, watchedKeys, weightValues } from './slots.js';

const BG: GitOpsBlueGreenConfig = { activeKey: 'active', tagKeys: { blue: 'blue.tag', green: 'green.tag' }, previewKey: 'preview', deployments: { blue: 'web-blue', green: 'web-green' }, previewService: 'web-preview' };
const CANARY: GitOpsCanaryConfig = { tagKey: 'canary.tag', replicasKey: 'canary.replicas', weightKey: 'canary.weight', stableWeightKey: 'stable.weight', deployment: 'web-canary' };
const strategy = (kind: string) => ({ strategy: { kind } } as unknown as Pick<ServiceEnvConfig, 'strategy'>);

function fault(fn: () => unknown): GangwayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GangwayError) return err;
    throw err;
  }
  throw new Error('expected a GangwayError');
}

describe('slotMode', () => {
  it('uses the blue-green or canary keys only with the matching strategy, else the rolling key', () => {
    const both = { blueGreen: BG, canary: CANARY };
    expect(slotMode(strategy('blueGreen'), both)).toEqual({ kind: 'blueGreen', bg: BG });
    expect(slotMode(strategy('canary'), both)).toEqual({ kind: 'canary', canary: CANARY });
    expect(slotMode(strategy('rolling'), both)).toEqual({ kind: 'rolling' });
    expect(slotMode(strategy('canary'), { blueGreen: BG, canary: null })).toEqual({ kind: 'rolling' });
  });

  it('names the keys each layout reads and writes, in a fixed order', () => {
    expect(watchedKeys({ kind: 'rolling' }, 'image.tag')).toEqual(['image.tag']);
    expect(watchedKeys({ kind: 'blueGreen', bg: BG }, 'image.tag')).toEqual(['active', 'blue.tag', 'green.tag', 'preview']);
    expect(watchedKeys({ kind: 'canary', canary: { ...CANARY, weightKey: null, stableWeightKey: null } }, 'image.tag')).toEqual(['image.tag', 'canary.tag', 'canary.replicas']);
  });
});

describe('blueGreenState', () => {
  const text = '# web\nactive: green\npreview: blue\nblue:\n  tag: "1.0.0"\ngreen:\n  tag: ~\n';
  it('reads the serving slot and both tags', () => {
    expect(blueGreenState(BG, readKeys(text, 'web.yaml', watchedKeys({ kind: 'blueGreen', bg: BG }, 'x')), 'web.yaml')).toEqual({ active: 'green', tags: { blue: '1.0.0', green: null } });
    expect(otherSlot('green')).toBe('blue');
  });

  it('refuses an active key that is not blue or green, naming the key, the file and the fix', () => {
    const e = fault(() => blueGreenState(BG, { active: 'purple', 'blue.tag': null, 'green.tag': null }, 'web.yaml'));
    expect([e.code, e.message, e.hint]).toEqual(['invalid_argument', 'active in web.yaml is "purple", not blue or green (target.gitops.blueGreen.activeKey)', 'set active: blue in web.yaml (the slot that serves now) and deploy again']);
  });
});

describe('canaryState', () => {
  it('reads the stable tag, the canary tag, its replicas and weight', () => {
    expect(canaryState(CANARY, 'image.tag', { 'image.tag': '1.0.0', 'canary.tag': '1.1.0', 'canary.replicas': '1', 'canary.weight': '25' }, 'api.yaml'))
      .toEqual({ stable: '1.0.0', canary: '1.1.0', replicas: 1, weight: 25 });
  });

  it('refuses a weight over 100 or a count that is not a whole number', () => {
    expect(fault(() => canaryState(CANARY, 'image.tag', { 'image.tag': '1', 'canary.tag': '1', 'canary.replicas': '1', 'canary.weight': '120' }, 'api.yaml')).message)
      .toBe('canary.weight in api.yaml is "120", not a whole number from 0 to 100');
    expect(fault(() => canaryState(CANARY, 'image.tag', { 'image.tag': '1', 'canary.tag': '1', 'canary.replicas': 'two', 'canary.weight': '0' }, 'api.yaml')).message)
      .toBe('canary.replicas in api.yaml is "two", not a whole number from 0 to 1000');
  });
});

describe('writes', () => {
  it('writes the weight and the stable weight as numbers, and only the keys that differ', () => {
    expect(weightValues(CANARY, 25)).toEqual([{ key: 'canary.weight', value: '25', number: true }, { key: 'stable.weight', value: '75', number: true }]);
    expect(weightValues({ ...CANARY, weightKey: null }, 25)).toEqual([]);
    expect(changedOnly(weightValues(CANARY, 0), { 'canary.weight': '0', 'stable.weight': '75' })).toEqual([{ key: 'stable.weight', value: '100', number: true }]);
  });

  it('formats the commit message on one line per field, with the digest as Value when it is not the version', () => {
    expect(slotMessage({ service: 'web', environment: 'dev', version: '1.1.0', value: 'sha256:ab', step: 'switch', subject: 'switch web in dev\nto the green slot (1.1.0)' }))
      .toBe('switch web in dev to the green slot (1.1.0)\n\nActor: gangway\nService: web\nEnvironment: dev\nVersion: 1.1.0\nValue: sha256:ab\nStep: switch\n');
  });

  it('names the deployment, its actor and its reason as a rolling commit does, each on one line, when the step carries them', () => {
    const by = { deploymentId: 'd-7', actor: 'alice', reason: 'CHG-42\nsee https://user:tok3n@git.example.com/x' };
    expect(slotMessage({ service: 'web', environment: 'dev', version: '1.1.0', value: '1.1.0', step: 'stage', subject: 'stage web 1.1.0 in the green slot in dev', by }))
      .toBe('stage web 1.1.0 in the green slot in dev\n\nDeployment: d-7\nActor: alice\nReason: CHG-42 see https://***@git.example.com/x\nService: web\nEnvironment: dev\nVersion: 1.1.0\nStep: stage\n');
    expect(slotMessage({ service: 'web', environment: 'dev', version: '1.1.0', value: '1.1.0', step: 'weight', subject: 'canary web 1.1.0 in dev: 25% of requests', by: { ...by, reason: null } }))
      .toBe('canary web 1.1.0 in dev: 25% of requests\n\nDeployment: d-7\nActor: alice\nService: web\nEnvironment: dev\nVersion: 1.1.0\nStep: weight\n');
  });
});
